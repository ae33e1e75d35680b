/* gpu_train.c - training on the GPU (exa/gpu_train.h): the device buffers of
 * a run, the resident data-parallel step and the host-copy calls. */
#include "exa/gpu_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/gpu_exec.h"
#include "exa/reduce.h"

/* A device buffer that grows (contents dropped) to what a call needs. */
typedef struct DevBuf {
    ExaCuDevicePtr p;
    int64_t cap;
} DevBuf;

enum { NK = 4, K_REALS = 8 }; /* constant slots per step: weight, clip, update */

struct ExaGpuRun {
    ExaRun *r;
    ExaGpu gpu;
    ExaGpuExec x;
    int loaded;
    int fn_grad;                   /* loss_grad in the launch table */
    /* resident state */
    DevBuf theta, grad, state[2], in[EXA_MAX_INPUTS], loss, acc, ws, k;
    void *state_host[2];
    int dev_current;               /* the device holds the latest parameters */
    int host_stale;                /* the host does not */
    /* pinned staging: the mini-batch's inputs, two buffers in turn, and the
     * step's constants */
    void *pinned[2];
    int64_t pinned_cap[2];
    int which;
    double *kh;                    /* NK * K_REALS pinned doubles */
    int64_t ln, lb;                /* this rank's rows of the step in flight */
    void *loss_host;
    int64_t loss_cap;
    /* host-copy calls */
    DevBuf c_theta, c_ws, *c_io;   /* the io buffers: inputs, then outputs */
    int nc_io;
    ExaCuDevicePtr *c_ptr;
};

static void die(ExaGpuRun *d, const char *what, ExaCuResult res)
{
    const char *msg = NULL;
    if (d->gpu.api.cuGetErrorString)
        d->gpu.api.cuGetErrorString(res, &msg);
    exa_comm_abort(&d->r->world, "--device gpu: GPU %s: %s: %s", d->gpu.name, what, msg ? msg : "unknown error");
}

#define CU(d, call, what)                          \
    do {                                           \
        ExaCuResult res_ = (call);                 \
        if (res_ != 0)                             \
            die(d, what, res_);                    \
    } while (0)

static ExaCuDevicePtr grow(ExaGpuRun *d, DevBuf *b, int64_t bytes)
{
    if (bytes > b->cap) {
        if (b->p)
            d->gpu.api.cuMemFree(b->p);
        b->p = 0;
        b->cap = 0;
        CU(d, d->gpu.api.cuMemAlloc(&b->p, (size_t)bytes), "out of device memory");
        b->cap = bytes;
    }
    return b->p;
}

static void release(ExaGpuRun *d, DevBuf *b)
{
    if (b->p)
        d->gpu.api.cuMemFree(b->p);
    b->p = 0;
    b->cap = 0;
}

ExaGpuRun *exa_gpu_run_open(ExaRun *r, char *err, size_t errlen)
{
    ExaGpuRun *d = calloc(1, sizeof *d);
    int failed = d == NULL;
    if (failed)
        snprintf(err, errlen, "out of memory");
    else
        d->r = r;
    int ordinal = exa_comm_node_rank(&r->world);
    if (!failed && exa_gpu_exec_open(&d->x, &d->gpu, ordinal, err, errlen) != 0)
        failed = 1;
    else if (!failed)
        d->loaded = 1;
    /* every rank opened its GPU, or none trains on one */
    if (exa_comm_max_int(&r->world, failed) != 0) {
        if (!failed)
            snprintf(err, errlen, "another rank could not open its GPU");
        exa_gpu_run_close(d);
        return NULL;
    }
    return d;
}

void exa_gpu_run_close(ExaGpuRun *d)
{
    if (!d)
        return;
    if (d->loaded) {
        DevBuf *all[] = { &d->theta, &d->grad, &d->state[0], &d->state[1], &d->loss, &d->acc, &d->ws, &d->k,
                          &d->c_theta, &d->c_ws };
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            release(d, all[i]);
        for (int i = 0; i < EXA_MAX_INPUTS; i++)
            release(d, &d->in[i]);
        for (int i = 0; i < d->nc_io; i++)
            release(d, &d->c_io[i]);
        for (int i = 0; i < 2; i++)
            if (d->pinned[i])
                d->gpu.api.cuMemFreeHost(d->pinned[i]);
        if (d->kh)
            d->gpu.api.cuMemFreeHost(d->kh);
        exa_gpu_exec_free(&d->x);
        exa_gpu_close(&d->gpu);
    }
    free(d->loss_host);
    free(d->c_io);
    free(d->c_ptr);
    free(d);
}

