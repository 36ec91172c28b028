/* Tax design, SPEC 6.2, as a tabular CB-RL problem.

   Households (contexts = preference types) choose hours h and spending (c_1, c_2, c_3). The
   next assets depend on spending only through its total C, so the soft maximum over the splits
   of one total is exact in closed form: for each (h, C) the follower's reward carries
   U~(C) = lam log sum_{splits} exp(U(c) / lam), and it splits C with
   pi(c | C) = exp((U(c) - U~(C)) / lam). 1,250 joint actions become 130. The leader's reward
   for (h, C) is the split-averaged welfare, whose gradient includes the splits' response.

   Assets live on a grid of bins; the next bin's probability is the truncated normal's mass,
   P_j = (Phi(u_{j+1}) - Phi(u_j)) / Z, u = (edge - m) / sd, with m = clip(s + (1 - tau_I) h - C),
   so log P is differentiable in the income tax: d log P_j / d m is a difference of normal
   densities over masses. Bin masses are taken from the side of the distribution that keeps
   them accurate in the tails (erfc), and transitions beyond cut_sigmas sd are dropped (mass
   below 1e-15 at the default 8). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/env/tax.h"
#include "cbrl/errors.h"
#include "cbrl/exact.h"
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



/* Consumption utility prod_j (c_j / (1 + tau_j))^alpha_j, and its derivative in tau_j. */
static double consumption_utility(const double *alpha, const split *sp, const double *tau, double *d_tau) {
  double u = 1.0;
  for (int j = 0; j < 3; j++) {
    if (sp->k[j] == 0) u = 0.0;
    else u *= pow(1.25 * sp->k[j] / (1.0 + tau[1 + j]), alpha[j]);
  }
  for (int j = 0; j < 3; j++) d_tau[j] = u == 0.0 ? 0.0 : -alpha[j] * u / (1.0 + tau[1 + j]);
  return u;
}

/* Welfare without the asset term, G(h, c), and its gradient in tau (income tax first). */
static double welfare(double h, const split *sp, const double *tau, double *d_tau) {
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

/* Per reduced action: U~(C) and d U~ / d tau_VAT; the split-averaged welfare G~(h, C) and its
   gradient in tau, including the splits' dependence on the VAT. */
typedef struct action_terms {
  double u_tilde, du[3];
  double g_tilde, dg[4];
} action_terms;

static void action_table(const tax *t, const double *alpha, double lambda, const double *tau, action_terms *out) {
  for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
    int K = a % CBRL_TAX_TOTALS;
    double h = 0.89 * (a / CBRL_TAX_TOTALS);
    double U[N_SPLITS_MAX], dU[N_SPLITS_MAX][3], mx = -INFINITY;
    int n = t->n_splits[K];
    for (int i = 0; i < n; i++) {
      U[i] = consumption_utility(alpha, &t->splits[K][i], tau, dU[i]);
      mx = U[i] > mx ? U[i] : mx;
    }
    double z = 0.0;
    for (int i = 0; i < n; i++) z += exp((U[i] - mx) / lambda);
    action_terms *at = &out[a];
    at->u_tilde = mx + lambda * log(z);
    memset(at->du, 0, sizeof at->du);
    memset(at->dg, 0, sizeof at->dg);
    at->g_tilde = 0.0;
    for (int i = 0; i < n; i++) {
      double w = exp((U[i] - at->u_tilde) / lambda);
      for (int j = 0; j < 3; j++) at->du[j] += w * dU[i][j];
    }
    for (int i = 0; i < n; i++) {
      double w = exp((U[i] - at->u_tilde) / lambda), dG[4];
      double G = welfare(h, &t->splits[K][i], tau, dG);
      at->g_tilde += w * G;
      at->dg[0] += w * dG[0];
      /* d pi(c|C) / d tau_j = pi (dU_j - dU~_j) / lam */
      for (int j = 0; j < 3; j++) at->dg[1 + j] += w * (dG[1 + j] + G * (dU[i][j] - at->du[j]) / lambda);
    }
  }
}


