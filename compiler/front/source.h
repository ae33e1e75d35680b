/* source.h - source files, positions and spans.
 *
 * Every AST node carries a Span into the SourceFile it came from, so that
 * diagnostics can print the file name, the line and an underline.  Files are
 * owned by a SourceSet and live as long as the compilation. */
#ifndef EXA_SOURCE_H
#define EXA_SOURCE_H

#include <stddef.h>

typedef struct SourceFile {
    char *path;        /* as given on the command line or found by import */
    char *text;        /* whole contents, NUL-terminated */
    size_t len;
    size_t *line_start; /* offset of each line's first byte; lines are 1-based */
    int nlines;
} SourceFile;

/* A half-open range of the source: from (line, col) to (end_line, end_col),
 * columns 1-based and counted in bytes. */
typedef struct Span {
    const SourceFile *file;
    int line, col;
    int end_line, end_col;
} Span;

typedef struct SourceSet {
    SourceFile **files;
    int len, cap;
} SourceSet;

/* Reads path into a new SourceFile owned by set; NULL (and errno set) on failure. */
SourceFile *source_load(SourceSet *set, const char *path);
/* Wraps an in-memory buffer (the fuzzer's input, tests) as a SourceFile. */
SourceFile *source_from_memory(SourceSet *set, const char *name, const char *data, size_t len);
/* The text of line n (1-based) without its newline; *len receives its length. */
const char *source_line(const SourceFile *f, int n, int *len);
void source_set_free(SourceSet *set);

/* A span covering a through b. */
Span span_join(Span a, Span b);

#endif
