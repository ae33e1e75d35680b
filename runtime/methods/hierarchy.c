/* hierarchy.c - the coarsened networks of the repeat block and the
 * transfers between them (exa/hierarchy.h).
 *
 * A coarse level's loss is one sweep of exac's stage functions over this
 * rank's rows, exactly (no MGRIT: a coarse network is short, and MG/OPT and
 * RMTR need its gradient to machine precision for their first-order
 * coherence):
 *   u_0 = prologue(data), u_{k+1} = step_k(u_k) with theta shifted to fine
 *   step k s and step size h s, the epilogue's loss, its gradient w.r.t. the
 *   parameters after the block and w_N = dL/du_N; then backwards
 *   (w_k, grad_k) = vjp_k(u_k, w_{k+1}) and the prologue's vjp of w_0.
 * The generated epilogue and vjps give the gradient of the mean over the
 * rows they are called on; sharing over ranks weights each rank's mean by its
 * share of the rows and sums, as exa_run_loss_on does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/hierarchy.h"
#include "solver.h"

int exa_hierarchy_prolong_of(const char *word)
{
    if (word && !strcmp(word, "constant"))
        return EXA_PROLONG_CONSTANT;
    if (word && !strcmp(word, "linear"))
        return EXA_PROLONG_LINEAR;
    return -1;
}

/* Index of entry e (< size) of the parameters of fine step i. */
static int64_t at(const ExaHierarchy *H, int64_t i, int64_t e)
{
    return H->offset + i * H->stride + e;
}

/* Block entries that are no variable of level j set to 0. */
static void zero_nonvariables(const ExaHierarchy *H, int j, double *x)
{
    for (int64_t i = 0; i < H->nfine; i++)
        if (i % H->spacing[j] != 0)
            memset(x + at(H, i, 0), 0, (size_t)H->size * sizeof *x);
}

void exa_hierarchy_restrict(const ExaHierarchy *H, int j, const double *fine, double *coarse)
{
    memcpy(coarse, fine, (size_t)H->r->n * sizeof *coarse); /* outside the block: identity */
    zero_nonvariables(H, j, coarse); /* injection: coarse step k keeps fine step k s_j */
}

/* The weight of coarse step k (of nc) in step i of level j-1, and the other
 * coarse step it mixes with: P's row i has at most two entries. */
static void row_of(const ExaHierarchy *H, int64_t i, int64_t nc, int64_t *k, double *wk, int64_t *k2,
                   double *wk2)
{
    int64_t cf = H->cfactor;
    *k = i / cf;
    *wk = 1, *k2 = -1, *wk2 = 0;
    if (H->prolong == EXA_PROLONG_LINEAR && i % cf != 0 && *k + 1 < nc) {
        double t = (double)(i % cf) / (double)cf;
        *wk = 1 - t, *k2 = *k + 1, *wk2 = t;
    }
}

void exa_hierarchy_prolong(const ExaHierarchy *H, int j, const double *coarse, double *fine)
{
    int64_t sf = H->spacing[j - 1], sc = H->spacing[j], nf = H->nsteps[j - 1], nc = H->nsteps[j];
    memcpy(fine, coarse, (size_t)H->r->n * sizeof *fine);
    for (int64_t i = 0; i < nf; i++) {
        int64_t k, k2;
        double wk, wk2;
        row_of(H, i, nc, &k, &wk, &k2, &wk2);
        double *f = fine + at(H, i * sf, 0);
        const double *c = coarse + at(H, k * sc, 0), *c2 = k2 >= 0 ? coarse + at(H, k2 * sc, 0) : NULL;
        for (int64_t e = 0; e < H->size; e++)
            f[e] = c2 ? wk * c[e] + wk2 * c2[e] : c[e];
    }
}

