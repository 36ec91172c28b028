/* Tests for src/follower.c and the followers of src/soft_q.c: the exact follower is the soft
   solver's best response, sample-based followers count their samples exactly, and they learn
   in a simulator's kernel when given one. */
#include "test_util.h"

#include <string.h>

#include "cbrl/follower.h"
#include "cbrl/simulate.h"

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
    assert_ok(cbrl_follower_respond(f, k, x, cbrl_exact_mdp(e, k), NULL, NULL, &pol));
    assert_true(f->stats.converged);
    assert_int_equal(f->stats.samples, 0);
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    for (int i = 0; i < 416; i++) assert_close(pol.pi[i], w->pi[i], 1e-9, 1e-12);
    assert_ptr_equal(cbrl_follower_exact_solver(f, k)->pi, pol.pi);
  }
  assert_null(cbrl_follower_exact_solver(f, 2));
  assert_int_equal(cbrl_follower_respond(f, 5, x, cbrl_exact_mdp(e, 0), NULL, NULL, NULL), CBRL_EINVAL);
  cbrl_follower_free(f);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* The shared exact follower solves in the exact workspace: its policy is the workspace's, the
   value then needs no second solve, and given another MDP it evaluates the workspace's at x. */
static void the_shared_exact_follower_answers_from_the_workspace(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_exact *e, *ref;
  assert_ok(cbrl_exact_create(&e, p));
  assert_ok(cbrl_exact_create(&ref, p));
  cbrl_follower *f;
  assert_ok(cbrl_follower_exact_shared_create(&f, p, e));
  double x[3] = {0.2, -0.1, 0.3}, fv, fr;
  cbrl_policy pol;
  assert_ok(cbrl_exact_set_x(e, 0, x));
  assert_ok(cbrl_follower_respond(f, 0, x, cbrl_exact_mdp(e, 0), NULL, NULL, &pol));
  assert_ptr_equal(pol.pi, cbrl_exact_follower(e, 0)->pi);
  assert_ptr_equal(cbrl_follower_exact_solver(f, 0), cbrl_exact_follower(e, 0));
  assert_true(f->stats.iterations > 0);
  assert_ok(cbrl_exact_value(e, 0, &fv, NULL));
  assert_ok(cbrl_exact_context(ref, 0, x, &fr, NULL)); /* the same cold solve, in one call */
  assert_memory_equal(&fv, &fr, sizeof fv);
  cbrl_mdp other;
  assert_ok(cbrl_mdp_init(&other, p, 0));
  assert_ok(cbrl_mdp_evaluate(&other, p, 0, x));
  x[0] = 0.5; /* a new x, reached only through the follower */
  assert_ok(cbrl_follower_respond(f, 0, x, &other, NULL, NULL, &pol));
  assert_ok(cbrl_exact_value(e, 0, &fv, NULL));
  assert_ok(cbrl_exact_context(ref, 0, x, &fr, NULL));
  assert_close(fv, fr, 1e-10, 1e-12);
  assert_close(cbrl_exact_mdp(e, 0)->r[0], cbrl_exact_mdp(ref, 0)->r[0], 0, 0);
  cbrl_mdp_close(&other);
  cbrl_follower_free(f); /* leaves e alone */
  assert_ok(cbrl_exact_value(e, 0, &fv, NULL));
  cbrl_exact_free(e);
  cbrl_exact_free(ref);
  cbrl_problem_free(p);
}

/* Soft Q-learning in Four-Rooms' paper-code simulator learns the paper kernel's soft Q, not the
   model's: after many iterations its Q is closer to the exact soft Q of the model with the paper
   kernel than to that of the model itself. */
