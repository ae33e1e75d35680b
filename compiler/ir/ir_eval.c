/* ir_eval.c - a plain reference interpreter for the graph IR, in double.
 *
 * Slow and obviously correct on purpose: it defines what each op means, so
 * the autodiff rules are checked against finite differences through it, and
 * the generated kernels are checked against it.  Shapes in comments are per
 * sample; a batched value holds B of them one after another. */
#include "ir_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *buf(IrEval *e, IrId id, int64_t b)
{
    const IrValue *v = &e->f->v[id];
    return e->val[id] + (v->batched ? b : 0) * ir_shape_size(&v->shape);
}

/* Flat index into src of the element at flat index `flat` of dst, where src
 * broadcasts to dst (aligned at the right; src dims of 1 repeat). */
static int64_t bcast_index(const IrShape *dst, int64_t flat, const IrShape *src)
{
    int64_t idx[IR_MAX_RANK];
    for (int d = dst->rank - 1; d >= 0; d--) {
        idx[d] = flat % dst->dim[d];
        flat /= dst->dim[d];
    }
    int64_t r = 0;
    for (int d = 0; d < src->rank; d++) {
        int dd = dst->rank - src->rank + d;
        int64_t i = src->dim[d] == 1 ? 0 : idx[dd];
        r = r * src->dim[d] + i;
    }
    return r;
}

static double unary(IrOp op, double x)
{
    switch (op) {
    case IR_NEG: return -x;
    case IR_TANH: return tanh(x);
    case IR_SIGMOID: return 1 / (1 + exp(-x));
    case IR_RELU: return x > 0 ? x : 0;
    case IR_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
    case IR_EXP: return exp(x);
    case IR_LOG: return log(x);
    case IR_SIN: return sin(x);
    case IR_COS: return cos(x);
    case IR_SQRT: return sqrt(x);
    case IR_ABS: return fabs(x);
    case IR_STEP: return x > 0 ? 1 : 0;
    case IR_SIGN: return (x > 0) - (x < 0);
    default: abort();
    }
}

static double binary(IrOp op, double a, double b)
{
    switch (op) {
    case IR_ADD: return a + b;
    case IR_SUB: return a - b;
    case IR_MUL: return a * b;
    case IR_DIV: return a / b;
    case IR_POW: return pow(a, b);
    case IR_MAXIMUM: return a > b ? a : b;
    default: abort();
    }
}

/* Multi-index helpers for reductions along one axis. */
static void reduce(IrEval *e, IrId id, int64_t s)
{
    const IrValue *v = &e->f->v[id];
    const IrValue *a = &e->f->v[v->in[0]];
    const double *x = buf(e, v->in[0], s);
    double *y = buf(e, id, s);
    int64_t n = ir_shape_size(&a->shape);
    int axis = v->iarg[0];
    if (axis < 0) {
        double acc = v->op == IR_MAX ? -INFINITY : 0;
        for (int64_t i = 0; i < n; i++)
            acc = v->op == IR_MAX ? fmax(acc, x[i]) : acc + x[i];
        y[0] = v->op == IR_MEAN ? acc / (double)n : acc;
        return;
    }
    int64_t outer = 1, inner = 1, len = a->shape.dim[axis];
    for (int d = 0; d < axis; d++)
        outer *= a->shape.dim[d];
    for (int d = axis + 1; d < a->shape.rank; d++)
        inner *= a->shape.dim[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = v->op == IR_MAX ? -INFINITY : 0;
            for (int64_t k = 0; k < len; k++) {
                double t = x[(o * len + k) * inner + i];
                acc = v->op == IR_MAX ? fmax(acc, t) : acc + t;
            }
            y[o * inner + i] = v->op == IR_MEAN ? acc / (double)len : acc;
        }
}

/* y = a @ b per sample: [m,n]@[n], [m,n]@[n,k], [n]@[n,k]. */
static void matmul(IrEval *e, IrId id, int64_t s)
{
    const IrValue *v = &e->f->v[id];
    const IrShape *as = &e->f->v[v->in[0]].shape, *bs = &e->f->v[v->in[1]].shape;
    const double *a = buf(e, v->in[0], s), *b = buf(e, v->in[1], s);
    double *y = buf(e, id, s);
    int64_t m = as->rank == 2 ? as->dim[0] : 1, n = as->rank == 2 ? as->dim[1] : as->dim[0];
    int64_t k = bs->rank == 2 ? bs->dim[1] : 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < k; j++) {
            double acc = 0;
            for (int64_t l = 0; l < n; l++)
                acc += a[i * n + l] * b[l * k + j];
            y[i * k + j] = acc;
        }
}

