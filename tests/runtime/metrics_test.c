/* metrics_test.c - the JSON-lines log (fields, escaping, NaN and Inf as
 * null, exact numbers, appending) and the progress line (its text, time
 * left, carriage-return redraws on a terminal, plain lines otherwise). */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "exa/metrics.h"

static char err[512];

static void json(void)
{
    char buf[512];
    ExaEpochRecord r = {.epoch = 3, .loss = 0.5, .accuracy = NAN, .seconds = 2, .samples_per_s = INFINITY};
    exa_metrics_format(&r, buf, sizeof buf);
    CHECK(strcmp(buf, "{\"epoch\":3,\"loss\":0.5,\"accuracy\":null,\"seconds\":2,\"samples_per_s\":null}") == 0);
    const char *names[] = {"val \"loss\"\n", "x\\y\x01"};
    double values[] = {0.1, -1e300};
    r.nextra = 2;
    r.names = names;
    r.values = values;
    size_t need = exa_metrics_format(&r, buf, sizeof buf);
    CHECK(need == strlen(buf));
    CHECK(strstr(buf, ",\"val \\\"loss\\\"\\n\":0.10000000000000001,\"x\\\\y\\u0001\":-1.0000000000000001e+300}"));
    /* a too small buffer: truncated, terminated, the needed length returned */
    char tiny[8];
    CHECK(exa_metrics_format(&r, tiny, sizeof tiny) == need && strlen(tiny) == 7);
}

static void log_file(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/exa-log-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    close(fd);
    ExaMetricsLog log;
    ExaEpochRecord r = {.epoch = 1, .loss = 1, .accuracy = 0.5, .seconds = 1, .samples_per_s = 100};
    CHECK(exa_metrics_open(&log, path, 0, err, sizeof err) == 0);
    CHECK(exa_metrics_write(&log, &r, err, sizeof err) == 0);
    exa_metrics_close(&log);
    CHECK(exa_metrics_open(&log, path, 1, err, sizeof err) == 0);
    r.epoch = 2;
    CHECK(exa_metrics_write(&log, &r, err, sizeof err) == 0);
    exa_metrics_close(&log);
    FILE *f = fopen(path, "r");
    char line[256];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        CHECK(line[0] == '{' && strstr(line, "}\n"));
    }
    fclose(f);
    CHECK(lines == 2);
    unlink(path);
    int rc = exa_metrics_open(&log, "/nonexistent-exa-dir/log.jsonl", 0, err, sizeof err);
    CHECK_ERROR(rc, err, "exa: /nonexistent-exa-dir/log.jsonl: cannot open the log: No such file");
}

static void progress(void)
{
    ExaProgress p;
    char line[256];
    FILE *f = tmpfile();
    exa_progress_init(&p, f, -1, 10, 600);
    CHECK(p.tty == 0); /* a file is not a terminal */
    /* 640 of 6000 steps done in 160 s: 5360 steps left at 4 steps/s = 1340 s */
    exa_progress_format(&p, line, sizeof line, 2, 40, 0.42134, 12000, 160);
    CHECK(strcmp(line, "epoch 2/10  step 40/600  loss 0.4213  1.2e+04 samples/s  22m20s left") == 0);
    /* one step of 10 s left */
    exa_progress_format(&p, line, sizeof line, 10, 599, 0.1, 5, 5999 * 10.0);
    CHECK(strstr(line, "  10s left"));
    exa_progress_step(&p, 1, 1, 1.0, 10, 0.5); /* not a terminal: nothing */
    exa_progress_epoch(&p, 1, 0.9, 10, 1.0);
    exa_progress_epoch(&p, 2, 0.8, 10, 2.0);
    rewind(f);
    char buf[1024] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    CHECK(strncmp(buf, "epoch 1/10  step 600/600  loss 0.9", 34) == 0);
    CHECK(!strchr(buf, '\r') && strstr(buf, "\nepoch 2/10"));

    /* a terminal: each step redraws with \r, at most every 0.1 s */
    f = tmpfile();
    exa_progress_init(&p, f, 1, 2, 100);
    exa_progress_step(&p, 1, 1, 1.0, 10, 0.00);
    exa_progress_step(&p, 1, 2, 1.0, 10, 0.05); /* too soon: skipped */
    exa_progress_step(&p, 1, 3, 1.0, 10, 0.20);
    exa_progress_epoch(&p, 1, 0.5, 10, 1.0);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    CHECK(strncmp(buf, "\repoch 1/2  step 1/100", 22) == 0);
    CHECK(!strstr(buf, "step 2/100") && strstr(buf, "\repoch 1/2  step 3/100"));
    CHECK(strstr(buf, "\repoch 1/2  step 100/100") && buf[n - 1] == '\n');
}

int main(void)
{
    json();
    log_file();
    progress();
    CHECK_DONE();
}
