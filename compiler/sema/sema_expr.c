/* sema_expr.c - names, operators, indexing and the built-in operations.
 *
 * sema_expr computes the Val of an expression in a Body (its locals, its
 * module) and reports what is wrong with it.  A sub-expression already
 * diagnosed evaluates to V_ERR, which every rule accepts silently, so one
 * mistake gives one message.  The shape rules are the table of
 * docs/language.md, "Expressions and shapes". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fold.h"
#include "sema_internal.h"

Local *sema_find_local(Body *b, const char *name)
{
    for (int i = b->nlocals - 1; i >= 0; i--)
        if (strcmp(b->locals[i].name, name) == 0)
            return &b->locals[i];
    return NULL;
}

const char *sema_describe(Body *b, const Node *e, const char *fallback)
{
    if (e->kind == N_NAME)
        return sema_fmt(b->s, "'%s'", e->name);
    if (e->kind == N_CALL)
        return sema_fmt(b->s, "the result of '%s'", e->name);
    return fallback;
}

/* The first assignment of name in the statements, searched into blocks. */
static const Node *find_assign(const NodeList *l, const char *name)
{
    for (int i = 0; i < l->len; i++) {
        const Node *n = l->items[i];
        if (n->kind == N_ASSIGN && strcmp(n->name, name) == 0)
            return n;
        if (n->kind == N_REPEAT || n->kind == N_FOR) {
            const Node *r = find_assign(&n->list, name);
            if (r)
                return r;
        }
    }
    return NULL;
}

static void unknown_name(Body *b, const Node *e, const char *what)
{
    Sema *s = b->s;
    const Node *later = b->decl ? find_assign(&b->decl->list2, e->name) : NULL;
    if (later) {
        sema_error(s, e->span, "'%s' is used before it is assigned", e->name);
        sema_note(s, later->span, "'%s' is assigned here", e->name);
        return;
    }
    sema_error(s, e->span, "unknown %s '%s'", what, e->name);
    const char *extra[65];
    int n = 0;
    for (int i = 0; i < b->nlocals && n < 64; i++)
        extra[n++] = b->locals[i].name;
    extra[n] = NULL;
    sema_suggest(s, b->mod, e->name, extra);
}

static Val name_value(Body *b, const Node *e)
{
    Sema *s = b->s;
    Local *l = sema_find_local(b, e->name);
    if (l) {
        l->used = 1;
        return l->val;
    }
    if (sema_builtin(e->name, B_CONST))
        return val_num(3.14159265358979323846, 1);
    Decl *d = sema_lookup(s, b->mod, e->name);
    if (d) {
        d->used = 1;
        sema_error(s, e->span, "'%s' is a %s, not a value", e->name, sema_kind_word(d->node->kind));
        sema_note(s, d->node->span, "'%s' declared here", e->name);
        return val_err();
    }
    const Builtin *bi = sema_builtin_any(e->name);
    if (bi) {
        static const char *const what[] = { "a built-in operation; call it",
            "an initialiser; it can only initialise a 'param'",
            "a data source; it can only appear in a data declaration",
            "an optimiser; it can only appear in 'optimizer' or a strategy",
            "a strategy; it can only appear in 'decompose'", "" };
        sema_error(s, e->span, "'%s' is %s", e->name, what[bi->kind]);
        return val_err();
    }
    if (b->in_loss && !b->decl) {
        sema_error(s, e->span, "unknown name '%s' in the loss", e->name);
        const char *extra[65];
        int n = 0;
        for (int i = 0; i < b->nlocals && n < 64; i++)
            extra[n++] = b->locals[i].name;
        extra[n] = NULL;
        sema_suggest(s, b->mod, e->name, extra);
        return val_err();
    }
    unknown_name(b, e, "name");
    return val_err();
}

/* Rejects operands that are not numbers or tensors; 1 if v is usable. */
static int arith_operand(Body *b, const Node *e, const Val *v, const char *op)
{
    const char *what;
    switch (v->kind) {
    case V_TENSOR: case V_INT: case V_NUM: return 1;
    case V_ERR: return 0;
    case V_CLASS: what = "a class label; it can only index a tensor or be passed as a class argument"; break;
    case V_STRING: what = "a string"; break;
    case V_LIST: what = "a list; lists are shapes for 'zeros', 'ones' and 'reshape'"; break;
    default: what = "not a number"; break;
    }
    sema_error(b->s, e->span, "operand of '%s' is %s", op, what);
    if (e->kind == N_NAME)
        sema_note_plain(b->s, "'%s' is %s", e->name, v->kind == V_CLASS ? "a class label" : "not a tensor");
    return 0;
}