/* y += a b^T contracting the last dims (y uniform sums over samples). */
static void outer(IrEval *e, IrId id, int64_t s)
{
    const IrValue *v = &e->f->v[id];
    const IrShape *as = &e->f->v[v->in[0]].shape, *bs = &e->f->v[v->in[1]].shape;
    const double *a = buf(e, v->in[0], s), *b = buf(e, v->in[1], s);
    double *y = buf(e, id, s);
    int64_t m = as->dim[0], n = bs->dim[0], k = as->rank == 2 ? as->dim[1] : 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t l = 0; l < k; l++)
                y[i * n + j] += a[i * k + l] * b[j * k + l];
}

/* Convolution geometry: x [c, h, w], w [o, c, k, k], out [o, oh, ow]. */
typedef struct ConvDims {
    int64_t c, h, w, o, k, oh, ow, stride, pad;
} ConvDims;

static ConvDims conv_dims(const IrShape *x, const IrShape *w, const IrValue *v)
{
    ConvDims d = { .c = x->dim[0], .h = x->dim[1], .w = x->dim[2], .o = w->dim[0], .k = w->dim[2],
                   .stride = v->iarg[0] ? v->iarg[0] : 1, .pad = v->iarg[1] };
    d.oh = (d.h + 2 * d.pad - d.k) / d.stride + 1;
    d.ow = (d.w + 2 * d.pad - d.k) / d.stride + 1;
    return d;
}

/* mode 0: y = conv(x, w); 1: dx += conv^T(g, w); 2: dw += corr(g, x). */
static void conv(ConvDims d, int mode, double *x, double *w, double *y)
{
    for (int64_t o = 0; o < d.o; o++)
        for (int64_t i = 0; i < d.oh; i++)
            for (int64_t j = 0; j < d.ow; j++)
                for (int64_t c = 0; c < d.c; c++)
                    for (int64_t p = 0; p < d.k; p++)
                        for (int64_t q = 0; q < d.k; q++) {
                            int64_t r = i * d.stride + p - d.pad, t = j * d.stride + q - d.pad;
                            if (r < 0 || r >= d.h || t < 0 || t >= d.w)
                                continue;
                            double *xe = &x[(c * d.h + r) * d.w + t];
                            double *we = &w[((o * d.c + c) * d.k + p) * d.k + q];
                            double *ye = &y[(o * d.oh + i) * d.ow + j];
                            if (mode == 0)
                                *ye += *xe * *we;
                            else if (mode == 1)
                                *xe += *ye * *we;
                            else
                                *we += *ye * *xe;
                        }
}

/* Max pooling: mode 0 forward into y; mode 1 routes g (y) to each window's
 * first maximum in dx. */
static void pool(const IrShape *xs, int window, int stride, int mode, const double *x,
                 double *y, double *dx)
{
    int64_t c = xs->dim[0], h = xs->dim[1], w = xs->dim[2];
    int64_t oh = (h - window) / stride + 1, ow = (w - window) / stride + 1;
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                int64_t best = -1;
                for (int p = 0; p < window; p++)
                    for (int q = 0; q < window; q++) {
                        int64_t at = (ch * h + i * stride + p) * w + j * stride + q;
                        if (best < 0 || x[at] > x[best])
                            best = at;
                    }
                int64_t out = (ch * oh + i) * ow + j;
                if (mode == 0)
                    y[out] = x[best];
                else
                    dx[best] += y[out];
            }
}

