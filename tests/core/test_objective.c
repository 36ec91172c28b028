/* Tests for src/objective.c and the general-objective path of src/exact.c (docs/MODEL.md 3.1):
   every built-in objective's hypergradient against finite differences of F on random problems
   where x enters r, rbar, P and mu (tolerance: max_j |grad_j - fd_j| <= 1e-6 max(||grad||_inf,
   1e-6)), the general leader reward against the default path, values against direct
   computations, and which estimators accept which objective. */
#include "test_util.h"

#include <string.h>

typedef struct case_spec {
  int states, actions, dim, contexts;
  double gamma, leader_gamma, lambda, terminal_fraction;
} case_spec;

static const case_spec cases[] = {
    {6, 3, 4, 1, 0.9, 0.9, 1.0, 0.0},  {8, 2, 3, 3, 0.5, 0.95, 0.5, 0.25}, {10, 4, 5, 2, 0.95, 0.9, 0.1, 0.1},
    {7, 3, 3, 2, 0.9, 0.0, 1.0, 0.3},  {9, 3, 4, 2, 0.8, 0.7, 0.05, 0.1},  {12, 3, 2, 1, 0.6, 0.9, 5.0, 0.2},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

enum { OBJ_LEADER, OBJ_CROSS_ENTROPY, OBJ_PREFERENCES, OBJ_WELFARE, N_OBJ };
static const char *const obj_names[N_OBJ] = {"leader-reward", "cross-entropy", "preferences", "welfare"};

static cbrl_problem *make(const case_spec *c, uint64_t seed) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = c->states;
  o.n_actions = c->actions;
  o.dim = c->dim;
  o.n_contexts = c->contexts;
  o.branch = 3;
  o.gamma = c->gamma;
  o.leader_gamma = c->leader_gamma;
  o.lambda = c->lambda;
  o.terminal_fraction = c->terminal_fraction;
  o.coef_nonzeros = 0;
  o.seed = seed;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  return p;
}

/* A random trajectory of length up to len that follows p's structure in context k. */
static int random_walk(const cbrl_mdp *m, cbrl_rng *rng, int len, int *states, int *actions) {
  int S = m->n_states, A = m->n_actions, s = (int)(cbrl_rng_uniform(rng) * S) % S, t = 0;
  for (; t < len; t++) {
    states[t] = s;
    actions[t] = (int)(cbrl_rng_uniform(rng) * A) % A;
    if (m->terminal[s]) return t + 1;
    size_t sa = (size_t)s * A + actions[t];
    int64_t n = m->row[sa + 1] - m->row[sa];
    s = m->next[m->row[sa] + (int64_t)(cbrl_rng_uniform(rng) * (double)n) % n];
  }
  return t;
}

/* Builds objective `which` for p from random data drawn with seed. */
static cbrl_objective *make_objective(const cbrl_problem *p, int which, uint64_t seed) {
  int S = p->n_states, A = p->n_actions, K = p->n_contexts;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, 3);
  cbrl_objective *o = NULL;
  if (which == OBJ_LEADER) {
    assert_ok(cbrl_objective_leader_reward_create(&o, p));
  } else if (which == OBJ_CROSS_ENTROPY) {
    double *t = malloc(sizeof(double) * (size_t)K * S * A), *rho = malloc(sizeof(double) * S);
    for (int i = 0; i < K * S; i++) {
      double sum = 0.0;
      for (int a = 0; a < A; a++) sum += t[i * A + a] = (a == 0 ? 0.0 : 0.1 + cbrl_rng_uniform(&rng));
      for (int a = 0; a < A; a++) t[i * A + a] /= sum; /* action 0 never targeted: 0 log 0 */
    }
    for (int s = 0; s < S; s++) rho[s] = cbrl_rng_uniform(&rng);
    assert_ok(cbrl_objective_cross_entropy_create(&o, p, t, 1, rho));
    free(t);
    free(rho);
  } else if (which == OBJ_PREFERENCES) {
    enum { PAIRS_PER_CONTEXT = 5, LEN = 6 };
    int n = PAIRS_PER_CONTEXT * K;
    cbrl_preference *pairs = calloc((size_t)n, sizeof *pairs);
    int *buf = malloc(sizeof(int) * (size_t)n * 4 * LEN);
    for (int k = 0; k < K; k++) {
      cbrl_mdp m;
      assert_ok(cbrl_mdp_init(&m, p, k));
      for (int i = 0; i < PAIRS_PER_CONTEXT; i++) {
        int q = k * PAIRS_PER_CONTEXT + i, *b = buf + (size_t)q * 4 * LEN;
        pairs[q].context = k;
        pairs[q].weight = 0.5 + cbrl_rng_uniform(&rng);
        pairs[q].preferred = (cbrl_trajectory){random_walk(&m, &rng, LEN, b, b + LEN), b, b + LEN};
        pairs[q].rejected = (cbrl_trajectory){random_walk(&m, &rng, LEN, b + 2 * LEN, b + 3 * LEN), b + 2 * LEN,
                                              b + 3 * LEN};
      }
      cbrl_mdp_close(&m);
    }
    assert_ok(cbrl_objective_preferences_create(&o, p, pairs, n, 0.7, NULL, NULL));
    free(pairs);
    free(buf);
  } else {
    double *y = malloc(sizeof(double) * (size_t)K * S * A);
    for (int i = 0; i < K * S * A; i++) y[i] = 1.0 + 2.0 * cbrl_rng_uniform(&rng);
    assert_ok(cbrl_objective_welfare_create(&o, p, y, 0.8));
    free(y);
  }
  return o;
}

