/* Tests for src/hpgd*.c: the unbiased estimator against the exact gradient within 4 standard
   errors, also through a continuous simulator, and the batch estimator close to exact given
   many steps. */
#include "test_util.h"

#include <malloc.h>
#include <string.h>

#include "cbrl/amd.h"
#include "cbrl/hpgd.h"
#include "cbrl/rtq.h"
#include "cbrl/simulate.h"

/* One unbiased sample, in sim or the model's kernel. */
static int sample(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, cbrl_simulator *sim,
                  const cbrl_policy *pol, cbrl_rng *rng, double *g, cbrl_estimate_info *info) {
  cbrl_hpgd_opts o = {.kind = CBRL_HPGD_UNBIASED, .samples = 1};
  return cbrl_hpgd_estimate(h, context, x, m, sim, pol, &o, rng, g, info);
}

/* Mean and standard error of B unbiased samples for one context. */
static void unbiased_mean(const cbrl_problem *p, cbrl_exact *e, int context, const double *x, int B,
                          double *mean, double *se) {
  const cbrl_mdp *m = cbrl_exact_mdp(e, context);
  cbrl_policy pol = test_exact_policy(e, context);
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 1000));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 77, (uint64_t)context);
  int d = p->dim;
  double *g = malloc(sizeof(double) * d), *s2 = calloc(d, sizeof(double));
  memset(mean, 0, sizeof(double) * d);
  for (int b = 0; b < B; b++) {
    cbrl_estimate_info info;
    assert_ok(sample(h, context, x, m, NULL, &pol, &rng, g, &info));
    assert_true(info.env_steps >= 1);
    for (int j = 0; j < d; j++) mean[j] += g[j], s2[j] += g[j] * g[j];
  }
  for (int j = 0; j < d; j++) {
    mean[j] /= B;
    se[j] = sqrt(fmax(s2[j] / B - mean[j] * mean[j], 0.0) / B);
  }
  free(g);
  free(s2);
  cbrl_hpgd_free(h);
}

static cbrl_problem *small_problem(uint64_t seed, unsigned depends) {
  cbrl_random_opts o;
  test_small_problem_opts(seed, depends, &o);
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  return p;
}

