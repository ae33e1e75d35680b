/* cg_cases.c - the test graphs (see cg_cases.h): every op kind, fused chains
 * with broadcasting, and whole networks (dense layer, MLP with softmax
 * cross-entropy, conv + maxpool net, a PINN second derivative). */
#include "cg_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"

static IrId param_id[CASE_MAX_LEAVES], input_id[CASE_MAX_LEAVES];

static IrShape shp(int rank, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t d[3] = { d0, d1, d2 };
    return ir_shape(rank, d);
}

static IrId param(CgCase *c, IrShape s)
{
    IrParam *p = &c->params[c->nparams];
    p->path = "p";
    p->shape = s;
    p->offset = c->nweights;
    p->stage = -1;
    c->nweights += ir_shape_size(&s);
    IrValue v = { .op = IR_PARAM, .in = { -1, -1, -1 }, .shape = s, .iarg = { c->nparams }, .stage = -1 };
    return param_id[c->nparams++] = ir_add(&c->f, &v);
}

static IrId input(CgCase *c, IrShape s)
{
    int k = c->ninputs++;
    c->in_shape[k] = s;
    IrValue v = { .op = IR_INPUT, .in = { -1, -1, -1 }, .shape = s, .batched = 1, .iarg = { k }, .stage = -1 };
    return input_id[k] = ir_add(&c->f, &v);
}

static IrId label(CgCase *c, int classes)
{
    int k = c->ninputs++;
    c->classes[k] = classes;
    IrValue v = { .op = IR_LABEL, .in = { -1, -1, -1 }, .batched = 1, .iarg = { k }, .stage = -1 };
    return input_id[k] = ir_add(&c->f, &v);
}

static IrId with(CgCase *c, IrOp op, IrId a, IrId b, IrShape s, int i0, int i1)
{
    IrValue v = { .op = op, .in = { a, b, -1 }, .shape = s, .iarg = { i0, i1 }, .stage = -1 };
    return ir_add(&c->f, &v);
}

static IrId un(CgCase *c, IrOp op, IrId a) { return ir_unary(&c->f, op, a); }
static IrId bin(CgCase *c, IrOp op, IrId a, IrId b) { return ir_binary(&c->f, op, a, b); }
static IrId k(CgCase *c, double v) { return ir_const(&c->f, v); }

/* y is slot 0; the gradient of mean_b sum(y_b^2)/2 goes to slots 1 and 2 */
static void finish(CgCase *c, IrId y, int grad)
{
    IrFunc *f = &c->f;
    ir_output(f, y, 0, 0);
    c->grad = grad;
    if (!grad)
        return;
    f->sgd_slot = 1; /* as loss_grad's GRAD slot: cg_eval takes an SGD step in the GEMMs */
    IrId loss = bin(c, IR_MUL, ir_reduce(f, IR_SUM, bin(c, IR_MUL, y, y), -1), k(c, 0.5));
    IrValue seed = { .op = IR_INV_BATCH, .in = { -1, -1, -1 }, .stage = -1 };
    IrId s = ir_add(f, &seed);
    IrId *adj = malloc((size_t)f->n * sizeof *adj);
    const char *why = NULL;
    if (ad_vjp(f, loss, s, adj, &why) != 0) {
        fprintf(stderr, "%s: no reverse rule for %s\n", c->name, why);
        exit(2);
    }
    for (int i = 0; i < c->nparams; i++)
        if (adj[param_id[i]] >= 0)
            ir_output(f, adj[param_id[i]], 1, c->params[i].offset);
    if (c->ninputs > 0 && c->classes[0] == 0 && adj[input_id[0]] >= 0)
        ir_output(f, adj[input_id[0]], 2, 0);
    free(adj);
}

/* The batch mean of batched x as batch_mean lowers it (compiler/ir/lower.c). */
static IrId batch_mean(CgCase *c, IrId x)
{
    IrShape xs = c->f.v[x].shape, sc = ir_scalar();
    IrId sum = with(c, IR_ALLREDUCE, ir_reduce_to(&c->f, x, &xs, 0), -1, xs, 0, 0);
    IrId one = with(c, IR_BROADCAST, k(c, 1), -1, sc, 0, 0);
    c->f.v[one].batched = 1;
    IrId rows = with(c, IR_ALLREDUCE, ir_reduce_to(&c->f, one, &sc, 0), -1, sc, 0, 0);
    return bin(c, IR_DIV, sum, rows);
}

