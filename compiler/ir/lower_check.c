/* lower_check.c - the numerics probe behind --check-numerics: source spans of
 * IR values while the loss is lowered, and the loss_check function and its
 * descriptor lines (see lower_check.h). */
#include "lower_check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

void lower_check_init(LowerCheck *c, const SourceFile *root)
{
    memset(c, 0, sizeof *c);
    c->root = root;
}

LowerCheckMark lower_check_enter(LowerCheck *c, const IrFunc *f, const Span *at)
{
    LowerCheckMark m = { .before = f->n, .saved_user = c->cur_user,
                         .saved_has_user = c->has_user, .valid = at && at->file };
    if (m.valid) {
        m.at = *at;
        if (at->file == c->root) {
            c->cur_user = *at;
            c->has_user = 1;
        }
    }
    return m;
}

/* Values made while the expression was lowered and not yet tagged by an
 * inner expression get its span: the innermost expression wins. */
void lower_check_leave(LowerCheck *c, const IrFunc *f, const LowerCheckMark *m)
{
    if (m->valid && f->n > c->cap) {
        int cap = c->cap ? c->cap : 64;
        while (cap < f->n)
            cap *= 2;
        Span *at = realloc(c->at, (size_t)cap * sizeof *at), *user = at ? realloc(c->user, (size_t)cap * sizeof *user) : NULL;
        if (!at || !user)
            abort();
        memset(at + c->cap, 0, (size_t)(cap - c->cap) * sizeof *at);
        memset(user + c->cap, 0, (size_t)(cap - c->cap) * sizeof *user);
        c->at = at, c->user = user, c->cap = cap;
    }
    for (int i = m->before; m->valid && i < f->n; i++)
        if (!c->at[i].file) {
            c->at[i] = m->at;
            c->user[i] = c->has_user ? c->cur_user : m->at;
        }
    c->cur_user = m->saved_user;
    c->has_user = m->saved_has_user;
}

static void append(char **s, const char *fmt, ...) EXA_PRINTF(2, 3);
static void append(char **s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t len = *s ? strlen(*s) : 0;
    char *t = realloc(*s, len + (size_t)n + 1);
    if (!t)
        abort();
    va_start(ap, fmt);
    vsnprintf(t + len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *s = t;
}

/* A path as a descriptor string: quotes and backslashes escaped. */
static void append_quoted(char **s, const char *path)
{
    append(s, " \"");
    for (const char *p = path; *p; p++)
        append(s, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p == '\n' ? ' ' : *p);
    append(s, "\"");
}

/* Leaves hold no computed value, and a RESHAPE is the memory of its source:
 * neither can be the first to go non-finite. */
static int probed(IrOp op)
{
    switch (op) {
    case IR_INPUT: case IR_PARAM: case IR_CONST: case IR_LABEL: case IR_INV_BATCH:
    case IR_STEP_SIZE: case IR_BASIS: case IR_FILL: case IR_RESHAPE:
        return 0;
    default:
        return 1;
    }
}

void lower_check_build(const IrFunc *f, LowerCheck *c, IrId per_sample, int nfields, Lowered *out)
{
    if (out->nfuncs >= LOWER_MAX_FUNCS || per_sample < 0)
        return;
    /* the ancestors of the per-sample loss: what the loss is computed from */
    char *need = calloc((size_t)f->n + 1, 1);
    if (!need)
        abort();
    need[per_sample] = 1;
    for (int i = per_sample; i >= 0; i--)
        for (int k = 0; need[i] && k < ir_op_arity(f->v[i].op); k++)
            if (f->v[i].in[k] >= 0)
                need[f->v[i].in[k]] = 1;
    IrFunc *g = &out->funcs[out->nfuncs];
    ir_init(g);
    g->name = "exa_loss_check";
    for (int i = 0; i < f->n; i++)
        ir_add(g, &f->v[i]);
    char *lines = NULL;
    int slots = 0;
    for (int i = 0; i < f->n && slots < LOWER_CHECK_MAX; i++) {
        if (!need[i] || !probed(f->v[i].op))
            continue;
        const Span *at = i < c->cap && c->at[i].file ? &c->at[i] : NULL;
        const Span *user = at ? &c->user[i] : NULL;
        ir_output(g, i, slots, 0);
        append(&lines, "check %d %s %lld %s", slots, f->v[i].batched ? "batched" : "uniform",
               (long long)ir_shape_size(&f->v[i].shape), ir_op_name(f->v[i].op));
        append_quoted(&lines, at ? at->file->path : "?");
        append(&lines, " %d %d", at ? at->line : 0, at ? at->col : 0);
        append_quoted(&lines, user ? user->file->path : "?");
        append(&lines, " %d %d\n", user ? user->line : 0, user ? user->col : 0);
        slots++;
    }
    free(need);
    if (slots == 0) { /* nothing to probe: no function */
        ir_free(g);
        free(lines);
        return;
    }
    append(&c->desc, "function %d loss_check inputs %d outputs %d\n", out->nfuncs, nfields, slots);
    append(&c->desc, "%s", lines);
    free(lines);
    out->nfuncs++;
}

void lower_check_describe(char **descriptor, const LowerCheck *c)
{
    if (c->desc)
        lower_describe_before_end(descriptor, c->desc);
}

void lower_check_free(LowerCheck *c)
{
    free(c->at);
    free(c->user);
    free(c->desc);
    memset(c, 0, sizeof *c);
}

void lower_check_remap(LowerCheck *c, const IrId *map, int old_n, int n)
{
    int cap = n > 0 ? n : 1;
    Span *at = calloc((size_t)cap, sizeof *at), *user = calloc((size_t)cap, sizeof *user);
    if (!at || !user)
        abort();
    for (int i = 0; i < old_n && i < c->cap; i++)
        if (map[i] >= 0 && map[i] < n) {
            at[map[i]] = c->at[i];
            user[map[i]] = c->user[i];
        }
    free(c->at);
    free(c->user);
    c->at = at, c->user = user, c->cap = cap;
}
