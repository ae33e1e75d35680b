/* gpu_exec.c - the GPU executor (exa/gpu_exec.h): embedded PTX loaded with
 * cuModuleLoadData, launch tables parsed once and interpreted per call.
 *
 * The table is text rather than a C struct so the compiler and the runtime
 * share no struct layout, and a table can be read in a test or a bug
 * report.  Parsing resolves every kernel once; a run only turns a*B + b
 * sizes and buffer references into numbers and calls cuLaunchKernel or
 * cuBLAS.  Row-major GEMMs become cuBLAS's column-major ones by swapping the
 * operands: C^T = op(B)^T op(A)^T, so (tb, ta, n, m, k, B, ldb, A, lda).
 *
 * PTX comes from exa_cuda_ptx when exac was given --gpu-arch, else from
 * exa_cuda_source through NVRTC at run time (exa/gpu_nvrtc.h).
 *
 * exa_cuda_ptx and exa_cuda_launches are weak references: an executable
 * built without GPU code links and runs on the CPU, and says so when a GPU
 * run is asked of it. */
#include "exa/gpu_exec.h"
#include "exa/kernels.h"
#include "exa/gpu_emu.h"
#include "exa/gpu_nvrtc.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char exa_cuda_ptx[] __attribute__((weak));
extern const char exa_cuda_launches[] __attribute__((weak));
extern const char exa_cuda_source[] __attribute__((weak));

enum { STEP_LAUNCH, STEP_GEMM, STEP_REPEAT, STEP_SUM };

typedef struct Ptr {
    char kind;                     /* w t i o, see gpu_exec.h */
    int64_t x, y, per;
} Ptr;

typedef struct ExaGpuStep {
    int kind;
    int64_t n[2];                  /* launch: work items; gemm: count; repeat: count */
    ExaCuFunction fn;
    Ptr *ptr;
    int nptr;
    int ta, tb, body;              /* gemm flags; repeat: steps in its body */
    int64_t m[2], nn[2], k[2], lda, sa, ldb, sb, ldc, sc;
    Ptr a, b, c;
    double beta;
} ExaGpuStep;

/* ---- parsing ----------------------------------------------------------- */

typedef struct Parser {
    const char *s;
    int line;
    char *err;
    size_t errlen;
    int bad;
} Parser;

static void skip_blank(Parser *p)
{
    while (*p->s == ' ' || *p->s == '\t')
        p->s++;
}

static int bad(Parser *p, const char *what)
{
    if (!p->bad)
        snprintf(p->err, p->errlen, "the program's GPU launch table, line %d: %s", p->line, what);
    p->bad = 1;
    return -1;
}

static void word(Parser *p, char *buf, size_t len)
{
    skip_blank(p);
    size_t n = 0;
    while (*p->s && !isspace((unsigned char)*p->s)) {
        if (n + 1 < len)
            buf[n++] = *p->s;
        p->s++;
    }
    buf[n] = '\0';
    if (n == 0)
        bad(p, "a line ends early");
}

static int64_t num(Parser *p)
{
    skip_blank(p);
    char *end;
    long long v = strtoll(p->s, &end, 10);
    if (end == p->s)
        bad(p, "a number expected");
    p->s = end;
    return v;
}

static Ptr ptr(Parser *p)
{
    Ptr r = { 0 };
    skip_blank(p);
    r.kind = *p->s;
    if (!strchr("wtio", r.kind) || !r.kind || p->s[1] != ':') {
        bad(p, "a buffer reference expected");
        return r;
    }
    p->s += 2;
    int64_t *f[3] = { &r.x, &r.y, &r.per };
    for (int i = 0; i < 3; i++) {
        *f[i] = num(p);
        if (i < 2 && *p->s++ != ':')
            bad(p, "a buffer reference expected");
    }
    return r;
}

static void next_line(Parser *p)
{
    skip_blank(p);
    if (*p->s && *p->s != '\n')
        bad(p, "more on the line than expected");
    while (*p->s && *p->s != '\n')
        p->s++;
    if (*p->s)
        p->s++;
    p->line++;
}

