/* HPGD batch estimator (docs/MODEL.md 4.1: the batch estimator).

   The response term sum_t w_t gA(s_t,a_t), with gA = G - grad V estimated as per-(s,a) and
   per-state means of vector returns R^c, equals sum_t beta_t R^c_t with
   beta_t = W(s_t,a_t)/n(s_t,a_t) - W(s_t)/n(s_t). Since R^c_t = sum_k gam^k c_{t+k}, that is
   sum_j B_j c_j with B_j = gam B_{j-1} + beta_j inside each episode: one forward pass turns the
   whole batch into a cotangent on (r, log P), and a single vjp gives the d-vector.

   Truncated episodes (time limit or batch end) have unobserved futures. Their returns are
   bootstrapped with the mean return of terminated visits of their last state s_end; for the
   vector return this adds gam * B_end / n_term(s_end) to beta of each terminated visit of s_end.
   Episodes whose s_end has no terminated visit are left out of the value tables. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "hpgd_private.h"

/* The paper-code variant's leader grad P term of step j: w clip(grad log P, -1, 1), the score of
   the step's own transition clipped per coordinate (docs/MODEL.md 4.1d), added to g_score. */
static int clipped_score(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                         int64_t j, double w) {
  const cbrl_problem *p = h->problem;
  const cbrl_step *st = &h->batch.steps[j];
  if (!h->score && !(h->score = malloc(sizeof(double) * (size_t)p->dim))) return CBRL_ENOMEM;
  memset(h->score, 0, sizeof(double) * (size_t)p->dim);
  if (st->entry >= 0) {
    if (!p->ops->log_p_score) return CBRL_ENOTSUP;
    int err = p->ops->log_p_score(p, context, x, m, st->s, st->a, st->entry, h->score);
    if (err) return err;
  } else if (sim) {
    sim->ops->score(sim, (cbrl_sim_state){st->s, h->batch.state[j]}, st->a,
                    (cbrl_sim_state){st->next, h->batch.next_state[j]}, 1.0, h->score);
  }
  for (int k = 0; k < p->dim; k++) h->g_score[k] += w * fmax(-1.0, fmin(1.0, h->score[k]));
  return 0;
}

/* The paper-code variant clips the first coordinate (the tax economy's income tax) and the
   rest (its VAT) separately to norm 1, as its two optimisers did. */
static void clip_groups(double *g, int dim) {
  if (dim < 1) return;
  g[0] = fmax(-1.0, fmin(1.0, g[0]));
  double n2 = 0.0;
  for (int k = 1; k < dim; k++) n2 += g[k] * g[k];
  if (n2 > 1.0) {
    double s = 1.0 / sqrt(n2);
    for (int k = 1; k < dim; k++) g[k] *= s;
  }
}

/* The estimate from the steps in the workspace's batch, wherever they came from (the model's
   kernel, a simulator, or later a follower that reports its own trajectories); sim gives grad
   log p of the steps without an entry. */
