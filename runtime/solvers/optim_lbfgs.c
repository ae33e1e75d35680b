/* optim_lbfgs.c - L-BFGS with a strong-Wolfe line search.
 *
 * The line search is Algorithms 3.5 (bracketing) and 3.6 (zoom) of Nocedal &
 * Wright, Numerical Optimization (2nd ed.), with the minimiser of the cubic
 * through the bracket ends (their eq. 3.59) as the trial point, kept at least
 * a tenth of the bracket away from either end so the bracket always shrinks.
 * L-BFGS is their Algorithm 7.4/7.5: the two-loop recursion over the last m
 * pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k, with H0 = (s'y / y'y) I from the
 * newest pair.  The strong Wolfe conditions guarantee s'y > 0, so every pair
 * keeps H positive definite; a pair that fails it anyway (rounding) is not
 * stored.  The first step has length 1/||g||_1 along -g, as in PyTorch, so
 * that a large gradient does not throw the first trial point far away. */
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

ExaLineSearch exa_line_search_defaults(void)
{
    return (ExaLineSearch){.c1 = 1e-4, .c2 = 0.9, .alpha_max = 1e10, .max_evals = 25};
}

/* A point on the search line: step length, value, directional derivative. */
typedef struct Probe {
    double a, f, df;
} Probe;

typedef struct Search {
    ExaLineSearch *ls;
    ExaObjective f;
    void *ctx;
    int64_t n;
    const double *x, *d;
    double *xn, *gn;
    double f0, df0;
} Search;

static Probe evaluate(Search *s, double a)
{
    for (int64_t i = 0; i < s->n; i++)
        s->xn[i] = s->x[i] + a * s->d[i];
    Probe p = {a, s->f(s->ctx, s->xn, s->gn), 0};
    p.df = dot(s->n, s->gn, s->d);
    s->ls->evals++;
    return p;
}

/* The cubic's minimiser between lo and hi, kept inside the middle 80% of
 * the bracket; bisection when the cubic has no minimiser there. */
static double interpolate(Probe lo, Probe hi)
{
    double d1 = lo.df + hi.df - 3 * (lo.f - hi.f) / (lo.a - hi.a);
    double disc = d1 * d1 - lo.df * hi.df;
    double mid = 0.5 * (lo.a + hi.a);
    if (!(disc >= 0) || !isfinite(disc))
        return mid;
    double d2 = copysign(sqrt(disc), hi.a - lo.a);
    double t = hi.a - (hi.a - lo.a) * (hi.df + d2 - d1) / (hi.df - lo.df + 2 * d2);
    double a = fmin(lo.a, hi.a), b = fmax(lo.a, hi.a), margin = 0.1 * (b - a);
    if (!isfinite(t) || t < a + margin || t > b - margin)
        return mid;
    return t;
}

static int sufficient(const Search *s, Probe p)
{
    return p.f <= s->f0 + s->ls->c1 * p.a * s->df0;
}

static int curvature(const Search *s, Probe p)
{
    return fabs(p.df) <= -s->ls->c2 * s->df0;
}

/* Algorithm 3.6: lo satisfies sufficient decrease and has the lowest value
 * so far; the bracket [lo, hi] holds a strong-Wolfe point. */
static int zoom(Search *s, Probe lo, Probe hi, Probe *out)
{
    while (s->ls->evals < s->ls->max_evals) {
        Probe p = evaluate(s, interpolate(lo, hi));
        if (!sufficient(s, p) || p.f >= lo.f) {
            hi = p;
            continue;
        }
        if (curvature(s, p)) {
            *out = p;
            return 0;
        }
        if (p.df * (hi.a - lo.a) >= 0)
            hi = lo;
        lo = p;
    }
    *out = lo;
    return -1;
}

/* Algorithm 3.5: widen the step until the interval holds a Wolfe point. */
static int bracket(Search *s, double a1, Probe *out)
{
    Probe prev = {0, s->f0, s->df0};
    double a = a1;
    for (int i = 1; s->ls->evals < s->ls->max_evals; i++) {
        Probe p = evaluate(s, a);
        if (!isfinite(p.f) || !sufficient(s, p) || (i > 1 && p.f >= prev.f))
            return zoom(s, prev, isfinite(p.f) ? p : (Probe){a, INFINITY, INFINITY}, out);
        if (curvature(s, p)) {
            *out = p;
            return 0;
        }
        if (p.df >= 0)
            return zoom(s, p, prev, out);
        prev = p;
        a = fmin(2 * a, s->ls->alpha_max);
    }
    *out = prev;
    return -1;
}

int exa_line_search_wolfe(ExaLineSearch *ls, ExaObjective f, void *ctx, int64_t n, const double *x,
                          double f0, const double *g0, const double *d, double *alpha,
                          double *xn, double *fn, double *gn)
{
    Search s = {ls, f, ctx, n, x, d, xn, gn, f0, dot(n, g0, d)};
    ls->evals = 0;
    Probe p;
    int rc = bracket(&s, *alpha, &p);
    /* on success xn, gn hold p, the last point evaluated; on failure bring
     * them to the best point seen (or x) */
    if (rc != 0) {
        if (p.a > 0)
            p = evaluate(&s, p.a);
        else {
            memcpy(xn, x, (size_t)n * sizeof *xn);
            memcpy(gn, g0, (size_t)n * sizeof *gn);
            p.f = f0;
        }
    }
    *alpha = p.a;
    *fn = p.f;
    return rc;
}