static void parse_step(Parser *p, ExaGpuExec *x, ExaGpuStep *st)
{
    char kind[16], name[256];
    word(p, kind, sizeof kind);
    if (strcmp(kind, "launch") == 0) {
        st->kind = STEP_LAUNCH;
        word(p, name, sizeof name);
        st->n[0] = num(p);
        st->n[1] = num(p);
        st->nptr = (int)num(p);
        if (p->bad || st->nptr < 0 || st->nptr > 64) {
            bad(p, "a launch with a bad argument count");
            return;
        }
        st->ptr = calloc((size_t)st->nptr + 1, sizeof *st->ptr);
        for (int i = 0; i < st->nptr && st->ptr; i++)
            st->ptr[i] = ptr(p);
        ExaCuResult r = p->bad ? 0 : x->gpu->api.cuModuleGetFunction(&st->fn, x->module, name);
        if (!st->ptr || r != 0) {
            char what[320];
            snprintf(what, sizeof what, "kernel %s is not in the program's PTX", name);
            bad(p, what);
        }
    } else if (strcmp(kind, "gemm") == 0) {
        st->kind = STEP_GEMM;
        st->n[0] = num(p), st->n[1] = num(p);
        st->ta = (int)num(p), st->tb = (int)num(p);
        st->m[0] = num(p), st->m[1] = num(p), st->nn[0] = num(p), st->nn[1] = num(p);
        st->k[0] = num(p), st->k[1] = num(p);
        st->a = ptr(p), st->lda = num(p), st->sa = num(p);
        st->b = ptr(p), st->ldb = num(p), st->sb = num(p);
        skip_blank(p);
        char *end;
        st->beta = strtod(p->s, &end);
        if (end == p->s)
            bad(p, "a number expected");
        p->s = end;
        st->c = ptr(p), st->ldc = num(p), st->sc = num(p);
    } else if (strcmp(kind, "sum") == 0) {
        st->kind = STEP_SUM;
        st->n[0] = num(p);
        st->ta = (int)num(p);
        st->c = ptr(p);
        if (!p->bad && st->n[0] < 1)
            bad(p, "a sum of no reals");
    } else if (strcmp(kind, "repeat") == 0) {
        st->kind = STEP_REPEAT;
        st->n[0] = num(p), st->n[1] = num(p);
        st->body = (int)num(p);
    } else {
        bad(p, "an unknown step");
    }
    next_line(p);
}

/* The io lines after a function's steps (codegen_cuda.c, emit_extents). */
static void parse_extents(Parser *p, ExaGpuFn *fn)
{
    while (!p->bad && strncmp(p->s, "io ", 3) == 0) {
        p->s += 3;
        skip_blank(p);
        char what = *p->s++;
        int64_t k = num(p), a = num(p), c = num(p);
        if (what == 't') {
            fn->theta_end = c;
        } else if ((what == 'i' || what == 'o') && k >= 0 && k < 65536) {
            ExaGpuExtent **e = what == 'i' ? &fn->in : &fn->out;
            int *n = what == 'i' ? &fn->nin : &fn->nout;
            if (k >= *n) {
                ExaGpuExtent *grown = realloc(*e, (size_t)(k + 1) * sizeof *grown);
                if (!grown) {
                    bad(p, "out of memory");
                    break;
                }
                memset(grown + *n, 0, (size_t)(k + 1 - *n) * sizeof *grown);
                *e = grown;
                *n = (int)k + 1;
            }
            ExaGpuExtent *x = &(*e)[k];
            /* several values may share a buffer: the furthest end for
             * every B >= 1 (a*B + c >= each line's) */
            x->a = a > x->a ? a : x->a;
            x->c = c > x->c ? c : x->c;
        } else {
            bad(p, "a bad io line");
        }
        next_line(p);
    }
}

