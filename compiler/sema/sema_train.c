/* sema_train.c - data sets, the loss and the train block.
 *
 * A root module that declares a data set, a loss or a train block is a
 * *program*: it needs exactly one loss and one train block, and the loss is
 * evaluated over the fields of the training data set.  Evaluating the loss
 * is what instantiates the training models (sema_inst.c).  A module with
 * none of the three is a library (stdlib/nn.exa) and is only checked for its
 * declarations.  Settings and named arguments share one table of value
 * rules (positive integers, strings, ...), so `steps: 0` reads the same
 * wherever it is written. */
#include <stdio.h>
#include <string.h>

#include "sema_internal.h"

/* ---- values of settings and named arguments ------------------------------ */

typedef enum Rule { R_POS_INT, R_NONNEG_INT, R_NUM, R_POS_NUM, R_NONNEG_NUM, R_UNIT, R_STRING, R_FLAG } Rule;

static const struct { const char *name; Rule rule; } rules[] = {
    { "steps", R_POS_INT }, { "history", R_POS_INT }, { "memory", R_POS_INT }, { "levels", R_POS_INT },
    { "cfactor", R_POS_INT }, { "cycles", R_POS_INT }, { "iters", R_POS_INT }, { "min_coarse", R_POS_INT },
    { "samples", R_POS_INT }, { "points", R_POS_INT }, { "epochs", R_POS_INT }, { "batch", R_POS_INT },
    { "limit", R_POS_INT }, { "seed", R_NONNEG_INT }, { "skip", R_NONNEG_INT },
    { "lr", R_POS_NUM }, { "radius", R_POS_NUM }, { "min_radius", R_POS_NUM }, { "max_radius", R_POS_NUM },
    { "eps", R_POS_NUM }, { "rho", R_POS_NUM }, { "nu", R_POS_NUM }, { "grow", R_NONNEG_INT }, { "scale", R_POS_NUM },
    { "shift", R_NUM },
    { "tol", R_POS_NUM }, { "expand", R_POS_NUM }, { "std", R_POS_NUM },
    { "fwd_levels", R_POS_INT }, { "bwd_levels", R_POS_INT }, { "fwd_cfactor", R_POS_INT },
    { "bwd_cfactor", R_POS_INT }, { "fwd_iters", R_POS_INT }, { "bwd_iters", R_POS_INT },
    { "fwd_tol", R_POS_NUM }, { "bwd_tol", R_POS_NUM },
    { "momentum", R_UNIT }, { "beta1", R_UNIT }, { "beta2", R_UNIT }, { "accept", R_UNIT }, { "shrink", R_UNIT },
    { "path", R_STRING }, { "images", R_STRING }, { "labels", R_STRING }, { "x", R_STRING }, { "y", R_STRING },
    { "checkpoint", R_STRING }, { "log", R_STRING },
    { "fmg", R_FLAG }, { "nested", R_FLAG }, { "header", R_FLAG }, { "cache", R_FLAG },
    { "nesterov", R_FLAG }, { "weight_decay", R_NONNEG_NUM }, { "clip", R_POS_NUM },
    { "every", R_POS_INT }, { "overlap", R_NONNEG_INT }, { "per_block", R_POS_INT }, { "gamma", R_POS_NUM },
    { "warmup", R_NONNEG_INT }, { "min_factor", R_UNIT },
    { "pre", R_NONNEG_INT }, { "post", R_NONNEG_INT }, { "coarse_steps", R_POS_INT }, /* mgopt, rmtr */
    { "grad_ratio", R_NONNEG_NUM }, { "very_good", R_UNIT },
};

