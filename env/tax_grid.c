/* The tax economy as a tabular CB-RL problem (docs/ENVIRONMENTS.md 2): the problem ops
   over a grid of asset bins. The households' rewards come from the economy (tax_economy.c).

   The next bin's probability is the truncated normal's mass,
   P_j = (Phi(u_{j+1}) - Phi(u_j)) / Z, u = (edge - m) / sd, with m = clip(s + (1 - tau_I) h - C),
   so log P is differentiable in the income tax: d log P_j / d m is a difference of normal
   densities over masses. Bin masses are taken from the side of the distribution that keeps
   them accurate in the tails (erfc), and transitions beyond cut_sigmas sd are dropped (mass
   below 1e-15 at the default 8). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/env/tax.h"
#include "cbrl/errors.h"

#include "tax_private.h"

/* The range of bins a row may reach, for every income tax in [0, 2]. */
static void row_range(const cbrl__tax *t, int s, int a, int *lo, int *hi) {
  double h, C;
  cbrl_tax_action(a, &h, &C);
  double m_lo = cbrl__tax_center(t, s) - h - C, m_hi = cbrl__tax_center(t, s) + h - C;
  m_lo = fmax(-100.0, fmin(100.0, m_lo)) - t->opts.cut_sigmas * t->opts.noise_std;
  m_hi = fmax(-100.0, fmin(100.0, m_hi)) + t->opts.cut_sigmas * t->opts.noise_std;
  *lo = (int)floor((m_lo + 100.0) / t->width);
  *hi = (int)floor((m_hi + 100.0) / t->width);
  if (*lo < 0) *lo = 0;
  if (*hi > t->opts.n_bins - 1) *hi = t->opts.n_bins - 1;
}

static int64_t tax_n_transitions(const cbrl_problem *p, int context) {
  const cbrl__tax *t = p->impl;
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
  const cbrl__tax *t = p->impl;
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
    total += (m->mu[i] = cbrl__tax_normal_mass(e0 / sd, (e0 + t->width) / sd));
  }
  for (int i = 0; i < t->opts.n_bins; i++) m->mu[i] /= total;
  return 0;
}

/* Offsets j - s a row can reach, over every action and income tax. */
static void offset_range(const cbrl__tax *t, int *dmin, int *dmax) {
  double reach = t->opts.cut_sigmas * t->opts.noise_std;
  *dmin = (int)floor((-0.89 * 9 - 1.25 * 12 - reach) / t->width) - 2;
  *dmax = (int)ceil((0.89 * 9 + reach) / t->width) + 2;
}

/* For unclipped rows the bin masses depend on the action and on j - s only: one table per
   call instead of two erfc per transition. Rows whose mean is clipped are computed directly.
   Writes mt[a][d] = mass of bin s + d and, when rt is not NULL, rt[a][d] = (phi(u0) - phi(u1)) /
   (sd mass); each is CBRL_TAX_ACTIONS x (dmax - dmin + 1). */
static void offset_tables(const cbrl__tax *t, const double *tau, int dmin, int dmax, double *mt, double *rt) {
  int nd = dmax - dmin + 1;
  double sd = t->opts.noise_std, reach = t->opts.cut_sigmas * t->opts.noise_std;
  for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
    double h, C;
    cbrl_tax_action(a, &h, &C);
    double delta = (1.0 - tau[0]) * h - C;
    /* The offsets this action's rows reach (row_range, with offset_range's margin of 2): the
       other entries are never read; they are set to 0. A vjp needs no ratios where h = 0. */
    int lo = (int)floor((-h - C - reach) / t->width) - 2, hi = (int)ceil((h - C + reach) / t->width) + 2;
    lo = lo < dmin ? dmin : lo, hi = hi > dmax ? dmax : hi;
    for (int d = dmin; d <= dmax; d++) {
      mt[a * nd + (d - dmin)] = 0.0;
      if (rt) rt[a * nd + (d - dmin)] = 0.0;
    }
    if (rt && h == 0.0) continue;
    for (int d = lo; d <= hi; d++) {
      double u0 = ((d - 0.5) * t->width - delta) / sd, u1 = u0 + t->width / sd;
      double q = cbrl__tax_normal_mass(u0, u1);
      mt[a * nd + (d - dmin)] = q;
      if (rt)
        rt[a * nd + (d - dmin)] =
            q > 0.0 ? (cbrl__tax_normal_density(u0) - cbrl__tax_normal_density(u1)) / (sd * q) : 0.0;
    }
  }
}

