/* batch_groups.c - a batch's rows in groups on the pool's threads
 * (exa/batch_groups.h).
 *
 * The rule (exa_batch_groups_min_rows, _plan).  A group costs what a
 * single call over all rows does not pay: its own pass over the weights
 * (every GEMM reads them again), its own gradient of n reals to write and
 * to sum, and a generated call's fixed cost per loop.  The work it saves
 * against is its rows' forward and backward pass, which the per-row
 * workspace of loss_grad measures (its activations and their adjoints,
 * workspace(B) grows by that per row).  So a group gets at least
 * EXA_BATCH_GROUP_WEIGHT_RATIO x n / (workspace reals per row) rows, and at
 * least EXA_BATCH_GROUP_MIN_ROWS.  GEMM-bound models fall out of it
 * (measured on bench/models): the 784-128-10 MLP (a) has 101770 weights and
 * 415 workspace reals a row (a group would need 981 rows: at its batch of
 * 100, none), 784-2048-2048-10 (d) 5.8M and 10271 (2269 rows: at 256,
 * none); their wide GEMMs already split well over the threads and a group
 * would read the weights again.  The PINNs (b: 8361 weights, 2733 reals a
 * row; i: 3721), the ODE net (c: 2373, 544), LeNet (e: 44426, 14428) and
 * the GRUs (f: 5034, 40960; g: 56970, 163584) get groups from
 * EXA_BATCH_GROUP_MIN_ROWS rows: 8 at their batches of 1000 and 5000, 2 at
 * 100.  That floor is 32 rows, not 16, for the recurrent models: a GRU call
 * runs ~30 operations per step over 128 steps whatever its rows, and f (h32,
 * batch 100) at one thread lost 10% in 4 groups of 25 rows and ~2% in 2 of
 * 50 (samples/s, 2 rounds at real-time priority), while at 2 threads the
 * two did alike (1.9x of one thread).  The groups are a power of two, so
 * that they share evenly over 2, 4 and 8 threads, and at most
 * EXA_BATCH_GROUPS_AUTO_MAX: each group more costs its weight pass and its
 * loop overheads at one thread too (the groups must not depend on
 * --threads, so one thread runs them all).
 *
 * Not grouped (exa_run_init gives the reason): batch statistics (batch_mean
 * is a mean over every row of the call: a group's would be its own rows'),
 * GPU runs (the device runs a whole call), EXA_BATCH_GROUPS=0.  Dropout
 * masks are an input row per sample, so they are cut like the data. */
#include "exa/batch_groups.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exa/run.h"

int64_t exa_batch_groups_min_rows(int64_t nweights, double reals_per_sample)
{
    if (!(reals_per_sample >= 1))
        reals_per_sample = 1;
    double s = ceil((double)EXA_BATCH_GROUP_WEIGHT_RATIO * (double)nweights / reals_per_sample);
    if (s < EXA_BATCH_GROUP_MIN_ROWS)
        s = EXA_BATCH_GROUP_MIN_ROWS;
    return s > 1e15 ? (int64_t)1e15 : (int64_t)s;
}

int exa_batch_groups_plan(int64_t count, int64_t min_rows, int forced)
{
    if (count < 2)
        return 1;
    if (forced >= 0)
        return forced < 1 ? 1 : (int64_t)forced > count ? (int)count : forced;
    int g = 1;
    while (2 * g <= EXA_BATCH_GROUPS_AUTO_MAX && count / (2 * g) >= min_rows)
        g *= 2;
    return g;
}

