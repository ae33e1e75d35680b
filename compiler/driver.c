/* driver.c - the exac command line.
 *
 *   exac check FILE...          parse and check, report every error
 *   exac --emit=ast FILE        print the syntax tree
 *   exac --emit=shapes FILE     print every value's, stage's and parameter's shape
 *   exac --emit=ir FILE         print the graph IR of the generated functions
 *   exac --emit=plan FILE       print the execution plan of each function (fuse.h)
 *   exac --emit=llvm FILE       print the LLVM IR (before optimisation)
 *   exac FILE -o OUT            compile to a training executable
 *   --time-passes               with any of them: seconds per pass (front/timing.h)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen_llvm.h"
#include "codegen_cuda.h"
#include "fuse.h"
#include "link.h"
#include "loader.h"
#include "lower.h"
#include "sema.h"
#include "timing.h"

enum Emit { EMIT_NONE, EMIT_AST, EMIT_SHAPES, EMIT_IR, EMIT_PLAN, EMIT_LLVM, EMIT_DESCRIPTOR };

typedef struct Options {
    int check;
    enum Emit emit;
    const char *output;
    int precision;          /* bytes per real: 4 or 8 */
    const char *gpu_arch;   /* --gpu-arch: NULL the default, "none" no GPU code */
    int no_hoist;           /* --no-hoist */
    int no_pretranspose;    /* --no-pretranspose */
    int no_sink_slices;     /* --no-sink-slices */
    const char **files;
    int nfiles;
    LoaderOptions loader;
} Options;

static void usage(FILE *out)
{
    fputs("usage: exac check FILE...           parse and check .exa programs\n"
          "       exac --emit=ast FILE         print the syntax tree\n"
          "       exac --emit=shapes FILE      print the shape of every value and parameter\n"
          "       exac --emit=ir FILE          print the graph IR of the generated functions\n"
          "       exac --emit=plan FILE        print the CPU execution plan: loops, kernels, buffers\n"
          "       exac --emit=llvm FILE        print the generated LLVM IR\n"
          "       exac --emit=descriptor FILE  print the descriptor the executable carries\n"
          "       exac FILE -o OUTPUT          compile a training executable\n"
          "options:\n"
          "  --precision=f32|f64  reals of the generated code (default f32)\n"
          "  --gpu-arch LIST  also compile the GPU code to PTX now, for these architectures\n"
          "                   (e.g. sm_80,sm_90; needs NVRTC here); by default the program\n"
          "                   compiles it for its GPU on --device gpu; 'none': no GPU code\n"
          "  --no-hoist       keep the input projections W x[t] of a for loop in its steps\n"
          "                   (by default they are one GEMM over all steps, before the loop)\n"
          "  --no-pretranspose  keep the products W h of a weight used in many steps\n"
          "                   reading W transposed (by default W^T is stored once a call)\n"
          "  --no-sink-slices  keep the slices of a sum cut into parts (by default each\n"
          "                   part is the sum of the operands' parts, in its readers' loop)\n"
          "  -I DIR           add DIR to the import path (before EXA_PATH and the stdlib)\n"
          "  -o FILE          name of the executable to write\n"
          "  --time-passes    print the wall and CPU seconds of each pass to stderr\n"
          "  --help           show this help\n"
          "  --version        show the version\n"
          "environment:\n"
          "  EXA_PATH         colon-separated directories searched for imported modules\n",
          out);
}

/* The stdlib sits at <prefix>/share/exa/stdlib beside <prefix>/bin/exac,
 * in the build tree as after install. */
static char *find_stdlib(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    size_t len = strlen(exe) + strlen("/../" EXA_STDLIB_RELDIR) + 1;
    char *dir = malloc(len);
    if (!dir)
        return NULL;
    snprintf(dir, len, "%s/../%s", exe, EXA_STDLIB_RELDIR);
    char *real = realpath(dir, NULL);
    free(dir);
    return real;
}

static int fail_usage(const char *fmt, const char *arg)
{
    fputs("exac: error: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see 'exac --help')\n", stderr);
    return 2;
}

