/* RLHF as contextual bilevel RL (docs/ENVIRONMENTS.md 7). States are the prefixes of sequences
   of L tokens from a vocabulary of V, stored depth by depth (prefix code c of depth t is state
   off(t) + c, off(t) = (V^t - 1) / (V - 1)), and one terminal state "done" after the last token.
   The follower's reward is r(s, a) = lambda log pi_ref(a|s), plus x . phi(y) / gamma^(L-1) at
   the final token, so that its entropy-regularised return is E[R_x(y)] - lambda KL(pi || pi_ref)
   up to the discount of the KL terms: the KL-regularised policy is the soft best response
   (docs/MODEL.md 2). "done" pays -lambda log V on each of its V actions, so its soft value is 0. */
#include "cbrl/env/rlhf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "cbrl/objective.h"
#include "cbrl/rng.h"
#include "cbrl/soft_solver.h"

typedef struct rlhf {
  int V, L, P, dim, n_inner, n_seq, done;
  int off[CBRL_RLHF_MAX_LENGTH + 1]; /* first state of each depth */
  cbrl_rlhf_objective objective;
  double *log_ref; /* P x n_inner x V: log pi_ref(a|s) per prompt */
  double *phi;     /* P x n_seq x dim: features of each complete sequence */
  double *score;   /* P x n_seq: the training pairs' score s(y) */
  double theta[CBRL_RLHF_MAX_DIM];
  int n_pairs;
  int *pair; /* n_pairs x 4: prompt, preferred code, rejected code, heldout */
} rlhf;

static void rlhf_free(rlhf *rl) {
  if (!rl) return;
  free(rl->log_ref);
  free(rl->phi);
  free(rl->score);
  free(rl->pair);
  free(rl);
}

/* ---- sequences -------------------------------------------------------------------------- */

/* A sequence's code is its tokens read as a base-V number, the first token most significant. */
static int encode(const rlhf *rl, const int *tokens) {
  int c = 0;
  for (int t = 0; t < rl->L; t++) c = c * rl->V + tokens[t];
  return c;
}

static void decode(const rlhf *rl, int code, int *tokens) {
  for (int t = rl->L - 1; t >= 0; t--) tokens[t] = code % rl->V, code /= rl->V;
}

/* The state before token t of the sequence with this code, and V^(L - t). */
static int state_before(const rlhf *rl, int code, int t) {
  int tail = 1;
  for (int k = t; k < rl->L; k++) tail *= rl->V;
  return rl->off[t] + code / tail;
}

/* The implied preference's log-ratio difference of pair pk in prompt c (docs/ENVIRONMENTS.md 7):
   sum_t log pi/pi_ref over the preferred sequence minus the same over the rejected one. */
static double pair_log_ratio(const rlhf *rl, int c, const int *pk, const double *log_pi) {
  int V = rl->V;
  double ell = 0.0;
  for (int j = 0; j < 2; j++) {
    int tokens[CBRL_RLHF_MAX_LENGTH];
    decode(rl, pk[1 + j], tokens);
    for (int t = 0; t < rl->L; t++) {
      int s = state_before(rl, pk[1 + j], t);
      double v = log_pi[(size_t)s * V + tokens[t]] - rl->log_ref[((size_t)c * rl->n_inner + s) * V + tokens[t]];
      ell += j ? -v : v;
    }
  }
  return ell;
}

static void features(const rlhf *rl, int prompt, const int *y, double *phi) {
  int V = rl->V, L = rl->L;
  memset(phi, 0, sizeof(double) * (size_t)rl->dim);
  for (int t = 0; t < L; t++)
    if (y[t] > 0) phi[y[t] - 1] += 1.0 / L;
  for (int t = 1; t < L; t++)
    if (y[t] == y[t - 1]) phi[V - 1] += 1.0 / (L - 1);
  phi[V] = y[0] == prompt % V ? 1.0 : 0.0;
}

static double dot(const double *a, const double *b, int n) {
  double s = 0.0;
  for (int j = 0; j < n; j++) s += a[j] * b[j];
  return s;
}

static double log_sigmoid(double m) { return m > 0.0 ? -log1p(exp(-m)) : m - log1p(exp(m)); }

