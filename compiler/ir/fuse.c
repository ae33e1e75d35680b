/* fuse.c - the execution plan of a graph IR function: cleaning, fusion of
 * elementwise chains, kernel steps, and workspace buffers (see fuse.h).
 *
 * Passes, each a linear sweep over the values in definition order:
 *   1. common subexpressions: a value identical to an earlier one (same op,
 *      operands, shape, batching and attributes) is replaced by it; autodiff
 *      writes many of these (1 - v*v once per use of tanh's derivative, ...);
 *   2. TRANSPOSE feeding a MATMUL becomes a GEMM transpose flag, so a
 *      weight is never transposed in memory;
 *   3. dead values (that no output needs) are dropped;
 *   4. grouping: an elementwise value joins the group of an elementwise
 *      operand with the same iteration space (shape and batching) unless a
 *      value outside that group has already used one of its members; the
 *      loop then runs where its last member is defined, which is safe because
 *      everything its members read is defined by then and nothing outside has
 *      read them before;
 *   5. buffers: every value read outside its loop, every kernel result and
 *      every kernel's scratch gets a buffer live from the step that writes it
 *      to the last step that reads it; buffers whose lifetimes overlap are
 *      kept apart, the others share memory. */
#include "fuse.h"
#include "fuse_int.h"
#include "diag.h"

#include "exa/kernels.h"

#include <stdlib.h>
#include <string.h>

void *fuse_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fputs("exac: out of memory\n", stderr);
        exit(2);
    }
    return p;
}


int64_t fuse_size(const IrValue *v)
{
    return ir_shape_size(&v->shape);
}

/* ---- 1. common subexpressions ------------------------------------------ */

/* Two values compute the same thing.  c is compared bit for bit (so -0.0
 * and 0.0 stay apart, and NaN constants merge). */
static int same(const IrValue *x, const IrValue *y)
{
    return x->op == y->op && x->batched == y->batched && ir_shape_equal(&x->shape, &y->shape) &&
           memcmp(x->in, y->in, sizeof x->in) == 0 && memcmp(&x->c, &y->c, sizeof x->c) == 0 &&
           memcmp(x->iarg, y->iarg, sizeof x->iarg) == 0 &&
           memcmp(x->slice, y->slice, sizeof x->slice) == 0;
}

static uint64_t hash_value(const IrValue *v)
{
    uint64_t h = 1469598103934665603u;
#define MIX(x) (h = (h ^ (uint64_t)(x)) * 1099511628211u)
    MIX(v->op);
    MIX(v->batched);
    for (int k = 0; k < 3; k++)
        MIX(v->in[k] + 1);
    uint64_t cbits;
    memcpy(&cbits, &v->c, sizeof cbits);
    MIX(cbits);
    for (int k = 0; k < 4; k++)
        MIX(v->iarg[k]);
    MIX(v->shape.rank);
    for (int d = 0; d < v->shape.rank; d++)
        MIX(v->shape.dim[d]);
#undef MIX
    return h;
}

static void cse(FusePlan *p, IrId *canon)
{
    int cap = 1;
    while (cap < 2 * p->n)
        cap *= 2;
    IrId *table = fuse_xcalloc((size_t)cap, sizeof *table);
    for (int i = 0; i < cap; i++)
        table[i] = -1;
    for (IrId id = 0; id < p->n; id++) {
        IrValue *v = &p->v[id];
        for (int k = 0; k < ir_op_arity(v->op); k++)
            v->in[k] = canon[v->in[k]];
        canon[id] = id;
        for (size_t h = hash_value(v) & (size_t)(cap - 1);; h = (h + 1) & (size_t)(cap - 1)) {
            if (table[h] < 0) {
                table[h] = id;
                break;
            }
            if (same(&p->v[table[h]], v)) {
                canon[id] = table[h];
                break;
            }
        }
    }
    free(table);
}

/* ---- 4. grouping ------------------------------------------------------- */

static int is_elem(IrOp op)
{
    return (ir_op_is_elementwise(op) && op != IR_CONST) || op == IR_BROADCAST;
}

static int is_scalar_leaf(IrOp op)
{
    return op == IR_CONST || op == IR_FILL || op == IR_INV_BATCH || op == IR_STEP_SIZE;
}

static int same_space(const IrValue *x, const IrValue *y)
{
    return x->batched == y->batched && ir_shape_equal(&x->shape, &y->shape);
}

static void group_add(FusePlan *p, int g, IrId id)
{
    FuseGroup *gr = &p->groups[g];
    gr->member = realloc(gr->member, (size_t)(gr->n + 1) * sizeof *gr->member);
    if (!gr->member) {
        fputs("exac: out of memory\n", stderr);
        exit(2);
    }
    gr->member[gr->n++] = id;
    gr->last = id;
    p->info[id].group = g;
}

static int cmp_id(const void *a, const void *b)
{
    return *(const IrId *)a - *(const IrId *)b;
}

/* Moves group `from` into `into` (members stay in definition order). */
static void group_merge(FusePlan *p, int into, int from)
{
    FuseGroup *g = &p->groups[from];
    for (int i = 0; i < g->n; i++)
        group_add(p, into, g->member[i]);
    FuseGroup *t = &p->groups[into];
    qsort(t->member, (size_t)t->n, sizeof *t->member, cmp_id);
    t->last = t->member[t->n - 1];
    free(g->member);
    g->member = NULL;
    g->n = 0;
}

