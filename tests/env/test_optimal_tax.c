/* Tests for env/optimal_tax.c (docs/ENVIRONMENTS.md 6): the gradient against finite differences;
   the Saez formula's schedule against its defining equations; cbrl's exact optimum (projected
   Newton on the exact gradient from every rate 0.3) against the Saez schedule, closer as lambda
   falls and within 0.003 per rate at lambda 0.002; a worker's soft response against its
   closed form; the unbiased HPGD estimate against the exact gradient within 4 standard errors. */
#include "test_util.h"

#include <string.h>

/* Projected Newton on F with the Hessian from central differences of the exact gradient. */
static double exact_optimum(const cbrl_problem *p, double *x) {
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  int d = p->dim;
  double F = 0.0, g[8], gp[8], gm[8], H[8][9];
  for (int it = 0; it < 30; it++) {
    assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
    for (int j = 0; j < d; j++) {
      double xp[8], xm[8], h = 1e-4;
      memcpy(xp, x, sizeof(double) * d);
      memcpy(xm, x, sizeof(double) * d);
      xp[j] += h, xm[j] -= h;
      assert_ok(cbrl_exact_evaluate(e, xp, NULL, NULL, gp));
      assert_ok(cbrl_exact_evaluate(e, xm, NULL, NULL, gm));
      for (int i = 0; i < d; i++) H[i][j] = (gp[i] - gm[i]) / (2 * h);
    }
    /* Solve H step = g by elimination; a non-concave point falls back to a gradient step. */
    for (int i = 0; i < d; i++) H[i][d] = g[i];
    int ok = 1;
    for (int c = 0; c < d && ok; c++) {
      ok = H[c][c] < 0.0;
      for (int r = c + 1; r < d && ok; r++) {
        double f = H[r][c] / H[c][c];
        for (int k = c; k <= d; k++) H[r][k] -= f * H[c][k];
      }
    }
    double step[8];
    for (int c = d - 1; c >= 0; c--) {
      double v = H[c][d];
      for (int k = c + 1; k < d; k++) v -= H[c][k] * step[k];
      step[c] = ok ? v / H[c][c] : -0.1 * g[c];
    }
    for (int j = 0; j < d; j++) x[j] = fmin(fmax(x[j] - step[j], 0.0), 1.0);
  }
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  for (int j = 0; j < d; j++) assert_close(g[j], 0.0, 0, 1e-7); /* an interior stationary point */
  cbrl_exact_free(e);
  return F;
}

/* The default economy at temperature lambda on a grid of n_labour levels (its options in *o),
   with its exact workspace. */
static cbrl_problem *small_economy(double lambda, int n_labour, cbrl_optimal_tax_opts *o, cbrl_exact **e) {
  cbrl_optimal_tax_opts_default(o);
  o->lambda = lambda;
  o->n_labour = n_labour;
  cbrl_problem *p;
  assert_ok(cbrl_optimal_tax_create(&p, o));
  assert_ok(cbrl_exact_create(e, p));
  return p;
}

