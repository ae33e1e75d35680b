/* autodiff.c - reverse-mode (VJP) and forward-mode (JVP) rules for every IR op.
 *
 * Each rule writes its derivative with ordinary IR ops beside the op it
 * differentiates, so the fusion pass and the back ends need no special cases
 * and a forward-mode graph can be differentiated again in reverse.
 * Note: f->v may move whenever a value is added, so rules copy what they need
 * out of an IrValue before adding anything. */
#include "autodiff.h"

#include <stdlib.h>
#include <string.h>

/* ---- small builders --------------------------------------------------- */

static IrId add(IrFunc *f, IrId a, IrId b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return ir_binary(f, IR_ADD, a, b);
}

static IrId mul(IrFunc *f, IrId a, IrId b) { return ir_binary(f, IR_MUL, a, b); }
static IrId sub(IrFunc *f, IrId a, IrId b) { return ir_binary(f, IR_SUB, a, b); }
static IrId divide(IrFunc *f, IrId a, IrId b) { return ir_binary(f, IR_DIV, a, b); }
static IrId neg(IrFunc *f, IrId a) { return ir_unary(f, IR_NEG, a); }
static IrId konst(IrFunc *f, double c) { return ir_const(f, c); }

static IrValue blank(IrOp op, int stage)
{
    IrValue v = { .op = op, .in = { -1, -1, -1 }, .stage = stage };
    return v;
}

/* An op whose result shape and batching are given rather than inferred. */
static IrId shaped(IrFunc *f, IrOp op, IrId a, IrId b, IrShape shape, int batched)
{
    IrValue v = blank(op, f->v[a].stage);
    v.in[0] = a;
    v.in[1] = b;
    v.shape = shape;
    v.batched = batched;
    return ir_add(f, &v);
}

static IrId broadcast_to(IrFunc *f, IrId a, IrShape shape, int batched)
{
    if (ir_shape_equal(&f->v[a].shape, &shape) && f->v[a].batched == batched)
        return a;
    return shaped(f, IR_BROADCAST, a, -1, shape, batched);
}

static IrId zeros_like(IrFunc *f, IrId x)
{
    IrValue v = blank(IR_FILL, f->v[x].stage);
    v.shape = f->v[x].shape;
    v.c = 0;
    IrId z = ir_add(f, &v);
    return broadcast_to(f, z, f->v[x].shape, f->v[x].batched);
}

/* g brought to the shape and batching of x: summed over the dimensions (and
 * the batch) that g has and x broadcast over, expanded over those x has and
 * g lacks. */
static IrId like(IrFunc *f, IrId g, IrId x)
{
    IrShape gs = f->v[g].shape, xs = f->v[x].shape;
    int gb = f->v[g].batched, xb = f->v[x].batched;
    if (ir_shape_equal(&gs, &xs) && gb == xb)
        return g;
    /* the intermediate: g's dims where x has them too, 1 where x has 1 */
    IrShape mid = { .rank = xs.rank };
    for (int i = 0; i < xs.rank; i++) {
        int j = gs.rank - xs.rank + i;
        int64_t gd = j >= 0 ? gs.dim[j] : 1;
        mid.dim[i] = xs.dim[i] == 1 ? 1 : gd;
    }
    IrId r = ir_reduce_to(f, g, &mid, gb && xb);
    return broadcast_to(f, r, xs, xb);
}

/* ---- reverse mode ------------------------------------------------------ */

typedef struct Vjp {
    IrFunc *f;
    IrId *adj;
    const char *live; /* live[i]: value i depends on a parameter or an input */
} Vjp;

static void accum(Vjp *s, IrId x, IrId contrib)
{
    if (!s->live[x] || contrib < 0)
        return;
    contrib = like(s->f, contrib, x);
    s->adj[x] = add(s->f, s->adj[x], contrib);
}

/* The shape of a with a 1 inserted at axis (to broadcast a reduction's
 * adjoint back over the reduced axis). */
static IrId unsqueeze(IrFunc *f, IrId a, int axis)
{
    IrShape s = f->v[a].shape, r = { .rank = s.rank + 1 };
    for (int i = 0, j = 0; i < r.rank; i++)
        r.dim[i] = i == axis ? 1 : s.dim[j++];
    return shaped(f, IR_RESHAPE, a, -1, r, f->v[a].batched);
}

/* The adjoint of a reduction over `axis` (or all, axis < 0) spread back
 * over x's shape. */
