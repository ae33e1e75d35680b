/* kernels_gemm_t.c - exa's own GEMM kernels for narrow and long-k
 * products, the type- and vector-generic body: included by kernels_vec_t.c
 * once per vector width for each type, with GN(name) (FN(name) with the
 * width's suffix), GBYTES (the vector's bytes) and GTARGET (the target
 * attribute its entry points are compiled for) defined: 32 bytes for
 * x86-64-v3 (AVX2), 64 for x86-64-v4 (AVX-512), picked per CPU by
 * kernels_vec_t.c's gemm_narrow_try.  The same code in 512-bit vectors ran
 * the PINN's 40x40 weight gradient over 1000 rows in half the time of the
 * 256-bit one (25 against 52 us) and its 1000x40 by 40x40 forward product
 * in 41 against 50 us. */
#ifdef GN
typedef real GN(vec) __attribute__((vector_size(GBYTES)));
typedef real GN(uvec) __attribute__((vector_size(GBYTES), aligned(sizeof(real)), may_alias));
#define GVL ((int64_t)(sizeof(GN(vec)) / sizeof(real)))
#define GLOADU(p) (*(const GN(uvec) *)(p))
#define GSTOREU(p, v) (*(GN(uvec) *)(p) = (v))
/* integer lanes of a vector's width (shuffle indices, lane masks) */
#ifdef EXA_K_F32
typedef int32_t GN(ivec) __attribute__((vector_size(GBYTES)));
#else
typedef int64_t GN(ivec) __attribute__((vector_size(GBYTES)));
#endif

/* ---- GEMM with a narrow result ----------------------------------------- */

/* C [m, n] = op(A) [m, k] op(B) [k, n] + beta C for n <= SG_MAXV vectors and
 * a small op(B) (the PINN's 1000x40 by 40x40, the ODE nets' 5000x8 by 8x8).
 * Measured on one core (AVX2), against cblas_sgemm: 1000x40 by 40x40 56-66
 * GFLOP/s against 50-52, 5000x8 by 8x8 29-39 against 17, 1000x2 by 2x40 21
 * against 7.5.
 * OpenBLAS packs both operands and clears C on every call, which for these
 * shapes costs about as much as the products: here each block of rows of C
 * is a set of register accumulators, one broadcast of op(A) times each
 * vector of the row of op(B) per step of k.  op(B) is read in place where it
 * is B (the last vector of each row through a masked load), else packed once
 * into rows of whole vectors (zero-padded); C's last vector of a row is a
 * masked store. */
#define SG_MAXV 6    /* vectors per row of C: n <= 48 in f32, 24 in f64 */
#define SG_PACK 4096 /* elements of packed op(B): k * vectors * GVL */
/* Rows of a block: 24 accumulators in 512-bit code (of its 32 registers;
 * the 4x3 block of 12 ran the PINN's 125x40 by 40x40 in 3.4 us, 8x3 in
 * 3.0-3.2, bench b and i 1.05x, session 10), 12 in 256-bit code (of 16) */
#define SG_ROWS(nv) (GBYTES == 64 ? 24 / (nv) : 12 / (nv))

/* The first `lanes` (1 .. GVL) elements at p as a vector, zero past them,
 * and the store of v's first `lanes` to p: masked, neither reads nor writes
 * past them.  A partial vector went through a copy on the stack before, in
 * two calls to memcpy of a variable size: 40% of the PINN's 40-wide product
 * (session 10). */
#if GBYTES == 64 && defined(EXA_K_F32)
#define GLOAD_PART(p, lanes) ((GN(vec))_mm512_maskz_loadu_ps((__mmask16)((1u << (lanes)) - 1), (p)))
#define GSTORE_PART(p, v, lanes) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (lanes)) - 1), (__m512)(v))
#elif GBYTES == 64
#define GLOAD_PART(p, lanes) ((GN(vec))_mm512_maskz_loadu_pd((__mmask8)((1u << (lanes)) - 1), (p)))
#define GSTORE_PART(p, v, lanes) _mm512_mask_storeu_pd((p), (__mmask8)((1u << (lanes)) - 1), (__m512d)(v))
#elif defined(EXA_K_F32)
#define GLANES(lanes) ((__m256i)((GN(ivec)){ 0, 1, 2, 3, 4, 5, 6, 7 } < (int32_t)(lanes)))
#define GLOAD_PART(p, lanes) ((GN(vec))_mm256_maskload_ps((p), GLANES(lanes)))
#define GSTORE_PART(p, v, lanes) _mm256_maskstore_ps((p), GLANES(lanes), (__m256)(v))
#else
#define GLANES(lanes) ((__m256i)((GN(ivec)){ 0, 1, 2, 3 } < (int64_t)(lanes)))
#define GLOAD_PART(p, lanes) ((GN(vec))_mm256_maskload_pd((p), GLANES(lanes)))
#define GSTORE_PART(p, v, lanes) _mm256_maskstore_pd((p), GLANES(lanes), (__m256d)(v))
#endif

