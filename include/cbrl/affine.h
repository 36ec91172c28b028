/* Affine tabular problems (docs/ENVIRONMENTS.md 3 and 4): r, rbar and
   the logits of P and mu are affine in x. */
#ifndef CBRL_AFFINE_H
#define CBRL_AFFINE_H

#include "cbrl/export.h"
#include "cbrl/model.h"

/* Creates an empty affine problem; fill it with the cbrl_affine_* calls, then cbrl_affine_finalize. */
CBRL_API int cbrl_affine_create(cbrl_problem **out, int n_states, int n_actions, int dim,
                                int n_contexts);

/* Marks state s terminal in every context. */
CBRL_API int cbrl_affine_set_terminal(cbrl_problem *p, int s);

/* Adds s to the support of mu: mu = softmax over listed states of (logit + coef . x); coef may be NULL. */
CBRL_API int cbrl_affine_add_initial(cbrl_problem *p, int context, int s, double logit,
                                     const double *coef);

/* Adds s' to the support of P(.|s,a) = softmax over listed s' of (logit + coef . x); duplicates are refused. */
CBRL_API int cbrl_affine_add_transition(cbrl_problem *p, int context, int s, int a, int next,
                                        double logit, const double *coef);

/* Sets the follower reward r(s,a) = value + coef . x; pairs never set pay 0. */
CBRL_API int cbrl_affine_set_reward(cbrl_problem *p, int context, int s, int a, double value,
                                    const double *coef);

/* Sets the leader reward rbar(s,a) = value + coef . x; pairs never set pay 0. */
CBRL_API int cbrl_affine_set_leader_reward(cbrl_problem *p, int context, int s, int a,
                                           double value, const double *coef);

/* Freezes the problem: builds the CSR tables. Fails with CBRL_EINVAL if a context has an empty mu
   or a non-terminal (s,a) without transitions; *bad_context, *bad_state, *bad_action (each may be
   NULL) then say where (action -1 for an empty mu). */
CBRL_API int cbrl_affine_finalize(cbrl_problem *p, int *bad_context, int *bad_state,
                                  int *bad_action);

#endif /* CBRL_AFFINE_H */