void sema_check_setting_value(Sema *s, const char *owner, const Node *arg, const Val *v)
{
    const char *name = arg->name;
    const Node *e = arg->kind == N_NAMED_ARG || arg->kind == N_ASSIGN ? arg->a : arg;
    if (v->kind == V_ERR)
        return;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (strcmp(rules[i].name, name) != 0)
            continue;
        int isint = v->kind == V_INT && !v->ranged, known = isint && dim_known(v->i);
        int isnum = isint || v->kind == V_NUM;
        double x = v->kind == V_INT ? (double)v->i.v : v->num;
        int xknown = v->kind == V_INT ? known : v->num_known;
        switch (rules[i].rule) {
        case R_POS_INT:
            if (!isint || (known && v->i.v <= 0))
                sema_error(s, e->span, "'%s' of %s must be a positive integer", name, owner);
            break;
        case R_NONNEG_INT:
            if (!isint || (known && v->i.v < 0))
                sema_error(s, e->span, "'%s' of %s must be a non-negative integer", name, owner);
            break;
        case R_NUM:
            if (!isnum)
                sema_error(s, e->span, "'%s' of %s must be a number", name, owner);
            break;
        case R_POS_NUM:
            if (!isnum || (xknown && x <= 0))
                sema_error(s, e->span, "'%s' of %s must be a positive number", name, owner);
            break;
        case R_NONNEG_NUM:
            if (!isnum || (xknown && x < 0))
                sema_error(s, e->span, "'%s' of %s must be a non-negative number", name, owner);
            break;
        case R_UNIT:
            if (!isnum || (xknown && (x < 0 || x >= 1)))
                sema_error(s, e->span, "'%s' of %s must be a number in [0, 1)", name, owner);
            break;
        case R_STRING:
            if (v->kind != V_STRING)
                sema_error(s, e->span, "'%s' of %s must be a string", name, owner);
            else if (!v->str[0]) /* a path: "" would name the root directory */
                sema_error(s, e->span, "'%s' of %s must not be empty", name, owner);
            break;
        case R_FLAG:
            if (!isint || (known && v->i.v != 0 && v->i.v != 1))
                sema_error(s, e->span, "'%s' of %s must be 0 or 1", name, owner);
            break;
        }
        return;
    }
}

/* A constant expression: numbers, strings, and in a strategy its formals. */
Val sema_const_expr(Sema *s, const Module *m, const Node *e, const Node *strategy)
{
    Body b = { .s = s, .mod = m, .instance = -1, .stage = -1 };
    for (int i = 0; strategy && i < strategy->list.len; i++) {
        const Node *f = strategy->list.items[i];
        Val v = f->a->kind == N_TYPE_INT ? val_int(dim_unknown()) : val_num(0, 0);
        sema_add_local(&b, f->name, L_FORMAL, v, f)->used = 1;
    }
    Val v = sema_expr(&b, e);
    sema_body_free(&b);
    return v;
}

Val sema_bound_expr(Sema *s, const Module *m, const Node *e, const Node *strategy, const Val *values)
{
    Body b = { .s = s, .mod = m, .instance = -1, .stage = -1 };
    for (int i = 0; strategy && i < strategy->list.len; i++)
        sema_add_local(&b, strategy->list.items[i]->name, L_FORMAL, values[i], strategy->list.items[i])->used = 1;
    Val v = sema_expr(&b, e);
    sema_body_free(&b);
    return v;
}

/* ---- data sets --------------------------------------------------------------- */

static const char *required_arg(const char *source)
{
    if (!strcmp(source, "peaks")) return "samples";
    if (!strcmp(source, "allen_cahn")) return "points";
    if (!strcmp(source, "idx")) return "images labels";
    if (!strcmp(source, "csv")) return "path";
    if (!strcmp(source, "npy")) return "x";
    return "";
}

static void check_fields(Sema *s, Decl *d, const char *src, SemaData *out)
{
    Node *n = d->node;
    Body b = { .s = s, .mod = d->module, .instance = -1, .stage = -1 };
    out->fields = sema_alloc(s, (size_t)(n->list.len + 1) * sizeof *out->fields);
    for (int i = 0; i < n->list.len; i++) {
        const Node *f = n->list.items[i];
        SemaField *sf = &out->fields[out->nfields++];
        sf->name = f->name;
        for (int k = 0; k < i; k++) {
            if (!strcmp(n->list.items[k]->name, f->name)) {
                sema_error(s, f->span, "field '%s' is declared twice", f->name);
                sema_note(s, n->list.items[k]->span, "previous declaration of '%s' is here", f->name);
            }
        }
        if (f->a->kind == N_TYPE_CLASS) {
            Dim c = sema_dim_expr(&b, f->a->a);
            if (dim_known(c) && (c.v < 2 || c.v > SEMA_MAX_DIM)) {
                sema_error(s, f->a->span, "a class label needs at least 2 classes, not %lld", (long long)c.v);
                c = dim_unknown();
            }
            sf->is_class = 1;
            sf->classes = dim_known(c) ? c.v : 0;
            sf->shape.rank = 0;
            continue;
        }
        Shape sh;
        if (!sema_type_shape(&b, f->a, &sh)) {
            sema_error(s, f->a->span, "a field's type must be a shape or class(n)");
            continue;
        }
        shape_to_typed(&sh, &sf->shape);
    }
    sema_body_free(&b);
    /* the generated sources have a fixed layout */
    const char *want = NULL;
    int ok = 1;
    if (!strcmp(src, "peaks")) {
        want = "(x: [2], y: class(5))";
        ok = out->nfields == 2 && !out->fields[0].is_class && out->fields[0].shape.rank == 1
          && out->fields[0].shape.dim[0] == 2 && out->fields[1].is_class && out->fields[1].classes == 5;
    } else if (!strcmp(src, "allen_cahn")) {
        want = "(p: [2])";
        ok = out->nfields == 1 && !out->fields[0].is_class && out->fields[0].shape.rank == 1
          && out->fields[0].shape.dim[0] == 2;
    }
    if (!ok)
        sema_error(s, n->span, "data source '%s' yields %s; declare the fields with these types", src, want);
}

