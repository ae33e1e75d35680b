/* neurons.c - model parallelism in 1.5D, decompose = neurons() (or the rows
 * of grid(rows: neurons(), cols: data())): every dense layer of the model's
 * dense-relu chain (the descriptor's `layer` records, as for layers(admm))
 * split by output neurons - the rows of its W and b - over the ranks of the
 * method's communicator, which all see the same samples.
 *
 * Activations are kept feature-major, [features, samples]: rank k's block of
 * a layer's outputs is then one contiguous piece, so each collective below is
 * one call on one buffer.  For a mini-batch of B samples and layer l with
 * W_l [m, n] and rank k's rows [lo, lo + c):
 *   forward   Z_k = W_l[lo:lo+c] A_l + b_l[lo:lo+c]   (c x B, local)
 *             A_{l+1} = relu(Z) all-gathered (m x B; the last layer's Z, the
 *             logits, likewise), so every rank holds the next layer's input
 *   loss      softmax cross-entropy of the logits, mean over the B samples,
 *             computed alike on every rank
 *   backward  dW_k = dZ_k A_l^T and db_k = dZ_k 1 (this rank's rows, local);
 *             dA_l = sum_k W_k^T dZ_k reduce-scattered over the ranks by the
 *             previous layer's row blocks, so each rank gets the rows of dA
 *             it needs for its own dZ_{l-1} = dA .* [Z_{l-1} > 0]
 *   step      owned rows (the source's 1.5D; part.h): each rank keeps its
 *             rows of W and b current, and the train block's optimiser, with
 *             its state, steps on those rows alone (and on the convolutions'
 *             weights, whose gradients are summed over the ranks): nothing
 *             else is sent.  The other ranks' rows are gathered (one
 *             all-gather per W and b) only when the whole parameters are
 *             needed: before a checkpoint, an evaluation, and at the end
 *             (the gather op, exa_strategy_gather).  That needs an optimiser
 *             that steps coordinate by coordinate (SGD, Adam); with one that
 *             needs whole vectors (L-BFGS, trust region) every rank's rows of
 *             dW, db are all-gathered in place at every step instead (W's
 *             rows are contiguous in the flat vector), the optimiser steps on
 *             the whole gradient on every rank alike and the parameters stay
 *             replicated (the banner says which; grid_cost.c counts the words
 *             of the path taken)
 * All arithmetic is in double (programs compiled for f32 get the result
 * rounded); the products are those of serial, summed in another order only
 * in the reduce-scatter, so a run equals the one-rank run to rounding
 * (tests/grid: 1e-10 after 2 epochs).
 *
 * With a convolutional front (conv2d, maxpool, flatten before the dense
 * layers) the images are split by rows instead: neurons_front.c.  Dropout
 * after a dense layer's relu multiplies this rank's rows by the masks the
 * generated code draws (exa_run_dropout_masks: per sample and step).
 * batch_norm on a dense layer (before its relu) normalises this rank's
 * rows: each feature's statistics are over the batch alone, so they are
 * summed over a grid's columns only; the running statistics and the
 * gradients of g and b are per row, gathered / summed over the rows.
 *
 * EXA_TEST_DROP=row_reduce (tests only) skips the reduce-scatter of dA,
 * keeping this rank's partial sum, and EXA_TEST_DROP=conv_allreduce the sum
 * of the convolutions' (and batch norms' g and b) parameter gradients over
 * the ranks, and
 * EXA_TEST_DROP=bn_allreduce batch norm's sums of its statistics over the
 * rows and the grid's columns: the negative controls of the exactness tests,
 * which must then fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/kernels.h"
#include "neurons.h"

static void lay_counts(const NLayer *y, int64_t scale, int P, int *cnt, int *dsp)
{
    for (int k = 0; k < P; k++)
        cnt[k] = (int)(y->cnt[k] * scale), dsp[k] = (int)(y->off[k] * scale);
}

static int64_t imax64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The buffers for B samples (grown, never shrunk). */
static void reserve(Neurons *N, int64_t B)
{
    if (B <= N->cap)
        return;
    for (int l = 0; l <= N->L; l++) {
        free(N->act[l]);
        N->act[l] = solver_alloc((l == 0 ? N->lay[0].n : N->lay[l - 1].m) * B, sizeof(double));
    }
    int me = N->base.comm.rank;
    for (int l = 0; l < N->L; l++) {
        free(N->pre[l]);
        N->pre[l] = solver_alloc((int64_t)N->lay[l].cnt[me] * B, sizeof(double));
        if (N->lay[l].bn) {
            free(N->lay[l].xhat);
            N->lay[l].xhat = solver_alloc(imax64((int64_t)N->lay[l].cnt[me] * B, 1), sizeof(double));
        }
    }
    free(N->dz), free(N->da), free(N->part), free(N->mask);
    N->mask = solver_alloc(imax64(N->base.r->prog->dropout_size * B, 1), (size_t)N->base.r->elem);
    neurons_front_reserve(N, B);
    N->dz = solver_alloc(N->wmax * B, sizeof(double));
    N->da = solver_alloc(N->wmax * B, sizeof(double));
    N->part = solver_alloc(N->wmax * B, sizeof(double));
    N->cap = B;
}

