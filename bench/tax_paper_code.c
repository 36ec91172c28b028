/* What the paper's tax code's estimator (docs/MODEL.md 4.1d) computes, measured on the exact
   model (docs/results/tax_design.md). Two parts:

   1. Along the income tax, the VAT held at VAT (default 0.3), lambda 0.2: the welfare F, the
      exact dF/dw_I, and the derivative the code's income-tax estimate has in expectation when
      its score is not clipped, the direct and grad P terms only (the follower's response left
      out): sum_xi q_xi [sum_s d(s) sum_a pi(a|s) (grad rbar + gamma_L sum_s' grad P Vbar(s'))],
      one vjp per context. Prints where that derivative vanishes and where F peaks.
   2. At every rate 0.3: the mean of R estimates at 60,000 steps, with and without the code's
      VAT reward gradient (NaN -> -0.1), as the paper-code variant and unclipped (the 4.1b
      batch estimator, whose VAT part the variant leaves as it is before its clip), against the
      exact VAT gradient: norm ratio and cosine.

   Usage: cbrl_tax_paper_code [R] [VAT]. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/cbrl.h"
#include "bench_util.h"

/* sum_xi q_xi (direct + grad P terms) at x, with the follower's policy at x held fixed. */
static double frozen_income_derivative(const cbrl_problem *p, cbrl_exact *e, const double *x) {
  double total = 0.0;
  for (int k = 0; k < p->n_contexts; k++) {
    check(cbrl_exact_context(e, k, x, NULL, NULL), "solve");
    const cbrl_mdp *m = cbrl_exact_mdp(e, k);
    const double *d = cbrl_exact_occupancy(e, k), *vbar = cbrl_exact_leader_value(e, k);
    const double *pi = cbrl_exact_follower(e, k)->pi;
    int S = m->n_states, A = m->n_actions;
    double *w_rbar = malloc(sizeof(double) * (size_t)S * A), *w_p = malloc(sizeof(double) * (size_t)m->n_transitions);
    for (int s = 0; s < S; s++)
      for (int a = 0; a < A; a++) {
        size_t sa = (size_t)s * A + a;
        double dp = d[s] * pi[sa];
        w_rbar[sa] = dp;
        for (int64_t q = m->row[sa]; q < m->row[sa + 1]; q++)
          w_p[q] = dp * p->leader_gamma * m->prob[q] * vbar[m->next[q]];
      }
    cbrl_cotangent ct = {NULL, w_rbar, w_p, NULL};
    double g[CBRL_TAX_DIM] = {0};
    check(cbrl_mdp_vjp(m, p, k, x, &ct, g), "vjp");
    total += p->context_weight[k] * g[0];
    free(w_rbar);
    free(w_p);
  }
  return total;
}

/* Mean of R paper-code estimates (60,000 steps, 300 streams of 200) over contexts drawn by weight. */
static void paper_code_mean(int paper_gradient, int variant, int R, double *mean, double *exact) {
  cbrl_tax_opts to;
  cbrl_tax_opts_default(&to);
  to.paper_code_gradient = paper_gradient;
  cbrl_problem *p;
  check(cbrl_tax_create(&p, &to), "tax");
  cbrl_exact *e;
  check(cbrl_exact_create(&e, p), "exact");
  double x[CBRL_TAX_DIM], F, g[CBRL_TAX_DIM];
  cbrl_tax_x_for_rate(0.3, x);
  check(cbrl_exact_evaluate(e, x, &F, NULL, exact), "evaluate");
  cbrl_hpgd *h;
  check(cbrl_hpgd_create(&h, p, 60000), "hpgd");
  cbrl_hpgd_opts o;
  cbrl_hpgd_opts_default(&o);
  o.steps = 60000;
  o.streams = 300;
  o.variant = (cbrl_hpgd_variant)variant;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  memset(mean, 0, sizeof(double) * CBRL_TAX_DIM);
  for (int r = 0; r < R; r++) {
    int k = cbrl_problem_draw_context(p, &rng);
    check(cbrl_exact_context(e, k, x, NULL, NULL), "solve");
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    cbrl_policy pol = {p->n_states, p->n_actions, w->pi, w->log_pi};
    check(cbrl_hpgd_estimate(h, k, x, cbrl_exact_mdp(e, k), NULL, &pol, &o, &rng, g, NULL), "estimate");
    for (int j = 0; j < CBRL_TAX_DIM; j++) mean[j] += g[j] / R;
  }
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  int R = argc > 1 ? atoi(argv[1]) : 20;
  double vat = argc > 2 ? atof(argv[2]) : 0.3;
  cbrl_problem *p;
  check(cbrl_tax_create(&p, NULL), "tax");
  cbrl_exact *e;
  check(cbrl_exact_create(&e, p), "exact");
  printf("Part 1: lambda 0.2, VAT %.3f on every good\n", vat);
  printf("income_tax F dF/dw_I frozen_dF/dw_I\n");
  double prev_t = NAN, prev_fz = NAN, best_F = -INFINITY, best_t = NAN, zero_t = NAN, zero_F = NAN, prev_F = NAN;
  for (double t = 0.30; t <= 1.0001; t += 0.005) {
    double x[CBRL_TAX_DIM], F, g[CBRL_TAX_DIM];
    cbrl_tax_x_for_rate(vat, x);
    x[0] = log(t / (2.0 - t));
    check(cbrl_exact_evaluate(e, x, &F, NULL, g), "evaluate");
    double fz = frozen_income_derivative(p, e, x);
    if (fmod(t + 1e-9, 0.05) < 0.005) printf("%.3f %.4f %.4f %.4f\n", t, F, g[0], fz);
    if (F > best_F) best_F = F, best_t = t;
    if (isnan(zero_t) && prev_fz > 0.0 && fz <= 0.0) {
      double u = prev_fz / (prev_fz - fz);
      zero_t = prev_t + u * (t - prev_t);
      zero_F = prev_F + u * (F - prev_F);
    }
    prev_t = t, prev_fz = fz, prev_F = F;
  }
  printf("F peaks at income tax %.3f (F %.3f, grid 0.005); the frozen derivative vanishes at %.3f (F %.3f)\n",
         best_t, best_F, zero_t, zero_F);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
  printf("Part 2: every rate 0.3, mean of %d paper-code estimates (60,000 steps)\n", R);
  double exact[CBRL_TAX_DIM] = {0};
  for (int flag = 0; flag < 2; flag++)
    for (int variant = 0; variant < 2; variant++) {
      double mean[CBRL_TAX_DIM], ex[CBRL_TAX_DIM], ab = 0, aa = 0, bb = 0;
      paper_code_mean(flag, variant, R, mean, ex);
      if (!flag) memcpy(exact, ex, sizeof exact); /* the true model's gradient */
      for (int j = 1; j < CBRL_TAX_DIM; j++) ab += exact[j] * mean[j], aa += exact[j] * exact[j], bb += mean[j] * mean[j];
      printf("%s, %s: estimate (%.4f, %.4f, %.4f, %.4f); VAT norm ratio %.1f, cosine %.3f\n",
             flag ? "NaN -> -0.1" : "no NaN rule", variant ? "paper-code (clipped)" : "unclipped (spec)", mean[0],
             mean[1], mean[2], mean[3], sqrt(bb / aa), ab / sqrt(aa * bb));
    }
  printf("exact (%.4f, %.4f, %.4f, %.4f)\n", exact[0], exact[1], exact[2], exact[3]);
  return 0;
}
