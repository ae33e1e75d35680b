/* pool_first.h - max-pooling moved before a per-channel bias and relu (pool_first.c). */
#ifndef EXA_POOL_FIRST_H
#define EXA_POOL_FIRST_H

#include "ir.h"

/* Rewrites each maxpool(relu(x + b)) (relu or the bias alone too; b constant
 * over every window) as relu(maxpool(x) + b).  Returns NULL when there is
 * none (f unchanged), else rewrites f and returns the map from old ids to new
 * ones (malloc'd, one entry per old value; the old relu and sum stay, for
 * whatever else reads them); *count is the number of poolings moved. */
IrId *ir_pool_first(IrFunc *f, int *count);

#endif
