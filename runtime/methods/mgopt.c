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
 * Gradients are data-parallel over the method's ranks at every level. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multilevel.h"

typedef struct ExaMgopt {
    ExaMethod base;
    MlCommon c;
    Optimizer opt[EXA_HIER_MAX_LEVELS];
    double alpha;              /* the last fine line search's step */
    int64_t evals[EXA_HIER_MAX_LEVELS]; /* checkpointed copy of the hierarchy's counts */
} ExaMgopt;

/* k iterations of level j's optimiser. */
static void smooth(ExaMgopt *M, int j, double *x, double *f, double *g, int k)
{
    if (k < 1)
        return;
    M->opt[j].spec.steps = k;
    solver_run(&M->opt[j], &M->c.obj[j], x, f, g);
}

static void cycle(ExaMgopt *M, int j, double *x, double *f, double *g)
{
    MlCommon *c = &M->c;
    int last = j == c->H.levels - 1;
    if (last) {
        smooth(M, j, x, f, g, j == 0 ? c->pre + c->post : c->coarse_steps);
        return;
    }
    smooth(M, j, x, f, g, c->pre);
    double fH = ml_coarse_model(c, j + 1, x, g);
    solver_reset(&M->opt[j + 1], 0);
    cycle(M, j + 1, c->x[j + 1], &fH, c->g[j + 1]);
    ml_correction(c, j + 1, c->e); /* the deeper levels are done with e */
    double alpha = ml_line_search(solver_objective, &c->obj[j], c->H.r->n, x, f, g, c->e, c->xt, c->gt);
    if (j == 0)
        M->alpha = alpha;
    smooth(M, j, x, f, g, c->post);
}

static double mgopt_step(ExaMethod *m, int64_t begin, int64_t count)
{
    ExaMgopt *M = (ExaMgopt *)m;
    MlCommon *c = &M->c;
    ExaRun *r = m->r;
    ml_set_batch(c, begin, count);
    double *x = c->x[0], *g = c->g[0];
    solver_to_double(r, r->theta, x);
    double f = solver_objective(&c->obj[0], x, g), start = f;
    cycle(M, 0, x, &f, g);
    solver_from_double(r, x, r->theta);
    return start;
}

static double mgopt_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count)
{
    return exa_hierarchy_loss(&((ExaMgopt *)m)->c.H, 0, theta, grad, begin, count, EXA_SHARD_SPLIT);
}

static void mgopt_free(ExaMethod *m)
{
    ExaMgopt *M = (ExaMgopt *)m;
    for (int j = 0; j < EXA_HIER_MAX_LEVELS; j++)
        solver_free(&M->opt[j]);
    ml_free(&M->c);
    free(M);
}

static ExaMethod *mgopt_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err, size_t errlen)
{
    ExaMgopt *M = calloc(1, sizeof *M);
    if (!M)
        return NULL;
    M->base.ops = &exa_method_mgopt;
    M->base.r = r;
    M->base.comm = *comm;
    snprintf(M->base.name, sizeof M->base.name, "multilevel(");
    size_t len = strlen(M->base.name);
    exa_call_print(d, M->base.name + len, sizeof M->base.name - len - 1);
    strcat(M->base.name, ")");
    if (ml_init(&M->c, r, d, comm, M->base.name, err, errlen) != 0) {
        mgopt_free(&M->base);
        return NULL;
    }
    OptSpec spec = solver_spec(NULL, r->prog->optimizer);
    if (spec.kind != OPT_SGD && spec.kind != OPT_ADAM && spec.kind != OPT_LBFGS && spec.kind != OPT_TR) {
        snprintf(err, errlen, "exa: decompose = %s: the optimiser %s cannot smooth", M->base.name,
                 r->prog->optimizer ? r->prog->optimizer->name : "?");
        mgopt_free(&M->base);
        return NULL;
    }
    for (int j = 0; j < M->c.H.levels; j++)
        if (solver_init(r, &spec, &M->opt[j], 1) != 0) {
            snprintf(err, errlen, "exa: decompose = %s: out of memory for the optimisers", M->base.name);
            mgopt_free(&M->base);
            return NULL;
        }
    return &M->base;
}

static void mgopt_save(ExaMethod *m, ExaStateList *l)
{
    ExaMgopt *M = (ExaMgopt *)m;
    solver_save(&M->opt[0], m->r, "global", l);
    memcpy(M->evals, M->c.H.evals, sizeof M->evals);
    exa_state_add(l, "mgopt", "evaluations", M->evals, (int64_t)sizeof M->evals);
}

static void mgopt_load(ExaMethod *m)
{
    ExaMgopt *M = (ExaMgopt *)m;
    solver_load(&M->opt[0]);
    memcpy(M->c.H.evals, M->evals, sizeof M->evals);
}

static int mgopt_report(ExaMethod *m, const char **names, double *values, int max)
{
    ExaMgopt *M = (ExaMgopt *)m;
    double coarse = 0, cost = (double)M->c.H.evals[0]; /* cost: in fine evaluations, a level-j one 1/s_j */
    for (int j = 1; j < M->c.H.levels; j++)
        coarse += (double)M->c.H.evals[j], cost += (double)M->c.H.evals[j] / (double)M->c.H.spacing[j];
    const char *n[4] = { "alpha", "fine_evals", "coarse_evals", "eval_cost" };
    double v[4] = { M->alpha, (double)M->c.H.evals[0], coarse, cost };
    int k = max < 4 ? max : 4;
    for (int i = 0; i < k; i++)
        names[i] = n[i], values[i] = v[i];
    return k;
}

static int mgopt_check(ExaMethod *m)
{
    return ml_check(&((ExaMgopt *)m)->c, m->r, m->name);
}

const ExaMethodOps exa_method_mgopt = {
    .name = "mgopt", .create = mgopt_create, .step = mgopt_step, .loss = mgopt_loss,
    .save = mgopt_save, .load = mgopt_load, .free = mgopt_free, .report = mgopt_report,
    .check = mgopt_check,
};
