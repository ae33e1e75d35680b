/* codegen_llvm_loop.c - a fused group of elementwise ops as one LLVM loop nest.
 *
 * The loop runs over the group's iteration space: the batch (when it is
 * batched) and then the dims of its shape.  Every value the group reads from
 * memory is a *stream* with one stride per loop dim: 0 along a dim it is
 * broadcast over (a uniform bias along the batch, an [m, 1] operand along n),
 * its natural stride otherwise.  Adjacent dims that every stream walks
 * contiguously are merged, so a batched chain with a uniform bias is a
 * two-deep nest (samples, then features) and a chain over batched values only
 * is one flat loop of B*n iterations: simple counted loops over contiguous
 * memory, which LLVM's loop vectoriser turns into SIMD code.  Group members
 * used only inside the group stay in registers; the others are stored.
 *
 * exp, and tanh and sigmoid through it, are computed inline (range reduction
 * by ln 2 and a Taylor polynomial, exact to about an ulp) rather than by
 * calls to libm, because a call per element would keep the loop scalar; f32
 * tanh is a rational function instead (emit_tanh_f32). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_llvm_int.h"

LLVMValueRef cg_real(Cg *cg, double c)
{
    return LLVMConstReal(cg->real, c);
}

LLVMValueRef cg_i64(Cg *cg, int64_t c)
{
    return LLVMConstInt(cg->i64, (unsigned long long)c, 1);
}

/* Calls `name`, declared on first use with the types of the arguments. */
LLVMValueRef cg_call(Cg *cg, const char *name, LLVMTypeRef ret, LLVMValueRef *args, int nargs)
{
    LLVMTypeRef pt[32];
    for (int i = 0; i < nargs; i++)
        pt[i] = LLVMTypeOf(args[i]);
    LLVMTypeRef ft = LLVMFunctionType(ret, pt, (unsigned)nargs, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
    if (!fn)
        fn = LLVMAddFunction(cg->mod, name, ft);
    return LLVMBuildCall2(cg->b, ft, fn, args, (unsigned)nargs, "");
}

/* An LLVM intrinsic overloaded on the real type: llvm.sqrt, llvm.rint, ... */
static LLVMValueRef intrinsic(Cg *cg, const char *name, LLVMValueRef *args, int nargs)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef t = cg->real;
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, &t, 1);
    LLVMTypeRef ft = LLVMIntrinsicGetType(cg->ctx, id, &t, 1);
    return LLVMBuildCall2(cg->b, ft, fn, args, (unsigned)nargs, "");
}

static LLVMValueRef intrinsic1(Cg *cg, const char *name, LLVMValueRef x)
{
    return intrinsic(cg, name, &x, 1);
}

static LLVMValueRef select_gt(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef t, LLVMValueRef f)
{
    LLVMBuilderRef B = cg->b;
    return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, a, b, ""), t, f, "");
}

/* ---- scalar math ------------------------------------------------------- */

static double inv_factorial(int k)
{
    double f = 1;
    for (int i = 2; i <= k; i++)
        f *= i;
    return 1 / f;
}

/* a b + c: fused where the CPU multiplies and adds in one instruction (one
 * rounding), else two; the same in scalar and vector code, so a loop's
 * remainder iterations give what its vector body would. */
static LLVMValueRef mul_add(Cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    const char *f = cg->features;
    while ((f = strstr(f, "+fma")) && f[4] != ',' && f[4] != 0)
        f += 4; /* +fma4 is another extension */
    if (f) {
        LLVMValueRef args[3] = { a, b, c };
        return intrinsic(cg, "llvm.fma", args, 3);
    }
    return LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, a, b, ""), c, "");
}

/* e^x: x = n ln2 + r with |r| <= ln2/2 (ln 2 split in two for exactness),
 * e^r by its Taylor polynomial (degree 12 in double, 7 in float: below half
 * an ulp on that interval), 2^n built in the exponent bits.  Beyond the range
 * of finite results: +inf above, 0 below; NaN stays NaN. */
