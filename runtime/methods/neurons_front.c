/* neurons_front.c - domain parallelism for neurons()' convolutional front:
 * every convolution and max pooling before the flatten split by the rows
 * (height) of its output image over the method's ranks, which all see the
 * same samples.
 *
 * Rank k owns output rows [lo, hi) of every image of the front (an even
 * split, exa_data_shard) and computes them from the input rows [need0,
 * need1) they depend on: [lo - pad, hi - 1 + k - pad) for a convolution,
 * [lo st, (hi - 1) st + win) for a pooling.  The rows it needs and does not
 * own - the halo, k - 1 rows of a valid convolution, none for a pooling whose
 * blocks line up - come from their owners before the op (halo(), forward),
 * and the gradient of those rows goes back to the owners, added, after the
 * op's backward pass (halo(), backward).  The input images are on every rank
 * (the data set is), so the first op needs no exchange.  A convolution's
 * zero padding is explicit in the slab (rows and columns), so the kernels run
 * unpadded on it and the slab's edges inside the image are real rows.
 *
 * The flatten gathers every rank's rows of the last image (one all-gather,
 * rank blocks [c][rows][w][B]) into the dense input [features, B]; its
 * gradient goes back by one reduce-scatter over the same blocks.  The
 * convolutions' parameter gradients are sums over the rows, so each rank's
 * part is summed over the ranks (neurons_front_sum).  The kernels are
 * kernels.h's (im2col and GEMM, max pooling routing to the first maximum as
 * the generated code's do).
 *
 * batch_norm2d on a convolution (before its relu): per channel the mean and
 * then the variance of the convolution's outputs over the batch and every
 * image row, i.e. this rank's rows summed over the rows' communicator and,
 * in a grid, over its columns (which split the batch); so every rank
 * normalises with the serial run's statistics.  Backward likewise: the two
 * per-channel sums of the normalisation's adjoint, each column's weighted by
 * its share of the batch (its gradient is of its own mean loss, grid.c
 * weights it so afterwards).  The statistics go to run.h's stat_batch, from
 * which libexa moves the running mean and variance as for serial. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/kernels.h"
#include "neurons.h"

enum { TAG_HALO_FWD = 811, TAG_HALO_BWD };

static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* Rows [r0, r1) of an image stored as [B, c, rows from base, w] (at column
 * col0 of rows wide) packed into buf as [B][c][r1 - r0][w], or unpacked from
 * it (added when add). */
static void pack(double *img, int64_t B, int64_t c, int64_t nrows, int64_t base, int64_t width, int64_t col0,
                 int64_t w, int64_t r0, int64_t r1, double *buf, int unpack, int add)
{
    int64_t at = 0;
    for (int64_t i = 0; i < B; i++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t rr = r0; rr < r1; rr++, at += w) {
                double *row = img + ((i * c + ch) * nrows + (rr - base)) * width + col0;
                if (!unpack)
                    memcpy(buf + at, row, (size_t)w * sizeof *buf);
                else if (add)
                    for (int64_t x = 0; x < w; x++)
                        row[x] += buf[at + x];
                else
                    memcpy(row, buf + at, (size_t)w * sizeof *buf);
            }
}

/* The exchange of op q's input rows between the ranks.  Forward: the owned
 * input image `own` ([B, c, own rows, w]) fills the rows of the slab the
 * others own.  Backward: the slab's gradient rows owned by others go to them
 * and are added into `own` (the input image's gradient). */
