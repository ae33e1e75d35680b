/* strategy.c - how one mini-batch step is taken: the strategy engine.
 *
 * The descriptor's decompose line arrives as one of
 *   (none)                         one optimiser step on the mini-batch
 *   data()                         the same, data parallel: every rank a shard
 *                                  of the mini-batch, gradients averaged
 *   params(by=, local=, combine=, global=)
 *   strategy(split=data|params, local=, combine=, global=)   from .exa
 * and every form is run by the same engine from the four primitives:
 *   split    data: each rank a micro-batch; params: each rank a block of stages
 *   local    the solver a rank runs on its subproblem (gradient: none)
 *   combine  additive / sum / average / multiplicative of the local corrections
 *   global   trust_region: ratio test on the mini-batch (SAPTS, APTS);
 *            lbfgs: line search along the combined correction, then one global
 *            L-BFGS step (nonlinearly preconditioned L-BFGS); plain: take it;
 *            optimizer: the train block's optimiser (data parallelism).
 * The local and global solvers live in strategy_solve.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strategy_internal.h"

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* An optimiser spec from a call tree value (or identifier). */
static OptSpec spec_of(const ExaValue *v, const ExaCall *fallback)
{
    OptSpec o = { .kind = OPT_NONE, .steps = 1 };
    const ExaCall *c = v && v->kind == EXA_CALL ? v->call : NULL;
    const char *name = c ? c->name : v && v->kind == EXA_IDENT ? v->str : NULL;
    if (same(name, "optimizer") || (!v && fallback)) {
        c = fallback;
        name = c->name;
    }
    o.call = c;
    if (same(name, "sgd"))
        o.kind = OPT_SGD;
    else if (same(name, "adam"))
        o.kind = OPT_ADAM;
    else if (same(name, "lbfgs"))
        o.kind = OPT_LBFGS;
    else if (same(name, "trust_region"))
        o.kind = OPT_TR;
    else if (same(name, "gradient"))
        o.kind = OPT_GRADIENT;
    else if (same(name, "plain"))
        o.kind = OPT_PLAIN;
    o.steps = (int)exa_call_num(c, "steps", 1);
    if (o.steps < 1)
        o.steps = 1;
    return o;
}

static Combine combine_of(const char *name)
{
    return same(name, "multiplicative") ? COMBINE_MULTIPLICATIVE
           : same(name, "average") ? COMBINE_AVERAGE
           : same(name, "sum") ? COMBINE_SUM : COMBINE_ADDITIVE;
}

static double *vec(int64_t n)
{
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    if (!v) {
        fputs("exa: out of memory\n", stderr);
        exit(1);
    }
    return v;
}

/* This rank's block of parameters: stages split into contiguous groups, one
 * per rank. */
static int make_mask(ExaStrategy *s, char *err, size_t errlen)
{
    const ExaProgram *p = s->r->prog;
    int ranks = s->r->world.size, stages = p->nstages;
    if (stages < ranks) {
        snprintf(err, errlen, "exa: decompose = %s: the model has %d stages to split and the run "
                 "has %d ranks; run with at most %d", s->name, stages, ranks, stages);
        return -1;
    }
    s->mask = calloc((size_t)(s->r->n > 0 ? s->r->n : 1), 1);
    if (!s->mask)
        return -1;
    for (int i = 0; i < p->nparams; i++) {
        const ExaParamInfo *q = &p->params[i];
        int group = (int)((int64_t)q->stage * ranks / stages);
        if (group == s->r->world.rank)
            memset(s->mask + q->offset, 1, (size_t)q->size);
    }
    return 0;
}

/* f64: the optimiser's buffers are doubles (local solvers work on double
 * copies) rather than reals of the program's precision. */
static int init_optimizer(ExaStrategy *s, const OptSpec *o, Optimizer *st, int f64)
{
    ExaRun *r = s->r;
    double lr = r->opt.lr > 0 ? r->opt.lr : -1;
    memset(st, 0, sizeof *st);
    st->spec = *o;
    switch (o->kind) {
    case OPT_SGD: {
        ExaSgdConfig c = { .lr = lr > 0 ? lr : exa_call_num(o->call, "lr", 0.01),
                           .momentum = exa_call_num(o->call, "momentum", 0) };
        return exa_sgd_init(&st->sgd, c, r->n, f64);
    }
    case OPT_ADAM: {
        ExaAdamConfig c = exa_adam_defaults();
        c.lr = lr > 0 ? lr : exa_call_num(o->call, "lr", c.lr);
        c.beta1 = exa_call_num(o->call, "beta1", c.beta1);
        c.beta2 = exa_call_num(o->call, "beta2", c.beta2);
        c.eps = exa_call_num(o->call, "eps", c.eps);
        return exa_adam_init(&st->adam, c, r->n, f64);
    }
    case OPT_LBFGS: {
        ExaLbfgsConfig c = exa_lbfgs_defaults();
        c.history = (int)exa_call_num(o->call, "history", c.history);
        return exa_lbfgs_init(&st->lbfgs, c, r->n);
    }
    case OPT_TR: {
        ExaTrustConfig c = exa_trust_defaults();
        c.memory = (int)exa_call_num(o->call, "memory", 0);
        c.delta0 = exa_call_num(o->call, "radius", c.delta0);
        c.delta_min = exa_call_num(o->call, "min_radius", c.delta_min);
        c.delta_max = exa_call_num(o->call, "max_radius", c.delta_max);
        c.eta_accept = exa_call_num(o->call, "accept", c.eta_accept);
        c.expand = exa_call_num(o->call, "expand", c.expand);
        c.shrink = exa_call_num(o->call, "shrink", c.shrink);
        if (c.delta_min > c.delta0)
            c.delta_min = c.delta0;
        return exa_trust_init(&st->trust, c, r->n);
    }
    default:
        return 0;
    }
}

