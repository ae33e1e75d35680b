/* ckpt_diff.c - the largest absolute difference between the parameters of two
 * checkpoints (tests of strategies that must match a one-rank run).
 *
 *   ckpt_diff A/checkpoint.exa B/checkpoint.exa TOLERANCE
 *
 * Prints "max |diff| = X over N parameters"; exit status 0 when X <= TOLERANCE,
 * 1 above it, 2 when a file cannot be read or the two do not match in
 * parameter count or precision. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/checkpoint.h"

static double at(const ExaCheckpoint *c, int64_t i)
{
    return c->precision == 4 ? (double)((const float *)c->params)[i] : ((const double *)c->params)[i];
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fputs("usage: ckpt_diff A B TOLERANCE\n", stderr);
        return 2;
    }
    char *end;
    double tol = strtod(argv[3], &end);
    if (*end || end == argv[3] || !(tol >= 0)) {
        fprintf(stderr, "ckpt_diff: bad tolerance '%s'\n", argv[3]);
        return 2;
    }
    ExaCheckpoint a, b;
    char err[1024];
    if (exa_checkpoint_read(argv[1], &a, -1, -1, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (exa_checkpoint_read(argv[2], &b, a.nparams, a.precision, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exa_checkpoint_free(&a);
        return 2;
    }
    double worst = 0;
    int64_t where = 0;
    for (int64_t i = 0; i < a.nparams; i++) {
        double d = fabs(at(&a, i) - at(&b, i));
        if (d > worst || isnan(d)) {
            worst = isnan(d) ? INFINITY : d;
            where = i;
        }
    }
    printf("max |diff| = %.3e over %lld parameters (at %lld; epochs %llu and %llu)\n", worst,
           (long long)a.nparams, (long long)where, (unsigned long long)a.epoch,
           (unsigned long long)b.epoch);
    int ok = worst <= tol && a.epoch == b.epoch;
    if (a.epoch != b.epoch)
        fprintf(stderr, "ckpt_diff: the checkpoints are of different epochs\n");
    if (!ok)
        fprintf(stderr, "ckpt_diff: above the tolerance %g\n", tol);
    exa_checkpoint_free(&a);
    exa_checkpoint_free(&b);
    return ok ? 0 : 1;
}
