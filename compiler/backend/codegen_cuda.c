/* codegen_cuda.c - fusion plans to CUDA C kernels and a launch table
 * (codegen_cuda.h); the GPU twin of codegen_llvm.c, walking the same plan in
 * the same order.
 *
 * Where the CPU back end emits a host function, this file emits two texts:
 * the kernels (CUDA C for NVRTC) and the launch table (the host side, as
 * data).  A plan's steps become:
 *   loop     one kernel over the group's iteration space, B*n threads in a
 *            grid-stride loop; the broadcast is in per-stream strides and
 *            adjacent dims every stream walks contiguously are merged (the
 *            plan's fuse_nest, as on the CPU), so most loops index with no
 *            division at all;
 *   kernel   a kernel specialised to the value (shapes and strides are
 *            literals), or cuBLAS GEMM lines for MATMUL/OUTER (fuse_gemm's
 *            form, the one the CPU calls exa_k_gemm with), or for
 *            convolutions a per-sample repeat of im2col/col2im and a GEMM
 *            (the plan gives one sample's im2col scratch, as on the CPU);
 *   store    a fill kernel.
 *   sum      batch_mean's ALLREDUCE: a copy kernel, then a `sum` line the
 *            executor runs on the host (the ranks' sum, exa_batch_sum).
 * Outputs are copied (exa_cuda_copy) right after the step that writes them
 * (fuse_output_steps, as on the CPU), so their buffers are free for reuse.
 *
 * Kernels that accumulate on the CPU (col2im, maxpool's gradient, REDUCE_TO)
 * gather here instead: one thread owns each result element and adds its
 * contributions in the CPU's order, so there are no atomics and the sums
 * round the same way run after run.  The elementwise semantics are
 * ir_eval.c's (relu, step and sign by comparisons, softplus above 30 is x,
 * small integer powers as products). */
#include "codegen_cuda.h"
#include "diag.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- growing strings --------------------------------------------------- */

typedef struct Str {
    char *s;
    size_t n, cap;
    int oom;
} Str;

static void put(Str *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0 || b->oom)
            return;
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->n + (size_t)k)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}


/* ---- the state of one function ----------------------------------------- */

/* Where a pointer argument points, as the launch table spells it. */
typedef struct Ref {
    char kind;        /* w workspace, t theta, i input, o output */
    int64_t x, y;     /* w: at_a, at_c; t: 0, offset; i: k, 0; o: slot, offset */
} Ref;

typedef struct Arg {
    const char *type; /* its C type in the kernel */
    Ref ref;
    int64_t per;      /* elements further on per repeat iteration */
} Arg;

typedef struct Gen {
    Str src, fn;       /* the kernels; the current function's table lines */
    int nlines;        /* lines in fn */
    CgPrecision prec;
    const FusePlan *p;
    const IrParam *params;
    int nparams;
    const char *name;
    int step;
    const char *bad;   /* set when a value has no place: an internal error */
} Gen;

/* The C math function f for this precision: f32 calls the float versions
 * (expf, ...), which the double ones would be slow beside on a GPU and which
 * round as the CPU's <tgmath.h> calls do. */
static const char *math(const Gen *g, const char *f)
{
    static const char *const names[][2] = {
        { "exp", "expf" }, { "log", "logf" }, { "log1p", "log1pf" }, { "tanh", "tanhf" },
        { "sin", "sinf" }, { "cos", "cosf" }, { "sqrt", "sqrtf" }, { "fabs", "fabsf" }, { "pow", "powf" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i][0], f) == 0)
            return names[i][g->prec == CG_F64 ? 0 : 1];
    return f;
}

/* A real literal. */
static const char *lit(char *buf, size_t len, double c)
{
    if (isnan(c))
        snprintf(buf, len, "EXA_NAN");
    else if (isinf(c))
        snprintf(buf, len, c > 0 ? "EXA_INF" : "(-EXA_INF)");
    else
        snprintf(buf, len, "((real)%.17g)", c);
    return buf;
}

/* The memory of value id (views, aliases, buffers). */
static Ref ref(Gen *g, IrId id)
{
    const FusePlan *p = g->p;
    IrId root = p->info[id].root;
    const IrValue *v = &p->v[root];
    const FuseInfo *fi = &p->info[root];
    if (fi->kind == FUSE_VIEW && v->op == IR_PARAM) {
        if (v->iarg[0] < 0 || v->iarg[0] >= g->nparams) {
            g->bad = "a value names a parameter that does not exist";
            return (Ref){ 't', 0, 0 };
        }
        return (Ref){ 't', 0, g->params[v->iarg[0]].offset };
    }
    if (fi->kind == FUSE_VIEW)
        return (Ref){ 'i', v->iarg[0], 0 };
    if (fi->buffer < 0) {
        g->bad = "a value read from memory has no buffer";
        return (Ref){ 'w', 0, 0 };
    }
    const FuseBuffer *b = &p->buf[fi->buffer];
    return (Ref){ 'w', b->at_a, b->at_c };
}

static Ref scratch_ref(Gen *g, int buffer)
{
    const FuseBuffer *b = &g->p->buf[buffer];
    return (Ref){ 'w', b->at_a, b->at_c };
}

static void put_ref(Str *s, const Arg *a)
{
    put(s, " %c:%lld:%lld:%lld", a->ref.kind, (long long)a->ref.x, (long long)a->ref.y, (long long)a->per);
}

static Arg in(Gen *g, IrId id) { return (Arg){ "const real *", ref(g, id), 0 }; }
static Arg out(Gen *g, IrId id) { return (Arg){ "real *", ref(g, id), 0 }; }

/* A kernel's header and grid-stride loop; the body follows, then end(). */
static void begin(Gen *g, const char *kname, const Arg *args, int nargs)
{
    put(&g->src, "\nextern \"C\" __global__ void %s(long long n, long long B, double h", kname);
    for (int i = 0; i < nargs; i++)
        put(&g->src, ", %sp%d", args[i].type, i);
    put(&g->src, ")\n{\n    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;\n"
                 "         i += (long long)blockDim.x * gridDim.x) {\n");
}

static void end(Gen *g)
{
    put(&g->src, "    }\n}\n");
}

/* n = a*B + b work items */
static void launch(Gen *g, const char *kname, int64_t a, int64_t b, const Arg *args, int nargs)
{
    put(&g->fn, "launch %s %lld %lld %d", kname, (long long)a, (long long)b, nargs);
    for (int i = 0; i < nargs; i++)
        put_ref(&g->fn, &args[i]);
    put(&g->fn, "\n");
    g->nlines++;
}

