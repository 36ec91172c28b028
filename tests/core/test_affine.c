/* Tests for src/affine.c and src/random_problem.c: the builder, evaluate and the vjp. */
#include "test_util.h"

#include <string.h>

static void builder_refuses_bad_and_duplicate_entries(void **state) {
  cbrl_problem *p;
  assert_ok(cbrl_affine_create(&p, 3, 2, 2, 1));
  double c[2] = {1.0, 0.0};
  assert_int_equal(cbrl_affine_add_transition(p, 0, 3, 0, 0, 0.0, c), CBRL_EINVAL);
  assert_int_equal(cbrl_affine_add_transition(p, 1, 0, 0, 0, 0.0, c), CBRL_EINVAL);
  assert_int_equal(cbrl_affine_add_transition(p, 0, 0, 2, 0, 0.0, c), CBRL_EINVAL);
  assert_int_equal(cbrl_affine_add_transition(p, 0, 0, 0, 0, NAN, c), CBRL_ERANGE);
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 0, 1, 0.0, c));
  assert_int_equal(cbrl_affine_add_transition(p, 0, 0, 0, 1, 0.5, NULL), CBRL_EINVAL);
  assert_ok(cbrl_affine_set_reward(p, 0, 0, 0, 1.0, NULL));
  assert_int_equal(cbrl_affine_set_reward(p, 0, 0, 0, 2.0, NULL), CBRL_EINVAL);
  assert_ok(cbrl_affine_set_leader_reward(p, 0, 0, 0, 1.0, NULL));
  assert_int_equal(cbrl_affine_set_leader_reward(p, 0, 0, 0, 1.0, NULL), CBRL_EINVAL);
  assert_ok(cbrl_affine_add_initial(p, 0, 0, 0.0, NULL));
  assert_int_equal(cbrl_affine_add_initial(p, 0, 0, 0.0, NULL), CBRL_EINVAL);
  assert_int_equal(cbrl_affine_set_terminal(p, 5), CBRL_EINVAL);
  cbrl_problem_free(p);
}

static void finalize_names_the_missing_transition(void **state) {
  cbrl_problem *p;
  assert_ok(cbrl_affine_create(&p, 3, 2, 1, 2));
  for (int k = 0; k < 2; k++) {
    assert_ok(cbrl_affine_add_initial(p, k, 0, 0.0, NULL));
    for (int s = 0; s < 3; s++)
      for (int a = 0; a < 2; a++)
        if (!(k == 1 && s == 1 && a == 1)) assert_ok(cbrl_affine_add_transition(p, k, s, a, 2, 0.0, NULL));
  }
  int bc = -1, bs = -1, ba = -1;
  assert_int_equal(cbrl_affine_finalize(p, &bc, &bs, &ba), CBRL_EINVAL);
  assert_int_equal(bc, 1);
  assert_int_equal(bs, 1);
  assert_int_equal(ba, 1);
  cbrl_problem_free(p);
  /* The same problem with state 1 terminal is complete. */
  assert_ok(cbrl_affine_create(&p, 3, 2, 1, 1));
  assert_ok(cbrl_affine_set_terminal(p, 1));
  assert_ok(cbrl_affine_add_initial(p, 0, 0, 0.0, NULL));
  for (int s = 0; s < 3; s++)
    for (int a = 0; a < 2; a++)
      if (s != 1) assert_ok(cbrl_affine_add_transition(p, 0, s, a, 2 - a, 0.0, NULL));
  assert_ok(cbrl_affine_finalize(p, NULL, NULL, NULL));
  assert_int_equal(cbrl_affine_add_initial(p, 0, 1, 0.0, NULL), CBRL_EINVAL); /* frozen */
  cbrl_problem_free(p);
}

/* A failed finalize leaves the builder as it was: the contexts before the bad one stay open for
   additions (their duplicate checks intact), and a second finalize after the fix builds the
   same tables as a first one would (under the sanitizer build it also must not leak). */