static void halo(Neurons *N, const NSpatial *q, const NSpatial *prev, double *own, double *slab, int64_t B, int fwd)
{
    const ExaComm *cm = &N->base.comm;
    int P = cm->size, me = cm->rank;
    int64_t c = q->c, w = q->w, olo = prev->lo[me], orows = prev->hi[me] - olo;
    double **sbuf = calloc((size_t)P, sizeof *sbuf), **rbuf = calloc((size_t)P, sizeof *rbuf);
    MPI_Request *req = calloc((size_t)(2 * P), sizeof *req);
    if (!sbuf || !rbuf || !req)
        exa_comm_abort(cm, "neurons(): out of memory");
    for (int j = 0; j < 2 * P; j++)
        req[j] = MPI_REQUEST_NULL;
    for (int j = 0; j < P; j++) {
        if (j == me)
            continue;
        /* rows j sends me (forward) or I send j (backward): j's owned rows I need */
        int64_t a0 = imax(prev->lo[j], q->need0[me]), a1 = imin(prev->hi[j], q->need1[me]);
        /* rows I send j (forward) or j sends me (backward): my owned rows j needs */
        int64_t b0 = imax(olo, q->need0[j]), b1 = imin(prev->hi[me], q->need1[j]);
        int64_t in0 = fwd ? a0 : b0, in1 = fwd ? a1 : b1, out0 = fwd ? b0 : a0, out1 = fwd ? b1 : a1;
        int tag = fwd ? TAG_HALO_FWD : TAG_HALO_BWD;
        if (in1 > in0) {
            rbuf[j] = solver_alloc(B * c * (in1 - in0) * w, sizeof(double));
            req[j] = exa_comm_irecv(cm, rbuf[j], (size_t)(B * c * (in1 - in0) * w) * sizeof(double), j, tag);
        }
        if (out1 > out0) {
            sbuf[j] = solver_alloc(B * c * (out1 - out0) * w, sizeof(double));
            if (fwd)
                pack(own, B, c, orows, olo, w, 0, w, out0, out1, sbuf[j], 0, 0);
            else
                pack(slab, B, c, q->hr, q->need0[me], q->wp, q->pad, w, out0, out1, sbuf[j], 0, 0);
            req[P + j] = exa_comm_isend(cm, sbuf[j], (size_t)(B * c * (out1 - out0) * w) * sizeof(double), j, tag);
            N->words += (double)(B * c * (out1 - out0) * w);
        }
    }
    for (int j = 0; j < P; j++) {
        if (j == me)
            continue;
        exa_comm_wait(cm, &req[j]);
        if (rbuf[j]) {
            int64_t a0 = imax(prev->lo[j], q->need0[me]), a1 = imin(prev->hi[j], q->need1[me]);
            int64_t b0 = imax(olo, q->need0[j]), b1 = imin(prev->hi[me], q->need1[j]);
            if (fwd)
                pack(slab, B, c, q->hr, q->need0[me], q->wp, q->pad, w, a0, a1, rbuf[j], 1, 0);
            else
                pack(own, B, c, orows, olo, w, 0, w, b0, b1, rbuf[j], 1, 1);
        }
    }
    for (int j = 0; j < P; j++) {
        exa_comm_wait(cm, &req[P + j]);
        free(sbuf[j]), free(rbuf[j]);
    }
    free(sbuf), free(rbuf), free(req);
}

/* batch_norm2d's per-channel sums (n values) over the rows' ranks and the
 * grid's columns; EXA_TEST_DROP=bn_allreduce (the negative control) keeps
 * this rank's. */
void neurons_bn_sum(Neurons *N, double *v, size_t n, int rows)
{
    if (N->drop == 3)
        return;
    if (rows && N->base.comm.size > 1) {
        exa_comm_allreduce_sum(&N->base.comm, v, n, EXA_REAL_F64);
        neurons_count_allreduce(N, (double)n);
    }
    if (N->cols && N->cols->size > 1) {
        exa_comm_allreduce_sum(N->cols, v, n, EXA_REAL_F64);
        N->cols_words += 2.0 * (N->cols->size - 1) / N->cols->size * (double)n;
    }
}

/* q->out holds the convolution's outputs (bias added): normalised by the
 * batch statistics, scaled, shifted and relu'd in place. */
