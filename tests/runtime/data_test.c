/* data_test.c - the data module: every loader on small files this test
 * writes (IDX raw and gzip, CSV, .npy versions 1.0 and 2.0 in each dtype),
 * each kind of damage with the message it must give, the peaks and
 * Allen-Cahn generators, epoch orders, batches, shards and gathers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "exa/data.h"
#include "exa/parallel.h"

static char dir[256];
static char err[512];

static const char *path_of(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const void *data, size_t len, int gzip)
{
    if (gzip) {
        gzFile g = gzopen(path_of(name), "wb");
        gzwrite(g, data, (unsigned)len);
        gzclose(g);
        return;
    }
    FILE *f = fopen(path_of(name), "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

/* An IDX file of u8 with the given dims; `keep` bytes of the payload. */
static void write_idx(const char *name, int rank, const uint32_t *dims, size_t keep, int gzip)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    unsigned char *b = malloc(4 + 4 * (size_t)rank + n);
    b[0] = b[1] = 0;
    b[2] = 0x08;
    b[3] = (unsigned char)rank;
    for (int i = 0; i < rank; i++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    for (size_t i = 0; i < n; i++)
        b[4 + 4 * rank + i] = (unsigned char)(rank == 1 ? i % 3 : i % 251);
    write_file(name, b, 4 + 4 * (size_t)rank + (keep < n ? keep : n), gzip);
    free(b);
}