static IrId spread(IrFunc *f, IrId g, IrId x, int axis)
{
    IrId e = axis < 0 ? g : unsqueeze(f, g, axis);
    return broadcast_to(f, e, f->v[x].shape, f->v[x].batched || f->v[g].batched);
}

static int vjp_matmul(Vjp *s, IrId v, IrId g)
{
    IrFunc *f = s->f;
    IrId a = f->v[v].in[0], b = f->v[v].in[1];
    int ra = f->v[a].shape.rank, rb = f->v[b].shape.rank;
    IrShape as = f->v[a].shape, bs = f->v[b].shape;
    if (ra == 2 && rb == 1) { /* v = A x: dx = A^T g, dA = g x^T */
        /* dx first: A (a weight) is then read before its gradient's GEMM,
         * which may take the SGD step in place (fuse_sgd.c) */
        if (s->live[b])
            accum(s, b, ir_binary(f, IR_MATMUL, ir_unary(f, IR_TRANSPOSE, a), g));
        if (s->live[a])
            accum(s, a, shaped(f, IR_OUTER, g, b, as, f->v[a].batched));
    } else if (ra == 1 && rb == 2) { /* v = x^T B: dx = B g, dB = x g^T */
        if (s->live[a])
            accum(s, a, ir_binary(f, IR_MATMUL, b, g));
        if (s->live[b])
            accum(s, b, shaped(f, IR_OUTER, a, g, bs, f->v[b].batched));
    } else { /* V = A B: dA = G B^T, dB = A^T G */
        if (s->live[a])
            accum(s, a, ir_binary(f, IR_MATMUL, g, ir_unary(f, IR_TRANSPOSE, b)));
        if (s->live[b])
            accum(s, b, ir_binary(f, IR_MATMUL, ir_unary(f, IR_TRANSPOSE, a), g));
    }
    return 0;
}