static int make_groups(FusePlan *p, char *sealed, char **error)
{
    for (IrId id = 0; id < p->n; id++) {
        const IrValue *v = &p->v[id];
        FuseInfo *fi = &p->info[id];
        if (fi->kind == FUSE_DEAD)
            continue;
        int arity = ir_op_arity(v->op);
        /* FUSE_JOIN read: its writers' loops must run before v, so they
         * take no later members (v's group included: v reads the memory) */
        for (int k = 0; k < arity && fi->kind != FUSE_JOIN; k++)
            if (p->info[v->in[k]].kind == FUSE_JOIN)
                fuse_seal_writers(p, v->in[k], sealed);
        if (fi->kind == FUSE_ELEM) {
            int g = -1;
            for (int k = 0; k < arity; k++) {
                IrId u = v->in[k];
                if (p->v[u].op == IR_LABEL)
                    return diag_message(error, "a label is used as a real number (%s)", ir_op_name(v->op));
                if (p->info[u].kind != FUSE_ELEM || !same_space(&p->v[u], v))
                    continue;
                int gu = p->info[u].group;
                if (sealed[gu] || gu == g)
                    continue;
                if (g < 0)
                    g = gu;
                else
                    group_merge(p, g, gu);
            }
            if (g < 0) {
                g = p->ngroups++;
                memset(&p->groups[g], 0, sizeof p->groups[g]);
            }
            group_add(p, g, id);
        }
        /* a group read by a value outside it can take no later members; a
         * FUSE_JOIN does not read its operands, they are stored in it */
        for (int k = 0; k < arity && fi->kind != FUSE_JOIN; k++) {
            IrId u = v->in[k];
            if (p->info[u].kind == FUSE_ELEM &&
                (fi->kind != FUSE_ELEM || p->info[u].group != fi->group))
                sealed[p->info[u].group] = 1;
        }
    }
    return 0;
}

/* ---- 5. buffers -------------------------------------------------------- */

static int new_buffer(FusePlan *p, int64_t a, int64_t b, int step, IrId value)
{
    FuseBuffer *fb = &p->buf[p->nbuf];
    *fb = (FuseBuffer){ .a = a, .b = b, .def = step, .last = step, .value = value };
    return p->nbuf++;
}

/* A buffer for value v's memory from step on: B rows where batched, else
 * one tensor. */
static int value_buffer(FusePlan *p, IrId v, int step)
{
    const IrValue *x = &p->v[v];
    int64_t bytes = fuse_size(x) * p->elem;
    return new_buffer(p, x->batched ? bytes : 0, x->batched ? 0 : bytes, step, v);
}

/* x lies wholly before y for every B >= 0, alignment slack included. */
static int before(const FuseBuffer *x, const FuseBuffer *y)
{
    return x->at_a + x->a <= y->at_a && x->at_c + x->b + 64 <= y->at_c;
}

/* Each buffer starts (its index mod 16) cache lines past its place.  The
 * loops read and write many buffers at once, row by row; placed flush,
 * buffers of one size (25664 bytes apart for 512-byte rows at batch 50)
 * repeat their offsets modulo 4 KiB every few buffers, and rows at equal
 * offsets compete for the same L1 sets (the likely cause: the VM measured
 * on has no cache counters).  The stacked-gate GRU (bench (h)) ran at 0.87x
 * of bench (g)'s speed flush, 0.99x staggered (docs/results/throughput.md,
 * "Issue 17, session 9").  Each buffer grows by at most 960 bytes, but the
 * first fit below loses some exact fits: bench (a)'s gradient workspace
 * grows from 1.5 to 2.2 MB at batch 1000, with no measurable cost. */
static int64_t stagger(int index)
{
    return (int64_t)(index % 16) * 64;
}

/* First fit in step order.  Buffers are made in step order, so every buffer
 * placed before b that overlaps b in time is live at b's first step; those
 * overlap one another too and were placed apart, so they form a chain, each
 * wholly before the next.  b goes into the first gap of that chain it fits
 * (the origin, or just after a chain member): the least address at every B.
 * Linear in the live buffers per buffer (a search over all pairs was cubic
 * and took a minute on a 2048-step net). */
static void place(FusePlan *p)
{
    int *chain = fuse_xcalloc((size_t)p->nbuf + 1, sizeof *chain), n = 0; /* lowest first */
    for (int i = 0; i < p->nbuf; i++) {
        FuseBuffer *b = &p->buf[i];
        int live = 0;
        for (int m = 0; m < n; m++) /* drop those dead before b is made */
            if (p->buf[chain[m]].last >= b->def)
                chain[live++] = chain[m];
        n = live;
        int m = 0;
        for (;; m++) {
            const FuseBuffer *below = m > 0 ? &p->buf[chain[m - 1]] : NULL;
            b->at_a = below ? below->at_a + below->a : 0;
            b->at_c = (below ? below->at_c + below->b + 64 : 0) + stagger(i);
            if (m == n || before(b, &p->buf[chain[m]]))
                break;
        }
        memmove(chain + m + 1, chain + m, (size_t)(n - m) * sizeof *chain);
        chain[m] = i;
        n++;
    }
    free(chain);
}

int64_t fuse_buffer_offset(const FuseBuffer *b, int64_t batch)
{
    return (b->at_a * batch + b->at_c + 63) & ~(int64_t)63;
}

int64_t fuse_workspace(const FusePlan *p, int64_t batch)
{
    int64_t ws = 0;
    for (int i = 0; i < p->nbuf; i++) {
        const FuseBuffer *b = &p->buf[i];
        int64_t end = (b->at_a + b->a) * batch + b->at_c + b->b + 64;
        ws = end > ws ? end : ws;
    }
    return ws;
}

/* The geometry of a convolution-like value: x [c, h, w] and w [o, c, k, k]. */
typedef struct ConvGeometry {
    int64_t c, h, w, o, k, stride, pad, oh, ow;
} ConvGeometry;

