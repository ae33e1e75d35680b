/* lower_stage.c - the stage functions of layer-parallel training,
 * decompose = layers(mgrit(...)).
 *
 * MGRIT treats the repeat block of a residual network as a time-stepping
 * problem: the carried value u (batched, w reals per sample) is the state,
 * step k is u_{k+1} = u_k + E(u_k, theta_k).  Rather than lowering the model a
 * second time, this file cuts the finished loss graph (lower.c) at the states
 * lower.c recorded while it unrolled the block (lower_stage_mark):
 *
 *   stage_step     inputs u;            outputs 0: u + s E(u, theta_k)
 *   stage_adjoint  inputs u, lambda';   outputs 0: (du'/du)^T lambda'
 *   stage_vjp      the same, and 1: (du'/dtheta_k)^T lambda' at step 0's offsets
 *   stage_linearise, stage_adjoint_lin, stage_vjp_lin: the last two split
 *                  into the forward values they read and the rest, for the
 *                  runtime to keep the first per point (lower_lin.c)
 *   prologue       inputs the data;     outputs 0: u_0
 *   prologue_vjp   inputs data, l_0;    outputs 0: (du_0/dtheta)^T l_0
 *   epilogue_grad  inputs data, u_N;    outputs 0 per-sample loss, 1 model output,
 *                                       2 gradient of the mean loss (epilogue
 *                                       parameters), 3 its gradient w.r.t. u_N
 *
 * s = args->step_size / h, with h = 1/N the fine step the descriptor records:
 * the runtime passes h on the fine level, so s is exactly 1 there and the fine
 * step is the serial one bit for bit; on MGRIT level l it passes h cf^l.  One
 * step function serves every step: it is generated from step 0, reading step
 * 0's parameters, and the runtime shifts theta (and the gradient) by k * stride
 * for step k.  That is only right when every step has the same graph and its
 * parameters sit at step 0's offsets plus k * stride; both are verified here,
 * and a program that breaks them gets an error rather than wrong gradients. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "exa/abi.h"
#include "lower.h"
#include "lower_stage.h"

int lower_stage_wanted(const SemaTyped *t)
{
    return sema_mgrit_call(t->train.decompose) != NULL || sema_multilevel_call(t->train.decompose) != NULL
        || t->train.coarse;
}

void lower_stage_mark(LowerRepeat *r, const Node *rep, int64_t k, int64_t count, int stage0,
                      IrId (*lookup)(void *scope, const char *name), void *scope)
{
    if (r->done || (r->node && r->node != rep))
        return; /* only the first repeat block met is decomposed */
    if (!r->node) {
        if (k != 0)
            return;
        r->node = rep;
        r->recurrence = rep->kind == N_FOR;
        r->count = count;
        r->stage0 = stage0;
        r->state = malloc((size_t)(count + 1) * sizeof *r->state);
        if (!r->state)
            abort();
        /* carried: names the body assigns that already hold a tensor */
        for (int i = 0; i < rep->list.len; i++) {
            const Node *st = rep->list.items[i];
            if (st->kind != N_ASSIGN || lookup(scope, st->name) < 0)
                continue;
            if (r->name && strcmp(r->name, st->name) == 0)
                continue;
            if (!r->name)
                r->name = st->name;
            r->ncarried++;
        }
    }
    r->state[k] = r->name ? lookup(scope, r->name) : -1;
    if (k == count)
        r->done = 1;
}

void lower_stage_free(LowerRepeat *r)
{
    free(r->state);
    free(r->desc);
    memset(r, 0, sizeof *r);
}

/* ---- cutting the graph --------------------------------------------------- */


/* need[i] = 1 for the values roots depend on, not looking past the cuts. */
char *lower_stage_cone(const IrFunc *src, const IrId *roots, int nroots, const Cut *cuts, int ncuts)
{
    char *need = calloc((size_t)src->n + 1, 1);
    if (!need)
        abort();
    IrId top = -1;
    for (int i = 0; i < nroots; i++)
        if (roots[i] >= 0) {
            need[roots[i]] = 1;
            top = roots[i] > top ? roots[i] : top;
        }
    for (IrId v = top; v >= 0; v--) {
        if (!need[v])
            continue;
        int cut = 0;
        for (int c = 0; c < ncuts; c++)
            cut |= cuts[c].at == v;
        for (int k = 0; !cut && k < ir_op_arity(src->v[v].op); k++)
            need[src->v[v].in[k]] = 1;
    }
    return need;
}

