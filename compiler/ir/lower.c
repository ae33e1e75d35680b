/* lower.c - the checked program as graph IR.
 *
 * Sema has instantiated the program (sema_inst.c): every layer call site is
 * an instance with its parameters, every repeat step a stage.  Lowering walks
 * the same bodies to build the IR of their tensor expressions, and takes the
 * instances, parameters and stages from sema's record by identity: the
 * instance of a layer call is the one sema made for that call node under the
 * current instance in the current stage, a `param` is the one sema recorded
 * for that declaration in that instance.  So the two cannot disagree: a call
 * or parameter sema did not record is an internal error.  Arguments are
 * matched by ast_match_args and constants folded by fold.c, as in sema. */
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "exa/abi.h"
#include "fold.h"
#include "hoist.h"
#include "pool_first.h"
#include "pretranspose.h"
#include "slice_sink.h"
#include "lower_check.h"

typedef enum LKind { LV_NONE, LV_TENSOR, LV_INT, LV_NUM, LV_CLASS, LV_LIST } LKind;

typedef struct LVal {
    LKind kind;
    IrId id;              /* tensors; LABEL value of a class */
    int64_t i;            /* ints; classes of a class */
    double num;
    int64_t list[IR_MAX_RANK];
    int nlist;
} LVal;

typedef struct Binding {
    const char *name;
    LVal v;
} Binding;

enum { MAX_BINDINGS = 256, MAX_MEMO = 256 };

typedef struct Scope {
    Binding b[MAX_BINDINGS];
    int n;
    int model;            /* index in SemaTyped.models, or -1 */
    int instance;         /* index in that model's instances, -1 in the loss */
    int stage;            /* global stage of the code being lowered */
    int in_loss;
} Scope;

/* sema's instances and parameters by identity: (model, parent instance, call
 * node, stage) -> instance, and (model, instance, param node) -> parameter. */
typedef struct Key {
    int model, parent, stage;
    const Node *node;
} Key;

typedef struct Index {
    Key *key;
    int *val;
    size_t cap;           /* a power of two, at least twice the entries */
} Index;

typedef struct ModelMemo {
    const char *name;
    IrId args[8];
    int nargs;
    LVal result;
} ModelMemo;

typedef struct Lower {
    const Program *p;
    const SemaTyped *t;
    Diag *d;
    IrFunc *f;
    IrParam *params;
    IrId *param_ids;
    int nparams;
    int *stage_base;      /* per model: its first global stage */
    int *param_base;      /* per model: its first parameter in params */
    Index instances, param_index;
    ModelMemo memo[MAX_MEMO];
    int nmemo;
    IrId accuracy_out;
    IrId model_out;       /* the last model called from the loss expression itself */
    int64_t classes;
    int failed;
    int depth;
    LowerRepeat *repeat;  /* layers(mgrit): the repeat block's states, else NULL */
    LowerCheck check;     /* source spans of the values, for loss_check */
    /* dropout: one extra input of `dropout` reals per sample, the masks of
     * every call site side by side, which the runtime fills (0 or 1/(1-p) in
     * training, 1 at evaluation); its descriptor lines in drop_desc */
    IrId noise;
    int64_t dropout;
    int nfields;
    char *drop_desc;
    size_t drop_len;
    /* batch_mean: its BATCH_STAT values and their running parameters (in
     * the order of the descriptor's `batchstat` lines, stat_desc) */
    int nstats;
    IrId stat_val[LOWER_MAX_STATS];
    int stat_param[LOWER_MAX_STATS];
    char *stat_desc;
    size_t stat_len;
} Lower;

static LVal lower_expr(Lower *L, Scope *s, const Node *n);

static void fail(Lower *L, Span at, const char *fmt, const char *arg)
{
    if (!L->failed)
        diag_error(L->d, at, fmt, arg);
    L->failed = 1;
}

static LVal none(void) { return (LVal){ .kind = LV_NONE, .id = -1 }; }
static LVal tensor(IrId id) { return (LVal){ .kind = LV_TENSOR, .id = id }; }
static LVal integer(int64_t i) { return (LVal){ .kind = LV_INT, .i = i, .id = -1 }; }
static LVal number(double x) { return (LVal){ .kind = LV_NUM, .num = x, .id = -1 }; }

static int is_const(LVal v) { return v.kind == LV_INT || v.kind == LV_NUM; }
static double as_num(LVal v) { return v.kind == LV_INT ? (double)v.i : v.num; }

static IrId as_tensor(Lower *L, LVal v)
{
    if (v.kind == LV_TENSOR)
        return v.id;
    return ir_const(L->f, as_num(v));
}

static void bind(Lower *L, Scope *s, const char *name, LVal v, Span at)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (strcmp(s->b[i].name, name) == 0) {
            s->b[i].v = v;
            return;
        }
    if (s->n == MAX_BINDINGS) {
        fail(L, at, "too many values in one body for code generation (at '%s')", name);
        return;
    }
    s->b[s->n].name = name;
    s->b[s->n++].v = v;
}

static const LVal *lookup(Scope *s, const char *name)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (strcmp(s->b[i].name, name) == 0)
            return &s->b[i].v;
    return NULL;
}

/* The declaration named name (layer, fn, model or strategy) in any module. */
static const Node *find_decl(const Program *p, const char *name)
{
    for (int m = 0; m < p->nmodules; m++) {
        const NodeList *l = &p->modules[m]->ast->list;
        for (int i = 0; i < l->len; i++) {
            const Node *d = l->items[i];
            if ((d->kind == N_LAYER || d->kind == N_FN || d->kind == N_MODEL || d->kind == N_STRATEGY)
                && strcmp(d->name, name) == 0)
                return d;
        }
    }
    return NULL;
}

/* ---- sema's instances and parameters ------------------------------------ */

static size_t key_hash(Key k)
{
    uint64_t h = (uint64_t)(uintptr_t)k.node * 0x9E3779B97F4A7C15u;
    h ^= ((uint64_t)(uint32_t)k.model << 40) ^ ((uint64_t)(uint32_t)k.parent << 20) ^ (uint32_t)k.stage;
    h *= 0xBF58476D1CE4E5B9u;
    return (size_t)(h ^ (h >> 31));
}

