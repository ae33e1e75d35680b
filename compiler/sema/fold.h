/* fold.h - the one constant folder of exac.
 *
 * Compile-time integers and numbers are computed in three places: sema (the
 * values of int and float formals, sizes, initialiser arguments), the IR
 * lowering (scalars that never become IR) and the descriptor writer
 * (optimiser, data-source and strategy arguments).  All three compute through
 * these functions, so they cannot disagree on a value; the scalar meaning of
 * each elementwise builtin matches the reference interpreter (ir_eval.c). */
#ifndef EXA_FOLD_H
#define EXA_FOLD_H

#include <stdint.h>

/* Compile-time integers stay below this magnitude (sizes times sizes fit in
 * int64 with room to spare); beyond it fold_int reports overflow. */
#define FOLD_INT_LIMIT ((int64_t)INT32_MAX * 1024)

/* a op b for op '+', '-' or '*'; 0 and *out unset on overflow. */
int fold_int(int op, int64_t a, int64_t b, int64_t *out);

/* a op b for op '+', '-', '*', '/' or '^' on reals (IEEE: 1/0 is inf). */
double fold_real(int op, double a, double b);

/* The elementwise builtin `name` (tanh, softplus, ...) at x: 1 and *out set,
 * or 0 when name is not an elementwise builtin. */
int fold_unary(const char *name, double x, double *out);

#endif
