/* Trajectory batches from outside (docs/MODEL.md 5): a follower that acts by itself reports its
   steps, and the leader adds what only it knows (its reward, the transition entries, the times
   inside episodes) before the estimators read them as they read their own simulations. */
#ifndef CBRL_TRAJECTORY_H
#define CBRL_TRAJECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/hpgd.h"
#include "cbrl/model.h"
#include "cbrl/simulate.h"

/* Fields of a follower's step beyond (s, a, next, flags), which every estimate needs. */
#define CBRL_TRAJ_REWARD 0x1u /* r: the follower's reward, finite */
#define CBRL_TRAJ_LOG_PI 0x2u /* log_pi: log pi(a|s) of the action taken, finite and <= 0 */

/* How much a batch estimate asks for, beside the steps themselves. */
typedef struct cbrl_batch_request {
  int64_t steps;  /* the batch size N */
  int streams;    /* parallel episode streams the leader's own simulation would use */
  int max_steps;  /* episode time limit (truncated after this many steps; 0: none) */
} cbrl_batch_request;

/* Returns the CBRL_TRAJ_* fields the batch HPGD estimate of p reads: log pi and r only when x
   enters the transitions (CBRL_DEPENDS_P), since they only form the soft returns that weight
   grad log P (docs/MODEL.md 4.1). */
CBRL_API unsigned cbrl_trajectory_needs(const cbrl_problem *p);

/* Checks a follower's steps against m, the model's MDP of their context at x, and completes them:
   entry (the transition taken), t (time inside its episode), rbar (the leader's reward), the
   flags of a batch that ends mid-episode (CBRL_STEP_CUT), and the episode counts. A follower
   fills s, a, next (-1 after a terminal state), flags (CBRL_STEP_TERMINATED on the step taken
   in a terminal state, CBRL_STEP_TRUNCATED where a time limit cut an episode, CBRL_STEP_CUT where
   one of its streams ended mid-episode, not counted as finished), and the fields `needs`
   names (NAN where it has none). On failure writes `step i: field: what is wrong` to msg. */
CBRL_API int cbrl_trajectory_complete(cbrl_batch *b, const cbrl_mdp *m, unsigned needs, char *msg,
                                      size_t msg_size);

/* Estimates grad f(x, pi, context) from a follower's batch b, as cbrl_hpgd_estimate does from
   its own simulation: completes b (cbrl_trajectory_complete), then runs the batch estimator.
   The unbiased estimator (o->kind CBRL_HPGD_UNBIASED) draws branching rollouts from states it
   chooses, which a batch cannot supply: CBRL_ENOTSUP, with the reason in msg. */
CBRL_API int cbrl_hpgd_estimate_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m,
                                      cbrl_batch *b, const cbrl_hpgd_opts *o, double *grad,
                                      cbrl_estimate_info *info, char *msg, size_t msg_size);

#endif /* CBRL_TRAJECTORY_H */