/* The ops' scratch, in doubles: evaluate's mass table and the clipped rows' masses, or vjp's
   mass and ratio tables. */
static size_t scratch_doubles(const cbrl__tax *t) {
  int dmin, dmax;
  offset_range(t, &dmin, &dmax);
  size_t table = (size_t)CBRL_TAX_ACTIONS * (size_t)(dmax - dmin + 1);
  size_t evaluate = table + 2 * (size_t)t->opts.n_bins, vjp = 2 * table;
  return evaluate > vjp ? evaluate : vjp;
}

static int tax_evaluate(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m, void *scratch) {
  const cbrl__tax *t = p->impl;
  if (!scratch) return CBRL_EINVAL; /* p->scratch_size bytes, from the MDP */
  double tau[4], sd = t->opts.noise_std;
  cbrl_tax_rates(x, tau);
  cbrl__tax_action_terms at[CBRL_TAX_ACTIONS];
  cbrl__tax_action_table(t, t->opts.alpha[context], p->lambda, tau, at);
  int dmin, dmax;
  offset_range(t, &dmin, &dmax);
  int nd = dmax - dmin + 1;
  double *mt = scratch;
  offset_tables(t, tau, dmin, dmax, mt, NULL);
  /* Rows whose mean is clipped all have the mean -100 or +100: their bin masses, once. */
  int nb = t->opts.n_bins;
  double *clip_mass = mt + (size_t)CBRL_TAX_ACTIONS * nd;
  for (int side = 0; side < 2; side++)
    for (int j = 0; j < nb; j++) {
      double e0 = -100.0 + j * t->width, mean = side ? 100.0 : -100.0;
      clip_mass[side * nb + j] = cbrl__tax_normal_mass((e0 - mean) / sd, (e0 + t->width - mean) / sd);
    }
  /* A row's values are its source slice over its sum, so two rows with the same source slice
     (the same action, first offset and length away from the clip; the same side, first bin and
     length at it) are the same bits: such a row is copied from the last one, not recomputed. */
  int64_t last_k[CBRL_TAX_ACTIONS + 2];
  int last_first[CBRL_TAX_ACTIONS + 2], last_n[CBRL_TAX_ACTIONS + 2];
  for (int i = 0; i < CBRL_TAX_ACTIONS + 2; i++) last_n[i] = -1;
  for (int s = 0; s < t->opts.n_bins; s++) {
    double cs = cbrl__tax_center(t, s), us = cbrl__tax_asset_utility(cs), as = cbrl__tax_welfare_asset_term(cs);
    for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
      size_t sa = (size_t)s * CBRL_TAX_ACTIONS + a;
      double h = 0.89 * (a / CBRL_TAX_TOTALS), dm;
      m->r[sa] = us - 0.1 * h * h + at[a].u_tilde;
      m->rbar[sa] = as + at[a].g_tilde;
      int clipped;
      double mean = cbrl__tax_next_asset_mean(cs, a, tau[0], &dm, &clipped), z = 0.0;
      int64_t lo = m->row[sa], hi = m->row[sa + 1];
      /* Rows are contiguous runs of bins (tax_structure), so both lookups are slices. */
      int key = clipped ? CBRL_TAX_ACTIONS + (mean > 0.0) : a;
      /* The row's first bin; cbrl_mdp_init keeps them in a small table (cbrl_mdp.row_first), which
         saves a cache miss per row in the 8 MB next array. */
      int j0 = m->row_first ? m->row_first[sa] : m->next[lo];
      int first = clipped ? j0 : j0 - s - dmin, n = (int)(hi - lo);
      if (m->shifted) m->shifted[sa] = 0;
      if (last_n[key] == n && last_first[key] == first) {
        /* Away from the clip the same first offset from s - 1 is the same row moved up a bin. */
        if (m->shifted && !clipped && s > 0 && last_k[key] == m->row[sa - CBRL_TAX_ACTIONS]) m->shifted[sa] = 1;
        memcpy(m->prob + lo, m->prob + last_k[key], sizeof(double) * (size_t)n);
        last_k[key] = lo;
        continue;
      }
      const double *src = clipped ? clip_mass + (mean > 0.0 ? nb : 0) + first : mt + a * nd + first;
      for (int64_t k = lo; k < hi; k++) z += (m->prob[k] = src[k - lo]);
      /* The row check cbrl_mdp_evaluate skips (CBRL_ROWS_CHECKED): the masses are differences of
         a monotone erfc, so >= 0; a finite positive z makes every entry finite and the row sum
         1 to rounding. */
      if (!(z > 0.0) || !isfinite(z)) return CBRL_ENONFINITE;
      for (int64_t k = lo; k < hi; k++) m->prob[k] /= z;
      last_k[key] = lo, last_first[key] = first, last_n[key] = n;
    }
  }
  return 0;
}

