/* codegen_llvm.c - the CPU back end (codegen_llvm.h): one LLVM module with a
 * function per IrFunc, built from its fusion plan (fuse.h), then verified,
 * optimised for the host and written as an object file.
 *
 * A generated function loads the fields of its ExaArgs once, computes the
 * address of every value (parameters are views into theta, inputs into
 * args->inputs, everything else a buffer in the workspace at the offset the
 * plan gave it), then runs the plan's steps in order: a fused loop nest
 * (codegen_llvm_loop.c), a kernel call (exa/kernels.h), or a scalar stored
 * for a kernel.  Outputs are copied to args->outputs right after the step
 * that computes them, so their buffers are free for reuse afterwards.
 *
 * Every matrix product is one cblas GEMM where the batch allows it: per
 * sample W x over the batch is X W^T, a weight gradient OUTER(g, x) summed over
 * the batch is G^T X, and MATMUL(TRANSPOSE(W), g) is G W through the GEMM's
 * transpose flag (fuse.c turned the TRANSPOSE into that flag).  Only products
 * of two batched operands are a loop of small GEMMs.
 *
 * Optimisation: LLVM 14's new pass manager through LLVMRunPasses with
 * "default<O3>" and a target machine for the host CPU and its features (the
 * loop vectoriser's cost model and the instruction selection both need
 * them); the legacy PassManagerBuilder is deprecated and dropped in later
 * LLVMs, so the new one keeps this file working on upgrade.  Only the loop
 * nests get it: function bodies are optnone (straight_line), and loops are
 * not unrolled beyond the vectoriser's interleaving (exac's time: 0.81 s of
 * CPU for allen_cahn.exa before, 0.46 s after). */
#include "codegen_llvm.h"
#include "diag.h"
#include "timing.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_llvm_int.h"
#include "exa/abi.h"


/* ---- small builders ---------------------------------------------------- */

static LLVMValueRef i32c(Cg *cg, int c) { return LLVMConstInt(cg->i32, (unsigned long long)c, 1); }

/* B * m, as an i64 value */
static LLVMValueRef times_batch(Cg *cg, int64_t m)
{
    return m == 1 ? cg->batch : LLVMBuildNSWMul(cg->b, cg->batch, cg_i64(cg, m), "");
}

static LLVMValueRef count_of(Cg *cg, const IrValue *v)
{
    return v->batched ? cg->batch : cg_i64(cg, 1);
}

/* exa_k_NAME_f32 or _f64, returning void */
static void kernel(Cg *cg, const char *name, LLVMValueRef *args, int nargs)
{
    char full[64];
    snprintf(full, sizeof full, "exa_k_%s_%s", name, cg->prec == CG_F64 ? "f64" : "f32");
    cg_call(cg, full, cg->vd, args, nargs);
}

/* A small int64 array in the function's frame (dims and strides for a kernel). */
static LLVMValueRef i64_array(Cg *cg, LLVMValueRef *vals, int n)
{
    LLVMBuilderRef tmp = LLVMCreateBuilderInContext(cg->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(cg->entry);
    if (first)
        LLVMPositionBuilderBefore(tmp, first);
    else
        LLVMPositionBuilderAtEnd(tmp, cg->entry);
    LLVMTypeRef at = LLVMArrayType(cg->i64, (unsigned)(n > 0 ? n : 1));
    LLVMValueRef arr = LLVMBuildAlloca(tmp, at, "dims");
    LLVMDisposeBuilder(tmp);
    for (int i = 0; i < n; i++) {
        LLVMValueRef idx[2] = { cg_i64(cg, 0), cg_i64(cg, i) };
        LLVMBuildStore(cg->b, vals[i], LLVMBuildInBoundsGEP2(cg->b, at, arr, idx, 2, ""));
    }
    LLVMValueRef idx[2] = { cg_i64(cg, 0), cg_i64(cg, 0) };
    return LLVMBuildInBoundsGEP2(cg->b, at, arr, idx, 2, "");
}

/* C_i = op(A_i) op(B_i) + beta C_i for i < count (summed when sc == 0) */
static void gemm(Cg *cg, LLVMValueRef count, int ta, int tb, LLVMValueRef m, LLVMValueRef n,
                 LLVMValueRef k, LLVMValueRef a, int64_t lda, int64_t sa, LLVMValueRef b,
                 int64_t ldb, int64_t sb, int beta, LLVMValueRef c, int64_t ldc, int64_t sc)
{
    LLVMValueRef args[] = { count, i32c(cg, ta), i32c(cg, tb), m, n, k, a, cg_i64(cg, lda),
                            cg_i64(cg, sa), b, cg_i64(cg, ldb), cg_i64(cg, sb), cg_real(cg, beta),
                            c, cg_i64(cg, ldc), cg_i64(cg, sc) };
    kernel(cg, "gemm", args, 16);
}

/* ---- matrix products --------------------------------------------------- */

/* x[0] * B + x[1] */
static LLVMValueRef sized(Cg *cg, const int64_t x[2])
{
    if (x[0] == 0)
        return cg_i64(cg, x[1]);
    LLVMValueRef b = times_batch(cg, x[0]);
    return x[1] ? LLVMBuildNSWAdd(cg->b, b, cg_i64(cg, x[1]), "") : b;
}

/* if (args->sgd) exa_k_gemm_sgd(args->sgd, ..., theta + w's offset) else
 * the GEMM: a weight gradient the SGD step may take in its GEMM (fuse_sgd.c).
 * Every operand's address is computed before the branch, so the addresses
 * cached (cg_ptr) dominate their later uses. */
static void gemm_or_sgd(Cg *cg, const FuseGemm *m, const IrParam *w)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef count = sized(cg, m->count), mm = sized(cg, m->m), n = sized(cg, m->n), k = sized(cg, m->k);
    LLVMValueRef a = cg_ptr(cg, m->a), b = cg_ptr(cg, m->b), c = cg_ptr(cg, m->c), off = cg_i64(cg, w->offset);
    LLVMValueRef at = LLVMBuildInBoundsGEP2(B, cg->real, cg->theta, &off, 1, "stepped");
    LLVMBasicBlockRef step = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "sgd");
    LLVMBasicBlockRef plain = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "gemm");
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "");
    LLVMBuildCondBr(B, LLVMBuildIsNotNull(B, cg->sgd, ""), step, plain);
    LLVMPositionBuilderAtEnd(B, step);
    LLVMValueRef args[] = { cg->sgd, count, i32c(cg, m->ta), i32c(cg, m->tb), mm, n, k, a, cg_i64(cg, m->lda),
                            cg_i64(cg, m->sa), b, cg_i64(cg, m->ldb), cg_i64(cg, m->sb), at };
    kernel(cg, "gemm_sgd", args, 14);
    LLVMBuildBr(B, after);
    LLVMPositionBuilderAtEnd(B, plain);
    gemm(cg, count, m->ta, m->tb, mm, n, k, a, m->lda, m->sa, b, m->ldb, m->sb, m->beta, c, m->ldc, m->sc);
    LLVMBuildBr(B, after);
    LLVMPositionBuilderAtEnd(B, after);
}

