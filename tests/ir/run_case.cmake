# Golden --emit=ir: runs `exac --emit=ir NAME.exa` in DIR and compares stdout
# with EXPECTED; -DUPDATE=1 rewrites EXPECTED instead.  -DEMIT=descriptor
# compares the descriptor instead of the IR.
if(NOT EMIT)
  set(EMIT ir)
endif()
execute_process(COMMAND ${EXAC} --emit=${EMIT} ${NAME}.exa WORKING_DIRECTORY ${DIR}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "exac --emit=${EMIT} ${NAME}.exa failed (${rc}):\n${err}")
endif()
# the stdlib's path is the build's or the install's: written as STDLIB
get_filename_component(bindir ${EXAC} DIRECTORY)
get_filename_component(stdlib "${bindir}/../share/exa/stdlib" ABSOLUTE)
string(REPLACE "${stdlib}" "STDLIB" out "${out}")
if(UPDATE)
  file(WRITE ${EXPECTED} "${out}")
  return()
endif()
file(READ ${EXPECTED} want)
if(NOT out STREQUAL want)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.${EMIT}.actual "${out}")
  execute_process(COMMAND diff -u ${EXPECTED} ${CMAKE_CURRENT_BINARY_DIR}/${NAME}.${EMIT}.actual)
  message(FATAL_ERROR "--emit=${EMIT} of ${NAME}.exa differs from ${EXPECTED}")
endif()
