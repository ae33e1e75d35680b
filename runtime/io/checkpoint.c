/* checkpoint.c - atomic, checksummed checkpoint files (format in checkpoint.h).
 *
 * Atomicity comes from POSIX rename: the new contents go to a uniquely named
 * temporary file beside the target (same directory, so the same file system),
 * are flushed to the disk with fsync, and only then replace the target by
 * rename; fsync on the directory makes the rename itself durable.  A crash at
 * any point leaves the previous checkpoint intact (plus, at worst, a stray
 * ".NAME.tmp.XXXXXX" file).  The loader checks the structure, then the
 * CRC-32, then that the contents fit the model, and says which failed. */
#include "exa/error.h"
#include "exa/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static const char magic[8] = "EXACKPT";

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> 8 * i);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void encode_header(const ExaCheckpoint *c, unsigned char *h)
{
    memset(h, 0, EXA_CKPT_HEADER);
    memcpy(h, magic, 8);
    put32(h + 8, EXA_CKPT_VERSION);
    put32(h + 12, (uint32_t)c->precision);
    put64(h + 16, c->epoch);
    put64(h + 24, c->step);
    for (int i = 0; i < 4; i++)
        put64(h + 32 + 8 * i, c->rng[i]);
    put64(h + 64, (uint64_t)c->nparams);
    put32(h + 72, (uint32_t)c->ninfo);
    put32(h + 76, (uint32_t)c->narrays);
}

