/* layers.c - layer-parallel training: decompose = layers(mgrit(...)).
 *
 * The network's repeat block is a time-stepping problem u_{k+1} = u_k +
 * s E(u_k, theta_k) over N steps; exac generated its stage functions
 * (compiler/ir/lower_stage.c: prologue, stage_step, stage_adjoint, stage_vjp,
 * prologue_vjp, epilogue_grad) and described them in the descriptor's
 * `setting layers stages(state, steps, offset, size, stride, h)`.  One
 * evaluation of the mini-batch loss and gradient is
 *
 *   1. the prologue on every rank (cheap, and every rank needs u_0 as guess);
 *   2. a forward MGRIT solve for u_0 .. u_N, each rank owning the contiguous
 *      block of points mgrit.c gives it and keeping its states (access);
 *   3. on the rank owning u_N: the epilogue (loss, its gradient with respect
 *      to u_N and to the parameters after the block);
 *   4. an adjoint MGRIT solve w_N = dL/du_N, w_i = J_i^T w_{i+1}, with the
 *      same ownership, so every step_adjoint finds u_i locally;
 *   5. each rank's steps' parameter gradients from (u_i, w_{i+1}) - one
 *      message brings w_{hi+1} from the right neighbour - and the prologue's
 *      from w_0 on rank 0; the gradient is summed over the ranks.
 * The loss and gradient are exact when both solves converge and inexact when
 * they stop after a fixed number of iterations (the default, 2): they are
 * handed to the train block's optimiser as they are (solver.c, on this
 * method's loss), so SGD, Adam and L-BFGS all work unchanged.
 *
 * Everything runs on the method's communicator: the world for decompose =
 * layers(...), one row group of ranks inside grid(rows: layers(...), ...),
 * which evaluates its share of the mini-batch (grid.c).
 *
 * Step k reads its parameters through theta shifted by k * stride reals (the
 * generated step reads step 0's offsets), and writes its gradient through the
 * gradient shifted the same way; coarse MGRIT levels use the parameters of
 * the step at the coarse point (injection) and step size h cf^l.
 *
 * Nested iteration (mgrit(..., nested: 1)): the first epochs train coarser
 * networks, N/s steps of size h s using the parameters of steps 0, s, 2s, ...
 * (spacing s = cf^j, coarsest first; see nested_spacing), and the last half
 * of the epochs the full network.  The same machinery runs them: step k of
 * the coarse network is fine step k s.  After every step of a coarse phase
 * the other steps' parameters are set piecewise constant, theta_i =
 * theta_{floor(i/s) s}, so the full network seen by validation, checkpoints
 * and the next finer phase is the coarse one refined.  The networks and the
 * refill are the hierarchy's (exa/hierarchy.h), which MG/OPT and RMTR use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exa/hierarchy.h"
#include "exa/mgrit.h"
#include "exa/vec_clones.h"
#include "solver.h"

enum { LAYERS_TAG = 7411 };

/* Settings of one MGRIT solve (forward or adjoint). */
typedef struct Solve {
    int levels, cfactor, nrelax, iters, fmg, skip, min_coarse;
    double tol;               /* 0: a fixed number of iterations */
} Solve;

typedef struct ExaLayers {
    ExaMethod base;            /* first: the interface's head */
    Stepper global;            /* second: the train block's optimiser (SteppedMethod) */
    ExaRun *r;
    const ExaComm *comm;       /* &base.comm */
    const ExaFunction *step, *adjoint, *vjp, *pro, *pro_vjp, *epi;
    int64_t w, nsteps, stride; /* state reals per sample, steps solved, reals between steps */
    int64_t offset, size;      /* step 0's parameters: theta[offset .. offset + size) */
    double h;                  /* the fine step the generated code divides by */
    int64_t nfine, spacing;    /* the block's steps; nsteps = nfine / spacing (nested iteration) */
    int nested;                /* mgrit(nested: 1) */
    ExaHierarchy hier;         /* nested iteration's networks (exa/hierarchy.h) */
    /* a recurrence (for t in a..b { h = cell(h, x[t]); }, compiler/ir/lower_recur.c): shared
     * weights (stride 0); step i reads row first[j] + i of each source j (the data's rows,
     * the hoisted projections), which stage_inputs computes before the solve */
    int recurrence, nsources;
    int64_t row;               /* reals of one step's input x_t: the sources' rows side by side */
    int64_t src_rows[EXA_OUT_STAGE_INPUTS_LAST + 1], src_size[EXA_OUT_STAGE_INPUTS_LAST + 1];
    int64_t src_first[EXA_OUT_STAGE_INPUTS_LAST + 1];
    void *src[EXA_OUT_STAGE_INPUTS_LAST + 1], *dsrc[EXA_OUT_STAGE_INPUTS_LAST + 1]; /* B x rows x size */
    void *xt, *dxrow;          /* nsteps x B x row: every step's x_t (filled on first use in an
                                * evaluation, xt_seen[i] == evals); B x row: one x_t's adjoint */
    int64_t *xt_seen, evals;
    const ExaFunction *inputs, *inputs_vjp;
    /* the steps' forward linearisation (compiler/ir/lower_lin.c), kept per local point:
     * stage_linearise's residuals of the step from u_i (res[i - lo], residual j a block of
     * B x res_size[j] reals at B x res_off[j]), computed by the first adjoint step or vjp at
     * the point after a forward solve (lin_seen == evals) and read by every later one, on
     * every level (they do not depend on the step size) */
    const ExaFunction *lin, *adjoint_lin, *vjp_lin;
    int nres, res_first;       /* residuals; the lin functions' input of residual 0 */
    int64_t res_size[EXA_OUT_STAGE_LINEARISE_LAST + 1], res_off[EXA_OUT_STAGE_LINEARISE_LAST + 1];
    int64_t res_reals;         /* per sample, all residuals */
    int use_lin;               /* mgrit(cache: 1), the functions exist and the memory is in bound */
    const char *lin_off;       /* why not, for --bench-step */
    void **res;
    int64_t *lin_seen, nlin;   /* nlin: stage_linearise calls (--bench-step) */
    /* --bench-step's accounting of one evaluation: wall seconds in the
     * generated calls and their count, when timing is on */
    int timing;
    double tcalls;             /* wall (MPI_Wtime: cheap, where a CPU clock is a system call) */
    int64_t ncalls;
    int64_t epoch_seen;        /* the epoch whose nested phase is in force, or -1 */
    Solve fwd, bwd;
    ExaMgrit *mf, *mb;
    int64_t lo, hi;            /* this rank's fine points */
    /* the evaluation in progress */
    int64_t B;                 /* rows of the mini-batch */
    const void *theta;
    int64_t cap;               /* rows the buffers below hold */
    /* the solves run on the batch in row blocks (solve_rows): rows r0 ..
     * r0 + rows - 1 of it now; rows = B, r0 = 0 outside the solves */
    int64_t r0, rows, block;   /* block: the most rows of a block (B: none) */
    int64_t rows_env;          /* EXA_MGRIT_ROWS, or -1 */
    size_t vbytes;             /* bytes of one state vector (the rows in hand) */
    size_t vcap;               /* bytes of a solver's vector (block rows) */
    double *chain;             /* the norms' partial sums, by call in a solve (solve_rows) */
    int64_t nchain, chain_cap, ichain;
    int chaining;              /* 0: norms whole; 1: the first block; 2: a later one */
    void **u, **lam;           /* u_i, w_i for i in lo..hi */
    void *u0, *gN, *lam_next, *tmp;
    void *in[EXA_MAX_INPUTS + 1];
    void *loss_rows, *out_rows, *gscratch, *work;
    int64_t work_cap;
    /* warm starts: the last evaluation's states, by sample */
    int warm, warm_adj;        /* u[], lam[] hold the last solves' results */
    int64_t *ids, nids;        /* the samples of the last evaluation's rows */
    int64_t *where;            /* sample -> its row in the last evaluation, or -1 */
    int64_t *perm;             /* this evaluation's row j was row perm[j] */
    void *gbench;              /* --bench-step's gradient */
    /* statistics of the last evaluation */
    int fwd_iters, bwd_iters;
    int64_t nfwd[EXA_MGRIT_MAX_LEVELS], nadj[EXA_MGRIT_MAX_LEVELS]; /* step calls per level */
} ExaLayers;

