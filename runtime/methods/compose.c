/* compose.c - the four primitives composed: decompose = params(...) or a
 * strategy declared in .exa (it arrives as strategy(split=, by=, into=,
 * local=, combine=, global=)).
 *
 *   split    data: each group of ranks a micro-batch;
 *            params: each group a block of stages (by stage) or of layers
 *            (by layer), disjoint, overlapping or listed (compose_blocks.c)
 *   local    the solver a rank runs on its subproblem (gradient: none,
 *            then the averaged gradient goes to the global optimiser), or a
 *            declared strategy run on the group's communicator (nesting:
 *            split ... into ranks(per_block: m))
 *   combine  additive / average / multiplicative / restricted / weighted
 *            (methods.def), each after one mini-batch or, with (every: k),
 *            after local solves on k successive mini-batches
 *   global   trust_region: ratio test on the mini-batch (SAPTS, APTS);
 *            lbfgs: line search along the combined correction, then one
 *            global L-BFGS step (nonlinearly preconditioned L-BFGS);
 *            secant: L-BFGS on F = -c, backtracked (G-ASPIN, compose_secant.c);
 *            plain: take it; an optimiser: on the averaged gradient.
 * Local solvers (and nested strategies) start every round
 * afresh: no local state survives a round, so none is checkpointed.  A
 * round of several mini-batches (`batches: successive`, `every: k`) always
 * ends with the epoch's last mini-batch.
 *
 *   coarse   (optional) a second level: coarse() below, between combine()
 *            and the global step (two-level Schwarz).
 * Which combination runs is methods.def's fit sets, checked by exac and
 * again here.  Every sum over the ranks goes through the method's reducer
 * (exa/reduce.h, opened in create(): NCCL on GPUs that have it, else MPI),
 * the global objective's gradient included (solver_split_loss_fn). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"

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

static const char *const weights[] = {
#define EXA_WEIGHT(word, id) #word,
#include "exa/methods.def"
};

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* In a grid's columns: exa_run_loss_on's sharing of the rows over the
 * strategy's communicator (the grid's row), each rank's rows evaluated by
 * the rows method on its column (collectively: every rank of a column has
 * the same place in its row, so the same rows). */
static double rows_loss(Compose *s, const void *theta, void *grad, int64_t begin, int64_t count, ExaShard mode)
{
    ExaRun *r = s->base.r;
    const ExaComm *comm = &s->base.comm;
    int64_t lb = 0, ln = count;
    if (mode != EXA_SHARD_ALL)
        exa_data_shard(count, comm->rank, comm->size, &lb, &ln);
    double f = 0;
    if (ln > 0)
        f = s->rows->ops->loss(s->rows, theta, grad, begin + lb, ln);
    else if (grad)
        memset(grad, 0, (size_t)r->n * (size_t)r->elem);
    if (mode != EXA_SHARD_SPLIT || comm->size == 1)
        return f;
    double w = (double)ln / (double)count;
    if (grad) {
        for (int64_t i = 0; i < r->n; i++)
            exa_set(r, grad, i, w * exa_get(r, grad, i));
        exa_comm_allreduce_sum(comm, grad, (size_t)r->n, (ExaReal)r->elem);
    }
    return exa_comm_sum_double(comm, w * f);
}

/* Every loss the strategy evaluates: exa_run_loss_on over its communicator;
 * as a grid's rows on the column's share of the rows, weighted and summed
 * over the columns (across), as grid.c's grid_loss sums the rows method's;
 * as a grid's columns through rows_loss. */
static double compose_loss_fn(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count,
                              ExaShard mode)
{
    Compose *s = ctx;
    ExaRun *r = s->base.r;
    if (s->rows)
        return rows_loss(s, theta, grad, begin, count, mode);
    if (!s->across || s->across->size == 1)
        return exa_run_loss_on(r, &s->base.comm, theta, grad, begin, count, mode);
    int64_t lb, ln;
    exa_data_shard(count, s->across->rank, s->across->size, &lb, &ln);
    double f = 0, w = (double)ln / (double)count;
    if (ln > 0) /* every rank of a column has the same share */
        f = exa_run_loss_on(r, &s->base.comm, theta, grad, begin + lb, ln, mode);
    else if (grad)
        memset(grad, 0, (size_t)r->n * (size_t)r->elem);
    if (grad) {
        for (int64_t i = 0; i < r->n; i++)
            exa_set(r, grad, i, w * exa_get(r, grad, i));
        exa_comm_allreduce_sum(s->across, grad, (size_t)r->n, (ExaReal)r->elem);
    }
    return exa_comm_sum_double(s->across, w * f);
}

