/*
 * mgrit.c: the MGRIT solver behind exa/mgrit.h.
 *
 * One solve builds the level hierarchy (XBraid's coarsening rule), owns every
 * point of every level on the rank that owns its fine image, and runs XBraid's
 * cycle state machine (V- or F-cycles, optional skipped first down-cycle) over
 * four phases: F-relaxation, C-relaxation, F-relax-and-restrict (FAS, residual
 * norm on level 0) and F-relax-and-interpolate.  The adjoint solve is the same
 * code run in "solver time", which is reversed fine time with the rank order
 * reversed, so each rank keeps its own fine points; only the step, init and
 * index translation differ.  All messages go to the right neighbour (the owner
 * of hi + 1 on that level, skipping ranks that own nothing there) and every
 * phase sends at most one vector, so one send buffer and one tag suffice:
 * MPI's non-overtaking rule keeps the phases apart.
 *
 * Storage is kept from one solve to the next (rebuilt when a setting, the
 * direction or the vector size changes): every slot is written before it is
 * read in a solve, except the FAS terms, which a per-solve flag marks unset.
 * With the optional out-of-place callbacks (step_to, init_to, unpack_to, ...)
 * a step writes straight into the slot of the point it computes, so a solve
 * neither allocates nor copies a vector per step; without them a step is a
 * copy into the slot and the in-place step there.
 */
#include "exa/mgrit.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MGRIT_TAG = 7301 };

/* One level of the hierarchy, in solver-time indices 0..n. */
typedef struct Level {
  int64_t n;      /* last index (number of intervals) */
  int64_t cf;     /* C-points are the multiples of cf; n + 1 on the coarsest */
  int64_t stride; /* fine steps per step of this level */
  int64_t lo, hi; /* owned indices; lo > hi when this rank owns none */
  int nrelax;
  double cwt;
  void **u;    /* current values, u[i - lo] */
  void **v;    /* restricted values (coarse levels) */
  void **f;    /* FAS right-hand sides (coarse levels), valid where has_f */
  unsigned char *has_f; /* f[i - lo] set in this solve (unset = zero) */
  void *ghost; /* u or v at lo - 1, received from the left */
} Level;

struct ExaMgrit {
  MPI_Comm comm;
  int rank, nprocs;
  int64_t nt;
  double h;
  ExaMgritOps ops;
  void *app;
  /* settings */
  int max_levels, max_iter, skip, fmg, print_level;
  int64_t min_coarse;
  int cfactor[EXA_MGRIT_MAX_LEVELS], nrelax[EXA_MGRIT_MAX_LEVELS];
  double cwt[EXA_MGRIT_MAX_LEVELS], tol;
  /* results */
  int niter, nlevels, solved_levels;
  double *history; /* residual norm per iteration, < 0 = not available */
  /* state of the running solve */
  int adjoint;
  Level lev[EXA_MGRIT_MAX_LEVELS]; /* kept between solves while nlevels > 0 */
  void *tmp;                       /* scratch vector (C-relaxation weights, FAS terms) */
  int64_t *own_lo, *own_hi; /* level-0 blocks per solver rank */
  size_t bufsize;
  unsigned char *sbuf, *rbuf;
  MPI_Request sreq;
  int send_pending;
};

#define TRY(x)                                                                                   \
  do {                                                                                           \
    int rc_ = (x);                                                                               \
    if (rc_ != 0) return rc_;                                                                    \
  } while (0)

/* ---- errors ---------------------------------------------------------- */

static int mpi_fail(const ExaMgrit *m, int rc, const char *call) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
  fprintf(stderr, "exa: rank %d: %s: %s\n", m->rank, call, msg);
  return EXA_MGRIT_EMPI;
}
#define MPI_TRY(m, call, name)                                                                   \
  do {                                                                                           \
    int mrc_ = (call);                                                                           \
    if (mrc_ != MPI_SUCCESS) return mpi_fail((m), mrc_, (name));                                 \
  } while (0)

static int cb_fail(const ExaMgrit *m, const char *name) {
  fprintf(stderr, "exa: rank %d: mgrit: callback '%s' failed\n", m->rank, name);
  return EXA_MGRIT_ECALLBACK;
}

