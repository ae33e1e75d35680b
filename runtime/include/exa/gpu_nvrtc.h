/* gpu_nvrtc.h - the embedded CUDA source compiled to PTX at run time.
 *
 * exac embeds the CUDA source of every program and, only when asked with
 * --gpu-arch, PTX; compiling PTX costs NVRTC 1-2 s, which every compile would
 * pay on a machine with the toolkit whether or not a GPU ever runs it.  So
 * the PTX is made here, when --device gpu opens a real GPU, for exactly that
 * GPU's architecture, with NVRTC opened by dlopen like the driver, cuBLAS and
 * NCCL (exa/gpu.h).  Results are kept on disk (see exa_gpu_ptx_cache_dir):
 * the second run of a program on the same kind of GPU compiles nothing. */
#ifndef EXA_GPU_NVRTC_H
#define EXA_GPU_NVRTC_H

#include <stddef.h>

/* PTX of source for compute capability arch (75 for sm_75), malloc'd into
 * *ptx; from the cache when it holds it (*cached 1), else compiled and
 * stored (*cached 0).  0, or -1 with one line in err (no NVRTC, or NVRTC's
 * first log line). */
int exa_gpu_nvrtc_ptx(const char *source, int arch, char **ptx, int *cached, char *err, size_t errlen);

/* The cache directory into path: $EXA_GPU_CACHE, else
 * $XDG_CACHE_HOME/exa/ptx, else $HOME/.cache/exa/ptx; 0 when caching is off
 * (EXA_GPU_CACHE set to "" or "off", or no HOME). */
int exa_gpu_ptx_cache_dir(char *path, size_t len);

#endif
