/* decompose.c - --decompose 'STRATEGY': the strategy chosen at run time.
 *
 * exac writes into the descriptor what choosing a strategy needs (program.h):
 * every strategy declaration the program sees, with its formals and its
 * expansion into the four primitives ($NAME where a formal goes), and the fit
 * facts sema judged (why split params or layers(mgrit) does not fit, and the
 * list of what does).  This reads the flag in .exa syntax, binds a declared
 * strategy's arguments by the compiler's rules (sema_strategy.c,
 * user_strategy) and replaces the program's decompose line with the
 * expansion, or refuses with the message exac gives for the same line.  The
 * methods themselves check their primitives when created (methods/compose.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/method.h"
#include "exa/run.h"

static const struct {
    const char *name, *args;
} builtins[] = {
#define EXA_METHOD(name, id, ops, args, fit) { #name, args },
#include "exa/methods.def"
};

static const ExaStrategyDecl *find_decl(const ExaProgram *p, const char *name)
{
    for (int i = 0; i < p->nstrategies; i++)
        if (strcmp(p->strategies[i].name, name) == 0)
            return &p->strategies[i];
    return NULL;
}

/* Replaces every $FORMAL identifier of c by its bound value. */
static void substitute(ExaCall *c, const ExaStrategyDecl *d, const ExaValue *bound)
{
    for (int i = 0; i < c->nargs; i++) {
        ExaValue *v = &c->values[i];
        if (v->kind == EXA_CALL) {
            substitute(v->call, d, bound);
            continue;
        }
        if (v->kind != EXA_IDENT || v->str[0] != '$')
            continue;
        for (int k = 0; k < d->nformals; k++) {
            if (strcmp(v->str + 1, d->formal[k]) == 0) {
                free(v->str);
                *v = bound[k];
                v->str = bound[k].str ? strdup(bound[k].str) : NULL;
                v->call = exa_call_copy(bound[k].call);
                break;
            }
        }
    }
}

static int refuse(char *err, size_t errlen, const char *text, const char *fmt, const char *a, const char *b,
                  const char *c)
{
    int n = snprintf(err, errlen, "exa: --decompose %s: ", text);
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, fmt, a, b, c);
    return -1;
}

/* why (the compiler's error) and its note, on one line. */
static int unfit(const ExaProgram *p, char *err, size_t errlen, const char *text, const char *why)
{
    char msg[2048];
    snprintf(msg, sizeof msg, "%s; strategies that fit model '%s': %s", why, p->fit_model ? p->fit_model : "?",
             p->fit_list ? p->fit_list : "data()");
    return refuse(err, errlen, text, "%s%s%s", msg, "", "");
}

