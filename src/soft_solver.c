/* Soft best response (docs/MODEL.md 2). Soft policy iteration is Newton's method on the soft Bellman
   operator (its Jacobian is gamma P_pi), so a warm start converges in one or two linear
   solves where value iteration would need O(1/(1-gamma)) sweeps. */
#include "cbrl/soft_solver.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "linear.h"
#include "soft_policy.h"

void cbrl_soft_opts_default(cbrl_soft_opts *o) {
  o->tol = 1e-11;
  o->max_iterations = 100;
  o->max_linear_iterations = 20000;
  o->krylov_dim = 30;
  o->cancel = NULL;
}

int cbrl_soft_solver_init(cbrl_soft_solver *w, int n_states, int n_actions) {
  if (!w) return CBRL_EINVAL;
  memset(w, 0, sizeof *w);
  if (n_states <= 0 || n_actions <= 0) return CBRL_EINVAL;
  size_t sa = (size_t)n_states * n_actions;
  w->n_states = n_states;
  w->n_actions = n_actions;
  cbrl_soft_opts_default(&w->opts);
  w->q = calloc(sa, sizeof(double));
  w->pi = calloc(sa, sizeof(double));
  w->log_pi = calloc(sa, sizeof(double));
  w->priv.q_next = calloc(sa, sizeof(double));
  w->v = calloc((size_t)n_states, sizeof(double));
  w->priv.v_eval = calloc((size_t)n_states, sizeof(double));
  w->priv.rhs = calloc((size_t)n_states, sizeof(double));
  w->priv.column = calloc(sa + (size_t)n_states, sizeof(double));
  w->priv.linear = calloc(1, sizeof *w->priv.linear);
  w->priv.markov = calloc(1, sizeof *w->priv.markov);
  if (!w->q || !w->pi || !w->log_pi || !w->priv.q_next || !w->v || !w->priv.v_eval || !w->priv.rhs ||
      !w->priv.column || !w->priv.linear || !w->priv.markov || cbrl__linear_init(w->priv.linear, n_states, w->opts.krylov_dim) ||
      cbrl__markov_matrix_init(w->priv.markov, n_states)) {
    cbrl_soft_solver_close(w);
    return CBRL_ENOMEM;
  }
  return 0;
}

void cbrl_soft_solver_close(cbrl_soft_solver *w) {
  if (!w) return;
  if (w->priv.linear) cbrl__linear_close(w->priv.linear);
  if (w->priv.markov) cbrl__markov_matrix_close(w->priv.markov);
  free(w->priv.linear);
  free(w->priv.markov);
  free(w->q);
  free(w->pi);
  free(w->log_pi);
  free(w->priv.q_next);
  free(w->v);
  free(w->priv.v_eval);
  free(w->priv.rhs);
  free(w->priv.column);
  memset(w, 0, sizeof *w);
}

void cbrl_soft_solver_reset(cbrl_soft_solver *w) {
  w->priv.warm = 0;
  w->priv.markov_current = 0;
}

/* The soft-greedy policy of q, row by row (src/soft_policy.c). A row whose maximum is not
   finite stops the sweep before it is written. Returns 0 or CBRL_ENONFINITE. */
static int soft_policy(cbrl_soft_solver *w, const double *q, double lambda) {
  int S = w->n_states, A = w->n_actions;
  w->priv.markov_current = 0;
  for (int s = 0; s < S; s++) {
    const double *qs = q + (size_t)s * A;
    double mx = qs[0];
    for (int a = 1; a < A; a++) mx = qs[a] > mx ? qs[a] : mx;
    if (!isfinite(mx)) return CBRL_ENONFINITE;
    size_t s0 = (size_t)s * A;
    w->v[s] = cbrl_soft_policy_row(qs, A, lambda, w->pi + s0, w->log_pi + s0);
  }
  return 0;
}

int cbrl_soft_solver_set_q(cbrl_soft_solver *w, const double *q, double lambda) {
  if (!w || !q || !(lambda > 0.0)) return CBRL_EINVAL;
  memcpy(w->q, q, sizeof(double) * (size_t)w->n_states * w->n_actions);
  w->priv.warm = 1;
  return soft_policy(w, w->q, lambda);
}

