/* Tests for src/leader.c: short runs of every algorithm raise F, and the leader takes the
   caller's follower and simulator. AMD's own tests are in test_amd.c, zero-order's in
   test_zero_order.c. */
#include "test_util.h"

#include <string.h>

/* Runs `iters` iterations and returns (F at the start, mean F over the last 10). */
static void short_run(cbrl_algorithm alg, double lr, int iters, double *F_first, double *F_last) {
  cbrl_problem *p = test_four_rooms(3.0, 0.003);
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = alg;
  o.learning_rate = lr;
  o.zero_order_c = 0.5;
  o.seed = 1;
  cbrl_leader *L;
  assert_ok(cbrl_leader_create(&L, p, &o, NULL));
  *F_last = 0.0;
  for (int t = 1; t <= iters; t++) {
    cbrl_leader_metrics m;
    int with = t == 1 || t > iters - 10;
    assert_ok(cbrl_leader_step(L, with, &m));
    assert_int_equal(m.iteration, t);
    assert_true(m.grad_norm >= 0.0);
    if (alg == CBRL_ALG_HPGD_BATCH) assert_int_equal(m.env_steps, 10000);
    if (t == 1) *F_first = m.F;
    if (t > iters - 10) *F_last += m.F / 10.0;
    if (!with) assert_true(isnan(m.F));
  }
  cbrl_leader_free(L);
  cbrl_problem_free(p);
}

static void short_runs_raise_the_objective(void **state) {
  const cbrl_algorithm algs[4] = {CBRL_ALG_HPGD_BATCH, CBRL_ALG_EXACT, CBRL_ALG_ZERO_ORDER, CBRL_ALG_AMD};
  const double lrs[4] = {0.5, 0.5, 0.5, 0.5};
  const int iters[4] = {300, 300, 300, 60};
  for (int i = 0; i < 4; i++) {
    if (test_quick() && algs[i] == CBRL_ALG_AMD) continue;
    double F0 = NAN, F1 = NAN;
    short_run(algs[i], lrs[i], test_quick() ? 60 : iters[i], &F0, &F1);
    print_message("%-10s F %.4f -> %.4f\n", cbrl_algorithm_name(algs[i]), F0, F1);
    assert_true(F1 > F0 + 0.01);
  }
}

static void same_seed_same_run_and_adam_works(void **state) {
  cbrl_problem *p = test_four_rooms(1.0, 0.005);
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.hpgd.steps = 2000;
  o.hpgd.streams = 2;
  o.seed = 5;
  o.stream = 3;
  o.optimizer = CBRL_ADAM;
  o.learning_rate = 0.05;
  cbrl_leader *a, *b;
  assert_ok(cbrl_leader_create(&a, p, &o, NULL));
  assert_ok(cbrl_leader_create(&b, p, &o, NULL));
  for (int t = 0; t < 20; t++) {
    assert_ok(cbrl_leader_step(a, 0, NULL));
    assert_ok(cbrl_leader_step(b, 0, NULL));
  }
  assert_memory_equal(cbrl_leader_x(a), cbrl_leader_x(b), sizeof(double) * 105);
  cbrl_leader_free(b);
  o.stream = 4; /* another run's stream: another path */
  assert_ok(cbrl_leader_create(&b, p, &o, NULL));
  for (int t = 0; t < 20; t++) assert_ok(cbrl_leader_step(b, 0, NULL));
  assert_true(memcmp(cbrl_leader_x(a), cbrl_leader_x(b), sizeof(double) * 105) != 0);
  cbrl_leader_free(a);
  cbrl_leader_free(b);
  o.learning_rate = -1;
  assert_int_equal(cbrl_leader_create(&a, p, &o, NULL), CBRL_EINVAL);
  cbrl_problem_free(p);
}

/* A caller's follower (online soft Q-learning, reachable only this way) answers HPGD, the leader
   passes it the simulator, and a follower of another problem is refused. */
static void the_leader_takes_a_follower_and_a_simulator(void **state) {
  cbrl_problem *p = test_four_rooms(1.0, 0.005), *q = test_four_rooms(2.0, 0.005);
  cbrl_follower *f, *other;
  assert_ok(cbrl_follower_online_create(&f, p, 3000, 200));
  assert_ok(cbrl_follower_exact_create(&other, q));
  cbrl_simulator *sim;
  assert_ok(cbrl_four_rooms_paper_sim_create(&sim, p));
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.hpgd.steps = 2000;
  o.hpgd.streams = 2;
  o.follower = f;
  o.simulator = sim;
  cbrl_leader *L;
  assert_ok(cbrl_leader_create(&L, p, &o, NULL));
  for (int t = 1; t <= 3; t++) {
    cbrl_leader_metrics m;
    assert_ok(cbrl_leader_step(L, 1, &m));
    assert_int_equal(m.follower_samples, 3000);
    assert_int_equal(m.env_steps, 2000);
    assert_true(isfinite(m.F));
  }
  cbrl_leader_free(L);
  o.follower = other;
  assert_int_equal(cbrl_leader_create(&L, p, &o, NULL), CBRL_EINVAL);
  cbrl_follower_free(other);
  cbrl_follower_free(f); /* the leader never owned it */
  cbrl_simulator_free(sim);
  cbrl_problem_free(q);
  cbrl_problem_free(p);
}

