/* Internal: the tax economy's state, shared by the tabular model (tax_design.c) and the
   continuous-assets simulator (tax_continuous.c). */
#ifndef CBRL_TAX_INTERNAL_H
#define CBRL_TAX_INTERNAL_H

#include <math.h>

#include "cbrl/env/tax.h"

#define N_SPLITS_MAX 19 /* splits of one total K into three parts 0..4 */

typedef struct split {
  int k[3];
} split;

typedef struct tax {
  cbrl_tax_opts opts;
  double width;                      /* bin width */
  int n_splits[CBRL_TAX_TOTALS];
  split splits[CBRL_TAX_TOTALS][N_SPLITS_MAX];
} tax;

/* Whether p is a tax economy made by cbrl_tax_create. */
int cbrl__tax_is(const cbrl_problem *p);

/* The mean of s' from assets s (SPEC 6.2), m = clip(s + (1 - tau_I) h - C, -100, 100), with
   d m / d tau_I (0 where the clip is active) and whether it is. */
static inline double next_asset_mean(double s, int a, double tau_income, double *dm, int *clipped) {
  double h, C;
  cbrl_tax_action(a, &h, &C);
  double m = s + (1.0 - tau_income) * h - C;
  *dm = -h;
  *clipped = m < -100.0 || m > 100.0;
  if (m < -100.0) m = -100.0, *dm = 0.0;
  if (m > 100.0) m = 100.0, *dm = 0.0;
  return m;
}

/* Centre of asset bin i. */
static inline double center(const tax *t, int i) { return -100.0 + (i + 0.5) * t->width; }

/* u(s) = log(s/20 + 1) for s > 0, else s;  A(s) = s for s <= 0, else 0 (SPEC 6.2). */
static inline double household_asset_utility(double s) { return s > 0 ? log(s / 20.0 + 1.0) : s; }
static inline double welfare_asset_term(double s) { return s <= 0 ? s : 0.0; }

/* Standard normal tail pieces, accurate on both sides. */
static inline double upper(double u) { return 0.5 * erfc(u / sqrt(2.0)); } /* 1 - Phi(u) */
static inline double density(double u) { return exp(-0.5 * u * u) * 0.39894228040143267794; /* 1 / sqrt(2 pi) */ }

/* Mass of the normal between u0 < u1, from the side where it is not a difference of ~1s. */
static inline double mass(double u0, double u1) {
  if (u0 >= 0.0) return upper(u0) - upper(u1);
  if (u1 <= 0.0) return upper(-u1) - upper(-u0);
  return 1.0 - upper(u1) - upper(-u0);
}

#endif /* CBRL_TAX_INTERNAL_H */