#define xmalloc(bytes) solver_alloc((int64_t)(bytes), 1)

static int64_t block_rows(const ExaLayers *L, int64_t B);

/* Workspace for a call of f on B rows (all functions share one buffer). */
static void *workspace(ExaLayers *L, const ExaFunction *f)
{
    return exa_run_workspace(&L->work, &L->work_cap, f->workspace(L->rows));
}

/* This process's CPU seconds: what a step costs on a shared machine, where
 * wall time also counts the other jobs (not MPI waits: --bench-step reads
 * it at 1 rank). */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs f on the current batch with theta shifted to step k of the network
 * being trained, fine step k * spacing (k < 0: none). */
static void call(ExaLayers *L, const ExaFunction *f, int64_t k, double h, const void *const *in,
                 void *const *out)
{
    const char *theta = L->theta;
    ExaArgs a = { .batch = L->rows, .step_size = h,
                  .theta = theta + (k > 0 ? k * L->spacing * L->stride * L->r->elem : 0),
                  .inputs = in, .outputs = out, .workspace = workspace(L, f) };
    double t0 = L->timing ? MPI_Wtime() : 0;
    exa_run_call(L->r, f, &a); /* --device gpu: on the device, through host copies */
    if (L->timing)
        L->tcalls += MPI_Wtime() - t0, L->ncalls++;
}

/* A recurrence's input x_t of the step from fine point i (a coarse step
 * reads the rows at its left point): row first_j + i of each source j, side
 * by side, for every sample.  back = 1: the other way, x_t's adjoint dxrow
 * into the sources' adjoints. */
static void step_rows(ExaLayers *L, int64_t i, void *xrow, int back)
{
    size_t e = (size_t)L->r->elem;
    for (int64_t b = 0, off = 0; b < L->B; b++, off = 0)
        for (int j = 0; j < L->nsources; j++) {
            size_t n = (size_t)L->src_size[j] * e;
            char *x = (char *)xrow + (size_t)(b * L->row + off) * e;
            char *s = (char *)(back ? L->dsrc[j] : L->src[j])
                      + (size_t)((b * L->src_rows[j] + L->src_first[j] + i) * L->src_size[j]) * e;
            memcpy(back ? s : x, back ? x : s, n);
            off += L->src_size[j];
        }
}

/* x_t of the step from fine point i, gathered once per evaluation: the
 * several calls at one point (relaxations, restriction, adjoint, vjp) share it. */
static const void *step_row(ExaLayers *L, int64_t i)
{
    if (!L->recurrence || L->nsources == 0)
        return NULL;
    void *x = (char *)L->xt + (size_t)(i * L->B * L->row * L->r->elem);
    if (L->xt_seen[i] != L->evals) {
        step_rows(L, i, x, 0);
        L->xt_seen[i] = L->evals;
    }
    return (char *)x + (size_t)(L->r0 * L->row * L->r->elem); /* the rows in hand */
}

/* ---- MGRIT callbacks: vectors are B x w reals ------------------------------ */

/* The solver uses the out-of-place forms (*_to): a step writes the state
 * (or adjoint) of the point it computes straight into the solver's vector,
 * with no copy and no allocation; the in-place ones are the API's required
 * fallbacks. */
static int cb_step_to(void *app, int level, int64_t i, double h, const void *x, void *y)
{
    ExaLayers *L = app;
    L->nfwd[level] += L->r0 == 0; /* the calls of one solve (row blocks repeat them) */
    const void *in[2] = { x, step_row(L, i) };
    void *out[1] = { y };
    call(L, L->step, i, h, in, out);
    return 0;
}

static int cb_step(void *app, int level, int64_t i, double h, void *u)
{
    ExaLayers *L = app;
    cb_step_to(app, level, i, h, u, L->tmp);
    memcpy(u, L->tmp, L->vbytes);
    return 0;
}

static void *cb_clone(void *app, const void *u)
{
    ExaLayers *L = app;
    void *v = xmalloc(L->vcap); /* room for any block's rows */
    memcpy(v, u, L->vbytes);
    return v;
}

/* Row r0 of a whole-batch array of `reals` reals per row. */
static void *at_row(const ExaLayers *L, const void *p, int64_t reals)
{
    return (char *)p + (size_t)(L->r0 * reals * L->r->elem);
}

/* u_0 exactly at 0; elsewhere the last solve's state of the same samples
 * (a warm start, with skip: 0 only: skipping the first down-cycle would
 * discard it), else u_0, a fair guess since the steps are near identity. */
static const void *init_of(ExaLayers *L, int64_t i)
{
    return at_row(L, i > 0 && L->warm && !L->fwd.skip ? L->u[i - L->lo] : L->u0, L->w);
}

static void *cb_init(void *app, int64_t i)
{
    return cb_clone(app, init_of(app, i));
}

static int cb_init_to(void *app, int64_t i, void *u)
{
    ExaLayers *L = app;
    memcpy(u, init_of(L, i), L->vbytes);
    return 0;
}

static void cb_free(void *app, void *u)
{
    (void)app;
    free(u);
}

/* y <- a x + b y, each real rounded once from double as always: a*x + 0
 * when b = 0 (so -0 becomes +0), else a*x + b*y.  The cases are split outside
 * the loops and x, y are distinct (restrict) so the loops vectorise
 * (runtime/CMakeLists.txt: -O3): as one scalar loop with a branch per real
 * these sums were 30-40% of an MGRIT evaluation at batch 5000; in the
 * widest vectors the CPU has (vec_clones.h), since at SSE2 they were still
 * 12% of peaks_mgrit's serial-rank time on an AVX-512 machine.  The
 * solver's own sums (a = +-1, b = 0 or 1) run in float: a sum of two floats
 * rounded to double and then to float is the float sum (double rounding is
 * innocuous for + with 53 >= 2 * 24 + 2 bits), so the values are the same. */
EXA_VEC_CLONES static void sum_f32(int64_t n, double a, const float *restrict x, double b, float *restrict y)
{
    if (a == 1 && b == 0)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] + 0.0f;
    else if (a == 1 && b == 1)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] + y[i];
    else if (a == -1 && b == 1)
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] - x[i];
    else if (b == 0)
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)(a * x[i] + 0.0);
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)(a * x[i] + b * y[i]);
}

EXA_VEC_CLONES static void sum_f64(int64_t n, double a, const double *restrict x, double b, double *restrict y)
{
    if (b == 0)
        for (int64_t i = 0; i < n; i++)
            y[i] = a * x[i] + 0.0;
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = a * x[i] + b * y[i];
}

static int cb_sum(void *app, double a, const void *x, double b, void *y)
{
    ExaLayers *L = app;
    int64_t n = L->rows * L->w;
    if (x == y) { /* y <- (a + b) y, as the general formula rounds it; the solver never asks */
        for (int64_t i = 0; i < n; i++)
            exa_set(L->r, y, i, a * exa_get(L->r, y, i) + (b == 0 ? 0 : b * exa_get(L->r, y, i)));
    } else if (L->r->elem == 4) {
        sum_f32(n, a, x, b, y);
    } else {
        sum_f64(n, a, x, b, y);
    }
    return 0;
}

/* The norm over the rows in hand.  In a solve by row blocks (solve_rows)
 * the q-th norm of a block's solve continues the sum the q-th norm of the
 * blocks before left (one chain of adds in index order, as over the whole
 * batch), so the last block's solve gets the whole batch's norms bit for
 * bit; the earlier blocks' see partial ones, which change nothing at a
 * fixed number of iterations (the solver prints nothing here). */
