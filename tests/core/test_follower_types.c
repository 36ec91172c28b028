/* Tests for src/follower_types.c: the objective of several weighted follower types is the
   weighted sum of the types' own objectives (value and gradient), a leader whose types have
   different followers (exact and learning) reports that sum, and each type's estimate is the
   one a separate run on that type alone makes. */
#include "test_util.h"

#include <string.h>

/* A random problem of 8 states, 3 actions, d = 3, two contexts; seeds differ between types. */
static cbrl_problem *type_problem(uint64_t seed) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 8;
  o.n_actions = 3;
  o.dim = 3;
  o.n_contexts = 2;
  o.gamma = 0.8;
  o.leader_gamma = 0.7;
  o.lambda = 0.5;
  o.seed = seed;
  o.terminal_fraction = 0.25;
  cbrl_problem *p = NULL;
  assert_ok(cbrl_random_problem_create(&p, &o));
  /* The types of one population share the context weights (the generator draws its own). */
  p->context_weight[0] = 0.35, p->context_weight[1] = 0.65;
  return p;
}

static void the_objective_is_the_weighted_sum(void **state) {
  cbrl_problem *t[2] = {type_problem(5), type_problem(6)}, *p;
  double w[2] = {0.3, 0.7}, x[3] = {0.2, -0.1, 0.4};
  assert_ok(cbrl_problem_types_create(&p, t, w, 2));
  assert_int_equal(p->n_contexts, 4);
  assert_close(p->context_weight[3], t[0]->context_weight[1] * 0.7, 0, 1e-15);
  assert_int_equal(cbrl_problem_types_type(p, 3), 1);
  cbrl_exact *e, *e0, *e1;
  assert_ok(cbrl_exact_create(&e, p));
  assert_ok(cbrl_exact_create(&e0, t[0]));
  assert_ok(cbrl_exact_create(&e1, t[1]));
  double F, F0, F1, g[3], g0[3], g1[3];
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  assert_ok(cbrl_exact_evaluate(e0, x, &F0, NULL, g0));
  assert_ok(cbrl_exact_evaluate(e1, x, &F1, NULL, g1));
  assert_close(F, 0.3 * F0 + 0.7 * F1, 1e-12, 1e-14);
  for (int j = 0; j < 3; j++) assert_close(g[j], 0.3 * g0[j] + 0.7 * g1[j], 1e-10, 1e-12);
  /* Types that do not fit together are refused. */
  cbrl_problem *q;
  double bad[2] = {0.5, 0.6};
  assert_int_equal(cbrl_problem_types_create(&q, t, bad, 2), CBRL_EINVAL);
  cbrl_problem *other = test_four_rooms(1.0, 0.003), *mixed[2] = {t[0], other};
  assert_int_equal(cbrl_problem_types_create(&q, mixed, w, 2), CBRL_EINVAL);
  cbrl_problem_free(other);
  cbrl_exact_free(e);
  cbrl_exact_free(e0);
  cbrl_exact_free(e1);
  cbrl_problem_free(p);
  cbrl_problem_free(t[0]);
  cbrl_problem_free(t[1]);
}

/* HPGD with an exact follower for type 0 and an online learner for type 1: every metric F is
   the weighted sum of the types' F at the iterate, each evaluated separately; and each type's
   estimate at a context is the separate run's, with the same random numbers, bit for bit. */
