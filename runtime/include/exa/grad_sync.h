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
 * two ranks).
 *
 * Sharded (exa_grad_sync_shard, data()'s optimiser split over the ranks as
 * ZeRO-1 does it: methods/data.c): rank k of the communicator receives only
 * its piece [off[k], off[k] + cnt[k]) of the sum.  A bucket's range is then
 * sent piece by piece to the ranks that own it (MPI_Isend/MPI_Irecv: Open
 * MPI's non-blocking reduce-scatter reduces the whole vector to rank 0 and
 * scatters it, twice the words of this), and finish adds the pieces a rank
 * received in rank order, so the result does not depend on when they came
 * (at two ranks a + b, the bits of the allreduce).  With the weighting
 * deferred (every rank's share equal) no pass weights the gradient: the
 * caller multiplies its piece of the sum by the share (the optimiser's step
 * does it inside its update: exa_sgd_step_scaled_*).
 *
 * Sharded on one node (ExaGradShard.shm): every rank's gradient lies in a
 * window they share (exa/node_shm.h) and nothing is sent.  The callbacks
 * only weight what is reported (unless deferred); finish sums the loss (the
 * synchronisation after which every rank's gradient is complete) and adds
 * this rank's piece of every rank's gradient straight from their memory, in
 * rank order: the same sum, the same bits.  The caller must not let a rank
 * write its gradient again before every rank's finish has read it (data()
 * has a barrier after the step: exa_node_shm_barrier). */
#ifndef EXA_GRAD_SYNC_H
#define EXA_GRAD_SYNC_H

#include <stdint.h>

#include "exa/comm.h"
#include "exa/node_shm.h"

/* Elements a bucket gathers before it is sent: 64 KiB of f32.  Small enough
 * that a small model's last layers go out while the first ones are still
 * differentiated, large enough that the per-collective latency stays small
 * against its bytes. */
enum { EXA_GRAD_BUCKET = 16384 };

typedef struct ExaGradRange {
    int64_t lo, hi;
} ExaGradRange;

/* A sharded sum (above): the pieces of the ranks, in rank order and
 * contiguous (off[0] = 0, off[k+1] = off[k] + cnt[k], the last ending at
 * the gradient's end), and where this rank's piece of the sum goes. */
typedef struct ExaGradShard {
    void *out;          /* cnt[rank] reals; on one node NULL: not added (the caller adds the parts, grads[k] + off[rank]) */
    const int *cnt, *off;
    int defer_weight;   /* every rank's share is the same: not applied (exa_grad_sync_sharded) */
    /* on one node: the window holding every rank's gradient (the sum's grad
     * must be this rank's, grads[rank]); NULL: the pieces go through MPI */
    const ExaNodeShm *shm;
    void *const *grads;
} ExaGradShard;

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
    const ExaGradShard *shard; /* armed by exa_grad_sync_shard, kept by begin */
    void *scratch;            /* sharded: what the other ranks sent, a row of cnt[rank] reals per rank */
    int64_t scratch_cap;      /* bytes */
    int shard_done;           /* finish wrote shard->out ... */
    double shard_scale;       /* ... to be multiplied by this */
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
/* The sums begun after this call sharded as sh says (NULL: whole again);
 * sh must stay valid while armed. */
void exa_grad_sync_shard(ExaGradSync *s, const ExaGradShard *sh);
/* After finish: 1 when it wrote this rank's piece of the sum into the
 * shard's out, which the caller multiplies by *scale (the deferred share, or
 * 1); 0 when no sharded sum ran since the last call (the caller's sum went
 * the blocking way, whole). */
int exa_grad_sync_sharded(ExaGradSync *s, double *scale);

#endif
