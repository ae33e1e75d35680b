/* solver.c - the optimisers as the decomposition methods use them
 * (solver.h).  Quasi-Newton and trust-region solvers work in double on
 * copies of the parameters; first-order global steps update the parameters
 * in their own precision. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "part.h"
#include "solver.h"

#include "exa/gpu_train.h"
#include "exa/schedule.h"

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

void *solver_alloc(int64_t n, size_t size)
{
    void *v = calloc((size_t)(n > 0 ? n : 1), size);
    if (!v) {
        fputs("exa: out of memory\n", stderr);
        exit(1);
    }
    return v;
}

OptSpec solver_spec(const ExaValue *v, const ExaCall *fallback)
{
    OptSpec o = { .kind = OPT_NONE, .steps = 1 };
    const ExaCall *c = v && v->kind == EXA_CALL ? v->call : NULL;
    const char *name = c ? c->name : v && v->kind == EXA_IDENT ? v->str : NULL;
    if (same(name, "optimizer") || (!v && fallback)) {
        c = fallback;
        name = c->name;
    }
    o.call = c;
    static const struct { const char *name; OptKind kind; } kinds[] = {
        { "sgd", OPT_SGD }, { "adam", OPT_ADAM }, { "adamw", OPT_ADAM }, { "lbfgs", OPT_LBFGS },
        { "trust_region", OPT_TR }, { "gradient", OPT_GRADIENT }, { "plain", OPT_PLAIN }, { "secant", OPT_SECANT },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (same(name, kinds[i].name))
            o.kind = kinds[i].kind;
    o.steps = (int)exa_call_num(c, "steps", 1);
    if (o.steps < 1)
        o.steps = 1;
    o.successive = same(exa_call_ident(c, "batches", "same"), "successive");
    return o;
}

int solver_init(const ExaRun *r, const OptSpec *o, Optimizer *st, int f64)
{
    return solver_init_n(r, o, st, f64, r->n);
}

int solver_init_n(const ExaRun *r, const OptSpec *o, Optimizer *st, int f64, int64_t n)
{
    double lr = r->opt.lr > 0 ? r->opt.lr : -1;
    memset(st, 0, sizeof *st);
    st->spec = *o;
    switch (o->kind) {
    case OPT_SGD: {
        ExaSgdConfig c = { .lr = lr > 0 ? lr : exa_call_num(o->call, "lr", 0.01),
                           .momentum = exa_call_num(o->call, "momentum", 0),
                           .weight_decay = exa_call_num(o->call, "weight_decay", 0),
                           .nesterov = exa_call_num(o->call, "nesterov", 0) != 0 };
        st->base_lr = c.lr;
        return exa_sgd_init(&st->sgd, c, n, f64);
    }
    case OPT_ADAM: {
        ExaAdamConfig c = exa_adam_defaults();
        c.lr = lr > 0 ? lr : exa_call_num(o->call, "lr", c.lr);
        c.beta1 = exa_call_num(o->call, "beta1", c.beta1);
        c.beta2 = exa_call_num(o->call, "beta2", c.beta2);
        c.eps = exa_call_num(o->call, "eps", c.eps);
        /* adamw: decoupled weight decay, PyTorch's default 0.01 */
        c.decoupled = same(o->call->name, "adamw");
        c.weight_decay = exa_call_num(o->call, "weight_decay", c.decoupled ? 0.01 : 0);
        st->base_lr = c.lr;
        return exa_adam_init(&st->adam, c, n, f64);
    }
    case OPT_LBFGS: {
        ExaLbfgsConfig c = exa_lbfgs_defaults();
        c.history = (int)exa_call_num(o->call, "history", c.history);
        return exa_lbfgs_init(&st->lbfgs, c, n);
    }
    case OPT_TR: {
        ExaTrustConfig c = exa_trust_defaults();
        c.memory = (int)exa_call_num(o->call, "memory", 0);
        c.delta0 = exa_call_num(o->call, "radius", c.delta0);
        c.delta_min = exa_call_num(o->call, "min_radius", c.delta_min);
        c.delta_max = exa_call_num(o->call, "max_radius", c.delta_max);
        c.eta_accept = exa_call_num(o->call, "accept", c.eta_accept);
        c.expand = exa_call_num(o->call, "expand", c.expand);
        c.shrink = exa_call_num(o->call, "shrink", c.shrink);
        if (c.delta_min > c.delta0)
            c.delta_min = c.delta0;
        return exa_trust_init(&st->trust, c, n);
    }
    default:
        return 0;
    }
}

