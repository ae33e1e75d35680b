/* compose_blocks.c - the blocks of `split params ... into INTO`:
 *
 *   ranks                    one contiguous block of stages (or layers) per
 *                            group, disjoint
 *   ranks(overlap: k)        the same, each block also holding its
 *                            neighbours' k stages next to it (their
 *                            owners stay the disjoint blocks' ranks)
 *   ranks(per_block: m)      m ranks per block (a nested local strategy
 *                            splits the block's work over them)
 *   [[0, 1], [1, 2, 3]]      explicit blocks of stage (layer) indices, one
 *                            per group; a unit in several is owned by the
 *                            first that lists it
 *
 * Each rank gets mask (its block), own (what it owns: restricted
 * combination), share (1 / the blocks holding each weight: averaged overlap)
 * and size_weight (its block's share of all blocks' weights). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"

/* The length of the layer part of a parameter path ("enc/dense#1/W" ->
 * "enc/dense#1"): parameters with the same prefix form one layer. */
static size_t layer_prefix(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : strlen(path);
}

static int fail(Compose *s, char *err, size_t errlen, const char *what, int a, int b)
{
    char msg[256];
    snprintf(msg, sizeof msg, what, a, b);
    snprintf(err, errlen, "exa: decompose = %s: %s", s->base.name, msg);
    return -1;
}

/* in[g * units + u]: whether block g holds unit u; owner[u] its owner. */
static int explicit_blocks(Compose *s, const ExaCall *list, int units, const char *unit_word, char *in, int *owner,
                           char *err, size_t errlen)
{
    int groups = s->ngroups;
    if (list->nargs != groups)
        return fail(s, err, errlen, groups == s->base.comm.size
                    ? "%d blocks are listed and the run has %d ranks (one block per rank)"
                    : "%d blocks are listed and the run has %d blocks of ranks", list->nargs, groups);
    for (int u = 0; u < units; u++)
        owner[u] = -1;
    for (int g = 0; g < groups; g++) {
        const ExaValue *b = &list->values[g];
        if (b->kind != EXA_CALL || strcmp(b->call->name, "list") != 0 || b->call->nargs == 0)
            return fail(s, err, errlen, "block %d is not a list of indices", g, 0);
        for (int k = 0; k < b->call->nargs; k++) {
            const ExaValue *v = &b->call->values[k];
            int u = v->kind == EXA_NUM ? (int)v->num : -1;
            if (v->kind != EXA_NUM || v->num != (double)u || u < 0 || u >= units) {
                char what[160];
                snprintf(what, sizeof what, "block %%d lists %s %%d; the model has %d of them", unit_word, units);
                return fail(s, err, errlen, what, g, v->kind == EXA_NUM ? (int)v->num : -1);
            }
            in[(size_t)g * (size_t)units + (size_t)u] = 1;
            if (owner[u] < 0)
                owner[u] = g;
        }
    }
    for (int u = 0; u < units; u++)
        if (owner[u] < 0) {
            char what[160];
            snprintf(what, sizeof what, "%s %%d is in no block (%%d blocks listed); every one must be", unit_word);
            return fail(s, err, errlen, what, u, groups);
        }
    return 0;
}

int compose_blocks(Compose *s, const ExaValue *into, int by_layer, char *err, size_t errlen)
{
    const ExaRun *r = s->base.r;
    const ExaProgram *p = r->prog;
    int groups = s->ngroups, nlayers = 0;
    int *unit = calloc((size_t)(p->nparams > 0 ? p->nparams : 1), sizeof *unit);
    if (!unit)
        return -1;
    for (int i = 0; i < p->nparams; i++) {
        if (!by_layer) {
            unit[i] = p->params[i].stage;
            continue;
        }
        const char *a = p->params[i].path, *b = i ? p->params[i - 1].path : NULL;
        size_t la = layer_prefix(a);
        if (!b || la != layer_prefix(b) || strncmp(a, b, la) != 0)
            nlayers++;
        unit[i] = nlayers - 1;
    }
    int units = by_layer ? nlayers : p->nstages;
    const char *unit_word = by_layer ? "layer" : "stage";
    char *in = calloc((size_t)groups * (size_t)(units > 0 ? units : 1), 1);
    int *owner = calloc((size_t)(units > 0 ? units : 1), sizeof *owner);
    int rc = -1;
    if (!in || !owner)
        goto done;
    if (into && into->kind == EXA_CALL && !strcmp(into->call->name, "list")) {
        if (explicit_blocks(s, into->call, units, unit_word, in, owner, err, errlen) != 0)
            goto done;
    } else {
        if (units < groups) {
            snprintf(err, errlen, "exa: decompose = %s: the model has %d %s to split and the run "
                     "has %d %s; run with at most %d", s->base.name, units, by_layer ? "layers" : "stages",
                     groups, groups == s->base.comm.size ? "ranks" : "blocks of ranks", units);
            goto done;
        }
        int overlap = into && into->kind == EXA_CALL ? (int)exa_call_num(into->call, "overlap", 0) : 0;
        for (int u = 0; u < units; u++)
            owner[u] = (int)((int64_t)u * groups / units);
        for (int u = 0; u < units; u++) /* unit u is held by the owners of u-k .. u+k */
            for (int v = u - overlap; v <= u + overlap; v++)
                if (v >= 0 && v < units)
                    in[(size_t)owner[v] * (size_t)units + (size_t)u] = 1;
    }
    int64_t n = r->n, mine = 0, all = 0;
    s->mask = solver_alloc(n, 1);
    s->own = solver_alloc(n, 1);
    s->share = solver_alloc(n, sizeof *s->share);
    for (int i = 0; i < p->nparams; i++) {
        const ExaParamInfo *q = &p->params[i];
        int u = unit[i], holders = 0;
        for (int g = 0; g < groups; g++)
            holders += in[(size_t)g * (size_t)units + (size_t)u];
        all += q->size * holders;
        if (in[(size_t)s->group * (size_t)units + (size_t)u]) {
            memset(s->mask + q->offset, 1, (size_t)q->size);
            mine += q->size;
        }
        if (owner[u] == s->group)
            memset(s->own + q->offset, 1, (size_t)q->size);
        for (int64_t k = 0; k < q->size; k++)
            s->share[q->offset + k] = 1.0 / holders;
    }
    s->size_weight = all > 0 ? (double)mine / (double)all : 0;
    rc = 0;
done:
    free(unit), free(in), free(owner);
    return rc;
}