static double cb_norm(void *app, const void *u)
{
    ExaLayers *L = app;
    int64_t n = L->rows * L->w;
    double s = 0;
    /* a block's solve makes the first block's norm calls, in its order, at
     * a fixed number of iterations; only a NaN norm stops a solve early, and
     * a block past the first one's calls then starts from 0 (the values are
     * NaN by then whatever the blocks) */
    if (L->chaining == 2 && L->ichain < L->nchain)
        s = L->chain[L->ichain];
    if (L->r->elem == 4) {
        const float *x = u;
        for (int64_t i = 0; i < n; i++)
            s += (double)x[i] * (double)x[i];
    } else {
        const double *x = u;
        for (int64_t i = 0; i < n; i++)
            s += x[i] * x[i];
    }
    if (L->chaining == 1) {
        if (L->nchain == L->chain_cap) {
            int64_t cap = L->chain_cap ? 2 * L->chain_cap : 256;
            double *c = realloc(L->chain, (size_t)cap * sizeof *c);
            if (!c) {
                fputs("exa: out of memory\n", stderr);
                exit(1);
            }
            L->chain = c, L->chain_cap = cap;
        }
        L->chain[L->nchain++] = s;
    } else if (L->chaining == 2 && L->ichain < L->nchain) {
        L->chain[L->ichain++] = s;
    }
    return sqrt(s);
}

static size_t cb_size(void *app)
{
    return ((ExaLayers *)app)->vcap; /* the same for every block: the solver keeps its vectors */
}

static int cb_pack(void *app, const void *u, void *buf)
{
    memcpy(buf, u, ((ExaLayers *)app)->vbytes);
    return 0;
}

static void *cb_unpack(void *app, const void *buf)
{
    return cb_clone(app, buf);
}

static int cb_unpack_to(void *app, const void *buf, void *u)
{
    memcpy(u, buf, ((ExaLayers *)app)->vbytes);
    return 0;
}

static int cb_access(void *app, int adjoint, int64_t i, const void *u)
{
    ExaLayers *L = app;
    if (i < L->lo || i > L->hi)
        return -1;
    memcpy(at_row(L, (adjoint ? L->lam : L->u)[i - L->lo], L->w), u, L->vbytes);
    return 0;
}

/* in[] of stage_adjoint or stage_vjp at point i, adjoint x: u_i, x, x_t; and,
 * when the linearisation is kept, the residuals of point i, computed here if
 * this forward solve has not yet (its first adjoint step or vjp).  Returns 1
 * when in[] is the lin functions'. */
static int lin_inputs(ExaLayers *L, int64_t i, const void *x, const void **in)
{
    in[0] = at_row(L, L->u[i - L->lo], L->w);
    in[1] = x;
    in[2] = step_row(L, i);
    if (!L->use_lin)
        return 0;
    char *res = L->res[i - L->lo];
    size_t e = (size_t)L->r->elem;
    void *out[EXA_OUT_STAGE_LINEARISE_LAST + 1] = { NULL };
    for (int j = 0; j < L->nres; j++)
        out[j] = res + (size_t)(L->B * L->res_off[j]) * e;
    if (L->lin_seen[i - L->lo] != L->evals) { /* stage_linearise: inputs u, x_t; all rows at once */
        int64_t r0 = L->r0, rows = L->rows;
        L->r0 = 0, L->rows = L->B;
        const void *lin_in[2] = { L->u[i - L->lo], step_row(L, i) };
        call(L, L->lin, i, L->h, lin_in, out);
        L->r0 = r0, L->rows = rows;
        L->lin_seen[i - L->lo] = L->evals;
        L->nlin++;
    }
    for (int j = 0; j < L->nres; j++)
        in[L->res_first + j] = at_row(L, out[j], L->res_size[j]);
    return 1;
}

/* y <- J^T x for the step (of size h, at level l) starting at u_i. */
static int cb_step_adjoint_to(void *app, int level, int64_t i, double h, const void *x, void *y)
{
    ExaLayers *L = app;
    L->nadj[level] += L->r0 == 0;
    if (i < L->lo || i > L->hi)
        return -1; /* the forward state must be local (mgrit.h) */
    const void *in[3 + EXA_OUT_STAGE_LINEARISE_LAST + 1];
    void *out[1] = { y };
    call(L, lin_inputs(L, i, x, in) ? L->adjoint_lin : L->adjoint, i, h, in, out);
    return 0;
}

static int cb_step_adjoint(void *app, int level, int64_t i, double h, void *w)
{
    ExaLayers *L = app;
    if (cb_step_adjoint_to(app, level, i, h, w, L->tmp) != 0)
        return -1;
    memcpy(w, L->tmp, L->vbytes);
    return 0;
}

/* g at N; elsewhere the last adjoint solve's value (warm start), else 0. */
static int cb_init_adjoint_to(void *app, int64_t i, void *w)
{
    ExaLayers *L = app;
    if (i == L->nsteps)
        memcpy(w, at_row(L, L->gN, L->w), L->vbytes);
    else if (L->warm_adj && !L->bwd.skip)
        memcpy(w, at_row(L, L->lam[i - L->lo], L->w), L->vbytes);
    else
        memset(w, 0, L->vbytes); /* zero is exactly 0.0 in both precisions */
    return 0;
}

static void *cb_init_adjoint(void *app, int64_t i)
{
    ExaLayers *L = app;
    void *v = xmalloc(L->vcap);
    cb_init_adjoint_to(app, i, v);
    return v;
}

/* ---- settings --------------------------------------------------------------- */

/* The CF sweeps of a relaxation word (methods.def), -1 if unknown. */
static int relax_of(const char *name)
{
#define EXA_RELAX(word, sweeps) if (!strcmp(name, #word)) return sweeps;
#include "exa/methods.def"
    return -1;
}

/* One solve's settings: `prefix`levels etc. override the shared ones. */
static Solve solve_of(const ExaCall *m, const char *prefix)
{
    char key[32];
#define ARG(name, fallback) \
    (snprintf(key, sizeof key, "%s%s", prefix, name), \
     exa_call_num(m, key, exa_call_num(m, name, fallback)))
    Solve s;
    s.levels = (int)ARG("levels", 10);
    s.cfactor = (int)ARG("cfactor", 2);
    s.iters = (int)ARG("iters", exa_call_num(m, "cycles", 2));
    s.tol = ARG("tol", 0);
#undef ARG
    s.nrelax = relax_of(exa_call_ident(m, "relax", "FCF"));
    s.skip = (int)exa_call_num(m, "skip", 1);
    s.fmg = (int)exa_call_num(m, "fmg", 0);
    s.min_coarse = (int)exa_call_num(m, "min_coarse", 2);
    snprintf(key, sizeof key, "%siters", prefix);
    if (s.tol > 0 && !exa_call_arg(m, key) && !exa_call_arg(m, "iters") && !exa_call_arg(m, "cycles"))
        s.iters = 100; /* to a tolerance: iterate until it is met */
    return s;
}

static int configure(ExaMgrit *m, const Solve *s)
{
    int rc = exa_mgrit_set_max_levels(m, s->levels < 1 ? 1 : s->levels);
    rc |= exa_mgrit_set_cfactor(m, -1, s->cfactor);
    rc |= exa_mgrit_set_nrelax(m, -1, s->nrelax);
    rc |= exa_mgrit_set_max_iter(m, s->iters);
    rc |= exa_mgrit_set_abs_tol(m, s->tol);
    rc |= exa_mgrit_set_skip(m, s->skip);
    rc |= exa_mgrit_set_fmg(m, s->fmg);
    rc |= exa_mgrit_set_min_coarse(m, s->min_coarse);
    return rc;
}

