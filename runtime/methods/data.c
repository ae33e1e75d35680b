/* data.c - data parallelism, decompose = data() (and the default): every
 * rank of the method's communicator evaluates the loss and gradient on its
 * share of the mini-batch, the gradients are averaged (weighted by the
 * shares) and the train block's optimiser takes the step, identically on
 * every rank.  The whole method in four functions: the worked example of
 * docs/design.md, "Adding a decomposition method". */
#include <stdio.h>
#include <stdlib.h>

#include "solver.h"

typedef struct Data {
    ExaMethod base;          /* first: the interface's head */
    Optimizer opt;           /* the train block's optimiser */
    double *x, *g;           /* n doubles: quasi-Newton and trust-region copies */
    void *stage_theta, *stage_grad;
} Data;

/* The mini-batch loss, rows shared over the method's communicator. */
static double data_loss_fn(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count,
                           ExaShard mode)
{
    Data *d = ctx;
    return exa_run_loss_on(d->base.r, &d->base.comm, theta, grad, begin, count, mode);
}

static double data_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count)
{
    return data_loss_fn(m, theta, grad, begin, count, EXA_SHARD_SPLIT);
}

static double data_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Data *d = (Data *)m;
    Objective obj = { .r = m->r, .loss = data_loss_fn, .ctx = d, .begin = begin, .count = count,
                      .mode = EXA_SHARD_SPLIT, .stage_theta = d->stage_theta, .stage_grad = d->stage_grad };
    return solver_global_step(&d->opt, &obj, d->x, d->g);
}

static void data_save(ExaMethod *m, ExaStateList *l)
{
    solver_save(&((Data *)m)->opt, m->r, "global", l);
}

static void data_load(ExaMethod *m)
{
    solver_load(&((Data *)m)->opt);
}

static void data_free(ExaMethod *m)
{
    Data *d = (Data *)m;
    solver_free(&d->opt);
    free(d->x), free(d->g), free(d->stage_theta), free(d->stage_grad);
    free(d);
}

static ExaMethod *data_create(ExaRun *r, const ExaCall *entry, const ExaComm *comm, char *err,
                              size_t errlen)
{
    if (comm->size > 1 && r->batch < comm->size) {
        snprintf(err, errlen, "exa: %d ranks but a mini-batch of %lld samples: every rank needs at "
                 "least one (use --batch %d or more)", comm->size, (long long)r->batch, comm->size);
        return NULL;
    }
    Data *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (entry)
        exa_call_print(entry, d->base.name, sizeof d->base.name);
    else
        snprintf(d->base.name, sizeof d->base.name, "no decomposition");
    OptSpec spec = solver_spec(NULL, r->prog->optimizer);
    d->x = solver_alloc(r->n, sizeof(double)), d->g = solver_alloc(r->n, sizeof(double));
    d->stage_theta = solver_alloc(r->n, (size_t)r->elem);
    d->stage_grad = solver_alloc(r->n, (size_t)r->elem);
    if (spec.kind == OPT_NONE || solver_init(r, &spec, &d->opt, r->elem == 8) != 0) {
        snprintf(err, errlen, "exa: decompose = %s: the optimiser %s cannot run", d->base.name,
                 r->prog->optimizer->name);
        d->base.r = r;
        data_free(&d->base);
        return NULL;
    }
    return &d->base;
}

const ExaMethodOps exa_method_data = {
    .name = "data", .create = data_create, .step = data_step, .loss = data_loss,
    .save = data_save, .load = data_load, .free = data_free,
};
