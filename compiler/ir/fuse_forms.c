/* fuse_forms.c - the loop nests, GEMM calls and output copies of a fusion
 * plan (fuse.h): what the CPU and GPU back ends emit, decided once. */
#include <stdlib.h>

#include "fuse_int.h"

static void add_stream(FuseNest *n, const FusePlan *p, const IrValue *space, IrId u, int store, int place)
{
    for (int i = 0; i < n->ns; i++)
        if (n->st[i].value == u && n->st[i].store == store && n->st[i].place == place)
            return;
    FuseStream *s = &n->st[n->ns++];
    s->value = u;
    s->store = store;
    s->place = place;
    fuse_place_strides(p, u, place, space, s->stride);
}

/* Drops dims of extent 1 and merges each dim into the next inner one where
 * every stream steps through both as one contiguous run. */
static void collapse(FuseNest *n)
{
    int k = 0;
    for (int d = 0; d < n->nd; d++) { /* drop extent-1 dims */
        if (n->ext[d] == 1 && !n->batch[d])
            continue;
        n->ext[k] = n->ext[d];
        n->batch[k] = n->batch[d];
        for (int s = 0; s < n->ns; s++)
            n->st[s].stride[k] = n->st[s].stride[d];
        k++;
    }
    n->nd = k;
    for (int d = n->nd - 2; d >= 0; d--) {
        int ok = 1; /* dim d + 1 is never the batch (always dim 0): ext is exact */
        for (int s = 0; s < n->ns && ok; s++)
            ok = n->st[s].stride[d] == n->st[s].stride[d + 1] * n->ext[d + 1];
        if (!ok)
            continue;
        n->ext[d] *= n->ext[d + 1];
        for (int s = 0; s < n->ns; s++)
            n->st[s].stride[d] = n->st[s].stride[d + 1];
        for (int e = d + 1; e < n->nd - 1; e++) { /* remove dim d + 1 */
            n->ext[e] = n->ext[e + 1];
            n->batch[e] = n->batch[e + 1];
            for (int s = 0; s < n->ns; s++)
                n->st[s].stride[e] = n->st[s].stride[e + 1];
        }
        n->nd--;
    }
}

int fuse_nest(const FusePlan *p, const FuseGroup *g, FuseNest *n)
{
    const IrValue *space = &p->v[g->last];
    *n = (FuseNest){ 0 };
    /* at most 3 operands read + a store at each place each */
    n->st = calloc((3 + FUSE_MAX_PLACES) * (size_t)g->n + 1, sizeof *n->st);
    if (!n->st)
        return -1;
    if (space->batched) {
        n->ext[n->nd] = 1;
        n->batch[n->nd++] = 1;
    }
    for (int d = 0; d < space->shape.rank; d++)
        n->ext[n->nd++] = space->shape.dim[d];
    for (int i = 0; i < g->n; i++) {
        const IrValue *v = &p->v[g->member[i]];
        for (int k = 0; k < ir_op_arity(v->op); k++) {
            IrId u = v->in[k];
            const FuseInfo *ui = &p->info[u];
            if ((ui->kind == FUSE_ELEM && ui->group == p->info[g->member[i]].group) || ui->kind == FUSE_SCALAR)
                continue; /* computed in this iteration, or a constant */
            add_stream(n, p, space, u, 0, 0);
        }
    }
    for (int i = 0; i < g->n; i++) {
        const FuseInfo *fi = &p->info[g->member[i]];
        for (int place = 0; fi->stored && (place == 0 || place < fi->nplace); place++)
            add_stream(n, p, space, g->member[i], 1, place);
    }
    collapse(n);
    return 0;
}

void fuse_nest_free(FuseNest *n)
{
    free(n->st);
    n->st = NULL;
}

/* MATMUL: [m,n]@[n], [m,n]@[n,k], [n]@[n,k], either operand maybe transposed;
 * OUTER: C [m, n] = A [m, k] B [n, k]^T (vectors: k = 1), summed over the
 * batch into a uniform result. */