static int key_eq(Key a, Key b)
{
    return a.model == b.model && a.parent == b.parent && a.stage == b.stage && a.node == b.node;
}

static void index_init(Index *x, size_t n)
{
    x->cap = 16;
    while (x->cap < 2 * n + 2)
        x->cap *= 2;
    x->key = calloc(x->cap, sizeof *x->key);
    x->val = malloc(x->cap * sizeof *x->val);
    if (!x->key || !x->val)
        abort();
    for (size_t i = 0; i < x->cap; i++)
        x->val[i] = -1;
}

static void index_free(Index *x)
{
    free(x->key);
    free(x->val);
}

/* The slot of k: its entry, or the empty slot where it belongs. */
static size_t index_slot(const Index *x, Key k)
{
    size_t i = key_hash(k) & (x->cap - 1);
    while (x->val[i] >= 0 && !key_eq(x->key[i], k))
        i = (i + 1) & (x->cap - 1);
    return i;
}

static void index_put(Index *x, Key k, int v)
{
    size_t i = index_slot(x, k);
    x->key[i] = k;
    x->val[i] = v;
}

static int index_get(const Index *x, Key k)
{
    return x->cap ? x->val[index_slot(x, k)] : -1;
}

static void index_sema(Lower *L)
{
    const SemaTyped *t = L->t;
    size_t ninst = 0;
    for (int m = 0; m < t->nmodels; m++)
        ninst += (size_t)t->models[m].ninstances;
    index_init(&L->instances, ninst);
    index_init(&L->param_index, (size_t)L->nparams);
    for (int m = 0; m < t->nmodels; m++) {
        const SemaModel *sm = &t->models[m];
        for (int i = 0; i < sm->ninstances; i++) {
            const SemaInstance *in = &sm->instances[i];
            if (in->call && in->decl->kind == N_LAYER)
                index_put(&L->instances, (Key){ m, in->parent, in->stage, in->call }, i);
        }
        for (int i = 0; i < sm->nparams; i++) {
            const SemaParam *q = &sm->params[i];
            index_put(&L->param_index, (Key){ m, q->instance, 0, q->decl }, L->param_base[m] + i);
        }
    }
}

/* The instance sema made for a layer call in scope s. */
static int layer_instance(Lower *L, Scope *s, const Node *call)
{
    int i = -1;
    if (s->model >= 0)
        i = index_get(&L->instances, (Key){ s->model, s->instance, s->stage - L->stage_base[s->model], call });
    if (i < 0)
        fail(L, call->span, "internal error: code generation found no instance of '%s'", call->name);
    return i;
}

static IrId param_value(Lower *L, Scope *s, const Node *decl)
{
    int i = s->model >= 0 ? index_get(&L->param_index, (Key){ s->model, s->instance, 0, decl }) : -1;
    if (i < 0) {
        fail(L, decl->span, "internal error: code generation found no parameter '%s'", decl->name);
        return -1;
    }
    if (L->param_ids[i] < 0) {
        IrValue v = { .op = IR_PARAM, .in = { -1, -1, -1 }, .shape = L->params[i].shape,
                      .iarg = { i }, .stage = L->params[i].stage, .name = L->params[i].path };
        L->param_ids[i] = ir_add(L->f, &v);
    }
    return L->param_ids[i];
}

/* The first global stage of the steps of repeat block rep in scope s's model. */
static int repeat_stage(Lower *L, Scope *s, const Node *rep)
{
    if (s->model >= 0) {
        const SemaModel *sm = &L->t->models[s->model];
        for (int i = 0; i < sm->nstages; i++)
            if (sm->stages[i].repeat == rep && sm->stages[i].step == 0)
                return L->stage_base[s->model] + i;
    }
    fail(L, rep->span, "internal error: code generation found no stage of this %s", "repeat block");
    return 0;
}

/* ---- builtins --------------------------------------------------------- */

static const struct { const char *name; IrOp op; } unary_ops[] = {
    { "tanh", IR_TANH }, { "sigmoid", IR_SIGMOID }, { "relu", IR_RELU }, { "softplus", IR_SOFTPLUS },
    { "exp", IR_EXP }, { "log", IR_LOG }, { "sin", IR_SIN }, { "cos", IR_COS }, { "sqrt", IR_SQRT },
    { "abs", IR_ABS },
};

/* Positional argument k and named argument `name` of a call. */
static const Node *arg_at(const Node *call, int k)
{
    int seen = 0;
    for (int i = 0; i < call->list.len; i++) {
        const Node *a = call->list.items[i];
        if (a->kind == N_NAMED_ARG)
            continue;
        if (seen++ == k)
            return a;
    }
    return NULL;
}

static const Node *named_arg(const Node *call, const char *name)
{
    for (int i = 0; i < call->list.len; i++) {
        const Node *a = call->list.items[i];
        if (a->kind == N_NAMED_ARG && strcmp(a->name, name) == 0)
            return a->a;
    }
    return NULL;
}

static int64_t const_int(Lower *L, Scope *s, const Node *n, int64_t fallback)
{
    if (!n)
        return fallback;
    LVal v = lower_expr(L, s, n);
    return v.kind == LV_INT ? v.i : v.kind == LV_NUM ? (int64_t)v.num : fallback;
}

static IrId shaped(Lower *L, IrOp op, IrId a, IrId b, IrShape shape, int i0, int i1)
{
    IrValue v = { .op = op, .in = { a, b, -1 }, .shape = shape, .iarg = { i0, i1 }, .stage = -1 };
    v.stage = L->f->v[a].stage;
    return ir_add(L->f, &v);
}

/* d(f, p[i]) and d2(f, p[i]): forward mode along input component i. */
static LVal lower_derivative(Lower *L, Scope *s, const Node *call, int order)
{
    LVal out = lower_expr(L, s, arg_at(call, 0));
    const Node *wrt = arg_at(call, 1);
    if (L->failed)
        return none();
    if (wrt->kind != N_INDEX || wrt->a->kind != N_NAME || wrt->list.len != 1) {
        fail(L, wrt->span, "the second argument of '%s' must be a component of a model input, like p[0]",
             call->name);
        return none();
    }
    const LVal *input = lookup(s, wrt->a->name);
    int64_t k = const_int(L, s, wrt->list.items[0], -1);
    if (!input || input->kind != LV_TENSOR || L->f->v[input->id].op != IR_INPUT || k < 0) {
        fail(L, wrt->span, "'%s' differentiates with respect to a part of the training data only",
             call->name);
        return none();
    }
    IrId id = as_tensor(L, out);
    const char *why = NULL;
    for (int i = 0; i < order && id >= 0; i++)
        id = ad_jvp(L->f, input->id, k, id, &why);
    if (id < 0) {
        fail(L, call->span, "cannot differentiate with respect to the input through %s", why);
        return none();
    }
    return tensor(id);
}