static ConvGeometry conv_geometry(const FusePlan *p, const IrValue *v)
{
    const IrShape *x = v->op == IR_CONV ? &p->v[v->in[0]].shape
                     : v->op == IR_CONV_GRAD_X ? &v->shape : &p->v[v->in[1]].shape;
    const IrShape *w = v->op == IR_CONV_GRAD_W ? &v->shape : &p->v[v->in[1]].shape;
    ConvGeometry g = { .c = x->dim[0], .h = x->dim[1], .w = x->dim[2], .o = w->dim[0], .k = w->dim[2],
                       .stride = v->iarg[0] ? v->iarg[0] : 1, .pad = v->iarg[1] };
    g.oh = (g.h + 2 * g.pad - g.k) / g.stride + 1;
    g.ow = (g.w + 2 * g.pad - g.k) / g.stride + 1;
    return g;
}

static int is_conv(const IrValue *v)
{
    return v->op == IR_CONV || v->op == IR_CONV_GRAD_X || v->op == IR_CONV_GRAD_W;
}

/* Elements of the im2col matrix of a convolution-like value: [c*k*k, oh*ow]. */
static int64_t conv_scratch(const FusePlan *p, const IrValue *v)
{
    ConvGeometry g = conv_geometry(p, v);
    return g.c * g.k * g.k * g.oh * g.ow;
}

/* Elements of the scratch of a direct convolution kernel: kernels.h's
 * formula, from AVX2's 32-byte vectors (it covers the AVX-512 kernels' and
 * the im2col fallback's too: which one runs is decided at run time). */
static int64_t dconv_scratch(const FusePlan *p, const IrValue *v)
{
    ConvGeometry g = conv_geometry(p, v);
    ExaDconvKind kind = v->op == IR_CONV ? EXA_DCONV_FWD : v->op == IR_CONV_GRAD_W ? EXA_DCONV_GRAD_W
                                                                                : EXA_DCONV_GRAD_X;
    return exa_dconv_workspace_len(kind, g.c, g.h, g.w, g.o, g.k, g.pad, 32 / p->elem);
}

/* FUSE_DIRECT_CONV: a convolution at stride 1 whose x has few taps per
 * output (c*k*k <= 256) runs the direct kernels, without im2col.  Measured
 * per sample (f32, batch 100, one thread, AVX2; the direct kernels against
 * im2col + OpenBLAS): LeNet's 1->6 5x5 layer forward 3.2 vs 14.9 us, weight
 * gradient 5.9 vs 15.1; its 6->16 5x5 layer 4.4 vs 13.4, 4.6 vs 10.2, input
 * gradient 11.6 vs 14.8; at 64->64 3x3 on 16x16 (c*k*k = 576) the
 * gradients lose (532 vs 347, 431 vs 382 us), where the GEMM's blocking
 * pays.  All three of a layer's kernels go one way, so that a layer never
 * pays for im2col and for the direct form's copies both. */
static void choose_direct_convs(FusePlan *p)
{
    for (IrId id = 0; id < p->n; id++) {
        const IrValue *v = &p->v[id];
        if (!is_conv(v) || p->info[id].kind != FUSE_KERNEL)
            continue;
        ConvGeometry g = conv_geometry(p, v);
        p->info[id].direct_conv = g.stride == 1 && g.c * g.k * g.k <= 256;
    }
}

/* ---- the plan ---------------------------------------------------------- */

int fuse_plan(const IrFunc *f, int elem, FusePlan *p, char **error)
{
    return fuse_plan_flags(f, elem, 0, p, error);
}

/* FUSE_DIRECT_OUTPUTS: a value computed by a kernel or a loop that is exactly
 * one output, and not a view of another, is computed in its output slot
 * rather than in a buffer that is then copied there.  The gradient of a
 * 784-2048-2048-10 MLP is 23 MB per step: the copy was 4% of its training. */
static void direct_outputs(FusePlan *p)
{
    int *uses = fuse_xcalloc((size_t)p->n + 1, sizeof *uses);
    for (int i = 0; i < p->nout; i++)
        uses[p->out[i].value]++;
    for (int i = 0; i < p->nout; i++) {
        IrId v = p->out[i].value;
        FuseInfo *fi = &p->info[v];
        if (uses[v] == 1 && fi->root == v && (fi->kind == FUSE_KERNEL || (fi->kind == FUSE_ELEM && fi->stored)))
            fi->output = i;
    }
    free(uses);
}

/* FUSE_KEEP_IM2COL: each weight gradient CONV_GRAD_W(g, x) of a batched x
 * reads the im2col matrices that CONV(x, W) built, for a shared W of its
 * shape and the same stride and padding.  Saves one im2col per convolution
 * per step (a quarter of LeNet's training step was im2col). */
static void pair_im2col(FusePlan *p)
{
    for (IrId v = 0; v < p->n; v++) {
        const IrValue *gw = &p->v[v];
        if (gw->op != IR_CONV_GRAD_W || p->info[v].kind != FUSE_KERNEL || !p->v[gw->in[1]].batched ||
            p->info[v].direct_conv)
            continue;
        for (IrId u = 0; u < v; u++) {
            const IrValue *cv = &p->v[u];
            const IrValue *wt = cv->op == IR_CONV ? &p->v[cv->in[1]] : NULL;
            if (!wt || p->info[u].kind != FUSE_KERNEL || p->info[u].direct_conv || cv->in[0] != gw->in[1] || wt->batched ||
                cv->batched != 1 || memcmp(&wt->shape, &gw->shape, sizeof wt->shape) != 0 ||
                cv->iarg[0] != gw->iarg[0] || cv->iarg[1] != gw->iarg[1])
                continue;
            p->info[u].keep_im2col = 1;
            p->info[v].im2col_from = u;
            break;
        }
    }
}

