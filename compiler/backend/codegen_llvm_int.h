/* codegen_llvm_int.h - what the files of the LLVM back end share: the state
 * of one module and of the function being built.  Not for other modules.
 *
 * codegen_llvm.c       the module, functions, kernel calls, optimisation, object
 * codegen_llvm_loop.c  fused elementwise loop nests (outlined, shared by structure)
 *                      and the scalar math in them */
#ifndef EXA_CODEGEN_LLVM_INT_H
#define EXA_CODEGEN_LLVM_INT_H

#include <llvm-c/Core.h>

#include "codegen_llvm.h"
#include "fuse.h"

typedef struct Cg {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    CgPrecision prec;
    LLVMTypeRef real, realp, i1, i32, i64, i8, i8p, i32p, i64p, vd, args, argsp;
    const char *cpu, *features; /* host, as function attributes */
    /* the function being built */
    const FusePlan *p;
    const IrParam *params;
    LLVMValueRef fn, batch, step_size, theta, inputs, outputs, ws; /* fn's arguments */
    LLVMValueRef ready, ready_ctx; /* ExaArgs.ready (abi.h), as i8*, and its context */
    LLVMValueRef sgd;              /* ExaArgs.sgd, as i8* */
    const IrParam **sgd_param;     /* per value: the parameter its GEMM may step (fuse_sgd.c), or NULL */
    /* made on first use in fn (cg_ptr, cg_scalar), NULL until then */
    LLVMValueRef *ptr;    /* per value: its memory (real* or i32* for labels) */
    LLVMValueRef *scalar; /* per FUSE_SCALAR value: its value */
    LLVMValueRef *bufptr; /* per workspace buffer: its address */
    LLVMValueRef *val;    /* per value: its scalar in the nest being built, else NULL */
    LLVMBasicBlockRef entry;
    /* the module's outlined loop nests (codegen_llvm_loop.c) */
    struct CgLoop *loops;
    int nloops, caploops;
} Cg;

/* codegen_llvm_loop.c */
void cg_emit_loop(Cg *cg, const FuseGroup *g);
void cg_finish_loops(Cg *cg);
LLVMValueRef cg_real(Cg *cg, double c);
LLVMValueRef cg_i64(Cg *cg, int64_t c);
LLVMValueRef cg_call(Cg *cg, const char *name, LLVMTypeRef ret, LLVMValueRef *args, int nargs);

/* codegen_llvm.c */
void cg_host_attributes(Cg *cg, LLVMValueRef fn);
LLVMValueRef cg_ptr(Cg *cg, IrId id);
LLVMValueRef cg_place_ptr(Cg *cg, IrId id, int place);
LLVMValueRef cg_scalar(Cg *cg, IrId id);

#endif
