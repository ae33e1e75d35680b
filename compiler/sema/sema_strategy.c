/* sema_strategy.c - strategy declarations, `decompose = ...`, and whether
 * the chosen strategy fits the model.
 *
 * A strategy is classified by what it splits: data (always fits), params
 * (needs two stages), layers(mgrit) (a repeat block of residual steps that
 * keep their shapes, and a loss without input derivatives), layers(admm) (a
 * chain of dense layers and elementwise activations), grid (its rows must
 * fit, its columns split data).  As in Halide's scheduling errors, a
 * rejection names what was rejected and lists every strategy that would fit. */
#include <stdio.h>
#include <string.h>

#include "sema_internal.h"

typedef enum SKind { SK_ERR, SK_DATA, SK_PARAMS, SK_MGRIT, SK_ADMM, SK_GRID } SKind;

static int is_word(const Node *e, const char *const *words)
{
    if (e->kind != N_NAME)
        return 0;
    for (int i = 0; words[i]; i++)
        if (!strcmp(e->name, words[i]))
            return 1;
    return 0;
}

static const char *const combines[] = { "additive", "multiplicative", "average", "sum", NULL };
static const char *const word_args[] = { "line_search", "model", "relax", NULL };
static const char *const relaxes[] = { "F", "FC", "FCF", "FCFCF", NULL };

/* Named arguments of a builtin call, their values by the shared rules. */
static int in_list(const char *name, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (!strcmp(name, words[i]))
            return 1;
    return 0;
}

static int builtin_call_args(Sema *s, const Module *m, const Node *e, const Builtin *bi, const Node *strategy)
{
    const Node *pos[16], *named[16];
    int np, nn;
    if (!sema_builtin_args(s, e, bi, pos, &np, named, &nn))
        return 0;
    /* params(...) and grid(...) take strategies and words: checked by the caller */
    if (!strcmp(bi->name, "params") || !strcmp(bi->name, "grid") || !strcmp(bi->name, "layers"))
        return 1;
    for (int i = 0; i < nn; i++) {
        const Node *a = named[i];
        if (in_list(a->name, word_args) && a->a->kind == N_NAME) {
            if (!strcmp(a->name, "relax") && !is_word(a->a, relaxes)) {
                sema_error(s, a->a->span, "unknown relaxation '%s'; expected F, FC, FCF or FCFCF", a->a->name);
                return 0;
            }
            continue;
        }
        if (!strcmp(a->name, "relax")) {
            sema_error(s, a->a->span, "'relax' must be F, FC, FCF or FCFCF");
            return 0;
        }
        Val v = sema_const_expr(s, m, a->a, strategy);
        sema_check_setting_value(s, sema_fmt(s, "'%s'", bi->name), a, &v);
    }
    return 1;
}

void sema_check_optimizer(Sema *s, const Module *m, const Node *e, const Node *strategy)
{
    const Builtin *bi = e->kind == N_CALL || e->kind == N_NAME ? sema_builtin(e->name, B_OPTIMIZER) : NULL;
    if (!bi || e->kind != N_CALL) {
        sema_error(s, e->span, bi ? "call the optimiser: '%s()'" : "expected an optimiser%s", bi ? bi->name : "");
        sema_note_plain(s, "optimisers: sgd, adam, lbfgs, trust_region");
        return;
    }
    builtin_call_args(s, m, e, bi, strategy);
}

/* split data into ranks;  split params by stage into ranks; */
static void check_split(Sema *s, const Node *st, const Node *strat, const Module *m)
{
    int params = !strcmp(st->name, "params");
    if (!params && strcmp(st->name, "data") != 0) {
        sema_error(s, st->span, "cannot split '%s'; split 'data' or 'params'", st->name);
        return;
    }
    if (st->b && !params)
        sema_error(s, st->b->span, "'split data' takes no 'by'");
    if (st->b && params && strcmp(st->b->name, "stage") != 0 && strcmp(st->b->name, "layer") != 0)
        sema_error(s, st->b->span, "params are split by 'stage' or by 'layer', not '%s'", st->b->name);
    if (st->a->kind == N_NAME && !strcmp(st->a->name, "ranks"))
        return;
    Val v = sema_const_expr(s, m, st->a, strat);
    if (v.kind != V_ERR && (v.kind != V_INT || (dim_known(v.i) && v.i.v < 1)))
        sema_error(s, st->a->span, "split into 'ranks' or a positive number of groups");
}

