/* Restarted GMRES with modified Gram-Schmidt, Givens rotations and a symmetric Gauss-Seidel
   right preconditioner. The Markov matrices
   I - gamma P_pi are never formed: each product is one pass over the CSR transitions. */
#include "linear.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "vector_clones.h"

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
  l->work2 = malloc(sizeof(double) * (size_t)n);
  if (!l->basis || !l->hess || !l->cs || !l->sn || !l->g || !l->y || !l->work || !l->work2) {
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
  free(l->work2);
  memset(l, 0, sizeof *l);
}

int cbrl__markov_matrix_init(cbrl__markov_matrix *mm, int n) {
  memset(mm, 0, sizeof *mm);
  mm->n = n;
  mm->row = calloc((size_t)n + 1, sizeof(int64_t));
  mm->diag = calloc((size_t)n, sizeof(double));
  mm->lower_end = calloc((size_t)n, sizeof(int64_t));
  mm->upper_begin = calloc((size_t)n, sizeof(int64_t));
  mm->slot = malloc(sizeof(int32_t) * (size_t)n);
  mm->dense = calloc((size_t)n, sizeof(double));
  if (!mm->row || !mm->diag || !mm->lower_end || !mm->upper_begin || !mm->slot || !mm->dense) {
    cbrl__markov_matrix_close(mm);
    return CBRL_ENOMEM;
  }
  for (int i = 0; i < n; i++) mm->slot[i] = -1;
  return 0;
}

void cbrl__markov_matrix_close(cbrl__markov_matrix *mm) {
  free(mm->row);
  free(mm->col);
  free(mm->val);
  free(mm->diag);
  free(mm->lower_end);
  free(mm->upper_begin);
  free(mm->slot);
  free(mm->dense);
  free(mm->kernel);
  memset(mm, 0, sizeof *mm);
}

static void swap_entries(cbrl__markov_matrix *mm, int64_t i, int64_t j) {
  int32_t c = mm->col[i];
  double v = mm->val[i];
  mm->col[i] = mm->col[j], mm->val[i] = mm->val[j];
  mm->col[j] = c, mm->val[j] = v;
}

/* Orders row s as [t < s | t == s | t > s] so the Gauss-Seidel sweeps need no branch. */
static void partition_row(cbrl__markov_matrix *mm, int s, int64_t lo, int64_t hi) {
  int64_t i = lo;
  for (int64_t k = lo; k < hi; k++)
    if (mm->col[k] < s) swap_entries(mm, i++, k);
  mm->lower_end[s] = i;
  mm->diag[s] = 0.0;
  for (int64_t k = i; k < hi; k++)
    if (mm->col[k] == s) {
      mm->diag[s] = mm->val[k];
      swap_entries(mm, i++, k);
    }
  mm->upper_begin[s] = i;
}

/* Row s of P_pi when every action's row is a run of consecutive states (s0, s0 + 1, ...) and the
   runs, taken in action order, chain into one interval (each overlaps or touches the union of
   the earlier ones); returns 0, writing nothing, when they do not. The general build below
   creates a column at its first touch and adds w P into it in (action, entry) order; here the
   columns come out in that same first-touch order (a run adds its new states below the union,
   ascending, then those above it) and each column's sum is formed in the same order in a dense
   scratch row, so the row is bitwise the general one, with no per-entry lookup and a
   vectorisable inner loop (the tax grid's 150-entry rows). */
/* d[i] += w p[i]: each element's own multiply and add, so every clone gives the same bits. */
CBRL_VECTOR_CLONES
static void add_scaled(double *restrict d, double w, const double *restrict p, int64_t n) {
  for (int64_t i = 0; i < n; i++) d[i] += w * p[i];
}

/* kern[a] is where row (s, a)'s probabilities are read: its own, or for a shifted row
   (cbrl_mdp.shifted) the same bits in the first row of its run, which stays in cache. */
