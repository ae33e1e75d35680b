/* sema_strategy.c - strategy declarations, `decompose = ...`, and whether
 * the chosen strategy fits the model.
 *
 * A strategy is classified by what it splits: data (always fits), params
 * (needs two stages), layers(mgrit) (a repeat block of residual steps that
 * keep their shapes, and a loss without input derivatives), layers(admm) (a
 * chain of dense layers and elementwise activations), grid (its rows must
 * fit, its columns split data).  As in Halide's scheduling errors, a
 * rejection names what was rejected and lists every strategy that would fit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema_internal.h"

/* SK_PARAMS_LAYER: split params by layer (fits with two layers, even in one stage) */
typedef enum SKind { SK_ERR, SK_DATA, SK_PARAMS, SK_PARAMS_LAYER, SK_MGRIT, SK_ADMM, SK_GRID, SK_NEURONS, SK_MULTI } SKind;

/* ---- the method table libexa runs (runtime/include/exa/methods.def) ----------- */

enum { FIT_ANY, FIT_STAGES, FIT_REPEAT, FIT_ROWS, FIT_CHAIN, FIT_DENSE, FIT_MULTI, FIT_LEVEL };
enum { DATA_GRADIENT = 1, DATA_LOCAL = 2, PARAMS = 4 }; /* the fit-set bits */

static const struct {
    const char *name;
    int fit;
} methods[] = {
#define EXA_METHOD(name, id, ops, args, fit) { #name, FIT_##fit },
#include "exa/methods.def"
};

typedef struct Word {
    const char *word;
    int fits;
} Word;

static const Word combine_words[] = {
#define EXA_COMBINE(word, id, fits) { #word, fits },
#include "exa/methods.def"
    { NULL, 0 }
};

static const Word global_words[] = {
#define EXA_GLOBAL(word, id, fits) { #word, fits },
#include "exa/methods.def"
    { NULL, 0 }
};

static const char *const relaxes[] = {
#define EXA_RELAX(word, sweeps) #word,
#include "exa/methods.def"
    NULL
};

static const char *const batches_words[] = {
#define EXA_BATCHES(word, id) #word,
#include "exa/methods.def"
    NULL
};

static const char *const weight_words[] = {
#define EXA_WEIGHT(word, id) #word,
#include "exa/methods.def"
    NULL
};

/* The fit rule of a built-in method, or -1 when name is none. */
static int method_fit(const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (!strcmp(methods[i].name, name))
            return methods[i].fit;
    return -1;
}

static const Word *find_word(const Word *w, const char *name)
{
    for (; name && w->word; w++)
        if (!strcmp(w->word, name))
            return w;
    return NULL;
}

/* "a, b or c": the words of table w (all, or those fitting where). */
static const char *word_list(Sema *s, const Word *w, int where)
{
    const char *names[16];
    int n = 0;
    for (; w->word && n < 16; w++) /* `optimizer` stands for the others: not listed */
        if ((!where || (w->fits & where)) && strcmp(w->word, "optimizer") != 0)
            names[n++] = w->word;
    char buf[256] = "";
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                                names[i]);
    return sema_fmt(s, "%s", buf);
}

static int is_word(const Node *e, const char *const *words)
{
    if (e->kind != N_NAME)
        return 0;
    for (int i = 0; words[i]; i++)
        if (!strcmp(e->name, words[i]))
            return 1;
    return 0;
}

static const Node *named_arg(const Node *e, const char *name);

static const char *const word_args[] = { "line_search", "model", "relax", "batches", NULL };

/* Named arguments of a builtin call, their values by the shared rules. */
static int in_list(const char *name, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (!strcmp(name, words[i]))
            return 1;
    return 0;
}

/* local: the call is a strategy's local solver (batches: is allowed). */
static int builtin_call_args(Sema *s, const Module *m, const Node *e, const Builtin *bi, const Node *strategy,
                             int local)
{
    const Node *pos[16], *named[16];
    int np, nn;
    if (!sema_builtin_args(s, e, bi, pos, &np, named, &nn))
        return 0;
    /* the methods of methods.def take strategies and words: checked by the caller */
    if (method_fit(bi->name) >= 0)
        return 1;
    for (int i = 0; i < nn; i++) {
        const Node *a = named[i];
        if (!strcmp(a->name, "batches") && !local) {
            sema_error(s, a->span, "'batches' is for a strategy's local solver: local %s(..., batches: successive)",
                       bi->name);
            return 0;
        }
        if (in_list(a->name, word_args) && a->a->kind == N_NAME) {
            if (!strcmp(a->name, "relax") && !is_word(a->a, relaxes)) {
                sema_error(s, a->a->span, "unknown relaxation '%s'; expected F, FCF or FCFCF", a->a->name);
                if (!strcmp(a->a->name, "FC"))
                    sema_note_plain(s, "FC relaxation is not implemented; FCF is F, C, then F again");
                return 0;
            }
            if (!strcmp(a->name, "batches") && !is_word(a->a, batches_words)) {
                sema_error(s, a->a->span, "'batches' is 'same' or 'successive', not '%s'", a->a->name);
                return 0;
            }
            continue;
        }
        if (!strcmp(a->name, "relax") || !strcmp(a->name, "batches")) {
            sema_error(s, a->a->span, "'%s' must be %s", a->name,
                       a->name[0] == 'r' ? "F, FCF or FCFCF" : "'same' or 'successive'");
            return 0;
        }
        Val v = sema_const_expr(s, m, a->a, strategy);
        sema_check_setting_value(s, sema_fmt(s, "'%s'", bi->name), a, &v);
    }
    return 1;
}

static const Node *named_arg(const Node *e, const char *name);

static void check_optimizer(Sema *s, const Module *m, const Node *e, const Node *strategy, int local)
{
    const Builtin *bi = e->kind == N_CALL || e->kind == N_NAME ? sema_builtin(e->name, B_OPTIMIZER) : NULL;
    if (!bi || e->kind != N_CALL) {
        sema_error(s, e->span, bi ? "call the optimiser: '%s()'" : "expected an optimiser%s", bi ? bi->name : "");
        sema_note_plain(s, "optimisers: sgd, adam, adamw, lbfgs, trust_region");
        return;
    }
    if (!builtin_call_args(s, m, e, bi, strategy, local) || strcmp(bi->name, "sgd") != 0)
        return;
    /* Nesterov momentum needs momentum (torch.optim.SGD refuses it too) */
    const Node *nest = named_arg(e, "nesterov"), *mom = named_arg(e, "momentum");
    Val nv = nest ? sema_const_expr(s, m, nest, strategy) : val_err();
    Val mv = mom ? sema_const_expr(s, m, mom, strategy) : val_int(dim_const(0));
    int on = nv.kind == V_INT && dim_known(nv.i) && nv.i.v == 1;
    int zero = (mv.kind == V_INT && dim_known(mv.i) && mv.i.v == 0) || (mv.kind == V_NUM && mv.num_known && mv.num == 0);
    if (on && zero)
        sema_error(s, nest->span, "Nesterov momentum needs momentum: give 'momentum' a value in (0, 1)");
}

void sema_check_optimizer(Sema *s, const Module *m, const Node *e, const Node *strategy)
{
    check_optimizer(s, m, e, strategy, 0);
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
    const Node *into = st->a;
    if (into->kind == N_NAME && !strcmp(into->name, "ranks"))
        return;
    if (into->kind == N_CALL && !strcmp(into->name, "ranks")) { /* ranks(overlap: k, per_block: m) */
        for (int i = 0; i < into->list.len; i++) {
            const Node *a = into->list.items[i];
            if (a->kind != N_NAMED_ARG || (strcmp(a->name, "overlap") != 0 && strcmp(a->name, "per_block") != 0)) {
                sema_error(s, a->span, "'ranks' takes 'overlap' and 'per_block'");
                return;
            }
            if (!strcmp(a->name, "overlap") && !params) {
                sema_error(s, a->span, "'overlap' needs 'split params': under split data every rank holds every "
                                       "parameter");
                return;
            }
            Val v = sema_const_expr(s, m, a->a, strat);
            sema_check_setting_value(s, "'ranks'", a, &v);
        }
        return;
    }
    if (into->kind == N_LIST && params) { /* [[0, 1], [1, 2, 3]]: one block per rank */
        for (int i = 0; i < into->list.len; i++) {
            const Node *b = into->list.items[i];
            if (b->kind != N_LIST || b->list.len == 0) {
                sema_error(s, b->span, "a block is a list of %s indices, like [0, 1]", st->b ? st->b->name : "stage");
                return;
            }
            for (int k = 0; k < b->list.len; k++) {
                Val v = sema_const_expr(s, m, b->list.items[k], strat);
                if (v.kind != V_ERR && (v.kind != V_INT || (dim_known(v.i) && v.i.v < 0))) {
                    sema_error(s, b->list.items[k]->span, "a block lists %s indices: non-negative integers",
                               st->b ? st->b->name : "stage");
                    return;
                }
            }
        }
        return;
    }
    sema_error(s, into->span, "split into 'ranks', 'ranks(overlap: k, per_block: m)'%s",
               params ? " or a list of blocks like [[0, 1], [1, 2]]" : "");
    sema_note_plain(s, "a fixed number of groups is not supported: every rank (or per_block ranks) is one group "
                       "(docs/strategies.md)");
}

