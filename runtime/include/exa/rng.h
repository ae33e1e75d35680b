/* rng.h - the seeded random numbers of libexa: xoshiro256** seeded by splitmix64.
 *
 * Everything random in a training run (initial weights, generated data sets,
 * the shuffled order of each epoch) comes from an ExaRng, so one seed fixes a
 * run.  The integer stream is the reference xoshiro256** (Blackman & Vigna,
 * https://prng.di.unimi.it/) and is bit-identical on every machine; so are
 * exa_rng_uniform and exa_rng_below, which use integer arithmetic and one
 * exact conversion.  exa_rng_normal goes through libm's log and cos, so it is
 * as reproducible across machines as those are (identical with the same libm).
 * The state is four words and can be saved in a checkpoint as it is. */
#ifndef EXA_RNG_H
#define EXA_RNG_H

#include <stdint.h>

typedef struct ExaRng {
    uint64_t s[4];
} ExaRng;

/* The splitmix64 step: advances *state and returns the next output. */
uint64_t exa_splitmix64(uint64_t *state);

/* Seeds from one word: s[0..3] are four splitmix64 outputs from seed. */
void exa_rng_seed(ExaRng *r, uint64_t seed);

/* Seeds an independent stream for (seed, stream), e.g. (run seed, epoch):
 * the stream number is mixed into the seed by a splitmix64 step, so nearby
 * streams do not share state. */
void exa_rng_seed_stream(ExaRng *r, uint64_t seed, uint64_t stream);

/* The next 64 random bits. */
uint64_t exa_rng_next(ExaRng *r);

/* Uniform in [0, 1) with 53 random bits: (next >> 11) * 2^-53. */
double exa_rng_uniform(ExaRng *r);

/* Uniform in [a, b). */
double exa_rng_range(ExaRng *r, double a, double b);

/* Standard normal by Box-Muller; one value per call (no cached second value,
 * so the state is only s[4]). */
double exa_rng_normal(ExaRng *r);

/* Uniform integer in [0, n), unbiased (Lemire's multiply and reject); n > 0. */
uint64_t exa_rng_below(ExaRng *r, uint64_t n);

/* Fisher-Yates shuffle of idx[0..n): every permutation equally likely. */
void exa_rng_shuffle(ExaRng *r, int64_t *idx, int64_t n);

#endif
