/* kernels_t.c - the type-generic body of the kernels, included once per type
 * (by kernels_f32.c and kernels_f64.c) with `real` (EXA_K_REAL), FN(name)
 * and GEMM defined; see kernels.c.  Shapes in comments are per problem (per
 * sample, or the one uniform tensor). */
#ifdef EXA_K_REAL
#define real EXA_K_REAL

/* ---- matrix products --------------------------------------------------- */

static int FN(gemm_narrow_try)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *a,
                               int64_t lda, const real *b, int64_t ldb, real beta, real *c, int64_t ldc);

/* A product split over exa's threads (exa_k_blas_gemm): task t computes
 * C's rows [t block, (t + 1) block), or those columns when by_rows is 0. */
typedef struct {
    int ta, tb, by_rows;
    int64_t m, n, k, block;
    real alpha, beta;
    const real *a, *b;
    real *c;
    int64_t lda, ldb, ldc;
} FN(BlasJob);

static void FN(blas_part)(void *ctx, int64_t task, int worker)
{
    (void)worker;
    const FN(BlasJob) *j = ctx;
    int64_t lo = task * j->block, dim = j->by_rows ? j->m : j->n;
    int64_t len = dim - lo < j->block ? dim - lo : j->block;
    const real *a = j->a, *b = j->b;
    real *c = j->c;
    if (j->by_rows) /* rows lo.. of op(A) and of C */
        a += j->ta ? lo : lo * j->lda, c += lo * j->ldc;
    else /* columns lo.. of op(B) and of C */
        b += j->tb ? lo * j->ldb : lo, c += lo;
    int64_t m = j->by_rows ? len : j->m, n = j->by_rows ? j->n : len;
    GEMM(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, (int)m,
         (int)n, (int)j->k, j->alpha, a, (int)(j->lda > 0 ? j->lda : 1), b, (int)(j->ldb > 0 ? j->ldb : 1),
         j->beta, c, (int)(j->ldc > 0 ? j->ldc : 1));
}

/* C = alpha op(A) op(B) + beta C by OpenBLAS, which libexa holds at one
 * thread (exa_k_blas_hold_one says why).  A product of at least
 * EXA_K_GEMM_SPLIT_MIN multiply-adds is split over exa's threads instead:
 * C's rows or its columns (below) in parts of whole 16s, one
 * single-threaded OpenBLAS call a part.
 *
 * Results must not depend on --threads, and OpenBLAS picks its kernel by
 * the shape of each call: its small-matrix kernels (SkylakeX's, up to about
 * EXA_K_BLAS_SMALL_MAX multiply-adds) sum over k in another order than its
 * blocked ones.  So where a part may go to them, the parts depend on the
 * product's shape alone and one thread runs them one after another: two at
 * least, so that two threads share any product split; more for wide ones,
 * each at least 512 wide, at most 8.  A part re-packs the operand all parts
 * share, which costs one thread 10-15% of 256x1024 by 1024x1024 at two parts
 * of 512 (session 8).  So where every part is past the small kernels, in
 * f32 on OpenBLAS's SkylakeX kernels, the split is one part a thread (one
 * call at one thread): there the blocked kernels give each element of C the
 * same bits whatever the split into whole 16s (17 shapes, every transpose,
 * alpha 1 and 0.75, beta 0, 0.5 and 1, checked against one call, session
 * 11; its dgemm did not: 600x300 by 300x80 in rows of 304).  cg_kernels checks
 * 1 against 3 threads bit for bit, both ways. */
void FN(exa_k_blas_gemm)(int ta, int tb, int64_t m, int64_t n, int64_t k, real alpha, const real *a,
                         int64_t lda, const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
    /* By C's rows or its columns.  Each part of a split by rows reads all
     * of op(B) (k x n); by columns, all of op(A) (m x k) and a strip of
     * every row of C.  The loops around a product take C in contiguous
     * rows (a weight: the forward's panels of it, the optimiser's ranges,
     * grad_sync's), so C split by columns moves between the cores each
     * step: (a)'s 128x784 weight gradient over 100 rows at two threads took
     * 89-93 us a half by columns, 66 by rows (session 12).  So by rows
     * unless op(B) outweighs op(A) and C together (the wide MLP's forward,
     * 256x2048 by 2048x2048, stays by columns), and always along a side
     * of 32 or more where only one has it (below: a thinner one is not
     * split at all). */
    int by_rows = n < 32 || (m >= 32 && n * k <= m * (k + n));
    FN(BlasJob) j = { .ta = ta, .tb = tb, .by_rows = by_rows, .m = m, .n = n, .k = k,
                      .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb,
                      .ldc = ldc };
    int64_t dim = j.by_rows ? m : n, across = (j.by_rows ? n : m) * k;
    /* dim < 32: parts of 16 would leave one too thin to pay for its
     * hand-over (an 8x8 weight gradient over 5000 samples in bench (c)) */
    if (m * n * k < EXA_K_GEMM_SPLIT_MIN || dim < 32) {
        j.block = dim;
        FN(blas_part)(&j, 0, 0);
        return;
    }
    int64_t parts = dim / 512 < 2 ? 2 : dim / 512 > 8 ? 8 : dim / 512;
    j.block = ((dim + parts - 1) / parts + 15) / 16 * 16;
    int64_t threads = exa_parallel_threads();
    if (threads < parts && sizeof(real) == 4 && exa_k_blas_skylakex()) {
        int64_t block = ((dim + threads - 1) / threads + 15) / 16 * 16;
        /* the smallest part of either split: the last */
        int64_t last = dim - (dim - 1) / j.block * j.block, last_t = dim - (dim - 1) / block * block;
        if ((double)(last < last_t ? last : last_t) * (double)across > EXA_K_BLAS_SMALL_MAX)
            j.block = block;
    }
    exa_parallel_for((dim + j.block - 1) / j.block, FN(blas_part), &j);
}

