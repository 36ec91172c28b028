/* Tests for src/model.c: problems, validation, MDP storage and its scratch, and a user-defined problem. */
#include "test_util.h"

#include <math.h>
#include <string.h>

#include "cbrl/env/random_problem.h"
#include "cbrl/hpgd.h"

/* A two-state problem written through the public ops, with switchable faults. */
typedef struct toy {
  int fault; /* 0 none, 1 bad probabilities, 2 NaN reward, 3 bad pattern, 4 no mu */
  void *evaluate_scratch, *vjp_scratch; /* the scratch the ops were last given */
} toy;

static int64_t toy_nnz(const cbrl_problem *p, int c) { return 4; }

static int toy_structure(const cbrl_problem *p, int c, cbrl_mdp *m) {
  const toy *t = p->impl;
  for (int i = 0; i <= 4; i++) m->row[i] = i;
  for (int k = 0; k < 4; k++) m->next[k] = k % 2;
  if (t->fault == 3) m->next[2] = 7;
  return 0;
}

static int toy_evaluate(const cbrl_problem *p, int c, const double *x, cbrl_mdp *m, void *scratch) {
  toy *t = p->impl;
  t->evaluate_scratch = scratch;
  if (scratch) memset(scratch, 0xff, p->scratch_size); /* all of it is ours */
  for (int k = 0; k < 4; k++) m->prob[k] = 1.0;
  if (t->fault == 1) m->prob[1] = 0.5;
  for (int i = 0; i < 4; i++) m->r[i] = x[0] * i, m->rbar[i] = 1.0;
  if (t->fault == 2) m->r[3] = NAN;
  m->mu[0] = t->fault == 4 ? 0.0 : 1.0;
  return 0;
}

static int toy_vjp(const cbrl_problem *p, int c, const double *x, const cbrl_mdp *m,
                   const cbrl_cotangent *ct, double *g, void *scratch) {
  ((toy *)p->impl)->vjp_scratch = scratch;
  if (ct->r)
    for (int i = 0; i < 4; i++) g[0] += ct->r[i] * i;
  return 0;
}

static void toy_destroy(cbrl_problem *p) { free(p->impl); }

static const cbrl_problem_ops toy_ops = {toy_nnz, toy_structure, toy_evaluate, toy_vjp, toy_destroy, NULL, NULL, NULL};

static cbrl_problem *make_toy(int fault) {
  toy *t = calloc(1, sizeof *t);
  t->fault = fault;
  cbrl_problem *p;
  assert_ok(cbrl_problem_create(&p, &toy_ops, t, 2, 2, 1, 1));
  return p;
}

static void create_rejects_bad_sizes(void **state) {
  cbrl_problem *p = NULL;
  assert_int_equal(cbrl_problem_create(&p, &toy_ops, NULL, 0, 2, 1, 1), CBRL_EINVAL);
  assert_int_equal(cbrl_problem_create(&p, &toy_ops, NULL, 2, 2, 0, 1), CBRL_EINVAL);
  assert_int_equal(cbrl_problem_create(&p, NULL, NULL, 2, 2, 1, 1), CBRL_EINVAL);
  assert_null(p);
  cbrl_problem_free(NULL);
}

static void validate_checks_discounts_temperature_weights(void **state) {
  cbrl_problem *p = make_toy(0);
  assert_ok(cbrl_problem_validate(p));
  p->gamma = 1.0;
  assert_int_equal(cbrl_problem_validate(p), CBRL_ERANGE);
  p->gamma = 0.5;
  p->leader_gamma = -0.1;
  assert_int_equal(cbrl_problem_validate(p), CBRL_ERANGE);
  p->leader_gamma = 0.5;
  p->lambda = 0.0;
  assert_int_equal(cbrl_problem_validate(p), CBRL_ERANGE);
  p->lambda = NAN;
  assert_int_equal(cbrl_problem_validate(p), CBRL_ERANGE);
  p->lambda = 1.0;
  p->context_weight[0] = 0.9;
  assert_int_equal(cbrl_problem_validate(p), CBRL_ERANGE);
  assert_int_equal(cbrl_problem_validate(NULL), CBRL_EINVAL);
  cbrl_problem_free(p);
}

