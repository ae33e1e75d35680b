/* kernels_v4_t.c - the direct convolutions on AVX-512, the type-generic body
 * (included once per type, by kernels_f32.c and kernels_f64.c, after
 * kernels_vec_t.c and before kernels_par_t.c, whose entry points run these
 * where exa_k_v4_ok() finds a CPU with AVX-512 and the output plane holds
 * one vector at least).
 *
 * Why a second vector form beside kernels_vec_t.c's: there a vector is VL
 * consecutive outputs of one row of the output plane, and at 16 floats that
 * is wider than LeNet's 8-wide second layer and wastes a third of the lanes
 * on its 24-wide first.  Here the input is first copied "shifted": plane
 * xs[ci*kk + q] is [hp][ow] with xs[ci*kk + q][r*ow + j] = xpad[ci][r][q + j],
 * so the input under tap (ci, p, q) of the output at flat position
 * f = i*ow + j is xs[ci*kk + q][p*ow + f].  Every tap reads consecutive flat
 * positions: a vector spans rows, and only a plane's last vector is partial.
 * The copy is kk times the input (im2col's is kk*kk times).
 *
 *   forward  y[oc][f] = sum over taps (ci, q, p) of w[oc][ci][p][q] *
 *            xs[ci*kk + q][p*ow + f]: a register block of output channels by
 *            vectors of f, one broadcast weight times one load per tap.
 *   grad_x   its adjoint, the same register block with (ci, q) as outputs and
 *            (oc, p) as taps: dxs[ci*kk + q][u] = sum over (oc, p) of
 *            w[oc][ci][p][q] * gz[oc][u + (kk-1-p)*ow] for u < hp*ow, gz = g
 *            with (kk-1)*ow zeros before and after each channel (only the
 *            rows are padded: the shift takes care of the columns); then
 *            dxpad[ci][r][col] = sum over q of dxs[ci*kk + q][r*ow + col - q]
 *            for 0 <= col - q < ow, cropped by pad.
 *   grad_w   dw[oc][ci][p][q] = sum over samples and f of g[oc][f] *
 *            xs[ci*kk + q][p*ow + f]: dot products along f, a block of output
 *            channels by taps of vector accumulators, their lanes summed once
 *            per call (in a fixed order: the result does not depend on how a
 *            batch is split, as long as the calls are the same).
 *
 * The last vector of a plane is moved back to overlap the one before (the
 * forward and grad_x: overlapping lanes store the same value, computed by the
 * same operations); grad_w, a sum, instead masks a last partial vector.
 * Compiled for x86-64-v4 (EXA_K_V4) only: libexa runs the AVX2 or baseline
 * kernels on other CPUs. */
#ifdef EXA_K_REAL
#define real EXA_K_REAL
#ifdef EXA_K_V4

typedef real FN(zvec) __attribute__((vector_size(64)));
typedef __typeof__((FN(zvec)){ 0 } < (FN(zvec)){ 0 }) FN(zmask); /* integer lanes of the same width */
#define ZL ((int64_t)(sizeof(FN(zvec)) / sizeof(real)))
typedef real FN(zuvec) __attribute__((vector_size(64), aligned(sizeof(real)), may_alias));
#define ZLOADU(p) (*(const FN(zuvec) *)(p))
#define ZSTOREU(p, v) (*(FN(zuvec) *)(p) = (v))

/* Register blocks, accumulators B*S <= 24 of the 32 vector registers (the
 * rest hold the loaded operands); one instantiation per shape. */
#define ZB_SHAPES(X) X(6, 4) X(4, 6) X(6, 3) X(3, 6) X(4, 4) X(8, 2) X(2, 8) X(12, 1) X(1, 12) X(1, 1)
#define ZB_MAXS 12

/* The shape among SHAPES of least estimated time for n1 by n2 (blocks no
 * larger): per step a block takes the longest of its multiply-adds and its
 * loads at two a cycle, and the latency of one multiply-add (4 cycles: eight
 * accumulators keep both units busy).  Ties: the first. */
#define Z_PICK(SHAPES, n1, n2, b1, b2)                                                         \
    do {                                                                                       \
        int64_t best_ = -1, n1_ = (n1), n2_ = (n2);                                            \
        int *b1_ = (b1), *b2_ = (b2);                                                          \
        SHAPES(Z_PICK_ONE)                                                                     \
    } while (0)
