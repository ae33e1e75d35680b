/* run_model.c - parameters, and the model's loss and gradient over rows of a
 * data set through the generated functions.
 *
 * Generated functions (descriptor kinds):
 *   loss       inputs: the training set's fields; outputs: 0 per-sample loss,
 *              1 model output per sample (for accuracy, when there is one)
 *   loss_grad  the same, and output 2: the gradient of the batch's mean loss
 * The gradient a call returns is the mean over the rows it was given; a
 * data-parallel sum weights each rank's by its share of the rows, so P ranks
 * give the gradient of one rank up to round-off.  That sum runs in buckets
 * started while loss_grad is still differentiating the earlier layers
 * (ExaArgs.ready, comm/grad_sync.c).  Within a rank the same holds for the
 * threads: run_rows cuts a call's rows into batch groups, each a whole
 * call on its own thread, summed by share (core/batch_groups.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exa/batch_groups.h"
#include "exa/gpu_train.h"
#include "exa/kernels.h"
#include "exa/parallel.h"
#include "exa/reduce.h"
#include "exa/rng.h"
#include "exa/run.h"

static void *grow(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        fputs("exa: out of memory\n", stderr);
        exit(1);
    }
    return q;
}

/* The next mini-batch's rows, gathered while the optimiser steps.  A
 * training step is: gather the batch's rows (~33 us of bench a's 440 us step
 * at one thread when they were floats: 100 random rows of 784 from a data
 * set far larger than L2), loss_grad, the optimiser's update.  At --threads
 * >= 2, once loss_grad is done, the rows the next step will most likely ask
 * for (the next positions of the epoch's order, the same count and shard)
 * are gathered by a pool worker as a background job (exa_parallel_async)
 * while this thread steps the optimiser and, when the next step asks for
 * exactly those samples, its inputs are swapped in instead of gathered.
 * Anything else (another batch, the epoch's end, an evaluation) gathers as
 * before: the rows are the same bytes either way, so nothing depends on
 * --threads.  The job reads the data set (never written while training) and
 * its own copy of the sample numbers, and writes only its own buffers.  Not
 * when loss_grad takes the update in its GEMMs (ExaRun.sgd_fused): nothing
 * is left to overlap. */
typedef struct ExaPrefetch {
    ExaAsync job;
    const ExaRun *r;
    void *in[EXA_MAX_INPUTS]; /* the data's fields, as r->in (not the dropout masks) */
    int64_t cap;              /* rows each of in holds */
    int64_t *samples;         /* the sample numbers of its rows */
    int64_t count, samples_cap;
} ExaPrefetch;

const ExaFunction *exa_run_function(const ExaRun *r, ExaFunctionKind kind)
{
    const ExaFunctionInfo *f = exa_program_function_of(r->prog, kind);
    return f ? &r->fns[f->index] : NULL;
}

int exa_run_check_shards(const ExaRun *r, int shards, const char *who, char *err, size_t errlen)
{
    if (shards <= 1)
        return 0;
    if (r->train.n < shards) { /* the batch is cut to the data set's size: --batch cannot help */
        snprintf(err, errlen, "exa: %d %ss but data '%s' has %lld samples%s: every %s needs at "
                 "least one (%s %d or more, or at most %lld %ss)", shards, who,
                 r->train_info->name, (long long)r->train.n, r->opt.limit > 0 ? " (--limit)" : "", who,
                 r->opt.limit > 0 ? "use --limit" : "samples:", shards, (long long)r->train.n, who);
        return -1;
    }
    if (r->batch < shards) {
        snprintf(err, errlen, "exa: %d %ss but a mini-batch of %lld samples: every %s needs at "
                 "least one (use --batch %d or more)", shards, who, (long long)r->batch, who, shards);
        return -1;
    }
    return 0;
}

