/* kernels_vec_t.c - the kernels written with vectors by hand, the
 * type-generic body (included by kernels.c once per type, like kernels_t.c,
 * and before it): direct convolution at stride 1, and GEMM with a narrow
 * result.
 *
 * Why a second convolution: for layers with few channels (LeNet's 1->6 and
 * 6->16 at 5x5) im2col + GEMM spends most of its time copying, not
 * multiplying: im2col writes c*k*k copies of the input, and OpenBLAS packs
 * that matrix again for every per-sample GEMM of a few rows.  Here the
 * products read the input in place: a block of output channels by vectors
 * of output positions lives in registers while every kernel tap adds one
 * broadcast weight times one unaligned load of the input.  fuse.c picks
 * this form by shape (FUSE_DIRECT_CONV); im2col + GEMM stays for wide
 * layers, where the GEMM's blocking wins.
 *
 * Positions are grouped in "slots": VL consecutive outputs of one row of the
 * output plane.  A row of width ow holds ceil(ow / VL) slots; when VL does
 * not divide ow its last slot starts at ow - VL and overlaps the one before
 * (harmless where outputs are stored).  Padding is a zero-bordered copy of
 * the input in scratch.  The gradient with respect to the input is the same
 * correlation, over the output gradient padded by k-1, with the weights'
 * channels swapped and taps reversed.
 *
 * The vector code is compiled once, for x86-64-v3 (EXA_K_VEC: AVX2 and
 * FMA, GCC on x86-64), and runs where exa_k_vec_ok() finds such a CPU;
 * elsewhere, and in builds without it, the exported kernels (the direct
 * convolutions' in kernels_par_t.c, which also split them over threads)
 * fall back to the im2col kernels and to OpenBLAS (which is why a direct
 * convolution's scratch also holds one im2col matrix).  Compiling it for the baseline too,
 * as target_clones does, emulated 256-bit vectors with pairs of SSE
 * registers and made kernels.c take a minute to compile, five under ASan. */
#ifdef EXA_K_REAL
#define real EXA_K_REAL
#ifdef EXA_K_VEC


typedef real FN(vec) __attribute__((vector_size(32)));
#define VL ((int64_t)(sizeof(FN(vec)) / sizeof(real)))
/* unaligned vector loads and stores through a type that may alias real
 * and needs no alignment, as <immintrin.h>'s _mm256_loadu_ps is written */
typedef real FN(uvec) __attribute__((vector_size(32), aligned(sizeof(real)), may_alias));
#define LOADU(p) (*(const FN(uvec) *)(p))
#define STOREU(p, v) (*(FN(uvec) *)(p) = (v))

/* Register blocks: nb output channels by ns slots (or taps) of
 * accumulators, 12 at most (with the operands, 16 vector registers), one
 * instantiation per shape so that each keeps its accumulators in
 * registers.  A dimension that the block does not divide ends with a block
 * moved back to overlap the one before. */
#define DC_SHAPES(X) X(4, 3) X(6, 2) X(3, 4) X(2, 6) X(1, 12) X(1, 1)
#define DC_MAXB 6
#define DC_MAXS 12

/* The shape among DC_SHAPES of the least estimated time for n1 by n2 (ties:
 * the first), blocks no larger than n1 by n2.  Per tap a block takes the
 * longest of: its multiply-adds at two a cycle, its loads at two a cycle,
 * and the latency of one multiply-add (about 5 cycles: each accumulator
 * waits for its previous tap).  Counted in half cycles. */
static void FN(pick_shape)(int64_t n1, int64_t n2, int *b1, int *b2)
{
    int64_t best = -1;
#define X(B, S)                                                                                \
    if ((B) <= n1 && (S) <= n2) {                                                              \
        int64_t per_tap = (B) * (S) > (B) + (S) ? (B) * (S) : (B) + (S);                       \
        per_tap = per_tap > 10 ? per_tap : 10;                                                 \
        int64_t cost = (n1 + (B) - 1) / (B) * ((n2 + (S) - 1) / (S)) * per_tap;                \
        if (best < 0 || cost < best)                                                           \
            best = cost, *b1 = (B), *b2 = (S);                                                 \
    }
    DC_SHAPES(X)
#undef X
}

/* The first column of slot k of a plane ow wide, nv slots per row. */
EXA_K_INLINE int64_t FN(slot_col)(int64_t k, int64_t nv, int64_t ow)
{
    int64_t j = (k % nv) * VL;
    return j < ow - VL ? j : ow - VL;
}

/* y[oc0 + b] at slots k0 .. k0+ns-1 (b < nb) = the sum over taps t = (ci, p,
 * q) of wt[oc0 + b][t] * x[ci][i + p][j + q].  x is [c][hx][wx], y
 * [o][oh][ow]. */
