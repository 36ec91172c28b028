/* Internal: the one home of the soft policy and of categorical draws. The row functions
   (cbrl_soft_value, cbrl_soft_policy_row, cbrl_softmax_row) are public and declared in
   cbrl/soft_solver.h so that environments can use them; this header adds what only the core
   needs: the raw shifted exponentials and the categorical draw of the simulation hot loops. */
#ifndef CBRL_SOFT_POLICY_H
#define CBRL_SOFT_POLICY_H

#include <stdint.h>

#include "cbrl/soft_solver.h"

/* z = sum_a exp((q[a] - max q) / lambda), summed in index order; writes max q to *shift and,
   when e is not NULL, each term to e[a]. n >= 1. */
double cbrl__soft_terms(const double *q, int n, double lambda, double *e, double *shift);

/* An index drawn from weights w[0..n) that sum to 1, by inversion of the uniform u in [0, 1).
   The one fallback: when rounding leaves u above the weights' running sum, the draw is the last
   index of positive weight, so an outcome of weight 0 is never drawn (0 if none is positive).
   Zero weights are skipped, which changes nothing else: u < 0 is false and u - 0 is u. */
static inline int64_t cbrl__categorical(const double *w, int64_t n, double u) {
  int64_t last = 0;
  for (int64_t i = 0; i < n; i++) {
    if (w[i] <= 0.0) continue;
    last = i;
    if (u < w[i]) return i;
    u -= w[i];
  }
  return last;
}

#endif /* CBRL_SOFT_POLICY_H */
