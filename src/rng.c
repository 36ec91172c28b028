#include "cbrl/rng.h"

#include "rng_inline.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void cbrl_rng_seed(cbrl_rng *rng, uint64_t seed, uint64_t stream) {
  /* Mix the stream through splitmix first so that nearby (seed, stream)
     pairs give unrelated states. */
  uint64_t x = seed;
  uint64_t h = splitmix64(&x) ^ (stream * 0xD1B54A32D192ED03ull);
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&h);
}

uint64_t cbrl_rng_next(cbrl_rng *rng) { return cbrl__rng_next(rng); }

double cbrl_rng_uniform(cbrl_rng *rng) { return cbrl__rng_uniform(rng); }

uint64_t cbrl_rng_below(cbrl_rng *rng, uint64_t n) {
  /* Rejection from the top of the range removes modulo bias. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = cbrl_rng_next(rng);
  while (v >= limit);
  return v % n;
}

double cbrl_rng_normal(cbrl_rng *rng) {
  double u, v, s;
  do {
    u = 2.0 * cbrl_rng_uniform(rng) - 1.0;
    v = 2.0 * cbrl_rng_uniform(rng) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  return u * sqrt(-2.0 * log(s) / s);
}