void exa_hierarchy_restrict_grad(const ExaHierarchy *H, int j, const double *fine, double *coarse)
{
    int64_t sf = H->spacing[j - 1], sc = H->spacing[j], nf = H->nsteps[j - 1], nc = H->nsteps[j];
    memcpy(coarse, fine, (size_t)H->r->n * sizeof *coarse);
    for (int64_t k = 0; k < nc; k++)
        memset(coarse + at(H, k * sc, 0), 0, (size_t)H->size * sizeof *coarse);
    zero_nonvariables(H, j, coarse);
    for (int64_t i = 0; i < nf; i++) { /* P^T: each row's entries scattered back */
        int64_t k, k2;
        double wk, wk2;
        row_of(H, i, nc, &k, &wk, &k2, &wk2);
        const double *f = fine + at(H, i * sf, 0);
        double *c = coarse + at(H, k * sc, 0), *c2 = k2 >= 0 ? coarse + at(H, k2 * sc, 0) : NULL;
        for (int64_t e = 0; e < H->size; e++) {
            c[e] += wk * f[e];
            if (c2)
                c2[e] += wk2 * f[e];
        }
    }
}

void exa_hierarchy_fill_piecewise(const ExaHierarchy *H, int64_t s, void *theta)
{
    size_t e = (size_t)H->r->elem, bytes = (size_t)H->size * e;
    char *t = theta;
    for (int64_t i = 0; i < H->nfine; i++)
        if (i % s != 0)
            memcpy(t + (size_t)at(H, i, 0) * e, t + (size_t)at(H, i - i % s, 0) * e, bytes);
}

/* ||P||_2 <= sqrt(||P||_1 ||P||_inf), P >= 0 entrywise: the largest column
 * and row sums, P^T 1 and P 1 over level j's and level j-1's variables. */
static double pnorm_bound(ExaHierarchy *H, int j)
{
    int64_t n = H->r->n;
    double col = 0, row = 0;
    for (int64_t i = 0; i < n; i++)
        H->t1[i] = H->mask[j][i];
    exa_hierarchy_prolong(H, j, H->t1, H->t2);
    for (int64_t i = 0; i < n; i++)
        row = fmax(row, H->t2[i]);
    for (int64_t i = 0; i < n; i++)
        H->t1[i] = H->mask[j - 1][i];
    exa_hierarchy_restrict_grad(H, j, H->t1, H->t2);
    for (int64_t i = 0; i < n; i++)
        col = fmax(col, H->t2[i]);
    return sqrt(row * col);
}

int exa_hierarchy_init(ExaHierarchy *H, ExaRun *r, const ExaComm *comm, int levels, int cfactor,
                       ExaProlong prolong, const char *name, char *err, size_t errlen)
{
    memset(H, 0, sizeof *H);
    H->r = r;
    H->comm = *comm;
    H->prolong = prolong;
    H->cfactor = cfactor;
    const ExaSetting *st = exa_program_setting(r->prog, "layers");
    const ExaCall *c = st && st->value.kind == EXA_CALL ? st->value.call : NULL;
    H->step = exa_run_function(r, EXA_FN_STAGE_STEP);
    H->vjp = exa_run_function(r, EXA_FN_STAGE_VJP);
    H->pro = exa_run_function(r, EXA_FN_PROLOGUE);
    H->pro_vjp = exa_run_function(r, EXA_FN_PROLOGUE_VJP);
    H->epi = exa_run_function(r, EXA_FN_EPILOGUE_GRAD);
    if (!c || !H->step || !H->vjp || !H->pro || !H->pro_vjp || !H->epi) {
        snprintf(err, errlen, "exa: decompose = %s: the executable has no stage functions: was it "
                 "built by a matching exac?", name);
        return -1;
    }
    H->w = (int64_t)exa_call_num(c, "state", 0);
    H->nfine = (int64_t)exa_call_num(c, "steps", 0);
    H->stride = (int64_t)exa_call_num(c, "stride", 0);
    H->offset = (int64_t)exa_call_num(c, "offset", 0);
    H->size = (int64_t)exa_call_num(c, "size", 0);
    H->h = exa_call_num(c, "h", 0);
    if (H->w < 1 || H->nfine < 1 || H->stride < H->size || H->size < 0 || !(H->h > 0)
        || H->offset + H->nfine * H->stride > r->n) {
        snprintf(err, errlen, "exa: decompose = %s: damaged stage description", name);
        return -1;
    }
    if (cfactor < 2 || levels < 1) {
        snprintf(err, errlen, "exa: decompose = %s: cfactor must be at least 2 and levels at least 1", name);
        return -1;
    }
    H->levels = 1;
    H->spacing[0] = 1, H->nsteps[0] = H->nfine;
    for (int64_t s = cfactor; H->levels < levels && H->levels < EXA_HIER_MAX_LEVELS
                              && H->nfine % s == 0 && H->nfine / s >= 2; s *= cfactor) {
        H->spacing[H->levels] = s;
        H->nsteps[H->levels++] = H->nfine / s;
    }
    int64_t n = r->n;
    H->t1 = solver_alloc(n, sizeof(double)), H->t2 = solver_alloc(n, sizeof(double));
    for (int j = 0; j < H->levels; j++) {
        H->mask[j] = solver_alloc(n, 1);
        memset(H->mask[j], 1, (size_t)n);
        for (int64_t i = 0; i < H->nfine; i++)
            if (i % H->spacing[j] != 0)
                memset(H->mask[j] + at(H, i, 0), 0, (size_t)H->size);
    }
    H->pnorm[0] = 1;
    for (int j = 1; j < H->levels; j++)
        H->pnorm[j] = pnorm_bound(H, j);
    H->u = solver_alloc(H->nfine + 1, sizeof *H->u);
    return 0;
}

