/* Tests for src/hpgd_critic.c (docs/MODEL.md 4.1c): the cross-fitted critic estimator's mean
   against the exact gradient within 4 standard errors (the larger of the plain and a batch-means
   s.e. of repeated independent estimates; a Bonferroni bound over many coordinates), on random
   problems, Four-Rooms (with enough estimates to see its rarely visited cells) and the tax
   economy, at several batch sizes, for every critic; the score baseline leaves the mean
   unchanged. */
#include "test_util.h"

#include <string.h>

#include "cbrl/env/tax.h"
#include "cbrl/hpgd.h"
#include "cbrl/simulate.h"

/* ---- a random problem with one-hot features, so that the features critic runs on it ---- */

static int onehot_features(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, int s, int a,
                           int *index, double *value, double *known) {
  (void)context, (void)x;
  index[0] = s * p->n_actions + a;
  value[0] = 1.0;
  *known = m->rbar[(size_t)s * p->n_actions + a]; /* exercise the known part too */
  return 1;
}

static cbrl_problem_ops featured_ops; /* the random problem's ops plus onehot_features */

static cbrl_problem *small_problem(uint64_t seed, int with_features) {
  cbrl_random_opts o;
  test_small_problem_opts(seed, CBRL_DEPENDS_ALL, &o);
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  if (with_features) {
    featured_ops = *p->ops;
    featured_ops.features = onehot_features;
    p->ops = &featured_ops;
    p->n_features = p->n_states * p->n_actions;
    p->feature_nnz = 1;
  }
  return p;
}

/* Mean and standard error of R independent estimates for one context at x. The s.e. is the
   larger of the plain one and the batch-means one (the R estimates in 10 groups): estimates of
   rare-event sums are heavy-tailed (kurtosis up to 600 on Four-Rooms), and a sample that missed
   the tail understates the plain s.e. */
static void estimate_mean(const cbrl_problem *p, cbrl_exact *e, int context, const double *x,
                          const cbrl_hpgd_opts *o, int R, uint64_t seed, double *mean, double *se) {
  const cbrl_mdp *m = cbrl_exact_mdp(e, context);
  cbrl_policy pol = test_exact_policy(e, context);
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, o->steps));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, (uint64_t)context);
  int d = p->dim;
  enum { G = 10 };
  assert_true(R % G == 0);
  double *g = malloc(sizeof(double) * d), *s2 = calloc(d, sizeof(double)), *gs = calloc((size_t)G * d, sizeof(double));
  memset(mean, 0, sizeof(double) * d);
  for (int r = 0; r < R; r++) {
    cbrl_estimate_info info;
    assert_ok(cbrl_hpgd_estimate(h, context, x, m, NULL, &pol, o, &rng, g, &info));
    assert_int_equal(info.env_steps, o->steps);
    for (int j = 0; j < d; j++) mean[j] += g[j], s2[j] += g[j] * g[j], gs[(size_t)(r / (R / G)) * d + j] += g[j];
  }
  for (int j = 0; j < d; j++) {
    mean[j] /= R;
    se[j] = sqrt(fmax(s2[j] / R - mean[j] * mean[j], 0.0) / (R - 1));
    double v = 0.0;
    for (int q = 0; q < G; q++) v += pow(gs[(size_t)q * d + j] / (R / G) - mean[j], 2);
    se[j] = fmax(se[j], sqrt(v / (G - 1) / G));
  }
  free(g);
  free(s2);
  free(gs);
  cbrl_hpgd_free(h);
}

/* Every coordinate of the mean of R estimates within 4 s.e. of the exact gradient at x, or, for
   many coordinates, within the Bonferroni bound that keeps the chance of a false alarm over all
   d coordinates at 1e-3 (4.4 s.e. for Four-Rooms' 105): 4 s.e. on each of 105 coordinates
   would fail an unbiased estimator about once in 80 runs. */
static void check_unbiased(const char *what, const cbrl_problem *p, cbrl_exact *e, const double *x,
                           const cbrl_hpgd_opts *o, int R, uint64_t seed) {
  int d = p->dim, worst_j = 0;
  double *g = malloc(sizeof(double) * d), *mean = malloc(sizeof(double) * d), *se = malloc(sizeof(double) * d);
  for (int k = 0; k < p->n_contexts; k++) {
    assert_ok(cbrl_exact_context(e, k, x, NULL, g));
    estimate_mean(p, e, k, x, o, R, seed, mean, se);
    double worst = 0.0;
    for (int j = 0; j < d; j++) {
      double z = fabs(mean[j] - g[j]) / (se[j] + 1e-12);
      if (z > worst) worst = z, worst_j = j;
    }
    print_message("%s, critic %s%s, N %lld, context %d: largest |mean - exact| / se %.2f (coordinate %d: %.5g "
                  "against %.5g, se %.2g)\n",
                  what, cbrl_hpgd_critic_name(o->critic), o->expected_score ? " (expected score)" : "", (long long)o->steps, k, worst, worst_j, mean[worst_j],
                  g[worst_j], se[worst_j]);
    /* Two-sided normal tail 1e-3 / d: z with erfc(z / sqrt 2) = 1e-3 / d, by bisection. */
    double lo = 0.0, hi = 10.0, tail = 1e-3 / d;
    for (int it = 0; it < 60; it++) {
      double mid = 0.5 * (lo + hi);
      if (erfc(mid / sqrt(2.0)) > tail) lo = mid;
      else hi = mid;
    }
    double bound = fmax(4.0, lo);
    if (worst > bound) fail_msg("%s: bias above %.2f standard errors", what, bound);
  }
  free(g);
  free(mean);
  free(se);
}