#define Z_PICK_ONE(B, S)                                                                       \
    if ((B) <= n1_ && (S) <= n2_) {                                                            \
        int64_t per_ = (B) * (S) > (B) + (S) ? (B) * (S) : (B) + (S);                          \
        per_ = per_ > 8 ? per_ : 8;                                                            \
        int64_t cost_ = (n1_ + (B) - 1) / (B) * ((n2_ + (S) - 1) / (S)) * per_;                \
        if (best_ < 0 || cost_ < best_)                                                        \
            best_ = cost_, *b1_ = (B), *b2_ = (S);                                             \
    }

/* Planes xs[ci*kk + q] (L apart) of x [c][h][w] padded by pad, shifted by q:
 * xs[ci*kk + q][r*ow + j] = xpad[ci][r][q + j] for r < h + 2 pad, j < ow. */
EXA_K_INLINE void FN(z_shift)(int64_t c, int64_t h, int64_t w, int64_t kk, int64_t pad, int64_t ow,
                              const real *restrict x, real *restrict xs, int64_t L)
{
    int64_t hp = h + 2 * pad;
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t q = 0; q < kk; q++) {
            real *pl = xs + (ci * kk + q) * L;
            int64_t j0 = pad - q > 0 ? pad - q : 0, j1 = w + pad - q < ow ? w + pad - q : ow;
            j0 = j0 < ow ? j0 : ow;
            j1 = j1 > j0 ? j1 : j0;
            for (int64_t r = 0; r < hp; r++) {
                real *row = pl + r * ow;
                int64_t rr = r - pad;
                if (rr < 0 || rr >= h) {
                    memset(row, 0, (size_t)ow * sizeof *row);
                    continue;
                }
                const real *src = x + (ci * h + rr) * w + q - pad; /* src[j], j in [j0, j1) */
                for (int64_t j = 0; j < j0; j++)
                    row[j] = 0;
                /* rows are short (24, 8 in LeNet): fixed 16- and 8-element copies
                 * compile to vector moves, a copy loop to a memcpy call
                 * per row (5% of LeNet's step) */
                int64_t j = j0;
                for (; j + 16 <= j1; j += 16)
                    memcpy(row + j, src + j, 16 * sizeof *row);
                for (; j + 8 <= j1; j += 8)
                    memcpy(row + j, src + j, 8 * sizeof *row);
                for (; j < j1; j++)
                    row[j] = src[j];
                for (int64_t j = j1; j < ow; j++)
                    row[j] = 0;
            }
        }
}

/* out[(m0+b)*so + f] for b < nb and the ns vectors from vector v0 = the sum
 * over taps (a, i), a < na, i < ni, of wp[(m0+b)*na*ni + a*ni + i] *
 * in[a*sa + i*sb + f].  Vector v starts at f = min(v*ZL, nf - ZL). */
EXA_K_INLINE void FN(z_block)(int nb, int ns, int64_t m0, int64_t v0, int64_t nf, int64_t na,
                              int64_t sa, int64_t ni, int64_t sb, const real *restrict wp,
                              const real *restrict in, real *restrict out, int64_t so)
{
    FN(zvec) acc[24]; /* [b * ns + s] */
    int64_t f[ZB_MAXS], ldw = na * ni;
#pragma GCC unroll 12
    for (int s = 0; s < ns; s++) {
        f[s] = (v0 + s) * ZL < nf - ZL ? (v0 + s) * ZL : nf - ZL;
#pragma GCC unroll 12
        for (int b = 0; b < nb; b++)
            acc[b * ns + s] = (FN(zvec)){ 0 };
    }
    const real *wb = wp + m0 * ldw;
    for (int64_t a = 0, t = 0; a < na; a++)
        for (int64_t i = 0; i < ni; i++, t++) {
            const real *it = in + a * sa + i * sb;
            FN(zvec) xv[ZB_MAXS];
#pragma GCC unroll 12
            for (int s = 0; s < ns; s++)
                xv[s] = ZLOADU(it + f[s]);
#pragma GCC unroll 12
            for (int b = 0; b < nb; b++) {
                real wv = wb[b * ldw + t];
#pragma GCC unroll 12
                for (int s = 0; s < ns; s++)
                    acc[b * ns + s] += wv * xv[s];
            }
        }
#pragma GCC unroll 12
    for (int b = 0; b < nb; b++)
#pragma GCC unroll 12
        for (int s = 0; s < ns; s++)
            ZSTOREU(out + (m0 + b) * so + f[s], acc[b * ns + s]);
}