static LLVMValueRef emit_exp(Cg *cg, LLVMValueRef x)
{
    LLVMBuilderRef B = cg->b;
    int dbl = cg->prec == CG_F64;
    double hi = dbl ? 709.0 : 88.0, lo = dbl ? -708.0 : -87.0;
    double ln2hi = dbl ? 6.93147180369123816490e-01 : 0.693359375;
    double ln2lo = dbl ? 1.90821492927058770002e-10 : -2.12194440e-4;
    LLVMValueRef xc = select_gt(cg, x, cg_real(cg, hi), cg_real(cg, hi), x);
    xc = select_gt(cg, cg_real(cg, lo), xc, cg_real(cg, lo), xc);
    LLVMValueRef n = intrinsic1(cg, "llvm.rint", LLVMBuildFMul(B, xc, cg_real(cg, 1.4426950408889634), ""));
    /* r = x - n ln2hi - n ln2lo and the Horner steps as multiply-adds where
     * the CPU has them (mul_add): half the instructions of a sigmoid's exp,
     * with one rounding a step instead of two */
    LLVMValueRef nn = LLVMBuildFNeg(B, n, "");
    LLVMValueRef r = mul_add(cg, nn, cg_real(cg, ln2hi), xc);
    r = mul_add(cg, nn, cg_real(cg, ln2lo), r);
    int degree = dbl ? 12 : 7;
    LLVMValueRef poly = cg_real(cg, inv_factorial(degree));
    for (int k = degree - 1; k >= 0; k--) /* Horner: 1/k! + r (...) */
        poly = mul_add(cg, poly, r, cg_real(cg, inv_factorial(k)));
    LLVMTypeRef it = dbl ? cg->i64 : cg->i32;
    LLVMValueRef ni = LLVMBuildFPToSI(B, n, it, "");
    LLVMValueRef bits = LLVMBuildShl(B, LLVMBuildAdd(B, ni, LLVMConstInt(it, dbl ? 1023 : 127, 0), ""),
                                     LLVMConstInt(it, dbl ? 52 : 23, 0), "");
    LLVMValueRef y = LLVMBuildFMul(B, poly, LLVMBuildBitCast(B, bits, cg->real, ""), "");
    y = select_gt(cg, x, cg_real(cg, hi), cg_real(cg, INFINITY), y);
    y = select_gt(cg, cg_real(cg, lo), x, cg_real(cg, 0), y);
    return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealUNO, x, x, ""), x, y, "");
}

/* f32: tanh x = x P(x^2) / Q(x^2), P of degree 6 and Q of degree 3 in x^2,
 * P(0) = Q(0) = 1 (so a tiny x, subnormals included, comes out as x), the
 * relative minimax fit on [0, 9.1] (`python3 bench/tanh_fit.py 6 3 9.1`:
 * 7.8e-9, an eighth of an ulp), x clamped to +-9.1, where tanh is +-1 in
 * float, and the result to [-1, 1] (rounding could pass 1 by an ulp near the
 * clamp).  A NaN passes the clamps (the comparisons are false) and stays NaN.
 * About 17 vector instructions with one division where the exp form below
 * took about 40: the ODE net of bench/ (c) ran 1.37x faster at one thread.
 * The float arithmetic's roundings dominate the error: at most 5.5 ulp over
 * every float (tests/codegen/cg_ulp.c --all; its test holds it to 6, see
 * docs/design.md), where the exp form was within 2.2 ulp for |x| >= 0.5 but
 * lost all digits towards 0 (1 - e^-2|x| cancels: 130 ulp at 0.002).
 * f64 keeps the exp form. */
#define TANH_F32_CLAMP 9.1
static const double tanh_f32_p[6] = {
    0.1308153299888636301724219,    0.003101140634483197601974153,  0.00001112347791056839341495567,
    -2.009168913397000032508552e-8, 5.209054331279982045340833e-11, -8.300327224881802626533441e-14,
};
static const double tanh_f32_q[3] = {
    0.4641486168558772607739405, 0.0244840997461550749589088, 0.0002541964446875574360208962,
};

/* 1 + t (c[0] + t (c[1] + ... t c[n-1])) */
static LLVMValueRef horner(Cg *cg, LLVMValueRef t, const double *c, int n)
{
    LLVMValueRef r = cg_real(cg, c[n - 1]);
    for (int k = n - 2; k >= 0; k--)
        r = mul_add(cg, r, t, cg_real(cg, c[k]));
    return mul_add(cg, r, t, cg_real(cg, 1));
}

static LLVMValueRef emit_tanh_f32(Cg *cg, LLVMValueRef x)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef hi = cg_real(cg, TANH_F32_CLAMP), lo = cg_real(cg, -TANH_F32_CLAMP);
    LLVMValueRef xc = select_gt(cg, x, hi, hi, x);
    xc = select_gt(cg, lo, xc, lo, xc);
    LLVMValueRef t = LLVMBuildFMul(B, xc, xc, "");
    LLVMValueRef p = LLVMBuildFMul(B, xc, horner(cg, t, tanh_f32_p, 6), "");
    LLVMValueRef y = LLVMBuildFDiv(B, p, horner(cg, t, tanh_f32_q, 3), "");
    LLVMValueRef one = cg_real(cg, 1), minus_one = cg_real(cg, -1);
    y = select_gt(cg, y, one, one, y);
    return select_gt(cg, minus_one, y, minus_one, y);
}

