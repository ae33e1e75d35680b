# Runs `exac check` and `exac --emit=shapes` (what the fuzzer runs) on every
# file in DIR; each must exit 0 (accepted) or 1 (diagnosed).  Anything else
# (a signal, a sanitizer's report) fails.
file(GLOB inputs ${DIR}/*)
set(failed 0)
foreach(f ${inputs})
  foreach(cmd check --emit=shapes)
    execute_process(COMMAND ${EXAC} ${cmd} ${f} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
    if(NOT rc STREQUAL "0" AND NOT rc STREQUAL "1")
      message("FAIL exac ${cmd} ${f}: exit ${rc}\n${err}")
      math(EXPR failed "${failed} + 1")
    endif()
  endforeach()
endforeach()
list(LENGTH inputs n)
if(failed)
  message(FATAL_ERROR "${failed} of ${n} regression inputs crashed exac")
endif()
message("${n} regression inputs: all diagnosed or accepted")
