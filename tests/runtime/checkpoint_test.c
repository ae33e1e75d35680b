/* checkpoint_test.c - checkpoints: a write/read roundtrip is bit for bit;
 * a truncated file, a flipped byte, a bad magic, another version and a
 * parameter count that differs from the model's are each rejected with
 * their own message; a stray temporary file (a crash between write and
 * rename) leaves the previous checkpoint loadable and does not block the
 * next write. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "exa/checkpoint.h"

static char dir[256], path[512], err[512];

static void sample(ExaCheckpoint *c, double *params, float *m, float *v, int n)
{
    for (int i = 0; i < n; i++) {
        params[i] = 1.0 / (i + 3);
        m[i] = (float)i * 0.25f;
        v[i] = -(float)i;
    }
    *c = (ExaCheckpoint){.precision = 8, .epoch = 7, .step = 700,
                         .rng = {1, 0xdeadbeefcafef00du, 3, 4}, .nparams = n, .params = params,
                         .nstate = 2, .state_bytes = {n * 4, n * 4}, .state = {m, v}};
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
    CHECK(file_size(path) == EXA_CKPT_HEADER + N * 8 + 2 * N * 4 + 4);

    /* roundtrip */
    int rc = exa_checkpoint_read(path, &r, N, 8, err, sizeof err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(r.epoch == 7 && r.step == 700 && r.rng[1] == 0xdeadbeefcafef00du && r.nstate == 2);
        CHECK(memcmp(r.params, params, sizeof params) == 0);
        CHECK(memcmp(r.state[0], m, sizeof m) == 0 && memcmp(r.state[1], v, sizeof v) == 0);
        exa_checkpoint_free(&r);
    }

    /* damage */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    copy_file(path, bad, file_size(path) - 100);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: truncated: header says 16132 bytes, file holds 16032");
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
    patch(bad, 8, 0x03);
    rc = exa_checkpoint_read(bad, &r, N, 8, err, sizeof err);
    CHECK_ERROR(rc, err, "bad.ckpt: format version 2, this libexa reads version 1");
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
