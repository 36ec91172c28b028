/* AMD (docs/MODEL.md, AMD): four tables per context updated synchronously, K times per outer
   iteration. The d-vector tables are laid out with d fastest, so every update is a sequence of
   contiguous axpy loops the compiler vectorises. Qtil is discounted with the leader's gamma,
   which is what makes sum_s mu Vtil the exact gradient at the fixed point (the paper's runs have
   gamma = leader gamma, where the two readings of the method agree). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "cbrl/amd.h"
#include "cbrl/soft_solver.h"
#include "soft_policy.h"
#include "vector_clones.h"

typedef struct amd_context {
  int ready;
  double *q_ll, *q_ul;      /* n_states x n_actions */
  double *gq_ll, *qtil;     /* n_states x n_actions x dim */
} amd_context;

struct cbrl_amd {
  const cbrl_problem *problem;
  amd_context *ctx;
  double *jac_r, *jac_rbar;  /* n_states x n_actions x dim */
  double *pi;                /* n_states x n_actions */
  double *v_ll, *v_ul;       /* n_states: values of the current tables ... */
  double *gv_ll, *vtil;      /* n_states x dim */
  double *next_v_ll, *next_v_ul, *next_gv_ll, *next_vtil; /* ... and of the ones being written */
  cbrl_soft_solver solver;   /* initialisation only */
};

void cbrl_amd_free(cbrl_amd *a) {
  if (!a) return;
  for (int k = 0; a->ctx && k < a->problem->n_contexts; k++) {
    free(a->ctx[k].q_ll);
    free(a->ctx[k].q_ul);
    free(a->ctx[k].gq_ll);
    free(a->ctx[k].qtil);
  }
  free(a->ctx);
  free(a->jac_r);
  free(a->jac_rbar);
  free(a->pi);
  free(a->v_ll);
  free(a->v_ul);
  free(a->gv_ll);
  free(a->vtil);
  free(a->next_v_ll);
  free(a->next_v_ul);
  free(a->next_gv_ll);
  free(a->next_vtil);
  cbrl_soft_solver_close(&a->solver);
  free(a);
}

int cbrl_amd_create(cbrl_amd **out, const cbrl_problem *p) {
  if (!out || !p) return CBRL_EINVAL;
  if ((p->flags & (CBRL_DEPENDS_P | CBRL_DEPENDS_MU)) || !p->ops->reward_jacobian) return CBRL_ENOTSUP;
  cbrl_amd *a = calloc(1, sizeof *a);
  if (!a) return CBRL_ENOMEM;
  a->problem = p;
  size_t S = (size_t)p->n_states, SA = S * p->n_actions, d = (size_t)p->dim;
  a->ctx = calloc((size_t)p->n_contexts, sizeof *a->ctx);
  a->jac_r = malloc(SA * d * sizeof(double));
  a->jac_rbar = malloc(SA * d * sizeof(double));
  a->pi = malloc(SA * sizeof(double));
  a->v_ll = malloc(S * sizeof(double));
  a->v_ul = malloc(S * sizeof(double));
  a->gv_ll = malloc(S * d * sizeof(double));
  a->vtil = malloc(S * d * sizeof(double));
  a->next_v_ll = malloc(S * sizeof(double));
  a->next_v_ul = malloc(S * sizeof(double));
  a->next_gv_ll = malloc(S * d * sizeof(double));
  a->next_vtil = malloc(S * d * sizeof(double));
  int err = cbrl_soft_solver_init(&a->solver, p->n_states, p->n_actions);
  if (err || !a->ctx || !a->jac_r || !a->jac_rbar || !a->pi || !a->v_ll || !a->v_ul || !a->gv_ll || !a->vtil ||
      !a->next_v_ll || !a->next_v_ul || !a->next_gv_ll || !a->next_vtil)
    goto fail;
  for (int k = 0; k < p->n_contexts; k++) {
    amd_context *c = &a->ctx[k];
    c->q_ll = malloc(SA * sizeof(double));
    c->q_ul = malloc(SA * sizeof(double));
    c->gq_ll = malloc(SA * d * sizeof(double));
    c->qtil = malloc(SA * d * sizeof(double));
    if (!c->q_ll || !c->q_ul || !c->gq_ll || !c->qtil) goto fail;
  }
  *out = a;
  return 0;
fail:
  cbrl_amd_free(a);
  return err ? err : CBRL_ENOMEM;
}