static void note_decl_of(Body *b, const Node *e)
{
    if (e->kind != N_NAME)
        return;
    Local *l = sema_find_local(b, e->name);
    if (l && l->decl)
        sema_note(b->s, l->decl->span, "'%s' declared here", e->name);
}

static Val matmul(Body *b, const Node *e, const Val *x, const Val *y)
{
    char s1[128], s2[128];
    Shape a = x->kind == V_TENSOR ? x->sh : (Shape){0}, c = y->kind == V_TENSOR ? y->sh : (Shape){0};
    Shape r = {0};
    int ok = 1;
    if (a.rank == 2 && c.rank == 1) {
        ok = dim_compatible(a.d[1], c.d[0]);
        r.rank = 1, r.d[0] = a.d[0];
    } else if (a.rank == 2 && c.rank == 2) {
        ok = dim_compatible(a.d[1], c.d[0]);
        r.rank = 2, r.d[0] = a.d[0], r.d[1] = c.d[1];
    } else if (a.rank == 1 && c.rank == 2) {
        ok = dim_compatible(a.d[0], c.d[0]);
        r.rank = 1, r.d[0] = c.d[1];
    } else {
        ok = 0;
    }
    if (!ok) {
        sema_error(b->s, e->span, "shape mismatch in '@': %s is %s but %s is %s",
                   sema_describe(b, e->a, "the left operand"), shape_str(&a, s1, sizeof s1),
                   sema_describe(b, e->b, "the right operand"), shape_str(&c, s2, sizeof s2));
        note_decl_of(b, e->a);
        return val_err();
    }
    return val_tensor(&r);
}

static Val int_arith(Body *b, const Node *e, Dim x, Dim y)
{
    if (!dim_known(x) || !dim_known(y))
        return val_int(dim_unknown());
    int64_t r;
    if (!fold_int(e->op, x.v, y.v, &r)) {
        sema_error(b->s, e->span, "integer overflow in '%s'", ast_op_name(e->op));
        return val_err();
    }
    return val_int(dim_const(r));
}

static Val binary(Body *b, const Node *e)
{
    Val x = sema_expr(b, e->a), y = sema_expr(b, e->b);
    const char *op = ast_op_name(e->op);
    int okx = arith_operand(b, e->a, &x, op), oky = arith_operand(b, e->b, &y, op);
    if (!okx || !oky)
        return val_err();
    if (e->op == '@')
        return matmul(b, e, &x, &y);
    Shape a, c, r;
    val_shape(&x, &a);
    val_shape(&y, &c);
    if (e->op == '^') {
        if (c.rank != 0) {
            char s1[128];
            sema_error(b->s, e->b->span, "the exponent of '^' must be a scalar, but %s is %s",
                       sema_describe(b, e->b, "it"), shape_str(&c, s1, sizeof s1));
            return val_err();
        }
        if (x.kind == V_TENSOR)
            return x;
    }
    if (x.kind == V_INT && y.kind == V_INT && e->op != '/' && e->op != '^')
        return int_arith(b, e, x.i, y.i);
    if (x.kind != V_TENSOR && y.kind != V_TENSOR) {
        double p = x.kind == V_INT ? (double)x.i.v : x.num, q = y.kind == V_INT ? (double)y.i.v : y.num;
        int known = (x.kind == V_INT ? dim_known(x.i) : x.num_known) && (y.kind == V_INT ? dim_known(y.i) : y.num_known);
        if (!known)
            return val_num(0, 0);
        double v = fold_real(e->op, p, q);
        if (!isfinite(v)) {
            sema_error(b->s, e->span, "'%s' of the constants %g and %g is not a finite number", op, p, q);
            return val_err();
        }
        return val_num(v, 1);
    }
    if (shape_broadcast(&a, &c, &r) != 0) {
        char s1[128], s2[128];
        sema_error(b->s, e->span, "shape mismatch in '%s': %s is %s but %s is %s", op,
                   sema_describe(b, e->a, "the left operand"), shape_str(&a, s1, sizeof s1),
                   sema_describe(b, e->b, "the right operand"), shape_str(&c, s2, sizeof s2));
        return val_err();
    }
    return val_tensor(&r);
}

