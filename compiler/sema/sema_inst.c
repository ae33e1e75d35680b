/* sema_inst.c - bodies of layers, fns and models; calls; instantiation.
 *
 * bind_call matches a call's arguments with the callee's formals: arity,
 * named arguments, defaults, compile-time integers, and the unification of
 * generic dimensions ([n] is bound by the first argument that mentions it and
 * must agree everywhere else).  The generic pass stops there: the result is
 * the declared result type under that binding.  The instantiation pass then
 * walks the callee's body with the concrete binding, so each layer call site
 * becomes an instance with its own parameters, a model is walked once, a
 * repeat block once per step (each step a stage), and a for body once (its
 * iterations share instances).  Sizes are capped so that `repeat 1000000` is
 * an error rather than a hang. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema_internal.h"

enum { MAX_STEPS = 10000, MAX_FORMALS = 32, MAX_CARRIED = 16, MAX_DEPTH = 48 };

static void stmts(Body *b, const NodeList *l);

void sema_body_free(Body *b)
{
    free(b->locals);
    b->locals = NULL;
    b->nlocals = b->cap = 0;
}

/* Locals live in malloc'd memory: an instance's scope dies with its walk. */
static Local *add_local(Body *b, const char *name, LocalKind kind, Val v, const Node *decl)
{
    if (b->nlocals == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        Local *n = realloc(b->locals, (size_t)b->cap * sizeof *n);
        if (!n) {
            fputs("exac: out of memory\n", stderr);
            exit(2);
        }
        b->locals = n;
    }
    Local *l = &b->locals[b->nlocals++];
    *l = (Local){ .name = name, .kind = kind, .val = v, .decl = decl };
    return l;
}

Local *sema_add_local(Body *b, const char *name, LocalKind kind, Val v, const Node *decl)
{
    return add_local(b, name, kind, v, decl);
}

/* ---- recording the instantiated model (typed.h) --------------------------- */

/* Every fn or layer call and every repeat step instantiated costs one unit
 * of a budget that bounds exac's time and memory on any input: calls nest,
 * so a few lines can ask for 2^30 instances.  Reports once; 1 when spent. */
static int spend_budget(Body *b, Span at)
{
    Sema *s = b->s;
    if (--s->budget >= 0)
        return 0;
    if (!s->over_budget) {
        if (b->mb)
            sema_error(s, b->mb->m->decl->span,
                       "model '%s' is too large to instantiate: more than %d calls and repeat steps",
                       b->mb->m->name, SEMA_BUDGET);
        else
            sema_error(s, at, "this expression is too large to instantiate: more than %d calls", SEMA_BUDGET);
    }
    s->over_budget = 1;
    return 1;
}

static int new_instance(Body *b, const char *path, const Node *decl, const Node *call)
{
    ModelBuild *mb = b->mb;
    SemaModel *m = mb->m;
    m->instances = sema_grow(b->s, m->instances, m->ninstances, &mb->ncap_inst, sizeof *m->instances);
    m->instances[m->ninstances] = (SemaInstance){ .path = path, .decl = decl, .call = call,
                                                  .parent = b->instance, .stage = b->stage };
    return m->ninstances++;
}

static int new_stage(Body *b, SemaStageKind kind, int step, const Node *repeat)
{
    SemaModel *m = b->mb->m;
    m->stages = sema_grow(b->s, m->stages, m->nstages, &b->mb->ncap_stage, sizeof *m->stages);
    m->stages[m->nstages] = (SemaStage){ .kind = kind, .step = step, .repeat = repeat };
    return m->nstages++;
}

static void record_value(Body *b, const char *name, const Node *node, const Val *v)
{
    if (!b->mb || !b->model_level || v->kind == V_ERR)
        return;
    SemaModel *m = b->mb->m;
    m->values = sema_grow(b->s, m->values, m->nvalues, &b->mb->ncap_val, sizeof *m->values);
    SemaValue *sv = &m->values[m->nvalues++];
    memset(sv, 0, sizeof *sv);
    sv->path = b->in_repeat ? sema_fmt(b->s, "%s/%s", b->path + strlen(m->name) + 1, name) : name;
    sv->node = node;
    sv->stage = b->stage;
    sv->kind = v->kind == V_INT ? SEMA_VAL_INT : v->kind == V_NUM ? SEMA_VAL_NUM
             : v->kind == V_CLASS ? SEMA_VAL_CLASS : SEMA_VAL_TENSOR;
    if (v->kind == V_TENSOR)
        shape_to_typed(&v->sh, &sv->shape);
    if (v->kind == V_CLASS)
        sv->classes = v->i.v;
}

static const char *call_path(Body *b, const char *name)
{
    int k = 0;
    for (; k < b->ncounts; k++)
        if (strcmp(b->counts[k].name, name) == 0)
            break;
    if (k == b->ncounts) {
        if (k == (int)(sizeof b->counts / sizeof b->counts[0]))
            return sema_fmt(b->s, "%s/%s#?", b->path, name);
        b->counts[b->ncounts++].name = name, b->counts[k].n = 0;
    }
    return sema_fmt(b->s, "%s/%s#%d", b->path, name, ++b->counts[k].n);
}