/* batch_norm on dense layer y: this rank's rows of Z [c, B] (bias added)
 * normalised per feature by the batch's statistics (over the grid's columns
 * too: each feature's outputs are on one rank of the rows), scaled and
 * shifted in place; the statistics of every row go to stat_batch. */
static void bn_dense_forward(Neurons *N, NLayer *y, const void *theta, double *Z, int64_t B)
{
    ExaRun *r = N->base.r;
    const ExaComm *cm = &N->base.comm;
    int64_t c = y->cnt[cm->rank], lo = y->off[cm->rank];
    for (int pass = 0; pass < 2; pass++) { /* the mean, then the variance about it */
        for (int64_t j = 0; j < c; j++) {
            double sum = 0;
            for (int64_t i = 0; i < B; i++)
                sum += pass ? (Z[j * B + i] - y->mu[j]) * (Z[j * B + i] - y->mu[j]) : Z[j * B + i];
            y->sums[j] = sum;
        }
        neurons_bn_sum(N, y->sums, (size_t)c, 0);
        for (int64_t j = 0; j < c; j++) {
            double v = y->sums[j] / (double)N->btot;
            if (pass)
                y->inv[j] = 1 / sqrt(v + 0.00001);
            else
                y->mu[j] = v;
            y->stat[lo + j] = v;
        }
        if (N->capture) { /* every row's statistic, for the running ones on every rank */
            lay_counts(y, 1, cm->size, N->cnt, N->dsp);
            exa_comm_allgatherv_f64(cm, y->stat, N->cnt, N->dsp);
            neurons_count_blocks(N, N->cnt);
            for (int64_t k = 0; k < y->m; k++)
                r->stat_batch[(pass ? y->svar : y->smean) + k] = y->stat[k];
        }
    }
    for (int64_t j = 0; j < c; j++) {
        double g = exa_get(r, theta, y->go + lo + j), b = exa_get(r, theta, y->gb + lo + j);
        for (int64_t i = 0; i < B; i++) {
            double *xh = &y->xhat[j * B + i];
            *xh = (Z[j * B + i] - y->mu[j]) * y->inv[j];
            Z[j * B + i] = g * *xh + b;
        }
    }
}

/* dz [c, B], the gradient of the normalised, scaled outputs: g's and b's
 * gradients (this rank's rows) into N->g, and dz becomes Z's. */
static void bn_dense_backward(Neurons *N, NLayer *y, const void *theta, double *dz, int64_t B)
{
    ExaRun *r = N->base.r;
    int64_t c = y->cnt[N->base.comm.rank], lo = y->off[N->base.comm.rank];
    double share = (double)B / (double)N->btot;
    for (int64_t j = 0; j < c; j++) {
        double g = exa_get(r, theta, y->go + lo + j), dg = 0, db = 0, s1 = 0, s2 = 0;
        for (int64_t i = 0; i < B; i++) {
            double d = dz[j * B + i], xh = y->xhat[j * B + i];
            dg += d * xh, db += d;
            dz[j * B + i] = d * g;
            s1 += d * g, s2 += d * g * xh;
        }
        N->g[y->go + lo + j] = dg, N->g[y->gb + lo + j] = db;
        y->sums[j] = share * s1, y->sums[c + j] = share * s2;
    }
    neurons_bn_sum(N, y->sums, (size_t)(2 * c), 0);
    for (int64_t j = 0; j < c && B > 0; j++) { /* a column without samples has nothing to scale */
        double m1 = y->sums[j] / (double)N->btot / share, m2 = y->sums[c + j] / (double)N->btot / share;
        for (int64_t i = 0; i < B; i++)
            dz[j * B + i] = y->inv[j] * (dz[j * B + i] - m1 - y->xhat[j * B + i] * m2);
    }
}

