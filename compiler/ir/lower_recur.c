/* lower_recur.c - layers(mgrit) over a recurrence: the steps of
 *
 *     for t in a..b { h = cell(h, x[t]); }
 *
 * are MGRIT's time steps (issue 16).  Unlike a repeat block, every step uses
 * the same weights (stride 0: the gradient is the sum over the steps) and
 * reads its own rows: row t of tensors computed before the loop from the data
 * alone, its *sources* - the data x itself, and the input projections
 * x W^T that hoist.c took out of the steps.  The step functions are cut from
 * step 1 of the unrolled loss graph (step 0 may start from a uniform
 * h = zeros([n]), whose graph is not batched), with the carried h and the row
 * reads cut out; the rows of all sources side by side are one input x_t:
 *
 *   stage_step        inputs h, x_t;           outputs 0: h+
 *   stage_adjoint     inputs h, lambda', x_t;  outputs 0: (dh+/dh)^T lambda'
 *   stage_vjp         the same, and 1: (dh+/dtheta)^T lambda' at the weights'
 *                     offsets, 2: (dh+/dx_t)^T lambda'
 *   stage_inputs      inputs the data; output j: source j, all its rows
 *   stage_inputs_vjp  inputs the data, then each source's adjoint (the rows
 *                     stage_vjp gave); output 0: the weights' gradient
 *
 * so the projections are computed once per time point, before the solve,
 * and differentiated once after it.  The runtime passes row first_j + i of
 * source j to step i (a coarse step the rows at its left point) and the step
 * size dt: 1 on the fine level, cf^l on level l.  Two update forms can take a step size, and only they fit:
 *
 *   residual   h + E(h, x_t)                 -> h + dt E
 *   implicit   (h + a n) / (1 + a), a >= 0   -> (h + dt a n) / (1 + dt a)
 *
 * The implicit one is TorchBraid's implicit GRU (nn.exa's gru_implicit): h+
 * is a convex combination of h and n for every dt, so |h+| <= max(|h|, 1)
 * when |n| <= 1, and coarse levels with large steps stay stable.  On the
 * fine level dt = 1 multiplies exactly, so the step is the serial one. */
#include <stdlib.h>
#include <string.h>

#include "lower_stage.h"

enum { FORM_RESIDUAL, FORM_IMPLICIT, MAX_ROWS = 64, MAX_SOURCES = EXA_OUT_STAGE_INPUTS_LAST + 1 };

/* One step's update: its form and roots (E, or a and n), and its row reads. */
typedef struct Step {
    int form;
    IrId roots[2];
    int nroots;
    Cut cuts[MAX_ROWS + 1]; /* 0: h_k; then the SLICEs reading a row of a source */
    int cut_source[MAX_ROWS + 1];
    int ncuts;
    IrId source[MAX_SOURCES]; /* in order of first read */
    int64_t row[MAX_SOURCES], size[MAX_SOURCES];
    int nsources;
} Step;

static int is_one(const IrFunc *f, IrId v)
{
    return (f->v[v].op == IR_CONST || f->v[v].op == IR_FILL) && f->v[v].c == 1.0;
}

/* The form of step k's update h_{k+1} from h_k; -1 if it has neither. */
static int step_form(const StageCtx *c, int64_t k, Step *s)
{
    const IrFunc *f = c->f;
    IrId before = c->r->state[k], after = c->r->state[k + 1];
    const IrValue *v = &f->v[after];
    if (v->op == IR_ADD && (v->in[0] == before || v->in[1] == before)) {
        s->form = FORM_RESIDUAL;
        s->roots[0] = v->in[0] == before ? v->in[1] : v->in[0];
        s->nroots = 1;
        return 0;
    }
    if (v->op != IR_DIV)
        return -1;
    const IrValue *num = &f->v[v->in[0]], *den = &f->v[v->in[1]];
    if (num->op != IR_ADD || den->op != IR_ADD || (num->in[0] != before && num->in[1] != before))
        return -1;
    IrId m = num->in[0] == before ? num->in[1] : num->in[0];
    IrId a = is_one(f, den->in[0]) ? den->in[1] : is_one(f, den->in[1]) ? den->in[0] : -1;
    if (a < 0 || f->v[m].op != IR_MUL || (f->v[m].in[0] != a && f->v[m].in[1] != a))
        return -1;
    s->form = FORM_IMPLICIT;
    s->roots[0] = a;
    s->roots[1] = f->v[m].in[0] == a ? f->v[m].in[1] : f->v[m].in[0];
    s->nroots = 2;
    return 0;
}