/* ---- formals and generic dimensions --------------------------------------- */

static int is_formal(const Node *f, const char *name)
{
    for (int i = 0; i < f->list.len; i++)
        if (strcmp(f->list.items[i]->name, name) == 0)
            return 1;
    return 0;
}

/* Adds an L_GENERIC local for each plain name in a formal's shape or class
 * count that is not a formal: those are the generic dimensions. */
static void add_generics(Body *b, const Node *fn, int symbolic)
{
    for (int i = 0; i < fn->list.len; i++) {
        const Node *t = fn->list.items[i]->a;
        const NodeList *dims = t->kind == N_TYPE_SHAPE ? &t->list : NULL;
        int n = dims ? dims->len : t->kind == N_TYPE_CLASS ? 1 : 0;
        for (int k = 0; k < n; k++) {
            const Node *e = dims ? dims->items[k] : t->a;
            if (e->kind != N_NAME || is_formal(fn, e->name) || sema_find_local(b, e->name))
                continue;
            Dim d = symbolic ? (Dim){ .sym = e->name } : dim_unknown();
            add_local(b, e->name, L_GENERIC, val_int(d), e)->used = 1;
        }
    }
}

static Val type_value(Body *b, const Node *t)
{
    Shape sh;
    switch (t->kind) {
    case N_TYPE_SHAPE: sema_type_shape(b, t, &sh); return val_tensor(&sh);
    case N_TYPE_INT: return val_int(dim_unknown());
    case N_TYPE_FLOAT: return val_num(0, 0);
    case N_TYPE_CLASS: {
        Val v = { .kind = V_CLASS, .i = sema_dim_expr(b, t->a) };
        return v;
    }
    default: return val_err();
    }
}

/* The generic pass binds formals to their declared types, dims symbolic;
 * integers and numbers first, as bind_call does: shapes may use them. */
static void bind_generic(Body *b, const Node *fn)
{
    add_generics(b, fn, 1);
    for (int i = 0; i < 2 * fn->list.len; i++) {
        const Node *f = fn->list.items[i % fn->list.len];
        int number = f->a->kind == N_TYPE_INT || f->a->kind == N_TYPE_FLOAT;
        if (number != (i < fn->list.len))
            continue;
        Val v = type_value(b, f->a);
        if (f->a->kind == N_TYPE_INT)
            v = val_int((Dim){ .sym = f->name });
        if (f->b) {
            Val dv = sema_expr(b, f->b);
            int ok = dv.kind == V_ERR || (f->a->kind == N_TYPE_INT && dv.kind == V_INT)
                  || (f->a->kind == N_TYPE_FLOAT && (dv.kind == V_INT || dv.kind == V_NUM));
            if (!ok)
                sema_error(b->s, f->b->span, "the default of '%s' must be %s", f->name,
                           f->a->kind == N_TYPE_INT ? "a compile-time integer"
                           : f->a->kind == N_TYPE_FLOAT ? "a number" : "an int or float formal's constant");
        }
        Local *l = sema_find_local(b, f->name);
        if (l && l->decl != f && l->kind == L_FORMAL) {
            sema_error(b->s, f->span, "formal '%s' is declared twice", f->name);
            sema_note(b->s, l->decl->span, "previous declaration of '%s' is here", f->name);
        }
        add_local(b, f->name, L_FORMAL, v, f)->used = 1;
    }
}

typedef struct Binding {
    const Node *arg[MAX_FORMALS];     /* the value expression given for each formal */
    Val val[MAX_FORMALS];
} Binding;

/* Matches the call's arguments with the formals (ast_match_args) and
 * evaluates them in call order; reports arity and naming. */
