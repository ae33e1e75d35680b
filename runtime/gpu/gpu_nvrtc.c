/* gpu_nvrtc.c - NVRTC at run time and the on-disk PTX cache (exa/gpu_nvrtc.h).
 *
 * NVRTC is looked for under $EXA_NVRTC (a path), the names the dynamic
 * loader knows, the toolkit CMake found when libexa was built
 * (EXA_NVRTC_HINT) and /usr/local/cuda.  Its types are declared with its C
 * ABI (results ints, programs pointers), so libexa needs no CUDA headers.
 *
 * A cache entry is one file NAME-sm_NN.ptx, NAME the 64-bit FNV-1a hash of
 * the source, the architecture and the NVRTC version (a newer NVRTC may make
 * better code).  Entries are written to a temporary file in the same
 * directory and renamed into place, so ranks of one job sharing a home
 * directory never read half a file; the cache is only ever an optimisation,
 * and failing to read or write it is not an error. */
#include "exa/gpu_nvrtc.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Nvrtc {
    int (*version)(int *major, int *minor);
    int (*create)(void **prog, const char *src, const char *name, int nheaders,
                  const char *const *headers, const char *const *include_names);
    int (*compile)(void *prog, int nopts, const char *const *opts);
    int (*log_size)(void *prog, size_t *size);
    int (*log)(void *prog, char *log);
    int (*ptx_size)(void *prog, size_t *size);
    int (*ptx)(void *prog, char *ptx);
    int (*destroy)(void **prog);
    const char *(*error_string)(int result);
} Nvrtc;

static int sym(void *lib, const char *name, void *slot)
{
    void *p = dlsym(lib, name);
    if (p) /* POSIX guarantees the bits convert; C has no cast for it */
        memcpy(slot, &p, sizeof p);
    return p != NULL;
}

/* NVRTC stays loaded once opened: unloading it strands the buffers its C++
 * runtime allocates once per load. */
static int nvrtc_open(Nvrtc *n, char *err, size_t errlen)
{
    static const char *const fixed[] = {
        "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so",
#ifdef EXA_NVRTC_HINT
        EXA_NVRTC_HINT,
#endif
        "/usr/local/cuda/lib64/libnvrtc.so",
    };
    memset(n, 0, sizeof *n);
    char why[256] = "not found";
    const char *user = getenv("EXA_NVRTC");
    void *lib = NULL;
    if (user && *user && !(lib = dlopen(user, RTLD_NOW | RTLD_LOCAL)))
        snprintf(why, sizeof why, "%s", dlerror()); /* the user's choice failing is the useful reason */
    for (size_t i = 0; !lib && i < sizeof fixed / sizeof fixed[0]; i++)
        if (!(lib = dlopen(fixed[i], RTLD_NOW | RTLD_LOCAL)))
            (void)dlerror();
    if (!lib) {
        snprintf(err, errlen, "no NVRTC to compile this program's CUDA code (libnvrtc.so: %s); install the CUDA "
                              "toolkit's NVRTC or set EXA_NVRTC, or recompile with exac --gpu-arch sm_NN", why);
        return -1;
    }
    if (!sym(lib, "nvrtcVersion", &n->version) || !sym(lib, "nvrtcCreateProgram", &n->create)
        || !sym(lib, "nvrtcCompileProgram", &n->compile) || !sym(lib, "nvrtcGetProgramLogSize", &n->log_size)
        || !sym(lib, "nvrtcGetProgramLog", &n->log) || !sym(lib, "nvrtcGetPTXSize", &n->ptx_size)
        || !sym(lib, "nvrtcGetPTX", &n->ptx) || !sym(lib, "nvrtcDestroyProgram", &n->destroy)
        || !sym(lib, "nvrtcGetErrorString", &n->error_string)) {
        snprintf(err, errlen, "the NVRTC found lacks an entry point (too old a version?)");
        return -1;
    }
    return 0;
}

/* NVRTC's log reduced to its first non-empty line: errors are one line */
static void first_line(const char *log, char *err, size_t errlen)
{
    while (*log == '\n')
        log++;
    size_t n = strcspn(log, "\n");
    snprintf(err, errlen, "NVRTC: %.*s", (int)n, log);
}

