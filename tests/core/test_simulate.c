/* Tests for src/simulate.c: sampling frequencies, episode bookkeeping, and simulators (the
   paper-code kernel, the generic step loop against the tabular one). */
#include "test_util.h"

#include <string.h>

#include "cbrl/follower.h"
#include "cbrl/simulate.h"
#include "cbrl/env/tax.h"

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

/* Counts of one categorical row against its probabilities w (n outcomes): outcomes of weight 0
   never seen; with `each`, every outcome that expects at least 10 on either side within 4
   standard errors; and the row's Pearson statistic added to *x2 (its degrees of freedom to
   *df), with the outcomes that expect fewer than 5 pooled into one cell (that cell merged into
   the smallest other when it still expects fewer than 5). */
static void check_row(const double *w, const int64_t *count, int64_t n, int each, double *x2, double *df) {
  int64_t total = 0, cells = 0, pooled_count = 0;
  double wsum = 0.0, pooled_e = 0.0, chi = 0.0, min_e = INFINITY;
  int64_t min_count = 0;
  for (int64_t k = 0; k < n; k++) total += count[k], wsum += w[k] > 0.0 ? w[k] : 0.0;
  if (!total) return;
  for (int64_t k = 0; k < n; k++) {
    double p = w[k] > 0.0 ? w[k] / wsum : 0.0, e = (double)total * p;
    if (p == 0.0) {
      assert_int_equal(count[k], 0);
      continue;
    }
    if (each && e * (1 - p) >= 10.0) assert_close((double)count[k], e, 0, 4 * sqrt(e * (1 - p)));
    if (e < 5.0) {
      pooled_e += e, pooled_count += count[k];
      continue;
    }
    if (e < min_e) min_e = e, min_count = count[k];
    cells++;
    chi += ((double)count[k] - e) * ((double)count[k] - e) / e;
  }
  if (pooled_e > 0.0 && pooled_e < 5.0 && cells > 0) {
    /* Merge the pool into the smallest cell. */
    chi -= ((double)min_count - min_e) * ((double)min_count - min_e) / min_e;
    pooled_e += min_e, pooled_count += min_count;
    cells--;
  }
  if (pooled_e >= 5.0) {
    chi += ((double)pooled_count - pooled_e) * ((double)pooled_count - pooled_e) / pooled_e;
    cells++;
  }
  if (cells > 1) *x2 += chi, *df += (double)(cells - 1);
}

/* cbrl_sim_batch's alias-table draws against the kernel they sample (docs/MODEL.md 4.1): many
   batches of one policy; per state-action the next-state entries, per state the actions, and the
   initial states. Each of the 40 most visited state-actions' entries within 4 standard errors
   (a few hundred cells, so a correct sampler fails this rarely), and over every row that
   expects 5 of each of its outcomes, the Pearson statistic within 4 standard errors of its
   degrees of freedom. */
static void check_batch_frequencies(const cbrl_mdp *m, const cbrl_simulator *sim, const cbrl_policy *pol,
                                    int n_batches) {
  int S = m->n_states, A = m->n_actions;
  size_t SA = (size_t)S * A;
  int64_t *entry = calloc((size_t)m->n_transitions, sizeof *entry), *sa_count = calloc(SA, sizeof *sa_count);
  int64_t *start = calloc((size_t)S, sizeof *start);
  cbrl_batch b;
  assert_ok(cbrl_batch_init(&b, 100000));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 77, 1);
  for (int i = 0; i < n_batches; i++) {
    if (sim) assert_ok(cbrl_simulator_batch(sim, pol, 9, 11000, 200, 0, &rng, &b));
    else assert_ok(cbrl_sim_batch(m, pol, 9, 11000, 200, 0, &rng, &b));
    for (int64_t j = 0; j < b.n_steps; j++) {
      const cbrl_step *st = &b.steps[j];
      size_t sa = (size_t)st->s * A + st->a;
      sa_count[sa]++;
      if (st->t == 0) start[st->s]++;
      assert_close(st->r, m->r[sa], 0, 0);
      assert_close(st->log_pi, pol->log_pi[sa], 0, 0);
      if (m->terminal[st->s]) {
        assert_int_equal(st->entry, -1);
      } else {
        assert_true(st->entry >= m->row[sa] && st->entry < m->row[sa + 1]);
        assert_int_equal(st->next, m->next[st->entry]);
        entry[st->entry]++;
      }
    }
  }
  /* The 40 most visited state-actions with two or more outcomes. */
  int64_t top[40];
  int n_top = 0;
  for (; n_top < 40; n_top++) {
    int64_t best = -1;
    for (size_t sa = 0; sa < SA; sa++) {
      int taken = m->terminal[sa / A] || m->row[sa + 1] - m->row[sa] < 2;
      for (int i = 0; i < n_top && !taken; i++) taken = top[i] == (int64_t)sa;
      if (!taken && (best < 0 || sa_count[sa] > sa_count[best])) best = (int64_t)sa;
    }
    if (best < 0) break;
    top[n_top] = best;
  }
  double x2 = 0.0, df = 0.0;
  for (size_t sa = 0; sa < SA; sa++) {
    if (m->terminal[sa / A]) continue;
    int each = 0;
    for (int i = 0; i < n_top; i++) each |= top[i] == (int64_t)sa;
    check_row(m->prob + m->row[sa], entry + m->row[sa], m->row[sa + 1] - m->row[sa], each, &x2, &df);
  }
  assert_true(df > 0);
  assert_close(x2, df, 0, 4 * sqrt(2 * df));
  /* Actions: each of the most visited states' within 4 standard errors; every state in the statistic. */
  x2 = df = 0.0;
  for (int s = 0; s < S; s++) {
    int each = 0;
    for (int i = 0; i < n_top; i++) each |= top[i] / A == s;
    check_row(pol->pi + (size_t)s * A, sa_count + (size_t)s * A, A, each, &x2, &df);
  }
  assert_true(df > 0);
  assert_close(x2, df, 0, 4 * sqrt(2 * df));
  x2 = df = 0.0;
  check_row(m->mu, start, S, 1, &x2, &df);
  if (df > 0) assert_close(x2, df, 0, 4 * sqrt(2 * df));
  cbrl_batch_close(&b);
  free(entry);
  free(sa_count);
  free(start);
}