EXA_K_INLINE void FN(dconv_block)(int nb, int ns, int64_t k0, int64_t oc0, int64_t c, int64_t hx,
                                  int64_t wx, int64_t kk, int64_t oh, int64_t ow, int64_t nv,
                                  const real *restrict x, const real *restrict wt, real *restrict y)
{
    FN(vec) acc[12]; /* [b * ns + s]: flat, so the compiler keeps it in registers cheaply */
    const real *xs[DC_MAXS];
    real *ys[DC_MAXS];
#pragma GCC unroll 12
    for (int s = 0; s < ns; s++) {
        int64_t k = k0 + s, i = k / nv, j = FN(slot_col)(k, nv, ow);
        xs[s] = x + i * wx + j;
        ys[s] = y + i * ow + j;
#pragma GCC unroll 6
        for (int b = 0; b < nb; b++)
            acc[b * ns + s] = (FN(vec)){0};
    }
    int64_t ckk = c * kk * kk;
    const real *wb = wt + oc0 * ckk;
    for (int64_t ci = 0, t = 0; ci < c; ci++)
        for (int64_t p = 0; p < kk; p++) {
            int64_t off = (ci * hx + p) * wx;
            for (int64_t q = 0; q < kk; q++, t++) {
                FN(vec) xv[DC_MAXS];
#pragma GCC unroll 12
                for (int s = 0; s < ns; s++)
                    xv[s] = LOADU(xs[s] + off + q);
#pragma GCC unroll 6
                for (int b = 0; b < nb; b++) {
                    real wv = wb[b * ckk + t];
#pragma GCC unroll 12
                    for (int s = 0; s < ns; s++)
                        acc[b * ns + s] += wv * xv[s];
                }
            }
        }
#pragma GCC unroll 6
    for (int b = 0; b < nb; b++)
#pragma GCC unroll 12
        for (int s = 0; s < ns; s++)
            STOREU(ys[s] + (oc0 + b) * oh * ow, acc[b * ns + s]);
}

/* y [o][oh][ow] = the correlation of x [c][hx][wx] with wt [o][c][kk][kk],
 * oh = hx - kk + 1, ow = wx - kk + 1 (no padding, stride 1). */
EXA_K_VEC
static void FN(dconv_plane)(int64_t c, int64_t hx, int64_t wx, int64_t o, int64_t kk,
                            const real *restrict x, const real *restrict wt, real *restrict y)
{
    int64_t oh = hx - kk + 1, ow = wx - kk + 1, ckk = c * kk * kk;
    if (ow < VL) { /* narrower than one vector: by the definition */
        for (int64_t oc = 0; oc < o; oc++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    real acc = 0;
                    for (int64_t ci = 0, t = 0; ci < c; ci++)
                        for (int64_t p = 0; p < kk; p++)
                            for (int64_t q = 0; q < kk; q++, t++)
                                acc += wt[oc * ckk + t] * x[(ci * hx + i + p) * wx + j + q];
                    y[(oc * oh + i) * ow + j] = acc;
                }
        return;
    }
    int64_t nv = (ow + VL - 1) / VL, nslots = oh * nv;
    int nb = 1, ns = 1;
    FN(pick_shape)(o, nslots, &nb, &ns);
    /* overlapping blocks store the same values twice */
#define X(B, S)                                                                                \
    case (B) * 16 + (S):                                                                       \
        for (int64_t k0 = 0; k0 < nslots; k0 += (S))                                           \
            for (int64_t oc0 = 0; oc0 < o; oc0 += (B))                                         \
                FN(dconv_block)((B), (S), k0 + (S) <= nslots ? k0 : nslots - (S),              \
                                oc0 + (B) <= o ? oc0 : o - (B), c, hx, wx, kk, oh, ow, nv, x, wt, y); \
        break;
    switch (nb * 16 + ns) {
        DC_SHAPES(X)
    }
#undef X
}

/* xp [c][h+2pad][w+2pad] = x with a zero border (the border is cleared when
 * clear is set, once per call: only the interior changes per sample). */
EXA_K_INLINE void FN(pad_copy)(int64_t c, int64_t h, int64_t w, int64_t pad, const real *x, real *xp,
                               int clear)
{
    int64_t hp = h + 2 * pad, wp = w + 2 * pad;
    if (clear)
        memset(xp, 0, (size_t)(c * hp * wp) * sizeof *xp);
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t r = 0; r < h; r++)
            memcpy(xp + (ci * hp + r + pad) * wp + pad, x + (ci * h + r) * w, (size_t)w * sizeof *x);
}

EXA_K_VEC
static void FN(dconv_vec)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                          int64_t pad, const real *x, int64_t sx, const real *wt, int64_t sw, real *y,
                     int64_t sy, real *scratch)
{
    for (int64_t s = 0; s < count; s++) {
        const real *xs = x + s * sx;
        if (pad > 0) {
            FN(pad_copy)(c, h, w, pad, xs, scratch, s == 0);
            xs = scratch;
        }
        FN(dconv_plane)(c, h + 2 * pad, w + 2 * pad, o, kk, xs, wt + s * sw, y + s * sy);
    }
}

/* dx_i = the correlation of g_i padded by kk-1 with wf [c][o][kk][kk],
 * wf[ci][oc][p][q] = wt[oc][ci][kk-1-p][kk-1-q], cropped by pad.  Scratch:
 * wf, then the padded g, then (pad > 0) the uncropped dx. */
