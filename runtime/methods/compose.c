/* compose.c - the four primitives composed: decompose = params(...) or a
 * strategy declared in .exa (it arrives as strategy(split=, by=, into=,
 * local=, combine=, global=)).
 *
 *   split    data: each rank of the communicator a micro-batch;
 *            params: each rank a block of stages (by stage) or of layers
 *            (by layer: the parameters sharing a path prefix)
 *   local    the solver a rank runs on its subproblem (gradient: none,
 *            then the averaged gradient goes to the global optimiser)
 *   combine  additive / average / multiplicative (methods.def)
 *   global   trust_region: ratio test on the mini-batch (SAPTS, APTS);
 *            lbfgs: line search along the combined correction, then one
 *            global L-BFGS step (nonlinearly preconditioned L-BFGS);
 *            plain: take it; an optimiser: on the averaged gradient.
 * Which combination runs is methods.def's fit sets, checked by exac and
 * again here.  Local solvers start every round afresh (solver_reset): no
 * local state survives a round, so none is checkpointed.  With
 * `batches: successive` a round is `steps` mini-batches long, one local
 * step on each, and it always ends with the epoch's last mini-batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "solver.h"

typedef enum Split { SPLIT_DATA, SPLIT_PARAMS } Split;
typedef enum Combine {
#define EXA_COMBINE(word, id, fits) COMBINE_##id,
#include "exa/methods.def"
} Combine;

/* methods.def's fit sets are written with the bare bit names */
#define DATA_GRADIENT EXA_FITS_DATA_GRADIENT
#define DATA_LOCAL EXA_FITS_DATA_LOCAL
#define PARAMS EXA_FITS_PARAMS
static const struct {
    const char *word;
    int fits;
} combines[] = {
#define EXA_COMBINE(word, id, fits) { #word, fits },
#include "exa/methods.def"
};

static const struct {
    const char *word;
    int fits;
} globals[] = {
#define EXA_GLOBAL(word, id, fits) { #word, fits },
#include "exa/methods.def"
};
#undef DATA_GRADIENT
#undef DATA_LOCAL
#undef PARAMS

typedef struct Compose {
    ExaMethod base;
    Split split;
    Combine combine;
    Optimizer gopt, lopt;      /* global and local solvers */
    double delta;              /* global trust radius (SAPTS, APTS) */
    char *mask;                /* SPLIT_PARAMS: 1 for this rank's weights */
    double *x, *g, *x0, *g0, *shift, *y, *c; /* n doubles each */
    void *stage_theta, *stage_grad;
    int round;                 /* successive batches: local steps taken this round */
} Compose;

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static Objective objective_of(Compose *s, int64_t begin, int64_t count, ExaShard mode)
{
    return (Objective){ .r = s->base.r, .loss = solver_split_loss_fn, .ctx = &s->base, .begin = begin,
                        .count = count, .mode = mode, .stage_theta = s->stage_theta,
                        .stage_grad = s->stage_grad };
}

static double dot(const double *a, const double *b, int64_t n)
{
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d += a[i] * b[i];
    return d;
}

/* The ratio test of a trust-region globalisation: accepts x + c when the
 * mini-batch loss falls by enough of the predicted reduction, and updates
 * the radius as the trust-region optimiser does. */
static void ratio_test(Compose *s, Objective *global, double f, double pred)
{
    int64_t n = s->base.r->n;
    const ExaTrustConfig *cfg = &s->gopt.trust.cfg;
    double norm = sqrt(dot(s->c, s->c, n));
    for (int64_t i = 0; i < n; i++)
        s->y[i] = s->x[i] + s->c[i];
    double trial = solver_objective(global, s->y, s->g0);
    double rho = pred > 0 ? (f - trial) / pred : -1;
    if (rho > cfg->eta_accept) {
        memcpy(s->x, s->y, (size_t)n * sizeof *s->x);
        if (rho > cfg->eta_expand && norm >= cfg->near_boundary * s->delta)
            s->delta = fmin(cfg->expand * s->delta, cfg->delta_max);
    } else {
        s->delta = fmax(cfg->shrink * s->delta, cfg->delta_min);
    }
}

/* Sums (or averages) c over the ranks, and returns the summed prediction. */
static double combine(Compose *s, double pred)
{
    const ExaComm *comm = &s->base.comm;
    int64_t n = s->base.r->n;
    exa_comm_allreduce_sum(comm, s->c, (size_t)n, EXA_REAL_F64);
    if (s->combine == COMBINE_AVERAGE)
        for (int64_t i = 0; i < n; i++)
            s->c[i] /= (double)comm->size;
    return exa_comm_sum_double(comm, pred);
}