void solver_free(Optimizer *st)
{
    free(st->fused_done);
    st->fused_done = NULL;
    switch (st->spec.kind) {
    case OPT_SGD: exa_sgd_free(&st->sgd); break;
    case OPT_ADAM: exa_adam_free(&st->adam); break;
    case OPT_LBFGS: exa_lbfgs_free(&st->lbfgs); break;
    case OPT_TR: exa_trust_free(&st->trust); break;
    default: break;
    }
}

void solver_reset(Optimizer *o, double radius)
{
    size_t e;
    switch (o->spec.kind) {
    case OPT_SGD:
        e = o->sgd.f64 ? sizeof(double) : sizeof(float);
        if (o->sgd.buf)
            memset(o->sgd.buf, 0, (size_t)o->sgd.n * e);
        o->sgd.steps = 0;
        break;
    case OPT_ADAM:
        e = o->adam.f64 ? sizeof(double) : sizeof(float);
        memset(o->adam.m, 0, (size_t)o->adam.n * e);
        memset(o->adam.v, 0, (size_t)o->adam.n * e);
        o->adam.t = 0;
        break;
    case OPT_LBFGS:
        o->lbfgs.stored = o->lbfgs.head = 0, o->lbfgs.iter = 0;
        break;
    case OPT_TR:
        o->trust.stored = o->trust.head = 0;
        o->trust.delta = radius > 0 ? radius : o->trust.cfg.delta0;
        if (radius > 0)
            o->trust.cfg.delta_max = radius, o->trust.cfg.delta_min = fmin(o->trust.cfg.delta_min, 0.01 * radius);
        break;
    default:
        break;
    }
}

void solver_save(Optimizer *o, const ExaRun *r, const char *prefix, ExaStateList *l)
{
    char p[EXA_STATE_NAME];
    int64_t n = r->n;
    switch (o->spec.kind) {
    case OPT_SGD:
        snprintf(p, sizeof p, "%s.sgd", prefix);
        exa_state_add(l, p, "steps", &o->sgd.steps, 8);
        if (o->sgd.buf)
            exa_state_add(l, p, "momentum", o->sgd.buf, n * (o->sgd.f64 ? 8 : 4));
        break;
    case OPT_ADAM:
        snprintf(p, sizeof p, "%s.adam", prefix);
        exa_state_add(l, p, "t", &o->adam.t, 8);
        exa_state_add(l, p, "m", o->adam.m, n * (o->adam.f64 ? 8 : 4));
        exa_state_add(l, p, "v", o->adam.v, n * (o->adam.f64 ? 8 : 4));
        break;
    case OPT_LBFGS: {
        int m = o->lbfgs.cfg.history;
        snprintf(p, sizeof p, "%s.lbfgs", prefix);
        o->counters[0] = o->lbfgs.stored, o->counters[1] = o->lbfgs.head;
        exa_state_add(l, p, "stored_head", o->counters, sizeof o->counters);
        exa_state_add(l, p, "iter", &o->lbfgs.iter, 8);
        exa_state_add(l, p, "s", o->lbfgs.s, (int64_t)m * n * 8);
        exa_state_add(l, p, "y", o->lbfgs.y, (int64_t)m * n * 8);
        exa_state_add(l, p, "rho", o->lbfgs.rho, (int64_t)m * 8);
        break;
    }
    case OPT_TR:
        snprintf(p, sizeof p, "%s.trust_region", prefix);
        exa_state_add(l, p, "radius", &o->trust.delta, 8);
        exa_state_add(l, p, "iter", &o->trust.iter, 8);
        break;
    default:
        break;
    }
}

void solver_load(Optimizer *o)
{
    if (o->spec.kind == OPT_LBFGS)
        o->lbfgs.stored = (int)o->counters[0], o->lbfgs.head = (int)o->counters[1];
}

/* ---- objectives ------------------------------------------------------------ */

void solver_to_double(const ExaRun *r, const void *v, double *x)
{
    for (int64_t i = 0; i < r->n; i++)
        x[i] = exa_get(r, v, i);
}

void solver_from_double(const ExaRun *r, const double *x, void *v)
{
    for (int64_t i = 0; i < r->n; i++)
        exa_set(r, v, i, x[i]);
}