/* MATMUL, OUTER and OUTER_ADD (in place: id's memory is its acc's, fuse.c):
 * the GEMM the plan gives (fuse_gemm) */
static void emit_gemm(Cg *cg, IrId id)
{
    FuseGemm m = fuse_gemm(cg->p, id);
    if (m.beta && cg->p->info[id].root != cg->p->info[cg->p->v[id].in[0]].root)
        abort(); /* fuse.c makes an OUTER_ADD only where it can run in place */
    if (cg->sgd_param[id]) {
        gemm_or_sgd(cg, &m, cg->sgd_param[id]);
        return;
    }
    gemm(cg, sized(cg, m.count), m.ta, m.tb, sized(cg, m.m), sized(cg, m.n), sized(cg, m.k), cg_ptr(cg, m.a),
         m.lda, m.sa, cg_ptr(cg, m.b), m.ldb, m.sb, m.beta, cg_ptr(cg, m.c), m.ldc, m.sc);
}

/* ---- the other kernels ------------------------------------------------- */

static int64_t prod(const IrShape *s, int from, int to)
{
    int64_t n = 1;
    for (int d = from; d < to; d++)
        n *= s->dim[d];
    return n;
}

/* REDUCE_TO: x's elements (the batch first when batched) summed into y where
 * y has them, broadcast dims (1 or missing) and a uniform y's batch summed */
static void emit_reduce_to(Cg *cg, IrId id)
{
    const IrValue *v = &cg->p->v[id], *a = &cg->p->v[v->in[0]];
    LLVMValueRef dim[IR_MAX_RANK + 1], ys[IR_MAX_RANK + 1];
    int nd = 0;
    int64_t natural[IR_MAX_RANK], acc = 1;
    for (int j = v->shape.rank - 1; j >= 0; j--) {
        natural[j] = acc;
        acc *= v->shape.dim[j];
    }
    if (a->batched) {
        dim[nd] = cg->batch;
        ys[nd++] = cg_i64(cg, v->batched ? acc : 0);
    }
    for (int d = 0; d < a->shape.rank; d++) {
        int j = d - (a->shape.rank - v->shape.rank);
        dim[nd] = cg_i64(cg, a->shape.dim[d]);
        ys[nd++] = cg_i64(cg, j < 0 || v->shape.dim[j] == 1 ? 0 : natural[j]);
    }
    LLVMValueRef ysize = v->batched ? times_batch(cg, acc) : cg_i64(cg, acc);
    LLVMValueRef args[] = { i32c(cg, nd), i64_array(cg, dim, nd), i64_array(cg, ys, nd),
                            cg_ptr(cg, v->in[0]), cg_ptr(cg, id), ysize };
    kernel(cg, "reduce_to", args, 6);
}

/* SLICE: small = big[slice]; SLICE_GRAD: big = 0 with small there;
 * SLICE_ADD (in place, fuse.c: id's memory is in[0]'s): big[slice] += small;
 * either of the last two with FuseInfo.put: big[slice] = 0 + small alone */
static void emit_slice(Cg *cg, IrId id)
{
    const IrValue *v = &cg->p->v[id];
    int grad = v->op != IR_SLICE, acc = v->op == IR_SLICE_ADD;
    const IrValue *a = &cg->p->v[v->in[acc]]; /* the operand: big, or the small one */
    const IrShape *big = grad ? &v->shape : &a->shape, *small = grad ? &a->shape : &v->shape;
    LLVMValueRef bd[IR_MAX_RANK], lo[IR_MAX_RANK], sd[IR_MAX_RANK];
    for (int d = 0; d < big->rank; d++) {
        bd[d] = cg_i64(cg, big->dim[d]);
        lo[d] = cg_i64(cg, v->slice[d][0]);
        sd[d] = cg_i64(cg, small->dim[d]);
    }
    LLVMValueRef bigp = grad ? cg_ptr(cg, id) : cg_ptr(cg, v->in[0]);
    LLVMValueRef smallp = grad ? cg_ptr(cg, v->in[acc]) : cg_ptr(cg, id);
    LLVMValueRef args[] = { count_of(cg, v), i32c(cg, big->rank), i64_array(cg, bd, big->rank),
                            i64_array(cg, lo, big->rank), i64_array(cg, sd, big->rank), bigp,
                            cg_i64(cg, ir_shape_size(big)), smallp, cg_i64(cg, ir_shape_size(small)),
                            i32c(cg, grad) };
    if (acc && cg->p->info[id].root != cg->p->info[v->in[0]].root)
        abort(); /* fuse.c makes a SLICE_ADD only where it can run in place */
    if (cg->p->info[id].put) {
        kernel(cg, "slice_put", args, 9);
    } else if (acc) {
        kernel(cg, "slice_add", args, 9);
    } else {
        kernel(cg, "slice", args, 10);
    }
}

