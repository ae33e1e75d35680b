/* cg_ulp.c - the error of the generated f32 tanh, in ulps.
 *
 * f(x) = tanh(x), x a batched [16], goes through cg_llvm_emit in f32 (the
 * path exac takes), is linked into a shared object and loaded as cg_eval.c
 * does, and runs over float bit patterns: every stride-th positive finite
 * one (default 97: 22 million values, about a second), or every one (--all,
 * two minutes: the measurement of docs/design.md), each also
 * negated, plus the special values.  The reference is libm's double tanh,
 * exact to about 1e-16 relative, not rounded to float, so a correctly rounded
 * result is at most 0.5 ulp off; the ulp of a value is the spacing of floats
 * at its magnitude (2^(e-23), 2^-149 among the subnormals).
 *
 * Fails (exit 1) when the worst error exceeds the bound (--bound U; the
 * default is what docs/design.md states for the generated tanh), when
 * f(-x) != -f(x), when |f(x)| > 1, or when a special value is wrong:
 * tanh(+-0) = +-0, tanh(+-inf) = +-1, NaN stays NaN.  Prints the worst
 * error and where it is, and with --all the pairs of neighbouring positive
 * inputs whose results decrease (tanh rises; a count, not a failure).
 *
 * --min A and --max A check only |x| in [min, max] (errors by range).
 *
 * usage: cg_ulp WORKDIR [--all] [--stride N] [--bound U] [--min A] [--max A] */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_llvm.h"
#include "exa/abi.h"
#include "exa/kernels.h"
#include "exa/parallel.h"
#include "ir.h"

#ifndef EXA_CC
#define EXA_CC "cc"
#endif

/* docs/design.md, "Inline math": the generated f32 tanh's bound */
#define TANH_ULP_BOUND 6.0

/* Keeps libexa's kernels of both types (one object each) in this
 * executable for the generated code. */
void (*volatile cg_ulp_keep_f64)(int64_t, double, double *) = exa_k_fill_f64;
void (*volatile cg_ulp_keep_f32)(int64_t, float, float *) = exa_k_fill_f32;

enum { WIDTH = 16, CHUNK = 1 << 20 };

typedef struct Gen {
    void *so;
    const ExaFunction *fn;
    void *work;
} Gen;

static int build(const char *dir, Gen *g)
{
    IrFunc f;
    ir_init(&f);
    f.name = "f";
    int64_t d[1] = { WIDTH };
    IrValue in = { .op = IR_INPUT, .in = { -1, -1, -1 }, .shape = ir_shape(1, d), .batched = 1, .stage = -1 };
    IrId x = ir_add(&f, &in);
    ir_output(&f, ir_unary(&f, IR_TANH, x), 0, 0);
    char obj[1024], so[1024], cmd[3072];
    snprintf(obj, sizeof obj, "%s/ulp_tanh_f32.o", dir);
    snprintf(so, sizeof so, "%s/ulp_tanh_f32.so", dir);
    char *error = NULL;
    int rc = cg_llvm_emit(&f, 1, NULL, 0, "program ulp\n", CG_F32, obj, NULL, NULL, &error);
    ir_free(&f);
    if (rc != 0) {
        fprintf(stderr, "cg_ulp: codegen: %s\n", error);
        free(error);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "%s -shared -o '%s' '%s'", EXA_CC, so, obj);
    if (system(cmd) != 0) {
        fprintf(stderr, "cg_ulp: cannot link: %s\n", cmd);
        return -1;
    }
    g->so = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!g->so || !(g->fn = dlsym(g->so, "exa_functions"))) {
        fprintf(stderr, "cg_ulp: dlopen: %s\n", dlerror());
        return -1;
    }
    size_t ws = (size_t)g->fn[0].workspace(CHUNK / WIDTH);
    g->work = aligned_alloc(64, (ws + 63) / 64 * 64 + 64);
    return g->work ? 0 : -1;
}

/* y[i] = tanh(x[i]) by the generated code, n a multiple of WIDTH */
static void run(const Gen *g, const float *x, float *y, int64_t n)
{
    const void *inputs[1] = { x };
    void *outputs[3] = { y, NULL, NULL };
    float theta[1] = { 0 };
    ExaArgs args = { .batch = n / WIDTH, .theta = theta, .inputs = inputs, .outputs = outputs,
                     .workspace = g->work };
    g->fn[0].run(&args);
}

static float of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* |got - exact| in ulps of exact's magnitude */
static double ulps(float got, double exact)
{
    double a = fabs(exact);
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1): floats there are 2^(e-24) apart */
    double ulp = a < 0x1p-126 ? 0x1p-149 : ldexp(1, e - 24);
    return fabs((double)got - exact) / ulp;
}