/* ---- L-BFGS ---- */

ExaLbfgsConfig exa_lbfgs_defaults(void)
{
    return (ExaLbfgsConfig){.history = 10, .ls = exa_line_search_defaults()};
}

int exa_lbfgs_init(ExaLbfgs *o, ExaLbfgsConfig cfg, int64_t n)
{
    memset(o, 0, sizeof *o);
    o->cfg = cfg;
    o->n = n;
    size_t m = (size_t)(cfg.history > 0 ? cfg.history : 1), un = (size_t)n;
    o->s = malloc(m * un * sizeof(double));
    o->y = malloc(m * un * sizeof(double));
    o->rho = malloc(m * sizeof(double));
    o->alpha = malloc(m * sizeof(double));
    o->d = malloc(un * sizeof(double));
    o->xn = malloc(un * sizeof(double));
    o->gn = malloc(un * sizeof(double));
    if (!o->s || !o->y || !o->rho || !o->alpha || !o->d || !o->xn || !o->gn) {
        exa_lbfgs_free(o);
        return -1;
    }
    return 0;
}

void exa_lbfgs_free(ExaLbfgs *o)
{
    free(o->s);
    free(o->y);
    free(o->rho);
    free(o->alpha);
    free(o->d);
    free(o->xn);
    free(o->gn);
    o->s = o->y = o->rho = o->alpha = o->d = o->xn = o->gn = NULL;
}

/* d = -H g by the two-loop recursion (pairs oldest to newest from head). */
static void two_loop(ExaLbfgs *o, const double *g)
{
    int64_t n = o->n;
    int m = o->cfg.history;
    for (int64_t i = 0; i < n; i++)
        o->d[i] = -g[i];
    for (int k = o->stored - 1; k >= 0; k--) {
        int j = (o->head + k) % m;
        o->alpha[j] = o->rho[j] * dot(n, o->s + j * n, o->d);
        for (int64_t i = 0; i < n; i++)
            o->d[i] -= o->alpha[j] * o->y[j * n + i];
    }
    if (o->stored > 0) {
        int j = (o->head + o->stored - 1) % m;
        double gamma = 1 / (o->rho[j] * dot(n, o->y + j * n, o->y + j * n));
        for (int64_t i = 0; i < n; i++)
            o->d[i] *= gamma;
    }
    for (int k = 0; k < o->stored; k++) {
        int j = (o->head + k) % m;
        double beta = o->rho[j] * dot(n, o->y + j * n, o->d);
        for (int64_t i = 0; i < n; i++)
            o->d[i] += (o->alpha[j] - beta) * o->s[j * n + i];
    }
}

/* Stores s = xn - x, y = gn - g if s'y > 0, dropping the oldest pair. */
static void remember(ExaLbfgs *o, const double *x, const double *g)
{
    int64_t n = o->n;
    int m = o->cfg.history;
    int j = o->stored < m ? (o->head + o->stored) % m : o->head;
    double *s = o->s + j * n, *y = o->y + j * n;
    for (int64_t i = 0; i < n; i++) {
        s[i] = o->xn[i] - x[i];
        y[i] = o->gn[i] - g[i];
    }
    double sy = dot(n, s, y);
    if (!(sy > 1e-12 * sqrt(dot(n, s, s) * dot(n, y, y))))
        return;
    o->rho[j] = 1 / sy;
    if (o->stored < m)
        o->stored++;
    else
        o->head = (o->head + 1) % m;
}

int exa_lbfgs_step(ExaLbfgs *o, ExaObjective f, void *ctx, double *x, double *fx, double *g)
{
    int64_t n = o->n;
    double gg = dot(n, g, g);
    if (gg == 0)
        return 1;
    for (int attempt = 0; attempt < 2; attempt++) {
        two_loop(o, g);
        double alpha = 1;
        if (o->stored == 0) {
            double g1 = 0;
            for (int64_t i = 0; i < n; i++)
                g1 += fabs(g[i]);
            alpha = fmin(1.0, 1.0 / g1);
        }
        double fn;
        int rc = dot(n, g, o->d) < 0 ? exa_line_search_wolfe(&o->cfg.ls, f, ctx, n, x, *fx, g, o->d,
                                                             &alpha, o->xn, &fn, o->gn)
                                     : -1;
        if (rc == 0 || (fn < *fx && alpha > 0)) {
            remember(o, x, g);
            memcpy(x, o->xn, (size_t)n * sizeof *x);
            memcpy(g, o->gn, (size_t)n * sizeof *g);
            *fx = fn;
            o->iter++;
            return 0;
        }
        if (o->stored == 0)
            break;
        o->stored = 0; /* the model misled the search: start again along -g */
        o->head = 0;
    }
    return -1;
}

int exa_lbfgs_minimize(ExaLbfgs *o, ExaObjective f, void *ctx, double *x, double *fx, double gtol,
                       int max_iter)
{
    double *g = malloc((size_t)o->n * sizeof *g);
    if (!g)
        return -1;
    *fx = f(ctx, x, g);
    int k = 0;
    for (; k < max_iter; k++) {
        double gmax = 0;
        for (int64_t i = 0; i < o->n; i++)
            gmax = fmax(gmax, fabs(g[i]));
        if (gmax <= gtol)
            break;
        int rc = exa_lbfgs_step(o, f, ctx, x, fx, g);
        if (rc == 1)
            break;
        if (rc < 0) {
            k = -1 - k;
            break;
        }
    }
    free(g);
    return k;
}
