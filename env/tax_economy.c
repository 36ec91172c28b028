/* The tax economy (docs/ENVIRONMENTS.md 2): households of one preference type choose
   hours h and spending (c_1, c_2, c_3) under an income tax and three VATs. This file holds what
   does not depend on the asset grid: the rates, the action encoding, consumption utility,
   welfare and revenue, and the clipped mean of the next assets.

   The next assets depend on spending only through its total C, so the soft maximum over the
   splits of one total is exact in closed form: for each (h, C) the follower's reward carries
   U~(C) = lam log sum_{splits} exp(U(c) / lam), and it splits C with
   pi(c | C) = exp((U(c) - U~(C)) / lam). 1,250 joint actions become 130. The leader's reward
   for (h, C) is the split-averaged welfare, whose gradient includes the splits' response. */
#include <math.h>
#include <string.h>

#include "cbrl/env/tax.h"
#include "cbrl/soft_solver.h"

#include "tax_private.h"

void cbrl_tax_opts_default(cbrl_tax_opts *o) {
  memset(o, 0, sizeof *o);
  o->n_bins = 200;
  o->lambda = 0.2;
  o->gamma = 0.9;
  o->leader_gamma = 0.9;
  o->n_types = 2;
  const double a[2][3] = {{0.6, 0.3, 0.1}, {0.1, 0.7, 0.2}};
  memcpy(o->alpha, a, sizeof a);
  o->weight[0] = o->weight[1] = 0.5;
  o->noise_std = 5.0;
  o->cut_sigmas = 8.0;
}

void cbrl_tax_rates(const double *x, double *tau) {
  for (int j = 0; j < CBRL_TAX_DIM; j++) tau[j] = 2.0 / (1.0 + exp(-x[j]));
}

void cbrl_tax_x_for_rate(double rate, double *x) {
  for (int j = 0; j < CBRL_TAX_DIM; j++) x[j] = log(rate / (2.0 - rate));
}

void cbrl_tax_action(int action, double *hours, double *spending) {
  *hours = 0.89 * (action / CBRL_TAX_TOTALS);
  *spending = 1.25 * (action % CBRL_TAX_TOTALS);
}

void cbrl__tax_init(cbrl__tax *t, const cbrl_tax_opts *o) {
  memset(t, 0, sizeof *t);
  t->opts = *o;
  t->width = 200.0 / o->n_bins;
  for (int k1 = 0; k1 <= 4; k1++)
    for (int k2 = 0; k2 <= 4; k2++)
      for (int k3 = 0; k3 <= 4; k3++) {
        int K = k1 + k2 + k3;
        t->splits[K][t->n_splits[K]++] = (cbrl__tax_split){{k1, k2, k3}};
      }
}

/* Consumption utility prod_j (c_j / (1 + tau_j))^alpha_j, and its derivative in tau_j. */
static double consumption_utility(const double *alpha, const cbrl__tax_split *sp, const double *tau,
                                  double *d_tau) {
  double u = 1.0;
  for (int j = 0; j < 3; j++) {
    if (sp->k[j] == 0) u = 0.0;
    else u *= pow(1.25 * sp->k[j] / (1.0 + tau[1 + j]), alpha[j]);
  }
  for (int j = 0; j < 3; j++) d_tau[j] = u == 0.0 ? 0.0 : -alpha[j] * u / (1.0 + tau[1 + j]);
  return u;
}

/* Welfare without the asset term, G(h, c), and its gradient in tau (income tax first). */
static double welfare(double h, const cbrl__tax_split *sp, const double *tau, double *d_tau) {
  double goods = 0.0, revenue = tau[0] * h;
  for (int j = 0; j < 3; j++) {
    double c = 1.25 * sp->k[j];
    goods += c / (1.0 + tau[1 + j]);
    revenue += tau[1 + j] * c / (1.0 + tau[1 + j]);
  }
  /* 15 mean_j(c_j / (1 + tau_j)) / 5 = sum_j c_j / (1 + tau_j) for three goods. */
  double g = goods + 5.0 * log(1.0 + revenue);
  if (d_tau) {
    d_tau[0] = 5.0 * h / (1.0 + revenue);
    for (int j = 0; j < 3; j++) {
      double c = 1.25 * sp->k[j], q = (1.0 + tau[1 + j]) * (1.0 + tau[1 + j]);
      d_tau[1 + j] = -c / q + 5.0 * (c / q) / (1.0 + revenue);
    }
  }
  return g;
}

/* The split choice pi(c | C) is the core's soft policy of the utilities U(c) (cbrl_soft_policy_row,
   a public function so that this file needs nothing from src/). */
void cbrl__tax_action_table(const cbrl__tax *t, const double *alpha, double lambda, const double *tau,
                            cbrl__tax_action_terms *out) {
  for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
    int K = a % CBRL_TAX_TOTALS;
    double h = 0.89 * (a / CBRL_TAX_TOTALS);
    double U[CBRL__TAX_SPLITS_MAX], dU[CBRL__TAX_SPLITS_MAX][3];
    double w[CBRL__TAX_SPLITS_MAX], log_w[CBRL__TAX_SPLITS_MAX]; /* pi(c | C) and its log */
    int n = t->n_splits[K];
    for (int i = 0; i < n; i++) U[i] = consumption_utility(alpha, &t->splits[K][i], tau, dU[i]);
    cbrl__tax_action_terms *at = &out[a];
    at->u_tilde = cbrl_soft_policy_row(U, n, lambda, w, log_w);
    memset(at->du, 0, sizeof at->du);
    memset(at->dg, 0, sizeof at->dg);
    at->g_tilde = 0.0;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < 3; j++) at->du[j] += w[i] * dU[i][j];
    if (t->opts.paper_code_gradient) /* docs/MODEL.md 4.1d: d U / d w_j was NaN where c_j = 0 */
      for (int j = 0; j < 3; j++) {
        at->du[j] = 0.0;
        for (int i = 0; i < n; i++)
          at->du[j] += w[i] * (t->splits[K][i].k[j] == 0 ? -0.1 / (tau[1 + j] * (1.0 - tau[1 + j] / 2.0)) : dU[i][j]);
      }
    for (int i = 0; i < n; i++) {
      double dG[4];
      double G = welfare(h, &t->splits[K][i], tau, dG);
      at->g_tilde += w[i] * G;
      at->dg[0] += w[i] * dG[0];
      /* d pi(c|C) / d tau_j = pi (dU_j - dU~_j) / lam */
      for (int j = 0; j < 3; j++) at->dg[1 + j] += w[i] * (dG[1 + j] + G * (dU[i][j] - at->du[j]) / lambda);
    }
  }
}

void cbrl__tax_revenue_table(const cbrl__tax *t, const double *alpha, double lambda, const double *tau,
                             double *rev) {
  for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
    int K = a % CBRL_TAX_TOTALS, n = t->n_splits[K];
    double h = 0.89 * (a / CBRL_TAX_TOTALS), U[CBRL__TAX_SPLITS_MAX], w[CBRL__TAX_SPLITS_MAX], d[3], acc = 0.0;
    for (int i = 0; i < n; i++) U[i] = consumption_utility(alpha, &t->splits[K][i], tau, d);
    cbrl_softmax_row(U, n, lambda, w);
    for (int i = 0; i < n; i++) {
      double r = 0.0;
      for (int j = 0; j < 3; j++) r += tau[1 + j] * 1.25 * t->splits[K][i].k[j] / (1.0 + tau[1 + j]);
      acc += w[i] * r;
    }
    rev[a] = acc + tau[0] * h;
  }
}
