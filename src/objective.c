/* The built-in leader objectives (docs/MODEL.md 3.1). Each returns f and its partials: df/dlog pi
   (= pi df/dpi) for the response term, which src/exact.c turns into a cotangent by one adjoint
   solve, and the partials at fixed pi through the mechanism as cotangents. */
#include "cbrl/objective.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

int cbrl_objective_create(cbrl_objective **out, const cbrl_objective_ops *ops, void *impl,
                          const cbrl_problem *p, size_t scratch_size) {
  if (!out || !ops || !ops->evaluate || !p) return CBRL_EINVAL;
  cbrl_objective *o = calloc(1, sizeof *o);
  if (!o) return CBRL_ENOMEM;
  o->ops = ops;
  o->impl = impl;
  o->kind = CBRL_OBJECTIVE_CUSTOM;
  o->n_states = p->n_states;
  o->n_actions = p->n_actions;
  o->n_contexts = p->n_contexts;
  o->scratch_size = scratch_size;
  snprintf(o->name, sizeof o->name, "custom");
  *out = o;
  return 0;
}

void cbrl_objective_free(cbrl_objective *o) {
  if (!o) return;
  if (o->ops && o->ops->destroy) o->ops->destroy(o);
  free(o);
}

/* Wraps impl (freed on failure) in an objective of a built-in kind. */
static int built_in(cbrl_objective **out, const cbrl_objective_ops *ops, void *impl, const cbrl_problem *p,
                    size_t scratch, cbrl_objective_kind kind, const char *name) {
  int err = impl ? cbrl_objective_create(out, ops, impl, p, scratch) : CBRL_ENOMEM;
  if (err) {
    if (ops->destroy) {
      cbrl_objective tmp = {.impl = impl};
      ops->destroy(&tmp);
    }
    return err;
  }
  (*out)->kind = kind;
  snprintf((*out)->name, sizeof (*out)->name, "%s", name);
  return 0;
}

/* ---- The discounted leader reward, in the general form ----------------------------------
   f = mu . Vbar; pi df/dpi = d pi Qbar (the policy-gradient theorem); the partials at fixed pi
   are those of docs/MODEL.md 3 without the response term: d pi on rbar, gamma_L d pi P Vbar(s')
   on log P, mu Vbar on log mu. */

static int leader_reward_evaluate(const cbrl_objective *o, const cbrl_objective_input *in,
                                  cbrl_objective_output *out) {
  const cbrl_problem *p = in->problem;
  const cbrl_mdp *m = in->mdp;
  cbrl_soft_solver *w = in->follower;
  int S = p->n_states, A = p->n_actions;
  double gamL = p->leader_gamma;
  double *vbar = in->scratch, *d = vbar + S, *qbar = d + S; /* S, S, S x A */
  (void)o;
  int status = cbrl_soft_solver_evaluate(w, m, gamL, m->rbar, vbar);
  if (status && status != CBRL_ENOCONV) return status;
  double f = 0.0;
  for (int s = 0; s < S; s++) f += m->mu[s] * vbar[s];
  out->f = f;
  if (!out->df_dx) return status;
  int err = cbrl_soft_solver_occupancy(w, m, gamL, m->mu, d);
  if (err && err != CBRL_ENOCONV) return err;
  if (err) status = err;
  cbrl_mdp_backup(m, gamL, m->rbar, vbar, qbar);
  for (int s = 0; s < S; s++) {
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double u = d[s] * w->pi[sa];
      out->df_dlog_pi[sa] += u * qbar[sa];
      out->ct_rbar[sa] += u;
      if (m->terminal[s]) continue;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++)
        out->ct_log_p[k] += gamL * u * m->prob[k] * vbar[m->next[k]];
    }
    out->ct_log_mu[s] += m->mu[s] * vbar[s];
  }
  return status;
}

static const cbrl_objective_ops leader_reward_ops = {leader_reward_evaluate, NULL};

