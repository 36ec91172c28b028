/* Contract design (docs/ENVIRONMENTS.md 5). States: an optional offer state (decline: the
   outside option u0, to a terminal "out"; accept: on to the project), one state per stage, and a
   terminal "done". At a stage the agent picks an effort e; an outcome o ~ P(o|e) is observed and
   paid w(stage, o) (x); the project moves on (or, with repeats, stays unless o is the best). The
   agent is risk neutral, so paying on the outcome and paying its expectation at (s, e) give the
   same Q: r(s, e) = sum_o P(o|e) w(s, o) - c(e) and rbar(s, e) = sum_o P(o|e) (v(o) - w(s, o)) are
   affine in x, and the problem is an affine one (cbrl/affine.h). */
#include "cbrl/env/contract.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/affine.h"
#include "cbrl/bounds.h"
#include "cbrl/errors.h"
#include "cbrl/rng.h"

void cbrl_contract_opts_default(cbrl_contract_opts *o) {
  memset(o, 0, sizeof *o);
  o->n_stages = 1;
  o->n_efforts = 3;
  o->n_outcomes = 3;
  o->n_types = 1;
  static const double prob[3][3] = {{0.6, 0.3, 0.1}, {0.2, 0.4, 0.4}, {0.1, 0.3, 0.6}};
  static const double cost[3] = {0.0, 0.4, 1.0}, value[3] = {0.0, 1.0, 2.0};
  for (int e = 0; e < 3; e++) {
    for (int q = 0; q < 3; q++) o->outcome_prob[e][q] = prob[e][q];
    o->effort_cost[0][e] = cost[e];
    o->outcome_value[e] = value[e];
  }
  o->type_weight[0] = 1.0;
  o->gamma = 0.9;
  o->lambda = 0.1;
}

static int valid(const cbrl_contract_opts *o) {
  if (o->n_stages < 1 || o->n_stages > CBRL_CONTRACT_MAX || o->n_efforts < 2 || o->n_efforts > CBRL_CONTRACT_MAX ||
      o->n_outcomes < 2 || o->n_outcomes > CBRL_CONTRACT_MAX || o->n_types < 1 || o->n_types > CBRL_CONTRACT_TYPES_MAX)
    return 0;
  if (!(o->type_sigma >= 0.0) || !isfinite(o->type_sigma)) return 0;
  if (!(o->gamma >= 0.0 && o->gamma < 1.0) || !(o->lambda > 0.0) || !isfinite(o->lambda) || !(o->budget >= 0.0) ||
      !isfinite(o->budget))
    return 0;
  double wsum = 0.0;
  for (int t = 0; t < o->n_types; t++) {
    if (!(o->type_weight[t] >= 0.0)) return 0;
    wsum += o->type_weight[t];
    for (int e = 0; e < o->n_efforts; e++)
      if (!isfinite(o->effort_cost[t][e])) return 0;
    if (!isfinite(o->outside_option[t])) return 0;
  }
  if (fabs(wsum - 1.0) > 1e-9) return 0;
  for (int e = 0; e < o->n_efforts; e++) {
    double sum = 0.0;
    for (int q = 0; q < o->n_outcomes; q++) {
      if (!(o->outcome_prob[e][q] >= 0.0)) return 0;
      sum += o->outcome_prob[e][q];
    }
    if (fabs(sum - 1.0) > 1e-9) return 0;
  }
  for (int q = 0; q < o->n_outcomes; q++)
    if (!isfinite(o->outcome_value[q])) return 0;
  return 1;
}

int cbrl_contract_payment_index(const cbrl_contract_opts *o, int type, int stage, int outcome) {
  return ((o->per_type ? type : 0) * o->n_stages + stage) * o->n_outcomes + outcome;
}