/* Mean cross-entropy of the logits Z [m, B] (feature-major) against the
 * labels; dZ = (softmax - onehot) / B into dz when not NULL. */
static double cross_entropy(const double *Z, int64_t m, int64_t B, const int32_t *y, double *dz)
{
    double sum = 0;
    for (int64_t i = 0; i < B; i++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < m; j++)
            mx = fmax(mx, Z[j * B + i]);
        double s = 0;
        for (int64_t j = 0; j < m; j++)
            s += exp(Z[j * B + i] - mx);
        double lse = mx + log(s);
        sum += lse - Z[(int64_t)y[i] * B + i];
        if (dz)
            for (int64_t j = 0; j < m; j++)
                dz[j * B + i] = (exp(Z[j * B + i] - lse) - (j == y[i])) / (double)B;
    }
    return sum / (double)B;
}

/* The mini-batch loss; with grad, the gradient of this rank's rows (and of
 * the convolutions, summed) into N->g, and with gather every rank's rows of
 * it (the replicated path and --gradcompare). */
static double neurons_eval(Neurons *N, const void *theta, int grad, int gather, int64_t begin, int64_t count)
{
    ExaMethod *m = &N->base;
    ExaRun *r = m->r;
    const ExaComm *cm = &m->comm;
    int P = cm->size, me = cm->rank;
    int64_t B = count;
    reserve(N, B);
    int32_t *label = solver_alloc(B, sizeof *label);
    int64_t F = r->train.features, ds = r->prog->dropout_size;
    for (int64_t i = 0; i < B; i++) {
        int64_t s = r->order[begin + i];
        label[i] = r->train.label[s];
        for (int64_t f = 0; f < F && N->S == 0; f++)
            N->act[0][f * B + i] = exa_data_feature(&r->train, s * F + f);
    }
    /* batch_norm2d: the batch is the grid's columns' together; the first
     * gradient of an optimiser step gives the running statistics' batch
     * values (run.h's stat_batch, as take_stats does for the generated code) */
    N->btot = N->cols && N->cols->size > 1 ? (int64_t)exa_comm_sum_double(N->cols, (double)B) : B;
    N->capture = grad && r->stat_capture && r->stat_reals > 0;
    if (N->S > 0)
        neurons_front_forward(N, theta, begin, B);
    if (N->capture)
        r->stat_capture = 0, r->stat_captured = 1, r->stat_synced = 1;
    if (ds > 0) /* the masks of this step, as the generated code draws them */
        exa_run_dropout_masks(r, r->order + begin, B, 1, N->mask);
    /* forward */
    for (int l = 0; l < N->L; l++) {
        const NLayer *y = &N->lay[l];
        int64_t c = y->cnt[me], lo = y->off[me];
        double *W = N->wt, *Z = N->pre[l], *out = N->act[l + 1];
        for (int64_t i = 0; i < c * y->n; i++)
            W[i] = exa_get(r, theta, y->w + lo * y->n + i);
        for (int64_t j = 0; j < c; j++) {
            double bj = exa_get(r, theta, y->b + lo + j);
            for (int64_t i = 0; i < B; i++)
                Z[j * B + i] = bj;
        }
        if (c > 0)
            exa_k_blas_gemm_f64(0, 0, c, B, y->n, 1.0, W, y->n, N->act[l], B, 1.0, Z, B);
        if (y->bn)
            bn_dense_forward(N, &N->lay[l], theta, Z, B);
        for (int64_t i = 0; i < c * B; i++)
            out[lo * B + i] = y->relu && Z[i] < 0 ? 0 : Z[i];
        if (y->site >= 0) {
            int64_t at = r->prog->dropout[y->site].offset + lo;
            for (int64_t j = 0; j < c; j++)
                for (int64_t i = 0; i < B; i++)
                    out[(lo + j) * B + i] *= exa_get(r, N->mask, i * ds + at + j);
        }
        lay_counts(y, B, P, N->cnt, N->dsp);
        exa_comm_allgatherv_f64(cm, out, N->cnt, N->dsp);
        neurons_count_blocks(N, N->cnt);
    }
    const NLayer *last = &N->lay[N->L - 1];
    double f = cross_entropy(N->act[N->L], last->m, B, label, grad ? N->da : NULL);
    free(label);
    if (!grad)
        return f;
    /* backward: da holds the whole dZ of the last layer; dz this rank's rows */
    memset(N->g, 0, (size_t)r->n * sizeof *N->g);
    memcpy(N->dz, N->da + (int64_t)last->off[me] * B, (size_t)(last->cnt[me] * B) * sizeof *N->dz);
    for (int l = N->L - 1; l >= 0; l--) {
        const NLayer *y = &N->lay[l];
        int64_t c = y->cnt[me], lo = y->off[me];
        if (y->bn)
            bn_dense_backward(N, &N->lay[l], theta, N->dz, B);
        if (c > 0) {
            exa_k_blas_gemm_f64(0, 1, c, y->n, B, 1.0, N->dz, B, N->act[l], B, 0.0, N->g + y->w + lo * y->n,
                                y->n);
            for (int64_t j = 0; j < c; j++) {
                double s = 0;
                for (int64_t i = 0; i < B; i++)
                    s += N->dz[j * B + i];
                N->g[y->b + lo + j] = s;
            }
        }
        if (l == 0 && N->S == 0)
            break;
        /* dA_l = W_k^T dZ_k, summed over the ranks, scattered by layer l-1's rows */
        double *W = N->wt;
        for (int64_t i = 0; i < c * y->n; i++)
            W[i] = exa_get(r, theta, y->w + lo * y->n + i);
        if (c > 0)
            exa_k_blas_gemm_f64(1, 0, y->n, B, c, 1.0, W, y->n, N->dz, B, 0.0, N->part, B);
        else
            memset(N->part, 0, (size_t)(y->n * B) * sizeof *N->part);
        if (l == 0) { /* into the convolutional front */
            neurons_front_backward(N, theta, N->part, B);
            break;
        }
        const NLayer *prev = &N->lay[l - 1];
        lay_counts(prev, B, P, N->cnt, N->dsp);
        if (N->drop == 1)
            memcpy(N->da, N->part + (int64_t)prev->off[me] * B, (size_t)N->cnt[me] * sizeof *N->da);
        else
            exa_comm_reduce_scatter_f64(cm, N->part, N->da, N->cnt);
        neurons_count_blocks(N, N->cnt);
        const double *Zp = N->pre[l - 1];
        for (int64_t i = 0; i < (int64_t)prev->cnt[me] * B; i++)
            N->dz[i] = prev->relu && Zp[i] <= 0 ? 0 : N->da[i];
        if (prev->site >= 0) {
            int64_t at = r->prog->dropout[prev->site].offset + prev->off[me];
            for (int64_t j = 0; j < prev->cnt[me]; j++)
                for (int64_t i = 0; i < B; i++)
                    N->dz[j * B + i] *= exa_get(r, N->mask, i * ds + at + j);
        }
    }
    /* every rank's rows of every W and b, in place */
    for (int l = 0; l < N->L && gather; l++) {
        const NLayer *y = &N->lay[l];
        lay_counts(y, y->n, P, N->cnt, N->dsp);
        exa_comm_allgatherv_f64(cm, N->g + y->w, N->cnt, N->dsp);
        neurons_count_blocks(N, N->cnt);
        lay_counts(y, 1, P, N->cnt, N->dsp);
        exa_comm_allgatherv_f64(cm, N->g + y->b, N->cnt, N->dsp);
        neurons_count_blocks(N, N->cnt);
    }
    for (int l = 0; l < N->L && P > 1; l++) /* batch_norm's g and b: each rank has its rows' */
        if (N->lay[l].bn && N->drop != 2) {
            exa_comm_allreduce_sum(cm, N->g + N->lay[l].go, (size_t)N->lay[l].m, EXA_REAL_F64);
            exa_comm_allreduce_sum(cm, N->g + N->lay[l].gb, (size_t)N->lay[l].m, EXA_REAL_F64);
            neurons_count_allreduce(N, (double)(2 * N->lay[l].m));
        }
    neurons_front_sum(N);
    N->evals++;
    return f;
}

