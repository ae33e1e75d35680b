/* cg_kernels.c - libexa's kernels against plain loops, in f64 and f32.
 *
 * GEMM (every transpose combination, batched strides, summed over the batch,
 * shapes on its narrow kernel's path and on OpenBLAS's) against
 * exa_k_gemm_ref; convolution against the direct definition
 * exa_k_conv_ref, and its two gradients through the adjoint identities
 * <conv(x, w), g> = <x, conv_grad_x(g, w)> = <w, conv_grad_w(g, x)>;
 * a batch of 40 convolutions (per-sample strides, the summed weight
 * gradient, the kept im2col matrices) against one sample at a time; the
 * direct convolution kernels against the im2col ones, and on 1 thread
 * against 3 (bit for bit: the weight gradient's partial sums do not depend
 * on the thread count); softmax, logsumexp, reduce_to, slice and
 * slice_add against loops written here; GEMM over a long k (A^T B) and
 * reduce_to's column sums and its other patterns (a conv bias's
 * gradient) against sums in f64 (ctest runs all of it also
 * with EXA_KERNELS_BASELINE=avx2, the GEMMs' 256-bit code, and with
 * EXA_KERNELS_BASELINE=1, the fallbacks); exa's register-tiled GEMM on odd
 * shapes against exa_k_gemm_ref_f64, and on 3 threads against 1 bit for
 * bit; EXA_GEMM's run-start check; a product of few outputs leaves
 * OpenBLAS's thread count as it found it.  Prints the
 * max relative difference per check; exits 1 if any is above 1e-12 (f64) or
 * 1e-5 (f32). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/kernels.h"
#include "exa/parallel.h"

static unsigned seed = 7;
static int failed;

static double rnd(void)
{
    seed = seed * 1103515245u + 12345u;
    return ((seed >> 8) & 0xffff) / 32767.5 - 1;
}

/* n values of rnd() in order, as floats (elem 4) or doubles (elem 8). */
static void *rnd_array(int64_t n, size_t elem)
{
    void *x = malloc((size_t)n * elem);
    for (int64_t i = 0; x && i < n; i++)
        if (elem == sizeof(float))
            ((float *)x)[i] = (float)rnd();
        else
            ((double *)x)[i] = rnd();
    return x;
}

static void report(const char *what, const char *type, double diff, double scale, double tol)
{
    double rel = diff / (scale > 0 ? scale : 1);
    int ok = rel < tol;
    printf("%s %-34s %s max rel diff %.2e\n", ok ? "ok  " : "FAIL", what, type, rel);
    failed += !ok;
}

/* One body for both types, as in the runtime: T, S(name) and TOL set below. */
#define KERNEL_TESTS(T, S, TYPE, TOL)                                                              \
    static void tests_##S(void)                                                                    \
    {                                                                                              \
        enum { N = 4096 };                                                                         \
        static T a[N], b[N], c1[N], c2[N], x[N], w[N], g[N], y[N], dx[N], dw[N], scratch[N];      \
        for (int i = 0; i < N; i++)                                                                \
            a[i] = (T)rnd(), b[i] = (T)rnd(), x[i] = (T)rnd(), w[i] = (T)rnd(), g[i] = (T)rnd();   \
        for (int ta = 0; ta < 2; ta++)                                                             \
            for (int tb = 0; tb < 2; tb++)                                                         \
                for (int sc = 0; sc < 2; sc++) { /* C_i [5, 6] = op(A_i) [5, 7] op(B_i) [7, 6] */   \
                    int64_t m = 5, n = 6, k = 7, count = 3;                                        \
                    for (int i = 0; i < N; i++)                                                    \
                        c1[i] = c2[i] = (T)rnd();                                                  \
                    exa_k_gemm_##S(count, ta, tb, m, n, k, a, ta ? m : k, m * k, b, tb ? k : n,    \
                                   k * n, (T)0.5, c1, n, sc ? m * n : 0);                          \
                    exa_k_gemm_ref_##S(count, ta, tb, m, n, k, a, ta ? m : k, m * k, b,            \
                                       tb ? k : n, k * n, (T)0.5, c2, n, sc ? m * n : 0);          \
                    double d = 0, s = 0;                                                           \
                    for (int i = 0; i < count * m * n; i++)                                        \
                        d = fmax(d, fabs((double)c1[i] - c2[i])), s = fmax(s, fabs((double)c2[i])); \
                    char what[64];                                                                 \
                    snprintf(what, sizeof what, "gemm ta %d tb %d %s", ta, tb,                     \
                             sc ? "batched" : "summed");                                           \
                    report(what, TYPE, d, s, TOL);                                                 \
                }                                                                                  \
        for (int stride = 1; stride <= 2; stride++)                                                \
            for (int pad = 0; pad <= 2; pad++) { /* x [2, 7, 7], w [3, 2, 3, 3] */                 \
                int64_t C = 2, H = 7, O = 3, K = 3, oh = (H + 2 * pad - K) / stride + 1;           \
                exa_k_conv_##S(1, C, H, H, O, K, stride, pad, x, 0, w, 0, c1, 0, scratch);         \
                exa_k_conv_ref_##S(C, H, H, O, K, stride, pad, x, w, c2);                          \
                double d = 0, s = 0, gy = 0, xdx = 0, wdw = 0;                                     \
                for (int i = 0; i < O * oh * oh; i++) {                                            \
                    d = fmax(d, fabs((double)c1[i] - c2[i]));                                      \
                    s = fmax(s, fabs((double)c2[i]));                                              \
                    gy += (double)g[i] * c2[i];                                                    \
                }                                                                                  \
                char what[64];                                                                     \
                snprintf(what, sizeof what, "conv stride %d pad %d", stride, pad);                 \
                report(what, TYPE, d, s, TOL);                                                     \
                exa_k_conv_grad_x_##S(1, C, H, H, O, K, stride, pad, g, 0, w, 0, dx, 0, scratch);  \
                exa_k_conv_grad_w_##S(1, C, H, H, O, K, stride, pad, g, 0, x, 0, dw, 0, scratch);  \
                for (int i = 0; i < C * H * H; i++)                                                \
                    xdx += (double)x[i] * dx[i];                                                   \
                for (int i = 0; i < O * C * K * K; i++)                                            \
                    wdw += (double)w[i] * dw[i];                                                   \
                snprintf(what, sizeof what, "conv grads (adjoint) s %d p %d", stride, pad);        \
                report(what, TYPE, fmax(fabs(gy - xdx), fabs(gy - wdw)), fabs(gy), TOL * 10);      \
            }                                                                                      \
        { /* softmax and logsumexp of 3 rows of 9 */                                               \
            exa_k_softmax_##S(3, 9, x, y);                                                         \
            exa_k_logsumexp_##S(3, 9, x, c1);                                                      \
            double d = 0;                                                                          \
            for (int r = 0; r < 3; r++) {                                                          \
                double z = 0;                                                                      \
                for (int i = 0; i < 9; i++)                                                        \
                    z += exp((double)x[r * 9 + i]);                                                \
                d = fmax(d, fabs(c1[r] - log(z)));                                                 \
                for (int i = 0; i < 9; i++)                                                        \
                    d = fmax(d, fabs(y[r * 9 + i] - exp((double)x[r * 9 + i]) / z));               \
            }                                                                                      \
            report("softmax, logsumexp", TYPE, d, 1, TOL);                                         \
        }                                                                                          \
        { /* reduce_to: [B=4, 3, 5] -> [3, 1] summed over the batch and the last dim */            \
            int64_t dim[3] = { 4, 3, 5 }, ys[3] = { 0, 1, 0 };                                     \
            exa_k_reduce_to_##S(3, dim, ys, x, y, 3);                                              \
            double d = 0;                                                                          \
            for (int i = 0; i < 3; i++) {                                                          \
                double acc = 0;                                                                    \
                for (int s = 0; s < 4; s++)                                                        \
                    for (int j = 0; j < 5; j++)                                                    \
                        acc += x[(s * 3 + i) * 5 + j];                                             \
                d = fmax(d, fabs(acc - y[i]));                                                     \
            }                                                                                      \
            report("reduce_to", TYPE, d, 1, TOL);                                                  \
        }                                                                                          \
    }

KERNEL_TESTS(double, f64, "f64", 1e-12)
KERNEL_TESTS(float, f32, "f32", 1e-5)

/* 40 samples: conv, conv_grad_x and the summed conv_grad_w of the
 * batch against the same kernels called on one sample at a time (f64). */
