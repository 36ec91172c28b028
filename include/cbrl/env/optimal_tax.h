/* An optimal-tax benchmark with a known answer (docs/ENVIRONMENTS.md 6): a one-step labour
   economy, workers of several skills as contexts, a piecewise-linear income tax as x, and the
   Saez formula's schedule as an independent reference. */
#ifndef CBRL_ENV_OPTIMAL_TAX_H
#define CBRL_ENV_OPTIMAL_TAX_H

#include "cbrl/export.h"
#include "cbrl/model.h"

#define CBRL_OPTIMAL_TAX_MAX 16 /* skill types and brackets each */

typedef struct cbrl_optimal_tax_opts {
  int n_types;                             /* workers' skills, the contexts */
  double skill[CBRL_OPTIMAL_TAX_MAX];      /* n: earnings z = n l */
  double type_weight[CBRL_OPTIMAL_TAX_MAX];/* population shares, sum 1 */
  double welfare_weight[CBRL_OPTIMAL_TAX_MAX]; /* g (normalised to sum_i q_i g_i = 1 by create) */
  int n_brackets;                          /* K: marginal rates x = (t_0 .. t_K-1) in [0, 1] */
  double threshold[CBRL_OPTIMAL_TAX_MAX];  /* b_0 = 0 < b_1 < ... < b_K-1: bracket k is [b_k, b_k+1) */
  double elasticity;                       /* e: disutility l^(1 + 1/e) / (1 + 1/e) */
  int n_labour;                            /* labour levels l = 0 .. labour_max, evenly spaced */
  double labour_max;
  double lambda;
} cbrl_optimal_tax_opts;

/* Fills o with the default (docs/ENVIRONMENTS.md 6): skills 1, 1.5, 2, 3, 4 in equal shares,
   inverse-skill welfare weights, brackets [0, 1.6), [1.6, 4.6), [4.6, inf), e = 0.5, 501 labour
   levels on [0, 2.5], lambda 0.002. */
CBRL_API void cbrl_optimal_tax_opts_default(cbrl_optimal_tax_opts *o);

/* Creates the economy: one terminal state per worker type, actions the labour levels,
   r = z - T(z) - v(l), rbar = g r + T(z) (utilitarian welfare with weights g plus revenue,
   rebated lump sum); bounds 0 <= t_k <= 1. */
CBRL_API int cbrl_optimal_tax_create(cbrl_problem **out, const cbrl_optimal_tax_opts *o);

/* The Saez formula's schedule for hard-responding workers with continuous labour (the lambda -> 0,
   fine-grid limit): for every bracket k, t_k / (1 - t_k) = sum_{i: z_i > b_k} q_i (1 - g_i)
   (min(z_i, b_k+1) - b_k) / (e sum_{i in k} q_i z_i), with z_i = n_i^(1+e) (1 - t_k(i))^e, solved
   as a fixed point. Writes the rates (n_brackets); CBRL_ENOCONV if the iteration does not settle. */
CBRL_API int cbrl_optimal_tax_saez(const cbrl_optimal_tax_opts *o, double *rates);

#endif /* CBRL_ENV_OPTIMAL_TAX_H */
