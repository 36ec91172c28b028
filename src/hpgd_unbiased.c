/* HPGD unbiased estimator with geometric horizons, SPEC 4.1a.

   One sample draws T ~ Geometric(1 - gamL) and forms, at (s_T, a_T),
   (1/(1-gamL)) [grad rbar + Abar_hat gA_hat / lam + gamL grad log P(s_{T+1}) Vbar_hat(s_{T+1})],
   plus grad log mu(s_0) Vbar_hat(s_0). Every hatted factor comes from its own continuation, so
   products of estimates are products of independent, unbiased factors.

   gA_hat = G_hat(s,a) - G_hat(s,a') needs returns of c = grad r + gam grad log P V*. Writing
   gam V*(s_{k+1}) as the discounted soft return after step k, the P part of a return becomes
   sum_m gam^m soft_m sum_{k<m} grad log P_k, so one continuation with a geometric horizon
   estimates G without any estimate of V*. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cbrl/errors.h"
#include "hpgd.h"

/* T with P(T = t) = (1 - q) q^t, equivalently P(T >= k) = q^k. */
static int64_t geometric(cbrl_rng *rng, double q) {
  if (q <= 0.0) return 0;
  double u = 1.0 - cbrl_rng_uniform(rng); /* in (0, 1] */
  double t = floor(log(u) / log(q));
  return t > 1e12 ? (int64_t)1e12 : (int64_t)t;
}

/* Undiscounted sum of rbar from (s, a) (a < 0: a fresh action) to a horizon ~ Geometric(1 - gamL)
   or termination: unbiased for Qbar(s, a) or Vbar(s). */
static double leader_return(const cbrl_mdp *m, const cbrl_policy *pi, double gamL, int32_t s,
                            int32_t a, cbrl_rng *rng, int64_t *steps) {
  int64_t horizon = geometric(rng, gamL);
  if (a < 0) a = cbrl_sim_action(pi, s, rng);
  double total = 0.0;
  for (int64_t k = 0;; k++) {
    total += m->rbar[(size_t)s * m->n_actions + a];
    (*steps)++;
    if (k == horizon) break;
    s = cbrl_sim_next(m, s, a, rng, NULL);
    if (s < 0) break;
    a = cbrl_sim_action(pi, s, rng);
  }
  return total;
}

/* Adds coef * G_hat(s, a) to the cotangent, from one continuation with horizon ~ Geometric(1-gam):
   coef on r at every step, and on the entry taken after step k coef times the soft rewards of
   the steps after it. */
static int vector_return(cbrl_hpgd *h, const cbrl_mdp *m, const cbrl_policy *pi, int32_t s, int32_t a,
                         double coef, cbrl_rng *rng, int64_t *steps) {
  const cbrl_problem *p = h->problem;
  int with_p = (p->flags & CBRL_DEPENDS_P) != 0;
  int64_t horizon = geometric(rng, p->gamma), n = 0;
  double soft = 0.0;
  for (int64_t k = 0;; k++) {
    size_t sa = (size_t)s * m->n_actions + a;
    h->w_r[sa] += coef;
    (*steps)++;
    if (k > 0) soft += m->r[sa] - p->lambda * pi->log_pi[sa];
    if (k == horizon) break;
    int64_t entry;
    int32_t next = cbrl_sim_next(m, s, a, rng, &entry);
    if (next < 0) break;
    if (with_p) {
      int err = cbrl__hpgd_reserve(h, n + 1);
      if (err) return err;
      h->path_entry[n] = entry;
      h->path_prefix[n] = soft;
      n++;
    }
    s = next;
    a = cbrl_sim_action(pi, s, rng);
  }
  for (int64_t i = 0; i < n; i++) h->w_log_p[h->path_entry[i]] += coef * (soft - h->path_prefix[i]);
  return 0;
}

