/* method.h - the interface every decomposition method implements.
 *
 * A method is one file in runtime/methods/ (data.c, compose.c, layers.c,
 * neurons.c, grid.c; a large one has helper files beside it) exporting an ExaMethodOps, and one row of methods.def naming it;
 * strategy.c finds the ops of the descriptor's decompose line through that
 * table and nothing else dispatches on method names.  A method works on the
 * communicator it is given (the world, or a group exa_comm_split made for
 * it), never on the world directly, so methods nest: a grid runs the MGRIT
 * or neurons() method on each row group and averages over the column groups.
 *
 * Every method can
 *   create   from its descriptor entry (the call tree of decompose = ...)
 *   step     take one training step on the mini-batch [begin, begin+count)
 *            of the epoch's order; returns the mini-batch loss before it
 *   loss     evaluate the mini-batch loss and gradient as the method
 *            computes them (MGRIT's may differ from serial when inexact)
 *   report   (optional) numbers for the log: objective, residuals, ...
 *   solves   (optional) how the inner solves of the last loss went (MGRIT's
 *            iterations and convergence), for --gradcompare's line
 *   check    (optional) its self-check, run instead of training
 *   save     list its state as named arrays (checkpoints), packing its
 *            counters into them first; load unpacks after they were filled
 *   free
 * A method without state lists nothing.  The arrays listed are the live
 * buffers: the checkpoint writes them and a resume copies into them. */
#ifndef EXA_METHOD_H
#define EXA_METHOD_H

#include <stddef.h>
#include <stdint.h>

#include "exa/run.h"

enum { EXA_STATE_MAX = 24, EXA_STATE_NAME = 48 };

typedef struct ExaNamedArray {
    char name[EXA_STATE_NAME];
    void *data;
    int64_t bytes;
} ExaNamedArray;

typedef struct ExaStateList {
    int n;
    ExaNamedArray a[EXA_STATE_MAX];
} ExaStateList;

/* Adds "prefix.name" (prefix may be empty) to l; aborts on overflow (a
 * programming error: EXA_STATE_MAX is too small). */
void exa_state_add(ExaStateList *l, const char *prefix, const char *name, void *data, int64_t bytes);

typedef enum ExaMethodId {
#define EXA_METHOD(name, id, ops, args, fit) EXA_METHOD_##id,
#include "exa/methods.def"
    EXA_METHOD_COUNT
} ExaMethodId;

typedef struct ExaMethod ExaMethod;
typedef struct ExaParamPart ExaParamPart; /* methods/part.h */

typedef struct ExaMethodOps {
    const char *name;
    ExaMethod *(*create)(ExaRun *r, const ExaCall *entry, const ExaComm *comm, char *err, size_t errlen);
    double (*step)(ExaMethod *m, int64_t begin, int64_t count);
    double (*loss)(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count);
    void (*save)(ExaMethod *m, ExaStateList *l);
    void (*load)(ExaMethod *m);
    void (*free)(ExaMethod *m);
    /* optional: numbers for the epoch's log line and progress output (the
     * last step's); returns how many of max it wrote */
    int (*report)(ExaMethod *m, const char **names, double *values, int max);
    /* optional: the last loss's inner solves in words, into buf (--gradcompare
     * prints it: an inexact gradient is explained by a solve that stopped
     * short of its tolerance) */
    void (*solves)(ExaMethod *m, char *buf, size_t len);
    /* optional: the method's own check (--admm-check); 0 when it passes */
    int (*check)(ExaMethod *m);
    /* optional, for a method that can split the parameters over its ranks
     * (neurons(): each rank owns rows of W, b; methods/part.h): this rank's
     * part, or NULL when the parameters stay replicated (the optimiser is
     * not elementwise); the loss with the gradient of that part alone,
     * packed (part->n reals); and the gather (collective) that makes the
     * run's parameters and the optimiser's state whole on every rank, which
     * the trainer calls before a checkpoint, an evaluation and the end (a
     * method without it keeps them whole all the time) */
    const ExaParamPart *(*part)(ExaMethod *m);
    double (*part_loss)(ExaMethod *m, const void *theta, void *grad_part, int64_t begin, int64_t count);
    void (*gather)(ExaMethod *m);
    /* optional, for a grid's rows method: the communicator of the ranks that
     * hold the same rows for other samples (the grid's row), over which it
     * sums what depends on the whole batch (batch statistics); and the words
     * it moved over it since the last call, for the grid's words_cols */
    void (*columns)(ExaMethod *m, const ExaComm *cols);
    double (*take_cols_words)(ExaMethod *m);
} ExaMethodOps;

/* The common head of every method's struct (its first member). */
struct ExaMethod {
    const ExaMethodOps *ops;
    ExaRun *r;
    ExaComm comm;   /* the group this method runs on (a copy of the handle) */
    char name[512]; /* the descriptor entry as text, for messages */
    /* sums over comm (exa/reduce.h) for a method that opens one (data,
     * compose: solver_reducer); NULL: MPI.  The method closes it. */
    struct ExaReducer *red;
};

#define EXA_METHOD(name, id, ops, args, fit) extern const ExaMethodOps ops;
#include "exa/methods.def"

/* The ops of a descriptor entry (by its call name), or NULL. */
const ExaMethodOps *exa_method_find(const ExaCall *entry);
/* Creates the method of entry on comm (entry NULL: data parallelism). */
ExaMethod *exa_method_create(ExaRun *r, const ExaCall *entry, const ExaComm *comm, char *err,
                             size_t errlen);

/* Whether the numbers of a strategy's descriptor entry (steps, history,
 * every, overlap, per_block, memory, lr, radius, in every nested call) are
 * in range: NULL, or what is wrong, in buf (methods/compose.c). */
const char *exa_compose_bad_number(const ExaCall *c, char *buf, size_t len);

/* The bits of methods.def's fit sets. */
enum { EXA_FITS_DATA_GRADIENT = 1, EXA_FITS_DATA_LOCAL = 2, EXA_FITS_PARAMS = 4 };

#endif