static void batch_draws_follow_every_environments_kernel(void **state) {
  int n_batches = test_quick() ? 2 : 10;
  for (int env = 0; env < 4; env++) {
    cbrl_problem *p;
    if (env < 2) {
      assert_ok(cbrl_four_rooms_create(&p, NULL));
    } else if (env == 2) {
      cbrl_tax_opts o;
      cbrl_tax_opts_default(&o);
      o.n_bins = 60;
      assert_ok(cbrl_tax_create(&p, &o));
    } else {
      cbrl_random_opts o;
      cbrl_random_opts_default(&o);
      o.n_states = 30;
      o.branch = 4;
      o.terminal_fraction = 0.1;
      o.lambda = 0.3;
      assert_ok(cbrl_random_problem_create(&p, &o));
    }
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    double *x = calloc((size_t)p->dim, sizeof *x);
    if (env == 2) cbrl_tax_x_for_rate(0.3, x);
    for (int k = 0; k < p->n_contexts; k++) {
      assert_ok(cbrl_exact_context(e, k, x, NULL, NULL));
      const cbrl_mdp *model = cbrl_exact_mdp(e, k);
      cbrl_policy pol = test_exact_policy(e, k);
      cbrl_simulator *sim = NULL;
      cbrl_mdp m = *model;
      if (env == 1) {
        /* The paper-code kernel, through the simulator's tabular path. */
        assert_ok(cbrl_four_rooms_paper_sim_create(&sim, p));
        assert_ok(cbrl_simulator_prepare(sim, k, x, model));
        cbrl_simulator_tabular(sim, model, &m);
      }
      check_batch_frequencies(&m, sim, &pol, n_batches);
      cbrl_simulator_free(sim);
    }
    free(x);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

/* A simulator without a kernel goes through the generic step loop; one that wraps the model's
   own kernel must give, from the same stream, exactly the steps that the single draws
   (cbrl_sim_initial, cbrl_sim_action, cbrl_sim_next) make in the documented order. */
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
  cbrl_batch b;
  assert_ok(cbrl_batch_init(&b, 900));
  cbrl_rng r1, r2;
  cbrl_rng_seed(&r1, 9, 0);
  r2 = r1;
  assert_ok(cbrl_simulator_batch(sim, &pol, 3, 300, 7, 0, &r2, &b));
  /* The reference: per stream s_0, then per step the action and the next state, and a restart
     where an episode ends before the stream does. */
  int64_t j = 0, episodes = 0, finished = 0;
  for (int stream = 0; stream < 3; stream++) {
    int32_t s = cbrl_sim_initial(m, &r1), t = 0;
    episodes++;
    for (int i = 0; i < 300; i++, j++) {
      const cbrl_step *st = &b.steps[j];
      int32_t act = cbrl_sim_action(&pol, s, &r1);
      int64_t entry;
      int32_t next = cbrl_sim_next(m, s, act, &r1, &entry);
      assert_int_equal(st->s, s);
      assert_int_equal(st->a, act);
      assert_int_equal(st->t, t);
      assert_int_equal(st->next, next);
      assert_int_equal(st->entry, entry);
      assert_close(st->r, m->r[s * m->n_actions + act], 0, 0);
      assert_close(st->log_pi, pol.log_pi[s * m->n_actions + act], 0, 0);
      assert_close(b.state[j], t ? s + 0.5 : 0.0, 0, 0);
      unsigned flags = next < 0 ? CBRL_STEP_TERMINATED : t + 1 >= 7 ? CBRL_STEP_TRUNCATED : i + 1 == 300 ? CBRL_STEP_CUT : 0;
      assert_int_equal(st->flags, flags);
      if (flags & (CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED)) {
        finished++;
        if (i + 1 < 300) s = cbrl_sim_initial(m, &r1), t = 0, episodes++;
      } else {
        s = next, t++;
      }
    }
  }
  assert_int_equal(b.n_steps, j);
  assert_int_equal(b.n_episodes, episodes);
  assert_int_equal(b.n_finished, finished);
  assert_memory_equal(&r1, &r2, sizeof r1);
  /* Only a simulator with a kernel can be coupled. */
  assert_int_equal(cbrl_simulator_batch(sim, &pol, 3, 300, 7, CBRL_SIM_COUPLED, &r2, &b), CBRL_ENOTSUP);
  assert_int_equal(cbrl_simulator_create(&sim, p, &(cbrl_simulator_ops){0}, &impl, "bad"), CBRL_EINVAL);
  cbrl_simulator_free(sim);
  cbrl_batch_close(&b);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(next_state_frequencies_match_the_kernel),
      cmocka_unit_test(initial_states_and_actions_follow_their_distributions),
      cmocka_unit_test(batch_draws_follow_every_environments_kernel),
      cmocka_unit_test(batches_mark_terminated_truncated_and_cut_episodes),
      cmocka_unit_test(the_generic_step_loop_matches_the_tabular_one),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
