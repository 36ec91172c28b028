/* Sample-based followers (docs/MODEL.md 4.4 and 5): soft Q-learning from a generative
   model (one s' per (s, a) per iteration), and from the follower's own on-policy episodes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "cbrl/follower.h"
#include "rng_inline.h"
#include "soft_policy.h"

double cbrl_schedule_step(cbrl_schedule s, double gamma, int64_t k) {
  if (s == CBRL_SCHEDULE_POLYNOMIAL) return 1.0 / pow((double)k + 1.0, 0.8);
  return 1.0 / (1.0 + (1.0 - gamma) * (double)k);
}

void cbrl_soft_q_iterate(const cbrl_mdp *m, double gamma, double lambda, cbrl_schedule s, int64_t k0, int64_t n,
                         cbrl_rng *rng, double *q, double *v) {
  int S = m->n_states, A = m->n_actions;
  const double *p = m->prob;
  for (int64_t k = k0; k < k0 + n; k++) {
    double beta = cbrl_schedule_step(s, gamma, k);
    /* Synchronous: every target uses V of the same Q_k. */
    for (int st = 0; st < S; st++) v[st] = cbrl_soft_value(q + (size_t)st * A, A, lambda);
    for (int st = 0; st < S; st++)
      for (int a = 0; a < A; a++) {
        size_t sa = (size_t)st * A + a;
        double target = m->r[sa];
        double u = cbrl__rng_uniform(rng); /* drawn for every pair, terminal ones too */
        if (!m->terminal[st]) {
          int64_t lo = m->row[sa], j = lo + cbrl__categorical(p + lo, m->row[sa + 1] - lo, u);
          target += gamma * v[m->next[j]];
        }
        q[sa] = (1.0 - beta) * q[sa] + beta * target;
      }
  }
}

/* ---- follower: soft Q-learning from a generative model ----------------------------- */

typedef struct soft_q_follower {
  int64_t iterations;
  cbrl_schedule schedule;
  double *q, *v, *pi, *log_pi;
} soft_q_follower;

/* pi = softmax(q / lam) and its log, row by row. */
static void policy_of(const double *q, int S, int A, double lambda, double *pi, double *log_pi) {
  for (int s = 0; s < S; s++) {
    size_t s0 = (size_t)s * A;
    cbrl_soft_policy_row(q + s0, A, lambda, pi + s0, log_pi + s0);
  }
}

static int soft_q_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *model,
                          const cbrl_simulator *sim, cbrl_rng *rng, cbrl_policy *out) {
  cbrl_mdp env, *m = &env; /* the generative model is the simulator's */
  cbrl_simulator_tabular(sim, model, &env);
  soft_q_follower *sf = f->impl;
  const cbrl_problem *p = f->problem;
  int S = p->n_states, A = p->n_actions;
  if (!rng) return CBRL_EINVAL;
  memset(sf->q, 0, sizeof(double) * (size_t)S * A);
  /* In chunks of 1024 iterations, for the cancellation flag: the stream is sequential, so the
     chunks change no bit. */
  for (int64_t done = 0; done < sf->iterations; done += 1024) {
    if (f->cancel && *f->cancel) return CBRL_ECANCELED;
    int64_t n = sf->iterations - done < 1024 ? sf->iterations - done : 1024;
    cbrl_soft_q_iterate(m, p->gamma, p->lambda, sf->schedule, done, n, rng, sf->q, sf->v);
  }
  policy_of(sf->q, S, A, p->lambda, sf->pi, sf->log_pi);
  f->stats.samples = sf->iterations * S * A;
  f->stats.iterations = sf->iterations;
  f->stats.converged = 1;
  *out = (cbrl_policy){S, A, sf->pi, sf->log_pi};
  return 0;
}

static void soft_q_destroy(cbrl_follower *f) {
  soft_q_follower *sf = f->impl;
  if (!sf) return;
  free(sf->q);
  free(sf->v);
  free(sf->pi);
  free(sf->log_pi);
  free(sf);
}

static const cbrl_follower_ops soft_q_ops = {soft_q_respond, soft_q_destroy, NULL};

int cbrl_follower_soft_q_create(cbrl_follower **out, const cbrl_problem *p, int64_t iterations,
                                cbrl_schedule schedule) {
  if (!out || !p || iterations < 0 ||
      (schedule != CBRL_SCHEDULE_RESCALED_LINEAR && schedule != CBRL_SCHEDULE_POLYNOMIAL))
    return CBRL_EINVAL;
  size_t S = (size_t)p->n_states, SA = S * p->n_actions;
  soft_q_follower *sf = calloc(1, sizeof *sf);
  if (!sf) return CBRL_ENOMEM;
  sf->iterations = iterations;
  sf->schedule = schedule;
  sf->q = calloc(SA, sizeof(double));
  sf->v = calloc(S, sizeof(double));
  sf->pi = calloc(SA, sizeof(double));
  sf->log_pi = calloc(SA, sizeof(double));
  int err = (!sf->q || !sf->v || !sf->pi || !sf->log_pi) ? CBRL_ENOMEM : cbrl_follower_create(out, p, &soft_q_ops, sf, "soft-q");
  if (err) {
    cbrl_follower f = {.impl = sf};
    soft_q_destroy(&f);
  }
  return err;
}

