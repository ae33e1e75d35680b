/* ir_gradcheck.c - every IR op's derivative rules against central finite
 * differences, in double, through the reference interpreter.
 *
 * For each case a small graph y = op(inputs, params) is built, the per-sample
 * objective is L_b = sum(r * y) with a fixed random r, and the total
 * J = (1/B) sum_b L_b.  The reverse-mode gradient of J with respect to every
 * parameter and every input, and the forward-mode derivative along each input
 * component, must match central differences (h = 1e-6):
 *     max_i |analytic_i - numeric_i| / max(max_j |numeric_j|, 1e-8) < 1e-6.
 * Prints one line per case and exits 1 if any fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "ir_eval.h"

enum { BATCH = 3, MAX_LEAVES = 8 };
static const double TOLERANCE = 1e-6, H = 1e-6;

typedef struct Case {
    IrFunc f;
    IrParam params[MAX_LEAVES];
    int nparams;
    int64_t nweights;
    double theta[4096];
    IrId inputs[MAX_LEAVES]; /* INPUT values, by field index */
    int ninputs;
    double *data[MAX_LEAVES];
    int is_label[MAX_LEAVES];
    unsigned seed;
} Case;

static double rnd(Case *c, double lo, double hi)
{
    c->seed = c->seed * 1103515245u + 12345u;
    return lo + (hi - lo) * ((c->seed >> 8) & 0xffff) / 65535.0;
}

/* Values away from 0, so kinks (relu, abs) are not straddled by h. */
static double away_from_zero(Case *c)
{
    double v = rnd(c, 0.2, 1.5);
    return rnd(c, 0, 1) < 0.5 ? -v : v;
}

typedef enum Domain { ANY, POSITIVE, NONZERO } Domain;

static IrShape shp(int rank, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t d[3] = { d0, d1, d2 };
    return ir_shape(rank, d);
}

static IrId param(Case *c, IrShape s, Domain dom)
{
    IrParam *p = &c->params[c->nparams];
    p->path = "p";
    p->shape = s;
    p->offset = c->nweights;
    p->stage = -1;
    for (int64_t i = 0; i < ir_shape_size(&s); i++)
        c->theta[c->nweights + i] = dom == POSITIVE ? rnd(c, 0.5, 2) : dom == NONZERO ? away_from_zero(c) : rnd(c, -1, 1);
    c->nweights += ir_shape_size(&s);
    IrValue v = { .op = IR_PARAM, .in = { -1, -1, -1 }, .shape = s, .iarg = { c->nparams++ }, .stage = -1 };
    return ir_add(&c->f, &v);
}

static IrId input(Case *c, IrShape s, Domain dom)
{
    int k = c->ninputs++;
    int64_t n = ir_shape_size(&s) * BATCH;
    c->data[k] = malloc(n * sizeof(double));
    for (int64_t i = 0; i < n; i++)
        c->data[k][i] = dom == POSITIVE ? rnd(c, 0.5, 2) : dom == NONZERO ? away_from_zero(c) : rnd(c, -1, 1);
    IrValue v = { .op = IR_INPUT, .in = { -1, -1, -1 }, .shape = s, .batched = 1, .iarg = { k }, .stage = -1 };
    return c->inputs[k] = ir_add(&c->f, &v);
}

static IrId label(Case *c, int classes)
{
    int k = c->ninputs++;
    c->data[k] = malloc(BATCH * sizeof(double));
    c->is_label[k] = 1;
    for (int b = 0; b < BATCH; b++)
        c->data[k][b] = (double)(b % classes);
    IrValue v = { .op = IR_LABEL, .in = { -1, -1, -1 }, .batched = 1, .iarg = { k }, .stage = -1 };
    c->inputs[k] = -1;
    return ir_add(&c->f, &v);
}

static IrId with(Case *c, IrOp op, IrId a, IrId b, IrShape s, int i0, int i1)
{
    IrValue v = { .op = op, .in = { a, b, -1 }, .shape = s, .iarg = { i0, i1 }, .stage = -1 };
    return ir_add(&c->f, &v);
}

/* The batch mean of batched x as batch_mean lowers it (compiler/ir/lower.c):
 * ALLREDUCE(sum over the batch) / ALLREDUCE(rows), uniform. */
