/* ast.c - arena, node constructors and the --emit=ast printer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

/* ---- arena ---------------------------------------------------------- */

struct ArenaBlock {
    ArenaBlock *next;
    size_t used, size;
    max_align_t data[];
};

enum { ARENA_BLOCK = 64 * 1024 };

void *arena_alloc(Arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    ArenaBlock *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof *b + size);
        if (!b) {
            fputs("exac: out of memory\n", stderr);
            exit(2);
        }
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(Arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void arena_free(Arena *a)
{
    ArenaBlock *b = a->head;
    while (b) {
        ArenaBlock *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- nodes ---------------------------------------------------------- */

Node *ast_new(Arena *ar, NodeKind kind, Span span)
{
    Node *n = arena_alloc(ar, sizeof *n);
    n->kind = kind;
    n->span = span;
    return n;
}

void ast_push(Arena *ar, NodeList *l, Node *n)
{
    if (l->len == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        Node **items = arena_alloc(ar, cap * sizeof *items);
        if (l->len)
            memcpy(items, l->items, l->len * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = n;
}

static const char *const kind_names[N_KIND_COUNT] = {
    [N_INT] = "int", [N_FLOAT] = "float", [N_STRING] = "string", [N_NAME] = "name",
    [N_UNARY] = "unary", [N_BINARY] = "binary", [N_CALL] = "call",
    [N_NAMED_ARG] = "named-arg", [N_INDEX] = "index", [N_SLICE] = "slice",
    [N_LIST] = "list", [N_TYPE_SHAPE] = "shape", [N_TYPE_INT] = "type-int",
    [N_TYPE_FLOAT] = "type-float", [N_TYPE_CLASS] = "type-class",
    [N_ASSIGN] = "assign", [N_PARAM] = "param", [N_RETURN] = "return",
    [N_REPEAT] = "repeat", [N_FOR] = "for", [N_SPLIT] = "split", [N_LOCAL] = "local",
    [N_COMBINE] = "combine", [N_COARSE] = "coarse", [N_GLOBAL] = "global", [N_FORMAL] = "formal",
    [N_FIELD] = "field", [N_IMPORT] = "import", [N_LAYER] = "layer", [N_FN] = "fn",
    [N_MODEL] = "model", [N_DATA] = "data", [N_LOSS] = "loss", [N_TRAIN] = "train",
    [N_STRATEGY] = "strategy", [N_PROGRAM] = "program", [N_ERROR] = "error",
};

const char *ast_kind_name(NodeKind kind)
{
    return kind < N_KIND_COUNT && kind_names[kind] ? kind_names[kind] : "?";
}

const char *ast_op_name(int op)
{
    switch (op) {
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '^': return "^";
    case '@': return "@";
    default: return "?";
    }
}

static void dump_list(FILE *out, const NodeList *l, int depth);

static void dump(FILE *out, const Node *n, int depth)
{
    fprintf(out, "%*s", 2 * depth, "");
    if (!n) {
        fputs("()\n", out);
        return;
    }
    fprintf(out, "(%s", ast_kind_name(n->kind));
    switch (n->kind) {
    case N_INT: fprintf(out, " %ld", n->ival); break;
    case N_FLOAT: fprintf(out, " %.17g", n->num); break;
    case N_STRING: fprintf(out, " \"%s\"", n->name); break;
    case N_UNARY:
    case N_BINARY: fprintf(out, " %s", ast_op_name(n->op)); break;
    default:
        if (n->name)
            fprintf(out, " %s", n->name);
    }
    fprintf(out, " @%d:%d", n->span.line, n->span.col);
    if (n->a || n->b || n->list.len || n->list2.len) {
        fputc('\n', out);
        if (n->a)
            dump(out, n->a, depth + 1);
        if (n->b)
            dump(out, n->b, depth + 1);
        dump_list(out, &n->list, depth + 1);
        if (n->list2.len) {
            fprintf(out, "%*s(body\n", 2 * depth + 2, "");
            dump_list(out, &n->list2, depth + 2);
            fprintf(out, "%*s)\n", 2 * depth + 2, "");
        }
        fprintf(out, "%*s)\n", 2 * depth, "");
    } else {
        fputs(")\n", out);
    }
}

static void dump_list(FILE *out, const NodeList *l, int depth)
{
    for (int i = 0; i < l->len; i++)
        dump(out, l->items[i], depth);
}

void ast_dump(FILE *out, const Node *n)
{
    dump(out, n, 0);
}

int ast_match_args(const Node *decl, const Node *call, AstArgs *m)
{
    int nf = decl->list.len < AST_MAX_ARGS ? decl->list.len : AST_MAX_ARGS;
    int npos = 0, named = 0, ok = 1;
    memset(m, 0, sizeof *m);
    for (int i = 0; i < call->list.len && i < AST_MAX_ARGS; i++) {
        const Node *a = call->list.items[i];
        int k;
        m->nactual = i + 1;
        if (a->kind != N_NAMED_ARG) {
            if (named) {
                m->slot[i] = AST_ARG_AFTER_NAMED, ok = 0;
                continue;
            }
            k = npos++;
            if (k >= nf) {
                m->slot[i] = AST_ARG_TOO_MANY, ok = 0;
                break;
            }
        } else {
            named = 1;
            for (k = 0; k < nf; k++)
                if (strcmp(decl->list.items[k]->name, a->name) == 0)
                    break;
            if (k == nf) {
                m->slot[i] = AST_ARG_UNKNOWN, ok = 0;
                continue;
            }
            if (m->arg[k]) {
                m->slot[i] = AST_ARG_TWICE, ok = 0;
                continue;
            }
            a = a->a;
        }
        m->slot[i] = k;
        m->arg[k] = a;
    }
    return ok;
}

const Node *ast_formal_value(const Node *decl, const AstArgs *m, int k)
{
    if (k >= AST_MAX_ARGS || k >= decl->list.len)
        return NULL;
    return m->arg[k] ? m->arg[k] : decl->list.items[k]->b;
}