/* The gradient of a vector cut into adjacent slices (a stacked GRU's gates)
 * arrives as a tree of ADDs over SLICE_GRADs, each a zeroed copy of the whole
 * vector with one slice's gradient in it.  Where the slices of such a tree
 * tile the rank-1 vector, the tree is the CONCAT of the slices' gradients in
 * order: its ADDs become CONCATs (the root of the whole vector, the inner ones
 * of the part they join; an inner ADD must have no other use), and the
 * SLICE_GRADs die.  Definition order holds: each CONCAT is where its ADD was.
 * Three gates: two concatenations instead of three zero-fills, three
 * scatters and two additions over the stacked vector. */
typedef struct Piece {
    int ok, inner;  /* inner: a joining ADD (to become a CONCAT too), not a SLICE_GRAD */
    int64_t lo, hi; /* the part of the vector it holds */
    IrId value;     /* what holds it: a SLICE_GRAD's operand, or the joining ADD */
} Piece;

static Piece piece_of(const FusePlan *p, const Piece *joined, const int *uses, const IrValue *add, IrId u)
{
    const IrValue *v = &p->v[u];
    Piece pc = { 0 };
    if (v->shape.rank != 1 || v->shape.dim[0] != add->shape.dim[0] || v->batched != add->batched)
        return pc;
    if (v->op == IR_SLICE_GRAD)
        pc = (Piece){ 1, 0, v->slice[0][0], v->slice[0][1], v->in[0] };
    else if (joined[u].ok && uses[u] == 1)
        pc = joined[u], pc.inner = 1;
    return pc;
}

static void concat_of(FusePlan *p, IrId id, Piece *joined, const int *uses, int64_t len)
{
    IrValue *v = &p->v[id];
    Piece x = piece_of(p, joined, uses, v, v->in[0]), y = piece_of(p, joined, uses, v, v->in[1]);
    if (x.lo > y.lo) {
        Piece t = x;
        x = y, y = t;
    }
    if (x.inner) /* an inner ADD: the CONCAT of its own part */
        concat_of(p, x.value, joined, uses, x.hi - x.lo);
    if (y.inner)
        concat_of(p, y.value, joined, uses, y.hi - y.lo);
    v->op = IR_CONCAT;
    v->in[0] = x.value, v->in[1] = y.value, v->in[2] = -1;
    v->shape.dim[0] = len;
    v->batched = p->v[x.value].batched || p->v[y.value].batched;
    joined[id].ok = 0;
}

/* How many times each value is read: by the plan's values and its outputs
 * (one extra slot, as the callers' other tables). */
static int *value_uses(const FusePlan *p)
{
    int *uses = fuse_xcalloc((size_t)p->n + 1, sizeof *uses);
    for (IrId id = 0; id < p->n; id++)
        for (int k = 0; k < ir_op_arity(p->v[id].op); k++)
            uses[p->v[id].in[k]]++;
    for (int i = 0; i < p->nout; i++)
        uses[p->out[i].value]++;
    return uses;
}

static void join_slice_grads(FusePlan *p)
{
    int *uses = value_uses(p);
    Piece *joined = fuse_xcalloc((size_t)p->n + 1, sizeof *joined);
    for (IrId id = 0; id < p->n; id++) { /* which ADDs join adjacent parts */
        const IrValue *v = &p->v[id];
        if (v->op != IR_ADD || v->in[0] == v->in[1] || v->shape.rank != 1)
            continue;
        Piece x = piece_of(p, joined, uses, v, v->in[0]), y = piece_of(p, joined, uses, v, v->in[1]);
        if (!x.ok || !y.ok)
            continue;
        if (x.hi == y.lo)
            joined[id] = (Piece){ 1, 0, x.lo, y.hi, id };
        else if (y.hi == x.lo)
            joined[id] = (Piece){ 1, 0, y.lo, x.hi, id };
    }
    for (IrId id = p->n - 1; id >= 0; id--) /* the trees that tile the vector, from their roots */
        if (joined[id].ok && joined[id].lo == 0 && joined[id].hi == p->v[id].shape.dim[0])
            concat_of(p, id, joined, uses, p->v[id].shape.dim[0]);
    free(joined);
    free(uses);
}

/* FUSE_SLICE_ACCUMULATE: the gradient of a tensor read through many slices
 * that join_slice_grads leaves (they do not tile a vector: the rows P[t] of
 * a recurrence's hoisted input projection, compiler/ir/hoist.c) arrives as a
 * chain of ADDs, each of the sum so far and a SLICE_GRAD, a zeroed copy of
 * the whole tensor with one slice's gradient in it: for T steps, T zero-fills
 * and T additions of the whole [T, n] tensor, quadratic in T (a 128-step GRU
 * spent 40% of its step there).  An ADD(acc, SLICE_GRAD(g)) whose acc has no
 * other reader and owns its memory becomes SLICE_ADD(acc, g): g added into
 * acc's slice in place (FuseInfo.root = acc's root, no buffer of its own), so
 * the chain is one zero-fill (its first SLICE_GRAD) and one slice-sized add
 * per step, linear in T.  Why in place rather than an n-ary concatenation:
 * the slices need not tile or be disjoint, the first zero-fill is the only
 * full-size pass, and the backward form stays the sum autodiff wrote.
 * Rewritten before the kinds are set (an ADD would be a fused loop), so
 * "owns its memory" is judged by op: not a view of a parameter or input, an
 * alias, a slice (perhaps a view) or a constant. */
