/* cuda_program.c - see cuda_program.h.  Each case has its own parameter list
 * (plans hold parameter indices), so each is generated on its own and the
 * texts are joined: the first source whole, the others from their first
 * function on (dropping the prelude and shared copy kernel they repeat), and
 * the tables without their header lines. */
#include "cuda_program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cuda_program_cases(CudaProgram *pr)
{
    pr->ncases = 0;
    while (pr->ncases < CUDA_MAX_CASES && cg_case_build(pr->ncases, &pr->cases[pr->ncases])) {
        snprintf(pr->names[pr->ncases], sizeof pr->names[0], "case%d", pr->ncases);
        pr->cases[pr->ncases].f.name = pr->names[pr->ncases];
        pr->ncases++;
    }
    return pr->ncases;
}

static int append(char **all, size_t *len, const char *text)
{
    size_t n = strlen(text);
    char *p = realloc(*all, *len + n + 1);
    if (!p)
        return -1;
    memcpy(p + *len, text, n + 1);
    *all = p;
    *len += n;
    return 0;
}

int cuda_program_text(CudaProgram *pr, CgPrecision prec, char **source, char **table)
{
    const char *tag = prec == CG_F64 ? "f64" : "f32";
    size_t slen = 0, tlen = 0;
    *source = *table = NULL;
    for (int i = 0; i < pr->ncases; i++) {
        FusePlan plan;
        char *src = NULL, *tab = NULL, *error = NULL;
        /* planned as the back end plans (codegen_cuda_nvrtc.c) */
        if (fuse_plan_flags(&pr->cases[i].f, prec == CG_F64 ? 8 : 4, FUSE_FLAGS_GPU, &plan, &error) != 0) {
            printf("FAIL %s %s: plan: %s\n", pr->cases[i].name, tag, error);
            free(error);
            return -1;
        }
        int rc = cg_cuda_source(&plan, 1, pr->cases[i].params, pr->cases[i].nparams, prec, &src, &tab, &error);
        fuse_free(&plan);
        if (rc != 0) {
            printf("FAIL %s %s: %s\n", pr->cases[i].name, tag, error);
            free(error);
            return -1;
        }
        const char *body = i ? strstr(src, "\n/* ---- ") : src, *tbody = i ? strchr(tab, '\n') + 1 : tab;
        rc = append(source, &slen, body) | append(table, &tlen, tbody);
        free(src);
        free(tab);
        if (rc != 0)
            return -1;
    }
    return 0;
}

void cuda_program_free(CudaProgram *pr)
{
    for (int i = 0; i < pr->ncases; i++)
        cg_case_free(&pr->cases[i]);
    pr->ncases = 0;
}