int lower_stage_walk(const IrFunc *src, const char *need_a, const char *need_b, IrId *a, IrId *b)
{
    for (++*a; *a < src->n && !need_a[*a]; ++*a)
        ;
    for (++*b; *b < src->n && !need_b[*b]; ++*b)
        ;
    return *a < src->n && *b < src->n;
}

/* Copies the needed values into dst (cuts as their leaves); map[i] is the
 * new id of source value i, or -1. */
void lower_stage_copy(const IrFunc *src, const char *need, const Cut *cuts, int ncuts, IrFunc *dst,
                      IrId *map)
{
    for (IrId v = 0; v < src->n; v++) {
        map[v] = -1;
        if (!need[v])
            continue;
        const Cut *cut = NULL;
        for (int c = 0; c < ncuts; c++)
            if (cuts[c].at == v)
                cut = &cuts[c];
        if (cut) {
            map[v] = ir_add(dst, &cut->leaf);
            continue;
        }
        IrValue x = src->v[v];
        for (int k = 0; k < ir_op_arity(x.op); k++)
            x.in[k] = map[x.in[k]];
        map[v] = ir_add(dst, &x);
    }
}

IrValue lower_stage_leaf(int index, const IrValue *like, const char *name)
{
    IrValue v = { .op = IR_INPUT, .in = { -1, -1, -1 }, .shape = like->shape, .batched = 1,
                  .iarg = { index }, .stage = -1, .name = name };
    return v;
}

/* The parameters (indices) of global stage `stage`, in layout order. */
static int stage_params(const Lowered *out, int stage, int *idx)
{
    int n = 0;
    for (int i = 0; i < out->nparams; i++)
        if (out->params[i].stage == stage)
            idx[n++] = i;
    return n;
}

/* Appends a formatted line to the descriptor text *s. */
void lower_stage_append(char **s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        abort(); /* our own fixed-size records: cannot happen */
    size_t len = *s ? strlen(*s) : 0;
    char *t = realloc(*s, len + (size_t)n + 1);
    if (!t)
        abort();
    memcpy(t + len, line, (size_t)n + 1);
    *s = t;
}

IrFunc *lower_stage_func(StageCtx *c, const char *name, ExaFunctionKind kind, int nin)
{
    IrFunc *g = &c->out->funcs[c->out->nfuncs];
    ir_init(g);
    g->name = name;
    lower_stage_append(&c->r->desc, "function %d %s inputs %d outputs %d\n", c->out->nfuncs, exa_function_kind_name(kind),
           nin, exa_function_outputs(kind));
    c->out->nfuncs++;
    return g;
}

/* Step k's E and its cone, with u_k cut out; -1 after an error. */
static IrId step_term(StageCtx *c, int64_t k)
{
    const IrFunc *f = c->f;
    IrId before = c->r->state[k], after = c->r->state[k + 1];
    const IrValue *v = &f->v[after];
    if (v->op != IR_ADD || (v->in[0] != before && v->in[1] != before)) {
        diag_error(c->d, c->at, "layers(mgrit): step %lld of the repeat block does not end with "
                   "'%s = %s + ...' on the value it started from", (long long)k, c->r->name, c->r->name);
        return -1;
    }
    return v->in[0] == before ? v->in[1] : v->in[0];
}

/* Checks that step k's cone has step 0's graph, with its parameters at step
 * 0's offsets plus k * stride. */