static void swap(double **u, double **v) {
  double *t = *u;
  *u = *v;
  *v = t;
}

/* Q of a d-vector reward under the solver's current policy: V by evaluation, then a backup
   per coordinate. */
static int evaluate_q_vector(cbrl_amd *a, const cbrl_mdp *m, double gamma, const double *reward, double *q) {
  const cbrl_problem *p = a->problem;
  int S = p->n_states, A = p->n_actions, d = p->dim;
  memset(a->gv_ll, 0, sizeof(double) * (size_t)S * d);
  int err = cbrl_soft_solver_evaluate_vector(&a->solver, m, gamma, d, reward, a->gv_ll);
  if (err && err != CBRL_ENOCONV) return err;
  for (int s = 0; s < S; s++)
    for (int b = 0; b < A; b++) {
      size_t sa = (size_t)s * A + b;
      double *qs = q + sa * d;
      memcpy(qs, reward + sa * d, sizeof(double) * d);
      if (m->terminal[s]) continue;
      for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++) {
        const double *v = a->gv_ll + (size_t)m->next[k] * d;
        for (int j = 0; j < d; j++) qs[j] += gamma * m->prob[k] * v[j];
      }
    }
  return 0;
}

/* Initialisation (docs/MODEL.md, AMD): Q_LL by a full soft solve; the others under the uniform policy. */
static int initialise(cbrl_amd *a, amd_context *c, const cbrl_mdp *m) {
  const cbrl_problem *p = a->problem;
  size_t SA = (size_t)p->n_states * p->n_actions;
  cbrl_soft_solver_reset(&a->solver);
  int err = cbrl_soft_solver_solve(&a->solver, m, p->gamma, p->lambda);
  if (err && err != CBRL_ENOCONV) return err;
  memcpy(c->q_ll, a->solver.q, SA * sizeof(double));
  memset(a->pi, 0, SA * sizeof(double));
  if ((err = cbrl_soft_solver_set_q(&a->solver, a->pi, 1.0))) return err; /* uniform */
  memset(a->v_ul, 0, sizeof(double) * p->n_states);
  err = cbrl_soft_solver_evaluate(&a->solver, m, p->leader_gamma, m->rbar, a->v_ul);
  if (err && err != CBRL_ENOCONV) return err;
  cbrl_mdp_backup(m, p->leader_gamma, m->rbar, a->v_ul, c->q_ul);
  if ((err = evaluate_q_vector(a, m, p->gamma, a->jac_r, c->gq_ll))) return err;
  if ((err = evaluate_q_vector(a, m, p->leader_gamma, a->jac_rbar, c->qtil))) return err;
  c->ready = 1;
  return 0;
}

/* Rows are processed a block at a time in registers, as vectors of 8 doubles the clones split
   into their own lane width; element-wise IEEE operations, so any width and any block gives the
   scalar loop's results. */
typedef double amd_v8 __attribute__((vector_size(64), aligned(8), may_alias));
#define amd_load(p) (*(const amd_v8 *)(p))
#define amd_store(p, v) (*(amd_v8 *)(p) = (v))

/* Coordinates [j0, j0 + 8 NB) of state s's grad V_LL and Vtil: sum_b pi_b times its rows, in
   action order from 0. */
#define AMD_VALUES(NB)                                                                           \
  do {                                                                                           \
    amd_v8 g_[NB], v_[NB];                                                                       \
    for (int i_ = 0; i_ < NB; i_++) g_[i_] = v_[i_] = (amd_v8){0};                               \
    for (int b = 0; b < A; b++) {                                                                \
      size_t o_ = ((size_t)s * A + b) * d + j0;                                                  \
      double w = pi[b];                                                                          \
      for (int i_ = 0; i_ < NB; i_++) {                                                          \
        g_[i_] += w * amd_load(c->gq_ll + o_ + 8 * i_);                                          \
        v_[i_] += w * amd_load(c->qtil + o_ + 8 * i_);                                           \
      }                                                                                          \
    }                                                                                            \
    for (int i_ = 0; i_ < NB; i_++) {                                                            \
      amd_store(gv + j0 + 8 * i_, g_[i_]);                                                       \
      amd_store(vt + j0 + 8 * i_, v_[i_]);                                                       \
    }                                                                                            \
    j0 += 8 * NB;                                                                                \
  } while (0)

