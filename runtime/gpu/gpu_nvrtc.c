/* gpu_nvrtc.c - NVRTC at run time and the on-disk PTX cache (exa/gpu_nvrtc.h).
 *
 * NVRTC is opened by the loader exac shares (exa/nvrtc_lib.h: $EXA_NVRTC,
 * the names the dynamic loader knows, the toolkit CMake found,
 * /usr/local/cuda).
 *
 * A cache entry is one file NAME-sm_NN.ptx, NAME the 64-bit FNV-1a hash of
 * the source, the architecture and the NVRTC version (a newer NVRTC may make
 * better code).  Entries are written to a temporary file in the same
 * directory and renamed into place, so ranks of one job sharing a home
 * directory never read half a file; the cache is only ever an optimisation,
 * and failing to read or write it is not an error. */
#include "exa/gpu_nvrtc.h"
#include "exa/nvrtc_lib.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* NVRTC's log reduced to its first non-empty line: errors are one line */
static void first_line(const char *log, char *err, size_t errlen)
{
    while (*log == '\n')
        log++;
    size_t n = strcspn(log, "\n");
    snprintf(err, errlen, "NVRTC: %.*s", (int)n, log);
}

/* NVRTC's PTX for compute_<arch>; one line in err when it fails */
static int compile(const ExaNvrtc *n, const char *source, int arch, char **ptx, char *err, size_t errlen)
{
    char archopt[64], *log = NULL;
    snprintf(archopt, sizeof archopt, "--gpu-architecture=compute_%d", arch);
    int rc = exa_nvrtc_compile(n, source, archopt, ptx, &log);
    if (rc == -2)
        first_line(log, err, errlen);
    else if (rc != 0)
        snprintf(err, errlen, "%s", log ? log : "NVRTC: out of memory");
    free(log);
    return rc == 0 ? 0 : -1;
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
    ExaNvrtc n;
    char why[256];
    int missing;
    *ptx = NULL;
    *cached = 0;
    if (exa_nvrtc_open(&n, why, sizeof why, &missing) != 0) {
        if (missing)
            snprintf(err, errlen, "the NVRTC found lacks an entry point (too old a version?)");
        else
            snprintf(err, errlen, "no NVRTC to compile this program's CUDA code (libnvrtc.so: %s); install the "
                                  "CUDA toolkit's NVRTC or set EXA_NVRTC, or recompile with exac --gpu-arch sm_NN",
                     why);
        return -1;
    }
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
