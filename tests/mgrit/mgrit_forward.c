/*
 * mgrit_forward: converged MGRIT equals sequential time stepping.
 *
 * For the damped pendulum of ode.h (RK4, nonlinear), every configuration below
 * (F and FCF relaxation, skip on and off, V- and F-cycles, 2 to 5 levels,
 * uniform and per-level coarsening factors, nt divisible or not) is solved to
 * an absolute residual of 1e-12; every fine point must match the sequential
 * sweep to 1e-9 relative, every point must be seen by access exactly once
 * over all ranks, and the solve must stop on the tolerance, not on max_iter.
 * Exit 0 on success, 1 with a line per failure.
 */
#include "ode.h"

typedef struct App {
  int64_t nt;
  double h;
  int cf0, cf1;
  long bad_args; /* steps called with the wrong h or index */
  const Vec *ref;
  double max_err;
  long seen;
} App;

/* Also checks the step's arguments: h = h0 * s_level and the step starts at
 * a multiple of s_level with its end inside the time line. */
static int step(void *app, int level, int64_t i, double h, void *u) {
  App *a = app;
  int64_t s = ode_level_span(level, a->cf0, a->cf1);
  if (fabs(h - a->h * (double)s) > 1e-12 || i % s != 0 || i < 0 || i + s > a->nt) a->bad_args++;
  rk4(h, ode_damping(i), ((Vec *)u)->x, NULL);
  return 0;
}

static int access_point(void *app, int adjoint, int64_t i, const void *u) {
  App *a = app;
  if (adjoint || i < 0 || i > a->nt) return 1;
  double e = rel_err(((const Vec *)u)->x, a->ref[i].x);
  if (!(e <= a->max_err)) a->max_err = e; /* NaN sticks */
  a->seen++;
  return 0;
}

static int run(const Config *c, int rank) {
  const double h = 0.1;
  Vec *ref = malloc(sizeof(Vec) * (size_t)(c->nt + 1));
  if (!ref) return 1;
  ode_forward(c->nt, h, ref);
  App app = {.nt = c->nt, .h = h, .cf0 = c->cf0, .cf1 = c->cf1, .ref = ref};
  ExaMgritOps ops = {.step = step, .init = ode_init, .clone = vec_clone, .free = vec_free,
                     .sum = vec_sum, .norm = vec_norm, .buffer_size = vec_size,
                     .pack = vec_pack, .unpack = vec_unpack, .access = access_point};
  ExaMgrit *m;
  int rc = exa_mgrit_create(MPI_COMM_WORLD, c->nt, h, &ops, &app, &m);
  if (!rc) rc = configure(m, c);
  if (!rc) rc = exa_mgrit_solve(m);
  if (rc) MPI_Abort(MPI_COMM_WORLD, 1);
  OdeOutcome o = ode_outcome(m, c->nt, app.max_err, app.seen, app.bad_args);
  if (rank == 0)
    printf("%s nt=%lld ml=%d cf=%d/%d nu=%d skip=%d fmg=%d: levels=%d iterations=%d "
           "||r||=%.2e max rel err=%.2e seen=%ld bad args=%ld\n",
           o.ok ? "ok  " : "FAIL", (long long)c->nt, c->ml, c->cf0, c->cf1, c->nu, c->skip, c->fmg,
           exa_mgrit_num_levels(m), o.it, o.last, o.err, o.seen, o.bad);
  exa_mgrit_destroy(m);
  free(ref);
  return !o.ok;
}

int main(int argc, char **argv) {
  static const Config configs[] = {
      /* nt  ml cf0 cf1 nu skip fmg */
      {64, 2, 2, 2, 1, 1, 0},  {64, 2, 2, 2, 0, 1, 0},  {64, 3, 4, 4, 1, 0, 0},
      {64, 3, 4, 4, 0, 0, 0},  {97, 3, 4, 2, 1, 1, 0},  {97, 5, 2, 2, 1, 0, 1},
      {96, 4, 2, 3, 0, 1, 1},  {96, 4, 2, 2, 2, 1, 0},  {128, 30, 2, 2, 1, 1, 1},
      {128, 3, 8, 2, 1, 0, 1}, {5, 3, 2, 2, 1, 1, 0},   {3, 2, 2, 2, 1, 1, 0},
  };
  return ode_main(argc, argv, configs, sizeof configs / sizeof configs[0], run);
}