static void sample_based_followers_learn_in_the_simulators_kernel(void **state) {
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.lambda = 0.05;
  o.gamma = 0.9;
  cbrl_problem *p;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  cbrl_mdp model, paper;
  assert_ok(cbrl_mdp_init(&model, p, 1));
  double x[105] = {0};
  assert_ok(cbrl_mdp_evaluate(&model, p, 1, x));
  cbrl_simulator *sim;
  assert_ok(cbrl_four_rooms_paper_sim_create(&sim, p));
  assert_ok(cbrl_simulator_prepare(sim, 1, x, &model));
  cbrl_simulator_tabular(sim, &model, &paper);
  cbrl_soft_solver exact_model, exact_paper;
  assert_ok(cbrl_soft_solver_init(&exact_model, 104, 4));
  assert_ok(cbrl_soft_solver_init(&exact_paper, 104, 4));
  assert_ok(cbrl_soft_solver_solve(&exact_model, &model, p->gamma, p->lambda));
  assert_ok(cbrl_soft_solver_solve(&exact_paper, &paper, p->gamma, p->lambda));
  cbrl_follower *f;
  assert_ok(cbrl_follower_soft_q_create(&f, p, 3000, CBRL_SCHEDULE_RESCALED_LINEAR));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  cbrl_policy pol;
  assert_ok(cbrl_follower_respond(f, 1, x, &model, sim, &rng, &pol));
  /* Compare log-policies: the soft-greedy answer of each kernel. */
  double d_paper = 0.0, d_model = 0.0, gap = 0.0;
  for (int i = 0; i < 416; i++) {
    d_paper += fabs(pol.log_pi[i] - exact_paper.log_pi[i]);
    d_model += fabs(pol.log_pi[i] - exact_model.log_pi[i]);
    gap += fabs(exact_paper.log_pi[i] - exact_model.log_pi[i]);
  }
  print_message("soft-q log pi: %.3f from the paper kernel's, %.3f from the model's (they differ by %.3f)\n",
                d_paper, d_model, gap);
  assert_true(d_paper < d_model);
  cbrl_follower_free(f);
  cbrl_soft_solver_close(&exact_model);
  cbrl_soft_solver_close(&exact_paper);
  cbrl_simulator_free(sim);
  cbrl_mdp_close(&model);
  cbrl_problem_free(p);
}

/* Issue 13 class 13: the sample-based followers stop on their cancellation flag; a flag at 0
   changes no digit of the soft-Q answer. */
static void sample_based_followers_stop_on_the_cancel_flag(void **state) {
  (void)state;
  cbrl_problem *p = test_four_rooms(1.0, 0.05);
  cbrl_mdp model;
  assert_ok(cbrl_mdp_init(&model, p, 0));
  double x[105] = {0};
  assert_ok(cbrl_mdp_evaluate(&model, p, 0, x));
  static volatile int flag;
  cbrl_follower *a, *b, *online;
  assert_ok(cbrl_follower_soft_q_create(&a, p, 3000, CBRL_SCHEDULE_RESCALED_LINEAR));
  assert_ok(cbrl_follower_soft_q_create(&b, p, 3000, CBRL_SCHEDULE_RESCALED_LINEAR));
  assert_ok(cbrl_follower_online_create(&online, p, 100000, 200));
  assert_null(a->cancel);
  b->cancel = online->cancel = &flag;
  cbrl_rng r1, r2;
  cbrl_rng_seed(&r1, 4, 0);
  cbrl_rng_seed(&r2, 4, 0);
  cbrl_policy pa, pb;
  flag = 0;
  assert_ok(cbrl_follower_respond(a, 0, x, &model, NULL, &r1, &pa));
  assert_ok(cbrl_follower_respond(b, 0, x, &model, NULL, &r2, &pb));
  for (int i = 0; i < 416; i++) assert_true(pa.log_pi[i] == pb.log_pi[i]);
  flag = 1;
  assert_int_equal(cbrl_follower_respond(b, 0, x, &model, NULL, &r2, &pb), CBRL_ECANCELED);
  assert_int_equal(cbrl_follower_respond(online, 0, x, &model, NULL, &r2, &pb), CBRL_ECANCELED);
  flag = 0;
  cbrl_follower_free(a);
  cbrl_follower_free(b);
  cbrl_follower_free(online);
  cbrl_mdp_close(&model);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exact_follower_matches_the_soft_solver),
      cmocka_unit_test(the_shared_exact_follower_answers_from_the_workspace),
      cmocka_unit_test(sample_based_followers_learn_in_the_simulators_kernel),
      cmocka_unit_test(sample_based_followers_stop_on_the_cancel_flag),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
