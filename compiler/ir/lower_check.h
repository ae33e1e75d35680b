/* lower_check.h - the numerics probe behind a training executable's
 * --check-numerics (lower_check.c).
 *
 * While the loss is lowered, every IR value is tagged with the source span of
 * the innermost expression that made it, and with the innermost expression
 * of the program's own file around it (a log inside stdlib's cross_entropy is
 * tagged with its line in losses.exa and with the cross_entropy call in the
 * user's file).  lower_check_build then adds one more generated function,
 * loss_check: the forward pass of the loss with every operation on the way to
 * the per-sample loss written to an output slot of its own, in definition
 * order, and descriptor lines saying what each slot is:
 *
 *   function K loss_check inputs N outputs M
 *   check SLOT batched|uniform SIZE OP "FILE" LINE COL "USER_FILE" LINE COL
 *
 * When a loss is not finite, the runtime re-runs that mini-batch through
 * loss_check and names the first slot holding a NaN or an infinity: the op
 * that made the first non-finite value, and where it is in the source. */
#ifndef EXA_LOWER_CHECK_H
#define EXA_LOWER_CHECK_H

#include "ir.h"
#include "exa/abi.h"
#include "source.h"

/* At most this many operations are probed (the first ones, in definition
 * order); a larger loss is checked over its first LOWER_CHECK_MAX values, and
 * the runtime (CHECK_MAX in runtime/core/check_numerics.c, the same number)
 * says so.  Every probed value is stored, where the loss function keeps most
 * in registers: the bound keeps deep nets' compile time in check. */
enum { LOWER_CHECK_MAX = EXA_OUT_LOSS_CHECK_LAST + 1 }; /* exa/functions.def */

typedef struct LowerCheck {
    const SourceFile *root; /* the program's own file */
    Span *at, *user;        /* per IR id: the span that made it, the user's */
    int cap;                /* entries of at/user; ids >= cap have none */
    Span cur_user;          /* innermost expression of root being lowered */
    int has_user;
    char *desc;             /* descriptor lines (malloc'd) */
} LowerCheck;

/* Saved state of lower_check_enter, for lower_check_leave. */
typedef struct LowerCheckMark {
    int before;             /* values of f before the expression */
    Span saved_user;
    int saved_has_user;
    Span at;
    int valid;
} LowerCheckMark;

void lower_check_init(LowerCheck *c, const SourceFile *root);
/* Around the lowering of one expression (span at) of function f. */
LowerCheckMark lower_check_enter(LowerCheck *c, const IrFunc *f, const Span *at);
void lower_check_leave(LowerCheck *c, const IrFunc *f, const LowerCheckMark *m);

struct Lowered;
/* Appends loss_check (the values of f, probing the ancestors of per_sample)
 * to out->funcs and keeps its descriptor lines in c->desc.  Does nothing
 * when out has no room for another function. */
void lower_check_build(const IrFunc *f, LowerCheck *c, IrId per_sample, int nfields,
                       struct Lowered *out);
/* Inserts c->desc before the descriptor's closing "end" line. */
void lower_check_describe(char **descriptor, const LowerCheck *c);
void lower_check_free(LowerCheck *c);
/* After a pass rewrote the function: value old id i is now map[i] (old_n old
 * values, n new ones; new values without an old one get no span). */
void lower_check_remap(LowerCheck *c, const IrId *map, int old_n, int n);

#endif
