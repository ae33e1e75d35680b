/* ir.h - the graph IR: SSA dataflow of tensor operations, written per sample.
 *
 * A function is a flat array of values in definition order (every operand is
 * defined before its use), so passes are simple forward or backward sweeps.
 * Each value has a static shape and is either *batched* (one tensor per sample
 * of the mini-batch: inputs and everything computed from them) or *uniform*
 * (one tensor shared by every sample: parameters and constants).  The batch
 * dimension is never written: a batched value of shape [m] is stored as a
 * row-major [B, m] buffer, a uniform one as [m].
 *
 * Passes: lowering from the checked program (lower.c), reverse-mode autodiff
 * for parameter gradients and forward-mode autodiff for input derivatives
 * (autodiff.c), fusion of elementwise chains (fuse.c), and the back ends. */
#ifndef EXA_IR_H
#define EXA_IR_H

#include <stdint.h>
#include <stdio.h>

enum { IR_MAX_RANK = 6 };

typedef struct IrShape {
    int rank;                 /* 0 for a scalar */
    int64_t dim[IR_MAX_RANK];
} IrShape;

/* X(name, arity, elementwise): the operations.  Elementwise ops apply per
 * element with broadcasting (shapes aligned at the right, dims equal or 1;
 * uniform operands broadcast over the batch); fuse.c merges chains of them. */
#define IR_OPS(X)                                                              \
    /* leaves */                                                               \
    X(INPUT, 0, 0)     /* iarg[0] = data field / model input index */          \
    X(PARAM, 0, 0)     /* iarg[0] = parameter tensor index */                  \
    X(CONST, 0, 1)     /* uniform scalar c, broadcast as needed */             \
    X(LABEL, 0, 0)     /* iarg[0] = data field index: an int class per sample */ \
    X(INV_BATCH, 0, 0) /* uniform scalar 1/B, B the run-time batch size */     \
    X(STEP_SIZE, 0, 0) /* uniform scalar h, a run-time argument (MGRIT levels) */ \
    X(BASIS, 0, 0)     /* uniform tensor: 1 at flat index iarg[0], else 0 */    \
    X(FILL, 0, 0)      /* uniform tensor of this shape filled with c */        \
    /* elementwise, two operands */                                            \
    X(ADD, 2, 1) X(SUB, 2, 1) X(MUL, 2, 1) X(DIV, 2, 1)                        \
    X(POW, 2, 1)       /* b is a uniform scalar */                             \
    X(MAXIMUM, 2, 1)   /* elementwise max, used by relu' rules and pooling */  \
    /* elementwise, one operand */                                             \
    X(NEG, 1, 1) X(TANH, 1, 1) X(SIGMOID, 1, 1) X(RELU, 1, 1)                  \
    X(SOFTPLUS, 1, 1) X(EXP, 1, 1) X(LOG, 1, 1) X(SIN, 1, 1) X(COS, 1, 1)      \
    X(SQRT, 1, 1) X(ABS, 1, 1)                                                 \
    X(STEP, 1, 1)      /* 1 where x > 0, else 0 (relu's derivative) */         \
    X(SIGN, 1, 1)      /* -1, 0, 1 (abs's derivative) */                       \
    /* linear algebra: a [m, n] @ b [n] or [n, k]; [n] @ [n, k] */             \
    X(MATMUL, 2, 0)                                                            \
    /* a @ b^T contracting the last dims: [m] x [n] -> [m, n], [m, k] x [n, k]  \
     * -> [m, n]; a uniform result sums over the batch (a weight gradient) */  \
    X(OUTER, 2, 0)                                                             \
    /* reductions: iarg[0] = axis, or -1 for all elements */                   \
    X(SUM, 1, 0) X(MEAN, 1, 0) X(MAX, 1, 0)                                    \
    X(LOGSUMEXP, 1, 0) /* over all elements of a vector */                     \
    X(SOFTMAX, 1, 0)                                                           \
    /* a broadcast's adjoint: sum a down to this value's shape and batching */ \
    X(REDUCE_TO, 1, 0)                                                         \
    /* and its inverse: expand a to this value's shape and batching */         \
    X(BROADCAST, 1, 0)                                                         \
    /* data movement */                                                        \
    X(RESHAPE, 1, 0)   /* same elements, this value's shape */                 \
    X(TRANSPOSE, 1, 0) /* [m, n] -> [n, m] */                                  \
    X(SLICE, 1, 0)     /* iarg: start/stop per dim in slice[]; keeps rank */   \
    X(SLICE_GRAD, 1, 0)/* adjoint of SLICE: zeros of the source shape, a added */ \
    /* a with b added at slice[] (b has the slice's shape): fuse.c's form of   \
     * ADD(a, SLICE_GRAD(b)), computed in a's memory; never differentiated */  \
    X(SLICE_ADD, 2, 0)                                                         \
    /* acc + OUTER(a, b) for (acc, a, b), computed in acc's memory (a GEMM      \
     * with beta 1): fuse.c's form of ADD(acc, OUTER(a, b)), a weight's         \
     * gradient summed over the steps of an unrolled loop; never differentiated \
     * and never evaluated by ir_eval (the plan's form only) */                 \
    X(OUTER_ADD, 3, 0)                                                         \
    X(CONCAT, 2, 0)    /* along axis 0 */                                      \
    X(PICK, 2, 0)      /* a[label b]: a is [n], b a LABEL; result [] */        \
    X(PICK_GRAD, 2, 0) /* adjoint of PICK: g (a []) placed at label b in [n] */ \
    /* images: x [c, h, w], w [o, c, k, k]; iarg[0] = stride, iarg[1] = padding */ \
    X(CONV, 2, 0)                                                              \
    X(CONV_GRAD_X, 2, 0)  /* (g, w) -> dx; shape of x */                       \
    X(CONV_GRAD_W, 2, 0)  /* (g, x) -> dw; shape of w, summed over the batch */ \
    X(MAXPOOL, 1, 0)      /* iarg[0] = window, iarg[1] = stride */             \
    X(MAXPOOL_GRAD, 2, 0) /* (g, x) -> dx, routed to each window's maximum */ \
    /* batch statistics (batch_mean): a uniform a summed over the ranks that  \
     * share the mini-batch (libexa's exa_batch_sum; a copy on one rank);     \
     * iarg[0] 1: the adjoint's form, each rank's a weighted by its rows */   \
    X(ALLREDUCE, 1, 0)                                                         \
    /* lowering only (lower.c): the batch statistic a in training, the        \
     * running statistic b (a parameter) at evaluation; never reaches a pass */ \
    X(BATCH_STAT, 2, 0)