static IrId batch_mean(Case *c, IrId x)
{
    IrShape xs = c->f.v[x].shape, sc = ir_scalar();
    IrId sum = with(c, IR_ALLREDUCE, ir_reduce_to(&c->f, x, &xs, 0), -1, xs, 0, 0);
    IrId one = with(c, IR_BROADCAST, ir_const(&c->f, 1), -1, sc, 0, 0);
    c->f.v[one].batched = 1;
    IrId rows = with(c, IR_ALLREDUCE, ir_reduce_to(&c->f, one, &sc, 0), -1, sc, 0, 0);
    return ir_binary(&c->f, IR_DIV, sum, rows);
}

/* J for the current theta and data, and everything the interpreter computed. */
static double objective(Case *c, IrId loss, IrEval *e)
{
    *e = (IrEval){ .f = &c->f, .params = c->params, .theta = c->theta,
                   .inputs = (const double *const *)c->data, .batch = BATCH };
    if (ir_eval(e) != 0)
        abort();
    double j = 0;
    int batched = c->f.v[loss].batched; /* a uniform value is the same for every sample */
    for (int b = 0; b < BATCH; b++)
        j += e->val[loss][batched ? b : 0];
    return j / BATCH;
}

static double value_of(Case *c, IrId loss)
{
    IrEval e;
    double j = objective(c, loss, &e);
    ir_eval_free(&e);
    return j;
}

/* Compares analytic[0..n) with central differences of J in *x[0..n). */
static double compare(Case *c, IrId loss, double *x, const double *analytic, int64_t n)
{
    double worst = 0, scale = 1e-8;
    double *numeric = malloc(n * sizeof *numeric);
    for (int64_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + H;
        double up = value_of(c, loss);
        x[i] = keep - H;
        double down = value_of(c, loss);
        x[i] = keep;
        numeric[i] = (up - down) / (2 * H);
        scale = fmax(scale, fabs(numeric[i]));
    }
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(analytic[i] - numeric[i]) / scale);
    free(numeric);
    return worst;
}

/* Builds J = (1/B) sum_b sum(r * y), checks reverse mode for every param and
 * input, and forward mode along every component of the first input. */
static int check(const char *name, Case *c, IrId y, int forward)
{
    IrShape ys = c->f.v[y].shape;
    IrId r = param(c, ys, ANY);
    c->nparams--; /* r is fixed, not a parameter under test */
    IrId loss = ir_reduce(&c->f, IR_SUM, ir_binary(&c->f, IR_MUL, y, r), -1);
    if (!c->f.v[loss].batched)
        loss = with(c, IR_BROADCAST, loss, -1, ir_scalar(), 0, 0), c->f.v[loss].batched = 1;
    IrId seed = with(c, IR_INV_BATCH, -1, -1, ir_scalar(), 0, 0);
    int n = c->f.n;
    IrId *adj = malloc(n * sizeof *adj);
    const char *why = NULL;
    if (ad_vjp(&c->f, loss, seed, adj, &why) != 0) {
        printf("FAIL %-28s no reverse rule for %s\n", name, why);
        return 1;
    }
    IrEval e;
    objective(c, loss, &e);
    double worst = 0;
    for (IrId v = 0; v < n; v++) {
        const IrValue *val = &c->f.v[v];
        if (val->op != IR_PARAM || val->iarg[0] >= c->nparams || adj[v] < 0)
            continue;
        const IrParam *p = &c->params[val->iarg[0]];
        worst = fmax(worst, compare(c, loss, c->theta + p->offset, e.val[adj[v]], ir_shape_size(&p->shape)));
    }
    for (int k = 0; k < c->ninputs; k++) {
        if (c->is_label[k] || adj[c->inputs[k]] < 0)
            continue;
        int64_t size = ir_shape_size(&c->f.v[c->inputs[k]].shape) * BATCH;
        /* d J / d x_b = (1/B) dL_b/dx_b: the adjoint of a batched input already holds it */
        worst = fmax(worst, compare(c, loss, c->data[k], e.val[adj[c->inputs[k]]], size));
    }
    ir_eval_free(&e);
    free(adj);
    double fworst = 0;
    if (forward && c->ninputs > 0 && !c->is_label[0]) {
        /* dL_b/dx_b[k] for each k, against differences of x_b[k] in every sample */
        int64_t size = ir_shape_size(&c->f.v[c->inputs[0]].shape);
        for (int64_t k = 0; k < size; k++) {
            IrId t = ad_jvp(&c->f, c->inputs[0], k, loss, &why);
            if (t < 0) {
                printf("FAIL %-28s no forward rule for %s\n", name, why);
                return 1;
            }
            objective(c, t, &e);
            double analytic[BATCH];
            for (int b = 0; b < BATCH; b++) /* as a derivative of J */
                analytic[b] = e.val[t][c->f.v[t].batched ? b : 0] / BATCH;
            ir_eval_free(&e);
            double numeric_scale = 1e-8, diff = 0, numeric[BATCH];
            for (int b = 0; b < BATCH; b++) {
                double *x = &c->data[0][b * size + k], keep = *x;
                *x = keep + H;
                double up = value_of(c, loss);
                *x = keep - H;
                double down = value_of(c, loss);
                *x = keep;
                numeric[b] = (up - down) / (2 * H);
                numeric_scale = fmax(numeric_scale, fabs(numeric[b]));
            }
            for (int b = 0; b < BATCH; b++)
                diff = fmax(diff, fabs(analytic[b] - numeric[b]));
            fworst = fmax(fworst, diff / numeric_scale);
        }
    }
    int ok = worst < TOLERANCE && fworst < TOLERANCE;
    printf("%s %-28s reverse %.2e", ok ? "ok  " : "FAIL", name, worst);
    if (forward)
        printf("  forward %.2e", fworst);
    printf("\n");
    return !ok;
}