/* An integer index (or slice bound) into a dimension of size n. */
static int index_in_range(Body *b, const Node *ie, const Val *iv, Dim n, const char *xs, int pos)
{
    if (!dim_known(n))
        return 1;
    if (iv->kind == V_INT && iv->ranged && (iv->lo < 0 || iv->hi > n.v)) {
        sema_error(b->s, ie->span, "index %s ranges over %lld..%lld but dimension %d of %s has size %lld",
                   sema_describe(b, ie, "the index"), (long long)iv->lo, (long long)iv->hi, pos, xs,
                   (long long)n.v);
        return 0;
    }
    if (iv->kind == V_INT && dim_known(iv->i) && !iv->ranged && (iv->i.v < 0 || iv->i.v >= n.v)) {
        sema_error(b->s, ie->span, "index %lld is out of range for dimension %d of %s, of size %lld",
                   (long long)iv->i.v, pos, xs, (long long)n.v);
        return 0;
    }
    return 1;
}

static Val index_expr(Body *b, const Node *e)
{
    Val x = sema_expr(b, e->a);
    if (x.kind == V_ERR)
        return x;
    const char *xs = sema_describe(b, e->a, "the indexed value");
    char s1[128];
    if (x.kind != V_TENSOR || x.sh.rank == 0) {
        sema_error(b->s, e->span, "cannot index %s: it is %s", xs,
                   x.kind == V_TENSOR || x.kind == V_INT || x.kind == V_NUM ? "a scalar" : val_str(&x, s1, sizeof s1));
        return val_err();
    }
    if (e->list.len > x.sh.rank) {
        sema_error(b->s, e->span, "too many indices: %s is %s but %d indices are given", xs,
                   shape_str(&x.sh, s1, sizeof s1), e->list.len);
        return val_err();
    }
    Shape r = {0};
    int bad = 0;
    for (int i = 0; i < x.sh.rank; i++) {
        Dim n = x.sh.d[i];
        if (i >= e->list.len) {
            r.d[r.rank++] = n;
            continue;
        }
        const Node *ie = e->list.items[i];
        if (ie->kind == N_SLICE) {
            Val lo = ie->a ? sema_expr(b, ie->a) : val_int(dim_const(0));
            Val hi = ie->b ? sema_expr(b, ie->b) : val_int(n);
            if ((lo.kind != V_INT && lo.kind != V_ERR) || (hi.kind != V_INT && hi.kind != V_ERR)) {
                sema_error(b->s, ie->span, "slice bounds must be compile-time integers");
                bad = 1;
                continue;
            }
            if (lo.kind == V_ERR || hi.kind == V_ERR || lo.ranged || hi.ranged) {
                if (lo.ranged || hi.ranged)
                    sema_error(b->s, ie->span, "slice bounds must be compile-time integers, not 'for' variables");
                bad = 1;
                continue;
            }
            if (dim_known(lo.i) && dim_known(hi.i)) {
                if (lo.i.v < 0 || hi.i.v <= lo.i.v || (dim_known(n) && hi.i.v > n.v)) {
                    sema_error(b->s, ie->span, "slice %lld:%lld is out of range for dimension %d of %s, of size %s",
                               (long long)lo.i.v, (long long)hi.i.v, i, xs,
                               dim_known(n) ? sema_fmt(b->s, "%lld", (long long)n.v) : n.sym);
                    bad = 1;
                    continue;
                }
                r.d[r.rank++] = dim_const(hi.i.v - lo.i.v);
            } else {
                r.d[r.rank++] = dim_unknown();
            }
            continue;
        }
        Val iv = sema_expr(b, ie);
        if (iv.kind == V_ERR) {
            bad = 1;
            continue;
        }
        if (iv.kind == V_CLASS) {
            if (x.sh.rank != 1 || i != 0) {
                sema_error(b->s, ie->span, "a class label indexes a vector [n], but %s is %s", xs,
                           shape_str(&x.sh, s1, sizeof s1));
                bad = 1;
            } else if (!dim_compatible(iv.i, n)) {
                sema_error(b->s, ie->span, "class label %s has %lld classes but %s is %s",
                           sema_describe(b, ie, "the index"), (long long)iv.i.v, xs, shape_str(&x.sh, s1, sizeof s1));
                bad = 1;
            }
            continue;
        }
        if (iv.kind != V_INT) {
            sema_error(b->s, ie->span, "an index must be a compile-time integer, a 'for' variable or a class label");
            bad = 1;
            continue;
        }
        if (!index_in_range(b, ie, &iv, n, xs, i))
            bad = 1;
    }
    return bad ? val_err() : val_tensor(&r);
}