/* C_i [m, n] = op(A_i) [m, k] op(B_i) [k, n] + beta C_i; summed into one C
 * when sc == 0 (a weight gradient over the batch). */
void FN(exa_k_gemm)(int64_t count, int ta, int tb, int64_t m, int64_t n, int64_t k,
                    const real *a, int64_t lda, int64_t sa, const real *b, int64_t ldb,
                    int64_t sb, real beta, real *c, int64_t ldc, int64_t sc)
{
    if (m == 0 || n == 0)
        return;
    for (int64_t i = 0; i < count; i++) {
        real bi = sc == 0 && i > 0 ? 1 : beta;
        if (FN(gemm_narrow_try)(ta, tb, m, n, k, a + i * sa, lda, b + i * sb, ldb, bi, c + i * sc, ldc))
            continue; /* kernels_vec_t.c: measured faster than OpenBLAS for its shapes */
        FN(exa_k_blas_gemm)(ta, tb, m, n, k, 1, a + i * sa, lda, b + i * sb, ldb, bi, c + i * sc, ldc);
    }
}

/* OpenBLAS's alpha and beta 1 (exa's own kernels have no alpha): the
 * products are the weight gradients of large layers, OpenBLAS's either way
 * (exa_k_gemm_small_blas, the tiles' bounds) or near it. */
void FN(exa_k_gemm_sgd)(ExaSgdFused *s, int64_t count, int ta, int tb, int64_t m, int64_t n, int64_t k,
                        const real *a, int64_t lda, int64_t sa, const real *b, int64_t ldb, int64_t sb,
                        real *c)
{
    for (int64_t i = 0; i < count; i++)
        FN(exa_k_blas_gemm)(ta, tb, m, n, k, (real)s->alpha, a + i * sa, lda, b + i * sb, ldb, 1, c, n);
    if (s->n < s->cap) {
        s->done[s->n][0] = c - (const real *)s->theta;
        s->done[s->n][1] = m * n;
    }
    s->n++; /* past cap: the caller sees more ranges than it has room for */
}

void FN(exa_k_gemm_ref)(int64_t count, int ta, int tb, int64_t m, int64_t n, int64_t k,
                        const real *a, int64_t lda, int64_t sa, const real *b, int64_t ldb,
                        int64_t sb, real beta, real *c, int64_t ldc, int64_t sc)
{
    for (int64_t s = 0; s < count; s++) {
        const real *as = a + s * sa, *bs = b + s * sb;
        real *cs = c + s * sc, bi = sc == 0 && s > 0 ? 1 : beta;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                real acc = 0;
                for (int64_t l = 0; l < k; l++)
                    acc += (ta ? as[l * lda + i] : as[i * lda + l]) * (tb ? bs[j * ldb + l] : bs[l * ldb + j]);
                cs[i * ldc + j] = acc + (bi != 0 ? bi * cs[i * ldc + j] : 0);
            }
    }
}

/* ---- reductions -------------------------------------------------------- */
/* The row-wise kernels here (FN(*_rows)) run on one thread; their exported
 * entry points in kernels_par_t.c split the rows over --threads. */

/* y [outer, inner] = reduce over len of x [outer, len, inner] */
static void FN(reduce_rows)(int op, int64_t outer, int64_t len, int64_t inner, const real *x, real *y)
{
    for (int64_t o = 0; o < outer; o++) {
        real *yo = y + o * inner;
        const real *xo = x + o * len * inner;
        for (int64_t i = 0; i < inner; i++)
            yo[i] = op == 2 ? -INFINITY : 0;
        for (int64_t k = 0; k < len; k++) /* rows of x, so the inner loop is contiguous */
            for (int64_t i = 0; i < inner; i++) {
                real t = xo[k * inner + i];
                yo[i] = op == 2 ? (t > yo[i] || yo[i] != yo[i] ? t : yo[i]) : yo[i] + t;
            }
        if (op == 1)
            for (int64_t i = 0; i < inner; i++)
                yo[i] /= (real)len;
    }
}