/* Writes n bytes and folds them into the running CRC. */
static int put(FILE *f, const void *p, size_t n, uLong *crc)
{
    *crc = crc32_z(*crc, p, n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int put_u32(FILE *f, uint32_t v, uLong *crc)
{
    unsigned char b[4];
    put32(b, v);
    return put(f, b, 4, crc);
}

static int put_u64(FILE *f, uint64_t v, uLong *crc)
{
    unsigned char b[8];
    put64(b, v);
    return put(f, b, 8, crc);
}

static int write_contents(FILE *f, const ExaCheckpoint *c)
{
    unsigned char h[EXA_CKPT_HEADER], tail[4];
    uLong crc = crc32_z(0, NULL, 0);
    encode_header(c, h);
    int rc = put(f, h, sizeof h, &crc);
    for (int i = 0; i < c->ninfo; i++) {
        const ExaCkptParam *q = &c->info[i];
        rc |= put_u32(f, (uint32_t)strlen(q->name), &crc);
        rc |= put(f, q->name, strlen(q->name), &crc);
        rc |= put_u32(f, (uint32_t)q->shape.rank, &crc);
        for (int d = 0; d < q->shape.rank; d++)
            rc |= put_u64(f, (uint64_t)q->shape.dim[d], &crc);
    }
    rc |= put(f, c->params, (size_t)c->nparams * (size_t)c->precision, &crc);
    for (int i = 0; i < c->narrays; i++) {
        const ExaCkptArray *a = &c->arrays[i];
        rc |= put_u32(f, (uint32_t)strlen(a->name), &crc);
        rc |= put(f, a->name, strlen(a->name), &crc);
        rc |= put_u64(f, (uint64_t)a->bytes, &crc);
        rc |= put(f, a->data, (size_t)a->bytes, &crc);
    }
    put32(tail, (uint32_t)crc);
    rc |= fwrite(tail, 1, 4, f) == 4 ? 0 : -1;
    return rc;
}

/* The directory part of path ("." if none), in buf. */
static void directory_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

static int sync_directory(const char *path)
{
    char dir[4096];
    directory_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int exa_checkpoint_write(const char *path, const ExaCheckpoint *c, char *err, size_t errlen)
{
    if ((c->precision != 4 && c->precision != 8) || c->narrays < 0 ||
        c->narrays > EXA_CKPT_MAX_ARRAYS || c->nparams < 0 || c->ninfo < 0)
        return exa_fail(err, errlen, "exa: %s: invalid checkpoint (precision %d, %d state arrays)", path,
                    c->precision, c->narrays);
    char dir[4096], tmp[4200];
    directory_of(path, dir, sizeof dir);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.XXXXXX", dir, base);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return exa_fail(err, errlen, "exa: %s: cannot create a temporary file in %s: %s", path, dir,
                    strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return exa_fail(err, errlen, "exa: %s: %s", path, strerror(errno));
    }
    int rc = write_contents(f, c);
    rc |= fflush(f);
    rc |= fsync(fileno(f));
    int saved = errno;
    rc |= fclose(f);
    if (rc) {
        unlink(tmp);
        return exa_fail(err, errlen, "exa: %s: cannot write %s: %s", path, tmp, strerror(saved));
    }
    if (rename(tmp, path)) {
        saved = errno;
        unlink(tmp);
        return exa_fail(err, errlen, "exa: %s: cannot rename %s to it: %s", path, tmp, strerror(saved));
    }
    if (sync_directory(path))
        return exa_fail(err, errlen, "exa: %s: cannot sync directory %s: %s", path, dir, strerror(errno));
    return 0;
}

void exa_checkpoint_free(ExaCheckpoint *c)
{
    free(c->params);
    for (int i = 0; i < c->ninfo && c->info; i++)
        free(c->info[i].name);
    free(c->info);
    for (int i = 0; i < c->narrays; i++)
        free(c->arrays[i].data);
    memset(c, 0, sizeof *c);
}

static int read_whole(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return exa_fail(err, errlen, "exa: %s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16;
    *len = 0;
    *buf = malloc(cap);
    while (*buf) {
        *len += fread(*buf + *len, 1, cap - *len, f);
        if (*len < cap)
            break;
        unsigned char *q = realloc(*buf, cap *= 2);
        if (!q)
            free(*buf);
        *buf = q;
    }
    int bad = ferror(f);
    fclose(f);
    if (!*buf || bad) {
        free(*buf);
        return exa_fail(err, errlen, "exa: %s: cannot read: %s", path, bad ? "I/O error" : "out of memory");
    }
    return 0;
}

/* A cursor over the checked buffer: every read is bounds-checked, so a
 * damaged length field reads as "truncated", never past the end. */
typedef struct Cursor {
    const unsigned char *b;
    size_t len, at;
    int bad;
} Cursor;

static const unsigned char *take(Cursor *k, uint64_t n)
{
    if (k->bad || n > k->len - k->at) {
        k->bad = 1;
        return NULL;
    }
    const unsigned char *p = k->b + k->at;
    k->at += (size_t)n;
    return p;
}

static uint64_t take64(Cursor *k)
{
    const unsigned char *p = take(k, 8);
    return p ? get64(p) : 0;
}

static uint32_t take32(Cursor *k)
{
    const unsigned char *p = take(k, 4);
    return p ? get32(p) : 0;
}

/* Decodes the file into c (lengths checked against the file size; the
 * checksum is checked before). */
static int decode(const unsigned char *b, size_t len, ExaCheckpoint *c, const char *path, char *err,
                  size_t errlen)
{
    if (len < 8 || memcmp(b, magic, 8) != 0)
        return exa_fail(err, errlen, "exa: %s: bad magic: not an exa checkpoint", path);
    if (len < EXA_CKPT_HEADER + 4)
        return exa_fail(err, errlen, "exa: %s: truncated: %zu bytes, shorter than the header", path, len);
    uint32_t version = get32(b + 8);
    if (version == 1)
        return exa_fail(err, errlen, "exa: %s: format version 1, written by an older libexa; this one reads "
                    "version %d (named optimiser state): train afresh without --resume", path,
                    EXA_CKPT_VERSION);
    if (version != EXA_CKPT_VERSION)
        return exa_fail(err, errlen, "exa: %s: format version %u, this libexa reads version %d", path,
                    version, EXA_CKPT_VERSION);
    if ((uint32_t)crc32_z(crc32_z(0, NULL, 0), b, len - 4) != get32(b + len - 4))
        return exa_fail(err, errlen, "exa: %s: checksum mismatch: the file is damaged or truncated", path);
    c->precision = (int)get32(b + 12);
    c->epoch = get64(b + 16);
    c->step = get64(b + 24);
    for (int i = 0; i < 4; i++)
        c->rng[i] = get64(b + 32 + 8 * i);
    c->nparams = (int64_t)get64(b + 64);
    uint32_t ninfo = get32(b + 72), narrays = get32(b + 76);
    if ((c->precision != 4 && c->precision != 8) || narrays > EXA_CKPT_MAX_ARRAYS || c->nparams < 0
        || (uint64_t)c->nparams > len || ninfo > len)
        return exa_fail(err, errlen, "exa: %s: corrupt header (precision %d, %u state arrays)", path,
                    c->precision, narrays);
    Cursor k = { b, len - 4, EXA_CKPT_HEADER, 0 };
    c->info = calloc(ninfo ? ninfo : 1, sizeof *c->info);
    if (!c->info)
        return exa_fail(err, errlen, "exa: %s: out of memory", path);
    for (uint32_t i = 0; i < ninfo && !k.bad; i++) {
        uint32_t n = take32(&k);
        const unsigned char *name = take(&k, n);
        uint32_t rank = take32(&k);
        if (k.bad || rank > EXA_MAX_RANK) {
            k.bad = 1;
            break;
        }
        ExaCkptParam *q = &c->info[c->ninfo++];
        q->name = malloc(n + 1u);
        if (!q->name)
            return exa_fail(err, errlen, "exa: %s: out of memory", path);
        memcpy(q->name, name, n);
        q->name[n] = 0;
        q->shape.rank = (int)rank;
        for (uint32_t d = 0; d < rank; d++)
            q->shape.dim[d] = (int64_t)take64(&k);
    }
    size_t wbytes = (size_t)c->nparams * (size_t)c->precision;
    const unsigned char *w = take(&k, wbytes);
    if (w && (c->params = malloc(wbytes ? wbytes : 1)))
        memcpy(c->params, w, wbytes);
    else if (w)
        return exa_fail(err, errlen, "exa: %s: out of memory", path);
    for (uint32_t i = 0; i < narrays && !k.bad; i++) {
        uint32_t n = take32(&k);
        const unsigned char *name = take(&k, n);
        uint64_t bytes = take64(&k);
        const unsigned char *data = take(&k, bytes);
        if (k.bad || n >= EXA_CKPT_NAME)
            break;
        ExaCkptArray *a = &c->arrays[c->narrays++];
        memcpy(a->name, name, n);
        a->name[n] = 0;
        a->bytes = (int64_t)bytes;
        a->data = malloc(bytes ? bytes : 1);
        if (!a->data)
            return exa_fail(err, errlen, "exa: %s: out of memory", path);
        memcpy(a->data, data, bytes);
    }
    if (k.bad || c->narrays != (int)narrays)
        return exa_fail(err, errlen, "exa: %s: corrupt: its records run past the end of the file", path);
    if (k.at != k.len)
        return exa_fail(err, errlen, "exa: %s: corrupt: %zu bytes after its last record", path, k.len - k.at);
    return 0;
}

int exa_checkpoint_read(const char *path, ExaCheckpoint *c, int64_t expect_nparams,
                        int expect_precision, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    unsigned char *b = NULL;
    size_t len = 0;
    if (read_whole(path, &b, &len, err, errlen))
        return -1;
    int rc = decode(b, len, c, path, err, errlen);
    if (!rc && expect_nparams >= 0 && c->nparams != expect_nparams)
        rc = exa_fail(err, errlen, "exa: %s: holds %lld parameters, the model has %lld", path,
                  (long long)c->nparams, (long long)expect_nparams);
    if (!rc && expect_precision > 0 && c->precision != expect_precision)
        rc = exa_fail(err, errlen, "exa: %s: holds f%d parameters, the model is f%d", path,
                  8 * c->precision, 8 * expect_precision);
    free(b);
    if (rc)
        exa_checkpoint_free(c);
    return rc;
}

static void shape_text(const ExaShape *s, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < s->rank && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", d ? ", " : "", (long long)s->dim[d]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

int exa_checkpoint_check_model(const ExaCheckpoint *c, const ExaProgram *p, const char *path,
                               char *err, size_t errlen)
{
    for (int i = 0; i < c->ninfo || i < p->nparams; i++) {
        if (i >= c->ninfo)
            return exa_fail(err, errlen, "exa: %s: written by another model: it ends after %d parameters, "
                        "the model has '%s' next", path, c->ninfo, p->params[i].path);
        if (i >= p->nparams)
            return exa_fail(err, errlen, "exa: %s: written by another model: it has parameter '%s' after "
                        "the model's last (%d)", path, c->info[i].name, p->nparams);
        const ExaCkptParam *q = &c->info[i];
        const ExaParamInfo *m = &p->params[i];
        int same = strcmp(q->name, m->path) == 0 && q->shape.rank == m->shape.rank;
        for (int d = 0; same && d < q->shape.rank; d++)
            same = q->shape.dim[d] == m->shape.dim[d];
        if (!same) {
            char a[128], b[128];
            shape_text(&q->shape, a, sizeof a);
            shape_text(&m->shape, b, sizeof b);
            return exa_fail(err, errlen, "exa: %s: written by another model: parameter %d is '%s' %s in "
                        "the checkpoint and '%s' %s in the model", path, i + 1, q->name, a, m->path, b);
        }
    }
    return 0;
}

const ExaCkptArray *exa_checkpoint_array(const ExaCheckpoint *c, const char *name)
{
    for (int i = 0; i < c->narrays; i++)
        if (strcmp(c->arrays[i].name, name) == 0)
            return &c->arrays[i];
    return NULL;
}

int exa_checkpoint_clean(const char *dir, const char *name)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, ".%s.tmp.", name);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            n += unlink(path) == 0;
        }
    closedir(d);
    return n;
}
