/* batch_groups_test.c - a call's rows in groups on the pool (core/batch_groups.c),
 * with a hand-written loss_grad of the generated functions' form: per row
 * r the loss (theta . x_r + theta_0 * label_r - 1)^2 / 2, its residual and
 * the row's first feature as the row's two outputs, and the mean gradient
 * over its rows; it checks its workspace is aligned and writes all of it
 * (ASan sees one too small), and records OpenBLAS's thread count.
 *
 * Checked: every row's loss and output are those of one ungrouped call
 * (bit for bit: a row is computed alike in any group, so a group at the
 * wrong offset fails); the gradient is the ungrouped one to 1e-14 relative
 * in f64 and 1e-5 in f32 for 2 .. 8 groups, uneven ones included (a group
 * left out or weighted 1/G instead of n_g/count fails); the same groups
 * give bit-identical gradients at 1, 2 and 3 threads; OpenBLAS runs at one
 * thread inside the call and its count is restored after; the rule
 * (exa_batch_groups_plan, _min_rows) and EXA_BATCH_GROUPS's parsing. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "exa/batch_groups.h"
#include "exa/parallel.h"
#include "exa/run.h"

enum { D = 5, P = D + 1, ROWS = 997 };

static int prec = 8;                  /* bytes of the fake program's reals */
static atomic_int threads_seen_max;   /* exa_parallel_threads() inside calls */
static atomic_int bad_workspace;

static double get(const void *v, int64_t i)
{
    return prec == 4 ? (double)((const float *)v)[i] : ((const double *)v)[i];
}
static void set(void *v, int64_t i, double x)
{
    if (prec == 4)
        ((float *)v)[i] = (float)x;
    else
        ((double *)v)[i] = x;
}

static int64_t fake_workspace(int64_t batch)
{
    return 64 + batch * prec;
}

static void fake_loss_grad(const ExaArgs *a)
{
    int b = exa_parallel_threads(); /* a group's products and loops must not split */
    for (int seen = atomic_load(&threads_seen_max); b > seen && !atomic_compare_exchange_weak(&threads_seen_max, &seen, b);)
        ;
    if ((uintptr_t)a->workspace % 64)
        atomic_fetch_add(&bad_workspace, 1);
    const void *x = a->inputs[0];
    const int32_t *label = a->inputs[1];
    void *res = (char *)a->workspace + 64; /* the residuals: the whole workspace used */
    memset(a->workspace, 0xff, 64);
    for (int64_t r = 0; r < a->batch; r++) {
        double s = get(a->theta, 0) * label[r] - 1;
        for (int j = 0; j < D; j++)
            s += get(a->theta, 1 + j) * get(x, r * D + j);
        set(res, r, s);
        set(a->outputs[EXA_OUT_LOSS_GRAD_LOSS], r, 0.5 * s * s);
        set(a->outputs[EXA_OUT_LOSS_GRAD_ACCURACY], 2 * r, s);
        set(a->outputs[EXA_OUT_LOSS_GRAD_ACCURACY], 2 * r + 1, get(x, r * D));
    }
    void *g = a->outputs[EXA_OUT_LOSS_GRAD_GRAD];
    if (!g)
        return;
    for (int j = 0; j < P; j++) {
        double sum = 0;
        for (int64_t r = 0; r < a->batch; r++)
            sum += get(res, r) * (j == 0 ? label[r] : get(x, r * D + j - 1));
        set(g, j, sum / (double)a->batch);
    }
}

static const ExaFunction fake = { "loss_grad", fake_loss_grad, fake_workspace };

typedef struct Bufs {
    void *x, *theta, *loss, *out, *grad;
    int32_t *label;
} Bufs;

static void alloc_bufs(Bufs *b)
{
    b->x = malloc((size_t)ROWS * D * 8);
    b->theta = malloc(P * 8);
    b->loss = malloc(ROWS * 8);
    b->out = malloc((size_t)ROWS * 2 * 8);
    b->grad = malloc(P * 8);
    b->label = malloc(ROWS * sizeof *b->label);
}

static void free_bufs(Bufs *b)
{
    free(b->x), free(b->theta), free(b->loss), free(b->out), free(b->grad), free(b->label);
}