/* y [rows] = log sum exp of each row of x [rows, n] */
static void FN(logsumexp_rows)(int64_t rows, int64_t n, const real *x, real *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const real *xr = x + r * n;
        real mx = -INFINITY, acc = 0;
        for (int64_t i = 0; i < n; i++)
            mx = xr[i] > mx ? xr[i] : mx;
        for (int64_t i = 0; i < n; i++)
            acc += exp(xr[i] - mx);
        y[r] = mx + log(acc);
    }
}

/* y [rows, n] = softmax of each row of x [rows, n] */
static void FN(softmax_rows)(int64_t rows, int64_t n, const real *x, real *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const real *xr = x + r * n;
        real *yr = y + r * n, mx = -INFINITY, acc = 0;
        for (int64_t i = 0; i < n; i++)
            mx = xr[i] > mx ? xr[i] : mx;
        for (int64_t i = 0; i < n; i++)
            acc += yr[i] = exp(xr[i] - mx);
        real inv = 1 / acc;
        for (int64_t i = 0; i < n; i++)
            yr[i] *= inv;
    }
}

/* y = x, then summed over the ranks sharing the mini-batch (exa_batch_sum) */
void FN(exa_k_batch_sum)(int64_t n, const real *x, real *y, int64_t batch, int weighted)
{
    if (y != x)
        memmove(y, x, (size_t)n * sizeof *y);
    exa_batch_sum(y, n, (int)sizeof *y, batch, weighted);
}

/* y [n] = the sum of the rows of x [rows, n] (rows ldx apart): a bias
 * gradient, the batch summed away.  Rows go in turn to 4 partial sums (the
 * rows past the last whole turn to the first), then y = (s0 + s1) + (s2 +
 * s3): four independent chains of adds where one waited on each add's
 * latency.  The order is fixed by the shape alone; kernels_vec_t.c's
 * vector version adds in the same order, lane by lane, so both give the
 * same sums. */
#define RT_COLS 64
static void FN(sum_rows)(int64_t rows, int64_t n, int64_t ldx, const real *restrict x, real *restrict y)
{
    for (int64_t c0 = 0; c0 < n; c0 += RT_COLS) {
        int64_t w = n - c0 < RT_COLS ? n - c0 : RT_COLS, r = 0;
        real s[4][RT_COLS];
        for (int q = 0; q < 4; q++)
            for (int64_t i = 0; i < w; i++)
                s[q][i] = 0;
        const real *xc = x + c0;
        for (; r + 4 <= rows; r += 4)
            for (int q = 0; q < 4; q++)
                for (int64_t i = 0; i < w; i++)
                    s[q][i] += xc[(r + q) * ldx + i];
        for (; r < rows; r++)
            for (int64_t i = 0; i < w; i++)
                s[0][i] += xc[r * ldx + i];
        for (int64_t i = 0; i < w; i++)
            y[c0 + i] = (s[0][i] + s[1][i]) + (s[2][i] + s[3][i]);
    }
}
#undef RT_COLS

static int FN(sum_rows_try)(int64_t rows, int64_t n, const real *x, real *y);

/* The sum of x [n] (contiguous): 32 partial sums (4 sets of 8 lanes, which
 * the compiler keeps in vector registers: one running sum is a chain of
 * scalar adds it may not reorder), the 8 lanes' rest into set 0, the sets
 * added pairwise, the lanes pairwise, then the elements past the last 8.
 * The order is fixed by n alone. */
static real FN(sum_contig)(int64_t n, const real *restrict x)
{
    real part[4][8] = { { 0 } }, acc = 0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int q = 0; q < 4; q++)
            for (int l = 0; l < 8; l++)
                part[q][l] += x[i + 8 * q + l];
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            part[0][l] += x[i + l];
    real lane[8];
    for (int l = 0; l < 8; l++)
        lane[l] = (part[0][l] + part[1][l]) + (part[2][l] + part[3][l]);
    acc = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++)
        acc += x[i];
    return acc;
}

