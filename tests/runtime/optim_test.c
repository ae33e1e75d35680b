/* optim_test.c - the optimisers: SGD and Adam against hand-computed first
 * steps in both precisions; the strong Wolfe conditions at every point the
 * line search returns; L-BFGS, trust region (first order and L-SR1) on the
 * Rosenbrock function and on convex quadratics, each to a stated tolerance
 * within a stated number of iterations; SGD's L2 weight decay with Nesterov
 * momentum, AdamW's decoupled and Adam's L2 decay against hand-computed
 * steps; the scaled steps against the plain step on a scaled gradient, the
 * step on two parts against the step on their sum; the momentum-free step
 * without weight decay against the update with its +0 term written out, bit
 * for bit, signed zeros included. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exa/optim.h"

static int evals;

/* f = 100 (y - x^2)^2 + (1 - x)^2, minimum 0 at (1, 1) */
static double rosenbrock(void *ctx, const double *x, double *g)
{
    (void)ctx;
    evals++;
    double a = x[1] - x[0] * x[0], b = 1 - x[0];
    g[0] = -400 * a * x[0] - 2 * b;
    g[1] = 200 * a;
    return 100 * a * a + b * b;
}

/* f = sum_i lambda_i (x_i - 1)^2 / 2 with lambda_i = 1 + 9 i/(n-1): minimum 0 at
 * x = 1, condition number 10; ctx points to n */
static double quadratic(void *ctx, const double *x, double *g)
{
    int n = *(int *)ctx;
    double f = 0;
    evals++;
    for (int i = 0; i < n; i++) {
        double lam = 1 + 9.0 * i / (n - 1), e = x[i] - 1;
        g[i] = lam * e;
        f += 0.5 * lam * e * e;
    }
    return f;
}

static float quadratic_f32(void *ctx, const float *x, float *g)
{
    int n = *(int *)ctx;
    float f = 0;
    for (int i = 0; i < n; i++) {
        float lam = 1 + 9.0f * (float)i / (float)(n - 1), e = x[i] - 1;
        g[i] = lam * e;
        f += 0.5f * lam * e * e;
    }
    return f;
}

static void sgd_by_hand(void)
{
    /* f = x^2/2, g = x, x0 = 1, lr 0.1, momentum 0.9:
     * step 1: b = 1, x = 0.9; step 2: b = 0.9 * 1 + 0.9 = 1.8, x = 0.72.
     * Nesterov, step 1: b = 1, d = g + 0.9 b = 1.9, x = 0.81. */
    ExaSgd s;
    ExaSgdConfig cfg = {.lr = 0.1, .momentum = 0.9};
    double x = 1;
    CHECK(exa_sgd_init(&s, cfg, 1, 1) == 0);
    double g = x;
    exa_sgd_step_f64(&s, &x, &g);
    CHECK_NEAR(x, 0.9, 1e-15);
    g = x;
    exa_sgd_step_f64(&s, &x, &g);
    CHECK_NEAR(x, 0.72, 1e-15);
    exa_sgd_free(&s);
    cfg.nesterov = 1;
    float xf = 1, gf = 1;
    CHECK(exa_sgd_init(&s, cfg, 1, 0) == 0);
    exa_sgd_step_f32(&s, &xf, &gf);
    CHECK_NEAR(xf, 0.81f, 0);
    exa_sgd_free(&s);
}

