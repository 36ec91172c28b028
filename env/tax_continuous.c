/* The tax economy's continuous-assets simulator (docs/ENVIRONMENTS.md 2). Assets are
   a real number in [-100, 100]; the household acts through its tabular policy at the bin containing its assets
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

static int ts_prepare(cbrl_simulator *sim, int context, const double *x, const cbrl_mdp *m) {
  tax_sim *ts = sim->impl;
  double tau[CBRL_TAX_DIM];
  (void)context;
  cbrl_tax_rates(x, tau);
  ts->m = m;
  ts->tau_income = tau[0];
  ts->dtau_dw = tau[0] * (1.0 - 0.5 * tau[0]);
  return 0;
}

/* The bin holding assets s; the last bin holds s = 100. */
static int32_t grid(const cbrl__tax *t, double s) {
  int i = (int)floor((s + 100.0) / t->width);
  return i < 0 ? 0 : i >= t->opts.n_bins ? t->opts.n_bins - 1 : i;
}

/* s_0 ~ N(0, 2) truncated to [-100, 100], as the tabular model's mu. */
static cbrl_sim_state ts_initial(const cbrl_simulator *sim, cbrl_rng *rng) {
  const tax_sim *ts = sim->impl;
  double s;
  do s = sqrt(2.0) * cbrl_rng_normal(rng);
  while (s < -100.0 || s > 100.0);
  return (cbrl_sim_state){grid(ts->t, s), s};
}

/* The tabular rewards of (bin, a) with the bin centre's asset terms replaced by s's. */
static void ts_rewards(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, double *r, double *rbar) {
  const tax_sim *ts = sim->impl;
  double s = at.y, c = cbrl__tax_center(ts->t, at.s);
  size_t sa = (size_t)at.s * CBRL_TAX_ACTIONS + a;
  *r = ts->m->r[sa] - cbrl__tax_asset_utility(c) + cbrl__tax_asset_utility(s);
  *rbar = ts->m->rbar[sa] - cbrl__tax_welfare_asset_term(c) + cbrl__tax_welfare_asset_term(s);
}

static cbrl_sim_state ts_next(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, cbrl_rng *rng,
                              int64_t *entry) {
  const tax_sim *ts = sim->impl;
  int clipped;
  double dm, m = cbrl__tax_next_asset_mean(at.y, a, ts->tau_income, &dm, &clipped), sd = ts->t->opts.noise_std, y;
  do y = m + sd * cbrl_rng_normal(rng);
  while (y < -100.0 || y > 100.0);
  *entry = -1;
  return (cbrl_sim_state){grid(ts->t, y), y};
}

static void ts_score(const cbrl_simulator *sim, cbrl_sim_state from, int32_t a, cbrl_sim_state to, double w,
                     double *grad) {
  const tax_sim *ts = sim->impl;
  int clipped;
  double dm, m = cbrl__tax_next_asset_mean(from.y, a, ts->tau_income, &dm, &clipped), sd = ts->t->opts.noise_std;
  if (dm == 0.0) return;
  double u_lo = (-100.0 - m) / sd, u_hi = (100.0 - m) / sd;
  double dlogp = (to.y - m) / (sd * sd) +
                 (cbrl__tax_normal_density(u_hi) - cbrl__tax_normal_density(u_lo)) /
                     (sd * cbrl__tax_normal_mass(u_lo, u_hi));
  grad[0] += w * dlogp * dm * ts->dtau_dw;
}

static void ts_destroy(cbrl_simulator *sim) {
  free(sim->impl);
  sim->impl = NULL;
}

static const cbrl_simulator_ops tax_sim_ops = {ts_prepare, ts_initial, ts_next, ts_rewards, ts_score, NULL,
                                               ts_destroy};

int cbrl_tax_continuous_create(cbrl_simulator **out, const cbrl_problem *p) {
  if (!out || !p || !cbrl__tax_is(p)) return CBRL_EINVAL;
  tax_sim *ts = calloc(1, sizeof *ts);
  if (!ts) return CBRL_ENOMEM;
  ts->t = p->impl;
  int err = cbrl_simulator_create(out, p, &tax_sim_ops, ts, "continuous");
  if (err) free(ts);
  return err;
}