static void check_step(Sema *s, const Node *e, const Node *strat, const Module *m, int global)
{
    const char *const words[] = { global ? "plain" : "gradient", global ? "optimizer" : NULL, NULL };
    if (is_word(e, words))
        return;
    if (e->kind == N_CALL && sema_builtin(e->name, B_OPTIMIZER)) {
        sema_check_optimizer(s, m, e, strat);
        return;
    }
    sema_error(s, e->span, global ? "'global' takes an optimiser call, 'plain' or 'optimizer'"
                                  : "'local' takes an optimiser call or 'gradient'");
}

static void check_combine(Sema *s, const Node *e)
{
    if (!is_word(e, combines)) {
        sema_error(s, e->span, "unknown way to combine");
        sema_note_plain(s, "combine: additive, multiplicative, average or sum");
    }
}

void sema_check_strategy_decl(Sema *s, Decl *d)
{
    static const NodeKind kinds[4] = { N_SPLIT, N_LOCAL, N_COMBINE, N_GLOBAL };
    static const char *const names[4] = { "split", "local", "combine", "global" };
    const Node *first[4] = {0};
    Node *n = d->node;
    for (int i = 0; i < n->list.len; i++) {
        const Node *f = n->list.items[i];
        if (f->a->kind != N_TYPE_INT && f->a->kind != N_TYPE_FLOAT)
            sema_error(s, f->a->span, "a strategy's formals are 'int' or 'float'");
        if (f->b) {
            Val v = sema_const_expr(s, d->module, f->b, NULL);
            if (v.kind != V_ERR && v.kind != V_INT && !(v.kind == V_NUM && f->a->kind == N_TYPE_FLOAT))
                sema_error(s, f->b->span, "the default of '%s' must be %s", f->name,
                           f->a->kind == N_TYPE_INT ? "an integer" : "a number");
        }
    }
    for (int i = 0; i < n->list2.len; i++) {
        const Node *st = n->list2.items[i];
        int k = 0;
        while (k < 4 && kinds[k] != st->kind)
            k++;
        if (k == 4)
            continue;
        if (first[k]) {
            sema_error(s, st->span, "strategy '%s' has a second '%s'", n->name, names[k]);
            sema_note(s, first[k]->span, "the first '%s' is here", names[k]);
            continue;
        }
        first[k] = st;
        switch (st->kind) {
        case N_SPLIT: check_split(s, st, n, d->module); break;
        case N_LOCAL: check_step(s, st->a, n, d->module, 0); break;
        case N_COMBINE: check_combine(s, st->a); break;
        default: check_step(s, st->a, n, d->module, 1); break;
        }
    }
    for (int k = 0; k < 4; k++)
        if (!first[k])
            sema_error(s, n->span, "strategy '%s' has no '%s'", n->name, names[k]);
}

static SKind decl_kind(const Node *strategy)
{
    for (int i = 0; i < strategy->list2.len; i++) {
        const Node *st = strategy->list2.items[i];
        if (st->kind == N_SPLIT)
            return !strcmp(st->name, "params") ? SK_PARAMS : !strcmp(st->name, "data") ? SK_DATA : SK_ERR;
    }
    return SK_ERR;
}

/* ---- decompose = ... ----------------------------------------------------------- */

