/* Tests for env/four_rooms.c against the facts of docs/ENVIRONMENTS.md 1 and an independent small model
   built here from the map. */
#include "test_util.h"

#include <string.h>

static const char *const map[13] = {
    "xxxxxxxxxxxxx", "x     x     x", "x     x     x", "x           x", "x     x     x",
    "x     x     x", "xx xxxx     x", "x     xxx xxx", "x     x     x", "x     x     x",
    "x           x", "x     x     x", "xxxxxxxxxxxxx"};

static void map_has_104_cells_with_the_spec_indices(void **state) {
  int count = 0;
  for (int r = 0; r < 13; r++)
    for (int c = 0; c < 13; c++) {
      int cell = cbrl_four_rooms_cell(r, c);
      if (map[r][c] == 'x') {
        assert_int_equal(cell, -1);
        continue;
      }
      assert_int_equal(cell, count); /* row-major order of the free cells */
      int rr, cc;
      assert_ok(cbrl_four_rooms_coords(cell, &rr, &cc));
      assert_int_equal(rr, r);
      assert_int_equal(cc, c);
      count++;
    }
  assert_int_equal(count, CBRL_FOUR_ROOMS_CELLS);
  assert_int_equal(cbrl_four_rooms_cell(4, 1), 31);
  assert_int_equal(cbrl_four_rooms_cell(1, 9), 7);
  assert_int_equal(cbrl_four_rooms_cell(11, 11), 103);
  assert_int_equal(cbrl_four_rooms_cell(8, 4), 66);
  assert_int_equal(cbrl_four_rooms_start(), 31);
  assert_int_equal(cbrl_four_rooms_target(), 66);
  assert_int_equal(cbrl_four_rooms_goal(0), 7);
  assert_int_equal(cbrl_four_rooms_goal(1), 103);
  assert_int_equal(cbrl_four_rooms_goal(2), -1);
  assert_int_equal(cbrl_four_rooms_cell(-1, 3), -1);
  assert_int_equal(cbrl_four_rooms_coords(104, NULL, NULL), CBRL_EINVAL);
  /* Doors: free cells that join the rooms. */
  assert_true(cbrl_four_rooms_cell(3, 6) >= 0);
  assert_true(cbrl_four_rooms_cell(6, 2) >= 0);
  assert_true(cbrl_four_rooms_cell(7, 9) >= 0);
  assert_true(cbrl_four_rooms_cell(10, 6) >= 0);
}

static void kernel_rows_sum_to_one_with_the_slip_probabilities(void **state) {
  cbrl_problem *p;
  assert_ok(cbrl_four_rooms_create(&p, NULL));
  for (int k = 0; k < 2; k++) {
    cbrl_mdp m;
    assert_ok(cbrl_mdp_init(&m, p, k));
    double x[105] = {0};
    assert_ok(cbrl_mdp_evaluate(&m, p, k, x));
    int goal = cbrl_four_rooms_goal(k);
    assert_true(m.terminal[goal]);
    for (int s = 0; s < 104; s++)
      for (int a = 0; a < 4; a++) {
        double sum = 0.0;
        for (int64_t j = m.row[s * 4 + a]; j < m.row[s * 4 + a + 1]; j++) sum += m.prob[j];
        if (s == goal) assert_close(sum, 0.0, 0, 0);
        else assert_close(sum, 1.0, 0, 1e-15);
      }
    /* From (2,2), "right" reaches (2,3) with 1 - 4*0.33/3 = 0.56, "up" with 4*0.33/9. */
    int s = cbrl_four_rooms_cell(2, 2), right = cbrl_four_rooms_cell(2, 3), up = cbrl_four_rooms_cell(1, 2);
    for (int64_t j = m.row[s * 4 + 1]; j < m.row[s * 4 + 2]; j++) {
      if (m.next[j] == right) assert_close(m.prob[j], 0.56, 0, 1e-15);
      if (m.next[j] == up) assert_close(m.prob[j], 4 * 0.33 / 9, 0, 1e-15);
    }
    /* A corner: up and left both bounce back, so staying has 2 * 4f/9. */
    int corner = cbrl_four_rooms_cell(1, 1);
    for (int64_t j = m.row[corner * 4 + 1]; j < m.row[corner * 4 + 2]; j++)
      if (m.next[j] == corner) assert_close(m.prob[j], 2 * 4 * 0.33 / 9, 0, 1e-15);
    assert_close(m.mu[31], 1.0, 0, 0);
    cbrl_mdp_close(&m);
  }
  cbrl_problem_free(p);
}

static void goal_value_is_one_plus_lambda_log_4(void **state) {
  const double lambdas[3] = {0.001, 0.003, 0.005};
  for (int i = 0; i < 3; i++) {
    cbrl_four_rooms_opts o;
    cbrl_four_rooms_opts_default(&o);
    o.lambda = lambdas[i];
    cbrl_problem *p;
    assert_ok(cbrl_four_rooms_create(&p, &o));
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    double x[105] = {0}, F;
    assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, NULL));
    for (int k = 0; k < 2; k++)
      assert_close(cbrl_exact_follower(e, k)->v[cbrl_four_rooms_goal(k)], 1.0 + lambdas[i] * log(4.0), 1e-14, 0);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

/* Independent model: kernel from the map, dense soft value iteration, then the leader's value
   by iterated evaluation; x = 0 so every penalty is -0.2/105. */
