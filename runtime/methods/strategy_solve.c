/* strategy_solve.c - the steps of the strategy engine (see strategy.c).
 *
 * Quasi-Newton and trust-region solvers work in double on copies of the
 * parameters (x); first-order global steps update the parameters in their own
 * precision.  An objective is a mini-batch loss restricted as a strategy
 * needs it: a rank's micro-batch or the whole mini-batch, optionally made
 * first-order consistent with the mini-batch (SAPTS: F_i(y) = f_i(y) +
 * (g - g_i)'(y - x)), optionally with only this rank's parameters free. */
#include <math.h>
#include <string.h>

#include "strategy_internal.h"

typedef struct Objective {
    ExaStrategy *s;
    int64_t begin, count;
    ExaShard mode;
    const double *shift, *x0; /* consistency term, or NULL */
    const char *mask;         /* free parameters, or NULL for all */
} Objective;

static double dot(const double *a, const double *b, int64_t n)
{
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d += a[i] * b[i];
    return d;
}

static void to_double(const ExaRun *r, const void *v, double *x)
{
    for (int64_t i = 0; i < r->n; i++)
        x[i] = exa_get(r, v, i);
}

static void from_double(const ExaRun *r, const double *x, void *v)
{
    for (int64_t i = 0; i < r->n; i++)
        exa_set(r, v, i, x[i]);
}

/* The mini-batch loss (and gradient): by MGRIT for layers(mgrit(...)). */
static double loss_of(ExaStrategy *s, const void *theta, void *grad, int64_t begin, int64_t count,
                      ExaShard mode)
{
    if (s->layers)
        return strategy_layers_loss(s->layers, theta, grad, begin, count);
    return exa_run_loss(s->r, theta, grad, begin, count, mode);
}

static double objective(void *ctx, const double *x, double *g)
{
    Objective *o = ctx;
    ExaStrategy *s = o->s;
    ExaRun *r = s->r;
    double f;
    if (r->elem == 8) { /* evaluate in place: no conversion */
        f = loss_of(s, x, g, o->begin, o->count, o->mode);
    } else {
        from_double(r, x, s->stage_theta);
        f = loss_of(s, s->stage_theta, s->stage_grad, o->begin, o->count, o->mode);
        to_double(r, s->stage_grad, g);
    }
    if (o->shift) {
        for (int64_t i = 0; i < r->n; i++) {
            f += o->shift[i] * (x[i] - o->x0[i]);
            g[i] += o->shift[i];
        }
    }
    if (o->mask)
        for (int64_t i = 0; i < r->n; i++)
            if (!o->mask[i])
                g[i] = 0;
    return f;
}

/* Runs optimiser o for its steps from x (value *fx, gradient g, both
 * current) on obj; x, *fx and g are updated. */
static void run_solver(Optimizer *o, Objective *obj, double *x, double *fx, double *g)
{
    ExaRun *r = obj->s->r;
    for (int k = 0; k < o->spec.steps; k++) {
        switch (o->spec.kind) {
        case OPT_SGD: exa_sgd_step_f64(&o->sgd, x, g); break;
        case OPT_ADAM: exa_adam_step_f64(&o->adam, x, g); break;
        case OPT_LBFGS:
            if (exa_lbfgs_step(&o->lbfgs, objective, obj, x, fx, g) != 0)
                return; /* converged, or no descent even along -g */
            continue;
        case OPT_TR: exa_trust_step(&o->trust, objective, obj, x, fx, g); continue;
        default: return;
        }
        *fx = objective(obj, x, g); /* first-order steps: the value after the step */
    }
    (void)r;
}

