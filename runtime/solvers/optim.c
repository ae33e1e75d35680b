/* optim.c - first-order optimisers (SGD with momentum, Adam) in f64 and f32,
 * and the adapter that lets float objectives drive the double optimisers.
 *
 * How one implementation serves both precisions: the update of one
 * coordinate is a static inline function on doubles (sgd_one, adam_one);
 * exa_*_step_f64 and exa_*_step_f32 are two short loops that load x, g and
 * the state as double, call it, and store the results in their own type.
 * The compiler inlines the kernel into each loop, so there is one place that
 * defines the arithmetic and no macro-generated code; in f32 each update is
 * computed in double and rounded once, so it is never less accurate than a
 * float-only version (and matches PyTorch's float results to rounding). */
#include "exa/optim.h"
#include "exa/parallel.h"
#include "exa/vec_clones.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- SGD ---- */

int exa_sgd_init(ExaSgd *s, ExaSgdConfig cfg, int64_t n, int f64)
{
    s->cfg = cfg;
    s->n = n;
    s->steps = 0;
    s->f64 = f64;
    s->buf = NULL;
    if (cfg.momentum != 0) {
        s->buf = calloc((size_t)n, f64 ? sizeof(double) : sizeof(float));
        if (!s->buf)
            return -1;
    }
    return 0;
}

void exa_sgd_free(ExaSgd *s)
{
    free(s->buf);
    s->buf = NULL;
}

/* One coordinate: returns the new x, updates the momentum buffer *b. */
static inline double sgd_one(const ExaSgdConfig *c, int first, double x, double g, double *b)
{
    g += c->weight_decay * x;
    if (c->momentum == 0)
        return x - c->lr * g;
    *b = first ? g : c->momentum * *b + (1 - c->dampening) * g;
    double d = c->nesterov ? g + c->momentum * *b : *b;
    return x - c->lr * d;
}

/* The steps' loops run in the widest vectors the CPU has (vec_clones.h):
 * at the baseline's SSE2 the f32 step's conversions to double and back made
 * the SGD step of the 784-128-10 MLP ~5% of a rank's step at 2 ranks. */

/* Without momentum the update is written out (sgd_one's arithmetic, in the
 * same order) so that the loop vectorises: through sgd_one's tests it did
 * not, and the step was 14% of a small MLP's training time. */
/* A step's loops run over ranges of coordinates split over --threads
 * (exa_parallel_range): every coordinate is updated alike whatever the split. */
typedef struct StepJob {
    const ExaSgdConfig *sgd;
    const void *adam; /* const AdamStep * */
    int first;
    double gs; /* the gradient's factor (exa_sgd_step_scaled_*): 1 is exact, g * 1 == g */
    void *x, *buf, *m, *v;
    const void *g, *g1; /* the gradient, or with g1 (SGD) the sum of the two, added in their type */
} StepJob;

/* Whether the weight decay's term may be left out of the momentum-free
 * update: a decay of +0 adds wd * x = +-0 to the gradient's term t, which
 * changes t only where t is -0 (to +0, for x >= +0), and x - lr * (+-0) is
 * then x either way (+0 - +0 and +0 - -0 are both +0): the same bits for
 * every finite x (an infinite x, which 0 * x makes NaN, stays infinite).
 * A decay of -0 would turn -0 - lr * -0 into -0 instead of +0: kept.  In
 * f32 the term was a conversion, a multiply and an add in double of the
 * ~1 cycle per coordinate the step's double arithmetic costs: the
 * 784-128-10 MLP's step, best of 3000 with its vectors in cache, 30.1 ->
 * 25.0 us over all 101770 coordinates (1 rank), 15.6 -> 12.9 us adding the
 * two parts of a half (2 ranks, sum2). */
static int no_decay(const ExaSgdConfig *c)
{
    return c->weight_decay == 0 && !signbit(c->weight_decay);
}

EXA_VEC_CLONES static void sgd_range_f64(const void *ctx, int64_t lo, int64_t n)
{
    const StepJob *j = ctx;
    const ExaSgdConfig cfg = *j->sgd;
    double *restrict x = (double *)j->x + lo, *restrict buf = j->buf ? (double *)j->buf + lo : NULL;
    const double *restrict g = (const double *)j->g + lo, *restrict g1 = j->g1 ? (const double *)j->g1 + lo : NULL;
    const double gs = j->gs;
    if (!buf && no_decay(&cfg)) { /* the weight decay's term dropped: no_decay */
        if (g1)
            for (int64_t i = 0; i < n; i++)
                x[i] = x[i] - cfg.lr * (gs * (g[i] + g1[i]));
        else
            for (int64_t i = 0; i < n; i++)
                x[i] = x[i] - cfg.lr * (gs * g[i]);
    } else if (!buf && g1)
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] - cfg.lr * (gs * (g[i] + g1[i]) + cfg.weight_decay * x[i]);
    else if (!buf) /* no momentum: sgd_one's arithmetic, written out to vectorise */
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] - cfg.lr * (gs * g[i] + cfg.weight_decay * x[i]);
    else if (g1)
        for (int64_t i = 0; i < n; i++)
            x[i] = sgd_one(&cfg, j->first, x[i], gs * (g[i] + g1[i]), &buf[i]);
    else
        for (int64_t i = 0; i < n; i++)
            x[i] = sgd_one(&cfg, j->first, x[i], gs * g[i], &buf[i]);
}