int cbrl_objective_leader_reward_create(cbrl_objective **out, const cbrl_problem *p) {
  if (!out || !p) return CBRL_EINVAL;
  size_t scratch = sizeof(double) * ((size_t)2 * p->n_states + (size_t)p->n_states * p->n_actions);
  int err = cbrl_objective_create(out, &leader_reward_ops, NULL, p, scratch);
  if (err) return err;
  (*out)->kind = CBRL_OBJECTIVE_LEADER_REWARD;
  snprintf((*out)->name, sizeof (*out)->name, "leader-reward");
  return 0;
}

/* ---- Cross-entropy to a target behaviour -------------------------------------------------
   f = sum_s rho sum_a t (log pi - log t); pi df/dpi = rho t. No dependence on x at fixed pi. */

typedef struct cross_entropy {
  int per_context;
  double *target; /* (n_contexts x) n_states x n_actions */
  double *rho;    /* n_states */
  double *offset; /* n_contexts: sum_s rho sum_a t log t */
} cross_entropy;

static int cross_entropy_evaluate(const cbrl_objective *o, const cbrl_objective_input *in,
                                  cbrl_objective_output *out) {
  const cross_entropy *ce = o->impl;
  int S = o->n_states, A = o->n_actions;
  const double *t = ce->target + (ce->per_context ? (size_t)in->context * S * A : 0);
  const double *log_pi = in->follower->log_pi;
  double f = 0.0;
  for (int s = 0; s < S; s++) {
    double row = 0.0;
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      if (t[sa] > 0.0) row += t[sa] * log_pi[sa];
    }
    f += ce->rho[s] * row;
  }
  out->f = f - ce->offset[ce->per_context ? in->context : 0];
  if (!out->df_dx) return 0;
  for (int s = 0; s < S; s++)
    for (int a = 0; a < A; a++) out->df_dlog_pi[(size_t)s * A + a] += ce->rho[s] * t[(size_t)s * A + a];
  return 0;
}

static void cross_entropy_destroy(cbrl_objective *o) {
  cross_entropy *ce = o->impl;
  if (!ce) return;
  free(ce->target);
  free(ce->rho);
  free(ce->offset);
  free(ce);
}

static const cbrl_objective_ops cross_entropy_ops = {cross_entropy_evaluate, cross_entropy_destroy};

int cbrl_objective_cross_entropy_create(cbrl_objective **out, const cbrl_problem *p, const double *target,
                                        int per_context, const double *state_weight) {
  if (!out || !p || !target) return CBRL_EINVAL;
  int S = p->n_states, A = p->n_actions, K = per_context ? p->n_contexts : 1;
  for (int k = 0; k < K; k++)
    for (int s = 0; s < S; s++) {
      double sum = 0.0;
      for (int a = 0; a < A; a++) {
        double v = target[((size_t)k * S + s) * A + a];
        if (!(v >= 0.0) || !isfinite(v)) return CBRL_EINVAL;
        sum += v;
      }
      if (fabs(sum - 1.0) > 1e-9) return CBRL_EINVAL;
    }
  for (int s = 0; state_weight && s < S; s++)
    if (!(state_weight[s] >= 0.0) || !isfinite(state_weight[s])) return CBRL_EINVAL;
  cross_entropy *ce = calloc(1, sizeof *ce);
  if (!ce) return CBRL_ENOMEM;
  ce->per_context = per_context != 0;
  size_t n = (size_t)K * S * A;
  ce->target = malloc(n * sizeof(double));
  ce->rho = malloc((size_t)S * sizeof(double));
  ce->offset = calloc((size_t)K, sizeof(double));
  if (!ce->target || !ce->rho || !ce->offset) {
    cbrl_objective tmp = {.impl = ce};
    cross_entropy_destroy(&tmp);
    return CBRL_ENOMEM;
  }
  memcpy(ce->target, target, n * sizeof(double));
  for (int s = 0; s < S; s++) ce->rho[s] = state_weight ? state_weight[s] : 1.0 / S;
  for (int k = 0; k < K; k++)
    for (int s = 0; s < S; s++)
      for (int a = 0; a < A; a++) {
        double v = ce->target[((size_t)k * S + s) * A + a];
        if (v > 0.0) ce->offset[k] += ce->rho[s] * v * log(v);
      }
  return built_in(out, &cross_entropy_ops, ce, p, 0, CBRL_OBJECTIVE_CROSS_ENTROPY, "cross-entropy");
}

