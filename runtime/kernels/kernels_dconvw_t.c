/* kernels_dconvw_t.c - the direct convolution's weight gradient along output
 * channels, the type- and vector-generic body: included by kernels_vec_t.c
 * once per vector width for each type (as kernels_gemm_t.c is), with
 * DN(name) (FN(name) with the width's suffix), DBYTES (the vector's bytes),
 * DTARGET (the target attribute of the entry point), DW_SHAPES (the register
 * blocks tried), DW_MAXACC (accumulators of the largest block) and DW_MAXB
 * (a bound on a block's channel vectors) defined: 32 bytes for x86-64-v3
 * (AVX2, 16 vector registers: blocks of up to 12 accumulators), 64 for
 * x86-64-v4 (AVX-512, 32 registers: up to 24).  DW_MAXB is 6 and 12, the
 * bounds of the two copies this file replaced: only the size of an array
 * that lives in registers, but it steers GCC's register allocation, and with
 * the old bounds both entry points compile to the same instructions as
 * before (checked with objdump), so the results are bit for bit the same.  The
 * 512-bit form is picked by kernels_par_t.c for layers whose output channels
 * fill whole vectors (LeNet's conv2, 16), where kernels_v4_t.c's z_grad_w
 * (dot products along positions) pays for its lane sums.  Besides the width,
 * the two differ only in DW_SHAPES, DW_MAXACC and DW_MAXB.  The parameters
 * are undefined at the end, ready for the next width. */
#ifdef DN
typedef real DN(vec) __attribute__((vector_size(DBYTES)));
typedef real DN(uvec) __attribute__((vector_size(DBYTES), aligned(sizeof(real)), may_alias));
#define DVL ((int64_t)(sizeof(DN(vec)) / sizeof(real)))
#define DLOADU(p) (*(const DN(uvec) *)(p))
#define DSTOREU(p, v) (*(DN(uvec) *)(p) = (v))

/* The weight gradient is an outer product summed over positions:
 * dW^T [t][oc] = sum over samples and positions of x under tap t times g^T
 * [position][oc].  Its vectors run along the output channels of g^T (g
 * transposed per sample, channels padded to op, a multiple of DVL, with
 * zeros), so the accumulators are entries of dW^T itself: no sum across
 * lanes per position and no wasted lanes at the end of a row, where lanes
 * along positions would have both.
 *
 * Blocks: nb channel vectors by nu taps along one kernel row (so that the
 * taps' inputs are consecutive, nu fixed displacements from one pointer) by
 * npos positions side by side in a row of the output, each with its own
 * accumulators (a dW entry gets one multiply-add per position: npos of them
 * keep a block of few entries from waiting on multiply-add latency). */

/* dwt[t0 + u][ob0 + b] += the sum over positions and nsamp samples of x
 * under tap t0 + u times gt at channel vector ob0 + b (b < nb, u < nu; taps
 * t0 .. t0+nu-1 are consecutive in a kernel row, at offset off in x).  Only
 * entries at or past (ob_new, t_new) are added: the others belong to the
 * block this one overlaps. */
