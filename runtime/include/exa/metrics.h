/* metrics.h - what a training run reports: a JSON-lines log and a progress line.
 *
 * The log holds one JSON object per line, one line per epoch:
 *   {"epoch":3,"loss":0.412,"accuracy":0.861,"seconds":2.5,"samples_per_s":24000}
 * plus any extra named numbers the caller adds (validation loss, ...).
 * Numbers are printed with 17 significant digits (they read back exactly);
 * NaN and infinities, which JSON lacks, are written as null; names are
 * escaped.  Each line is flushed as it is written, so a crashed run keeps
 * its log up to the last finished epoch.
 *
 * The progress line goes to a terminal as one line rewritten in place with
 * carriage returns (at most every 0.1 s), and to anything else as plain lines,
 * one per call of exa_progress_epoch. */
#ifndef EXA_METRICS_H
#define EXA_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ExaMetricsLog {
    FILE *f;
    char path[1024];
} ExaMetricsLog;

typedef struct ExaEpochRecord {
    int64_t epoch;
    double loss, accuracy, seconds, samples_per_s;
    int nextra;              /* extra fields: names[i] = values[i] */
    const char *const *names;
    const double *values;
} ExaEpochRecord;

/* Opens (append != 0: appends, for a resumed run) the log at path. */
int exa_metrics_open(ExaMetricsLog *log, const char *path, int append, char *err, size_t errlen);
int exa_metrics_write(ExaMetricsLog *log, const ExaEpochRecord *r, char *err, size_t errlen);
void exa_metrics_close(ExaMetricsLog *log);

/* Formats r as one JSON object (no newline) into buf; returns the length it
 * needs, as snprintf does. */
size_t exa_metrics_format(const ExaEpochRecord *r, char *buf, size_t size);

typedef struct ExaProgress {
    FILE *out;
    int tty;                /* rewrite one line in place */
    int64_t epochs, steps;  /* totals: epochs, steps per epoch */
    double last_draw;       /* time of the last tty update */
    int width;              /* length of the line on screen */
} ExaProgress;

/* Whether a line can be redrawn in place on out: isatty, except under
 * mpirun (or another launcher setting OMPI_COMM_WORLD_SIZE or PMI_SIZE),
 * where each rank's stdout is a pseudo-terminal whatever mpirun's output
 * is: there, whether mpirun's own stdout is a terminal (rank 0 on mpirun's
 * node; elsewhere no). */
int exa_progress_is_terminal(FILE *out);

/* tty < 0: exa_progress_is_terminal(out); 0 or 1: force. */
void exa_progress_init(ExaProgress *p, FILE *out, int tty, int64_t epochs, int64_t steps_per_epoch);

/* Formats "epoch 2/10  step 40/600  loss 0.4213  1.2e+04 samples/s  2m05s left".
 * elapsed: seconds since the run started; step counts from 1. */
void exa_progress_format(const ExaProgress *p, char *buf, size_t size, int64_t epoch, int64_t step,
                         double loss, double samples_per_s, double elapsed);

/* After each step: redraws the terminal line (rate-limited); nothing when
 * not a terminal. */
void exa_progress_step(ExaProgress *p, int64_t epoch, int64_t step, double loss,
                       double samples_per_s, double elapsed);

/* At the end of an epoch: the final line of that epoch, ended by a newline. */
void exa_progress_epoch(ExaProgress *p, int64_t epoch, double loss, double samples_per_s,
                        double elapsed);

#endif