/* CONV, CONV_GRAD_X, CONV_GRAD_W: geometry from x [c, h, w] and w [o, c, k, k] */
static void emit_conv(Cg *cg, IrId id, LLVMValueRef scratch)
{
    const FusePlan *p = cg->p;
    const IrValue *v = &p->v[id], *a = &p->v[v->in[0]], *b = &p->v[v->in[1]];
    const IrShape *x = v->op == IR_CONV ? &a->shape : v->op == IR_CONV_GRAD_X ? &v->shape : &b->shape;
    const IrShape *w = v->op == IR_CONV_GRAD_W ? &v->shape : &b->shape;
    int summed = v->op == IR_CONV_GRAD_W && !v->batched;
    LLVMValueRef count = summed ? (a->batched || b->batched ? cg->batch : cg_i64(cg, 1)) : count_of(cg, v);
    LLVMValueRef args[] = {
        count, cg_i64(cg, x->dim[0]), cg_i64(cg, x->dim[1]), cg_i64(cg, x->dim[2]),
        cg_i64(cg, w->dim[0]), cg_i64(cg, w->dim[2]), cg_i64(cg, v->iarg[0] ? v->iarg[0] : 1),
        cg_i64(cg, v->iarg[1]), cg_ptr(cg, v->in[0]), cg_i64(cg, a->batched ? fuse_size(a) : 0),
        cg_ptr(cg, v->in[1]), cg_i64(cg, b->batched ? fuse_size(b) : 0), cg_ptr(cg, id),
        cg_i64(cg, v->batched ? fuse_size(v) : 0), scratch,
    };
    const FuseInfo *fi = &p->info[id];
    if (fi->direct_conv) { /* (count, geometry without the stride, the rest) */
        LLVMValueRef direct[] = { args[0], args[1], args[2], args[3], args[4], args[5], args[7], args[8],
                                  args[9], args[10], args[11], args[12], args[13], scratch };
        kernel(cg, v->op == IR_CONV ? "dconv" : v->op == IR_CONV_GRAD_X ? "dconv_grad_x" : "dconv_grad_w",
               direct, 14);
        return;
    }
    if (fi->im2col_from >= 0) { /* (count, geometry, g, sg, dw, sdw, the kept im2col) */
        LLVMValueRef kept[] = { args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7],
                                args[8], args[9], args[12], args[13], scratch };
        kernel(cg, "conv_grad_w_kept", kept, 13);
        return;
    }
    kernel(cg, v->op == IR_CONV ? (fi->keep_im2col ? "conv_keep" : "conv")
               : v->op == IR_CONV_GRAD_X ? "conv_grad_x" : "conv_grad_w", args, 15);
}

static void emit_kernel(Cg *cg, IrId id, LLVMValueRef scratch)
{
    const FusePlan *p = cg->p;
    const IrValue *v = &p->v[id];
    const IrValue *a = v->in[0] >= 0 ? &p->v[v->in[0]] : NULL, *b = v->in[1] >= 0 ? &p->v[v->in[1]] : NULL;
    LLVMValueRef y = cg_ptr(cg, id), x = a ? cg_ptr(cg, v->in[0]) : NULL, x2 = b ? cg_ptr(cg, v->in[1]) : NULL;
    LLVMValueRef cnt = count_of(cg, v);
    switch (v->op) {
    case IR_MATMUL: emit_gemm(cg, id); return;
    case IR_OUTER: case IR_OUTER_ADD: emit_gemm(cg, id); return;
    case IR_SUM: case IR_MEAN: case IR_MAX: { /* x as [outer, len, inner] */
        int axis = v->iarg[0], r = a->shape.rank;
        int64_t outer = axis < 0 ? 1 : prod(&a->shape, 0, axis);
        int64_t len = axis < 0 ? fuse_size(a) : a->shape.dim[axis];
        int64_t inner = axis < 0 ? 1 : prod(&a->shape, axis + 1, r);
        LLVMValueRef args[] = { i32c(cg, v->op == IR_SUM ? 0 : v->op == IR_MEAN ? 1 : 2),
                                a->batched ? times_batch(cg, outer) : cg_i64(cg, outer), cg_i64(cg, len),
                                cg_i64(cg, inner), x, y };
        kernel(cg, "reduce", args, 6);
        return;
    }
    case IR_LOGSUMEXP: case IR_SOFTMAX: {
        LLVMValueRef args[] = { cnt, cg_i64(cg, fuse_size(a)), x, y };
        kernel(cg, v->op == IR_LOGSUMEXP ? "logsumexp" : "softmax", args, 4);
        return;
    }
    case IR_REDUCE_TO: emit_reduce_to(cg, id); return;
    case IR_ALLREDUCE: { /* libexa sums over the ranks sharing the batch (exa/kernels.h) */
        LLVMValueRef args[] = { cg_i64(cg, fuse_size(v)), x, y, cg->batch, i32c(cg, v->iarg[0]) };
        kernel(cg, "batch_sum", args, 5);
        return;
    }
    case IR_TRANSPOSE: {
        LLVMValueRef args[] = { cnt, cg_i64(cg, a->shape.dim[0]), cg_i64(cg, a->shape.dim[1]), x,
                                cg_i64(cg, a->batched ? fuse_size(a) : 0), y };
        kernel(cg, "transpose", args, 6);
        return;
    }
    case IR_SLICE: case IR_SLICE_GRAD: case IR_SLICE_ADD: emit_slice(cg, id); return;
    case IR_CONCAT: {
        int64_t na = fuse_size(a), nb = fuse_size(b);
        LLVMValueRef args[] = { cnt, cg_i64(cg, na), x, cg_i64(cg, a->batched ? na : 0), cg_i64(cg, nb),
                                x2, cg_i64(cg, b->batched ? nb : 0), y };
        kernel(cg, "concat", args, 8);
        return;
    }
    case IR_PICK: case IR_PICK_GRAD: {
        int64_t n = v->op == IR_PICK ? fuse_size(a) : fuse_size(v);
        LLVMValueRef args[] = { cg->batch, cg_i64(cg, n), x, cg_i64(cg, a->batched ? fuse_size(a) : 0), x2, y };
        kernel(cg, v->op == IR_PICK ? "pick" : "pick_grad", args, 6);
        return;
    }
    case IR_CONV: case IR_CONV_GRAD_X: case IR_CONV_GRAD_W: emit_conv(cg, id, scratch); return;
    case IR_MAXPOOL: case IR_MAXPOOL_GRAD: {
        const IrShape *xs = v->op == IR_MAXPOOL ? &a->shape : &v->shape;
        int grad = v->op == IR_MAXPOOL_GRAD;
        LLVMValueRef args[] = { cnt, cg_i64(cg, xs->dim[0]), cg_i64(cg, xs->dim[1]), cg_i64(cg, xs->dim[2]),
                                cg_i64(cg, v->iarg[0]), cg_i64(cg, v->iarg[1]), x,
                                cg_i64(cg, a->batched ? fuse_size(a) : 0), grad ? x2 : y,
                                grad ? cg_i64(cg, b->batched ? fuse_size(b) : 0) : cg_i64(cg, fuse_size(v)),
                                y, cg_i64(cg, fuse_size(v)) };
        kernel(cg, grad ? "maxpool_grad" : "maxpool", args, grad ? 12 : 10);
        return;
    }
    case IR_BASIS: {
        LLVMValueRef args[] = { cg_i64(cg, fuse_size(v)), cg_i64(cg, v->iarg[0]), y };
        kernel(cg, "basis", args, 3);
        return;
    }
    default:
        return; /* fuse.c makes kernels only of the ops above */
    }
}

