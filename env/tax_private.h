/* Internal: the tax economy shared by its four files (docs/ENVIRONMENTS.md 2):
   tax_economy.c (utility, actions, budget, the clipped next-asset mean), tax_grid.c (the tabular
   problem: asset bins, truncated-normal masses, vjp), tax_report.c (cbrl_tax_report_compute) and
   tax_continuous.c (the continuous-assets simulator). Everything here is cbrl__tax_ prefixed; the
   inline helpers are pure formulas and call nothing defined in those files. */
#ifndef CBRL_TAX_PRIVATE_H
#define CBRL_TAX_PRIVATE_H

#include <math.h>

#include "cbrl/env/tax.h"

#define CBRL__TAX_SPLITS_MAX 19 /* splits of one total K into three parts 0..4 */

/* How a spending total K = k[0] + k[1] + k[2] is split over the three goods (c_j = 1.25 k[j]). */
typedef struct cbrl__tax_split {
  int k[3];
} cbrl__tax_split;

/* The economy behind a tax problem: its options, the asset-bin width and the splits of each total. */
typedef struct cbrl__tax {
  cbrl_tax_opts opts;
  double width; /* bin width */
  int n_splits[CBRL_TAX_TOTALS];
  cbrl__tax_split splits[CBRL_TAX_TOTALS][CBRL__TAX_SPLITS_MAX];
} cbrl__tax;

/* Per reduced action (h, C): U~(C) and d U~ / d tau_VAT; the split-averaged welfare G~(h, C) and
   its gradient in tau, including the splits' dependence on the VAT. */
typedef struct cbrl__tax_action_terms {
  double u_tilde, du[3];
  double g_tilde, dg[4];
} cbrl__tax_action_terms;

/* ---- The economy (tax_economy.c) ------------------------------------------------------- */

/* Fills t for options o (already validated): the bin width and the splits of every total. */
void cbrl__tax_init(cbrl__tax *t, const cbrl_tax_opts *o);


/* The action terms of every reduced action for a type with preferences alpha. */
void cbrl__tax_action_table(const cbrl__tax *t, const double *alpha, double lambda, const double *tau,
                            cbrl__tax_action_terms *out);

/* Split-averaged tax revenue of every reduced action, E_{c|C}[sum_j tau_j c_j / (1 + tau_j)] + tau_I h. */
void cbrl__tax_revenue_table(const cbrl__tax *t, const double *alpha, double lambda, const double *tau,
                             double *rev);

/* ---- The grid model (tax_grid.c) -------------------------------------------------------- */

/* Whether p is a tax economy made by cbrl_tax_create; its impl is then a cbrl__tax. */
int cbrl__tax_is(const cbrl_problem *p);

/* ---- Pure formulas -------------------------------------------------------------------- */

/* Centre of asset bin i. */
static inline double cbrl__tax_center(const cbrl__tax *t, int i) { return -100.0 + (i + 0.5) * t->width; }

/* u(s) = log(s/20 + 1) for s > 0, else s;  A(s) = s for s <= 0, else 0. */
static inline double cbrl__tax_asset_utility(double s) { return s > 0 ? log(s / 20.0 + 1.0) : s; }
static inline double cbrl__tax_welfare_asset_term(double s) { return s <= 0 ? s : 0.0; }

/* Standard normal tail pieces, accurate on both sides: 1 - Phi(u) and phi(u). */
static inline double cbrl__tax_normal_upper(double u) { return 0.5 * erfc(u / sqrt(2.0)); }
static inline double cbrl__tax_normal_density(double u) {
  return exp(-0.5 * u * u) * 0.39894228040143267794; /* 1 / sqrt(2 pi) */
}

/* Mass of the normal between u0 < u1, from the side where it is not a difference of ~1s. */
static inline double cbrl__tax_normal_mass(double u0, double u1) {
  if (u0 >= 0.0) return cbrl__tax_normal_upper(u0) - cbrl__tax_normal_upper(u1);
  if (u1 <= 0.0) return cbrl__tax_normal_upper(-u1) - cbrl__tax_normal_upper(-u0);
  return 1.0 - cbrl__tax_normal_upper(u1) - cbrl__tax_normal_upper(-u0);
}

/* The mean of s' from assets s, m = clip(s + (1 - tau_I) h - C, -100, 100), with d m / d tau_I
   (0 where the clip is active) and whether it is; (h, C) as cbrl_tax_action gives them. Inline:
   the grid calls it for every state-action of every evaluate and vjp. */
static inline double cbrl__tax_next_asset_mean(double s, int a, double tau_income, double *dm, int *clipped) {
  double h = 0.89 * (a / CBRL_TAX_TOTALS), C = 1.25 * (a % CBRL_TAX_TOTALS);
  double m = s + (1.0 - tau_income) * h - C;
  *dm = -h;
  *clipped = m < -100.0 || m > 100.0;
  if (m < -100.0) m = -100.0, *dm = 0.0;
  if (m > 100.0) m = 100.0, *dm = 0.0;
  return m;
}

#endif /* CBRL_TAX_PRIVATE_H */
