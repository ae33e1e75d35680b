/* fuse.h - from a graph IR function to an execution plan: what runs, in
 * which order, and where every value lives.
 *
 * fuse_plan cleans the function (common subexpressions merged, TRANSPOSE
 * operands of MATMUL absorbed into a GEMM transpose flag, sums of SLICE_GRADs
 * that tile a vector turned into CONCATs, other sums of SLICE_GRADs into
 * in-place SLICE_ADDs, dead values dropped), on the CPU has the loops that
 * compute a CONCAT's operands store them in its memory, groups chains of elementwise ops
 * over the same iteration space into one fused loop, turns every other op
 * into one kernel call, and gives every value that needs memory a place in
 * the workspace.  The back ends (codegen_llvm.c) only walk the plan's steps.
 *
 * Workspace layout.  A buffer holds either B rows (batched) or one tensor
 * (uniform), so its size is a*B + b bytes.  A buffer is placed at a pair
 * (A, C): its bytes start at align64(A*B + C).  Two buffers whose lifetimes
 * overlap are placed so that one lies wholly before the other for every B
 * (both coordinates ordered, with 64 bytes of slack for the alignment), so
 * one static placement is valid for every batch size and
 * workspace(B) = max over buffers of (A + a)*B + C + b + 64 is exact for it. */
#ifndef EXA_FUSE_H
#define EXA_FUSE_H

#include "ir.h"

typedef enum FuseKind {
    FUSE_DEAD,     /* not needed by any output */
    FUSE_VIEW,     /* PARAM (theta + offset), INPUT, LABEL: no copy */
    FUSE_SCALAR,   /* CONST, FILL, INV_BATCH, STEP_SIZE: a constant per call */
    FUSE_ALIAS,    /* RESHAPE: the memory of the value it reshapes */
    FUSE_ELEM,     /* a member of a fused elementwise group (BROADCAST included) */
    FUSE_KERNEL,   /* one kernel call */
    FUSE_SLICE,    /* FUSE_SLICE_VIEWS, a SLICE read only by fused loops: no copy,
                    * they read its source's memory (root) with its strides */
    FUSE_JOIN,     /* FUSE_CONCAT_IN_PLACE, a CONCAT whose operands are stored in its
                    * memory by the loops computing them: no step; a buffer of its
                    * own (stored) unless it is placed in an outer CONCAT itself */
} FuseKind;

/* How many CONCATs (FUSE_JOIN) one value may be stored in. */
enum { FUSE_MAX_PLACES = 4 };

typedef struct FuseInfo {
    FuseKind kind;
    int group;     /* FUSE_ELEM: its group */
    int stored;    /* needs memory of its own (else a register in its loop) */
    int buffer;    /* index into FusePlan.buf, or -1 (views, aliases, registers) */
    IrId root;     /* where its memory is: itself, or a RESHAPE's or SLICE_ADD's in[0]'s root */
    int trans[2];  /* MATMUL: operand k is used transposed (an absorbed TRANSPOSE) */
    int scratch;   /* CONV*: buffer index of its scratch (im2col, or the direct kernel's), else -1 */
    int output;    /* FUSE_DIRECT_OUTPUTS: the out[] it is computed in, else -1 */
    int keep_im2col;   /* FUSE_KEEP_IM2COL, a CONV: its scratch keeps every sample's im2col */
    IrId im2col_from;  /* FUSE_KEEP_IM2COL, a CONV_GRAD_W: the CONV whose im2col it reads, or -1 */
    int direct_conv;   /* FUSE_DIRECT_CONV, a CONV*: the direct kernel (exa_k_dconv*), no im2col */
    int put;           /* FUSE_SLICE_ACCUMULATE, a SLICE_GRAD or SLICE_ADD of a sum whose slices
                        * tile the tensor: it writes its slice only, 0 + g (exa_k_slice_put),
                        * with no zero-fill and no read: no other term touches that slice */
    int nuses;
    /* FUSE_CONCAT_IN_PLACE: a loop member or FUSE_JOIN stored in the memory of
     * nplace outermost FUSE_JOINs: place_root[i]'s samples at element
     * place_at[i] (per sample where batched), with its natural strides.  Its
     * root is place_root[0], where loops of other groups read it; a loop
     * member stores its value at every place (FuseStream.place).  0: its own
     * memory, as root says. */
    int nplace;
    IrId place_root[FUSE_MAX_PLACES];
    int64_t place_at[FUSE_MAX_PLACES];
} FuseInfo;

typedef struct FuseGroup {
    IrId *member;  /* in definition order */
    int n;
    IrId last;     /* the loop runs where its last member is defined */
} FuseGroup;

typedef enum FuseStepKind {
    FUSE_STEP_LOOP,    /* one fused loop nest: group */
    FUSE_STEP_KERNEL,  /* one kernel call: value */
    FUSE_STEP_STORE,   /* a scalar that a kernel or an output needs in memory */
} FuseStepKind;