/* max(a, b), min(a, b) = -max(-a, -b), clamp(x, lo, hi) = min(max(x, lo), hi):
 * composed from MAXIMUM, whose rules (autodiff, back ends) already exist. */
static LVal lower_minmax(Lower *L, Scope *s, const Node *call, IrId a)
{
    IrFunc *f = L->f;
    IrId b = as_tensor(L, lower_expr(L, s, arg_at(call, 1)));
    if (L->failed)
        return none();
    if (call->name[1] == 'a') /* max */
        return tensor(ir_binary(f, IR_MAXIMUM, a, b));
    if (call->name[1] == 'l') /* clamp */
        a = ir_binary(f, IR_MAXIMUM, a, b), b = as_tensor(L, lower_expr(L, s, arg_at(call, 2)));
    if (L->failed)
        return none();
    IrId m = ir_binary(f, IR_MAXIMUM, ir_unary(f, IR_NEG, a), ir_unary(f, IR_NEG, b));
    return tensor(ir_unary(f, IR_NEG, m));
}

/* leaky_relu(x, s) = relu(x) - s relu(-x); gelu in the tanh form (PyTorch's
 * approximate='tanh'): x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 * Composed from existing elementwise ops, which fusion merges into one loop. */
static IrId lower_activation(Lower *L, Scope *s, const Node *call, IrId x)
{
    IrFunc *f = L->f;
    if (call->name[0] == 'l') {
        double slope = 0.01;
        if (arg_at(call, 1)) {
            LVal sv = lower_expr(L, s, arg_at(call, 1));
            slope = as_num(sv);
        }
        IrId neg = ir_unary(f, IR_RELU, ir_unary(f, IR_NEG, x));
        return ir_binary(f, IR_SUB, ir_unary(f, IR_RELU, x), ir_binary(f, IR_MUL, ir_const(f, slope), neg));
    }
    IrId x3 = ir_binary(f, IR_MUL, ir_binary(f, IR_MUL, x, x), x);
    IrId inner = ir_binary(f, IR_ADD, x, ir_binary(f, IR_MUL, ir_const(f, 0.044715), x3));
    IrId t = ir_unary(f, IR_TANH, ir_binary(f, IR_MUL, ir_const(f, 0.7978845608028654) /* sqrt(2/pi) */, inner));
    return ir_binary(f, IR_MUL, ir_binary(f, IR_MUL, ir_const(f, 0.5), x),
                     ir_binary(f, IR_ADD, ir_const(f, 1), t));
}

/* dropout(x, p) = x * m, m this call's slice of the mask input (see Lower):
 * the mask is data to the graph, so the gradient flows through the kept
 * elements only and every back end runs it as it runs an input. */
static IrId lower_dropout(Lower *L, Scope *s, const Node *call, IrId x)
{
    IrFunc *f = L->f;
    double p = as_num(lower_expr(L, s, arg_at(call, 1)));
    IrShape xs = f->v[x].shape;
    int64_t n = ir_shape_size(&xs);
    if (L->noise < 0) {
        IrValue v = { .op = IR_INPUT, .in = { -1, -1, -1 }, .batched = 1, .iarg = { L->nfields }, .stage = 0,
                      .name = "dropout" };
        v.shape = ir_shape(1, &n); /* widened to the total when lowering ends */
        L->noise = ir_add(f, &v);
    }
    IrValue sl = { .op = IR_SLICE, .in = { L->noise, -1, -1 }, .stage = -1 };
    sl.shape = ir_shape(1, &n);
    sl.batched = 1;
    sl.slice[0][0] = L->dropout, sl.slice[0][1] = L->dropout + n;
    sl.stage = f->v[x].stage;
    IrId m = ir_add(f, &sl);
    if (xs.rank != 1)
        m = shaped(L, IR_RESHAPE, m, -1, xs, 0, 0);
    char line[96];
    int k = snprintf(line, sizeof line, "dropout offset %lld size %lld p %.17g\n", (long long)L->dropout,
                     (long long)n, p);
    char *t = realloc(L->drop_desc, L->drop_len + (size_t)k + 1);
    if (!t)
        abort();
    memcpy(t + L->drop_len, line, (size_t)k + 1);
    L->drop_desc = t, L->drop_len += (size_t)k;
    L->dropout += n;
    return ir_binary(f, IR_MUL, x, m);
}

/* Appends one descriptor line to *desc (length *len). */
static void add_line(char **desc, size_t *len, const char *line)
{
    size_t k = strlen(line);
    char *t = realloc(*desc, *len + k + 1);
    if (!t)
        abort();
    memcpy(t + *len, line, k + 1);
    *desc = t, *len += k;
}

/* batch_mean(x, running, momentum): in training the mean of x over every
 * row of the mini-batch (summed over the ranks that share it, ALLREDUCE,
 * and divided by their rows), at evaluation the parameter `running`, which
 * libexa moves towards the training means (`batchstat` line; runtime/core/
 * run_model.c).  One BATCH_STAT holds both; stat_form picks one per function. */
