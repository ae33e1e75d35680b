/* pretranspose.c - a weight the unrolled steps read transposed, stored
 * transposed once (issue 17 goal 2).
 *
 * A per-sample product W @ x (W uniform [n, k], x batched [k]: linear(h, n)
 * in each step of an unrolled `for t`) is one GEMM over the batch,
 *
 *     Y [B, n] = X [B, k] @ W^T,
 *
 * whose right operand is W read transposed: exa's GEMM tiles (and
 * OpenBLAS's) pack op(B) on every call, and packing a transposed operand
 * costs about a third more than a plain one (a 50 x 128 x 128 product: 20
 * against 15 us, bench/gemm_peak).  A GRU reads its three recurrent weights
 * so 128 times a step.  Where one W has two or more such products, this pass
 * stores Wt = W^T once, before the first of them, and writes each product
 * as TRANSPOSE(Wt) @ x: fuse.c absorbs the outer TRANSPOSE into the GEMM's
 * flag, so the product reads Wt plain and Wt is one transpose kernel.
 *
 * The pass runs after autodiff (lower.c), on the loss and gradient functions:
 * the reverse pass's products W^T @ dy already read W plain, and rewriting
 * before autodiff would make them read TRANSPOSE(TRANSPOSE(Wt)), a transposed
 * operand again.  The values are the same products of the same numbers (the
 * GEMM's summation order is the tiles' either way).  exac --no-pretranspose
 * leaves the graph alone. */
#include <stdlib.h>

#include "pretranspose.h"

/* v = W @ x with W uniform [n, k], not itself a TRANSPOSE (its product reads
 * it plain already), x batched [k]: the form fuse_gemm makes X @ W^T.  W at
 * least PRE_MIN in both dims: a narrower op(B) is one or two vectors a row,
 * cheaper to pack than a kernel call is to make. */
enum { PRE_MIN = 16 };

static int reads_transposed(const IrFunc *f, IrId v)
{
    const IrValue *m = &f->v[v];
    if (m->op != IR_MATMUL)
        return 0;
    const IrValue *w = &f->v[m->in[0]], *x = &f->v[m->in[1]];
    return !w->batched && w->shape.rank == 2 && w->shape.dim[0] >= PRE_MIN && w->shape.dim[1] >= PRE_MIN &&
           w->op != IR_TRANSPOSE && x->batched && x->shape.rank == 1;
}

IrId *ir_pretranspose(IrFunc *f, int *count)
{
    *count = 0;
    int *uses = calloc((size_t)f->n + 1, sizeof *uses);
    if (!uses)
        abort();
    int any = 0;
    for (IrId v = 0; v < f->n; v++)
        if (reads_transposed(f, v))
            any |= ++uses[f->v[v].in[0]] >= 2;
    if (!any) {
        free(uses);
        return NULL;
    }
    IrFunc old;
    IrId *map = ir_rewrite_begin(f, &old);
    IrId *wt = malloc(((size_t)old.n + 1) * sizeof *wt); /* W's stored transpose, or -1 */
    if (!wt)
        abort();
    for (IrId v = 0; v < old.n; v++) {
        wt[v] = -1;
        if (!reads_transposed(&old, v) || uses[old.v[v].in[0]] < 2) {
            ir_copy_mapped(f, &old, v, map);
            continue;
        }
        IrId w = old.v[v].in[0];
        const IrShape *ws = &old.v[w].shape;
        if (wt[w] < 0) { /* before the first product that reads it */
            IrValue t = { .op = IR_TRANSPOSE, .in = { map[w], -1, -1 }, .stage = old.v[w].stage,
                          .shape = { .rank = 2, .dim = { ws->dim[1], ws->dim[0] } }, .name = "pretransposed" };
            wt[w] = ir_add(f, &t);
            (*count)++;
        }
        IrValue back = { .op = IR_TRANSPOSE, .in = { wt[w], -1, -1 }, .stage = old.v[v].stage, .shape = *ws };
        IrValue m = old.v[v];
        m.in[0] = ir_add(f, &back);
        m.in[1] = map[m.in[1]];
        map[v] = ir_add(f, &m);
    }
    ir_rewrite_end(f, &old, map);
    free(wt);
    free(uses);
    return map;
}