int exa_run_init(ExaRun *r, char *err, size_t errlen)
{
    r->elem = r->prog->precision;
    r->n = r->prog->nweights;
    r->lr_scale = 1; /* no schedule until exa_train sets one */
    r->theta = calloc(r->n ? r->n : 1, r->elem);
    r->grad = calloc(r->n ? r->n : 1, r->elem);
    r->loss_fn = exa_run_function(r, EXA_FN_LOSS);
    r->grad_fn = exa_run_function(r, EXA_FN_LOSS_GRAD);
    if (!r->theta || !r->grad) {
        snprintf(err, errlen, "exa: out of memory for %lld parameters", (long long)r->n);
        return -1;
    }
    if (!r->loss_fn || !r->grad_fn) {
        snprintf(err, errlen, "exa: the executable has no loss functions: was it built by a "
                              "matching exac?");
        return -1;
    }
    for (int i = 0; i < r->prog->nbatchstats; i++)
        r->stat_reals += r->prog->batchstats[i].size;
    if (r->stat_reals) {
        r->stat_keep = calloc((size_t)r->stat_reals, sizeof *r->stat_keep);
        r->stat_batch = calloc((size_t)r->stat_reals, sizeof *r->stat_batch);
        r->stat_grad = calloc((size_t)(r->n ? r->n : 1), (size_t)r->elem);
        if (!r->stat_keep || !r->stat_batch || !r->stat_grad) {
            snprintf(err, errlen, "exa: out of memory for the batch statistics");
            return -1;
        }
    }
    /* batch groups: not where a call's rows are not independent of each
     * other (batch statistics: batch_mean is a mean over every row of the
     * call, a group would see its own rows' only), nor on a GPU (the device
     * runs a whole call; its executor is not reentrant) */
    const char *no_groups = r->gpu ? "--device gpu" : r->stat_reals ? "batch statistics" : NULL;
    if (exa_batch_groups_init(&r->groups, r->grad_fn, r->n, r->elem, no_groups, err, errlen) != 0)
        return -1;
    if (exa_k_gemm_check_env(err, errlen) != 0) /* a misspelled EXA_GEMM, refused before any step */
        return -1;
    r->nin = r->train_info->nfields + (r->prog->dropout_size > 0); /* the mask input last */
    if (r->nin > EXA_MAX_INPUTS) {
        snprintf(err, errlen, "exa: data '%s' has %d parts; at most %d are supported",
                 r->train_info->name, r->nin, EXA_MAX_INPUTS);
        return -1;
    }
    r->grad_bucket = EXA_GRAD_BUCKET;
    const char *bucket = getenv("EXA_GRAD_BUCKET");
    if (bucket && *bucket) {
        char *end;
        errno = 0;
        long long b = strtoll(bucket, &end, 10);
        if (*end || errno || b < 0) {
            snprintf(err, errlen, "exa: EXA_GRAD_BUCKET: '%s' is not a number of gradient elements "
                                  "(0: one sum after the backward pass)", bucket);
            return -1;
        }
        r->grad_bucket = b;
    }
    const char *fuse = getenv("EXA_SGD_FUSE");
    if (fuse && *fuse && strcmp(fuse, "0") && strcmp(fuse, "1")) {
        snprintf(err, errlen, "exa: EXA_SGD_FUSE: '%s' is not 0 (SGD steps after the gradient, over every "
                              "weight) or 1 (in the weight gradients' GEMMs where it can)", fuse);
        return -1;
    }
    r->sgd_fuse = !fuse || strcmp(fuse, "0") != 0; /* unset, empty or 1 */
    const ExaFunctionInfo *lf = exa_program_function_of(r->prog, EXA_FN_LOSS);
    r->out_size = 0;
    if (r->prog->accuracy_output >= 0 && lf->noutputs > EXA_OUT_LOSS_ACCURACY)
        r->out_size = r->train.classes;
    return 0;
}

void exa_run_free(ExaRun *r)
{
    free(r->theta);
    free(r->grad);
    free(r->stat_keep), free(r->stat_batch), free(r->stat_grad);
    free(r->order);
    for (int i = 0; i < EXA_MAX_INPUTS; i++)
        free(r->in[i]);
    free(r->loss_rows);
    free(r->out_rows);
    free(r->work);
    if (r->prefetch) {
        exa_parallel_wait(&r->prefetch->job);
        for (int i = 0; i < EXA_MAX_INPUTS; i++)
            free(r->prefetch->in[i]);
        free(r->prefetch->samples);
        free(r->prefetch);
    }
    exa_grad_sync_free(&r->sync);
    exa_batch_groups_free(&r->groups);
    exa_data_free(&r->train);
    if (r->have_valid)
        exa_data_free(&r->valid);
}