static int parse_args(int argc, char **argv, Options *o)
{
    o->files = calloc(argc, sizeof *o->files);
    o->loader.include_dirs = calloc(argc, sizeof *o->loader.include_dirs);
    if (!o->files || !o->loader.include_dirs)
        return fail_usage("%s", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("exac %s\n", EXA_VERSION);
            exit(0);
        } else if (strcmp(a, "check") == 0 && !o->check && o->nfiles == 0) {
            /* the command is the first word that is not an option: exac -I DIR check FILE */
            o->check = 1;
        } else if (strcmp(a, "--time-passes") == 0) {
            timing_enable(1);
        } else if (strcmp(a, "--emit=ast") == 0) {
            o->emit = EMIT_AST;
        } else if (strcmp(a, "--emit=shapes") == 0) {
            o->emit = EMIT_SHAPES;
        } else if (strcmp(a, "--emit=ir") == 0) {
            o->emit = EMIT_IR;
        } else if (strcmp(a, "--emit=plan") == 0) {
            o->emit = EMIT_PLAN;
        } else if (strcmp(a, "--emit=llvm") == 0) {
            o->emit = EMIT_LLVM;
        } else if (strcmp(a, "--emit=descriptor") == 0) {
            o->emit = EMIT_DESCRIPTOR;
        } else if (strcmp(a, "--no-hoist") == 0) {
            o->no_hoist = 1;
        } else if (strcmp(a, "--no-pretranspose") == 0) {
            o->no_pretranspose = 1;
        } else if (strcmp(a, "--no-sink-slices") == 0) {
            o->no_sink_slices = 1;
        } else if (strcmp(a, "--precision=f32") == 0) {
            o->precision = 4;
        } else if (strcmp(a, "--precision=f64") == 0) {
            o->precision = 8;
        } else if (strncmp(a, "--precision", 11) == 0) {
            return fail_usage("unknown precision '%s'; expected --precision=f32 or --precision=f64", a);
        } else if (strncmp(a, "--emit=", 7) == 0) {
            return fail_usage("unknown --emit kind '%s'; expected ast, shapes, ir, plan, llvm or descriptor", a + 7);
        } else if (strcmp(a, "--gpu-arch") == 0 || strncmp(a, "--gpu-arch=", 11) == 0) {
            if (a[10] == '\0' && i + 1 == argc)
                return fail_usage("'%s' needs an argument", a);
            const char *list = a[10] == '=' ? a + 11 : argv[++i];
            if (strcmp(list, "none") != 0)
                for (const char *q = list;;) {
                    size_t n = strcspn(q, ",");
                    if (cg_cuda_arch_number(q, n) < 0)
                        return fail_usage("--gpu-arch: '%s' is not a list of architectures like sm_80,sm_90 (or none)",
                                          list);
                    if (!q[n])
                        break;
                    q += n + 1;
                }
            o->gpu_arch = list;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "-I") == 0) {
            if (i + 1 == argc)
                return fail_usage("'%s' needs an argument", a);
            if (a[1] == 'o')
                o->output = argv[++i];
            else
                o->loader.include_dirs[o->loader.ninclude++] = argv[++i];
        } else if (strncmp(a, "-I", 2) == 0) {
            o->loader.include_dirs[o->loader.ninclude++] = a + 2;
        } else if (a[0] == '-' && a[1] != '\0') {
            return fail_usage("unknown option '%s'", a);
        } else {
            o->files[o->nfiles++] = a;
        }
    }
    if (o->nfiles == 0)
        return fail_usage("%s", "no input files");
    if (!o->check && o->emit == EMIT_NONE && !o->output)
        return fail_usage("%s", "no -o OUTPUT given (use 'exac check FILE' to check only)");
    if (!o->check && o->nfiles > 1)
        return fail_usage("%s", "more than one input file; use 'exac check FILE...' to check several");
    return 0;
}

/* The GPU object of a lowered program (codegen_cuda.h): the launch table
 * and CUDA source always, PTX only for an explicit --gpu-arch list.  NVRTC
 * costs 1-2 s a compile, so by default the executable compiles the source
 * itself when --device gpu opens a GPU, for that GPU (runtime
 * exa/gpu_nvrtc.h, cached on disk); --gpu-arch is for machines whose GPU
 * nodes lack NVRTC.  The emulated device (exa/gpu_emu.h) needs only the
 * source.  The default never fails a compile: a program whose GPU code
 * cannot be made runs on the CPU and says so when asked for a GPU.  1
 * written, 0 none, -1 error (an explicit --gpu-arch that cannot be
 * honoured). */
static int gpu_code(const Lowered *low, CgPrecision prec, const char *arch, const char *path, char **error)
{
    if (arch && strcmp(arch, "none") == 0)
        return 0;
    if (cg_cuda_emit(low->funcs, low->nfuncs, low->params, low->nparams, prec, arch, path, NULL, NULL,
                     error) == 0)
        return 1;
    if (arch)
        return -1;
    free(*error);
    *error = NULL;
    return 0;
}

