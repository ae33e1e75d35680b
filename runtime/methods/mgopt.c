/* mgopt.c - MG/OPT (Nash 2000; TorchBraid's mgopt), decompose =
 * multilevel(mgopt(levels, cfactor, pre, post, coarse_steps, prolong)).
 *
 * One V-cycle per mini-batch, every level on that mini-batch (the stochastic
 * variant: the coarse correction is computed on the rows of the fine
 * gradient).  At level j with objective F_j (F_0 the mini-batch loss):
 *   1. pre-smoothing: `pre` iterations of the train block's optimiser;
 *   2. x_H0 = R x, coarse objective F_H(x) = L_H(x) - <v_H, x> with v_H =
 *      grad L_H(x_H0) - P^T grad F_j(x) (multilevel.c: ml_coarse_model);
 *   3. the coarse problem: recursively, or `coarse_steps` iterations of the
 *      optimiser on the coarsest level;
 *   4. e = P (x_H - x_H0) and an Armijo line search along it (a step of 0
 *      when e is no descent direction);
 *   5. post-smoothing: `post` iterations.
 * The optimiser at level 0 is the train block's and keeps its state (Adam's
 * moments, L-BFGS's pairs) from step to step; each coarse level has its own
 * of the same kind, reset at every visit (its problem is new each time).
 * One level is `pre + post` iterations of the train block's optimiser.
 * Gradients are data-parallel over the method's ranks at every level.  The
 * cycle itself is multilevel.c's (ml_method_step); this file gives its
 * smoothing, the coarse visit's reset and the line search. */
#include <stdio.h>
#include <stdlib.h>

#include "multilevel.h"

typedef struct ExaMgopt {
    MlMethod ml;
    Optimizer opt[EXA_HIER_MAX_LEVELS];
    double alpha; /* the last fine line search's step */
} ExaMgopt;

/* k iterations of level j's optimiser. */
static int smooth(MlMethod *m, int j, double *x, double *f, double *g, int k)
{
    ExaMgopt *M = (ExaMgopt *)m;
    if (k < 1)
        return 0;
    M->opt[j].spec.steps = k;
    solver_run(&M->opt[j], &m->c.obj[j], x, f, g);
    return 0;
}

/* Every level visits the next, whose optimiser starts afresh. */
static int descend(MlMethod *m, int j, const double *x, const double *g)
{
    (void)x, (void)g;
    solver_reset(&((ExaMgopt *)m)->opt[j + 1], 0);
    return 1;
}

/* An Armijo line search along the correction. */
static void correct(MlMethod *m, int j, double *x, double *f, double *g, double pred)
{
    MlCommon *c = &m->c;
    (void)pred;
    double alpha = ml_line_search(solver_objective, &c->obj[j], c->H.r->n, x, f, g, c->e, c->xt, c->gt);
    if (j == 0)
        ((ExaMgopt *)m)->alpha = alpha;
}

static const MlCycleOps mgopt_cycle = { .smooth = smooth, .descend = descend, .correct = correct };

static void mgopt_free(ExaMethod *m)
{
    ExaMgopt *M = (ExaMgopt *)m;
    for (int j = 0; j < EXA_HIER_MAX_LEVELS; j++)
        solver_free(&M->opt[j]);
    ml_free(&M->ml.c);
    free(M);
}

static ExaMethod *mgopt_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err, size_t errlen)
{
    ExaMgopt *M = calloc(1, sizeof *M);
    if (!M)
        return NULL;
    ExaMethod *m = &M->ml.base;
    if (ml_method_init(&M->ml, &exa_method_mgopt, &mgopt_cycle, r, d, comm, err, errlen) != 0) {
        mgopt_free(m);
        return NULL;
    }
    OptSpec spec = solver_spec(NULL, r->prog->optimizer);
    if (spec.kind != OPT_SGD && spec.kind != OPT_ADAM && spec.kind != OPT_LBFGS && spec.kind != OPT_TR) {
        snprintf(err, errlen, "exa: decompose = %s: the optimiser %s cannot smooth", m->name,
                 r->prog->optimizer ? r->prog->optimizer->name : "?");
        mgopt_free(m);
        return NULL;
    }
    for (int j = 0; j < M->ml.c.H.levels; j++)
        if (solver_init(r, &spec, &M->opt[j], 1) != 0) {
            snprintf(err, errlen, "exa: decompose = %s: out of memory for the optimisers", m->name);
            mgopt_free(m);
            return NULL;
        }
    return m;
}

static void mgopt_save(ExaMethod *m, ExaStateList *l)
{
    ExaMgopt *M = (ExaMgopt *)m;
    solver_save(&M->opt[0], m->r, "global", l);
    ml_method_save_evals(&M->ml, l, "mgopt");
}

static void mgopt_load(ExaMethod *m)
{
    ExaMgopt *M = (ExaMgopt *)m;
    solver_load(&M->opt[0]);
    ml_method_load_evals(&M->ml);
}

static int mgopt_report(ExaMethod *m, const char **names, double *values, int max)
{
    static const char *const own[1] = { "alpha" };
    double v[1] = { ((ExaMgopt *)m)->alpha };
    return ml_method_report((MlMethod *)m, own, v, 1, names, values, max);
}

const ExaMethodOps exa_method_mgopt = {
    .name = "mgopt", .create = mgopt_create, .step = ml_method_step, .loss = ml_method_loss,
    .save = mgopt_save, .load = mgopt_load, .free = mgopt_free, .report = mgopt_report,
    .check = ml_method_check,
};