/* The vector of C at `at` (its first `lanes` elements, masked where fewer
 * than GVL) = out + beta C: the narrow and the long-k kernels' stores. */
GTARGET EXA_K_INLINE void GN(store_c)(real *restrict at, GN(vec) out, int64_t lanes, real beta)
{
    if (lanes >= GVL) {
        if (beta != 0)
            out += beta * GLOADU(at);
        GSTOREU(at, out);
    } else {
        if (beta != 0)
            out += beta * GLOAD_PART(at, lanes);
        GSTORE_PART(at, out, lanes);
    }
}

/* Rows i0 .. i0+nr-1 of C (nr rows, nv vectors each; nr, nv and part
 * constants where inlined): a(i, l) is a[i*sai + l*sal]; row l of op(B) at
 * bp + l*ldp, its last vector `last` lanes (part: read masked, else whole,
 * zero-padded). */
GTARGET EXA_K_INLINE void GN(sg_block)(int nr, int nv, int part, int64_t i0, const real *restrict a,
                               int64_t sai, int64_t sal, const real *restrict bp, int64_t ldp,
                               int64_t k, int64_t last, real beta, real *restrict c, int64_t ldc)
{
    GN(vec) acc[24]; /* [r * nv + v], nr * nv <= 24 */
#pragma GCC unroll 24
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[r * nv + v] = (GN(vec)){0};
    const real *ai = a + i0 * sai;
    for (int64_t l = 0; l < k; l++) {
        GN(vec) bv[SG_MAXV];
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            if (part && v == nv - 1)
                bv[v] = GLOAD_PART(bp + l * ldp + v * GVL, last);
            else
                bv[v] = GLOADU(bp + l * ldp + v * GVL);
#pragma GCC unroll 24
        for (int r = 0; r < nr; r++) {
            real av = ai[r * sai + l * sal];
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[r * nv + v] += av * bv[v];
        }
    }
#pragma GCC unroll 24
    for (int r = 0; r < nr; r++) {
        real *ci = c + (i0 + r) * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            GN(store_c)(ci + v * GVL, acc[r * nv + v], v < nv - 1 ? GVL : last, beta);
    }
}

/* Whether exa_k_gemm takes GN(gemm_narrow) for these sizes: C at most
 * SG_MAXV vectors wide (at 8, one row a block, it only ties OpenBLAS), op(B)
 * small enough to pack, and one whole block of rows at least (a few rows
 * over a long k, as in an 8x8 weight gradient, are one accumulator each and
 * wait on the multiply-add latency: 7 GFLOP/s against OpenBLAS's 19).  Not
 * for C half a vector wide or less over k >= 32, mostly empty lanes, where
 * OpenBLAS (SkylakeX kernels, session 10, one thread) vectorises along k:
 * 125x1 by 1x40 (the PINN's output layer) 0.3 us against 1.0, 1000x4 by
 * 4x40 5.7 against 7.8; at k = 16 this kernel still won (1000x4x16 3.7
 * against 4.6 us). */
static int GN(gemm_is_narrow)(int64_t m, int64_t n, int64_t k)
{
    int64_t nv = (n + GVL - 1) / GVL;
    return nv <= SG_MAXV && k * nv * GVL <= SG_PACK && m >= 12 / nv && !(2 * n <= GVL && k >= 32);
}

/* A narrow product's operands for GN(sg_rows) */
typedef struct GN(SgJob) {
    int nv, part; /* part: op(B) in place, its rows' last vectors partial */
    const real *a, *bp;
    int64_t ldp, sai, sal, k, last, ldc;
    real beta;
    real *c;
} GN(SgJob);

/* Rows i .. m-1 of C for nv vectors a row: blocks of SG_ROWS(nv) rows, then
 * of 12 / nv where that is fewer (512-bit), then the rows left one at a
 * time.  One function per nv
 * (GN(sg_range1) ..): with all six inlined into GN(sg_rows), GCC 12 kept
 * two of the 4 x 3 block's accumulators (the PINN's 40-wide C) in memory,
 * and every step of k waited on their store and reload. */
GTARGET EXA_K_INLINE void GN(sg_range)(int nv, int part, const GN(SgJob) *j, int64_t i, int64_t m)
{
    for (; i + SG_ROWS(nv) <= m; i += SG_ROWS(nv))
        GN(sg_block)(SG_ROWS(nv), nv, part, i, j->a, j->sai, j->sal, j->bp, j->ldp, j->k, j->last,
                     j->beta, j->c, j->ldc);
    if (SG_ROWS(nv) > 12 / nv)
        for (; i + 12 / nv <= m; i += 12 / nv)
            GN(sg_block)(12 / nv, nv, part, i, j->a, j->sai, j->sal, j->bp, j->ldp, j->k, j->last,
                         j->beta, j->c, j->ldc);
    for (; i < m; i++)
        GN(sg_block)(1, nv, part, i, j->a, j->sai, j->sal, j->bp, j->ldp, j->k, j->last, j->beta,
                     j->c, j->ldc);
}
#define SG_RANGE(NV)                                                                           \
    GTARGET __attribute__((noinline)) static void GN(sg_range##NV)(const GN(SgJob) *j, int64_t i, \
                                                                   int64_t m)                  \
    {                                                                                          \
        if (j->part)                                                                           \
            GN(sg_range)(NV, 1, j, i, m);                                                      \
        else                                                                                   \
            GN(sg_range)(NV, 0, j, i, m);                                                      \
    }