/* count (ca*B + cb) GEMMs, exa_k_gemm's arguments; sizes as a*B + b */
typedef struct Gemm {
    int64_t count[2], m[2], n[2], k[2];
    int ta, tb;
    Arg a, b, c;
    int64_t lda, sa, ldb, sb, ldc, sc;
    double beta;
} Gemm;

static void gemm(Gen *g, const Gemm *m)
{
    put(&g->fn, "gemm %lld %lld %d %d %lld %lld %lld %lld %lld %lld", (long long)m->count[0],
        (long long)m->count[1], m->ta, m->tb, (long long)m->m[0], (long long)m->m[1], (long long)m->n[0],
        (long long)m->n[1], (long long)m->k[0], (long long)m->k[1]);
    put_ref(&g->fn, &m->a);
    put(&g->fn, " %lld %lld", (long long)m->lda, (long long)m->sa);
    put_ref(&g->fn, &m->b);
    put(&g->fn, " %lld %lld %.17g", (long long)m->ldb, (long long)m->sb, m->beta);
    put_ref(&g->fn, &m->c);
    put(&g->fn, " %lld %lld\n", (long long)m->ldc, (long long)m->sc);
    g->nlines++;
}

static void repeat(Gen *g, int64_t a, int64_t b, int nsteps)
{
    put(&g->fn, "repeat %lld %lld %d\n", (long long)a, (long long)b, nsteps);
    g->nlines++;
}

static char *kernel_name(Gen *g, char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "%s_s%d%s", g->name, g->step, suffix);
    return buf;
}

/* ---- scalars and elementwise ops --------------------------------------- */

static void scalar(Gen *g, IrId id, char *buf, size_t len)
{
    const IrValue *v = &g->p->v[id];
    if (v->op == IR_INV_BATCH)
        snprintf(buf, len, "((real)1 / (real)B)");
    else if (v->op == IR_STEP_SIZE)
        snprintf(buf, len, "((real)h)");
    else
        lit(buf, len, v->c);
}

/* The operand k of v in the loop body: a register vN or a scalar. */
static void operand(Gen *g, const IrValue *v, int k, char *buf, size_t len)
{
    IrId u = v->in[k];
    if (g->p->info[u].kind == FUSE_SCALAR)
        scalar(g, u, buf, len);
    else
        snprintf(buf, len, "v%d", u);
}

/* real vID = op(a, b); the semantics are ir_eval.c's */
static void elem(Gen *g, IrId id)
{
    const IrValue *v = &g->p->v[id];
    char a[64] = "", b[64] = "";
    operand(g, v, 0, a, sizeof a);
    if (ir_op_arity(v->op) > 1)
        operand(g, v, 1, b, sizeof b);
    Str *s = &g->src;
    put(s, "        real v%d = ", id);
    switch (v->op) {
    case IR_ADD: put(s, "%s + %s", a, b); break;
    case IR_SUB: put(s, "%s - %s", a, b); break;
    case IR_MUL: put(s, "%s * %s", a, b); break;
    case IR_DIV: put(s, "%s / %s", a, b); break;
    case IR_POW: {
        const IrValue *bv = &g->p->v[v->in[1]];
        if (bv->op == IR_CONST && bv->c == (int)bv->c && bv->c >= -4 && bv->c <= 4 && bv->c != 0) {
            int k = (int)bv->c, m = k < 0 ? -k : k; /* x^2, x^3 of losses and PINN terms */
            put(s, "%s(", k < 0 ? "(real)1 / " : "");
            for (int i = 0; i < m; i++)
                put(s, "%s%s", i ? " * " : "", a);
            put(s, ")");
        } else {
            put(s, "%s(%s, %s)", math(g, "pow"), a, b);
        }
        break;
    }
    case IR_MAXIMUM: put(s, "%s > %s ? %s : %s", a, b, a, b); break;
    case IR_NEG: put(s, "-%s", a); break;
    case IR_TANH: put(s, "%s(%s)", math(g, "tanh"), a); break;
    case IR_SIGMOID: put(s, "(real)1 / ((real)1 + %s(-%s))", math(g, "exp"), a); break;
    case IR_RELU: put(s, "%s > (real)0 ? %s : (real)0", a, a); break;
    case IR_SOFTPLUS: put(s, "%s > (real)30 ? %s : %s(%s(%s))", a, a, math(g, "log1p"), math(g, "exp"), a); break;
    case IR_EXP: put(s, "%s(%s)", math(g, "exp"), a); break;
    case IR_LOG: put(s, "%s(%s)", math(g, "log"), a); break;
    case IR_SIN: put(s, "%s(%s)", math(g, "sin"), a); break;
    case IR_COS: put(s, "%s(%s)", math(g, "cos"), a); break;
    case IR_SQRT: put(s, "%s(%s)", math(g, "sqrt"), a); break;
    case IR_ABS: put(s, "%s(%s)", math(g, "fabs"), a); break;
    case IR_STEP: put(s, "%s > (real)0 ? (real)1 : (real)0", a); break;
    case IR_SIGN: put(s, "%s > (real)0 ? (real)1 : (real)0 > %s ? (real)-1 : (real)0", a, a); break;
    case IR_BROADCAST: put(s, "%s", a); break; /* the broadcast is in the strides */
    default: g->bad = "an op in a fused loop has no CUDA form"; put(s, "0"); break;
    }
    put(s, ";\n");
}

/* ---- fused loops (as codegen_llvm_loop.c) ------------------------------ */

/* the element offset of stream s at coordinates c0.. */
static void offset(Str *o, const FuseNest *n, const FuseStream *s)
{
    int any = 0;
    for (int d = 0; d < n->nd; d++) {
        if (s->stride[d] == 0)
            continue;
        if (s->stride[d] == 1)
            put(o, "%sc%d", any ? " + " : "", d);
        else
            put(o, "%sc%d * %lldLL", any ? " + " : "", d, (long long)s->stride[d]);
        any = 1;
    }
    if (!any)
        put(o, "0");
}