/* Glorot (Xavier) uniform, He (Kaiming) normal, or the declared constant or
 * distribution; each tensor has its own random stream, so adding a parameter
 * does not change the others' initial values. */
void exa_run_init_params(ExaRun *r)
{
    for (int i = 0; i < r->prog->nparams; i++) {
        const ExaParamInfo *q = &r->prog->params[i];
        ExaRng rng;
        exa_rng_seed_stream(&rng, (uint64_t)r->seed, (uint64_t)i + 1);
        double fan_in = q->fan_in > 0 ? (double)q->fan_in : 1;
        double fan_out = q->fan_out > 0 ? (double)q->fan_out : 1;
        double glorot = sqrt(6.0 / (fan_in + fan_out)), he = sqrt(2.0 / fan_in);
        for (int64_t k = 0; k < q->size; k++) {
            double v = 0;
            switch (q->init) {
            case EXA_INIT_GLOROT: v = exa_rng_range(&rng, -glorot, glorot); break;
            case EXA_INIT_HE: v = he * exa_rng_normal(&rng); break;
            case EXA_INIT_ZEROS: v = 0; break;
            case EXA_INIT_ONES: v = 1; break;
            case EXA_INIT_NORMAL: v = q->init_a * exa_rng_normal(&rng); break;
            case EXA_INIT_UNIFORM: v = exa_rng_range(&rng, q->init_a, q->init_b); break;
            }
            exa_set(r, r->theta, q->offset + k, v);
        }
    }
    /* one source of truth even where libm differs between nodes */
    exa_comm_bcast(&r->world, r->theta, (size_t)r->n * r->elem, 0);
}

/* Bytes of one row of each input of the generated functions: the data's
 * fields (a label is an int32), then the dropout masks; how many inputs. */
static int row_bytes(const ExaRun *r, const ExaDataset *d, const ExaDataInfo *set, int64_t *bytes)
{
    for (int i = 0, reals = 0; i < set->nfields; i++) {
        const ExaFieldInfo *f = &set->fields[i];
        bytes[i] = f->classes ? (int64_t)sizeof(int32_t) : (reals++ == 0 ? d->features : d->targets) * r->elem;
    }
    if (r->prog->dropout_size > 0)
        bytes[set->nfields] = r->prog->dropout_size * r->elem;
    return set->nfields + (r->prog->dropout_size > 0);
}

/* Room for `rows` samples in the input and output buffers, and when fn is
 * not NULL fn's workspace for them (batch groups have their own). */
static void reserve(ExaRun *r, const ExaDataset *d, const ExaDataInfo *set, int64_t rows,
                    const ExaFunction *fn)
{
    if (rows > r->rows_cap) {
        int64_t bytes[EXA_MAX_INPUTS];
        int nin = row_bytes(r, d, set, bytes);
        for (int i = 0; i < nin; i++)
            r->in[i] = grow(r->in[i], (size_t)(rows * bytes[i]));
        r->loss_rows = grow(r->loss_rows, (size_t)(rows * r->elem));
        r->out_rows = grow(r->out_rows, (size_t)(rows * (r->out_size ? r->out_size : 1) * r->elem));
        r->rows_cap = rows;
    }
    if (fn)
        exa_run_workspace(&r->work, &r->work_cap, fn->workspace(rows));
}

void *exa_run_workspace(void **work, int64_t *cap, int64_t need)
{
    if (need > *cap) {
        free(*work);
        *work = aligned_alloc(64, (size_t)((need + 63) / 64 * 64));
        if (!*work) {
            fputs("exa: out of memory for the workspace\n", stderr);
            exit(1);
        }
        *cap = need;
    }
    return *work;
}

void exa_run_gather(const ExaRun *r, const ExaDataset *d, const ExaDataInfo *set, const int64_t *order,
                    int64_t begin, int64_t count, void *const *in)
{
    void *x = NULL, *y = NULL;
    int32_t *label = NULL;
    for (int i = 0, reals = 0; i < set->nfields; i++) {
        if (set->fields[i].classes)
            label = in[i];
        else if (reals++ == 0)
            x = in[i];
        else
            y = in[i];
    }
    if (r->elem == 4)
        exa_data_gather_f32(d, order, begin, count, x, label, y);
    else
        exa_data_gather_f64(d, order, begin, count, x, label, y);
}

