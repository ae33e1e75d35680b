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
 * count and either way. */
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
} Data;

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
    d->shard.out = grad_piece;
    d->shard.defer_weight = count % d->s.base.comm.size == 0; /* exa_data_shard: equal shares */
    exa_grad_sync_shard(&r->sync, &d->shard);
    double loss = solver_split_loss(&d->s.base, theta, r->grad, begin, count);
    exa_grad_sync_shard(&r->sync, NULL);
    double scale;
    if (!exa_grad_sync_sharded(&r->sync, &scale)) {
        part_pack(d->piece, r->elem, r->grad, grad_piece);
        scale = 1;
    }
    d->s.global.grad_scale = scale;
    return loss;
}

static double data_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Data *d = (Data *)m;
    if (d->piece)
        return stepper_step(&d->s.global, m->r, piece_loss, d, begin, count);
    return stepper_step(&d->s.global, m->r, solver_split_loss_fn, m, begin, count);
}

static void data_free(ExaMethod *m)
{
    Data *d = (Data *)m;
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
    int want = shard_wanted(err, errlen);
    if (want < 0)
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
    d->s.base.red = solver_reducer(r, comm); /* the gradients' sum: NCCL on GPUs that have it */
    return &d->s.base;
}

const ExaMethodOps exa_method_data = {
    .name = "data", .create = data_create, .step = data_step, .loss = solver_split_loss,
    .save = stepper_save, .load = stepper_load, .free = data_free, .gather = stepper_method_gather,
};
