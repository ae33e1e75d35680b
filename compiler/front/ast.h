/* ast.h - the abstract syntax tree of a .exa program.
 *
 * One Node type for everything, tagged by kind; which fields a kind uses is
 * listed beside it.  Nodes live in an Arena and are freed all at once.
 * The grammar that builds them is in parser.y and docs/language.md. */
#ifndef EXA_AST_H
#define EXA_AST_H

#include <stddef.h>
#include <stdio.h>

#include "source.h"

/* ---- arena ---------------------------------------------------------- */

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
    ArenaBlock *head;
} Arena;

void *arena_alloc(Arena *a, size_t n); /* zeroed, aligned for any type */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
void arena_free(Arena *a);

/* ---- nodes ---------------------------------------------------------- */

typedef struct Node Node;

typedef struct NodeList {
    Node **items;
    int len, cap;
} NodeList;

typedef enum NodeKind {
    /* expressions */
    N_INT,      /* ival */
    N_FLOAT,    /* num */
    N_STRING,   /* name = the string's contents, escapes resolved */
    N_NAME,     /* name */
    N_UNARY,    /* op ('-'), a = operand */
    N_BINARY,   /* op ('+','-','*','/','^','@'), a = lhs, b = rhs */
    N_CALL,     /* name = callee, list = arguments (N_NAMED_ARG for name: value) */
    N_NAMED_ARG,/* name, a = value */
    N_INDEX,    /* a = indexed value, list = indices (expressions or N_SLICE) */
    N_SLICE,    /* a = start or NULL, b = stop or NULL */
    N_LIST,     /* list = elements: [e, e, ...] */

    /* types */
    N_TYPE_SHAPE, /* list = dimension expressions (N_INT, N_NAME, arithmetic) */
    N_TYPE_INT,
    N_TYPE_FLOAT,
    N_TYPE_CLASS, /* a = number of classes (expression) */

    /* statements inside layer / fn / model bodies */
    N_ASSIGN,   /* name = target, a = value */
    N_PARAM,    /* name, a = N_TYPE_SHAPE, b = initialiser expression */
    N_RETURN,   /* a = value */
    N_REPEAT,   /* a = count, list = body */
    N_FOR,      /* name = loop variable, a = from, b = to, list = body */

    /* statements inside strategy bodies */
    N_SPLIT,    /* name = what ("data" or "params"), b = by (N_NAME) or NULL, a = into */
    N_LOCAL,    /* a = solver (N_CALL or N_NAME) */
    N_COMBINE,  /* a = how (N_NAME or N_CALL) */
    N_COARSE,   /* a = the coarse solver, name = additive | multiplicative (b = its word or its call
                 * additive(cfactor: 3, prolong: linear), NULL by default) */
    N_GLOBAL,   /* a = step (N_CALL or N_NAME) */

    /* declarations */
    N_FORMAL,   /* name, a = type, b = default value or NULL */
    N_FIELD,    /* name, a = type (a data set's per-sample part) */
    N_IMPORT,   /* name = module */
    N_LAYER,    /* name, list = formals, a = result type, list2 = body */
    N_FN,       /* as N_LAYER; a fn has no parameters of its own */
    N_MODEL,    /* as N_LAYER; one instance, shared by every call */
    N_DATA,     /* name, a = source (N_CALL), list = fields */
    N_LOSS,     /* a = expression (per sample) */
    N_TRAIN,    /* list = settings (N_ASSIGN) */
    N_STRATEGY, /* name, list = formals, list2 = body */
    N_PROGRAM,  /* list = declarations of this file */
    N_ERROR,    /* placeholder left by syntax error recovery */
    N_KIND_COUNT
} NodeKind;

struct Node {
    NodeKind kind;
    Span span;
    const char *name;
    int op;
    int depth;      /* height of an expression tree, bounded by the parser */
    long ival;
    double num;
    Node *a, *b;
    NodeList list, list2;
};

Node *ast_new(Arena *ar, NodeKind kind, Span span);
void ast_push(Arena *ar, NodeList *l, Node *n);
const char *ast_kind_name(NodeKind kind);
/* Spelling of a binary/unary operator, e.g. "@" or "^". */
const char *ast_op_name(int op);

/* Prints the tree as an indented S-expression (exac --emit=ast). */
void ast_dump(FILE *out, const Node *n);

/* ---- matching a call's arguments with a declaration's formals ------------
 * The one place that decides which argument goes to which formal (sema
 * reports the problems, lowering and the descriptor writer use the result):
 * positional arguments fill formals in order, named ones by name. */
enum { AST_MAX_ARGS = 64 };
enum AstArgStatus {
    AST_ARG_AFTER_NAMED = -1, /* positional argument after a named one */
    AST_ARG_TOO_MANY = -2,    /* more positional arguments than formals (matching stops) */
    AST_ARG_UNKNOWN = -3,     /* no formal of that name */
    AST_ARG_TWICE = -4        /* the formal is given already */
};
typedef struct AstArgs {
    int nactual;                     /* call arguments examined */
    int slot[AST_MAX_ARGS];          /* per call argument: its formal, or an AstArgStatus */
    const Node *arg[AST_MAX_ARGS];   /* per formal: its value expression, or NULL */
} AstArgs;

/* Matches call (N_CALL) with the formals of decl (list of N_FORMAL); 1 when
 * every argument has its formal.  Formals past AST_MAX_ARGS are never bound. */
int ast_match_args(const Node *decl, const Node *call, AstArgs *m);

/* The value of formal k: its argument, else its default, else NULL. */
const Node *ast_formal_value(const Node *decl, const AstArgs *m, int k);

#endif