/* ---- the tree's soft values ----------------------------------------------------------------
   The follower's fixed point on the tree, computed by one backward pass: V(done) = 0 and
   V(s) = lambda log sum_a exp(Q(s,a) / lambda), Q = r + gamma V(child). The leader reward of
   the KL-score objective needs V(root) and its gradient E_pi[phi] (the envelope theorem: the
   gradient of a soft value is the expected discounted gradient of the reward). */

static double final_scale(const cbrl_problem *p, const rlhf *rl) { return pow(p->gamma, -(double)(rl->L - 1)); }

/* Fills value (n_states) at x in prompt c; returns V(root). */
static double tree_values(const cbrl_problem *p, const rlhf *rl, int c, const double *x, double *value) {
  int V = rl->V, L = rl->L;
  double lam = p->lambda, g = final_scale(p, rl), q[CBRL_RLHF_MAX_VOCAB];
  value[rl->done] = 0.0;
  for (int t = L - 1; t >= 0; t--)
    for (int s = rl->off[t]; s < rl->off[t + 1]; s++) {
      const double *lr = rl->log_ref + ((size_t)c * rl->n_inner + s) * V;
      int child = t + 1 < L ? rl->off[t + 1] + (s - rl->off[t]) * V : -1;
      for (int a = 0; a < V; a++) {
        if (child < 0) q[a] = lam * lr[a] + g * dot(x, rl->phi + ((size_t)c * rl->n_seq + (s - rl->off[t]) * V + a) * rl->dim, rl->dim);
        else q[a] = lam * lr[a] + p->gamma * value[child + a];
      }
      value[s] = cbrl_soft_value(q, V, lam);
    }
  return value[0];
}

/* Adds weight E_pi[phi(y)] (dim) at x in prompt c to grad, with scratch of 2 n_states. */
static void add_mean_features(const cbrl_problem *p, const rlhf *rl, int c, const double *x, double weight,
                              double *grad, double *scratch) {
  int V = rl->V, L = rl->L;
  double *value = scratch, *occ = scratch + p->n_states, lam = p->lambda, g = final_scale(p, rl);
  tree_values(p, rl, c, x, value);
  memset(occ, 0, sizeof(double) * (size_t)p->n_states);
  occ[0] = 1.0;
  for (int t = 0; t < L; t++)
    for (int s = rl->off[t]; s < rl->off[t + 1]; s++) {
      const double *lr = rl->log_ref + ((size_t)c * rl->n_inner + s) * V;
      int code = s - rl->off[t];
      for (int a = 0; a < V; a++) {
        if (t + 1 < L) {
          int child = rl->off[t + 1] + code * V + a;
          occ[child] = occ[s] * exp((lam * lr[a] + p->gamma * value[child] - value[s]) / lam);
        } else {
          const double *f = rl->phi + ((size_t)c * rl->n_seq + code * V + a) * rl->dim;
          double u = occ[s] * exp((lam * lr[a] + g * dot(x, f, rl->dim) - value[s]) / lam);
          for (int j = 0; j < rl->dim; j++) grad[j] += weight * u * f[j];
        }
      }
    }
}

/* ---- the problem ------------------------------------------------------------------------ */

static int64_t rlhf_n_transitions(const cbrl_problem *p, int context) {
  const rlhf *rl = p->impl;
  (void)context;
  return (int64_t)rl->n_inner * rl->V;
}

static int rlhf_structure(const cbrl_problem *p, int context, cbrl_mdp *m) {
  const rlhf *rl = p->impl;
  int V = rl->V;
  int64_t k = 0;
  (void)context;
  for (int t = 0; t < rl->L; t++)
    for (int s = rl->off[t]; s < rl->off[t + 1]; s++)
      for (int a = 0; a < V; a++) {
        m->row[(size_t)s * V + a] = k;
        m->next[k] = t + 1 < rl->L ? rl->off[t + 1] + (s - rl->off[t]) * V + a : rl->done;
        m->prob[k++] = 1.0;
      }
  for (int a = 0; a <= V; a++) m->row[(size_t)rl->done * V + a] = k;
  m->terminal[rl->done] = 1;
  m->mu[0] = 1.0;
  return 0;
}

/* The KL-score leader reward at the final token of y (docs/ENVIRONMENTS.md 7):
   rbar = (s(y) - x . phi(y) + V(root)) / gamma_L^(L-1). Under the follower's pi its
   expectation is E[s] - lambda KL (the follower's return minus its reward), whatever the
   leader's discount. */
