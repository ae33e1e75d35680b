/* cg_eval.c - generated code against the reference interpreter.
 *
 * For every case of cg_cases.c, in f64 and f32: cg_llvm_emit writes an
 * object file (the real path exac takes), the system C compiler links it into
 * a shared object, and dlopen loads it; its kernel calls resolve to libexa in
 * this executable (linked with exported symbols).  The function from
 * exa_functions[] runs at batch sizes 1, 3 and 64 on random data, and in f64
 * at 3001 on 3 threads (so that the fused loops and the row-wise kernels
 * split their rows over tasks of uneven length: exa_parallel_chunk), with the
 * workspace filled with NaN so a value read before it is written shows, and
 * every output is compared with ir_eval:
 *     max |generated - reference| / max |reference|  (per output tensor)
 * below 1e-12 in f64 and 1e-5 in f32.  workspace(B) must equal the plan's.
 * ExaArgs.ready is set: each uniform output (a gradient) must be reported
 * exactly once, and final when reported: the callback keeps a copy and fills
 * the range with NaN, so a later write shows as a range no longer NaN and a
 * later read as NaN in another output; the copy is put back to compare.
 * Then with ExaArgs.sgd set (sgd_check): the weights stepped in their GEMMs
 * against the reference gradient, as many as expected_sgd says.
 * Prints the worst difference per case and precision; exits 1 on a failure.
 *
 * usage: cg_eval WORKDIR [case-name]; CG_EVAL_VERBOSE=1 prints every output
 * at every batch size, CG_EVAL_SEED=n draws other random data. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cases.h"
#include "codegen_llvm.h"
#include "exa/abi.h"
#include "exa/kernels.h"
#include "exa/parallel.h"
#include "fuse.h"
#include "ir_eval.h"

#ifndef EXA_CC
#define EXA_CC "cc"
#endif

/* Keeps libexa's kernels of both types (one object each) in this
 * executable for the generated code. */
void (*volatile cg_eval_keep_f64)(int64_t, double, double *) = exa_k_fill_f64;
void (*volatile cg_eval_keep_f32)(int64_t, float, float *) = exa_k_fill_f32;

static unsigned seed = 12345;

static double rnd(double lo, double hi)
{
    seed = seed * 1103515245u + 12345u;
    return lo + (hi - lo) * ((seed >> 8) & 0xffff) / 65535.0;
}

typedef struct Loaded {
    void *so;
    const ExaFunction *fn;
} Loaded;

static int load(const CgCase *c, CgPrecision prec, const char *dir, int index, Loaded *l)
{
    char obj[1024], so[1024], cmd[3072];
    snprintf(obj, sizeof obj, "%s/case%d_%s.o", dir, index, prec == CG_F64 ? "f64" : "f32");
    snprintf(so, sizeof so, "%s/case%d_%s.so", dir, index, prec == CG_F64 ? "f64" : "f32");
    char *error = NULL;
    if (cg_llvm_emit(&c->f, 1, c->params, c->nparams, "program test\n", prec, obj, NULL, NULL, &error) != 0) {
        printf("FAIL %-26s codegen: %s\n", c->name, error);
        free(error);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "%s -shared -o '%s' '%s'", EXA_CC, so, obj);
    if (system(cmd) != 0) {
        printf("FAIL %-26s cannot link: %s\n", c->name, cmd);
        return -1;
    }
    l->so = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!l->so) {
        printf("FAIL %-26s dlopen: %s\n", c->name, dlerror());
        return -1;
    }
    l->fn = dlsym(l->so, "exa_functions");
    const char *program = dlsym(l->so, "exa_program");
    if (!l->fn || !program || strcmp(l->fn[0].name, "f") != 0 || l->fn[1].name != NULL ||
        strcmp(program, "program test\n") != 0) {
        printf("FAIL %-26s exa_functions/exa_program wrong\n", c->name);
        return -1;
    }
    return 0;
}

/* Elements of output slot s for batch B (the largest extent written there). */
static int64_t slot_size(const CgCase *c, int slot, int64_t batch)
{
    int64_t n = 1;
    for (int i = 0; i < c->f.nout; i++) {
        const IrOutput *o = &c->f.out[i];
        if (o->slot != slot)
            continue;
        const IrValue *v = &c->f.v[o->value];
        int64_t end = o->offset + ir_shape_size(&v->shape) * (v->batched ? batch : 1);
        n = end > n ? end : n;
    }
    return n;
}

/* The ready callback's record of one call (ExaArgs.ready). */
typedef struct Ready {
    const CgCase *c;
    void **out;
    void *copy[3];
    int elem;
    int *reported;        /* per output: times reported */
    int bad;              /* a range that is no output's */
} Ready;