/* ---- functions --------------------------------------------------------- */

static LLVMValueRef field(Cg *cg, LLVMValueRef args, int i, LLVMTypeRef t, const char *name)
{
    LLVMValueRef at = LLVMBuildStructGEP2(cg->b, cg->args, args, (unsigned)i, "");
    return LLVMBuildLoad2(cg->b, t, at, name);
}

void cg_host_attributes(Cg *cg, LLVMValueRef fn)
{
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(cg->ctx, "target-cpu", 10, cg->cpu, (unsigned)strlen(cg->cpu)));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(cg->ctx, "target-features", 15, cg->features,
                                                      (unsigned)strlen(cg->features)));
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
}

/* outputs[slot] + offset, as a real * */
static LLVMValueRef output_ptr(Cg *cg, const IrOutput *o)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef slot = cg_i64(cg, o->slot);
    LLVMValueRef dst = LLVMBuildLoad2(B, cg->i8p, LLVMBuildInBoundsGEP2(B, cg->i8p, cg->outputs, &slot, 1, ""), "");
    LLVMValueRef off = cg_i64(cg, o->offset);
    return LLVMBuildInBoundsGEP2(B, cg->real, LLVMBuildBitCast(B, dst, cg->realp, ""), &off, 1, "out");
}

/* outputs[slot] + offset <- the value's B rows (or one tensor) */
static void copy_out(Cg *cg, const IrOutput *o)
{
    const IrValue *v = &cg->p->v[o->value];
    int elem = cg->prec == CG_F64 ? 8 : 4;
    int64_t bytes = fuse_size(v) * elem;
    LLVMValueRef n = v->batched ? times_batch(cg, bytes) : cg_i64(cg, bytes);
    LLVMBuildMemCpy(cg->b, output_ptr(cg, o), (unsigned)elem, cg_ptr(cg, o->value), (unsigned)elem, n);
}

/* The end of a buffer, slope*B + intercept bytes. */
typedef struct Line {
    int64_t slope, intercept;
} Line;

static int steeper_first(const void *pa, const void *pb)
{
    const Line *a = pa, *b = pb;
    if (a->slope != b->slope)
        return a->slope < b->slope ? 1 : -1;
    return (a->intercept < b->intercept) - (a->intercept > b->intercept);
}

/* int64_t NAME_workspace(int64_t B): max over buffers of their end.  Only
 * the ends that can be the largest for some B >= 0 are compared: a line with
 * no more slope and no more intercept than another never is.  (A chain of a
 * select per buffer, 10^4 of them in a deep net, made the back end crawl.) */
static LLVMValueRef emit_workspace(Cg *cg, const char *name)
{
    char wname[512];
    snprintf(wname, sizeof wname, "%s_workspace", name);
    LLVMTypeRef ft = LLVMFunctionType(cg->i64, &cg->i64, 1, 0);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, wname, ft);
    cg_host_attributes(cg, fn);
    LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef batch = LLVMGetParam(fn, 0), r = cg_i64(cg, 0);
    int n = cg->p->nbuf;
    Line *line = calloc((size_t)n + 1, sizeof *line);
    if (!line)
        abort();
    for (int i = 0; i < n; i++) {
        const FuseBuffer *fb = &cg->p->buf[i];
        line[i] = (Line){ fb->at_a + fb->a, fb->at_c + fb->b + 64 };
    }
    qsort(line, (size_t)n, sizeof *line, steeper_first);
    int64_t best_intercept = INT64_MIN;
    for (int i = 0; i < n; i++) {
        if (line[i].intercept <= best_intercept)
            continue; /* a steeper (or as steep) line lies above it */
        best_intercept = line[i].intercept;
        LLVMValueRef end = LLVMBuildAdd(cg->b, LLVMBuildMul(cg->b, batch, cg_i64(cg, line[i].slope), ""),
                                        cg_i64(cg, line[i].intercept), "");
        r = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, end, r, ""), end, r, "");
    }
    free(line);
    LLVMBuildRet(cg->b, r);
    return fn;
}

/* ---- addresses and scalars, made on first use ----------------------------
 *
 * A generated function is a straight line of calls (loop nests are
 * outlined; the only branches are emit_ready's, around a call that computes
 * nothing, and gemm_or_sgd's, between two calls whose operands are computed
 * before it), so an address computed where it is first needed dominates
 * every later use.  The caches are per function: begin_body empties them. */

static LLVMValueRef buffer_ptr(Cg *cg, int i)
{
    if (!cg->bufptr[i]) { /* align64(at_a B + at_c) */
        LLVMBuilderRef B = cg->b;
        const FuseBuffer *fb = &cg->p->buf[i];
        LLVMValueRef off = LLVMBuildAdd(B, LLVMBuildMul(B, cg->batch, cg_i64(cg, fb->at_a), ""),
                                        cg_i64(cg, fb->at_c + 63), "");
        off = LLVMBuildAnd(B, off, cg_i64(cg, ~(int64_t)63), "");
        cg->bufptr[i] = LLVMBuildBitCast(B, LLVMBuildInBoundsGEP2(B, cg->i8, cg->ws, &off, 1, ""), cg->realp, "buf");
    }
    return cg->bufptr[i];
}

/* Where a placed value's place'th copy is: in that FUSE_JOIN's memory. */
LLVMValueRef cg_place_ptr(Cg *cg, IrId id, int place)
{
    LLVMValueRef off = cg_i64(cg, fuse_place_offset(cg->p, id, place));
    return LLVMBuildInBoundsGEP2(cg->b, cg->real, cg_ptr(cg, cg->p->info[id].place_root[place]), &off, 1, "place");
}

