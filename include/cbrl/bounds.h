/* Box bounds on the leader's x (docs/MODEL.md 1.1): lower <= x <= upper, kept by projecting
   every optimiser step. */
#ifndef CBRL_BOUNDS_H
#define CBRL_BOUNDS_H

#include "cbrl/export.h"
#include "cbrl/model.h"

/* Gives p the box [lower, upper] (each dim, copied; NULL means -inf or +inf throughout, entries
   may be infinite); both NULL removes it. CBRL_EINVAL, with *bad (may be NULL) the first index,
   for a NaN or lower > upper. */
CBRL_API int cbrl_problem_set_bounds(cbrl_problem *p, const double *lower, const double *upper, int *bad);

/* Returns 1 if p has bounds. */
CBRL_API int cbrl_bounds_present(const cbrl_problem *p);

/* Clamps x (dim) into p's box; nothing without bounds. */
CBRL_API void cbrl_bounds_project(const cbrl_problem *p, double *x);

/* Returns the first index of x (dim) outside p's box, or -1. */
CBRL_API int cbrl_bounds_violation(const cbrl_problem *p, const double *x);

#endif /* CBRL_BOUNDS_H */
