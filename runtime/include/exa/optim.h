/* optim.h - optimisers over flat parameter vectors.
 *
 * Each optimiser is a state struct (settings, counters, buffers it owns) and
 * a step function.  SGD and Adam update x in place from a gradient and come
 * in _f64 and _f32 versions for the two precisions a program compiles to;
 * their state buffers have the precision of the parameters.  L-BFGS and the
 * trust region evaluate the objective themselves, through a callback
 *
 *     double f(void *ctx, const double *x, double *g)   returns f(x), writes g
 *
 * and work in double; an f32 program passes a callback that converts (the
 * vectors are copied once per evaluation, which is small next to a forward
 * and backward pass).  All functions returning int return 0 on success.
 *
 * Defaults follow PyTorch (SGD, Adam, L-BFGS's history 100 aside) and, for the
 * trust region, METHODS.md (DD4ML's tr.py). */
#ifndef EXA_OPTIM_H
#define EXA_OPTIM_H

#include <stdint.h>

typedef double (*ExaObjective)(void *ctx, const double *x, double *g);

/* ---- SGD with momentum (torch.optim.SGD) ----
 * g' = g + wd x;  b = g' on the first step, else b = mu b + (1 - dampening) g';
 * d = nesterov ? g' + mu b : b;  x -= lr d.  No buffer when momentum is 0. */
typedef struct ExaSgdConfig {
    double lr, momentum, dampening, weight_decay;
    int nesterov;
} ExaSgdConfig;

typedef struct ExaSgd {
    ExaSgdConfig cfg;
    int64_t n, steps;
    int f64;   /* precision of buf: 1 double, 0 float */
    void *buf; /* momentum buffer, n values, or NULL */
} ExaSgd;

int exa_sgd_init(ExaSgd *s, ExaSgdConfig cfg, int64_t n, int f64);
void exa_sgd_step_f64(ExaSgd *s, double *x, const double *g);
void exa_sgd_step_f32(ExaSgd *s, float *x, const float *g);
/* The same step on the gradient scale * g, the product taken in double
 * inside the update (no pass over g: data()'s sharded sum leaves the share
 * weighting to the step, methods/data.c); scale 1 gives the plain step's bits. */
void exa_sgd_step_scaled_f64(ExaSgd *s, double *x, const double *g, double scale);
void exa_sgd_step_scaled_f32(ExaSgd *s, float *x, const float *g, double scale);
/* The same on the gradient g0 + g1, the two parts added in their own type
 * inside the update (data() at two ranks on one node: its piece of both
 * ranks' gradients read where they lie, no pass that adds them first):
 * exactly the scaled step on a vector holding g0[i] + g1[i]. */
void exa_sgd_step_sum2_scaled_f64(ExaSgd *s, double *x, const double *g0, const double *g1, double scale);
void exa_sgd_step_sum2_scaled_f32(ExaSgd *s, float *x, const float *g0, const float *g1, double scale);
/* Without momentum: the step on every coordinate outside the `nskip` ranges
 * skip[i] = [offset, count) (the weights loss_grad stepped in its GEMMs,
 * exa/abi.h ExaArgs.sgd), counted as one step; the rest's bits are the
 * plain step's.  elem: 4 (float) or 8 (double) x and g. */
void exa_sgd_step_except(ExaSgd *s, int elem, void *x, const void *g, const int64_t (*skip)[2], int nskip);
void exa_sgd_free(ExaSgd *s);

/* ---- Adam (torch.optim.Adam, defaults lr 1e-3, betas 0.9/0.999, eps 1e-8) ----
 * g' = g + wd x (L2), or with decoupled set x -= lr wd x first and g' = g
 * (torch.optim.AdamW);  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
 * x -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
typedef struct ExaAdamConfig {
    double lr, beta1, beta2, eps, weight_decay;
    int decoupled;
} ExaAdamConfig;

typedef struct ExaAdam {
    ExaAdamConfig cfg;
    int64_t n, t; /* t: steps taken */
    int f64;
    void *m, *v;  /* first and second moments, n values each */
} ExaAdam;

ExaAdamConfig exa_adam_defaults(void);
int exa_adam_init(ExaAdam *a, ExaAdamConfig cfg, int64_t n, int f64);
void exa_adam_step_f64(ExaAdam *a, double *x, const double *g);
void exa_adam_step_f32(ExaAdam *a, float *x, const float *g);
/* On the gradient scale * g, as exa_sgd_step_scaled_*. */
void exa_adam_step_scaled_f64(ExaAdam *a, double *x, const double *g, double scale);
void exa_adam_step_scaled_f32(ExaAdam *a, float *x, const float *g, double scale);
void exa_adam_free(ExaAdam *a);
/* Begins a step as exa_adam_step_* does (t counts it) and gives what every
 * coordinate shares, for a device kernel (codegen_cuda.c's exa_opt_adam):
 * keep (1 - lr wd for AdamW), wd, beta1, beta2, lr / bc1, 1 / sqrt(bc2), eps. */
void exa_adam_constants(ExaAdam *a, double k[7]);

/* ---- strong-Wolfe line search (Nocedal & Wright, Algorithms 3.5 and 3.6) ----
 * Along d from x (f0 = f(x), g0 = its gradient, g0'd < 0) finds alpha with
 *   f(x + alpha d) <= f0 + c1 alpha g0'd   and   |g(x + alpha d)'d| <= c2 |g0'd|,
 * starting at *alpha, zooming with safeguarded cubic interpolation.  On return
 * xn, fn, gn hold the accepted point.  Returns 0, or -1 if max_evals ran out
 * (xn, fn, gn then hold the best point seen that decreased f, or x itself). */
