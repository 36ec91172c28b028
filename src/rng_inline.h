/* Internal: the xoshiro256++ step as static inline functions, for the simulation hot loops.
   src/rng.c exports the same functions for the public API. */
#ifndef CBRL_RNG_INLINE_H
#define CBRL_RNG_INLINE_H

#include "cbrl/rng.h"

static inline uint64_t cbrl__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t cbrl__rng_next(cbrl_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = cbrl__rotl(s[0] + s[3], 23) + s[0];
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = cbrl__rotl(s[3], 45);
  return result;
}

static inline double cbrl__rng_uniform(cbrl_rng *rng) {
  return (double)(cbrl__rng_next(rng) >> 11) * 0x1.0p-53;
}

#endif /* CBRL_RNG_INLINE_H */
