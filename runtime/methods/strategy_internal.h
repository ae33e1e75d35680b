/* strategy_internal.h - what strategy.c (building a strategy from the
 * descriptor) and strategy_solve.c (running its steps) share. */
#ifndef EXA_STRATEGY_INTERNAL_H
#define EXA_STRATEGY_INTERNAL_H

#include "exa/checkpoint.h"
#include "exa/optim.h"
#include "exa/run.h"

enum { EXA_CKPT_ARRAYS = EXA_CKPT_MAX_STATE };

typedef enum OptKind { OPT_NONE, OPT_SGD, OPT_ADAM, OPT_LBFGS, OPT_TR, OPT_GRADIENT, OPT_PLAIN } OptKind;

typedef struct OptSpec {
    OptKind kind;
    const ExaCall *call;  /* its arguments */
    int steps;            /* iterations per mini-batch (steps: k) */
} OptSpec;

typedef struct Optimizer {
    OptSpec spec;
    ExaSgd sgd;
    ExaAdam adam;
    ExaLbfgs lbfgs;
    ExaTrust trust;
} Optimizer;

typedef enum Split { SPLIT_DATA, SPLIT_PARAMS } Split;
typedef struct ExaLayers ExaLayers; /* layers(mgrit(...)): strategy_layers.c */
typedef enum Combine { COMBINE_ADDITIVE, COMBINE_SUM, COMBINE_AVERAGE, COMBINE_MULTIPLICATIVE } Combine;

struct ExaStrategy {
    ExaRun *r;
    char name[512];
    Split split;
    OptSpec local, global;
    Combine combine;
    Optimizer gopt, lopt;     /* global and local optimiser state */
    double delta;             /* global trust radius (SAPTS, APTS) */
    char *mask;               /* SPLIT_PARAMS: 1 for this rank's weights */
    double *x, *g, *x0, *g0, *shift, *y, *c; /* n doubles each */
    void *stage_theta, *stage_grad;          /* n reals of the program's precision */
    double meta[8];           /* checkpointed counters */
    ExaLayers *layers;        /* layers(mgrit(...)), else NULL */
};

double strategy_global_step(ExaStrategy *s, Optimizer *o, int64_t begin, int64_t count, ExaShard mode);
double strategy_data_step(ExaStrategy *s, int64_t begin, int64_t count);
double strategy_params_step(ExaStrategy *s, int64_t begin, int64_t count);

/* strategy_layers.c: the mini-batch loss and gradient by MGRIT over the
 * repeat block's steps; the optimisers use it in place of exa_run_loss. */
int strategy_layers_create(ExaStrategy *s, char *err, size_t errlen);
double strategy_layers_loss(ExaLayers *L, const void *theta, void *grad, int64_t begin, int64_t count);
/* Nested iteration, around each step: begin sets the network of this epoch's
 * phase and returns 1 when the phase starts a finer network (the optimiser
 * then starts afresh); end makes theta piecewise constant over the coarse
 * steps.  Both do nothing without mgrit(nested: 1). */
int strategy_layers_begin_step(ExaLayers *L);
void strategy_layers_end_step(ExaLayers *L, void *theta);
void strategy_layers_free(ExaLayers *L);

#endif
