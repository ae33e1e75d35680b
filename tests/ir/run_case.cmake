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
# Stdlib sources are named by absolute path (check records): the build tree's
# place differs from machine to machine.
string(REGEX REPLACE "\"/[^\"]*/stdlib/" "\"<stdlib>/" out "${out}")
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
