/* grid_cost.c - what one step of grid(rows: neurons(), cols: data()) costs
 * on a pr x pc grid (grid_cost.h), counted from what neurons.c,
 * neurons_front.c and grid.c send, with the collectives costed as rings
 * (an all-gather or reduce-scatter of N words over q ranks: q - 1 messages
 * and (q - 1)/q N words per rank; an allreduce twice that).  Per rank, with
 * b = ceil(B / pc) samples in its column:
 *   dense n -> m   forward all-gather of the outputs (m b), backward
 *                  reduce-scatter of the input gradient (n b; not for the
 *                  first layer without a front); with replicated parameters
 *                  also an all-gather of this rank's rows of dW, db (m n +
 *                  m), which owned rows do not send;
 *                  6 ceil(m/pr) n b flops (3 without the input gradient)
 *   conv c -> o    the halo, k - 1 rows of c (w + 2 pad) b both ways to
 *                  each neighbour; allreduce of dW, db (o c k k + o);
 *                  6 o c k k ceil(oh/pr) ow b flops (the first: 4)
 *   flatten        all-gather and reduce-scatter of the features (F b)
 *   columns        allreduce of the gradient and of the loss: the whole
 *                  gradient (n) with replicated parameters, this rank's part
 *                  with owned rows (the replicated convolutions and 1/pr of
 *                  the dense layers), and with clipping the norm's scalar
 *                  over the rows
 * The path is the one neurons() takes for the program's optimiser
 * (part_optimiser_fits: owned rows for SGD and Adam); the table shows the
 * other path's words and time beside it.  tests/grid checks these words
 * against the words a run counts (words_rows, words_cols in its log).
 * The elementwise work (relu, softmax, packing, the optimiser) is not
 * counted: at the sizes of interest the products and messages dominate.
 * docs/results/grid.md compares these predictions with measured steps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exa/kernels.h"
#include "grid_cost.h"
#include "part.h"

static double ceil_div(double a, double b) { return ceil(a / b); }
static int64_t imin64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ring all-gather / reduce-scatter of N words over q ranks, into c */
static void ring(GridCost *c, double N, int q, int rows, int twice)
{
    if (q < 2)
        return;
    double msgs = (double)(q - 1), words = (double)(q - 1) / q * N;
    c->msgs += twice ? 2 * msgs : msgs;
    if (rows)
        c->words_rows += twice ? 2 * words : words;
    else
        c->words_cols += twice ? 2 * words : words;
}

/* The training set's first real field: the image (or vector) the chain reads. */
static const ExaShape *input_shape(const ExaProgram *p)
{
    const ExaDataInfo *d = exa_program_data(p, EXA_ROLE_TRAIN);
    for (int i = 0; d && i < d->nfields; i++)
        if (d->fields[i].classes == 0)
            return &d->fields[i].shape;
    return NULL;
}

