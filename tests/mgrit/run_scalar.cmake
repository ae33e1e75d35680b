# Runs exa_mgrit_scalar under mpirun and checks it, for ctest.
#   -DMPIEXEC=... -DMPIFLAGS="a;b" -DNP=n -DEXE=path -DARGS="--nt;256;..."
#   golden mode:   -DEXPECTED=file   stdout must equal the file exactly
#   bad-flag mode: -DERROR=regex     exit code 2 and stderr one line matching regex
execute_process(
  COMMAND ${MPIEXEC} ${MPIFLAGS} -n ${NP} ${EXE} ${ARGS}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(DEFINED EXPECTED)
  file(READ ${EXPECTED} want)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "exit code ${rc}\n${err}")
  endif()
  if(NOT out STREQUAL want)
    message(FATAL_ERROR "output differs from ${EXPECTED}\n--- got:\n${out}--- expected:\n${want}")
  endif()
  message(STATUS "PASS: output equals ${EXPECTED}")
else()
  # mpirun adds its own report of the non-zero exit; the program's line comes first
  string(REGEX MATCH "^exa: [^\n]*\n" first "${err}")
  if(rc EQUAL 0 OR NOT first MATCHES "${ERROR}")
    message(FATAL_ERROR "want a failing exit and '${ERROR}', got ${rc}:\n${err}")
  endif()
  message(STATUS "PASS: ${first}")
endif()
