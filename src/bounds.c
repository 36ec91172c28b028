/* Box bounds on x (docs/MODEL.md 1.1). The projection is a clamp per coordinate, the Euclidean
   projection onto a box, so projected SGD and projected Adam keep their fixed points' KKT form. */
#include "cbrl/bounds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

int cbrl_problem_set_bounds(cbrl_problem *p, const double *lower, const double *upper, int *bad) {
  if (bad) *bad = -1;
  if (!p) return CBRL_EINVAL;
  size_t d = (size_t)p->dim;
  for (size_t j = 0; j < d; j++) {
    double lo = lower ? lower[j] : -INFINITY, hi = upper ? upper[j] : INFINITY;
    if (isnan(lo) || isnan(hi) || lo > hi || lo == INFINITY || hi == -INFINITY) {
      if (bad) *bad = (int)j;
      return CBRL_EINVAL;
    }
  }
  double *lo = NULL, *hi = NULL;
  if (lower || upper) {
    lo = malloc(d * sizeof(double));
    hi = malloc(d * sizeof(double));
    if (!lo || !hi) {
      free(lo);
      free(hi);
      return CBRL_ENOMEM;
    }
    for (size_t j = 0; j < d; j++) {
      lo[j] = lower ? lower[j] : -INFINITY;
      hi[j] = upper ? upper[j] : INFINITY;
    }
  }
  free(p->x_lower);
  free(p->x_upper);
  p->x_lower = lo;
  p->x_upper = hi;
  return 0;
}

int cbrl_bounds_present(const cbrl_problem *p) { return p && p->x_lower && p->x_upper; }

void cbrl_bounds_project(const cbrl_problem *p, double *x) {
  if (!cbrl_bounds_present(p)) return;
  for (int j = 0; j < p->dim; j++) x[j] = fmin(fmax(x[j], p->x_lower[j]), p->x_upper[j]);
}

int cbrl_bounds_violation(const cbrl_problem *p, const double *x) {
  if (!cbrl_bounds_present(p)) return -1;
  for (int j = 0; j < p->dim; j++)
    if (!(x[j] >= p->x_lower[j] && x[j] <= p->x_upper[j])) return j;
  return -1;
}