typedef struct Stats {
    double worst;
    float worst_x;
    float worst_y;
    long long checked, nan_bad, odd_bad, range_bad, decreasing;
    float prev_y;
    int have_prev;
} Stats;

static void check(Stats *s, const float *x, const float *y, const float *ny, int64_t n, int dense)
{
    for (int64_t i = 0; i < n; i++) {
        double e = ulps(y[i], tanh((double)x[i]));
        if (e != e)
            s->nan_bad++; /* a NaN for a number */
        else if (e > s->worst) {
            s->worst = e;
            s->worst_x = x[i];
            s->worst_y = y[i];
        }
        s->odd_bad += bits(ny[i]) != (bits(y[i]) ^ 0x80000000u);
        s->range_bad += fabsf(y[i]) > 1;
        if (dense && s->have_prev && y[i] < s->prev_y)
            s->decreasing++;
        s->prev_y = y[i];
        s->have_prev = 1;
    }
    s->checked += n;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    uint32_t stride = 97;
    double bound = TANH_ULP_BOUND;
    float min = 0, max = INFINITY;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0)
            stride = 1;
        else if (strcmp(argv[i], "--stride") == 0 && i + 1 < argc)
            stride = (uint32_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--bound") == 0 && i + 1 < argc)
            bound = atof(argv[++i]);
        else if (strcmp(argv[i], "--min") == 0 && i + 1 < argc)
            min = strtof(argv[++i], NULL);
        else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
            max = strtof(argv[++i], NULL);
        else {
            fprintf(stderr, "usage: cg_ulp WORKDIR [--all] [--stride N] [--bound U] [--min A] [--max A]\n");
            return 2;
        }
    }
    if (stride == 0)
        stride = 1;
    exa_parallel_set_threads(1);
    Gen g;
    if (build(dir, &g) != 0)
        return 1;
    float *x = malloc(CHUNK * sizeof *x), *nx = malloc(CHUNK * sizeof *nx);
    float *y = malloc(CHUNK * sizeof *y), *ny = malloc(CHUNK * sizeof *ny);
    if (!x || !nx || !y || !ny)
        return 1;

    Stats s = { 0 };
    const uint32_t end = isinf(max) ? 0x7f800000u : bits(fabsf(max)) + 1; /* +inf, or past max */
    for (uint64_t u = bits(fabsf(min)); u < end;) {
        int64_t n = 0;
        for (; n < CHUNK && u < end; n++, u += stride)
            x[n] = of_bits((uint32_t)u);
        while (n % WIDTH) /* pad with the last value */
            x[n] = x[n - 1], n++;
        for (int64_t i = 0; i < n; i++)
            nx[i] = -x[i];
        run(&g, x, y, n);
        run(&g, nx, ny, n);
        check(&s, x, y, ny, n, stride == 1);
    }

    /* the special values */
    int special_bad = 0;
    const float sx[WIDTH] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 0x1p-149f, -0x1p-149f,
                              0x1p-126f, 9.0f, 9.01f, 9.02f, 20.0f, 1e30f, 0x1p-20f, 0.5f };
    float sy[WIDTH];
    run(&g, sx, sy, WIDTH);
    special_bad += bits(sy[0]) != bits(0.0f) || bits(sy[1]) != bits(-0.0f);
    special_bad += sy[2] != 1 || sy[3] != -1 || !isnan(sy[4]) || !isnan(sy[5]);
    for (int i = 6; i < WIDTH; i++)
        special_bad += ulps(sy[i], tanh((double)sx[i])) > bound;
    if (special_bad)
        for (int i = 0; i < WIDTH; i++)
            fprintf(stderr, "cg_ulp: tanh(%a) = %a (libm %a)\n", (double)sx[i], (double)sy[i], tanh((double)sx[i]));

    int ok = s.worst <= bound && !s.nan_bad && !s.odd_bad && !s.range_bad && !special_bad;
    printf("%s f32 tanh: %lld inputs (positive patterns %u apart, and negated): max %.3f ulp at x = %a "
           "(%.9g -> %.9g), bound %.2f; NaN %lld, odd %lld wrong, |y| > 1 %lld, specials %d wrong",
           ok ? "ok  " : "FAIL", 2 * s.checked, stride, s.worst, (double)s.worst_x, (double)s.worst_x,
           (double)s.worst_y, bound, s.nan_bad, s.odd_bad, s.range_bad, special_bad);
    if (stride == 1)
        printf("; decreasing neighbours %lld", s.decreasing);
    printf("\n");
    free(x), free(nx), free(y), free(ny);
    free(g.work);
    dlclose(g.so);
    return ok ? 0 : 1;
}