static void slice_copy(const IrShape *big, const int64_t (*sl)[2], double *bigp,
                       double *smallp, int to_big)
{
    IrShape small = { .rank = big->rank };
    for (int d = 0; d < big->rank; d++)
        small.dim[d] = sl[d][1] - sl[d][0];
    int64_t n = ir_shape_size(&small);
    for (int64_t f = 0; f < n; f++) {
        int64_t rem = f, idx = 0, stride = 1;
        for (int d = big->rank - 1; d >= 0; d--) {
            int64_t i = rem % small.dim[d] + sl[d][0];
            rem /= small.dim[d];
            idx += i * stride;
            stride *= big->dim[d];
        }
        if (to_big)
            bigp[idx] += smallp[f];
        else
            smallp[f] = bigp[idx];
    }
}

/* Computes value id for sample s (uniform values: s = 0 once). */
static void step(IrEval *e, IrId id, int64_t s)
{
    const IrValue *v = &e->f->v[id];
    double *y = buf(e, id, s);
    int64_t n = ir_shape_size(&v->shape);
    IrId ia = v->in[0], ib = v->in[1];
    const IrShape *as = ia >= 0 ? &e->f->v[ia].shape : NULL;
    switch (v->op) {
    case IR_INPUT:
        memcpy(y, e->inputs[v->iarg[0]] + s * n, n * sizeof *y);
        return;
    case IR_LABEL:
        y[0] = e->inputs[v->iarg[0]][s];
        return;
    case IR_PARAM:
        memcpy(y, e->theta + e->params[v->iarg[0]].offset, n * sizeof *y);
        return;
    case IR_CONST: y[0] = v->c; return;
    case IR_INV_BATCH: y[0] = 1.0 / (double)e->batch; return;
    case IR_STEP_SIZE: y[0] = e->step_size; return;
    case IR_FILL: for (int64_t i = 0; i < n; i++) y[i] = v->c; return;
    case IR_BASIS: memset(y, 0, n * sizeof *y); y[v->iarg[0]] = 1; return;
    case IR_MATMUL: matmul(e, id, s); return;
    case IR_OUTER: outer(e, id, s); return;
    case IR_SUM: case IR_MEAN: case IR_MAX: reduce(e, id, s); return;
    case IR_LOGSUMEXP: case IR_SOFTMAX: {
        const double *x = buf(e, ia, s);
        int64_t m = ir_shape_size(as);
        double mx = -INFINITY, acc = 0;
        for (int64_t i = 0; i < m; i++)
            mx = fmax(mx, x[i]);
        for (int64_t i = 0; i < m; i++)
            acc += exp(x[i] - mx);
        if (v->op == IR_LOGSUMEXP)
            y[0] = mx + log(acc);
        else
            for (int64_t i = 0; i < m; i++)
                y[i] = exp(x[i] - mx) / acc;
        return;
    }
    case IR_REDUCE_TO: { /* accumulate every source element into its target */
        const IrValue *a = &e->f->v[ia];
        int64_t m = ir_shape_size(&a->shape);
        int64_t samples = a->batched && !v->batched ? e->batch : 1;
        for (int64_t t = 0; t < samples; t++) {
            const double *x = buf(e, ia, a->batched && !v->batched ? t : s);
            for (int64_t i = 0; i < m; i++)
                y[bcast_index(&a->shape, i, &v->shape)] += x[i];
        }
        return;
    }
    case IR_ALLREDUCE: /* one process: the sum over one rank */
        memcpy(y, buf(e, ia, s), (size_t)n * sizeof *y);
        return;
    case IR_BROADCAST: {
        const double *x = buf(e, ia, s);
        for (int64_t i = 0; i < n; i++)
            y[i] = x[bcast_index(&v->shape, i, as)];
        return;
    }
    case IR_RESHAPE: memcpy(y, buf(e, ia, s), n * sizeof *y); return;
    case IR_TRANSPOSE: {
        const double *x = buf(e, ia, s);
        int64_t r = as->dim[0], c = as->dim[1];
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++)
                y[j * r + i] = x[i * c + j];
        return;
    }
    case IR_SLICE: slice_copy(as, v->slice, buf(e, ia, s), y, 0); return;
    case IR_SLICE_GRAD: slice_copy(&v->shape, v->slice, y, buf(e, ia, s), 1); return;
    case IR_SLICE_ADD:
        memcpy(y, buf(e, ia, s), n * sizeof *y);
        slice_copy(&v->shape, v->slice, y, buf(e, ib, s), 1);
        return;
    case IR_CONCAT: {
        int64_t na = ir_shape_size(as);
        memcpy(y, buf(e, ia, s), na * sizeof *y);
        memcpy(y + na, buf(e, ib, s), (n - na) * sizeof *y);
        return;
    }
    case IR_PICK: y[0] = buf(e, ia, s)[(int64_t)buf(e, ib, s)[0]]; return;
    case IR_PICK_GRAD: y[(int64_t)buf(e, ib, s)[0]] += buf(e, ia, s)[0]; return;
    case IR_CONV:
        conv(conv_dims(as, &e->f->v[ib].shape, v), 0, buf(e, ia, s), buf(e, ib, s), y);
        return;
    case IR_CONV_GRAD_X: /* (g, w) -> dx */
        conv(conv_dims(&v->shape, &e->f->v[ib].shape, v), 1, y, buf(e, ib, s), buf(e, ia, s));
        return;
    case IR_CONV_GRAD_W: { /* (g, x) -> dw, summed over samples when uniform */
        const IrValue *g = &e->f->v[ia];
        int64_t samples = g->batched && !v->batched ? e->batch : 1;
        for (int64_t t = 0; t < samples; t++) {
            int64_t at = samples > 1 ? t : s;
            conv(conv_dims(&e->f->v[ib].shape, &v->shape, v), 2, buf(e, ib, at), y, buf(e, ia, at));
        }
        return;
    }
    case IR_MAXPOOL: pool(as, v->iarg[0], v->iarg[1], 0, buf(e, ia, s), y, NULL); return;
    case IR_MAXPOOL_GRAD:
        pool(&v->shape, v->iarg[0], v->iarg[1], 1, buf(e, ib, s), buf(e, ia, s), y);
        return;
    default:
        break;
    }
    if (ir_op_arity(v->op) == 1) {
        const double *x = buf(e, ia, s);
        for (int64_t i = 0; i < n; i++)
            y[i] = unary(v->op, x[bcast_index(&v->shape, i, as)]);
    } else {
        const double *a = buf(e, ia, s), *b = buf(e, ib, s);
        const IrShape *bs = &e->f->v[ib].shape;
        for (int64_t i = 0; i < n; i++)
            y[i] = binary(v->op, a[bcast_index(&v->shape, i, as)], b[bcast_index(&v->shape, i, bs)]);
    }
}

