/* lower_desc.c - writing the program descriptor (format in
 * runtime/include/exa/program.h) from the checked program.
 *
 * Call trees (data sources, the optimiser, the strategy) are written with
 * their arguments folded to constants; a strategy declared in .exa is expanded
 * here into its four primitives with its formals substituted, so the runtime
 * only ever sees strategy(split=..., local=..., combine=..., global=...) or a
 * built-in (data, params, layers, grid). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/abi.h"
#include "fold.h"
#include "lower.h"
#include "sema.h"

/* The text being written, and the program whose strategies it expands. */
typedef struct Text {
    char *s;
    size_t len, cap;
    const Program *p;
} Text;

static void put(Text *t, const char *fmt, ...) EXA_PRINTF(2, 3);
static void put(Text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)n + 64;
        t->s = realloc(t->s, t->cap);
        if (!t->s)
            abort();
    }
}

static void put_string(Text *t, const char *s)
{
    put(t, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            put(t, "\\%c", *s);
        else if (*s == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *s);
    }
    put(t, "\"");
}

/* Strategy formals bound to their argument expressions while expanding. */
typedef struct Env {
    const char *name[32];
    const Node *value[32];
    int n;
} Env;

static const Node *env_get(const Env *e, const char *name)
{
    for (int i = e ? e->n - 1 : -1; i >= 0; i--)
        if (strcmp(e->name[i], name) == 0)
            return e->value[i];
    return NULL;
}

/* A compile-time number, or NAN when n is not one; the arithmetic is fold.c's. */
static double fold(const Node *n, const Env *e)
{
    switch (n->kind) {
    case N_INT: return (double)n->ival;
    case N_FLOAT: return n->num;
    case N_NAME: {
        const Node *v = env_get(e, n->name);
        if (v)
            return fold(v, NULL);
        return strcmp(n->name, "pi") == 0 ? 3.14159265358979323846 : NAN;
    }
    case N_UNARY: return -fold(n->a, e);
    case N_BINARY: return fold_real(n->op, fold(n->a, e), fold(n->b, e));
    case N_CALL: { /* an elementwise builtin of a number: sqrt(0.5) */
        double y;
        if (n->list.len == 1 && n->list.items[0]->kind != N_NAMED_ARG
            && fold_unary(n->name, fold(n->list.items[0], e), &y))
            return y;
        return NAN;
    }
    default: return NAN;
    }
}

static void put_call(Text *t, const Node *call, const Env *e);

static void put_value(Text *t, const Node *n, const Env *e)
{
    if (n->kind == N_NAME) {
        const Node *v = env_get(e, n->name);
        if (v) {
            put_value(t, v, NULL);
            return;
        }
    }
    if (n->kind == N_STRING)
        put_string(t, n->name);
    else if (n->kind == N_CALL && isnan(fold(n, e)))
        put_call(t, n, e);
    else if (n->kind == N_NAME && isnan(fold(n, e)))
        put(t, "%s", n->name);
    else if (n->kind == N_LIST) {
        put(t, "list(");
        for (int i = 0; i < n->list.len; i++) {
            put(t, "%s_%d=", i ? "," : "", i);
            put_value(t, n->list.items[i], e);
        }
        put(t, ")");
    } else
        put(t, "%.17g", fold(n, e));
}

static void put_args(Text *t, const Node *call, const Env *e, int first)
{
    int positional = 0;
    for (int i = 0; i < call->list.len; i++) {
        const Node *a = call->list.items[i];
        put(t, first && i == 0 ? "" : ",");
        if (a->kind == N_NAMED_ARG) {
            put(t, "%s=", a->name);
            put_value(t, a->a, e);
        } else {
            put(t, "_%d=", positional++);
            put_value(t, a, e);
        }
    }
}

static const Node *find_strategy(const Program *p, const char *name)
{
    for (int m = 0; m < p->nmodules; m++) {
        const NodeList *l = &p->modules[m]->ast->list;
        for (int i = 0; i < l->len; i++)
            if (l->items[i]->kind == N_STRATEGY && strcmp(l->items[i]->name, name) == 0)
                return l->items[i];
    }
    return NULL;
}

/* coarse SOLVER FORM[(cfactor: c, prolong: p)]: coarse=SOLVER,coarse_form=FORM
 * and each of the form's options as coarse_NAME=VALUE (methods/compose.c). */