static void defaults_are_the_papers_settings(void **state) {
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  assert_int_equal(o.algorithm, CBRL_ALG_HPGD_BATCH);
  assert_int_equal(o.optimizer, CBRL_SGD);
  assert_close(o.max_grad_norm, 1.0, 0, 0);
  assert_int_equal(o.amd_updates, 100);
  cbrl_hpgd_opts h;
  cbrl_hpgd_opts_default(&h);
  assert_int_equal(h.steps, 10000);
  assert_int_equal(h.streams, 5);
  assert_int_equal(h.max_steps, 200);
  /* With the default exact follower the metrics reuse its solve: the sampled context's value is
     the one the leader's workspace holds for the follower's response at x_t. */
  {
    cbrl_problem *q = test_four_rooms(1.0, 0.005);
    cbrl_leader_opts oh = o;
    oh.hpgd.steps = 1000;
    oh.hpgd.streams = 1;
    cbrl_leader *H;
    assert_ok(cbrl_leader_create(&H, q, &oh, NULL));
    cbrl_leader_metrics mh;
    assert_ok(cbrl_leader_step(H, 1, &mh));
    double again;
    assert_ok(cbrl_exact_value(cbrl_leader_exact(H), mh.context, &again, NULL));
    assert_close(again, mh.f_context, 1e-12, 0);
    assert_true(mh.follower_iterations > 0);
    cbrl_leader_free(H);
    cbrl_problem_free(q);
  }
  /* The leader's exact workspace holds the F it reports. */
  cbrl_problem *p = test_four_rooms(1.0, 0.005);
  cbrl_leader *L;
  o.algorithm = CBRL_ALG_EXACT;
  assert_ok(cbrl_leader_create(&L, p, &o, NULL));
  cbrl_leader_metrics m;
  assert_ok(cbrl_leader_step(L, 1, &m));
  double F;
  cbrl_exact *e = cbrl_leader_exact(L);
  assert_non_null(e);
  assert_ok(cbrl_exact_evaluate(e, cbrl_leader_x(L), &F, NULL, NULL));
  assert_true(fabs(F - m.F) < 0.1); /* one step of at most 0.1 moved x */
  cbrl_leader_free(L);
  cbrl_problem_free(p);
}

static void algorithm_names_round_trip(void **state) {
  for (int a = 0; a < CBRL_ALG_COUNT_; a++) {
    cbrl_algorithm back;
    assert_ok(cbrl_algorithm_parse(cbrl_algorithm_name((cbrl_algorithm)a), &back));
    assert_int_equal(back, a);
  }
  cbrl_algorithm x;
  assert_int_equal(cbrl_algorithm_parse("gradient-descent", &x), CBRL_EINVAL);
  assert_string_equal(cbrl_algorithm_name(CBRL_ALG_COUNT_), "unknown");
}

/* Issue 13 class 13: a set cancellation flag stops every algorithm's iteration with
   CBRL_ECANCELED; cleared, the leader steps again. */
static void a_cancel_flag_stops_every_algorithm(void **state) {
  (void)state;
  cbrl_problem *p = test_four_rooms(3.0, 0.003);
  static volatile int flag;
  const cbrl_algorithm algs[] = {CBRL_ALG_EXACT, CBRL_ALG_HPGD, CBRL_ALG_HPGD_BATCH, CBRL_ALG_ZERO_ORDER,
                                 CBRL_ALG_AMD, CBRL_ALG_HPGD_RTQ};
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
    cbrl_leader_opts o;
    cbrl_leader_opts_default(&o);
    assert_null(o.cancel);
    o.algorithm = algs[i];
    o.cancel = &flag;
    cbrl_leader *L;
    assert_ok(cbrl_leader_create(&L, p, &o, NULL));
    cbrl_leader_metrics m;
    flag = 0;
    assert_ok(cbrl_leader_step(L, 1, &m));
    flag = 1;
    int err = cbrl_leader_step(L, 1, &m);
    if (err != CBRL_ECANCELED) fail_msg("%s: %s", cbrl_algorithm_name(algs[i]), cbrl_err_name(err));
    flag = 0;
    assert_ok(cbrl_leader_step(L, 1, &m));
    cbrl_leader_free(L);
  }
  cbrl_problem_free(p);
}