EXA_K_VEC
static void FN(dconv_grad_x_vec)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                            int64_t pad, const real *g, int64_t sg, const real *wt, int64_t sw,
                            real *dx, int64_t sdx, real *scratch)
{
    int64_t hp = h + 2 * pad, wp = w + 2 * pad, oh = hp - kk + 1, ow = wp - kk + 1, e = kk - 1;
    real *wf = scratch, *gp = wf + c * o * kk * kk, *dxp = gp + o * (oh + 2 * e) * (ow + 2 * e);
    for (int64_t s = 0; s < count; s++) {
        if (s == 0 || sw != 0) {
            const real *ws = wt + s * sw;
            for (int64_t oc = 0; oc < o; oc++)
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t p = 0; p < kk; p++)
                        for (int64_t q = 0; q < kk; q++)
                            wf[((ci * o + oc) * kk + p) * kk + q] =
                                ws[((oc * c + ci) * kk + kk - 1 - p) * kk + kk - 1 - q];
        }
        FN(pad_copy)(o, oh, ow, e, g + s * sg, gp, s == 0);
        real *out = pad > 0 ? dxp : dx + s * sdx;
        FN(dconv_plane)(o, oh + 2 * e, ow + 2 * e, c, kk, gp, wf, out);
        if (pad > 0)
            for (int64_t ci = 0; ci < c; ci++)
                for (int64_t r = 0; r < h; r++)
                    memcpy(dx + s * sdx + (ci * h + r) * w, dxp + (ci * hp + r + pad) * wp + pad,
                           (size_t)w * sizeof *dx);
    }
}

/* The weight gradient is an outer product summed over positions:
 * dW^T [t][oc] = sum over samples and positions of x under tap t times g^T
 * [position][oc].  Its vectors run along the output channels of g^T (g
 * transposed per sample, channels padded to op, a multiple of VL, with
 * zeros), so the accumulators are entries of dW^T itself: no sum across
 * lanes per position and no wasted lanes at the end of a row, where lanes
 * along positions would have both.
 *
 * Blocks: nb channel vectors by nu taps along one kernel row (so that the
 * taps' inputs are consecutive, nu fixed displacements from one pointer) by
 * npos positions side by side in a row of the output, each with its own
 * accumulators (a dW entry gets one multiply-add per position: npos of them
 * keep a block of few entries from waiting on multiply-add latency). */
#define DW_SHAPES(X) X(4, 3, 1) X(2, 3, 2) X(1, 3, 4) X(2, 5, 1) X(1, 5, 2) X(4, 1, 3) X(1, 1, 12)

/* dwt[t0 + u][ob0 + b] += the sum over positions and nsamp samples of x
 * under tap t0 + u times gt at channel vector ob0 + b (b < nb, u < nu; taps
 * t0 .. t0+nu-1 are consecutive in a kernel row, at offset off in x).  Only
 * entries at or past (ob_new, t_new) are added: the others belong to the
 * block this one overlaps. */
EXA_K_INLINE void FN(dconv_w_block)(int nb, int nu, int npos, int64_t ob0, int64_t ob_new,
                                    int64_t t0, int64_t t_new, int64_t off, int64_t wx, int64_t oh,
                                    int64_t ow, int64_t op, int64_t nsamp,
                                    const real *restrict gt, const real *restrict x, int64_t sx,
                                    real *restrict dwt)
{
    FN(vec) acc[12]; /* [(position * nb + channel vector) * nu + tap] */
#pragma GCC unroll 12
    for (int e = 0; e < npos; e++)
#pragma GCC unroll 6
        for (int b = 0; b < nb; b++)
#pragma GCC unroll 12
            for (int u = 0; u < nu; u++)
                acc[(e * nb + b) * nu + u] = (FN(vec)){0};
    for (int64_t sm = 0; sm < nsamp; sm++) {
        const real *xs = x + sm * sx + off, *gs = gt + sm * oh * ow * op + ob0 * VL;
        for (int64_t i = 0; i < oh; i++) {
            const real *xi = xs + i * wx, *gi = gs + i * ow * op;
            int64_t j = 0;
            for (; j + npos <= ow; j += npos) {
#pragma GCC unroll 12
                for (int e = 0; e < npos; e++) {
                    FN(vec) gv[DC_MAXB];
#pragma GCC unroll 6
                    for (int b = 0; b < nb; b++)
                        gv[b] = LOADU(gi + (j + e) * op + b * VL);
#pragma GCC unroll 12
                    for (int u = 0; u < nu; u++) {
                        real xv = xi[j + e + u];
#pragma GCC unroll 6
                        for (int b = 0; b < nb; b++)
                            acc[(e * nb + b) * nu + u] += xv * gv[b];
                    }
                }
            }
            for (; j < ow; j++) { /* the row's last positions, into the first accumulators */
                FN(vec) gv[DC_MAXB];
#pragma GCC unroll 6
                for (int b = 0; b < nb; b++)
                    gv[b] = LOADU(gi + j * op + b * VL);
#pragma GCC unroll 12
                for (int u = 0; u < nu; u++) {
                    real xv = xi[j + u];
#pragma GCC unroll 6
                    for (int b = 0; b < nb; b++)
                        acc[b * nu + u] += xv * gv[b];
                }
            }
        }
    }
#pragma GCC unroll 6
    for (int b = 0; b < nb; b++)
#pragma GCC unroll 12
        for (int u = 0; u < nu; u++)
            if (ob0 + b >= ob_new && t0 + u >= t_new) {
                FN(vec) sum = acc[b * nu + u];
#pragma GCC unroll 12
                for (int e = 1; e < npos; e++)
                    sum += acc[(e * nb + b) * nu + u];
                real *at = dwt + (t0 + u) * op + (ob0 + b) * VL;
                STOREU(at, LOADU(at) + sum);
            }
}