static void failed_finalize_leaves_the_builder_open(void **state) {
  cbrl_problem *p;
  assert_ok(cbrl_affine_create(&p, 2, 1, 1, 2));
  double c[1] = {1.0};
  for (int k = 0; k < 2; k++) {
    assert_ok(cbrl_affine_add_initial(p, k, 0, 0.0, NULL));
    assert_ok(cbrl_affine_add_transition(p, k, 1, 0, 0, 0.0, NULL)); /* out of order: sorted later */
  }
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 0, 0, 0.0, NULL));
  int bc = -1, bs = -1, ba = -1;
  assert_int_equal(cbrl_affine_finalize(p, &bc, &bs, &ba), CBRL_EINVAL); /* (0, 0) of context 1 */
  assert_int_equal(bc, 1);
  assert_int_equal(bs, 0);
  assert_int_equal(ba, 0);
  /* Context 0 was complete and is still a builder: duplicates refused, new entries taken. */
  assert_int_equal(cbrl_affine_add_transition(p, 0, 0, 0, 0, 0.0, NULL), CBRL_EINVAL);
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 0, 1, 0.0, c));
  assert_ok(cbrl_affine_add_transition(p, 1, 0, 0, 1, 0.0, NULL));
  assert_ok(cbrl_affine_finalize(p, NULL, NULL, NULL));
  cbrl_mdp m;
  double x[1] = {0.7};
  assert_ok(cbrl_mdp_init(&m, p, 0));
  assert_int_equal(m.n_transitions, 3);
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  /* Row (0, 0) holds s' = 0 (logit 0) and s' = 1 (logit x). */
  assert_int_equal(m.row[1] - m.row[0], 2);
  assert_close(m.prob[m.row[0] + 1], 1.0 / (1.0 + exp(-0.7)), 1e-15, 0.0);
  cbrl_mdp_close(&m);
  assert_ok(cbrl_mdp_init(&m, p, 1));
  assert_int_equal(m.n_transitions, 2);
  cbrl_mdp_close(&m);
  assert_int_equal(p->flags, CBRL_DEPENDS_P);
  cbrl_problem_free(p);
}

static void evaluate_gives_softmax_of_affine_logits(void **state) {
  cbrl_problem *p;
  assert_ok(cbrl_affine_create(&p, 2, 1, 2, 1));
  double c0[2] = {1.0, 0.0}, c1[2] = {0.0, 2.0};
  /* Added out of order, to exercise the CSR sort. */
  assert_ok(cbrl_affine_add_transition(p, 0, 1, 0, 0, 0.0, NULL));
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 0, 1, 0.5, c1));
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 0, 0, 0.0, c0));
  assert_ok(cbrl_affine_add_initial(p, 0, 1, 0.0, c0));
  assert_ok(cbrl_affine_add_initial(p, 0, 0, 0.0, NULL));
  assert_ok(cbrl_affine_set_reward(p, 0, 1, 0, 2.0, c1));
  assert_ok(cbrl_affine_finalize(p, NULL, NULL, NULL));
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  double x[2] = {0.3, -0.2};
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  double z0 = 0.3, z1 = 0.5 - 0.4; /* logits of s'=0 and s'=1 from (0,0) */
  double p0 = exp(z0) / (exp(z0) + exp(z1));
  int k0 = m.next[m.row[0]] == 0 ? (int)m.row[0] : (int)m.row[0] + 1;
  assert_close(m.prob[k0], p0, 1e-14, 0);
  assert_close(m.mu[1], exp(0.3) / (1.0 + exp(0.3)), 1e-14, 0);
  assert_close(m.r[1], 2.0 - 0.4, 1e-14, 0);
  assert_close(m.r[0], 0.0, 0, 0);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

/* phi(x) = <W, (r, rbar, log P, log mu)>; its gradient is exactly what vjp adds. */
static double phi(const cbrl_mdp *m, const cbrl_cotangent *w) {
  size_t sa = (size_t)m->n_states * m->n_actions;
  double v = 0.0;
  for (size_t i = 0; i < sa; i++) v += w->r[i] * m->r[i] + w->rbar[i] * m->rbar[i];
  for (int64_t k = 0; k < m->n_transitions; k++) v += w->log_p[k] * log(m->prob[k]);
  for (int s = 0; s < m->n_states; s++)
    if (m->mu[s] > 0.0) v += w->log_mu[s] * log(m->mu[s]);
  return v;
}

