/* sema.c - semantic analysis: the order of the passes, the table of
 * top-level declarations, and the diagnostics wrappers.
 *
 * Passes, in order: declarations of every module into one table (duplicates
 * are errors); data sets; strategy declarations; the generic check of every
 * layer, fn and model; then, from the root module's loss and train block, the
 * instantiation of the training model(s) and the strategy's fit; last, the
 * warnings for root declarations nothing uses.
 *
 * A diagnostic both passes find (a shape error inside a layer is seen by the
 * generic pass and again by each instance) is printed once: sema_error keeps
 * the text of every message it printed and drops repeats with their notes.
 * All memory lives in the Sema's arena. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema_internal.h"

/* ---- builtins.def through an X-macro --------------------------------- */

static const Builtin builtins[] = {
#define BUILTIN(name, kind, min, max, named) { #name, B_##kind, min, max, named },
#include "builtins.def"
#undef BUILTIN
};

int sema_builtin_count(void) { return (int)(sizeof builtins / sizeof builtins[0]); }
const Builtin *sema_builtin_at(int i) { return &builtins[i]; }

const Builtin *sema_builtin(const char *name, BuiltinKind kind)
{
    for (int i = 0; i < sema_builtin_count(); i++)
        if (builtins[i].kind == kind && strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

const Builtin *sema_builtin_any(const char *name)
{
    for (int i = 0; i < sema_builtin_count(); i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

int sema_named_ok(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && strncmp(p, name, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* ---- memory ------------------------------------------------------------ */

void *sema_alloc(Sema *s, size_t n) { return arena_alloc(&s->ar, n); }

char *sema_fmt(Sema *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *buf = sema_alloc(s, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return buf;
}

void *sema_grow(Sema *s, void *items, int len, int *cap, size_t sz)
{
    if (len < *cap)
        return items;
    int ncap = *cap ? 2 * *cap : 8;
    void *n = sema_alloc(s, (size_t)ncap * sz);
    if (len)
        memcpy(n, items, (size_t)len * sz);
    *cap = ncap;
    return n;
}

/* ---- diagnostics ---------------------------------------------------- */

/* Whether this message at this place was printed before; remembers it. */
static int seen_before(Sema *s, Span at, const char *kind, const char *msg)
{
    char *key = sema_fmt(s, "%s:%d:%d:%s:%s", at.file ? at.file->path : "", at.line, at.col, kind, msg);
    for (int i = 0; i < s->nseen; i++)
        if (strcmp(s->seen[i], key) == 0)
            return 1;
    s->seen = sema_grow(s, s->seen, s->nseen, &s->capseen, sizeof *s->seen);
    s->seen[s->nseen++] = key;
    return 0;
}

/* One diagnostic: 'e' an error, 'w' a warning, 'n' a note at a place, 'p' a
 * note without one.  An error or warning already printed at the same place
 * is not printed again, nor are the notes that follow it (s->quiet). */
static void report(Sema *s, char kind, Span at, const char *fmt, va_list ap)
{
    if ((kind == 'n' || kind == 'p') && s->quiet)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (kind == 'e' || kind == 'w') {
        s->quiet = seen_before(s, at, kind == 'e' ? "e" : "w", msg);
        if (s->quiet)
            return;
    }
    switch (kind) {
    case 'e': diag_error(s->d, at, "%s", msg); break;
    case 'w': diag_warning(s->d, at, "%s", msg); break;
    case 'n': diag_note(s->d, at, "%s", msg); break;
    default: diag_note_plain(s->d, "%s", msg); break;
    }
}

void sema_error(Sema *s, Span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(s, 'e', at, fmt, ap);
    va_end(ap);
}

void sema_warn(Sema *s, Span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(s, 'w', at, fmt, ap);
    va_end(ap);
}

void sema_note(Sema *s, Span at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(s, 'n', at, fmt, ap);
    va_end(ap);
}

void sema_note_plain(Sema *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(s, 'p', (Span){ 0 }, fmt, ap);
    va_end(ap);
}

const char *sema_kind_word(NodeKind k)
{
    switch (k) {
    case N_LAYER: return "layer";
    case N_FN: return "fn";
    case N_MODEL: return "model";
    case N_DATA: return "data set";
    case N_STRATEGY: return "strategy";
    default: return "declaration";
    }
}

/* ---- the declaration table ---------------------------------------------- */

static int module_index(const Sema *s, const Module *m)
{
    for (int i = 0; i < s->p->nmodules; i++)
        if (s->p->modules[i] == m)
            return i;
    return -1;
}

/* Marks in vis every module m sees: itself and its imports, transitively. */
static void visible(const Sema *s, const Module *m, char *vis)
{
    int i = module_index(s, m);
    if (i < 0 || vis[i])
        return;
    vis[i] = 1;
    for (int k = 0; k < m->nimports; k++)
        visible(s, m->imports[k], vis);
}

Decl *sema_lookup(Sema *s, const Module *m, const char *name)
{
    char vis[256] = {0};
    if (s->p->nmodules > 256)
        return NULL;
    visible(s, m, vis);
    Decl *other = NULL;
    for (int i = 0; i < s->ndecls; i++) {
        Decl *d = &s->decls[i];
        if (strcmp(d->name, name) != 0)
            continue;
        if (d->module == m)
            return d;
        if (!other && vis[module_index(s, d->module)])
            other = d;
    }
    return other;
}

/* How far apart two names are for "did you mean": twice the optimal string
 * alignment distance of their lower-case forms (so a swap of neighbours, as in
 * 'tahn', costs one edit), plus one if they differ in case; 0 when equal.
 * Case and swaps are the typos people make, so they rank first. */
static int edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 40 || m > 40)
        return 999;
    int d[42][42];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    int case_differs = 0;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int c = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < c)
                c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c)
                c = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2])
                && tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    }
    for (size_t i = 0; i < n && i < m; i++)
        case_differs |= a[i] != b[i] && tolower((unsigned char)a[i]) == tolower((unsigned char)b[i]);
    return 2 * d[n][m] + case_differs;
}