/* tanh x = sign(x) (1 - t) / (1 + t), t = e^(-2|x|): no overflow for any x */
static LLVMValueRef emit_tanh(Cg *cg, LLVMValueRef x)
{
    if (cg->prec == CG_F32)
        return emit_tanh_f32(cg, x);
    LLVMBuilderRef B = cg->b;
    LLVMValueRef t = emit_exp(cg, LLVMBuildFMul(B, intrinsic1(cg, "llvm.fabs", x), cg_real(cg, -2), ""));
    LLVMValueRef r = LLVMBuildFDiv(B, LLVMBuildFSub(B, cg_real(cg, 1), t, ""),
                                   LLVMBuildFAdd(B, cg_real(cg, 1), t, ""), "");
    LLVMValueRef args[2] = { r, x };
    return intrinsic(cg, "llvm.copysign", args, 2);
}

/* a^b; small integer exponents (x^2, x^3 in losses and PINN terms) as products */
static LLVMValueRef emit_pow(Cg *cg, LLVMValueRef a, LLVMValueRef b, const IrValue *bv)
{
    LLVMBuilderRef B = cg->b;
    if (bv->op == IR_CONST && bv->c == (int)bv->c && bv->c >= -4 && bv->c <= 4 && bv->c != 0) {
        int k = (int)bv->c, m = k < 0 ? -k : k;
        LLVMValueRef y = a;
        for (int i = 1; i < m; i++)
            y = LLVMBuildFMul(B, y, a, "");
        return k < 0 ? LLVMBuildFDiv(B, cg_real(cg, 1), y, "") : y;
    }
    LLVMValueRef args[2] = { a, b };
    return intrinsic(cg, "llvm.pow", args, 2);
}

/* One elementwise op on scalars; the semantics are ir_eval.c's. */
static LLVMValueRef emit_elem(Cg *cg, const IrValue *v, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuilderRef B = cg->b;
    LLVMValueRef zero = cg_real(cg, 0), one = cg_real(cg, 1);
    switch (v->op) {
    case IR_ADD: return LLVMBuildFAdd(B, a, b, "");
    case IR_SUB: return LLVMBuildFSub(B, a, b, "");
    case IR_MUL: return LLVMBuildFMul(B, a, b, "");
    case IR_DIV: return LLVMBuildFDiv(B, a, b, "");
    case IR_POW: return emit_pow(cg, a, b, &cg->p->v[v->in[1]]);
    case IR_MAXIMUM: return select_gt(cg, a, b, a, b);
    case IR_NEG: return LLVMBuildFNeg(B, a, "");
    case IR_TANH: return emit_tanh(cg, a);
    case IR_SIGMOID:
        return LLVMBuildFDiv(B, one, LLVMBuildFAdd(B, one, emit_exp(cg, LLVMBuildFNeg(B, a, "")), ""), "");
    case IR_RELU: return select_gt(cg, a, zero, a, zero);
    case IR_SOFTPLUS: { /* log1p has no inline form here: a libm call */
        LLVMValueRef e = emit_exp(cg, a);
        LLVMValueRef l = cg_call(cg, cg->prec == CG_F64 ? "log1p" : "log1pf", cg->real, &e, 1);
        return select_gt(cg, a, cg_real(cg, 30), a, l);
    }
    case IR_EXP: return emit_exp(cg, a);
    case IR_LOG: return intrinsic1(cg, "llvm.log", a);
    case IR_SIN: return intrinsic1(cg, "llvm.sin", a);
    case IR_COS: return intrinsic1(cg, "llvm.cos", a);
    case IR_SQRT: return intrinsic1(cg, "llvm.sqrt", a);
    case IR_ABS: return intrinsic1(cg, "llvm.fabs", a);
    case IR_STEP: return select_gt(cg, a, zero, one, zero);
    case IR_SIGN:
        return select_gt(cg, a, zero, one, select_gt(cg, zero, a, cg_real(cg, -1), zero));
    case IR_BROADCAST: return a; /* the broadcast is in the operand's strides */
    default: return NULL; /* fuse.c groups only the ops above */
    }
}

/* ---- the loop nest ----------------------------------------------------- */

/* The plan's nest (fuse_nest: dims, streams, strides, collapse) and, per
 * stream, the pointer it runs from in the function being built. */
typedef struct Nest {
    FuseNest f;
    LLVMValueRef *base;
    const FuseGroup *g;
    LLVMValueRef *val;         /* per value id: its scalar in this iteration */
    LLVMValueRef ext0;         /* the extent of dim 0 (B times ext[0] where batched) */
} Nest;