static Val list_expr(Body *b, const Node *e)
{
    Val v = { .kind = V_LIST, .nitems = e->list.len };
    v.items = sema_alloc(b->s, (size_t)(e->list.len + 1) * sizeof *v.items);
    for (int i = 0; i < e->list.len; i++) {
        Val x = sema_expr(b, e->list.items[i]);
        if (x.kind == V_ERR)
            return x;
        if (x.kind != V_INT || x.ranged) {
            sema_error(b->s, e->list.items[i]->span, "list elements must be compile-time integers");
            return val_err();
        }
        v.items[i] = x.i;
    }
    return v;
}

Val sema_builtin_call(Body *b, const Node *e, const Builtin *bi);

/* Where a builtin that is not an operation may appear.  A switch without a
 * default, so that a new BuiltinKind is a -Wswitch warning here rather than
 * an index past a table (the fuzzer found that when B_SCHEDULE came in). */
static const char *builtin_kind_use(BuiltinKind kind)
{
    switch (kind) {
    case B_OP:        return "an operation";
    case B_INIT:      return "an initialiser; it can only initialise a 'param'";
    case B_SOURCE:    return "a data source; it can only appear in a data declaration";
    case B_OPTIMIZER: return "an optimiser; it can only appear in 'optimizer' or a strategy";
    case B_STRATEGY:  return "a strategy; it can only appear in 'decompose'";
    case B_CONST:     return "a constant, not a function";
    case B_SCHEDULE:  return "a learning-rate schedule; it can only appear as 'schedule' in 'train'";
    }
    return "a builtin";
}

static Val call_expr(Body *b, const Node *e)
{
    Sema *s = b->s;
    Local *l = sema_find_local(b, e->name);
    if (l) {
        l->used = 1;
        sema_error(s, e->span, "'%s' is a value, not a function; it cannot be called", e->name);
        if (l->decl)
            sema_note(s, l->decl->span, "'%s' declared here", e->name);
        return val_err();
    }
    Decl *d = sema_lookup(s, b->mod, e->name);
    if (d) {
        d->used = 1;
        if (d->node->kind == N_DATA || d->node->kind == N_STRATEGY) {
            sema_error(s, e->span, "'%s' is a %s; it cannot be called here", e->name, sema_kind_word(d->node->kind));
            sema_note(s, d->node->span, "'%s' declared here", e->name);
            return val_err();
        }
        return sema_call_user(b, e, d);
    }
    const Builtin *bi = sema_builtin(e->name, B_OP);
    if (bi)
        return sema_builtin_call(b, e, bi);
    bi = sema_builtin_any(e->name);
    if (bi) {
        sema_error(s, e->span, "'%s' is %s", e->name, builtin_kind_use(bi->kind));
        return val_err();
    }
    unknown_name(b, e, "function");
    return val_err();
}

static Val expr_value(Body *b, const Node *e);

/* V_ERR means "already diagnosed": an expression that fails without any
 * error reported would let a wrong program check and compile (issue 12 item
 * 1 was one), so that is made an error here, whatever check forgot it. */
Val sema_expr(Body *b, const Node *e)
{
    Val v = expr_value(b, e);
    if (v.kind == V_ERR && b->s->d->errors == 0)
        sema_error(b->s, e->span, "internal error: this expression was rejected without a diagnostic");
    return v;
}