/* A row read: x[t] of a source x (batched, computed from no state: dep[]),
 * one index on axis 0, every other axis whole. */
static int row_read(const IrFunc *f, const char *dep, IrId v)
{
    const IrValue *x = &f->v[v];
    if (x->op != IR_SLICE || !f->v[x->in[0]].batched || dep[x->in[0]])
        return 0;
    const IrShape *src = &f->v[x->in[0]].shape;
    if (src->rank < 1 || x->slice[0][1] != x->slice[0][0] + 1)
        return 0;
    for (int d = 1; d < src->rank; d++)
        if (x->slice[d][0] != 0 || x->slice[d][1] != src->dim[d])
            return 0;
    return 1;
}

static int fail(StageCtx *c, const char *note, const char *fmt, long long k)
{
    diag_error(c->d, c->r->node->span, fmt, k, c->r->name);
    if (note)
        diag_note_plain(c->d, "%s", note);
    return -1;
}

static const char *const form_note =
    "MGRIT over a 'for' loop needs each step to be 'h = h + F(h, x[t])' (residual) or "
    "'h = (h + a * n) / (1 + a)' with a >= 0 (implicit, as nn's gru_implicit): coarse levels "
    "take steps dt = cf^l times larger, h + dt F or a -> dt a, which other updates do not admit";

/* Step k: its form, its row reads and its cone with h_k and the rows cut
 * out (*need, malloc'd); -1 after an error. */
static int analyse(StageCtx *c, const char *dep, int64_t k, Step *s, char **need)
{
    const IrFunc *f = c->f;
    LowerRepeat *r = c->r;
    memset(s, 0, sizeof *s);
    if (step_form(c, k, s) != 0)
        return fail(c, form_note, "layers(mgrit): step %lld of the 'for' loop does not update '%s' in "
                    "a form MGRIT can coarsen", (long long)k);
    IrId h = r->state[k];
    s->cuts[0] = (Cut){ .at = h, .leaf = lower_stage_leaf(0, &f->v[h], r->name) };
    s->ncuts = 1;
    char *wide = lower_stage_cone(f, s->roots, s->nroots, s->cuts, 1);
    for (IrId v = 0; v < f->n; v++) {
        if (!wide[v] || !row_read(f, dep, v))
            continue;
        IrId src = f->v[v].in[0];
        int64_t row = f->v[v].slice[0][0];
        int j = 0;
        while (j < s->nsources && s->source[j] != src)
            j++;
        if ((j < s->nsources && row != s->row[j]) || j == MAX_SOURCES || s->ncuts > MAX_ROWS) {
            free(wide);
            return fail(c, "each step may read one row x[t] of the data, its own",
                        "layers(mgrit): step %lld of the 'for' loop reads more than one row of the data "
                        "to update '%s'", (long long)k);
        }
        if (j == s->nsources) {
            s->source[j] = src;
            s->row[j] = row;
            s->size[j] = ir_shape_size(&f->v[v].shape);
            s->nsources++;
        }
        s->cut_source[s->ncuts] = j;
        s->cuts[s->ncuts++] = (Cut){ .at = v, .leaf = lower_stage_leaf(1, &f->v[v], "x_t") };
    }
    free(wide);
    *need = lower_stage_cone(f, s->roots, s->nroots, s->cuts, s->ncuts);
    for (IrId v = 0; v < f->n; v++) {
        IrOp op = f->v[v].op;
        int other_state = 0;
        for (int64_t j = 0; j <= r->count; j++)
            other_state |= j != k && r->state[j] == v && f->v[v].batched;
        if ((*need)[v] && (op == IR_INPUT || op == IR_LABEL || other_state)) {
            free(*need);
            return fail(c, "a step may depend only on the carried value, the weights and its own row "
                        "x[t] of the data (or of a value computed from the data before the loop)",
                        "layers(mgrit): step %lld of the 'for' loop uses a value computed outside the "
                        "step other than '%s' and x[t]", (long long)k);
        }
    }
    return 0;
}