static int rlhf_evaluate(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m, void *scratch) {
  const rlhf *rl = p->impl;
  int V = rl->V, L = rl->L, c = context;
  double lam = p->lambda, g = final_scale(p, rl), root = 0.0;
  double lead = pow(p->leader_gamma, -(double)(L - 1));
  if (rl->objective == CBRL_RLHF_KL_SCORE) root = tree_values(p, rl, c, x, scratch);
  for (int t = 0; t < L; t++)
    for (int s = rl->off[t]; s < rl->off[t + 1]; s++)
      for (int a = 0; a < V; a++) {
        size_t sa = (size_t)s * V + a;
        m->r[sa] = lam * rl->log_ref[((size_t)c * rl->n_inner + s) * V + a];
        m->rbar[sa] = 0.0;
        if (t + 1 < L) continue;
        int y = (s - rl->off[t]) * V + a;
        double reward = g * dot(x, rl->phi + ((size_t)c * rl->n_seq + y) * rl->dim, rl->dim);
        m->r[sa] += reward;
        if (rl->objective == CBRL_RLHF_KL_SCORE)
          m->rbar[sa] = lead * (rl->score[(size_t)c * rl->n_seq + y] - reward / g + root);
      }
  for (int a = 0; a < V; a++) {
    m->r[(size_t)rl->done * V + a] = -lam * log((double)V);
    m->rbar[(size_t)rl->done * V + a] = 0.0;
  }
  return 0;
}

static int rlhf_vjp(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                    const cbrl_cotangent *ct, double *grad, void *scratch) {
  const rlhf *rl = p->impl;
  int V = rl->V, L = rl->L, c = context, d = rl->dim;
  double g = final_scale(p, rl), lead = pow(p->leader_gamma, -(double)(L - 1)), total = 0.0;
  int with_rbar = ct->rbar && rl->objective == CBRL_RLHF_KL_SCORE;
  (void)m;
  for (int s = rl->off[L - 1]; s < rl->off[L]; s++)
    for (int a = 0; a < V; a++) {
      size_t sa = (size_t)s * V + a;
      double w = (ct->r ? g * ct->r[sa] : 0.0) - (with_rbar ? lead * ct->rbar[sa] : 0.0);
      if (with_rbar) total += ct->rbar[sa];
      if (w == 0.0) continue;
      const double *f = rl->phi + ((size_t)c * rl->n_seq + (s - rl->off[L - 1]) * V + a) * d;
      for (int j = 0; j < d; j++) grad[j] += w * f[j];
    }
  if (total != 0.0) add_mean_features(p, rl, c, x, lead * total, grad, scratch);
  return 0;
}

/* The dense Jacobians for AMD: g phi in r and (E_pi[phi] - phi) / gamma_L^(L-1) in rbar at the
   final tokens, zero elsewhere. */
static int rlhf_reward_jacobian(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                                double *jac_r, double *jac_rbar, void *scratch) {
  const rlhf *rl = p->impl;
  int V = rl->V, L = rl->L, c = context, d = rl->dim;
  double g = final_scale(p, rl), lead = pow(p->leader_gamma, -(double)(L - 1)), mean[CBRL_RLHF_MAX_DIM] = {0};
  (void)m;
  size_t n = (size_t)p->n_states * V * d;
  if (jac_r) memset(jac_r, 0, sizeof(double) * n);
  if (jac_rbar) memset(jac_rbar, 0, sizeof(double) * n);
  int with_rbar = jac_rbar && rl->objective == CBRL_RLHF_KL_SCORE;
  if (with_rbar) add_mean_features(p, rl, c, x, 1.0, mean, scratch);
  for (int s = rl->off[L - 1]; s < rl->off[L]; s++)
    for (int a = 0; a < V; a++) {
      size_t sa = (size_t)s * V + a;
      const double *f = rl->phi + ((size_t)c * rl->n_seq + (s - rl->off[L - 1]) * V + a) * d;
      for (int j = 0; j < d; j++) {
        if (jac_r) jac_r[sa * d + j] = g * f[j];
        if (with_rbar) jac_rbar[sa * d + j] = lead * (mean[j] - f[j]);
      }
    }
  return 0;
}

static void rlhf_destroy(cbrl_problem *p) { rlhf_free(p->impl); }

static const cbrl_problem_ops rlhf_ops = {rlhf_n_transitions, rlhf_structure, rlhf_evaluate, rlhf_vjp,
                                          rlhf_destroy, rlhf_reward_jacobian, NULL, NULL};

