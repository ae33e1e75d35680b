/* kernels.c - the kernels generated code calls (kernels.h), in float and
 * double from one source.
 *
 * How one implementation gives both types: the type-generic body lives in
 * kernels_t.c, written in terms of `real`, FN(name) (which appends _f32 or
 * _f64), GEMM (cblas_sgemm or cblas_dgemm) and the <tgmath.h> math functions
 * (exp, log, fabs pick the float or double version from their argument).
 * kernels_f32.c and kernels_f64.c include it, once each, with those macros
 * defined; compiled on its own (the runtime globs *.c) kernels_t.c is empty.
 * A macro-generated body would do the same, but this way the kernels read,
 * and debug, as plain C.  kernels_vec_t.c holds the kernels written with
 * vectors by hand (GCC's vector extensions), kernels_v4_t.c the direct
 * convolutions on AVX-512, and kernels_par_t.c the direct convolutions'
 * entry points, which pick one of them and split it over threads; all are
 * included the same way.  This file holds what both types share: the CPU
 * checks and the rule for exa's GEMM tiles (declared in kernels_int.h).
 *
 * Why a file per type and not one for both: the templates at -O3 are the
 * project's longest compile (58 CPU s for both types; 268 s under the
 * sanitizers); split, the two types compile in parallel. */
#include "kernels_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's pthread server (0.3.x, driver/others/blas_server.c): a worker
 * that starts, or finishes a job, spins in sched_yield for
 * OPENBLAS_THREAD_TIMEOUT (2^28 TSC cycles, about 0.1 s) before it sleeps.
 * Next to exa's own pool that spin takes a core: bench (f), a GRU whose
 * products all run in exa's kernels, ran at 0.97-1.43e4 samples/s on two
 * threads with it and 2.1-2.9e4 with OPENBLAS_THREAD_TIMEOUT=4, because the
 * worker OpenBLAS starts when it loads (OPENBLAS_NUM_THREADS, else a thread a
 * core) spun through most of the run.  The environment variable is read
 * when the library loads, before main, so libexa cannot set it; instead it
 * holds OpenBLAS at one thread, splits large products over its own pool
 * (exa_k_blas_gemm) and stops OpenBLAS's workers.  blas_thread_shutdown_ is
 * OpenBLAS's own (its fork handler calls it; OpenBLAS starts the workers
 * again when a call wants more than one thread, which libexa never makes).
 * Weak, because OpenBLAS built with OpenMP has no such server. */
int blas_thread_shutdown_(void) __attribute__((weak));

