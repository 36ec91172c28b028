/* Tests for run/suggest.c: the closest known name to a mistyped one. */
#include "test_util.h"

#include <string.h>

#include "cbrl/run/suggest.h"

static const char *const fields[] = {"env", "problem", "algorithm", "beta", "lambda", "learning_rate", "seeds",
                                     "iterations", "final_window", "metrics_every", "threads", "min-seeds"};
#define N (int)(sizeof fields / sizeof fields[0])

static void near_misses_find_their_name(void **state) {
  static const struct { const char *typed, *meant; } cases[] = {
      {"lamda", "lambda"},            /* a deletion */
      {"lmabda", "lambda"},           /* a swap of neighbours */
      {"learning-rate", "learning_rate"}, /* '-' for '_' costs nothing */
      {"learningrate", "learning_rate"},
      {"iteration", "iterations"},
      {"thread", "threads"},
      {"min_seeds", "min-seeds"},
      {"seed", "seeds"},
      {"bta", "beta"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *s = cbrl_suggest(cases[i].typed, fields, N);
    if (!s || strcmp(s, cases[i].meant)) fail_msg("'%s': suggested '%s', expected '%s'", cases[i].typed, s ? s : "(none)", cases[i].meant);
  }
}

static void far_words_get_no_suggestion(void **state) {
  assert_null(cbrl_suggest("frobnicate", fields, N));
  assert_null(cbrl_suggest("xy", fields, N));
  assert_null(cbrl_suggest("temperature", fields, N));
  assert_null(cbrl_suggest("", fields, 0));
  assert_null(cbrl_suggest(NULL, fields, N));
  /* An exact name is its own suggestion. */
  assert_string_equal(cbrl_suggest("beta", fields, N), "beta");
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(near_misses_find_their_name),
      cmocka_unit_test(far_words_get_no_suggestion),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
