/* Tests for src/leader.c: zero-order matches the exact gradient in expectation, and short runs of
   every algorithm raise F. AMD's own tests are in test_amd.c. */
#include "test_util.h"

#include <string.h>

static cbrl_problem *four_rooms(double beta, double lambda) {
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.beta = beta;
  o.lambda = lambda;
  cbrl_problem *p;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  return p;
}

static void zero_order_matches_exact_in_expectation(void **state) {
  /* E[(F(x + uZ) - F(x)) Z / u] -> grad F as u -> 0; average many directions at small u. */
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 8;
  o.dim = 3;
  o.n_contexts = 1;
  o.coef_nonzeros = 0;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[3] = {0.1, 0.2, -0.1}, g[3], F0, Fu, mean[3] = {0}, s2[3] = {0};
  assert_ok(cbrl_exact_evaluate(e, x, &F0, NULL, g));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  int B = test_quick() ? 5000 : 40000;
  double u = 1e-4;
  for (int b = 0; b < B; b++) {
    double z[3], y[3];
    for (int j = 0; j < 3; j++) z[j] = cbrl_rng_normal(&rng), y[j] = x[j] + u * z[j];
    assert_ok(cbrl_exact_evaluate(e, y, &Fu, NULL, NULL));
    for (int j = 0; j < 3; j++) {
      double gj = (Fu - F0) * z[j] / u;
      mean[j] += gj;
      s2[j] += gj * gj;
    }
  }
  for (int j = 0; j < 3; j++) {
    mean[j] /= B;
    double se = sqrt((s2[j] / B - mean[j] * mean[j]) / B);
    /* The O(u) bias is far below the statistical error at u = 1e-4. */
    assert_close(mean[j], g[j], 0, 4.0 * se);
  }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Runs `iters` iterations and returns (F at the start, mean F over the last 10). */
static void short_run(cbrl_algorithm alg, double lr, int iters, double *F_first, double *F_last) {
  cbrl_problem *p = four_rooms(3.0, 0.003);
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = alg;
  o.learning_rate = lr;
  o.zero_order_c = 0.5;
  o.seed = 1;
  cbrl_leader *L;
  assert_ok(cbrl_leader_create(&L, p, &o, NULL));
  *F_last = 0.0;
  for (int t = 1; t <= iters; t++) {
    cbrl_leader_metrics m;
    int with = t == 1 || t > iters - 10;
    assert_ok(cbrl_leader_step(L, with, &m));
    assert_int_equal(m.iteration, t);
    assert_true(m.grad_norm >= 0.0);
    if (alg == CBRL_ALG_HPGD_BATCH) assert_int_equal(m.env_steps, 10000);
    if (t == 1) *F_first = m.F;
    if (t > iters - 10) *F_last += m.F / 10.0;
    if (!with) assert_true(isnan(m.F));
  }
  cbrl_leader_free(L);
  cbrl_problem_free(p);
}

static void short_runs_raise_the_objective(void **state) {
  const cbrl_algorithm algs[4] = {CBRL_ALG_HPGD_BATCH, CBRL_ALG_EXACT, CBRL_ALG_ZERO_ORDER, CBRL_ALG_AMD};
  const double lrs[4] = {0.5, 0.5, 0.5, 0.5};
  const int iters[4] = {300, 300, 300, 60};
  for (int i = 0; i < 4; i++) {
    if (test_quick() && algs[i] == CBRL_ALG_AMD) continue;
    double F0 = NAN, F1 = NAN;
    short_run(algs[i], lrs[i], test_quick() ? 60 : iters[i], &F0, &F1);
    print_message("%-10s F %.4f -> %.4f\n", cbrl_algorithm_name(algs[i]), F0, F1);
    assert_true(F1 > F0 + 0.01);
  }
}

static void same_seed_same_run_and_adam_works(void **state) {
  cbrl_problem *p = four_rooms(1.0, 0.005);
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.hpgd.steps = 2000;
  o.hpgd.streams = 2;
  o.seed = 5;
  o.stream = 3;
  o.optimizer = CBRL_ADAM;
  o.learning_rate = 0.05;
  cbrl_leader *a, *b;
  assert_ok(cbrl_leader_create(&a, p, &o, NULL));
  assert_ok(cbrl_leader_create(&b, p, &o, NULL));
  for (int t = 0; t < 20; t++) {
    assert_ok(cbrl_leader_step(a, 0, NULL));
    assert_ok(cbrl_leader_step(b, 0, NULL));
  }
  assert_memory_equal(cbrl_leader_x(a), cbrl_leader_x(b), sizeof(double) * 105);
  cbrl_leader_free(b);
  o.stream = 4; /* another run's stream: another path */
  assert_ok(cbrl_leader_create(&b, p, &o, NULL));
  for (int t = 0; t < 20; t++) assert_ok(cbrl_leader_step(b, 0, NULL));
  assert_true(memcmp(cbrl_leader_x(a), cbrl_leader_x(b), sizeof(double) * 105) != 0);
  cbrl_leader_free(a);
  cbrl_leader_free(b);
  o.learning_rate = -1;
  assert_int_equal(cbrl_leader_create(&a, p, &o, NULL), CBRL_EINVAL);
  cbrl_problem_free(p);
}

static void defaults_are_the_papers_settings(void **state) {
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  assert_int_equal(o.algorithm, CBRL_ALG_HPGD_BATCH);
  assert_int_equal(o.optimizer, CBRL_SGD);
  assert_close(o.max_grad_norm, 1.0, 0, 0);
  assert_int_equal(o.amd_updates, 100);
  cbrl_hpgd_opts h;
  cbrl_hpgd_opts_default(&h);
  assert_int_equal(h.steps, 10000);
  assert_int_equal(h.streams, 5);
  assert_int_equal(h.max_steps, 200);
  /* The leader's exact workspace holds the F it reports. */
  cbrl_problem *p = four_rooms(1.0, 0.005);
  cbrl_leader *L;
  o.algorithm = CBRL_ALG_EXACT;
  assert_ok(cbrl_leader_create(&L, p, &o, NULL));
  cbrl_leader_metrics m;
  assert_ok(cbrl_leader_step(L, 1, &m));
  double F;
  cbrl_exact *e = cbrl_leader_exact(L);
  assert_non_null(e);
  assert_ok(cbrl_exact_evaluate(e, cbrl_leader_x(L), &F, NULL, NULL));
  assert_true(fabs(F - m.F) < 0.1); /* one step of at most 0.1 moved x */
  cbrl_leader_free(L);
  cbrl_problem_free(p);
}

static void algorithm_names_round_trip(void **state) {
  for (int a = 0; a < CBRL_ALG_COUNT_; a++) {
    cbrl_algorithm back;
    assert_ok(cbrl_algorithm_parse(cbrl_algorithm_name((cbrl_algorithm)a), &back));
    assert_int_equal(back, a);
  }
  cbrl_algorithm x;
  assert_int_equal(cbrl_algorithm_parse("gradient-descent", &x), CBRL_EINVAL);
  assert_string_equal(cbrl_algorithm_name(CBRL_ALG_COUNT_), "unknown");
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(zero_order_matches_exact_in_expectation),
      cmocka_unit_test(short_runs_raise_the_objective),
      cmocka_unit_test(same_seed_same_run_and_adam_works),
      cmocka_unit_test(defaults_are_the_papers_settings),
      cmocka_unit_test(algorithm_names_round_trip),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
