/* gpu_emu.h - an emulated GPU: the CUDA driver, cuBLAS and NCCL made of
 * plain host code, so that the whole GPU path (exac's kernels and launch
 * tables, the executor, device-resident training, the collectives) runs and
 * is tested on machines without a GPU.
 *
 * Selected by the environment: EXA_GPU_EMULATE=N makes exa_gpu_open (and so
 * `./train --device gpu`) open emulated GPU `ordinal` of N.  Then
 *   - device memory is host memory (cuMemAlloc is aligned_alloc), copies are
 *     memcpy;
 *   - the "PTX" is the program's CUDA source (exa_cuda_source) translated to
 *     C, compiled for the host by $EXA_CC (else cc) into a shared object and
 *     loaded with dlopen; a kernel runs as one thread (blockIdx 0,
 *     gridDim 1), so its grid-stride loop covers all the work in order;
 *   - cuBLAS GEMMs are triple loops (column-major, as cuBLAS);
 *   - an NCCL communicator is an MPI communicator of its ranks (any group
 *     of the world: MPI_Comm_create_group), its all-reduce MPI_Allreduce,
 *     in place on the (host) device buffers.
 * Nothing here is fast; it checks arithmetic and control flow. */
#ifndef EXA_GPU_EMU_H
#define EXA_GPU_EMU_H

#include <stddef.h>

#include "exa/gpu.h"

/* Fills g with the emulated device `ordinal`; spec is EXA_GPU_EMULATE's
 * value (the number of emulated GPUs).  0, or -1 with one line in err. */
int exa_gpu_emulate(ExaGpu *g, int ordinal, const char *spec, char *err, size_t errlen);
/* Unloads the kernels' shared objects and clears g. */
void exa_gpu_emulate_close(ExaGpu *g);

/* Translates CUDA source (exac's, codegen_cuda.h) to C, compiles it into
 * DIR/emu_TAG.so and writes that path to so: what the emulated
 * cuModuleLoadData loads.  0, or -1 with one line in err. */
int exa_gpu_emu_module(const char *source, const char *dir, const char *tag, char *so, size_t solen,
                       char *err, size_t errlen);

#endif
