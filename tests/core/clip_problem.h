/* A problem on which clipping each context's gradient moves the leader's optimum
   (docs/MODEL.md 4): a subsidy x paid to four follower types for taking action 1.

   Type i (weight q_i) values action 1 at x - b_i against 0 for action 0, so with temperature
   lambda it takes it with probability s_i = sigmoid((x - b_i) / lambda); the leader gains u_i
   and pays x when it does. One decision, then a terminal state, so in closed form
       f_i(x) = s_i (u_i - x),   f_i'(x) = s_i (1 - s_i) (u_i - x) / lambda - s_i.
   Near b_i the per-type gradients reach 3 to 4, above the paper's clip of 1, and the types
   pull in different directions: the clipped fixed point sum_i q_i clip(f_i'(x)) = 0 lies at
   x = 0.963, where F has 87 % of the gain from x = 0 to the optimum x = 1.133. */
#ifndef CBRL_TEST_CLIP_PROBLEM_H
#define CBRL_TEST_CLIP_PROBLEM_H

#include <math.h>

#include "cbrl/affine.h"

#define CLIP_TYPES 4
#define CLIP_LAMBDA 0.2
static const double clip_b[CLIP_TYPES] = {0.5, 1.1, 1.25, 1.35};
static const double clip_u[CLIP_TYPES] = {0.8, 2.6, 1.4, 0.6};
static const double clip_q[CLIP_TYPES] = {0.35, 0.4, 0.05, 0.2};

/* Builds the problem: state 0 decides, state 1 is terminal and pays nothing; d = 1. */
static inline int clip_problem_create(cbrl_problem **out) {
  cbrl_problem *p;
  int err = cbrl_affine_create(&p, 2, 2, 1, CLIP_TYPES);
  if (err) return err;
  const double one = 1.0, minus_one = -1.0;
  err = cbrl_affine_set_terminal(p, 1);
  for (int i = 0; i < CLIP_TYPES && !err; i++) {
    err = cbrl_affine_add_initial(p, i, 0, 0.0, NULL);
    for (int a = 0; a < 2 && !err; a++) err = cbrl_affine_add_transition(p, i, 0, a, 1, 0.0, NULL);
    if (!err) err = cbrl_affine_set_reward(p, i, 0, 1, -clip_b[i], &one);
    if (!err) err = cbrl_affine_set_leader_reward(p, i, 0, 1, clip_u[i], &minus_one);
  }
  if (!err) err = cbrl_affine_finalize(p, NULL, NULL, NULL);
  if (err) {
    cbrl_problem_free(p);
    return err;
  }
  p->gamma = p->leader_gamma = 0.9;
  p->lambda = CLIP_LAMBDA;
  for (int i = 0; i < CLIP_TYPES; i++) p->context_weight[i] = clip_q[i];
  *out = p;
  return 0;
}

static inline double clip_share(double x, int i) { return 1.0 / (1.0 + exp(-(x - clip_b[i]) / CLIP_LAMBDA)); }

/* f_i(x) in closed form. */
static inline double clip_f(double x, int i) { return clip_share(x, i) * (clip_u[i] - x); }

/* f_i'(x) in closed form. */
static inline double clip_grad(double x, int i) {
  double s = clip_share(x, i);
  return s * (1.0 - s) * (clip_u[i] - x) / CLIP_LAMBDA - s;
}

/* F(x) = sum_i q_i f_i(x). */
static inline double clip_F(double x) {
  double F = 0.0;
  for (int i = 0; i < CLIP_TYPES; i++) F += clip_q[i] * clip_f(x, i);
  return F;
}

/* sum_i q_i clip(f_i'(x)) with the clip at c (c <= 0: no clip, F'(x)). */
static inline double clip_mean_clipped(double x, double c) {
  double g = 0.0;
  for (int i = 0; i < CLIP_TYPES; i++) {
    double gi = clip_grad(x, i);
    if (c > 0.0) gi = fmax(-c, fmin(c, gi));
    g += clip_q[i] * gi;
  }
  return g;
}

/* The root in [lo, hi] of the mean clipped gradient (decreasing there), by bisection. */
static inline double clip_fixed_point(double c, double lo, double hi) {
  for (int k = 0; k < 200; k++) {
    double mid = 0.5 * (lo + hi);
    if (clip_mean_clipped(mid, c) > 0.0) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

#endif /* CBRL_TEST_CLIP_PROBLEM_H */
