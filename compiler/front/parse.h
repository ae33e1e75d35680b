/* parse.h - the front door of the scanner (lexer.l) and parser (parser.y).
 *
 * parse_file turns one source file into an N_PROGRAM node.  Syntax errors are
 * reported through Diag and recovered from at statement and declaration
 * boundaries, so one run reports several; the tree then holds N_ERROR nodes
 * and must not be compiled further. */
#ifndef EXA_PARSE_H
#define EXA_PARSE_H

#include "ast.h"
#include "diag.h"
#include "source.h"

enum { PARSE_MAX_NESTING = 256 };

typedef struct OpenBracket {
    char ch;
    Span at;
} OpenBracket;

/* State shared by the scanner and the parser of one file. */
typedef struct ParseCtx {
    Arena *arena;
    Diag *diag;
    const SourceFile *file;
    Node *program;
    int line, col;                  /* scanner position: next byte to read */
    size_t offset;                  /* bytes consumed so far */
    OpenBracket open[PARSE_MAX_NESTING]; /* unclosed brackets, innermost last */
    int nopen;
    int too_deep;                   /* nesting past the limit was reported */
    int nminus;                     /* '-' tokens in a row: unary minus nests */
    Span comment_start;
    int eof_reported;               /* an unterminated comment ran into the end */             /* of the block comment being skipped */
} ParseCtx;

Node *parse_file(const SourceFile *file, Arena *arena, Diag *diag);

/* Spellings of the reserved words, NULL-terminated (from keywords.def). */
extern const char *const parse_keywords[];

#endif
