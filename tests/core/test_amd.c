/* Tests for src/amd.c: AMD converges to the exact gradient on Four-Rooms and on a random
   rewards-only problem, and refuses problems whose dynamics depend on x. */
#include "test_util.h"

#include <string.h>

static double rel_error(const double *a, const double *b, int n) {
  double dd = 0, aa = 0;
  for (int j = 0; j < n; j++) dd += (a[j] - b[j]) * (a[j] - b[j]), aa += a[j] * a[j];
  return sqrt(dd / aa);
}

static void amd_gradient_equals_exact_once_converged(void **state) {
  cbrl_problem *p = test_four_rooms(3.0, 0.005);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_amd *a;
  assert_ok(cbrl_amd_create(&a, p));
  double x[105], g[105], ga[105];
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 0, 0);
  for (int j = 0; j < 105; j++) x[j] = 0.3 * cbrl_rng_normal(&rng);
  for (int k = 0; k < 2; k++) {
    assert_ok(cbrl_exact_context(e, k, x, NULL, g));
    assert_ok(cbrl_amd_step(a, k, x, cbrl_exact_mdp(e, k), 100, ga));
    double first = rel_error(g, ga, 105);
    for (int r = 0; r < 8; r++) assert_ok(cbrl_amd_step(a, k, x, cbrl_exact_mdp(e, k), 100, ga));
    double last = rel_error(g, ga, 105);
    print_message("AMD context %d: relative error %.3g after 100 updates, %.3g after 900\n", k, first, last);
    assert_true(last < 1e-8);
  }
  cbrl_amd_free(a);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void amd_refuses_problems_with_dynamics_gradients(void **state) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_amd *a = NULL;
  assert_int_equal(cbrl_amd_create(&a, p), CBRL_ENOTSUP);
  assert_null(a);
  cbrl_problem_free(p);
  /* Rewards only: AMD applies, and converges to exact on a random problem too. */
  o.depends = CBRL_DEPENDS_R | CBRL_DEPENDS_RBAR;
  o.n_states = 9;
  o.coef_nonzeros = 0;
  assert_ok(cbrl_random_problem_create(&p, &o));
  assert_ok(cbrl_amd_create(&a, p));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[3] = {0.3, -0.2, 0.5}, g[3], ga[3];
  assert_ok(cbrl_exact_context(e, 1, x, NULL, g));
  for (int r = 0; r < 5; r++) assert_ok(cbrl_amd_step(a, 1, x, cbrl_exact_mdp(e, 1), 100, ga));
  assert_true(rel_error(g, ga, 3) < 1e-8);
  cbrl_exact_free(e);
  cbrl_amd_free(a);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(amd_gradient_equals_exact_once_converged),
      cmocka_unit_test(amd_refuses_problems_with_dynamics_gradients),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