static int build_row_contiguous(cbrl__markov_matrix *mm, const cbrl_mdp *m, const double *pi, int s,
                                const double *const *kern, int64_t *nnz) {
  int A = m->n_actions;
  const int64_t *row = m->row + (size_t)s * A;
  const int32_t *next = m->next;
  int32_t L = 0, H = -1;
  /* With rows_contiguous, cbrl_mdp_init has checked every row and kept its first state. */
  const int32_t *first = m->rows_contiguous ? m->row_first + (size_t)s * A : NULL;
  if (first) /* the runs are known: only whether they chain */
    for (int a = 0; a < A; a++) {
      int64_t lo = row[a], hi = row[a + 1];
      if (lo == hi) continue;
      int32_t x = first[a], y = (int32_t)(x + (hi - lo - 1));
      if (H >= L && ((int64_t)y < (int64_t)L - 1 || (int64_t)x > (int64_t)H + 1)) return 0;
      if (H < L) L = x, H = y;
      else L = x < L ? x : L, H = y > H ? y : H;
    }
  else
    for (int a = 0; a < A; a++) {
      int64_t lo = row[a], hi = row[a + 1];
      if (lo == hi) continue;
      int32_t x = next[lo], y = next[hi - 1];
      if ((int64_t)y - x != hi - lo - 1) return 0;
      int ok = 1;
      for (int64_t k = lo; k + 1 < hi; k++) ok &= next[k + 1] == next[k] + 1;
      if (!ok) return 0;
      if (H >= L && ((int64_t)y < (int64_t)L - 1 || (int64_t)x > (int64_t)H + 1)) return 0;
      if (H < L) L = x, H = y;
      else L = x < L ? x : L, H = y > H ? y : H;
    }
  int64_t base = *nnz, n = base;
  double *dense = mm->dense;
  L = 0, H = -1;
  for (int a = 0; a < A; a++) {
    int64_t lo = row[a], hi = row[a + 1];
    if (lo == hi) continue;
    int32_t x = first ? first[a] : next[lo], y = (int32_t)(x + (hi - lo - 1));
    if (H < L) {
      for (int32_t t = x; t <= y; t++) mm->col[n++] = t;
      L = x, H = y;
    } else {
      for (int32_t t = x; t < L; t++) mm->col[n++] = t;
      for (int32_t t = H + 1; t <= y; t++) mm->col[n++] = t;
      L = x < L ? x : L, H = y > H ? y : H;
    }
    double w = pi[(size_t)s * A + a], *d = dense + x;
    const double *pr = kern ? kern[a] : m->prob + lo;
    if (hi - lo >= 16) add_scaled(d, w, pr, hi - lo); /* a short row is not worth the clone's call */
    else
      for (int64_t i = 0; i < hi - lo; i++) d[i] += w * pr[i];
  }
  for (int64_t k = base; k < n; k++) {
    mm->val[k] = dense[mm->col[k]];
    dense[mm->col[k]] = 0.0;
  }
  *nnz = n;
  return 1;
}

int cbrl__markov_matrix_build(cbrl__markov_matrix *mm, const cbrl_mdp *m, const double *pi) {
  int S = m->n_states, A = m->n_actions;
  if (mm->capacity < m->n_transitions) {
    int64_t cap = m->n_transitions ? m->n_transitions : 1;
    int32_t *col = realloc(mm->col, sizeof(int32_t) * (size_t)cap);
    if (col) mm->col = col;
    double *val = realloc(mm->val, sizeof(double) * (size_t)cap);
    if (val) mm->val = val;
    if (!col || !val) return CBRL_ENOMEM;
    mm->capacity = cap;
  }
  /* Shifted rows (cbrl_mdp.shifted, when it describes these probabilities: see src/model.c) are
     read from their run's first row, which the build has just read for an earlier state. */
  const unsigned char *shifted =
      m->rows_contiguous && m->shifted && m->shifted_version == m->version && m->shifted_prob == m->prob ? m->shifted
                                                                                                          : NULL;
  if (shifted && mm->n_kernel < A) {
    const double **k = realloc(mm->kernel, sizeof *k * (size_t)A);
    if (!k) return CBRL_ENOMEM;
    mm->kernel = k, mm->n_kernel = A;
  }
  int64_t nnz = 0;
  for (int s = 0; s < S; s++) {
    if (shifted)
      for (int a = 0; a < A; a++)
        if (!shifted[(size_t)s * A + a]) mm->kernel[a] = m->prob + m->row[(size_t)s * A + a];
    mm->row[s] = nnz;
    if (m->terminal[s]) {
      mm->lower_end[s] = mm->upper_begin[s] = nnz;
      mm->diag[s] = 0.0;
      continue;
    }
    if (build_row_contiguous(mm, m, pi, s, shifted ? mm->kernel : NULL, &nnz)) {
      partition_row(mm, s, mm->row[s], nnz);
      continue;
    }
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      double w = pi[sa];
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) {
        int32_t t = m->next[k];
        if (mm->slot[t] < 0) {
          mm->slot[t] = (int32_t)(nnz - mm->row[s]);
          mm->col[nnz] = t;
          mm->val[nnz++] = 0.0;
        }
        mm->val[mm->row[s] + mm->slot[t]] += w * m->prob[k];
      }
    }
    for (int64_t k = mm->row[s]; k < nnz; k++) mm->slot[mm->col[k]] = -1;
    partition_row(mm, s, mm->row[s], nnz);
  }
  mm->row[S] = nnz;
  return 0;
}

