/* Deterministic random numbers: xoshiro256++ seeded through splitmix64. */
#ifndef CBRL_RNG_H
#define CBRL_RNG_H

#include <stdint.h>

#include "cbrl/export.h"

typedef struct cbrl_rng {
  uint64_t s[4];
} cbrl_rng;

/* Seeds a generator from a seed and a stream index, so runs can have independent streams. */
CBRL_API void cbrl_rng_seed(cbrl_rng *rng, uint64_t seed, uint64_t stream);

/* Returns 64 uniformly random bits. */
CBRL_API uint64_t cbrl_rng_next(cbrl_rng *rng);

/* Returns a uniform double in [0, 1) with 53 random bits. */
CBRL_API double cbrl_rng_uniform(cbrl_rng *rng);

/* Returns a uniform integer in [0, n) without modulo bias; n must be positive. */
CBRL_API uint64_t cbrl_rng_below(cbrl_rng *rng, uint64_t n);

/* Returns a standard normal variate (Marsaglia's polar method). */
CBRL_API double cbrl_rng_normal(cbrl_rng *rng);

#endif /* CBRL_RNG_H */