int compose_share_samples(ExaMethod *m, const ExaComm *across)
{
    if (m->ops != &exa_method_compose)
        return -1;
    for (Compose *s = (Compose *)m; s; s = s->inner)
        s->across = across;
    return 0;
}

int compose_evaluate_by(ExaMethod *m, ExaMethod *rows)
{
    if (m->ops != &exa_method_compose)
        return -1;
    for (Compose *s = (Compose *)m; s; s = s->inner)
        s->rows = rows;
    return 0;
}

static Objective objective_of(Compose *s, int64_t begin, int64_t count, ExaShard mode)
{
    return (Objective){ .r = s->base.r, .loss = compose_loss_fn, .ctx = s, .begin = begin,
                        .count = count, .mode = mode, .stage_theta = s->stage_theta,
                        .stage_grad = s->stage_grad, .mask = s->split == SPLIT_DATA ? s->mask : NULL };
}

/* A rank's subproblem: under split data its micro-batch (with a nested
 * strategy: its group's, evaluated over the group), under split params the
 * mini-batch with only its block free. */
static Objective local_of(Compose *s, int64_t begin, int64_t count)
{
    if (s->split == SPLIT_PARAMS) {
        Objective o = objective_of(s, begin, count, EXA_SHARD_ALL);
        o.mask = s->mask;
        return o;
    }
    if (!s->inner)
        return objective_of(s, begin, count, EXA_SHARD_LOCAL);
    int64_t lb, ln;
    exa_data_shard(count, s->group, s->ngroups, &lb, &ln);
    Objective o = objective_of(s->inner, begin + lb, ln, EXA_SHARD_SPLIT);
    o.mask = s->mask;
    return o;
}

static double dot(const double *a, const double *b, int64_t n)
{
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d += a[i] * b[i];
    return d;
}

static double compose_step(ExaMethod *m, int64_t begin, int64_t count);

/* A nested strategy starts each round as it was created (it is a local
 * solver): its trust radius initial, its global history empty. */
static void compose_reset(Compose *s)
{
    s->delta = s->gopt.spec.kind == OPT_TR ? s->gopt.trust.cfg.delta0 : 0;
    solver_reset(&s->gopt, s->delta);
    s->sec.counters[0] = s->sec.counters[1] = s->sec.counters[2] = 0;
    s->round = 0;
}

/* The local solve from y (value *fy and gradient g of the local objective,
 * both current) for `steps` iterations; a nested strategy takes one step of
 * its own on the group's share of the mini-batch, and *fy, g are then
 * re-evaluated. */
