/* codegen_cuda.h - the GPU back end: fusion plans to CUDA C, compiled to PTX
 * by NVRTC, plus a launch table that libexa's GPU executor interprets.
 *
 * The CPU back end (codegen_llvm.c) turns a plan into one host function that
 * calls kernels; here the same plan becomes CUDA C kernels and a *launch
 * table*: the host side of the function written as data, one step a line, so
 * no host code is generated for the GPU and the runtime (runtime/gpu/gpu_exec.c)
 * stays one small interpreter.  Every kernel is specialised to its step
 * (shapes, strides and constants are literals) and has one signature:
 *     extern "C" __global__ void K(long long n, long long B, double h, ptr...)
 * n the number of work items (a grid-stride loop covers them), B the batch,
 * h the step size, then the buffers the step reads and writes.  GEMMs stay
 * cuBLAS calls made by the runtime.
 *
 * The launch table (text; exa/gpu_exec.h describes it for the reader side):
 *     exa-cuda 2 f32|f64
 *     function NAME NSTEPS NWS a1 c1 ... aK cK   workspace(B) = max ai*B+ci + 0
 *     launch KERNEL Na Nb NPTR ptr...            n = Na*B + Nb
 *     gemm Ca Cb ta tb Ma Mb Na Nb Ka Kb A lda sa B ldb sb beta C ldc sc
 *     repeat Ca Cb NSTEPS                        the next NSTEPS steps, C times
 *     io t 0 0 END | io i K A C | io o SLOT A C  after a function's steps: the
 *                  extents of its buffers, for callers that copy host buffers
 *                  (theta reals read; input bytes A*B+C; output reals A*B+C)
 * with ptr one of  w:AT_A:AT_C:PER  (workspace + align64(AT_A*B + AT_C) bytes),
 * t:0:OFF:PER (theta + OFF), i:K:0:PER (inputs[K]), o:K:OFF:PER (outputs[K] +
 * OFF); offsets are in elements, and inside a repeat the pointer moves on by
 * PER elements per iteration.  gemm is exa_k_gemm's contract (kernels.h):
 * row-major, count problems, summed into one C when sc == 0.
 *
 * NVRTC is opened with dlopen when code is compiled, never linked, so exac
 * runs on machines without CUDA and says in one line why it cannot make GPU
 * code there. */
#ifndef EXA_CODEGEN_CUDA_H
#define EXA_CODEGEN_CUDA_H

#include "codegen_llvm.h" /* CgPrecision */
#include "fuse.h"

/* The CUDA source of plans[0..nplans) (kernels named NAME_sSTEP after each
 * plan's function) and, when table is not NULL, its launch table.  params
 * gives the parameters' offsets in theta (plans hold only their indices).
 * Returns 0, or -1 with *error set (malloc'd; free it). */
int cg_cuda_source(const FusePlan *plans, int nplans, const IrParam *params, int nparams,
                   CgPrecision prec, char **source, char **table, char **error);

/* Compiles source to PTX for a virtual architecture (NULL: "compute_75")
 * with NVRTC, loaded at run time.  On failure *error holds one line when
 * NVRTC is missing, or NVRTC's log.  Returns 0 or -1; free *ptx / *error. */
int cg_cuda_compile(const char *source, const char *arch, char **ptx, char **error);

/* What exac calls: plans every function like cg_llvm_emit does, generates
 * the CUDA code and, for each architecture of archs (a comma-separated list
 * of sm_NN or compute_NN; NULL or "": none, no NVRTC needed), compiles it to
 * PTX for compute_NN, and writes an object file defining
 *     const char exa_cuda_ptx[];        every PTX, each after a line
 *                                       "//exa-arch NN\n" (CG_CUDA_ARCH_MARK);
 *                                       empty without architectures
 *     const char exa_cuda_launches[];   the launch table, NUL-terminated
 *     const char exa_cuda_source[];     the CUDA C (what the emulated device
 *                                       of exa/gpu_emu.h compiles for the host)
 * to link beside the CPU object (whose symbols are unchanged).  When
 * ptx_text / table_text are not NULL they get copies (for --emit and tests).
 * Returns 0, or -1 with *error set. */
#define CG_CUDA_ARCH_MARK "//exa-arch"
int cg_cuda_emit(const IrFunc *funcs, int nfuncs, const IrParam *params, int nparams,
                 CgPrecision prec, const char *archs, const char *obj_path, char **ptx_text,
                 char **table_text, char **error);

/* NN of "sm_NN" or "compute_NN" (the first len characters of arch), or -1. */
int cg_cuda_arch_number(const char *arch, size_t len);

#endif
