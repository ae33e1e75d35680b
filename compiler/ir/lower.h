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
 *   predict    (last) 0: the model output alone (lower_predict.c)
 *
 * and the descriptor text (runtime/include/exa/program.h) naming them. */
#ifndef EXA_LOWER_H
#define EXA_LOWER_H

#include "diag.h"
#include "exa/abi.h"
#include "ir.h"
#include "loader.h"
#include "sema.h"

/* A program has at most one function of each kind (libexa finds them by
 * kind: exa_program_function_of), so the kinds of exa/functions.def bound
 * them: a new kind there makes room here. */
enum { LOWER_MAX_FUNCS = EXA_FN_COUNT };
/* calls of batch_mean a program may make */
enum { LOWER_MAX_STATS = 256 };

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
/* The same with options: no_hoist keeps the input projections W x[t] of a
 * for loop in their steps (exac --no-hoist; hoist.c); no_pretranspose keeps
 * the products W h that read a weight transposed (exac --no-pretranspose;
 * pretranspose.c); no_sink_slices keeps the slices of elementwise values
 * (exac --no-sink-slices; slice_sink.c). */
typedef struct LowerOptions {
    int precision;
    int no_hoist;
    int no_pretranspose;
    int no_sink_slices;
} LowerOptions;
int lower_program_opts(const Program *p, const Sema *s, const LowerOptions *o, Lowered *out, Diag *d);
void lowered_free(Lowered *l);

/* The descriptor's part that does not depend on the IR (lower_desc.c);
 * mask_input: the functions take dropout's mask input after the fields. */
char *lower_descriptor(const Program *p, const SemaTyped *t, const IrParam *params, int nparams,
                       int64_t nweights, int precision, int has_accuracy, int mask_input, Diag *d);

/* ---- lower_stage.c: the MGRIT stage functions of layers(mgrit(...)) ----
 * While the loss is lowered, lower.c records the first repeat block it meets
 * (lower_stage_mark, through a lookup of the carried name in the caller's
 * scope); lower_stages then cuts the finished loss graph at the recorded
 * states into prologue, step and epilogue functions. */
typedef struct LowerRepeat {
    const Node *node;     /* the N_REPEAT or N_FOR, NULL until one is met */
    int recurrence;       /* node is a `for` loop: shared weights, a row x[t] per step */
    const char *name;     /* the carried value (NULL: none found) */
    int ncarried;         /* names the body updates that exist before it */
    int64_t count;        /* steps */
    int stage0;           /* global stage of step 0 */
    int done;             /* every step recorded */
    IrId *state;          /* count + 1 ids: the carried value before step k */
    char *desc;           /* descriptor lines of the stage functions (malloc'd) */
    int lin;              /* also the linearised step functions (lower_lin.c) */
} LowerRepeat;

/* 1 when the program's decompose is layers(mgrit(...)). */
int lower_stage_wanted(const SemaTyped *t);
/* 1 when it is layers(mgrit(...)), whose adjoint solve keeps the step's
 * linearisation per point (lower_lin.c; multilevel methods do not). */
int lower_stage_lin_wanted(const SemaTyped *t);
/* Called before step k of a repeat block or for loop (k = count: after the
 * last step); stage0 is the loop's stage for a for loop (every step's). */
void lower_stage_mark(LowerRepeat *r, const Node *rep, int64_t k, int64_t count, int stage0,
                      IrId (*lookup)(void *scope, const char *name), void *scope);
/* Appends the stage functions to out->funcs and keeps their descriptor lines
 * in r->desc.  Returns 0, or -1 after reporting to d. */
int lower_stages(const IrFunc *f, LowerRepeat *r, IrId per_sample, IrId accuracy, int nfields,
                 Lowered *out, Diag *d, Span at);
/* Inserts r->desc before the descriptor's closing "end" line. */
void lower_stage_describe(char **descriptor, const LowerRepeat *r);
/* Inserts lines before the descriptor's closing "end" line. */
void lower_describe_before_end(char **descriptor, const char *lines);
void lower_stage_free(LowerRepeat *r);

/* ---- lower_predict.c: the model alone (function kind predict) ----
 * Appends to out->funcs a copy of the loss graph whose one output is the
 * model output model_out; then its descriptor lines ("function N predict
 * ..." and "predict output shape R D..."), inserted before "end". */
void lower_predict(const IrFunc *loss, IrId model_out, Lowered *out);
void lower_predict_describe(char **descriptor, const Lowered *out, int nfields);

#endif
