/* gpu_emu.c - the emulated GPU (exa/gpu_emu.h): driver, cuBLAS and NCCL
 * entry points with the real ones' signatures, made of host code. */
#include "exa/gpu_emu.h"

#include <dlfcn.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the kernels' shared objects, unloaded when the device closes */
enum { EMU_MAX_MODULES = 16 };
static void *modules[EMU_MAX_MODULES];
static int nmodules;

static ExaCuResult emu_load(ExaCuModule *mod, const void *image)
{
    if (nmodules == EMU_MAX_MODULES)
        return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
    void *h = dlopen((const char *)image, RTLD_NOW | RTLD_LOCAL);
    *mod = (ExaCuModule)h;
    if (h)
        modules[nmodules++] = h;
    return h ? 0 : 200; /* CUDA_ERROR_INVALID_IMAGE */
}

static ExaCuResult emu_get(ExaCuFunction *fn, ExaCuModule mod, const char *name)
{
    char w[300];
    snprintf(w, sizeof w, "%s__w", name);
    void *p = dlsym((void *)mod, w);
    *fn = (ExaCuFunction)p;
    return p ? 0 : 500; /* CUDA_ERROR_NOT_FOUND */
}

static ExaCuResult emu_launch(ExaCuFunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                              unsigned bz, unsigned shared, void *stream, void **params, void **extra)
{
    (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shared, (void)stream, (void)extra;
    void (*call)(void **);
    void *p = (void *)f;
    memcpy(&call, &p, sizeof call);
    call(params);
    return 0;
}

static ExaCuResult emu_sync(void) { return 0; }

static ExaCuResult emu_error(ExaCuResult r, const char **msg)
{
    *msg = r == 2 ? "out of memory (emulated)" : r == 200 ? "the kernels did not load (emulated)"
           : r == 500 ? "no such kernel (emulated)" : "emulated driver error";
    return 0;
}

static ExaCuResult emu_alloc(ExaCuDevicePtr *p, size_t bytes)
{
    void *q = aligned_alloc(64, (bytes + 127) / 64 * 64);
    *p = (ExaCuDevicePtr)(uintptr_t)q;
    return q ? 0 : 2;
}

static ExaCuResult emu_free(ExaCuDevicePtr p)
{
    free((void *)(uintptr_t)p);
    return 0;
}

static ExaCuResult emu_htod(ExaCuDevicePtr d, const void *h, size_t bytes)
{
    if (bytes)
        memcpy((void *)(uintptr_t)d, h, bytes);
    return 0;
}

static ExaCuResult emu_htod_async(ExaCuDevicePtr d, const void *h, size_t bytes, void *stream)
{
    (void)stream;
    return emu_htod(d, h, bytes);
}

static ExaCuResult emu_dtoh(void *h, ExaCuDevicePtr d, size_t bytes)
{
    if (bytes)
        memcpy(h, (const void *)(uintptr_t)d, bytes);
    return 0;
}

static ExaCuResult emu_memset(ExaCuDevicePtr d, unsigned char v, size_t bytes)
{
    memset((void *)(uintptr_t)d, v, bytes);
    return 0;
}

static ExaCuResult emu_alloc_host(void **p, size_t bytes)
{
    *p = malloc(bytes ? bytes : 1);
    return *p ? 0 : 2;
}

static ExaCuResult emu_free_host(void *p)
{
    free(p);
    return 0;
}

static ExaCuResult emu_attribute(int *v, int attribute, ExaCuDevice dev)
{
    (void)dev;
    *v = attribute == EXA_CU_CC_MAJOR ? 7 : attribute == EXA_CU_CC_MINOR ? 5 : 0;
    return 0;
}

/* column-major C = op(A) op(B) + beta C, C not read when beta is 0 (as cuBLAS) */
#define EMU_GEMM(NAME, T)                                                                        \
    static int NAME(ExaCublasHandle h, int ta, int tb, int m, int n, int k, const T *alpha,     \
                    const T *a, int lda, const T *b, int ldb, const T *beta, T *c, int ldc)     \
    {                                                                                            \
        (void)h;                                                                                 \
        for (int j = 0; j < n; j++)                                                              \
            for (int i = 0; i < m; i++) {                                                        \
                T acc = 0;                                                                       \
                for (int l = 0; l < k; l++)                                                      \
                    acc += (ta ? a[i * lda + l] : a[l * lda + i]) * (tb ? b[l * ldb + j] : b[j * ldb + l]); \
                c[j * ldc + i] = *alpha * acc + (*beta != 0 ? *beta * c[j * ldc + i] : 0);       \
            }                                                                                    \
        return 0;                                                                                \
    }
EMU_GEMM(emu_sgemm, float)
EMU_GEMM(emu_dgemm, double)

#define EMU_BATCHED(NAME, ONE, T)                                                                  \
    static int NAME(ExaCublasHandle h, int ta, int tb, int m, int n, int k, const T *alpha,       \
                    const T *a, int lda, long long sa, const T *b, int ldb, long long sb,         \
                    const T *beta, T *c, int ldc, long long sc, int count)                        \
    {                                                                                              \
        for (int i = 0; i < count; i++)                                                            \
            ONE(h, ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, ldc); \
        return 0;                                                                                  \
    }
EMU_BATCHED(emu_sgemm_batched, emu_sgemm, float)
EMU_BATCHED(emu_dgemm_batched, emu_dgemm, double)

/* ---- NCCL over MPI ------------------------------------------------------ */

struct ExaNcclCtx {
    MPI_Comm comm;
};

/* An id names its creator (a world rank) and a serial number.  Joining
 * ranks send the creator their world ranks; it answers with the list, and
 * the group makes its communicator with MPI_Comm_create_group, collective
 * over the group only, as ncclCommInitRank is: a reducer on any
 * communicator (a nested strategy's group) gets one.  Rank 0 of the new
 * communicator must be the id's creator (exa's reducers are). */
enum { EMU_TAG = 28160, EMU_TAGS = 256 }; /* above the tags exa's methods send with */

static int emu_nccl_id(ExaNcclId *id)
{
    static int serial;
    int me;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "exa emulated nccl %d %d", me, serial++);
    return 0;
}

