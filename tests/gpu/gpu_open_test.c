/* gpu_open_test.c - asking for a GPU: on a machine with one, the device opens
 * and is named; on one without, the answer is one clear line and no crash.
 * Exit 77 (skipped) is never used: both outcomes are checked. */
#include <stdio.h>
#include <string.h>

#include "exa/gpu.h"

int main(void)
{
    ExaGpu g;
    char err[512] = "";
    if (exa_gpu_open(&g, 0, err, sizeof err) == 0) {
        printf("GPU 0: %s (NCCL %s)\n", g.name, g.has_nccl ? "found" : "not found");
        int ok = g.name[0] != '\0' && g.blas != NULL;
        exa_gpu_close(&g);
        return ok ? 0 : 1;
    }
    printf("no GPU: %s\n", err);
    /* one line, saying what is missing */
    int ok = err[0] != '\0' && strchr(err, '\n') == NULL
             && (strstr(err, "no CUDA driver") || strstr(err, "no GPU") || strstr(err, "GPU 0"));
    if (exa_gpu_open(&g, 99, err, sizeof err) == 0) {
        exa_gpu_close(&g);
        return 1; /* no machine has 100 GPUs here */
    }
    return ok ? 0 : 1;
}