static void local_solve(Compose *s, Objective *local, double *y, double *fy, double *g, int64_t begin,
                        int64_t count)
{
    if (!s->inner) {
        solver_run(&s->lopt, local, y, fy, g);
        return;
    }
    ExaRun *r = s->base.r;
    int64_t b = begin, c = count;
    if (s->split == SPLIT_DATA) {
        exa_data_shard(count, s->group, s->ngroups, &b, &c);
        b += begin;
    }
    compose_reset(s->inner);
    solver_from_double(r, y, r->theta);
    compose_step(&s->inner->base, b, c);
    solver_to_double(r, r->theta, y);
    *fy = solver_objective(local, y, g);
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

/* Combines this rank's correction c (its predicted reduction pred) over
 * the communicator, through the reducer, as the combine word says; returns
 * the prediction of the combined step: the (weighted) sum of the local
 * ones, or for restricted and overlap weights, whose blocks share weights,
 * the first-order -g'c. */
static double combine(Compose *s, double pred)
{
    ExaReducer *red = s->base.red;
    int64_t n = s->base.r->n;
    double w = 1;
    if (s->combine == COMBINE_RESTRICTED) {
        for (int64_t i = 0; i < n; i++)
            if (!s->own[i])
                s->c[i] = 0;
    } else if (s->combine == COMBINE_WEIGHTED && s->weight == WEIGHT_OVERLAP) {
        if (s->share)
            for (int64_t i = 0; i < n; i++)
                s->c[i] *= s->share[i];
        else
            w = 1.0 / s->ngroups; /* split data: every block holds every weight */
    } else if (s->combine == COMBINE_WEIGHTED && s->weight == WEIGHT_SIZE) {
        int64_t lb, ln;
        exa_data_shard(s->count_now, s->group, s->ngroups, &lb, &ln);
        w = s->split == SPLIT_PARAMS ? s->size_weight : (double)ln / (double)s->count_now;
    } else if (s->combine == COMBINE_WEIGHTED && s->weight == WEIGHT_DECREASE) {
        double d = pred > 0 ? pred : 0, total = exa_reducer_sum_double(red, d) / s->per_block;
        w = total > 0 ? d / total : 1.0 / s->ngroups;
    } else if (s->combine == COMBINE_AVERAGE) {
        w = 1.0 / s->ngroups;
    }
    w /= s->per_block; /* the ranks of a block hold the same correction */
    if (w != 1)
        for (int64_t i = 0; i < n; i++)
            s->c[i] *= w;
    double total = pred * w; /* summed with the corrections (NCCL: in one round) */
    exa_reducer_sum(red, s->c, (size_t)n, EXA_REAL_F64, &total);
    if (s->combine == COMBINE_RESTRICTED || (s->combine == COMBINE_WEIGHTED && s->weight == WEIGHT_OVERLAP))
        return -dot(s->g, s->c, n);
    return total;
}

/* The coarse correction (two-level Schwarz), after combine(): z = x
 * (additive, beside the local solves) or z = x + c (multiplicative, after
 * them); the coarse network (level 1 of the repeat block's hierarchy)
 * solves F_H(y) = L_H(y) - <v_H, y - R z> from y = R z with v_H =
 * grad L_H(R z) - P^T grad L_h(z), so grad F_H(R z) = P^T grad L_h(z): to
 * first order the coarse model is the fine loss on the range of P
 * (multilevel.c's ml_coarse_model).  Its correction e = P(y - R z) is
 * line-searched on the fine loss from z as MG/OPT's is (the coarse model's
 * linear term can take y far: |e| up to 1e11 measured on tests/strategies/
 * two_level.exa without it), then c += alpha e; the fine decrease along
 * alpha e joins the prediction.  Everything is on the step's mini-batch,
 * its rows shared over the communicator; the coarse solver starts afresh
 * every step. */
static double coarse(Compose *s, int64_t begin, int64_t count, double pred)
{
    MlCommon *ml = s->ml;
    int64_t n = s->base.r->n;
    ml_set_batch(ml, begin, count);
    for (int64_t i = 0; i < n; i++)
        ml->x[0][i] = s->x[i] + (s->coarse == 2 ? s->c[i] : 0);
    double fz = solver_objective(&ml->obj[0], ml->x[0], ml->g[0]), fz0 = fz;
    double fH = ml_coarse_model(ml, 1, ml->x[0], ml->g[0]);
    solver_reset(&s->copt, 0);
    solver_run(&s->copt, &ml->obj[1], ml->x[1], &fH, ml->g[1]);
    ml_correction(ml, 1, ml->e);
    double alpha = ml_line_search(solver_objective, &ml->obj[0], n, ml->x[0], &fz, ml->g[0], ml->e, ml->xt, ml->gt);
    for (int64_t i = 0; i < n; i++)
        s->c[i] += alpha * ml->e[i];
    s->coarse_decrease = fz0 - fz;
    s->coarse_alpha = alpha;
    s->coarse_norm = alpha * sqrt(dot(ml->e, ml->e, n));
    return pred + s->coarse_decrease;
}

/* After combine() (and coarse()): the global step from x along c. */
static void global_step(Compose *s, Objective *global, double f, double pred)
{
    int64_t n = s->base.r->n;
    if (s->secant) {
        compose_secant_step(s, global, f);
    } else if (s->gopt.spec.kind == OPT_TR) {
        double norm = sqrt(dot(s->c, s->c, n));
        if (s->split == SPLIT_PARAMS && norm > s->delta) { /* clamped to the trust region (multiplicative,
                                                           * overlap); the prediction scaled with it */
            for (int64_t i = 0; i < n; i++)
                s->c[i] *= s->delta / norm;
            pred *= s->delta / norm;
        }
        ratio_test(s, global, f, pred);
    } else if (s->gopt.spec.kind == OPT_LBFGS) {
        /* x_half = x + a c, a from a strong-Wolfe search from 1; then one
         * global L-BFGS step from x_half */
        if (dot(s->g, s->c, n) < 0) {
            ExaLineSearch ls = exa_line_search_defaults();
            double alpha = 1, fn;
            if (exa_line_search_wolfe(&ls, solver_objective, global, n, s->x, f, s->g, s->c, &alpha,
                                      s->y, &fn, s->g0) == 0 || fn < f) {
                memcpy(s->x, s->y, (size_t)n * sizeof *s->x);
                memcpy(s->g, s->g0, (size_t)n * sizeof *s->g);
                f = fn;
            }
        }
        exa_lbfgs_step(&s->gopt.lbfgs, solver_objective, global, s->x, &f, s->g);
    } else {
        for (int64_t i = 0; i < n; i++)
            s->x[i] += s->c[i];
    }
}

/* split data: local solves on micro-batches (SAPTS, local SGD). */
static double data_step(Compose *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->base.r;
    int64_t n = r->n;
    int consistent = s->gopt.spec.kind == OPT_TR;
    Objective global = objective_of(s, begin, count, EXA_SHARD_SPLIT);
    Objective local = local_of(s, begin, count);
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
    local_solve(s, &local, s->y, &Fy, s->g0, begin, count);
    for (int64_t i = 0; i < n; i++)
        s->c[i] = s->y[i] - s->x[i];
    double pred = combine(s, fi - Fy);
    if (s->coarse)
        pred = coarse(s, begin, count, pred);
    if (consistent)
        ratio_test(s, &global, f, pred);
    else
        global_step(s, &global, f, pred);
    solver_from_double(r, s->x, r->theta);
    return f;
}

/* A round over several mini-batches: `batches: successive` (one local step
 * on each of `steps` mini-batches) or `every: k` (the local solver's steps
 * on each of k mini-batches), each from where the last left the local
 * iterate y; the round's start x is the parameters, unchanged during the
 * round.  At its end (or the epoch's) the corrections are combined and
 * taken (global plain).  Returns the mini-batch loss at the local iterates
 * (split data: weighted by the micro-batches; split params: their mean). */
static double round_step(Compose *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->base.r;
    int64_t n = r->n;
    int length = s->lopt.spec.successive ? s->lopt.spec.steps : s->every;
    int per_batch = s->lopt.spec.successive ? 1 : s->lopt.spec.steps;
    Objective local = local_of(s, begin, count);
    if (s->round == 0) {
        solver_to_double(r, r->theta, s->x);
        memcpy(s->y, s->x, (size_t)n * sizeof *s->x);
        solver_reset(&s->lopt, 0);
        s->round_pred = 0;
    }
    double fy = solver_objective(&local, s->y, s->g0), start = fy;
    int steps = s->lopt.spec.steps;
    s->lopt.spec.steps = per_batch;
    local_solve(s, &local, s->y, &fy, s->g0, begin, count);
    s->lopt.spec.steps = steps;
    s->round_pred += start - fy;
    double loss;
    if (s->split == SPLIT_DATA) {
        int64_t lb, ln;
        exa_data_shard(count, s->group, s->ngroups, &lb, &ln);
        loss = exa_reducer_sum_double(s->base.red, start * (double)ln / s->per_block) / (double)count;
    } else {
        loss = exa_reducer_sum_double(s->base.red, start) / s->base.comm.size;
    }
    if (++s->round >= length || begin + count >= r->train.n) {
        for (int64_t i = 0; i < n; i++)
            s->c[i] = s->y[i] - s->x[i];
        combine(s, s->round_pred);
        if (s->coarse)
            coarse(s, begin, count, 0);
        for (int64_t i = 0; i < n; i++)
            s->x[i] += s->c[i];
        s->round = 0;
    }
    solver_from_double(r, s->x, r->theta); /* a nested solve borrowed theta */
    return loss;
}

/* split params: each block solved with the others frozen, the corrections
 * combined, then globalised (nonlinearly preconditioned L-BFGS, APTS in
 * the weights, RAS, G-ASPIN). */
static double params_step(Compose *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->base.r;
    const ExaComm *comm = &s->base.comm;
    int64_t n = r->n;
    Objective global = objective_of(s, begin, count, EXA_SHARD_SPLIT);
    Objective local = local_of(s, begin, count);
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
        pred = exa_reducer_sum_double(s->base.red, pred);
    } else {
        memcpy(s->y, s->x, (size_t)n * sizeof *s->x);
        double fy = solver_objective(&local, s->y, s->g0), before = fy;
        /* APTS: local radius Delta/P, so the sum of the P disjoint blocks'
         * steps has norm at most Delta/sqrt(P) and needs no clamping, and the
         * summed local reductions remain its prediction */
        solver_reset(&s->lopt, s->gopt.spec.kind == OPT_TR ? s->delta / comm->size : 0);
        local_solve(s, &local, s->y, &fy, s->g0, begin, count);
        for (int64_t i = 0; i < n; i++)
            s->c[i] = s->y[i] - s->x[i];
        pred = combine(s, before - fy);
    }
    if (s->coarse)
        pred = coarse(s, begin, count, pred);
    global_step(s, &global, f, pred);
    solver_from_double(r, s->x, r->theta);
    return start;
}

