/* pretranspose.h - a weight read transposed by many products stored
 * transposed once (pretranspose.c). */
#ifndef EXA_PRETRANSPOSE_H
#define EXA_PRETRANSPOSE_H

#include "ir.h"

/* Rewrites the per-sample products W @ x (W uniform [n, k], x batched [k])
 * of every W that has at least two of them as TRANSPOSE(Wt) @ x, Wt =
 * TRANSPOSE(W) one value placed before the first.  Returns NULL when there
 * are none (f unchanged), else rewrites f and returns the map from old ids
 * to new ones (malloc'd, one entry per old value); *count is the number of
 * weights stored transposed. */
IrId *ir_pretranspose(IrFunc *f, int *count);

#endif
