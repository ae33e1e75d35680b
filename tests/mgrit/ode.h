/*
 * ode.h: the test problem shared by the MGRIT tests, a damped pendulum
 *     theta' = omega,  omega' = -sin(theta) - c_i omega,
 * with a damping c_i = 0.5 + 0.3 sin(0.37 i) that changes from step to step
 * (a layer's parameters: the step must use the fine index it is given; coarse
 * steps use the value at their first fine point, i.e. injection), stepped by
 * classical RK4 (nonlinear, so FAS matters), with its exact
 * transposed-Jacobian step for the adjoint, the vector callbacks the solver
 * needs, and the sequential forward and reverse sweeps the tests compare with.
 * Header-only (static) because each test is one small program.
 */
#ifndef EXA_TEST_MGRIT_ODE_H
#define EXA_TEST_MGRIT_ODE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/mgrit.h"

enum { DIM = 2 };
typedef struct Vec {
  double x[DIM];
} Vec;

static inline double ode_damping(int64_t i) { return 0.5 + 0.3 * sin(0.37 * (double)i); }

/* f(u) and its Jacobian action Df(u) du, damping c. */
static inline void ode_rhs(const double *u, double c, double *out) {
  out[0] = u[1];
  out[1] = -sin(u[0]) - c * u[1];
}
static inline void ode_rhs_tangent(const double *u, double c, const double *du, double *out) {
  out[0] = du[1];
  out[1] = -cos(u[0]) * du[0] - c * du[1];
}

/* One RK4 step of size h; with du != NULL also its tangent (forward mode). */
static inline void rk4(double h, double c, double *u, double *du) {
  double k[4][DIM], dk[4][DIM], s[DIM], ds[DIM];
  static const double a[4] = {0.0, 0.5, 0.5, 1.0};
  for (int j = 0; j < 4; j++) {
    for (int d = 0; d < DIM; d++) {
      s[d] = u[d] + (j ? a[j] * h * k[j - 1][d] : 0.0);
      if (du) ds[d] = du[d] + (j ? a[j] * h * dk[j - 1][d] : 0.0);
    }
    ode_rhs(s, c, k[j]);
    if (du) ode_rhs_tangent(s, c, ds, dk[j]);
  }
  for (int d = 0; d < DIM; d++) {
    u[d] += h / 6.0 * (k[0][d] + 2.0 * k[1][d] + 2.0 * k[2][d] + k[3][d]);
    if (du) du[d] += h / 6.0 * (dk[0][d] + 2.0 * dk[1][d] + 2.0 * dk[2][d] + dk[3][d]);
  }
}

/* w <- J^T w, J the Jacobian of rk4(h, c) at u (columns by forward mode). */
static inline void rk4_adjoint(double h, double c, const double *u, double *w) {
  double J[DIM][DIM]; /* J[row][col] */
  for (int col = 0; col < DIM; col++) {
    double uu[DIM], du[DIM] = {0};
    memcpy(uu, u, sizeof uu);
    du[col] = 1.0;
    rk4(h, c, uu, du);
    for (int row = 0; row < DIM; row++) J[row][col] = du[row];
  }
  double out[DIM] = {0};
  for (int col = 0; col < DIM; col++)
    for (int row = 0; row < DIM; row++) out[col] += J[row][col] * w[row];
  memcpy(w, out, sizeof out);
}

static const double ode_u0[DIM] = {1.0, 0.0};

/* Sequential forward sweep: ref[i] for i = 0..nt. */
static inline void ode_forward(int64_t nt, double h, Vec *ref) {
  memcpy(ref[0].x, ode_u0, sizeof ode_u0);
  for (int64_t i = 1; i <= nt; i++) {
    ref[i] = ref[i - 1];
    rk4(h, ode_damping(i - 1), ref[i].x, NULL);
  }
}

/* Sequential reverse sweep for J = |u_nt|^2 / 2: w_nt = u_nt, w_i = J_i^T w_{i+1}. */
static inline void ode_adjoint(int64_t nt, double h, const Vec *u, Vec *w) {
  w[nt] = u[nt];
  for (int64_t i = nt - 1; i >= 0; i--) {
    w[i] = w[i + 1];
    rk4_adjoint(h, ode_damping(i), u[i].x, w[i].x);
  }
}

/* ---- vector callbacks ---------------------------------------------------- */

