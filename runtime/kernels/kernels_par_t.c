/* kernels_par_t.c - the exported kernels that split their rows over libexa's
 * threads (parallel.h), the type-generic body (included once per type, by
 * kernels_f32.c and kernels_f64.c, after kernels_vec_t.c): the row-wise
 * kernels (reductions, softmax, logsumexp, transpose, concat, max-pooling:
 * rows through exa_parallel_range), and the direct convolutions: the vector
 * kernels with their samples split where the CPU has AVX-512
 * (kernels_v4_t.c) or AVX2 (kernels_vec_t.c), the im2col kernels on one
 * thread elsewhere.
 *
 * The forward product and the input gradient are independent per sample:
 * a task is a range of samples and the results do not depend on the number
 * of threads.  The weight gradient summed over the batch is not: a task is
 * a group of DP_GROUP samples summed into its own partial dW, and the
 * partials are added in group order at the end.  One thread goes through
 * the same groups, so the sum's rounding, and a training run, is the same
 * whatever --threads says. */
#ifdef EXA_K_REAL
#define real EXA_K_REAL

/* ---- row-wise kernels: rows (samples) split over threads (exa_parallel_range) ---- */

typedef struct FN(RowArgs) {
    int op;
    int64_t a, b, c, d, e; /* the kernel's sizes, in its argument order */
    const real *x, *x2;
    real *y;
    int64_t sx, sx2, sy;   /* per-row strides */
} FN(RowArgs);

static void FN(reduce_range)(const void *ctx, int64_t lo, int64_t n)
{
    const FN(RowArgs) *r = ctx; /* a = len, b = inner */
    FN(reduce_rows)(r->op, n, r->a, r->b, r->x + lo * r->a * r->b, r->y + lo * r->b);
}

void FN(exa_k_reduce)(int op, int64_t outer, int64_t len, int64_t inner, const real *x, real *y)
{
    FN(RowArgs) r = { .op = op, .a = len, .b = inner, .x = x, .y = y };
    exa_parallel_range(outer, len * inner, FN(reduce_range), &r);
}

static void FN(logsumexp_range)(const void *ctx, int64_t lo, int64_t n)
{
    const FN(RowArgs) *r = ctx;
    FN(logsumexp_rows)(n, r->a, r->x + lo * r->a, r->y + lo);
}

/* exp is a call per element here: about 20 operations */
void FN(exa_k_logsumexp)(int64_t rows, int64_t n, const real *x, real *y)
{
    FN(RowArgs) r = { .a = n, .x = x, .y = y };
    exa_parallel_range(rows, 20 * n, FN(logsumexp_range), &r);
}

static void FN(softmax_range)(const void *ctx, int64_t lo, int64_t n)
{
    const FN(RowArgs) *r = ctx;
    FN(softmax_rows)(n, r->a, r->x + lo * r->a, r->y + lo * r->a);
}

void FN(exa_k_softmax)(int64_t rows, int64_t n, const real *x, real *y)
{
    FN(RowArgs) r = { .a = n, .x = x, .y = y };
    exa_parallel_range(rows, 20 * n, FN(softmax_range), &r);
}

static void FN(transpose_range)(const void *ctx, int64_t lo, int64_t n)
{
    const FN(RowArgs) *r = ctx; /* a = r, b = c */
    if (!FN(transpose_try)(n, r->a, r->b, r->x + lo * r->sx, r->sx, r->y + lo * r->a * r->b))
        FN(transpose_rows)(n, r->a, r->b, r->x + lo * r->sx, r->sx, r->y + lo * r->a * r->b);
}

void FN(exa_k_transpose)(int64_t count, int64_t r, int64_t c, const real *x, int64_t sx, real *y)
{
    FN(RowArgs) a = { .a = r, .b = c, .x = x, .sx = sx, .y = y };
    exa_parallel_range(count, 2 * r * c, FN(transpose_range), &a);
}

static void FN(concat_range)(const void *ctx, int64_t lo, int64_t n)
{
    const FN(RowArgs) *r = ctx; /* a = na, b = nb */
    FN(concat_rows)(n, r->a, r->x + lo * r->sx, r->sx, r->b, r->x2 + lo * r->sx2, r->sx2,
                    r->y + lo * (r->a + r->b));
}

void FN(exa_k_concat)(int64_t count, int64_t na, const real *a, int64_t sa, int64_t nb,
                      const real *b, int64_t sb, real *y)
{
    FN(RowArgs) r = { .a = na, .b = nb, .x = a, .sx = sa, .x2 = b, .sx2 = sb, .y = y };
    exa_parallel_range(count, 2 * (na + nb), FN(concat_range), &r);
}

static void FN(maxpool_range)(const void *ctx, int64_t lo, int64_t n)
{
    const FN(RowArgs) *r = ctx;
#if defined(EXA_K_VEC) && defined(EXA_K_F32)
    if (r->op) { /* exa_k_maxpool found the vector form fits (kernels_vec_t.c) */
        FN(mp_fwd_vec)(n, r->a, r->b, r->c, r->x + lo * r->sx, r->sx, r->y + lo * r->sy, r->sy);
        return;
    }
#endif
    FN(maxpool_rows)(n, r->a, r->b, r->c, r->d, r->e, r->x + lo * r->sx, r->sx, r->y + lo * r->sy, r->sy);
}

