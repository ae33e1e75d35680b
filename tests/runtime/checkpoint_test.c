/* checkpoint_test.c - checkpoints: a write/read roundtrip is bit for bit,
 * named state arrays and the parameter table included; a truncated file, a
 * flipped byte, a bad magic, another version (version 1 with its own line),
 * a parameter count that differs from the model's and another model's
 * parameter names or shapes are each rejected with their own message; a stray temporary file (a crash between write and
 * rename) leaves the previous checkpoint loadable and does not block the
 * next write. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "exa/checkpoint.h"

static char dir[256], path[512], err[512];

static ExaCkptParam info[2] = { { "enc/W", { 2, { 20, 40 } } }, { "enc/b", { 1, { 200 } } } };

static void sample(ExaCheckpoint *c, double *params, float *m, float *v, int n)
{
    for (int i = 0; i < n; i++) {
        params[i] = 1.0 / (i + 3);
        m[i] = (float)i * 0.25f;
        v[i] = -(float)i;
    }
    *c = (ExaCheckpoint){.precision = 8, .epoch = 7, .step = 700,
                         .rng = {1, 0xdeadbeefcafef00du, 3, 4}, .nparams = n, .params = params,
                         .ninfo = 2, .info = info, .narrays = 2,
                         .arrays = { { "global.adam.m", m, n * 4 }, { "global.adam.v", v, n * 4 } } };
}

static long file_size(const char *p)
{
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void patch(const char *p, long at, unsigned char xor_mask)
{
    FILE *f = fopen(p, "r+b");
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ xor_mask, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to, long keep)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    for (long i = 0; i < keep; i++)
        fputc(fgetc(a), b);
    fclose(a);
    fclose(b);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/exa-ckpt-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    enum { N = 1000 };
    double params[N];
    float m[N], v[N];
    ExaCheckpoint c, r;
    sample(&c, params, m, v, N);
    CHECK(exa_checkpoint_write(path, &c, err, sizeof err) == 0);
    /* header, records (4 + 5 + 4 + 16, 4 + 5 + 4 + 8), weights, arrays (4 + 13 + 8 + 4000 each), crc */
    CHECK(file_size(path) == EXA_CKPT_HEADER + 29 + 21 + N * 8 + 2 * (25 + N * 4) + 4);

    /* roundtrip */
    int rc = exa_checkpoint_read(path, &r, N, 8, err, sizeof err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(r.epoch == 7 && r.step == 700 && r.rng[1] == 0xdeadbeefcafef00du && r.narrays == 2);
        CHECK(memcmp(r.params, params, sizeof params) == 0);
        const ExaCkptArray *a = exa_checkpoint_array(&r, "global.adam.v");
        CHECK(a && a->bytes == N * 4 && memcmp(a->data, v, sizeof v) == 0);
        CHECK(memcmp(r.arrays[0].data, m, sizeof m) == 0 && !exa_checkpoint_array(&r, "global.sgd.steps"));
        CHECK(r.ninfo == 2 && strcmp(r.info[1].name, "enc/b") == 0 && r.info[0].shape.dim[1] == 40);
        /* the model check: the same table passes, another shape or name is named */
        ExaParamInfo mp[2] = { { .path = "enc/W", .shape = { 2, { 20, 40 } } },
                               { .path = "enc/b", .shape = { 1, { 200 } } } };
        ExaProgram model = { .nparams = 2, .params = mp };
        CHECK(exa_checkpoint_check_model(&r, &model, "run.ckpt", err, sizeof err) == 0);
        mp[0].shape.dim[1] = 41;
        rc = exa_checkpoint_check_model(&r, &model, "run.ckpt", err, sizeof err);
        CHECK_ERROR(rc, err, "run.ckpt: written by another model: parameter 1 is 'enc/W' [20, 40] in the "
                    "checkpoint and 'enc/W' [20, 41] in the model");
        mp[0].shape.dim[1] = 40;
        mp[1].path = "dec/b";
        rc = exa_checkpoint_check_model(&r, &model, "run.ckpt", err, sizeof err);
        CHECK_ERROR(rc, err, "parameter 2 is 'enc/b' [200] in the checkpoint and 'dec/b' [200]");
        model.nparams = 1;
        rc = exa_checkpoint_check_model(&r, &model, "run.ckpt", err, sizeof err);
        CHECK_ERROR(rc, err, "it has parameter 'enc/b' after the model's last (1)");
        exa_checkpoint_free(&r);
    }

    /* damage */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    copy_file(path, bad, file_size(path) - 100);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: checksum mismatch: the file is damaged or truncated");
    copy_file(path, bad, 60);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: truncated: 60 bytes, shorter than the header");
    copy_file(path, bad, file_size(path));
    patch(bad, EXA_CKPT_HEADER + 4000, 0x10);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: checksum mismatch");
    copy_file(path, bad, file_size(path));
    patch(bad, 20, 0x01); /* the epoch: the header is checksummed too */
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: checksum mismatch");
    copy_file(path, bad, file_size(path));
    patch(bad, 0, 0xff);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: bad magic: not an exa checkpoint");
    copy_file(path, bad, file_size(path));
    patch(bad, 8, 0x01);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: format version 3, this libexa reads version 2");
    copy_file(path, bad, file_size(path));
    patch(bad, 8, 0x03); /* a version 1 file: refused with its own line */
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: format version 1, written by an older libexa; this one reads version 2");
    rc = exa_checkpoint_read(path, &r, N + 1, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "run.ckpt: holds 1000 parameters, the model has 1001");
    rc = exa_checkpoint_read(path, &r, N, 4, err, sizeof err);
    CHECK_ERROR(rc, err, "run.ckpt: holds f64 parameters, the model is f32");
    snprintf(bad, sizeof bad, "%s/none.ckpt", dir);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "none.ckpt: cannot open: No such file or directory");

    /* a crash between write and rename: a stray, half-written temporary file */
    char stray[600];
    snprintf(stray, sizeof stray, "%s/.run.ckpt.tmp.AbC123", dir);
    copy_file(path, stray, 500);
    CHECK(exa_checkpoint_read(path, &r, N, 8, err, sizeof err) == 0);
    CHECK(r.epoch == 7);
    exa_checkpoint_free(&r);
    c.epoch = 8;
    params[0] = 42;
    CHECK(exa_checkpoint_write(path, &c, err, sizeof err) == 0);
    CHECK(exa_checkpoint_read(path, &r, N, 8, err, sizeof err) == 0);
    CHECK(r.epoch == 8 && ((double *)r.params)[0] == 42);
    exa_checkpoint_free(&r);
    CHECK(access(stray, F_OK) == 0); /* left alone: it might be another writer's */

    /* a directory that does not exist: one line naming the file */
    rc = exa_checkpoint_write("/nonexistent-exa-dir/x.ckpt", &c, err, sizeof err);
    CHECK_ERROR(rc, err, "exa: /nonexistent-exa-dir/x.ckpt: cannot create a temporary file");

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    CHECK_DONE();
}
