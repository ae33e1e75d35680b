/* admm_state.c - pdADMM's variables moved as a whole: checkpoints (the
 * state of every layer gathered on rank 0, given back to each rank on a
 * resume) and the rows of a mini-batch (admm_method.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admm_method.h"

/* Copies layer l's variables to (out != 0) or from the state at *at. */
static void pack(Admm *A, int l, double *st, int64_t *at, int out)
{
    AdmmLayer *y = admm_lay(A, l);
    int64_t N = A->c.N;
    double *parts[] = { y->W, y->b, y->z, l > 0 ? y->p : NULL, y->last ? NULL : y->q, y->last ? NULL : y->u };
    int64_t sizes[] = { y->m * y->n, y->m, N * y->m, N * y->n, N * y->m, N * y->m };
    for (int k = 0; k < 6; k++) {
        if (!parts[k])
            continue;
        if (out)
            memcpy(st + *at, parts[k], (size_t)sizes[k] * 8);
        else
            memcpy(parts[k], st + *at, (size_t)sizes[k] * 8);
        *at += sizes[k];
    }
}

/* The state of every layer into rank 0's A->state (after an iteration). */
void admm_gather(Admm *A)
{
    const ExaComm *cm = &A->base.comm;
    int64_t at = 0;
    for (int l = 0; l < A->l0; l++)
        at += admm_layer_state(A->base.r, l, A->L, A->c.N);
    int64_t mine = 0;
    for (int l = A->l0; l < A->l1; l++)
        mine += admm_layer_state(A->base.r, l, A->L, A->c.N);
    double *buf = cm->rank == 0 ? A->state + at : admm_alloc(mine);
    int64_t k = 0;
    for (int l = A->l0; l < A->l1; l++)
        pack(A, l, buf, &k, 1);
    if (cm->rank != 0) {
        MPI_Request s = exa_comm_isend(cm, buf, (size_t)mine * 8, 0, TAG_STATE);
        exa_comm_wait(cm, &s);
        free(buf);
        return;
    }
    for (int k2 = 1; k2 < cm->size; k2++) {
        int a0, a1;
        admm_group(A->base.r, A->L, cm->size, k2, &a0, &a1);
        int64_t off = 0, len = 0;
        for (int l = 0; l < a0; l++)
            off += admm_layer_state(A->base.r, l, A->L, A->c.N);
        for (int l = a0; l < a1; l++)
            len += admm_layer_state(A->base.r, l, A->L, A->c.N);
        MPI_Request q = exa_comm_irecv(cm, A->state + off, (size_t)len * 8, k2, TAG_STATE);
        exa_comm_wait(cm, &q);
    }
}

void admm_save(ExaMethod *m, ExaStateList *l)
{
    Admm *A = (Admm *)m;
    if (!A->state) /* a resume on a rank other than 0: room for the whole state, until load */
        A->state = admm_alloc(A->state_len);
    if (!A->state) {
        fprintf(stderr, "exa: rank %d: layers(admm): out of memory for the checkpoint state\n", m->comm.rank);
        exit(1);
    }
    exa_state_add(l, "admm", "state", A->state, A->state_len * 8);
    A->count[1] = A->c.backtracks_capped;
    exa_state_add(l, "admm", "counts", A->count, sizeof A->count);
}

void admm_load(ExaMethod *m)
{
    Admm *A = (Admm *)m;
    int64_t at = 0;
    for (int l = 0; l < A->l0; l++)
        at += admm_layer_state(m->r, l, A->L, A->c.N);
    if (A->l0 > 0) { /* the halo: q and u of layer l0 - 1 end its state */
        int64_t nn = A->c.N * A->lay[0].n;
        memcpy(A->qprev, A->state + at - 2 * nn, (size_t)nn * 8);
        memcpy(A->uprev, A->state + at - nn, (size_t)nn * 8);
    }
    for (int l = A->l0; l < A->l1; l++)
        pack(A, l, A->state, &at, 0);
    if (!A->checkpointing || m->comm.rank != 0) {
        free(A->state);
        A->state = NULL;
    }
    A->c.backtracks_capped = (int)A->count[1];
    A->ready = 1;
}

/* Mini-batches: back (0) copies rows idx of every sample's p, z, q, u (and
 * of the left halo, and the labels) into the work layers and makes them
 * the ones a step works on; back (1) copies them home again. */
void admm_rows(Admm *A, const int64_t *idx, int64_t B, int back)
{
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *h = &A->home[l - A->l0], *w = &A->work[l - A->l0];
        double *hv[] = { h->p, h->z, h->q, h->u }, *wv[] = { w->p, w->z, w->q, w->u };
        int64_t width[] = { h->n, h->m, h->m, h->m };
        for (int k = 0; k < 4; k++)
            for (int64_t i = 0; hv[k] && i < B; i++) {
                size_t bytes = (size_t)width[k] * 8;
                if (back)
                    memcpy(hv[k] + idx[i] * width[k], wv[k] + i * width[k], bytes);
                else
                    memcpy(wv[k] + i * width[k], hv[k] + idx[i] * width[k], bytes);
            }
    }
    int64_t n0 = A->home[0].n;
    for (int64_t i = 0; A->l0 > 0 && i < B; i++) {
        if (back) {
            memcpy(A->qprev_home + idx[i] * n0, A->wq + i * n0, (size_t)n0 * 8);
            memcpy(A->uprev_home + idx[i] * n0, A->wu + i * n0, (size_t)n0 * 8);
        } else {
            memcpy(A->wq + i * n0, A->qprev_home + idx[i] * n0, (size_t)n0 * 8);
            memcpy(A->wu + i * n0, A->uprev_home + idx[i] * n0, (size_t)n0 * 8);
        }
    }
    const int32_t *label = A->base.r->train.label;
    for (int64_t i = 0; !back && i < B; i++)
        A->wlabel[i] = label[idx[i]];
    A->lay = back ? A->home : A->work;
    A->qprev = back ? A->qprev_home : A->wq;
    A->uprev = back ? A->uprev_home : A->wu;
    A->c.N = back ? A->ntot : B;
    A->c.label = back ? label : A->wlabel;
}