/* Lists the continuous types of o (docs/MODEL.md 1.2) in t: costs and weights from the rule. */
static int draw_types(const cbrl_contract_opts *o, cbrl_contract_opts *t) {
  *t = *o;
  double z[CBRL_CONTRACT_TYPES_MAX], w[CBRL_CONTRACT_TYPES_MAX];
  cbrl_rng rng;
  cbrl_rng_seed(&rng, o->type_seed, 0);
  int err = cbrl_contexts_normal(o->type_rule, o->n_types, &rng, z, w);
  if (err) return err;
  for (int k = 0; k < o->n_types; k++) {
    double theta = exp(o->type_sigma * z[k]);
    if (!isfinite(theta)) return CBRL_EINVAL; /* a type the sampler cannot give */
    for (int e = 0; e < o->n_efforts; e++) t->effort_cost[k][e] = theta * o->effort_cost[0][e];
    t->outside_option[k] = o->outside_option[0];
    t->type_weight[k] = w[k];
  }
  return 0;
}

int cbrl_contract_create(cbrl_problem **out, const cbrl_contract_opts *opts) {
  if (!out || !opts) return CBRL_EINVAL;
  cbrl_contract_opts *drawn = NULL;
  const cbrl_contract_opts *o = opts;
  if (opts->type_sigma > 0.0 && opts->n_types >= 1 && opts->n_types <= CBRL_CONTRACT_TYPES_MAX) {
    if (!(drawn = malloc(sizeof *drawn))) return CBRL_ENOMEM;
    int err = draw_types(opts, drawn);
    if (err) {
      free(drawn);
      return err;
    }
    o = drawn;
  }
  if (!valid(o)) {
    free(drawn);
    return CBRL_EINVAL;
  }
  int K = o->n_stages, E = o->n_efforts, O = o->n_outcomes, has_start = o->participation != 0;
  int base = has_start, done = base + K, outside = done + 1, S = done + 1 + has_start;
  int dim = (o->per_type ? o->n_types : 1) * K * O;
  cbrl_problem *p = NULL;
  double *coef = calloc((size_t)dim, sizeof(double)), *lo = calloc((size_t)dim, sizeof(double)),
         *hi = malloc(sizeof(double) * (size_t)dim);
  int err = coef && lo && hi ? cbrl_affine_create(&p, S, E, dim, o->n_types) : CBRL_ENOMEM;
  if (err) goto done;
  p->gamma = p->leader_gamma = o->gamma;
  p->lambda = o->lambda;
  for (int t = 0; t < o->n_types; t++) p->context_weight[t] = o->type_weight[t];
  cbrl_affine_set_terminal(p, done);
  if (has_start) cbrl_affine_set_terminal(p, outside);
  for (int t = 0; t < o->n_types && !err; t++) {
    err = cbrl_affine_add_initial(p, t, 0, 0.0, NULL);
    if (has_start) {
      /* Decline (action 0) takes u0 and ends; the E - 1 accept actions each pay -lambda log(E - 1),
         so that together they weigh as one choice in the soft response. */
      if (!err) err = cbrl_affine_add_transition(p, t, 0, 0, outside, 0.0, NULL);
      if (!err) err = cbrl_affine_set_reward(p, t, 0, 0, o->outside_option[t], NULL);
      for (int a = 1; a < E && !err; a++) {
        err = cbrl_affine_add_transition(p, t, 0, a, base, 0.0, NULL);
        if (!err) err = cbrl_affine_set_reward(p, t, 0, a, -o->lambda * log((double)(E - 1)), NULL);
      }
    }
    for (int k = 0; k < K && !err; k++) {
      int s = base + k, next = k + 1 < K ? s + 1 : done;
      for (int e = 0; e < E && !err; e++) {
        /* Next states: with repeats, only the best outcome moves on. */
        double move = 0.0, stay = 0.0;
        for (int q = 0; q < O; q++) {
          if (o->repeat && q < O - 1) stay += o->outcome_prob[e][q];
          else move += o->outcome_prob[e][q];
        }
        if (move > 0.0) err = cbrl_affine_add_transition(p, t, s, e, next, log(move), NULL);
        if (!err && stay > 0.0) err = cbrl_affine_add_transition(p, t, s, e, s, log(stay), NULL);
        double value = 0.0;
        memset(coef, 0, sizeof(double) * (size_t)dim);
        for (int q = 0; q < O; q++) {
          value += o->outcome_prob[e][q] * o->outcome_value[q];
          coef[cbrl_contract_payment_index(o, t, k, q)] = o->outcome_prob[e][q];
        }
        if (!err) err = cbrl_affine_set_reward(p, t, s, e, -o->effort_cost[t][e], coef);
        for (int j = 0; j < dim; j++) coef[j] = -coef[j];
        if (!err) err = cbrl_affine_set_leader_reward(p, t, s, e, value, coef);
      }
    }
  }
  if (!err) err = cbrl_affine_finalize(p, NULL, NULL, NULL);
  /* Limited liability, and the budget as a cap on every payment. */
  for (int j = 0; j < dim && !err; j++) hi[j] = o->budget > 0.0 ? o->budget : INFINITY;
  if (!err) err = cbrl_problem_set_bounds(p, lo, hi, NULL);
  if (!err) strcpy(p->name, "contract");
done:
  free(coef);
  free(lo);
  free(hi);
  free(drawn);
  if (err) {
    cbrl_problem_free(p);
    return err;
  }
  *out = p;
  return 0;
}