static double independent_f(int goal_row, int goal_col, double lambda, double beta) {
  static const int dr[4] = {-1, 0, 1, 0}, dc[4] = {0, 1, 0, -1};
  int id[13][13], n = 0, rr[104], cc[104];
  for (int r = 0; r < 13; r++)
    for (int c = 0; c < 13; c++) {
      id[r][c] = map[r][c] == 'x' ? -1 : n;
      if (map[r][c] != 'x') rr[n] = r, cc[n] = c, n++;
    }
  double P[104][4][104];
  memset(P, 0, sizeof P);
  for (int s = 0; s < 104; s++)
    for (int a = 0; a < 4; a++)
      for (int d = 0; d < 4; d++) {
        int t = id[rr[s] + dr[d]][cc[s] + dc[d]];
        P[s][a][t < 0 ? s : t] += d == a ? 0.56 : 0.44 / 3.0;
      }
  int goal = id[goal_row][goal_col], target = id[8][4], start = id[4][1];
  double pen = -0.2 / 105.0, budget = 0.2 * 104.0 / 105.0, gam = 0.99;
  double V[104] = {0}, Q[104][4], pi[104][4];
  for (int it = 0; it < 20000; it++) {
    for (int s = 0; s < 104; s++) {
      double mx = -INFINITY;
      for (int a = 0; a < 4; a++) {
        double q = s == goal ? 1.0 : pen;
        if (s != goal)
          for (int t = 0; t < 104; t++) q += gam * P[s][a][t] * V[t];
        Q[s][a] = q;
        mx = fmax(mx, q);
      }
      double z = 0.0;
      for (int a = 0; a < 4; a++) z += exp((Q[s][a] - mx) / lambda);
      V[s] = mx + lambda * log(z);
    }
  }
  for (int s = 0; s < 104; s++)
    for (int a = 0; a < 4; a++) pi[s][a] = exp((Q[s][a] - V[s]) / lambda);
  double Vb[104] = {0}, nv[104];
  for (int it = 0; it < 20000; it++) {
    for (int s = 0; s < 104; s++) {
      double rb = (s == target) - (s == goal) * beta * budget, v = 0.0;
      for (int a = 0; a < 4; a++) {
        double q = rb;
        if (s != goal)
          for (int t = 0; t < 104; t++) q += gam * P[s][a][t] * Vb[t];
        v += pi[s][a] * q;
      }
      nv[s] = v;
    }
    memcpy(Vb, nv, sizeof Vb);
  }
  return Vb[start];
}

static void objective_at_zero_matches_an_independent_model(void **state) {
  if (test_quick()) skip();
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.lambda = 0.005;
  o.beta = 2.0;
  cbrl_problem *p;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[105] = {0}, F, f[2];
  assert_ok(cbrl_exact_evaluate(e, x, &F, f, NULL));
  assert_close(f[0], independent_f(1, 9, 0.005, 2.0), 1e-9, 1e-11);
  assert_close(f[1], independent_f(11, 11, 0.005, 2.0), 1e-9, 1e-11);
  assert_close(F, 0.5 * (f[0] + f[1]), 1e-14, 0);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void penalties_are_a_scaled_softmax(void **state) {
  double x[105], pen[104], total = 0.0;
  for (int i = 0; i < 105; i++) x[i] = 0.01 * i;
  cbrl_four_rooms_penalties(x, pen);
  double z = 0.0;
  for (int i = 0; i < 105; i++) z += exp(x[i]);
  for (int i = 0; i < 104; i++) {
    assert_close(pen[i], -0.2 * exp(x[i]) / z, 1e-13, 0);
    total += pen[i];
  }
  assert_close(total, -0.2 * (1.0 - exp(x[104]) / z), 1e-13, 0);
}

static void hypergradient_matches_finite_differences(void **state) {
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.beta = 3.0;
  o.lambda = 0.005;
  cbrl_problem *p;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[105], g[105], F;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2, 0);
  for (int i = 0; i < 105; i++) x[i] = 0.5 * cbrl_rng_normal(&rng);
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  double gmax = 0.0;
  for (int i = 0; i < 105; i++) gmax = fmax(gmax, fabs(g[i]));
  const int coords[6] = {0, 7, 31, 47, 66, 104}; /* corner, goal, start, door, target, slack */
  for (int i = 0; i < 6; i++)
    assert_close(g[coords[i]], test_fd(e, x, 105, coords[i], 1e-3), 0, 1e-6 * gmax);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void options_are_checked(void **state) {
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  assert_close(o.fail_prob, 0.33, 0, 0);
  assert_close(o.lambda, 0.003, 0, 0);
  o.fail_prob = 0.9;
  cbrl_problem *p = NULL;
  assert_int_equal(cbrl_four_rooms_create(&p, &o), CBRL_EINVAL);
  assert_null(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(map_has_104_cells_with_the_spec_indices),
      cmocka_unit_test(kernel_rows_sum_to_one_with_the_slip_probabilities),
      cmocka_unit_test(goal_value_is_one_plus_lambda_log_4),
      cmocka_unit_test(objective_at_zero_matches_an_independent_model),
      cmocka_unit_test(penalties_are_a_scaled_softmax),
      cmocka_unit_test(hypergradient_matches_finite_differences),
      cmocka_unit_test(options_are_checked),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