/* ---- vectors ----------------------------------------------------------- */

static int vclone(ExaMgrit *m, const void *x, void **out) {
  *out = m->ops.clone(m->app, x);
  return *out ? 0 : cb_fail(m, "clone");
}

static void vfree(ExaMgrit *m, void **x) {
  if (*x) m->ops.free(m->app, *x);
  *x = NULL;
}

static int vsum(ExaMgrit *m, double a, const void *x, double b, void *y) {
  return m->ops.sum(m->app, a, x, b, y) ? cb_fail(m, "sum") : 0;
}

/* *slot <- x, reusing the vector already in the slot when there is one. */
static int vstore(ExaMgrit *m, void **slot, const void *x) {
  return *slot ? vsum(m, 1.0, x, 0.0, *slot) : vclone(m, x, slot);
}

/* A vector in *slot (made once, from `like`; its value is about to be overwritten). */
static int ensure(ExaMgrit *m, void **slot, const void *like) {
  return *slot ? 0 : vclone(m, like, slot);
}

/* ---- indices and ownership --------------------------------------------- */

static int64_t nlocal(const Level *L) { return L->hi >= L->lo ? L->hi - L->lo + 1 : 0; }
static int is_c(const Level *L, int64_t i) { return i % L->cf == 0; }
static int64_t first_c(const Level *L) { return (L->lo + L->cf - 1) / L->cf * L->cf; }

/* Solver rank owning index i of level L (ranks own their fine images). */
static int owner(const ExaMgrit *m, const Level *L, int64_t i) {
  int64_t fine = i * L->stride;
  for (int q = 0; q < m->nprocs; q++)
    if (m->own_lo[q] <= fine && fine <= m->own_hi[q]) return q;
  return -1;
}

static int mpi_rank(const ExaMgrit *m, int q) { return m->adjoint ? m->nprocs - 1 - q : q; }

/* User fine index of solver index i on level L. */
static int64_t user_index(const ExaMgrit *m, const Level *L, int64_t i) {
  return m->adjoint ? m->nt - i * L->stride : i * L->stride;
}

/* XBraid's block distribution of npoints over nprocs. */
static void block(int64_t npoints, int nprocs, int p, int64_t *lo, int64_t *hi) {
  int64_t quo = npoints / nprocs, rem = npoints % nprocs;
  *lo = p * quo + (p < rem ? p : rem);
  *hi = (p + 1) * quo + (p + 1 < rem ? p + 1 : rem) - 1;
}

/* ---- steps --------------------------------------------------------------- */

/* u <- Phi_l(u): the step of level L that ends at solver index i. */
static int step_raw(ExaMgrit *m, int level, int64_t i, void *u) {
  const Level *L = &m->lev[level];
  double h = m->h * (double)L->stride;
  if (m->adjoint) {
    /* transposes the forward step that starts where this reverse step ends */
    int64_t start = m->nt - i * L->stride;
    return m->ops.step_adjoint(m->app, level, start, h, u) ? cb_fail(m, "step_adjoint") : 0;
  }
  int64_t start = (i - 1) * L->stride;
  return m->ops.step(m->app, level, start, h, u) ? cb_fail(m, "step") : 0;
}

/* y <- Phi_l(x), x != y: the out-of-place callback when there is one, else
 * a copy and the in-place step. */
static int step_to(ExaMgrit *m, int level, int64_t i, const void *x, void *y) {
  const Level *L = &m->lev[level];
  double h = m->h * (double)L->stride;
  if (m->adjoint && m->ops.step_adjoint_to)
    return m->ops.step_adjoint_to(m->app, level, m->nt - i * L->stride, h, x, y)
               ? cb_fail(m, "step_adjoint_to") : 0;
  if (!m->adjoint && m->ops.step_to)
    return m->ops.step_to(m->app, level, (i - 1) * L->stride, h, x, y) ? cb_fail(m, "step_to") : 0;
  TRY(vsum(m, 1.0, x, 0.0, y));
  return step_raw(m, level, i, y);
}

/* y <- Phi_l(x) + f_i (FAS). */
static int step_fas(ExaMgrit *m, int level, int64_t i, const void *x, void *y) {
  Level *L = &m->lev[level];
  TRY(step_to(m, level, i, x, y));
  if (L->has_f && L->has_f[i - L->lo]) TRY(vsum(m, 1.0, L->f[i - L->lo], 1.0, y));
  return 0;
}