static IrId lower_batch_mean(Lower *L, Scope *s, const Node *call, IrId x)
{
    IrFunc *f = L->f;
    LVal run = lower_expr(L, s, arg_at(call, 1));
    LVal mv = lower_expr(L, s, arg_at(call, 2));
    if (L->failed)
        return -1;
    double momentum = as_num(mv);
    if (!is_const(mv) || !(momentum > 0 && momentum <= 1)) {
        char what[64];
        snprintf(what, sizeof what, is_const(mv) ? "%g" : "not a number", momentum);
        fail(L, arg_at(call, 2)->span, "the momentum of 'batch_mean' must be a number in (0, 1], not %s", what);
        return -1;
    }
    IrShape xs = f->v[x].shape;
    if (run.kind != LV_TENSOR || f->v[run.id].op != IR_PARAM) {
        fail(L, arg_at(call, 1)->span, "the running statistic of '%s' must be a param of the layer", "batch_mean");
        return -1;
    }
    int q = f->v[run.id].iarg[0];
    for (int k = 0; k < L->nstats; k++)
        if (L->stat_param[k] == q) {
            fail(L, call->span, "param '%s' already holds the running statistic of another batch_mean "
                 "(a layer with batch statistics can be called once per model evaluation)", L->params[q].path);
            return -1;
        }
    if (!f->v[x].batched) {
        fail(L, arg_at(call, 0)->span, "'%s' of a value that is the same for every sample", "batch_mean");
        return -1;
    }
    if (L->nstats == LOWER_MAX_STATS) {
        fail(L, call->span, "too many calls of '%s' for code generation", "batch_mean");
        return -1;
    }
    IrId sum = ir_reduce_to(f, x, &xs, 0);
    IrValue ar = { .op = IR_ALLREDUCE, .in = { sum, -1, -1 }, .stage = f->v[x].stage };
    sum = ir_add(f, &ar);
    IrValue one = { .op = IR_BROADCAST, .in = { ir_const(f, 1), -1, -1 }, .batched = 1, .stage = -1 };
    one.shape = ir_scalar();
    IrShape sc = ir_scalar();
    ar.in[0] = ir_reduce_to(f, ir_add(f, &one), &sc, 0);
    IrId rows = ir_add(f, &ar);
    IrValue st = { .op = IR_BATCH_STAT, .in = { ir_binary(f, IR_DIV, sum, rows), run.id, -1 },
                   .stage = f->v[x].stage, .name = "batch_mean" };
    IrId stat = ir_add(f, &st);
    L->stat_val[L->nstats] = stat;
    L->stat_param[L->nstats++] = q;
    char line[96];
    snprintf(line, sizeof line, "batchstat offset %lld size %lld momentum %.17g\n", (long long)L->params[q].offset,
             (long long)ir_shape_size(&xs), momentum);
    add_line(&L->stat_desc, &L->stat_len, line);
    return stat;
}

/* A function's form of batch_mean: its training statistic (eval 0) or the
 * running one (1); the other side is left to dead-code elimination. */
static void stat_form(IrFunc *f, int eval)
{
    for (IrId i = 0; i < f->n; i++)
        if (f->v[i].op == IR_BATCH_STAT) {
            f->v[i].op = IR_RESHAPE;
            f->v[i].in[0] = f->v[i].in[eval];
            f->v[i].in[1] = -1;
        }
}

static LVal lower_builtin(Lower *L, Scope *s, const Node *call)
{
    const char *name = call->name;
    if (strcmp(name, "d") == 0 || strcmp(name, "d2") == 0)
        return lower_derivative(L, s, call, name[1] == '2' ? 2 : 1);
    if (strcmp(name, "zeros") == 0 || strcmp(name, "ones") == 0) {
        LVal dims = lower_expr(L, s, arg_at(call, 0));
        IrValue v = { .op = IR_FILL, .in = { -1, -1, -1 }, .c = name[0] == 'o', .stage = s->stage };
        v.shape = ir_shape(dims.nlist, dims.list);
        return tensor(ir_add(L->f, &v));
    }
    LVal x = lower_expr(L, s, arg_at(call, 0));
    if (L->failed)
        return none();
    if (strcmp(name, "min") == 0 || strcmp(name, "clamp") == 0 || (strcmp(name, "max") == 0 && arg_at(call, 1)))
        return lower_minmax(L, s, call, as_tensor(L, x));
    if (strcmp(name, "dropout") == 0)
        return tensor(lower_dropout(L, s, call, as_tensor(L, x)));
    if (strcmp(name, "batch_mean") == 0) {
        IrId m = lower_batch_mean(L, s, call, as_tensor(L, x));
        return m < 0 ? none() : tensor(m);
    }
    if (strcmp(name, "leaky_relu") == 0 || strcmp(name, "gelu") == 0)
        return tensor(lower_activation(L, s, call, as_tensor(L, x)));
    double y;
    if (is_const(x) && fold_unary(name, as_num(x), &y))
        return number(y);
    for (size_t i = 0; i < sizeof unary_ops / sizeof unary_ops[0]; i++)
        if (strcmp(unary_ops[i].name, name) == 0)
            return tensor(ir_unary(L->f, unary_ops[i].op, x.id));
    IrId a = as_tensor(L, x);
    IrShape as = L->f->v[a].shape;
    if (strcmp(name, "sum") == 0 || strcmp(name, "mean") == 0 || strcmp(name, "max") == 0) {
        IrOp op = name[1] == 'u' ? IR_SUM : name[1] == 'e' ? IR_MEAN : IR_MAX;
        return tensor(ir_reduce(L->f, op, a, (int)const_int(L, s, named_arg(call, "axis"), -1)));
    }
    if (strcmp(name, "logsumexp") == 0)
        return tensor(ir_unary(L->f, IR_LOGSUMEXP, a));
    if (strcmp(name, "softmax") == 0)
        return tensor(ir_unary(L->f, IR_SOFTMAX, a));
    if (strcmp(name, "transpose") == 0)
        return tensor(ir_unary(L->f, IR_TRANSPOSE, a));
    if (strcmp(name, "flatten") == 0) {
        int64_t size = ir_shape_size(&as);
        return tensor(shaped(L, IR_RESHAPE, a, -1, ir_shape(1, &size), 0, 0));
    }
    if (strcmp(name, "reshape") == 0) {
        LVal dims = lower_expr(L, s, arg_at(call, 1));
        return tensor(shaped(L, IR_RESHAPE, a, -1, ir_shape(dims.nlist, dims.list), 0, 0));
    }
    if (strcmp(name, "concat") == 0) {
        IrId acc = a;
        for (int k = 1; arg_at(call, k); k++)
            acc = ir_binary(L->f, IR_CONCAT, acc, as_tensor(L, lower_expr(L, s, arg_at(call, k))));
        return tensor(acc);
    }
    if (strcmp(name, "conv") == 0) { /* x [c,h,w], W [o,c,k,k] */
        IrId w = as_tensor(L, lower_expr(L, s, arg_at(call, 1)));
        int stride = (int)const_int(L, s, named_arg(call, "stride"), 1);
        int pad = (int)const_int(L, s, named_arg(call, "padding"), 0);
        IrShape ws = L->f->v[w].shape;
        int64_t dims[3] = { ws.dim[0], (as.dim[1] + 2 * pad - ws.dim[2]) / stride + 1,
                            (as.dim[2] + 2 * pad - ws.dim[3]) / stride + 1 };
        return tensor(shaped(L, IR_CONV, a, w, ir_shape(3, dims), stride, pad));
    }
    if (strcmp(name, "maxpool") == 0) {
        int window = (int)const_int(L, s, arg_at(call, 1), 2);
        int stride = (int)const_int(L, s, named_arg(call, "stride"), window);
        int64_t dims[3] = { as.dim[0], (as.dim[1] - window) / stride + 1, (as.dim[2] - window) / stride + 1 };
        return tensor(shaped(L, IR_MAXPOOL, a, -1, ir_shape(3, dims), window, stride));
    }
    fail(L, call->span, "code generation does not support '%s' yet", name);
    return none();
}

