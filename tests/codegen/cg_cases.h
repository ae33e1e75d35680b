/* cg_cases.h - the graphs the code generator is tested on, built by hand as
 * tests/grad/ir_gradcheck.c builds them.
 *
 * Each case is one IrFunc named "f" whose outputs are:
 *   slot 0  the value under test y (B rows when batched)
 *   slot 1  the flat gradient of (1/B) sum_b sum(y_b * y_b) / 2 for every
 *           parameter, at the parameter's offset (reverse mode, ad_vjp)
 *   slot 2  the gradient for the first input (B rows), where there is one
 * so every op is checked in the forward pass and through its derivative
 * rules.  Inputs are INPUT k (reals) or LABEL k (classes). */
#ifndef EXA_CG_CASES_H
#define EXA_CG_CASES_H

#include "ir.h"

enum { CASE_MAX_LEAVES = 16 };

typedef struct CgCase {
    char name[64];
    IrFunc f;
    IrParam params[CASE_MAX_LEAVES];
    int nparams;
    int64_t nweights;
    IrShape in_shape[CASE_MAX_LEAVES];
    int classes[CASE_MAX_LEAVES]; /* > 0: a label input with that many classes */
    int ninputs;
    int positive;                 /* inputs and parameters drawn from [0.5, 2] */
    int grad;                     /* slot 1/2 outputs present */
} CgCase;

/* Builds case i into c; returns 0 when there is no case i. */
int cg_case_build(int i, CgCase *c);
/* Builds the case named name; returns 0 when there is none. */
int cg_case_by_name(const char *name, CgCase *c);
void cg_case_free(CgCase *c);

#endif