static int from_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                      const cbrl_hpgd_opts *o, double *grad, cbrl_estimate_info *info) {
  const cbrl_problem *p = h->problem;
  int S = h->n_states, A = h->n_actions;
  double lam = p->lambda, gam = p->gamma, gamL = p->leader_gamma;
  int with_p = (p->flags & CBRL_DEPENDS_P) != 0, with_mu = (p->flags & CBRL_DEPENDS_MU) != 0;
  int baseline = o->baseline == CBRL_BASELINE_ON, paper = o->variant == CBRL_VARIANT_PAPER_CODE;
  cbrl_batch *b = &h->batch;
  const cbrl_step *st = b->steps;
  int64_t n = b->n_steps;
  double inv_fin = 1.0 / (double)(b->n_finished > 0 ? b->n_finished : 1);
  size_t SA = (size_t)S * A;
  memset(h->n_s, 0, sizeof(double) * S);
  memset(h->n_sa, 0, sizeof(double) * SA);
  memset(h->vbar, 0, sizeof(double) * S);
  memset(h->qbar, 0, sizeof(double) * SA);
  memset(h->vstar, 0, sizeof(double) * S);
  memset(h->c_n, 0, sizeof(double) * S);
  memset(h->c_bar, 0, sizeof(double) * S);
  memset(h->c_soft, 0, sizeof(double) * S);
  memset(h->weight_sa, 0, sizeof(double) * SA);
  memset(h->weight_s, 0, sizeof(double) * S);
  memset(h->extra_s, 0, sizeof(double) * S);

  /* Pass 1: discounted returns of rbar (gamL) and of the soft reward r - lam log pi (gam),
     backwards inside each episode; terminated visits feed the bootstrap tables. The soft
     returns (and V*) only weight the grad log P terms: without CBRL_DEPENDS_P they are skipped,
     which changes nothing else. */
  int64_t n_episodes = cbrl__hpgd_split_episodes(b, h->episode);
  for (int64_t e = 0; e < n_episodes; e++) {
    int64_t i = h->episode[e], end = h->episode[e + 1];
    int complete = (st[end - 1].flags & CBRL_STEP_TERMINATED) != 0;
    double gb = 0.0, gs = 0.0;
    for (int64_t j = end - 1; j >= i; j--) {
      gb = st[j].rbar + gamL * gb;
      h->ret_bar[j] = gb;
      h->complete[j] = (unsigned char)complete;
      if (with_p) h->ret_soft[j] = gs = st[j].r - lam * st[j].log_pi + gam * gs;
      if (complete) {
        h->c_n[st[j].s] += 1.0;
        h->c_bar[st[j].s] += gb;
        if (with_p) h->c_soft[st[j].s] += gs;
      }
    }
  }
  /* Pass 2: bootstrap truncated episodes; fill the value tables over usable steps. A batch
     without any terminated episode (a problem without terminal states, such as the tax
     economy) has nothing to bootstrap from: its truncated returns are used as they are, as
     the paper's code does, missing only the discounted tail beyond the cut. */
  int any_terminated = 0;
  for (int64_t e = 0; e < n_episodes && !any_terminated; e++) any_terminated = h->complete[h->episode[e]];
  int64_t dropped = 0;
  for (int64_t e = 0; e < n_episodes; e++) {
    int64_t i = h->episode[e], end = h->episode[e + 1];
    int ok = 1;
    if (!h->complete[i] && any_terminated) {
      int32_t s_end = st[end - 1].next;
      ok = s_end >= 0 && h->c_n[s_end] > 0.0;
      if (ok) {
        double vb = h->c_bar[s_end] / h->c_n[s_end], vs = h->c_soft[s_end] / h->c_n[s_end];
        double db = gamL, ds = gam;
        for (int64_t j = end - 1; j >= i; j--, db *= gamL, ds *= gam) {
          h->ret_bar[j] += db * vb;
          if (with_p) h->ret_soft[j] += ds * vs;
        }
      } else {
        dropped += end - i;
      }
    }
    for (int64_t j = i; j < end; j++) {
      h->usable[j] = (unsigned char)ok;
      if (!ok) continue;
      size_t sa = (size_t)st[j].s * A + st[j].a;
      h->n_s[st[j].s] += 1.0;
      h->n_sa[sa] += 1.0;
      h->vbar[st[j].s] += h->ret_bar[j];
      h->qbar[sa] += h->ret_bar[j];
      if (with_p) h->vstar[st[j].s] += h->ret_soft[j];
    }
  }
  for (int s = 0; s < S; s++)
    if (h->n_s[s] > 0.0) h->vbar[s] /= h->n_s[s], h->vstar[s] /= h->n_s[s];
  for (size_t sa = 0; sa < SA; sa++)
    if (h->n_sa[sa] > 0.0) h->qbar[sa] /= h->n_sa[sa];

  /* W(s,a) = sum over steps of gamL^tau Abar(s,a) / lam / n_finished; the direct term
     gamL^tau grad rbar / n_finished; the grad P and grad mu terms of the exact gradient
     (docs/MODEL.md 3). */
  for (int64_t j = 0; j < n; j++) {
    const cbrl_step *sj = &st[j];
    size_t sa = (size_t)sj->s * A + sj->a;
    double disc = h->pow_leader[sj->t] * inv_fin;
    h->w_rbar[sa] += disc;
    if (h->n_sa[sa] > 0.0) {
      double w = disc * (h->qbar[sa] - h->vbar[sj->s]) / lam;
      h->weight_sa[sa] += w;
      h->weight_s[sj->s] += w;
    }
    if (with_p && sj->next >= 0 && h->n_s[sj->next] > 0.0) {
      if (paper) {
        int err = clipped_score(h, context, x, m, sim, j, gamL * disc * h->vbar[sj->next]);
        if (err) {
          cbrl__hpgd_flush(h, context, x, m, grad); /* clears the cotangent */
          return err;
        }
      } else {
        cbrl__hpgd_add_log_p(h, sim, j, gamL * disc * h->vbar[sj->next]);
      }
    }
    if (with_mu && sj->t == 0) h->w_log_mu[sj->s] += inv_fin * h->vbar[sj->s];
  }
  /* beta_t = W(s,a)/n(s,a) - W(s)/n(s) depends on (s_t, a_t) only: formed once per visited
     state-action (in place of W(s,a), which nothing reads after) instead of per step, with the
     same two divisions and subtraction, so the same bits. Every step of a usable episode has
     n(s,a) > 0; the sweeps below read beta only there. */
  for (int s = 0; s < S; s++)
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      if (h->n_sa[sa] > 0.0) h->weight_sa[sa] = h->weight_sa[sa] / h->n_sa[sa] - h->weight_s[s] / h->n_s[s];
    }
  const double *beta_sa = h->weight_sa;
  /* Forward accumulation, truncated episodes first: their tails become extra weight on the
     terminated visits of s_end, which the second sweep then carries. */
  for (int sweep = 0; sweep < 2; sweep++) {
    for (int64_t e = 0; e < n_episodes; e++) {
      int64_t i = h->episode[e], end = h->episode[e + 1];
      int truncated = !h->complete[i];
      if (truncated != (sweep == 0) || !h->usable[i]) continue;
      double B = 0.0;
      for (int64_t j = i; j < end; j++) {
        const cbrl_step *sj = &st[j];
        size_t sa = (size_t)sj->s * A + sj->a;
        B = gam * B + beta_sa[sa] + (truncated ? 0.0 : h->extra_s[sj->s]);
        h->w_r[sa] += B;
        /* The paper-code variant takes no follower response through P (docs/MODEL.md 4.1d). */
        if (with_p && !paper && sj->next >= 0 && h->n_s[sj->next] > 0.0) {
          double v = h->vstar[sj->next];
          /* docs/MODEL.md 4.1c: E[grad log P | s,a] = 0; leave-one-out, so that the step's own
             soft return (which depends on s') is not in its baseline. */
          if (baseline && h->n_s[sj->s] > 1.0)
            v -= (h->n_s[sj->s] * h->vstar[sj->s] - h->ret_soft[j]) / (h->n_s[sj->s] - 1.0);
          cbrl__hpgd_add_log_p(h, sim, j, B * gam * v);
        }
      }
      if (truncated && any_terminated) { /* its return was bootstrapped from s_end's terminated visits */
        int32_t s_end = st[end - 1].next;
        h->extra_s[s_end] += gam * B / h->c_n[s_end];
      }
    }
  }
  if (info) {
    info->env_steps = n;
    info->episodes = b->n_episodes;
    info->finished = b->n_finished;
    info->dropped = dropped;
  }
  if (with_p && b->n_steps < m->n_transitions) h->log_p_steps = b; /* add_log_p wrote w_log_p there only */
  int err = cbrl__hpgd_flush(h, context, x, m, grad);
  if (!err && paper) clip_groups(grad, p->dim);
  return err;
}