/* ---- messages ------------------------------------------------------------ */

static int wait_send(ExaMgrit *m) {
  if (!m->send_pending) return 0;
  m->send_pending = 0;
  MPI_TRY(m, MPI_Wait(&m->sreq, MPI_STATUS_IGNORE), "MPI_Wait");
  return 0;
}

/* Send x (the value at L->hi) to the owner of L->hi + 1. */
static int send_right(ExaMgrit *m, const Level *L, const void *x) {
  TRY(wait_send(m));
  if (m->ops.pack(m->app, x, m->sbuf)) return cb_fail(m, "pack");
  int dest = mpi_rank(m, owner(m, L, L->hi + 1));
  MPI_TRY(m, MPI_Isend(m->sbuf, (int)m->bufsize, MPI_BYTE, dest, MGRIT_TAG, m->comm, &m->sreq),
          "MPI_Isend");
  m->send_pending = 1;
  return 0;
}

/* L->ghost <- the value at L->lo - 1 from its owner. */
static int recv_left(ExaMgrit *m, Level *L) {
  int src = mpi_rank(m, owner(m, L, L->lo - 1));
  MPI_TRY(m, MPI_Recv(m->rbuf, (int)m->bufsize, MPI_BYTE, src, MGRIT_TAG, m->comm,
                      MPI_STATUS_IGNORE), "MPI_Recv");
  if (L->ghost && m->ops.unpack_to)
    return m->ops.unpack_to(m->app, m->rbuf, L->ghost) ? cb_fail(m, "unpack_to") : 0;
  vfree(m, &L->ghost);
  L->ghost = m->ops.unpack(m->app, m->rbuf);
  return L->ghost ? 0 : cb_fail(m, "unpack");
}

/* The left neighbour of every local C-point > 0, from a[] or the ghost:
 * send a[hi] right when hi + 1 is a C-point, receive when lo is one. */
static int exchange_for_c(ExaMgrit *m, Level *L, void **a) {
  if (nlocal(L) == 0) return 0;
  if (L->hi < L->n && is_c(L, L->hi + 1)) TRY(send_right(m, L, a[L->hi - L->lo]));
  if (L->lo > 0 && is_c(L, L->lo)) TRY(recv_left(m, L));
  return 0;
}

/* ---- relaxation ------------------------------------------------------------ */

/* u_a .. u_b by stepping from the value `start` at a - 1, each step
 * writing into its point's slot. */
static int march(ExaMgrit *m, int level, const void *start, int64_t a, int64_t b) {
  Level *L = &m->lev[level];
  for (int64_t i = a; i <= b; i++) {
    void **slot = &L->u[i - L->lo];
    TRY(ensure(m, slot, start));
    TRY(step_fas(m, level, i, i == a ? start : L->u[i - 1 - L->lo], *slot));
  }
  return 0;
}

/* F-relaxation.  Intervals that start at a local C-point go first, so the
 * value the right neighbour waits for leaves early; the leading F-points wait
 * for the left neighbour.  On the coarsest level (one C-point, at 0) this is
 * the sequential solve, pipelined across ranks. */
static int f_relax(ExaMgrit *m, int level) {
  Level *L = &m->lev[level];
  if (nlocal(L) == 0) return 0;
  int64_t c0 = first_c(L);
  int send = L->hi < L->n && !is_c(L, L->hi + 1);
  if (c0 <= L->hi) {
    for (int64_t c = c0; c <= L->hi; c += L->cf) {
      int64_t end = c + L->cf - 1 < L->hi ? c + L->cf - 1 : L->hi;
      TRY(march(m, level, L->u[c - L->lo], c + 1, end));
    }
    if (send) TRY(send_right(m, L, L->u[L->hi - L->lo]));
    if (L->lo < c0) {
      TRY(recv_left(m, L));
      TRY(march(m, level, L->ghost, L->lo, c0 - 1));
    }
  } else {
    TRY(recv_left(m, L));
    TRY(march(m, level, L->ghost, L->lo, L->hi));
    if (send) TRY(send_right(m, L, L->u[L->hi - L->lo]));
  }
  return wait_send(m);
}

