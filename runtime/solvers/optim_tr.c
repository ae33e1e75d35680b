/* optim_tr.c - the trust-region optimiser of METHODS.md ("Standard trust
 * region", after DD4ML's optimizers/tr.py), with a first-order or an L-SR1
 * model.
 *
 * The L-SR1 matrix is built by applying the SR1 update to B0 = gamma I once per
 * stored pair, oldest first: u_k = y_k - B_k s_k, B_{k+1} = B_k + u_k u_k' /
 * (u_k' s_k), skipping a pair when |u_k' s_k| is tiny (Nocedal & Wright
 * eq. 6.26).  Keeping the u_k makes B v cost O(m n), and B is gamma I plus a
 * rank-m matrix, so conjugate gradients solve B p = -g in at most m + 1
 * iterations; that gives the quasi-Newton point of the dogleg, or shows B is
 * not positive definite along the way, in which case the Cauchy point is
 * the step.  gamma = y'y / s'y of the newest pair (1 until there is one with
 * s'y > 0), the usual scaling of the initial matrix. */
#include "exa/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double dot(int64_t n, const double *a, const double *b)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

ExaTrustConfig exa_trust_defaults(void)
{
    return (ExaTrustConfig){.memory = 5, .delta0 = 0.1, .delta_min = 0.01, .delta_max = 1,
                            .eta_accept = 0.25, .eta_expand = 0.75, .expand = 1.2,
                            .shrink = 0.9, .near_boundary = 0.9};
}

int exa_trust_init(ExaTrust *t, ExaTrustConfig cfg, int64_t n)
{
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->n = n;
    t->delta = cfg.delta0;
    t->gamma = 1;
    size_t m = (size_t)(cfg.memory > 0 ? cfg.memory : 1), un = (size_t)n;
    double **vec[] = {&t->step, &t->xn, &t->gn, &t->w1, &t->w2, &t->w3, &t->w4};
    int ok = 1;
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++)
        ok &= (*vec[i] = malloc(un * sizeof(double))) != NULL;
    t->s = malloc(m * un * sizeof(double));
    t->y = malloc(m * un * sizeof(double));
    t->u = malloc(m * un * sizeof(double));
    t->us = malloc(m * sizeof(double));
    t->used = calloc(m, sizeof(int));
    if (!ok || !t->s || !t->y || !t->u || !t->us || !t->used) {
        exa_trust_free(t);
        return -1;
    }
    return 0;
}

void exa_trust_free(ExaTrust *t)
{
    double *all[] = {t->step, t->xn, t->gn, t->w1, t->w2, t->w3, t->w4, t->s, t->y, t->u, t->us};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(t->used);
    t->step = t->xn = t->gn = t->w1 = t->w2 = t->w3 = t->w4 = NULL;
    t->s = t->y = t->u = t->us = NULL;
    t->used = NULL;
}

/* B v with the first `upto` pairs (in age order) of the SR1 sequence. */
static void apply_first(const ExaTrust *t, int upto, const double *v, double *out)
{
    int64_t n = t->n;
    for (int64_t i = 0; i < n; i++)
        out[i] = t->gamma * v[i];
    for (int k = 0; k < upto; k++) {
        int j = (t->head + k) % t->cfg.memory;
        if (!t->used[j])
            continue;
        double c = dot(n, t->u + j * n, v) / t->us[j];
        for (int64_t i = 0; i < n; i++)
            out[i] += c * t->u[j * n + i];
    }
}

void exa_trust_model_apply(const ExaTrust *t, const double *v, double *out)
{
    apply_first(t, t->cfg.memory > 0 ? t->stored : 0, v, out);
}

/* Recomputes gamma and every u_k after the pairs changed. */
static void rebuild_sr1(ExaTrust *t)
{
    int64_t n = t->n;
    int m = t->cfg.memory;
    int newest = (t->head + t->stored - 1) % m;
    double sy = dot(n, t->s + newest * n, t->y + newest * n);
    if (sy > 0)
        t->gamma = dot(n, t->y + newest * n, t->y + newest * n) / sy;
    for (int k = 0; k < t->stored; k++) {
        int j = (t->head + k) % m;
        double *u = t->u + j * n;
        apply_first(t, k, t->s + j * n, u);
        for (int64_t i = 0; i < n; i++)
            u[i] = t->y[j * n + i] - u[i];
        t->us[j] = dot(n, u, t->s + j * n);
        double scale = sqrt(dot(n, u, u) * dot(n, t->s + j * n, t->s + j * n));
        t->used[j] = fabs(t->us[j]) > 1e-8 * scale && scale > 0;
    }
}

static void remember(ExaTrust *t, const double *g)
{
    int64_t n = t->n;
    int m = t->cfg.memory;
    int j = t->stored < m ? (t->head + t->stored) % m : t->head;
    for (int64_t i = 0; i < n; i++) {
        t->s[j * n + i] = t->step[i];
        t->y[j * n + i] = t->gn[i] - g[i];
    }
    if (t->stored < m)
        t->stored++;
    else
        t->head = (t->head + 1) % m;
    rebuild_sr1(t);
}