/* y [ysize] = sum of x [dim...] into y[sum_d i_d ystride[d]] */
void FN(exa_k_reduce_to)(int ndim, const int64_t *dim, const int64_t *ystride, const real *x,
                         real *y, int64_t ysize)
{
    if (ndim >= 2 && ystride[ndim - 1] == 1 && ysize == dim[ndim - 1]) {
        int64_t rows = 1, d = 0;
        for (; d < ndim - 1 && ystride[d] == 0; d++)
            rows *= dim[d];
        if (d == ndim - 1) { /* every dim but the last summed: column sums */
            if (!FN(sum_rows_try)(rows, dim[ndim - 1], x, y))
                FN(sum_rows)(rows, dim[ndim - 1], dim[ndim - 1], x, y);
            return;
        }
    }
    memset(y, 0, (size_t)ysize * sizeof *y);
    if (ndim == 0) {
        y[0] += x[0];
        return;
    }
    /* Dims of 1 dropped, and neighbours that step through y alike merged
     * (both summed, or d's stride d+1's times its size): a conv bias's
     * gradient, x [B, C, H, W] into y [C], is [B, C, H*W] with H*W summed
     * in one contiguous run per (sample, channel), where a run per row of W
     * (24 or 8 in LeNet) and the index arithmetic per run cost 4 times as
     * much. */
    int64_t dm[8], ysm[8];
    int nd = 0;
    for (int d = 0; d < ndim; d++) {
        if (dim[d] == 1)
            continue;
        if (nd > 0 && ysm[nd - 1] == ystride[d] * dim[d]) {
            dm[nd - 1] *= dim[d];
            ysm[nd - 1] = ystride[d];
            continue;
        }
        dm[nd] = dim[d], ysm[nd++] = ystride[d];
    }
    if (nd == 0) { /* every dim 1: one element */
        y[0] += x[0];
        return;
    }
    int64_t idx[8] = { 0 }, n = dm[nd - 1], ys = ysm[nd - 1], outer = 1;
    for (int d = 0; d < nd - 1; d++)
        outer *= dm[d];
    for (int64_t o = 0; o < outer; o++) {
        int64_t yo = 0;
        for (int d = 0; d < nd - 1; d++)
            yo += idx[d] * ysm[d];
        const real *xo = x + o * n;
        if (ys == 0) { /* the innermost dim is summed */
            y[yo] += FN(sum_contig)(n, xo);
        } else {
            real *yp = y + yo;
            for (int64_t i = 0; i < n; i++)
                yp[i * ys] += xo[i];
        }
        for (int d = nd - 2; d >= 0 && ++idx[d] == dm[d]; d--)
            idx[d] = 0;
    }
}

/* ---- data movement ----------------------------------------------------- */

/* y_i [c, r] = x_i [r, c]^T, in 32x32 tiles so both sides stay in cache */
static void FN(transpose_rows)(int64_t count, int64_t r, int64_t c, const real *x, int64_t sx, real *y)
{
    for (int64_t s = 0; s < count; s++) {
        const real *xs = x + s * sx;
        real *ys = y + s * r * c;
        for (int64_t i0 = 0; i0 < r; i0 += 32)
            for (int64_t j0 = 0; j0 < c; j0 += 32)
                for (int64_t i = i0; i < r && i < i0 + 32; i++)
                    for (int64_t j = j0; j < c && j < j0 + 32; j++)
                        ys[j * r + i] = xs[i * c + j];
    }
}

/* The slice as runs of contiguous elements: the dims from `inner` on are
 * walked by one run of `run` elements (the last dim, and the dims before it
 * while the slice spans them whole); the dims before `inner` index the runs. */
static int64_t FN(slice_runs)(int rank, const int64_t *big, const int64_t *small, int *inner)
{
    int64_t run = 1;
    int d = rank - 1;
    for (; d >= 0; d--) {
        run *= small[d];
        if (small[d] != big[d])
            break;
    }
    *inner = d < 0 ? 0 : d;
    return run;
}

/* Offset in big of run r of the slice (r over the dims before inner, row-major). */
static int64_t FN(run_start)(int64_t r, int rank, int inner, const int64_t *big, const int64_t *lo,
                             const int64_t *small)
{
    int64_t at = 0, stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        if (d < inner) {
            at += (r % small[d] + lo[d]) * stride;
            r /= small[d];
        } else {
            at += lo[d] * stride;
        }
        stride *= big[d];
    }
    return at;
}

/* small_i = big_i[lo : lo + small] (mode 0); big_i = 0 plus small_i there
 * (mode 1); big_i[lo : lo + small] += small_i (mode 2); big_i[lo : lo +
 * small] = 0 + small_i, the rest of big_i untouched (mode 3).  A run of contiguous
 * elements at a time: a row of a [T, n] tensor is one run, where an index
 * computation per element (a division per dim) cost more than the copy. */