/* A fused group: the plan's loop nest (fuse_nest), one thread per point. */
static void emit_loop(Gen *g, const FuseGroup *gr)
{
    const FusePlan *p = g->p;
    const IrValue *space = &p->v[gr->last];
    FuseNest n;
    if (fuse_nest(p, gr, &n) != 0) {
        g->src.oom = 1;
        return;
    }
    Arg *args = calloc((size_t)n.ns + 1, sizeof *args);
    if (!args) {
        fuse_nest_free(&n);
        g->src.oom = 1;
        return;
    }
    for (int s = 0; s < n.ns; s++)
        args[s] = n.st[s].store ? out(g, n.st[s].value) : in(g, n.st[s].value);
    char kname[256];
    kernel_name(g, kname, sizeof kname, "");
    int64_t total = fuse_size(space);
    launch(g, kname, space->batched ? total : 0, space->batched ? 0 : total, args, n.ns);
    /* i -> coordinates c0 (outermost, never reduced: it may hold the batch) .. */
    begin(g, kname, args, n.ns);
    if (n.nd == 1)
        put(&g->src, "        long long c0 = i;\n");
    else if (n.nd > 1)
        put(&g->src, "        long long r = i;\n");
    for (int d = n.nd - 1; d >= 1; d--)
        put(&g->src, "        long long c%d = r %% %lldLL; r /= %lldLL;\n", d, (long long)n.ext[d],
            (long long)n.ext[d]);
    if (n.nd > 1)
        put(&g->src, "        long long c0 = r;\n");
    for (int s = 0; s < n.ns; s++)
        if (!n.st[s].store) {
            put(&g->src, "        real v%d = p%d[", n.st[s].value, s);
            offset(&g->src, &n, &n.st[s]);
            put(&g->src, "];\n");
        }
    for (int i = 0; i < gr->n; i++)
        elem(g, gr->member[i]);
    for (int s = 0; s < n.ns; s++)
        if (n.st[s].store) {
            put(&g->src, "        p%d[", s);
            offset(&g->src, &n, &n.st[s]);
            put(&g->src, "] = v%d;\n", n.st[s].value);
        }
    end(g);
    free(args);
    fuse_nest_free(&n);
}

/* ---- matrix products ----------------------------------------------------- */

/* MATMUL and OUTER: the GEMM the plan gives (fuse_gemm), as a cuBLAS line */
static void emit_gemm(Gen *g, IrId id)
{
    FuseGemm f = fuse_gemm(g->p, id);
    Gemm m = { .ta = f.ta, .tb = f.tb, .a = in(g, f.a), .lda = f.lda, .sa = f.sa, .b = in(g, f.b), .ldb = f.ldb,
               .sb = f.sb, .c = out(g, f.c), .ldc = f.ldc, .sc = f.sc };
    memcpy(m.count, f.count, sizeof m.count);
    memcpy(m.m, f.m, sizeof m.m);
    memcpy(m.n, f.n, sizeof m.n);
    memcpy(m.k, f.k, sizeof m.k);
    gemm(g, &m);
}

/* ---- the other kernels ------------------------------------------------- */

static int64_t prod(const IrShape *s, int from, int to)
{
    int64_t n = 1;
    for (int d = from; d < to; d++)
        n *= s->dim[d];
    return n;
}

/* count of problems as a*B + b: B for a batched value, 1 for a uniform one */
#define COUNT(v) (v)->batched ? 1 : 0, (v)->batched ? 0 : 1

/* SUM / MEAN / MAX: y [outer, inner] over x [outer, len, inner] */
static void emit_reduce(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]];
    int axis = v->iarg[0], op = v->op == IR_SUM ? 0 : v->op == IR_MEAN ? 1 : 2;
    int64_t outer = axis < 0 ? 1 : prod(&a->shape, 0, axis);
    int64_t len = axis < 0 ? fuse_size(a) : a->shape.dim[axis];
    int64_t inner = axis < 0 ? 1 : prod(&a->shape, axis + 1, a->shape.rank);
    Arg args[] = { in(g, v->in[0]), out(g, id) };
    launch(g, kname, a->batched ? outer * inner : 0, a->batched ? 0 : outer * inner, args, 2);
    begin(g, kname, args, 2);
    put(&g->src,
        "        const real *x = p0 + (i / %lldLL) * %lldLL + i %% %lldLL;\n"
        "        real acc = %s;\n"
        "        for (long long k = 0; k < %lldLL; k++) {\n"
        "            real t = x[k * %lldLL];\n"
        "            acc = %s;\n"
        "        }\n",
        (long long)inner, (long long)(len * inner), (long long)inner, op == 2 ? "-EXA_INF" : "(real)0",
        (long long)len, (long long)inner, op == 2 ? "t > acc || acc != acc ? t : acc" : "acc + t");
    if (op == 1)
        put(&g->src, "        acc /= (real)%lldLL;\n", (long long)len);
    put(&g->src, "        p1[i] = acc;\n");
    end(g);
}

/* LOGSUMEXP / SOFTMAX: a thread per row, shifted by the row's maximum */
static void emit_softmax(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]];
    long long len = (long long)fuse_size(a);
    Arg args[] = { in(g, v->in[0]), out(g, id) };
    launch(g, kname, COUNT(v), args, 2);
    begin(g, kname, args, 2);
    put(&g->src,
        "        const real *x = p0 + i * %lldLL;\n"
        "        real mx = -EXA_INF, acc = 0;\n"
        "        for (long long k = 0; k < %lldLL; k++)\n"
        "            mx = x[k] > mx ? x[k] : mx;\n",
        len, len);
    if (v->op == IR_LOGSUMEXP)
        put(&g->src,
            "        for (long long k = 0; k < %lldLL; k++)\n"
            "            acc += %s(x[k] - mx);\n"
            "        p1[i] = mx + %s(acc);\n",
            len, math(g, "exp"), math(g, "log"));
    else
        put(&g->src,
            "        real *y = p1 + i * %lldLL;\n"
            "        for (long long k = 0; k < %lldLL; k++)\n"
            "            acc += y[k] = %s(x[k] - mx);\n"
            "        real inv = (real)1 / acc;\n"
            "        for (long long k = 0; k < %lldLL; k++)\n"
            "            y[k] *= inv;\n",
            len, len, math(g, "exp"), len);
    end(g);
}

/* REDUCE_TO: a thread per element of y sums the elements of x that the
 * broadcast sent from it (the batch and dims where y has 1 or nothing) */
