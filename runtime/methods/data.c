/* data.c - data parallelism, decompose = data() (and the default): every
 * rank of the method's communicator evaluates the loss and gradient on its
 * share of the mini-batch, the gradients are averaged (weighted by the
 * shares) and the train block's optimiser takes the step, identically on
 * every rank (the sum through the method's reducer, exa/reduce.h: NCCL on
 * GPUs).  The worked example of docs/design.md, "Adding a decomposition
 * method".
 *
 * Sharded (ZeRO-1; the default on more than one CPU rank with SGD or Adam,
 * EXA_DATA_SHARD): rank k owns the k-th contiguous piece of the parameter
 * vector (a part, part.h, of one block).  The gradient's sum is
 * reduce-scattered in buckets during the backward pass (exa/grad_sync.h:
 * each rank receives only the sum of its piece), each rank steps the
 * optimiser on its piece alone (its state is the piece's: half the update
 * at two ranks) and the pieces are all-gathered into the whole parameters
 * for the next step.  The words sent are the allreduce's; what goes is the
 * optimiser's update over the other ranks' pieces and the pass that weighted
 * the gradient by the rank's share (with equal shares the step multiplies
 * by it inside its update).  Each coordinate is updated by the same
 * arithmetic as unsharded, the sum's parts added in rank order: at two ranks
 * the parameters are bit-identical to the unsharded path.  Checkpoints hold
 * the state whole (stepper_save gathers it), so they resume at any rank
 * count and either way.
 *
 * Sharded on one node (every rank of the run on one node, EXA_DATA_SHM):
 * the gradients and one copy of the parameters live in a window the ranks
 * share (exa/node_shm.h).  The owner of a piece adds it from every rank's
 * gradient where it lies (grad_sync.c), steps it in the one copy, and a
 * barrier ends the step: nothing goes through the MPI transport but the
 * loss's sum (after which every gradient is complete) and the barrier (after
 * which every piece is stepped and no gradient is read any more).  The run's
 * parameters (r->theta) point into the window from the first step until the
 * method is freed, when they are copied back.  At two ranks with SGD and
 * no clipping the two parts are not added first: the step adds them inside
 * its update (Stepper.sum2, exa_sgd_step_sum2_scaled_*), one pass over the
 * piece instead of two.  The same arithmetic in the same order: the same
 * bits as the pieces sent through MPI. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "part.h"
#include "solver.h"

typedef struct Data {
    SteppedMethod s;     /* the head, then the train block's optimiser (on the piece when sharded) */
    ExaParamPart *piece; /* this rank's piece when sharded, else NULL */
    int *cnt, *off;      /* the pieces of the ranks */
    ExaGradShard shard;  /* the sum's sharding, armed around each step's loss */
    /* sharded on one node: the window (rank k's segment: its gradient; rank
     * 0's then the parameters), open when on; the run's own parameters while
     * r->theta points into the window (from the first step) */
    ExaNodeShm shm;
    int shm_on;
    void *theta_own;
} Data;

/* Bytes of a gradient in the window: whole cache lines. */
static size_t grad_bytes(const ExaRun *r)
{
    return ((size_t)r->n * (size_t)r->elem + 63) / 64 * 64;
}

/* The mini-batch loss: rows shared over the method's communicator
 * (solver_split_loss), and its gradient reduce-scattered into this rank's
 * piece (grad_piece) with the share left to the step where the shares are
 * equal; where the sum went the blocking way (exa_run_loss_reduced:
 * EXA_GRAD_BUCKET=0, batch statistics, fewer rows than ranks) the whole sum's
 * piece is taken. */