static void prefetch_job(void *ctx)
{
    ExaPrefetch *p = ctx;
    exa_run_gather(p->r, &p->r->train, p->r->train_info, p->samples, 0, p->count, p->in);
}

/* Starts gathering the rows after [begin, begin + count) of the epoch's
 * order (their shard, as exa_run_loss_reduced cuts it). */
static void prefetch_next(ExaRun *r, const ExaComm *comm, int64_t begin, int64_t count, ExaShard mode)
{
    int64_t next = begin + count, n = r->train.n;
    if (r->gpu || exa_parallel_threads() < 2 || next >= n)
        return;
    int64_t nc = count < n - next ? count : n - next, lb = 0, ln = nc;
    if (mode != EXA_SHARD_ALL)
        exa_data_shard(nc, comm->rank, comm->size, &lb, &ln);
    if (ln <= 0)
        return;
    const int64_t *want = r->order + next + lb;
    ExaPrefetch *p = r->prefetch;
    if (!p && !(p = r->prefetch = calloc(1, sizeof *p)))
        return; /* no memory: the next step gathers its rows itself */
    if (p->count == ln && memcmp(p->samples, want, (size_t)ln * sizeof *want) == 0)
        return; /* started already (a method that evaluates one batch again) */
    exa_parallel_wait(&p->job); /* a job for other rows: its buffers are about to change */
    int64_t cap = ln > r->rows_cap ? ln : r->rows_cap; /* swapped into r->in: as large */
    if (cap > p->cap) {
        int64_t bytes[EXA_MAX_INPUTS];
        row_bytes(r, &r->train, r->train_info, bytes);
        for (int i = 0; i < r->train_info->nfields; i++)
            p->in[i] = grow(p->in[i], (size_t)(cap * bytes[i]));
        p->cap = cap;
    }
    if (ln > p->samples_cap)
        p->samples = grow(p->samples, (size_t)ln * sizeof *p->samples), p->samples_cap = ln;
    memcpy(p->samples, want, (size_t)ln * sizeof *want);
    p->count = ln, p->r = r;
    exa_parallel_async(&p->job, prefetch_job, p);
}

/* Whether the `ln` rows order[0 .. ln) were gathered by prefetch_next: then
 * they are r->in's data fields now (its buffers swapped with the job's). */
static int take_prefetched(ExaRun *r, const int64_t *order, int64_t ln)
{
    ExaPrefetch *p = r->prefetch;
    if (!p || p->count == 0)
        return 0;
    exa_parallel_wait(&p->job);
    if (p->count != ln || p->cap < r->rows_cap || memcmp(p->samples, order, (size_t)ln * sizeof *order) != 0)
        return 0; /* kept: a method may still ask for those rows next */
    for (int i = 0; i < r->train_info->nfields; i++) {
        void *t = r->in[i];
        r->in[i] = p->in[i], p->in[i] = t;
    }
    p->cap = r->rows_cap, p->count = 0;
    return 1;
}

void exa_run_dropout_masks(const ExaRun *r, const int64_t *samples, int64_t count, int training, void *mask)
{
    const ExaProgram *p = r->prog;
    int64_t d = p->dropout_size;
    for (int64_t i = 0; i < count; i++) {
        /* the stream of (seed, step, sample): the same mask for a sample
         * whichever rank computes it, a new one at every optimiser step */
        ExaRng rng;
        if (training)
            exa_rng_seed_stream(&rng, (uint64_t)r->seed ^ 0x6a09e667f3bcc909ull * ((uint64_t)r->step + 1),
                                (uint64_t)samples[i]);
        for (int s = 0; s < p->ndropout; s++) {
            const ExaDropoutSite *site = &p->dropout[s];
            double keep = 1 / (1 - site->p);
            for (int64_t k = 0; k < site->size; k++) {
                double m = !training ? 1 : exa_rng_uniform(&rng) < site->p ? 0 : keep;
                exa_set(r, mask, i * d + site->offset + k, m);
            }
        }
    }
}