/* split data: local solves on micro-batches (SAPTS, local SGD). */
static double data_step(Compose *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->base.r;
    int64_t n = r->n;
    int consistent = s->gopt.spec.kind == OPT_TR;
    Objective global = objective_of(s, begin, count, EXA_SHARD_SPLIT);
    Objective local = objective_of(s, begin, count, EXA_SHARD_LOCAL);
    solver_to_double(r, r->theta, s->x);
    double f = solver_objective(&global, s->x, s->g);
    double fi = solver_objective(&local, s->x, s->g0);
    if (consistent) { /* F_i(y) = f_i(y) + (g - g_i)'(y - x) */
        for (int64_t i = 0; i < n; i++)
            s->shift[i] = s->g[i] - s->g0[i];
        memcpy(s->x0, s->x, (size_t)n * sizeof *s->x);
        local.shift = s->shift;
        local.x0 = s->x0;
        memcpy(s->g0, s->g, (size_t)n * sizeof *s->g); /* gradient of F_i at x is g */
    }
    memcpy(s->y, s->x, (size_t)n * sizeof *s->x);
    solver_reset(&s->lopt, consistent ? s->delta / s->base.comm.size : 0);
    double Fy = fi;
    solver_run(&s->lopt, &local, s->y, &Fy, s->g0);
    for (int64_t i = 0; i < n; i++)
        s->c[i] = s->y[i] - s->x[i];
    double pred = combine(s, fi - Fy);
    if (consistent)
        ratio_test(s, &global, f, pred);
    else
        for (int64_t i = 0; i < n; i++)
            s->x[i] += s->c[i];
    solver_from_double(r, s->x, r->theta);
    return f;
}

/* split data, batches: successive: one local step on this mini-batch's
 * micro-batch from where the round has got to (y); the round's start is x
 * (the parameters, unchanged during the round).  After `steps` mini-batches,
 * or the epoch's last, the corrections are combined and taken (global
 * plain).  Returns the mini-batch loss at the local iterates, weighted by
 * the micro-batches. */
static double successive_step(Compose *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->base.r;
    int64_t n = r->n;
    Objective local = objective_of(s, begin, count, EXA_SHARD_LOCAL);
    if (s->round == 0) {
        solver_to_double(r, r->theta, s->x);
        memcpy(s->y, s->x, (size_t)n * sizeof *s->x);
        solver_reset(&s->lopt, 0);
    }
    double fy = solver_objective(&local, s->y, s->g0), start = fy;
    int steps = s->lopt.spec.steps; /* one of the round's steps on this micro-batch */
    s->lopt.spec.steps = 1;
    solver_run(&s->lopt, &local, s->y, &fy, s->g0);
    s->lopt.spec.steps = steps;
    int64_t lb, ln;
    exa_data_shard(count, s->base.comm.rank, s->base.comm.size, &lb, &ln);
    double loss = exa_comm_sum_double(&s->base.comm, start * (double)ln) / (double)count;
    if (++s->round >= steps || begin + count >= r->train.n) {
        for (int64_t i = 0; i < n; i++)
            s->c[i] = s->y[i] - s->x[i];
        combine(s, 0);
        for (int64_t i = 0; i < n; i++)
            s->x[i] += s->c[i];
        solver_from_double(r, s->x, r->theta);
        s->round = 0;
    }
    return loss;
}

/* split params: each rank's block solved with the others frozen, the
 * corrections combined, then globalised (nonlinearly preconditioned L-BFGS,
 * APTS in the weights). */