static int owns_memory(IrOp op)
{
    switch (op) {
    case IR_PARAM: case IR_INPUT: case IR_LABEL: case IR_RESHAPE: case IR_SLICE:
    case IR_CONST: case IR_FILL: case IR_INV_BATCH: case IR_STEP_SIZE:
        return 0;
    default:
        return 1;
    }
}

/* The chain from SLICE_GRAD c0 (next[]: the SLICE_ADD that adds into each
 * member) tiles c0's tensor when its slices take whole rows (every dim but
 * the first whole) and each row exactly once, as the steps' rows P[t] of a
 * hoisted product do.  Then no member needs the others' zeros or sums: each
 * writes its rows (FuseInfo.put), the zero-fill and the reads are gone. */
static void put_tiled_chain(FusePlan *p, IrId c0, const IrId *next)
{
    const IrShape *big = &p->v[c0].shape;
    if (big->rank < 1 || next[c0] < 0)
        return;
    char *row = fuse_xcalloc((size_t)big->dim[0] + 1, 1);
    int64_t rows = 0;
    int ok = 1;
    for (IrId m = c0; m >= 0 && ok; m = next[m]) {
        const IrValue *v = &p->v[m];
        for (int d = 1; d < big->rank && ok; d++)
            ok = v->slice[d][0] == 0 && v->slice[d][1] == big->dim[d];
        for (int64_t r = v->slice[0][0]; r < v->slice[0][1] && ok; r++, rows++)
            ok = r >= 0 && r < big->dim[0] && !row[r]++;
    }
    if (ok && rows == big->dim[0])
        for (IrId m = c0; m >= 0; m = next[m])
            p->info[m].put = 1;
    free(row);
}

static void accumulate_slice_grads(FusePlan *p)
{
    IrId *next = fuse_xcalloc((size_t)p->n + 1, sizeof *next);
    for (IrId id = 0; id <= p->n; id++)
        next[id] = -1;
    int *uses = value_uses(p);
    for (IrId id = 0; id < p->n; id++) {
        IrValue *v = &p->v[id];
        if (v->op != IR_ADD || v->in[0] == v->in[1])
            continue;
        for (int k = 1; k >= 0; k--) { /* the SLICE_GRAD second (autodiff's order) first */
            IrId sg = v->in[k], acc = v->in[1 - k];
            const IrValue *s = &p->v[sg], *a = &p->v[acc];
            if (s->op != IR_SLICE_GRAD || uses[sg] != 1 || uses[acc] != 1 || !owns_memory(a->op) ||
                !same_space(s, v) || !same_space(a, v) || p->v[s->in[0]].batched != v->batched)
                continue;
            v->op = IR_SLICE_ADD;
            v->in[0] = acc;
            v->in[1] = s->in[0];
            memcpy(v->slice, s->slice, sizeof v->slice);
            uses[sg]--;               /* dead now */
            uses[s->in[0]]++;
            next[acc] = id;
            break;
        }
    }
    for (IrId id = 0; id < p->n; id++)
        if (p->v[id].op == IR_SLICE_GRAD && uses[id] == 1)
            put_tiled_chain(p, id, next);
    free(uses);
    free(next);
}

/* FUSE_GEMM_ACCUMULATE (fuse.h): autodiff sums a weight's gradient over the
 * steps of an unrolled loop as ADD(ADD(o_1, o_2), o_3) ..., each o_t an
 * OUTER; each ADD whose accumulator and OUTER have no other reader becomes
 * OUTER_ADD(acc, a, b), where the ADD was (after both), in acc's memory.  A
 * GRU of 128 steps: 127 GEMMs into one 64 KB buffer that stays in cache
 * instead of 127 buffers (8 MB) summed by one loop over 128 streams. */
static void accumulate_outers(FusePlan *p)
{
    int *uses = value_uses(p);
    for (IrId id = 0; id < p->n; id++) {
        IrValue *v = &p->v[id];
        if (v->op != IR_ADD || v->in[0] == v->in[1])
            continue;
        for (int k = 1; k >= 0; k--) { /* the OUTER second (autodiff's order) first */
            IrId o = v->in[k], acc = v->in[1 - k];
            const IrValue *ov = &p->v[o], *a = &p->v[acc];
            if (ov->op != IR_OUTER || uses[o] != 1 || uses[acc] != 1 || !owns_memory(a->op) ||
                !same_space(ov, v) || !same_space(a, v))
                continue;
            IrId x = ov->in[0], y = ov->in[1];
            v->op = IR_OUTER_ADD;
            v->in[0] = acc, v->in[1] = x, v->in[2] = y;
            uses[o]--; /* dead now */
            uses[x]++, uses[y]++;
            break;
        }
    }
    free(uses);
}

/* Whether RESHAPE r only drops the dims of extent 1 of its source: its
 * shape is the source's without them ([1, n] -> [n], a row of a hoisted
 * product). */
static int drops_unit_dims(const IrValue *r, const IrValue *src)
{
    int k = 0;
    for (int j = 0; j < src->shape.rank; j++)
        if (src->shape.dim[j] != 1 && (k >= r->shape.rank || r->shape.dim[k++] != src->shape.dim[j]))
            return 0;
    for (int j = 0; j < r->shape.rank; j++)
        if (r->shape.dim[j] == 1)
            return 0;
    return k == r->shape.rank && r->batched == src->batched;
}

/* FUSE_SLICE_VIEWS: a SLICE of a value in memory that no kernel, alias or
 * output reads, only fused loops and other such views, becomes FUSE_SLICE
 * (no step, no buffer; root: its source's memory, which lives as long as the
 * slice is read).  So does a RESHAPE of such a SLICE that only drops unit
 * dims (x[t], [1, n] -> [n]), and SLICEs of those (the gates of a stacked
 * GRU's row of the hoisted input product): fuse_strides_of and
 * fuse_slice_offset compose the chain.  The gates cut out of a stacked GRU
 * product, for one: three copies of the product per step, and their
 * writes, are gone; so is the copy of row t of a hoisted product. */