static void conv_batch(void)
{
    enum { B = 40, C = 2, H = 9, O = 3, K = 3, PAD = 1 };
    int64_t oh = H + 2 * PAD - K + 1, np = oh * oh, nx = C * H * H, ny = O * np, nw = O * C * K * K;
    double *x = malloc(B * nx * sizeof *x), *g = malloc(B * ny * sizeof *g), *w = malloc(nw * sizeof *w);
    double *y1 = malloc(B * ny * sizeof *y1), *y2 = malloc(B * ny * sizeof *y2);
    double *dx1 = malloc(B * nx * sizeof *dx1), *dx2 = malloc(B * nx * sizeof *dx2);
    double *dw1 = calloc(nw, sizeof *dw1), *dw2 = calloc(nw, sizeof *dw2), *dws = malloc(nw * sizeof *dws);
    double *scratch = malloc(C * K * K * np * sizeof *scratch);
    for (int64_t i = 0; i < B * nx; i++)
        x[i] = rnd();
    for (int64_t i = 0; i < B * ny; i++)
        g[i] = rnd();
    for (int64_t i = 0; i < nw; i++)
        w[i] = rnd();
    exa_k_conv_f64(B, C, H, H, O, K, 1, PAD, x, nx, w, 0, y1, ny, scratch);
    exa_k_conv_grad_x_f64(B, C, H, H, O, K, 1, PAD, g, ny, w, 0, dx1, nx, scratch);
    exa_k_conv_grad_w_f64(B, C, H, H, O, K, 1, PAD, g, ny, x, nx, dw1, 0, scratch);
    for (int s = 0; s < B; s++) {
        exa_k_conv_f64(1, C, H, H, O, K, 1, PAD, x + s * nx, 0, w, 0, y2 + s * ny, 0, scratch);
        exa_k_conv_grad_x_f64(1, C, H, H, O, K, 1, PAD, g + s * ny, 0, w, 0, dx2 + s * nx, 0, scratch);
        exa_k_conv_grad_w_f64(1, C, H, H, O, K, 1, PAD, g + s * ny, 0, x + s * nx, 0, dws, 0, scratch);
        for (int64_t i = 0; i < nw; i++)
            dw2[i] += dws[i];
    }
    double dy = 0, sy = 0, ddx = 0, sdx = 0, ddw = 0, sdw = 0;
    for (int64_t i = 0; i < B * ny; i++)
        dy = fmax(dy, fabs(y1[i] - y2[i])), sy = fmax(sy, fabs(y2[i]));
    for (int64_t i = 0; i < B * nx; i++)
        ddx = fmax(ddx, fabs(dx1[i] - dx2[i])), sdx = fmax(sdx, fabs(dx2[i]));
    for (int64_t i = 0; i < nw; i++)
        ddw = fmax(ddw, fabs(dw1[i] - dw2[i])), sdw = fmax(sdw, fabs(dw2[i]));
    report("conv, batch of 40", "f64", dy, sy, 1e-12);
    report("conv_grad_x, batch of 40", "f64", ddx, sdx, 1e-12);
    report("conv_grad_w summed, batch of 40", "f64", ddw, sdw, 1e-12);
    /* the same through the kept im2col matrices of the whole batch */
    double *cols = malloc(B * C * K * K * np * sizeof *cols);
    exa_k_conv_keep_f64(B, C, H, H, O, K, 1, PAD, x, nx, w, 0, y1, ny, cols);
    exa_k_conv_grad_w_kept_f64(B, C, H, H, O, K, 1, PAD, g, ny, dw1, 0, cols);
    dy = ddw = 0;
    for (int64_t i = 0; i < B * ny; i++)
        dy = fmax(dy, fabs(y1[i] - y2[i]));
    for (int64_t i = 0; i < nw; i++)
        ddw = fmax(ddw, fabs(dw1[i] - dw2[i]));
    report("conv_keep, batch of 40", "f64", dy, sy, 1e-12);
    report("conv_grad_w_kept, batch of 40", "f64", ddw, sdw, 1e-12);
    free(cols);
    free(x), free(g), free(w), free(y1), free(y2), free(dx1), free(dx2);
    free(dw1), free(dw2), free(dws), free(scratch);
}

/* A direct-convolution test case, {c, h, w, o, k, pad, samples}, with the
 * sizes derived from it for vectors of V elements: per-sample lengths of x,
 * y and W, and each kernel's scratch as kernels.h gives it (each at least
 * the fallback's im2col matrix). */
typedef struct DconvCase {
    int64_t c, h, w, o, k, pad, B, oh, ow, nx, ny, nw;
    int64_t s_fwd, s_gx, s_gw, s_col;
} DconvCase;

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static DconvCase dconv_case(const int64_t geo[7], int64_t V)
{
    DconvCase q = { .c = geo[0], .h = geo[1], .w = geo[2], .o = geo[3], .k = geo[4],
                    .pad = geo[5], .B = geo[6] };
    int64_t c = q.c, o = q.o, k = q.k, pad = q.pad;
    q.oh = q.h + 2 * pad - k + 1, q.ow = q.w + 2 * pad - k + 1;
    q.nx = c * q.h * q.w, q.ny = o * q.oh * q.ow, q.nw = o * c * k * k;
    q.s_col = c * k * k * q.oh * q.ow;
    q.s_fwd = exa_dconv_workspace_len(EXA_DCONV_FWD, c, q.h, q.w, o, k, pad, V);
    q.s_gw = exa_dconv_workspace_len(EXA_DCONV_GRAD_W, c, q.h, q.w, o, k, pad, V);
    q.s_gx = exa_dconv_workspace_len(EXA_DCONV_GRAD_X, c, q.h, q.w, o, k, pad, V);
    return q;
}

/* The direct convolution kernels (exa_k_dconv*) against the im2col ones on
 * the same batch: LeNet's two layers, widths below, at and off the vector
 * length (the narrow fallback, a row's overlapping last slot), 1x1 and 7x7
 * kernels, padding, one output channel, 11 samples (the weight gradient's
 * chunks of 8 and a remainder), and per-sample weight gradients.  Scratch is
 * allocated to kernels.h's sizes exactly, so ASan checks them. */
#define DCONV_TESTS(T, S, TYPE, TOL)                                                               \
    static void dconv_##S(void)                                                                    \
    {                                                                                              \
        static const int64_t geo[][7] = { /* c, h, w, o, k, pad, samples */                        \
            { 1, 28, 28, 6, 5, 0, 3 }, { 6, 12, 12, 16, 5, 0, 11 }, { 2, 6, 6, 3, 3, 1, 2 },         \
            { 3, 13, 11, 5, 3, 2, 4 }, { 4, 9, 10, 7, 1, 0, 9 },   { 2, 16, 14, 9, 7, 3, 2 },        \
            { 3, 10, 10, 1, 3, 1, 3 },                                                             \
        };                                                                                         \
        for (size_t n = 0; n < sizeof geo / sizeof geo[0]; n++) {                                  \
            DconvCase q = dconv_case(geo[n], 32 / sizeof(T));                                      \
            int64_t c = q.c, h = q.h, w = q.w, o = q.o, k = q.k, pad = q.pad, B = q.B;             \
            int64_t oh = q.oh, ow = q.ow, nx = q.nx, ny = q.ny, nw = q.nw;                         \
            int64_t s_fwd = q.s_fwd, s_gx = q.s_gx, s_gw = q.s_gw;                                 \
            T *x = malloc(B * nx * sizeof *x), *g = malloc(B * ny * sizeof *g);                    \
            T *wt = malloc(nw * sizeof *wt), *col = malloc(c * k * k * oh * ow * sizeof *col);     \
            T *y1 = malloc(B * ny * sizeof *y1), *y2 = malloc(B * ny * sizeof *y2);                \
            T *dx1 = malloc(B * nx * sizeof *dx1), *dx2 = malloc(B * nx * sizeof *dx2);            \
            T *dw1 = malloc(B * nw * sizeof *dw1), *dw2 = malloc(B * nw * sizeof *dw2);            \
            T *sf = malloc(s_fwd * sizeof *sf), *sw = malloc(s_gw * sizeof *sw);             \
            T *sx = malloc(s_gx * sizeof *sx);                                                     \
            for (int64_t i = 0; i < B * nx; i++)                                                   \
                x[i] = (T)rnd();                                                                   \
            for (int64_t i = 0; i < B * ny; i++)                                                   \
                g[i] = (T)rnd();                                                                   \
            for (int64_t i = 0; i < nw; i++)                                                       \
                wt[i] = (T)rnd();                                                                  \
            exa_k_conv_##S(B, c, h, w, o, k, 1, pad, x, nx, wt, 0, y1, ny, col);                   \
            exa_k_dconv_##S(B, c, h, w, o, k, pad, x, nx, wt, 0, y2, ny, sf);                      \
            exa_k_conv_grad_x_##S(B, c, h, w, o, k, 1, pad, g, ny, wt, 0, dx1, nx, col);           \
            exa_k_dconv_grad_x_##S(B, c, h, w, o, k, pad, g, ny, wt, 0, dx2, nx, sx);              \
            double d[4] = { 0 }, m[4] = { 0 };                                                     \
            for (int64_t i = 0; i < B * ny; i++)                                                   \
                d[0] = fmax(d[0], fabs((double)y1[i] - y2[i])), m[0] = fmax(m[0], fabs((double)y1[i])); \
            for (int64_t i = 0; i < B * nx; i++)                                                   \
                d[1] = fmax(d[1], fabs((double)dx1[i] - dx2[i])), m[1] = fmax(m[1], fabs((double)dx1[i])); \
            for (int per = 0; per < 2; per++) { /* summed, then one dW per sample */               \
                exa_k_conv_grad_w_##S(B, c, h, w, o, k, 1, pad, g, ny, x, nx, dw1, per ? nw : 0, col); \
                exa_k_dconv_grad_w_##S(B, c, h, w, o, k, pad, g, ny, x, nx, dw2, per ? nw : 0, sw); \
                for (int64_t i = 0; i < (per ? B : 1) * nw; i++)                                   \
                    d[2 + per] = fmax(d[2 + per], fabs((double)dw1[i] - dw2[i])),                  \
                    m[2 + per] = fmax(m[2 + per], fabs((double)dw1[i]));                           \
            }                                                                                      \
            static const char *what[] = { "dconv", "dconv_grad_x", "dconv_grad_w summed",          \
                                          "dconv_grad_w per sample" };                            \
            for (int e = 0; e < 4; e++) {                                                          \
                char line[96];                                                                     \
                snprintf(line, sizeof line, "%s c%d %dx%d o%d k%d p%d B%d", what[e], (int)c,       \
                         (int)h, (int)w, (int)o, (int)k, (int)pad, (int)B);                        \
                report(line, TYPE, d[e], m[e], TOL);                                               \
            }                                                                                      \
            free(x), free(g), free(wt), free(col), free(y1), free(y2), free(dx1), free(dx2);       \
            free(dw1), free(dw2), free(sf), free(sw), free(sx);                                    \
        }                                                                                          \
    }