double solver_objective(void *ctx, const double *x, double *g)
{
    Objective *o = ctx;
    ExaRun *r = o->r;
    double f;
    if (r->elem == 8) { /* evaluate in place: no conversion */
        f = o->loss(o->ctx, x, g, o->begin, o->count, o->mode);
    } else {
        solver_from_double(r, x, o->stage_theta);
        f = o->loss(o->ctx, o->stage_theta, o->stage_grad, o->begin, o->count, o->mode);
        solver_to_double(r, o->stage_grad, g);
    }
    if (o->shift) {
        for (int64_t i = 0; i < r->n; i++) {
            f += o->shift[i] * (x[i] - o->x0[i]);
            g[i] += o->shift[i];
        }
    }
    if (o->mask)
        for (int64_t i = 0; i < r->n; i++)
            if (!o->mask[i])
                g[i] = 0;
    return f;
}

/* Before an SGD or Adam step: the schedule's learning rate for this step. */
static void first_order_lr(Optimizer *o, const ExaRun *r)
{
    double lr = o->base_lr * r->lr_scale;
    if (o->spec.kind == OPT_SGD)
        o->sgd.cfg.lr = lr;
    else
        o->adam.cfg.lr = lr;
}

/* ... and gradient g (n reals of elem bytes) clipped to the train block's
 * bound. */
static void first_order_begin(Optimizer *o, const ExaRun *r, void *g, int elem)
{
    first_order_lr(o, r);
    if (r->clip > 0)
        exa_clip_grad_norm(g, r->n, elem, r->clip);
}

/* One SGD or Adam step on x with gradient scale * g, reals of elem bytes
 * (scale 1: the plain step's bits). */
static void first_order_step_scaled(Optimizer *o, int elem, void *x, const void *g, double scale)
{
    if (o->spec.kind == OPT_SGD && elem == 4)
        exa_sgd_step_scaled_f32(&o->sgd, x, g, scale);
    else if (o->spec.kind == OPT_SGD)
        exa_sgd_step_scaled_f64(&o->sgd, x, g, scale);
    else if (elem == 4)
        exa_adam_step_scaled_f32(&o->adam, x, g, scale);
    else
        exa_adam_step_scaled_f64(&o->adam, x, g, scale);
}

/* An SGD step on scale * (g0 + g1) (Stepper.sum2). */
static void sgd_step_sum2(Optimizer *o, int elem, void *x, const void *const g[2], double scale)
{
    if (elem == 4)
        exa_sgd_step_sum2_scaled_f32(&o->sgd, x, g[0], g[1], scale);
    else
        exa_sgd_step_sum2_scaled_f64(&o->sgd, x, g[0], g[1], scale);
}

static void first_order_step(Optimizer *o, int elem, void *x, const void *g)
{
    first_order_step_scaled(o, elem, x, g, 1);
}

void solver_run(Optimizer *o, Objective *obj, double *x, double *fx, double *g)
{
    for (int k = 0; k < o->spec.steps; k++) {
        if (o->spec.kind == OPT_SGD || o->spec.kind == OPT_ADAM)
            first_order_begin(o, obj->r, g, 8);
        switch (o->spec.kind) {
        case OPT_SGD: exa_sgd_step_f64(&o->sgd, x, g); break;
        case OPT_ADAM: exa_adam_step_f64(&o->adam, x, g); break;
        case OPT_LBFGS:
            if (exa_lbfgs_step(&o->lbfgs, solver_objective, obj, x, fx, g) != 0)
                return; /* converged, or no descent even along -g */
            continue;
        case OPT_TR: exa_trust_step(&o->trust, solver_objective, obj, x, fx, g); continue;
        default: return;
        }
        *fx = solver_objective(obj, x, g); /* first-order steps: the value after the step */
    }
}

/* The same SGD or Adam steps with everything on the device (exa/gpu_train.h,
 * "resident"): the constants of each update computed here, as the host
 * steps compute them (exa_adam_constants), the arithmetic in the kernels. */
static double device_first_order(Optimizer *o, Objective *obj)
{
    ExaRun *r = obj->r;
    ExaMethod *m = obj->ctx;
    const ExaComm *comm = &m->comm;
    double loss = 0;
    for (int k = 0; k < o->spec.steps; k++) {
        exa_gpu_run_grad(r->gpu, m->red, obj->begin, obj->count);
        double c[8];
        double lr = o->base_lr * r->lr_scale;
        if (o->spec.kind == OPT_SGD) {
            ExaSgd *sg = &o->sgd;
            sg->cfg.lr = lr;
            double v[6] = { lr, sg->cfg.momentum, sg->cfg.dampening, sg->cfg.weight_decay, sg->cfg.nesterov,
                            sg->steps == 0 };
            memcpy(c, v, sizeof v);
            sg->steps++;
            exa_gpu_run_update(r->gpu, EXA_GPU_SGD, c, 6, sg->buf, NULL);
        } else {
            o->adam.cfg.lr = lr;
            exa_adam_constants(&o->adam, c);
            exa_gpu_run_update(r->gpu, EXA_GPU_ADAM, c, 7, o->adam.m, o->adam.v);
        }
        double f = exa_gpu_run_finish(r->gpu, comm, obj->count);
        if (k == 0)
            loss = f;
    }
    return loss;
}