static double compose_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Compose *s = (Compose *)m;
    s->count_now = count;
    if (s->lopt.spec.successive || s->every > 1)
        return round_step(s, begin, count);
    if (s->split == SPLIT_PARAMS)
        return params_step(s, begin, count);
    if (s->lopt.spec.kind == OPT_GRADIENT) {
        Objective obj = objective_of(s, begin, count, EXA_SHARD_SPLIT);
        return solver_global_step(&s->gopt, &obj, s->x, s->g);
    }
    return data_step(s, begin, count);
}

/* The global solver's state and the trust radius; local solvers (and a
 * nested strategy) start every round afresh and hold nothing between rounds. */
static void compose_save(ExaMethod *m, ExaStateList *l)
{
    Compose *s = (Compose *)m;
    solver_save(&s->gopt, m->r, "global", l);
    if (s->gopt.spec.kind == OPT_TR)
        exa_state_add(l, "global", "radius", &s->delta, 8);
    if (s->secant)
        compose_secant_save(s, l);
}

static void compose_load(ExaMethod *m)
{
    Compose *s = (Compose *)m;
    solver_load(&s->gopt);
    if (s->secant)
        compose_secant_load(s);
}

static void compose_free(ExaMethod *m)
{
    Compose *s = (Compose *)m;
    if (s->inner)
        compose_free(&s->inner->base);
    exa_reducer_close(s->base.red); /* a nested one's (above) before its group's communicator */
    if (s->have_group_comm)
        exa_comm_free(&s->group_comm);
    solver_free(&s->gopt);
    solver_free(&s->lopt);
    solver_free(&s->copt);
    if (s->ml) {
        ml_free(s->ml);
        free(s->ml);
    }
    if (s->secant)
        compose_secant_free(s);
    free(s->x), free(s->g), free(s->x0), free(s->g0), free(s->shift), free(s->y), free(s->c);
    free(s->stage_theta), free(s->stage_grad), free(s->mask), free(s->own), free(s->share);
    free(s);
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

/* The numbers exac range-checks (sema_train.c's rules), checked again for a
 * descriptor written by hand and for --decompose: NULL, or what is wrong. */
const char *exa_compose_bad_number(const ExaCall *c, char *buf, size_t len)
{
    static const struct { const char *key; double min; int open, integer; } rules[] = {
        { "steps", 1, 0, 1 }, { "history", 1, 0, 1 }, { "every", 1, 0, 1 }, { "overlap", 0, 0, 1 },
        { "per_block", 1, 0, 1 }, { "memory", 1, 0, 1 }, { "lr", 0, 1, 0 }, { "radius", 0, 1, 0 },
        { "coarse_cfactor", 2, 0, 1 },
    };
    for (int i = 0; c && i < c->nargs; i++) {
        const ExaValue *v = &c->values[i];
        if (v->kind == EXA_CALL) {
            const char *b = exa_compose_bad_number(v->call, buf, len);
            if (b)
                return b;
            continue;
        }
        for (size_t k = 0; v->kind == EXA_NUM && k < sizeof rules / sizeof rules[0]; k++) {
            if (strcmp(c->keys[i], rules[k].key) != 0)
                continue;
            double x = v->num;
            if ((rules[k].integer && x != floor(x)) || x < rules[k].min || (rules[k].open && x <= rules[k].min)) {
                if (rules[k].min > 1) /* coarse_cfactor: coarse ... additive(cfactor: c) */
                    snprintf(buf, len, "'cfactor' of the coarse level is %g; it must be an integer of at least %g",
                             x, rules[k].min);
                else
                    snprintf(buf, len, "'%s' of %s is %g; it must be a %s%s", rules[k].key, c->name, x,
                             rules[k].min > 0 || rules[k].open ? "positive " : "non-negative ",
                             rules[k].integer ? "integer" : "number");
                return buf;
            }
        }
    }
    return NULL;
}

static Compose *create(ExaRun *r, const ExaCall *d, const ExaComm *comm, int nested, char *err, size_t errlen);

static int refuse(Compose *s, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "exa: decompose = %s: %s (exac rejects this; see docs/strategies.md)", s->base.name, why);
    return -1;
}