/* out [M][so] (its first nf of each row) = z_block's sums for every output
 * m < M and every f < nf (nf >= ZL). */
EXA_K_V4
static void FN(z_plane)(int64_t M, int64_t nf, int64_t na, int64_t sa, int64_t ni, int64_t sb,
                        const real *restrict wp, const real *restrict in, real *restrict out,
                        int64_t so)
{
    int64_t nvec = (nf + ZL - 1) / ZL;
    int nb = 1, ns = 1;
    Z_PICK(ZB_SHAPES, M, nvec, &nb, &ns);
    /* a dimension the block does not divide ends with a block moved back:
     * overlapping outputs are stored twice, the same value */
#define X(B, S)                                                                                \
    case (B) * 16 + (S):                                                                       \
        for (int64_t v0 = 0; v0 < nvec; v0 += (S))                                             \
            for (int64_t m0 = 0; m0 < M; m0 += (B))                                            \
                FN(z_block)((B), (S), m0 + (B) <= M ? m0 : M - (B), v0 + (S) <= nvec ? v0 : nvec - (S), \
                            nf, na, sa, ni, sb, wp, in, out, so);                              \
        break;
    switch (nb * 16 + ns) {
        ZB_SHAPES(X)
    }
#undef X
}

/* Whether the AVX-512 kernels take a layer: its output plane holds one
 * vector (the forward's and grad_x's last vector moves back inside it). */
static int FN(z_fits)(int64_t h, int64_t w, int64_t kk, int64_t pad)
{
    return (h + 2 * pad - kk + 1) * (w + 2 * pad - kk + 1) >= ZL;
}

/* Whether the weight gradient goes along positions (z_grad_w) rather than
 * along output channels (kernels_dconvw_t.c's dconv_grad_w_v4): where that
 * computes fewer lanes.  Batch 100, one thread: LeNet's first layer (o = 6 fills 6 of 16
 * lanes along channels, f = 576 whole vectors along positions) 375 us along
 * positions against 476 for AVX2's form along channels; its second (both
 * forms fill every lane) 244 us along channels against 549-754 along
 * positions, which pays for its lane sums and partial-sum updates. */
static int FN(z_w_better)(int64_t o, int64_t h, int64_t w, int64_t kk, int64_t pad)
{
    int64_t np = (h + 2 * pad - kk + 1) * (w + 2 * pad - kk + 1);
    int64_t lanes_o = np * ((o + ZL - 1) / ZL * ZL), lanes_np = o * ((np + ZL - 1) / ZL * ZL);
    return lanes_np < lanes_o;
}

/* Forward.  Scratch: wp [o][c*kk*kk] (the weights with taps in (ci, q, p)
 * order), then xs [c*kk][hp*ow]. */
EXA_K_V4
static void FN(z_fwd)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                      int64_t pad, const real *x, int64_t sx, const real *wt, int64_t sw, real *y,
                      int64_t sy, real *scratch)
{
    int64_t hp = h + 2 * pad, wp_ = w + 2 * pad, oh = hp - kk + 1, ow = wp_ - kk + 1;
    int64_t ckk = c * kk * kk, L = hp * ow;
    real *wp = scratch, *xs = wp + o * ckk;
    for (int64_t s = 0; s < count; s++) {
        if (s == 0 || sw != 0) {
            const real *ws = wt + s * sw;
            for (int64_t oc = 0; oc < o; oc++)
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t p = 0; p < kk; p++)
                        for (int64_t q = 0; q < kk; q++)
                            wp[oc * ckk + (ci * kk + q) * kk + p] = ws[oc * ckk + (ci * kk + p) * kk + q];
        }
        FN(z_shift)(c, h, w, kk, pad, ow, x + s * sx, xs, L);
        FN(z_plane)(o, oh * ow, c * kk, L, kk, ow, wp, xs, y + s * sy, oh * ow);
    }
}

/* Input gradient.  Scratch: wp [c*kk][o*kk] (wp[ci*kk + q][oc*kk + i] =
 * w[oc][ci][kk-1-i][q]), gz [o][(oh + 2kk - 2)*ow], dxs [c*kk][hp*ow] and a
 * tail of ZL + kk. */
