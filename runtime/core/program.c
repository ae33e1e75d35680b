/* program.c - parsing the descriptor exac embeds in every executable.
 *
 * A small recursive-descent reader over one line at a time; every error names
 * the line and what was expected, because a mismatch here means the
 * executable and libexa disagree on the format (a version skew), which the
 * user must be able to see. */
#include "exa/program.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Reader {
    const char *s;    /* cursor */
    int line;
    char *err;
    int errlen;
    int failed;
} Reader;

static void fail(Reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = 1;
    int n = snprintf(r->err, r->errlen, "line %d: ", r->line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && n < r->errlen)
        vsnprintf(r->err + n, r->errlen - n, fmt, ap);
    va_end(ap);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fputs("exa: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

static void *grow(void *p, int n, size_t size)
{
    /* arrays grow one element at a time: descriptors are small */
    void *q = realloc(p, (size_t)(n + 1) * size);
    if (!q) {
        fputs("exa: out of memory\n", stderr);
        exit(1);
    }
    memset((char *)q + (size_t)n * size, 0, size);
    return q;
}

static void skip_blanks(Reader *r)
{
    while (*r->s == ' ' || *r->s == '\t')
        r->s++;
}

static int at_end_of_line(Reader *r)
{
    skip_blanks(r);
    return *r->s == '\n' || *r->s == '\0';
}

static int is_word_char(char c)
{
    /* '$': a formal's placeholder in a strategy's expansion */
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || c == '+' || c == '#' || c == '$';
}

/* A bare word: identifier or number. */
static char *word(Reader *r)
{
    skip_blanks(r);
    const char *start = r->s;
    while (is_word_char(*r->s))
        r->s++;
    if (r->s == start) {
        fail(r, "expected a word, found '%.10s'", start);
        return strdup("");
    }
    return strndup(start, r->s - start);
}

static char *quoted(Reader *r)
{
    skip_blanks(r);
    if (*r->s != '"') {
        fail(r, "expected a quoted string");
        return strdup("");
    }
    r->s++;
    size_t cap = 32, len = 0;
    char *out = xcalloc(cap, 1);
    while (*r->s && *r->s != '"' && *r->s != '\n') {
        char c = *r->s++;
        if (c == '\\' && *r->s) {
            c = *r->s++;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        if (len + 2 > cap)
            out = realloc(out, cap *= 2);
        out[len++] = c;
        out[len] = '\0';
    }
    if (*r->s != '"')
        fail(r, "unterminated string");
    else
        r->s++;
    return out;
}

static int64_t integer(Reader *r)
{
    char *w = word(r), *end;
    long long v = strtoll(w, &end, 10);
    if (*end || !*w)
        fail(r, "expected an integer, found '%s'", w);
    free(w);
    return v;
}

static double number(Reader *r)
{
    char *w = word(r), *end;
    double v = strtod(w, &end);
    if (*end || !*w)
        fail(r, "expected a number, found '%s'", w);
    free(w);
    return v;
}

static int expect_word(Reader *r, const char *want)
{
    char *w = word(r);
    int ok = strcmp(w, want) == 0;
    if (!ok)
        fail(r, "expected '%s', found '%s'", want, w);
    free(w);
    return ok;
}

static ExaCall *call(Reader *r, int depth);

static void value(Reader *r, ExaValue *v, int depth)
{
    skip_blanks(r);
    if (*r->s == '"') {
        v->kind = EXA_STR;
        v->str = quoted(r);
        return;
    }
    const char *save = r->s;
    char *w = word(r);
    if (*r->s == '(') {
        r->s = save;
        free(w);
        v->kind = EXA_CALL;
        v->call = call(r, depth + 1);
        return;
    }
    char *end;
    double d = strtod(w, &end);
    if (*w && !*end) {
        v->kind = EXA_NUM;
        v->num = d;
        free(w);
    } else {
        v->kind = EXA_IDENT;
        v->str = w;
    }
}

static ExaCall *call(Reader *r, int depth)
{
    ExaCall *c = xcalloc(1, sizeof *c);
    c->name = word(r);
    if (depth > 32) {
        fail(r, "call nested too deeply");
        return c;
    }
    if (*r->s != '(') {
        fail(r, "expected '(' after '%s'", c->name);
        return c;
    }
    r->s++;
    while (!r->failed && *r->s != ')') {
        c->keys = grow(c->keys, c->nargs, sizeof *c->keys);
        c->values = grow(c->values, c->nargs, sizeof *c->values);
        c->keys[c->nargs] = word(r);
        if (*r->s != '=') {
            fail(r, "expected '=' after argument name '%s'", c->keys[c->nargs]);
            c->nargs++;
            break;
        }
        r->s++;
        value(r, &c->values[c->nargs], depth);
        c->nargs++;
        if (*r->s == ',')
            r->s++;
        else if (*r->s != ')')
            fail(r, "expected ',' or ')' in call '%s'", c->name);
    }
    if (*r->s == ')')
        r->s++;
    return c;
}

static void free_call(ExaCall *c);

static void free_value(ExaValue *v)
{
    free(v->str);
    if (v->call)
        free_call(v->call);
}

static void free_call(ExaCall *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nargs; i++) {
        free(c->keys[i]);
        free_value(&c->values[i]);
    }
    free(c->keys);
    free(c->values);
    free(c->name);
    free(c);
}

static ExaShape shape(Reader *r)
{
    ExaShape s = { 0 };
    expect_word(r, "shape");
    int64_t rank = integer(r);
    if (rank < 0 || rank > EXA_MAX_RANK) {
        fail(r, "rank %lld out of range", (long long)rank);
        return s;
    }
    s.rank = (int)rank;
    for (int i = 0; i < s.rank; i++)
        s.dim[i] = integer(r);
    return s;
}

static ExaInit init_kind(Reader *r, const char *w)
{
    static const char *const names[] = { "glorot", "he", "zeros", "ones", "normal", "uniform" };
    for (int i = 0; i < 6; i++)
        if (strcmp(w, names[i]) == 0)
            return (ExaInit)i;
    fail(r, "unknown initialiser '%s'", w);
    return EXA_INIT_ZEROS;
}

static void param_line(Reader *r, ExaProgram *p)
{
    p->params = grow(p->params, p->nparams, sizeof *p->params);
    ExaParamInfo *q = &p->params[p->nparams++];
    q->path = quoted(r);
    expect_word(r, "offset");
    q->offset = integer(r);
    expect_word(r, "stage");
    q->stage = (int)integer(r);
    expect_word(r, "init");
    char *w = word(r);
    q->init = init_kind(r, w);
    free(w);
    if (q->init == EXA_INIT_NORMAL)
        q->init_a = number(r);
    if (q->init == EXA_INIT_UNIFORM) {
        q->init_a = number(r);
        q->init_b = number(r);
    }
    expect_word(r, "fan");
    q->fan_in = integer(r);
    q->fan_out = integer(r);
    q->shape = shape(r);
    q->size = 1;
    for (int i = 0; i < q->shape.rank; i++)
        q->size *= q->shape.dim[i];
    if (q->offset < 0 || q->offset + q->size > p->nweights)
        fail(r, "parameter '%s' lies outside the %lld weights", q->path, (long long)p->nweights);
}

static ExaDataInfo *find_data(ExaProgram *p, const char *name)
{
    for (int i = 0; i < p->ndata; i++)
        if (strcmp(p->data[i].name, name) == 0)
            return &p->data[i];
    return NULL;
}

static void data_line(Reader *r, ExaProgram *p)
{
    p->data = grow(p->data, p->ndata, sizeof *p->data);
    ExaDataInfo *d = &p->data[p->ndata++];
    d->name = quoted(r);
    expect_word(r, "role");
    char *role = word(r);
    d->role = strcmp(role, "train") == 0 ? EXA_ROLE_TRAIN
              : strcmp(role, "validate") == 0 ? EXA_ROLE_VALIDATE : EXA_ROLE_NONE;
    free(role);
    expect_word(r, "source");
    d->source = call(r, 0);
}

static void field_line(Reader *r, ExaProgram *p)
{
    char *set = quoted(r);
    ExaDataInfo *d = find_data(p, set);
    if (!d) {
        fail(r, "field of unknown data set '%s'", set);
        free(set);
        return;
    }
    free(set);
    d->fields = grow(d->fields, d->nfields, sizeof *d->fields);
    ExaFieldInfo *f = &d->fields[d->nfields++];
    f->name = quoted(r);
    char *kind = word(r);
    if (strcmp(kind, "class") == 0) {
        f->classes = (int)integer(r);
    } else if (strcmp(kind, "real") == 0) {
        f->shape = shape(r);
    } else {
        fail(r, "unknown field kind '%s'", kind);
    }
    free(kind);
}

static void settings_line(Reader *r, ExaProgram *p)
{
    while (!r->failed && !at_end_of_line(r)) {
        char *key = word(r);
        int64_t v = integer(r);
        if (strcmp(key, "epochs") == 0)
            p->epochs = v;
        else if (strcmp(key, "batch") == 0)
            p->batch = v;
        else if (strcmp(key, "seed") == 0)
            p->seed = v;
        else
            fail(r, "unknown train field '%s'", key);
        free(key);
    }
}

static void function_line(Reader *r, ExaProgram *p)
{
    p->functions = grow(p->functions, p->nfunctions, sizeof *p->functions);
    ExaFunctionInfo *f = &p->functions[p->nfunctions++];
    f->index = (int)integer(r);
    f->kind = word(r);
    f->id = r->failed ? -1 : exa_function_kind_of(f->kind);
    if (!r->failed && (int)f->id < 0)
        fail(r, "unknown function kind '%s'", f->kind);
    expect_word(r, "inputs");
    f->ninputs = (int)integer(r);
    expect_word(r, "outputs");
    f->noutputs = (int)integer(r);
    if (!r->failed && (f->noutputs < 0 || f->noutputs > exa_function_outputs(f->id)))
        fail(r, "function %s has %d outputs; this libexa knows %d", f->kind, f->noutputs,
             exa_function_outputs(f->id));
}

/* check SLOT batched|uniform SIZE OP "FILE" LINE COL "USER_FILE" LINE COL */
static void check_line(Reader *r, ExaProgram *p)
{
    p->checks = grow(p->checks, p->nchecks, sizeof *p->checks);
    ExaCheckInfo *c = &p->checks[p->nchecks++];
    c->slot = (int)integer(r);
    char *b = word(r);
    c->batched = strcmp(b, "batched") == 0;
    if (!c->batched && strcmp(b, "uniform") != 0)
        fail(r, "expected batched or uniform, found '%s'", b);
    free(b);
    c->size = integer(r);
    c->op = word(r);
    c->file = quoted(r);
    c->line = (int)integer(r);
    c->col = (int)integer(r);
    c->user_file = quoted(r);
    c->user_line = (int)integer(r);
    c->user_col = (int)integer(r);
}

/* layer dense "PATH" act relu|none: PATH/W and PATH/b must be params
 * already read, W of rank 2 and b of rank 1 matching its rows. */
static void layer_line(Reader *r, ExaProgram *p)
{
    char *kind = word(r);
    if (r->failed) {
        free(kind);
        return;
    }
    if (!strcmp(kind, "pool") || !strcmp(kind, "flatten")) {
        p->layers = grow(p->layers, p->nlayers, sizeof *p->layers);
        ExaChainLayer *l = &p->layers[p->nlayers++];
        l->w = l->b = -1;
        l->kind = kind[0] == 'p' ? EXA_LAYER_POOL : EXA_LAYER_FLATTEN;
        if (l->kind == EXA_LAYER_POOL) {
            expect_word(r, "window");
            l->window = (int)integer(r);
            expect_word(r, "stride");
            l->stride = (int)integer(r);
            if (!r->failed && (l->window < 1 || l->stride < 1))
                fail(r, "a pool layer needs a window and stride of at least 1");
        }
        free(kind);
        return;
    }
    int conv = !strcmp(kind, "conv");
    if (!conv && strcmp(kind, "dense") != 0)
        fail(r, "unknown layer kind '%s'", kind);
    free(kind);
    char *path = quoted(r);
    expect_word(r, "act");
    char *act = word(r);
    if (r->failed) {
        free(path);
        free(act);
        return;
    }
    p->layers = grow(p->layers, p->nlayers, sizeof *p->layers);
    ExaChainLayer *l = &p->layers[p->nlayers++];
    l->w = l->b = -1;
    l->bn_g = l->bn_b = l->bn_mean = l->bn_var = -1;
    l->relu = strcmp(act, "relu") == 0;
    l->kind = conv ? EXA_LAYER_CONV : EXA_LAYER_DENSE;
    if (!l->relu && strcmp(act, "none") != 0)
        fail(r, "unknown activation '%s' of layer \"%s\"", act, path);
    if (conv) {
        expect_word(r, "padding");
        l->padding = (int)integer(r);
    }
    char *bn = NULL;
    if (!at_end_of_line(r)) {
        char *k = word(r);
        if (!r->failed && !strcmp(k, "bn")) /* batch_norm2d(conv2d(...)), batch_norm(dense(...)): its params */
            bn = quoted(r);
        else if (!r->failed && strcmp(k, "dropout") != 0)
            fail(r, "expected 'dropout' or 'bn', found '%s'", k);
        else
            l->dropout = 1;
        free(k);
    }
    size_t n = strlen(path), nb = bn ? strlen(bn) : 0;
    for (int i = 0; bn && i < p->nparams; i++) {
        const char *q = p->params[i].path;
        if (strncmp(q, bn, nb) != 0 || q[nb] != '/')
            continue;
        int *slot = !strcmp(q + nb + 1, "g") ? &l->bn_g : !strcmp(q + nb + 1, "b") ? &l->bn_b
                  : !strcmp(q + nb + 1, "mean_r") ? &l->bn_mean : !strcmp(q + nb + 1, "var_r") ? &l->bn_var : NULL;
        if (slot)
            *slot = i;
    }
    if (bn && !r->failed && (l->bn_g < 0 || l->bn_b < 0 || l->bn_mean < 0 || l->bn_var < 0))
        fail(r, "layer \"%s\" needs params %s/g, b, mean_r and var_r", bn, bn);
    free(bn);
    if (!r->failed && !at_end_of_line(r)) {
        expect_word(r, "dropout");
        l->dropout = 1;
    }
    for (int i = 0; i < p->nparams; i++) {
        const char *q = p->params[i].path;
        if (strncmp(q, path, n) == 0 && q[n] == '/' && strcmp(q + n + 1, "W") == 0)
            l->w = i;
        if (strncmp(q, path, n) == 0 && q[n] == '/' && strcmp(q + n + 1, "b") == 0)
            l->b = i;
    }
    if (!r->failed && conv
        && (l->w < 0 || l->b < 0 || p->params[l->w].shape.rank != 4 || p->params[l->b].shape.rank != 3
            || p->params[l->b].shape.dim[0] != p->params[l->w].shape.dim[0] || l->padding < 0
            || p->params[l->w].shape.dim[2] != p->params[l->w].shape.dim[3]))
        fail(r, "layer \"%s\" needs params %s/W [o, c, k, k] and %s/b [o, 1, 1]", path, path, path);
    if (!r->failed && !conv && (l->w < 0 || l->b < 0 || p->params[l->w].shape.rank != 2
                       || p->params[l->b].shape.rank != 1
                       || p->params[l->b].shape.dim[0] != p->params[l->w].shape.dim[0]))
        fail(r, "layer \"%s\" needs params %s/W [m, n] and %s/b [m]", path, path, path);
    free(path);
    free(act);
}

static void fit_line(Reader *r, ExaProgram *p)
{
    char *w = word(r);
    if (strcmp(w, "model") == 0) {
        free(p->fit_model), free(p->fit_params_why), free(p->fit_mgrit_why);
        p->fit_model = quoted(r);
        expect_word(r, "params");
        p->fit_params_why = quoted(r);
        expect_word(r, "mgrit");
        p->fit_mgrit_why = quoted(r);
    } else if (strcmp(w, "list") == 0) {
        free(p->fit_list);
        p->fit_list = quoted(r);
    } else {
        fail(r, "unknown fit record '%s'", w);
    }
    free(w);
}

static void strategy_line(Reader *r, ExaProgram *p)
{
    p->strategies = grow(p->strategies, p->nstrategies, sizeof *p->strategies);
    ExaStrategyDecl *d = &p->strategies[p->nstrategies++];
    d->name = word(r);
    expect_word(r, "split");
    char *w = word(r);
    d->params = strcmp(w, "params") == 0;
    free(w);
    expect_word(r, "formals");
    int64_t n = integer(r);
    if (n < 0 || n > 64) {
        fail(r, "%lld formals", (long long)n);
        return;
    }
    d->formal = xcalloc((size_t)n, sizeof *d->formal);
    d->is_int = xcalloc((size_t)n, sizeof *d->is_int);
    d->has_default = xcalloc((size_t)n, sizeof *d->has_default);
    d->def = xcalloc((size_t)n, sizeof *d->def);
    for (d->nformals = 0; d->nformals < n && !r->failed; d->nformals++) {
        int k = d->nformals;
        d->formal[k] = word(r);
        char *type = word(r);
        d->is_int[k] = strcmp(type, "int") == 0;
        free(type);
        char *v = word(r);
        d->has_default[k] = strcmp(v, "none") != 0;
        if (d->has_default[k])
            d->def[k] = strtod(v, NULL);
        free(v);
    }
    expect_word(r, "expand");
    if (!r->failed)
        d->expand = call(r, 0);
}

static void record(Reader *r, ExaProgram *p, const char *kind)
{
    if (strcmp(kind, "source") == 0) {
        p->source = quoted(r);
    } else if (strcmp(kind, "precision") == 0) {
        char *w = word(r);
        p->precision = strcmp(w, "f32") == 0 ? 4 : strcmp(w, "f64") == 0 ? 8 : 0;
        if (!p->precision)
            fail(r, "unknown precision '%s'", w);
        free(w);
    } else if (strcmp(kind, "weights") == 0) {
        p->nweights = integer(r);
    } else if (strcmp(kind, "param") == 0) {
        param_line(r, p);
    } else if (strcmp(kind, "layer") == 0) {
        layer_line(r, p);
    } else if (strcmp(kind, "stages") == 0) {
        p->nstages = (int)integer(r);
    } else if (strcmp(kind, "data") == 0) {
        data_line(r, p);
    } else if (strcmp(kind, "field") == 0) {
        field_line(r, p);
    } else if (strcmp(kind, "train") == 0) {
        settings_line(r, p);
    } else if (strcmp(kind, "setting") == 0) {
        p->settings = grow(p->settings, p->nsettings, sizeof *p->settings);
        ExaSetting *s = &p->settings[p->nsettings++];
        s->key = word(r);
        value(r, &s->value, 0);
    } else if (strcmp(kind, "optimizer") == 0) {
        free_call(p->optimizer);
        p->optimizer = call(r, 0);
    } else if (strcmp(kind, "decompose") == 0) {
        free_call(p->decompose);
        p->decompose = call(r, 0);
    } else if (strcmp(kind, "function") == 0) {
        function_line(r, p);
    } else if (strcmp(kind, "check") == 0) {
        check_line(r, p);
    } else if (strcmp(kind, "dropout") == 0) {
        p->dropout = grow(p->dropout, p->ndropout, sizeof *p->dropout);
        ExaDropoutSite *d = &p->dropout[p->ndropout++];
        expect_word(r, "offset");
        d->offset = integer(r);
        expect_word(r, "size");
        d->size = integer(r);
        expect_word(r, "p");
        d->p = number(r);
        if (!r->failed && (d->offset < 0 || d->size < 1 || !(d->p >= 0 && d->p < 1)))
            fail(r, "bad dropout site%s", "");
        if (!r->failed && d->offset + d->size > p->dropout_size)
            p->dropout_size = d->offset + d->size;
    } else if (strcmp(kind, "batchstat") == 0) {
        p->batchstats = grow(p->batchstats, p->nbatchstats, sizeof *p->batchstats);
        ExaBatchStat *b = &p->batchstats[p->nbatchstats++];
        expect_word(r, "offset");
        b->offset = integer(r);
        expect_word(r, "size");
        b->size = integer(r);
        expect_word(r, "momentum");
        b->momentum = number(r);
        if (!r->failed && (b->offset < 0 || b->size < 1 || b->offset + b->size > p->nweights
                           || !(b->momentum > 0 && b->momentum <= 1)))
            fail(r, "bad batch statistic%s", "");
    } else if (strcmp(kind, "fit") == 0) {
        fit_line(r, p);
    } else if (strcmp(kind, "strategy") == 0) {
        strategy_line(r, p);
    } else if (strcmp(kind, "solver") == 0) {
        p->solver = grow(p->solver, p->nsolvers, sizeof *p->solver);
        p->solver_args = grow(p->solver_args, p->nsolvers, sizeof *p->solver_args);
        p->solver[p->nsolvers] = word(r);
        p->solver_args[p->nsolvers++] = quoted(r);
    } else if (strcmp(kind, "predict") == 0) {
        expect_word(r, "output");
        p->predict_shape = shape(r);
    } else if (strcmp(kind, "metric") == 0) {
        expect_word(r, "accuracy");
        expect_word(r, "output");
        p->accuracy_output = (int)integer(r);
        expect_word(r, "label");
        p->accuracy_label = (int)integer(r);
    } else {
        fail(r, "unknown record '%s'", kind);
    }
}

int exa_program_parse(const char *text, ExaProgram *p, char *err, int errlen)
{
    memset(p, 0, sizeof *p);
    p->accuracy_output = p->accuracy_label = -1;
    p->predict_shape.rank = -1;
    p->epochs = p->batch = 1;
    Reader r = { .s = text, .line = 1, .err = err, .errlen = errlen };
    int ended = 0;
    if (!expect_word(&r, "exa-program"))
        return -1;
    p->version = (int)integer(&r);
    if (!r.failed && p->version != 1)
        fail(&r, "descriptor version %d; this libexa reads version 1", p->version);
    /* exa-program 1 abi N: the ABI exac compiled for (none: before ABI 2) */
    p->abi = 1;
    if (!r.failed && !at_end_of_line(&r) && expect_word(&r, "abi"))
        p->abi = (int)integer(&r);
    if (!r.failed && p->abi != EXA_ABI_VERSION) {
        snprintf(err, (size_t)errlen, "compiled for libexa ABI %d, but this libexa has ABI %d: "
                 "recompile the program with the exac of this libexa", p->abi, EXA_ABI_VERSION);
        return EXA_PROGRAM_ABI_MISMATCH;
    }
    while (!r.failed && !ended) {
        if (!at_end_of_line(&r))
            fail(&r, "unexpected '%.10s' at the end of a record", r.s);
        if (*r.s == '\0')
            break;
        r.s++;
        r.line++;
        if (at_end_of_line(&r))
            continue;
        char *kind = word(&r);
        ended = strcmp(kind, "end") == 0;
        if (!ended)
            record(&r, p, kind);
        free(kind);
    }
    if (!r.failed && !ended)
        fail(&r, "the descriptor has no 'end': truncated");
    if (!r.failed && !p->optimizer)
        fail(&r, "no optimizer");
    if (!r.failed && !p->precision)
        fail(&r, "no precision");
    if (r.failed) {
        exa_program_free(p);
        return -1;
    }
    return 0;
}

void exa_program_free(ExaProgram *p)
{
    free(p->source);
    for (int i = 0; i < p->nparams; i++)
        free(p->params[i].path);
    free(p->params);
    free(p->layers);
    for (int i = 0; i < p->ndata; i++) {
        free(p->data[i].name);
        free_call(p->data[i].source);
        for (int k = 0; k < p->data[i].nfields; k++)
            free(p->data[i].fields[k].name);
        free(p->data[i].fields);
    }
    free(p->data);
    for (int i = 0; i < p->nsettings; i++) {
        free(p->settings[i].key);
        free_value(&p->settings[i].value);
    }
    free(p->settings);
    free_call(p->optimizer);
    free_call(p->decompose);
    for (int i = 0; i < p->nfunctions; i++)
        free(p->functions[i].kind);
    free(p->functions);
    for (int i = 0; i < p->nchecks; i++) {
        free(p->checks[i].op);
        free(p->checks[i].file);
        free(p->checks[i].user_file);
    }
    free(p->checks);
    free(p->dropout);
    free(p->batchstats);
    free(p->fit_model), free(p->fit_params_why), free(p->fit_mgrit_why), free(p->fit_list);
    for (int i = 0; i < p->nstrategies; i++) {
        ExaStrategyDecl *d = &p->strategies[i];
        for (int k = 0; k < d->nformals; k++)
            free(d->formal[k]);
        free(d->name), free(d->formal), free(d->is_int), free(d->has_default), free(d->def);
        free_call(d->expand);
    }
    free(p->strategies);
    for (int i = 0; i < p->nsolvers; i++)
        free(p->solver[i]), free(p->solver_args[i]);
    free(p->solver), free(p->solver_args);
    memset(p, 0, sizeof *p);
}

const ExaDataInfo *exa_program_data(const ExaProgram *p, ExaRole role)
{
    for (int i = 0; i < p->ndata; i++)
        if (p->data[i].role == role)
            return &p->data[i];
    return NULL;
}

const ExaFunctionInfo *exa_program_function_of(const ExaProgram *p, ExaFunctionKind kind)
{
    for (int i = 0; i < p->nfunctions; i++)
        if (p->functions[i].id == kind)
            return &p->functions[i];
    return NULL;
}

const ExaFunctionInfo *exa_program_function(const ExaProgram *p, const char *kind)
{
    int k = exa_function_kind_of(kind);
    return k < 0 ? NULL : exa_program_function_of(p, (ExaFunctionKind)k);
}

const ExaSetting *exa_program_setting(const ExaProgram *p, const char *key)
{
    for (int i = 0; i < p->nsettings; i++)
        if (strcmp(p->settings[i].key, key) == 0)
            return &p->settings[i];
    return NULL;
}

const ExaValue *exa_call_arg(const ExaCall *c, const char *key)
{
    for (int i = 0; c && i < c->nargs; i++)
        if (strcmp(c->keys[i], key) == 0)
            return &c->values[i];
    return NULL;
}

double exa_call_num(const ExaCall *c, const char *key, double fallback)
{
    const ExaValue *v = exa_call_arg(c, key);
    return v && v->kind == EXA_NUM ? v->num : fallback;
}

const char *exa_call_ident(const ExaCall *c, const char *key, const char *fallback)
{
    const ExaValue *v = exa_call_arg(c, key);
    return v && (v->kind == EXA_IDENT || v->kind == EXA_STR) ? v->str : fallback;
}

static int print_call(const ExaCall *c, char *buf, int len)
{
    int n = snprintf(buf, len > 0 ? len : 0, "%s(", c->name);
    for (int i = 0; i < c->nargs; i++) {
        const ExaValue *v = &c->values[i];
        char *at = buf + (n < len ? n : len);
        int room = len - n > 0 ? len - n : 0;
        /* positional arguments (keys _0, _1, ...) print without their key */
        if (c->keys[i][0] == '_')
            n += snprintf(at, room, "%s", i ? ", " : "");
        else
            n += snprintf(at, room, "%s%s: ", i ? ", " : "", c->keys[i]);
        at = buf + (n < len ? n : len);
        room = len - n > 0 ? len - n : 0;
        if (v->kind == EXA_NUM)
            n += snprintf(at, room, "%g", v->num);
        else if (v->kind == EXA_STR)
            n += snprintf(at, room, "\"%s\"", v->str);
        else if (v->kind == EXA_IDENT)
            n += snprintf(at, room, "%s", v->str);
        else
            n += print_call(v->call, at, room);
    }
    char *at = buf + (n < len ? n : len);
    n += snprintf(at, len - n > 0 ? len - n : 0, ")");
    return n;
}

void exa_call_print(const ExaCall *c, char *buf, int len)
{
    if (len > 0)
        buf[0] = '\0';
    if (c)
        print_call(c, buf, len);
}

void exa_call_free(ExaCall *c)
{
    free_call(c);
}

ExaCall *exa_call_copy(const ExaCall *c)
{
    if (!c)
        return NULL;
    ExaCall *d = xcalloc(1, sizeof *d);
    d->name = strdup(c->name);
    d->nargs = c->nargs;
    d->keys = xcalloc((size_t)c->nargs, sizeof *d->keys);
    d->values = xcalloc((size_t)c->nargs, sizeof *d->values);
    for (int i = 0; i < c->nargs; i++) {
        d->keys[i] = strdup(c->keys[i]);
        d->values[i] = c->values[i];
        d->values[i].str = c->values[i].str ? strdup(c->values[i].str) : NULL;
        d->values[i].call = exa_call_copy(c->values[i].call);
    }
    return d;
}

/* ---- .exa call syntax (--decompose) ---- */

typedef struct ExaSyntax {
    const char *s, *start;
    char *err;
    int errlen;
    int failed;
} ExaSyntax;

static void syntax_fail(ExaSyntax *x, const char *what)
{
    if (!x->failed)
        snprintf(x->err, (size_t)x->errlen, "%s at column %d", what, (int)(x->s - x->start) + 1);
    x->failed = 1;
}

static void syntax_blanks(ExaSyntax *x)
{
    while (*x->s == ' ' || *x->s == '\t')
        x->s++;
}

static char *syntax_name(ExaSyntax *x)
{
    syntax_blanks(x);
    const char *b = x->s;
    if (isalpha((unsigned char)*x->s) || *x->s == '_')
        while (isalnum((unsigned char)*x->s) || *x->s == '_')
            x->s++;
    if (x->s == b) {
        syntax_fail(x, "expected a name");
        return strdup("");
    }
    return strndup(b, (size_t)(x->s - b));
}

static ExaCall *syntax_call(ExaSyntax *x, char *name, int depth);

static void syntax_value(ExaSyntax *x, ExaValue *v, int depth)
{
    syntax_blanks(x);
    if (*x->s == '"') {
        const char *b = ++x->s;
        while (*x->s && *x->s != '"')
            x->s++;
        if (*x->s != '"') {
            syntax_fail(x, "unterminated string");
            return;
        }
        v->kind = EXA_STR;
        v->str = strndup(b, (size_t)(x->s++ - b));
        return;
    }
    if (*x->s == '[') { /* [a, b, ...]: list(_0=a,_1=b,...) as the descriptor writes it (grid shapes) */
        if (depth > 16) {
            syntax_fail(x, "lists nested too deeply");
            return;
        }
        x->s++;
        ExaCall *c = xcalloc(1, sizeof *c);
        c->name = strdup("list");
        v->kind = EXA_CALL;
        v->call = c;
        syntax_blanks(x);
        while (!x->failed && *x->s != ']') {
            char k[16];
            snprintf(k, sizeof k, "_%d", c->nargs);
            c->keys = grow(c->keys, c->nargs, sizeof *c->keys);
            c->values = grow(c->values, c->nargs, sizeof *c->values);
            c->keys[c->nargs] = strdup(k);
            memset(&c->values[c->nargs], 0, sizeof c->values[c->nargs]);
            syntax_value(x, &c->values[c->nargs++], depth + 1);
            syntax_blanks(x);
            if (*x->s == ',')
                x->s++, syntax_blanks(x);
            else if (*x->s != ']')
                syntax_fail(x, "expected ',' or ']'");
        }
        if (*x->s == ']')
            x->s++;
        return;
    }
    if (isdigit((unsigned char)*x->s) || *x->s == '-' || *x->s == '.') {
        char *end;
        v->kind = EXA_NUM;
        v->num = strtod(x->s, &end);
        if (end == x->s || isalpha((unsigned char)*end))
            syntax_fail(x, "expected a number");
        x->s = end;
        return;
    }
    char *name = syntax_name(x);
    syntax_blanks(x);
    if (*x->s == '(') {
        v->kind = EXA_CALL;
        v->call = syntax_call(x, name, depth + 1);
    } else {
        v->kind = EXA_IDENT;
        v->str = name;
    }
}

static ExaCall *syntax_call(ExaSyntax *x, char *name, int depth)
{
    ExaCall *c = xcalloc(1, sizeof *c);
    c->name = name;
    syntax_blanks(x);
    if (depth > 16) {
        syntax_fail(x, "calls nested too deeply");
        return c;
    }
    if (*x->s != '(') {
        syntax_fail(x, "expected '('");
        return c;
    }
    x->s++;
    syntax_blanks(x);
    int positional = 0;
    while (!x->failed && *x->s != ')') {
        c->keys = grow(c->keys, c->nargs, sizeof *c->keys);
        c->values = grow(c->values, c->nargs, sizeof *c->values);
        /* NAME: VALUE, or a VALUE */
        const char *save = x->s;
        char *key = NULL;
        if (isalpha((unsigned char)*x->s) || *x->s == '_') {
            key = syntax_name(x);
            syntax_blanks(x);
            if (*x->s == ':') {
                x->s++;
            } else {
                free(key);
                key = NULL;
                x->s = save;
            }
        }
        if (!key) {
            char k[16];
            snprintf(k, sizeof k, "_%d", positional++);
            key = strdup(k);
        }
        c->keys[c->nargs] = key;
        syntax_value(x, &c->values[c->nargs], depth);
        c->nargs++;
        syntax_blanks(x);
        if (*x->s == ',')
            x->s++, syntax_blanks(x);
        else if (*x->s != ')')
            syntax_fail(x, "expected ',' or ')'");
    }
    if (*x->s == ')')
        x->s++;
    return c;
}

ExaCall *exa_call_parse_exa(const char *text, char *err, int errlen)
{
    ExaSyntax x = { .s = text, .start = text, .err = err, .errlen = errlen };
    char *name = syntax_name(&x);
    ExaCall *c = NULL;
    syntax_blanks(&x);
    if (!x.failed && !*x.s) { /* a declared strategy by its name alone: sapts */
        c = xcalloc(1, sizeof *c);
        c->name = name;
    } else if (!x.failed) {
        c = syntax_call(&x, name, 0);
    } else {
        free(name);
    }
    syntax_blanks(&x);
    if (!x.failed && *x.s)
        syntax_fail(&x, "unexpected text after the call");
    if (x.failed) {
        free_call(c);
        return NULL;
    }
    return c;
}