static int is_cut(const Step *s, IrId v)
{
    for (int i = 0; i < s->ncuts; i++)
        if (s->cuts[i].at == v)
            return 1;
    return 0;
}

/* Step k's cone is the reference step's: the same operations on the same weights. */
static int same_step(const StageCtx *c, const Step *s0, const char *need0, const Step *sk,
                     const char *needk)
{
    const IrFunc *f = c->f;
    if (s0->form != sk->form || s0->nroots != sk->nroots)
        return 0;
    IrId a = -1, b = -1;
    while (lower_stage_walk(f, need0, needk, &a, &b)) {
        const IrValue *x = &f->v[a], *y = &f->v[b];
        if (is_cut(s0, a) != is_cut(sk, b))
            return 0;
        if (!is_cut(s0, a)) {
            if (x->op != y->op || !ir_shape_equal(&x->shape, &y->shape)
                || x->batched != y->batched
                || memcmp(x->iarg, y->iarg, sizeof x->iarg) != 0)
                return 0;
            if ((x->op == IR_CONST || x->op == IR_FILL) && x->c != y->c)
                return 0;
            if (x->op == IR_SLICE && memcmp(x->slice, y->slice, sizeof x->slice) != 0)
                return 0;
            for (int i = 0; i < 2; i++) /* the update's roots at the same places */
                if (i < s0->nroots && (a == s0->roots[i]) != (b == sk->roots[i]))
                    return 0;
        }
    }
    return a == f->n && b == f->n;
}

/* Where source j's row sits in x_t. */
static int64_t row_offset(const Step *s, int j)
{
    int64_t off = 0;
    for (int i = 0; i < j; i++)
        off += s->size[i];
    return off;
}

