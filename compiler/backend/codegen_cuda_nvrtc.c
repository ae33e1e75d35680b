/* codegen_cuda_nvrtc.c - CUDA C to PTX with NVRTC, and the object file that
 * carries the PTX and the launch table into the executable (codegen_cuda.h).
 *
 * NVRTC is opened with dlopen at the moment GPU code is asked for, never
 * linked: exac has to run on machines without CUDA, and there a request for
 * GPU code gets one line naming what is missing.  The loader (where it looks,
 * in which order) is libexa's own, runtime/gpu/nvrtc_lib.c, compiled into
 * exac too (exa/nvrtc_lib.h).
 *
 * The object is a second LLVM module with two constant strings, written for
 * the host like the CPU object; the driver links it beside that one, so the
 * CPU symbols (exa_functions, exa_program) are untouched. */
#include "codegen_cuda.h"
#include "diag.h"
#include "exa/nvrtc_lib.h"

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- NVRTC ------------------------------------------------------------- */

int cg_cuda_compile(const char *source, const char *arch, char **ptx, char **error)
{
    ExaNvrtc n;
    char why[256];
    int missing;
    *ptx = NULL;
    if (exa_nvrtc_open(&n, why, sizeof why, &missing) != 0)
        return missing ? diag_message(error, "cannot make GPU code: the NVRTC found lacks an entry point (too old "
                                            "a version?)")
                       : diag_message(error, "cannot make GPU code: no NVRTC (libnvrtc.so: %s); install the CUDA "
                                            "toolkit or set EXA_NVRTC to its libnvrtc.so", why);
    char archopt[64];
    snprintf(archopt, sizeof archopt, "--gpu-architecture=%s", arch ? arch : "compute_75");
    char *log = NULL;
    if (exa_nvrtc_compile(&n, source, archopt, ptx, &log) == 0)
        return 0;
    /* NVRTC's whole log: it says where, which is what a user needs */
    if (log && error) {
        *error = log;
        return -1;
    }
    free(log);
    return diag_message(error, "NVRTC: out of memory");
}

/* ---- the object -------------------------------------------------------- */

static void string_global(LLVMContextRef ctx, LLVMModuleRef mod, const char *name, const char *s)
{
    LLVMValueRef init = LLVMConstStringInContext(ctx, s, (unsigned)strlen(s), 0);
    LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
}

/* exa_cuda_ptx[], exa_cuda_launches[] and exa_cuda_source[] in an object
 * for the host */
static int write_object(const char *path, const char *ptx, const char *table, const char *source, char **error)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("exa_cuda", ctx);
    char *triple = LLVMGetDefaultTargetTriple(), *msg = NULL;
    LLVMTargetRef target;
    int status = -1;
    LLVMTargetMachineRef tm = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg) != 0) {
        diag_message(error, "no LLVM target for %s: %s", triple, msg ? msg : "?");
        goto done;
    }
    tm = LLVMCreateTargetMachine(target, triple, "generic", "", LLVMCodeGenLevelNone, LLVMRelocPIC,
                                 LLVMCodeModelDefault);
    LLVMSetTarget(mod, triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, dl);
    LLVMDisposeTargetData(dl);
    string_global(ctx, mod, "exa_cuda_ptx", ptx);
    string_global(ctx, mod, "exa_cuda_launches", table);
    string_global(ctx, mod, "exa_cuda_source", source);
    if (LLVMTargetMachineEmitToFile(tm, mod, (char *)path, LLVMObjectFile, &msg) != 0) {
        diag_message(error, "%s: cannot write the object file: %s", path, msg ? msg : "?");
        goto done;
    }
    status = 0;
done:
    LLVMDisposeMessage(msg);
    LLVMDisposeMessage(triple);
    if (tm)
        LLVMDisposeTargetMachine(tm);
    LLVMDisposeModule(mod);
    LLVMContextDispose(ctx);
    return status;
}

int cg_cuda_arch_number(const char *arch, size_t len)
{
    size_t skip = len > 3 && strncmp(arch, "sm_", 3) == 0 ? 3 : len > 8 && strncmp(arch, "compute_", 8) == 0 ? 8 : 0;
    if (!skip || len - skip < 2 || len - skip > 3)
        return -1;
    int v = 0;
    for (size_t i = skip; i < len; i++) {
        if (arch[i] < '0' || arch[i] > '9')
            return -1;
        v = v * 10 + (arch[i] - '0');
    }
    return v >= 50 ? v : -1;
}

/* The PTX of source for every architecture of the list, as sections. */
static int compile_all(const char *source, const char *archs, char **out, char **error)
{
    size_t cap = 0, len = 0;
    *out = NULL;
    for (const char *a = archs; *a;) {
        size_t n = strcspn(a, ",");
        int num = cg_cuda_arch_number(a, n);
        if (num < 0) {
            free(*out);
            *out = NULL;
            return diag_message(error, "--gpu-arch: '%.*s' is not an architecture (sm_75, sm_80, sm_90, ...)",
                                (int)n, a);
        }
        char virt[32], *ptx = NULL;
        snprintf(virt, sizeof virt, "compute_%d", num);
        if (cg_cuda_compile(source, virt, &ptx, error) != 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
        size_t need = len + strlen(ptx) + 64;
        if (need > cap) {
            char *grown = realloc(*out, cap = need * 2);
            if (!grown) {
                free(ptx);
                free(*out);
                *out = NULL;
                return diag_message(error, "out of memory");
            }
            *out = grown;
        }
        len += (size_t)snprintf(*out + len, cap - len, "%s %d\n%s", CG_CUDA_ARCH_MARK, num, ptx);
        free(ptx);
        a += n + (a[n] == ',');
    }
    return 0;
}

int cg_cuda_emit(const IrFunc *funcs, int nfuncs, const IrParam *params, int nparams,
                 CgPrecision prec, const char *archs, const char *obj_path, char **ptx_text,
                 char **table_text, char **error)
{
    FusePlan *plans = calloc((size_t)nfuncs + 1, sizeof *plans);
    char *source = NULL, *table = NULL, *ptx = NULL;
    int planned = 0, status = -1;
    if (ptx_text)
        *ptx_text = NULL;
    if (table_text)
        *table_text = NULL;
    if (!plans) {
        diag_message(error, "out of memory");
        goto done;
    }
    for (; planned < nfuncs; planned++)
        if (fuse_plan_flags(&funcs[planned], prec == CG_F64 ? 8 : 4, FUSE_FLAGS_GPU, &plans[planned], error) != 0)
            goto done;
    if (cg_cuda_source(plans, nfuncs, params, nparams, prec, &source, &table, error) != 0)
        goto done;
    if (archs && *archs) {
        if (compile_all(source, archs, &ptx, error) != 0)
            goto done;
    } else if (!(ptx = strdup(""))) {
        diag_message(error, "out of memory");
        goto done;
    }
    if (obj_path && write_object(obj_path, ptx, table, source, error) != 0)
        goto done;
    if (ptx_text) {
        *ptx_text = ptx;
        ptx = NULL;
    }
    if (table_text) {
        *table_text = table;
        table = NULL;
    }
    status = 0;
done:
    for (int i = 0; i < planned; i++)
        fuse_free(&plans[i]);
    free(plans);
    free(source);
    free(table);
    free(ptx);
    return status;
}