static Val expr_value(Body *b, const Node *e)
{
    switch (e->kind) {
    case N_INT: return val_int(dim_const(e->ival));
    case N_FLOAT: return val_num(e->num, 1);
    case N_STRING: {
        Val v = { .kind = V_STRING, .str = e->name };
        return v;
    }
    case N_NAME: return name_value(b, e);
    case N_UNARY: {
        Val v = sema_expr(b, e->a);
        if (!arith_operand(b, e->a, &v, "-"))
            return val_err();
        if (v.kind == V_INT && dim_known(v.i))
            v.i.v = -v.i.v;
        else if (v.kind == V_INT)
            v = val_int(dim_unknown());
        v.ranged = 0;
        if (v.kind == V_NUM)
            v.num = -v.num;
        return v;
    }
    case N_BINARY: return binary(b, e);
    case N_INDEX: return index_expr(b, e);
    case N_LIST: return list_expr(b, e);
    case N_CALL: return call_expr(b, e);
    case N_NAMED_ARG:
        sema_error(b->s, e->span, "named argument '%s' outside a call", e->name);
        return val_err();
    case N_SLICE:
        sema_error(b->s, e->span, "a slice can only appear inside brackets after a tensor");
        return val_err();
    default:
        return val_err();
    }
}

/* ---- dimensions: compile-time integer expressions ------------------------ */

Dim sema_dim_expr(Body *b, const Node *e)
{
    Sema *s = b->s;
    switch (e->kind) {
    case N_INT: return dim_const(e->ival);
    case N_NAME: {
        Local *l = sema_find_local(b, e->name);
        if (l && l->val.kind == V_INT && !l->val.ranged) {
            l->used = 1;
            return l->val.i;
        }
        if (l && l->val.kind == V_ERR)
            return dim_unknown();
        if (l) {
            l->used = 1;
            sema_error(s, e->span, "dimension '%s' is not a compile-time integer", e->name);
            return dim_unknown();
        }
        unknown_name(b, e, "dimension");
        return dim_unknown();
    }
    case N_UNARY: {
        Dim a = sema_dim_expr(b, e->a);
        return dim_known(a) ? dim_const(-a.v) : dim_unknown();
    }
    case N_BINARY: {
        if (e->op == '@' || e->op == '^') {
            sema_error(s, e->span, "'%s' cannot appear in a shape", ast_op_name(e->op));
            return dim_unknown();
        }
        Dim x = sema_dim_expr(b, e->a), y = sema_dim_expr(b, e->b);
        if (!dim_known(x) || !dim_known(y))
            return dim_unknown();
        int ovf = 0;
        int64_t r = 0;
        switch (e->op) {
        case '+': case '-': case '*': ovf = !fold_int(e->op, x.v, y.v, &r); break;
        case '/':
            if (y.v == 0 || x.v % y.v != 0) {
                sema_error(s, e->span, "'/' in a shape must divide exactly, but %lld / %lld does not",
                           (long long)x.v, (long long)y.v);
                return dim_unknown();
            }
            r = x.v / y.v;
            break;
        }
        if (ovf || r > SEMA_MAX_DIM || r < -SEMA_MAX_DIM) {
            sema_error(s, e->span, "dimension overflows: it must be at most %d", SEMA_MAX_DIM);
            return dim_unknown();
        }
        return dim_const(r);
    }
    default:
        sema_error(s, e->span, "a dimension must be a compile-time integer expression");
        return dim_unknown();
    }
}

int sema_type_shape(Body *b, const Node *type, Shape *out)
{
    memset(out, 0, sizeof *out);
    if (type->kind != N_TYPE_SHAPE)
        return 0;
    if (type->list.len > SEMA_MAX_RANK) {
        sema_error(b->s, type->span, "a tensor has at most %d dimensions, this shape has %d",
                   SEMA_MAX_RANK, type->list.len);
        out->rank = 0;
        return 1;
    }
    out->rank = type->list.len;
    for (int i = 0; i < type->list.len; i++) {
        const Node *de = type->list.items[i];
        Dim d = sema_dim_expr(b, de);
        if (dim_known(d) && (d.v <= 0 || d.v > SEMA_MAX_DIM)) {
            sema_error(b->s, de->span, "a dimension must be between 1 and %d, this one is %lld",
                       SEMA_MAX_DIM, (long long)d.v);
            d = dim_unknown();
        }
        out->d[i] = d;
    }
    if (shape_known(out) && shape_count(out) < 0)
        sema_error(b->s, type->span, "this shape has more than %lld elements", (long long)SEMA_MAX_ELEMS);
    return 1;
}
