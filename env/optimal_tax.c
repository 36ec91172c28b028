/* The one-step labour economy (docs/ENVIRONMENTS.md 6). Each worker type is a context with one
   terminal state: it picks labour l, earns z = n l, pays T(z) = sum_k t_k seg_k(z) with
   seg_k(z) = max(0, min(z, b_k+1) - b_k), and bears v(l) = l^(1+1/e) / (1+1/e). With
   quasi-linear utility a lump-sum rebate of the revenue changes no choice, so welfare
   sum_i q_i g_i (u_i + R) with sum_i q_i g_i = 1 and R = sum_i q_i T(z_i) is
   sum_i q_i E[g_i u_i + T(z_i)]: the discounted-leader-reward form, rbar = g r + T, and both
   r and rbar are affine in the rates x. */
#include "cbrl/env/optimal_tax.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/affine.h"
#include "cbrl/bounds.h"
#include "cbrl/errors.h"

void cbrl_optimal_tax_opts_default(cbrl_optimal_tax_opts *o) {
  memset(o, 0, sizeof *o);
  static const double skill[5] = {1.0, 1.5, 2.0, 3.0, 4.0};
  o->n_types = 5;
  for (int i = 0; i < 5; i++) {
    o->skill[i] = skill[i];
    o->type_weight[i] = 0.2;
    o->welfare_weight[i] = 1.0 / skill[i];
  }
  o->n_brackets = 3;
  o->threshold[0] = 0.0, o->threshold[1] = 1.6, o->threshold[2] = 4.6;
  o->elasticity = 0.5;
  o->n_labour = 501;
  o->labour_max = 2.5;
  o->lambda = 0.002;
}

static double segment(const cbrl_optimal_tax_opts *o, int k, double z) {
  double hi = k + 1 < o->n_brackets ? o->threshold[k + 1] : INFINITY;
  return fmax(0.0, fmin(z, hi) - o->threshold[k]);
}

static int valid(const cbrl_optimal_tax_opts *o) {
  if (o->n_types < 1 || o->n_types > CBRL_OPTIMAL_TAX_MAX || o->n_brackets < 1 || o->n_brackets > CBRL_OPTIMAL_TAX_MAX ||
      o->n_labour < 2 || !(o->labour_max > 0.0) || !(o->elasticity > 0.0) || !(o->lambda > 0.0) ||
      !isfinite(o->labour_max) || !isfinite(o->elasticity) || !isfinite(o->lambda) || o->threshold[0] != 0.0)
    return 0;
  double w = 0.0;
  for (int i = 0; i < o->n_types; i++) {
    if (!(o->skill[i] > 0.0) || !(o->type_weight[i] >= 0.0) || !(o->welfare_weight[i] >= 0.0) ||
        !isfinite(o->skill[i]) || !isfinite(o->welfare_weight[i]))
      return 0;
    w += o->type_weight[i];
  }
  for (int k = 1; k < o->n_brackets; k++)
    if (!(o->threshold[k] > o->threshold[k - 1]) || !isfinite(o->threshold[k])) return 0;
  return fabs(w - 1.0) <= 1e-9;
}

/* g normalised so that sum_i q_i g_i = 1 (the rebate's marginal value). */
static void normalised_weights(const cbrl_optimal_tax_opts *o, double *g) {
  double m = 0.0;
  for (int i = 0; i < o->n_types; i++) m += o->type_weight[i] * o->welfare_weight[i];
  for (int i = 0; i < o->n_types; i++) g[i] = o->welfare_weight[i] / m;
}