SG_RANGE(1)
SG_RANGE(2)
SG_RANGE(3)
SG_RANGE(4)
SG_RANGE(5)
SG_RANGE(6)
#undef SG_RANGE

/* Rows lo .. lo+count-1 of C (an exa_parallel_range task: each row is the
 * same sum in the same order whatever the split). */
static void GN(sg_rows)(const void *ctx, int64_t lo, int64_t count)
{
    const GN(SgJob) *j = ctx;
    void (*const range[])(const GN(SgJob) *, int64_t, int64_t) = {
        GN(sg_range1), GN(sg_range2), GN(sg_range3), GN(sg_range4), GN(sg_range5), GN(sg_range6),
    };
    range[j->nv - 1](j, lo, lo + count);
}

/* One product (exa_k_gemm's arguments for one i; GN(gemm_is_narrow)), the
 * rows of C split over --threads.  op(B) = B is read in place: packing
 * copied it on every call, and a GRU of 32 (bench (f)) makes six 50x32 by
 * 32x32 products a step, each about as long as a copy of its B.  op(B) =
 * B^T is packed.  A row's lanes past n are zero either way (masked loads
 * or padding), so the bits do not depend on which. */
GTARGET
static void GN(gemm_narrow)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *a,
                            int64_t lda, const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
    real bp[SG_PACK] __attribute__((aligned(32)));
    int nv = (int)((n + GVL - 1) / GVL);
    GN(SgJob) job = { nv, n % GVL != 0, a, b, ldb, ta ? 1 : lda, ta ? lda : 1, k, n - (nv - 1) * GVL, ldc, beta, c };
    if (tb) {
        for (int64_t l = 0; l < k; l++) {
            real *row = bp + l * nv * GVL;
            for (int64_t j = 0; j < n; j++)
                row[j] = b[j * ldb + l];
            for (int64_t j = n; j < nv * GVL; j++)
                row[j] = 0;
        }
        job.bp = bp, job.ldp = nv * GVL, job.part = 0;
    }
    exa_parallel_range(m, 2 * k * n, GN(sg_rows), &job);
}

#undef SG_MAXV
#undef SG_PACK
#undef SG_ROWS

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

typedef struct GN(TgJob) {
    const real *a, *b, *tail; /* a: broadcast [k][lda]; b: vectors [k][ldb]; tail: b's rows kd.. */
    int64_t lda, ldb, k, kd;
    int64_t rows, nvec;       /* the result's rows, vectors per row */
    int64_t nr, nv, tcols;    /* the tile shape, tiles per row of tiles */
    real *ct;                 /* the result [rows][nvec * GVL] */
} GN(TgJob);

/* acc[r * nv + v] += a(l, i0 + r) * the vector v of row l (ar: a's row l at
 * i0, br: b's row l at the tile's first vector) */