double strategy_global_step(ExaStrategy *s, Optimizer *o, int64_t begin, int64_t count, ExaShard mode)
{
    ExaRun *r = s->r;
    if (o->spec.kind == OPT_SGD || o->spec.kind == OPT_ADAM) {
        double loss = 0;
        for (int k = 0; k < o->spec.steps; k++) {
            double f = loss_of(s, r->theta, r->grad, begin, count, mode);
            if (k == 0)
                loss = f;
            if (o->spec.kind == OPT_SGD && r->elem == 4)
                exa_sgd_step_f32(&o->sgd, r->theta, r->grad);
            else if (o->spec.kind == OPT_SGD)
                exa_sgd_step_f64(&o->sgd, r->theta, r->grad);
            else if (r->elem == 4)
                exa_adam_step_f32(&o->adam, r->theta, r->grad);
            else
                exa_adam_step_f64(&o->adam, r->theta, r->grad);
        }
        return loss;
    }
    Objective obj = { .s = s, .begin = begin, .count = count, .mode = mode };
    to_double(r, r->theta, s->x);
    double f = objective(&obj, s->x, s->g), start = f;
    run_solver(o, &obj, s->x, &f, s->g);
    from_double(r, s->x, r->theta);
    return start;
}

/* The ratio test of a trust-region globalisation: accepts x + c when the
 * mini-batch loss falls by enough of the predicted reduction, and updates
 * the radius as the trust-region optimiser does. */
static void ratio_test(ExaStrategy *s, Objective *global, double f, double pred)
{
    ExaRun *r = s->r;
    const ExaTrustConfig *cfg = &s->gopt.trust.cfg;
    double norm = sqrt(dot(s->c, s->c, r->n));
    for (int64_t i = 0; i < r->n; i++)
        s->y[i] = s->x[i] + s->c[i];
    double trial = objective(global, s->y, s->g0);
    double rho = pred > 0 ? (f - trial) / pred : -1;
    if (rho > cfg->eta_accept) {
        memcpy(s->x, s->y, (size_t)r->n * sizeof *s->x);
        if (rho > cfg->eta_expand && norm >= cfg->near_boundary * s->delta)
            s->delta = fmin(cfg->expand * s->delta, cfg->delta_max);
    } else {
        s->delta = fmax(cfg->shrink * s->delta, cfg->delta_min);
    }
}

/* Sums (or averages) c over the ranks, and returns the summed prediction. */
static double combine(ExaStrategy *s, double pred)
{
    ExaRun *r = s->r;
    exa_comm_allreduce_sum(&r->world, s->c, (size_t)r->n, EXA_REAL_F64);
    if (s->combine == COMBINE_AVERAGE)
        for (int64_t i = 0; i < r->n; i++)
            s->c[i] /= (double)r->world.size;
    return exa_comm_sum_double(&r->world, pred);
}

/* Prepares the local optimiser for a new subproblem. */
static void reset_local(ExaStrategy *s, double radius)
{
    Optimizer *o = &s->lopt;
    if (o->spec.kind == OPT_LBFGS)
        o->lbfgs.stored = o->lbfgs.head = 0, o->lbfgs.iter = 0;
    if (o->spec.kind == OPT_TR) {
        o->trust.stored = o->trust.head = 0;
        o->trust.delta = radius > 0 ? radius : o->trust.cfg.delta0;
        if (radius > 0)
            o->trust.cfg.delta_max = radius, o->trust.cfg.delta_min = fmin(o->trust.cfg.delta_min, 0.01 * radius);
    }
}

/* split data: local solves on micro-batches (SAPTS, local SGD). */
double strategy_data_step(ExaStrategy *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->r;
    int64_t n = r->n;
    int consistent = s->global.kind == OPT_TR;
    Objective global = { .s = s, .begin = begin, .count = count, .mode = EXA_SHARD_SPLIT };
    Objective local = { .s = s, .begin = begin, .count = count, .mode = EXA_SHARD_LOCAL };
    to_double(r, r->theta, s->x);
    double f = objective(&global, s->x, s->g);
    double fi = objective(&local, s->x, s->g0);
    if (consistent) { /* F_i(y) = f_i(y) + (g - g_i)'(y - x) */
        for (int64_t i = 0; i < n; i++)
            s->shift[i] = s->g[i] - s->g0[i];
        memcpy(s->x0, s->x, (size_t)n * sizeof *s->x);
        local.shift = s->shift;
        local.x0 = s->x0;
        memcpy(s->g0, s->g, (size_t)n * sizeof *s->g); /* gradient of F_i at x is g */
    }
    memcpy(s->y, s->x, (size_t)n * sizeof *s->x);
    reset_local(s, consistent ? s->delta / r->world.size : 0);
    double Fy = fi;
    run_solver(&s->lopt, &local, s->y, &Fy, s->g0);
    for (int64_t i = 0; i < n; i++)
        s->c[i] = s->y[i] - s->x[i];
    double pred = combine(s, fi - Fy);
    if (consistent)
        ratio_test(s, &global, f, pred);
    else
        for (int64_t i = 0; i < n; i++)
            s->x[i] += s->c[i];
    from_double(r, s->x, r->theta);
    return f;
}

