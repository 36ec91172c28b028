/* Tests for src/model.c: problems, validation, MDP storage and its scratch, and a user-defined problem. */
#include "test_util.h"

#include <string.h>

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

static const cbrl_problem_ops toy_ops = {toy_nnz, toy_structure, toy_evaluate, toy_vjp, toy_destroy, NULL};

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

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(create_rejects_bad_sizes),
      cmocka_unit_test(validate_checks_discounts_temperature_weights),
      cmocka_unit_test(mdp_init_evaluate_close_on_a_user_problem),
      cmocka_unit_test(ops_work_in_the_mdps_scratch),
      cmocka_unit_test(mdp_evaluate_reports_faults),
      cmocka_unit_test(user_problem_gradient_matches_finite_differences),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
