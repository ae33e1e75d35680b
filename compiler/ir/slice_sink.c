/* slice_sink.c - slices of an elementwise value taken of its operands
 * instead (issue 17 goal 3).
 *
 * A stacked GRU adds the bias to its stacked input product and cuts the
 * gates out of the sum,
 *
 *     a = P[t] + b;   r = sigmoid(a[0:n] + ...);   z = ... a[n:2n] ...
 *
 * so each step ran one loop over the whole [3n] sum, storing it, and the
 * gates' loop read it back through slice views: 3.5% of bench (h)'s
 * training step (perf, session 8), a loop that the gate-per-matrix GRU (g)
 * does not have, its bias being added in its gates' loop.  Here a SLICE of
 * such a sum becomes the sum of the operands' slices,
 *
 *     a[0:n]  ->  P[t][0:n] + b[0:n],
 *
 * which the gates' loop reads in place (fuse.c's slice views compose over
 * P[t], itself a view of the hoisted product), and the whole sum is dead.
 * The same additions of the same numbers: the bits do not change.
 *
 * Only where every reader of E (rank 1, not an output) is a SLICE and the
 * slices are disjoint, so that no element is computed twice; an operand of
 * rank 0 (a scalar) is kept whole.  The pass runs after autodiff (lower.c),
 * on the loss and gradient functions: the reverse pass reads none of these
 * sums (an ADD's or MUL's adjoint reads its operands, not its result; a
 * function's that does keeps E, which then has a reader that is not a
 * SLICE). */
#include <stdlib.h>

#include "slice_sink.h"

static int sinkable_op(IrOp op)
{
    return ir_op_is_elementwise(op) && op != IR_CONST && ir_op_arity(op) >= 1;
}

/* 1 where E's readers are all disjoint rank-1 SLICEs and E can be taken
 * apart: rank 1, elementwise, its operands of its shape or scalars. */
static char *sinkable(const IrFunc *f)
{
    char *ok = calloc((size_t)f->n + 1, 1), *used = calloc((size_t)f->n + 1, 1);
    int64_t *covered = calloc((size_t)f->n + 1, sizeof *covered);
    if (!ok || !used || !covered)
        abort();
    for (IrId e = 0; e < f->n; e++) {
        const IrValue *v = &f->v[e];
        ok[e] = v->shape.rank == 1 && sinkable_op(v->op);
        for (int k = 0; k < ir_op_arity(v->op) && ok[e]; k++) {
            const IrShape *s = &f->v[v->in[k]].shape;
            ok[e] = s->rank == 0 || ir_shape_equal(s, &v->shape);
        }
    }
    for (int i = 0; i < f->nout; i++)
        ok[f->out[i].value] = 0;
    for (IrId u = 0; u < f->n; u++) {
        const IrValue *v = &f->v[u];
        for (int k = 0; k < ir_op_arity(v->op); k++) {
            IrId e = v->in[k];
            if (v->op != IR_SLICE || v->shape.rank != 1) {
                ok[e] = 0;
                continue;
            }
            used[e] = 1;
            covered[e] += v->slice[0][1] - v->slice[0][0];
        }
    }
    /* disjoint: the slices' lengths add up to at most E's (sorted starts
     * would be exact; the IR's slices of one value are few, and a sum no
     * longer than E is what the cost needs: no element computed twice) */
    for (IrId e = 0; e < f->n; e++)
        ok[e] = ok[e] && used[e] && covered[e] <= f->v[e].shape.dim[0];
    free(used);
    free(covered);
    return ok;
}

IrId *ir_sink_slices(IrFunc *f, int *count)
{
    *count = 0;
    char *ok = sinkable(f);
    int any = 0;
    for (IrId e = 0; e < f->n; e++)
        any |= ok[e];
    if (!any) {
        free(ok);
        return NULL;
    }
    IrFunc old;
    IrId *map = ir_rewrite_begin(f, &old);
    for (IrId v = 0; v < old.n; v++) {
        const IrValue *s = &old.v[v];
        if (ok[v]) { /* E: taken apart at its slices below; read by nothing else */
            map[v] = -1;
            (*count)++;
            continue;
        }
        if (s->op != IR_SLICE || !ok[s->in[0]]) {
            ir_copy_mapped(f, &old, v, map);
            continue;
        }
        IrValue e = old.v[s->in[0]];
        e.shape = s->shape;
        e.batched = 0;
        e.stage = s->stage;
        e.name = s->name;
        for (int k = 0; k < ir_op_arity(e.op); k++) {
            const IrValue *x = &old.v[e.in[k]];
            e.batched |= x->batched;
            if (x->shape.rank == 0) {
                e.in[k] = map[e.in[k]];
                continue;
            }
            IrValue part = *s; /* the same cut of the operand */
            part.in[0] = map[e.in[k]];
            part.batched = x->batched;
            part.name = NULL;
            e.in[k] = ir_add(f, &part);
        }
        map[v] = ir_add(f, &e);
    }
    ir_rewrite_end(f, &old, map);
    free(ok);
    return map;
}