static void every_objective_matches_finite_differences(void **state) {
  (void)state;
  for (int which = 0; which < N_OBJ; which++) {
    double worst = 0.0;
    for (int i = 0; i < N_CASES; i++) {
      cbrl_problem *p = make(&cases[i], 200 + i);
      assert_ok(cbrl_problem_set_objective(p, make_objective(p, which, 50 + i)));
      cbrl_exact *e = test_exact_tight(p);
      double x[8], g[8], F;
      cbrl_rng rng;
      cbrl_rng_seed(&rng, 11, (uint64_t)i);
      for (int j = 0; j < p->dim; j++) x[j] = 0.5 * cbrl_rng_normal(&rng);
      int status = cbrl_exact_evaluate(e, x, &F, NULL, g);
      if (status) fail_msg("%s, case %d: %s", obj_names[which], i, cbrl_strerror(status));
      double gmax, rel = test_fd_relative_error(e, x, g, p->dim, 0.02 * fmin(p->lambda, 0.05), &gmax);
      worst = fmax(worst, rel);
      if (gmax < 1e-8) fail_msg("%s, case %d: a zero gradient checks nothing", obj_names[which], i);
      if (rel > 1e-6) fail_msg("%s, case %d (lambda %g): relative error %.3g", obj_names[which], i, p->lambda, rel);
      cbrl_exact_free(e);
      cbrl_problem_free(p);
    }
    print_message("%s: worst relative gradient error over %d problems %.3g\n", obj_names[which], N_CASES, worst);
  }
}

/* The general form of the leader reward goes through df/dpi = d Qbar and the objective's own
   cotangents; the default path through its fused loop. They agree. */
static void general_leader_reward_is_the_default(void **state) {
  (void)state;
  for (int i = 0; i < N_CASES; i++) {
    cbrl_problem *a = make(&cases[i], 300 + i), *b = make(&cases[i], 300 + i);
    assert_ok(cbrl_problem_set_objective(b, make_objective(b, OBJ_LEADER, 1)));
    assert_true(cbrl_objective_is_leader_reward(a) && cbrl_objective_is_leader_reward(b));
    cbrl_exact *ea, *eb;
    assert_ok(cbrl_exact_create(&ea, a));
    assert_ok(cbrl_exact_create(&eb, b));
    double x[8] = {0.3, -0.2, 0.1, 0.4, -0.5, 0.2, 0.0, 0.1}, ga[8], gb[8], Fa, Fb;
    assert_ok(cbrl_exact_evaluate(ea, x, &Fa, NULL, ga));
    assert_ok(cbrl_exact_evaluate(eb, x, &Fb, NULL, gb));
    assert_close(Fa, Fb, 1e-10, 1e-12);
    double gmax = 0.0;
    for (int j = 0; j < a->dim; j++) gmax = fmax(gmax, fabs(ga[j]));
    for (int j = 0; j < a->dim; j++) assert_close(ga[j], gb[j], 0, 1e-9 * gmax);
    cbrl_exact_free(ea);
    cbrl_exact_free(eb);
    cbrl_problem_free(a);
    cbrl_problem_free(b);
  }
}

/* Values against direct computations from the follower's policy: the KL to the follower's own
   policy is zero with a zero gradient; kappa = 0 welfare is the leader value of the output; a
   preference pair's term is log sigmoid of the margin of its summed log-policies. */
