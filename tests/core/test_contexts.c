/* Tests for src/contexts.c (docs/MODEL.md 1.2): the Gauss-Hermite and Gauss-Legendre rules
   integrate the moments of N(0, 1) and U(0, 1) exactly up to degree 2n - 1 and a smooth function to 1e-12, samples are standard
   normal within 4 standard errors, and the standard error is the textbook one. */
#include "test_util.h"

static void quadrature_is_exact_for_polynomials(void **state) {
  (void)state;
  double z[64], w[64];
  for (int n = 1; n <= 64; n++) {
    assert_ok(cbrl_contexts_normal_quadrature(n, z, w));
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += w[i];
    assert_close(sum, 1.0, 1e-14, 0);
    for (int i = 1; i < n; i++) assert_true(z[i] > z[i - 1]);
    /* E[Z^k] = (k - 1)!! for even k, 0 for odd k, exact for k <= 2n - 1 (up to degree 12 here,
       where the moments stay of order 1e4 and rounding stays below 1e-10 relative). */
    for (int k = 0; k <= 2 * n - 1 && k <= 12; k++) {
      double q = 0.0, want = k % 2 ? 0.0 : 1.0;
      for (int i = 0; i < n; i++) q += w[i] * pow(z[i], k);
      for (int j = k - 1; k % 2 == 0 && j > 1; j -= 2) want *= j; /* (k - 1)!! */
      assert_close(q, want, 1e-10, 1e-12);
    }
  }
  /* E[cos Z] = exp(-1/2): a smooth function at 20 nodes. */
  assert_ok(cbrl_contexts_normal_quadrature(20, z, w));
  double q = 0.0;
  for (int i = 0; i < 20; i++) q += w[i] * cos(z[i]);
  assert_close(q, exp(-0.5), 1e-13, 0);
  assert_int_equal(cbrl_contexts_normal_quadrature(0, z, w), CBRL_EINVAL);
  assert_int_equal(cbrl_contexts_normal_quadrature(65, z, w), CBRL_EINVAL);
}

static void samples_and_their_standard_error(void **state) {
  (void)state;
  enum { N = 4000 };
  static double z[N], w[N];
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  assert_ok(cbrl_contexts_normal(CBRL_CONTEXTS_SAMPLE, N, &rng, z, w));
  double mean = 0.0;
  for (int i = 0; i < N; i++) mean += w[i] * z[i];
  double se = cbrl_contexts_standard_error(z, N);
  assert_close(se, 1.0 / sqrt(N), 0.05, 0); /* sd 1 */
  assert_true(fabs(mean) < 4.0 * se);
  const double f[3] = {1.0, 2.0, 6.0};
  assert_close(cbrl_contexts_standard_error(f, 3), sqrt(7.0 / 3.0), 1e-14, 0); /* sd sqrt(7) / sqrt(3) */
  assert_close(cbrl_contexts_standard_error(f, 1), 0.0, 0, 0);
  assert_int_equal(cbrl_contexts_normal(CBRL_CONTEXTS_SAMPLE, N, NULL, z, w), CBRL_EINVAL);
}

static void legendre_is_exact_for_polynomials(void **state) {
  (void)state;
  double u[64], w[64];
  for (int n = 1; n <= 64; n++) {
    assert_ok(cbrl_contexts_uniform_quadrature(n, u, w));
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += w[i], assert_true(u[i] > 0.0 && u[i] < 1.0);
    assert_close(sum, 1.0, 1e-14, 0);
    for (int i = 1; i < n; i++) assert_true(u[i] > u[i - 1]);
    /* E[U^k] = 1 / (k + 1), exact for k <= 2n - 1, and a polynomial with every power. */
    for (int k = 0; k <= 2 * n - 1 && k <= 30; k++) {
      double q = 0.0;
      for (int i = 0; i < n; i++) q += w[i] * pow(u[i], k);
      assert_close(q, 1.0 / (k + 1), 1e-13, 0);
    }
  }
  /* E[exp U] = e - 1 at 10 nodes. */
  assert_ok(cbrl_contexts_uniform_quadrature(10, u, w));
  double q = 0.0;
  for (int i = 0; i < 10; i++) q += w[i] * exp(u[i]);
  assert_close(q, exp(1.0) - 1.0, 1e-14, 0);
  assert_int_equal(cbrl_contexts_uniform_quadrature(0, u, w), CBRL_EINVAL);
  assert_int_equal(cbrl_contexts_uniform_quadrature(65, u, w), CBRL_EINVAL);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2, 0);
  assert_ok(cbrl_contexts_uniform(CBRL_CONTEXTS_SAMPLE, 64, &rng, u, w));
  for (int i = 0; i < 64; i++) assert_true(u[i] >= 0.0 && u[i] < 1.0 && w[i] == 1.0 / 64);
}

/* Two templates over the same three draws: g_i = q_0 f_0i + q_1 f_1i, and the s.e. of their mean. */
static void grouped_standard_error(void **state) {
  (void)state;
  const double f[6] = {1.0, 2.0, 6.0, 3.0, 0.0, 3.0};
  const double w[6] = {0.25 / 3, 0.25 / 3, 0.25 / 3, 0.75 / 3, 0.75 / 3, 0.75 / 3};
  double g[3];
  for (int i = 0; i < 3; i++) g[i] = 0.25 * f[i] + 0.75 * f[3 + i];
  assert_close(cbrl_contexts_grouped_standard_error(f, w, 2, 3), cbrl_contexts_standard_error(g, 3), 1e-15, 0);
  assert_close(cbrl_contexts_grouped_standard_error(f, w, 1, 3), 0.25 * cbrl_contexts_standard_error(f, 3), 1e-15, 0);
  double one[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  assert_close(cbrl_contexts_grouped_standard_error(f, one, 1, 3), cbrl_contexts_standard_error(f, 3), 1e-15, 0);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(quadrature_is_exact_for_polynomials),
      cmocka_unit_test(samples_and_their_standard_error),
      cmocka_unit_test(legendre_is_exact_for_polynomials),
      cmocka_unit_test(grouped_standard_error),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