/* dwt [c*kk*kk][op] += the weight gradients of nsamp samples: gt
 * [nsamp][oh*ow][op] against x [c][hx][wx] (samples sx apart) */
EXA_K_INLINE void FN(dconv_w_plane)(int64_t c, int64_t hx, int64_t wx, int64_t op, int64_t kk,
                                    int64_t nsamp, const real *restrict gt, const real *restrict x,
                                    int64_t sx, real *restrict dwt)
{
    int64_t oh = hx - kk + 1, ow = wx - kk + 1, nvec = op / VL;
    int nb = 1, nu = 1, npos = 12;
    int64_t best = -1;
    /* the estimate of pick_shape, per position: the longest of multiply-adds
     * and loads at two a cycle and one latency, over npos positions */
#define X(B, S, P)                                                                             \
    if ((B) <= nvec && (S) <= kk) {                                                            \
        int64_t per = (B) * (S) * (P) > ((B) + (S)) * (P) ? (B) * (S) * (P) : ((B) + (S)) * (P); \
        int64_t cost = (nvec + (B) - 1) / (B) * ((kk + (S) - 1) / (S)) * (per > 10 ? per : 10) * 12 / (P); \
        if (best < 0 || cost < best)                                                           \
            best = cost, nb = (B), nu = (S), npos = (P);                                       \
    }
    DW_SHAPES(X)
#undef X
#define X(B, S, P)                                                                             \
    case (B) * 256 + (S) * 16 + (P):                                                           \
        for (int64_t ci = 0; ci < c; ci++)                                                     \
            for (int64_t p = 0; p < kk; p++)                                                   \
                for (int64_t q = 0; q < kk; q += (S)) {                                        \
                    int64_t qb = q + (S) <= kk ? q : kk - (S), row = (ci * kk + p) * kk;       \
                    for (int64_t ob = 0; ob < nvec; ob += (B))                                 \
                        FN(dconv_w_block)((B), (S), (P), ob + (B) <= nvec ? ob : nvec - (B), ob, \
                                          row + qb, row + q, (ci * hx + p) * wx + qb, wx, oh,  \
                                          ow, op, nsamp, gt, x, sx, dwt);                      \
                }                                                                              \
        break;
    switch (nb * 256 + nu * 16 + npos) {
        DW_SHAPES(X)
    }
#undef X
}

/* dW [o, c*kk*kk] (+)= the weight gradient of sample i, one per sample or
 * summed over them (sdw == 0).  Samples go in chunks of DC_CHUNK through
 * each register block, so that a block's setup and its sums are paid once
 * per chunk.  Scratch: dwt [c*kk*kk][op], the chunk's gt [DC_CHUNK][oh*ow][op],
 * then (pad > 0) the chunk's padded inputs [DC_CHUNK][c][h+2pad][w+2pad]. */
#define DC_CHUNK EXA_DCONV_CHUNK
EXA_K_VEC
static void FN(dconv_grad_w_vec)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                            int64_t pad, const real *g, int64_t sg, const real *x, int64_t sx,
                            real *dw, int64_t sdw, real *scratch)
{
    int64_t ckk = c * kk * kk, op = (o + VL - 1) / VL * VL, chunk = sdw == 0 ? DC_CHUNK : 1;
    int64_t hp = h + 2 * pad, wp = w + 2 * pad, np = (hp - kk + 1) * (wp - kk + 1), plane = c * hp * wp;
    real *dwt = scratch, *gt = dwt + ckk * op, *xp = gt + DC_CHUNK * np * op;
    memset(dwt, 0, (size_t)(ckk * op) * sizeof *dwt);
    memset(gt, 0, (size_t)(DC_CHUNK * np * op) * sizeof *gt); /* the padding channels stay 0 */
    if (count == 0 && sdw == 0)
        memset(dw, 0, (size_t)(o * ckk) * sizeof *dw);
    for (int64_t s0 = 0; s0 < count; s0 += chunk) {
        int64_t m = count - s0 < chunk ? count - s0 : chunk;
        for (int64_t k = 0; k < m; k++)
            for (int64_t oc = 0; oc < o; oc++)
                for (int64_t e = 0; e < np; e++)
                    gt[(k * np + e) * op + oc] = g[(s0 + k) * sg + oc * np + e];
        const real *xs = x + s0 * sx;
        int64_t xstride = sx;
        if (pad > 0) {
            if (s0 == 0) /* the borders, once */
                memset(xp, 0, (size_t)(m * plane) * sizeof *xp);
            for (int64_t k = 0; k < m; k++)
                FN(pad_copy)(c, h, w, pad, x + (s0 + k) * sx, xp + k * plane, 0);
            xs = xp, xstride = plane;
        }
        FN(dconv_w_plane)(c, hp, wp, op, kk, m, gt, xs, xstride, dwt);
        if (sdw != 0 || s0 + m == count) { /* dw = dwt^T, dwt cleared */
            real *out = dw + s0 * sdw;
            for (int64_t oc = 0; oc < o; oc++)
                for (int64_t t = 0; t < ckk; t++)
                    out[oc * ckk + t] = dwt[t * op + oc];
            memset(dwt, 0, (size_t)(ckk * op) * sizeof *dwt);
        }
    }
}

