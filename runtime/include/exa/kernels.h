/* kernels.h - the compute kernels that generated code calls, for every graph
 * IR op that is not a fused elementwise loop.
 *
 * Every kernel exists as exa_k_NAME_f32 and exa_k_NAME_f64 with the same
 * arguments, `real` standing for float or double (see kernels_t.c for how
 * one source gives both).  The batch is explicit here: `count` is the number
 * of per-sample problems (B for batched values, 1 for uniform ones) and each
 * operand has a per-problem stride in elements, 0 when it is uniform and so
 * shared by all of them.  All matrices are row-major.  Kernels that
 * accumulate (gradients summed over the batch) clear their result first.
 *
 * exa_k_*_ref_* are plain loops beside the fast paths, for tests. */
#ifndef EXA_KERNELS_H
#define EXA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "exa/abi.h"

/* y [n] (elem bytes a real) summed in place over the ranks sharing the
 * mini-batch (comm/batch_sync.c); weighted: in proportion to each rank's
 * `batch` rows, over this rank's.  Nothing on one rank. */
void exa_batch_sum(void *y, int64_t n, int elem, int64_t batch, int weighted);

/* Scratch of the direct convolution kernels, in elements, for x [c, h, w]
 * and w [o, c, kk, kk] at stride 1 with padding pad, on vectors of `lanes`
 * reals: the one formula the kernels (kernels_vec_t.c), exac's fusion plan
 * (fuse.c) and the kernel tests use.  With P the padded input c*(h+2pad)*
 * (w+2pad) (0 without padding) and op = o rounded up to a multiple of lanes:
 *   forward   P (the padded input)
 *   grad_x    c*o*kk*kk (w transposed) + o*(oh+2kk-2)*(ow+2kk-2) (g padded
 *             for the full correlation) + P
 *   grad_w    c*kk*kk*op (dw transposed) + EXA_DCONV_CHUNK*oh*ow*op (a chunk's
 *             g transposed) + EXA_DCONV_CHUNK*P (its padded inputs) */
typedef enum ExaDconvKind { EXA_DCONV_FWD, EXA_DCONV_GRAD_X, EXA_DCONV_GRAD_W } ExaDconvKind;
enum { EXA_DCONV_CHUNK = 8 }; /* samples per chunk of the summed weight gradient */

static inline int64_t exa_dconv_scratch_len(ExaDconvKind kind, int64_t c, int64_t h, int64_t w, int64_t o,
                                            int64_t kk, int64_t pad, int64_t lanes)
{
    int64_t hp = h + 2 * pad, wp = w + 2 * pad, oh = hp - kk + 1, ow = wp - kk + 1;
    int64_t op = (o + lanes - 1) / lanes * lanes, padded = pad > 0 ? c * hp * wp : 0;
    switch (kind) {
    case EXA_DCONV_FWD: return padded;
    case EXA_DCONV_GRAD_X: return c * o * kk * kk + o * (oh + 2 * kk - 2) * (ow + 2 * kk - 2) + padded;
    default: return c * kk * kk * op + EXA_DCONV_CHUNK * oh * ow * op + EXA_DCONV_CHUNK * padded;
    }
}

/* Scratch of the AVX-512 direct convolutions (kernels_v4_t.c), on vectors of
 * `lanes` reals (twice the AVX2 ones): with S = c*kk*(h+2pad)*ow (the input
 * copied kk times, shifted) and ckk = c*kk*kk,
 *   forward   o*ckk (the weights reordered) + S
 *   grad_x    o*ckk + o*(oh+2kk-2)*ow (g with zero rows) + S + lanes + kk
 *             (the shifted input gradient and a tail its sums read)
 *   grad_w    o*ckk*lanes (lane-wise partial sums) + EXA_DCONV_CHUNK*(S + lanes)
 *             (a chunk's shifted inputs) + EXA_DCONV_CHUNK*o*lanes (their g's
 *             last partial vectors), or the AVX2 form's at these lanes if more */
