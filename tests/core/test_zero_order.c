/* Tests for src/zero_order.c: the two-point estimate matches the exact gradient in expectation
   within 4 standard errors, draws exactly d normals, and refuses a bad radius. */
#include "test_util.h"

#include <string.h>

#include "cbrl/zero_order.h"

static cbrl_problem *small(void) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 8;
  o.dim = 3;
  o.n_contexts = 1;
  o.coef_nonzeros = 0;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  return p;
}

static void zero_order_matches_exact_in_expectation(void **state) {
  /* E[(f(x + uZ) - f(x)) Z / u] -> grad f as u -> 0; average many directions at small u. */
  cbrl_problem *p = small();
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_zero_order *zo;
  assert_ok(cbrl_zero_order_create(&zo, p));
  double x[3] = {0.1, 0.2, -0.1}, g[3], f0, mean[3] = {0}, s2[3] = {0};
  assert_ok(cbrl_exact_context(e, 0, x, &f0, g));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  int B = test_quick() ? 5000 : 40000;
  double u = 1e-4;
  for (int b = 0; b < B; b++) {
    double gj[3];
    assert_ok(cbrl_zero_order_estimate(zo, 0, x, f0, u, &rng, gj, NULL));
    for (int j = 0; j < 3; j++) mean[j] += gj[j], s2[j] += gj[j] * gj[j];
  }
  for (int j = 0; j < 3; j++) {
    mean[j] /= B;
    double se = sqrt((s2[j] / B - mean[j] * mean[j]) / B);
    /* The O(u) bias is far below the statistical error at u = 1e-4. */
    assert_close(mean[j], g[j], 0, 4.0 * se);
  }
  cbrl_zero_order_free(zo);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void it_draws_d_normals_and_checks_its_arguments(void **state) {
  cbrl_problem *p = small();
  cbrl_zero_order *zo;
  assert_ok(cbrl_zero_order_create(&zo, p));
  double x[3] = {0.3, -0.2, 0.0}, g[3], f1;
  cbrl_rng a, b;
  cbrl_rng_seed(&a, 7, 1);
  b = a;
  assert_ok(cbrl_zero_order_estimate(zo, 0, x, 0.0, 0.5, &a, g, &f1));
  double z[3];
  for (int j = 0; j < 3; j++) z[j] = cbrl_rng_normal(&b);
  for (int j = 0; j < 3; j++) assert_close(g[j], f1 * z[j] / 0.5, 1e-14, 0); /* f(x) given as 0 */
  assert_int_equal(cbrl_rng_next(&a), cbrl_rng_next(&b));
  assert_close(cbrl_zero_order_radius(0.5, 4), 0.125, 0, 0);
  assert_int_equal(cbrl_zero_order_estimate(zo, 0, x, 0.0, 0.0, &a, g, NULL), CBRL_EINVAL);
  assert_int_equal(cbrl_zero_order_estimate(zo, 3, x, 0.0, 0.1, &a, g, NULL), CBRL_EINVAL);
  assert_non_null(cbrl_zero_order_exact(zo));
  cbrl_zero_order_free(zo);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(zero_order_matches_exact_in_expectation),
      cmocka_unit_test(it_draws_d_normals_and_checks_its_arguments),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
