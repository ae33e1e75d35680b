/* hoist.h - input projections out of unrolled recurrences (hoist.c). */
#ifndef EXA_HOIST_H
#define EXA_HOIST_H

#include "ir.h"

/* Replaces the products W @ x[t] that share W and x by rows of one product
 * x[a..b] @ W^T.  Returns NULL when there are none (f unchanged), else
 * rewrites f and returns the map from old ids to new ones (malloc'd, one
 * entry per old value); *ngroups is the number of products made. */
IrId *ir_hoist_projections(IrFunc *f, int *ngroups);

#endif