void sema_check_data(Sema *s, Decl *d)
{
    Node *n = d->node, *call = n->a;
    const Builtin *bi = sema_builtin(call->name, B_SOURCE);
    /* recorded even when its source is wrong, so the loss still sees its fields */
    SemaData tmp = {0};
    SemaData *out = &tmp;
    if (d->module == s->p->root) {
        int cap = s->typed.ndata;
        s->typed.data = sema_grow(s, s->typed.data, s->typed.ndata, &cap, sizeof *s->typed.data);
        out = &s->typed.data[s->typed.ndata++];
        memset(out, 0, sizeof *out);
    }
    out->name = d->name;
    out->decl = n;
    out->source = bi ? bi->name : call->name;
    check_fields(s, d, bi ? bi->name : "", out);
    if (!bi) {
        sema_error(s, call->span, "unknown data source '%s'", call->name);
        sema_note_plain(s, "data sources: peaks, allen_cahn, idx, csv, npy");
        return;
    }
    const Node *pos[16], *named[16];
    int np = 0, nn = 0;
    for (int i = 0; i < call->list.len; i++) {
        if (call->list.items[i]->kind != N_NAMED_ARG) {
            sema_error(s, call->list.items[i]->span, "the arguments of data source '%s' are named, like '%s: ...'",
                       bi->name, required_arg(bi->name));
            sema_note_plain(s, "'%s' accepts: %s", bi->name, bi->named);
            return;
        }
    }
    if (!sema_builtin_args(s, call, bi, pos, &np, named, &nn))
        return;
    for (int i = 0; i < nn; i++) {
        Val v = sema_const_expr(s, d->module, named[i]->a, NULL);
        sema_check_setting_value(s, sema_fmt(s, "'%s'", bi->name), named[i], &v);
    }
    for (const char *r = required_arg(bi->name); *r;) {
        size_t len = strcspn(r, " ");
        int found = 0;
        for (int i = 0; i < nn; i++)
            found |= strlen(named[i]->name) == len && !strncmp(named[i]->name, r, len);
        if (!found)
            sema_error(s, call->span, "data source '%s' needs the argument '%.*s'", bi->name, (int)len, r);
        r += len + (r[len] == ' ');
    }
}

/* ---- the train block ------------------------------------------------------------ */

static const char *const settings[] = { "epochs", "batch", "optimizer", "decompose", "seed", "checkpoint",
                                        "log", "data", "validate", "schedule", "clip", "device", NULL };

/* schedule = warmup(...) | step_decay(...) | cosine(...): named arguments only */
static void check_schedule(Sema *s, const Node *e)
{
    const Builtin *bi = e->kind == N_CALL ? sema_builtin(e->name, B_SCHEDULE) : NULL;
    if (!bi) {
        sema_error(s, e->span, "'schedule' must be a schedule call");
        sema_note_plain(s, "schedules: warmup(steps: N), step_decay(every: EPOCHS, gamma: G, warmup: N), "
                           "cosine(min_factor: F, warmup: N)");
        return;
    }
    const Node *pos[16], *named[16];
    int np = 0, nn = 0;
    if (!sema_builtin_args(s, e, bi, pos, &np, named, &nn))
        return;
    for (int i = 0; i < nn; i++) {
        Val v = sema_const_expr(s, s->p->root, named[i]->a, NULL);
        sema_check_setting_value(s, sema_fmt(s, "'%s'", bi->name), named[i], &v);
    }
    int has_steps = 0;
    for (int i = 0; i < nn; i++)
        has_steps |= !strcmp(named[i]->name, "steps") || !strcmp(named[i]->name, "every");
    if (!has_steps && (!strcmp(bi->name, "warmup") || !strcmp(bi->name, "step_decay")))
        sema_error(s, e->span, "'%s' needs the argument '%s'", bi->name, bi->name[0] == 'w' ? "steps" : "every");
}