int exa_batch_groups_init(ExaBatchGroups *bg, const ExaFunction *grad_fn, int64_t nweights, int elem,
                          const char *off, char *err, size_t errlen)
{
    memset(bg, 0, sizeof *bg);
    bg->forced = -1;
    bg->off = off;
    bg->nweights = nweights;
    bg->elem = elem;
    const char *env = getenv("EXA_BATCH_GROUPS");
    if (env && *env) {
        char *end;
        errno = 0;
        long v = strtol(env, &end, 10);
        if (*env < '0' || *env > '9' || *end || errno || v > EXA_BATCH_GROUPS_MAX) {
            snprintf(err, errlen, "exa: EXA_BATCH_GROUPS: '%s' is not a number of batch groups "
                                  "from 0 to %d (0: none; unset: chosen from the model)",
                     env, EXA_BATCH_GROUPS_MAX);
            return -1;
        }
        bg->forced = (int)v;
    }
    /* workspace(B) is affine in B for the generated functions; the slope
     * over 1024 rows is its per-row part */
    enum { ROWS = 1024 };
    double per_row = (double)(grad_fn->workspace(ROWS) - grad_fn->workspace(0)) / ROWS / elem;
    bg->min_rows = exa_batch_groups_min_rows(nweights, per_row);
    return 0;
}

void exa_batch_groups_free(ExaBatchGroups *bg)
{
    free(bg->grads);
    for (int i = 0; i < EXA_MAX_THREADS; i++)
        free(bg->work[i]);
    memset(bg, 0, sizeof *bg);
}

int exa_batch_groups_count(const ExaBatchGroups *bg, int64_t count)
{
    return bg->off ? 1 : exa_batch_groups_plan(count, bg->min_rows, bg->forced);
}

/* Group g's first row and row count: count / groups each, the first
 * count % groups one more. */
static void group_rows(int64_t count, int groups, int64_t g, int64_t *lo, int64_t *rows)
{
    int64_t per = count / groups, extra = count % groups;
    *lo = g * per + (g < extra ? g : extra);
    *rows = per + (g < extra);
}

typedef struct GroupJob {
    ExaBatchGroups *bg;
    const ExaGroupCall *c;
    int groups;
} GroupJob;

static void *group_grad(const ExaBatchGroups *bg, const ExaGroupCall *c, int64_t g)
{
    return g == 0 ? c->grad : (char *)bg->grads + (size_t)(g - 1) * (size_t)bg->nweights * (size_t)bg->elem;
}

static void group_task(void *ctx, int64_t g, int worker)
{
    const GroupJob *j = ctx;
    const ExaGroupCall *c = j->c;
    ExaBatchGroups *bg = j->bg;
    int64_t lo, rows;
    group_rows(c->count, j->groups, g, &lo, &rows);
    const void *in[EXA_MAX_INPUTS];
    for (int k = 0; k < c->nin; k++)
        in[k] = (const char *)c->in[k] + lo * c->in_row_bytes[k];
    /* loss and loss_grad share their first slots (exa/functions.def) */
    void *outputs[3] = {
        [EXA_OUT_LOSS_GRAD_LOSS] = (char *)c->loss_rows + lo * bg->elem,
        [EXA_OUT_LOSS_GRAD_ACCURACY] = (char *)c->out_rows + lo * c->out_row_bytes,
        [EXA_OUT_LOSS_GRAD_GRAD] = c->grad ? group_grad(bg, c, g) : NULL,
    };
    /* only this worker's thread touches its workspace; its contents do not
     * carry over between calls, so groups may share it one after another */
    void *work = exa_run_workspace(&bg->work[worker], &bg->work_cap[worker], c->fn->workspace(rows));
    ExaArgs a = { .batch = rows, .theta = c->theta, .inputs = in, .outputs = outputs, .workspace = work };
    c->fn->run(&a);
}

typedef struct SumJob {
    const ExaBatchGroups *bg;
    const ExaGroupCall *c;
    int groups;
    double w[EXA_BATCH_GROUPS_MAX]; /* each group's share of the rows */
} SumJob;

/* grad[lo, lo+n) = sum over g of w_g * grad_g: each weighted (in double, as
 * data()'s sum over ranks does), then summed pairwise over the group index
 * (g += g + step for step 1, 2, 4, ...) in place.  Every element is summed
 * in that order whatever range it falls in, so the split of this loop over
 * threads changes nothing.  The weighting is done in the first step's pass
 * (each pair weighted and added at once; a group without a partner weighted
 * alone): one pass over the gradients instead of two at 2 groups (LeNet's
 * 44426 weights: this was 2% of its step at one thread). */
