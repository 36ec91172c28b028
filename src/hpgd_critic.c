/* HPGD cross-fitted critic estimator (docs/MODEL.md 4.1c).

   The batch estimator forms Abar and gA as means over the same visits of each (s,a), so every
   distinct visited pair adds Cov(leader return, vector return | s,a) to its estimate. Here the
   batch's episodes are split into folds (episode e in fold e mod K); the steps of fold f get
   Abar from a critic fitted on the other folds only, and gA from their own vector return minus
   the leave-one-out mean of the vector returns of fold f's other visits of the same state.
   Folds hold independent episodes, so the two factors are independent and their product's
   mean is the product of their means.

   The response term keeps the batch estimator's single-vjp structure: with c_j = w_j Abar_j and
   gA_j = R^c_j minus the mean vector return of the fold's visits of s_j in other episodes,
   sum_j c_j gA_j = sum_j beta_j R^c_j, beta_j = c_j - sum_{k at s_j, other episodes} c_k / m_k
   (m_k the number of such visits of k's state); then the same forward accumulation
   B_j = gam B_{j-1} + beta_j turns it into a cotangent. The baseline leaves out the step's own
   return and its episode's other visits (which share its future), unlike the plain
   mean; since the critic's Abar is centred under pi (Vbar(s) = sum_a pi(a|s) Qbar(s,a)) and
   independent of the fold, the baseline term has mean zero, and the response term's mean is
   sum_j w_j E_pi[Abar gA] for the critic's Abar.

   Critics: tabular (per-(s,a) means of the other folds' leader returns; a pair the other folds
   never took gets rbar + gamL P Vbar from the model's kernel, fill_from_model) or
   linear in the problem's features (ridge least squares on the other folds' returns, minus the
   part of Qbar the problem knows). Returns of truncated episodes that could not be bootstrapped
   miss their tail, so the critic is fitted only on steps at least log(1e-3) / log(gamL) steps
   before the cut (at most half the episode). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "hpgd_private.h"

/* The critic estimator's own tables, allocated on its first use (cbrl__hpgd_critic_alloc). */
struct cbrl__hpgd_critic {
  int folds, n_features, nnz;
  double *beta, *u;           /* per step: beta_j, and c_j / m_j of the baseline */
  double *t_s;                /* folds x S: sum of u_j at s */
  double *n_e, *t_e;          /* S: one episode's visits of s and sum of u_j there */
  unsigned char *fit;         /* per step: its return enters the critic fit */
  unsigned char *counted;     /* per episode: its per-episode sums enter the estimate */
  double *q_sum, *q_n;        /* folds x SA: leader returns of fitted steps */
  double *v_sum, *v_n;        /* folds x S */
  double *q, *vbar;           /* folds x SA, folds x S: the critic used for fold f's steps */
  unsigned char *known;       /* folds x S: the critic has a value at s */
  double *n_s, *vstar, *n_v;  /* folds x S: own-fold usable visits, mean soft return over n_v fitted ones */
  double *vbase;              /* folds x S: the other folds' mean soft return, the score baseline */
  double *b_sum, *l_sum;      /* folds x SA: expected_score, the follower's and the leader's weights per pair */
  double *c_n, *c_bar, *c_soft; /* folds x S: terminated visits */
  double *extra;              /* folds x S: bootstrap weights */
  int *f_index;               /* SA x nnz */
  double *f_value, *f_known;  /* SA x nnz, SA */
  double *gram, *rhs, *theta; /* folds x K x K, folds x K, K */
  double *chol, *work;        /* K x K: the factor, the summed Gram matrix */
  int32_t *fill, *fill_of;    /* S: states with a pair the other folds never took; each state's
                                 place in that list, or -1 */
  unsigned char *model;       /* SA: that pair's Qbar comes from the model (fill_from_model) */
  int64_t *fill_row;          /* S + 1: rows of M */
  int32_t *fill_col;          /* max_transitions: columns of M (places in fill) */
  double *fill_coef, *fill_c, *fill_v; /* max_transitions, S, S: M less its diagonal, c, Vbar on the
                                          fill states */
  double *fill_d;             /* S: 1 / (1 - M_ii) */
  int32_t *fill_slot;         /* S: -1, or a column's place in the row being gathered */
  double *warm;               /* contexts x S: the model critic's last Vbar per context, where its
                                 next policy evaluation starts (allocated on first use) */
};