/* A value's memory: a view into theta or the inputs, its alias's, or its buffer. */
LLVMValueRef cg_ptr(Cg *cg, IrId id)
{
    if (cg->ptr[id])
        return cg->ptr[id];
    LLVMBuilderRef B = cg->b;
    const IrValue *v = &cg->p->v[id];
    const FuseInfo *fi = &cg->p->info[id];
    LLVMValueRef r = NULL;
    if (fi->kind == FUSE_VIEW && v->op == IR_PARAM) {
        LLVMValueRef off = cg_i64(cg, cg->params[v->iarg[0]].offset);
        r = LLVMBuildInBoundsGEP2(B, cg->real, cg->theta, &off, 1, "param");
    } else if (fi->kind == FUSE_VIEW) {
        LLVMValueRef k = cg_i64(cg, v->iarg[0]);
        LLVMValueRef in = LLVMBuildLoad2(B, cg->i8p, LLVMBuildInBoundsGEP2(B, cg->i8p, cg->inputs, &k, 1, ""), "");
        r = LLVMBuildBitCast(B, in, v->op == IR_LABEL ? cg->i32p : cg->realp, v->op == IR_LABEL ? "label" : "input");
    } else if (fi->kind == FUSE_ALIAS) {
        r = cg_ptr(cg, fi->root);
    } else if (fi->kind == FUSE_SLICE) { /* its source's memory at its first element */
        LLVMValueRef off = cg_i64(cg, fuse_slice_offset(cg->p, id));
        r = LLVMBuildInBoundsGEP2(B, cg->real, cg_ptr(cg, fi->root), &off, 1, "slice");
    } else if (fi->nplace > 0) { /* in a FUSE_JOIN's memory: its first place */
        r = cg_place_ptr(cg, id, 0);
    } else if (fi->root != id) { /* SLICE_ADD: its accumulator's memory */
        r = cg_ptr(cg, fi->root);
    } else if (fi->output >= 0) {
        r = output_ptr(cg, &cg->p->out[fi->output]);
    } else if (fi->buffer >= 0) {
        r = buffer_ptr(cg, fi->buffer);
    }
    return cg->ptr[id] = r;
}

/* A FUSE_SCALAR value: a constant, 1/B, or the step size. */
LLVMValueRef cg_scalar(Cg *cg, IrId id)
{
    if (cg->scalar[id])
        return cg->scalar[id];
    const IrValue *v = &cg->p->v[id];
    LLVMBuilderRef B = cg->b;
    LLVMValueRef r;
    if (v->op == IR_INV_BATCH)
        r = LLVMBuildFDiv(B, cg_real(cg, 1), LLVMBuildSIToFP(B, cg->batch, cg->real, ""), "inv_batch");
    else if (v->op == IR_STEP_SIZE)
        r = cg->prec == CG_F64 ? cg->step_size : LLVMBuildFPTrunc(B, cg->step_size, cg->real, "");
    else
        r = cg_real(cg, v->c);
    return cg->scalar[id] = r;
}

/* ---- functions, in parts ------------------------------------------------ */

/* Steps per function: a function of a 2048-step ODE net has some 10^5
 * straight-line instructions, and LLVM's back end (domain reassignment,
 * instruction selection) is superlinear in a block's length.  Longer plans
 * become a chain of private parts, each loading its own arguments. */
enum { PART_STEPS = 128 };

/* A function's own body (not its outlined loop nests) is a straight line of
 * kernel calls and address arithmetic, where optimisation finds nothing
 * worth its cost: on allen_cahn.exa, O3 and the selection DAG on these
 * bodies took half of exac's 0.8 s of CPU.  optnone (which needs noinline)
 * sends them through fast instruction selection and leaves the loop nests,
 * where the time of a step goes, to O3 and the vectoriser. */
static void straight_line(Cg *cg, LLVMValueRef fn)
{
    static const char *const kinds[] = { "optnone", "noinline" };
    for (int i = 0; i < 2; i++) {
        unsigned k = LLVMGetEnumAttributeKindForName(kinds[i], strlen(kinds[i]));
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, k, 0));
    }
}

/* Starts fn's body: entry block, the fields of its ExaArgs, empty caches. */
static void begin_body(Cg *cg, LLVMValueRef fn)
{
    const FusePlan *p = cg->p;
    LLVMBuilderRef B = cg->b;
    cg->fn = fn;
    cg->entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMPositionBuilderAtEnd(B, cg->entry);
    LLVMValueRef args = LLVMGetParam(fn, 0);
    cg->batch = field(cg, args, EXA_ARGS_batch, cg->i64, "batch");
    cg->step_size = field(cg, args, EXA_ARGS_step_size, LLVMDoubleTypeInContext(cg->ctx), "h");
    cg->theta = LLVMBuildBitCast(B, field(cg, args, EXA_ARGS_theta, cg->i8p, ""), cg->realp, "theta");
    cg->inputs = field(cg, args, EXA_ARGS_inputs, LLVMPointerType(cg->i8p, 0), "inputs");
    cg->outputs = field(cg, args, EXA_ARGS_outputs, LLVMPointerType(cg->i8p, 0), "outputs");
    cg->ws = field(cg, args, EXA_ARGS_workspace, cg->i8p, "workspace");
    cg->ready = field(cg, args, EXA_ARGS_ready, cg->i8p, "ready");
    cg->ready_ctx = field(cg, args, EXA_ARGS_ready_ctx, cg->i8p, "ready_ctx");
    cg->sgd = field(cg, args, EXA_ARGS_sgd, cg->i8p, "sgd");
    memset(cg->ptr, 0, ((size_t)p->n + 1) * sizeof *cg->ptr);
    memset(cg->scalar, 0, ((size_t)p->n + 1) * sizeof *cg->scalar);
    memset(cg->bufptr, 0, ((size_t)p->nbuf + 1) * sizeof *cg->bufptr);
}

/* if (args->ready) args->ready(args->ready_ctx, slot, offset, count): one
 * of the two branches of a function's body (gemm_or_sgd's the other).
 * Everything the call needs is computed before it, so the addresses cached
 * before and after still dominate their uses. */
static void emit_ready(Cg *cg, const IrOutput *o)
{
    LLVMBuilderRef B = cg->b;
    LLVMTypeRef params[] = { cg->i8p, cg->i32, cg->i64, cg->i64 };
    LLVMTypeRef ft = LLVMFunctionType(cg->vd, params, 4, 0);
    LLVMValueRef args[] = { cg->ready_ctx, i32c(cg, o->slot), cg_i64(cg, o->offset),
                            cg_i64(cg, fuse_size(&cg->p->v[o->value])) };
    LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "ready");
    LLVMBasicBlockRef after = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "");
    LLVMBuildCondBr(B, LLVMBuildIsNotNull(B, cg->ready, ""), call, after);
    LLVMPositionBuilderAtEnd(B, call);
    LLVMBuildCall2(B, ft, LLVMBuildBitCast(B, cg->ready, LLVMPointerType(ft, 0), ""), args, 4, "");
    LLVMBuildBr(B, after);
    LLVMPositionBuilderAtEnd(B, after);
}