static void check_step(Sema *s, const Node *e, const Node *strat, const Module *m, int global)
{
    const char *const words[] = { global ? "plain" : "gradient", global ? "optimizer" : NULL, global ? "secant" : NULL,
                                  NULL };
    if (is_word(e, words))
        return;
    if (global && e->kind == N_CALL && !strcmp(e->name, "secant")) { /* G-ASPIN's outer step */
        for (int i = 0; i < e->list.len; i++) {
            const Node *a = e->list.items[i];
            if (a->kind != N_NAMED_ARG || strcmp(a->name, "history") != 0) {
                sema_error(s, a->span, "'secant' takes 'history' (the L-BFGS pairs of F it keeps)");
                return;
            }
            Val v = sema_const_expr(s, m, a->a, strat);
            sema_check_setting_value(s, "'secant'", a, &v);
        }
        return;
    }
    if (e->kind == N_CALL && sema_builtin(e->name, B_OPTIMIZER)) {
        check_optimizer(s, m, e, strat, !global);
        return;
    }
    sema_error(s, e->span, global ? "'global' takes an optimiser call, 'plain', 'secant' or 'optimizer'"
                                  : strat ? "'local' takes an optimiser call, 'gradient' or a declared strategy"
                                          : "'local' takes an optimiser call or 'gradient'"); /* params(local:) */
}

/* combine WORD;  combine WORD(every: k);  combine weighted(by: W[, every: k]); */
static void check_combine(Sema *s, const Node *e, const Node *strat, const Module *m)
{
    if ((e->kind != N_NAME && e->kind != N_CALL) || !find_word(combine_words, e->name)) {
        sema_error(s, e->span, "unknown way to combine");
        sema_note_plain(s, "combine: %s", word_list(s, combine_words, 0));
        if (e->kind == N_NAME && !strcmp(e->name, "sum"))
            sema_note_plain(s, "the sum of the corrections is 'additive'");
        return;
    }
    int weighted = !strcmp(e->name, "weighted"), by = 0;
    for (int i = 0; e->kind == N_CALL && i < e->list.len; i++) {
        const Node *a = e->list.items[i];
        if (a->kind == N_NAMED_ARG && !strcmp(a->name, "every")) {
            Val v = sema_const_expr(s, m, a->a, strat);
            sema_check_setting_value(s, sema_fmt(s, "'combine %s'", e->name), a, &v);
        } else if (a->kind == N_NAMED_ARG && !strcmp(a->name, "by") && weighted) {
            by = 1;
            for (int k = 0; strat && a->a->kind == N_NAME && k < strat->list.len; k++)
                if (!strcmp(strat->list.items[k]->name, a->a->name)) { /* the formal would replace the word */
                    sema_error(s, a->a->span, "'%s' is a formal of '%s' here, not the weight; rename the formal",
                               a->a->name, strat->name);
                    return;
                }
            if (!is_word(a->a, weight_words)) {
                sema_error(s, a->a->span, "combine weighted(by: ...) weighs by size, decrease or overlap");
                return;
            }
        } else {
            sema_error(s, a->span, "'combine %s' takes %s", e->name, weighted ? "'by' and 'every'" : "'every'");
            return;
        }
    }
    if (weighted && !by)
        sema_error(s, e->span, "'combine weighted' needs its weights: weighted(by: size), (by: decrease) or "
                               "(by: overlap)");
}

static const Node *every_of(const Node *combine)
{
    return combine->kind == N_CALL ? named_arg(combine, "every") : NULL;
}

static const Node *named_arg(const Node *e, const char *name);

static int is_successive(const Node *local)
{
    const Node *b = local && local->kind == N_CALL ? named_arg(local, "batches") : NULL;
    return b && b->kind == N_NAME && !strcmp(b->name, "successive");
}

/* Whether split x local x combine x global runs (methods.def's fit sets):
 * an error at the first primitive that does not fit where it stands, with
 * a note listing what does.  optimizer: the train block's optimiser. */
static void check_combination(Sema *s, int params, const Node *local, const Node *combine, const Node *global,
                              const Node *optimizer, int resolve)
{
    int gradient = local->kind == N_NAME && !strcmp(local->name, "gradient");
    const char *split = params ? "split params" : "split data";
    if (params && gradient) {
        sema_error(s, local->span, "'local gradient' takes no step on a block of parameters; it needs 'split data'");
        sema_note_plain(s, "under split params, local: an optimiser call");
        return;
    }
    int where = params ? PARAMS : gradient ? DATA_GRADIENT : DATA_LOCAL;
    const char *ctx = params ? split : gradient ? "split data with local gradient" : "split data with a local solver";
    const Word *c = combine->kind == N_NAME || combine->kind == N_CALL ? find_word(combine_words, combine->name)
                                                                        : NULL;
    if (c && !(c->fits & where)) {
        sema_error(s, combine->span, "'combine %s' does not run under %s", c->word, ctx);
        sema_note_plain(s, "under %s, combine: %s", ctx, word_list(s, combine_words, where));
        return;
    }
    const char *gname = global->kind == N_NAME || global->kind == N_CALL ? global->name : NULL;
    const char *resolved = gname && !strcmp(gname, "optimizer") ? (optimizer ? optimizer->name : "sgd") : gname;
    const Word *g = find_word(global_words, resolved);
    if (!resolve && resolved != gname)
        g = find_word(global_words, gname); /* the train block may not be known yet: at decompose */
    if (g && !(g->fits & where)) {
        if (resolved != gname)
            sema_error(s, global->span, "'global optimizer' is the train block's %s, which does not run under %s",
                       resolved, ctx);
        else
            sema_error(s, global->span, "'global %s' does not run under %s", gname, ctx);
        sema_note_plain(s, "under %s, global: %s", ctx, word_list(s, global_words, where));
        return;
    }
    const Node *every = every_of(combine);
    if (every && (gradient || is_successive(local) || (c && !strcmp(c->word, "multiplicative"))
                  || !g || strcmp(g->word, "plain") != 0)) {
        sema_error(s, every->span, "'every' needs a local solver, 'global plain' and a combination other than "
                                   "multiplicative");
        sema_note_plain(s, "a round of local solves on k successive mini-batches ends by taking the combined "
                           "correction as it is");
        return;
    }
    if (is_successive(local) && (params || !g || strcmp(g->word, "plain") != 0)) {
        sema_error(s, local->span, "'batches: successive' needs 'split data' and 'global plain'");
        sema_note_plain(s, "a round of local steps on successive mini-batches ends by taking the combined "
                           "correction as it is");
    }
}

static SKind user_strategy(Sema *s, const Node *e, Decl *d, const Node *outer);

/* The declared strategy a `local` names (nesting), or NULL. */
static Decl *nested_strategy(Sema *s, const Module *m, const Node *e)
{
    if (e->kind != N_CALL && e->kind != N_NAME)
        return NULL;
    Decl *d = sema_lookup(s, m, e->name);
    return d && d->node->kind == N_STRATEGY ? d : NULL;
}

static const Node *statement(const Node *strategy, NodeKind kind)
{
    for (int i = 0; i < strategy->list2.len; i++)
        if (strategy->list2.items[i]->kind == kind)
            return strategy->list2.items[i];
    return NULL;
}