void cbrl__hpgd_critic_free(struct cbrl__hpgd_critic *c) {
  if (!c) return;
  double **d[] = {&c->b_sum, &c->l_sum, &c->beta, &c->u, &c->t_s, &c->n_e, &c->t_e, &c->q_sum, &c->q_n, &c->v_sum, &c->v_n, &c->q, &c->vbar, &c->n_s, &c->vstar, &c->n_v,
                  &c->vbase, &c->c_n, &c->c_bar, &c->c_soft, &c->extra, &c->f_value, &c->f_known,
                  &c->gram, &c->rhs, &c->theta, &c->chol, &c->work};
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) free(*d[i]);
  free(c->fit);
  free(c->counted);
  free(c->known);
  free(c->f_index);
  free(c->fill);
  free(c->fill_of);
  free(c->model);
  free(c->fill_row);
  free(c->fill_col);
  free(c->fill_coef);
  free(c->fill_c);
  free(c->fill_v);
  free(c->fill_d);
  free(c->fill_slot);
  free(c->warm);
  free(c);
}

static int critic_alloc(cbrl_hpgd *h, int folds, int with_features) {
  struct cbrl__hpgd_critic *c = h->critic;
  if (c && c->folds == folds && (!with_features || c->gram)) return 0;
  cbrl__hpgd_critic_free(c);
  h->critic = c = calloc(1, sizeof *c);
  if (!c) return CBRL_ENOMEM;
  const cbrl_problem *p = h->problem;
  size_t S = (size_t)h->n_states, SA = S * h->n_actions, N = (size_t)h->max_batch_steps, F = (size_t)folds;
  c->folds = folds;
  c->beta = malloc(N * sizeof(double));
  c->u = malloc(N * sizeof(double));
  c->n_e = calloc(S, sizeof(double));
  c->t_e = calloc(S, sizeof(double));
  c->fit = malloc(N);
  c->counted = malloc(N);
  c->q_sum = malloc(F * SA * sizeof(double));
  c->q_n = malloc(F * SA * sizeof(double));
  c->q = malloc(F * SA * sizeof(double));
  c->b_sum = malloc(F * SA * sizeof(double));
  c->l_sum = malloc(F * SA * sizeof(double));
  double **per_state[] = {&c->n_v, &c->t_s, &c->v_sum, &c->v_n, &c->vbar, &c->n_s, &c->vstar, &c->vbase, &c->c_n,
                          &c->c_bar, &c->c_soft, &c->extra};
  for (size_t i = 0; i < sizeof per_state / sizeof per_state[0]; i++) *per_state[i] = malloc(F * S * sizeof(double));
  c->known = malloc(F * S);
  size_t NNZ = h->max_transitions > 0 ? (size_t)h->max_transitions : 1;
  c->fill = malloc(S * sizeof(int32_t));
  c->fill_of = malloc(S * sizeof(int32_t));
  c->model = malloc(SA);
  c->fill_row = malloc((S + 1) * sizeof(int64_t));
  c->fill_col = malloc(NNZ * sizeof(int32_t));
  c->fill_coef = malloc(NNZ * sizeof(double));
  c->fill_c = malloc(S * sizeof(double));
  c->fill_v = malloc(S * sizeof(double));
  c->fill_d = malloc(S * sizeof(double));
  c->fill_slot = malloc(S * sizeof(int32_t));
  if (c->fill_slot)
    for (size_t s = 0; s < S; s++) c->fill_slot[s] = -1;
  int ok = c->fill_slot && c->fill_d && c->fill && c->fill_of && c->model && c->fill_row && c->fill_col && c->fill_coef && c->fill_c && c->fill_v && c->b_sum && c->l_sum && c->beta && c->u && c->n_e && c->t_e && c->fit && c->counted && c->q_sum && c->q_n && c->q && c->known;
  for (size_t i = 0; i < sizeof per_state / sizeof per_state[0]; i++) ok = ok && *per_state[i];
  if (ok && with_features) {
    size_t K = (size_t)p->n_features, Z = (size_t)p->feature_nnz;
    c->n_features = p->n_features;
    c->nnz = p->feature_nnz;
    c->f_index = malloc(SA * Z * sizeof(int));
    c->f_value = malloc(SA * Z * sizeof(double));
    c->f_known = malloc(SA * sizeof(double));
    c->gram = malloc(F * K * K * sizeof(double));
    c->rhs = malloc(F * K * sizeof(double));
    c->theta = malloc(K * sizeof(double));
    c->chol = malloc(K * K * sizeof(double));
    c->work = malloc(K * K * sizeof(double));
    ok = c->f_index && c->f_value && c->f_known && c->gram && c->rhs && c->theta && c->chol && c->work;
  }
  if (!ok) {
    cbrl__hpgd_critic_free(c);
    h->critic = NULL;
    return CBRL_ENOMEM;
  }
  return 0;
}

/* Solves A theta = b in place (b becomes theta) for a symmetric positive definite K x K matrix
   A, reading its lower triangle and factorising into L; CBRL_ENONFINITE if A is not positive
   definite. */