static int emu_nccl_init(ExaNcclComm *comm, int nranks, ExaNcclId id, int rank)
{
    int size, me, root, serial;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    if (sscanf(id.internal, "exa emulated nccl %d %d", &root, &serial) != 2 || nranks < 1 || nranks > size
        || rank < 0 || rank >= nranks || root < 0 || root >= size || (rank == 0) != (me == root))
        return 4; /* ncclInvalidArgument */
    int tag = EMU_TAG + serial % EMU_TAGS, *members = malloc((size_t)nranks * sizeof *members);
    *comm = calloc(1, sizeof **comm);
    if (!members || !*comm) {
        free(members);
        free(*comm);
        *comm = NULL;
        return 1;
    }
    if (rank == 0) {
        members[0] = me;
        for (int k = 1; k < nranks; k++) {
            int msg[2];
            MPI_Recv(msg, 2, MPI_INT, MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (msg[0] > 0 && msg[0] < nranks)
                members[msg[0]] = msg[1];
        }
        for (int k = 1; k < nranks; k++)
            MPI_Send(members, nranks, MPI_INT, members[k], tag, MPI_COMM_WORLD);
    } else {
        int msg[2] = { rank, me };
        MPI_Send(msg, 2, MPI_INT, root, tag, MPI_COMM_WORLD);
        MPI_Recv(members, nranks, MPI_INT, root, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    MPI_Group world, group;
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    MPI_Group_incl(world, nranks, members, &group);
    int rc = MPI_Comm_create_group(MPI_COMM_WORLD, group, tag, &(*comm)->comm);
    MPI_Group_free(&group);
    MPI_Group_free(&world);
    free(members);
    if (rc != MPI_SUCCESS) {
        free(*comm);
        *comm = NULL;
        return 3; /* ncclInternalError */
    }
    return 0;
}

static int emu_nccl_allreduce(const void *send, void *recv, size_t count, int type, int op, ExaNcclComm comm,
                              void *stream)
{
    (void)stream;
    if (op != EXA_NCCL_SUM || (type != EXA_NCCL_F32 && type != EXA_NCCL_F64) || count > INT32_MAX)
        return 4;
    MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, type == EXA_NCCL_F64 ? MPI_DOUBLE : MPI_FLOAT,
                  MPI_SUM, comm->comm);
    return 0;
}

static int emu_nccl_destroy(ExaNcclComm comm)
{
    MPI_Comm_free(&comm->comm);
    free(comm);
    return 0;
}

int exa_gpu_emulate(ExaGpu *g, int ordinal, const char *spec, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    char *end;
    long count = strtol(spec, &end, 10);
    if (*end || count < 1 || count > 64) {
        snprintf(err, errlen, "EXA_GPU_EMULATE=%s: expected the number of emulated GPUs (1 to 64)", spec);
        return -1;
    }
    if (ordinal < 0 || ordinal >= count) {
        snprintf(err, errlen, "GPU %d asked for, but EXA_GPU_EMULATE=%ld emulates %ld (0 to %ld)", ordinal, count,
                 count, count - 1);
        return -1;
    }
    g->emulated = 1;
    g->ordinal = ordinal;
    g->has_nccl = 1;
    snprintf(g->name, sizeof g->name, "emulated GPU %d", ordinal);
    g->blas = (ExaCublasHandle)g;
    ExaGpuApi *a = &g->api;
    a->cuModuleLoadData = emu_load;
    a->cuModuleGetFunction = emu_get;
    a->cuLaunchKernel = emu_launch;
    a->cuCtxSynchronize = emu_sync;
    a->cuGetErrorString = emu_error;
    a->cuMemAlloc = emu_alloc;
    a->cuMemFree = emu_free;
    a->cuMemcpyHtoD = emu_htod;
    a->cuMemcpyHtoDAsync = emu_htod_async;
    a->cuMemcpyDtoH = emu_dtoh;
    a->cuMemsetD8 = emu_memset;
    a->cuMemAllocHost = emu_alloc_host;
    a->cuMemFreeHost = emu_free_host;
    a->cuDeviceGetAttribute = emu_attribute;
    a->cublasSgemm = emu_sgemm;
    a->cublasDgemm = emu_dgemm;
    a->cublasSgemmStridedBatched = emu_sgemm_batched;
    a->cublasDgemmStridedBatched = emu_dgemm_batched;
    a->ncclGetUniqueId = emu_nccl_id;
    a->ncclCommInitRank = emu_nccl_init;
    a->ncclAllReduce = emu_nccl_allreduce;
    a->ncclCommDestroy = emu_nccl_destroy;
    return 0;
}

void exa_gpu_emulate_close(ExaGpu *g)
{
    while (nmodules > 0)
        dlclose(modules[--nmodules]);
    memset(g, 0, sizeof *g);
}

int exa_gpu_emu_module(const char *source, const char *dir, const char *tag, char *so, size_t solen, char *err,
                       size_t errlen)
{
    char c_path[1024], cmd[3072];
    snprintf(c_path, sizeof c_path, "%s/emu_%s.c", dir, tag);
    snprintf(so, solen, "%s/emu_%s.so", dir, tag);
    FILE *f = fopen(c_path, "w");
    if (!f) {
        snprintf(err, errlen, "emulated GPU: cannot write %s", c_path);
        return -1;
    }
    fputs("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n"
          "static const struct { unsigned x; } blockIdx = { 0 }, threadIdx = { 0 }, blockDim = { 1 }, gridDim = { 1 };\n"
          "static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }\n"
          "static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }\n",
          f);
    /* each kernel becomes a plain function, and a wrapper K__w taking
     * cuLaunchKernel's params array is declared ahead of its body */
    const char *key = "extern \"C\" __global__ void ";
    for (const char *s = source; *s;) {
        const char *k = strstr(s, key);
        if (!k) {
            fputs(s, f);
            break;
        }
        fwrite(s, 1, (size_t)(k - s), f);
        const char *name = k + strlen(key), *open = strchr(name, '('), *close = open ? strchr(open, ')') : NULL;
        if (!close) {
            fclose(f);
            snprintf(err, errlen, "emulated GPU: the program's CUDA source is damaged");
            return -1;
        }
        fprintf(f, "void %.*s", (int)(close + 1 - name), name);
        s = close + 1;
        /* parameters after (n, B, h) are pointers, their types up to the '*' */
        fprintf(f, ";\nvoid %.*s__w(void **a)\n{\n    %.*s(*(long long *)a[0], *(long long *)a[1], *(double *)a[2]",
                (int)(open - name), name, (int)(open - name), name);
        int i = 0;
        for (const char *q = open; (q = strstr(q, ", ")) && q < close; q += 2, i++) {
            if (i < 2)
                continue;
            const char *star = q + 2;
            while (star < close && *star != '*')
                star++;
            fprintf(f, ", (%.*s)(uintptr_t)*(unsigned long long *)a[%d]", (int)(star + 1 - (q + 2)), q + 2, i + 1);
        }
        fprintf(f, ");\n}\nvoid %.*s", (int)(close + 1 - name), name);
    }
    if (fclose(f) != 0) {
        snprintf(err, errlen, "emulated GPU: cannot write %s", c_path);
        return -1;
    }
    const char *cc = getenv("EXA_CC");
    snprintf(cmd, sizeof cmd, "%s -std=c11 -O1 -ffp-contract=off -fPIC -shared -w -o '%s' '%s' -lm",
             cc && *cc ? cc : "cc", so, c_path);
    if (system(cmd) != 0) {
        snprintf(err, errlen, "emulated GPU: cannot compile the kernels for the host: %s", cmd);
        return -1;
    }
    return 0;
}