/* The loss op: the whole gradient (every rank's rows gathered). */
static double neurons_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count)
{
    Neurons *N = (Neurons *)m;
    double f = neurons_eval(N, theta, grad != NULL, 1, begin, count);
    for (int64_t i = 0; grad && i < m->r->n; i++)
        exa_set(m->r, grad, i, N->g[i]);
    return f;
}

/* Owned rows: the gradient of this rank's part alone, packed. */
static double neurons_part_loss(ExaMethod *m, const void *theta, void *grad_part, int64_t begin, int64_t count)
{
    Neurons *N = (Neurons *)m;
    double f = neurons_eval(N, theta, 1, 0, begin, count);
    part_pack_double(N->owned, m->r->elem, N->g, grad_part);
    return f;
}

static const ExaParamPart *neurons_part(ExaMethod *m)
{
    return ((Neurons *)m)->owned;
}

/* words_rows: the words per rank and gradient the rows' collectives moved
 * since the last report (the epoch's), on average over the ranks; the
 * cost model's words(rows) for this grid (tests/grid checks they agree). */
static int neurons_report(ExaMethod *m, const char **names, double *values, int max)
{
    Neurons *N = (Neurons *)m;
    if (max < 1)
        return 0;
    double words = exa_comm_sum_double(&m->comm, N->words) / m->comm.size;
    names[0] = "words_rows", values[0] = N->evals > 0 ? words / N->evals : 0;
    N->words = N->evals = 0;
    return 1;
}

