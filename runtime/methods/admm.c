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
 * counted in the memory report); a resume gives each rank its layers.
 *
 * Greedy layer-wise growth, admm(grow: K) (the reference's ADMM_10_layer:
 * train a shallow net, insert layers with W = I, b = 0, continue): the
 * inserted layers are the chain's square hidden layers (admm_inserted: n = m,
 * neither the first nor the output layer) - the only ones an identity can
 * stand for, and for the usual constant-width MLP all hidden layers but the
 * first, so the shallow net is the one-hidden-layer net.  For the first K
 * iterations their W, b are held at I, 0 (set at the fresh start, theta
 * too) and their W and b updates skipped; their p, z, q, u stay ADMM
 * variables and update as every layer's.  Because an inserted layer's input
 * is a relu output, relu(I p + 0) = p: the deep net computes the shallow
 * net's function at every one of those iterations, which is what trains;
 * from iteration K + 1 on their W, b update too.  The phase follows from
 * the iteration count, which the checkpoint holds, so a resume continues
 * it, and every rank decides it alike.  (The reference builds a new, deeper
 * problem at the insertion; here the deep problem's extra variables exist
 * from the start - the same function, not the same iterates.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admm_method.h"

static const char *const report_names[] = { "lagrangian", "objective", "residual_coupling", "residual_linear",
                                            "train_loss", "train_accuracy", "admm_seconds", "backtracks_capped",
                                            "grow_offset" };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void publish(Admm *A)
{
    ExaRun *r = A->base.r;
    double *t = admm_alloc(r->n);
    for (int l = A->l0; l < A->l1; l++) {
        const ExaChainLayer *cl = &r->prog->layers[l];
        AdmmLayer *y = admm_lay(A, l);
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
        AdmmLayer *y = admm_lay(A, l);
        const ExaChainLayer *cl = &r->prog->layers[l];
        for (int64_t i = 0; i < y->m * y->n; i++)
            y->W[i] = exa_get(r, r->theta, r->prog->params[cl->w].offset + i);
        for (int64_t i = 0; i < y->m; i++)
            y->b[i] = exa_get(r, r->theta, r->prog->params[cl->b].offset + i);
        if (admm_held(A, l)) /* grow: inserted as the identity */
            for (int64_t i = 0; i < y->m; i++) {
                memset(y->W + i * y->n, 0, (size_t)y->n * sizeof *y->W);
                y->W[i * y->n + i] = 1, y->b[i] = 0;
            }
    }
    if (A->grow > 0)
        publish(A);
    if (A->l0 > 0) {
        exa_comm_recv(cm, admm_lay(A, A->l0)->p, (size_t)(N * admm_lay(A, A->l0)->n) * 8, cm->rank - 1, TAG_FWD);
        memcpy(A->qprev, admm_lay(A, A->l0)->p, (size_t)(N * admm_lay(A, A->l0)->n) * 8);
    }
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = admm_lay(A, l);
        admm_affine(&A->c, y, y->p);
        memcpy(y->z, A->c.a, (size_t)(N * y->m) * 8);
        if (y->last)
            break;
        for (int64_t i = 0; i < N * y->m; i++)
            y->q[i] = y->z[i] > 0 ? y->z[i] : 0;
        if (l + 1 < A->l1)
            memcpy(admm_lay(A, l + 1)->p, y->q, (size_t)(N * y->m) * 8);
    }
    if (A->l1 < A->L)
        exa_comm_send(cm, admm_lay(A, A->l1 - 1)->q, (size_t)(N * admm_lay(A, A->l1 - 1)->m) * 8, cm->rank + 1, TAG_FWD);
    A->ready = 1;
}


/* ---- one iteration ------------------------------------------------------------ */

