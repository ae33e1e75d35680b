/* part.h - a rank's part of the parameter vector when a method splits the
 * parameters over its ranks (neurons(): the rows of every dense layer's W
 * and b, "owned rows"), and what the train block's optimiser needs to step
 * on that part alone (solver.c's Stepper): packing, the global gradient
 * norm, and the gather that makes vectors whole again for checkpoints,
 * evaluation and the final parameters (part.c).
 *
 * The split pieces are blocks of rows: block j covers reals [base, base +
 * rows * unit) of the flat vector, and rank k of comm holds its rows [off[k],
 * off[k] + cnt[k]).  Every real outside the blocks (a convolution's weights,
 * summed over the ranks) is replicated: the same on every rank.  A rank's
 * part is its rows of every block and all replicated reals, in the order of
 * the flat vector, packed into one vector of n reals. */
#ifndef EXA_METHODS_PART_H
#define EXA_METHODS_PART_H

#include <stdint.h>

#include "exa/comm.h"
#include "exa/method.h"
#include "exa/program.h"

typedef struct PartBlock {
    int64_t base, unit;   /* the block's first real; reals per row */
    const int *cnt, *off; /* per rank of comm: rows held, first row (copied) */
} PartBlock;

struct ExaParamPart {
    ExaComm comm;         /* the ranks the blocks' rows are split over */
    int nblock;
    int64_t *base, *unit; /* the blocks, in order of base */
    int **cnt, **off;
    int nseg;             /* this rank's pieces of the flat vector, in order */
    int64_t *seg_at, *seg_len;
    char *seg_split;      /* 1: rows of a block (disjoint over the ranks); 0: replicated */
    int64_t n;            /* reals in the part (the packed vector) */
    int64_t total;        /* reals in the whole vector */
    int *rc, *rd;         /* scratch: counts and displacements of a gather */
    int drop_gather;      /* EXA_TEST_DROP=gather: the parameters are not gathered (tests only) */
    int drop_norm;        /* EXA_TEST_DROP=clip_norm: the norm of this rank's part alone (tests only) */
};

/* Whether the train block's optimiser steps coordinate by coordinate (SGD
 * with or without momentum, Nesterov, weight decay; Adam, AdamW), so that it
 * is exact on a part; the others (L-BFGS, trust region) need inner products
 * of whole vectors and keep replicated parameters. */
int part_optimiser_fits(const ExaProgram *p);
/* The banner's and the cost table's words for the path: owned rows (1) or
 * replicated parameters (0). */
const char *part_path(int owned);

/* The part of blocks blk[0..nblock) (any order, not overlapping) of a vector
 * of total reals, split over comm; NULL when out of memory. */
ExaParamPart *part_create(const ExaComm *comm, int64_t total, const PartBlock *blk, int nblock);
void part_free(ExaParamPart *p);

/* This rank's reals of full (total reals of elem bytes) into local (n
 * reals), and back. */
void part_pack(const ExaParamPart *p, int elem, const void *full, void *local);
void part_unpack(const ExaParamPart *p, int elem, const void *local, void *full);
/* The same packing from a vector of doubles into reals of elem bytes. */
void part_pack_double(const ExaParamPart *p, int elem, const double *full, void *local);

/* The squared 2-norm of the whole vector whose part local is: the split
 * reals' squares summed over comm (one allreduce of a scalar), the
 * replicated ones' once.  Collective over comm. */
double part_norm2(const ExaParamPart *p, int elem, const void *local);

/* Every rank's rows of every block of full (total reals of elem bytes, this
 * rank's part current) gathered in place, one all-gather per block:
 * afterwards full is whole and the same on every rank.  Collective over
 * comm.  params: the run's parameters (EXA_TEST_DROP=gather skips those). */
void part_gather(const ExaParamPart *p, int elem, void *full, int params);

#endif
