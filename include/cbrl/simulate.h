/* Simulation: trajectories of a follower's policy in an MDP (SPEC 4.1), with episodes that
   terminate (a terminal state) kept apart from episodes that are truncated (a time cut). */
#ifndef CBRL_SIMULATE_H
#define CBRL_SIMULATE_H

#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/model.h"
#include "cbrl/rng.h"

/* A follower's stochastic policy. */
typedef struct cbrl_policy {
  int n_states;
  int n_actions;
  const double *pi;     /* n_states x n_actions */
  const double *log_pi; /* n_states x n_actions: what the follower reports for its actions */
} cbrl_policy;

/* How an episode ended, on its last step. */
#define CBRL_STEP_TERMINATED 0x1u /* acted in a terminal state: no continuation */
#define CBRL_STEP_TRUNCATED 0x2u  /* hit the episode time limit: the future is unobserved */
#define CBRL_STEP_CUT 0x4u        /* the batch ended mid-episode: the future is unobserved */

/* One environment step (s_t, a_t, r_t, rbar_t, s_{t+1}). */
typedef struct cbrl_step {
  int32_t s, a;
  int32_t next;   /* s_{t+1}; -1 after a terminal state */
  int32_t t;      /* time inside the episode, from 0 */
  int64_t entry;  /* the transition entry taken (index into cbrl_mdp.next), or -1 */
  double r;       /* follower reward */
  double rbar;    /* leader reward */
  double log_pi;  /* log pi(a_t|s_t) as reported by the follower */
  unsigned flags; /* CBRL_STEP_* on the last step of an episode, else 0 */
} cbrl_step;

/* A batch of steps; episodes are contiguous, in the order they were simulated. */
typedef struct cbrl_batch {
  cbrl_step *steps; /* capacity */
  int64_t n_steps;
  int64_t capacity;
  int64_t n_episodes; /* episodes started */
  int64_t n_finished; /* episodes that terminated or hit the time limit */
  double *state, *next_state; /* capacity, or NULL: continuous states of a cbrl_sim_continuous batch */
} cbrl_batch;

/* A simulator whose state is continuous, behind a tabular model of the same problem (the tax
   economy's assets, SPEC 6.2). The follower acts through its tabular policy at the grid state
   of the continuous one; steps carry grid states (entry -1) and the continuous rewards, and the
   estimators take grad log p of each transition from `score`. Such simulators have no terminal
   states. The tabular model's grad r and grad rbar must not depend on where in its grid state
   the continuous state lies (true of the tax economy), since the estimators use them. */
typedef struct cbrl_continuous {
  void *impl;
  /* Prepares simulation at x, with m the tabular MDP of the context at x. */
  int (*prepare)(void *impl, int context, const double *x, const cbrl_mdp *m);
  double (*initial)(const void *impl, cbrl_rng *rng);                /* draws s_0 */
  int32_t (*grid)(const void *impl, double s);                       /* grid state of s */
  void (*rewards)(const void *impl, double s, int32_t a, double *r, double *rbar);
  double (*next)(const void *impl, double s, int32_t a, cbrl_rng *rng); /* draws s' */
  /* Adds w * grad_x log p(s_next | s, a) to grad (dim). */
  void (*score)(const void *impl, double s, int32_t a, double s_next, double w, double *grad);
} cbrl_continuous;

/* Allocates room for `capacity` steps. */
CBRL_API int cbrl_batch_init(cbrl_batch *b, int64_t capacity);

/* Releases a batch. */
CBRL_API void cbrl_batch_close(cbrl_batch *b);

/* Samples s_0 from m->mu. */
CBRL_API int32_t cbrl_sim_initial(const cbrl_mdp *m, cbrl_rng *rng);

/* Samples an action of the policy in state s. */
CBRL_API int32_t cbrl_sim_action(const cbrl_policy *pi, int32_t s, cbrl_rng *rng);

/* Samples s' ~ P(.|s,a) (the simulator's kernel when m has one); writes the entry taken.
   Returns -1 for a terminal s. */
CBRL_API int32_t cbrl_sim_next(const cbrl_mdp *m, int32_t s, int32_t a, cbrl_rng *rng, int64_t *entry);

/* Simulation modes. COUPLED draws exactly three uniforms per step (action, next state, restart)
   whatever happens, so two batches of nearby policies from one stream stay in step: where
   their trajectories meet they go on together. Common random numbers need this. */
#define CBRL_SIM_COUPLED 0x1u

/* Simulates n_streams independent streams of steps_per_stream steps each into b (which it
   clears); episodes restart as they end and are truncated after max_steps steps (0: never). */
CBRL_API int cbrl_sim_batch(const cbrl_mdp *m, const cbrl_policy *pi, int n_streams,
                            int64_t steps_per_stream, int max_steps, unsigned flags, cbrl_rng *rng,
                            cbrl_batch *b);

/* As cbrl_sim_batch, in a continuous simulator already prepared at the policy's x: fills
   b->state and b->next_state besides the steps. CBRL_SIM_COUPLED is not supported. */
CBRL_API int cbrl_sim_continuous_batch(const cbrl_continuous *c, const cbrl_policy *pi, int n_streams,
                                       int64_t steps_per_stream, int max_steps, cbrl_rng *rng, cbrl_batch *b);

#endif /* CBRL_SIMULATE_H */
