/* abi_skew.c - an "executable" as exac would link it, but whose descriptor
 * says it was compiled for another libexa ABI: libexa's main must refuse it
 * in one line (tests/program/CMakeLists.txt checks the text and the status). */
#include "exa/abi.h"

const char exa_program[] = "exa-program 1 abi 1\n"
                           "source \"skew.exa\"\n"
                           "end\n";
const ExaFunction exa_functions[] = { { 0, 0, 0 } };