/* ---- calls of layers, fns and models ----------------------------------- */

/* Binds generic dimension names of formal type `type` from the actual value. */
static void bind_generics(Lower *L, Scope *callee, const Node *type, LVal actual)
{
    if (type->kind == N_TYPE_CLASS && actual.kind == LV_CLASS && type->a->kind == N_NAME
        && !lookup(callee, type->a->name))
        bind(L, callee, type->a->name, integer(actual.i), type->span);
    if (type->kind != N_TYPE_SHAPE || actual.kind != LV_TENSOR)
        return;
    const IrShape *sh = &L->f->v[actual.id].shape;
    for (int i = 0; i < type->list.len && i < sh->rank; i++) {
        const Node *dim = type->list.items[i];
        if (dim->kind == N_NAME && !lookup(callee, dim->name))
            bind(L, callee, dim->name, integer(sh->dim[i]), dim->span);
    }
}

static LVal lower_body(Lower *L, Scope *s, const NodeList *body);

static LVal lower_call(Lower *L, Scope *s, const Node *call)
{
    const Node *decl = find_decl(L->p, call->name);
    if (!decl || decl->kind == N_STRATEGY)
        return lower_builtin(L, s, call);
    if (++L->depth > 64) {
        fail(L, call->span, "calls nested too deeply for code generation (at '%s')", call->name);
        return none();
    }
    /* arguments in call order, each to its formal (sema has checked the call) */
    AstArgs match;
    ast_match_args(decl, call, &match);
    int nformals = decl->list.len < AST_MAX_ARGS ? decl->list.len : AST_MAX_ARGS;
    LVal *actual = malloc(AST_MAX_ARGS * sizeof *actual);
    if (!actual)
        abort();
    for (int i = 0; i < nformals; i++)
        actual[i] = none();
    for (int i = 0; i < match.nactual; i++)
        if (match.slot[i] >= 0)
            actual[match.slot[i]] = lower_expr(L, s, match.arg[match.slot[i]]);
    if (L->failed) {
        free(actual);
        L->depth--;
        return none();
    }
    /* a model: one instance, shared by calls with the same arguments */
    if (decl->kind == N_MODEL) {
        for (int i = 0; i < L->nmemo; i++) {
            ModelMemo *m = &L->memo[i];
            int same = strcmp(m->name, decl->name) == 0 && m->nargs == nformals;
            for (int k = 0; same && k < nformals; k++)
                same = m->args[k] == actual[k].id;
            if (same) {
                free(actual);
                L->depth--;
                return m->result;
            }
        }
    }
    Scope *callee = calloc(1, sizeof *callee);
    if (!callee)
        abort();
    callee->model = s->model;
    callee->instance = s->instance;
    callee->stage = s->stage;
    if (decl->kind == N_MODEL) {
        callee->model = -1;
        for (int m = 0; m < L->t->nmodels; m++)
            if (L->t->models[m].decl == decl)
                callee->model = m;
        callee->instance = 0; /* a model's own instance is its first */
        callee->stage = callee->model >= 0 ? L->stage_base[callee->model] : 0;
    } else if (decl->kind == N_LAYER) {
        callee->instance = layer_instance(L, s, call);
    }
    for (int i = 0; i < nformals; i++) {
        const Node *formal = decl->list.items[i];
        if (!match.arg[i] && formal->b)
            actual[i] = lower_expr(L, callee, formal->b);
        bind(L, callee, formal->name, actual[i], formal->span);
        bind_generics(L, callee, formal->a, actual[i]);
    }
    LVal result = lower_body(L, callee, &decl->list2);
    if (decl->kind == N_MODEL && L->nmemo < MAX_MEMO && nformals <= 8) {
        ModelMemo *m = &L->memo[L->nmemo++];
        m->name = decl->name;
        m->nargs = nformals;
        for (int k = 0; k < nformals; k++)
            m->args[k] = actual[k].id;
        m->result = result;
        if (s->in_loss && result.kind == LV_TENSOR)
            L->model_out = result.id;
        /* the model output the accuracy is measured on */
        if (s->in_loss && L->accuracy_out < 0 && result.kind == LV_TENSOR) {
            const IrShape *sh = &L->f->v[result.id].shape;
            if (L->classes > 0 && sh->rank == 1 && sh->dim[0] == L->classes)
                L->accuracy_out = result.id;
        }
    }
    free(actual);
    free(callee);
    L->depth--;
    return result;
}

/* ---- statements -------------------------------------------------------- */

/* layers(mgrit): a carried value's IR id, for lower_stage_mark. */
static IrId scope_tensor(void *scope, const char *name)
{
    const LVal *v = lookup(scope, name);
    return v && v->kind == LV_TENSOR ? v->id : -1;
}