void FN(exa_k_maxpool)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t window,
                       int64_t stride, const real *x, int64_t sx, real *y, int64_t sy)
{
    FN(RowArgs) r = { .a = c, .b = h, .c = w, .d = window, .e = stride, .x = x, .sx = sx, .y = y, .sy = sy };
#if defined(EXA_K_VEC) && defined(EXA_K_F32)
    r.op = exa_k_vec_ok() && FN(mp_grad_vec_fits)(h, w, window, stride);
#endif
    exa_parallel_range(count, c * h * w, FN(maxpool_range), &r);
}

static void FN(maxpool_grad_range)(const void *ctx, int64_t lo, int64_t n)
{
    const FN(RowArgs) *r = ctx;
#if defined(EXA_K_VEC) && defined(EXA_K_F32)
    if (r->op) { /* exa_k_maxpool_grad found the vector form fits (kernels_vec_t.c) */
        FN(mp_grad_vec)(n, r->a, r->b, r->c, r->x + lo * r->sx, r->sx, r->x2 + lo * r->sx2, r->sx2,
                        r->y + lo * r->sy, r->sy);
        return;
    }
#endif
    FN(maxpool_grad_rows)(n, r->a, r->b, r->c, r->d, r->e, r->x + lo * r->sx, r->sx, r->x2 + lo * r->sx2,
                          r->sx2, r->y + lo * r->sy, r->sy);
}

void FN(exa_k_maxpool_grad)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t window,
                            int64_t stride, const real *g, int64_t sg, const real *x, int64_t sx,
                            real *dx, int64_t sdx)
{
    FN(RowArgs) r = { .a = c, .b = h, .c = w, .d = window, .e = stride, .x = g, .sx = sg, .x2 = x,
                      .sx2 = sx, .y = dx, .sy = sdx };
#if defined(EXA_K_VEC) && defined(EXA_K_F32)
    r.op = exa_k_vec_ok() && FN(mp_grad_vec_fits)(h, w, window, stride); /* asked here, not by workers */
#endif
    exa_parallel_range(count, 2 * c * h * w, FN(maxpool_grad_range), &r);
}

#ifdef EXA_K_VEC
#define DP_GROUP 32            /* samples per partial weight gradient */
#define DP_MIN_MACS (1 << 20)  /* below this a wake-up costs more than it saves */

/* The three vector kernels' common signature: (count, c, h, w, o, kk, pad,
 * a, sa, b, sb, out, sout, scratch) with per-sample strides sa, sb, sout. */
typedef void (*FN(DconvKernel))(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                const real *, int64_t, const real *, int64_t, real *, int64_t,
                                real *);

typedef struct FN(DconvJob) {
    FN(DconvKernel) kernel;
    int64_t count, per_task, c, h, w, o, kk, pad;
    const real *a, *b;
    int64_t sa, sb;
    real *out, *partial; /* partial: ntasks sums of out_len, or NULL */
    int64_t sout, out_len;
    real *scratch;       /* the caller's; workers use their own */
    size_t scratch_bytes;
} FN(DconvJob);

static void FN(dconv_task)(void *ctx, int64_t t, int worker)
{
    const FN(DconvJob) *j = ctx;
    int64_t s0 = t * j->per_task, n = j->count - s0 < j->per_task ? j->count - s0 : j->per_task;
    /* allocated by FN(dconv_run) before the loop: this only looks it up */
    real *scratch = worker == 0 ? j->scratch : exa_parallel_scratch(worker, j->scratch_bytes);
    real *out = j->partial ? j->partial + t * j->out_len : j->out + s0 * j->sout;
    j->kernel(n, j->c, j->h, j->w, j->o, j->kk, j->pad, j->a + s0 * j->sa, j->sa, j->b + s0 * j->sb,
              j->sb, out, j->partial ? 0 : j->sout, scratch);
}

/* Runs kernel over count samples; summed: out is one dW summed over them
 * (sout == 0 of the weight gradient). */
