/* Tests for src/soft_q.c: soft Q-learning converges to the exact soft Q, the followers count
   their samples exactly and return normalised policies, and the generative follower's policy is
   the soft policy of the table cbrl_soft_q_iterate learns from the same stream. */
#include "test_util.h"

#include <string.h>

static void soft_q_learning_converges_to_the_exact_soft_q(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[3] = {0.1, -0.2, 0.3};
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  const double *q_star = cbrl_exact_follower(e, 0)->q;
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  double err[3];
  const int64_t iters[3] = {64, 1024, 16384};
  for (int i = 0; i < 3; i++) {
    double q[24] = {0}, v[8], mx = 0.0;
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 11, 0);
    cbrl_soft_q_iterate(m, p->gamma, p->lambda, CBRL_SCHEDULE_RESCALED_LINEAR, 0, iters[i], &rng, q, v);
    for (int j = 0; j < 24; j++) mx = fmax(mx, fabs(q[j] - q_star[j]));
    err[i] = mx;
  }
  print_message("soft Q-learning max error: %.3g (64), %.3g (1024), %.3g (16384 iterations)\n", err[0], err[1], err[2]);
  assert_true(err[1] < err[0] && err[2] < err[1]);
  assert_true(err[2] < 0.05);
  assert_close(cbrl_schedule_step(CBRL_SCHEDULE_RESCALED_LINEAR, 0.9, 10), 1.0 / 2.0, 1e-15, 0);
  assert_close(cbrl_schedule_step(CBRL_SCHEDULE_POLYNOMIAL, 0.9, 0), 1.0, 0, 0);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void followers_count_their_samples_exactly(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[3] = {0};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  cbrl_follower *f;
  assert_ok(cbrl_follower_soft_q_create(&f, p, 37, CBRL_SCHEDULE_RESCALED_LINEAR));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  cbrl_policy pol;
  assert_ok(cbrl_follower_respond(f, 0, x, &m, NULL, &rng, &pol));
  assert_int_equal(f->stats.samples, 37 * 8 * 3);
  {
    cbrl_rng same;
    cbrl_rng_seed(&same, 1, 0);
    double q[24] = {0}, v[8], pi[3], log_pi[3];
    cbrl_soft_q_iterate(&m, p->gamma, p->lambda, CBRL_SCHEDULE_RESCALED_LINEAR, 0, 37, &same, q, v);
    for (int s = 0; s < 8; s++) {
      cbrl_soft_policy_row(q + 3 * s, 3, p->lambda, pi, log_pi);
      for (int a = 0; a < 3; a++) {
        assert_close(pol.pi[s * 3 + a], pi[a], 0, 0);
        assert_close(pol.log_pi[s * 3 + a], log_pi[a], 0, 0);
      }
    }
  }
  for (int s = 0; s < 8; s++) {
    double t = 0.0;
    for (int a = 0; a < 3; a++) t += pol.pi[s * 3 + a];
    assert_close(t, 1.0, 0, 1e-12);
  }
  cbrl_follower_free(f);
  assert_ok(cbrl_follower_online_create(&f, p, 500, 20));
  assert_ok(cbrl_follower_respond(f, 0, x, &m, NULL, &rng, &pol));
  assert_int_equal(f->stats.samples, 500);
  assert_int_equal(cbrl_follower_respond(f, 0, x, &m, NULL, NULL, &pol), CBRL_EINVAL);
  cbrl_follower_free(f);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(soft_q_learning_converges_to_the_exact_soft_q),
      cmocka_unit_test(followers_count_their_samples_exactly),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