/* split params: each rank's block solved with the others frozen, the
 * corrections combined, then globalised (nonlinearly preconditioned L-BFGS,
 * APTS in the weights). */
double strategy_params_step(ExaStrategy *s, int64_t begin, int64_t count)
{
    ExaRun *r = s->r;
    int64_t n = r->n;
    Objective global = { .s = s, .begin = begin, .count = count, .mode = EXA_SHARD_SPLIT };
    Objective local = { .s = s, .begin = begin, .count = count, .mode = EXA_SHARD_ALL, .mask = s->mask };
    to_double(r, r->theta, s->x);
    double f = objective(&global, s->x, s->g), start = f, pred = 0;
    memcpy(s->x0, s->x, (size_t)n * sizeof *s->x);
    if (s->combine == COMBINE_MULTIPLICATIVE) { /* one block after another */
        for (int owner = 0; owner < r->world.size; owner++) {
            if (r->world.rank == owner) {
                double fy = objective(&local, s->x, s->g0);
                double before = fy;
                reset_local(s, 0);
                run_solver(&s->lopt, &local, s->x, &fy, s->g0);
                pred = before - fy;
            }
            exa_comm_bcast(&r->world, s->x, (size_t)n * sizeof *s->x, owner);
        }
        for (int64_t i = 0; i < n; i++)
            s->c[i] = s->x[i] - s->x0[i];
        memcpy(s->x, s->x0, (size_t)n * sizeof *s->x);
        pred = exa_comm_sum_double(&r->world, pred);
    } else {
        memcpy(s->y, s->x, (size_t)n * sizeof *s->x);
        double fy = objective(&local, s->y, s->g0), before = fy;
        /* APTS: local radius Delta/P, so the sum of the P disjoint blocks'
         * steps has norm at most Delta/sqrt(P) and needs no clamping, and the
         * summed local reductions remain its prediction */
        reset_local(s, s->global.kind == OPT_TR ? s->delta / r->world.size : 0);
        run_solver(&s->lopt, &local, s->y, &fy, s->g0);
        for (int64_t i = 0; i < n; i++)
            s->c[i] = s->y[i] - s->x[i];
        pred = combine(s, before - fy);
    }
    if (s->global.kind == OPT_TR) {
        double norm = sqrt(dot(s->c, s->c, n));
        if (norm > s->delta) { /* clamped to the trust region (multiplicative);
                                * the prediction scaled with it, to first order */
            for (int64_t i = 0; i < n; i++)
                s->c[i] *= s->delta / norm;
            pred *= s->delta / norm;
        }
        ratio_test(s, &global, f, pred);
    } else if (s->global.kind == OPT_LBFGS) {
        /* x_half = x + a c, a from a strong-Wolfe search from 1; then one
         * global L-BFGS step from x_half */
        if (dot(s->g, s->c, n) < 0) {
            ExaLineSearch ls = exa_line_search_defaults();
            double alpha = 1, fn;
            if (exa_line_search_wolfe(&ls, objective, &global, n, s->x, f, s->g, s->c, &alpha, s->y,
                                      &fn, s->g0) == 0 || fn < f) {
                memcpy(s->x, s->y, (size_t)n * sizeof *s->x);
                memcpy(s->g, s->g0, (size_t)n * sizeof *s->g);
                f = fn;
            }
        }
        exa_lbfgs_step(&s->gopt.lbfgs, objective, &global, s->x, &f, s->g);
    } else {
        for (int64_t i = 0; i < n; i++)
            s->x[i] += s->c[i];
    }
    from_double(r, s->x, r->theta);
    return start;
}
