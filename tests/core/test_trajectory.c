/* Tests for src/trajectory.c: a follower's own batch gives the same estimate as the leader's
   simulation of the same steps, and every defect of a batch is refused with a message naming
   the step and the field. */
#include "test_util.h"

#include <string.h>

/* The exact policy of context 0 at x = 0 and its MDP, in e. */
static cbrl_policy solved(cbrl_exact *e, const cbrl_problem *p) {
  double *x = calloc((size_t)p->dim, sizeof(double)), f;
  assert_ok(cbrl_exact_context(e, 0, x, &f, NULL));
  free(x);
  return test_exact_policy(e, 0);
}

/* A batch simulated from pi with only what a follower would report (entry, t and rbar wiped). */
static void follower_batch(const cbrl_mdp *m, const cbrl_policy *pi, int64_t n, uint64_t seed, cbrl_batch *b) {
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, 0);
  assert_ok(cbrl_batch_init(b, n));
  assert_ok(cbrl_sim_batch(m, pi, 2, n / 2, 30, 0, &rng, b));
  for (int64_t i = 0; i < b->n_steps; i++) b->steps[i].entry = -7, b->steps[i].t = -7, b->steps[i].rbar = NAN;
}

/* On a problem whose transitions depend on x (every estimator field needed), the estimate from the
   follower's batch equals, bit for bit, the one cbrl_hpgd_estimate makes from the same draws. */
static void batch_estimate_equals_the_simulated_one(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  assert_true(p->flags & CBRL_DEPENDS_P);
  assert_int_equal(cbrl_trajectory_needs(p), CBRL_TRAJ_REWARD | CBRL_TRAJ_LOG_PI);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_policy pi = solved(e, p);
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  double x[3] = {0, 0, 0}, g1[3], g2[3];
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 4000));
  cbrl_hpgd_opts o;
  cbrl_hpgd_opts_default(&o);
  o.steps = 4000;
  o.streams = 2;
  o.max_steps = 30;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 11, 0);
  cbrl_estimate_info i1, i2;
  assert_ok(cbrl_hpgd_estimate(h, 0, x, m, NULL, &pi, &o, &rng, g1, &i1));
  cbrl_batch b;
  follower_batch(m, &pi, 4000, 11, &b);
  char msg[256];
  assert_ok(cbrl_hpgd_estimate_batch(h, 0, x, m, &b, &o, g2, &i2, msg, sizeof msg));
  for (int j = 0; j < 3; j++) assert_true(g1[j] == g2[j]);
  assert_int_equal(i1.episodes, i2.episodes);
  assert_int_equal(i1.finished, i2.finished);
  assert_int_equal(i1.env_steps, i2.env_steps);
  assert_true(g1[0] != 0.0);
  /* The unbiased estimator cannot take a batch, and says why. */
  o.kind = CBRL_HPGD_UNBIASED;
  cbrl_batch_close(&b);
  follower_batch(m, &pi, 4000, 11, &b);
  assert_int_equal(cbrl_hpgd_estimate_batch(h, 0, x, m, &b, &o, g2, NULL, msg, sizeof msg), CBRL_ENOTSUP);
  assert_non_null(strstr(msg, "hpgd-batch"));
  cbrl_batch_close(&b);
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Corrupts a fresh copy of a good batch with `edit`, and expects the message to contain `want`. */
static void expect_refused(const cbrl_mdp *m, const cbrl_policy *pi, unsigned needs, void (*edit)(cbrl_batch *, const cbrl_mdp *),
                           const char *want) {
  cbrl_batch b;
  follower_batch(m, pi, 200, 3, &b);
  edit(&b, m);
  char msg[256] = "";
  int err = cbrl_trajectory_complete(&b, m, needs, msg, sizeof msg);
  if (!err || !strstr(msg, want)) fail_msg("expected an error with \"%s\", got %d \"%s\"", want, err, msg);
  cbrl_batch_close(&b);
}

