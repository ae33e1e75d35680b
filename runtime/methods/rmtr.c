/* rmtr.c - the recursive multilevel trust region of Gratton, Sartenaer and
 * Toint (2008) as the Utopia library implements it (RMTR with the l2 norm),
 * decompose = multilevel(rmtr(levels, cfactor, pre, post, coarse_steps, ...)).
 *
 * One V-cycle per mini-batch, every level on that mini-batch.  Level j
 * takes trust-region iterations (exa_trust_step: a first-order or L-SR1
 * model, ratio test, radius update) on F_j, its coarse model from level j-1:
 *   F_j(x) = L_j(x) + <P^T g_{j-1} - grad L_j(x0_j), x - x0_j>, x0_j = R x_{j-1}
 * (first-order coherent: grad F_j(x0_j) = P^T g_{j-1}).  A cycle at level j:
 *   pre iterations; then, if ||P^T g_j|| / ||P|| >= grad_ratio ||g_j||, the
 *   coarse level's cycle (coarse_steps iterations on the coarsest), its
 *   correction s = P (x_H - x0_H) taken when rho = (F_j(x) - F_j(x + s)) /
 *   (F_H(x0_H) - F_H(x_H)) > accept, and level j's radius updated by that
 *   rho as after any iteration; then post iterations.
 * The fine trust region bounds every coarse step: level j's iterations use
 * the radius min(Delta_j, (Delta_{j-1} - ||P (x_j - x0_j)||) / ||P||) (||P||
 * bounded in hierarchy.c), so ||P s_H|| <= Delta_{j-1} always, and a level
 * stops once ||P (x_j - x0_j)|| > (1 - 1e-3) Delta_{j-1}.  ps_ratio in the
 * log is the largest ||P s_H|| / Delta_h met (<= 1).  A coarse level
 * starts with the radius it is allowed and the parameters of the fine one.
 * With one level a cycle is pre + post plain trust-region iterations.
 * The cycle itself is multilevel.c's (ml_method_step); this file gives its
 * iterations, the recursion rule and the correction's ratio test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multilevel.h"

typedef struct ExaRmtr {
    MlMethod ml;
    ExaTrustConfig cfg;
    ExaTrust t[EXA_HIER_MAX_LEVELS];
    double grad_ratio;
    double bound[EXA_HIER_MAX_LEVELS]; /* Delta_{j-1} of level j's visit */
    double *corr;              /* n doubles: a prolonged correction */
    double ps_ratio;           /* the largest ||P s_H|| / Delta_h since the last report */
    int64_t recursions, taken; /* coarse corrections tried and taken since the last report */
    int64_t counters[2];       /* fine L-SR1 stored, head (checkpoints) */
} ExaRmtr;

/* ||P_j (x_j - x0_j)||, level j's distance from its start in level j-1's norm. */
static double moved(ExaRmtr *R, int j)
{
    ml_correction(&R->ml.c, j, R->corr);
    return sqrt(ml_dot(R->ml.c.H.r->n, R->corr, R->corr));
}

/* The radius level j may use now; <= 0: it must stop. */
static double allowed(ExaRmtr *R, int j)
{
    if (j == 0)
        return R->t[0].delta;
    double d = moved(R, j);
    if (R->bound[j] > 0)
        R->ps_ratio = fmax(R->ps_ratio, d / R->bound[j]);
    if (d > (1 - 1e-3) * R->bound[j])
        return 0;
    return fmin(R->t[j].delta, (R->bound[j] - d) / R->ml.c.H.pnorm[j]);
}

/* k trust-region iterations at level j; 1 when the level must stop. */
static int iterate(MlMethod *m, int j, double *x, double *f, double *g, int k)
{
    ExaRmtr *R = (ExaRmtr *)m;
    for (int i = 0; i < k; i++) {
        double cap = allowed(R, j);
        if (!(cap > 0))
            return 1;
        R->t[j].delta = cap;
        if (exa_trust_step(&R->t[j], solver_objective, &m->c.obj[j], x, f, g) != 0)
            return 1; /* a zero gradient */
    }
    if (j > 0)
        allowed(R, j); /* the last iteration's distance into ps_ratio */
    return 0;
}

