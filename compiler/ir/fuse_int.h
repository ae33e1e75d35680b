/* fuse_int.h - the planner's passes that live outside fuse.c. */
#ifndef EXA_FUSE_INT_H
#define EXA_FUSE_INT_H

#include "fuse.h"

/* calloc, at least one element, exiting with a message when out of memory. */
void *fuse_xcalloc(size_t n, size_t size);

/* FUSE_CONCAT_IN_PLACE (fuse_join.c): makes CONCATs FUSE_JOIN and gives the
 * values stored in them their places (FuseInfo.nplace, root).  Runs after
 * the kinds are set and before the grouping. */
void fuse_join_concats(FusePlan *p);

/* Seals the group of every loop member stored in FUSE_JOIN value join
 * (through inner joins): called where join is read, so those loops run
 * before the reader. */
void fuse_seal_writers(const FusePlan *p, IrId join, char *sealed);

/* def[v] (malloc'd, p->n + 1 entries): the step that computes value v, -1
 * for none (views, aliases, slices, joins, scalars, the dead). */
int *fuse_defining_steps(const FusePlan *p);
/* last[r] (malloc'd, p->n + 1 entries): the last step (def) that reads
 * memory rooted at value r through an operand, -1 for none. */
int *fuse_last_reads(const FusePlan *p, const int *def);

#endif
