/* kernels_f32.c - the kernels in float: the templates kernels_t.c,
 * kernels_vec_t.c, kernels_v4_t.c and kernels_par_t.c compiled for one type
 * (kernels.c says how and why). */
#include "kernels_int.h"

#define EXA_K_REAL float
#define EXA_K_F32 1 /* code written for 8 float lanes (max-pooling's gradient) */
#define FN(name) name##_f32
#define GEMM cblas_sgemm
#include "kernels_t.c"
#include "kernels_vec_t.c"
#include "kernels_v4_t.c"
#include "kernels_par_t.c"
#undef EXA_K_F32
#undef EXA_K_REAL
#undef FN
#undef GEMM
