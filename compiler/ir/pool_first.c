/* pool_first.c - max-pooling before bias and relu (issue 17 goal 2).
 *
 * A convolution layer is usually written maxpool(relu(conv(x) + b)): the bias
 * add and relu run over the whole convolution output, and in the reverse
 * pass relu's mask and the bias gradient do too, four times the pooled
 * size for 2x2 windows (LeNet's first layer: 1.4 MB a step per pass).  Both
 * are monotone and b is the same over a window, so
 *
 *     maxpool(relu(x + b)) = relu(maxpool(x) + b)
 *
 * exactly in floating point as well: rounding to nearest is monotone, so the
 * largest x_i + b is the rounded sum of the largest x_i (for finite values;
 * NaN and opposite infinities are the exceptions, where training has failed
 * anyway).  The reverse pass then routes the gradient to each window's
 * largest x, which is the largest x + b too, except where rounding made two
 * sums equal: the first of them took it before, the larger x takes it now.
 *
 * This pass matches MAXPOOL(RELU(ADD(x, b))), MAXPOOL(RELU(x)) and
 * MAXPOOL(ADD(x, b)), b broadcast along the last two dims (a [c, 1, 1] or
 * scalar bias), where the relu and the sum have no other reader, and puts
 * MAXPOOL(x), then the sum and relu on the pooled values, where the pooling
 * was. */
#include <stdlib.h>

#include "pool_first.h"

/* Whether b, added to a [.., h, w] value, is the same over its last two dims. */
static int constant_over_windows(const IrShape *sum, const IrShape *b)
{
    for (int k = 1; k <= 2; k++) {
        int d = b->rank - k;
        if (d >= 0 && b->dim[d] != 1)
            return 0;
    }
    return sum->rank >= 2;
}

static int same_shape(const IrShape *a, const IrShape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->dim[d] != b->dim[d])
            return 0;
    return 1;
}

/* The pattern at pooling m: *relu (or -1), *sum (or -1), *x, *b. */
static int match(const IrFunc *f, const int *uses, IrId m, IrId *relu, IrId *sum, IrId *x, IrId *b)
{
    const IrValue *p = &f->v[m];
    if (p->op != IR_MAXPOOL)
        return 0;
    IrId at = p->in[0];
    *relu = *sum = *b = -1;
    if (f->v[at].op == IR_RELU && uses[at] == 1) {
        *relu = at;
        at = f->v[at].in[0];
    }
    const IrValue *s = &f->v[at];
    if (s->op == IR_ADD && uses[at] == 1) {
        for (int k = 0; k < 2 && *sum < 0; k++) {
            const IrValue *xv = &f->v[s->in[k]], *bv = &f->v[s->in[1 - k]];
            if (same_shape(&xv->shape, &s->shape) && xv->batched == s->batched &&
                constant_over_windows(&s->shape, &bv->shape)) {
                *sum = at;
                *x = s->in[k];
                *b = s->in[1 - k];
            }
        }
    }
    if (*sum < 0)
        *x = at;
    return *relu >= 0 || *sum >= 0;
}

IrId *ir_pool_first(IrFunc *f, int *count)
{
    *count = 0;
    int *uses = calloc((size_t)f->n + 1, sizeof *uses);
    if (!uses)
        abort();
    for (IrId v = 0; v < f->n; v++)
        for (int i = 0; i < ir_op_arity(f->v[v].op); i++)
            uses[f->v[v].in[i]]++;
    int found = 0;
    for (IrId v = 0; v < f->n && !found; v++) {
        IrId relu, sum, x, b;
        found = match(f, uses, v, &relu, &sum, &x, &b);
    }
    if (!found) {
        free(uses);
        return NULL;
    }
    IrFunc old;
    IrId *map = ir_rewrite_begin(f, &old);
    for (IrId v = 0; v < old.n; v++) {
        IrId relu, sum, x, b;
        if (!match(&old, uses, v, &relu, &sum, &x, &b)) {
            ir_copy_mapped(f, &old, v, map);
            continue;
        }
        IrValue pool = old.v[v]; /* its window and stride, on x */
        pool.in[0] = map[x];
        pool.shape = old.v[v].shape;
        IrId at = ir_add(f, &pool);
        if (sum >= 0) {
            IrValue s = old.v[sum];
            s.in[0] = at;
            s.in[1] = map[b];
            at = ir_add(f, &s);
        }
        if (relu >= 0) {
            IrValue r = old.v[relu];
            r.in[0] = at;
            at = ir_add(f, &r);
        }
        f->v[at].name = old.v[v].name;
        map[v] = at;
        (*count)++;
    }
    ir_rewrite_end(f, &old, map);
    free(uses);
    return map;
}