static void unbiased_estimator_matches_exact_within_4_standard_errors(void **state) {
  /* x enters r, rbar, P and mu; terminal states; two contexts; each quantity alone too. */
  const unsigned depends[5] = {CBRL_DEPENDS_ALL, CBRL_DEPENDS_R, CBRL_DEPENDS_RBAR, CBRL_DEPENDS_P,
                               CBRL_DEPENDS_MU};
  int B = test_quick() ? 20000 : 300000;
  for (int i = 0; i < 5; i++) {
    cbrl_problem *p = small_problem(10 + (uint64_t)i, depends[i]);
    assert_int_equal(p->flags, depends[i]);
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    double x[4] = {0.2, -0.3, 0.1, 0.4}, g[4], mean[4], se[4];
    for (int k = 0; k < 2; k++) {
      assert_ok(cbrl_exact_context(e, k, x, NULL, g));
      unbiased_mean(p, e, k, x, B, mean, se);
      for (int j = 0; j < 4; j++)
        if (fabs(mean[j] - g[j]) > 4.0 * se[j] + 1e-12)
          fail_msg("depends %x context %d coordinate %d: mean %.6f exact %.6f se %.6f", depends[i], k,
                   j, mean[j], g[j], se[j]);
    }
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

static double cosine(const double *a, const double *b, int n, double *rel) {
  double ab = 0, aa = 0, bb = 0, dd = 0;
  for (int j = 0; j < n; j++) ab += a[j] * b[j], aa += a[j] * a[j], bb += b[j] * b[j], dd += (a[j] - b[j]) * (a[j] - b[j]);
  *rel = sqrt(dd / aa);
  return ab / sqrt(aa * bb);
}

static void batch_estimator_approaches_exact_on_four_rooms(void **state) {
  if (test_quick()) skip();
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.beta = 3.0;
  cbrl_problem *p;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[105], g[105], gb[105], rel;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 0, 0);
  for (int j = 0; j < 105; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  int64_t N = 1000000;
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, N));
  cbrl_hpgd_opts ho = {.kind = CBRL_HPGD_BATCH, .steps = N, .streams = 5, .max_steps = 200};
  /* G2, where the gradient is large: cosine above 0.98 and relative error below 0.25. */
  assert_ok(cbrl_exact_context(e, 1, x, NULL, g));
  const cbrl_soft_solver *w = cbrl_exact_follower(e, 1);
  cbrl_policy pol = {104, 4, w->pi, w->log_pi};
  cbrl_estimate_info info;
  assert_ok(cbrl_hpgd_estimate(h, 1, x, cbrl_exact_mdp(e, 1), NULL, &pol, &ho, &rng, gb, &info));
  double c = cosine(g, gb, 105, &rel);
  print_message("batch estimate, N = 1e6, goal G2: cosine %.4f, relative error %.3f\n", c, rel);
  assert_true(c > 0.98);
  assert_true(rel < 0.25);
  assert_int_equal(info.env_steps, N);
  assert_true(info.finished > 1000);
  /* More steps, less error: N = 1e4 is much further off. */
  cbrl_hpgd_opts small = {.kind = CBRL_HPGD_BATCH, .steps = 10000, .streams = 5, .max_steps = 200};
  assert_ok(cbrl_hpgd_estimate(h, 1, x, cbrl_exact_mdp(e, 1), NULL, &pol, &small, &rng, gb, &info));
  double rel_small;
  cosine(g, gb, 105, &rel_small);
  assert_true(rel_small > rel);
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void batch_estimator_is_consistent_on_a_random_problem(void **state) {
  /* x in r, rbar, P and mu, terminal states: the biased batch estimate is within 10% at 2e5 steps. */
  cbrl_problem *p = small_problem(2, CBRL_DEPENDS_ALL);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0.2, -0.3, 0.1, 0.4}, g[4], gb[4], rel;
  assert_ok(cbrl_exact_context(e, 0, x, NULL, g));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  cbrl_policy pol = test_exact_policy(e, 0);
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 200000));
  cbrl_hpgd_opts ho = {.kind = CBRL_HPGD_BATCH, .steps = 200000, .streams = 5, .max_steps = 50};
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 9, 0);
  cbrl_estimate_info info;
  assert_ok(cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &ho, &rng, gb, &info));
  cosine(g, gb, 4, &rel);
  print_message("batch estimate on a random problem: relative error %.3f\n", rel);
  assert_true(rel < 0.1);
  ho.steps = 300000;
  assert_int_equal(cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &ho, &rng, gb, &info), CBRL_ERANGE);
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* A continuous simulator that embeds a tabular model: the state y is the index of s, moves
   follow the model's kernel, and the score of a transition is the model's grad log P of its
   entry (one vjp per entry, in prepare). Through it the estimators run every continuous code
   path, and must still agree with the exact gradient. */
typedef struct embedded {
  const cbrl_problem *p;
  int context;
  const cbrl_mdp *m;
  double *grad_log_p; /* n_transitions x dim */
} embedded;