static int cholesky_solve(double *A, double *L, double *b, int K) {
  for (int i = 0; i < K; i++)
    for (int j = 0; j <= i; j++) {
      double s = A[(size_t)i * K + j];
      for (int k = 0; k < j; k++) s -= L[(size_t)i * K + k] * L[(size_t)j * K + k];
      if (i == j) {
        if (!(s > 0.0)) return CBRL_ENONFINITE;
        L[(size_t)i * K + i] = sqrt(s);
      } else {
        L[(size_t)i * K + j] = s / L[(size_t)j * K + j];
      }
    }
  for (int i = 0; i < K; i++) { /* L y = b */
    double s = b[i];
    for (int k = 0; k < i; k++) s -= L[(size_t)i * K + k] * b[k];
    b[i] = s / L[(size_t)i * K + i];
  }
  for (int i = K - 1; i >= 0; i--) { /* L' theta = y */
    double s = b[i];
    for (int k = i + 1; k < K; k++) s -= L[(size_t)k * K + i] * b[k];
    b[i] = s / L[(size_t)i * K + i];
  }
  return 0;
}

/* Fills the feature table of every (s, a) at x. */
static int feature_table(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m) {
  const cbrl_problem *p = h->problem;
  struct cbrl__hpgd_critic *c = h->critic;
  int A = h->n_actions, Z = c->nnz;
  for (int s = 0; s < h->n_states; s++)
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      int *idx = c->f_index + sa * Z;
      double *val = c->f_value + sa * Z;
      int n = p->ops->features(p, context, x, m, s, a, idx, val, &c->f_known[sa]);
      if (n < 0 || n > Z) return n < 0 ? n : CBRL_EINVAL;
      for (int k = n; k < Z; k++) idx[k] = 0, val[k] = 0.0;
      for (int k = 0; k < n; k++)
        if (idx[k] < 0 || idx[k] >= c->n_features || !isfinite(val[k])) return CBRL_EINVAL;
    }
  return 0;
}

/* The tabular critic's values where fold f's other folds have no data (docs/MODEL.md 4.1c): a
   pair they never took gets Qbar(s,a) = rbar(s,a) + gamL sum_s' P(s'|s,a) Vbar(s') from the
   kernel m the batch was drawn from, with Vbar(s) = sum_a pi(a|s) Qbar(s,a) and the seen pairs' means held fixed:
   the leader's policy evaluation on the unseen pairs. Everything it reads is independent of fold
   f, so the cross-fitting stands; without it such a state gave no response and such a pair the
   state's mean, which biased rarely visited cells (docs/results/four_rooms.md, "Bias on rarely
   visited cells"). On the states with an unseen pair (q_n of the other folds exactly 0) Vbar
   solves V = c + M V, c and M gathered once; Gauss-Seidel sweeps, each state solved for with its own
   self-transition (a move into a wall), contract by gamL or better. With `all`, every pair comes
   from the kernel: the model critic, the leader's exact policy evaluation. */
