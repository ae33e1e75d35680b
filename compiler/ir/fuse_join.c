/* fuse_join.c - FUSE_CONCAT_IN_PLACE (fuse.h): CONCATs whose operands the
 * loops computing them store straight into the CONCAT's memory.
 *
 * Why.  The gradient of a vector read through adjacent slices (a stacked
 * GRU's gates a[0:n], a[n:2n], a[2n:3n]) is a tree of CONCATs of the gates'
 * gradients (fuse.c, join_slice_grads).  As kernels, each CONCAT copies its
 * operands once more: the first gates are copied once per level, and the
 * gates' loop must store every gradient in a buffer of its own first.  A
 * stacked GRU cell's step copied 1280 reals a sample in four CONCATs (5% of
 * its training step), and the CONCATs, reading the gates' gradients between
 * the loops, split the gates' backward pass into two loops.
 *
 * What.  A CONCAT is joined (FUSE_JOIN, no step) when each of its operands
 * is placeable: a fused-loop member or a joined CONCAT, batched as the
 * CONCAT is, not an output, read by nothing but joined CONCATs and fused
 * loops (a joined CONCAT: by joined CONCATs only), and held by at most
 * FUSE_MAX_PLACES outermost CONCATs.  A joined CONCAT that is not placeable
 * itself is outermost: it owns a buffer.  Every placeable value gets the list
 * of places (outermost CONCAT, offset) it is part of; a loop member stores
 * its value at each (two for a gate gradient that both stacked products'
 * gradients hold), and loops of other groups read it at its first.
 *
 * The conditions depend on one another (a CONCAT is joined when its
 * operands are placeable; a value is placeable when its readers are joined),
 * so they are iterated from the optimistic start (every CONCAT a candidate)
 * until nothing changes: each round only removes candidates.
 *
 * Order.  A joined CONCAT has no step, so the loops writing into it must have
 * run before anything reads it: fuse.c's grouping seals the groups of an
 * outermost CONCAT's writers where it is first read (fuse_seal_writers), and
 * a CONCAT reading a member no longer seals that member's group, so the loop
 * may take later members (the rest of the gates' backward pass). */
#include "fuse_int.h"

#include <stdlib.h>

/* How the rounds see each value. */
typedef struct JoinState {
    char *cand;      /* a CONCAT still a candidate */
    char *placeable; /* may be stored in the CONCATs reading it */
    char *output;    /* an output of the function */
    int *places;     /* how many outermost CONCATs hold it (placeable values) */
} JoinState;

static int is_candidate_reader(const FusePlan *p, const JoinState *s, IrId v)
{
    return s->cand[v] || p->info[v].kind == FUSE_ELEM;
}

/* One round: which values are placeable, how many places each would get,
 * then which candidates keep both operands placeable.  Returns whether a
 * candidate was dropped. */
static int join_round(const FusePlan *p, JoinState *s)
{
    IrId n = p->n;
    for (IrId u = 0; u < n; u++) {
        const FuseInfo *fi = &p->info[u];
        s->placeable[u] = (fi->kind == FUSE_ELEM || s->cand[u]) && !s->output[u] && fi->nuses > 0;
        s->places[u] = 0;
    }
    for (IrId v = 0; v < n; v++) { /* every reader a candidate (or, of a loop member, a loop) */
        if (p->info[v].kind == FUSE_DEAD)
            continue;
        const IrValue *x = &p->v[v];
        for (int k = 0; k < ir_op_arity(x->op); k++) {
            IrId u = x->in[k];
            if (!(s->cand[u] ? s->cand[v] : is_candidate_reader(p, s, v)) ||
                (s->cand[v] && p->v[u].batched != x->batched))
                s->placeable[u] = 0;
        }
    }
    for (IrId v = n - 1; v >= 0; v--) { /* places, from the outermost CONCATs in */
        if (!s->cand[v])
            continue;
        int mine = s->placeable[v] ? s->places[v] : 1;
        for (int k = 0; k < 2; k++)
            s->places[p->v[v].in[k]] += mine;
    }
    int dropped = 0;
    for (IrId v = 0; v < n; v++) {
        if (!s->cand[v])
            continue;
        for (int k = 0; k < 2; k++) {
            IrId u = p->v[v].in[k];
            if (!s->placeable[u] || s->places[u] > FUSE_MAX_PLACES) {
                s->cand[v] = 0;
                dropped = 1;
                break;
            }
        }
    }
    return dropped;
}

static void add_place(FuseInfo *fi, IrId root, int64_t at)
{
    fi->place_root[fi->nplace] = root;
    fi->place_at[fi->nplace] = at;
    fi->nplace++;
}

void fuse_join_concats(FusePlan *p)
{
    IrId n = p->n;
    JoinState s = { fuse_xcalloc((size_t)n + 1, 1), fuse_xcalloc((size_t)n + 1, 1), fuse_xcalloc((size_t)n + 1, 1),
                    fuse_xcalloc((size_t)n + 1, sizeof *s.places) };
    for (int i = 0; i < p->nout; i++)
        s.output[p->out[i].value] = 1;
    for (IrId v = 0; v < n; v++)
        s.cand[v] = p->v[v].op == IR_CONCAT && p->info[v].kind == FUSE_KERNEL && !s.output[v];
    while (join_round(p, &s))
        ;
    /* the last round's placeable[] and places[] are those of the final candidates */
    for (IrId v = n - 1; v >= 0; v--) { /* hand each joined CONCAT's places to its operands */
        if (!s.cand[v])
            continue;
        FuseInfo *fi = &p->info[v];
        fi->kind = FUSE_JOIN;
        FuseInfo top = { .nplace = 0 };
        if (!s.placeable[v]) /* outermost: its own memory */
            add_place(&top, v, 0);
        const FuseInfo *from = s.placeable[v] ? fi : &top;
        int64_t at = 0;
        for (int k = 0; k < 2; k++) {
            IrId u = p->v[v].in[k];
            for (int i = 0; i < from->nplace; i++)
                add_place(&p->info[u], from->place_root[i], from->place_at[i] + at);
            p->info[u].root = p->info[u].place_root[0];
            at += fuse_size(&p->v[u]);
        }
    }
    free(s.cand);
    free(s.placeable);
    free(s.output);
    free(s.places);
}

void fuse_seal_writers(const FusePlan *p, IrId join, char *sealed)
{
    for (int k = 0; k < 2; k++) {
        IrId u = p->v[join].in[k];
        if (p->info[u].kind == FUSE_JOIN)
            fuse_seal_writers(p, u, sealed);
        else
            sealed[p->info[u].group] = 1;
    }
}
