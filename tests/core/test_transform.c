/* Tests for src/transform.c: the exact hypergradient of transformed problems against finite
   differences (every transform kind, x entering r, rbar, P and mu through them; tolerance as in
   test_exact: 1e-6 of the largest component), the reward Jacobians against finite differences of
   r and rbar, the forward map against the formulas, and the refusal of invalid parameters. */
#include "test_util.h"

#include <string.h>

/* x (dim 4) -> y (9): identity, sigmoid, softplus, exp, softmax over {0, 2, 3}, range. */
static const int in0[1] = {0}, in1[1] = {1}, in2[1] = {2}, in3[1] = {3}, group[3] = {0, 2, 3};
static const cbrl_transform transforms[] = {
    {CBRL_TRANSFORM_IDENTITY, 1, in1, 0.5, 0, 0}, {CBRL_TRANSFORM_SIGMOID, 1, in0, 2.0, 0, 0},
    {CBRL_TRANSFORM_SOFTPLUS, 1, in2, 1.5, 0, 0}, {CBRL_TRANSFORM_EXP, 1, in3, 0.3, 0, 0},
    {CBRL_TRANSFORM_SOFTMAX, 3, group, 2.0, 0, 0}, {CBRL_TRANSFORM_RANGE, 1, in1, 0, -1.0, 3.0},
};
#define N_T (int)(sizeof transforms / sizeof transforms[0])
#define N_PARAMS 8
#define DIM 4

static cbrl_problem *make(uint64_t seed, double lambda, double terminal_fraction) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 9;
  o.n_actions = 3;
  o.dim = N_PARAMS;
  o.n_contexts = 2;
  o.coef_nonzeros = 0;
  o.lambda = lambda;
  o.terminal_fraction = terminal_fraction;
  o.leader_gamma = 0.8;
  o.seed = seed;
  cbrl_problem *inner, *p;
  assert_ok(cbrl_random_problem_create(&inner, &o));
  assert_ok(cbrl_transformed_create(&p, inner, DIM, transforms, N_T));
  return p;
}

