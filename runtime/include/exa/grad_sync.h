/* grad_sync.h - the data-parallel gradient sum, started in buckets while the
 * backward pass still runs (as PyTorch's DistributedDataParallel does).
 *
 * A generated loss_grad reports each parameter's gradient as soon as it is
 * final (ExaArgs.ready, exa/abi.h): the last layer's first.  exa_grad_sync_ready
 * is that callback: it weights the range by this rank's share of the rows
 * and adds it to the bucket being gathered; a bucket of at least `bucket`
 * elements is sent at once (MPI_Iallreduce, one per contiguous range), and
 * every callback lets MPI move the buckets in flight along.
 * exa_grad_sync_finish sends what is left (and anything never reported,
 * so a function that reports nothing still gives the full sum), sums the
 * loss alongside, and waits for all of it.
 *
 * Every rank must report the same ranges in the same order, which holds
 * when every rank runs the same generated function on at least one row
 * (the callbacks follow the code, not the data); the caller uses the
 * blocking sum when some rank has no rows.  The result equals the blocking
 * weighted sum up to the order MPI adds the ranks' parts (bit-identical at
 * two ranks). */
#ifndef EXA_GRAD_SYNC_H
#define EXA_GRAD_SYNC_H

#include <stdint.h>

#include "exa/comm.h"

/* Elements a bucket gathers before it is sent: 64 KiB of f32.  Small enough
 * that a small model's last layers go out while the first ones are still
 * differentiated, large enough that the per-collective latency stays small
 * against its bytes. */
enum { EXA_GRAD_BUCKET = 16384 };

typedef struct ExaGradRange {
    int64_t lo, hi;
} ExaGradRange;

typedef struct ExaGradSync {
    const ExaComm *comm;
    void *grad;
    ExaReal type;
    int64_t n;
    double weight;            /* this rank's share of the rows */
    int64_t bucket;
    ExaGradRange *pending;    /* reported, not yet sent (merged, sorted) */
    int npending;
    int64_t pending_size;
    ExaGradRange *seen;       /* everything reported (merged, sorted) */
    int nseen;
    int cap;                  /* of pending and of seen */
    MPI_Request *req;         /* in flight */
    int nreq, reqcap;
    int buckets;              /* collectives started in this call */
    double loss;              /* summed by finish */
} ExaGradSync;

/* Starts a sum of the n-element gradient grad (this rank's mean over its
 * rows, weighted by `weight` before it is summed). */
void exa_grad_sync_begin(ExaGradSync *s, const ExaComm *comm, void *grad, int64_t n, ExaReal type,
                         double weight, int64_t bucket);
/* ExaReadyFn (exa/abi.h): ctx is the ExaGradSync; only the gradient's slot
 * (EXA_OUT_LOSS_GRAD_GRAD) is summed. */
void exa_grad_sync_ready(void *ctx, int slot, int64_t offset, int64_t count);
/* Sends the rest, sums `loss` over the ranks with it and waits for all;
 * returns the summed loss.  s can be begun again afterwards. */
double exa_grad_sync_finish(ExaGradSync *s, double loss);
void exa_grad_sync_free(ExaGradSync *s);

#endif
