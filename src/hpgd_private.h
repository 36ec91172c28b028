/* Internal: the HPGD workspace shared by the batch and unbiased estimators. */
#ifndef CBRL_HPGD_INTERNAL_H
#define CBRL_HPGD_INTERNAL_H

#include "cbrl/hpgd.h"

struct cbrl_hpgd {
  const cbrl_problem *problem;
  int n_states, n_actions;
  int64_t max_transitions; /* over contexts */
  /* Dense cotangent, all zero between calls. */
  double *w_r, *w_rbar; /* n_states x n_actions */
  double *w_log_p;      /* max_transitions */
  double *w_log_mu;     /* n_states */
  double *g_score;      /* dim: grad log p terms of a continuous simulator's transitions */
  const cbrl_batch *log_p_steps; /* when set, w_log_p is non-zero only at these steps' entries */
  /* Batch tables. */
  cbrl_batch batch;
  double *ret_bar, *ret_soft; /* per step */
  unsigned char *usable, *complete;  /* per step */
  int64_t *episode;                  /* episode boundaries: episode e is [episode[e], episode[e+1]) */
  double *n_s, *n_sa;                /* visit counts over usable steps */
  double *vbar, *qbar, *vstar;       /* n_states, n_states x n_actions, n_states */
  double *c_n, *c_bar, *c_soft;      /* n_states: terminated visits */
  double *weight_sa, *weight_s;      /* W(s,a), sum_a W(s,a) */
  double *extra_s;                   /* n_states: bootstrap coefficients for terminated visits */
  double *pow_leader, *pow_follower; /* max_batch_steps + 2 */
  int64_t max_batch_steps;
  /* Unbiased estimator, one continuation: how often each entry was taken, the entries taken
     (distinct, so at most max_transitions), and the sum of the scores of steps without one. */
  double *entry_count; /* max_transitions, zero between continuations */
  int64_t *touched;    /* max_transitions */
  int64_t n_touched;
  double *g_path; /* dim, zero between continuations */
  struct cbrl__hpgd_critic *critic; /* the critic estimator's tables, made on first use */
  double *score;                    /* dim: one step's score (the paper-code variant) */
};

/* Frees the critic estimator's tables; NULL is allowed (hpgd_critic.c). */
void cbrl__hpgd_critic_free(struct cbrl__hpgd_critic *c);

/* grad = vjp of the workspace's cotangent; then zeroes the cotangent. */
int cbrl__hpgd_flush(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, double *grad);


/* The three estimates of cbrl_hpgd_estimate, sim already prepared (hpgd_batch.c,
   hpgd_unbiased.c, hpgd_critic.c). */
int cbrl__hpgd_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                     const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng, double *grad,
                     cbrl_estimate_info *info);
int cbrl__hpgd_unbiased(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                        const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng, double *grad,
                        cbrl_estimate_info *info);

/* The batch estimate from a follower's completed batch b (src/trajectory.c), copied into the workspace. */
int cbrl__hpgd_from_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_batch *b,
                          const cbrl_hpgd_opts *o, double *grad, cbrl_estimate_info *info);
int cbrl__hpgd_critic(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                      const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng, double *grad,
                      cbrl_estimate_info *info);

/* Records the episode boundaries of the batch in episode (episode e is steps episode[e] to
   episode[e + 1] - 1); returns the number of episodes. */
static inline int64_t cbrl__hpgd_split_episodes(const cbrl_batch *b, int64_t *episode) {
  int64_t e = 0;
  episode[0] = 0;
  for (int64_t i = 0; i < b->n_steps; i++)
    if (b->steps[i].flags) episode[++e] = i + 1;
  return e;
}

/* Adds w to the cotangent of log P at step j of the workspace's batch: on the transition entry
   taken, or, for a step of a simulator without one, w grad log p of the step's own transition. */
static inline void cbrl__hpgd_add_log_p(cbrl_hpgd *h, const cbrl_simulator *sim, int64_t j, double w) {
  const cbrl_step *st = &h->batch.steps[j];
  if (st->entry >= 0) h->w_log_p[st->entry] += w;
  else if (sim)
    sim->ops->score(sim, (cbrl_sim_state){st->s, h->batch.state[j]}, st->a,
                    (cbrl_sim_state){st->next, h->batch.next_state[j]}, w, h->g_score);
}

#endif /* CBRL_HPGD_INTERNAL_H */