/* ---- the cases --------------------------------------------------------- */

static const struct { const char *name; IrOp op; int positive; } unary[] = {
    { "neg", IR_NEG, 0 }, { "tanh", IR_TANH, 0 }, { "sigmoid", IR_SIGMOID, 0 }, { "relu", IR_RELU, 0 },
    { "softplus", IR_SOFTPLUS, 0 }, { "exp", IR_EXP, 0 }, { "log", IR_LOG, 1 }, { "sin", IR_SIN, 0 },
    { "cos", IR_COS, 0 }, { "sqrt", IR_SQRT, 1 }, { "abs", IR_ABS, 0 }, { "step", IR_STEP, 0 },
    { "sign", IR_SIGN, 0 },
};
enum { NUNARY = sizeof unary / sizeof unary[0] };

static const struct { const char *name; IrOp op; } binary[] = {
    { "add", IR_ADD }, { "sub", IR_SUB }, { "mul", IR_MUL }, { "div", IR_DIV }, { "maximum", IR_MAXIMUM },
};
enum { NBINARY = sizeof binary / sizeof binary[0] };

static void mlp(CgCase *c, int relu)
{
    IrId x = input(c, shp(1, 6, 0, 0)), y = label(c, 4);
    IrId h = bin(c, IR_ADD, bin(c, IR_MATMUL, param(c, shp(2, 8, 6, 0)), x), param(c, shp(1, 8, 0, 0)));
    h = un(c, relu ? IR_RELU : IR_TANH, h);
    IrId z = bin(c, IR_ADD, bin(c, IR_MATMUL, param(c, shp(2, 4, 8, 0)), h), param(c, shp(1, 4, 0, 0)));
    IrId ce = bin(c, IR_SUB, un(c, IR_LOGSUMEXP, z), bin(c, IR_PICK, z, y));
    finish(c, ce, 1);
}

static void named(CgCase *c, const char *name)
{
    snprintf(c->name, sizeof c->name, "%s", name);
}