/* Plan step s, then the outputs it completes (a list per step: out_first/next)
 * and the gradients final after it (ready_first/next, fuse_ready_steps). */
static void emit_step(Cg *cg, int s, const int *out_first, const int *out_next, const int *ready_first,
                      const int *ready_next)
{
    const FusePlan *p = cg->p;
    const FuseStep *st = &p->steps[s];
    if (st->kind == FUSE_STEP_LOOP) {
        cg_emit_loop(cg, &p->groups[st->group]);
    } else if (st->kind == FUSE_STEP_KERNEL) {
        const FuseInfo *fi = &p->info[st->value];
        int scratch = fi->im2col_from >= 0 ? p->info[fi->im2col_from].scratch : fi->scratch;
        emit_kernel(cg, st->value, scratch >= 0 ? buffer_ptr(cg, scratch) : NULL);
    } else {
        const IrValue *v = &p->v[st->value];
        LLVMValueRef a[] = { cg_i64(cg, fuse_size(v)), cg_scalar(cg, st->value), cg_ptr(cg, st->value) };
        kernel(cg, "fill", a, 3);
    }
    for (int i = out_first[s]; i >= 0; i = out_next[i])
        copy_out(cg, &p->out[i]);
    for (int i = ready_first[s]; i >= 0; i = ready_next[i])
        emit_ready(cg, &p->out[i]);
}

static int emit_function(Cg *cg, const IrFunc *f, const IrParam *params, int nparams,
                         LLVMValueRef *run, LLVMValueRef *ws_fn, char **error)
{
    FusePlan plan;
    timing_pass("fuse");
    int planned = fuse_plan_flags(f, cg->prec == CG_F64 ? 8 : 4, FUSE_FLAGS_CPU, &plan, error);
    timing_pass("llvm: build IR");
    if (planned != 0)
        return -1;
    const FusePlan *p = cg->p = &plan;
    int status = -1;
    cg->params = params;
    cg->ptr = calloc((size_t)p->n + 1, sizeof *cg->ptr);
    cg->scalar = calloc((size_t)p->n + 1, sizeof *cg->scalar);
    cg->val = calloc((size_t)p->n + 1, sizeof *cg->val);
    cg->bufptr = calloc((size_t)p->nbuf + 1, sizeof *cg->bufptr);
    cg->sgd_param = calloc((size_t)p->n + 1, sizeof *cg->sgd_param);
    int *sgd_out = calloc((size_t)p->nout + 1, sizeof *sgd_out);
    int *out_first = calloc((size_t)p->nsteps + 2, sizeof *out_first);
    int *out_next = calloc((size_t)p->nout + 1, sizeof *out_next);
    int *ready_first = calloc((size_t)p->nsteps + 2, sizeof *ready_first);
    int *ready_next = calloc((size_t)p->nout + 1, sizeof *ready_next);
    if (!cg->ptr || !cg->scalar || !cg->val || !cg->bufptr || !cg->sgd_param || !sgd_out || !out_first
        || !out_next || !ready_first || !ready_next) {
        diag_message(error, "out of memory");
        goto done;
    }
    for (IrId id = 0; id < p->n; id++) {
        const IrValue *v = &p->v[id];
        if (p->info[id].kind == FUSE_VIEW && v->op == IR_PARAM && (v->iarg[0] < 0 || v->iarg[0] >= nparams)) {
            diag_message(error, "%s: value %%%d names parameter %d of %d", f->name, id, v->iarg[0], nparams);
            goto done;
        }
    }
    fuse_sgd_outputs(p, params, nparams, sgd_out);
    for (int i = 0; i < p->nout; i++)
        if (sgd_out[i] >= 0)
            cg->sgd_param[p->out[i].value] = &params[sgd_out[i]];
    fuse_output_steps(p, out_first, out_next);
    fuse_ready_steps(p, ready_first, ready_next);
    LLVMTypeRef ft = LLVMFunctionType(cg->vd, &cg->argsp, 1, 0);
    LLVMValueRef fn = *run = LLVMAddFunction(cg->mod, f->name, ft);
    cg_host_attributes(cg, fn);
    straight_line(cg, fn);
    begin_body(cg, fn);
    for (int i = out_first[0]; i >= 0; i = out_next[i]) /* views: written before anything runs */
        copy_out(cg, &p->out[i]);
    for (int i = ready_first[0]; i >= 0; i = ready_next[i])
        emit_ready(cg, &p->out[i]);
    if (p->nsteps <= PART_STEPS) {
        for (int s = 0; s < p->nsteps; s++)
            emit_step(cg, s, out_first + 1, out_next, ready_first + 1, ready_next);
    } else {
        LLVMBasicBlockRef main_block = cg->entry;
        LLVMValueRef args = LLVMGetParam(fn, 0);
        for (int first = 0; first < p->nsteps; first += PART_STEPS) {
            char name[512];
            snprintf(name, sizeof name, "%s.part%d", f->name, first / PART_STEPS);
            LLVMValueRef part = LLVMAddFunction(cg->mod, name, ft);
            LLVMSetLinkage(part, LLVMPrivateLinkage);
            cg_host_attributes(cg, part);
            straight_line(cg, part);
            LLVMBuildCall2(cg->b, ft, part, &args, 1, "");
            begin_body(cg, part);
            for (int s = first; s < p->nsteps && s < first + PART_STEPS; s++)
                emit_step(cg, s, out_first + 1, out_next, ready_first + 1, ready_next);
            LLVMBuildRetVoid(cg->b);
            cg->fn = fn;
            LLVMPositionBuilderAtEnd(cg->b, main_block);
        }
    }
    LLVMBuildRetVoid(cg->b);
    *ws_fn = emit_workspace(cg, f->name);
    status = 0;
done:
    free(cg->ptr);
    free(cg->scalar);
    free(cg->val);
    free(cg->bufptr);
    free(cg->sgd_param);
    free(sgd_out);
    free(out_first);
    free(out_next);
    free(ready_first);
    free(ready_next);
    cg->ptr = cg->scalar = cg->val = cg->bufptr = NULL;
    cg->sgd_param = NULL;
    cg->p = NULL;
    fuse_free(&plan);
    return status;
}

