/* data.c - data sets in memory: generators, shape checks, epoch orders,
 * mini-batches and shards (the loaders are in data_load.c).
 *
 * Everything random here takes a seed and builds its own ExaRng, so that a
 * data set or an epoch's order is a pure function of its arguments: a run
 * resumed from a checkpoint at epoch e sees the same batches as the run that
 * wrote it, and every rank computes the same order without communicating. */
#include "exa/error.h"
#include "exa/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/parallel.h"
#include "exa/rng.h"
#include "exa/vec_clones.h"

enum { PEAKS_GRID = 256, PEAKS_CLASSES = 5 };

void exa_data_free(ExaDataset *d)
{
    free(d->x);
    free(d->bytes);
    free(d->label);
    free(d->y);
    memset(d, 0, sizeof *d);
}

/* Allocates x (and label for classes > 0) for n samples of shape [2]. */
static int alloc_points(ExaDataset *d, int64_t n, int classes, const char *what, char *err,
                        size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (n <= 0)
        return exa_fail(err, errlen, "exa: %s: samples must be positive, not %lld", what, (long long)n);
    d->n = n;
    d->features = 2;
    d->shape.rank = 1;
    d->shape.dim[0] = 2;
    d->x = malloc((size_t)n * 2 * sizeof *d->x);
    if (classes > 0) {
        d->target = EXA_TARGET_CLASS;
        d->classes = classes;
        d->label = malloc((size_t)n * sizeof *d->label);
    }
    if (!d->x || (classes > 0 && !d->label)) {
        exa_data_free(d);
        return exa_fail(err, errlen, "exa: %s: out of memory for %lld samples", what, (long long)n);
    }
    return 0;
}

double exa_peaks(double x, double y)
{
    return 3 * (1 - x) * (1 - x) * exp(-x * x - (y + 1) * (y + 1))
           - 10 * (x / 5 - x * x * x - pow(y, 5)) * exp(-x * x - y * y)
           - exp(-(x + 1) * (x + 1) - y * y) / 3;
}

static double grid_coord(int i)
{
    return -3.0 + 6.0 * i / (PEAKS_GRID - 1);
}

/* Labels every grid point (index iy * 256 + ix) by its value band. */
static int peaks_labels(int *label)
{
    enum { n = PEAKS_GRID * PEAKS_GRID };
    double *f = malloc(sizeof(double) * n);
    if (!f)
        return -1;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n; k++) {
        f[k] = exa_peaks(grid_coord(k % PEAKS_GRID), grid_coord(k / PEAKS_GRID));
        lo = fmin(lo, f[k]);
        hi = fmax(hi, f[k]);
    }
    for (int k = 0; k < n; k++) {
        int c = (int)floor(PEAKS_CLASSES * (f[k] - lo) / (hi - lo));
        label[k] = c < PEAKS_CLASSES - 1 ? c : PEAKS_CLASSES - 1;
    }
    free(f);
    return 0;
}

