/* admm.c - pdADMM, decompose = layers(admm(rho: R, nu: V)): the dense-relu
 * chain of the model (the descriptor's `layer` records) trained with no
 * backward pass, each rank owning a contiguous group of layers.
 *
 * One step of the trainer is one ADMM iteration on its mini-batch: the
 * full batch (the paper's setting, batch >= the training set) or, with a
 * smaller batch, the rows of that mini-batch - every sample keeps its own
 * p, z, q, u (and the left halo's q, u) on the rank that owns the layer,
 * copied into work layers for the step and back after it; W and b are
 * updated from the mini-batch's rows alone.  Within a step, as the
 * reference code orders them (admm_update.c does the updates):
 *   1. p_l of every layer l >= 1, from the previous iteration's q_{l-1},
 *      u_{l-1}; then the group's first p goes to the left neighbour
 *      (started, not waited for) and the right neighbour's first p is
 *      awaited only in step 3;
 *   2. W_l, b_l, z_l of every layer (local work, overlapping the message);
 *   3. q_l and u_l (l < L) with p_{l+1}; then the group's last q, u go to
 *      the right neighbour for the next iteration's step 1.
 * Every update reads the same values whatever the grouping, so the iterates
 * do not depend on the number of ranks (bitwise: tests/strategies).
 * W and b are copied into theta after each iteration (the generated code
 * evaluates the network: losses, accuracies, checkpoints of theta).
 *
 * Initialisation (the first step of a fresh run): W, b from theta (the
 * program's initialisers), then a forward pass z_l = W_l p_l + b_l,
 * q_l = relu(z_l), p_{l+1} = q_l, u_l = 0, passed from rank to rank.  (The
 * reference draws W, b from N(0, 0.1) and starts z_L at +-1 from the labels.)
 *
 * The log's lagrangian, objective and residuals are those of the step's
 * rows (with mini-batches: the epoch's last mini-batch).
 *
 * State for checkpoints: W, b, z, p, q, u of every layer, in double, as one
 * array "admm.state" in layer order, gathered on rank 0 after every
 * iteration when the run checkpoints (rank 0 then holds a copy of all of it:
 * counted in the memory report); a resume gives each rank its layers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admm.h"
#include "exa/method.h"

/* --admm-check checks this many iterations from where the run starts (a
 * fresh start or a --resume): after the forward pass that starts a fresh
 * run every hidden subproblem is at its minimum 0, so the first iteration
 * alone would check little but the last layer; from a checkpoint the
 * subproblems are not trivial. */
enum { ADMM_CHECK_ITERS = 3 };

enum { TAG_P = 701, TAG_Q, TAG_U, TAG_FWD, TAG_STATE };

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
    double rep[8];             /* the last iteration's report (names below) */
} Admm;