/* Everything create() reads from the descriptor; 0, or -1 with err set. */
static int configure(Compose *s, const ExaCall *d, int nested, OptSpec *local, OptSpec *global, char *err,
                     size_t errlen)
{
    ExaRun *r = s->base.r;
    const ExaCall *optimizer = r->prog->optimizer;
    s->split = same(exa_call_ident(d, "split", "params"), "data") ? SPLIT_DATA : SPLIT_PARAMS;
    *local = solver_spec(exa_call_arg(d, "local"), optimizer);
    *global = solver_spec(exa_call_arg(d, "global"), optimizer);
    const ExaValue *cv = exa_call_arg(d, "combine");
    const char *cw = cv ? opt_word(cv) : "additive";
    const ExaCall *ccall = cv && cv->kind == EXA_CALL ? cv->call : NULL;
    const char *gw = opt_word(exa_call_arg(d, "global"));
    if (!gw || same(gw, "optimizer"))
        gw = optimizer->name;
    const ExaValue *lv = exa_call_arg(d, "local");
    const ExaCall *inner = lv && lv->kind == EXA_CALL && same(lv->call->name, "strategy") ? lv->call : NULL;
    if (inner)
        *local = (OptSpec){ .kind = OPT_PLAIN, .steps = 1 };
    int where = s->split == SPLIT_PARAMS ? EXA_FITS_PARAMS
              : local->kind == OPT_GRADIENT ? EXA_FITS_DATA_GRADIENT : EXA_FITS_DATA_LOCAL;
    const char *by = exa_call_ident(d, "by", "stage");
    for (size_t i = 0; i < sizeof combines / sizeof combines[0]; i++)
        if (same(cw, combines[i].word))
            s->combine = (Combine)i;
    const char *wby = exa_call_ident(ccall, "by", NULL);
    s->weight = WEIGHT_SIZE;
    int wknown = 0;
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++)
        if (same(wby, weights[i]))
            s->weight = (Weight)i, wknown = 1;
    s->every = (int)exa_call_num(ccall, "every", 1);
    const char *form = exa_call_ident(d, "coarse_form", NULL);
    s->coarse = !exa_call_arg(d, "coarse") ? 0 : same(form, "additive") ? 1 : same(form, "multiplicative") ? 2 : -1;
    OptSpec cspec = solver_spec(exa_call_arg(d, "coarse"), optimizer);
    const ExaValue *into = exa_call_arg(d, "into") ? exa_call_arg(d, "into") : exa_call_arg(d, "groups");
    int ranks_call = into && into->kind == EXA_CALL && same(into->call->name, "ranks");
    int list = into && into->kind == EXA_CALL && same(into->call->name, "list");
    s->per_block = ranks_call ? (int)exa_call_num(into->call, "per_block", 1) : 1;
    char num[256];
    const char *why = local->kind == OPT_NONE || global->kind == OPT_NONE ? "unknown local or global solver"
        : exa_compose_bad_number(d, num, sizeof num) ? num
        : s->split == SPLIT_PARAMS && !same(by, "stage") && !same(by, "layer") ? "parameters split by neither stage nor layer"
        : into && !(into->kind == EXA_IDENT && same(into->str, "ranks")) && !ranks_call && !list ? "groups other than 'ranks'"
        : list && s->split != SPLIT_PARAMS ? "listed blocks under split data"
        : ranks_call && exa_call_arg(into->call, "overlap") && s->split != SPLIT_PARAMS ? "overlap under split data"
        : fits(cw, where, 0) != 1 ? "a combination that does not fit its split"
        : fits(gw, where, 1) != 1 ? "a global step that does not fit its split"
        : s->combine == COMBINE_WEIGHTED && !wknown ? "weighted without by: size, decrease or overlap"
        : local->kind == OPT_GRADIENT && s->split == SPLIT_PARAMS ? "local gradient under split params"
        : local->successive && (s->split != SPLIT_DATA || global->kind != OPT_PLAIN) ? "successive batches outside split data with global plain"
        : s->every > 1 && (global->kind != OPT_PLAIN || local->successive || s->combine == COMBINE_MULTIPLICATIVE) ? "every outside global plain"
        : s->per_block > 1 && !inner ? "per_block without a nested local strategy"
        : s->coarse < 0 ? "a coarse correction neither additive nor multiplicative"
        : s->coarse && (cspec.kind == OPT_NONE || cspec.kind == OPT_GRADIENT || cspec.kind == OPT_SECANT
                        || cspec.kind == OPT_PLAIN) ? "a coarse solver that is no optimiser"
        : s->coarse && local->kind == OPT_GRADIENT ? "a coarse correction under local gradient"
        : s->coarse && nested ? "a coarse correction in a nested strategy"
        : inner && nested ? "a nested strategy inside a nested strategy"
        : inner && global->kind == OPT_TR ? "a nested local strategy under global trust_region"
        : inner && s->combine == COMBINE_MULTIPLICATIVE ? "a nested local strategy under combine multiplicative"
        : inner && same(exa_call_ident(inner, "split", "params"), exa_call_ident(d, "split", "params")) ? "a nested strategy splitting what its outer strategy splits"
        : NULL;
    if (why)
        return refuse(s, err, errlen, why);
    int P = s->base.comm.size;
    if (s->per_block > P)
        s->per_block = P; /* fewer ranks than a block wants: one block on all of them */
    if (P % s->per_block) {
        snprintf(err, errlen, "exa: decompose = %s: per_block %d does not divide the %d ranks", s->base.name,
                 s->per_block, P);
        return -1;
    }
    s->ngroups = P / s->per_block;
    s->group = s->base.comm.rank / s->per_block;
    s->secant = global->kind == OPT_SECANT;
    if (s->split == SPLIT_DATA && exa_run_check_shards(r, s->ngroups, "rank", err, errlen) != 0)
        return -1;
    if (s->split == SPLIT_PARAMS && compose_blocks(s, into, same(by, "layer"), err, errlen) != 0)
        return -1;
    if (s->coarse) {
        /* two levels; the coarsening factor and P of `coarse ... additive(cfactor: c, prolong: p)`
         * (2 and piecewise constant by default), R injection */
        static const char *const keys[] = { "levels", "cfactor", "prolong" };
        const char *prolong = exa_call_ident(d, "coarse_prolong", "constant");
        ExaValue vals[3] = { { .kind = EXA_NUM, .num = 2 }, { .kind = EXA_NUM, .num = exa_call_num(d, "coarse_cfactor", 2) },
                             { .kind = EXA_IDENT, .str = (char *)prolong } };
        ExaCall two = { .name = (char *)"coarse", .nargs = 3, .keys = (char **)keys, .values = vals };
        if (!exa_run_function(r, EXA_FN_STAGE_STEP)) { /* exac writes them for a coarse decompose line only */
            snprintf(err, errlen, "exa: decompose = %s: a coarse correction needs the stage functions, which exac "
                     "writes when the train block's decompose has a 'coarse' statement; this program's has none",
                     s->base.name);
            return -1;
        }
        s->ml = calloc(1, sizeof *s->ml);
        if (!s->ml || ml_init(s->ml, r, &two, &s->base.comm, s->base.name, err, errlen) != 0)
            return -1;
        if (s->ml->H.levels < 2) {
            snprintf(err, errlen, "exa: decompose = %s: the repeat block has too few steps for a coarse network",
                     s->base.name);
            return -1;
        }
        if (solver_init(r, &cspec, &s->copt, 1) != 0) {
            snprintf(err, errlen, "exa: out of memory for the optimiser");
            return -1;
        }
    }
    if (inner) {
        if (exa_comm_split(&s->base.comm, s->group, s->base.comm.rank, &s->group_comm) != 0) {
            snprintf(err, errlen, "exa: decompose = %s: cannot split the communicator into blocks", s->base.name);
            return -1;
        }
        s->have_group_comm = 1;
        s->inner = create(r, inner, &s->group_comm, 1, err, errlen);
        if (!s->inner)
            return -1;
        if (s->inner->split == SPLIT_DATA && s->mask) /* only the outer block is free */
            s->inner->mask = memcpy(solver_alloc(r->n, 1), s->mask, (size_t)r->n);
    }
    return 0;
}