static int same_step(StageCtx *c, int64_t k, const char *need0, const char *needk, int64_t stride)
{
    const IrFunc *f = c->f;
    IrId a = -1, b = -1;
    while (lower_stage_walk(f, need0, needk, &a, &b)) {
        const IrValue *x = &f->v[a], *y = &f->v[b];
        if ((a == c->r->state[0]) != (b == c->r->state[k]))
            return 0;
        if (a == c->r->state[0]) /* the cut states: both the step's input */
            continue;
        if (x->op != y->op || !ir_shape_equal(&x->shape, &y->shape) || x->batched != y->batched)
            return 0;
        if (x->op == IR_PARAM) {
            const IrParam *p = &c->out->params[x->iarg[0]], *q = &c->out->params[y->iarg[0]];
            if (q->offset - p->offset != k * stride || q->stage != c->r->stage0 + k)
                return 0;
        } else if (x->op == IR_CONST && x->c != y->c) {
            return 0;
        }
    }
    return a == f->n && b == f->n;
}

/* Errors for values a cut-out function may not reach: a step only its own
 * parameters and no data; the code around the block no step parameters and
 * no state but u_0 (prologue) or u_N (epilogue, forbid_states = N). */
static int check_cone(StageCtx *c, const char *need, int step, int64_t forbid_states, const char *what)
{
    const IrFunc *f = c->f;
    const LowerRepeat *r = c->r;
    for (IrId v = 0; v < f->n; v++) {
        if (!need[v])
            continue;
        IrOp op = f->v[v].op;
        int st = op == IR_PARAM ? c->out->params[f->v[v].iarg[0]].stage : -1;
        if (step && (op == IR_INPUT || op == IR_LABEL || (op == IR_PARAM && st != r->stage0))) {
            diag_error(c->d, c->at, "layers(mgrit): a step of the repeat block uses a value computed "
                       "outside the step other than '%s'; MGRIT needs steps that depend only on the "
                       "carried value and their own parameters", r->name);
            return -1;
        }
        if (!step && !r->recurrence && op == IR_PARAM && st >= r->stage0 && st < r->stage0 + r->count) {
            diag_error(c->d, c->at, "layers(mgrit): the %s uses parameters of the repeat block's "
                       "steps; MGRIT needs the model to use them only inside the block", what);
            return -1;
        }
        for (int64_t k = 0; k < forbid_states; k++)
            if (r->state[k] == v) {
                diag_error(c->d, c->at, "layers(mgrit): the %s uses '%s' before the last step of the "
                           "repeat block; MGRIT needs it to use only the block's result", what, r->name);
                return -1;
            }
    }
    return 0;
}

int lower_stage_vjp_fail(StageCtx *c, const char *why)
{
    diag_error(c->d, c->at, "layers(mgrit): cannot differentiate a stage: no derivative of %s",
               why ? why : "?");
    return -1;
}

IrFunc *lower_stage_step_func(StageCtx *c, int fn, int nin)
{
    static const char *const names[3] = { "exa_stage_step", "exa_stage_adjoint", "exa_stage_vjp" };
    static const ExaFunctionKind kinds[3] = { EXA_FN_STAGE_STEP, EXA_FN_STAGE_ADJOINT, EXA_FN_STAGE_VJP };
    return lower_stage_func(c, names[fn], kinds[fn], nin);
}

int lower_stage_step_outputs(StageCtx *c, IrFunc *g, int fn, IrId u, IrId next, IrId **adj)
{
    *adj = NULL;
    if (fn == 0) {
        ir_output(g, next, EXA_OUT_STAGE_STEP_STATE, 0);
        return 0;
    }
    IrValue lv = lower_stage_leaf(1, &g->v[u], "lambda");
    IrId lambda = ir_add(g, &lv);
    IrId *a = malloc((size_t)g->n * sizeof *a);
    const char *why = NULL;
    if (!a)
        abort();
    if (ad_vjp(g, next, lambda, a, &why) != 0) {
        free(a);
        return lower_stage_vjp_fail(c, why);
    }
    ir_output(g, a[u] >= 0 ? a[u] : lambda, fn == 1 ? EXA_OUT_STAGE_ADJOINT_ADJOINT : EXA_OUT_STAGE_VJP_ADJOINT, 0);
    *adj = a;
    return 0;
}