static void adam_by_hand(void)
{
    /* lr 0.1, PyTorch's betas and eps, gradients 0.5, -1, 0.25 from x = 1:
     * t=1: m = 0.05, v = 2.5e-4, m^ = 0.5, v^ = 0.25: x = 1 - 0.1 * 0.5/(0.5 + 1e-8)
     * t=2: m = -0.055, v = 1.24975e-3, m^ = -0.055/0.19, v^ = 1.24975e-3/1.999e-3
     * t=3: likewise; the values below are those formulas evaluated in double. */
    const double want[3] = {0.900000002, 0.9366103542405654, 0.9502794203389762};
    const double grads[3] = {0.5, -1.0, 0.25};
    ExaAdamConfig cfg = exa_adam_defaults();
    CHECK(cfg.lr == 1e-3 && cfg.beta1 == 0.9 && cfg.beta2 == 0.999 && cfg.eps == 1e-8);
    cfg.lr = 0.1;
    ExaAdam a, af;
    CHECK(exa_adam_init(&a, cfg, 1, 1) == 0 && exa_adam_init(&af, cfg, 1, 0) == 0);
    double x = 1;
    float xf = 1;
    for (int t = 0; t < 3; t++) {
        float gf = (float)grads[t];
        exa_adam_step_f64(&a, &x, &grads[t]);
        exa_adam_step_f32(&af, &xf, &gf);
        CHECK_NEAR(x, want[t], 1e-15);
        CHECK_NEAR(xf, want[t], 1e-7);
    }
    exa_adam_free(&a);
    exa_adam_free(&af);
}

static void weight_decay_by_hand(void)
{
    /* SGD, L2 weight decay 0.1 with Nesterov momentum 0.9, lr 0.1, f = x^2/2
     * from x = 1: g' = 1 + 0.1 = 1.1, b = 1.1, d = 1.1 + 0.9 * 1.1 = 2.09,
     * x = 1 - 0.209 = 0.791. */
    ExaSgd s;
    ExaSgdConfig cfg = {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = 1};
    double x = 1, g = 1;
    CHECK(exa_sgd_init(&s, cfg, 1, 1) == 0);
    exa_sgd_step_f64(&s, &x, &g);
    CHECK_NEAR(x, 0.791, 1e-15);
    exa_sgd_free(&s);
    /* AdamW (decoupled), lr 0.1, weight decay 0.1, g = 0.5 from x = 1:
     * x = 1 (1 - 0.01) = 0.99, then m^ = 0.5, v^ = 0.25:
     * x = 0.99 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.890000002 (to 4e-17).
     * Adam with L2 decay instead: g' = 0.6, x = 1 - 0.1 * 0.6 / (0.6 + 1e-8). */
    ExaAdamConfig ac = exa_adam_defaults();
    ac.lr = 0.1, ac.weight_decay = 0.1, ac.decoupled = 1;
    ExaAdam a, af;
    CHECK(exa_adam_init(&a, ac, 1, 1) == 0 && exa_adam_init(&af, ac, 1, 0) == 0);
    x = 1, g = 0.5;
    float xf = 1, gf = 0.5f;
    exa_adam_step_f64(&a, &x, &g);
    exa_adam_step_f32(&af, &xf, &gf);
    CHECK_NEAR(x, 0.890000002, 1e-15);
    CHECK_NEAR(xf, 0.890000002, 1e-7);
    exa_adam_free(&a);
    exa_adam_free(&af);
    ac.decoupled = 0;
    CHECK(exa_adam_init(&a, ac, 1, 1) == 0);
    x = 1, g = 0.5;
    exa_adam_step_f64(&a, &x, &g);
    CHECK_NEAR(x, 1 - 0.1 * 0.6 / (0.6 + 1e-8), 1e-15);
    exa_adam_free(&a);
}

/* Runs the line search along -g from x and asserts the strong Wolfe
 * conditions at the point it returns. */
static void wolfe_at(double x0, double x1, double alpha0)
{
    double x[2] = {x0, x1}, g[2], d[2], xn[2], gn[2], fn, alpha = alpha0;
    double f0 = rosenbrock(NULL, x, g);
    d[0] = -g[0];
    d[1] = -g[1];
    ExaLineSearch ls = exa_line_search_defaults();
    int rc = exa_line_search_wolfe(&ls, rosenbrock, NULL, 2, x, f0, g, d, &alpha, xn, &fn, gn);
    double dg0 = g[0] * d[0] + g[1] * d[1], dgn = gn[0] * d[0] + gn[1] * d[1];
    CHECK(rc == 0);
    CHECK(alpha > 0);
    CHECK(fn <= f0 + ls.c1 * alpha * dg0);    /* sufficient decrease */
    CHECK(fabs(dgn) <= ls.c2 * fabs(dg0));   /* strong curvature */
    double check[2];
    CHECK_NEAR(rosenbrock(NULL, xn, check), fn, 0);
    CHECK(xn[0] == x[0] + alpha * d[0] && xn[1] == x[1] + alpha * d[1]);
}

