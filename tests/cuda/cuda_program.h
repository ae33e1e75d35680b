/* cuda_program.h - the test graphs of tests/codegen/cg_cases.c as one GPU
 * program: case i is function "caseI", planned, generated and joined into one
 * CUDA source and one launch table, as exac would for a multi-function
 * program.  Shared by cuda_ptx.c and gpu_vs_eval.c. */
#ifndef EXA_CUDA_PROGRAM_H
#define EXA_CUDA_PROGRAM_H

#include "cg_cases.h"
#include "codegen_cuda.h"

enum { CUDA_MAX_CASES = 256 };

typedef struct CudaProgram {
    CgCase cases[CUDA_MAX_CASES];
    char names[CUDA_MAX_CASES][32];
    int ncases;
} CudaProgram;

/* Builds every case (named caseI).  Returns the count. */
int cuda_program_cases(CudaProgram *pr);
/* The joined source and table for prec; 0, or -1 after printing a FAIL line. */
int cuda_program_text(CudaProgram *pr, CgPrecision prec, char **source, char **table);
void cuda_program_free(CudaProgram *pr);

#endif