/* ---- Bradley-Terry preferences over the follower's trajectories --------------------------
   With the implicit reward beta log pi, P(tau+ > tau-) = sigmoid(beta (log pi(tau+) -
   log pi(tau-))); log pi(tau) = sum_t log pi(a_t|s_t) (the transition probabilities cancel
   only when both trajectories share them, so they are left out: the likelihood is that of the
   follower's choices). Exact on a tabular MDP: a finite sum over the given steps. pi df/dpi(a|s)
   = sum_k w_k beta sigmoid(-m_k) (n_k+(s,a) - n_k-(s,a)), n the visit counts. */

typedef struct preferences {
  int n_pairs;
  double beta;
  int *context;     /* n_pairs */
  double *weight;   /* n_pairs */
  int64_t *start;   /* 2 n_pairs + 1: steps of trajectory j are start[j] .. start[j+1]-1;
                       trajectory 2k is pair k's preferred, 2k+1 its rejected */
  int *step_sa;     /* s * n_actions + a of every step */
} preferences;

static double log_sigmoid(double m) { return m > 0.0 ? -log1p(exp(-m)) : m - log1p(exp(m)); }

static int preferences_evaluate(const cbrl_objective *o, const cbrl_objective_input *in,
                                cbrl_objective_output *out) {
  const preferences *pr = o->impl;
  const double *log_pi = in->follower->log_pi;
  double f = 0.0;
  for (int k = 0; k < pr->n_pairs; k++) {
    if (pr->context[k] != in->context) continue;
    double ell[2] = {0.0, 0.0};
    for (int j = 0; j < 2; j++)
      for (int64_t i = pr->start[2 * k + j]; i < pr->start[2 * k + j + 1]; i++) ell[j] += log_pi[pr->step_sa[i]];
    double margin = pr->beta * (ell[0] - ell[1]);
    f += pr->weight[k] * log_sigmoid(margin);
    if (!out->df_dx) continue;
    double c = pr->weight[k] * pr->beta * exp(log_sigmoid(-margin));
    for (int j = 0; j < 2; j++)
      for (int64_t i = pr->start[2 * k + j]; i < pr->start[2 * k + j + 1]; i++)
        out->df_dlog_pi[pr->step_sa[i]] += j ? -c : c;
  }
  out->f = f;
  return isfinite(f) ? 0 : CBRL_ENONFINITE;
}

static void preferences_destroy(cbrl_objective *o) {
  preferences *pr = o->impl;
  if (!pr) return;
  free(pr->context);
  free(pr->weight);
  free(pr->start);
  free(pr->step_sa);
  free(pr);
}

static const cbrl_objective_ops preferences_ops = {preferences_evaluate, preferences_destroy};

int cbrl_trajectory_check(const cbrl_mdp *m, const cbrl_trajectory *tr) {
  if (!m || !tr) return 0;
  int S = m->n_states, A = m->n_actions;
  if (tr->length <= 0 || !tr->states || !tr->actions) return 0;
  for (int t = 0; t < tr->length; t++) {
    int s = tr->states[t], a = tr->actions[t];
    if (s < 0 || s >= S || a < 0 || a >= A) return t;
    if (t + 1 == tr->length) break;
    if (m->terminal[s]) return t + 1;
    size_t sa = (size_t)s * A + a;
    int found = 0;
    for (int64_t i = m->row[sa]; i < m->row[sa + 1] && !found; i++) found = m->next[i] == tr->states[t + 1];
    if (!found) return t + 1;
  }
  return -1;
}

