/* Tests for env/contract.c (docs/ENVIRONMENTS.md 5): cbrl's F against the closed form of the
   one-stage soft agent, the gradient against finite differences on a multi-stage, multi-type
   problem with an offer state and repeats, the linear-program reference against a hand
   derivation, cbrl's exact leader against that reference as lambda -> 0, the unbiased HPGD
   estimate against the exact gradient within 4 standard errors, and the textbook facts: an
   uninformative outcome is not paid, and a costlier separable type is paid more. */
#include "test_util.h"

#include <string.h>

/* The exact leader (projected Adam on the exact gradient) from the payments start[outcome] at
   every stage and type (three outcomes); returns F at the end. */
static double exact_leader(const cbrl_problem *p, int iterations, double lr, const double *start, double *x_out) {
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = CBRL_ALG_EXACT;
  o.optimizer = CBRL_ADAM;
  o.learning_rate = lr;
  o.max_grad_norm = 0.0;
  double *x0 = calloc((size_t)p->dim, sizeof(double));
  for (int j = 0; j < p->dim; j++) x0[j] = start[j % 3];
  cbrl_leader *L;
  assert_ok(cbrl_leader_create(&L, p, &o, x0));
  cbrl_leader_metrics met;
  for (int t = 0; t < iterations; t++) assert_ok(cbrl_leader_step(L, t == iterations - 1, &met));
  if (x_out) memcpy(x_out, cbrl_leader_x(L), sizeof(double) * (size_t)p->dim);
  cbrl_exact *e;
  double F;
  assert_ok(cbrl_exact_create(&e, p));
  assert_ok(cbrl_exact_evaluate(e, cbrl_leader_x(L), &F, NULL, NULL));
  cbrl_exact_free(e);
  cbrl_leader_free(L);
  free(x0);
  return F;
}

