/* data_load.c - reading data sets from IDX, CSV and NumPy .npy files.
 *
 * Every loader reads the whole file into memory through zlib's gzread (which
 * passes uncompressed files through unchanged, so foo.gz and foo both work),
 * then parses the bytes.  Reading first and parsing second keeps each parser
 * a plain function of a byte array and lets a truncated file be described by
 * how much it does hold ("header says 60000 images, file holds 41213").
 * Errors are one line, "exa: FILE: what is wrong", written into the caller's
 * buffer; nothing here prints or exits.  Multi-byte values in .npy files are
 * read in host order, which is little-endian on every machine libexa targets;
 * big-endian files are rejected by name. */
#include "exa/error.h"
#include "exa/data.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct Bytes {
    unsigned char *p;
    size_t len;
} Bytes;

static int read_all(const char *path, Bytes *b, char *err, size_t errlen);

int exa_data_read_file(const char *path, unsigned char **data, size_t *len, char *err,
                       size_t errlen)
{
    Bytes bytes, *b = &bytes;
    int rc = read_all(path, b, err, errlen);
    *data = b->p;
    *len = b->len;
    return rc;
}

/* A gzip stream that ends before its trailer (a file cut short, or cut at
 * the end of one member of several) is an error like any other: what it
 * does hold may end on a line boundary, and a CSV file would then load
 * with part of its rows and nothing to say so.  gzread reports it by
 * returning 0 with Z_BUF_ERROR set, not -1.  zlib's message belongs to the
 * handle, so it is copied into err before gzclose frees it. */
static int read_all(const char *path, Bytes *b, char *err, size_t errlen)
{
    b->p = NULL;
    b->len = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return exa_fail(err, errlen, "exa: %s: cannot open: %s", path,
                    errno ? strerror(errno) : "out of memory");
    size_t cap = 1 << 20;
    b->p = malloc(cap);
    int rc = 0;
    for (;;) {
        if (!b->p) {
            rc = exa_fail(err, errlen, "exa: %s: out of memory reading the file", path);
            break;
        }
        if (b->len == cap) {
            unsigned char *q = realloc(b->p, cap * 2);
            if (!q)
                free(b->p);
            b->p = q;
            cap *= 2;
            continue;
        }
        size_t want = cap - b->len > (1u << 30) ? (1u << 30) : cap - b->len;
        errno = 0;
        int got = gzread(gz, b->p + b->len, (unsigned)want);
        if (got > 0) {
            b->len += (size_t)got;
            continue;
        }
        int code = Z_OK, saved = errno;
        const char *msg = gzerror(gz, &code);
        size_t plen = strlen(path);
        if (msg && strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
            msg += plen + 2; /* zlib's message starts with the path */
        if (code == Z_BUF_ERROR)
            rc = exa_fail(err, errlen, "exa: %s: truncated: the gzip stream ends early (after %zu bytes "
                      "of data), the file is cut short", path, b->len);
        else if (got < 0 || code != Z_OK)
            rc = exa_fail(err, errlen, "exa: %s: cannot read: %s", path,
                      code == Z_ERRNO ? strerror(saved) : msg);
        break;
    }
    gzclose(gz);
    if (rc) {
        free(b->p);
        b->p = NULL;
        b->len = 0;
    }
    return rc;
}

static int64_t shape_size(const ExaShape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dim[i];
    return n;
}

/* Sets d's per-sample shape: the declared one if given and of the same size,
 * the file's otherwise; a declared shape of another size is an error. */
static int set_shape(ExaDataset *d, const ExaShape *file, const ExaLoadOptions *opt,
                     const char *path, char *err, size_t errlen)
{
    d->shape = *file;
    d->features = shape_size(file);
    if (!opt->shape)
        return 0;
    if (exa_data_check_shape(d, opt->shape, path, err, errlen))
        return -1;
    d->shape = *opt->shape;
    return 0;
}

int exa_data_set_classes(ExaDataset *d, int classes, const char *what, char *err, size_t errlen)
{
    if (!d->label && d->n > 0)
        return exa_fail(err, errlen, "exa: %s: has no class labels", what);
    int32_t max = -1;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->label[i] < 0 || (classes > 0 && d->label[i] >= classes))
            return exa_fail(err, errlen, "exa: %s: label %d of sample %lld is outside 0..%d", what,
                        d->label[i], (long long)i, classes > 0 ? classes - 1 : INT32_MAX);
        if (d->label[i] > max)
            max = d->label[i];
    }
    d->target = EXA_TARGET_CLASS;
    d->classes = classes > 0 ? classes : max + 1;
    return 0;
}