/* Rebuilds P_pi when the policy or the MDP has changed since the last build. */
static int markov_for_policy(cbrl_soft_solver *w, const cbrl_mdp *m) {
  if (w->priv.markov_current && w->priv.markov_mdp == m && w->priv.markov_version == m->version) return 0;
  int err = cbrl__markov_matrix_build(w->priv.markov, m, w->pi);
  w->priv.markov_current = !err;
  w->priv.markov_mdp = m;
  w->priv.markov_version = m->version;
  return err;
}

static int linear_solve(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma, int transpose,
                        const double *b, double *x, double tol) {
  int err0 = markov_for_policy(w, m);
  if (err0) return err0;
  cbrl__markov op = {w->priv.markov, gamma, transpose, w->opts.cancel};
  w->stats.linear_solves++;
  int err = cbrl__linear_solve(w->priv.linear, &op, b, x, tol, w->opts.max_linear_iterations,
                               &w->stats.linear_iterations, &w->stats.residual);
  if (err == CBRL_ENONFINITE) w->stats.nonfinite = 1;
  return err;
}

/* Linear tolerance in the 2-norm that keeps the solution error below tol in max-norm:
   ||e||_inf <= ||r||_2 / (1 - gamma). */
static double linear_tol(double tol, double gamma, double scale) {
  return 0.5 * tol * (1.0 - gamma) * (scale > 1.0 ? scale : 1.0);
}

/* The requested accuracy (relative to max|Q|), clamped to what double precision can reach: a
   residual cannot go below rounding of about 16 eps ||x||_2 <= 16 eps sqrt(n) ||x||_inf, and
   the error is up to 1 / (1 - gamma) times that (cbrl_discount_floor). */
static double tol_floor(double tol, double gamma, int n_states) {
  double reachable = cbrl_discount_floor(gamma, n_states);
  return tol > reachable ? tol : reachable;
}

/* Near gamma = 1 that floor rises above any usable accuracy and the residual test would pass
   at once with a wrong answer (1 - gamma = 1e-15 gave an F 97 % off): such a discount is not
   solved but reported as CBRL_ENOCONV. */
static int unusable_discount(double gamma, int n_states) { return gamma > cbrl_discount_max(n_states); }

static double max_abs(const double *v, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
  return m;
}

int cbrl_soft_solver_solve(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma, double lambda) {
  if (!w || !m || m->n_states != w->n_states || m->n_actions != w->n_actions || !(lambda > 0.0) ||
      !(gamma >= 0.0 && gamma < 1.0))
    return CBRL_EINVAL;
  int S = w->n_states, A = w->n_actions;
  size_t sa_n = (size_t)S * A;
  memset(&w->stats, 0, sizeof w->stats);
  if (unusable_discount(gamma, S)) return CBRL_ENOCONV;
  if (!w->priv.warm) {
    memcpy(w->q, m->r, sa_n * sizeof(double));
    memset(w->priv.v_eval, 0, (size_t)S * sizeof(double));
  }
  int err = 0;
  for (;;) {
    if (w->opts.cancel && *w->opts.cancel) {
      err = CBRL_ECANCELED;
      break;
    }
    if ((err = soft_policy(w, w->q, lambda))) break;
    /* Residual of the soft Bellman operator: T(Q) = r + gamma P V_soft(Q). */
    cbrl_mdp_backup(m, gamma, m->r, w->v, w->priv.q_next);
    double res = 0.0, scale = 1.0;
    for (size_t i = 0; i < sa_n; i++) {
      double d = fabs(w->priv.q_next[i] - w->q[i]);
      res = d > res ? d : res;
      scale = fabs(w->q[i]) > scale ? fabs(w->q[i]) : scale;
    }
    w->stats.residual = res;
    if (!isfinite(res)) {
      err = CBRL_ENONFINITE;
      break;
    }
    if (res <= tol_floor(w->opts.tol, gamma, S) * scale) {
      memcpy(w->q, w->priv.q_next, sa_n * sizeof(double));
      err = soft_policy(w, w->q, lambda);
      w->stats.converged = !err;
      break;
    }
    if (w->stats.iterations >= w->opts.max_iterations) {
      err = CBRL_ENOCONV;
      break;
    }
    w->stats.iterations++;
    /* Newton step: Q <- Q^pi of the soft-greedy policy, with the entropy bonus in the reward. */
    for (int s = 0; s < S; s++) {
      double b = 0.0;
      for (int a = 0; a < A; a++) {
        size_t sa = (size_t)s * A + a;
        b += w->pi[sa] * (m->r[sa] - lambda * w->log_pi[sa]);
      }
      w->priv.rhs[s] = b;
    }
    err = linear_solve(w, m, gamma, 0, w->priv.rhs, w->priv.v_eval, linear_tol(w->opts.tol, gamma, scale));
    /* An inexact Newton step (ENOCONV) is corrected by the next; no memory for P_pi is not. */
    if (err == CBRL_ENONFINITE || err == CBRL_ENOMEM || err == CBRL_ECANCELED) break;
    cbrl_mdp_backup(m, gamma, m->r, w->priv.v_eval, w->q);
  }
  if (err == CBRL_ENONFINITE) {
    w->stats.nonfinite = 1;
    w->priv.warm = 0;
    return err;
  }
  w->priv.warm = 1;
  return err;
}

