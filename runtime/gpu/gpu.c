/* gpu.c - opening the CUDA driver, cuBLAS and NCCL with dlopen.
 *
 * The versioned driver entry points (cuCtxCreate_v2, cuMemAlloc_v2, ...) are
 * the ones the CUDA headers map the plain names to; we look those up, as a
 * program compiled against the headers would. */
#include "exa/gpu.h"
#include "exa/gpu_emu.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlopen the first of names that loads; NULL with dlerror's text in why. */
static void *open_first(const char *const *names, char *why, size_t len)
{
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
        snprintf(why, len, "%s", dlerror());
    }
    return NULL;
}

/* Resolves one symbol into *slot (a function pointer); 0 or -1. */
static int resolve(void *lib, const char *name, void *slot, char *err, size_t len, const char *what)
{
    void *p = dlsym(lib, name);
    if (!p) {
        snprintf(err, len, "%s has no %s (too old a version?)", what, name);
        return -1;
    }
    /* a function pointer is stored through void *: POSIX guarantees dlsym's
     * result converts, C does not, hence memcpy rather than a cast */
    memcpy(slot, &p, sizeof p);
    return 0;
}

#define RESOLVE(lib, field, symbol, what) \
    if (resolve(lib, symbol, &g->api.field, err, errlen, what)) goto fail

static const char *cu_error(const ExaGpu *g, ExaCuResult r)
{
    const char *msg = NULL;
    if (g->api.cuGetErrorString && g->api.cuGetErrorString(r, &msg) == 0 && msg)
        return msg;
    return "unknown CUDA error";
}