typedef struct FuseStep {
    FuseStepKind kind;
    int group;
    IrId value;
} FuseStep;

typedef struct FuseBuffer {
    int64_t a, b;      /* size a*B + b bytes */
    int64_t at_a, at_c;/* placed at align64(at_a*B + at_c) */
    int def, last;     /* live from step def to step last, inclusive */
    IrId value;        /* whose it is, or -1 for a kernel's scratch */
} FuseBuffer;

typedef struct FusePlan {
    const IrFunc *src;
    IrValue *v;        /* the source values with operands remapped (CSE, TRANSPOSE) */
    int n;
    FuseInfo *info;
    IrOutput *out;     /* outputs, remapped to the surviving values */
    int nout;
    FuseGroup *groups;
    int ngroups;
    FuseStep *steps;
    int nsteps;
    FuseBuffer *buf;
    int nbuf;
    int elem;          /* bytes per real: 4 or 8 */
} FusePlan;

/* Plans f for reals of elem_bytes (4 or 8).  Returns 0, or -1 with *error set
 * (malloc'd) for a function it cannot plan. */
int fuse_plan(const IrFunc *f, int elem_bytes, FusePlan *p, char **error);

/* The same with options: FUSE_DIRECT_OUTPUTS lets values that are outputs
 * be computed in the caller's output memory (FuseInfo.output) instead of a
 * workspace buffer; the back end must then address them there.
 * FUSE_KEEP_IM2COL: see FuseInfo.keep_im2col; the back end must call the
 * kernels that keep and read them (exa_k_conv_keep, exa_k_conv_grad_w_kept). */
enum {
    FUSE_DIRECT_OUTPUTS = 1,
    /* a convolution and the weight gradient of it share the im2col matrices
     * of the batch (scratch of B * c*k*k*oh*ow reals, live from one to the
     * other) instead of building them twice */
    FUSE_KEEP_IM2COL = 2,
    /* convolutions at stride 1 with few input channels run the direct kernels
     * (FuseInfo.direct_conv, exa_k_dconv*), with their scratch */
    FUSE_DIRECT_CONV = 4,
    /* a slice whose every use is a fused loop is a view (FUSE_SLICE): the
     * loops read it in place, through strides and an offset (fuse_strides_of,
     * fuse_slice_offset), instead of a copy; the back end must address it so */
    FUSE_SLICE_VIEWS = 8,
    /* ADD(acc, SLICE_GRAD(g)) with acc read only there becomes SLICE_ADD(acc,
     * g), g added into acc's slice in acc's memory (FuseInfo.root is acc's
     * root, no buffer of its own): a gradient summed over T slices is one
     * zero-fill and T slice-sized adds, not T of each over the whole tensor.
     * The back end must run SLICE_ADD in place (exa_k_slice_add) */
    FUSE_SLICE_ACCUMULATE = 16,
    /* ADD(acc, OUTER(a, b)) with acc and the OUTER read only there becomes
     * OUTER_ADD(acc, a, b), the product added into acc's memory by the GEMM
     * (beta 1; FuseInfo.root is acc's root): a weight gradient summed over T
     * steps is T GEMMs into one buffer, not T buffers and a loop reading T
     * streams.  The back end must run OUTER_ADD in place (fuse_gemm's beta) */
    FUSE_GEMM_ACCUMULATE = 32,
    /* a CONCAT whose operands are loop members or such CONCATs, read by
     * nothing but CONCATs and fused loops, is FUSE_JOIN: the loops store its
     * operands straight into its memory (FuseInfo.nplace), and a member two
     * CONCATs hold (a stacked GRU's reset-gate gradient, in the gradients of
     * both stacked products) is stored twice.  The back end must address
     * placed values and store every place of a member (FuseStream.place) */
    FUSE_CONCAT_IN_PLACE = 64,
    FUSE_FLAGS_CPU = FUSE_DIRECT_OUTPUTS | FUSE_KEEP_IM2COL | FUSE_DIRECT_CONV | FUSE_SLICE_VIEWS |
                     FUSE_SLICE_ACCUMULATE | FUSE_GEMM_ACCUMULATE | FUSE_CONCAT_IN_PLACE, /* codegen_llvm.c's */
    FUSE_FLAGS_GPU = FUSE_SLICE_ACCUMULATE, /* codegen_cuda*.c's (its kernels address no views) */
};
int fuse_plan_flags(const IrFunc *f, int elem_bytes, int flags, FusePlan *p, char **error);
void fuse_free(FusePlan *p);

/* The workspace in bytes for batch B, and a buffer's byte offset in it. */
int64_t fuse_workspace(const FusePlan *p, int64_t batch);
int64_t fuse_buffer_offset(const FuseBuffer *b, int64_t batch);