/* The SGD step may be taken in the weight gradients' GEMMs (ExaArgs.sgd,
 * exa/abi.h): a step linear in one gradient of r->theta, the batch's whole
 * loss on this rank (a method of one rank: no sum over ranks comes between
 * the gradient and the step), on the CPU.  Not with momentum, weight decay
 * (+0 is none, optim.c no_decay), clipping (which needs the whole
 * gradient's norm first), batch statistics (their slots carry them), or a
 * shifted or masked objective.  Then an Optimizer of the whole vector, its
 * done[] for each parameter: the ranges are the parameters'. */
static ExaSgdFused *sgd_in_gemms(Optimizer *o, const Objective *obj)
{
    ExaRun *r = obj->r;
    if (!r->sgd_fuse || o->spec.kind != OPT_SGD || o->sgd.buf || o->sgd.cfg.weight_decay != 0
        || signbit(o->sgd.cfg.weight_decay) || r->clip > 0 || r->gpu || r->stat_reals > 0
        || obj->loss != solver_split_loss_fn || obj->mode != EXA_SHARD_SPLIT || obj->shift || obj->mask
        || ((const ExaMethod *)obj->ctx)->comm.size != 1 || o->sgd.n != r->n)
        return NULL;
    if (!o->fused_done) {
        o->fused_done = calloc((size_t)r->prog->nparams + 1, sizeof *o->fused_done);
        if (!o->fused_done)
            return NULL;
    }
    o->fused = (ExaSgdFused){ .alpha = -o->sgd.cfg.lr, .theta = r->theta, .cap = r->prog->nparams + 1,
                              .done = o->fused_done };
    return &o->fused;
}

double solver_global_step(Optimizer *o, Objective *obj, double *x, double *g)
{
    ExaRun *r = obj->r;
    /* data parallelism's steps stay on the device; other methods' losses
     * run there through host copies (exa_run_call), and so do programs with
     * batch statistics, whose running values the host keeps out of the
     * optimiser's reach (run_model.c, take_stats) */
    if ((o->spec.kind == OPT_SGD || o->spec.kind == OPT_ADAM) && r->gpu && r->stat_reals == 0
        && obj->loss == solver_split_loss_fn
        && ((ExaMethod *)obj->ctx)->ops == &exa_method_data && ((ExaMethod *)obj->ctx)->red
        && obj->mode == EXA_SHARD_SPLIT && !obj->shift && !obj->mask)
        return device_first_order(o, obj);
    if (o->spec.kind == OPT_SGD || o->spec.kind == OPT_ADAM) {
        double loss = 0;
        for (int k = 0; k < o->spec.steps; k++) {
            first_order_lr(o, r); /* the step's rate, before loss_grad may take the step */
            ExaSgdFused *fused = r->sgd_fused = sgd_in_gemms(o, obj);
            double f = obj->loss(obj->ctx, r->theta, r->grad, obj->begin, obj->count, obj->mode);
            r->sgd_fused = NULL;
            if (k == 0)
                loss = f;
            first_order_begin(o, r, r->grad, r->elem);
            if (fused && fused->n > fused->cap)
                exa_comm_abort(&r->world, "loss_grad stepped more weights in its GEMMs than the program has");
            if (fused && fused->n > 0)
                exa_sgd_step_except(&o->sgd, r->elem, r->theta, r->grad, fused->done, fused->n);
            else
                first_order_step(o, r->elem, r->theta, r->grad);
        }
        return loss;
    }
    solver_to_double(r, r->theta, x);
    double f = solver_objective(obj, x, g), start = f;
    solver_run(o, obj, x, &f, g);
    solver_from_double(r, x, r->theta);
    return start;
}

/* ---- the train block's optimiser on a method's loss -------------------------- */

int stepper_init(Stepper *st, const ExaRun *r, const char *name, char *err, size_t errlen)
{
    return stepper_init_part(st, r, name, NULL, err, errlen);
}

