#include "cbrl/model.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cbrl/errors.h"
#include "cbrl/objective.h"
#include "vector_clones.h"

int cbrl_problem_create(cbrl_problem **out, const cbrl_problem_ops *ops, void *impl,
                        int n_states, int n_actions, int dim, int n_contexts) {
  if (!out || !ops || n_states <= 0 || n_actions <= 0 || dim <= 0 || n_contexts <= 0)
    return CBRL_EINVAL;
  cbrl_problem *p = calloc(1, sizeof *p);
  if (!p) return CBRL_ENOMEM;
  p->context_weight = malloc(sizeof(double) * (size_t)n_contexts);
  if (!p->context_weight) {
    free(p);
    return CBRL_ENOMEM;
  }
  for (int k = 0; k < n_contexts; k++) p->context_weight[k] = 1.0 / n_contexts;
  p->ops = ops;
  p->impl = impl;
  p->n_states = n_states;
  p->n_actions = n_actions;
  p->dim = dim;
  p->n_contexts = n_contexts;
  p->gamma = 0.9;
  p->leader_gamma = 0.9;
  p->lambda = 1.0;
  p->flags = CBRL_DEPENDS_ALL;
  *out = p;
  return 0;
}

void cbrl_problem_free(cbrl_problem *p) {
  if (!p) return;
  if (p->ops && p->ops->destroy) p->ops->destroy(p);
  cbrl_objective_free(p->objective);
  free(p->x_lower);
  free(p->x_upper);
  free(p->context_weight);
  free(p);
}

double cbrl_discount_floor(double gamma, int n_states) {
  if (!(gamma < 1.0)) return INFINITY;
  return 16.0 * DBL_EPSILON * sqrt((double)(n_states > 1 ? n_states : 1)) / (1.0 - gamma);
}

/* Two limits: the floor above, and the error measured beyond it, about eps / (1 - gamma)^2
   relative (values of size 1 / (1 - gamma) lose eps / (1 - gamma) to rounding in the soft
   maximum, amplified by 1 / (1 - gamma); on a two-state cycle 1 - gamma = 1e-7 gave F 2 % off
   and 1e-8 a factor 16 off, with the floor at 5e-8 and 5e-7). */
double cbrl_discount_max(int n_states) {
  double by_floor = 16.0 * DBL_EPSILON * sqrt((double)(n_states > 1 ? n_states : 1)) / CBRL_USABLE_TOL;
  double by_error = sqrt(DBL_EPSILON / CBRL_USABLE_TOL);
  return 1.0 - (by_floor > by_error ? by_floor : by_error);
}

int cbrl_problem_validate(const cbrl_problem *p) {
  if (!p || !p->ops || p->n_states <= 0 || p->n_actions <= 0 || p->dim <= 0 || p->n_contexts <= 0)
    return CBRL_EINVAL;
  double gmax = cbrl_discount_max(p->n_states);
  if (!(p->gamma >= 0.0 && p->gamma <= gmax)) return CBRL_ERANGE;
  if (!(p->leader_gamma >= 0.0 && p->leader_gamma <= gmax)) return CBRL_ERANGE;
  if (!(p->lambda > 0.0 && isfinite(p->lambda))) return CBRL_ERANGE;
  double sum = 0.0;
  for (int k = 0; k < p->n_contexts; k++) {
    if (!(p->context_weight[k] >= 0.0)) return CBRL_ERANGE;
    sum += p->context_weight[k];
  }
  if (fabs(sum - 1.0) > 1e-9) return CBRL_ERANGE;
  return 0;
}

void cbrl_mdp_close(cbrl_mdp *m) {
  if (!m) return;
  free(m->terminal);
  free(m->row);
  free(m->next);
  free(m->prob);
  free(m->r);
  free(m->rbar);
  free(m->mu);
  free(m->scratch);
  free(m->shifted);
  free(m->row_first);
  memset(m, 0, sizeof *m);
}

