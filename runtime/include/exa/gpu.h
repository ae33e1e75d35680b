/* gpu.h - the CUDA driver, cuBLAS and NCCL, loaded at run time.
 *
 * Nothing here links against CUDA: the libraries are opened with dlopen when
 * a run asks for a GPU, so one executable runs on machines with and without
 * one, and a missing piece is named in one line:
 *     exa: --device gpu: no CUDA driver: libcuda.so.1: cannot open shared object file
 * The CUDA types used are declared here with the ABI of the CUDA driver API
 * (handles are pointers, results are ints), so building needs no CUDA headers. */
#ifndef EXA_GPU_H
#define EXA_GPU_H

#include <stddef.h>
#include <stdint.h>

typedef int ExaCuResult;            /* CUresult; 0 is CUDA_SUCCESS */
typedef int ExaCuDevice;            /* CUdevice */
typedef struct ExaCuCtx *ExaCuContext;
typedef struct ExaCuMod *ExaCuModule;
typedef struct ExaCuFunc *ExaCuFunction;
typedef unsigned long long ExaCuDevicePtr;
typedef struct ExaCublasCtx *ExaCublasHandle;
typedef struct { char internal[128]; } ExaNcclId;   /* ncclUniqueId */
typedef struct ExaNcclCtx *ExaNcclComm;

/* The entry points exa uses, resolved by exa_gpu_open. */
typedef struct ExaGpuApi {
    ExaCuResult (*cuInit)(unsigned flags);
    ExaCuResult (*cuDeviceGetCount)(int *count);
    ExaCuResult (*cuDeviceGet)(ExaCuDevice *dev, int ordinal);
    ExaCuResult (*cuDeviceGetName)(char *name, int len, ExaCuDevice dev);
    ExaCuResult (*cuCtxCreate)(ExaCuContext *ctx, unsigned flags, ExaCuDevice dev);
    ExaCuResult (*cuCtxDestroy)(ExaCuContext ctx);
    ExaCuResult (*cuCtxSynchronize)(void);
    ExaCuResult (*cuModuleLoadData)(ExaCuModule *mod, const void *image);
    ExaCuResult (*cuModuleGetFunction)(ExaCuFunction *fn, ExaCuModule mod, const char *name);
    ExaCuResult (*cuLaunchKernel)(ExaCuFunction f, unsigned gx, unsigned gy, unsigned gz,
                                  unsigned bx, unsigned by, unsigned bz, unsigned shared,
                                  void *stream, void **params, void **extra);
    ExaCuResult (*cuMemAlloc)(ExaCuDevicePtr *p, size_t bytes);
    ExaCuResult (*cuMemFree)(ExaCuDevicePtr p);
    ExaCuResult (*cuMemcpyHtoD)(ExaCuDevicePtr dst, const void *src, size_t bytes);
    ExaCuResult (*cuMemcpyDtoH)(void *dst, ExaCuDevicePtr src, size_t bytes);
    ExaCuResult (*cuGetErrorString)(ExaCuResult r, const char **msg);
    ExaCuResult (*cuDeviceGetAttribute)(int *value, int attribute, ExaCuDevice dev);
    ExaCuResult (*cuMemAllocHost)(void **p, size_t bytes);      /* pinned host memory */
    ExaCuResult (*cuMemFreeHost)(void *p);
    ExaCuResult (*cuMemcpyHtoDAsync)(ExaCuDevicePtr dst, const void *src, size_t bytes, void *stream);
    ExaCuResult (*cuMemsetD8)(ExaCuDevicePtr dst, unsigned char value, size_t bytes);
    /* cuBLAS (column-major, as cuBLAS is) */
    int (*cublasCreate)(ExaCublasHandle *h);
    int (*cublasDestroy)(ExaCublasHandle h);
    int (*cublasSgemm)(ExaCublasHandle h, int ta, int tb, int m, int n, int k, const float *alpha,
                       const float *a, int lda, const float *b, int ldb, const float *beta,
                       float *c, int ldc);
    int (*cublasDgemm)(ExaCublasHandle h, int ta, int tb, int m, int n, int k, const double *alpha,
                       const double *a, int lda, const double *b, int ldb, const double *beta,
                       double *c, int ldc);
    /* NCCL (optional: NULL when libnccl is not there) */
    int (*ncclGetUniqueId)(ExaNcclId *id);
    int (*ncclCommInitRank)(ExaNcclComm *comm, int nranks, ExaNcclId id, int rank);
    int (*ncclAllReduce)(const void *send, void *recv, size_t count, int type, int op, ExaNcclComm comm,
                         void *stream);
    int (*ncclCommDestroy)(ExaNcclComm comm);
    /* optional (NULL: a loop of single GEMMs): count problems, each C its own */
    int (*cublasSgemmStridedBatched)(ExaCublasHandle h, int ta, int tb, int m, int n, int k, const float *alpha,
                                     const float *a, int lda, long long sa, const float *b, int ldb, long long sb,
                                     const float *beta, float *c, int ldc, long long sc, int count);
    int (*cublasDgemmStridedBatched)(ExaCublasHandle h, int ta, int tb, int m, int n, int k, const double *alpha,
                                     const double *a, int lda, long long sa, const double *b, int ldb, long long sb,
                                     const double *beta, double *c, int ldc, long long sc, int count);
} ExaGpuApi;

enum { EXA_CU_CC_MAJOR = 75, EXA_CU_CC_MINOR = 76 };     /* CUdevice_attribute */
enum { EXA_NCCL_F32 = 7, EXA_NCCL_F64 = 8, EXA_NCCL_SUM = 0 };

typedef struct ExaGpu {
    void *libcuda, *libcublas, *libnccl;
    ExaGpuApi api;
    ExaCuDevice device;
    ExaCuContext context;
    ExaCublasHandle blas;
    char name[128];
    int has_nccl;
    int emulated;                  /* the stand-in of exa/gpu_emu.h */
    int ordinal;
} ExaGpu;

/* Opens the CUDA driver and device `ordinal`, and cuBLAS.  NCCL is optional
 * (multi-GPU collectives fall back to MPI).  Returns 0, or -1 with one line
 * in err saying what is missing.  With EXA_GPU_EMULATE set (to the number
 * of GPUs to pretend, e.g. 1) the emulated device of exa/gpu_emu.h opens
 * instead, on any machine. */
int exa_gpu_open(ExaGpu *g, int ordinal, char *err, size_t errlen);
void exa_gpu_close(ExaGpu *g);

#endif