static Compose *create(ExaRun *r, const ExaCall *d, const ExaComm *comm, int nested, char *err, size_t errlen)
{
    Compose *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.r = r;
    s->base.comm = *comm;
    s->base.ops = &exa_method_compose;
    exa_call_print(d, s->base.name, sizeof s->base.name);
    OptSpec local, global;
    if (configure(s, d, nested, &local, &global, err, errlen) != 0) {
        compose_free(&s->base);
        return NULL;
    }
    int64_t n = r->n;
    s->x = solver_alloc(n, 8), s->g = solver_alloc(n, 8), s->x0 = solver_alloc(n, 8);
    s->g0 = solver_alloc(n, 8), s->shift = solver_alloc(n, 8), s->y = solver_alloc(n, 8);
    s->c = solver_alloc(n, 8);
    s->stage_theta = solver_alloc(n, (size_t)r->elem), s->stage_grad = solver_alloc(n, (size_t)r->elem);
    if (solver_init(r, &global, &s->gopt, r->elem == 8) != 0 || solver_init(r, &local, &s->lopt, 1) != 0
        || (s->secant && compose_secant_init(s, (int)exa_call_num(global.call, "history", 5)) != 0)) {
        snprintf(err, errlen, "exa: out of memory for the optimiser");
        compose_free(&s->base);
        return NULL;
    }
    s->delta = global.kind == OPT_TR ? s->gopt.trust.cfg.delta0 : 0;
    /* every sum of the method through one reducer on its communicator (a
     * nested strategy has its own on the group's): NCCL on GPUs with it */
    s->base.red = solver_reducer(r, comm);
    return s;
}