/* A declared strategy: its arguments bound as sema binds them. */
static int bind(const ExaProgram *p, const ExaStrategyDecl *d, const ExaCall *given, const char *text,
                ExaCall **out, char *err, size_t errlen)
{
    ExaValue bound[64];
    int have[64] = { 0 }, positional = 0;
    memset(bound, 0, sizeof bound);
    for (int i = 0; i < given->nargs; i++) {
        const char *key = given->keys[i];
        int k;
        if (key[0] == '_') {
            k = positional++;
            if (k >= d->nformals) {
                char n[16];
                snprintf(n, sizeof n, "%d", d->nformals);
                return refuse(err, errlen, text, "too many arguments in call of '%s': it takes %s%s", d->name, n, "");
            }
        } else {
            for (k = 0; k < d->nformals; k++)
                if (strcmp(d->formal[k], key) == 0)
                    break;
            if (k == d->nformals) {
                char list[512] = "";
                size_t len = 0;
                for (int j = 0; j < d->nformals && len < sizeof list; j++)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", j ? ", " : "", d->formal[j]);
                char msg[1024];
                snprintf(msg, sizeof msg, d->nformals ? "'%s' accepts: %s" : "'%s' takes no arguments%s", d->name,
                         list);
                return refuse(err, errlen, text, "'%s' has no argument named '%s'; %s", d->name, key, msg);
            }
        }
        if (have[k])
            return refuse(err, errlen, text, "argument '%s' is given twice%s%s", d->formal[k], "", "");
        const ExaValue *v = &given->values[i];
        int integer = v->kind == EXA_NUM && v->num == floor(v->num) && fabs(v->num) < 9.2e18;
        if (v->kind != EXA_NUM || (d->is_int[k] && !integer))
            return refuse(err, errlen, text, "argument '%s' of '%s' must be %s", d->formal[k], d->name,
                          d->is_int[k] ? "an integer" : "a number");
        have[k] = 1;
        bound[k] = *v;
    }
    for (int k = 0; k < d->nformals; k++) {
        if (have[k])
            continue;
        if (!d->has_default[k])
            return refuse(err, errlen, text, "missing argument '%s' in call of '%s'%s", d->formal[k], d->name, "");
        bound[k] = (ExaValue){ .kind = EXA_NUM, .num = d->def[k] };
    }
    if (d->params && p->fit_params_why && *p->fit_params_why)
        return unfit(p, err, errlen, text, p->fit_params_why);
    *out = exa_call_copy(d->expand);
    substitute(*out, d, bound);
    char bad[256];
    if (exa_compose_bad_number(*out, bad, sizeof bad)) { /* as exac refuses sapts(local_steps: 0) */
        exa_call_free(*out);
        *out = NULL;
        return refuse(err, errlen, text, "%s (in '%s')%s", bad, d->name, "");
    }
    return 0;
}

typedef struct Word {
    const char *word;
    int fits;
} Word;

/* the fit-set words of methods.def, as compose.c spells them */
#define DATA_GRADIENT EXA_FITS_DATA_GRADIENT
#define DATA_LOCAL EXA_FITS_DATA_LOCAL
#define PARAMS EXA_FITS_PARAMS
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
#undef DATA_GRADIENT
#undef DATA_LOCAL
#undef PARAMS

static const Word *find_word(const Word *w, const char *name)
{
    for (; name && w->word; w++)
        if (!strcmp(w->word, name))
            return w;
    return NULL;
}

/* "a, b or c": the words of w fitting where (sema_strategy.c's word_list). */
static void word_list(const Word *w, int where, char *buf, size_t len)
{
    const char *names[16];
    int n = 0;
    for (; w->word && n < 16; w++)
        if ((!where || (w->fits & where)) && strcmp(w->word, "optimizer") != 0)
            names[n++] = w->word;
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
}

static const char *value_name(const ExaValue *v)
{
    return !v ? NULL : v->kind == EXA_CALL ? v->call->name : v->kind == EXA_IDENT ? v->str : NULL;
}

/* local: or global: of params(...), as sema's check_step and
 * builtin_call_args judge it: a word, or an optimiser call with its named
 * arguments. */
static int solver_arg(const ExaProgram *p, const ExaValue *v, int global, const char *text, char *err, size_t errlen)
{
    if (!v)
        return 0;
    const char *w = v->kind == EXA_IDENT ? v->str : NULL;
    if (w && (global ? !strcmp(w, "plain") || !strcmp(w, "optimizer") || !strcmp(w, "secant")
                     : !strcmp(w, "gradient")))
        return 0;
    if (global && v->kind == EXA_CALL && !strcmp(v->call->name, "secant")) { /* G-ASPIN: history only */
        for (int i = 0; i < v->call->nargs; i++)
            if (strcmp(v->call->keys[i], "history") != 0)
                return refuse(err, errlen, text, "'secant' takes 'history' (the L-BFGS pairs of F it keeps)%s%s%s",
                              "", "", "");
        return 0;
    }
    int k = -1;
    for (int i = 0; v->kind == EXA_CALL && i < p->nsolvers; i++)
        if (!strcmp(p->solver[i], v->call->name))
            k = i;
    if (k < 0)
        return refuse(err, errlen, text, "%s%s%s", global ? "'global' takes an optimiser call, 'plain', 'secant' or 'optimizer'"
                      : "'local' takes an optimiser call or 'gradient'", "", "");
    char padded[300];
    snprintf(padded, sizeof padded, " %s ", p->solver_args[k]);
    for (int i = 0; i < v->call->nargs; i++) {
        const char *key = v->call->keys[i];
        char word[80];
        snprintf(word, sizeof word, " %s ", key);
        if (key[0] != '_' && !strstr(padded, word)) {
            char note[400];
            snprintf(note, sizeof note, *p->solver_args[k] ? "'%s' accepts: %s" : "'%s' accepts no named arguments%s",
                     p->solver[k], p->solver_args[k]);
            return refuse(err, errlen, text, "'%s' has no argument named '%s'; %s", p->solver[k], key, note);
        }
        if (!strcmp(key, "batches") && global)
            return refuse(err, errlen, text, "'batches' is for a strategy's local solver: local %s(..., batches: "
                          "successive)%s%s", p->solver[k], "", "");
    }
    return 0;
}

