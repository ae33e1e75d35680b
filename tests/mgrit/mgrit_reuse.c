/*
 * mgrit_reuse: a solver that keeps its storage from solve to solve, and steps
 * out of place, computes exactly what a fresh in-place solver computes, and
 * allocates nothing once its storage exists.
 *
 * Every solve here stops after a fixed 3 iterations (tolerance 0), so its
 * residual history and its values depend on every intermediate value: a FAS
 * term, ghost or point left over from the previous solve, or a hierarchy not
 * rebuilt after a setting changed, would show as a difference.  For each
 * configuration (F, FCF, FCFCF, C-weight 1.3, skip on and off, V- and
 * F-cycles) one solver with the out-of-place callbacks runs
 *     forward, forward, adjoint, adjoint, (cfactor changed) forward
 * and each solve is compared, residual history and every local point bit for
 * bit (==), with a fresh solver that has only the in-place callbacks.  The
 * second solve of a direction must call no allocating callback (clone, init,
 * init_adjoint, unpack) on any rank.  Exit 0 on success, 1 with a line per
 * failure.
 */
#include "ode.h"

typedef struct App {
  int64_t nt;
  const Vec *uref; /* the linearisation points of the adjoint steps */
  Vec *got;        /* access(): the last solve's local points, by fine index */
  long allocs;     /* calls of clone, init, init_adjoint, unpack */
} App;

static const double guess[DIM] = {0.3, -0.2}, aguess[DIM] = {0.1, 0.1};

static int step(void *app, int level, int64_t i, double h, void *u) {
  (void)app, (void)level;
  rk4(h, ode_damping(i), ((Vec *)u)->x, NULL);
  return 0;
}
static int step_to(void *app, int level, int64_t i, double h, const void *x, void *y) {
  memcpy(y, x, sizeof(Vec));
  return step(app, level, i, h, y);
}
static int step_adjoint(void *app, int level, int64_t i, double h, void *w) {
  (void)level;
  rk4_adjoint(h, ode_damping(i), ((App *)app)->uref[i].x, ((Vec *)w)->x);
  return 0;
}
static int step_adjoint_to(void *app, int level, int64_t i, double h, const void *x, void *y) {
  memcpy(y, x, sizeof(Vec));
  return step_adjoint(app, level, i, h, y);
}
static const double *init_of(int64_t i) { return i == 0 ? ode_u0 : guess; }
static const double *init_adjoint_of(const App *a, int64_t i) {
  return i == a->nt ? a->uref[i].x : aguess;
}
static void *init(void *app, int64_t i) {
  ((App *)app)->allocs++;
  return vec_new(init_of(i));
}
static void *init_adjoint(void *app, int64_t i) {
  ((App *)app)->allocs++;
  return vec_new(init_adjoint_of(app, i));
}
static int init_to(void *app, int64_t i, void *u) {
  (void)app;
  memcpy(((Vec *)u)->x, init_of(i), sizeof(Vec));
  return 0;
}
static int init_adjoint_to(void *app, int64_t i, void *u) {
  memcpy(((Vec *)u)->x, init_adjoint_of(app, i), sizeof(Vec));
  return 0;
}
static void *counted_clone(void *app, const void *u) {
  ((App *)app)->allocs++;
  return vec_clone(app, u);
}
static void *unpack(void *app, const void *buf) {
  ((App *)app)->allocs++;
  return vec_unpack(app, buf);
}
static int unpack_to(void *app, const void *buf, void *u) {
  (void)app;
  memcpy(u, buf, sizeof(Vec));
  return 0;
}
static int access_point(void *app, int adjoint, int64_t i, const void *u) {
  (void)adjoint;
  App *a = app;
  if (i < 0 || i > a->nt) return 1;
  a->got[i] = *(const Vec *)u;
  return 0;
}

typedef struct Setting {
  int64_t nt;
  int ml, cf, cf_after, nu, skip, fmg;
  double cwt;
} Setting;

static ExaMgrit *make(const Setting *s, int cf, App *app, int out_of_place) {
  ExaMgritOps ops = {.step = step, .init = init, .clone = counted_clone, .free = vec_free,
                     .sum = vec_sum, .norm = vec_norm, .buffer_size = vec_size,
                     .pack = vec_pack, .unpack = unpack, .access = access_point,
                     .step_adjoint = step_adjoint, .init_adjoint = init_adjoint};
  if (out_of_place) {
    ops.step_to = step_to, ops.step_adjoint_to = step_adjoint_to;
    ops.init_to = init_to, ops.init_adjoint_to = init_adjoint_to, ops.unpack_to = unpack_to;
  }
  ExaMgrit *m;
  int rc = exa_mgrit_create(MPI_COMM_WORLD, s->nt, 0.1, &ops, app, &m);
  if (!rc) rc = exa_mgrit_set_max_levels(m, s->ml);
  if (!rc) rc = exa_mgrit_set_cfactor(m, -1, cf);
  if (!rc) rc = exa_mgrit_set_nrelax(m, -1, s->nu);
  if (!rc) rc = exa_mgrit_set_cweight(m, -1, s->cwt);
  if (!rc) rc = exa_mgrit_set_skip(m, s->skip);
  if (!rc) rc = exa_mgrit_set_fmg(m, s->fmg);
  if (!rc) rc = exa_mgrit_set_abs_tol(m, 0.0);
  if (!rc) rc = exa_mgrit_set_max_iter(m, 3);
  if (rc) MPI_Abort(MPI_COMM_WORLD, 1);
  return m;
}