int cbrl_objective_preferences_create(cbrl_objective **out, const cbrl_problem *p, const cbrl_preference *pairs,
                                      int n_pairs, double beta, int *bad_pair, int *bad_step) {
  if (bad_pair) *bad_pair = -1;
  if (bad_step) *bad_step = -1;
  if (!out || !p || n_pairs < 0 || (n_pairs && !pairs) || !(beta > 0.0) || !isfinite(beta)) return CBRL_EINVAL;
  /* The structure of every context, to refuse sequences the follower can never produce. */
  int64_t steps = 0;
  int err = 0;
  cbrl_mdp m;
  for (int c = 0; c < p->n_contexts && !err; c++) {
    int any = 0;
    for (int k = 0; k < n_pairs; k++) any |= pairs[k].context == c;
    if (!any) continue;
    if ((err = cbrl_mdp_init(&m, p, c))) return err;
    for (int k = 0; k < n_pairs && !err; k++) {
      if (pairs[k].context != c) continue;
      for (int j = 0; j < 2 && !err; j++) {
        const cbrl_trajectory *tr = j ? &pairs[k].rejected : &pairs[k].preferred;
        int t = cbrl_trajectory_check(&m, tr);
        if (t >= 0) {
          if (bad_pair) *bad_pair = k;
          if (bad_step) *bad_step = t;
          err = CBRL_EINVAL;
        }
      }
    }
    cbrl_mdp_close(&m);
  }
  for (int k = 0; k < n_pairs && !err; k++) {
    if (pairs[k].context < 0 || pairs[k].context >= p->n_contexts || !(pairs[k].weight > 0.0) ||
        !isfinite(pairs[k].weight)) {
      if (bad_pair) *bad_pair = k;
      err = CBRL_EINVAL;
    }
    steps += pairs[k].preferred.length + pairs[k].rejected.length;
  }
  if (err) return err;
  preferences *pr = calloc(1, sizeof *pr);
  if (!pr) return CBRL_ENOMEM;
  pr->n_pairs = n_pairs;
  pr->beta = beta;
  pr->context = malloc(sizeof(int) * (size_t)(n_pairs ? n_pairs : 1));
  pr->weight = malloc(sizeof(double) * (size_t)(n_pairs ? n_pairs : 1));
  pr->start = malloc(sizeof(int64_t) * (size_t)(2 * n_pairs + 1));
  pr->step_sa = malloc(sizeof(int) * (size_t)(steps ? steps : 1));
  if (!pr->context || !pr->weight || !pr->start || !pr->step_sa) {
    cbrl_objective tmp = {.impl = pr};
    preferences_destroy(&tmp);
    return CBRL_ENOMEM;
  }
  int64_t i = 0;
  for (int k = 0; k < n_pairs; k++) {
    pr->context[k] = pairs[k].context;
    pr->weight[k] = pairs[k].weight;
    for (int j = 0; j < 2; j++) {
      const cbrl_trajectory *tr = j ? &pairs[k].rejected : &pairs[k].preferred;
      pr->start[2 * k + j] = i;
      for (int t = 0; t < tr->length; t++) pr->step_sa[i++] = tr->states[t] * p->n_actions + tr->actions[t];
    }
  }
  pr->start[2 * n_pairs] = i;
  return built_in(out, &preferences_ops, pr, p, 0, CBRL_OBJECTIVE_PREFERENCES, "preferences");
}

/* ---- Occupancy welfare: productivity x equality -------------------------------------------
   f = Phi(u) with u = d pi. Its derivative in pi at fixed x is the policy gradient of the
   linearised reward g = dPhi/du: pi df/dpi = u Q_g, Q_g the gamma_L Q-function of g under pi;
   at fixed pi, f moves with P and mu as a leader value of reward g does: gamma_L u P V_g(s') on
   log P and mu V_g on log mu. Three scalar solves: d, V_g and (in exact.c) the adjoint. */

typedef struct welfare {
  double kappa;
  double *output; /* n_contexts x n_states x n_actions */
} welfare;

