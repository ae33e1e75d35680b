/* gpu_vs_eval.c - generated GPU code against the reference interpreter.
 *
 * Every graph of tests/codegen (as one program, cuda_program.h) in f32 and
 * f64 runs through the executor (runtime/gpu/gpu_exec.c) at batch sizes 1, 3 and
 * 64 on random data, the workspace filled with NaN, and every output is
 * compared with ir_eval: max |got - reference| / max |reference| below 1e-10
 * (f64) and 1e-4 (f32; the GPU's math library and fused multiply-adds round
 * differently from the CPU's).
 *
 *   gpu_vs_eval              on GPU 0: NVRTC's PTX, cuModuleLoadData, cuBLAS;
 *                            registered only where configure found a GPU,
 *                            so failing to open one is a failure
 *   gpu_vs_eval --emulate DIR  the same kernels and launch tables on the CPU:
 *                            the CUDA source is compiled as C by the system
 *                            compiler (one thread: blockIdx 0, gridDim 1) and
 *                            the executor gets a driver and cuBLAS made of
 *                            plain loops, so the generated kernels, the
 *                            tables and the executor are checked on machines
 *                            without a GPU */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_program.h"
#include "exa/gpu_emu.h"
#include "exa/gpu_exec.h"
#include "ir_eval.h"

#ifndef EXA_CC
#define EXA_CC "cc"
#endif

static unsigned seed = 12345;
static int emulate;
static ExaGpu gpu;

static double rnd(double lo, double hi)
{
    seed = seed * 1103515245u + 12345u;
    return lo + (hi - lo) * ((seed >> 8) & 0xffff) / 65535.0;
}

/* ---- device memory (emulated: host memory, exa/gpu_emu.h) ------------- */

static ExaCuDevicePtr dev_alloc(size_t bytes)
{
    ExaCuDevicePtr p = 0;
    return gpu.api.cuMemAlloc(&p, bytes ? bytes : 1) == 0 ? p : 0;
}

static void dev_free(ExaCuDevicePtr p)
{
    if (p)
        gpu.api.cuMemFree(p);
}

static void to_dev(ExaCuDevicePtr d, const void *h, size_t bytes) { gpu.api.cuMemcpyHtoD(d, h, bytes); }

static void from_dev(void *h, ExaCuDevicePtr d, size_t bytes) { gpu.api.cuMemcpyDtoH(h, d, bytes); }

/* ---- one case ---------------------------------------------------------- */

static int64_t slot_size(const CgCase *c, int slot, int64_t batch)
{
    int64_t n = 1;
    for (int i = 0; i < c->f.nout; i++) {
        const IrOutput *o = &c->f.out[i];
        const IrValue *v = &c->f.v[o->value];
        int64_t end = o->offset + ir_shape_size(&v->shape) * (v->batched ? batch : 1);
        if (o->slot == slot && end > n)
            n = end;
    }
    return n;
}