static int data_index(Sema *s, const Node *e, const char *setting)
{
    if (e->kind == N_NAME) {
        for (int i = 0; i < s->typed.ndata; i++) {
            if (!strcmp(s->typed.data[i].name, e->name)) {
                Decl *d = sema_lookup(s, s->p->root, e->name);
                if (d)
                    d->used = 1;
                return i;
            }
        }
    }
    sema_error(s, e->span, "'%s' must name a data set of this file", setting);
    return -1;
}

static void check_train(Sema *s, const Node *train)
{
    SemaTrain *t = &s->typed.train;
    const Node *seen[sizeof settings / sizeof settings[0]] = {0};
    for (int i = 0; i < train->list.len; i++) {
        const Node *st = train->list.items[i];
        int k = 0;
        while (settings[k] && strcmp(settings[k], st->name) != 0)
            k++;
        if (!settings[k]) {
            sema_error(s, st->span, "unknown train setting '%s'", st->name);
            sema_suggest(s, NULL, st->name, settings);
            sema_note_plain(s, "train settings: epochs, batch, optimizer, decompose, seed, checkpoint, log, "
                               "data, validate, schedule, clip, device");
            continue;
        }
        if (seen[k]) {
            sema_error(s, st->span, "'%s' is set twice", st->name);
            sema_note(s, seen[k]->span, "first set here");
            continue;
        }
        seen[k] = st;
        const char *name = settings[k];
        if (!strcmp(name, "optimizer")) {
            sema_check_optimizer(s, s->p->root, st->a, NULL);
            t->optimizer = st->a;
        } else if (!strcmp(name, "decompose")) {
            t->decompose = st->a; /* checked once the models are instantiated */
        } else if (!strcmp(name, "data")) {
            t->data = data_index(s, st->a, "data");
        } else if (!strcmp(name, "validate")) {
            t->validate = data_index(s, st->a, "validate");
        } else if (!strcmp(name, "schedule")) {
            check_schedule(s, st->a);
            t->schedule = st->a;
        } else if (!strcmp(name, "device")) { /* where to train; --device overrides it */
            if (st->a->kind == N_NAME && (!strcmp(st->a->name, "cpu") || !strcmp(st->a->name, "gpu")))
                t->device = st->a->name;
            else
                sema_error(s, st->a->span, "'device' must be cpu or gpu");
        } else {
            Val v = sema_const_expr(s, s->p->root, st->a, NULL);
            sema_check_setting_value(s, "the train block", st, &v);
            int64_t x = v.kind == V_INT && dim_known(v.i) ? v.i.v : 0;
            if (!strcmp(name, "epochs")) t->epochs = x;
            else if (!strcmp(name, "batch")) t->batch = x;
            else if (!strcmp(name, "seed")) t->seed = x;
            else if (!strcmp(name, "checkpoint")) t->checkpoint = v.kind == V_STRING ? v.str : NULL;
            else if (!strcmp(name, "log")) t->log = v.kind == V_STRING ? v.str : NULL;
            else if (!strcmp(name, "clip")) t->clip = v.kind == V_INT ? (double)v.i.v : v.kind == V_NUM ? v.num : 0;
        }
    }
}

/* The set trained on: `data = NAME`, else the one named train, else the only one. */
static int training_set(Sema *s, const Node *at)
{
    if (s->typed.train.data >= 0)
        return s->typed.train.data;
    for (int i = 0; i < s->typed.ndata; i++)
        if (!strcmp(s->typed.data[i].name, "train"))
            return i;
    if (s->typed.ndata == 1)
        return 0;
    if (s->typed.ndata == 0)
        sema_error(s, at->span, "the program declares no data set to train on");
    else
        sema_error(s, at->span, "which data set is trained on? name one 'train' or set 'data = NAME' in the train block");
    return -1;
}

static void mark_validation(Sema *s)
{
    int v = s->typed.train.validate;
    for (int i = 0; v < 0 && i < s->typed.ndata; i++) {
        const char *n = s->typed.data[i].name;
        if (!strcmp(n, "test") || !strcmp(n, "valid") || !strcmp(n, "validation"))
            v = i;
    }
    s->typed.train.validate = v;
}