/* C-relaxation from the fresh F-values, weighted as XBraid does:
 * u_c <- (1 - w) u_c + w (Phi(u_{c-1}) + f_c). */
static int c_relax(ExaMgrit *m, int level) {
  Level *L = &m->lev[level];
  TRY(exchange_for_c(m, L, L->u));
  for (int64_t c = first_c(L); c <= L->hi && nlocal(L) > 0; c += L->cf) {
    if (c == 0) continue;
    const void *prev = c == L->lo ? L->ghost : L->u[c - 1 - L->lo];
    void **slot = &L->u[c - L->lo];
    if (L->cwt == 1.0) { /* the old u_c is not needed */
      TRY(step_fas(m, level, c, prev, *slot));
      continue;
    }
    TRY(ensure(m, &m->tmp, prev));
    TRY(step_fas(m, level, c, prev, m->tmp));
    TRY(vsum(m, 1.0 - L->cwt, *slot, L->cwt, m->tmp));
    void *t = *slot; /* the weighted value becomes u_c; the old one is scratch */
    *slot = m->tmp;
    m->tmp = t;
  }
  return wait_send(m);
}

/* ---- restriction and interpolation ---------------------------------------- */

/* Inject u at the C-points of `level` into v of level + 1 and put the FAS
 * residual r_c = Phi(u_{c-1}) + f_c - u_c into f; add its squared norm to *rsq. */
static int restrict_residual(ExaMgrit *m, int level, double *rsq) {
  Level *L = &m->lev[level], *C = &m->lev[level + 1];
  TRY(exchange_for_c(m, L, L->u));
  for (int64_t c = first_c(L); c <= L->hi && nlocal(L) > 0; c += L->cf) {
    int64_t j = c / L->cf - C->lo;
    TRY(vstore(m, &C->v[j], L->u[c - L->lo]));
    if (c == 0) continue;
    const void *prev = c == L->lo ? L->ghost : L->u[c - 1 - L->lo];
    TRY(ensure(m, &C->f[j], prev));
    TRY(step_fas(m, level, c, prev, C->f[j]));
    TRY(vsum(m, -1.0, L->u[c - L->lo], 1.0, C->f[j]));
    double nr = m->ops.norm(m->app, C->f[j]);
    *rsq += nr * nr;
    C->has_f[j] = 1;
  }
  return wait_send(m);
}

/* Coarse initial guess u = v, and the FAS term f_j += v_j - Phi_c(v_{j-1}). */
static int coarse_rhs(ExaMgrit *m, int level) {
  Level *C = &m->lev[level];
  if (nlocal(C) == 0) return 0;
  /* u = v at the C-points only: this level's next work is an F-relaxation
   * (relax_and_restrict, interpolate), which writes every F-point before
   * anything reads it (a vector is made there all the same) */
  for (int64_t j = 0; j < nlocal(C); j++) {
    if (is_c(C, C->lo + j))
      TRY(vstore(m, &C->u[j], C->v[j]));
    else
      TRY(ensure(m, &C->u[j], C->v[j]));
  }
  if (C->hi < C->n) TRY(send_right(m, C, C->v[C->hi - C->lo]));
  if (C->lo > 0) TRY(recv_left(m, C));
  for (int64_t j = C->lo > 0 ? C->lo : 1; j <= C->hi; j++) {
    const void *prev = j == C->lo ? C->ghost : C->v[j - 1 - C->lo];
    TRY(ensure(m, &m->tmp, prev));
    TRY(step_to(m, level, j, prev, m->tmp));
    TRY(vsum(m, 1.0, C->v[j - C->lo], 1.0, C->f[j - C->lo]));
    TRY(vsum(m, -1.0, m->tmp, 1.0, C->f[j - C->lo]));
  }
  return wait_send(m);
}

/* Down-cycle work on `level`: nrelax F-C sweeps, F-relax, restrict.  On level 0
 * the residual norm (2-norm over C-points of spatial norms) goes to *rnorm. */