/* The groups of ranks a split gives, and the nested strategy that needs
 * them: a nested strategy splits the other way (data inside a block of
 * parameters, or parameters inside a micro-batch) over the ranks of its
 * group, so the outer split must give each group several (per_block); it
 * does not solve a trust-region subproblem, and runs its groups side by
 * side (not multiplicatively). */
static void check_blocks(Sema *s, const Node *outer, const Node *split, Decl *inner, const Node *combine,
                         const Node *global)
{
    const Node *into = split->a, *per = into->kind == N_CALL ? named_arg(into, "per_block") : NULL;
    Val pv = per ? sema_const_expr(s, s->p->root, per, outer) : val_err();
    int several = per && !(pv.kind == V_INT && dim_known(pv.i) && pv.i.v <= 1);
    int params = !strcmp(split->name, "params");
    if (!inner) {
        if (per) {
            sema_error(s, per->span, "'per_block' gives each block several ranks, which only a nested local "
                                     "strategy uses");
            sema_note_plain(s, "local: a declared strategy, like 'local sapts();' under split params");
        }
        return;
    }
    const Node *in = inner->node, *local = statement(outer, N_LOCAL)->a;
    const Node *isplit = statement(in, N_SPLIT), *ilocal = statement(in, N_LOCAL);
    if (!isplit || !ilocal)
        return;
    if (!strcmp(isplit->name, split->name)) {
        sema_error(s, local->span, "'%s' splits %s, as '%s' does; a nested strategy splits the other way", in->name,
                   split->name, outer->name);
        sema_note_plain(s, "under split %s, local: a strategy that splits %s", split->name, params ? "data" : "params");
        return;
    }
    if (nested_strategy(s, inner->module, ilocal->a)) {
        sema_error(s, local->span, "'%s' nests a strategy itself; strategies nest one level deep", in->name);
        return;
    }
    if (!several) {
        sema_error(s, into->span, "the nested '%s' splits %s over the ranks of a %s, but this split gives each "
                   "one rank", in->name, isplit->name, params ? "block" : "micro-batch");
        sema_note_plain(s, "write 'into ranks(per_block: 2)': each %s then has 2 ranks to split",
                        params ? "block" : "micro-batch");
        return;
    }
    if (global->a->kind == N_CALL && !strcmp(global->a->name, "trust_region")) {
        sema_error(s, global->a->span, "a nested local strategy does not solve the trust-region subproblem; "
                                       "'global trust_region' does not fit it");
        sema_note_plain(s, "with a nested local, global: %s", params ? "plain, lbfgs or secant" : "plain or secant");
        return;
    }
    if (!strcmp(combine->a->name, "multiplicative")) {
        sema_error(s, combine->a->span, "a nested local strategy runs its blocks side by side, not one after another");
        sema_note_plain(s, "with a nested local, combine: additive, average, restricted or weighted");
    }
}

/* coarse OPTIMIZER [additive | multiplicative];  (two-level Schwarz) */
static void check_coarse(Sema *s, const Node *st, const Node *strat, const Module *m)
{
    if (st->a->kind == N_CALL && sema_builtin(st->a->name, B_OPTIMIZER))
        check_optimizer(s, m, st->a, strat, 1);
    else
        sema_error(s, st->a->span, "'coarse' takes an optimiser call (the coarse network's solver)");
    if (st->b && strcmp(st->name, "additive") != 0 && strcmp(st->name, "multiplicative") != 0) {
        sema_error(s, st->b->span, "unknown coarse correction '%s'", st->name);
        sema_note_plain(s, "a coarse correction is additive (beside the local solves) or multiplicative "
                           "(after them)");
        return;
    }
    /* the hierarchy's options, as multilevel(mgopt(...)) takes them (multilevel.c):
     * cfactor >= 2, prolong constant | linear; the restriction is injection */
    for (int i = 0; st->b && st->b->kind == N_CALL && i < st->b->list.len; i++) {
        const Node *a = st->b->list.items[i];
        const char *owner = sema_fmt(s, "'coarse ... %s'", st->name);
        if (a->kind == N_NAMED_ARG && !strcmp(a->name, "cfactor")) {
            Val v = sema_const_expr(s, m, a->a, strat);
            int before = s->d->errors;
            sema_check_setting_value(s, owner, a, &v);
            if (s->d->errors == before && v.kind == V_INT && dim_known(v.i) && v.i.v < 2)
                sema_error(s, a->a->span, "'cfactor' of %s must be at least 2", owner);
        } else if (a->kind == N_NAMED_ARG && !strcmp(a->name, "prolong")) {
            if (a->a->kind != N_NAME || (strcmp(a->a->name, "constant") && strcmp(a->a->name, "linear")))
                sema_error(s, a->a->span, "'prolong' of %s is 'constant' or 'linear'", owner);
        } else if (a->kind == N_NAMED_ARG && !strcmp(a->name, "restrict")) {
            sema_error(s, a->span, "the coarse level's restriction is injection (coarse step k takes fine step k "
                                   "cfactor), fixed: there is no other to choose");
            sema_note_plain(s, "multilevel(...) takes none either; its transfers are exa/hierarchy.h's");
        } else {
            sema_error(s, a->span, "'coarse ... %s' takes 'cfactor' and 'prolong'", st->name);
            sema_note_plain(s, "for example: coarse lbfgs(steps: 5) %s(cfactor: 3, prolong: linear);", st->name);
        }
    }
}

/* The literal cfactor of a coarse statement: 2 when none is given or it is
 * a formal (whose value exa/hierarchy.h checks at start-up). */
static long coarse_cfactor(const Node *co)
{
    const Node *b = co ? co->b : NULL;
    for (int i = 0; b && b->kind == N_CALL && i < b->list.len; i++) {
        const Node *a = b->list.items[i];
        if (a->kind == N_NAMED_ARG && !strcmp(a->name, "cfactor") && a->a->kind == N_INT && a->a->ival >= 2)
            return a->a->ival;
    }
    return 2;
}

/* The `coarse` statement of a strategy declaration, or NULL. */
static const Node *coarse_stmt(const Node *strategy)
{
    for (int i = 0; strategy && i < strategy->list2.len; i++)
        if (strategy->list2.items[i]->kind == N_COARSE)
            return strategy->list2.items[i];
    return NULL;
}

void sema_check_strategy_decl(Sema *s, Decl *d)
{
    static const NodeKind kinds[4] = { N_SPLIT, N_LOCAL, N_COMBINE, N_GLOBAL };
    static const char *const names[4] = { "split", "local", "combine", "global" };
    const Node *first[4] = {0};
    Decl *inner = NULL;
    Node *n = d->node;
    int errors = s->d->errors;
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
        if (st->kind == N_COARSE) {
            if (coarse_stmt(n) != st) {
                sema_error(s, st->span, "strategy '%s' has a second 'coarse'", n->name);
                sema_note(s, coarse_stmt(n)->span, "the first 'coarse' is here");
            } else {
                check_coarse(s, st, n, d->module);
            }
        }
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
        case N_LOCAL:
            if (!(inner = nested_strategy(s, d->module, st->a)))
                check_step(s, st->a, n, d->module, 0);
            else if (user_strategy(s, st->a, inner, n) == SK_ERR)
                inner = NULL;
            break;
        case N_COMBINE: check_combine(s, st->a, n, d->module); break;
        default: check_step(s, st->a, n, d->module, 1); break;
        }
    }
    for (int k = 0; k < 4; k++)
        if (!first[k])
            sema_error(s, n->span, "strategy '%s' has no '%s'", n->name, names[k]);
    const Node *co = coarse_stmt(n);
    if (co && first[1] && is_word(first[1]->a, (const char *const[]){ "gradient", NULL }))
        sema_error(s, co->span, "a coarse correction needs local solves; 'local gradient' takes none");
    if (co && inner)
        sema_error(s, co->span, "a coarse correction goes in the outer strategy, not beside a nested local");
    if (inner && coarse_stmt(inner->node))
        sema_error(s, first[1]->a->span, "strategy '%s' has a coarse correction; a nested local strategy cannot "
                   "have one", inner->node->name);
    if (s->d->errors == errors && first[0] && first[1] && first[2] && first[3])
        check_combination(s, !strcmp(first[0]->name, "params"), first[1]->a, first[2]->a, first[3]->a,
                          NULL, 0);
    if (s->d->errors == errors && first[0])
        check_blocks(s, n, first[0], inner, first[2], first[3]);
}

