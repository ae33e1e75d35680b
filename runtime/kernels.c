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
 * debug, as plain C. */
#include "exa/kernels.h"

#include <cblas.h>
#include <string.h>
#include <tgmath.h>

#define EXA_K_REAL float
#define FN(name) name##_f32
#define GEMM cblas_sgemm
#include "kernels_t.c"
#undef EXA_K_REAL
#undef FN
#undef GEMM

#define EXA_K_REAL double
#define FN(name) name##_f64
#define GEMM cblas_dgemm
#include "kernels_t.c"
#undef EXA_K_REAL
#undef FN
#undef GEMM
