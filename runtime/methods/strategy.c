/* strategy.c - the method of the descriptor's decompose line, found through
 * the one table of methods (exa/methods.def), and what the trainer asks of
 * it: steps, named checkpoint state, the --gradcompare check.
 *
 * Nothing here knows a method by name: a new method is one file with its
 * ExaMethodOps and one row in methods.def (docs/design.md, "Adding a
 * decomposition method"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/checkpoint.h"
#include "exa/method.h"
#include "solver.h"

static const struct {
    const char *name;
    const ExaMethodOps *ops;
} methods[] = {
#define EXA_METHOD(name, id, ops, args, fit) { #name, &ops },
#include "exa/methods.def"
};

struct ExaStrategy {
    ExaMethod *m;
};

void exa_state_add(ExaStateList *l, const char *prefix, const char *name, void *data, int64_t bytes)
{
    if (l->n >= EXA_STATE_MAX) {
        fprintf(stderr, "exa: internal error: more than %d state arrays\n", EXA_STATE_MAX);
        exit(1);
    }
    ExaNamedArray *a = &l->a[l->n++];
    snprintf(a->name, sizeof a->name, "%s%s%s", prefix, *prefix ? "." : "", name);
    a->data = data;
    a->bytes = bytes;
}

const ExaMethodOps *exa_method_find(const ExaCall *entry)
{
    for (size_t i = 0; entry && i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, entry->name) == 0)
            return methods[i].ops;
    return NULL;
}

ExaMethod *exa_method_create(ExaRun *r, const ExaCall *entry, const ExaComm *comm, char *err,
                             size_t errlen)
{
    const ExaMethodOps *ops = entry ? exa_method_find(entry) : &exa_method_data;
    if (!ops) {
        char name[512];
        exa_call_print(entry, name, sizeof name);
        snprintf(err, errlen, "exa: decompose = %s: this strategy is not available in this version "
                 "of libexa", name);
        return NULL;
    }
    ExaMethod *m = ops->create(r, entry, comm, err, errlen);
    if (m) {
        if (!m->ops) /* a method nested in layers(...) names its own ops */
            m->ops = ops;
        m->r = r;
        m->comm = *comm;
    }
    return m;
}

ExaStrategy *exa_strategy_create(ExaRun *r, char *err, size_t errlen)
{
    ExaStrategy *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->m = exa_method_create(r, r->prog->decompose, &r->world, err, errlen);
    if (!s->m) {
        free(s);
        return NULL;
    }
    return s;
}

double exa_strategy_step(ExaStrategy *s, int64_t begin, int64_t count)
{
    return s->m->ops->step(s->m, begin, count);
}

const char *exa_strategy_name(const ExaStrategy *s)
{
    return s->m->name;
}

void exa_strategy_gather(ExaStrategy *s)
{
    if (s->m->ops->gather)
        s->m->ops->gather(s->m);
}

const char *exa_strategy_sums(const ExaStrategy *s)
{
    return s->m->red ? exa_reducer_kind(s->m->red) : "MPI";
}

static void list_state(ExaMethod *m, ExaStateList *l)
{
    l->n = 0;
    if (m->ops->save)
        m->ops->save(m, l);
}

void exa_strategy_save(ExaStrategy *s, ExaCheckpoint *c)
{
    ExaStateList l;
    list_state(s->m, &l);
    c->narrays = 0;
    for (int i = 0; i < l.n && i < EXA_CKPT_MAX_ARRAYS; i++) {
        ExaCkptArray *a = &c->arrays[c->narrays++];
        snprintf(a->name, sizeof a->name, "%s", l.a[i].name);
        a->data = l.a[i].data;
        a->bytes = l.a[i].bytes;
    }
}

