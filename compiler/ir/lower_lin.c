/* lower_lin.c - the linearised step functions of layers(mgrit(...)):
 * stage_linearise, stage_adjoint_lin and stage_vjp_lin.
 *
 * stage_adjoint and stage_vjp run the step's forward pass before its
 * backward pass at every call: the pre-activation GEMM and the activation
 * again, although within one adjoint MGRIT solve the forward state u_i of a
 * point is fixed and the solve applies the adjoint of the same point several
 * times (F- and C-relaxation of every iteration, restriction, then the
 * vjp).  So the backward pass is cut from its forward pass here, once per
 * program, at the *residuals*: the values of the forward pass that the
 * backward pass reads.  The runtime computes them once per point and solve
 * (stage_linearise) and passes them to every adjoint step of the point
 * (stage_adjoint_lin, stage_vjp_lin).
 *
 * The cut is made in stage_vjp's own graph g (the step copied, the update
 * u + s E or the implicit form, then ad_vjp), so the lin functions compute
 * exactly the operations stage_adjoint and stage_vjp compute, only in two
 * calls: the values are the same, bit for bit on the CPU.  In g a value is
 *   backward  when it depends on lambda (input 1) or on the step size:
 *             the step size differs between MGRIT levels, and residuals that
 *             do not depend on it serve every level (the coarse step from
 *             fine point i starts from the same u_i with the same parameters);
 *   free      when it depends on no input, or is an input, or a view of a
 *             free value (RESHAPE, SLICE, BROADCAST, TRANSPOSE): the weights,
 *             constants, u, x_t - read, not computed, by the lin functions;
 *   forward   otherwise: computed from u (and x_t) by the step's own work.
 * A residual is a forward value that a backward value needed by an output
 * reads; autodiff's rules put the activation derivatives (1 - t t, the
 * sigmoid's s (1 - s), relu's step) on the forward side, so those are what
 * is kept, not recomputed.  Every value the lin functions need is then
 * backward, free or a residual: no forward work is left in them.
 *
 * Not generated (the runtime keeps stage_adjoint and stage_vjp) when the step
 * is linear in u (no residuals), when a residual is not per sample (a batch
 * statistic), or when there are more than 16 residuals. */
#include <stdlib.h>

#include "lower_stage.h"

enum { MAX_RESIDUALS = EXA_OUT_STAGE_LINEARISE_LAST + 1 };
_Static_assert(EXA_OUT_STAGE_VJP_LIN_ADJOINT == EXA_OUT_STAGE_VJP_ADJOINT
                   && EXA_OUT_STAGE_VJP_LIN_GRAD == EXA_OUT_STAGE_VJP_GRAD
                   && EXA_OUT_STAGE_VJP_LIN_INPUT_ADJOINT == EXA_OUT_STAGE_VJP_INPUT_ADJOINT
                   && EXA_OUT_STAGE_ADJOINT_LIN_ADJOINT == EXA_OUT_STAGE_VJP_ADJOINT,
               "stage_vjp_lin writes stage_vjp's slots");