static void fill_from_model(cbrl_hpgd *h, const cbrl_mdp *m, const cbrl_policy *pi, int f, int all, double *q,
                            double *vbar) {
  struct cbrl__hpgd_critic *c = h->critic;
  int S = h->n_states, A = h->n_actions, F = c->folds;
  size_t SA = (size_t)S * A;
  double gamL = h->problem->leader_gamma, scale = 0.0;
  int n_fill = 0;
  unsigned char *model = c->model;
  int32_t *fill = c->fill, *col = c->fill_col;
  for (int s = 0; s < S; s++) {
    int any = 0;
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double qn = 0.0;
      for (int g = 0; g < F; g++)
        if (g != f) qn += c->q_n[g * SA + sa];
      model[sa] = all || !(qn > 0.0);
      any |= model[sa];
      scale = fmax(scale, fabs(model[sa] ? m->rbar[sa] : q[sa]));
    }
    c->fill_of[s] = any ? n_fill : -1;
    if (any) fill[n_fill++] = s;
  }
  if (!n_fill) return;
  /* Row i of (c, M): the seen pairs and the rewards of the unseen ones in c, their transitions
     into states off the fill set in c too (those Vbar are fixed), the rest in M, one entry per
     next state (slot: its place in the row, -1 between rows). */
  int64_t nnz = 0;
  int32_t *slot = c->fill_slot;
  for (int i = 0; i < n_fill; i++) {
    int s = fill[i];
    double ci = 0.0, di = 0.0;
    c->fill_row[i] = nnz;
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double w = pi->pi[sa];
      if (!model[sa]) {
        ci += w * q[sa];
        continue;
      }
      ci += w * m->rbar[sa];
      if (m->terminal[s]) continue;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) {
        int32_t t = m->next[k];
        double coef = w * gamL * m->prob[k];
        if (c->fill_of[t] < 0) ci += coef * vbar[t];
        else if (t == s) di += coef; /* staying put, solved for in the sweep */
        else if (slot[c->fill_of[t]] >= 0) c->fill_coef[slot[c->fill_of[t]]] += coef;
        else slot[c->fill_of[t]] = nnz, col[nnz] = c->fill_of[t], c->fill_coef[nnz++] = coef;
      }
    }
    for (int64_t k = c->fill_row[i]; k < nnz; k++) slot[col[k]] = -1;
    c->fill_row[n_fill] = nnz;
    c->fill_c[i] = ci;
    c->fill_d[i] = 1.0 / (1.0 - di);
    c->fill_v[i] = vbar[s];
  }
  /* 1e-6 of the values' scale (an error of a few times that) is far below their noise. The
     sweeps alternate direction (symmetric Gauss-Seidel), carrying values both ways along the
     state order. */
  double tol = 1e-6 * (scale > 0.0 ? scale : 1.0);
  /* A leader discount near 1 slows the sweeps; their work is capped at 50 operations per batch
     step (at least 1,000 sweeps), so the estimate's cost stays within a constant of the batch's;
     Four-Rooms' 10,000-step batches need 30-110 of the 1,000. */
  double work = 50.0 * (double)h->batch.n_steps / (double)(nnz + n_fill);
  int max_sweeps = work > 1000.0 ? (work < 1e7 ? (int)work : 10000000) : 1000;
  for (int sweep = 0; sweep < max_sweeps; sweep++) {
    double change = 0.0;
    for (int n = 0; n < n_fill; n++) {
      int i = sweep % 2 ? n_fill - 1 - n : n;
      double v = c->fill_c[i];
      for (int64_t k = c->fill_row[i]; k < c->fill_row[i + 1]; k++) v += c->fill_coef[k] * c->fill_v[col[k]];
      v *= c->fill_d[i];
      change = fmax(change, fabs(v - c->fill_v[i]));
      c->fill_v[i] = v;
    }
    if (change <= tol) break;
  }
  for (int i = 0; i < n_fill; i++) vbar[fill[i]] = c->fill_v[i];
  for (int i = 0; i < n_fill; i++) {
    int s = fill[i];
    double v = 0.0;
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      if (model[sa]) {
        double t = m->rbar[sa];
        if (!m->terminal[s])
          for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) t += gamL * m->prob[k] * vbar[m->next[k]];
        q[sa] = t;
      }
      v += pi->pi[sa] * q[sa];
    }
    vbar[s] = v; /* equal to the solution up to tol; recomputed so that Abar is centred exactly */
  }
}

/* Fits the critic for each fold from the other folds' tables, then forms Qbar (q) and Vbar
   (vbar, centred under pi) per fold; given a kernel, the tabular critic's unseen pairs come from
   it (fill_from_model). */
