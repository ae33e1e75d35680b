/* data_npy.c - reading NumPy .npy files into data sets.
 *
 * The format (numpy.lib.format): the magic "\x93NUMPY", a major and minor
 * version byte, a header length (2 bytes little-endian in 1.0, 4 bytes in 2.0
 * and 3.0), then a Python dict literal with 'descr', 'fortran_order' and
 * 'shape', then the raw array.  The dict is read by looking up the three keys,
 * which is all NumPy ever writes there.  Supported: C order, little-endian
 * (or byte-sized) float32/64, int32/64 and uint8; anything else is an error
 * that names what the file holds. */
#include "exa/error.h"
#include "exa/data.h"
#include "exa/npy.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Npy {
    char kind;     /* 'f', 'i' or 'u' */
    int size;      /* bytes per element */
    char descr[16];
    int rank;
    int64_t dim[EXA_MAX_RANK + 1];
    const unsigned char *data;
    int scalar_ok; /* exa_npy_read_reals: shape () is one element, read as shape (1,) */
    int scalar;
} Npy;

/* The text after "'key':" in the header dict, or NULL. */
static const char *dict_value(const char *dict, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(dict, quoted);
    if (!p) {
        snprintf(quoted, sizeof quoted, "\"%s\"", key);
        p = strstr(dict, quoted);
    }
    if (!p)
        return NULL;
    p = strchr(p + strlen(quoted), ':');
    if (!p)
        return NULL;
    for (p++; *p == ' '; p++) {
    }
    return p;
}

static int parse_descr(Npy *a, const char *v, const char *path, char *err, size_t errlen)
{
    if (!v || (*v != '\'' && *v != '"'))
        return exa_fail(err, errlen, "exa: %s: .npy header has no 'descr' string", path);
    const char *end = strchr(v + 1, *v);
    size_t len = end ? (size_t)(end - v - 1) : 0;
    if (!end || len == 0 || len >= sizeof a->descr)
        return exa_fail(err, errlen, "exa: %s: .npy header has a malformed 'descr'", path);
    memcpy(a->descr, v + 1, len);
    a->descr[len] = '\0';
    char order = a->descr[0];
    a->kind = a->descr[1];
    a->size = atoi(a->descr + 2);
    int ok = (a->kind == 'f' && (a->size == 4 || a->size == 8)) ||
             (a->kind == 'i' && (a->size == 4 || a->size == 8)) || (a->kind == 'u' && a->size == 1);
    if (!strchr("<|=", order) || !ok)
        return exa_fail(err, errlen,
                    "exa: %s: dtype '%s' is not supported (little-endian f4, f8, i4, i8 or u1)", path,
                    a->descr);
    return 0;
}

static int parse_shape(Npy *a, const char *v, const char *path, char *err, size_t errlen)
{
    if (!v || *v != '(')
        return exa_fail(err, errlen, "exa: %s: .npy header has no 'shape' tuple", path);
    a->rank = 0;
    for (v++;;) {
        while (*v == ' ' || *v == ',')
            v++;
        if (*v == ')')
            break;
        if (!isdigit((unsigned char)*v) || a->rank > EXA_MAX_RANK)
            return exa_fail(err, errlen, "exa: %s: .npy 'shape' is malformed or has over %d dimensions",
                        path, EXA_MAX_RANK + 1);
        char *end;
        a->dim[a->rank++] = strtoll(v, &end, 10);
        v = end;
    }
    if (a->rank == 0 && a->scalar_ok) {
        a->rank = 1;
        a->dim[0] = 1;
        a->scalar = 1;
    }
    if (a->rank == 0)
        return exa_fail(err, errlen, "exa: %s: the array is a scalar; expected one row per sample",
                    path);
    return 0;
}