static const char *const report_names[] = { "lagrangian", "objective", "residual_coupling", "residual_linear",
                                            "train_loss", "train_accuracy", "admm_seconds", "backtracks_capped" };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *alloc(int64_t n)
{
    return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

static int64_t dim_in(const ExaRun *r, int l)
{
    return r->prog->params[r->prog->layers[l].w].shape.dim[1];
}
static int64_t dim_out(const ExaRun *r, int l)
{
    return r->prog->params[r->prog->layers[l].w].shape.dim[0];
}

/* Layers [l0, l1) of rank k of P: contiguous groups of about equal work.
 * A layer's updates cost about N (n m + n + m) (the GEMMs of p and W and
 * the elementwise z, q, u), so rank k's group starts at the first layer
 * where the running sum of n m + n + m reaches k/P of the total, kept so
 * that every rank has a layer.  The grouping never changes the iterates. */
static double layer_work(const ExaRun *r, int l)
{
    return (double)(dim_in(r, l) * dim_out(r, l) + dim_in(r, l) + dim_out(r, l));
}

static void group(const ExaRun *r, int L, int P, int k, int *l0, int *l1)
{
    double total = 0, run = 0;
    for (int l = 0; l < L; l++)
        total += layer_work(r, l);
    int prev = 0, b = 0; /* boundary j: the first layer of rank j */
    *l0 = 0, *l1 = L;
    for (int j = 1; j < P; j++) {
        while (b < L && run + layer_work(r, b) / 2 < total * j / P) /* nearest to j/P of the work */
            run += layer_work(r, b++);
        int at = b;
        if (at <= prev) /* every rank a layer: before j ... */
            at = prev + 1;
        if (at > L - (P - j)) /* ... and after */
            at = L - (P - j);
        while (b < at)
            run += layer_work(r, b++);
        while (b > at)
            run -= layer_work(r, --b);
        if (j == k)
            *l0 = at;
        if (j == k + 1)
            *l1 = at;
        prev = at;
    }
}

/* Doubles of layer l in the state: W, b, z, then p (l > 0), q, u (l < L-1). */
static int64_t layer_state(const ExaRun *r, int l, int L, int64_t N)
{
    int64_t n = dim_in(r, l), m = dim_out(r, l);
    return m * n + m + N * m + (l > 0 ? N * n : 0) + (l < L - 1 ? 2 * N * m : 0);
}

/* Bytes rank k needs: its layers' variables, the halos, the scratch, the
 * x copy, on rank 0 the gathered state when checkpointing, and with
 * mini-batches of B < N samples the batch's copies. */
static int64_t rank_bytes(const ExaRun *r, int L, int P, int k, int64_t N, int64_t B, int ckpt)
{
    int l0, l1;
    group(r, L, P, k, &l0, &l1);
    int64_t d = 0, mx = 0, mm = 0, mw = 0, all = 0;
    for (int l = 0; l < L; l++)
        all += layer_state(r, l, L, N);
    for (int l = l0; l < l1; l++) {
        int64_t n = dim_in(r, l), m = dim_out(r, l);
        d += layer_state(r, l, L, N) + (l == 0 ? N * n : 0);
        mx = n > mx ? n : mx, mx = m > mx ? m : mx, mm = m > mm ? m : mm, mw = m * n > mw ? m * n : mw;
    }
    d += l0 > 0 ? 2 * N * dim_in(r, l0) : 0;
    d += l1 < L ? N * dim_out(r, l1 - 1) : 0;
    d += N * mm + 2 * N * mx + 2 * mw + (l1 == L ? 2 * N * dim_out(r, L - 1) : 0); /* scratch */
    d += k == 0 && ckpt ? all : 0;
    for (int l = l0; B < N && l < l1; l++) /* a mini-batch's rows of p, z, q, u */
        d += B * (dim_in(r, l) + 3 * dim_out(r, l)) + (l == l0 && l0 > 0 ? 2 * B * dim_in(r, l) : 0);
    return 8 * d;
}

/* MemAvailable of /proc/meminfo in bytes, or -1. */
static int64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : 1024 * (int64_t)kb;
}

/* ---- the variables ----------------------------------------------------------- */

static AdmmLayer *L_(Admm *A, int l)
{
    return &A->lay[l - A->l0];
}

static const double *q_of(Admm *A, int l) /* q_{l}, local or the halo */
{
    return l < A->l0 ? A->qprev : L_(A, l)->q;
}
static const double *u_of(Admm *A, int l)
{
    return l < A->l0 ? A->uprev : L_(A, l)->u;
}
static const double *p_of(Admm *A, int l)
{
    return l >= A->l1 ? A->pnext : L_(A, l)->p;
}

/* W, b of the local layers into theta on every rank (others' parts summed
 * in as they are: x + 0 is exact). */
static void publish(Admm *A)
{
    ExaRun *r = A->base.r;
    double *t = alloc(r->n);
    for (int l = A->l0; l < A->l1; l++) {
        const ExaChainLayer *cl = &r->prog->layers[l];
        AdmmLayer *y = L_(A, l);
        memcpy(t + r->prog->params[cl->w].offset, y->W, (size_t)(y->m * y->n) * sizeof *t);
        memcpy(t + r->prog->params[cl->b].offset, y->b, (size_t)y->m * sizeof *t);
    }
    exa_comm_allreduce_sum(&A->base.comm, t, (size_t)r->n, EXA_REAL_F64);
    for (int64_t i = 0; i < r->n; i++)
        exa_set(r, r->theta, i, t[i]);
    free(t);
}

