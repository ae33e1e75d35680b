/* admm_layout.c - pdADMM's sizes: layer dimensions, the contiguous layer
 * groups of the ranks (by work), the state's layout and the memory a rank
 * needs (admm_method.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admm_method.h"

void *admm_alloc(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

int64_t admm_dim_in(const ExaRun *r, int l)
{
    return r->prog->params[r->prog->layers[l].w].shape.dim[1];
}
int64_t admm_dim_out(const ExaRun *r, int l)
{
    return r->prog->params[r->prog->layers[l].w].shape.dim[0];
}

int admm_inserted(const ExaRun *r, int l, int L)
{
    return l >= 1 && l <= L - 2 && admm_dim_in(r, l) == admm_dim_out(r, l);
}

/* Layers [l0, l1) of rank k of P: contiguous groups of about equal work.
 * A layer's updates cost about N (n m + n + m) (the GEMMs of p and W and
 * the elementwise z, q, u), so rank k's group starts at the first layer
 * where the running sum of n m + n + m reaches k/P of the total, kept so
 * that every rank has a layer.  The grouping never changes the iterates. */
static double layer_work(const ExaRun *r, int l)
{
    return (double)(admm_dim_in(r, l) * admm_dim_out(r, l) + admm_dim_in(r, l) + admm_dim_out(r, l));
}

void admm_group(const ExaRun *r, int L, int P, int k, int *l0, int *l1)
{
    double total = 0, run = 0;
    for (int l = 0; l < L; l++)
        total += layer_work(r, l);
    int prev = 0, b = 0; /* boundary j: the first layer of rank j */
    *l0 = 0, *l1 = L;
    for (int j = 1; j < P; j++) {
        while (b < L && run + layer_work(r, b) / 2 < total * j / P) /* nearest to j/P of the work */
            run += layer_work(r, b++);
        int at = b;
        if (at <= prev) /* every rank a layer: before j ... */
            at = prev + 1;
        if (at > L - (P - j)) /* ... and after */
            at = L - (P - j);
        while (b < at)
            run += layer_work(r, b++);
        while (b > at)
            run -= layer_work(r, --b);
        if (j == k)
            *l0 = at;
        if (j == k + 1)
            *l1 = at;
        prev = at;
    }
}

/* Doubles of layer l in the state: W, b, z, then p (l > 0), q, u (l < L-1). */
int64_t admm_layer_state(const ExaRun *r, int l, int L, int64_t N)
{
    int64_t n = admm_dim_in(r, l), m = admm_dim_out(r, l);
    return m * n + m + N * m + (l > 0 ? N * n : 0) + (l < L - 1 ? 2 * N * m : 0);
}

/* Bytes rank k needs: its layers' variables, the halos, the scratch, the
 * x copy, on rank 0 the gathered state when checkpointing, and with
 * mini-batches of B < N samples the batch's copies. */
int64_t admm_rank_bytes(const ExaRun *r, int L, int P, int k, int64_t N, int64_t B, int ckpt)
{
    int l0, l1;
    admm_group(r, L, P, k, &l0, &l1);
    int64_t d = 0, mx = 0, mm = 0, mw = 0, all = 0;
    for (int l = 0; l < L; l++)
        all += admm_layer_state(r, l, L, N);
    for (int l = l0; l < l1; l++) {
        int64_t n = admm_dim_in(r, l), m = admm_dim_out(r, l);
        d += admm_layer_state(r, l, L, N) + (l == 0 ? N * n : 0);
        mx = n > mx ? n : mx, mx = m > mx ? m : mx, mm = m > mm ? m : mm, mw = m * n > mw ? m * n : mw;
    }
    d += l0 > 0 ? 2 * N * admm_dim_in(r, l0) : 0;
    d += l1 < L ? N * admm_dim_out(r, l1 - 1) : 0;
    d += N * mm + 2 * N * mx + 2 * mw + (l1 == L ? 2 * N * admm_dim_out(r, L - 1) : 0); /* scratch */
    d += k == 0 && ckpt ? all : 0;
    for (int l = l0; B < N && l < l1; l++) /* a mini-batch's rows of p, z, q, u */
        d += B * (admm_dim_in(r, l) + 3 * admm_dim_out(r, l)) + (l == l0 && l0 > 0 ? 2 * B * admm_dim_in(r, l) : 0);
    return 8 * d;
}

/* MemAvailable of /proc/meminfo in bytes, or -1. */
int64_t admm_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : 1024 * (int64_t)kb;
}
