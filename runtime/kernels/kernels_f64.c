/* kernels_f64.c - the kernels in double: the templates kernels_t.c,
 * kernels_vec_t.c, kernels_v4_t.c and kernels_par_t.c compiled for one type
 * (kernels.c says how and why). */
#include "kernels_int.h"

#define EXA_K_REAL double
#define FN(name) name##_f64
#define GEMM cblas_dgemm
#include "kernels_t.c"
#include "kernels_vec_t.c"
#include "kernels_v4_t.c"
#include "kernels_par_t.c"
#undef EXA_K_REAL
#undef FN
#undef GEMM