static LLVMValueRef element(Cg *cg, LLVMValueRef base, LLVMValueRef off)
{
    return LLVMBuildInBoundsGEP2(cg->b, cg->real, base, &off, 1, "");
}

/* The innermost body: load what is read, compute the members, store. */
static void body(Cg *cg, Nest *n, LLVMValueRef *off)
{
    const FusePlan *p = cg->p;
    for (int s = 0; s < n->f.ns; s++)
        if (!n->f.st[s].store)
            n->val[n->f.st[s].value] = LLVMBuildLoad2(cg->b, cg->real, element(cg, n->base[s], off[s]), "");
    for (int i = 0; i < n->g->n; i++) {
        IrId m = n->g->member[i];
        const IrValue *v = &p->v[m];
        LLVMValueRef x[2] = { NULL, NULL };
        for (int k = 0; k < ir_op_arity(v->op); k++) {
            IrId u = v->in[k];
            x[k] = n->val[u] ? n->val[u] : cg->scalar[u];
        }
        n->val[m] = emit_elem(cg, v, x[0], x[1]);
    }
    for (int s = 0; s < n->f.ns; s++)
        if (n->f.st[s].store)
            LLVMBuildStore(cg->b, n->val[n->f.st[s].value], element(cg, n->base[s], off[s]));
}

/* Loop `level` and everything inside it; off are the streams' offsets so far. */
static void loop(Cg *cg, Nest *n, int level, LLVMValueRef *off)
{
    if (level == n->f.nd) {
        body(cg, n, off);
        return;
    }
    LLVMBuilderRef B = cg->b;
    LLVMValueRef ext = level == 0 ? n->ext0 : cg_i64(cg, n->f.ext[level]); /* only dim 0 is batched */
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(B);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "loop");
    LLVMBasicBlockRef inner = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "body");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "done");
    LLVMBuildBr(B, head);
    LLVMPositionBuilderAtEnd(B, head);
    LLVMValueRef i = LLVMBuildPhi(B, cg->i64, "i");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, i, ext, ""), inner, done);
    LLVMPositionBuilderAtEnd(B, inner);
    LLVMValueRef *next = calloc((size_t)n->f.ns + 1, sizeof *next);
    for (int s = 0; s < n->f.ns; s++) {
        int64_t st = n->f.st[s].stride[level];
        next[s] = st == 0 ? off[s] : LLVMBuildNSWAdd(B, off[s], st == 1 ? i : LLVMBuildNSWMul(B, i, cg_i64(cg, st), ""), "");
    }
    loop(cg, n, level + 1, next);
    free(next);
    LLVMValueRef inc = LLVMBuildNSWAdd(B, i, cg_i64(cg, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(B);
    LLVMBuildBr(B, head);
    LLVMValueRef in_v[2] = { cg_i64(cg, 0), inc };
    LLVMBasicBlockRef in_b[2] = { pre, latch };
    LLVMAddIncoming(i, in_v, in_b, 2);
    LLVMMoveBasicBlockAfter(done, LLVMGetLastBasicBlock(cg->fn)); /* reads in order when printed */
    LLVMPositionBuilderAtEnd(B, done);
}

/* ---- outlining --------------------------------------------------------
 *
 * Each nest becomes a private function of the module, called with the batch
 * size, one pointer per stream and the run-time scalars (1/B, the step size);
 * constants are compiled in.  Nests of the same structure share one function:
 * the steps of a repeat block give the same nests over and over, and LLVM's
 * O3 is superlinear in the size of a function (a 512-step ODE net took 100 s
 * to compile with its loops inline in exa_loss_grad).  The stream pointers
 * are noalias: the plan (fuse.h) gives values whose lifetimes meet disjoint
 * buffers, and a nest only reads the values it does not write. */

struct CgLoop {
    int64_t *key;
    int len;
    uint64_t hash;
    LLVMValueRef fn;
    LLVMValueRef task; /* its task function for the pool, or NULL (not splittable) */
    int calls;
};

typedef struct Key {
    int64_t *w;
    int len, cap;
} Key;

static void put(Key *k, int64_t x)
{
    if (k->len == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->w = realloc(k->w, (size_t)k->cap * sizeof *k->w);
        if (!k->w)
            abort();
    }
    k->w[k->len++] = x;
}

static uint64_t hash_key(const Key *k)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a over the words */
    for (int i = 0; i < k->len; i++) {
        h ^= (uint64_t)k->w[i];
        h *= 1099511628211u;
    }
    return h;
}

/* A member's local index in its group, or -1. */
static int member_index(const FuseGroup *g, IrId u)
{
    for (int i = 0; i < g->n; i++)
        if (g->member[i] == u)
            return i;
    return -1;
}