void exa_hierarchy_free(ExaHierarchy *H)
{
    for (int j = 0; j < H->levels; j++)
        free(H->mask[j]);
    for (int64_t i = 0; H->u && i <= H->nfine; i++)
        free(H->u[i]);
    free(H->u);
    for (int i = 0; i <= EXA_MAX_INPUTS; i++)
        free(H->in[i]);
    free(H->wa), free(H->wb), free(H->loss_rows), free(H->out_rows), free(H->gscratch), free(H->work);
    free(H->t1), free(H->t2);
    memset(H, 0, sizeof *H);
}

/* Buffers for B rows (this rank's share of a mini-batch). */
static void reserve(ExaHierarchy *H, int64_t B)
{
    ExaRun *r = H->r;
    if (B <= H->cap)
        return;
    size_t v = (size_t)(B * H->w * r->elem);
    const ExaDataInfo *set = r->train_info;
    for (int i = 0, reals = 0; i < set->nfields; i++) {
        const ExaFieldInfo *f = &set->fields[i];
        int64_t per = f->classes ? (int64_t)sizeof(int32_t)
                                 : (reals++ == 0 ? r->train.features : r->train.targets) * r->elem;
        free(H->in[i]);
        H->in[i] = solver_alloc(B * per, 1);
    }
    for (int64_t i = 0; i <= H->nfine; i++) {
        free(H->u[i]);
        H->u[i] = NULL; /* allocated as levels need them */
    }
    free(H->wa), free(H->wb), free(H->loss_rows), free(H->out_rows), free(H->gscratch);
    H->wa = solver_alloc((int64_t)v, 1), H->wb = solver_alloc((int64_t)v, 1);
    H->loss_rows = solver_alloc(B, (size_t)r->elem);
    H->out_rows = solver_alloc(B * (r->out_size > 0 ? r->out_size : 1), (size_t)r->elem);
    H->gscratch = solver_alloc(r->n, (size_t)r->elem);
    H->cap = B;
}

static void call(ExaHierarchy *H, const ExaFunction *f, int64_t B, const void *theta, int64_t fine_step,
                 double h, const void *const *in, void *const *out)
{
    const char *t = theta;
    ExaArgs a = { .batch = B, .step_size = h,
                  .theta = t + (fine_step > 0 ? fine_step * H->stride * H->r->elem : 0),
                  .inputs = in, .outputs = out,
                  .workspace = exa_run_workspace(&H->work, &H->work_cap, f->workspace(B)) };
    f->run(&a);
}

static void add_into(const ExaRun *r, void *grad, const void *part)
{
    for (int64_t i = 0; i < r->n; i++)
        exa_set(r, grad, i, exa_get(r, grad, i) + exa_get(r, part, i));
}