/* The range of bins a row may reach, for every income tax in [0, 2]. */
static void row_range(const tax *t, int s, int a, int *lo, int *hi) {
  double h, C;
  cbrl_tax_action(a, &h, &C);
  double m_lo = center(t, s) - h - C, m_hi = center(t, s) + h - C;
  m_lo = fmax(-100.0, fmin(100.0, m_lo)) - t->opts.cut_sigmas * t->opts.noise_std;
  m_hi = fmax(-100.0, fmin(100.0, m_hi)) + t->opts.cut_sigmas * t->opts.noise_std;
  *lo = (int)floor((m_lo + 100.0) / t->width);
  *hi = (int)floor((m_hi + 100.0) / t->width);
  if (*lo < 0) *lo = 0;
  if (*hi > t->opts.n_bins - 1) *hi = t->opts.n_bins - 1;
}

static int64_t tax_n_transitions(const cbrl_problem *p, int context) {
  const tax *t = p->impl;
  int64_t n = 0;
  for (int s = 0; s < t->opts.n_bins; s++)
    for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
      int lo, hi;
      row_range(t, s, a, &lo, &hi);
      n += hi - lo + 1;
    }
  return n;
}

static int tax_structure(const cbrl_problem *p, int context, cbrl_mdp *m) {
  const tax *t = p->impl;
  int64_t k = 0;
  for (int s = 0; s < t->opts.n_bins; s++)
    for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
      int lo, hi;
      row_range(t, s, a, &lo, &hi);
      m->row[s * CBRL_TAX_ACTIONS + a] = k;
      for (int j = lo; j <= hi; j++) m->next[k++] = j;
    }
  m->row[t->opts.n_bins * CBRL_TAX_ACTIONS] = k;
  /* s_0 ~ N(0, 2) truncated to the grid, as bin masses. */
  double sd = sqrt(2.0), total = 0.0;
  for (int i = 0; i < t->opts.n_bins; i++) {
    double e0 = -100.0 + i * t->width;
    total += (m->mu[i] = mass(e0 / sd, (e0 + t->width) / sd));
  }
  for (int i = 0; i < t->opts.n_bins; i++) m->mu[i] /= total;
  return 0;
}

/* Offsets j - s a row can reach, over every action and income tax. */
static void offset_range(const tax *t, int *dmin, int *dmax) {
  double reach = t->opts.cut_sigmas * t->opts.noise_std;
  *dmin = (int)floor((-0.89 * 9 - 1.25 * 12 - reach) / t->width) - 2;
  *dmax = (int)ceil((0.89 * 9 + reach) / t->width) + 2;
}

/* For unclipped rows the bin masses depend on the action and on j - s only: one table per
   call instead of two erfc per transition. Rows whose mean is clipped are computed directly.
   mass_table[a][d] = mass of bin s + d; ratio_table (may be NULL) = (phi(u0) - phi(u1)) / (sd mass). */
static double *offset_tables(const tax *t, const double *tau, int dmin, int dmax, double **ratio_out) {
  int nd = dmax - dmin + 1;
  double sd = t->opts.noise_std, *mt = malloc(sizeof(double) * CBRL_TAX_ACTIONS * nd * (ratio_out ? 2 : 1));
  if (!mt) return NULL;
  double *rt = ratio_out ? mt + CBRL_TAX_ACTIONS * nd : NULL;
  for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
    double h, C;
    cbrl_tax_action(a, &h, &C);
    double delta = (1.0 - tau[0]) * h - C;
    for (int d = dmin; d <= dmax; d++) {
      double u0 = ((d - 0.5) * t->width - delta) / sd, u1 = u0 + t->width / sd, q = mass(u0, u1);
      mt[a * nd + (d - dmin)] = q;
      if (rt) rt[a * nd + (d - dmin)] = q > 0.0 ? (density(u0) - density(u1)) / (sd * q) : 0.0;
    }
  }
  if (ratio_out) *ratio_out = rt;
  return mt;
}