/* stage_step, stage_adjoint, stage_vjp from reference step kr. */
static int emit_steps(StageCtx *c, Step *s, const char *need, int64_t kr)
{
    const IrFunc *f = c->f;
    LowerRepeat *r = c->r;
    IrId *map = malloc(((size_t)f->n + 1) * sizeof *map);
    if (!map)
        abort();
    int64_t width = row_offset(s, s->nsources);
    int status = 0;
    const IrFunc *gvjp = NULL;
    for (int fn = 0; fn < 3 && status == 0; fn++) {
        /* inputs: h, x_t (step); h, lambda, x_t (adjoint, vjp); a row read
         * is x_t's part for its source, reshaped to the read's shape */
        IrFunc *g = lower_stage_step_func(c, fn, fn == 0 ? 2 : 3);
        gvjp = g;
        IrId xt = -1;
        if (width > 0) {
            IrValue xv = { .op = IR_INPUT, .in = { -1, -1, -1 }, .shape = { .rank = 1, .dim = { width } },
                           .batched = 1, .iarg = { fn == 0 ? 1 : 2 }, .stage = -1, .name = "x_t" };
            xt = ir_add(g, &xv);
        }
        for (int i = 1; i < s->ncuts; i++) {
            int j = s->cut_source[i];
            int64_t off = row_offset(s, j);
            IrValue sl = { .op = IR_SLICE, .in = { xt, -1, -1 }, .shape = { .rank = 1, .dim = { s->size[j] } },
                           .batched = 1, .stage = -1, .slice = { { off, off + s->size[j] } } };
            IrValue *leaf = &s->cuts[i].leaf;
            *leaf = (IrValue){ .op = IR_RESHAPE, .in = { ir_add(g, &sl), -1, -1 },
                               .shape = f->v[s->cuts[i].at].shape, .batched = 1, .stage = -1 };
        }
        lower_stage_copy(f, need, s->cuts, s->ncuts, g, map);
        IrId u = map[r->state[kr]];
        if (u < 0)
            u = ir_add(g, &s->cuts[0].leaf);
        IrValue dtv = { .op = IR_STEP_SIZE, .in = { -1, -1, -1 }, .stage = -1 };
        IrId dt = ir_add(g, &dtv), next;
        if (s->form == FORM_RESIDUAL) {
            next = ir_binary(g, IR_ADD, u, ir_binary(g, IR_MUL, dt, map[s->roots[0]]));
        } else { /* dt = 1 is exact: the fine step is the serial one */
            IrId a = ir_binary(g, IR_MUL, dt, map[s->roots[0]]);
            next = ir_binary(g, IR_DIV, ir_binary(g, IR_ADD, u, ir_binary(g, IR_MUL, a, map[s->roots[1]])),
                             ir_binary(g, IR_ADD, ir_const(g, 1.0), a));
        }
        IrId *adj = NULL;
        status = lower_stage_step_outputs(c, g, fn, u, next, &adj);
        if (fn == 2 && status == 0) {
            lower_stage_param_outputs(c, g, need, map, adj, EXA_OUT_STAGE_VJP_GRAD);
            if (xt >= 0 && adj[xt] >= 0)
                ir_output(g, adj[xt], EXA_OUT_STAGE_VJP_INPUT_ADJOINT, 0);
        }
        free(adj);
    }
    if (status == 0 && r->lin) /* inputs h, lambda, x_t; the residuals after them */
        status = lower_lin_steps(c, gvjp, 3);
    free(map);
    return status;
}

/* stage_inputs and stage_inputs_vjp: the sources from the data, and the
 * weights' gradient from the sources' adjoints, sum_j <source_j, adjoint_j>
 * differentiated (each adjoint row already carries the loss's 1/B). */
static int emit_inputs(StageCtx *c, const Step *s)
{
    const IrFunc *f = c->f;
    char *need = lower_stage_cone(f, s->source, s->nsources, NULL, 0);
    IrId *map = malloc(((size_t)f->n + 1) * sizeof *map);
    if (!map)
        abort();
    int status = 0;
    for (int fn = 0; fn < 2 && status == 0; fn++) {
        IrFunc *g = lower_stage_func(c, fn ? "exa_stage_inputs_vjp" : "exa_stage_inputs",
                                     fn ? EXA_FN_STAGE_INPUTS_VJP : EXA_FN_STAGE_INPUTS,
                                     c->nfields + (fn ? s->nsources : 0));
        lower_stage_copy(f, need, NULL, 0, g, map);
        if (fn == 0) {
            for (int j = 0; j < s->nsources; j++)
                ir_output(g, map[s->source[j]], EXA_OUT_STAGE_INPUTS_FIRST + j, 0);
            continue;
        }
        IrId total = -1;
        for (int j = 0; j < s->nsources; j++) {
            IrValue av = lower_stage_leaf(c->nfields + j, &f->v[s->source[j]], "source_adjoint");
            IrId dot = ir_reduce(g, IR_SUM, ir_binary(g, IR_MUL, map[s->source[j]], ir_add(g, &av)), -1);
            total = total < 0 ? dot : ir_binary(g, IR_ADD, total, dot);
        }
        status = lower_stage_param_vjp(c, g, total, ir_const(g, 1.0), need, map, EXA_OUT_STAGE_INPUTS_VJP_GRAD);
    }
    free(map);
    free(need);
    return status;
}

