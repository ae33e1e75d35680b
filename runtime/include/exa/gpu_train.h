/* gpu_train.h - training on the GPU (`--device gpu`, `device = gpu;`).
 *
 * Two ways a run uses the device (docs/gpu.md says which strategy takes
 * which):
 *
 *   resident   data parallelism with SGD or Adam (the common case): the
 *              parameters, the gradient and the optimiser's state live in
 *              device memory.  A step gathers the mini-batch into pinned
 *              host memory (two buffers, used in turn, so a copy still in
 *              flight is never overwritten), queues the upload, the
 *              generated loss_grad (cuBLAS GEMMs, exac's kernels), the
 *              gradient's weighting and sum over the ranks (the method's
 *              reducer, exa/reduce.h: NCCL when every rank has it, else MPI
 *              through the host), clipping and the
 *              optimiser's kernel, and then waits once: for the per-sample
 *              losses, summed on the host as the CPU run sums them.  The
 *              host copies of the parameters and optimiser state are
 *              brought up to date only when something reads them
 *              (evaluation, checkpoint, export, the end of the run).
 *
 *   host copies  everything else (L-BFGS, trust region, MGRIT's stage
 *              functions, the other decompositions): each generated
 *              function runs on the device on copies of its host buffers,
 *              their sizes from the launch table's io lines.  The
 *              strategies keep working on the host at their communication
 *              points; data and the compose strategies (SAPTS, APTS, ...)
 *              sum their vectors through their reducer (NCCL on device
 *              buffers, else MPI), the others with MPI.
 *
 * The functions below end the run (exa_comm_abort: one line naming the
 * rank) when the device fails mid-run: there is no way to continue. */
#ifndef EXA_GPU_TRAIN_H
#define EXA_GPU_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "exa/gpu.h"
#include "exa/run.h"

typedef struct ExaGpuRun ExaGpuRun;

/* Opens the GPU of this rank (its node-local rank's) and loads the
 * program's GPU code.  Collective over r->world.  NULL with one
 * line in err (without the "exa: ..." prefix) on this rank's failure; every
 * rank returns NULL when any failed (other ranks' err says so). */
ExaGpuRun *exa_gpu_run_open(ExaRun *r, char *err, size_t errlen);
void exa_gpu_run_close(ExaGpuRun *d);
/* The GPU's name for the progress header ("emulated GPU 0"). */
const char *exa_gpu_run_describe(const ExaGpuRun *d);
/* The open GPU (exa/gpu.h), for a method's reducer (exa/reduce.h). */
ExaGpu *exa_gpu_run_device(ExaGpuRun *d);

/* Runs generated function fn with a's host buffers on the device (host
 * copies); what fn->run(a) does on the CPU. */
void exa_gpu_run_call(ExaGpuRun *d, const ExaFunction *fn, const ExaArgs *a);

/* ---- the resident step (runtime/methods/solver.c drives it) ---- */
/* Queues the mini-batch gradient over rows [begin, begin+count) of
 * r->order, split over red's communicator as exa_run_loss_on(...,
 * EXA_SHARD_SPLIT) does, into the device gradient, summed through red (the
 * data method's reducer: NCCL on the device, or MPI through the host). */
struct ExaReducer;
void exa_gpu_run_grad(ExaGpuRun *d, struct ExaReducer *red, int64_t begin, int64_t count);
enum { EXA_GPU_SGD, EXA_GPU_ADAM };
/* Queues clipping (r->clip) and the optimiser's update of kind with the
 * step's constants k (the kernels' order, codegen_cuda.c); state0/state1
 * are the optimiser's host arrays (n reals each, NULL when absent): the
 * device keeps their contents and copies them back with the parameters. */
void exa_gpu_run_update(ExaGpuRun *d, int kind, const double *k, int nk, void *state0, void *state1);
/* Waits for the step; the mini-batch's mean loss (summed over comm). */
double exa_gpu_run_finish(ExaGpuRun *d, const ExaComm *comm, int64_t count);

/* The host's parameters and optimiser state brought up to date (no-op
 * unless a resident step ran since the last time). */
void exa_gpu_run_to_host(ExaGpuRun *d);
/* The host's parameters or optimiser state changed (resume, import): the
 * device takes them again before its next resident step. */
void exa_gpu_run_invalidate(ExaGpuRun *d);

#endif