static int stream_index(const Nest *n, IrId u, int store)
{
    for (int s = 0; s < n->f.ns; s++)
        if (n->f.st[s].value == u && n->f.st[s].store == store)
            return s;
    return -1;
}

/* Everything the generated function depends on: the nest's extents and
 * strides, the ops, where each operand comes from, and the constants.  The
 * run-time scalars are listed in rt (their ids), in first-use order. */
static void nest_key(Cg *cg, const Nest *n, Key *k, IrId *rt, int *nrt)
{
    const FusePlan *p = cg->p;
    put(k, n->f.nd);
    for (int d = 0; d < n->f.nd; d++)
        put(k, n->f.ext[d]), put(k, n->f.batch[d]);
    put(k, n->f.ns);
    for (int s = 0; s < n->f.ns; s++) {
        put(k, n->f.st[s].store ? 1 + member_index(n->g, n->f.st[s].value) : 0);
        for (int d = 0; d < n->f.nd; d++)
            put(k, n->f.st[s].stride[d]);
    }
    put(k, n->g->n);
    for (int i = 0; i < n->g->n; i++) {
        const IrValue *v = &p->v[n->g->member[i]];
        put(k, v->op);
        for (int a = 0; a < ir_op_arity(v->op); a++) {
            IrId u = v->in[a];
            int m = member_index(n->g, u), s = m >= 0 && m < i ? -1 : stream_index(n, u, 0);
            if (m >= 0 && m < i) {
                put(k, 1), put(k, m);
            } else if (s >= 0) {
                put(k, 2), put(k, s);
            } else if (LLVMIsAConstantFP(cg_scalar(cg, u))) {
                LLVMBool lost;
                double c = LLVMConstRealGetDouble(cg->scalar[u], &lost);
                int64_t bits;
                memcpy(&bits, &c, sizeof bits);
                put(k, 3), put(k, bits);
            } else {
                int r = 0;
                while (r < *nrt && rt[r] != u)
                    r++;
                if (r == *nrt)
                    rt[(*nrt)++] = u;
                put(k, 4), put(k, r);
            }
        }
    }
}

/* The nest as a function of (n0, stream pointers, run-time scalars), n0 the
 * iterations of dim 0: a caller may run any contiguous part of dim 0 by
 * passing its length and the pointers moved to its start. */
static LLVMValueRef build_nest_function(Cg *cg, Nest *n, const IrId *rt, int nrt)
{
    LLVMBuilderRef B = cg->b;
    int np = 1 + n->f.ns + nrt;
    LLVMTypeRef *pt = calloc((size_t)np, sizeof *pt);
    pt[0] = cg->i64;
    for (int s = 0; s < n->f.ns; s++)
        pt[1 + s] = cg->realp;
    for (int r = 0; r < nrt; r++)
        pt[1 + n->f.ns + r] = cg->real;
    char name[32];
    snprintf(name, sizeof name, "exa_loop.%d", cg->nloops);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->vd, pt, (unsigned)np, 0));
    free(pt);
    LLVMSetLinkage(fn, LLVMPrivateLinkage);
    cg_host_attributes(cg, fn);
    /* 512-bit vectors where the CPU has them and the innermost loop is long
     * (LLVM picks 256 bits on AVX-512 CPUs unless told): one thread, 5
     * alternating pairs, the PINNs b and i +7% (median; all 10 pairs
     * faster), the GRU g +3-4%, LeNet e even, but the ODE net c -2 to -6%,
     * and exac +20% (allen_cahn 0.33 -> 0.40 s; docs/results/throughput.md,
     * session 11).  Not below 32 elements: an 8- or 5-wide row fills no
     * 16-lane vector (nor a nest of no dims, one element). */
    int nd = n->f.nd;
    int64_t inner = nd == 0 ? 1 : n->f.batch[nd - 1] ? INT64_MAX : n->f.ext[nd - 1];
    if (inner >= 32 && strstr(cg->features, "+avx512f"))
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                LLVMCreateStringAttribute(cg->ctx, "prefer-vector-width", 19, "512", 3));
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (int s = 0; s < n->f.ns; s++)
        LLVMAddAttributeAtIndex(fn, (unsigned)(2 + s), LLVMCreateEnumAttribute(cg->ctx, noalias, 0));

    /* build it with the caller's state swapped out */
    LLVMBasicBlockRef caller_block = LLVMGetInsertBlock(B);
    LLVMValueRef caller_fn = cg->fn;
    LLVMValueRef *saved = calloc((size_t)nrt + 1, sizeof *saved);
    cg->fn = fn;
    n->ext0 = LLVMGetParam(fn, 0);
    LLVMSetValueName2(n->ext0, "n0", 2);
    for (int s = 0; s < n->f.ns; s++)
        n->base[s] = LLVMGetParam(fn, (unsigned)(1 + s));
    for (int r = 0; r < nrt; r++) {
        saved[r] = cg->scalar[rt[r]];
        cg->scalar[rt[r]] = LLVMGetParam(fn, (unsigned)(1 + n->f.ns + r));
    }
    LLVMPositionBuilderAtEnd(B, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMValueRef *off = calloc((size_t)n->f.ns + 1, sizeof *off);
    for (int s = 0; s < n->f.ns; s++)
        off[s] = cg_i64(cg, 0);
    loop(cg, n, 0, off);
    LLVMBuildRetVoid(B);
    free(off);
    for (int r = 0; r < nrt; r++)
        cg->scalar[rt[r]] = saved[r];
    free(saved);
    cg->fn = caller_fn;
    LLVMPositionBuilderAtEnd(B, caller_block);
    return fn;
}

