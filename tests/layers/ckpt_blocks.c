/* ckpt_blocks.c - whether a checkpoint's repeat-block parameters are
 * piecewise constant, as nested iteration leaves them after a coarse phase.
 *
 *   ckpt_blocks CHECKPOINT OFFSET SIZE STRIDE STEPS SPACING
 *
 * Step i's parameters are theta[OFFSET + i*STRIDE .. + SIZE).  Exit status 0
 * when every step's equal those of step floor(i/SPACING)*SPACING exactly and
 * (SPACING > 1) step 0's differ from step SPACING's; 1 otherwise; 2 when the
 * file cannot be read or the layout does not fit it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/checkpoint.h"

int main(int argc, char **argv)
{
    if (argc != 7) {
        fputs("usage: ckpt_blocks CHECKPOINT OFFSET SIZE STRIDE STEPS SPACING\n", stderr);
        return 2;
    }
    long long offset = atoll(argv[2]), size = atoll(argv[3]), stride = atoll(argv[4]);
    long long steps = atoll(argv[5]), spacing = atoll(argv[6]);
    ExaCheckpoint c;
    char err[1024];
    if (exa_checkpoint_read(argv[1], &c, -1, -1, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    int status = 0;
    size_t e = (size_t)c.precision;
    const char *t = c.params;
    if (spacing < 1 || offset < 0 || size < 1 || offset + (steps - 1) * stride + size > c.nparams) {
        fprintf(stderr, "ckpt_blocks: the layout does not fit %lld parameters\n", (long long)c.nparams);
        status = 2;
    }
    for (long long i = 0; status == 0 && i < steps; i++) {
        long long j = i - i % spacing;
        if (memcmp(t + (offset + i * stride) * e, t + (offset + j * stride) * e, (size_t)size * e) != 0) {
            fprintf(stderr, "ckpt_blocks: step %lld's parameters differ from step %lld's\n", i, j);
            status = 1;
        }
    }
    if (status == 0 && spacing > 1 && spacing < steps
        && memcmp(t + offset * e, t + (offset + spacing * stride) * e, (size_t)size * e) == 0) {
        fprintf(stderr, "ckpt_blocks: steps 0 and %lld are equal: nothing was trained?\n", spacing);
        status = 1;
    }
    printf("ckpt_blocks: %s, spacing %lld over %lld steps\n", status ? "FAILED" : "piecewise constant",
           spacing, steps);
    exa_checkpoint_free(&c);
    return status;
}
