/* Tests for src/bounds.c and the leader's projected steps: invalid boxes are refused, a given
   x0 outside the box is refused, a random one is projected, and projected SGD and Adam with the
   exact gradient stay in the box at every step and end at a KKT point of F on it (every
   coordinate at a bound with the gradient pointing out of the box, any interior one with a
   vanishing gradient). */
#include "test_util.h"

static void invalid_boxes_are_refused(void **state) {
  (void)state;
  cbrl_problem *p = test_small_problem(0.9);
  int bad;
  double lo[3] = {0, 1, 0}, hi[3] = {1, 0.5, 1};
  assert_int_equal(cbrl_problem_set_bounds(p, lo, hi, &bad), CBRL_EINVAL);
  assert_int_equal(bad, 1);
  hi[1] = NAN;
  assert_int_equal(cbrl_problem_set_bounds(p, lo, hi, &bad), CBRL_EINVAL);
  assert_false(cbrl_bounds_present(p));
  hi[1] = INFINITY;
  assert_ok(cbrl_problem_set_bounds(p, lo, hi, &bad));
  assert_true(cbrl_bounds_present(p));
  double x[3] = {-1, 5, 0.5};
  assert_int_equal(cbrl_bounds_violation(p, x), 0);
  cbrl_bounds_project(p, x);
  assert_close(x[0], 0.0, 0, 0);
  assert_close(x[1], 5.0, 0, 0);
  assert_int_equal(cbrl_bounds_violation(p, x), -1);
  assert_ok(cbrl_problem_set_bounds(p, NULL, NULL, NULL));
  assert_false(cbrl_bounds_present(p));
  cbrl_problem_free(p);
}

static void projected_steps_end_at_a_kkt_point(void **state) {
  (void)state;
  for (int opt = 0; opt < 2; opt++) {
    cbrl_problem *p = test_small_problem(0.9);
    /* The unconstrained ascent from 0 leaves a box this tight: find where it goes first. */
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    double x0[3] = {0, 0, 0}, g[3], F;
    assert_ok(cbrl_exact_evaluate(e, x0, &F, NULL, g));
    double lo[3], hi[3];
    for (int j = 0; j < 3; j++) lo[j] = -0.05, hi[j] = 0.05;
    hi[2] = 50.0, lo[2] = -50.0; /* a wide side: reached only by many steps */
    assert_ok(cbrl_problem_set_bounds(p, lo, hi, NULL));
    cbrl_leader_opts o;
    cbrl_leader_opts_default(&o);
    o.algorithm = CBRL_ALG_EXACT;
    o.optimizer = opt ? CBRL_ADAM : CBRL_SGD;
    o.learning_rate = opt ? 0.02 : 0.5;
    o.max_grad_norm = 0.0;
    double outside[3] = {0.0, 0.2, 0.0};
    cbrl_leader *L;
    assert_int_equal(cbrl_leader_create(&L, p, &o, outside), CBRL_ERANGE);
    o.init_std = 10.0; /* a random x_0 far outside: projected in */
    assert_ok(cbrl_leader_create(&L, p, &o, NULL));
    assert_int_equal(cbrl_bounds_violation(p, cbrl_leader_x(L)), -1);
    for (int t = 0; t < 3000; t++) {
      assert_ok(cbrl_leader_step(L, 0, NULL));
      assert_int_equal(cbrl_bounds_violation(p, cbrl_leader_x(L)), -1);
    }
    const double *x = cbrl_leader_x(L);
    assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
    int at_bound = 0;
    for (int j = 0; j < 3; j++) {
      if (x[j] == hi[j]) assert_true(g[j] > 0), at_bound++;
      else if (x[j] == lo[j]) assert_true(g[j] < 0), at_bound++;
      else assert_close(g[j], 0.0, 0, 1e-4);
    }
    assert_true(at_bound >= 1); /* the box binds, or the test checks nothing */
    print_message("%s: x = (%g, %g, %g), grad = (%g, %g, %g)\n", opt ? "adam" : "sgd", x[0], x[1], x[2], g[0], g[1],
                  g[2]);
    cbrl_leader_free(L);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(invalid_boxes_are_refused),
      cmocka_unit_test(projected_steps_end_at_a_kkt_point),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
