/* lower_stage.h - the graph cutting lower_stage.c (repeat blocks) and
 * lower_recur.c (for-loop recurrences) share: a cut-out function is the cone
 * of some roots in the loss graph, with chosen values (cuts) replaced by
 * inputs of the new function. */
#ifndef EXA_LOWER_STAGE_H
#define EXA_LOWER_STAGE_H

#include "exa/abi.h"
#include "lower.h"

/* A cut: a value of the source graph replaced by a leaf of the new function. */
typedef struct Cut {
    IrId at;
    IrValue leaf;
} Cut;

typedef struct StageCtx {
    const IrFunc *f;
    LowerRepeat *r;
    Lowered *out;
    Diag *d;
    Span at;
    int nfields;
} StageCtx;

/* need[i] = 1 for the values roots depend on, not looking past the cuts (malloc'd). */
char *lower_stage_cone(const IrFunc *src, const IrId *roots, int nroots, const Cut *cuts, int ncuts);
/* Walks two cones of src side by side in value order: moves *a and *b to
 * their cones' next values (start both at -1); 1 while both have one.  The
 * cones have the same length when both end together: *a == *b == src->n. */
int lower_stage_walk(const IrFunc *src, const char *need_a, const char *need_b, IrId *a, IrId *b);
/* Copies the needed values into dst (cuts as their leaves); map[i] is the
 * new id of source value i, or -1. */
void lower_stage_copy(const IrFunc *src, const char *need, const Cut *cuts, int ncuts, IrFunc *dst,
                      IrId *map);
/* A batched input leaf of like's shape. */
IrValue lower_stage_leaf(int index, const IrValue *like, const char *name);
/* Appends a formatted line to the descriptor text *s. */
void lower_stage_append(char **s, const char *fmt, ...) EXA_PRINTF(2, 3);
/* The next function of out, described in c->r->desc. */
IrFunc *lower_stage_func(StageCtx *c, const char *name, ExaFunctionKind kind, int nin);
/* Reports a failed differentiation; returns -1. */
int lower_stage_vjp_fail(StageCtx *c, const char *why);
/* The step functions, fn = 0 stage_step, 1 stage_adjoint, 2 stage_vjp: the
 * next function of out (lower_stage_func) named and kinded for fn. */
IrFunc *lower_stage_step_func(StageCtx *c, int fn, int nin);
/* The outputs every step function has, for g = step function fn whose
 * update is next from the state u: stage_step's next; the others'
 * (dnext/du)^T lambda, lambda a new leaf (input 1) of u's shape.  *adj: the
 * VJP's adjoint ids (malloc'd; stage_vjp adds its outputs from them), NULL
 * for stage_step.  0, or -1 after reporting. */
int lower_stage_step_outputs(StageCtx *c, IrFunc *g, int fn, IrId u, IrId next, IrId **adj);
/* Parameter gradient outputs of g (slot) for the PARAM values among need. */
void lower_stage_param_outputs(StageCtx *c, IrFunc *g, const char *need, const IrId *map, const IrId *adj,
                               int slot);
/* The VJP of out along seed (values of g) with respect to the parameters
 * alone, as g's gradient outputs (slot) for the PARAM values among need.
 * 0, or -1 after reporting. */
int lower_stage_param_vjp(StageCtx *c, IrFunc *g, IrId out, IrId seed, const char *need, const IrId *map,
                          int slot);

/* lower_lin.c: stage_linearise, stage_adjoint_lin and stage_vjp_lin cut from
 * g, the stage_vjp function just built (inputs u, lambda[, x_t]), with the
 * residuals at inputs first, first + 1, ... of the lin functions, and their
 * descriptor line `setting layers_lin lin(count, first, size0, ...)`.  None
 * when the step keeps nothing or cannot be cut (the runtime then uses
 * stage_adjoint and stage_vjp).  Returns 0. */
int lower_lin_steps(StageCtx *c, const IrFunc *g, int first);

/* lower_recur.c: stage_step, stage_adjoint and stage_vjp of a for-loop
 * recurrence (c->r->recurrence).  Returns 0, or -1 after reporting. */
int lower_recur_steps(StageCtx *c);

#endif