static void bn_forward(Neurons *N, NSpatial *q, const void *theta, int64_t B, int64_t rows)
{
    ExaRun *r = N->base.r;
    int64_t o = q->o, px = rows * q->ow, sy = o * px;
    double count = (double)N->btot * (double)(q->oh * q->ow);
    for (int pass = 0; pass < 2; pass++) { /* the mean, then the variance about it */
        for (int64_t ch = 0; ch < o; ch++) {
            double sum = 0;
            for (int64_t i = 0; i < B; i++) {
                const double *y = q->out + i * sy + ch * px;
                for (int64_t t = 0; t < px; t++)
                    sum += pass ? (y[t] - q->mu[ch]) * (y[t] - q->mu[ch]) : y[t];
            }
            q->sums[ch] = sum;
        }
        neurons_bn_sum(N, q->sums, (size_t)o, 1);
        for (int64_t ch = 0; ch < o; ch++) {
            double v = q->sums[ch] / count;
            if (pass)
                q->inv[ch] = 1 / sqrt(v + 0.00001);
            else
                q->mu[ch] = v;
            if (N->capture)
                r->stat_batch[(pass ? q->svar : q->smean) + ch] = v;
        }
    }
    for (int64_t ch = 0; ch < o; ch++) {
        double g = exa_get(r, theta, q->go + ch), b = exa_get(r, theta, q->gb + ch);
        for (int64_t i = 0; i < B; i++) {
            double *y = q->out + i * sy + ch * px, *xh = q->xhat + i * sy + ch * px;
            for (int64_t t = 0; t < px; t++) {
                xh[t] = (y[t] - q->mu[ch]) * q->inv[ch];
                double v = g * xh[t] + b;
                y[t] = q->relu && v < 0 ? 0 : v;
            }
        }
    }
}

/* q->dout holds the gradient of the relu'd outputs: the gradients of g and b
 * (this rank's rows) into N->g, and q->dout becomes the convolution's. */
static void bn_backward(Neurons *N, NSpatial *q, const void *theta, int64_t B, int64_t rows)
{
    ExaRun *r = N->base.r;
    int64_t o = q->o, px = rows * q->ow, sy = o * px;
    double count = (double)N->btot * (double)(q->oh * q->ow), share = (double)B / (double)N->btot;
    for (int64_t ch = 0; ch < o; ch++) {
        double g = exa_get(r, theta, q->go + ch), dg = 0, db = 0, s1 = 0, s2 = 0;
        for (int64_t i = 0; i < B; i++) {
            double *d = q->dout + i * sy + ch * px;
            const double *y = q->out + i * sy + ch * px, *xh = q->xhat + i * sy + ch * px;
            for (int64_t t = 0; t < px; t++) {
                double dz = q->relu && y[t] <= 0 ? 0 : d[t];
                dg += dz * xh[t], db += dz;
                d[t] = dz * g; /* the adjoint of the normalised output */
                s1 += d[t], s2 += d[t] * xh[t];
            }
        }
        N->g[q->go + ch] = dg, N->g[q->gb + ch] = db;
        q->sums[ch] = share * s1, q->sums[o + ch] = share * s2;
    }
    neurons_bn_sum(N, q->sums, (size_t)(2 * o), 1);
    for (int64_t ch = 0; ch < o && B > 0; ch++) { /* a column without samples has nothing to scale */
        double m1 = q->sums[ch] / count / share, m2 = q->sums[o + ch] / count / share;
        for (int64_t i = 0; i < B; i++) {
            double *d = q->dout + i * sy + ch * px;
            const double *xh = q->xhat + i * sy + ch * px;
            for (int64_t t = 0; t < px; t++)
                d[t] = q->inv[ch] * (d[t] - m1 - xh[t] * m2);
        }
    }
}

/* This rank's own rows of the op's input into / out of its slab. */
static void local_rows(const NSpatial *q, const NSpatial *prev, int me, double *own, double *slab, int64_t B,
                       int fwd)
{
    int64_t r0 = imax(prev->lo[me], q->need0[me]), r1 = imin(prev->hi[me], q->need1[me]);
    if (r1 <= r0)
        return;
    int64_t orows = prev->hi[me] - prev->lo[me];
    double *buf = solver_alloc(B * q->c * (r1 - r0) * q->w, sizeof(double));
    if (fwd) {
        pack(own, B, q->c, orows, prev->lo[me], q->w, 0, q->w, r0, r1, buf, 0, 0);
        pack(slab, B, q->c, q->hr, q->need0[me], q->wp, q->pad, q->w, r0, r1, buf, 1, 0);
    } else {
        pack(slab, B, q->c, q->hr, q->need0[me], q->wp, q->pad, q->w, r0, r1, buf, 0, 0);
        pack(own, B, q->c, orows, prev->lo[me], q->w, 0, q->w, r0, r1, buf, 1, 1);
    }
    free(buf);
}