static int fit_critics(cbrl_hpgd *h, int context, const cbrl_mdp *kernel, const cbrl_policy *pi, int critic,
                       double ridge, const int64_t n_fit[], const double y_sum[]) {
  struct cbrl__hpgd_critic *c = h->critic;
  int S = h->n_states, A = h->n_actions, F = c->folds, K = c->n_features, Z = c->nnz;
  size_t SA = (size_t)S * A;
  int features = critic == CBRL_CRITIC_FEATURES;
  if (critic == CBRL_CRITIC_MODEL) {
    /* No data: the leader's policy evaluation on the kernel, the same for every fold (docs/MODEL.md
       4.1c), so Abar is exact and independent of the batch. It starts from the context's last
       solution: x moves little between iterations, so the sweeps are fewer. */
    if (!kernel) return CBRL_ENOTSUP;
    if (!c->warm && !(c->warm = calloc((size_t)h->problem->n_contexts * S, sizeof(double)))) return CBRL_ENOMEM;
    double *warm = c->warm + (size_t)context * S;
    memcpy(c->vbar, warm, sizeof(double) * (size_t)S);
    fill_from_model(h, kernel, pi, 0, 1, c->q, c->vbar);
    memcpy(warm, c->vbar, sizeof(double) * (size_t)S);
    memset(c->known, 1, (size_t)S);
    return 0; /* fold 0's tables serve every fold (critic_fold) */
  }
  for (int f = 0; f < F; f++) {
    double *q = c->q + f * SA, *vbar = c->vbar + (size_t)f * S;
    unsigned char *known = c->known + (size_t)f * S;
    if (features) {
      int64_t n = 0;
      double y = 0.0;
      for (int g = 0; g < F; g++)
        if (g != f) n += n_fit[g], y += y_sum[g];
      /* The ridge pulls theta towards the mean target, not 0: a feature the other folds never
         saw (an asset level no fitted step reached) then predicts the mean. */
      double prior = n > 0 ? y / (double)n : 0.0;
      double *G = c->work;
      memset(G, 0, sizeof(double) * (size_t)K * K);
      for (int g = 0; g < F; g++) {
        if (g == f) continue;
        const double *Gg = c->gram + (size_t)g * K * K;
        for (size_t i = 0; i < (size_t)K * K; i++) G[i] += Gg[i];
      }
      for (int k = 0; k < K; k++) {
        c->theta[k] = 0.0;
        for (int g = 0; g < F; g++)
          if (g != f) c->theta[k] += c->rhs[(size_t)g * K + k];
        G[(size_t)k * K + k] += ridge * (double)(n > 1 ? n : 1);
        c->theta[k] += ridge * (double)(n > 1 ? n : 1) * prior;
      }
      int err = cholesky_solve(G, c->chol, c->theta, K);
      if (err) return err;
      for (size_t sa = 0; sa < SA; sa++) {
        double v = c->f_known[sa];
        for (int z = 0; z < Z; z++) v += c->f_value[sa * Z + z] * c->theta[c->f_index[sa * Z + z]];
        q[sa] = v;
      }
      memset(known, 1, (size_t)S);
    } else {
      for (int s = 0; s < S; s++) {
        double vs = 0.0, vn = 0.0;
        for (int g = 0; g < F; g++)
          if (g != f) vs += c->v_sum[(size_t)g * S + s], vn += c->v_n[(size_t)g * S + s];
        known[s] = vn > 0.0;
        double mean = vn > 0.0 ? vs / vn : 0.0;
        for (int a = 0; a < A; a++) {
          size_t sa = (size_t)s * A + a;
          double qs = 0.0, qn = 0.0;
          for (int g = 0; g < F; g++)
            if (g != f) qs += c->q_sum[g * SA + sa], qn += c->q_n[g * SA + sa];
          q[sa] = qn > 0.0 ? qs / qn : mean;
        }
      }
    }
    for (int s = 0; s < S; s++) {
      double v = 0.0;
      for (int a = 0; a < A; a++) v += pi->pi[(size_t)s * A + a] * q[(size_t)s * A + a];
      vbar[s] = v;
    }
    if (kernel && !features) {
      fill_from_model(h, kernel, pi, f, 0, q, vbar);
      memset(known, 1, (size_t)S);
    }
  }
  return 0;
}

/* Where fold f's critic tables are: its own, or fold 0's for the model critic, which is the same
   for every fold. */
static size_t critic_fold(int critic, size_t f) { return critic == CBRL_CRITIC_MODEL ? 0 : f; }

