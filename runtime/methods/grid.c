/* grid.c - a rows method times a columns method: decompose =
 * grid(rows: layers(mgrit(...)), cols: data(), shape: auto | [pr, pc]).
 *
 * The P ranks form a pr x pc grid; world rank w sits in column w / pr at
 * row w % pr.  The ranks of one column form a row group (exa_comm_split)
 * that runs the rows method - MGRIT over the layers - on the column's share
 * of the mini-batch; the ranks of one row (one from each column, holding
 * the same points of the network) average the weighted gradients over the
 * columns.  The mini-batch loss and gradient are then those of the rows
 * method on the whole mini-batch (exact when MGRIT converges), and the train
 * block's optimiser steps with them on every rank alike.  When the rows
 * method splits the parameters (neurons() with owned rows: part.h), the
 * columns sum only this rank's part of the gradient - the rows it owns and
 * the replicated convolutions - and the optimiser steps on that part; the
 * rows method's part (its communicator, the column's) is the grid's.
 *
 * The rows method is layers(mgrit(...)) or neurons() (model and domain
 * parallelism in 1.5D: neurons.c).  shape: auto with neurons() takes the
 * grid the cost model (grid_cost.c) predicts cheapest, and rank 0 prints
 * its table (every factorisation of P, predicted time per step) before the
 * banner; with layers(mgrit) it takes pr the smallest divisor of P with pr *
 * pr >= P (4 -> 2 x 2, 2 -> 2 x 1, 6 -> 3 x 2): MGRIT first, since its row
 * groups need a point per rank and the columns a sample per rank.
 *
 * A declared strategy (compose.c) runs as the rows or as the columns
 * (grid_strategy below): as the rows, a strategy splitting params over the
 * column's ranks whose every loss is the whole mini-batch's, the columns
 * each evaluating their share (cols: data()); as the columns, a strategy
 * splitting data over the row's ranks whose every loss of a rank's rows is
 * the rows method's on its column (rows: layers(mgrit(...)) or neurons()).
 * The strategy's own steps then replace the train block's optimiser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"
#include "grid_cost.h"
#include "part.h"
#include "solver.h"

enum { GRID_PLAN_MAX = 64 };

typedef struct Grid {
    ExaMethod base;
    Stepper global;         /* second: the train block's optimiser (SteppedMethod) */
    ExaMethod *rows;        /* on this rank's column group */
    ExaMethod *strat;       /* a declared strategy: rows itself, or the columns' (on row); else NULL */
    ExaComm col, row;       /* the column's ranks (rows method), the row's ranks (columns) */
    int pr, pc, c;          /* grid shape; this rank's column */
    int drop;               /* EXA_TEST_DROP=col_allreduce: the negative control of tests/grid */
    const ExaParamPart *part; /* the rows method's, or NULL: the parameters are replicated */
    double words, evals;    /* the columns' words since the last report (ring counting), gradients */
} Grid;

/* The column's share of the rows, by the rows method - its loss op (the
 * whole gradient, n reals) or, with part, its part_loss op (this rank's
 * part of the gradient, owned rows) - averaged over the columns with
 * weights share / count: the gradient by one allreduce over the row. */
static double grid_eval(Grid *G, const void *theta, void *grad, int64_t begin, int64_t count, int part)
{
    ExaRun *r = G->base.r;
    ExaMethod *rows = G->rows;
    int64_t lb, ln, n = part ? G->part->n : r->n;
    exa_data_shard(count, G->c, G->pc, &lb, &ln);
    double f = part ? rows->ops->part_loss(rows, theta, grad, begin + lb, ln)
                    : rows->ops->loss(rows, theta, grad, begin + lb, ln);
    double w = (double)ln / (double)count;
    if (grad && G->pc > 1 && !G->drop) {
        for (int64_t i = 0; i < n; i++)
            exa_set(r, grad, i, w * exa_get(r, grad, i));
        exa_comm_allreduce_sum(&G->row, grad, (size_t)n, (ExaReal)r->elem);
        G->words += 2.0 * (G->pc - 1) / G->pc * (double)n;
    }
    G->evals += grad != NULL;
    return G->pc > 1 ? exa_comm_sum_double(&G->row, w * f) : f;
}