static void idx_loaders(void)
{
    uint32_t img[3] = {5, 4, 3}, lab[1] = {5}, lab4[1] = {4};
    write_idx("img.idx", 3, img, 60, 0);
    write_idx("img.idx.gz", 3, img, 60, 1);
    write_idx("lab.idx", 1, lab, 5, 0);
    ExaDataset d;
    ExaLoadOptions opt = {.scale = 0.5, .shift = -1};
    for (int gz = 0; gz < 2; gz++) {
        int rc = exa_data_load_idx(&d, path_of(gz ? "img.idx.gz" : "img.idx"), path_of("lab.idx"),
                                   &opt, err, sizeof err);
        CHECK(rc == 0);
        if (rc)
            continue;
        CHECK(d.n == 5 && d.features == 12 && d.shape.rank == 2 && d.shape.dim[0] == 4);
        /* kept as the file's bytes (13 here), converted where read */
        CHECK(!d.x && d.bytes && d.bytes[13] == 13);
        CHECK(exa_data_feature(&d, 13) == 5.5f && d.label[4] == 1 && d.classes == 3); /* 13 * 0.5 - 1 */
        exa_data_free(&d);
    }
    /* a declared flat shape of the same size is fine; limit keeps a prefix */
    ExaShape flat = {.rank = 1, .dim = {12}}, wrong = {.rank = 2, .dim = {3, 3}};
    opt = (ExaLoadOptions){.shape = &flat, .limit = 2};
    CHECK(exa_data_load_idx(&d, path_of("img.idx"), NULL, &opt, err, sizeof err) == 0);
    CHECK(d.n == 2 && d.shape.rank == 1 && d.target == EXA_TARGET_NONE);
    exa_data_free(&d);
    opt = (ExaLoadOptions){.shape = &wrong};
    int rc = exa_data_load_idx(&d, path_of("img.idx"), NULL, &opt, err, sizeof err);
    CHECK_ERROR(rc, err, "img.idx: declared [3x3] (9 values per sample) but the data holds [4x3] (12)");

    write_idx("short.idx", 3, img, 41, 0);
    rc = exa_data_load_idx(&d, path_of("short.idx"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "short.idx: truncated: header says 5 images, file holds 3");
    write_idx("short.idx.gz", 3, img, 41, 1);
    rc = exa_data_load_idx(&d, path_of("short.idx.gz"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "short.idx.gz: truncated: header says 5 images, file holds 3");
    /* a gzip stream cut in the middle */
    FILE *f = fopen(path_of("img.idx.gz"), "rb");
    unsigned char gzbuf[4096];
    size_t glen = fread(gzbuf, 1, sizeof gzbuf, f);
    fclose(f);
    write_file("cut.idx.gz", gzbuf, glen / 2, 0);
    rc = exa_data_load_idx(&d, path_of("cut.idx.gz"), NULL, NULL, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "cut.idx.gz: "));
    write_file("bad.idx", "\x12\x34\x08\x03", 4, 0);
    rc = exa_data_load_idx(&d, path_of("bad.idx"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.idx: bad magic 0x12340803: not an IDX file");
    rc = exa_data_load_idx(&d, path_of("missing.idx"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "missing.idx: cannot open: No such file or directory");
    write_idx("lab4.idx", 1, lab4, 4, 0);
    rc = exa_data_load_idx(&d, path_of("img.idx"), path_of("lab4.idx"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "lab4.idx: 4 labels, but ");
    rc = exa_data_load_idx(&d, path_of("img.idx"), path_of("img.idx"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "labels must be an idx1 file (rank 1), this one has rank 3");
    opt = (ExaLoadOptions){.classes = 2};
    rc = exa_data_load_idx(&d, path_of("img.idx"), path_of("lab.idx"), &opt, err, sizeof err);
    CHECK_ERROR(rc, err, "lab.idx: label 2 of sample 2 is outside 0..1");
}

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text), 0);
}

static void csv_loaders(void)
{
    ExaDataset d;
    write_text("a.csv", "x,y,label\n1,2,0\n\n3.5, 4 ,2\r\n5,6,1\n");
    CHECK(exa_data_load_csv(&d, path_of("a.csv"), NULL, err, sizeof err) == 0);
    CHECK(d.n == 3 && d.features == 2 && d.classes == 3 && d.target == EXA_TARGET_CLASS);
    CHECK(d.x[2] == 3.5f && d.x[3] == 4.0f && d.label[1] == 2);
    exa_data_free(&d);
    write_text("b.csv", "1,2,0.5,0.25\n3,4,1.5,2.5\n");
    ExaLoadOptions opt = {.targets = 2};
    CHECK(exa_data_load_csv(&d, path_of("b.csv"), &opt, err, sizeof err) == 0);
    CHECK(d.n == 2 && d.features == 2 && d.targets == 2 && d.y[3] == 2.5f);
    exa_data_free(&d);
    opt = (ExaLoadOptions){.targets = EXA_CSV_NO_TARGETS};
    CHECK(exa_data_load_csv(&d, path_of("b.csv"), &opt, err, sizeof err) == 0);
    CHECK(d.features == 4 && d.target == EXA_TARGET_NONE);
    exa_data_free(&d);
    opt = (ExaLoadOptions){.targets = 2, .scale = 2, .shift = 0.25};
    CHECK(exa_data_load_csv(&d, path_of("b.csv"), &opt, err, sizeof err) == 0);
    CHECK(d.x[3] == 8.25f && d.y[3] == 2.5f); /* features scaled and shifted, targets not */
    exa_data_free(&d);
    write_text("c.csv", "1,2,0\n3,4\n");
    int rc = exa_data_load_csv(&d, path_of("c.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "c.csv: line 2 has 2 fields, expected 3");
    write_text("d.csv", "h1,h2,h3\n1,2,0\n3,x,1\n");
    rc = exa_data_load_csv(&d, path_of("d.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "d.csv: line 3, field 2: not a number");
    write_text("e.csv", "1,2,0.5\n");
    rc = exa_data_load_csv(&d, path_of("e.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "e.csv: line 1: label 0.5 is not a class number");
    write_text("f.csv", "a,b\n");
    rc = exa_data_load_csv(&d, path_of("f.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "f.csv: no data rows");
}

/* A .npy file: version major, descr, shape text, n elements of elem bytes. */
static void write_npy(const char *name, int major, const char *descr, const char *shape,
                      const void *data, size_t bytes, int fortran)
{
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                       descr, fortran ? "True" : "False", shape);
    size_t pre = major == 1 ? 10 : 12, hlen = (size_t)len + 1;
    while ((pre + hlen) % 64)
        hlen++;
    unsigned char *b = calloc(1, pre + hlen + bytes);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[8] = (unsigned char)hlen;
    b[9] = (unsigned char)(hlen >> 8);
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, (size_t)len);
    b[pre + hlen - 1] = '\n';
    memcpy(b + pre + hlen, data, bytes);
    write_file(name, b, pre + hlen + bytes, 0);
    free(b);
}

static void npy_loaders(void)
{
    float xf[12];
    double xd[12];
    unsigned char xu[12];
    int32_t xi[12];
    for (int i = 0; i < 12; i++) {
        xf[i] = (float)i;
        xd[i] = i + 0.5;
        xu[i] = (unsigned char)(2 * i);
        xi[i] = i;
    }
    int64_t lab[3] = {2, 0, 1};
    write_npy("x.npy", 1, "<f4", "(3, 2, 2)", xf, sizeof xf, 0);
    write_npy("xd.npy", 2, "<f8", "(3, 4)", xd, sizeof xd, 0);
    write_npy("xu.npy", 1, "|u1", "(3, 4)", xu, sizeof xu, 0);
    write_npy("xi.npy", 1, "<i4", "(12,)", xi, sizeof xi, 0);
    write_npy("y.npy", 1, "<i8", "(3,)", lab, sizeof lab, 0);
    write_npy("yr.npy", 1, "<f8", "(3, 4)", xd, sizeof xd, 0);
    ExaDataset d;
    CHECK(exa_data_load_npy(&d, path_of("x.npy"), path_of("y.npy"), NULL, err, sizeof err) == 0);
    CHECK(d.n == 3 && d.features == 4 && d.shape.rank == 2 && d.x[5] == 5.0f);
    CHECK(d.classes == 3 && d.label[0] == 2);
    exa_data_free(&d);
    CHECK(exa_data_load_npy(&d, path_of("xd.npy"), path_of("yr.npy"), NULL, err, sizeof err) == 0);
    CHECK(d.n == 3 && d.x[11] == 11.5f && d.target == EXA_TARGET_REAL && d.targets == 4 &&
          d.y[1] == 1.5f);
    exa_data_free(&d);
    ExaLoadOptions opt = {.scale = 0.5, .shift = 2};
    CHECK(exa_data_load_npy(&d, path_of("xu.npy"), NULL, &opt, err, sizeof err) == 0);
    CHECK(d.x[7] == 9.0f);
    exa_data_free(&d);
    CHECK(exa_data_load_npy(&d, path_of("xi.npy"), NULL, NULL, err, sizeof err) == 0);
    CHECK(d.n == 12 && d.features == 1 && d.x[11] == 11.0f);
    exa_data_free(&d);

    int rc = exa_data_load_npy(&d, path_of("x.npy"), path_of("xi.npy"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "xi.npy: 12 rows, but ");
    write_npy("t.npy", 1, "<f4", "(4, 2, 2)", xf, sizeof xf, 0);
    rc = exa_data_load_npy(&d, path_of("t.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "t.npy: truncated: header says 4 rows, file holds 3");
    write_npy("be.npy", 1, ">f4", "(3, 4)", xf, sizeof xf, 0);
    rc = exa_data_load_npy(&d, path_of("be.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "be.npy: dtype '>f4' is not supported");
    write_npy("fo.npy", 1, "<f4", "(3, 4)", xf, sizeof xf, 1);
    rc = exa_data_load_npy(&d, path_of("fo.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "fo.npy: the array is not in C order");
    write_text("nm.npy", "PK\x03\x04 this is a zip file");
    rc = exa_data_load_npy(&d, path_of("nm.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "nm.npy: bad magic: not a NumPy .npy file");
    ExaShape s5 = {.rank = 1, .dim = {5}};
    opt = (ExaLoadOptions){.shape = &s5};
    rc = exa_data_load_npy(&d, path_of("x.npy"), NULL, &opt, err, sizeof err);
    CHECK_ERROR(rc, err, "x.npy: declared [5] (5 values per sample) but the data holds [2x2] (4)");
}

/* Issue 12: damage the loaders used to let through.  A gzip stream cut at a
 * line boundary or missing its trailer, a corrupt gzip stream (whose zlib
 * message was read after gzclose freed it), NaN and infinity in features or
 * targets, values that overflow float32, empty arrays, labels of the wrong
 * kind. */
static void bad_values(void)
{
    ExaDataset d;
    /* 200 rows in two gzip members: the first member (about 100 rows)
     * complete, the second cut after its 10-byte header, so that what
     * decodes ends on a line boundary and parses as a shorter file */
    char text[8192];
    size_t len = 0;
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%d,%d,%d\n", i, i + 1, i % 3);
    size_t half = (size_t)(strchr(text + len / 2, '\n') + 1 - text);
    write_file("half1.gz", text, half, 1);
    write_file("half2.gz", text + half, len - half, 1);
    unsigned char a[8192], b[8192];
    FILE *f = fopen(path_of("half1.gz"), "rb");
    size_t alen = fread(a, 1, sizeof a, f);
    fclose(f);
    f = fopen(path_of("half2.gz"), "rb");
    size_t blen = fread(b, 1, sizeof b, f);
    fclose(f);
    CHECK(blen > 10);
    memcpy(a + alen, b, 10);
    write_file("cut.csv.gz", a, alen + 10, 0);
    int rc = exa_data_load_csv(&d, path_of("cut.csv.gz"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "cut.csv.gz: truncated: the gzip stream ends early");
    /* the whole text, but the 8-byte trailer (CRC, length) cut off */
    write_file("all.csv.gz", text, len, 1);
    f = fopen(path_of("all.csv.gz"), "rb");
    alen = fread(a, 1, sizeof a, f);
    fclose(f);
    write_file("notrailer.csv.gz", a, alen - 8, 0);
    rc = exa_data_load_csv(&d, path_of("notrailer.csv.gz"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "notrailer.csv.gz: truncated: the gzip stream ends early");
    CHECK(exa_data_load_csv(&d, path_of("all.csv.gz"), NULL, err, sizeof err) == 0 && d.n == 200);
    exa_data_free(&d);
    /* corrupt deflate data after a valid gzip header: zlib's own message */
    memcpy(b, a, 10);
    memset(b + 10, 0xff, 64);
    write_file("corrupt.csv.gz", b, 74, 0);
    rc = exa_data_load_csv(&d, path_of("corrupt.csv.gz"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "corrupt.csv.gz: cannot read: invalid ");

    /* CSV: NaN and infinity, as features, real targets and labels */
    write_text("nan.csv", "a,b,c\n1,2,0\n3,nan,1\n");
    rc = exa_data_load_csv(&d, path_of("nan.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "nan.csv: line 3, field 2: nan is not a finite number");
    write_text("inf.csv", "1,2,0\n3,4,1\n-inf,4,1\n");
    rc = exa_data_load_csv(&d, path_of("inf.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "inf.csv: line 3, field 1: -inf is not a finite number");
    write_text("big.csv", "1,2,0\n1e999,4,1\n");
    rc = exa_data_load_csv(&d, path_of("big.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "big.csv: line 2, field 1: 1e999 is not a finite number");
    write_text("f32.csv", "1,2,0\n1e39,4,1\n");
    rc = exa_data_load_csv(&d, path_of("f32.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "f32.csv: line 2, field 1: 1e39 does not fit a float32");
    ExaLoadOptions opt = {.targets = 1};
    write_text("ty.csv", "1,2,0.5\n1,4,infinity\n");
    rc = exa_data_load_csv(&d, path_of("ty.csv"), &opt, err, sizeof err);
    CHECK_ERROR(rc, err, "ty.csv: line 2, field 3: infinity is not a finite number");
    write_text("nl.csv", "1,2,0\n1,4,NaN\n");
    rc = exa_data_load_csv(&d, path_of("nl.csv"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "nl.csv: line 2, field 3: NaN is not a finite number");

    /* .npy: NaN, infinity, overflow, empty arrays */
    float xf[12];
    for (int i = 0; i < 12; i++)
        xf[i] = (float)i;
    xf[7] = NAN;
    write_npy("nan.npy", 1, "<f4", "(3, 4)", xf, sizeof xf, 0);
    rc = exa_data_load_npy(&d, path_of("nan.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "nan.npy: sample 1, value 3: nan is not a finite number");
    xf[7] = -INFINITY;
    write_npy("inf.npy", 1, "<f4", "(3, 4)", xf, sizeof xf, 0);
    rc = exa_data_load_npy(&d, path_of("inf.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "inf.npy: sample 1, value 3: -inf is not a finite number");
    xf[7] = 7;
    double yd[6] = {0, 1, 2, 1e300, 4, 5};
    write_npy("ok.npy", 1, "<f4", "(3, 4)", xf, sizeof xf, 0);
    write_npy("yb.npy", 1, "<f8", "(3, 2)", yd, sizeof yd, 0);
    rc = exa_data_load_npy(&d, path_of("ok.npy"), path_of("yb.npy"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "yb.npy: sample 1, value 1: 1e+300 does not fit a float32");
    write_npy("empty.npy", 1, "<f4", "(0, 4)", xf, 0, 0);
    rc = exa_data_load_npy(&d, path_of("empty.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "empty.npy: no samples: the array's shape is (0, 4)");
    write_npy("empty0.npy", 1, "<f4", "(3, 0)", xf, 0, 0);
    rc = exa_data_load_npy(&d, path_of("empty0.npy"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "empty0.npy: ");
    int64_t big[3] = {0, 1, (int64_t)1 << 40};
    write_npy("ybig.npy", 1, "<i8", "(3,)", big, sizeof big, 0);
    rc = exa_data_load_npy(&d, path_of("ok.npy"), path_of("ybig.npy"), NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "ybig.npy: label 1099511627776 of sample 2 is outside 0..");
    /* IDX: no images */
    uint32_t none[3] = {0, 4, 3};
    write_idx("none.idx", 3, none, 0, 0);
    rc = exa_data_load_idx(&d, path_of("none.idx"), NULL, NULL, err, sizeof err);
    CHECK_ERROR(rc, err, "none.idx: no samples: the header says 0 images");
    /* a label array that was never loaded is an error, not a crash */
    ExaDataset e = {.n = 3};
    rc = exa_data_set_classes(&e, 3, "data 'e'", err, sizeof err);
    CHECK_ERROR(rc, err, "data 'e': has no class labels");
}

static void generators(void)
{
    ExaDataset a, b, v;
    CHECK(exa_data_peaks(&a, 5000, 0, 1, err, sizeof err) == 0);
    CHECK(exa_data_peaks(&b, 5000, 0, 1, err, sizeof err) == 0);
    CHECK(exa_data_peaks(&v, 200, 1000, 1, err, sizeof err) == 0);
    CHECK(a.n == 5000 && a.features == 2 && a.classes == 5);
    CHECK(memcmp(a.x, b.x, 5000 * 2 * sizeof(float)) == 0);
    int count[5] = {0};
    for (int64_t i = 0; i < a.n; i++) {
        count[a.label[i]]++;
        /* the label is the value band of the grid point (fmin, fmax: grid
         * extremes, computed independently in Python) */
        double gx = -3 + 6.0 * lround((a.x[2 * i] + 3) * 255 / 6) / 255;
        double gy = -3 + 6.0 * lround((a.x[2 * i + 1] + 3) * 255 / 6) / 255;
        double f = exa_peaks(gx, gy);
        double lo = -6.5497192262312645, hi = 8.105393446796095;
        int c = (int)floor(5 * (f - lo) / (hi - lo));
        CHECK((c > 4 ? 4 : c) == a.label[i]);
        CHECK(fabsf(a.x[2 * i]) <= 3 && fabsf(a.x[2 * i + 1]) <= 3);
    }
    for (int c = 0; c < 5; c++)
        CHECK(count[c] == 1000);
    /* the validation set made with skip = 1000 shares no point with training */
    int shared = 0;
    for (int64_t i = 0; i < v.n; i++)
        for (int64_t j = 0; j < a.n; j++)
            shared += v.x[2 * i] == a.x[2 * j] && v.x[2 * i + 1] == a.x[2 * j + 1];
    CHECK(shared == 0);
    exa_data_free(&a);
    exa_data_free(&b);
    exa_data_free(&v);
    int rc = exa_data_peaks(&a, 10000, 0, 1, err, sizeof err);
    CHECK_ERROR(rc, err, "peaks: class 0 has 1829 grid points, fewer than the 2000 asked for");
    CHECK(exa_data_allen_cahn(&a, 1000, 5, err, sizeof err) == 0);
    double tmin = 1, tmax = 0, xmin = 1, xmax = -1;
    for (int64_t i = 0; i < a.n; i++) {
        tmin = fmin(tmin, a.x[2 * i]);
        tmax = fmax(tmax, a.x[2 * i]);
        xmin = fmin(xmin, a.x[2 * i + 1]);
        xmax = fmax(xmax, a.x[2 * i + 1]);
    }
    CHECK(tmin >= 0 && tmax <= 1 && xmin >= -1 && xmax <= 1);
    CHECK(tmin < 0.01 && tmax > 0.99 && xmin < -0.98 && xmax > 0.98);
    CHECK(a.target == EXA_TARGET_NONE);
    exa_data_free(&a);
}

static void batches(void)
{
    enum { N = 103 };
    int64_t o1[N], o2[N], o3[N];
    exa_data_epoch_order(o1, N, 9, 4);
    exa_data_epoch_order(o2, N, 9, 4);
    exa_data_epoch_order(o3, N, 9, 5);
    CHECK(memcmp(o1, o2, sizeof o1) == 0);
    CHECK(memcmp(o1, o3, sizeof o1) != 0);
    int seen[N] = {0};
    for (int i = 0; i < N; i++)
        seen[o1[i]]++;
    for (int i = 0; i < N; i++)
        CHECK(seen[i] == 1);
    CHECK(exa_data_batches(N, 10) == 11 && exa_data_batches(100, 10) == 10);
    int64_t begin, count;
    exa_data_batch_range(N, 10, 10, &begin, &count);
    CHECK(begin == 100 && count == 3);
    /* shards: 10 over 4 ranks is 3, 3, 2, 2, contiguous */
    int64_t want_len[4] = {3, 3, 2, 2}, next = 0;
    for (int r = 0; r < 4; r++) {
        int64_t b, len;
        exa_data_shard(10, r, 4, &b, &len);
        CHECK(b == next && len == want_len[r]);
        next += len;
    }
    ExaDataset d;
    CHECK(exa_data_peaks(&d, 50, 0, 3, err, sizeof err) == 0);
    float xf[6];
    double xd[6];
    int32_t l32[3], l64[3];
    int64_t order[5] = {4, 9, 2, 7, 1};
    exa_data_gather_f32(&d, order, 1, 3, xf, l32, NULL);
    exa_data_gather_f64(&d, order, 1, 3, xd, l64, NULL);
    for (int i = 0; i < 3; i++) {
        CHECK(xf[2 * i] == d.x[2 * order[1 + i]] && xf[2 * i + 1] == d.x[2 * order[1 + i] + 1]);
        CHECK(xd[2 * i] == d.x[2 * order[1 + i]] && l32[i] == d.label[order[1 + i]]);
        CHECK(l64[i] == l32[i]);
    }
    exa_data_free(&d);
}

/* The gather splits its rows over the pool's threads where a batch is large
 * enough (exa_parallel_range): at 1, 2 and 3 threads every row of an odd
 * count, features, labels and real targets, must be the stored sample the
 * order names, in f32 and f64, and nothing past the last row written. */
/* The gathers of a data set of floats and of one of bytes (an IDX file's:
 * each byte converted as (float)b * scale + shift, here a scale and shift
 * that round, every byte value, rows of 401 values: a vector loop's whole
 * vectors and its remainder). */
static void gather_threads(int bytes)
{
    enum { N = 257, F = 401, T = 3, ROWS = 203 }; /* 203 rows of 405 values: split */
    ExaDataset d = { .n = N, .features = F, .target = EXA_TARGET_CLASS, .classes = 7, .targets = T };
    if (bytes)
        d.bytes = malloc((size_t)N * F), d.byte_scale = (float)(1.0 / 255), d.byte_shift = 0.1f;
    else
        d.x = malloc(sizeof(float) * N * F);
    d.label = malloc(sizeof(int32_t) * N), d.y = malloc(sizeof(float) * N * T);
    float *xf = malloc(sizeof(float) * (ROWS * F + 1)), *yf = malloc(sizeof(float) * (ROWS * T + 1));
    float *want = malloc(sizeof(float) * N * F);
    double *xd = malloc(sizeof(double) * (ROWS * F + 1)), *yd = malloc(sizeof(double) * (ROWS * T + 1));
    int32_t *lf = malloc(sizeof(int32_t) * (ROWS + 1)), *ld = malloc(sizeof(int32_t) * (ROWS + 1));
    int64_t order[N];
    CHECK((d.x || d.bytes) && d.label && d.y && xf && yf && xd && yd && lf && ld && want);
    for (int64_t i = 0; i < (int64_t)N * F; i++) {
        if (bytes) {
            d.bytes[i] = (uint8_t)(i * 7 % 256);
            want[i] = (float)d.bytes[i] * d.byte_scale + d.byte_shift;
        } else {
            want[i] = d.x[i] = (float)i * 0.25f - 7;
        }
        CHECK(exa_data_feature(&d, i) == want[i]);
    }
    for (int64_t i = 0; i < N; i++)
        d.label[i] = (int32_t)(i % 7), d.y[i * T] = (float)i, d.y[i * T + 1] = -(float)i, d.y[i * T + 2] = 0.5f;
    exa_data_epoch_order(order, N, 11, 2);
    /* (begin, count): odd counts, split over the threads or (1, 101) not */
    const int64_t cases[][2] = { { 3, ROWS }, { 0, 1 }, { 50, 101 }, { N - ROWS, ROWS } };
    for (int threads = 1; threads <= 3; threads++) {
        exa_parallel_set_threads(threads);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int64_t begin = cases[c][0], count = cases[c][1];
            xf[count * F] = 42, xd[count * F] = 42, lf[count] = 42, ld[count] = 42, yf[count * T] = 42;
            exa_data_gather_f32(&d, order, begin, count, xf, lf, yf);
            exa_data_gather_f64(&d, order, begin, count, xd, ld, yd);
            int bad = 0;
            for (int64_t i = 0; i < count; i++) {
                int64_t s = order[begin + i];
                for (int64_t k = 0; k < F; k++)
                    bad += xf[i * F + k] != want[s * F + k] || xd[i * F + k] != (double)want[s * F + k];
                for (int64_t k = 0; k < T; k++)
                    bad += yf[i * T + k] != d.y[s * T + k] || yd[i * T + k] != (double)d.y[s * T + k];
                bad += lf[i] != d.label[s] || ld[i] != d.label[s];
            }
            CHECK(bad == 0);
            CHECK(xf[count * F] == 42 && xd[count * F] == 42 && lf[count] == 42 && ld[count] == 42);
            CHECK(yf[count * T] == 42);
        }
    }
    exa_parallel_set_threads(1);
    free(xf), free(yf), free(xd), free(yd), free(lf), free(ld), free(want);
    exa_data_free(&d);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/exa-data-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    idx_loaders();
    csv_loaders();
    npy_loaders();
    bad_values();
    generators();
    batches();
    gather_threads(0);
    gather_threads(1);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    CHECK_DONE();
}