static int from_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                      const cbrl_policy *pi, const cbrl_hpgd_opts *o, int critic, int64_t per_stream,
                      double *grad, cbrl_estimate_info *info) {
  const cbrl_problem *p = h->problem;
  struct cbrl__hpgd_critic *c = h->critic;
  int S = h->n_states, A = h->n_actions, F = c->folds, K = c->n_features, Z = c->nnz;
  int features = critic == CBRL_CRITIC_FEATURES;
  double lam = p->lambda, gam = p->gamma, gamL = p->leader_gamma;
  int with_p = (p->flags & CBRL_DEPENDS_P) != 0, with_mu = (p->flags & CBRL_DEPENDS_MU) != 0;
  int baseline = o->baseline != CBRL_BASELINE_OFF;
  double ridge = o->ridge > 0.0 ? o->ridge : 1e-6;
  cbrl_batch *b = &h->batch;
  const cbrl_step *st = b->steps;
  int64_t n = b->n_steps;
  size_t SA = (size_t)S * A, FS = (size_t)F * S;
  memset(c->q_sum, 0, sizeof(double) * F * SA);
  int expected = o->expected_score != 0;
  if (expected) {
    memset(c->b_sum, 0, sizeof(double) * F * SA);
    memset(c->l_sum, 0, sizeof(double) * F * SA);
  }
  memset(c->q_n, 0, sizeof(double) * F * SA);
  double *zero[] = {c->n_v, c->t_s, c->v_sum, c->v_n, c->n_s, c->vstar, c->c_n, c->c_bar, c->c_soft, c->extra};
  for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) memset(zero[i], 0, sizeof(double) * FS);
  if (features) {
    memset(c->gram, 0, sizeof(double) * (size_t)F * K * K);
    memset(c->rhs, 0, sizeof(double) * (size_t)F * K);
    int err = feature_table(h, context, x, m);
    if (err) return err;
  }

  /* Pass 1: discounted returns backwards inside each episode; terminated visits per fold. */
  int64_t n_episodes = cbrl__hpgd_split_episodes(b, h->episode);
  int any_terminated = 0;
  for (int64_t e = 0; e < n_episodes; e++) {
    int64_t i = h->episode[e], end = h->episode[e + 1];
    size_t f = (size_t)(e % F);
    int complete = (st[end - 1].flags & CBRL_STEP_TERMINATED) != 0;
    any_terminated |= complete;
    double gb = 0.0, gs = 0.0;
    for (int64_t j = end - 1; j >= i; j--) {
      gb = st[j].rbar + gamL * gb;
      h->ret_bar[j] = gb;
      h->complete[j] = (unsigned char)complete;
      if (with_p) h->ret_soft[j] = gs = st[j].r - lam * st[j].log_pi + gam * gs;
      if (complete) {
        c->c_n[f * S + st[j].s] += 1.0;
        c->c_bar[f * S + st[j].s] += gb;
        if (with_p) c->c_soft[f * S + st[j].s] += gs;
      }
    }
  }
  /* Pass 2: bootstrap truncated episodes from their own fold's terminated visits; fill the
     fold tables and the critic's data. */
  int cut_fit = (int)ceil(log(1e-3) / log(gamL > 0.0 && gamL < 1.0 ? gamL : 0.5));
  int64_t dropped = 0, n_fit[64] = {0};
  double y_sum[64] = {0};
  for (int64_t e = 0; e < n_episodes; e++) {
    int64_t i = h->episode[e], end = h->episode[e + 1];
    size_t f = (size_t)(e % F);
    int ok = 1, tail_known = h->complete[i];
    if (!h->complete[i] && any_terminated) {
      int32_t s_end = st[end - 1].next;
      ok = s_end >= 0 && c->c_n[f * S + s_end] > 0.0;
      if (ok) {
        double vb = c->c_bar[f * S + s_end] / c->c_n[f * S + s_end];
        double vs = c->c_soft[f * S + s_end] / c->c_n[f * S + s_end];
        double db = gamL, ds = gam;
        for (int64_t j = end - 1; j >= i; j--, db *= gamL, ds *= gam) {
          h->ret_bar[j] += db * vb;
          if (with_p) h->ret_soft[j] += ds * vs;
        }
        tail_known = 1;
      } else {
        dropped += end - i;
      }
    }
    int64_t keep = tail_known ? 0 : (cut_fit < (end - i) / 2 ? cut_fit : (end - i) / 2);
    for (int64_t j = i; j < end; j++) {
      h->usable[j] = (unsigned char)ok;
      c->fit[j] = (unsigned char)(ok && end - j > keep);
      if (!ok) continue;
      size_t s = (size_t)st[j].s, sa = s * A + st[j].a;
      c->n_s[f * S + s] += 1.0;
      if (!c->fit[j]) continue; /* a return missing much of its tail would bias the tables low */
      if (with_p) c->vstar[f * S + s] += h->ret_soft[j], c->n_v[f * S + s] += 1.0;
      n_fit[f]++;
      if (features) {
        const int *idx = c->f_index + sa * Z;
        const double *val = c->f_value + sa * Z;
        double y = h->ret_bar[j] - c->f_known[sa], *G = c->gram + f * K * K, *r = c->rhs + f * K;
        y_sum[f] += y;
        for (int z = 0; z < Z; z++) {
          if (val[z] == 0.0) continue;
          r[idx[z]] += val[z] * y;
          for (int u = 0; u < Z; u++) G[(size_t)idx[z] * K + idx[u]] += val[z] * val[u];
        }
      } else if (critic == CBRL_CRITIC_TABULAR) {
        c->q_sum[f * SA + sa] += h->ret_bar[j];
        c->q_n[f * SA + sa] += 1.0;
        c->v_sum[f * S + s] += h->ret_bar[j];
        c->v_n[f * S + s] += 1.0;
      }
    }
  }
  /* The baseline of fold f's score terms is V*_hat(s) from the other folds: independent of the
     fold's transitions, so E[score * baseline] = 0 exactly (docs/MODEL.md 4.1c). */
  for (int f = 0; f < F; f++)
    for (int s = 0; s < S; s++) {
      double sum = 0.0, cnt = 0.0;
      for (int g = 0; g < F; g++)
        if (g != f) sum += c->vstar[(size_t)g * S + s], cnt += c->n_v[(size_t)g * S + s];
      c->vbase[(size_t)f * S + s] = cnt > 0.0 ? sum / cnt : NAN; /* NaN: the other folds never visited s */
    }
  for (size_t i = 0; i < FS; i++)
    if (c->n_v[i] > 0.0) c->vstar[i] /= c->n_v[i];
  /* The tabular critic's fill-in takes the kernel the batch was drawn from: the model's, or a
     simulator's on the model's states (the paper-code Four-Rooms); a simulator with states of
     its own has no such kernel, and keeps the data-only rule (docs/MODEL.md 4.1c). */
  cbrl_mdp view;
  const cbrl_mdp *kernel = sim ? NULL : m;
  if (sim && sim->ops->kernel) cbrl_simulator_tabular(sim, m, &view), kernel = &view;
  int err = fit_critics(h, context, kernel, pi, critic, ridge, n_fit, y_sum);
  if (err) return err;

  /* Per step: the direct term, c_j = w_j Abar_j / lam from the other folds' critic, the leader's
     grad P and grad mu terms with that critic's Vbar (docs/MODEL.md 3). These per-episode sums
     are averaged over the episodes that start early enough in their stream to finish whatever
     happens (start + max_steps <= steps per stream): how many there are is a stopping time, so
     by Wald's identity the mean is not tilted towards short episodes, as a mean over the
     episodes that happened to finish is (about one episode's difference per stream; the batch
     estimator has it). Other episodes still feed the critic and the vector-return tables. */
  int64_t M = o->max_steps > 0 && o->max_steps <= per_stream ? o->max_steps : 0, n_counted = 0;
  for (int64_t e = 0; e < n_episodes; e++) {
    int64_t i = h->episode[e], end = h->episode[e + 1];
    c->counted[e] = M ? i % per_stream + M <= per_stream
                      : (st[end - 1].flags & (CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED)) != 0;
    n_counted += c->counted[e];
  }
  double inv_fin = 1.0 / (double)(n_counted > 0 ? n_counted : 1);
  for (int64_t e = 0; e < n_episodes; e++) {
    int64_t i = h->episode[e], end = h->episode[e + 1];
    size_t f = (size_t)(e % F);
    for (int64_t j = i; j < end; j++) c->beta[j] = 0.0;
    if (!c->counted[e]) continue;
    size_t cf = critic_fold(critic, f);
    const double *q = c->q + cf * SA, *vbar = c->vbar + cf * S;
    const unsigned char *known = c->known + cf * S;
    for (int64_t j = i; j < end; j++) {
      const cbrl_step *sj = &st[j];
      size_t sa = (size_t)sj->s * A + sj->a;
      double disc = h->pow_leader[sj->t] * inv_fin;
      h->w_rbar[sa] += disc;
      if (h->usable[j] && known[sj->s]) {
        c->beta[j] = disc * (q[sa] - vbar[sj->s]) / lam;
      }
      if (with_p && expected && sj->entry >= 0) c->l_sum[f * SA + sa] += gamL * disc;
      else if (with_p && sj->next >= 0 && known[sj->next]) cbrl__hpgd_add_log_p(h, sim, j, gamL * disc * vbar[sj->next]);
      if (with_mu && sj->t == 0 && known[sj->s]) h->w_log_mu[sj->s] += inv_fin * vbar[sj->s];
    }
  }
  /* The baseline of step j is the mean vector return of the fold's visits of s_j in *other*
     episodes (m_j of them): a later visit of the same episode would share j's future. Its
     coefficient on R^c_k is -sum_{j at s, other episodes} c_j / m_j = -(T_s - T_{s,e(k)}),
     u_j = c_j / m_j. m_j counts other episodes only, so it does not depend on a_j, and since
     the critic's Abar is centred under pi the baseline term has mean zero. */
  for (int sweep = 0; sweep < 2; sweep++)
    for (int64_t e = 0; e < n_episodes; e++) {
      int64_t i = h->episode[e], end = h->episode[e + 1];
      size_t f = (size_t)(e % F);
      if (!h->usable[i]) continue;
      for (int64_t j = i; j < end; j++) c->n_e[st[j].s] += 1.0;
      for (int64_t j = i; j < end; j++) {
        size_t s = (size_t)st[j].s;
        if (sweep == 0) {
          double m_j = c->n_s[f * S + s] - c->n_e[s];
          c->u[j] = m_j > 0.0 ? c->beta[j] / m_j : 0.0;
          c->t_s[f * S + s] += c->u[j];
        } else {
          c->t_e[s] += c->u[j];
        }
      }
      if (sweep == 1)
        for (int64_t j = i; j < end; j++) c->beta[j] -= c->t_s[f * S + st[j].s] - c->t_e[st[j].s];
      for (int64_t j = i; j < end; j++) c->n_e[st[j].s] = c->t_e[st[j].s] = 0.0;
    }
  /* Forward accumulation, truncated episodes first (their tails become weight on their fold's
     terminated visits of s_end), as the batch estimator. */
  for (int sweep = 0; sweep < 2; sweep++) {
    for (int64_t e = 0; e < n_episodes; e++) {
      int64_t i = h->episode[e], end = h->episode[e + 1];
      size_t f = (size_t)(e % F);
      const double *vstar = c->vstar + f * S, *extra = c->extra + f * S, *vbase = c->vbase + f * S;
      const double *ns = c->n_v + f * S;
      int truncated = !h->complete[i];
      if (truncated != (sweep == 0) || !h->usable[i]) continue;
      double B = 0.0;
      for (int64_t j = i; j < end; j++) {
        const cbrl_step *sj = &st[j];
        size_t sa = (size_t)sj->s * A + sj->a;
        B = gam * B + c->beta[j] + (truncated ? 0.0 : extra[sj->s]);
        h->w_r[sa] += B;
        if (with_p && expected && sj->entry >= 0) c->b_sum[f * SA + sa] += B * gam;
        else if (with_p && sj->next >= 0 && ns[sj->next] > 0.0)
          cbrl__hpgd_add_log_p(h, sim, j, B * gam * (vstar[sj->next] - (baseline && !isnan(vbase[sj->s]) ? vbase[sj->s] : 0.0)));
      }
      if (truncated && any_terminated) {
        int32_t s_end = st[end - 1].next;
        c->extra[f * S + s_end] += gam * B / c->c_n[f * S + s_end];
      }
    }
  }
  /* expected_score: the weights of each pair go on its whole row, P(s'|s,a) V(s') for every s'
     (the vjp then forms sum_s' grad P V), with the fold's V* (the follower's) and the critic's
     Vbar (the leader's); a next state the fold never visited counts with the value of s. */
  if (with_p && expected)
    for (int f = 0; f < F; f++)
      for (size_t sa = 0; sa < SA; sa++) {
        double wb = c->b_sum[(size_t)f * SA + sa], wl = c->l_sum[(size_t)f * SA + sa];
        if (wb == 0.0 && wl == 0.0) continue;
        size_t s = sa / (size_t)A;
        const double *vstar = c->vstar + (size_t)f * S, *ns = c->n_v + (size_t)f * S;
        const double *vbar = c->vbar + critic_fold(critic, f) * S;
        const unsigned char *known = c->known + critic_fold(critic, f) * S;
        for (int64_t q = m->row[sa]; q < m->row[sa + 1]; q++) {
          int32_t t = m->next[q];
          const double *vb = c->vbase + (size_t)f * S;
          double vs = ns[t] > 0.0 ? vstar[t] : !isnan(vb[t]) ? vb[t] : vstar[s];
          double vl = known[t] ? vbar[t] : known[s] ? vbar[s] : 0.0;
          h->w_log_p[q] += m->prob[q] * (wb * vs + wl * vl);
        }
      }
  if (info) {
    info->env_steps = n;
    info->episodes = b->n_episodes;
    info->finished = b->n_finished;
    info->dropped = dropped;
  }
  if (with_p && b->n_steps < m->n_transitions && !expected) h->log_p_steps = b;
  return cbrl__hpgd_flush(h, context, x, m, grad);
}