static LVal lower_body(Lower *L, Scope *s, const NodeList *body)
{
    for (int i = 0; i < body->len && !L->failed; i++) {
        const Node *st = body->items[i];
        switch (st->kind) {
        case N_ASSIGN:
            bind(L, s, st->name, lower_expr(L, s, st->a), st->span);
            break;
        case N_PARAM:
            bind(L, s, st->name, tensor(param_value(L, s, st)), st->span);
            break;
        case N_RETURN:
            return lower_expr(L, s, st->a);
        case N_REPEAT: {
            /* each step is sema's stage, with its own instances */
            int64_t count = const_int(L, s, st->a, 0);
            int first = repeat_stage(L, s, st);
            for (int64_t k = 0; k < count && !L->failed; k++) {
                if (L->repeat)
                    lower_stage_mark(L->repeat, st, k, count, first, scope_tensor, s);
                s->stage = first + (int)k;
                lower_body(L, s, &st->list);
            }
            if (L->repeat)
                lower_stage_mark(L->repeat, st, count, count, first, scope_tensor, s);
            s->stage = first + (int)count; /* the epilogue */
            break;
        }
        case N_FOR: { /* unrolled; sema made one set of instances for every iteration */
            int64_t lo = const_int(L, s, st->a, 0), hi = const_int(L, s, st->b, 0);
            for (int64_t t = lo; t < hi && !L->failed; t++) {
                bind(L, s, st->name, integer(t), st->span);
                if (L->repeat) /* layers(mgrit) over a recurrence: its steps are the time steps */
                    lower_stage_mark(L->repeat, st, t - lo, hi - lo, s->stage, scope_tensor, s);
                lower_body(L, s, &st->list);
            }
            if (L->repeat && hi > lo)
                lower_stage_mark(L->repeat, st, hi - lo, hi - lo, s->stage, scope_tensor, s);
            break;
        }
        default:
            break;
        }
    }
    return none();
}

/* ---- expressions ------------------------------------------------------- */

/* Constants: sema has checked that integer arithmetic does not overflow. */
static LVal fold(int op, LVal a, LVal b)
{
    int64_t r;
    if (a.kind == LV_INT && b.kind == LV_INT && op != '/' && op != '^' && fold_int(op, a.i, b.i, &r))
        return integer(r);
    return number(fold_real(op, as_num(a), as_num(b)));
}

static LVal lower_index(Lower *L, Scope *s, const Node *n)
{
    LVal base = lower_expr(L, s, n->a);
    if (L->failed)
        return none();
    IrId a = as_tensor(L, base);
    IrShape src = L->f->v[a].shape;
    if (n->list.len == 1 && n->list.items[0]->kind != N_SLICE) {
        LVal idx = lower_expr(L, s, n->list.items[0]);
        if (idx.kind == LV_CLASS)
            return tensor(ir_binary(L->f, IR_PICK, a, idx.id));
    }
    IrValue v = { .op = IR_SLICE, .in = { a, -1, -1 }, .stage = L->f->v[a].stage };
    IrShape kept = { 0 };
    v.shape.rank = src.rank;
    for (int d = 0; d < src.rank; d++) {
        int64_t lo = 0, hi = src.dim[d];
        int drop = 0;
        if (d < n->list.len) {
            const Node *ix = n->list.items[d];
            if (ix->kind == N_SLICE) {
                lo = ix->a ? const_int(L, s, ix->a, 0) : 0;
                hi = ix->b ? const_int(L, s, ix->b, src.dim[d]) : src.dim[d];
            } else {
                lo = const_int(L, s, ix, 0);
                hi = lo + 1;
                drop = 1;
            }
        }
        v.slice[d][0] = lo;
        v.slice[d][1] = hi;
        v.shape.dim[d] = hi - lo;
        if (!drop)
            kept.dim[kept.rank++] = hi - lo;
    }
    IrId sl = ir_add(L->f, &v);
    if (kept.rank == src.rank)
        return tensor(sl);
    return tensor(shaped(L, IR_RESHAPE, sl, -1, kept, 0, 0));
}

static LVal lower_expr_node(Lower *L, Scope *s, const Node *n);

/* Every expression through here: the values it makes get its source span
 * (lower_check.c, for --check-numerics). */
static LVal lower_expr(Lower *L, Scope *s, const Node *n)
{
    LowerCheckMark m = lower_check_enter(&L->check, L->f, n ? &n->span : NULL);
    LVal v = lower_expr_node(L, s, n);
    lower_check_leave(&L->check, L->f, &m);
    return v;
}

static LVal lower_expr_node(Lower *L, Scope *s, const Node *n)
{
    if (L->failed || !n)
        return none();
    switch (n->kind) {
    case N_INT: return integer(n->ival);
    case N_FLOAT: return number(n->num);
    case N_NAME: {
        const LVal *v = lookup(s, n->name);
        if (v)
            return *v;
        if (strcmp(n->name, "pi") == 0)
            return number(3.14159265358979323846);
        fail(L, n->span, "internal error: code generation found no value '%s'", n->name);
        return none();
    }
    case N_UNARY: {
        LVal a = lower_expr(L, s, n->a);
        if (a.kind == LV_INT)
            return integer(-a.i);
        if (a.kind == LV_NUM)
            return number(-a.num);
        return tensor(ir_unary(L->f, IR_NEG, as_tensor(L, a)));
    }
    case N_BINARY: {
        LVal a = lower_expr(L, s, n->a), b = lower_expr(L, s, n->b);
        if (L->failed)
            return none();
        if (is_const(a) && is_const(b))
            return fold(n->op, a, b);
        static const struct { int op; IrOp ir; } ops[] = {
            { '+', IR_ADD }, { '-', IR_SUB }, { '*', IR_MUL }, { '/', IR_DIV }, { '^', IR_POW },
            { '@', IR_MATMUL },
        };
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (ops[i].op == n->op)
                return tensor(ir_binary(L->f, ops[i].ir, as_tensor(L, a), as_tensor(L, b)));
        return none();
    }
    case N_CALL: return lower_call(L, s, n);
    case N_INDEX: return lower_index(L, s, n);
    case N_LIST: {
        LVal v = { .kind = LV_LIST, .id = -1 };
        for (int i = 0; i < n->list.len && i < IR_MAX_RANK; i++)
            v.list[v.nlist++] = const_int(L, s, n->list.items[i], 1);
        return v;
    }
    default:
        fail(L, n->span, "code generation does not support this %s here", ast_kind_name(n->kind));
        return none();
    }
}