/* ---- The exact reference of one stage ---------------------------------------------------- */

/* Solves the n x n system a z = b (row-major a, overwritten) by partial pivoting; 0 if singular. */
static int solve(int n, double *a, double *b) {
  for (int c = 0; c < n; c++) {
    int piv = c;
    for (int r = c + 1; r < n; r++)
      if (fabs(a[r * n + c]) > fabs(a[piv * n + c])) piv = r;
    if (fabs(a[piv * n + c]) < 1e-12) return 0;
    for (int j = 0; j < n; j++) {
      double t = a[c * n + j];
      a[c * n + j] = a[piv * n + j];
      a[piv * n + j] = t;
    }
    double t = b[c];
    b[c] = b[piv];
    b[piv] = t;
    for (int r = 0; r < n; r++) {
      if (r == c) continue;
      double f = a[r * n + c] / a[c * n + c];
      for (int j = c; j < n; j++) a[r * n + j] -= f * a[c * n + j];
      b[r] -= f * b[c];
    }
  }
  for (int c = 0; c < n; c++) b[c] /= a[c * n + c];
  return 1;
}

/* The constraints g . w >= h of implementing effort `star`: incentive compatibility against every
   other effort, participation, w >= 0 and w <= budget. Returns their number. */
static int constraints(const cbrl_contract_opts *o, int star, double *g, double *h) {
  int O = o->n_outcomes, m = 0;
  for (int e = 0; e < o->n_efforts; e++) {
    if (e == star) continue;
    for (int q = 0; q < O; q++) g[m * O + q] = o->outcome_prob[star][q] - o->outcome_prob[e][q];
    h[m++] = o->effort_cost[0][star] - o->effort_cost[0][e];
  }
  if (o->participation) {
    /* Hard limit of the offer state: accept iff gamma (E[w|e*] - c(e*)) >= u0. */
    for (int q = 0; q < O; q++) g[m * O + q] = o->outcome_prob[star][q];
    h[m++] = o->effort_cost[0][star] + o->outside_option[0] / o->gamma;
  }
  for (int q = 0; q < O; q++, m++) {
    for (int j = 0; j < O; j++) g[m * O + j] = j == q;
    h[m] = 0.0;
  }
  for (int q = 0; o->budget > 0.0 && q < O; q++, m++) {
    for (int j = 0; j < O; j++) g[m * O + j] = -(j == q);
    h[m] = -o->budget;
  }
  return m;
}