static SKind user_strategy(Sema *s, const Node *e, Decl *d)
{
    d->used = 1;
    const Node *fn = d->node;
    int npos = 0;
    const Node *given[64] = {0};
    if (fn->list.len > 64)
        return SK_ERR;
    for (int i = 0; e->kind == N_CALL && i < e->list.len; i++) {
        const Node *a = e->list.items[i];
        int k;
        if (a->kind == N_NAMED_ARG) {
            for (k = 0; k < fn->list.len; k++)
                if (!strcmp(fn->list.items[k]->name, a->name))
                    break;
            if (k == fn->list.len) {
                sema_error(s, a->span, "'%s' has no argument named '%s'", fn->name, a->name);
                char list[512] = "";
                size_t len = 0;
                for (int j = 0; j < fn->list.len && len < sizeof list; j++)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", j ? ", " : "", fn->list.items[j]->name);
                sema_note_plain(s, fn->list.len ? "'%s' accepts: %s" : "'%s' takes no arguments%s", fn->name, list);
                return SK_ERR;
            }
        } else {
            k = npos++;
            if (k >= fn->list.len) {
                sema_error(s, a->span, "too many arguments in call of '%s': it takes %d", fn->name, fn->list.len);
                sema_note(s, fn->span, "'%s' declared here", fn->name);
                return SK_ERR;
            }
        }
        if (given[k]) {
            sema_error(s, a->span, "argument '%s' is given twice", fn->list.items[k]->name);
            return SK_ERR;
        }
        given[k] = a;
        const Node *f = fn->list.items[k];
        Val v = sema_const_expr(s, s->p->root, a->kind == N_NAMED_ARG ? a->a : a, NULL);
        if (v.kind != V_ERR && v.kind != V_INT && !(v.kind == V_NUM && f->a->kind == N_TYPE_FLOAT))
            sema_error(s, a->span, "argument '%s' of '%s' must be %s", f->name, fn->name,
                       f->a->kind == N_TYPE_INT ? "an integer" : "a number");
        else
            sema_check_setting_value(s, sema_fmt(s, "'%s'", fn->name), f, &v);
    }
    for (int k = 0; k < fn->list.len; k++) {
        if (!given[k] && !fn->list.items[k]->b) {
            sema_error(s, e->span, "missing argument '%s' in call of '%s'", fn->list.items[k]->name, fn->name);
            sema_note(s, fn->list.items[k]->span, "'%s' declared here", fn->list.items[k]->name);
            return SK_ERR;
        }
    }
    return decl_kind(fn);
}

static const Node *named_arg(const Node *e, const char *name)
{
    for (int i = 0; i < e->list.len; i++)
        if (e->list.items[i]->kind == N_NAMED_ARG && !strcmp(e->list.items[i]->name, name))
            return e->list.items[i]->a;
    return NULL;
}

