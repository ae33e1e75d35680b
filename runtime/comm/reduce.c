/* reduce.c - sums over a communicator by NCCL or MPI (exa/reduce.h). */
#include "exa/reduce.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ExaReducer {
    ExaComm comm;
    ExaGpu *gpu;          /* NULL: a CPU run */
    ExaNcclComm nccl;     /* NULL: MPI */
    ExaCuDevicePtr stage; /* NCCL: host vectors are summed here */
    size_t stage_bytes;
};

ExaReducer *exa_reducer_open(ExaGpu *gpu, const ExaComm *comm)
{
    ExaReducer *red = calloc(1, sizeof *red);
    if (!red)
        exa_comm_abort(comm, "out of memory");
    red->comm = *comm;
    red->gpu = gpu;
    if (!gpu || comm->size == 1) /* the same on every rank: no collective needed */
        return red;
    const char *use = getenv("EXA_GPU_NCCL"); /* 0: MPI even where NCCL is there (docs/gpu.md) */
    if (exa_comm_max_int(comm, !gpu->has_nccl || (use && strcmp(use, "0") == 0)) != 0)
        return red;
    struct { ExaNcclId id; int bad; } root = { .bad = 0 };
    if (comm->rank == 0)
        root.bad = gpu->api.ncclGetUniqueId(&root.id) != 0;
    exa_comm_bcast(comm, &root, sizeof root, 0); /* no id: nobody waits in the init */
    int bad = root.bad || gpu->api.ncclCommInitRank(&red->nccl, comm->size, root.id, comm->rank) != 0;
    if (exa_comm_max_int(comm, bad) != 0) { /* NCCL is an optimisation: MPI works, but say so */
        if (red->nccl)
            gpu->api.ncclCommDestroy(red->nccl);
        red->nccl = NULL;
        if (comm->rank == 0)
            fprintf(stderr, "exa: rank %d: NCCL did not start on a communicator of %d ranks: its sums go through "
                            "MPI\n", comm->world_rank, comm->size);
    }
    return red;
}

void exa_reducer_close(ExaReducer *red)
{
    if (!red)
        return;
    if (red->stage)
        red->gpu->api.cuMemFree(red->stage);
    if (red->nccl)
        red->gpu->api.ncclCommDestroy(red->nccl);
    free(red);
}

const char *exa_reducer_kind(const ExaReducer *red) { return red->nccl ? "NCCL" : "MPI"; }

const ExaComm *exa_reducer_comm(const ExaReducer *red) { return &red->comm; }

static void cu(ExaReducer *red, ExaCuResult res, const char *what)
{
    if (res == 0)
        return;
    const char *msg = NULL;
    if (red->gpu->api.cuGetErrorString)
        red->gpu->api.cuGetErrorString(res, &msg);
    exa_comm_abort(&red->comm, "--device gpu: GPU %s: %s: %s", red->gpu->name, what, msg ? msg : "unknown error");
}

/* ncclAllReduce in place on the default stream: queued, not waited for */
static void nccl_sum(ExaReducer *red, ExaCuDevicePtr p, size_t n, ExaReal type)
{
    int rc = red->gpu->api.ncclAllReduce((const void *)(uintptr_t)p, (void *)(uintptr_t)p, n,
                                         type == EXA_REAL_F64 ? EXA_NCCL_F64 : EXA_NCCL_F32, EXA_NCCL_SUM,
                                         red->nccl, NULL);
    if (rc != 0)
        exa_comm_abort(&red->comm, "--device gpu: NCCL's all-reduce failed (status %d)", rc);
}

void exa_reducer_sum(ExaReducer *red, void *buf, size_t n, ExaReal type, double *extra)
{
    if (!red->nccl) { /* the CPU run's calls, in its order */
        exa_comm_allreduce_sum(&red->comm, buf, n, type);
        if (extra)
            *extra = exa_comm_sum_double(&red->comm, *extra);
        return;
    }
    const ExaGpuApi *api = &red->gpu->api;
    double t0 = MPI_Wtime();
    size_t bytes = n * (size_t)type, at = (bytes + 63) / 64 * 64; /* extra in its own 64 bytes */
    if (at + 64 > red->stage_bytes) {
        if (red->stage)
            api->cuMemFree(red->stage);
        red->stage = 0;
        red->stage_bytes = 0;
        cu(red, api->cuMemAlloc(&red->stage, at + 64), "out of device memory");
        red->stage_bytes = at + 64;
    }
    if (n > 0) {
        cu(red, api->cuMemcpyHtoD(red->stage, buf, bytes), "copying a vector to sum");
        nccl_sum(red, red->stage, n, type);
    }
    if (extra) {
        cu(red, api->cuMemcpyHtoD(red->stage + at, extra, sizeof *extra), "copying a value to sum");
        nccl_sum(red, red->stage + at, 1, EXA_REAL_F64);
    }
    /* the copies back wait for the sums (the default stream runs in order) */
    if (n > 0)
        cu(red, api->cuMemcpyDtoH(buf, red->stage, bytes), "copying a sum back");
    if (extra)
        cu(red, api->cuMemcpyDtoH(extra, red->stage + at, sizeof *extra), "copying a sum back");
    if (red->comm.seconds)
        *red->comm.seconds += MPI_Wtime() - t0;
}

void exa_reducer_sum_device(ExaReducer *red, ExaCuDevicePtr buf, void *host, size_t n, ExaReal type)
{
    if (red->comm.size == 1 || n == 0)
        return;
    if (red->nccl) {
        nccl_sum(red, buf, n, type);
        return;
    }
    const ExaGpuApi *api = &red->gpu->api; /* through the host: this wait is MPI's */
    size_t bytes = n * (size_t)type;
    cu(red, api->cuMemcpyDtoH(host, buf, bytes), "copying a vector to sum");
    exa_comm_allreduce_sum(&red->comm, host, n, type);
    cu(red, api->cuMemcpyHtoD(buf, host, bytes), "copying a sum back");
}

double exa_reducer_sum_double(ExaReducer *red, double x)
{
    return exa_comm_sum_double(&red->comm, x);
}