static void F_is_the_closed_form_of_one_stage(void **state) {
  (void)state;
  for (int part = 0; part < 2; part++) {
    cbrl_contract_opts o;
    cbrl_contract_opts_default(&o);
    o.participation = part;
    o.outside_option[0] = 0.2;
    cbrl_problem *p;
    assert_ok(cbrl_contract_create(&p, &o));
    assert_int_equal(p->dim, 3);
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 1, (uint64_t)part);
    for (int t = 0; t < 10; t++) {
      double w[3], F;
      for (int q = 0; q < 3; q++) w[q] = 2.0 * cbrl_rng_uniform(&rng);
      assert_ok(cbrl_exact_evaluate(e, w, &F, NULL, NULL));
      assert_close(F, cbrl_contract_value_closed_form(&o, w), 1e-9, 1e-12);
    }
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

static void gradient_matches_finite_differences(void **state) {
  (void)state;
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  o.n_stages = 3;
  o.n_types = 2;
  o.participation = 1;
  o.repeat = 1;
  o.per_type = 1;
  o.type_weight[0] = 0.3, o.type_weight[1] = 0.7;
  for (int e = 0; e < 3; e++) o.effort_cost[1][e] = 1.7 * o.effort_cost[0][e];
  o.outside_option[0] = 0.1, o.outside_option[1] = 0.3;
  o.lambda = 0.2;
  cbrl_problem *p;
  assert_ok(cbrl_contract_create(&p, &o));
  assert_int_equal(p->dim, 2 * 3 * 3);
  cbrl_exact *e = test_exact_tight(p);
  double x[18], g[18], F;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 5, 0);
  for (int j = 0; j < 18; j++) x[j] = 1.5 * cbrl_rng_uniform(&rng);
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  double gmax, rel = test_fd_relative_error(e, x, g, 18, 1e-3, &gmax);
  assert_true(gmax > 1e-3);
  if (rel > 1e-6) fail_msg("relative error %.3g", rel);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Work (effort 1) is implemented by paying only on success, w_success = c(work) / (P(s|work) -
   P(s|shirk)) = 0.4 / 0.3, worth 1.2 - 0.4 w_success = 2/3 > 0.5 (shirking for nothing), and
   extra effort costs more than it brings. */
static void linear_program_matches_the_hand_derivation(void **state) {
  (void)state;
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  double w[3], v;
  int effort;
  assert_ok(cbrl_contract_optimum_lp(&o, w, &effort, &v));
  assert_int_equal(effort, 1);
  assert_close(w[0], 0.0, 0, 1e-12);
  assert_close(w[1], 0.0, 0, 1e-12);
  assert_close(w[2], 4.0 / 3.0, 1e-12, 0);
  assert_close(v, 2.0 / 3.0, 1e-12, 0);
  /* A binding budget: work needs 4/3 on success; with a cap of 1 shirking (value 0.5) is best. */
  o.budget = 1.0;
  assert_ok(cbrl_contract_optimum_lp(&o, w, &effort, &v));
  assert_int_equal(effort, 0);
  assert_close(v, 0.5, 1e-12, 0);
  /* Participation u0 = 0.27 binds: gamma (0.4 w_s - 0.4) >= 0.27 needs w_s = 1.75, worth
     0.9 (1.2 - 0.7) = 0.45, above shirking paid 0.3 for nothing, 0.9 (0.5 - 0.3). */
  o.budget = 0.0;
  o.participation = 1;
  o.outside_option[0] = 0.27;
  assert_ok(cbrl_contract_optimum_lp(&o, w, &effort, &v));
  assert_int_equal(effort, 1);
  assert_close(v, 0.9 * (1.2 - 0.7), 1e-12, 0);
  /* The optimum is not unique (paying on "ok" also motivates work); any has E[w|work] = 0.7. */
  assert_close(0.2 * w[0] + 0.4 * w[1] + 0.4 * w[2], 0.7, 1e-12, 0);
  assert_true(0.2 * w[0] + 0.4 * w[1] + 0.4 * w[2] - 0.4 >= 0.6 * w[0] + 0.3 * w[1] + 0.1 * w[2] - 1e-12);
}

/* The largest closed-form value over a grid of contracts (step h on [0, hi]^3): the soft agent's
   optimum by enumeration, independent of cbrl's solver, gradients and optimiser. */
static double grid_optimum(const cbrl_contract_opts *o, double hi, double h) {
  double best = -INFINITY, w[3];
  for (w[0] = 0.0; w[0] <= hi; w[0] += h)
    for (w[1] = 0.0; w[1] <= hi; w[1] += h)
      for (w[2] = 0.0; w[2] <= hi; w[2] += h) best = fmax(best, cbrl_contract_value_closed_form(o, w));
  return best;
}

/* The exact leader reaches the soft optimum found by enumeration, and that optimum approaches
   the hard reference as lambda falls. Zero payments are a local optimum (the agent shirks and a
   small bonus buys nothing), so the leader starts from a bonus of 2 on success. */
static void exact_leader_approaches_the_reference(void **state) {
  (void)state;
  const double lambdas[3] = {0.1, 0.03, 0.01};
  double gap[3];
  int iters = test_quick() ? 1500 : 3000;
  for (int i = 0; i < 3; i++) {
    cbrl_contract_opts o;
    cbrl_contract_opts_default(&o);
    o.lambda = lambdas[i];
    double v;
    assert_ok(cbrl_contract_optimum_lp(&o, NULL, NULL, &v));
    cbrl_problem *p;
    assert_ok(cbrl_contract_create(&p, &o));
    double x[3], F = exact_leader(p, iters, 0.02, (const double[3]){0, 0, 2}, x);
    gap[i] = (v - F) / v;
    double grid = grid_optimum(&o, 3.0, test_quick() ? 0.05 : 0.02);
    assert_true(F >= grid - 1e-6); /* at least as good as every grid contract */
    assert_true(F <= grid + 0.01); /* and not far above the best of them */
    print_message("lambda %g: F = %.5f, reference %.5f (%.2f %% of it), w = (%.3f, %.3f, %.3f)\n", lambdas[i], F, v,
                  100.0 * F / v, x[0], x[1], x[2]);
    /* The soft value of any contract is at most the hard optimum plus the agent's randomness
       (lambda log E bounds what entropy can shift): never far above. */
    assert_true(F <= v + o.lambda * log(3.0));
    cbrl_problem_free(p);
  }
  assert_true(gap[1] < gap[0] && gap[2] < gap[1]);
}

/* One unbiased HPGD estimate's mean over many samples against the exact gradient: within 4
   standard errors per coordinate. */
static void hpgd_estimate_matches_the_exact_gradient(void **state) {
  (void)state;
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  o.n_stages = 2;
  o.repeat = 1;
  o.participation = 1;
  o.outside_option[0] = 0.1;
  o.lambda = 0.3;
  cbrl_problem *p;
  assert_ok(cbrl_contract_create(&p, &o));
  int d = p->dim;
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[6] = {0.1, 0.2, 1.2, 0.0, 0.3, 1.0}, g[6], F;
  assert_ok(cbrl_exact_context(e, 0, x, &F, g));
  const cbrl_soft_solver *w = cbrl_exact_follower(e, 0);
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  cbrl_policy pol = {m->n_states, m->n_actions, w->pi, w->log_pi};
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 1000));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  int B = test_quick() ? 20000 : 100000;
  double s1[6] = {0}, s2[6] = {0}, gs[6];
  cbrl_hpgd_opts ho = {.kind = CBRL_HPGD_UNBIASED, .samples = 1};
  for (int b = 0; b < B; b++) {
    assert_ok(cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &ho, &rng, gs, NULL));
    for (int j = 0; j < d; j++) s1[j] += gs[j], s2[j] += gs[j] * gs[j];
  }
  for (int j = 0; j < d; j++) {
    double mean = s1[j] / B, se = sqrt(fmax(s2[j] / B - mean * mean, 0.0) / B);
    if (fabs(mean - g[j]) > 4.0 * se + 1e-12)
      fail_msg("coordinate %d: HPGD %.5f +- %.5f, exact %.5f", j, mean, se, g[j]);
  }
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Pay only on outcomes informative about effort: an outcome equally likely under every effort
   ends at the bound 0, the informative success is paid. */
