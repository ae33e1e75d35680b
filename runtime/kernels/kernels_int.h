/* kernels_int.h - what kernels.c shares with the kernels of each type
 * (kernels_f32.c, kernels_f64.c, which include the *_t.c templates): the
 * target attributes, the CPU checks and exa_k_gemm's threading rule.
 * Private to runtime/kernels/. */
#ifndef EXA_KERNELS_INT_H
#define EXA_KERNELS_INT_H

#include "exa/kernels.h"
#include "exa/parallel.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

/* EXA_K_VEC: kernels_vec_t.c's vector code is compiled for x86-64-v3 (AVX2
 * and FMA) and runs where exa_k_vec_ok() finds such a CPU; libexa itself is
 * built without -march, so it runs on any x86-64.  EXA_K_CLONES: the small
 * max-pooling kernels are compiled twice instead, for x86-64-v3 and the
 * baseline, picked when the program loads (GCC's target_clones); their
 * helpers are EXA_K_INLINE, so that they are compiled into each clone. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EXA_K_VEC __attribute__((target("arch=x86-64-v3")))
#define EXA_K_V4 __attribute__((target("arch=x86-64-v4")))
#define EXA_K_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#include <immintrin.h> /* the narrow GEMM's masked loads and stores (kernels_gemm_t.c) */
#else
#define EXA_K_CLONES
#endif
#define EXA_K_INLINE static inline __attribute__((always_inline))

/* Products of fewer multiply-adds than this run on one thread when they go
 * to OpenBLAS (exa_k_blas_gemm in kernels_t.c): OpenBLAS's own threshold for
 * threading a GEMM (65536 x GEMM_MULTITHREAD_THRESHOLD 4, interface/gemm.c). */
enum { EXA_K_GEMM_SPLIT_MIN = 1 << 18 };
/* OpenBLAS's SkylakeX small-matrix kernels take products of at most 10^6
 * multiply-adds (its sgemm/dgemm small_kernel_permit); past this its blocked
 * kernels do (exa_k_blas_gemm, exa_k_gemm_small_blas). */
enum { EXA_K_BLAS_SMALL_MAX = 1000000 };
/* 1: OpenBLAS runs its SkylakeX kernels here (cores SkylakeX, Cooperlake,
 * SapphireRapids). */
int exa_k_blas_skylakex(void);
/* Where OpenBLAS has FMA kernels, exa's tiles take products whose op(B) has
 * at most EXA_K_TILES_FMA_MAX_B elements and, where A is transposed, whose C
 * has at most EXA_K_TILES_FMA_MAX_TC (exa_k_gemm_tiles; kernels.c says why). */
enum { EXA_K_TILES_FMA_MAX_B = 1 << 20, EXA_K_TILES_FMA_MAX_TC = 1 << 17 };

#ifdef EXA_K_VEC
/* kernels.c: whether to run the x86-64-v3 code (AVX2, FMA), the x86-64-v4
 * code (AVX-512), and exa's GEMM tiles for the medium products. */
int exa_k_vec_ok(void);
int exa_k_v4_ok(void);
int exa_k_gemm_tiles(int ta, int64_t m, int64_t n, int64_t k);
int exa_k_gemm_small_blas(int64_t m, int64_t n, int64_t k);
#endif

#endif