static void slice_views(FusePlan *p)
{
    char *out = fuse_xcalloc((size_t)p->n + 1, 1);
    for (int i = 0; i < p->nout; i++)
        out[p->out[i].value] = 1;
    char *ok = fuse_xcalloc((size_t)p->n + 1, 1);
    for (IrId id = 0; id < p->n; id++) {
        const IrValue *v = &p->v[id];
        if (v->op == IR_RESHAPE) { /* of a candidate SLICE (lower ids first) */
            ok[id] = p->info[id].kind == FUSE_ALIAS && !out[id] && ok[v->in[0]] &&
                     drops_unit_dims(v, &p->v[v->in[0]]);
            continue;
        }
        if (v->op != IR_SLICE)
            continue;
        FuseKind src = p->info[v->in[0]].kind;
        ok[id] = p->info[id].kind == FUSE_KERNEL && !out[id] &&
                 v->shape.rank == p->v[v->in[0]].shape.rank &&
                 (src == FUSE_VIEW || src == FUSE_KERNEL || src == FUSE_ELEM || src == FUSE_ALIAS ||
                  (src == FUSE_JOIN && p->info[v->in[0]].nplace == 0));
    }
    /* every reader a fused loop or a view itself: readers come later, so a
     * backward sweep sees each value's readers settled before it */
    for (IrId id = p->n - 1; id >= 0; id--) {
        const IrValue *v = &p->v[id];
        if (p->info[id].kind == FUSE_DEAD || p->info[id].kind == FUSE_ELEM || ok[id])
            continue;
        for (int k = 0; k < ir_op_arity(v->op); k++)
            ok[v->in[k]] = 0;
    }
    for (IrId id = 0; id < p->n; id++)
        if (ok[id] && p->info[id].nuses > 0) {
            p->info[id].kind = FUSE_SLICE;
            p->info[id].stored = 0;
            p->info[id].root = p->info[p->v[id].in[0]].root;
        }
    free(ok);
    free(out);
}