static int match_args(Body *b, const Node *e, const Node *fn, Binding *bd)
{
    Sema *s = b->s;
    int nf = fn->list.len;
    memset(bd, 0, sizeof *bd);
    if (e->list.len > AST_MAX_ARGS) {
        sema_error(s, e->span, "too many arguments in call of '%s': it takes %d", fn->name, nf);
        return 0;
    }
    AstArgs m;
    int ok = ast_match_args(fn, e, &m);
    for (int i = 0; i < m.nactual; i++) {
        const Node *a = e->list.items[i];
        int k = m.slot[i];
        switch (k) {
        case AST_ARG_AFTER_NAMED:
            sema_error(s, a->span, "positional argument after named arguments in call of '%s'", fn->name);
            continue;
        case AST_ARG_TOO_MANY:
            sema_error(s, a->span, "too many arguments in call of '%s': it takes %d", fn->name, nf);
            sema_note(s, fn->span, "'%s' declared here", fn->name);
            continue;
        case AST_ARG_UNKNOWN: {
            sema_error(s, a->span, "'%s' has no argument named '%s'", fn->name, a->name);
            char list[512] = "";
            size_t len = 0;
            for (int j = 0; j < nf && len < sizeof list; j++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", j ? ", " : "",
                                        fn->list.items[j]->name);
            sema_note_plain(s, nf ? "'%s' accepts: %s" : "'%s' takes no arguments%s", fn->name, list);
            continue;
        }
        case AST_ARG_TWICE: {
            int f = 0;
            while (strcmp(fn->list.items[f]->name, a->name) != 0)
                f++;
            sema_error(s, a->span, "argument '%s' is given twice", a->name);
            sema_note(s, m.arg[f]->span, "first given here");
            continue;
        }
        default:
            bd->arg[k] = m.arg[k];
            bd->val[k] = sema_expr(b, m.arg[k]);
        }
    }
    for (int k = 0; ok && k < nf; k++) {
        const Node *f = fn->list.items[k];
        if (!bd->arg[k] && !f->b) {
            sema_error(s, e->span, "missing argument '%s' in call of '%s'", f->name, fn->name);
            sema_note(s, f->span, "'%s' declared here", f->name);
            ok = 0;
        }
    }
    return ok;
}

/* Binds (or checks) dimension expression de of formal f against actual:
 * 1 when they agree, 0 when they do not (the caller reports it), -1 when
 * they do not and the conflict is already reported. */
static int unify_dim(Body *cb, Body *b, const Node *de, Dim actual, const Node *f, const Node *argn,
                     const char **bound_from, int *bound)
{
    if (de->kind == N_NAME) {
        Local *g = sema_find_local(cb, de->name);
        if (g && g->kind == L_GENERIC) {
            int gi = (int)(g - cb->locals);
            if (!bound[gi]) {
                bound[gi] = 1;
                bound_from[gi] = f->name;
                g->val.i = actual;
                return 1;
            }
            if (dim_compatible(g->val.i, actual))
                return 1;
            sema_error(b->s, argn->span, "dimension '%s' is %lld here but %lld in argument '%s'", de->name,
                       (long long)actual.v, (long long)g->val.i.v, bound_from[gi]);
            sema_note(b->s, f->span, "'%s' declared here", f->name);
            return -1;
        }
    }
    Dim want = sema_dim_expr(cb, de);
    return dim_compatible(want, actual);
}

/* The concrete binding of a call: a callee Body whose locals are the formals. */
static int bind_call(Body *b, const Node *fn, Binding *bd, Body *cb)
{
    Sema *s = b->s;
    int ok = 1;
    char s1[128], s2[128];
    add_generics(cb, fn, 0);
    int bound[64] = {0};
    const char *from[64] = {0};
    if (cb->nlocals > 64) {
        sema_error(s, fn->span, "'%s' has more than 64 formals and generic dimensions", fn->name);
        return 0;
    }
    /* integers and numbers first: shapes may use them */
    for (int k = 0; k < fn->list.len; k++) {
        const Node *f = fn->list.items[k];
        if (f->a->kind != N_TYPE_INT && f->a->kind != N_TYPE_FLOAT)
            continue;
        Val v = bd->arg[k] ? bd->val[k] : sema_expr(cb, f->b);
        const Node *at = bd->arg[k] ? bd->arg[k] : f->b;
        if (f->a->kind == N_TYPE_INT && v.kind != V_ERR && (v.kind != V_INT || v.ranged)) {
            sema_error(s, at->span, "argument '%s' of '%s' must be a compile-time integer", f->name, fn->name);
            sema_note(s, f->span, "'%s' declared here", f->name);
            v = val_err(), ok = 0;
        }
        if (f->a->kind == N_TYPE_FLOAT && v.kind != V_ERR && v.kind != V_INT && v.kind != V_NUM) {
            sema_error(s, at->span, "argument '%s' of '%s' must be a number", f->name, fn->name);
            v = val_err(), ok = 0;
        }
        if (f->a->kind == N_TYPE_FLOAT && v.kind == V_INT)
            v = val_num((double)v.i.v, dim_known(v.i));
        v.ranged = 0;
        add_local(cb, f->name, L_FORMAL, v, f)->used = 1;
    }
    for (int k = 0; k < fn->list.len; k++) {
        const Node *f = fn->list.items[k], *t = f->a;
        if (t->kind == N_TYPE_INT || t->kind == N_TYPE_FLOAT)
            continue;
        Val v = bd->val[k];
        const Node *at = bd->arg[k];
        if (!at) { /* a tensor formal with a default */
            add_local(cb, f->name, L_FORMAL, sema_expr(cb, f->b), f);
            continue;
        }
        if (v.kind == V_ERR) {
            add_local(cb, f->name, L_FORMAL, v, f);
            ok = 0;
            continue;
        }
        if (t->kind == N_TYPE_CLASS) {
            if (v.kind != V_CLASS) {
                sema_error(s, at->span, "argument '%s' of '%s' must be a class label", f->name, fn->name);
                sema_note(s, f->span, "'%s' declared here", f->name);
                ok = 0;
            } else {
                int u = unify_dim(cb, b, t->a, v.i, f, at, from, bound);
                if (u == 0) {
                    Dim want = sema_dim_expr(cb, t->a);
                    sema_error(s, at->span, "argument '%s' of '%s' must be class(%lld), but %s is class(%lld)",
                               f->name, fn->name, (long long)want.v, sema_describe(b, at, "it"), (long long)v.i.v);
                    sema_note(s, f->span, "'%s' declared here", f->name);
                }
                if (u != 1)
                    ok = 0;
            }
            add_local(cb, f->name, L_FORMAL, v, f);
            continue;
        }
        Shape as;
        if (!val_shape(&v, &as)) {
            sema_error(s, at->span, "argument '%s' of '%s' must be a tensor, not %s", f->name, fn->name,
                       v.kind == V_CLASS ? "a class label" : val_str(&v, s1, sizeof s1));
            add_local(cb, f->name, L_FORMAL, val_err(), f);
            ok = 0;
            continue;
        }
        /* good: 1 the shapes agree, 0 they do not (reported here), -1 a
         * generic dimension conflict unify_dim has already reported */
        int good = as.rank == t->list.len;
        for (int i = 0; good == 1 && i < t->list.len; i++)
            good = unify_dim(cb, b, t->list.items[i], as.d[i], f, at, from, bound);
        if (good == 0) {
            Shape want;
            sema_type_shape(cb, t, &want);
            sema_error(s, at->span, "argument '%s' of '%s' must be %s, but %s is %s", f->name, fn->name,
                       shape_str(&want, s1, sizeof s1), sema_describe(b, at, "it"), shape_str(&as, s2, sizeof s2));
            sema_note(s, f->span, "'%s' declared here", f->name);
        }
        if (good != 1)
            ok = 0;
        add_local(cb, f->name, L_FORMAL, val_tensor(&as), f);
    }
    return ok;
}

