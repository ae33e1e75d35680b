/*
 * exa_mgrit_scalar: the classic MGRIT scalar test, XBraid's ex-01.
 *
 * Solves u' = -u with backward Euler, u_{i+1} = u_i / (1 + dt), dt = 0.5,
 * u_0 = 1, over --nt steps with the exa MGRIT solver, printing the residual
 * norm of every iteration and a summary line.  The defaults are ex-01's
 * (10 steps, 2 levels, cfactor 2, FCF, tolerance 1e-6, initial guess 0.456,
 * skip on), so its output can be set beside XBraid's.  Runs under mpirun with
 * any number of ranks; the residual history does not depend on it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/mgrit.h"

typedef struct Options {
  long long nt;
  int ml, cf, nu, maxit, skip, fmg;
  double tol, guess, cwt;
} Options;

typedef struct App {
  double guess;
} App;

typedef struct Scalar {
  double x;
} Scalar;

/* ---- callbacks -------------------------------------------------------------- */

static void *new_scalar(double x) {
  Scalar *s = malloc(sizeof *s);
  if (s) s->x = x;
  return s;
}

static int step(void *app, int level, int64_t fine_index, double h, void *u) {
  (void)app, (void)level, (void)fine_index;
  ((Scalar *)u)->x /= 1.0 + h; /* backward Euler for u' = -u */
  return 0;
}

static void *init(void *app, int64_t i) { return new_scalar(i == 0 ? 1.0 : ((App *)app)->guess); }
static void *clone(void *app, const void *u) {
  (void)app;
  return new_scalar(((const Scalar *)u)->x);
}
static void vfree(void *app, void *u) { (void)app; free(u); }

static int sum(void *app, double a, const void *x, double b, void *y) {
  (void)app;
  Scalar *sy = y;
  sy->x = b == 0.0 ? a * ((const Scalar *)x)->x : a * ((const Scalar *)x)->x + b * sy->x;
  return 0;
}

static double norm(void *app, const void *u) { (void)app; return fabs(((const Scalar *)u)->x); }
static size_t buffer_size(void *app) { (void)app; return sizeof(double); }

static int pack(void *app, const void *u, void *buf) {
  (void)app;
  memcpy(buf, &((const Scalar *)u)->x, sizeof(double));
  return 0;
}

static void *unpack(void *app, const void *buf) {
  (void)app;
  double x;
  memcpy(&x, buf, sizeof x);
  return new_scalar(x);
}

/* ---- command line ------------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
          "usage: exa_mgrit_scalar [--nt N] [--ml L] [--cf C] [--nu 0|1|2] [--tol T]\n"
          "                        [--maxit K] [--skip 0|1] [--fmg] [--guess X] [--cwt W]\n"
          "  u' = -u, backward Euler, dt = 0.5, u_0 = 1; defaults: --nt 10 --ml 2 --cf 2\n"
          "  --nu 1 (FCF) --tol 1e-6 --maxit 100 --skip 1 --guess 0.456 --cwt 1\n");
}

/* Each parse_* returns 0 or prints one line naming the flag and returns 2. */
static int bad(int rank, const char *flag, const char *what, const char *got) {
  if (rank != 0) return 2;
  if (got)
    fprintf(stderr, "exa: %s: %s, got '%s'\n", flag, what, got);
  else
    fprintf(stderr, "exa: %s: missing value, %s\n", flag, what);
  return 2;
}

static int parse_int(int rank, const char *flag, const char *s, long long min, long long max,
                     long long *out) {
  char *end;
  errno = 0;
  long long v = s ? strtoll(s, &end, 10) : 0;
  if (!s || *s == '\0' || *end != '\0' || errno || v < min || v > max) {
    char what[96];
    snprintf(what, sizeof what, "expected an integer in [%lld, %lld]", min, max);
    return bad(rank, flag, what, s);
  }
  *out = v;
  return 0;
}

