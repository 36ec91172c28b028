/* RT-Q (docs/MODEL.md 4.4; after Hu et al. 2023): a randomly truncated multilevel estimator over soft
   Q-learning. E[g] = E[g(pi_0)] + sum_k p_k E[g(pi_k) - g(pi_{k-1})] / p_k = E[g(pi_K)], at an
   expected follower cost of sum_k p_k 2^k iterations, O(K) for p_k ~ 2^-k, instead of 2^K. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "cbrl/rtq.h"
#include "cbrl/hpgd.h"

void cbrl_rtq_opts_default(cbrl_rtq_opts *o) {
  memset(o, 0, sizeof *o);
  o->levels = 6;
  o->level_decay = 1.0;
  o->schedule = CBRL_SCHEDULE_RESCALED_LINEAR;
  cbrl_hpgd_opts_default(&o->hpgd);
  o->hpgd.samples = 16;
  o->hpgd.sim_flags = CBRL_SIM_COUPLED; /* common random numbers need coupled batches */
}

struct cbrl_rtq {
  const cbrl_problem *problem;
  cbrl_rtq_opts opts;
  cbrl_hpgd *hpgd;
  double *q, *v;              /* soft Q-learning */
  double *pi[3], *log_pi[3];  /* pi_0, pi_{k-1}, pi_k */
  double *g0, *g1;            /* dim */
  double *p;                  /* levels + 1: p_k */
};

void cbrl_rtq_free(cbrl_rtq *w) {
  if (!w) return;
  cbrl_hpgd_free(w->hpgd);
  free(w->q);
  free(w->v);
  for (int i = 0; i < 3; i++) free(w->pi[i]), free(w->log_pi[i]);
  free(w->g0);
  free(w->g1);
  free(w->p);
  free(w);
}

int cbrl_rtq_create(cbrl_rtq **out, const cbrl_problem *p, const cbrl_rtq_opts *o) {
  int unbiased = o && o->hpgd.kind == CBRL_HPGD_UNBIASED;
  if (!out || !p || !o || o->levels < 1 || o->levels > 40 || !(o->level_decay > 0.0) ||
      (unbiased && o->hpgd.samples < 1 && o->hpgd.steps < 1))
    return CBRL_EINVAL;
  cbrl_rtq *w = calloc(1, sizeof *w);
  if (!w) return CBRL_ENOMEM;
  w->problem = p;
  w->opts = *o;
  size_t S = (size_t)p->n_states, SA = S * p->n_actions, d = (size_t)p->dim;
  int err = cbrl_hpgd_create(&w->hpgd, p, unbiased ? 1 : o->hpgd.steps);
  w->q = malloc(SA * sizeof(double));
  w->v = malloc(S * sizeof(double));
  for (int i = 0; i < 3; i++) w->pi[i] = malloc(SA * sizeof(double)), w->log_pi[i] = malloc(SA * sizeof(double));
  w->g0 = malloc(d * sizeof(double));
  w->g1 = malloc(d * sizeof(double));
  w->p = malloc(sizeof(double) * (size_t)(o->levels + 1));
  int ok = !err && w->q && w->v && w->g0 && w->g1 && w->p;
  for (int i = 0; i < 3; i++) ok = ok && w->pi[i] && w->log_pi[i];
  if (!ok) {
    cbrl_rtq_free(w);
    return err ? err : CBRL_ENOMEM;
  }
  double z = 0.0;
  for (int k = 1; k <= o->levels; k++) z += (w->p[k] = pow(2.0, -o->level_decay * k));
  for (int k = 1; k <= o->levels; k++) w->p[k] /= z;
  w->p[0] = 0.0;
  *out = w;
  return 0;
}

static void snapshot(cbrl_rtq *w, int slot) {
  const cbrl_problem *p = w->problem;
  int S = p->n_states, A = p->n_actions;
  for (int s = 0; s < S; s++) {
    size_t s0 = (size_t)s * A;
    cbrl_soft_policy_row(w->q + s0, A, p->lambda, w->pi[slot] + s0, w->log_pi[slot] + s0);
  }
}

/* One inner HPGD estimate of policy slot from a copy of the given stream. */
static int inner(cbrl_rtq *w, int context, const double *x, const cbrl_mdp *m, cbrl_simulator *sim, int slot,
                 cbrl_rng stream, double *grad, int64_t *steps) {
  const cbrl_problem *p = w->problem;
  cbrl_policy pol = {p->n_states, p->n_actions, w->pi[slot], w->log_pi[slot]};
  cbrl_estimate_info info = {0};
  int err = cbrl_hpgd_estimate(w->hpgd, context, x, m, sim, &pol, &w->opts.hpgd, &stream, grad, &info);
  *steps += info.env_steps;
  return err;
}

/* Soft Q-learning iterations k0 .. k0+n-1 in chunks of 1024, checking the cancellation flag
   between them; iterations are sequential in the stream, so the chunks change no bit. */
