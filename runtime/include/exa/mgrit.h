/*
 * exa/mgrit.h: multigrid reduction in time (MGRIT), usable on its own.
 *
 * The solver knows nothing about the problem: the user describes one time step
 * and a handful of vector operations as callbacks (in the spirit of XBraid), and
 * the solver solves u_0 = init(0), u_i = Phi(u_{i-1}) for i = 1..nt in parallel
 * over the ranks of an MPI communicator.  Each rank owns a contiguous block of
 * the nt + 1 time points (the same block distribution XBraid uses).  Vectors
 * are opaque `void *` owned by the user's callbacks; the solver only creates
 * them with init/clone/unpack and destroys them with free.
 *
 * Usage:
 *     ExaMgritOps ops = { .step = ..., .init = ..., ... };
 *     ExaMgrit *m;
 *     exa_mgrit_create(comm, nt, h, &ops, app, &m);
 *     exa_mgrit_set_max_levels(m, 4); exa_mgrit_set_cfactor(m, -1, 4); ...
 *     exa_mgrit_solve(m);            (forward; access() sees the solution)
 *     exa_mgrit_solve_adjoint(m);    (optional: reverse-time adjoint)
 *     exa_mgrit_destroy(m);
 *
 * Step sizes and indices.  The step on level l spans s_l = cf_0 * ... * cf_{l-1}
 * fine steps; the step callback gets h_l = h * s_l and `fine_index`, the fine
 * index of the time point the step starts from, so a network can pick the
 * parameters of that layer (injection).  With f-corrections on coarse levels
 * (FAS) the solver adds f_i after the user step: u_i = Phi_l(u_{i-1}) + f_i.
 *
 * Adjoint mode.  For the forward recursion u_{i+1} = Phi_i(u_i) and an objective
 * whose gradient with respect to u_nt is g, the adjoint (discrete backward)
 * equations are
 *     w_nt = g,    w_i = J_i^T w_{i+1},   i = nt-1 .. 0,   J_i = dPhi_i/du (u_i).
 * exa_mgrit_solve_adjoint solves them with MGRIT in reverse time: the solver's
 * time runs from fine index nt down to 0, with the same levels, coarsening
 * factors, relaxation and cycle settings, and each rank owns the same fine
 * points as in the forward solve (so the forward states it stored in access()
 * are local).  The callbacks used are:
 *     init_adjoint(app, i)          w_nt = g at i = nt; an initial guess elsewhere
 *     step_adjoint(app, l, i, h, w) w <- J^T w, J the Jacobian of the forward
 *                                   step of size h starting at fine index i
 *                                   (on coarse levels the coarse step spanning
 *                                   fine points i .. i + s_l), evaluated at the
 *                                   forward state u_i, which rank owns point i
 * and clone/free/sum/norm/pack/unpack as in the forward solve; access() is called
 * with adjoint = 1.  A source term dJ/du_i for objectives depending on interior
 * states may be added inside step_adjoint at level 0 (w_i = J_i^T w_{i+1} + g_i):
 * the converged solution is the exact discrete adjoint either way; leaving the
 * term out of coarse levels only slows convergence.  The coarse points of the
 * adjoint hierarchy are counted from the adjoint's initial point nt; they are
 * the forward coarse points whenever nt is divisible by s_{L-1}.
 *
 * Storage.  A solve keeps its vectors for the next one (freed by destroy, or
 * rebuilt when a hierarchy setting, the direction or buffer_size() changes),
 * so vectors must keep their size while buffer_size() returns the same.
 *
 * Errors.  Functions return 0 or a negative EXA_MGRIT_E* code; MPI and callback
 * failures are reported once on stderr as `exa: rank R: <call>: <what>`.  A
 * failed solve leaves the handle valid for destroy only; other ranks may be
 * left waiting, so a program should MPI_Abort on error.
 */
#ifndef EXA_MGRIT_H
#define EXA_MGRIT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ExaMgrit ExaMgrit;

enum {
  EXA_MGRIT_OK = 0,
  EXA_MGRIT_EINVAL = -1,    /* bad argument or setting */
  EXA_MGRIT_ENOMEM = -2,    /* allocation failed */
  EXA_MGRIT_EMPI = -3,      /* an MPI call failed */
  EXA_MGRIT_ECALLBACK = -4, /* a user callback returned an error or NULL */
};

/* Maximum number of levels in the hierarchy. */
#define EXA_MGRIT_MAX_LEVELS 30

