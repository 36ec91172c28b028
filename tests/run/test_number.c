/* Tests for run/number.c: the shortest decimal that reads back as the same double. */
#include "test_util.h"

#include <float.h>
#include <string.h>

#include "cbrl/run/number.h"

static void typed_values_come_back_as_typed(void **state) {
  static const struct { double v; const char *text; } cases[] = {
      {0.003, "0.003"}, {0.1, "0.1"}, {0.3, "0.3"}, {1.0, "1"}, {-2.5, "-2.5"}, {1e-11, "1e-11"},
      {0.0, "0"},       {100000, "100000"}, {0.1 + 0.2, "0.30000000000000004"}, {1.0 / 3.0, "0.3333333333333333"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[CBRL_NUMBER_MAX];
    int n = cbrl_format_double(buf, sizeof buf, cases[i].v);
    assert_string_equal(buf, cases[i].text);
    assert_int_equal(n, (int)strlen(cases[i].text));
  }
}

static void every_output_reads_back_exactly_and_no_shorter_one_does(void **state) {
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 7, 0);
  for (int i = 0; i < 100000; i++) {
    /* Random mantissas over a wide range of exponents, plus the extremes. */
    double v = i == 0 ? DBL_MAX : i == 1 ? DBL_MIN : i == 2 ? 4.9e-324
               : ldexp(cbrl_rng_uniform(&rng) - 0.5, (int)(cbrl_rng_uniform(&rng) * 200) - 100);
    char buf[CBRL_NUMBER_MAX], shorter[CBRL_NUMBER_MAX];
    cbrl_format_double(buf, sizeof buf, v);
    if (strtod(buf, NULL) != v) fail_msg("%.17g printed as %s, which reads back as %.17g", v, buf, strtod(buf, NULL));
    /* No shorter text of the %.15g, %.16g family reads back. */
    for (int d = 15; d < 17; d++) {
      snprintf(shorter, sizeof shorter, "%.*g", d, v);
      if (strtod(shorter, NULL) == v && strlen(shorter) < strlen(buf))
        fail_msg("%.17g: %s reads back but %s was written", v, shorter, buf);
    }
  }
}

static void non_finite_values_and_small_buffers(void **state) {
  char buf[CBRL_NUMBER_MAX];
  cbrl_format_double(buf, sizeof buf, NAN);
  assert_string_equal(buf, "nan");
  cbrl_format_double(buf, sizeof buf, -INFINITY);
  assert_string_equal(buf, "-inf");
  /* As snprintf: truncated, terminated, the full length returned. */
  char small[4];
  assert_int_equal(cbrl_format_double(small, sizeof small, 0.003), 5);
  assert_string_equal(small, "0.0");
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(typed_values_come_back_as_typed),
      cmocka_unit_test(every_output_reads_back_exactly_and_no_shorter_one_does),
      cmocka_unit_test(non_finite_values_and_small_buffers),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