static double grid_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count)
{
    return grid_eval((Grid *)m, theta, grad, begin, count, 0);
}

static double grid_part_loss(ExaMethod *m, const void *theta, void *grad_part, int64_t begin, int64_t count)
{
    return grid_eval((Grid *)m, theta, grad_part, begin, count, 1);
}

/* With a declared strategy (the rows themselves, or the columns') its steps
 * and its state are the grid's; else the train block's optimiser steps. */
static double grid_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Grid *G = (Grid *)m;
    if (G->strat)
        return G->strat->ops->step(G->strat, begin, count);
    return stepper_method_step(m, begin, count);
}

static void grid_save(ExaMethod *m, ExaStateList *l)
{
    Grid *G = (Grid *)m;
    if (G->strat)
        G->strat->ops->save(G->strat, l);
    else
        stepper_save(m, l);
}

static void grid_load(ExaMethod *m)
{
    Grid *G = (Grid *)m;
    if (G->strat)
        G->strat->ops->load(G->strat);
    else
        stepper_load(m);
}

static const ExaParamPart *grid_part(ExaMethod *m)
{
    return ((Grid *)m)->part;
}

/* The rows method's numbers (neurons(): words_rows), averaged over the
 * columns, and words_cols: the words per rank and gradient of the columns'
 * sums since the last report, on average over the ranks. */
static int grid_report(ExaMethod *m, const char **names, double *values, int max)
{
    Grid *G = (Grid *)m;
    if (G->strat && G->strat != G->rows) /* the columns' strategy reports for the grid */
        return G->strat->ops->report ? G->strat->ops->report(G->strat, names, values, max) : 0;
    int n = G->rows->ops->report ? G->rows->ops->report(G->rows, names, values, max) : 0;
    if (n == 0 || n >= max) /* layers(mgrit) rows report nothing: neither does the grid */
        return n;
    for (int i = 0; i < n; i++)
        values[i] = exa_comm_sum_double(&G->row, values[i]) / G->pc;
    if (G->rows->ops->take_cols_words) /* its own sums over the columns (batch statistics) */
        G->words += G->rows->ops->take_cols_words(G->rows);
    double words = exa_comm_sum_double(&m->comm, G->words) / m->comm.size;
    names[n] = "words_cols", values[n] = G->evals > 0 ? words / G->evals : 0;
    G->words = G->evals = 0;
    return n + 1;
}

static void grid_free(ExaMethod *m)
{
    Grid *G = (Grid *)m;
    if (G->strat && G->strat != G->rows) /* the columns' strategy evaluates through rows */
        G->strat->ops->free(G->strat);
    if (G->rows)
        G->rows->ops->free(G->rows);
    if (G->col.comm != MPI_COMM_NULL)
        exa_comm_free(&G->col);
    if (G->row.comm != MPI_COMM_NULL)
        exa_comm_free(&G->row);
    stepper_free(&G->global);
    free(G);
}

static ExaMethod *grid_fail(Grid *G)
{
    grid_free(&G->base);
    return NULL;
}

static const ExaCall *call_arg(const ExaCall *d, const char *key)
{
    const ExaValue *v = exa_call_arg(d, key);
    return v && v->kind == EXA_CALL ? v->call : NULL;
}

static int is_strategy(const ExaCall *c)
{
    return c && (!strcmp(c->name, "strategy") || !strcmp(c->name, "params"));
}