int stepper_init_part(Stepper *st, const ExaRun *r, const char *name, const ExaParamPart *part, char *err,
                      size_t errlen)
{
    memset(st, 0, sizeof *st);
    OptSpec spec = solver_spec(NULL, r->prog->optimizer);
    if (part && !part_optimiser_fits(r->prog)) {
        snprintf(err, errlen, "exa: decompose = %s: the optimiser %s does not step on owned rows", name,
                 r->prog->optimizer->name);
        return -1;
    }
    if (part) { /* the first-order step's copies of the part (part_step) */
        st->part = part;
        st->xl = solver_alloc(part->n, (size_t)r->elem), st->gl = solver_alloc(part->n, (size_t)r->elem);
    } else {
        st->x = solver_alloc(r->n, sizeof(double)), st->g = solver_alloc(r->n, sizeof(double));
        st->stage_theta = solver_alloc(r->n, (size_t)r->elem);
        st->stage_grad = solver_alloc(r->n, (size_t)r->elem);
    }
    if (spec.kind == OPT_NONE || solver_init_n(r, &spec, &st->opt, r->elem == 8, part ? part->n : r->n) != 0) {
        snprintf(err, errlen, "exa: decompose = %s: the optimiser %s cannot run", name, r->prog->optimizer->name);
        return -1;
    }
    return 0;
}

/* stepper_step on a part: solver_global_step's first-order steps on the
 * packed part (elementwise, so each coordinate is updated exactly as on the
 * whole vector), the clipping norm the whole gradient's.  A part of one
 * piece is stepped where it lies in the parameters (no copies); the
 * gradient is the loss's times the factor it left in grad_scale; with
 * gather_each every rank's part is gathered after each step. */
static double part_step(Stepper *st, ExaRun *r, LossFn loss, void *ctx, int64_t begin, int64_t count)
{
    Optimizer *o = &st->opt;
    const ExaParamPart *p = st->part;
    double first = 0;
    for (int k = 0; k < o->spec.steps; k++) {
        st->grad_scale = 1;
        st->sum2[0] = st->sum2[1] = NULL;
        double f = loss(ctx, r->theta, st->gl, begin, count, EXA_SHARD_SPLIT);
        if (k == 0)
            first = f;
        first_order_lr(o, r);
        double scale = st->grad_scale;
        if (r->clip > 0 && scale != 1) { /* the norm is the gradient's own: scaled first */
            for (int64_t i = 0; i < p->n; i++)
                exa_set(r, st->gl, i, scale * exa_get(r, st->gl, i));
            scale = 1;
        }
        if (r->clip > 0)
            exa_clip_grad_scale(st->gl, p->n, r->elem, sqrt(part_norm2(p, r->elem, st->gl)), r->clip);
        if (st->sum2[0] && o->spec.kind == OPT_SGD && !(r->clip > 0) && p->nseg == 1) {
            sgd_step_sum2(o, r->elem, (char *)r->theta + p->seg_at[0] * r->elem, st->sum2, scale);
        } else if (st->sum2[0]) {
            exa_comm_abort(&r->world, "the loss left two gradient parts for a step that cannot add them");
        } else if (p->nseg == 1) {
            first_order_step_scaled(o, r->elem, (char *)r->theta + p->seg_at[0] * r->elem, st->gl, scale);
        } else {
            part_pack(p, r->elem, r->theta, st->xl);
            first_order_step_scaled(o, r->elem, st->xl, st->gl, scale);
            part_unpack(p, r->elem, st->xl, r->theta);
        }
        if (st->gather_each && st->publish)
            st->publish(st->publish_ctx);
        else if (st->gather_each)
            part_gather(p, r->elem, r->theta, 1);
    }
    return first;
}

double stepper_step(Stepper *st, ExaRun *r, LossFn loss, void *ctx, int64_t begin, int64_t count)
{
    if (st->part)
        return part_step(st, r, loss, ctx, begin, count);
    Objective obj = { .r = r, .loss = loss, .ctx = ctx, .begin = begin, .count = count,
                      .mode = EXA_SHARD_SPLIT, .stage_theta = st->stage_theta, .stage_grad = st->stage_grad };
    return solver_global_step(&st->opt, &obj, st->x, st->g);
}

/* With a part: the optimiser's state arrays of this rank's part (SGD's
 * momentum, Adam's moments; *n of them), and their whole copies, allocated
 * now if they were not. */