static void check_loss(Sema *s, const Node *loss, int set)
{
    Body b = { .s = s, .mod = s->p->root, .in_loss = 1, .instance = -1, .stage = -1 };
    const SemaData *ds = &s->typed.data[set];
    for (int i = 0; i < ds->nfields; i++) {
        const SemaField *f = &ds->fields[i];
        Val v;
        if (f->is_class) {
            v = (Val){ .kind = V_CLASS, .i = f->classes ? dim_const(f->classes) : dim_unknown() };
        } else {
            Shape sh = { .rank = f->shape.rank };
            for (int k = 0; k < sh.rank; k++)
                sh.d[k] = f->shape.dim[k] > 0 ? dim_const(f->shape.dim[k]) : dim_unknown();
            v = val_tensor(&sh);
        }
        sema_add_local(&b, f->name, L_FIELD, v, ds->decl->list.items[i])->used = 1;
    }
    Val v = sema_expr(&b, loss->a);
    sema_body_free(&b);
    Shape sh;
    if (v.kind == V_ERR)
        return;
    if (!val_shape(&v, &sh) || sh.rank > 1 || (sh.rank == 1 && dim_known(sh.d[0]) && sh.d[0].v != 1)) {
        char buf[128];
        sema_error(s, loss->a->span, "the loss must be a scalar ([] or [1]), but it is %s", val_str(&v, buf, sizeof buf));
        return;
    }
    shape_to_typed(&sh, &s->typed.loss_shape);
    if (s->typed.nmodels == 0)
        sema_error(s, loss->a->span, "the loss calls no model, so there is nothing to train");
}

/* schedule and clip act on SGD and Adam steps: refused where the run takes none */
static void check_first_order(Sema *s, const Node *train)
{
    const SemaTrain *t = &s->typed.train;
    if ((!t->schedule && !t->clip) || sema_first_order_steps(s))
        return;
    for (int i = 0; i < train->list.len; i++) {
        const Node *st = train->list.items[i];
        if (strcmp(st->name, "schedule") != 0 && strcmp(st->name, "clip") != 0)
            continue;
        const Node *o = t->optimizer;
        sema_error(s, st->span, "'%s' acts on the steps of sgd, adam and adamw, and this run takes none", st->name);
        if (sema_admm_call(t->decompose))
            sema_note_plain(s, "layers(admm(...)) takes no optimiser steps: its updates are its own");
        else if (sema_multilevel_call(t->decompose))
            sema_note_plain(s, "multilevel(rmtr(...)) takes trust-region iterations only, which choose their own "
                            "step lengths");
        else if (t->decompose)
            sema_note_plain(s, "the strategy's local and global steps are neither sgd nor adam steps");
        else
            sema_note_plain(s, "the optimiser is %s, which chooses its own step lengths", o ? o->name : "sgd");
    }
}

void sema_check_program(Sema *s)
{
    for (int i = 0; i < s->p->nmodules; i++) {
        Module *m = s->p->modules[i];
        for (int k = 0; k < m->ast->list.len; k++) {
            Node *n = m->ast->list.items[k];
            if (n->kind != N_LOSS && n->kind != N_TRAIN)
                continue;
            const char *what = n->kind == N_LOSS ? "loss" : "train";
            if (m != s->p->root) {
                sema_error(s, n->span, "'%s' can only appear in the program's main file, not in module '%s'",
                           what, m->name);
                continue;
            }
            Node **slot = n->kind == N_LOSS ? &s->loss : &s->train;
            if (*slot) {
                sema_error(s, n->span, "a program has one '%s'; this is the second", what);
                sema_note(s, (*slot)->span, "the first '%s' is here", what);
                continue;
            }
            *slot = n;
        }
    }
    if (!s->is_program)
        return;
    const SourceFile *f = s->p->root->file;
    Span top = { .file = f, .line = 1, .col = 1, .end_line = 1, .end_col = 1 };
    if (!s->loss)
        sema_error(s, top, "the program has no 'loss'; write 'loss = ...;' over a data set's fields");
    if (!s->train)
        sema_error(s, top, "the program has no 'train' block; write 'train { ... }'");
    if (s->train)
        check_train(s, s->train);
    mark_validation(s);
    const Node *at = s->loss ? s->loss : s->train;
    int set = at ? training_set(s, at) : -1;
    s->typed.train.data = set;
    if (set >= 0) {
        Decl *d = sema_lookup(s, s->p->root, s->typed.data[set].name);
        if (d)
            d->used = 1;
    }
    if (s->loss && set >= 0) {
        s->typed.loss = s->loss;
        check_loss(s, s->loss, set);
    }
    /* the fit is only judged on a model that checked without error */
    if (s->typed.train.decompose)
        sema_check_decompose(s, s->typed.train.decompose, s->d->errors == 0);
    if (s->train && s->d->errors == 0)
        check_first_order(s, s->train);
    sema_strategy_facts(s);
}