void neurons_front_forward(Neurons *N, const void *theta, int64_t begin, int64_t B)
{
    ExaRun *r = N->base.r;
    const ExaComm *cm = &N->base.comm;
    int P = cm->size, me = cm->rank;
    for (int s = 0; s < N->S; s++) {
        NSpatial *q = &N->sp[s];
        int64_t rows = q->hi[me] - q->lo[me];
        memset(q->slab, 0, (size_t)(B * q->c * q->hr * q->wp) * sizeof *q->slab);
        if (s == 0) { /* the images: every rank has them */
            int64_t F = r->train.features;
            for (int64_t i = 0; i < B; i++) {
                int64_t x = r->order[begin + i] * F; /* the sample's first feature */
                for (int64_t ch = 0; ch < q->c; ch++)
                    for (int64_t rr = imax(q->need0[me], 0); rr < imin(q->need1[me], q->h); rr++)
                        for (int64_t col = 0; col < q->w; col++)
                            q->slab[((i * q->c + ch) * q->hr + (rr - q->need0[me])) * q->wp + q->pad + col] =
                                exa_data_feature(&r->train, x + (ch * q->h + rr) * q->w + col);
            }
        } else {
            local_rows(q, &N->sp[s - 1], me, N->sp[s - 1].out, q->slab, B, 1);
            halo(N, q, &N->sp[s - 1], N->sp[s - 1].out, q->slab, B, 1);
        }
        if (rows <= 0) {
            if (q->bn) /* the sums need every rank */
                bn_forward(N, q, theta, B, 0);
            continue;
        }
        int64_t sx = q->c * q->hr * q->wp, sy = q->o * rows * q->ow;
        if (q->conv) {
            for (int64_t i = 0; i < q->o * q->c * q->k * q->k; i++)
                q->wt[i] = exa_get(r, theta, q->wo + i);
            exa_k_conv_f64(B, q->c, q->hr, q->wp, q->o, q->k, 1, 0, q->slab, sx, q->wt, 0, q->out, sy, q->scratch);
            for (int64_t i = 0; i < B; i++)
                for (int64_t ch = 0; ch < q->o; ch++) {
                    double bias = exa_get(r, theta, q->bo + ch), *y = q->out + i * sy + ch * rows * q->ow;
                    for (int64_t t = 0; t < rows * q->ow; t++) {
                        double v = y[t] + bias;
                        y[t] = q->relu && v < 0 && !q->bn ? 0 : v;
                    }
                }
            if (q->bn)
                bn_forward(N, q, theta, B, rows);
        } else {
            exa_k_maxpool_f64(B, q->c, q->hr, q->wp, q->win, q->st, q->slab, sx, q->out, sy);
        }
    }
    /* the flatten: rank blocks [c][rows][w][B], gathered, into [features, B] */
    const NSpatial *z = &N->sp[N->S - 1];
    int64_t at = 0;
    for (int k = 0; k < P; k++) {
        N->cnt[k] = (int)(z->o * (z->hi[k] - z->lo[k]) * z->ow * B), N->dsp[k] = (int)at;
        at += N->cnt[k];
    }
    int64_t rows = z->hi[me] - z->lo[me];
    double *mine = N->flat + N->dsp[me];
    for (int64_t ch = 0; ch < z->o; ch++)
        for (int64_t rr = 0; rr < rows; rr++)
            for (int64_t col = 0; col < z->ow; col++)
                for (int64_t i = 0; i < B; i++)
                    mine[((ch * rows + rr) * z->ow + col) * B + i] = z->out[((i * z->o + ch) * rows + rr) * z->ow + col];
    exa_comm_allgatherv_f64(cm, N->flat, N->cnt, N->dsp);
    neurons_count_blocks(N, N->cnt);
    for (int k = 0; k < P; k++) {
        int64_t kr = z->hi[k] - z->lo[k];
        const double *blk = N->flat + N->dsp[k];
        for (int64_t ch = 0; ch < z->o; ch++)
            for (int64_t rr = 0; rr < kr; rr++)
                memcpy(N->act[0] + ((ch * z->oh + z->lo[k] + rr) * z->ow) * B, blk + (ch * kr + rr) * z->ow * B,
                       (size_t)(z->ow * B) * sizeof(double));
    }
}

