/* data.c - data parallelism, decompose = data() (and the default): every
 * rank of the method's communicator evaluates the loss and gradient on its
 * share of the mini-batch, the gradients are averaged (weighted by the
 * shares) and the train block's optimiser takes the step, identically on
 * every rank (the sum through the method's reducer, exa/reduce.h: NCCL on
 * GPUs).  The whole method in three short functions: the worked example of
 * docs/design.md, "Adding a decomposition method". */
#include <stdio.h>
#include <stdlib.h>

#include "solver.h"

typedef SteppedMethod Data; /* the head, then the train block's optimiser */

/* The mini-batch loss: rows shared over the method's communicator
 * (solver_split_loss), and the optimiser's step with it. */
static double data_step(ExaMethod *m, int64_t begin, int64_t count)
{
    return stepper_step(&((Data *)m)->global, m->r, solver_split_loss_fn, m, begin, count);
}

static void data_free(ExaMethod *m)
{
    stepper_free(&((Data *)m)->global);
    exa_reducer_close(m->red);
    free(m);
}

static ExaMethod *data_create(ExaRun *r, const ExaCall *entry, const ExaComm *comm, char *err,
                              size_t errlen)
{
    if (exa_run_check_shards(r, comm->size, "rank", err, errlen) != 0)
        return NULL;
    Data *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (entry)
        exa_call_print(entry, d->base.name, sizeof d->base.name);
    else
        snprintf(d->base.name, sizeof d->base.name, "no decomposition");
    if (stepper_init(&d->global, r, d->base.name, err, errlen) != 0) {
        data_free(&d->base);
        return NULL;
    }
    d->base.red = solver_reducer(r, comm); /* the gradients' sum: NCCL on GPUs that have it */
    return &d->base;
}

const ExaMethodOps exa_method_data = {
    .name = "data", .create = data_create, .step = data_step, .loss = solver_split_loss,
    .save = stepper_save, .load = stepper_load, .free = data_free,
};
