/* The tax economy's continuous-assets simulator (SPEC 6.2). Assets are a real number in
   [-100, 100]; the household acts through its tabular policy at the bin containing its assets
   (the last bin holds s = 100), earns the rewards of its actual assets, and moves to
   s' = m + sd eps, m = clip(s + (1 - tau_I) h - C, -100, 100), eps a standard normal truncated
   so that s' stays in [-100, 100], drawn by rejection (acceptance at least 1/2, since m lies in
   the support). grad log p(s'|s,a) is analytic:
     d log p / d m = (s' - m) / sd^2 + (phi(u_hi) - phi(u_lo)) / (sd Z),
   u = (+-100 - m) / sd, Z = Phi(u_hi) - Phi(u_lo); d m / d tau_I = -h where the clip is
   inactive, else 0; d tau_I / d w_I = tau_I (1 - tau_I / 2). */
#include <stdlib.h>

#include "cbrl/errors.h"
#include "cbrl/exact.h"
#include "tax_private.h"

typedef struct tax_sim {
  const cbrl__tax *t;
  const cbrl_mdp *m; /* the context's tabular MDP at x: its rewards give the action terms */
  double tau_income, dtau_dw;
} tax_sim;

static int ts_prepare(void *impl, int context, const double *x, const cbrl_mdp *m) {
  tax_sim *ts = impl;
  double tau[CBRL_TAX_DIM];
  cbrl_tax_rates(x, tau);
  ts->m = m;
  ts->tau_income = tau[0];
  ts->dtau_dw = tau[0] * (1.0 - 0.5 * tau[0]);
  return 0;
}

/* s_0 ~ N(0, 2) truncated to [-100, 100], as the tabular model's mu. */
static double ts_initial(const void *impl, cbrl_rng *rng) {
  double s;
  do s = sqrt(2.0) * cbrl_rng_normal(rng);
  while (s < -100.0 || s > 100.0);
  return s;
}

static int32_t ts_grid(const void *impl, double s) {
  const cbrl__tax *t = ((const tax_sim *)impl)->t;
  int i = (int)floor((s + 100.0) / t->width);
  return i < 0 ? 0 : i >= t->opts.n_bins ? t->opts.n_bins - 1 : i;
}

/* The tabular rewards of (bin, a) with the bin centre's asset terms replaced by s's. */
static void ts_rewards(const void *impl, double s, int32_t a, double *r, double *rbar) {
  const tax_sim *ts = impl;
  int32_t i = ts_grid(impl, s);
  double c = cbrl__tax_center(ts->t, i);
  size_t sa = (size_t)i * CBRL_TAX_ACTIONS + a;
  *r = ts->m->r[sa] - cbrl__tax_asset_utility(c) + cbrl__tax_asset_utility(s);
  *rbar = ts->m->rbar[sa] - cbrl__tax_welfare_asset_term(c) + cbrl__tax_welfare_asset_term(s);
}

static double ts_next(const void *impl, double s, int32_t a, cbrl_rng *rng) {
  const tax_sim *ts = impl;
  int clipped;
  double dm, m = cbrl__tax_next_asset_mean(s, a, ts->tau_income, &dm, &clipped), sd = ts->t->opts.noise_std, y;
  do y = m + sd * cbrl_rng_normal(rng);
  while (y < -100.0 || y > 100.0);
  return y;
}

static void ts_score(const void *impl, double s, int32_t a, double s_next, double w, double *grad) {
  const tax_sim *ts = impl;
  int clipped;
  double dm, m = cbrl__tax_next_asset_mean(s, a, ts->tau_income, &dm, &clipped), sd = ts->t->opts.noise_std;
  if (dm == 0.0) return;
  double u_lo = (-100.0 - m) / sd, u_hi = (100.0 - m) / sd;
  double dlogp = (s_next - m) / (sd * sd) +
                 (cbrl__tax_normal_density(u_hi) - cbrl__tax_normal_density(u_lo)) /
                     (sd * cbrl__tax_normal_mass(u_lo, u_hi));
  grad[0] += w * dlogp * dm * ts->dtau_dw;
}

int cbrl_tax_continuous_create(cbrl_continuous **out, const cbrl_problem *p) {
  if (!out || !p || !cbrl__tax_is(p)) return CBRL_EINVAL;
  cbrl_continuous *c = calloc(1, sizeof *c);
  tax_sim *ts = calloc(1, sizeof *ts);
  if (!c || !ts) {
    free(c);
    free(ts);
    return CBRL_ENOMEM;
  }
  ts->t = p->impl;
  *c = (cbrl_continuous){ts, ts_prepare, ts_initial, ts_grid, ts_rewards, ts_next, ts_score};
  *out = c;
  return 0;
}

void cbrl_tax_continuous_free(cbrl_continuous *c) {
  if (!c) return;
  free(c->impl);
  free(c);
}