int grid_cost(const ExaProgram *p, int pr, int pc, int64_t B, const GridMachine *m, GridCost *c, char *err,
              size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->pr = pr, c->pc = pc;
    const ExaShape *in = input_shape(p);
    if (p->nlayers == 0 || !in) {
        snprintf(err, errlen, "the program has no chain of layers for neurons() (its model is not one)");
        return -1;
    }
    double b = ceil_div((double)B, pc);
    int64_t ch = in->rank == 3 ? in->dim[0] : 0, h = in->rank == 3 ? in->dim[1] : 0, w = in->rank == 3 ? in->dim[2] : 0;
    int front = 0;
    double dense_params = 0, gather_msgs = 0, gather_words = 0, bn_cols = 0;
    for (int l = 0; l < p->nlayers; l++) {
        const ExaChainLayer *cl = &p->layers[l];
        if (cl->kind == EXA_LAYER_CONV) {
            const ExaShape *W = &p->params[cl->w].shape;
            double o = (double)W->dim[0], k = (double)W->dim[2], pad = cl->padding;
            double oh = (double)h + 2 * pad - k + 1, ow = (double)w + 2 * pad - k + 1;
            double prod = o * (double)ch * k * k * ceil_div(oh, pr) * ow * b * 2;
            c->flops += prod * (front ? 3 : 2);
            c->flops_conv += prod * (front ? 3 : 2);
            if (pr > 1 && front) { /* the halo, forward and backward, to both neighbours */
                c->msgs += 4;
                c->words_rows += 2 * (k - 1) * (double)ch * ((double)w + 2 * pad) * b;
            }
            ring(c, o * (double)ch * k * k + o, pr, 1, 1);
            if (cl->bn_g >= 0) { /* batch_norm2d (neurons_front.c): the mean, the variance and the
                                    backward's two sums over the rows and the columns; g's and b's
                                    gradients over the rows (the columns': with the weights below) */
                ring(c, o, pr, 1, 1), ring(c, o, pr, 1, 1), ring(c, 2 * o, pr, 1, 1), ring(c, 2 * o, pr, 1, 1);
                double before = c->words_cols;
                ring(c, o, pc, 0, 1), ring(c, o, pc, 0, 1), ring(c, 2 * o, pc, 0, 1);
                bn_cols += c->words_cols - before;
            }
            ch = (int64_t)o, h = (int64_t)oh, w = (int64_t)ow;
            front = 1;
        } else if (cl->kind == EXA_LAYER_POOL) {
            h = (h - cl->window) / cl->stride + 1, w = (w - cl->window) / cl->stride + 1;
            front = 1;
        } else if (cl->kind == EXA_LAYER_FLATTEN) {
            ring(c, (double)(ch * h * w) * b, pr, 1, 1);
        } else {
            const ExaShape *W = &p->params[cl->w].shape;
            double mo = (double)W->dim[0], n = (double)W->dim[1];
            int first = l == 0 || p->layers[l - 1].kind == EXA_LAYER_FLATTEN;
            int back = !first || front;
            c->flops += 2 * ceil_div(mo, pr) * n * b * (back ? 3 : 2);
            ring(c, mo * b, pr, 1, 0);
            if (back)
                ring(c, n * b, pr, 1, 0);
            ring(c, mo * n + mo, pr, 1, 0);
            if (cl->bn_g >= 0) { /* batch_norm (neurons.c): the running statistics' two all-gathers
                                    and g's and b's gradient sum over the rows; the mean, the
                                    variance and the backward's two sums of this rank's rows over
                                    the columns */
                ring(c, mo, pr, 1, 0), ring(c, mo, pr, 1, 0), ring(c, 2 * mo, pr, 1, 1);
                double before = c->words_cols, cr = ceil_div(mo, pr);
                ring(c, cr, pc, 0, 1), ring(c, cr, pc, 0, 1), ring(c, 2 * cr, pc, 0, 1);
                bn_cols += c->words_cols - before;
            }
            dense_params += mo * n + mo;
            if (pr > 1)
                gather_msgs += pr - 1, gather_words += (double)(pr - 1) / pr * (mo * n + mo);
        }
    }
    ring(c, (double)p->nweights, pc, 0, 1);
    if (pc > 1)
        c->msgs += 2 * ceil(log2((double)pc));
    double compute = (c->flops - c->flops_conv) / m->rate + c->flops_conv / m->rate_conv;
    /* so far the replicated path; owned rows send no all-gather of dW, db,
     * the columns allreduce the replicated (conv) parameters and this
     * rank's rows of the dense ones, and clipping sums a norm over the rows */
    const ExaSetting *clip = exa_program_setting(p, "clip");
    int clipped = clip && clip->value.kind == EXA_NUM && clip->value.num > 0 && pr > 1;
    double owned = (double)p->nweights - dense_params + dense_params / pr;
    double rep_msgs = c->msgs, rep_words = c->words_rows + c->words_cols;
    double own_msgs = c->msgs - gather_msgs + (clipped ? 2 * ceil(log2((double)pr)) : 0);
    double own_rows = c->words_rows - gather_words, own_cols = (pc > 1 ? 2.0 * (pc - 1) / pc * owned : 0) + bn_cols;
    c->owned = part_optimiser_fits(p);
    if (c->owned) {
        c->msgs_alt = rep_msgs, c->words_alt = rep_words;
        c->msgs = own_msgs, c->words_rows = own_rows, c->words_cols = own_cols;
    } else {
        c->msgs_alt = own_msgs, c->words_alt = own_rows + own_cols;
    }
    c->seconds = m->alpha * c->msgs + m->beta * (c->words_rows + c->words_cols) + compute;
    c->seconds_alt = m->alpha * c->msgs_alt + m->beta * c->words_alt + compute;
    return 0;
}

int grid_plan(const ExaProgram *p, int P, int64_t B, const GridMachine *m, GridCost *c, int max, int *best,
              int *best_alt, char *err, size_t errlen)
{
    int n = 0;
    *best = *best_alt = -1;
    for (int pr = 1; pr <= P && n < max; pr++) {
        if (P % pr != 0 || P / pr > B)
            continue;
        if (grid_cost(p, pr, P / pr, B, m, &c[n], err, errlen) != 0)
            return 0;
        if (*best < 0 || c[n].seconds < c[*best].seconds)
            *best = n;
        if (*best_alt < 0 || c[n].seconds_alt < c[*best_alt].seconds_alt)
            *best_alt = n;
        n++;
    }
    if (n == 0)
        snprintf(err, errlen, "no grid of %d ranks gives every column a sample of a mini-batch of %lld", P,
                 (long long)B);
    return n;
}