EXA_K_V4
static void FN(z_grad_x)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                         int64_t pad, const real *g, int64_t sg, const real *wt, int64_t sw,
                         real *dx, int64_t sdx, real *scratch)
{
    int64_t hp = h + 2 * pad, wp_ = w + 2 * pad, oh = hp - kk + 1, ow = wp_ - kk + 1;
    int64_t ckk = c * kk * kk, np = oh * ow, e = (kk - 1) * ow, Lg = np + 2 * e, L = hp * ow;
    real *wp = scratch, *gz = wp + c * kk * o * kk, *dxs = gz + o * Lg;
    for (int64_t oc = 0; oc < o; oc++) { /* the zero rows, once */
        memset(gz + oc * Lg, 0, (size_t)e * sizeof *gz);
        memset(gz + oc * Lg + e + np, 0, (size_t)e * sizeof *gz);
    }
    memset(dxs + c * kk * L, 0, (size_t)(ZL + kk) * sizeof *dxs); /* the tail the sums read */
    FN(zmask) lane;
    for (int64_t l = 0; l < ZL; l++)
        lane[l] = (__typeof__(lane[0]))l;
    for (int64_t s = 0; s < count; s++) {
        if (s == 0 || sw != 0) {
            const real *ws = wt + s * sw;
            for (int64_t oc = 0; oc < o; oc++)
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t p = 0; p < kk; p++)
                        for (int64_t q = 0; q < kk; q++)
                            wp[(ci * kk + q) * o * kk + oc * kk + kk - 1 - p] =
                                ws[oc * ckk + (ci * kk + p) * kk + q];
        }
        for (int64_t oc = 0; oc < o; oc++) {
            const real *gs = g + s * sg + oc * np;
            real *gd = gz + oc * Lg + e;
            int64_t i = 0;
            for (; i + ZL <= np; i += ZL)
                ZSTOREU(gd + i, ZLOADU(gs + i));
            for (; i < np; i++)
                gd[i] = gs[i];
        }
        FN(z_plane)(c * kk, L, o, Lg, kk, ow, wp, gz, dxs, L);
        /* dx[ci][rr][x] = sum over q of dxs[ci*kk + q][(rr+pad)*ow + x + pad - q]
         * (terms with x + pad - q outside [0, ow) left out), ZL x's at a time
         * in registers, q in order: adding into dx row by row, each add
         * reloaded what the one before had just stored 1 to kk-1 elements
         * off, and waited for the store (two thirds of this kernel) */
        real *dxo = dx + s * sdx;
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t rr = 0; rr < h; rr++) {
                real *out = dxo + (ci * h + rr) * w;
                const real *src = dxs + ci * kk * L + (rr + pad) * ow;
                for (int64_t x0 = 0; x0 < w; x0 += ZL) {
                    FN(zvec) acc = { 0 };
                    for (int64_t q = 0; q < kk; q++) {
                        FN(zmask) j = lane + (__typeof__(lane[0]))(x0 + pad - q);
                        FN(zmask) keep = (j >= 0) & (j < (__typeof__(lane[0]))ow) &
                                         (lane < (__typeof__(lane[0]))(w - x0));
                        /* lanes outside the row read its neighbours (the
                         * last plane's, the zero tail): masked */
                        acc += (FN(zvec))((FN(zmask))ZLOADU(src + q * L + x0 + pad - q) & keep);
                    }
                    if (x0 + ZL <= w) {
                        ZSTOREU(out + x0, acc);
                    } else {
                        /* the row's last w - x0 < ZL elements in copies of
                         * constant size, which compile to moves: one memcpy
                         * call per row of LeNet's 12-wide conv2 input was
                         * a fifth of this kernel */
                        real part[ZL], *o = out + x0, *pp = part;
                        ZSTOREU(part, acc);
                        int64_t rem = w - x0;
                        for (int64_t chunk = ZL / 2; chunk >= 1; chunk /= 2)
                            if (rem & chunk) {
                                if (chunk >= 8)
                                    memcpy(o, pp, 8 * sizeof *o);
                                else if (chunk == 4)
                                    memcpy(o, pp, 4 * sizeof *o);
                                else if (chunk == 2)
                                    memcpy(o, pp, 2 * sizeof *o);
                                else
                                    *o = *pp;
                                o += chunk, pp += chunk;
                            }
                    }
                }
            }
    }
}

/* Blocks of the weight gradient: nb output channels by nt taps (taps
 * numbered (ci*kk + q)*kk + p). */
