/* program.h - the descriptor of a compiled program, as libexa reads it.
 *
 * exac writes the descriptor as text into the executable (exa_program[] in
 * abi.h); exa_program_parse turns it into this struct.  The format, one
 * record per line, fields separated by blanks, strings in double quotes:
 *
 *   exa-program 1                          format version
 *   source "peaks.exa"
 *   precision f32                          or f64
 *   weights 2437                           length of the flat parameter vector
 *   param "classify/dense#1/W" offset 0 stage 0 init glorot fan 2 8 shape 2 8 2
 *                                          shape: rank, then dims; init: glorot
 *                                          | he | zeros | ones | normal STD |
 *                                          uniform A B; fan: fan-in fan-out
 *   stages 34
 *   layer dense "mlp/dense#2" act relu     layers(admm), neurons(): the dense-relu chain,
 *                                          input side first; params PATH/W, PATH/b;
 *                                          act relu | none (the last); then the word
 *                                          dropout when dropout follows (neurons())
 *   layer conv "net/conv2d#1" act relu padding 0   neurons()' convolutional front,
 *   layer pool window 2 stride 2           before the dense layers
 *   layer flatten
 *   data "train" role train source peaks(samples=5000,seed=1)
 *   field "train" "x" real shape 1 2       or: field "train" "y" class 5
 *   train epochs 20 batch 5000 seed 1
 *   setting checkpoint "ckpt/"             any further train setting
 *   optimizer lbfgs(history=10)            a call tree (below)
 *   decompose layers(mgrit(levels=3,cfactor=4,relax=FCF))
 *   function 0 loss_grad inputs 2 outputs 3   index into exa_functions, kind
 *   metric accuracy output 1 label 1       model output slot and label input
 *   check 2 batched 4 TANH "nn.exa" 8 14 "peaks.exa" 5 9
 *                                          a slot of the loss_check function
 *                                          (--check-numerics): per sample or
 *                                          uniform, reals, op, where it is
 *                                          made, and the user's expression
 *                                          around it (compiler/ir/lower_check.h)
 *   dropout offset 0 size 120 p 0.5        a dropout call site: its slice of
 *                                          the mask input (after the data's
 *                                          fields) and its probability
 *   batchstat offset 60 size 8 momentum 0.1   a batch_mean call site: its
 *                                          running statistic's weights (not
 *                                          trained) and their momentum
 *   fit model "mlp" params "WHY" mgrit "WHY"   why split params / layers(mgrit)
 *                                          do not fit the model ("" : they fit)
 *   fit list "data(), sapts, local_sgd"    the strategies that fit, as exac lists them
 *   solver lbfgs "history steps lr line_search"   an optimiser's argument names
 *   strategy sapts split data formals 2 local_steps int 3 radius float 0.01
 *       expand strategy(name=sapts,...,local=trust_region(steps=$local_steps),...)
 *                                          a declared strategy for --decompose: its
 *                                          formals (type, default or none) and its
 *                                          expansion, $NAME where a formal goes
 *   function 2 predict inputs 2 outputs 1  the model alone (--predict)
 *   predict output shape 1 5               its output per sample
 *   end
 *
 * A call tree is NAME(KEY=VALUE,...) where a value is a number, an
 * identifier, a "string" or another call; positional arguments have keys
 * _0, _1, ...  A user strategy arrives expanded into its primitives:
 * strategy(split=data,into=ranks,local=...,combine=additive,global=...). */
#ifndef EXA_PROGRAM_H
#define EXA_PROGRAM_H

#include <stdint.h>

#include "exa/abi.h"

enum { EXA_MAX_RANK = 6 };

typedef struct ExaShape {
    int rank;
    int64_t dim[EXA_MAX_RANK];
} ExaShape;

typedef enum ExaValueKind { EXA_NUM, EXA_IDENT, EXA_STR, EXA_CALL } ExaValueKind;

typedef struct ExaCall ExaCall;
typedef struct ExaValue {
    ExaValueKind kind;
    double num;
    char *str;      /* identifier or string */
    ExaCall *call;
} ExaValue;

struct ExaCall {
    char *name;
    int nargs;
    char **keys;
    ExaValue *values;
};

typedef enum ExaInit { EXA_INIT_GLOROT, EXA_INIT_HE, EXA_INIT_ZEROS, EXA_INIT_ONES,
                       EXA_INIT_NORMAL, EXA_INIT_UNIFORM } ExaInit;

typedef struct ExaParamInfo {
    char *path;
    int64_t offset, size;
    int stage;
    ExaInit init;
    double init_a, init_b;
    int64_t fan_in, fan_out;
    ExaShape shape;
} ExaParamInfo;

typedef struct ExaFieldInfo {
    char *name;
    int classes;      /* > 0: a class label in 0 .. classes-1; 0: reals */
    ExaShape shape;   /* of one sample's reals */
} ExaFieldInfo;

typedef enum ExaRole { EXA_ROLE_NONE, EXA_ROLE_TRAIN, EXA_ROLE_VALIDATE } ExaRole;

typedef struct ExaDataInfo {
    char *name;
    ExaRole role;
    ExaCall *source;
    int nfields;
    ExaFieldInfo *fields;
} ExaDataInfo;

typedef struct ExaFunctionInfo {
    int index;        /* into exa_functions */
    ExaFunctionKind id; /* EXA_FN_LOSS, ... (exa/functions.def) */
    char *kind;       /* its descriptor word: loss, loss_grad, stage_step, ... */
    int ninputs, noutputs;
} ExaFunctionInfo;

/* One output slot of the loss_check function (--check-numerics): an operation
 * of the forward pass, in definition order, and where the source made it
 * (file:line:col; user_*: the expression of the program's own file around it). */