/* ---- the program -------------------------------------------------------- */

/* Parameters in the flat vector: models in order, each model's in its order
 * (which is stage order); stages numbered across models. */
static void layout_params(Lower *L, Lowered *out)
{
    const SemaTyped *t = L->t;
    int total = 0, stages = 0;
    L->stage_base = calloc(t->nmodels + 1, sizeof *L->stage_base);
    L->param_base = calloc(t->nmodels + 1, sizeof *L->param_base);
    for (int m = 0; m < t->nmodels; m++)
        total += t->models[m].nparams;
    L->params = calloc(total + 1, sizeof *L->params);
    L->param_ids = malloc((total + 1) * sizeof *L->param_ids);
    if (!L->stage_base || !L->param_base || !L->params || !L->param_ids)
        abort();
    int64_t offset = 0;
    for (int m = 0; m < t->nmodels; m++) {
        const SemaModel *sm = &t->models[m];
        L->stage_base[m] = stages;
        L->param_base[m] = L->nparams;
        for (int i = 0; i < sm->nparams; i++) {
            IrParam *q = &L->params[L->nparams];
            q->path = sm->params[i].path;
            q->shape = ir_shape(sm->params[i].shape.rank, sm->params[i].shape.dim);
            q->offset = offset;
            q->stage = stages + sm->params[i].stage;
            L->param_ids[L->nparams++] = -1;
            offset += sm->params[i].count;
        }
        stages += sm->nstages;
    }
    out->params = L->params;
    out->nparams = L->nparams;
    out->nweights = offset;
}

static void lower_free(Lower *L)
{
    free(L->stage_base);
    free(L->param_base);
    index_free(&L->instances);
    index_free(&L->param_index);
}

static void copy_func(const IrFunc *src, IrFunc *dst, const char *name)
{
    ir_init(dst);
    dst->name = name;
    for (int i = 0; i < src->n; i++)
        ir_add(dst, &src->v[i]);
}

/* The loss graph after a rewrite (hoist.c, pool_first.c) that returned map:
 * every id Lower keeps, through it. */
static void remap_after(Lower *L, IrFunc *f, IrId *per_sample, IrId *map, int old_n)
{
#define REMAP(id) ((id) = (id) >= 0 ? map[id] : (id))
    REMAP(*per_sample);
    REMAP(L->accuracy_out);
    REMAP(L->model_out);
    REMAP(L->noise);
    for (int i = 0; i < L->nparams; i++)
        REMAP(L->param_ids[i]);
    for (int k = 0; k < L->nstats; k++)
        REMAP(L->stat_val[k]);
    for (int64_t k = 0; L->repeat && L->repeat->state && k <= L->repeat->count; k++)
        REMAP(L->repeat->state[k]);
#undef REMAP
    lower_check_remap(&L->check, map, old_n, f->n);
    free(map);
}

static void hoist(Lower *L, IrFunc *f, IrId *per_sample)
{
    int old_n = f->n, groups;
    IrId *map = ir_hoist_projections(f, &groups);
    if (map)
        remap_after(L, f, per_sample, map, old_n);
}

static void pool_first(Lower *L, IrFunc *f, IrId *per_sample)
{
    int old_n = f->n, moved;
    IrId *map = ir_pool_first(f, &moved);
    if (map)
        remap_after(L, f, per_sample, map, old_n);
}

int lower_program(const Program *p, const Sema *sema, int precision, Lowered *out, Diag *d)
{
    LowerOptions o = { .precision = precision };
    return lower_program_opts(p, sema, &o, out, d);
}