#define ZW_SHAPES(X) X(4, 6) X(6, 4) X(6, 3) X(3, 6) X(8, 3) X(3, 8) X(4, 4) X(2, 8) X(8, 2) X(1, 12) X(12, 1) X(1, 1)

/* dwv[(oc*ntap + t)*ZL ..] (+)= the lane-wise sums over nsamp samples of
 * g[oc][f] * xs[tap t][f] for oc = oc0 + b (b < nb), t = t0 + u (u < nt),
 * only for oc >= oc_new and t >= t_new (the others belong to the block this
 * one overlaps; so each entry is written by one block: stored on a chunk
 * that starts a sum, add == 0, added to on the next ones).  nfull whole
 * vectors of f, then (rem > 0) the partial one: g's from gtail
 * [nsamp][o][ZL] (zero-padded), xs's masked. */
EXA_K_INLINE void FN(z_w_block)(int nb, int nt, int64_t oc0, int64_t oc_new, int64_t t0, int64_t t_new,
                                int64_t o, int64_t kk, int64_t L, int64_t ow, int64_t np, int64_t nfull,
                                int64_t rem, int64_t nsamp, const real *restrict g, int64_t sg,
                                const real *restrict xs, int64_t sxs, const real *restrict gtail,
                                real *restrict dwv, int64_t ntap, int add)
{
    FN(zvec) acc[24]; /* [b * nt + u] */
    int64_t off[ZB_MAXS];
#pragma GCC unroll 12
    for (int u = 0; u < nt; u++) {
        int64_t t = t0 + u;
        off[u] = t / kk * L + t % kk * ow;
#pragma GCC unroll 12
        for (int b = 0; b < nb; b++)
            acc[b * nt + u] = (FN(zvec)){ 0 };
    }
    FN(zmask) tmask;
    for (int64_t l = 0; l < ZL; l++)
        tmask[l] = l < rem ? -1 : 0;
    for (int64_t sm = 0; sm < nsamp; sm++) {
        const real *gs = g + sm * sg + oc0 * np, *xm = xs + sm * sxs;
        for (int64_t v = 0; v < nfull; v++) {
            FN(zvec) gv[ZB_MAXS];
#pragma GCC unroll 12
            for (int b = 0; b < nb; b++)
                gv[b] = ZLOADU(gs + b * np + v * ZL);
#pragma GCC unroll 12
            for (int u = 0; u < nt; u++) {
                FN(zvec) xv = ZLOADU(xm + off[u] + v * ZL);
#pragma GCC unroll 12
                for (int b = 0; b < nb; b++)
                    acc[b * nt + u] += gv[b] * xv;
            }
        }
        if (rem > 0) {
            FN(zvec) gv[ZB_MAXS];
#pragma GCC unroll 12
            for (int b = 0; b < nb; b++)
                gv[b] = ZLOADU(gtail + (sm * o + oc0 + b) * ZL);
#pragma GCC unroll 12
            for (int u = 0; u < nt; u++) {
                FN(zvec) xv = (FN(zvec))((FN(zmask))ZLOADU(xm + off[u] + nfull * ZL) & tmask);
#pragma GCC unroll 12
                for (int b = 0; b < nb; b++)
                    acc[b * nt + u] += gv[b] * xv;
            }
        }
    }
#pragma GCC unroll 12
    for (int b = 0; b < nb; b++)
#pragma GCC unroll 12
        for (int u = 0; u < nt; u++)
            if (oc0 + b >= oc_new && t0 + u >= t_new) {
                real *at = dwv + ((oc0 + b) * ntap + t0 + u) * ZL;
                FN(zvec) sum = acc[b * nt + u];
                if (add)
                    sum += ZLOADU(at);
                ZSTOREU(at, sum);
            }
}

/* The sum of v's lanes, halving: the same order for every entry. */
EXA_K_INLINE real FN(z_hsum)(const real *v)
{
    real part[ZL];
    memcpy(part, v, sizeof part);
    for (int64_t n = ZL / 2; n >= 1; n /= 2)
        for (int64_t l = 0; l < n; l++)
            part[l] += part[l + n];
    return part[0];
}

/* Weight gradient, summed over the samples (sdw == 0) or one per sample.
 * Samples go a chunk at a time through every register block.
 * Scratch: dwv [o][c*kk*kk][ZL] (lane-wise partial sums), the chunk's xs
 * [EXA_DCONV_CHUNK][c*kk*hp*ow + ZL] (a zero tail: the masked last vector
 * reads up to ZL past the last plane), gtail [EXA_DCONV_CHUNK][o][ZL]. */
