/* grid_cost.h - the communication cost model of grid(rows: neurons(),
 * cols: data()) (grid_cost.c): per step and rank, the messages, words
 * (8-byte reals) and flops of the neurons() chain on a pr x pc grid, and
 *     time = alpha * messages + beta * words + flops / rate
 * with alpha, beta and rate measured at start-up (grid_calibrate) or given
 * by EXA_GRID_COST="alpha beta rate".  shape: auto takes the cheapest
 * factorisation of P; --grid-plan P prints the table without training. */
#ifndef EXA_METHODS_GRID_COST_H
#define EXA_METHODS_GRID_COST_H

#include <stdint.h>
#include <stdio.h>

#include "exa/comm.h"
#include "exa/program.h"

typedef struct GridMachine {
    double alpha;   /* seconds per message */
    double beta;    /* seconds per word (8 bytes) */
    double rate;    /* flops per second of one rank in the dense layers' GEMMs */
    double rate_conv; /* and in the convolutions (im2col and GEMM) */
    int measured;   /* 1: calibrated here; 0: from EXA_GRID_COST */
} GridMachine;

typedef struct GridCost {
    int pr, pc;
    int owned;                                   /* the path neurons() takes for the program's optimiser:
                                                    1 owned rows, 0 replicated parameters (part.h) */
    double msgs, words_rows, words_cols, flops; /* per step, per rank, on that path */
    double flops_conv;                           /* of flops, the convolutions' */
    double seconds;                              /* predicted per step */
    /* the same on the other path: with owned rows each rank keeps only its
     * rows of the dense layers' W and b and the columns allreduce only
     * those rows' gradients (and the convolutions'); with replicated
     * parameters every step all-gathers the rows of dW, db and the columns
     * allreduce the whole gradient */
    double msgs_alt, words_alt, seconds_alt;
} GridCost;

/* The cost of one step of the program's chain (its `layer` records) with a
 * global mini-batch of B on a pr x pc grid; -1 with err set when the
 * program has no chain. */
int grid_cost(const ExaProgram *p, int pr, int pc, int64_t B, const GridMachine *m, GridCost *c, char *err,
              size_t errlen);
/* Every factorisation pr x pc = P with pc <= B into c (at most max), in
 * order of pr; their count (0 with err set on failure); *best the cheapest
 * on the path that runs, *best_alt the cheapest on the other. */
int grid_plan(const ExaProgram *p, int P, int64_t B, const GridMachine *m, GridCost *c, int max, int *best,
              int *best_alt, char *err, size_t errlen);
/* The table of a plan (rank 0 prints it). */
void grid_plan_print(FILE *f, const GridCost *c, int n, int best, int best_alt, int P, int64_t B,
                     const GridMachine *m);
/* Measures alpha, beta (a blocking ping-pong between ranks 0 and 1 at
 * several sizes: exa_comm_pingpong) and the rates (a
 * GEMM of the program's largest dense layer, a convolution of its largest
 * conv layer, at a batch of B capped) on world, alike on every rank, unless
 * EXA_GRID_COST="alpha beta rate [rate_conv]" gives them; -1 with err set
 * when it cannot (one rank and no EXA_GRID_COST). */
int grid_calibrate(const ExaComm *world, const ExaProgram *p, int64_t B, GridMachine *m, char *err, size_t errlen);

#endif