/* params(by:, groups:, local:, combine:, global:) as sema's params_call and
 * check_combination judge it, before the fit. */
static int params_args(const ExaProgram *p, const ExaCall *c, const char *text, char *err, size_t errlen)
{
    const char *by = exa_call_ident(c, "by", NULL), *groups = exa_call_ident(c, "groups", NULL);
    char list[256];
    if (exa_call_arg(c, "by") && (!by || (strcmp(by, "stage") && strcmp(by, "layer"))))
        return refuse(err, errlen, text, "params are split by 'stage' or by 'layer'%s%s%s", "", "", "");
    if (exa_call_arg(c, "groups") && (!groups || strcmp(groups, "ranks")))
        return refuse(err, errlen, text, "'groups' must be 'ranks': every rank is one group; a number of groups "
                      "other than the ranks is not supported (docs/strategies.md)%s%s%s", "", "", "");
    if (solver_arg(p, exa_call_arg(c, "local"), 0, text, err, errlen)
        || solver_arg(p, exa_call_arg(c, "global"), 1, text, err, errlen))
        return -1;
    const char *local = value_name(exa_call_arg(c, "local"));
    const char *combine = value_name(exa_call_arg(c, "combine"));
    const char *global = value_name(exa_call_arg(c, "global"));
    const char *train = p->optimizer->name;
    word_list(global_words, EXA_FITS_PARAMS, list, sizeof list);
    const Word *g = find_word(global_words, train);
    if (!global && g && !(g->fits & EXA_FITS_PARAMS))
        return refuse(err, errlen, text, "'params' without 'global' takes the train block's optimiser, %s, which "
                      "does not run under split params; under split params, global: %s%s", train, list, "");
    if (local && !strcmp(local, "gradient"))
        return refuse(err, errlen, text, "'local gradient' takes no step on a block of parameters; it needs 'split "
                      "data'; under split params, local: an optimiser call%s%s%s", "", "", "");
    const Word *cw = find_word(combine_words, combine ? combine : "additive");
    if (combine && !cw) {
        word_list(combine_words, 0, list, sizeof list);
        return refuse(err, errlen, text, "unknown way to combine; combine: %s%s%s", list, "", "");
    }
    if (!(cw->fits & EXA_FITS_PARAMS)) {
        word_list(combine_words, EXA_FITS_PARAMS, list, sizeof list);
        return refuse(err, errlen, text, "'combine %s' does not run under split params; under split params, "
                      "combine: %s%s", cw->word, list, "");
    }
    const char *resolved = !global || !strcmp(global, "optimizer") ? train : global;
    g = find_word(global_words, resolved);
    word_list(global_words, EXA_FITS_PARAMS, list, sizeof list);
    if (g && !(g->fits & EXA_FITS_PARAMS)) {
        char msg[512];
        if (global && resolved != global)
            snprintf(msg, sizeof msg, "'global optimizer' is the train block's %s, which does not run under split "
                     "params", resolved);
        else
            snprintf(msg, sizeof msg, "'global %s' does not run under split params", resolved);
        return refuse(err, errlen, text, "%s; under split params, global: %s%s", msg, list, "");
    }
    return 0;
}