static int relax_and_restrict(ExaMgrit *m, int level, double *rnorm) {
  for (int nu = 0; nu < m->lev[level].nrelax; nu++) {
    TRY(f_relax(m, level));
    TRY(c_relax(m, level));
  }
  TRY(f_relax(m, level));
  double local = 0.0, global = 0.0;
  TRY(restrict_residual(m, level, &local));
  TRY(coarse_rhs(m, level + 1));
  if (level == 0) {
    MPI_TRY(m, MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, m->comm), "MPI_Allreduce");
    *rnorm = sqrt(global);
  }
  return 0;
}

/* Up-cycle work on `level` >= 1: F-relax, then correct the fine C-points by
 * e = u - v (the fine F-points are recomputed by the next F-relaxation). */
static int interpolate(ExaMgrit *m, int level) {
  Level *C = &m->lev[level], *F = &m->lev[level - 1];
  TRY(f_relax(m, level));
  for (int64_t j = C->lo; j <= C->hi; j++) {
    void *fu = F->u[j * F->cf - F->lo];
    TRY(vsum(m, 1.0, C->u[j - C->lo], 1.0, fu));
    TRY(vsum(m, -1.0, C->v[j - C->lo], 1.0, fu));
  }
  return 0;
}

/* Skip: the fine initial guess injected into u and v of every coarse level. */
static int copy_fine_to_coarse(ExaMgrit *m) {
  for (int l = 1; l < m->nlevels; l++) {
    Level *C = &m->lev[l], *F = &m->lev[l - 1];
    for (int64_t j = C->lo; j <= C->hi; j++) {
      const void *x = F->u[j * F->cf - F->lo];
      TRY(vstore(m, &C->v[j - C->lo], x));
      TRY(vstore(m, &C->u[j - C->lo], x));
    }
  }
  return 0;
}

/* ---- hierarchy --------------------------------------------------------------- */

static void free_levels(ExaMgrit *m) {
  for (int l = 0; l < m->nlevels; l++) {
    Level *L = &m->lev[l];
    for (int64_t i = 0; i < nlocal(L); i++) {
      if (L->u) vfree(m, &L->u[i]);
      if (L->v) vfree(m, &L->v[i]);
      if (L->f) vfree(m, &L->f[i]);
    }
    vfree(m, &L->ghost);
    free(L->u);
    free(L->v);
    free(L->f);
    free(L->has_f);
    memset(L, 0, sizeof *L);
  }
  m->nlevels = 0;
  vfree(m, &m->tmp);
  free(m->own_lo);
  free(m->own_hi);
  /* after a failed solve a send may still be in flight: its buffer must
   * outlive it, so it is left behind (the program is about to abort) */
  if (!m->send_pending) free(m->sbuf);
  free(m->rbuf);
  m->own_lo = m->own_hi = NULL;
  m->sbuf = m->rbuf = NULL;
}

/* Level l + 1 has floor(n_l / cf_l) intervals and exists while that is at
 * least min_coarse and below max_levels (XBraid's rule); the last level gets
 * cf = n + 1, so its only C-point is 0 and F-relaxation solves it. */