int exa_gpu_open(ExaGpu *g, int ordinal, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    const char *emulate = getenv("EXA_GPU_EMULATE");
    if (emulate && *emulate)
        return exa_gpu_emulate(g, ordinal, emulate, err, errlen);
    char why[256] = "";
    static const char *const cuda[] = { "libcuda.so.1", "libcuda.so", NULL };
    static const char *const cublas[] = { "libcublas.so.13", "libcublas.so.12", "libcublas.so.11",
                                          "libcublas.so", NULL };
    static const char *const nccl[] = { "libnccl.so.2", "libnccl.so", NULL };
    g->libcuda = open_first(cuda, why, sizeof why);
    if (!g->libcuda) {
        snprintf(err, errlen, "no CUDA driver (%s): this machine has no usable GPU", why);
        return -1;
    }
    RESOLVE(g->libcuda, cuInit, "cuInit", "the CUDA driver");
    RESOLVE(g->libcuda, cuDeviceGetCount, "cuDeviceGetCount", "the CUDA driver");
    RESOLVE(g->libcuda, cuDeviceGet, "cuDeviceGet", "the CUDA driver");
    RESOLVE(g->libcuda, cuDeviceGetName, "cuDeviceGetName", "the CUDA driver");
    RESOLVE(g->libcuda, cuCtxCreate, "cuCtxCreate_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuCtxDestroy, "cuCtxDestroy_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuCtxSynchronize, "cuCtxSynchronize", "the CUDA driver");
    RESOLVE(g->libcuda, cuModuleLoadData, "cuModuleLoadData", "the CUDA driver");
    RESOLVE(g->libcuda, cuModuleGetFunction, "cuModuleGetFunction", "the CUDA driver");
    RESOLVE(g->libcuda, cuLaunchKernel, "cuLaunchKernel", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemAlloc, "cuMemAlloc_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemFree, "cuMemFree_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemcpyHtoD, "cuMemcpyHtoD_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemcpyDtoH, "cuMemcpyDtoH_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuGetErrorString, "cuGetErrorString", "the CUDA driver");
    RESOLVE(g->libcuda, cuDeviceGetAttribute, "cuDeviceGetAttribute", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemAllocHost, "cuMemAllocHost_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemFreeHost, "cuMemFreeHost", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", "the CUDA driver");
    RESOLVE(g->libcuda, cuMemsetD8, "cuMemsetD8_v2", "the CUDA driver");
    ExaCuResult r = g->api.cuInit(0);
    if (r != 0) {
        snprintf(err, errlen, "the CUDA driver did not start: %s", cu_error(g, r));
        goto fail;
    }
    int count = 0;
    r = g->api.cuDeviceGetCount(&count);
    if (r != 0 || count == 0) {
        snprintf(err, errlen, "no GPU found by the CUDA driver");
        goto fail;
    }
    if (ordinal < 0 || ordinal >= count) {
        snprintf(err, errlen, "GPU %d asked for, but this machine has %d (0 to %d)", ordinal, count,
                 count - 1);
        goto fail;
    }
    if ((r = g->api.cuDeviceGet(&g->device, ordinal)) != 0
        || (r = g->api.cuDeviceGetName(g->name, sizeof g->name, g->device)) != 0
        || (r = g->api.cuCtxCreate(&g->context, 0, g->device)) != 0) {
        snprintf(err, errlen, "GPU %d: %s", ordinal, cu_error(g, r));
        goto fail;
    }
    g->libcublas = open_first(cublas, why, sizeof why);
    if (!g->libcublas) {
        snprintf(err, errlen, "no cuBLAS (%s)", why);
        goto fail;
    }
    RESOLVE(g->libcublas, cublasCreate, "cublasCreate_v2", "cuBLAS");
    RESOLVE(g->libcublas, cublasDestroy, "cublasDestroy_v2", "cuBLAS");
    RESOLVE(g->libcublas, cublasSgemm, "cublasSgemm_v2", "cuBLAS");
    RESOLVE(g->libcublas, cublasDgemm, "cublasDgemm_v2", "cuBLAS");
    { /* strided batched GEMM: cuBLAS 8 on; without it, one call per problem */
        char ignored[128];
        if (resolve(g->libcublas, "cublasSgemmStridedBatched", &g->api.cublasSgemmStridedBatched, ignored,
                    sizeof ignored, "cuBLAS") != 0
            || resolve(g->libcublas, "cublasDgemmStridedBatched", &g->api.cublasDgemmStridedBatched, ignored,
                       sizeof ignored, "cuBLAS") != 0)
            g->api.cublasSgemmStridedBatched = NULL, g->api.cublasDgemmStridedBatched = NULL;
    }
    if (g->api.cublasCreate(&g->blas) != 0) {
        snprintf(err, errlen, "cuBLAS did not start on GPU %d", ordinal);
        goto fail;
    }
    g->ordinal = ordinal;
    /* NCCL is optional: without it (or with too old a one) collectives go
     * through MPI and host memory */
    g->libnccl = open_first(nccl, why, sizeof why);
    if (g->libnccl) {
        char ignored[128];
        g->has_nccl = resolve(g->libnccl, "ncclGetUniqueId", &g->api.ncclGetUniqueId, ignored, sizeof ignored, "NCCL") == 0
                      && resolve(g->libnccl, "ncclCommInitRank", &g->api.ncclCommInitRank, ignored, sizeof ignored, "NCCL") == 0
                      && resolve(g->libnccl, "ncclAllReduce", &g->api.ncclAllReduce, ignored, sizeof ignored, "NCCL") == 0
                      && resolve(g->libnccl, "ncclCommDestroy", &g->api.ncclCommDestroy, ignored, sizeof ignored, "NCCL") == 0;
    }
    return 0;
fail:
    exa_gpu_close(g);
    return -1;
}

void exa_gpu_close(ExaGpu *g)
{
    if (g->emulated) {
        exa_gpu_emulate_close(g);
        return;
    }
    if (g->blas && g->api.cublasDestroy)
        g->api.cublasDestroy(g->blas);
    if (g->context && g->api.cuCtxDestroy)
        g->api.cuCtxDestroy(g->context);
    if (g->libnccl)
        dlclose(g->libnccl);
    if (g->libcublas)
        dlclose(g->libcublas);
    if (g->libcuda)
        dlclose(g->libcuda);
    memset(g, 0, sizeof *g);
}