int lower_program_opts(const Program *p, const Sema *sema, const LowerOptions *opt, Lowered *out, Diag *d)
{
    memset(out, 0, sizeof *out);
    const SemaTyped *t = sema_typed(sema);
    if (!t->loss) {
        diag_fatal_file(d, p->root->file->path, "has no loss: nothing to train");
        return -1;
    }
    IrFunc f;
    ir_init(&f);
    LowerRepeat repeat = { .lin = lower_stage_lin_wanted(t) };
    Lower L = { .p = p, .t = t, .d = d, .f = &f, .accuracy_out = -1, .model_out = -1,
                .repeat = lower_stage_wanted(t) ? &repeat : NULL, .noise = -1,
                .nfields = t->data[t->train.data].nfields };
    layout_params(&L, out);
    index_sema(&L);
    lower_check_init(&L.check, p->root->file);
    const SemaData *data = &t->data[t->train.data];
    Scope *top = calloc(1, sizeof *top);
    if (!top)
        abort();
    top->model = -1;
    top->instance = -1;
    top->in_loss = 1;
    for (int k = 0; k < data->nfields; k++) {
        const SemaField *fld = &data->fields[k];
        IrValue v = { .in = { -1, -1, -1 }, .batched = 1, .iarg = { k }, .stage = 0, .name = fld->name };
        if (fld->is_class) {
            v.op = IR_LABEL;
            LVal c = { .kind = LV_CLASS, .id = ir_add(&f, &v), .i = fld->classes };
            bind(&L, top, fld->name, c, t->loss->span);
            if (!L.classes)
                L.classes = fld->classes;
        } else {
            v.op = IR_INPUT;
            v.shape = ir_shape(fld->shape.rank, fld->shape.dim);
            bind(&L, top, fld->name, tensor(ir_add(&f, &v)), t->loss->span);
        }
    }
    LVal loss = lower_expr(&L, top, t->loss->a);
    free(top);
    if (L.noise >= 0) /* the mask input: every call site's slice */
        f.v[L.noise].shape.dim[0] = L.dropout;
    if (L.failed || loss.kind == LV_NONE) {
        lower_check_free(&L.check);
        free(L.drop_desc);
        free(L.stat_desc);
        ir_free(&f);
        lower_free(&L);
        free(L.param_ids);
        lower_stage_free(&repeat);
        lowered_free(out); /* the parameter table layout_params gave it */
        return -1;
    }
    IrId per_sample = as_tensor(&L, loss);
    if (f.v[per_sample].shape.rank > 0) /* a [1] loss: its one element */
        per_sample = shaped(&L, IR_RESHAPE, per_sample, -1, ir_scalar(), 0, 0);
    if (!f.v[per_sample].batched) {
        IrValue b = { .op = IR_BROADCAST, .in = { per_sample, -1, -1 }, .batched = 1, .stage = -1 };
        per_sample = ir_add(&f, &b);
    }
    /* W x[t] out of recurrences, one GEMM (under layers(mgrit) only for a
     * recurrence: lower_recur.c computes the hoisted products before the solve) */
    if (!opt->no_hoist && (!L.repeat || (repeat.recurrence && repeat.done)))
        hoist(&L, &f, &per_sample);
    /* maxpool(relu(x + b)) -> relu(maxpool(x) + b): the bias, relu and their
     * gradients on the pooled values (pool_first.c) */
    pool_first(&L, &f, &per_sample);
    int acc = L.accuracy_out >= 0;
    /* batch_mean: loss and predict evaluate (running statistics), the rest
     * train (batch statistics) */
    IrFunc fe;
    copy_func(&f, &fe, "exa_loss");
    stat_form(&fe, 1);
    stat_form(&f, 0);
    /* loss: values and outputs */
    copy_func(&fe, &out->funcs[0], "exa_loss");
    ir_output(&out->funcs[0], per_sample, EXA_OUT_LOSS_LOSS, 0);
    if (acc)
        ir_output(&out->funcs[0], L.accuracy_out, EXA_OUT_LOSS_ACCURACY, 0);
    /* loss_grad: the same, then reverse mode from the mean loss */
    IrFunc *g = &out->funcs[1];
    copy_func(&f, g, "exa_loss_grad");
    IrValue seedv = { .op = IR_INV_BATCH, .in = { -1, -1, -1 }, .stage = -1 };
    IrId seed = ir_add(g, &seedv);
    IrId *adj = malloc((size_t)g->n * sizeof *adj);
    const char *why = NULL;
    int rc = adj ? ad_vjp_params(g, per_sample, seed, adj, &why) : -1;
    if (rc != 0) {
        diag_error(d, t->loss->span, "cannot differentiate the loss: no derivative of %s",
                   why ? why : "?");
    } else {
        ir_output(g, per_sample, EXA_OUT_LOSS_GRAD_LOSS, 0);
        if (acc)
            ir_output(g, L.accuracy_out, EXA_OUT_LOSS_GRAD_ACCURACY, 0);
        for (int i = 0; i < L.nparams; i++) {
            int k = 0;
            while (k < L.nstats && L.stat_param[k] != i)
                k++;
            if (k < L.nstats) { /* a running statistic: its slot carries the batch's (run_model.c) */
                if (adj[L.param_ids[i]] >= 0) {
                    diag_error(d, t->loss->span, "param '%s' holds the running statistic of a batch_mean "
                               "and cannot be used elsewhere in the model", L.params[i].path);
                    rc = -1;
                }
                ir_output(g, L.stat_val[k], EXA_OUT_LOSS_GRAD_GRAD, L.params[i].offset);
            } else if (L.param_ids[i] >= 0 && adj[L.param_ids[i]] >= 0) {
                ir_output(g, adj[L.param_ids[i]], EXA_OUT_LOSS_GRAD_GRAD, L.params[i].offset);
            } else { /* the loss does not depend on it: its gradient is 0, written
                      * like the others so that the runtime need not clear it */
                IrValue z = { .op = IR_FILL, .in = { -1, -1, -1 }, .shape = L.params[i].shape, .stage = -1 };
                ir_output(g, ir_add(g, &z), EXA_OUT_LOSS_GRAD_GRAD, L.params[i].offset);
            }
        }
    }
    free(adj);
    g->sgd_slot = EXA_OUT_LOSS_GRAD_GRAD;
    out->nfuncs = 2;
    /* a weight the steps read transposed stored transposed once, in loss and
     * loss_grad (after autodiff: pretranspose.c); nothing keeps their ids */
    for (int i = 0; i < 2 && rc == 0 && !opt->no_pretranspose; i++) {
        int stored;
        free(ir_pretranspose(&out->funcs[i], &stored));
    }
    /* slices of a sum taken of its operands (slice_sink.c): the same bits */
    for (int i = 0; i < 2 && rc == 0 && !opt->no_sink_slices; i++) {
        int taken;
        free(ir_sink_slices(&out->funcs[i], &taken));
    }
    if (rc == 0 && L.repeat)
        rc = lower_stages(&f, &repeat, per_sample, L.accuracy_out, data->nfields, out, d, t->loss->span);
    if (rc == 0)
        lower_check_build(&f, &L.check, per_sample, data->nfields + (L.dropout > 0), out); /* masks last */
    IrId model_out = acc ? L.accuracy_out : L.model_out;
    if (rc == 0 && model_out >= 0)
        lower_predict(&fe, model_out, out);
    ir_free(&f);
    ir_free(&fe);
    lower_free(&L);
    free(L.param_ids);
    if (rc != 0) {
        free(L.drop_desc);
        free(L.stat_desc);
        lower_stage_free(&repeat);
        lower_check_free(&L.check);
        lowered_free(out);
        return -1;
    }
    out->descriptor = lower_descriptor(p, t, out->params, out->nparams, out->nweights, opt->precision, acc,
                                       L.noise >= 0, d);
    if (out->descriptor && L.repeat)
        lower_stage_describe(&out->descriptor, &repeat);
    if (out->descriptor)
        lower_check_describe(&out->descriptor, &L.check);
    if (out->descriptor && L.drop_desc)
        lower_describe_before_end(&out->descriptor, L.drop_desc);
    free(L.drop_desc);
    if (out->descriptor && L.stat_desc)
        lower_describe_before_end(&out->descriptor, L.stat_desc);
    free(L.stat_desc);
    if (out->descriptor && model_out >= 0)
        lower_predict_describe(&out->descriptor, out, data->nfields + (L.dropout > 0));
    lower_stage_free(&repeat);
    lower_check_free(&L.check);
    if (!out->descriptor) {
        lowered_free(out);
        return -1;
    }
    return 0;
}

void lowered_free(Lowered *l)
{
    for (int i = 0; i < l->nfuncs; i++)
        ir_free(&l->funcs[i]);
    free(l->params);
    free(l->descriptor);
    memset(l, 0, sizeof *l);
}