/* ---- statements ------------------------------------------------------------ */

static Val result_type(Body *b)
{
    const Node *t = b->decl->a;
    if (t->kind == N_TYPE_CLASS) {
        sema_error(b->s, t->span, "a result type must be a shape, 'int' or 'float'");
        return val_err();
    }
    return type_value(b, t);
}

static void check_return(Body *b, const Node *st, const Val *v)
{
    Val want = result_type(b);
    if (v->kind == V_ERR || want.kind == V_ERR)
        return;
    char s1[128], s2[128];
    Shape got;
    int ok = want.kind == V_TENSOR ? val_shape(v, &got) && shape_compatible(&got, &want.sh)
           : want.kind == V_INT ? v->kind == V_INT : (v->kind == V_INT || v->kind == V_NUM);
    if (!ok)
        sema_error(b->s, st->a->span, "'%s' must return %s, but this is %s", b->decl->name,
                   val_str(&want, s1, sizeof s1), val_str(v, s2, sizeof s2));
}

/* The initialiser's arguments as numbers, computed where this instance's
 * formals and generic dimensions are bound (uniform(-1/n, 1/n) differs per
 * instance); the generic pass has checked that they are numbers. */
static void init_args(Body *b, const Node *in, SemaParam *p)
{
    for (int i = 0; i < in->list.len && i < SEMA_MAX_INIT_ARGS; i++) {
        const Node *a = in->list.items[i];
        a = a->kind == N_NAMED_ARG ? a->a : a;
        Val v = sema_expr(b, a);
        int known = v.kind == V_INT ? dim_known(v.i) && !v.ranged : v.kind == V_NUM && v.num_known;
        double x = v.kind == V_INT ? (double)v.i.v : v.num;
        if (v.kind == V_ERR)
            continue;
        if (!known)
            sema_error(b->s, a->span, "the arguments of '%s' must be compile-time numbers", in->name);
        else if (!isfinite(x))
            sema_error(b->s, a->span, "the argument of '%s' is %g here, not a finite number", in->name, x);
        else if (!strcmp(in->name, "normal") && x <= 0)
            sema_error(b->s, a->span, "the standard deviation of 'normal' must be positive"); /* as the generic pass says it */
        else if (!strcmp(in->name, "uniform") && i == 1 && p->ninit_args == 1 && x < p->init_args[0])
            sema_error(b->s, a->span, "the bounds of 'uniform' are in the wrong order: %g > %g here",
                       p->init_args[0], x);
        else
            p->init_args[p->ninit_args++] = x;
        if (p->ninit_args < i + 1) { /* reported: say which call gave the value */
            const SemaInstance *inst = &b->mb->m->instances[b->instance];
            if (inst->call)
                sema_note(b->s, inst->call->span, "in this call of '%s'", inst->decl->name);
            return;
        }
    }
}