static void iterate(Admm *A, int checking)
{
    const ExaComm *cm = &A->base.comm;
    AdmmCtx *c = &A->c;
    int64_t N = c->N;
    char msg[128];
    double before;
    /* 1. p */
    for (int l = A->l0 > 0 ? A->l0 : 1; l < A->l1; l++) {
        AdmmLayer *y = admm_lay(A, l);
        if (checking)
            before = admm_obj_p(c, y, y->p, admm_q_of(A, l - 1), admm_u_of(A, l - 1));
        admm_update_p(c, y, admm_q_of(A, l - 1), admm_u_of(A, l - 1));
        if (checking)
            admm_check_value(A, l, "p", before, admm_obj_p(c, y, y->p, admm_q_of(A, l - 1), admm_u_of(A, l - 1)), NULL);
    }
    MPI_Request sp = MPI_REQUEST_NULL, rp = MPI_REQUEST_NULL;
    if (A->l0 > 0)
        sp = exa_comm_isend(cm, A->lay[0].p, (size_t)(N * A->lay[0].n) * 8, cm->rank - 1, TAG_P);
    if (A->l1 < A->L)
        rp = exa_comm_irecv(cm, A->pnext, (size_t)(N * admm_lay(A, A->l1 - 1)->m) * 8, cm->rank + 1, TAG_P);
    /* 2. W, b, z: local */
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = admm_lay(A, l);
        if (!admm_held(A, l)) { /* grow: held at W = I, b = 0 until it joins */
            if (checking)
                before = admm_obj_fit(c, y);
            admm_update_W(c, y);
            if (checking) {
                admm_check_value(A, l, "W", before, admm_obj_fit(c, y), NULL);
                before = admm_obj_fit(c, y);
            }
            admm_update_b(c, y);
            if (checking) {
                msg[0] = 0;
                admm_closed_form_b(A, y, msg, sizeof msg);
                admm_check_value(A, l, "b", before, admm_obj_fit(c, y), msg);
            }
        }
        double *zold = NULL;
        if (checking) {
            before = admm_obj_z(c, y, y->z);
            zold = admm_alloc(N * y->m);
            memcpy(zold, y->z, (size_t)(N * y->m) * 8);
        }
        admm_update_z(c, y);
        if (checking) {
            msg[0] = 0;
            if (!y->last)
                admm_closed_form_z(A, y, zold, msg, sizeof msg);
            admm_check_value(A, l, "z", before, admm_obj_z(c, y, y->z), msg);
            free(zold);
        }
    }
    exa_comm_wait(cm, &rp);
    /* 3. q, u */
    for (int l = A->l0; l < A->l1 && l < A->L - 1; l++) {
        AdmmLayer *y = admm_lay(A, l);
        if (checking)
            before = admm_obj_q(c, y, y->q, admm_p_of(A, l + 1));
        admm_update_q(c, y, admm_p_of(A, l + 1));
        if (checking) {
            msg[0] = 0;
            admm_closed_form_q(A, y, admm_p_of(A, l + 1), msg, sizeof msg);
            admm_check_value(A, l, "q", before, admm_obj_q(c, y, y->q, admm_p_of(A, l + 1)), msg);
        }
        admm_update_u(c, y, admm_p_of(A, l + 1));
    }
    exa_comm_wait(cm, &sp);
    MPI_Request s[2] = { MPI_REQUEST_NULL, MPI_REQUEST_NULL }, rq[2] = { MPI_REQUEST_NULL, MPI_REQUEST_NULL };
    if (A->l1 < A->L) {
        AdmmLayer *y = admm_lay(A, A->l1 - 1);
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
    double v[6] = { 0 }; /* objective, coupling terms, ||p - q||^2, ||z - Wp - b||^2, capped, grow offset */
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = admm_lay(A, l);
        for (int64_t i = 0; A->grow > 0 && admm_inserted(A->base.r, l, A->L) && i < y->m; i++) {
            for (int64_t j = 0; j < y->n; j++) /* ||W - I||^2 + ||b||^2: 0 while held */
                v[5] += (y->W[i * y->n + j] - (i == j)) * (y->W[i * y->n + j] - (i == j));
            v[5] += y->b[i] * y->b[i];
        }
        int64_t nz = c->N * y->m;
        admm_affine(c, y, y->p);
        double fit = admm_dist2(y->z, c->a, nz);
        v[3] += fit;
        v[0] += c->nu / 2 * fit;
        if (y->last) {
            v[0] += admm_ce(c, y->z, y->m);
            continue;
        }
        const double *pn = admm_p_of(A, l + 1);
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
    exa_comm_allreduce_sum(&A->base.comm, v, 6, EXA_REAL_F64);
    A->rep[0] = v[0] + v[1];
    A->rep[1] = v[0];
    A->rep[2] = sqrt(v[2]);
    A->rep[3] = sqrt(v[3]);
    A->rep[7] = v[4];
    A->rep[8] = A->grow > 0 ? sqrt(v[5]) : NAN;
}