static inline int64_t exa_dconv_v4_scratch_len(ExaDconvKind kind, int64_t c, int64_t h, int64_t w, int64_t o,
                                               int64_t kk, int64_t pad, int64_t lanes)
{
    int64_t hp = h + 2 * pad, oh = hp - kk + 1, ow = w + 2 * pad - kk + 1;
    int64_t ckk = c * kk * kk, shifted = c * kk * hp * ow;
    switch (kind) {
    case EXA_DCONV_FWD: return o * ckk + shifted;
    case EXA_DCONV_GRAD_X: return o * ckk + o * (oh + 2 * kk - 2) * ow + shifted + lanes + kk;
    default: { /* the larger of the two forms' (along positions; along channels, as AVX2's) */
        int64_t along_np = o * ckk * lanes + EXA_DCONV_CHUNK * (shifted + lanes) + EXA_DCONV_CHUNK * o * lanes;
        int64_t along_o = exa_dconv_scratch_len(kind, c, h, w, o, kk, pad, lanes);
        return along_np > along_o ? along_np : along_o;
    }
    }
}

/* What a caller allocates: the most any of the kernels a CPU may run needs:
 * AVX2's (lanes), AVX-512's (2 lanes) or, on a CPU without AVX2, the im2col
 * ones' (the im2col matrix [c*kk*kk, oh*ow]). */
static inline int64_t exa_dconv_workspace_len(ExaDconvKind kind, int64_t c, int64_t h, int64_t w, int64_t o,
                                              int64_t kk, int64_t pad, int64_t lanes)
{
    int64_t n = exa_dconv_scratch_len(kind, c, h, w, o, kk, pad, lanes);
    int64_t v4 = exa_dconv_v4_scratch_len(kind, c, h, w, o, kk, pad, 2 * lanes);
    int64_t im2col = c * kk * kk * (h + 2 * pad - kk + 1) * (w + 2 * pad - kk + 1);
    n = n > v4 ? n : v4;
    return n > im2col ? n : im2col;
}