const char *exa_gpu_run_describe(const ExaGpuRun *d) { return d->gpu.name; }

ExaGpu *exa_gpu_run_device(ExaGpuRun *d) { return &d->gpu; }

static int find(ExaGpuRun *d, const char *name)
{
    int fi = exa_gpu_exec_find(&d->x, name);
    if (fi < 0)
        exa_comm_abort(&d->r->world, "--device gpu: the program's GPU code has no function %s (rebuild it with "
                                     "this exac)", name);
    return fi;
}

/* ---- host copies ----------------------------------------------------------- */

void exa_gpu_run_call(ExaGpuRun *d, const ExaFunction *fn, const ExaArgs *a)
{
    const ExaGpuApi *api = &d->gpu.api;
    ExaRun *r = d->r;
    exa_gpu_run_to_host(d);
    int fi = find(d, fn->name);
    const ExaGpuFn *f = &d->x.fn[fi];
    int64_t B = a->batch, elem = r->elem;
    char err[512];
    int nio = f->nin + f->nout;
    if (nio > d->nc_io) {
        DevBuf *io = realloc(d->c_io, (size_t)nio * sizeof *io);
        ExaCuDevicePtr *ptr = io ? realloc(d->c_ptr, (size_t)nio * sizeof *ptr) : NULL;
        if (io)
            d->c_io = io;
        if (!ptr)
            exa_comm_abort(&r->world, "out of memory");
        d->c_ptr = ptr;
        memset(io + d->nc_io, 0, (size_t)(nio - d->nc_io) * sizeof *io);
        d->nc_io = nio;
    }
    ExaCuDevicePtr *in = d->c_ptr, *out = d->c_ptr + f->nin;
    ExaCuDevicePtr theta = grow(d, &d->c_theta, (f->theta_end + 1) * elem);
    CU(d, api->cuMemcpyHtoD(theta, a->theta, (size_t)(f->theta_end * elem)), "copying the parameters");
    for (int k = 0; k < f->nin; k++) {
        int64_t bytes = exa_gpu_exec_input_bytes(&d->x, fi, k, B);
        in[k] = grow(d, &d->c_io[k], bytes + 64);
        if (bytes > 0 && a->inputs[k])
            CU(d, api->cuMemcpyHtoD(in[k], a->inputs[k], (size_t)bytes), "copying an input");
    }
    /* outputs go up first: a function writes parts of a slot (a stage's
     * gradient), and the rest must come back as it was */
    for (int s = 0; s < f->nout; s++) {
        int64_t bytes = exa_gpu_exec_output_reals(&d->x, fi, s, B) * elem;
        out[s] = grow(d, &d->c_io[f->nin + s], bytes + 64);
        if (bytes > 0 && a->outputs[s])
            CU(d, api->cuMemcpyHtoD(out[s], a->outputs[s], (size_t)bytes), "copying an output");
    }
    ExaCuDevicePtr ws = grow(d, &d->c_ws, exa_gpu_exec_workspace(&d->x, fi, B) + 64);
    ExaGpuArgs g = { .batch = B, .step_size = a->step_size, .theta = theta, .inputs = in, .outputs = out,
                     .workspace = ws };
    if (exa_gpu_exec_enqueue(&d->x, fi, &g, err, sizeof err) != 0)
        exa_comm_abort(&r->world, "--device gpu: %s", err);
    for (int s = 0; s < f->nout; s++) {
        int64_t bytes = exa_gpu_exec_output_reals(&d->x, fi, s, B) * elem;
        if (bytes > 0 && a->outputs[s])
            CU(d, api->cuMemcpyDtoH(a->outputs[s], out[s], (size_t)bytes), fn->name);
    }
}

/* ---- the resident step ------------------------------------------------------ */

/* Bytes of one row of input i of the training set (as run_model.c's reserve). */
static int64_t row_bytes(const ExaRun *r, int i)
{
    const ExaDataInfo *set = r->train_info;
    if (i == set->nfields)
        return r->prog->dropout_size * r->elem;
    int reals = 0;
    for (int j = 0; j < i; j++)
        reals += !set->fields[j].classes;
    return set->fields[i].classes ? 4 : (reals == 0 ? r->train.features : r->train.targets) * r->elem;
}