static void param_stmt(Body *b, const Node *st)
{
    Sema *s = b->s;
    if (b->decl && b->decl->kind == N_FN)
        sema_error(s, st->span, "fn '%s' cannot declare parameters; use a layer", b->decl->name);
    Shape sh;
    if (!sema_type_shape(b, st->a, &sh)) {
        sema_error(s, st->a->span, "a parameter's type must be a shape, like [m, n]");
        return;
    }
    const Node *in = st->b;
    const Builtin *bi = (in->kind == N_NAME || in->kind == N_CALL) ? sema_builtin(in->name, B_INIT) : NULL;
    if (!bi) {
        sema_error(s, in->span, "the initialiser of '%s' must be one of the initialisers", st->name);
        sema_note_plain(s, "initialisers: glorot, he, zeros, ones, normal(std), uniform(a, b)");
    } else if (in->kind == N_NAME && bi->min > 0) {
        sema_error(s, in->span, "'%s' needs %d argument%s: %s(...)", bi->name, bi->min, bi->min == 1 ? "" : "s",
                   bi->name);
    } else if (in->kind == N_CALL && s->generic) {
        const Node *pos[16], *named[16];
        int np, nn;
        if (sema_builtin_args(s, in, bi, pos, &np, named, &nn)) {
            for (int i = 0; i < in->list.len; i++) {
                const Node *a = in->list.items[i];
                Val v = sema_expr(b, a->kind == N_NAMED_ARG ? a->a : a);
                if (v.kind != V_ERR && v.kind != V_INT && v.kind != V_NUM)
                    sema_error(s, a->span, "arguments of '%s' must be numbers", bi->name);
                else if (!strcmp(bi->name, "normal") && v.num_known && v.num <= 0)
                    sema_error(s, a->span, "the standard deviation of 'normal' must be positive");
            }
        }
    }
    add_local(b, st->name, L_PARAM, val_tensor(&sh), st);
    if (b->mb && !s->generic) {
        SemaModel *m = b->mb->m;
        m->params = sema_grow(s, m->params, m->nparams, &b->mb->ncap_param, sizeof *m->params);
        SemaParam *p = &m->params[m->nparams++];
        memset(p, 0, sizeof *p);
        p->path = sema_fmt(s, "%s/%s", b->path, st->name);
        shape_to_typed(&sh, &p->shape);
        p->count = shape_count(&sh) < 0 ? 0 : shape_count(&sh);
        p->decl = st;
        p->init = in;
        p->instance = b->instance;
        p->stage = b->stage;
        if (bi && in->kind == N_CALL)
            init_args(b, in, p);
        m->param_count += p->count;
    }
}

/* Names assigned in l (and in nested blocks) that are already bound: the
 * values a loop carries from one iteration (or step) to the next. */
static int carried(Body *b, const NodeList *l, int before, const char **names, int n)
{
    for (int i = 0; i < l->len; i++) {
        const Node *st = l->items[i];
        if (st->kind == N_REPEAT || st->kind == N_FOR)
            n = carried(b, &st->list, before, names, n);
        if (st->kind != N_ASSIGN || n == MAX_CARRIED)
            continue;
        int dup = 0, bound = 0;
        for (int k = 0; k < n; k++)
            dup |= !strcmp(names[k], st->name);
        for (int k = 0; k < before; k++)
            bound |= !strcmp(b->locals[k].name, st->name);
        if (!dup && bound)
            names[n++] = st->name;
    }
    return n;
}

static SemaShape *carried_shapes(Body *b, const char **names, int n)
{
    SemaShape *out = sema_alloc(b->s, (size_t)(n + 1) * sizeof *out);
    for (int i = 0; i < n; i++) {
        Local *l = sema_find_local(b, names[i]);
        Shape sh = {0};
        if (l)
            val_shape(&l->val, &sh);
        shape_to_typed(&sh, &out[i]);
    }
    return out;
}

static const char *shapes_str(Sema *s, const SemaShape *sh, int n)
{
    char *out = "";
    for (int i = 0; i < n; i++) {
        char buf[128];
        out = sema_fmt(s, "%s%s%s", out, i ? ", " : "", typed_shape_str(&sh[i], buf, sizeof buf));
    }
    return out;
}

