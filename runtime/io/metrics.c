/* metrics.c - the JSON-lines epoch log and the terminal progress line.
 *
 * JSON is written by hand: the objects are flat, so a string escaper and a
 * number printer (null for NaN and infinities) are all that is needed.  The
 * progress line takes the elapsed time from the caller rather than reading a
 * clock, so that it is a pure function of its arguments and testable. */
#include "exa/error.h"
#include "exa/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An snprintf-style appender: keeps counting past the end of the buffer. */
typedef struct Out {
    char *buf;
    size_t size, len;
} Out;

static void emit(Out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->size ? o->size - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void emit_string(Out *o, const char *s)
{
    emit(o, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            emit(o, "\\%c", *p);
        else if (*p == '\n')
            emit(o, "\\n");
        else if (*p == '\t')
            emit(o, "\\t");
        else if (*p == '\r')
            emit(o, "\\r");
        else if (*p < 0x20)
            emit(o, "\\u%04x", *p);
        else
            emit(o, "%c", *p);
    }
    emit(o, "\"");
}

static void emit_number(Out *o, double v)
{
    if (isfinite(v))
        emit(o, "%.17g", v);
    else
        emit(o, "null");
}

static void emit_field(Out *o, const char *name, double v)
{
    emit(o, ",");
    emit_string(o, name);
    emit(o, ":");
    emit_number(o, v);
}

size_t exa_metrics_format(const ExaEpochRecord *r, char *buf, size_t size)
{
    Out o = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    emit(&o, "{\"epoch\":%lld", (long long)r->epoch);
    emit_field(&o, "loss", r->loss);
    emit_field(&o, "accuracy", r->accuracy);
    emit_field(&o, "seconds", r->seconds);
    emit_field(&o, "samples_per_s", r->samples_per_s);
    for (int i = 0; i < r->nextra; i++)
        emit_field(&o, r->names[i], r->values[i]);
    emit(&o, "}");
    return o.len;
}

int exa_metrics_open(ExaMetricsLog *log, const char *path, int append, char *err, size_t errlen)
{
    snprintf(log->path, sizeof log->path, "%s", path);
    log->f = fopen(path, append ? "a" : "w");
    if (!log->f)
        return exa_fail(err, errlen, "exa: %s: cannot open the log: %s", path, strerror(errno));
    return 0;
}

int exa_metrics_write(ExaMetricsLog *log, const ExaEpochRecord *r, char *err, size_t errlen)
{
    char small[512];
    size_t need = exa_metrics_format(r, small, sizeof small);
    char *line = small;
    char big_needed = need >= sizeof small;
    if (big_needed) {
        line = malloc(need + 1);
        if (!line)
            return exa_fail(err, errlen, "exa: %s: out of memory", log->path);
        exa_metrics_format(r, line, need + 1);
    }
    int bad = fprintf(log->f, "%s\n", line) < 0 || fflush(log->f) != 0;
    if (big_needed)
        free(line);
    if (bad)
        return exa_fail(err, errlen, "exa: %s: cannot write the log: %s", log->path, strerror(errno));
    return 0;
}

void exa_metrics_close(ExaMetricsLog *log)
{
    if (log->f)
        fclose(log->f);
    log->f = NULL;
}

int exa_progress_is_terminal(FILE *out)
{
    if (!isatty(fileno(out)))
        return 0;
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE"))
        return 1;
    /* Under a launcher isatty says nothing: Open MPI gives every rank a
     * pseudo-terminal for stdout even when mpirun's own output is a file or
     * a pipe, and forwards what the rank writes there.  What counts is the
     * launcher's stdout.  Ranks on mpirun's node (rank 0 among them) are its
     * children, and /proc/PARENT/fd/1 names it; a remote daemon's stdout, or
     * no /proc, gives plain lines. */
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/%ld/fd/1", (long)getppid());
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    if (strncmp(target, "/dev/", 5) != 0)
        return 0;
    int fd = open(target, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    int tty = isatty(fd);
    close(fd);
    return tty;
}

void exa_progress_init(ExaProgress *p, FILE *out, int tty, int64_t epochs, int64_t steps_per_epoch)
{
    p->out = out;
    p->tty = tty >= 0 ? tty : exa_progress_is_terminal(out);
    p->epochs = epochs;
    p->steps = steps_per_epoch;
    p->last_draw = -1;
    p->width = 0;
}

/* "1h02m", "2m05s" or "7s". */
static void format_duration(Out *o, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        emit(o, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        emit(o, "%ldm%02lds", t / 60, t % 60);
    else
        emit(o, "%lds", t);
}

void exa_progress_format(const ExaProgress *p, char *buf, size_t size, int64_t epoch, int64_t step,
                         double loss, double samples_per_s, double elapsed)
{
    Out o = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    emit(&o, "epoch %lld/%lld  step %lld/%lld  loss %.4g  %.3g samples/s", (long long)epoch,
         (long long)p->epochs, (long long)step, (long long)p->steps, loss, samples_per_s);
    /* time left: the average time per step so far, times the steps to go
     * (in double: --epochs may be as large as int64 allows) */
    double done = (double)(epoch - 1) * (double)p->steps + (double)step,
           total = (double)p->epochs * (double)p->steps;
    if (done > 0 && total > done && elapsed > 0) {
        emit(&o, "  ");
        format_duration(&o, elapsed / done * (total - done));
        emit(&o, " left");
    }
}

static void draw(ExaProgress *p, const char *line, int final)
{
    int len = (int)strlen(line);
    if (p->tty) {
        /* pad with blanks over what is left of a longer previous line */
        fprintf(p->out, "\r%s%*s", line, p->width > len ? p->width - len : 0, "");
        p->width = final ? 0 : len;
    } else {
        fputs(line, p->out);
    }
    if (final)
        fputc('\n', p->out);
    fflush(p->out);
}

void exa_progress_step(ExaProgress *p, int64_t epoch, int64_t step, double loss,
                       double samples_per_s, double elapsed)
{
    if (!p->tty || (p->last_draw >= 0 && elapsed - p->last_draw < 0.1))
        return;
    char line[256];
    exa_progress_format(p, line, sizeof line, epoch, step, loss, samples_per_s, elapsed);
    draw(p, line, 0);
    p->last_draw = elapsed;
}

void exa_progress_epoch(ExaProgress *p, int64_t epoch, double loss, double samples_per_s,
                        double elapsed)
{
    char line[256];
    exa_progress_format(p, line, sizeof line, epoch, p->steps, loss, samples_per_s, elapsed);
    draw(p, line, 1);
    p->last_draw = -1;
}
