/* admm_update.c - pdADMM's updates of one layer, as the authors' reference
 * code (xianggebenben/pdADMM, serial_pdADMM/pdADMM/common.py) does them,
 * in double, with two changes said where they are made: the backtracking
 * loops are capped (the reference's can run forever in float64), and FISTA
 * keeps the best iterate it saw (so the z_L-subproblem never gets worse; the
 * reference's step 4 exceeds 1/Lipschitz of the softmax and may oscillate).
 * The variables and the objective are described in admm.h. */
#include <math.h>
#include <string.h>

#include "admm.h"
#include "exa/kernels.h"

enum { BACKTRACK_MAX = 64, FISTA_MAX = 500 };

double admm_dist2(const double *x, const double *y, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (x[i] - y[i]) * (x[i] - y[i]);
    return s;
}

static double sumsq(const double *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

/* out = W p + b for the N rows of p (W m x n). */
static void affine(const AdmmCtx *c, const double *W, const double *b, const double *p, int64_t n, int64_t m,
                   double *out)
{
    exa_k_blas_gemm_f64(0, 1, c->N, m, n, 1.0, p, n, W, n, 0.0, out, m);
    for (int64_t i = 0; i < c->N; i++)
        for (int64_t j = 0; j < m; j++)
            out[i * m + j] += b[j];
}

void admm_affine(AdmmCtx *c, const AdmmLayer *l, const double *p)
{
    affine(c, l->W, l->b, p, l->n, l->m, c->a);
}

double admm_ce(const AdmmCtx *c, const double *z, int64_t m)
{
    double s = 0;
    for (int64_t i = 0; i < c->N; i++) {
        const double *r = z + i * m;
        double mx = r[0], e = 0;
        for (int64_t j = 1; j < m; j++)
            mx = fmax(mx, r[j]);
        for (int64_t j = 0; j < m; j++)
            e += exp(r[j] - mx);
        s += mx + log(e) - r[c->label[i]];
    }
    return s;
}

double admm_obj_p(AdmmCtx *c, const AdmmLayer *l, const double *p, const double *qprev, const double *uprev)
{
    admm_affine(c, l, p);
    int64_t np = c->N * l->n;
    double s = 0;
    for (int64_t i = 0; i < np; i++)
        s += uprev[i] * (p[i] - qprev[i]);
    return c->nu / 2 * admm_dist2(l->z, c->a, c->N * l->m) + s + c->rho / 2 * admm_dist2(p, qprev, np);
}

double admm_obj_fit(AdmmCtx *c, const AdmmLayer *l)
{
    admm_affine(c, l, l->p);
    return c->nu / 2 * admm_dist2(l->z, c->a, c->N * l->m);
}

/* With c->a = W p + b already computed. */
static double z_obj_at(const AdmmCtx *c, const AdmmLayer *l, const double *z)
{
    int64_t nz = c->N * l->m;
    if (l->last)
        return admm_ce(c, z, l->m) + c->nu / 2 * admm_dist2(z, c->a, nz);
    double s = 0;
    for (int64_t i = 0; i < nz; i++) {
        double r = z[i] > 0 ? z[i] : 0;
        s += (z[i] - c->a[i]) * (z[i] - c->a[i]) + (l->q[i] - r) * (l->q[i] - r);
    }
    return c->nu / 2 * s;
}

double admm_obj_z(AdmmCtx *c, const AdmmLayer *l, const double *z)
{
    admm_affine(c, l, l->p);
    return z_obj_at(c, l, z);
}

double admm_obj_q(const AdmmCtx *c, const AdmmLayer *l, const double *q, const double *pnext)
{
    int64_t nq = c->N * l->m;
    double s = 0, fit = 0;
    for (int64_t i = 0; i < nq; i++) {
        double r = l->z[i] > 0 ? l->z[i] : 0;
        fit += (q[i] - r) * (q[i] - r);
        s += l->u[i] * (pnext[i] - q[i]);
    }
    return c->nu / 2 * fit + s + c->rho / 2 * admm_dist2(pnext, q, nq);
}

/* p: one gradient step with backtracking, t from 10 doubling until the
 * quadratic model at t bounds the objective (the reference's update_p). */
void admm_update_p(AdmmCtx *c, AdmmLayer *l, const double *qprev, const double *uprev)
{
    int64_t n = l->n, m = l->m, np = c->N * n;
    double f0 = admm_obj_p(c, l, l->p, qprev, uprev);
    for (int64_t i = 0; i < c->N * m; i++) /* a - z */
        c->a[i] -= l->z[i];
    exa_k_blas_gemm_f64(0, 0, c->N, n, m, c->nu, c->a, m, l->W, n, 0.0, c->g, n);
    for (int64_t i = 0; i < np; i++)
        c->g[i] += uprev[i] + c->rho * (l->p[i] - qprev[i]);
    double gg = sumsq(c->g, np), t = 10;
    for (int k = 0; k < BACKTRACK_MAX; k++, t *= 2) {
        for (int64_t i = 0; i < np; i++)
            c->t[i] = l->p[i] - c->g[i] / t;
        if (admm_obj_p(c, l, c->t, qprev, uprev) <= f0 - gg / (2 * t)) {
            memcpy(l->p, c->t, (size_t)np * sizeof *l->p);
            return;
        }
    }
    c->backtracks_capped++; /* p kept: the subproblem's value is unchanged */
}

/* W: one gradient step with backtracking on nu/2 ||z - W p - b||^2,
 * alpha from 10 doubling (the reference's update_W). */
void admm_update_W(AdmmCtx *c, AdmmLayer *l)
{
    int64_t n = l->n, m = l->m, nw = m * n;
    double f0 = admm_obj_fit(c, l);
    for (int64_t i = 0; i < c->N * m; i++)
        c->a[i] -= l->z[i];
    exa_k_blas_gemm_f64(1, 0, m, n, c->N, c->nu, c->a, m, l->p, n, 0.0, c->gw, n);
    double gg = sumsq(c->gw, nw), alpha = 10;
    for (int k = 0; k < BACKTRACK_MAX; k++, alpha *= 2) {
        for (int64_t i = 0; i < nw; i++)
            c->tw[i] = l->W[i] - c->gw[i] / alpha;
        affine(c, c->tw, l->b, l->p, n, m, c->a);
        if (c->nu / 2 * admm_dist2(l->z, c->a, c->N * m) <= f0 - gg / (2 * alpha)) {
            memcpy(l->W, c->tw, (size_t)nw * sizeof *l->W);
            return;
        }
    }
    c->backtracks_capped++;
}

/* b: the exact minimiser, b + mean over samples of (z - W p - b). */
void admm_update_b(AdmmCtx *c, AdmmLayer *l)
{
    admm_affine(c, l, l->p);
    for (int64_t j = 0; j < l->m; j++) {
        double s = 0;
        for (int64_t i = 0; i < c->N; i++)
            s += l->z[i * l->m + j] - c->a[i * l->m + j];
        l->b[j] += s / (double)c->N;
    }
}

/* The last layer: FISTA on CE(z) + nu/2 ||z - a||^2 from z_old, step 4, at
 * most 500 iterations, stopping when the value changes by less than 1e-3
 * (the reference's update_zl); the best iterate is kept. */
static void update_zl(AdmmCtx *c, AdmmLayer *l)
{
    const double eta = 4, tol = 1e-3;
    int64_t m = l->m, nz = c->N * m;
    double *zl = c->s1, *zeta = c->s2, *zeta_old = c->g, *grad = c->t;
    memcpy(zl, l->z, (size_t)nz * sizeof *zl);
    memcpy(zeta, l->z, (size_t)nz * sizeof *zeta);
    double fbest = z_obj_at(c, l, l->z), f = 1e11, lambda = 1;
    for (int it = 0; it < FISTA_MAX; it++) {
        double fold = f;
        f = z_obj_at(c, l, zl);
        if (f < fbest) {
            fbest = f;
            memcpy(l->z, zl, (size_t)nz * sizeof *zl);
        }
        if (fabs(f - fold) < tol)
            break;
        double lambda_old = lambda;
        lambda = (1 + sqrt(1 + 4 * lambda * lambda)) / 2;
        double gamma = (1 - lambda_old) / lambda;
        for (int64_t i = 0; i < c->N; i++) { /* softmax(zl) - onehot(y) */
            const double *r = zl + i * m;
            double mx = r[0], e = 0;
            for (int64_t j = 1; j < m; j++)
                mx = fmax(mx, r[j]);
            for (int64_t j = 0; j < m; j++)
                e += exp(r[j] - mx);
            for (int64_t j = 0; j < m; j++)
                grad[i * m + j] = exp(r[j] - mx) / e - (j == c->label[i]);
        }
        memcpy(zeta_old, zeta, (size_t)nz * sizeof *zeta);
        for (int64_t i = 0; i < nz; i++) {
            zeta[i] = (c->nu * c->a[i] + (zl[i] - eta * grad[i]) / eta) / (c->nu + 1 / eta);
            zl[i] = (1 - gamma) * zeta[i] + gamma * zeta_old[i];
        }
    }
}

/* Hidden layers, elementwise with a = W p + b: the minimiser of the
 * subproblem plus nu/2 (z - z_old)^2 on z <= 0 and on z >= 0; of the two,
 * the one with the smaller subproblem value (the reference's update_z).
 * Either way the subproblem's value does not exceed its value at z_old. */
void admm_update_z(AdmmCtx *c, AdmmLayer *l)
{
    admm_affine(c, l, l->p);
    if (l->last) {
        update_zl(c, l);
        return;
    }
    for (int64_t i = 0; i < c->N * l->m; i++) {
        double a = c->a[i], q = l->q[i];
        double z1 = fmin((a + l->z[i]) / 2, 0), z2 = fmax((a + l->z[i] + q) / 3, 0);
        double v1 = (z1 - a) * (z1 - a) + q * q, v2 = (z2 - a) * (z2 - a) + (q - z2) * (q - z2);
        l->z[i] = v1 > v2 ? z2 : z1;
    }
}

/* q: the exact minimiser (nu relu(z) + u + rho p_{l+1}) / (nu + rho); with
 * nu = rho the reference's (p + u/rho + relu(z)) / 2. */
void admm_update_q(AdmmCtx *c, AdmmLayer *l, const double *pnext)
{
    for (int64_t i = 0; i < c->N * l->m; i++)
        l->q[i] = (c->nu * (l->z[i] > 0 ? l->z[i] : 0) + l->u[i] + c->rho * pnext[i]) / (c->nu + c->rho);
}

void admm_update_u(AdmmCtx *c, AdmmLayer *l, const double *pnext)
{
    for (int64_t i = 0; i < c->N * l->m; i++)
        l->u[i] += c->rho * (pnext[i] - l->q[i]);
}
