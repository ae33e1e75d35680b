/* diag.h - every compiler diagnostic goes through here, in one format:
 *
 *     file:line:col: error: message
 *        12 |     u = tanh(W @ u + b);
 *           |              ^~~~~
 *     file:line:col: note: 'W' declared here
 *
 * Messages are lower case, without a final period, with names in quotes.
 * A note attaches to the error or warning reported just before it. */
#ifndef EXA_DIAG_H
#define EXA_DIAG_H

#include <stdio.h>

#include "source.h"

enum { DIAG_MAX_ERRORS = 50 };

typedef struct Diag {
    FILE *out;
    int errors;
    int warnings;
    int suppressed;   /* errors past DIAG_MAX_ERRORS are counted, not printed */
    int last_printed; /* whether the last error/warning was shown (its notes follow it) */
} Diag;

void diag_init(Diag *d, FILE *out);

#if defined(__GNUC__)
#define EXA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define EXA_PRINTF(a, b)
#endif

/* For the stages that report by returning a message (fusion, code
 * generation): sets *error (when error is not NULL) to the malloc'd message
 * and returns -1. */
int diag_message(char **error, const char *fmt, ...) EXA_PRINTF(2, 3);

void diag_error(Diag *d, Span at, const char *fmt, ...) EXA_PRINTF(3, 4);
void diag_warning(Diag *d, Span at, const char *fmt, ...) EXA_PRINTF(3, 4);
void diag_note(Diag *d, Span at, const char *fmt, ...) EXA_PRINTF(3, 4);
/* A note with no source position (e.g. a list of legal alternatives). */
void diag_note_plain(Diag *d, const char *fmt, ...) EXA_PRINTF(2, 3);
/* An error about a whole file or the command line: "exac: path: message". */
void diag_fatal_file(Diag *d, const char *path, const char *fmt, ...) EXA_PRINTF(3, 4);
/* Prints "N errors generated" style summary when there were suppressed errors. */
void diag_finish(Diag *d);

#endif