/* The direct convolutions split over threads (kernels_par_t.c), on batches
 * large enough to be split: every output on 3 threads equals the one on 1
 * bit for bit, and matches the im2col kernels.  Batches of 100 and 37 give
 * the summed weight gradient 4 and 2 partial sums, the last one short. */
#define DCONV_THREADS_TESTS(T, S, TYPE, TOL)                                                       \
    static void dconv_threads_##S(void)                                                            \
    {                                                                                              \
        static const int64_t geo[][7] = { /* c, h, w, o, k, pad, samples */                        \
            { 1, 28, 28, 6, 5, 0, 100 }, { 6, 12, 12, 16, 5, 0, 100 }, { 3, 13, 11, 5, 3, 2, 70 },   \
            { 2, 16, 14, 9, 7, 3, 37 },                                                            \
        };                                                                                         \
        for (size_t n = 0; n < sizeof geo / sizeof geo[0]; n++) {                                  \
            DconvCase q = dconv_case(geo[n], 32 / sizeof(T));                                      \
            int64_t c = q.c, h = q.h, w = q.w, o = q.o, k = q.k, pad = q.pad, B = q.B;             \
            int64_t nx = q.nx, ny = q.ny, nw = q.nw;                                               \
            int64_t ns = max64(q.s_fwd, max64(q.s_gx, q.s_gw)); /* one scratch for all four */     \
            int64_t len[4] = { B * ny, B * nx, nw, B * nw };                                       \
            T *x = malloc(B * nx * sizeof *x), *g = malloc(B * ny * sizeof *g);                    \
            T *wt = malloc(nw * sizeof *wt), *scratch = malloc(ns * sizeof *scratch);              \
            T *out[3][4]; /* [1 thread, 3 threads, im2col][y, dx, dW summed, dW per sample] */     \
            for (int r = 0; r < 3; r++)                                                            \
                for (int e = 0; e < 4; e++)                                                        \
                    out[r][e] = malloc(len[e] * sizeof(T));                                        \
            for (int64_t i = 0; i < B * nx; i++)                                                   \
                x[i] = (T)rnd();                                                                   \
            for (int64_t i = 0; i < B * ny; i++)                                                   \
                g[i] = (T)rnd();                                                                   \
            for (int64_t i = 0; i < nw; i++)                                                       \
                wt[i] = (T)rnd();                                                                  \
            for (int r = 0; r < 2; r++) {                                                          \
                exa_parallel_set_threads(r == 0 ? 1 : 3);                                          \
                exa_k_dconv_##S(B, c, h, w, o, k, pad, x, nx, wt, 0, out[r][0], ny, scratch);      \
                exa_k_dconv_grad_x_##S(B, c, h, w, o, k, pad, g, ny, wt, 0, out[r][1], nx, scratch); \
                exa_k_dconv_grad_w_##S(B, c, h, w, o, k, pad, g, ny, x, nx, out[r][2], 0, scratch); \
                exa_k_dconv_grad_w_##S(B, c, h, w, o, k, pad, g, ny, x, nx, out[r][3], nw, scratch); \
            }                                                                                      \
            exa_parallel_set_threads(1);                                                           \
            exa_k_conv_##S(B, c, h, w, o, k, 1, pad, x, nx, wt, 0, out[2][0], ny, scratch);        \
            exa_k_conv_grad_x_##S(B, c, h, w, o, k, 1, pad, g, ny, wt, 0, out[2][1], nx, scratch); \
            exa_k_conv_grad_w_##S(B, c, h, w, o, k, 1, pad, g, ny, x, nx, out[2][2], 0, scratch);  \
            exa_k_conv_grad_w_##S(B, c, h, w, o, k, 1, pad, g, ny, x, nx, out[2][3], nw, scratch); \
            static const char *what[] = { "dconv", "dconv_grad_x", "dconv_grad_w summed",          \
                                          "dconv_grad_w per sample" };                            \
            for (int e = 0; e < 4; e++) {                                                          \
                double d = 0, m = 0;                                                               \
                for (int64_t i = 0; i < len[e]; i++)                                               \
                    d = fmax(d, fabs((double)out[2][e][i] - out[0][e][i])),                        \
                    m = fmax(m, fabs((double)out[2][e][i]));                                       \
                char line[112];                                                                    \
                snprintf(line, sizeof line, "%s c%d %dx%d o%d k%d p%d B%d", what[e], (int)c,       \
                         (int)h, (int)w, (int)o, (int)k, (int)pad, (int)B);                        \
                report(line, TYPE, d, m, TOL);                                                     \
                if (memcmp(out[0][e], out[1][e], (size_t)len[e] * sizeof(T)) != 0) {              \
                    printf("FAIL %s %s: 3 threads differ from 1\n", line, TYPE);                   \
                    failed++;                                                                      \
                }                                                                                  \
            }                                                                                      \
            for (int r = 0; r < 3; r++)                                                            \
                for (int e = 0; e < 4; e++)                                                        \
                    free(out[r][e]);                                                               \
            free(x), free(g), free(wt), free(scratch);                                             \
        }                                                                                          \
    }

/* The direct convolution kernels (whichever vector form the CPU runs:
 * AVX-512, AVX2 under EXA_KERNELS_BASELINE=avx2, im2col under =1) against
 * the definition: y per sample against exa_k_conv_ref, dx and the summed dW
 * against the adjoint written out as loops here (every product w * g * x of
 * the definition, scattered).  Odd shapes: 1 and several channels, 1 and 3
 * samples, padding, an even kernel, 17 output channels (a block moved
 * back), output planes that are no whole number of vectors (grad_w's masked
 * last vector), one smaller than an AVX-512 vector of floats (the AVX2
 * form takes it), and 32 channels with padding (the weight gradient along
 * channels; LeNet's second layer takes it too).  Stride is always 1: the direct kernels have no other. */