int exa_gpu_exec_load(ExaGpuExec *x, ExaGpu *g, const char *ptx, const char *table, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    x->gpu = g;
    ExaCuResult r = g->api.cuModuleLoadData(&x->module, ptx);
    if (r != 0) {
        const char *msg = NULL;
        g->api.cuGetErrorString(r, &msg);
        snprintf(err, errlen, "GPU %s cannot load the program's kernels: %s", g->name, msg ? msg : "unknown error");
        return -1;
    }
    Parser p = { .s = table, .line = 1, .err = err, .errlen = errlen };
    char word1[16], prec[16];
    word(&p, word1, sizeof word1);
    int version = (int)num(&p);
    word(&p, prec, sizeof prec);
    if (p.bad || strcmp(word1, "exa-cuda") != 0 || version != 2
        || (strcmp(prec, "f32") != 0 && strcmp(prec, "f64") != 0)) {
        snprintf(err, errlen, "the program's GPU launch table is not version 2 (rebuild it with this exac)");
        return -1;
    }
    x->elem = prec[1] == '6' ? 8 : 4;
    next_line(&p);
    while (!p.bad && *p.s) {
        char fword[16], name[256];
        word(&p, fword, sizeof fword);
        if (p.bad || strcmp(fword, "function") != 0) {
            bad(&p, "'function' expected");
            break;
        }
        word(&p, name, sizeof name);
        ExaGpuFn *fn = realloc(x->fn, (size_t)(x->nfn + 1) * sizeof *fn);
        if (!fn) {
            bad(&p, "out of memory");
            break;
        }
        x->fn = fn;
        fn = &x->fn[x->nfn++];
        memset(fn, 0, sizeof *fn);
        fn->name = strdup(name);
        fn->nsteps = (int)num(&p);
        fn->nws = (int)num(&p);
        if (p.bad || fn->nsteps < 0 || fn->nws < 0) {
            bad(&p, "a bad function line");
            break;
        }
        fn->ws = calloc(2 * (size_t)fn->nws + 1, sizeof *fn->ws);
        fn->step = calloc((size_t)fn->nsteps + 1, sizeof *fn->step);
        if (!fn->name || !fn->ws || !fn->step) {
            bad(&p, "out of memory");
            break;
        }
        for (int i = 0; i < 2 * fn->nws; i++)
            fn->ws[i] = num(&p);
        next_line(&p);
        for (int s = 0; s < fn->nsteps && !p.bad; s++)
            parse_step(&p, x, &fn->step[s]);
        parse_extents(&p, fn);
    }
    if (p.bad) {
        exa_gpu_exec_free(x);
        return -1;
    }
    return 0;
}

/* The PTX section of exa_cuda_ptx for the newest architecture the device
 * runs (sections begin "//exa-arch NN"), malloc'd; NULL when none fits. */
static char *pick_ptx(ExaGpu *g, const char *all, int *best)
{
    int major = 0, minor = 0;
    g->api.cuDeviceGetAttribute(&major, EXA_CU_CC_MAJOR, g->device);
    g->api.cuDeviceGetAttribute(&minor, EXA_CU_CC_MINOR, g->device);
    int cc = major * 10 + minor;
    const char *from = NULL, *mark = "//exa-arch ";
    *best = -1;
    for (const char *s = strstr(all, mark); s; s = strstr(s + 1, mark)) {
        int arch = atoi(s + strlen(mark));
        if (arch <= cc && arch > *best)
            *best = arch, from = strchr(s, '\n');
    }
    if (!from)
        return NULL;
    from++;
    const char *to = strstr(from, mark);
    size_t len = to ? (size_t)(to - from) : strlen(from);
    char *ptx = malloc(len + 1);
    if (ptx) {
        memcpy(ptx, from, len);
        ptx[len] = '\0';
    }
    return ptx;
}

/* Emulation: the CUDA source compiled for the host in a scratch directory
 * (removed once the object is loaded; the mapping stays). */