/* The descriptor's `setting layers stages(...)` and the stage functions. */
static int read_stages(ExaLayers *L, const char *name, char *err, size_t errlen)
{
    ExaRun *r = L->r;
    const ExaSetting *st = exa_program_setting(r->prog, "layers");
    const ExaCall *c = st && st->value.kind == EXA_CALL ? st->value.call : NULL;
    L->step = exa_run_function(r, EXA_FN_STAGE_STEP);
    L->adjoint = exa_run_function(r, EXA_FN_STAGE_ADJOINT);
    L->vjp = exa_run_function(r, EXA_FN_STAGE_VJP);
    L->pro = exa_run_function(r, EXA_FN_PROLOGUE);
    L->pro_vjp = exa_run_function(r, EXA_FN_PROLOGUE_VJP);
    L->epi = exa_run_function(r, EXA_FN_EPILOGUE_GRAD);
    if (!c || !L->step || !L->adjoint || !L->vjp || !L->pro || !L->pro_vjp || !L->epi) {
        snprintf(err, errlen, "exa: decompose = %s: the executable has no stage functions: was it "
                 "built by a matching exac?", name);
        return -1;
    }
    L->w = (int64_t)exa_call_num(c, "state", 0);
    L->nsteps = (int64_t)exa_call_num(c, "steps", 0);
    L->stride = (int64_t)exa_call_num(c, "stride", 0);
    L->offset = (int64_t)exa_call_num(c, "offset", 0);
    L->size = (int64_t)exa_call_num(c, "size", 0);
    L->h = exa_call_num(c, "h", 0);
    L->nfine = L->nsteps;
    L->spacing = 1;
    L->recurrence = exa_call_num(c, "recurrence", 0) != 0;
    L->nsources = (int)exa_call_num(c, "sources", 0);
    L->row = (int64_t)exa_call_num(c, "row", 0);
    int bad = L->nsources < 0 || L->nsources > EXA_OUT_STAGE_INPUTS_LAST + 1;
    int64_t width = 0;
    for (int j = 0; j < L->nsources && !bad; j++) {
        char key[32];
        snprintf(key, sizeof key, "layers_source%d", j);
        const ExaSetting *ss = exa_program_setting(r->prog, key);
        const ExaCall *sc = ss && ss->value.kind == EXA_CALL ? ss->value.call : NULL;
        L->src_rows[j] = sc ? (int64_t)exa_call_num(sc, "rows", 0) : 0;
        L->src_size[j] = sc ? (int64_t)exa_call_num(sc, "size", 0) : 0;
        L->src_first[j] = sc ? (int64_t)exa_call_num(sc, "first", -1) : -1;
        width += L->src_size[j];
        bad = L->src_size[j] < 1 || L->src_first[j] < 0 || L->src_first[j] + L->nsteps > L->src_rows[j];
    }
    if (L->nsources > 0) {
        L->inputs = exa_run_function(r, EXA_FN_STAGE_INPUTS);
        L->inputs_vjp = exa_run_function(r, EXA_FN_STAGE_INPUTS_VJP);
        bad |= !L->inputs || !L->inputs_vjp || width != L->row;
    }
    /* the linearised step functions (optional: a step that keeps nothing has none) */
    L->lin = exa_run_function(r, EXA_FN_STAGE_LINEARISE);
    L->adjoint_lin = exa_run_function(r, EXA_FN_STAGE_ADJOINT_LIN);
    L->vjp_lin = exa_run_function(r, EXA_FN_STAGE_VJP_LIN);
    const ExaSetting *ls = exa_program_setting(r->prog, "layers_lin");
    const ExaCall *lc = ls && ls->value.kind == EXA_CALL ? ls->value.call : NULL;
    if (L->lin || L->adjoint_lin || L->vjp_lin || lc) {
        L->nres = lc ? (int)exa_call_num(lc, "count", 0) : 0;
        L->res_first = lc ? (int)exa_call_num(lc, "first", 0) : 0;
        bad |= !L->lin || !L->adjoint_lin || !L->vjp_lin || L->nres < 1
               || L->nres > EXA_OUT_STAGE_LINEARISE_LAST + 1 || L->res_first != (L->recurrence ? 3 : 2);
        L->res_reals = 0;
        for (int j = 0; j < L->nres && !bad; j++) {
            char key[16];
            snprintf(key, sizeof key, "size%d", j);
            L->res_size[j] = (int64_t)exa_call_num(lc, key, 0);
            L->res_off[j] = L->res_reals;
            L->res_reals += L->res_size[j];
            bad |= L->res_size[j] < 1;
        }
    }
    if (L->w < 1 || L->nsteps < 1 || L->stride < 0 || !(L->h > 0) || bad) {
        snprintf(err, errlen, "exa: decompose = %s: damaged stage description", name);
        return -1;
    }
    return 0;
}

/* This rank's points and the forward and adjoint solvers for the network of
 * nsteps steps of size h * spacing. */
static int build_solvers(ExaLayers *L)
{
    /* this rank's points: mgrit.c's (and XBraid's) block distribution */
    int64_t npts = L->nsteps + 1, q = npts / L->comm->size, rem = npts % L->comm->size;
    int p = L->comm->rank;
    L->lo = p * q + (p < rem ? p : rem);
    L->hi = L->lo + q + (p < rem ? 1 : 0) - 1;
    ExaMgritOps ops = { .step = cb_step, .init = cb_init, .clone = cb_clone, .free = cb_free,
                        .sum = cb_sum, .norm = cb_norm, .buffer_size = cb_size, .pack = cb_pack,
                        .unpack = cb_unpack, .access = cb_access, .step_adjoint = cb_step_adjoint,
                        .init_adjoint = cb_init_adjoint, .step_to = cb_step_to,
                        .step_adjoint_to = cb_step_adjoint_to, .init_to = cb_init_to,
                        .init_adjoint_to = cb_init_adjoint_to, .unpack_to = cb_unpack_to };
    double h = L->h * (double)L->spacing;
    if (exa_mgrit_create(L->comm->comm, L->nsteps, h, &ops, L, &L->mf) != 0
        || exa_mgrit_create(L->comm->comm, L->nsteps, h, &ops, L, &L->mb) != 0
        || configure(L->mf, &L->fwd) != 0 || configure(L->mb, &L->bwd) != 0)
        return -1;
    return 0;
}

/* The solvers and the local states and adjoints (their number depends on
 * the points this rank owns); reserve() makes new ones. */
static void free_solvers(ExaLayers *L)
{
    exa_mgrit_destroy(L->mf);
    exa_mgrit_destroy(L->mb);
    L->mf = L->mb = NULL;
    int64_t nloc = L->hi - L->lo + 1;
    for (int64_t i = 0; L->u && i < nloc; i++)
        free(L->u[i]), free(L->lam[i]);
    for (int64_t i = 0; L->res && i < nloc; i++)
        free(L->res[i]);
    free(L->u), free(L->lam), free(L->res), free(L->lin_seen);
    L->u = L->lam = L->res = NULL;
    L->lin_seen = NULL;
    L->cap = 0;
    L->warm = L->warm_adj = 0;
}

static void layers_free(ExaMethod *m)
{
    ExaLayers *L = (ExaLayers *)m;
    free_solvers(L);
    free(L->u0), free(L->gN), free(L->lam_next), free(L->tmp), free(L->xt), free(L->dxrow);
    free(L->xt_seen);
    for (int j = 0; j < L->nsources; j++)
        free(L->src[j]), free(L->dsrc[j]);
    for (int i = 0; i <= EXA_MAX_INPUTS; i++)
        free(L->in[i]);
    free(L->loss_rows), free(L->out_rows), free(L->gscratch), free(L->work);
    free(L->ids), free(L->where), free(L->perm), free(L->chain);
    stepper_free(&L->global);
    if (L->nested)
        exa_hierarchy_free(&L->hier);
    free(L);
}

static ExaMethod *layers_fail(ExaLayers *L)
{
    layers_free(&L->base);
    return NULL;
}

