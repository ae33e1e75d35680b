/* schedule_test.c - the learning-rate schedules' factors at given steps
 * (warm-up, step decay, cosine, hand-computed) and clipping by the global
 * gradient norm (the bound holds after, nothing changes below it). */
#include <math.h>

#include "check.h"
#include "exa/schedule.h"

static ExaCall call1(const char *name, int n, char **keys, ExaValue *vals)
{
    return (ExaCall){ .name = (char *)name, .nargs = n, .keys = keys, .values = vals };
}

static void schedules(void)
{
    char err[256];
    ExaSchedule s;
    CHECK(exa_schedule_parse(NULL, &s, err, sizeof err) == 0 && s.kind == EXA_SCHED_CONSTANT);
    CHECK(exa_schedule_factor(&s, 1234, 2000, 10) == 1);

    /* warmup(steps: 4): (s + 1) / 4 up to step 3, then 1 */
    char *wk[] = { "steps" };
    ExaValue wv[] = { { .kind = EXA_NUM, .num = 4 } };
    ExaCall w = call1("warmup", 1, wk, wv);
    CHECK(exa_schedule_parse(&w, &s, err, sizeof err) == 0 && s.kind == EXA_SCHED_WARMUP);
    const double want_w[6] = { 0.25, 0.5, 0.75, 1, 1, 1 };
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(exa_schedule_factor(&s, i, 100, 10), want_w[i], 0);

    /* step_decay(every: 2, gamma: 0.5, warmup: 5) at 10 steps an epoch */
    char *sk[] = { "every", "gamma", "warmup" };
    ExaValue sv[] = { { .kind = EXA_NUM, .num = 2 }, { .kind = EXA_NUM, .num = 0.5 }, { .kind = EXA_NUM, .num = 5 } };
    ExaCall st = call1("step_decay", 3, sk, sv);
    CHECK(exa_schedule_parse(&st, &s, err, sizeof err) == 0 && s.kind == EXA_SCHED_STEP);
    const int64_t at[7] = { 0, 4, 5, 19, 20, 39, 40 };
    const double want_s[7] = { 0.2, 1, 1, 1, 0.5, 0.5, 0.25 };
    for (int i = 0; i < 7; i++)
        CHECK_NEAR(exa_schedule_factor(&s, at[i], 100, 10), want_s[i], 1e-16);

    /* cosine(min_factor: 0.1, warmup: 10) over 110 steps: 1 after the
     * warm-up, 0.55 half-way (step 60), 0.1 + 0.45 (1 + cos(pi/4)) a quarter
     * of the way (step 35), 0.1 at the end and beyond */
    char *ck[] = { "min_factor", "warmup" };
    ExaValue cv[] = { { .kind = EXA_NUM, .num = 0.1 }, { .kind = EXA_NUM, .num = 10 } };
    ExaCall c = call1("cosine", 2, ck, cv);
    CHECK(exa_schedule_parse(&c, &s, err, sizeof err) == 0 && s.kind == EXA_SCHED_COSINE);
    CHECK_NEAR(exa_schedule_factor(&s, 0, 110, 10), 0.1, 1e-16);
    CHECK_NEAR(exa_schedule_factor(&s, 9, 110, 10), 1, 1e-16);
    CHECK_NEAR(exa_schedule_factor(&s, 10, 110, 10), 1, 1e-16);
    CHECK_NEAR(exa_schedule_factor(&s, 35, 110, 10), 0.1 + 0.45 * (1 + sqrt(0.5)), 1e-15);
    CHECK_NEAR(exa_schedule_factor(&s, 60, 110, 10), 0.55, 1e-15);
    CHECK_NEAR(exa_schedule_factor(&s, 110, 110, 10), 0.1, 1e-16);
    CHECK_NEAR(exa_schedule_factor(&s, 150, 110, 10), 0.1, 1e-16);

    ExaCall bad = call1("exponential", 0, NULL, NULL);
    CHECK(exa_schedule_parse(&bad, &s, err, sizeof err) == -1 && strstr(err, "exponential"));
}

static void clipping(void)
{
    double g[2] = { 3, 4 };
    CHECK_NEAR(exa_clip_grad_norm(g, 2, 8, 1), 5, 0);
    double after = sqrt(g[0] * g[0] + g[1] * g[1]);
    CHECK(after <= 1 && after > 1 - 1e-6);
    CHECK_NEAR(g[0] / g[1], 0.75, 1e-15); /* the direction is kept */
    double small[2] = { 0.3, 0.4 };
    CHECK_NEAR(exa_clip_grad_norm(small, 2, 8, 1), 0.5, 1e-16);
    CHECK(small[0] == 0.3 && small[1] == 0.4);
    float f[3] = { 2, -2, 1 };
    CHECK_NEAR(exa_clip_grad_norm(f, 3, 4, 0.5), 3, 0);
    double fn = sqrt((double)f[0] * f[0] + (double)f[1] * f[1] + (double)f[2] * f[2]);
    CHECK(fn <= 0.5 + 1e-7 && fn > 0.5 - 1e-6);
}

int main(void)
{
    schedules();
    clipping();
    CHECK_DONE();
}