static void FN(slice_rows)(int64_t count, int rank, const int64_t *big, const int64_t *lo,
                           const int64_t *small, real *bigp, int64_t sbig, real *smallp, int64_t ssmall,
                           int mode)
{
    int64_t nbig = 1, nsmall = 1;
    for (int d = 0; d < rank; d++) {
        nbig *= big[d];
        nsmall *= small[d];
    }
    if (mode == 1)
        memset(bigp, 0, (size_t)(count * nbig) * sizeof *bigp);
    if (nsmall == 0)
        return;
    int inner;
    int64_t run = rank ? FN(slice_runs)(rank, big, small, &inner) : 1, nrun = nsmall / run;
    if (!rank)
        inner = 0;
    /* one run a sample (a row of a recurrence's [T, n] product): the samples'
     * runs lie sbig apart, pages apart, where the hardware prefetcher does not
     * follow; ask for the run PREFETCH_AHEAD samples on while this one copies */
    enum { PREFETCH_AHEAD = 6 };
    int64_t start0 = nrun == 1 ? FN(run_start)(0, rank, inner, big, lo, small) : -1;
    for (int64_t s = 0; s < count; s++) {
        real *bs = bigp + s * sbig, *ss = smallp + s * ssmall;
        if (start0 >= 0 && s + PREFETCH_AHEAD < count)
            for (int64_t f = 0; f < run; f += 64 / (int64_t)sizeof(real)) {
                if (mode == 0)
                    __builtin_prefetch(bs + PREFETCH_AHEAD * sbig + start0 + f, 0);
                else
                    __builtin_prefetch(bs + PREFETCH_AHEAD * sbig + start0 + f, 1);
            }
        for (int64_t r = 0; r < nrun; r++) {
            real *bp = bs + FN(run_start)(r, rank, inner, big, lo, small), *sp = ss + r * run;
            if (mode == 0)
                memcpy(sp, bp, (size_t)run * sizeof *sp);
            else if (mode == 3) /* 0 + x: what the zero-fill and the addition gave (-0 is +0) */
                for (int64_t f = 0; f < run; f++)
                    bp[f] = (real)0 + sp[f];
            else
                for (int64_t f = 0; f < run; f++)
                    bp[f] += sp[f];
        }
    }
}

void FN(exa_k_slice)(int64_t count, int rank, const int64_t *big, const int64_t *lo,
                     const int64_t *small, real *bigp, int64_t sbig, real *smallp,
                     int64_t ssmall, int to_big)
{
    FN(slice_rows)(count, rank, big, lo, small, bigp, sbig, smallp, ssmall, to_big ? 1 : 0);
}

void FN(exa_k_slice_add)(int64_t count, int rank, const int64_t *big, const int64_t *lo,
                         const int64_t *small, real *bigp, int64_t sbig, const real *smallp,
                         int64_t ssmall)
{
    FN(slice_rows)(count, rank, big, lo, small, bigp, sbig, (real *)smallp, ssmall, 2);
}

void FN(exa_k_slice_put)(int64_t count, int rank, const int64_t *big, const int64_t *lo,
                         const int64_t *small, real *bigp, int64_t sbig, const real *smallp,
                         int64_t ssmall)
{
    FN(slice_rows)(count, rank, big, lo, small, bigp, sbig, (real *)smallp, ssmall, 3);
}

/* y_i [na + nb] = a_i [na] ++ b_i [nb] */
static void FN(concat_rows)(int64_t count, int64_t na, const real *a, int64_t sa, int64_t nb,
                      const real *b, int64_t sb, real *y)
{
    for (int64_t s = 0; s < count; s++) {
        memcpy(y + s * (na + nb), a + s * sa, (size_t)na * sizeof *y);
        memcpy(y + s * (na + nb) + na, b + s * sb, (size_t)nb * sizeof *y);
    }
}

/* y_i [] = a_i [n] at label_i */
void FN(exa_k_pick)(int64_t count, int64_t n, const real *a, int64_t sa, const int32_t *label, real *y)
{
    (void)n;
    for (int64_t s = 0; s < count; s++)
        y[s] = a[s * sa + label[s]];
}

/* y_i [n] = 0 with g_i [] at label_i */
void FN(exa_k_pick_grad)(int64_t count, int64_t n, const real *g, int64_t sg, const int32_t *label, real *y)
{
    memset(y, 0, (size_t)(count * n) * sizeof *y);
    for (int64_t s = 0; s < count; s++)
        y[s * n + label[s]] = g[s * sg];
}

/* ---- convolution: im2col + GEMM ---------------------------------------- */

/* The output columns j in [*j0, *j1) whose tap q lands inside a row of width
 * w: 0 <= j*stride + q - pad < w.  Hoisting this out of the inner loops
 * leaves them branch-free (a copy or an add the compiler vectorises); with
 * the test per element, im2col was a third of LeNet's training time. */
static void FN(tap_range)(int64_t q, int64_t stride, int64_t pad, int64_t w, int64_t ow, int64_t *j0,
                          int64_t *j1)
{
    int64_t lo = pad - q, hi = w + pad - q; /* j*stride in [lo, hi) */
    *j0 = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    *j1 = hi <= 0 ? 0 : (hi + stride - 1) / stride;
    *j1 = *j1 < ow ? *j1 : ow;
    *j0 = *j0 < *j1 ? *j0 : *j1;
}