void cbrl__markov_apply(const cbrl__markov *op, const double *x, double *y) {
  const cbrl__markov_matrix *p = op->p;
  int n = p->n;
  double g = op->gamma;
  if (!op->transpose) {
    for (int s = 0; s < n; s++) {
      double acc = 0.0;
      for (int64_t k = p->row[s]; k < p->row[s + 1]; k++) acc += p->val[k] * x[p->col[k]];
      y[s] = x[s] - g * acc;
    }
  } else {
    memcpy(y, x, sizeof(double) * (size_t)n);
    for (int s = 0; s < n; s++) {
      double c = g * x[s];
      if (c == 0.0) continue;
      for (int64_t k = p->row[s]; k < p->row[s + 1]; k++) y[p->col[k]] -= c * p->val[k];
    }
  }
}

/* Symmetric Gauss-Seidel: out = M^-1 v with M = (D + L) D^-1 (D + U), where A = D + L + U is
   I - gamma P_pi (or its transpose) split into diagonal, strictly lower and strictly upper
   parts. Both sweeps run on the row CSR: the transpose's sweeps scatter instead of gather. */
static void precondition(const cbrl__markov *op, const double *v, double *out, double *tmp) {
  const cbrl__markov_matrix *p = op->p;
  int n = p->n;
  double g = op->gamma;
  if (!op->transpose) {
    for (int s = 0; s < n; s++) { /* (D + L) tmp = v */
      double acc = 0.0;
      for (int64_t k = p->row[s]; k < p->lower_end[s]; k++) acc += p->val[k] * tmp[p->col[k]];
      tmp[s] = (v[s] + g * acc) / (1.0 - g * p->diag[s]);
    }
    for (int s = n - 1; s >= 0; s--) { /* (D + U) out = D tmp */
      double d = 1.0 - g * p->diag[s], acc = 0.0;
      for (int64_t k = p->upper_begin[s]; k < p->row[s + 1]; k++) acc += p->val[k] * out[p->col[k]];
      out[s] = tmp[s] + g * acc / d;
    }
  } else {
    /* A^T = I - gamma P^T: its lower part holds gamma P(t, s) for t < s. */
    memcpy(tmp, v, sizeof(double) * (size_t)n);
    for (int s = 0; s < n; s++) {
      double y = tmp[s] / (1.0 - g * p->diag[s]);
      tmp[s] = y;
      for (int64_t k = p->upper_begin[s]; k < p->row[s + 1]; k++) tmp[p->col[k]] += g * p->val[k] * y;
    }
    for (int s = 0; s < n; s++) out[s] = (1.0 - g * p->diag[s]) * tmp[s];
    for (int s = n - 1; s >= 0; s--) {
      double y = out[s] / (1.0 - g * p->diag[s]);
      out[s] = y;
      for (int64_t k = p->row[s]; k < p->lower_end[s]; k++) out[p->col[k]] += g * p->val[k] * y;
    }
  }
}

/* Four partial sums: faster than one chain and still the same result on every run. */
static double dot(const double *a, const double *b, int n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

int cbrl__linear_solve(cbrl__linear *l, const cbrl__markov *op, const double *b, double *x,
                       double tol, int max_iterations, int64_t *iterations, double *residual) {
  int n = l->n, mk = l->krylov;
  double *r = l->work;
  double bnorm = sqrt(dot(b, b, n));
  int used = 0;
  for (;;) {
    if (op->cancel && *op->cancel) return CBRL_ECANCELED;
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
      if (op->cancel && *op->cancel) return CBRL_ECANCELED; /* one load per product */
      double *vj = l->basis + (size_t)j * n, *w = l->basis + (size_t)(j + 1) * n;
      double *h = l->hess + (size_t)j * (mk + 1);
      precondition(op, vj, l->work2, r);
      cbrl__markov_apply(op, l->work2, w);
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
    double *update = r;
    memset(update, 0, sizeof(double) * (size_t)n);
    for (int i = 0; i < j; i++) {
      const double *vi = l->basis + (size_t)i * n;
      for (int t = 0; t < n; t++) update[t] += l->y[i] * vi[t];
    }
    precondition(op, update, l->work2, l->basis + (size_t)mk * n);
    for (int t = 0; t < n; t++) x[t] += l->work2[t];
  }
}