EXA_K_V4
static void FN(z_grad_w)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                         int64_t pad, const real *g, int64_t sg, const real *x, int64_t sx,
                         real *dw, int64_t sdw, real *scratch)
{
    int64_t hp = h + 2 * pad, wp_ = w + 2 * pad, oh = hp - kk + 1, ow = wp_ - kk + 1;
    int64_t ckk = c * kk * kk, np = oh * ow, L = hp * ow, sxs = c * kk * L + ZL;
    /* a chunk's shifted inputs and g's stay in a 32 KB L1 where they fit
     * (LeNet: 1 sample of its first layer, 2 of its second), else up to
     * EXA_DCONV_CHUNK samples share the blocks' partial-sum updates; the
     * chunk depends on the shape only, so the sums' order does too */
    int64_t per = (c * kk * L + ZL + o * np) * (int64_t)sizeof(real), chunk = 32768 / per;
    chunk = sdw != 0 || chunk < 1 ? 1 : chunk > EXA_DCONV_CHUNK ? EXA_DCONV_CHUNK : chunk;
    int64_t nfull = np / ZL, rem = np % ZL;
    real *dwv = scratch, *xs = dwv + o * ckk * ZL, *gtail = xs + EXA_DCONV_CHUNK * sxs;
    if (count == 0 && sdw == 0)
        memset(dw, 0, (size_t)(o * ckk) * sizeof *dw);
    int nb = 1, nt = 1;
    Z_PICK(ZW_SHAPES, o, ckk, &nb, &nt);
    for (int64_t s0 = 0, add = 0; s0 < count; s0 += chunk) {
        int64_t m = count - s0 < chunk ? count - s0 : chunk;
        for (int64_t k = 0; k < m; k++) {
            real *xk = xs + k * sxs;
            FN(z_shift)(c, h, w, kk, pad, ow, x + (s0 + k) * sx, xk, L);
            memset(xk + c * kk * L, 0, ZL * sizeof *xk);
            if (rem > 0)
                for (int64_t oc = 0; oc < o; oc++)
                    for (int64_t l = 0; l < ZL; l++)
                        gtail[(k * o + oc) * ZL + l] = l < rem ? g[(s0 + k) * sg + oc * np + nfull * ZL + l] : 0;
        }
        const real *gc = g + s0 * sg;
#define X(B, S)                                                                                \
    case (B) * 16 + (S):                                                                       \
        for (int64_t t = 0; t < ckk; t += (S))                                                 \
            for (int64_t oc = 0; oc < o; oc += (B))                                            \
                FN(z_w_block)((B), (S), oc + (B) <= o ? oc : o - (B), oc,                      \
                              t + (S) <= ckk ? t : ckk - (S), t, o, kk, L, ow, np, nfull, rem, m, \
                              gc, sg, xs, sxs, gtail, dwv, ckk, (int)add);                     \
        break;
        switch (nb * 16 + nt) {
            ZW_SHAPES(X)
        }
#undef X
        add = 1;
        if (sdw != 0 || s0 + m == count) { /* dw = dwv's lanes summed, taps back in w's order */
            real *out = dw + s0 * sdw;
            for (int64_t oc = 0; oc < o; oc++)
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t q = 0; q < kk; q++)
                        for (int64_t p = 0; p < kk; p++)
                            out[oc * ckk + (ci * kk + p) * kk + q] =
                                FN(z_hsum)(dwv + (oc * ckk + (ci * kk + q) * kk + p) * ZL);
            add = 0;
        }
    }
}

/* Scratch per call: kernels.h's formula (shared with exac), at this ZL. */
static int64_t FN(z_scratch_len)(ExaDconvKind kind, int64_t c, int64_t h, int64_t w, int64_t o,
                                 int64_t kk, int64_t pad)
{
    return exa_dconv_v4_scratch_len(kind, c, h, w, o, kk, pad, ZL);
}

#undef Z_PICK
#undef Z_PICK_ONE
#undef ZB_SHAPES
#undef ZW_SHAPES
#undef ZB_MAXS
#undef ZLOADU
#undef ZSTOREU
#undef ZL
#endif /* EXA_K_V4 */
#undef real
#else
/* Compiled on its own: nothing (kernels_f32.c and kernels_f64.c include the body). */
typedef int exa_kernels_v4_t_is_included_by_kernels_c;
#endif
