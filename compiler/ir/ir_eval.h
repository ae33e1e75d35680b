/* ir_eval.h - the reference interpreter of the graph IR (double precision).
 *
 * Fill in f, params, theta, inputs and batch; ir_eval computes every value
 * into val[id] (B tensors for a batched value, one for a uniform one).
 * inputs[k] is the k-th data field for the whole batch: B x size doubles, or
 * B class indices (as doubles) for a label field. */
#ifndef EXA_IR_EVAL_H
#define EXA_IR_EVAL_H

#include "ir.h"

typedef struct IrEval {
    const IrFunc *f;
    const IrParam *params;
    const double *theta;
    const double *const *inputs;
    int64_t batch;
    double step_size;  /* the value of STEP_SIZE */
    double **val; /* out */
} IrEval;

int ir_eval(IrEval *e); /* 0, or -1 when out of memory */
void ir_eval_free(IrEval *e);

#endif
