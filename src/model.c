#include "cbrl/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

int cbrl_problem_create(cbrl_problem **out, const cbrl_problem_ops *ops, void *impl,
                        int n_states, int n_actions, int dim, int n_contexts) {
  if (!out || !ops || n_states <= 0 || n_actions <= 0 || dim <= 0 || n_contexts <= 0)
    return CBRL_EINVAL;
  cbrl_problem *p = calloc(1, sizeof *p);
  if (!p) return CBRL_ENOMEM;
  p->context_weight = malloc(sizeof(double) * (size_t)n_contexts);
  if (!p->context_weight) {
    free(p);
    return CBRL_ENOMEM;
  }
  for (int k = 0; k < n_contexts; k++) p->context_weight[k] = 1.0 / n_contexts;
  p->ops = ops;
  p->impl = impl;
  p->n_states = n_states;
  p->n_actions = n_actions;
  p->dim = dim;
  p->n_contexts = n_contexts;
  p->gamma = 0.9;
  p->leader_gamma = 0.9;
  p->lambda = 1.0;
  p->flags = CBRL_DEPENDS_ALL;
  *out = p;
  return 0;
}

void cbrl_problem_free(cbrl_problem *p) {
  if (!p) return;
  if (p->ops && p->ops->destroy) p->ops->destroy(p);
  free(p->context_weight);
  free(p);
}

int cbrl_problem_validate(const cbrl_problem *p) {
  if (!p || !p->ops || p->n_states <= 0 || p->n_actions <= 0 || p->dim <= 0 || p->n_contexts <= 0)
    return CBRL_EINVAL;
  if (!(p->gamma >= 0.0 && p->gamma < 1.0)) return CBRL_ERANGE;
  if (!(p->leader_gamma >= 0.0 && p->leader_gamma < 1.0)) return CBRL_ERANGE;
  if (!(p->lambda > 0.0 && isfinite(p->lambda))) return CBRL_ERANGE;
  double sum = 0.0;
  for (int k = 0; k < p->n_contexts; k++) {
    if (!(p->context_weight[k] >= 0.0)) return CBRL_ERANGE;
    sum += p->context_weight[k];
  }
  if (fabs(sum - 1.0) > 1e-9) return CBRL_ERANGE;
  return 0;
}

void cbrl_mdp_close(cbrl_mdp *m) {
  if (!m) return;
  free(m->terminal);
  free(m->row);
  free(m->next);
  free(m->prob);
  free(m->r);
  free(m->rbar);
  free(m->mu);
  free(m->scratch);
  memset(m, 0, sizeof *m);
}

int cbrl_mdp_init(cbrl_mdp *m, const cbrl_problem *p, int context) {
  if (!m || !p || context < 0 || context >= p->n_contexts) return CBRL_EINVAL;
  memset(m, 0, sizeof *m);
  int64_t nnz = p->ops->n_transitions(p, context);
  if (nnz < 0) return CBRL_EINVAL;
  size_t sa = (size_t)p->n_states * (size_t)p->n_actions;
  m->n_states = p->n_states;
  m->n_actions = p->n_actions;
  m->n_transitions = nnz;
  m->terminal = calloc((size_t)p->n_states, 1);
  m->row = calloc(sa + 1, sizeof(int64_t));
  m->next = calloc(nnz ? (size_t)nnz : 1, sizeof(int32_t));
  m->prob = calloc(nnz ? (size_t)nnz : 1, sizeof(double));
  m->r = calloc(sa, sizeof(double));
  m->rbar = calloc(sa, sizeof(double));
  m->mu = calloc((size_t)p->n_states, sizeof(double));
  if (p->scratch_size) m->scratch = malloc(p->scratch_size);
  if (!m->terminal || !m->row || !m->next || !m->prob || !m->r || !m->rbar || !m->mu ||
      (p->scratch_size && !m->scratch)) {
    cbrl_mdp_close(m);
    return CBRL_ENOMEM;
  }
  int err = p->ops->structure(p, context, m);
  if (err) {
    cbrl_mdp_close(m);
    return err;
  }
  /* The pattern must be a valid CSR: monotone rows ending at nnz, in-range states. */
  if (m->row[0] != 0 || m->row[sa] != nnz) goto bad;
  for (size_t i = 0; i < sa; i++)
    if (m->row[i + 1] < m->row[i]) goto bad;
  for (int64_t k = 0; k < nnz; k++)
    if (m->next[k] < 0 || m->next[k] >= p->n_states) goto bad;
  return 0;
bad:
  cbrl_mdp_close(m);
  return CBRL_EINVAL;
}

