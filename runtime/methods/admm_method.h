/* admm_method.h - the pdADMM method's state and its parts, shared by
 * admm.c (create, the schedule of one iteration, the report), admm_layout.c
 * (sizes, layer groups, memory), admm_state.c (checkpoints, mini-batch rows)
 * and admm_check.c (--admm-check).  The layer updates are admm.h's. */
#ifndef EXA_ADMM_METHOD_H
#define EXA_ADMM_METHOD_H

#include <stddef.h>
#include <stdint.h>

#include "admm.h"
#include "exa/method.h"

/* --admm-check checks this many iterations from where the run starts (a
 * fresh start or a --resume): after the forward pass that starts a fresh
 * run every hidden subproblem is at its minimum 0, so the first iteration
 * alone would check little but the last layer; from a checkpoint the
 * subproblems are not trivial. */
enum { ADMM_CHECK_ITERS = 3 };

enum { TAG_P = 701, TAG_Q, TAG_U, TAG_FWD, TAG_STATE }; /* message tags */

typedef struct Admm {
    ExaMethod base;
    AdmmCtx c;
    int L, l0, l1;             /* layers, this rank's [l0, l1) */
    AdmmLayer *lay;            /* l1 - l0: the layers a step works on (home or work) */
    double *qprev, *uprev;     /* q, u of layer l0 - 1 (left neighbour's), as lay */
    double *pnext;             /* p of layer l1 (right neighbour's), this step's rows */
    AdmmLayer *home;           /* every sample's variables */
    double *qprev_home, *uprev_home;
    AdmmLayer *work;           /* mini-batches: the batch's rows (W, b shared), or NULL */
    double *wq, *wu;
    int32_t *wlabel;
    int64_t ntot;              /* training samples */
    int ready;                 /* variables set (forward pass or resume) */
    int64_t count[2];          /* iterations done, capped backtracking loops (checkpointed) */
    int checkpointing;
    double *state;             /* the gathered state (rank 0), or while resuming */
    int64_t state_len;         /* doubles */
    int checking, check_failed; /* --admm-check */
    int64_t grow;              /* grow: K - the inserted layers are held at W = I, b = 0 for the
                                * first K iterations (count[0] < grow), then join */
    double rep[9];             /* the last iteration's report (names in admm.c) */
} Admm;

/* admm_layout.c */
void *admm_alloc(int64_t n); /* n doubles, zeroed (n = 0: one) */
int64_t admm_dim_in(const ExaRun *r, int l);
int64_t admm_dim_out(const ExaRun *r, int l);
void admm_group(const ExaRun *r, int L, int P, int k, int *l0, int *l1);
int64_t admm_layer_state(const ExaRun *r, int l, int L, int64_t N);
int64_t admm_rank_bytes(const ExaRun *r, int L, int P, int k, int64_t N, int64_t B, int ckpt);
int64_t admm_mem_available(void);

/* Whether layer l (global) is one grow: inserts - a square hidden layer
 * (admm.c says why these) - and whether it is held at W = I, b = 0 now. */
int admm_inserted(const ExaRun *r, int l, int L);
static inline int admm_held(const Admm *A, int l)
{
    return A->count[0] < A->grow && admm_inserted(A->base.r, l, A->L);
}

/* The local layer l (global index) and the neighbours' values. */
static inline AdmmLayer *admm_lay(Admm *A, int l)
{
    return &A->lay[l - A->l0];
}

static inline const double *admm_q_of(Admm *A, int l) /* q_{l}, local or the halo */
{
    return l < A->l0 ? A->qprev : admm_lay(A, l)->q;
}
static inline const double *admm_u_of(Admm *A, int l)
{
    return l < A->l0 ? A->uprev : admm_lay(A, l)->u;
}
static inline const double *admm_p_of(Admm *A, int l)
{
    return l >= A->l1 ? A->pnext : admm_lay(A, l)->p;
}

/* W, b of the local layers into theta on every rank (others' parts summed
 * in as they are: x + 0 is exact). */

/* admm_state.c */
void admm_gather(Admm *A);
void admm_save(ExaMethod *m, ExaStateList *l);
void admm_load(ExaMethod *m);
void admm_rows(Admm *A, const int64_t *idx, int64_t B, int back);

/* admm_check.c */
void admm_check_value(Admm *A, int l, const char *what, double before, double after, const char *also);
void admm_closed_form_b(Admm *A, AdmmLayer *y, char *msg, size_t n);
void admm_closed_form_q(Admm *A, AdmmLayer *y, const double *pn, char *msg, size_t n);
void admm_closed_form_z(Admm *A, AdmmLayer *y, const double *zold, char *msg, size_t n);
int admm_check(ExaMethod *m);

/* admm.c */
double admm_step(ExaMethod *m, int64_t begin, int64_t count);

#endif