/* stage_step, stage_adjoint, stage_vjp from step 0. */
static int step_functions(StageCtx *c, double h)
{
    const IrFunc *f = c->f;
    LowerRepeat *r = c->r;
    IrId e0 = step_term(c, 0);
    if (e0 < 0)
        return -1;
    IrId u0 = r->state[0];
    Cut cut = { .at = u0, .leaf = lower_stage_leaf(0, &f->v[u0], r->name) };
    char *need0 = lower_stage_cone(f, &e0, 1, &cut, 1);
    if (check_cone(c, need0, 1, 0, "step") != 0) {
        free(need0);
        return -1;
    }
    /* the uniform stride: step 1's first parameter against step 0's */
    int *idx = malloc(((size_t)c->out->nparams + 1) * sizeof *idx);
    if (!idx)
        abort();
    int np0 = stage_params(c->out, r->stage0, idx);
    int64_t stride = 0;
    if (r->count > 1) {
        int *idx1 = malloc(((size_t)c->out->nparams + 1) * sizeof *idx1);
        if (!idx1)
            abort();
        int np1 = stage_params(c->out, r->stage0 + 1, idx1);
        stride = np0 > 0 && np1 == np0 ? c->out->params[idx1[0]].offset - c->out->params[idx[0]].offset : -1;
        free(idx1);
    }
    int status = stride < 0 ? -1 : 0;
    for (int64_t k = 1; k < r->count && status == 0; k++) {
        IrId ek = step_term(c, k);
        if (ek < 0) {
            free(need0);
            free(idx);
            return -1;
        }
        Cut cutk = { .at = r->state[k], .leaf = cut.leaf };
        char *needk = lower_stage_cone(f, &ek, 1, &cutk, 1);
        if (!same_step(c, k, need0, needk, stride))
            status = -1;
        free(needk);
    }
    if (status != 0) {
        diag_error(c->d, c->at, "layers(mgrit): the steps of the repeat block do not all have the "
                   "same computation with their parameters at a uniform stride in the parameter "
                   "vector; one generated step function cannot serve them all");
        free(need0);
        free(idx);
        return -1;
    }
    IrId *map = malloc(((size_t)f->n + 1) * sizeof *map);
    if (!map)
        abort();
    const IrFunc *gvjp = NULL;
    for (int fn = 0; fn < 3 && status == 0; fn++) {
        IrFunc *g = lower_stage_step_func(c, fn, fn == 0 ? 1 : 2);
        gvjp = g;
        lower_stage_copy(f, need0, &cut, 1, g, map);
        IrId u = map[u0], e = map[e0];
        /* u' = u + (step_size / h) E: exactly u + E on the fine level */
        IrValue hv = { .op = IR_STEP_SIZE, .in = { -1, -1, -1 }, .stage = -1 };
        IrId s = ir_binary(g, IR_DIV, ir_add(g, &hv), ir_const(g, h));
        IrId next = ir_binary(g, IR_ADD, u, ir_binary(g, IR_MUL, s, e));
        IrId *adj = NULL;
        status = lower_stage_step_outputs(c, g, fn, u, next, &adj);
        for (int i = 0; fn == 2 && status == 0 && i < np0; i++) {
            IrId src = -1;
            for (IrId v = 0; v < f->n && src < 0; v++)
                if (need0[v] && f->v[v].op == IR_PARAM && f->v[v].iarg[0] == idx[i])
                    src = v;
            if (src >= 0 && adj[map[src]] >= 0)
                ir_output(g, adj[map[src]], EXA_OUT_STAGE_VJP_GRAD, c->out->params[idx[i]].offset);
        }
        free(adj);
    }
    if (status == 0 && r->lin) /* inputs u, lambda; the residuals after them */
        status = lower_lin_steps(c, gvjp, 2);
    if (status == 0) {
        int64_t w = ir_shape_size(&f->v[u0].shape);
        int64_t first = np0 > 0 ? c->out->params[idx[0]].offset : 0;
        int64_t size = 0;
        for (int i = 0; i < np0; i++)
            size += ir_shape_size(&c->out->params[idx[i]].shape);
        lower_stage_append(&r->desc, "setting layers stages(state=%lld,steps=%lld,offset=%lld,size=%lld,"
               "stride=%lld,h=%.17g)\n", (long long)w, (long long)r->count, (long long)first,
               (long long)size, (long long)stride, h);
    }
    free(map);
    free(need0);
    free(idx);
    return status;
}

