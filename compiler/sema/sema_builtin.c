/* sema_builtin.c - the built-in operations' argument and shape rules.
 *
 * Arity and named arguments come from builtins.def (through the table in
 * sema.c); the shape rule of each operation is here, one case per name.
 * Images are [channels, height, width] and convolution kernels
 * [out, in, kh, kw], as in docs/language.md. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fold.h"
#include "sema_internal.h"

enum { MAX_ARGS = 16 };

/* Splits e's arguments into positional and named ones and checks them
 * against bi: arity, known and unique names, no positional after a named
 * one.  Returns 0 when something was wrong (already reported). */
int sema_builtin_args(Sema *s, const Node *e, const Builtin *bi, const Node **pos, int *npos,
                      const Node **named, int *nnamed)
{
    int ok = 1, seen_named = 0;
    *npos = *nnamed = 0;
    if (e->list.len > MAX_ARGS) {
        sema_error(s, e->span, "too many arguments in call of '%s'", bi->name);
        return 0;
    }
    for (int i = 0; i < e->list.len; i++) {
        const Node *a = e->list.items[i];
        if (a->kind != N_NAMED_ARG) {
            if (seen_named) {
                sema_error(s, a->span, "positional argument after named arguments in call of '%s'", bi->name);
                ok = 0;
            }
            pos[(*npos)++] = a;
            continue;
        }
        seen_named = 1;
        if (!sema_named_ok(bi->named, a->name)) {
            sema_error(s, a->span, "'%s' has no argument named '%s'", bi->name, a->name);
            if (*bi->named)
                sema_note_plain(s, "'%s' accepts: %s", bi->name, bi->named);
            else
                sema_note_plain(s, "'%s' accepts no named arguments", bi->name);
            ok = 0;
            continue;
        }
        for (int k = 0; k < *nnamed; k++) {
            if (strcmp(named[k]->name, a->name) == 0) {
                sema_error(s, a->span, "argument '%s' is given twice", a->name);
                sema_note(s, named[k]->span, "first given here");
                ok = 0;
            }
        }
        named[(*nnamed)++] = a;
    }
    int min = bi->min, max = bi->max;
    /* an initialiser's named arguments stand for its positional ones: normal(std: 0.1) */
    int n = bi->kind == B_INIT ? *npos + *nnamed : *npos;
    if (n < min || (max >= 0 && n > max)) {
        if (min == max)
            sema_error(s, e->span, "'%s' takes %d argument%s but %d %s given", bi->name, min,
                       min == 1 ? "" : "s", n, n == 1 ? "was" : "were");
        else if (max < 0)
            sema_error(s, e->span, "'%s' takes at least %d arguments but %d %s given", bi->name, min, n,
                       n == 1 ? "was" : "were");
        else
            sema_error(s, e->span, "'%s' takes %d to %d arguments but %d %s given", bi->name, min, max, n,
                       n == 1 ? "was" : "were");
        ok = 0;
    }
    return ok;
}

static const Node *find_named(const Node **named, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(named[i]->name, name) == 0)
            return named[i]->a;
    return NULL;
}

/* An integer argument such as axis, stride or a pool size; def if absent. */
static int int_arg(Body *b, const Node *e, const char *what, int64_t min, Dim *out)
{
    Val v = sema_expr(b, e);
    if (v.kind == V_ERR)
        return 0;
    if (v.kind != V_INT || v.ranged) {
        sema_error(b->s, e->span, "%s must be a compile-time integer", what);
        return 0;
    }
    if (dim_known(v.i) && v.i.v < min) {
        sema_error(b->s, e->span, "%s must be at least %lld, not %lld", what, (long long)min, (long long)v.i.v);
        return 0;
    }
    *out = v.i;
    return 1;
}

/* v, the value of argument e of op, as a tensor: numbers are scalars. */
static Val tensor_val(Body *b, const Node *e, Val v, const char *op)
{
    if (v.kind == V_ERR || v.kind == V_TENSOR)
        return v;
    if (v.kind == V_INT || v.kind == V_NUM) {
        Shape sc = {0};
        return val_tensor(&sc);
    }
    char buf[64];
    sema_error(b->s, e->span, "argument of '%s' must be a tensor, not %s", op,
               v.kind == V_CLASS ? "a class label" : val_str(&v, buf, sizeof buf));
    return val_err();
}

