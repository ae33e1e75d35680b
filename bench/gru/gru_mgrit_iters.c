/* gru_mgrit_iters.c - MGRIT iterations for the implicit GRU recurrence at
 * sequence lengths the exa compiler cannot unroll quickly (bench/gru_mgrit.sh).
 *
 * The step is nn.exa's gru_implicit written out in C (one input feature,
 * hidden width n, batch B; the rows x_t are a generated signal):
 *     r = s(Wr x + br + Ur h), z = s(Wz x + bz + Uz h), c = tanh(Wn x + bn + r (Un h))
 *     a = dt (1 - z),  h+ = (h + a c) / (1 + a)
 * solved by libexa's MGRIT (exa/mgrit.h, the solver layers(mgrit) runs) with
 * the settings of the command line, from the guess h_i = 0 everywhere, as
 * layers.c starts a solve without a warm start.  Weights ~ N(0, 1/n) (seed
 * fixed).  Prints one line: T, levels, iterations to the tolerance, the first
 * and last residual and the mean convergence factor per iteration.
 *
 * usage: gru_mgrit_iters T [n B cfactor levels tol maxiter] (mpirun for ranks) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exa/mgrit.h"

typedef struct App {
    int64_t T;
    int n, B;
    double *W, *b, *U; /* W, b: [3n] (input weight per gate, one feature); U: [3n, n] */
    double *x;         /* [T, B] the input signal */
    double *pre;       /* scratch [3n] */
} App;

static double sig(double v) { return 1 / (1 + exp(-v)); }

static int step(void *app, int level, int64_t i, double dt, void *u)
{
    (void)level;
    App *a = app;
    double *h = u;
    int n = a->n;
    double *hn = malloc((size_t)n * sizeof *hn);
    if (!hn)
        return -1;
    for (int s = 0; s < a->B; s++) {
        double *hs = h + (size_t)s * (size_t)n, x = a->x[i * a->B + s];
        for (int g = 0; g < 3 * n; g++) {
            double acc = 0;
            for (int k = 0; k < n; k++)
                acc += a->U[(size_t)g * (size_t)n + (size_t)k] * hs[k];
            a->pre[g] = acc;
        }
        for (int k = 0; k < n; k++) {
            double r = sig(a->W[k] * x + a->b[k] + a->pre[k]);
            double z = sig(a->W[n + k] * x + a->b[n + k] + a->pre[n + k]);
            double c = tanh(a->W[2 * n + k] * x + a->b[2 * n + k] + r * a->pre[2 * n + k]);
            double al = dt * (1 - z);
            hn[k] = (hs[k] + al * c) / (1 + al);
        }
        memcpy(hs, hn, (size_t)n * sizeof *hn);
    }
    free(hn);
    return 0;
}

static size_t bytes(const App *a) { return (size_t)a->B * (size_t)a->n * sizeof(double); }
static void *init(void *app, int64_t i) { (void)i; return calloc(1, bytes(app)); }
static void *clone(void *app, const void *u)
{
    void *v = malloc(bytes(app));
    if (v)
        memcpy(v, u, bytes(app));
    return v;
}
static void release(void *app, void *u) { (void)app; free(u); }
static int sum(void *app, double al, const void *x, double be, void *y)
{
    const App *a = app;
    const double *xs = x;
    double *ys = y;
    for (int i = 0; i < a->B * a->n; i++)
        ys[i] = al * xs[i] + (be == 0 ? 0 : be * ys[i]);
    return 0;
}
static double norm(void *app, const void *u)
{
    const App *a = app;
    const double *v = u;
    double s = 0;
    for (int i = 0; i < a->B * a->n; i++)
        s += v[i] * v[i];
    return sqrt(s);
}
static size_t size(void *app) { return bytes(app); }
static int pack(void *app, const void *u, void *buf) { memcpy(buf, u, bytes(app)); return 0; }
static void *unpack(void *app, const void *buf) { return clone(app, buf); }

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double normal(void)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        u[k] = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc < 2) {
        fputs("usage: gru_mgrit_iters T [n B cfactor levels tol maxiter]\n", stderr);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    App a = { .T = atoll(argv[1]), .n = argc > 2 ? atoi(argv[2]) : 16, .B = argc > 3 ? atoi(argv[3]) : 8 };
    int cf = argc > 4 ? atoi(argv[4]) : 4, levels = argc > 5 ? atoi(argv[5]) : 10;
    double tol = argc > 6 ? atof(argv[6]) : 1e-8;
    int maxit = argc > 7 ? atoi(argv[7]) : 100;
    int n = a.n;
    a.W = malloc(3 * (size_t)n * sizeof *a.W), a.b = calloc(3 * (size_t)n, sizeof *a.b);
    a.U = malloc(3 * (size_t)n * (size_t)n * sizeof *a.U), a.pre = malloc(3 * (size_t)n * sizeof *a.pre);
    a.x = malloc((size_t)a.T * (size_t)a.B * sizeof *a.x);
    if (!a.W || !a.b || !a.U || !a.pre || !a.x)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < 3 * n; i++)
        a.W[i] = normal();
    for (int i = 0; i < 3 * n * n; i++)
        a.U[i] = normal() / sqrt((double)n);
    for (int s = 0; s < a.B; s++) { /* seq.py's signal: a sine of 1 to 4 periods, noise 0.3 */
        double f = 1 + s % 4, ph = 0.7 * s;
        for (int64_t t = 0; t < a.T; t++)
            a.x[t * a.B + s] = sin(6.283185307179586 * f * (double)t / (double)a.T + ph) + 0.3 * normal();
    }
    ExaMgritOps ops = { .step = step, .init = init, .clone = clone, .free = release, .sum = sum,
                        .norm = norm, .buffer_size = size, .pack = pack, .unpack = unpack };
    ExaMgrit *m;
    if (exa_mgrit_create(MPI_COMM_WORLD, a.T, 1.0, &ops, &a, &m) != 0 || exa_mgrit_set_max_levels(m, levels)
        || exa_mgrit_set_cfactor(m, -1, cf) || exa_mgrit_set_nrelax(m, -1, 1) || exa_mgrit_set_abs_tol(m, tol)
        || exa_mgrit_set_max_iter(m, maxit) || exa_mgrit_solve(m) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    int it = exa_mgrit_num_iterations(m), rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    double r0 = -1, rl = exa_mgrit_residual_norm(m, it - 1);
    int k0 = 0;
    for (; k0 < it && r0 < 0; k0++)
        r0 = exa_mgrit_residual_norm(m, k0);
    k0--;
    double rate = it - 1 > k0 && r0 > 0 ? pow(rl / r0, 1.0 / (it - 1 - k0)) : NAN;
    if (rank == 0)
        printf("gru_mgrit_iters: T %lld n %d B %d cfactor %d levels %d tol %.1e: iterations %d residual "
               "first %.3e last %.3e factor %.3f\n", (long long)a.T, n, a.B, cf, exa_mgrit_num_levels(m), tol,
               it, r0, rl, rate);
    exa_mgrit_destroy(m);
    free(a.W), free(a.b), free(a.U), free(a.pre), free(a.x);
    MPI_Finalize();
    return 0;
}