/* User callbacks.  `app` is the pointer given to exa_mgrit_create.  Callbacks
 * returning int return 0 on success; pointer-returning ones NULL on failure. */
typedef struct ExaMgritOps {
  /* u <- Phi_level(u): one step of size h starting at fine index fine_index. */
  int (*step)(void *app, int level, int64_t fine_index, double h, void *u);
  /* New vector at fine index i: the initial condition at i = 0, else a guess. */
  void *(*init)(void *app, int64_t fine_index);
  void *(*clone)(void *app, const void *u);
  void (*free)(void *app, void *u);
  /* y <- a x + b y (XBraid's sum); b = 0 must overwrite y. */
  int (*sum)(void *app, double a, const void *x, double b, void *y);
  /* Spatial norm of u (the time norm is the 2-norm of these). */
  double (*norm)(void *app, const void *u);
  /* MPI messages: bytes needed for one vector, pack into / new vector from. */
  size_t (*buffer_size)(void *app);
  int (*pack)(void *app, const void *u, void *buffer);
  void *(*unpack)(void *app, const void *buffer);
  /* Optional: sees every local fine point once after a solve (forward or
   * adjoint), in increasing solver-time order. */
  int (*access)(void *app, int adjoint, int64_t fine_index, const void *u);
  /* Optional, needed by exa_mgrit_solve_adjoint only; see above. */
  int (*step_adjoint)(void *app, int level, int64_t fine_index, double h, void *w);
  void *(*init_adjoint)(void *app, int64_t fine_index);
  /* Optional out-of-place forms, each used where given (in place otherwise):
   * y <- Phi(x) (x != y), the same for the adjoint step, init and unpack into
   * an existing vector.  The solver keeps its vectors from one solve to the
   * next; with these it also neither allocates nor copies a vector per step
   * (a step writes straight into the point it computes). */
  int (*step_to)(void *app, int level, int64_t fine_index, double h, const void *x, void *y);
  int (*step_adjoint_to)(void *app, int level, int64_t fine_index, double h, const void *x,
                         void *y);
  int (*init_to)(void *app, int64_t fine_index, void *u);
  int (*init_adjoint_to)(void *app, int64_t fine_index, void *u);
  int (*unpack_to)(void *app, const void *buffer, void *u);
} ExaMgritOps;

/* Collective over comm (which is duplicated).  nt >= 1 steps of size h. */
int exa_mgrit_create(MPI_Comm comm, int64_t nt, double h, const ExaMgritOps *ops, void *app,
                     ExaMgrit **out);
void exa_mgrit_destroy(ExaMgrit *m);

/* Settings (XBraid's defaults in brackets).  level = -1 sets every level. */
int exa_mgrit_set_max_levels(ExaMgrit *m, int max_levels);        /* [30] */
int exa_mgrit_set_min_coarse(ExaMgrit *m, int64_t min_coarse);    /* [2] intervals */
int exa_mgrit_set_cfactor(ExaMgrit *m, int level, int cfactor);   /* [2], >= 2 */
int exa_mgrit_set_nrelax(ExaMgrit *m, int level, int nrelax);     /* [1] 0 F, 1 FCF */
int exa_mgrit_set_cweight(ExaMgrit *m, int level, double weight); /* [1.0] */
int exa_mgrit_set_abs_tol(ExaMgrit *m, double tol);               /* [1e-9] */
int exa_mgrit_set_max_iter(ExaMgrit *m, int max_iter);            /* [100] */
int exa_mgrit_set_skip(ExaMgrit *m, int skip);                    /* [1] */
int exa_mgrit_set_fmg(ExaMgrit *m, int fmg);                      /* [0] V-cycles */
int exa_mgrit_set_print_level(ExaMgrit *m, int level);            /* [0] 1: per iteration */

/* Collective: solve the forward problem / the adjoint problem. */
int exa_mgrit_solve(ExaMgrit *m);
int exa_mgrit_solve_adjoint(ExaMgrit *m);

/* Results of the last solve.  Iterations are counted as XBraid does (cycles
 * done, including the first one); the residual norm of iteration k is the one
 * computed at its start; a negative value means "not available" (the skipped
 * first down-cycle). */
int exa_mgrit_num_iterations(const ExaMgrit *m);
double exa_mgrit_residual_norm(const ExaMgrit *m, int iteration);
int exa_mgrit_num_levels(const ExaMgrit *m);

#ifdef __cplusplus
}
#endif
#endif