#define DCONV_REF_TESTS(T, S, TYPE, TOL)                                                           \
    static void dconv_ref_##S(void)                                                                \
    {                                                                                              \
        static const int64_t geo[][7] = { /* c, h, w, o, k, pad, samples */                        \
            { 1, 28, 28, 6, 5, 0, 3 }, { 6, 12, 12, 16, 5, 0, 1 }, { 1, 7, 9, 4, 3, 1, 3 },          \
            { 3, 5, 6, 5, 3, 0, 1 },   { 5, 11, 7, 3, 2, 1, 3 },   { 2, 9, 13, 17, 4, 2, 3 },        \
            { 4, 6, 6, 2, 1, 0, 3 },   { 3, 8, 8, 7, 5, 2, 1 },   { 3, 9, 9, 32, 3, 1, 3 },         \
        };                                                                                         \
        for (size_t n = 0; n < sizeof geo / sizeof geo[0]; n++) {                                  \
            DconvCase q = dconv_case(geo[n], 32 / sizeof(T));                                      \
            int64_t c = q.c, h = q.h, w = q.w, o = q.o, k = q.k, pad = q.pad, B = q.B;             \
            int64_t oh = q.oh, ow = q.ow, nx = q.nx, ny = q.ny, nw = q.nw;                         \
            int64_t ns = max64(q.s_fwd, max64(q.s_gx, q.s_gw));                                    \
            T *x = malloc(B * nx * sizeof *x), *g = malloc(B * ny * sizeof *g);                    \
            T *wt = malloc(nw * sizeof *wt), *scratch = malloc(ns * sizeof *scratch);              \
            T *y = malloc(B * ny * sizeof *y), *yr = malloc(ny * sizeof *yr);                      \
            T *dx = malloc(B * nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);                    \
            double *dxr = calloc(B * nx, sizeof *dxr), *dwr = calloc(nw, sizeof *dwr);             \
            for (int64_t i = 0; i < B * nx; i++)                                                   \
                x[i] = (T)rnd();                                                                   \
            for (int64_t i = 0; i < B * ny; i++)                                                   \
                g[i] = (T)rnd();                                                                   \
            for (int64_t i = 0; i < nw; i++)                                                       \
                wt[i] = (T)rnd();                                                                  \
            exa_k_dconv_##S(B, c, h, w, o, k, pad, x, nx, wt, 0, y, ny, scratch);                  \
            exa_k_dconv_grad_x_##S(B, c, h, w, o, k, pad, g, ny, wt, 0, dx, nx, scratch);          \
            exa_k_dconv_grad_w_##S(B, c, h, w, o, k, pad, g, ny, x, nx, dw, 0, scratch);           \
            double d[3] = { 0 }, m[3] = { 0 };                                                     \
            for (int64_t s = 0; s < B; s++) {                                                      \
                exa_k_conv_ref_##S(c, h, w, o, k, 1, pad, x + s * nx, wt, yr);                     \
                for (int64_t i = 0; i < ny; i++)                                                   \
                    d[0] = fmax(d[0], fabs((double)y[s * ny + i] - yr[i])),                        \
                    m[0] = fmax(m[0], fabs((double)yr[i]));                                        \
                for (int64_t oc = 0; oc < o; oc++)                                                 \
                    for (int64_t i = 0; i < oh; i++)                                               \
                        for (int64_t j = 0; j < ow; j++)                                           \
                            for (int64_t ci = 0; ci < c; ci++)                                     \
                                for (int64_t p = 0; p < k; p++)                                    \
                                    for (int64_t r = 0; r < k; r++) {                              \
                                        int64_t row = i + p - pad, col = j + r - pad;              \
                                        if (row < 0 || row >= h || col < 0 || col >= w)            \
                                            continue;                                              \
                                        int64_t xi = s * nx + (ci * h + row) * w + col;            \
                                        int64_t wi = ((oc * c + ci) * k + p) * k + r;              \
                                        double gv = g[s * ny + (oc * oh + i) * ow + j];            \
                                        dxr[xi] += gv * wt[wi];                                    \
                                        dwr[wi] += gv * x[xi];                                     \
                                    }                                                              \
            }                                                                                      \
            for (int64_t i = 0; i < B * nx; i++)                                                   \
                d[1] = fmax(d[1], fabs(dx[i] - dxr[i])), m[1] = fmax(m[1], fabs(dxr[i]));          \
            for (int64_t i = 0; i < nw; i++)                                                       \
                d[2] = fmax(d[2], fabs(dw[i] - dwr[i])), m[2] = fmax(m[2], fabs(dwr[i]));          \
            static const char *what[] = { "dconv = conv_ref", "dconv_grad_x = adjoint",            \
                                          "dconv_grad_w = adjoint" };                             \
            for (int e = 0; e < 3; e++) {                                                          \
                char line[112];                                                                    \
                snprintf(line, sizeof line, "%s c%d %dx%d o%d k%d p%d B%d", what[e], (int)c,       \
                         (int)h, (int)w, (int)o, (int)k, (int)pad, (int)B);                        \
                report(line, TYPE, d[e], m[e], TOL);                                               \
            }                                                                                      \
            free(x), free(g), free(wt), free(scratch), free(y), free(yr), free(dx), free(dw);      \
            free(dxr), free(dwr);                                                                  \
        }                                                                                          \
    }

DCONV_REF_TESTS(double, f64, "f64", 1e-12)
DCONV_REF_TESTS(float, f32, "f32", 1e-5)

/* exa_k_maxpool and exa_k_maxpool_grad (2x2 windows at stride 2: the vector form where the
 * CPU has AVX2, rows of 8 windows or more, or of 4 two rows at a time, and
 * the scalar loops elsewhere) against the definition written here: each
 * window's g to its first maximum in row-major order, exactly.  Inputs on a
 * grid of 5 values, so that windows hold ties. */
static void maxpool_grad_exact(void)
{
    static const int64_t geo[][3] = { { 3, 24, 24 }, { 2, 8, 8 }, { 1, 32, 32 }, { 2, 6, 6 },
                                      { 1, 8, 12 }, { 2, 4, 8 }, { 1, 6, 8 }, { 2, 10, 36 } };
    for (size_t n = 0; n < sizeof geo / sizeof geo[0]; n++) {
        int64_t c = geo[n][0], h = geo[n][1], w = geo[n][2], B = 3, oh = h / 2, ow = w / 2;
        int64_t nx = c * h * w, ny = c * oh * ow;
        float *x = malloc(B * nx * sizeof *x), *g = malloc(B * ny * sizeof *g);
        float *dx = malloc(B * nx * sizeof *dx), *ref = calloc(B * nx, sizeof *ref);
        for (int64_t i = 0; i < B * nx; i++)
            x[i] = (float)(int)(rnd() * 2.5);
        for (int64_t i = 0; i < B * ny; i++)
            g[i] = (float)rnd();
        for (int64_t i = 0; i < B * nx; i++)
            dx[i] = 99;
        exa_k_maxpool_grad_f32(B, c, h, w, 2, 2, g, ny, x, nx, dx, nx);
        float *y = malloc(B * ny * sizeof *y), *yref = malloc(B * ny * sizeof *yref);
        exa_k_maxpool_f32(B, c, h, w, 2, 2, x, nx, y, ny);
        for (int64_t s = 0; s < B; s++)
            for (int64_t ch = 0; ch < c; ch++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        int64_t best = s * nx + (ch * h + 2 * i) * w + 2 * j;
                        for (int64_t p = 0; p < 2; p++)
                            for (int64_t q = 0; q < 2; q++) {
                                int64_t at = s * nx + (ch * h + 2 * i + p) * w + 2 * j + q;
                                best = x[at] > x[best] ? at : best;
                            }
                        ref[best] += g[s * ny + (ch * oh + i) * ow + j];
                        yref[s * ny + (ch * oh + i) * ow + j] = x[best];
                    }
        char line[96];
        snprintf(line, sizeof line, "maxpool(_grad) 2x2 exact c%d %dx%d B3", (int)c, (int)h, (int)w);
        int same = memcmp(dx, ref, (size_t)(B * nx) * sizeof *dx) == 0 &&
                   memcmp(y, yref, (size_t)(B * ny) * sizeof *y) == 0;
        printf("%s %-34s f32\n", same ? "ok  " : "FAIL", line);
        failed += !same;
        free(x), free(g), free(dx), free(ref), free(y), free(yref);
    }
}

/* exa_k_gemm against exa_k_gemm_ref over shapes on both of its paths: the
 * narrow kernel (kernels_gemm_t.c: whole blocks of rows and the rows left,
 * B read in place with rows of whole vectors, 50x32x32 and 21x48x12, and
 * with a partial last vector, masked: 37x40x40, 13x17x20, 40x3x12) and
 * OpenBLAS (too wide, op(B) too large to pack, too few rows, one column over
 * k = 40), every transpose, batched and summed, B's rows as long as op(B)
 * needs and 3 longer. */
