/* Tests for src/simulate.c: sampling frequencies, episode bookkeeping, and simulators (the
   paper-code kernel, the generic step loop against the tabular one). */
#include "test_util.h"

#include <string.h>

#include "cbrl/follower.h"
#include "cbrl/simulate.h"

static void next_state_frequencies_match_the_kernel(void **state) {
  for (int paper = 0; paper < 2; paper++) {
    cbrl_problem *p;
    assert_ok(cbrl_four_rooms_create(&p, NULL));
    cbrl_mdp model, m;
    assert_ok(cbrl_mdp_init(&model, p, 0));
    double x[105] = {0};
    assert_ok(cbrl_mdp_evaluate(&model, p, 0, x));
    cbrl_simulator *sim = NULL;
    if (paper) {
      assert_ok(cbrl_four_rooms_paper_sim_create(&sim, p));
      assert_ok(cbrl_simulator_prepare(sim, 0, x, &model));
      assert_non_null(sim->ops->kernel);
    }
    cbrl_simulator_tabular(sim, &model, &m); /* the kernel a learner samples */
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 1, 0);
    int s = cbrl_four_rooms_cell(2, 2), right = cbrl_four_rooms_cell(2, 3), up = cbrl_four_rooms_cell(1, 2);
    int n = 200000, hits_right = 0, hits_up = 0;
    for (int i = 0; i < n; i++) {
      int64_t entry;
      int32_t t = sim ? sim->ops->next(sim, (cbrl_sim_state){s, 0.0}, 1, &rng, &entry).s
                      : cbrl_sim_next(&m, s, 1, &rng, &entry);
      assert_int_equal(m.next[entry], t);
      hits_right += t == right;
      hits_up += t == up;
    }
    /* docs/ENVIRONMENTS.md 1: consistent 0.56 / 0.1467; paper code 0.67 / 0.11. Hold 5 standard errors. */
    double p_right = paper ? 0.67 : 0.56, p_up = paper ? 0.11 : 4 * 0.33 / 9;
    assert_close(hits_right / (double)n, p_right, 0, 5 * sqrt(p_right * (1 - p_right) / n));
    assert_close(hits_up / (double)n, p_up, 0, 5 * sqrt(p_up * (1 - p_up) / n));
    cbrl_simulator_free(sim);
    cbrl_mdp_close(&model);
    cbrl_problem_free(p);
  }
}

static void initial_states_and_actions_follow_their_distributions(void **state) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 12;
  o.branch = 4;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[3] = {0.5, -0.5, 0.2};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  double pi[36], log_pi[36];
  for (int i = 0; i < 36; i++) pi[i] = (i % 3 + 1) / 6.0, log_pi[i] = log(pi[i]);
  cbrl_policy pol = {12, 3, pi, log_pi};
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 8, 0);
  int n = 120000, start[12] = {0}, act[3] = {0};
  for (int i = 0; i < n; i++) {
    start[cbrl_sim_initial(&m, &rng)]++;
    act[cbrl_sim_action(&pol, 5, &rng)]++;
  }
  for (int s = 0; s < 12; s++) {
    if (m.mu[s] == 0.0) assert_int_equal(start[s], 0);
    assert_close(start[s] / (double)n, m.mu[s], 0, 5 * sqrt(m.mu[s] * (1 - m.mu[s]) / n) + 1e-12);
  }
  for (int a = 0; a < 3; a++) assert_close(act[a] / (double)n, pi[15 + a], 0, 5 * sqrt(pi[15 + a] * (1 - pi[15 + a]) / n));
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

static void batches_mark_terminated_truncated_and_cut_episodes(void **state) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 12;
  o.terminal_fraction = 0.2;
  o.seed = 4;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[3] = {0};
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  const cbrl_soft_solver *w = cbrl_exact_follower(e, 0);
  cbrl_policy pol = {m->n_states, m->n_actions, w->pi, w->log_pi};
  cbrl_batch b;
  assert_ok(cbrl_batch_init(&b, 3000));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2, 0);
  assert_ok(cbrl_sim_batch(m, &pol, 3, 1000, 7, 0, &rng, &b));
  assert_int_equal(b.n_steps, 3000);
  int64_t episodes = 0, finished = 0, cuts = 0;
  for (int64_t i = 0; i < b.n_steps; i++) {
    const cbrl_step *st = &b.steps[i];
    if (st->t == 0) episodes++;
    assert_true(st->t < 7);
    assert_close(st->log_pi, w->log_pi[st->s * m->n_actions + st->a], 0, 0);
    if (st->flags & CBRL_STEP_TERMINATED) {
      assert_true(m->terminal[st->s]);
      assert_int_equal(st->next, -1);
      finished++;
    } else {
      assert_false(m->terminal[st->s]);
      assert_int_equal(m->next[st->entry], st->next);
    }
    if (st->flags & CBRL_STEP_TRUNCATED) assert_int_equal(st->t, 6), finished++;
    if (st->flags & CBRL_STEP_CUT) cuts++;
    if (i + 1 < b.n_steps && !st->flags) assert_int_equal(b.steps[i + 1].t, st->t + 1);
  }
  assert_int_equal(episodes, b.n_episodes);
  assert_int_equal(finished, b.n_finished);
  assert_true(cuts <= 3);
  assert_int_equal(b.n_episodes, b.n_finished + cuts);
  assert_int_equal(cbrl_sim_batch(m, &pol, 4, 1000, 7, 0, &rng, &b), CBRL_ERANGE);
  cbrl_batch_close(&b);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* A simulator without a kernel goes through the generic step loop; one that wraps the model's
   own kernel must give, from the same stream, exactly the steps of the tabular path. */