static void put_coarse(Text *t, const Node *st, const Env *env)
{
    put(t, ",coarse=");
    put_value(t, st->a, env);
    put(t, ",coarse_form=%s", st->name);
    for (int i = 0; st->b && st->b->kind == N_CALL && i < st->b->list.len; i++) {
        const Node *a = st->b->list.items[i];
        if (a->kind != N_NAMED_ARG)
            continue; /* sema refused it */
        put(t, ",coarse_%s=", a->name);
        put_value(t, a->a, env);
    }
}

/* outer: the formals of the strategy this one is nested in (local: a
 * declared strategy), which its arguments may name. */
static void put_strategy(Text *t, const Node *decl, const Node *call, const Env *outer)
{
    /* each formal takes its argument or its default (sema has checked the call) */
    Env env = { 0 };
    AstArgs m;
    ast_match_args(decl, call, &m);
    for (int i = 0; i < decl->list.len && i < 32; i++) {
        const Node *v = ast_formal_value(decl, &m, i);
        const Node *o = v && v->kind == N_NAME ? env_get(outer, v->name) : NULL;
        env.name[env.n] = decl->list.items[i]->name;
        env.value[env.n++] = o ? o : v;
    }
    put(t, "strategy(name=%s", decl->name);
    for (int i = 0; i < decl->list2.len; i++) {
        const Node *st = decl->list2.items[i];
        switch (st->kind) {
        case N_SPLIT:
            put(t, ",split=%s", st->name);
            if (st->b)
                put(t, ",by=%s", st->b->name);
            put(t, ",into=");
            put_value(t, st->a, &env);
            break;
        case N_LOCAL: put(t, ",local="); put_value(t, st->a, &env); break;
        case N_COMBINE: put(t, ",combine="); put_value(t, st->a, &env); break;
        case N_GLOBAL: put(t, ",global="); put_value(t, st->a, &env); break;
        case N_COARSE: put_coarse(t, st, &env); break;
        default: break;
        }
    }
    put(t, ")");
}

static void put_call(Text *t, const Node *call, const Env *e)
{
    const Node *decl = find_strategy(t->p, call->name);
    if (decl) {
        put_strategy(t, decl, call, e);
        return;
    }
    put(t, "%s(", call->name);
    put_args(t, call, e, 1);
    put(t, ")");
}

/* ---- strategies chosen at run time (--decompose) ----
 * Every strategy declaration the program sees is written with its formals
 * and its expansion, each formal's use as the placeholder $NAME, which
 * libexa replaces by the run's argument (runtime/core/decompose.c); with the
 * fit facts sema judged, libexa accepts and refuses what exac would.  A
 * strategy whose formals enter arithmetic (steps: 2 * k) cannot be expanded
 * without the compiler and is left out: --decompose refuses it as unknown. */
static void put_runtime_strategy(Text *t, const Node *decl)
{
    Env env = { 0 };
    Node *holders = calloc((size_t)decl->list.len + 1, sizeof *holders);
    if (!holders)
        abort();
    for (int i = 0; i < decl->list.len && i < 32; i++) {
        const Node *f = decl->list.items[i];
        size_t len = strlen(f->name) + 2;
        char *name = malloc(len);
        if (!name)
            abort();
        snprintf(name, len, "$%s", f->name);
        holders[i] = (Node){ .kind = N_NAME, .name = name, .span = f->span };
        env.name[env.n] = f->name;
        env.value[env.n++] = &holders[i];
    }
    Text body = { .p = t->p };
    put(&body, "%s", "");
    for (int i = 0; i < decl->list2.len; i++) {
        const Node *st = decl->list2.items[i];
        if (st->kind == N_SPLIT) /* by layer: libexa checks the layers at start-up (not the stages) */
            put(&body, "strategy %s split %s formals %d", decl->name,
                st->b && !strcmp(st->b->name, "layer") ? "params_by_layer" : st->name, decl->list.len);
    }
    for (int i = 0; i < decl->list.len; i++) {
        const Node *f = decl->list.items[i];
        put(&body, " %s %s ", f->name, f->a->kind == N_TYPE_INT ? "int" : "float");
        double d = f->b ? fold(f->b, NULL) : NAN;
        if (f->b && isnan(d))
            goto skip; /* a default that is not a number */
        if (f->b)
            put(&body, "%.17g", d);
        else
            put(&body, "none");
    }
    put(&body, " expand strategy(name=%s", decl->name);
    for (int i = 0; i < decl->list2.len; i++) {
        const Node *st = decl->list2.items[i];
        switch (st->kind) {
        case N_SPLIT:
            put(&body, ",split=%s", st->name);
            if (st->b)
                put(&body, ",by=%s", st->b->name);
            put(&body, ",into=");
            put_value(&body, st->a, &env);
            break;
        case N_LOCAL: put(&body, ",local="); put_value(&body, st->a, &env); break;
        case N_COMBINE: put(&body, ",combine="); put_value(&body, st->a, &env); break;
        case N_GLOBAL: put(&body, ",global="); put_value(&body, st->a, &env); break;
        case N_COARSE: put_coarse(&body, st, &env); break;
        default: break;
        }
    }
    put(&body, ")\n");
    /* a formal inside arithmetic folds to NaN here */
    if (!strstr(body.s, "=nan") && !strstr(body.s, "=-nan") && strncmp(body.s, "strategy ", 9) == 0)
        put(t, "%s", body.s);
skip:
    free(body.s);
    for (int i = 0; i < decl->list.len; i++)
        free((char *)holders[i].name);
    free(holders);
}

