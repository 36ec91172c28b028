/* The zero-order estimate (docs/MODEL.md 4.2): g = (f(x + u Z) - f(x)) Z / u.
   Its mean is the gradient of the Gaussian smoothing f_u(x) = E f(x + u Z) of f, up to a term
   that vanishes as u -> 0. The shifted point keeps its own warm-started exact workspace: it
   moves with x but never disturbs the warm starts of the caller's evaluation at x. */
#include "cbrl/zero_order.h"

#include <math.h>
#include <stdlib.h>

#include "cbrl/errors.h"

struct cbrl_zero_order {
  const cbrl_problem *problem;
  cbrl_exact *shift;
  double *z, *shifted; /* dim */
};

void cbrl_zero_order_free(cbrl_zero_order *z) {
  if (!z) return;
  cbrl_exact_free(z->shift);
  free(z->z);
  free(z->shifted);
  free(z);
}

int cbrl_zero_order_create(cbrl_zero_order **out, const cbrl_problem *p) {
  if (!out || !p) return CBRL_EINVAL;
  cbrl_zero_order *z = calloc(1, sizeof *z);
  if (!z) return CBRL_ENOMEM;
  z->problem = p;
  z->z = calloc((size_t)p->dim, sizeof(double));
  z->shifted = calloc((size_t)p->dim, sizeof(double));
  int err = !z->z || !z->shifted ? CBRL_ENOMEM : cbrl_exact_create(&z->shift, p);
  if (err) {
    cbrl_zero_order_free(z);
    return err;
  }
  *out = z;
  return 0;
}

double cbrl_zero_order_radius(double c, int64_t t) { return c / (double)t; }

int cbrl_zero_order_estimate(cbrl_zero_order *z, int context, const double *x, double f_x, double u,
                             cbrl_rng *rng, double *grad, double *f_shift) {
  if (!z || !x || !rng || !grad || !(u > 0.0) || !isfinite(u)) return CBRL_EINVAL;
  int d = z->problem->dim;
  for (int j = 0; j < d; j++) {
    z->z[j] = cbrl_rng_normal(rng);
    z->shifted[j] = x[j] + u * z->z[j];
  }
  double f1;
  int err = cbrl_exact_context(z->shift, context, z->shifted, &f1, NULL);
  if (err && err != CBRL_ENOCONV) return err;
  for (int j = 0; j < d; j++) grad[j] = (f1 - f_x) * z->z[j] / u;
  if (f_shift) *f_shift = f1;
  return err;
}

cbrl_exact *cbrl_zero_order_exact(cbrl_zero_order *z) { return z ? z->shift : NULL; }