static void on_ready(void *ctx, int slot, int64_t offset, int64_t count)
{
    Ready *r = ctx;
    int found = 0;
    for (int i = 0; i < r->c->f.nout; i++) {
        const IrOutput *o = &r->c->f.out[i];
        const IrValue *v = &r->c->f.v[o->value];
        if (o->slot == slot && o->offset == offset && !v->batched && ir_shape_size(&v->shape) == count) {
            r->reported[i]++;
            found = 1;
        }
    }
    if (!found || slot < 0 || slot > 2) {
        r->bad = 1;
        return;
    }
    char *at = (char *)r->out[slot] + offset * r->elem;
    memcpy((char *)r->copy[slot] + offset * r->elem, at, (size_t)(count * r->elem));
    memset(at, 0xff, (size_t)(count * r->elem)); /* NaN */
}

/* Each uniform output reported once, untouched since; the copies put back. */
static int ready_check(Ready *r)
{
    int ok = !r->bad;
    for (int i = 0; i < r->c->f.nout; i++) {
        const IrOutput *o = &r->c->f.out[i];
        const IrValue *v = &r->c->f.v[o->value];
        if (v->batched)
            continue;
        int64_t n = ir_shape_size(&v->shape) * r->elem;
        const unsigned char *at = (const unsigned char *)r->out[o->slot] + o->offset * r->elem;
        for (int64_t j = 0; j < n && r->reported[i] == 1; j++)
            if (at[j] != 0xff) {
                fprintf(stderr, "output %d (slot %d) written after it was reported final\n", i, o->slot);
                ok = 0;
                break;
            }
        if (r->reported[i] != 1) {
            fprintf(stderr, "output %d (slot %d) reported %d times\n", i, o->slot, r->reported[i]);
            ok = 0;
        }
        memcpy((char *)r->out[o->slot] + o->offset * r->elem,
               (const char *)r->copy[o->slot] + o->offset * r->elem, (size_t)n);
    }
    return ok;
}

/* The function again with ExaArgs.sgd: an SGD step of lr 0.25 taken in the
 * GEMMs of the weight gradients fuse_sgd.c allows.  Each range it reports
 * must be one gradient output's, that weight must be theta - 0.25 x the
 * reference gradient (relative to max |theta| + 0.25 |g| over the weight:
 * the step's rounding), the rest of theta untouched, and every other output
 * as in the plain call.  Returns the ranges stepped, -1 on a failure;
 * *worst takes the worst difference. */
static int sgd_check(const CgCase *c, const Loaded *l, int f64, int64_t batch, void **gin, const void *gtheta,
                     const IrEval *e, double *worst)
{
    int elem = f64 ? 8 : 4, bad = 0;
    size_t tbytes = (size_t)(c->nweights + 1) * (size_t)elem;
    size_t wsize = ((size_t)l->fn[0].workspace(batch) + 127) / 64 * 64;
    void *theta = malloc(tbytes), *out[3], *work = aligned_alloc(64, wsize);
    memcpy(theta, gtheta, tbytes);
    memset(work, 0xff, wsize); /* NaN, as in run_one */
    for (int s = 0; s < 3; s++)
        out[s] = calloc((size_t)slot_size(c, s, batch), 8);
    int64_t done[CASE_MAX_LEAVES][2];
    ExaSgdFused sgd = { .alpha = -0.25, .theta = theta, .cap = CASE_MAX_LEAVES, .done = done };
    ExaArgs args = { .batch = batch, .step_size = 0.37, .theta = theta, .inputs = (const void *const *)gin,
                     .outputs = out, .workspace = work, .sgd = &sgd };
    l->fn[0].run(&args);
    char *stepped = calloc((size_t)c->nweights + 1, 1);
    for (int i = 0; i < c->f.nout; i++) {
        const IrOutput *o = &c->f.out[i];
        const IrValue *v = &c->f.v[o->value];
        int64_t n = ir_shape_size(&v->shape) * (v->batched ? batch : 1);
        int hit = 0;
        for (int r = 0; r < sgd.n && r < sgd.cap; r++)
            hit += o->slot == c->f.sgd_slot && !v->batched && done[r][0] == o->offset && done[r][1] == n;
        double scale = 0, diff = 0;
        for (int64_t j = 0; j < n; j++) {
            double ref = e->val[o->value][j], got;
            if (hit) {
                int64_t at = o->offset + j;
                double t0 = f64 ? ((const double *)gtheta)[at] : ((const float *)gtheta)[at];
                got = f64 ? ((double *)theta)[at] : ((float *)theta)[at];
                ref = t0 - 0.25 * ref;
                scale = fmax(scale, fabs(t0) + fabs(ref - t0));
                stepped[at] = 1;
            } else {
                got = f64 ? ((double *)out[o->slot])[o->offset + j] : ((float *)out[o->slot])[o->offset + j];
                scale = fmax(scale, fabs(ref));
            }
            double d = fabs(got - ref);
            diff = d == d ? fmax(diff, d) : INFINITY;
        }
        *worst = fmax(*worst, scale > 0 ? diff / scale : diff);
        bad |= hit > 1;
    }
    for (int64_t j = 0; j < c->nweights; j++) /* the rest of theta: untouched */
        bad |= !stepped[j] && memcmp((char *)theta + j * elem, (const char *)gtheta + j * elem, (size_t)elem);
    int ranges = sgd.n;
    for (int r = 0; r < sgd.n && r < sgd.cap; r++) /* every range reported is a gradient's */
        bad |= done[r][0] < 0 || done[r][0] + done[r][1] > c->nweights || !stepped[done[r][0]];
    bad |= sgd.n > sgd.cap;
    free(stepped);
    free(theta);
    free(work);
    for (int s = 0; s < 3; s++)
        free(out[s]);
    return bad ? -1 : ranges;
}