int cbrl_mdp_init(cbrl_mdp *m, const cbrl_problem *p, int context) {
  if (!m || !p || context < 0 || context >= p->n_contexts) return CBRL_EINVAL;
  memset(m, 0, sizeof *m);
  int64_t nnz = p->ops->n_transitions(p, context);
  if (nnz < 0) return CBRL_EINVAL;
  size_t sa = (size_t)p->n_states * (size_t)p->n_actions;
  m->n_states = p->n_states;
  m->n_actions = p->n_actions;
  m->n_transitions = nnz;
  m->terminal = calloc((size_t)p->n_states, 1);
  m->row = calloc(sa + 1, sizeof(int64_t));
  m->next = calloc(nnz ? (size_t)nnz : 1, sizeof(int32_t));
  m->prob = calloc(nnz ? (size_t)nnz : 1, sizeof(double));
  m->r = calloc(sa, sizeof(double));
  m->rbar = calloc(sa, sizeof(double));
  m->mu = calloc((size_t)p->n_states, sizeof(double));
  if (p->scratch_size) m->scratch = malloc(p->scratch_size);
  if (!m->terminal || !m->row || !m->next || !m->prob || !m->r || !m->rbar || !m->mu ||
      (p->scratch_size && !m->scratch)) {
    cbrl_mdp_close(m);
    return CBRL_ENOMEM;
  }
  int err = p->ops->structure(p, context, m);
  if (err) {
    cbrl_mdp_close(m);
    return err;
  }
  /* The pattern must be a valid CSR: monotone rows ending at nnz, in-range states. */
  if (m->row[0] != 0 || m->row[sa] != nnz) goto bad;
  for (size_t i = 0; i < sa; i++)
    if (m->row[i + 1] < m->row[i]) goto bad;
  for (int64_t k = 0; k < nnz; k++)
    if (m->next[k] < 0 || m->next[k] >= p->n_states) goto bad;
  /* A declared contiguous pattern is verified once here, so the backups and Markov-matrix builds
     that rely on it never see a row that is not a run of consecutive states. */
  if (p->flags & CBRL_ROWS_CONTIGUOUS) {
    int ok = 1;
    for (size_t i = 0; i < sa && ok; i++)
      for (int64_t k = m->row[i]; k + 1 < m->row[i + 1]; k++) ok &= m->next[k + 1] == m->next[k] + 1;
    if (ok && (!(m->row_first = malloc(sizeof(int32_t) * sa)) ||
               ((p->flags & CBRL_ROWS_SHIFTED) && !(m->shifted = calloc(sa, 1))))) {
      cbrl_mdp_close(m);
      return CBRL_ENOMEM;
    }
    for (size_t i = 0; ok && i < sa; i++) m->row_first[i] = m->row[i + 1] > m->row[i] ? m->next[m->row[i]] : 0;
    m->rows_contiguous = ok;
  }
  return 0;
bad:
  cbrl_mdp_close(m);
  return CBRL_EINVAL;
}

int cbrl_mdp_evaluate(cbrl_mdp *m, const cbrl_problem *p, int context, const double *x) {
  if (!m || !p || !x || !m->row) return CBRL_EINVAL;
  int err = p->ops->evaluate(p, context, x, m, m->scratch);
  m->version++;
  if (err) return err;
  if (m->shifted) m->shifted_version = m->version, m->shifted_prob = m->prob;
  int S = m->n_states, A = m->n_actions;
  double mu_sum = 0.0;
  for (int s = 0; s < S; s++) {
    if (!isfinite(m->mu[s]) || m->mu[s] < 0.0) return CBRL_ENONFINITE;
    mu_sum += m->mu[s];
    for (int a = 0; a < A; a++) {
      size_t sa = (size_t)s * A + a;
      if (!isfinite(m->r[sa]) || !isfinite(m->rbar[sa])) return CBRL_ENONFINITE;
      if (m->terminal[s] || (p->flags & CBRL_ROWS_CHECKED)) continue;
      double psum = 0.0;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) {
        if (!isfinite(m->prob[k]) || m->prob[k] < 0.0) return CBRL_ENONFINITE;
        psum += m->prob[k];
      }
      if (fabs(psum - 1.0) > 1e-9) return CBRL_EINVAL;
    }
  }
  if (fabs(mu_sum - 1.0) > 1e-9) return CBRL_EINVAL;
  return 0;
}

/* The contiguous rows' sums (CBRL_ROWS_CONTIGUOUS), bitwise those of backup_general: row (s, a)
   reads prob and v as two dense slices (v from the row's first state), four rows at a time. A
   block of four entries of each of the four rows is multiplied as four vectors, transposed so
   that one vector holds one entry position of all four rows, and added into a vector of the
   four rows' sums in entry order: each lane is the general loop's serial chain of one row, with
   the same products and the same adds, so the bits are the same on every CPU and clone
   (src/vector_clones.h; no FMA). What goes is the index load and the gather of every entry, and
   four chains instead of two hide the add latency. */