int fuse_plan_flags(const IrFunc *f, int elem, int flags, FusePlan *p, char **error)
{
    memset(p, 0, sizeof *p);
    p->src = f;
    p->n = f->n;
    p->elem = elem;
    p->v = fuse_xcalloc((size_t)f->n, sizeof *p->v);
    memcpy(p->v, f->v, (size_t)f->n * sizeof *p->v);
    p->info = fuse_xcalloc((size_t)f->n, sizeof *p->info);
    IrId *canon = fuse_xcalloc((size_t)f->n, sizeof *canon);
    char *sealed = fuse_xcalloc((size_t)f->n, 1);
    int *stepof = fuse_xcalloc((size_t)f->n, sizeof *stepof);
    int status = -1;

    cse(p, canon);
    for (IrId id = 0; id < p->n; id++) { /* 2. TRANSPOSE into GEMM flags */
        IrValue *v = &p->v[id];
        p->info[id].buffer = p->info[id].scratch = p->info[id].group = p->info[id].output = -1;
        p->info[id].im2col_from = -1;
        if (v->op != IR_MATMUL)
            continue;
        for (int k = 0; k < 2; k++)
            if (p->v[v->in[k]].op == IR_TRANSPOSE) {
                v->in[k] = p->v[v->in[k]].in[0];
                p->info[id].trans[k] = 1;
            }
    }
    p->nout = f->nout;
    p->out = fuse_xcalloc((size_t)f->nout, sizeof *p->out);
    for (int i = 0; i < f->nout; i++) {
        p->out[i] = f->out[i];
        if (f->out[i].value < 0 || f->out[i].value >= f->n) {
            diag_message(error, "output %d names no value", i);
            goto done;
        }
        p->out[i].value = canon[f->out[i].value];
        if (p->v[p->out[i].value].op == IR_LABEL) {
            diag_message(error, "output %d is a label", i);
            goto done;
        }
    }

    join_slice_grads(p);
    if (flags & FUSE_SLICE_ACCUMULATE)
        accumulate_slice_grads(p);
    if (flags & FUSE_GEMM_ACCUMULATE)
        accumulate_outers(p);

    /* 3. dead values: mark back from the outputs */
    char *live = sealed; /* reused below after being cleared */
    for (int i = 0; i < p->nout; i++)
        live[p->out[i].value] = 1;
    for (IrId id = p->n - 1; id >= 0; id--)
        if (live[id])
            for (int k = 0; k < ir_op_arity(p->v[id].op); k++)
                live[p->v[id].in[k]] = 1;
    for (IrId id = 0; id < p->n; id++) {
        const IrValue *v = &p->v[id];
        FuseInfo *fi = &p->info[id];
        fi->root = id;
        if (!live[id]) {
            fi->kind = FUSE_DEAD;
            continue;
        }
        for (int k = 0; k < ir_op_arity(v->op); k++)
            p->info[v->in[k]].nuses++;
        switch (v->op) {
        case IR_PARAM: case IR_INPUT: case IR_LABEL: fi->kind = FUSE_VIEW; break;
        case IR_RESHAPE: fi->kind = FUSE_ALIAS; break;
        case IR_BASIS: fi->kind = FUSE_KERNEL; break;
        default:
            fi->kind = is_scalar_leaf(v->op) ? FUSE_SCALAR : is_elem(v->op) ? FUSE_ELEM : FUSE_KERNEL;
        }
        if (v->shape.rank > IR_MAX_RANK || (v->op == IR_TRANSPOSE && v->shape.rank != 2)) {
            diag_message(error, "value %%%d (%s) has a shape the back end cannot handle", id, ir_op_name(v->op));
            goto done;
        }
    }
    memset(sealed, 0, (size_t)f->n);
    if (flags & FUSE_CONCAT_IN_PLACE)
        fuse_join_concats(p);

    p->groups = fuse_xcalloc((size_t)f->n, sizeof *p->groups);
    if (make_groups(p, sealed, error) != 0)
        goto done;

    /* which values need memory: read outside their loop, or written out */
    for (int i = 0; i < p->nout; i++)
        p->info[p->out[i].value].stored = 1;
    for (IrId id = 0; id < p->n; id++) {
        const IrValue *v = &p->v[id];
        FuseInfo *fi = &p->info[id];
        if (fi->kind == FUSE_DEAD)
            continue;
        if (fi->kind == FUSE_KERNEL || (fi->kind == FUSE_JOIN && fi->nplace == 0))
            fi->stored = 1;
        for (int k = 0; k < ir_op_arity(v->op); k++) {
            FuseInfo *ui = &p->info[v->in[k]];
            if ((ui->kind == FUSE_ELEM && (fi->kind != FUSE_ELEM || ui->group != fi->group)) ||
                (ui->kind == FUSE_SCALAR && fi->kind != FUSE_ELEM))
                ui->stored = 1;
        }
        if (fi->kind == FUSE_ALIAS || v->op == IR_SLICE_ADD || v->op == IR_OUTER_ADD) /* in acc's memory */
            fi->root = p->info[v->in[0]].root;
    }
    if (flags & FUSE_SLICE_VIEWS)
        slice_views(p);
    if (flags & FUSE_DIRECT_OUTPUTS)
        direct_outputs(p);
    if (flags & FUSE_DIRECT_CONV)
        choose_direct_convs(p);
    if (flags & FUSE_KEEP_IM2COL)
        pair_im2col(p);

    /* steps, in definition order */
    p->steps = fuse_xcalloc((size_t)f->n, sizeof *p->steps);
    p->buf = fuse_xcalloc(2 * (size_t)f->n, sizeof *p->buf);
    for (IrId id = 0; id < p->n; id++) {
        FuseInfo *fi = &p->info[id];
        stepof[id] = -1;
        FuseStep st = { .group = -1, .value = id };
        if (fi->kind == FUSE_ELEM) {
            if (p->groups[fi->group].last != id)
                continue;
            st.kind = FUSE_STEP_LOOP;
            st.group = fi->group;
        } else if (fi->kind == FUSE_KERNEL) {
            st.kind = FUSE_STEP_KERNEL;
        } else if (fi->kind == FUSE_SCALAR && fi->stored) {
            st.kind = FUSE_STEP_STORE;
        } else {
            continue;
        }
        int s = p->nsteps++;
        p->steps[s] = st;
        if (st.kind == FUSE_STEP_LOOP) {
            const FuseGroup *g = &p->groups[st.group];
            for (int i = 0; i < g->n; i++)
                stepof[g->member[i]] = s;
        } else {
            stepof[id] = s;
        }
        /* a buffer for every stored value this step writes, and scratch */
        const FuseGroup *g = st.kind == FUSE_STEP_LOOP ? &p->groups[st.group] : NULL;
        for (int i = 0; i < (g ? g->n : 1); i++) {
            IrId m = g ? g->member[i] : id;
            for (int q = 0; q < p->info[m].nplace; q++) { /* FUSE_JOINs, from their first writer */
                IrId r = p->info[m].place_root[q];
                if (p->info[r].buffer < 0)
                    p->info[r].buffer = value_buffer(p, r, s);
            }
            if (!p->info[m].stored || p->info[m].output >= 0 || p->info[m].root != m)
                continue;
            p->info[m].buffer = value_buffer(p, m, s);
        }
        const IrValue *v = &p->v[id];
        if (fi->keep_im2col) /* every sample's, until the weight gradient reads them */
            fi->scratch = new_buffer(p, conv_scratch(p, v) * elem, 0, s, -1);
        else if (fi->direct_conv)
            fi->scratch = new_buffer(p, 0, dconv_scratch(p, v) * elem, s, -1);
        else if (is_conv(v) && fi->im2col_from < 0)
            fi->scratch = new_buffer(p, 0, conv_scratch(p, v) * elem, s, -1);
    }
    /* lifetimes: a buffer lives to the last step reading it (through aliases) */
    for (IrId id = 0; id < p->n; id++) {
        const IrValue *v = &p->v[id];
        int s = stepof[id];
        if (s < 0)
            continue;
        for (int k = 0; k < ir_op_arity(v->op); k++) {
            int b = p->info[p->info[v->in[k]].root].buffer;
            if (b >= 0 && p->buf[b].last < s)
                p->buf[b].last = s;
        }
    }
    for (IrId id = 0; id < p->n; id++) { /* kept im2col: live to its reader */
        IrId u = p->info[id].im2col_from;
        if (u >= 0 && p->buf[p->info[u].scratch].last < stepof[id])
            p->buf[p->info[u].scratch].last = stepof[id];
    }
    place(p);
    status = 0;
done:
    free(canon);
    free(sealed);
    free(stepof);
    if (status != 0)
        fuse_free(p);
    return status;
}

void fuse_free(FusePlan *p)
{
    if (p->groups)
        for (int g = 0; g < p->ngroups; g++)
            free(p->groups[g].member);
    free(p->groups);
    free(p->v);
    free(p->info);
    free(p->out);
    free(p->steps);
    free(p->buf);
    memset(p, 0, sizeof *p);
}

