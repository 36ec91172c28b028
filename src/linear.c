/* Restarted GMRES with modified Gram-Schmidt and Givens rotations. The Markov matrices
   I - gamma P_pi are never formed: each product is one pass over the CSR transitions. */
#include "linear.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

int cbrl__linear_init(cbrl__linear *l, int n, int krylov) {
  memset(l, 0, sizeof *l);
  if (n <= 0 || krylov <= 0) return CBRL_EINVAL;
  if (krylov > n) krylov = n;
  l->n = n;
  l->krylov = krylov;
  l->basis = malloc(sizeof(double) * (size_t)(krylov + 1) * (size_t)n);
  l->hess = calloc((size_t)(krylov + 1) * krylov, sizeof(double));
  l->cs = malloc(sizeof(double) * krylov);
  l->sn = malloc(sizeof(double) * krylov);
  l->g = malloc(sizeof(double) * (krylov + 1));
  l->y = malloc(sizeof(double) * krylov);
  l->work = malloc(sizeof(double) * (size_t)n);
  if (!l->basis || !l->hess || !l->cs || !l->sn || !l->g || !l->y || !l->work) {
    cbrl__linear_close(l);
    return CBRL_ENOMEM;
  }
  return 0;
}

void cbrl__linear_close(cbrl__linear *l) {
  free(l->basis);
  free(l->hess);
  free(l->cs);
  free(l->sn);
  free(l->g);
  free(l->y);
  free(l->work);
  memset(l, 0, sizeof *l);
}

void cbrl__markov_apply(const cbrl__markov *op, const double *x, double *y) {
  const cbrl_mdp *m = op->m;
  int S = m->n_states, A = m->n_actions;
  if (!op->transpose) {
    for (int s = 0; s < S; s++) {
      double acc = 0.0;
      if (!m->terminal[s]) {
        for (int a = 0; a < A; a++) {
          size_t sa = (size_t)s * A + a;
          double e = 0.0;
          for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) e += m->prob[k] * x[m->next[k]];
          acc += op->pi[sa] * e;
        }
      }
      y[s] = x[s] - op->gamma * acc;
    }
  } else {
    memcpy(y, x, sizeof(double) * (size_t)S);
    for (int s = 0; s < S; s++) {
      if (m->terminal[s] || x[s] == 0.0) continue;
      for (int a = 0; a < A; a++) {
        size_t sa = (size_t)s * A + a;
        double c = op->gamma * op->pi[sa] * x[s];
        for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) y[m->next[k]] -= c * m->prob[k];
      }
    }
  }
}

static double dot(const double *a, const double *b, int n) {
  double s = 0.0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

int cbrl__linear_solve(cbrl__linear *l, const cbrl__markov *op, const double *b, double *x,
                       double tol, int max_iterations, int64_t *iterations, double *residual) {
  int n = l->n, mk = l->krylov;
  double *r = l->work;
  double bnorm = sqrt(dot(b, b, n));
  int used = 0;
  for (;;) {
    cbrl__markov_apply(op, x, r);
    for (int i = 0; i < n; i++) r[i] = b[i] - r[i];
    double beta = sqrt(dot(r, r, n));
    double xnorm = sqrt(dot(x, x, n));
    if (residual) *residual = beta;
    if (!isfinite(beta)) return CBRL_ENONFINITE;
    /* Below this floor the residual is rounding noise of one product. */
    double floor_tol = 8.0 * DBL_EPSILON * (bnorm + 2.0 * xnorm);
    double target = tol > floor_tol ? tol : floor_tol;
    if (beta <= target) return 0;
    if (used >= max_iterations) return CBRL_ENOCONV;
    double *v0 = l->basis;
    for (int i = 0; i < n; i++) v0[i] = r[i] / beta;
    memset(l->g, 0, sizeof(double) * (mk + 1));
    l->g[0] = beta;
    int j = 0;
    while (j < mk && used < max_iterations) {
      double *vj = l->basis + (size_t)j * n, *w = l->basis + (size_t)(j + 1) * n;
      double *h = l->hess + (size_t)j * (mk + 1);
      cbrl__markov_apply(op, vj, w);
      used++;
      if (iterations) (*iterations)++;
      for (int i = 0; i <= j; i++) {
        double *vi = l->basis + (size_t)i * n;
        h[i] = dot(w, vi, n);
        for (int t = 0; t < n; t++) w[t] -= h[i] * vi[t];
      }
      h[j + 1] = sqrt(dot(w, w, n));
      if (h[j + 1] > 0.0)
        for (int t = 0; t < n; t++) w[t] /= h[j + 1];
      for (int i = 0; i < j; i++) {
        double t = l->cs[i] * h[i] + l->sn[i] * h[i + 1];
        h[i + 1] = -l->sn[i] * h[i] + l->cs[i] * h[i + 1];
        h[i] = t;
      }
      double den = hypot(h[j], h[j + 1]);
      if (den == 0.0) den = 1e-300;
      l->cs[j] = h[j] / den;
      l->sn[j] = h[j + 1] / den;
      h[j] = den;
      h[j + 1] = 0.0;
      l->g[j + 1] = -l->sn[j] * l->g[j];
      l->g[j] = l->cs[j] * l->g[j];
      j++;
      if (fabs(l->g[j]) <= target) break;
    }
    /* Back-substitute H y = g and update x. */
    for (int i = j - 1; i >= 0; i--) {
      double acc = l->g[i];
      for (int c = i + 1; c < j; c++) acc -= l->hess[(size_t)c * (mk + 1) + i] * l->y[c];
      l->y[i] = acc / l->hess[(size_t)i * (mk + 1) + i];
    }
    for (int i = 0; i < j; i++) {
      const double *vi = l->basis + (size_t)i * n;
      for (int t = 0; t < n; t++) x[t] += l->y[i] * vi[t];
    }
  }
}