/* m->shifted when it describes m's current probabilities (set by cbrl_mdp_evaluate for this
   version and this prob array), else NULL: a view with other probabilities or a hand edit
   that bumped the version falls back to reading every row. */
static const unsigned char *cbrl__mdp_shifted(const cbrl_mdp *m) {
  return m->shifted && m->shifted_version == m->version && m->shifted_prob == m->prob ? m->shifted : NULL;
}

typedef double backup_v4 __attribute__((vector_size(32), aligned(8), may_alias));

#define BACKUP_LOAD(x) (*(const backup_v4 *)(x))

CBRL_VECTOR_CLONES
static void backup_contiguous(const cbrl_mdp *m, double gamma, const double *reward, const double *v, double *q) {
  int S = m->n_states, A = m->n_actions;
  const unsigned char *shifted = cbrl__mdp_shifted(m);
  for (int s = 0; s < S; s++) {
    size_t sa0 = (size_t)s * A;
    if (m->terminal[s]) {
      for (int a = 0; a < A; a++) q[sa0 + a] = reward[sa0 + a] + gamma * 0.0;
      continue;
    }
    /* The rows that are not shifted copies (those come below), four at a time. */
    for (int a = 0; a < A;) {
      int act[4], g = 0;
      for (; a < A && g < 4; a++)
        if (!shifted || !shifted[sa0 + a]) act[g++] = a;
      if (!g) break;
      const double *p[4], *w[4];
      int64_t n[4], common;
      for (int r = 0; r < 4; r++) {
        size_t sa = sa0 + act[r < g ? r : 0];
        int64_t lo = m->row[sa];
        n[r] = r < g ? m->row[sa + 1] - lo : 0;
        p[r] = m->prob + lo;
        w[r] = v + m->row_first[sa];
      }
      common = n[0] < n[1] ? n[0] : n[1];
      common = n[2] < common ? n[2] : common;
      common = n[3] < common ? n[3] : common;
      backup_v4 e = {0.0, 0.0, 0.0, 0.0};
      int64_t i = 0;
      for (; i + 4 <= common; i += 4) {
        backup_v4 r0 = BACKUP_LOAD(p[0] + i) * BACKUP_LOAD(w[0] + i), r1 = BACKUP_LOAD(p[1] + i) * BACKUP_LOAD(w[1] + i);
        backup_v4 r2 = BACKUP_LOAD(p[2] + i) * BACKUP_LOAD(w[2] + i), r3 = BACKUP_LOAD(p[3] + i) * BACKUP_LOAD(w[3] + i);
        backup_v4 t0 = __builtin_shufflevector(r0, r1, 0, 4, 2, 6), t1 = __builtin_shufflevector(r0, r1, 1, 5, 3, 7);
        backup_v4 t2 = __builtin_shufflevector(r2, r3, 0, 4, 2, 6), t3 = __builtin_shufflevector(r2, r3, 1, 5, 3, 7);
        e += __builtin_shufflevector(t0, t2, 0, 1, 4, 5); /* entry i of the four rows */
        e += __builtin_shufflevector(t1, t3, 0, 1, 4, 5); /* i + 1 */
        e += __builtin_shufflevector(t0, t2, 2, 3, 6, 7); /* i + 2 */
        e += __builtin_shufflevector(t1, t3, 2, 3, 6, 7); /* i + 3 */
      }
      for (int r = 0; r < g; r++) {
        double er = e[r];
        for (int64_t k = i; k < n[r]; k++) er += p[r][k] * w[r][k];
        q[sa0 + act[r]] = reward[sa0 + act[r]] + gamma * er;
      }
    }
  }
  if (!shifted) return;
  /* Runs of shifted rows (cbrl_mdp.shifted): rows (s, a), s in [s0, s1), are row (h, a), h = s0 - 1,
     moved up s - h states, so their sums are a correlation of v with that one row (kept in L1
     instead of streaming every row's copy): four states at a time, lane j the serial chain of
     state s + j, entry i its kernel entry i times v at the row's i-th state. */
  for (int a = 0; a < A; a++)
    for (int s0 = 1; s0 < S; s0++) {
      if (!shifted[(size_t)s0 * A + a]) continue;
      int h = s0 - 1, s1 = s0;
      while (s1 < S && shifted[(size_t)s1 * A + a]) s1++;
      int64_t lo = m->row[(size_t)h * A + a], n = m->row[(size_t)h * A + a + 1] - lo;
      const double *kern = m->prob + lo;
      const double *base = v + m->row_first[(size_t)h * A + a] - h; /* state s's row starts at base + s */
      int s = s0;
      for (; s + 8 <= s1; s += 8) { /* two vectors of states: two independent chains */
        backup_v4 e0 = {0.0, 0.0, 0.0, 0.0}, e1 = {0.0, 0.0, 0.0, 0.0};
        const double *w = base + s;
        for (int64_t i = 0; i < n; i++) {
          backup_v4 k = {kern[i], kern[i], kern[i], kern[i]};
          e0 += k * BACKUP_LOAD(w + i);
          e1 += k * BACKUP_LOAD(w + 4 + i);
        }
        for (int j = 0; j < 4; j++) {
          if (!m->terminal[s + j]) q[(size_t)(s + j) * A + a] = reward[(size_t)(s + j) * A + a] + gamma * e0[j];
          if (!m->terminal[s + 4 + j])
            q[(size_t)(s + 4 + j) * A + a] = reward[(size_t)(s + 4 + j) * A + a] + gamma * e1[j];
        }
      }
      for (; s + 4 <= s1; s += 4) {
        backup_v4 e = {0.0, 0.0, 0.0, 0.0};
        const double *w = base + s;
        for (int64_t i = 0; i < n; i++) {
          backup_v4 k = {kern[i], kern[i], kern[i], kern[i]};
          e += k * BACKUP_LOAD(w + i);
        }
        for (int j = 0; j < 4; j++)
          if (!m->terminal[s + j]) q[(size_t)(s + j) * A + a] = reward[(size_t)(s + j) * A + a] + gamma * e[j];
      }
      for (; s < s1; s++) {
        if (m->terminal[s]) continue;
        double e = 0.0;
        const double *w = base + s;
        for (int64_t i = 0; i < n; i++) e += kern[i] * w[i];
        q[(size_t)s * A + a] = reward[(size_t)s * A + a] + gamma * e;
      }
      s0 = s1;
    }
}