static void line_search(void)
{
    wolfe_at(-1.2, 1, 1);     /* from the classic start, overshooting */
    wolfe_at(-1.2, 1, 1e-6);  /* too short: must extrapolate */
    wolfe_at(0.5, -0.3, 1e3); /* far too long: must zoom back */
    wolfe_at(2, 2, 1e-3);
}

static void lbfgs(void)
{
    /* Rosenbrock from (-1.2, 1): to |x - (1,1)| < 1e-6 within 100 iterations */
    ExaLbfgs o;
    CHECK(exa_lbfgs_init(&o, exa_lbfgs_defaults(), 2) == 0);
    double x[2] = {-1.2, 1}, fx;
    int k = exa_lbfgs_minimize(&o, rosenbrock, NULL, x, &fx, 1e-9, 100);
    printf("L-BFGS Rosenbrock: %d iterations, x = (%.10f, %.10f)\n", k, x[0], x[1]);
    CHECK(k > 0 && k < 100);
    CHECK_NEAR(x[0], 1, 1e-6);
    CHECK_NEAR(x[1], 1, 1e-6);
    exa_lbfgs_free(&o);

    /* a quadratic in n = 40 dimensions, history >= n: ||g||_inf < 1e-8 in
     * about n iterations (allowed: 1.5 n) */
    int n = 40;
    ExaLbfgsConfig cfg = exa_lbfgs_defaults();
    cfg.history = n;
    CHECK(exa_lbfgs_init(&o, cfg, n) == 0);
    double *xq = calloc((size_t)n, sizeof *xq);
    k = exa_lbfgs_minimize(&o, quadratic, &n, xq, &fx, 1e-8, 200);
    printf("L-BFGS quadratic n=%d: %d iterations, f = %.3g\n", n, k, fx);
    CHECK(k > 0 && k <= 3 * n / 2);
    for (int i = 0; i < n; i++)
        CHECK_NEAR(xq[i], 1, 1e-8);
    exa_lbfgs_free(&o);

    /* the same through a float objective: to 1e-5 */
    float xs[40], gs[40];
    ExaF32Objective adapter = {quadratic_f32, &n, n, xs, gs};
    CHECK(exa_lbfgs_init(&o, cfg, n) == 0);
    for (int i = 0; i < n; i++)
        xq[i] = 0;
    k = exa_lbfgs_minimize(&o, exa_f32_objective, &adapter, xq, &fx, 1e-5, 200);
    CHECK(k > 0 || k < -10); /* float rounding may end the search: then f must be tiny */
    for (int i = 0; i < n; i++)
        CHECK_NEAR(xq[i], 1, 1e-4);
    exa_lbfgs_free(&o);
    free(xq);
}

/* Runs the trust region from x to |x - 1| < tol, returns the iterations. */
static int trust_run(ExaTrustConfig cfg, ExaObjective f, void *ctx, int n, double *x, double tol,
                     int max_iter)
{
    ExaTrust t;
    double *g = malloc((size_t)n * sizeof *g), fx = f(ctx, x, g);
    CHECK(exa_trust_init(&t, cfg, n) == 0);
    int k = 0;
    for (; k < max_iter; k++) {
        double err = 0;
        for (int i = 0; i < n; i++)
            err = fmax(err, fabs(x[i] - 1));
        if (err < tol || exa_trust_step(&t, f, ctx, x, &fx, g) == 1)
            break;
        CHECK(t.delta >= cfg.delta_min && t.delta <= cfg.delta_max);
    }
    exa_trust_free(&t);
    free(g);
    return k;
}