static Val tensor_arg(Body *b, const Node *e, const char *op)
{
    return tensor_val(b, e, sema_expr(b, e), op);
}

/* floor((n + 2p - k) / s) + 1, or unknown; 0 when the kernel does not fit. */
static Dim window(Dim n, Dim k, Dim st, Dim pad, int *fits)
{
    if (!dim_known(n) || !dim_known(k) || !dim_known(st) || !dim_known(pad))
        return dim_unknown();
    int64_t span = n.v + 2 * pad.v - k.v;
    if (span < 0) {
        *fits = 0;
        return dim_unknown();
    }
    return dim_const(span / st.v + 1);
}

static Val image_op(Body *b, const Node *e, const Node **pos, const Node **named, int nnamed, int is_conv)
{
    char s1[128], s2[128];
    Val x = tensor_arg(b, pos[0], e->name);
    Dim k1, k2, c = dim_unknown(), out = dim_unknown();
    Dim st = dim_const(1), pad = dim_const(0);
    if (is_conv) {
        Val w = tensor_arg(b, pos[1], e->name);
        if (x.kind == V_ERR || w.kind == V_ERR)
            return val_err();
        if (w.sh.rank != 4) {
            sema_error(b->s, pos[1]->span, "conv needs a kernel [out, in, kh, kw], but %s is %s",
                       sema_describe(b, pos[1], "the kernel"), shape_str(&w.sh, s1, sizeof s1));
            return val_err();
        }
        out = w.sh.d[0], c = w.sh.d[1], k1 = w.sh.d[2], k2 = w.sh.d[3];
    } else {
        if (!int_arg(b, pos[1], "the pool size", 1, &k1) || x.kind == V_ERR)
            return val_err();
        k2 = k1;
        st = k1;
    }
    if (x.sh.rank != 3) {
        sema_error(b->s, pos[0]->span, "%s needs an image [channels, height, width], but %s is %s", e->name,
                   sema_describe(b, pos[0], "its input"), shape_str(&x.sh, s1, sizeof s1));
        return val_err();
    }
    if (is_conv && !dim_compatible(x.sh.d[0], c)) {
        sema_error(b->s, e->span, "conv channels mismatch: %s is %s but the kernel %s expects %lld channels",
                   sema_describe(b, pos[0], "the input"), shape_str(&x.sh, s1, sizeof s1),
                   sema_describe(b, pos[1], ""), (long long)c.v);
        return val_err();
    }
    const Node *sn = find_named(named, nnamed, "stride"), *pn = find_named(named, nnamed, "padding");
    if (sn && !int_arg(b, sn, "stride", 1, &st))
        return val_err();
    if (pn && !int_arg(b, pn, "padding", 0, &pad))
        return val_err();
    int fits = 1;
    Shape r = { .rank = 3 };
    r.d[0] = is_conv ? out : x.sh.d[0];
    r.d[1] = window(x.sh.d[1], k1, st, pad, &fits);
    r.d[2] = window(x.sh.d[2], k2, st, pad, &fits);
    if (!fits) {
        Shape k = { .rank = 2, .d = { k1, k2 } };
        sema_error(b->s, e->span, "%s window %s does not fit the image %s%s", e->name, shape_str(&k, s2, sizeof s2),
                   shape_str(&x.sh, s1, sizeof s1),
                   dim_known(pad) && pad.v ? sema_fmt(b->s, " with padding %lld", (long long)pad.v) : "");
        return val_err();
    }
    return val_tensor(&r);
}

static Val reduce(Body *b, const Node *e, const Node *arg, const Node *axis_e)
{
    Val x = tensor_arg(b, arg, e->name);
    if (x.kind == V_ERR)
        return x;
    Shape r = {0};
    if (!axis_e)
        return val_tensor(&r);
    Dim ax;
    if (!int_arg(b, axis_e, "axis", 0, &ax))
        return val_err();
    if (!dim_known(ax))
        return val_tensor(&r);
    if (ax.v >= x.sh.rank) {
        char s1[128];
        sema_error(b->s, axis_e->span, "axis %lld is out of range: %s is %s", (long long)ax.v,
                   sema_describe(b, arg, "the operand"), shape_str(&x.sh, s1, sizeof s1));
        return val_err();
    }
    for (int i = 0; i < x.sh.rank; i++)
        if (i != ax.v)
            r.d[r.rank++] = x.sh.d[i];
    return val_tensor(&r);
}