/* col [c*kk*kk, oh*ow] (rows ld apart) from x [c, h, w]: row (ci, p, q)
 * holds, for every output position, the input element under kernel tap
 * (p, q), 0 in padding. */
static void FN(im2col)(int64_t c, int64_t h, int64_t w, int64_t kk, int64_t stride, int64_t pad,
                       int64_t oh, int64_t ow, const real *restrict x, real *restrict col, int64_t ld)
{
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t p = 0; p < kk; p++)
            for (int64_t q = 0; q < kk; q++) {
                real *row = col + ((ci * kk + p) * kk + q) * ld;
                int64_t j0, j1;
                FN(tap_range)(q, stride, pad, w, ow, &j0, &j1);
                for (int64_t i = 0; i < oh; i++) {
                    int64_t r = i * stride + p - pad;
                    real *out = row + i * ow;
                    if (r < 0 || r >= h) {
                        memset(out, 0, (size_t)ow * sizeof *out);
                        continue;
                    }
                    int64_t at = (ci * h + r) * w + q - pad; /* x[at + j*stride], j >= j0 */
                    for (int64_t j = 0; j < j0; j++)
                        out[j] = 0;
                    if (stride == 1) {
                        /* rows are short (24, 8 in LeNet): fixed 8-element
                         * copies compile to vector moves, where a copy loop
                         * becomes a memcpy call per row */
                        int64_t j = j0;
                        for (; j + 8 <= j1; j += 8)
                            memcpy(out + j, x + at + j, 8 * sizeof *out);
                        for (; j < j1; j++)
                            out[j] = x[at + j];
                    }
                    else
                        for (int64_t j = j0; j < j1; j++)
                            out[j] = x[at + j * stride];
                    for (int64_t j = j1; j < ow; j++)
                        out[j] = 0;
                }
            }
}

/* dx [c, h, w] += col [c*kk*kk, oh*ow] (rows ld apart) scattered back
 * (im2col's adjoint) */
static void FN(col2im)(int64_t c, int64_t h, int64_t w, int64_t kk, int64_t stride, int64_t pad,
                       int64_t oh, int64_t ow, const real *restrict col, int64_t ld, real *restrict dx)
{
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t p = 0; p < kk; p++)
            for (int64_t q = 0; q < kk; q++) {
                const real *row = col + ((ci * kk + p) * kk + q) * ld;
                int64_t j0, j1;
                FN(tap_range)(q, stride, pad, w, ow, &j0, &j1);
                for (int64_t i = 0; i < oh; i++) {
                    int64_t r = i * stride + p - pad;
                    if (r < 0 || r >= h)
                        continue;
                    int64_t at = (ci * h + r) * w + q - pad; /* dx[at + j*stride], j >= j0 */
                    const real *in = row + i * ow;
                    if (stride == 1)
                        for (int64_t j = j0; j < j1; j++)
                            dx[at + j] += in[j];
                    else
                        for (int64_t j = j0; j < j1; j++)
                            dx[at + j * stride] += in[j];
                }
            }
}

#define CONV_GEOMETRY                                                          \
    int64_t oh = (h + 2 * pad - kk) / stride + 1, ow = (w + 2 * pad - kk) / stride + 1; \
    int64_t ckk = c * kk * kk, np = oh * ow

/* y_i [o, oh*ow] = W [o, c*kk*kk] @ im2col(x_i), im2col(x_i) at scratch +
 * i*scol.  One GEMM per sample: one GEMM per 4 to 32 samples (im2col side by
 * side) was no faster on LeNet at batch 100, 32 was 20% slower (OpenBLAS's
 * small-matrix kernels suit these sizes; the big GEMM packs its operands). */
static void FN(conv_into)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                          int64_t stride, int64_t pad, const real *x, int64_t sx, const real *wt,
                          int64_t sw, real *y, int64_t sy, real *scratch, int64_t scol)
{
    CONV_GEOMETRY;
    for (int64_t s = 0; s < count; s++) {
        real *col = scratch + s * scol;
        FN(im2col)(c, h, w, kk, stride, pad, oh, ow, x + s * sx, col, np);
        FN(exa_k_gemm)(1, 0, 0, o, np, ckk, wt + s * sw, ckk, 0, col, np, 0, 0, y + s * sy, np, 0);
    }
}

void FN(exa_k_conv)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                    int64_t stride, int64_t pad, const real *x, int64_t sx, const real *wt,
                    int64_t sw, real *y, int64_t sy, real *scratch)
{
    FN(conv_into)(count, c, h, w, o, kk, stride, pad, x, sx, wt, sw, y, sy, scratch, 0);
}

