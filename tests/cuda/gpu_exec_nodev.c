/* gpu_exec_nodev.c - what a training run does when asked for a GPU: open the
 * executor and, when that fails, print its one line and exit 1, as
 * `./train --device gpu` should.  On these machines (no CUDA driver) the line
 * names the missing driver; nodev.sh checks it is one line and the status 1.
 * Where a GPU does open, exit 77: nodev.sh reports that configure was wrong. */
#include <stdio.h>

#include "exa/gpu_exec.h"

int main(void)
{
    ExaGpu g;
    ExaGpuExec x;
    char err[512] = "";
    if (exa_gpu_exec_open(&x, &g, 0, err, sizeof err) == 0) {
        printf("GPU 0 (%s) opened: nothing to check here\n", g.name);
        exa_gpu_exec_free(&x);
        exa_gpu_close(&g);
        return 77;
    }
    fprintf(stderr, "exa: --device gpu: %s\n", err);
    return 1;
}