static int64_t apply_limit(int64_t n, const ExaLoadOptions *opt)
{
    return opt->limit > 0 && opt->limit < n ? opt->limit : n;
}

static double scale_of(const ExaLoadOptions *opt)
{
    return opt->scale != 0 ? opt->scale : 1.0;
}

/* ---- IDX ---------------------------------------------------------------- */

typedef struct Idx {
    ExaShape item; /* shape of one entry (rank - 1 dims) */
    int64_t count; /* first dimension */
    const unsigned char *data;
} Idx;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses an IDX header; noun names the entries in messages ("images"). */
static int idx_parse(const Bytes *b, const char *path, const char *noun, Idx *idx, char *err,
                     size_t errlen)
{
    if (b->len < 4)
        return exa_fail(err, errlen, "exa: %s: %zu bytes, too short for an IDX header", path, b->len);
    const unsigned char *p = b->p;
    if (p[0] != 0 || p[1] != 0 || p[3] == 0 || p[3] > EXA_MAX_RANK + 1)
        return exa_fail(err, errlen, "exa: %s: bad magic 0x%08x: not an IDX file", path, be32(p));
    if (p[2] != 0x08)
        return exa_fail(err, errlen,
                    "exa: %s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                    path, p[2]);
    int rank = p[3];
    size_t header = 4 + 4 * (size_t)rank;
    if (b->len < header)
        return exa_fail(err, errlen, "exa: %s: truncated in the IDX header (%zu of %zu bytes)", path,
                    b->len, header);
    idx->count = be32(p + 4);
    idx->item.rank = rank - 1;
    for (int i = 1; i < rank; i++)
        idx->item.dim[i - 1] = be32(p + 4 + 4 * i);
    int64_t item = shape_size(&idx->item);
    size_t payload = b->len - header;
    if (item == 0)
        return exa_fail(err, errlen, "exa: %s: IDX dimensions give empty %s", path, noun);
    if (idx->count == 0)
        return exa_fail(err, errlen, "exa: %s: no samples: the header says 0 %s", path, noun);
    if ((uint64_t)idx->count * (uint64_t)item != payload) {
        if (payload < (uint64_t)idx->count * (uint64_t)item)
            return exa_fail(err, errlen, "exa: %s: truncated: header says %lld %s, file holds %lld",
                        path, (long long)idx->count, noun, (long long)(payload / (uint64_t)item));
        return exa_fail(err, errlen, "exa: %s: header says %lld %s, but the file has %zu bytes more",
                    path, (long long)idx->count, noun,
                    payload - (size_t)idx->count * (size_t)item);
    }
    idx->data = p + header;
    return 0;
}

static int idx_labels(ExaDataset *d, const char *labels, const char *images, int64_t nimages,
                      const ExaLoadOptions *opt, char *err, size_t errlen)
{
    Bytes b;
    Idx idx;
    if (exa_data_read_file(labels, &b.p, &b.len, err, errlen))
        return -1;
    int rc = idx_parse(&b, labels, "labels", &idx, err, errlen);
    if (!rc && idx.item.rank != 0)
        rc = exa_fail(err, errlen, "exa: %s: labels must be an idx1 file (rank 1), this one has rank %d",
                  labels, idx.item.rank + 1);
    if (!rc && idx.count != nimages)
        rc = exa_fail(err, errlen, "exa: %s: %lld labels, but %s has %lld images", labels,
                  (long long)idx.count, images, (long long)nimages);
    if (!rc) {
        d->label = malloc((size_t)d->n * sizeof *d->label);
        if (!d->label)
            rc = exa_fail(err, errlen, "exa: %s: out of memory", labels);
        for (int64_t i = 0; !rc && i < d->n; i++)
            d->label[i] = idx.data[i];
        if (!rc)
            rc = exa_data_set_classes(d, opt->classes, labels, err, errlen);
    }
    free(b.p);
    return rc;
}

int exa_data_load_idx(ExaDataset *d, const char *images, const char *labels,
                      const ExaLoadOptions *opt, char *err, size_t errlen)
{
    ExaLoadOptions none = {0};
    opt = opt ? opt : &none;
    memset(d, 0, sizeof *d);
    Bytes b;
    Idx idx;
    if (exa_data_read_file(images, &b.p, &b.len, err, errlen))
        return -1;
    int rc = idx_parse(&b, images, "images", &idx, err, errlen);
    if (!rc && idx.item.rank == 0) {
        idx.item.rank = 1; /* an idx1 feature file: one value per sample */
        idx.item.dim[0] = 1;
    }
    if (!rc)
        rc = set_shape(d, &idx.item, opt, images, err, errlen);
    if (!rc) {
        d->n = apply_limit(idx.count, opt);
        d->bytes = malloc((size_t)(d->n * d->features));
        if (!d->bytes)
            rc = exa_fail(err, errlen, "exa: %s: out of memory for %lld samples", images, (long long)d->n);
    }
    if (!rc && !(isfinite((float)(255 * scale_of(opt) + opt->shift)) && isfinite((float)opt->shift)))
        rc = exa_fail(err, errlen, "exa: %s: scale %g and shift %g give values beyond float32", images,
                  scale_of(opt), opt->shift);
    if (!rc) { /* kept as bytes: a feature is converted where it is read (exa/data.h) */
        memcpy(d->bytes, idx.data, (size_t)(d->n * d->features));
        d->byte_scale = (float)scale_of(opt), d->byte_shift = (float)opt->shift;
    }
    int64_t count = idx.count;
    free(b.p);
    if (!rc && labels)
        rc = idx_labels(d, labels, images, count, opt, err, errlen);
    if (rc)
        exa_data_free(d);
    return rc;
}

/* ---- CSV ---------------------------------------------------------------- */

typedef struct Line {
    const char *s, *end;
    int number; /* 1-based */
} Line;

/* Advances to the next line (without its newline); 0 at the end of the text. */
static int next_line(const char **cur, const char *end, Line *l)
{
    if (*cur >= end)
        return 0;
    l->s = *cur;
    const char *nl = memchr(*cur, '\n', (size_t)(end - *cur));
    l->end = nl ? nl : end;
    *cur = nl ? nl + 1 : end;
    if (l->end > l->s && l->end[-1] == '\r')
        l->end--;
    l->number++;
    return 1;
}

static int blank(const Line *l)
{
    for (const char *p = l->s; p < l->end; p++)
        if (!isspace((unsigned char)*p))
            return 0;
    return 1;
}

/* Parses up to max comma-separated numbers; returns the field count, and in
 * *bad the 1-based index of the first field that is not a number (0 if none). */
static int parse_fields(const Line *l, double *out, int max, int *bad)
{
    char buf[128];
    int n = 0;
    *bad = 0;
    const char *p = l->s;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(l->end - p));
        const char *fe = comma ? comma : l->end;
        size_t len = (size_t)(fe - p);
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, p, len);
        buf[len] = '\0';
        char *endp;
        double v = strtod(buf, &endp);
        while (isspace((unsigned char)*endp))
            endp++;
        if ((endp == buf || *endp) && !*bad)
            *bad = n + 1;
        if (n < max)
            out[n] = v;
        n++;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

