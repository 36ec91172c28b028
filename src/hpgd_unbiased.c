/* HPGD unbiased estimator with geometric horizons (docs/MODEL.md 4.1: the unbiased estimator).

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
#include "hpgd_private.h"
#include "sim_place.h"

/* T with P(T = t) = (1 - q) q^t, equivalently P(T >= k) = q^k. */
static int64_t geometric(cbrl_rng *rng, double q) {
  if (q <= 0.0) return 0;
  double u = 1.0 - cbrl_rng_uniform(rng); /* in (0, 1] */
  double t = floor(log(u) / log(q));
  return t > 1e12 ? (int64_t)1e12 : (int64_t)t;
}

/* Where a rollout is: the model state s and, in a simulator c, the simulator's own state. */
typedef cbrl_sim_state place;

/* Adds w to the cotangent of log P for the transition from `from` by a to `to` (entry k, or
   k < 0 for a simulator's step without one). */
static void add_log_p(cbrl_hpgd *h, const cbrl_simulator *c, place from, int32_t a, place to, int64_t k, double w) {
  if (k >= 0) h->w_log_p[k] += w;
  else c->ops->score(c, from, a, to, w, h->g_score);
}

/* Undiscounted sum of rbar from (s, a) (a < 0: a fresh action) to a horizon ~ Geometric(1 - gamL)
   or termination: unbiased for Qbar(s, a) or Vbar(s). */
static double leader_return(const cbrl_simulator *c, const cbrl_mdp *m, const cbrl_policy *pi, double gamL,
                            place at, int32_t a, cbrl_rng *rng, int64_t *steps) {
  int64_t horizon = geometric(rng, gamL);
  if (a < 0) a = cbrl_sim_action(pi, at.s, rng);
  double total = 0.0;
  for (int64_t k = 0;; k++) {
    double r, rbar;
    cbrl__place_rewards(c, m, at, a, &r, &rbar);
    total += rbar;
    (*steps)++;
    if (k == horizon) break;
    at = cbrl__place_next(c, m, at, a, rng, NULL);
    if (at.s < 0) break;
    a = cbrl_sim_action(pi, at.s, rng);
  }
  return total;
}

/* Adds coef * G_hat(s, a) to the cotangent, from one continuation with horizon ~ Geometric(1-gam):
   coef on r at every step, and on the entry taken after step k coef times the soft rewards of
   the steps after it. That weight is coef (soft_total - soft_prefix_k), linear in the total that
   is known only at the end, so the prefix part is added at once and the total part at the end
   from a count per entry (and, for steps without an entry, from the sum of their scores): the
   memory is bounded by the entries, whatever the horizon (a stored path grew with it). */
static int vector_return(cbrl_hpgd *h, const cbrl_simulator *c, const cbrl_mdp *m, const cbrl_policy *pi,
                         place at, int32_t a, double coef, cbrl_rng *rng, int64_t *steps) {
  const cbrl_problem *p = h->problem;
  int with_p = (p->flags & CBRL_DEPENDS_P) != 0, scored = 0;
  int64_t horizon = geometric(rng, p->gamma);
  double soft = 0.0;
  for (int64_t k = 0;; k++) {
    size_t sa = (size_t)at.s * m->n_actions + a;
    h->w_r[sa] += coef;
    (*steps)++;
    if (k > 0) {
      double r, rbar;
      cbrl__place_rewards(c, m, at, a, &r, &rbar);
      soft += r - p->lambda * pi->log_pi[sa];
    }
    if (k == horizon) break;
    int64_t entry;
    place next = cbrl__place_next(c, m, at, a, rng, &entry);
    if (next.s < 0) break;
    if (with_p) {
      if (entry >= 0) {
        h->w_log_p[entry] -= coef * soft;
        if (h->entry_count[entry]++ == 0.0) h->touched[h->n_touched++] = entry;
      } else {
        c->ops->score(c, at, a, next, -coef * soft, h->g_score);
        c->ops->score(c, at, a, next, 1.0, h->g_path);
        scored = 1;
      }
    }
    at = next;
    a = cbrl_sim_action(pi, at.s, rng);
  }
  for (int64_t i = 0; i < h->n_touched; i++) {
    int64_t e = h->touched[i];
    h->w_log_p[e] += coef * soft * h->entry_count[e];
    h->entry_count[e] = 0.0;
  }
  h->n_touched = 0;
  if (scored)
    for (int j = 0; j < p->dim; j++) {
      h->g_score[j] += coef * soft * h->g_path[j];
      h->g_path[j] = 0.0;
    }
  return 0;
}

