/* sema_internal.h - what the semantic-analysis modules share.
 *
 * One block per source file, chibicc-style:
 *   sema.c           the passes' driver, the declaration table, diagnostics
 *   sema_shape.c     dimensions, shapes, checked arithmetic, printing
 *   sema_expr.c      expressions and built-in operations
 *   sema_inst.c      bodies, calls, binding of formals, instantiation
 *   sema_train.c     data sets, the loss, the train block
 *   sema_strategy.c  strategy declarations, decompose and the fit to the model
 *   sema_emit.c      exac --emit=shapes
 *
 * Bodies are checked twice.  The *generic* pass checks every layer, fn and
 * model once with its generic dimensions left symbolic (names, arity, and
 * every shape rule that symbolic dims allow) and reports the warnings.  The
 * *instantiation* pass starts from the loss with the data set's concrete
 * shapes and walks into every call, recording instances, parameters, stages
 * and values (typed.h).  An error both passes find is reported once. */
#ifndef EXA_SEMA_INTERNAL_H
#define EXA_SEMA_INTERNAL_H

#include <stdint.h>

#include "sema.h"
#include "typed.h"

/* ---- builtins.def ---------------------------------------------------- */

typedef enum BuiltinKind { B_OP, B_INIT, B_SOURCE, B_OPTIMIZER, B_STRATEGY, B_CONST, B_SCHEDULE } BuiltinKind;

typedef struct Builtin {
    const char *name;
    BuiltinKind kind;
    int min, max;       /* positional arguments; max -1: any */
    const char *named;  /* space-separated */
} Builtin;

/* ---- sema_shape.c: dimensions and shapes ----------------------------- */

/* A dimension: a known integer (sym NULL), a generic name (sym the name) or
 * unknown (sym == sema_unknown_dim), which is compatible with anything. */
typedef struct Dim {
    int64_t v;
    const char *sym;
} Dim;

typedef struct Shape {
    int rank;
    Dim d[SEMA_MAX_RANK];
} Shape;

extern const char sema_unknown_dim[];
enum { SEMA_MAX_DIM = 1 << 30 };            /* a dimension's largest value */
#define SEMA_MAX_ELEMS ((int64_t)1 << 36)    /* a tensor's largest element count */
enum { SEMA_BUDGET = 200000 };               /* calls and repeat steps per program */

Dim dim_const(int64_t v);
Dim dim_unknown(void);
int dim_known(Dim a);
/* 1 when a and b may be equal (unknown, same symbol, or same value). */
int dim_compatible(Dim a, Dim b);
/* Checked arithmetic; *overflow is set instead of wrapping. */
int64_t sema_add(int64_t a, int64_t b, int *overflow);
int64_t sema_mul(int64_t a, int64_t b, int *overflow);
int shape_known(const Shape *s);
int shape_compatible(const Shape *a, const Shape *b);
/* Elements, or -1 when unknown or too many. */
int64_t shape_count(const Shape *s);
/* Writes "[8, 3]" into buf. */
const char *shape_str(const Shape *s, char *buf, size_t n);
void shape_to_typed(const Shape *s, SemaShape *out);
const char *typed_shape_str(const SemaShape *s, char *buf, size_t n);
/* Broadcasting: returns 0 and sets *out, or -1 on mismatch. */
int shape_broadcast(const Shape *a, const Shape *b, Shape *out);

/* ---- values ---------------------------------------------------------- */

typedef enum ValKind {
    V_ERR,      /* already diagnosed: silently accepted by everything */
    V_TENSOR,   /* sh */
    V_INT,      /* compile-time integer i; a for variable has lo <= i < hi */
    V_NUM,      /* a real constant (num when num_known) */
    V_CLASS,    /* a class label with i classes */
    V_STRING,   /* str */
    V_LIST,     /* [e, ...] of compile-time integers */
    V_WORD      /* a bare word in a strategy or setting (ranks, additive, FCF) */
} ValKind;

typedef struct Val {
    ValKind kind;
    Shape sh;
    Dim i;
    int ranged;
    int64_t lo, hi;
    double num;
    int num_known;
    const char *str;
    int nitems;
    Dim *items;
} Val;

Val val_err(void);
Val val_tensor(const Shape *s);
Val val_int(Dim d);
Val val_num(double v, int known);
/* The tensor shape of v: ints and numbers are scalars []; 0 if not a tensor. */
int val_shape(const Val *v, Shape *out);
const char *val_str(const Val *v, char *buf, size_t n);

/* ---- sema.c: declarations, diagnostics, the Sema ---------------------- */

typedef struct Decl {
    const char *name;
    Node *node;           /* N_LAYER, N_FN, N_MODEL, N_DATA, N_STRATEGY */
    Module *module;
    int used;
} Decl;

typedef struct Sema Sema;
typedef struct Body Body;

/* Builds a SemaModel while the instantiation walks it. */
typedef struct ModelBuild {
    SemaModel *m;
    int ncap_inst, ncap_param, ncap_val, ncap_stage;
    int nrepeats;
    int state;            /* 0 not started, 1 in progress, 2 done */
    const Node **repeats; /* repeat blocks met, for the strategy fit */
    int nfors;            /* for loops in the model's own body (layers(mgrit) over a recurrence) */
    const Node *for0;     /* the first of them */
    int mgrit_bad;        /* a repeat block's step changed a carried shape */
    char mgrit_why[256];
} ModelBuild;