void exa_run_call(ExaRun *r, const ExaFunction *fn, const ExaArgs *a)
{
    if (r->gpu)
        exa_gpu_run_call(r->gpu, fn, a);
    else
        fn->run(a);
}

/* Runs fn on `count` rows gathered from d (fields as set describes them);
 * returns the sum of their losses.  sync, when not NULL, receives the
 * gradients as they become final.  Every loss and gradient over rows, of
 * every method, comes through here: in batch groups on the pool's threads
 * where the model and the row count call for them (core/batch_groups.c),
 * else in one call whose loops split their rows over the threads.  The
 * groups are chosen for plan_rows (<= count) rows: with sync, the same on
 * every rank, so that all of them group or none does and all report the
 * same gradient ranges to grad_sync (grouped: none, finish sums it whole). */
static double run_rows(ExaRun *r, const ExaDataset *d, const ExaDataInfo *set, const ExaFunction *fn,
                       const void *theta, void *grad, int64_t count, int64_t plan_rows, ExaGradSync *sync)
{
    int groups = exa_batch_groups_count(&r->groups, plan_rows);
    if (groups > 1) {
        /* no callbacks: the groups' gradients are final only once summed,
         * so exa_grad_sync_finish sums the whole gradient over the ranks */
        int64_t bytes[EXA_MAX_INPUTS];
        ExaGroupCall c = {
            .fn = fn, .theta = theta, .count = count, .in = r->in, .in_row_bytes = bytes,
            .loss_rows = r->loss_rows, .out_rows = r->out_rows,
            .out_row_bytes = (r->out_size ? r->out_size : 1) * r->elem, .grad = grad,
        };
        c.nin = row_bytes(r, d, set, bytes);
        exa_batch_groups_run(&r->groups, &c, groups);
    } else {
        exa_run_workspace(&r->work, &r->work_cap, fn->workspace(count));
        /* loss and loss_grad share their first slots (exa/functions.def) */
        void *outputs[3] = { [EXA_OUT_LOSS_GRAD_LOSS] = r->loss_rows,
                             [EXA_OUT_LOSS_GRAD_ACCURACY] = r->out_rows, [EXA_OUT_LOSS_GRAD_GRAD] = grad };
        /* the optimiser's step in the GEMMs, where it armed one for these
         * parameters (not grouped: a group's gradient is final only once
         * summed) */
        ExaSgdFused *sgd = grad && !sync && r->sgd_fused && r->sgd_fused->theta == theta ? r->sgd_fused : NULL;
        ExaArgs args = {
            .batch = count, .theta = theta, .inputs = (const void *const *)r->in,
            .outputs = outputs, .workspace = r->work,
            .ready = sync ? exa_grad_sync_ready : NULL, .ready_ctx = sync,
            .sgd = sgd,
        };
        exa_run_call(r, fn, &args);
    }
    double sum = 0;
    for (int64_t i = 0; i < count; i++)
        sum += exa_get(r, r->loss_rows, i);
    return sum;
}

void exa_run_rows(ExaRun *r, const ExaFunction *fn, const void *theta, void **outputs,
                  int64_t begin, int64_t count)
{
    reserve(r, &r->train, r->train_info, count, fn);
    exa_run_gather(r, &r->train, r->train_info, r->order, begin, count, r->in);
    if (r->prog->dropout_size > 0) /* the masks of this step, as its training pass drew them */
        exa_run_dropout_masks(r, r->order + begin, count, 1, r->in[r->train_info->nfields]);
    ExaArgs args = {
        .batch = count, .theta = theta, .inputs = (const void *const *)r->in,
        .outputs = outputs, .workspace = r->work,
    };
    exa_run_call(r, fn, &args);
}

double exa_run_loss(ExaRun *r, const void *theta, void *grad, int64_t begin, int64_t count,
                    ExaShard mode)
{
    return exa_run_loss_on(r, &r->world, theta, grad, begin, count, mode);
}

/* After a loss_grad call: the batch statistics its gradient slots carry
 * kept if the step wants them, and the slots cleared (not a gradient). */
