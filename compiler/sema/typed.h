/* typed.h - the checked, instantiated program that sema hands to the IR lowering.
 *
 * Everything here is concrete: shapes are integers, every layer call site of a
 * training model is an instance with a path name, every `param` of every
 * instance is a SemaParam, and a model's body is cut into stages (the code
 * before its first repeat block, one stage per repeat step, the code after).
 * Path names (docs/language.md, "Instances and parameter names"):
 *
 *     classify/dense#1/W            1st call of dense in classify's body
 *     classify/step[3]/dense#1/W    1st call of dense in repeat step 3
 *     u/net                         a model called by a model (one instance)
 *
 * Call sites are numbered per callee name in source order, from 1, within the
 * body being instantiated (and afresh in every repeat step).  A `for` body is
 * instantiated once: its iterations share one set of instances.
 * All memory belongs to the Sema (sema_free releases it). */
#ifndef EXA_TYPED_H
#define EXA_TYPED_H

#include <stdint.h>

#include "ast.h"

enum { SEMA_MAX_RANK = 6, SEMA_MAX_INIT_ARGS = 4 };

typedef struct SemaShape {
    int rank;                     /* 0: a scalar */
    int64_t dim[SEMA_MAX_RANK];
} SemaShape;

typedef enum SemaStageKind {
    SEMA_STAGE_BODY,     /* a model without repeat: one stage, the whole body */
    SEMA_STAGE_PROLOGUE, /* from the model's inputs to the first repeat block */
    SEMA_STAGE_STEP,     /* one step of a repeat block, with its own parameters */
    SEMA_STAGE_EPILOGUE  /* after a repeat block (up to the next one or the return) */
} SemaStageKind;

typedef struct SemaStage {
    SemaStageKind kind;
    int step;                     /* SEMA_STAGE_STEP: 0 .. count-1 */
    const Node *repeat;           /* the N_REPEAT of a step, else NULL */
    int nin, nout;
    SemaShape *in, *out;          /* shapes of the values the stage takes and gives */
} SemaStage;

typedef struct SemaInstance {
    const char *path;             /* e.g. "classify/step[3]/dense#1" */
    const Node *decl;             /* N_LAYER or N_MODEL */
    const Node *call;             /* the N_CALL that made it (NULL for the model) */
    int parent;                   /* index in the model's instances, -1 for the model */
    int stage;                    /* index in the model's stages */
} SemaInstance;

typedef struct SemaParam {
    const char *path;             /* instance path + "/" + name */
    SemaShape shape;
    int64_t count;                /* elements */
    const Node *decl;             /* N_PARAM */
    const Node *init;             /* initialiser: N_NAME (glorot) or N_CALL (normal(0.1)) */
    int ninit_args;               /* the initialiser's arguments, folded in the */
    double init_args[SEMA_MAX_INIT_ARGS]; /* instance's environment, in order */
    int instance;                 /* owning instance */
    int stage;                    /* owning stage */
} SemaParam;

typedef enum SemaValueKind { SEMA_VAL_TENSOR, SEMA_VAL_INT, SEMA_VAL_NUM, SEMA_VAL_CLASS } SemaValueKind;

typedef struct SemaValue {
    const char *path;             /* "u", "step[3]/u", "return" */
    const Node *node;             /* the N_FORMAL, N_ASSIGN or N_RETURN */
    SemaValueKind kind;
    SemaShape shape;              /* tensors; class: shape [] and classes */
    int64_t classes;
    int stage;
} SemaValue;

/* One model, instantiated once whatever the number of its calls. */
typedef struct SemaModel {
    const char *name;
    const Node *decl;             /* N_MODEL */
    int ninputs;
    SemaShape *inputs;
    SemaShape output;
    SemaInstance *instances; int ninstances;
    SemaParam *params;       int nparams;
    SemaValue *values;       int nvalues;
    SemaStage *stages;       int nstages;
    int64_t param_count;          /* total elements of params */
} SemaModel;

typedef struct SemaField {
    const char *name;
    int is_class;                 /* class(classes), else a tensor of shape */
    int64_t classes;
    SemaShape shape;
} SemaField;

typedef struct SemaData {
    const char *name;
    const Node *decl;             /* N_DATA; decl->a is the source call */
    const char *source;           /* "peaks", "idx", ... */
    SemaField *fields; int nfields;
} SemaData;

typedef struct SemaTrain {
    int64_t epochs, batch, seed;  /* defaults 1, 32, 0 */
    const Node *optimizer;        /* N_CALL of an OPTIMIZER, or NULL: sgd(lr: 0.01) */
    const Node *decompose;        /* the strategy expression, or NULL */
    int coarse;                   /* its strategy has a `coarse` statement: exac writes the stage functions */
    const Node *schedule;         /* N_CALL of a SCHEDULE, or NULL */
    double clip;                  /* bound on the gradient's norm, or 0 */
    const char *checkpoint, *log; /* or NULL */
    const char *device;           /* device = cpu | gpu, or NULL (cpu) */
    int data;                     /* index in SemaTyped.data of the training set */
    int validate;                 /* index of the validation set, or -1 */
} SemaTrain;

/* What a strategy chosen at run time (--decompose) needs to know of the
 * model, as sema judges it (sema_strategy.c): NULL "why" means it fits. */
typedef struct SemaFit {
    int known;                    /* 0: the model did not check (no facts) */
    const char *model;            /* the first model's name */
    const char *params_why;       /* why split params does not fit, or NULL */
    const char *mgrit_why;        /* why layers(mgrit(...)) does not fit, or NULL */
    const char *list;             /* the strategies that fit, as the compiler's note lists them */
    int nsolvers;                 /* the optimisers (builtins.def) with their named arguments */
    const char *solver[32], *solver_args[32];
} SemaFit;

typedef struct SemaTyped {
    SemaData *data;     int ndata;
    SemaModel *models;  int nmodels; /* the models the loss reaches, first met first */
    const Node *loss;             /* N_LOSS, NULL in a library module */
    SemaShape loss_shape;
    SemaTrain train;
    SemaFit fit;
} SemaTyped;

#endif
