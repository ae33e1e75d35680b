/* gpu_exec.h - running generated functions on a GPU: the PTX exac embeds,
 * loaded with cuModuleLoadData, and its launch table interpreted, with
 * cuBLAS for the GEMMs.
 *
 * exac's GPU back end (compiler/backend/codegen_cuda.h) writes two texts into the
 * executable (abi.h): exa_cuda_ptx, the kernels, and exa_cuda_launches, the
 * host side of every generated function as a list of steps:
 *     exa-cuda 2 f32|f64
 *     function NAME NSTEPS NWS a1 c1 ... aK cK   workspace(B) = max(ai*B + ci)
 *     launch KERNEL Na Nb NPTR ptr...            n = Na*B + Nb threads' work
 *     gemm Ca Cb ta tb Ma Mb Na Nb Ka Kb A lda sa B ldb sb beta C ldc sc
 *     repeat Ca Cb NSTEPS                        the next NSTEPS steps C times
 *     sum N W PTR                                N reals at PTR summed over the
 *                                                ranks sharing the batch (W 1:
 *                                                weighted by rows; exa_batch_sum)
 *     io t 0 0 END | io i K A C | io o SLOT A C  after a function's steps:
 *                  theta reals read, input K's bytes (A*B + C), how far
 *                  outputs[SLOT] is written (A*B + C reals)
 * ptr: w:AT_A:AT_C:PER workspace + align64(AT_A*B + AT_C) bytes, t:0:OFF:PER
 * theta + OFF, i:K:0:PER inputs[K], o:K:OFF:PER outputs[K] + OFF (offsets in
 * elements; PER more per repeat iteration).  Every kernel is called as
 * K(long long n, long long B, double h, pointers...).  gemm is exa_k_gemm's
 * contract (exa/kernels.h): row-major; count problems, summed into one C with
 * beta for the first when sc == 0.
 *
 * A machine without a GPU gets exa_gpu_open's one line (exa/gpu.h) from
 * exa_gpu_exec_open, and the caller prints it as `exa: --device gpu: ...`. */
#ifndef EXA_GPU_EXEC_H
#define EXA_GPU_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "exa/gpu.h"

/* ExaArgs (abi.h) with device pointers. */
typedef struct ExaGpuArgs {
    int64_t batch;
    double step_size;
    ExaCuDevicePtr theta;
    const ExaCuDevicePtr *inputs;
    const ExaCuDevicePtr *outputs;
    ExaCuDevicePtr workspace;      /* exa_gpu_exec_workspace(B) bytes, 64-byte aligned */
} ExaGpuArgs;

typedef struct ExaGpuExtent {
    int64_t a, c;                  /* a*B + c: bytes of an input, reals of an output slot */
} ExaGpuExtent;

typedef struct ExaGpuFn {
    char *name;
    int64_t theta_end;             /* reals of theta read from the pointer given */
    ExaGpuExtent *in, *out;        /* nin inputs, nout output slots */
    int nin, nout;
    int64_t *ws;                   /* workspace ends: a1 c1 a2 c2 ... */
    int nws;
    struct ExaGpuStep *step;
    int nsteps;
} ExaGpuFn;

typedef struct ExaGpuExec {
    ExaGpu *gpu;
    ExaCuModule module;
    int elem;                      /* bytes per real: 4 or 8 */
    ExaGpuFn *fn;
    int nfn;
} ExaGpuExec;

/* Opens GPU `ordinal` into *g and loads the code embedded in this executable
 * (exa_cuda_launches, and of exa_cuda_ptx's sections the newest the GPU
 * runs; on the emulated GPU of exa/gpu_emu.h, exa_cuda_source compiled for
 * the host).  Returns 0, or -1 with one line in err:
 * no driver or device (exa_gpu_open's message), or no GPU code in the
 * program.  On failure g is closed. */
int exa_gpu_exec_open(ExaGpuExec *x, ExaGpu *g, int ordinal, char *err, size_t errlen);

/* Loads ptx into the open g and parses table (both NUL-terminated text). */
int exa_gpu_exec_load(ExaGpuExec *x, ExaGpu *g, const char *ptx, const char *table, char *err,
                      size_t errlen);

/* The index of function name, or -1. */
int exa_gpu_exec_find(const ExaGpuExec *x, const char *name);

/* Bytes of device workspace function fn needs for batch B. */
int64_t exa_gpu_exec_workspace(const ExaGpuExec *x, int fn, int64_t batch);

/* Runs function fn on device buffers and waits for it.  0, or -1 with err. */
int exa_gpu_exec_run(ExaGpuExec *x, int fn, const ExaGpuArgs *a, char *err, size_t errlen);
/* The same without waiting: the work is queued on the default stream. */
int exa_gpu_exec_enqueue(ExaGpuExec *x, int fn, const ExaGpuArgs *a, char *err, size_t errlen);
/* Queues kernel `name` of the program's code (the training kernels every
 * program has, codegen_cuda.c) on n work items with pointer arguments. */
int exa_gpu_exec_kernel(ExaGpuExec *x, const char *name, int64_t n, const ExaCuDevicePtr *ptrs, int nptr,
                        char *err, size_t errlen);
/* The extents of function fn's buffers at batch B (the table's io lines):
 * bytes of input k, reals written into output slot. */
int64_t exa_gpu_exec_input_bytes(const ExaGpuExec *x, int fn, int k, int64_t batch);
int64_t exa_gpu_exec_output_reals(const ExaGpuExec *x, int fn, int slot, int64_t batch);

/* Frees the parsed table (the module goes with the GPU's context). */
void exa_gpu_exec_free(ExaGpuExec *x);

#endif