#define EXA_K_DECLARE(real, S)                                                          \
    /* C_i = op(A_i) op(B_i) + beta C_i for i < count; op(A) [m, k], op(B) [k, n],     \
     * C [m, n].  With sc == 0 and count > 1 the products are summed into one C:        \
     * beta applies to the first, the rest accumulate. */                               \
    void exa_k_gemm_##S(int64_t count, int ta, int tb, int64_t m, int64_t n, int64_t k, \
                        const real *a, int64_t lda, int64_t sa, const real *b,          \
                        int64_t ldb, int64_t sb, real beta, real *c, int64_t ldc,       \
                        int64_t sc);                                                    \
    void exa_k_gemm_ref_##S(int64_t count, int ta, int tb, int64_t m, int64_t n,        \
                            int64_t k, const real *a, int64_t lda, int64_t sa,          \
                            const real *b, int64_t ldb, int64_t sb, real beta, real *c, \
                            int64_t ldc, int64_t sc);                                   \
    /* C = alpha op(A) op(B) + beta C by OpenBLAS (held at one thread), split over     \
     * exa's threads where it is large; exa_k_gemm's path for the shapes exa's own      \
     * kernels leave, and the methods' products. */                                    \
    void exa_k_blas_gemm_##S(int ta, int tb, int64_t m, int64_t n, int64_t k,           \
                             real alpha, const real *a, int64_t lda, const real *b,     \
                             int64_t ldb, real beta, real *c, int64_t ldc);             \
    /* ExaArgs.sgd's step in a weight gradient's GEMM: C += alpha sum_i op(A_i)         \
     * op(B_i) (one C, contiguous: ldc == n), and [C - theta, m n) recorded in         \
     * s->done (exa/abi.h). */                                                          \
    void exa_k_gemm_sgd_##S(ExaSgdFused *s, int64_t count, int ta, int tb, int64_t m,   \
                            int64_t n, int64_t k, const real *a, int64_t lda,           \
                            int64_t sa, const real *b, int64_t ldb, int64_t sb,         \
                            real *c);                                                   \
    /* One product by exa's register-tiled kernel whatever exa_k_gemm's rule            \
     * picks (tests, bench/gemm_peak.c): 1 when computed, 0 where the CPU has no        \
     * AVX2 and FMA (or EXA_KERNELS_BASELINE stops them) or out of memory. */          \
    int exa_k_gemm_tile_##S(int ta, int tb, int64_t m, int64_t n, int64_t k,            \
                            const real *a, int64_t lda, const real *b, int64_t ldb,     \
                            real beta, real *c, int64_t ldc);                           \
    /* y [outer, inner] = sum/mean/max over k of x [outer, len, inner];                 \
     * op 0 sum, 1 mean, 2 max (the batch folds into outer). */                         \
    void exa_k_reduce_##S(int op, int64_t outer, int64_t len, int64_t inner,            \
                          const real *x, real *y);                                      \
    /* per row of x [rows, n]: y [rows] = log sum exp, or y [rows, n] = softmax;        \
     * both shift by the row's maximum first. */                                        \
    void exa_k_logsumexp_##S(int64_t rows, int64_t n, const real *x, real *y);          \
    void exa_k_softmax_##S(int64_t rows, int64_t n, const real *x, real *y);            \
    /* y [ysize] = 0, then y[sum_d i_d ystride[d]] += x[i] over x as [dim[0], ...,        \
     * dim[ndim-1]] (row-major, ndim <= 8): the sum of a broadcast's adjoint, over the   \
     * batch (a stride of 0 for a summed dim) as well as within a sample. */             \
    void exa_k_reduce_to_##S(int ndim, const int64_t *dim, const int64_t *ystride,      \
                             const real *x, real *y, int64_t ysize);                    \
    /* y [n] = x summed over the ranks that share the mini-batch (IR_ALLREDUCE,         \
     * batch_mean's statistics; exa_batch_sum in exa/comm.h): a copy on one rank;        \
     * weighted: each rank's x times its `batch` rows, the sum over this rank's. */     \
    void exa_k_batch_sum_##S(int64_t n, const real *x, real *y, int64_t batch,          \
                             int weighted);                                             \
    /* y_i [c, r] = x_i [r, c]^T */                                                     \
    void exa_k_transpose_##S(int64_t count, int64_t r, int64_t c, const real *x,        \
                             int64_t sx, real *y);                                      \
    /* small_i = big_i[lo : lo + small] per dim (rank dims of big / small);              \
     * to_big: big_i = 0 with small_i added at that place (SLICE_GRAD). */              \
    void exa_k_slice_##S(int64_t count, int rank, const int64_t *big, const int64_t *lo, \
                         const int64_t *small, real *bigp, int64_t sbig, real *smallp,   \
                         int64_t ssmall, int to_big);                                   \
    /* big_i[lo : lo + small] += small_i, in place (SLICE_ADD: a sum of slices'       \
     * gradients accumulated in one buffer, compiler/ir/fuse.c) */                     \
    void exa_k_slice_add_##S(int64_t count, int rank, const int64_t *big,               \
                             const int64_t *lo, const int64_t *small, real *bigp,       \
                             int64_t sbig, const real *smallp, int64_t ssmall);         \
    /* big_i[lo : lo + small] = 0 + small_i, the rest of big_i untouched (a sum of      \
     * gradients of slices that tile big: each written once, compiler/ir/fuse.c) */    \
    void exa_k_slice_put_##S(int64_t count, int rank, const int64_t *big,               \
                             const int64_t *lo, const int64_t *small, real *bigp,       \
                             int64_t sbig, const real *smallp, int64_t ssmall);         \
    /* y_i [na + nb] = a_i [na] followed by b_i [nb] */                                 \
    void exa_k_concat_##S(int64_t count, int64_t na, const real *a, int64_t sa,         \
                          int64_t nb, const real *b, int64_t sb, real *y);              \
    /* y_i = a_i [n] at label_i;  pick_grad: y_i [n] = 0 with g_i at label_i */          \
    void exa_k_pick_##S(int64_t count, int64_t n, const real *a, int64_t sa,            \
                        const int32_t *label, real *y);                                 \
    void exa_k_pick_grad_##S(int64_t count, int64_t n, const real *g, int64_t sg,       \
                             const int32_t *label, real *y);                            \
    /* convolution, x [c, h, w], w [o, c, kk, kk], y [o, oh, ow]; scratch holds the      \
     * im2col matrix [c*kk*kk, oh*ow].  conv_grad_x: (g, w) -> dx [c, h, w];             \
     * conv_grad_w: (g, x) -> dw, summed over the batch when sdw == 0. */               \
    void exa_k_conv_##S(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o,      \
                        int64_t kk, int64_t stride, int64_t pad, const real *x,         \
                        int64_t sx, const real *wt, int64_t sw, real *y, int64_t sy,    \
                        real *scratch);                                                 \
    void exa_k_conv_grad_x_##S(int64_t count, int64_t c, int64_t h, int64_t w,          \
                               int64_t o, int64_t kk, int64_t stride, int64_t pad,      \
                               const real *g, int64_t sg, const real *wt, int64_t sw,   \
                               real *dx, int64_t sdx, real *scratch);                   \
    void exa_k_conv_grad_w_##S(int64_t count, int64_t c, int64_t h, int64_t w,          \
                               int64_t o, int64_t kk, int64_t stride, int64_t pad,      \
                               const real *g, int64_t sg, const real *x, int64_t sx,    \
                               real *dw, int64_t sdw, real *scratch);                   \
    /* conv keeping every sample's im2col matrix, sample i at cols + i*c*kk*kk*oh*ow, \
     * and conv_grad_w reading them instead of recomputing them from x (fuse.c pairs \
     * a convolution with its weight gradient this way: FUSE_KEEP_IM2COL). */          \
    void exa_k_conv_keep_##S(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, \
                             int64_t kk, int64_t stride, int64_t pad, const real *x,    \
                             int64_t sx, const real *wt, int64_t sw, real *y,           \
                             int64_t sy, real *cols);                                   \
    void exa_k_conv_grad_w_kept_##S(int64_t count, int64_t c, int64_t h, int64_t w,     \
                                    int64_t o, int64_t kk, int64_t stride, int64_t pad, \
                                    const real *g, int64_t sg, real *dw, int64_t sdw,   \
                                    const real *cols);                                  \
    /* direct convolution at stride 1 (kernels_vec_t.c): the same products       \
     * without im2col, for layers with few channels.  Scratch, in elements:        \
     * exa_dconv_workspace_len below. */                                            \
    void exa_k_dconv_##S(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o,     \
                         int64_t kk, int64_t pad, const real *x, int64_t sx,            \
                         const real *wt, int64_t sw, real *y, int64_t sy, real *scratch); \
    void exa_k_dconv_grad_x_##S(int64_t count, int64_t c, int64_t h, int64_t w,         \
                                int64_t o, int64_t kk, int64_t pad, const real *g,      \
                                int64_t sg, const real *wt, int64_t sw, real *dx,       \
                                int64_t sdx, real *scratch);                            \
    void exa_k_dconv_grad_w_##S(int64_t count, int64_t c, int64_t h, int64_t w,         \
                                int64_t o, int64_t kk, int64_t pad, const real *g,      \
                                int64_t sg, const real *x, int64_t sx, real *dw,        \
                                int64_t sdw, real *scratch);                            \
    void exa_k_conv_ref_##S(int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,     \
                            int64_t stride, int64_t pad, const real *x, const real *wt, \
                            real *y);                                                   \
    /* max pooling, x [c, h, w] -> y [c, oh, ow]; grad routes g [c, oh, ow] to each     \
     * window's first maximum in dx [c, h, w] (cleared first). */                       \
    void exa_k_maxpool_##S(int64_t count, int64_t c, int64_t h, int64_t w,              \
                           int64_t window, int64_t stride, const real *x, int64_t sx,   \
                           real *y, int64_t sy);                                        \
    void exa_k_maxpool_grad_##S(int64_t count, int64_t c, int64_t h, int64_t w,         \
                                int64_t window, int64_t stride, const real *g,          \
                                int64_t sg, const real *x, int64_t sx, real *dx,        \
                                int64_t sdx);                                           \
    /* y [n] = value (FILL, stored scalars); basis: y [n] = 0 with 1 at k */             \
    void exa_k_fill_##S(int64_t n, real value, real *y);                                \
    void exa_k_basis_##S(int64_t n, int64_t k, real *y);

/* Holds OpenBLAS at one thread for the rest of the process and stops the
 * worker threads it started when it loaded: exa splits the products it gives
 * OpenBLAS over its own threads (exa_k_blas_gemm; kernels.c says why).  Called
 * once where a run starts, after --threads is read; openblas_set_num_threads
 * must not be called after it (it would start the workers again). */
void exa_k_blas_hold_one(void);

/* 0, or -1 with err set when EXA_GEMM is set to something other than
 * openblas or exa (kernels.c says what it chooses); checked where a run
 * starts. */
int exa_k_gemm_check_env(char *err, size_t errlen);

EXA_K_DECLARE(float, f32)
EXA_K_DECLARE(double, f64)

#endif