/* ---- follower: on-policy soft Q-learning from episodes ------------------------------ */

typedef struct online_follower {
  int64_t steps;
  int max_steps;
  int n_contexts;
  double *q;      /* n_contexts x S x A, warm across responses */
  double *visits; /* n_contexts x S x A */
  double *pi, *log_pi;
  cbrl_rng actions; /* its own stream for its actions: the environment's draws are the caller's
                       rng, as when cbrl serves an outside learner (docs/FOLLOWER_PROTOCOL.md) */
} online_follower;

static int online_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *model,
                          const cbrl_simulator *sim, cbrl_rng *rng, cbrl_policy *out) {
  cbrl_mdp env, *m = &env; /* episodes in the simulator's kernel */
  cbrl_simulator_tabular(sim, model, &env);
  online_follower *of = f->impl;
  const cbrl_problem *p = f->problem;
  int S = p->n_states, A = p->n_actions;
  double lam = p->lambda, gam = p->gamma;
  if (!rng) return CBRL_EINVAL;
  double *q = of->q + (size_t)context * S * A, *n = of->visits + (size_t)context * S * A;
  cbrl_policy pol = {S, A, of->pi, of->log_pi};
  /* Episodes begin when a step needs one (as an agent calls reset), so the last step of a
     response draws nothing for an episode it will not play. */
  int32_t s = -1, t = 0;
  for (int64_t i = 0; i < of->steps; i++) {
    if (!(i & 1023) && f->cancel && *f->cancel) return CBRL_ECANCELED;
    if (s < 0) {
      s = cbrl_sim_initial(m, rng);
      t = 0;
    }
    /* Act with the current soft-greedy policy of this state. */
    /* The rows of pi and log_pi are scratch until the final policy_of. */
    size_t s0 = (size_t)s * A;
    cbrl_soft_policy_row(q + s0, A, lam, of->pi + s0, of->log_pi + s0);
    int a = (int)cbrl__categorical(of->pi + s0, A, cbrl__rng_uniform(&of->actions));
    size_t sa = (size_t)s * A + a;
    int64_t entry;
    int32_t next = cbrl_sim_next(m, s, a, rng, &entry);
    double target = m->r[sa] + (next >= 0 ? gam * cbrl_soft_value(q + (size_t)next * A, A, lam) : 0.0);
    double beta = 1.0 / pow(1.0 + n[sa], 0.6);
    n[sa] += 1.0;
    q[sa] = (1.0 - beta) * q[sa] + beta * target;
    /* A truncated episode bootstraps from next (above); both kinds of end start a new one. */
    s = next < 0 || (of->max_steps && ++t >= of->max_steps) ? -1 : next;
  }
  policy_of(q, S, A, lam, of->pi, of->log_pi);
  f->stats.samples = of->steps;
  f->stats.iterations = of->steps;
  f->stats.converged = 1;
  *out = pol;
  return 0;
}

static void online_destroy(cbrl_follower *f) {
  online_follower *of = f->impl;
  if (!of) return;
  free(of->q);
  free(of->visits);
  free(of->pi);
  free(of->log_pi);
  free(of);
}

static const cbrl_follower_ops online_ops = {online_respond, online_destroy, NULL};

int cbrl_follower_online_seed(cbrl_follower *f, uint64_t seed) {
  if (!f || f->ops != &online_ops) return CBRL_EINVAL;
  online_follower *of = f->impl;
  cbrl_rng_seed(&of->actions, seed, CBRL_ONLINE_STREAM);
  return 0;
}

int cbrl_follower_online_create(cbrl_follower **out, const cbrl_problem *p, int64_t steps, int max_steps) {
  if (!out || !p || steps < 0 || max_steps < 0) return CBRL_EINVAL;
  size_t SA = (size_t)p->n_states * p->n_actions, K = (size_t)p->n_contexts;
  online_follower *of = calloc(1, sizeof *of);
  if (!of) return CBRL_ENOMEM;
  of->steps = steps;
  of->max_steps = max_steps;
  of->n_contexts = p->n_contexts;
  cbrl_rng_seed(&of->actions, 0, CBRL_ONLINE_STREAM);
  of->q = calloc(K * SA, sizeof(double));
  of->visits = calloc(K * SA, sizeof(double));
  of->pi = calloc(SA, sizeof(double));
  of->log_pi = calloc(SA, sizeof(double));
  int err = (!of->q || !of->visits || !of->pi || !of->log_pi) ? CBRL_ENOMEM
                                                             : cbrl_follower_create(out, p, &online_ops, of, "online-q");
  if (err) {
    cbrl_follower f = {.impl = of};
    online_destroy(&f);
  }
  return err;
}