EXA_VEC_CLONES static void sgd_range_f32(const void *ctx, int64_t lo, int64_t n)
{
    const StepJob *j = ctx;
    const ExaSgdConfig cfg = *j->sgd;
    float *restrict x = (float *)j->x + lo, *restrict buf = j->buf ? (float *)j->buf + lo : NULL;
    const float *restrict g = (const float *)j->g + lo, *restrict g1 = j->g1 ? (const float *)j->g1 + lo : NULL;
    const double gs = j->gs;
    if (!buf && no_decay(&cfg)) { /* the weight decay's term dropped: no_decay */
        if (g1)
            for (int64_t i = 0; i < n; i++) {
                float gi = g[i] + g1[i];
                x[i] = (float)(x[i] - cfg.lr * (gs * gi));
            }
        else
            for (int64_t i = 0; i < n; i++)
                x[i] = (float)(x[i] - cfg.lr * (gs * g[i]));
    } else if (!buf && g1) {
        for (int64_t i = 0; i < n; i++) {
            float gi = g[i] + g1[i];
            x[i] = (float)(x[i] - cfg.lr * (gs * gi + cfg.weight_decay * (double)x[i]));
        }
    } else if (!buf) {
        for (int64_t i = 0; i < n; i++)
            x[i] = (float)(x[i] - cfg.lr * (gs * g[i] + cfg.weight_decay * (double)x[i]));
    } else if (g1) {
        for (int64_t i = 0; i < n; i++) {
            double b = buf[i];
            float gi = g[i] + g1[i];
            x[i] = (float)sgd_one(&cfg, j->first, x[i], gs * gi, &b);
            buf[i] = (float)b;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            double b = buf[i];
            x[i] = (float)sgd_one(&cfg, j->first, x[i], gs * g[i], &b);
            buf[i] = (float)b;
        }
    }
}

void exa_sgd_step_scaled_f64(ExaSgd *s, double *restrict x, const double *restrict g, double scale)
{
    StepJob j = { .sgd = &s->cfg, .first = s->steps == 0, .x = x, .g = g, .buf = s->buf, .gs = scale };
    exa_parallel_range(s->n, s->buf ? 6 : 3, sgd_range_f64, &j);
    s->steps++;
}

void exa_sgd_step_scaled_f32(ExaSgd *s, float *restrict x, const float *restrict g, double scale)
{
    StepJob j = { .sgd = &s->cfg, .first = s->steps == 0, .x = x, .g = g, .buf = s->buf, .gs = scale };
    exa_parallel_range(s->n, s->buf ? 6 : 3, sgd_range_f32, &j);
    s->steps++;
}

void exa_sgd_step_sum2_scaled_f64(ExaSgd *s, double *restrict x, const double *restrict g0,
                                  const double *restrict g1, double scale)
{
    StepJob j = { .sgd = &s->cfg, .first = s->steps == 0, .x = x, .g = g0, .g1 = g1, .buf = s->buf, .gs = scale };
    exa_parallel_range(s->n, s->buf ? 7 : 4, sgd_range_f64, &j);
    s->steps++;
}

void exa_sgd_step_sum2_scaled_f32(ExaSgd *s, float *restrict x, const float *restrict g0,
                                  const float *restrict g1, double scale)
{
    StepJob j = { .sgd = &s->cfg, .first = s->steps == 0, .x = x, .g = g0, .g1 = g1, .buf = s->buf, .gs = scale };
    exa_parallel_range(s->n, s->buf ? 7 : 4, sgd_range_f32, &j);
    s->steps++;
}

void exa_sgd_step_f64(ExaSgd *s, double *restrict x, const double *restrict g)
{
    exa_sgd_step_scaled_f64(s, x, g, 1);
}

void exa_sgd_step_f32(ExaSgd *s, float *restrict x, const float *restrict g)
{
    exa_sgd_step_scaled_f32(s, x, g, 1);
}

void exa_sgd_step_except(ExaSgd *s, int elem, void *x, const void *g, const int64_t (*skip)[2], int nskip)
{
    if (s->buf)
        abort(); /* the caller's rule (solver.c): momentum is no linear step */
    int64_t at = 0;
    while (at < s->n) {
        /* the first range skipped at or past at: the gap before it is stepped */
        int64_t next = s->n, len = 0;
        for (int i = 0; i < nskip; i++)
            if (skip[i][1] > 0 && skip[i][0] >= at && skip[i][0] < next)
                next = skip[i][0], len = skip[i][1];
        if (next > at) {
            StepJob j = { .sgd = &s->cfg, .first = s->steps == 0, .x = (char *)x + at * elem,
                          .g = (const char *)g + at * elem, .gs = 1 };
            exa_parallel_range(next - at, 3, elem == 4 ? sgd_range_f32 : sgd_range_f64, &j);
        }
        at = next + len; /* past the range; s->n after the last gap */
        if (len == 0)
            break;
    }
    s->steps++;
}