/* Two rows at a time: each row's sum is one serial chain of adds (bitwise the one-row loop's),
   and two independent chains hide half the add latency that bounds a long row. */
static void backup_general(const cbrl_mdp *m, double gamma, const double *reward, const double *v, double *q) {
  int S = m->n_states, A = m->n_actions;
  const double *prob = m->prob;
  const int32_t *next = m->next;
  for (int s = 0; s < S; s++) {
    size_t sa = (size_t)s * A;
    if (m->terminal[s]) {
      for (int a = 0; a < A; a++) q[sa + a] = reward[sa + a] + gamma * 0.0;
      continue;
    }
    int a = 0;
    for (; a + 1 < A; a += 2, sa += 2) {
      int64_t k0 = m->row[sa], k1 = m->row[sa + 1], n0 = k1 - k0, n1 = m->row[sa + 2] - k1, n = n0 < n1 ? n0 : n1;
      double e0 = 0.0, e1 = 0.0;
      for (int64_t i = 0; i < n; i++) {
        e0 += prob[k0 + i] * v[next[k0 + i]];
        e1 += prob[k1 + i] * v[next[k1 + i]];
      }
      for (int64_t i = n; i < n0; i++) e0 += prob[k0 + i] * v[next[k0 + i]];
      for (int64_t i = n; i < n1; i++) e1 += prob[k1 + i] * v[next[k1 + i]];
      q[sa] = reward[sa] + gamma * e0;
      q[sa + 1] = reward[sa + 1] + gamma * e1;
    }
    for (; a < A; a++, sa++) {
      double e = 0.0;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) e += prob[k] * v[next[k]];
      q[sa] = reward[sa] + gamma * e;
    }
  }
}

void cbrl_mdp_backup(const cbrl_mdp *m, double gamma, const double *reward, const double *v,
                     double *q) {
  if (m->rows_contiguous) backup_contiguous(m, gamma, reward, v, q);
  else backup_general(m, gamma, reward, v, q);
}

int cbrl_mdp_vjp(const cbrl_mdp *m, const cbrl_problem *p, int context, const double *x,
                 const cbrl_cotangent *ct, double *grad) {
  if (!m || !p || !x || !ct || !grad || context < 0 || context >= p->n_contexts) return CBRL_EINVAL;
  return p->ops->vjp(p, context, x, m, ct, grad, m->scratch);
}