/* Ask, respond and tell in the caller's loop give the run cbrl_leader_step gives, bit for bit, for
   an algorithm with a follower and for one without; a trajectory follower that simulates the exact
   policy by itself (cbrl_follower_rollout_create) gives the run of the policy follower it wraps. */
static void ask_tell_is_the_step(void **state) {
  cbrl_problem *p = test_four_rooms(3.0, 0.003);
  const cbrl_algorithm algs[2] = {CBRL_ALG_HPGD_BATCH, CBRL_ALG_ZERO_ORDER};
  for (int i = 0; i < 2; i++) {
    cbrl_leader_opts o;
    cbrl_leader_opts_default(&o);
    o.algorithm = algs[i];
    o.hpgd.steps = 2000;
    o.seed = 3;
    o.learning_rate = 0.5;
    cbrl_leader *a, *b;
    assert_ok(cbrl_leader_create(&a, p, &o, NULL));
    assert_ok(cbrl_leader_create(&b, p, &o, NULL));
    for (int t = 1; t <= 15; t++) {
      cbrl_leader_metrics ma, mb;
      assert_ok(cbrl_leader_step(a, t % 5 == 0, &ma));
      cbrl_leader_query q;
      cbrl_leader_answer ans;
      assert_ok(cbrl_leader_ask(b, &q));
      assert_int_equal(q.iteration, t);
      assert_int_equal(q.wants_response, algs[i] == CBRL_ALG_HPGD_BATCH);
      assert_int_equal(cbrl_leader_ask(b, &q), CBRL_EINVAL); /* one tell per ask */
      assert_ok(cbrl_leader_respond(b, &q, &ans));
      assert_ok(cbrl_leader_tell(b, q.wants_response ? &ans : NULL, t % 5 == 0, &mb));
      assert_int_equal(ma.context, mb.context);
      assert_true(ma.grad_norm == mb.grad_norm);
      if (t % 5 == 0) assert_true(ma.F == mb.F);
    }
    for (int j = 0; j < p->dim; j++) assert_true(cbrl_leader_x(a)[j] == cbrl_leader_x(b)[j]);
    cbrl_leader_free(a);
    cbrl_leader_free(b);
  }
  /* The policy path and the trajectory path of the same exact follower. */
  cbrl_follower *exact, *inner, *rollout;
  assert_ok(cbrl_follower_exact_create(&exact, p));
  assert_ok(cbrl_follower_exact_create(&inner, p));
  assert_ok(cbrl_follower_rollout_create(&rollout, p, inner));
  assert_true(cbrl_follower_brings_trajectories(rollout) && !cbrl_follower_brings_trajectories(exact));
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.hpgd.steps = 2000;
  o.seed = 4;
  o.learning_rate = 0.5;
  cbrl_leader *a, *b;
  o.follower = exact;
  assert_ok(cbrl_leader_create(&a, p, &o, NULL));
  o.follower = rollout;
  assert_ok(cbrl_leader_create(&b, p, &o, NULL));
  for (int t = 1; t <= 10; t++) {
    cbrl_leader_metrics ma, mb;
    assert_ok(cbrl_leader_step(a, 0, &ma));
    assert_ok(cbrl_leader_step(b, 0, &mb));
    assert_int_equal(ma.env_steps, mb.env_steps);
  }
  for (int j = 0; j < p->dim; j++) assert_true(cbrl_leader_x(a)[j] == cbrl_leader_x(b)[j]);
  cbrl_leader_free(a);
  cbrl_leader_free(b);
  /* The unbiased estimator cannot take a batch: the tell fails and says why. */
  o.algorithm = CBRL_ALG_HPGD;
  assert_ok(cbrl_leader_create(&b, p, &o, NULL));
  assert_int_equal(cbrl_leader_step(b, 0, NULL), CBRL_ENOTSUP);
  assert_non_null(strstr(cbrl_leader_error(b), "branching rollouts"));
  cbrl_leader_free(b);
  cbrl_follower_free(exact);
  cbrl_follower_free(rollout);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_leader_takes_a_follower_and_a_simulator),
      cmocka_unit_test(short_runs_raise_the_objective),
      cmocka_unit_test(same_seed_same_run_and_adam_works),
      cmocka_unit_test(defaults_are_the_papers_settings),
      cmocka_unit_test(algorithm_names_round_trip),
      cmocka_unit_test(a_cancel_flag_stops_every_algorithm),
      cmocka_unit_test(ask_tell_is_the_step),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