/* Where the columns go: the first `features`, then label or real targets. */
static int csv_layout(ExaDataset *d, int cols, const ExaLoadOptions *opt, const char *path,
                      char *err, size_t errlen)
{
    int targets = opt->targets == EXA_CSV_NO_TARGETS ? 0 : opt->targets == 0 ? 1 : opt->targets;
    if (opt->targets < EXA_CSV_NO_TARGETS || targets >= cols)
        return exa_fail(err, errlen, "exa: %s: %d columns leave no features after %d target column%s",
                    path, cols, targets, targets == 1 ? "" : "s");
    d->target = opt->targets == EXA_CSV_NO_TARGETS ? EXA_TARGET_NONE
                : opt->targets == 0                 ? EXA_TARGET_CLASS
                                                    : EXA_TARGET_REAL;
    d->targets = d->target == EXA_TARGET_REAL ? targets : 0;
    ExaShape file = {.rank = 1, .dim = {cols - targets}};
    return set_shape(d, &file, opt, path, err, errlen);
}

/* Field j (0-based) of a line, trimmed, as text for a message. */
static void field_text(const Line *l, int64_t j, char *buf, size_t size)
{
    const char *p = l->s, *end;
    for (; j > 0 && p < l->end; j--) {
        const char *comma = memchr(p, ',', (size_t)(l->end - p));
        p = comma ? comma + 1 : l->end;
    }
    end = memchr(p, ',', (size_t)(l->end - p));
    end = end ? end : l->end;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    snprintf(buf, size, "%.*s", (int)(end - p), p);
}

/* A value that is NaN or infinite, or becomes so in float32, would only
 * surface later as "the loss is NaN"; it is refused here, where the line and
 * field are known.  Returns 0 or the failure. */
static int csv_finite(double v, float stored, const Line *l, int64_t j, const char *path,
                      char *err, size_t errlen)
{
    if (isfinite(v) && isfinite(stored))
        return 0;
    char text[64];
    field_text(l, j, text, sizeof text);
    return exa_fail(err, errlen, "exa: %s: line %d, field %lld: %s %s", path, l->number,
                (long long)j + 1, text,
                isfinite(v) ? "does not fit a float32 (after scale and shift)"
                            : "is not a finite number");
}

