/* Tests for src/rng.c and src/errors.c, src/version.c. */
#include "test_util.h"

#include <string.h>

static void seed_is_deterministic_and_streams_differ(void **state) {
  cbrl_rng a, b, c;
  cbrl_rng_seed(&a, 42, 0);
  cbrl_rng_seed(&b, 42, 0);
  cbrl_rng_seed(&c, 42, 1);
  int differ = 0;
  for (int i = 0; i < 100; i++) {
    uint64_t x = cbrl_rng_next(&a);
    assert_int_equal(x, cbrl_rng_next(&b));
    differ += x != cbrl_rng_next(&c);
  }
  assert_true(differ > 95);
}

static void uniform_and_below_are_in_range_and_unbiased(void **state) {
  cbrl_rng r;
  cbrl_rng_seed(&r, 7, 3);
  int n = 200000, counts[5] = {0};
  double sum = 0.0;
  for (int i = 0; i < n; i++) {
    double u = cbrl_rng_uniform(&r);
    assert_true(u >= 0.0 && u < 1.0);
    sum += u;
    uint64_t k = cbrl_rng_below(&r, 5);
    assert_true(k < 5);
    counts[k]++;
  }
  /* Mean of U(0,1) has standard error sqrt(1/12/n); hold 5 of them. */
  assert_close(sum / n, 0.5, 0.0, 5.0 * sqrt(1.0 / 12.0 / n));
  for (int k = 0; k < 5; k++) assert_close(counts[k] / (double)n, 0.2, 0.0, 5.0 * sqrt(0.16 / n));
}

static void normal_has_zero_mean_unit_variance(void **state) {
  cbrl_rng r;
  cbrl_rng_seed(&r, 1, 0);
  int n = 200000;
  double s = 0.0, s2 = 0.0;
  for (int i = 0; i < n; i++) {
    double z = cbrl_rng_normal(&r);
    s += z;
    s2 += z * z;
  }
  assert_close(s / n, 0.0, 0.0, 5.0 / sqrt(n));
  assert_close(s2 / n, 1.0, 0.0, 5.0 * sqrt(2.0 / n));
}

static void errors_have_names_and_messages(void **state) {
  assert_string_equal(cbrl_strerror(0), "success");
  assert_string_equal(cbrl_err_name(CBRL_EINVAL), "CBRL_EINVAL");
  assert_string_equal(cbrl_err_name(CBRL_ENOCONV), "CBRL_ENOCONV");
  assert_true(strstr(cbrl_strerror(CBRL_ENONFINITE), "non-finite") != NULL);
  assert_string_equal(cbrl_strerror(-1000), "unknown error");
  assert_string_equal(cbrl_err_name(-1000), "CBRL_UNKNOWN");
}

static void version_macro_matches_library(void **state) {
  assert_int_equal(cbrl_version(), CBRL_VERSION_HEX);
  assert_string_equal(cbrl_version_string(), CBRL_VERSION_STRING);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(seed_is_deterministic_and_streams_differ),
      cmocka_unit_test(uniform_and_below_are_in_range_and_unbiased),
      cmocka_unit_test(normal_has_zero_mean_unit_variance),
      cmocka_unit_test(errors_have_names_and_messages),
      cmocka_unit_test(version_macro_matches_library),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