static void repeat_stmt(Body *b, const Node *st)
{
    Sema *s = b->s;
    int bad = 0;
    if (!b->decl || b->decl->kind != N_MODEL) {
        sema_error(s, st->span, "'repeat' can only appear in a model");
        bad = 1;
    } else if (b->in_repeat) {
        sema_error(s, st->span, "repeat blocks do not nest");
        bad = 1;
    } else if (b->loops) {
        sema_error(s, st->span, "'repeat' cannot appear inside a 'for' loop");
        bad = 1;
    }
    Val n = sema_expr(b, st->a);
    int64_t count = 1;
    if (n.kind != V_ERR && (n.kind != V_INT || !dim_known(n.i) || n.ranged)) {
        sema_error(s, st->a->span, "the repeat count must be a compile-time integer");
        bad = 1;
    } else if (n.kind == V_INT && n.i.v <= 0) {
        sema_error(s, st->a->span, "the repeat count must be positive, not %lld", (long long)n.i.v);
        bad = 1;
    } else if (n.kind == V_INT && n.i.v > MAX_STEPS) {
        sema_error(s, st->a->span, "the repeat count %lld is more than the limit of %d steps",
                   (long long)n.i.v, MAX_STEPS);
        bad = 1;
    } else if (n.kind == V_INT) {
        count = n.i.v;
    }
    int before = b->nlocals;
    const char *names[MAX_CARRIED];
    int nc = carried(b, &st->list, before, names, 0);
    if (bad || !b->mb || s->generic) {
        b->in_repeat = 1;
        stmts(b, &st->list);
        b->in_repeat = 0;
        for (int i = before; i < b->nlocals; i++)
            for (int k = 0; k < nc; k++)
                if (!strcmp(b->locals[i].name, names[k]))
                    b->locals[i].used = 1;
        return;
    }
    ModelBuild *mb = b->mb;
    SemaModel *m = mb->m;
    mb->repeats = sema_grow(s, mb->repeats, mb->nrepeats, &(int){ mb->nrepeats }, sizeof *mb->repeats);
    mb->repeats[mb->nrepeats++] = st;
    SemaStage *cur = &m->stages[b->stage];
    if (cur->kind == SEMA_STAGE_BODY)
        cur->kind = SEMA_STAGE_PROLOGUE;
    cur->nout = nc;
    cur->out = carried_shapes(b, names, nc);
    const char *path = b->path;
    int ncounts = b->ncounts;
    CallCount saved[32];
    memcpy(saved, b->counts, sizeof saved);
    b->in_repeat = 1;
    for (int64_t k = 0; k < count; k++) {
        if (spend_budget(b, st->span))
            break;
        b->stage = new_stage(b, SEMA_STAGE_STEP, (int)k, st);
        SemaStage *sg = &m->stages[b->stage];
        sg->nin = nc;
        sg->in = carried_shapes(b, names, nc);
        b->path = sema_fmt(s, "%s/step[%lld]", m->name, (long long)k);
        b->ncounts = 0;
        int mark = b->nlocals;
        stmts(b, &st->list);
        sg = &m->stages[b->stage];
        sg->nout = nc;
        sg->out = carried_shapes(b, names, nc);
        if (!mb->mgrit_bad && memcmp(sg->in, sg->out, (size_t)nc * sizeof *sg->in) != 0) {
            mb->mgrit_bad = 1;
            snprintf(mb->mgrit_why, sizeof mb->mgrit_why, "step %lld maps %s to %s", (long long)k,
                     shapes_str(s, sg->in, nc), shapes_str(s, sg->out, nc));
        }
        /* the step's own values are dead after it, except those it carries */
        if (k + 1 < count) {
            for (int i = mark; i < b->nlocals; i++) {
                int keep = 0;
                for (int c = 0; c < nc; c++)
                    keep |= !strcmp(b->locals[i].name, names[c]);
                if (!keep)
                    b->locals[i].name = "";
            }
        }
    }
    b->in_repeat = 0;
    b->path = path;
    b->ncounts = ncounts;
    memcpy(b->counts, saved, sizeof saved);
    b->stage = new_stage(b, SEMA_STAGE_EPILOGUE, 0, NULL);
    m->stages[b->stage].nin = nc;
    m->stages[b->stage].in = carried_shapes(b, names, nc);
}

static void for_stmt(Body *b, const Node *st)
{
    Sema *s = b->s;
    Val lo = sema_expr(b, st->a), hi = sema_expr(b, st->b);
    int ok = 1;
    if ((lo.kind != V_ERR && (lo.kind != V_INT || !dim_known(lo.i) || lo.ranged))
        || (hi.kind != V_ERR && (hi.kind != V_INT || !dim_known(hi.i) || hi.ranged))) {
        sema_error(s, span_join(st->a->span, st->b->span), "the bounds of 'for' must be compile-time integers");
        ok = 0;
    } else if (lo.kind == V_INT && hi.kind == V_INT && lo.i.v >= hi.i.v) {
        sema_error(s, span_join(st->a->span, st->b->span), "empty range %lld..%lld in 'for'", (long long)lo.i.v,
                   (long long)hi.i.v);
        ok = 0;
    }
    if (lo.kind == V_ERR || hi.kind == V_ERR)
        ok = 0;
    Val t = val_int(dim_unknown());
    t.ranged = ok;
    t.lo = ok ? lo.i.v : 0;
    t.hi = ok ? hi.i.v : 0;
    if (!ok)
        t = val_err();
    int before = b->nlocals;
    const char *names[MAX_CARRIED];
    int nc = carried(b, &st->list, before, names, 0);
    Val entry[MAX_CARRIED];
    for (int k = 0; k < nc; k++)
        entry[k] = sema_find_local(b, names[k])->val;
    if (b->mb && b->model_level && !s->generic && b->loops == 0)
        if (!b->mb->nfors++) /* a recurrence MGRIT may decompose (mgrit_fits checks its form) */
            b->mb->for0 = st;
    int var = b->nlocals;
    add_local(b, st->name, L_LOOP, t, st)->used = 1;
    b->loops++;
    stmts(b, &st->list);
    b->loops--;
    b->locals[var].name = ""; /* the loop variable's scope is the body */
    for (int k = 0; k < nc; k++) {
        Local *l = sema_find_local(b, names[k]);
        Shape a, c;
        if (entry[k].kind != V_ERR && l->val.kind != V_ERR && val_shape(&entry[k], &a) && val_shape(&l->val, &c)
            && !shape_compatible(&a, &c)) {
            char s1[128], s2[128];
            sema_error(s, l->decl->span, "'%s' changes shape in the 'for' loop: %s before it, %s after one iteration",
                       names[k], shape_str(&a, s1, sizeof s1), shape_str(&c, s2, sizeof s2));
        }
        for (int i = before; i < b->nlocals; i++)
            if (!strcmp(b->locals[i].name, names[k]))
                b->locals[i].used = 1;
    }
}