typedef struct ExaLineSearch {
    double c1, c2;     /* 1e-4, 0.9 */
    double alpha_max;  /* 1e10 */
    int max_evals;     /* 25 */
    int evals;         /* out: evaluations used */
} ExaLineSearch;

ExaLineSearch exa_line_search_defaults(void);
int exa_line_search_wolfe(ExaLineSearch *ls, ExaObjective f, void *ctx, int64_t n, const double *x,
                          double f0, const double *g0, const double *d, double *alpha,
                          double *xn, double *fn, double *gn);

/* ---- L-BFGS (two-loop recursion, history m, strong-Wolfe steps) ----
 * exa_lbfgs_step takes one iteration from x, whose value *fx and gradient g
 * the caller holds (the first from one call of f), and updates all three. */
typedef struct ExaLbfgsConfig {
    int history;    /* 10 */
    ExaLineSearch ls;
} ExaLbfgsConfig;

typedef struct ExaLbfgs {
    ExaLbfgsConfig cfg;
    int64_t n, iter;
    int stored, head;    /* pairs held; index of the oldest */
    double *s, *y, *rho; /* history: s[i*n..], y[i*n..], 1/(y's) */
    double *alpha, *d, *xn, *gn; /* work */
} ExaLbfgs;

ExaLbfgsConfig exa_lbfgs_defaults(void);
int exa_lbfgs_init(ExaLbfgs *o, ExaLbfgsConfig cfg, int64_t n);
/* Returns 0 on a step taken, 1 if the gradient is zero (nothing to do), -1 if
 * the line search failed even along -g (x is then unchanged). */
int exa_lbfgs_step(ExaLbfgs *o, ExaObjective f, void *ctx, double *x, double *fx, double *g);
/* Steps until ||g||_inf <= gtol or max_iter steps; returns the steps taken,
 * or -1 - steps on a line-search failure.  Evaluates f at x first. */
int exa_lbfgs_minimize(ExaLbfgs *o, ExaObjective f, void *ctx, double *x, double *fx, double gtol,
                       int max_iter);
void exa_lbfgs_free(ExaLbfgs *o);

/* ---- trust region (METHODS.md "Standard trust region") ----
 * First-order model: s = -Delta g/||g||, pred = Delta ||g||.  L-SR1 model
 * (memory pairs): the dogleg from the Cauchy point -(g'g/g'Bg) g towards the
 * quasi-Newton point -B^{-1} g, within Delta; pred = -(g's + s'Bs/2).
 * rho = (f(x) - f(x+s)) / pred; accept if rho > eta_accept; then if rho >
 * eta_expand and ||s|| >= near_boundary Delta: Delta = min(expand Delta,
 * delta_max); on rejection Delta = max(shrink Delta, delta_min).  Secant
 * pairs are stored on acceptance only. */
typedef struct ExaTrustConfig {
    int memory;         /* 0: first-order model; > 0: L-SR1 with this many pairs (5) */
    double delta0;      /* 0.1 */
    double delta_min;   /* 0.01 */
    double delta_max;   /* 1 */
    double eta_accept;  /* 0.25 */
    double eta_expand;  /* 0.75 */
    double expand;      /* 1.2 */
    double shrink;      /* 0.9 */
    double near_boundary; /* 0.9 */
} ExaTrustConfig;

typedef struct ExaTrust {
    ExaTrustConfig cfg;
    int64_t n, iter;
    double delta;
    double rho;          /* out: ratio of the last step */
    int accepted;        /* out: whether the last step was accepted */
    int stored, head;
    double gamma;        /* B0 = gamma I */
    double *s, *y;       /* pairs, as in ExaLbfgs */
    double *u, *us;      /* SR1 terms: B = gamma I + sum_j u_j u_j' / us_j */
    int *used;           /* whether pair j contributes (well-defined update) */
    double *step, *xn, *gn, *w1, *w2, *w3, *w4;
} ExaTrust;

ExaTrustConfig exa_trust_defaults(void);
int exa_trust_init(ExaTrust *t, ExaTrustConfig cfg, int64_t n);
/* One trust-region iteration from x with value *fx and gradient g; updates
 * them on acceptance.  Returns 1 if g is zero, else 0. */
int exa_trust_step(ExaTrust *t, ExaObjective f, void *ctx, double *x, double *fx, double *g);
void exa_trust_free(ExaTrust *t);

/* B v for the current L-SR1 model (gamma v with no pairs). */
void exa_trust_model_apply(const ExaTrust *t, const double *v, double *out);

/* ---- float objectives ----
 * Adapts `float f(void *ctx, const float *x, float *g)` to ExaObjective:
 * fill an ExaF32Objective and pass exa_f32_objective with it as ctx. */
typedef float (*ExaObjectiveF32)(void *ctx, const float *x, float *g);
typedef struct ExaF32Objective {
    ExaObjectiveF32 f;
    void *ctx;
    int64_t n;
    float *x, *g; /* n floats each, caller-provided */
} ExaF32Objective;

double exa_f32_objective(void *ctx, const double *x, double *g);

#endif