/* Runs case c at batch B; the worst relative difference, or INFINITY. */
static double run_one(const CgCase *c, ExaGpuExec *x, int fn, int f64, int64_t batch)
{
    int elem = f64 ? 8 : 4;
    char err[512];
    double *theta = malloc((size_t)(c->nweights + 1) * sizeof *theta);
    void *htheta = malloc((size_t)(c->nweights + 1) * 8);
    for (int64_t i = 0; i < c->nweights; i++) {
        theta[i] = c->positive ? rnd(0.5, 2) : rnd(-1, 1);
        if (f64)
            ((double *)htheta)[i] = theta[i];
        else
            ((float *)htheta)[i] = (float)theta[i];
    }
    double *in[CASE_MAX_LEAVES];
    ExaCuDevicePtr din[CASE_MAX_LEAVES], dout[3];
    for (int k = 0; k < c->ninputs; k++) {
        int64_t n = c->classes[k] ? batch : ir_shape_size(&c->in_shape[k]) * batch;
        in[k] = malloc((size_t)n * sizeof(double));
        void *h = malloc((size_t)n * 8);
        for (int64_t i = 0; i < n; i++) {
            in[k][i] = c->classes[k] ? (double)(int)rnd(0, c->classes[k] - 0.001) : c->positive ? rnd(0.5, 2) : rnd(-1, 1);
            if (c->classes[k])
                ((int32_t *)h)[i] = (int32_t)in[k][i];
            else if (f64)
                ((double *)h)[i] = in[k][i];
            else
                ((float *)h)[i] = (float)in[k][i];
        }
        din[k] = dev_alloc((size_t)n * 8);
        to_dev(din[k], h, (size_t)n * (c->classes[k] ? 4 : (size_t)elem));
        free(h);
    }
    ExaCuDevicePtr dtheta = dev_alloc((size_t)(c->nweights + 1) * 8);
    to_dev(dtheta, htheta, (size_t)c->nweights * (size_t)elem);
    void *hout[3];
    for (int s = 0; s < 3; s++) {
        size_t bytes = (size_t)slot_size(c, s, batch) * (size_t)elem;
        hout[s] = calloc(bytes, 1);
        dout[s] = dev_alloc(bytes);
        to_dev(dout[s], hout[s], bytes);
    }
    size_t ws = (size_t)exa_gpu_exec_workspace(x, fn, batch) + 64;
    ExaCuDevicePtr dws = dev_alloc(ws);
    void *nan = malloc(ws);
    memset(nan, 0xff, ws); /* NaN everywhere: a value read before it is written shows */
    to_dev(dws, nan, ws);
    free(nan);
    ExaGpuArgs args = { .batch = batch, .step_size = 0.37, .theta = dtheta, .inputs = din, .outputs = dout,
                        .workspace = dws };
    double worst = 0;
    if (exa_gpu_exec_run(x, fn, &args, err, sizeof err) != 0) {
        printf("FAIL %s: %s\n", c->name, err);
        worst = INFINITY;
    }
    for (int s = 0; s < 3; s++)
        from_dev(hout[s], dout[s], (size_t)slot_size(c, s, batch) * (size_t)elem);
    IrEval e = { .f = &c->f, .params = c->params, .theta = theta, .inputs = (const double *const *)in,
                 .batch = batch, .step_size = 0.37 };
    if (ir_eval(&e) != 0)
        abort();
    for (int i = 0; i < c->f.nout; i++) {
        const IrOutput *o = &c->f.out[i];
        const IrValue *v = &c->f.v[o->value];
        int64_t n = ir_shape_size(&v->shape) * (v->batched ? batch : 1);
        double scale = 0, diff = 0;
        for (int64_t j = 0; j < n; j++)
            scale = fmax(scale, fabs(e.val[o->value][j]));
        for (int64_t j = 0; j < n; j++) {
            double got = f64 ? ((double *)hout[o->slot])[o->offset + j] : ((float *)hout[o->slot])[o->offset + j];
            double d = fabs(got - e.val[o->value][j]);
            diff = d == d ? fmax(diff, d) : INFINITY;
        }
        worst = fmax(worst, scale > 0 ? diff / scale : diff);
    }
    ir_eval_free(&e);
    dev_free(dws);
    dev_free(dtheta);
    for (int s = 0; s < 3; s++) {
        dev_free(dout[s]);
        free(hout[s]);
    }
    for (int k = 0; k < c->ninputs; k++) {
        dev_free(din[k]);
        free(in[k]);
    }
    free(theta);
    free(htheta);
    return worst;
}

int main(int argc, char **argv)
{
    emulate = argc > 2 && strcmp(argv[1], "--emulate") == 0;
    const char *dir = emulate ? argv[2] : ".";
    char err[512];
    if (emulate) {
        if (exa_gpu_emulate(&gpu, 0, "1", err, sizeof err) != 0) {
            printf("FAIL: %s\n", err);
            return 1;
        }
    } else if (exa_gpu_open(&gpu, 0, err, sizeof err) != 0) {
        printf("FAIL: no GPU, although configure found an NVIDIA driver: %s\n", err);
        return 1;
    }
    static CudaProgram prog;
    int failed = 0, ncases = cuda_program_cases(&prog);
    for (int pr = 0; pr < 2; pr++) {
        CgPrecision prec = pr ? CG_F64 : CG_F32;
        const char *tag = pr ? "f64" : "f32";
        double tol = pr ? 1e-10 : 1e-4;
        char *source = NULL, *table = NULL, *ptx = NULL, *error = NULL, so[1024];
        ExaGpuExec x;
        int ok = cuda_program_text(&prog, prec, &source, &table) == 0;
        if (ok && emulate) {
            if (exa_gpu_emu_module(source, dir, tag, so, sizeof so, err, sizeof err) != 0) {
                printf("FAIL %s\n", err);
                ok = 0;
            }
        } else if (ok && cg_cuda_compile(source, NULL, &ptx, &error) != 0) {
            printf("FAIL NVRTC %s: %s\n", tag, error);
            ok = 0;
        }
        if (ok && exa_gpu_exec_load(&x, &gpu, emulate ? so : ptx, table, err, sizeof err) != 0) {
            printf("FAIL %s: %s\n", tag, err);
            ok = 0;
        }
        for (int i = 0; ok && i < ncases; i++) {
            const CgCase *c = &prog.cases[i];
            int fn = exa_gpu_exec_find(&x, c->f.name);
            double worst = fn < 0 ? INFINITY : 0;
            const int64_t batches[] = { 1, 3, 64 };
            for (int b = 0; b < 3 && fn >= 0; b++)
                worst = fmax(worst, run_one(c, &x, fn, pr, batches[b]));
            int good = worst < tol;
            printf("%s %-26s %s  max rel diff %.2e\n", good ? "ok  " : "FAIL", c->name, tag, worst);
            failed += !good;
        }
        if (ok)
            exa_gpu_exec_free(&x);
        else
            failed++;
        free(source);
        free(table);
        free(ptx);
        free(error);
    }
    cuda_program_free(&prog);
    exa_gpu_close(&gpu);
    printf("%d cases, %d failed (%s)\n", ncases, failed, emulate ? "emulated on the CPU" : gpu.name);
    return failed ? 1 : 0;
}