void neurons_front_backward(Neurons *N, const void *theta, double *part, int64_t B)
{
    ExaRun *r = N->base.r;
    const ExaComm *cm = &N->base.comm;
    int P = cm->size, me = cm->rank;
    NSpatial *z = &N->sp[N->S - 1];
    /* the flatten's gradient: rank blocks, reduce-scattered */
    int64_t at = 0;
    for (int k = 0; k < P; k++) {
        int64_t kr = z->hi[k] - z->lo[k];
        for (int64_t ch = 0; ch < z->o; ch++)
            for (int64_t rr = 0; rr < kr; rr++)
                memcpy(N->flat + at + (ch * kr + rr) * z->ow * B, part + ((ch * z->oh + z->lo[k] + rr) * z->ow) * B,
                       (size_t)(z->ow * B) * sizeof(double));
        N->cnt[k] = (int)(z->o * kr * z->ow * B);
        at += N->cnt[k];
    }
    int64_t rows = z->hi[me] - z->lo[me];
    double *mine = N->da; /* wmax * cap doubles: at least the features' */
    exa_comm_reduce_scatter_f64(cm, N->flat, mine, N->cnt);
    neurons_count_blocks(N, N->cnt);
    for (int64_t ch = 0; ch < z->o; ch++)
        for (int64_t rr = 0; rr < rows; rr++)
            for (int64_t col = 0; col < z->ow; col++)
                for (int64_t i = 0; i < B; i++)
                    z->dout[((i * z->o + ch) * rows + rr) * z->ow + col] = mine[((ch * rows + rr) * z->ow + col) * B + i];
    for (int s = N->S - 1; s >= 0; s--) {
        NSpatial *q = &N->sp[s];
        rows = q->hi[me] - q->lo[me];
        int64_t sx = q->c * q->hr * q->wp, sy = q->o * rows * q->ow;
        NSpatial *prev = s > 0 ? &N->sp[s - 1] : NULL;
        if (prev)
            memset(prev->dout, 0, (size_t)(B * prev->o * (prev->hi[me] - prev->lo[me]) * prev->ow) * sizeof(double));
        if (q->bn) /* the sums need every rank */
            bn_backward(N, q, theta, B, rows);
        if (rows > 0 && q->conv) {
            if (q->relu && !q->bn)
                for (int64_t i = 0; i < B * sy; i++)
                    q->dout[i] = q->out[i] > 0 ? q->dout[i] : 0;
            for (int64_t ch = 0; ch < q->o; ch++) {
                double sum = 0;
                for (int64_t i = 0; i < B; i++)
                    for (int64_t t = 0; t < rows * q->ow; t++)
                        sum += q->dout[i * sy + ch * rows * q->ow + t];
                N->g[q->bo + ch] = sum;
            }
            exa_k_conv_grad_w_f64(B, q->c, q->hr, q->wp, q->o, q->k, 1, 0, q->dout, sy, q->slab, sx, N->g + q->wo, 0,
                                  q->scratch);
            if (prev) {
                for (int64_t i = 0; i < q->o * q->c * q->k * q->k; i++)
                    q->wt[i] = exa_get(r, theta, q->wo + i);
                exa_k_conv_grad_x_f64(B, q->c, q->hr, q->wp, q->o, q->k, 1, 0, q->dout, sy, q->wt, 0, q->dslab, sx,
                                      q->scratch);
            }
        } else if (rows > 0 && prev) {
            exa_k_maxpool_grad_f64(B, q->c, q->hr, q->wp, q->win, q->st, q->dout, sy, q->slab, sx, q->dslab, sx);
        } else if (prev) {
            memset(q->dslab, 0, (size_t)(B * sx) * sizeof *q->dslab);
        }
        if (prev) {
            local_rows(q, prev, me, prev->dout, q->dslab, B, 0);
            halo(N, q, prev, prev->dout, q->dslab, B, 0);
        }
    }
}