int cbrl_optimal_tax_create(cbrl_problem **out, const cbrl_optimal_tax_opts *o) {
  if (!out || !o || !valid(o)) return CBRL_EINVAL;
  int K = o->n_brackets, A = o->n_labour;
  double g[CBRL_OPTIMAL_TAX_MAX], coef[CBRL_OPTIMAL_TAX_MAX], lo[CBRL_OPTIMAL_TAX_MAX], hi[CBRL_OPTIMAL_TAX_MAX];
  normalised_weights(o, g);
  cbrl_problem *p;
  int err = cbrl_affine_create(&p, 1, A, K, o->n_types);
  if (err) return err;
  p->gamma = p->leader_gamma = 0.0; /* one step */
  p->lambda = o->lambda;
  cbrl_affine_set_terminal(p, 0);
  double pw = 1.0 + 1.0 / o->elasticity;
  for (int i = 0; i < o->n_types && !err; i++) {
    p->context_weight[i] = o->type_weight[i];
    err = cbrl_affine_add_initial(p, i, 0, 0.0, NULL);
    for (int a = 0; a < A && !err; a++) {
      double l = o->labour_max * a / (A - 1), z = o->skill[i] * l, u = z - pow(l, pw) / pw;
      for (int k = 0; k < K; k++) coef[k] = -segment(o, k, z);
      err = cbrl_affine_set_reward(p, i, 0, a, u, coef);
      for (int k = 0; k < K; k++) coef[k] = (1.0 - g[i]) * segment(o, k, z);
      if (!err) err = cbrl_affine_set_leader_reward(p, i, 0, a, g[i] * u, coef);
    }
  }
  if (!err) err = cbrl_affine_finalize(p, NULL, NULL, NULL);
  for (int k = 0; k < K; k++) lo[k] = 0.0, hi[k] = 1.0;
  if (!err) err = cbrl_problem_set_bounds(p, lo, hi, NULL);
  if (err) {
    cbrl_problem_free(p);
    return err;
  }
  strcpy(p->name, "optimal-tax");
  *out = p;
  return 0;
}

int cbrl_optimal_tax_saez(const cbrl_optimal_tax_opts *o, double *rates) {
  if (!o || !rates || !valid(o)) return CBRL_EINVAL;
  int K = o->n_brackets, n = o->n_types;
  double g[CBRL_OPTIMAL_TAX_MAX], z[CBRL_OPTIMAL_TAX_MAX], t[CBRL_OPTIMAL_TAX_MAX], e = o->elasticity;
  normalised_weights(o, g);
  for (int k = 0; k < K; k++) t[k] = 0.3;
  for (int it = 0; it < 10000; it++) {
    /* Earnings at the current rates: n (1 - t) = l^(1/e), each in the bracket it lands in. */
    for (int i = 0; i < n; i++) {
      /* The bracket whose rate gives earnings inside it, or the kink a worker bunches at. */
      double zi = NAN;
      for (int j = 0; j < K && isnan(zi); j++) {
        double zj = pow(o->skill[i], 1.0 + e) * pow(1.0 - t[j], e);
        double hi = j + 1 < K ? o->threshold[j + 1] : INFINITY;
        if (zj >= o->threshold[j] && zj < hi) zi = zj;
        else if (zj >= hi && pow(o->skill[i], 1.0 + e) * pow(1.0 - t[j + 1], e) < hi) zi = hi;
      }
      z[i] = zi;
    }
    double change = 0.0;
    for (int k = 0; k < K; k++) {
      double num = 0.0, den = 0.0, hi = k + 1 < K ? o->threshold[k + 1] : INFINITY;
      for (int i = 0; i < n; i++) {
        if (z[i] > o->threshold[k]) num += o->type_weight[i] * (1.0 - g[i]) * segment(o, k, z[i]);
        if (z[i] >= o->threshold[k] && z[i] < hi) den += o->type_weight[i] * z[i];
      }
      if (!(den > 0.0)) return CBRL_ENOCONV; /* an empty bracket: the formula says nothing */
      double r = num / (e * den), tk = fmax(r, 0.0) / (1.0 + fmax(r, 0.0));
      double next = 0.5 * t[k] + 0.5 * tk;
      change = fmax(change, fabs(next - t[k]));
      t[k] = next;
    }
    if (change < 1e-13) {
      memcpy(rates, t, sizeof(double) * (size_t)K);
      return 0;
    }
  }
  return CBRL_ENOCONV;
}