/* Whether any of c[0 .. n) is non-zero (-0 counts as zero, NaN as non-zero, as for c != 0): the
   OR of the bit patterns has a bit other than the sign set exactly then. Loads and ORs only, so
   the loop vectorises; compiled for AVX2 too where the compiler can (as src/vector_clones.h does
   for the core), since this scan over every entry is most of the vjp. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && !defined(CBRL_NO_CLONES)
#if __has_attribute(target_clones)
__attribute__((target_clones("avx2", "default")))
#endif
#endif
static int any_nonzero(const double *c, int64_t n) {
  uint64_t acc = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, c + i, sizeof u);
    acc |= u;
  }
  return (acc << 1) != 0;
}

static int tax_vjp(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                   const cbrl_cotangent *ct, double *grad, void *scratch) {
  const cbrl__tax *t = p->impl;
  double tau[4], g_tau[4] = {0};
  cbrl_tax_rates(x, tau);
  cbrl__tax_action_terms at[CBRL_TAX_ACTIONS];
  cbrl__tax_action_table(t, t->opts.alpha[context], p->lambda, tau, at);
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
    if (!scratch) return CBRL_EINVAL;
    int dmin, dmax;
    offset_range(t, &dmin, &dmax);
    int nd = dmax - dmin + 1;
    double *mt = scratch, *rt = mt + (size_t)CBRL_TAX_ACTIONS * nd;
    offset_tables(t, tau, dmin, dmax, mt, rt);
    /* The mean ratio of a row depends only on its probabilities and ratio slice: rows with the
       same action, first offset and length (tax_evaluate gave them the same bits) share it. */
    int last_first[CBRL_TAX_ACTIONS], last_n[CBRL_TAX_ACTIONS];
    double last_mean[CBRL_TAX_ACTIONS];
    for (int a = 0; a < CBRL_TAX_ACTIONS; a++) last_n[a] = -1;
    for (int s = 0; s < t->opts.n_bins; s++)
      for (int a = 0; a < CBRL_TAX_ACTIONS; a++) {
        size_t sa = (size_t)s * CBRL_TAX_ACTIONS + a;
        int64_t lo = m->row[sa], hi = m->row[sa + 1];
        /* A row with no cotangent adds (0 - 0 mean_ratio) dm = +-0, which leaves g_tau[0] as it
           is (it starts at +0): skip it. Most of the 2 M entries are in such rows. */
        if (!any_nonzero(ct->log_p + lo, hi - lo)) continue;
        int clipped;
        double dm;
        cbrl__tax_next_asset_mean(cbrl__tax_center(t, s), a, tau[0], &dm, &clipped);
        if (dm == 0.0) continue; /* h = 0 or the clip is active: m does not move with tau_I */
        /* The row's bins are a contiguous run (tax_structure): its ratios are a slice. */
        int first = (m->row_first ? m->row_first[sa] : m->next[lo]) - s - dmin, n = (int)(hi - lo);
        const double *ratio = rt + a * nd + first;
        double acc = 0.0, wsum = 0.0, mean_ratio = 0.0;
        if (last_n[a] == n && last_first[a] == first) mean_ratio = last_mean[a];
        else {
          for (int64_t k = lo; k < hi; k++) mean_ratio += m->prob[k] * ratio[k - lo];
          last_first[a] = first, last_n[a] = n, last_mean[a] = mean_ratio;
        }
        for (int64_t k = lo; k < hi; k++) {
          if (ct->log_p[k] == 0.0) continue;
          acc += ct->log_p[k] * ratio[k - lo];
          wsum += ct->log_p[k];
        }
        g_tau[0] += (acc - wsum * mean_ratio) * dm;
      }
  }
  /* tau = 2 sigmoid(w): d tau / d w = tau (1 - tau / 2). */
  for (int j = 0; j < 4; j++) grad[j] += g_tau[j] * tau[j] * (1.0 - tau[j] / 2.0);
  return 0;
}

