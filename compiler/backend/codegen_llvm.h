/* codegen_llvm.h - the CPU back end: graph IR functions to an object file
 * through the LLVM C API.
 *
 * One module per program.  For every IrFunc it defines
 *     void NAME(const ExaArgs *args);          the computation (abi.h)
 *     int64_t NAME_workspace(int64_t batch);   bytes of workspace it needs
 * and for the module
 *     const ExaFunction exa_functions[];       { name, run, workspace }..., { 0 }
 *     const char exa_program[];                the descriptor, as given
 * Fused elementwise loops are LLVM IR (simple counted loops the optimiser
 * vectorises); everything else calls a libexa kernel (exa/kernels.h). */
#ifndef EXA_CODEGEN_LLVM_H
#define EXA_CODEGEN_LLVM_H

#include <stdio.h>

#include "ir.h"

typedef enum CgPrecision { CG_F32, CG_F64 } CgPrecision;

/* Builds, verifies and optimises the module for the host CPU and writes an
 * object file to obj_path (skipped, with the optimisation, when obj_path is
 * NULL).  With body_obj_path as well, the functions' straight-line bodies
 * and the data go there instead, compiled without machine optimisation (the
 * loop nests stay in obj_path; link both).  When llvm_text is not NULL the
 * verified module is printed to it as built, before optimisation
 * (--emit=llvm), which is what tests check.  Returns 0, or -1 with *error
 * set (malloc'd; free it). */
int cg_llvm_emit(const IrFunc *funcs, int nfuncs, const IrParam *params, int nparams,
                 const char *descriptor, CgPrecision prec, const char *obj_path,
                 const char *body_obj_path, FILE *llvm_text, char **error);

#endif
