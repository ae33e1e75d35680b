/* dconv_time.c - microseconds and GFLOP/s of LeNet's direct convolutions
 * (exa_k_dconv*, f32, batch 100, one thread), for docs/results/throughput.md.
 *
 *   dconv_time [REPEATS]     (default 100; best of REPEATS calls each)
 *
 * Layer 1 is 1x28x28 -> 6 at 5x5, layer 2 6x12x12 -> 16 at 5x5; LeNet's
 * step runs both forwards and weight gradients and layer 2's input gradient.
 * Whichever kernels libexa picks for this CPU run: EXA_KERNELS_BASELINE=avx2
 * stops at the AVX2 ones, =1 runs the im2col ones.  Built against a build's
 * libexa:
 *   mpicc -O2 -Iruntime/include bench/dconv_time.c build/lib/libexa.a \
 *         -lopenblas -lz -lm -lpthread -ldl -o dconv_time */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "exa/kernels.h"
#include "exa/parallel.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 100;
    static const int64_t geo[2][5] = { { 1, 28, 28, 6, 5 }, { 6, 12, 12, 16, 5 } }; /* c, h, w, o, k */
    exa_parallel_set_threads(1);
    for (int l = 0; l < 2; l++) {
        int64_t c = geo[l][0], h = geo[l][1], w = geo[l][2], o = geo[l][3], k = geo[l][4], B = 100;
        int64_t oh = h - k + 1, ow = w - k + 1, nx = c * h * w, ny = o * oh * ow, nw = o * c * k * k;
        int64_t ns = 0;
        for (int kind = EXA_DCONV_FWD; kind <= EXA_DCONV_GRAD_W; kind++) {
            int64_t n = exa_dconv_workspace_len((ExaDconvKind)kind, c, h, w, o, k, 0, 8);
            ns = n > ns ? n : ns;
        }
        float *x = malloc((size_t)(B * nx) * sizeof *x), *g = malloc((size_t)(B * ny) * sizeof *g);
        float *wt = malloc((size_t)nw * sizeof *wt), *y = malloc((size_t)(B * ny) * sizeof *y);
        float *dx = malloc((size_t)(B * nx) * sizeof *dx), *dw = malloc((size_t)nw * sizeof *dw);
        float *s = malloc((size_t)ns * sizeof *s);
        if (!x || !g || !wt || !y || !dx || !dw || !s)
            return 1;
        for (int64_t i = 0; i < B * nx; i++)
            x[i] = (float)(i % 13) / 13 - 0.5f;
        for (int64_t i = 0; i < B * ny; i++)
            g[i] = (float)(i % 7) / 7 - 0.5f;
        for (int64_t i = 0; i < nw; i++)
            wt[i] = (float)(i % 5) / 5 - 0.5f;
        double best[3] = { 1e9, 1e9, 1e9 };
        for (int r = 0; r < reps; r++) {
            double t[4];
            t[0] = now();
            exa_k_dconv_f32(B, c, h, w, o, k, 0, x, nx, wt, 0, y, ny, s);
            t[1] = now();
            exa_k_dconv_grad_x_f32(B, c, h, w, o, k, 0, g, ny, wt, 0, dx, nx, s);
            t[2] = now();
            exa_k_dconv_grad_w_f32(B, c, h, w, o, k, 0, g, ny, x, nx, dw, 0, s);
            t[3] = now();
            for (int e = 0; e < 3; e++)
                best[e] = t[e + 1] - t[e] < best[e] ? t[e + 1] - t[e] : best[e];
        }
        double flop = 2.0 * (double)(B * nw * oh * ow);
        printf("layer %d %dx%dx%d -> %d k%d: forward %.0f us %.1f GFLOP/s, grad_x %.0f us %.1f, "
               "grad_w %.0f us %.1f\n",
               l + 1, (int)c, (int)h, (int)w, (int)o, (int)k, best[0] * 1e6, flop / best[0] / 1e9,
               best[1] * 1e6, flop / best[1] / 1e9, best[2] * 1e6, flop / best[2] / 1e9);
        free(x), free(g), free(wt), free(y), free(dx), free(dw), free(s);
    }
    return 0;
}