static void neurons_free(ExaMethod *m)
{
    Neurons *N = (Neurons *)m;
    for (int l = 0; N->lay && l < N->L; l++) {
        free(N->lay[l].cnt), free(N->lay[l].off), free(N->pre ? N->pre[l] : NULL);
        free(N->lay[l].xhat), free(N->lay[l].mu), free(N->lay[l].inv), free(N->lay[l].sums), free(N->lay[l].stat);
    }
    for (int l = 0; N->act && l <= N->L; l++)
        free(N->act[l]);
    free(N->lay), free(N->act), free(N->pre);
    free(N->dz), free(N->da), free(N->part), free(N->g), free(N->wt), free(N->cnt), free(N->dsp), free(N->mask);
    neurons_front_free(N);
    stepper_free(&N->global);
    part_free(N->owned);
    free(N);
}

static ExaMethod *neurons_fail(Neurons *N, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "exa: decompose = %s: %s", N->base.name, what);
    neurons_free(&N->base);
    return NULL;
}

static ExaMethod *neurons_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err, size_t errlen)
{
    const ExaProgram *p = r->prog;
    Neurons *N = calloc(1, sizeof *N);
    if (!N)
        return NULL;
    exa_call_print(d, N->base.name, sizeof N->base.name);
    if (p->nlayers == 0)
        return neurons_fail(N, err, errlen, "needs the chain of dense layers exac writes only for a program "
                            "compiled with decompose = neurons() or grid(rows: neurons(), ...): recompile "
                            "with that line");
    if (r->train.target != EXA_TARGET_CLASS)
        return neurons_fail(N, err, errlen, "the training set needs class labels (cross_entropy)");
    const char *drop = getenv("EXA_TEST_DROP");
    N->drop = !drop ? 0 : !strcmp(drop, "row_reduce") ? 1 : !strcmp(drop, "conv_allreduce") ? 2
            : !strcmp(drop, "bn_allreduce") ? 3 : 0;
    int P = comm->size, first = 0;
    N->base.r = r, N->base.comm = *comm;
    N->cnt = calloc((size_t)P, sizeof *N->cnt);
    N->dsp = calloc((size_t)P, sizeof *N->dsp);
    if (!N->cnt || !N->dsp)
        return neurons_fail(N, err, errlen, "out of memory");
    char why[256];
    if (neurons_front_create(N, &first, why, sizeof why) != 0)
        return neurons_fail(N, err, errlen, why);
    N->L = p->nlayers - first;
    N->lay = calloc((size_t)N->L, sizeof *N->lay);
    N->act = calloc((size_t)N->L + 1, sizeof *N->act);
    N->pre = calloc((size_t)N->L, sizeof *N->pre);
    if (!N->lay || !N->act || !N->pre)
        return neurons_fail(N, err, errlen, "out of memory");
    int64_t wmat = 0;
    int sites = 0;
    for (int l = 0; l < N->L; l++) {
        const ExaChainLayer *cl = &p->layers[first + l];
        if (cl->kind != EXA_LAYER_DENSE)
            return neurons_fail(N, err, errlen, "after the first dense layer the chain has only dense layers");
        const ExaParamInfo *W = &p->params[cl->w], *b = &p->params[cl->b];
        NLayer *y = &N->lay[l];
        y->m = W->shape.dim[0], y->n = W->shape.dim[1], y->w = W->offset, y->b = b->offset, y->relu = cl->relu;
        y->site = cl->dropout ? sites++ : -1;
        if (y->site >= 0 && (y->site >= p->ndropout || p->dropout[y->site].size != y->m))
            return neurons_fail(N, err, errlen, "the dropout sites do not match the chain's dropout layers");
        if (l == 0 && N->S == 0 && y->n != r->train.features)
            return neurons_fail(N, err, errlen, "the first dense layer's inputs are not the training set's features");
        if (y->m * y->n > INT32_MAX / 2)
            return neurons_fail(N, err, errlen, "a layer too large for one MPI call");
        y->cnt = calloc((size_t)P, sizeof *y->cnt);
        y->off = calloc((size_t)P, sizeof *y->off);
        if (!y->cnt || !y->off)
            return neurons_fail(N, err, errlen, "out of memory");
        for (int k = 0; k < P; k++) {
            int64_t lo, c;
            exa_data_shard(y->m, k, P, &lo, &c);
            y->off[k] = (int)lo, y->cnt[k] = (int)c;
        }
        if ((y->bn = cl->bn_g >= 0)) {
            int64_t c = y->cnt[comm->rank];
            if (neurons_bn_params(p, cl, y->m, &y->go, &y->gb, &y->smean, &y->svar, why, sizeof why) != 0)
                return neurons_fail(N, err, errlen, why);
            y->mu = solver_alloc(imax64(c, 1), sizeof(double)), y->inv = solver_alloc(imax64(c, 1), sizeof(double));
            y->sums = solver_alloc(imax64(2 * c, 1), sizeof(double)), y->stat = solver_alloc(y->m, sizeof(double));
        }
        N->wmax = y->m > N->wmax ? y->m : N->wmax;
        N->wmax = y->n > N->wmax ? y->n : N->wmax;
        int64_t mine = (int64_t)y->cnt[comm->rank] * y->n;
        wmat = mine > wmat ? mine : wmat;
    }
    int bn = 0;
    for (int s = 0; s < N->S; s++)
        bn += N->sp[s].bn;
    for (int l = 0; l < N->L; l++)
        bn += N->lay[l].bn;
    if (2 * bn != p->nbatchstats)
        return neurons_fail(N, err, errlen, "the program has batch statistics outside the convolutions' batch_norm2d");
    if (sites != p->ndropout)
        return neurons_fail(N, err, errlen, "the program has dropout outside the chain's dense layers");
    if (N->L < 1 || r->train.classes != (int)N->lay[N->L - 1].m)
        return neurons_fail(N, err, errlen, "the training set's classes are not the last layer's outputs");
    N->g = solver_alloc(r->n, sizeof *N->g);
    N->wt = solver_alloc(wmat > 0 ? wmat : 1, sizeof *N->wt);
    if (part_optimiser_fits(p)) { /* owned rows: this rank's rows of every W and b */
        PartBlock *blk = calloc((size_t)(2 * N->L), sizeof *blk);
        for (int l = 0; blk && l < N->L; l++) {
            const NLayer *y = &N->lay[l];
            blk[2 * l] = (PartBlock){ .base = y->w, .unit = y->n, .cnt = y->cnt, .off = y->off };
            blk[2 * l + 1] = (PartBlock){ .base = y->b, .unit = 1, .cnt = y->cnt, .off = y->off };
        }
        N->owned = blk ? part_create(comm, r->n, blk, 2 * N->L) : NULL;
        free(blk);
        if (!N->owned)
            return neurons_fail(N, err, errlen, "out of memory");
    }
    if (stepper_init_part(&N->global, r, N->base.name, N->owned, err, errlen) != 0) {
        neurons_free(&N->base);
        return NULL;
    }
    size_t len = strlen(N->base.name); /* the banner says which path runs */
    snprintf(N->base.name + len, sizeof N->base.name - len, " (%s)", part_path(N->owned != NULL));
    return &N->base;
}

/* Ops columns, take_cols_words (exa/method.h): a grid's row of ranks (its
 * columns, which split each batch) for the sums of the batch statistics, and
 * the words those sums moved since the last call (ring counting, as grid.c
 * counts its own). */
static void neurons_set_columns(ExaMethod *m, const ExaComm *cols)
{
    ((Neurons *)m)->cols = cols;
}

static double neurons_take_cols_words(ExaMethod *m)
{
    Neurons *N = (Neurons *)m;
    double w = N->cols_words;
    N->cols_words = 0;
    return w;
}

const ExaMethodOps exa_method_neurons = {
    .name = "neurons", .create = neurons_create, .step = stepper_method_step, .loss = neurons_loss,
    .save = stepper_save, .load = stepper_load, .free = neurons_free, .report = neurons_report,
    .part = neurons_part, .part_loss = neurons_part_loss, .gather = stepper_method_gather,
    .columns = neurons_set_columns, .take_cols_words = neurons_take_cols_words,
};