/* The forward pass that starts a fresh run. */
static void forward(Admm *A)
{
    ExaRun *r = A->base.r;
    const ExaComm *cm = &A->base.comm;
    int64_t N = A->c.N;
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = L_(A, l);
        const ExaChainLayer *cl = &r->prog->layers[l];
        for (int64_t i = 0; i < y->m * y->n; i++)
            y->W[i] = exa_get(r, r->theta, r->prog->params[cl->w].offset + i);
        for (int64_t i = 0; i < y->m; i++)
            y->b[i] = exa_get(r, r->theta, r->prog->params[cl->b].offset + i);
    }
    if (A->l0 > 0) {
        exa_comm_recv(cm, L_(A, A->l0)->p, (size_t)(N * L_(A, A->l0)->n) * 8, cm->rank - 1, TAG_FWD);
        memcpy(A->qprev, L_(A, A->l0)->p, (size_t)(N * L_(A, A->l0)->n) * 8);
    }
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = L_(A, l);
        admm_affine(&A->c, y, y->p);
        memcpy(y->z, A->c.a, (size_t)(N * y->m) * 8);
        if (y->last)
            break;
        for (int64_t i = 0; i < N * y->m; i++)
            y->q[i] = y->z[i] > 0 ? y->z[i] : 0;
        if (l + 1 < A->l1)
            memcpy(L_(A, l + 1)->p, y->q, (size_t)(N * y->m) * 8);
    }
    if (A->l1 < A->L)
        exa_comm_send(cm, L_(A, A->l1 - 1)->q, (size_t)(N * L_(A, A->l1 - 1)->m) * 8, cm->rank + 1, TAG_FWD);
    A->ready = 1;
}

/* ---- one iteration ------------------------------------------------------------ */

/* --admm-check: a subproblem's value before and after its update. */
static void check(Admm *A, int l, const char *what, double before, double after, const char *also)
{
    int ok = after <= before + 1e-12 * fmax(fabs(before), 1) && (!also || !*also);
    A->check_failed |= !ok;
    printf("admm-check: rank %d layer %d %-2s subproblem %.17g -> %.17g%s%s: %s\n", A->base.comm.rank, l + 1,
           what, before, after, also && *also ? "; " : "", also ? also : "", ok ? "ok" : "FAILED");
}

/* The closed forms of b and q: their gradients vanish (relative). */
static void closed_form_b(Admm *A, AdmmLayer *y, char *msg, size_t n)
{
    admm_affine(&A->c, y, y->p);
    double worst = 0, scale = 0;
    for (int64_t j = 0; j < y->m; j++) {
        double s = 0;
        for (int64_t i = 0; i < A->c.N; i++) {
            s += y->z[i * y->m + j] - A->c.a[i * y->m + j];
            scale = fmax(scale, fabs(y->z[i * y->m + j]) + fabs(A->c.a[i * y->m + j]));
        }
        worst = fmax(worst, fabs(s) / (double)A->c.N);
    }
    if (worst > 1e-10 * fmax(scale, 1))
        snprintf(msg, n, "gradient %.3g is not 0", worst);
}

static void closed_form_q(Admm *A, AdmmLayer *y, const double *pn, char *msg, size_t n)
{
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < A->c.N * y->m; i++) {
        double rz = y->z[i] > 0 ? y->z[i] : 0;
        double g = A->c.nu * (y->q[i] - rz) - y->u[i] - A->c.rho * (pn[i] - y->q[i]);
        worst = fmax(worst, fabs(g));
        scale = fmax(scale, A->c.nu * fabs(y->q[i]) + A->c.nu * rz + fabs(y->u[i]) + A->c.rho * fabs(pn[i]));
    }
    if (worst > 1e-12 * fmax(scale, 1e-300))
        snprintf(msg, n, "gradient %.3g is not 0", worst);
}