/* Values of state s from its rows of the tables (docs/MODEL.md, AMD, step 2): pi, V_LL, V_UL,
   grad V_LL and Vtil, written to the given state-indexed arrays. */
static CBRL_VECTOR_CLONES void state_values(const cbrl_amd *a, const amd_context *c, int s, double *v_ll,
                                            double *v_ul, double *gv_ll, double *vtil) {
  const cbrl_problem *p = a->problem;
  int A = p->n_actions, d = p->dim;
  double lam = p->lambda, *pi = a->pi + (size_t)s * A;
  /* V_LL = sum pi Q_LL + lam H(pi) = lam logsumexp(Q_LL / lam). */
  v_ll[s] = cbrl_softmax_row(c->q_ll + (size_t)s * A, A, lam, pi);
  double vul = 0.0;
  for (int b = 0; b < A; b++) vul += pi[b] * c->q_ul[(size_t)s * A + b];
  v_ul[s] = vul;
  double *restrict gv = gv_ll + (size_t)s * d, *restrict vt = vtil + (size_t)s * d;
  int j0 = 0;
  while (j0 + 32 <= d) AMD_VALUES(4);
  while (j0 + 8 <= d) AMD_VALUES(1);
  for (; j0 < d; j0++) {
    double g = 0.0, v = 0.0;
    for (int b = 0; b < A; b++) {
      size_t o = ((size_t)s * A + b) * d + j0;
      g += pi[b] * c->gq_ll[o];
      v += pi[b] * c->qtil[o];
    }
    gv[j0] = g;
    vt[j0] = v;
  }
}

/* Coordinates [j0, j0 + 8 NB) of a state-action's new grad Q_LL and Qtil rows: grad r, and
   grad rbar + grad A_LL A_UL / lam, plus (gamma p) times each successor's row in CSR order. */
#define AMD_ROWS(NB)                                                                             \
  do {                                                                                           \
    amd_v8 g_[NB], q_[NB];                                                                       \
    for (int i_ = 0; i_ < NB; i_++) {                                                            \
      int j_ = j0 + 8 * i_;                                                                      \
      q_[i_] = amd_load(jb + j_) + (amd_load(gq + j_) - amd_load(gv + j_)) * coef;               \
      g_[i_] = amd_load(jr + j_);                                                                \
    }                                                                                            \
    for (int64_t k = k0; k < k1; k++) {                                                          \
      double pk = m->prob[k], pg = gam * pk, pq = gamL * pk;                                     \
      size_t t_ = (size_t)m->next[k] * d + j0;                                                   \
      const double *gvt = a->gv_ll + t_, *vtt = a->vtil + t_;                                    \
      for (int i_ = 0; i_ < NB; i_++) {                                                          \
        g_[i_] += pg * amd_load(gvt + 8 * i_);                                                   \
        q_[i_] += pq * amd_load(vtt + 8 * i_);                                                   \
      }                                                                                          \
    }                                                                                            \
    for (int i_ = 0; i_ < NB; i_++) {                                                            \
      amd_store(gq + j0 + 8 * i_, g_[i_]);                                                       \
      amd_store(qt + j0 + 8 * i_, q_[i_]);                                                       \
    }                                                                                            \
    j0 += 8 * NB;                                                                                \
  } while (0)

/* One synchronous update of all four tables (docs/MODEL.md, AMD, step 3), reading the values of the
   old tables from a->v_* and writing those of the new tables to a->next_*. A state's new
   rows depend on its own old rows and its successors' old values only, so its new values
   can be formed while its rows are still in L1: one pass over the d-vector tables per update
   instead of two. A state-action's grad Q_LL and Qtil rows are accumulated over its successors
   in registers, 32 coordinates at a time, instead of being reloaded and stored once per
   transition; each coordinate still adds its successors in CSR order with the same operations
   ((gamma p) v, added in turn), so the results are bitwise those of the transition-at-a-time
   loop. */