/* ---- the DPO-form objective --------------------------------------------------------------
   f = mean over the prompt's training pairs of log sigmoid(m_k), m_k = lambda (log pi(y+) -
   log pi_ref(y+) - log pi(y-) + log pi_ref(y-)), log pi(y) = sum_t log pi(y_t | y_<t). As in the
   built-in preferences (docs/MODEL.md 3.1), pi df/dpi = sum_k lambda sigmoid(-m_k) (n_k+ - n_k-)
   / n, n the visit counts; the log pi_ref offsets are constants of each pair. */

static int dpo_evaluate(const cbrl_objective *o, const cbrl_objective_input *in, cbrl_objective_output *out) {
  const rlhf *rl = o->impl;
  const double *log_pi = in->follower->log_pi;
  int c = in->context, V = rl->V, n = 0;
  double lam = in->problem->lambda, f = 0.0;
  for (int k = 0; k < rl->n_pairs; k++) n += rl->pair[4 * k] == c && !rl->pair[4 * k + 3];
  for (int k = 0; k < rl->n_pairs; k++) {
    const int *pk = rl->pair + 4 * k;
    if (pk[0] != c || pk[3]) continue;
    double margin = lam * pair_log_ratio(rl, c, pk, log_pi);
    f += log_sigmoid(margin) / n;
    if (!out->df_dx) continue;
    double w = lam * exp(log_sigmoid(-margin)) / n;
    for (int j = 0; j < 2; j++) {
      int tokens[CBRL_RLHF_MAX_LENGTH];
      decode(rl, pk[1 + j], tokens);
      for (int t = 0; t < rl->L; t++) out->df_dlog_pi[(size_t)state_before(rl, pk[1 + j], t) * V + tokens[t]] += j ? -w : w;
    }
  }
  out->f = f;
  return isfinite(f) ? 0 : CBRL_ENONFINITE;
}

static const cbrl_objective_ops dpo_ops = {dpo_evaluate, NULL}; /* impl is the problem's */

/* ---- building it ------------------------------------------------------------------------ */

void cbrl_rlhf_opts_default(cbrl_rlhf_opts *o) {
  memset(o, 0, sizeof *o);
  o->vocab = 4;
  o->length = 4;
  o->n_prompts = 3;
  o->lambda = 1.0;
  o->gamma = 0.99998;
  o->leader_gamma = 0.9;
  o->ref_scale = 1.0;
  o->true_norm = 3.0;
  o->n_train = 300;
  o->n_heldout = 300;
  o->objective = CBRL_RLHF_KL_SCORE;
}

static int n_states_of(int V, int L) {
  long n = 1, level = 1;
  for (int t = 1; t < L && n <= CBRL_RLHF_MAX_STATES; t++) level *= V, n += level;
  return n + 1 > CBRL_RLHF_MAX_STATES ? -1 : (int)n + 1;
}

static int valid(const cbrl_rlhf_opts *o) {
  return o->vocab >= 2 && o->vocab <= CBRL_RLHF_MAX_VOCAB && o->length >= 2 && o->length <= CBRL_RLHF_MAX_LENGTH &&
         n_states_of(o->vocab, o->length) > 0 && o->n_prompts >= 1 && o->n_prompts <= CBRL_RLHF_MAX_PROMPTS &&
         o->lambda > 0.0 && isfinite(o->lambda) && o->gamma > 0.0 && o->gamma < 1.0 && o->leader_gamma > 0.0 &&
         o->leader_gamma < 1.0 && o->ref_scale >= 0.0 && isfinite(o->ref_scale) && o->true_norm >= 0.0 &&
         isfinite(o->true_norm) && o->n_train >= 0 && o->n_heldout >= 0 && o->n_train <= 1000000 &&
         o->n_heldout <= 1000000 && (o->objective == CBRL_RLHF_KL_SCORE || o->objective == CBRL_RLHF_PREFERENCES) &&
         o->n_pairs >= 0 && (!o->n_pairs || o->pairs);
}

