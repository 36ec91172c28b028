/* Random affine CB-RL problems (docs/ENVIRONMENTS.md 3). */
#ifndef CBRL_ENV_RANDOM_PROBLEM_H
#define CBRL_ENV_RANDOM_PROBLEM_H

#include <stdint.h>
#include "cbrl/export.h"
#include "cbrl/model.h"

typedef struct cbrl_random_opts {
  int n_states;
  int n_actions;
  int dim;
  int n_contexts;
  int branch;               /* next states per (s,a); also the size of mu's support */
  uint64_t seed;
  double terminal_fraction; /* share of terminal states (0.1) */
  int coef_nonzeros;        /* non-zero entries per coefficient vector (min(dim, 2)); 0 = dense */
  double coef_scale;        /* std of the coefficients (0.5) */
  unsigned depends;         /* which of r, rbar, P, mu get coefficients (CBRL_DEPENDS_ALL) */
  double reward_scale;      /* multiplies r and rbar, constants and coefficients (1) */
  double gamma, leader_gamma, lambda;
} cbrl_random_opts;

/* Fills o with defaults: 10 states, 3 actions, d 3, 2 contexts, branch 3, seed 0, discounts 0.9, lambda 1. */
CBRL_API void cbrl_random_opts_default(cbrl_random_opts *o);

/* The shape of the problem these options make (branch transitions per state-action). */
CBRL_API void cbrl_random_problem_shape(const cbrl_random_opts *o, cbrl_problem_shape *shape);

/* Creates a random affine CB-RL problem; the same options always give the same problem.
   CBRL_ETOOBIG, before allocating, when its cbrl_problem_memory_estimate exceeds
   cbrl_memory_limit(). */
CBRL_API int cbrl_random_problem_create(cbrl_problem **out, const cbrl_random_opts *o);

#endif /* CBRL_ENV_RANDOM_PROBLEM_H */