/* The recursion rule: the restricted gradient is a fair part of g, and level
 * j may still move.  The coarse level then starts with L-SR1 empty, the
 * radius it is allowed and level j's parameters. */
static int descend(MlMethod *m, int j, const double *x, const double *g)
{
    ExaRmtr *R = (ExaRmtr *)m;
    MlCommon *c = &m->c;
    int64_t n = c->H.r->n;
    (void)x;
    exa_hierarchy_restrict_grad(&c->H, j + 1, g, c->gt);
    double rg = sqrt(ml_dot(n, c->gt, c->gt)) / c->H.pnorm[j + 1], gn = sqrt(ml_dot(n, g, g));
    double cap = allowed(R, j);
    if (!(rg >= R->grad_ratio * gn && rg > 0 && cap > 0))
        return 0;
    R->recursions++;
    ExaTrust *tc = &R->t[j + 1];
    tc->stored = tc->head = 0;
    tc->gamma = 1;
    tc->delta = cap / c->H.pnorm[j + 1];
    tc->cfg.delta_max = tc->delta;
    tc->cfg.delta_min = fmin(R->cfg.delta_min, 1e-3 * tc->delta);
    R->bound[j + 1] = cap;
    return 1;
}

/* The correction is taken when rho = actual / predicted decrease passes the
 * acceptance ratio; rho updates level j's radius as after any iteration. */
static void correct(MlMethod *m, int j, double *x, double *f, double *g, double pred)
{
    ExaRmtr *R = (ExaRmtr *)m;
    MlCommon *c = &m->c;
    ExaTrust *t = &R->t[j];
    int64_t n = c->H.r->n;
    double cap = R->bound[j + 1], snorm = sqrt(ml_dot(n, c->e, c->e));
    if (!(pred > 0 && snorm > 0))
        return;
    for (int64_t i = 0; i < n; i++)
        c->xt[i] = x[i] + c->e[i];
    double ft = solver_objective(&c->obj[j], c->xt, c->gt);
    double rho = isfinite(ft) ? (*f - ft) / pred : -INFINITY;
    if (rho > t->cfg.eta_accept) {
        R->taken++;
        memcpy(x, c->xt, (size_t)n * sizeof *x);
        memcpy(g, c->gt, (size_t)n * sizeof *g);
        *f = ft;
        if (rho > t->cfg.eta_expand && snorm >= t->cfg.near_boundary * cap)
            t->delta = fmin(t->cfg.expand * t->delta, t->cfg.delta_max);
    } else {
        t->delta = fmax(t->cfg.shrink * t->delta, t->cfg.delta_min);
    }
}

static const MlCycleOps rmtr_cycle = { .smooth = iterate, .descend = descend, .correct = correct };

static void rmtr_free(ExaMethod *m)
{
    ExaRmtr *R = (ExaRmtr *)m;
    for (int j = 0; j < EXA_HIER_MAX_LEVELS; j++)
        exa_trust_free(&R->t[j]);
    free(R->corr);
    ml_free(&R->ml.c);
    free(R);
}