/* Each element of a hidden z: no worse than before, and no point within
 * 1e-4 on its side of 0 better for the subproblem plus nu/2 (z - z_old)^2. */
static void closed_form_z(Admm *A, AdmmLayer *y, const double *zold, char *msg, size_t n)
{
    admm_affine(&A->c, y, y->p);
    int64_t bad = 0;
    for (int64_t i = 0; i < A->c.N * y->m; i++) {
        double a = A->c.a[i], q = y->q[i], z = y->z[i];
#define F(v) (((v) - a) * ((v) - a) + (q - fmax((v), 0)) * (q - fmax((v), 0)))
        double d = 1e-4, tol = 1e-12 * (1 + a * a + q * q + z * z);
        double lo = z <= 0 ? z - d : fmax(z - d, 0), hi = z <= 0 ? fmin(z + d, 0) : z + d;
        double g = F(z) + (z - zold[i]) * (z - zold[i]);
        if (F(z) > F(zold[i]) + tol
            || (F(z) <= F(zold[i]) && g > F(lo) + (lo - zold[i]) * (lo - zold[i]) + tol
                && g > F(hi) + (hi - zold[i]) * (hi - zold[i]) + tol))
            bad++;
#undef F
    }
    if (bad)
        snprintf(msg, n, "%lld elements are not the closed form's", (long long)bad);
}

static void iterate(Admm *A, int checking)
{
    const ExaComm *cm = &A->base.comm;
    AdmmCtx *c = &A->c;
    int64_t N = c->N;
    char msg[128];
    double before;
    /* 1. p */
    for (int l = A->l0 > 0 ? A->l0 : 1; l < A->l1; l++) {
        AdmmLayer *y = L_(A, l);
        if (checking)
            before = admm_obj_p(c, y, y->p, q_of(A, l - 1), u_of(A, l - 1));
        admm_update_p(c, y, q_of(A, l - 1), u_of(A, l - 1));
        if (checking)
            check(A, l, "p", before, admm_obj_p(c, y, y->p, q_of(A, l - 1), u_of(A, l - 1)), NULL);
    }
    MPI_Request sp = MPI_REQUEST_NULL, rp = MPI_REQUEST_NULL;
    if (A->l0 > 0)
        sp = exa_comm_isend(cm, A->lay[0].p, (size_t)(N * A->lay[0].n) * 8, cm->rank - 1, TAG_P);
    if (A->l1 < A->L)
        rp = exa_comm_irecv(cm, A->pnext, (size_t)(N * L_(A, A->l1 - 1)->m) * 8, cm->rank + 1, TAG_P);
    /* 2. W, b, z: local */
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = L_(A, l);
        if (checking)
            before = admm_obj_fit(c, y);
        admm_update_W(c, y);
        if (checking) {
            check(A, l, "W", before, admm_obj_fit(c, y), NULL);
            before = admm_obj_fit(c, y);
        }
        admm_update_b(c, y);
        if (checking) {
            msg[0] = 0;
            closed_form_b(A, y, msg, sizeof msg);
            check(A, l, "b", before, admm_obj_fit(c, y), msg);
        }
        double *zold = NULL;
        if (checking) {
            before = admm_obj_z(c, y, y->z);
            zold = alloc(N * y->m);
            memcpy(zold, y->z, (size_t)(N * y->m) * 8);
        }
        admm_update_z(c, y);
        if (checking) {
            msg[0] = 0;
            if (!y->last)
                closed_form_z(A, y, zold, msg, sizeof msg);
            check(A, l, "z", before, admm_obj_z(c, y, y->z), msg);
            free(zold);
        }
    }
    exa_comm_wait(cm, &rp);
    /* 3. q, u */
    for (int l = A->l0; l < A->l1 && l < A->L - 1; l++) {
        AdmmLayer *y = L_(A, l);
        if (checking)
            before = admm_obj_q(c, y, y->q, p_of(A, l + 1));
        admm_update_q(c, y, p_of(A, l + 1));
        if (checking) {
            msg[0] = 0;
            closed_form_q(A, y, p_of(A, l + 1), msg, sizeof msg);
            check(A, l, "q", before, admm_obj_q(c, y, y->q, p_of(A, l + 1)), msg);
        }
        admm_update_u(c, y, p_of(A, l + 1));
    }
    exa_comm_wait(cm, &sp);
    MPI_Request s[2] = { MPI_REQUEST_NULL, MPI_REQUEST_NULL }, rq[2] = { MPI_REQUEST_NULL, MPI_REQUEST_NULL };
    if (A->l1 < A->L) {
        AdmmLayer *y = L_(A, A->l1 - 1);
        s[0] = exa_comm_isend(cm, y->q, (size_t)(N * y->m) * 8, cm->rank + 1, TAG_Q);
        s[1] = exa_comm_isend(cm, y->u, (size_t)(N * y->m) * 8, cm->rank + 1, TAG_U);
    }
    if (A->l0 > 0) {
        rq[0] = exa_comm_irecv(cm, A->qprev, (size_t)(N * A->lay[0].n) * 8, cm->rank - 1, TAG_Q);
        rq[1] = exa_comm_irecv(cm, A->uprev, (size_t)(N * A->lay[0].n) * 8, cm->rank - 1, TAG_U);
    }
    for (int i = 0; i < 2; i++) {
        exa_comm_wait(cm, &rq[i]);
        exa_comm_wait(cm, &s[i]);
    }
}