static void emit_reduce_to(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]];
    int64_t ext[FUSE_MAX_DIMS], ys[FUSE_MAX_DIMS], xs[FUSE_MAX_DIMS];
    int nd = 0, isbatch[FUSE_MAX_DIMS] = { 0 };
    int64_t natural[IR_MAX_RANK], acc = 1, xacc = fuse_size(a);
    for (int j = v->shape.rank - 1; j >= 0; j--) {
        natural[j] = acc;
        acc *= v->shape.dim[j];
    }
    if (a->batched) {
        isbatch[nd] = 1;
        ext[nd] = 1;
        xs[nd] = xacc;
        ys[nd++] = v->batched ? acc : 0;
    }
    for (int d = 0; d < a->shape.rank; d++) {
        int j = d - (a->shape.rank - v->shape.rank);
        ext[nd] = a->shape.dim[d];
        xs[nd] = prod(&a->shape, d + 1, a->shape.rank);
        ys[nd++] = j < 0 || v->shape.dim[j] == 1 ? 0 : natural[j];
    }
    Arg args[] = { in(g, v->in[0]), out(g, id) };
    launch(g, kname, v->batched ? acc : 0, v->batched ? 0 : acc, args, 2);
    begin(g, kname, args, 2);
    put(&g->src, "        long long x0 = 0");
    for (int d = 0; d < nd; d++) {
        if (ys[d] == 0)
            continue;
        if (isbatch[d]) /* outermost: no modulo */
            put(&g->src, " + (i / %lldLL) * %lldLL", (long long)ys[d], (long long)xs[d]);
        else
            put(&g->src, " + (i / %lldLL %% %lldLL) * %lldLL", (long long)ys[d], (long long)ext[d], (long long)xs[d]);
    }
    put(&g->src, ";\n        real acc = 0;\n");
    int depth = 0;
    for (int d = 0; d < nd; d++) {
        if (ys[d] != 0)
            continue;
        put(&g->src, "%*sfor (long long k%d = 0; k%d < %s%lldLL; k%d++)\n", 8 + 4 * depth, "", d, d,
            isbatch[d] ? "B * " : "", (long long)ext[d], d);
        depth++;
    }
    put(&g->src, "%*sacc += p0[x0", 8 + 4 * depth, "");
    for (int d = 0; d < nd; d++)
        if (ys[d] == 0)
            put(&g->src, " + k%d * %lldLL", d, (long long)xs[d]);
    put(&g->src, "];\n        p1[i] = acc;\n");
    end(g);
}

static void emit_transpose(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]];
    long long r = (long long)a->shape.dim[0], c = (long long)a->shape.dim[1];
    Arg args[] = { in(g, v->in[0]), out(g, id) };
    launch(g, kname, v->batched ? r * c : 0, v->batched ? 0 : r * c, args, 2);
    begin(g, kname, args, 2); /* y_s [c, r] = x_s [r, c]^T */
    put(&g->src,
        "        long long s = i / %lldLL, q = i %% %lldLL;\n"
        "        p1[i] = p0[s * %lldLL + (q %% %lldLL) * %lldLL + q / %lldLL];\n",
        r * c, r * c, a->batched ? r * c : 0LL, r, c, r);
    end(g);
}

/* SLICE: small_s = big_s[lo : lo + small]; SLICE_GRAD gathers: big_s is the
 * small element where it lies inside the slice, else 0 */
static void emit_slice(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]];
    int grad = v->op == IR_SLICE_GRAD, rank = (grad ? v : a)->shape.rank;
    const IrShape *big = grad ? &v->shape : &a->shape, *small = grad ? &a->shape : &v->shape;
    long long nbig = (long long)ir_shape_size(big), nsmall = (long long)ir_shape_size(small);
    Arg args[] = { in(g, v->in[0]), out(g, id) };
    long long per = grad ? nbig : nsmall;
    launch(g, kname, v->batched ? per : 0, v->batched ? 0 : per, args, 2);
    begin(g, kname, args, 2);
    put(&g->src, "        long long s = i / %lldLL, f = i %% %lldLL, at = 0;\n", per, per);
    if (!grad) {
        int64_t stride = 1;
        put(&g->src, "        long long rem = f;\n");
        for (int d = rank - 1; d >= 0; d--) {
            put(&g->src, "        at += (rem %% %lldLL + %lldLL) * %lldLL; rem /= %lldLL;\n",
                (long long)small->dim[d], (long long)v->slice[d][0], (long long)stride, (long long)small->dim[d]);
            stride *= big->dim[d];
        }
        put(&g->src, "        p1[i] = p0[s * %lldLL + at];\n", nbig);
    } else {
        int64_t stride = 1;
        put(&g->src, "        long long rem = f, c;\n        int inside = 1;\n");
        for (int d = rank - 1; d >= 0; d--) {
            put(&g->src,
                "        c = rem %% %lldLL - %lldLL; rem /= %lldLL;\n"
                "        inside = inside && c >= 0 && c < %lldLL; at += c * %lldLL;\n",
                (long long)big->dim[d], (long long)v->slice[d][0], (long long)big->dim[d],
                (long long)small->dim[d], (long long)stride);
            stride *= small->dim[d];
        }
        /* 0 + x, as the CPU adds into zeros (so -0 becomes +0 there too) */
        put(&g->src, "        p1[i] = inside ? (real)0 + p0[s * %lldLL + at] : (real)0;\n", nsmall);
    }
    end(g);
}

/* SLICE_ADD (fuse.c's FUSE_SLICE_ACCUMULATE, in place: id's memory is its
 * accumulator in[0]'s): big_s[lo : lo + small] += small_s, one thread per
 * element of the small operand.  The slice puts each of them at its own big
 * element, so no two threads add into one place (no atomics), and each sum
 * is the CPU's exa_k_slice_add's, acc + small.  With FuseInfo.put (a SLICE_ADD
 * or the SLICE_GRAD that starts the sum, whose slices tile big) the slice is
 * written alone, 0 + small as exa_k_slice_put writes it. */