/* The log's coarse_decrease (the fine loss's decrease along the coarse
 * correction), coarse_alpha (its line-search step) and coarse_norm
 * (|alpha P(y - R z)|) of the last step, with a coarse level. */
static int compose_report(ExaMethod *m, const char **names, double *values, int max)
{
    Compose *s = (Compose *)m;
    if (!s->ml || max < 3)
        return 0;
    names[0] = "coarse_decrease", values[0] = s->coarse_decrease;
    names[1] = "coarse_alpha", values[1] = s->coarse_alpha;
    names[2] = "coarse_norm", values[2] = s->coarse_norm;
    return 3;
}

/* --multilevel-check: the coarse level's transfers and coherence. */
static int compose_check(ExaMethod *m)
{
    Compose *s = (Compose *)m;
    if (!s->ml) {
        if (m->r->world.rank == 0)
            fprintf(stderr, "exa: --multilevel-check: decompose = %s has no coarse correction\n", m->name);
        return 2;
    }
    return ml_check(s->ml, m->r, m->name);
}

static ExaMethod *compose_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err, size_t errlen)
{
    Compose *s = create(r, d, comm, 0, err, errlen);
    return s ? &s->base : NULL;
}

const ExaMethodOps exa_method_compose = {
    .name = "compose", .create = compose_create, .step = compose_step, .loss = solver_split_loss,
    .save = compose_save, .load = compose_load, .free = compose_free, .check = compose_check,
    .report = compose_report,
};