typedef struct ExaCheckInfo {
    int slot;
    int batched;      /* one tensor per sample (1) or one in all (0) */
    int64_t size;     /* reals per sample (batched) or in all */
    char *op;
    char *file, *user_file;
    int line, col, user_line, user_col;
} ExaCheckInfo;
/* A dropout call site: elements [offset, offset + size) of each sample's
 * mask input, dropped with probability p. */
typedef struct ExaDropoutSite {
    int64_t offset, size;
    double p;
} ExaDropoutSite;

/* A batch_mean call site: the running statistic it keeps, weights
 * [offset, offset + size) of the parameter vector (not trained: the
 * gradient's slots there carry the batch's statistic, which libexa moves it
 * towards by momentum once per optimiser step). */
typedef struct ExaBatchStat {
    int64_t offset, size;
    double momentum;
} ExaBatchStat;

typedef struct ExaSetting {
    char *key;
    ExaValue value;
} ExaSetting;

/* One layer of the chain layers(admm(...)) and neurons() train: a dense
 * layer's weights W (out x in, row-major) and bias b as indices into params;
 * neurons() also reads a convolutional front (conv: W [o, c, k, k], b
 * [o, 1, 1], stride 1; pool: max pooling; one flatten) and dropout after a
 * dense layer's relu (the k-th such layer is dropout site k). */
typedef enum ExaLayerKind { EXA_LAYER_DENSE, EXA_LAYER_CONV, EXA_LAYER_POOL, EXA_LAYER_FLATTEN } ExaLayerKind;
typedef struct ExaChainLayer {
    int w, b;
    int relu;         /* 1: relu after it; 0: none (the last layer) */
    ExaLayerKind kind;
    int padding;      /* conv */
    int window, stride; /* pool */
    int dropout;      /* dense: 1 when dropout follows its relu */
    int bn_g, bn_b, bn_mean, bn_var; /* batch_norm2d's (conv) or batch_norm's (dense) params (g,
                                        b and the running mean, variance) before its relu; -1: none */
} ExaChainLayer;
/* A strategy declared in .exa (stdlib or the program), for --decompose. */
typedef struct ExaStrategyDecl {
    char *name;
    int params;          /* split params by stage (1): needs the stages; split data or
                            params by layer (0: the method counts the layers) */
    int nformals;
    char **formal;
    int *is_int;
    int *has_default;
    double *def;
    ExaCall *expand;     /* strategy(...) with $FORMAL identifiers */
} ExaStrategyDecl;

typedef struct ExaProgram {
    int version;
    int abi;          /* EXA_ABI_VERSION exac compiled for */
    char *source;
    int precision;    /* 4 or 8: bytes per real */
    int64_t nweights;
    int nparams;
    ExaParamInfo *params;
    int nstages;
    int nlayers;          /* `layer` records (layers(admm)), else 0 */
    ExaChainLayer *layers;
    int ndata;
    ExaDataInfo *data;
    int64_t epochs, batch, seed;
    int nsettings;
    ExaSetting *settings;
    ExaCall *optimizer;   /* never NULL after a successful parse */
    ExaCall *decompose;   /* NULL: no decomposition */
    int nfunctions;
    ExaFunctionInfo *functions;
    int accuracy_output, accuracy_label; /* -1 when the loss has no class labels */
    ExaCheckInfo *checks;                /* the loss_check slots, in order */
    int nchecks;
    int ndropout;
    ExaDropoutSite *dropout;
    int64_t dropout_size; /* reals of the mask input per sample; 0: none */
    int nbatchstats;
    ExaBatchStat *batchstats;
    ExaShape predict_shape; /* the predict function's output per sample (rank -1: none) */
    /* the fit facts of the model (NULL model: none recorded) */
    char *fit_model, *fit_params_why, *fit_mgrit_why, *fit_list; /* why: "" when it fits */
    int nstrategies;
    ExaStrategyDecl *strategies;
    int nsolvers;          /* the optimisers exac knows, with their argument names */
    char **solver, **solver_args;
} ExaProgram;

/* Parses text into p.  On failure returns -1 with "line N: what is wrong" in
 * err (errlen bytes), or EXA_PROGRAM_ABI_MISMATCH with a sentence saying the
 * program was compiled for another libexa (nothing else is read then). */
enum { EXA_PROGRAM_ABI_MISMATCH = -2 };
int exa_program_parse(const char *text, ExaProgram *p, char *err, int errlen);
void exa_program_free(ExaProgram *p);

const ExaDataInfo *exa_program_data(const ExaProgram *p, ExaRole role);
/* The function of a kind, or NULL: by ExaFunctionKind, or by its word. */
const ExaFunctionInfo *exa_program_function_of(const ExaProgram *p, ExaFunctionKind kind);
const ExaFunctionInfo *exa_program_function(const ExaProgram *p, const char *kind);
const ExaSetting *exa_program_setting(const ExaProgram *p, const char *key);

/* Looks up an argument of a call: NULL when absent. */
const ExaValue *exa_call_arg(const ExaCall *c, const char *key);
double exa_call_num(const ExaCall *c, const char *key, double fallback);
const char *exa_call_ident(const ExaCall *c, const char *key, const char *fallback);
/* Writes the call back as text (for messages and --describe). */
void exa_call_print(const ExaCall *c, char *buf, int len);
/* A deep copy of c, and freeing one (the calls of a parsed program are
 * freed with it). */
ExaCall *exa_call_copy(const ExaCall *c);
void exa_call_free(ExaCall *c);
/* A call written in .exa syntax, NAME(KEY: VALUE, VALUE, ...): numbers,
 * identifiers, "strings" and calls, positional arguments as _0, _1, ...;
 * NULL with "what is wrong at column N" in err. */
ExaCall *exa_call_parse_exa(const char *text, char *err, int errlen);

#endif
