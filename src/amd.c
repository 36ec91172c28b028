/* AMD (docs/MODEL.md 4.3): four tables per context updated synchronously, K times per outer
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
#include "vector_clones.h" /* CBRL_NO_CLONES */

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
  const volatile int *cancel; /* checked between updates; NULL: never */
};

void cbrl_amd_set_cancel(cbrl_amd *a, const volatile int *cancel) {
  a->cancel = cancel;
  a->solver.opts.cancel = cancel;
}

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

/* Initialisation (docs/MODEL.md 4.3): Q_LL by a full soft solve; the others under the uniform policy. */
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

/* The table updates, once per vector width (src/amd_kernel.h); the widest this CPU runs is chosen
   per call. None uses FMA (src/vector_clones.h), so all give the same bits. */
typedef double amd_v8 __attribute__((vector_size(64), aligned(8), may_alias));
typedef double amd_v4 __attribute__((vector_size(32), aligned(8), may_alias));
typedef double amd_v2 __attribute__((vector_size(16), aligned(8), may_alias));

#define AMD_VEC amd_v2
#define AMD_W 2
#define AMD_TARGET
#define AMD_NAME(f) f##_v2
#include "amd_kernel.h"
#undef AMD_VEC
#undef AMD_W
#undef AMD_TARGET
#undef AMD_NAME

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CBRL_NO_CLONES)
#define AMD_X86 1
#define AMD_VEC amd_v4
#define AMD_W 4
#define AMD_TARGET __attribute__((target("avx2")))
#define AMD_NAME(f) f##_v4
#include "amd_kernel.h"
#undef AMD_VEC
#undef AMD_W
#undef AMD_TARGET
#undef AMD_NAME

#define AMD_VEC amd_v8
#define AMD_W 8
#define AMD_TARGET __attribute__((target("avx512f")))
#define AMD_NAME(f) f##_v8
#include "amd_kernel.h"
#undef AMD_VEC
#undef AMD_W
#undef AMD_TARGET
#undef AMD_NAME
#endif

typedef void amd_values_fn(const cbrl_amd *, const amd_context *, int, double *, double *, double *, double *);
typedef void amd_update_fn(cbrl_amd *, amd_context *, const cbrl_mdp *);

static void amd_kernels(amd_values_fn **values, amd_update_fn **update) {
  *values = state_values_v2, *update = update_v2;
#ifdef AMD_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) *values = state_values_v8, *update = update_v8;
  else if (__builtin_cpu_supports("avx2")) *values = state_values_v4, *update = update_v4;
#endif
}

int cbrl_amd_step(cbrl_amd *a, int context, const double *x, const cbrl_mdp *m, int updates, double *grad) {
  if (!a || !x || !m || !grad || updates < 0 || context < 0 || context >= a->problem->n_contexts)
    return CBRL_EINVAL;
  const cbrl_problem *p = a->problem;
  amd_context *c = &a->ctx[context];
  int err = cbrl_mdp_reward_jacobian(m, p, context, x, a->jac_r, a->jac_rbar);
  if (err) return err;
  if (!c->ready && (err = initialise(a, c, m))) return err;
  amd_values_fn *state_values;
  amd_update_fn *update;
  amd_kernels(&state_values, &update);
  for (int s = 0; s < p->n_states; s++) state_values(a, c, s, a->v_ll, a->v_ul, a->gv_ll, a->vtil);
  for (int i = 0; i < updates; i++) {
    if (a->cancel && *a->cancel) return CBRL_ECANCELED;
    update(a, c, m);
  }
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
