/* Tests for src/linear.c (internal): P_pi assembled from a random MDP and a random policy
   against a dense sum over the CSR transitions, and GMRES on (I - gamma P_pi) x = b and its
   transpose against a dense Gaussian elimination. */
#include "test_util.h"

#include <string.h>

#include "linear.h"

enum { S = 12, A = 3 };

/* Context 0 of a random problem at x = 0.2, with terminal states (empty P_pi rows). */
static cbrl_problem *random_mdp(cbrl_mdp *m) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = S;
  o.n_actions = A;
  o.dim = 2;
  o.n_contexts = 1;
  o.seed = 17;
  o.terminal_fraction = 0.25;
  cbrl_problem *p;
  assert_ok(cbrl_random_problem_create(&p, &o));
  double x[2] = {0.2, 0.2};
  assert_ok(cbrl_mdp_init(m, p, 0));
  assert_ok(cbrl_mdp_evaluate(m, p, 0, x));
  return p;
}

static void random_policy(double *pi, uint64_t seed) {
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, 0);
  for (int s = 0; s < S; s++) {
    double z = 0.0;
    for (int a = 0; a < A; a++) z += (pi[s * A + a] = 0.1 + cbrl_rng_uniform(&rng));
    for (int a = 0; a < A; a++) pi[s * A + a] /= z;
  }
}

/* Dense M = I - gamma P_pi, row-major. */
static void dense_operator(const cbrl_mdp *m, const double *pi, double gamma, double *M) {
  memset(M, 0, sizeof(double) * S * S);
  for (int s = 0; s < S; s++) {
    M[s * S + s] = 1.0;
    if (m->terminal[s]) continue;
    for (int a = 0; a < A; a++)
      for (int64_t k = m->row[s * A + a]; k < m->row[s * A + a + 1]; k++)
        M[s * S + m->next[k]] -= gamma * pi[s * A + a] * m->prob[k];
  }
}

/* Solves M x = b (or M^T x = b) by Gaussian elimination with partial pivoting. */
static void dense_solve(const double *M, int transpose, const double *b, double *x) {
  double a[S][S + 1];
  for (int i = 0; i < S; i++) {
    for (int j = 0; j < S; j++) a[i][j] = transpose ? M[j * S + i] : M[i * S + j];
    a[i][S] = b[i];
  }
  for (int c = 0; c < S; c++) {
    int piv = c;
    for (int i = c + 1; i < S; i++)
      if (fabs(a[i][c]) > fabs(a[piv][c])) piv = i;
    for (int j = 0; j <= S; j++) {
      double t = a[c][j];
      a[c][j] = a[piv][j];
      a[piv][j] = t;
    }
    for (int i = c + 1; i < S; i++) {
      double f = a[i][c] / a[c][c];
      for (int j = c; j <= S; j++) a[i][j] -= f * a[c][j];
    }
  }
  for (int i = S - 1; i >= 0; i--) {
    double t = a[i][S];
    for (int j = i + 1; j < S; j++) t -= a[i][j] * x[j];
    x[i] = t / a[i][i];
  }
}

static void markov_products_match_the_dense_matrix(void **state) {
  cbrl_mdp m;
  cbrl_problem *p = random_mdp(&m);
  double pi[S * A], M[S * S], x[S], y[S];
  random_policy(pi, 3);
  cbrl__markov_matrix mm;
  assert_ok(cbrl__markov_matrix_init(&mm, S));
  assert_ok(cbrl__markov_matrix_build(&mm, &m, pi));
  dense_operator(&m, pi, 0.9, M);
  for (int i = 0; i < S; i++) x[i] = sin(1.0 + i);
  for (int transpose = 0; transpose < 2; transpose++) {
    cbrl__markov op = {&mm, 0.9, transpose, NULL};
    cbrl__markov_apply(&op, x, y);
    for (int i = 0; i < S; i++) {
      double want = 0.0;
      for (int j = 0; j < S; j++) want += (transpose ? M[j * S + i] : M[i * S + j]) * x[j];
      assert_close(y[i], want, 1e-13, 1e-15);
    }
  }
  cbrl__markov_matrix_close(&mm);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

static void gmres_matches_a_dense_solve(void **state) {
  cbrl_mdp m;
  cbrl_problem *p = random_mdp(&m);
  double pi[S * A], M[S * S], b[S], x[S], want[S];
  random_policy(pi, 4);
  cbrl__markov_matrix mm;
  cbrl__linear l;
  assert_ok(cbrl__markov_matrix_init(&mm, S));
  assert_ok(cbrl__markov_matrix_build(&mm, &m, pi));
  assert_ok(cbrl__linear_init(&l, S, 5)); /* restarts, since 5 < S */
  for (int i = 0; i < S; i++) b[i] = cos(2.0 * i) + 0.5;
  const double gammas[2] = {0.5, 0.99};
  for (int g = 0; g < 2; g++)
    for (int transpose = 0; transpose < 2; transpose++) {
      dense_operator(&m, pi, gammas[g], M);
      dense_solve(M, transpose, b, want);
      cbrl__markov op = {&mm, gammas[g], transpose, NULL};
      memset(x, 0, sizeof x);
      int64_t iterations = 0;
      double residual = -1.0;
      assert_ok(cbrl__linear_solve(&l, &op, b, x, 1e-12, 1000, &iterations, &residual));
      assert_true(iterations > 0);
      assert_true(residual >= 0.0 && residual <= 1e-12);
      for (int i = 0; i < S; i++) assert_close(x[i], want[i], 1e-9, 1e-12);
      /* From the solution itself, nothing is left to do. */
      int64_t again = 0;
      assert_ok(cbrl__linear_solve(&l, &op, b, x, 1e-12, 1000, &again, &residual));
      assert_true(again <= 2);
    }
  /* Too few products: reported, not hidden. */
  cbrl__markov op = {&mm, 0.99, 0, NULL};
  memset(x, 0, sizeof x);
  int64_t iterations = 0;
  double residual;
  assert_int_equal(cbrl__linear_solve(&l, &op, b, x, 1e-14, 1, &iterations, &residual), CBRL_ENOCONV);
  cbrl__linear_close(&l);
  cbrl__markov_matrix_close(&mm);
  cbrl_mdp_close(&m);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(markov_products_match_the_dense_matrix),
      cmocka_unit_test(gmres_matches_a_dense_solve),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