static void put_runtime_strategies(Text *t, const SemaTyped *st)
{
    const SemaFit *f = &st->fit;
    if (!f->known)
        return;
    put(t, "fit model ");
    put_string(t, f->model);
    put(t, " params ");
    put_string(t, f->params_why ? f->params_why : "");
    put(t, " mgrit ");
    put_string(t, f->mgrit_why ? f->mgrit_why : "");
    put(t, "\nfit list ");
    put_string(t, f->list ? f->list : "data()");
    put(t, "\n");
    for (int i = 0; i < f->nsolvers; i++) { /* the optimisers' argument names, for params(local: ...) */
        put(t, "solver %s ", f->solver[i]);
        put_string(t, f->solver_args[i]);
        put(t, "\n");
    }
    for (int m = 0; m < t->p->nmodules; m++) {
        const NodeList *l = &t->p->modules[m]->ast->list;
        for (int i = 0; i < l->len; i++)
            if (l->items[i]->kind == N_STRATEGY && find_strategy(t->p, l->items[i]->name) == l->items[i])
                put_runtime_strategy(t, l->items[i]);
    }
}

/* Fan-in and fan-out as PyTorch counts them: W [out, in], conv W [o, c, k, k]. */
static void fans(const IrShape *s, int64_t *in, int64_t *out)
{
    int64_t receptive = 1;
    for (int i = 2; i < s->rank; i++)
        receptive *= s->dim[i];
    if (s->rank >= 2) {
        *in = s->dim[1] * receptive;
        *out = s->dim[0] * receptive;
    } else {
        *in = *out = s->rank == 1 ? s->dim[0] : 1;
    }
}

static const SemaParam *sema_param(const SemaTyped *t, const char *path)
{
    for (int m = 0; m < t->nmodels; m++)
        for (int i = 0; i < t->models[m].nparams; i++)
            if (strcmp(t->models[m].params[i].path, path) == 0)
                return &t->models[m].params[i];
    return NULL;
}

/* The initialiser with the arguments sema folded for this instance. */
static void put_init(Text *t, const SemaParam *sp)
{
    if (!sp || !sp->init) {
        put(t, "zeros");
        return;
    }
    put(t, "%s", sp->init->name);
    for (int i = 0; i < sp->ninit_args; i++)
        put(t, " %.17g", sp->init_args[i]);
}

static void put_shape(Text *t, int rank, const int64_t *dim)
{
    put(t, "shape %d", rank);
    for (int i = 0; i < rank; i++)
        put(t, " %lld", (long long)dim[i]);
}

