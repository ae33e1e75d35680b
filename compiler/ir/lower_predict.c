/* lower_predict.c - the predict function: the model alone, for --predict.
 *
 * The loss graph already computes the model's output (lower.c records it);
 * predict is that graph with the model output as its only output.  Fusion
 * drops every value no output needs (fuse.c, step 3), so the loss and the
 * targets are neither computed nor read: the runtime may pass anything for
 * the target inputs.  Kept apart from lower.c so that the loss lowering and
 * this use of it change independently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/abi.h"
#include "lower.h"

void lower_predict(const IrFunc *loss, IrId model_out, Lowered *out)
{
    if (out->nfuncs >= LOWER_MAX_FUNCS)
        abort(); /* LOWER_MAX_FUNCS counts predict */
    IrFunc *f = &out->funcs[out->nfuncs++];
    ir_init(f);
    f->name = "exa_predict";
    for (int i = 0; i < loss->n; i++)
        ir_add(f, &loss->v[i]);
    IrId y = model_out;
    if (!f->v[y].batched) { /* a model that ignores its input: one row per sample all the same */
        IrValue b = { .op = IR_BROADCAST, .in = { y, -1, -1 }, .batched = 1, .stage = -1 };
        y = ir_add(f, &b);
    }
    ir_output(f, y, EXA_OUT_PREDICT_OUTPUT, 0);
}

void lower_predict_describe(char **descriptor, const Lowered *out, int nfields)
{
    const IrFunc *f = &out->funcs[out->nfuncs - 1];
    const IrShape *sh = &f->v[f->out[0].value].shape;
    char line[256];
    int n = snprintf(line, sizeof line, "function %d predict inputs %d outputs %d\npredict output shape %d",
                     out->nfuncs - 1, nfields, exa_function_outputs(EXA_FN_PREDICT), sh->rank);
    for (int i = 0; i < sh->rank && n < (int)sizeof line; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " %lld", (long long)sh->dim[i]);
    if (n + 2 > (int)sizeof line)
        abort();
    strcat(line, "\n");
    size_t len = strlen(*descriptor), extra = strlen(line);
    if (len < 4 || strcmp(*descriptor + len - 4, "end\n") != 0)
        abort();
    char *t = realloc(*descriptor, len + extra + 1);
    if (!t)
        abort();
    memmove(t + len - 4 + extra, t + len - 4, 5);
    memcpy(t + len - 4, line, extra);
    *descriptor = t;
}
