/* Tests for src/soft_solver.c and src/linear.c against independent naive computations. */
#include "test_util.h"

#include <string.h>

typedef struct fixture {
  cbrl_problem *p;
  cbrl_mdp m;
  cbrl_soft_solver w;
} fixture;

static void setup(fixture *f, int n_states, double terminal_fraction, uint64_t seed) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = n_states;
  o.n_actions = 3;
  o.branch = 3;
  o.seed = seed;
  o.terminal_fraction = terminal_fraction;
  assert_ok(cbrl_random_problem_create(&f->p, &o));
  assert_ok(cbrl_mdp_init(&f->m, f->p, 0));
  double x[3] = {0.3, -0.5, 0.2};
  assert_ok(cbrl_mdp_evaluate(&f->m, f->p, 0, x));
  assert_ok(cbrl_soft_solver_init(&f->w, n_states, 3));
}

static void teardown(fixture *f) {
  cbrl_soft_solver_close(&f->w);
  cbrl_mdp_close(&f->m);
  cbrl_problem_free(f->p);
}

/* Plain soft value iteration, sweeping until nothing moves: the independent reference. */
static void naive_soft_vi(const cbrl_mdp *m, double gamma, double lambda, double *v) {
  int S = m->n_states, A = m->n_actions;
  double *q = malloc(sizeof(double) * S * A);
  memset(v, 0, sizeof(double) * S);
  for (int sweep = 0; sweep < 200000; sweep++) {
    cbrl_mdp_backup(m, gamma, m->r, v, q);
    double change = 0.0;
    for (int s = 0; s < S; s++) {
      double mx = -INFINITY, sum = 0.0;
      for (int a = 0; a < A; a++) mx = fmax(mx, q[s * A + a]);
      for (int a = 0; a < A; a++) sum += exp((q[s * A + a] - mx) / lambda);
      double nv = mx + lambda * log(sum);
      change = fmax(change, fabs(nv - v[s]));
      v[s] = nv;
    }
    if (change < 1e-14 * (1.0 + fabs(v[0]))) break;
  }
  free(q);
}

static void check_against_naive(double gamma, double lambda, double terminal_fraction, double rtol) {
  fixture f;
  setup(&f, 25, terminal_fraction, 5);
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, gamma, lambda));
  assert_true(f.w.stats.converged);
  double v[25];
  naive_soft_vi(&f.m, gamma, lambda, v);
  for (int s = 0; s < 25; s++) {
    assert_close(f.w.v[s], v[s], rtol, 1e-10);
    double psum = 0.0;
    for (int a = 0; a < 3; a++) psum += f.w.pi[s * 3 + a];
    assert_close(psum, 1.0, 0, 1e-12);
  }
  teardown(&f);
}

static void solve_matches_naive_value_iteration(void **state) {
  check_against_naive(0.9, 1.0, 0.1, 1e-10);
  check_against_naive(0.9, 0.05, 0.0, 1e-10);
  check_against_naive(0.5, 10.0, 0.2, 1e-10);
  check_against_naive(0.0, 0.3, 0.1, 1e-12);
}

static void extreme_discount_and_temperature_stay_finite(void **state) {
  const double gammas[3] = {0.0, 0.99, 0.999};
  const double lambdas[4] = {1e-4, 1e-2, 1.0, 100.0};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) {
      fixture f;
      setup(&f, 40, 0.1, 9);
      assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, gammas[i], lambdas[j]));
      for (int k = 0; k < 40 * 3; k++) {
        assert_true(isfinite(f.w.q[k]) && isfinite(f.w.log_pi[k]));
        assert_true(f.w.pi[k] >= 0.0 && f.w.pi[k] <= 1.0);
      }
      /* V* = lam logsumexp(Q* / lam) lies between max Q and max Q + lam log A. */
      for (int s = 0; s < 40; s++) {
        double mx = fmax(fmax(f.w.q[s * 3], f.w.q[s * 3 + 1]), f.w.q[s * 3 + 2]);
        assert_true(f.w.v[s] >= mx - 1e-9 * fabs(mx) - 1e-12);
        assert_true(f.w.v[s] <= mx + lambdas[j] * log(3.0) + 1e-9 * fabs(mx) + 1e-12);
      }
      teardown(&f);
    }
}

static void tiny_temperature_with_large_rewards_has_no_overflow(void **state) {
  fixture f;
  setup(&f, 30, 0.1, 2);
  for (int i = 0; i < 90; i++) f.m.r[i] *= 1e6;
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, 0.99, 1e-4));
  for (int i = 0; i < 90; i++) assert_true(isfinite(f.w.q[i]) && isfinite(f.w.pi[i]));
  teardown(&f);
}

static void warm_start_needs_fewer_steps(void **state) {
  fixture f;
  setup(&f, 200, 0.05, 4);
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, 0.99, 0.1));
  int cold = f.w.stats.iterations;
  int64_t cold_products = f.w.stats.linear_iterations;
  for (int i = 0; i < 600; i++) f.m.r[i] += 1e-4 * sin(i);
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, 0.99, 0.1));
  assert_true(f.w.stats.iterations < cold);
  assert_true(f.w.stats.linear_iterations < cold_products);
  /* Reset forgets the solution: the same cold cost again. */
  cbrl_soft_solver_reset(&f.w);
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, 0.99, 0.1));
  assert_true(f.w.stats.iterations >= cold - 1);
  teardown(&f);
}

