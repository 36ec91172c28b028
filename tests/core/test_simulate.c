/* Tests for src/simulate.c and src/follower.c: sampling frequencies, episode bookkeeping, the
   paper-code kernel, and the exact follower. */
#include "test_util.h"

#include <string.h>

#include "cbrl/follower.h"
#include "cbrl/simulate.h"

static void next_state_frequencies_match_the_kernel(void **state) {
  for (int sim = 0; sim < 2; sim++) {
    cbrl_four_rooms_opts o;
    cbrl_four_rooms_opts_default(&o);
    o.simulator = sim ? CBRL_SIM_PAPER_CODE : CBRL_SIM_CONSISTENT;
    cbrl_problem *p;
    assert_ok(cbrl_four_rooms_create(&p, &o));
    assert_int_equal((p->flags & CBRL_SIM_KERNEL) != 0, sim);
    cbrl_mdp m;
    assert_ok(cbrl_mdp_init(&m, p, 0));
    double x[105] = {0};
    assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 1, 0);
    int s = cbrl_four_rooms_cell(2, 2), right = cbrl_four_rooms_cell(2, 3), up = cbrl_four_rooms_cell(1, 2);
    int n = 200000, hits_right = 0, hits_up = 0;
    for (int i = 0; i < n; i++) {
      int64_t entry;
      int32_t t = cbrl_sim_next(&m, s, 1, &rng, &entry);
      assert_int_equal(m.next[entry], t);
      hits_right += t == right;
      hits_up += t == up;
    }
    /* SPEC 6.1: consistent 0.56 / 0.1467; paper code 0.67 / 0.11. Hold 5 standard errors. */
    double p_right = sim ? 0.67 : 0.56, p_up = sim ? 0.11 : 4 * 0.33 / 9;
    assert_close(hits_right / (double)n, p_right, 0, 5 * sqrt(p_right * (1 - p_right) / n));
    assert_close(hits_up / (double)n, p_up, 0, 5 * sqrt(p_up * (1 - p_up) / n));
    cbrl_mdp_close(&m);
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

static void exact_follower_matches_the_soft_solver(void **state) {
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  cbrl_problem *p;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  cbrl_follower *f;
  assert_ok(cbrl_follower_exact_create(&f, p));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[105];
  for (int i = 0; i < 105; i++) x[i] = 0.1 * sin(i);
  for (int k = 0; k < 2; k++) {
    cbrl_policy pol;
    assert_ok(cbrl_exact_context(e, k, x, NULL, NULL));
    assert_ok(cbrl_follower_respond(f, k, x, cbrl_exact_mdp(e, k), NULL, &pol));
    assert_true(f->stats.converged);
    assert_int_equal(f->stats.samples, 0);
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    for (int i = 0; i < 416; i++) assert_close(pol.pi[i], w->pi[i], 1e-9, 1e-12);
    assert_ptr_equal(cbrl_follower_exact_solver(f, k)->pi, pol.pi);
  }
  assert_null(cbrl_follower_exact_solver(f, 2));
  assert_int_equal(cbrl_follower_respond(f, 5, x, cbrl_exact_mdp(e, 0), NULL, NULL), CBRL_EINVAL);
  cbrl_follower_free(f);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(next_state_frequencies_match_the_kernel),
      cmocka_unit_test(initial_states_and_actions_follow_their_distributions),
      cmocka_unit_test(batches_mark_terminated_truncated_and_cut_episodes),
      cmocka_unit_test(exact_follower_matches_the_soft_solver),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