/* Solves B p = -g by CG into p; -1 on non-positive curvature. */
static int newton_point(ExaTrust *t, const double *g, double *p)
{
    int64_t n = t->n;
    double *r = t->w2, *d = t->w3, *bd = t->w4;
    memset(p, 0, (size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        r[i] = d[i] = -g[i];
    double rr = dot(n, r, r), tol = 1e-20 * rr;
    for (int it = 0; it < 2 * (t->stored + 1) && rr > tol; it++) {
        exa_trust_model_apply(t, d, bd);
        double dbd = dot(n, d, bd);
        if (!(dbd > 0))
            return -1;
        double a = rr / dbd;
        for (int64_t i = 0; i < n; i++) {
            p[i] += a * d[i];
            r[i] -= a * bd[i];
        }
        double rr_new = dot(n, r, r);
        for (int64_t i = 0; i < n; i++)
            d[i] = r[i] + rr_new / rr * d[i];
        rr = rr_new;
    }
    return 0;
}

/* s = -delta g / ||g||. */
static void boundary_step(ExaTrust *t, const double *g, double gnorm)
{
    for (int64_t i = 0; i < t->n; i++)
        t->step[i] = -t->delta * g[i] / gnorm;
}

/* The dogleg step of the L-SR1 model into t->step. */
static void dogleg(ExaTrust *t, const double *g, double gnorm)
{
    int64_t n = t->n;
    double *bg = t->w1, *pb = t->xn; /* xn is free until the trial point */
    exa_trust_model_apply(t, g, bg);
    double gbg = dot(n, g, bg), gg = gnorm * gnorm;
    if (!(gbg > 0) || gg / gbg * gnorm >= t->delta) {
        boundary_step(t, g, gnorm); /* the Cauchy point is on the boundary */
        return;
    }
    double *pu = t->step;
    for (int64_t i = 0; i < n; i++)
        pu[i] = -gg / gbg * g[i];
    if (newton_point(t, g, pb) || dot(n, g, pb) >= 0)
        return; /* Cauchy point */
    double pbn = sqrt(dot(n, pb, pb));
    if (pbn <= t->delta) {
        memcpy(t->step, pb, (size_t)n * sizeof *pb);
        return;
    }
    /* where the segment pu -> pb leaves the region: ||pu + tau (pb - pu)|| = delta */
    double a = 0, b = 0, c = dot(n, pu, pu) - t->delta * t->delta;
    for (int64_t i = 0; i < n; i++) {
        double di = pb[i] - pu[i];
        a += di * di;
        b += 2 * pu[i] * di;
    }
    double tau = a > 0 ? (-b + sqrt(fmax(b * b - 4 * a * c, 0))) / (2 * a) : 0;
    for (int64_t i = 0; i < n; i++)
        t->step[i] = pu[i] + tau * (pb[i] - pu[i]);
}

/* Predicted decrease of the model for t->step. */
static double predicted(ExaTrust *t, const double *g, double gnorm)
{
    if (t->cfg.memory <= 0)
        return t->delta * gnorm;
    exa_trust_model_apply(t, t->step, t->w1);
    return -(dot(t->n, g, t->step) + 0.5 * dot(t->n, t->step, t->w1));
}

int exa_trust_step(ExaTrust *t, ExaObjective f, void *ctx, double *x, double *fx, double *g)
{
    int64_t n = t->n;
    double gnorm = sqrt(dot(n, g, g));
    if (gnorm == 0)
        return 1;
    if (t->cfg.memory > 0)
        dogleg(t, g, gnorm);
    else
        boundary_step(t, g, gnorm);
    double pred = predicted(t, g, gnorm);
    for (int64_t i = 0; i < n; i++)
        t->xn[i] = x[i] + t->step[i];
    double fn = f(ctx, t->xn, t->gn);
    t->rho = pred > 0 && isfinite(fn) ? (*fx - fn) / pred : -INFINITY;
    t->accepted = t->rho > t->cfg.eta_accept;
    t->iter++;
    double snorm = sqrt(dot(n, t->step, t->step));
    if (!t->accepted) {
        t->delta = fmax(t->cfg.shrink * t->delta, t->cfg.delta_min);
        return 0;
    }
    if (t->rho > t->cfg.eta_expand && snorm >= t->cfg.near_boundary * t->delta)
        t->delta = fmin(t->cfg.expand * t->delta, t->cfg.delta_max);
    if (t->cfg.memory > 0)
        remember(t, g);
    memcpy(x, t->xn, (size_t)n * sizeof *x);
    memcpy(g, t->gn, (size_t)n * sizeof *g);
    *fx = fn;
    return 0;
}
