/* admm_check.c - --admm-check: every update of a few iterations against
 * its subproblem's value, and the closed forms of b, q and z checked
 * (admm_method.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admm_method.h"

/* --admm-check: a subproblem's value before and after its update. */
void admm_check_value(Admm *A, int l, const char *what, double before, double after, const char *also)
{
    int ok = after <= before + 1e-12 * fmax(fabs(before), 1) && (!also || !*also);
    A->check_failed |= !ok;
    printf("admm-check: rank %d layer %d %-2s subproblem %.17g -> %.17g%s%s: %s\n", A->base.comm.rank, l + 1,
           what, before, after, also && *also ? "; " : "", also ? also : "", ok ? "ok" : "FAILED");
}

/* The closed forms of b and q: their gradients vanish (relative). */
void admm_closed_form_b(Admm *A, AdmmLayer *y, char *msg, size_t n)
{
    admm_affine(&A->c, y, y->p);
    double worst = 0, scale = 0;
    for (int64_t j = 0; j < y->m; j++) {
        double s = 0;
        for (int64_t i = 0; i < A->c.N; i++) {
            s += y->z[i * y->m + j] - A->c.a[i * y->m + j];
            scale = fmax(scale, fabs(y->z[i * y->m + j]) + fabs(A->c.a[i * y->m + j]));
        }
        worst = fmax(worst, fabs(s) / (double)A->c.N);
    }
    if (worst > 1e-10 * fmax(scale, 1))
        snprintf(msg, n, "gradient %.3g is not 0", worst);
}

void admm_closed_form_q(Admm *A, AdmmLayer *y, const double *pn, char *msg, size_t n)
{
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < A->c.N * y->m; i++) {
        double rz = y->z[i] > 0 ? y->z[i] : 0;
        double g = A->c.nu * (y->q[i] - rz) - y->u[i] - A->c.rho * (pn[i] - y->q[i]);
        worst = fmax(worst, fabs(g));
        scale = fmax(scale, A->c.nu * fabs(y->q[i]) + A->c.nu * rz + fabs(y->u[i]) + A->c.rho * fabs(pn[i]));
    }
    if (worst > 1e-12 * fmax(scale, 1e-300))
        snprintf(msg, n, "gradient %.3g is not 0", worst);
}

/* Each element of a hidden z: no worse than before, and no point within
 * 1e-4 on its side of 0 better for the subproblem plus nu/2 (z - z_old)^2. */
void admm_closed_form_z(Admm *A, AdmmLayer *y, const double *zold, char *msg, size_t n)
{
    admm_affine(&A->c, y, y->p);
    int64_t bad = 0;
    for (int64_t i = 0; i < A->c.N * y->m; i++) {
        double a = A->c.a[i], q = y->q[i], z = y->z[i];
#define F(v) (((v) - a) * ((v) - a) + (q - fmax((v), 0)) * (q - fmax((v), 0)))
        double d = 1e-4, tol = 1e-12 * (1 + a * a + q * q + z * z);
        double lo = z <= 0 ? z - d : fmax(z - d, 0), hi = z <= 0 ? fmin(z + d, 0) : z + d;
        double g = F(z) + (z - zold[i]) * (z - zold[i]);
        if (F(z) > F(zold[i]) + tol
            || (F(z) <= F(zold[i]) && g > F(lo) + (lo - zold[i]) * (lo - zold[i]) + tol
                && g > F(hi) + (hi - zold[i]) * (hi - zold[i]) + tol))
            bad++;
#undef F
    }
    if (bad)
        snprintf(msg, n, "%lld elements are not the closed form's", (long long)bad);
}

/* --admm-check: the first iterations with every update checked (printed by
 * iterate); 0 when all pass on every rank. */
int admm_check(ExaMethod *m)
{
    Admm *A = (Admm *)m;
    exa_data_epoch_order(m->r->order, m->r->train.n, (uint64_t)m->r->seed, 0);
    int64_t B = m->r->batch < A->ntot ? m->r->batch : A->ntot; /* the first mini-batch, or all */
    A->checking = 1;
    for (int k = 0; k < ADMM_CHECK_ITERS; k++)
        admm_step(m, 0, B);
    A->checking = 0;
    fflush(stdout);
    int failed = exa_comm_max_int(&m->comm, A->check_failed);
    if (m->comm.rank == 0)
        printf("admm-check: %d iterations, %d layers on %d rank%s, %lld samples of %lld: %s\n", ADMM_CHECK_ITERS,
               A->L, m->comm.size, m->comm.size == 1 ? "" : "s", (long long)B, (long long)A->ntot, failed ? "FAILED" : "every update lowered (or kept) its subproblem; "
               "b, z, q are the closed forms");
    return failed;
}
