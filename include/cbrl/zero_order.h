/* The zero-order hypergradient estimate (docs/MODEL.md 4.2): a two-point
   difference of the exact objective of one context along a random Gaussian direction. */
#ifndef CBRL_ZERO_ORDER_H
#define CBRL_ZERO_ORDER_H

#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/exact.h"
#include "cbrl/model.h"
#include "cbrl/rng.h"

/* Workspace for zero-order estimates of one problem: the shifted point's exact evaluation,
   warm-started across calls on its own, and the direction. */
typedef struct cbrl_zero_order cbrl_zero_order;

/* Creates a workspace for p, which must outlive it. */
CBRL_API int cbrl_zero_order_create(cbrl_zero_order **out, const cbrl_problem *p);

/* Frees a workspace; NULL is allowed. */
CBRL_API void cbrl_zero_order_free(cbrl_zero_order *z);

/* Returns the smoothing radius u = c / t of outer iteration t (counted from 1). */
CBRL_API double cbrl_zero_order_radius(double c, int64_t t);

/* Writes g = (f(x + u Z) - f(x)) Z / u (dim) for `context`, with Z ~ N(0, I_d) drawn from rng
   and f(x + u Z) computed exactly (best response, then policy evaluation). f_x is f(x) of the
   context, which callers already have from their own exact evaluation; f_shift (may be NULL)
   receives f(x + u Z). Returns 0, CBRL_ENOCONV when the shifted best response missed its
   tolerance (g is still written), or an error. */
CBRL_API int cbrl_zero_order_estimate(cbrl_zero_order *z, int context, const double *x, double f_x, double u,
                                      cbrl_rng *rng, double *grad, double *f_shift);

/* Returns the workspace's exact evaluation of the shifted points. */
CBRL_API cbrl_exact *cbrl_zero_order_exact(cbrl_zero_order *z);

#endif /* CBRL_ZERO_ORDER_H */