void FN(exa_k_conv_keep)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                         int64_t stride, int64_t pad, const real *x, int64_t sx, const real *wt,
                         int64_t sw, real *y, int64_t sy, real *cols)
{
    CONV_GEOMETRY;
    (void)oh;
    FN(conv_into)(count, c, h, w, o, kk, stride, pad, x, sx, wt, sw, y, sy, cols, ckk * np);
}

/* dx_i = col2im(W^T [c*kk*kk, o] @ g_i [o, oh*ow]) */
void FN(exa_k_conv_grad_x)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                           int64_t stride, int64_t pad, const real *g, int64_t sg, const real *wt,
                           int64_t sw, real *dx, int64_t sdx, real *scratch)
{
    CONV_GEOMETRY;
    for (int64_t s = 0; s < count; s++) {
        FN(exa_k_gemm)(1, 1, 0, ckk, np, o, wt + s * sw, ckk, 0, g + s * sg, np, 0, 0, scratch, np, 0);
        memset(dx + s * sdx, 0, (size_t)(c * h * w) * sizeof *dx);
        FN(col2im)(c, h, w, kk, stride, pad, oh, ow, scratch, np, dx + s * sdx);
    }
}

/* dW [o, c*kk*kk] (+)= g_i [o, oh*ow] @ im2col(x_i)^T, one dW per sample or
 * summed over them (sdw == 0); im2col(x_i) made in scratch, or read from
 * kept + i*ckk*np (exa_k_conv_keep's) when kept is not NULL. */
static void FN(conv_grad_w_from)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                                 int64_t stride, int64_t pad, const real *g, int64_t sg, const real *x,
                                 int64_t sx, real *dw, int64_t sdw, real *scratch, const real *kept)
{
    CONV_GEOMETRY;
    if (count == 0 && sdw == 0)
        memset(dw, 0, (size_t)(o * ckk) * sizeof *dw);
    for (int64_t s = 0; s < count; s++) {
        const real *col = kept ? kept + s * ckk * np : scratch;
        if (!kept)
            FN(im2col)(c, h, w, kk, stride, pad, oh, ow, x + s * sx, scratch, np);
        real beta = sdw == 0 && s > 0 ? 1 : 0;
        FN(exa_k_gemm)(1, 0, 1, o, ckk, np, g + s * sg, np, 0, col, np, 0, beta, dw + s * sdw, ckk, 0);
    }
}

void FN(exa_k_conv_grad_w)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                           int64_t stride, int64_t pad, const real *g, int64_t sg, const real *x,
                           int64_t sx, real *dw, int64_t sdw, real *scratch)
{
    FN(conv_grad_w_from)(count, c, h, w, o, kk, stride, pad, g, sg, x, sx, dw, sdw, scratch, NULL);
}

void FN(exa_k_conv_grad_w_kept)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                                int64_t stride, int64_t pad, const real *g, int64_t sg, real *dw,
                                int64_t sdw, const real *cols)
{
    FN(conv_grad_w_from)(count, c, h, w, o, kk, stride, pad, g, sg, NULL, 0, dw, sdw, NULL, cols);
}

/* y [o, oh, ow] = conv(x [c, h, w], W [o, c, kk, kk]) by the definition */
void FN(exa_k_conv_ref)(int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk, int64_t stride,
                        int64_t pad, const real *x, const real *wt, real *y)
{
    CONV_GEOMETRY;
    (void)ckk;
    (void)np;
    for (int64_t oc = 0; oc < o; oc++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                real acc = 0;
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t p = 0; p < kk; p++)
                        for (int64_t q = 0; q < kk; q++) {
                            int64_t r = i * stride + p - pad, t = j * stride + q - pad;
                            if (r >= 0 && r < h && t >= 0 && t < w)
                                acc += x[(ci * h + r) * w + t] * wt[((oc * c + ci) * kk + p) * kk + q];
                        }
                y[(oc * oh + i) * ow + j] = acc;
            }
}
#undef CONV_GEOMETRY

/* ---- max pooling ------------------------------------------------------- */

/* The index in x of the first maximum of the window at output (i, j) of
 * channel ch. */
static inline int64_t FN(window_argmax)(const real *x, int64_t h, int64_t w, int64_t window, int64_t stride,
                                        int64_t ch, int64_t i, int64_t j)
{
    int64_t best = (ch * h + i * stride) * w + j * stride;
    for (int64_t p = 0; p < window; p++)
        for (int64_t q = 0; q < window; q++) {
            int64_t at = (ch * h + i * stride + p) * w + j * stride + q;
            if (x[at] > x[best])
                best = at;
        }
    return best;
}

/* The same for a 2x2 window at stride 2, the common case, without branches:
 * the data-dependent branches of the loop above mispredict half the time
 * (maxpool_grad was 12% of LeNet's training step). */