static void gradient_matches_finite_differences(void **state) {
  (void)state;
  cbrl_optimal_tax_opts o;
  cbrl_exact *e;
  cbrl_problem *p = small_economy(0.02, 101, &o, &e);
  double x[3] = {0.35, 0.5, 0.2}, g[3], F;
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  double gmax, rel = test_fd_relative_error(e, x, g, 3, 1e-4, &gmax);
  assert_true(gmax > 1e-3);
  if (rel > 1e-6) fail_msg("relative error %.3g", rel);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* A worker's soft response is softmax over the labour grid of its utility: check one type's
   F-contribution against that closed form. */
static void soft_response_is_the_closed_form(void **state) {
  (void)state;
  cbrl_optimal_tax_opts o;
  cbrl_exact *e;
  cbrl_problem *p = small_economy(0.05, 51, &o, &e);
  double t[3] = {0.2, 0.4, 0.6}, f[5];
  assert_ok(cbrl_exact_evaluate(e, t, NULL, f, NULL));
  double gsum = 0.0;
  for (int i = 0; i < 5; i++) gsum += 0.2 / o.skill[i];
  for (int i = 0; i < 5; i++) {
    double u[51], T[51], mx = -INFINITY, z = 0.0, want = 0.0, g = (1.0 / o.skill[i]) / gsum;
    for (int a = 0; a < 51; a++) {
      double l = 2.5 * a / 50, y = o.skill[i] * l;
      T[a] = 0.2 * fmin(y, 1.6) + 0.4 * fmax(0.0, fmin(y, 4.6) - 1.6) + 0.6 * fmax(0.0, y - 4.6);
      u[a] = y - T[a] - l * l * l / 3.0;
      mx = fmax(mx, u[a]);
    }
    for (int a = 0; a < 51; a++) z += exp((u[a] - mx) / o.lambda);
    for (int a = 0; a < 51; a++) want += exp((u[a] - mx) / o.lambda) / z * (g * u[a] + T[a]);
    assert_close(f[i], want, 1e-10, 1e-12);
  }
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* The schedule satisfies t_k / (1 - t_k) = sum_{z_i > b_k} q_i (1 - g_i) seg_k(z_i) /
   (e sum_{i in k} q_i z_i) at the earnings it implies, with every type inside a bracket. */
static void saez_schedule_solves_its_equations(void **state) {
  (void)state;
  cbrl_optimal_tax_opts o;
  cbrl_optimal_tax_opts_default(&o);
  double t[3], g[5], gs = 0.0, z[5];
  assert_ok(cbrl_optimal_tax_saez(&o, t));
  for (int i = 0; i < 5; i++) gs += 0.2 / o.skill[i];
  for (int i = 0; i < 5; i++) g[i] = (1.0 / o.skill[i]) / gs;
  const double b[4] = {0.0, 1.6, 4.6, INFINITY};
  int bracket[5];
  for (int i = 0; i < 5; i++) {
    bracket[i] = -1;
    for (int k = 0; k < 3; k++) {
      double zk = pow(o.skill[i], 1.5) * sqrt(1.0 - t[k]);
      if (zk > b[k] + 1e-3 && zk < b[k + 1] - 1e-3) bracket[i] = k, z[i] = zk;
    }
    assert_true(bracket[i] >= 0); /* no bunching at a kink */
  }
  for (int k = 0; k < 3; k++) {
    double num = 0.0, den = 0.0;
    for (int i = 0; i < 5; i++) {
      if (z[i] > b[k]) num += 0.2 * (1.0 - g[i]) * (fmin(z[i], b[k + 1]) - b[k]);
      if (bracket[i] == k) den += 0.2 * z[i];
    }
    assert_close(t[k] / (1.0 - t[k]), num / (0.5 * den), 1e-10, 0);
  }
  print_message("Saez schedule: %.4f %.4f %.4f\n", t[0], t[1], t[2]);
}

static void exact_optimum_approaches_the_saez_schedule(void **state) {
  (void)state;
  const double lambdas[3] = {0.02, 0.005, 0.002};
  double gap[3], saez[3];
  cbrl_optimal_tax_opts o;
  cbrl_optimal_tax_opts_default(&o);
  assert_ok(cbrl_optimal_tax_saez(&o, saez));
  for (int q = 0; q < 3; q++) {
    o.lambda = lambdas[q];
    cbrl_problem *p;
    assert_ok(cbrl_optimal_tax_create(&p, &o));
    double x[3] = {0.3, 0.3, 0.3};
    double F = exact_optimum(p, x);
    gap[q] = 0.0;
    for (int k = 0; k < 3; k++) gap[q] = fmax(gap[q], fabs(x[k] - saez[k]));
    print_message("lambda %g: optimum (%.4f, %.4f, %.4f), F %.6f, largest gap to Saez %.4f\n", o.lambda, x[0], x[1], x[2],
                  F, gap[q]);
    cbrl_problem_free(p);
  }
  assert_true(gap[1] < gap[0] && gap[2] < gap[1]);
  assert_true(gap[2] < 0.003);
}

/* At lambda 0.5 every labour level keeps a visible probability, so the estimate's variance
   is not carried by events rarer than one in B samples (which the sample s.e. would miss). */
static void hpgd_estimate_matches_the_exact_gradient(void **state) {
  (void)state;
  cbrl_optimal_tax_opts o;
  cbrl_exact *e;
  cbrl_problem *p = small_economy(0.5, 51, &o, &e);
  double x[3] = {0.3, 0.4, 0.3}, g[3];
  cbrl_hpgd *h;
  assert_ok(cbrl_hpgd_create(&h, p, 1000));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 8, 0);
  int B = test_quick() ? 20000 : 100000;
  for (int k = 0; k < p->n_contexts; k += 2) {
    assert_ok(cbrl_exact_context(e, k, x, NULL, g));
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    const cbrl_mdp *m = cbrl_exact_mdp(e, k);
    cbrl_policy pol = {m->n_states, m->n_actions, w->pi, w->log_pi};
    cbrl_hpgd_opts ho = {.kind = CBRL_HPGD_UNBIASED, .samples = 1};
    double s1[3] = {0}, s2[3] = {0}, gs[3];
    for (int b = 0; b < B; b++) {
      assert_ok(cbrl_hpgd_estimate(h, k, x, m, NULL, &pol, &ho, &rng, gs, NULL));
      for (int j = 0; j < 3; j++) s1[j] += gs[j], s2[j] += gs[j] * gs[j];
    }
    for (int j = 0; j < 3; j++) {
      double mean = s1[j] / B, se = sqrt(fmax(s2[j] / B - mean * mean, 0.0) / B);
      /* + 1e-6: a bracket a type reaches with probability 1e-7 has a gradient of that size,
         which B = 1e5 samples cannot see (they report 0 +- 0); the gradients are of order 0.1. */
      if (fabs(mean - g[j]) > 4.0 * se + 1e-6)
        fail_msg("type %d, rate %d: HPGD %.6g +- %.3g, exact %.6g", k, j, mean, se, g[j]);
    }
  }
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void invalid_options_are_refused(void **state) {
  (void)state;
  cbrl_optimal_tax_opts o;
  cbrl_optimal_tax_opts_default(&o);
  cbrl_problem *p = NULL;
  o.threshold[2] = 1.0; /* not increasing */
  assert_int_equal(cbrl_optimal_tax_create(&p, &o), CBRL_EINVAL);
  cbrl_optimal_tax_opts_default(&o);
  o.type_weight[0] = 0.5;
  assert_int_equal(cbrl_optimal_tax_create(&p, &o), CBRL_EINVAL);
  cbrl_optimal_tax_opts_default(&o);
  o.elasticity = 0.0;
  assert_int_equal(cbrl_optimal_tax_create(&p, &o), CBRL_EINVAL);
  assert_null(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gradient_matches_finite_differences),
      cmocka_unit_test(soft_response_is_the_closed_form),
      cmocka_unit_test(saez_schedule_solves_its_equations),
      cmocka_unit_test(exact_optimum_approaches_the_saez_schedule),
      cmocka_unit_test(hpgd_estimate_matches_the_exact_gradient),
      cmocka_unit_test(invalid_options_are_refused),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
