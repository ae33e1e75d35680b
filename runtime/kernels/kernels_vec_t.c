/* kernels_vec_t.c - the kernels written with vectors by hand, the
 * type-generic body (included once per type, like kernels_t.c,
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

/* ---- the weight gradient along output channels (kernels_dconvw_t.c), in
 * 256- and 512-bit vectors; the file undefines its parameters ---- */
#define DN(name) FN(name##_v3)
#define DBYTES 32
#define DTARGET EXA_K_VEC
#define DW_SHAPES(X) X(4, 3, 1) X(2, 3, 2) X(1, 3, 4) X(2, 5, 1) X(1, 5, 2) X(4, 1, 3) X(1, 1, 12)
#define DW_MAXACC 12
#define DW_MAXB 6
#include "kernels_dconvw_t.c"
#define DN(name) FN(name##_v4)
#define DBYTES 64
#define DTARGET EXA_K_V4
#define DW_SHAPES(X) X(1, 5, 4) X(1, 5, 2) X(1, 3, 8) X(1, 3, 4) X(2, 5, 2) X(2, 3, 4) X(4, 5, 1) X(4, 3, 2) X(1, 1, 12)
#define DW_MAXACC 24
#define DW_MAXB 12
#include "kernels_dconvw_t.c"

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

/* ---- max-pooling's gradient, 2x2 windows at stride 2 (f32) ------------- */

#ifdef EXA_K_F32
/* kernels_t.c's maxpool_grad_sample for the tiled 2x2 case, by the same
 * selects, 8 windows at a time: GCC did not vectorise its stride-2 loads
 * and stores (it was 11% of LeNet's training step, more than the forward
 * convolution of its first layer).  Each window's four inputs a b / c d
 * come from two vectors of each input row, split into even and odd lanes;
 * the four results are interleaved back.  Exactly the scalar loop's
 * results: the first of a, b, c, d equal to the window's maximum (computed
 * in that order) takes g, the others 0. */
typedef int32_t exa_k_mp_imask __attribute__((vector_size(32)));
#define MP_SEL(m, x, y) ((FN(vec))(((exa_k_mp_imask)(x) & (m)) | ((exa_k_mp_imask)(y) & ~(m))))

/* 8 windows: row 0 of their inputs at r0[0..8) and r0b[0..8) (windows 0-3
 * and 4-7), row 1 w further on; g for the 8 at gi; dx alike at d0, d0b. */
EXA_K_INLINE void FN(mp_grad8)(const real *r0, const real *r0b, int64_t w, const real *gi, real *d0,
                                real *d0b)
{
    const exa_k_mp_imask even = { 0, 2, 4, 6, 8, 10, 12, 14 }, odd = { 1, 3, 5, 7, 9, 11, 13, 15 };
    const exa_k_mp_imask lo = { 0, 8, 1, 9, 2, 10, 3, 11 }, hi = { 4, 12, 5, 13, 6, 14, 7, 15 };
    FN(vec) u0 = LOADU(r0), u1 = LOADU(r0b), v0 = LOADU(r0 + w), v1 = LOADU(r0b + w), g = LOADU(gi);
    FN(vec) a = __builtin_shuffle(u0, u1, even), b = __builtin_shuffle(u0, u1, odd);
    FN(vec) c = __builtin_shuffle(v0, v1, even), d = __builtin_shuffle(v0, v1, odd), zero = { 0 };
    FN(vec) m = MP_SEL(a > b, a, b);
    m = MP_SEL(m > c, m, c);
    m = MP_SEL(m > d, m, d);
    exa_k_mp_imask ea = a == m, eb = b == m, ec = c == m;
    FN(vec) da = MP_SEL(ea, g, zero);
    g = MP_SEL(ea, zero, g);
    FN(vec) db = MP_SEL(eb, g, zero);
    g = MP_SEL(eb, zero, g);
    FN(vec) dc = MP_SEL(ec, g, zero), dd = MP_SEL(ec, zero, g);
    STOREU(d0, __builtin_shuffle(da, db, lo));
    STOREU(d0b, __builtin_shuffle(da, db, hi));
    STOREU(d0 + w, __builtin_shuffle(dc, dd, lo));
    STOREU(d0b + w, __builtin_shuffle(dc, dd, hi));
}

/* The forward of the same 8 windows: their maxima, by the scalar loop's
 * selects (maxpool_sample), into y[0..8). */
EXA_K_INLINE void FN(mp_fwd8)(const real *r0, const real *r0b, int64_t w, real *y)
{
    const exa_k_mp_imask even = { 0, 2, 4, 6, 8, 10, 12, 14 }, odd = { 1, 3, 5, 7, 9, 11, 13, 15 };
    FN(vec) u0 = LOADU(r0), u1 = LOADU(r0b), v0 = LOADU(r0 + w), v1 = LOADU(r0b + w);
    FN(vec) a = __builtin_shuffle(u0, u1, even), b = __builtin_shuffle(u0, u1, odd);
    FN(vec) c = __builtin_shuffle(v0, v1, even), d = __builtin_shuffle(v0, v1, odd);
    FN(vec) m = MP_SEL(b > a, b, a);
    m = MP_SEL(c > m, c, m);
    STOREU(y, MP_SEL(d > m, d, m));
}