/* Scratch, in elements, of one call of each vector kernel (kernels.h's
 * formulas without the im2col fallback's share; kernels_par_t.c gives each
 * thread this much). */
/* Scratch per call: kernels.h's formula (shared with exac), at this VL. */
static int64_t FN(dconv_scratch_len)(int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                                     int64_t pad)
{
    return exa_dconv_scratch_len(EXA_DCONV_FWD, c, h, w, o, kk, pad, VL);
}

static int64_t FN(dconv_grad_x_scratch_len)(int64_t c, int64_t h, int64_t w, int64_t o,
                                            int64_t kk, int64_t pad)
{
    return exa_dconv_scratch_len(EXA_DCONV_GRAD_X, c, h, w, o, kk, pad, VL);
}

static int64_t FN(dconv_grad_w_scratch_len)(int64_t c, int64_t h, int64_t w, int64_t o,
                                            int64_t kk, int64_t pad)
{
    return exa_dconv_scratch_len(EXA_DCONV_GRAD_W, c, h, w, o, kk, pad, VL);
}
#undef DC_CHUNK

/* ---- GEMM with a narrow result ----------------------------------------- */

/* C [m, n] = op(A) [m, k] op(B) [k, n] + beta C for n <= SG_MAXV vectors and
 * a small op(B) (the PINN's 1000x40 by 40x40, the ODE nets' 5000x8 by 8x8).
 * Measured on one core (AVX2), against cblas_sgemm: 1000x40 by 40x40 56-66
 * GFLOP/s against 50-52, 5000x8 by 8x8 29-39 against 17, 1000x2 by 2x40 21
 * against 7.5.
 * OpenBLAS packs both operands and clears C on every call, which for these
 * shapes costs about as much as the products: here op(B) is packed once into
 * rows of whole vectors (zero-padded), and each block of rows of C is a set
 * of register accumulators, one broadcast of op(A) times each vector of the
 * row of op(B) per step of k. */
#define SG_MAXV 6    /* vectors per row of C: n <= 48 in f32, 24 in f64 */
#define SG_PACK 4096 /* elements of packed op(B): k * vectors * VL */

/* A row of C (nv vectors, n elements) = acc + beta C; the row's last
 * vector may be partial: through a whole one */
EXA_K_INLINE void FN(sg_store)(int nv, const FN(vec) *acc, real *restrict ci, int64_t n, real beta)
{
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
        int64_t lanes = n - v * VL < VL ? n - v * VL : VL;
        real part[VL] = { 0 };
        real *at = lanes == VL ? ci + v * VL : part;
        if (lanes < VL && beta != 0)
            memcpy(part, ci + v * VL, (size_t)lanes * sizeof *part);
        FN(vec) out = acc[v];
        if (beta != 0)
            out += beta * LOADU(at);
        STOREU(at, out);
        if (lanes < VL)
            memcpy(ci + v * VL, part, (size_t)lanes * sizeof *part);
    }
}

/* Rows i0 .. i0+nr-1 of C (nr rows, nv vectors each, constants where
 * inlined): a(i, l) is a[i*sai + l*sal]. */
EXA_K_INLINE void FN(sg_block)(int nr, int nv, int64_t i0, const real *restrict a, int64_t sai,
                               int64_t sal, const real *restrict bp, int64_t k, int64_t n,
                               real beta, real *restrict c, int64_t ldc)
{
    FN(vec) acc[12]; /* [r * nv + v] */
#pragma GCC unroll 12
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[r * nv + v] = (FN(vec)){0};
    const real *ai = a + i0 * sai;
    for (int64_t l = 0; l < k; l++) {
        FN(vec) bv[SG_MAXV];
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            bv[v] = LOADU(bp + (l * nv + v) * VL);
#pragma GCC unroll 12
        for (int r = 0; r < nr; r++) {
            real av = ai[r * sai + l * sal];
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[r * nv + v] += av * bv[v];
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < nr; r++)
        FN(sg_store)(nv, acc + r * nv, c + (i0 + r) * ldc, n, beta);
}

/* Whether exa_k_gemm takes FN(gemm_narrow) for these sizes: C at most
 * SG_MAXV vectors wide (at 8, one row a block, it only ties OpenBLAS), op(B)
 * small enough to pack, and one whole block of rows at least (a few rows
 * over a long k, as in an 8x8 weight gradient, are one accumulator each and
 * wait on the multiply-add latency: 7 GFLOP/s against OpenBLAS's 19). */
static int FN(gemm_is_narrow)(int64_t m, int64_t n, int64_t k)
{
    int64_t nv = (n + VL - 1) / VL;
    return nv <= SG_MAXV && k * nv * VL <= SG_PACK && m >= 12 / nv;
}

/* Rows lo .. lo+count-1 of C, from the packed op(B) (an exa_parallel_range
 * task: each row is the same sum in the same order whatever the split). */
typedef struct FN(SgJob) {
    int nv;
    const real *a, *bp;
    int64_t sai, sal, k, n, ldc;
    real beta;
    real *c;
} FN(SgJob);

EXA_K_VEC
static void FN(sg_rows)(const void *ctx, int64_t lo, int64_t count)
{
    const FN(SgJob) *j = ctx;
    const real *a = j->a, *bp = j->bp;
    int64_t sai = j->sai, sal = j->sal, k = j->k, n = j->n, ldc = j->ldc, i = lo, m = lo + count;
    real beta = j->beta, *c = j->c;
    /* blocks of 12 / nv rows (12 accumulators), then the rows left one at a time */
#define SG_CASE(NV)                                                                            \
    case NV:                                                                                   \
        for (; i + 12 / (NV) <= m; i += 12 / (NV))                                             \
            FN(sg_block)(12 / (NV), (NV), i, a, sai, sal, bp, k, n, beta, c, ldc);              \
        for (; i < m; i++)                                                                     \
            FN(sg_block)(1, (NV), i, a, sai, sal, bp, k, n, beta, c, ldc);                      \
        break
    switch (j->nv) {
        SG_CASE(1); SG_CASE(2); SG_CASE(3);
        SG_CASE(4); SG_CASE(5); SG_CASE(6);
    }
#undef SG_CASE
}

/* One product (exa_k_gemm's arguments for one i; FN(gemm_is_narrow)): op(B)
 * packed once, the rows of C split over --threads. */
EXA_K_VEC
static void FN(gemm_narrow)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *a,
                            int64_t lda, const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
    real bp[SG_PACK] __attribute__((aligned(32)));
    int nv = (int)((n + VL - 1) / VL);
    for (int64_t l = 0; l < k; l++) {
        real *row = bp + l * nv * VL;
        for (int64_t j = 0; j < n; j++)
            row[j] = tb ? b[j * ldb + l] : b[l * ldb + j];
        for (int64_t j = n; j < nv * VL; j++)
            row[j] = 0;
    }
    FN(SgJob) job = { nv, a, bp, ta ? 1 : lda, ta ? lda : 1, k, n, ldc, beta, c };
    exa_parallel_range(m, 2 * k * n, FN(sg_rows), &job);
}

