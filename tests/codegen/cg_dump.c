/* cg_dump.c - prints the LLVM IR (as built, before optimisation) or the
 * fusion plan of one test case, for the FileCheck tests.
 *
 * usage: cg_dump CASE [f32|f64] [forward] [plan] [cpu|gpu]
 *   forward  keep only the case's forward output (slot 0), so the gradient
 *            code is dead and dropped
 *   plan     print fuse_dump's plan instead of LLVM IR
 *   cpu      plan with the LLVM back end's flags (FUSE_FLAGS_CPU)
 *   gpu      plan with the CUDA back end's flags (FUSE_FLAGS_GPU) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cases.h"
#include "codegen_llvm.h"
#include "fuse.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: cg_dump CASE [f32|f64] [forward] [plan] [cpu|gpu]\n", stderr);
        return 2;
    }
    CgCase c;
    if (!cg_case_by_name(argv[1], &c)) {
        fprintf(stderr, "cg_dump: no case '%s'\n", argv[1]);
        return 2;
    }
    CgPrecision prec = CG_F64;
    int plan = 0, flags = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "f32") == 0)
            prec = CG_F32;
        else if (strcmp(argv[i], "forward") == 0)
            c.f.nout = 1;
        else if (strcmp(argv[i], "plan") == 0)
            plan = 1;
        else if (strcmp(argv[i], "cpu") == 0)
            flags = FUSE_FLAGS_CPU;
        else if (strcmp(argv[i], "gpu") == 0)
            flags = FUSE_FLAGS_GPU;
    }
    char *error = NULL;
    int status = 0;
    if (plan) {
        FusePlan p;
        status = fuse_plan_flags(&c.f, prec == CG_F64 ? 8 : 4, flags, &p, &error);
        if (status == 0) {
            fuse_dump(stdout, &p);
            fuse_free(&p);
        }
    } else {
        status = cg_llvm_emit(&c.f, 1, c.params, c.nparams, "program test\n", prec, NULL, NULL, stdout, &error);
    }
    if (status != 0) {
        fprintf(stderr, "cg_dump: %s\n", error);
        free(error);
    }
    cg_case_free(&c);
    return status ? 1 : 0;
}