/* The Lagrangian, the objective and the two residuals (after the exchange:
 * every rank has p_{l1} as of this iteration in pnext). */
static void measure(Admm *A)
{
    AdmmCtx *c = &A->c;
    double v[5] = { 0 }; /* objective, coupling terms, ||p - q||^2, ||z - Wp - b||^2, capped */
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = L_(A, l);
        int64_t nz = c->N * y->m;
        admm_affine(c, y, y->p);
        double fit = admm_dist2(y->z, c->a, nz);
        v[3] += fit;
        v[0] += c->nu / 2 * fit;
        if (y->last) {
            v[0] += admm_ce(c, y->z, y->m);
            continue;
        }
        const double *pn = p_of(A, l + 1);
        double rel = 0, inner = 0;
        for (int64_t i = 0; i < nz; i++) {
            double rz = y->z[i] > 0 ? y->z[i] : 0;
            rel += (y->q[i] - rz) * (y->q[i] - rz);
            inner += y->u[i] * (pn[i] - y->q[i]);
        }
        double cp = admm_dist2(pn, y->q, nz);
        v[0] += c->nu / 2 * rel;
        v[1] += inner + c->rho / 2 * cp;
        v[2] += cp;
    }
    v[4] = c->backtracks_capped;
    exa_comm_allreduce_sum(&A->base.comm, v, 5, EXA_REAL_F64);
    A->rep[0] = v[0] + v[1];
    A->rep[1] = v[0];
    A->rep[2] = sqrt(v[2]);
    A->rep[3] = sqrt(v[3]);
    A->rep[7] = v[4];
}

/* ---- checkpoints ------------------------------------------------------------- */

/* Copies layer l's variables to (out != 0) or from the state at *at. */
static void pack(Admm *A, int l, double *st, int64_t *at, int out)
{
    AdmmLayer *y = L_(A, l);
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
static void gather(Admm *A)
{
    const ExaComm *cm = &A->base.comm;
    int64_t at = 0;
    for (int l = 0; l < A->l0; l++)
        at += layer_state(A->base.r, l, A->L, A->c.N);
    int64_t mine = 0;
    for (int l = A->l0; l < A->l1; l++)
        mine += layer_state(A->base.r, l, A->L, A->c.N);
    double *buf = cm->rank == 0 ? A->state + at : alloc(mine);
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
        group(A->base.r, A->L, cm->size, k2, &a0, &a1);
        int64_t off = 0, len = 0;
        for (int l = 0; l < a0; l++)
            off += layer_state(A->base.r, l, A->L, A->c.N);
        for (int l = a0; l < a1; l++)
            len += layer_state(A->base.r, l, A->L, A->c.N);
        MPI_Request q = exa_comm_irecv(cm, A->state + off, (size_t)len * 8, k2, TAG_STATE);
        exa_comm_wait(cm, &q);
    }
}