static int tax_evaluate(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m) {
  const tax *t = p->impl;
  double tau[4], sd = t->opts.noise_std;
  cbrl_tax_rates(x, tau);
  action_terms at[CBRL_TAX_ACTIONS];
  action_table(t, t->opts.alpha[context], p->lambda, tau, at);
  int dmin, dmax;
  offset_range(t, &dmin, &dmax);
  int nd = dmax - dmin + 1;
  double *mt = offset_tables(t, tau, dmin, dmax, NULL);
  /* Rows whose mean is clipped all have the mean -100 or +100: their bin masses, once. */
  int nb = t->opts.n_bins;
  double *clip_mass = malloc(sizeof(double) * 2 * (size_t)nb);
  if (!mt || !clip_mass) {
    free(mt);
    free(clip_mass);
    return CBRL_ENOMEM;
  }
  for (int side = 0; side < 2; side++)
    for (int j = 0; j < nb; j++) {
      double e0 = -100.0 + j * t->width, mean = side ? 100.0 : -100.0;
      clip_mass[side * nb + j] = mass((e0 - mean) / sd, (e0 + t->width - mean) / sd);
    }
  for (int s = 0; s < t->opts.n_bins; s++) {
    double cs = center(t, s), us = household_asset_utility(cs), as = welfare_asset_term(cs);
    for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
      size_t sa = (size_t)s * CBRL_TAX_ACTIONS + a;
      double h = 0.89 * (a / CBRL_TAX_TOTALS), dm;
      m->r[sa] = us - 0.1 * h * h + at[a].u_tilde;
      m->rbar[sa] = as + at[a].g_tilde;
      int clipped;
      double mean = next_asset_mean(center(t, s), a, tau[0], &dm, &clipped), z = 0.0;
      int64_t lo = m->row[sa], hi = m->row[sa + 1];
      /* Rows are contiguous runs of bins (tax_structure), so both lookups are slices. */
      const double *src = clipped ? clip_mass + (mean > 0.0 ? nb : 0) + m->next[lo]
                                  : mt + a * nd + (m->next[lo] - s - dmin);
      for (int64_t k = lo; k < hi; k++) z += (m->prob[k] = src[k - lo]);
      for (int64_t k = lo; k < hi; k++) m->prob[k] /= z;
    }
  }
  free(mt);
  free(clip_mass);
  return 0;
}

static int tax_vjp(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                   const cbrl_cotangent *ct, double *grad) {
  const tax *t = p->impl;
  double tau[4], g_tau[4] = {0};
  cbrl_tax_rates(x, tau);
  action_terms at[CBRL_TAX_ACTIONS];
  action_table(t, t->opts.alpha[context], p->lambda, tau, at);
  /* Rewards: collect the cotangent per action, then one product with the action table. */
  double wr[CBRL_TAX_ACTIONS] = {0}, wb[CBRL_TAX_ACTIONS] = {0};
  for (int s = 0; s < t->opts.n_bins; s++)
    for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
      size_t sa = (size_t)s * CBRL_TAX_ACTIONS + a;
      if (ct->r) wr[a] += ct->r[sa];
      if (ct->rbar) wb[a] += ct->rbar[sa];
    }
  for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
    for (int j = 0; j < 3; j++) g_tau[1 + j] += wr[a] * at[a].du[j];
    for (int j = 0; j < 4; j++) g_tau[j] += wb[a] * at[a].dg[j];
  }
  /* Transitions: d log P_j / d m = (phi(u_j) - phi(u_{j+1})) / (sd mass_j) - sum_k P_k (same)_k, the
     second term being d log Z / d m for the row's normaliser over its kept bins. */
  if (ct->log_p) {
    int dmin, dmax;
    offset_range(t, &dmin, &dmax);
    int nd = dmax - dmin + 1;
    double *rt, *mt = offset_tables(t, tau, dmin, dmax, &rt);
    if (!mt) return CBRL_ENOMEM;
    for (int s = 0; s < t->opts.n_bins; s++)
      for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
        size_t sa = (size_t)s * CBRL_TAX_ACTIONS + a;
        int clipped;
        double dm;
        next_asset_mean(center(t, s), a, tau[0], &dm, &clipped);
        if (dm == 0.0) continue; /* h = 0 or the clip is active: m does not move with tau_I */
        int64_t lo = m->row[sa], hi = m->row[sa + 1];
        double acc = 0.0, wsum = 0.0, mean_ratio = 0.0;
        for (int64_t k = lo; k < hi; k++) {
          double ratio = rt[a * nd + (m->next[k] - s - dmin)];
          mean_ratio += m->prob[k] * ratio;
          if (ct->log_p[k] == 0.0) continue;
          acc += ct->log_p[k] * ratio;
          wsum += ct->log_p[k];
        }
        g_tau[0] += (acc - wsum * mean_ratio) * dm;
      }
    free(mt);
  }
  /* tau = 2 sigmoid(w): d tau / d w = tau (1 - tau / 2). */
  for (int j = 0; j < 4; j++) grad[j] += g_tau[j] * tau[j] * (1.0 - tau[j] / 2.0);
  return 0;
}

static void tax_destroy(cbrl_problem *p) {
  free(p->impl);
  p->impl = NULL;
}