static SKind decl_kind(const Node *strategy)
{
    for (int i = 0; i < strategy->list2.len; i++) {
        const Node *st = strategy->list2.items[i];
        if (st->kind == N_SPLIT)
            return !strcmp(st->name, "params") ? (st->b && !strcmp(st->b->name, "layer") ? SK_PARAMS_LAYER : SK_PARAMS)
                 : !strcmp(st->name, "data") ? SK_DATA : SK_ERR;
    }
    return SK_ERR;
}

/* ---- decompose = ... ----------------------------------------------------------- */

/* The index of the first formal of fn that e mentions, or -1. */
static int formal_in(const Node *fn, const Node *e)
{
    if (!e)
        return -1;
    if (e->kind == N_NAME)
        for (int k = 0; k < fn->list.len; k++)
            if (!strcmp(fn->list.items[k]->name, e->name))
                return k;
    int k = formal_in(fn, e->a);
    if (k < 0)
        k = formal_in(fn, e->b);
    for (int i = 0; k < 0 && i < e->list.len; i++)
        k = formal_in(fn, e->list.items[i]);
    return k;
}

/* Every named argument inside fn's body that a formal reaches, checked by
 * the shared value rules with the formals bound: `sapts(local_steps: 0)` is
 * `trust_region(steps: 0)`, refused at the argument given. */
static void check_bound(Sema *s, const Decl *d, const Node *call, const Node *const *given, const Val *vals,
                        const Node *e)
{
    const Node *fn = d->node;
    if (!e || (e->kind != N_CALL && e->kind != N_LIST))
        return;
    for (int i = 0; i < e->list.len; i++) {
        const Node *a = e->list.items[i], *x = a->kind == N_NAMED_ARG ? a->a : a;
        check_bound(s, d, call, given, vals, x);
        int k = a->kind == N_NAMED_ARG ? formal_in(fn, x) : -1;
        if (k < 0)
            continue;
        Val v = sema_bound_expr(s, d->module, x, fn, vals);
        const Node *at = x->kind == N_NAME && given[k] ? given[k] : call;
        Node fake = { .kind = N_NAMED_ARG, .name = a->name, .span = at->span };
        fake.a = (Node *)(at->kind == N_NAMED_ARG ? at->a : at);
        int before = s->d->errors;
        sema_check_setting_value(s, sema_fmt(s, "'%s' in '%s'", e->name, fn->name), &fake, &v);
        if (s->d->errors != before)
            sema_note(s, x->span, "'%s' passes '%s' to it here", fn->name, fn->list.items[k]->name);
    }
}

static SKind user_strategy(Sema *s, const Node *e, Decl *d, const Node *outer)
{
    Val vals[64];
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
        Val v = sema_const_expr(s, s->p->root, a->kind == N_NAMED_ARG ? a->a : a, outer);
        vals[k] = v;
        if (v.kind != V_ERR && v.kind != V_INT && !(v.kind == V_NUM && f->a->kind == N_TYPE_FLOAT))
            sema_error(s, a->span, "argument '%s' of '%s' must be %s", f->name, fn->name,
                       f->a->kind == N_TYPE_INT ? "an integer" : "a number");
    }
    for (int k = 0; k < fn->list.len; k++) {
        if (!given[k] && !fn->list.items[k]->b) {
            sema_error(s, e->span, "missing argument '%s' in call of '%s'", fn->list.items[k]->name, fn->name);
            sema_note(s, fn->list.items[k]->span, "'%s' declared here", fn->list.items[k]->name);
            return SK_ERR;
        }
        if (!given[k])
            vals[k] = sema_const_expr(s, d->module, fn->list.items[k]->b, NULL);
    }
    int errors = s->d->errors;
    for (int i = 0; i < fn->list2.len; i++) {
        check_bound(s, d, e, given, vals, fn->list2.items[i]->a);
        if (fn->list2.items[i]->kind == N_COARSE) /* additive(cfactor: cf) */
            check_bound(s, d, e, given, vals, fn->list2.items[i]->b);
    }
    if (s->d->errors != errors)
        return SK_ERR;
    SKind kind = decl_kind(fn);
    const Node *local = statement(fn, N_LOCAL);
    Decl *inner = local ? nested_strategy(s, d->module, local->a) : NULL;
    if (kind == SK_DATA && inner && decl_kind(inner->node) != SK_DATA)
        return decl_kind(inner->node); /* parameters split inside the micro-batches: they must split */
    return kind;
}

static const Node *named_arg(const Node *e, const char *name)
{
    for (int i = 0; i < e->list.len; i++)
        if (e->list.items[i]->kind == N_NAMED_ARG && !strcmp(e->list.items[i]->name, name))
            return e->list.items[i]->a;
    return NULL;
}

/* A user strategy in decompose: its `global optimizer` is now known. */
static void check_user_global(Sema *s, const Node *decl)
{
    const Node *st[4] = {0};
    static const NodeKind kinds[4] = { N_SPLIT, N_LOCAL, N_COMBINE, N_GLOBAL };
    for (int i = 0; i < decl->list2.len; i++)
        for (int k = 0; k < 4; k++)
            if (decl->list2.items[i]->kind == kinds[k] && !st[k])
                st[k] = decl->list2.items[i];
    if (s->d->errors || !st[0] || !st[1] || !st[2] || !st[3])
        return;
    const Node *g = st[3]->a;
    if (g->kind == N_NAME && !strcmp(g->name, "optimizer"))
        check_combination(s, !strcmp(st[0]->name, "params"), st[1]->a, st[2]->a, g, s->typed.train.optimizer, 1);
}

/* params(by: stage | layer, groups: ranks, local:, combine:, global:) */
static SKind params_call(Sema *s, const Node *e)
{
    const Module *root = s->p->root;
    static const char *const by[] = { "stage", "layer", NULL };
    const Node *a;
    int errors = s->d->errors;
    if ((a = named_arg(e, "by")) && !is_word(a, by))
        sema_error(s, a->span, "params are split by 'stage' or by 'layer'");
    if ((a = named_arg(e, "groups")) && !(a->kind == N_NAME && !strcmp(a->name, "ranks"))) {
        sema_error(s, a->span, "'groups' must be 'ranks': every rank is one group");
        sema_note_plain(s, "a number of groups other than the ranks is not supported (docs/strategies.md)");
    }
    const Node *local = named_arg(e, "local"), *combine = named_arg(e, "combine"), *global = named_arg(e, "global");
    if (local)
        check_step(s, local, NULL, root, 0);
    if (combine)
        check_combine(s, combine, NULL, root);
    if (global)
        check_step(s, global, NULL, root, 1);
    /* without local or global: the train block's optimiser (sgd without one) */
    const Node *train = s->typed.train.optimizer;
    const char *tname = train ? train->name : "sgd";
    Node optimizer_word = { .kind = N_NAME, .name = "optimizer", .span = e->span };
    Node additive = { .kind = N_NAME, .name = "additive", .span = e->span };
    const Word *g = find_word(global_words, tname);
    if (s->d->errors != errors) {
        /* the arguments are wrong already */
    } else if (!global && g && !(g->fits & PARAMS)) {
        sema_error(s, e->span, "'params' without 'global' takes the train block's optimiser, %s, which does not "
                               "run under split params", tname);
        sema_note_plain(s, "under split params, global: %s", word_list(s, global_words, PARAMS));
    } else {
        check_combination(s, 1, local ? local : train ? train : &optimizer_word, combine ? combine : &additive,
                          global ? global : &optimizer_word, train, 1);
    }
    a = named_arg(e, "by");
    return a && a->kind == N_NAME && !strcmp(a->name, "layer") ? SK_PARAMS_LAYER : SK_PARAMS;
}

/* The values of mgopt(...) and rmtr(...)'s arguments (runtime/methods/
 * mgopt.c, rmtr.c): the shared rules, then what they mean together. */