static double piece_loss(void *ctx, const void *theta, void *grad_piece, int64_t begin, int64_t count,
                         ExaShard mode)
{
    (void)mode;
    Data *d = ctx;
    ExaRun *r = d->s.base.r;
    int me = d->s.base.comm.rank;
    void *grad = d->shm_on ? d->shm.seg[me] : r->grad;
    /* two ranks on one node, SGD, no clipping (which needs the sum's norm):
     * the step adds the two parts where they lie, in its update (Stepper.sum2) */
    int fuse = d->shm_on && d->s.base.comm.size == 2 && d->s.global.opt.spec.kind == OPT_SGD && !(r->clip > 0);
    d->shard.out = fuse ? NULL : grad_piece;
    d->shard.defer_weight = count % d->s.base.comm.size == 0; /* exa_data_shard: equal shares */
    exa_grad_sync_shard(&r->sync, &d->shard);
    double loss = solver_split_loss(&d->s.base, theta, grad, begin, count);
    exa_grad_sync_shard(&r->sync, NULL);
    double scale;
    if (!exa_grad_sync_sharded(&r->sync, &scale)) {
        part_pack(d->piece, r->elem, grad, grad_piece);
        scale = 1;
    } else if (fuse) {
        for (int k = 0; k < 2; k++)
            d->s.global.sum2[k] = (const char *)d->shm.seg[k] + (size_t)d->off[me] * (size_t)r->elem;
    }
    d->s.global.grad_scale = scale;
    return loss;
}

/* The step's end on one node: every piece stepped and every gradient read
 * (Stepper.publish). */
static void shm_publish(void *ctx)
{
    exa_node_shm_barrier(&((Data *)ctx)->shm);
}

/* From the first step on, the run's parameters are the window's one copy
 * (rank 0 copies them in: every rank's are the same, from the seed or a
 * checkpoint, by then). */
static void shm_take_theta(Data *d, ExaRun *r)
{
    void *shared = (char *)d->shm.seg[0] + grad_bytes(r);
    if (d->s.base.comm.rank == 0)
        memcpy(shared, r->theta, (size_t)r->n * (size_t)r->elem);
    exa_node_shm_barrier(&d->shm);
    d->theta_own = r->theta;
    r->theta = shared;
}

static double data_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Data *d = (Data *)m;
    if (d->shm_on && !d->theta_own)
        shm_take_theta(d, m->r);
    if (d->piece)
        return stepper_step(&d->s.global, m->r, piece_loss, d, begin, count);
    return stepper_step(&d->s.global, m->r, solver_split_loss_fn, m, begin, count);
}

static void data_free(ExaMethod *m)
{
    Data *d = (Data *)m;
    if (d->theta_own) { /* the run's own parameters again, as stepped (every rank is past the last barrier) */
        memcpy(d->theta_own, m->r->theta, (size_t)m->r->n * (size_t)m->r->elem);
        m->r->theta = d->theta_own;
    }
    exa_node_shm_close(&d->shm);
    stepper_free(&d->s.global);
    part_free(d->piece);
    free(d->cnt), free(d->off);
    exa_reducer_close(m->red);
    free(m);
}

/* EXA_DATA_SHARD: unset or 1, sharded where it can be; 0 not.  -1 with a
 * message in err for anything else. */
static int shard_wanted(char *err, size_t errlen)
{
    const char *v = getenv("EXA_DATA_SHARD");
    if (!v || !*v || !strcmp(v, "1"))
        return 1;
    if (!strcmp(v, "0"))
        return 0;
    snprintf(err, errlen, "exa: EXA_DATA_SHARD: '%s' is not 0 (the optimiser on every parameter on every "
                          "rank) or 1 (each rank steps its piece)", v);
    return -1;
}

/* EXA_DATA_SHM: unset, the sharded step in shared memory where it can be
 * (SHM_AUTO); 1 there or an error (SHM_ALWAYS; nothing to do where the
 * optimiser is not sharded); 0 through MPI.  -1 with a message for
 * anything else. */
enum { SHM_OFF, SHM_AUTO, SHM_ALWAYS };
static int shm_wanted(char *err, size_t errlen)
{
    const char *v = getenv("EXA_DATA_SHM");
    if (!v || !*v)
        return SHM_AUTO;
    if (!strcmp(v, "0") || !strcmp(v, "1"))
        return *v == '1' ? SHM_ALWAYS : SHM_OFF;
    snprintf(err, errlen, "exa: EXA_DATA_SHM: '%s' is not 0 (the gradient's pieces and the parameters sent "
                          "through MPI) or 1 (in memory the ranks of a node share)", v);
    return -1;
}

/* Why the sharded step cannot run in shared memory, or NULL when it may try
 * (the window may still fail: ranks on several nodes). */
static const char *shm_unfit(const ExaRun *r, const ExaComm *comm)
{
    if (comm != &r->world)
        return "data() runs nested in another strategy";
    if (r->prog->nbatchstats > 0) /* exa_run_stats_end: every rank writes them after the step */
        return "the model keeps batch statistics in its parameters";
    return NULL;
}

