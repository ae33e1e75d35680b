/* grad_sync.c - the data-parallel gradient sum in buckets, overlapped with
 * the backward pass (exa/grad_sync.h). */
#include "exa/grad_sync.h"

#include <stdlib.h>
#include <string.h>

#include "exa/abi.h"

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

/* Weights every pending range by this rank's share and starts its sum. */
static void flush(ExaGradSync *s)
{
    for (int i = 0; i < s->npending; i++) {
        int64_t lo = s->pending[i].lo, len = s->pending[i].hi - lo;
        if (s->weight != 1) { /* as the blocking sum does: w * g in double */
            if (s->type == EXA_REAL_F32)
                for (float *g = (float *)s->grad + lo, *end = g + len; g < end; g++)
                    *g = (float)(s->weight * (double)*g);
            else
                for (double *g = (double *)s->grad + lo, *end = g + len; g < end; g++)
                    *g = s->weight * *g;
        }
        if (s->nreq == s->reqcap) {
            s->reqcap = s->reqcap ? 2 * s->reqcap : 8;
            s->req = grow(s, s->req, (size_t)s->reqcap * sizeof *s->req);
        }
        s->req[s->nreq++] = exa_comm_iallreduce_sum(s->comm, (char *)s->grad + (size_t)lo * (size_t)s->type,
                                                    (size_t)len, s->type);
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
    if (s->nreq == s->reqcap) {
        s->reqcap = s->reqcap ? 2 * s->reqcap : 8;
        s->req = grow(s, s->req, (size_t)s->reqcap * sizeof *s->req);
    }
    s->req[s->nreq++] = exa_comm_iallreduce_sum(s->comm, &s->loss, 1, EXA_REAL_F64);
    exa_comm_wait_all(s->comm, s->req, s->nreq);
    s->nreq = 0;
    return s->loss;
}

void exa_grad_sync_free(ExaGradSync *s)
{
    free(s->pending);
    free(s->seen);
    free(s->req);
    memset(s, 0, sizeof *s);
}