static void values_match_direct_computations(void **state) {
  (void)state;
  cbrl_problem *p = make(&cases[2], 7);
  int S = p->n_states, A = p->n_actions, K = p->n_contexts;
  double x[5] = {0.1, -0.3, 0.2, 0.0, 0.4}, g[5], F;
  /* The follower's own policy at x, as a per-context target. */
  cbrl_exact *e0;
  assert_ok(cbrl_exact_create(&e0, p));
  double *pis = malloc(sizeof(double) * (size_t)K * S * A);
  for (int k = 0; k < K; k++) {
    assert_ok(cbrl_exact_context(e0, k, x, NULL, NULL));
    memcpy(pis + (size_t)k * S * A, cbrl_exact_follower(e0, k)->pi, sizeof(double) * S * A);
  }
  double Fdef;
  assert_ok(cbrl_exact_evaluate(e0, x, &Fdef, NULL, NULL));
  double *y = malloc(sizeof(double) * (size_t)K * S * A);
  for (int k = 0; k < K; k++) memcpy(y + (size_t)k * S * A, cbrl_exact_mdp(e0, k)->rbar, sizeof(double) * S * A);
  cbrl_objective *o;
  assert_ok(cbrl_objective_cross_entropy_create(&o, p, pis, 1, NULL));
  assert_ok(cbrl_problem_set_objective(p, o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  assert_close(F, 0.0, 0, 1e-12);
  for (int j = 0; j < p->dim; j++) assert_close(g[j], 0.0, 0, 1e-10);
  cbrl_exact_free(e);
  /* Welfare with kappa = 0 and y = rbar at x: the leader value, F of the default objective. */
  assert_ok(cbrl_objective_welfare_create(&o, p, y, 0.0));
  assert_ok(cbrl_problem_set_objective(p, o));
  assert_ok(cbrl_exact_create(&e, p));
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, NULL));
  assert_close(F, Fdef, 1e-10, 1e-12);
  cbrl_exact_free(e);
  /* One preference pair in context 1. */
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 1));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 4, 4);
  int st[2][8], ac[2][8], len[2];
  for (int j = 0; j < 2; j++) len[j] = random_walk(&m, &rng, 8, st[j], ac[j]);
  cbrl_mdp_close(&m);
  cbrl_preference pair = {1, 2.0, {len[0], st[0], ac[0]}, {len[1], st[1], ac[1]}};
  assert_ok(cbrl_objective_preferences_create(&o, p, &pair, 1, 0.5, NULL, NULL));
  assert_ok(cbrl_problem_set_objective(p, o));
  assert_ok(cbrl_exact_create(&e, p));
  double f[2];
  assert_ok(cbrl_exact_evaluate(e, x, &F, f, NULL));
  const double *log_pi = cbrl_exact_follower(e0, 1)->log_pi;
  double ell[2] = {0, 0};
  for (int j = 0; j < 2; j++)
    for (int t = 0; t < len[j]; t++) ell[j] += log_pi[st[j][t] * A + ac[j][t]];
  double margin = 0.5 * (ell[0] - ell[1]);
  assert_close(f[1], 2.0 * -log(1.0 + exp(-margin)), 1e-10, 1e-12);
  assert_close(f[0], 0.0, 0, 0); /* context 0 has no pairs */
  cbrl_exact_free(e);
  cbrl_exact_free(e0);
  free(pis);
  free(y);
  cbrl_problem_free(p);
}

/* Impossible sequences and invalid data are refused, naming the pair and the step. */
static void bad_objective_data_is_refused(void **state) {
  (void)state;
  cbrl_problem *p = make(&cases[1], 9);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  /* A step to a state that is not a stored successor. */
  int s0 = 0;
  while (m.terminal[s0]) s0++;
  int bad_next = -1;
  for (int s = 0; s < m.n_states && bad_next < 0; s++) {
    int found = 0;
    for (int64_t k = m.row[(size_t)s0 * m.n_actions]; k < m.row[(size_t)s0 * m.n_actions + 1]; k++)
      found |= m.next[k] == s;
    if (!found) bad_next = s;
  }
  assert_true(bad_next >= 0);
  int good_s[1] = {s0}, good_a[1] = {0}, bad_s[3] = {s0, bad_next, 0}, bad_a[3] = {0, 0, 0};
  cbrl_preference pairs[2] = {{0, 1.0, {1, good_s, good_a}, {1, good_s, good_a}},
                              {0, 1.0, {1, good_s, good_a}, {3, bad_s, bad_a}}};
  cbrl_objective *o = NULL;
  int bp, bs;
  assert_int_equal(cbrl_objective_preferences_create(&o, p, pairs, 2, 1.0, &bp, &bs), CBRL_EINVAL);
  assert_int_equal(bp, 1);
  assert_int_equal(bs, 1);
  int out_s[1] = {m.n_states};
  pairs[1].rejected = (cbrl_trajectory){1, out_s, good_a};
  assert_int_equal(cbrl_objective_preferences_create(&o, p, pairs, 2, 1.0, &bp, &bs), CBRL_EINVAL);
  assert_int_equal(bp, 1);
  assert_int_equal(bs, 0);
  pairs[1].rejected = (cbrl_trajectory){0, good_s, good_a};
  assert_int_equal(cbrl_objective_preferences_create(&o, p, pairs, 2, 1.0, &bp, &bs), CBRL_EINVAL);
  pairs[1].rejected = pairs[0].rejected;
  assert_int_equal(cbrl_objective_preferences_create(&o, p, pairs, 2, 0.0, NULL, NULL), CBRL_EINVAL);
  assert_ok(cbrl_objective_preferences_create(&o, p, pairs, 2, 1.0, NULL, NULL));
  cbrl_objective_free(o);
  cbrl_mdp_close(&m);
  /* A target row that does not sum to 1; a negative kappa; a shape mismatch. */
  size_t n = (size_t)p->n_contexts * p->n_states * p->n_actions;
  double *t = calloc(n, sizeof(double));
  assert_int_equal(cbrl_objective_cross_entropy_create(&o, p, t, 0, NULL), CBRL_EINVAL);
  assert_int_equal(cbrl_objective_welfare_create(&o, p, t, -1.0), CBRL_EINVAL);
  cbrl_problem *q = make(&cases[0], 1);
  assert_ok(cbrl_objective_welfare_create(&o, q, t, 1.0));
  assert_int_equal(cbrl_problem_set_objective(p, o), CBRL_EINVAL);
  cbrl_objective_free(o);
  free(t);
  cbrl_problem_free(q);
  cbrl_problem_free(p);
}

