/* multilevel.h - what MG/OPT (mgopt.c) and RMTR (rmtr.c) share: the
 * hierarchy, one objective per level with its first-order correction, the
 * settings both take, the Armijo line search and the self-check
 * (--multilevel-check).  decompose = multilevel(mgopt(...)) or
 * multilevel(rmtr(...)); multilevel.c hands the inner call to its method. */
#ifndef EXA_METHODS_MULTILEVEL_H
#define EXA_METHODS_MULTILEVEL_H

#include "exa/hierarchy.h"
#include "solver.h"

typedef struct MlCommon MlCommon;

typedef struct MlLevel {
    MlCommon *c;
    int j;
} MlLevel;

/* Level j's objective F_j(x) = L_j(x) + <shift_j, x - x0_j> (F_0 = L_0), in
 * double on n-vectors of the fine layout; the rows are the step's
 * mini-batch at every level, shared over the method's ranks. */
struct MlCommon {
    ExaHierarchy H;
    int pre, post, coarse_steps;
    MlLevel lv[EXA_HIER_MAX_LEVELS];
    Objective obj[EXA_HIER_MAX_LEVELS];
    double *x[EXA_HIER_MAX_LEVELS], *g[EXA_HIER_MAX_LEVELS];
    double *shift[EXA_HIER_MAX_LEVELS], *x0[EXA_HIER_MAX_LEVELS];
    double *e, *xt, *gt;       /* scratch: a correction, a trial point and its gradient */
    void *stage_theta, *stage_grad;
};

/* From the method's call (levels, cfactor, pre, post, coarse_steps,
 * prolong); 0, or -1 with a message in err. */
int ml_init(MlCommon *c, ExaRun *r, const ExaCall *m, const ExaComm *comm, const char *name, char *err,
            size_t errlen);
void ml_free(MlCommon *c);
/* Every level's objective on rows [begin, begin+count). */
void ml_set_batch(MlCommon *c, int64_t begin, int64_t count);
/* Level j's coarse model from level j-1's point xf and gradient gf (of
 * F_{j-1}): x_j = x0_j = R xf, shift_j = P^T gf - grad L_j(x0_j), so that
 * grad F_j(x0_j) = P^T gf (first-order coherence); g_j = grad F_j(x0_j).
 * Returns F_j(x0_j). */
double ml_coarse_model(MlCommon *c, int j, const double *xf, const double *gf);
/* e = P_j (x_j - x0_j), level j's correction in level j-1's space, into out. */
void ml_correction(MlCommon *c, int j, double *out);
double ml_dot(int64_t n, const double *a, const double *b);

/* Armijo backtracking along e from x (value *fx, gradient g): alpha = 1,
 * 1/2, ... (at most 20 tries) until f(x + alpha e) <= f(x) + 1e-4 alpha
 * <g, e>; x, *fx, g updated to the accepted point.  Returns alpha, or 0
 * with x unchanged when e is no descent direction (<g, e> >= 0, nothing
 * evaluated) or no trial decreases enough.  xt, gt: n doubles of scratch. */
double ml_line_search(ExaObjective f, void *ctx, int64_t n, double *x, double *fx, double *g, const double *e,
                      double *xt, double *gt);

/* --multilevel-check at the run's parameters, first mini-batch: the stage
 * sweep against the serial gradient, R P = I, <P^T g, e> = <g, P e>, the
 * coarse models' coherence to 1e-12 and the line search's refusal of an
 * ascent direction.  0 when every check passes. */
int ml_check(MlCommon *c, ExaRun *r, const char *name);

#endif