int cbrl__hpgd_critic(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                      const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng, double *grad,
                      cbrl_estimate_info *info) {
  const cbrl_problem *p = h->problem;
  int folds = o->folds ? o->folds : 2;
  if (o->streams <= 0 || o->steps < o->streams || folds < 2 || folds > 64 || o->ridge < 0.0) return CBRL_EINVAL;
  if (o->steps > h->max_batch_steps) return CBRL_ERANGE;
  int has_features = p->ops->features && p->n_features > 0 && p->feature_nnz > 0;
  if (o->critic < CBRL_CRITIC_AUTO || o->critic > CBRL_CRITIC_MODEL) return CBRL_EINVAL;
  if (o->critic == CBRL_CRITIC_FEATURES && !has_features) return CBRL_ENOTSUP;
  int critic = o->critic == CBRL_CRITIC_AUTO ? (has_features ? CBRL_CRITIC_FEATURES : CBRL_CRITIC_TABULAR) : o->critic;
  if (critic == CBRL_CRITIC_MODEL && sim && !sim->ops->kernel) return CBRL_ENOTSUP; /* states of its own */
  int err = critic_alloc(h, folds, critic == CBRL_CRITIC_FEATURES);
  if (err) return err;
  int64_t per_stream = o->steps / o->streams;
  err = sim ? cbrl_simulator_batch(sim, pi, o->streams, per_stream, o->max_steps, o->sim_flags, rng, &h->batch)
            : cbrl_sim_batch(m, pi, o->streams, per_stream, o->max_steps, o->sim_flags, rng, &h->batch);
  return err ? err : from_batch(h, context, x, m, sim, pi, o, critic, per_stream, grad, info);
}

static const char *const critic_names[] = {"auto", "tabular", "features", "model"};

const char *cbrl_hpgd_critic_name(cbrl_hpgd_critic c) {
  return c >= 0 && c <= CBRL_CRITIC_MODEL ? critic_names[c] : "unknown";
}

int cbrl_hpgd_critic_parse(const char *name, cbrl_hpgd_critic *out) {
  for (int c = 0; c <= CBRL_CRITIC_MODEL; c++)
    if (name && !strcmp(name, critic_names[c])) {
      *out = (cbrl_hpgd_critic)c;
      return 0;
    }
  return CBRL_EINVAL;
}