static void free_optimizer(Optimizer *st)
{
    switch (st->spec.kind) {
    case OPT_SGD: exa_sgd_free(&st->sgd); break;
    case OPT_ADAM: exa_adam_free(&st->adam); break;
    case OPT_LBFGS: exa_lbfgs_free(&st->lbfgs); break;
    case OPT_TR: exa_trust_free(&st->trust); break;
    default: break;
    }
}

ExaStrategy *exa_strategy_create(ExaRun *r, char *err, size_t errlen)
{
    ExaStrategy *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->r = r;
    const ExaCall *d = r->prog->decompose;
    const ExaCall *optimizer = r->prog->optimizer;
    if (d)
        exa_call_print(d, s->name, sizeof s->name);
    else
        snprintf(s->name, sizeof s->name, "no decomposition");
    if (!d || same(d->name, "data")) {
        s->split = SPLIT_DATA;
        s->local = spec_of(NULL, NULL);
        s->local.kind = OPT_GRADIENT;
        s->global = spec_of(NULL, optimizer);
    } else if (same(d->name, "params") || same(d->name, "strategy")) {
        const char *split = exa_call_ident(d, "split", "params");
        s->split = same(split, "data") ? SPLIT_DATA : SPLIT_PARAMS;
        s->local = spec_of(exa_call_arg(d, "local"), optimizer);
        s->combine = combine_of(exa_call_ident(d, "combine", "additive"));
        s->global = spec_of(exa_call_arg(d, "global"), optimizer);
        const char *by = exa_call_ident(d, "by", "stage");
        if (s->split == SPLIT_PARAMS && !same(by, "stage") && !same(by, "layer")) {
            snprintf(err, errlen, "exa: decompose = %s: parameters split by '%s'; expected stage or layer",
                     s->name, by);
            free(s);
            return NULL;
        }
    } else if (same(d->name, "layers")) { /* the train block's optimiser on MGRIT gradients */
        s->split = SPLIT_DATA;
        s->local = spec_of(NULL, NULL);
        s->local.kind = OPT_GRADIENT;
        s->global = spec_of(NULL, optimizer);
        if (strategy_layers_create(s, err, errlen) != 0) {
            strategy_layers_free(s->layers);
            free(s);
            return NULL;
        }
    } else {
        snprintf(err, errlen, "exa: decompose = %s: this strategy is not available in this version "
                 "of libexa; data(), params(...), layers(mgrit(...)) and strategies of split, "
                 "local, combine and global are", s->name);
        free(s);
        return NULL;
    }
    if (s->local.kind == OPT_NONE || s->global.kind == OPT_NONE) {
        snprintf(err, errlen, "exa: decompose = %s: unknown local or global solver", s->name);
        free(s);
        return NULL;
    }
    if (s->split == SPLIT_DATA && !s->layers && r->world.size > 1 && r->train.n < r->world.size) {
        /* the batch is cut to the data set's size: --batch cannot help */
        snprintf(err, errlen, "exa: %d ranks but data '%s' has %lld samples%s: every rank needs at "
                 "least one (%s %d or more, or at most %lld ranks)", r->world.size,
                 r->train_info->name, (long long)r->train.n, r->opt.limit > 0 ? " (--limit)" : "",
                 r->opt.limit > 0 ? "use --limit" : "samples:", r->world.size,
                 (long long)r->train.n);
        free(s);
        return NULL;
    }
    if (s->split == SPLIT_DATA && !s->layers && r->world.size > 1 && r->batch < r->world.size) {
        snprintf(err, errlen, "exa: %d ranks but a mini-batch of %lld samples: every rank needs at "
                 "least one (use --batch %d or more)", r->world.size, (long long)r->batch,
                 r->world.size);
        free(s);
        return NULL;
    }
    if (s->split == SPLIT_PARAMS && make_mask(s, err, errlen) != 0) {
        free(s);
        return NULL;
    }
    int64_t n = r->n;
    s->x = vec(n), s->g = vec(n), s->x0 = vec(n), s->g0 = vec(n);
    s->shift = vec(n), s->y = vec(n), s->c = vec(n);
    s->stage_theta = calloc((size_t)(n > 0 ? n : 1), (size_t)r->elem);
    s->stage_grad = calloc((size_t)(n > 0 ? n : 1), (size_t)r->elem);
    if (init_optimizer(s, &s->global, &s->gopt, r->elem == 8) != 0
        || init_optimizer(s, &s->local, &s->lopt, 1) != 0) {
        snprintf(err, errlen, "exa: out of memory for the optimiser");
        exa_strategy_free(s);
        return NULL;
    }
    s->delta = s->global.kind == OPT_TR ? s->gopt.trust.cfg.delta0 : 0;
    return s;
}