void grid_plan_print(FILE *f, const GridCost *c, int n, int best, int best_alt, int P, int64_t B,
                     const GridMachine *m)
{
    int owned = n > 0 && c[0].owned;
    fprintf(f, "grid plan: %d ranks, batch %lld, %s; alpha %.3g s/message, beta %.3g s/word, rate %.3g flop/s, "
            "conv %.3g flop/s (%s)\n", P, (long long)B, part_path(owned), m->alpha, m->beta, m->rate, m->rate_conv,
            m->measured ? "measured" : "EXA_GRID_COST");
    fprintf(f, "   rows x cols  messages  words(rows)  words(cols)   Mflop/rank  predicted ms/step"
               "   | %s: words  ms/step\n", owned ? "replicated" : "owned rows");
    for (int i = 0; i < n; i++)
        fprintf(f, " %c %4d x %-4d %9.0f %12.7g %12.7g %12.4g %18.4f   | %c %16.7g %8.4g%s\n", i == best ? '*' : ' ',
                c[i].pr, c[i].pc, c[i].msgs, c[i].words_rows, c[i].words_cols, c[i].flops / 1e6, c[i].seconds * 1e3,
                i == best_alt ? '+' : ' ', c[i].words_alt, c[i].seconds_alt * 1e3,
                c[i].pr == 1 ? "  (pure batch)" : c[i].pc == 1 ? "  (pure model)" : "");
    fprintf(f, "* the cheapest grid on this path (shape: auto takes it); + the cheapest %s\n",
            owned ? "if the parameters were replicated (neurons()' path for optimisers that need whole vectors: "
                    "lbfgs, trust_region)"
                  : "with owned rows (neurons()' path for SGD and Adam, which step coordinate by coordinate)");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The median of REPS timings of fn(ctx). */
enum { REPS = 3 };
static double median_time(void (*fn)(void *), void *ctx)
{
    double t[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        fn(ctx);
        t[rep] = now() - t0;
        for (int k = rep; k > 0 && t[k] < t[k - 1]; k--) { /* insertion sort */
            double x = t[k];
            t[k] = t[k - 1], t[k - 1] = x;
        }
    }
    return t[REPS / 2];
}

typedef struct Probe {
    int64_t m, n, b;               /* GEMM [m, n] x [n, b] */
    int64_t c, h, w, o, k, count;  /* conv of count images */
    double *x, *y, *z, *s;
} Probe;

static void gemm_probe(void *ctx)
{
    Probe *q = ctx;
    exa_k_blas_gemm_f64(0, 0, q->m, q->b, q->n, 1.0, q->x, q->n, q->y, q->b, 0.0, q->z, q->b);
}

static void conv_probe(void *ctx)
{
    Probe *q = ctx;
    exa_k_conv_f64(q->count, q->c, q->h, q->w, q->o, q->k, 1, 0, q->y, q->c * q->h * q->w, q->x, 0, q->z,
                   q->o * (q->h - q->k + 1) * (q->w - q->k + 1), q->s);
}

/* The rates of the program's largest dense layer (capped at 1024 x 1024 x
 * 256) and largest convolution (at most 32 images), in flop/s. */
static int measure_rates(const ExaProgram *p, int64_t B, double *rate, double *rate_conv)
{
    Probe g = { .m = 0 }, cv = { .c = 0 };
    const ExaShape *in = input_shape(p);
    int64_t ch = in && in->rank == 3 ? in->dim[0] : 0, h = in && in->rank == 3 ? in->dim[1] : 0;
    int64_t w = in && in->rank == 3 ? in->dim[2] : 0;
    for (int l = 0; l < p->nlayers; l++) {
        const ExaChainLayer *cl = &p->layers[l];
        const ExaShape *W = cl->w >= 0 ? &p->params[cl->w].shape : NULL;
        if (cl->kind == EXA_LAYER_DENSE && W->dim[0] * W->dim[1] > g.m * g.n)
            g.m = W->dim[0], g.n = W->dim[1];
        if (cl->kind == EXA_LAYER_CONV) {
            int64_t hp = h + 2 * cl->padding, wp = w + 2 * cl->padding, k = W->dim[2];
            if (W->dim[0] * ch * (hp - k + 1) * (wp - k + 1) > cv.o * cv.c * (cv.h - cv.k + 1) * (cv.w - cv.k + 1))
                cv.c = ch, cv.h = hp, cv.w = wp, cv.o = W->dim[0], cv.k = k;
            ch = W->dim[0], h = hp - k + 1, w = wp - k + 1;
        } else if (cl->kind == EXA_LAYER_POOL) {
            h = (h - cl->window) / cl->stride + 1, w = (w - cl->window) / cl->stride + 1;
        }
    }
    g.m = imin64(g.m, 1024), g.n = imin64(g.n, 1024), g.b = imin64(B, 256);
    g.x = calloc((size_t)(g.m * g.n + 1), sizeof(double));
    g.y = calloc((size_t)(g.n * g.b + 1), sizeof(double));
    g.z = calloc((size_t)(g.m * g.b + 1), sizeof(double));
    if (!g.x || !g.y || !g.z) {
        free(g.x), free(g.y), free(g.z);
        return -1;
    }
    for (int64_t i = 0; i < g.m * g.n; i++)
        g.x[i] = 1.0 / (double)(1 + i % 7);
    *rate = 2.0 * (double)(g.m * g.n * g.b) / fmax(median_time(gemm_probe, &g), 1e-9);
    free(g.x), free(g.y), free(g.z);
    *rate_conv = *rate;
    if (cv.o == 0)
        return 0;
    cv.count = imin64(B, 32);
    int64_t oh = cv.h - cv.k + 1, ow = cv.w - cv.k + 1;
    cv.x = calloc((size_t)(cv.o * cv.c * cv.k * cv.k), sizeof(double));
    cv.y = calloc((size_t)(cv.count * cv.c * cv.h * cv.w), sizeof(double));
    cv.z = calloc((size_t)(cv.count * cv.o * oh * ow), sizeof(double));
    cv.s = calloc((size_t)(cv.c * cv.k * cv.k * oh * ow), sizeof(double));
    if (!cv.x || !cv.y || !cv.z || !cv.s) {
        free(cv.x), free(cv.y), free(cv.z), free(cv.s);
        return -1;
    }
    *rate_conv = 2.0 * (double)(cv.count * cv.o * cv.c * cv.k * cv.k * oh * ow) / fmax(median_time(conv_probe, &cv), 1e-9);
    free(cv.x), free(cv.y), free(cv.z), free(cv.s);
    return 0;
}

int grid_calibrate(const ExaComm *world, const ExaProgram *p, int64_t B, GridMachine *m, char *err, size_t errlen)
{
    const char *env = getenv("EXA_GRID_COST");
    if (env) {
        char *end;
        m->alpha = strtod(env, &end);
        m->beta = strtod(end, &end);
        m->rate = strtod(end, &end);
        m->rate_conv = m->rate;
        while (*end == ' ')
            end++;
        if (*end)
            m->rate_conv = strtod(end, &end);
        m->measured = 0;
        if (!(m->alpha >= 0 && m->beta >= 0 && m->rate > 0 && m->rate_conv > 0) || *end) {
            snprintf(err, errlen, "EXA_GRID_COST: expected \"alpha beta rate [rate_conv]\" (seconds per message, "
                     "seconds per 8-byte word, flops per second), got \"%s\"", env);
            return -1;
        }
        return 0;
    }
    if (world->size < 2) {
        snprintf(err, errlen, "the grid's cost model measures alpha and beta between two ranks: run under "
                 "mpirun with at least 2, or set EXA_GRID_COST=\"alpha beta rate [rate_conv]\"");
        return -1;
    }
    /* the rates on every rank at once, as in training, averaged over the
     * ranks; the median, not the best, since a loaded machine slows the
     * steps as much as the probes */
    double rate = 0, rate_conv = 0;
    if (measure_rates(p, B, &rate, &rate_conv) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rate = exa_comm_sum_double(world, rate) / world->size;
    rate_conv = exa_comm_sum_double(world, rate_conv) / world->size;
    /* alpha and beta: a blocking ping-pong between ranks 0 and 1 (the
     * others wait), after a barrier and warm-up, the median of REPS at each
     * of several sizes: alpha the one-word message's time, beta the
     * least-squares slope of time against words (the intercept of that fit
     * is set by the large messages' noise, not by the latency) */
    enum { REPS_PP = 15, NSIZE = 5, WORDS = 1 << 16 };
    static const int words[NSIZE] = { 1, 256, 2048, 16384, WORDS };
    double *buf = calloc(WORDS, sizeof *buf), t[NSIZE], sw = 0, st = 0, sww = 0, swt = 0;
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int k = 0; k < NSIZE; k++) {
        t[k] = exa_comm_pingpong(world, 0, 1, buf, (size_t)words[k] * sizeof *buf, REPS_PP);
        sw += words[k], st += t[k], sww += (double)words[k] * words[k], swt += words[k] * t[k];
    }
    free(buf);
    m->alpha = t[0];
    m->beta = (NSIZE * swt - sw * st) / (NSIZE * sww - sw * sw);
    m->rate = rate, m->rate_conv = rate_conv;
    m->measured = 1;
    return 0;
}