void exa_k_blas_hold_one(void)
{
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

#ifdef EXA_K_VEC
/* Whether to run the x86-64-v3 code: the CPU has AVX2 and FMA, and
 * EXA_KERNELS_BASELINE is unset, 0 or avx2 (tests set it to run the
 * fallbacks; avx2 stops at the x86-64-v3 code, below).  Batch groups
 * (core/batch_groups.c) call the kernels from several threads at once, so
 * the cached answer is atomic (relaxed: every thread that computes it
 * computes the same value). */
int exa_k_vec_ok(void)
{
    static atomic_int ok = -1;
    int v = atomic_load_explicit(&ok, memory_order_relaxed);
    if (v < 0) {
        const char *env = getenv("EXA_KERNELS_BASELINE");
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            !(env && *env && strcmp(env, "0") != 0 && strcmp(env, "avx2") != 0);
        atomic_store_explicit(&ok, v, memory_order_relaxed);
    }
    return v;
}

/* Whether to run the x86-64-v4 code (kernels_v4_t.c, and the GEMMs' 512-bit
 * form): the x86-64-v3 code runs, the CPU has AVX-512 (F, BW, DQ, VL: what
 * x86-64-v4 lets the compiler use) and EXA_KERNELS_BASELINE is not avx2.
 * Atomic for the same reason. */
int exa_k_v4_ok(void)
{
    static atomic_int ok = -1;
    int v = atomic_load_explicit(&ok, memory_order_relaxed);
    if (v < 0) {
        const char *env = getenv("EXA_KERNELS_BASELINE");
        v = exa_k_vec_ok() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
            !(env && strcmp(env, "avx2") == 0);
        atomic_store_explicit(&ok, v, memory_order_relaxed);
    }
    return v;
}
#endif

/* Which kernel runs the products of medium shape (kernels_gemm_t.c's tiles:
 * exa_k_gemm's rule in kernels_vec_t.c): EXA_GEMM=exa takes exa's tiles for
 * every product they handle, EXA_GEMM=openblas never, unset or empty by
 * OpenBLAS's kernel for this CPU (openblas_get_corename) and the product's
 * size.  The tiles were first measured against OpenBLAS's generic SSE3
 * kernels (0.3.21 on a KVM Sapphire/Emerald Rapids Xeon it does not know:
 * corename "Prescott", ~32 GFLOP/s a core against the tiles' 100+;
 * docs/results/throughput.md) and beat them at every size, because those
 * kernels lack FMA and wide vectors: there the tiles take every product they
 * handle.  Against OpenBLAS's own SkylakeX kernels (session 8, a machine
 * whose CPU 0.3.21 knows; docs/results/throughput.md, "Issue 17, session
 * 8") the tiles take 0.82-1.0x OpenBLAS's time at one thread and about
 * half at two while op(B) is at most about 2^20 elements (bench (a), (e),
 * (g), (h)'s products, 256x512x512, 100x1024x784), and 1.1-1.3x at one
 * thread beyond (bench (d)'s 2048-wide layers), and for weight gradients
 * Aᵀ B with C past about 2^17 elements (1024x784 over 256 samples: 1.3x).
 * So on an FMA kernel (Haswell, SkylakeX, Cooperlake, SapphireRapids, Zen,
 * ...) they take a product when op(B) has at most EXA_K_TILES_FMA_MAX_B
 * elements and, where A is transposed, C at most EXA_K_TILES_FMA_MAX_TC.
 * The rule depends on the shape alone, never on --threads, so the bits do
 * not either; and where the tiles take a product, the bits are the same
 * whichever OpenBLAS kernel the machine has.
 * EXA_GEMM is checked when a run starts (exa_k_gemm_check_env); the core's
 * answer is cached atomically (batch groups call the kernels from several
 * threads: each computes the same value). */
static int exa_k_gemm_env(const char *env)
{
    if (!env || !*env)
        return 0; /* by OpenBLAS's core */
    if (strcmp(env, "openblas") == 0)
        return 1;
    if (strcmp(env, "exa") == 0)
        return 2;
    return -1;
}

int exa_k_gemm_check_env(char *err, size_t errlen)
{
    const char *env = getenv("EXA_GEMM");
    if (exa_k_gemm_env(env) >= 0)
        return 0;
    snprintf(err, errlen, "exa: EXA_GEMM: '%s' is not 'openblas' or 'exa' (unset: exa's kernels where "
                          "OpenBLAS's own for this CPU lack FMA, else for products of medium size)", env);
    return -1;
}

int exa_k_blas_skylakex(void)
{
    static atomic_int skx = -1;
    int v = atomic_load_explicit(&skx, memory_order_relaxed);
    if (v < 0) {
        const char *core = openblas_get_corename();
        v = core && (strcmp(core, "SkylakeX") == 0 || strcmp(core, "Cooperlake") == 0 ||
                     strcmp(core, "SapphireRapids") == 0);
        atomic_store_explicit(&skx, v, memory_order_relaxed);
    }
    return v;
}

#ifdef EXA_K_VEC
/* 1: a medium product C [m, n] = op(A) op(B) over k may take exa's tiles
 * (EXA_GEMM=exa; or unset, with OpenBLAS on a pre-FMA kernel, or on an FMA
 * one within the bounds above), 0: OpenBLAS keeps it.  A misspelled
 * EXA_GEMM (refused by exa_k_gemm_check_env where a run starts) counts as
 * openblas here. */
enum { NEVER, ALWAYS, BOUNDED };
static int exa_k_gemm_mode(void)
{
    static atomic_int mode = -1;
    int v = atomic_load_explicit(&mode, memory_order_relaxed);
    if (v < 0) {
        int env = exa_k_gemm_env(getenv("EXA_GEMM"));
        v = env == 2 ? ALWAYS : env == 1 ? NEVER : BOUNDED;
        if (env == 0) {
            static const char *const generic[] = { "Prescott", "Core2", "Penryn", "Dunnington",
                                                   "Nehalem", "Atom", "Sandybridge", "Katmai",
                                                   "Coppermine", "Northwood", "Banias" };
            const char *core = openblas_get_corename();
            for (size_t i = 0; core && i < sizeof generic / sizeof generic[0]; i++)
                if (strcmp(core, generic[i]) == 0)
                    v = ALWAYS;
        }
        atomic_store_explicit(&mode, v, memory_order_relaxed);
    }
    return v;
}

int exa_k_gemm_tiles(int ta, int64_t m, int64_t n, int64_t k)
{
    int v = exa_k_gemm_mode();
    return v == ALWAYS ||
           (v == BOUNDED && k * n <= EXA_K_TILES_FMA_MAX_B && (!ta || m * n <= EXA_K_TILES_FMA_MAX_TC));
}

/* 1: OpenBLAS takes a weight gradient A^T B that kernels_gemm_t.c's long-k
 * kernel could.  Where OpenBLAS runs its SkylakeX kernels (SkylakeX,
 * Cooperlake, SapphireRapids), whose small-matrix code skips the packing
 * for products of at most about 10^6 multiply-adds, it beat that kernel
 * when both sides of C exceed 8 (session 10, one thread, us, OpenBLAS /
 * long-k): 40x40 over 125 rows (the PINNs' per batch group) 2.6 / 3.0,
 * 16x32 over 128 (bench (f)) 0.7 / 0.9, 40x40 over 600 14.3 / 15.2; past
 * 10^6 it lost (40x40 over 1000 32 / 26, 64x64 over 400 41 / 25), and with
 * a side of 8 or less too (8x8 over 625, the ODE net's: 1.7 / 0.9).
 * Only under EXA_GEMM unset (its rule by OpenBLAS's core): EXA_GEMM=exa keeps
 * the long-k kernel, and so does EXA_GEMM=openblas, which is about the tiles. */
int exa_k_gemm_small_blas(int64_t m, int64_t n, int64_t k)
{
    static atomic_int small = -1;
    int v = atomic_load_explicit(&small, memory_order_relaxed);
    if (v < 0) {
        v = exa_k_gemm_mode() == BOUNDED && exa_k_blas_skylakex();
        atomic_store_explicit(&small, v, memory_order_relaxed);
    }
    return v && m > 8 && n > 8 && m * n * k <= EXA_K_BLAS_SMALL_MAX;
}
#endif