int cbrl__hpgd_from_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_batch *b,
                          const cbrl_hpgd_opts *o, double *grad, cbrl_estimate_info *info) {
  /* A follower's batch, completed (cbrl_trajectory_complete): the workspace's copy is the one the
     estimate and the sparse log P reset read. */
  if (b->n_steps > h->batch.capacity) return CBRL_ERANGE;
  memcpy(h->batch.steps, b->steps, sizeof(cbrl_step) * (size_t)b->n_steps);
  h->batch.n_steps = b->n_steps;
  h->batch.n_episodes = b->n_episodes;
  h->batch.n_finished = b->n_finished;
  return from_batch(h, context, x, m, NULL, o, grad, info);
}

int cbrl__hpgd_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                     const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng, double *grad,
                     cbrl_estimate_info *info) {
  if (o->streams <= 0 || o->steps < o->streams) return CBRL_EINVAL;
  if (o->steps > h->max_batch_steps) return CBRL_ERANGE;
  int64_t per_stream = o->steps / o->streams;
  int err = sim ? cbrl_simulator_batch(sim, pi, o->streams, per_stream, o->max_steps, o->sim_flags, rng, &h->batch)
                : cbrl_sim_batch(m, pi, o->streams, per_stream, o->max_steps, o->sim_flags, rng, &h->batch);
  return err ? err : from_batch(h, context, x, m, sim, o, grad, info);
}