static void mdp_init_evaluate_close_on_a_user_problem(void **state) {
  cbrl_problem *p = make_toy(0);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  assert_int_equal(m.n_transitions, 4);
  double x = 2.0;
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, &x));
  assert_close(m.r[3], 6.0, 0, 0);
  cbrl_mdp_close(&m);
  assert_null(m.row);
  assert_int_equal(cbrl_mdp_init(&m, p, 1), CBRL_EINVAL);
  cbrl_problem_free(p);
}

/* The ops get the MDP's scratch, problem.scratch_size bytes, and allocate nothing themselves. */
static void ops_work_in_the_mdps_scratch(void **state) {
  cbrl_problem *p = make_toy(0);
  toy *t = p->impl;
  cbrl_mdp m;
  double x = 1.0, g = 0.0, ct_r[4] = {1.0, 1.0, 1.0, 1.0};
  assert_ok(cbrl_mdp_init(&m, p, 0));
  assert_null(m.scratch); /* scratch_size 0 */
  cbrl_mdp_close(&m);
  p->scratch_size = 5 * sizeof(double);
  assert_ok(cbrl_mdp_init(&m, p, 0));
  assert_non_null(m.scratch);
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, &x));
  assert_ptr_equal(t->evaluate_scratch, m.scratch);
  cbrl_cotangent ct = {ct_r, NULL, NULL, NULL};
  assert_ok(cbrl_mdp_vjp(&m, p, 0, &x, &ct, &g));
  assert_ptr_equal(t->vjp_scratch, m.scratch);
  assert_close(g, 6.0, 0, 0);
  assert_int_equal(cbrl_mdp_vjp(&m, p, 1, &x, &ct, &g), CBRL_EINVAL);
  assert_int_equal(cbrl_mdp_reward_jacobian(&m, p, 0, &x, NULL, NULL), CBRL_ENOTSUP);
  cbrl_mdp_close(&m);
  assert_null(m.scratch);
  cbrl_problem_free(p);
}

static void mdp_evaluate_reports_faults(void **state) {
  double x = 1.0;
  const int expect[5] = {0, CBRL_EINVAL, CBRL_ENONFINITE, CBRL_EINVAL, CBRL_EINVAL};
  for (int fault = 1; fault <= 4; fault++) {
    cbrl_problem *p = make_toy(fault);
    cbrl_mdp m;
    int err = cbrl_mdp_init(&m, p, 0);
    if (fault == 3) {
      assert_int_equal(err, CBRL_EINVAL); /* next state out of range */
    } else {
      assert_ok(err);
      assert_int_equal(cbrl_mdp_evaluate(&m, p, 0, &x), expect[fault]);
      cbrl_mdp_close(&m);
    }
    cbrl_problem_free(p);
  }
}