#undef SG_MAXV
#undef SG_PACK

/* ---- GEMM over a long k: a weight gradient summed over the batch -------- */

/* C [m, n] = A^T B + beta C, A [k, m] and B [k, n] row-major (ta, not tb),
 * m, n <= TG_MAXD and k long: a dense layer's weight gradient, the batch
 * summed away (the ODE net's 8x8 over 5000 samples, the PINN's 40x40 over
 * 1000).  OpenBLAS packs both operands per call and ran these at 16 GFLOP/s
 * (its SSE3 kernels on this CPU, and its blocking made for square
 * products); sg_block's form (a broadcast times the vectors of a row) holds
 * a whole tile of C in registers while one pass over k streams both
 * operands once.
 *
 * The vectors run along whichever side of C gives the cheaper tiling (C^T
 * = B^T A when C is tall and thin: the PINN's 40x2 first layer).  Tiles of
 * nr rows by nv vectors, every shape with nr * nv <= 12 instantiated, so
 * the last row and vector tiles are exact (no overlap: tiles may run on
 * different threads).  A tile of at most 6 accumulators keeps two sets,
 * even and odd l, so that it waits less on the multiply-add latency.  Each
 * element of C is thus a fixed sum (the shape decides it, not --threads).
 *
 * The vector operand's rows are read as whole vectors; where its width is
 * not a multiple of the vector, the last vector runs past the row into the
 * next one (the lanes past it are not stored), and the last rows, where
 * that would run past the operand, are read from a zero-padded copy. */
#define TG_MAXD 64
#define TG_KBLOCK 128 /* rows of A and B: 2 x 128 x 64 floats, 64 KB at most */
#define TG_SHAPES(X)                                                                           \
    X(1, 1) X(2, 1) X(3, 1) X(4, 1) X(5, 1) X(6, 1) X(7, 1) X(8, 1) X(9, 1) X(10, 1) X(11, 1) \
    X(12, 1) X(1, 2) X(2, 2) X(3, 2) X(4, 2) X(5, 2) X(6, 2) X(1, 3) X(2, 3) X(3, 3) X(4, 3)   \
    X(1, 4) X(2, 4) X(3, 4) X(1, 5) X(2, 5) X(1, 6) X(2, 6)

typedef struct FN(TgJob) {
    const real *a, *b, *tail; /* a: broadcast [k][lda]; b: vectors [k][ldb]; tail: b's rows kd.. */
    int64_t lda, ldb, k, kd;
    int64_t rows, nvec;       /* the result's rows, vectors per row */
    int64_t nr, nv, tcols;    /* the tile shape, tiles per row of tiles */
    real *ct;                 /* the result [rows][nvec * VL] */
} FN(TgJob);

/* acc[r * nv + v] += a(l, i0 + r) * the vector v of row l (ar: a's row l at
 * i0, br: b's row l at the tile's first vector) */
EXA_K_INLINE void FN(tg_row)(int nr, int nv, FN(vec) *acc, const real *restrict ar,
                             const real *restrict br)
{
    FN(vec) bv[6];
#pragma GCC unroll 6
    for (int v = 0; v < nv; v++)
        bv[v] = LOADU(br + v * VL);
#pragma GCC unroll 12
    for (int r = 0; r < nr; r++) {
        real av = ar[r];
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++)
            acc[r * nv + v] += av * bv[v];
    }
}

/* The tile of rows i0 .. i0+nr-1 and vectors v0 .. v0+nv-1 of the result,
 * over rows l0 .. l1-1 of the operands: the sum over them added to the
 * tile's sum so far in ct (the first block sets it). */