struct Sema {
    Program *p;
    Diag *d;
    Arena ar;
    Decl *decls;
    int ndecls;
    char **seen;          /* messages already reported (dedupe) */
    int nseen, capseen;
    int quiet;            /* the last error was a duplicate: drop its notes */
    int generic;          /* which pass runs */
    int64_t budget;       /* calls and repeat steps left before we give up (spend_budget) */
    int over_budget;
    const Node *stack[64];/* calls being instantiated, for recursion */
    int depth;
    SemaTyped typed;
    ModelBuild *builds;   /* parallel to typed.models */
    int capmodels;
    int is_program;       /* the root has data, loss or train */
    Node *loss, *train;
    int train_data;       /* index in typed.data or -1 */
    int loss_uses_d;
    int uses_dropout;   /* a training model calls dropout (not under layers/grid) */
    int uses_batch_stats; /* a model calls batch_mean (only under split data) */
};

void *sema_alloc(Sema *s, size_t n);
char *sema_fmt(Sema *s, const char *fmt, ...) EXA_PRINTF(2, 3);
/* Grows *items (arena) to hold one more element of size sz. */
void *sema_grow(Sema *s, void *items, int len, int *cap, size_t sz);

void sema_error(Sema *s, Span at, const char *fmt, ...) EXA_PRINTF(3, 4);
void sema_warn(Sema *s, Span at, const char *fmt, ...) EXA_PRINTF(3, 4);
void sema_note(Sema *s, Span at, const char *fmt, ...) EXA_PRINTF(3, 4);
void sema_note_plain(Sema *s, const char *fmt, ...) EXA_PRINTF(2, 3);

const Builtin *sema_builtin(const char *name, BuiltinKind kind);
const Builtin *sema_builtin_any(const char *name);
int sema_builtin_count(void);
const Builtin *sema_builtin_at(int i);
/* Whether `name` is in a builtin's space-separated named-argument list. */
int sema_named_ok(const char *list, const char *name);

/* The declaration visible from module m, or NULL. */
Decl *sema_lookup(Sema *s, const Module *m, const char *name);
/* A note "did you mean 'x'?" when a visible name is one or two edits away;
 * extra is a NULL-terminated list of other candidates (locals, builtins). */
void sema_suggest(Sema *s, const Module *m, const char *name, const char *const *extra);
const char *sema_kind_word(NodeKind k);

/* ---- sema_expr.c ------------------------------------------------------ */

typedef enum LocalKind { L_FORMAL, L_GENERIC, L_VALUE, L_PARAM, L_LOOP, L_FIELD } LocalKind;

typedef struct Local {
    const char *name;
    LocalKind kind;
    Val val;
    const Node *decl;
    int used;
    int loop;            /* assigned inside a loop body that carries it */
} Local;

/* Call sites of one callee so far in a body: dense#1, dense#2, ... */
typedef struct CallCount {
    const char *name;
    int n;
} CallCount;

/* The evaluation of one body (or of the loss). */
struct Body {
    Sema *s;
    const Node *decl;    /* N_LAYER/N_FN/N_MODEL, NULL for the loss */
    const Module *mod;
    Local *locals;
    int nlocals, cap;
    int in_loss, in_repeat, loops;
    int returned;
    /* instantiation */
    ModelBuild *mb;      /* the model being built, or NULL */
    const char *path;    /* instance path prefix, e.g. "classify/step[2]" */
    int instance;        /* this body's instance index in mb, -1 none */
    int stage;
    int model_level;     /* the model's own body (its values are recorded) */
    CallCount counts[32];
    int ncounts;
};

Val sema_expr(Body *b, const Node *e);
Local *sema_find_local(Body *b, const char *name);
Local *sema_add_local(Body *b, const char *name, LocalKind kind, Val v, const Node *decl);
void sema_body_free(Body *b);
/* Describes e for a message: "'W'" for a name, else "the left operand" etc. */
const char *sema_describe(Body *b, const Node *e, const char *fallback);
/* A compile-time integer for a shape dimension (docs: dims are integers). */
Dim sema_dim_expr(Body *b, const Node *e);
/* Evaluates a type node to a shape (N_TYPE_SHAPE); 0 if not a shape type. */
int sema_type_shape(Body *b, const Node *type, Shape *out);

/* ---- sema_inst.c ------------------------------------------------------ */

/* Checks the call e of a layer/fn/model declaration and returns its result. */
Val sema_call_user(Body *b, const Node *e, Decl *callee);
/* The generic pass over one layer/fn/model declaration. */
void sema_check_decl(Sema *s, Decl *d);
int sema_builtin_args(Sema *s, const Node *e, const Builtin *bi, const Node **pos, int *npos,
                      const Node **named, int *nnamed);

/* ---- sema_train.c ----------------------------------------------------- */

void sema_check_data(Sema *s, Decl *d);
void sema_check_program(Sema *s);
/* The named-argument value check shared with strategies (steps > 0 ...). */
void sema_check_setting_value(Sema *s, const char *owner, const Node *arg, const Val *v);
Val sema_const_expr(Sema *s, const Module *m, const Node *e, const Node *strategy);
/* The same with the strategy's formals bound to values (one per formal). */
Val sema_bound_expr(Sema *s, const Module *m, const Node *e, const Node *strategy, const Val *values);

/* ---- sema_strategy.c -------------------------------------------------- */

void sema_check_strategy_decl(Sema *s, Decl *d);
/* Checks `decompose = e`; fit: also whether it fits the instantiated model. */
void sema_check_decompose(Sema *s, const Node *e, int fit);
/* The fit facts of the model (SemaTyped.fit) for --decompose at run time. */
void sema_strategy_facts(Sema *s);
void sema_check_optimizer(Sema *s, const Module *m, const Node *e, const Node *strategy);
/* Whether the run takes SGD or Adam steps: the train block's optimiser where
 * the strategy uses it, a strategy's local or global optimiser call. */
int sema_first_order_steps(Sema *s);

/* ---- sema_emit.c ------------------------------------------------------ */
/* (sema_emit_shapes in sema.h) */

#endif
