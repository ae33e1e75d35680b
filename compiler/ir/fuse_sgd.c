/* fuse_sgd.c - which weight gradients may take a plain SGD step in their
 * GEMM (ExaArgs.sgd, exa/abi.h).
 *
 * SGD without momentum or decay is theta -= lr g, linear in g: a gradient
 * that one GEMM computes, G = op(A) op(B), may instead be added to the
 * weight by that GEMM, theta += -lr op(A) op(B) (beta 1), with no gradient
 * written and no pass of the optimiser over it.  For bench (d), 784-2048-
 * 2048-10, that pass and the zeroing of C that OpenBLAS does for beta 0 were
 * 9% of a step at one thread (perf, session 11).  It is safe when nothing
 * reads the weight after that GEMM in the function: the forward products,
 * the input gradient G W, a stored transpose all run before it. */
#include <stdlib.h>

#include "fuse_int.h"

/* 1: param q's memory (theta's [offset, offset + size)) is read by no step
 * after step `at` (last: fuse_last_reads), by nothing without a step of its
 * own that is not a view of it (a CONCAT stored in place reads its operands
 * in the loops that store them, which are counted; anything else is refused
 * rather than reasoned about), and is no output. */
static int unread_after(const FusePlan *p, const int *def, const int *last, int q, int at)
{
    for (IrId v = 0; v < p->n; v++) {
        const IrValue *x = &p->v[v];
        const FuseInfo *fi = &p->info[v];
        if (x->op == IR_PARAM && x->iarg[0] == q && fi->root == v && last[v] > at)
            return 0;
        int view = fi->kind == FUSE_VIEW || fi->kind == FUSE_ALIAS || fi->kind == FUSE_SLICE;
        for (int k = 0; k < 3 && def[v] < 0 && !view && fi->kind != FUSE_DEAD; k++) {
            IrId r = x->in[k] >= 0 ? p->info[x->in[k]].root : -1;
            if (r >= 0 && p->v[r].op == IR_PARAM && p->v[r].iarg[0] == q)
                return 0;
        }
    }
    for (int i = 0; i < p->nout; i++) {
        IrId r = p->info[p->out[i].value].root;
        if (r >= 0 && p->v[r].op == IR_PARAM && p->v[r].iarg[0] == q)
            return 0;
    }
    return 1;
}

/* 1: nothing reads out[i]'s memory, no value and no other output (in fused
 * mode it is never written) */
static int unread(const FusePlan *p, int i)
{
    IrId id = p->out[i].value;
    for (IrId v = 0; v < p->n; v++)
        for (int k = 0; k < 3 && p->info[v].kind != FUSE_DEAD; k++)
            if (p->v[v].in[k] >= 0 && p->info[p->v[v].in[k]].root == id)
                return 0;
    for (int j = 0; j < p->nout; j++)
        if (j != i && p->info[p->out[j].value].root == id)
            return 0;
    return 1;
}

int fuse_sgd_outputs(const FusePlan *p, const IrParam *params, int nparams, int *param)
{
    int slot = p->src->sgd_slot, count = 0;
    for (int i = 0; i < p->nout; i++)
        param[i] = -1;
    if (slot <= 0)
        return 0;
    int *def = fuse_defining_steps(p), *last = fuse_last_reads(p, def);
    for (int i = 0; i < p->nout; i++) {
        const IrOutput *o = &p->out[i];
        const IrValue *v = &p->v[o->value];
        const FuseInfo *fi = &p->info[o->value];
        if (o->slot != slot || v->op != IR_OUTER || v->batched || fi->kind != FUSE_KERNEL || fi->output != i
            || fi->root != o->value || def[o->value] < 0)
            continue;
        FuseGemm g = fuse_gemm(p, o->value);
        /* one C, contiguous, not accumulated into (beta 1 is OUTER_ADD's) */
        if (g.beta || g.m[0] || g.n[0] || g.ldc != g.n[1] || g.c != o->value
            || !(g.sc == 0 || (g.count[0] == 0 && g.count[1] == 1)))
            continue;
        int q = -1;
        int64_t size = fuse_size(v);
        for (int k = 0; k < nparams; k++)
            if (params[k].offset == o->offset && ir_shape_size(&params[k].shape) == size)
                q = k;
        /* a parameter no other overlaps (cg_cases' "overlapping parameter
         * slices": a step on one would move what the other reads) */
        for (int k = 0; q >= 0 && k < nparams; k++)
            if (k != q && params[k].offset < o->offset + size
                && o->offset < params[k].offset + ir_shape_size(&params[k].shape))
                q = -1;
        if (q >= 0 && unread(p, i) && unread_after(p, def, last, q, def[o->value]))
            param[i] = q, count++;
    }
    free(def);
    free(last);
    return count;
}
