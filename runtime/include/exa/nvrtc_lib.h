/* nvrtc_lib.h - NVRTC opened with dlopen, and one compile with it: the one
 * loader and search order of exac (--gpu-arch: compiler/backend/
 * codegen_cuda_nvrtc.c) and libexa (PTX at run time: runtime/gpu/gpu_nvrtc.c).
 *
 * exac does not link libexa (that would pull MPI and OpenBLAS into the
 * compiler), so runtime/gpu/nvrtc_lib.c is compiled into both; nothing in it
 * needs more than libc and dlopen.  NVRTC's types are declared with its C
 * ABI (results are ints, programs pointers): building needs no CUDA headers. */
#ifndef EXA_NVRTC_LIB_H
#define EXA_NVRTC_LIB_H

#include <stddef.h>

typedef struct ExaNvrtc {
    int (*version)(int *major, int *minor);
    int (*create)(void **prog, const char *src, const char *name, int nheaders,
                  const char *const *headers, const char *const *include_names);
    int (*compile)(void *prog, int nopts, const char *const *opts);
    int (*log_size)(void *prog, size_t *size);
    int (*log)(void *prog, char *log);
    int (*ptx_size)(void *prog, size_t *size);
    int (*ptx)(void *prog, char *ptx);
    int (*destroy)(void **prog);
    const char *(*error_string)(int result);
} ExaNvrtc;

/* Opens NVRTC: $EXA_NVRTC (a path), libnvrtc.so.13, .12, .11.2, .so, the
 * toolkit CMake found (EXA_NVRTC_HINT), /usr/local/cuda/lib64/libnvrtc.so.
 * It stays loaded: unloading it strands the buffers its C++ runtime
 * allocates once per load.  0, or -1 with why (for "no NVRTC (libnvrtc.so:
 * WHY)": the dlerror of $EXA_NVRTC when that was set and failed, else "not
 * found") and *missing 0; or -1 with *missing 1 when the library found lacks
 * an entry point (too old a version). */
int exa_nvrtc_open(ExaNvrtc *n, char *why, size_t len, int *missing);

/* The PTX of source compiled with arch_option ("--gpu-architecture=
 * compute_75") and --std=c++17, malloc'd into *ptx; 0.  On failure *log is
 * malloc'd (NULL only when out of memory): -2 and NVRTC's whole log when the
 * compile failed, -1 and a line "NVRTC: ..." for any other failure. */
int exa_nvrtc_compile(const ExaNvrtc *n, const char *source, const char *arch_option, char **ptx, char **log);

#endif