/* Adds one sample's cotangent without the vjp, counting its environment steps. */
static int accumulate(cbrl_hpgd *h, const cbrl_mdp *sim, const cbrl_simulator *c, const cbrl_policy *pi,
                      cbrl_rng *rng, int64_t *steps_out) {
  const cbrl_problem *p = h->problem;
  double gamL = p->leader_gamma, scale = 1.0 / (1.0 - gamL);
  int A = sim->n_actions, err = 0;
  int64_t steps = 0;
  place s0 = cbrl__place_start(c, sim, rng), at = s0;
  int64_t T = geometric(rng, gamL);
  int alive = 1;
  for (int64_t t = 0; t < T; t++) {
    int32_t a = cbrl_sim_action(pi, at.s, rng);
    steps++;
    at = cbrl__place_next(c, sim, at, a, rng, NULL);
    if (at.s < 0) {
      alive = 0; /* terminated before T: the time term is 0 */
      break;
    }
  }
  if (alive) {
    int32_t a = cbrl_sim_action(pi, at.s, rng);
    h->w_rbar[(size_t)at.s * A + a] += scale;
    double abar = leader_return(c, sim, pi, gamL, at, a, rng, &steps) -
                  leader_return(c, sim, pi, gamL, at, -1, rng, &steps);
    double coef = scale * abar / p->lambda;
    if (coef != 0.0) {
      err = vector_return(h, c, sim, pi, at, a, coef, rng, &steps);
      if (!err) err = vector_return(h, c, sim, pi, at, cbrl_sim_action(pi, at.s, rng), -coef, rng, &steps);
    }
    if (!err && (p->flags & CBRL_DEPENDS_P) && !sim->terminal[at.s]) {
      int64_t entry;
      place next = cbrl__place_next(c, sim, at, a, rng, &entry);
      steps++;
      add_log_p(h, c, at, a, next, entry, scale * gamL * leader_return(c, sim, pi, gamL, next, -1, rng, &steps));
    }
  }
  if (!err && (p->flags & CBRL_DEPENDS_MU)) {
    if (c && !c->ops->kernel) return CBRL_ENOTSUP; /* a simulator off the model's states: no grad log mu */
    h->w_log_mu[s0.s] += leader_return(c, sim, pi, gamL, s0, -1, rng, &steps);
  }
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

/* The vjp is linear in the cotangent, so the mean of n samples needs one vjp, not n: on large
   models (the tax economy's 2 million transitions) that vjp dominates a sample's cost. Draws
   samples until o->steps steps are spent or o->samples are drawn, whichever comes first. */
int cbrl__hpgd_unbiased(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                        const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng, double *grad,
                        cbrl_estimate_info *info) {
  if (o->steps < 0 || o->samples < 0 || (o->steps == 0 && o->samples == 0)) return CBRL_EINVAL;
  int64_t step_budget = o->steps ? o->steps : INT64_MAX, max_samples = o->samples ? o->samples : INT64_MAX;
  int64_t steps = 0, n = 0;
  int err = 0;
  while (!err && steps < step_budget && n < max_samples) {
    int64_t k = 0;
    err = accumulate(h, m, sim, pi, rng, &k);
    steps += k;
    n++;
  }
  if (info) {
    info->env_steps = steps;
    info->episodes = n;
    info->finished = n;
    info->dropped = 0;
  }
  return finish(h, context, x, m, err, n, grad);
}