int exa_strategy_restore(ExaStrategy *s, const ExaCheckpoint *c, const char *path, char *err,
                         size_t errlen)
{
    ExaStateList l;
    list_state(s->m, &l);
    for (int i = 0; i < l.n; i++) {
        const ExaCkptArray *a = exa_checkpoint_array(c, l.a[i].name);
        if (!a || a->bytes != l.a[i].bytes) {
            snprintf(err, errlen, "exa: %.512s: %s state array '%s'%s that strategy %.256s needs "
                     "(written with another strategy or optimiser?)", path, a ? "its" : "no",
                     l.a[i].name, a ? " has another size than" : "", s->m->name);
            return -1;
        }
    }
    for (int i = 0; i < c->narrays; i++) {
        int used = 0;
        for (int k = 0; k < l.n; k++)
            used |= strcmp(l.a[k].name, c->arrays[i].name) == 0;
        if (!used) {
            snprintf(err, errlen, "exa: %.512s: holds state array '%s' that strategy %.256s does not "
                     "use (written with another strategy or optimiser?)", path, c->arrays[i].name,
                     s->m->name);
            return -1;
        }
    }
    for (int i = 0; i < l.n; i++)
        memcpy(l.a[i].data, exa_checkpoint_array(c, l.a[i].name)->data, (size_t)l.a[i].bytes);
    if (s->m->ops->load)
        s->m->ops->load(s->m);
    return 0;
}

int exa_strategy_report(ExaStrategy *s, const char **names, double *values, int max)
{
    return s->m->ops->report ? s->m->ops->report(s->m, names, values, max) : 0;
}

int exa_strategy_check(ExaStrategy *s)
{
    const ExaMethodOps *ops = s->m->ops;
    /* a declared strategy (compose) checks its coarse level, if it has one */
    int multilevel = ops == &exa_method_mgopt || ops == &exa_method_rmtr || ops == &exa_method_compose;
    if (ops->check && multilevel == s->m->r->opt.multilevel_check)
        return ops->check(s->m);
    if (s->m->r->world.rank == 0)
        fprintf(stderr, "exa: %s: the program does not decompose = %s\n",
                s->m->r->opt.multilevel_check ? "--multilevel-check" : "--admm-check",
                s->m->r->opt.multilevel_check ? "multilevel(mgopt(...)) or multilevel(rmtr(...))"
                                              : "layers(admm(...))");
    return 2;
}

/* --gradcompare: the method's loss and gradient against the serial
 * loss_grad on the first mini-batch at the initial parameters. */
int exa_strategy_gradcompare(ExaStrategy *s)
{
    const double tol = 1e-9;
    ExaMethod *m = s->m;
    ExaRun *r = m->r;
    if (r->opt.bench_step > 0) {
        if (m->ops == &exa_method_layers)
            return exa_layers_bench(m, r->opt.bench_step);
        if (r->world.rank == 0)
            fprintf(stderr, "exa: --bench-step: the program does not decompose = layers(mgrit(...))\n");
        return 2;
    }
    exa_data_epoch_order(r->order, r->train.n, (uint64_t)r->seed, 0);
    int64_t count = r->batch < r->train.n ? r->batch : r->train.n;
    void *g = calloc((size_t)(r->n > 0 ? r->n : 1), (size_t)r->elem);
    if (!g)
        return 1;
    double fs = exa_run_loss(r, r->theta, r->grad, 0, count, EXA_SHARD_ALL);
    double fm = m->ops->loss(m, r->theta, g, 0, count);
    double dmax = 0, gmax = 0;
    for (int64_t i = 0; i < r->n; i++) {
        double a = exa_get(r, r->grad, i), b = exa_get(r, g, i);
        dmax = fmax(dmax, fabs(a - b));
        gmax = fmax(gmax, fabs(a));
    }
    free(g);
    double lrel = fabs(fm - fs) / fmax(fabs(fs), 1e-300), grel = dmax / fmax(gmax, 1e-300);
    int ok = lrel <= tol && grel <= tol;
    char solves[512] = "";
    if (m->ops->solves) /* MGRIT's iterations: why a gradient is inexact */
        m->ops->solves(m, solves, sizeof solves);
    if (r->world.rank == 0)
        printf("gradcompare: %d ranks, batch %lld, %s: loss serial %.17g method %.17g (rel %.3e); "
               "gradient max|diff|/max|g| %.3e: %s (tolerance %.1e)%s%s\n",
               r->world.size, (long long)count, m->name, fs, fm, lrel, grel, ok ? "ok" : "FAILED", tol,
               *solves ? "; " : "", solves);
    return ok ? 0 : 1;
}

void exa_strategy_free(ExaStrategy *s)
{
    if (!s)
        return;
    if (s->m)
        s->m->ops->free(s->m);
    free(s);
}
