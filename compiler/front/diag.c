/* diag.c - formatting of compiler diagnostics with source context. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_init(Diag *d, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->out = out;
}

/* Prints the numbered source line and a caret under the span's first column,
 * with tildes to its end when the span stays on that line. */
static void show_source(FILE *out, Span at)
{
    if (!at.file || at.line < 1)
        return;
    int len;
    const char *text = source_line(at.file, at.line, &len);
    int width = fprintf(out, "%5d", at.line);
    fprintf(out, " | ");
    for (int i = 0; i < len; i++)
        fputc(text[i] == '\t' ? ' ' : text[i], out);
    fputc('\n', out);
    fprintf(out, "%*s | ", width, "");
    int col = at.col < 1 ? 1 : at.col;
    if (col > len + 1)
        col = len + 1;
    for (int i = 1; i < col; i++)
        fputc(' ', out);
    fputc('^', out);
    int end = at.end_line == at.line ? at.end_col : len + 1;
    if (end > len + 1)
        end = len + 1;
    for (int i = col + 1; i < end; i++)
        fputc('~', out);
    fputc('\n', out);
}

static void report(Diag *d, Span at, const char *kind, const char *fmt, va_list ap)
{
    if (at.file)
        fprintf(d->out, "%s:%d:%d: %s: ", at.file->path, at.line, at.col, kind);
    else
        fprintf(d->out, "exac: %s: ", kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    show_source(d->out, at);
}

void diag_error(Diag *d, Span at, const char *fmt, ...)
{
    d->errors++;
    d->last_printed = d->errors <= DIAG_MAX_ERRORS;
    if (!d->last_printed) {
        d->suppressed++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    report(d, at, "error", fmt, ap);
    va_end(ap);
}

void diag_warning(Diag *d, Span at, const char *fmt, ...)
{
    d->warnings++;
    d->last_printed = 1;
    va_list ap;
    va_start(ap, fmt);
    report(d, at, "warning", fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, Span at, const char *fmt, ...)
{
    if (!d->last_printed)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, at, "note", fmt, ap);
    va_end(ap);
}

void diag_note_plain(Diag *d, const char *fmt, ...)
{
    if (!d->last_printed)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("note: ", d->out);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    va_end(ap);
}

void diag_fatal_file(Diag *d, const char *path, const char *fmt, ...)
{
    d->errors++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(d->out, "exac: error: %s: ", path);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    va_end(ap);
}

void diag_finish(Diag *d)
{
    if (d->suppressed)
        fprintf(d->out, "exac: %d more errors not shown\n", d->suppressed);
}

int diag_message(char **error, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (error && (*error = malloc(strlen(msg) + 1)))
        strcpy(*error, msg);
    return -1;
}