/* The first thing wrong with a given pair, in err; 0 if none. */
static int check_pair(const cbrl_rlhf_opts *o, int k, char *err, size_t err_size) {
  const cbrl_rlhf_pair *q = o->pairs + k;
  if (q->prompt < 0 || q->prompt >= o->n_prompts) {
    snprintf(err, err_size, "pairs[%d]: prompt: %d is out of range 0..%d", k, q->prompt, o->n_prompts - 1);
    return CBRL_EINVAL;
  }
  if (q->length != o->length) {
    snprintf(err, err_size, "pairs[%d]: length: %d tokens, but every sequence has %d", k, q->length, o->length);
    return CBRL_EINVAL;
  }
  for (int j = 0; j < 2; j++) {
    const int *y = j ? q->rejected : q->preferred;
    const char *field = j ? "rejected" : "preferred";
    if (!y) {
      snprintf(err, err_size, "pairs[%d]: %s: missing", k, field);
      return CBRL_EINVAL;
    }
    for (int t = 0; t < q->length; t++)
      if (y[t] < 0 || y[t] >= o->vocab) {
        snprintf(err, err_size, "pairs[%d]: %s[%d]: token %d is outside the vocabulary 0..%d", k, field, t, y[t],
                 o->vocab - 1);
        return CBRL_EINVAL;
      }
  }
  return 0;
}

/* Draws a sequence from pi_ref of prompt c. */
static int sample_reference(const rlhf *rl, int c, cbrl_rng *rng) {
  int s = 0, code = 0;
  for (int t = 0; t < rl->L; t++) {
    const double *lr = rl->log_ref + ((size_t)c * rl->n_inner + s) * rl->V;
    double u = cbrl_rng_uniform(rng), acc = 0.0;
    int a = 0;
    for (; a < rl->V - 1; a++)
      if (u < (acc += exp(lr[a]))) break;
    code = code * rl->V + a;
    if (t + 1 < rl->L) s = rl->off[t + 1] + code;
  }
  return code;
}

/* pi_ref, theta*, the features, the pairs (generated or given) and the training score. */
static int fill(rlhf *rl, const cbrl_rlhf_opts *o) {
  int V = rl->V, P = rl->P, d = rl->dim;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, o->seed, 0);
  for (int c = 0; c < P; c++)
    for (int s = 0; s < rl->n_inner; s++) {
      double *lr = rl->log_ref + ((size_t)c * rl->n_inner + s) * V, mx = -INFINITY, z = 0.0;
      for (int a = 0; a < V; a++) lr[a] = o->ref_scale * cbrl_rng_normal(&rng), mx = fmax(mx, lr[a]);
      for (int a = 0; a < V; a++) z += exp(lr[a] - mx);
      for (int a = 0; a < V; a++) lr[a] -= mx + log(z);
    }
  cbrl_rng_seed(&rng, o->seed, 1);
  double norm = 0.0;
  for (int j = 0; j < d; j++) rl->theta[j] = cbrl_rng_normal(&rng), norm += rl->theta[j] * rl->theta[j];
  for (int j = 0; j < d; j++) rl->theta[j] *= norm > 0.0 ? o->true_norm / sqrt(norm) : 0.0;
  for (int c = 0; c < P; c++)
    for (int y = 0; y < rl->n_seq; y++) {
      int tokens[CBRL_RLHF_MAX_LENGTH];
      decode(rl, y, tokens);
      features(rl, c, tokens, rl->phi + ((size_t)c * rl->n_seq + y) * d);
    }
  if (o->n_pairs) {
    for (int k = 0; k < o->n_pairs; k++) {
      int *pk = rl->pair + 4 * k;
      pk[0] = o->pairs[k].prompt;
      pk[1] = encode(rl, o->pairs[k].preferred);
      pk[2] = encode(rl, o->pairs[k].rejected);
      pk[3] = o->pairs[k].heldout != 0;
    }
  } else {
    /* Both sequences from pi_ref (a distinct second one where possible), labelled by the
       Bradley-Terry model of the hidden reward theta* . phi. */
    cbrl_rng_seed(&rng, o->seed, 2);
    int k = 0;
    for (int c = 0; c < P; c++)
      for (int i = 0; i < o->n_train + o->n_heldout; i++, k++) {
        int y1 = sample_reference(rl, c, &rng), y2 = sample_reference(rl, c, &rng);
        for (int tries = 0; y2 == y1 && tries < 100; tries++) y2 = sample_reference(rl, c, &rng);
        const double *base = rl->phi + (size_t)c * rl->n_seq * d;
        double m = dot(rl->theta, base + (size_t)y1 * d, d) - dot(rl->theta, base + (size_t)y2 * d, d);
        int first = cbrl_rng_uniform(&rng) < exp(log_sigmoid(m));
        int *pk = rl->pair + 4 * k;
        pk[0] = c, pk[1] = first ? y1 : y2, pk[2] = first ? y2 : y1, pk[3] = i >= o->n_train;
      }
  }
  /* s(y) = 2 (wins - losses) / comparisons over the training pairs (0 for a sequence never
     compared): for a sequence compared with random opponents, 2 (2 P(win) - 1) = 2 tanh(delta / 2)
     ~ delta, its reward above the mean opponent's. A + 1 in the denominator, shrinking the rarely
     compared towards 0, cost 0.009 of held-out log-likelihood at the optimum
     (docs/results/rlhf.md). */
  double *n = calloc((size_t)P * rl->n_seq, sizeof(double));
  if (!n) return CBRL_ENOMEM;
  for (int k = 0; k < rl->n_pairs; k++) {
    const int *pk = rl->pair + 4 * k;
    if (pk[3]) continue;
    rl->score[(size_t)pk[0] * rl->n_seq + pk[1]] += 2.0;
    rl->score[(size_t)pk[0] * rl->n_seq + pk[2]] -= 2.0;
    n[(size_t)pk[0] * rl->n_seq + pk[1]] += 1.0;
    n[(size_t)pk[0] * rl->n_seq + pk[2]] += 1.0;
  }
  for (size_t i = 0; i < (size_t)P * rl->n_seq; i++) rl->score[i] /= n[i] > 0.0 ? n[i] : 1.0;
  free(n);
  return 0;
}