/* c's named arguments are those methods.def gives its method (args). */
static int args_known(const ExaCall *c, const char *args, const char *text, char *err, size_t errlen)
{
    for (int i = 0; i < c->nargs; i++) {
        char word[80];
        snprintf(word, sizeof word, " %s ", c->keys[i]);
        char padded[256];
        snprintf(padded, sizeof padded, " %s ", args);
        if (c->keys[i][0] != '_' && !strstr(padded, word)) {
            char note[320];
            snprintf(note, sizeof note, *args ? "'%s' accepts: %s" : "'%s' accepts no named arguments%s", c->name,
                     args);
            return refuse(err, errlen, text, "'%s' has no argument named '%s'; %s", c->name, c->keys[i], note);
        }
    }
    return 0;
}

static const char *args_of(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return builtins[i].args;
    return NULL;
}

/* A built-in method of methods.def: its argument names, and its fit rule. */
static int builtin(const ExaProgram *p, const ExaCall *c, const char *text, char *err, size_t errlen)
{
    const char *args = args_of(c->name);
    if (!args || !strcmp(c->name, "strategy"))
        return refuse(err, errlen, text, "'decompose' must be a strategy: data(), params(...), layers(...), "
                      "grid(...) or a declared strategy%s%s%s", "", "", "");
    if (args_known(c, args, text, err, errlen) != 0)
        return -1;
    if (!strcmp(c->name, "params") && params_args(p, c, text, err, errlen) != 0)
        return -1;
    /* by layer: the method counts the layers at start-up; by stage needs the stages */
    if (!strcmp(c->name, "params") && p->fit_params_why && *p->fit_params_why
        && !(exa_call_ident(c, "by", NULL) && !strcmp(exa_call_ident(c, "by", NULL), "layer")))
        return unfit(p, err, errlen, text, p->fit_params_why);
    const ExaValue *gr = !strcmp(c->name, "grid") ? exa_call_arg(c, "rows") : NULL;
    if (!strcmp(c->name, "neurons") || (gr && gr->kind == EXA_CALL && !strcmp(gr->call->name, "neurons"))) {
        if (p->nlayers == 0) /* the chain's records: exac writes them when the chain fits */
            return refuse(err, errlen, text, "neurons() splits a chain of dense layers (after conv2d, maxpool "
                          "and flatten); model '%s' is not one%s%s", p->fit_model ? p->fit_model : "?", "", "");
        return 0;
    }
    if (!strcmp(c->name, "mgopt") || !strcmp(c->name, "rmtr"))
        return refuse(err, errlen, text, "'%s' is a multilevel method; write 'multilevel(%s(...))'%s", c->name,
                      c->name, "");
    if (!strcmp(c->name, "multilevel")) {
        const ExaValue *m = c->nargs ? &c->values[0] : NULL;
        if (!m || m->kind != EXA_CALL || (strcmp(m->call->name, "mgopt") && strcmp(m->call->name, "rmtr")))
            return refuse(err, errlen, text, "'multilevel' takes a multilevel method: mgopt(...) or rmtr(...)%s%s%s",
                          "", "", "");
        if (args_known(m->call, args_of(m->call->name), text, err, errlen) != 0)
            return -1;
        if (p->fit_mgrit_why && *p->fit_mgrit_why) {
            /* mgrit's rule, said of multilevel as exac says it (sema_check_decompose):
             * without a repeat block or a 'for' loop, multilevel needs the repeat block */
            const char *why = p->fit_mgrit_why;
            char said[1024];
            if (strstr(why, "has neither"))
                snprintf(said, sizeof said, "multilevel(%s(...)) needs a repeat block; model '%s' has none",
                         m->call->name, p->fit_model ? p->fit_model : "?");
            else if (!strncmp(why, "mgrit ", 6))
                snprintf(said, sizeof said, "multilevel(%s(...)) %s", m->call->name, why + 6);
            else
                snprintf(said, sizeof said, "%s", why);
            return unfit(p, err, errlen, text, said);
        }
        if (exa_program_function_of(p, EXA_FN_STAGE_INPUTS)) /* a 'for' recurrence: shared weights */
            return refuse(err, errlen, text, "multilevel(...) needs a repeat block; this program's MGRIT steps "
                          "are a 'for' recurrence, which has no coarser network%s%s%s", "", "", "");
        if (!exa_program_function_of(p, EXA_FN_STAGE_STEP))
            return refuse(err, errlen, text, "multilevel(...) needs the stage functions exac writes only for a "
                          "program compiled with decompose = layers(mgrit(...)) or multilevel(...): recompile with "
                          "that line%s%s%s", "", "", "");
        return 0;
    }
    if (!strcmp(c->name, "layers") || !strcmp(c->name, "grid")) {
        const ExaCall *rows = !strcmp(c->name, "grid") ? NULL : c;
        if (!rows) {
            const ExaValue *v = exa_call_arg(c, "rows");
            rows = v && v->kind == EXA_CALL ? v->call : NULL;
        }
        if (rows && !strcmp(rows->name, "strategy")) /* a declared strategy: grid.c checks where it runs */
            return 0;
        const ExaValue *m = rows && rows->nargs ? &rows->values[0] : NULL;
        if (!m || m->kind != EXA_CALL || (strcmp(m->call->name, "mgrit") && strcmp(m->call->name, "admm")))
            return refuse(err, errlen, text, "'layers' takes a layer-parallel method: mgrit(...) or admm(...)%s%s%s",
                          "", "", "");
        if (!strcmp(m->call->name, "mgrit") && p->fit_mgrit_why && *p->fit_mgrit_why)
            return unfit(p, err, errlen, text, p->fit_mgrit_why);
        if (!strcmp(m->call->name, "admm")) {
            if (!strcmp(c->name, "grid"))
                return refuse(err, errlen, text, "a grid's rows take layers(mgrit(...))%s%s%s", "", "", "");
            for (int l = 0; l < p->nlayers; l++)
                if (p->layers[l].kind != EXA_LAYER_DENSE || p->layers[l].dropout)
                    return refuse(err, errlen, text, "layers(admm(...)) trains a chain of dense layers and relu; "
                                  "this program's chain has convolutions or dropout%s%s%s", "", "", "");
            const ExaValue *was = p->decompose && !strcmp(p->decompose->name, "layers") && p->decompose->nargs
                                ? &p->decompose->values[0] : NULL; /* the compiled line */
            if (p->nlayers == 0 || !was || was->kind != EXA_CALL || strcmp(was->call->name, "admm") != 0)
                return refuse(err, errlen, text, "layers(admm(...)) needs the chain of layers exac writes only "
                              "for a program compiled with decompose = layers(admm(...)): recompile with that "
                              "line%s%s%s", "", "", "");
            return 0;
        }
        if (!exa_program_function_of(p, EXA_FN_STAGE_STEP))
            return refuse(err, errlen, text, "%s needs the stage functions exac writes only for a program compiled "
                          "with decompose = layers(mgrit(...)): recompile with that line%s%s",
                          !strcmp(c->name, "grid") ? "grid(rows: layers(mgrit(...)), ...)" : "layers(mgrit(...))", "",
                          "");
    }
    return 0;
}