int cbrl_soft_solver_evaluate(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma,
                              const double *reward, double *v) {
  if (!w || !m || !reward || !v || !(gamma >= 0.0 && gamma < 1.0)) return CBRL_EINVAL;
  int S = w->n_states, A = w->n_actions;
  memset(&w->stats, 0, sizeof w->stats);
  if (unusable_discount(gamma, S)) return CBRL_ENOCONV;
  for (int s = 0; s < S; s++) {
    double b = 0.0;
    for (int a = 0; a < A; a++) b += w->pi[(size_t)s * A + a] * reward[(size_t)s * A + a];
    w->priv.rhs[s] = b;
  }
  double scale = max_abs(w->priv.rhs, (size_t)S) / (1.0 - gamma);
  int err = linear_solve(w, m, gamma, 0, w->priv.rhs, v, linear_tol(w->opts.tol, gamma, scale));
  w->stats.converged = !err;
  return err;
}

int cbrl_soft_solver_evaluate_vector(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma, int dim,
                                     const double *reward, double *v) {
  if (!w || !m || !reward || !v || dim <= 0) return CBRL_EINVAL;
  int S = w->n_states, A = w->n_actions;
  size_t sa_n = (size_t)S * A;
  double *col = w->priv.column, *vc = col + sa_n; /* allocated once, by init */
  cbrl_soft_stats total = {0};
  int err = 0;
  for (int j = 0; j < dim && !err; j++) {
    for (size_t i = 0; i < sa_n; i++) col[i] = reward[i * dim + j];
    for (int s = 0; s < S; s++) vc[s] = v[(size_t)s * dim + j];
    err = cbrl_soft_solver_evaluate(w, m, gamma, col, vc);
    for (int s = 0; s < S; s++) v[(size_t)s * dim + j] = vc[s];
    total.linear_iterations += w->stats.linear_iterations;
    total.linear_solves += w->stats.linear_solves;
    total.residual = w->stats.residual > total.residual ? w->stats.residual : total.residual;
  }
  total.converged = !err;
  w->stats = total;
  return err;
}

int cbrl_soft_solver_occupancy(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma,
                               const double *start, double *d) {
  if (!w || !m || !d || !(gamma >= 0.0 && gamma < 1.0)) return CBRL_EINVAL;
  if (!start) start = m->mu;
  memset(&w->stats, 0, sizeof w->stats);
  if (unusable_discount(gamma, w->n_states)) return CBRL_ENOCONV;
  double scale = max_abs(start, (size_t)w->n_states) / (1.0 - gamma);
  /* d solves (I - gamma P_pi)^T d = start. */
  int err = linear_solve(w, m, gamma, 1, start, d, linear_tol(w->opts.tol, gamma, scale));
  w->stats.converged = !err;
  return err;
}