static void stmts(Body *b, const NodeList *l)
{
    Sema *s = b->s;
    for (int i = 0; i < l->len; i++) {
        const Node *st = l->items[i];
        if (b->returned) {
            sema_error(s, st->span, "statement after 'return'");
            return;
        }
        switch (st->kind) {
        case N_ASSIGN: {
            Val v = sema_expr(b, st->a);
            add_local(b, st->name, L_VALUE, v, st);
            record_value(b, st->name, st, &v);
            break;
        }
        case N_PARAM: param_stmt(b, st); break;
        case N_REPEAT: repeat_stmt(b, st); break;
        case N_FOR: for_stmt(b, st); break;
        case N_RETURN: {
            if (b->in_repeat || b->loops)
                sema_error(s, st->span, "'return' cannot appear inside a %s block", b->in_repeat ? "repeat" : "for");
            Val v = sema_expr(b, st->a);
            check_return(b, st, &v);
            record_value(b, "return", st, &v);
            if (b->mb && b->model_level && b->stage >= 0 && v.kind != V_ERR) {
                SemaStage *sg = &b->mb->m->stages[b->stage];
                sg->nout = 1;
                sg->out = sema_alloc(s, sizeof *sg->out);
                Shape sh;
                val_shape(&v, &sh);
                shape_to_typed(&sh, sg->out);
            }
            b->returned = !(b->in_repeat || b->loops);
            break;
        }
        default:
            break;
        }
    }
}

/* Walks a body after its formals are bound; reports the missing return and,
 * in the generic pass, the unused values and parameters. */
static void walk_body(Body *b)
{
    int errors = b->s->d->errors;
    stmts(b, &b->decl->list2);
    if (!b->returned)
        sema_error(b->s, b->decl->span, "%s '%s' has no 'return'", sema_kind_word(b->decl->kind), b->decl->name);
    if (!b->s->generic || b->s->d->errors > errors)
        return; /* an unused value in a body with errors is noise */
    for (int i = 0; i < b->nlocals; i++) {
        Local *l = &b->locals[i];
        if (l->used || !*l->name)
            continue;
        if (l->kind == L_PARAM)
            sema_warn(b->s, l->decl->span, "parameter '%s' is never used", l->name);
        else if (l->kind == L_VALUE && l->name[0] != '_')
            sema_warn(b->s, l->decl->span, "value '%s' is assigned but never used", l->name);
    }
}

void sema_check_decl(Sema *s, Decl *d)
{
    Body b = { .s = s, .decl = d->node, .mod = d->module, .instance = -1, .stage = -1 };
    if (d->node->list.len > MAX_FORMALS) {
        sema_error(s, d->node->span, "'%s' has more than %d formals", d->name, MAX_FORMALS);
        return;
    }
    bind_generic(&b, d->node);
    result_type(&b);
    walk_body(&b);
    sema_body_free(&b);
}

/* ---- calls ----------------------------------------------------------------- */

static ModelBuild *model_build(Sema *s, const Node *decl)
{
    for (int i = 0; i < s->typed.nmodels; i++)
        if (s->typed.models[i].decl == decl)
            return &s->builds[i];
    /* sized once for every model declared: Bodies keep pointers into it */
    if (s->capmodels == 0) {
        for (int i = 0; i < s->ndecls; i++)
            s->capmodels += s->decls[i].node->kind == N_MODEL;
        s->typed.models = sema_alloc(s, (size_t)(s->capmodels + 1) * sizeof *s->typed.models);
        s->builds = sema_alloc(s, (size_t)(s->capmodels + 1) * sizeof *s->builds);
    }
    int i = s->typed.nmodels++;
    s->typed.models[i] = (SemaModel){ .name = decl->name, .decl = decl };
    s->builds[i].m = &s->typed.models[i];
    return &s->builds[i];
}

