/* Tests for src/soft_policy.c and the categorical draw of src/soft_policy.h (internal): the soft
   value against a direct logsumexp, the two softmax forms against each other, log pi finite where
   pi underflows, and the draw's one rounding fallback. */
#include "test_util.h"

#include "soft_policy.h"

static void soft_value_is_the_shifted_logsumexp(void **state) {
  const double q[4] = {0.3, -1.2, 2.0, 0.7};
  for (double lambda = 0.25; lambda <= 4.0; lambda *= 2.0) {
    double z = 0.0;
    for (int a = 0; a < 4; a++) z += exp(q[a] / lambda);
    assert_close(cbrl_soft_value(q, 4, lambda), lambda * log(z), 1e-14, 0.0);
  }
  /* Far beyond exp's range: the shift keeps it finite, max + lambda log(#maxima). */
  const double big[3] = {1e6, 1e6, -1e6};
  assert_close(cbrl_soft_value(big, 3, 1e-4), 1e6 + 1e-4 * log(2.0), 1e-15, 0.0);
}

static void policy_rows_agree_and_log_pi_stays_finite(void **state) {
  const double q[5] = {1.0, 0.5, -3.0, 1.0, 0.0};
  double pi[5], log_pi[5], pn[5];
  double v = cbrl_soft_policy_row(q, 5, 0.3, pi, log_pi);
  assert_close(cbrl_softmax_row(q, 5, 0.3, pn), v, 0.0, 0.0);
  double sum = 0.0;
  for (int a = 0; a < 5; a++) {
    assert_true(pi[a] == exp(log_pi[a])); /* the same bits, by construction */
    assert_close(log_pi[a], (q[a] - v) / 0.3, 0.0, 0.0);
    assert_close(pn[a], pi[a], 1e-14, 0.0);
    sum += pi[a];
  }
  assert_close(sum, 1.0, 0.0, 1e-15);
  /* A gap of 1e4 at lambda 1e-2: pi underflows to 0, log pi is -1e6. */
  const double gap[2] = {0.0, -1e4};
  cbrl_soft_policy_row(gap, 2, 1e-2, pi, log_pi);
  assert_true(pi[1] == 0.0);
  assert_close(log_pi[1], -1e6, 1e-12, 0.0);
  assert_true(pi[0] == 1.0 && log_pi[0] == 0.0);
}

static void categorical_inverts_the_cdf_with_one_fallback(void **state) {
  const double w[4] = {0.25, 0.0, 0.5, 0.25};
  assert_int_equal(cbrl__categorical(w, 4, 0.0), 0);
  assert_int_equal(cbrl__categorical(w, 4, 0.2499), 0);
  assert_int_equal(cbrl__categorical(w, 4, 0.25), 2); /* weight 0 is never drawn */
  assert_int_equal(cbrl__categorical(w, 4, 0.7499), 2);
  assert_int_equal(cbrl__categorical(w, 4, 0.75), 3);
  /* Weights whose rounded sum falls short of u: the last positive one, not a trailing zero. */
  const double short_sum[4] = {0.3, 0.3, 0.3, 0.0};
  assert_int_equal(cbrl__categorical(short_sum, 4, 0.95), 2);
  const double none[2] = {0.0, 0.0};
  assert_int_equal(cbrl__categorical(none, 2, 0.5), 0);
  /* Frequencies of a draw by uniforms match the weights. */
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 9, 0);
  int count[4] = {0};
  const int n = 200000;
  for (int i = 0; i < n; i++) count[cbrl__categorical(w, 4, cbrl_rng_uniform(&rng))]++;
  assert_int_equal(count[1], 0);
  for (int i = 0; i < 4; i++) assert_close((double)count[i] / n, w[i], 0.0, 5.0 * sqrt(0.25 / n));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(soft_value_is_the_shifted_logsumexp),
      cmocka_unit_test(policy_rows_agree_and_log_pi_stays_finite),
      cmocka_unit_test(categorical_inverts_the_cdf_with_one_fallback),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