static inline void *vec_new(const double *x) {
  Vec *v = malloc(sizeof *v);
  if (v) memcpy(v->x, x, sizeof v->x);
  return v;
}
static inline void *vec_clone(void *app, const void *u) {
  (void)app;
  return vec_new(((const Vec *)u)->x);
}
static inline void vec_free(void *app, void *u) { (void)app; free(u); }
static inline int vec_sum(void *app, double a, const void *x, double b, void *y) {
  (void)app;
  const Vec *vx = x;
  Vec *vy = y;
  for (int d = 0; d < DIM; d++) vy->x[d] = b == 0.0 ? a * vx->x[d] : a * vx->x[d] + b * vy->x[d];
  return 0;
}
static inline double vec_norm(void *app, const void *u) {
  (void)app;
  const Vec *v = u;
  return sqrt(v->x[0] * v->x[0] + v->x[1] * v->x[1]);
}
static inline size_t vec_size(void *app) { (void)app; return sizeof(Vec); }
static inline int vec_pack(void *app, const void *u, void *buf) {
  (void)app;
  memcpy(buf, u, sizeof(Vec));
  return 0;
}
static inline void *vec_unpack(void *app, const void *buf) {
  (void)app;
  Vec v;
  memcpy(&v, buf, sizeof v);
  return vec_new(v.x);
}

/* ||a - b|| / ||b||, b never 0 in these tests. */
static inline double rel_err(const double *a, const double *b) {
  double d = 0, n = 0;
  for (int k = 0; k < DIM; k++) {
    d += (a[k] - b[k]) * (a[k] - b[k]);
    n += b[k] * b[k];
  }
  return sqrt(d / (n > 0 ? n : 1e-300));
}

/* A solver configuration under test. */
typedef struct Config {
  int64_t nt;
  int ml, cf0, cf1, nu, skip, fmg;
} Config;

static inline int configure(ExaMgrit *m, const Config *c) {
  int rc = exa_mgrit_set_max_levels(m, c->ml);
  if (!rc) rc = exa_mgrit_set_cfactor(m, -1, c->cf1);
  if (!rc) rc = exa_mgrit_set_cfactor(m, 0, c->cf0);
  if (!rc) rc = exa_mgrit_set_nrelax(m, -1, c->nu);
  if (!rc) rc = exa_mgrit_set_skip(m, c->skip);
  if (!rc) rc = exa_mgrit_set_fmg(m, c->fmg);
  if (!rc) rc = exa_mgrit_set_abs_tol(m, 1e-12);
  if (!rc) rc = exa_mgrit_set_max_iter(m, 200);
  return rc;
}

/* The fine steps one step of `level` spans: 1 on level 0, cf0 on level 1,
 * times cf1 for every level beyond. */
static inline int64_t ode_level_span(int level, int cf0, int cf1) {
  int64_t s = level == 0 ? 1 : cf0;
  for (int l = 1; l < level; l++) s *= cf1;
  return s;
}

/* The forward solve's initial guess: u0 at point 0, a fixed state elsewhere. */
static inline void *ode_init(void *app, int64_t i) {
  (void)app;
  static const double guess[DIM] = {0.3, -0.2};
  return vec_new(i == 0 ? ode_u0 : guess);
}

/* A solve's outcome over all ranks from each rank's largest error, points
 * seen and steps called with wrong arguments; ok: the error at most 1e-9,
 * every point seen once, no wrong arguments, and stopped on the tolerance
 * (last residual below 1e-12) before max_iter (200). */
typedef struct OdeOutcome {
  double err, last;
  long seen, bad;
  int it, ok;
} OdeOutcome;

static inline OdeOutcome ode_outcome(ExaMgrit *m, int64_t nt, double max_err, long seen, long bad_args) {
  OdeOutcome o = {0};
  MPI_Allreduce(&bad_args, &o.bad, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&max_err, &o.err, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&seen, &o.seen, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  o.it = exa_mgrit_num_iterations(m);
  o.last = o.it > 0 ? exa_mgrit_residual_norm(m, o.it - 1) : 0.0;
  o.ok = o.err <= 1e-9 && o.seen == nt + 1 && o.bad == 0 && o.it < 200 && o.last < 1e-12;
  return o;
}

/* A test's main: run(c, rank) for every configuration; exit status 1 when
 * any failed. */
static inline int ode_main(int argc, char **argv, const Config *configs, size_t n,
                           int (*run)(const Config *c, int rank)) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int fails = 0;
  for (size_t k = 0; k < n; k++) fails += run(&configs[k], rank);
  MPI_Finalize();
  return fails ? 1 : 0;
}

#endif