static void emit_slice_add(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id];
    int acc = v->op == IR_SLICE_ADD, tile = g->p->info[id].put;
    const IrValue *a = &g->p->v[v->in[acc]];
    if (acc && g->p->info[id].root != g->p->info[v->in[0]].root) {
        g->bad = "a SLICE_ADD not in its accumulator's memory";
        return;
    }
    const IrShape *big = &v->shape, *small = &a->shape;
    long long nbig = (long long)ir_shape_size(big), nsmall = (long long)ir_shape_size(small);
    Arg args[] = { in(g, v->in[acc]), out(g, id) };
    launch(g, kname, v->batched ? nsmall : 0, v->batched ? 0 : nsmall, args, 2);
    begin(g, kname, args, 2);
    put(&g->src, "        long long s = i / %lldLL, rem = i %% %lldLL, at = 0;\n", nsmall, nsmall);
    int64_t stride = 1;
    for (int d = big->rank - 1; d >= 0; d--) {
        put(&g->src, "        at += (rem %% %lldLL + %lldLL) * %lldLL; rem /= %lldLL;\n",
            (long long)small->dim[d], (long long)v->slice[d][0], (long long)stride, (long long)small->dim[d]);
        stride *= big->dim[d];
    }
    if (tile)
        put(&g->src, "        p1[s * %lldLL + at] = (real)0 + p0[i];\n", nbig);
    else
        put(&g->src, "        p1[s * %lldLL + at] = p1[s * %lldLL + at] + p0[i];\n", nbig, nbig);
    end(g);
}

static void emit_concat(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]], *b = &g->p->v[v->in[1]];
    long long na = (long long)fuse_size(a), nb = (long long)fuse_size(b);
    Arg args[] = { in(g, v->in[0]), in(g, v->in[1]), out(g, id) };
    launch(g, kname, v->batched ? na + nb : 0, v->batched ? 0 : na + nb, args, 3);
    begin(g, kname, args, 3);
    put(&g->src,
        "        long long s = i / %lldLL, q = i %% %lldLL;\n"
        "        p2[i] = q < %lldLL ? p0[s * %lldLL + q] : p1[s * %lldLL + q - %lldLL];\n",
        na + nb, na + nb, na, a->batched ? na : 0LL, b->batched ? nb : 0LL, na);
    end(g);
}

/* PICK: y_s = a_s[label_s];  PICK_GRAD: y_s [n] = 0 with g_s at label_s */
static void emit_pick(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]];
    Arg args[] = { in(g, v->in[0]), { "const int *", ref(g, v->in[1]), 0 }, out(g, id) };
    long long sa = a->batched ? (long long)fuse_size(a) : 0;
    if (v->op == IR_PICK) {
        launch(g, kname, 1, 0, args, 3);
        begin(g, kname, args, 3);
        put(&g->src, "        p2[i] = p0[i * %lldLL + p1[i]];\n", sa);
    } else {
        long long n = (long long)fuse_size(v);
        launch(g, kname, n, 0, args, 3);
        begin(g, kname, args, 3);
        put(&g->src, "        long long s = i / %lldLL;\n"
                     "        p2[i] = i %% %lldLL == p1[s] ? p0[s * %lldLL] : (real)0;\n", n, n, sa);
    }
    end(g);
}

/* im2col of one sample: col [c*kk*kk, oh*ow] from x [c, h, w] */
static void im2col(Gen *g, const char *kname, const Arg *args, long long c, long long h, long long w,
                   long long kk, long long stride, long long pad, long long oh, long long ow)
{
    launch(g, kname, 0, c * kk * kk * oh * ow, args, 2);
    begin(g, kname, args, 2);
    put(&g->src,
        "        long long row = i / %lldLL, pos = i %% %lldLL;\n"
        "        long long ci = row / %lldLL, p = row / %lldLL %% %lldLL, q = row %% %lldLL;\n"
        "        long long r = pos / %lldLL * %lldLL + p - %lldLL, t = pos %% %lldLL * %lldLL + q - %lldLL;\n"
        "        p1[i] = r >= 0 && r < %lldLL && t >= 0 && t < %lldLL ? p0[(ci * %lldLL + r) * %lldLL + t] : (real)0;\n",
        oh * ow, oh * ow, kk * kk, kk, kk, kk, ow, stride, pad, ow, stride, pad, h, w, h, w);
    end(g);
}

/* col2im of one sample, gathered: dx [c, h, w] = the col entries that came
 * from each element, added in the CPU's (p, q) order */
static void col2im(Gen *g, const char *kname, const Arg *args, long long c, long long h, long long w,
                   long long kk, long long stride, long long pad, long long oh, long long ow)
{
    launch(g, kname, 0, c * h * w, args, 2);
    begin(g, kname, args, 2);
    put(&g->src,
        "        long long ci = i / %lldLL, r = i / %lldLL %% %lldLL, t = i %% %lldLL;\n"
        "        real acc = 0;\n"
        "        for (long long p = 0; p < %lldLL; p++) {\n"
        "            long long ir = r + %lldLL - p;\n"
        "            if (ir < 0 || ir %% %lldLL != 0 || ir / %lldLL >= %lldLL)\n"
        "                continue;\n"
        "            for (long long q = 0; q < %lldLL; q++) {\n"
        "                long long jt = t + %lldLL - q;\n"
        "                if (jt < 0 || jt %% %lldLL != 0 || jt / %lldLL >= %lldLL)\n"
        "                    continue;\n"
        "                acc += p0[((ci * %lldLL + p) * %lldLL + q) * %lldLL + ir / %lldLL * %lldLL + jt / %lldLL];\n"
        "            }\n"
        "        }\n"
        "        p1[i] = acc;\n",
        h * w, w, h, w, kk, pad, stride, stride, oh, kk, pad, stride, stride, ow, kk, kk, oh * ow, stride, ow,
        stride);
    end(g);
}

/* CONV, CONV_GRAD_X, CONV_GRAD_W: per sample, im2col/col2im and a GEMM in
 * the plan's one-sample scratch (exa_k_conv*'s algorithm) */