static void admm_save(ExaMethod *m, ExaStateList *l)
{
    Admm *A = (Admm *)m;
    if (!A->state) /* a resume on a rank other than 0: room for the whole state, until load */
        A->state = alloc(A->state_len);
    if (!A->state) {
        fprintf(stderr, "exa: rank %d: layers(admm): out of memory for the checkpoint state\n", m->comm.rank);
        exit(1);
    }
    exa_state_add(l, "admm", "state", A->state, A->state_len * 8);
    A->count[1] = A->c.backtracks_capped;
    exa_state_add(l, "admm", "counts", A->count, sizeof A->count);
}

static void admm_load(ExaMethod *m)
{
    Admm *A = (Admm *)m;
    int64_t at = 0;
    for (int l = 0; l < A->l0; l++)
        at += layer_state(m->r, l, A->L, A->c.N);
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
static void rows(Admm *A, const int64_t *idx, int64_t B, int back)
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

/* ---- the method -------------------------------------------------------------- */

static double admm_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Admm *A = (Admm *)m;
    ExaRun *r = m->r;
    double loss = exa_run_loss(r, r->theta, NULL, begin, count, EXA_SHARD_SPLIT);
    if (!A->ready)
        forward(A);
    double t0 = now();
    int batch = count < A->ntot;
    if (batch)
        rows(A, r->order + begin, count, 0);
    iterate(A, A->checking);
    A->rep[6] = exa_comm_sum_double(&m->comm, now() - t0) / m->comm.size;
    A->count[0]++;
    measure(A);
    if (batch)
        rows(A, r->order + begin, count, 1);
    publish(A);
    A->rep[4] = A->rep[5] = NAN; /* train loss and accuracy: at the report */
    if (A->checkpointing)
        gather(A);
    return loss;
}

static int admm_report(ExaMethod *m, const char **names, double *values, int max)
{
    Admm *A = (Admm *)m;
    if (isnan(A->rep[4]))
        exa_run_evaluate(m->r, &m->r->train, &A->rep[4], &A->rep[5]);
    int n = 0;
    for (; n < 8 && n < max; n++)
        names[n] = report_names[n], values[n] = A->rep[n];
    return n;
}

/* --admm-check: the first iterations with every update checked (printed by
 * iterate); 0 when all pass on every rank. */
static int admm_check(ExaMethod *m)
{
    Admm *A = (Admm *)m;
    exa_data_epoch_order(m->r->order, m->r->train.n, (uint64_t)m->r->seed, 0);
    int64_t B = m->r->batch < A->ntot ? m->r->batch : A->ntot; /* the first mini-batch, or all */
    A->checking = 1;
    for (int k = 0; k < ADMM_CHECK_ITERS; k++)
        admm_step(m, 0, B);
    A->checking = 0;
    fflush(stdout);
    int failed = exa_comm_max_int(&m->comm, A->check_failed);
    if (m->comm.rank == 0)
        printf("admm-check: %d iterations, %d layers on %d ranks, %lld samples of %lld: %s\n", ADMM_CHECK_ITERS,
               A->L, m->comm.size, (long long)B, (long long)A->ntot, failed ? "FAILED" : "every update lowered (or kept) its subproblem; "
               "b, z, q are the closed forms");
    return failed;
}

static double admm_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count)
{
    return exa_run_loss(m->r, theta, grad, begin, count, EXA_SHARD_SPLIT);
}

static void admm_free(ExaMethod *m)
{
    Admm *A = (Admm *)m;
    for (int l = 0; A->home && l < A->l1 - A->l0; l++) {
        AdmmLayer *y = &A->home[l];
        free(y->W), free(y->b), free(y->z), free(y->p), free(y->q), free(y->u);
    }
    for (int l = 0; A->work && l < A->l1 - A->l0; l++) {
        AdmmLayer *y = &A->work[l];
        free(y->z), free(y->p), free(y->q), free(y->u);
    }
    free(A->home), free(A->work), free(A->wq), free(A->wu), free(A->wlabel);
    free(A->qprev_home), free(A->uprev_home), free(A->pnext), free(A->state);
    free(A->c.a), free(A->c.g), free(A->c.t), free(A->c.gw), free(A->c.tw), free(A->c.s1), free(A->c.s2);
    free(A);
}