static ExaMethod *layers_create(ExaRun *r, const ExaCall *d, const ExaComm *comm, char *err,
                                size_t errlen)
{
    /* a layer-parallel method with its own row in methods.def (admm) runs
     * as itself, given the whole layers(...) entry */
    const ExaValue *nest = exa_call_arg(d, "_0");
    const ExaMethodOps *own = nest && nest->kind == EXA_CALL ? exa_method_find(nest->call) : NULL;
    if (own && own != &exa_method_layers)
        return own->create(r, d, comm, err, errlen);
    ExaLayers *L = calloc(1, sizeof *L);
    if (!L)
        return NULL;
    L->r = r;
    L->base.r = r;
    L->base.comm = *comm;
    L->comm = &L->base.comm;
    const char *name = L->base.name;
    exa_call_print(d, L->base.name, sizeof L->base.name);
    const ExaValue *inner = exa_call_arg(d, "_0");
    const ExaCall *m = inner && inner->kind == EXA_CALL ? inner->call : NULL;
    if (!m || strcmp(m->name, "mgrit") != 0) {
        snprintf(err, errlen, "exa: decompose = %s: this version of libexa runs layers(mgrit(...)) "
                 "only", name);
        return layers_fail(L);
    }
    if (read_stages(L, name, err, errlen) != 0)
        return layers_fail(L);
    L->nested = exa_call_num(m, "nested", 0) != 0;
    L->epoch_seen = -1;
    L->rows_env = -1;
    const char *env = getenv("EXA_MGRIT_ROWS"); /* the row blocks' size (solve_rows) */
    if (env && *env) {
        char *end;
        long long v = strtoll(env, &end, 10);
        if (*end || v < 0 || *env < '0' || *env > '9') {
            snprintf(err, errlen, "exa: EXA_MGRIT_ROWS: '%s' is not a number of rows (0: no blocks)", env);
            return layers_fail(L);
        }
        L->rows_env = v;
    }
    if (L->nested && L->recurrence) { /* coarse networks of a recurrence would skip its rows */
        snprintf(err, errlen, "exa: decompose = %s: nested iteration needs a repeat block; this "
                 "program decomposes a 'for' recurrence", name);
        return layers_fail(L);
    }
    L->use_lin = L->lin != NULL && exa_call_num(m, "cache", 1) != 0;
    L->lin_off = !L->lin ? "the program has no stage_linearise (its step keeps nothing)"
                 : !L->use_lin ? "mgrit(cache: 0)" : NULL;
    L->fwd = solve_of(m, "fwd_");
    L->bwd = solve_of(m, "bwd_");
    if (L->fwd.nrelax < 0 || L->fwd.cfactor < 2 || L->bwd.cfactor < 2 || L->fwd.iters < 1
        || L->bwd.iters < 1) {
        snprintf(err, errlen, "exa: decompose = %s: relax must be F, FCF or FCFCF, cfactor at least "
                 "2 and iters at least 1", name);
        return layers_fail(L);
    }
    if (comm->size > L->nsteps + 1) {
        snprintf(err, errlen, "exa: decompose = %s: the repeat block has %lld steps (%lld states) "
                 "and the run has %d ranks; run with at most %lld", name, (long long)L->nsteps,
                 (long long)L->nsteps + 1, comm->size, (long long)L->nsteps + 1);
        return layers_fail(L);
    }
    if (build_solvers(L) != 0) {
        snprintf(err, errlen, "exa: decompose = %s: cannot set up the MGRIT solver", name);
        return layers_fail(L);
    }
    if (L->nested && exa_hierarchy_init(&L->hier, r, comm, L->fwd.levels, L->fwd.cfactor, EXA_PROLONG_CONSTANT,
                                        name, err, errlen) != 0) {
        L->nested = 0; /* nothing to free */
        return layers_fail(L);
    }
    L->gscratch = xmalloc((size_t)(r->n > 0 ? r->n : 1) * (size_t)r->elem);
    L->where = xmalloc((size_t)(r->train.n > 0 ? r->train.n : 1) * sizeof *L->where);
    for (int64_t i = 0; i < r->train.n; i++)
        L->where[i] = -1;
    if (stepper_init(&L->global, r, name, err, errlen) != 0)
        return layers_fail(L);
    return &L->base;
}

/* ---- one evaluation ------------------------------------------------------------ */

/* The linearisation's storage: nloc x B x res_reals reals, unless that
 * exceeds LIN_MAX_MIB (then this rank's adjoint steps recompute the forward
 * step, as with mgrit(cache: 0), and it says so once). */
enum { LIN_MAX_MIB = 1024 };

static void reserve_lin(ExaLayers *L, int64_t B, int64_t nloc)
{
    if (!L->use_lin)
        return;
    double mib = (double)nloc * (double)B * (double)L->res_reals * (double)L->r->elem / 1048576.0;
    if (mib > LIN_MAX_MIB) {
        L->use_lin = 0;
        L->lin_off = "over its memory bound";
        fprintf(stderr, "exa: rank %d: layers(mgrit): keeping the steps' linearisation would take %.0f MiB "
                    "(%lld points x %lld samples x %lld reals), more than its bound of %d MiB: the adjoint "
                    "steps recompute the forward step (mgrit(cache: 0) does so without this note)\n",
                    L->r->world.rank, mib, (long long)nloc, (long long)B, (long long)L->res_reals, LIN_MAX_MIB);
        return;
    }
    if (!L->res) {
        L->res = calloc((size_t)nloc, sizeof *L->res);
        if (!L->res) {
            fputs("exa: out of memory\n", stderr);
            exit(1);
        }
    }
    for (int64_t i = 0; i < nloc; i++) {
        free(L->res[i]);
        L->res[i] = xmalloc((size_t)(B * L->res_reals * L->r->elem));
    }
    free(L->lin_seen);
    L->lin_seen = calloc((size_t)nloc, sizeof *L->lin_seen); /* evals > 0 at every use */
    if (!L->lin_seen) {
        fputs("exa: out of memory\n", stderr);
        exit(1);
    }
}

/* Buffers for B rows: the data, the states and adjoints of the local points. */
static void reserve(ExaLayers *L, int64_t B)
{
    ExaRun *r = L->r;
    L->B = B;
    L->r0 = 0, L->rows = B;
    L->vbytes = (size_t)(B * L->w * r->elem);
    L->block = block_rows(L, B);
    L->vcap = (size_t)(L->block * L->w * r->elem);
    if (B <= L->cap)
        return;
    L->warm = L->warm_adj = 0; /* the stored states go with the old buffers */
    free(L->ids), free(L->perm);
    L->ids = xmalloc((size_t)B * sizeof *L->ids);
    L->perm = xmalloc((size_t)B * sizeof *L->perm);
    L->nids = 0;
    const ExaDataInfo *set = r->train_info;
    for (int i = 0, reals = 0; i < set->nfields; i++) {
        const ExaFieldInfo *f = &set->fields[i];
        int64_t per = f->classes ? (int64_t)sizeof(int32_t)
                                 : (reals++ == 0 ? r->train.features : r->train.targets) * r->elem;
        free(L->in[i]);
        L->in[i] = xmalloc((size_t)(B * per));
    }
    int64_t nloc = L->hi - L->lo + 1;
    if (!L->u) {
        L->u = calloc((size_t)nloc, sizeof *L->u);
        L->lam = calloc((size_t)nloc, sizeof *L->lam);
        if (!L->u || !L->lam) {
            fputs("exa: out of memory\n", stderr);
            exit(1);
        }
    }
    for (int64_t i = 0; i < nloc; i++) {
        free(L->u[i]), free(L->lam[i]);
        L->u[i] = xmalloc(L->vbytes), L->lam[i] = xmalloc(L->vbytes);
    }
    reserve_lin(L, B, nloc);
    free(L->u0), free(L->gN), free(L->lam_next), free(L->tmp), free(L->xt), free(L->dxrow);
    free(L->xt_seen);
    L->xt = xmalloc((size_t)(B * (L->nsources > 0 ? L->nsteps * L->row : 1) * r->elem));
    L->xt_seen = calloc((size_t)L->nsteps + 1, sizeof *L->xt_seen);
    if (!L->xt_seen) {
        fputs("exa: out of memory\n", stderr);
        exit(1);
    }
    L->evals = 0;
    L->dxrow = xmalloc((size_t)(B * (L->row > 0 ? L->row : 1) * r->elem));
    for (int j = 0; j < L->nsources; j++) {
        free(L->src[j]), free(L->dsrc[j]);
        L->src[j] = xmalloc((size_t)(B * L->src_rows[j] * L->src_size[j] * r->elem));
        L->dsrc[j] = xmalloc((size_t)(B * L->src_rows[j] * L->src_size[j] * r->elem));
    }
    L->u0 = xmalloc(L->vbytes), L->gN = xmalloc(L->vbytes);
    L->lam_next = xmalloc(L->vbytes), L->tmp = xmalloc(L->vbytes);
    free(L->loss_rows), free(L->out_rows);
    L->loss_rows = xmalloc((size_t)(B * r->elem));
    L->out_rows = xmalloc((size_t)(B * (r->out_size > 0 ? r->out_size : 1) * r->elem));
    L->cap = B;
}