int cbrl_mdp_reward_jacobian(const cbrl_mdp *m, const cbrl_problem *p, int context, const double *x,
                             double *jac_r, double *jac_rbar) {
  if (!m || !p || !x || context < 0 || context >= p->n_contexts) return CBRL_EINVAL;
  if (!p->ops->reward_jacobian) return CBRL_ENOTSUP;
  return p->ops->reward_jacobian(p, context, x, m, jac_r, jac_rbar, m->scratch);
}

int cbrl_problem_draw_context(const cbrl_problem *p, cbrl_rng *rng) {
  if (p->n_contexts == 1) return 0;
  double u = cbrl_rng_uniform(rng);
  for (int k = 0; k < p->n_contexts; k++) {
    if (u < p->context_weight[k]) return k;
    u -= p->context_weight[k];
  }
  return p->n_contexts - 1; /* rounding left u above the weights' sum */
}

/* ---- memory bounds ---- */

static double memory_limit_set_;

double cbrl_memory_limit_default(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 4.0 * 1024 * 1024 * 1024;
  return CBRL_MEMORY_FRACTION * (double)pages * (double)page;
}

double cbrl_memory_limit(void) { return memory_limit_set_ > 0.0 ? memory_limit_set_ : cbrl_memory_limit_default(); }

void cbrl_memory_limit_set(double bytes) { memory_limit_set_ = bytes > 0.0 ? bytes : 0.0; }

const char *cbrl_memory_format(double bytes, char *buf, size_t size) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 6) bytes /= 1024.0, u++;
  snprintf(buf, size, u ? "%.3g %s" : "%.0f %s", bytes, unit[u]);
  return buf;
}

int cbrl_memory_parse(const char *text, double *bytes) {
  if (!text || !bytes) return CBRL_EINVAL;
  char *end;
  double v = strtod(text, &end);
  if (end == text || !isfinite(v) || !(v > 0.0)) return CBRL_EPARSE;
  double mult = 1.0;
  switch (*end) {
    case 'k': case 'K': mult = 1024.0, end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024, end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024, end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
  }
  if (mult > 1.0 && (end[0] == 'i' || end[0] == 'I') && (end[1] == 'B' || end[1] == 'b')) end += 2;
  else if (mult > 1.0 && (*end == 'B' || *end == 'b')) end++;
  else if (mult == 1.0 && (*end == 'B' || *end == 'b')) end++;
  if (*end || !isfinite(v * mult) || v * mult < 1.0) return CBRL_EPARSE;
  *bytes = v * mult;
  return 0;
}

/* Per context: the affine builder's tables (8 + 1 + 1 bytes per state-action, 8 + 16 after
   finalize, 32 per stored transition and 8 per coefficient, taken as one per transition), the
   MDP (16 per state-action, 12 per transition plus its CSR), the soft solver (40 per
   state-action; 31 Krylov vectors and the Markov matrix per state) and the exact workspace
   (16 per state-action, 8 per transition, 40 per state). Rounded up to 160 bytes per
   state-action, 72 per transition and 420 per state: an upper estimate. */
double cbrl_problem_memory_estimate(const cbrl_problem_shape *sh) {
  if (!sh) return 0.0;
  double sa = sh->n_states * sh->n_actions;
  double nnz = sh->n_transitions > sa ? sh->n_transitions : sa;
  double per_context = 160.0 * sa + 72.0 * nnz + 420.0 * sh->n_states;
  return sh->n_contexts * per_context + 8.0 * sh->dim * (4.0 + sh->n_contexts) + 8.0 * sh->n_states;
}

void cbrl_problem_shape_of(const cbrl_problem *p, cbrl_problem_shape *sh) {
  memset(sh, 0, sizeof *sh);
  if (!p) return;
  sh->n_states = p->n_states, sh->n_actions = p->n_actions, sh->dim = p->dim, sh->n_contexts = p->n_contexts;
  for (int k = 0; k < p->n_contexts && p->ops && p->ops->n_transitions; k++) {
    double nnz = (double)p->ops->n_transitions(p, k);
    if (nnz > sh->n_transitions) sh->n_transitions = nnz;
  }
}

int cbrl_memory_check(double need, const char *what, char *err, size_t size) {
  double limit = cbrl_memory_limit();
  if (need <= limit) return 0;
  if (err && size) {
    char a[32], b[32];
    snprintf(err, size, "%s: need about %s, above the memory limit of %s (--max-memory)", what,
             cbrl_memory_format(need, a, sizeof a), cbrl_memory_format(limit, b, sizeof b));
  }
  return CBRL_ETOOBIG;
}