static void emit_conv(Gen *g, IrId id)
{
    const FusePlan *p = g->p;
    const IrValue *v = &p->v[id], *a = &p->v[v->in[0]], *b = &p->v[v->in[1]];
    const IrShape *x = v->op == IR_CONV ? &a->shape : v->op == IR_CONV_GRAD_X ? &v->shape : &b->shape;
    const IrShape *wt = v->op == IR_CONV_GRAD_W ? &v->shape : &b->shape;
    long long c = x->dim[0], h = x->dim[1], w = x->dim[2], o = wt->dim[0], kk = wt->dim[2];
    long long stride = v->iarg[0] ? v->iarg[0] : 1, pad = v->iarg[1];
    long long oh = (h + 2 * pad - kk) / stride + 1, ow = (w + 2 * pad - kk) / stride + 1;
    long long ckk = c * kk * kk, np = oh * ow;
    int summed = v->op == IR_CONV_GRAD_W && !v->batched;
    int64_t ca = summed ? (a->batched || b->batched) : v->batched, cb = !ca;
    int64_t sa = a->batched ? fuse_size(a) : 0, sb = b->batched ? fuse_size(b) : 0;
    int64_t sy = v->batched ? fuse_size(v) : 0;
    if (p->info[id].scratch < 0) {
        g->bad = "a convolution has no scratch buffer";
        return;
    }
    Arg col = { "real *", scratch_ref(g, p->info[id].scratch), 0 };
    Arg ccol = { "const real *", col.ref, 0 };
    Arg A = in(g, v->in[0]), Bv = in(g, v->in[1]), Y = out(g, id);
    A.per = sa;
    Bv.per = sb;
    Y.per = sy;
    char k1[256], k2[256];
    Gemm m = { .count = { 0, 1 } };
    if (v->op == IR_CONV) { /* y_s [o, np] = W [o, ckk] @ im2col(x_s) */
        repeat(g, ca, cb, 2);
        Arg args[] = { A, col };
        im2col(g, kernel_name(g, k1, sizeof k1, "_im2col"), args, c, h, w, kk, stride, pad, oh, ow);
        m = (Gemm){ .count = { 0, 1 }, .m = { 0, o }, .n = { 0, np }, .k = { 0, ckk }, .a = Bv, .lda = ckk,
                    .b = ccol, .ldb = np, .c = Y, .ldc = np };
        gemm(g, &m);
    } else if (v->op == IR_CONV_GRAD_X) { /* dx_s = col2im(W^T [ckk, o] @ g_s [o, np]) */
        repeat(g, ca, cb, 2);
        m = (Gemm){ .count = { 0, 1 }, .ta = 1, .m = { 0, ckk }, .n = { 0, np }, .k = { 0, o }, .a = Bv,
                    .lda = ckk, .b = A, .ldb = np, .c = col, .ldc = np };
        gemm(g, &m);
        Arg args[] = { ccol, Y };
        col2im(g, kernel_name(g, k1, sizeof k1, "_col2im"), args, c, h, w, kk, stride, pad, oh, ow);
    } else { /* dW (+)= g_s [o, np] @ im2col(x_s)^T */
        if (summed) { /* cleared once, then every sample adds (also right for B = 0) */
            Arg z[] = { Y };
            kernel_name(g, k2, sizeof k2, "_zero");
            launch(g, k2, 0, o * ckk, z, 1);
            begin(g, k2, z, 1);
            put(&g->src, "        p0[i] = (real)0;\n");
            end(g);
        }
        repeat(g, ca, cb, 2);
        Arg args[] = { Bv, col };
        im2col(g, kernel_name(g, k1, sizeof k1, "_im2col"), args, c, h, w, kk, stride, pad, oh, ow);
        m = (Gemm){ .count = { 0, 1 }, .tb = 1, .m = { 0, o }, .n = { 0, ckk }, .k = { 0, np }, .a = A,
                    .lda = np, .b = ccol, .ldb = np, .beta = summed ? 1 : 0, .c = Y, .ldc = ckk };
        gemm(g, &m);
    }
}

/* MAXPOOL: a thread per output; MAXPOOL_GRAD gathered: a thread per input
 * element adds g of every window whose first maximum it is */
static void emit_maxpool(Gen *g, IrId id, const char *kname)
{
    const IrValue *v = &g->p->v[id], *a = &g->p->v[v->in[0]];
    int grad = v->op == IR_MAXPOOL_GRAD;
    const IrShape *xs = grad ? &v->shape : &a->shape;
    long long c = xs->dim[0], h = xs->dim[1], w = xs->dim[2], win = v->iarg[0], st = v->iarg[1];
    long long oh = (h - win) / st + 1, ow = (w - win) / st + 1;
    long long sa = a->batched ? (long long)fuse_size(a) : 0;
    if (!grad) {
        Arg args[] = { in(g, v->in[0]), out(g, id) };
        long long per = c * oh * ow;
        launch(g, kname, v->batched ? per : 0, v->batched ? 0 : per, args, 2);
        begin(g, kname, args, 2);
        put(&g->src,
            "        long long s = i / %lldLL, ch = i %% %lldLL / %lldLL, ii = i / %lldLL %% %lldLL, jj = i %% %lldLL;\n"
            "        const real *x = p0 + s * %lldLL + (ch * %lldLL + ii * %lldLL) * %lldLL + jj * %lldLL;\n"
            "        real best = x[0];\n"
            "        for (long long p = 0; p < %lldLL; p++)\n"
            "            for (long long q = 0; q < %lldLL; q++)\n"
            "                best = x[p * %lldLL + q] > best ? x[p * %lldLL + q] : best;\n"
            "        p1[i] = best;\n",
            per, per, oh * ow, ow, oh, ow, sa, h, st, w, st, win, win, w, w);
        end(g);
        return;
    }
    const IrValue *b = &g->p->v[v->in[1]];
    long long sb = b->batched ? (long long)fuse_size(b) : 0, per = c * h * w;
    Arg args[] = { in(g, v->in[0]), in(g, v->in[1]), out(g, id) };
    launch(g, kname, v->batched ? per : 0, v->batched ? 0 : per, args, 3);
    begin(g, kname, args, 3);
    put(&g->src,
        "        long long s = i / %lldLL, f = i %% %lldLL, ch = f / %lldLL, r = f / %lldLL %% %lldLL, t = f %% %lldLL;\n"
        "        const real *x = p1 + s * %lldLL;\n"
        "        long long i0 = r >= %lldLL ? (r - %lldLL) / %lldLL + 1 : 0, i1 = r / %lldLL;\n"
        "        long long j0 = t >= %lldLL ? (t - %lldLL) / %lldLL + 1 : 0, j1 = t / %lldLL;\n"
        "        real acc = 0;\n"
        "        for (long long ii = i0; ii <= i1 && ii < %lldLL; ii++)\n"
        "            for (long long jj = j0; jj <= j1 && jj < %lldLL; jj++) {\n"
        "                long long best = (ch * %lldLL + ii * %lldLL) * %lldLL + jj * %lldLL;\n"
        "                for (long long p = 0; p < %lldLL; p++)\n"
        "                    for (long long q = 0; q < %lldLL; q++) {\n"
        "                        long long at = (ch * %lldLL + ii * %lldLL + p) * %lldLL + jj * %lldLL + q;\n"
        "                        if (x[at] > x[best])\n"
        "                            best = at;\n"
        "                    }\n"
        "                if (best == f)\n"
        "                    acc += p0[s * %lldLL + (ch * %lldLL + ii) * %lldLL + jj];\n"
        "            }\n"
        "        p2[i] = acc;\n",
        per, per, h * w, w, h, w, sb, win, win, st, st, win, win, st, st, oh, ow, h, st, w, st, win, win, h, st, w,
        st, sa, oh, ow);
    end(g);
}