static void take_stats(ExaRun *r, void *grad, int synced)
{
    const ExaProgram *p = r->prog;
    int64_t at = 0;
    for (int i = 0; i < p->nbatchstats; i++) {
        const ExaBatchStat *b = &p->batchstats[i];
        for (int64_t k = 0; k < b->size; k++, at++) {
            if (r->stat_capture)
                r->stat_batch[at] = exa_get(r, grad, b->offset + k);
            exa_set(r, grad, b->offset + k, 0);
        }
    }
    if (r->stat_capture)
        r->stat_capture = 0, r->stat_captured = 1, r->stat_synced = synced;
}

void exa_run_stats_begin(ExaRun *r)
{
    const ExaProgram *p = r->prog;
    for (int i = 0, at = 0; i < p->nbatchstats; i++)
        for (int64_t k = 0; k < p->batchstats[i].size; k++)
            r->stat_keep[at++] = exa_get(r, r->theta, p->batchstats[i].offset + k);
    r->stat_capture = r->stat_reals > 0, r->stat_captured = 0;
}

void exa_run_stats_end(ExaRun *r)
{
    const ExaProgram *p = r->prog;
    if (!r->stat_reals)
        return;
    /* statistics of a rank's own rows (local steps): every rank must keep
     * the same parameters, so they are averaged over the ranks */
    if (r->stat_captured && !r->stat_synced)
        exa_comm_allreduce_mean(&r->world, r->stat_batch, (size_t)r->stat_reals, EXA_REAL_F64);
    for (int i = 0, at = 0; i < p->nbatchstats; i++) {
        const ExaBatchStat *b = &p->batchstats[i];
        for (int64_t k = 0; k < b->size; k++, at++) {
            double v = r->stat_keep[at];
            if (r->stat_captured)
                v = (1 - b->momentum) * v + b->momentum * r->stat_batch[at];
            exa_set(r, r->theta, b->offset + k, v);
        }
    }
    r->stat_capture = r->stat_captured = 0;
}

double exa_run_loss_on(ExaRun *r, const ExaComm *comm, const void *theta, void *grad, int64_t begin,
                       int64_t count, ExaShard mode)
{
    return exa_run_loss_reduced(r, comm, NULL, theta, grad, begin, count, mode);
}

