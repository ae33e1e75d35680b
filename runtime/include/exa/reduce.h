/* reduce.h - sums over a method's communicator, through NCCL on the device
 * when the run trains on GPUs and every rank of the communicator has NCCL,
 * through MPI otherwise (docs/gpu.md, "Collectives").
 *
 * A method opens one reducer for its communicator when it is created and
 * makes every sum of its vectors through it (compose.c's combined
 * corrections, the gradient of a loss split over the ranks, the resident
 * data-parallel gradient); which way it sums is chosen once, collectively,
 * so every rank makes the same calls in the same order for the whole run.
 * Nothing else in a method knows NCCL exists.
 *
 * NCCL sums device memory: a host vector goes up into the reducer's device
 * buffer, is summed there and comes back (one wait); a vector already on
 * the device (exa_reducer_sum_device) is summed in place with no wait.  A
 * lone scalar (a loss, a predicted reduction, a weight's total) goes through
 * MPI either way: on the device it would cost two copies and a wait for
 * eight bytes; a scalar that travels with a vector (exa_reducer_sum's extra)
 * goes with it.  The MPI path makes exactly the calls a CPU run makes, so a
 * run on GPUs with EXA_GPU_NCCL=0 sums as the CPU run does. */
#ifndef EXA_REDUCE_H
#define EXA_REDUCE_H

#include <stddef.h>

#include "exa/comm.h"
#include "exa/gpu.h"

typedef struct ExaReducer ExaReducer;

/* The reducer of comm (the handle is copied: comm must outlive it).  gpu is
 * this rank's open GPU (NULL on the CPU); with it, more than one rank, NCCL
 * on every rank of comm and EXA_GPU_NCCL not 0, an NCCL communicator over
 * comm's ranks; else (or when NCCL fails to start on any rank) MPI.
 * Collective over comm; ends the job when out of memory. */
ExaReducer *exa_reducer_open(ExaGpu *gpu, const ExaComm *comm);
/* Before the GPU closes: the reducer holds device memory. */
void exa_reducer_close(ExaReducer *red);

/* "NCCL" or "MPI". */
const char *exa_reducer_kind(const ExaReducer *red);
const ExaComm *exa_reducer_comm(const ExaReducer *red);

/* In-place sum over the communicator of n reals of type in host memory,
 * and of *extra (one double) when extra is not NULL, in the same round. */
void exa_reducer_sum(ExaReducer *red, void *buf, size_t n, ExaReal type, double *extra);
/* The same for n reals in device memory at buf (a reducer with a GPU only);
 * host: n reals of host scratch for the MPI path. */
void exa_reducer_sum_device(ExaReducer *red, ExaCuDevicePtr buf, void *host, size_t n, ExaReal type);
/* The sum of one double (MPI). */
double exa_reducer_sum_double(ExaReducer *red, double x);

#endif