static void critic_is_unbiased_on_random_problems(void **state) {
  (void)state;
  int R = test_quick() ? 60 : 300;
  const int64_t sizes[2] = {5000, 20000}; /* at 1,000 the tabular critic misses rare states (docs/MODEL.md 4.1c) */
  for (int feat = 0; feat < 3; feat++) /* tabular, features, model */
    for (uint64_t seed = 1; seed <= 2; seed++) {
      cbrl_problem *p = small_problem(20 + seed, feat == 1);
      cbrl_exact *e;
      assert_ok(cbrl_exact_create(&e, p));
      double x[4] = {0.2, -0.3, 0.1, 0.4};
      for (int i = 0; i < 2; i++) {
        cbrl_hpgd_opts o;
        cbrl_hpgd_opts_default(&o);
        o.kind = CBRL_HPGD_CRITIC;
        o.critic = feat == 2 ? CBRL_CRITIC_MODEL : feat ? CBRL_CRITIC_FEATURES : CBRL_CRITIC_TABULAR;
        o.expected_score = (int)seed == 2; /* the second problem of each critic takes grad P in expectation */
        o.steps = sizes[i];
        o.max_steps = 50;
        check_unbiased("random problem", p, e, x, &o, R, 100 + seed);
      }
      cbrl_exact_free(e);
      cbrl_problem_free(p);
    }
}

/* Four-Rooms at N = 10,000 and 50,000 with enough estimates to see the bias of rarely visited
   cells: the tabular critic used to give a pair the other folds never took the state's mean and
   a state they never visited no response, which took 83 % off the exact -6.0e-5 of coordinate 66
   (the leader's target (8,4), rarely reached on the way to G1): z = 23 over 20,000 estimates, about
   10 expected over the 4,000 here (docs/results/four_rooms.md, "Bias on rarely visited cells"). */
