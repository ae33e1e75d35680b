/*
 * mgrit_adjoint: the converged adjoint solve equals the sequential reverse sweep.
 *
 * For the damped pendulum of ode.h and J = |u_nt|^2 / 2, a forward MGRIT solve
 * stores each rank's states through access(); the adjoint solve then runs with
 * step_adjoint = transposed RK4 Jacobian at the stored state.  A step asked for
 * at a fine index the rank does not own fails the test (the header promises
 * those states are local).  Every adjoint point must match the sequential
 * reverse sweep w_nt = u_nt, w_i = J_i^T w_{i+1} to 1e-9 relative, for several
 * level / cfactor / relaxation / skip / cycle settings and nt that are and are
 * not divisible by the coarsening.
 */
#include "ode.h"

typedef struct App {
  int64_t nt;
  double h;
  int cf0, cf1;
  long bad_args; /* steps called with the wrong h or index */
  Vec *u;        /* forward states from MGRIT; NaN where not owned */
  const Vec *wref;
  double max_err;
  long seen, foreign; /* adjoint points seen; steps at points not owned */
} App;

static int step(void *app, int level, int64_t i, double h, void *u) {
  (void)app, (void)level;
  rk4(h, ode_damping(i), ((Vec *)u)->x, NULL);
  return 0;
}

static int step_adjoint(void *app, int level, int64_t i, double h, void *w) {
  App *a = app;
  if (i < 0 || i >= a->nt || isnan(a->u[i].x[0])) {
    a->foreign++;
    return 1;
  }
  int64_t s = ode_level_span(level, a->cf0, a->cf1);
  if (fabs(h - a->h * (double)s) > 1e-12 || i + s > a->nt) a->bad_args++;
  rk4_adjoint(h, ode_damping(i), a->u[i].x, ((Vec *)w)->x);
  return 0;
}

static void *init_adjoint(void *app, int64_t i) {
  App *a = app;
  static const double guess[DIM] = {0.1, 0.1};
  return vec_new(i == a->nt ? a->u[i].x : guess); /* w_nt = dJ/du_nt = u_nt */
}

static int access_point(void *app, int adjoint, int64_t i, const void *v) {
  App *a = app;
  if (i < 0 || i > a->nt) return 1;
  if (!adjoint) {
    a->u[i] = *(const Vec *)v;
    return 0;
  }
  double e = rel_err(((const Vec *)v)->x, a->wref[i].x);
  if (!(e <= a->max_err)) a->max_err = e;
  a->seen++;
  return 0;
}

static int run(const Config *c, int rank) {
  const double h = 0.1;
  size_t n = (size_t)(c->nt + 1);
  Vec *u = malloc(sizeof(Vec) * n), *uref = malloc(sizeof(Vec) * n);
  Vec *wref = malloc(sizeof(Vec) * n);
  if (!u || !uref || !wref) return 1;
  for (size_t i = 0; i < n; i++) u[i].x[0] = u[i].x[1] = NAN;
  ode_forward(c->nt, h, uref);
  ode_adjoint(c->nt, h, uref, wref);
  App app = {.nt = c->nt, .h = h, .cf0 = c->cf0, .cf1 = c->cf1, .u = u, .wref = wref};
  ExaMgritOps ops = {.step = step, .init = ode_init, .clone = vec_clone, .free = vec_free,
                     .sum = vec_sum, .norm = vec_norm, .buffer_size = vec_size,
                     .pack = vec_pack, .unpack = vec_unpack, .access = access_point,
                     .step_adjoint = step_adjoint, .init_adjoint = init_adjoint};
  ExaMgrit *m;
  int rc = exa_mgrit_create(MPI_COMM_WORLD, c->nt, h, &ops, &app, &m);
  if (!rc) rc = configure(m, c);
  if (!rc) rc = exa_mgrit_solve(m);
  if (!rc) rc = exa_mgrit_solve_adjoint(m);
  if (rc) {
    fprintf(stderr, "exa: rank %d: mgrit_adjoint: solve failed (%d), %ld foreign steps\n", rank,
            rc, app.foreign);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  OdeOutcome o = ode_outcome(m, c->nt, app.max_err, app.seen, app.bad_args);
  if (rank == 0)
    printf("%s nt=%lld ml=%d cf=%d/%d nu=%d skip=%d fmg=%d: adjoint levels=%d iterations=%d "
           "||r||=%.2e max rel err=%.2e bad args=%ld\n",
           o.ok ? "ok  " : "FAIL", (long long)c->nt, c->ml, c->cf0, c->cf1, c->nu, c->skip,
           c->fmg, exa_mgrit_num_levels(m), o.it, o.last, o.err, o.bad);
  exa_mgrit_destroy(m);
  free(u);
  free(uref);
  free(wref);
  return !o.ok;
}

int main(int argc, char **argv) {
  static const Config configs[] = {
      /* nt  ml cf0 cf1 nu skip fmg */
      {64, 3, 4, 4, 1, 1, 0}, {64, 2, 2, 2, 0, 0, 0}, {97, 3, 4, 2, 1, 1, 0},
      {96, 4, 2, 3, 0, 1, 1}, {128, 30, 2, 2, 1, 0, 1}, {6, 3, 2, 2, 1, 1, 0},
  };
  return ode_main(argc, argv, configs, sizeof configs / sizeof configs[0], run);
}
