/* solver.h - the optimisers as the decomposition methods use them: built
 * from a call of the descriptor, run on an objective (a mini-batch loss
 * restricted as a method needs it), reset between rounds, and listed as
 * named state arrays for checkpoints.  Shared by every method file. */
#ifndef EXA_METHODS_SOLVER_H
#define EXA_METHODS_SOLVER_H

#include "exa/method.h"
#include "exa/optim.h"
#include "exa/reduce.h"

typedef enum OptKind { OPT_NONE, OPT_SGD, OPT_ADAM, OPT_LBFGS, OPT_TR, OPT_GRADIENT, OPT_PLAIN, OPT_SECANT } OptKind;

typedef struct OptSpec {
    OptKind kind;
    const ExaCall *call;  /* its arguments */
    int steps;            /* iterations per round (steps: k) */
    int successive;       /* batches: successive (a round spans `steps` mini-batches) */
} OptSpec;

typedef struct Optimizer {
    OptSpec spec;
    ExaSgd sgd;
    ExaAdam adam;
    ExaLbfgs lbfgs;
    ExaTrust trust;
    int64_t counters[2]; /* lbfgs/trust stored and head, for checkpoints */
    double base_lr;      /* SGD and Adam: the learning rate the schedule scales */
    /* SGD: its step in the weight gradients' GEMMs (sgd_in_gemms), and the
     * ranges a step took there (allocated on first use) */
    ExaSgdFused fused;
    int64_t (*fused_done)[2];
} Optimizer;

/* The optimiser a call tree value names; `optimizer` (or no value) is the
 * train block's, fallback.  kind OPT_NONE when unknown. */
OptSpec solver_spec(const ExaValue *v, const ExaCall *fallback);
/* f64: buffers in double (local solvers work on double copies), else in
 * the program's precision.  0, or -1 out of memory. */
int solver_init(const ExaRun *r, const OptSpec *o, Optimizer *st, int f64);
/* The same on vectors of n reals (a part of the parameters: part.h). */
int solver_init_n(const ExaRun *r, const OptSpec *o, Optimizer *st, int f64, int64_t n);
void solver_free(Optimizer *st);
/* A new round of a local solver: momentum, moments, history forgotten;
 * a trust region's radius set to radius (> 0) or its initial one. */
void solver_reset(Optimizer *st, double radius);
/* The optimiser's state under prefix ("global", "local"); load after the
 * arrays were filled. */
void solver_save(Optimizer *st, const ExaRun *r, const char *prefix, ExaStateList *l);
void solver_load(Optimizer *st);

/* A mini-batch loss as a method computes it. */
typedef double (*LossFn)(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count,
                         ExaShard mode);

/* An objective in double for the quasi-Newton and trust-region solvers:
 * loss over rows [begin, begin+count) in mode, plus the first-order
 * consistency term shift'(x - x0) when shift is set (SAPTS), with only the
 * parameters where mask is 1 free when mask is set.  stage_theta and
 * stage_grad: n reals of the program's precision (scratch for f32). */
typedef struct Objective {
    ExaRun *r;
    LossFn loss;
    void *ctx;
    int64_t begin, count;
    ExaShard mode;
    const double *shift, *x0;
    const char *mask;
    void *stage_theta, *stage_grad;
} Objective;

double solver_objective(void *ctx, const double *x, double *g);
/* Runs o for its steps from x (value *fx, gradient g, both current). */
void solver_run(Optimizer *o, Objective *obj, double *x, double *fx, double *g);
/* One step of optimiser o on obj's loss at the run's parameters (updated
 * in place); x and g are n doubles of scratch.  Returns the loss before. */
double solver_global_step(Optimizer *o, Objective *obj, double *x, double *g);

/* Reals of the program's precision to and from double. */
void solver_to_double(const ExaRun *r, const void *v, double *x);
void solver_from_double(const ExaRun *r, const double *x, void *v);
/* Zeroed memory that ends the run when there is none. */
void *solver_alloc(int64_t n, size_t size);


