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
  int64_t s = level == 0 ? 1 : a->cf0;
  for (int l = 1; l < level; l++) s *= a->cf1;
  if (fabs(h - a->h * (double)s) > 1e-12 || i % s != 0 || i < 0 || i + s > a->nt) a->bad_args++;
  rk4(h, ode_damping(i), ((Vec *)u)->x, NULL);
  return 0;
}

static void *init(void *app, int64_t i) {
  (void)app;
  static const double guess[DIM] = {0.3, -0.2};
  return vec_new(i == 0 ? ode_u0 : guess);
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
  ExaMgritOps ops = {.step = step, .init = init, .clone = vec_clone, .free = vec_free,
                     .sum = vec_sum, .norm = vec_norm, .buffer_size = vec_size,
                     .pack = vec_pack, .unpack = vec_unpack, .access = access_point};
  ExaMgrit *m;
  int rc = exa_mgrit_create(MPI_COMM_WORLD, c->nt, h, &ops, &app, &m);
  if (!rc) rc = configure(m, c);
  if (!rc) rc = exa_mgrit_solve(m);
  if (rc) MPI_Abort(MPI_COMM_WORLD, 1);
  double err = 0;
  long seen = 0, bad = 0;
  MPI_Allreduce(&app.bad_args, &bad, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&app.max_err, &err, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&app.seen, &seen, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  int it = exa_mgrit_num_iterations(m), lv = exa_mgrit_num_levels(m);
  double last = it > 0 ? exa_mgrit_residual_norm(m, it - 1) : 0.0;
  int ok = err <= 1e-9 && seen == c->nt + 1 && bad == 0 && it < 200 && last < 1e-12;
  if (rank == 0)
    printf("%s nt=%lld ml=%d cf=%d/%d nu=%d skip=%d fmg=%d: levels=%d iterations=%d "
           "||r||=%.2e max rel err=%.2e seen=%ld bad args=%ld\n",
           ok ? "ok  " : "FAIL", (long long)c->nt, c->ml, c->cf0, c->cf1, c->nu, c->skip, c->fmg,
           lv, it, last, err, seen, bad);
  exa_mgrit_destroy(m);
  free(ref);
  return !ok;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  static const Config configs[] = {
      /* nt  ml cf0 cf1 nu skip fmg */
      {64, 2, 2, 2, 1, 1, 0},  {64, 2, 2, 2, 0, 1, 0},  {64, 3, 4, 4, 1, 0, 0},
      {64, 3, 4, 4, 0, 0, 0},  {97, 3, 4, 2, 1, 1, 0},  {97, 5, 2, 2, 1, 0, 1},
      {96, 4, 2, 3, 0, 1, 1},  {96, 4, 2, 2, 2, 1, 0},  {128, 30, 2, 2, 1, 1, 1},
      {128, 3, 8, 2, 1, 0, 1}, {5, 3, 2, 2, 1, 1, 0},   {3, 2, 2, 2, 1, 1, 0},
  };
  int fails = 0;
  for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) fails += run(&configs[k], rank);
  MPI_Finalize();
  return fails ? 1 : 0;
}