static int multilevel_args(Sema *s, const Module *root, const Node *m)
{
    int errors = s->d->errors;
    const char *owner = sema_fmt(s, "'%s'", m->name), *who = m->name;
    double radius = 1, max_radius = 10, accept = 0.05, very_good = 0.9;
    for (int i = 0; i < m->list.len; i++) {
        const Node *a = m->list.items[i];
        if (a->kind != N_NAMED_ARG)
            continue;
        if (!strcmp(a->name, "prolong")) {
            if (a->a->kind != N_NAME || (strcmp(a->a->name, "constant") && strcmp(a->a->name, "linear")))
                sema_error(s, a->a->span, "'prolong' of %s is 'constant' or 'linear'", owner);
            continue;
        }
        Val v = sema_const_expr(s, root, a->a, NULL);
        sema_check_setting_value(s, owner, a, &v);
        double x = v.kind == V_INT && dim_known(v.i) ? (double)v.i.v : v.kind == V_NUM && v.num_known ? v.num : NAN;
        if (!strcmp(a->name, "cfactor") && x == 1)
            sema_error(s, a->a->span, "'cfactor' of %s must be at least 2", owner);
        else if (!strcmp(a->name, "levels") && x > 16)
            sema_error(s, a->a->span, "'levels' of %s must be at most 16", owner);
        if (!isnan(x)) {
            if (!strcmp(a->name, "radius"))
                radius = x;
            else if (!strcmp(a->name, "max_radius"))
                max_radius = x;
            else if (!strcmp(a->name, "accept"))
                accept = x;
            else if (!strcmp(a->name, "very_good"))
                very_good = x;
        }
    }
    if (s->d->errors != errors)
        return 0;
    if (max_radius < radius) {
        sema_error(s, m->span, "%s's max_radius (%g) is below its radius (%g)", who, max_radius, radius);
        return 0;
    }
    if (very_good <= accept) {
        sema_error(s, m->span, "%s's very_good (%g) must exceed accept (%g): a step good enough to widen the "
                   "radius is one good enough to take", who, very_good, accept);
        return 0;
    }
    return 1;
}

/* The declared strategy e calls, or NULL. */
static Decl *declared_strategy(Sema *s, const Node *e)
{
    Decl *d = e->kind == N_CALL || e->kind == N_NAME ? sema_lookup(s, s->p->root, e->name) : NULL;
    return d && d->node->kind == N_STRATEGY ? d : NULL;
}

/* The declared strategies a grid runs as its rows (data 0: splitting
 * params) or columns (data 1: splitting data, nesting none), without a
 * coarse correction: "a, b, c" or "none" (in sema's arena). */
static const char *grid_strategy_names(Sema *s, int data)
{
    char list[1024] = "";
    size_t len = 0;
    for (int i = 0; i < s->ndecls && len < sizeof list; i++) {
        const Node *n = s->decls[i].node;
        if (n->kind != N_STRATEGY || sema_lookup(s, s->p->root, n->name) != &s->decls[i] || coarse_stmt(n))
            continue;
        const Node *local = statement(n, N_LOCAL);
        SKind k = decl_kind(n);
        if (data ? k == SK_DATA && !(local && nested_strategy(s, s->decls[i].module, local->a))
                 : k == SK_PARAMS || k == SK_PARAMS_LAYER)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", n->name);
    }
    return sema_fmt(s, "%s", len ? list : "none");
}

/* A declared strategy (or params(...)) in a grid (runtime/methods/grid.c):
 * as the rows one splitting params beside cols: data(), as the columns one
 * splitting data beside rows: layers(mgrit(...)) or neurons(); neither with
 * a coarse correction (its hierarchy evaluates on its own communicator). */
static int grid_strategy_fits(Sema *s, const Node *rows, const Node *cols, Decl *rd, Decl *cd, int rows_params,
                              SKind r)
{
    for (int k = 0; k < 2; k++) {
        Decl *d = k ? cd : rd;
        const Node *co = d ? coarse_stmt(d->node) : NULL;
        if (co) {
            sema_error(s, (k ? cols : rows)->span, "strategy '%s' has a coarse correction, which does not run "
                       "inside a grid", d->node->name);
            sema_note(s, co->span, "the coarse correction is here");
            sema_note_plain(s, "a grid's %s: %s", k ? "columns" : "rows", grid_strategy_names(s, k));
            return 0;
        }
    }
    if (rd && decl_kind(rd->node) == SK_DATA) { /* parameters split inside its micro-batches */
        sema_error(s, rows->span, "'%s' splits data; a grid's rows are a strategy splitting params", rd->node->name);
        sema_note_plain(s, "strategies splitting params: %s", grid_strategy_names(s, 0));
        return 0;
    }
    if (rows_params && !(cols->kind == N_CALL && method_fit(cols->name) == FIT_ANY)) {
        sema_error(s, cols->span, "with a strategy splitting params as its rows, the columns of 'grid' are data()");
        sema_note_plain(s, "or rows: layers(mgrit(...)) or neurons() with columns: data() or one of %s",
                        grid_strategy_names(s, 1));
        return 0;
    }
    if (cd && r != SK_MGRIT && r != SK_NEURONS) {
        sema_error(s, rows->span, "with a declared strategy as its columns, the rows of 'grid' are "
                                  "layers(mgrit(...)) or neurons()");
        return 0;
    }
    return 1;
}