/* What of rows and cols this grid does not run: NULL, or why. */
static const char *grid_unfit(const ExaCall *rows, const ExaCall *cols)
{
    int mgrit_or_neurons = rows && (!strcmp(rows->name, "layers") || !strcmp(rows->name, "neurons"));
    int data = cols && !strcmp(cols->name, "data");
    if (is_strategy(rows) && data) /* split params: compose.c's default */
        return strcmp(exa_call_ident(rows, "split", "params"), "params") ? "a strategy as the rows splits params"
             : exa_call_arg(rows, "coarse") ? "a coarse correction does not run inside a grid" : NULL;
    if (mgrit_or_neurons && is_strategy(cols)) {
        const ExaValue *local = exa_call_arg(cols, "local");
        return strcmp(exa_call_ident(cols, "split", "params"), "data") ? "a strategy as the columns splits data"
             : exa_call_arg(cols, "coarse") ? "a coarse correction does not run inside a grid"
             : local && local->kind == EXA_CALL && !strcmp(local->call->name, "strategy")
                 ? "a strategy as the columns nests no strategy" : NULL;
    }
    return mgrit_or_neurons && data ? NULL : "";
}

/* A declared strategy as the rows (G->rows, made on the column) or the
 * columns (made here on the row, evaluating through G->rows). */
static int grid_strategy(Grid *G, ExaRun *r, const ExaCall *cols, char *err, size_t errlen)
{
    if (compose_share_samples(G->rows, &G->row) == 0) {
        G->strat = G->rows;
        return 0;
    }
    if (!is_strategy(cols))
        return 0;
    G->strat = exa_method_create(r, cols, &G->row, err, errlen);
    if (!G->strat)
        return -1;
    return compose_evaluate_by(G->strat, G->rows);
}

static ExaMethod *grid_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err, size_t errlen)
{
    Grid *G = calloc(1, sizeof *G);
    if (!G)
        return NULL;
    G->base.r = r;
    G->col.comm = G->row.comm = MPI_COMM_NULL;
    const char *name = G->base.name;
    exa_call_print(d, G->base.name, sizeof G->base.name);
    const ExaCall *rows = call_arg(d, "rows"), *cols = call_arg(d, "cols"), *shape = call_arg(d, "shape");
    const ExaValue *inner = rows ? exa_call_arg(rows, "_0") : NULL;
    const char *unfit = grid_unfit(rows, cols);
    if (unfit) {
        snprintf(err, errlen, "exa: decompose = %s: %s%slibexa runs grid(rows: layers(mgrit(...)) or neurons(), "
                 "cols: data() or a strategy splitting data) and grid(rows: a strategy splitting params, cols: "
                 "data())", name, unfit, *unfit ? "; " : "");
        return grid_fail(G);
    }
    if (inner && inner->kind == EXA_CALL && exa_call_num(inner->call, "nested", 0) != 0) {
        snprintf(err, errlen, "exa: decompose = %s: nested iteration does not run inside a grid", name);
        return grid_fail(G);
    }
    int P = comm->size;
    if (shape) {
        G->pr = (int)exa_call_num(shape, "_0", 0), G->pc = (int)exa_call_num(shape, "_1", 0);
    } else if (!strcmp(rows->name, "neurons") && P == 1) {
        G->pr = G->pc = 1; /* nothing to choose (and no second rank to measure alpha, beta with) */
    } else if (!strcmp(rows->name, "neurons")) { /* the cost model's choice */
        GridMachine mach;
        GridCost plan[GRID_PLAN_MAX];
        int best = -1, best_alt = -1, n = 0;
        char why[384];
        if (grid_calibrate(comm, r->prog, r->batch, &mach, why, sizeof why) == 0)
            n = grid_plan(r->prog, P, r->batch, &mach, plan, GRID_PLAN_MAX, &best, &best_alt, why, sizeof why);
        if (n == 0) {
            snprintf(err, errlen, "exa: decompose = %s: shape: auto: %s", name, why);
            return grid_fail(G);
        }
        if (comm->rank == 0 && !r->opt.quiet)
            grid_plan_print(stdout, plan, n, best, best_alt, P, r->batch, &mach);
        G->pr = plan[best].pr, G->pc = plan[best].pc;
    } else {
        for (G->pr = 1; G->pr * G->pr < P || P % G->pr != 0; G->pr++)
            ;
        G->pc = P / G->pr;
    }
    if (G->pr < 1 || G->pc < 1 || G->pr * G->pc != P) {
        snprintf(err, errlen, "exa: decompose = %s: a grid of %d x %d ranks, and the run has %d", name,
                 G->pr, G->pc, P);
        return grid_fail(G);
    }
    if (exa_run_check_shards(r, G->pc, "grid column", err, errlen) != 0)
        return grid_fail(G);
    size_t len = strlen(G->base.name); /* messages and the banner say the shape */
    snprintf(G->base.name + len, sizeof G->base.name - len, " on %d x %d ranks", G->pr, G->pc);
    G->c = comm->rank / G->pr;
    const char *drop = getenv("EXA_TEST_DROP");
    G->drop = drop && !strcmp(drop, "col_allreduce");
    if (exa_comm_split(comm, G->c, comm->rank % G->pr, &G->col) != 0
        || exa_comm_split(comm, comm->rank % G->pr, G->c, &G->row) != 0) {
        snprintf(err, errlen, "exa: decompose = %s: cannot split the communicator", name);
        return grid_fail(G);
    }
    G->rows = exa_method_create(r, rows, &G->col, err, errlen);
    if (!G->rows || grid_strategy(G, r, cols, err, errlen) != 0)
        return grid_fail(G);
    if (G->rows->ops->columns) /* batch statistics are summed over the columns too */
        G->rows->ops->columns(G->rows, &G->row);
    /* a declared strategy steps the whole vector: no owned rows under it */
    G->part = !G->strat && G->rows->ops->part ? G->rows->ops->part(G->rows) : NULL;
    if (stepper_init_part(&G->global, r, name, G->part, err, errlen) != 0)
        return grid_fail(G);
    len = strlen(G->base.name); /* and which path runs, when the rows method can split the parameters */
    if (!G->strat && G->rows->ops->part)
        snprintf(G->base.name + len, sizeof G->base.name - len, " (%s)", part_path(G->part != NULL));
    return &G->base;
}