void neurons_front_sum(Neurons *N)
{
    if (N->drop == 2) /* the negative control of tests/grid */
        return;
    for (int s = 0; s < N->S; s++) {
        const NSpatial *q = &N->sp[s];
        if (q->conv) {
            exa_comm_allreduce_sum(&N->base.comm, N->g + q->wo, (size_t)(q->o * q->c * q->k * q->k), EXA_REAL_F64);
            exa_comm_allreduce_sum(&N->base.comm, N->g + q->bo, (size_t)q->o, EXA_REAL_F64);
            neurons_count_allreduce(N, (double)(q->o * q->c * q->k * q->k + q->o));
        }
        if (q->bn) {
            exa_comm_allreduce_sum(&N->base.comm, N->g + q->go, (size_t)q->o, EXA_REAL_F64);
            exa_comm_allreduce_sum(&N->base.comm, N->g + q->gb, (size_t)q->o, EXA_REAL_F64);
            neurons_count_allreduce(N, (double)(2 * q->o));
        }
    }
}

void neurons_front_reserve(Neurons *N, int64_t B)
{
    int me = N->base.comm.rank;
    for (int s = 0; s < N->S; s++) {
        NSpatial *q = &N->sp[s];
        free(q->slab), free(q->dslab), free(q->out), free(q->dout);
        q->slab = solver_alloc(B * q->c * q->hr * q->wp, sizeof(double));
        q->dslab = solver_alloc(B * q->c * q->hr * q->wp, sizeof(double));
        q->out = solver_alloc(B * q->o * (q->hi[me] - q->lo[me]) * q->ow, sizeof(double));
        if (q->bn) {
            free(q->xhat);
            q->xhat = solver_alloc(imax(B * q->o * (q->hi[me] - q->lo[me]) * q->ow, 1), sizeof(double));
        }
        q->dout = solver_alloc(B * q->o * (q->hi[me] - q->lo[me]) * q->ow, sizeof(double));
    }
    if (N->S > 0) {
        const NSpatial *z = &N->sp[N->S - 1];
        free(N->flat);
        N->flat = solver_alloc(z->o * z->oh * z->ow * B, sizeof(double));
    }
}

void neurons_front_free(Neurons *N)
{
    for (int s = 0; N->sp && s < N->S; s++) {
        NSpatial *q = &N->sp[s];
        free(q->lo), free(q->hi), free(q->need0), free(q->need1);
        free(q->slab), free(q->dslab), free(q->out), free(q->dout), free(q->wt), free(q->scratch);
        free(q->xhat), free(q->mu), free(q->inv), free(q->sums);
    }
    free(N->sp), free(N->flat);
}

/* batch_norm2d's params and where its batch statistics go in stat_batch
 * (the program's batchstat records, in their order). */
int neurons_bn_params(const ExaProgram *p, const ExaChainLayer *cl, int64_t n, int64_t *go, int64_t *gb, int *smean,
                      int *svar, char *err, size_t errlen)
{
    const ExaParamInfo *g = &p->params[cl->bn_g], *b = &p->params[cl->bn_b];
    const ExaParamInfo *mr = &p->params[cl->bn_mean], *vr = &p->params[cl->bn_var];
    if (g->size != n || b->size != n || mr->size != n || vr->size != n) {
        snprintf(err, errlen, "batch norm %s needs %lld values per parameter", g->path, (long long)n);
        return -1;
    }
    *go = g->offset, *gb = b->offset, *smean = *svar = -1;
    for (int i = 0, at = 0; i < p->nbatchstats; at += (int)p->batchstats[i].size, i++) {
        if (p->batchstats[i].offset == mr->offset)
            *smean = at;
        if (p->batchstats[i].offset == vr->offset)
            *svar = at;
    }
    if (*smean < 0 || *svar < 0) {
        snprintf(err, errlen, "batch norm's running statistics %s are not the program's", mr->path);
        return -1;
    }
    return 0;
}

static int bn_create(const ExaProgram *p, const ExaChainLayer *cl, NSpatial *q, char *err, size_t errlen)
{
    if (neurons_bn_params(p, cl, q->o, &q->go, &q->gb, &q->smean, &q->svar, err, errlen) != 0)
        return -1;
    q->mu = solver_alloc(q->o, sizeof(double)), q->inv = solver_alloc(q->o, sizeof(double));
    q->sums = solver_alloc(2 * q->o, sizeof(double));
    return 0;
}