/* Applies the rule of value v, whose adjoint is g. */
static int vjp_rule(Vjp *s, IrId v, IrId g, const char **why)
{
    IrFunc *f = s->f;
    IrValue val = f->v[v]; /* a copy: f->v moves as values are added */
    IrId a = val.in[0], b = val.in[1];
    switch (val.op) {
    case IR_INPUT: case IR_PARAM: case IR_CONST: case IR_LABEL: case IR_INV_BATCH: case IR_STEP_SIZE:
    case IR_BASIS: case IR_FILL: case IR_STEP: case IR_SIGN:
        return 0;
    case IR_ADD: accum(s, a, g); accum(s, b, g); return 0;
    case IR_SUB: accum(s, a, g); if (s->live[b]) accum(s, b, neg(f, g)); return 0;
    case IR_MUL:
        if (s->live[a]) accum(s, a, mul(f, g, b));
        if (s->live[b]) accum(s, b, mul(f, g, a));
        return 0;
    case IR_DIV: /* v = a / b: da = g / b, db = -g v / b */
        if (s->live[a]) accum(s, a, divide(f, g, b));
        if (s->live[b]) accum(s, b, neg(f, mul(f, g, divide(f, v, b))));
        return 0;
    case IR_POW: /* v = a^b: da = g b a^(b-1), db = g v log a */
        if (s->live[a])
            accum(s, a, mul(f, g, mul(f, b, ir_binary(f, IR_POW, a, sub(f, b, konst(f, 1))))));
        if (s->live[b])
            accum(s, b, mul(f, g, mul(f, v, ir_unary(f, IR_LOG, a))));
        return 0;
    case IR_MAXIMUM:
        if (s->live[a]) accum(s, a, mul(f, g, ir_unary(f, IR_STEP, sub(f, a, b))));
        if (s->live[b]) accum(s, b, mul(f, g, ir_unary(f, IR_STEP, sub(f, b, a))));
        return 0;
    case IR_NEG: accum(s, a, neg(f, g)); return 0;
    case IR_TANH: accum(s, a, mul(f, g, sub(f, konst(f, 1), mul(f, v, v)))); return 0;
    case IR_SIGMOID: accum(s, a, mul(f, g, mul(f, v, sub(f, konst(f, 1), v)))); return 0;
    case IR_RELU: /* step(v) is step(a) for every a (NaN and -0 included) and reads the
                   * value the forward pass keeps anyway: a then needs no memory of its
                   * own (LeNet: bias + relu wrote both, 1.4 MB a step more) */
        accum(s, a, mul(f, g, ir_unary(f, IR_STEP, v)));
        return 0;
    case IR_SOFTPLUS: accum(s, a, mul(f, g, ir_unary(f, IR_SIGMOID, a))); return 0;
    case IR_EXP: accum(s, a, mul(f, g, v)); return 0;
    case IR_LOG: accum(s, a, divide(f, g, a)); return 0;
    case IR_SIN: accum(s, a, mul(f, g, ir_unary(f, IR_COS, a))); return 0;
    case IR_COS: accum(s, a, neg(f, mul(f, g, ir_unary(f, IR_SIN, a)))); return 0;
    case IR_SQRT: accum(s, a, mul(f, g, divide(f, konst(f, 0.5), v))); return 0;
    case IR_ABS: accum(s, a, mul(f, g, ir_unary(f, IR_SIGN, a))); return 0;
    case IR_MATMUL: return vjp_matmul(s, v, g);
    case IR_SUM: accum(s, a, spread(f, g, a, val.iarg[0])); return 0;
    case IR_MEAN: {
        const IrShape *as = &f->v[a].shape;
        int64_t n = val.iarg[0] < 0 ? ir_shape_size(as) : as->dim[val.iarg[0]];
        accum(s, a, spread(f, mul(f, g, konst(f, 1.0 / (double)n)), a, val.iarg[0]));
        return 0;
    }
    case IR_MAX: { /* to the maxima: where a equals the max, step(max - a) is 0 */
        IrId m = spread(f, v, a, val.iarg[0]);
        IrId mask = sub(f, konst(f, 1), ir_unary(f, IR_STEP, sub(f, m, a)));
        accum(s, a, mul(f, spread(f, g, a, val.iarg[0]), mask));
        return 0;
    }
    case IR_LOGSUMEXP: accum(s, a, mul(f, g, ir_unary(f, IR_SOFTMAX, a))); return 0;
    case IR_SOFTMAX: { /* da = v (g - sum(g v)) */
        IrId gv = ir_reduce(f, IR_SUM, mul(f, g, v), -1);
        accum(s, a, mul(f, v, sub(f, g, gv)));
        return 0;
    }
    case IR_REDUCE_TO: accum(s, a, broadcast_to(f, g, f->v[a].shape, f->v[a].batched)); return 0;
    case IR_ALLREDUCE: { /* y = sum over ranks of a: each rank's a feeds every rank's loss.  A
                          * rank's gradient is of its mean loss and libexa weights it by its
                          * share of the rows afterwards, so the adjoint is the other form
                          * (iarg 1): the ranks' g weighted by their rows, over this rank's */
        IrValue r = blank(IR_ALLREDUCE, val.stage);
        r.in[0] = g;
        r.iarg[0] = !val.iarg[0];
        accum(s, a, ir_add(f, &r));
        return 0;
    }
    case IR_BROADCAST: accum(s, a, ir_reduce_to(f, g, &f->v[a].shape, f->v[a].batched)); return 0;
    case IR_RESHAPE: accum(s, a, shaped(f, IR_RESHAPE, g, -1, f->v[a].shape, f->v[g].batched)); return 0;
    case IR_TRANSPOSE: accum(s, a, ir_unary(f, IR_TRANSPOSE, g)); return 0;
    case IR_SLICE: case IR_SLICE_GRAD: { /* each is the other's transpose over the same window */
        IrValue t = blank(val.op == IR_SLICE ? IR_SLICE_GRAD : IR_SLICE, val.stage);
        t.in[0] = g;
        t.shape = f->v[a].shape;
        memcpy(t.slice, val.slice, sizeof t.slice);
        accum(s, a, ir_add(f, &t));
        return 0;
    }
    case IR_CONCAT: {
        IrShape as = f->v[a].shape, bs = f->v[b].shape, vs = val.shape;
        for (int part = 0; part < 2; part++) {
            IrId x = part ? b : a;
            if (!s->live[x])
                continue;
            IrValue sl = blank(IR_SLICE, val.stage);
            sl.in[0] = g;
            sl.shape = part ? bs : as;
            for (int d = 0; d < vs.rank; d++) {
                sl.slice[d][0] = 0;
                sl.slice[d][1] = vs.dim[d];
            }
            sl.slice[0][0] = part ? as.dim[0] : 0;
            sl.slice[0][1] = part ? vs.dim[0] : as.dim[0];
            accum(s, x, ir_add(f, &sl));
        }
        return 0;
    }
    case IR_BATCH_STAT: /* resolved by lowering before any pass */
        *why = ir_op_name(val.op);
        return -2;
    case IR_PICK:
        accum(s, a, shaped(f, IR_PICK_GRAD, g, b, f->v[a].shape, 1));
        return 0;
    case IR_PICK_GRAD:
        accum(s, a, shaped(f, IR_PICK, g, b, ir_scalar(), 1));
        return 0;
    case IR_CONV: {
        IrValue cx = blank(IR_CONV_GRAD_X, val.stage), cw = blank(IR_CONV_GRAD_W, val.stage);
        cx.in[0] = cw.in[0] = g;
        cx.in[1] = b;
        cw.in[1] = a;
        cx.iarg[0] = cw.iarg[0] = val.iarg[0];
        cx.iarg[1] = cw.iarg[1] = val.iarg[1];
        cx.shape = f->v[a].shape;
        cw.shape = f->v[b].shape;
        cw.batched = f->v[b].batched;
        if (s->live[a]) accum(s, a, ir_add(f, &cx));
        if (s->live[b]) accum(s, b, ir_add(f, &cw));
        return 0;
    }
    case IR_MAXPOOL: {
        IrValue mg = blank(IR_MAXPOOL_GRAD, val.stage);
        mg.in[0] = g;
        mg.in[1] = a;
        mg.iarg[0] = val.iarg[0];
        mg.iarg[1] = val.iarg[1];
        mg.shape = f->v[a].shape;
        accum(s, a, ir_add(f, &mg));
        return 0;
    }
    case IR_OUTER: case IR_CONV_GRAD_X: case IR_CONV_GRAD_W: case IR_MAXPOOL_GRAD:
    case IR_SLICE_ADD: case IR_OUTER_ADD: /* made by fuse.c, after differentiation */
    case IR_OP_COUNT:
        break;
    }
    *why = ir_op_name(val.op);
    return -1;
}