static double params_step(Compose *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->base.r;
    const ExaComm *comm = &s->base.comm;
    int64_t n = r->n;
    Objective global = objective_of(s, begin, count, EXA_SHARD_SPLIT);
    Objective local = objective_of(s, begin, count, EXA_SHARD_ALL);
    local.mask = s->mask;
    solver_to_double(r, r->theta, s->x);
    double f = solver_objective(&global, s->x, s->g), start = f, pred = 0;
    memcpy(s->x0, s->x, (size_t)n * sizeof *s->x);
    if (s->combine == COMBINE_MULTIPLICATIVE) { /* one block after another */
        for (int owner = 0; owner < comm->size; owner++) {
            if (comm->rank == owner) {
                double fy = solver_objective(&local, s->x, s->g0);
                double before = fy;
                solver_reset(&s->lopt, 0);
                solver_run(&s->lopt, &local, s->x, &fy, s->g0);
                pred = before - fy;
            }
            exa_comm_bcast(comm, s->x, (size_t)n * sizeof *s->x, owner);
        }
        for (int64_t i = 0; i < n; i++)
            s->c[i] = s->x[i] - s->x0[i];
        memcpy(s->x, s->x0, (size_t)n * sizeof *s->x);
        pred = exa_comm_sum_double(comm, pred);
    } else {
        memcpy(s->y, s->x, (size_t)n * sizeof *s->x);
        double fy = solver_objective(&local, s->y, s->g0), before = fy;
        /* APTS: local radius Delta/P, so the sum of the P disjoint blocks'
         * steps has norm at most Delta/sqrt(P) and needs no clamping, and the
         * summed local reductions remain its prediction */
        solver_reset(&s->lopt, s->gopt.spec.kind == OPT_TR ? s->delta / comm->size : 0);
        solver_run(&s->lopt, &local, s->y, &fy, s->g0);
        for (int64_t i = 0; i < n; i++)
            s->c[i] = s->y[i] - s->x[i];
        pred = combine(s, before - fy);
    }
    if (s->gopt.spec.kind == OPT_TR) {
        double norm = sqrt(dot(s->c, s->c, n));
        if (norm > s->delta) { /* clamped to the trust region (multiplicative);
                                * the prediction scaled with it, to first order */
            for (int64_t i = 0; i < n; i++)
                s->c[i] *= s->delta / norm;
            pred *= s->delta / norm;
        }
        ratio_test(s, &global, f, pred);
    } else if (s->gopt.spec.kind == OPT_LBFGS) {
        /* x_half = x + a c, a from a strong-Wolfe search from 1; then one
         * global L-BFGS step from x_half */
        if (dot(s->g, s->c, n) < 0) {
            ExaLineSearch ls = exa_line_search_defaults();
            double alpha = 1, fn;
            if (exa_line_search_wolfe(&ls, solver_objective, &global, n, s->x, f, s->g, s->c, &alpha,
                                      s->y, &fn, s->g0) == 0 || fn < f) {
                memcpy(s->x, s->y, (size_t)n * sizeof *s->x);
                memcpy(s->g, s->g0, (size_t)n * sizeof *s->g);
                f = fn;
            }
        }
        exa_lbfgs_step(&s->gopt.lbfgs, solver_objective, &global, s->x, &f, s->g);
    } else {
        for (int64_t i = 0; i < n; i++)
            s->x[i] += s->c[i];
    }
    solver_from_double(r, s->x, r->theta);
    return start;
}

static double compose_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Compose *s = (Compose *)m;
    if (s->split == SPLIT_PARAMS)
        return params_step(s, begin, count);
    if (s->lopt.spec.kind == OPT_GRADIENT) {
        Objective obj = objective_of(s, begin, count, EXA_SHARD_SPLIT);
        return solver_global_step(&s->gopt, &obj, s->x, s->g);
    }
    if (s->lopt.spec.successive)
        return successive_step(s, begin, count);
    return data_step(s, begin, count);
}

/* The global solver's state and the trust radius; local solvers start
 * every round afresh and hold nothing between rounds. */
static void compose_save(ExaMethod *m, ExaStateList *l)
{
    Compose *s = (Compose *)m;
    solver_save(&s->gopt, m->r, "global", l);
    if (s->gopt.spec.kind == OPT_TR)
        exa_state_add(l, "global", "radius", &s->delta, 8);
}

static void compose_load(ExaMethod *m)
{
    solver_load(&((Compose *)m)->gopt);
}

static void compose_free(ExaMethod *m)
{
    Compose *s = (Compose *)m;
    solver_free(&s->gopt);
    solver_free(&s->lopt);
    free(s->x), free(s->g), free(s->x0), free(s->g0), free(s->shift), free(s->y), free(s->c);
    free(s->stage_theta), free(s->stage_grad), free(s->mask);
    free(s);
}

/* The length of the layer part of a parameter path ("enc/dense#1/W" ->
 * "enc/dense#1"): parameters with the same prefix form one layer. */
static size_t layer_prefix(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : strlen(path);
}

/* This rank's block of parameters: stages (or layers) split into contiguous
 * groups, one per rank of the communicator. */
static int make_mask(Compose *s, int by_layer, char *err, size_t errlen)
{
    const ExaRun *r = s->base.r;
    const ExaProgram *p = r->prog;
    int ranks = s->base.comm.size, nlayers = 0;
    int *unit = calloc((size_t)(p->nparams > 0 ? p->nparams : 1), sizeof *unit);
    if (!unit)
        return -1;
    for (int i = 0; i < p->nparams; i++) {
        if (!by_layer) {
            unit[i] = p->params[i].stage;
            continue;
        }
        const char *a = p->params[i].path, *b = i ? p->params[i - 1].path : NULL;
        size_t la = layer_prefix(a);
        if (!b || la != layer_prefix(b) || strncmp(a, b, la) != 0)
            nlayers++;
        unit[i] = nlayers - 1;
    }
    int units = by_layer ? nlayers : p->nstages;
    if (units < ranks) {
        snprintf(err, errlen, "exa: decompose = %s: the model has %d %s to split and the run "
                 "has %d ranks; run with at most %d", s->base.name, units,
                 by_layer ? "layers" : "stages", ranks, units);
        free(unit);
        return -1;
    }
    s->mask = solver_alloc(r->n, 1);
    for (int i = 0; i < p->nparams; i++) {
        const ExaParamInfo *q = &p->params[i];
        if ((int)((int64_t)unit[i] * ranks / units) == s->base.comm.rank)
            memset(s->mask + q->offset, 1, (size_t)q->size);
    }
    free(unit);
    return 0;
}