static void vjp_matches_finite_differences(void **state) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 7;
  o.dim = 5;
  o.coef_nonzeros = 0;
  o.terminal_fraction = 0.0;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 1));
  size_t sa = (size_t)o.n_states * o.n_actions;
  double *wr = malloc(sa * 8), *wb = malloc(sa * 8), *wp = malloc((size_t)m.n_transitions * 8),
         *wm = calloc((size_t)o.n_states, 8);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  for (size_t i = 0; i < sa; i++) wr[i] = cbrl_rng_normal(&rng), wb[i] = cbrl_rng_normal(&rng);
  for (int64_t k = 0; k < m.n_transitions; k++) wp[k] = cbrl_rng_normal(&rng);
  double x[5] = {0.2, -0.1, 0.4, 0.0, -0.3};
  assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
  for (int s = 0; s < o.n_states; s++)
    if (m.mu[s] > 0.0) wm[s] = cbrl_rng_normal(&rng);
  cbrl_cotangent ct = {wr, wb, wp, wm};
  double g[5] = {0};
  assert_ok(cbrl_mdp_vjp(&m, p, 1, x, &ct, g));
  for (int j = 0; j < 5; j++) {
    double h = 1e-5, xs = x[j], fp, fm;
    x[j] = xs + h;
    assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
    fp = phi(&m, &ct);
    x[j] = xs - h;
    assert_ok(cbrl_mdp_evaluate(&m, p, 1, x));
    fm = phi(&m, &ct);
    x[j] = xs;
    assert_close(g[j], (fp - fm) / (2 * h), 1e-7, 1e-8);
  }
  free(wr), free(wb), free(wp), free(wm);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

static void random_problem_is_reproducible_and_valid(void **state) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 30;
  o.branch = 4;
  o.seed = 11;
  cbrl_problem *a, *b;
  assert_ok(cbrl_random_problem_create(&a, &o));
  assert_ok(cbrl_random_problem_create(&b, &o));
  assert_ok(cbrl_problem_validate(a));
  assert_int_equal(a->n_contexts, 2);
  cbrl_mdp ma, mb;
  assert_ok(cbrl_mdp_init(&ma, a, 0));
  assert_ok(cbrl_mdp_init(&mb, b, 0));
  double x[3] = {0.1, 0.2, 0.3};
  assert_ok(cbrl_mdp_evaluate(&ma, a, 0, x));
  assert_ok(cbrl_mdp_evaluate(&mb, b, 0, x));
  assert_int_equal(ma.n_transitions, mb.n_transitions);
  assert_memory_equal(ma.prob, mb.prob, sizeof(double) * (size_t)ma.n_transitions);
  assert_memory_equal(ma.r, mb.r, sizeof(double) * 30 * 3);
  int terminals = 0;
  for (int s = 0; s < 30; s++) {
    terminals += ma.terminal[s];
    for (int a2 = 0; a2 < 3 && !ma.terminal[s]; a2++)
      assert_int_equal(ma.row[s * 3 + a2 + 1] - ma.row[s * 3 + a2], 4);
  }
  assert_true(terminals > 0 && terminals < 30);
  cbrl_mdp_close(&ma);
  cbrl_mdp_close(&mb);
  cbrl_problem_free(a);
  cbrl_problem_free(b);
  o.branch = 0;
  assert_int_equal(cbrl_random_problem_create(&a, &o), CBRL_EINVAL);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(builder_refuses_bad_and_duplicate_entries),
      cmocka_unit_test(finalize_names_the_missing_transition),
      cmocka_unit_test(failed_finalize_leaves_the_builder_open),
      cmocka_unit_test(evaluate_gives_softmax_of_affine_logits),
      cmocka_unit_test(vjp_matches_finite_differences),
      cmocka_unit_test(random_problem_is_reproducible_and_valid),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
