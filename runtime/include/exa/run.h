/* run.h - one training run: the state shared by the trainer, the model
 * evaluation and the strategies.
 *
 *   main.c          entry point: descriptor, flags, MPI, then the trainer
 *   run_options.c   command-line flags
 *   run_data.c      the data sets of the descriptor, with --data overrides
 *   run_model.c     parameters, and the loss and gradient over a batch
 *   trainer.c       epochs: order, strategy steps, evaluation, logs, checkpoints
 *   strategy*.c     how one mini-batch step is taken (decompose = ...)
 *
 * Reals are float or double as the program was compiled (elem bytes); the
 * parameter vector theta and the gradient are flat arrays of that type. */
#ifndef EXA_RUN_H
#define EXA_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "exa/abi.h"
#include "exa/batch_groups.h"
#include "exa/comm.h"
#include "exa/grad_sync.h"
#include "exa/data.h"
#include "exa/metrics.h"
#include "exa/program.h"

enum { EXA_MAX_OVERRIDES = 32, EXA_MAX_INPUTS = 8 };

typedef struct ExaOptions {
    int64_t epochs, batch, seed;   /* -1: the program's */
    double lr;                     /* < 0: the optimiser's */
    int threads;                   /* 0: leave OpenBLAS alone */
    const char *checkpoint_dir;    /* NULL: the program's, if any */
    int resume;
    const char *log_path;
    int quiet;
    int64_t limit;                 /* > 0: use only the first N training samples */
    int64_t eval_limit;            /* > 0: and the first N validation samples */
    int describe;
    int gradcheck;                 /* check the generated gradient and exit */
    int gradcompare;               /* layers(mgrit): MGRIT gradient vs serial, and exit */
    int admm_check;                /* layers(admm): check the first iteration's updates, and exit */
    int multilevel_check;          /* multilevel(...): check transfers and coherence, and exit */
    int64_t bench_step;            /* > 0: time that many loss+gradient evaluations, and exit */
    int64_t grid_plan;             /* > 0: print the grid cost table for that many ranks, and exit */
    const char *device;            /* "cpu" or "gpu"; NULL: the train block's, else cpu */
    const char *predict_path;      /* --predict FILE: run the model on FILE's inputs */
    const char *out_path;          /* --out FILE: where --predict writes */
    int eval;                      /* --eval: evaluate the trained weights, no training */
    const char *export_dir;        /* --export DIR: the final weights as .npy files */
    const char *import_dir;        /* --import DIR: weights from .npy files */
    const char *decompose;         /* --decompose STRATEGY: instead of the program's line */
    double stop_after;             /* > 0: stop (as if killed) after this many epochs */
    int check_numerics;            /* a non-finite loss names the op that made it */
    int nover;
    char over_key[EXA_MAX_OVERRIDES][128];    /* "train" or "train.images" */
    const char *over_path[EXA_MAX_OVERRIDES];
} ExaOptions;

/* Parses argv into o; on a bad flag prints one line and returns 2; --help
 * prints the program's usage (naming argv[0] as given) and returns 1 (exit
 * 0).  Numbers are checked whole: no trailing text, no value out of range,
 * no infinity or NaN. */
int exa_options_parse(int argc, char **argv, const ExaProgram *p, ExaOptions *o);

typedef enum ExaShard {
    EXA_SHARD_SPLIT, /* each rank its share of the rows; results summed over ranks */
    EXA_SHARD_LOCAL, /* this rank's share only, no communication (micro-batch) */
    EXA_SHARD_ALL    /* every row on this rank, no communication */
} ExaShard;