/* Adds one sample's cotangent (SPEC 4.1a) without the vjp, counting its environment steps. */
static int accumulate(cbrl_hpgd *h, const cbrl_mdp *sim, const cbrl_policy *pi, cbrl_rng *rng,
                      int64_t *steps_out) {
  const cbrl_problem *p = h->problem;
  double gamL = p->leader_gamma, scale = 1.0 / (1.0 - gamL);
  int A = sim->n_actions, err = 0;
  int64_t steps = 0;
  int32_t s0 = cbrl_sim_initial(sim, rng), s = s0;
  int64_t T = geometric(rng, gamL);
  int alive = 1;
  for (int64_t t = 0; t < T; t++) {
    int32_t a = cbrl_sim_action(pi, s, rng);
    steps++;
    s = cbrl_sim_next(sim, s, a, rng, NULL);
    if (s < 0) {
      alive = 0; /* terminated before T: the time term is 0 */
      break;
    }
  }
  if (alive) {
    int32_t a = cbrl_sim_action(pi, s, rng);
    h->w_rbar[(size_t)s * A + a] += scale;
    double abar = leader_return(sim, pi, gamL, s, a, rng, &steps) -
                  leader_return(sim, pi, gamL, s, -1, rng, &steps);
    double c = scale * abar / p->lambda;
    if (c != 0.0) {
      err = vector_return(h, sim, pi, s, a, c, rng, &steps);
      if (!err) err = vector_return(h, sim, pi, s, cbrl_sim_action(pi, s, rng), -c, rng, &steps);
    }
    if (!err && (p->flags & CBRL_DEPENDS_P) && !sim->terminal[s]) {
      int64_t entry;
      int32_t next = cbrl_sim_next(sim, s, a, rng, &entry);
      steps++;
      h->w_log_p[entry] += scale * gamL * leader_return(sim, pi, gamL, next, -1, rng, &steps);
    }
  }
  if (!err && (p->flags & CBRL_DEPENDS_MU))
    h->w_log_mu[s0] += leader_return(sim, pi, gamL, s0, -1, rng, &steps);
  *steps_out = steps;
  return err;
}

/* Turns the accumulated cotangent of n samples into their mean gradient; on an earlier error
   only clears the cotangent. */
static int finish(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *sim, int err, int64_t n,
                  double *grad) {
  if (err) {
    cbrl__hpgd_flush(h, context, x, sim, grad); /* clear the cotangent */
    return err;
  }
  err = cbrl__hpgd_flush(h, context, x, sim, grad);
  if (!err && n > 1)
    for (int j = 0; j < h->problem->dim; j++) grad[j] /= (double)n;
  return err;
}

int cbrl_hpgd_sample(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *sim,
                     const cbrl_policy *pi, cbrl_rng *rng, double *grad, cbrl_estimate_info *info) {
  if (!h || !x || !sim || !pi || !rng || !grad) return CBRL_EINVAL;
  int64_t steps = 0;
  int err = accumulate(h, sim, pi, rng, &steps);
  if (info) {
    info->env_steps = steps;
    info->episodes = 1;
    info->finished = 1;
    info->dropped = 0;
  }
  return finish(h, context, x, sim, err, 1, grad);
}

/* The vjp is linear in the cotangent, so the mean of n samples needs one vjp, not n: on large
   models (the tax economy's 2 million transitions) that vjp dominates a sample's cost. Draws
   samples until step_budget steps are spent or max_samples are drawn, whichever comes first. */
int cbrl__hpgd_mean(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *sim, const cbrl_policy *pi,
                    int64_t step_budget, int64_t max_samples, cbrl_rng *rng, double *grad,
                    cbrl_estimate_info *info) {
  int64_t steps = 0, n = 0;
  int err = 0;
  while (!err && steps < step_budget && n < max_samples) {
    int64_t k = 0;
    err = accumulate(h, sim, pi, rng, &k);
    steps += k;
    n++;
  }
  if (info) {
    info->env_steps = steps;
    info->episodes = n;
    info->finished = n;
    info->dropped = 0;
  }
  return finish(h, context, x, sim, err, n, grad);
}

int cbrl_hpgd_sample_mean(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *sim,
                          const cbrl_policy *pi, int64_t step_budget, cbrl_rng *rng, double *grad,
                          cbrl_estimate_info *info) {
  if (!h || !x || !sim || !pi || !rng || !grad || step_budget < 1) return CBRL_EINVAL;
  return cbrl__hpgd_mean(h, context, x, sim, pi, step_budget, INT64_MAX, rng, grad, info);
}