static SKind strategy_expr(Sema *s, const Node *e, const Node **inner)
{
    const Module *root = s->p->root;
    *inner = e;
    if (e->kind == N_CALL || e->kind == N_NAME) {
        Decl *d = sema_lookup(s, root, e->name);
        if (d && d->node->kind == N_STRATEGY)
            return user_strategy(s, e, d);
    }
    const Builtin *bi = e->kind == N_CALL ? sema_builtin(e->name, B_STRATEGY) : NULL;
    if (!bi) {
        sema_error(s, e->span, "'decompose' must be a strategy: data(), params(...), layers(...), grid(...) "
                               "or a declared strategy");
        if (e->kind == N_CALL || e->kind == N_NAME)
            sema_suggest(s, root, e->name, NULL);
        return SK_ERR;
    }
    if (!strcmp(bi->name, "mgrit") || !strcmp(bi->name, "admm")) {
        sema_error(s, e->span, "'%s' is a layer-parallel method; write 'layers(%s(...))'", bi->name, bi->name);
        return SK_ERR;
    }
    if (!builtin_call_args(s, root, e, bi, NULL))
        return SK_ERR;
    if (!strcmp(bi->name, "data"))
        return SK_DATA;
    if (!strcmp(bi->name, "layers")) {
        const Node *m = e->list.items[0];
        const Builtin *mb = m->kind == N_CALL ? sema_builtin(m->name, B_STRATEGY) : NULL;
        if (!mb || (strcmp(mb->name, "mgrit") && strcmp(mb->name, "admm"))) {
            sema_error(s, m->span, "'layers' takes a layer-parallel method: mgrit(...) or admm(...)");
            return SK_ERR;
        }
        if (!builtin_call_args(s, root, m, mb, NULL))
            return SK_ERR;
        *inner = m;
        return mb->name[0] == 'm' ? SK_MGRIT : SK_ADMM;
    }
    if (!strcmp(bi->name, "params")) {
        static const char *const by[] = { "stage", "layer", NULL };
        const Node *a;
        if ((a = named_arg(e, "by")) && !is_word(a, by))
            sema_error(s, a->span, "params are split by 'stage' or by 'layer'");
        if ((a = named_arg(e, "groups")) && !(a->kind == N_NAME && !strcmp(a->name, "ranks"))) {
            Val v = sema_const_expr(s, root, a, NULL);
            if (v.kind != V_ERR && (v.kind != V_INT || v.i.v < 1))
                sema_error(s, a->span, "'groups' must be 'ranks' or a positive integer");
        }
        if ((a = named_arg(e, "local")))
            check_step(s, a, NULL, root, 0);
        if ((a = named_arg(e, "combine")))
            check_combine(s, a);
        if ((a = named_arg(e, "global")))
            check_step(s, a, NULL, root, 1);
        return SK_PARAMS;
    }
    /* grid(rows: ..., cols: ..., shape: auto | [pr, pc]) */
    const Node *rows = named_arg(e, "rows"), *cols = named_arg(e, "cols"), *shape = named_arg(e, "shape");
    if (!rows || !cols) {
        sema_error(s, e->span, "'grid' needs 'rows' (a layer or parameter strategy) and 'cols' (a data strategy)");
        return SK_ERR;
    }
    const Node *in;
    SKind r = strategy_expr(s, rows, &in), c = strategy_expr(s, cols, &in);
    if (shape && !(shape->kind == N_NAME && !strcmp(shape->name, "auto"))) {
        Val v = sema_const_expr(s, root, shape, NULL);
        if (v.kind != V_ERR && (v.kind != V_LIST || v.nitems != 2))
            sema_error(s, shape->span, "the 'shape' of a grid is 'auto' or [rows, cols]");
    }
    if (r == SK_DATA || r == SK_GRID) {
        sema_error(s, rows->span, "the rows of 'grid' must split the model: params(...) or layers(...)");
        return SK_ERR;
    }
    if (c != SK_DATA && c != SK_ERR) {
        sema_error(s, cols->span, "the columns of 'grid' must split data, like data()");
        return SK_ERR;
    }
    if (r == SK_ERR || c == SK_ERR)
        return SK_ERR;
    *inner = rows;
    return r == SK_PARAMS ? SK_PARAMS : r; /* a grid fits when its rows do */
}

/* ---- the fit ------------------------------------------------------------------- */

static const char *elementwise[] = { "tanh", "sigmoid", "relu", "softplus", "exp", "log", "sin", "cos",
                                     "sqrt", "abs", NULL };

/* Whether e is a chain of dense calls and elementwise activations. */
static const char *admm_chain(const Node *e)
{
    if (e->kind == N_NAME)
        return NULL;
    if (e->kind != N_CALL)
        return "an operator";
    if (strcmp(e->name, "dense") != 0 && !is_word(&(Node){ .kind = N_NAME, .name = e->name }, elementwise))
        return e->name;
    return e->list.len ? admm_chain(e->list.items[0]) : NULL;
}

static int admm_fits(Sema *s, char *why, size_t n)
{
    if (s->typed.nmodels != 1) {
        snprintf(why, n, "admm needs one model; the loss reaches %d", s->typed.nmodels);
        return 0;
    }
    const Node *m = s->typed.models[0].decl;
    for (int i = 0; i < m->list2.len; i++) {
        const Node *st = m->list2.items[i];
        if (st->kind == N_REPEAT || st->kind == N_FOR || st->kind == N_PARAM) {
            snprintf(why, n, "admm needs a chain of dense layers with elementwise activations; model '%s' has a %s",
                     m->name, st->kind == N_REPEAT ? "repeat block" : st->kind == N_FOR ? "for loop" : "param");
            return 0;
        }
        const char *bad = st->a ? admm_chain(st->a) : NULL;
        if (bad) {
            snprintf(why, n, "admm needs a chain of dense layers with elementwise activations; '%s' in model '%s' is neither",
                     bad, m->name);
            return 0;
        }
    }
    return 1;
}

