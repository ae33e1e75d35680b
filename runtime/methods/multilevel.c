/* multilevel.c - decompose = multilevel(mgopt(...)) or multilevel(rmtr(...)):
 * the method of the inner call runs (its own row in methods.def), and what
 * both share (multilevel.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multilevel.h"

static ExaMethod *multilevel_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err,
                                    size_t errlen)
{
    const ExaValue *nest = exa_call_arg(d, "_0");
    const ExaMethodOps *own = nest && nest->kind == EXA_CALL ? exa_method_find(nest->call) : NULL;
    if (!own || (own != &exa_method_mgopt && own != &exa_method_rmtr)) {
        char name[512];
        exa_call_print(d, name, sizeof name);
        snprintf(err, errlen, "exa: decompose = %s: 'multilevel' takes a multilevel method: mgopt(...) or "
                 "rmtr(...)", name);
        return NULL;
    }
    return own->create(r, nest->call, comm, err, errlen);
}

/* Never called: create returns the inner method, whose ops these are not. */
static double multilevel_step(ExaMethod *m, int64_t begin, int64_t count)
{
    (void)m, (void)begin, (void)count;
    return NAN;
}

static void multilevel_free(ExaMethod *m)
{
    free(m);
}

const ExaMethodOps exa_method_multilevel = {
    .name = "multilevel", .create = multilevel_create, .step = multilevel_step,
    .loss = solver_split_loss, .free = multilevel_free,
};

/* ---- shared --------------------------------------------------------------------- */

double ml_dot(int64_t n, const double *a, const double *b)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double level_loss(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count, ExaShard mode)
{
    MlLevel *l = ctx;
    return exa_hierarchy_loss(&l->c->H, l->j, theta, grad, begin, count, mode);
}

int ml_init(MlCommon *c, ExaRun *r, const ExaCall *m, const ExaComm *comm, const char *name, char *err,
            size_t errlen)
{
    int levels = (int)exa_call_num(m, "levels", 3), cf = (int)exa_call_num(m, "cfactor", 2);
    int prolong = exa_hierarchy_prolong_of(exa_call_ident(m, "prolong", "constant"));
    c->pre = (int)exa_call_num(m, "pre", 1);
    c->post = (int)exa_call_num(m, "post", 1);
    c->coarse_steps = (int)exa_call_num(m, "coarse_steps", 2);
    if (prolong < 0) {
        snprintf(err, errlen, "exa: decompose = %s: prolong must be constant or linear", name);
        return -1;
    }
    if (c->pre < 0 || c->post < 0 || c->coarse_steps < 1 || levels > EXA_HIER_MAX_LEVELS) {
        snprintf(err, errlen, "exa: decompose = %s: pre and post must be at least 0, coarse_steps at least 1 "
                 "and levels at most %d", name, EXA_HIER_MAX_LEVELS);
        return -1;
    }
    if (exa_hierarchy_init(&c->H, r, comm, levels, cf, (ExaProlong)prolong, name, err, errlen) != 0)
        return -1;
    int64_t n = r->n;
    c->stage_theta = solver_alloc(n, (size_t)r->elem), c->stage_grad = solver_alloc(n, (size_t)r->elem);
    c->e = solver_alloc(n, sizeof(double)), c->xt = solver_alloc(n, sizeof(double));
    c->gt = solver_alloc(n, sizeof(double));
    for (int j = 0; j < c->H.levels; j++) {
        c->lv[j] = (MlLevel){ c, j };
        c->x[j] = solver_alloc(n, sizeof(double)), c->g[j] = solver_alloc(n, sizeof(double));
        c->shift[j] = solver_alloc(n, sizeof(double)), c->x0[j] = solver_alloc(n, sizeof(double));
        c->obj[j] = (Objective){ .r = r, .loss = level_loss, .ctx = &c->lv[j], .mode = EXA_SHARD_SPLIT,
                                 .shift = j ? c->shift[j] : NULL, .x0 = j ? c->x0[j] : NULL,
                                 .mask = j ? c->H.mask[j] : NULL, .stage_theta = c->stage_theta,
                                 .stage_grad = c->stage_grad };
    }
    return 0;
}

