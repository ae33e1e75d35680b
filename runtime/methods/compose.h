/* compose.h - the state of the four-primitive method (compose.c) shared
 * with its parts: the blocks of a parameter split (compose_blocks.c) and
 * the G-ASPIN global step (compose_secant.c). */
#ifndef EXA_METHODS_COMPOSE_H
#define EXA_METHODS_COMPOSE_H

#include "multilevel.h"
#include "solver.h"

typedef enum Split { SPLIT_DATA, SPLIT_PARAMS } Split;
typedef enum Combine {
#define EXA_COMBINE(word, id, fits) COMBINE_##id,
#include "exa/methods.def"
} Combine;
typedef enum Weight {
#define EXA_WEIGHT(word, id) WEIGHT_##id,
#include "exa/methods.def"
} Weight;

/* global secant: L-BFGS pairs of F(x) = -(combined correction) */
typedef struct Secant {
    int m;                      /* pairs kept */
    double *s, *y;              /* m x n, ring */
    double *xprev, *Fprev, *F, *d;
    int64_t counters[3];        /* stored, head, whether xprev/Fprev are set */
} Secant;

typedef struct Compose Compose;
struct Compose {
    ExaMethod base;
    Split split;
    Combine combine;
    Weight weight;             /* combine weighted(by: ...) */
    int every;                 /* mini-batches per round (combine ...(every: k)) */
    Optimizer gopt, lopt;      /* global and local solvers */
    int secant;                /* global secant(...): G-ASPIN's outer step */
    Secant sec;
    double delta;              /* global trust radius (SAPTS, APTS) */
    /* the blocks: this rank's group of per_block ranks is block `group` of
     * `ngroups`; a nested local strategy runs on group_comm */
    int per_block, group, ngroups;
    ExaComm group_comm;
    int have_group_comm;
    Compose *inner;            /* local: a declared strategy (nesting), else NULL */
    char *mask;                /* SPLIT_PARAMS: 1 for the weights of this rank's block */
    char *own;                 /* SPLIT_PARAMS: 1 for those it owns (restricted) */
    double *share;             /* SPLIT_PARAMS: 1 / blocks holding each weight */
    double size_weight;        /* SPLIT_PARAMS: this block's share of all blocks' weights */
    int64_t count_now;         /* the current mini-batch's size (weights by size) */
    double round_pred;         /* local reductions summed over a round */
    double *x, *g, *x0, *g0, *shift, *y, *c; /* n doubles each */
    void *stage_theta, *stage_grad;
    int round;                 /* rounds over several mini-batches: the ones taken */
    /* `coarse SOLVER additive|multiplicative;` (two-level Schwarz): level 1
     * of the repeat block's hierarchy, its solver reset every step */
    int coarse;                /* 0 none, 1 additive, 2 multiplicative */
    MlCommon *ml;
    Optimizer copt;
    double coarse_decrease, coarse_alpha, coarse_norm; /* the last step's, for the log */
    /* in a grid (grid.c): as its rows, the columns that share every
     * evaluation's samples (across); as its columns, the rows method that
     * evaluates this rank's samples on its column (rows) */
    const ExaComm *across;
    ExaMethod *rows;
};

/* compose_blocks.c: the blocks of split params `into` (ranks, ranks(overlap:
 * k, per_block: m) or a list of lists of stage or layer indices); sets
 * mask, own, share and size_weight.  0, or -1 with the message in err. */
int compose_blocks(Compose *s, const ExaValue *into, int by_layer, char *err, size_t errlen);

/* compose_secant.c: the G-ASPIN step.  x is the iterate with loss f and
 * gradient g on the mini-batch (global), c = -F(x) the combined correction;
 * x moves along the L-BFGS direction of F, backtracked on the loss. */
int compose_secant_init(Compose *s, int history);
void compose_secant_step(Compose *s, Objective *global, double f);
void compose_secant_save(Compose *s, ExaStateList *l);
void compose_secant_load(Compose *s);
void compose_secant_free(Compose *s);

/* compose.c: a strategy as a grid's rows or columns (grid.c).  share:
 * every loss of m (and of its nested strategy) is over its share of the
 * samples, a column's, summed over across (the grid's row communicator).
 * evaluate_by: this rank's samples of every loss of m are evaluated by the
 * method rows (MGRIT or neurons() on the rank's column) instead of the
 * generated loss.  -1 when m is no compose method. */
int compose_share_samples(ExaMethod *m, const ExaComm *across);
int compose_evaluate_by(ExaMethod *m, ExaMethod *rows);

#endif