static void a_leader_with_mixed_followers_reports_the_sum(void **state) {
  cbrl_problem *t[2] = {type_problem(5), type_problem(6)}, *p;
  double w[2] = {0.4, 0.6};
  assert_ok(cbrl_problem_types_create(&p, t, w, 2));
  cbrl_follower *f0, *f1, *fs[2], *f;
  assert_ok(cbrl_follower_exact_create(&f0, t[0]));
  assert_ok(cbrl_follower_online_create(&f1, t[1], 500, 30));
  fs[0] = f0, fs[1] = f1;
  assert_ok(cbrl_follower_types_create(&f, p, fs));
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.follower = f;
  o.hpgd.steps = 2000;
  o.hpgd.streams = 2;
  o.hpgd.max_steps = 30;
  o.learning_rate = 0.2;
  o.seed = 9;
  cbrl_leader *L;
  assert_ok(cbrl_leader_create(&L, p, &o, NULL));
  cbrl_exact *e0, *e1;
  assert_ok(cbrl_exact_create(&e0, t[0]));
  assert_ok(cbrl_exact_create(&e1, t[1]));
  int seen[4] = {0};
  for (int it = 0; it < 30; it++) {
    double x[3], F0, F1;
    memcpy(x, cbrl_leader_x(L), sizeof x);
    cbrl_leader_metrics m;
    assert_ok(cbrl_leader_step(L, 1, &m));
    seen[m.context] = 1;
    assert_ok(cbrl_exact_evaluate(e0, x, &F0, NULL, NULL));
    assert_ok(cbrl_exact_evaluate(e1, x, &F1, NULL, NULL));
    assert_close(m.F, 0.4 * F0 + 0.6 * F1, 1e-10, 1e-12);
    assert_int_equal(m.follower_samples, cbrl_problem_types_type(p, m.context) == 1 ? 500 : 0);
  }
  assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
  /* One estimate of context 1 * 2 + 1 (type 1, context 1) against a separate run on type 1. */
  cbrl_follower *g1;
  assert_ok(cbrl_follower_exact_create(&g1, t[1]));
  cbrl_follower *gs[2] = {f0, g1}, *g;
  assert_ok(cbrl_follower_types_create(&g, p, gs));
  double x[3] = {0.1, 0.2, -0.3}, ga[3], gb[3];
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  cbrl_hpgd *ha, *hb;
  assert_ok(cbrl_hpgd_create(&ha, p, 2000));
  assert_ok(cbrl_hpgd_create(&hb, t[1], 2000));
  cbrl_rng ra, rb;
  cbrl_rng_seed(&ra, 4, 0);
  cbrl_rng_seed(&rb, 4, 0);
  cbrl_policy pa, pb;
  assert_ok(cbrl_exact_set_x(e, 3, x));
  assert_ok(cbrl_exact_set_x(e1, 1, x));
  assert_ok(cbrl_follower_respond(g, 3, x, cbrl_exact_mdp(e, 3), NULL, &ra, &pa));
  cbrl_follower *h1;
  assert_ok(cbrl_follower_exact_create(&h1, t[1]));
  assert_ok(cbrl_follower_respond(h1, 1, x, cbrl_exact_mdp(e1, 1), NULL, &rb, &pb));
  assert_ok(cbrl_hpgd_estimate(ha, 3, x, cbrl_exact_mdp(e, 3), NULL, &pa, &o.hpgd, &ra, ga, NULL));
  assert_ok(cbrl_hpgd_estimate(hb, 1, x, cbrl_exact_mdp(e1, 1), NULL, &pb, &o.hpgd, &rb, gb, NULL));
  for (int j = 0; j < 3; j++) assert_true(ga[j] == gb[j]);
  cbrl_hpgd_free(ha);
  cbrl_hpgd_free(hb);
  cbrl_exact_free(e);
  cbrl_follower_free(h1);
  cbrl_follower_free(g);
  cbrl_follower_free(g1);
  cbrl_leader_free(L);
  cbrl_exact_free(e0);
  cbrl_exact_free(e1);
  cbrl_follower_free(f);
  cbrl_follower_free(f0);
  cbrl_follower_free(f1);
  cbrl_problem_free(p);
  cbrl_problem_free(t[0]);
  cbrl_problem_free(t[1]);
}

/* A type that checks its own rows (CBRL_ROWS_CHECKED, as the tax economy does) lets the mixture
   skip the generic row check only if every type does: else the other types' rows go unchecked. */
static void the_row_check_is_skipped_only_if_every_type_checks_its_own(void **state) {
  cbrl_problem *t[2] = {type_problem(5), type_problem(6)}, *p;
  double w[2] = {0.3, 0.7};
  t[0]->flags |= CBRL_ROWS_CHECKED;
  assert_ok(cbrl_problem_types_create(&p, t, w, 2));
  assert_false(p->flags & CBRL_ROWS_CHECKED);
  cbrl_problem_free(p);
  t[1]->flags |= CBRL_ROWS_CHECKED;
  assert_ok(cbrl_problem_types_create(&p, t, w, 2));
  assert_true(p->flags & CBRL_ROWS_CHECKED);
  cbrl_problem_free(p);
  cbrl_problem_free(t[0]);
  cbrl_problem_free(t[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_objective_is_the_weighted_sum),
      cmocka_unit_test(the_row_check_is_skipped_only_if_every_type_checks_its_own),
      cmocka_unit_test(a_leader_with_mixed_followers_reports_the_sum),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