static double strategy_step(ExaStrategy *s, int64_t begin, int64_t count)
{
    if (s->split == SPLIT_PARAMS)
        return strategy_params_step(s, begin, count);
    if (s->local.kind == OPT_GRADIENT)
        return strategy_global_step(s, &s->gopt, begin, count, EXA_SHARD_SPLIT);
    return strategy_data_step(s, begin, count);
}

double exa_strategy_step(ExaStrategy *s, int64_t begin, int64_t count)
{
    if (!s->layers)
        return strategy_step(s, begin, count);
    if (strategy_layers_begin_step(s->layers)) { /* a finer network: a new problem */
        free_optimizer(&s->gopt);
        if (init_optimizer(s, &s->global, &s->gopt, s->r->elem == 8) != 0) {
            fputs("exa: out of memory for the optimiser\n", stderr);
            exit(1);
        }
    }
    double loss = strategy_step(s, begin, count);
    strategy_layers_end_step(s->layers, s->r->theta);
    return loss;
}

const char *exa_strategy_name(const ExaStrategy *s)
{
    return s->name;
}

/* Checkpointed state: the global optimiser's arrays and, in meta, its
 * counters and the trust radius, so a resumed run continues bit for bit. */
int exa_strategy_state(ExaStrategy *s, void **arrays, int64_t *bytes)
{
    Optimizer *o = &s->gopt;
    int64_t n = s->r->n, eb = s->r->elem;
    int k = 0;
    s->meta[0] = s->delta;
    s->meta[1] = (double)o->adam.t;
    s->meta[2] = (double)o->sgd.steps;
    s->meta[3] = o->spec.kind == OPT_TR ? o->trust.delta : 0;
    arrays[k] = s->meta, bytes[k++] = sizeof s->meta;
    if (o->spec.kind == OPT_SGD && o->sgd.buf)
        arrays[k] = o->sgd.buf, bytes[k++] = n * eb;
    if (o->spec.kind == OPT_ADAM) {
        arrays[k] = o->adam.m, bytes[k++] = n * eb;
        arrays[k] = o->adam.v, bytes[k++] = n * eb;
    }
    if (o->spec.kind == OPT_LBFGS) {
        int m = o->lbfgs.cfg.history;
        s->meta[4] = o->lbfgs.stored, s->meta[5] = o->lbfgs.head, s->meta[6] = (double)o->lbfgs.iter;
        arrays[k] = o->lbfgs.s, bytes[k++] = (int64_t)m * n * 8;
        arrays[k] = o->lbfgs.y, bytes[k++] = (int64_t)m * n * 8;
        arrays[k] = o->lbfgs.rho, bytes[k++] = (int64_t)m * 8;
    }
    return k;
}

int exa_strategy_restore(ExaStrategy *s, void *const *arrays, const int64_t *bytes, int n)
{
    void *mine[EXA_CKPT_ARRAYS];
    int64_t sizes[EXA_CKPT_ARRAYS];
    int k = exa_strategy_state(s, mine, sizes);
    if (k != n)
        return -1;
    for (int i = 0; i < k; i++)
        if (sizes[i] != bytes[i])
            return -1;
    for (int i = 0; i < k; i++)
        memcpy(mine[i], arrays[i], (size_t)bytes[i]);
    Optimizer *o = &s->gopt;
    s->delta = s->meta[0];
    o->adam.t = (int64_t)s->meta[1];
    o->sgd.steps = (int64_t)s->meta[2];
    if (o->spec.kind == OPT_TR)
        o->trust.delta = s->meta[3];
    if (o->spec.kind == OPT_LBFGS) {
        o->lbfgs.stored = (int)s->meta[4], o->lbfgs.head = (int)s->meta[5];
        o->lbfgs.iter = (int64_t)s->meta[6];
    }
    return 0;
}

void exa_strategy_free(ExaStrategy *s)
{
    if (!s)
        return;
    free_optimizer(&s->gopt);
    free_optimizer(&s->lopt);
    free(s->x), free(s->g), free(s->x0), free(s->g0), free(s->shift), free(s->y), free(s->c);
    free(s->stage_theta), free(s->stage_grad), free(s->mask);
    strategy_layers_free(s->layers);
    free(s);
}