static void *pinned(ExaGpuRun *d, int which, int64_t bytes)
{
    if (bytes > d->pinned_cap[which]) {
        if (d->pinned[which])
            d->gpu.api.cuMemFreeHost(d->pinned[which]);
        d->pinned[which] = NULL;
        d->pinned_cap[which] = 0;
        CU(d, d->gpu.api.cuMemAllocHost(&d->pinned[which], (size_t)bytes), "out of pinned host memory");
        d->pinned_cap[which] = bytes;
    }
    return d->pinned[which];
}

/* Step constants: slot s of the pinned block, queued to the device's slot s. */
static ExaCuDevicePtr constants(ExaGpuRun *d, int slot, const double *k, int nk)
{
    if (!d->kh) {
        void *p = NULL;
        CU(d, d->gpu.api.cuMemAllocHost(&p, NK * K_REALS * sizeof(double)), "out of pinned host memory");
        d->kh = p;
    }
    ExaCuDevicePtr dk = grow(d, &d->k, NK * K_REALS * sizeof(double)) + (ExaCuDevicePtr)(slot * K_REALS * sizeof(double));
    memcpy(d->kh + slot * K_REALS, k, (size_t)nk * sizeof(double));
    CU(d, d->gpu.api.cuMemcpyHtoDAsync(dk, d->kh + slot * K_REALS, (size_t)nk * sizeof(double), NULL),
       "copying the step's constants");
    return dk;
}

static void kernel(ExaGpuRun *d, const char *name, int64_t n, const ExaCuDevicePtr *p, int np)
{
    char err[512];
    if (exa_gpu_exec_kernel(&d->x, name, n, p, np, err, sizeof err) != 0)
        exa_comm_abort(&d->r->world, "--device gpu: %s", err);
}

/* The parameters (and any optimiser state known) to the device. */
static void to_device(ExaGpuRun *d)
{
    ExaRun *r = d->r;
    size_t bytes = (size_t)r->n * (size_t)r->elem;
    grow(d, &d->theta, (int64_t)bytes + 64);
    grow(d, &d->grad, (int64_t)bytes + 64);
    CU(d, d->gpu.api.cuMemcpyHtoD(d->theta.p, r->theta, bytes), "copying the parameters");
    for (int i = 0; i < 2; i++)
        if (d->state_host[i])
            CU(d, d->gpu.api.cuMemcpyHtoD(grow(d, &d->state[i], (int64_t)bytes + 64), d->state_host[i], bytes),
               "copying the optimiser's state");
    d->dev_current = 1;
}

void exa_gpu_run_grad(ExaGpuRun *d, ExaReducer *red, int64_t begin, int64_t count)
{
    ExaRun *r = d->r;
    const ExaComm *comm = exa_reducer_comm(red);
    const ExaGpuApi *api = &d->gpu.api;
    if (d->fn_grad <= 0)
        d->fn_grad = find(d, r->grad_fn->name) + 1; /* stored + 1: 0 is "not looked up" */
    int fi = d->fn_grad - 1;
    if (!d->dev_current)
        to_device(d);
    int64_t lb = 0, ln = count;
    exa_data_shard(count, comm->rank, comm->size, &lb, &ln);
    d->lb = lb, d->ln = ln;
    size_t nbytes = (size_t)r->n * (size_t)r->elem;
    if (ln == 0) {
        CU(d, api->cuMemsetD8(d->grad.p, 0, nbytes), "clearing the gradient");
    } else {
        /* the rows into this step's pinned buffer, inputs one after another
         * (64-byte aligned), then one queued copy each */
        void *host[EXA_MAX_INPUTS];
        int64_t at[EXA_MAX_INPUTS + 1], total = 0;
        for (int i = 0; i < r->nin; i++) {
            at[i] = total;
            total += (row_bytes(r, i) * ln + 63) / 64 * 64;
        }
        char *buf = pinned(d, d->which, total + 64);
        for (int i = 0; i < r->nin; i++)
            host[i] = buf + at[i];
        exa_run_gather(r, &r->train, r->train_info, r->order, begin + lb, ln, host);
        if (r->prog->dropout_size > 0)
            exa_run_dropout_masks(r, r->order + begin + lb, ln, 1, host[r->train_info->nfields]);
        ExaCuDevicePtr in[EXA_MAX_INPUTS];
        for (int i = 0; i < r->nin; i++) {
            int64_t bytes = row_bytes(r, i) * ln;
            in[i] = grow(d, &d->in[i], bytes + 64);
            CU(d, api->cuMemcpyHtoDAsync(in[i], host[i], (size_t)bytes, NULL), "copying the mini-batch");
        }
        d->which ^= 1;
        int64_t out_size = r->out_size ? r->out_size : 1;
        ExaCuDevicePtr out[3] = { grow(d, &d->loss, ln * r->elem + 64), grow(d, &d->acc, ln * out_size * r->elem + 64),
                                  d->grad.p };
        ExaGpuArgs a = { .batch = ln, .step_size = 0, .theta = d->theta.p, .inputs = in, .outputs = out,
                         .workspace = grow(d, &d->ws, exa_gpu_exec_workspace(&d->x, fi, ln) + 64) };
        char err[512];
        if (exa_gpu_exec_enqueue(&d->x, fi, &a, err, sizeof err) != 0)
            exa_comm_abort(&r->world, "--device gpu: %s", err);
    }
    if (comm->size > 1) { /* weight each rank's mean by its share of the rows, then sum */
        double w = (double)ln / (double)count;
        ExaCuDevicePtr p[2] = { d->grad.p, constants(d, 0, &w, 1) };
        kernel(d, "exa_scale", r->n, p, 2);
        /* NCCL: queued on the device; MPI: through r->grad, a wait */
        exa_reducer_sum_device(red, d->grad.p, r->grad, (size_t)r->n, (ExaReal)r->elem);
    }
}

