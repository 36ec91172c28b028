/* The HPGD workspace: allocation, the one estimate entry point, and the single vjp that turns a
   cotangent into a d-vector. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "hpgd_private.h"
#include "sampler.h"

void cbrl_hpgd_free(cbrl_hpgd *h) {
  if (!h) return;
  cbrl_batch_close(&h->batch);
  double **d[] = {&h->w_r, &h->w_rbar, &h->w_log_p, &h->w_log_mu, &h->g_score, &h->ret_bar, &h->ret_soft,
                  &h->n_s, &h->n_sa, &h->vbar, &h->qbar, &h->vstar, &h->c_n,
                  &h->c_bar, &h->c_soft, &h->weight_sa, &h->weight_s, &h->extra_s,
                  &h->pow_leader, &h->pow_follower, &h->entry_count, &h->g_path};
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) free(*d[i]);
  free(h->usable);
  free(h->complete);
  free(h->episode);
  free(h->touched);
  cbrl__hpgd_critic_free(h->critic);
  free(h->score);
  free(h);
}

/* Per batch step: the step, three returns, two flags, an episode index, two powers and the
   simulator's own state at both ends; per state-action five tables, per state eleven, per
   transition the cotangent, its count and the touched list; and the batch's alias tables
   (src/sampler.h: 16 B per transition, 20 per state-action, 28 per state, and for a model
   with fewer transitions than the batch has steps, the kept kernels' tables and copies, 32 B
   per transition and 8 per state-action each). */
double cbrl_hpgd_memory_estimate(const cbrl_problem_shape *sh, int64_t max_batch_steps) {
  if (!sh) return 0.0;
  double sa = sh->n_states * sh->n_actions, nnz = sh->n_transitions > 1 ? sh->n_transitions : 1;
  double per_step = (double)sizeof(cbrl_step) + 2 * 8 + 2 + 8 + 2 * 8 + 2 * 8;
  double kept = nnz + sa <= (double)max_batch_steps ? CBRL__KEPT_KERNELS * (32.0 * nnz + 8.0 * sa) : 0.0;
  return per_step * (double)max_batch_steps + 60.0 * sa + 116.0 * sh->n_states + 40.0 * nnz + 16.0 * sh->dim + kept;
}

int cbrl_hpgd_create(cbrl_hpgd **out, const cbrl_problem *p, int64_t max_batch_steps) {
  if (!out || !p || max_batch_steps <= 0) return CBRL_EINVAL;
  int err = cbrl_problem_validate(p);
  if (err) return err;
  cbrl_problem_shape shape;
  cbrl_problem_shape_of(p, &shape);
  if (cbrl_hpgd_memory_estimate(&shape, max_batch_steps) > cbrl_memory_limit()) return CBRL_ETOOBIG;
  cbrl_hpgd *h = calloc(1, sizeof *h);
  if (!h) return CBRL_ENOMEM;
  h->problem = p;
  h->n_states = p->n_states;
  h->n_actions = p->n_actions;
  h->max_batch_steps = max_batch_steps;
  for (int k = 0; k < p->n_contexts; k++) {
    int64_t nnz = p->ops->n_transitions(p, k);
    if (nnz > h->max_transitions) h->max_transitions = nnz;
  }
  size_t S = (size_t)p->n_states, SA = S * p->n_actions, N = (size_t)max_batch_steps;
  size_t NNZ = h->max_transitions ? (size_t)h->max_transitions : 1;
  h->w_r = calloc(SA, sizeof(double));
  h->w_rbar = calloc(SA, sizeof(double));
  h->w_log_p = calloc(NNZ, sizeof(double));
  h->w_log_mu = calloc(S, sizeof(double));
  h->g_score = calloc((size_t)p->dim, sizeof(double));
  h->ret_bar = malloc(N * sizeof(double));
  h->ret_soft = malloc(N * sizeof(double));
  h->usable = malloc(N);
  h->complete = malloc(N);
  h->episode = malloc((N + 1) * sizeof(int64_t));
  h->n_s = calloc(S, sizeof(double));
  h->n_sa = calloc(SA, sizeof(double));
  h->vbar = calloc(S, sizeof(double));
  h->qbar = calloc(SA, sizeof(double));
  h->vstar = calloc(S, sizeof(double));
  h->c_n = calloc(S, sizeof(double));
  h->c_bar = calloc(S, sizeof(double));
  h->c_soft = calloc(S, sizeof(double));
  h->weight_sa = calloc(SA, sizeof(double));
  h->weight_s = calloc(S, sizeof(double));
  h->extra_s = calloc(S, sizeof(double));
  h->pow_leader = malloc((N + 2) * sizeof(double));
  h->pow_follower = malloc((N + 2) * sizeof(double));
  h->entry_count = calloc(NNZ, sizeof(double));
  h->touched = malloc(NNZ * sizeof(int64_t));
  h->g_path = calloc((size_t)p->dim, sizeof(double));
  if (!h->entry_count || !h->touched || !h->g_path ||
      !h->w_r || !h->w_rbar || !h->w_log_p || !h->w_log_mu || !h->g_score || !h->ret_bar || !h->ret_soft ||
      !h->usable || !h->complete || !h->episode || !h->n_s || !h->n_sa || !h->vbar || !h->qbar ||
      !h->vstar || !h->c_n || !h->c_bar || !h->c_soft || !h->weight_sa || !h->weight_s ||
      !h->extra_s || !h->pow_leader || !h->pow_follower ||
      (err = cbrl_batch_init(&h->batch, max_batch_steps))) {
    cbrl_hpgd_free(h);
    return err ? err : CBRL_ENOMEM;
  }
  h->pow_leader[0] = h->pow_follower[0] = 1.0;
  for (size_t i = 1; i < N + 2; i++) {
    h->pow_leader[i] = h->pow_leader[i - 1] * p->leader_gamma;
    h->pow_follower[i] = h->pow_follower[i - 1] * p->gamma;
  }
  *out = h;
  return 0;
}