static void nonconvergence_is_reported(void **state) {
  fixture f;
  setup(&f, 30, 0.0, 1);
  f.w.opts.max_iterations = 0;
  assert_int_equal(cbrl_soft_solver_solve(&f.w, &f.m, 0.9, 1.0), CBRL_ENOCONV);
  assert_false(f.w.stats.converged);
  assert_true(f.w.stats.residual > 0.0);
  f.w.opts.max_iterations = 100;
  f.m.r[4] = NAN;
  assert_int_equal(cbrl_soft_solver_solve(&f.w, &f.m, 0.9, 1.0), CBRL_ENONFINITE);
  assert_true(f.w.stats.nonfinite);
  teardown(&f);
}

static void evaluation_and_occupancy_match_naive_sums(void **state) {
  fixture f;
  setup(&f, 20, 0.15, 8);
  double gamma = 0.8;
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, 0.9, 0.5));
  double v[20] = {0}, vn[20] = {0}, tmp[20], q[60];
  assert_ok(cbrl_soft_solver_evaluate(&f.w, &f.m, gamma, f.m.rbar, v));
  for (int it = 0; it < 3000; it++) {
    cbrl_mdp_backup(&f.m, gamma, f.m.rbar, vn, q);
    for (int s = 0; s < 20; s++) {
      tmp[s] = 0.0;
      for (int a = 0; a < 3; a++) tmp[s] += f.w.pi[s * 3 + a] * q[s * 3 + a];
    }
    memcpy(vn, tmp, sizeof vn);
  }
  for (int s = 0; s < 20; s++) assert_close(v[s], vn[s], 1e-10, 1e-12);
  /* Occupancy: <d, reward_pi> = <mu, V> for any reward, by duality. */
  double d[20] = {0}, lhs = 0.0, rhs = 0.0;
  assert_ok(cbrl_soft_solver_occupancy(&f.w, &f.m, gamma, NULL, d));
  for (int s = 0; s < 20; s++) {
    double rp = 0.0;
    for (int a = 0; a < 3; a++) rp += f.w.pi[s * 3 + a] * f.m.rbar[s * 3 + a];
    lhs += d[s] * rp;
    rhs += f.m.mu[s] * v[s];
  }
  assert_close(lhs, rhs, 1e-10, 1e-12);
  teardown(&f);
}

static void occupancy_without_terminals_sums_to_horizon(void **state) {
  fixture f;
  setup(&f, 50, 0.0, 3);
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, 0.95, 1.0));
  double d[50] = {0}, total = 0.0;
  assert_ok(cbrl_soft_solver_occupancy(&f.w, &f.m, 0.95, NULL, d));
  for (int s = 0; s < 50; s++) {
    assert_true(d[s] >= -1e-12);
    total += d[s];
  }
  assert_close(total, 1.0 / (1.0 - 0.95), 1e-10, 0);
  teardown(&f);
}

static void vector_evaluation_equals_scalar_columns(void **state) {
  fixture f;
  setup(&f, 15, 0.1, 6);
  assert_ok(cbrl_soft_solver_solve(&f.w, &f.m, 0.9, 1.0));
  int dim = 3;
  double reward[45 * 3], v[15 * 3] = {0}, col[45], vc[15];
  for (int i = 0; i < 45 * 3; i++) reward[i] = sin(1.0 + i);
  assert_ok(cbrl_soft_solver_evaluate_vector(&f.w, &f.m, 0.85, dim, reward, v));
  for (int j = 0; j < dim; j++) {
    for (int i = 0; i < 45; i++) col[i] = reward[i * dim + j];
    memset(vc, 0, sizeof vc);
    assert_ok(cbrl_soft_solver_evaluate(&f.w, &f.m, 0.85, col, vc));
    for (int s = 0; s < 15; s++) assert_close(v[s * dim + j], vc[s], 1e-10, 1e-12);
  }
  teardown(&f);
}

static void set_q_gives_the_softmax_policy(void **state) {
  fixture f;
  setup(&f, 5, 0.0, 1);
  double q[15];
  for (int i = 0; i < 15; i++) q[i] = 0.1 * i;
  assert_ok(cbrl_soft_solver_set_q(&f.w, q, 0.5));
  double z = exp(0.0) + exp(0.2) + exp(0.4);
  assert_close(f.w.pi[0], 1.0 / z, 1e-14, 0);
  assert_close(f.w.v[0], 0.5 * log(z), 1e-14, 0);
  assert_int_equal(cbrl_soft_solver_set_q(&f.w, q, 0.0), CBRL_EINVAL);
  teardown(&f);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(solve_matches_naive_value_iteration),
      cmocka_unit_test(extreme_discount_and_temperature_stay_finite),
      cmocka_unit_test(tiny_temperature_with_large_rewards_has_no_overflow),
      cmocka_unit_test(warm_start_needs_fewer_steps),
      cmocka_unit_test(nonconvergence_is_reported),
      cmocka_unit_test(evaluation_and_occupancy_match_naive_sums),
      cmocka_unit_test(occupancy_without_terminals_sums_to_horizon),
      cmocka_unit_test(vector_evaluation_equals_scalar_columns),
      cmocka_unit_test(set_q_gives_the_softmax_policy),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