/* Stores one parsed row as sample i. */
static int csv_store(ExaDataset *d, int64_t i, const double *v, const Line *l,
                     const ExaLoadOptions *opt, const char *path, char *err, size_t errlen)
{
    double scale = scale_of(opt);
    for (int64_t j = 0; j < d->features; j++) {
        float *x = &d->x[i * d->features + j];
        *x = (float)(v[j] * scale + opt->shift);
        if (csv_finite(v[j], *x, l, j, path, err, errlen))
            return -1;
    }
    if (d->target == EXA_TARGET_REAL)
        for (int64_t j = 0; j < d->targets; j++) {
            float *y = &d->y[i * d->targets + j];
            *y = (float)v[d->features + j];
            if (csv_finite(v[d->features + j], *y, l, d->features + j, path, err, errlen))
                return -1;
        }
    if (d->target == EXA_TARGET_CLASS) {
        double c = v[d->features];
        if (csv_finite(c, 0, l, d->features, path, err, errlen))
            return -1;
        if (!(c >= 0 && c <= INT32_MAX) || c != floor(c))
            return exa_fail(err, errlen, "exa: %s: line %d: label %g is not a class number (0, 1, ...)",
                        path, l->number, c);
        d->label[i] = (int32_t)c;
    }
    return 0;
}

static int csv_parse(ExaDataset *d, const Bytes *b, const ExaLoadOptions *opt, const char *path,
                     char *err, size_t errlen)
{
    const char *text = (const char *)b->p, *end = text + b->len, *cur = text;
    if (memchr(text, '\0', b->len))
        return exa_fail(err, errlen, "exa: %s: holds a zero byte: not a CSV text file", path);
    Line l = {0};
    int bad, cols = 0;
    double probe[1];
    /* the first non-blank line: a header if any field is not a number */
    while (next_line(&cur, end, &l) && blank(&l)) {
    }
    if (l.number == 0 || blank(&l))
        return exa_fail(err, errlen, "exa: %s: no data rows", path);
    cols = parse_fields(&l, probe, 0, &bad);
    const char *first_data = bad ? cur : l.s;
    int first_number = bad ? l.number : l.number - 1;
    int64_t rows = 0;
    for (const char *p = first_data; p < end; p++)
        rows += *p == '\n';
    rows += 1;
    if (csv_layout(d, cols, opt, path, err, errlen))
        return -1;
    d->x = malloc((size_t)(rows * d->features) * sizeof *d->x);
    d->label = d->target == EXA_TARGET_CLASS ? malloc((size_t)rows * sizeof *d->label) : NULL;
    d->y = d->target == EXA_TARGET_REAL ? malloc((size_t)(rows * d->targets) * sizeof *d->y) : NULL;
    double *v = malloc((size_t)cols * sizeof *v);
    if (!d->x || !v || (d->target == EXA_TARGET_CLASS && !d->label) ||
        (d->target == EXA_TARGET_REAL && !d->y)) {
        free(v);
        return exa_fail(err, errlen, "exa: %s: out of memory", path);
    }
    cur = first_data;
    l.number = first_number;
    int64_t n = 0, limit = apply_limit(rows, opt);
    int rc = 0;
    while (!rc && n < limit && next_line(&cur, end, &l)) {
        if (blank(&l))
            continue;
        int got = parse_fields(&l, v, cols, &bad);
        if (got != cols)
            rc = exa_fail(err, errlen, "exa: %s: line %d has %d fields, expected %d", path, l.number,
                      got, cols);
        else if (bad)
            rc = exa_fail(err, errlen, "exa: %s: line %d, field %d: not a number", path, l.number, bad);
        else
            rc = csv_store(d, n++, v, &l, opt, path, err, errlen);
    }
    free(v);
    d->n = n;
    if (!rc && n == 0)
        rc = exa_fail(err, errlen, "exa: %s: no data rows", path);
    if (!rc && d->target == EXA_TARGET_CLASS)
        rc = exa_data_set_classes(d, opt->classes, path, err, errlen);
    return rc;
}

int exa_data_load_csv(ExaDataset *d, const char *path, const ExaLoadOptions *opt, char *err,
                      size_t errlen)
{
    ExaLoadOptions none = {0};
    opt = opt ? opt : &none;
    memset(d, 0, sizeof *d);
    Bytes b;
    if (exa_data_read_file(path, &b.p, &b.len, err, errlen))
        return -1;
    int rc = csv_parse(d, &b, opt, path, err, errlen);
    free(b.p);
    if (rc)
        exa_data_free(d);
    return rc;
}