static int emb_prepare(cbrl_simulator *sim, int context, const double *x, const cbrl_mdp *m) {
  embedded *e = sim->impl;
  e->context = context;
  e->m = m;
  int d = e->p->dim;
  free(e->grad_log_p);
  e->grad_log_p = calloc((size_t)m->n_transitions * d, sizeof(double));
  double *w = calloc((size_t)m->n_transitions, sizeof(double));
  for (int64_t k = 0; k < m->n_transitions; k++) {
    w[k] = 1.0;
    cbrl_cotangent ct = {NULL, NULL, w, NULL};
    int err = cbrl_mdp_vjp(m, e->p, context, x, &ct, e->grad_log_p + k * d);
    if (err) return err;
    w[k] = 0.0;
  }
  free(w);
  return 0;
}
static cbrl_sim_state emb_initial(const cbrl_simulator *sim, cbrl_rng *rng) {
  int32_t s = cbrl_sim_initial(((const embedded *)sim->impl)->m, rng);
  return (cbrl_sim_state){s, s};
}
static void emb_rewards(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, double *r, double *rbar) {
  const cbrl_mdp *m = ((const embedded *)sim->impl)->m;
  *r = m->r[(size_t)at.y * m->n_actions + a];
  *rbar = m->rbar[(size_t)at.y * m->n_actions + a];
}
static cbrl_sim_state emb_next(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, cbrl_rng *rng,
                               int64_t *entry) {
  int32_t s = cbrl_sim_next(((const embedded *)sim->impl)->m, (int32_t)at.y, a, rng, NULL);
  *entry = -1; /* as a continuous simulator: no entry, the score instead */
  return (cbrl_sim_state){s, s};
}
static void emb_score(const cbrl_simulator *sim, cbrl_sim_state from, int32_t a, cbrl_sim_state to, double w,
                      double *grad) {
  const embedded *e = sim->impl;
  const cbrl_mdp *m = e->m;
  assert_int_equal(from.s, (int32_t)from.y); /* both estimators pass the model states along */
  assert_int_equal(to.s, (int32_t)to.y);
  size_t sa = (size_t)from.y * m->n_actions + a;
  for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++)
    if (m->next[k] == (int32_t)to.y)
      for (int j = 0; j < e->p->dim; j++) grad[j] += w * e->grad_log_p[k * e->p->dim + j];
}
static const cbrl_simulator_ops embedded_ops = {emb_prepare, emb_initial, emb_next, emb_rewards, emb_score, NULL, NULL};

static void estimators_through_a_continuous_simulator_match_exact(void **state) {
  cbrl_random_opts o;
  test_small_problem_opts(21, CBRL_DEPENDS_R | CBRL_DEPENDS_RBAR | CBRL_DEPENDS_P, &o);
  o.n_contexts = 1;
  o.terminal_fraction = 0.0; /* continuous simulators have no terminal states */
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0.2, -0.3, 0.1, 0.4}, g[4], mean[4] = {0}, s2[4] = {0}, one[4];
  assert_ok(cbrl_exact_context(e, 0, x, NULL, g));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  cbrl_policy pol = test_exact_policy(e, 0);
  embedded emb = {p, 0, NULL, NULL};
  cbrl_simulator *c;
  assert_ok(cbrl_simulator_create(&c, p, &embedded_ops, &emb, "embedded"));
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 200000));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 78, 0);
  int B = test_quick() ? 20000 : 200000;
  for (int b = 0; b < B; b++) {
    assert_ok(sample(h, 0, x, m, NULL, &pol, &rng, one, NULL));
    for (int j = 0; j < 4; j++) mean[j] += one[j], s2[j] += one[j] * one[j];
  }
  for (int j = 0; j < 4; j++) {
    mean[j] /= B;
    double se = sqrt(fmax(s2[j] / B - mean[j] * mean[j], 0.0) / B);
    if (fabs(mean[j] - g[j]) > 4.0 * se + 1e-12)
      fail_msg("unbiased, coordinate %d: mean %.6f exact %.6f se %.6f", j, mean[j], g[j], se);
  }
  /* The batch estimator through the same simulator: close to exact given many steps. */
  cbrl_hpgd_opts ho = {.kind = CBRL_HPGD_BATCH, .steps = 200000, .streams = 5, .max_steps = 50};
  double gb[4], rel;
  assert_ok(cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &ho, &rng, gb, NULL));
  assert_true(cosine(gb, g, 4, &rel) > 0.99);
  cbrl_hpgd_free(h);
  cbrl_simulator_free(c);
  free(emb.grad_log_p);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void sample_mean_is_the_mean_of_samples_from_the_same_stream(void **state) {
  /* One vjp for the whole budget must give what separate samples average to: same draws, same
     samples counted, the same mean up to rounding. x in r, rbar, P and mu. */
  cbrl_problem *p = small_problem(3, CBRL_DEPENDS_ALL);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0.1, 0.2, -0.2, 0.3}, g[4], sum[4] = {0}, mean[4];
  assert_ok(cbrl_exact_context(e, 0, x, NULL, g));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  cbrl_policy pol = test_exact_policy(e, 0);
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 1000));
  cbrl_rng a, b;
  cbrl_rng_seed(&a, 5, 0);
  cbrl_rng_seed(&b, 5, 0);
  cbrl_estimate_info info;
  int64_t steps = 0, n = 0, budget = 3000;
  while (steps < budget) {
    assert_ok(sample(h, 0, x, m, NULL, &pol, &a, g, &info));
    for (int j = 0; j < 4; j++) sum[j] += g[j];
    steps += info.env_steps;
    n++;
  }
  cbrl_hpgd_opts mo = {.kind = CBRL_HPGD_UNBIASED, .steps = budget};
  assert_ok(cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &mo, &b, mean, &info));
  assert_int_equal(info.env_steps, steps);
  assert_int_equal(info.episodes, n);
  assert_true(n > 10);
  for (int j = 0; j < 4; j++) {
    double want = sum[j] / (double)n;
    if (fabs(mean[j] - want) > 1e-9 * (1.0 + fabs(want)))
      fail_msg("coordinate %d: one-vjp mean %.12g, mean of samples %.12g", j, mean[j], want);
  }
  assert_int_equal(cbrl_rng_next(&a), cbrl_rng_next(&b)); /* the same draws were consumed */
  mo.steps = 0; /* neither a budget nor a sample count */
  assert_int_equal(cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &mo, &b, mean, &info), CBRL_EINVAL);
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Issue 13 class 4: the unbiased estimator's memory does not grow with the horizon. Its
   continuations have horizons ~ Geometric(1 - gamma), 1e4 steps on average at gamma = 0.9999;
   a stored path grew with them, the per-entry counts do not (the heap is the same after the
   samples as before them; under ASan mallinfo2 reports zeros and the check is vacuous). */
