/* Followers (SPEC 5): anything that turns (x, context) into a policy. The leader's estimators
   see only the policy's trajectories, so any follower plugs in without touching them. */
#ifndef CBRL_FOLLOWER_H
#define CBRL_FOLLOWER_H

#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/model.h"
#include "cbrl/rng.h"
#include "cbrl/simulate.h"
#include "cbrl/solver.h"

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
  /* Computes the response to the MDP m of `context` at x; fills *out (valid until the next call). */
  int (*respond)(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m, cbrl_rng *rng,
                 cbrl_policy *out);
  /* Frees impl; may be NULL. */
  void (*destroy)(cbrl_follower *f);
} cbrl_follower_ops;

struct cbrl_follower {
  const cbrl_follower_ops *ops;
  void *impl;
  const cbrl_problem *problem;
  cbrl_follower_stats stats; /* of the last response */
  char name[32];
};

/* Creates the exact soft follower: soft policy iteration to tolerance, warm-started per context. */
CBRL_API int cbrl_follower_exact_create(cbrl_follower **out, const cbrl_problem *p);

/* Returns the exact follower's solver of a context (NULL for other followers). */
CBRL_API const cbrl_soft_solver *cbrl_follower_exact_solver(const cbrl_follower *f, int context);

/* Asks a follower for its response; updates f->stats. */
CBRL_API int cbrl_follower_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                                   cbrl_rng *rng, cbrl_policy *out);

/* Frees a follower; NULL is allowed. */
CBRL_API void cbrl_follower_free(cbrl_follower *f);

#endif /* CBRL_FOLLOWER_H */