/* Lowers a checked program and prints the IR, the LLVM IR or the descriptor,
 * or writes the executable. */
static int generate(const Program *p, const Sema *s, const Options *o, Diag *d)
{
    Lowered low;
    timing_pass("lower + autodiff");
    LowerOptions lo = { .precision = o->precision, .no_hoist = o->no_hoist,
                       .no_pretranspose = o->no_pretranspose, .no_sink_slices = o->no_sink_slices };
    if (lower_program_opts(p, s, &lo, &low, d) != 0)
        return 1;
    int failed = 0;
    char *error = NULL;
    CgPrecision prec = o->precision == 8 ? CG_F64 : CG_F32;
    if (o->emit == EMIT_IR) {
        for (int i = 0; i < low.nfuncs; i++)
            ir_dump(stdout, &low.funcs[i], i == 0 ? low.params : NULL, i == 0 ? low.nparams : 0);
    } else if (o->emit == EMIT_PLAN) { /* as the LLVM back end plans them */
        for (int i = 0; i < low.nfuncs && !failed; i++) {
            FusePlan plan;
            failed = fuse_plan_flags(&low.funcs[i], o->precision, FUSE_FLAGS_CPU, &plan, &error) != 0;
            if (!failed) {
                printf("func %s\n", low.funcs[i].name);
                fuse_dump(stdout, &plan);
                fuse_free(&plan);
            }
        }
    } else if (o->emit == EMIT_DESCRIPTOR) {
        fputs(low.descriptor, stdout);
    } else if (o->emit == EMIT_LLVM) {
        failed = cg_llvm_emit(low.funcs, low.nfuncs, low.params, low.nparams, low.descriptor, prec,
                              NULL, NULL, stdout, &error) != 0;
    } else if (o->output) {
        char obj[4096], body_obj[4096];
        snprintf(obj, sizeof obj, "%s.o", o->output);
        snprintf(body_obj, sizeof body_obj, "%s.body.o", o->output);
        failed = cg_llvm_emit(low.funcs, low.nfuncs, low.params, low.nparams, low.descriptor, prec,
                              obj, body_obj, NULL, &error) != 0;
        timing_pass("gpu code");
        char gpu_obj[4096];
        snprintf(gpu_obj, sizeof gpu_obj, "%s.gpu.o", o->output);
        int gpu = !failed && gpu_code(&low, prec, o->gpu_arch, gpu_obj, &error);
        failed |= gpu < 0;
        timing_pass("link");
        const char *objs[] = { obj, body_obj, gpu ? gpu_obj : NULL, NULL };
        if (!failed)
            failed = link_executable(objs, o->output, &error) != 0;
        remove(obj);
        remove(body_obj);
        if (gpu)
            remove(gpu_obj);
    }
    if (failed) {
        fprintf(stderr, "exac: error: %s\n", error ? error : "code generation failed");
        d->errors++;
    }
    timing_pass(NULL);
    free(error);
    lowered_free(&low);
    return failed;
}

/* Parses and checks one program; prints what --emit asks for. */
static int compile_one(const char *path, const Options *o, Diag *d)
{
    Program p = {0};
    int before = d->errors;
    timing_pass("parse");
    loader_load(&p, path, &o->loader, d);
    if (o->emit == EMIT_AST && d->errors == before)
        ast_dump(stdout, p.root->ast);
    if (p.root && d->errors == before) {
        timing_pass("sema");
        Sema *s = sema_check(&p, d);
        timing_pass(NULL);
        if (o->emit == EMIT_SHAPES && d->errors == before)
            sema_emit_shapes(stdout, s);
        int generates = o->emit == EMIT_IR || o->emit == EMIT_PLAN || o->emit == EMIT_LLVM || o->emit == EMIT_DESCRIPTOR
                        || (o->output && !o->check);
        if (generates && d->errors == before)
            generate(&p, s, o, d);
        sema_free(s);
    }
    program_free(&p);
    return d->errors > before;
}

int main(int argc, char **argv)
{
    Options o = { .precision = 4 };
    int status = parse_args(argc, argv, &o);
    if (status)
        return status;
    char *stdlib = find_stdlib();
    o.loader.stdlib_dir = stdlib;
    Diag d;
    diag_init(&d, stderr);
    int failed = 0;
    for (int i = 0; i < o.nfiles; i++)
        failed |= compile_one(o.files[i], &o, &d);
    diag_finish(&d);
    timing_report(stderr);
    free(stdlib);
    free(o.files);
    free(o.loader.include_dirs);
    return failed ? 1 : 0;
}