void cbrl_hpgd_opts_default(cbrl_hpgd_opts *o) {
  memset(o, 0, sizeof *o);
  o->kind = CBRL_HPGD_BATCH;
  o->steps = 10000;
  o->streams = 5;
  o->max_steps = 200;
}

int cbrl_hpgd_estimate(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, cbrl_simulator *sim,
                       const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng, double *grad,
                       cbrl_estimate_info *info) {
  if (!h || !x || !m || !pi || !o || !rng || !grad || context < 0 || context >= h->problem->n_contexts)
    return CBRL_EINVAL;
  if (o->kind != CBRL_HPGD_BATCH && o->kind != CBRL_HPGD_UNBIASED && o->kind != CBRL_HPGD_CRITIC) return CBRL_EINVAL;
  int err = sim ? cbrl_simulator_prepare(sim, context, x, m) : 0;
  if (err) return err;
  switch (o->kind) {
    case CBRL_HPGD_BATCH: return cbrl__hpgd_batch(h, context, x, m, sim, pi, o, rng, grad, info);
    case CBRL_HPGD_CRITIC: return cbrl__hpgd_critic(h, context, x, m, sim, pi, o, rng, grad, info);
    default: return cbrl__hpgd_unbiased(h, context, x, m, sim, pi, o, rng, grad, info);
  }
}


int cbrl__hpgd_flush(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, double *grad) {
  const cbrl_problem *p = h->problem;
  size_t SA = (size_t)h->n_states * h->n_actions;
  memset(grad, 0, sizeof(double) * (size_t)p->dim);
  cbrl_cotangent ct = {h->w_r, h->w_rbar, (p->flags & CBRL_DEPENDS_P) ? h->w_log_p : NULL,
                       (p->flags & CBRL_DEPENDS_MU) ? h->w_log_mu : NULL};
  int err = cbrl_mdp_vjp(m, p, context, x, &ct, grad);
  memset(h->w_r, 0, SA * sizeof(double));
  memset(h->w_rbar, 0, SA * sizeof(double));
  if (h->log_p_steps) /* a 10,000-step batch on the tax grid's 2 M entries: no dense memset */
    for (int64_t i = 0; i < h->log_p_steps->n_steps; i++) {
      if (h->log_p_steps->steps[i].entry >= 0) h->w_log_p[h->log_p_steps->steps[i].entry] = 0.0;
    }
  else
    memset(h->w_log_p, 0, (size_t)(m->n_transitions ? m->n_transitions : 1) * sizeof(double));
  h->log_p_steps = NULL;
  memset(h->w_log_mu, 0, (size_t)h->n_states * sizeof(double));
  for (int j = 0; j < p->dim; j++) grad[j] += h->g_score[j];
  memset(h->g_score, 0, (size_t)p->dim * sizeof(double));
  if (err) return err;
  for (int j = 0; j < p->dim; j++)
    if (!isfinite(grad[j])) return CBRL_ENONFINITE;
  return 0;
}