static void trust_region(void)
{
    ExaTrustConfig cfg = exa_trust_defaults();
    CHECK(cfg.memory == 5 && cfg.delta0 == 0.1 && cfg.delta_min == 0.01 && cfg.delta_max == 1);
    CHECK(cfg.eta_accept == 0.25 && cfg.eta_expand == 0.75 && cfg.expand == 1.2 && cfg.shrink == 0.9);

    /* L-SR1.  With delta_min = 0.01 the method stalls once it needs steps
     * shorter than 0.01 and the model overshoots (pairs are only stored on
     * acceptance, so a rejected step is proposed again), so the convergence
     * tests lower delta_min to 1e-10. */
    cfg.delta_min = 1e-10;
    double x[2] = {-1.2, 1};
    int k = trust_run(cfg, rosenbrock, NULL, 2, x, 1e-6, 3000);
    printf("TR L-SR1 Rosenbrock: %d iterations, x = (%.8f, %.8f)\n", k, x[0], x[1]);
    CHECK(k < 600);

    /* L-SR1 on the n = 10 quadratic: to 1e-6 within 300 iterations */
    int n = 10;
    double xq[10] = {0};
    k = trust_run(cfg, quadratic, &n, n, xq, 1e-6, 3000);
    printf("TR L-SR1 quadratic n=%d: %d iterations\n", n, k);
    CHECK(k < 300);

    /* first-order model: steps of length delta along -g; with delta_min
     * lowered to 1e-6 it reaches 1e-3 on the quadratic within 500 iterations */
    cfg.memory = 0;
    cfg.delta_min = 1e-6;
    cfg.delta0 = 0.1;
    for (int i = 0; i < n; i++)
        xq[i] = 0;
    k = trust_run(cfg, quadratic, &n, n, xq, 1e-3, 5000);
    printf("TR first order quadratic n=%d: %d iterations\n", n, k);
    CHECK(k < 500);
}

static void trust_rules(void)
{
    /* one rejected step shrinks delta by 0.9; an accepted, well-predicted
     * step on the boundary grows it by 1.2 and stores a pair */
    ExaTrustConfig cfg = exa_trust_defaults();
    ExaTrust t;
    CHECK(exa_trust_init(&t, cfg, 2) == 0);
    double x[2] = {-1.2, 1}, g[2], fx = rosenbrock(NULL, x, g);
    t.delta = 1; /* too long a step from here */
    exa_trust_step(&t, rosenbrock, NULL, x, &fx, g);
    CHECK(!t.accepted && t.stored == 0 && t.delta == 0.9 && x[0] == -1.2);
    exa_trust_free(&t);
    int n = 10;
    double xq[10] = {0}, gq[10];
    CHECK(exa_trust_init(&t, cfg, n) == 0);
    fx = quadratic(&n, xq, gq);
    exa_trust_step(&t, quadratic, &n, xq, &fx, gq);
    CHECK(t.accepted && t.stored == 1 && fabs(t.delta - 0.12) < 1e-15);
    exa_trust_free(&t);
}

/* The scaled steps (exa_*_step_scaled_*: data()'s sharded sum leaves the
 * ranks' share to the step) against the plain step on the gradient scaled
 * beforehand as data() did (s * g in double, rounded to the precision):
 * bit-identical in f64 for any s and in f32 for s = 1/2 (exact); over 1003
 * coordinates, so the vector loops (target_clones) and their tails run. */