int cbrl_rlhf_create(cbrl_problem **out, const cbrl_rlhf_opts *o, char *err, size_t err_size) {
  char scratch_err[8];
  if (!err) err = scratch_err, err_size = sizeof scratch_err;
  if (err_size) err[0] = '\0';
  if (!out) return CBRL_EINVAL;
  *out = NULL;
  if (!o || !valid(o)) {
    snprintf(err, err_size, "rlhf: invalid options");
    return CBRL_EINVAL;
  }
  for (int k = 0; k < o->n_pairs; k++)
    if (check_pair(o, k, err, err_size)) return CBRL_EINVAL;
  rlhf *rl = calloc(1, sizeof *rl);
  if (!rl) return CBRL_ENOMEM;
  rl->V = o->vocab, rl->L = o->length, rl->P = o->n_prompts, rl->dim = o->vocab + 1;
  rl->objective = o->objective;
  rl->off[0] = 0;
  for (int t = 0, level = 1; t < rl->L; t++, level *= rl->V) rl->off[t + 1] = rl->off[t] + level;
  rl->n_inner = rl->done = rl->off[rl->L];
  rl->n_seq = (rl->off[rl->L] - rl->off[rl->L - 1]) * rl->V;
  rl->n_pairs = o->n_pairs ? o->n_pairs : rl->P * (o->n_train + o->n_heldout);
  rl->log_ref = malloc(sizeof(double) * (size_t)rl->P * rl->n_inner * rl->V);
  rl->phi = malloc(sizeof(double) * (size_t)rl->P * rl->n_seq * rl->dim);
  rl->score = calloc((size_t)rl->P * rl->n_seq, sizeof(double));
  rl->pair = malloc(sizeof(int) * 4 * (size_t)(rl->n_pairs ? rl->n_pairs : 1));
  int rc = !rl->log_ref || !rl->phi || !rl->score || !rl->pair ? CBRL_ENOMEM : fill(rl, o);
  cbrl_problem *p = NULL;
  if (!rc) rc = cbrl_problem_create(&p, &rlhf_ops, rl, rl->n_inner + 1, rl->V, rl->dim, rl->P);
  if (rc) {
    rlhf_free(rl);
    return rc;
  }
  p->gamma = o->gamma;
  p->leader_gamma = o->leader_gamma;
  p->lambda = o->lambda;
  p->flags = CBRL_DEPENDS_R | CBRL_DEPENDS_RBAR;
  p->scratch_size = sizeof(double) * 2 * (size_t)p->n_states;
  snprintf(p->name, sizeof p->name, o->objective == CBRL_RLHF_KL_SCORE ? "rlhf" : "rlhf-dpo");
  if ((rc = cbrl_problem_validate(p))) {
    cbrl_problem_free(p);
    snprintf(err, err_size, "rlhf: %s", cbrl_strerror(rc));
    return rc;
  }
  if (o->objective == CBRL_RLHF_PREFERENCES) {
    cbrl_objective *obj;
    if (!(rc = cbrl_objective_create(&obj, &dpo_ops, rl, p, 0))) {
      snprintf(obj->name, sizeof obj->name, "rlhf-preferences");
      rc = cbrl_problem_set_objective(p, obj);
      if (rc) cbrl_objective_free(obj);
    }
    if (rc) {
      cbrl_problem_free(p);
      return rc;
    }
  }
  *out = p;
  return 0;
}

