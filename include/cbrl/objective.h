/* General leader objectives f(x, pi, xi) (docs/MODEL.md 3.1): the discounted leader reward,
   cross-entropy to a target behaviour, Bradley-Terry preferences over the follower's
   trajectories and an occupancy welfare, each with its partials df/dx and df/dpi. */
#ifndef CBRL_OBJECTIVE_H
#define CBRL_OBJECTIVE_H

#include <stddef.h>

#include "cbrl/export.h"
#include "cbrl/model.h"
#include "cbrl/soft_solver.h"

typedef enum cbrl_objective_kind {
  CBRL_OBJECTIVE_LEADER_REWARD = 0, /* f = E[sum_t gamma_L^t rbar]: the default (objective NULL) */
  CBRL_OBJECTIVE_CROSS_ENTROPY,     /* f = -sum_s rho(s) KL(pi_target(.|s) || pi(.|s)) */
  CBRL_OBJECTIVE_PREFERENCES,       /* Bradley-Terry log-likelihood of preference pairs */
  CBRL_OBJECTIVE_WELFARE,           /* productivity x equality of the leader occupancy */
  CBRL_OBJECTIVE_CUSTOM             /* a user's own ops */
} cbrl_objective_kind;

/* What an objective reads: one context's follower at its best response at x. */
typedef struct cbrl_objective_input {
  const cbrl_problem *problem;
  int context;
  const double *x;            /* dim */
  const cbrl_mdp *mdp;        /* evaluated at x */
  cbrl_soft_solver *follower; /* pi*, log pi*, Q*, V*; its evaluate and occupancy may be called
                                 (they leave the policy unchanged) */
  void *scratch;              /* scratch_size bytes for this context, zero at first and kept
                                 between calls (a place for warm starts) */
} cbrl_objective_input;

/* What an objective writes. The caller zeroes every array; when df_dx is NULL only f is wanted
   and every array is NULL. */
typedef struct cbrl_objective_output {
  double f;
  double *df_dx;      /* dim: partial in x at fixed pi and fixed MDP */
  double *df_dlog_pi; /* n_states x n_actions: pi(a|s) df/dpi(a|s) (the paper's df/dpi times pi,
                         which needs no division where pi underflows) */
  /* Partials in x at fixed pi through the mechanism, as cotangents (cbrl_cotangent): */
  double *ct_r;      /* n_states x n_actions: df/dr */
  double *ct_rbar;   /* n_states x n_actions: df/drbar */
  double *ct_log_p;  /* n_transitions: df/dlog P */
  double *ct_log_mu; /* n_states: df/dlog mu */
} cbrl_objective_output;

typedef struct cbrl_objective cbrl_objective;

/* What an objective implements. */
typedef struct cbrl_objective_ops {
  /* Computes f and, when out->df_dx is non-NULL, adds its partials to out's arrays. Returns 0,
     CBRL_ENOCONV (a solve fell short of its tolerance) or an error. */
  int (*evaluate)(const cbrl_objective *o, const cbrl_objective_input *in, cbrl_objective_output *out);
  /* Frees impl; may be NULL. */
  void (*destroy)(cbrl_objective *o);
} cbrl_objective_ops;

/* A leader objective for problems of one shape: read-only once built. */
struct cbrl_objective {
  const cbrl_objective_ops *ops;
  void *impl;
  cbrl_objective_kind kind;
  int n_states, n_actions, n_contexts; /* the shape it was built for */
  size_t scratch_size;                 /* bytes per context */
  char name[32];
};

/* ---- Building objectives ------------------------------------------------------ */

/* Allocates an objective of kind CBRL_OBJECTIVE_CUSTOM for problems shaped like p. */
CBRL_API int cbrl_objective_create(cbrl_objective **out, const cbrl_objective_ops *ops, void *impl,
                                   const cbrl_problem *p, size_t scratch_size);

/* Frees an objective and its implementation; NULL is allowed. */
CBRL_API void cbrl_objective_free(cbrl_objective *o);