void ml_free(MlCommon *c)
{
    for (int j = 0; j < c->H.levels; j++)
        free(c->x[j]), free(c->g[j]), free(c->shift[j]), free(c->x0[j]);
    free(c->e), free(c->xt), free(c->gt), free(c->stage_theta), free(c->stage_grad);
    exa_hierarchy_free(&c->H);
}

void ml_set_batch(MlCommon *c, int64_t begin, int64_t count)
{
    for (int j = 0; j < c->H.levels; j++)
        c->obj[j].begin = begin, c->obj[j].count = count;
}

double ml_coarse_model(MlCommon *c, int j, const double *xf, const double *gf)
{
    int64_t n = c->H.r->n;
    exa_hierarchy_restrict(&c->H, j, xf, c->x0[j]);
    memcpy(c->x[j], c->x0[j], (size_t)n * sizeof(double));
    /* L_j and its gradient at x0: the objective without its correction */
    Objective plain = c->obj[j];
    plain.shift = NULL;
    double f = solver_objective(&plain, c->x0[j], c->g[j]);
    exa_hierarchy_restrict_grad(&c->H, j, gf, c->gt);
    for (int64_t i = 0; i < n; i++) {
        c->shift[j][i] = c->gt[i] - c->g[j][i];
        c->g[j][i] += c->shift[j][i];
    }
    return f; /* the correction is 0 at x0 */
}

void ml_correction(MlCommon *c, int j, double *out)
{
    int64_t n = c->H.r->n;
    for (int64_t i = 0; i < n; i++)
        c->xt[i] = c->x[j][i] - c->x0[j][i];
    exa_hierarchy_prolong(&c->H, j, c->xt, out);
}

double ml_line_search(ExaObjective f, void *ctx, int64_t n, double *x, double *fx, double *g, const double *e,
                      double *xt, double *gt)
{
    const double c1 = 1e-4;
    double d = ml_dot(n, g, e);
    if (!(d < 0))
        return 0;
    double alpha = 1;
    for (int k = 0; k < 20; k++, alpha /= 2) {
        for (int64_t i = 0; i < n; i++)
            xt[i] = x[i] + alpha * e[i];
        double ft = f(ctx, xt, gt);
        if (isfinite(ft) && ft <= *fx + c1 * alpha * d) {
            memcpy(x, xt, (size_t)n * sizeof *x);
            memcpy(g, gt, (size_t)n * sizeof *g);
            *fx = ft;
            return alpha;
        }
    }
    return 0;
}

/* ---- --multilevel-check ------------------------------------------------------- */

static double rel(int64_t n, const double *a, const double *b)
{
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++)
        d += (a[i] - b[i]) * (a[i] - b[i]), s += b[i] * b[i];
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