static void emit_fill(Gen *g, IrId id, const char *kname, const char *value)
{
    Arg args[] = { out(g, id) };
    launch(g, kname, 0, fuse_size(&g->p->v[id]), args, 1);
    begin(g, kname, args, 1);
    put(&g->src, "        p0[i] = %s;\n", value);
    end(g);
}

static void emit_kernel(Gen *g, IrId id)
{
    const IrValue *v = &g->p->v[id];
    char kname[256], value[128];
    kernel_name(g, kname, sizeof kname, "");
    switch (v->op) {
    case IR_MATMUL: case IR_OUTER: emit_gemm(g, id); return;
    case IR_SUM: case IR_MEAN: case IR_MAX: emit_reduce(g, id, kname); return;
    case IR_LOGSUMEXP: case IR_SOFTMAX: emit_softmax(g, id, kname); return;
    case IR_REDUCE_TO: emit_reduce_to(g, id, kname); return;
    case IR_TRANSPOSE: emit_transpose(g, id, kname); return;
    case IR_SLICE: emit_slice(g, id, kname); return;
    case IR_SLICE_GRAD: (g->p->info[id].put ? emit_slice_add : emit_slice)(g, id, kname); return;
    case IR_SLICE_ADD: emit_slice_add(g, id, kname); return;
    case IR_CONCAT: emit_concat(g, id, kname); return;
    case IR_PICK: case IR_PICK_GRAD: emit_pick(g, id, kname); return;
    case IR_CONV: case IR_CONV_GRAD_X: case IR_CONV_GRAD_W: emit_conv(g, id); return;
    case IR_MAXPOOL: case IR_MAXPOOL_GRAD: emit_maxpool(g, id, kname); return;
    case IR_ALLREDUCE: { /* a copy, then the executor's sum over the ranks (exa_batch_sum) */
        int64_t n = fuse_size(v);
        Arg args[] = { out(g, id), in(g, v->in[0]) };
        launch(g, "exa_cuda_copy", 0, n, args, 2);
        put(&g->fn, "sum %lld %d", (long long)n, v->iarg[0]);
        put_ref(&g->fn, &args[0]);
        put(&g->fn, "\n");
        g->nlines++;
        return;
    }
    case IR_BASIS:
        snprintf(value, sizeof value, "i == %dLL ? (real)1 : (real)0", v->iarg[0]);
        emit_fill(g, id, kname, value);
        return;
    default: g->bad = "a kernel step has no CUDA form"; return;
    }
}

/* ---- functions --------------------------------------------------------- */

static void copy_out(Gen *g, const IrOutput *o)
{
    const IrValue *v = &g->p->v[o->value];
    Arg args[] = { { "real *", { 'o', o->slot, o->offset }, 0 }, in(g, o->value) };
    int64_t n = fuse_size(v);
    launch(g, "exa_cuda_copy", v->batched ? n : 0, v->batched ? 0 : n, args, 2);
}

/* The extents of the function's buffers, for a caller that copies host
 * buffers to the device and back (runtime/gpu/gpu_train.c): how many reals
 * of theta it reads from the pointer it is given, how many bytes of each
 * input (A per sample + C), how far into each output slot it writes
 * (A*B + C reals, one line per output). */
static void emit_extents(Gen *g, Str *table)
{
    const FusePlan *p = g->p;
    int64_t theta_end = 0;
    for (int i = 0; i < p->n; i++) {
        const IrValue *v = &p->v[i];
        if (v->op == IR_PARAM && v->iarg[0] >= 0 && v->iarg[0] < g->nparams) {
            const IrParam *q = &g->params[v->iarg[0]];
            int64_t end = q->offset + ir_shape_size(&q->shape);
            theta_end = end > theta_end ? end : theta_end;
        }
    }
    put(table, "io t 0 0 %lld\n", (long long)theta_end);
    for (int i = 0; i < p->n; i++) {
        const IrValue *v = &p->v[i];
        if (v->op != IR_INPUT && v->op != IR_LABEL)
            continue;
        int64_t bytes = v->op == IR_LABEL ? 4 : ir_shape_size(&v->shape) * p->elem;
        put(table, "io i %d %lld %lld\n", v->iarg[0], (long long)(v->batched ? bytes : 0),
            (long long)(v->batched ? 0 : bytes));
    }
    for (int i = 0; i < p->nout; i++) {
        const IrValue *v = &p->v[p->out[i].value];
        int64_t size = ir_shape_size(&v->shape);
        put(table, "io o %d %lld %lld\n", p->out[i].slot, (long long)(v->batched ? size : 0),
            (long long)(p->out[i].offset + (v->batched ? 0 : size)));
    }
}

static void emit_function(Gen *g, Str *table)
{
    const FusePlan *p = g->p;
    int *first = calloc((size_t)p->nsteps + 2, sizeof *first), *next = calloc((size_t)p->nout + 1, sizeof *next);
    if (!first || !next) {
        free(first);
        free(next);
        g->src.oom = 1;
        return;
    }
    fuse_output_steps(p, first, next); /* the copies the CPU code makes, at the same steps */
    g->fn.n = 0;
    g->nlines = 0;
    put(&g->src, "\n/* ---- %s ---- */\n", g->name);
    for (int i = first[0]; i >= 0; i = next[i]) /* views: copied before anything runs */
        copy_out(g, &p->out[i]);
    for (int s = 0; s < p->nsteps; s++) {
        const FuseStep *st = &p->steps[s];
        g->step = s;
        if (st->kind == FUSE_STEP_LOOP) {
            emit_loop(g, &p->groups[st->group]);
        } else if (st->kind == FUSE_STEP_KERNEL) {
            emit_kernel(g, st->value);
        } else {
            char kname[256], value[128];
            scalar(g, st->value, value, sizeof value);
            emit_fill(g, st->value, kernel_name(g, kname, sizeof kname, ""), value);
        }
        for (int i = first[s + 1]; i >= 0; i = next[i])
            copy_out(g, &p->out[i]);
    }
    free(first);
    free(next);
    put(table, "function %s %d %d", g->name, g->nlines, p->nbuf);
    for (int i = 0; i < p->nbuf; i++) /* workspace(B) = max of these ends */
        put(table, " %lld %lld", (long long)(p->buf[i].at_a + p->buf[i].a),
            (long long)(p->buf[i].at_c + p->buf[i].b + 64));
    put(table, "\n%s", g->fn.s ? g->fn.s : "");
    emit_extents(g, table);
}