/* Runs the generated function once and returns the worst difference. */

/* Buffers live at the same step must not share a byte at this batch size
 * (fuse.c places them apart for every B). */
static int placement_disjoint(const FusePlan *p, int64_t batch)
{
    for (int i = 0; i < p->nbuf; i++)
        for (int k = 0; k < i; k++) {
            const FuseBuffer *x = &p->buf[i], *y = &p->buf[k];
            if (x->def > y->last || y->def > x->last)
                continue;
            int64_t x0 = fuse_buffer_offset(x, batch), x1 = x0 + x->a * batch + x->b;
            int64_t y0 = fuse_buffer_offset(y, batch), y1 = y0 + y->a * batch + y->b;
            if (x0 < y1 && y0 < x1 && x1 > x0 && y1 > y0) {
                fprintf(stderr, "buffers %d and %d overlap at B = %lld\n", k, i, (long long)batch);
                return 0;
            }
        }
    return 1;
}

static double run_one(const CgCase *c, CgPrecision prec, const Loaded *l, int64_t batch, int *bad_ws,
                      int *sgd_ranges)
{
    int f64 = prec == CG_F64, elem = f64 ? 8 : 4;
    double *theta = malloc((size_t)(c->nweights + 1) * sizeof *theta);
    for (int64_t i = 0; i < c->nweights; i++)
        theta[i] = c->positive ? rnd(0.5, 2) : rnd(-1, 1);
    double *in[CASE_MAX_LEAVES];
    void *gin[CASE_MAX_LEAVES];
    for (int k = 0; k < c->ninputs; k++) {
        int64_t n = c->classes[k] ? batch : ir_shape_size(&c->in_shape[k]) * batch;
        in[k] = malloc((size_t)n * sizeof(double));
        gin[k] = malloc((size_t)n * 8);
        for (int64_t i = 0; i < n; i++) {
            in[k][i] = c->classes[k] ? (double)(int)rnd(0, c->classes[k] - 0.001) : c->positive ? rnd(0.5, 2) : rnd(-1, 1);
            if (c->classes[k])
                ((int32_t *)gin[k])[i] = (int32_t)in[k][i];
            else if (f64)
                ((double *)gin[k])[i] = in[k][i];
            else
                ((float *)gin[k])[i] = (float)in[k][i];
        }
    }
    void *gtheta = malloc((size_t)(c->nweights + 1) * 8);
    for (int64_t i = 0; i < c->nweights; i++)
        if (f64)
            ((double *)gtheta)[i] = theta[i];
        else
            ((float *)gtheta)[i] = (float)theta[i];
    void *out[3];
    for (int s = 0; s < 3; s++)
        out[s] = calloc((size_t)slot_size(c, s, batch), 8);
    int64_t ws = l->fn[0].workspace(batch);
    FusePlan plan;
    char *error = NULL;
    if (fuse_plan_flags(&c->f, elem, FUSE_FLAGS_CPU, &plan, &error) == 0) { /* as codegen_llvm.c */
        *bad_ws |= ws != fuse_workspace(&plan, batch) || !placement_disjoint(&plan, batch);
        fuse_free(&plan);
    }
    size_t wsize = ((size_t)ws + 63) / 64 * 64 + 64;
    void *work = aligned_alloc(64, wsize);
    memset(work, 0xff, wsize); /* NaN everywhere */
    Ready ready = { .c = c, .out = out, .elem = elem, .reported = calloc((size_t)c->f.nout + 1, sizeof(int)) };
    for (int s = 0; s < 3; s++)
        ready.copy[s] = calloc((size_t)slot_size(c, s, batch), 8);
    ExaArgs args = { .batch = batch, .step_size = 0.37, .theta = gtheta, .inputs = (const void *const *)gin,
                     .outputs = out, .workspace = work, .ready = on_ready, .ready_ctx = &ready };
    l->fn[0].run(&args);
    *bad_ws |= !ready_check(&ready);
    free(ready.reported);
    for (int s = 0; s < 3; s++)
        free(ready.copy[s]);

    IrEval e = { .f = &c->f, .params = c->params, .theta = theta, .inputs = (const double *const *)in,
                 .batch = batch, .step_size = 0.37 };
    if (ir_eval(&e) != 0)
        abort();
    double worst = 0;
    for (int i = 0; i < c->f.nout; i++) {
        const IrOutput *o = &c->f.out[i];
        const IrValue *v = &c->f.v[o->value];
        int64_t n = ir_shape_size(&v->shape) * (v->batched ? batch : 1);
        double scale = 0, diff = 0;
        for (int64_t j = 0; j < n; j++)
            scale = fmax(scale, fabs(e.val[o->value][j]));
        for (int64_t j = 0; j < n; j++) {
            double got = f64 ? ((double *)out[o->slot])[o->offset + j] : ((float *)out[o->slot])[o->offset + j];
            double d = fabs(got - e.val[o->value][j]);
            diff = d == d ? fmax(diff, d) : INFINITY;
        }
        if (getenv("CG_EVAL_VERBOSE"))
            printf("     B=%lld output %d (slot %d, %%%d %s): rel diff %.2e\n", (long long)batch, i, o->slot,
                   o->value, ir_op_name(v->op), scale > 0 ? diff / scale : diff);
        worst = fmax(worst, scale > 0 ? diff / scale : diff);
    }
    if (c->f.sgd_slot > 0) {
        *sgd_ranges = sgd_check(c, l, f64, batch, gin, gtheta, &e, &worst);
        *bad_ws |= *sgd_ranges < 0;
    }
    ir_eval_free(&e);
    free(work);
    for (int s = 0; s < 3; s++)
        free(out[s]);
    for (int k = 0; k < c->ninputs; k++) {
        free(in[k]);
        free(gin[k]);
    }
    free(theta);
    free(gtheta);
    return worst;
}

