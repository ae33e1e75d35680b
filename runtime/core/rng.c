/* rng.c - xoshiro256** with splitmix64 seeding, and what is built on it.
 *
 * The generator is the published reference algorithm, kept word for word so
 * its output can be checked against the authors' C code; the helpers on top
 * (uniform doubles, unbiased integers, Box-Muller normals, Fisher-Yates) are
 * the textbook versions.  All state lives in the caller's ExaRng. */
#include "exa/rng.h"

#include <math.h>

uint64_t exa_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void exa_rng_seed(ExaRng *r, uint64_t seed)
{
    /* splitmix64 never yields four zero words in a row, so the state is
     * never the all-zero fixed point of xoshiro */
    for (int i = 0; i < 4; i++)
        r->s[i] = exa_splitmix64(&seed);
}

void exa_rng_seed_stream(ExaRng *r, uint64_t seed, uint64_t stream)
{
    uint64_t mix = stream;
    exa_rng_seed(r, seed ^ exa_splitmix64(&mix));
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t exa_rng_next(ExaRng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double exa_rng_uniform(ExaRng *r)
{
    return (double)(exa_rng_next(r) >> 11) * 0x1.0p-53;
}

double exa_rng_range(ExaRng *r, double a, double b)
{
    return a + (b - a) * exa_rng_uniform(r);
}

double exa_rng_normal(ExaRng *r)
{
    /* 1 - u lies in (0, 1], so the log is finite */
    double u = 1.0 - exa_rng_uniform(r);
    double v = exa_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}

uint64_t exa_rng_below(ExaRng *r, uint64_t n)
{
    /* Lemire (2019): the high word of a 128-bit product, rejecting the few
     * low words that would make some results more likely than others */
    unsigned __int128 m = (unsigned __int128)exa_rng_next(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)exa_rng_next(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

void exa_rng_shuffle(ExaRng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)exa_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
