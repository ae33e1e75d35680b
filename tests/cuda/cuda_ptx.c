/* cuda_ptx.c - every CUDA kernel the GPU back end generates compiles to PTX
 * with NVRTC and assembles with ptxas.
 *
 * All the graphs tests/codegen checks on the CPU (cg_cases.c: every op kind,
 * fused chains with broadcasting, dense and MLP gradients, conv + maxpool, the
 * PINN second derivative) are planned as functions case0, case1, ... of one
 * program, in f32 and in f64; each program's CUDA source is compiled by NVRTC
 * for compute_75 and its PTX assembled by `ptxas -arch=sm_75`.  Checked too:
 * every kernel of the source is an .entry of the PTX, every kernel the launch
 * table names is one, and cg_cuda_emit's object carries the same PTX and
 * table as exa_cuda_ptx / exa_cuda_launches (linked into a shared object and
 * read back with dlopen).  Prints the number of kernels per precision.
 *
 * usage: cuda_ptx PTXAS WORKDIR */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_program.h"

#ifndef EXA_CC
#define EXA_CC "cc"
#endif

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *s = text; (s = strstr(s, what)); s += strlen(what))
        n++;
    return n;
}

/* ".entry NAME(" occurs in the PTX */
static int has_entry(const char *ptx, const char *name)
{
    char pat[300];
    snprintf(pat, sizeof pat, ".entry %s(", name);
    return strstr(ptx, pat) != NULL;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("FAIL cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* ptxas -arch=sm_75; its output is printed, and any of it is a failure
 * (ptxas prints only errors and warnings) */
static int assemble(const char *ptxas, const char *ptx_path, const char *dir, const char *tag)
{
    char cmd[4096], line[1024];
    snprintf(cmd, sizeof cmd, "'%s' -arch=sm_75 -o '%s/%s.cubin' '%s' 2>&1", ptxas, dir, tag, ptx_path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        printf("FAIL cannot run %s\n", cmd);
        return -1;
    }
    int said = 0;
    while (fgets(line, sizeof line, p)) {
        printf("ptxas %s: %s", tag, line);
        said = 1;
    }
    int rc = pclose(p);
    if (rc != 0 || said) {
        printf("FAIL ptxas %s (status %d)\n", tag, rc);
        return -1;
    }
    return 0;
}

/* The launch table names only kernels that exist. */
static int check_table(const char *table, const char *ptx, const char *tag)
{
    int bad = 0;
    char *copy = strdup(table), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[256];
        if (sscanf(line, "launch %255s", name) == 1 && !has_entry(ptx, name)) {
            printf("FAIL %s: the launch table names %s, which the PTX lacks\n", tag, name);
            bad = 1;
        }
    }
    free(copy);
    return bad ? -1 : 0;
}

/* cg_cuda_emit on one case: its object, linked and loaded, holds the texts */
static int check_object(CgCase *c, CgPrecision prec, const char *dir)
{
    char obj[1024], so[1024], cmd[3072], *ptx = NULL, *table = NULL, *error = NULL;
    snprintf(obj, sizeof obj, "%s/emit.o", dir);
    snprintf(so, sizeof so, "%s/emit.so", dir);
    if (cg_cuda_emit(&c->f, 1, c->params, c->nparams, prec, "sm_75", obj, &ptx, &table, &error) != 0) {
        printf("FAIL cg_cuda_emit: %s\n", error);
        free(error);
        return -1;
    }
    int ok = 0;
    snprintf(cmd, sizeof cmd, "%s -shared -o '%s' '%s'", EXA_CC, so, obj);
    void *h = system(cmd) == 0 ? dlopen(so, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (h) {
        const char *p = dlsym(h, "exa_cuda_ptx"), *t = dlsym(h, "exa_cuda_launches");
        ok = p && t && strcmp(p, ptx) == 0 && strcmp(t, table) == 0 && strncmp(t, "exa-cuda 2 ", 11) == 0;
        dlclose(h);
    }
    printf("%s cg_cuda_emit object (%s, %s): exa_cuda_ptx and exa_cuda_launches\n", ok ? "ok  " : "FAIL",
           c->name, prec == CG_F64 ? "f64" : "f32");
    free(ptx);
    free(table);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cuda_ptx PTXAS WORKDIR\n");
        return 2;
    }
    const char *ptxas = argv[1], *dir = argv[2];
    static CudaProgram prog;
    int ncases = cuda_program_cases(&prog), failed = 0;
    for (int pr = 0; pr < 2; pr++) {
        CgPrecision prec = pr ? CG_F64 : CG_F32;
        const char *tag = pr ? "f64" : "f32";
        char *all = NULL, *alltab = NULL, *error = NULL, *ptx = NULL;
        int bad = cuda_program_text(&prog, prec, &all, &alltab) != 0;
        if (!bad) {
            char path[1024];
            snprintf(path, sizeof path, "%s/all_%s.cu", dir, tag);
            write_file(path, all);
            snprintf(path, sizeof path, "%s/all_%s.launches", dir, tag);
            write_file(path, alltab);
            if (cg_cuda_compile(all, "compute_75", &ptx, &error) != 0) {
                printf("FAIL NVRTC %s:\n%s\n", tag, error);
                bad = 1;
            } else {
                snprintf(path, sizeof path, "%s/all_%s.ptx", dir, tag);
                int kernels = count(all, "__global__"), entries = count(ptx, ".entry ");
                if (write_file(path, ptx) != 0 || assemble(ptxas, path, dir, tag) != 0)
                    bad = 1;
                if (kernels != entries) {
                    printf("FAIL %s: %d kernels in the source, %d in the PTX\n", tag, kernels, entries);
                    bad = 1;
                }
                if (check_table(alltab, ptx, tag) != 0)
                    bad = 1;
                printf("%s %s: %d cases, %d kernels compiled by NVRTC (compute_75) and assembled by ptxas (sm_75), "
                       "%d launch-table lines\n",
                       bad ? "FAIL" : "ok  ", tag, ncases, kernels, count(alltab, "\n"));
            }
        }
        free(error);
        error = NULL;
        free(ptx);
        free(all);
        free(alltab);
        failed += bad;
    }
    CgCase c;
    if (cg_case_by_name("conv+maxpool net", &c)) {
        failed += check_object(&c, CG_F32, dir) != 0;
        cg_case_free(&c);
    }
    cuda_program_free(&prog);
    printf("%s\n", failed ? "FAILED" : "all kernels compile and assemble");
    return failed ? 1 : 0;
}