double exa_run_loss_reduced(ExaRun *r, const ExaComm *comm, ExaReducer *red, const void *theta, void *grad,
                            int64_t begin, int64_t count, ExaShard mode)
{
    if (red)
        comm = exa_reducer_comm(red);
    int64_t lb = 0, ln = count;
    if (mode != EXA_SHARD_ALL)
        exa_data_shard(count, comm->rank, comm->size, &lb, &ln);
    /* batch_mean: a training evaluation uses the batch's statistics, which
     * only loss_grad computes (loss is the evaluation form), summed over the
     * ranks the rows are split over; every one of them takes part in the
     * sums, even without rows of its own */
    int stats = r->stat_reals > 0, split = mode == EXA_SHARD_SPLIT && comm->size > 1;
    void *g = grad ? grad : stats ? r->stat_grad : NULL;
    const ExaFunction *fn = g ? r->grad_fn : r->loss_fn;
    double sum = 0;
    /* the sum in buckets during the backward pass needs every rank to run
     * loss_grad (its callbacks, the same on every rank, start the
     * collectives): all have rows when count >= size.  Not with batch
     * statistics: their sums run inside loss_grad too and weight each rank's
     * share differently (batch_sync.c); the blocking sum below is exact there. */
    ExaGradSync *sync = NULL;
    int nccl = red && strcmp(exa_reducer_kind(red), "NCCL") == 0; /* sums the whole gradient at once */
    if (split && grad && !stats && !nccl && r->grad_bucket > 0 && count >= comm->size) {
        sync = &r->sync;
        exa_grad_sync_begin(sync, comm, grad, r->n, (ExaReal)r->elem, (double)ln / (double)count,
                            r->grad_bucket);
    }
    if (g && ln == 0 && !(stats && split)) /* else exa_loss_grad writes every parameter's gradient */
        memset(g, 0, (size_t)r->n * r->elem);
    if (ln > 0 || (stats && split)) {
        const ExaComm *before = exa_batch_sync(split ? comm : NULL);
        *(grad ? &r->grad_rows : &r->loss_only_rows) += ln;
        reserve(r, &r->train, r->train_info, ln, NULL); /* run_rows: the workspace */
        if (!take_prefetched(r, r->order + begin + lb, ln))
            exa_run_gather(r, &r->train, r->train_info, r->order, begin + lb, ln, r->in);
        if (r->prog->dropout_size > 0)
            exa_run_dropout_masks(r, r->order + begin + lb, ln, 1, r->in[r->train_info->nfields]);
        /* split: the groups for the smallest share, the same on every rank */
        int64_t plan_rows = split ? count / comm->size : ln;
        sum = run_rows(r, &r->train, r->train_info, fn, theta, g, ln, plan_rows, sync);
        exa_batch_sync(before);
        if (stats)
            take_stats(r, g, split ? comm->size == r->world.size : r->world.size == 1);
    }
    /* a training step: its update comes next, unless loss_grad took it in
     * its GEMMs (r->sgd_fused, armed for this call), where the biases' step
     * is all that is left and this thread would wait for the job: (a) at two
     * threads spent 4% of its main thread's time there; the next step's
     * gather splits over the threads instead */
    if (grad && !r->sgd_fused)
        prefetch_next(r, comm, begin, count, mode);
    if (sync)
        return exa_grad_sync_finish(sync, sum) / (double)count;
    if (mode == EXA_SHARD_LOCAL)
        return ln > 0 ? sum / (double)ln : 0;
    if (mode == EXA_SHARD_SPLIT && comm->size > 1) {
        if (grad) { /* weight each rank's mean by its share of the rows */
            double w = (double)ln / (double)count;
            for (int64_t i = 0; i < r->n; i++)
                exa_set(r, grad, i, w * exa_get(r, grad, i));
            if (red)
                exa_reducer_sum(red, grad, (size_t)r->n, (ExaReal)r->elem, &sum); /* the loss with it */
            else
                exa_comm_allreduce_sum(comm, grad, (size_t)r->n, (ExaReal)r->elem);
        }
        if (!grad || !red)
            sum = red ? exa_reducer_sum_double(red, sum) : exa_comm_sum_double(comm, sum);
    }
    return sum / (double)count;
}

/* The index of the largest of n reals. */
static int64_t argmax(const ExaRun *r, const void *v, int64_t at, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (exa_get(r, v, at + i) > exa_get(r, v, at + best))
            best = i;
    return best;
}

void exa_run_evaluate(ExaRun *r, const ExaDataset *d, double *loss, double *accuracy)
{
    enum { CHUNK = 1000 };
    int64_t lb, ln;
    exa_data_shard(d->n, r->world.rank, r->world.size, &lb, &ln);
    int64_t *order = malloc((size_t)(ln > 0 ? ln : 1) * sizeof *order);
    for (int64_t i = 0; i < ln; i++)
        order[i] = lb + i;
    /* the validation set has the training set's parts: same functions */
    const ExaDataInfo *set = d == &r->train ? r->train_info : r->valid_info;
    double sums[2] = { 0, 0 }; /* loss, correct */
    for (int64_t at = 0; at < ln; at += CHUNK) {
        int64_t count = ln - at < CHUNK ? ln - at : CHUNK;
        reserve(r, d, set, count, NULL); /* run_rows: the workspace */
        exa_run_gather(r, d, set, order, at, count, r->in);
        if (r->prog->dropout_size > 0) /* evaluation: every mask 1 */
            exa_run_dropout_masks(r, order + at, count, 0, r->in[set->nfields]);
        sums[0] += run_rows(r, d, set, r->loss_fn, r->theta, NULL, count, count, NULL);
        if (r->out_size > 0 && d->label)
            for (int64_t i = 0; i < count; i++)
                sums[1] += argmax(r, r->out_rows, i * r->out_size, r->out_size)
                           == d->label[order[at + i]];
    }
    free(order);
    exa_comm_allreduce_sum(&r->world, sums, 2, EXA_REAL_F64);
    *loss = d->n ? sums[0] / (double)d->n : NAN;
    *accuracy = r->out_size > 0 && d->n ? sums[1] / (double)d->n : NAN;
}
