/* sema.h - semantic analysis of a loaded program.
 *
 * Resolves names across modules, checks calls (arity, named arguments),
 * infers and checks every static shape, instantiates layers per call site and
 * repeat steps per stage, and checks the train block and the decomposition
 * strategy against the model.  Errors and warnings go to Diag.
 * The result (a typed, instantiated program) is what the IR lowering reads. */
#ifndef EXA_SEMA_H
#define EXA_SEMA_H

#include <stdio.h>

#include "diag.h"
#include "loader.h"
#include "typed.h"

typedef struct Sema Sema;

/* Checks p.  Never returns NULL; look at d->errors for the verdict. */
Sema *sema_check(Program *p, Diag *d);
/* exac --emit=shapes: every value, stage and parameter with its shape, and
 * the parameter count. */
void sema_emit_shapes(FILE *out, const Sema *s);
/* The instantiated program (typed.h); complete only when d->errors is 0. */
const SemaTyped *sema_typed(const Sema *s);
void sema_free(Sema *s);
/* The mgrit(...) call a decompose line runs (through layers(...) and the
 * rows of grid(...)), or NULL (sema_strategy.c, from methods.def). */
const struct Node *sema_mgrit_call(const struct Node *decompose);

/* The mgopt(...) or rmtr(...) call of multilevel(...), or NULL. */
const struct Node *sema_multilevel_call(const struct Node *decompose);

/* The admm(...) call of a decompose line layers(admm(...)), or NULL. */
const struct Node *sema_admm_call(const struct Node *decompose);
/* Whether the descriptor carries the dense-relu chain's layer records:
 * layers(admm(...)), neurons(), grid(rows: neurons(), ...). */
int sema_chain_records(const struct Node *decompose);

/* One dense layer of the chain pdADMM trains: its instance path (params
 * path/W and path/b) and its activation ("relu", or NULL for the last).
 * neurons() also takes a convolutional front (sema_layer_chain with
 * spatial): conv2d layers (path, kernel from W, padding), maxpool (window,
 * stride), one flatten, and dropout after a hidden dense layer's relu. */
typedef enum SemaChainKind { CHAIN_DENSE, CHAIN_CONV, CHAIN_POOL, CHAIN_FLATTEN } SemaChainKind;
typedef struct SemaChainLayer {
    const char *path;
    const char *act;
    SemaChainKind kind;
    int padding, window, stride; /* conv: padding; pool: window, stride */
    int dropout;                 /* dense: dropout(relu(...)) */
    const char *bn;              /* conv: the path of batch_norm2d(conv2d(...)), or NULL */
} SemaChainLayer;
/* The model's dense-relu chain, input side first, into out (max layers):
 * the number of layers, or 0 with why set, naming what breaks the chain
 * (sema_chain.c). */
int sema_admm_chain(const SemaTyped *st, SemaChainLayer *out, int max, char *why, size_t whylen);
/* The same for neurons() (why says neurons()), with spatial: the
 * convolutional front and dropout allowed. */
int sema_layer_chain(const SemaTyped *st, SemaChainLayer *out, int max, char *why, size_t whylen, int spatial);
/* Whether neurons()' chain fits: exac then writes its layer records for
 * any decompose line, so --decompose can switch to neurons() and grids. */
int sema_layer_chain_fits(const SemaTyped *st);

#endif
