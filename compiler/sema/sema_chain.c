/* sema_chain.c - the dense-layer chain pdADMM trains, layers(admm(...)).
 *
 * pdADMM splits a network into layers z_l = W_l p_l + b_l, q_l = f(z_l),
 * p_{l+1} = q_l, and updates z_l in closed form, which needs f = relu
 * (docs/strategies.md says why the other activations are refused).  So the
 * model must be exactly
 *
 *     x -> dense -> relu -> dense -> relu -> ... -> dense      (the return)
 *
 * written as nested calls or through local names, each name assigned once,
 * and the loss cross_entropy(model(x), y): the last layer's z-update solves
 * the cross-entropy subproblem.  sema_admm_chain walks the return value back
 * to the model's input; the fit check reports its `why` (naming the layer
 * that breaks the chain) and the descriptor writer emits one `layer` record
 * per dense call, input side first (program.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sema.h"

typedef struct Walk {
    const SemaModel *m;
    SemaChainLayer *out;
    int n, max;
    char *why;
    size_t whylen;
    int depth;
    int spatial;        /* neurons(): conv2d, maxpool, flatten, dropout too */
} Walk;

static const Node *arg0(const Node *call)
{
    if (call->list.len < 1)
        return NULL;
    const Node *a = call->list.items[0];
    return a->kind == N_NAMED_ARG ? a->a : a;
}

static int bad(Walk *w, const char *fmt, const char *what)
{
    snprintf(w->why, w->whylen, fmt, what, w->m->name);
    return 0;
}

/* The assignment of name in the model body (the only one), or NULL. */
static const Node *assignment(const Walk *w, const char *name, int *count)
{
    const Node *found = NULL;
    *count = 0;
    for (int i = 0; i < w->m->decl->list2.len; i++) {
        const Node *st = w->m->decl->list2.items[i];
        if (st->kind == N_ASSIGN && !strcmp(st->name, name)) {
            found = st;
            ++*count;
        }
    }
    return found;
}

static const char *instance_path(const Walk *w, const Node *e)
{
    for (int i = 0; i < w->m->ninstances; i++)
        if (w->m->instances[i].call == e)
            return w->m->instances[i].path;
    return NULL;
}

/* An integer literal argument (named, or positional index pos), or fallback
 * when absent; -1 when it is not a literal. */
static int literal(const Node *call, const char *name, int pos, int fallback)
{
    int k = 0;
    for (int i = 0; i < call->list.len; i++) {
        const Node *a = call->list.items[i];
        if (a->kind == N_NAMED_ARG ? !strcmp(a->name, name) : k++ == pos) {
            const Node *v = a->kind == N_NAMED_ARG ? a->a : a;
            return v->kind == N_INT && v->ival >= 0 && v->ival < 1 << 20 ? (int)v->ival : -1;
        }
    }
    return fallback;
}

static int append(Walk *w, SemaChainKind kind, const char *path)
{
    if (w->n >= w->max)
        return bad(w, "admm takes at most 4096 layers; '%s' in model '%s' is one too many", "a layer");
    w->out[w->n] = (SemaChainLayer){ .kind = kind, .path = path };
    w->n++;
    return 1;
}

/* neurons()' convolutional front: conv2d, relu, maxpool up to a flatten. */
static int walk_spatial(Walk *w, const Node *e, const Node *in)
{
    SemaChainKind prev = w->n > 0 ? w->out[w->n - 1].kind : CHAIN_FLATTEN;
    if (!strcmp(e->name, "conv2d")) {
        int pad = literal(e, "padding", 3, 0);
        const char *path = instance_path(w, e);
        if (pad < 0 || !path)
            return bad(w, "neurons() needs conv2d's padding as an integer literal; '%s' in model '%s' has none",
                       "conv2d");
        if (w->n > 0 && prev != CHAIN_CONV && prev != CHAIN_POOL)
            return bad(w, "neurons() needs conv2d on the model's input or an image; '%s' in model '%s' is not",
                       "conv2d");
        if (!append(w, CHAIN_CONV, path))
            return 0;
        w->out[w->n - 1].padding = pad;
        return 1;
    }
    int win = literal(e, "window", 1, -1), st = literal(e, "stride", 99, win);
    if (win < 1 || st < 1)
        return bad(w, "neurons() needs maxpool's window and stride as integer literals; '%s' in model '%s' has none",
                   "maxpool");
    if (w->n == 0 || (prev != CHAIN_CONV && prev != CHAIN_POOL))
        return bad(w, "neurons() needs maxpool after a conv2d; '%s' in model '%s' is not", "maxpool");
    (void)in;
    if (!append(w, CHAIN_POOL, NULL))
        return 0;
    w->out[w->n - 1].window = win, w->out[w->n - 1].stride = st;
    return 1;
}