FuseGemm fuse_gemm(const FusePlan *p, IrId id)
{
    const IrValue *v = &p->v[id];
    int acc = v->op == IR_OUTER_ADD; /* (acc, a, b): C is acc's memory, added to */
    FuseGemm m = { .count = { 0, 1 }, .a = v->in[acc], .b = v->in[acc + 1], .c = id, .beta = acc };
    if (v->op == IR_OUTER || acc) {
        const IrValue *av = &p->v[m.a], *bv = &p->v[m.b];
        int64_t M = av->shape.dim[0], N = bv->shape.dim[0], K = av->shape.rank == 2 ? av->shape.dim[1] : 1;
        m.m[1] = M, m.n[1] = N, m.ldc = N;
        if (!v->batched && av->batched && bv->batched && K == 1) { /* G^T X: the batch is the inner dim */
            m.ta = 1, m.k[0] = 1, m.lda = M, m.ldb = N;
        } else {
            int any = av->batched || bv->batched;
            m.count[0] = any, m.count[1] = !any;
            m.tb = 1, m.k[1] = K, m.lda = m.ldb = K;
            m.sa = av->batched ? M * K : 0;
            m.sb = bv->batched ? N * K : 0;
            m.sc = v->batched ? M * N : 0;
        }
        return m;
    }
    const FuseInfo *fi = &p->info[id];
    FuseMatrix a = fuse_matrix(&p->v[v->in[0]], fi->trans[0], 0), b = fuse_matrix(&p->v[v->in[1]], fi->trans[1], 1);
    int64_t M = a.rows, K = a.cols, N = b.cols;
    m.m[1] = M, m.n[1] = N, m.k[1] = K, m.ta = a.trans, m.tb = b.trans;
    m.lda = a.ld, m.ldb = b.ld, m.ldc = N;
    if (!a.batched && !b.batched) {
    } else if (a.batched && !b.batched && !a.trans) { /* the samples' rows stacked: [B*M, K] */
        m.m[0] = M, m.m[1] = 0;
    } else if (!a.batched && b.batched && N == 1) { /* per sample op(A) x: X [B, K] op(A)^T */
        m = (FuseGemm){ .count = { 0, 1 }, .m = { 1, 0 }, .n = { 0, M }, .k = { 0, K }, .ta = 0, .tb = !a.trans,
                        .a = v->in[1], .lda = K, .b = v->in[0], .ldb = a.ld, .c = id, .ldc = M };
    } else { /* one small GEMM per sample */
        m.count[0] = 1, m.count[1] = 0;
        m.sa = a.batched ? a.size : 0;
        m.sb = b.batched ? b.size : 0;
        m.sc = M * N;
    }
    return m;
}

int *fuse_defining_steps(const FusePlan *p)
{
    int *def = calloc((size_t)p->n + 1, sizeof *def);
    if (!def)
        abort();
    for (int i = 0; i < p->n; i++)
        def[i] = -1;
    for (int s = 0; s < p->nsteps; s++) {
        const FuseStep *st = &p->steps[s];
        if (st->kind == FUSE_STEP_LOOP)
            for (int i = 0; i < p->groups[st->group].n; i++)
                def[p->groups[st->group].member[i]] = s;
        else
            def[st->value] = s;
    }
    return def;
}

/* The step after which value v's memory holds v, or -1 (a view): the step
 * defining v, seen through aliases; not its root's, which a SLICE_ADD
 * (fuse.c) shares with the earlier steps of its accumulation. */
static int written_at(const FusePlan *p, const int *def, IrId v)
{
    while (p->info[v].kind == FUSE_ALIAS)
        v = p->v[v].in[0];
    return def[v] >= 0 ? def[v] : def[p->info[v].root];
}

int *fuse_last_reads(const FusePlan *p, const int *def)
{
    int *last_read = calloc((size_t)p->n + 1, sizeof *last_read);
    if (!last_read)
        abort();
    for (int i = 0; i < p->n; i++)
        last_read[i] = -1;
    for (IrId v = 0; v < p->n; v++) {
        if (def[v] < 0)
            continue;
        for (int k = 0; k < 3; k++) {
            IrId a = p->v[v].in[k];
            if (a < 0)
                continue;
            IrId r = p->info[a].root >= 0 ? p->info[a].root : a;
            if (def[v] > last_read[r])
                last_read[r] = def[v];
        }
    }
    return last_read;
}

void fuse_ready_steps(const FusePlan *p, int *first, int *next)
{
    int *def = fuse_defining_steps(p);
    /* the caller may reduce a reported gradient in place at once, so it is
     * reported after the last step that reads its memory too */
    int *last_read = fuse_last_reads(p, def);
    for (int s = 0; s <= p->nsteps; s++)
        first[s] = -1;
    for (int i = p->nout - 1; i >= 0; i--) {
        IrId v = p->out[i].value;
        if (p->v[v].batched)
            continue;
        const FuseInfo *fi = &p->info[v];
        /* a scalar is in memory after its FUSE_STEP_STORE; one with none, and
         * anything not found, at the end, which is always late enough */
        int s = fi->kind == FUSE_SCALAR ? (def[v] >= 0 ? def[v] + 1 : p->nsteps)
              : fi->kind == FUSE_VIEW ? 0 : written_at(p, def, v) >= 0 ? written_at(p, def, v) + 1 : p->nsteps;
        IrId r = fi->root >= 0 ? fi->root : v;
        if (last_read[r] + 1 > s)
            s = last_read[r] + 1;
        next[i] = first[s];
        first[s] = i;
    }
    free(def);
    free(last_read);
}

void fuse_output_steps(const FusePlan *p, int *first, int *next)
{
    int *def = fuse_defining_steps(p);
    for (int s = 0; s <= p->nsteps; s++)
        first[s] = -1;
    for (int i = p->nout - 1; i >= 0; i--) { /* lists in output order */
        const FuseInfo *fi = &p->info[p->out[i].value];
        if (fi->kind == FUSE_SCALAR && def[fi->root] < 0)
            continue; /* fuse.c gives a scalar output a FUSE_STEP_STORE */
        if (fi->output == i)
            continue; /* computed in place: nothing to copy */
        int s = written_at(p, def, p->out[i].value) + 1;
        next[i] = first[s];
        first[s] = i;
    }
    free(def);
}