int exa_data_peaks(ExaDataset *d, int64_t samples, int64_t skip, uint64_t seed, char *err,
                   size_t errlen)
{
    enum { N = PEAKS_GRID * PEAKS_GRID };
    if (alloc_points(d, samples, PEAKS_CLASSES, "peaks", err, errlen))
        return -1;
    int *label = malloc(sizeof(int) * N);
    int64_t *members = malloc(sizeof(int64_t) * N);
    if (!label || !members || peaks_labels(label)) {
        free(label);
        free(members);
        exa_data_free(d);
        return exa_fail(err, errlen, "exa: peaks: out of memory");
    }
    ExaRng rng;
    exa_rng_seed(&rng, seed);
    int64_t out = 0;
    for (int c = 0; c < PEAKS_CLASSES; c++) {
        /* the grid points of class c in a seeded random order; take a run
         * of them after the first `skip` */
        int64_t m = 0;
        for (int64_t k = 0; k < N; k++)
            if (label[k] == c)
                members[m++] = k;
        exa_rng_shuffle(&rng, members, m);
        int64_t want = samples / PEAKS_CLASSES + (c < samples % PEAKS_CLASSES);
        if (skip < 0 || skip + want > m) {
            free(label);
            free(members);
            exa_data_free(d);
            return exa_fail(err, errlen,
                        "exa: peaks: class %d has %lld grid points, fewer than the %lld asked for "
                        "(skip %lld + %lld samples)",
                        c, (long long)m, (long long)(skip + want), (long long)skip, (long long)want);
        }
        for (int64_t i = 0; i < want; i++, out++) {
            int64_t k = members[skip + i];
            d->x[2 * out] = (float)grid_coord((int)(k % PEAKS_GRID));
            d->x[2 * out + 1] = (float)grid_coord((int)(k / PEAKS_GRID));
            d->label[out] = c;
        }
    }
    free(label);
    /* interleave the classes, so that any prefix is roughly balanced */
    for (int64_t i = 0; i < samples; i++)
        members[i] = i;
    exa_rng_shuffle(&rng, members, samples);
    float *x = malloc((size_t)samples * 2 * sizeof *x);
    int32_t *lab = malloc((size_t)samples * sizeof *lab);
    if (!x || !lab) {
        free(x);
        free(lab);
        free(members);
        exa_data_free(d);
        return exa_fail(err, errlen, "exa: peaks: out of memory");
    }
    for (int64_t i = 0; i < samples; i++) {
        x[2 * i] = d->x[2 * members[i]];
        x[2 * i + 1] = d->x[2 * members[i] + 1];
        lab[i] = d->label[members[i]];
    }
    free(members);
    free(d->x);
    free(d->label);
    d->x = x;
    d->label = lab;
    return 0;
}

int exa_data_allen_cahn(ExaDataset *d, int64_t samples, uint64_t seed, char *err, size_t errlen)
{
    if (alloc_points(d, samples, 0, "allen_cahn", err, errlen))
        return -1;
    ExaRng rng;
    exa_rng_seed(&rng, seed);
    for (int64_t i = 0; i < samples; i++) {
        d->x[2 * i] = (float)exa_rng_range(&rng, 0.0, 1.0);
        d->x[2 * i + 1] = (float)exa_rng_range(&rng, -1.0, 1.0);
    }
    return 0;
}

void exa_shape_format(const ExaShape *s, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->rank && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%lld", i ? "x" : "", (long long)s->dim[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static int64_t shape_size(const ExaShape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

int exa_data_check_shape(const ExaDataset *d, const ExaShape *declared, const char *what,
                         char *err, size_t errlen)
{
    if (shape_size(declared) == d->features)
        return 0;
    char want[128], have[128];
    exa_shape_format(declared, want, sizeof want);
    exa_shape_format(&d->shape, have, sizeof have);
    return exa_fail(err, errlen, "exa: %s: declared [%s] (%lld values per sample) but the data holds [%s] (%lld)",
                what, want, (long long)shape_size(declared), have, (long long)d->features);
}

void exa_data_epoch_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch)
{
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    ExaRng rng;
    exa_rng_seed_stream(&rng, seed, (uint64_t)epoch);
    exa_rng_shuffle(&rng, order, n);
}

int64_t exa_data_batches(int64_t n, int64_t batch)
{
    return batch > 0 ? (n + batch - 1) / batch : 0;
}

void exa_data_batch_range(int64_t n, int64_t batch, int64_t b, int64_t *begin, int64_t *count)
{
    int64_t lo = b * batch, hi = lo + batch;
    if (lo > n)
        lo = n;
    if (hi > n)
        hi = n;
    *begin = lo;
    *count = hi - lo;
}

void exa_data_shard(int64_t count, int rank, int nranks, int64_t *begin, int64_t *len)
{
    int64_t base = count / nranks, extra = count % nranks;
    *len = base + (rank < extra);
    *begin = rank * base + (rank < extra ? rank : extra);
}

