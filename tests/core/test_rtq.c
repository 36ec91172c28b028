/* Tests for src/rtq.c: RT-Q's sample accounting is exact, the RT-Q estimator telescopes to the
   level-K estimator, and common random numbers shrink the level difference's variance at least
   tenfold. Soft Q-learning itself is tested in test_soft_q.c. */
#include "test_util.h"

#include <string.h>

static void rtq_counts_its_samples_exactly(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[3] = {0};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  /* RT-Q: 2^k n_states n_actions samples for the level drawn. */
  cbrl_rtq_opts o;
  cbrl_rtq_opts_default(&o);
  o.levels = 5;
  o.hpgd.steps = 400;
  o.hpgd.streams = 2;
  cbrl_rtq *w;
  assert_ok(cbrl_rtq_create(&w, p, &o));
  double g[3];
  for (int i = 0; i < 20; i++) {
    cbrl_rtq_info info;
    assert_ok(cbrl_rtq_estimate(w, 0, x, &m, NULL, &rng, -1, 0, g, &info));
    assert_true(info.level >= 1 && info.level <= 5);
    assert_int_equal(info.follower_samples, ((int64_t)1 << info.level) * 24);
    assert_int_equal(info.env_steps, 3 * 400);
  }
  cbrl_rtq_free(w);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* Issue 13 class 13: a deep level (2^30 iterations) stops on the cancellation flag, and a flag
   that stays 0 changes no digit (that the chunks change none either, scripts/fingerprint.py
   shows on hpgd-rtq). */
static void a_cancel_flag_stops_a_deep_level(void **state) {
  (void)state;
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[3] = {0.1, -0.2, 0.3}, g[3], h[3];
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  static volatile int flag;
  cbrl_rtq_opts o;
  cbrl_rtq_opts_default(&o);
  assert_null(o.cancel);
  o.levels = 30;
  o.hpgd.steps = 400;
  o.hpgd.streams = 2;
  cbrl_rtq *plain, *flagged;
  assert_ok(cbrl_rtq_create(&plain, p, &o));
  o.cancel = &flag;
  assert_ok(cbrl_rtq_create(&flagged, p, &o));
  flag = 1;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2, 0);
  assert_int_equal(cbrl_rtq_estimate(flagged, 0, x, &m, NULL, &rng, 30, 0, g, NULL), CBRL_ECANCELED);
  assert_int_equal(cbrl_rtq_plain(flagged, 0, x, &m, NULL, &rng, 30, g, NULL), CBRL_ECANCELED);
  flag = 0;
  for (int level = 1; level <= 12; level += 11) {
    cbrl_rng a, b;
    cbrl_rng_seed(&a, 3, 0);
    cbrl_rng_seed(&b, 3, 0);
    assert_ok(cbrl_rtq_estimate(plain, 0, x, &m, NULL, &a, level, 0, g, NULL));
    assert_ok(cbrl_rtq_estimate(flagged, 0, x, &m, NULL, &b, level, 0, h, NULL));
    for (int j = 0; j < 3; j++) assert_true(g[j] == h[j]);
  }
  cbrl_rtq_free(plain);
  cbrl_rtq_free(flagged);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* An RT-Q workspace on the small problem at x = (0.1, -0.2, 0.3), with 2,000-step inner batches. */
typedef struct rtq_fixture {
  cbrl_problem *p;
  cbrl_mdp m;
  cbrl_rtq *w;
  double x[3];
} rtq_fixture;

static void rtq_setup(rtq_fixture *f, double gamma, int levels) {
  f->p = test_small_problem(gamma);
  f->x[0] = 0.1, f->x[1] = -0.2, f->x[2] = 0.3;
  assert_ok(cbrl_mdp_init(&f->m, f->p, 0));
  assert_ok(cbrl_mdp_evaluate(&f->m, f->p, 0, f->x));
  cbrl_rtq_opts o;
  cbrl_rtq_opts_default(&o);
  o.levels = levels;
  o.hpgd.steps = 2000;
  o.hpgd.streams = 2;
  o.hpgd.max_steps = 50;
  assert_ok(cbrl_rtq_create(&f->w, f->p, &o));
}

static void rtq_teardown(rtq_fixture *f) {
  cbrl_rtq_free(f->w);
  cbrl_mdp_close(&f->m);
  cbrl_problem_free(f->p);
}

static void rtq_telescopes_to_the_level_K_estimator(void **state) {
  rtq_fixture f;
  rtq_setup(&f, 0.8, 4);
  cbrl_rtq *w = f.w;
  cbrl_mdp m = f.m;
  const double *x = f.x;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  int B = test_quick() ? 300 : 3000;
  double g[3], s1[2][3] = {{0}}, s2[2][3] = {{0}}, samples = 0;
  for (int b = 0; b < B; b++) {
    cbrl_rtq_info info;
    assert_ok(cbrl_rtq_estimate(w, 0, x, &m, NULL, &rng, -1, 0, g, &info));
    samples += (double)info.follower_samples;
    for (int j = 0; j < 3; j++) s1[0][j] += g[j], s2[0][j] += g[j] * g[j];
    assert_ok(cbrl_rtq_plain(w, 0, x, &m, NULL, &rng, 4, g, &info));
    for (int j = 0; j < 3; j++) s1[1][j] += g[j], s2[1][j] += g[j] * g[j];
  }
  for (int j = 0; j < 3; j++) {
    double m0 = s1[0][j] / B, m1 = s1[1][j] / B;
    double se = sqrt((s2[0][j] / B - m0 * m0) / B + (s2[1][j] / B - m1 * m1) / B);
    if (fabs(m0 - m1) > 4.0 * se) fail_msg("coordinate %d: RT-Q %.5f, level K %.5f, se %.5f", j, m0, m1, se);
  }
  /* Expected cost sum_k p_k 2^k samples per n_states n_actions, against 2^K. */
  double expected = 0.0, z = 0.0;
  for (int k = 1; k <= 4; k++) z += pow(2.0, -k);
  for (int k = 1; k <= 4; k++) expected += pow(2.0, -k) / z * pow(2.0, k);
  assert_close(samples / B / 24.0, expected, 0.1, 0);
  print_message("RT-Q: %.1f follower samples per estimate against %d for level K\n", samples / B, 16 * 24);
  rtq_teardown(&f);
}

static void common_random_numbers_shrink_the_difference_variance(void **state) {
  rtq_fixture f;
  rtq_setup(&f, 0.6, 14);
  cbrl_rtq *w = f.w;
  cbrl_mdp m = f.m;
  const double *x = f.x;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 4, 0);
  /* Levels 11 and 10 from one stream (common numbers: the level-10 run is a prefix of the
     level-11 run, and both estimates replay one coupled trajectory stream) or from two. The
     gain grows with the level, as the two policies converge (about 2x per two levels here); at
     shallow levels they differ for real. docs/results/rtq.md has the profile. */
  int B = test_quick() ? 100 : 300;
  double var[2] = {0, 0};
  for (int mode = 0; mode < 2; mode++) {
    double s1[3] = {0}, s2[3] = {0}, a[3], b[3];
    for (int i = 0; i < B; i++) {
      cbrl_rng copy = rng;
      assert_ok(cbrl_rtq_plain(w, 0, x, &m, NULL, &copy, 11, a, NULL));
      if (mode == 1) copy = rng, cbrl_rng_next(&copy), cbrl_rng_next(&copy), cbrl_rng_next(&copy);
      else copy = rng;
      assert_ok(cbrl_rtq_plain(w, 0, x, &m, NULL, &copy, 10, b, NULL));
      cbrl_rng_next(&rng), cbrl_rng_next(&rng), cbrl_rng_next(&rng), cbrl_rng_next(&rng);
      for (int j = 0; j < 3; j++) s1[j] += a[j] - b[j], s2[j] += (a[j] - b[j]) * (a[j] - b[j]);
    }
    for (int j = 0; j < 3; j++) var[mode] += s2[j] / B - (s1[j] / B) * (s1[j] / B);
  }
  print_message("difference variance: %.3g with common numbers, %.3g without (ratio %.0f)\n", var[0], var[1],
                var[1] / var[0]);
  assert_true(var[1] >= 10.0 * var[0]);
  rtq_teardown(&f);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rtq_counts_its_samples_exactly),
      cmocka_unit_test(a_cancel_flag_stops_a_deep_level),
      cmocka_unit_test(rtq_telescopes_to_the_level_K_estimator),
      cmocka_unit_test(common_random_numbers_shrink_the_difference_variance),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