EXA_K_INLINE void FN(tg_block)(int nr, int nv, int64_t i0, int64_t v0, int64_t l0, int64_t l1,
                               const FN(TgJob) *j)
{
    const int sets = nr * nv <= 6 ? 2 : 1;
    int64_t lda = j->lda, ldb = j->ldb, kd = j->kd, ldt = j->nvec * VL, l = l0;
    real *ct = j->ct + i0 * ldt + v0 * VL;
    FN(vec) acc[24]; /* [set * 12 + r * nv + v] */
#pragma GCC unroll 24
    for (int e = 0; e < 24; e++)
        acc[e] = (FN(vec)){0};
    if (l0 > 0)
#pragma GCC unroll 12
        for (int r = 0; r < nr; r++)
#pragma GCC unroll 6
            for (int v = 0; v < nv; v++)
                acc[r * nv + v] = LOADU(ct + r * ldt + v * VL);
    const real *a = j->a + i0, *b = j->b + v0 * VL, *tail = j->tail + v0 * VL;
    int64_t lmain = l1 < kd ? l1 : kd;
    for (; l + sets <= lmain; l += sets)
#pragma GCC unroll 2
        for (int s = 0; s < sets; s++)
            FN(tg_row)(nr, nv, acc + s * 12, a + (l + s) * lda, b + (l + s) * ldb);
    for (; l < l1; l++) /* the rows left, into the first set */
        FN(tg_row)(nr, nv, acc, a + l * lda, l < kd ? b + l * ldb : tail + (l - kd) * ldt);
#pragma GCC unroll 12
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++)
            STOREU(ct + r * ldt + v * VL,
                   sets == 2 ? acc[r * nv + v] + acc[12 + r * nv + v] : acc[r * nv + v]);
}

/* Tiles lo .. lo+count-1 (row of tiles major; an exa_parallel_range task),
 * TG_KBLOCK rows of the operands at a time through all of them, so that
 * the tiles after the first find those rows in L1 */
EXA_K_VEC
static void FN(tg_tiles)(const void *ctx, int64_t lo, int64_t count)
{
    const FN(TgJob) *j = ctx;
    for (int64_t l0 = 0; l0 < j->k; l0 += TG_KBLOCK) {
        int64_t l1 = j->k - l0 < TG_KBLOCK ? j->k : l0 + TG_KBLOCK;
        for (int64_t t = lo; t < lo + count; t++) {
            int64_t i0 = t / j->tcols * j->nr, v0 = t % j->tcols * j->nv;
            /* the last tile of a row or a column: the shape that fits exactly */
            int nr = (int)(j->rows - i0 < j->nr ? j->rows - i0 : j->nr);
            int nv = (int)(j->nvec - v0 < j->nv ? j->nvec - v0 : j->nv);
#define X(R, V)                                                                                \
    case (R) * 16 + (V):                                                                       \
        FN(tg_block)((R), (V), i0, v0, l0, l1, j);                                             \
        break;
            switch (nr * 16 + nv) {
                TG_SHAPES(X)
            }
#undef X
        }
    }
}

/* The estimated time of the tiling of rows x nvec vectors by nr x nv tiles,
 * in half cycles per l: the longest of the multiply-adds at two a cycle,
 * the loads (a vector of a row counted twice: measured, 40x40 over 1000
 * rows ran at 58 GFLOP/s in 2 x 5 tiles against 77 in 10 x 1 or 4 x 3)
 * and the multiply-add latency over the sets; each tile one more pass. */
static int64_t FN(tg_cost)(int64_t rows, int64_t nvec, int64_t nr, int64_t nv)
{
    int64_t per = nr * nv > nr + 2 * nv ? nr * nv : nr + 2 * nv, lat = nr * nv <= 6 ? 5 : 10;
    int64_t tiles = ((rows + nr - 1) / nr) * ((nvec + nv - 1) / nv);
    return tiles * (per > lat ? per : lat) + tiles; /* + tiles: of equal estimates, fewer passes */
}

/* The best tiling for rows x cols (vectors along cols): *nr, *nv; its cost */
static int64_t FN(tg_pick)(int64_t rows, int64_t cols, int64_t *nr, int64_t *nv)
{
    int64_t nvec = (cols + VL - 1) / VL, best = -1;
#define X(R, V)                                                                                \
    if ((R) <= rows && (V) <= nvec) {                                                          \
        int64_t cost = FN(tg_cost)(rows, nvec, (R), (V));                                      \
        if (best < 0 || cost < best)                                                           \
            best = cost, *nr = (R), *nv = (V);                                                 \
    }
    TG_SHAPES(X)
#undef X
    return best;
}

/* Whether exa_k_gemm takes FN(gemm_tall): A^T B, both sides of C at most
 * TG_MAXD, k long enough that a pass over it outweighs the setup (below,
 * gemm_narrow or OpenBLAS), rows of the operands at least as long as C's. */
static int FN(gemm_is_tall)(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb)
{
    return ta && !tb && m <= TG_MAXD && n <= TG_MAXD && k >= 64 && lda >= m && ldb >= n;
}