static int npy_parse(const unsigned char *p, size_t len, const char *path, Npy *a, char *err,
                     size_t errlen)
{
    if (len < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return exa_fail(err, errlen, "exa: %s: bad magic: not a NumPy .npy file", path);
    int major = p[6];
    if (major < 1 || major > 3)
        return exa_fail(err, errlen, "exa: %s: .npy format version %d.%d is not supported", path, major,
                    p[7]);
    size_t hlen = major == 1 ? (size_t)p[8] | (size_t)p[9] << 8
                             : (len < 12 ? SIZE_MAX
                                         : (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 |
                                               (size_t)p[11] << 24);
    size_t start = major == 1 ? 10 : 12;
    if (hlen == SIZE_MAX || hlen > len - start)
        return exa_fail(err, errlen, "exa: %s: truncated in the .npy header", path);
    char *dict = malloc(hlen + 1);
    if (!dict)
        return exa_fail(err, errlen, "exa: %s: out of memory", path);
    memcpy(dict, p + start, hlen);
    dict[hlen] = '\0';
    const char *fo = dict_value(dict, "fortran_order");
    int rc = parse_descr(a, dict_value(dict, "descr"), path, err, errlen);
    if (!rc && (!fo || strncmp(fo, "False", 5) != 0))
        rc = exa_fail(err, errlen, "exa: %s: the array is not in C order (fortran_order is not False)",
                  path);
    if (!rc)
        rc = parse_shape(a, dict_value(dict, "shape"), path, err, errlen);
    free(dict);
    if (rc)
        return -1;
    size_t row = (size_t)a->size;
    for (int i = 1; i < a->rank; i++) {
        if (a->dim[i] > 0 && row > (size_t)INT64_MAX / (size_t)a->dim[i])
            return exa_fail(err, errlen, "exa: %s: the array's shape is too large for this machine",
                        path);
        row *= (size_t)a->dim[i];
    }
    size_t payload = len - start - hlen;
    if (a->dim[0] == 0 || row == 0) {
        char shape[128];
        size_t used = 0;
        for (int i = 0; i < a->rank && used < sizeof shape; i++)
            used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%lld", i ? ", " : "",
                                     (long long)a->dim[i]);
        return exa_fail(err, errlen, "exa: %s: no samples: the array's shape is (%s%s)", path, shape,
                    a->rank == 1 ? "," : "");
    }
    /* dims are as large as the header says: compare by division, which
     * cannot overflow */
    if (payload / row != (size_t)a->dim[0] || payload % row) {
        if (payload / row < (size_t)a->dim[0])
            return exa_fail(err, errlen, "exa: %s: truncated: header says %lld rows, file holds %zu", path,
                        (long long)a->dim[0], payload / row);
        return exa_fail(err, errlen, "exa: %s: header says %lld rows of %zu bytes, but the data is %zu bytes",
                    path, (long long)a->dim[0], row, payload);
    }
    a->data = p + start + hlen;
    return 0;
}

/* Element i of the array as a double (host order is little-endian). */
static double element(const Npy *a, size_t i)
{
    const unsigned char *p = a->data + i * (size_t)a->size;
    if (a->kind == 'u')
        return p[0];
    if (a->kind == 'f' && a->size == 4) {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    if (a->kind == 'f') {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    if (a->size == 4) {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, p, 8);
    return (double)v;
}

static int64_t row_size(const Npy *a)
{
    int64_t n = 1;
    for (int i = 1; i < a->rank; i++)
        n *= a->dim[i];
    return n;
}

/* Stores element i as a float32, refusing NaN, infinities and values beyond
 * float32: they would only surface later as "the loss is NaN", naming no
 * file.  scale and shift apply to features only (1 and 0 for targets). */
static int store(const Npy *a, int64_t i, double scale, double shift, float *out,
                 const char *path, char *err, size_t errlen)
{
    double v = element(a, (size_t)i);
    *out = (float)(v * scale + shift);
    if (isfinite(*out))
        return 0;
    int64_t row = row_size(a);
    return exa_fail(err, errlen, "exa: %s: sample %lld, value %lld: %g %s", path,
                (long long)(i / row), (long long)(i % row), v,
                isfinite(v) ? "does not fit a float32 (after scale and shift)"
                            : "is not a finite number");
}

static int load_features(ExaDataset *d, const Npy *a, const ExaLoadOptions *opt, const char *path,
                         char *err, size_t errlen)
{
    d->shape.rank = a->rank > 1 ? a->rank - 1 : 1;
    d->shape.dim[0] = 1;
    for (int i = 1; i < a->rank; i++)
        d->shape.dim[i - 1] = a->dim[i];
    d->features = row_size(a);
    if (opt->shape) {
        if (exa_data_check_shape(d, opt->shape, path, err, errlen))
            return -1;
        d->shape = *opt->shape;
    }
    d->n = opt->limit > 0 && opt->limit < a->dim[0] ? opt->limit : a->dim[0];
    d->x = malloc((size_t)(d->n * d->features) * sizeof *d->x);
    if (!d->x)
        return exa_fail(err, errlen, "exa: %s: out of memory", path);
    double scale = opt->scale != 0 ? opt->scale : 1.0;
    for (int64_t i = 0; i < d->n * d->features; i++)
        if (store(a, i, scale, opt->shift, &d->x[i], path, err, errlen))
            return -1;
    return 0;
}

/* An integer vector gives class labels, anything else real targets. */
static int load_targets(ExaDataset *d, const Npy *a, int64_t nfeatures, const char *features,
                        const ExaLoadOptions *opt, const char *path, char *err, size_t errlen)
{
    if (a->dim[0] != nfeatures)
        return exa_fail(err, errlen, "exa: %s: %lld rows, but %s has %lld samples", path,
                    (long long)a->dim[0], features, (long long)nfeatures);
    if (a->kind != 'f' && a->rank == 1) {
        d->label = malloc((size_t)d->n * sizeof *d->label);
        if (!d->label)
            return exa_fail(err, errlen, "exa: %s: out of memory", path);
        for (int64_t i = 0; i < d->n; i++) {
            double v = element(a, (size_t)i);
            if (v < 0 || v > INT32_MAX || (opt->classes > 0 && v >= opt->classes))
                return exa_fail(err, errlen, "exa: %s: label %.0f of sample %lld is outside 0..%d",
                            path, v, (long long)i, opt->classes > 0 ? opt->classes - 1 : INT32_MAX);
            d->label[i] = (int32_t)v;
        }
        return exa_data_set_classes(d, opt->classes, path, err, errlen);
    }
    d->target = EXA_TARGET_REAL;
    d->targets = row_size(a);
    d->y = malloc((size_t)(d->n * d->targets) * sizeof *d->y);
    if (!d->y)
        return exa_fail(err, errlen, "exa: %s: out of memory", path);
    for (int64_t i = 0; i < d->n * d->targets; i++)
        if (store(a, i, 1, 0, &d->y[i], path, err, errlen))
            return -1;
    return 0;
}

int exa_data_load_npy(ExaDataset *d, const char *features, const char *labels,
                      const ExaLoadOptions *opt, char *err, size_t errlen)
{
    ExaLoadOptions none = {0};
    opt = opt ? opt : &none;
    memset(d, 0, sizeof *d);
    unsigned char *buf;
    size_t len;
    Npy a = {0};
    if (exa_data_read_file(features, &buf, &len, err, errlen))
        return -1;
    int rc = npy_parse(buf, len, features, &a, err, errlen);
    if (!rc)
        rc = load_features(d, &a, opt, features, err, errlen);
    int64_t count = a.dim[0];
    free(buf);
    if (!rc && labels) {
        rc = exa_data_read_file(labels, &buf, &len, err, errlen);
        if (!rc) {
            rc = npy_parse(buf, len, labels, &a, err, errlen);
            if (!rc)
                rc = load_targets(d, &a, count, features, opt, labels, err, errlen);
            free(buf);
        }
    }
    if (rc)
        exa_data_free(d);
    return rc;
}

int exa_npy_read_reals(const char *path, double **values, ExaShape *shape, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (exa_data_read_file(path, &buf, &len, err, errlen) != 0)
        return -1;
    Npy a = { .scalar_ok = 1 };
    int rc = npy_parse(buf, len, path, &a, err, errlen);
    if (!rc && a.rank > EXA_MAX_RANK)
        rc = exa_fail(err, errlen, "exa: %s: the array has %d dimensions; at most %d", path, a.rank, EXA_MAX_RANK);
    if (!rc) {
        shape->rank = a.scalar ? 0 : a.rank;
        size_t count = 1;
        for (int i = 0; i < a.rank; i++)
            count *= (size_t)a.dim[i];
        for (int i = 0; i < shape->rank; i++)
            shape->dim[i] = a.dim[i];
        *values = malloc(count * sizeof **values);
        if (!*values)
            rc = exa_fail(err, errlen, "exa: %s: out of memory", path);
        for (size_t i = 0; !rc && i < count; i++)
            (*values)[i] = element(&a, i);
    }
    free(buf);
    return rc;
}