static inline int64_t FN(argmax2x2)(const real *x, int64_t h, int64_t w, int64_t ch, int64_t i, int64_t j)
{
    int64_t at = (ch * h + 2 * i) * w + 2 * j, k = at;
    real m = x[at];
    k = x[at + 1] > m ? at + 1 : k;
    m = x[at + 1] > m ? x[at + 1] : m;
    k = x[at + w] > m ? at + w : k;
    m = x[at + w] > m ? x[at + w] : m;
    return x[at + w + 1] > m ? at + w + 1 : k;
}

static inline int64_t FN(pool_argmax)(const real *x, int64_t h, int64_t w, int64_t window, int64_t stride,
                                      int64_t ch, int64_t i, int64_t j)
{
    return window == 2 && stride == 2 ? FN(argmax2x2)(x, h, w, ch, i, j)
                                      : FN(window_argmax)(x, h, w, window, stride, ch, i, j);
}

EXA_K_INLINE void FN(maxpool_sample)(int64_t c, int64_t h, int64_t w, int64_t window, int64_t stride,
                                     const real *x, real *y)
{
    int64_t oh = (h - window) / stride + 1, ow = (w - window) / stride + 1;
    if (window == 2 && stride == 2) { /* two input rows per output row, as selects */
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < oh; i++) {
                const real *r0 = x + (ch * h + 2 * i) * w, *r1 = r0 + w;
                real *yo = y + (ch * oh + i) * ow;
                for (int64_t j = 0; j < ow; j++) {
                    real m = r0[2 * j];
                    m = r0[2 * j + 1] > m ? r0[2 * j + 1] : m;
                    m = r1[2 * j] > m ? r1[2 * j] : m;
                    yo[j] = r1[2 * j + 1] > m ? r1[2 * j + 1] : m;
                }
            }
        return;
    }
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                y[(ch * oh + i) * ow + j] = x[FN(window_argmax)(x, h, w, window, stride, ch, i, j)];
}

/* y_i [c, oh, ow] = the maximum of each window of x_i [c, h, w] */
EXA_K_CLONES
static void FN(maxpool_rows)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t window,
                       int64_t stride, const real *x, int64_t sx, real *y, int64_t sy)
{
    for (int64_t s = 0; s < count; s++)
        FN(maxpool_sample)(c, h, w, window, stride, x + s * sx, y + s * sy);
}

EXA_K_INLINE void FN(maxpool_grad_sample)(int64_t c, int64_t h, int64_t w, int64_t window, int64_t stride,
                                          const real *g, const real *x, real *dx)
{
    int64_t oh = (h - window) / stride + 1, ow = (w - window) / stride + 1;
    if (window == 2 && stride == 2 && h % 2 == 0 && w % 2 == 0) {
        /* the windows tile x: each input gets g or 0, written once, with no
         * clearing and no scatter */
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < oh; i++) {
                const real *r0 = x + (ch * h + 2 * i) * w, *r1 = r0 + w;
                real *d0 = dx + (ch * h + 2 * i) * w, *d1 = d0 + w;
                const real *gi = g + (ch * oh + i) * ow;
                for (int64_t j = 0; j < ow; j++) {
                    /* the first of the four equal to their maximum takes
                     * g: float selects only, which vectorise (an int index
                     * of the maximum became branches) */
                    real a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1], gv = gi[j];
                    real m = a > b ? a : b;
                    m = m > c ? m : c;
                    m = m > d ? m : d;
                    d0[2 * j] = a == m ? gv : 0;
                    gv = a == m ? 0 : gv;
                    d0[2 * j + 1] = b == m ? gv : 0;
                    gv = b == m ? 0 : gv;
                    d1[2 * j] = c == m ? gv : 0;
                    d1[2 * j + 1] = c == m ? 0 : gv;
                }
            }
        return;
    }
    memset(dx, 0, (size_t)(c * h * w) * sizeof *dx);
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++)
                dx[FN(pool_argmax)(x, h, w, window, stride, ch, i, j)] += g[(ch * oh + i) * ow + j];
}

/* dx_i [c, h, w] = g_i [c, oh, ow] routed to each window's first maximum */
EXA_K_CLONES
static void FN(maxpool_grad_rows)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t window,
                            int64_t stride, const real *g, int64_t sg, const real *x, int64_t sx,
                            real *dx, int64_t sdx)
{
    for (int64_t s = 0; s < count; s++)
        FN(maxpool_grad_sample)(c, h, w, window, stride, g + s * sg, x + s * sx, dx + s * sdx);
}

/* ---- constants --------------------------------------------------------- */

void FN(exa_k_fill)(int64_t n, real value, real *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = value;
}

void FN(exa_k_basis)(int64_t n, int64_t k, real *y)
{
    memset(y, 0, (size_t)n * sizeof *y);
    y[k] = 1;
}

#undef real
#else
/* Compiled on its own: nothing (kernels_f32.c and kernels_f64.c include the body). */
typedef int exa_kernels_t_is_included_by_kernels_c;
#endif