static int parse_real(int rank, const char *flag, const char *s, double min, double max,
                      double *out) {
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : 0.0;
  if (!s || *s == '\0' || *end != '\0' || errno || !(v >= min && v <= max)) {
    char what[96];
    snprintf(what, sizeof what, "expected a number in [%g, %g]", min, max);
    return bad(rank, flag, what, s);
  }
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, int rank, Options *o) {
  *o = (Options){.nt = 10, .ml = 2, .cf = 2, .nu = 1, .maxit = 100, .skip = 1, .tol = 1e-6,
                 .guess = 0.456, .cwt = 1.0};
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
    long long v = 0;
    int rc = 0;
    if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
      if (rank == 0) usage(stdout);
      return 1;
    } else if (strcmp(f, "--fmg") == 0) {
      o->fmg = 1;
      continue;
    } else if (strcmp(f, "--nt") == 0) {
      rc = parse_int(rank, f, arg, 1, 1000000000, &o->nt);
    } else if (strcmp(f, "--ml") == 0) {
      rc = parse_int(rank, f, arg, 1, EXA_MGRIT_MAX_LEVELS, &v), o->ml = (int)v;
    } else if (strcmp(f, "--cf") == 0) {
      rc = parse_int(rank, f, arg, 2, 1000000, &v), o->cf = (int)v;
    } else if (strcmp(f, "--nu") == 0) {
      rc = parse_int(rank, f, arg, 0, 2, &v), o->nu = (int)v;
    } else if (strcmp(f, "--maxit") == 0) {
      rc = parse_int(rank, f, arg, 1, 1000000, &v), o->maxit = (int)v;
    } else if (strcmp(f, "--skip") == 0) {
      rc = parse_int(rank, f, arg, 0, 1, &v), o->skip = (int)v;
    } else if (strcmp(f, "--tol") == 0) {
      rc = parse_real(rank, f, arg, 0.0, 1e300, &o->tol);
    } else if (strcmp(f, "--guess") == 0) {
      rc = parse_real(rank, f, arg, -1e300, 1e300, &o->guess);
    } else if (strcmp(f, "--cwt") == 0) {
      rc = parse_real(rank, f, arg, 1e-6, 2.0 - 1e-6, &o->cwt);
    } else {
      if (rank == 0) fprintf(stderr, "exa: %s: unknown flag (see --help)\n", f);
      return 2;
    }
    if (rc) return rc;
    i++;
  }
  return 0;
}

/* ---- main ------------------------------------------------------------------------ */

static int configure(ExaMgrit *m, const Options *o) {
  int rc = exa_mgrit_set_max_levels(m, o->ml);
  if (!rc) rc = exa_mgrit_set_cfactor(m, -1, o->cf);
  if (!rc) rc = exa_mgrit_set_nrelax(m, -1, o->nu);
  if (!rc) rc = exa_mgrit_set_cweight(m, -1, o->cwt);
  if (!rc) rc = exa_mgrit_set_abs_tol(m, o->tol);
  if (!rc) rc = exa_mgrit_set_max_iter(m, o->maxit);
  if (!rc) rc = exa_mgrit_set_skip(m, o->skip);
  if (!rc) rc = exa_mgrit_set_fmg(m, o->fmg);
  if (!rc) rc = exa_mgrit_set_print_level(m, 1);
  return rc;
}

static int run(const Options *o, int rank) {
  App app = {.guess = o->guess};
  ExaMgritOps ops = {.step = step, .init = init, .clone = clone, .free = vfree, .sum = sum,
                     .norm = norm, .buffer_size = buffer_size, .pack = pack, .unpack = unpack};
  ExaMgrit *m;
  int rc = exa_mgrit_create(MPI_COMM_WORLD, (int64_t)o->nt, 0.5, &ops, &app, &m);
  if (!rc) rc = configure(m, o);
  if (!rc) rc = exa_mgrit_solve(m);
  if (rc) {
    fprintf(stderr, "exa: rank %d: exa_mgrit_scalar: solver failed (code %d)\n", rank, rc);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int it = exa_mgrit_num_iterations(m);
  if (rank == 0)
    printf("summary: nt = %lld, levels = %d, iterations = %d, ||r|| = %.6e\n", o->nt,
           exa_mgrit_num_levels(m), it, it > 0 ? exa_mgrit_residual_norm(m, it - 1) : 0.0);
  exa_mgrit_destroy(m);
  return 0;
}

int main(int argc, char **argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "exa: MPI_Init: failed\n");
    return 1;
  }
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  Options o;
  int rc = parse_args(argc, argv, rank, &o);
  if (rc == 0) rc = run(&o, rank);
  MPI_Finalize();
  return rc == 1 ? 0 : rc;
}