/* The grouped call of `groups` groups over the rows of `in` into b. */
static void grouped(ExaBatchGroups *bg, const Bufs *in, Bufs *b, int groups, int with_grad)
{
    void *inputs[2] = { in->x, in->label };
    int64_t row_bytes[2] = { D * prec, sizeof(int32_t) };
    ExaGroupCall c = { .fn = &fake, .theta = in->theta, .count = ROWS, .nin = 2, .in = inputs,
                       .in_row_bytes = row_bytes, .loss_rows = b->loss, .out_rows = b->out,
                       .out_row_bytes = 2 * prec, .grad = with_grad ? b->grad : NULL };
    exa_batch_groups_run(bg, &c, groups);
}

static void one_precision(int bytes)
{
    prec = bytes;
    double tol = bytes == 8 ? 1e-14 : 1e-5;
    Bufs ref, b, again;
    alloc_bufs(&ref), alloc_bufs(&b), alloc_bufs(&again);
    srand(3);
    for (int64_t i = 0; i < (int64_t)ROWS * D; i++)
        set(ref.x, i, 2.0 * rand() / RAND_MAX - 1);
    for (int64_t r = 0; r < ROWS; r++)
        ref.label[r] = rand() % 4;
    for (int j = 0; j < P; j++)
        set(ref.theta, j, 0.3 * j - 0.7);
    /* the reference: one call over every row */
    const void *inputs[2] = { ref.x, ref.label };
    void *outputs[3] = { ref.loss, ref.out, ref.grad };
    void *work = aligned_alloc(64, (size_t)((fake_workspace(ROWS) + 63) / 64 * 64));
    ExaArgs a = { .batch = ROWS, .theta = ref.theta, .inputs = inputs, .outputs = outputs, .workspace = work };
    fake_loss_grad(&a);
    free(work);
    double gmax = 0;
    for (int j = 0; j < P; j++)
        gmax = fmax(gmax, fabs(get(ref.grad, j)));

    char err[256];
    ExaBatchGroups bg;
    CHECK(exa_batch_groups_init(&bg, &fake, P, bytes, NULL, err, sizeof err) == 0);
    for (int groups = 2; groups <= 8; groups++) {
        for (int threads = 1; threads <= 3; threads++) {
            exa_parallel_set_threads(threads);
            atomic_store(&threads_seen_max, 0);
            grouped(&bg, &ref, &b, groups, 1);
            CHECK(atomic_load(&threads_seen_max) == 1);
            int rows_same = memcmp(b.loss, ref.loss, (size_t)ROWS * bytes) == 0 &&
                            memcmp(b.out, ref.out, (size_t)ROWS * 2 * bytes) == 0;
            if (!rows_same)
                printf("groups %d threads %d: a row's loss or output differs\n", groups, threads);
            CHECK(rows_same);
            double worst = 0;
            for (int j = 0; j < P; j++)
                worst = fmax(worst, fabs(get(b.grad, j) - get(ref.grad, j)));
            if (!(worst <= tol * gmax))
                printf("groups %d threads %d: max |grad - ungrouped| %.3g (tolerance %.3g)\n", groups,
                       threads, worst, tol * gmax);
            CHECK(worst <= tol * gmax);
            if (threads == 1)
                memcpy(again.grad, b.grad, (size_t)P * bytes);
            else
                CHECK(memcmp(again.grad, b.grad, (size_t)P * bytes) == 0);
        }
    }
    /* the loss alone: no gradient written */
    memset(b.grad, 0x7f, (size_t)P * bytes);
    memcpy(again.grad, b.grad, (size_t)P * bytes);
    grouped(&bg, &ref, &b, 4, 0);
    CHECK(memcmp(b.loss, ref.loss, (size_t)ROWS * bytes) == 0);
    CHECK(memcmp(again.grad, b.grad, (size_t)P * bytes) == 0);
    CHECK(atomic_load(&bad_workspace) == 0);
    exa_batch_groups_free(&bg);
    free_bufs(&ref), free_bufs(&b), free_bufs(&again);
}