/* The sweep of level j on B local rows starting at order[begin]; the sum of
 * the rows' losses; grad (when set) the gradient of their mean. */
static double sweep(ExaHierarchy *H, int j, const void *theta, void *grad, int64_t begin, int64_t B)
{
    ExaRun *r = H->r;
    int nf = r->nin;
    int64_t s = H->spacing[j], nc = H->nsteps[j];
    double hs = H->h * (double)s;
    reserve(H, B);
    exa_run_gather(r, &r->train, r->train_info, r->order, begin, B, H->in);
    for (int64_t k = 0; k <= nc; k++)
        if (!H->u[k])
            H->u[k] = solver_alloc(H->cap * H->w, (size_t)r->elem);
    void *out0[1] = { H->u[0] };
    call(H, H->pro, B, theta, -1, 0, (const void *const *)H->in, out0);
    for (int64_t k = 0; k < nc; k++) {
        const void *in[1] = { H->u[k] };
        void *out[1] = { H->u[k + 1] };
        call(H, H->step, B, theta, k * s, hs, in, out);
    }
    H->in[nf] = H->u[nc];
    memset(H->gscratch, 0, (size_t)r->n * (size_t)r->elem);
    void *oute[4] = { H->loss_rows, H->out_rows, H->gscratch, H->wa };
    call(H, H->epi, B, theta, -1, 0, (const void *const *)H->in, oute);
    H->in[nf] = NULL;
    double sum = 0;
    for (int64_t i = 0; i < B; i++)
        sum += exa_get(r, H->loss_rows, i);
    if (!grad)
        return sum;
    memcpy(grad, H->gscratch, (size_t)r->n * (size_t)r->elem);
    for (int64_t k = nc - 1; k >= 0; k--) { /* w_k from w_{k+1}: wa holds w_{k+1} */
        const void *in[2] = { H->u[k], H->wa };
        void *out[2] = { H->wb, (char *)grad + (size_t)(k * s * H->stride * r->elem) };
        call(H, H->vjp, B, theta, k * s, hs, in, out);
        void *t = H->wa;
        H->wa = H->wb, H->wb = t;
    }
    H->in[nf] = H->wa;
    memset(H->gscratch, 0, (size_t)r->n * (size_t)r->elem);
    void *outp[1] = { H->gscratch };
    call(H, H->pro_vjp, B, theta, -1, 0, (const void *const *)H->in, outp);
    H->in[nf] = NULL;
    add_into(r, grad, H->gscratch);
    return sum;
}

double exa_hierarchy_loss(ExaHierarchy *H, int level, const void *theta, void *grad, int64_t begin,
                          int64_t count, ExaShard mode)
{
    if (grad)
        H->evals[level]++;
    if (level == 0)
        return exa_run_loss_on(H->r, &H->comm, theta, grad, begin, count, mode);
    return exa_hierarchy_stage_loss(H, level, theta, grad, begin, count, mode);
}

double exa_hierarchy_stage_loss(ExaHierarchy *H, int level, const void *theta, void *grad, int64_t begin,
                                int64_t count, ExaShard mode)
{
    ExaRun *r = H->r;
    int64_t lb = 0, ln = count;
    if (mode != EXA_SHARD_ALL)
        exa_data_shard(count, H->comm.rank, H->comm.size, &lb, &ln);
    double sum = 0;
    if (grad)
        memset(grad, 0, (size_t)r->n * (size_t)r->elem);
    if (ln > 0)
        sum = sweep(H, level, theta, grad, begin + lb, ln);
    if (mode == EXA_SHARD_LOCAL)
        return ln > 0 ? sum / (double)ln : 0;
    if (mode == EXA_SHARD_SPLIT && H->comm.size > 1) {
        if (grad) {
            double w = (double)ln / (double)count;
            for (int64_t i = 0; i < r->n; i++)
                exa_set(r, grad, i, w * exa_get(r, grad, i));
            exa_comm_allreduce_sum(&H->comm, grad, (size_t)r->n, (ExaReal)r->elem);
        }
        sum = exa_comm_sum_double(&H->comm, sum);
    }
    return sum / (double)count;
}
