/* What a tax policy does to the economy (docs/ENVIRONMENTS.md 2): welfare, the
   households' own values, revenue and assets, from the households' exact best responses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/env/tax.h"
#include "cbrl/errors.h"
#include "cbrl/exact.h"
#include "cbrl/soft_solver.h"

#include "tax_private.h"

int cbrl_tax_report_compute(const cbrl_problem *p, cbrl_exact *e, const double *x, cbrl_tax_report *r) {
  if (!p || !cbrl__tax_is(p) || !e || !x || !r) return CBRL_EINVAL;
  const cbrl__tax *t = p->impl;
  int S = p->n_states, A = CBRL_TAX_ACTIONS, err = 0;
  memset(r, 0, sizeof *r);
  cbrl_tax_rates(x, r->rates);
  double *reward = malloc(sizeof(double) * (size_t)S * A), *v = calloc((size_t)S, sizeof(double)), rev[CBRL_TAX_ACTIONS];
  cbrl_soft_solver w;
  if (!reward || !v || (err = cbrl_soft_solver_init(&w, S, A))) {
    free(reward);
    free(v);
    return err ? err : CBRL_ENOMEM;
  }
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < p->n_contexts && !err; k++) {
    double f;
    err = cbrl_exact_context(e, k, x, &f, NULL);
    if (err && err != CBRL_ENOCONV) break;
    err = 0;
    const cbrl_mdp *m = cbrl_exact_mdp(e, k);
    const cbrl_soft_solver *follower = cbrl_exact_follower(e, k);
    double q = p->context_weight[k];
    r->welfare += q * f;
    for (int s = 0; s < S; s++) r->household_value[k] += m->mu[s] * follower->v[s];
    /* Evaluate the follower's policy for revenue and for assets, with the leader's discount. */
    if ((err = cbrl_soft_solver_set_q(&w, follower->q, p->lambda))) break;
    cbrl__tax_revenue_table(t, t->opts.alpha[k], p->lambda, r->rates, rev);
    for (int s = 0; s < S; s++)
      for (int a = 0; a < A; a++) reward[(size_t)s * A + a] = rev[a];
    memset(v, 0, sizeof(double) * (size_t)S);
    err = cbrl_soft_solver_evaluate(&w, m, p->leader_gamma, reward, v);
    if (err && err != CBRL_ENOCONV) break;
    for (int s = 0; s < S; s++) r->revenue[k] += m->mu[s] * v[s];
    for (int s = 0; s < S; s++)
      for (int a = 0; a < A; a++) reward[(size_t)s * A + a] = cbrl__tax_center(t, s);
    memset(v, 0, sizeof(double) * (size_t)S);
    err = cbrl_soft_solver_evaluate(&w, m, p->leader_gamma, reward, v);
    if (err && err != CBRL_ENOCONV) break;
    err = 0;
    for (int s = 0; s < S; s++) r->assets[k] += (1.0 - p->leader_gamma) * m->mu[s] * v[s];
    r->value_mean += q * r->household_value[k];
    r->revenue_mean += q * r->revenue[k];
    r->assets_mean += q * r->assets[k];
    lo = fmin(lo, r->household_value[k]);
    hi = fmax(hi, r->household_value[k]);
  }
  r->value_spread = hi - lo;
  cbrl_soft_solver_close(&w);
  free(reward);
  free(v);
  return err;
}
