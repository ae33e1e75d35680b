/* hierarchy.h - the hierarchy of coarsened networks of a model's repeat
 * block, for any method that works on more than one network: MG/OPT and RMTR
 * (runtime/methods/mgopt.c, rmtr.c) and, without either, a two-level coarse
 * correction (a Schwarz coarse space is level 1 of it).
 *
 * The repeat block is a time-stepping problem u_{k+1} = u_k + h E(u_k,
 * theta_k), k < N (exac's stage functions, lower_stage.c).  Level j is the
 * network of N / s_j steps of size h s_j, s_j = cf^j, whose step k uses the
 * parameters of fine step k s_j.  Every level's vector has the fine layout
 * (n reals, the run's parameter vector): level j's variables are the
 * parameters outside the block and those of steps 0, s_j, 2 s_j, ...; the
 * other block entries are not variables and are held at 0 (mask).  The
 * generated functions then run unchanged at every level (step k reads theta
 * shifted by k s_j stride reals), and optimisers, norms and inner products
 * work on the full vectors.
 *
 * Transfers between level j-1 and level j (cf = s_j / s_{j-1}):
 *   restrict   parameters, by injection: coarse step k takes the parameters
 *              of step k cf of level j-1.  R P = I for both prolongations,
 *              and the coarse network is the one MGRIT's coarse grid and
 *              nested iteration propagate (they inject too).
 *   prolong    P: piecewise constant (step i of level j-1 takes coarse step
 *              floor(i/cf)) or linear (between coarse steps floor(i/cf) and
 *              the next, constant after the last).
 *   restrict_grad  P^T, for gradients and first-order corrections: then
 *              <g, P e> = <P^T g, e> exactly, which is what the coarse
 *              models' first-order coherence needs.  P^T sums cf fine
 *              gradients of size ~h into one of size ~h cf: it is the
 *              coarse network's own scale.
 * Parameters outside the block are copied unchanged by all three.
 *
 * Coarsening in width (fewer channels per step) would be one more transfer
 * pair here, acting on each step's `size` reals; the levels' layout and the
 * methods above would not change. */
#ifndef EXA_HIERARCHY_H
#define EXA_HIERARCHY_H

#include <stdint.h>

#include "exa/run.h"

enum { EXA_HIER_MAX_LEVELS = 16 };

typedef enum ExaProlong { EXA_PROLONG_CONSTANT, EXA_PROLONG_LINEAR } ExaProlong;

typedef struct ExaHierarchy {
    ExaRun *r;
    ExaComm comm;              /* the ranks that share each evaluation's rows */
    const ExaFunction *step, *vjp, *pro, *pro_vjp, *epi;
    int64_t w, nfine, stride, offset, size; /* the block (descriptor's `setting layers`) */
    double h;
    int levels, cfactor;
    ExaProlong prolong;
    int64_t spacing[EXA_HIER_MAX_LEVELS], nsteps[EXA_HIER_MAX_LEVELS];
    char *mask[EXA_HIER_MAX_LEVELS];   /* 1 where level j has a variable */
    double pnorm[EXA_HIER_MAX_LEVELS]; /* a bound on ||P|| (2-norm), level j to j-1 */
    int64_t evals[EXA_HIER_MAX_LEVELS]; /* loss evaluations with gradient at each level */
    /* the evaluation of a coarse level, this rank's rows */
    int64_t cap;
    void **u;                  /* u_0 .. u_N of the level being evaluated */
    void *wa, *wb, *in[EXA_MAX_INPUTS + 1], *loss_rows, *out_rows, *gscratch, *work;
    int64_t work_cap;
    double *t1, *t2;           /* scratch of n doubles */
} ExaHierarchy;

/* The hierarchy of at most `levels` levels (fewer when the block's steps run
 * out: every coarse network keeps at least 2 steps, and N divisible by its
 * spacing), from the descriptor's stage description.  0, or -1 with
 * "exa: decompose = NAME: ..." in err. */
int exa_hierarchy_init(ExaHierarchy *H, ExaRun *r, const ExaComm *comm, int levels, int cfactor,
                       ExaProlong prolong, const char *name, char *err, size_t errlen);
void exa_hierarchy_free(ExaHierarchy *H);

/* Mean loss of level j's network over rows [begin, begin+count) of the
 * epoch's order at theta (n reals of the run's precision), and its gradient
 * into grad when not NULL (0 where level j has no variable); rows shared over
 * H->comm as exa_run_loss_on shares them (mode).  Level 0 is exa_run_loss_on
 * itself (the serial generated gradient); coarse levels run the stage
 * functions: prologue, steps, epilogue, then the adjoint sweep. */
double exa_hierarchy_loss(ExaHierarchy *H, int level, const void *theta, void *grad, int64_t begin,
                          int64_t count, ExaShard mode);
/* The same through the stage functions at every level, level 0 included
 * (the check of the sweep against the serial gradient). */
double exa_hierarchy_stage_loss(ExaHierarchy *H, int level, const void *theta, void *grad, int64_t begin,
                                int64_t count, ExaShard mode);

/* Transfers of n doubles between level j-1 (fine) and level j (coarse),
 * 1 <= j < levels; in and out must not overlap. */
void exa_hierarchy_restrict(const ExaHierarchy *H, int j, const double *fine, double *coarse);
void exa_hierarchy_restrict_grad(const ExaHierarchy *H, int j, const double *fine, double *coarse);
void exa_hierarchy_prolong(const ExaHierarchy *H, int j, const double *coarse, double *fine);

/* Program-precision parameters (n reals of the run's elem): the network of
 * spacing s (its steps 0, s, 2s, ...) written piecewise constant into the
 * steps between, theta_i = theta_{floor(i/s) s}, so that the full network is
 * the coarse one refined (nested iteration, layers.c). */
void exa_hierarchy_fill_piecewise(const ExaHierarchy *H, int64_t s, void *theta);

/* The ExaProlong a word names ("constant", "linear"); -1 if none. */
int exa_hierarchy_prolong_of(const char *word);

#endif