void sema_suggest(Sema *s, const Module *m, const char *name, const char *const *extra)
{
    if (s->quiet)
        return; /* its error was a repeat, not printed: skip the costly search */
    int limit = 2 * (strlen(name) <= 3 ? 1 : 2) + 1, best = limit + 1;
    const char *pick = NULL;
    char vis[256] = {0};
    if (m && s->p->nmodules <= 256)
        visible(s, m, vis);
    for (int i = 0; m && i < s->ndecls; i++) {
        int d = edit_distance(name, s->decls[i].name);
        if (d < best && vis[module_index(s, s->decls[i].module)]) {
            best = d;
            pick = s->decls[i].name;
        }
    }
    for (int i = 0; extra && extra[i]; i++) {
        int d = edit_distance(name, extra[i]);
        if (d < best) {
            best = d;
            pick = extra[i];
        }
    }
    for (int i = 0; i < sema_builtin_count(); i++) {
        int d = edit_distance(name, builtins[i].name);
        if (d < best && builtins[i].kind == B_OP) {
            best = d;
            pick = builtins[i].name;
        }
    }
    if (pick && best > 0)
        sema_note_plain(s, "did you mean '%s'?", pick);
}

static void add_decls(Sema *s)
{
    int cap = 0;
    for (int i = 0; i < s->p->nmodules; i++) {
        Module *m = s->p->modules[i];
        for (int k = 0; k < m->ast->list.len; k++) {
            Node *n = m->ast->list.items[k];
            switch (n->kind) {
            case N_LAYER: case N_FN: case N_MODEL: case N_DATA: case N_STRATEGY:
                break;
            default:
                continue;
            }
            s->decls = sema_grow(s, s->decls, s->ndecls, &cap, sizeof *s->decls);
            s->decls[s->ndecls++] = (Decl){ .name = n->name, .node = n, .module = m };
        }
    }
}