static int verdict(ExaRun *r, const char *what, int level, double value, double tol)
{
    int ok = value <= tol;
    if (r->world.rank == 0)
        printf("multilevel check: %s, level %d: %.3e (at most %.0e) %s\n", what, level, value, tol,
               ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

int ml_check(MlCommon *c, ExaRun *r, const char *name)
{
    ExaHierarchy *H = &c->H;
    int64_t n = r->n, count = r->batch < r->train.n ? r->batch : r->train.n;
    int bad = 0;
    double tol = r->elem == 8 ? 1e-12 : 1e-5;
    exa_data_epoch_order(r->order, r->train.n, (uint64_t)r->seed, 0);
    ml_set_batch(c, 0, count);
    if (r->world.rank == 0)
        printf("multilevel check: %s: %d levels, steps", name, H->levels);
    for (int j = 0; j < H->levels && r->world.rank == 0; j++)
        printf(" %lld", (long long)H->nsteps[j]);
    if (r->world.rank == 0)
        printf(", first mini-batch of %lld rows, %s\n", (long long)count, r->elem == 8 ? "f64" : "f32");
    /* the stage sweep at level 0 against the serial generated gradient */
    double *x = c->x[0], *g = c->g[0], *gs = c->gt;
    solver_to_double(r, r->theta, x);
    double f = solver_objective(&c->obj[0], x, g);
    exa_hierarchy_stage_loss(H, 0, r->elem == 8 ? (void *)x : r->theta, r->elem == 8 ? (void *)gs : c->stage_grad,
                             0, count, EXA_SHARD_SPLIT);
    if (r->elem == 4)
        solver_to_double(r, c->stage_grad, gs);
    bad |= verdict(r, "stage sweep gradient vs serial (relative)", 0, rel(n, gs, g), r->elem == 8 ? 1e-10 : 1e-4);
    for (int j = 1; j < H->levels; j++) {
        /* R P = I on level j's variables; <P^T g, e> = <g, P e> */
        double *xc = c->xt, *xf = c->e, *back = c->x0[j];
        for (int64_t i = 0; i < n; i++)
            xc[i] = H->mask[j][i] ? sin(0.37 * (double)i + j) : 0;
        exa_hierarchy_prolong(H, j, xc, xf);
        exa_hierarchy_restrict(H, j, xf, back);
        bad |= verdict(r, "R P x - x (relative)", j, rel(n, back, xc), 0);
        exa_hierarchy_restrict_grad(H, j, g, back);
        double a = ml_dot(n, back, xc), b = ml_dot(n, g, xf);
        bad |= verdict(r, "<P^T g, e> - <g, P e> (relative)", j, fabs(a - b) / fmax(fabs(a), 1e-300), 1e-12);
    }
    /* every coarse level's sweep gradient is its loss's: central differences
     * along a direction d of its variables, <g, d> against
     * (L(x + e d) - L(x - e d)) / 2e */
    for (int j = 1; j < H->levels && r->elem == 8; j++) {
        double *xc = c->x0[j], *gc = c->shift[j], *xp = c->xt, *d = c->e;
        exa_hierarchy_restrict(H, j, x, xc);
        exa_hierarchy_stage_loss(H, j, xc, gc, 0, count, EXA_SHARD_SPLIT);
        double eps = 1e-5, gd = 0;
        for (int64_t i = 0; i < n; i++)
            d[i] = H->mask[j][i] ? cos(0.71 * (double)i) : 0, gd += gc[i] * d[i];
        for (int64_t i = 0; i < n; i++)
            xp[i] = xc[i] + eps * d[i];
        double fp = exa_hierarchy_stage_loss(H, j, xp, NULL, 0, count, EXA_SHARD_SPLIT);
        for (int64_t i = 0; i < n; i++)
            xp[i] = xc[i] - eps * d[i];
        double fm = exa_hierarchy_stage_loss(H, j, xp, NULL, 0, count, EXA_SHARD_SPLIT);
        double fd = (fp - fm) / (2 * eps);
        bad |= verdict(r, "coarse gradient vs central differences (relative)", j,
                       fabs(fd - gd) / fmax(fabs(gd), 1e-300), 1e-6);
    }
    /* coherence, level after level from the fine point */
    for (int j = 1; j < H->levels; j++) {
        const double *xf = j == 1 ? x : c->x[j - 1], *gf = j == 1 ? g : c->g[j - 1];
        ml_coarse_model(c, j, xf, gf);
        double *want = c->e, *got = c->xt;
        exa_hierarchy_restrict_grad(H, j, gf, want);
        solver_objective(&c->obj[j], c->x0[j], got); /* grad F_j(R x) evaluated afresh */
        bad |= verdict(r, "coherence |grad F_H(R x) - P^T grad F_h(x)| / |P^T grad F_h(x)|", j, rel(n, got, want), tol);
    }
    /* the line search refuses an ascent direction and evaluates nothing */
    int64_t before = H->evals[0];
    for (int64_t i = 0; i < n; i++)
        c->e[i] = g[i];
    double fsave = f, alpha = ml_line_search(solver_objective, &c->obj[0], n, x, &f, g, c->e, c->xt, c->gt);
    int same = f == fsave && H->evals[0] == before;
    bad |= verdict(r, "line search step along +grad (must be 0, nothing evaluated)", 0, same ? alpha : 1, 0);
    for (int64_t i = 0; i < n; i++)
        c->e[i] = -1e-3 * g[i];
    alpha = ml_line_search(solver_objective, &c->obj[0], n, x, &f, g, c->e, c->xt, c->gt);
    bad |= verdict(r, "line search along -1e-3 grad: 1 - step (a descent direction is taken)", 0, 1 - alpha, 0.5);
    if (r->world.rank == 0)
        printf("multilevel check: %s\n", bad ? "FAILED" : "every check passed");
    return bad;
}

/* ---- the V-cycle of MG/OPT and RMTR --------------------------------------------- */

int ml_method_init(MlMethod *m, const ExaMethodOps *ops, const MlCycleOps *cycle, ExaRun *r, const ExaCall *d,
                   const ExaComm *comm, char *err, size_t errlen)
{
    m->base.ops = ops;
    m->base.r = r;
    m->base.comm = *comm;
    m->cycle = cycle;
    snprintf(m->base.name, sizeof m->base.name, "multilevel(");
    size_t len = strlen(m->base.name);
    exa_call_print(d, m->base.name + len, sizeof m->base.name - len - 1);
    strcat(m->base.name, ")");
    return ml_init(&m->c, r, d, comm, m->base.name, err, errlen);
}

static void v_cycle(MlMethod *m, int j, double *x, double *f, double *g)
{
    MlCommon *c = &m->c;
    if (j == c->H.levels - 1) {
        m->cycle->smooth(m, j, x, f, g, j == 0 ? c->pre + c->post : c->coarse_steps);
        return;
    }
    if (m->cycle->smooth(m, j, x, f, g, c->pre))
        return;
    if (m->cycle->descend(m, j, x, g)) {
        double f0 = ml_coarse_model(c, j + 1, x, g), fH = f0;
        v_cycle(m, j + 1, c->x[j + 1], &fH, c->g[j + 1]);
        ml_correction(c, j + 1, c->e); /* the deeper levels are done with e */
        m->cycle->correct(m, j, x, f, g, f0 - fH);
    }
    m->cycle->smooth(m, j, x, f, g, c->post);
}

double ml_method_step(ExaMethod *base, int64_t begin, int64_t count)
{
    MlMethod *m = (MlMethod *)base;
    MlCommon *c = &m->c;
    ExaRun *r = base->r;
    ml_set_batch(c, begin, count);
    double *x = c->x[0], *g = c->g[0];
    solver_to_double(r, r->theta, x);
    double f = solver_objective(&c->obj[0], x, g), start = f;
    v_cycle(m, 0, x, &f, g);
    solver_from_double(r, x, r->theta);
    return start;
}

double ml_method_loss(ExaMethod *base, const void *theta, void *grad, int64_t begin, int64_t count)
{
    return exa_hierarchy_loss(&((MlMethod *)base)->c.H, 0, theta, grad, begin, count, EXA_SHARD_SPLIT);
}

int ml_method_check(ExaMethod *base)
{
    return ml_check(&((MlMethod *)base)->c, base->r, base->name);
}

int ml_method_report(const MlMethod *m, const char *const *own, const double *own_values, int n,
                     const char **names, double *values, int max)
{
    const ExaHierarchy *H = &m->c.H;
    double coarse = 0, cost = (double)H->evals[0];
    for (int j = 1; j < H->levels; j++)
        coarse += (double)H->evals[j], cost += (double)H->evals[j] / (double)H->spacing[j];
    static const char *const evals[3] = { "fine_evals", "coarse_evals", "eval_cost" };
    double ev[3] = { (double)H->evals[0], coarse, cost };
    int k = 0;
    for (int i = 0; i < n + 3 && k < max; i++, k++) {
        names[k] = i < n ? own[i] : evals[i - n];
        values[k] = i < n ? own_values[i] : ev[i - n];
    }
    return k;
}

void ml_method_save_evals(MlMethod *m, ExaStateList *l, const char *group)
{
    memcpy(m->evals, m->c.H.evals, sizeof m->evals);
    exa_state_add(l, group, "evaluations", m->evals, (int64_t)sizeof m->evals);
}

void ml_method_load_evals(MlMethod *m)
{
    memcpy(m->c.H.evals, m->evals, sizeof m->evals);
}