/* The first step of b in a non-terminal state that continues its episode. */
static int64_t inner_step(const cbrl_batch *b, const cbrl_mdp *m) {
  for (int64_t i = 0; i + 1 < b->n_steps; i++)
    if (!b->steps[i].flags && !m->terminal[b->steps[i].s]) return i;
  fail_msg("no inner step");
  return -1;
}

static void bad_state(cbrl_batch *b, const cbrl_mdp *m) { b->steps[0].s = m->n_states; }
static void bad_action(cbrl_batch *b, const cbrl_mdp *m) { (void)m; b->steps[1].a = -1; }
static void nan_log_pi(cbrl_batch *b, const cbrl_mdp *m) { (void)m; b->steps[2].log_pi = NAN; }
static void positive_log_pi(cbrl_batch *b, const cbrl_mdp *m) { (void)m; b->steps[2].log_pi = 0.5; }
static void nan_reward(cbrl_batch *b, const cbrl_mdp *m) { (void)m; b->steps[3].r = NAN; }
static void broken_chain(cbrl_batch *b, const cbrl_mdp *m) {
  int64_t i = inner_step(b, m);
  b->steps[i + 1].s = (b->steps[i].next + 1) % m->n_states;
}
static void impossible_next(cbrl_batch *b, const cbrl_mdp *m) {
  int64_t i = inner_step(b, m);
  cbrl_step *st = &b->steps[i];
  size_t sa = (size_t)st->s * m->n_actions + st->a;
  /* A state no entry of (s, a) leads to. */
  for (int32_t s2 = 0; s2 < m->n_states; s2++) {
    int found = 0;
    for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) found |= m->next[k] == s2 && m->prob[k] > 0.0;
    if (!found) {
      st->next = s2;
      b->steps[i + 1].s = s2;
      return;
    }
  }
  fail_msg("every state follows");
}
static void not_terminated(cbrl_batch *b, const cbrl_mdp *m) {
  for (int64_t i = 0; i < b->n_steps; i++)
    if (m->terminal[b->steps[i].s]) {
      b->steps[i].flags = 0;
      return;
    }
  fail_msg("no terminal step");
}
static void false_terminated(cbrl_batch *b, const cbrl_mdp *m) {
  int64_t i = inner_step(b, m);
  b->steps[i].flags = CBRL_STEP_TERMINATED;
}
static void empty(cbrl_batch *b, const cbrl_mdp *m) { (void)m; b->n_steps = 0; }

static void defects_are_refused_with_the_field(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_policy pi = solved(e, p);
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  unsigned all = CBRL_TRAJ_REWARD | CBRL_TRAJ_LOG_PI;
  expect_refused(m, &pi, all, bad_state, "step 0: state");
  expect_refused(m, &pi, all, bad_action, "step 1: action");
  expect_refused(m, &pi, all, nan_log_pi, "step 2: log_pi");
  expect_refused(m, &pi, all, positive_log_pi, "step 2: log_pi");
  expect_refused(m, &pi, all, nan_reward, "step 3: reward");
  expect_refused(m, &pi, all, broken_chain, "did not end its episode");
  expect_refused(m, &pi, all, impossible_next, "cannot follow");
  expect_refused(m, &pi, all, not_terminated, "is terminal");
  expect_refused(m, &pi, all, false_terminated, "is not terminal");
  expect_refused(m, &pi, all, empty, "batch:");
  /* Where x leaves the transitions alone, log pi and r are not needed: NaN is accepted. */
  cbrl_batch b;
  follower_batch(m, &pi, 200, 3, &b);
  for (int64_t i = 0; i < b.n_steps; i++) b.steps[i].log_pi = b.steps[i].r = NAN;
  char msg[256];
  assert_ok(cbrl_trajectory_complete(&b, m, 0, msg, sizeof msg));
  assert_true(b.steps[0].t == 0 && b.steps[0].rbar == m->rbar[(size_t)b.steps[0].s * m->n_actions + b.steps[0].a]);
  cbrl_batch_close(&b);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(batch_estimate_equals_the_simulated_one),
      cmocka_unit_test(defects_are_refused_with_the_field),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