/* Whether word's fit set (methods.def) holds where; -1 when it is unknown. */
static int fits(const char *word, int where, int global)
{
    size_t n = global ? sizeof globals / sizeof globals[0] : sizeof combines / sizeof combines[0];
    for (size_t i = 0; i < n; i++)
        if (same(word, global ? globals[i].word : combines[i].word))
            return ((global ? globals[i].fits : combines[i].fits) & where) != 0;
    return -1;
}

static const char *opt_word(const ExaValue *v)
{
    return !v ? NULL : v->kind == EXA_CALL ? v->call->name : v->kind == EXA_IDENT ? v->str : NULL;
}

static ExaMethod *compose_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err,
                                 size_t errlen)
{
    Compose *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.r = r;
    s->base.comm = *comm;
    exa_call_print(d, s->base.name, sizeof s->base.name);
    const ExaCall *optimizer = r->prog->optimizer;
    s->split = same(exa_call_ident(d, "split", "params"), "data") ? SPLIT_DATA : SPLIT_PARAMS;
    OptSpec local = solver_spec(exa_call_arg(d, "local"), optimizer);
    OptSpec global = solver_spec(exa_call_arg(d, "global"), optimizer);
    const char *cw = exa_call_ident(d, "combine", "additive");
    const char *gw = opt_word(exa_call_arg(d, "global"));
    if (!gw || same(gw, "optimizer"))
        gw = optimizer->name;
    int where = s->split == SPLIT_PARAMS ? EXA_FITS_PARAMS
              : local.kind == OPT_GRADIENT ? EXA_FITS_DATA_GRADIENT : EXA_FITS_DATA_LOCAL;
    const char *by = exa_call_ident(d, "by", "stage");
    for (size_t i = 0; i < sizeof combines / sizeof combines[0]; i++)
        if (same(cw, combines[i].word))
            s->combine = (Combine)i;
    const ExaValue *into = exa_call_arg(d, "into") ? exa_call_arg(d, "into") : exa_call_arg(d, "groups");
    const char *why = local.kind == OPT_NONE || global.kind == OPT_NONE ? "unknown local or global solver"
        : s->split == SPLIT_PARAMS && !same(by, "stage") && !same(by, "layer") ? "parameters split by neither stage nor layer"
        : into && !(into->kind == EXA_IDENT && same(into->str, "ranks")) ? "groups other than 'ranks'"
        : fits(cw, where, 0) != 1 ? "a combination that does not fit its split"
        : fits(gw, where, 1) != 1 ? "a global step that does not fit its split"
        : local.kind == OPT_GRADIENT && s->split == SPLIT_PARAMS ? "local gradient under split params"
        : local.successive && (s->split != SPLIT_DATA || global.kind != OPT_PLAIN) ? "successive batches outside split data with global plain"
        : NULL;
    if (why) { /* exac refuses these; a descriptor written by hand may not */
        snprintf(err, errlen, "exa: decompose = %s: %s (exac rejects this; see docs/strategies.md)",
                 s->base.name, why);
        free(s);
        return NULL;
    }
    if (s->split == SPLIT_DATA && exa_run_check_shards(r, comm->size, "rank", err, errlen) != 0) {
        free(s);
        return NULL;
    }
    if (s->split == SPLIT_PARAMS && make_mask(s, same(by, "layer"), err, errlen) != 0) {
        free(s);
        return NULL;
    }
    int64_t n = r->n;
    s->x = solver_alloc(n, 8), s->g = solver_alloc(n, 8), s->x0 = solver_alloc(n, 8);
    s->g0 = solver_alloc(n, 8), s->shift = solver_alloc(n, 8), s->y = solver_alloc(n, 8);
    s->c = solver_alloc(n, 8);
    s->stage_theta = solver_alloc(n, (size_t)r->elem), s->stage_grad = solver_alloc(n, (size_t)r->elem);
    if (solver_init(r, &global, &s->gopt, r->elem == 8) != 0 || solver_init(r, &local, &s->lopt, 1) != 0) {
        snprintf(err, errlen, "exa: out of memory for the optimiser");
        compose_free(&s->base);
        return NULL;
    }
    s->delta = global.kind == OPT_TR ? s->gopt.trust.cfg.delta0 : 0;
    return &s->base;
}

const ExaMethodOps exa_method_compose = {
    .name = "compose", .create = compose_create, .step = compose_step, .loss = solver_split_loss,
    .save = compose_save, .load = compose_load, .free = compose_free,
};
