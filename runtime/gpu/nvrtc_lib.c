/* nvrtc_lib.c - NVRTC loaded with dlopen, for exac and libexa both
 * (exa/nvrtc_lib.h). */
#include "exa/nvrtc_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sym(void *lib, const char *name, void *slot)
{
    void *p = dlsym(lib, name);
    if (p) /* POSIX guarantees the bits convert; C has no cast for it */
        memcpy(slot, &p, sizeof p);
    return p != NULL;
}

int exa_nvrtc_open(ExaNvrtc *n, char *why, size_t len, int *missing)
{
    static const char *const fixed[] = {
        "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so",
#ifdef EXA_NVRTC_HINT
        EXA_NVRTC_HINT,
#endif
        "/usr/local/cuda/lib64/libnvrtc.so",
    };
    memset(n, 0, sizeof *n);
    *missing = 0;
    snprintf(why, len, "not found");
    const char *user = getenv("EXA_NVRTC");
    void *lib = NULL;
    if (user && *user && !(lib = dlopen(user, RTLD_NOW | RTLD_LOCAL)))
        snprintf(why, len, "%s", dlerror()); /* the user's choice failing is the useful reason */
    for (size_t i = 0; !lib && i < sizeof fixed / sizeof fixed[0]; i++)
        if (!(lib = dlopen(fixed[i], RTLD_NOW | RTLD_LOCAL)))
            (void)dlerror();
    if (!lib)
        return -1;
    if (!sym(lib, "nvrtcVersion", &n->version) || !sym(lib, "nvrtcCreateProgram", &n->create)
        || !sym(lib, "nvrtcCompileProgram", &n->compile) || !sym(lib, "nvrtcGetProgramLogSize", &n->log_size)
        || !sym(lib, "nvrtcGetProgramLog", &n->log) || !sym(lib, "nvrtcGetPTXSize", &n->ptx_size)
        || !sym(lib, "nvrtcGetPTX", &n->ptx) || !sym(lib, "nvrtcDestroyProgram", &n->destroy)
        || !sym(lib, "nvrtcGetErrorString", &n->error_string)) {
        dlclose(lib); /* nothing of it ran: safe to unload */
        memset(n, 0, sizeof *n);
        snprintf(why, len, "lacks an entry point");
        *missing = 1;
        return -1;
    }
    return 0;
}

/* a malloc'd line "NVRTC: what" */
static char *line(const char *what)
{
    size_t len = strlen(what) + 8;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "NVRTC: %s", what);
    return s;
}

int exa_nvrtc_compile(const ExaNvrtc *n, const char *source, const char *arch_option, char **ptx, char **log)
{
    const char *opts[] = { arch_option, "--std=c++17" };
    void *prog = NULL;
    *ptx = NULL;
    *log = NULL;
    int r = n->create(&prog, source, "exa.cu", 0, NULL, NULL);
    if (r != 0) {
        *log = line(n->error_string(r));
        return -1;
    }
    int status = -1;
    size_t len = 0;
    if ((r = n->compile(prog, 2, opts)) != 0) { /* the log says where: what a user needs */
        char *text = NULL;
        if (n->log_size(prog, &len) == 0 && (text = malloc(len + 1)) && n->log(prog, text) == 0) {
            text[len] = '\0';
            *log = text;
            status = -2;
        } else {
            free(text);
            *log = line(n->error_string(r));
        }
    } else if ((r = n->ptx_size(prog, &len)) != 0 || !(*ptx = malloc(len + 1)) || (r = n->ptx(prog, *ptx)) != 0) {
        free(*ptx);
        *ptx = NULL;
        *log = line(r ? n->error_string(r) : "out of memory");
    } else {
        (*ptx)[len] = '\0';
        status = 0;
    }
    n->destroy(&prog);
    return status;
}