static int build_levels(ExaMgrit *m) {
  int P = m->nprocs;
  m->own_lo = malloc(sizeof(int64_t) * (size_t)P);
  m->own_hi = malloc(sizeof(int64_t) * (size_t)P);
  m->bufsize = m->ops.buffer_size(m->app);
  if (m->bufsize > (size_t)INT_MAX) return EXA_MGRIT_EINVAL; /* MPI counts are int */
  m->sbuf = malloc(m->bufsize ? m->bufsize : 1);
  m->rbuf = malloc(m->bufsize ? m->bufsize : 1);
  if (!m->own_lo || !m->own_hi || !m->sbuf || !m->rbuf) return EXA_MGRIT_ENOMEM;
  for (int q = 0; q < P; q++) {
    int64_t lo, hi;
    block(m->nt + 1, P, m->adjoint ? P - 1 - q : q, &lo, &hi);
    m->own_lo[q] = m->adjoint ? m->nt - hi : lo;
    m->own_hi[q] = m->adjoint ? m->nt - lo : hi;
  }
  int me = m->adjoint ? P - 1 - m->rank : m->rank;
  int max_levels = m->nt <= m->min_coarse ? 1 : m->max_levels;
  int64_t n = m->nt, stride = 1;
  int l = 0;
  for (;; l++) {
    Level *L = &m->lev[l];
    L->n = n;
    L->stride = stride;
    L->cf = m->cfactor[l];
    L->nrelax = m->nrelax[l];
    L->cwt = m->cwt[l];
    L->lo = (m->own_lo[me] + stride - 1) / stride;
    L->hi = m->own_hi[me] / stride;
    int64_t nc = n / L->cf;
    int coarsen = nc > 0 && l + 1 < max_levels && nc >= m->min_coarse;
    if (!coarsen) L->cf = n + 1;
    size_t cnt = (size_t)(nlocal(L) > 0 ? nlocal(L) : 1);
    L->u = calloc(cnt, sizeof(void *));
    if (l > 0) {
      L->v = calloc(cnt, sizeof(void *));
      L->f = calloc(cnt, sizeof(void *));
      L->has_f = calloc(cnt, 1);
    }
    if (!L->u || (l > 0 && (!L->v || !L->f || !L->has_f))) {
      m->nlevels = l + 1;
      return EXA_MGRIT_ENOMEM;
    }
    if (!coarsen) break;
    stride *= L->cf;
    n = nc;
  }
  m->nlevels = l + 1;
  return 0;
}

/* Initial values at the level-0 C-points (the F-points are computed). */
static int init_fine(ExaMgrit *m) {
  Level *L = &m->lev[0];
  for (int64_t c = first_c(L); c <= L->hi && nlocal(L) > 0; c += L->cf) {
    int64_t i = user_index(m, L, c);
    void **slot = &L->u[c - L->lo];
    int (*into)(void *, int64_t, void *) = m->adjoint ? m->ops.init_adjoint_to : m->ops.init_to;
    if (*slot && into) {
      if (into(m->app, i, *slot)) return cb_fail(m, m->adjoint ? "init_adjoint_to" : "init_to");
      continue;
    }
    void *x = m->adjoint ? m->ops.init_adjoint(m->app, i) : m->ops.init(m->app, i);
    if (!x) return cb_fail(m, m->adjoint ? "init_adjoint" : "init");
    vfree(m, slot);
    *slot = x;
  }
  return 0;
}

/* ---- the cycle ------------------------------------------------------------------ */

typedef struct Cycle {
  int level, down, at_top, fmglevel, fmg_vcyc;
} Cycle;

/* XBraid's cycle direction: down to the coarsest, then up; on the way up an
 * F-cycle turns down again at every level below fmglevel (one V-cycle each);
 * level 0 is visited once going up (convergence check) before turning down. */
static void update_cycle(const ExaMgrit *m, Cycle *cy) {
  int last = m->nlevels - 1;
  if (cy->down && cy->level == last) cy->down = 0;
  if (cy->down) return;
  if (cy->level > 0) {
    if (cy->level < cy->fmglevel) {
      if (++cy->fmg_vcyc == 1) {
        cy->fmg_vcyc = 0;
        cy->fmglevel--;
      }
      cy->down = 1;
    }
  } else if (!cy->at_top) {
    cy->at_top = 1;
  } else {
    if (m->fmg) cy->fmglevel = last;
    cy->at_top = 0;
    cy->down = 1;
  }
}

static void print_iteration(const ExaMgrit *m, int iter, double rnorm) {
  if (m->print_level < 1 || m->rank != 0) return;
  const char *who = m->adjoint ? "adjoint iteration" : "iteration";
  if (rnorm < 0.0)
    printf("%s %d: ||r|| = not available (first down-cycle skipped)\n", who, iter);
  else
    printf("%s %d: ||r|| = %.6e\n", who, iter, rnorm);
  fflush(stdout);
}