char *lower_descriptor(const Program *p, const SemaTyped *st, const IrParam *params, int nparams,
                       int64_t nweights, int precision, int has_accuracy, int mask_input, Diag *d)
{
    (void)d;
    Text t = { .p = p };
    int stages = 0;
    for (int m = 0; m < st->nmodels; m++)
        stages += st->models[m].nstages;
    put(&t, "exa-program 1 abi %d\nsource ", EXA_ABI_VERSION);
    put_string(&t, p->root->file->path);
    put(&t, "\nprecision %s\nweights %lld\n", precision == 4 ? "f32" : "f64", (long long)nweights);
    for (int i = 0; i < nparams; i++) {
        const IrParam *q = &params[i];
        const SemaParam *sp = sema_param(st, q->path);
        int64_t in, out;
        fans(&q->shape, &in, &out);
        put(&t, "param ");
        put_string(&t, q->path);
        put(&t, " offset %lld stage %d init ", (long long)q->offset, q->stage);
        put_init(&t, sp);
        put(&t, " fan %lld %lld ", (long long)in, (long long)out);
        put_shape(&t, q->shape.rank, q->shape.dim);
        put(&t, "\n");
    }
    put(&t, "stages %d\n", stages);
    if (sema_chain_records(st->train.decompose) || sema_layer_chain_fits(st)) {
        /* pdADMM's and neurons()' chain: one record per dense layer, input side first */
        SemaChainLayer *chain = calloc(4096, sizeof *chain);
        char why[512];
        int nl = !chain ? 0 : sema_admm_call(st->train.decompose) ? sema_admm_chain(st, chain, 4096, why, sizeof why)
               : sema_layer_chain(st, chain, 4096, why, sizeof why, 1);
        for (int i = 0; i < nl; i++) {
            const SemaChainLayer *c = &chain[i];
            if (c->kind == CHAIN_POOL) {
                put(&t, "layer pool window %d stride %d\n", c->window, c->stride);
                continue;
            }
            if (c->kind == CHAIN_FLATTEN) {
                put(&t, "layer flatten\n");
                continue;
            }
            put(&t, c->kind == CHAIN_CONV ? "layer conv " : "layer dense ");
            put_string(&t, c->path);
            put(&t, " act %s", c->act ? c->act : "none");
            if (c->kind == CHAIN_CONV)
                put(&t, " padding %d", c->padding);
            if (c->bn) {
                put(&t, " bn ");
                put_string(&t, c->bn);
            }
            put(&t, "%s\n", c->dropout ? " dropout" : "");
        }
        free(chain);
    }
    for (int i = 0; i < st->ndata; i++) {
        const SemaData *dt = &st->data[i];
        put(&t, "data ");
        put_string(&t, dt->name);
        put(&t, " role %s source ", i == st->train.data ? "train" : i == st->train.validate ? "validate" : "none");
        put_call(&t, dt->decl->a, NULL);
        put(&t, "\n");
        for (int k = 0; k < dt->nfields; k++) {
            const SemaField *f = &dt->fields[k];
            put(&t, "field ");
            put_string(&t, dt->name);
            put(&t, " ");
            put_string(&t, f->name);
            if (f->is_class) {
                put(&t, " class %lld\n", (long long)f->classes);
            } else {
                put(&t, " real ");
                put_shape(&t, f->shape.rank, f->shape.dim);
                put(&t, "\n");
            }
        }
    }
    put(&t, "train epochs %lld batch %lld seed %lld\n", (long long)st->train.epochs,
        (long long)st->train.batch, (long long)st->train.seed);
    if (st->train.checkpoint) {
        put(&t, "setting checkpoint ");
        put_string(&t, st->train.checkpoint);
        put(&t, "\n");
    }
    if (st->train.log) {
        put(&t, "setting log ");
        put_string(&t, st->train.log);
        put(&t, "\n");
    }
    if (st->train.schedule) {
        put(&t, "setting schedule ");
        put_call(&t, st->train.schedule, NULL);
        put(&t, "\n");
    }
    if (st->train.clip > 0)
        put(&t, "setting clip %.17g\n", st->train.clip);
    if (st->train.device)
        put(&t, "setting device %s\n", st->train.device);
    put(&t, "optimizer ");
    if (st->train.optimizer)
        put_call(&t, st->train.optimizer, NULL);
    else
        put(&t, "sgd(lr=0.01)");
    put(&t, "\n");
    if (st->train.decompose && st->train.decompose->kind == N_CALL) {
        put(&t, "decompose ");
        put_call(&t, st->train.decompose, NULL);
        put(&t, "\n");
    }
    put_runtime_strategies(&t, st);
    for (int k = 0; k < 2; k++) { /* functions 0 and 1 (lower.c), the stage functions follow */
        ExaFunctionKind kind = k ? EXA_FN_LOSS_GRAD : EXA_FN_LOSS;
        put(&t, "function %d %s inputs %d outputs %d\n", k, exa_function_kind_name(kind),
            st->data[st->train.data].nfields + (mask_input != 0), exa_function_outputs(kind));
    }
    if (has_accuracy) {
        int label = 0;
        const SemaData *dt = &st->data[st->train.data];
        for (int k = 0; k < dt->nfields; k++)
            if (dt->fields[k].is_class)
                label = k;
        put(&t, "metric accuracy output %d label %d\n", EXA_OUT_LOSS_ACCURACY, label);
    }
    put(&t, "end\n");
    return t.s;
}