static ExaMethod *fail(Admm *A, char *err, size_t errlen, const char *fmt, const char *name, const char *what)
{
    snprintf(err, errlen, fmt, name, what);
    admm_free(&A->base);
    return NULL;
}

static ExaMethod *admm_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err, size_t errlen)
{
    Admm *A = calloc(1, sizeof *A);
    if (!A)
        return NULL;
    A->base.ops = &exa_method_admm;
    exa_call_print(d, A->base.name, sizeof A->base.name);
    const char *name = A->base.name;
    const ExaValue *in = exa_call_arg(d, "_0");
    const ExaCall *call = in && in->kind == EXA_CALL ? in->call : d;
    const ExaProgram *p = r->prog;
    A->L = p->nlayers;
    A->c.N = r->train.n;
    A->c.rho = exa_call_num(call, "rho", 1e-4);
    A->c.nu = exa_call_num(call, "nu", A->c.rho);
    char buf[512];
    if (!(A->c.rho > 0) || !(A->c.nu > 0) || !isfinite(A->c.rho) || !isfinite(A->c.nu))
        return fail(A, err, errlen, "exa: decompose = %s: rho and nu must be positive%s", name, "");
    if (A->L < 2)
        return fail(A, err, errlen, "exa: decompose = %s: the program has no dense-relu chain%s "
                    "(compiled by an older exac? recompile it)", name, "");
    if (r->train.target != EXA_TARGET_CLASS || r->train.classes != dim_out(r, A->L - 1))
        return fail(A, err, errlen, "exa: decompose = %s: %s", name,
                    "the training set needs class labels, one per output of the last layer");
    if (comm->size > A->L) {
        snprintf(buf, sizeof buf, "the chain has %d layers and the run has %d ranks; run with at most %d",
                 A->L, comm->size, A->L);
        return fail(A, err, errlen, "exa: decompose = %s: %s", name, buf);
    }
    const ExaSetting *ck = exa_program_setting(p, "checkpoint");
    A->checkpointing = r->opt.checkpoint_dir || (ck && ck->value.kind == EXA_STR);
    /* memory: what each rank holds, against what this node has for its ranks */
    int64_t worst = 0;
    int worst_rank = 0;
    for (int k = 0; k < comm->size; k++) {
        int64_t b = rank_bytes(r, A->L, comm->size, k, A->c.N, r->batch, A->checkpointing);
        if (b > worst)
            worst = b, worst_rank = k;
    }
    int64_t mine = rank_bytes(r, A->L, comm->size, comm->rank, A->c.N, r->batch, A->checkpointing);
    int64_t avail = mem_available();
    int node = exa_comm_node_ranks(comm);
    int refuse = exa_comm_max_int(comm, avail > 0 && mine > avail / node);
    if (comm->rank == 0)
        printf("exa: %s: %d layers on %d rank%s, %s of %lld samples: %.1f MiB per rank at most "
               "(rank %d)%s; %.1f MiB available for %d rank%s on this node\n", name, A->L, comm->size,
               comm->size == 1 ? "" : "s", r->batch < A->c.N ? "mini-batches" : "full batch",
               (long long)A->c.N, (double)worst / 1048576.0, worst_rank,
               A->checkpointing ? ", rank 0 with the checkpoint's copy of all variables" : "",
               (double)avail / 1048576.0, node, node == 1 ? "" : "s");
    if (refuse) {
        snprintf(buf, sizeof buf, "needs %.1f MiB on rank %d (p, z, q, u of %lld samples) and the node has "
                 "%.1f MiB for %d rank%s; use fewer samples (--limit) or more nodes",
                 (double)worst / 1048576.0, worst_rank, (long long)A->c.N, (double)avail / 1048576.0, node,
                 node == 1 ? "" : "s");
        return fail(A, err, errlen, "exa: decompose = %s: %s", name, buf);
    }
    group(r, A->L, comm->size, comm->rank, &A->l0, &A->l1);
    int64_t N = A->c.N, mx = 0, mm = 0, mw = 0;
    A->ntot = N;
    A->home = A->lay = calloc((size_t)(A->l1 - A->l0), sizeof *A->lay);
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = L_(A, l);
        y->n = dim_in(r, l), y->m = dim_out(r, l), y->last = l == A->L - 1;
        y->W = alloc(y->m * y->n), y->b = alloc(y->m), y->z = alloc(N * y->m), y->p = alloc(N * y->n);
        if (!y->last)
            y->q = alloc(N * y->m), y->u = alloc(N * y->m);
        mx = y->n > mx ? y->n : mx, mx = y->m > mx ? y->m : mx, mm = y->m > mm ? y->m : mm;
        mw = y->m * y->n > mw ? y->m * y->n : mw;
    }
    if (A->l0 == 0) /* p_0 = x, rows in sample order */
        for (int64_t i = 0; i < N * A->lay[0].n; i++)
            A->lay[0].p[i] = r->train.x[i];
    if (A->l0 > 0)
        A->qprev = A->qprev_home = alloc(N * A->lay[0].n), A->uprev = A->uprev_home = alloc(N * A->lay[0].n);
    int64_t B = r->batch;
    int nomem = 0;
    if (B < N) { /* mini-batches: the work layers hold a batch's rows; W, b are home's */
        A->work = calloc((size_t)(A->l1 - A->l0), sizeof *A->work);
        nomem |= !A->work || !(A->wlabel = calloc((size_t)B, sizeof *A->wlabel));
        for (int l = A->l0; A->work && l < A->l1; l++) {
            AdmmLayer *h = L_(A, l), *w = &A->work[l - A->l0];
            *w = *h;
            w->p = alloc(B * h->n), w->z = alloc(B * h->m);
            w->q = h->q ? alloc(B * h->m) : NULL, w->u = h->u ? alloc(B * h->m) : NULL;
            nomem |= !w->p || !w->z || (h->q && (!w->q || !w->u));
        }
        if (A->l0 > 0)
            nomem |= !(A->wq = alloc(B * A->lay[0].n)) || !(A->wu = alloc(B * A->lay[0].n));
    }
    if (A->l1 < A->L)
        A->pnext = alloc(N * L_(A, A->l1 - 1)->m);
    A->c.a = alloc(N * mm), A->c.g = alloc(N * mx), A->c.t = alloc(N * mx), A->c.gw = alloc(mw),
    A->c.tw = alloc(mw), A->c.s1 = alloc(A->l1 == A->L ? N * L_(A, A->L - 1)->m : 0),
    A->c.s2 = alloc(A->l1 == A->L ? N * L_(A, A->L - 1)->m : 0);
    A->c.label = r->train.label;
    nomem |= !A->lay || !A->c.a || !A->c.g || !A->c.t || !A->c.gw || !A->c.tw || !A->c.s1 || !A->c.s2
                || (A->l0 > 0 && (!A->qprev || !A->uprev)) || (A->l1 < A->L && !A->pnext);
    for (int l = A->l0; A->lay && l < A->l1; l++) {
        AdmmLayer *y = L_(A, l);
        nomem |= !y->W || !y->b || !y->z || !y->p || (!y->last && (!y->q || !y->u));
    }
    if (nomem)
        return fail(A, err, errlen, "exa: decompose = %s: out of memory for the ADMM variables%s", name, "");
    for (int l = 0; l < A->L; l++)
        A->state_len += layer_state(r, l, A->L, N);
    if (A->checkpointing && comm->rank == 0)
        A->state = alloc(A->state_len);
    for (int k = 0; k < 8; k++)
        A->rep[k] = NAN;
    return &A->base;
}

const ExaMethodOps exa_method_admm = {
    .name = "admm", .create = admm_create, .step = admm_step, .loss = admm_loss, .save = admm_save,
    .load = admm_load, .free = admm_free, .report = admm_report, .check = admm_check,
};
