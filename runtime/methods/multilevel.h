/* multilevel.h - what MG/OPT (mgopt.c) and RMTR (rmtr.c) share: the
 * hierarchy, one objective per level with its first-order correction, the
 * settings both take, the Armijo line search, the self-check
 * (--multilevel-check) and the V-cycle with each method's hooks.  decompose = multilevel(mgopt(...)) or
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

/* ---- the V-cycle MG/OPT and RMTR both run --------------------------------- */

typedef struct MlMethod MlMethod;

/* What a method does at each point of the one cycle shape (multilevel.c,
 * ml_method_step): at level j, `pre` smoothing iterations; if descend says
 * so, level j+1's first-order model from (x, g) (ml_coarse_model), its own
 * cycle, and its correction e = P (x_H - x0_H) offered to correct; `post`
 * smoothing iterations.  The coarsest level only smooths (`coarse_steps`
 * iterations; pre + post with one level). */
typedef struct MlCycleOps {
    /* k iterations of level j's optimiser from (x, *f, g), updated in place;
     * nonzero when the level must stop (the rest of its cycle is skipped) */
    int (*smooth)(MlMethod *m, int j, double *x, double *f, double *g, int k);
    /* whether level j at (x, g) visits level j+1 now; if so, level j+1's
     * optimiser is made ready for the visit */
    int (*descend)(MlMethod *m, int j, const double *x, const double *g);
    /* level j+1's correction is in c.e and its model decreased by pred =
     * F_{j+1}(x0_{j+1}) - F_{j+1}(x_{j+1}): take it into (x, *f, g) or not */
    void (*correct)(MlMethod *m, int j, double *x, double *f, double *g, double pred);
} MlCycleOps;

/* The head of each multilevel method's struct (ExaMgopt, ExaRmtr). */
struct MlMethod {
    ExaMethod base;
    MlCommon c;
    const MlCycleOps *cycle;
    int64_t evals[EXA_HIER_MAX_LEVELS]; /* checkpointed copy of c.H.evals */
};

/* base (named multilevel(CALL)) and c from the method's call d; 0, or -1
 * with a message in err (the caller frees what it made). */
int ml_method_init(MlMethod *m, const ExaMethodOps *ops, const MlCycleOps *cycle, ExaRun *r, const ExaCall *d,
                   const ExaComm *comm, char *err, size_t errlen);
/* ExaMethodOps entries: one V-cycle on rows [begin, begin+count) (returns
 * the loss before it), the fine level's loss, --multilevel-check. */
double ml_method_step(ExaMethod *m, int64_t begin, int64_t count);
double ml_method_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count);
int ml_method_check(ExaMethod *m);
/* The report: the method's own n numbers, then fine_evals, coarse_evals and
 * eval_cost (in fine evaluations, a level-j one 1/s_j); at most max. */
int ml_method_report(const MlMethod *m, const char *const *own, const double *own_values, int n,
                     const char **names, double *values, int max);
/* The evaluation counts in a checkpoint (state group `group`) and back. */
void ml_method_save_evals(MlMethod *m, ExaStateList *l, const char *group);
void ml_method_load_evals(MlMethod *m);

#endif