EXA_K_INLINE void DN(dconv_w_block)(int nb, int nu, int npos, int64_t ob0, int64_t ob_new,
                                    int64_t t0, int64_t t_new, int64_t off, int64_t wx, int64_t oh,
                                    int64_t ow, int64_t op, int64_t nsamp,
                                    const real *restrict gt, const real *restrict x, int64_t sx,
                                    real *restrict dwt)
{
    DN(vec) acc[DW_MAXACC]; /* [(position * nb + channel vector) * nu + tap] */
#pragma GCC unroll 12
    for (int e = 0; e < npos; e++)
#pragma GCC unroll 6
        for (int b = 0; b < nb; b++)
#pragma GCC unroll 12
            for (int u = 0; u < nu; u++)
                acc[(e * nb + b) * nu + u] = (DN(vec)){0};
    for (int64_t sm = 0; sm < nsamp; sm++) {
        const real *xs = x + sm * sx + off, *gs = gt + sm * oh * ow * op + ob0 * DVL;
        for (int64_t i = 0; i < oh; i++) {
            const real *xi = xs + i * wx, *gi = gs + i * ow * op;
            int64_t j = 0;
            for (; j + npos <= ow; j += npos) {
#pragma GCC unroll 12
                for (int e = 0; e < npos; e++) {
                    DN(vec) gv[DW_MAXB];
#pragma GCC unroll 6
                    for (int b = 0; b < nb; b++)
                        gv[b] = DLOADU(gi + (j + e) * op + b * DVL);
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
                DN(vec) gv[DW_MAXB];
#pragma GCC unroll 6
                for (int b = 0; b < nb; b++)
                    gv[b] = DLOADU(gi + j * op + b * DVL);
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
                DN(vec) sum = acc[b * nu + u];
#pragma GCC unroll 12
                for (int e = 1; e < npos; e++)
                    sum += acc[(e * nb + b) * nu + u];
                real *at = dwt + (t0 + u) * op + (ob0 + b) * DVL;
                DSTOREU(at, DLOADU(at) + sum);
            }
}

/* dwt [c*kk*kk][op] += the weight gradients of nsamp samples: gt
 * [nsamp][oh*ow][op] against x [c][hx][wx] (samples sx apart) */
EXA_K_INLINE void DN(dconv_w_plane)(int64_t c, int64_t hx, int64_t wx, int64_t op, int64_t kk,
                                    int64_t nsamp, const real *restrict gt, const real *restrict x,
                                    int64_t sx, real *restrict dwt)
{
    int64_t oh = hx - kk + 1, ow = wx - kk + 1, nvec = op / DVL;
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
                        DN(dconv_w_block)((B), (S), (P), ob + (B) <= nvec ? ob : nvec - (B), ob, \
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
 * summed over them (sdw == 0).  Samples go in chunks of EXA_DCONV_CHUNK through
 * each register block, so that a block's setup and its sums are paid once
 * per chunk.  Scratch: dwt [c*kk*kk][op], the chunk's gt [EXA_DCONV_CHUNK][oh*ow][op],
 * then (pad > 0) the chunk's padded inputs [EXA_DCONV_CHUNK][c][h+2pad][w+2pad]. */
DTARGET
static void DN(dconv_grad_w)(int64_t count, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kk,
                            int64_t pad, const real *g, int64_t sg, const real *x, int64_t sx,
                            real *dw, int64_t sdw, real *scratch)
{
    int64_t ckk = c * kk * kk, op = (o + DVL - 1) / DVL * DVL, chunk = sdw == 0 ? EXA_DCONV_CHUNK : 1;
    int64_t hp = h + 2 * pad, wp = w + 2 * pad, np = (hp - kk + 1) * (wp - kk + 1), plane = c * hp * wp;
    real *dwt = scratch, *gt = dwt + ckk * op, *xp = gt + EXA_DCONV_CHUNK * np * op;
    memset(dwt, 0, (size_t)(ckk * op) * sizeof *dwt);
    memset(gt, 0, (size_t)(EXA_DCONV_CHUNK * np * op) * sizeof *gt); /* the padding channels stay 0 */
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
        DN(dconv_w_plane)(c, hp, wp, op, kk, m, gt, xs, xstride, dwt);
        if (sdw != 0 || s0 + m == count) { /* dw = dwt^T, dwt cleared */
            real *out = dw + s0 * sdw;
            for (int64_t oc = 0; oc < o; oc++)
                for (int64_t t = 0; t < ckk; t++)
                    out[oc * ckk + t] = dwt[t * op + oc];
            memset(dwt, 0, (size_t)(ckk * op) * sizeof *dwt);
        }
    }
}

#undef DVL
#undef DN
#undef DBYTES
#undef DTARGET
#undef DW_SHAPES
#undef DW_MAXACC
#undef DW_MAXB
#undef DLOADU
#undef DSTOREU
#else
/* Compiled on its own: nothing (kernels_f32.c and kernels_f64.c include the body). */
typedef int exa_kernels_dconvw_t_is_included_by_kernels_c;
#endif