static int load_emulated(ExaGpuExec *x, ExaGpu *g, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    char dir[1024], so[1200], c_path[1200];
    snprintf(dir, sizeof dir, "%s/exa-gpu-emu-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "emulated GPU: cannot make a scratch directory in %s", tmp && *tmp ? tmp : "/tmp");
        return -1;
    }
    int rc = exa_gpu_emu_module(exa_cuda_source, dir, "k", so, sizeof so, err, errlen);
    if (rc == 0)
        rc = exa_gpu_exec_load(x, g, so, exa_cuda_launches, err, errlen);
    snprintf(c_path, sizeof c_path, "%s/emu_k.c", dir);
    remove(c_path);
    remove(so);
    rmdir(dir);
    return rc;
}

/* The PTX for the device: the embedded section for the newest architecture
 * it runs (exac --gpu-arch), else exa_cuda_source compiled by NVRTC for the
 * device's own compute capability (exa/gpu_nvrtc.h).  malloc'd, or NULL
 * with err set. */
static char *device_ptx(ExaGpu *g, char *err, size_t errlen)
{
    int arch;
    char *ptx = pick_ptx(g, exa_cuda_ptx, &arch);
    if (ptx)
        return ptx;
    int major = 0, minor = 0, cached;
    g->api.cuDeviceGetAttribute(&major, EXA_CU_CC_MAJOR, g->device);
    g->api.cuDeviceGetAttribute(&minor, EXA_CU_CC_MINOR, g->device);
    int cc = major * 10 + minor;
    char why[512];
    if (exa_gpu_nvrtc_ptx(exa_cuda_source, cc, &ptx, &cached, why, sizeof why) == 0)
        return ptx;
    /* an NVRTC older than the GPU still makes PTX the driver compiles
     * forward: Turing's, the oldest architecture exac's kernels target */
    if (cc > 75 && exa_gpu_nvrtc_ptx(exa_cuda_source, 75, &ptx, &cached, err, errlen) == 0)
        return ptx;
    snprintf(err, errlen, "GPU %s (sm_%d): %s", g->name, cc, why);
    return NULL;
}

/* EXA_GPU_PTX_DUMP=sm_NN:FILE compiles the embedded source through the
 * run-time NVRTC and the cache, as device_ptx does, writes the PTX to FILE
 * and stops the run with one line saying where the PTX came from, before any
 * GPU is looked for: how tests on machines without a GPU check this path
 * (tests/cuda/gpu_jit.sh).  Always -1 with err set. */