static void reset(Case *c, unsigned seed)
{
    for (int k = 0; k < c->ninputs; k++)
        free(c->data[k]);
    ir_free(&c->f);
    memset(c, 0, sizeof *c);
    ir_init(&c->f);
    c->seed = seed;
}

int main(void)
{
    static Case c;
    int failed = 0;
    const struct { const char *name; IrOp op; Domain dom; } unary[] = {
        { "neg", IR_NEG, ANY }, { "tanh", IR_TANH, ANY }, { "sigmoid", IR_SIGMOID, ANY },
        { "relu", IR_RELU, NONZERO }, { "softplus", IR_SOFTPLUS, ANY }, { "exp", IR_EXP, ANY },
        { "log", IR_LOG, POSITIVE }, { "sin", IR_SIN, ANY }, { "cos", IR_COS, ANY },
        { "sqrt", IR_SQRT, POSITIVE }, { "abs", IR_ABS, NONZERO },
    };
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) {
        reset(&c, 100 + i);
        IrId x = input(&c, shp(1, 4, 0, 0), unary[i].dom);
        IrId w = param(&c, shp(1, 4, 0, 0), unary[i].dom == POSITIVE ? POSITIVE : ANY);
        IrId a = unary[i].dom == POSITIVE ? ir_binary(&c.f, IR_MUL, x, w) : ir_binary(&c.f, IR_ADD, x, w);
        if (unary[i].dom == NONZERO) /* keep x + w away from the kink: use x * w^2 + x */
            a = ir_binary(&c.f, IR_MUL, x, ir_binary(&c.f, IR_ADD, ir_binary(&c.f, IR_MUL, w, w), ir_const(&c.f, 1)));
        failed += check(unary[i].name, &c, ir_unary(&c.f, unary[i].op, a), 1);
    }
    const struct { const char *name; IrOp op; } bin[] = {
        { "add", IR_ADD }, { "sub", IR_SUB }, { "mul", IR_MUL }, { "div", IR_DIV }, { "maximum", IR_MAXIMUM },
    };
    for (size_t i = 0; i < sizeof bin / sizeof bin[0]; i++) {
        reset(&c, 200 + i);
        IrId x = input(&c, shp(2, 2, 3, 0), POSITIVE);
        IrId w = param(&c, shp(1, 3, 0, 0), POSITIVE); /* broadcast over rows and the batch */
        failed += check(bin[i].name, &c, ir_binary(&c.f, bin[i].op, x, w), 1);
    }
    reset(&c, 300);
    {
        IrId x = input(&c, shp(1, 3, 0, 0), POSITIVE);
        IrId p = param(&c, shp(0, 0, 0, 0), POSITIVE);
        failed += check("pow (exponent a parameter)", &c, ir_binary(&c.f, IR_POW, x, p), 0);
        reset(&c, 301);
        x = input(&c, shp(1, 3, 0, 0), ANY);
        IrId w = param(&c, shp(1, 3, 0, 0), ANY);
        failed += check("pow (constant exponent)", &c,
                        ir_binary(&c.f, IR_POW, ir_binary(&c.f, IR_ADD, x, w), ir_const(&c.f, 3)), 1);
    }
    /* matmul: W [4,3] @ x [3]; x^T B; A [2,3] @ B [3,2]; per-sample matrices */
    reset(&c, 400);
    failed += check("matmul W@x", &c, ir_binary(&c.f, IR_MATMUL, param(&c, shp(2, 4, 3, 0), ANY), input(&c, shp(1, 3, 0, 0), ANY)), 1);
    reset(&c, 401);
    failed += check("matmul x@B", &c, ir_binary(&c.f, IR_MATMUL, input(&c, shp(1, 3, 0, 0), ANY), param(&c, shp(2, 3, 2, 0), ANY)), 1);
    reset(&c, 402);
    failed += check("matmul X@B (both batched)", &c, ir_binary(&c.f, IR_MATMUL, input(&c, shp(2, 2, 3, 0), ANY), input(&c, shp(2, 3, 2, 0), ANY)), 1);
    reset(&c, 403);
    failed += check("matmul A@X", &c, ir_binary(&c.f, IR_MATMUL, param(&c, shp(2, 2, 3, 0), ANY), input(&c, shp(2, 3, 2, 0), ANY)), 1);
    for (int axis = -1; axis < 2; axis++) {
        const IrOp ops[] = { IR_SUM, IR_MEAN, IR_MAX };
        const char *names[] = { "sum", "mean", "max" };
        for (int k = 0; k < 3; k++) {
            reset(&c, 517 + 10 * (axis + 1) + k);
            char name[64];
            snprintf(name, sizeof name, "%s axis %d", names[k], axis);
            IrId x = input(&c, shp(2, 2, 3, 0), ANY);
            failed += check(name, &c, ir_reduce(&c.f, ops[k], ir_binary(&c.f, IR_MUL, x, param(&c, shp(2, 2, 3, 0), ANY)), axis), 1);
        }
    }
    reset(&c, 600);
    failed += check("logsumexp", &c, ir_unary(&c.f, IR_LOGSUMEXP, ir_binary(&c.f, IR_ADD, input(&c, shp(1, 5, 0, 0), ANY), param(&c, shp(1, 5, 0, 0), ANY))), 1);
    reset(&c, 601);
    failed += check("softmax", &c, ir_unary(&c.f, IR_SOFTMAX, ir_binary(&c.f, IR_ADD, input(&c, shp(1, 5, 0, 0), ANY), param(&c, shp(1, 5, 0, 0), ANY))), 1);
    reset(&c, 602);
    {
        IrId x = ir_binary(&c.f, IR_ADD, input(&c, shp(1, 5, 0, 0), ANY), param(&c, shp(1, 5, 0, 0), ANY));
        IrId y = label(&c, 5);
        failed += check("pick (cross-entropy)", &c, ir_binary(&c.f, IR_SUB, ir_unary(&c.f, IR_LOGSUMEXP, x), ir_binary(&c.f, IR_PICK, x, y)), 0);
    }
    reset(&c, 700);
    {
        IrId x = ir_binary(&c.f, IR_MUL, input(&c, shp(2, 2, 3, 0), ANY), param(&c, shp(2, 2, 3, 0), ANY));
        failed += check("reshape", &c, with(&c, IR_RESHAPE, x, -1, shp(1, 6, 0, 0), 0, 0), 1);
        reset(&c, 701);
        x = ir_binary(&c.f, IR_MUL, input(&c, shp(2, 2, 3, 0), ANY), param(&c, shp(2, 2, 3, 0), ANY));
        failed += check("transpose", &c, ir_unary(&c.f, IR_TRANSPOSE, x), 1);
        reset(&c, 702);
        x = ir_binary(&c.f, IR_MUL, input(&c, shp(2, 3, 4, 0), ANY), param(&c, shp(1, 4, 0, 0), ANY));
        IrValue sl = { .op = IR_SLICE, .in = { x, -1, -1 }, .shape = shp(2, 2, 2, 0), .stage = -1,
                       .slice = { { 1, 3 }, { 1, 3 } } };
        failed += check("slice", &c, ir_add(&c.f, &sl), 1);
        reset(&c, 703);
        x = ir_binary(&c.f, IR_MUL, input(&c, shp(1, 2, 0, 0), ANY), param(&c, shp(1, 2, 0, 0), ANY));
        failed += check("concat", &c, ir_binary(&c.f, IR_CONCAT, x, param(&c, shp(1, 3, 0, 0), ANY)), 1);
        reset(&c, 704);
        x = input(&c, shp(2, 2, 3, 0), ANY);
        IrId b = with(&c, IR_BROADCAST, param(&c, shp(1, 3, 0, 0), ANY), -1, shp(2, 2, 3, 0), 0, 0);
        c.f.v[b].batched = 0;
        failed += check("broadcast", &c, ir_binary(&c.f, IR_MUL, x, b), 1);
    }
    for (int stride = 1; stride <= 2; stride++)
        for (int pad = 0; pad <= 1; pad++) {
            reset(&c, 800 + 2 * stride + pad);
            char name[64];
            snprintf(name, sizeof name, "conv stride %d pad %d", stride, pad);
            IrId x = input(&c, shp(3, 2, 5, 5), ANY);
            IrId w = param(&c, ir_shape(4, (int64_t[]){ 3, 2, 3, 3 }), ANY); /* [o, c, k, k] */
            int64_t o = (5 + 2 * pad - 3) / stride + 1;
            failed += check(name, &c, with(&c, IR_CONV, x, w, shp(3, 3, o, o), stride, pad), 1);
        }
    reset(&c, 900);
    {
        IrId x = ir_binary(&c.f, IR_MUL, input(&c, shp(3, 2, 4, 4), ANY), param(&c, shp(3, 2, 4, 4), ANY));
        failed += check("maxpool 2", &c, with(&c, IR_MAXPOOL, x, -1, shp(3, 2, 2, 2), 2, 2), 0);
    }
    /* Batch normalisation in training (nn.exa's batch_norm): each sample's
     * output depends on every sample's input through the batch mean and
     * variance, so the input gradient checked here (differences of one
     * sample's input, J over all) holds the cross-sample terms. */
    reset(&c, 950);
    {
        /* tanh: batch norm of x * w alone would not depend on w's scale */
        IrId x = ir_unary(&c.f, IR_TANH, ir_binary(&c.f, IR_MUL, input(&c, shp(1, 4, 0, 0), ANY),
                                                  param(&c, shp(1, 4, 0, 0), ANY)));
        IrId d = ir_binary(&c.f, IR_SUB, x, batch_mean(&c, x));
        IrId v = batch_mean(&c, ir_binary(&c.f, IR_MUL, d, d));
        IrId y = ir_binary(&c.f, IR_DIV, d, ir_unary(&c.f, IR_SQRT, ir_binary(&c.f, IR_ADD, v, ir_const(&c.f, 1e-5))));
        /* tanh after: the sum over the batch of a normalised value is 0, so
         * J, linear in the output with one r for all samples, would be flat */
        y = ir_binary(&c.f, IR_ADD, ir_binary(&c.f, IR_MUL, y, param(&c, shp(1, 4, 0, 0), ANY)),
                      param(&c, shp(1, 4, 0, 0), ANY));
        failed += check("batch norm (batch statistics)", &c, ir_unary(&c.f, IR_TANH, y), 0);
    }
    /* A physics-informed loss: the parameter gradient of (d2 u / dx0^2)^2 with
     * u = w2 . tanh(W1 x + b): reverse mode through two forward-mode passes. */
    reset(&c, 1000);
    {
        IrId x = input(&c, shp(1, 2, 0, 0), ANY);
        IrId h = ir_unary(&c.f, IR_TANH, ir_binary(&c.f, IR_ADD, ir_binary(&c.f, IR_MATMUL, param(&c, shp(2, 4, 2, 0), ANY), x), param(&c, shp(1, 4, 0, 0), ANY)));
        IrId u = ir_reduce(&c.f, IR_SUM, ir_binary(&c.f, IR_MUL, h, param(&c, shp(1, 4, 0, 0), ANY)), -1);
        const char *why;
        IrId du = ad_jvp(&c.f, x, 0, u, &why);
        IrId d2u = ad_jvp(&c.f, x, 0, du, &why);
        failed += check("pinn: grad of d2(u, x0)", &c, ir_binary(&c.f, IR_MUL, d2u, d2u), 1);
    }
    reset(&c, 0);
    printf("%d failed\n", failed);
    return failed ? 1 : 0;
}
