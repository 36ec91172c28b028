/* Tests for src/sampler.c: alias tables give each outcome its weight's share (to rounding of the
   integer masses), never an outcome of weight 0, and the draw maps the 64-bit range onto the
   columns as documented. */
#include "test_util.h"

#include <string.h>

#include "cbrl/env/four_rooms.h"
#include "cbrl/env/tax.h"
#include "cbrl/exact.h"
#include "sampler.h"

/* The table of w must give w_j / sum(w) to 1e-15, and 0 exactly where w_j <= 0. */
static void check_table(const double *w, int64_t n) {
  cbrl__alias_cell *cell = malloc(sizeof *cell * (size_t)n);
  int32_t *stack = malloc(sizeof *stack * 2 * (size_t)n);
  assert_non_null(cell);
  assert_non_null(stack);
  cbrl__alias_build(w, n, cell, stack);
  double total = 0.0;
  for (int64_t j = 0; j < n; j++) total += w[j] > 0.0 ? w[j] : 0.0;
  for (int64_t j = 0; j < n; j++) {
    assert_true(cell[j].alias >= 0 && cell[j].alias < n);
    double p = cbrl__alias_probability(cell, n, j);
    if (!(w[j] > 0.0)) assert_true(p == 0.0);
    else assert_close(p, w[j] / total, 0, 1e-15);
  }
  free(cell);
  free(stack);
}

static void tables_give_each_outcome_its_share(void **state) {
  double one[1] = {0.3};
  check_table(one, 1);
  double w[7] = {0.1, 0.0, 0.25, 1e-300, 0.4, -1.0, 0.25 - 1e-17};
  check_table(w, 7);
  double uniform[5] = {0.2, 0.2, 0.2, 0.2, 0.2};
  check_table(uniform, 5);
  double point[6] = {0, 0, 0, 1, 0, 0};
  check_table(point, 6);
  /* Random weights with many exact zeros, up to the row lengths of the tax grid and beyond. */
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  for (int n = 2; n <= 1000; n = n * 3 + 1) {
    double *v = malloc(sizeof *v * (size_t)n);
    for (int j = 0; j < n; j++) v[j] = cbrl_rng_uniform(&rng) < 0.3 ? 0.0 : cbrl_rng_uniform(&rng);
    check_table(v, n);
    free(v);
  }
}

/* Every row of the models' kernels (Four-Rooms, its paper-code kernel, the tax grid) and of their
   followers' policies. */
static void tables_of_every_environment_match_their_rows(void **state) {
  for (int env = 0; env < 3; env++) {
    cbrl_problem *p;
    if (env < 2) {
      assert_ok(cbrl_four_rooms_create(&p, NULL));
    } else {
      cbrl_tax_opts o;
      cbrl_tax_opts_default(&o);
      o.n_bins = test_quick() ? 20 : 60;
      assert_ok(cbrl_tax_create(&p, &o));
    }
    cbrl_exact *e;
    assert_ok(cbrl_exact_create(&e, p));
    double *x = calloc((size_t)p->dim, sizeof *x);
    if (env == 2) cbrl_tax_x_for_rate(0.3, x);
    assert_ok(cbrl_exact_context(e, 0, x, NULL, NULL));
    cbrl_mdp m = *cbrl_exact_mdp(e, 0);
    cbrl_simulator *sim = NULL;
    if (env == 1) {
      assert_ok(cbrl_four_rooms_paper_sim_create(&sim, p));
      assert_ok(cbrl_simulator_prepare(sim, 0, x, cbrl_exact_mdp(e, 0)));
      cbrl_simulator_tabular(sim, cbrl_exact_mdp(e, 0), &m);
    }
    int A = m.n_actions;
    for (int64_t sa = 0; sa < (int64_t)m.n_states * A; sa++)
      if (m.row[sa + 1] > m.row[sa]) check_table(m.prob + m.row[sa], m.row[sa + 1] - m.row[sa]);
    const cbrl_soft_solver *w = cbrl_exact_follower(e, 0);
    for (int s = 0; s < m.n_states; s++) check_table(w->pi + (size_t)s * A, A);
    check_table(m.mu, m.n_states);
    cbrl_simulator_free(sim);
    free(x);
    cbrl_exact_free(e);
    cbrl_problem_free(p);
  }
}

/* The column is floor(r n / 2^64) and the side the fraction's comparison with keep: equal
   weights fill every column, so the draw is the column; and over evenly spaced r an uneven
   table's outcomes take their shares. */
static void draws_split_the_range_into_columns(void **state) {
  cbrl__alias_cell cell[4];
  int32_t stack[8];
  double equal[4] = {0.25, 0.25, 0.25, 0.25};
  cbrl__alias_build(equal, 4, cell, stack);
  uint64_t quarter = (uint64_t)1 << 62;
  assert_int_equal(cbrl__alias_draw(cell, 4, 0), 0);
  assert_int_equal(cbrl__alias_draw(cell, 4, quarter - 1), 0);
  assert_int_equal(cbrl__alias_draw(cell, 4, quarter), 1);
  assert_int_equal(cbrl__alias_draw(cell, 4, 3 * quarter - 1), 2);
  assert_int_equal(cbrl__alias_draw(cell, 4, UINT64_MAX), 3);
  double w[3] = {0.5, 0.0, 0.5};
  cbrl__alias_build(w, 3, cell, stack);
  int64_t n = 300000, seen[3] = {0};
  uint64_t step = UINT64_MAX / (uint64_t)n;
  for (int64_t k = 0; k < n; k++) seen[cbrl__alias_draw(cell, 3, (uint64_t)k * step + step / 2)]++;
  assert_int_equal(seen[1], 0);
  assert_close(seen[0] / (double)n, 0.5, 0, 1e-4); /* a grid, not random: off by its spacing */
  /* Weights all zero: outcome 0. */
  double zero[2] = {0.0, 0.0};
  cbrl__alias_build(zero, 2, cell, stack);
  assert_int_equal(cbrl__alias_draw(cell, 2, UINT64_MAX), 0);
  assert_int_equal(cbrl__alias_draw(cell, 2, 0), 0);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tables_give_each_outcome_its_share),
      cmocka_unit_test(tables_of_every_environment_match_their_rows),
      cmocka_unit_test(draws_split_the_range_into_columns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
