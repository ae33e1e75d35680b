/* rng_test.c - the generator against the reference xoshiro256** and
 * splitmix64 outputs (computed from the published algorithms), the
 * distributions' moments, unbiased integers, and Fisher-Yates permutations. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "exa/rng.h"

static void reference_stream(void)
{
    uint64_t sm = 0;
    CHECK(exa_splitmix64(&sm) == 0xe220a8397b1dcdafu);
    ExaRng r;
    exa_rng_seed(&r, 0);
    CHECK(r.s[0] == 0xe220a8397b1dcdafu && r.s[1] == 0x6e789e6aa1b965f4u);
    CHECK(r.s[2] == 0x06c45d188009454fu && r.s[3] == 0xf88bb8a8724c81ecu);
    CHECK(exa_rng_next(&r) == 0x99ec5f36cb75f2b4u);
    CHECK(exa_rng_next(&r) == 0xbf6e1f784956452au);
    CHECK(exa_rng_next(&r) == 0x1a5f849d4933e6e0u);
}

static void streams_differ(void)
{
    ExaRng a, b, c;
    exa_rng_seed_stream(&a, 42, 0);
    exa_rng_seed_stream(&b, 42, 1);
    exa_rng_seed_stream(&c, 42, 1);
    CHECK(exa_rng_next(&a) != exa_rng_next(&b));
    exa_rng_next(&c);
    CHECK(exa_rng_next(&b) == exa_rng_next(&c));
}

static void moments(void)
{
    ExaRng r;
    exa_rng_seed(&r, 7);
    enum { N = 200000 };
    double su = 0, sn = 0, sn2 = 0, umin = 1, umax = 0;
    for (int i = 0; i < N; i++) {
        double u = exa_rng_uniform(&r), z = exa_rng_normal(&r);
        su += u;
        umin = fmin(umin, u);
        umax = fmax(umax, u);
        sn += z;
        sn2 += z * z;
    }
    CHECK(umin >= 0 && umax < 1);
    CHECK_NEAR(su / N, 0.5, 0.005);       /* sd of the mean: 0.29/sqrt(N) = 6.5e-4 */
    CHECK_NEAR(sn / N, 0.0, 0.01);        /* 2.2e-3 */
    CHECK_NEAR(sn2 / N, 1.0, 0.02);       /* 3.2e-3 */
}

static void below_and_shuffle(void)
{
    ExaRng r;
    exa_rng_seed(&r, 3);
    int counts[3] = {0};
    for (int i = 0; i < 30000; i++) {
        uint64_t k = exa_rng_below(&r, 3);
        CHECK(k < 3);
        if (k < 3)
            counts[k]++;
    }
    for (int k = 0; k < 3; k++)
        CHECK(counts[k] > 9500 && counts[k] < 10500);
    /* each of the 6 permutations of 3 items about equally often */
    int perms[6] = {0};
    for (int t = 0; t < 60000; t++) {
        int64_t idx[3] = {0, 1, 2};
        exa_rng_shuffle(&r, idx, 3);
        CHECK(idx[0] + idx[1] + idx[2] == 3 && idx[0] != idx[1] && idx[1] != idx[2]);
        perms[idx[0] * 2 + (idx[1] > idx[2])]++;
    }
    for (int k = 0; k < 6; k++)
        CHECK(perms[k] > 9500 && perms[k] < 10500);
}

int main(void)
{
    reference_stream();
    streams_differ();
    moments();
    below_and_shuffle();
    CHECK_DONE();
}