#define GEMM_SHAPES_TESTS(T, S, TYPE, TOL)                                                         \
    static void gemm_shapes_##S(void)                                                              \
    {                                                                                              \
        static const int64_t shape[][3] = { { 37, 40, 40 }, { 29, 8, 8 }, { 13, 17, 20 },         \
                                            { 50, 65, 10 }, { 30, 17, 300 }, { 25, 1, 40 },        \
                                            { 7, 3, 5 }, { 33, 130, 20 }, { 50, 32, 32 },          \
                                            { 21, 48, 12 }, { 40, 3, 12 } };                       \
        for (size_t e = 0; e < sizeof shape / sizeof shape[0]; e++)                                \
            for (int t = 0; t < 16; t++) {                                                         \
                int ta = t & 1, tb = t >> 1 & 1, sc = t >> 2 & 1, pad = t >> 3 ? 3 : 0;            \
                int64_t m = shape[e][0], n = shape[e][1], k = shape[e][2], count = 3;              \
                int64_t ldb = (tb ? k : n) + pad, sb = (tb ? n : k) * ldb;                         \
                T *a = malloc(count * m * k * sizeof *a), *b = malloc(count * sb * sizeof *b);     \
                T *c1 = malloc(count * m * n * sizeof *c1), *c2 = malloc(count * m * n * sizeof *c2); \
                for (int64_t i = 0; i < count * m * k; i++)                                        \
                    a[i] = (T)rnd();                                                               \
                for (int64_t i = 0; i < count * sb; i++)                                           \
                    b[i] = (T)rnd();                                                               \
                for (int64_t i = 0; i < count * m * n; i++)                                        \
                    c1[i] = c2[i] = (T)rnd();                                                      \
                exa_k_gemm_##S(count, ta, tb, m, n, k, a, ta ? m : k, m * k, b, ldb, sb, (T)0.5,   \
                               c1, n, sc ? m * n : 0);                                             \
                exa_k_gemm_ref_##S(count, ta, tb, m, n, k, a, ta ? m : k, m * k, b, ldb, sb,       \
                                   (T)0.5, c2, n, sc ? m * n : 0);                                 \
                double d = 0, sz = 0;                                                              \
                for (int64_t i = 0; i < (sc ? count : 1) * m * n; i++)                             \
                    d = fmax(d, fabs((double)c1[i] - c2[i])), sz = fmax(sz, fabs((double)c2[i]));  \
                char what[64];                                                                     \
                snprintf(what, sizeof what, "gemm %dx%dx%d ta %d tb %d ldb %d %s", (int)m, (int)n, \
                         (int)k, ta, tb, (int)ldb, sc ? "batched" : "summed");                     \
                report(what, TYPE, d, sz, TOL);                                                    \
                free(a), free(b), free(c1), free(c2);                                              \
            }                                                                                      \
    }

/* exa_k_gemm's long-k kernel (kernels_vec_t.c gemm_tall: C = A^T B + beta
 * C, a weight gradient summed over the batch) against exa_k_gemm_ref in
 * f64 on the same values: sides 1, 7, 8, 9, 33, 64 (one vector and its
 * neighbours, several tiles and vectors, the largest taken), k = 1 and 5
 * (the other paths), 64, 67 and 5000 (the rows past the last whole set),
 * rows exactly as long as C's and 3 longer, beta 0 and 0.5, each element's
 * error relative to the sum of its terms' magnitudes.  Each operand
 * is allocated to its last element exactly, so ASan reports a read past
 * it (the kernel reads whole vectors).  Then a few shapes on 3 threads
 * against 1, bit for bit. */
#define GEMM_TALL_TESTS(T, S, TYPE, TOL)                                                           \
    static void gemm_tall_##S(void)                                                                \
    {                                                                                              \
        static const int64_t side[] = { 1, 7, 8, 9, 33, 64 }, ks[] = { 1, 5, 64, 67, 5000 };       \
        enum { NS = sizeof side / sizeof side[0] };                                                \
        for (size_t e = 0; e < sizeof ks / sizeof ks[0]; e++) {                                    \
            double worst = 0;                                                                      \
            for (int t = 0; t < NS * NS * 2; t++) {                                                \
                int64_t m = side[t % NS], n = side[t / NS % NS], pad = t / (NS * NS) ? 3 : 0;      \
                int64_t k = ks[e], lda = m + pad, ldb = n + pad;                                   \
                int64_t na = (k - 1) * lda + m, nb = (k - 1) * ldb + n;                            \
                T *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c1 = malloc(m * n * sizeof *c1); \
                double *ad = malloc(na * sizeof *ad), *bd = malloc(nb * sizeof *bd);               \
                double *c2 = malloc(m * n * sizeof *c2);                                           \
                for (int64_t i = 0; i < na; i++)                                                   \
                    ad[i] = a[i] = (T)rnd();                                                       \
                for (int64_t i = 0; i < nb; i++)                                                   \
                    bd[i] = b[i] = (T)rnd();                                                       \
                double beta = pad ? 0.5 : 0, *mag = malloc(m * n * sizeof *mag);                   \
                for (int64_t i = 0; i < m * n; i++)                                                \
                    c2[i] = c1[i] = (T)rnd();                                                      \
                /* each element's error against sum_l |a_li b_lj| + |beta c_ij|, which      \
                 * bounds it (gamma_k times that), cancellation or not: against max |C|, \
                 * a 1 x 1 C that nearly cancels failed once on new random values */        \
                for (int64_t i = 0; i < m; i++)                                                    \
                    for (int64_t j = 0; j < n; j++) {                                              \
                        double acc = fabs(beta * c2[i * n + j]);                                   \
                        for (int64_t l = 0; l < k; l++)                                            \
                            acc += fabs(ad[l * lda + i] * bd[l * ldb + j]);                        \
                        mag[i * n + j] = acc;                                                      \
                    }                                                                              \
                exa_k_gemm_##S(1, 1, 0, m, n, k, a, lda, 0, b, ldb, 0, (T)beta, c1, n, 0);         \
                exa_k_gemm_ref_f64(1, 1, 0, m, n, k, ad, lda, 0, bd, ldb, 0, beta, c2, n, 0);      \
                for (int64_t i = 0; i < m * n; i++)                                                \
                    worst = fmax(worst, fabs(c1[i] - c2[i]) / (mag[i] > 0 ? mag[i] : 1));          \
                free(a), free(b), free(c1), free(ad), free(bd), free(c2), free(mag);               \
            }                                                                                      \
            char what[64];                                                                         \
            snprintf(what, sizeof what, "gemm A^T B, %d sides^2 x 2, k %d", NS, (int)ks[e]);        \
            report(what, TYPE, worst, 1, TOL);                                                     \
        }                                                                                          \
        static const int64_t shape[][3] = { { 8, 8, 5000 }, { 40, 40, 1000 }, { 33, 9, 777 },     \
                                            { 40, 2, 1000 } };                                     \
        for (size_t e = 0; e < sizeof shape / sizeof shape[0]; e++) {                              \
            int64_t m = shape[e][0], n = shape[e][1], k = shape[e][2];                             \
            T *a = rnd_array(k * m, sizeof(T)), *b = rnd_array(k * n, sizeof(T));                  \
            T *c[2] = { malloc(m * n * sizeof(T)), malloc(m * n * sizeof(T)) };                    \
            for (int r = 0; r < 2; r++) {                                                          \
                exa_parallel_set_threads(r == 0 ? 1 : 3);                                          \
                exa_k_gemm_##S(1, 1, 0, m, n, k, a, m, 0, b, n, 0, 0, c[r], n, 0);                 \
            }                                                                                      \
            exa_parallel_set_threads(1);                                                           \
            int same = memcmp(c[0], c[1], (size_t)(m * n) * sizeof(T)) == 0;                       \
            printf("%s gemm A^T B %dx%dx%d %s: 3 threads %s 1\n", same ? "ok  " : "FAIL", (int)m,   \
                   (int)n, (int)k, TYPE, same ? "equal" : "differ from");                          \
            failed += !same;                                                                       \
            free(a), free(b), free(c[0]), free(c[1]);                                              \
        }                                                                                          \
    }

/* exa_k_reduce_to's column sums (every dim but the last summed: a bias
 * gradient) against a sum in double: [7, 29, 70] (the rows past the last
 * turn of 4, columns past one block of 64) and [5000, 8]. */