/* docs/MODEL.md 4.1c, the structural critic: Qbar(s,a) = rbar(s,a) + gamL E[Vbar(s') | m], and
   the bin masses of s' depend on (s, a) only through the clipped mean m of the next assets, so
   Qbar - rbar is a function f(m); f is represented by hat functions on the bin edges (n_bins + 1
   knots, two non-zero per (s, a)), and rbar is the part the leader knows. */
static int tax_features(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, int s, int a,
                        int *index, double *value, double *known) {
  const cbrl__tax *t = p->impl;
  double tau[4], dm;
  int clipped;
  (void)context;
  cbrl_tax_rates(x, tau);
  double mean = cbrl__tax_next_asset_mean(cbrl__tax_center(t, s), a, tau[0], &dm, &clipped);
  double u = (mean + 100.0) / t->width;
  int i = (int)floor(u);
  if (i >= t->opts.n_bins) i = t->opts.n_bins - 1;
  if (i < 0) i = 0;
  double frac = u - i;
  index[0] = i, value[0] = 1.0 - frac;
  index[1] = i + 1, value[1] = frac;
  *known = m->rbar[(size_t)s * CBRL_TAX_ACTIONS + a];
  return 2;
}

/* d log P_k / d w_I of one entry (docs/MODEL.md 4.1d uses it per step): the row's bins are
   contiguous, so the row's mean of the density ratio telescopes to (phi(u_first) - phi(u_last))
   / (sd Z), Z the row's kept mass. */
static int tax_log_p_score(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, int s, int a,
                           int64_t k, double *score) {
  const cbrl__tax *t = p->impl;
  double tau[4], dm, sd = t->opts.noise_std;
  int clipped;
  (void)context;
  cbrl_tax_rates(x, tau);
  for (int j = 0; j < CBRL_TAX_DIM; j++) score[j] = 0.0;
  double mean = cbrl__tax_next_asset_mean(cbrl__tax_center(t, s), a, tau[0], &dm, &clipped);
  if (dm == 0.0) return 0;
  size_t sa = (size_t)s * CBRL_TAX_ACTIONS + a;
  int64_t lo = m->row[sa], hi = m->row[sa + 1];
  if (k < lo || k >= hi) return CBRL_EINVAL;
  double uf = (-100.0 + m->next[lo] * t->width - mean) / sd, ul = (-100.0 + (m->next[hi - 1] + 1) * t->width - mean) / sd;
  double u0 = (-100.0 + m->next[k] * t->width - mean) / sd, u1 = u0 + t->width / sd;
  double z = cbrl__tax_normal_mass(uf, ul), q = cbrl__tax_normal_mass(u0, u1);
  if (!(z > 0.0) || !(q > 0.0)) return 0;
  double d = ((cbrl__tax_normal_density(u0) - cbrl__tax_normal_density(u1)) / q -
              (cbrl__tax_normal_density(uf) - cbrl__tax_normal_density(ul)) / z) / sd;
  score[0] = d * dm * tau[0] * (1.0 - tau[0] / 2.0);
  return 0;
}

static void tax_destroy(cbrl_problem *p) {
  free(p->impl);
  p->impl = NULL;
}

static const cbrl_problem_ops tax_ops = {tax_n_transitions, tax_structure, tax_evaluate, tax_vjp, tax_destroy, NULL,
                                         tax_features, tax_log_p_score};

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
  cbrl__tax *t = calloc(1, sizeof *t);
  if (!t) return CBRL_ENOMEM;
  cbrl__tax_init(t, o);
  int err = cbrl_problem_create(out, &tax_ops, t, o->n_bins, CBRL_TAX_ACTIONS, CBRL_TAX_DIM, o->n_types);
  if (err) {
    free(t);
    return err;
  }
  for (int k = 0; k < o->n_types; k++) (*out)->context_weight[k] = o->weight[k];
  (*out)->gamma = o->gamma;
  (*out)->leader_gamma = o->leader_gamma;
  (*out)->lambda = o->lambda;
  (*out)->flags = CBRL_DEPENDS_R | CBRL_DEPENDS_RBAR | CBRL_DEPENDS_P | CBRL_ROWS_CHECKED | CBRL_ROWS_CONTIGUOUS |
                  CBRL_ROWS_SHIFTED;
  (*out)->scratch_size = sizeof(double) * scratch_doubles(t);
  (*out)->n_features = o->n_bins + 1;
  (*out)->feature_nnz = 2;
  snprintf((*out)->name, sizeof (*out)->name, "tax-design");
  return 0;
}