/* Keeps the stored states when this batch has the last one's samples (the
 * same mini-batch again: L-BFGS iterations and line searches, or a full
 * batch reshuffled), rows permuted to the new order; forgets them otherwise. */
static void warm_start(ExaLayers *L, int64_t begin, int64_t count)
{
    const int64_t *order = L->r->order + begin;
    int same = count == L->nids, identity = 1;
    for (int64_t j = 0; j < count && same; j++) {
        L->perm[j] = L->where[order[j]];
        same = L->perm[j] >= 0;
        identity &= L->perm[j] == j;
    }
    if (!same) {
        L->warm = L->warm_adj = 0;
    } else if (!identity && (L->warm || L->warm_adj)) {
        size_t row = (size_t)(L->w * L->r->elem);
        for (int64_t i = 0; i <= L->hi - L->lo; i++)
            for (int which = 0; which < 2; which++) {
                void **v = which ? &L->lam[i] : &L->u[i];
                for (int64_t j = 0; j < count; j++)
                    memcpy((char *)L->tmp + (size_t)j * row, (char *)*v + (size_t)L->perm[j] * row, row);
                void *t = *v; /* the permuted copy becomes the state; tmp is scratch */
                *v = L->tmp;
                L->tmp = t;
            }
    }
    for (int64_t j = 0; j < L->nids; j++)
        L->where[L->ids[j]] = -1;
    for (int64_t j = 0; j < count; j++)
        L->where[order[j]] = j, L->ids[j] = order[j];
    L->nids = count;
}

/* grad += part, rounded as exa_set(exa_get + exa_get) rounds (once per step
 * of a recurrence: a typed loop). */
static void add_into(const ExaRun *r, void *grad, const void *part)
{
    if (r->elem == 4) {
        float *g = grad;
        const float *p = part;
        for (int64_t i = 0; i < r->n; i++)
            g[i] = (float)((double)g[i] + (double)p[i]);
    } else {
        double *g = grad;
        const double *p = part;
        for (int64_t i = 0; i < r->n; i++)
            g[i] += p[i];
    }
}

/* ---- row blocks ------------------------------------------------------------------ */

/* The samples of a batch are independent: every step, sum and copy of a
 * solve works row by row, and only the norms sum over rows.  So a solve can
 * run on row blocks one after another, each a whole solve on its rows,
 * with the same values as one solve on all rows (solve_rows).  A block's
 * vectors (the states, coarse values and FAS terms of every level, the
 * kept residuals) then stay in the L2 cache, where those of a batch of 5000
 * (27 MB for examples/peaks_mgrit.exa) stream from memory at every vector
 * sum and copy: 1-rank MGRIT on peaks ran in 0.73x the time in blocks of
 * 625 rows (bench/mgrit, docs/results/mgrit_performance.md, update 3).
 * The rule: the rows whose vectors take BLOCK_BYTES, at least BLOCK_MIN
 * rows (a generated call's fixed costs, and exa_k_gemm's narrow kernel
 * wants 12 rows or more: the same kernel as on the whole batch), and no
 * blocks when the batch is less than two of them.  Not blocked: solves to
 * a tolerance (their iteration count depends on each iteration's norm over
 * all rows), --threads > 1 (the generated loops share a call's rows over
 * the threads; a block is too small for that), the GPU.  EXA_MGRIT_ROWS=N
 * sets the block rows (0: none), for tests and measurements. */
enum { BLOCK_BYTES = 1 << 20, BLOCK_MIN = 64 };

static int64_t block_rows(const ExaLayers *L, int64_t B)
{
    int64_t rows;
    if (L->rows_env >= 0) {
        /* at least 12: exa_k_gemm's narrow kernel, taken on the whole batch,
         * takes 12 rows or more, and another kernel may round otherwise */
        rows = L->rows_env == 0 || L->rows_env > B ? B : L->rows_env < 12 ? 12 : L->rows_env;
    } else {
        if (L->r->gpu || exa_parallel_threads() > 1 || L->fwd.tol > 0 || L->bwd.tol > 0)
            return B;
        /* per row: u, v and f on every level (at most 2 x the fine points), the
         * kept states and adjoints, the residuals; of the rank with the most
         * points, so that every rank cuts the batch alike (the blocks' solves
         * exchange messages) */
        int64_t nloc = (L->nsteps + L->comm->size) / L->comm->size;
        int64_t per_row = nloc * (8 * L->w + L->res_reals) * L->r->elem;
        rows = BLOCK_BYTES / (per_row > 0 ? per_row : 1);
        rows = rows < BLOCK_MIN ? BLOCK_MIN : rows;
        if (2 * rows > B)
            return B;
    }
    int64_t nb = (B + rows - 1) / rows; /* blocks as even as can be: the largest is `block` */
    return (B + nb - 1) / nb;
}

/* One solve (forward, adjoint) in blocks of at most L->block rows, the
 * norms chained from block to block (cb_norm); rows = B, r0 = 0 after. */
static int solve_rows(ExaLayers *L, ExaMgrit *m, int adjoint)
{
    int64_t B = L->B, size = L->block, nb = (B + size - 1) / size;
    if (nb <= 1 || (adjoint ? L->bwd.tol : L->fwd.tol) > 0)
        return adjoint ? exa_mgrit_solve_adjoint(m) : exa_mgrit_solve(m);
    int rc = 0;
    L->nchain = 0;
    for (int64_t b = 0, lo = 0; b < nb && rc == 0; b++) {
        int64_t rows = B / nb + (b < B % nb); /* the first B % nb blocks one row more */
        L->r0 = lo, L->rows = rows;
        L->vbytes = (size_t)(rows * L->w * L->r->elem);
        L->chaining = b == 0 ? 1 : 2;
        L->ichain = 0;
        rc = adjoint ? exa_mgrit_solve_adjoint(m) : exa_mgrit_solve(m);
        lo += rows;
    }
    L->chaining = 0;
    L->r0 = 0, L->rows = B;
    L->vbytes = (size_t)(B * L->w * L->r->elem);
    return rc;
}

static void mgrit_check(ExaLayers *L, int rc, const char *what)
{
    if (rc != 0)
        exa_comm_abort(L->comm, "exa: layers(mgrit): the %s solve failed (error %d)", what, rc);
}