static void uninformative_outcomes_are_not_paid(void **state) {
  (void)state;
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  o.outcome_value[2] = 4.0; /* so that motivating work is worth its price */
  for (int e = 0; e < 3; e++) {
    double rest = 0.7;
    o.outcome_prob[e][1] = 0.3; /* "ok" says nothing about effort */
    o.outcome_prob[e][2] = rest * (e == 0 ? 0.2 : e == 1 ? 0.55 : 0.8);
    o.outcome_prob[e][0] = rest - o.outcome_prob[e][2];
  }
  cbrl_problem *p;
  assert_ok(cbrl_contract_create(&p, &o));
  double x[3];
  exact_leader(p, 3000, 0.02, (const double[3]){0, 1, 2}, x);
  print_message("payments (fail, uninformative, success) = (%.4f, %.4f, %.4f)\n", x[0], x[1], x[2]);
  assert_true(x[1] == 0.0);
  assert_true(x[2] > 0.5);
  cbrl_problem_free(p);
}

/* Separable types (a contract each): the costlier type gets the higher success payment. */
static void costlier_separable_types_are_paid_more(void **state) {
  (void)state;
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  o.n_types = 2;
  o.per_type = 1;
  o.type_weight[0] = o.type_weight[1] = 0.5;
  for (int e = 0; e < 3; e++) o.effort_cost[1][e] = 1.4 * o.effort_cost[0][e];
  o.outcome_value[2] = 3.0; /* work stays worth motivating for the costlier type */
  cbrl_problem *p;
  assert_ok(cbrl_contract_create(&p, &o));
  double x[6];
  exact_leader(p, 3000, 0.02, (const double[3]){0, 0, 2}, x);
  int i0 = cbrl_contract_payment_index(&o, 0, 0, 2), i1 = cbrl_contract_payment_index(&o, 1, 0, 2);
  print_message("success payment: type 0 %.4f, costlier type 1 %.4f\n", x[i0], x[i1]);
  assert_true(x[i1] > x[i0] + 0.1);
  cbrl_problem_free(p);
}

/* Continuous types (docs/MODEL.md 1.2), log-normal effort costs theta = exp(0.3 z): the
   quadrature's F converges to a trapezoid integral over z of the closed-form value as the nodes
   double (8, 16, 32), to 1e-8 at 32, and a fixed sample's F lies within 4 of its standard
   errors of it. */