/* A name declared twice where one module sees both is an error at the later
 * one (in the module that sees both); a function named like a built-in too. */
static void check_duplicates(Sema *s)
{
    char vis[256];
    for (int i = 0; i < s->ndecls; i++) {
        Decl *d = &s->decls[i];
        NodeKind k = d->node->kind;
        const Builtin *b = sema_builtin_any(d->name);
        if (k != N_DATA && b && (b->kind == B_OP || b->kind == B_STRATEGY || b->kind == B_OPTIMIZER
                                 || b->kind == B_CONST || b->kind == B_INIT)) {
            sema_error(s, d->node->span, "'%s' is a built-in name and cannot be redeclared", d->name);
            continue;
        }
        memset(vis, 0, sizeof vis);
        if (s->p->nmodules > 256)
            return;
        visible(s, d->module, vis);
        for (int j = 0; j < s->ndecls; j++) {
            Decl *e = &s->decls[j];
            if (j == i || strcmp(e->name, d->name) != 0 || !vis[module_index(s, e->module)])
                continue;
            if (e->module == d->module && j > i)
                continue; /* the later one in the same file is the duplicate */
            if (e->module != d->module && module_index(s, e->module) < module_index(s, d->module))
                continue; /* reported in the importing module */
            sema_error(s, d->node->span, "%s '%s' is already declared", sema_kind_word(k), d->name);
            sema_note(s, e->node->span, "previous declaration of '%s' is here", d->name);
            break;
        }
    }
}

/* Root declarations nothing refers to; stdlib and library modules are exempt. */
static void warn_unused(Sema *s)
{
    if (!s->is_program || s->d->errors)
        return; /* with errors, what looks unused may be what failed to check */
    for (int i = 0; i < s->ndecls; i++) {
        Decl *d = &s->decls[i];
        if (d->module != s->p->root || d->used)
            continue;
        if (d->node->kind == N_DATA) {
            const char *n = d->name;
            if (!strcmp(n, "test") || !strcmp(n, "valid") || !strcmp(n, "validation"))
                continue;
        }
        sema_warn(s, d->node->span, "%s '%s' is never used", sema_kind_word(d->node->kind), d->name);
    }
}

Sema *sema_check(Program *p, Diag *d)
{
    Sema *s = calloc(1, sizeof *s);
    if (!s) {
        fputs("exac: out of memory\n", stderr);
        exit(2);
    }
    s->p = p;
    s->d = d;
    s->budget = SEMA_BUDGET;
    s->train_data = -1;
    s->typed.train = (SemaTrain){ .epochs = 1, .batch = 32, .seed = 0, .data = -1, .validate = -1 };
    if (!p->root || !p->root->ast)
        return s;
    add_decls(s);
    check_duplicates(s);
    for (int k = 0; k < p->root->ast->list.len; k++) {
        NodeKind kind = p->root->ast->list.items[k]->kind;
        if (kind == N_DATA || kind == N_LOSS || kind == N_TRAIN)
            s->is_program = 1;
    }
    for (int i = 0; i < s->ndecls; i++)
        if (s->decls[i].node->kind == N_DATA)
            sema_check_data(s, &s->decls[i]);
    for (int i = 0; i < s->ndecls; i++)
        if (s->decls[i].node->kind == N_STRATEGY)
            sema_check_strategy_decl(s, &s->decls[i]);
    s->generic = 1;
    for (int i = 0; i < s->ndecls; i++) {
        NodeKind k = s->decls[i].node->kind;
        if (k == N_LAYER || k == N_FN || k == N_MODEL)
            sema_check_decl(s, &s->decls[i]);
    }
    s->generic = 0;
    sema_check_program(s);
    warn_unused(s);
    return s;
}

const SemaTyped *sema_typed(const Sema *s) { return &s->typed; }

void sema_free(Sema *s)
{
    if (!s)
        return;
    arena_free(&s->ar);
    free(s);
}