/* ---- the method -------------------------------------------------------------- */

double admm_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Admm *A = (Admm *)m;
    ExaRun *r = m->r;
    if (!A->ready) /* first: with grow it sets the inserted layers' theta to I, 0 */
        forward(A);
    double loss = exa_run_loss(r, r->theta, NULL, begin, count, EXA_SHARD_SPLIT);
    double t0 = now();
    int batch = count < A->ntot;
    if (batch)
        admm_rows(A, r->order + begin, count, 0);
    iterate(A, A->checking);
    A->rep[6] = exa_comm_sum_double(&m->comm, now() - t0) / m->comm.size;
    A->count[0]++;
    if (A->grow > 0 && A->count[0] == A->grow && m->comm.rank == 0)
        printf("exa: %s: after iteration %lld the inserted layers join: all %d layers train\n", m->name,
               (long long)A->count[0], A->L);
    measure(A);
    if (batch)
        admm_rows(A, r->order + begin, count, 1);
    publish(A);
    A->rep[4] = A->rep[5] = NAN; /* train loss and accuracy: at the report */
    if (A->checkpointing)
        admm_gather(A);
    return loss;
}

static int admm_report(ExaMethod *m, const char **names, double *values, int max)
{
    Admm *A = (Admm *)m;
    if (isnan(A->rep[4]))
        exa_run_evaluate(m->r, &m->r->train, &A->rep[4], &A->rep[5]);
    int n = 0;
    for (; n < 9 && n < max; n++)
        names[n] = report_names[n], values[n] = A->rep[n];
    return n;
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
    double grow = exa_call_num(call, "grow", 0);
    char buf[512];
    if (!(grow >= 0) || grow > 1e15 || grow != floor(grow))
        return fail(A, err, errlen, "exa: decompose = %s: grow must be a non-negative integer%s", name, "");
    A->grow = (int64_t)grow;
    if (!(A->c.rho > 0) || !(A->c.nu > 0) || !isfinite(A->c.rho) || !isfinite(A->c.nu))
        return fail(A, err, errlen, "exa: decompose = %s: rho and nu must be positive%s", name, "");
    if (A->L < 2)
        return fail(A, err, errlen, "exa: decompose = %s: the program has no dense-relu chain%s "
                    "(compiled by an older exac? recompile it)", name, "");
    if (r->train.target != EXA_TARGET_CLASS || r->train.classes != admm_dim_out(r, A->L - 1))
        return fail(A, err, errlen, "exa: decompose = %s: %s", name,
                    "the training set needs class labels, one per output of the last layer");
    if (comm->size > A->L) {
        snprintf(buf, sizeof buf, "the chain has %d layers and the run has %d ranks; run with at most %d",
                 A->L, comm->size, A->L);
        return fail(A, err, errlen, "exa: decompose = %s: %s", name, buf);
    }
    if (A->grow > 0) { /* exac refuses this too; a program from an older exac may differ */
        int ins = 0;
        size_t len = 0;
        buf[0] = 0;
        for (int l = 0; l < A->L; l++)
            if (admm_inserted(r, l, A->L)) {
                ins++;
                if (len < sizeof buf - 16)
                    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%d", ins > 1 ? ", " : "", l + 1);
            }
        if (!ins)
            return fail(A, err, errlen, "exa: decompose = %s: grow needs a square hidden layer to insert%s", name,
                        "");
        if (comm->rank == 0)
            printf("exa: %s: grow: dense layer%s %s inserted as W = I, b = 0 for the first %lld iterations\n", name,
                   ins > 1 ? "s" : "", buf, (long long)A->grow);
    }
    const ExaSetting *ck = exa_program_setting(p, "checkpoint");
    A->checkpointing = r->opt.checkpoint_dir || (ck && ck->value.kind == EXA_STR);
    /* memory: what each rank holds, against what this node has for its ranks */
    int64_t worst = 0;
    int worst_rank = 0;
    for (int k = 0; k < comm->size; k++) {
        int64_t b = admm_rank_bytes(r, A->L, comm->size, k, A->c.N, r->batch, A->checkpointing);
        if (b > worst)
            worst = b, worst_rank = k;
    }
    int64_t mine = admm_rank_bytes(r, A->L, comm->size, comm->rank, A->c.N, r->batch, A->checkpointing);
    int64_t avail = admm_mem_available();
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
    admm_group(r, A->L, comm->size, comm->rank, &A->l0, &A->l1);
    int64_t N = A->c.N, mx = 0, mm = 0, mw = 0;
    A->ntot = N;
    A->home = A->lay = calloc((size_t)(A->l1 - A->l0), sizeof *A->lay);
    for (int l = A->l0; l < A->l1; l++) {
        AdmmLayer *y = admm_lay(A, l);
        y->n = admm_dim_in(r, l), y->m = admm_dim_out(r, l), y->last = l == A->L - 1;
        y->W = admm_alloc(y->m * y->n), y->b = admm_alloc(y->m), y->z = admm_alloc(N * y->m), y->p = admm_alloc(N * y->n);
        if (!y->last)
            y->q = admm_alloc(N * y->m), y->u = admm_alloc(N * y->m);
        mx = y->n > mx ? y->n : mx, mx = y->m > mx ? y->m : mx, mm = y->m > mm ? y->m : mm;
        mw = y->m * y->n > mw ? y->m * y->n : mw;
    }
    if (A->l0 == 0) /* p_0 = x, rows in sample order */
        for (int64_t i = 0; i < N * A->lay[0].n; i++)
            A->lay[0].p[i] = exa_data_feature(&r->train, i);
    if (A->l0 > 0)
        A->qprev = A->qprev_home = admm_alloc(N * A->lay[0].n), A->uprev = A->uprev_home = admm_alloc(N * A->lay[0].n);
    int64_t B = r->batch;
    int nomem = 0;
    if (B < N) { /* mini-batches: the work layers hold a batch's rows; W, b are home's */
        A->work = calloc((size_t)(A->l1 - A->l0), sizeof *A->work);
        nomem |= !A->work || !(A->wlabel = calloc((size_t)B, sizeof *A->wlabel));
        for (int l = A->l0; A->work && l < A->l1; l++) {
            AdmmLayer *h = admm_lay(A, l), *w = &A->work[l - A->l0];
            *w = *h;
            w->p = admm_alloc(B * h->n), w->z = admm_alloc(B * h->m);
            w->q = h->q ? admm_alloc(B * h->m) : NULL, w->u = h->u ? admm_alloc(B * h->m) : NULL;
            nomem |= !w->p || !w->z || (h->q && (!w->q || !w->u));
        }
        if (A->l0 > 0)
            nomem |= !(A->wq = admm_alloc(B * A->lay[0].n)) || !(A->wu = admm_alloc(B * A->lay[0].n));
    }
    if (A->l1 < A->L)
        A->pnext = admm_alloc(N * admm_lay(A, A->l1 - 1)->m);
    A->c.a = admm_alloc(N * mm), A->c.g = admm_alloc(N * mx), A->c.t = admm_alloc(N * mx), A->c.gw = admm_alloc(mw),
    A->c.tw = admm_alloc(mw), A->c.s1 = admm_alloc(A->l1 == A->L ? N * admm_lay(A, A->L - 1)->m : 0),
    A->c.s2 = admm_alloc(A->l1 == A->L ? N * admm_lay(A, A->L - 1)->m : 0);
    A->c.label = r->train.label;
    nomem |= !A->lay || !A->c.a || !A->c.g || !A->c.t || !A->c.gw || !A->c.tw || !A->c.s1 || !A->c.s2
                || (A->l0 > 0 && (!A->qprev || !A->uprev)) || (A->l1 < A->L && !A->pnext);
    for (int l = A->l0; A->lay && l < A->l1; l++) {
        AdmmLayer *y = admm_lay(A, l);
        nomem |= !y->W || !y->b || !y->z || !y->p || (!y->last && (!y->q || !y->u));
    }
    if (nomem)
        return fail(A, err, errlen, "exa: decompose = %s: out of memory for the ADMM variables%s", name, "");
    for (int l = 0; l < A->L; l++)
        A->state_len += admm_layer_state(r, l, A->L, N);
    if (A->checkpointing && comm->rank == 0)
        A->state = admm_alloc(A->state_len);
    for (int k = 0; k < 9; k++)
        A->rep[k] = NAN;
    return &A->base;
}

const ExaMethodOps exa_method_admm = {
    .name = "admm", .create = admm_create, .step = admm_step, .loss = admm_loss, .save = admm_save,
    .load = admm_load, .free = admm_free, .report = admm_report, .check = admm_check,
};
