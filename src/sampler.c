/* Alias tables for the batch simulator (src/sampler.h). */
#include "sampler.h"

#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

void cbrl__alias_build(const double *w, int64_t n, cbrl__alias_cell *cell, int32_t *stack) {
  if (n <= 0) return;
  /* B: each column holds C = 2^B of the N = n C mass units, with N <= 2^62 so that every sum
     below fits; the masses are the weights' shares of N, rounded, their sum then made exactly N
     on the largest (a change of at most n units, far below its mass of at least C). */
  int bits = 0;
  while (bits < 62 && ((uint64_t)1 << bits) < (uint64_t)n) bits++;
  int B = 62 - bits;
  uint64_t C = (uint64_t)1 << B, N = (uint64_t)n << B;
  double total = 0.0;
  for (int64_t j = 0; j < n; j++)
    if (w[j] > 0.0) total += w[j];
  double scale = total > 0.0 ? (double)N / total : 0.0;
  int64_t largest = 0;
  uint64_t sum = 0;
  /* keep holds the masses while the table is built. */
  for (int64_t j = 0; j < n; j++) {
    double share = w[j] > 0.0 ? w[j] * scale + 0.5 : 0.0; /* NaN and negatives: 0 */
    uint64_t m = share >= (double)N ? N : (uint64_t)share;
    cell[j].keep = m;
    cell[j].alias = (int32_t)j;
    cell[j].unused = 0;
    sum += m;
    if (m > cell[largest].keep) largest = j;
  }
  if (total > 0.0) cell[largest].keep += N - sum; /* unsigned: adds or subtracts the difference */
  else cell[0].keep = N;
  /* Vose: pair each column short of C with one over it, which gives up the difference. In
     integers the masses left always sum to C per column left, so no column is left short. */
  int32_t *small = stack, *large = stack + n;
  int64_t ns = 0, nl = 0;
  for (int64_t j = 0; j < n; j++) {
    if (cell[j].keep < C) small[ns++] = (int32_t)j;
    else large[nl++] = (int32_t)j;
  }
  while (ns > 0 && nl > 0) {
    int32_t s = small[--ns], l = large[nl - 1];
    cell[s].alias = l;
    cell[l].keep -= C - cell[s].keep;
    cell[s].keep <<= 64 - B; /* mass of C units -> a 64-bit fraction */
    if (cell[l].keep < C) {
      nl--;
      small[ns++] = l;
    }
  }
  /* Full columns keep their own outcome whatever the fraction. */
  while (nl > 0) {
    int32_t l = large[--nl];
    cell[l].keep = UINT64_MAX;
    cell[l].alias = l;
  }
}

double cbrl__alias_probability(const cbrl__alias_cell *cell, int64_t n, int64_t j) {
  double p = 0.0, two64 = 18446744073709551616.0;
  for (int64_t i = 0; i < n; i++) {
    int full = cell[i].alias == i;
    double keep = full ? 1.0 : (double)cell[i].keep / two64;
    if (i == j) p += keep;
    if (!full && cell[i].alias == j) p += 1.0 - keep;
  }
  return p / (double)n;
}

void cbrl__sampler_close(cbrl__sampler *smp) {
  free(smp->kernel);
  free(smp->policy);
  free(smp->initial);
  free(smp->kernel_stamp);
  free(smp->policy_stamp);
  free(smp->stack);
  for (int k = 0; k < CBRL__KEPT_KERNELS; k++) {
    free(smp->kept[k].row);
    free(smp->kept[k].prob);
    free(smp->kept[k].cell);
  }
  memset(smp, 0, sizeof *smp);
}

/* Grows *p to n elements of `size` bytes (at least 1); zeroed when zero is set. */
static int grow(void **p, int64_t n, size_t size, int zero) {
  void *q = zero ? calloc((size_t)(n > 0 ? n : 1), size) : malloc(size * (size_t)(n > 0 ? n : 1));
  if (!q) return CBRL_ENOMEM;
  free(*p);
  *p = q;
  return 0;
}

int cbrl__sampler_begin(cbrl__sampler *smp, int64_t n_states, int64_t n_sa, int64_t n_transitions,
                        int64_t max_row) {
  int64_t stack_row = max_row > n_states ? max_row : n_states;
  if (n_sa > stack_row) stack_row = n_sa; /* the policy's rows are shorter than n_sa */
  int fresh = 0;
  if (n_transitions > smp->n_transitions) {
    if (grow((void **)&smp->kernel, n_transitions, sizeof *smp->kernel, 0)) return CBRL_ENOMEM;
    smp->n_transitions = n_transitions;
  }
  if (n_sa > smp->n_sa) {
    if (grow((void **)&smp->policy, n_sa, sizeof *smp->policy, 0) ||
        grow((void **)&smp->kernel_stamp, n_sa, sizeof *smp->kernel_stamp, 1))
      return CBRL_ENOMEM;
    smp->n_sa = n_sa;
    fresh = 1;
  }
  if (n_states > smp->n_states) {
    if (grow((void **)&smp->initial, n_states, sizeof *smp->initial, 0) ||
        grow((void **)&smp->policy_stamp, n_states, sizeof *smp->policy_stamp, 1))
      return CBRL_ENOMEM;
    smp->n_states = n_states;
    fresh = 1;
  }
  if (stack_row > smp->max_row) {
    if (grow((void **)&smp->stack, 2 * stack_row, sizeof *smp->stack, 0)) return CBRL_ENOMEM;
    smp->max_row = (int)stack_row;
  }
  /* A new stamp makes every row stale; on wrap-around (or new stamp arrays) start from 1. */
  if (fresh || smp->batch == UINT32_MAX) {
    memset(smp->kernel_stamp, 0, sizeof *smp->kernel_stamp * (size_t)smp->n_sa);
    memset(smp->policy_stamp, 0, sizeof *smp->policy_stamp * (size_t)smp->n_states);
    smp->batch = 0;
  }
  smp->batch++;
  return 0;
}