static int drive(ExaMgrit *m) {
  Cycle cy = {.level = 0, .down = 1, .fmglevel = m->fmg ? m->nlevels - 1 : 0};
  double rnorm = -1.0;
  int iter = 0, done = 0;
  m->niter = 0;
  if (m->nlevels == 1) {
    /* Sequential time stepping, done by the final F-relaxation.  Like XBraid,
     * count one iteration with residual 0 unless the user asked for one level. */
    if (m->max_levels > 1) {
      m->history[0] = 0.0;
      print_iteration(m, 0, 0.0);
      m->niter = 1;
    }
    return 0;
  }
  if (m->skip) {
    cy.level = m->nlevels - 1;
    TRY(copy_fine_to_coarse(m));
  }
  while (!done) {
    update_cycle(m, &cy);
    if (cy.down) {
      TRY(relax_and_restrict(m, cy.level, &rnorm));
      cy.level++;
    } else if (cy.level > 0) {
      TRY(interpolate(m, cy.level));
      cy.level--;
    } else {
      m->history[iter] = rnorm;
      print_iteration(m, iter, rnorm);
      if (rnorm >= 0.0 && rnorm < m->tol) done = 1;
      if (isnan(rnorm) || iter == m->max_iter - 1) done = 1;
      iter++;
      m->niter = iter;
    }
  }
  return 0;
}

/* Final F-relaxation (so F-points match the last correction), then access. */
static int finish(ExaMgrit *m) {
  TRY(f_relax(m, 0));
  if (!m->ops.access) return 0;
  Level *L = &m->lev[0];
  for (int64_t i = L->lo; i <= L->hi; i++)
    if (m->ops.access(m->app, m->adjoint, user_index(m, L, i), L->u[i - L->lo]))
      return cb_fail(m, "access");
  return 0;
}

/* The storage of the last solve is reused unless the direction or the
 * vector size changed (settings changes free it: invalidate). */
static int solve(ExaMgrit *m, int adjoint) {
  if (m->nlevels > 0 && (m->adjoint != adjoint || m->ops.buffer_size(m->app) != m->bufsize))
    free_levels(m);
  m->adjoint = adjoint;
  m->niter = 0;
  for (int k = 0; k < m->max_iter; k++) m->history[k] = -1.0;
  int rc = m->nlevels > 0 ? 0 : build_levels(m);
  for (int l = 1; rc == 0 && l < m->nlevels; l++) { /* no FAS term yet in this solve */
    Level *L = &m->lev[l];
    memset(L->has_f, 0, (size_t)(nlocal(L) > 0 ? nlocal(L) : 1));
  }
  if (rc == 0) rc = init_fine(m);
  if (rc == 0) rc = drive(m);
  if (rc == 0) rc = finish(m);
  if (rc == 0) rc = wait_send(m);
  m->solved_levels = m->nlevels;
  if (rc != 0) free_levels(m);
  return rc;
}

/* A setting the hierarchy depends on changed: the next solve rebuilds it. */
static void invalidate(ExaMgrit *m) { free_levels(m); }

int exa_mgrit_solve(ExaMgrit *m) { return m ? solve(m, 0) : EXA_MGRIT_EINVAL; }

int exa_mgrit_solve_adjoint(ExaMgrit *m) {
  if (!m || !m->ops.step_adjoint || !m->ops.init_adjoint) return EXA_MGRIT_EINVAL;
  return solve(m, 1);
}

/* ---- handle and settings -------------------------------------------------------- */

int exa_mgrit_create(MPI_Comm comm, int64_t nt, double h, const ExaMgritOps *ops, void *app,
                     ExaMgrit **out) {
  *out = NULL;
  if (nt < 1 || !ops || !ops->step || !ops->init || !ops->clone || !ops->free || !ops->sum ||
      !ops->norm || !ops->buffer_size || !ops->pack || !ops->unpack)
    return EXA_MGRIT_EINVAL;
  ExaMgrit *m = calloc(1, sizeof *m);
  if (!m) return EXA_MGRIT_ENOMEM;
  m->nt = nt;
  m->h = h;
  m->ops = *ops;
  m->app = app;
  m->max_levels = EXA_MGRIT_MAX_LEVELS;
  m->min_coarse = 2;
  m->tol = 1e-9;
  m->max_iter = 100;
  m->skip = 1;
  for (int l = 0; l < EXA_MGRIT_MAX_LEVELS; l++) {
    m->cfactor[l] = 2;
    m->nrelax[l] = 1;
    m->cwt[l] = 1.0;
  }
  m->history = malloc(sizeof(double) * (size_t)m->max_iter);
  int rc = m->history ? MPI_Comm_dup(comm, &m->comm) : MPI_SUCCESS;
  if (!m->history || rc != MPI_SUCCESS) {
    int err = m->history ? mpi_fail(m, rc, "MPI_Comm_dup") : EXA_MGRIT_ENOMEM;
    free(m->history);
    free(m);
    return err;
  }
  /* our own communicator returns errors, so every call can name itself */
  MPI_Comm_rank(m->comm, &m->rank);
  MPI_Comm_size(m->comm, &m->nprocs);
  rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) {
    int err = mpi_fail(m, rc, "MPI_Comm_set_errhandler");
    exa_mgrit_destroy(m);
    return err;
  }
  *out = m;
  return 0;
}

