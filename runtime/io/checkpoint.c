/* checkpoint.c - atomic, checksummed checkpoint files (format in checkpoint.h).
 *
 * Atomicity comes from POSIX rename: the new contents go to a uniquely named
 * temporary file beside the target (same directory, so the same file system),
 * are flushed to the disk with fsync, and only then replace the target by
 * rename; fsync on the directory makes the rename itself durable.  A crash at
 * any point leaves the previous checkpoint intact (plus, at worst, a stray
 * ".NAME.tmp.XXXXXX" file).  The loader checks the structure, then the
 * CRC-32, then that the contents fit the model, and says which failed. */
#include "exa/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static const char magic[8] = "EXACKPT";

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

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
    put32(h + 72, (uint32_t)c->nstate);
    for (int i = 0; i < c->nstate; i++)
        put64(h + 80 + 8 * i, (uint64_t)c->state_bytes[i]);
}

/* Writes n bytes and folds them into the running CRC. */
static int put(FILE *f, const void *p, size_t n, uLong *crc)
{
    *crc = crc32_z(*crc, p, n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int write_contents(FILE *f, const ExaCheckpoint *c)
{
    unsigned char h[EXA_CKPT_HEADER], tail[4];
    uLong crc = crc32_z(0, NULL, 0);
    encode_header(c, h);
    int rc = put(f, h, sizeof h, &crc);
    rc |= put(f, c->params, (size_t)c->nparams * (size_t)c->precision, &crc);
    for (int i = 0; i < c->nstate; i++)
        rc |= put(f, c->state[i], (size_t)c->state_bytes[i], &crc);
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
    if ((c->precision != 4 && c->precision != 8) || c->nstate < 0 ||
        c->nstate > EXA_CKPT_MAX_STATE || c->nparams < 0)
        return fail(err, errlen, "exa: %s: invalid checkpoint (precision %d, %d state arrays)", path,
                    c->precision, c->nstate);
    char dir[4096], tmp[4200];
    directory_of(path, dir, sizeof dir);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.XXXXXX", dir, base);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return fail(err, errlen, "exa: %s: cannot create a temporary file in %s: %s", path, dir,
                    strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return fail(err, errlen, "exa: %s: %s", path, strerror(errno));
    }
    int rc = write_contents(f, c);
    rc |= fflush(f);
    rc |= fsync(fileno(f));
    int saved = errno;
    rc |= fclose(f);
    if (rc) {
        unlink(tmp);
        return fail(err, errlen, "exa: %s: cannot write %s: %s", path, tmp, strerror(saved));
    }
    if (rename(tmp, path)) {
        saved = errno;
        unlink(tmp);
        return fail(err, errlen, "exa: %s: cannot rename %s to it: %s", path, tmp, strerror(saved));
    }
    if (sync_directory(path))
        return fail(err, errlen, "exa: %s: cannot sync directory %s: %s", path, dir, strerror(errno));
    return 0;
}

void exa_checkpoint_free(ExaCheckpoint *c)
{
    free(c->params);
    for (int i = 0; i < EXA_CKPT_MAX_STATE; i++)
        free(c->state[i]);
    memset(c, 0, sizeof *c);
}

static int read_whole(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "exa: %s: cannot open: %s", path, strerror(errno));
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
        return fail(err, errlen, "exa: %s: cannot read: %s", path, bad ? "I/O error" : "out of memory");
    }
    return 0;
}

/* Decodes and checks the header; *total is the file size it implies. */
static int decode_header(const unsigned char *b, size_t len, ExaCheckpoint *c, size_t *total,
                         const char *path, char *err, size_t errlen)
{
    if (len < 8 || memcmp(b, magic, 8) != 0)
        return fail(err, errlen, "exa: %s: bad magic: not an exa checkpoint", path);
    if (len < EXA_CKPT_HEADER + 4)
        return fail(err, errlen, "exa: %s: truncated: %zu bytes, shorter than the header", path, len);
    uint32_t version = get32(b + 8);
    if (version != EXA_CKPT_VERSION)
        return fail(err, errlen, "exa: %s: format version %u, this libexa reads version %d", path,
                    version, EXA_CKPT_VERSION);
    c->precision = (int)get32(b + 12);
    c->epoch = get64(b + 16);
    c->step = get64(b + 24);
    for (int i = 0; i < 4; i++)
        c->rng[i] = get64(b + 32 + 8 * i);
    c->nparams = (int64_t)get64(b + 64);
    c->nstate = (int)get32(b + 72);
    if ((c->precision != 4 && c->precision != 8) || c->nstate < 0 ||
        c->nstate > EXA_CKPT_MAX_STATE || c->nparams < 0 || (uint64_t)c->nparams > len)
        return fail(err, errlen, "exa: %s: corrupt header (precision %d, %d state arrays)", path,
                    c->precision, c->nstate);
    *total = EXA_CKPT_HEADER + (size_t)c->nparams * (size_t)c->precision + 4;
    for (int i = 0; i < c->nstate; i++) {
        c->state_bytes[i] = (int64_t)get64(b + 80 + 8 * i);
        if (c->state_bytes[i] < 0 || (uint64_t)c->state_bytes[i] > len)
            return fail(err, errlen, "exa: %s: truncated: state array %d of %lld bytes", path, i,
                        (long long)c->state_bytes[i]);
        *total += (size_t)c->state_bytes[i];
    }
    if (len != *total)
        return fail(err, errlen, "exa: %s: %s: header says %zu bytes, file holds %zu", path,
                    len < *total ? "truncated" : "trailing data", *total, len);
    return 0;
}

/* Copies the payload out of the checked buffer. */
static int unpack(const unsigned char *b, ExaCheckpoint *c, const char *path, char *err,
                  size_t errlen)
{
    size_t off = EXA_CKPT_HEADER, n = (size_t)c->nparams * (size_t)c->precision;
    c->params = malloc(n ? n : 1);
    int ok = c->params != NULL;
    if (ok)
        memcpy(c->params, b + off, n);
    off += n;
    for (int i = 0; ok && i < c->nstate; i++) {
        size_t s = (size_t)c->state_bytes[i];
        c->state[i] = malloc(s ? s : 1);
        ok = c->state[i] != NULL;
        if (ok)
            memcpy(c->state[i], b + off, s);
        off += s;
    }
    return ok ? 0 : fail(err, errlen, "exa: %s: out of memory", path);
}

int exa_checkpoint_read(const char *path, ExaCheckpoint *c, int64_t expect_nparams,
                        int expect_precision, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    unsigned char *b = NULL;
    size_t len = 0, total = 0;
    if (read_whole(path, &b, &len, err, errlen))
        return -1;
    int rc = decode_header(b, len, c, &total, path, err, errlen);
    if (!rc && (uint32_t)crc32_z(crc32_z(0, NULL, 0), b, total - 4) != get32(b + total - 4))
        rc = fail(err, errlen, "exa: %s: checksum mismatch: the file is damaged", path);
    if (!rc && expect_nparams >= 0 && c->nparams != expect_nparams)
        rc = fail(err, errlen, "exa: %s: holds %lld parameters, the model has %lld", path,
                  (long long)c->nparams, (long long)expect_nparams);
    if (!rc && expect_precision > 0 && c->precision != expect_precision)
        rc = fail(err, errlen, "exa: %s: holds f%d parameters, the model is f%d", path,
                  8 * c->precision, 8 * expect_precision);
    if (!rc)
        rc = unpack(b, c, path, err, errlen);
    free(b);
    if (rc)
        exa_checkpoint_free(c);
    return rc;
}