/* Whether mp_grad_vec (and mp_fwd_vec) takes a sample: 2x2 windows at stride 2 tiling x,
 * output rows of 8 windows or more (a row's last 8 moved back to overlap:
 * the same values stored twice), or of exactly 4 (two rows at a time). */
static int FN(mp_grad_vec_fits)(int64_t h, int64_t w, int64_t window, int64_t stride)
{
    int64_t ow = w / 2, oh = h / 2;
    return window == 2 && stride == 2 && h % 2 == 0 && w % 2 == 0 && (ow >= 8 || (ow == 4 && oh % 2 == 0));
}

EXA_K_VEC
static void FN(mp_grad_vec)(int64_t count, int64_t c, int64_t h, int64_t w, const real *g, int64_t sg,
                            const real *x, int64_t sx, real *dx, int64_t sdx)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t s = 0; s < count; s++)
        for (int64_t ch = 0; ch < c; ch++) {
            const real *xc = x + s * sx + ch * h * w, *gc = g + s * sg + ch * oh * ow;
            real *dc = dx + s * sdx + ch * h * w;
            if (ow == 4) /* output rows i and i+1: input rows 2i and 2i+2 */
                for (int64_t i = 0; i < oh; i += 2)
                    FN(mp_grad8)(xc + 2 * i * w, xc + (2 * i + 2) * w, w, gc + i * ow, dc + 2 * i * w,
                                 dc + (2 * i + 2) * w);
            else
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j0 = 0; j0 < ow; j0 += 8) {
                        int64_t j = j0 + 8 <= ow ? j0 : ow - 8, at = 2 * i * w + 2 * j;
                        FN(mp_grad8)(xc + at, xc + at + 8, w, gc + i * ow + j, dc + at, dc + at + 8);
                    }
        }
}
EXA_K_VEC
static void FN(mp_fwd_vec)(int64_t count, int64_t c, int64_t h, int64_t w, const real *x, int64_t sx,
                           real *y, int64_t sy)
{
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t s = 0; s < count; s++)
        for (int64_t ch = 0; ch < c; ch++) {
            const real *xc = x + s * sx + ch * h * w;
            real *yc = y + s * sy + ch * oh * ow;
            if (ow == 4)
                for (int64_t i = 0; i < oh; i += 2)
                    FN(mp_fwd8)(xc + 2 * i * w, xc + (2 * i + 2) * w, w, yc + i * ow);
            else
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j0 = 0; j0 < ow; j0 += 8) {
                        int64_t j = j0 + 8 <= ow ? j0 : ow - 8, at = 2 * i * w + 2 * j;
                        FN(mp_fwd8)(xc + at, xc + at + 8, w, yc + i * ow + j);
                    }
        }
}
#undef MP_SEL
#endif /* EXA_K_F32 */

/* ---- GEMM: narrow results and long k (kernels_gemm_t.c), in 256- and
 * 512-bit vectors ---- */
#define GN(name) FN(name##_v3)
#define GBYTES 32
#define GTARGET EXA_K_VEC
#include "kernels_gemm_t.c"
#undef GN
#undef GBYTES
#undef GTARGET
#define GN(name) FN(name##_v4)
#define GBYTES 64
#define GTARGET EXA_K_V4
#include "kernels_gemm_t.c"
#undef GN
#undef GBYTES
#undef GTARGET

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

/* ---- transpose --------------------------------------------------------- */

/* y [c, r] = x [r, c]^T: VL x VL blocks by kernels_gemm_t.c's interleaves
 * (mt_tblock_v3), the edges element by element.  kernels_t.c's element loop
 * took 2.1 us for the PINN's 40x40 weight, which exac's pretranspose stores
 * transposed once a batch group: 3% of bench (b)'s step (session 10). */
EXA_K_VEC
static void FN(transpose_vec)(int64_t r, int64_t c, const real *restrict x, real *restrict y)
{
    int64_t r0 = r / VL * VL, c0 = c / VL * VL;
    for (int64_t i = 0; i < r0; i += VL)
        for (int64_t j = 0; j < c0; j += VL)
            FN(mt_tblock_v3)((int)VL, x + i * c + j, c, y + j * r + i, r);
    for (int64_t i = 0; i < r; i++) /* the columns past the blocks */
        for (int64_t j = c0; j < c; j++)
            y[j * r + i] = x[i * c + j];
    for (int64_t i = r0; i < r; i++) /* the rows past them */
        for (int64_t j = 0; j < c0; j++)
            y[j * r + i] = x[i * c + j];
}