enum { SCALED_N = 1003 };
static void scaled_steps(void)
{
    static double x64[2][SCALED_N], g64[SCALED_N], gs64[SCALED_N];
    static float x32[2][SCALED_N], g32[SCALED_N], gs32[SCALED_N];
    const double scales[2] = { 1.0 / 3, 0.5 };
    for (int opt = 0; opt < 3; opt++) /* SGD, SGD with momentum and Nesterov, Adam */
        for (int f64 = 0; f64 < 2; f64++) {
            double sc = scales[!f64];
            for (int i = 0; i < SCALED_N; i++) {
                x64[0][i] = x64[1][i] = sin(0.37 * i), g64[i] = cos(1.3 * i) * (1 + i % 7);
                gs64[i] = sc * g64[i];
                x32[0][i] = x32[1][i] = (float)x64[0][i], g32[i] = (float)g64[i];
                gs32[i] = (float)(sc * (double)g32[i]);
            }
            ExaSgd s[2];
            ExaAdam a[2];
            for (int k = 0; k < 2; k++) {
                if (opt < 2)
                    CHECK(exa_sgd_init(&s[k], (ExaSgdConfig){ .lr = 0.1, .momentum = opt ? 0.9 : 0,
                                                              .weight_decay = 0.01, .nesterov = opt },
                                       SCALED_N, f64) == 0);
                else
                    CHECK(exa_adam_init(&a[k], exa_adam_defaults(), SCALED_N, f64) == 0);
            }
            for (int step = 0; step < 3; step++) { /* the momentum's and moments' later steps too */
                if (opt < 2 && f64) {
                    exa_sgd_step_scaled_f64(&s[0], x64[0], g64, sc);
                    exa_sgd_step_f64(&s[1], x64[1], gs64);
                } else if (opt < 2) {
                    exa_sgd_step_scaled_f32(&s[0], x32[0], g32, sc);
                    exa_sgd_step_f32(&s[1], x32[1], gs32);
                } else if (f64) {
                    exa_adam_step_scaled_f64(&a[0], x64[0], g64, sc);
                    exa_adam_step_f64(&a[1], x64[1], gs64);
                } else {
                    exa_adam_step_scaled_f32(&a[0], x32[0], g32, sc);
                    exa_adam_step_f32(&a[1], x32[1], gs32);
                }
            }
            int same = 1, moved = 0;
            for (int i = 0; i < SCALED_N; i++) {
                same &= f64 ? x64[0][i] == x64[1][i] : x32[0][i] == x32[1][i];
                moved |= f64 ? x64[0][i] != sin(0.37 * i) : x32[0][i] != (float)sin(0.37 * i);
            }
            CHECK(same && moved);
            for (int k = 0; k < 2; k++) {
                if (opt < 2)
                    exa_sgd_free(&s[k]);
                else
                    exa_adam_free(&a[k]);
            }
        }
}

/* The SGD step on two parts (exa_sgd_step_sum2_scaled_*: data() at two
 * ranks on one node adds them inside the update) against the scaled step on
 * a vector holding their sum in the same type: bit-identical, with and
 * without momentum, in both precisions, over three steps. */
static void sum2_steps(void)
{
    static double x64[2][SCALED_N], a64[SCALED_N], b64[SCALED_N], s64[SCALED_N];
    static float x32[2][SCALED_N], a32[SCALED_N], b32[SCALED_N], s32[SCALED_N];
    for (int opt = 0; opt < 2; opt++)
        for (int f64 = 0; f64 < 2; f64++) {
            for (int i = 0; i < SCALED_N; i++) {
                x64[0][i] = x64[1][i] = sin(0.37 * i), a64[i] = cos(1.3 * i), b64[i] = sin(2.1 * i) / 3;
                s64[i] = a64[i] + b64[i];
                x32[0][i] = x32[1][i] = (float)x64[0][i], a32[i] = (float)a64[i], b32[i] = (float)b64[i];
                s32[i] = a32[i] + b32[i];
            }
            ExaSgd s[2];
            for (int k = 0; k < 2; k++)
                CHECK(exa_sgd_init(&s[k], (ExaSgdConfig){ .lr = 0.1, .momentum = opt ? 0.9 : 0,
                                                          .weight_decay = 0.01, .nesterov = opt },
                                   SCALED_N, f64) == 0);
            for (int step = 0; step < 3; step++) {
                if (f64) {
                    exa_sgd_step_sum2_scaled_f64(&s[0], x64[0], a64, b64, 0.5);
                    exa_sgd_step_scaled_f64(&s[1], x64[1], s64, 0.5);
                } else {
                    exa_sgd_step_sum2_scaled_f32(&s[0], x32[0], a32, b32, 0.5);
                    exa_sgd_step_scaled_f32(&s[1], x32[1], s32, 0.5);
                }
            }
            int same = 1, moved = 0;
            for (int i = 0; i < SCALED_N; i++) {
                same &= f64 ? x64[0][i] == x64[1][i] : x32[0][i] == x32[1][i];
                moved |= f64 ? x64[0][i] != sin(0.37 * i) : x32[0][i] != (float)sin(0.37 * i);
            }
            CHECK(same && moved);
            for (int k = 0; k < 2; k++)
                exa_sgd_free(&s[k]);
        }
}