static int walk(Walk *w, const Node *e);

/* batch_norm2d (on a conv2d) or batch_norm (on a dense layer), directly on
 * its layer, before the relu: its parameters go into that layer's record. */
static int walk_batch_norm(Walk *w, const Node *e, const Node *in, SemaChainKind on, const char *what,
                           const char *layer)
{
    if (!in || !walk(w, in))
        return 0;
    SemaChainLayer *l = w->n > 0 ? &w->out[w->n - 1] : NULL;
    char fmt[160];
    if (!l || l->kind != on || l->act || l->bn) {
        snprintf(fmt, sizeof fmt, "neurons() needs %s directly on %s (before its relu); '%%s' in model '%%s' is not",
                 what, layer);
        return bad(w, fmt, what);
    }
    if (!(l->bn = instance_path(w, e)))
        return bad(w, "neurons() cannot find the parameters of '%s' in model '%s'", what);
    return 1;
}

static int walk(Walk *w, const Node *e)
{
    if (++w->depth > 4096)
        return bad(w, "admm needs a chain of dense layers and relu; '%s' in model '%s' is too deep", "return");
    if (e->kind == N_NAME) {
        const NodeList *formals = &w->m->decl->list;
        if (formals->len == 1 && !strcmp(formals->items[0]->name, e->name))
            return 1;
        int count;
        const Node *as = assignment(w, e->name, &count);
        if (!as)
            return bad(w, "admm needs a chain from the model's one input; '%s' in model '%s' is not it", e->name);
        if (count > 1)
            return bad(w, "admm needs every name of the chain assigned once; '%s' in model '%s' is assigned more often",
                       e->name);
        return walk(w, as->a);
    }
    if (e->kind != N_CALL)
        return bad(w, "admm needs a chain of dense layers and relu; %s in model '%s' is neither", "an operator");
    const Node *in = arg0(e);
    if (w->spatial && (!strcmp(e->name, "conv2d") || !strcmp(e->name, "maxpool")))
        return in && walk(w, in) && walk_spatial(w, e, in);
    if (w->spatial && !strcmp(e->name, "flatten")) {
        if (!in || !walk(w, in))
            return 0;
        if (w->n == 0 || (w->out[w->n - 1].kind != CHAIN_CONV && w->out[w->n - 1].kind != CHAIN_POOL))
            return bad(w, "neurons() needs flatten of a conv2d or maxpool; '%s' in model '%s' is not", "flatten");
        return append(w, CHAIN_FLATTEN, NULL);
    }
    if (w->spatial && !strcmp(e->name, "dropout")) {
        if (!in || !walk(w, in))
            return 0;
        SemaChainLayer *l = w->n > 0 ? &w->out[w->n - 1] : NULL;
        if (!l || l->kind != CHAIN_DENSE || !l->act || l->dropout)
            return bad(w, "neurons() needs dropout after a dense layer's relu; '%s' in model '%s' is not", "dropout");
        l->dropout = 1;
        return 1;
    }
    if (w->spatial && !strcmp(e->name, "batch_norm2d")) /* its statistics: neurons_front.c */
        return walk_batch_norm(w, e, in, CHAIN_CONV, "batch_norm2d", "a conv2d");
    if (w->spatial && !strcmp(e->name, "batch_norm")) /* its statistics: neurons.c */
        return walk_batch_norm(w, e, in, CHAIN_DENSE, "batch_norm", "a dense layer");
    if (!strcmp(e->name, "dense")) {
        if (!in || !walk(w, in))
            return 0;
        if (w->n > 0 && w->out[w->n - 1].kind == CHAIN_DENSE && !w->out[w->n - 1].act)
            return bad(w, "admm needs relu between dense layers; '%s' in model '%s' follows a dense layer directly",
                       "dense");
        if (w->n > 0 && (w->out[w->n - 1].kind == CHAIN_CONV || w->out[w->n - 1].kind == CHAIN_POOL))
            return bad(w, "neurons() needs flatten between the images and '%s' in model '%s'", "dense");
        const char *path = instance_path(w, e);
        if (!path)
            return bad(w, "admm cannot find the parameters of '%s' in model '%s'", "dense");
        return append(w, CHAIN_DENSE, path);
    }
    if (!strcmp(e->name, "relu")) {
        if (!in || !walk(w, in))
            return 0;
        if (w->n == 0 || w->out[w->n - 1].act
            || (w->out[w->n - 1].kind != CHAIN_DENSE && w->out[w->n - 1].kind != CHAIN_CONV))
            return bad(w, "admm needs relu after a dense layer; '%s' in model '%s' is not", "relu");
        w->out[w->n - 1].act = "relu";
        return 1;
    }
    if (!in || !walk(w, in))
        return 0;
    if (w->spatial) {
        snprintf(w->why, w->whylen, "neurons() splits dense layers, relu, dropout, batch_norm, conv2d, batch_norm2d, "
                 "maxpool and flatten; "
                 "'%s' in model '%s' is none of them", e->name, w->m->name);
        return 0;
    }
    if (w->n == 0)
        snprintf(w->why, w->whylen, "admm updates z in closed form for relu only; '%s' on the input of model "
                 "'%s' is not a dense layer", e->name, w->m->name);
    else
        snprintf(w->why, w->whylen, "admm updates z in closed form for relu only; '%s' after dense layer %d of "
                 "model '%s' is not relu (nor a dense layer)", e->name, w->n, w->m->name);
    return 0;
}

