/* batch_groups.h - data parallelism inside a rank: a batch's rows cut into
 * groups, each group's whole loss_grad run as one task of the thread pool.
 *
 * A generated loss or loss_grad takes any batch size and returns per-row
 * losses and the mean gradient over its rows, so the rows of one call can
 * be cut into G groups, each run on its own thread with its own workspace
 * and gradient buffer (inputs, loss rows and output rows at the group's
 * first row), and the group gradients summed weighted by their shares
 * n_g / count: what data() does across ranks (core/run_model.c).  Each
 * thread then runs a whole forward and backward pass with no fork-join per
 * generated loop (parallel.h's per-loop splitting costs a wake-up per loop
 * and leaves the small GEMMs and the bias sums serial).
 *
 * Results do not depend on --threads: G comes from the row count and the
 * model alone (exa_batch_groups_plan), the groups' rows are fixed by G, and
 * their gradients are summed in one fixed order; at one thread the groups
 * run one after another.  A group's products run on its task's thread
 * (exa_parallel_threads() is 1 there, and OpenBLAS is held at one thread). */
#ifndef EXA_BATCH_GROUPS_H
#define EXA_BATCH_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "exa/abi.h"
#include "exa/parallel.h"

enum {
    EXA_BATCH_GROUPS_MAX = 64,      /* EXA_BATCH_GROUPS may ask for at most this many */
    EXA_BATCH_GROUPS_AUTO_MAX = 8,  /* the rule's most (a power of two) */
    EXA_BATCH_GROUP_MIN_ROWS = 32,  /* the rule's fewest rows in a group */
    /* the rule: a group has at least this many times the model's weights
     * in per-sample workspace reals (batch_groups.c says why) */
    EXA_BATCH_GROUP_WEIGHT_RATIO = 4
};

typedef struct ExaBatchGroups {
    int forced;          /* EXA_BATCH_GROUPS: -1 unset (the rule), else the groups asked for */
    const char *off;     /* why this run never groups, or NULL */
    int64_t min_rows;    /* the rule's fewest rows in a group for this model */
    int64_t nweights;
    int elem;
    void *grads;         /* groups 1 .. G-1's gradients (group 0 writes the caller's) */
    int64_t grads_cap;   /* bytes */
    void *work[EXA_MAX_THREADS]; /* a workspace per pool worker, kept across calls */
    int64_t work_cap[EXA_MAX_THREADS];
} ExaBatchGroups;

/* The rule's fewest rows per group for a model of nweights weights whose
 * loss_grad needs reals_per_sample workspace reals per row (>= 1). */
int64_t exa_batch_groups_min_rows(int64_t nweights, double reals_per_sample);

/* Groups for `count` rows: forced >= 0 gives min(forced, count) (0 and 1:
 * none); else the largest power of two up to EXA_BATCH_GROUPS_AUTO_MAX
 * whose groups all have at least min_rows rows (1: no grouping). */
int exa_batch_groups_plan(int64_t count, int64_t min_rows, int forced);

/* Reads EXA_BATCH_GROUPS and measures the model (grad_fn's workspace per
 * row); off (a reason, or NULL) turns grouping off for the run.  0, or -1
 * with one line in err when EXA_BATCH_GROUPS is not a number 0 .. 64. */
int exa_batch_groups_init(ExaBatchGroups *bg, const ExaFunction *grad_fn, int64_t nweights, int elem,
                          const char *off, char *err, size_t errlen);
void exa_batch_groups_free(ExaBatchGroups *bg);

/* How many groups a call of `count` rows is cut into (1: not cut). */
int exa_batch_groups_count(const ExaBatchGroups *bg, int64_t count);

/* One call of fn over `count` gathered rows. */
typedef struct ExaGroupCall {
    const ExaFunction *fn;        /* loss or loss_grad */
    const void *theta;
    int64_t count;
    int nin;
    void *const *in;              /* count rows of each input */
    const int64_t *in_row_bytes;  /* bytes of one row of in[k] */
    void *loss_rows;              /* count reals */
    void *out_rows;               /* count rows of out_row_bytes */
    int64_t out_row_bytes;
    void *grad;                   /* NULL: the loss alone */
} ExaGroupCall;

/* Runs c in `groups` groups on the pool (exa_batch_groups_count's) and
 * writes every row's loss and output and, when c->grad, the mean gradient
 * over the rows: the groups' gradients weighted by their shares, summed
 * pairwise over the group index in one order whatever the thread count. */
void exa_batch_groups_run(ExaBatchGroups *bg, const ExaGroupCall *c, int groups);

#endif