static void part_state(Stepper *st, const ExaRun *r, void **local, void ***full, int *n)
{
    Optimizer *o = &st->opt;
    *n = 0;
    if (o->spec.kind == OPT_SGD && o->sgd.buf)
        local[(*n)++] = o->sgd.buf;
    else if (o->spec.kind == OPT_ADAM)
        local[(*n)++] = o->adam.m, local[(*n)++] = o->adam.v;
    for (int i = 0; i < *n; i++)
        if (!st->full[i])
            st->full[i] = solver_alloc(r->n, (size_t)r->elem);
    *full = st->full;
}

void stepper_gather(Stepper *st, ExaRun *r)
{
    if (!st->part)
        return;
    if (!st->gather_each) /* else whole since the last step */
        part_gather(st->part, r->elem, r->theta, 1);
    void *local[2], **full;
    int n;
    part_state(st, r, local, &full, &n);
    for (int i = 0; i < n; i++) {
        part_unpack(st->part, r->elem, local[i], full[i]);
        part_gather(st->part, r->elem, full[i], 0);
    }
}

/* A checkpoint holds the state whole (gathered before it is written) under
 * solver_save's names and sizes: it is the same whatever the grid, and
 * resumes on any grid, on one rank, or under data(). */
void stepper_save(ExaMethod *m, ExaStateList *l)
{
    Stepper *st = &((SteppedMethod *)m)->global;
    if (!st->part) {
        solver_save(&st->opt, m->r, "global", l);
        return;
    }
    void *local[2], **full;
    int n;
    part_state(st, m->r, local, &full, &n);
    int64_t bytes = m->r->n * m->r->elem;
    if (st->opt.spec.kind == OPT_SGD) {
        exa_state_add(l, "global.sgd", "steps", &st->opt.sgd.steps, 8);
        if (n > 0)
            exa_state_add(l, "global.sgd", "momentum", full[0], bytes);
    } else {
        exa_state_add(l, "global.adam", "t", &st->opt.adam.t, 8);
        exa_state_add(l, "global.adam", "m", full[0], bytes);
        exa_state_add(l, "global.adam", "v", full[1], bytes);
    }
}

/* After a resume filled the whole arrays: this rank's part of them. */
void stepper_load(ExaMethod *m)
{
    Stepper *st = &((SteppedMethod *)m)->global;
    if (!st->part) {
        solver_load(&st->opt);
        return;
    }
    void *local[2], **full;
    int n;
    part_state(st, m->r, local, &full, &n);
    for (int i = 0; i < n; i++)
        part_pack(st->part, m->r->elem, full[i], local[i]);
}

void stepper_free(Stepper *st)
{
    solver_free(&st->opt);
    free(st->x), free(st->g), free(st->stage_theta), free(st->stage_grad);
    free(st->xl), free(st->gl), free(st->full[0]), free(st->full[1]);
}

/* The method's loss op as a LossFn (ctx the method; the shard mode is the
 * method's own business), and its part_loss op likewise. */
static double method_loss_fn(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count, ExaShard mode)
{
    (void)mode;
    ExaMethod *m = ctx;
    return m->ops->loss(m, theta, grad, begin, count);
}

static double method_part_loss_fn(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count,
                                  ExaShard mode)
{
    (void)mode;
    ExaMethod *m = ctx;
    return m->ops->part_loss(m, theta, grad, begin, count);
}

double stepper_method_step(ExaMethod *m, int64_t begin, int64_t count)
{
    Stepper *st = &((SteppedMethod *)m)->global;
    return stepper_step(st, m->r, st->part ? method_part_loss_fn : method_loss_fn, m, begin, count);
}

void stepper_method_gather(ExaMethod *m)
{
    stepper_gather(&((SteppedMethod *)m)->global, m->r);
}

ExaReducer *solver_reducer(ExaRun *r, const ExaComm *comm)
{
    return exa_reducer_open(r->gpu ? exa_gpu_run_device(r->gpu) : NULL, comm);
}

double solver_split_loss_fn(void *ctx, const void *theta, void *grad, int64_t begin, int64_t count,
                            ExaShard mode)
{
    ExaMethod *m = ctx;
    return exa_run_loss_reduced(m->r, &m->comm, m->red, theta, grad, begin, count, mode);
}

double solver_split_loss(ExaMethod *m, const void *theta, void *grad, int64_t begin, int64_t count)
{
    return solver_split_loss_fn(m, theta, grad, begin, count, EXA_SHARD_SPLIT);
}