static void critic_is_unbiased_on_four_rooms(void **state) {
  (void)state;
  if (test_quick()) skip();
  cbrl_problem *p = test_four_rooms(3.0, 0.003);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[105];
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 0, 0);
  for (int j = 0; j < 105; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  const int64_t sizes[2] = {10000, 50000};
  const int reps[2] = {4000, 400};
  for (int i = 0; i < 2; i++) {
    cbrl_hpgd_opts o;
    cbrl_hpgd_opts_default(&o);
    o.kind = CBRL_HPGD_CRITIC;
    o.steps = sizes[i];
    assert_int_equal(o.critic, CBRL_CRITIC_AUTO); /* Four-Rooms has no features: tabular */
    check_unbiased("four-rooms", p, e, x, &o, reps[i], 7);
  }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void critic_is_unbiased_on_tax_design(void **state) {
  (void)state;
  cbrl_tax_opts to;
  cbrl_tax_opts_default(&to);
  to.n_bins = 40;
  to.n_types = 1;
  to.weight[0] = 1.0;
  cbrl_problem *p;
  assert_ok(cbrl_tax_create(&p, &to));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4];
  cbrl_tax_x_for_rate(0.3, x);
  int R = test_quick() ? 30 : 100;
  const int64_t sizes[2] = {2000, 10000};
  for (int c = 0; c < 4; c++) /* structural, structural with the expected score, tabular, model */
    for (int i = 0; i < 2; i++) {
      cbrl_hpgd_opts o;
      cbrl_hpgd_opts_default(&o);
      o.kind = CBRL_HPGD_CRITIC;
      o.critic = c == 3 ? CBRL_CRITIC_MODEL : c == 2 ? CBRL_CRITIC_TABULAR : CBRL_CRITIC_FEATURES;
      o.expected_score = c == 1 || c == 3;
      o.steps = sizes[i];
      o.streams = (int)(sizes[i] / 200);
      check_unbiased("tax design", p, e, x, &o, R, 11);
    }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* E[grad log P(s'|s,a)] = 0 row by row: the vjp of a cotangent P(s'|s,a) b(s) on log P is 0, so
   any baseline b(s) inside the score term leaves the vector reward's mean unchanged. */
static void score_has_mean_zero_in_every_row(void **state) {
  (void)state;
  cbrl_problem *p = small_problem(5, 0);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0.2, -0.3, 0.1, 0.4}, g[4] = {0};
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  double *w = calloc((size_t)m->n_transitions, sizeof(double));
  for (int s = 0; s < m->n_states; s++)
    for (int a = 0; a < m->n_actions; a++)
      for (int64_t k = m->row[s * m->n_actions + a]; k < m->row[s * m->n_actions + a + 1]; k++)
        w[k] = m->prob[k] * (3.0 + s); /* b(s) = 3 + s */
  cbrl_cotangent ct = {NULL, NULL, w, NULL};
  assert_ok(cbrl_mdp_vjp(m, p, 0, x, &ct, g));
  for (int j = 0; j < 4; j++) assert_true(fabs(g[j]) < 1e-12);
  free(w);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* On the same batches (same seed), the estimates with and without the baseline differ only by
   the baseline's term, whose mean must be zero. */
static void baseline_leaves_the_mean_unchanged(void **state) {
  (void)state;
  cbrl_problem *p = small_problem(6, 0);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0.2, -0.3, 0.1, 0.4}, on[4], off[4], mean[4] = {0}, s2[4] = {0};
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  cbrl_policy pol = test_exact_policy(e, 0);
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 2000));
  cbrl_hpgd_opts o;
  cbrl_hpgd_opts_default(&o);
  o.kind = CBRL_HPGD_CRITIC;
  o.steps = 2000;
  o.max_steps = 50;
  int R = test_quick() ? 100 : 500, differ = 0;
  for (int r = 0; r < R; r++) {
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 1000 + (uint64_t)r, 0);
    o.baseline = CBRL_BASELINE_ON;
    assert_ok(cbrl_hpgd_estimate(h, 0, x, cbrl_exact_mdp(e, 0), NULL, &pol, &o, &rng, on, NULL));
    cbrl_rng_seed(&rng, 1000 + (uint64_t)r, 0);
    o.baseline = CBRL_BASELINE_OFF;
    assert_ok(cbrl_hpgd_estimate(h, 0, x, cbrl_exact_mdp(e, 0), NULL, &pol, &o, &rng, off, NULL));
    for (int j = 0; j < 4; j++) {
      double d = on[j] - off[j];
      differ |= d != 0.0;
      mean[j] += d, s2[j] += d * d;
    }
  }
  assert_true(differ); /* the baseline does something */
  for (int j = 0; j < 4; j++) {
    mean[j] /= R;
    double se = sqrt(fmax(s2[j] / R - mean[j] * mean[j], 0.0) / (R - 1));
    print_message("baseline term, coordinate %d: mean %.3g, se %.3g\n", j, mean[j], se);
    assert_true(fabs(mean[j]) <= 4.0 * se + 1e-12);
  }
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void critic_options_are_checked(void **state) {
  (void)state;
  cbrl_problem *p = small_problem(7, 0);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0}, g[4];
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  cbrl_policy pol = test_exact_policy(e, 0);
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 1000));
  cbrl_hpgd_opts o;
  cbrl_hpgd_opts_default(&o);
  o.kind = CBRL_HPGD_CRITIC;
  o.steps = 1000;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  o.critic = CBRL_CRITIC_FEATURES; /* this problem has none */
  assert_int_equal(cbrl_hpgd_estimate(h, 0, x, cbrl_exact_mdp(e, 0), NULL, &pol, &o, &rng, g, NULL), CBRL_ENOTSUP);
  o.critic = CBRL_CRITIC_TABULAR;
  o.folds = 1;
  assert_int_equal(cbrl_hpgd_estimate(h, 0, x, cbrl_exact_mdp(e, 0), NULL, &pol, &o, &rng, g, NULL), CBRL_EINVAL);
  o.folds = 3;
  assert_ok(cbrl_hpgd_estimate(h, 0, x, cbrl_exact_mdp(e, 0), NULL, &pol, &o, &rng, g, NULL));
  o.steps = 2000;
  assert_int_equal(cbrl_hpgd_estimate(h, 0, x, cbrl_exact_mdp(e, 0), NULL, &pol, &o, &rng, g, NULL), CBRL_ERANGE);
  cbrl_hpgd_critic c;
  assert_ok(cbrl_hpgd_critic_parse("features", &c));
  assert_int_equal(c, CBRL_CRITIC_FEATURES);
  assert_string_equal(cbrl_hpgd_critic_name(CBRL_CRITIC_TABULAR), "tabular");
  assert_ok(cbrl_hpgd_critic_parse("model", &c));
  assert_int_equal(c, CBRL_CRITIC_MODEL);
  assert_int_equal(cbrl_hpgd_critic_parse("neural", &c), CBRL_EINVAL);
  o.steps = 1000, o.critic = (cbrl_hpgd_critic)7;
  assert_int_equal(cbrl_hpgd_estimate(h, 0, x, cbrl_exact_mdp(e, 0), NULL, &pol, &o, &rng, g, NULL), CBRL_EINVAL);
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(critic_is_unbiased_on_random_problems),
      cmocka_unit_test(critic_is_unbiased_on_four_rooms),
      cmocka_unit_test(critic_is_unbiased_on_tax_design),
      cmocka_unit_test(score_has_mean_zero_in_every_row),
      cmocka_unit_test(baseline_leaves_the_mean_unchanged),
      cmocka_unit_test(critic_options_are_checked),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