/* Parameter gradient outputs of g for the PARAM values among need. */
void lower_stage_param_outputs(StageCtx *c, IrFunc *g, const char *need, const IrId *map, const IrId *adj,
                          int slot)
{
    for (IrId v = 0; v < c->f->n; v++)
        if (need[v] && c->f->v[v].op == IR_PARAM && adj[map[v]] >= 0)
            ir_output(g, adj[map[v]], slot, c->out->params[c->f->v[v].iarg[0]].offset);
}

int lower_stage_param_vjp(StageCtx *c, IrFunc *g, IrId out, IrId seed, const char *need, const IrId *map,
                          int slot)
{
    IrId *adj = malloc((size_t)g->n * sizeof *adj); /* after seed: ad_vjp_params sizes it by g->n */
    const char *why = NULL;
    if (!adj)
        abort();
    int status = 0;
    if (ad_vjp_params(g, out, seed, adj, &why) != 0)
        status = lower_stage_vjp_fail(c, why);
    else
        lower_stage_param_outputs(c, g, need, map, adj, slot);
    free(adj);
    return status;
}

static int prologue_functions(StageCtx *c)
{
    const IrFunc *f = c->f;
    IrId u0 = c->r->state[0];
    char *need = lower_stage_cone(f, &u0, 1, NULL, 0);
    IrId *map = malloc(((size_t)f->n + 1) * sizeof *map);
    if (!map)
        abort();
    int status = check_cone(c, need, 0, 0, "code before the repeat block");
    for (int fn = 0; fn < 2 && status == 0; fn++) {
        IrFunc *g = lower_stage_func(c, fn ? "exa_prologue_vjp" : "exa_prologue", fn ? EXA_FN_PROLOGUE_VJP : EXA_FN_PROLOGUE,
                             c->nfields + fn);
        lower_stage_copy(f, need, NULL, 0, g, map);
        IrId u = map[u0];
        if (!g->v[u].batched) { /* h = zeros([n]) before a recurrence: one state per sample */
            IrValue b = { .op = IR_BROADCAST, .in = { u, -1, -1 }, .shape = g->v[u].shape, .batched = 1,
                          .stage = -1 };
            u = ir_add(g, &b);
        }
        if (fn == 0) {
            ir_output(g, u, EXA_OUT_PROLOGUE_STATE, 0);
            continue;
        }
        IrValue lv = lower_stage_leaf(c->nfields, &g->v[u], "lambda0");
        status = lower_stage_param_vjp(c, g, u, ir_add(g, &lv), need, map, EXA_OUT_PROLOGUE_VJP_GRAD);
    }
    free(map);
    free(need);
    return status;
}