static void user_problem_gradient_matches_finite_differences(void **state) {
  cbrl_problem *p = make_toy(0);
  p->gamma = 0.7;
  p->leader_gamma = 0.6;
  p->lambda = 0.5;
  /* The leader is paid in state 1 and x changes what the follower earns there. */
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x = 0.3, F, g;
  assert_ok(cbrl_exact_evaluate(e, &x, &F, NULL, &g));
  assert_close(g, test_fd(e, &x, 1, 0, 1e-3), 1e-6, 1e-9);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Issue 13 class 4: sizes parse and print, the limit defaults to a share of physical memory and
   can be set, and objects too large for it are refused before they are allocated. */
static void memory_limits_are_checked_before_allocating(void **state) {
  double b;
  const char *good[] = {"1000", "512M", "2G", "1.5GiB", "64k", "3TB", "7b"};
  const double want[] = {1000, 512.0 * 1048576, 2.0 * 1073741824, 1.5 * 1073741824, 65536,
                         3.0 * 1099511627776.0, 7};
  for (int i = 0; i < 7; i++) {
    if (cbrl_memory_parse(good[i], &b)) fail_msg("'%s' refused", good[i]);
    if (b != want[i]) fail_msg("'%s' = %g, expected %g", good[i], b, want[i]);
  }
  const char *bad[] = {"", "0", "-1G", "12q", "1e999", "nan", "5GG", "G", "0.1"};
  for (int i = 0; i < 9; i++)
    if (cbrl_memory_parse(bad[i], &b) != CBRL_EPARSE) fail_msg("'%s' accepted", bad[i]);
  char buf[32];
  assert_string_equal(cbrl_memory_format(1536.0 * 1048576, buf, sizeof buf), "1.5 GiB");
  assert_string_equal(cbrl_memory_format(100, buf, sizeof buf), "100 B");
  double dflt = cbrl_memory_limit_default();
  assert_true(dflt > 1e8);
  assert_true(cbrl_memory_limit() == dflt);
  cbrl_memory_limit_set(1e6);
  assert_true(cbrl_memory_limit() == 1e6);
  char err[256];
  assert_int_equal(cbrl_memory_check(2e6, "--thing", err, sizeof err), CBRL_ETOOBIG);
  assert_string_equal(err, "--thing: need about 1.91 MiB, above the memory limit of 977 KiB (--max-memory)");
  assert_int_equal(cbrl_memory_check(5e5, "--thing", err, sizeof err), 0);
  /* A random problem whose estimate exceeds the limit is refused at once, one within it is built. */
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 2000, o.n_actions = 10, o.n_contexts = 4, o.branch = 5;
  cbrl_problem_shape sh;
  cbrl_random_problem_shape(&o, &sh);
  double need = cbrl_problem_memory_estimate(&sh);
  assert_true(need > 1e6);
  cbrl_problem *p = NULL;
  assert_int_equal(cbrl_random_problem_create(&p, &o), CBRL_ETOOBIG);
  assert_null(p);
  cbrl_memory_limit_set(need);
  assert_ok(cbrl_random_problem_create(&p, &o));
  /* An HPGD workspace of too many batch steps is refused, a smaller one is made. */
  cbrl_problem_shape_of(p, &sh);
  assert_true(sh.n_transitions > 0 && sh.n_transitions <= 2000.0 * 10 * 5);
  cbrl_memory_limit_set(cbrl_hpgd_memory_estimate(&sh, 1000) + 1.0);
  cbrl_hpgd *h = NULL;
  assert_int_equal(cbrl_hpgd_create(&h, p, 100000), CBRL_ETOOBIG);
  assert_null(h);
  assert_ok(cbrl_hpgd_create(&h, p, 1000));
  cbrl_hpgd_free(h);
  cbrl_problem_free(p);
  /* Estimates grow with every dimension, and huge shapes do not overflow. */
  cbrl_problem_shape a = {100, 4, 8, 2, 2000}, big = {5e7, 1e5, 1e6, 1e5, 5e12};
  double ea = cbrl_problem_memory_estimate(&a);
  for (int k = 0; k < 5; k++) {
    cbrl_problem_shape g = a;
    double *f = &g.n_states;
    f[k] *= 10;
    if (!(cbrl_problem_memory_estimate(&g) > ea)) fail_msg("field %d does not count", k);
  }
  assert_true(isfinite(cbrl_problem_memory_estimate(&big)) && cbrl_problem_memory_estimate(&big) > 1e20);
  cbrl_memory_limit_set(0);
  assert_true(cbrl_memory_limit() == dflt);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(create_rejects_bad_sizes),
      cmocka_unit_test(memory_limits_are_checked_before_allocating),
      cmocka_unit_test(validate_checks_discounts_temperature_weights),
      cmocka_unit_test(mdp_init_evaluate_close_on_a_user_problem),
      cmocka_unit_test(ops_work_in_the_mdps_scratch),
      cmocka_unit_test(mdp_evaluate_reports_faults),
      cmocka_unit_test(user_problem_gradient_matches_finite_differences),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
