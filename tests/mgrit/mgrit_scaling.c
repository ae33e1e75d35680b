/*
 * mgrit_scaling: multigrid's defining property on the scalar test.
 *
 * u' = -u, backward Euler, dt = 0.5, u_0 = 1, guess 0.456 (exa_mgrit_scalar's
 * problem), FCF relaxation, cfactor 4, as many levels as XBraid's rule gives
 * (min_coarse 2), skip on, absolute tolerance 1e-10.  The number of
 * iterations must be the same for nt = 64, 256, 1024 and 4096 (exactly: the
 * residual at the stopping iteration saturates at about 9.2e-11 as nt grows,
 * so the count cannot drift), every iteration must reduce the residual by at
 * least a factor 10, and the solution must match sequential stepping.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/mgrit.h"

typedef struct App {
  int64_t nt;
  double max_err;
} App;

static void *new_scalar(double x) {
  double *p = malloc(sizeof *p);
  if (p) *p = x;
  return p;
}
static int step(void *app, int level, int64_t i, double h, void *u) {
  (void)app, (void)level, (void)i;
  *(double *)u /= 1.0 + h;
  return 0;
}
static void *init(void *app, int64_t i) { (void)app; return new_scalar(i == 0 ? 1.0 : 0.456); }
static void *clone(void *app, const void *u) { (void)app; return new_scalar(*(const double *)u); }
static void vfree(void *app, void *u) { (void)app; free(u); }
static int sum(void *app, double a, const void *x, double b, void *y) {
  (void)app;
  double *py = y;
  *py = b == 0.0 ? a * *(const double *)x : a * *(const double *)x + b * *py;
  return 0;
}
static double norm(void *app, const void *u) { (void)app; return fabs(*(const double *)u); }
static size_t bsize(void *app) { (void)app; return sizeof(double); }
static int pack(void *app, const void *u, void *buf) {
  (void)app;
  memcpy(buf, u, sizeof(double));
  return 0;
}
static void *unpack(void *app, const void *buf) {
  (void)app;
  double x;
  memcpy(&x, buf, sizeof x);
  return new_scalar(x);
}
/* The converged solution against (1/1.5)^i, relative to u_0 = 1 (absolute
 * tolerance on a decaying solution: later points are tiny). */
static int access_point(void *app, int adjoint, int64_t i, const void *u) {
  (void)adjoint;
  App *a = app;
  double e = fabs(*(const double *)u - pow(1.0 / 1.5, (double)i));
  if (!(e <= a->max_err)) a->max_err = e;
  return 0;
}

static int solve(int64_t nt, int rank, int *iters) {
  App app = {.nt = nt};
  ExaMgritOps ops = {.step = step, .init = init, .clone = clone, .free = vfree, .sum = sum,
                     .norm = norm, .buffer_size = bsize, .pack = pack, .unpack = unpack,
                     .access = access_point};
  ExaMgrit *m;
  int rc = exa_mgrit_create(MPI_COMM_WORLD, nt, 0.5, &ops, &app, &m);
  if (!rc) rc = exa_mgrit_set_cfactor(m, -1, 4);
  if (!rc) rc = exa_mgrit_set_nrelax(m, -1, 1);
  if (!rc) rc = exa_mgrit_set_abs_tol(m, 1e-10);
  if (!rc) rc = exa_mgrit_solve(m);
  if (rc) MPI_Abort(MPI_COMM_WORLD, 1);
  int it = *iters = exa_mgrit_num_iterations(m), ok = it > 1 && it < 100;
  for (int k = 2; k < it; k++) /* iteration 0 has no residual (skip) */
    if (!(exa_mgrit_residual_norm(m, k) < 0.1 * exa_mgrit_residual_norm(m, k - 1))) ok = 0;
  double err;
  MPI_Allreduce(&app.max_err, &err, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (!(err < 1e-9)) ok = 0;
  if (rank == 0)
    printf("%s nt=%lld levels=%d iterations=%d final ||r||=%.6e max err=%.2e\n",
           ok ? "ok  " : "FAIL", (long long)nt, exa_mgrit_num_levels(m), it,
           exa_mgrit_residual_norm(m, it - 1), err);
  exa_mgrit_destroy(m);
  return ok;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, ok = 1, first = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (int64_t nt = 64; nt <= 4096; nt *= 4) {
    int it;
    ok &= solve(nt, rank, &it);
    if (first < 0) first = it;
    if (it != first) {
      ok = 0;
      if (rank == 0) printf("FAIL nt=%lld: %d iterations, %d at nt=64\n", (long long)nt, it, first);
    }
  }
  MPI_Finalize();
  return ok ? 0 : 1;
}