static int chain(const SemaTyped *st, SemaChainLayer *out, int max, char *why, size_t whylen, int spatial);

int sema_admm_chain(const SemaTyped *st, SemaChainLayer *out, int max, char *why, size_t whylen)
{
    return chain(st, out, max, why, whylen, 0);
}

int sema_layer_chain(const SemaTyped *st, SemaChainLayer *out, int max, char *why, size_t whylen, int spatial)
{
    int n = chain(st, out, max, why, whylen, spatial);
    if (!n && !strncmp(why, "admm ", 5)) { /* the messages are pdADMM's: say whose they are */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "neurons() %s", why + 5);
        snprintf(why, whylen, "%s", tmp);
    }
    return n;
}

static int chain(const SemaTyped *st, SemaChainLayer *out, int max, char *why, size_t whylen, int spatial)
{
    if (st->nmodels != 1) {
        snprintf(why, whylen, "admm needs one model; the loss reaches %d", st->nmodels);
        return 0;
    }
    const SemaModel *m = &st->models[0];
    const Node *loss = st->loss ? st->loss->a : NULL;
    if (!loss || loss->kind != N_CALL || strcmp(loss->name, "cross_entropy") != 0 || !arg0(loss)
        || arg0(loss)->kind != N_CALL || strcmp(arg0(loss)->name, m->name) != 0) {
        snprintf(why, whylen, "admm needs the loss cross_entropy(%s(x), y): its last layer's update "
                 "solves the cross-entropy subproblem", m->name);
        return 0;
    }
    Walk w = { .m = m, .out = out, .max = max, .why = why, .whylen = whylen, .spatial = spatial };
    const Node *ret = NULL;
    for (int i = 0; i < m->decl->list2.len; i++) {
        const Node *s = m->decl->list2.items[i];
        if (s->kind == N_RETURN)
            ret = s->a;
        else if (s->kind != N_ASSIGN) {
            snprintf(why, whylen, "admm needs a chain of dense layers and relu; model '%s' has a %s", m->name,
                     s->kind == N_REPEAT ? "repeat block" : s->kind == N_FOR ? "for loop"
                     : s->kind == N_PARAM ? "param" : "statement other than an assignment");
            return 0;
        }
    }
    if (!ret) {
        snprintf(why, whylen, "admm needs model '%s' to return its chain", m->name);
        return 0;
    }
    if (!walk(&w, ret))
        return 0;
    int dense = 0;
    for (int i = 0; i < w.n; i++)
        dense += w.out[i].kind == CHAIN_DENSE;
    if (dense < 2) {
        snprintf(why, whylen, "admm needs at least 2 dense layers; model '%s' has %d", m->name, dense);
        return 0;
    }
    if (w.out[w.n - 1].bn) {
        snprintf(why, whylen, "neurons() needs the last dense layer of model '%s' without batch_norm (its output "
                 "goes to cross_entropy)", m->name);
        return 0;
    }
    if (w.out[w.n - 1].act) {
        snprintf(why, whylen, "admm needs the last dense layer of model '%s' without an activation "
                 "(its output goes to cross_entropy)", m->name);
        return 0;
    }
    return w.n;
}

int sema_layer_chain_fits(const SemaTyped *st)
{
    SemaChainLayer *out = calloc(4096, sizeof *out);
    char why[512];
    int ok = out && chain(st, out, 4096, why, sizeof why, 1) > 0;
    free(out);
    return ok;
}
