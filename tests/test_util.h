/* Shared test helpers: cmocka plus floating-point checks that print both values. */
#ifndef CBRL_TEST_UTIL_H
#define CBRL_TEST_UTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cbrl/cbrl.h"

/* Fails unless |a - b| <= atol + rtol * max(|a|, |b|), printing both values. */
#define assert_close(a, b, rtol, atol)                                                        \
  do {                                                                                        \
    double a_ = (a), b_ = (b);                                                                \
    double tol_ = (atol) + (rtol) * fmax(fabs(a_), fabs(b_));                                 \
    if (!(fabs(a_ - b_) <= tol_))                                                             \
      fail_msg("%s = %.17g and %s = %.17g differ by %.3g > %.3g", #a, a_, #b, b_,             \
               fabs(a_ - b_), tol_);                                                          \
  } while (0)

#define assert_ok(expr)                                                                       \
  do {                                                                                        \
    int e_ = (expr);                                                                          \
    if (e_) fail_msg("%s returned %d (%s)", #expr, e_, cbrl_strerror(e_));                    \
  } while (0)

/* True when a quick run is asked for (the sanitizer build sets CBRL_TEST_QUICK). */
static inline int test_quick(void) { return getenv("CBRL_TEST_QUICK") != NULL; }

/* A small random problem (8 states, 3 actions, d = 3, one context, a quarter terminal) with
   follower discount gamma, leader discount 0.7 and temperature 0.5. */
static inline cbrl_problem *test_small_problem(double gamma) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 8;
  o.n_actions = 3;
  o.dim = 3;
  o.n_contexts = 1;
  o.gamma = gamma;
  o.leader_gamma = 0.7;
  o.lambda = 0.5;
  o.seed = 5;
  o.terminal_fraction = 0.25;
  cbrl_problem *p = NULL;
  assert_ok(cbrl_random_problem_create(&p, &o));
  return p;
}

/* The options of the small random problem the estimator tests use: 8 states, 3 actions, d = 4,
   two contexts, terminal states, dense coefficients, the mechanism entering as depends says. */
static inline void test_small_problem_opts(uint64_t seed, unsigned depends, cbrl_random_opts *out) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 8;
  o.n_actions = 3;
  o.dim = 4;
  o.n_contexts = 2;
  o.coef_nonzeros = 0;
  o.terminal_fraction = 0.25;
  o.gamma = 0.8;
  o.leader_gamma = 0.7;
  o.lambda = 0.5;
  o.seed = seed;
  o.depends = depends;
  *out = o;
}

/* Four-Rooms with the paper's settings but beta and lambda. */
static inline cbrl_problem *test_four_rooms(double beta, double lambda) {
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.beta = beta;
  o.lambda = lambda;
  cbrl_problem *p = NULL;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  return p;
}

/* The exact follower's policy for context k of e, after a cbrl_exact_context call. */
static inline cbrl_policy test_exact_policy(const cbrl_exact *e, int k) {
  const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
  const cbrl_mdp *m = cbrl_exact_mdp(e, k);
  return (cbrl_policy){m->n_states, m->n_actions, w->pi, w->log_pi};
}

/* An exact evaluator of p whose follower is solved to 1e-13, tight enough for finite differences. */
static inline cbrl_exact *test_exact_tight(cbrl_problem *p) {
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_soft_opts so;
  cbrl_soft_opts_default(&so);
  so.tol = 1e-13;
  cbrl_exact_set_opts(e, &so);
  return e;
}

/* Central fourth-order finite difference of F along coordinate j of x. */
static inline double test_fd(cbrl_exact *e, const double *x, int dim, int j, double h) {
  double *y = malloc(sizeof(double) * (size_t)dim), v[4];
  static const int off[4] = {1, -1, 2, -2};
  for (int q = 0; q < 4; q++) {
    for (int i = 0; i < dim; i++) y[i] = x[i];
    y[j] += off[q] * h;
    int err = cbrl_exact_evaluate(e, y, &v[q], NULL, NULL);
    if (err) fail_msg("evaluate failed: %s", cbrl_strerror(err));
  }
  free(y);
  return (8.0 * (v[0] - v[1]) - (v[2] - v[3])) / (12.0 * h);
}

/* max_j |g_j - FD_j| over x's dim coordinates, relative to max(max_j |g_j|, 1e-6), with the
   finite differences of step h: the gradient tests' measure. *gmax gets max_j |g_j|, which the
   tests bound below, since a zero gradient checks nothing. */
static inline double test_fd_relative_error(cbrl_exact *e, const double *x, const double *g, int dim, double h,
                                            double *gmax) {
  double err = 0.0;
  *gmax = 0.0;
  for (int j = 0; j < dim; j++) *gmax = fmax(*gmax, fabs(g[j]));
  for (int j = 0; j < dim; j++) err = fmax(err, fabs(g[j] - test_fd(e, x, dim, j, h)));
  return err / fmax(*gmax, 1e-6);
}


/* Runs the group; with an argument, only the tests whose name matches it (cmocka filter). */
#define CBRL_RUN_TESTS(argc, argv, tests)                        \
  ((argc) > 1 ? cmocka_set_test_filter((argv)[1]) : (void)0,     \
   cmocka_run_group_tests(tests, NULL, NULL))

#endif /* CBRL_TEST_UTIL_H */