/* ---- splitting a nest over threads ------------------------------------
 *
 * A nest whose every stored stream moves along dim 0 (so that two parts of
 * dim 0 write disjoint memory) can run as tasks of libexa's pool
 * (exa/parallel.h): the caller fills a frame {n0, per, pointers, scalars}
 * and calls exa_parallel_for with the nest's task function, which runs the
 * iterations [t*per, min((t+1)*per, n0)) of dim 0.  Each element is computed
 * by the same code whatever the split, so the results do not depend on
 * --threads.  exa_parallel_chunk (the runtime's policy) says how many
 * iterations a task gets, or n0 when the loop is too small to share. */

static int splittable(const Nest *n)
{
    if (n->f.nd == 0)
        return 0;
    for (int s = 0; s < n->f.ns; s++)
        if (n->f.st[s].store && n->f.st[s].stride[0] == 0)
            return 0;
    return 1;
}

static LLVMTypeRef frame_type(Cg *cg, int ns, int nrt)
{
    LLVMTypeRef *ft = calloc((size_t)(2 + ns + nrt), sizeof *ft);
    if (!ft)
        abort();
    ft[0] = ft[1] = cg->i64;
    for (int s = 0; s < ns; s++)
        ft[2 + s] = cg->realp;
    for (int r = 0; r < nrt; r++)
        ft[2 + ns + r] = cg->real;
    LLVMTypeRef t = LLVMStructTypeInContext(cg->ctx, ft, (unsigned)(2 + ns + nrt), 0);
    free(ft);
    return t;
}

/* void task(i8 *frame, i64 t, i32 worker) */
static LLVMValueRef build_task_function(Cg *cg, const Nest *n, LLVMValueRef nest, int nrt)
{
    LLVMBuilderRef B = cg->b;
    int ns = n->f.ns;
    LLVMTypeRef pt[3] = { cg->i8p, cg->i64, cg->i32 };
    char name[40];
    snprintf(name, sizeof name, "exa_loop.%d.task", cg->nloops);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->vd, pt, 3, 0));
    LLVMSetLinkage(fn, LLVMPrivateLinkage);
    cg_host_attributes(cg, fn);
    LLVMBasicBlockRef caller_block = LLVMGetInsertBlock(B);
    LLVMPositionBuilderAtEnd(B, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
    LLVMTypeRef ft = frame_type(cg, ns, nrt);
    LLVMValueRef frame = LLVMBuildBitCast(B, LLVMGetParam(fn, 0), LLVMPointerType(ft, 0), "");
    LLVMValueRef n0 = LLVMBuildLoad2(B, cg->i64, LLVMBuildStructGEP2(B, ft, frame, 0, ""), "n0");
    LLVMValueRef per = LLVMBuildLoad2(B, cg->i64, LLVMBuildStructGEP2(B, ft, frame, 1, ""), "per");
    LLVMValueRef lo = LLVMBuildNSWMul(B, LLVMGetParam(fn, 1), per, "lo");
    LLVMValueRef rest = LLVMBuildNSWSub(B, n0, lo, "");
    LLVMValueRef cnt = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, rest, per, ""), rest, per, "");
    int nargs = 1 + ns + nrt;
    LLVMValueRef *args = calloc((size_t)nargs, sizeof *args);
    if (!args)
        abort();
    args[0] = cnt;
    for (int s = 0; s < ns; s++) {
        LLVMValueRef p = LLVMBuildLoad2(B, cg->realp, LLVMBuildStructGEP2(B, ft, frame, (unsigned)(2 + s), ""), "");
        LLVMValueRef off = LLVMBuildNSWMul(B, lo, cg_i64(cg, n->f.st[s].stride[0]), "");
        args[1 + s] = LLVMBuildInBoundsGEP2(B, cg->real, p, &off, 1, "");
    }
    for (int r = 0; r < nrt; r++)
        args[1 + ns + r] = LLVMBuildLoad2(B, cg->real, LLVMBuildStructGEP2(B, ft, frame, (unsigned)(2 + ns + r), ""), "");
    LLVMBuildCall2(B, LLVMGlobalGetValueType(nest), nest, args, (unsigned)nargs, "");
    LLVMBuildRetVoid(B);
    free(args);
    LLVMPositionBuilderAtEnd(B, caller_block);
    return fn;
}