static int epilogue_function(StageCtx *c, IrId per_sample, IrId accuracy)
{
    const IrFunc *f = c->f;
    const LowerRepeat *r = c->r;
    IrId uN = r->state[r->count];
    Cut cut = { .at = uN, .leaf = lower_stage_leaf(c->nfields, &f->v[uN], r->name) };
    IrId roots[2] = { per_sample, accuracy };
    char *need = lower_stage_cone(f, roots, 2, &cut, 1);
    IrId *map = malloc(((size_t)f->n + 1) * sizeof *map);
    if (!map)
        abort();
    int status = check_cone(c, need, 0, r->count, "code after the repeat block");
    if (status == 0 && !need[uN]) {
        diag_error(c->d, c->at, "layers(mgrit): the loss does not depend on the repeat block's result");
        status = -1;
    }
    if (status == 0) {
        IrFunc *g = lower_stage_func(c, "exa_epilogue_grad", EXA_FN_EPILOGUE_GRAD, c->nfields + 1);
        lower_stage_copy(f, need, &cut, 1, g, map);
        IrValue seedv = { .op = IR_INV_BATCH, .in = { -1, -1, -1 }, .stage = -1 };
        IrId seed = ir_add(g, &seedv);
        IrId *adj = malloc((size_t)g->n * sizeof *adj);
        const char *why = NULL;
        if (!adj)
            abort();
        if (ad_vjp(g, map[per_sample], seed, adj, &why) != 0) {
            status = lower_stage_vjp_fail(c, why);
        } else {
            ir_output(g, map[per_sample], EXA_OUT_EPILOGUE_GRAD_LOSS, 0);
            if (accuracy >= 0)
                ir_output(g, map[accuracy], EXA_OUT_EPILOGUE_GRAD_ACCURACY, 0);
            lower_stage_param_outputs(c, g, need, map, adj, EXA_OUT_EPILOGUE_GRAD_GRAD);
            IrId gu = adj[map[uN]];
            if (gu < 0) { /* cannot happen when the loss depends on u_N; stay safe */
                IrValue z = { .op = IR_FILL, .in = { -1, -1, -1 }, .shape = f->v[uN].shape, .stage = -1 };
                IrValue b = { .op = IR_BROADCAST, .in = { ir_add(g, &z), -1, -1 },
                              .shape = f->v[uN].shape, .batched = 1, .stage = -1 };
                gu = ir_add(g, &b);
            }
            ir_output(g, gu, EXA_OUT_EPILOGUE_GRAD_STATE_ADJOINT, 0);
        }
        free(adj);
    }
    free(map);
    free(need);
    return status;
}

int lower_stages(const IrFunc *f, LowerRepeat *r, IrId per_sample, IrId accuracy, int nfields,
                 Lowered *out, Diag *d, Span at)
{
    StageCtx c = { .f = f, .r = r, .out = out, .d = d, .at = at, .nfields = nfields };
    if (!r->node || !r->done) {
        diag_error(d, at, "layers(mgrit): the loss reaches no repeat block or for loop to decompose");
        return -1;
    }
    if (r->ncarried != 1) {
        diag_error(d, at, "layers(mgrit): the repeat block carries %d values; MGRIT in this version "
                   "needs exactly one (the state u of u = u + h * F(u))", r->ncarried);
        return -1;
    }
    for (int64_t k = 0; k <= r->count; k++) /* a recurrence may start from a uniform h_0 */
        if (r->state[k] < 0 || (!f->v[r->state[k]].batched && !(r->recurrence && k == 0))) {
            diag_error(d, at, "layers(mgrit): the repeat block's value '%s' is not computed from "
                       "the data; MGRIT needs a per-sample state", r->name);
            return -1;
        }
    if (out->nfuncs + (r->recurrence ? 8 : 6) + (r->lin ? 3 : 0) > LOWER_MAX_FUNCS) {
        diag_error(d, at, "internal error: no room for the stage functions");
        return -1;
    }
    r->desc = calloc(1, 1);
    if (!r->desc)
        abort();
    /* a repeat block spans [0, 1] in N steps; a recurrence's steps are 1 */
    double h = r->recurrence ? 1.0 : 1.0 / (double)r->count;
    if ((r->recurrence ? lower_recur_steps(&c) : step_functions(&c, h)) != 0 || prologue_functions(&c) != 0
        || epilogue_function(&c, per_sample, accuracy) != 0)
        return -1;
    return 0;
}

void lower_stage_describe(char **descriptor, const LowerRepeat *r)
{
    if (r->desc)
        lower_describe_before_end(descriptor, r->desc);
}

void lower_describe_before_end(char **descriptor, const char *lines)
{
    if (!*descriptor)
        return;
    size_t len = strlen(*descriptor), extra = strlen(lines);
    if (len < 4 || strcmp(*descriptor + len - 4, "end\n") != 0)
        return;
    char *t = realloc(*descriptor, len + extra + 1);
    if (!t)
        abort();
    memmove(t + len - 4 + extra, t + len - 4, 5);
    memcpy(t + len - 4, lines, extra);
    *descriptor = t;
}