void exa_mgrit_destroy(ExaMgrit *m) {
  if (!m) return;
  free_levels(m);
  MPI_Comm_free(&m->comm);
  free(m->history);
  free(m);
}

int exa_mgrit_set_max_levels(ExaMgrit *m, int max_levels) {
  if (max_levels < 1 || max_levels > EXA_MGRIT_MAX_LEVELS) return EXA_MGRIT_EINVAL;
  m->max_levels = max_levels;
  invalidate(m);
  return 0;
}

int exa_mgrit_set_min_coarse(ExaMgrit *m, int64_t min_coarse) {
  if (min_coarse < 1) return EXA_MGRIT_EINVAL;
  m->min_coarse = min_coarse;
  invalidate(m);
  return 0;
}

/* Per-level settings: level in [0, MAX) or -1 for all levels. */
static int level_range(int level, int *a, int *b) {
  if (level < -1 || level >= EXA_MGRIT_MAX_LEVELS) return EXA_MGRIT_EINVAL;
  *a = level < 0 ? 0 : level;
  *b = level < 0 ? EXA_MGRIT_MAX_LEVELS : level + 1;
  return 0;
}

int exa_mgrit_set_cfactor(ExaMgrit *m, int level, int cfactor) {
  int a, b;
  if (cfactor < 2) return EXA_MGRIT_EINVAL;
  TRY(level_range(level, &a, &b));
  for (int l = a; l < b; l++) m->cfactor[l] = cfactor;
  invalidate(m);
  return 0;
}

int exa_mgrit_set_nrelax(ExaMgrit *m, int level, int nrelax) {
  int a, b;
  if (nrelax < 0) return EXA_MGRIT_EINVAL;
  TRY(level_range(level, &a, &b));
  for (int l = a; l < b; l++) m->nrelax[l] = nrelax;
  invalidate(m);
  return 0;
}

int exa_mgrit_set_cweight(ExaMgrit *m, int level, double weight) {
  int a, b;
  if (!(weight > 0.0 && weight < 2.0)) return EXA_MGRIT_EINVAL;
  TRY(level_range(level, &a, &b));
  for (int l = a; l < b; l++) m->cwt[l] = weight;
  invalidate(m);
  return 0;
}

int exa_mgrit_set_abs_tol(ExaMgrit *m, double tol) {
  if (!(tol >= 0.0)) return EXA_MGRIT_EINVAL;
  m->tol = tol;
  return 0;
}

int exa_mgrit_set_max_iter(ExaMgrit *m, int max_iter) {
  if (max_iter < 1) return EXA_MGRIT_EINVAL;
  double *h = realloc(m->history, sizeof(double) * (size_t)max_iter);
  if (!h) return EXA_MGRIT_ENOMEM;
  m->history = h;
  m->max_iter = max_iter;
  return 0;
}

int exa_mgrit_set_skip(ExaMgrit *m, int skip) {
  m->skip = skip != 0;
  return 0;
}

int exa_mgrit_set_fmg(ExaMgrit *m, int fmg) {
  m->fmg = fmg != 0;
  return 0;
}

int exa_mgrit_set_print_level(ExaMgrit *m, int level) {
  m->print_level = level;
  return 0;
}

int exa_mgrit_num_iterations(const ExaMgrit *m) { return m->niter; }
int exa_mgrit_num_levels(const ExaMgrit *m) { return m->solved_levels; }

double exa_mgrit_residual_norm(const ExaMgrit *m, int iteration) {
  if (iteration < 0 || iteration >= m->niter) return -1.0;
  return m->history[iteration];
}