static CBRL_VECTOR_CLONES void update(cbrl_amd *a, amd_context *c, const cbrl_mdp *m) {
  const cbrl_problem *p = a->problem;
  int S = p->n_states, A = p->n_actions, d = p->dim;
  double lam = p->lambda, gam = p->gamma, gamL = p->leader_gamma;
  for (int s = 0; s < S; s++) {
    for (int b = 0; b < A; b++) {
      size_t sa = (size_t)s * A + b;
      double *restrict gq = c->gq_ll + sa * d, *restrict qt = c->qtil + sa * d;
      const double *gv = a->gv_ll + (size_t)s * d, *jr = a->jac_r + sa * d, *jb = a->jac_rbar + sa * d;
      double coef = (c->q_ul[sa] - a->v_ul[s]) / lam; /* A_UL / lam */
      int64_t k0 = m->terminal[s] ? 0 : m->row[sa], k1 = m->terminal[s] ? 0 : m->row[sa + 1];
      double ell = 0.0, eul = 0.0;
      for (int64_t k = k0; k < k1; k++) {
        double pk = m->prob[k];
        int32_t t = m->next[k];
        ell += pk * a->v_ll[t];
        eul += pk * a->v_ul[t];
      }
      int j0 = 0;
      while (j0 + 32 <= d) AMD_ROWS(4);
      while (j0 + 8 <= d) AMD_ROWS(1);
      for (; j0 < d; j0++) {
        double g = jr[j0], q = jb[j0] + (gq[j0] - gv[j0]) * coef;
        for (int64_t k = k0; k < k1; k++) {
          double pk = m->prob[k];
          size_t t = (size_t)m->next[k] * d + j0;
          g += gam * pk * a->gv_ll[t];
          q += gamL * pk * a->vtil[t];
        }
        gq[j0] = g;
        qt[j0] = q;
      }
      c->q_ll[sa] = m->r[sa] + gam * ell;
      c->q_ul[sa] = m->rbar[sa] + gamL * eul;
    }
    state_values(a, c, s, a->next_v_ll, a->next_v_ul, a->next_gv_ll, a->next_vtil);
  }
  swap(&a->v_ll, &a->next_v_ll);
  swap(&a->v_ul, &a->next_v_ul);
  swap(&a->gv_ll, &a->next_gv_ll);
  swap(&a->vtil, &a->next_vtil);
}

int cbrl_amd_step(cbrl_amd *a, int context, const double *x, const cbrl_mdp *m, int updates, double *grad) {
  if (!a || !x || !m || !grad || updates < 0 || context < 0 || context >= a->problem->n_contexts)
    return CBRL_EINVAL;
  const cbrl_problem *p = a->problem;
  amd_context *c = &a->ctx[context];
  int err = cbrl_mdp_reward_jacobian(m, p, context, x, a->jac_r, a->jac_rbar);
  if (err) return err;
  if (!c->ready && (err = initialise(a, c, m))) return err;
  for (int s = 0; s < p->n_states; s++) state_values(a, c, s, a->v_ll, a->v_ul, a->gv_ll, a->vtil);
  for (int i = 0; i < updates; i++) update(a, c, m);
  /* Vtil of the final tables: one more policy pass. */
  int S = p->n_states, A = p->n_actions, d = p->dim;
  double lam = p->lambda;
  memset(grad, 0, sizeof(double) * d);
  for (int s = 0; s < S; s++) {
    if (m->mu[s] == 0.0) continue;
    /* mu e_b / z rather than mu pi_b: the order the recorded results were computed in. */
    double mx, *e = a->pi + (size_t)s * A, z = cbrl__soft_terms(c->q_ll + (size_t)s * A, A, lam, e, &mx);
    for (int b = 0; b < A; b++) {
      double w = m->mu[s] * e[b] / z;
      const double *qt = c->qtil + ((size_t)s * A + b) * d;
      for (int j = 0; j < d; j++) grad[j] += w * qt[j];
    }
  }
  for (int j = 0; j < d; j++)
    if (!isfinite(grad[j])) return CBRL_ENONFINITE;
  return 0;
}