void exa_gpu_run_update(ExaGpuRun *d, int kind, const double *k, int nk, void *state0, void *state1)
{
    ExaRun *r = d->r;
    size_t bytes = (size_t)r->n * (size_t)r->elem;
    void *hs[2] = { state0, state1 };
    for (int i = 0; i < 2; i++) /* a state array seen for the first time goes up as it is */
        if (hs[i] && d->state_host[i] != hs[i]) {
            d->state_host[i] = hs[i];
            CU(d, d->gpu.api.cuMemcpyHtoD(grow(d, &d->state[i], (int64_t)bytes + 64), hs[i], bytes),
               "copying the optimiser's state");
        }
    if (r->clip > 0) {
        double c[2] = { r->clip, (double)r->n };
        ExaCuDevicePtr p[2] = { d->grad.p, constants(d, 1, c, 2) };
        kernel(d, "exa_clip", 1, p, 2);
    }
    ExaCuDevicePtr dk = constants(d, 2, k, nk);
    /* SGD without momentum has no buffer: the grad stands in (never read) */
    ExaCuDevicePtr s0 = state0 ? d->state[0].p : d->grad.p;
    if (kind == EXA_GPU_SGD) {
        ExaCuDevicePtr p[4] = { d->theta.p, d->grad.p, s0, dk };
        kernel(d, "exa_opt_sgd", r->n, p, 4);
    } else {
        ExaCuDevicePtr p[5] = { d->theta.p, d->grad.p, s0, d->state[1].p, dk };
        kernel(d, "exa_opt_adam", r->n, p, 5);
    }
    d->host_stale = 1;
}

double exa_gpu_run_finish(ExaGpuRun *d, const ExaComm *comm, int64_t count)
{
    ExaRun *r = d->r;
    double sum = 0;
    if (d->ln > 0) { /* the step's one wait: its per-sample losses */
        if (d->ln * r->elem > d->loss_cap) {
            free(d->loss_host);
            d->loss_cap = d->ln * r->elem;
            if (!(d->loss_host = malloc((size_t)d->loss_cap)))
                exa_comm_abort(&r->world, "out of memory");
        }
        CU(d, d->gpu.api.cuMemcpyDtoH(d->loss_host, d->loss.p, (size_t)(d->ln * r->elem)), "the training step");
        for (int64_t i = 0; i < d->ln; i++)
            sum += exa_get(r, d->loss_host, i);
    } else {
        CU(d, d->gpu.api.cuCtxSynchronize(), "the training step");
    }
    if (comm->size > 1)
        sum = exa_comm_sum_double(comm, sum);
    return sum / (double)count;
}

void exa_gpu_run_to_host(ExaGpuRun *d)
{
    if (!d || !d->host_stale)
        return;
    ExaRun *r = d->r;
    size_t bytes = (size_t)r->n * (size_t)r->elem;
    CU(d, d->gpu.api.cuMemcpyDtoH(r->theta, d->theta.p, bytes), "copying the parameters back");
    for (int i = 0; i < 2; i++)
        if (d->state_host[i])
            CU(d, d->gpu.api.cuMemcpyDtoH(d->state_host[i], d->state[i].p, bytes), "copying the optimiser's state back");
    d->host_stale = 0;
}

void exa_gpu_run_invalidate(ExaGpuRun *d)
{
    if (d) {
        d->dev_current = 0;
        d->host_stale = 0;
    }
}