static ExaMethod *rmtr_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err, size_t errlen)
{
    ExaRmtr *R = calloc(1, sizeof *R);
    if (!R)
        return NULL;
    ExaMethod *m = &R->ml.base;
    if (ml_method_init(&R->ml, &exa_method_rmtr, &rmtr_cycle, r, d, comm, err, errlen) != 0) {
        rmtr_free(m);
        return NULL;
    }
    /* METHODS.md's values (Utopia's): Delta_0 1, shrink 0.25, expand 2.5,
     * accept 0.05, very good 0.9 */
    ExaTrustConfig cfg = exa_trust_defaults();
    cfg.memory = (int)exa_call_num(d, "memory", 0);
    cfg.delta0 = exa_call_num(d, "radius", 1);
    cfg.delta_min = exa_call_num(d, "min_radius", 1e-3);
    cfg.delta_max = exa_call_num(d, "max_radius", 10);
    cfg.eta_accept = exa_call_num(d, "accept", 0.05);
    cfg.eta_expand = exa_call_num(d, "very_good", 0.9);
    cfg.expand = exa_call_num(d, "expand", 2.5);
    cfg.shrink = exa_call_num(d, "shrink", 0.25);
    R->grad_ratio = exa_call_num(d, "grad_ratio", 0.5);
    if (cfg.delta_min > cfg.delta0) /* as trust_region(...) does (solver.c) */
        cfg.delta_min = cfg.delta0;
    if (cfg.memory < 0 || !(cfg.delta0 > 0) || !(cfg.delta_max >= cfg.delta0) || !(cfg.shrink > 0 && cfg.shrink < 1)
        || !(cfg.expand >= 1) || !(cfg.eta_accept >= 0 && cfg.eta_accept < cfg.eta_expand && cfg.eta_expand < 1)
        || !(R->grad_ratio >= 0)) {
        snprintf(err, errlen, "exa: decompose = %s: needs memory >= 0, 0 < radius <= max_radius, 0 < shrink < 1, "
                 "expand >= 1, 0 <= accept < very_good < 1 and grad_ratio >= 0", m->name);
        rmtr_free(m);
        return NULL;
    }
    R->cfg = cfg;
    R->corr = solver_alloc(r->n, sizeof(double));
    for (int j = 0; j < R->ml.c.H.levels; j++)
        if (exa_trust_init(&R->t[j], cfg, r->n) != 0) {
            snprintf(err, errlen, "exa: decompose = %s: out of memory for the trust regions", m->name);
            rmtr_free(m);
            return NULL;
        }
    return m;
}

/* The fine level's trust region (radius, iterations and, with memory, its
 * L-SR1 pairs); coarse levels start afresh at every visit. */
static void rmtr_save(ExaMethod *m, ExaStateList *l)
{
    ExaRmtr *R = (ExaRmtr *)m;
    ExaTrust *t = &R->t[0];
    int64_t n = m->r->n, mem = t->cfg.memory;
    exa_state_add(l, "rmtr", "radius", &t->delta, 8);
    exa_state_add(l, "rmtr", "iter", &t->iter, 8);
    ml_method_save_evals(&R->ml, l, "rmtr");
    if (mem > 0) {
        R->counters[0] = t->stored, R->counters[1] = t->head;
        exa_state_add(l, "rmtr", "stored_head", R->counters, (int64_t)sizeof R->counters);
        exa_state_add(l, "rmtr", "gamma", &t->gamma, 8);
        exa_state_add(l, "rmtr", "s", t->s, mem * n * 8);
        exa_state_add(l, "rmtr", "y", t->y, mem * n * 8);
        exa_state_add(l, "rmtr", "u", t->u, mem * n * 8);
        exa_state_add(l, "rmtr", "us", t->us, mem * 8);
        exa_state_add(l, "rmtr", "used", t->used, mem * (int64_t)sizeof(int));
    }
}

static void rmtr_load(ExaMethod *m)
{
    ExaRmtr *R = (ExaRmtr *)m;
    if (R->t[0].cfg.memory > 0)
        R->t[0].stored = (int)R->counters[0], R->t[0].head = (int)R->counters[1];
    ml_method_load_evals(&R->ml);
}

static int rmtr_report(ExaMethod *m, const char **names, double *values, int max)
{
    ExaRmtr *R = (ExaRmtr *)m;
    static const char *const own[4] = { "radius", "ps_ratio", "recursions", "corrections_taken" };
    double v[4] = { R->t[0].delta, R->ps_ratio, (double)R->recursions, (double)R->taken };
    R->ps_ratio = 0, R->recursions = R->taken = 0;
    return ml_method_report(&R->ml, own, v, 4, names, values, max);
}

const ExaMethodOps exa_method_rmtr = {
    .name = "rmtr", .create = rmtr_create, .step = ml_method_step, .loss = ml_method_loss,
    .save = rmtr_save, .load = rmtr_load, .free = rmtr_free, .report = rmtr_report,
    .check = ml_method_check,
};