/* Whether a local or global step is one schedule and clip act on: an sgd,
 * adam or adamw call, or the train block's optimiser where it is one (the
 * rule of exac's sema_first_order_steps). */
static int first_order_step(const ExaProgram *p, const ExaValue *v)
{
    const ExaCall *c = !v || (v->kind != EXA_CALL && v->str && !strcmp(v->str, "optimizer")) ? p->optimizer
                     : v->kind == EXA_CALL ? v->call : NULL;
    return c && (!strcmp(c->name, "sgd") || !strcmp(c->name, "adam") || !strcmp(c->name, "adamw"));
}

/* A train block's schedule or clip needs a run that takes such steps. */
static int check_first_order(const ExaProgram *p, const ExaCall *chosen, const char *text, char *err,
                             size_t errlen)
{
    const char *setting = exa_program_setting(p, "schedule") ? "schedule"
                        : exa_program_setting(p, "clip") ? "clip" : NULL;
    if (!setting)
        return 0;
    int steps;
    if (!strcmp(chosen->name, "grid")) { /* a strategy in a grid takes its own steps */
        const ExaValue *rows = exa_call_arg(chosen, "rows"), *cols = exa_call_arg(chosen, "cols");
        const ExaValue *st = rows && rows->kind == EXA_CALL && !strcmp(rows->call->name, "strategy") ? rows
                           : cols && cols->kind == EXA_CALL && !strcmp(cols->call->name, "strategy") ? cols : NULL;
        if (st)
            chosen = st->call;
    }
    if (!strcmp(chosen->name, "strategy") || !strcmp(chosen->name, "params")) {
        const ExaValue *local = exa_call_arg(chosen, "local"), *global = exa_call_arg(chosen, "global");
        steps = first_order_step(p, local) || first_order_step(p, global);
    } else if (!strcmp(chosen->name, "layers") && chosen->nargs && chosen->values[0].kind == EXA_CALL
               && !strcmp(chosen->values[0].call->name, "admm")) {
        steps = 0; /* pdADMM's updates are its own */
    } else {
        steps = first_order_step(p, NULL); /* data, layers, grid: the train block's optimiser */
    }
    if (steps)
        return 0;
    return refuse(err, errlen, text, "'%s' acts on the steps of sgd, adam and adamw, and this run takes none; %s%s",
                  setting, !strcmp(chosen->name, "layers") ? "layers(admm(...)) takes no optimiser steps: its updates are its own"
                  : "the strategy's local and global steps are neither sgd nor adam steps", "");
}