static void continuous_types_by_quadrature_and_sample(void **state) {
  (void)state;
  static cbrl_contract_opts o, one;
  cbrl_contract_opts_default(&o);
  o.type_sigma = 0.3;
  one = o;
  one.type_sigma = 0.0;
  const double w[3] = {0.0, 0.2, 1.5};
  double ref = 0.0, h = 20.0 / 4000;
  for (int i = 0; i <= 4000; i++) {
    double z = -10.0 + i * h;
    for (int e = 0; e < 3; e++) one.effort_cost[0][e] = exp(0.3 * z) * o.effort_cost[0][e];
    ref += (i == 0 || i == 4000 ? 0.5 : 1.0) * h * exp(-0.5 * z * z) / sqrt(2.0 * M_PI) *
           cbrl_contract_value_closed_form(&one, w);
  }
  double last_error = INFINITY;
  for (int run = 0; run < 4; run++) {
    int rule = run == 3;
    o.type_rule = rule ? CBRL_CONTEXTS_SAMPLE : CBRL_CONTEXTS_QUADRATURE;
    o.n_types = rule ? 200 : 8 << run;
    o.type_seed = 3;
    cbrl_problem *p;
    assert_ok(cbrl_contract_create(&p, &o));
    assert_int_equal(p->n_contexts, o.n_types);
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    double F, f[200];
    assert_ok(cbrl_exact_evaluate(e, w, &F, f, NULL));
    if (!rule) {
      print_message("%d nodes: F - integral = %.3g\n", o.n_types, F - ref);
      assert_true(fabs(F - ref) < last_error);
      last_error = fabs(F - ref);
      if (o.n_types == 32) assert_close(F, ref, 0, 1e-8);
    } else {
      double se = cbrl_contexts_standard_error(f, o.n_types);
      print_message("fixed sample of 200 types: F = %.5f +- %.5f, quadrature %.5f\n", F, se, ref);
      assert_true(se > 0.0);
      assert_true(fabs(F - ref) < 4.0 * se);
    }
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
  o.type_sigma = NAN;
  cbrl_problem *p = NULL;
  assert_int_equal(cbrl_contract_create(&p, &o), CBRL_EINVAL);
  o.type_sigma = 1e3; /* exp(1e3 z) overflows at the outer nodes: a type the rule cannot give */
  o.type_rule = CBRL_CONTEXTS_QUADRATURE;
  o.n_types = 16;
  assert_int_equal(cbrl_contract_create(&p, &o), CBRL_EINVAL);
}

static void invalid_options_are_refused(void **state) {
  (void)state;
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  cbrl_problem *p = NULL;
  o.outcome_prob[1][0] = 0.5; /* row sums to 1.3 */
  assert_int_equal(cbrl_contract_create(&p, &o), CBRL_EINVAL);
  cbrl_contract_opts_default(&o);
  o.n_efforts = 1;
  assert_int_equal(cbrl_contract_create(&p, &o), CBRL_EINVAL);
  cbrl_contract_opts_default(&o);
  o.budget = -1.0;
  assert_int_equal(cbrl_contract_create(&p, &o), CBRL_EINVAL);
  cbrl_contract_opts_default(&o);
  o.n_stages = 2;
  assert_int_equal(cbrl_contract_optimum_lp(&o, NULL, NULL, NULL), CBRL_EINVAL); /* one stage only */
  assert_null(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(F_is_the_closed_form_of_one_stage),
      cmocka_unit_test(gradient_matches_finite_differences),
      cmocka_unit_test(linear_program_matches_the_hand_derivation),
      cmocka_unit_test(exact_leader_approaches_the_reference),
      cmocka_unit_test(hpgd_estimate_matches_the_exact_gradient),
      cmocka_unit_test(uninformative_outcomes_are_not_paid),
      cmocka_unit_test(costlier_separable_types_are_paid_more),
      cmocka_unit_test(continuous_types_by_quadrature_and_sample),
      cmocka_unit_test(invalid_options_are_refused),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