typedef struct ExaRun {
    const ExaProgram *prog;
    const ExaFunction *fns;       /* exa_functions of the executable */
    ExaOptions opt;
    ExaComm world;
    double comm_seconds;
    /* samples whose loss and gradient (grad_rows) or loss alone
     * (loss_only_rows) this rank evaluated through exa_run_loss_on: the work
     * of a step (the log's grad_evals and loss_evals, in mini-batches) */
    int64_t grad_rows, loss_only_rows;
    int elem;                     /* 4 or 8 */
    int64_t n;                    /* weights */
    void *theta, *grad;
    ExaDataset train, valid;
    int have_valid;
    const ExaDataInfo *train_info, *valid_info;
    int64_t *order;               /* this epoch's order of the training samples */
    int64_t epoch, step;          /* completed epochs; optimiser steps in all */
    int64_t epochs, batch, seed;  /* in force (program, then flags) */
    /* the train block's schedule and clip, applied to every SGD and Adam
     * step (runtime/methods/solver.c): lr_scale is the schedule's factor
     * for the step being taken (trainer.c sets it), clip the bound on the
     * gradient's 2-norm or 0 */
    double lr_scale, clip;
    const ExaFunction *loss_fn, *grad_fn;
    int nin;                      /* inputs of the generated functions */
    /* scratch for one call: inputs, outputs, workspace */
    void *in[EXA_MAX_INPUTS];
    void *loss_rows, *out_rows, *work;
    int64_t rows_cap, work_cap;
    /* the next mini-batch's rows, gathered by a worker while the optimiser
     * steps (run_model.c), or NULL */
    struct ExaPrefetch *prefetch;
    int64_t out_size;             /* model output per sample (accuracy), or 0 */
    /* data parallelism: the gradient's sum in buckets of grad_bucket
     * elements started during the backward pass (exa/grad_sync.h), or one
     * blocking sum after it when 0 (EXA_GRAD_BUCKET, default EXA_GRAD_BUCKET) */
    int64_t grad_bucket;
    ExaGradSync sync;
    /* plain SGD's step taken in the weight gradients' GEMMs (ExaArgs.sgd,
     * exa/abi.h): whether it may be (EXA_SGD_FUSE, default 1), and while the
     * optimiser has armed it for one step (methods/solver.c) what loss_grad's
     * call gets, else NULL */
    int sgd_fuse;
    ExaSgdFused *sgd_fused;
    /* a call's rows in groups on the pool's threads (exa/batch_groups.h;
     * EXA_BATCH_GROUPS), with their workspaces and gradients */
    ExaBatchGroups groups;
    /* batch_mean's running statistics (prog->batchstats): their values when
     * the step began, the batch's statistics the step's first gradient
     * evaluation gave (capture 1 until then; synced: summed over every
     * rank), and a gradient to throw away for loss-only evaluations */
    double *stat_keep, *stat_batch;
    int64_t stat_reals;
    int stat_capture, stat_captured, stat_synced;
    void *stat_grad;
    struct ExaGpuRun *gpu;        /* --device gpu (exa/gpu_train.h), else NULL */
} ExaRun;

/* ---- run_data.c ---- */
/* Loads the training (and validation) sets; 0, or -1 with err set. */
int exa_run_load_data(ExaRun *r, char *err, size_t errlen);

/* ---- run_model.c ---- */
int exa_run_init(ExaRun *r, char *err, size_t errlen);  /* buffers, functions */
void exa_run_free(ExaRun *r);
void exa_run_init_params(ExaRun *r);                   /* from the seed; same on every rank */
/* Copies rows order[begin .. begin+count) of d (fields as set describes
 * them) into the input buffers in[]. */
void exa_run_gather(const ExaRun *r, const ExaDataset *d, const ExaDataInfo *set, const int64_t *order,
                    int64_t begin, int64_t count, void *const *in);
/* *work grown (64-byte aligned, contents dropped) to at least need bytes;
 * *cap is its size.  Returns it; ends the run when out of memory. */
void *exa_run_workspace(void **work, int64_t *cap, int64_t need);
/* The dropout masks of `count` samples (their indices in the training set)
 * into mask (count rows of prog->dropout_size reals): in training 0 with
 * each site's probability p, else 1/(1-p), from a random stream of (seed,
 * optimiser step, sample); at evaluation (training 0) all 1. */
