/* A rollout's place, in a simulator or in a tabular MDP's own kernel: the start, step and rewards
   that the unbiased estimator (docs/MODEL.md 4.1a) and the soft-DQN follower (docs/MODEL.md 5)
   share. Internal to libcbrl. */
#ifndef CBRL_SIM_PLACE_H
#define CBRL_SIM_PLACE_H
#include "cbrl/simulate.h"

/* The first place of an episode: the simulator's, or a draw from m's initial distribution. */
static inline cbrl_sim_state cbrl__place_start(const cbrl_simulator *c, const cbrl_mdp *m, cbrl_rng *rng) {
  if (c) return c->ops->initial(c, rng);
  return (cbrl_sim_state){cbrl_sim_initial(m, rng), 0.0};
}

/* The place after action a (s < 0 after a terminal state); writes the entry taken (-1 for a
   simulator's step without one) when entry is not NULL. */
static inline cbrl_sim_state cbrl__place_next(const cbrl_simulator *c, const cbrl_mdp *m, cbrl_sim_state at,
                                              int32_t a, cbrl_rng *rng, int64_t *entry) {
  int64_t k;
  cbrl_sim_state next = c ? c->ops->next(c, at, a, rng, &k) : (cbrl_sim_state){cbrl_sim_next(m, at.s, a, rng, &k), 0.0};
  if (entry) *entry = k;
  return next;
}

/* The follower's and the leader's rewards of action a at a place: the simulator's, or m's. */
static inline void cbrl__place_rewards(const cbrl_simulator *c, const cbrl_mdp *m, cbrl_sim_state at, int32_t a,
                                       double *r, double *rbar) {
  if (c) {
    c->ops->rewards(c, at, a, r, rbar);
    return;
  }
  *r = m->r[(size_t)at.s * m->n_actions + a];
  *rbar = m->rbar[(size_t)at.s * m->n_actions + a];
}
#endif /* CBRL_SIM_PLACE_H */
