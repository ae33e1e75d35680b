/* slice_sink.h - slices of an elementwise value taken of its operands
 * instead (slice_sink.c). */
#ifndef EXA_SLICE_SINK_H
#define EXA_SLICE_SINK_H

#include "ir.h"

/* Rewrites every SLICE of a rank-1 elementwise value E read by nothing but
 * disjoint SLICEs as E's op over the same slices of E's operands (scalars
 * kept), so that E itself is dead.  Returns NULL when there is none (f
 * unchanged), else the map from old ids to new ones (malloc'd, one entry
 * per old value); *count is the number of values E taken apart. */
IrId *ir_sink_slices(IrFunc *f, int *count);

#endif