void exa_run_dropout_masks(const ExaRun *r, const int64_t *samples, int64_t count, int training, void *mask);
/* Around one optimiser step (trainer.c): batch_mean's running statistics
 * move towards the batch statistics of the step's first gradient
 * evaluation by their momentum, whatever the optimiser did to them. */
void exa_run_stats_begin(ExaRun *r);
void exa_run_stats_end(ExaRun *r);
/* The generated function of a kind (loss_grad, stage_step, ...), or NULL. */
const ExaFunction *exa_run_function(const ExaRun *r, ExaFunctionKind kind);
/* 0 when the training set and the mini-batch give each of `shards` ranks (or
 * grid columns: `who` in the singular) at least one sample; else -1 with a message whose advice
 * fits the cause ("--limit" or the data set's size cannot be fixed by --batch). */
int exa_run_check_shards(const ExaRun *r, int shards, const char *who, char *err, size_t errlen);
/* Mean loss over rows [begin, begin + count) of r->order in the training
 * set, and its gradient into grad when not NULL, at parameters theta. */
double exa_run_loss(ExaRun *r, const void *theta, void *grad, int64_t begin, int64_t count,
                    ExaShard mode);
/* The same with the rows shared over comm instead of the world. */
double exa_run_loss_on(ExaRun *r, const ExaComm *comm, const void *theta, void *grad, int64_t begin,
                       int64_t count, ExaShard mode);
/* The same with the rows shared over red's communicator and the gradient and
 * loss summed through red (exa/reduce.h: NCCL or MPI); red NULL: comm, MPI. */
struct ExaReducer;
double exa_run_loss_reduced(ExaRun *r, const ExaComm *comm, struct ExaReducer *red, const void *theta,
                            void *grad, int64_t begin, int64_t count, ExaShard mode);
/* Loss and accuracy (NAN without class labels) over a whole data set, split
 * over the ranks. */
void exa_run_evaluate(ExaRun *r, const ExaDataset *d, double *loss, double *accuracy);

/* fn->run(a), on the device when the run has one (host copies). */
void exa_run_call(ExaRun *r, const ExaFunction *fn, const ExaArgs *a);

/* Runs fn at theta on training rows order[begin .. begin+count), all on this
 * rank, writing to outputs (check_numerics.c's probe). */
void exa_run_rows(ExaRun *r, const ExaFunction *fn, const void *theta, void **outputs,
                  int64_t begin, int64_t count);

/* --check-numerics (check_numerics.c): after a non-finite loss of the batch
 * order[begin .. begin+count) started at theta, finds the first operation of
 * the forward pass whose value is NaN or infinite there and describes it in
 * msg ("the first non-finite value is ..."). */
void exa_check_numerics(ExaRun *r, const void *theta, int64_t begin, int64_t count, char *msg,
                        size_t len);

/* Reals of the program's precision, whatever it is. */
static inline double exa_get(const ExaRun *r, const void *v, int64_t i)
{
    return r->elem == 4 ? (double)((const float *)v)[i] : ((const double *)v)[i];
}
static inline void exa_set(const ExaRun *r, void *v, int64_t i, double x)
{
    if (r->elem == 4)
        ((float *)v)[i] = (float)x;
    else
        ((double *)v)[i] = x;
}

/* ---- strategy.c: the method of the decompose line (exa/method.h) ---- */
typedef struct ExaStrategy ExaStrategy;
struct ExaCheckpoint;
/* Builds the method of the program's decompose line (or data parallelism)
 * on the world; NULL with err set when the run cannot use it (e.g. ranks). */
ExaStrategy *exa_strategy_create(ExaRun *r, char *err, size_t errlen);
/* One step on the mini-batch of rows [begin, begin + count); returns the
 * mini-batch loss before the step. */