int cbrl_contract_optimum_lp(const cbrl_contract_opts *o, double *payments, int *effort, double *value) {
  if (!o || !valid(o) || o->n_stages != 1 || o->n_types != 1 || o->n_outcomes > 6 || o->n_efforts > 8 || o->repeat ||
      o->type_sigma > 0.0)
    return CBRL_EINVAL;
  int O = o->n_outcomes;
  double g[40 * 6], h[40], a[36], b[6], w[6];
  double best = -INFINITY;
  int best_e = -1;
  double best_w[6] = {0};
  for (int star = 0; star < o->n_efforts; star++) {
    int m = constraints(o, star, g, h);
    /* Every vertex: O active constraints, enumerated as increasing index tuples. */
    int idx[6];
    for (int i = 0; i < O; i++) idx[i] = i;
    for (;;) {
      for (int i = 0; i < O; i++) {
        memcpy(a + i * O, g + idx[i] * O, sizeof(double) * O);
        b[i] = h[idx[i]];
      }
      if (solve(O, a, b)) {
        memcpy(w, b, sizeof(double) * O);
        int feasible = 1;
        for (int c = 0; c < m && feasible; c++) {
          double lhs = 0.0;
          for (int q = 0; q < O; q++) lhs += g[c * O + q] * w[q];
          feasible = lhs >= h[c] - 1e-9;
        }
        if (feasible) {
          double v = 0.0;
          for (int q = 0; q < O; q++) v += o->outcome_prob[star][q] * (o->outcome_value[q] - w[q]);
          if (v > best + 1e-12) {
            best = v;
            best_e = star;
            memcpy(best_w, w, sizeof(double) * O);
          }
        }
      }
      int i = O - 1;
      while (i >= 0 && idx[i] == m - O + i) i--;
      if (i < 0) break;
      idx[i]++;
      for (int j = i + 1; j < O; j++) idx[j] = idx[j - 1] + 1;
    }
  }
  double scale = o->participation ? o->gamma : 1.0;
  /* With an offer, the principal may also leave the agent out (value 0). */
  if (o->participation && !(best > 0.0)) best = 0.0, best_e = -1, memset(best_w, 0, sizeof best_w);
  if (payments) memcpy(payments, best_w, sizeof(double) * O);
  if (effort) *effort = best_e;
  if (value) *value = scale * best;
  return best_e >= 0 || o->participation ? 0 : CBRL_EINVAL;
}

double cbrl_contract_value_closed_form(const cbrl_contract_opts *o, const double *w) {
  int E = o->n_efforts, O = o->n_outcomes;
  double lam = o->lambda, gam = o->gamma, q[CBRL_CONTRACT_MAX], rbar[CBRL_CONTRACT_MAX];
  double v_done = lam * log((double)E); /* a terminal state's soft value: its entropy */
  double mx = -INFINITY;
  for (int e = 0; e < E; e++) {
    double pay = 0.0, val = 0.0;
    for (int k = 0; k < O; k++) pay += o->outcome_prob[e][k] * w[k], val += o->outcome_prob[e][k] * (o->outcome_value[k] - w[k]);
    q[e] = pay - o->effort_cost[0][e] + gam * v_done;
    rbar[e] = val;
    mx = fmax(mx, q[e]);
  }
  double z = 0.0, f = 0.0;
  for (int e = 0; e < E; e++) z += exp((q[e] - mx) / lam);
  for (int e = 0; e < E; e++) f += exp((q[e] - mx) / lam) / z * rbar[e];
  if (!o->participation) return f;
  double v_stage = mx + lam * log(z);
  double decline = o->outside_option[0] + gam * v_done, accept = gam * v_stage;
  double m2 = fmax(decline, accept);
  double p_accept = exp((accept - m2) / lam) / (exp((accept - m2) / lam) + exp((decline - m2) / lam));
  return p_accept * gam * f;
}