EXA_K_INLINE void GN(tg_row)(int nr, int nv, GN(vec) *acc, const real *restrict ar,
                             const real *restrict br)
{
    GN(vec) bv[6];
#pragma GCC unroll 6
    for (int v = 0; v < nv; v++)
        bv[v] = GLOADU(br + v * GVL);
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
EXA_K_INLINE void GN(tg_block)(int nr, int nv, int64_t i0, int64_t v0, int64_t l0, int64_t l1,
                               const GN(TgJob) *j)
{
    const int sets = nr * nv <= 6 ? 2 : 1;
    int64_t lda = j->lda, ldb = j->ldb, kd = j->kd, ldt = j->nvec * GVL, l = l0;
    real *ct = j->ct + i0 * ldt + v0 * GVL;
    GN(vec) acc[24]; /* [set * 12 + r * nv + v] */
#pragma GCC unroll 24
    for (int e = 0; e < 24; e++)
        acc[e] = (GN(vec)){0};
    if (l0 > 0)
#pragma GCC unroll 12
        for (int r = 0; r < nr; r++)
#pragma GCC unroll 6
            for (int v = 0; v < nv; v++)
                acc[r * nv + v] = GLOADU(ct + r * ldt + v * GVL);
    const real *a = j->a + i0, *b = j->b + v0 * GVL, *tail = j->tail + v0 * GVL;
    int64_t lmain = l1 < kd ? l1 : kd;
    for (; l + sets <= lmain; l += sets)
#pragma GCC unroll 2
        for (int s = 0; s < sets; s++)
            GN(tg_row)(nr, nv, acc + s * 12, a + (l + s) * lda, b + (l + s) * ldb);
    for (; l < l1; l++) /* the rows left, into the first set */
        GN(tg_row)(nr, nv, acc, a + l * lda, l < kd ? b + l * ldb : tail + (l - kd) * ldt);
#pragma GCC unroll 12
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 6
        for (int v = 0; v < nv; v++)
            GSTOREU(ct + r * ldt + v * GVL,
                   sets == 2 ? acc[r * nv + v] + acc[12 + r * nv + v] : acc[r * nv + v]);
}

/* Tiles lo .. lo+count-1 (row of tiles major; an exa_parallel_range task),
 * TG_KBLOCK rows of the operands at a time through all of them, so that
 * the tiles after the first find those rows in L1 */
GTARGET
static void GN(tg_tiles)(const void *ctx, int64_t lo, int64_t count)
{
    const GN(TgJob) *j = ctx;
    for (int64_t l0 = 0; l0 < j->k; l0 += TG_KBLOCK) {
        int64_t l1 = j->k - l0 < TG_KBLOCK ? j->k : l0 + TG_KBLOCK;
        for (int64_t t = lo; t < lo + count; t++) {
            int64_t i0 = t / j->tcols * j->nr, v0 = t % j->tcols * j->nv;
            /* the last tile of a row or a column: the shape that fits exactly */
            int nr = (int)(j->rows - i0 < j->nr ? j->rows - i0 : j->nr);
            int nv = (int)(j->nvec - v0 < j->nv ? j->nvec - v0 : j->nv);
#define X(R, V)                                                                                \
    case (R) * 16 + (V):                                                                       \
        GN(tg_block)((R), (V), i0, v0, l0, l1, j);                                             \
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
static int64_t GN(tg_cost)(int64_t rows, int64_t nvec, int64_t nr, int64_t nv)
{
    int64_t per = nr * nv > nr + 2 * nv ? nr * nv : nr + 2 * nv, lat = nr * nv <= 6 ? 5 : 10;
    int64_t tiles = ((rows + nr - 1) / nr) * ((nvec + nv - 1) / nv);
    return tiles * (per > lat ? per : lat) + tiles; /* + tiles: of equal estimates, fewer passes */
}

/* The best tiling for rows x cols (vectors along cols): *nr, *nv; its cost */
static int64_t GN(tg_pick)(int64_t rows, int64_t cols, int64_t *nr, int64_t *nv)
{
    int64_t nvec = (cols + GVL - 1) / GVL, best = -1;
#define X(R, V)                                                                                \
    if ((R) <= rows && (V) <= nvec) {                                                          \
        int64_t cost = GN(tg_cost)(rows, nvec, (R), (V));                                      \
        if (best < 0 || cost < best)                                                           \
            best = cost, *nr = (R), *nv = (V);                                                 \
    }
    TG_SHAPES(X)
#undef X
    return best;
}

/* gemm_tall's tiling of m x n (both at most TG_MAXD): vectors along n, or
 * along m (C^T = B^T A) where that is cheaper; the tile shape and the
 * estimated time.  Computed once a shape and kept (each call of the PINN's
 * 40x40 weight gradient over 125 rows picked three times among 29 shapes,
 * 0.2 of its 3 us): one int a shape, cost << 8 | swap << 7 | nr << 3 | nv,
 * 0 until computed; threads that race compute the same value. */
typedef struct GN(TallPlan) {
    int swap;
    int64_t nr, nv, cost;
} GN(TallPlan);

static GN(TallPlan) GN(tall_plan)(int64_t m, int64_t n)
{
    static _Atomic int32_t memo[TG_MAXD + 1][TG_MAXD + 1];
    int32_t e = atomic_load_explicit(&memo[m][n], memory_order_relaxed);
    if (e == 0) {
        int64_t nr = 1, nv = 1, nr2 = 1, nv2 = 1, c1 = GN(tg_pick)(m, n, &nr, &nv);
        int64_t c2 = GN(tg_pick)(n, m, &nr2, &nv2);
        int swap = c2 < c1;
        e = (int32_t)((swap ? c2 : c1) << 8 | swap << 7 | (swap ? nr2 : nr) << 3 | (swap ? nv2 : nv));
        atomic_store_explicit(&memo[m][n], e, memory_order_relaxed);
    }
    return (GN(TallPlan)){ e >> 7 & 1, e >> 3 & 15, e & 7, e >> 8 };
}

/* gemm_tall's estimated time for m x n, to compare vector widths: a
 * 512-bit vector half empty (an 8 wide f32 C) costs what a full 256-bit one
 * does, and ran slower (8x8 over 5000 rows: 11.6 against 10.0 us) */
static int64_t GN(tall_cost)(int64_t m, int64_t n)
{
    return GN(tall_plan)(m, n).cost;
}

/* Vectors per row of a narrow C n wide (gemm_narrow's multiply-adds per
 * row and step of k) */
static int64_t GN(narrow_vectors)(int64_t n)
{
    return (n + GVL - 1) / GVL;
}

/* Whether exa_k_gemm takes GN(gemm_tall): A^T B, both sides of C at most
 * TG_MAXD, k long enough that a pass over it outweighs the setup (below,
 * gemm_narrow or OpenBLAS), rows of the operands at least as long as C's. */
static int GN(gemm_is_tall)(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb)
{
    return ta && !tb && m <= TG_MAXD && n <= TG_MAXD && k >= 64 && lda >= m && ldb >= n;
}

GTARGET
static void GN(gemm_tall)(int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                          const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
    GN(TallPlan) plan = GN(tall_plan)(m, n);
    int swap = plan.swap;
    int64_t nr = plan.nr, nv = plan.nv;
    if (swap) {
        const real *t = a;
        a = b, b = t;
        int64_t u = lda;
        lda = ldb, ldb = u, u = m, m = n, n = u;
    }
    int64_t nvec = (n + GVL - 1) / GVL, ldt = nvec * GVL, over = ldt - n;
    /* rows kd.. of b: the last vector would run past the operand */
    int64_t kd = over == 0 ? k : k - (over + ldb - 1) / ldb;
    kd = kd > 0 ? kd : 0;
    real ct[TG_MAXD * TG_MAXD] __attribute__((aligned(32)));
    real tail[GVL * TG_MAXD] __attribute__((aligned(32)));
    for (int64_t l = kd; l < k; l++)
        for (int64_t x = 0; x < ldt; x++)
            tail[(l - kd) * ldt + x] = x < n ? b[l * ldb + x] : 0;
    int64_t tcols = (nvec + nv - 1) / nv, tiles = (m + nr - 1) / nr * tcols;
    GN(TgJob) job = { a, b, tail, lda, ldb, k, kd, m, nvec, nr, nv, tcols, ct };
    exa_parallel_range(tiles, 2 * k * nr * nv * GVL, GN(tg_tiles), &job);
    if (swap) { /* C^T = ct + beta C^T */
        for (int64_t i = 0; i < m; i++)
            for (int64_t x = 0; x < n; x++) {
                real *at = c + x * ldc + i;
                *at = ct[i * ldt + x] + (beta != 0 ? beta * *at : 0);
            }
        return;
    }
    for (int64_t i = 0; i < m; i++) /* C = ct + beta C, the last vector of a row masked */
        for (int64_t x = 0; x < n; x += GVL)
            GN(store_c)(c + i * ldc + x, GLOADU(ct + i * ldt + x), n - x, beta);
}

#undef TG_MAXD
#undef TG_KBLOCK
#undef TG_SHAPES

/* ---- GEMM of medium shapes: register tiles over a packed op(B) ---------- */

/* C [m, n] = op(A) [m, k] op(B) [k, n] + beta C for the products between
 * the narrow and long-k ones above and the large ones: the MLP's 100x784 by
 * 784x128 and its weight gradient over a batch of 100, the GRU's 100x128 by
 * 128x128 in every transpose, LeNet's dense layers.  OpenBLAS 0.3.21 runs
 * its generic SSE3 kernels on CPUs it does not know (this KVM Xeon:
 * corename "Prescott", about 32 GFLOP/s a core where the core's 512-bit
 * multiply-adds give 171); the tile here is the textbook one, written with
 * the vector types of this file:
 *   - op(B) is read in panels MT_NV vectors wide, [k][NR] each, so a tile's
 *     vectors are one row of the panel: where B is not transposed and at
 *     most MT_DIRECT bytes, straight from B, rows ldb apart (only a
 *     partial last panel copied, zero past n); else packed once per call,
 *     a transposed B by GVL x GVL blocks transposed in registers;
 *   - a tile is MT_MR rows by MT_NV vectors of C in registers (24
 *     accumulators in 512-bit vectors, 12 in 256-bit ones), one broadcast
 *     of op(A) times each vector of op(B)'s row per step of k;
 *   - the broadcasts read op(A) in place: MT_MR rows of A, or MT_MR
 *     consecutive elements of a row of a transposed A per step of k (a
 *     copy of them to the stack per block of k, which this replaced, was a
 *     fifth of the tiles' time on the GRU's 50x128 by 128x128); they stay
 *     in L1 while the tile walks the panels of an L2-sized slab of op(B)
 *     (MT_SLAB bytes), whose panel is MT_KC steps of k at most.
 * Measured against the copies of both operands, on one thread (CPU time
 * of gemm_peak, best of 15x100 calls, load 5-10): 50x128x128 nn 1.27x,
 * tn (128x128x50) 1.2x, nt 1.6x; the MLP's 100x128x784 nt 1.45x.
 * Panels are split over --threads where that makes more than one task,
 * else blocks of MT_MR rows (gemm_tile); every element of C is the
 * same sum in the same order whatever the split and whichever way op(A)
 * and op(B) are read: over k in blocks of kc (the same for every element:
 * a function of k alone), each block's sum added to C. */
#define MT_MR (GBYTES == 64 ? 12 : 6)
#define MT_MRMAX 12
#define MT_NV 2
#define MT_NR (MT_NV * GVL)
#define MT_KC 256
#define MT_SLAB (1 << 20)
/* op(B) read in place up to this size: 401-469 KB gained 2-5% over the
 * packed copy, 313 KB with rows of 784 lost 1%, 1 MB (256x512x512) lost 8%
 * (its rows, 2 cache lines of each far apart, leave L1 and the prefetcher's
 * streams between the row blocks; a packed panel is one stream) */
#define MT_DIRECT (512 << 10)
/* GVL as a number for the preprocessor (the transposes' index lists) */
#if GBYTES == 64 && defined(EXA_K_F32)
#define MT_LANES 16
#elif GBYTES == 64 || defined(EXA_K_F32)
#define MT_LANES 8
#else
#define MT_LANES 4
#endif

typedef struct GN(MtJob) {
    int ta, tb, direct; /* direct: full panels read from B in place */
    const real *a, *b;
    int64_t lda, ldb, m, n, k, kc, ldc;
    real beta;
    real *bp; /* op(B) packed: panel p at bp + p * k * MT_NR; direct: the last, partial one at bp */
    real *c;
} GN(MtJob);

/* Shuffle indices (of the pair's 2 * GVL lanes) that interleave the first
 * (ZL) or second (ZH) halves of two vectors */
#define MT_ZL(t) ((t) % 2 ? MT_LANES + (t) / 2 : (t) / 2)
#define MT_ZH(t) (MT_ZL(t) + MT_LANES / 2)
#if MT_LANES == 16
#define MT_LIST(F)                                                                                 \
    { F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12), F(13), F(14), F(15) }
#elif MT_LANES == 8
#define MT_LIST(F) { F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7) }
#else
#define MT_LIST(F) { F(0), F(1), F(2), F(3) }
#endif

/* The rows rows of src (ldb apart, GVL elements each; zero past rows)
 * transposed: row x of src is lane x of the GVL vectors at dst, ldd apart.
 * log2(GVL) rounds of interleaving vector i with vector i + GVL/2 (into
 * 2i, 2i+1) transpose a GVL x GVL block: 64 two-source permutes for 256
 * floats in 512-bit vectors, where the element by element copy took a load
 * and a store each. */
EXA_K_INLINE void GN(mt_tblock)(int rows, const real *restrict src, int64_t ldb, real *restrict dst,
                                int64_t ldd)
{
    const GN(ivec) lo = MT_LIST(MT_ZL), hi = MT_LIST(MT_ZH);
    GN(vec) v[MT_LANES], t[MT_LANES];
#pragma GCC unroll 16
    for (int x = 0; x < MT_LANES; x++)
        if (x < rows)
            v[x] = GLOADU(src + x * ldb);
        else
            v[x] = (GN(vec)){0};
#pragma GCC unroll 4
    for (int round = 1; round < MT_LANES; round *= 2) {
#pragma GCC unroll 8
        for (int i = 0; i < MT_LANES / 2; i++) {
            t[2 * i] = __builtin_shuffle(v[i], v[i + MT_LANES / 2], lo);
            t[2 * i + 1] = __builtin_shuffle(v[i], v[i + MT_LANES / 2], hi);
        }
#pragma GCC unroll 16
        for (int x = 0; x < MT_LANES; x++)
            v[x] = t[x];
    }
#pragma GCC unroll 16
    for (int x = 0; x < MT_LANES; x++)
        GSTOREU(dst + x * ldd, v[x]);
}

/* Panels lo .. lo+count-1 of op(B) into j->bp (an exa_parallel_range task) */
GTARGET
static void GN(mt_pack_b)(const void *ctx, int64_t lo, int64_t count)
{
    const GN(MtJob) *j = ctx;
    int64_t k = j->k, n = j->n, ldb = j->ldb;
    for (int64_t p = lo; p < lo + count; p++) {
        real *out = j->bp + (j->direct ? 0 : p) * k * MT_NR;
        int64_t j0 = p * MT_NR, cols = n - j0 < MT_NR ? n - j0 : MT_NR;
        if (!j->tb) {
            for (int64_t l = 0; l < k; l++) {
                memcpy(out + l * MT_NR, j->b + l * ldb + j0, (size_t)cols * sizeof *out);
                for (int64_t x = cols; x < MT_NR; x++)
                    out[l * MT_NR + x] = 0;
            }
            continue;
        }
        /* a row of B is a column of the panel: GVL steps of k of the
         * panel's MT_NR rows of B at a time, as MT_NV transposed blocks,
         * writing whole rows of the panel */
        const real *bj = j->b + j0 * ldb;
        int64_t l = 0;
        for (; l + GVL <= k; l += GVL)
#pragma GCC unroll 2
            for (int h = 0; h < MT_NV; h++) {
                int64_t rows = cols - h * GVL;
                const real *src = bj + h * GVL * ldb + l;
                real *dst = out + l * MT_NR + h * GVL;
                if (rows >= GVL)
                    GN(mt_tblock)(MT_LANES, src, ldb, dst, MT_NR);
                else
                    GN(mt_tblock)(rows > 0 ? (int)rows : 0, src, ldb, dst, MT_NR);
            }
        for (; l < k; l++) /* the last k % GVL steps */
            for (int64_t x = 0; x < MT_NR; x++)
                out[l * MT_NR + x] = x < cols ? bj[x * ldb + l] : 0;
    }
}

/* The tile of nr rows (a constant where inlined) at ci (rows ldc apart) and
 * a panel's kc rows at bp (ldp apart): acc = sum over kc steps of op(A)'s
 * (r, l), at ap[r * sr + l * sl] (A's rows: sr = lda, sl = 1; a transposed
 * A: sr = 1, sl = lda), times the panel's row l; then C = acc + beta C
 * (first block of k) or C += acc, the first cols columns only. */
EXA_K_INLINE void GN(mt_tile)(int nr, const real *restrict ap, int64_t sr, int64_t sl,
                              const real *restrict bp, int64_t ldp, int64_t kc, real *restrict ci,
                              int64_t ldc, int64_t cols, int first, real beta)
{
    GN(vec) acc[MT_MRMAX * MT_NV];
#pragma GCC unroll 24
    for (int e = 0; e < nr * MT_NV; e++)
        acc[e] = (GN(vec)){0};
    /* op(A) from 4 pointers, each to rows 3q, 3q+1, 3q+2 (an index of sr
     * elements at scale 1 and 2 in the address): with a pointer a row, 12
     * did not fit the 16 registers and were reloaded from the stack every
     * step of k (none past the tile's rows) */
    const real *a3[4] = { ap, ap, ap, ap };
#pragma GCC unroll 3
    for (int q = 1; q < 4; q++)
        a3[q] = 3 * q < nr ? ap + 3 * q * sr : ap;
    for (int64_t l = 0; l < kc; l++) {
        GN(vec) b0 = GLOADU(bp + l * ldp), b1 = GLOADU(bp + l * ldp + GVL);
#pragma GCC unroll 12
        for (int r = 0; r < nr; r++) {
            real av = a3[r / 3][l * sl + r % 3 * sr];
            acc[r * MT_NV] += av * b0;
            acc[r * MT_NV + 1] += av * b1;
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < nr; r++) {
        real *row = ci + r * ldc;
        if (cols == MT_NR) {
#pragma GCC unroll 2
            for (int v = 0; v < MT_NV; v++) {
                GN(vec) out = acc[r * MT_NV + v];
                if (!first)
                    out += GLOADU(row + v * GVL);
                else if (beta != 0)
                    out += beta * GLOADU(row + v * GVL);
                GSTOREU(row + v * GVL, out);
            }
        } else { /* the last panel of C: through a whole row on the stack */
            real part[MT_NR];
            memcpy(part, acc + r * MT_NV, sizeof part);
            for (int64_t x = 0; x < cols; x++)
                row[x] = first ? part[x] + (beta != 0 ? beta * row[x] : 0) : row[x] + part[x];
        }
    }
}

/* Row blocks ib0 .. ib1-1 of C over panels pa .. pb-1 of op(B) */
GTARGET
static void GN(mt_run)(const GN(MtJob) *j, int64_t ib0, int64_t ib1, int64_t pa, int64_t pb)
{
    int64_t m = j->m, n = j->n, k = j->k, kc = j->kc, lda = j->lda, ldc = j->ldc;
    int64_t slab = MT_SLAB / (kc * MT_NR * (int64_t)sizeof(real));
    slab = slab > 0 ? slab : 1;
    for (int64_t p0 = pa; p0 < pb; p0 += slab) {
        int64_t p1 = pb - p0 < slab ? pb : p0 + slab;
        for (int64_t l0 = 0; l0 < k; l0 += kc) {
            int64_t kb = k - l0 < kc ? k - l0 : kc;
            for (int64_t ib = ib0; ib < ib1; ib++) {
                int64_t i0 = ib * MT_MR;
                int nr = (int)(m - i0 < MT_MR ? m - i0 : MT_MR);
                /* op(A)'s rows i0 .. i0+nr-1 from step l0, in place: A's
                 * rows, or a transposed A's columns */
                const real *ar = j->ta ? j->a + l0 * lda + i0 : j->a + i0 * lda + l0;
                int64_t sr = j->ta ? 1 : lda, sl = j->ta ? lda : 1;
                for (int64_t p = p0; p < p1; p++) {
                    int64_t cols = n - p * MT_NR < MT_NR ? n - p * MT_NR : MT_NR, ldp = MT_NR;
                    const real *bp = j->bp + ((j->direct ? 0 : p) * k + l0) * MT_NR;
                    if (j->direct && cols == MT_NR)
                        bp = j->b + l0 * j->ldb + p * MT_NR, ldp = j->ldb;
                    real *ci = j->c + i0 * ldc + p * MT_NR;
                    switch (nr) {
#define MT_CASE(R)                                                                                 \
    case R:                                                                                        \
        GN(mt_tile)(R, ar, sr, sl, bp, ldp, kb, ci, ldc, cols, l0 == 0, j->beta);                  \
        break;
                        MT_CASE(1) MT_CASE(2) MT_CASE(3) MT_CASE(4) MT_CASE(5) MT_CASE(6)
#if GBYTES == 64
                        MT_CASE(7) MT_CASE(8) MT_CASE(9) MT_CASE(10) MT_CASE(11) MT_CASE(12)
#endif
#undef MT_CASE
                    }
                }
            }
        }
    }
}

/* Row blocks lo .. lo+count-1 of C over every panel (an exa_parallel_range
 * task; op(B) packed before) */
static void GN(mt_rows)(const void *ctx, int64_t lo, int64_t count)
{
    const GN(MtJob) *j = ctx;
    GN(mt_run)(j, lo, lo + count, 0, (j->n + MT_NR - 1) / MT_NR);
}

/* Panels lo .. lo+count-1: packed (unless read in place), then every row
 * of C over them (an exa_parallel_range task).  Split by panels, each
 * thread packs the part of op(B) it alone reads, into its own core's cache;
 * split by rows, each thread read every panel, half of them packed by the
 * other core: the wide MLP's 256x2048 by 2048x2048 gained 1.07x from a
 * second thread that way. */
static void GN(mt_panels)(const void *ctx, int64_t lo, int64_t count)
{
    const GN(MtJob) *j = ctx;
    if (!j->direct)
        GN(mt_pack_b)(ctx, lo, count);
    GN(mt_run)(j, 0, (j->m + MT_MR - 1) / MT_MR, lo, lo + count);
}

/* The packed op(B) of the calling thread, kept and grown across calls (a
 * GRU's 128 steps pack the same size 384 times a batch; malloc of this size
 * would map and fault fresh pages every call).  NULL: out of memory. */
static real *GN(mt_buffer)(int64_t elems)
{
    static _Thread_local real *buf;
    static _Thread_local int64_t len;
    if (len < elems) {
        real *p = aligned_alloc(64, (size_t)(elems * (int64_t)sizeof(real) + 63) / 64 * 64);
        if (!p)
            return NULL;
        free(buf);
        buf = p, len = elems;
    }
    return buf;
}

/* C = op(A) op(B) + beta C by the tiles above: 1 when done, 0 when out of
 * memory for the packed op(B) (OpenBLAS then). */
GTARGET
static int GN(gemm_tile)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *a, int64_t lda,
                         const real *b, int64_t ldb, real beta, real *c, int64_t ldc)
{
    if (k == 0) { /* C = beta C */
        for (int64_t i = 0; i < m; i++)
            for (int64_t x = 0; x < n; x++)
                c[i * ldc + x] = beta != 0 ? beta * c[i * ldc + x] : 0;
        return 1;
    }
    int64_t npan = (n + MT_NR - 1) / MT_NR, nkb = (k + MT_KC - 1) / MT_KC;
    int direct = !tb && k * n * (int64_t)sizeof(real) <= MT_DIRECT;
    real *bp = GN(mt_buffer)((direct ? 1 : npan) * k * MT_NR);
    if (!bp)
        return 0;
    GN(MtJob) job = { ta, tb, direct, a, b, lda, ldb, m, n, k, (k + nkb - 1) / nkb, ldc, beta, bp, c };
    if (direct && n % MT_NR != 0) /* the partial last panel, to bp */
        GN(mt_pack_b)(&job, npan - 1, 1);
    /* By panels where that makes more than one task; else (one thread, or
     * a single panel) by rows after the pack.  Either way each element of C
     * is one tile's sum in the same order.  A product of fewer than
     * EXA_K_GEMM_SPLIT_MIN multiply-adds stays on this thread: its halves
     * cost more in cross-core reads and hand-over than they save (a's
     * 100x128x10 took 2.9 us on one thread, 6.0 us split over two). */
    if (m * n * k < EXA_K_GEMM_SPLIT_MIN)
        GN(mt_panels)(&job, 0, npan);
    else if (exa_parallel_chunk(npan, 2 * m * k * MT_NR) < npan)
        exa_parallel_range(npan, 2 * m * k * MT_NR, GN(mt_panels), &job);
    else {
        if (!direct)
            exa_parallel_range(npan, k * MT_NR, GN(mt_pack_b), &job);
        exa_parallel_range((m + MT_MR - 1) / MT_MR, 2 * MT_MR * n * k, GN(mt_rows), &job);
    }
    return 1;
}

#undef MT_MR
#undef MT_LANES
#undef MT_DIRECT
#undef MT_MRMAX
#undef MT_NV
#undef MT_NR
#undef MT_KC
#undef MT_SLAB
#undef MT_ZL
#undef MT_ZH
#undef MT_LIST

#undef GVL
#undef GLOADU
#undef GSTOREU
#undef GLOAD_PART
#undef GSTORE_PART
#undef GLANES
#else
/* Compiled on its own: nothing (kernels_f32.c and kernels_f64.c include the body). */
typedef int exa_kernels_gemm_t_is_included_by_kernels_c;
#endif