/* The rows method's solves (this rank's column group's). */
static void grid_solves(ExaMethod *m, char *buf, size_t len)
{
    Grid *G = (Grid *)m;
    if (G->rows->ops->solves)
        G->rows->ops->solves(G->rows, buf, len);
}

const ExaMethodOps exa_method_grid = {
    .name = "grid", .create = grid_create, .step = grid_step, .loss = grid_loss,
    .save = grid_save, .load = grid_load, .free = grid_free, .solves = grid_solves,
    .report = grid_report, .part = grid_part, .part_loss = grid_part_loss, .gather = stepper_method_gather,
};

int exa_grid_plan(ExaRun *r, int64_t P)
{
    GridMachine mach;
    GridCost *plan = calloc(GRID_PLAN_MAX, sizeof *plan);
    char why[384];
    int best = -1, best_alt = -1, n = 0;
    int64_t B = r->opt.batch > 0 ? r->opt.batch : r->prog->batch;
    if (plan && P <= INT32_MAX && grid_calibrate(&r->world, r->prog, B, &mach, why, sizeof why) == 0)
        n = grid_plan(r->prog, (int)P, B, &mach, plan, GRID_PLAN_MAX, &best, &best_alt, why, sizeof why);
    else if (P > INT32_MAX)
        snprintf(why, sizeof why, "too many ranks");
    if (n > 0 && r->world.rank == 0)
        grid_plan_print(stdout, plan, n, best, best_alt, (int)P, B, &mach);
    else if (n == 0 && r->world.rank == 0)
        fprintf(stderr, "exa: rank 0: --grid-plan %lld: %s\n", (long long)P, plan ? why : "out of memory");
    free(plan);
    return n > 0 ? 0 : 1;
}