/* Case builders by number; -1 past the end. */
static int build(int i, CgCase *c)
{
    if (i < NUNARY) {
        named(c, unary[i].name);
        c->positive = unary[i].positive;
        IrId x = input(c, shp(2, 3, 4, 0)), w = param(c, shp(1, 4, 0, 0));
        /* a chain: op(x * w + 0.25), bias broadcast over rows and the batch */
        IrId a = bin(c, IR_ADD, bin(c, IR_MUL, x, w), k(c, 0.25));
        finish(c, un(c, unary[i].op, a), 1);
        return 0;
    }
    i -= NUNARY;
    if (i < NBINARY) {
        snprintf(c->name, sizeof c->name, "%s [m,1] x [1,n]", binary[i].name);
        c->positive = 1;
        IrId x = input(c, shp(2, 5, 1, 0)), w = param(c, shp(2, 1, 7, 0));
        finish(c, bin(c, binary[i].op, bin(c, IR_MUL, x, k(c, 1.5)), w), 1);
        return 0;
    }
    i -= NBINARY;
    switch (i) {
    case 0: { /* scalars: step size and 1/B in a chain, a uniform [n] against batched */
        named(c, "scalars h, 1/B");
        IrId x = input(c, shp(1, 9, 0, 0)), w = param(c, shp(1, 9, 0, 0));
        IrValue h = { .op = IR_STEP_SIZE, .in = { -1, -1, -1 }, .stage = -1 };
        IrValue ib = { .op = IR_INV_BATCH, .in = { -1, -1, -1 }, .stage = -1 };
        IrId y = bin(c, IR_ADD, bin(c, IR_MUL, x, ir_add(&c->f, &h)), bin(c, IR_MUL, w, ir_add(&c->f, &ib)));
        finish(c, un(c, IR_TANH, y), 1);
        return 0;
    }
    case 1: {
        named(c, "pow constant 3");
        IrId x = input(c, shp(1, 5, 0, 0));
        finish(c, bin(c, IR_POW, bin(c, IR_ADD, x, param(c, shp(1, 5, 0, 0))), k(c, 3)), 1);
        return 0;
    }
    case 2: {
        named(c, "pow parameter exponent");
        c->positive = 1;
        IrId x = input(c, shp(1, 5, 0, 0));
        finish(c, bin(c, IR_POW, x, param(c, shp(0, 0, 0, 0))), 1);
        return 0;
    }
    case 3:
        named(c, "matmul W@x");
        finish(c, bin(c, IR_MATMUL, param(c, shp(2, 4, 3, 0)), input(c, shp(1, 3, 0, 0))), 1);
        return 0;
    case 4:
        named(c, "matmul x@B");
        finish(c, bin(c, IR_MATMUL, input(c, shp(1, 3, 0, 0)), param(c, shp(2, 3, 5, 0))), 1);
        return 0;
    case 5:
        named(c, "matmul X@Y both batched");
        finish(c, bin(c, IR_MATMUL, input(c, shp(2, 2, 3, 0)), input(c, shp(2, 3, 4, 0))), 1);
        return 0;
    case 6:
        named(c, "matmul A@X");
        finish(c, bin(c, IR_MATMUL, param(c, shp(2, 2, 3, 0)), input(c, shp(2, 3, 2, 0))), 1);
        return 0;
    case 7: {
        named(c, "matmul X@B");
        finish(c, bin(c, IR_MATMUL, input(c, shp(2, 4, 3, 0)), param(c, shp(2, 3, 2, 0))), 1);
        return 0;
    }
    case 8: { /* both uniform, then broadcast against the batch */
        named(c, "matmul uniform W1@W2 + x");
        IrId m = bin(c, IR_MATMUL, param(c, shp(2, 3, 4, 0)), param(c, shp(2, 4, 2, 0)));
        finish(c, bin(c, IR_ADD, m, input(c, shp(2, 3, 2, 0))), 1);
        return 0;
    }
    default: break;
    }
    i -= 9;
    if (i < 9) { /* reductions, axis -1, 0, 1 */
        const IrOp ops[] = { IR_SUM, IR_MEAN, IR_MAX };
        const char *names[] = { "sum", "mean", "max" };
        int axis = i / 3 - 1;
        snprintf(c->name, sizeof c->name, "%s axis %d", names[i % 3], axis);
        IrId x = input(c, shp(2, 3, 5, 0));
        finish(c, ir_reduce(&c->f, ops[i % 3], bin(c, IR_MUL, x, param(c, shp(2, 3, 5, 0))), axis), 1);
        return 0;
    }
    i -= 9;
    IrId x, p;
    switch (i) {
    case 0:
        named(c, "logsumexp");
        finish(c, un(c, IR_LOGSUMEXP, bin(c, IR_ADD, input(c, shp(1, 7, 0, 0)), param(c, shp(1, 7, 0, 0)))), 1);
        return 0;
    case 1:
        named(c, "softmax");
        finish(c, un(c, IR_SOFTMAX, bin(c, IR_ADD, input(c, shp(1, 7, 0, 0)), param(c, shp(1, 7, 0, 0)))), 1);
        return 0;
    case 2: {
        named(c, "pick cross-entropy");
        IrId z = bin(c, IR_ADD, input(c, shp(1, 5, 0, 0)), param(c, shp(1, 5, 0, 0)));
        finish(c, bin(c, IR_SUB, un(c, IR_LOGSUMEXP, z), bin(c, IR_PICK, z, label(c, 5))), 1);
        return 0;
    }
    case 3:
        named(c, "reshape");
        x = bin(c, IR_MUL, input(c, shp(2, 2, 3, 0)), param(c, shp(2, 2, 3, 0)));
        finish(c, un(c, IR_TANH, with(c, IR_RESHAPE, x, -1, shp(1, 6, 0, 0), 0, 0)), 1);
        return 0;
    case 4:
        named(c, "transpose batched");
        x = bin(c, IR_MUL, input(c, shp(2, 2, 3, 0)), param(c, shp(2, 2, 3, 0)));
        finish(c, un(c, IR_TRANSPOSE, x), 1);
        return 0;
    case 5: {
        named(c, "slice");
        x = bin(c, IR_MUL, input(c, shp(2, 3, 4, 0)), param(c, shp(1, 4, 0, 0)));
        IrValue sl = { .op = IR_SLICE, .in = { x, -1, -1 }, .shape = shp(2, 2, 2, 0), .stage = -1,
                       .slice = { { 1, 3 }, { 1, 3 } } };
        finish(c, ir_add(&c->f, &sl), 1);
        return 0;
    }
    case 6:
        named(c, "concat");
        x = bin(c, IR_MUL, input(c, shp(1, 2, 0, 0)), param(c, shp(1, 2, 0, 0)));
        finish(c, bin(c, IR_CONCAT, x, param(c, shp(1, 3, 0, 0))), 1);
        return 0;
    case 7: {
        named(c, "broadcast");
        x = input(c, shp(2, 2, 3, 0));
        IrId b = with(c, IR_BROADCAST, param(c, shp(1, 3, 0, 0)), -1, shp(2, 2, 3, 0), 0, 0);
        finish(c, bin(c, IR_MUL, x, b), 1);
        return 0;
    }
    case 8: case 9: case 10: case 11: {
        int stride = (i - 8) / 2 + 1, pad = (i - 8) % 2;
        snprintf(c->name, sizeof c->name, "conv stride %d pad %d", stride, pad);
        x = input(c, shp(3, 2, 6, 6));
        p = param(c, ir_shape(4, (int64_t[]){ 3, 2, 3, 3 }));
        int64_t o = (6 + 2 * pad - 3) / stride + 1;
        finish(c, with(c, IR_CONV, x, p, shp(3, 3, o, o), stride, pad), 1);
        return 0;
    }
    case 12:
        named(c, "maxpool 2");
        x = bin(c, IR_MUL, input(c, shp(3, 2, 4, 4)), param(c, shp(3, 2, 4, 4)));
        finish(c, with(c, IR_MAXPOOL, x, -1, shp(3, 2, 2, 2), 2, 2), 1);
        return 0;
    case 13: { /* y = tanh(W x + b): forward is one GEMM and one fused loop */
        named(c, "dense");
        x = input(c, shp(1, 5, 0, 0));
        IrId h = bin(c, IR_ADD, bin(c, IR_MATMUL, param(c, shp(2, 7, 5, 0)), x), param(c, shp(1, 7, 0, 0)));
        finish(c, un(c, IR_TANH, h), 1);
        return 0;
    }
    case 14: named(c, "mlp relu softmax-ce"); mlp(c, 1); return 0;
    case 15: named(c, "mlp tanh softmax-ce"); mlp(c, 0); return 0;
    case 16: { /* conv(1->4, 3x3) + bias, relu, maxpool 2, dense 36 -> 3, cross-entropy */
        named(c, "conv+maxpool net");
        x = input(c, shp(3, 1, 8, 8));
        IrId cv = with(c, IR_CONV, x, param(c, ir_shape(4, (int64_t[]){ 4, 1, 3, 3 })), shp(3, 4, 6, 6), 1, 0);
        cv = un(c, IR_RELU, bin(c, IR_ADD, cv, param(c, shp(3, 4, 1, 1))));
        IrId mp = with(c, IR_MAXPOOL, cv, -1, shp(3, 4, 3, 3), 2, 2);
        IrId flat = with(c, IR_RESHAPE, mp, -1, shp(1, 36, 0, 0), 0, 0);
        flat = bin(c, IR_MUL, flat, k(c, 0.1)); /* logits O(1): a loss near 0 would cancel in f32 */
        IrId z = bin(c, IR_ADD, bin(c, IR_MATMUL, param(c, shp(2, 3, 36, 0)), flat), param(c, shp(1, 3, 0, 0)));
        finish(c, bin(c, IR_SUB, un(c, IR_LOGSUMEXP, z), bin(c, IR_PICK, z, label(c, 3))), 1);
        return 0;
    }
    case 17: { /* u = w2 . tanh(W1 x + b); the parameter gradient of d2u/dx0^2 */
        named(c, "pinn d2");
        x = input(c, shp(1, 2, 0, 0));
        IrId h = un(c, IR_TANH, bin(c, IR_ADD, bin(c, IR_MATMUL, param(c, shp(2, 6, 2, 0)), x), param(c, shp(1, 6, 0, 0))));
        IrId u = ir_reduce(&c->f, IR_SUM, bin(c, IR_MUL, h, param(c, shp(1, 6, 0, 0))), -1);
        const char *why;
        IrId du = ad_jvp(&c->f, x, 0, u, &why);
        IrId d2u = ad_jvp(&c->f, x, 0, du, &why);
        finish(c, bin(c, IR_SUB, d2u, bin(c, IR_MUL, u, u)), 1);
        return 0;
    }
    case 18: { /* batch normalisation in training: batch mean and variance */
        named(c, "batch norm");
        /* tanh: batch norm of x * w alone would not depend on w's scale */
        x = un(c, IR_TANH, bin(c, IR_MUL, input(c, shp(1, 6, 0, 0)), param(c, shp(1, 6, 0, 0))));
        IrId d = bin(c, IR_SUB, x, batch_mean(c, x));
        IrId v = batch_mean(c, bin(c, IR_MUL, d, d));
        /* eps 0.1 (nn.exa: 1e-5): f32's rounding of a small variance would
         * otherwise decide the comparison with ir_eval */
        IrId y = bin(c, IR_DIV, d, un(c, IR_SQRT, bin(c, IR_ADD, v, k(c, 0.1))));
        /* tanh after: the loss sum(y^2)/2 of a normalised y alone is flat */
        y = bin(c, IR_ADD, bin(c, IR_MUL, y, param(c, shp(1, 6, 0, 0))), param(c, shp(1, 6, 0, 0)));
        finish(c, un(c, IR_TANH, y), 1);
        return 0;
    }
    case 19: { /* a stacked-gate cell: three slices of one product read by a fused loop
                * (FUSE_SLICE views), their gradients joined into CONCATs */
        named(c, "stacked gates");
        x = input(c, shp(1, 3, 0, 0));
        IrId a = bin(c, IR_ADD, bin(c, IR_MATMUL, param(c, shp(2, 12, 3, 0)), x), param(c, shp(1, 12, 0, 0)));
        IrId g[3];
        for (int i = 0; i < 3; i++) {
            IrValue sl = { .op = IR_SLICE, .in = { a, -1, -1 }, .shape = shp(1, 4, 0, 0), .stage = -1,
                           .slice = { { 4 * i, 4 * i + 4 } } };
            g[i] = ir_add(&c->f, &sl);
        }
        IrId y = bin(c, IR_MUL, un(c, IR_SIGMOID, g[0]), un(c, IR_TANH, bin(c, IR_MUL, g[1], g[2])));
        finish(c, bin(c, IR_ADD, y, g[2]), 1);
        return 0;
    }
    case 20: { /* two of three slices (a SLICE_GRAD of the joined pair), and a
                * slice a kernel reads (a copy, not a view) */
        named(c, "partial slices");
        x = bin(c, IR_MUL, input(c, shp(1, 9, 0, 0)), param(c, shp(1, 9, 0, 0)));
        IrValue s0 = { .op = IR_SLICE, .in = { x, -1, -1 }, .shape = shp(1, 3, 0, 0), .stage = -1,
                       .slice = { { 3, 6 } } };
        IrValue s1 = s0;
        s1.slice[0][0] = 6, s1.slice[0][1] = 9;
        IrValue s2 = s0;
        s2.slice[0][0] = 0, s2.slice[0][1] = 3;
        IrId a = ir_add(&c->f, &s0), b = ir_add(&c->f, &s1), e = ir_add(&c->f, &s2);
        IrId m = ir_reduce(&c->f, IR_SUM, e, -1);
        finish(c, bin(c, IR_ADD, bin(c, IR_MUL, a, b), m), 1);
        return 0;
    }
    case 21: { /* a recurrence whose input projection hoist.c took out of the loop:
                * Y = x W^T over all 8 rows, step t reads the row Y[t] (a SLICE);
                * the gradient of Y sums 8 SLICE_GRADs, accumulated in place */
        named(c, "hoisted recurrence");
        x = input(c, shp(2, 8, 3, 0));
        IrId y = bin(c, IR_MATMUL, x, un(c, IR_TRANSPOSE, param(c, shp(2, 4, 3, 0))));
        IrId u = param(c, shp(2, 4, 4, 0)), h = -1;
        for (int t = 0; t < 8; t++) {
            IrValue sl = { .op = IR_SLICE, .in = { y, -1, -1 }, .shape = shp(2, 1, 4, 0), .stage = -1,
                           .slice = { { t, t + 1 }, { 0, 4 } } };
            IrId row = with(c, IR_RESHAPE, ir_add(&c->f, &sl), -1, shp(1, 4, 0, 0), 0, 0);
            h = un(c, IR_TANH, h < 0 ? row : bin(c, IR_ADD, row, bin(c, IR_MATMUL, u, h)));
        }
        finish(c, h, 1);
        return 0;
    }
    case 22: { /* overlapping slices of a parameter: its gradient, an output, is the
                * SLICE_GRAD of one slice with the other's added in place (SLICE_ADD),
                * copied out of the accumulator's buffer */
        named(c, "overlapping parameter slices");
        IrId w = param(c, shp(1, 6, 0, 0));
        IrValue s0 = { .op = IR_SLICE, .in = { w, -1, -1 }, .shape = shp(1, 3, 0, 0), .stage = -1,
                       .slice = { { 0, 3 } } };
        IrValue s1 = s0;
        s1.slice[0][0] = 2, s1.slice[0][1] = 5;
        IrId a = ir_add(&c->f, &s0), b = ir_add(&c->f, &s1);
        x = input(c, shp(1, 3, 0, 0));
        finish(c, un(c, IR_TANH, bin(c, IR_ADD, bin(c, IR_MUL, a, x), b)), 1);
        return 0;
    }
    case 23: { /* two steps of a stacked-gate GRU cell, its input and state products
                * stacked: the reset and update gates' gradients are parts of both
                * products' gradients (two places each, FUSE_CONCAT_IN_PLACE), and
                * the reset gate's comes after the CONCAT joining the other two */
        named(c, "stacked gru cell");
        x = input(c, shp(1, 3, 0, 0));
        IrId wx = param(c, shp(2, 12, 3, 0)), bx = param(c, shp(1, 12, 0, 0)), u = param(c, shp(2, 12, 4, 0));
        IrId h = un(c, IR_TANH, bin(c, IR_MATMUL, param(c, shp(2, 4, 3, 0)), x));
        for (int t = 0; t < 2; t++) {
            IrId a = bin(c, IR_ADD, bin(c, IR_MATMUL, wx, x), bx), b = bin(c, IR_MATMUL, u, h);
            IrId ga[3], gb[3];
            for (int i = 0; i < 3; i++) {
                IrValue sl = { .op = IR_SLICE, .in = { a, -1, -1 }, .shape = shp(1, 4, 0, 0), .stage = -1,
                               .slice = { { 4 * i, 4 * i + 4 } } };
                ga[i] = ir_add(&c->f, &sl);
                sl.in[0] = b;
                gb[i] = ir_add(&c->f, &sl);
            }
            IrId r = un(c, IR_SIGMOID, bin(c, IR_ADD, ga[0], gb[0]));
            IrId z = un(c, IR_SIGMOID, bin(c, IR_ADD, ga[1], gb[1]));
            IrId n = un(c, IR_TANH, bin(c, IR_ADD, ga[2], bin(c, IR_MUL, r, gb[2])));
            h = bin(c, IR_ADD, bin(c, IR_MUL, z, h), bin(c, IR_MUL, bin(c, IR_SUB, k(c, 1), z), n));
        }
        finish(c, h, 1);
        return 0;
    }
    default:
        return -1;
    }
}

int cg_case_build(int i, CgCase *c)
{
    memset(c, 0, sizeof *c);
    ir_init(&c->f);
    c->f.name = "f";
    if (build(i, c) != 0) {
        ir_free(&c->f);
        return 0;
    }
    return 1;
}

int cg_case_by_name(const char *name, CgCase *c)
{
    for (int i = 0; cg_case_build(i, c); i++) {
        if (strcmp(c->name, name) == 0)
            return 1;
        cg_case_free(c);
    }
    return 0;
}

void cg_case_free(CgCase *c)
{
    ir_free(&c->f);
}