static double layers_loss_rows(ExaLayers *L, const void *theta, void *grad, int64_t begin,
                            int64_t count)
{
    ExaRun *r = L->r;
    int nf = r->nin, last = L->hi == L->nsteps;
    reserve(L, count);
    exa_run_gather(r, &r->train, r->train_info, r->order, begin, count, L->in);
    warm_start(L, begin, count);
    L->theta = theta;
    /* 1-2: prologue, forward solve */
    void *out1[1] = { L->u0 };
    call(L, L->pro, -1, 0, (const void *const *)L->in, out1);
    if (L->nsources > 0) /* a recurrence's inputs, every time point's, before the solve */
        call(L, L->inputs, -1, 0, (const void *const *)L->in, L->src);
    L->evals++; /* the x_t gathered so far belong to the last evaluation */
    mgrit_check(L, solve_rows(L, L->mf, 0), "forward");
    L->fwd_iters = exa_mgrit_num_iterations(L->mf);
    L->warm = 1;
    /* 3: the epilogue where u_N is */
    double sum = 0;
    if (grad)
        memset(grad, 0, (size_t)r->n * (size_t)r->elem);
    if (last) {
        L->in[nf] = L->u[L->nsteps - L->lo];
        memset(L->gscratch, 0, (size_t)r->n * (size_t)r->elem);
        void *out[4] = { L->loss_rows, L->out_rows, L->gscratch, L->gN };
        call(L, L->epi, -1, 0, (const void *const *)L->in, out);
        L->in[nf] = NULL;
        for (int64_t i = 0; i < count; i++)
            sum += exa_get(r, L->loss_rows, i);
        if (grad)
            add_into(r, grad, L->gscratch);
    }
    sum = exa_comm_sum_double(L->comm, sum);
    if (!grad)
        return sum / (double)count;
    /* 4: the adjoint solve */
    mgrit_check(L, solve_rows(L, L->mb, 1), "adjoint");
    L->bwd_iters = exa_mgrit_num_iterations(L->mb);
    L->warm_adj = 1;
    /* 5: w_{hi+1} from the right neighbour, then this rank's steps */
    int p = L->comm->rank;
    if (p > 0)
        exa_comm_send(L->comm, L->lam[0], L->vbytes, p - 1, LAYERS_TAG);
    if (!last)
        exa_comm_recv(L->comm, L->lam_next, L->vbytes, p + 1, LAYERS_TAG);
    if (L->recurrence) /* shared weights: the steps' gradients add up */
        memset(L->gscratch, 0, (size_t)r->n * (size_t)r->elem);
    for (int j = 0; j < L->nsources; j++)
        memset(L->dsrc[j], 0, (size_t)(L->B * L->src_rows[j] * L->src_size[j] * r->elem));
    for (int64_t i = L->lo; i <= L->hi && i < L->nsteps; i++) {
        const void *in[3 + EXA_OUT_STAGE_LINEARISE_LAST + 1];
        int lin = lin_inputs(L, i, i < L->hi ? L->lam[i + 1 - L->lo] : L->lam_next, in);
        void *out[3] = { L->tmp, L->recurrence ? L->gscratch
                                               : (char *)grad + i * L->spacing * L->stride * r->elem,
                         L->dxrow };
        if (L->nsources > 0) /* stays 0 where the step does not depend on x_t */
            memset(L->dxrow, 0, (size_t)(L->B * L->row * r->elem));
        call(L, lin ? L->vjp_lin : L->vjp, i, L->h * (double)L->spacing, in, out);
        if (L->recurrence)
            add_into(r, grad, L->gscratch);
        if (L->nsources > 0)
            step_rows(L, i, L->dxrow, 1); /* x_t's adjoint into the sources' rows */
    }
    if (L->nsources > 0) { /* this rank's rows of the sources back to the weights */
        const void *in[EXA_MAX_INPUTS + EXA_OUT_STAGE_INPUTS_LAST + 2];
        for (int k = 0; k < nf; k++)
            in[k] = L->in[k];
        for (int j = 0; j < L->nsources; j++)
            in[nf + j] = L->dsrc[j];
        memset(L->gscratch, 0, (size_t)r->n * (size_t)r->elem);
        void *out[1] = { L->gscratch };
        call(L, L->inputs_vjp, -1, 0, in, out);
        add_into(r, grad, L->gscratch);
    }
    if (p == 0) {
        L->in[nf] = L->lam[0];
        memset(L->gscratch, 0, (size_t)r->n * (size_t)r->elem);
        void *out[1] = { L->gscratch };
        call(L, L->pro_vjp, -1, 0, (const void *const *)L->in, out);
        L->in[nf] = NULL;
        add_into(r, grad, L->gscratch);
    }
    exa_comm_allreduce_sum(L->comm, grad, (size_t)r->n, (ExaReal)r->elem);
    return sum / (double)count;
}

/* ---- nested iteration ---------------------------------------------------------- */

/* The spacing of the network trained in this epoch.  Levels j = 1 .. J have
 * spacing cf^j (cf the forward cfactor, J < levels, every coarse network
 * with at least 2 steps and a point per rank); the finest network gets the
 * last ceil(E/2) of the E epochs and the coarse levels share the rest evenly,
 * coarsest first (a level with no epoch is skipped).  A run of one epoch is
 * not nested. */
static int64_t nested_spacing(const ExaLayers *L, int64_t epoch, int64_t epochs)
{
    const ExaHierarchy *H = &L->hier; /* its levels, and a point per rank on each */
    int64_t cf = L->fwd.cfactor, s = 1;
    int levels = 1;
    while (levels < H->levels && H->nsteps[levels] + 1 >= L->comm->size) {
        s *= cf;
        levels++;
    }
    int64_t coarse = epochs / 2; /* the epochs before the finest level's */
    for (int j = levels - 1; j >= 1; j--, s /= cf) {
        int64_t share = coarse / (levels - 1) + (j - 1 < coarse % (levels - 1) ? 1 : 0);
        if (epoch < share)
            return s;
        epoch -= share;
    }
    return 1;
}

static int layers_begin_step(ExaLayers *L)
{
    ExaRun *r = L->r;
    if (!L->nested || r->epoch == L->epoch_seen)
        return 0;
    L->epoch_seen = r->epoch;
    int64_t s = nested_spacing(L, r->epoch, r->epochs);
    int64_t before = r->epoch > 0 ? nested_spacing(L, r->epoch - 1, r->epochs) : 0;
    if (s != L->spacing) {
        free_solvers(L);
        L->spacing = s;
        L->nsteps = L->nfine / s;
        if (build_solvers(L) != 0) {
            fprintf(stderr, "exa: nested iteration: cannot set up the MGRIT solver for %lld steps\n",
                    (long long)L->nsteps);
            exit(1);
        }
    }
    if (s != before && r->world.rank == 0) /* even with --quiet: the loss changes meaning */
        fprintf(stderr, "exa: nested iteration: epoch %lld trains %lld steps of size %g\n",
                (long long)r->epoch + 1, (long long)L->nsteps, L->h * (double)s);
    return before != 0 && s != before;
}

static void layers_end_step(ExaLayers *L, void *theta)
{
    if (L->spacing > 1)
        exa_hierarchy_fill_piecewise(&L->hier, L->spacing, theta);
}


/* Seconds per evaluation of f(): the minimum over n timed calls (after one
 * untimed call), all ranks starting together (barriers); *cpu the minimum
 * CPU seconds of this rank. */
static double time_min(ExaLayers *L, int64_t n, int (*f)(ExaLayers *, int64_t), int64_t count,
                       double *cpu)
{
    MPI_Comm comm = L->comm->comm;
    double best = INFINITY, best_cpu = INFINITY;
    f(L, count);
    for (int64_t k = 0; k < n; k++) {
        MPI_Barrier(comm);
        double t0 = MPI_Wtime(), c0 = cpu_now();
        f(L, count);
        double c1 = cpu_now();
        MPI_Barrier(comm);
        best = fmin(best, MPI_Wtime() - t0);
        best_cpu = fmin(best_cpu, c1 - c0);
    }
    *cpu = best_cpu;
    return best;
}

static int eval_serial(ExaLayers *L, int64_t count)
{
    exa_run_loss(L->r, L->r->theta, L->r->grad, 0, count, EXA_SHARD_ALL);
    return 0;
}

static int eval_mgrit(ExaLayers *L, int64_t count)
{
    layers_loss_rows(L, L->r->theta, L->gbench, 0, count);
    return 0;
}

static int eval_fine_step(ExaLayers *L, int64_t count)
{
    (void)count;
    return cb_step_to(L, 0, 0, L->h, L->u0, L->tmp); /* as the solver calls it */
}

/* --bench-step N: seconds per loss+gradient evaluation of the first mini-batch
 * (minimum of N), by MGRIT and by the serial loss_grad (each rank runs the
 * whole serial network; no collectives), the MGRIT iterations and last
 * residuals, the step calls per level (summed over ranks) and the cost of
 * one fine step on the batch. */
