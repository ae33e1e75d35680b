/* grad_sync.c - the data-parallel gradient sum in buckets, overlapped with
 * the backward pass (exa/grad_sync.h). */
#include "exa/grad_sync.h"

#include <stdlib.h>
#include <string.h>

#include "exa/abi.h"
#include "exa/vec_clones.h"

static void *grow(const ExaGradSync *s, void *p, size_t bytes)
{
    void *q = realloc(p, bytes);
    if (!q)
        exa_comm_abort(s->comm, "out of memory for the gradient buckets");
    return q;
}

static void reserve_ranges(ExaGradSync *s)
{
    if (s->npending < s->cap && s->nseen < s->cap)
        return;
    s->cap = s->cap ? 2 * s->cap : 16;
    s->pending = grow(s, s->pending, (size_t)s->cap * sizeof *s->pending);
    s->seen = grow(s, s->seen, (size_t)s->cap * sizeof *s->seen);
}

/* Adds [lo, hi) to the sorted, merged list r[0..*n); returns -1 when it
 * overlaps a range already there. */
static int insert(ExaGradRange *r, int *n, int64_t lo, int64_t hi)
{
    int at = 0;
    while (at < *n && r[at].hi < lo)
        at++;
    if (at < *n && r[at].lo < hi && lo < r[at].hi)
        return -1;
    if (at < *n && r[at].hi == lo) { /* joins the range before it */
        r[at].hi = hi;
        if (at + 1 < *n && r[at + 1].lo < hi)
            return -1;
        if (at + 1 < *n && r[at + 1].lo == hi) {
            r[at].hi = r[at + 1].hi;
            memmove(r + at + 1, r + at + 2, (size_t)(*n - at - 2) * sizeof *r);
            (*n)--;
        }
        return 0;
    }
    if (at < *n && r[at].lo == hi) { /* joins the range after it */
        r[at].lo = lo;
        return 0;
    }
    memmove(r + at + 1, r + at, (size_t)(*n - at) * sizeof *r);
    r[at] = (ExaGradRange){ lo, hi };
    (*n)++;
    return 0;
}

static void add_req(ExaGradSync *s, MPI_Request q)
{
    if (s->nreq == s->reqcap) {
        s->reqcap = s->reqcap ? 2 * s->reqcap : 8;
        s->req = grow(s, s->req, (size_t)s->reqcap * sizeof *s->req);
    }
    s->req[s->nreq++] = q;
}

/* The point-to-point messages on the method's communicator are matched in
 * the order they were started (every rank flushes the same ranges in the
 * same order); a tag of their own keeps them apart from others' messages. */
enum { SHARD_TAG = 0x5a3d };

/* Sharded: every other rank's piece of [lo, hi) sent to it, and this rank's
 * piece received from every other rank into its row of the scratch. */
static void send_pieces(ExaGradSync *s, int64_t lo, int64_t hi)
{
    const ExaGradShard *sh = s->shard;
    const ExaComm *c = s->comm;
    size_t e = (size_t)s->type;
    int me = c->rank;
    for (int k = 0; k < c->size; k++) {
        int64_t a = lo > sh->off[k] ? lo : sh->off[k], end = (int64_t)sh->off[k] + sh->cnt[k];
        int64_t b = hi < end ? hi : end;
        if (k != me && a < b)
            add_req(s, exa_comm_isend(c, (char *)s->grad + (size_t)a * e, (size_t)(b - a) * e, k, SHARD_TAG));
    }
    int64_t mine = sh->off[me], end = mine + sh->cnt[me];
    int64_t a = lo > mine ? lo : mine, b = hi < end ? hi : end;
    for (int k = 0; k < c->size && a < b; k++)
        if (k != me)
            add_req(s, exa_comm_irecv(c, (char *)s->scratch + ((size_t)k * (size_t)sh->cnt[me] + (size_t)(a - mine)) * e,
                                      (size_t)(b - a) * e, k, SHARD_TAG));
}

/* The passes over the gradient: the widest vectors the CPU has (vec_clones.h). */
EXA_VEC_CLONES static void add2_f32(float *restrict o, const float *restrict x, const float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        o[i] = x[i] + y[i];
}

EXA_VEC_CLONES static void add2_f64(double *restrict o, const double *restrict x, const double *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        o[i] = x[i] + y[i];
}

EXA_VEC_CLONES static void acc_f32(float *restrict o, const float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        o[i] += y[i];
}

EXA_VEC_CLONES static void acc_f64(double *restrict o, const double *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        o[i] += y[i];
}

/* as the blocking sum does: w * g in double */
EXA_VEC_CLONES static void weigh_f32(float *g, double w, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        g[i] = (float)(w * (double)g[i]);
}

EXA_VEC_CLONES static void weigh_f64(double *g, double w, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        g[i] = w * g[i];
}

/* Sharded, after every piece arrived: this rank's piece of the sum, the
 * ranks' parts added in rank order (its own from the gradient), the first
 * two in one pass. */
static void add_pieces(ExaGradSync *s)
{
    const ExaGradShard *sh = s->shard;
    int me = s->comm->rank, P = s->comm->size;
    int64_t n = sh->cnt[me];
    size_t e = (size_t)s->type;
    const char *src[2] = { NULL, NULL };
    for (int k = 0; k < P; k++) {
        const char *part = k == me  ? (const char *)s->grad + (size_t)sh->off[me] * e
                         : sh->shm ? (const char *)sh->grads[k] + (size_t)sh->off[me] * e
                                   : (const char *)s->scratch + (size_t)k * (size_t)n * e;
        if (k == 0)
            src[0] = part;
        else if (k == 1 && s->type == EXA_REAL_F32)
            add2_f32(sh->out, (const float *)src[0], (const float *)part, n);
        else if (k == 1)
            add2_f64(sh->out, (const double *)src[0], (const double *)part, n);
        else if (s->type == EXA_REAL_F32)
            acc_f32(sh->out, (const float *)part, n);
        else
            acc_f64(sh->out, (const double *)part, n);
    }
    if (P == 1) /* one rank: its own gradient */
        memcpy(sh->out, src[0], (size_t)n * e);
}

