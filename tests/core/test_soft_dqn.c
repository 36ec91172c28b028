/* Tests for src/soft_dqn.c: on a small problem the soft-DQN follower's policy has a soft value
   within a stated tolerance of the exact best response's, two runs from the same seeds learn the
   same weights bit for bit, factorised heads answer a product policy, and the follower runs in
   the tax economy's continuous simulator. */
#include "test_util.h"

#include <string.h>

#include "cbrl/soft_dqn.h"

/* The follower's own objective J(pi) = mu . V_pi, V_pi the soft value of pi (reward
   r - lambda log pi), and the leader's f(pi) = mu . Vbar_pi, in m. */
static void values_of(const cbrl_problem *p, const cbrl_mdp *m, const cbrl_policy *pol, double *J, double *f) {
  int S = p->n_states, A = p->n_actions;
  cbrl_soft_solver w;
  assert_ok(cbrl_soft_solver_init(&w, S, A));
  double *q = malloc(sizeof(double) * S * A), *rew = malloc(sizeof(double) * S * A), *v = calloc(S, sizeof(double));
  for (int k = 0; k < S * A; k++) q[k] = p->lambda * pol->log_pi[k];
  assert_ok(cbrl_soft_solver_set_q(&w, q, p->lambda));
  for (int k = 0; k < S * A; k++) rew[k] = m->r[k] - p->lambda * w.log_pi[k];
  assert_ok(cbrl_soft_solver_evaluate(&w, m, p->gamma, rew, v));
  *J = 0;
  for (int s = 0; s < S; s++) *J += m->mu[s] * v[s];
  memset(v, 0, sizeof(double) * S);
  assert_ok(cbrl_soft_solver_evaluate(&w, m, p->leader_gamma, m->rbar, v));
  *f = 0;
  for (int s = 0; s < S; s++) *f += m->mu[s] * v[s];
  cbrl_soft_solver_close(&w);
  free(q);
  free(rew);
  free(v);
}

static cbrl_soft_dqn_opts small_opts(void) {
  cbrl_soft_dqn_opts o;
  cbrl_soft_dqn_opts_default(&o);
  o.hidden[0] = o.hidden[1] = 32;
  o.steps = test_quick() ? 4000 : 20000;
  o.batch_size = 32;
  o.learning_starts = 500;
  o.target_interval = 200;
  o.epsilon_steps = 5000;
  o.epsilon_end = 0.2; /* a small problem with terminal states: keep visiting every state */
  o.max_steps = 50;
  return o;
}

/* The regret J* - J(pi) of the learned policy, against the exact soft best response. */
static void learns_the_soft_best_response(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[3] = {0.1, -0.2, 0.3};
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  const cbrl_soft_solver *star = cbrl_exact_follower(e, 0);
  double J_star = 0, f_star, J, f, J0, f0;
  for (int s = 0; s < p->n_states; s++) J_star += m->mu[s] * star->v[s];
  {
    cbrl_policy exact = {p->n_states, p->n_actions, star->pi, star->log_pi};
    double J_check;
    values_of(p, m, &exact, &J_check, &f_star);
    assert_close(J_check, J_star, 1e-8, 1e-8); /* the evaluation helper is right */
  }
  cbrl_soft_dqn_opts o = small_opts();
  cbrl_follower *fl;
  assert_ok(cbrl_follower_soft_dqn_create(&fl, p, &o));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 7, 0);
  cbrl_policy pol;
  /* The uniform policy's regret, as the scale of the tolerance. */
  {
    double *u = malloc(sizeof(double) * p->n_states * p->n_actions), *lu = malloc(sizeof(double) * p->n_states * p->n_actions);
    for (int k = 0; k < p->n_states * p->n_actions; k++) u[k] = 1.0 / p->n_actions, lu[k] = -log(p->n_actions);
    cbrl_policy uni = {p->n_states, p->n_actions, u, lu};
    values_of(p, m, &uni, &J0, &f0);
    free(u);
    free(lu);
  }
  assert_ok(cbrl_follower_respond(fl, 0, x, m, NULL, &rng, &pol));
  values_of(p, m, &pol, &J, &f);
  print_message("J* %.5f, soft-DQN J %.5f (regret %.3g), uniform J %.5f (regret %.3g); f* %.5f, f %.5f; %lld updates\n",
                J_star, J, J_star - J, J0, J_star - J0, f_star, f, (long long)fl->stats.iterations);
  assert_true(J <= J_star + 1e-9); /* nothing beats the best response */
  /* Tolerance: the regret is at most 5 % of the uniform policy's (quick runs: 30 %). */
  assert_true(J_star - J <= (test_quick() ? 0.3 : 0.05) * (J_star - J0));
  assert_int_equal(fl->stats.samples, o.steps);
  cbrl_follower_free(fl);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Two followers from the same seeds: the same weights and policy, bit for bit; another weight seed
   gives others. */
