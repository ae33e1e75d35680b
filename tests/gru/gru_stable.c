/* gru_stable.c - the stability property of a recurrence's generated MGRIT
 * step (issue 16): for every step size dt, |h+| <= max(|h|, 1) elementwise.
 *
 * Compiles PROGRAM (a .exa with decompose = layers(mgrit(...)) over a `for`
 * loop) the way exac does, takes its exa_stage_step (compiler/ir/lower_recur.c)
 * and runs it in the reference interpreter (ir_eval, f64) on random weights
 * (N(0, 3^2): saturated gates), random states with |h| from 0.01 to 100 and
 * random inputs, at dt = 1, 2, 8, 64, 1e3, 1e6 and 1e12 (the step sizes of
 * MGRIT levels; 1e12 far beyond any).  Prints the worst ratio
 * |h+| / max(|h|, 1) and exits 1 above 1 + 1e-12.  The implicit GRU passes
 * by construction (h+ is a convex combination of h and n, |n| <= 1); an
 * explicit residual step h + dt F does not (gru_explicit.exa, WILL_FAIL).
 *
 * usage: gru_stable STDLIB PROGRAM */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir_eval.h"
#include "loader.h"
#include "lower.h"
#include "sema.h"

static uint64_t rng = 88172645463325252ull;

static double uniform(void) /* xorshift64, [0, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double normal(void)
{
    double u = uniform() + 1e-300, v = uniform();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fputs("usage: gru_stable STDLIB PROGRAM\n", stderr);
        return 2;
    }
    Diag d;
    diag_init(&d, stderr);
    LoaderOptions lo = { .stdlib_dir = argv[1] };
    Program p = { 0 };
    if (loader_load(&p, argv[2], &lo, &d) != 0 || d.errors)
        return 2;
    Sema *s = sema_check(&p, &d);
    Lowered low;
    if (d.errors || lower_program(&p, s, 8, &low, &d) != 0)
        return 2;
    const IrFunc *step = NULL;
    for (int i = 0; i < low.nfuncs; i++)
        if (low.funcs[i].name && !strcmp(low.funcs[i].name, "exa_stage_step"))
            step = &low.funcs[i];
    if (!step) {
        fprintf(stderr, "gru_stable: %s: no stage_step function\n", argv[2]);
        return 2;
    }
    /* the two inputs: h (0) and x_t (1), their sizes from the leaves */
    int64_t size[2] = { 0, 0 };
    for (int v = 0; v < step->n; v++)
        if (step->v[v].op == IR_INPUT && step->v[v].iarg[0] < 2)
            size[step->v[v].iarg[0]] = ir_shape_size(&step->v[v].shape);
    const int64_t B = 256;
    double *theta = malloc((size_t)(low.nweights + 1) * sizeof *theta);
    double *h = malloc((size_t)(B * size[0] + 1) * sizeof *h), *x = malloc((size_t)(B * size[1] + 1) * sizeof *x);
    if (!theta || !h || !x)
        return 2;
    static const double dts[] = { 1, 2, 8, 64, 1e3, 1e6, 1e12 };
    double worst = 0;
    for (int trial = 0; trial < 20; trial++) {
        for (int64_t i = 0; i < low.nweights; i++)
            theta[i] = 3 * normal();
        for (int64_t i = 0; i < B * size[0]; i++)
            h[i] = normal() * pow(10, 4 * uniform() - 2); /* |h| from 0.01 to 100 */
        for (int64_t i = 0; i < B * size[1]; i++)
            x[i] = 3 * normal();
        const double *in[2] = { h, x };
        for (size_t k = 0; k < sizeof dts / sizeof *dts; k++) {
            IrEval e = { .f = step, .params = low.params, .theta = theta, .inputs = in, .batch = B,
                         .step_size = dts[k] };
            if (ir_eval(&e) != 0)
                return 2;
            const double *hp = e.val[step->out[0].value];
            for (int64_t i = 0; i < B * size[0]; i++) {
                double r = fabs(hp[i]) / fmax(fabs(h[i]), 1.0);
                worst = isnan(r) ? INFINITY : fmax(worst, r);
            }
            ir_eval_free(&e);
        }
    }
    int ok = worst <= 1 + 1e-12;
    printf("gru_stable: %s: max |h+| / max(|h|, 1) over dt = 1 .. 1e12: %.17g: %s\n", argv[2], worst,
           ok ? "ok" : "FAILED");
    free(theta), free(h), free(x);
    lowered_free(&low);
    sema_free(s);
    program_free(&p);
    return ok ? 0 : 1;
}