static void gradient_matches_finite_differences(void **state) {
  (void)state;
  const double lambdas[3] = {1.0, 0.2, 0.05};
  for (int c = 0; c < 3; c++) {
    cbrl_problem *p = make(40 + c, lambdas[c], 0.2);
    cbrl_exact *e = test_exact_tight(p);
    double x[DIM] = {0.4, -0.7, 0.2, -0.3}, g[DIM], F;
    assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
    double gmax, rel = test_fd_relative_error(e, x, g, DIM, 0.02 * fmin(p->lambda, 0.05), &gmax);
    assert_true(gmax > 1e-6);
    if (rel > 1e-6) fail_msg("case %d: relative error %.3g", c, rel);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

static void forward_map_is_the_formulas(void **state) {
  (void)state;
  cbrl_problem *p = make(1, 1.0, 0.0);
  double x[DIM] = {0.4, -0.7, 0.2, -0.3}, y[N_PARAMS];
  assert_ok(cbrl_transformed_parameters(p, x, y));
  double sm = exp(0.4) + exp(0.2) + exp(-0.3);
  const double want[N_PARAMS] = {0.5 * -0.7, 2.0 / (1.0 + exp(-0.4)), 1.5 * log1p(exp(0.2)), 0.3 * exp(-0.3),
                                 2.0 * exp(0.4) / sm, 2.0 * exp(0.2) / sm, 2.0 * exp(-0.3) / sm,
                                 -1.0 + 4.0 / (1.0 + exp(0.7))};
  for (int i = 0; i < N_PARAMS; i++) assert_close(y[i], want[i], 1e-14, 1e-15);
  /* Extreme inputs stay finite: the softmax shifts by its maximum, softplus and sigmoid are split. */
  double big[DIM] = {800.0, -800.0, 800.0, 700.0};
  assert_ok(cbrl_transformed_parameters(p, big, y));
  for (int i = 0; i < N_PARAMS; i++) assert_true(isfinite(y[i]));
  assert_close(y[2], 1.5 * 800.0, 1e-15, 0);
  cbrl_problem_free(p);
}

static void reward_jacobian_matches_finite_differences(void **state) {
  (void)state;
  cbrl_problem *p = make(3, 1.0, 0.1);
  assert_non_null(p->ops->reward_jacobian);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 1));
  size_t SA = (size_t)p->n_states * p->n_actions;
  double *jr = malloc(sizeof(double) * SA * DIM), *jrb = malloc(sizeof(double) * SA * DIM);
  double *rp = malloc(sizeof(double) * SA * 2), *rm = malloc(sizeof(double) * SA * 2);
  double x[DIM] = {0.1, 0.3, -0.2, 0.5};
  assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
  assert_ok(cbrl_mdp_reward_jacobian(&m, p, 1, x, jr, jrb));
  const double h = 1e-6;
  for (int j = 0; j < DIM; j++) {
    x[j] += h;
    assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
    memcpy(rp, m.r, SA * sizeof(double));
    memcpy(rp + SA, m.rbar, SA * sizeof(double));
    x[j] -= 2 * h;
    assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
    memcpy(rm, m.r, SA * sizeof(double));
    memcpy(rm + SA, m.rbar, SA * sizeof(double));
    x[j] += h;
    for (size_t sa = 0; sa < SA; sa++) {
      assert_close(jr[sa * DIM + j], (rp[sa] - rm[sa]) / (2 * h), 1e-6, 1e-8);
      assert_close(jrb[sa * DIM + j], (rp[SA + sa] - rm[SA + sa]) / (2 * h), 1e-6, 1e-8);
    }
  }
  free(jr);
  free(jrb);
  free(rp);
  free(rm);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

static void invalid_parameters_are_refused(void **state) {
  (void)state;
  char why[128];
  int dup[2] = {1, 1}, out_of_range[1] = {4};
  const cbrl_transform bad[] = {
      {CBRL_TRANSFORM_RANGE, 1, in0, 0, 2.0, 1.0},      {CBRL_TRANSFORM_RANGE, 1, in0, 0, 1.0, 1.0},
      {CBRL_TRANSFORM_SIGMOID, 1, in0, 0.0, 0, 0},      {CBRL_TRANSFORM_EXP, 1, in0, -1.0, 0, 0},
      {CBRL_TRANSFORM_SOFTPLUS, 1, in0, NAN, 0, 0},     {CBRL_TRANSFORM_SOFTMAX, 1, in0, 1.0, 0, 0},
      {CBRL_TRANSFORM_SOFTMAX, 2, dup, 1.0, 0, 0},      {CBRL_TRANSFORM_IDENTITY, 1, out_of_range, 1.0, 0, 0},
      {CBRL_TRANSFORM_SIGMOID, 2, group, 1.0, 0, 0},    {CBRL_TRANSFORM_COUNT_, 1, in0, 1.0, 0, 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(cbrl_transform_check(&bad[i], DIM, why, sizeof why), CBRL_EINVAL);
    assert_true(strlen(why) > 0);
  }
  for (int i = 0; i < N_T; i++) assert_ok(cbrl_transform_check(&transforms[i], DIM, why, sizeof why));
  cbrl_transform_kind k;
  assert_ok(cbrl_transform_parse("softmax", &k));
  assert_int_equal(k, CBRL_TRANSFORM_SOFTMAX);
  assert_int_equal(cbrl_transform_parse("tanh", &k), CBRL_EINVAL);
  /* Output count must match the inner problem's dimension; the inner problem is freed. */
  cbrl_problem *inner, *p;
  inner = test_small_problem(0.9);
  assert_int_equal(cbrl_transformed_create(&p, inner, DIM, transforms, N_T), CBRL_EINVAL);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gradient_matches_finite_differences),
      cmocka_unit_test(forward_map_is_the_formulas),
      cmocka_unit_test(reward_jacobian_matches_finite_differences),
      cmocka_unit_test(invalid_parameters_are_refused),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