static int is_view(IrOp op)
{
    return op == IR_RESHAPE || op == IR_SLICE || op == IR_BROADCAST || op == IR_TRANSPOSE;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

/* The residuals of g, in value order, into res (at most MAX_RESIDUALS);
 * their number, 0 for none, -1 when a cut is impossible (see above). */
static int residuals(const IrFunc *g, IrId *res)
{
    int n = g->n;
    char *input = xcalloc((size_t)n, 1), *back = xcalloc((size_t)n, 1), *free_ = xcalloc((size_t)n, 1);
    char *is_res = xcalloc((size_t)n, 1);
    for (IrId v = 0; v < n; v++) {
        const IrValue *x = &g->v[v];
        if (x->op == IR_INPUT) {
            back[v] = x->iarg[0] == 1; /* lambda */
            input[v] = !back[v];
        }
        back[v] |= x->op == IR_STEP_SIZE;
        for (int k = 0; k < ir_op_arity(x->op); k++) {
            input[v] |= input[x->in[k]];
            back[v] |= back[x->in[k]];
        }
        free_[v] = !input[v] || x->op == IR_INPUT || (is_view(x->op) && free_[x->in[0]]);
    }
    IrId *roots = malloc(((size_t)g->nout + 1) * sizeof *roots);
    if (!roots)
        abort();
    for (int i = 0; i < g->nout; i++)
        roots[i] = g->out[i].value;
    char *need = lower_stage_cone(g, roots, g->nout, NULL, 0);
    free(roots);
    for (IrId v = 0; v < n; v++) {
        if (!need[v] || !back[v])
            continue;
        for (int k = 0; k < ir_op_arity(g->v[v].op); k++) {
            IrId o = g->v[v].in[k];
            is_res[o] |= !back[o] && !free_[o];
        }
    }
    int count = 0;
    for (IrId v = 0; v < n && count >= 0; v++) {
        if (!is_res[v])
            continue;
        if (count == MAX_RESIDUALS || !g->v[v].batched)
            count = -1;
        else
            res[count++] = v;
    }
    free(input), free(back), free(free_), free(is_res), free(need);
    return count;
}

int lower_lin_steps(StageCtx *c, const IrFunc *g, int first)
{
    IrId res[MAX_RESIDUALS];
    int nres = residuals(g, res);
    if (nres <= 0)
        return 0; /* nothing to keep, or no cut: the runtime uses stage_adjoint and stage_vjp */
    IrId *map = malloc(((size_t)g->n + 1) * sizeof *map);
    Cut *cuts = malloc((size_t)nres * sizeof *cuts);
    IrId *roots = malloc(((size_t)g->nout + 1) * sizeof *roots);
    if (!map || !cuts || !roots)
        abort();
    /* stage_linearise: inputs u, x_t (g's input 2) */
    IrFunc *gl = lower_stage_func(c, "exa_stage_linearise", EXA_FN_STAGE_LINEARISE, first - 1);
    char *need = lower_stage_cone(g, res, nres, NULL, 0);
    lower_stage_copy(g, need, NULL, 0, gl, map);
    free(need);
    for (IrId v = 0; v < gl->n; v++)
        if (gl->v[v].op == IR_INPUT && gl->v[v].iarg[0] == 2)
            gl->v[v].iarg[0] = 1;
    for (int j = 0; j < nres; j++)
        ir_output(gl, map[res[j]], EXA_OUT_STAGE_LINEARISE_FIRST + j, 0);
    /* stage_adjoint_lin (g's adjoint output only) and stage_vjp_lin (all of
     * them; the slots of stage_vjp_lin are stage_vjp's), cut at the residuals */
    for (int j = 0; j < nres; j++)
        cuts[j] = (Cut){ .at = res[j], .leaf = lower_stage_leaf(first + j, &g->v[res[j]], "residual") };
    for (int fn = 0; fn < 2; fn++) {
        int nroots = 0;
        for (int i = 0; i < g->nout; i++)
            if (fn == 1 || g->out[i].slot == EXA_OUT_STAGE_VJP_ADJOINT)
                roots[nroots++] = g->out[i].value;
        IrFunc *gf = lower_stage_func(c, fn ? "exa_stage_vjp_lin" : "exa_stage_adjoint_lin",
                                      fn ? EXA_FN_STAGE_VJP_LIN : EXA_FN_STAGE_ADJOINT_LIN, first + nres);
        need = lower_stage_cone(g, roots, nroots, cuts, nres);
        lower_stage_copy(g, need, cuts, nres, gf, map);
        free(need);
        for (int i = 0; i < g->nout; i++)
            if (fn == 1 || g->out[i].slot == EXA_OUT_STAGE_VJP_ADJOINT)
                ir_output(gf, map[g->out[i].value], g->out[i].slot, g->out[i].offset);
    }
    lower_stage_append(&c->r->desc, "setting layers_lin lin(count=%d,first=%d", nres, first);
    for (int j = 0; j < nres; j++)
        lower_stage_append(&c->r->desc, ",size%d=%lld", j, (long long)ir_shape_size(&g->v[res[j]].shape));
    lower_stage_append(&c->r->desc, ")\n");
    free(map);
    free(cuts);
    free(roots);
    return 0;
}

int lower_stage_lin_wanted(const SemaTyped *t)
{
    return sema_mgrit_call(t->train.decompose) != NULL;
}