int exa_layers_bench(ExaMethod *m, int64_t n)
{
    ExaRun *r = m->r;
    ExaLayers *L = (ExaLayers *)m;
    exa_data_epoch_order(r->order, r->train.n, (uint64_t)r->seed, 0);
    int64_t count = r->batch < r->train.n ? r->batch : r->train.n;
    L->gbench = xmalloc((size_t)r->n * (size_t)r->elem);
    double cs, cm, cstep;
    double ts = time_min(L, n, eval_serial, count, &cs);
    double tm = time_min(L, n, eval_mgrit, count, &cm);
    memset(L->nfwd, 0, sizeof L->nfwd), memset(L->nadj, 0, sizeof L->nadj);
    L->nlin = 0;
    L->tcalls = 0, L->ncalls = 0, L->timing = 1;
    MPI_Barrier(L->comm->comm);
    double te = MPI_Wtime();
    eval_mgrit(L, count);
    te = MPI_Wtime() - te;
    L->timing = 0;
    double tc_max, tc_min, te_max;
    MPI_Allreduce(&L->tcalls, &tc_max, 1, MPI_DOUBLE, MPI_MAX, L->comm->comm);
    MPI_Allreduce(&L->tcalls, &tc_min, 1, MPI_DOUBLE, MPI_MIN, L->comm->comm);
    MPI_Allreduce(&te, &te_max, 1, MPI_DOUBLE, MPI_MAX, L->comm->comm);
    int64_t nf[EXA_MGRIT_MAX_LEVELS], na[EXA_MGRIT_MAX_LEVELS];
    MPI_Allreduce(L->nfwd, nf, EXA_MGRIT_MAX_LEVELS, MPI_INT64_T, MPI_SUM, L->comm->comm);
    MPI_Allreduce(L->nadj, na, EXA_MGRIT_MAX_LEVELS, MPI_INT64_T, MPI_SUM, L->comm->comm);
    double tstep = time_min(L, 20, eval_fine_step, count, &cstep);
    if (L->comm->rank == 0) {
        double rf = exa_mgrit_residual_norm(L->mf, L->fwd_iters - 1);
        double rb = exa_mgrit_residual_norm(L->mb, L->bwd_iters - 1);
        printf("bench: ranks %d batch %lld steps %lld width %lld: serial %.6e s mgrit %.6e s "
               "speedup %.4f; iterations forward %d adjoint %d; last residual forward %.3e "
               "adjoint %.3e; levels %d; fine step %.6e s\n",
               L->comm->size, (long long)count, (long long)L->nsteps, (long long)L->w, ts, tm,
               ts / tm, L->fwd_iters, L->bwd_iters, rf, rb, exa_mgrit_num_levels(L->mf), tstep);
        printf("bench: step calls per level, forward:");
        for (int l = 0; l < exa_mgrit_num_levels(L->mf); l++)
            printf(" %lld", (long long)nf[l]);
        printf("; adjoint:");
        int64_t F = 0, A = 0;
        for (int l = 0; l < exa_mgrit_num_levels(L->mb); l++)
            printf(" %lld", (long long)na[l]);
        printf("\n");
        for (int l = 0; l < EXA_MGRIT_MAX_LEVELS; l++)
            F += nf[l], A += na[l];
        /* the work the calls stand for: a forward and a backward step make one
         * serial step (serial / N), and the vjp pass makes N backward steps */
        double work = (double)(F + A + L->nsteps) / 2 / (double)L->nsteps;
        printf("bench: work: step calls forward %lld adjoint %lld vjp %lld = %.2f serial steps "
               "per layer; predicted %.6e s; mgrit / predicted %.3f\n", (long long)F,
               (long long)A, (long long)L->nsteps, work, work * ts, tm / (work * ts));
        printf("bench: cpu (rank 0): serial %.6e s mgrit %.6e s fine step %.6e s; mgrit / "
               "predicted %.3f\n", cs, cm, cstep, cm / (work * cs));
        /* where one evaluation's wall time goes: the generated calls (the
         * busiest rank's and the least busy's), and the rest (vector sums,
         * norms and copies, messages and waiting; at 1 rank no messages) */
        printf("bench: one evaluation (timed again): %.6e s; generated calls %lld on rank 0, %.6e s on "
               "the busiest rank, %.6e s on the least busy; the rest %.6e s (%.1f%%) on the busiest\n",
               te_max, (long long)L->ncalls, tc_max, tc_min, te_max - tc_max,
               100 * (te_max - tc_max) / te_max);
        if (L->use_lin) /* rank 0's points: the residuals of every point it linearised */
            printf("bench: linearisation kept: %d residuals, %lld reals per sample and point, %.3f MiB on "
                   "rank 0; stage_linearise calls %lld (rank 0)\n", L->nres, (long long)L->res_reals,
                   (double)((L->hi - L->lo + 1) * count * L->res_reals * r->elem) / 1048576.0,
                   (long long)L->nlin);
        else
            printf("bench: linearisation not kept: %s\n", L->lin_off);
    }
    free(L->gbench);
    L->gbench = NULL;
    return 0;
}


/* ---- the method ---------------------------------------------------------------- */

static double layers_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count)
{
    return layers_loss_rows((ExaLayers *)m, theta, grad, begin, count);
}

static double layers_loss_fn(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count,
                             ExaShard mode)
{
    (void)mode; /* MGRIT splits the layers, not the rows */
    return layers_loss_rows(ctx, theta, grad, begin, count);
}

/* The train block's optimiser on the MGRIT loss; around it nested
 * iteration's network of this epoch (a finer network is a new problem: the
 * optimiser starts afresh) and the piecewise-constant refill. */
static double layers_step(ExaMethod *m, int64_t begin, int64_t count)
{
    ExaLayers *L = (ExaLayers *)m;
    ExaRun *r = m->r;
    if (layers_begin_step(L)) {
        OptSpec spec = L->global.opt.spec;
        solver_free(&L->global.opt);
        if (solver_init(r, &spec, &L->global.opt, r->elem == 8) != 0) {
            fputs("exa: out of memory for the optimiser\n", stderr);
            exit(1);
        }
    }
    double loss = stepper_step(&L->global, r, layers_loss_fn, L, begin, count);
    layers_end_step(L, r->theta);
    return loss;
}


/* One solve of the last evaluation: its iterations and whether it met its
 * tolerance (the residual of the last iteration, computed at its start, is
 * the one the solver stopped on).  One level is serial time stepping: exact. */
static int solve_said(char *buf, size_t len, const char *what, const ExaMgrit *mg, int iters, const Solve *s)
{
    double res = exa_mgrit_residual_norm(mg, iters - 1);
    char r[32];
    if (res >= 0)
        snprintf(r, sizeof r, "%.3e", res);
    else
        snprintf(r, sizeof r, "not computed");
    if (exa_mgrit_num_levels(mg) <= 1)
        return snprintf(buf, len, "%s %d (one level: serial, exact)", what, iters);
    if (s->tol <= 0)
        return snprintf(buf, len, "%s %d (no tol: a fixed count; last residual %s)", what, iters, r);
    if (res >= 0 && res < s->tol)
        return snprintf(buf, len, "%s %d (converged: residual %s < tol %.1e)", what, iters, r, s->tol);
    if (res < 0)
        return snprintf(buf, len, "%s %d (NOT converged to tol %.1e: no residual computed)", what, iters, s->tol);
    return snprintf(buf, len, "%s %d (NOT converged: residual %s >= tol %.1e)", what, iters, r, s->tol);
}

static void layers_solves(ExaMethod *m, char *buf, size_t len)
{
    ExaLayers *L = (ExaLayers *)m;
    int n = snprintf(buf, len, "mgrit iterations ");
    if (n >= 0 && (size_t)n < len)
        n += solve_said(buf + n, len - (size_t)n, "forward", L->mf, L->fwd_iters, &L->fwd);
    if (n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, ", ");
    if (n >= 0 && (size_t)n < len)
        solve_said(buf + n, len - (size_t)n, "adjoint", L->mb, L->bwd_iters, &L->bwd);
}

const ExaMethodOps exa_method_layers = {
    .name = "layers", .create = layers_create, .step = layers_step, .loss = layers_loss,
    .save = stepper_save, .load = stepper_load, .free = layers_free, .solves = layers_solves,
};
