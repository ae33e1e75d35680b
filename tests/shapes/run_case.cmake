# Runs `exac --emit=shapes NAME.exa` inside DIR (paths in the output are then
# relative) and compares stdout with EXPECTED; exac must exit 0.
#   cmake -DEXAC=... -DDIR=... -DNAME=... -DEXPECTED=... [-DUPDATE=1] -P run_case.cmake
execute_process(COMMAND ${EXAC} --emit=shapes ${NAME}.exa WORKING_DIRECTORY ${DIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(UPDATE)
  file(WRITE ${EXPECTED} "${out}")
  return()
endif()
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "FAIL ${NAME}: exac exited ${rc}\n${err}")
endif()
file(READ ${EXPECTED} want)
if(NOT out STREQUAL want)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.got "${out}")
  execute_process(COMMAND diff -u ${EXPECTED} ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.got OUTPUT_VARIABLE d)
  message(FATAL_ERROR "FAIL ${NAME}: --emit=shapes differs from ${EXPECTED}\n${d}")
endif()
message("PASS ${NAME}")
