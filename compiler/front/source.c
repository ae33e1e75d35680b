/* source.c - loading source files and finding their lines. */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fputs("exac: out of memory\n", stderr);
        exit(2);
    }
    return q;
}

static void index_lines(SourceFile *f)
{
    int cap = 64;
    f->line_start = xrealloc(NULL, cap * sizeof *f->line_start);
    f->nlines = 0;
    f->line_start[f->nlines++] = 0;
    for (size_t i = 0; i < f->len; i++) {
        if (f->text[i] != '\n')
            continue;
        if (f->nlines == cap) {
            cap *= 2;
            f->line_start = xrealloc(f->line_start, cap * sizeof *f->line_start);
        }
        f->line_start[f->nlines++] = i + 1;
    }
}

static SourceFile *add_file(SourceSet *set, const char *path, char *text, size_t len)
{
    SourceFile *f = xrealloc(NULL, sizeof *f);
    f->path = xrealloc(NULL, strlen(path) + 1);
    strcpy(f->path, path);
    f->text = text;
    f->len = len;
    index_lines(f);
    if (set->len == set->cap) {
        set->cap = set->cap ? 2 * set->cap : 8;
        set->files = xrealloc(set->files, set->cap * sizeof *set->files);
    }
    set->files[set->len++] = f;
    return f;
}

SourceFile *source_from_memory(SourceSet *set, const char *name, const char *data, size_t len)
{
    char *text = xrealloc(NULL, len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    return add_file(set, name, text, len);
}

SourceFile *source_load(SourceSet *set, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 4096, len = 0;
    char *text = xrealloc(NULL, cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            text = xrealloc(text, cap);
        }
    }
    int failed = ferror(fp);
    fclose(fp);
    if (failed) {
        free(text);
        errno = EIO;
        return NULL;
    }
    text[len] = '\0';
    return add_file(set, path, text, len);
}

const char *source_line(const SourceFile *f, int n, int *len)
{
    if (n < 1 || n > f->nlines) {
        *len = 0;
        return "";
    }
    size_t start = f->line_start[n - 1];
    size_t end = n < f->nlines ? f->line_start[n] - 1 : f->len;
    if (end > start && f->text[end - 1] == '\r')
        end--;
    *len = (int)(end - start);
    return f->text + start;
}

void source_set_free(SourceSet *set)
{
    for (int i = 0; i < set->len; i++) {
        free(set->files[i]->path);
        free(set->files[i]->text);
        free(set->files[i]->line_start);
        free(set->files[i]);
    }
    free(set->files);
    set->files = NULL;
    set->len = set->cap = 0;
}

Span span_join(Span a, Span b)
{
    Span s = a;
    if (b.end_line > a.end_line || (b.end_line == a.end_line && b.end_col > a.end_col)) {
        s.end_line = b.end_line;
        s.end_col = b.end_col;
    }
    return s;
}