/* The train block's optimiser stepping on a method's loss (data, layers,
 * grid): the optimiser, its double copies and f32 scratch.  With a part
 * (owned rows: neurons() and its grids, part.h) the optimiser and its state
 * cover this rank's part alone: the loss gives the part's gradient, packed;
 * the step updates the part of the run's parameters and leaves the other
 * ranks' rows as they were until stepper_gather. */
typedef struct Stepper {
    Optimizer opt;
    double *x, *g;
    void *stage_theta, *stage_grad;
    const ExaParamPart *part; /* NULL: the whole vector */
    void *xl, *gl;            /* the part of the parameters and of the gradient, packed */
    void *full[2];            /* the state whole, for checkpoints (at the first gather or save) */
    /* with a part: the factor on the gradient the loss wrote, which the step
     * folds into its update (set to 1 before each loss call; data()'s
     * sharded sum leaves the share weighting here) */
    double grad_scale;
    /* with a part: the loss needs the whole parameters (data()), so every
     * rank's part is gathered after every step (else only by stepper_gather) */
    int gather_each;
    /* with gather_each: called after each step instead of the gather when
     * the ranks step one copy of the parameters in shared memory (data() on
     * one node: a barrier, exa/node_shm.h); NULL: the gather */
    void (*publish)(void *ctx);
    void *publish_ctx;
    /* with a part, SGD and no clipping: where the loss left the piece's
     * gradient as two parts it did not add (data() at two ranks on one node,
     * the parts in the ranks' shared memory), set by the loss, reset to NULL
     * before each loss call; the step adds them in its update, one pass */
    const void *sum2[2];
} Stepper;

/* A method whose only state is its Stepper, which follows the head: its
 * save and load ops are stepper_save and stepper_load. */
typedef struct SteppedMethod {
    ExaMethod base;
    Stepper global;
} SteppedMethod;
void stepper_save(ExaMethod *m, ExaStateList *l);
void stepper_load(ExaMethod *m);

/* 0, or -1 with "exa: decompose = NAME: ..." in err. */
int stepper_init(Stepper *st, const ExaRun *r, const char *name, char *err, size_t errlen);
/* The same on this rank's part (NULL: stepper_init); the optimiser must be
 * one part_optimiser_fits accepts. */
int stepper_init_part(Stepper *st, const ExaRun *r, const char *name, const ExaParamPart *part, char *err,
                      size_t errlen);
/* One step at the run's parameters on loss(ctx, ...); the loss before it.
 * With a part, loss writes the part's gradient (part->n reals, packed) and
 * the gradient's norm for clipping is the whole vector's (part_norm2). */
double stepper_step(Stepper *st, ExaRun *r, LossFn loss, void *ctx, int64_t begin, int64_t count);
/* With a part: every rank's rows of the run's parameters and of the
 * optimiser's state gathered, whole on every rank (collective over the
 * part's ranks); nothing without one. */
void stepper_gather(Stepper *st, ExaRun *r);
void stepper_free(Stepper *st);

/* A SteppedMethod's step and gather ops: the train block's optimiser on
 * the method's own loss op (or part_loss op when its Stepper has a part). */
double stepper_method_step(ExaMethod *m, int64_t begin, int64_t count);
void stepper_method_gather(ExaMethod *m);
/* The reducer a method opens for its communicator at its creation (into
 * its base's red; exa/reduce.h): NCCL when the run is on GPUs that all have
 * it, else MPI.  The method closes it in its free. */
ExaReducer *solver_reducer(ExaRun *r, const ExaComm *comm);

/* The mini-batch loss of exa_run_loss, rows shared over the method's
 * communicator and summed through its reducer (MPI without one): ctx is the
 * ExaMethod (a LossFn), and as an ExaMethodOps loss. */
double solver_split_loss_fn(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count,
                            ExaShard mode);
double solver_split_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count);

/* layers.c: --bench-step (timings of the MGRIT evaluation). */
int exa_layers_bench(ExaMethod *m, int64_t n);

#endif
