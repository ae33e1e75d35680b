/* gradcheck.c - ./train --gradcheck: the generated gradient against central
 * differences of the generated loss, in double precision.
 *
 * Checks the whole pipeline on the user's own program (lowering, autodiff,
 * fusion, code generation, kernels) rather than the IR alone.  The loss is
 * the mean over the first few samples of the first epoch's order; up to 64
 * weights spread over every parameter tensor are perturbed by h = 1e-6:
 *     max |analytic - numeric| / max(max |numeric|, 1e-8)  <  1e-6.
 * The initial parameters are first moved by a small random amount: biases
 * start at zero and images have zero pixels, so relu's pre-activations would
 * sit exactly on its kink, where a central difference is not a derivative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "exa/rng.h"
#include "exa/run.h"

int exa_gradcheck(ExaRun *r)
{
    if (r->elem != 8) {
        if (r->world.rank == 0)
            fputs("exa: --gradcheck: compile the program with --precision=f64\n", stderr);
        return 2;
    }
    enum { SAMPLES = 8, PER_TENSOR = 8 };
    const double h = 1e-6, tolerance = 1e-6;
    int64_t count = r->train.n < SAMPLES ? r->train.n : SAMPLES;
    exa_data_epoch_order(r->order, r->train.n, (uint64_t)r->seed, 0);
    double *theta = r->theta, *grad = r->grad;
    ExaRng rng;
    exa_rng_seed(&rng, 12345);
    for (int64_t i = 0; i < r->n; i++)
        theta[i] += 0.05 * exa_rng_normal(&rng);
    exa_run_loss(r, theta, grad, 0, count, EXA_SHARD_ALL);
    double *analytic = malloc((size_t)(r->n > 0 ? r->n : 1) * sizeof *analytic);
    for (int64_t i = 0; i < r->n; i++)
        analytic[i] = grad[i];
    double worst = 0, scale = 1e-8;
    int64_t checked = 0;
    double *numeric = calloc((size_t)(r->n > 0 ? r->n : 1), sizeof *numeric);
    char *picked = calloc((size_t)(r->n > 0 ? r->n : 1), 1);
    for (int p = 0; p < r->prog->nparams; p++) {
        const ExaParamInfo *q = &r->prog->params[p];
        int64_t step = q->size > PER_TENSOR ? q->size / PER_TENSOR : 1;
        for (int64_t k = 0; k < q->size; k += step) {
            int64_t i = q->offset + k;
            double keep = theta[i];
            theta[i] = keep + h;
            double up = exa_run_loss(r, theta, NULL, 0, count, EXA_SHARD_ALL);
            theta[i] = keep - h;
            double down = exa_run_loss(r, theta, NULL, 0, count, EXA_SHARD_ALL);
            theta[i] = keep;
            numeric[i] = (up - down) / (2 * h);
            picked[i] = 1;
            scale = fmax(scale, fabs(numeric[i]));
            checked++;
        }
    }
    for (int64_t i = 0; i < r->n; i++)
        if (picked[i])
            worst = fmax(worst, fabs(analytic[i] - numeric[i]));
    worst /= scale;
    if (r->world.rank == 0)
        printf("gradcheck: %lld weights of %lld, %lld samples: max relative error %.3e (%s)\n",
               (long long)checked, (long long)r->n, (long long)count, worst,
               worst < tolerance ? "ok" : "FAILED");
    free(analytic);
    free(numeric);
    free(picked);
    return worst < tolerance ? 0 : 1;
}