double exa_strategy_step(ExaStrategy *s, int64_t begin, int64_t count);
/* The method's state as named arrays into c (pointers to live buffers). */
void exa_strategy_save(ExaStrategy *s, struct ExaCheckpoint *c);
/* Fills the method's state from c's named arrays; -1 with a line naming
 * the first missing or misfit array in err. */
int exa_strategy_restore(ExaStrategy *s, const struct ExaCheckpoint *c, const char *path, char *err,
                         size_t errlen);
const char *exa_strategy_name(const ExaStrategy *s);
/* Collective: the run's parameters (and the method's state) whole on every
 * rank, for a method that splits them over its ranks (neurons()' owned
 * rows); the trainer calls it before a checkpoint, an evaluation and the
 * end of training, not at every step.  Nothing for the other methods. */
void exa_strategy_gather(ExaStrategy *s);
/* How the method sums over its ranks: "NCCL" or "MPI" (exa/reduce.h). */
const char *exa_strategy_sums(const ExaStrategy *s);
/* --gradcompare: the method's loss and gradient of the first mini-batch
 * against the serial ones; prints both; returns 0 when they agree to 1e-9
 * relative, 1 when not, 2 when the method computes them as serial does.
 * --bench-step (layers(mgrit) only) times them. */
int exa_strategy_gradcompare(ExaStrategy *s);
void exa_strategy_free(ExaStrategy *s);
/* The method's numbers for the epoch's log line (names[i] = values[i]);
 * how many of max. */
int exa_strategy_report(ExaStrategy *s, const char **names, double *values, int max);
/* --admm-check, --multilevel-check: the method's own check of its first
 * step; 0 when it passes, 2 when the method has none (or another flag's). */
int exa_strategy_check(ExaStrategy *s);

/* ---- use.c: --predict, --eval, --export, --import ----
 * Parameter P is the file DIR/P.npy (P as exac --emit=shapes names it). */
int exa_use_export(ExaRun *r, const char *dir, char *err, size_t errlen);     /* rank 0 writes */
/* Every parameter from DIR (all files present, each of its parameter's
 * shape, no other .npy there); -1 with one line in err. */
int exa_use_import(ExaRun *r, const char *dir, char *err, size_t errlen);
/* The parameters of DIR/checkpoint.exa (a checkpoint of this model). */
int exa_use_checkpoint(ExaRun *r, const char *dir, char *err, size_t errlen);
/* Reads the checkpoint at path, checks it belongs to this model and copies
 * its parameters into r->theta; on success c stays open for the caller's
 * other state (exa_checkpoint_free it), on failure it is freed. */
int exa_load_checkpoint(ExaRun *r, const char *path, struct ExaCheckpoint *c, char *err, size_t errlen);
/* --import's weights, else the checkpoint's in ckpt_dir; refused (naming
 * flag) when there is neither. */
int exa_use_trained_weights(ExaRun *r, const char *flag, const char *ckpt_dir, char *err, size_t errlen);
/* --predict: the whole mode (no data set is loaded); the exit status. */
int exa_use_predict(ExaRun *r, const char *ckpt_dir);

/* ---- decompose.c: --decompose ----
 * Replaces p's decompose line by the strategy text names (.exa syntax, a
 * declared strategy expanded with its arguments, or a built-in method), or
 * refuses it with exac's message for the same line: -1, one line in err. */
int exa_decompose_choose(ExaProgram *p, const char *text, char *err, size_t errlen);

/* ---- methods/grid.c: --grid-plan P ----
 * Calibrates the cost model on r->world and prints (rank 0) the predicted
 * step of every grid of P ranks; the exit status. */
int exa_grid_plan(ExaRun *r, int64_t P);

/* ---- trainer.c ---- */
int exa_train(ExaRun *r);

/* ---- gradcheck.c ---- */
/* Compares the generated gradient with central differences of the generated
 * loss at the initial parameters; prints the worst relative error; returns 0
 * when it is below 1e-6, 1 otherwise. */
int exa_gradcheck(ExaRun *r);

#endif