/* How many weights the SGD step must take in their GEMMs (fuse_sgd.c), for
 * the cases whose count is known: the dense layers' weights; none where a
 * weight is read after its gradient's GEMM or its gradient is summed over
 * steps; -1 for the rest. */
static int expected_sgd(const char *name)
{
    static const struct { const char *name; int n; } want[] = {
        { "dense", 1 }, { "mlp relu softmax-ce", 2 }, { "mlp tanh softmax-ce", 2 },
        { "overlapping parameter slices", 0 }, { "hoisted recurrence", 0 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strcmp(name, want[i].name) == 0)
            return want[i].n;
    return -1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    const char *only = argc > 2 ? argv[2] : NULL;
    if (getenv("CG_EVAL_SEED"))
        seed = (unsigned)atoi(getenv("CG_EVAL_SEED"));
    int failed = 0, cases = 0;
    CgCase c;
    for (int i = 0; cg_case_build(i, &c); i++) {
        if (only && strcmp(only, c.name) != 0) {
            cg_case_free(&c);
            continue;
        }
        cases++;
        for (int pr = 0; pr < 2; pr++) {
            CgPrecision prec = pr ? CG_F32 : CG_F64;
            double tol = pr ? 1e-5 : 1e-12;
            Loaded l;
            if (load(&c, prec, dir, i, &l) != 0) {
                failed++;
                continue;
            }
            double worst = 0;
            int bad_ws = 0, sgd = 0;
            const int64_t batches[] = { 1, 3, 64, 3001 };
            for (int b = 0; b < (pr ? 3 : 4); b++) {
                exa_parallel_set_threads(b == 3 ? 3 : 1);
                worst = fmax(worst, run_one(&c, prec, &l, batches[b], &bad_ws, &sgd));
            }
            int want = expected_sgd(c.name), ok = worst < tol && !bad_ws && (want < 0 || sgd == want);
            printf("%s %-26s %s  max rel diff %.2e, %d weights stepped in their GEMMs%s\n", ok ? "ok  " : "FAIL",
                   c.name, pr ? "f32" : "f64", worst, sgd,
                   bad_ws ? "  workspace(B) differs from the plan, a gradient was reported wrongly, or the SGD "
                            "step in the GEMMs went wrong"
                   : want >= 0 && sgd != want ? "  (expected a different number)" : "");
            failed += !ok;
            dlclose(l.so);
        }
        cg_case_free(&c);
    }
    printf("%d cases, %d failed\n", cases, failed);
    return failed || cases == 0 ? 1 : 0;
}