typedef enum IrOp {
#define IR_ENUM(name, arity, elementwise) IR_##name,
    IR_OPS(IR_ENUM)
#undef IR_ENUM
    IR_OP_COUNT
} IrOp;

typedef int IrId; /* index of a value in its IrFunc; -1 for none */

typedef struct IrValue {
    IrOp op;
    IrId in[3];
    IrShape shape;
    int batched;              /* one per sample (1) or shared (0) */
    double c;                 /* CONST / FILL value */
    int iarg[4];              /* op attributes, see IR_OPS */
    int64_t slice[IR_MAX_RANK][2]; /* SLICE / SLICE_GRAD / SLICE_ADD: [start, stop) per dim */
    int stage;                /* the stage (repeat step) it belongs to; -1 none */
    const char *name;         /* source name, for dumps; may be NULL */
} IrValue;

/* Where a generated function writes one of its values: outputs[slot] of its
 * argument block, at element offset `offset` (a parameter's place in the flat
 * gradient).  A batched value is written as B rows, a uniform one once. */
typedef struct IrOutput {
    IrId value;
    int slot;
    int64_t offset;
} IrOutput;

enum { IR_MAX_OUTPUTS = 4096 };

/* One generated function: its values, and which of them it writes out. */
typedef struct IrFunc {
    const char *name;         /* symbol of the generated function */
    IrValue *v;
    int n, cap;
    IrOutput *out;
    int nout, out_cap;
    /* > 0: outputs[sgd_slot] holds each parameter's gradient of the mean
     * loss at the parameter's offset, and a plain SGD step may be taken in
     * the GEMM that computes one (ExaArgs.sgd, fuse_sgd.c): loss_grad's
     * GRAD slot.  0: no such step. */
    int sgd_slot;
} IrFunc;

/* A parameter tensor of the program, in the order of the flat vector. */
typedef struct IrParam {
    const char *path;         /* qualified name, e.g. classify/dense#1/W */
    IrShape shape;
    int64_t offset;           /* in elements, into the flat parameter vector */
    int stage;
} IrParam;

const char *ir_op_name(IrOp op);
int ir_op_arity(IrOp op);
int ir_op_is_elementwise(IrOp op);

int64_t ir_shape_size(const IrShape *s);
int ir_shape_equal(const IrShape *a, const IrShape *b);
IrShape ir_shape(int rank, const int64_t *dims);
IrShape ir_scalar(void);
/* Broadcast shape of a and b; returns 0 when they do not broadcast. */
int ir_broadcast(const IrShape *a, const IrShape *b, IrShape *out);
/* Prints [m, n]. */
void ir_shape_print(FILE *out, const IrShape *s);

void ir_init(IrFunc *f);
void ir_free(IrFunc *f);
/* Appends a value; operands must already exist.  Shape and batching are
 * inferred from the operands for every op whose result shape follows from
 * them; leaves and shape-changing ops take them from *proto. */
IrId ir_add(IrFunc *f, const IrValue *proto);
/* Convenience constructors (infer shape and batching). */
IrId ir_unary(IrFunc *f, IrOp op, IrId a);
IrId ir_binary(IrFunc *f, IrOp op, IrId a, IrId b);
IrId ir_const(IrFunc *f, double c);
IrId ir_reduce(IrFunc *f, IrOp op, IrId a, int axis);
IrId ir_reduce_to(IrFunc *f, IrId a, const IrShape *shape, int batched);

/* Marks value id as written to outputs[slot] at element offset. */
void ir_output(IrFunc *f, IrId id, int slot, int64_t offset);

/* The frame of a pass that rebuilds a function (hoist.c, pool_first.c,
 * pretranspose.c): ir_rewrite_begin moves f's values to *old, leaves f empty
 * under the same name and returns the map from old ids to new ones (malloc'd,
 * old->n + 1 entries, for the caller to fill); ir_copy_mapped appends old
 * value v with its operands through map and records it there;
 * ir_rewrite_end writes old's outputs through map and frees old.  The map
 * stays the caller's (lower.c remaps the ids it keeps through it). */
IrId *ir_rewrite_begin(IrFunc *f, IrFunc *old);
IrId ir_copy_mapped(IrFunc *f, const IrFunc *old, IrId v, IrId *map);
void ir_rewrite_end(IrFunc *f, IrFunc *old, const IrId *map);

/* exac --emit=ir: one line per value. */
void ir_dump(FILE *out, const IrFunc *f, const IrParam *params, int nparams);

#endif
