/* sema_emit.c - exac --emit=shapes: the instantiated program as tables.
 *
 * Data sets with their fields, then for every training model its values,
 * stages and parameters, then the loss.  Columns are aligned per table and
 * the order is the program's, so the output is a stable golden file.  The
 * values of a repeat body are printed once as step[*]/name when every step
 * gives them the same shape (they are the same statement). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema_internal.h"

enum { COLS = 4 };

typedef struct Table {
    const char **cells; /* rows * COLS */
    int rows, cap;
} Table;

static void row(Sema *s, Table *t, const char *a, const char *b, const char *c, const char *d)
{
    int cap = t->cap / COLS;
    const char **cells = sema_grow(s, t->cells, t->rows, &cap, COLS * sizeof *t->cells);
    t->cells = cells;
    t->cap = cap * COLS;
    const char **r = &t->cells[t->rows++ * COLS];
    r[0] = a, r[1] = b, r[2] = c, r[3] = d;
}

static void print_table(FILE *out, const Table *t, const char *indent)
{
    int w[COLS] = {0};
    for (int i = 0; i < t->rows; i++)
        for (int k = 0; k < COLS; k++)
            if (t->cells[i * COLS + k] && (int)strlen(t->cells[i * COLS + k]) > w[k])
                w[k] = (int)strlen(t->cells[i * COLS + k]);
    for (int i = 0; i < t->rows; i++) {
        const char **r = &t->cells[i * COLS];
        int last = COLS - 1;
        while (last > 0 && !r[last])
            last--;
        fputs(indent, out);
        for (int k = 0; k <= last; k++)
            if (k < last)
                fprintf(out, "%-*s  ", w[k], r[k] ? r[k] : "");
            else
                fprintf(out, "%s\n", r[k] ? r[k] : "");
    }
}

static const char *where(Sema *s, const Node *n)
{
    if (!n || !n->span.file)
        return "";
    return sema_fmt(s, "%s:%d", n->span.file->path, n->span.line);
}

static const char *shape_s(Sema *s, const SemaShape *sh)
{
    char buf[128];
    return sema_fmt(s, "%s", typed_shape_str(sh, buf, sizeof buf));
}

static const char *value_type(Sema *s, const SemaValue *v)
{
    switch (v->kind) {
    case SEMA_VAL_INT: return "int";
    case SEMA_VAL_NUM: return "float";
    case SEMA_VAL_CLASS: return sema_fmt(s, "class(%lld)", (long long)v->classes);
    default: return shape_s(s, &v->shape);
    }
}

static const char *shapes_s(Sema *s, const SemaShape *sh, int n)
{
    if (n == 0)
        return "()";
    const char *r = "";
    for (int i = 0; i < n; i++)
        r = sema_fmt(s, "%s%s%s", r, i ? ", " : "", shape_s(s, &sh[i]));
    return r;
}

/* Values ordered by the statement that made them, then by position: the
 * values of one repeat-body statement become neighbours. */
typedef struct ByNode {
    const Node *node;
    int index;
} ByNode;

static int by_node(const void *pa, const void *pb)
{
    const ByNode *a = pa, *b = pb;
    if (a->node != b->node)
        return (uintptr_t)a->node < (uintptr_t)b->node ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* A repeat body's values are printed once, as step[*]/name, when every step
 * gives them the same type.  Grouping by sorting keeps this O(n log n): a
 * model may have 10^5 values (the fuzzer found the quadratic scan). */
static void emit_values(FILE *out, Sema *s, const SemaModel *m)
{
    int n = m->nvalues;
    const char **type = sema_alloc(s, (size_t)n * sizeof *type + 1);
    char *fold = sema_alloc(s, (size_t)n + 1); /* 1: step[*] row, 2: hidden */
    ByNode *order = sema_alloc(s, (size_t)n * sizeof *order + 1);
    for (int i = 0; i < n; i++) {
        type[i] = value_type(s, &m->values[i]);
        fold[i] = 0;
        order[i] = (ByNode){ m->values[i].node, i };
    }
    if (n > 1)
        qsort(order, (size_t)n, sizeof *order, by_node);
    for (int g = 0; g < n;) {
        int end = g, same = 1;
        while (end < n && order[end].node == order[g].node) {
            same &= strcmp(type[order[end].index], type[order[g].index]) == 0;
            end++;
        }
        for (int k = g; same && k < end; k++)
            fold[order[k].index] = k == g ? 1 : 2;
        g = end;
    }
    Table t = {0};
    for (int i = 0; i < n; i++) {
        const char *path = m->values[i].path;
        if (strncmp(path, "step[", 5) == 0 && fold[i] == 2)
            continue;
        if (strncmp(path, "step[", 5) == 0 && fold[i] == 1) {
            const char *rest = strchr(path, '/');
            path = sema_fmt(s, "step[*]%s", rest ? rest : "");
        }
        row(s, &t, path, type[i], where(s, m->values[i].node), NULL);
    }
    print_table(out, &t, "    ");
}

static void emit_model(FILE *out, Sema *s, const SemaModel *m)
{
    fprintf(out, "\nmodel %s  %s\n", m->name, where(s, m->decl));
    fputs("  values:\n", out);
    emit_values(out, s, m);
    fputs("  stages:\n", out);
    Table t = {0};
    static const char *const kinds[] = { "body", "prologue", "step", "epilogue" };
    for (int i = 0; i < m->nstages; i++) {
        const SemaStage *sg = &m->stages[i];
        const char *kind = sg->kind == SEMA_STAGE_STEP ? sema_fmt(s, "step %d", sg->step) : kinds[sg->kind];
        row(s, &t, sema_fmt(s, "%d", i), kind, shapes_s(s, sg->in, sg->nin),
            sema_fmt(s, "-> %s", shapes_s(s, sg->out, sg->nout)));
    }
    print_table(out, &t, "    ");
    fputs("  parameters:\n", out);
    t = (Table){0};
    for (int i = 0; i < m->nparams; i++) {
        const SemaParam *p = &m->params[i];
        row(s, &t, p->path, shape_s(s, &p->shape), sema_fmt(s, "%lld", (long long)p->count),
            sema_fmt(s, "stage %d", p->stage));
    }
    print_table(out, &t, "    ");
    fprintf(out, "  total parameters: %lld\n", (long long)m->param_count);
}

void sema_emit_shapes(FILE *out, const Sema *cs)
{
    Sema *s = (Sema *)cs; /* only its arena is used, for formatting */
    const SemaTyped *ty = &s->typed;
    for (int i = 0; i < ty->ndata; i++) {
        const SemaData *d = &ty->data[i];
        const char *role = i == ty->train.data ? "  (trained on)" : i == ty->train.validate ? "  (validation)" : "";
        fprintf(out, "%sdata %s = %s  %s%s\n", i ? "\n" : "", d->name, d->source, where(s, d->decl), role);
        Table t = {0};
        for (int k = 0; k < d->nfields; k++) {
            const SemaField *f = &d->fields[k];
            row(s, &t, f->name, f->is_class ? sema_fmt(s, "class(%lld)", (long long)f->classes) : shape_s(s, &f->shape),
                NULL, NULL);
        }
        print_table(out, &t, "    ");
    }
    int64_t total = 0;
    for (int i = 0; i < ty->nmodels; i++) {
        emit_model(out, s, &ty->models[i]);
        total += ty->models[i].param_count;
    }
    if (ty->loss)
        fprintf(out, "\nloss %s  %s\n", shape_s(s, &ty->loss_shape), where(s, ty->loss));
    if (ty->nmodels)
        fprintf(out, "total parameters: %lld\n", (long long)total);
}
