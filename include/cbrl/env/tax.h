/* Tax design: households in a savings economy under an income tax and three VATs
   (docs/ENVIRONMENTS.md 2). */
#ifndef CBRL_ENV_TAX_H
#define CBRL_ENV_TAX_H

#include "cbrl/exact.h"
#include "cbrl/export.h"
#include "cbrl/model.h"
#include "cbrl/simulate.h"

#define CBRL_TAX_DIM 4        /* x = (w_I, w_1, w_2, w_3); tau = 2 sigmoid(w) */
#define CBRL_TAX_HOURS 10     /* h = 0.89 i */
#define CBRL_TAX_TOTALS 13    /* total spending C = 1.25 K, K = 0 .. 12 */
#define CBRL_TAX_ACTIONS 130  /* (h, C): the exact reduction of the 1,250 joint actions */
#define CBRL_TAX_TYPES_MAX 8

typedef struct cbrl_tax_opts {
  int n_bins;                 /* asset grid on [-100, 100] */
  double lambda, gamma, leader_gamma;
  int n_types;                /* household types, the contexts */
  double alpha[CBRL_TAX_TYPES_MAX][3]; /* consumption preferences per type */
  double weight[CBRL_TAX_TYPES_MAX];   /* share of each type; sums to 1 */
  double noise_std;           /* 5: s' = m + noise_std eps, truncated to [-100, 100] */
  double cut_sigmas;          /* transitions kept within this many noise_std of the mean (8) */
  int paper_code_gradient;    /* 1: the paper's code's household reward gradient in the VAT, whose
                                 NaNs (a good not bought) it replaced by -0.1 per unit of w_j
                                 (docs/MODEL.md 4.1d); changes only the vjp of r, for the
                                 paper-code estimator variant (0) */
} cbrl_tax_opts;

/* Fills o with docs/ENVIRONMENTS.md 2: two equally weighted types alpha = (0.6, 0.3, 0.1) and (0.1, 0.7, 0.2),
   lambda 0.2, discounts 0.9, and the default grid of 200 bins (docs/results/tax_design.md). */
CBRL_API void cbrl_tax_opts_default(cbrl_tax_opts *o);

/* Creates the tabular tax economy: n_bins asset states, 130 reduced actions, d = 4. */
CBRL_API int cbrl_tax_create(cbrl_problem **out, const cbrl_tax_opts *o);

/* Writes the rates tau = 2 sigmoid(x): income tax first, then the three VAT rates. */
CBRL_API void cbrl_tax_rates(const double *x, double *tau);

/* Writes the x at which every rate is `rate` (the paper starts at 0.3). */
CBRL_API void cbrl_tax_x_for_rate(double rate, double *x);

/* Decodes a reduced action into hours h and total spending C. */
CBRL_API void cbrl_tax_action(int action, double *hours, double *spending);

/* Creates the continuous-assets simulator of the tax economy p (docs/ENVIRONMENTS.md 2
   design), for cbrl_hpgd_estimate or cbrl_leader_opts.simulator: households act through their
   grid policy at the bin holding their assets; the estimators get grad log p analytically.
   Free it with cbrl_simulator_free. */
CBRL_API int cbrl_tax_continuous_create(cbrl_simulator **out, const cbrl_problem *p);

/* What a tax policy x does to the economy, from the households' exact best responses. */
typedef struct cbrl_tax_report {
  double rates[CBRL_TAX_DIM];                  /* income tax, then VAT on goods 1..3 */
  double welfare;                              /* F(x): the leader's objective */
  double household_value[CBRL_TAX_TYPES_MAX];  /* J: a type's own (soft) objective, E_mu V*(s_0) */
  double revenue[CBRL_TAX_TYPES_MAX];          /* expected discounted tax revenue (leader gamma) */
  double assets[CBRL_TAX_TYPES_MAX];           /* (1 - gamma_L) E[sum_t gamma_L^t s_t]: discounted mean assets */
  double value_mean, revenue_mean, assets_mean; /* weighted over types */
  double value_spread;                         /* max - min of J over types: an inequality figure */
} cbrl_tax_report;

/* Fills r for the tax problem p at x, solving (warm) with e, an exact workspace of p. */
CBRL_API int cbrl_tax_report_compute(const cbrl_problem *p, cbrl_exact *e, const double *x, cbrl_tax_report *r);

#endif /* CBRL_ENV_TAX_H */