static const char *prelude(CgPrecision prec)
{
    return prec == CG_F64
               ? "typedef double real;\n"
                 "#define EXA_INF __longlong_as_double(0x7ff0000000000000LL)\n"
                 "#define EXA_NAN __longlong_as_double(0x7ff8000000000000LL)\n"
               : "typedef float real;\n"
                 "#define EXA_INF __int_as_float(0x7f800000)\n"
                 "#define EXA_NAN __int_as_float(0x7fc00000)\n";
}

/* The kernels of a training step on the device (runtime/gpu/gpu_train.c),
 * in every program: the optimisers' updates with runtime/solvers/optim.c's
 * arithmetic (each coordinate in double, rounded once), the gradient's
 * weighting and clipping (schedule.c's exa_clip_grad_norm).  k holds the
 * step's constants, copied to the device with the step. */
static const char training_kernels[] =
    "\n/* training steps (k: the step's constants) */\n"
    "#define EXA_ALL(i) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; \\\n"
    "                         i += (long long)blockDim.x * gridDim.x)\n"
    "/* k: lr, momentum, dampening, weight decay, nesterov, first step */\n"
    "extern \"C\" __global__ void exa_opt_sgd(long long n, long long B, double h, real *x, const real *g, real *b, const double *k)\n"
    "{\n"
    "    EXA_ALL(i) {\n"
    "        double xi = x[i], gi = (double)g[i] + k[3] * xi;\n"
    "        if (k[1] == 0) {\n"
    "            x[i] = (real)(xi - k[0] * gi);\n"
    "        } else {\n"
    "            double bi = k[5] != 0 ? gi : k[1] * (double)b[i] + (1 - k[2]) * gi;\n"
    "            double d = k[4] != 0 ? gi + k[1] * bi : bi;\n"
    "            b[i] = (real)bi;\n"
    "            x[i] = (real)(xi - k[0] * d);\n"
    "        }\n"
    "    }\n"
    "}\n"
    "/* k: keep (1 - lr wd, AdamW), wd, beta1, beta2, lr / bc1, 1 / sqrt(bc2), eps */\n"
    "extern \"C\" __global__ void exa_opt_adam(long long n, long long B, double h, real *x, const real *g, real *m, real *v, const double *k)\n"
    "{\n"
    "    EXA_ALL(i) {\n"
    "        double xi = (double)x[i] * k[0];\n"
    "        double gi = (double)g[i] + k[1] * xi;\n"
    "        double mi = k[2] * (double)m[i] + (1 - k[2]) * gi;\n"
    "        double vi = k[3] * (double)v[i] + (1 - k[3]) * gi * gi;\n"
    "        double denom = sqrt(vi) * k[5] + k[6];\n"
    "        m[i] = (real)mi;\n"
    "        v[i] = (real)vi;\n"
    "        x[i] = (real)(xi - k[4] * mi / denom);\n"
    "    }\n"
    "}\n"
    "/* x *= k[0] (a rank's gradient weighted by its share of the rows) */\n"
    "extern \"C\" __global__ void exa_scale(long long n, long long B, double h, real *x, const double *k)\n"
    "{\n"
    "    EXA_ALL(i) x[i] = (real)(k[0] * (double)x[i]);\n"
    "}\n"
    "/* g scaled to 2-norm k[0] when longer, k[1] reals; one thread, in the\n"
    " * CPU's order, so the sum rounds as it does there */\n"
    "extern \"C\" __global__ void exa_clip(long long n, long long B, double h, real *g, const double *k)\n"
    "{\n"
    "    if (blockIdx.x != 0 || threadIdx.x != 0)\n"
    "        return;\n"
    "    long long len = (long long)k[1];\n"
    "    double sq = 0;\n"
    "    for (long long i = 0; i < len; i++)\n"
    "        sq += (double)g[i] * g[i];\n"
    "    double norm = sqrt(sq);\n"
    "    if (k[0] > 0 && norm > k[0]) {\n"
    "        double f = k[0] / (norm + 1e-6);\n"
    "        for (long long i = 0; i < len; i++)\n"
    "            g[i] = (real)(g[i] * f);\n"
    "    }\n"
    "}\n";

int cg_cuda_source(const FusePlan *plans, int nplans, const IrParam *params, int nparams,
                   CgPrecision prec, char **source, char **table, char **error)
{
    Gen g = { .prec = prec, .params = params, .nparams = nparams };
    Str tab = { 0 };
    *source = NULL;
    if (table)
        *table = NULL;
    put(&g.src, "/* generated by exac: CUDA C for NVRTC, %s; the launch table says how to run it */\n%s",
        prec == CG_F64 ? "f64" : "f32", prelude(prec));
    put(&g.src, "\n/* dst [n] = src [n]: outputs */\n"
                "extern \"C\" __global__ void exa_cuda_copy(long long n, long long B, double h, real *p0, const real *p1)\n"
                "{\n    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;\n"
                "         i += (long long)blockDim.x * gridDim.x)\n        p0[i] = p1[i];\n}\n");
    put(&g.src, "%s", training_kernels);
    put(&tab, "exa-cuda 2 %s\n", prec == CG_F64 ? "f64" : "f32");
    for (int i = 0; i < nplans && !g.bad; i++) {
        if ((plans[i].elem == 8) != (prec == CG_F64)) {
            g.bad = "a plan was made for the other precision";
            break;
        }
        g.p = &plans[i];
        g.name = plans[i].src && plans[i].src->name ? plans[i].src->name : "anonymous";
        emit_function(&g, &tab);
    }
    int status = -1;
    if (g.bad)
        diag_message(error, "CUDA code for %s: %s", g.name ? g.name : "?", g.bad);
    else if (g.src.oom || g.fn.oom || tab.oom)
        diag_message(error, "out of memory");
    else
        status = 0;
    free(g.fn.s);
    if (status == 0) {
        *source = g.src.s;
        if (table)
            *table = tab.s;
        else
            free(tab.s);
    } else {
        free(g.src.s);
        free(tab.s);
    }
    return status;
}
