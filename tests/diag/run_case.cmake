# Runs one golden diagnostics case: `exac check NAME.exa` (see [lowering]) from inside
# tests/diag (so paths in messages are relative), compares stderr with
# NAME.err, and checks the exit status: 1 when NAME.err has an error, else 0.
# The stdlib directory, which depends on the build tree, prints as <stdlib>.
#   cmake -DEXAC=... -DSTDLIB=... -DDIR=... -DNAME=... [-DUPDATE=1] -P run_case.cmake
# A case whose first line has "[lowering]" is lowered too (exac
# --emit=descriptor), for the errors code generation finds.
file(STRINGS ${DIR}/${NAME}.exa first LIMIT_COUNT 1)
set(mode check)
if(first MATCHES "\\[lowering\\]")
  set(mode --emit=descriptor)
endif()
execute_process(COMMAND ${EXAC} ${mode} ${NAME}.exa WORKING_DIRECTORY ${DIR}
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
file(REAL_PATH "${STDLIB}" stdlib)
string(REPLACE "${stdlib}/" "<stdlib>/" err "${err}")
if(UPDATE)
  file(WRITE ${DIR}/${NAME}.err "${err}")
  return()
endif()
file(READ ${DIR}/${NAME}.err want)
if(err MATCHES ": error: ")
  set(want_rc 1)
else()
  set(want_rc 0)
endif()
if(NOT err STREQUAL want)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.got "${err}")
  execute_process(COMMAND diff -u ${DIR}/${NAME}.err ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.got
                  OUTPUT_VARIABLE d)
  message(FATAL_ERROR "FAIL ${NAME}: stderr differs from ${NAME}.err\n${d}")
endif()
if(NOT rc STREQUAL want_rc)
  message(FATAL_ERROR "FAIL ${NAME}: exit status ${rc}, expected ${want_rc}")
endif()
message("PASS ${NAME}")
