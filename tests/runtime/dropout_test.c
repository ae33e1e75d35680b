/* dropout_test.c - the dropout masks the runtime feeds the generated code:
 * the kept fraction is 1 - p within 4 standard deviations and a kept
 * element is 1/(1-p); a sample's mask is the same whichever batch (so
 * whichever rank) computes it, new at the next optimiser step and under
 * another seed; at evaluation every mask is 1. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "exa/run.h"

enum { N = 2000 };

static ExaDropoutSite sites[2] = { { 0, 64, 0.3 }, { 64, 36, 0.5 } };
static ExaProgram prog = { .ndropout = 2, .dropout = sites, .dropout_size = 100 };

int main(void)
{
    ExaRun r = { .prog = &prog, .elem = 8, .seed = 7, .step = 3 };
    int64_t *ids = malloc(N * sizeof *ids);
    double *m = malloc((size_t)N * 100 * sizeof *m), *again = malloc(100 * sizeof *again);
    for (int64_t i = 0; i < N; i++)
        ids[i] = 5 * i + 1;
    exa_run_dropout_masks(&r, ids, N, 1, m);
    for (int s = 0; s < 2; s++) {
        double p = sites[s].p, keep = 1 / (1 - p);
        int64_t kept = 0, bad = 0, n = (int64_t)N * sites[s].size;
        for (int64_t i = 0; i < N; i++)
            for (int64_t k = 0; k < sites[s].size; k++) {
                double v = m[i * 100 + sites[s].offset + k];
                kept += v != 0;
                bad += v != 0 && v != keep;
            }
        double frac = (double)kept / (double)n, sigma = sqrt(p * (1 - p) / (double)n);
        printf("site %d: p %.2f kept %.4f (expected %.4f, sigma %.4f)\n", s, p, frac, 1 - p, sigma);
        CHECK(fabs(frac - (1 - p)) < 4 * sigma);
        CHECK(bad == 0);
    }
    /* sample ids[7] alone (another batch, another rank): the same mask */
    exa_run_dropout_masks(&r, ids + 7, 1, 1, again);
    CHECK(memcmp(again, m + 7 * 100, 100 * sizeof *again) == 0);
    /* the next step, or another seed: another mask */
    r.step = 4;
    exa_run_dropout_masks(&r, ids + 7, 1, 1, again);
    CHECK(memcmp(again, m + 7 * 100, 100 * sizeof *again) != 0);
    r.step = 3, r.seed = 8;
    exa_run_dropout_masks(&r, ids + 7, 1, 1, again);
    CHECK(memcmp(again, m + 7 * 100, 100 * sizeof *again) != 0);
    /* evaluation: all 1, in f32 too */
    float *f = malloc(100 * sizeof *f);
    r.elem = 4;
    exa_run_dropout_masks(&r, ids, 1, 0, f);
    int ones = 1;
    for (int k = 0; k < 100; k++)
        ones &= f[k] == 1;
    CHECK(ones);
    free(f), free(ids), free(m), free(again);
    CHECK_DONE();
}