static int compile(const Nvrtc *n, const char *source, int arch, char **ptx, char *err, size_t errlen)
{
    char archopt[64];
    snprintf(archopt, sizeof archopt, "--gpu-architecture=compute_%d", arch);
    const char *opts[] = { archopt, "--std=c++17" };
    void *prog = NULL;
    int status = -1, r = n->create(&prog, source, "exa.cu", 0, NULL, NULL);
    if (r != 0) {
        snprintf(err, errlen, "NVRTC: %s", n->error_string(r));
        return -1;
    }
    size_t len = 0;
    if ((r = n->compile(prog, 2, opts)) != 0) {
        char *log = NULL;
        if (n->log_size(prog, &len) == 0 && (log = malloc(len + 1)) && n->log(prog, log) == 0) {
            log[len] = '\0';
            first_line(log, err, errlen);
        } else {
            snprintf(err, errlen, "NVRTC (%s): %s", archopt, n->error_string(r));
        }
        free(log);
    } else if ((r = n->ptx_size(prog, &len)) != 0 || !(*ptx = malloc(len + 1)) || (r = n->ptx(prog, *ptx)) != 0) {
        free(*ptx);
        *ptx = NULL;
        snprintf(err, errlen, "NVRTC: %s", r ? n->error_string(r) : "out of memory");
    } else {
        (*ptx)[len] = '\0';
        status = 0;
    }
    n->destroy(&prog);
    return status;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int exa_gpu_ptx_cache_dir(char *path, size_t len)
{
    const char *env = getenv("EXA_GPU_CACHE"), *base;
    if (env)
        return *env && strcmp(env, "off") != 0 && snprintf(path, len, "%s", env) < (int)len;
    if ((base = getenv("XDG_CACHE_HOME")) && *base)
        return snprintf(path, len, "%s/exa/ptx", base) < (int)len;
    if ((base = getenv("HOME")) && *base)
        return snprintf(path, len, "%s/.cache/exa/ptx", base) < (int)len;
    return 0;
}

/* mkdir -p, quietly: a directory that cannot be made only means no cache */
static void make_dirs(char *path)
{
    for (char *s = path + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            (void)mkdir(path, 0777);
            *s = '/';
        }
    (void)mkdir(path, 0777);
}

static char *read_entry(const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len > 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1))
        && fread(text, 1, (size_t)len, f) == (size_t)len) {
        text[len] = '\0';
    } else {
        free(text);
        text = NULL;
    }
    fclose(f);
    /* NVRTC's PTX begins with a comment and names its target; anything else
     * (a stray file, a disk error) is recompiled over */
    if (text && (strncmp(text, "//", 2) != 0 || !strstr(text, ".target"))) {
        free(text);
        text = NULL;
    }
    return text;
}

static void write_entry(const char *dir, const char *file, const char *ptx)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return;
    size_t len = strlen(ptx), done = 0;
    while (done < len) {
        ssize_t w = write(fd, ptx + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (close(fd) != 0 || done != len || rename(tmp, file) != 0)
        remove(tmp);
}

int exa_gpu_nvrtc_ptx(const char *source, int arch, char **ptx, int *cached, char *err, size_t errlen)
{
    Nvrtc n;
    *ptx = NULL;
    *cached = 0;
    if (nvrtc_open(&n, err, errlen) != 0)
        return -1;
    int major = 0, minor = 0;
    n.version(&major, &minor);
    char dir[4000], file[4200];
    int use_cache = exa_gpu_ptx_cache_dir(dir, sizeof dir);
    if (use_cache) {
        char key[64];
        int klen = snprintf(key, sizeof key, "|%d|%d.%d", arch, major, minor);
        uint64_t h = fnv1a(fnv1a(14695981039346656037ull, source, strlen(source)), key, (size_t)klen);
        snprintf(file, sizeof file, "%s/%016llx-sm_%d.ptx", dir, (unsigned long long)h, arch);
        if ((*ptx = read_entry(file))) {
            *cached = 1;
            return 0;
        }
    }
    if (compile(&n, source, arch, ptx, err, errlen) != 0)
        return -1;
    if (use_cache) {
        make_dirs(dir);
        write_entry(dir, file, *ptx);
    }
    return 0;
}
