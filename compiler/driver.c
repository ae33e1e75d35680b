/* driver.c - the exac command line.
 *
 *   exac check FILE...          parse and check, report every error
 *   exac --emit=ast FILE        print the syntax tree
 *   exac --emit=shapes FILE     print every value's, stage's and parameter's shape
 *   exac FILE -o OUT            compile to a training executable (issue 3)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "sema.h"

enum Emit { EMIT_NONE, EMIT_AST, EMIT_SHAPES };

typedef struct Options {
    int check;
    enum Emit emit;
    const char *output;
    const char **files;
    int nfiles;
    LoaderOptions loader;
} Options;

static void usage(FILE *out)
{
    fputs("usage: exac check FILE...           parse and check .exa programs\n"
          "       exac --emit=ast FILE         print the syntax tree\n"
          "       exac --emit=shapes FILE      print the shape of every value and parameter\n"
          "       exac FILE -o OUTPUT          compile a training executable\n"
          "options:\n"
          "  -I DIR           add DIR to the import path (before EXA_PATH and the stdlib)\n"
          "  -o FILE          name of the executable to write\n"
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
        } else if (strcmp(a, "check") == 0 && i == 1) {
            o->check = 1;
        } else if (strcmp(a, "--emit=ast") == 0) {
            o->emit = EMIT_AST;
        } else if (strcmp(a, "--emit=shapes") == 0) {
            o->emit = EMIT_SHAPES;
        } else if (strncmp(a, "--emit=", 7) == 0) {
            return fail_usage("unknown --emit kind '%s'; expected ast or shapes", a + 7);
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
    if (!o->check && o->nfiles > 1)
        return fail_usage("%s", "more than one input file; use 'exac check FILE...' to check several");
    return 0;
}

/* Parses and checks one program; prints what --emit asks for. */
static int compile_one(const char *path, const Options *o, Diag *d)
{
    Program p = {0};
    int before = d->errors;
    loader_load(&p, path, &o->loader, d);
    if (o->emit == EMIT_AST && d->errors == before)
        ast_dump(stdout, p.root->ast);
    if (p.root && d->errors == before) {
        Sema *s = sema_check(&p, d);
        if (o->emit == EMIT_SHAPES && d->errors == before)
            sema_emit_shapes(stdout, s);
        sema_free(s);
    }
    program_free(&p);
    return d->errors > before;
}

int main(int argc, char **argv)
{
    Options o = {0};
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
    if (!failed && o.output && !o.check) {
        fprintf(stderr, "exac: error: -o: code generation is not available in this version "
                        "of exac; only checking ('exac check') is\n");
        failed = 1;
    }
    free(stdlib);
    free(o.files);
    free(o.loader.include_dirs);
    return failed ? 1 : 0;
}