static void same_seed_same_weights(void **state) {
  cbrl_problem *p = test_small_problem(0.8);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[3] = {0.2, 0.1, -0.1};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  cbrl_soft_dqn_opts o = small_opts();
  o.steps = 1500;
  const double *w[3];
  int64_t n[3];
  cbrl_follower *fl[3];
  cbrl_policy pol[3];
  for (int k = 0; k < 3; k++) {
    o.seed = k == 2 ? 99 : 0;
    assert_ok(cbrl_follower_soft_dqn_create(&fl[k], p, &o));
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 5, 0);
    for (int r = 0; r < 2; r++) assert_ok(cbrl_follower_respond(fl[k], 0, x, &m, NULL, &rng, &pol[k]));
    w[k] = cbrl_soft_dqn_params(fl[k], 0, &n[k]);
    assert_non_null(w[k]);
  }
  assert_int_equal(n[0], n[1]);
  assert_memory_equal(w[0], w[1], sizeof(double) * n[0]);
  assert_memory_equal(pol[0].pi, pol[1].pi, sizeof(double) * p->n_states * p->n_actions);
  assert_memory_not_equal(w[0], w[2], sizeof(double) * n[0]);
  assert_null(cbrl_soft_dqn_params(fl[0], 1, NULL));
  for (int k = 0; k < 3; k++) cbrl_follower_free(fl[k]);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* Factorised heads over 2 x 2 actions: pi(a) = pi_0(a_0) pi_1(a_1), rows summing to 1; a product
   of sizes that is not n_actions is refused. */
static void factorised_heads_answer_a_product(void **state) {
  cbrl_random_opts ro;
  cbrl_random_opts_default(&ro);
  ro.n_states = 5;
  ro.n_actions = 4;
  ro.dim = 2;
  ro.n_contexts = 1;
  ro.gamma = 0.8;
  ro.lambda = 0.5;
  ro.seed = 3;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &ro));
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[2] = {0};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  cbrl_soft_dqn_opts o = small_opts();
  o.steps = 2000;
  o.heads = CBRL_SOFT_DQN_FACTORISED;
  o.n_head_sizes = 2;
  o.head_sizes[0] = 2;
  o.head_sizes[1] = 3;
  cbrl_follower *fl;
  assert_int_equal(cbrl_follower_soft_dqn_create(&fl, p, &o), CBRL_EINVAL);
  o.head_sizes[1] = 2;
  assert_ok(cbrl_follower_soft_dqn_create(&fl, p, &o));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2, 0);
  cbrl_policy pol;
  assert_ok(cbrl_follower_respond(fl, 0, x, &m, NULL, &rng, &pol));
  for (int s = 0; s < 5; s++) {
    const double *pi = pol.pi + s * 4;
    assert_close(pi[0] + pi[1] + pi[2] + pi[3], 1.0, 1e-12, 0);
    /* a = 2 a_0 + a_1: pi(0) pi(3) = pi(1) pi(2) for a product. */
    assert_close(pi[0] * pi[3], pi[1] * pi[2], 1e-10, 1e-15);
    for (int a = 0; a < 4; a++) assert_close(exp(pol.log_pi[s * 4 + a]), pi[a], 1e-12, 0);
  }
  cbrl_follower_free(fl);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* In the tax economy's continuous simulator (40 bins), a short response gives normalised rows;
   its soft value is below the exact best response's. */
static void runs_in_the_continuous_tax_simulator(void **state) {
  cbrl_tax_opts to;
  cbrl_tax_opts_default(&to);
  to.n_bins = 40;
  cbrl_problem *p;
  assert_ok(cbrl_tax_create(&p, &to));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[CBRL_TAX_DIM];
  cbrl_tax_x_for_rate(0.3, x);
  assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  cbrl_simulator *sim;
  assert_ok(cbrl_tax_continuous_create(&sim, p));
  cbrl_soft_dqn_opts o;
  cbrl_soft_dqn_opts_default(&o);
  o.steps = 3000;
  cbrl_follower *fl;
  assert_ok(cbrl_follower_soft_dqn_create(&fl, p, &o));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  cbrl_policy pol;
  assert_ok(cbrl_follower_respond(fl, 0, x, m, sim, &rng, &pol));
  for (int s = 0; s < p->n_states; s++) {
    double sum = 0;
    for (int a = 0; a < p->n_actions; a++) sum += pol.pi[s * p->n_actions + a];
    assert_close(sum, 1.0, 1e-12, 0);
  }
  double J, f, J_star = 0;
  values_of(p, m, &pol, &J, &f);
  for (int s = 0; s < p->n_states; s++) J_star += m->mu[s] * cbrl_exact_follower(e, 0)->v[s];
  print_message("tax, 3000 steps: J %.4f against J* %.4f\n", J, J_star);
  assert_true(J <= J_star + 1e-9);
  cbrl_follower_free(fl);
  cbrl_simulator_free(sim);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(learns_the_soft_best_response),
      cmocka_unit_test(same_seed_same_weights),
      cmocka_unit_test(factorised_heads_answer_a_product),
      cmocka_unit_test(runs_in_the_continuous_tax_simulator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