int ir_eval(IrEval *e)
{
    const IrFunc *f = e->f;
    e->val = calloc(f->n ? f->n : 1, sizeof *e->val);
    if (!e->val)
        return -1;
    for (IrId id = 0; id < f->n; id++) {
        const IrValue *v = &f->v[id];
        int64_t samples = v->batched ? e->batch : 1;
        e->val[id] = calloc(samples * ir_shape_size(&v->shape) + 1, sizeof(double));
        if (!e->val[id])
            return -1;
        /* outputs that sum over samples are computed once, over all of them */
        int sums = (v->op == IR_OUTER || v->op == IR_CONV_GRAD_W) && !v->batched;
        if (sums && (f->v[v->in[0]].batched || f->v[v->in[1]].batched)) {
            if (v->op == IR_OUTER)
                for (int64_t s = 0; s < e->batch; s++) {
                    /* OUTER of batched operands into a uniform result */
                    const IrShape *as = &f->v[v->in[0]].shape, *bs = &f->v[v->in[1]].shape;
                    int64_t m = as->dim[0], n = bs->dim[0], k = as->rank == 2 ? as->dim[1] : 1;
                    const double *a = buf(e, v->in[0], s), *b = buf(e, v->in[1], s);
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++)
                            for (int64_t l = 0; l < k; l++)
                                e->val[id][i * n + j] += a[i * k + l] * b[j * k + l];
                }
            else
                step(e, id, 0);
            continue;
        }
        if (v->op == IR_REDUCE_TO && !v->batched) {
            step(e, id, 0);
            continue;
        }
        for (int64_t s = 0; s < samples; s++)
            step(e, id, s);
    }
    return 0;
}

void ir_eval_free(IrEval *e)
{
    if (!e->val)
        return;
    for (int i = 0; i < e->f->n; i++)
        free(e->val[i]);
    free(e->val);
    e->val = NULL;
}