/* HPGD, RT-Q and AMD refuse objectives other than the leader reward with a reason; exact and
   zero-order take them (and zero-order's steps then improve the objective). */
static void estimators_say_which_objectives_they_support(void **state) {
  (void)state;
  cbrl_random_opts ro;
  cbrl_random_opts_default(&ro);
  ro.depends = CBRL_DEPENDS_R | CBRL_DEPENDS_RBAR; /* AMD would take the default objective */
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &ro));
  const cbrl_algorithm refusing[] = {CBRL_ALG_HPGD, CBRL_ALG_HPGD_BATCH, CBRL_ALG_HPGD_RTQ, CBRL_ALG_AMD};
  cbrl_leader_opts lo;
  cbrl_leader_opts_default(&lo);
  cbrl_leader *L;
  for (int i = 0; i < 4; i++) {
    lo.algorithm = refusing[i];
    assert_ok(cbrl_leader_create(&L, p, &lo, NULL)); /* default objective: accepted */
    cbrl_leader_free(L);
  }
  assert_ok(cbrl_problem_set_objective(p, make_objective(p, OBJ_WELFARE, 3)));
  char why[256];
  for (int i = 0; i < 4; i++) {
    lo.algorithm = refusing[i];
    assert_int_equal(cbrl_leader_create(&L, p, &lo, NULL), CBRL_ENOTSUP);
    assert_int_equal(cbrl_objective_supports(p, cbrl_algorithm_name(refusing[i]), why, sizeof why), CBRL_ENOTSUP);
    assert_non_null(strstr(why, "welfare"));
    assert_non_null(strstr(why, cbrl_algorithm_name(refusing[i])));
  }
  assert_ok(cbrl_objective_supports(p, "exact", why, sizeof why));
  lo.algorithm = CBRL_ALG_ZERO_ORDER;
  lo.zero_order_c = 0.05;
  lo.learning_rate = 0.05;
  lo.seed = 2;
  assert_ok(cbrl_leader_create(&L, p, &lo, NULL));
  cbrl_leader_metrics first, last;
  int iters = test_quick() ? 100 : 300;
  for (int t = 0; t < iters; t++) assert_ok(cbrl_leader_step(L, t == 0 || t == iters - 1, t ? &last : &first));
  assert_true(last.F > first.F);
  cbrl_leader_free(L);
  lo.algorithm = CBRL_ALG_EXACT;
  assert_ok(cbrl_leader_create(&L, p, &lo, NULL));
  cbrl_leader_free(L);
  /* The built-in leader reward is a leader reward: HPGD takes it. */
  assert_ok(cbrl_problem_set_objective(p, make_objective(p, OBJ_LEADER, 3)));
  lo.algorithm = CBRL_ALG_HPGD;
  assert_ok(cbrl_leader_create(&L, p, &lo, NULL));
  cbrl_leader_free(L);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_objective_matches_finite_differences),
      cmocka_unit_test(general_leader_reward_is_the_default),
      cmocka_unit_test(values_match_direct_computations),
      cmocka_unit_test(bad_objective_data_is_refused),
      cmocka_unit_test(estimators_say_which_objectives_they_support),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