static int iterate(cbrl_rtq *w, const cbrl_mdp *m, int64_t k0, int64_t n, cbrl_rng *rng) {
  const cbrl_problem *p = w->problem;
  for (int64_t done = 0; done < n; done += 1024) {
    if (w->opts.cancel && *w->opts.cancel) return CBRL_ECANCELED;
    cbrl_soft_q_iterate(m, p->gamma, p->lambda, w->opts.schedule, k0 + done, n - done < 1024 ? n - done : 1024, rng,
                        w->q, w->v);
  }
  return 0;
}

/* Trains from Q = 0 in m (the generative model: the model's, or a simulator's kernel),
   snapshotting pi_0 (1 iteration), pi_{k-1} (2^(k-1)) and pi_k (2^k). */
static int train(cbrl_rtq *w, const cbrl_mdp *m, int k, cbrl_rng *rng) {
  const cbrl_problem *p = w->problem;
  memset(w->q, 0, sizeof(double) * (size_t)p->n_states * p->n_actions);
  int err = iterate(w, m, 0, 1, rng);
  snapshot(w, 0);
  int64_t done = 1, half = k >= 1 ? (int64_t)1 << (k - 1) : 1;
  if (!err) err = iterate(w, m, done, half - done, rng);
  snapshot(w, 1);
  if (!err) err = iterate(w, m, half, ((int64_t)1 << k) - half, rng);
  snapshot(w, 2);
  return err;
}

static int draw_level(cbrl_rtq *w, cbrl_rng *rng) {
  double u = cbrl_rng_uniform(rng);
  for (int k = 1; k < w->opts.levels; k++) {
    if (u < w->p[k]) return k;
    u -= w->p[k];
  }
  return w->opts.levels;
}

/* The MDP soft Q-learning samples: the simulator's kernel where it has one, prepared at x. */
static int generative_model(const cbrl_mdp *m, cbrl_simulator *sim, int context, const double *x, cbrl_mdp *out) {
  int err = sim ? cbrl_simulator_prepare(sim, context, x, m) : 0;
  if (!err) cbrl_simulator_tabular(sim, m, out);
  return err;
}

int cbrl_rtq_estimate(cbrl_rtq *w, int context, const double *x, const cbrl_mdp *m, cbrl_simulator *sim,
                      cbrl_rng *rng, int level, int independent, double *grad, cbrl_rtq_info *info) {
  if (!w || !x || !m || !rng || !grad || level > w->opts.levels) return CBRL_EINVAL;
  cbrl_mdp env;
  int err = generative_model(m, sim, context, x, &env);
  if (err) return err;
  const cbrl_problem *p = w->problem;
  int k = level >= 1 ? level : draw_level(w, rng), d = p->dim;
  cbrl_rng learn, first, common, other;
  cbrl_rng_seed(&learn, cbrl_rng_next(rng), 1);
  cbrl_rng_seed(&first, cbrl_rng_next(rng), 2);
  cbrl_rng_seed(&common, cbrl_rng_next(rng), 3);
  cbrl_rng_seed(&other, cbrl_rng_next(rng), 4);
  if ((err = train(w, &env, k, &learn))) return err;
  int64_t steps = 0;
  err = inner(w, context, x, m, sim, 0, first, w->g0, &steps);
  /* Common random numbers: g(pi_k) and g(pi_{k-1}) replay the same stream. */
  if (!err) err = inner(w, context, x, m, sim, 2, common, w->g1, &steps);
  if (!err) err = inner(w, context, x, m, sim, 1, independent ? other : common, grad, &steps);
  if (err) return err;
  double pk = w->p[k];
  for (int j = 0; j < d; j++) grad[j] = w->g0[j] + (w->g1[j] - grad[j]) / pk;
  if (info) {
    info->level = k;
    info->p_level = pk;
    info->follower_samples = ((int64_t)1 << k) * p->n_states * p->n_actions;
    info->env_steps = steps;
  }
  return 0;
}

int cbrl_rtq_plain(cbrl_rtq *w, int context, const double *x, const cbrl_mdp *m, cbrl_simulator *sim,
                   cbrl_rng *rng, int level, double *grad, cbrl_rtq_info *info) {
  if (!w || !x || !m || !rng || !grad || level < 0 || level > 40) return CBRL_EINVAL;
  cbrl_mdp env;
  int err = generative_model(m, sim, context, x, &env);
  if (err) return err;
  const cbrl_problem *p = w->problem;
  cbrl_rng learn, est;
  cbrl_rng_seed(&learn, cbrl_rng_next(rng), 1);
  cbrl_rng_seed(&est, cbrl_rng_next(rng), 3);
  memset(w->q, 0, sizeof(double) * (size_t)p->n_states * p->n_actions);
  if ((err = iterate(w, &env, 0, (int64_t)1 << level, &learn))) return err;
  snapshot(w, 2);
  int64_t steps = 0;
  err = inner(w, context, x, m, sim, 2, est, grad, &steps);
  if (info) {
    info->level = level;
    info->p_level = 1.0;
    info->follower_samples = ((int64_t)1 << level) * p->n_states * p->n_actions;
    info->env_steps = steps;
  }
  return err;
}