/* ---- Adam ---- */

ExaAdamConfig exa_adam_defaults(void)
{
    return (ExaAdamConfig){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
}

int exa_adam_init(ExaAdam *a, ExaAdamConfig cfg, int64_t n, int f64)
{
    size_t size = f64 ? sizeof(double) : sizeof(float);
    a->cfg = cfg;
    a->n = n;
    a->t = 0;
    a->f64 = f64;
    a->m = calloc((size_t)n ? (size_t)n : 1, size);
    a->v = calloc((size_t)n ? (size_t)n : 1, size);
    if (!a->m || !a->v) {
        exa_adam_free(a);
        return -1;
    }
    return 0;
}

void exa_adam_free(ExaAdam *a)
{
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}

/* What every coordinate of step t shares: the bias corrections. */
typedef struct AdamStep {
    double b1, b2, eps, wd, keep, step_size, inv_sqrt_bc2; /* keep: 1 - lr wd (AdamW) */
} AdamStep;

static AdamStep adam_begin(ExaAdam *a)
{
    a->t++;
    double bc1 = 1 - pow(a->cfg.beta1, (double)a->t);
    double bc2 = 1 - pow(a->cfg.beta2, (double)a->t);
    const ExaAdamConfig *c = &a->cfg;
    return (AdamStep){c->beta1, c->beta2, c->eps, c->decoupled ? 0 : c->weight_decay,
                      c->decoupled ? 1 - c->lr * c->weight_decay : 1, c->lr / bc1, 1 / sqrt(bc2)};
}

void exa_adam_constants(ExaAdam *a, double k[7])
{
    AdamStep s = adam_begin(a);
    double v[7] = { s.keep, s.wd, s.b1, s.b2, s.step_size, s.inv_sqrt_bc2, s.eps };
    memcpy(k, v, sizeof v);
}

/* One coordinate, in PyTorch's order of operations. */
static inline double adam_one(const AdamStep *k, double x, double g, double *m, double *v)
{
    x *= k->keep;
    g += k->wd * x;
    *m = k->b1 * *m + (1 - k->b1) * g;
    *v = k->b2 * *v + (1 - k->b2) * g * g;
    double denom = sqrt(*v) * k->inv_sqrt_bc2 + k->eps;
    return x - k->step_size * *m / denom;
}

EXA_VEC_CLONES static void adam_range_f64(const void *ctx, int64_t lo, int64_t n)
{
    const StepJob *j = ctx;
    const AdamStep k = *(const AdamStep *)j->adam;
    double *x = (double *)j->x + lo, *m = (double *)j->m + lo, *v = (double *)j->v + lo;
    const double *g = (const double *)j->g + lo;
    const double gs = j->gs;
    for (int64_t i = 0; i < n; i++)
        x[i] = adam_one(&k, x[i], gs * g[i], &m[i], &v[i]);
}

EXA_VEC_CLONES static void adam_range_f32(const void *ctx, int64_t lo, int64_t n)
{
    const StepJob *j = ctx;
    const AdamStep k = *(const AdamStep *)j->adam;
    float *x = (float *)j->x + lo, *m = (float *)j->m + lo, *v = (float *)j->v + lo;
    const float *g = (const float *)j->g + lo;
    const double gs = j->gs;
    for (int64_t i = 0; i < n; i++) {
        double mi = m[i], vi = v[i];
        x[i] = (float)adam_one(&k, x[i], gs * g[i], &mi, &vi);
        m[i] = (float)mi;
        v[i] = (float)vi;
    }
}

/* a sqrt and a division per coordinate: about 20 operations */
void exa_adam_step_scaled_f64(ExaAdam *a, double *x, const double *g, double scale)
{
    AdamStep k = adam_begin(a);
    StepJob j = { .adam = &k, .x = x, .g = g, .m = a->m, .v = a->v, .gs = scale };
    exa_parallel_range(a->n, 20, adam_range_f64, &j);
}

void exa_adam_step_scaled_f32(ExaAdam *a, float *x, const float *g, double scale)
{
    AdamStep k = adam_begin(a);
    StepJob j = { .adam = &k, .x = x, .g = g, .m = a->m, .v = a->v, .gs = scale };
    exa_parallel_range(a->n, 20, adam_range_f32, &j);
}

void exa_adam_step_f64(ExaAdam *a, double *x, const double *g)
{
    exa_adam_step_scaled_f64(a, x, g, 1);
}

void exa_adam_step_f32(ExaAdam *a, float *x, const float *g)
{
    exa_adam_step_scaled_f32(a, x, g, 1);
}

/* ---- float objectives ---- */

double exa_f32_objective(void *ctx, const double *x, double *g)
{
    ExaF32Objective *o = ctx;
    for (int64_t i = 0; i < o->n; i++)
        o->x[i] = (float)x[i];
    double fx = o->f(o->ctx, o->x, o->g);
    for (int64_t i = 0; i < o->n; i++)
        g[i] = o->g[i];
    return fx;
}