#define REDUCE_COLS_TESTS(T, S, TYPE, TOL)                                                         \
    static void reduce_cols_##S(void)                                                              \
    {                                                                                              \
        static const int64_t dims[2][3] = { { 7, 29, 70 }, { 5000, 8, 0 } };                       \
        for (int e = 0; e < 2; e++) {                                                              \
            int nd = dims[e][2] ? 3 : 2;                                                           \
            int64_t n = dims[e][nd - 1], rows = dims[e][0] * (nd == 3 ? dims[e][1] : 1);           \
            int64_t ys[3] = { 0, 0, 0 };                                                           \
            ys[nd - 1] = 1;                                                                        \
            T *x = malloc(rows * n * sizeof *x), *y = malloc(n * sizeof *y);                       \
            for (int64_t i = 0; i < rows * n; i++)                                                 \
                x[i] = (T)rnd();                                                                   \
            exa_k_reduce_to_##S(nd, dims[e], ys, x, y, n);                                         \
            double d = 0, sz = 0;                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                      \
                double acc = 0;                                                                    \
                for (int64_t r = 0; r < rows; r++)                                                 \
                    acc += x[r * n + i];                                                           \
                d = fmax(d, fabs(acc - y[i])), sz = fmax(sz, fabs(acc));                           \
            }                                                                                      \
            char what[64];                                                                         \
            snprintf(what, sizeof what, "reduce_to column sums %d rows x %d", (int)rows, (int)n);  \
            report(what, TYPE, d, sz, TOL);                                                        \
            free(x), free(y);                                                                      \
        }                                                                                          \
    }

/* exa_k_reduce_to over any other pattern against a loop over every element
 * in double: a conv bias's gradient [7, 5, 6, 9] -> [5, 1, 1] (the runs of
 * 54: a block of 32, two of 8, 6 alone), [2, 3, 4, 5] -> [3, 4, 1] (3 and 4
 * merged into one dim of y), [4, 1, 6, 1] -> [1, 1, 6] (dims of 1, y's
 * innermost kept) and [3, 2] -> [1, 1]. */
#define REDUCE_GEN_TESTS(T, S, TYPE, TOL)                                                          \
    static void reduce_gen_##S(void)                                                               \
    {                                                                                              \
        static const int64_t dims[4][4] = { { 7, 5, 6, 9 }, { 2, 3, 4, 5 }, { 4, 1, 6, 1 },        \
                                            { 3, 2, 0, 0 } };                                      \
        static const int64_t yst[4][4] = { { 0, 1, 0, 0 }, { 0, 4, 1, 0 }, { 0, 0, 1, 0 },         \
                                           { 0, 0, 0, 0 } };                                       \
        static const int64_t ysize[4] = { 5, 12, 6, 1 };                                           \
        for (int e = 0; e < 4; e++) {                                                              \
            int nd = dims[e][2] ? 4 : 2;                                                           \
            int64_t total = 1;                                                                     \
            for (int d = 0; d < nd; d++)                                                           \
                total *= dims[e][d];                                                               \
            T *x = malloc(total * sizeof *x), *y = malloc(ysize[e] * sizeof *y);                   \
            double *ref = calloc(ysize[e], sizeof *ref);                                           \
            for (int64_t i = 0; i < total; i++) {                                                  \
                x[i] = (T)rnd();                                                                   \
                int64_t at = 0, r = i;                                                             \
                for (int d = nd - 1; d >= 0; d--)                                                  \
                    at += r % dims[e][d] * yst[e][d], r /= dims[e][d];                             \
                ref[at] += x[i];                                                                   \
            }                                                                                      \
            exa_k_reduce_to_##S(nd, dims[e], yst[e], x, y, ysize[e]);                              \
            double d = 0, sz = 0;                                                                  \
            for (int64_t i = 0; i < ysize[e]; i++)                                                 \
                d = fmax(d, fabs(ref[i] - y[i])), sz = fmax(sz, fabs(ref[i]));                     \
            char what[64];                                                                         \
            snprintf(what, sizeof what, "reduce_to pattern %d (%d elements)", e, (int)total);      \
            report(what, TYPE, d, sz, TOL);                                                        \
            free(x), free(y), free(ref);                                                           \
        }                                                                                          \
    }

REDUCE_GEN_TESTS(double, f64, "f64", 1e-12)
REDUCE_GEN_TESTS(float, f32, "f32", 1e-5)
/* exa's register-tiled GEMM (kernels_gemm_t.c, called directly: whatever
 * exa_k_gemm's rule picks) against exa_k_gemm_ref_f64 on the same values:
 * m and n from 1, 7, 9, 33, 100, 130 (one row, one vector and its
 * neighbours, partial row blocks and panels), k 1, 5, 100, 784 (one block
 * of k and four; k % 16 of 1, 5 and 4 leave the transposed pack's blocks
 * a tail), every transpose, beta 0 and 0.5 and rows exact or 3 longer in
 * turn; then op(B) of 512 KB (the largest read in place, MT_DIRECT) and one
 * row of k more, in whole and partial panels, the same ways.  Each operand
 * is allocated to its last element, so ASan reports a read past it (a
 * panel read in place, a row of A broadcast in place).  Then shapes of the
 * MLP and the GRU on 3 threads against 1, bit for bit.  ctest runs it in
 * 512-bit vectors where the CPU has them and in 256-bit ones
 * (codegen_kernels_avx2); with EXA_KERNELS_BASELINE=1 the tiles do not run
 * and it says so. */