/* ---- the module -------------------------------------------------------- */

static LLVMValueRef string_global(Cg *cg, const char *name, const char *s, int private_)
{
    LLVMValueRef init = LLVMConstStringInContext(cg->ctx, s, (unsigned)strlen(s), 0);
    LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    if (private_) {
        LLVMSetLinkage(g, LLVMPrivateLinkage);
        LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    }
    return g;
}

/* const ExaFunction exa_functions[] = { {name, run, workspace}, ..., {0} } */
static void function_table(Cg *cg, const IrFunc *funcs, int nfuncs, LLVMValueRef *run, LLVMValueRef *ws)
{
    LLVMTypeRef runp = LLVMPointerType(LLVMFunctionType(cg->vd, &cg->argsp, 1, 0), 0);
    LLVMTypeRef wsp = LLVMPointerType(LLVMFunctionType(cg->i64, &cg->i64, 1, 0), 0);
    LLVMTypeRef fields[3] = { cg->i8p, runp, wsp };
    LLVMTypeRef et = LLVMStructTypeInContext(cg->ctx, fields, 3, 0);
    LLVMValueRef *rows = calloc((size_t)nfuncs + 1, sizeof *rows);
    for (int i = 0; i < nfuncs; i++) {
        LLVMValueRef name = string_global(cg, "exa_fname", funcs[i].name, 1);
        LLVMValueRef zero[2] = { cg_i64(cg, 0), cg_i64(cg, 0) };
        LLVMValueRef vals[3] = { LLVMConstInBoundsGEP2(LLVMTypeOf(LLVMGetInitializer(name)), name, zero, 2),
                                 run[i], ws[i] };
        rows[i] = LLVMConstNamedStruct(et, vals, 3);
    }
    rows[nfuncs] = LLVMConstNull(et);
    LLVMValueRef init = LLVMConstArray(et, rows, (unsigned)nfuncs + 1);
    LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), "exa_functions");
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    free(rows);
}

static void init_types(Cg *cg)
{
    LLVMContextRef c = cg->ctx;
    cg->real = cg->prec == CG_F64 ? LLVMDoubleTypeInContext(c) : LLVMFloatTypeInContext(c);
    cg->realp = LLVMPointerType(cg->real, 0);
    cg->i1 = LLVMInt1TypeInContext(c);
    cg->i8 = LLVMInt8TypeInContext(c);
    cg->i32 = LLVMInt32TypeInContext(c);
    cg->i64 = LLVMInt64TypeInContext(c);
    cg->i8p = LLVMPointerType(cg->i8, 0);
    cg->i32p = LLVMPointerType(cg->i32, 0);
    cg->i64p = LLVMPointerType(cg->i64, 0);
    cg->vd = LLVMVoidTypeInContext(c);
    /* ExaArgs, field by field from the table abi.h declares it from */
    LLVMTypeRef I64 = cg->i64, F64 = LLVMDoubleTypeInContext(c), PTR = cg->i8p, PTRS = LLVMPointerType(cg->i8p, 0);
    LLVMTypeRef f[EXA_ARGS_NFIELDS] = {
#define EXA_ARG(type, name, kind) [EXA_ARGS_##name] = kind,
#include "exa/args.def"
#undef EXA_ARG
    };
    cg->args = LLVMStructCreateNamed(c, "ExaArgs");
    LLVMStructSetBody(cg->args, f, EXA_ARGS_NFIELDS, 0);
    cg->argsp = LLVMPointerType(cg->args, 0);
}

/* The host target machine: its CPU and features, position-independent code
 * (the object may go into a PIE executable or a shared object). */
static LLVMTargetMachineRef host_machine(Cg *cg, LLVMCodeGenOptLevel level, char **error)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(triple, &target, &msg) != 0) {
        diag_message(error, "no LLVM target for %s: %s", triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        LLVMDisposeMessage(triple);
        return NULL;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cg->cpu, cg->features, level, LLVMRelocPIC,
                                                      LLVMCodeModelDefault);
    LLVMSetTarget(cg->mod, triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(cg->mod, dl);
    LLVMDisposeTargetData(dl);
    LLVMDisposeMessage(triple);
    return tm;
}

/* The SLP vectoriser's search for horizontal reductions and chains is
 * quadratic in the length of a basic block, and a generated function is one
 * long block of kernel calls and buffer addresses: 93% of O3's time on a
 * 256-step ODE net (10 s; 0.45 s without it).  Our loops are vectorised by
 * the loop vectoriser and reductions run in runtime kernels, so that search
 * finds nothing here.  Loop strength reduction's search over the address
 * formulas of a nest's streams (up to 58 pointers in allen_cahn.exa) was
 * 12% of the back end's time on the nests (llc -time-passes), for no
 * measurable speed: the Allen-Cahn PINN and the ODE net (bench b, c, 300
 * epochs, CPU seconds alternating, load 13-16) ran 2.36-2.71 and 1.84-2.03 s
 * without it against 2.40-2.50 and 1.92-2.10 s with it; the nests index
 * each stream by one offset per level, which the addressing modes take as
 * they are.  Both are process-wide LLVM options, settable only through
 * LLVM's command-line parser, once per process. */
static void limit_slp_vectorizer(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const char *argv[] = { "exac", "-slp-vectorize-hor=false", "-disable-lsr" };
    LLVMParseCommandLineOptions(3, argv, NULL);
}

/* The function bodies are straight lines of kernel calls (optnone: fast
 * instruction selection), but the target machine's level still sends them
 * through the optimising back end's register allocation (greedy, splitting
 * live ranges across thousands of calls) and machine passes, which made
 * them a large part of exac's time for no speed: what they do is call
 * kernels.  So the optimised module is split in two after O3: `mod` keeps
 * the loop nests, their tasks and the workspace functions, compiled at the
 * Aggressive level; the returned clone keeps the optnone bodies and the
 * data (exa_functions, exa_program), compiled at None (fast register
 * allocation, no machine optimisation), each half declaring what the other
 * defines.  Private symbols become hidden so that the two objects link. */
static int is_body(LLVMValueRef fn)
{
    unsigned k = LLVMGetEnumAttributeKindForName("optnone", 7);
    return LLVMGetEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, k) != NULL;
}