static SKind strategy_expr(Sema *s, const Node *e, const Node **inner)
{
    const Module *root = s->p->root;
    *inner = e;
    if (e->kind == N_CALL || e->kind == N_NAME) {
        Decl *d = sema_lookup(s, root, e->name);
        if (d && d->node->kind == N_STRATEGY) {
            SKind k = user_strategy(s, e, d, NULL);
            if (k != SK_ERR)
                check_user_global(s, d->node);
            return k;
        }
    }
    const Builtin *bi = e->kind == N_CALL ? sema_builtin(e->name, B_STRATEGY) : NULL;
    int fit = bi ? method_fit(bi->name) : -1;
    if (bi && (fit == FIT_CHAIN || (fit < 0 && !strcmp(bi->name, "mgrit")))) {
        sema_error(s, e->span, "'%s' is a layer-parallel method; write 'layers(%s(...))'", bi->name, bi->name);
        return SK_ERR;
    }
    if (bi && fit == FIT_LEVEL) {
        sema_error(s, e->span, "'%s' is a multilevel method; write 'multilevel(%s(...))'", bi->name, bi->name);
        return SK_ERR;
    }
    if (fit < 0) {
        sema_error(s, e->span, "'decompose' must be a strategy: data(), params(...), layers(...), grid(...) "
                               "or a declared strategy");
        if (e->kind == N_CALL || e->kind == N_NAME)
            sema_suggest(s, root, e->name, NULL);
        return SK_ERR;
    }
    if (!builtin_call_args(s, root, e, bi, NULL, 0))
        return SK_ERR;
    switch (fit) {
    case FIT_ANY:
        return SK_DATA;
    case FIT_DENSE:
        return SK_NEURONS;
    case FIT_STAGES:
        return params_call(s, e);
    case FIT_REPEAT: {
        const Node *m = e->list.items[0];
        const Builtin *mb = m->kind == N_CALL ? sema_builtin(m->name, B_STRATEGY) : NULL;
        if (!mb || (strcmp(mb->name, "mgrit") && strcmp(mb->name, "admm"))) {
            sema_error(s, m->span, "'layers' takes a layer-parallel method: mgrit(...) or admm(...)");
            if (mb && method_fit(mb->name) == FIT_LEVEL)
                sema_note_plain(s, "%s trains a hierarchy of coarsened networks: multilevel(%s(...))", mb->name,
                                mb->name);
            return SK_ERR;
        }
        if (!builtin_call_args(s, root, m, mb, NULL, 0))
            return SK_ERR;
        *inner = m;
        return mb->name[0] == 'm' ? SK_MGRIT : SK_ADMM;
    }
    case FIT_MULTI: {
        const Node *m = e->list.items[0];
        const Builtin *mb = m->kind == N_CALL ? sema_builtin(m->name, B_STRATEGY) : NULL;
        if (!mb || method_fit(mb->name) != FIT_LEVEL) {
            sema_error(s, m->span, "'multilevel' takes a multilevel method: mgopt(...) or rmtr(...)");
            return SK_ERR;
        }
        if (!builtin_call_args(s, root, m, mb, NULL, 0) || !multilevel_args(s, root, m))
            return SK_ERR;
        *inner = m;
        return SK_MULTI;
    }
    default:
        break;
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
    Decl *rd = declared_strategy(s, rows), *cd = declared_strategy(s, cols);
    if (r == SK_DATA || r == SK_GRID) {
        sema_error(s, rows->span, "the rows of 'grid' must split the model: params(...) or layers(...)");
        if (rd)
            sema_note_plain(s, "'%s' splits data; strategies splitting params: %s", rd->node->name,
                            grid_strategy_names(s, 0));
        return SK_ERR;
    }
    if (c != SK_DATA && c != SK_ERR) {
        sema_error(s, cols->span, "the columns of 'grid' must split data, like data()");
        if (cd)
            sema_note_plain(s, "strategies splitting data: %s", grid_strategy_names(s, 1));
        return SK_ERR;
    }
    if (r == SK_ERR || c == SK_ERR)
        return SK_ERR;
    int rows_params = rd || (rows->kind == N_CALL && method_fit(rows->name) == FIT_STAGES);
    int cols_data = cd || (cols->kind == N_CALL && method_fit(cols->name) == FIT_ANY);
    if (!grid_strategy_fits(s, rows, cols, rd, cd, rows_params, r))
        return SK_ERR;
    if (rows_params) { /* the fit of a split of params (runtime/methods/grid.c: grid_strategy) */
        *inner = rows;
        return r;
    }
    if (r == SK_NEURONS && cols_data) {
        *inner = rows;
        return SK_GRID;
    }
    if (r != SK_MGRIT || rows->kind != N_CALL || method_fit(rows->name) != FIT_REPEAT || !cols_data) {
        sema_error(s, r != SK_MGRIT || rows->kind != N_CALL ? rows->span : cols->span,
                   "libexa runs grid(rows: layers(mgrit(...)) or neurons(), cols: data() or a strategy splitting "
                   "data) and grid(rows: a strategy splitting params, cols: data()) only");
        return SK_ERR;
    }
    const Node *nested = named_arg(in == rows ? rows->list.items[0] : rows->list.items[0], "nested");
    if (nested) {
        Val v = sema_const_expr(s, root, nested, NULL);
        if (v.kind == V_INT && v.i.v != 0) {
            sema_error(s, nested->span, "nested iteration does not run inside a grid");
            return SK_ERR;
        }
    }
    *inner = rows->list.items[0];
    return SK_GRID;
}

/* The mgrit(...) call the decompose line runs, through layers(...) and the
 * rows of grid(...), or NULL: lowering generates the stage functions for it. */
const Node *sema_mgrit_call(const Node *d)
{
    if (!d || d->kind != N_CALL)
        return NULL;
    int fit = method_fit(d->name);
    if (fit == FIT_ROWS) {
        const Node *rows = named_arg(d, "rows");
        return rows ? sema_mgrit_call(rows) : NULL;
    }
    if (fit != FIT_REPEAT || d->list.len < 1)
        return NULL;
    const Node *m = d->list.items[0];
    if (m->kind == N_NAMED_ARG)
        m = m->a;
    return m->kind == N_CALL && !strcmp(m->name, "mgrit") ? m : NULL;
}

/* The mgopt(...) or rmtr(...) call of multilevel(...), or NULL: lowering
 * generates the stage functions for it as for mgrit. */
const Node *sema_multilevel_call(const Node *d)
{
    if (!d || d->kind != N_CALL || method_fit(d->name) != FIT_MULTI || d->list.len < 1)
        return NULL;
    const Node *m = d->list.items[0];
    if (m->kind == N_NAMED_ARG)
        m = m->a;
    return m->kind == N_CALL && method_fit(m->name) == FIT_LEVEL ? m : NULL;
}

/* The admm(...) call of layers(admm(...)), or NULL: lowering writes the
 * chain's layer records for it. */
const Node *sema_admm_call(const Node *d)
{
    if (!d || d->kind != N_CALL || method_fit(d->name) != FIT_REPEAT || d->list.len < 1)
        return NULL;
    const Node *m = d->list.items[0];
    if (m->kind == N_NAMED_ARG)
        m = m->a;
    return m->kind == N_CALL && method_fit(m->name) == FIT_CHAIN ? m : NULL;
}

/* Whether lowering writes the chain's layer records: layers(admm(...)),
 * neurons() and grid(rows: neurons(), ...) train the dense-relu chain. */
int sema_chain_records(const Node *d)
{
    if (!d || d->kind != N_CALL)
        return 0;
    if (sema_admm_call(d) || method_fit(d->name) == FIT_DENSE)
        return 1;
    const Node *rows = method_fit(d->name) == FIT_ROWS ? named_arg(d, "rows") : NULL;
    return rows && rows->kind == N_CALL && method_fit(rows->name) == FIT_DENSE;
}

/* ---- the fit ------------------------------------------------------------------- */

/* The chain neurons() splits (sema_chain.c, with the convolutional front). */
static int neurons_fits(Sema *s, char *why, size_t n)
{
    SemaChainLayer *chain = calloc(4096, sizeof *chain);
    int ok = chain && sema_layer_chain(&s->typed, chain, 4096, why, n, 1) > 0;
    free(chain);
    return ok;
}

/* batch_mean's statistics are of the whole mini-batch in one loss_grad
 * call (summed over ranks under split data); the stage and chain methods
 * evaluate the model in pieces, and the parameter splits step stages on
 * their own, so none of them can hold a batch's statistics. */
static int no_batch_stats(Sema *s, const char *what, char *why, size_t n)
{
    if (!s->uses_batch_stats)
        return 1;
    snprintf(why, n, "%s needs a model without batch statistics (batch_mean, batch_norm); they need "
             "the whole mini-batch in one pass: use a split data strategy", what);
    return 0;
}

/* The dense-relu chain pdADMM trains (sema_chain.c). */
static int admm_fits(Sema *s, char *why, size_t n)
{
    SemaChainLayer *chain = calloc(4096, sizeof *chain);
    int ok = chain && sema_admm_chain(&s->typed, chain, 4096, why, n) > 0;
    free(chain);
    return ok && no_batch_stats(s, "admm", why, n);
}

/* admm(grow: K) inserts the chain's square hidden layers (runtime/methods/
 * admm.c: an identity W = I needs as many outputs as inputs; neither the
 * first nor the output layer): refused on a chain without one. */
static void admm_grow_check(Sema *s, const Node *d)
{
    const Node *call = sema_admm_call(d), *grow = NULL;
    for (int i = 0; call && i < call->list.len; i++)
        if (call->list.items[i]->kind == N_NAMED_ARG && !strcmp(call->list.items[i]->name, "grow"))
            grow = call->list.items[i];
    if (!grow)
        return;
    SemaChainLayer *chain = calloc(4096, sizeof *chain);
    char why[512];
    int n = chain ? sema_admm_chain(&s->typed, chain, 4096, why, sizeof why) : 0, square = 0;
    const SemaModel *m = &s->typed.models[0];
    for (int l = 1; l < n - 1 && !square; l++) {
        size_t len = strlen(chain[l].path);
        for (int k = 0; k < m->nparams; k++) {
            const SemaParam *pa = &m->params[k];
            if (!strncmp(pa->path, chain[l].path, len) && pa->path[len] == '/' && pa->shape.rank == 2
                && pa->shape.dim[0] == pa->shape.dim[1])
                square = 1;
        }
    }
    if (n > 0 && !square) {
        sema_error(s, grow->a->span, "admm's grow inserts square hidden dense layers (W = I, b = 0); "
                   "model '%s' has none among its %d dense layers", m->name, n);
        sema_note_plain(s, "give a hidden dense layer as many outputs as inputs, or remove 'grow'");
    }
    free(chain);
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

/* 1 when e mentions name (as a variable). */
static int mentions(const Node *e, const char *name)
{
    if (!e)
        return 0;
    if (e->kind == N_NAME)
        return !strcmp(e->name, name);
    if (mentions(e->a, name) || mentions(e->b, name))
        return 1;
    for (int i = 0; i < e->list.len; i++)
        if (mentions(e->list.items[i], name))
            return 1;
    return 0;
}

static int is_name(const Node *e, const char *name)
{
    return e && e->kind == N_NAME && !strcmp(e->name, name);
}

static int is_one(const Node *e)
{
    return e && ((e->kind == N_INT && e->ival == 1) || (e->kind == N_FLOAT && e->num == 1.0));
}

/* 1 when e updates u in a form MGRIT can coarsen (lower_recur.c): u + F
 * (residual) or (u + a * n) / (1 + a) (implicit), directly or as what a
 * layer called with u as its first argument returns. */
static int recurrence_form(Sema *s, const Node *e, const char *u, int depth)
{
    if (!e || depth > 8)
        return 0;
    if (e->kind == N_BINARY && e->op == '+' && (is_name(e->a, u) || is_name(e->b, u)))
        return 1;
    if (e->kind == N_BINARY && e->op == '/' && e->a->kind == N_BINARY && e->a->op == '+'
        && (is_name(e->a->a, u) || is_name(e->a->b, u)) && e->b->kind == N_BINARY && e->b->op == '+'
        && (is_one(e->b->a) || is_one(e->b->b)))
        return 1;
    if (e->kind != N_CALL || e->list.len < 1 || !is_name(e->list.items[0], u))
        return 0;
    Decl *d = sema_lookup(s, s->p->root, e->name);
    const Node *decl = d ? d->node : NULL;
    if (!decl || (decl->kind != N_LAYER && decl->kind != N_FN) || decl->list.len < 1)
        return 0;
    const char *formal = decl->list.items[0]->name;
    const NodeList *body = &decl->list2;
    for (int i = body->len - 1; i >= 0; i--) {
        const Node *st = body->items[i];
        if (st->kind != N_RETURN)
            continue;
        const Node *r = st->a;
        for (int k = i - 1; r && r->kind == N_NAME && k >= 0; k--) /* return out; after out = ... */
            if (body->items[k]->kind == N_ASSIGN && !strcmp(body->items[k]->name, r->name))
                r = body->items[k]->a;
        return recurrence_form(s, r, formal, depth + 1);
    }
    return 0;
}

/* The for loop's carried values (assigned from themselves) all update in a
 * form recurrence_form accepts; else *who is the first that does not. */
static int recurrence_fits(Sema *s, const Node *loop, const char **who)
{
    for (int i = 0; i < loop->list.len; i++) {
        const Node *st = loop->list.items[i];
        if (st->kind != N_ASSIGN || !mentions(st->a, st->name))
            continue;
        if (!recurrence_form(s, st->a, st->name, 0)) {
            *who = st->name;
            return 0;
        }
    }
    return 1;
}

static int mgrit_fits(Sema *s, char *why, size_t n)
{
    const ModelBuild *found = NULL, *recurrence = NULL;
    for (int i = 0; i < s->typed.nmodels; i++) {
        if (s->builds[i].nrepeats)
            found = &s->builds[i];
        if (s->builds[i].nfors)
            recurrence = &s->builds[i];
    }
    if (!found && !recurrence) {
        snprintf(why, n, "mgrit needs a repeat block or a 'for' loop; model '%s' has neither",
                 s->typed.models[0].name);
        return 0;
    }
    const char *who = NULL;
    if (!found && !recurrence_fits(s, recurrence->for0, &who)) {
        snprintf(why, n, "the 'for' loop of model '%s' does not update '%s' in a form MGRIT can coarsen: "
                 "coarse levels take time steps dt = cf^l > 1, which needs '%s = %s + F(%s, x[t])' "
                 "(residual, scaled by dt) or the implicit '%s = (%s + a * n) / (1 + a)', a >= 0 "
                 "(nn's gru_implicit), stable for every dt", recurrence->m->name, who, who, who, who,
                 who, who);
        return 0;
    }
    if (!found) /* a recurrence: the graph's steps are checked again when lowered (lower_recur.c) */
        found = recurrence;
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
    if (s->uses_dropout) { /* the stage functions take no per-sample masks */
        snprintf(why, n, "mgrit needs a model without dropout");
        return 0;
    }
    return no_batch_stats(s, "mgrit", why, n);
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
        return no_batch_stats(s, "splitting params", why, n);
    snprintf(why, n, "splitting params needs at least 2 stages; model '%s' has 1 (add a repeat block)",
             s->typed.models[0].name);
    return 0;
}

/* split params by layer: two layers (parameters of distinct path prefixes,
 * as runtime/methods/compose_blocks.c counts them). */
static int layers_fit(Sema *s, char *why, size_t n)
{
    int layers = 0;
    const char *last = NULL;
    size_t last_len = 0;
    for (int i = 0; i < s->typed.nmodels; i++)
        for (int k = 0; k < s->typed.models[i].nparams; k++) {
            const char *path = s->typed.models[i].params[k].path, *slash = strrchr(path, '/');
            size_t len = slash ? (size_t)(slash - path) : strlen(path);
            if (!last || len != last_len || strncmp(path, last, len) != 0)
                layers++;
            last = path, last_len = len;
        }
    if (layers >= 2)
        return 1;
    snprintf(why, n, "splitting params by layer needs at least 2 layers; model '%s' has %d",
             s->typed.models[0].name, layers);
    return 0;
}

/* Whether a model has a repeat block (the multilevel hierarchy's networks). */
static int any_repeat(const Sema *s)
{
    for (int i = 0; i < s->typed.nmodels; i++)
        if (s->builds[i].nrepeats)
            return 1;
    return 0;
}

/* Whether a model has a 'for' loop (a recurrence layers(mgrit) may take). */
static int any_for(const Sema *s)
{
    for (int i = 0; i < s->typed.nmodels; i++)
        if (s->builds[i].nfors)
            return 1;
    return 0;
}

static const char *fit_list(Sema *s);

/* Whether the repeat block of the first model that has one can be coarsened
 * (a coarse correction: the hierarchy's level 1): else why, and *rep the
 * block when there is one.  A count that is not a literal is checked at
 * start-up (hierarchy.c). */
static int any_repeat(const Sema *s);
static int coarse_fits(Sema *s, char *why, size_t n, const Node **rep, long cf)
{
    const char *model = s->typed.models[0].name;
    *rep = NULL;
    for (int i = 0; i < s->typed.nmodels && !*rep; i++)
        if (s->builds[i].nrepeats)
            *rep = s->builds[i].repeats[0];
    if (!any_repeat(s)) {
        snprintf(why, n, "which needs a repeat block to coarsen; model '%s' has none", model);
        return 0;
    }
    const Node *c = (*rep)->a;
    if (cf != 2 && c && c->kind == N_INT && (c->ival < 2 * cf || c->ival % cf)) {
        snprintf(why, n, "but the repeat block of model '%s' has %ld steps; with cfactor %ld the coarse network "
                 "takes one step in %ld: a multiple of %ld of at least %ld", model, c->ival, cf, cf, cf, 2 * cf);
        return 0;
    }
    if (cf == 2 && c && c->kind == N_INT && (c->ival < 4 || c->ival % 2)) {
        snprintf(why, n, "but the repeat block of model '%s' has %ld steps; the coarse network takes every "
                 "second one: an even count of at least 4", model, c->ival);
        return 0;
    }
    char mg[480];
    if (!mgrit_fits(s, mg, sizeof mg)) {
        snprintf(why, n, "but %.480s", !strncmp(mg, "mgrit ", 6) ? mg + 6 : mg);
        return 0;
    }
    return 1;
}

static void fit_note(Sema *s)
{
    sema_note_plain(s, "strategies that fit model '%s': %s", s->typed.models[0].name, fit_list(s));
}

/* "data(), params(...), sapts, ...": what fits the model (kept in sema's
 * arena). */
static const char *fit_list(Sema *s)
{
    char why[512], list[2048];
    int p = params_fits(s, why, sizeof why), mg = mgrit_fits(s, why, sizeof why), ad = admm_fits(s, why, sizeof why);
    size_t len = (size_t)snprintf(list, sizeof list, "data()");
    if (p)
        len += (size_t)snprintf(list + len, sizeof list - len, ", params(...)");
    if (mg)
        len += (size_t)snprintf(list + len, sizeof list - len, ", layers(mgrit(...)), "
                                "grid(rows: layers(mgrit(...)), cols: data())");
    if (mg && any_repeat(s)) /* the hierarchy coarsens a repeat block, not a 'for' recurrence */
        len += (size_t)snprintf(list + len, sizeof list - len, ", multilevel(mgopt(...)), multilevel(rmtr(...))");
    if (ad)
        len += (size_t)snprintf(list + len, sizeof list - len, ", layers(admm(...))");
    if (neurons_fits(s, why, sizeof why))
        len += (size_t)snprintf(list + len, sizeof list - len, ", neurons(), grid(rows: neurons(), cols: data())");
    for (int i = 0; i < s->ndecls && len < sizeof list; i++) {
        const Node *n = s->decls[i].node;
        if (n->kind != N_STRATEGY || sema_lookup(s, s->p->root, n->name) != &s->decls[i])
            continue;
        SKind k = decl_kind(n);
        const Node *rep;
        if (coarse_stmt(n) && !coarse_fits(s, why, sizeof why, &rep, coarse_cfactor(coarse_stmt(n))))
            continue;
        if (k == SK_DATA || (k == SK_PARAMS && p) || (k == SK_PARAMS_LAYER && layers_fit(s, why, sizeof why)))
            len += (size_t)snprintf(list + len, sizeof list - len, ", %s", n->name);
    }
    return sema_fmt(s, "%s", list);
}

void sema_strategy_facts(Sema *s)
{
    SemaFit *f = &s->typed.fit;
    if (s->d->errors || s->typed.nmodels == 0)
        return;
    char why[512];
    f->known = 1;
    f->model = s->typed.models[0].name;
    f->params_why = params_fits(s, why, sizeof why) ? NULL : sema_fmt(s, "%s", why);
    f->mgrit_why = mgrit_fits(s, why, sizeof why) ? NULL : sema_fmt(s, "%s", why);
    f->list = fit_list(s);
    for (int i = 0; i < sema_builtin_count() && f->nsolvers < 32; i++) {
        const Builtin *b = sema_builtin_at(i);
        if (b->kind == B_OPTIMIZER) {
            f->solver[f->nsolvers] = b->name;
            f->solver_args[f->nsolvers++] = b->named;
        }
    }
}

void sema_check_decompose(Sema *s, const Node *e, int fit)
{
    const Node *inner;
    SKind k = strategy_expr(s, e, &inner);
    const Node *opt = s->typed.train.optimizer;
    if (k == SK_ADMM && opt) { /* its updates are its own: an optimiser would be ignored */
        sema_error(s, opt->span, "the optimizer has no effect under layers(admm(...))");
        sema_note_plain(s, "pdADMM updates its variables by its own rules; set rho and nu in admm(...) and "
                        "remove 'optimizer'");
    }
    if (k == SK_MULTI && opt && !strcmp(inner->name, "rmtr")) { /* its trust regions are its own */
        sema_error(s, opt->span, "the optimizer has no effect under multilevel(rmtr(...))");
        sema_note_plain(s, "RMTR takes trust-region iterations at every level; set radius, accept, expand, "
                        "shrink and memory in rmtr(...) and remove 'optimizer'");
    }
    char why[512];
    Decl *sd = (e->kind == N_NAME || e->kind == N_CALL) ? sema_lookup(s, s->p->root, e->name) : NULL;
    const Node *co = sd && sd->node->kind == N_STRATEGY ? coarse_stmt(sd->node) : NULL;
    if (co && fit && k != SK_ERR && s->typed.nmodels > 0) {
        s->typed.train.coarse = 1;
        const Node *rep = NULL;
        if (!coarse_fits(s, why, sizeof why, &rep, coarse_cfactor(co))) {
            sema_error(s, e->span, "strategy '%s' has a coarse correction, %s", sd->node->name, why);
            sema_note(s, rep ? rep->span : co->span, rep ? "the repeat block is here" : "the coarse correction is here");
            long cf = coarse_cfactor(co);
            if (cf == 2)
                sema_note_plain(s, "what fits: a model with a repeat block u = u + h * F(u, theta) of an even count of "
                                   "at least 4 steps (the coarse network takes every second one), or a strategy "
                                   "without 'coarse'");
            else
                sema_note_plain(s, "what fits: a model with a repeat block u = u + h * F(u, theta) of a multiple of "
                                   "%ld steps, at least %ld (the coarse network takes one step in %ld), a smaller "
                                   "cfactor, or a strategy without 'coarse'", cf, 2 * cf, cf);
            return;
        }
    }
    if (!fit || k == SK_ERR || k == SK_DATA || s->typed.nmodels == 0)
        return;
    if (k == SK_MULTI && !any_repeat(s)) { /* mgrit_fits also takes a 'for' recurrence */
        sema_error(s, inner->span, "multilevel(%s(...)) needs a repeat block; model '%s' has none",
                   inner->name, s->typed.models[0].name);
        if (any_for(s))
            sema_note_plain(s, "the hierarchy coarsens a repeat block's steps, each with its own weights; a "
                            "'for' recurrence shares its weights over the steps, so it has no coarser network: "
                            "use layers(mgrit(...)) for it");
        else
            fit_note(s);
        return;
    }
    int neurons = k == SK_NEURONS || (k == SK_GRID && sema_chain_records(e));
    int ok = k == SK_PARAMS ? params_fits(s, why, sizeof why)
           : k == SK_PARAMS_LAYER ? layers_fit(s, why, sizeof why)
           : neurons ? neurons_fits(s, why, sizeof why)
           : k == SK_ADMM ? admm_fits(s, why, sizeof why) : mgrit_fits(s, why, sizeof why);
    if (!ok && k == SK_MULTI && !strncmp(why, "mgrit ", 6)) { /* the same rule: a repeat block's steps */
        sema_error(s, inner->span, "multilevel(%s(...)) %s", inner->name, why + 6);
        fit_note(s);
    } else if (!ok) {
        sema_error(s, inner->span, "%s", why);
        fit_note(s);
    } else if (k == SK_ADMM)
        admm_grow_check(s, e);
}

/* ---- which steps the run takes (schedule and clip) ------------------------------ */

/* A local or global step: an optimiser call, `optimizer` or absent (the
 * train block's, sgd without one), `gradient` or `plain` (no step). */
static int first_order_step(Sema *s, const Node *e)
{
    if (!e || (e->kind == N_NAME && !strcmp(e->name, "optimizer")))
        e = s->typed.train.optimizer;
    if (!e)
        return 1; /* the default optimiser, sgd */
    if (e->kind != N_CALL)
        return 0;
    return !strcmp(e->name, "sgd") || !strcmp(e->name, "adam") || !strcmp(e->name, "adamw");
}

int sema_first_order_steps(Sema *s)
{
    const Node *d = s->typed.train.decompose;
    if (!d || (d->kind != N_CALL && d->kind != N_NAME))
        return first_order_step(s, NULL);
    if (sema_admm_call(d))
        return 0; /* pdADMM's updates are closed forms and backtracking steps of its own */
    const Node *ml = sema_multilevel_call(d);
    if (ml && !strcmp(ml->name, "rmtr"))
        return 0; /* RMTR takes trust-region iterations only */
    if (d->kind == N_CALL && method_fit(d->name) == FIT_ROWS) { /* a strategy in a grid takes its own steps */
        const Node *rows = named_arg(d, "rows"), *cols = named_arg(d, "cols");
        if (rows && (declared_strategy(s, rows) || (rows->kind == N_CALL && method_fit(rows->name) == FIT_STAGES)))
            d = rows;
        else if (cols && declared_strategy(s, cols))
            d = cols;
    }
    Decl *decl = sema_lookup(s, s->p->root, d->name);
    for (int depth = 0; decl && decl->node->kind == N_STRATEGY && depth < 2; depth++) {
        const Node *n = decl->node;
        Decl *inner = NULL;
        for (int i = 0; i < n->list2.len; i++) {
            const Node *st = n->list2.items[i];
            if (st->kind == N_LOCAL && (inner = nested_strategy(s, decl->module, st->a)))
                continue; /* a nested strategy: its own steps (one level deep) */
            if ((st->kind == N_LOCAL || st->kind == N_GLOBAL) && first_order_step(s, st->a))
                return 1;
        }
        if (!inner)
            return 0;
        decl = inner;
    }
    if (decl && decl->node->kind == N_STRATEGY)
        return 0;
    if (d->kind == N_CALL && method_fit(d->name) == FIT_STAGES) /* params(local:, global:) */
        return first_order_step(s, named_arg(d, "local")) || first_order_step(s, named_arg(d, "global"));
    return first_order_step(s, NULL); /* data, layers, grid: the train block's optimiser */
}
