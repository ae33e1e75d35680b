/* timing.h - exac --time-passes: wall and CPU seconds of each stage of a
 * compilation, printed to stderr at the end.
 *
 * A stage runs from one timing_pass() call to the next (or to
 * timing_report()); passes with the same name add up, so a stage entered
 * once per function is one line.  CPU time counts this process and the
 * children it waited for (the linker), so a number stays meaningful on a
 * loaded machine, where wall time is not.  Off until timing_enable(1): then
 * every call is a clock read, nothing more. */
#ifndef EXA_TIMING_H
#define EXA_TIMING_H

#include <stdio.h>

void timing_enable(int on);
/* Ends the running pass, if any, and starts `name` (NULL: starts none). */
void timing_pass(const char *name);
/* Ends the running pass and prints one line per pass and the total. */
void timing_report(FILE *out);

#endif