/* fn, defined in m, becomes a declaration of the same name and type. */
static void to_declaration(LLVMModuleRef m, LLVMValueRef fn)
{
    size_t len;
    char *name = strdup(LLVMGetValueName2(fn, &len));
    if (!name)
        abort();
    LLVMTypeRef ft = LLVMGlobalGetValueType(fn);
    LLVMVisibility vis = LLVMGetVisibility(fn);
    LLVMSetValueName2(fn, "", 0);
    LLVMValueRef decl = LLVMAddFunction(m, name, ft);
    LLVMSetVisibility(decl, vis);
    LLVMReplaceAllUsesWith(fn, decl);
    LLVMDeleteFunction(fn);
    free(name);
}

static void declare_if(LLVMModuleRef m, int bodies)
{
    int n = 0, cap = 64;
    LLVMValueRef *fns = malloc((size_t)cap * sizeof *fns);
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f && fns; f = LLVMGetNextFunction(f)) {
        if (LLVMIsDeclaration(f) || is_body(f) != bodies)
            continue;
        if (n == cap)
            fns = realloc(fns, (size_t)(cap *= 2) * sizeof *fns);
        if (fns)
            fns[n++] = f;
    }
    if (!fns)
        abort();
    for (int i = 0; i < n; i++)
        to_declaration(m, fns[i]);
    free(fns);
}

static LLVMModuleRef split_bodies(LLVMModuleRef mod)
{
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && LLVMGetLinkage(f) == LLVMPrivateLinkage) {
            LLVMSetLinkage(f, LLVMExternalLinkage);
            LLVMSetVisibility(f, LLVMHiddenVisibility);
        }
    LLVMModuleRef bodies = LLVMCloneModule(mod);
    for (LLVMValueRef g = LLVMGetFirstGlobal(mod); g;) { /* the data: the bodies' half */
        LLVMValueRef next = LLVMGetNextGlobal(g);
        size_t len;
        const char *name = LLVMGetValueName2(g, &len);
        if (!LLVMGetFirstUse(g) || strcmp(name, "exa_functions") == 0 || strcmp(name, "exa_program") == 0) {
            LLVMDeleteGlobal(g);
            next = LLVMGetFirstGlobal(mod); /* exa_functions held the names: start again */
        }
        g = next;
    }
    declare_if(mod, 1);
    declare_if(bodies, 0);
    return bodies;
}

int cg_llvm_emit(const IrFunc *funcs, int nfuncs, const IrParam *params, int nparams,
                 const char *descriptor, CgPrecision prec, const char *obj_path,
                 const char *body_obj_path, FILE *llvm_text, char **error)
{
    Cg cg = { .prec = prec };
    int status = -1;
    char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures(), *msg = NULL;
    cg.cpu = cpu;
    cg.features = features;
    cg.ctx = LLVMContextCreate();
    cg.mod = LLVMModuleCreateWithNameInContext("exa", cg.ctx);
    cg.b = LLVMCreateBuilderInContext(cg.ctx);
    init_types(&cg);
    LLVMValueRef *run = calloc((size_t)nfuncs + 1, sizeof *run), *ws = calloc((size_t)nfuncs + 1, sizeof *ws);
    LLVMTargetMachineRef tm = host_machine(&cg, LLVMCodeGenLevelAggressive, error), tm0 = NULL;
    LLVMModuleRef bodies = NULL;
    if (!tm || !run || !ws)
        goto done;
    for (int i = 0; i < nfuncs; i++) {
        if (!funcs[i].name) {
            diag_message(error, "function %d has no name", i);
            goto done;
        }
        if (emit_function(&cg, &funcs[i], params, nparams, &run[i], &ws[i], error) != 0)
            goto done;
    }
    cg_finish_loops(&cg);
    timing_pass("llvm: build IR");
    function_table(&cg, funcs, nfuncs, run, ws);
    string_global(&cg, "exa_program", descriptor ? descriptor : "", 0);
    timing_pass("llvm: verify");
    if (LLVMVerifyModule(cg.mod, LLVMReturnStatusAction, &msg) != 0) {
        diag_message(error, "generated LLVM IR does not verify: %s", msg);
        goto done;
    }
    if (llvm_text) {
        char *text = LLVMPrintModuleToString(cg.mod);
        fputs(text, llvm_text);
        LLVMDisposeMessage(text);
    }
    if (obj_path) {
        timing_pass("llvm: optimise");
        limit_slp_vectorizer();
        LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
        LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
        LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
        /* the vectoriser interleaves the loop nests' bodies already; runtime
         * unrolling on top made the object larger (a third of O3's and the
         * back end's time) for no measurable speed (docs/results/throughput.md) */
        LLVMPassBuilderOptionsSetLoopUnrolling(opts, 0);
        LLVMErrorRef err = LLVMRunPasses(cg.mod, "default<O3>", tm, opts);
        LLVMDisposePassBuilderOptions(opts);
        if (err) {
            char *m = LLVMGetErrorMessage(err);
            diag_message(error, "LLVM optimisation failed: %s", m);
            LLVMDisposeErrorMessage(m);
            goto done;
        }
        timing_pass("llvm: machine code");
        if (body_obj_path) {
            bodies = split_bodies(cg.mod);
            if (!(tm0 = host_machine(&cg, LLVMCodeGenLevelNone, error)))
                goto done;
        }
        char *m = NULL;
        if (LLVMTargetMachineEmitToFile(tm, cg.mod, (char *)obj_path, LLVMObjectFile, &m) != 0 ||
            (bodies && LLVMTargetMachineEmitToFile(tm0, bodies, (char *)body_obj_path, LLVMObjectFile, &m) != 0)) {
            diag_message(error, "cannot write the object file: %s", m ? m : "?");
            LLVMDisposeMessage(m);
            goto done;
        }
    }
    status = 0;
done:
    timing_pass(NULL);
    cg_finish_loops(&cg); /* again after an error: frees what is left */
    LLVMDisposeMessage(msg);
    free(run);
    free(ws);
    if (tm)
        LLVMDisposeTargetMachine(tm);
    if (tm0)
        LLVMDisposeTargetMachine(tm0);
    if (bodies)
        LLVMDisposeModule(bodies);
    LLVMDisposeBuilder(cg.b);
    LLVMDisposeModule(cg.mod);
    LLVMContextDispose(cg.ctx);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    return status;
}