/* The pieces: the vector cut into comm->size contiguous runs as even as
 * whole 64-byte lines allow (the last takes the rest), none empty. */
static ExaParamPart *make_piece(Data *d, const ExaRun *r, const ExaComm *comm)
{
    int P = comm->size;
    int64_t n = r->n, u = n >= (int64_t)16 * P ? 64 / r->elem : 1, units = n / u;
    d->cnt = malloc((size_t)P * sizeof *d->cnt), d->off = malloc((size_t)P * sizeof *d->off);
    if (!d->cnt || !d->off)
        return NULL;
    int64_t at = 0;
    for (int k = 0; k < P; k++) {
        int64_t c = (units / P + (k < units % P)) * u;
        if (k == P - 1)
            c = n - at;
        d->off[k] = (int)at, d->cnt[k] = (int)c;
        at += c;
    }
    d->shard = (ExaGradShard){ .cnt = d->cnt, .off = d->off };
    PartBlock blk = { .base = 0, .unit = 1, .cnt = d->cnt, .off = d->off };
    return part_create(comm, n, &blk, 1);
}

static ExaMethod *data_create(ExaRun *r, const ExaCall *entry, const ExaComm *comm, char *err,
                              size_t errlen)
{
    if (exa_run_check_shards(r, comm->size, "rank", err, errlen) != 0)
        return NULL;
    int want = shard_wanted(err, errlen), shm = want < 0 ? 0 : shm_wanted(err, errlen);
    if (want < 0 || shm < 0)
        return NULL;
    Data *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (entry)
        exa_call_print(entry, d->s.base.name, sizeof d->s.base.name);
    else
        snprintf(d->s.base.name, sizeof d->s.base.name, "no decomposition");
    d->s.base.r = r; /* piece_loss's; exa_method_create sets it again */
    /* not on GPUs (the resident step keeps the whole vector on the device:
     * solver_global_step), nor for optimisers that need whole vectors, nor
     * where a rank's piece would be empty */
    if (want && comm->size > 1 && !r->gpu && part_optimiser_fits(r->prog) && r->n >= comm->size
        && r->n <= INT_MAX) {
        d->piece = make_piece(d, r, comm);
        if (!d->piece) {
            snprintf(err, errlen, "exa: out of memory for the pieces of %lld parameters", (long long)r->n);
            data_free(&d->s.base);
            return NULL;
        }
    }
    if (stepper_init_part(&d->s.global, r, d->s.base.name, d->piece, err, errlen) != 0) {
        data_free(&d->s.base);
        return NULL;
    }
    d->s.global.gather_each = d->piece != NULL; /* the next step's loss needs every piece */
    /* the run's own method (its communicator is the world, whose parameters
     * it may move into the window), on one node */
    const char *unfit = shm == SHM_OFF || !d->piece ? "" : shm_unfit(r, comm);
    int opened = unfit ? -1 : exa_node_shm_open(&d->shm, comm, grad_bytes(r), (size_t)r->n * (size_t)r->elem);
    if (opened > 0)
        unfit = opened == EXA_SHM_NODES ? "the ranks are not all on one node"
              : opened == EXA_SHM_ROOM  ? "the directory shared memory is mapped from (/dev/shm) is not writable "
                                          "or has not room for it"
                                        : "MPI could not make a shared window";
    if (shm == SHM_ALWAYS && d->piece && unfit) {
        snprintf(err, errlen, "exa: EXA_DATA_SHM: 1 asks for the sharded step in shared memory, but %s", unfit);
        data_free(&d->s.base);
        return NULL;
    }
    if (!unfit) {
        d->shm_on = 1;
        d->shard.shm = &d->shm;
        d->shard.grads = d->shm.seg;
        d->s.global.publish = shm_publish;
        d->s.global.publish_ctx = d;
    }
    d->s.base.red = solver_reducer(r, comm); /* the gradients' sum: NCCL on GPUs that have it */
    return &d->s.base;
}

const ExaMethodOps exa_method_data = {
    .name = "data", .create = data_create, .step = data_step, .loss = solver_split_loss,
    .save = stepper_save, .load = stepper_load, .free = data_free, .gather = stepper_method_gather,
};