/* ---- reading it ------------------------------------------------------------------------- */

static const rlhf *impl_of(const cbrl_problem *p) {
  return p && p->ops == &rlhf_ops ? p->impl : NULL;
}

int cbrl_rlhf_features(const cbrl_problem *p, int prompt, const int *tokens, double *phi) {
  const rlhf *rl = impl_of(p);
  if (!rl || !tokens || !phi || prompt < 0 || prompt >= rl->P) return CBRL_EINVAL;
  for (int t = 0; t < rl->L; t++)
    if (tokens[t] < 0 || tokens[t] >= rl->V) return CBRL_EINVAL;
  features(rl, prompt, tokens, phi);
  return 0;
}

int cbrl_rlhf_true_weights(const cbrl_problem *p, double *theta) {
  const rlhf *rl = impl_of(p);
  if (!rl || !theta) return CBRL_EINVAL;
  memcpy(theta, rl->theta, sizeof(double) * (size_t)rl->dim);
  return 0;
}

int cbrl_rlhf_state(const cbrl_problem *p, const int *tokens, int t) {
  const rlhf *rl = impl_of(p);
  if (!rl || t < 0 || t >= rl->L || (t && !tokens)) return CBRL_EINVAL;
  int code = 0;
  for (int k = 0; k < t; k++) {
    if (tokens[k] < 0 || tokens[k] >= rl->V) return CBRL_EINVAL;
    code = code * rl->V + tokens[k];
  }
  return rl->off[t] + code;
}

int cbrl_rlhf_fit_compute(const cbrl_problem *p, cbrl_exact *e, const double *x, cbrl_rlhf_fit *out) {
  const rlhf *rl = impl_of(p);
  if (!rl || !e || !x || !out) return CBRL_EINVAL;
  int V = rl->V;
  double lam = p->lambda, sums[2][2] = {{0}}, kl = 0.0;
  memset(out, 0, sizeof *out);
  double *occ = malloc(sizeof(double) * (size_t)p->n_states);
  if (!occ) return CBRL_ENOMEM;
  int rc = 0;
  for (int c = 0; c < rl->P && !rc; c++) {
    double f, per[2][2] = {{0}}; /* [held out][log-likelihood, accuracy] */
    int n[2] = {0, 0};
    rc = cbrl_exact_context(e, c, x, &f, NULL);
    if (rc == CBRL_ENOCONV) rc = 0;
    if (rc) break;
    const double *log_pi = cbrl_exact_follower(e, c)->log_pi;
    for (int k = 0; k < rl->n_pairs; k++) {
      const int *pk = rl->pair + 4 * k;
      if (pk[0] != c) continue;
      double m = lam * pair_log_ratio(rl, c, pk, log_pi);
      per[pk[3]][0] += log_sigmoid(m);
      per[pk[3]][1] += fabs(m) <= 1e-9 ? 0.5 : m > 0.0 ? 1.0 : 0.0; /* rounding is no preference */
      n[pk[3]]++;
    }
    for (int h = 0; h < 2; h++)
      for (int i = 0; i < 2; i++) sums[h][i] += n[h] ? per[h][i] / n[h] / rl->P : 0.0;
    /* KL of the sequence distributions: sum over inner states of occ pi (log pi - log pi_ref). */
    memset(occ, 0, sizeof(double) * (size_t)p->n_states);
    occ[0] = 1.0;
    for (int t = 0; t < rl->L; t++)
      for (int s = rl->off[t]; s < rl->off[t + 1]; s++)
        for (int a = 0; a < V; a++) {
          double lp = log_pi[(size_t)s * V + a], u = occ[s] * exp(lp);
          kl += u * (lp - rl->log_ref[((size_t)c * rl->n_inner + s) * V + a]) / rl->P;
          if (t + 1 < rl->L) occ[rl->off[t + 1] + (s - rl->off[t]) * V + a] = u;
        }
  }
  free(occ);
  if (rc) return rc;
  double xx = dot(x, x, rl->dim), tt = dot(rl->theta, rl->theta, rl->dim);
  out->train_loglik = sums[0][0];
  out->heldout_loglik = sums[1][0];
  out->heldout_accuracy = sums[1][1];
  out->cosine = xx > 0.0 && tt > 0.0 ? dot(x, rl->theta, rl->dim) / sqrt(xx * tt) : 0.0;
  out->kl = kl;
  return 0;
}