int cbrl_mdp_evaluate(cbrl_mdp *m, const cbrl_problem *p, int context, const double *x) {
  if (!m || !p || !x || !m->row) return CBRL_EINVAL;
  int err = p->ops->evaluate(p, context, x, m, m->scratch);
  m->version++;
  if (err) return err;
  int S = m->n_states, A = m->n_actions;
  double mu_sum = 0.0;
  for (int s = 0; s < S; s++) {
    if (!isfinite(m->mu[s]) || m->mu[s] < 0.0) return CBRL_ENONFINITE;
    mu_sum += m->mu[s];
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      if (!isfinite(m->r[sa]) || !isfinite(m->rbar[sa])) return CBRL_ENONFINITE;
      if (m->terminal[s] || (p->flags & CBRL_ROWS_CHECKED)) continue;
      double psum = 0.0;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) {
        if (!isfinite(m->prob[k]) || m->prob[k] < 0.0) return CBRL_ENONFINITE;
        psum += m->prob[k];
      }
      if (fabs(psum - 1.0) > 1e-9) return CBRL_EINVAL;
    }
  }
  if (fabs(mu_sum - 1.0) > 1e-9) return CBRL_EINVAL;
  return 0;
}

/* Two rows at a time: each row's sum is one serial chain of adds (bitwise the one-row loop's),
   and two independent chains hide half the add latency that bounds a long row (the tax grid's
   150-entry rows). */
void cbrl_mdp_backup(const cbrl_mdp *m, double gamma, const double *reward, const double *v,
                     double *q) {
  int S = m->n_states, A = m->n_actions;
  const double *prob = m->prob;
  const int32_t *next = m->next;
  for (int s = 0; s < S; s++) {
    size_t sa = (size_t)s * A;
    if (m->terminal[s]) {
      for (int a = 0; a < A; a++) q[sa + a] = reward[sa + a] + gamma * 0.0;
      continue;
    }
    int a = 0;
    for (; a + 1 < A; a += 2, sa += 2) {
      int64_t k0 = m->row[sa], k1 = m->row[sa + 1], n0 = k1 - k0, n1 = m->row[sa + 2] - k1, n = n0 < n1 ? n0 : n1;
      double e0 = 0.0, e1 = 0.0;
      for (int64_t i = 0; i < n; i++) {
        e0 += prob[k0 + i] * v[next[k0 + i]];
        e1 += prob[k1 + i] * v[next[k1 + i]];
      }
      for (int64_t i = n; i < n0; i++) e0 += prob[k0 + i] * v[next[k0 + i]];
      for (int64_t i = n; i < n1; i++) e1 += prob[k1 + i] * v[next[k1 + i]];
      q[sa] = reward[sa] + gamma * e0;
      q[sa + 1] = reward[sa + 1] + gamma * e1;
    }
    for (; a < A; a++, sa++) {
      double e = 0.0;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) e += prob[k] * v[next[k]];
      q[sa] = reward[sa] + gamma * e;
    }
  }
}

int cbrl_mdp_vjp(const cbrl_mdp *m, const cbrl_problem *p, int context, const double *x,
                 const cbrl_cotangent *ct, double *grad) {
  if (!m || !p || !x || !ct || !grad || context < 0 || context >= p->n_contexts) return CBRL_EINVAL;
  return p->ops->vjp(p, context, x, m, ct, grad, m->scratch);
}

int cbrl_mdp_reward_jacobian(const cbrl_mdp *m, const cbrl_problem *p, int context, const double *x,
                             double *jac_r, double *jac_rbar) {
  if (!m || !p || !x || context < 0 || context >= p->n_contexts) return CBRL_EINVAL;
  if (!p->ops->reward_jacobian) return CBRL_ENOTSUP;
  return p->ops->reward_jacobian(p, context, x, m, jac_r, jac_rbar, m->scratch);
}

int cbrl_problem_draw_context(const cbrl_problem *p, cbrl_rng *rng) {
  if (p->n_contexts == 1) return 0;
  double u = cbrl_rng_uniform(rng);
  for (int k = 0; k < p->n_contexts; k++) {
    if (u < p->context_weight[k]) return k;
    u -= p->context_weight[k];
  }
  return p->n_contexts - 1; /* rounding left u above the weights' sum */
}