static void solve(ExaMgrit *m, int adjoint) {
  if ((adjoint ? exa_mgrit_solve_adjoint(m) : exa_mgrit_solve(m)) != 0) MPI_Abort(MPI_COMM_WORLD, 1);
}

/* 1 when m's last solve (points in a->got) differs from a fresh in-place
 * solver's with cfactor cf. */
static int differs(const Setting *s, int cf, int adjoint, ExaMgrit *m, const App *a) {
  Vec *ref = malloc(sizeof(Vec) * (size_t)(s->nt + 1));
  if (!ref) MPI_Abort(MPI_COMM_WORLD, 1);
  App fresh = {.nt = s->nt, .uref = a->uref, .got = ref};
  for (int64_t i = 0; i <= s->nt; i++) ref[i] = a->got[i]; /* points not owned: equal */
  ExaMgrit *f = make(s, cf, &fresh, 0);
  solve(f, adjoint);
  int bad = exa_mgrit_num_iterations(f) != exa_mgrit_num_iterations(m) ||
            exa_mgrit_num_levels(f) != exa_mgrit_num_levels(m);
  for (int k = 0; !bad && k < exa_mgrit_num_iterations(f); k++)
    bad = exa_mgrit_residual_norm(f, k) != exa_mgrit_residual_norm(m, k);
  for (int64_t i = 0; !bad && i <= s->nt; i++)
    for (int d = 0; d < DIM; d++) bad |= ref[i].x[d] != a->got[i].x[d];
  exa_mgrit_destroy(f);
  free(ref);
  return bad;
}

static int run(const Setting *s, int rank) {
  size_t n = (size_t)(s->nt + 1);
  Vec *uref = malloc(sizeof(Vec) * n), *got = calloc(n, sizeof(Vec));
  if (!uref || !got) return 1;
  ode_forward(s->nt, 0.1, uref);
  App app = {.nt = s->nt, .uref = uref, .got = got};
  ExaMgrit *m = make(s, s->cf, &app, 1);
  static const char *const names[] = {"forward 1", "forward 2", "adjoint 1", "adjoint 2",
                                      "forward, cfactor changed"};
  int fails = 0;
  for (int k = 0; k < 5; k++) {
    int adjoint = k == 2 || k == 3, cf = k == 4 ? s->cf_after : s->cf;
    if (k == 4 && exa_mgrit_set_cfactor(m, -1, cf) != 0) MPI_Abort(MPI_COMM_WORLD, 1);
    app.allocs = 0;
    solve(m, adjoint);
    long allocs = 0;
    int bad = differs(s, cf, adjoint, m, &app), anybad = 0;
    MPI_Allreduce(&app.allocs, &allocs, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    int ok = !anybad && (k % 2 == 0 || allocs == 0); /* the second of a direction reuses */
    fails += !ok;
    if (rank == 0)
      printf("%s nt=%lld ml=%d cf=%d nu=%d cwt=%.1f skip=%d fmg=%d, %s: %s fresh solver, "
             "%ld allocations\n",
             ok ? "ok  " : "FAIL", (long long)s->nt, s->ml, cf, s->nu, s->cwt, s->skip, s->fmg,
             names[k], anybad ? "differs from a" : "the same as a", allocs);
  }
  exa_mgrit_destroy(m);
  free(uref);
  free(got);
  return fails;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  static const Setting settings[] = {
      /* nt  ml cf cf_after nu skip fmg cwt */
      {64, 4, 2, 4, 1, 1, 0, 1.0}, {64, 3, 4, 2, 0, 0, 0, 1.0}, {97, 5, 2, 3, 2, 1, 1, 1.3},
      {100, 4, 2, 4, 1, 0, 1, 1.3}, {33, 3, 4, 2, 1, 1, 0, 1.0},
  };
  int fails = 0;
  for (size_t k = 0; k < sizeof settings / sizeof settings[0]; k++) fails += run(&settings[k], rank);
  MPI_Finalize();
  return fails ? 1 : 0;
}