#define SUM_PART_BODY(T, W)                                                                        \
    for (int g = 0; g < j->groups; g += 2) {                                                       \
        T *restrict a = (T *)group_grad(j->bg, j->c, g) + lo;                                      \
        double wa = j->w[g];                                                                       \
        if (g + 1 < j->groups) {                                                                   \
            const T *restrict b = (const T *)group_grad(j->bg, j->c, g + 1) + lo;                  \
            double wb = j->w[g + 1];                                                               \
            for (int64_t i = 0; i < n; i++)                                                        \
                a[i] = W(wa, a[i]) + W(wb, b[i]);                                                  \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++)                                                        \
                a[i] = W(wa, a[i]);                                                                \
        }                                                                                          \
    }                                                                                              \
    for (int step = 2; step < j->groups; step *= 2)                                                \
        for (int g = 0; g + step < j->groups; g += 2 * step) {                                     \
            T *restrict a = (T *)group_grad(j->bg, j->c, g) + lo;                                  \
            const T *restrict b = (const T *)group_grad(j->bg, j->c, g + step) + lo;               \
            for (int64_t i = 0; i < n; i++)                                                        \
                a[i] += b[i];                                                                      \
        }
#define SUM_WEIGH_F32(w, v) ((float)((w) * (double)(v)))
#define SUM_WEIGH_FLOAT(w, v) ((float)(w) * (v))
#define SUM_WEIGH_F64(w, v) ((w) * (v))
static void sum_part(const void *ctx, int64_t lo, int64_t n)
{
    const SumJob *j = ctx;
    if (j->bg->elem == 4) {
        /* A weight that is a float (equal groups: 1/2, 1/4, ...) gives the
         * same float product in float: the double product of two floats is
         * exact (24 + 24 bits), so both round the same real once.  Float
         * vectors hold twice the lanes and need no conversions. */
        int exact = 1;
        for (int g = 0; g < j->groups; g++)
            exact &= (double)(float)j->w[g] == j->w[g];
        if (exact) {
            SUM_PART_BODY(float, SUM_WEIGH_FLOAT)
        } else {
            SUM_PART_BODY(float, SUM_WEIGH_F32)
        }
    } else {
        SUM_PART_BODY(double, SUM_WEIGH_F64)
    }
}
#undef SUM_PART_BODY
#undef SUM_WEIGH_F32
#undef SUM_WEIGH_FLOAT
#undef SUM_WEIGH_F64

void exa_batch_groups_run(ExaBatchGroups *bg, const ExaGroupCall *c, int groups)
{
    if (c->grad && groups > 1) { /* grown, never shrunk: no allocation per step */
        int64_t need = (int64_t)(groups - 1) * bg->nweights * bg->elem;
        if (need > bg->grads_cap) {
            void *p = realloc(bg->grads, (size_t)need);
            if (!p) {
                fputs("exa: out of memory for the batch groups' gradients\n", stderr);
                exit(1);
            }
            bg->grads = p, bg->grads_cap = need;
        }
    }
    /* exa_parallel_threads() is 1 inside a group's task, so its products
     * run on that task's thread (OpenBLAS is held at one: kernels.c) */
    GroupJob job = { bg, c, groups };
    exa_parallel_for(groups, group_task, &job);
    if (!c->grad || groups < 2)
        return;
    SumJob s = { .bg = bg, .c = c, .groups = groups };
    for (int g = 0; g < groups; g++) {
        int64_t lo, rows;
        group_rows(c->count, groups, g, &lo, &rows);
        s.w[g] = (double)rows / (double)c->count;
    }
    exa_parallel_range(bg->nweights, 2 * groups, sum_part, &s);
}
