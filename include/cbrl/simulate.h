/* Simulation: trajectories of a follower's policy (docs/MODEL.md 4.1), from the model's own
   kernel or from a simulator, with episodes that terminate (a terminal state) kept apart from
   episodes that are truncated (a time cut). */
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
  double *state, *next_state; /* capacity, or NULL: the simulator's own states (cbrl_sim_state.y) of
                                 a batch from a simulator off the model's states */
  void *tables; /* internal: cbrl_sim_batch's alias tables of the rows it samples, kept between
                   batches for their memory */
} cbrl_batch;

/* Allocates room for `capacity` steps. */
CBRL_API int cbrl_batch_init(cbrl_batch *b, int64_t capacity);

/* Releases a batch. */
CBRL_API void cbrl_batch_close(cbrl_batch *b);

/* ---- Sampling from the model's own kernel (the fast path) ------------------------- */

/* Samples s_0 from m->mu. */
CBRL_API int32_t cbrl_sim_initial(const cbrl_mdp *m, cbrl_rng *rng);

/* Samples an action of the policy in state s. */
CBRL_API int32_t cbrl_sim_action(const cbrl_policy *pi, int32_t s, cbrl_rng *rng);

/* Samples s' ~ P(.|s,a) of m; writes the entry taken. Returns -1 for a terminal s. */
CBRL_API int32_t cbrl_sim_next(const cbrl_mdp *m, int32_t s, int32_t a, cbrl_rng *rng, int64_t *entry);

/* Simulation modes. COUPLED draws exactly three uniforms per step (action, next state, restart)
   whatever happens, so two batches of nearby policies from one stream stay in step: where
   their trajectories meet they go on together. Common random numbers need this. */
#define CBRL_SIM_COUPLED 0x1u

/* Simulates n_streams independent streams of steps_per_stream steps each of m into b (which it
   clears); episodes restart as they end and are truncated after max_steps steps (0: never).
   Stream e's steps are b->steps[e steps_per_stream ...]. Without COUPLED the streams advance
   in lockstep and every draw (initial state, action, next state) takes one 64-bit number from
   rng through an alias table of its row, so the draws differ from cbrl_sim_initial,
   cbrl_sim_action and cbrl_sim_next (inverse-CDF draws from a uniform); with COUPLED the batch
   is those functions' draws, stream after stream. */
CBRL_API int cbrl_sim_batch(const cbrl_mdp *m, const cbrl_policy *pi, int n_streams,
                            int64_t steps_per_stream, int max_steps, unsigned flags, cbrl_rng *rng,
                            cbrl_batch *b);

/* ---- Simulators: trajectories from somewhere other than the model's kernel -------- */

/* Where a simulated episode is: the model state the follower acts in and, for a simulator
   with states of its own (the tax economy's continuous assets), that state. */
typedef struct cbrl_sim_state {
  int32_t s; /* model state (the grid state of y); -1 after a terminal state */
  double y;  /* the simulator's own state; 0 for simulators on the model's states */
} cbrl_sim_state;

typedef struct cbrl_simulator cbrl_simulator;

/* What a simulator implements. Every use follows a prepare at the context and x at hand; the
   follower acts through its tabular policy at s. Steps without a model transition entry take
   grad log p from score, so the estimators learn from any simulator through the same
   cotangent; a later source of outside trajectories (a follower that acts by itself) fits by
   filling a cbrl_batch with such steps. */
typedef struct cbrl_simulator_ops {
  /* Prepares simulation of `context` at x, with m the model's MDP of that context at x. */
  int (*prepare)(cbrl_simulator *sim, int context, const double *x, const cbrl_mdp *m);
  /* Draws s_0. */
  cbrl_sim_state (*initial)(const cbrl_simulator *sim, cbrl_rng *rng);
  /* Draws the state after action a at `at` (s = -1 after a terminal state); writes the model's
     transition entry taken, or -1 where the step has none. */
  cbrl_sim_state (*next)(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, cbrl_rng *rng,
                         int64_t *entry);
  /* Writes the follower's and the leader's reward of action a at `at`. The model's grad r and
     grad rbar at s must stand for them (true of the tax economy), since the estimators use those. */
  void (*rewards)(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, double *r, double *rbar);
  /* Adds w grad_x log p(to | from, a) to grad (dim), for steps without an entry; NULL when
     every step has one. */
  void (*score)(const cbrl_simulator *sim, cbrl_sim_state from, int32_t a, cbrl_sim_state to, double w,
                double *grad);
  /* Optional, for simulators on the model's own states, entries, rewards and initial law that
     differ only in their transition probabilities: returns those (aligned with the prepared
     MDP's entries), so that tabular code (coupled batches, generative-model followers) can
     sample them at full speed. NULL otherwise. */
  const double *(*kernel)(const cbrl_simulator *sim);
  /* Frees impl; may be NULL. */
  void (*destroy)(cbrl_simulator *sim);
} cbrl_simulator_ops;

struct cbrl_simulator {
  const cbrl_simulator_ops *ops;
  void *impl;
  const cbrl_problem *problem;
  const cbrl_mdp *mdp; /* the model's MDP of the last prepare */
  char name[32];
};

/* Wraps an implementation as a simulator of p; on failure impl stays the caller's to free. */
CBRL_API int cbrl_simulator_create(cbrl_simulator **out, const cbrl_problem *p, const cbrl_simulator_ops *ops,
                                   void *impl, const char *name);

/* Creates a simulator on p's own states whose transition probabilities are prob[context]
   (n_transitions of that context, aligned with its entries; copied) instead of the model's. */
CBRL_API int cbrl_simulator_tabular_create(cbrl_simulator **out, const cbrl_problem *p,
                                           const double *const *prob);

/* Frees a simulator and its implementation; NULL is allowed. */
CBRL_API void cbrl_simulator_free(cbrl_simulator *sim);

/* Prepares sim for `context` at x, with m the model's MDP of that context at x. */
CBRL_API int cbrl_simulator_prepare(cbrl_simulator *sim, int context, const double *x, const cbrl_mdp *m);

/* Writes the tabular MDP a sample-based learner faces in a prepared simulator (sim NULL: m):
   the prepared model with the simulator's kernel where it has one, else the model itself. */
CBRL_API void cbrl_simulator_tabular(const cbrl_simulator *sim, const cbrl_mdp *m, cbrl_mdp *out);

/* As cbrl_sim_batch, in a prepared simulator: a simulator off the model's states also fills
   b->state and b->next_state, and supports CBRL_SIM_COUPLED only if it has a kernel. */
CBRL_API int cbrl_simulator_batch(const cbrl_simulator *sim, const cbrl_policy *pi, int n_streams,
                                  int64_t steps_per_stream, int max_steps, unsigned flags, cbrl_rng *rng,
                                  cbrl_batch *b);

#endif /* CBRL_SIMULATE_H */