typedef struct same_model {
  const cbrl_mdp *m;
} same_model;
static int sm_prepare(cbrl_simulator *sim, int context, const double *x, const cbrl_mdp *m) {
  ((same_model *)sim->impl)->m = m;
  return 0;
}
static cbrl_sim_state sm_initial(const cbrl_simulator *sim, cbrl_rng *rng) {
  return (cbrl_sim_state){cbrl_sim_initial(((const same_model *)sim->impl)->m, rng), 0.0};
}
static cbrl_sim_state sm_next(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, cbrl_rng *rng, int64_t *entry) {
  int32_t next = cbrl_sim_next(((const same_model *)sim->impl)->m, at.s, a, rng, entry);
  return (cbrl_sim_state){next, next + 0.5};
}
static void sm_rewards(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, double *r, double *rbar) {
  const cbrl_mdp *m = ((const same_model *)sim->impl)->m;
  *r = m->r[at.s * m->n_actions + a];
  *rbar = m->rbar[at.s * m->n_actions + a];
}
static void sm_score(const cbrl_simulator *sim, cbrl_sim_state from, int32_t a, cbrl_sim_state to, double w,
                     double *grad) {}
static const cbrl_simulator_ops same_model_ops = {sm_prepare, sm_initial, sm_next, sm_rewards, sm_score, NULL, NULL};

static void the_generic_step_loop_matches_the_tabular_one(void **state) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 12;
  o.terminal_fraction = 0.2;
  o.seed = 4;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[3] = {0.1, 0.2, -0.3};
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  cbrl_policy pol = test_exact_policy(e, 0);
  same_model impl;
  cbrl_simulator *sim;
  assert_ok(cbrl_simulator_create(&sim, p, &same_model_ops, &impl, "same"));
  assert_ok(cbrl_simulator_prepare(sim, 0, x, m));
  cbrl_batch a, b;
  assert_ok(cbrl_batch_init(&a, 900));
  assert_ok(cbrl_batch_init(&b, 900));
  cbrl_rng r1, r2;
  cbrl_rng_seed(&r1, 9, 0);
  r2 = r1;
  assert_ok(cbrl_sim_batch(m, &pol, 3, 300, 7, 0, &r1, &a));
  assert_ok(cbrl_simulator_batch(sim, &pol, 3, 300, 7, 0, &r2, &b));
  assert_int_equal(a.n_steps, b.n_steps);
  assert_int_equal(a.n_episodes, b.n_episodes);
  assert_int_equal(a.n_finished, b.n_finished);
  for (int64_t i = 0; i < a.n_steps; i++) {
    assert_int_equal(a.steps[i].s, b.steps[i].s);
    assert_int_equal(a.steps[i].next, b.steps[i].next);
    assert_int_equal(a.steps[i].entry, b.steps[i].entry);
    assert_int_equal(a.steps[i].flags, b.steps[i].flags);
    assert_close(b.state[i], b.steps[i].t ? b.steps[i].s + 0.5 : 0.0, 0, 0);
  }
  /* Only a simulator with a kernel can be coupled. */
  assert_int_equal(cbrl_simulator_batch(sim, &pol, 3, 300, 7, CBRL_SIM_COUPLED, &r2, &b), CBRL_ENOTSUP);
  assert_int_equal(cbrl_simulator_create(&sim, p, &(cbrl_simulator_ops){0}, &impl, "bad"), CBRL_EINVAL);
  cbrl_simulator_free(sim);
  cbrl_batch_close(&a);
  cbrl_batch_close(&b);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(next_state_frequencies_match_the_kernel),
      cmocka_unit_test(initial_states_and_actions_follow_their_distributions),
      cmocka_unit_test(batches_mark_terminated_truncated_and_cut_episodes),
      cmocka_unit_test(the_generic_step_loop_matches_the_tabular_one),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