/* live[i]: value i depends on a parameter (or, with inputs, on an input), so
 * its adjoint matters. */
static char *find_live(const IrFunc *f, int n, int inputs)
{
    char *live = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!live)
        abort();
    for (int i = 0; i < n; i++) {
        const IrValue *v = &f->v[i];
        if (v->op == IR_PARAM || (inputs && v->op == IR_INPUT)) {
            live[i] = 1;
            continue;
        }
        for (int k = 0; k < ir_op_arity(v->op); k++)
            live[i] |= live[v->in[k]];
    }
    return live;
}

static int vjp(IrFunc *f, IrId out, IrId seed, IrId *adj, const char **why, int inputs)
{
    int n = f->n;
    for (int i = 0; i < n; i++)
        adj[i] = -1;
    Vjp s = { .f = f, .adj = adj, .live = find_live(f, n, inputs) };
    int status = 0;
    if (s.live[out]) {
        adj[out] = like(f, seed, out);
        for (IrId v = out; v >= 0 && status == 0; v--)
            if (adj[v] >= 0)
                status = vjp_rule(&s, v, adj[v], why);
    }
    free((void *)s.live);
    return status;
}

int ad_vjp(IrFunc *f, IrId out, IrId seed, IrId *adj, const char **why)
{
    return vjp(f, out, seed, adj, why, 1);
}

int ad_vjp_params(IrFunc *f, IrId out, IrId seed, IrId *adj, const char **why)
{
    return vjp(f, out, seed, adj, why, 0);
}

/* ---- forward mode ------------------------------------------------------ */

/* t(x): the tangent of x, or a zero of x's shape when x does not depend on
 * the input. */
static IrId tan_of(IrFunc *f, IrId *t, IrId x)
{
    return t[x] >= 0 ? t[x] : zeros_like(f, x);
}

