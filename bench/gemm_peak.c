/* gemm_peak.c - sgemm measurements for bench/throughput.sh, OpenBLAS's and
 * exa's own (libexa's register-tiled kernel, exa_k_gemm_tile_f32, or
 * whichever kernel exa_k_gemm_f32 picks for the shape).
 *
 *   gemm_peak N REPEATS         GFLOP/s of OpenBLAS on N x N matrices: the
 *                               peak model (d) is compared against
 *   gemm_peak -us M N K TA TB [exa|gemm]
 *                               microseconds of one row-major sgemm
 *                               C[M,N] = op(A) op(B) with inner dimension K,
 *                               op transposed where TA / TB is 1, by OpenBLAS
 *                               (or exa's tiles with `exa`, or exa_k_gemm's
 *                               choice with `gemm`: its narrow and long-k
 *                               kernels, its tiles or OpenBLAS; on
 *                               OPENBLAS_NUM_THREADS threads of exa's pool,
 *                               the count OpenBLAS runs on); the best of 7
 *                               rounds of 200 calls (of about 50 ms for
 *                               calls over 250 us), caches warm.  A step's
 *                               GEMMs alone: goal 2's bound for (a), (b),
 *                               (d), (e), (g), (h), (i).
 *   gemm_peak -core             OpenBLAS's kernel for this CPU
 *                               (openblas_get_corename)
 *
 * Built against a build's libexa (bench/throughput.sh does):
 *   mpicc -O2 -Iruntime/include bench/gemm_peak.c build/lib/libexa.a \
 *         -lopenblas -lz -lm -lpthread -ldl -o gemm_peak
 * or with -DGEMM_PEAK_NO_EXA and OpenBLAS alone (then `exa` and `gemm`
 * fail). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GEMM_PEAK_NO_EXA /* built without libexa (a build older than its tiles) */
#include "exa/kernels.h"
#include "exa/parallel.h"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(long count, int mod)
{
    float *p = malloc(sizeof(float) * (size_t)count);
    for (long i = 0; p && i < count; i++)
        p[i] = (float)(i % mod) * 0.1f;
    return p;
}

static int use_exa, use_gemm;

static void sgemm(int ta, int tb, int m, int n, int k, const float *a, const float *b, float *c)
{
#ifndef GEMM_PEAK_NO_EXA
    if (use_gemm) {
        exa_k_gemm_f32(1, ta, tb, m, n, k, a, ta ? m : k, 0, b, tb ? k : n, 0, 0, c, n, 0);
        return;
    }
#endif
    if (use_exa) {
#ifdef GEMM_PEAK_NO_EXA
        if (1) {
#else
        if (!exa_k_gemm_tile_f32(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, 0, c, n)) {
#endif
            fprintf(stderr, "gemm_peak: exa's tiles do not run here (no AVX2 and FMA, or built "
                            "without libexa)\n");
            exit(1);
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n);
}

static int square_gflops(int n, int reps)
{
    float *a = filled((long)n * n, 7), *b = filled((long)n * n, 5), *c = filled((long)n * n, 3);
    if (!a || !b || !c)
        return 1;
    sgemm(0, 0, n, n, n, a, b, c);
    double t = now();
    for (int r = 0; r < reps; r++)
        sgemm(0, 0, n, n, n, a, b, c);
    t = now() - t;
    printf("%.1f\n", 2.0 * n * n * (double)n * reps / t / 1e9);
    free(a), free(b), free(c);
    return 0;
}

static int call_us(int m, int n, int k, int ta, int tb)
{
    float *a = filled((long)m * k, 7), *b = filled((long)k * n, 5), *c = filled((long)m * n, 3);
    if (!a || !b || !c)
        return 1;
    /* rounds of 200 calls, or of as many as take about 50 ms where one
     * call is longer than 250 us ((d)'s products: 200 would be 3 s a round) */
    double once = now();
    sgemm(ta, tb, m, n, k, a, b, c);
    once = now() - once;
    int calls = once > 250e-6 ? (int)(50e-3 / once) + 1 : 200;
    double best = 1e30;
    for (int round = 0; round < 7; round++) {
        double t = now();
        for (int i = 0; i < calls; i++)
            sgemm(ta, tb, m, n, k, a, b, c);
        t = (now() - t) / calls;
        best = t < best ? t : best;
    }
    printf("%.1f\n", best * 1e6);
    free(a), free(b), free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "-core") == 0) {
        printf("%s\n", openblas_get_corename());
        return 0;
    }
    if (argc == 8 && strcmp(argv[1], "-us") == 0 &&
        (strcmp(argv[7], "exa") == 0 || strcmp(argv[7], "gemm") == 0)) {
#ifdef GEMM_PEAK_NO_EXA
        fprintf(stderr, "gemm_peak: built without libexa: no `%s`\n", argv[7]);
        return 1;
#else
        const char *t = getenv("OPENBLAS_NUM_THREADS");
        exa_parallel_set_threads(t && atoi(t) > 0 ? atoi(t) : 1);
        use_exa = strcmp(argv[7], "exa") == 0, use_gemm = !use_exa;
        argc = 7;
#endif
    }
    if (argc == 7 && strcmp(argv[1], "-us") == 0)
        return call_us(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    int n = argc > 1 ? atoi(argv[1]) : 2048, reps = argc > 2 ? atoi(argv[2]) : 5;
    if (n <= 0 || reps <= 0) {
        fprintf(stderr, "usage: gemm_peak N REPEATS | gemm_peak -us M N K TA TB [exa|gemm] | gemm_peak -core\n");
        return 2;
    }
    return square_gflops(n, reps);
}