#define GEMM_TILE_TESTS(T, S, TYPE, TOL)                                                           \
    /* |tiles - reference| / max |reference| of one product; -1: tiles not run */                  \
    static double gemm_tile_case_##S(int ta, int tb, int64_t m, int64_t n, int64_t k, int var)     \
    {                                                                                              \
        int64_t pad = var & 1 ? 3 : 0, lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad;         \
        int64_t ldc = n + pad;                                                                     \
        int64_t na = ta ? (k - 1) * lda + m : (m - 1) * lda + k;                                   \
        int64_t nb = tb ? (n - 1) * ldb + k : (k - 1) * ldb + n, nc = (m - 1) * ldc + n;           \
        T *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c1 = malloc(nc * sizeof *c1); \
        double *ad = malloc(na * sizeof *ad), *bd = malloc(nb * sizeof *bd);                       \
        double *c2 = malloc(nc * sizeof *c2);                                                      \
        for (int64_t i = 0; i < na; i++)                                                           \
            ad[i] = a[i] = (T)rnd();                                                               \
        for (int64_t i = 0; i < nb; i++)                                                           \
            bd[i] = b[i] = (T)rnd();                                                               \
        for (int64_t i = 0; i < nc; i++)                                                           \
            c2[i] = c1[i] = (T)rnd();                                                              \
        double beta = var & 2 ? 0.5 : 0, d = -1;                                                   \
        if (exa_k_gemm_tile_##S(ta, tb, m, n, k, a, lda, b, ldb, (T)beta, c1, ldc)) {              \
            exa_k_gemm_ref_f64(1, ta, tb, m, n, k, ad, lda, 0, bd, ldb, 0, beta, c2, ldc, 0);      \
            double sz = 0;                                                                         \
            d = 0;                                                                                 \
            for (int64_t i = 0; i < m; i++)                                                        \
                for (int64_t x = 0; x < n; x++)                                                    \
                    d = fmax(d, fabs(c1[i * ldc + x] - c2[i * ldc + x])),                          \
                    sz = fmax(sz, fabs(c2[i * ldc + x]));                                          \
            for (int64_t i = 0; i + 1 < m; i++) /* the gaps between rows: untouched */             \
                for (int64_t x = n; x < ldc; x++)                                                  \
                    d = fmax(d, c1[i * ldc + x] == (T)c2[i * ldc + x] ? 0 : 1e30);                 \
            d /= sz > 0 ? sz : 1;                                                                  \
        }                                                                                          \
        free(a), free(b), free(c1), free(ad), free(bd), free(c2);                                  \
        return d;                                                                                  \
    }                                                                                              \
    /* C = op(A) op(B) on 3 threads and on 1: equal bit for bit (sh: m n k ta tb) */               \
    static void gemm_tile_threads_##S(const int64_t *sh)                                           \
    {                                                                                              \
        int64_t m = sh[0], n = sh[1], k = sh[2];                                                   \
        int ta = (int)sh[3], tb = (int)sh[4];                                                      \
        T *a = rnd_array(k * m, sizeof(T)), *b = rnd_array(k * n, sizeof(T));                      \
        T *c[2] = { malloc(m * n * sizeof(T)), malloc(m * n * sizeof(T)) };                        \
        for (int r = 0; r < 2; r++) {                                                              \
            exa_parallel_set_threads(r == 0 ? 1 : 3);                                              \
            exa_k_gemm_tile_##S(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, 0, c[r], n);        \
        }                                                                                          \
        exa_parallel_set_threads(1);                                                               \
        int same = memcmp(c[0], c[1], (size_t)(m * n) * sizeof(T)) == 0;                           \
        printf("%s gemm tiles %dx%dx%d ta %d tb %d %s: 3 threads %s 1\n", same ? "ok  " : "FAIL",  \
               (int)m, (int)n, (int)k, ta, tb, TYPE, same ? "equal" : "differ from");              \
        failed += !same;                                                                           \
        free(a), free(b), free(c[0]), free(c[1]);                                                  \
    }                                                                                              \
    static void gemm_tile_##S(void)                                                                \
    {                                                                                              \
        static const int64_t side[] = { 1, 7, 9, 33, 100, 130 }, ks[] = { 1, 5, 100, 784 };        \
        enum { NS = sizeof side / sizeof side[0] };                                                \
        double worst = 0;                                                                          \
        int cases = 0;                                                                             \
        for (int t = 0; t < NS * NS * 4 * 4; t++) {                                                \
            int64_t m = side[t % NS], n = side[t / NS % NS], k = ks[t / (NS * NS) % 4];            \
            int ta = t / (NS * NS * 4) & 1, tb = t / (NS * NS * 8) & 1, var = (t + t / NS) % 4;    \
            double d = gemm_tile_case_##S(ta, tb, m, n, k, var);                                   \
            if (d < 0) {                                                                           \
                printf("ok   gemm tiles %s: not run on this CPU (EXA_KERNELS_BASELINE or no AVX2)\n", \
                       TYPE);                                                                      \
                return;                                                                            \
            }                                                                                      \
            worst = fmax(worst, d);                                                                \
            cases++;                                                                               \
        }                                                                                          \
        char what[80];                                                                             \
        snprintf(what, sizeof what, "gemm tiles, %d shapes x transposes", cases);                  \
        report(what, TYPE, worst, 1, TOL);                                                         \
        static const int64_t shape[][5] = { { 100, 128, 784, 0, 1 }, { 128, 784, 100, 1, 0 },      \
                                            { 100, 128, 128, 0, 0 }, { 130, 33, 100, 1, 1 },       \
                                            { 50, 128, 128, 0, 0 },  { 50, 384, 128, 0, 1 },       \
                                            { 384, 128, 50, 1, 0 },  { 100, 100, 300, 0, 0 } };    \
        for (size_t e = 0; e < 4; e++)                                                             \
            gemm_tile_threads_##S(shape[e]);                                                       \
        /* the cases below draw their values from a seed of their own, so                          \
         * that the tests after this one see the values they always had */                         \
        unsigned outer = seed;                                                                     \
        seed = 11;                                                                                 \
        /* op(B) [k, n] of 512 KB (n = 128: k = 1024 in f32, 512 in f64; n =                       \
         * 100 and 36, partial last panels: the most k within it) and k one                        \
         * more, above it: read in place and packed */                                             \
        static const int64_t edge_n[] = { 128, 100, 36 };                                          \
        worst = 0, cases = 0;                                                                      \
        for (int t = 0; t < 3 * 2 * 4 * 2; t++) {                                                  \
            int64_t n = edge_n[t % 3], k = (512 << 10) / (n * (int64_t)sizeof(T)) + t / 3 % 2;     \
            int ta = t / 6 % 2, tb = t / 12 % 2, var = t / 24 % 2 + 2 * (t % 2);                   \
            worst = fmax(worst, gemm_tile_case_##S(ta, tb, 13, n, k, var));                        \
            cases++;                                                                               \
        }                                                                                          \
        snprintf(what, sizeof what, "gemm tiles, %d shapes at op(B) read in place or not", cases); \
        report(what, TYPE, worst, 1, TOL);                                                         \
        for (size_t e = 4; e < sizeof shape / sizeof shape[0]; e++)                                \
            gemm_tile_threads_##S(shape[e]);                                                       \
        seed = outer;                                                                              \
    }

GEMM_TILE_TESTS(double, f64, "f64", 1e-12)
GEMM_TILE_TESTS(float, f32, "f32", 1e-5)

/* against the terms' magnitudes (tighter than the max |C| measure before:
 * measured 4.2e-16 and 2.3e-7 at most) */
GEMM_TALL_TESTS(double, f64, "f64", 1e-14)
GEMM_TALL_TESTS(float, f32, "f32", 2e-6)
REDUCE_COLS_TESTS(double, f64, "f64", 1e-12)
REDUCE_COLS_TESTS(float, f32, "f32", 1e-5)

GEMM_SHAPES_TESTS(double, f64, "f64", 1e-12)
GEMM_SHAPES_TESTS(float, f32, "f32", 1e-5)

DCONV_TESTS(double, f64, "f64", 1e-12)
DCONV_TESTS(float, f32, "f32", 1e-5)
DCONV_THREADS_TESTS(double, f64, "f64", 1e-12)
DCONV_THREADS_TESTS(float, f32, "f32", 1e-5)

/* exa_k_slice (gather, and the zero-fill with the slice there),
 * exa_k_slice_add and exa_k_slice_put, which walk contiguous runs, against a
 * loop over every element of a [4, 5, 6] slice, batch 3, each dim cut or
 * whole (f64; exact). */
static void slices(void)
{
    enum { COUNT = 3, NBIG = 4 * 5 * 6 };
    static const int64_t big[3] = { 4, 5, 6 };
    static const int64_t cuts[4][2][3] = { /* lo, small */
        { { 1, 0, 0 }, { 1, 5, 6 } },      /* one row: a single run */
        { { 1, 2, 0 }, { 2, 3, 6 } },      /* runs of the last two dims */
        { { 0, 1, 2 }, { 4, 3, 3 } },      /* a run per row of the last dim */
        { { 0, 0, 0 }, { 4, 5, 6 } },      /* the whole tensor */
    };
    static double bigp[COUNT * NBIG], small[COUNT * NBIG], ref[COUNT * NBIG], acc[COUNT * NBIG];
    static double put[COUNT * NBIG], putref[COUNT * NBIG];
    for (int c = 0; c < 4; c++) {
        const int64_t *lo = cuts[c][0], *sm = cuts[c][1];
        int64_t ns = sm[0] * sm[1] * sm[2];
        for (int i = 0; i < COUNT * NBIG; i++)
            bigp[i] = rnd(), small[i] = rnd(), acc[i] = rnd();
        double d = 0;
        exa_k_slice_f64(COUNT, 3, big, lo, sm, bigp, NBIG, ref, ns, 0); /* gather */
        for (int s = 0; s < COUNT; s++)
            for (int64_t f = 0; f < ns; f++) {
                int64_t i = f / (sm[1] * sm[2]), j = f / sm[2] % sm[1], k = f % sm[2];
                int64_t at = ((i + lo[0]) * big[1] + j + lo[1]) * big[2] + k + lo[2];
                d = fmax(d, fabs(ref[s * ns + f] - bigp[s * NBIG + at]));
            }
        memcpy(ref, acc, sizeof ref);
        memcpy(put, acc, sizeof put);
        memcpy(putref, acc, sizeof putref);
        exa_k_slice_put_f64(COUNT, 3, big, lo, sm, put, NBIG, small, ns); /* the slice alone */
        exa_k_slice_add_f64(COUNT, 3, big, lo, sm, acc, NBIG, small, ns); /* in place */
        exa_k_slice_f64(COUNT, 3, big, lo, sm, bigp, NBIG, small, ns, 1); /* zeros + slice */
        for (int s = 0; s < COUNT; s++) {
            for (int64_t f = 0; f < ns; f++) {
                int64_t i = f / (sm[1] * sm[2]), j = f / sm[2] % sm[1], k = f % sm[2];
                int64_t at = s * NBIG + ((i + lo[0]) * big[1] + j + lo[1]) * big[2] + k + lo[2];
                ref[at] += small[s * ns + f];
                putref[at] = small[s * ns + f];
                d = fmax(d, fabs(bigp[at] - small[s * ns + f]));
                bigp[at] = 0;
            }
        }
        for (int i = 0; i < COUNT * NBIG; i++)
            d = fmax(d, fmax(fmax(fabs(acc[i] - ref[i]), fabs(bigp[i])), /* the rest of the zero-fill */
                             fabs(put[i] - putref[i]))); /* put: the rest untouched */
        char what[64];
        snprintf(what, sizeof what, "slice, slice_add, slice_put cut %d", c);
        report(what, "f64", d, 1, 1e-15);
    }
}

/* exa_k_transpose (vector blocks and element-wise edges, kernels_vec_t.c)
 * against the definition, exact: whole blocks (16x24), blocks and edges in
 * both dims (40x40, 19x13), smaller than a block (3x5), a batch of 2 with
 * the inputs further apart than their size. */
#define TRANSPOSE_TESTS(T, S, TYPE)                                                                \
    static void transpose_##S(void)                                                                \
    {                                                                                              \
        static const int64_t shape[][2] = { { 16, 24 }, { 40, 40 }, { 19, 13 }, { 3, 5 } };        \
        for (size_t e = 0; e < sizeof shape / sizeof shape[0]; e++) {                              \
            int64_t r = shape[e][0], c = shape[e][1], sx = r * c + 7, count = 2;                   \
            T *x = malloc(count * sx * sizeof *x), *y = malloc(count * r * c * sizeof *y);         \
            for (int64_t i = 0; i < count * sx; i++)                                               \
                x[i] = (T)rnd();                                                                   \
            exa_k_transpose_##S(count, r, c, x, sx, y);                                            \
            double d = 0;                                                                          \
            for (int64_t s = 0; s < count; s++)                                                    \
                for (int64_t i = 0; i < r; i++)                                                    \
                    for (int64_t j = 0; j < c; j++)                                                \
                        d = fmax(d, fabs((double)y[s * r * c + j * r + i] - x[s * sx + i * c + j])); \
            char what[64];                                                                         \
            snprintf(what, sizeof what, "transpose %dx%d, batch of 2", (int)r, (int)c);            \
            report(what, TYPE, d, 1, 1e-300);                                                      \
            free(x), free(y);                                                                      \
        }                                                                                          \
    }
TRANSPOSE_TESTS(double, f64, "f64")
TRANSPOSE_TESTS(float, f32, "f32")

int openblas_get_num_threads(void);

/* exa_k_blas_gemm: OpenBLAS held at one thread (exa_k_blas_hold_one), a
 * large product split over exa's threads by C's rows (130x70x40: parts of
 * 80 and 50) or columns (50x300x20, both transposed: 160 and 140) gives the
 * same bits as on one thread, and both match the reference; so do one at
 * the threshold (64^3 = 2^18, A^T), one below it, and 40x40x1000 A^T, whose
 * parts (16x40x1000 at three threads, until session 8) OpenBLAS's SkylakeX
 * kernel sums in another order than the whole product.  Parts past OpenBLAS's
 * small-matrix kernels (EXA_K_BLAS_SMALL_MAX) are one a thread, so one
 * thread runs one call: 256x600x100 B^T and 600x300x80 A^T in one call
 * against two parts, 2048x64x64 against three (688 rows, not four of 512). */
#define BLAS_SPLIT_TESTS(T, S, TYPE, TOL)                                                          \
    static void blas_split_##S(void)                                                               \
    {                                                                                              \
        static const int64_t shape[][5] = { { 130, 70, 40, 0, 0 }, { 50, 300, 20, 1, 1 },          \
                                            { 64, 64, 64, 1, 0 }, { 30, 20, 10, 0, 1 },            \
                                            { 40, 40, 1000, 1, 0 }, { 256, 600, 100, 0, 1 },       \
                                            { 600, 300, 80, 1, 0 }, { 2048, 64, 64, 0, 0 } };      \
        unsigned outer = seed;                                                                     \
        for (size_t e = 0; e < sizeof shape / sizeof shape[0]; e++) {                              \
            int64_t m = shape[e][0], n = shape[e][1], k = shape[e][2];                             \
            int ta = (int)shape[e][3], tb = (int)shape[e][4];                                      \
            /* the shapes from 256x600x100 on draw their values from a seed of                     \
             * their own, so that the tests after these see the values they always had */          \
            if (e == 5)                                                                            \
                seed = 13;                                                                         \
            T *a = rnd_array(m * k, sizeof(T)), *b = rnd_array(k * n, sizeof(T));                  \
            T *c0 = rnd_array(m * n, sizeof(T)), *c[3];                                            \
            for (int r = 0; r < 3; r++) {                                                          \
                c[r] = malloc((size_t)(m * n) * sizeof(T));                                        \
                memcpy(c[r], c0, (size_t)(m * n) * sizeof(T));                                     \
            }                                                                                      \
            for (int r = 0; r < 2; r++) {                                                          \
                exa_parallel_set_threads(r == 0 ? 1 : 3);                                          \
                exa_k_blas_gemm_##S(ta, tb, m, n, k, (T)0.75, a, ta ? m : k, b, tb ? k : n,        \
                                    (T)0.5, c[r], n);                                              \
            }                                                                                      \
            exa_parallel_set_threads(1);                                                           \
            exa_k_gemm_ref_##S(1, ta, tb, m, n, k, a, ta ? m : k, 0, b, tb ? k : n, 0, 0, c[2], n, 0); \
            double d = 0, sz = 0;                                                                  \
            for (int64_t i = 0; i < m * n; i++) {                                                  \
                double want = 0.75 * (double)c[2][i] + 0.5 * (double)c0[i];                        \
                d = fmax(d, fabs((double)c[1][i] - want)), sz = fmax(sz, fabs(want));              \
            }                                                                                      \
            int same = memcmp(c[0], c[1], (size_t)(m * n) * sizeof(T)) == 0;                       \
            char what[64];                                                                         \
            snprintf(what, sizeof what, "blas_gemm %dx%dx%d %c%c, 3 threads", (int)m, (int)n,      \
                     (int)k, ta ? 't' : 'n', tb ? 't' : 'n');                                      \
            report(what, TYPE, d, sz, TOL);                                                        \
            printf("%s %s %s: bits %s 1 thread's\n", same ? "ok  " : "FAIL", what, TYPE,           \
                   same ? "equal" : "differ from");                                                \
            failed += !same;                                                                       \
            free(a), free(b), free(c0), free(c[0]), free(c[1]), free(c[2]);                        \
        }                                                                                          \
        seed = outer;                                                                              \
    }
