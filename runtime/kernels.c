/* kernels.c - the kernels generated code calls (kernels.h), in float and
 * double from one source.
 *
 * How one implementation gives both types: the type-generic body lives in
 * kernels_t.c, written in terms of `real`, FN(name) (which appends _f32 or
 * _f64), GEMM (cblas_sgemm or cblas_dgemm) and the <tgmath.h> math functions
 * (exp, log, fabs pick the float or double version from their argument).
 * This file includes it twice, once per type, with those macros defined;
 * compiled on its own (the runtime globs *.c) kernels_t.c is empty.  A
 * macro-generated body would do the same, but this way the kernels read, and
 * debug, as plain C.  kernels_vec_t.c holds the kernels written with
 * vectors by hand (GCC's vector extensions), included the same way. */
#include "exa/kernels.h"

#include <cblas.h>
#include <string.h>
#include <tgmath.h>

/* EXA_K_CLONES: the kernels most of a convolutional network's time is spent
 * in are compiled twice, for x86-64-v3 (AVX2 and FMA) and for the baseline,
 * and the better one is picked when the program loads (GCC's
 * target_clones): one libexa runs on any x86-64 and uses AVX2 where it is.
 * Their static helpers are EXA_K_INLINE, so that they are compiled into
 * each clone rather than once for the baseline. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EXA_K_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EXA_K_CLONES
#endif
#define EXA_K_INLINE static inline __attribute__((always_inline))

#define EXA_K_REAL float
#define FN(name) name##_f32
#define GEMM cblas_sgemm
#include "kernels_vec_t.c"
#include "kernels_t.c"
#undef EXA_K_REAL
#undef FN
#undef GEMM

#define EXA_K_REAL double
#define FN(name) name##_f64
#define GEMM cblas_dgemm
#include "kernels_vec_t.c"
#include "kernels_t.c"
#undef EXA_K_REAL
#undef FN
#undef GEMM