void fuse_dump(FILE *out, const FusePlan *p)
{
    for (int s = 0; s < p->nsteps; s++) {
        const FuseStep *st = &p->steps[s];
        if (st->kind == FUSE_STEP_LOOP) {
            const FuseGroup *g = &p->groups[st->group];
            fprintf(out, "step %d loop", s); /* a * marks a stored member */
            for (int i = 0; i < g->n; i++)
                fprintf(out, " %%%d %s%s", g->member[i], ir_op_name(p->v[g->member[i]].op),
                        p->info[g->member[i]].stored ? "*" : "");
            fputc('\n', out);
        } else {
            fprintf(out, "step %d %s %%%d %s%s\n", s, st->kind == FUSE_STEP_KERNEL ? "kernel" : "store",
                    st->value, ir_op_name(p->v[st->value].op), p->info[st->value].put ? " put" : "");
        }
    }
    for (IrId id = 0; id < p->n; id++) /* FUSE_CONCAT_IN_PLACE */
        for (int i = 0; i < p->info[id].nplace; i++)
            fprintf(out, "place %%%d %s in %%%d at %lld\n", id, ir_op_name(p->v[id].op), p->info[id].place_root[i],
                    (long long)p->info[id].place_at[i]);
    for (int i = 0; i < p->nbuf; i++) {
        const FuseBuffer *b = &p->buf[i];
        fprintf(out, "buffer %d %%%d size %lld*B+%lld at %lld*B+%lld live %d..%d\n", i, b->value,
                (long long)b->a, (long long)b->b, (long long)b->at_a, (long long)b->at_c, b->def, b->last);
    }
}

/* Value u in its root's memory: the stride of each of its dims, of its
 * samples (*per_sample), and its first element (*off), composed through a
 * chain of FUSE_SLICE views (SLICEs, and RESHAPEs that drop unit dims) down
 * to a value whose memory is contiguous: its own, or a part of its place'th
 * FUSE_JOIN (FuseInfo.nplace), whose samples are longer. */
static void view_layout(const FusePlan *p, IrId u, int place, int64_t *stride, int64_t *per_sample, int64_t *off)
{
    const IrValue *v = &p->v[u];
    const FuseInfo *fi = &p->info[u];
    if (fi->kind != FUSE_SLICE) {
        int64_t acc = 1;
        for (int j = v->shape.rank - 1; j >= 0; j--) {
            stride[j] = acc;
            acc *= v->shape.dim[j];
        }
        *per_sample = fi->nplace > 0 ? fuse_size(&p->v[fi->place_root[place]]) : acc;
        *off = fi->nplace > 0 ? fi->place_at[place] : 0;
        return;
    }
    const IrValue *src = &p->v[v->in[0]];
    int64_t s[IR_MAX_RANK];
    view_layout(p, v->in[0], 0, s, per_sample, off);
    if (v->op == IR_SLICE) { /* the same rank as its source */
        for (int j = 0; j < v->shape.rank; j++) {
            stride[j] = s[j];
            *off += v->slice[j][0] * s[j];
        }
    } else { /* RESHAPE: the source's dims but those of extent 1 (drops_unit_dims) */
        int k = 0;
        for (int j = 0; j < src->shape.rank; j++)
            if (src->shape.dim[j] != 1)
                stride[k++] = s[j];
    }
}

void fuse_place_strides(const FusePlan *p, IrId u, int place, const IrValue *space, int64_t *out)
{
    const IrValue *v = &p->v[u];
    int64_t stride[IR_MAX_RANK], per_sample, off;
    view_layout(p, u, place, stride, &per_sample, &off);
    const IrShape *s = &v->shape;
    int k = 0;
    if (space->batched)
        out[k++] = v->batched ? per_sample : 0;
    for (int d = 0; d < space->shape.rank; d++) {
        int j = d - (space->shape.rank - s->rank);
        out[k++] = j < 0 || s->dim[j] == 1 ? 0 : stride[j];
    }
}

void fuse_strides_of(const FusePlan *p, IrId u, const IrValue *space, int64_t *out)
{
    fuse_place_strides(p, u, 0, space, out);
}

int64_t fuse_place_offset(const FusePlan *p, IrId u, int place)
{
    int64_t stride[IR_MAX_RANK], per_sample, off;
    view_layout(p, u, place, stride, &per_sample, &off);
    return off;
}

int64_t fuse_slice_offset(const FusePlan *p, IrId u)
{
    return fuse_place_offset(p, u, 0);
}

void fuse_strides(const IrShape *s, int batched, const IrValue *space, int64_t *out)
{
    int64_t natural[IR_MAX_RANK], acc = 1;
    for (int j = s->rank - 1; j >= 0; j--) {
        natural[j] = acc;
        acc *= s->dim[j];
    }
    int k = 0;
    if (space->batched)
        out[k++] = batched ? acc : 0;
    for (int d = 0; d < space->shape.rank; d++) {
        int j = d - (space->shape.rank - s->rank);
        out[k++] = j < 0 || s->dim[j] == 1 ? 0 : natural[j];
    }
}

FuseMatrix fuse_matrix(const IrValue *v, int trans, int right)
{
    FuseMatrix m = { .trans = trans, .batched = v->batched, .size = fuse_size(v) };
    int64_t r = v->shape.rank == 2 ? v->shape.dim[0] : right ? v->shape.dim[0] : 1;
    int64_t c = v->shape.rank == 2 ? v->shape.dim[1] : right ? 1 : v->shape.dim[0];
    m.ld = c;
    m.rows = trans ? c : r;
    m.cols = trans ? r : c;
    return m;
}