static void unbiased_memory_does_not_grow_with_the_horizon(void **state) {
  const double gammas[3] = {0.99, 0.999, 0.9999};
  for (int i = 0; i < 3; i++) {
    cbrl_random_opts o;
    test_small_problem_opts(31, CBRL_DEPENDS_ALL, &o);
    o.terminal_fraction = 0.0;
    o.gamma = gammas[i];
    cbrl_problem *p;
    assert_ok(cbrl_random_problem_create(&p, &o));
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    double x[4] = {0.1, 0.2, -0.1, 0.3}, g[4];
    assert_ok(cbrl_exact_context(e, 0, x, NULL, g));
    const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
    cbrl_policy pol = test_exact_policy(e, 0);
    cbrl_hpgd *h;
    assert_ok(cbrl_hpgd_create(&h, p, 100));
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 5, (uint64_t)i);
    struct mallinfo2 before = mallinfo2();
    int64_t steps = 0;
    for (int b = 0; b < 20; b++) {
      cbrl_estimate_info info;
      assert_ok(sample(h, 0, x, m, NULL, &pol, &rng, g, &info));
      for (int j = 0; j < 4; j++) assert_true(isfinite(g[j]));
      steps += info.env_steps;
    }
    struct mallinfo2 after = mallinfo2();
    if (after.uordblks != before.uordblks)
      fail_msg("gamma %g: the heap grew from %zu to %zu bytes over %lld steps", gammas[i], before.uordblks,
               after.uordblks, (long long)steps);
    assert_true(steps > 20 * 0.1 / (1.0 - gammas[i]));
    cbrl_hpgd_free(h);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unbiased_estimator_matches_exact_within_4_standard_errors),
      cmocka_unit_test(unbiased_memory_does_not_grow_with_the_horizon),
      cmocka_unit_test(batch_estimator_approaches_exact_on_four_rooms),
      cmocka_unit_test(batch_estimator_is_consistent_on_a_random_problem),
      cmocka_unit_test(sample_mean_is_the_mean_of_samples_from_the_same_stream),
      cmocka_unit_test(estimators_through_a_continuous_simulator_match_exact),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