BLAS_SPLIT_TESTS(float, f32, "f32", 1e-5)
BLAS_SPLIT_TESTS(double, f64, "f64", 1e-13)

/* exa_k_blas_hold_one leaves OpenBLAS at one thread; the split products
 * above then run on exa's threads only. */
static void blas_hold_one(void)
{
    exa_k_blas_hold_one();
    int threads = openblas_get_num_threads();
    printf("%s exa_k_blas_hold_one: OpenBLAS at %d thread(s)\n", threads == 1 ? "ok  " : "FAIL", threads);
    failed += threads != 1;
    blas_split_f32();
    blas_split_f64();
}

/* EXA_GEMM: openblas, exa, unset and empty accepted; anything else refused
 * with a message that names it (the run-start check, exa_k_gemm_check_env;
 * the kernels' choice is cached on first use, so this only checks the
 * check). */
static void gemm_env(void)
{
    static const char *const vals[] = { "openblas", "exa", "", "Exa", "blas" };
    const char *before = getenv("EXA_GEMM");
    char *keep = before ? strdup(before) : NULL;
    for (int i = 0; i < 5; i++) {
        char err[256] = "";
        setenv("EXA_GEMM", vals[i], 1);
        int rc = exa_k_gemm_check_env(err, sizeof err), want = i < 3 ? 0 : -1;
        int ok = rc == want && (want == 0 || strstr(err, vals[i]) != NULL);
        printf("%s EXA_GEMM='%s' %s%s\n", ok ? "ok  " : "FAIL", vals[i], rc ? "refused: " : "accepted", err);
        failed += !ok;
    }
    if (keep)
        setenv("EXA_GEMM", keep, 1);
    else
        unsetenv("EXA_GEMM");
    free(keep);
}

int main(void)
{
    gemm_env();
    slices();
    transpose_f64();
    transpose_f32();
    blas_hold_one();
    conv_batch();
    dconv_f64();
    dconv_f32();
    dconv_ref_f64();
    dconv_ref_f32();
    maxpool_grad_exact();
    dconv_threads_f64();
    dconv_threads_f32();
    gemm_shapes_f64();
    gemm_shapes_f32();
    gemm_tall_f64();
    gemm_tall_f32();
    gemm_tile_f64();
    gemm_tile_f32();
    reduce_cols_f64();
    reduce_cols_f32();
    reduce_gen_f64();
    reduce_gen_f32();
    tests_f64();
    tests_f32();
    printf("%d failed\n", failed);
    return failed ? 1 : 0;
}