static const cbrl_problem_ops tax_ops = {tax_n_transitions, tax_structure, tax_evaluate, tax_vjp, tax_destroy, NULL};

int cbrl__tax_is(const cbrl_problem *p) { return p->ops == &tax_ops; }

int cbrl_tax_create(cbrl_problem **out, const cbrl_tax_opts *o) {
  cbrl_tax_opts defaults;
  if (!o) {
    cbrl_tax_opts_default(&defaults);
    o = &defaults;
  }
  if (!out || o->n_bins < 2 || o->n_bins > 100000 || o->n_types < 1 || o->n_types > CBRL_TAX_TYPES_MAX ||
      !(o->noise_std > 0.0) || !(o->cut_sigmas > 0.0))
    return CBRL_EINVAL;
  double wsum = 0.0;
  for (int k = 0; k < o->n_types; k++) {
    if (!(o->weight[k] >= 0.0)) return CBRL_EINVAL;
    wsum += o->weight[k];
    for (int j = 0; j < 3; j++)
      if (!(o->alpha[k][j] > 0.0)) return CBRL_EINVAL;
  }
  if (fabs(wsum - 1.0) > 1e-9) return CBRL_EINVAL;
  tax *t = calloc(1, sizeof *t);
  if (!t) return CBRL_ENOMEM;
  t->opts = *o;
  t->width = 200.0 / o->n_bins;
  for (int k1 = 0; k1 <= 4; k1++)
    for (int k2 = 0; k2 <= 4; k2++)
      for (int k3 = 0; k3 <= 4; k3++) {
        int K = k1 + k2 + k3;
        t->splits[K][t->n_splits[K]++] = (split){{k1, k2, k3}};
      }
  int err = cbrl_problem_create(out, &tax_ops, t, o->n_bins, CBRL_TAX_ACTIONS, CBRL_TAX_DIM, o->n_types);
  if (err) {
    free(t);
    return err;
  }
  for (int k = 0; k < o->n_types; k++) (*out)->context_weight[k] = o->weight[k];
  (*out)->gamma = o->gamma;
  (*out)->leader_gamma = o->leader_gamma;
  (*out)->lambda = o->lambda;
  (*out)->flags = CBRL_DEPENDS_R | CBRL_DEPENDS_RBAR | CBRL_DEPENDS_P;
  snprintf((*out)->name, sizeof (*out)->name, "tax-design");
  return 0;
}

/* Split-averaged tax revenue of each reduced action: E_{c|C}[sum_j tau_j c_j / (1 + tau_j)] + tau_I h. */
static void revenue_table(const tax *t, const double *alpha, double lambda, const double *tau, double *rev) {
  for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
    int K = a % CBRL_TAX_TOTALS, n = t->n_splits[K];
    double h = 0.89 * (a / CBRL_TAX_TOTALS), U[N_SPLITS_MAX], d[3], mx = -INFINITY, z = 0.0, acc = 0.0;
    for (int i = 0; i < n; i++) mx = fmax(mx, U[i] = consumption_utility(alpha, &t->splits[K][i], tau, d));
    for (int i = 0; i < n; i++) z += exp((U[i] - mx) / lambda);
    for (int i = 0; i < n; i++) {
      double r = 0.0;
      for (int j = 0; j < 3; j++) r += tau[1 + j] * 1.25 * t->splits[K][i].k[j] / (1.0 + tau[1 + j]);
      acc += exp((U[i] - mx) / lambda) / z * r;
    }
    rev[a] = acc + tau[0] * h;
  }
}

int cbrl_tax_report_compute(const cbrl_problem *p, cbrl_exact *e, const double *x, cbrl_tax_report *r) {
  if (!p || p->ops != &tax_ops || !e || !x || !r) return CBRL_EINVAL;
  const tax *t = p->impl;
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
    revenue_table(t, t->opts.alpha[k], p->lambda, r->rates, rev);
    for (int s = 0; s < S; s++)
      for (int a = 0; a < A; a++) reward[(size_t)s * A + a] = rev[a];
    memset(v, 0, sizeof(double) * (size_t)S);
    err = cbrl_soft_solver_evaluate(&w, m, p->leader_gamma, reward, v);
    if (err && err != CBRL_ENOCONV) break;
    for (int s = 0; s < S; s++) r->revenue[k] += m->mu[s] * v[s];
    for (int s = 0; s < S; s++)
      for (int a = 0; a < A; a++) reward[(size_t)s * A + a] = center(t, s);
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
