/* lower.h - from the checked program to graph IR functions and the descriptor.
 *
 * lower_program instantiates the loss over the training data's parts, the
 * way sema did (layers per call site, models once, repeat steps as stages,
 * for-loops sharing weights), emitting IR instead of checking shapes.  It
 * produces the functions the runtime drives (abi.h):
 *
 *   loss       outputs: 0 the per-sample loss, 1 the model output (accuracy)
 *   loss_grad  the same and 2: the gradient of the batch's mean loss, each
 *              parameter at its offset in the flat vector
 *
 * and the descriptor text (runtime/include/exa/program.h) naming them. */
#ifndef EXA_LOWER_H
#define EXA_LOWER_H

#include "diag.h"
#include "ir.h"
#include "loader.h"
#include "sema.h"

enum { LOWER_MAX_FUNCS = 4 };

typedef struct Lowered {
    IrFunc funcs[LOWER_MAX_FUNCS];
    int nfuncs;
    IrParam *params;
    int nparams;
    int64_t nweights;
    char *descriptor;     /* malloc'd */
} Lowered;

/* precision: 4 (f32) or 8 (f64) bytes per real, recorded in the descriptor.
 * Returns 0, or -1 after reporting to d. */
int lower_program(const Program *p, const Sema *s, int precision, Lowered *out, Diag *d);
void lowered_free(Lowered *l);

/* The descriptor's part that does not depend on the IR (lower_desc.c). */
char *lower_descriptor(const Program *p, const SemaTyped *t, const IrParam *params, int nparams,
                       int64_t nweights, int precision, int has_accuracy, Diag *d);

#endif