/* The discounted leader reward in the general form (df/dpi(a|s) = d(s) Qbar(s,a)): the same
   value and gradient as the default, through the general path; HPGD and AMD accept it. */
CBRL_API int cbrl_objective_leader_reward_create(cbrl_objective **out, const cbrl_problem *p);

/* f = sum_s rho(s) sum_a t(a|s) (log pi(a|s) - log t(a|s)) = -sum_s rho(s) KL(t(.|s) || pi(.|s)),
   the cross-entropy to a target behaviour t up to its entropy. target is n_states x n_actions
   (shared) or n_contexts x n_states x n_actions (per_context), rows non-negative and summing to 1;
   state_weight rho (n_states, non-negative) or NULL for 1 / n_states. Copied. */
CBRL_API int cbrl_objective_cross_entropy_create(cbrl_objective **out, const cbrl_problem *p,
                                                 const double *target, int per_context,
                                                 const double *state_weight);

/* A trajectory of the follower: states[0..length) and actions[0..length). */
typedef struct cbrl_trajectory {
  int length;
  const int *states;
  const int *actions;
} cbrl_trajectory;

/* One preference: in context `context`, `preferred` was preferred to `rejected`. */
typedef struct cbrl_preference {
  int context;
  double weight; /* > 0 */
  cbrl_trajectory preferred, rejected;
} cbrl_preference;

/* f = sum_k weight_k log sigmoid(beta (log pi(tau_k+) - log pi(tau_k-))) over the context's
   pairs, with log pi(tau) = sum_t log pi(a_t|s_t) (the Bradley-Terry model with the implicit
   reward beta log pi, docs/MODEL.md 3.1). Copied. CBRL_EINVAL, with *bad_pair and *bad_step
   set (either pointer may be NULL), for a pair naming an impossible sequence: a state or action
   out of range, an empty trajectory, or a step s_t -> s_t+1 that is not a stored transition of
   (s_t, a_t) or leaves a terminal state. */
CBRL_API int cbrl_objective_preferences_create(cbrl_objective **out, const cbrl_problem *p,
                                               const cbrl_preference *pairs, int n_pairs, double beta,
                                               int *bad_pair, int *bad_step);

/* Returns the first step of tr the follower can never take in the structure m (an MDP from
   cbrl_mdp_init: terminal flags and stored transitions), or -1 if every step is possible: a
   state or action out of range (that step), a step out of a terminal state or to a state that
   is not a stored successor (the step arriving there); 0 for an empty trajectory. */
CBRL_API int cbrl_trajectory_check(const cbrl_mdp *m, const cbrl_trajectory *tr);

/* The occupancy welfare f = P E, with u(s,a) = d(s) pi(a|s) the leader-discounted occupancy
   from mu, productivity P = sum u y, and equality E = 1 / (1 + kappa V), V = sum u (y - ybar)^2 /
   sum u the spread of the output y over the occupancy (ybar its mean). output y is
   n_contexts x n_states x n_actions; kappa >= 0. Copied. */
CBRL_API int cbrl_objective_welfare_create(cbrl_objective **out, const cbrl_problem *p,
                                           const double *output, double kappa);

/* ---- Using them ---------------------------------------------------------------- */

/* Gives p the objective o (p takes ownership; NULL restores the default leader reward). Call it
   before creating any workspace on p. CBRL_EINVAL if o was built for another shape. */
CBRL_API int cbrl_problem_set_objective(cbrl_problem *p, cbrl_objective *o);

/* Returns 1 if p's objective is the discounted leader reward (none set, or the built-in). */
CBRL_API int cbrl_objective_is_leader_reward(const cbrl_problem *p);

/* Returns 0 if the algorithm named ("exact", "zero-order", "hpgd", "hpgd-batch", "hpgd-rtq",
   "amd") supports p's objective, else CBRL_ENOTSUP and a one-line reason in why. HPGD, RT-Q and
   AMD estimate the gradient of a discounted leader reward; exact and zero-order take any. */
CBRL_API int cbrl_objective_supports(const cbrl_problem *p, const char *algorithm, char *why,
                                     size_t size);

#endif /* CBRL_OBJECTIVE_H */
