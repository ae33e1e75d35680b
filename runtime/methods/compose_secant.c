/* compose_secant.c - `global secant(history: m)`: the outer step of
 * G-ASPIN (globalised additive Schwarz preconditioned inexact Newton).
 *
 * The local solves T_i define the nonlinearly preconditioned system
 * F(x) = sum_i (x - T_i(x)) = -c(x), c the combined correction.  Instead of
 * taking x + c (ASPIN's fixed point), the step is a quasi-Newton step on
 * F = 0: d = -H F with H the L-BFGS inverse of F's Jacobian from the pairs
 * (x_k+1 - x_k, F_k+1 - F_k) of the last m steps (Jacobian-free: no Krylov
 * solve, each step costs one round of local solves).  Globalised on the
 * original loss: d must be a descent direction of the mini-batch loss
 * (else the preconditioned direction c itself is taken), and the step is
 * backtracked from 1 until the Armijo condition holds (at most 10 halvings;
 * no step when none does).  The pairs are the method's state (checkpoints). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"

static double dot(const double *a, const double *b, int64_t n)
{
    double d = 0;
    for (int64_t i = 0; i < n; i++)
        d += a[i] * b[i];
    return d;
}

int compose_secant_init(Compose *s, int history)
{
    Secant *q = &s->sec;
    int64_t n = s->base.r->n;
    q->m = history < 1 ? 5 : history > 64 ? 64 : history; /* direction() keeps 64 */
    q->s = solver_alloc(n * q->m, 8), q->y = solver_alloc(n * q->m, 8);
    q->xprev = solver_alloc(n, 8), q->Fprev = solver_alloc(n, 8), q->F = solver_alloc(n, 8);
    q->d = solver_alloc(n, 8);
    return 0;
}

/* d = -H F by the two-loop recursion over the stored pairs. */
static void direction(Secant *q, int64_t n)
{
    int stored = (int)q->counters[0], head = (int)q->counters[1];
    double alpha[64];
    for (int64_t i = 0; i < n; i++)
        q->d[i] = q->F[i];
    for (int j = 0; j < stored; j++) { /* newest first */
        int k = ((head - 1 - j) % q->m + q->m) % q->m;
        const double *sk = q->s + (int64_t)k * n, *yk = q->y + (int64_t)k * n;
        alpha[j] = dot(sk, q->d, n) / dot(yk, sk, n);
        for (int64_t i = 0; i < n; i++)
            q->d[i] -= alpha[j] * yk[i];
    }
    if (stored) {
        int k = ((head - 1) % q->m + q->m) % q->m;
        const double *sk = q->s + (int64_t)k * n, *yk = q->y + (int64_t)k * n;
        double gamma = dot(sk, yk, n) / dot(yk, yk, n);
        for (int64_t i = 0; i < n; i++)
            q->d[i] *= gamma;
    }
    for (int j = stored - 1; j >= 0; j--) { /* oldest first */
        int k = ((head - 1 - j) % q->m + q->m) % q->m;
        const double *sk = q->s + (int64_t)k * n, *yk = q->y + (int64_t)k * n;
        double beta = dot(yk, q->d, n) / dot(yk, sk, n);
        for (int64_t i = 0; i < n; i++)
            q->d[i] += (alpha[j] - beta) * sk[i];
    }
    for (int64_t i = 0; i < n; i++)
        q->d[i] = -q->d[i];
}

void compose_secant_step(Compose *s, Objective *global, double f)
{
    Secant *q = &s->sec;
    int64_t n = s->base.r->n;
    for (int64_t i = 0; i < n; i++)
        q->F[i] = -s->c[i];
    if (q->counters[2]) { /* the pair of the last step, kept when its curvature is positive */
        int k = (int)q->counters[1];
        double *sk = q->s + (int64_t)k * n, *yk = q->y + (int64_t)k * n;
        for (int64_t i = 0; i < n; i++) {
            sk[i] = s->x[i] - q->xprev[i];
            yk[i] = q->F[i] - q->Fprev[i];
        }
        double sy = dot(sk, yk, n), ss = dot(sk, sk, n), yy = dot(yk, yk, n);
        if (sy > 1e-10 * sqrt(ss * yy) && sy > 0) {
            q->counters[1] = (q->counters[1] + 1) % q->m;
            if (q->counters[0] < q->m && q->counters[0] < 64)
                q->counters[0]++;
        }
    }
    direction(q, n);
    double gd = dot(s->g, q->d, n);
    if (!(gd < 0) || !isfinite(gd)) { /* not a descent direction of the loss: the preconditioned one */
        memcpy(q->d, s->c, (size_t)n * sizeof *q->d);
        gd = dot(s->g, q->d, n);
    }
    memcpy(q->xprev, s->x, (size_t)n * sizeof *s->x);
    memcpy(q->Fprev, q->F, (size_t)n * sizeof *q->F);
    q->counters[2] = 1;
    double alpha = 1;
    for (int tries = 0; tries <= 10; tries++, alpha /= 2) {
        for (int64_t i = 0; i < n; i++)
            s->y[i] = s->x[i] + alpha * q->d[i];
        double ft = solver_objective(global, s->y, s->g0);
        if (isfinite(ft) && (gd < 0 ? ft <= f + 1e-4 * alpha * gd : ft < f)) {
            memcpy(s->x, s->y, (size_t)n * sizeof *s->x);
            return;
        }
    }
}

void compose_secant_save(Compose *s, ExaStateList *l)
{
    Secant *q = &s->sec;
    int64_t n = s->base.r->n;
    exa_state_add(l, "global", "secant.s", q->s, n * q->m * 8);
    exa_state_add(l, "global", "secant.y", q->y, n * q->m * 8);
    exa_state_add(l, "global", "secant.x_prev", q->xprev, n * 8);
    exa_state_add(l, "global", "secant.F_prev", q->Fprev, n * 8);
    exa_state_add(l, "global", "secant.counters", q->counters, sizeof q->counters);
}

void compose_secant_load(Compose *s)
{
    Secant *q = &s->sec;
    if (q->counters[0] < 0 || q->counters[0] > q->m || q->counters[1] < 0 || q->counters[1] >= q->m)
        q->counters[0] = q->counters[1] = q->counters[2] = 0; /* not ours: start afresh */
}

void compose_secant_free(Compose *s)
{
    Secant *q = &s->sec;
    free(q->s), free(q->y), free(q->xprev), free(q->Fprev), free(q->F), free(q->d);
}