/* ---- the exact optimum ------------------------------------------------------------------ */

/* Solves A z = b for a symmetric positive definite A (n x n, overwritten) by Cholesky; returns
   0, or -1 if A is not positive definite. */
static int cholesky_solve(double *A, const double *b, double *z, int n) {
  for (int j = 0; j < n; j++) {
    double dj = A[j * n + j];
    for (int k = 0; k < j; k++) dj -= A[j * n + k] * A[j * n + k];
    if (!(dj > 0.0)) return -1;
    A[j * n + j] = sqrt(dj);
    for (int i = j + 1; i < n; i++) {
      double v = A[i * n + j];
      for (int k = 0; k < j; k++) v -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = v / A[j * n + j];
    }
  }
  for (int i = 0; i < n; i++) {
    double v = b[i];
    for (int k = 0; k < i; k++) v -= A[i * n + k] * z[k];
    z[i] = v / A[i * n + i];
  }
  for (int i = n - 1; i >= 0; i--) {
    double v = z[i];
    for (int k = i + 1; k < n; k++) v -= A[k * n + i] * z[k];
    z[i] = v / A[i * n + i];
  }
  return 0;
}

int cbrl_rlhf_optimum(const cbrl_problem *p, double *x, double *F) {
  const rlhf *rl = impl_of(p);
  if (!rl || !x) return CBRL_EINVAL;
  int d = rl->dim, rc;
  cbrl_exact *e;
  if ((rc = cbrl_exact_create(&e, p))) return rc;
  double g[CBRL_RLHF_MAX_DIM], gp[CBRL_RLHF_MAX_DIM], gm[CBRL_RLHF_MAX_DIM], z[CBRL_RLHF_MAX_DIM],
      xt[CBRL_RLHF_MAX_DIM], H[CBRL_RLHF_MAX_DIM * CBRL_RLHF_MAX_DIM], f = 0.0, ft, h = 1e-5;
  memset(x, 0, sizeof(double) * (size_t)d);
  rc = CBRL_ENOCONV;
  for (int it = 0; it < 200; it++) {
    int err = cbrl_exact_evaluate(e, x, &f, NULL, g);
    if (err && err != CBRL_ENOCONV) {
      rc = err;
      break;
    }
    double gmax = 0.0;
    for (int j = 0; j < d; j++) gmax = fmax(gmax, fabs(g[j]));
    if (gmax < 1e-8) {
      rc = 0;
      break;
    }
    for (int j = 0; j < d; j++) {
      memcpy(xt, x, sizeof(double) * (size_t)d);
      xt[j] = x[j] + h;
      cbrl_exact_evaluate(e, xt, &ft, NULL, gp);
      xt[j] = x[j] - h;
      cbrl_exact_evaluate(e, xt, &ft, NULL, gm);
      for (int i = 0; i < d; i++) H[i * d + j] = -(gp[i] - gm[i]) / (2.0 * h);
    }
    for (int i = 0; i < d; i++)
      for (int j = 0; j < i; j++) H[i * d + j] = H[j * d + i] = 0.5 * (H[i * d + j] + H[j * d + i]);
    /* Newton's step where -H is positive definite, else the gradient itself. */
    if (cholesky_solve(H, g, z, d)) memcpy(z, g, sizeof(double) * (size_t)d);
    double step = 1.0;
    for (; step > 1e-8; step *= 0.5) {
      for (int j = 0; j < d; j++) xt[j] = x[j] + step * z[j];
      cbrl_exact_evaluate(e, xt, &ft, NULL, NULL);
      if (ft >= f - 1e-13 * fmax(1.0, fabs(f))) break;
    }
    memcpy(x, xt, sizeof(double) * (size_t)d);
  }
  if (F) *F = f;
  cbrl_exact_free(e);
  return rc;
}