static void instantiate_model(Sema *s, ModelBuild *mb, Body *cb)
{
    SemaModel *m = mb->m;
    mb->state = 1;
    cb->mb = mb;
    cb->path = m->name;
    cb->model_level = 1;
    cb->instance = -1;
    cb->stage = 0;
    new_stage(cb, SEMA_STAGE_BODY, 0, NULL);
    cb->instance = new_instance(cb, m->name, m->decl, NULL);
    m->ninputs = m->decl->list.len;
    m->inputs = sema_alloc(s, (size_t)(m->ninputs + 1) * sizeof *m->inputs);
    for (int i = 0; i < m->ninputs; i++) {
        Local *l = sema_find_local(cb, m->decl->list.items[i]->name);
        Shape sh = {0};
        if (l) {
            val_shape(&l->val, &sh);
            record_value(cb, l->name, l->decl, &l->val);
        }
        shape_to_typed(&sh, &m->inputs[i]);
    }
    m->stages[0].nin = m->ninputs;
    m->stages[0].in = m->inputs;
    walk_body(cb);
    Val r = result_type(cb);
    if (r.kind == V_TENSOR)
        shape_to_typed(&r.sh, &m->output);
    mb->state = 2;
}

Val sema_call_user(Body *b, const Node *e, Decl *callee)
{
    Sema *s = b->s;
    const Node *fn = callee->node;
    NodeKind ck = fn->kind;
    if (b->decl && b->decl->kind == N_FN && ck != N_FN) {
        sema_error(s, e->span, "fn '%s' cannot call %s '%s'; a fn has no parameters", b->decl->name,
                   sema_kind_word(ck), fn->name);
        sema_note(s, fn->span, "'%s' declared here", fn->name);
        return val_err();
    }
    if (!b->decl && ck == N_LAYER) {
        sema_error(s, e->span, "layer '%s' can only be called from a layer or a model", fn->name);
        return val_err();
    }
    if (fn->list.len > MAX_FORMALS)
        return val_err();
    Binding bd;
    if (!match_args(b, e, fn, &bd))
        return val_err();
    Body cb = { .s = s, .decl = fn, .mod = callee->module, .instance = -1, .stage = -1 };
    int ok = bind_call(b, fn, &bd, &cb);
    Val r = val_err();
    if (!ok || s->over_budget)
        goto done;
    if (s->generic) {
        r = result_type(&cb);
        goto done;
    }
    for (int i = 0; i < s->depth; i++) {
        if (s->stack[i] == fn) {
            sema_error(s, e->span, "%s '%s' calls itself", sema_kind_word(ck), fn->name);
            goto done;
        }
    }
    if (s->depth == MAX_DEPTH) {
        sema_error(s, e->span, "calls nested more than %d deep", MAX_DEPTH);
        goto done;
    }
    s->stack[s->depth++] = fn;
    if (ck == N_FN) {
        if (!spend_budget(b, e->span))
            walk_body(&cb);
    } else if (ck == N_LAYER && b->mb) {
        if (!spend_budget(b, e->span)) {
            cb.mb = b->mb;
            cb.stage = b->stage;
            cb.path = call_path(b, fn->name);
            cb.instance = new_instance(b, cb.path, fn, e);
            walk_body(&cb);
        }
    } else if (ck == N_MODEL) {
        int idx = (int)(model_build(s, fn) - s->builds);
        SemaModel *m = s->builds[idx].m;
        if (s->builds[idx].state == 0) {
            Body mbody = cb;
            instantiate_model(s, &s->builds[idx], &mbody);
            cb.locals = mbody.locals, cb.nlocals = mbody.nlocals, cb.cap = mbody.cap;
        } else {
            /* one instance: every call must pass the shapes of the first */
            for (int i = 0; i < fn->list.len && i < m->ninputs; i++) {
                Local *l = sema_find_local(&cb, fn->list.items[i]->name);
                Shape sh;
                SemaShape ts;
                if (!l || !val_shape(&l->val, &sh))
                    continue;
                shape_to_typed(&sh, &ts);
                char s1[128], s2[128];
                if (memcmp(&ts, &m->inputs[i], sizeof ts) != 0)
                    sema_error(s, bd.arg[i] ? bd.arg[i]->span : e->span,
                               "model '%s' is called with %s here but with %s before; a model has one instance",
                               fn->name, typed_shape_str(&ts, s1, sizeof s1), typed_shape_str(&m->inputs[i], s2, sizeof s2));
            }
        }
        if (b->mb && b->mb != &s->builds[idx])
            new_instance(b, sema_fmt(s, "%s/%s", b->path, fn->name), fn, e);
    }
    s->depth--;
    r = result_type(&cb);
done:
    sema_body_free(&cb);
    return r;
}
