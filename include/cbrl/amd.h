/* AMD, forward-mode hypergradients from tables updated alongside the follower (docs/MODEL.md 4.3). */
#ifndef CBRL_AMD_H
#define CBRL_AMD_H

#include "cbrl/export.h"
#include "cbrl/model.h"

/* AMD's per-context tables (Q_LL, grad Q_LL, Q_UL, Qtil), warm across outer iterations. */
typedef struct cbrl_amd cbrl_amd;

/* Creates AMD's tables. AMD's forward-mode updates carry no grad P or grad mu terms, so a problem
   whose P or mu depends on x, or that has no reward_jacobian op, gives CBRL_ENOTSUP. */
CBRL_API int cbrl_amd_create(cbrl_amd **out, const cbrl_problem *p);

/* Frees AMD's tables; NULL is allowed. */
CBRL_API void cbrl_amd_free(cbrl_amd *a);

/* Sets the cancellation flag (NULL: never): once *cancel is nonzero, cbrl_amd_step returns
   CBRL_ECANCELED before its next update or Newton step. */
CBRL_API void cbrl_amd_set_cancel(cbrl_amd *a, const volatile int *cancel);

/* Runs `updates` synchronous updates (K = 100 in the paper) of the context's tables at x, with m
   the context's MDP at x, initialising them on first use; writes grad = sum_s mu(s) Vtil(s). */
CBRL_API int cbrl_amd_step(cbrl_amd *a, int context, const double *x, const cbrl_mdp *m, int updates,
                           double *grad);

#endif /* CBRL_AMD_H */