static void FN(dconv_run)(FN(DconvKernel) kernel, int64_t scratch_len, int summed, int64_t count,
                          int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk, int64_t pad,
                          const real *a, int64_t sa, const real *b, int64_t sb, real *out,
                          int64_t sout, real *scratch)
{
    FN(DconvJob) j = { kernel, count, count, c, h, w, o, kk, pad, a, b, sa, sb, out, NULL,
                       sout, o * c * kk * kk, scratch, (size_t)scratch_len * sizeof(real) };
    int64_t oh = h + 2 * pad - kk + 1, ow = w + 2 * pad - kk + 1;
    double macs = (double)count * (double)(o * c * kk * kk) * (double)(oh * ow);
    int threads = macs >= DP_MIN_MACS ? exa_parallel_threads() : 1;
    if (summed) {
        j.per_task = DP_GROUP;
        if (count > DP_GROUP) /* else one group, straight into out */
            j.partial = exa_parallel_scratch(0, (size_t)(((count + DP_GROUP - 1) / DP_GROUP) *
                                                         j.out_len) * sizeof(real));
        if (!j.partial) { /* one group, or no memory for partial sums */
            kernel(count, c, h, w, o, kk, pad, a, sa, b, sb, out, 0, scratch);
            return;
        }
    } else {
        int64_t tasks = threads < 2 ? 1 : count < 4 * threads ? count : 4 * threads;
        j.per_task = tasks > 1 ? (count + tasks - 1) / tasks : count; /* a few per thread */
    }
    int64_t ntasks = count > 0 ? (count + j.per_task - 1) / j.per_task : 0;
    for (int wk = 1; wk < threads && wk < ntasks; wk++)
        if (!exa_parallel_scratch(wk, j.scratch_bytes))
            threads = 1; /* no memory for a worker's scratch: this thread alone */
    if (threads > 1 && ntasks > 1)
        exa_parallel_for(ntasks, FN(dconv_task), &j);
    else
        for (int64_t t = 0; t < ntasks; t++)
            FN(dconv_task)(&j, t, 0);
    if (j.partial)
        for (int64_t i = 0; i < j.out_len; i++) {
            real sum = j.partial[i];
            for (int64_t g = 1; g < ntasks; g++)
                sum += j.partial[g * j.out_len + i];
            out[i] = sum;
        }
}
#undef DP_GROUP
#undef DP_MIN_MACS
#endif /* EXA_K_VEC */

void FN(exa_k_dconv)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                     int64_t pad, const real *x, int64_t sx, const real *wt, int64_t sw, real *y,
                     int64_t sy, real *scratch)
{
#ifdef EXA_K_V4
    if (exa_k_v4_ok() && FN(z_fits)(h, w, kk, pad)) {
        FN(dconv_run)(FN(z_fwd), FN(z_scratch_len)(EXA_DCONV_FWD, c, h, w, o, kk, pad), 0, count, c, h, w, o,
                      kk, pad, x, sx, wt, sw, y, sy, scratch);
        return;
    }
#endif
#ifdef EXA_K_VEC
    if (exa_k_vec_ok()) {
        FN(dconv_run)(FN(dconv_vec), FN(dconv_scratch_len)(c, h, w, o, kk, pad), 0, count, c, h,
                      w, o, kk, pad, x, sx, wt, sw, y, sy, scratch);
        return;
    }
#endif
    FN(exa_k_conv)(count, c, h, w, o, kk, 1, pad, x, sx, wt, sw, y, sy, scratch);
}

void FN(exa_k_dconv_grad_x)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                            int64_t pad, const real *g, int64_t sg, const real *wt, int64_t sw,
                            real *dx, int64_t sdx, real *scratch)
{
#ifdef EXA_K_V4
    if (exa_k_v4_ok() && FN(z_fits)(h, w, kk, pad)) {
        FN(dconv_run)(FN(z_grad_x), FN(z_scratch_len)(EXA_DCONV_GRAD_X, c, h, w, o, kk, pad), 0, count, c, h, w, o,
                      kk, pad, g, sg, wt, sw, dx, sdx, scratch);
        return;
    }
#endif
#ifdef EXA_K_VEC
    if (exa_k_vec_ok()) {
        FN(dconv_run)(FN(dconv_grad_x_vec), FN(dconv_grad_x_scratch_len)(c, h, w, o, kk, pad), 0,
                      count, c, h, w, o, kk, pad, g, sg, wt, sw, dx, sdx, scratch);
        return;
    }
#endif
    FN(exa_k_conv_grad_x)(count, c, h, w, o, kk, 1, pad, g, sg, wt, sw, dx, sdx, scratch);
}

void FN(exa_k_dconv_grad_w)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                            int64_t pad, const real *g, int64_t sg, const real *x, int64_t sx,
                            real *dw, int64_t sdw, real *scratch)
{
#ifdef EXA_K_V4
    if (exa_k_v4_ok() && FN(z_fits)(h, w, kk, pad)) { /* along positions or along channels */
        FN(dconv_run)(FN(z_w_better)(o, h, w, kk, pad) ? FN(z_grad_w) : FN(dconv_grad_w_v4),
                      FN(z_scratch_len)(EXA_DCONV_GRAD_W, c, h, w, o, kk, pad), sdw == 0, count, c, h, w, o,
                      kk, pad, g, sg, x, sx, dw, sdw, scratch);
        return;
    }
#endif
#ifdef EXA_K_VEC
    if (exa_k_vec_ok()) {
        FN(dconv_run)(FN(dconv_grad_w_v3), FN(dconv_grad_w_scratch_len)(c, h, w, o, kk, pad),
                      sdw == 0, count, c, h, w, o, kk, pad, g, sg, x, sx, dw, sdw, scratch);
        return;
    }
#endif
    FN(exa_k_conv_grad_w)(count, c, h, w, o, kk, 1, pad, g, sg, x, sx, dw, sdw, scratch);
}

#undef real
#else
/* Compiled on its own: nothing (kernels_f32.c and kernels_f64.c include the body). */
typedef int exa_kernels_par_t_is_included_by_kernels_c;
#endif