#undef VL
#endif /* EXA_K_VEC */

/* exa_k_transpose's blocks in vectors where the CPU has them (called by
 * kernels_par_t.c): 1 when done, 0 when kernels_t.c's loop is to. */
static int FN(transpose_try)(int64_t count, int64_t r, int64_t c, const real *x, int64_t sx, real *y)
{
#ifdef EXA_K_VEC
    if (exa_k_vec_ok()) {
        for (int64_t s = 0; s < count; s++)
            FN(transpose_vec)(r, c, x + s * sx, y + s * r * c);
        return 1;
    }
#else
    (void)count, (void)r, (void)c, (void)x, (void)sx, (void)y;
#endif
    return 0;
}

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

/* The shapes exa_k_gemm gives kernels_gemm_t.c's tiles (where
 * exa_k_gemm_tiles lets it, kernels.c): n at least TILE_MIN (narrower
 * products went to the narrow kernels above, or OpenBLAS), m and k at least
 * TILE_MIN_MK, and op(B) at most TILE_MAXB elements (packed whole per call
 * where it is transposed or larger than MT_DIRECT: kernels_gemm_t.c).
 * Small m and k are a tile's edge, and still beat OpenBLAS's pre-FMA
 * kernels: the 784-128-10 MLP's output layer, one thread, microseconds
 * (bench/gemm_peak.c -us, tiles / OpenBLAS Prescott): input gradient
 * 100x128x10 nn 2.9 / 12.5, weight gradient 10x128x100 tn 4.0 / 10.4;
 * 100x128x4 nn 1.4 / 7.9, 4x128x100 tn 3.3 / 5.3, 16x128x10 0.4 / 2.0. */
#ifdef EXA_K_VEC
#define TILE_MIN 16
#define TILE_MIN_MK 4
#define TILE_MAXB (1 << 22)
static int FN(gemm_tile_fits)(int64_t m, int64_t n, int64_t k)
{
    return m >= TILE_MIN_MK && n >= TILE_MIN && k >= TILE_MIN_MK && k * n <= TILE_MAXB;
}
#undef TILE_MIN
#undef TILE_MIN_MK
#undef TILE_MAXB
#endif

int FN(exa_k_gemm_tile)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                        const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
#ifdef EXA_K_VEC
    if (!exa_k_vec_ok())
        return 0;
    if (m == 0 || n == 0)
        return 1;
    return exa_k_v4_ok() ? FN(gemm_tile_v4)(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc)
                         : FN(gemm_tile_v3)(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
#else
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb;
    (void)beta, (void)c, (void)ldc;
    return 0;
#endif
}

/* exa_k_gemm's narrow path (declared in kernels_t.c): 1 when it computed the
 * product, 0 when OpenBLAS is to. */
static int FN(gemm_narrow_try)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *a,
                               int64_t lda, const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
#ifdef EXA_K_VEC
    /* the 512-bit code where it does fewer multiply-adds (C wider than one
     * 256-bit vector), else the 256-bit code */
    if (!exa_k_vec_ok())
        return 0;
    int v4 = exa_k_v4_ok();
    if (FN(gemm_is_tall_v3)(ta, tb, m, n, k, lda, ldb) && exa_k_gemm_small_blas(m, n, k))
        return 0;
    if (v4 && FN(gemm_is_tall_v4)(ta, tb, m, n, k, lda, ldb) && FN(tall_cost_v4)(m, n) < FN(tall_cost_v3)(m, n)) {
        FN(gemm_tall_v4)(m, n, k, a, lda, b, ldb, beta, c, ldc);
        return 1;
    }
    if (FN(gemm_is_tall_v3)(ta, tb, m, n, k, lda, ldb)) {
        FN(gemm_tall_v3)(m, n, k, a, lda, b, ldb, beta, c, ldc);
        return 1;
    }
    if (v4 && FN(gemm_is_narrow_v4)(m, n, k) && FN(narrow_vectors_v4)(n) < FN(narrow_vectors_v3)(n)) {
        FN(gemm_narrow_v4)(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
        return 1;
    }
    if (FN(gemm_is_narrow_v3)(m, n, k)) {
        FN(gemm_narrow_v3)(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
        return 1;
    }
    if (FN(gemm_tile_fits)(m, n, k) && exa_k_gemm_tiles(ta, m, n, k))
        return v4 ? FN(gemm_tile_v4)(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc)
                  : FN(gemm_tile_v3)(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
#else
    (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb;
    (void)beta, (void)c, (void)ldc;
#endif
    return 0;
}

#ifdef EXA_K_VEC
#undef DC_SHAPES
#undef DC_MAXB
#undef DC_MAXS
#undef LOADU
#undef STOREU
#endif
#undef real
#else
/* Compiled on its own: nothing (kernels_f32.c and kernels_f64.c include the body). */
typedef int exa_kernels_vec_t_is_included_by_kernels_c;
#endif