static int welfare_evaluate(const cbrl_objective *o, const cbrl_objective_input *in, cbrl_objective_output *out) {
  const welfare *wf = o->impl;
  const cbrl_problem *p = in->problem;
  const cbrl_mdp *m = in->mdp;
  cbrl_soft_solver *w = in->follower;
  int S = o->n_states, A = o->n_actions;
  double gamL = p->leader_gamma;
  const double *y = wf->output + (size_t)in->context * S * A;
  double *d = in->scratch, *vg = d + S, *g = vg + S, *qg = g + (size_t)S * A;
  int status = cbrl_soft_solver_occupancy(w, m, gamL, m->mu, d);
  if (status && status != CBRL_ENOCONV) return status;
  double mass = 0.0, s1 = 0.0, s2 = 0.0;
  for (int s = 0; s < S; s++)
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double u = d[s] * w->pi[sa];
      mass += u;
      s1 += u * y[sa];
      s2 += u * y[sa] * y[sa];
    }
  if (!(mass > 0.0)) return CBRL_ENONFINITE;
  double mean = s1 / mass, spread = fmax(s2 / mass - mean * mean, 0.0);
  double eq = 1.0 / (1.0 + wf->kappa * spread);
  out->f = s1 * eq;
  if (!out->df_dx) return status;
  /* dPhi/du = y E + P dE/dV dV/du, dV/du = (y - ybar)^2 / M - V / M. */
  double dE = -wf->kappa * eq * eq;
  for (size_t sa = 0; sa < (size_t)S * A; sa++) {
    double dy = y[sa] - mean;
    g[sa] = y[sa] * eq + s1 * dE * (dy * dy - spread) / mass;
  }
  int err = cbrl_soft_solver_evaluate(w, m, gamL, g, vg);
  if (err && err != CBRL_ENOCONV) return err;
  if (err) status = err;
  cbrl_mdp_backup(m, gamL, g, vg, qg);
  for (int s = 0; s < S; s++) {
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double u = d[s] * w->pi[sa];
      out->df_dlog_pi[sa] += u * qg[sa];
      if (m->terminal[s]) continue;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) out->ct_log_p[k] += gamL * u * m->prob[k] * vg[m->next[k]];
    }
    out->ct_log_mu[s] += m->mu[s] * vg[s];
  }
  return status;
}

static void welfare_destroy(cbrl_objective *o) {
  welfare *wf = o->impl;
  if (!wf) return;
  free(wf->output);
  free(wf);
}

static const cbrl_objective_ops welfare_ops = {welfare_evaluate, welfare_destroy};

int cbrl_objective_welfare_create(cbrl_objective **out, const cbrl_problem *p, const double *output, double kappa) {
  if (!out || !p || !output || !(kappa >= 0.0) || !isfinite(kappa)) return CBRL_EINVAL;
  size_t n = (size_t)p->n_contexts * p->n_states * p->n_actions;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(output[i])) return CBRL_EINVAL;
  welfare *wf = calloc(1, sizeof *wf);
  if (wf && !(wf->output = malloc(n * sizeof(double)))) {
    free(wf);
    wf = NULL;
  }
  if (wf) {
    wf->kappa = kappa;
    memcpy(wf->output, output, n * sizeof(double));
  }
  size_t scratch = sizeof(double) * ((size_t)2 * p->n_states + (size_t)2 * p->n_states * p->n_actions);
  return built_in(out, &welfare_ops, wf, p, scratch, CBRL_OBJECTIVE_WELFARE, "welfare");
}

/* ---- Using them ------------------------------------------------------------------------ */

int cbrl_problem_set_objective(cbrl_problem *p, cbrl_objective *o) {
  if (!p) return CBRL_EINVAL;
  if (o && (o->n_states != p->n_states || o->n_actions != p->n_actions || o->n_contexts != p->n_contexts))
    return CBRL_EINVAL;
  cbrl_objective_free(p->objective);
  p->objective = o;
  return 0;
}

int cbrl_objective_is_leader_reward(const cbrl_problem *p) {
  return p && (!p->objective || p->objective->kind == CBRL_OBJECTIVE_LEADER_REWARD);
}

int cbrl_objective_supports(const cbrl_problem *p, const char *algorithm, char *why, size_t size) {
  if (why && size) why[0] = 0;
  if (!p || !algorithm) return CBRL_EINVAL;
  if (!strcmp(algorithm, "exact") || !strcmp(algorithm, "zero-order") || cbrl_objective_is_leader_reward(p))
    return 0;
  if (why && size)
    snprintf(why, size,
             "%s estimates the gradient of a discounted leader reward, not of the %s objective; use exact or "
             "zero-order",
             algorithm, p->objective->name);
  return CBRL_ENOTSUP;
}