static int list_shape(Body *b, const Node *e, Shape *out)
{
    Val v = sema_expr(b, e);
    if (v.kind == V_ERR)
        return 0;
    if (v.kind != V_LIST) {
        sema_error(b->s, e->span, "expected a shape written as a list, like [4, 8]");
        return 0;
    }
    if (v.nitems > SEMA_MAX_RANK) {
        sema_error(b->s, e->span, "a tensor has at most %d dimensions", SEMA_MAX_RANK);
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->rank = v.nitems;
    for (int i = 0; i < v.nitems; i++) {
        if (dim_known(v.items[i]) && (v.items[i].v <= 0 || v.items[i].v > SEMA_MAX_DIM)) {
            sema_error(b->s, e->list.items[i]->span, "a dimension must be between 1 and %d, this one is %lld",
                       SEMA_MAX_DIM, (long long)v.items[i].v);
            return 0;
        }
        out->d[i] = v.items[i];
    }
    if (shape_known(out) && shape_count(out) < 0) {
        sema_error(b->s, e->span, "this shape has too many elements");
        return 0;
    }
    return 1;
}

/* d(f, p[i]): f a call of a model with a scalar output, p[i] a component of
 * the tensor that call passes it.  Only in the loss. */
static Val derivative(Body *b, const Node *e, const Node **pos)
{
    Sema *s = b->s;
    if (!b->in_loss || b->decl) {
        sema_error(s, e->span, "'%s' can only be used in the loss", e->name);
        return val_err();
    }
    s->loss_uses_d = 1;
    const Node *f = pos[0], *x = pos[1];
    Decl *m = f->kind == N_CALL ? sema_lookup(s, b->mod, f->name) : NULL;
    if (!m || m->node->kind != N_MODEL) {
        sema_error(s, f->span, "the first argument of '%s' must be a call of a model, like 'u(p)'", e->name);
        return val_err();
    }
    Val fv = sema_expr(b, f);
    if (fv.kind == V_ERR)
        return fv;
    if (fv.kind != V_TENSOR || fv.sh.rank > 1 || (fv.sh.rank == 1 && dim_known(fv.sh.d[0]) && fv.sh.d[0].v != 1)) {
        char s1[128];
        sema_error(s, f->span, "'%s' needs a scalar model output ([] or [1]), but '%s' returns %s", e->name,
                   f->name, val_str(&fv, s1, sizeof s1));
        return val_err();
    }
    int ok = x->kind == N_INDEX && x->a->kind == N_NAME && x->list.len == 1 && x->list.items[0]->kind != N_SLICE;
    if (ok) {
        ok = 0;
        for (int i = 0; i < f->list.len; i++) {
            const Node *a = f->list.items[i];
            if (a->kind == N_NAMED_ARG)
                a = a->a;
            if (a->kind == N_NAME && strcmp(a->name, x->a->name) == 0)
                ok = 1;
        }
    }
    if (!ok) {
        sema_error(s, x->span, "the second argument of '%s' must be a component of the input of '%s', like 'p[0]'",
                   e->name, f->name);
        return val_err();
    }
    Val xv = sema_expr(b, x);
    if (xv.kind == V_ERR)
        return xv;
    if (xv.kind != V_TENSOR || xv.sh.rank != 0) {
        sema_error(s, x->span, "the second argument of '%s' must be one scalar component", e->name);
        return val_err();
    }
    return fv;
}

/* max(a, b), min(a, b), clamp(x, lo, hi): elementwise, operands broadcast
 * like the arithmetic operators; numbers are scalars. */
static Val elementwise_n(Body *b, const Node *e, const Node **pos, int npos)
{
    Shape r = {0};
    int bad = 0;
    for (int i = 0; i < npos; i++) {
        Val x = tensor_arg(b, pos[i], e->name);
        if (x.kind == V_ERR) {
            bad = 1;
            continue;
        }
        Shape t = r;
        if (shape_broadcast(&t, &x.sh, &r) != 0) {
            char s1[128], s2[128];
            sema_error(b->s, pos[i]->span, "shape mismatch in '%s': %s is %s but the arguments before it are %s",
                       e->name, sema_describe(b, pos[i], "this argument"), shape_str(&x.sh, s1, sizeof s1),
                       shape_str(&t, s2, sizeof s2));
            return val_err();
        }
    }
    return bad ? val_err() : val_tensor(&r);
}

/* leaky_relu(x, slope): the slope is a compile-time number (0.01 if absent);
 * dropout(x, p): p a compile-time number in [0, 1). */
static Val leaky_relu(Body *b, const Node *e, const Node **pos, int npos)
{
    int drop = e->name[0] == 'd';
    if (npos == 2) {
        Val sv = sema_expr(b, pos[1]);
        if (sv.kind == V_ERR)
            return sv;
        if ((sv.kind != V_NUM && sv.kind != V_INT) || (sv.kind == V_NUM && !sv.num_known)
            || (sv.kind == V_INT && (!dim_known(sv.i) || sv.ranged))) {
            sema_error(b->s, pos[1]->span, drop ? "the probability of 'dropout' must be a compile-time number"
                                                : "the slope of 'leaky_relu' must be a compile-time number");
            return val_err();
        }
        double p = sv.kind == V_INT ? (double)sv.i.v : sv.num;
        if (drop && (p < 0 || p >= 1)) {
            sema_error(b->s, pos[1]->span, "the probability of 'dropout' must be in [0, 1), not %g", p);
            return val_err();
        }
    }
    if (drop) {
        if (!b->decl || b->decl->kind == N_FN) {
            sema_error(b->s, e->span, "'dropout' belongs in a model or a layer, not in the loss or a fn");
            return val_err();
        }
        b->s->uses_dropout = 1;
    }
    return tensor_arg(b, pos[0], e->name);
}

/* batch_mean(x, running, momentum): running of x's shape (lowering checks
 * that it is a param of the layer), momentum a compile-time number in (0, 1]. */
static Val batch_mean(Body *b, const Node *e, const Node **pos)
{
    Val x = tensor_arg(b, pos[0], e->name), run = tensor_arg(b, pos[1], e->name);
    Val mv = sema_expr(b, pos[2]);
    if (x.kind == V_ERR || run.kind == V_ERR || mv.kind == V_ERR)
        return val_err();
    /* a layer's float argument is known per call only: lowering checks it there */
    if ((mv.kind != V_NUM && mv.kind != V_INT) || (mv.kind == V_INT && (!dim_known(mv.i) || mv.ranged))) {
        sema_error(b->s, pos[2]->span, "the momentum of 'batch_mean' must be a compile-time number");
        return val_err();
    }
    double m = mv.kind == V_INT ? (double)mv.i.v : mv.num;
    if ((mv.kind == V_INT || mv.num_known) && !(m > 0 && m <= 1)) {
        sema_error(b->s, pos[2]->span, "the momentum of 'batch_mean' must be in (0, 1], not %g", m);
        return val_err();
    }
    if (!shape_compatible(&x.sh, &run.sh)) {
        char s1[128], s2[128];
        sema_error(b->s, pos[1]->span, "the running statistic of 'batch_mean' must have the shape of its "
                   "value: %s is %s, the value %s", sema_describe(b, pos[1], "it"), shape_str(&run.sh, s1, sizeof s1),
                   shape_str(&x.sh, s2, sizeof s2));
        return val_err();
    }
    if (!b->decl || b->decl->kind == N_FN) {
        sema_error(b->s, e->span, "'batch_mean' belongs in a model or a layer, not in the loss or a fn");
        return val_err();
    }
    if (!b->s->generic) /* the instantiation of a model the loss uses */
        b->s->uses_batch_stats = 1;
    return x;
}

Val sema_builtin_call(Body *b, const Node *e, const Builtin *bi)
{
    const Node *pos[MAX_ARGS], *named[MAX_ARGS];
    int npos, nnamed;
    if (!sema_builtin_args(b->s, e, bi, pos, &npos, named, &nnamed))
        return val_err();
    const char *n = bi->name;
    char s1[128], s2[128];
    if (!strcmp(n, "d") || !strcmp(n, "d2"))
        return derivative(b, e, pos);
    if (!strcmp(n, "max") && npos == 2) {
        if (nnamed) {
            sema_error(b->s, named[0]->span, "max of two operands is elementwise and takes no axis");
            return val_err();
        }
        return elementwise_n(b, e, pos, npos);
    }
    if (!strcmp(n, "min") || !strcmp(n, "clamp"))
        return elementwise_n(b, e, pos, npos);
    if (!strcmp(n, "leaky_relu") || !strcmp(n, "dropout"))
        return leaky_relu(b, e, pos, npos);
    if (!strcmp(n, "batch_mean"))
        return batch_mean(b, e, pos);
    if (!strcmp(n, "sum") || !strcmp(n, "mean") || !strcmp(n, "max"))
        return reduce(b, e, pos[0], find_named(named, nnamed, "axis"));
    if (!strcmp(n, "conv") || !strcmp(n, "maxpool"))
        return image_op(b, e, pos, named, nnamed, n[0] == 'c');
    if (!strcmp(n, "zeros") || !strcmp(n, "ones")) {
        Shape r;
        return list_shape(b, pos[0], &r) ? val_tensor(&r) : val_err();
    }
    if (!strcmp(n, "reshape")) {
        Val x = tensor_arg(b, pos[0], n);
        Shape r;
        if (!list_shape(b, pos[1], &r) || x.kind == V_ERR)
            return val_err();
        int64_t c1 = shape_count(&x.sh), c2 = shape_count(&r);
        if (c1 >= 0 && c2 >= 0 && c1 != c2) {
            sema_error(b->s, e->span, "reshape from %s (%lld elements) to %s (%lld elements)",
                       shape_str(&x.sh, s1, sizeof s1), (long long)c1, shape_str(&r, s2, sizeof s2), (long long)c2);
            return val_err();
        }
        return val_tensor(&r);
    }
    if (!strcmp(n, "concat")) {
        Shape r = {0};
        int bad = 0;
        for (int i = 0; i < npos; i++) {
            Val x = tensor_arg(b, pos[i], n);
            if (x.kind == V_ERR) {
                bad = 1;
                continue;
            }
            if (x.sh.rank == 0) {
                sema_error(b->s, pos[i]->span, "concat joins tensors along their first dimension; %s is a scalar",
                           sema_describe(b, pos[i], "this argument"));
                bad = 1;
                continue;
            }
            if (i == 0 || bad) {
                r = x.sh;
                continue;
            }
            Shape t1 = r, t2 = x.sh;
            t1.d[0] = t2.d[0] = dim_unknown();
            if (!shape_compatible(&t1, &t2)) {
                sema_error(b->s, pos[i]->span, "shape mismatch in 'concat': %s is %s but the first argument is %s",
                           sema_describe(b, pos[i], "this argument"), shape_str(&x.sh, s1, sizeof s1),
                           shape_str(&r, s2, sizeof s2));
                bad = 1;
                continue;
            }
            int ovf = 0;
            r.d[0] = dim_known(r.d[0]) && dim_known(x.sh.d[0]) ? dim_const(sema_add(r.d[0].v, x.sh.d[0].v, &ovf))
                                                               : dim_unknown();
        }
        return bad ? val_err() : val_tensor(&r);
    }
    Val x = sema_expr(b, pos[0]);
    double y;
    if ((x.kind == V_INT || x.kind == V_NUM) && fold_unary(n, 0, &y)) {
        /* an elementwise function of a number is a number, as lowering folds it */
        int known = x.kind == V_INT ? dim_known(x.i) && !x.ranged : x.num_known;
        if (!known)
            return val_num(0, 0);
        double v = x.kind == V_INT ? (double)x.i.v : x.num;
        fold_unary(n, v, &y);
        if (!isfinite(y)) {
            sema_error(b->s, e->span, "'%s' of the constant %g is not a finite number", n, v);
            return val_err();
        }
        return val_num(y, 1);
    }
    x = tensor_val(b, pos[0], x, n);
    if (x.kind == V_ERR)
        return x;
    if (!strcmp(n, "logsumexp")) {
        Shape r = {0};
        return val_tensor(&r);
    }
    if (!strcmp(n, "flatten")) {
        Shape r = { .rank = 1 };
        int64_t c = shape_count(&x.sh);
        r.d[0] = c >= 0 ? dim_const(c) : dim_unknown();
        return val_tensor(&r);
    }
    if (!strcmp(n, "transpose")) {
        if (x.sh.rank != 2) {
            sema_error(b->s, pos[0]->span, "transpose needs a matrix, but %s is %s",
                       sema_describe(b, pos[0], "its operand"), shape_str(&x.sh, s1, sizeof s1));
            return val_err();
        }
        Dim t = x.sh.d[0];
        x.sh.d[0] = x.sh.d[1];
        x.sh.d[1] = t;
        return x;
    }
    return x; /* elementwise and softmax keep the shape */
}