/* u = u + expr (or expr + u) for every carried name of a repeat body. */
static int residual(const Node *rep, const char **who)
{
    int any = 0;
    for (int i = 0; i < rep->list.len; i++) {
        const Node *st = rep->list.items[i];
        if (st->kind != N_ASSIGN)
            continue;
        int later = 0;
        for (int k = i + 1; k < rep->list.len; k++)
            later |= rep->list.items[k]->kind == N_ASSIGN && !strcmp(rep->list.items[k]->name, st->name);
        if (later)
            continue;
        const Node *e = st->a;
        if (e->kind == N_BINARY && e->op == '+'
            && ((e->a->kind == N_NAME && !strcmp(e->a->name, st->name))
                || (e->b->kind == N_NAME && !strcmp(e->b->name, st->name)))) {
            any = 1;
            continue;
        }
        *who = st->name;
        return 0;
    }
    if (!any)
        *who = NULL;
    return any;
}

static int mgrit_fits(Sema *s, char *why, size_t n)
{
    const ModelBuild *found = NULL;
    for (int i = 0; i < s->typed.nmodels; i++)
        if (s->builds[i].nrepeats)
            found = &s->builds[i];
    if (!found) {
        snprintf(why, n, "mgrit needs a repeat block; model '%s' has none", s->typed.models[0].name);
        return 0;
    }
    if (found->mgrit_bad) {
        snprintf(why, n, "mgrit needs a repeat block whose steps keep the shape; %s", found->mgrit_why);
        return 0;
    }
    for (int r = 0; r < found->nrepeats; r++) {
        const char *who = NULL;
        if (!residual(found->repeats[r], &who)) {
            snprintf(why, n, who ? "the repeat block of model '%s' does not have the form u + h * F(u, theta): "
                                   "'%s' is not updated as '%s = %s + ...'"
                                 : "the repeat block of model '%s' does not have the form u + h * F(u, theta)%s",
                     found->m->name, who ? who : "", who ? who : "", who ? who : "");
            return 0;
        }
    }
    if (s->loss_uses_d) {
        snprintf(why, n, "mgrit needs a loss without 'd' or 'd2'");
        return 0;
    }
    return 1;
}

static int stage_count(Sema *s)
{
    int n = 0;
    for (int i = 0; i < s->typed.nmodels; i++)
        n += s->typed.models[i].nstages;
    return n;
}

static int params_fits(Sema *s, char *why, size_t n)
{
    if (stage_count(s) >= 2)
        return 1;
    snprintf(why, n, "splitting params needs at least 2 stages; model '%s' has 1 (add a repeat block)",
             s->typed.models[0].name);
    return 0;
}

static void fit_note(Sema *s)
{
    char why[512], list[2048];
    int p = params_fits(s, why, sizeof why), mg = mgrit_fits(s, why, sizeof why), ad = admm_fits(s, why, sizeof why);
    size_t len = (size_t)snprintf(list, sizeof list, "data()");
    if (p)
        len += (size_t)snprintf(list + len, sizeof list - len, ", params(...)");
    if (mg)
        len += (size_t)snprintf(list + len, sizeof list - len, ", layers(mgrit(...))");
    /* layers(admm(...)) and grid(...) are checked but libexa does not run
     * them yet (docs/strategies.md): a note that sends a user there would
     * end in a run-time error, so they are not offered */
    (void)ad;
    for (int i = 0; i < s->ndecls && len < sizeof list; i++) {
        const Node *n = s->decls[i].node;
        if (n->kind != N_STRATEGY || sema_lookup(s, s->p->root, n->name) != &s->decls[i])
            continue;
        SKind k = decl_kind(n);
        if (k == SK_DATA || (k == SK_PARAMS && p))
            len += (size_t)snprintf(list + len, sizeof list - len, ", %s", n->name);
    }
    sema_note_plain(s, "strategies that fit model '%s': %s", s->typed.models[0].name, list);
}

void sema_check_decompose(Sema *s, const Node *e, int fit)
{
    const Node *inner;
    SKind k = strategy_expr(s, e, &inner);
    if (!fit || k == SK_ERR || k == SK_DATA || s->typed.nmodels == 0)
        return;
    char why[512];
    int ok = k == SK_PARAMS ? params_fits(s, why, sizeof why)
           : k == SK_MGRIT ? mgrit_fits(s, why, sizeof why) : admm_fits(s, why, sizeof why);
    if (!ok) {
        sema_error(s, inner->span, "%s", why);
        fit_note(s);
    }
}