static struct CgLoop *nest_function(Cg *cg, Nest *n, const Key *k, const IrId *rt, int nrt)
{
    uint64_t h = hash_key(k);
    for (int i = 0; i < cg->nloops; i++) {
        struct CgLoop *l = &cg->loops[i];
        if (l->hash == h && l->len == k->len && memcmp(l->key, k->w, (size_t)k->len * sizeof *k->w) == 0) {
            l->calls++;
            return l;
        }
    }
    if (cg->nloops == cg->caploops) {
        cg->caploops = cg->caploops ? 2 * cg->caploops : 16;
        cg->loops = realloc(cg->loops, (size_t)cg->caploops * sizeof *cg->loops);
        if (!cg->loops)
            abort();
    }
    LLVMValueRef fn = build_nest_function(cg, n, rt, nrt);
    LLVMValueRef task = splittable(n) ? build_task_function(cg, n, fn, nrt) : NULL;
    struct CgLoop *l = &cg->loops[cg->nloops++];
    *l = (struct CgLoop){ .key = malloc((size_t)k->len * sizeof *k->w), .len = k->len, .hash = h, .fn = fn,
                          .task = task, .calls = 1 };
    if (!l->key)
        abort();
    memcpy(l->key, k->w, (size_t)k->len * sizeof *k->w);
    return l;
}

/* A frame of type ft in the entry block of the function being built. */
static LLVMValueRef entry_alloca(Cg *cg, LLVMTypeRef ft)
{
    LLVMBuilderRef tmp = LLVMCreateBuilderInContext(cg->ctx);
    LLVMValueRef first = LLVMGetFirstInstruction(cg->entry);
    if (first)
        LLVMPositionBuilderBefore(tmp, first);
    else
        LLVMPositionBuilderAtEnd(tmp, cg->entry);
    LLVMValueRef a = LLVMBuildAlloca(tmp, ft, "frame");
    LLVMDisposeBuilder(tmp);
    return a;
}

/* Rough element operations of a member: the inline exp and what is built on
 * it, and libm's calls, are a polynomial or a call each. */
static int64_t op_cost(IrOp op)
{
    switch (op) {
    case IR_EXP: case IR_TANH: case IR_SIGMOID: case IR_SOFTPLUS: case IR_LOG: case IR_SIN:
    case IR_COS: case IR_POW:
        return 20;
    case IR_BROADCAST:
        return 0;
    default:
        return 1;
    }
}

/* The frame {n0, per, pointers, scalars} filled once; then
 * if ((per = exa_parallel_chunk(n0, work)) < n0) the pool runs the task
 * function over it, else this thread calls the task function once (task 0:
 * the whole of dim 0).  One set of stores serves both paths: a second,
 * direct call of the nest repeated its whole argument list at every call
 * site (58 pointers for the largest nest of allen_cahn.exa), which the back
 * end then compiled, in optnone code, for every nest of every function. */