/* dep[v] = 1 for the values computed from a state of the loop. */
static char *state_dependent(const IrFunc *f, const LowerRepeat *r)
{
    char *dep = calloc((size_t)f->n + 1, 1);
    if (!dep)
        abort();
    for (int64_t k = 0; k <= r->count; k++)
        dep[r->state[k]] = 1;
    for (IrId v = 0; v < f->n; v++)
        for (int i = 0; i < ir_op_arity(f->v[v].op) && !dep[v]; i++)
            dep[v] = dep[f->v[v].in[i]];
    return dep;
}

int lower_recur_steps(StageCtx *c)
{
    const IrFunc *f = c->f;
    LowerRepeat *r = c->r;
    /* step 0 may start from a uniform h_0: the reference is step 1 */
    int64_t kr = r->count > 1 ? 1 : 0;
    if (!f->v[r->state[0]].batched && kr == 0) {
        diag_error(c->d, r->node->span, "layers(mgrit): a 'for' loop of one step from a value that is "
                   "the same for every sample is no time-stepping problem");
        return -1;
    }
    Step *ref = malloc(sizeof *ref), *sk = malloc(sizeof *sk);
    if (!ref || !sk)
        abort();
    char *dep = state_dependent(f, r);
    char *need0 = NULL;
    int status = analyse(c, dep, kr, ref, &need0);
    for (int64_t k = 0; k < r->count && status == 0; k++) {
        if (k == kr)
            continue;
        char *needk = NULL;
        status = analyse(c, dep, k, sk, &needk);
        if (status != 0)
            break;
        int rows = sk->nsources == ref->nsources;
        for (int j = 0; j < sk->nsources && rows; j++)
            rows = sk->source[j] == ref->source[j] && sk->row[j] == ref->row[j] - kr + k;
        if (!rows) {
            status = fail(c, "step i must read row x[t0 + i]: MGRIT gives each time point its own row",
                          "layers(mgrit): step %lld of the 'for' loop does not read the row after its "
                          "predecessor's to update '%s'", (long long)k);
        } else if ((k > 0 || f->v[r->state[0]].batched) && !same_step(c, ref, need0, sk, needk)) {
            /* step 0 from a uniform h_0 lowers differently (uniform values, broadcasts) and is
             * not compared: the loop body is the same code for every t, and what t changes
             * (constants, rows) shows between steps 1, 2, ... */
            status = fail(c, "one generated step function serves every step, and the weights are shared",
                          "layers(mgrit): step %lld of the 'for' loop does not compute what the other "
                          "steps compute to update '%s'", (long long)k);
        }
        free(needk);
    }
    if (status == 0)
        status = emit_steps(c, ref, need0, kr);
    if (status == 0 && ref->nsources > 0)
        status = emit_inputs(c, ref);
    if (status == 0) {
        int64_t w = ir_shape_size(&f->v[r->state[kr]].shape);
        lower_stage_append(&r->desc, "setting layers stages(state=%lld,steps=%lld,offset=0,size=0,stride=0,"
                           "h=1,recurrence=1,sources=%d,row=%lld)\n", (long long)w, (long long)r->count,
                           ref->nsources, (long long)row_offset(ref, ref->nsources));
        /* source j: rows of size reals per sample; step i reads row first + i */
        for (int j = 0; j < ref->nsources; j++)
            lower_stage_append(&r->desc, "setting layers_source%d source(rows=%lld,size=%lld,first=%lld)\n", j,
                               (long long)(ir_shape_size(&f->v[ref->source[j]].shape) / ref->size[j]),
                               (long long)ref->size[j], (long long)(ref->row[j] - kr));
    }
    free(dep);
    free(need0);
    free(ref);
    free(sk);
    return status;
}