/* grid(rows: S(...), cols: T(...)): the declared strategies among its rows
 * and columns bound in place (runtime/methods/grid.c checks which runs
 * where, as exac does). */
static int bind_grid(const ExaProgram *p, ExaCall *c, const char *text, char *err, size_t errlen)
{
    for (int i = 0; i < c->nargs; i++) {
        ExaValue *v = &c->values[i];
        const ExaStrategyDecl *d = v->kind == EXA_CALL && (!strcmp(c->keys[i], "rows") || !strcmp(c->keys[i], "cols"))
                                 ? find_decl(p, v->call->name) : NULL;
        ExaCall *bound = NULL;
        if (!d)
            continue;
        if (bind(p, d, v->call, text, &bound, err, errlen) != 0)
            return -1;
        exa_call_free(v->call);
        v->call = bound;
    }
    return 0;
}

int exa_decompose_choose(ExaProgram *p, const char *text, char *err, size_t errlen)
{
    char why[256];
    ExaCall *c = exa_call_parse_exa(text, why, sizeof why);
    if (!c)
        return refuse(err, errlen, text, "%s; expected a strategy call such as sapts(local_steps: 5)%s%s", why, "",
                      "");
    if (!p->fit_model) {
        exa_call_free(c);
        return refuse(err, errlen, text, "this executable records no strategies: recompile it with this "
                      "exac%s%s%s", "", "", "");
    }
    const ExaStrategyDecl *d = find_decl(p, c->name);
    ExaCall *chosen = NULL;
    int rc;
    if (d) {
        rc = bind(p, d, c, text, &chosen, err, errlen);
        exa_call_free(c);
    } else {
        rc = !strcmp(c->name, "grid") ? bind_grid(p, c, text, err, errlen) : 0;
        if (rc == 0)
            rc = builtin(p, c, text, err, errlen);
        chosen = rc ? NULL : c;
        if (rc)
            exa_call_free(c);
    }
    if (rc == 0 && check_first_order(p, chosen, text, err, errlen) != 0) {
        exa_call_free(chosen);
        return -1;
    }
    if (rc)
        return -1;
    exa_call_free(p->decompose);
    p->decompose = chosen;
    return 0;
}