static void call_split(Cg *cg, const Nest *n, const struct CgLoop *l, LLVMValueRef *args, int nargs, int nrt)
{
    LLVMBuilderRef B = cg->b;
    int64_t work = n->f.ns; /* element operations per iteration of dim 0: a load or store a stream */
    for (int i = 0; i < n->g->n; i++)
        work += op_cost(cg->p->v[n->g->member[i]].op);
    for (int d = 1; d < n->f.nd; d++)
        work *= n->f.ext[d];
    LLVMValueRef cargs[2] = { args[0], cg_i64(cg, work) };
    LLVMValueRef per = cg_call(cg, "exa_parallel_chunk", cg->i64, cargs, 2);
    LLVMTypeRef ft = frame_type(cg, n->f.ns, nrt);
    LLVMValueRef frame = entry_alloca(cg, ft);
    LLVMBuildStore(B, args[0], LLVMBuildStructGEP2(B, ft, frame, 0, ""));
    LLVMBuildStore(B, per, LLVMBuildStructGEP2(B, ft, frame, 1, ""));
    for (int i = 1; i < nargs; i++)
        LLVMBuildStore(B, args[i], LLVMBuildStructGEP2(B, ft, frame, (unsigned)(1 + i), ""));
    LLVMValueRef fp = LLVMBuildBitCast(B, frame, cg->i8p, "");
    LLVMBasicBlockRef par = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "split");
    LLVMBasicBlockRef one = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "whole");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "joined");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, per, args[0], ""), par, one);

    LLVMPositionBuilderAtEnd(B, par);
    LLVMValueRef tasks = LLVMBuildSDiv(B, LLVMBuildNSWAdd(B, args[0], LLVMBuildNSWSub(B, per, cg_i64(cg, 1), ""), ""),
                                       per, "tasks");
    LLVMValueRef pargs[3] = { tasks, LLVMBuildBitCast(B, l->task, cg->i8p, ""), fp };
    cg_call(cg, "exa_parallel_for", cg->vd, pargs, 3);
    LLVMBuildBr(B, done);

    LLVMPositionBuilderAtEnd(B, one);
    LLVMValueRef targs[3] = { fp, cg_i64(cg, 0), LLVMConstInt(cg->i32, 0, 0) };
    LLVMBuildCall2(B, LLVMGlobalGetValueType(l->task), l->task, targs, 3, "");
    LLVMBuildBr(B, done);
    LLVMPositionBuilderAtEnd(B, done);
}

void cg_emit_loop(Cg *cg, const FuseGroup *g)
{
    Nest n = { .g = g, .val = cg->val };
    if (fuse_nest(cg->p, g, &n.f) != 0)
        abort();
    n.base = calloc((size_t)n.f.ns + 1, sizeof *n.base);
    if (!n.base)
        abort();
    for (int s = 0; s < n.f.ns; s++)
        n.base[s] = n.f.st[s].place ? cg_place_ptr(cg, n.f.st[s].value, n.f.st[s].place) : cg_ptr(cg, n.f.st[s].value);

    Key k = {0};
    IrId *rt = calloc(2 * (size_t)g->n + 1, sizeof *rt);
    int nrt = 0;
    nest_key(cg, &n, &k, rt, &nrt);
    int nargs = 1 + n.f.ns + nrt;
    LLVMValueRef *args = calloc((size_t)nargs, sizeof *args);
    LLVMValueRef ext0 = n.f.nd == 0 ? cg_i64(cg, 1) : cg_i64(cg, n.f.ext[0]);
    if (n.f.nd > 0 && n.f.batch[0])
        ext0 = n.f.ext[0] == 1 ? cg->batch : LLVMBuildNSWMul(cg->b, cg->batch, ext0, "");
    args[0] = ext0;
    for (int s = 0; s < n.f.ns; s++)
        args[1 + s] = n.base[s];
    for (int r = 0; r < nrt; r++)
        args[1 + n.f.ns + r] = cg->scalar[rt[r]];
    struct CgLoop *l = nest_function(cg, &n, &k, rt, nrt);
    if (l->task)
        call_split(cg, &n, l, args, nargs, nrt);
    else
        LLVMBuildCall2(cg->b, LLVMGlobalGetValueType(l->fn), l->fn, args, (unsigned)nargs, "");
    for (int i = 0; i < g->n; i++) /* cg->val is all NULL between nests */
        cg->val[g->member[i]] = NULL;
    for (int s = 0; s < n.f.ns; s++)
        cg->val[n.f.st[s].value] = NULL;
    free(args);
    free(rt);
    free(k.w);
    free(n.base);
    fuse_nest_free(&n.f);
}

/* Nests called from more than one place stay functions: inlined back, they
 * would make the big function the outlining avoids.  So does a nest with a
 * task function, which calls it too: the inliner copied such a nest into its
 * task, so that O3, the vectoriser and the back end built every splittable
 * nest twice (allen_cahn.exa: 1.0 s of exac's CPU instead of 0.5 s); the
 * task's call per part of the loop costs nothing against the part's work.
 * A nest called once and never split is left to the inliner (its caller is
 * optnone, so it stays a function).  Frees the table. */
void cg_finish_loops(Cg *cg)
{
    unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
    for (int i = 0; i < cg->nloops; i++) {
        if (cg->loops[i].calls > 1 || cg->loops[i].task)
            LLVMAddAttributeAtIndex(cg->loops[i].fn, LLVMAttributeFunctionIndex,
                                    LLVMCreateEnumAttribute(cg->ctx, noinline, 0));
        free(cg->loops[i].key);
    }
    free(cg->loops);
    cg->loops = NULL;
    cg->nloops = cg->caploops = 0;
}
