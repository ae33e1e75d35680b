/* part.c - a rank's part of the parameter vector (part.h): its pieces, the
 * packing, the global norm and the gather.  The optimiser stepping on a
 * part is solver.c's (Stepper with a part). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "part.h"
#include "solver.h"

int part_optimiser_fits(const ExaProgram *p)
{
    OptSpec o = solver_spec(NULL, p->optimizer);
    return o.kind == OPT_SGD || o.kind == OPT_ADAM;
}

const char *part_path(int owned)
{
    return owned ? "owned rows" : "replicated parameters: the optimiser needs whole vectors";
}

void part_free(ExaParamPart *p)
{
    if (!p)
        return;
    for (int j = 0; j < p->nblock; j++)
        free(p->cnt ? p->cnt[j] : NULL), free(p->off ? p->off[j] : NULL);
    free(p->base), free(p->unit), free(p->cnt), free(p->off);
    free(p->seg_at), free(p->seg_len), free(p->seg_split), free(p->rc), free(p->rd);
    free(p);
}

/* Appends piece [at, at + len) to the part (len > 0). */
static void add_seg(ExaParamPart *p, int64_t at, int64_t len, int split)
{
    if (len <= 0)
        return;
    p->seg_at[p->nseg] = at, p->seg_len[p->nseg] = len, p->seg_split[p->nseg] = (char)split;
    p->nseg++;
    p->n += len;
}

ExaParamPart *part_create(const ExaComm *comm, int64_t total, const PartBlock *blk, int nblock)
{
    int P = comm->size, me = comm->rank;
    ExaParamPart *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->comm = *comm, p->total = total, p->nblock = nblock;
    size_t nb = (size_t)(nblock > 0 ? nblock : 1), ns = 2 * nb + 1; /* a gap before each block, one after */
    p->base = calloc(nb, sizeof *p->base), p->unit = calloc(nb, sizeof *p->unit);
    p->cnt = calloc(nb, sizeof *p->cnt), p->off = calloc(nb, sizeof *p->off);
    p->seg_at = calloc(ns, sizeof *p->seg_at), p->seg_len = calloc(ns, sizeof *p->seg_len);
    p->seg_split = calloc(ns, 1);
    p->rc = calloc((size_t)P, sizeof *p->rc), p->rd = calloc((size_t)P, sizeof *p->rd);
    if (!p->base || !p->unit || !p->cnt || !p->off || !p->seg_at || !p->seg_len || !p->seg_split || !p->rc || !p->rd) {
        part_free(p);
        return NULL;
    }
    /* the blocks in order of base (insertion sort: a few per layer) */
    for (int j = 0; j < nblock; j++) {
        int at = j;
        while (at > 0 && p->base[at - 1] > blk[j].base) {
            p->base[at] = p->base[at - 1], p->unit[at] = p->unit[at - 1];
            p->cnt[at] = p->cnt[at - 1], p->off[at] = p->off[at - 1];
            at--;
        }
        p->base[at] = blk[j].base, p->unit[at] = blk[j].unit;
        p->cnt[at] = malloc((size_t)P * sizeof(int)), p->off[at] = malloc((size_t)P * sizeof(int));
        if (!p->cnt[at] || !p->off[at]) {
            p->nblock = j + 1;
            part_free(p);
            return NULL;
        }
        memcpy(p->cnt[at], blk[j].cnt, (size_t)P * sizeof(int));
        memcpy(p->off[at], blk[j].off, (size_t)P * sizeof(int));
    }
    /* the pieces: the replicated gap before each block, this rank's rows of it */
    int64_t at = 0;
    for (int j = 0; j < nblock; j++) {
        int64_t rows = p->off[j][P - 1] + p->cnt[j][P - 1];
        add_seg(p, at, p->base[j] - at, 0);
        add_seg(p, p->base[j] + p->off[j][me] * p->unit[j], p->cnt[j][me] * p->unit[j], 1);
        at = p->base[j] + rows * p->unit[j];
    }
    add_seg(p, at, total - at, 0);
    const char *drop = getenv("EXA_TEST_DROP");
    p->drop_gather = drop && !strcmp(drop, "gather");
    p->drop_norm = drop && !strcmp(drop, "clip_norm");
    return p;
}

void part_pack(const ExaParamPart *p, int elem, const void *full, void *local)
{
    const char *f = full;
    char *l = local;
    for (int s = 0; s < p->nseg; s++) {
        memcpy(l, f + p->seg_at[s] * elem, (size_t)(p->seg_len[s] * elem));
        l += p->seg_len[s] * elem;
    }
}

void part_unpack(const ExaParamPart *p, int elem, const void *local, void *full)
{
    char *f = full;
    const char *l = local;
    for (int s = 0; s < p->nseg; s++) {
        memcpy(f + p->seg_at[s] * elem, l, (size_t)(p->seg_len[s] * elem));
        l += p->seg_len[s] * elem;
    }
}

void part_pack_double(const ExaParamPart *p, int elem, const double *full, void *local)
{
    int64_t k = 0;
    for (int s = 0; s < p->nseg; s++)
        for (int64_t i = p->seg_at[s]; i < p->seg_at[s] + p->seg_len[s]; i++, k++) {
            if (elem == 4)
                ((float *)local)[k] = (float)full[i];
            else
                ((double *)local)[k] = full[i];
        }
}

double part_norm2(const ExaParamPart *p, int elem, const void *local)
{
    double split = 0, rep = 0;
    int64_t k = 0;
    for (int s = 0; s < p->nseg; s++) {
        double sq = 0;
        for (int64_t i = 0; i < p->seg_len[s]; i++, k++) {
            double x = elem == 4 ? (double)((const float *)local)[k] : ((const double *)local)[k];
            sq += x * x;
        }
        if (p->seg_split[s])
            split += sq;
        else
            rep += sq;
    }
    return (p->drop_norm ? split : exa_comm_sum_double(&p->comm, split)) + rep;
}

void part_gather(const ExaParamPart *p, int elem, void *full, int params)
{
    if (params && p->drop_gather) /* the negative control: each rank keeps only its rows current */
        return;
    int P = p->comm.size;
    for (int j = 0; j < p->nblock; j++) {
        for (int k = 0; k < P; k++)
            p->rc[k] = (int)(p->cnt[j][k] * p->unit[j]), p->rd[k] = (int)(p->off[j][k] * p->unit[j]);
        exa_comm_allgatherv(&p->comm, (char *)full + p->base[j] * elem, p->rc, p->rd, (ExaReal)elem);
    }
}
