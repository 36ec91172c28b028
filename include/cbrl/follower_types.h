/* Several follower types per context (docs/MODEL.md 5.1): in every context a population of
   followers of types j = 1..J with weights w_j, each type its own MDP and its own follower;
   the leader's objective sums over them, F(x) = sum_xi q_xi sum_j w_j f_j(x, pi*_j, xi). It
   is built at the problem level: the pairs (context, type) become the contexts of one problem,
   weighted q_xi w_j, so that every estimator, the exact metrics and the leader's context draw
   need no change, and one follower per type answers the pairs of its type. */
#ifndef CBRL_FOLLOWER_TYPES_H
#define CBRL_FOLLOWER_TYPES_H

#include "cbrl/export.h"
#include "cbrl/follower.h"
#include "cbrl/model.h"

/* Creates the problem of n_types follower types: types[j] (not owned; they must outlive it)
   share n_states, n_actions, dim, n_contexts, the discounts and lambda and the context
   weights, and may differ in everything else (rewards, transitions, initial law). Context
   c = k * n_types + j of the result is context k of types[j], weighted q_k weights[j]
   (weights non-negative, summing to 1). CBRL_EINVAL if the types do not fit together. */
CBRL_API int cbrl_problem_types_create(cbrl_problem **out, cbrl_problem *const *types, const double *weights,
                                       int n_types);

/* Returns the type of a context of a types problem (context % n_types), or -1 for another problem. */
CBRL_API int cbrl_problem_types_type(const cbrl_problem *p, int context);

/* Creates a follower of the types problem p that answers context k * n_types + j with
   followers[j] (not owned; followers[j]->problem is types[j]) at context k: exact, learning or
   external followers may be mixed. Every follower must answer with a policy, or every one
   with trajectories. */
CBRL_API int cbrl_follower_types_create(cbrl_follower **out, const cbrl_problem *p, cbrl_follower *const *followers);

#endif /* CBRL_FOLLOWER_TYPES_H */