int neurons_front_create(Neurons *N, int *first_dense, char *err, size_t errlen)
{
    ExaRun *r = N->base.r;
    const ExaProgram *p = r->prog;
    int P = N->base.comm.size, me = N->base.comm.rank;
    int S = 0;
    while (S < p->nlayers && (p->layers[S].kind == EXA_LAYER_CONV || p->layers[S].kind == EXA_LAYER_POOL))
        S++;
    *first_dense = S;
    if (S == 0)
        return 0;
    if (S >= p->nlayers || p->layers[S].kind != EXA_LAYER_FLATTEN) {
        snprintf(err, errlen, "the convolutions need a flatten before the dense layers");
        return -1;
    }
    *first_dense = S + 1;
    if (r->train.shape.rank != 3) {
        snprintf(err, errlen, "the convolutions need images [channels, height, width]; the training set's "
                 "samples have %d dimensions", r->train.shape.rank);
        return -1;
    }
    N->S = S;
    N->sp = calloc((size_t)S, sizeof *N->sp);
    if (!N->sp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t c = r->train.shape.dim[0], h = r->train.shape.dim[1], w = r->train.shape.dim[2];
    for (int s = 0; s < S; s++) {
        const ExaChainLayer *cl = &p->layers[s];
        NSpatial *q = &N->sp[s];
        q->conv = cl->kind == EXA_LAYER_CONV, q->relu = cl->relu;
        q->c = c, q->h = h, q->w = w;
        if (q->conv) {
            const ExaParamInfo *W = &p->params[cl->w];
            if (W->shape.dim[1] != c) {
                snprintf(err, errlen, "convolution %d takes %lld channels and gets %lld", s + 1,
                         (long long)W->shape.dim[1], (long long)c);
                return -1;
            }
            q->o = W->shape.dim[0], q->k = W->shape.dim[2], q->pad = cl->padding;
            q->wo = W->offset, q->bo = p->params[cl->b].offset;
            q->oh = h + 2 * q->pad - q->k + 1, q->ow = w + 2 * q->pad - q->k + 1;
            q->wp = w + 2 * q->pad;
            if ((q->bn = cl->bn_g >= 0) && bn_create(p, cl, q, err, errlen) != 0)
                return -1;
        } else {
            q->o = c, q->win = cl->window, q->st = cl->stride;
            q->oh = h < q->win ? 0 : (h - q->win) / q->st + 1, q->ow = w < q->win ? 0 : (w - q->win) / q->st + 1;
            q->wp = w;
        }
        if (q->oh < 1 || q->ow < 1) {
            snprintf(err, errlen, "layer %d of the front leaves no image", s + 1);
            return -1;
        }
        q->lo = calloc((size_t)P, sizeof *q->lo), q->hi = calloc((size_t)P, sizeof *q->hi);
        q->need0 = calloc((size_t)P, sizeof *q->need0), q->need1 = calloc((size_t)P, sizeof *q->need1);
        if (!q->lo || !q->hi || !q->need0 || !q->need1) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int k = 0; k < P; k++) {
            int64_t lo, n;
            exa_data_shard(q->oh, k, P, &lo, &n);
            q->lo[k] = (int)lo, q->hi[k] = (int)(lo + n);
            if (n == 0)
                q->need0[k] = q->need1[k] = (int)(q->conv ? lo - q->pad : lo * q->st);
            else if (q->conv)
                q->need0[k] = (int)(lo - q->pad), q->need1[k] = (int)(lo + n - 1 + q->k - q->pad);
            else
                q->need0[k] = (int)(lo * q->st), q->need1[k] = (int)((lo + n - 1) * q->st + q->win);
        }
        q->hr = q->need1[me] - q->need0[me];
        if (q->conv) {
            int64_t rows = q->hi[me] - q->lo[me];
            q->wt = solver_alloc(q->o * q->c * q->k * q->k, sizeof(double));
            q->scratch = solver_alloc(imax(q->c * q->k * q->k * rows * q->ow, 1), sizeof(double));
        }
        c = q->o, h = q->oh, w = q->ow;
    }
    int64_t F = c * h * w;
    if (S + 1 >= p->nlayers || p->layers[S + 1].kind != EXA_LAYER_DENSE || p->params[p->layers[S + 1].w].shape.dim[1] != F) {
        snprintf(err, errlen, "the flatten gives %lld features and the first dense layer takes others", (long long)F);
        return -1;
    }
    return 0;
}
