/* sema_shape.c - dimensions, shapes and values of the checker.
 *
 * A dimension is a known integer, a generic name still unbound (the generic
 * pass checks a layer once for every n), or unknown (an expression over
 * generic names, or something already diagnosed).  Only two known dims that
 * differ are a mismatch: symbolic dims are checked again, concretely, when the
 * instantiation pass binds them.  Arithmetic on dims is checked for overflow
 * because a shape like [65536 * 65536] must be an error, not a wrap. */
#include <stdio.h>
#include <string.h>

#include "sema_internal.h"

const char sema_unknown_dim[] = "?";

Dim dim_const(int64_t v) { return (Dim){ .v = v, .sym = NULL }; }
Dim dim_unknown(void) { return (Dim){ .v = 0, .sym = sema_unknown_dim }; }
int dim_known(Dim a) { return a.sym == NULL; }

int dim_compatible(Dim a, Dim b)
{
    if (dim_known(a) && dim_known(b))
        return a.v == b.v;
    return 1; /* symbols may be bound to anything at instantiation */
}

int64_t sema_add(int64_t a, int64_t b, int *overflow)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        *overflow = 1;
        return 0;
    }
    return r;
}

int64_t sema_mul(int64_t a, int64_t b, int *overflow)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *overflow = 1;
        return 0;
    }
    return r;
}

int shape_known(const Shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (!dim_known(s->d[i]))
            return 0;
    return 1;
}

int shape_compatible(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (!dim_compatible(a->d[i], b->d[i]))
            return 0;
    return 1;
}

int64_t shape_count(const Shape *s)
{
    int64_t n = 1;
    int ovf = 0;
    for (int i = 0; i < s->rank; i++) {
        if (!dim_known(s->d[i]))
            return -1;
        n = sema_mul(n, s->d[i].v, &ovf);
        if (ovf || n > SEMA_MAX_ELEMS)
            return -1;
    }
    return n;
}

static void dim_str(Dim d, char *buf, size_t n)
{
    if (dim_known(d))
        snprintf(buf, n, "%lld", (long long)d.v);
    else
        snprintf(buf, n, "%s", d.sym);
}

const char *shape_str(const Shape *s, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < s->rank && len < n; i++) {
        char d[64];
        dim_str(s->d[i], d, sizeof d);
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", d);
    }
    if (len < n)
        snprintf(buf + len, n - len, "]");
    return buf;
}

void shape_to_typed(const Shape *s, SemaShape *out)
{
    memset(out, 0, sizeof *out);
    out->rank = s->rank;
    for (int i = 0; i < s->rank; i++)
        out->dim[i] = dim_known(s->d[i]) ? s->d[i].v : -1;
}

const char *typed_shape_str(const SemaShape *s, char *buf, size_t n)
{
    Shape t = { .rank = s->rank };
    for (int i = 0; i < s->rank; i++)
        t.d[i] = dim_const(s->dim[i]);
    return shape_str(&t, buf, n);
}

/* Aligned at the right; each pair equal or one of them 1. */
int shape_broadcast(const Shape *a, const Shape *b, Shape *out)
{
    const Shape *lo = a->rank >= b->rank ? a : b, *sh = a->rank >= b->rank ? b : a;
    *out = *lo;
    int off = lo->rank - sh->rank;
    for (int i = 0; i < sh->rank; i++) {
        Dim x = lo->d[off + i], y = sh->d[i];
        if (dim_known(x) && dim_known(y)) {
            if (x.v == y.v || y.v == 1)
                continue;
            if (x.v == 1) {
                out->d[off + i] = y;
                continue;
            }
            return -1;
        }
        if (dim_known(x) && x.v == 1)
            out->d[off + i] = y;
        else if (!dim_known(x) && !dim_known(y) && x.sym != y.sym)
            out->d[off + i] = x.sym == sema_unknown_dim ? y : x;
    }
    return 0;
}

Val val_err(void) { return (Val){ .kind = V_ERR }; }

Val val_tensor(const Shape *s)
{
    Val v = { .kind = V_TENSOR };
    v.sh = *s;
    return v;
}

Val val_int(Dim d)
{
    Val v = { .kind = V_INT };
    v.i = d;
    return v;
}

Val val_num(double x, int known)
{
    Val v = { .kind = V_NUM };
    v.num = x;
    v.num_known = known;
    return v;
}

int val_shape(const Val *v, Shape *out)
{
    memset(out, 0, sizeof *out);
    switch (v->kind) {
    case V_TENSOR: *out = v->sh; return 1;
    case V_INT: case V_NUM: return 1;
    default: return 0;
    }
}

const char *val_str(const Val *v, char *buf, size_t n)
{
    char d[64];
    switch (v->kind) {
    case V_TENSOR: return shape_str(&v->sh, buf, n);
    case V_INT: case V_NUM: snprintf(buf, n, "[]"); return buf;
    case V_CLASS: dim_str(v->i, d, sizeof d); snprintf(buf, n, "class(%s)", d); return buf;
    case V_STRING: snprintf(buf, n, "a string"); return buf;
    case V_LIST: snprintf(buf, n, "a list"); return buf;
    case V_WORD: snprintf(buf, n, "'%s'", v->str); return buf;
    default: snprintf(buf, n, "?"); return buf;
    }
}