static IrId jvp_rule(IrFunc *f, IrId *t, IrId v, const char **why)
{
    IrValue val = f->v[v];
    IrId a = val.in[0], b = val.in[1];
    IrId ta = a >= 0 ? t[a] : -1, tb = b >= 0 ? t[b] : -1;
    switch (val.op) {
    case IR_ADD: return add(f, ta, tb);
    case IR_SUB: return tb < 0 ? ta : ta < 0 ? neg(f, tb) : sub(f, ta, tb);
    case IR_MUL: return add(f, ta < 0 ? -1 : mul(f, ta, b), tb < 0 ? -1 : mul(f, a, tb));
    case IR_DIV: /* (ta - v tb) / b */
        return divide(f, tb < 0 ? ta : sub(f, tan_of(f, t, a), mul(f, v, tb)), b);
    case IR_POW:
        if (tb >= 0) {
            *why = "a power whose exponent depends on the input";
            return -2;
        }
        return mul(f, ta, mul(f, b, ir_binary(f, IR_POW, a, sub(f, b, konst(f, 1)))));
    case IR_MAXIMUM:
        return add(f, ta < 0 ? -1 : mul(f, ta, ir_unary(f, IR_STEP, sub(f, a, b))),
                   tb < 0 ? -1 : mul(f, tb, ir_unary(f, IR_STEP, sub(f, b, a))));
    case IR_NEG: return neg(f, ta);
    case IR_TANH: return mul(f, ta, sub(f, konst(f, 1), mul(f, v, v)));
    case IR_SIGMOID: return mul(f, ta, mul(f, v, sub(f, konst(f, 1), v)));
    case IR_RELU: return mul(f, ta, ir_unary(f, IR_STEP, a));
    case IR_SOFTPLUS: return mul(f, ta, ir_unary(f, IR_SIGMOID, a));
    case IR_EXP: return mul(f, ta, v);
    case IR_LOG: return divide(f, ta, a);
    case IR_SIN: return mul(f, ta, ir_unary(f, IR_COS, a));
    case IR_COS: return neg(f, mul(f, ta, ir_unary(f, IR_SIN, a)));
    case IR_SQRT: return divide(f, mul(f, ta, konst(f, 0.5)), v);
    case IR_ABS: return mul(f, ta, ir_unary(f, IR_SIGN, a));
    case IR_STEP: case IR_SIGN: return -1;
    case IR_MATMUL:
        return add(f, ta < 0 ? -1 : ir_binary(f, IR_MATMUL, ta, b),
                   tb < 0 ? -1 : ir_binary(f, IR_MATMUL, a, tb));
    case IR_SUM: case IR_MEAN: return ir_reduce(f, val.op, ta, val.iarg[0]);
    case IR_MAX: { /* the tangent at the maximum: mask as in the reverse rule */
        IrId mask = sub(f, konst(f, 1), ir_unary(f, IR_STEP, sub(f, spread(f, v, a, val.iarg[0]), a)));
        return ir_reduce(f, IR_SUM, mul(f, ta, mask), val.iarg[0]);
    }
    case IR_LOGSUMEXP:
        return ir_reduce(f, IR_SUM, mul(f, ir_unary(f, IR_SOFTMAX, a), ta), -1);
    case IR_SOFTMAX:
        return mul(f, v, sub(f, ta, ir_reduce(f, IR_SUM, mul(f, v, ta), -1)));
    case IR_REDUCE_TO: /* linear: the same sum of the tangent */
        return shaped(f, val.op, ta, -1, val.shape, val.batched);
    case IR_BROADCAST: case IR_RESHAPE:
        return shaped(f, val.op, ta, -1, val.shape, val.batched || f->v[ta].batched);
    case IR_TRANSPOSE: return ir_unary(f, IR_TRANSPOSE, ta);
    case IR_SLICE: case IR_SLICE_GRAD: {
        IrValue sl = val;
        sl.in[0] = ta;
        sl.batched = f->v[ta].batched;
        return ir_add(f, &sl);
    }
    case IR_ALLREDUCE: /* a sample's input moves every sample's statistics */
        *why = "batch statistics (batch_mean, batch_norm)";
        return -2;
    case IR_CONCAT: return ir_binary(f, IR_CONCAT, tan_of(f, t, a), tan_of(f, t, b));
    case IR_PICK:
        return ta < 0 ? -1 : shaped(f, IR_PICK, ta, b, ir_scalar(), 1);
    case IR_CONV: {
        if (tb >= 0) {
            *why = "a convolution whose kernel depends on the input";
            return -2;
        }
        IrValue c = val;
        c.in[0] = ta;
        return ir_add(f, &c);
    }
    default:
        *why = ir_op_name(val.op);
        return -2;
    }
}

IrId ad_jvp(IrFunc *f, IrId input, int64_t k, IrId out, const char **why)
{
    int n = out + 1;
    IrId *t = malloc((size_t)n * sizeof *t);
    if (!t)
        abort();
    for (int i = 0; i < n; i++)
        t[i] = -1;
    IrValue basis = blank(IR_BASIS, -1);
    basis.shape = f->v[input].shape;
    basis.iarg[0] = (int)k;
    t[input] = ir_add(f, &basis);
    IrId result = -1;
    for (IrId v = input + 1; v < n; v++) {
        int depends = 0;
        for (int i = 0; i < ir_op_arity(f->v[v].op); i++)
            depends |= t[f->v[v].in[i]] >= 0;
        if (!depends)
            continue;
        IrId tv = jvp_rule(f, t, v, why);
        if (tv == -2)
            goto done;
        t[v] = tv;
    }
    result = t[out] >= 0 ? t[out] : zeros_like(f, out);
done:
    free(t);
    return result;
}