/* Weights every pending range by this rank's share (unless the shard defers
 * it) and starts its sum. */
static void flush(ExaGradSync *s)
{
    int weigh = s->weight != 1 && !(s->shard && s->shard->defer_weight);
    for (int i = 0; i < s->npending; i++) {
        int64_t lo = s->pending[i].lo, len = s->pending[i].hi - lo;
        if (weigh && s->type == EXA_REAL_F32)
            weigh_f32((float *)s->grad + lo, s->weight, len);
        else if (weigh)
            weigh_f64((double *)s->grad + lo, s->weight, len);
        if (!s->shard)
            add_req(s, exa_comm_iallreduce_sum(s->comm, (char *)s->grad + (size_t)lo * (size_t)s->type,
                                               (size_t)len, s->type));
        else if (!s->shard->shm) /* on one node the owner reads it where it lies (finish) */
            send_pieces(s, lo, lo + len);
        s->buckets++;
    }
    s->npending = 0;
    s->pending_size = 0;
}

void exa_grad_sync_begin(ExaGradSync *s, const ExaComm *comm, void *grad, int64_t n, ExaReal type,
                         double weight, int64_t bucket)
{
    s->comm = comm;
    s->grad = grad;
    s->n = n;
    s->type = type;
    s->weight = weight;
    s->bucket = bucket > 0 ? bucket : 1;
    s->npending = s->nseen = s->nreq = s->buckets = 0;
    s->pending_size = 0;
    s->shard_done = 0;
    if (s->shard) {
        const ExaGradShard *sh = s->shard;
        int64_t at = 0;
        for (int k = 0; k < comm->size; k++) {
            if (sh->off[k] != at || sh->cnt[k] < 0)
                exa_comm_abort(comm, "the gradient's pieces are not contiguous in rank order");
            at += sh->cnt[k];
        }
        if (at != n)
            exa_comm_abort(comm, "the gradient's pieces cover %lld of its %lld elements", (long long)at,
                           (long long)n);
        if (sh->shm && grad != sh->grads[comm->rank])
            exa_comm_abort(comm, "the gradient to be summed is not this rank's in the shared window");
        int64_t bytes = sh->shm ? 0 : (int64_t)comm->size * sh->cnt[comm->rank] * (int64_t)type;
        if (bytes > s->scratch_cap) {
            s->scratch = grow(s, s->scratch, (size_t)bytes);
            s->scratch_cap = bytes;
        }
    }
}

void exa_grad_sync_ready(void *ctx, int slot, int64_t offset, int64_t count)
{
    ExaGradSync *s = ctx;
    if (slot != EXA_OUT_LOSS_GRAD_GRAD || count <= 0)
        return;
    if (offset < 0 || offset + count > s->n)
        exa_comm_abort(s->comm, "the generated code reported gradients [%lld, %lld) of %lld: "
                                "was it built by a matching exac?",
                       (long long)offset, (long long)(offset + count), (long long)s->n);
    reserve_ranges(s);
    if (insert(s->seen, &s->nseen, offset, offset + count) != 0)
        exa_comm_abort(s->comm, "the generated code reported gradients [%lld, %lld) twice",
                       (long long)offset, (long long)(offset + count));
    insert(s->pending, &s->npending, offset, offset + count);
    s->pending_size += count;
    if (s->pending_size >= s->bucket)
        flush(s);
    /* MPI moves non-blocking collectives along only inside its calls */
    exa_comm_progress(s->comm, s->req, s->nreq);
}

double exa_grad_sync_finish(ExaGradSync *s, double loss)
{
    /* what was never reported, so the sum is whole whatever the code did */
    int64_t at = 0;
    for (int i = 0; i <= s->nseen; i++) {
        int64_t end = i < s->nseen ? s->seen[i].lo : s->n;
        if (end > at) {
            reserve_ranges(s);
            insert(s->pending, &s->npending, at, end);
        }
        if (i < s->nseen)
            at = s->seen[i].hi;
    }
    flush(s);
    s->loss = loss;
    if (s->shard && s->shard->shm) { /* every rank's gradient complete after the loss's sum */
        exa_node_shm_fence(s->shard->shm);
        s->loss = exa_comm_sum_double(s->comm, loss);
        exa_node_shm_fence(s->shard->shm);
    } else {
        add_req(s, exa_comm_iallreduce_sum(s->comm, &s->loss, 1, EXA_REAL_F64));
        exa_comm_wait_all(s->comm, s->req, s->nreq);
        s->nreq = 0;
    }
    if (s->shard) {
        if (s->shard->out || !s->shard->shm)
            add_pieces(s);
        s->shard_done = 1;
        s->shard_scale = s->shard->defer_weight ? s->weight : 1;
    }
    return s->loss;
}

void exa_grad_sync_shard(ExaGradSync *s, const ExaGradShard *sh)
{
    s->shard = sh;
}

int exa_grad_sync_sharded(ExaGradSync *s, double *scale)
{
    int done = s->shard_done;
    s->shard_done = 0;
    *scale = done ? s->shard_scale : 1;
    return done;
}

void exa_grad_sync_free(ExaGradSync *s)
{
    free(s->pending);
    free(s->seen);
    free(s->req);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}