/* Elements of a value per sample (batched) or in all (uniform). */
int64_t fuse_size(const IrValue *v);

/* Geometry both back ends share. */

/* The strides of a value of shape s (batched or not) over the loop dims of
 * space (the batch first when space is batched): broadcast dims (1, or
 * missing on the left) and the batch of a uniform value get stride 0. */
void fuse_strides(const IrShape *s, int batched, const IrValue *space, int64_t *out);

/* A MATMUL operand as a row-major matrix: a vector is a row (left operand)
 * or a column (right operand); trans: used transposed (an absorbed TRANSPOSE). */
typedef struct FuseMatrix {
    int64_t rows, cols, ld, size;
    int trans, batched;
} FuseMatrix;
/* fuse_strides of value u of plan p as its loops read it: a FUSE_SLICE with
 * the strides of its source (the rows of the source between its elements). */
void fuse_strides_of(const FusePlan *p, IrId u, const IrValue *space, int64_t *out);

/* A FUSE_SLICE's first element in its source, or a placed value's in its
 * root (FuseInfo.nplace), in elements from the root's start (per sample
 * where batched). */
int64_t fuse_slice_offset(const FusePlan *p, IrId u);

/* fuse_strides_of and fuse_slice_offset at the place'th of a placed value's
 * places (FuseInfo.nplace; 0 is where its root is). */
void fuse_place_strides(const FusePlan *p, IrId u, int place, const IrValue *space, int64_t *out);
int64_t fuse_place_offset(const FusePlan *p, IrId u, int place);

FuseMatrix fuse_matrix(const IrValue *v, int trans, int right);

/* ---- the forms both back ends emit (fuse_forms.c) ------------------------
 * The decisions a back end would otherwise make for itself, so that the CPU
 * (codegen_llvm*.c) and the GPU (codegen_cuda.c) make them once, alike. */

/* A fused group's loop nest: the loop dims of its last member (the batch
 * first when batched), dims of extent 1 dropped and a dim merged into the
 * next inner one wherever every stream runs through both contiguously; one
 * stream per value read from memory and per stored member. */
enum { FUSE_MAX_DIMS = IR_MAX_RANK + 1 };
typedef struct FuseStream {
    IrId value;
    int store;                      /* written (a stored member) or read */
    int place;                      /* a store: which of the value's places (FuseInfo), 0 its root */
    int64_t stride[FUSE_MAX_DIMS];  /* elements per step of each dim */
} FuseStream;
typedef struct FuseNest {
    int nd;
    int64_t ext[FUSE_MAX_DIMS];     /* extent: ext, times B where batch[d] (only dim 0) */
    int batch[FUSE_MAX_DIMS];
    FuseStream *st;                 /* malloc'd: fuse_nest_free */
    int ns;
} FuseNest;
/* 0, or -1 when out of memory. */
int fuse_nest(const FusePlan *p, const FuseGroup *g, FuseNest *n);
void fuse_nest_free(FuseNest *n);

/* A MATMUL or OUTER as one GEMM call: C_i = op(A_i) op(B_i) for i < count,
 * beta 0, summed into one C when sc == 0.  Sizes are x[0] * B + x[1], B the
 * batch of the call. */
typedef struct FuseGemm {
    int64_t count[2], m[2], n[2], k[2];
    int ta, tb;
    int beta;                       /* 1: C += op(A) op(B) (OUTER_ADD), else 0 */
    IrId a, b, c;                   /* operands and result */
    int64_t lda, ldb, ldc, sa, sb, sc;
} FuseGemm;
FuseGemm fuse_gemm(const FusePlan *p, IrId id);

/* Where each output is copied to the caller's memory: after step s for the
 * outputs in the list first[s + 1], next[i] (in output order); first[0]:
 * views, copied before any step.  Outputs computed in place (FuseInfo.output)
 * and scalars (a FUSE_STEP_STORE writes them) are in no list.  first has
 * nsteps + 1 entries, next nout. */
void fuse_output_steps(const FusePlan *p, int *first, int *next);

/* When each uniform output (a parameter's gradient) holds its final value
 * in the caller's memory: after step s for the outputs in the list
 * first[s + 1], next[i]; first[0]: before any step.  Unlike the copies, this
 * lists outputs computed in place too.  Same sizes as fuse_output_steps. */
void fuse_ready_steps(const FusePlan *p, int *first, int *next);

/* For each out[i] of a function with an SGD slot (IrFunc.sgd_slot): the
 * index in params of the parameter the GEMM computing it may add -lr times
 * it to in theta instead (ExaArgs.sgd; fuse_sgd.c says when), else -1.
 * param has nout entries; returns how many are not -1. */
int fuse_sgd_outputs(const FusePlan *p, const IrParam *params, int nparams, int *param);

/* Prints the plan: groups, kernels, buffers (for debugging and tests). */
void fuse_dump(FILE *out, const FusePlan *p);

#endif
