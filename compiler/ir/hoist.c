/* hoist.c - input projections out of recurrences (issue 17 goal 3b, issue 16).
 *
 * A `for t in a..b { h = cell(h, x[t]); }` is unrolled by lowering, and a
 * cell's input projection W x[t] (dense(x[t], n) in gru) becomes one
 * matrix-vector product per step: b - a small GEMMs of one row each per
 * sample, though none of them depends on the carried state.  This pass finds
 * the products W @ x[t] that share W and x (the rows of one data tensor) and
 * replaces them by one product over every row the loop reads,
 *
 *     Y = x[a..b] @ W^T     ([b - a, k] @ [k, n] per sample: one GEMM over
 *                            the batch's (b - a) B rows)
 *     W @ x[t]  ->  Y[t - a]
 *
 * placed where the first of them was.  The reverse pass then differentiates
 * Y instead of the steps' products: dW is one GEMM too.  The values are those
 * of the loop up to the summation order of the GEMM (rounding, ~1e-16 in
 * f64).  exac --no-hoist leaves the graph alone. */
#include <stdlib.h>
#include <string.h>

#include "hoist.h"

/* v = W @ reshape(slice(x, row t)): a projection of one row of x; *x, *t. */
static int projection(const IrFunc *f, IrId v, IrId *x, int64_t *t)
{
    const IrValue *m = &f->v[v];
    if (m->op != IR_MATMUL)
        return 0;
    const IrValue *w = &f->v[m->in[0]], *r = &f->v[m->in[1]];
    if (w->batched || w->shape.rank != 2 || r->op != IR_RESHAPE || !r->batched || r->shape.rank != 1)
        return 0;
    const IrValue *s = &f->v[r->in[0]];
    if (s->op != IR_SLICE)
        return 0;
    const IrValue *src = &f->v[s->in[0]];
    if (!src->batched || src->shape.rank != 2 || s->slice[0][1] != s->slice[0][0] + 1 || s->slice[1][0] != 0
        || s->slice[1][1] != src->shape.dim[1] || src->shape.dim[1] != w->shape.dim[1])
        return 0;
    *x = s->in[0];
    *t = s->slice[0][0];
    return 1;
}

typedef struct Group {
    IrId w, x, first; /* the shared W and x; the first member */
    int64_t lo, hi;   /* rows lo .. hi - 1 */
    int members;
    IrId y;           /* the new product, in the rewritten function */
} Group;

IrId *ir_hoist_projections(IrFunc *f, int *ngroups)
{
    *ngroups = 0;
    int *group = malloc(((size_t)f->n + 1) * sizeof *group);
    int64_t *row = malloc(((size_t)f->n + 1) * sizeof *row);
    Group *g = malloc(((size_t)f->n + 1) * sizeof *g);
    if (!group || !row || !g)
        abort();
    int n = 0;
    for (IrId v = 0; v < f->n; v++) {
        IrId x;
        group[v] = -1;
        if (!projection(f, v, &x, &row[v]))
            continue;
        int k = 0;
        while (k < n && (g[k].w != f->v[v].in[0] || g[k].x != x))
            k++;
        if (k == n)
            g[n++] = (Group){ .w = f->v[v].in[0], .x = x, .first = v, .lo = row[v], .hi = row[v] + 1 };
        group[v] = k;
        g[k].members++;
        g[k].lo = row[v] < g[k].lo ? row[v] : g[k].lo;
        g[k].hi = row[v] + 1 > g[k].hi ? row[v] + 1 : g[k].hi;
    }
    int useful = 0;
    for (int k = 0; k < n; k++)
        useful += g[k].members >= 2; /* one product alone is already one GEMM */
    if (!useful) {
        free(group), free(row), free(g);
        return NULL;
    }
    IrFunc old;
    IrId *map = ir_rewrite_begin(f, &old);
    for (IrId v = 0; v < old.n; v++) {
        int k = group[v];
        if (k < 0 || g[k].members < 2) {
            ir_copy_mapped(f, &old, v, map);
            continue;
        }
        const IrValue *proj = &old.v[v];
        if (v == g[k].first) { /* Y = x[lo..hi] @ W^T, before the first use */
            IrId x = map[g[k].x];
            const IrShape *xs = &old.v[g[k].x].shape;
            if (g[k].lo != 0 || g[k].hi != xs->dim[0]) {
                IrValue s = { .op = IR_SLICE, .in = { x, -1, -1 }, .batched = 1, .stage = proj->stage,
                              .shape = { .rank = 2, .dim = { g[k].hi - g[k].lo, xs->dim[1] } },
                              .slice = { { g[k].lo, g[k].hi }, { 0, xs->dim[1] } } };
                x = ir_add(f, &s);
            }
            const IrShape *ws = &old.v[g[k].w].shape;
            IrValue t = { .op = IR_TRANSPOSE, .in = { map[g[k].w], -1, -1 }, .stage = proj->stage,
                          .shape = { .rank = 2, .dim = { ws->dim[1], ws->dim[0] } } };
            g[k].y = ir_binary(f, IR_MATMUL, x, ir_add(f, &t));
            f->v[g[k].y].name = "hoisted";
            (*ngroups)++;
        }
        int64_t cols = proj->shape.dim[0], r = row[v] - g[k].lo;
        IrValue s = { .op = IR_SLICE, .in = { g[k].y, -1, -1 }, .batched = 1, .stage = proj->stage,
                      .shape = { .rank = 2, .dim = { 1, cols } }, .slice = { { r, r + 1 }, { 0, cols } } };
        IrValue rs = { .op = IR_RESHAPE, .in = { ir_add(f, &s), -1, -1 }, .batched = 1,
                       .stage = proj->stage, .shape = proj->shape, .name = proj->name };
        map[v] = ir_add(f, &rs);
    }
    ir_rewrite_end(f, &old, map);
    free(group), free(row), free(g);
    return map;
}