/* SGD without momentum and a weight decay of +0 leaves the decay's term
 * out of its update (optim.c, no_decay): bit for bit the update with the
 * term (x - lr (gs g + 0 x), computed here in double as the step does),
 * signed zeros included, for the plain, scaled and two-part steps in both
 * precisions; a decay of -0, which would change -0 to +0, keeps its term. */
static void zero_decay_steps(void)
{
    enum { N = 64 };
    static const double zx[] = { 0.0, -0.0, 0.75, -1.5 }, zg[] = { 0.0, -0.0, 0.25, -2.0 };
    for (int neg = 0; neg < 2; neg++)
        for (int two = 0; two < 2; two++)
            for (int f64 = 0; f64 < 2; f64++) {
                volatile double wd = neg ? -0.0 : 0.0; /* not folded: the term as the step had it */
                double x64[N], g64[N], h64[N], want64[N], gs = two ? 0.5 : 1;
                float x32[N], g32[N], h32[N], want32[N];
                for (int i = 0; i < N; i++) {
                    /* every pair of signed zeros and values, then mixed values */
                    x64[i] = i < 16 ? zx[i % 4] : sin(0.37 * i);
                    g64[i] = i < 16 ? zg[i / 4] : cos(1.3 * i);
                    h64[i] = i < 16 ? (i / 4 == 1 ? -0.0 : 0.0) : sin(2.1 * i) / 3;
                    x32[i] = (float)x64[i], g32[i] = (float)g64[i], h32[i] = (float)h64[i];
                    double d = two ? g64[i] + h64[i] : g64[i];
                    want64[i] = x64[i] - 0.1 * (gs * d + wd * x64[i]);
                    float f = two ? g32[i] + h32[i] : g32[i];
                    want32[i] = (float)(x32[i] - 0.1 * (gs * f + wd * (double)x32[i]));
                }
                ExaSgd s;
                CHECK(exa_sgd_init(&s, (ExaSgdConfig){ .lr = 0.1, .weight_decay = wd }, N, f64) == 0);
                if (f64 && two)
                    exa_sgd_step_sum2_scaled_f64(&s, x64, g64, h64, gs);
                else if (f64)
                    exa_sgd_step_f64(&s, x64, g64);
                else if (two)
                    exa_sgd_step_sum2_scaled_f32(&s, x32, g32, h32, gs);
                else
                    exa_sgd_step_f32(&s, x32, g32);
                CHECK(f64 ? !memcmp(x64, want64, sizeof x64) : !memcmp(x32, want32, sizeof x32));
                /* the case that tells them apart is in: x = g = -0 gives +0
                 * with the +0 term, -0 with the -0 one, +0 without a term */
                CHECK(!!signbit(f64 ? x64[5] : x32[5]) == neg);
                exa_sgd_free(&s);
            }
}

int main(void)
{
    sgd_by_hand();
    adam_by_hand();
    weight_decay_by_hand();
    line_search();
    lbfgs();
    trust_region();
    trust_rules();
    scaled_steps();
    sum2_steps();
    zero_decay_steps();
    CHECK_DONE();
}
