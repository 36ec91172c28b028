/* Followers (docs/MODEL.md 5): anything that turns (x, context) into a policy. The leader's estimators
   see only the policy's trajectories, so any follower plugs in without touching them. */
#ifndef CBRL_FOLLOWER_H
#define CBRL_FOLLOWER_H

#include <stdint.h>

#include "cbrl/exact.h"
#include "cbrl/export.h"
#include "cbrl/model.h"
#include "cbrl/rng.h"
#include "cbrl/simulate.h"
#include "cbrl/soft_solver.h"
#include "cbrl/trajectory.h"

typedef struct cbrl_follower cbrl_follower;

/* What the last response cost and how good it is. */
typedef struct cbrl_follower_stats {
  int64_t samples;    /* environment or generative-model samples used (0 for model-based) */
  int64_t iterations; /* solver iterations or learning updates */
  int64_t products;   /* Markov matrix-vector products (exact follower) */
  double residual;    /* final Bellman residual, where known */
  int converged;
} cbrl_follower_stats;

/* What a follower implements. */
typedef struct cbrl_follower_ops {
  /* Computes the response to the MDP m of `context` at x; fills *out (valid until the next call).
     A sample-based follower learns from sim, prepared at (context, x, m), or from m's kernel
     when sim is NULL. */
  int (*respond)(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                 cbrl_rng *rng, cbrl_policy *out);
  /* Frees impl; may be NULL. */
  void (*destroy)(cbrl_follower *f);
  /* Optional, for a follower that acts by itself (docs/MODEL.md 5): fills out (capacity at least
     req->steps, cleared) with req->steps of its own steps in the MDP m of `context` at x, as
     cbrl/trajectory.h says (s, a, next, flags, and r and log_pi where it has them). A follower
     with trajectories and no respond answers the leader with batches only. */
  int (*trajectories)(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                      const cbrl_batch_request *req, cbrl_rng *rng, cbrl_batch *out);
} cbrl_follower_ops;

struct cbrl_follower {
  const cbrl_follower_ops *ops;
  void *impl;
  const cbrl_problem *problem;
  cbrl_follower_stats stats; /* of the last response */
  char name[32];
  const volatile int *cancel; /* set by the caller (NULL: never): once *cancel is nonzero, the
                                 soft-Q followers return CBRL_ECANCELED within 1024 iterations or
                                 steps; the exact ones use their solver's flag */
};

/* Wraps ops and impl as a follower of p, named `name`: the way to write a follower of one's own.
   ops must outlive it; impl is the implementation's, freed by ops->destroy (which may be NULL). */
CBRL_API int cbrl_follower_create(cbrl_follower **out, const cbrl_problem *p, const cbrl_follower_ops *ops,
                                  void *impl, const char *name);

/* Creates the exact soft follower: soft policy iteration to tolerance, warm-started per context. */
CBRL_API int cbrl_follower_exact_create(cbrl_follower **out, const cbrl_problem *p);

/* Creates the exact soft follower answering from e, an exact workspace of p (not owned): it
   solves e's solver of the context in e's MDP, which it evaluates at x unless m is that MDP
   (cbrl_exact_mdp after cbrl_exact_set_x at x); cbrl_exact_value then reuses the solve. */
CBRL_API int cbrl_follower_exact_shared_create(cbrl_follower **out, const cbrl_problem *p, cbrl_exact *e);

/* Returns the exact follower's solver of a context (NULL for other followers). */
CBRL_API const cbrl_soft_solver *cbrl_follower_exact_solver(const cbrl_follower *f, int context);

/* ---- Sample-based followers (docs/MODEL.md 4.4 and 5) --------------------------------------- */

/* Step sizes of soft Q-learning. */
typedef enum cbrl_schedule {
  CBRL_SCHEDULE_RESCALED_LINEAR = 0, /* beta_k = 1 / (1 + (1 - gamma) k) */
  CBRL_SCHEDULE_POLYNOMIAL = 1       /* beta_k = 1 / (k + 1)^0.8 */
} cbrl_schedule;

/* Returns beta_k of a schedule (k counts from 0). */
CBRL_API double cbrl_schedule_step(cbrl_schedule s, double gamma, int64_t k);

/* Runs synchronous soft Q-learning from a generative model: iterations k0 .. k0+n-1 each update
   every (s, a) once with one sampled s', Q <- (1 - beta_k) Q + beta_k (r + gamma V_Q(s')).
   q is n_states x n_actions, v an n_states scratch. Uses exactly n * n_states * n_actions samples
   (terminal rows included: their target is r). */
CBRL_API void cbrl_soft_q_iterate(const cbrl_mdp *m, double gamma, double lambda, cbrl_schedule s, int64_t k0,
                                  int64_t n, cbrl_rng *rng, double *q, double *v);

/* Creates a follower that, for every response, trains soft Q-learning from Q = 0 for
   `iterations` synchronous iterations of a generative model, and answers softmax(Q / lambda). */
CBRL_API int cbrl_follower_soft_q_create(cbrl_follower **out, const cbrl_problem *p, int64_t iterations,
                                         cbrl_schedule schedule);

/* Creates a follower that learns as an agent would: tabular soft Q-learning from its own
   on-policy episodes (steps per response, episodes cut at max_steps), step size
   1 / (1 + n(s,a))^0.6 by visit count, its Q kept across responses (warm, per context). Each
   response starts a fresh episode; the environment's draws (initial and next states) come from
   the caller's rng, its actions from a stream of its own (cbrl_follower_online_seed; seed 0),
   exactly as examples/followers/online_q.py learns when cbrl serves it the environment. */
CBRL_API int cbrl_follower_online_create(cbrl_follower **out, const cbrl_problem *p, int64_t steps, int max_steps);

/* The stream of the online follower's actions: cbrl_rng_seed(seed, CBRL_ONLINE_STREAM). */
#define CBRL_ONLINE_STREAM 0x6f6e6c696e65ull /* "online" */

/* Restarts an online follower's action stream at seed (CBRL_EINVAL for other followers). */
CBRL_API int cbrl_follower_online_seed(cbrl_follower *f, uint64_t seed);

/* Asks a follower for its response to the model m of `context` at x, learning (if it learns from
   samples) in sim, which it prepares, or in m's own kernel when sim is NULL; updates f->stats. */
CBRL_API int cbrl_follower_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                                   cbrl_simulator *sim, cbrl_rng *rng, cbrl_policy *out);

/* Returns 1 if f answers with trajectories (its ops have trajectories), else 0. */
CBRL_API int cbrl_follower_brings_trajectories(const cbrl_follower *f);

/* Asks a trajectory follower for a batch of its own steps in the MDP m of `context` at x (see
   cbrl_follower_ops.trajectories); updates f->stats. CBRL_ENOTSUP for a policy-only follower. */
CBRL_API int cbrl_follower_trajectories(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                                        const cbrl_batch_request *req, cbrl_rng *rng, cbrl_batch *out);

/* Creates a trajectory follower that simulates inner's policy (inner: a policy follower of p,
   owned on success, the caller's on failure) in the MDP's own
   kernel and reports only what an agent acting by itself knows: the reference for tests and for
   the shape of an outside follower's batch. */
CBRL_API int cbrl_follower_rollout_create(cbrl_follower **out, const cbrl_problem *p, cbrl_follower *inner);

/* Frees a follower; NULL is allowed. */
CBRL_API void cbrl_follower_free(cbrl_follower *f);

#endif /* CBRL_FOLLOWER_H */