EXA_K_VEC
static void FN(gemm_tall)(int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                          const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
    int64_t nr = 1, nv = 1, nr2 = 1, nv2 = 1;
    /* vectors along n, or along m (C^T = B^T A): the cheaper */
    int swap = FN(tg_pick)(n, m, &nr2, &nv2) < FN(tg_pick)(m, n, &nr, &nv);
    if (swap) {
        const real *t = a;
        a = b, b = t;
        int64_t u = lda;
        lda = ldb, ldb = u, u = m, m = n, n = u, nr = nr2, nv = nv2;
    }
    int64_t nvec = (n + VL - 1) / VL, ldt = nvec * VL, over = ldt - n;
    /* rows kd.. of b: the last vector would run past the operand */
    int64_t kd = over == 0 ? k : k - (over + ldb - 1) / ldb;
    kd = kd > 0 ? kd : 0;
    real ct[TG_MAXD * TG_MAXD] __attribute__((aligned(32)));
    real tail[VL * TG_MAXD] __attribute__((aligned(32)));
    for (int64_t l = kd; l < k; l++)
        for (int64_t x = 0; x < ldt; x++)
            tail[(l - kd) * ldt + x] = x < n ? b[l * ldb + x] : 0;
    int64_t tcols = (nvec + nv - 1) / nv, tiles = (m + nr - 1) / nr * tcols;
    FN(TgJob) job = { a, b, tail, lda, ldb, k, kd, m, nvec, nr, nv, tcols, ct };
    exa_parallel_range(tiles, 2 * k * nr * nv * VL, FN(tg_tiles), &job);
    for (int64_t i = 0; i < m; i++) /* C (or C^T) = ct + beta C */
        for (int64_t x = 0; x < n; x++) {
            real *at = swap ? c + x * ldc + i : c + i * ldc + x;
            *at = ct[i * ldt + x] + (beta != 0 ? beta * *at : 0);
        }
}

#undef TG_MAXD
#undef TG_KBLOCK
#undef TG_SHAPES

/* ---- column sums ------------------------------------------------------- */

/* kernels_t.c's sum_rows over the whole vectors of each row, with the
 * partial sums in registers: 4 sets (row r to set r % 4) of up to 3
 * vectors; the columns past the last whole vector through sum_rows. */
EXA_K_INLINE void FN(sum_cols_block)(int nv, int64_t rows, int64_t ldx, const real *restrict x,
                                     real *restrict y)
{
    FN(vec) s[12]; /* [set * 3 + v] */
#pragma GCC unroll 12
    for (int e = 0; e < 12; e++)
        s[e] = (FN(vec)){0};
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++)
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++)
                s[q * 3 + v] += LOADU(x + (r + q) * ldx + v * VL);
    for (; r < rows; r++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            s[v] += LOADU(x + r * ldx + v * VL);
#pragma GCC unroll 3
    for (int v = 0; v < nv; v++)
        STOREU(y + v * VL, (s[v] + s[3 + v]) + (s[6 + v] + s[9 + v]));
}

EXA_K_VEC
static void FN(sum_cols_vec)(int64_t rows, int64_t n, const real *x, real *y)
{
    int64_t whole = n / VL * VL, c0 = 0;
    for (; c0 + 3 * VL <= whole; c0 += 3 * VL)
        FN(sum_cols_block)(3, rows, n, x + c0, y + c0);
    if (whole - c0 == 2 * VL)
        FN(sum_cols_block)(2, rows, n, x + c0, y + c0);
    else if (whole - c0 == VL)
        FN(sum_cols_block)(1, rows, n, x + c0, y + c0);
    if (whole < n)
        FN(sum_rows)(rows, n - whole, n, x + whole, y + whole);
}

#undef VL
#endif /* EXA_K_VEC */

/* exa_k_reduce_to's column sums in vectors where the CPU has them (declared
 * in kernels_t.c): 1 when done, 0 when kernels_t.c's loop is to. */
static int FN(sum_rows_try)(int64_t rows, int64_t n, const real *x, real *y)
{
#ifdef EXA_K_VEC
    if (exa_k_vec_ok()) {
        FN(sum_cols_vec)(rows, n, x, y);
        return 1;
    }
#else
    (void)rows, (void)n, (void)x, (void)y;
#endif
    return 0;
}

/* exa_k_gemm's narrow path (declared in kernels_t.c): 1 when it computed the
 * product, 0 when OpenBLAS is to. */
static int FN(gemm_narrow_try)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *a,
                               int64_t lda, const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
#ifdef EXA_K_VEC
    if (exa_k_vec_ok() && FN(gemm_is_tall)(ta, tb, m, n, k, lda, ldb)) {
        FN(gemm_tall)(m, n, k, a, lda, b, ldb, beta, c, ldc);
        return 1;
    }
    if (exa_k_vec_ok() && FN(gemm_is_narrow)(m, n, k)) {
        FN(gemm_narrow)(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
        return 1;
    }
#else
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb;
    (void)beta, (void)c, (void)ldc;
#endif
    return 0;
}

#ifdef EXA_K_VEC
#undef DC_SHAPES
#undef DW_SHAPES
#undef DC_MAXB
#undef DC_MAXS
#undef LOADU
#undef STOREU
#endif
#undef real
#else
/* Compiled on its own: nothing (the body is only meaningful inside kernels.c). */
typedef int exa_kernels_vec_t_is_included_by_kernels_c;
#endif