static void rule(void)
{
    /* bench/models as measured (batch_groups.c): weights, workspace reals per row */
    int64_t mlp = exa_batch_groups_min_rows(101770, 415);      /* a: 784-128-10 */
    int64_t wide = exa_batch_groups_min_rows(5824522, 10271);  /* d: 784-2048-2048-10 */
    int64_t pinn = exa_batch_groups_min_rows(8361, 2733);      /* b: 2-40x6-1, d and d2 */
    int64_t ode = exa_batch_groups_min_rows(2373, 544);        /* c: 8 x 32 steps */
    int64_t gru = exa_batch_groups_min_rows(5034, 40960);      /* f: GRU h32, 128 steps */
    CHECK(mlp == 981 && exa_batch_groups_plan(100, mlp, -1) == 1);
    CHECK(wide == 2269 && exa_batch_groups_plan(256, wide, -1) == 1);
    CHECK(exa_batch_groups_plan(1000, pinn, -1) == 8);
    CHECK(exa_batch_groups_plan(5000, ode, -1) == 8);
    CHECK(exa_batch_groups_plan(100, gru, -1) == 2);
    CHECK(exa_batch_groups_min_rows(10, 1e6) == EXA_BATCH_GROUP_MIN_ROWS);
    CHECK(exa_batch_groups_min_rows(1000, 0) == EXA_BATCH_GROUP_WEIGHT_RATIO * 1000);
    /* powers of two with groups of at least min_rows, at most the cap */
    CHECK(exa_batch_groups_plan(100, 16, -1) == 4);
    CHECK(exa_batch_groups_plan(63, 16, -1) == 2);
    CHECK(exa_batch_groups_plan(31, 16, -1) == 1);
    CHECK(exa_batch_groups_plan(1 << 20, 16, -1) == EXA_BATCH_GROUPS_AUTO_MAX);
    CHECK(exa_batch_groups_plan(1, 1, -1) == 1);
    /* forced: as asked, at most one group per row */
    CHECK(exa_batch_groups_plan(100, 1000, 3) == 3);
    CHECK(exa_batch_groups_plan(5, 16, 64) == 5);
    CHECK(exa_batch_groups_plan(100, 16, 0) == 1);
    CHECK(exa_batch_groups_plan(100, 16, 1) == 1);
}

static void environment(void)
{
    char err[256] = "";
    ExaBatchGroups bg;
    prec = 8;
    setenv("EXA_BATCH_GROUPS", "3", 1);
    CHECK(exa_batch_groups_init(&bg, &fake, P, 8, NULL, err, sizeof err) == 0);
    CHECK(exa_batch_groups_count(&bg, 100) == 3);
    exa_batch_groups_free(&bg);
    CHECK(exa_batch_groups_init(&bg, &fake, P, 8, "batch statistics", err, sizeof err) == 0);
    CHECK(exa_batch_groups_count(&bg, 100) == 1); /* refused: forcing cannot group it */
    exa_batch_groups_free(&bg);
    setenv("EXA_BATCH_GROUPS", "0", 1);
    CHECK(exa_batch_groups_init(&bg, &fake, P, 8, NULL, err, sizeof err) == 0);
    CHECK(exa_batch_groups_count(&bg, 100000) == 1);
    exa_batch_groups_free(&bg);
    const char *bad[] = { "x", "4k", "-1", "65", " 2", "2.0" };
    for (int i = 0; i < 6; i++) {
        setenv("EXA_BATCH_GROUPS", bad[i], 1);
        int rc = exa_batch_groups_init(&bg, &fake, P, 8, NULL, err, sizeof err);
        CHECK_ERROR(rc, err, "EXA_BATCH_GROUPS: '");
        CHECK(strstr(err, bad[i]) != NULL);
    }
    unsetenv("EXA_BATCH_GROUPS");
    CHECK(exa_batch_groups_init(&bg, &fake, P, 8, NULL, err, sizeof err) == 0);
    CHECK(bg.forced == -1);
    /* the fake's workspace: 1 real a row, so a group's rows are at least 4 x
     * its 6 weights, and at least EXA_BATCH_GROUP_MIN_ROWS */
    CHECK(bg.min_rows == (EXA_BATCH_GROUP_WEIGHT_RATIO * P > EXA_BATCH_GROUP_MIN_ROWS
                              ? EXA_BATCH_GROUP_WEIGHT_RATIO * P : EXA_BATCH_GROUP_MIN_ROWS));
    exa_batch_groups_free(&bg);
}

int main(void)
{
    unsetenv("EXA_BATCH_GROUPS");
    one_precision(8);
    one_precision(4);
    rule();
    environment();
    CHECK_DONE();
}