/* The gather splits its rows over --threads (exa_parallel_range): each row
 * is a copy, the same whatever the split.  A row's work is counted as the
 * values it moves.  The source rows are random in a data set far larger
 * than a core's L2 (Fashion-MNIST: 47 MB of bytes), so each copy waits on
 * memory; the next row's lines are prefetched while one is copied. */
typedef struct GatherJob {
    const ExaDataset *d;
    const int64_t *order;
    int64_t begin;
    void *x, *y;
    int32_t *label;
} GatherJob;

static void prefetch_row(const void *p, int64_t bytes)
{
#if defined(__GNUC__)
    for (int64_t b = 0; b < bytes; b += 64)
        __builtin_prefetch((const char *)p + b, 0, 3);
#else
    (void)p, (void)bytes;
#endif
}

static int64_t gather_sample(const GatherJob *j, int64_t i)
{
    return j->order ? j->order[j->begin + i] : j->begin + i;
}

/* A row of bytes as features (exa/data.h): a multiply and an add in float,
 * each rounded (ISO C17: no contraction), so every vector width and the
 * scalar exa_data_feature give the same bits. */
EXA_VEC_CLONES static void bytes_to_f32(float *restrict x, const uint8_t *restrict b, int64_t n, float scale,
                                        float shift)
{
    for (int64_t k = 0; k < n; k++)
        x[k] = (float)b[k] * scale + shift;
}

float exa_data_feature(const ExaDataset *d, int64_t i)
{
    return d->bytes ? (float)d->bytes[i] * d->byte_scale + d->byte_shift : d->x[i];
}

static void gather_range_f32(const void *ctx, int64_t lo, int64_t n)
{
    const GatherJob *j = ctx;
    const ExaDataset *d = j->d;
    float *x = j->x, *y = j->y;
    const int64_t f = d->features;
    for (int64_t i = lo; i < lo + n; i++) {
        int64_t s = gather_sample(j, i);
        if (x && d->bytes) {
            if (i + 1 < lo + n)
                prefetch_row(d->bytes + gather_sample(j, i + 1) * f, f);
            bytes_to_f32(x + i * f, d->bytes + s * f, f, d->byte_scale, d->byte_shift);
        } else if (x) {
            if (i + 1 < lo + n)
                prefetch_row(d->x + gather_sample(j, i + 1) * f, f * (int64_t)sizeof *x);
            memcpy(x + i * f, d->x + s * f, (size_t)f * sizeof *x);
        }
        if (j->label && d->label)
            j->label[i] = d->label[s];
        if (y && d->y)
            memcpy(y + i * d->targets, d->y + s * d->targets, (size_t)d->targets * sizeof *y);
    }
}

static void gather_range_f64(const void *ctx, int64_t lo, int64_t n)
{
    const GatherJob *j = ctx;
    const ExaDataset *d = j->d;
    double *x = j->x, *y = j->y;
    for (int64_t i = lo; i < lo + n; i++) {
        int64_t s = gather_sample(j, i);
        for (int64_t k = 0; x && k < d->features; k++)
            x[i * d->features + k] = exa_data_feature(d, s * d->features + k);
        if (j->label && d->label)
            j->label[i] = d->label[s];
        for (int64_t k = 0; y && d->y && k < d->targets; k++)
            y[i * d->targets + k] = d->y[s * d->targets + k];
    }
}

static int64_t gather_work(const ExaDataset *d, const void *x, const void *y)
{
    return 1 + (x ? d->features : 0) + (y && d->y ? d->targets : 0);
}

void exa_data_gather_f32(const ExaDataset *d, const int64_t *order, int64_t begin, int64_t count,
                         float *x, int32_t *label, float *y)
{
    GatherJob j = { d, order, begin, x, y, label };
    exa_parallel_range(count, gather_work(d, x, y), gather_range_f32, &j);
}

void exa_data_gather_f64(const ExaDataset *d, const int64_t *order, int64_t begin, int64_t count,
                         double *x, int32_t *label, double *y)
{
    GatherJob j = { d, order, begin, x, y, label };
    exa_parallel_range(count, gather_work(d, x, y), gather_range_f64, &j);
}
