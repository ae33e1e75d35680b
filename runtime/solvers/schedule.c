/* schedule.c - learning-rate schedules and clipping by the global gradient
 * norm (schedule.h). */
#include "exa/schedule.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int exa_schedule_parse(const ExaCall *c, ExaSchedule *s, char *err, int errlen)
{
    memset(s, 0, sizeof *s);
    s->kind = EXA_SCHED_CONSTANT;
    if (!c)
        return 0;
    if (!strcmp(c->name, "warmup")) {
        s->kind = EXA_SCHED_WARMUP;
        s->warmup = (int64_t)exa_call_num(c, "steps", 0);
    } else if (!strcmp(c->name, "step_decay")) {
        s->kind = EXA_SCHED_STEP;
        s->every = (int64_t)exa_call_num(c, "every", 1);
        s->gamma = exa_call_num(c, "gamma", 0.1);
        s->warmup = (int64_t)exa_call_num(c, "warmup", 0);
    } else if (!strcmp(c->name, "cosine")) {
        s->kind = EXA_SCHED_COSINE;
        s->min_factor = exa_call_num(c, "min_factor", 0);
        s->warmup = (int64_t)exa_call_num(c, "warmup", 0);
    } else {
        snprintf(err, (size_t)errlen, "exa: rank 0: schedule: this libexa has no schedule '%s'", c->name);
        return -1;
    }
    if (s->every < 1)
        s->every = 1;
    return 0;
}

double exa_schedule_factor(const ExaSchedule *s, int64_t step, int64_t total,
                           int64_t steps_per_epoch)
{
    if (s->kind == EXA_SCHED_CONSTANT)
        return 1;
    if (step < s->warmup)
        return (double)(step + 1) / (double)s->warmup;
    switch (s->kind) {
    case EXA_SCHED_STEP: {
        int64_t spe = steps_per_epoch > 0 ? steps_per_epoch : 1;
        int64_t period = s->every > INT64_MAX / spe ? INT64_MAX : s->every * spe; /* no overflow */
        return pow(s->gamma, (double)(step / period));
    }
    case EXA_SCHED_COSINE: {
        int64_t span = total - s->warmup;
        double p = span > 0 ? (double)(step - s->warmup) / (double)span : 1;
        if (p > 1)
            p = 1;
        double m = s->min_factor;
        return m + (1 - m) * 0.5 * (1 + cos(3.14159265358979323846 * p));
    }
    default:
        return 1;
    }
}

void exa_clip_grad_scale(void *g, int64_t n, int elem, double norm, double max_norm)
{
    if (!(max_norm > 0 && norm > max_norm))
        return;
    /* PyTorch's factor: max_norm / (norm + 1e-6) */
    double k = max_norm / (norm + 1e-6);
    if (elem == 8) {
        double *d = g;
        for (int64_t i = 0; i < n; i++)
            d[i] *= k;
    } else {
        float *f = g;
        for (int64_t i = 0; i < n; i++)
            f[i] = (float)(f[i] * k);
    }
}

double exa_clip_grad_norm(void *g, int64_t n, int elem, double max_norm)
{
    double sq = 0;
    if (elem == 8) {
        const double *d = g;
        for (int64_t i = 0; i < n; i++)
            sq += d[i] * d[i];
    } else {
        const float *f = g;
        for (int64_t i = 0; i < n; i++)
            sq += (double)f[i] * f[i];
    }
    double norm = sqrt(sq);
    exa_clip_grad_scale(g, n, elem, norm, max_norm);
    return norm;
}