static int ptx_dump(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    int arch = strncmp(spec, "sm_", 3) == 0 ? atoi(spec + 3) : 0;
    if (!colon || arch < 50) {
        snprintf(err, errlen, "EXA_GPU_PTX_DUMP: '%s' is not sm_NN:FILE", spec);
        return -1;
    }
    char *ptx = NULL;
    int cached;
    if (exa_gpu_nvrtc_ptx(exa_cuda_source, arch, &ptx, &cached, err, errlen) != 0)
        return -1;
    FILE *f = fopen(colon + 1, "w");
    int ok = f && fputs(ptx, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    free(ptx);
    if (ok)
        snprintf(err, errlen, "EXA_GPU_PTX_DUMP: sm_%d PTX %s, written to %s", arch,
                 cached ? "from the cache" : "compiled by NVRTC", colon + 1);
    else
        snprintf(err, errlen, "EXA_GPU_PTX_DUMP: %s: cannot write it", colon + 1);
    return -1;
}

int exa_gpu_exec_open(ExaGpuExec *x, ExaGpu *g, int ordinal, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    const char *dump = getenv("EXA_GPU_PTX_DUMP");
    if (dump && *dump && exa_cuda_source)
        return ptx_dump(dump, err, errlen);
    if (exa_gpu_open(g, ordinal, err, errlen) != 0)
        return -1;
    if (!exa_cuda_ptx || !exa_cuda_launches || !exa_cuda_source) {
        snprintf(err, errlen, "this program was compiled without GPU code (exac --gpu-arch none, or an op "
                              "without a CUDA form); recompile it, or use --device cpu");
        exa_gpu_close(g);
        return -1;
    }
    int rc;
    if (g->emulated) {
        rc = load_emulated(x, g, err, errlen);
    } else {
        char *ptx = device_ptx(g, err, errlen);
        rc = ptx ? exa_gpu_exec_load(x, g, ptx, exa_cuda_launches, err, errlen) : -1;
        free(ptx);
    }
    if (rc != 0) {
        exa_gpu_close(g);
        return -1;
    }
    return 0;
}

int64_t exa_gpu_exec_input_bytes(const ExaGpuExec *x, int fn, int k, int64_t batch)
{
    if (k < 0 || k >= x->fn[fn].nin)
        return 0;
    return x->fn[fn].in[k].a * batch + x->fn[fn].in[k].c;
}

int64_t exa_gpu_exec_output_reals(const ExaGpuExec *x, int fn, int slot, int64_t batch)
{
    if (slot < 0 || slot >= x->fn[fn].nout)
        return 0;
    return x->fn[fn].out[slot].a * batch + x->fn[fn].out[slot].c;
}

int exa_gpu_exec_kernel(ExaGpuExec *x, const char *name, int64_t n, const ExaCuDevicePtr *ptrs, int nptr, char *err,
                        size_t errlen)
{
    ExaCuFunction f;
    ExaCuResult res = x->gpu->api.cuModuleGetFunction(&f, x->module, name);
    if (res != 0) {
        snprintf(err, errlen, "GPU %s: kernel %s is not in the program's code (rebuild it with this exac)",
                 x->gpu->name, name);
        return -1;
    }
    long long nn = n, B = 0;
    double h = 0;
    ExaCuDevicePtr p[8];
    void *params[3 + 8] = { &nn, &B, &h };
    for (int i = 0; i < nptr && i < 8; i++) {
        p[i] = ptrs[i];
        params[3 + i] = &p[i];
    }
    long long blocks = (n + 255) / 256;
    unsigned grid = (unsigned)(blocks < 1 ? 1 : blocks < 65535 ? blocks : 65535);
    res = x->gpu->api.cuLaunchKernel(f, grid, 1, 1, 256, 1, 1, 0, NULL, params, NULL);
    if (res != 0) {
        const char *msg = NULL;
        x->gpu->api.cuGetErrorString(res, &msg);
        snprintf(err, errlen, "GPU %s: %s: %s", x->gpu->name, name, msg ? msg : "unknown error");
        return -1;
    }
    return 0;
}

int exa_gpu_exec_find(const ExaGpuExec *x, const char *name)
{
    for (int i = 0; i < x->nfn; i++)
        if (strcmp(x->fn[i].name, name) == 0)
            return i;
    return -1;
}

int64_t exa_gpu_exec_workspace(const ExaGpuExec *x, int fn, int64_t batch)
{
    int64_t ws = 0;
    for (int i = 0; i < x->fn[fn].nws; i++) {
        int64_t end = x->fn[fn].ws[2 * i] * batch + x->fn[fn].ws[2 * i + 1];
        ws = end > ws ? end : ws;
    }
    return ws;
}

void exa_gpu_exec_free(ExaGpuExec *x)
{
    for (int i = 0; i < x->nfn; i++) {
        for (int s = 0; x->fn[i].step && s < x->fn[i].nsteps; s++)
            free(x->fn[i].step[s].ptr);
        free(x->fn[i].step);
        free(x->fn[i].ws);
        free(x->fn[i].in);
        free(x->fn[i].out);
        free(x->fn[i].name);
    }
    free(x->fn);
    x->fn = NULL;
    x->nfn = 0;
}

/* ---- running ----------------------------------------------------------- */

typedef struct Run {
    ExaGpuExec *x;
    const ExaGpuArgs *a;
    char *err;
    size_t errlen;
} Run;

static ExaCuDevicePtr address(const Run *r, const Ptr *p, int64_t iter)
{
    int64_t elem = r->x->elem, B = r->a->batch, moved = p->per * iter * elem;
    switch (p->kind) {
    case 'w': return r->a->workspace + (ExaCuDevicePtr)(((p->x * B + p->y + 63) & ~(int64_t)63) + moved);
    case 't': return r->a->theta + (ExaCuDevicePtr)(p->y * elem + moved);
    case 'i': return r->a->inputs[p->x] + (ExaCuDevicePtr)moved;
    default: return r->a->outputs[p->x] + (ExaCuDevicePtr)(p->y * elem + moved);
    }
}

static int cu_fail(const Run *r, ExaCuResult res, const char *what)
{
    const char *msg = NULL;
    r->x->gpu->api.cuGetErrorString(res, &msg);
    snprintf(r->err, r->errlen, "GPU %s: %s: %s", r->x->gpu->name, what, msg ? msg : "unknown error");
    return -1;
}

static int launch(const Run *r, const ExaGpuStep *st, int64_t iter)
{
    long long n = st->n[0] * r->a->batch + st->n[1], B = r->a->batch;
    double h = r->a->step_size;
    if (n <= 0)
        return 0;
    ExaCuDevicePtr ptrs[64];
    void *params[3 + 64] = { &n, &B, &h };
    for (int i = 0; i < st->nptr; i++) {
        ptrs[i] = address(r, &st->ptr[i], iter);
        params[3 + i] = &ptrs[i];
    }
    long long blocks = (n + 255) / 256;
    unsigned grid = (unsigned)(blocks < 65535 ? blocks : 65535); /* the loops stride over the rest */
    ExaCuResult res = r->x->gpu->api.cuLaunchKernel(st->fn, grid, 1, 1, 256, 1, 1, 0, NULL, params, NULL);
    return res ? cu_fail(r, res, "a kernel launch failed") : 0;
}

static int gemm(const Run *r, const ExaGpuStep *st, int64_t iter)
{
    const ExaGpuApi *api = &r->x->gpu->api;
    int64_t B = r->a->batch, count = st->n[0] * B + st->n[1];
    int m = (int)(st->m[0] * B + st->m[1]), n = (int)(st->nn[0] * B + st->nn[1]), k = (int)(st->k[0] * B + st->k[1]);
    if (m == 0 || n == 0)
        return 0;
    int lda = st->lda > 0 ? (int)st->lda : 1, ldb = st->ldb > 0 ? (int)st->ldb : 1, ldc = st->ldc > 0 ? (int)st->ldc : 1;
    int64_t elem = r->x->elem;
    ExaCuDevicePtr a = address(r, &st->a, iter), b = address(r, &st->b, iter), c = address(r, &st->c, iter);
    /* separate results: one strided batched call (a plan's loop of small
     * GEMMs); summed into one C (sc == 0): one call each, beta 1 after the first */
    if (count > 1 && st->sc != 0 && count <= INT32_MAX
        && (elem == 8 ? api->cublasDgemmStridedBatched != NULL : api->cublasSgemmStridedBatched != NULL)) {
        int res;
        if (elem == 8) {
            double one = 1, beta = st->beta;
            res = api->cublasDgemmStridedBatched(r->x->gpu->blas, st->tb, st->ta, n, m, k, &one,
                                                 (const double *)(uintptr_t)b, ldb, st->sb,
                                                 (const double *)(uintptr_t)a, lda, st->sa, &beta,
                                                 (double *)(uintptr_t)c, ldc, st->sc, (int)count);
        } else {
            float one = 1, beta = (float)st->beta;
            res = api->cublasSgemmStridedBatched(r->x->gpu->blas, st->tb, st->ta, n, m, k, &one,
                                                 (const float *)(uintptr_t)b, ldb, st->sb,
                                                 (const float *)(uintptr_t)a, lda, st->sa, &beta,
                                                 (float *)(uintptr_t)c, ldc, st->sc, (int)count);
        }
        if (res != 0) {
            snprintf(r->err, r->errlen, "GPU %s: cuBLAS batched GEMM failed (status %d)", r->x->gpu->name, res);
            return -1;
        }
        return 0;
    }
    for (int64_t i = 0; i < count; i++) {
        double beta = st->sc == 0 && i > 0 ? 1 : st->beta;
        ExaCuDevicePtr ai = a + (ExaCuDevicePtr)(i * st->sa * elem), bi = b + (ExaCuDevicePtr)(i * st->sb * elem);
        ExaCuDevicePtr ci = c + (ExaCuDevicePtr)(i * st->sc * elem);
        int res;
        if (elem == 8) {
            double one = 1;
            res = api->cublasDgemm(r->x->gpu->blas, st->tb, st->ta, n, m, k, &one, (const double *)(uintptr_t)bi,
                                   ldb, (const double *)(uintptr_t)ai, lda, &beta, (double *)(uintptr_t)ci, ldc);
        } else {
            float one = 1, fb = (float)beta;
            res = api->cublasSgemm(r->x->gpu->blas, st->tb, st->ta, n, m, k, &one, (const float *)(uintptr_t)bi,
                                   ldb, (const float *)(uintptr_t)ai, lda, &fb, (float *)(uintptr_t)ci, ldc);
        }
        if (res != 0) {
            snprintf(r->err, r->errlen, "GPU %s: cuBLAS GEMM failed (status %d)", r->x->gpu->name, res);
            return -1;
        }
    }
    return 0;
}

/* batch_mean's statistics summed over the ranks sharing the batch: through
 * the host, where the communicator is (a few reals per call) */
static int sum(const Run *r, const ExaGpuStep *st, int64_t iter)
{
    const ExaGpuApi *api = &r->x->gpu->api;
    int64_t elem = r->x->elem, n = st->n[0];
    void *host = malloc((size_t)(n * elem));
    ExaCuDevicePtr at = address(r, &st->c, iter);
    if (!host) {
        snprintf(r->err, r->errlen, "GPU %s: out of host memory for a batch statistic", r->x->gpu->name);
        return -1;
    }
    ExaCuResult res = api->cuCtxSynchronize();
    if (!res)
        res = api->cuMemcpyDtoH(host, at, (size_t)(n * elem));
    if (!res) {
        exa_batch_sum(host, n, (int)elem, r->a->batch, st->ta);
        res = api->cuMemcpyHtoD(at, host, (size_t)(n * elem));
    }
    free(host);
    return res ? cu_fail(r, res, "copying a batch statistic") : 0;
}

static int step(const Run *r, const ExaGpuStep *st, int64_t iter)
{
    return st->kind == STEP_LAUNCH ? launch(r, st, iter) : st->kind == STEP_SUM ? sum(r, st, iter) : gemm(r, st, iter);
}

int exa_gpu_exec_run(ExaGpuExec *x, int fn, const ExaGpuArgs *a, char *err, size_t errlen)
{
    if (exa_gpu_exec_enqueue(x, fn, a, err, errlen) != 0)
        return -1;
    ExaCuResult res = x->gpu->api.cuCtxSynchronize();
    Run r = { x, a, err, errlen };
    return res ? cu_fail(&r, res, x->fn[fn].name) : 0;
}

int exa_gpu_exec_enqueue(ExaGpuExec *x, int fn, const ExaGpuArgs *a, char *err, size_t errlen)
{
    Run r = { x, a, err, errlen };
    const ExaGpuFn *f = &x->fn[fn];
    for (int s = 0; s < f->nsteps; s++) {
        const ExaGpuStep *st = &f->step[s];
        if (st->kind != STEP_REPEAT) {
            if (step(&r, st, 0) != 0)
                return -1;
            continue;
        }
        int64_t count = st->n[0] * a->batch + st->n[1];
        int body = st->body < f->nsteps - s ? st->body : f->nsteps - s - 1;
        for (int64_t it = 0; it < count; it++)
            for (int b = 1; b <= body; b++)
                if (step(&r, &f->step[s + b], it) != 0)
                    return -1;
        s += body;
    }
    return 0;
}
