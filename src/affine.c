/* Affine tabular problems (docs/ENVIRONMENTS.md 3 and 4). Coefficient
   vectors are stored sparsely (index, value) in one pool per context, so a term depending on few
   coordinates of x costs only those in evaluate and vjp. */
#include "cbrl/affine.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cbrl/errors.h"
#include "cbrl/soft_solver.h"

/* A growable list of affine terms: key (s or s*A+a), aux (s' for transitions), constant
   value or logit, and a coefficient range in the pool. */
typedef struct terms {
  int64_t n, cap;
  int64_t *key;
  int32_t *aux;
  double *value;
  int64_t *cstart;
  int32_t *ccount;
} terms;

typedef struct affine_context {
  terms transition, initial, reward, leader_reward;
  int64_t *head, *link;      /* per (s,a) chains of transitions, for duplicate detection */
  int64_t link_cap;          /* entries link has room for */
  unsigned char *r_set, *rbar_set, *mu_set;
  int64_t n_coef, cap_coef;  /* coefficient pool */
  int32_t *coef_index;
  double *coef_value;
  int64_t *row;              /* after finalize: CSR over transition terms (terms sorted) */
  double *r0, *rbar0;        /* after finalize: constant parts */
} affine_context;

typedef struct affine {
  unsigned char *terminal;
  affine_context *ctx;
  int finalized;
} affine;

static int grow(void **ptr, int64_t cap, size_t size) {
  void *q = realloc(*ptr, (size_t)cap * size);
  if (!q) return CBRL_ENOMEM;
  *ptr = q;
  return 0;
}

static int terms_push(terms *t, int64_t key, int32_t aux, double value, int64_t cstart,
                      int32_t ccount) {
  if (t->n == t->cap) {
    int64_t cap = t->cap ? 2 * t->cap : 16;
    if (grow((void **)&t->key, cap, sizeof *t->key) || grow((void **)&t->aux, cap, sizeof *t->aux) ||
        grow((void **)&t->value, cap, sizeof *t->value) ||
        grow((void **)&t->cstart, cap, sizeof *t->cstart) ||
        grow((void **)&t->ccount, cap, sizeof *t->ccount))
      return CBRL_ENOMEM;
    t->cap = cap;
  }
  t->key[t->n] = key;
  t->aux[t->n] = aux;
  t->value[t->n] = value;
  t->cstart[t->n] = cstart;
  t->ccount[t->n] = ccount;
  t->n++;
  return 0;
}

static void terms_free(terms *t) {
  free(t->key);
  free(t->aux);
  free(t->value);
  free(t->cstart);
  free(t->ccount);
}

/* Appends the non-zero entries of coef to the pool; returns their range. */
static int pool_add(affine_context *c, int dim, const double *coef, int64_t *start, int32_t *count) {
  *start = c->n_coef;
  *count = 0;
  if (!coef) return 0;
  for (int j = 0; j < dim; j++) {
    if (!isfinite(coef[j])) return CBRL_ERANGE;
    if (coef[j] == 0.0) continue;
    if (c->n_coef == c->cap_coef) {
      int64_t cap = c->cap_coef ? 2 * c->cap_coef : 64;
      if (grow((void **)&c->coef_index, cap, sizeof(int32_t)) ||
          grow((void **)&c->coef_value, cap, sizeof(double)))
        return CBRL_ENOMEM;
      c->cap_coef = cap;
    }
    c->coef_index[c->n_coef] = j;
    c->coef_value[c->n_coef] = coef[j];
    c->n_coef++;
    (*count)++;
  }
  return 0;
}

static double affine_value(const affine_context *c, double value, int64_t start, int32_t count,
                           const double *x) {
  for (int32_t i = 0; i < count; i++) value += c->coef_value[start + i] * x[c->coef_index[start + i]];
  return value;
}

static void affine_accumulate(const affine_context *c, int64_t start, int32_t count, double w,
                              double *grad) {
  for (int32_t i = 0; i < count; i++) grad[c->coef_index[start + i]] += w * c->coef_value[start + i];
}

/* ---- problem ops ------------------------------------------------------------ */

static int64_t affine_n_transitions(const cbrl_problem *p, int context) {
  const affine *a = p->impl;
  return a->ctx[context].transition.n;
}

static int affine_structure(const cbrl_problem *p, int context, cbrl_mdp *m) {
  const affine *af = p->impl;
  const affine_context *c = &af->ctx[context];
  if (!af->finalized) return CBRL_EINVAL;
  size_t sa = (size_t)p->n_states * p->n_actions;
  memcpy(m->terminal, af->terminal, (size_t)p->n_states);
  memcpy(m->row, c->row, (sa + 1) * sizeof(int64_t));
  for (int64_t k = 0; k < c->transition.n; k++) m->next[k] = c->transition.aux[k];
  return 0;
}

/* Softmax of affine logits over one support list, written into out: the core's softmax row at
   temperature 1 (dividing by 1.0 is exact, so this is exp(z - max z) / sum). */
static void softmax_terms(const affine_context *c, const terms *t, int64_t lo, int64_t hi,
                          const double *x, double *out) {
  if (hi == lo) return; /* a terminal row */
  for (int64_t k = lo; k < hi; k++) out[k - lo] = affine_value(c, t->value[k], t->cstart[k], t->ccount[k], x);
  cbrl_softmax_row(out, (int)(hi - lo), 1.0, out);
}

static int affine_evaluate(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m, void *scratch) {
  const affine *af = p->impl;
  const affine_context *c = &af->ctx[context];
  if (!scratch) return CBRL_EINVAL; /* p->scratch_size bytes, from the MDP */
  size_t sa = (size_t)p->n_states * p->n_actions;
  for (size_t i = 0; i < sa; i++)
    softmax_terms(c, &c->transition, c->row[i], c->row[i + 1], x, m->prob + c->row[i]);
  /* The initial support is a list of states in any order: its softmax is formed in the scratch
     (at least initial.n doubles, finalize sets the size) and scattered to mu. */
  memset(m->mu, 0, sizeof(double) * (size_t)p->n_states);
  double *logit = scratch;
  for (int64_t k = 0; k < c->initial.n; k++)
    logit[k] = affine_value(c, c->initial.value[k], c->initial.cstart[k], c->initial.ccount[k], x);
  cbrl_softmax_row(logit, (int)c->initial.n, 1.0, logit);
  for (int64_t k = 0; k < c->initial.n; k++) m->mu[c->initial.key[k]] = logit[k];
  memcpy(m->r, c->r0, sa * sizeof(double));
  memcpy(m->rbar, c->rbar0, sa * sizeof(double));
  for (int64_t k = 0; k < c->reward.n; k++)
    m->r[c->reward.key[k]] += affine_value(c, 0.0, c->reward.cstart[k], c->reward.ccount[k], x);
  for (int64_t k = 0; k < c->leader_reward.n; k++)
    m->rbar[c->leader_reward.key[k]] +=
        affine_value(c, 0.0, c->leader_reward.cstart[k], c->leader_reward.ccount[k], x);
  return 0;
}

static int affine_vjp(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                      const cbrl_cotangent *ct, double *grad, void *scratch) {
  const affine *af = p->impl;
  const affine_context *c = &af->ctx[context];
  if (ct->r)
    for (int64_t k = 0; k < c->reward.n; k++)
      affine_accumulate(c, c->reward.cstart[k], c->reward.ccount[k], ct->r[c->reward.key[k]], grad);
  if (ct->rbar)
    for (int64_t k = 0; k < c->leader_reward.n; k++)
      affine_accumulate(c, c->leader_reward.cstart[k], c->leader_reward.ccount[k],
                        ct->rbar[c->leader_reward.key[k]], grad);
  if (ct->log_p) {
    /* grad log P_k = coef_k - sum_j P_j coef_j, so sum_k W_k grad log P_k
       = sum_k coef_k (W_k - P_k sum_j W_j) over each row. */
    size_t sa = (size_t)p->n_states * p->n_actions;
    for (size_t i = 0; i < sa; i++) {
      double wsum = 0.0;
      for (int64_t k = c->row[i]; k < c->row[i + 1]; k++) wsum += ct->log_p[k];
      for (int64_t k = c->row[i]; k < c->row[i + 1]; k++)
        affine_accumulate(c, c->transition.cstart[k], c->transition.ccount[k],
                          ct->log_p[k] - m->prob[k] * wsum, grad);
    }
  }
  if (ct->log_mu) {
    double wsum = 0.0;
    for (int64_t k = 0; k < c->initial.n; k++) wsum += ct->log_mu[c->initial.key[k]];
    for (int64_t k = 0; k < c->initial.n; k++) {
      int64_t s = c->initial.key[k];
      affine_accumulate(c, c->initial.cstart[k], c->initial.ccount[k],
                        ct->log_mu[s] - m->mu[s] * wsum, grad);
    }
  }
  return 0;
}

static void affine_destroy(cbrl_problem *p) {
  affine *af = p->impl;
  if (!af) return;
  for (int k = 0; k < p->n_contexts && af->ctx; k++) {
    affine_context *c = &af->ctx[k];
    terms_free(&c->transition);
    terms_free(&c->initial);
    terms_free(&c->reward);
    terms_free(&c->leader_reward);
    free(c->head);
    free(c->link);
    free(c->r_set);
    free(c->rbar_set);
    free(c->mu_set);
    free(c->coef_index);
    free(c->coef_value);
    free(c->row);
    free(c->r0);
    free(c->rbar0);
  }
  free(af->ctx);
  free(af->terminal);
  free(af);
  p->impl = NULL;
}

static int affine_reward_jacobian(const cbrl_problem *p, int context, const double *x,
                                  const cbrl_mdp *m, double *jac_r, double *jac_rbar, void *scratch) {
  const affine *af = p->impl;
  const affine_context *c = &af->ctx[context];
  size_t n = (size_t)p->n_states * p->n_actions * p->dim;
  if (jac_r) {
    memset(jac_r, 0, n * sizeof(double));
    for (int64_t k = 0; k < c->reward.n; k++)
      affine_accumulate(c, c->reward.cstart[k], c->reward.ccount[k], 1.0, jac_r + c->reward.key[k] * p->dim);
  }
  if (jac_rbar) {
    memset(jac_rbar, 0, n * sizeof(double));
    for (int64_t k = 0; k < c->leader_reward.n; k++)
      affine_accumulate(c, c->leader_reward.cstart[k], c->leader_reward.ccount[k], 1.0,
                        jac_rbar + c->leader_reward.key[k] * p->dim);
  }
  return 0;
}

static const cbrl_problem_ops affine_ops = {affine_n_transitions, affine_structure, affine_evaluate,
                                            affine_vjp, affine_destroy, affine_reward_jacobian, NULL, NULL};

/* ---- builder ------------------------------------------------------------------ */

int cbrl_affine_create(cbrl_problem **out, int n_states, int n_actions, int dim, int n_contexts) {
  if (!out || n_states <= 0 || n_actions <= 0 || dim <= 0 || n_contexts <= 0) return CBRL_EINVAL;
  if ((int64_t)n_states * n_actions > INT32_MAX) return CBRL_ERANGE;
  affine *af = calloc(1, sizeof *af);
  if (!af) return CBRL_ENOMEM;
  int err = cbrl_problem_create(out, &affine_ops, af, n_states, n_actions, dim, n_contexts);
  if (err) {
    free(af);
    return err;
  }
  size_t sa = (size_t)n_states * n_actions;
  af->terminal = calloc((size_t)n_states, 1);
  af->ctx = calloc((size_t)n_contexts, sizeof *af->ctx);
  if (!af->terminal || !af->ctx) goto nomem;
  for (int k = 0; k < n_contexts; k++) {
    affine_context *c = &af->ctx[k];
    c->head = malloc(sa * sizeof(int64_t));
    c->r_set = calloc(sa, 1);
    c->rbar_set = calloc(sa, 1);
    c->mu_set = calloc((size_t)n_states, 1);
    if (!c->head || !c->r_set || !c->rbar_set || !c->mu_set) goto nomem;
    for (size_t i = 0; i < sa; i++) c->head[i] = -1;
  }
  snprintf((*out)->name, sizeof (*out)->name, "affine");
  return 0;
nomem:
  cbrl_problem_free(*out);
  *out = NULL;
  return CBRL_ENOMEM;
}

static affine *builder(cbrl_problem *p, int context) {
  if (!p || p->ops != &affine_ops) return NULL;
  affine *af = p->impl;
  if (af->finalized || context < 0 || context >= p->n_contexts) return NULL;
  return af;
}

int cbrl_affine_set_terminal(cbrl_problem *p, int s) {
  affine *af = builder(p, 0);
  if (!af || s < 0 || s >= p->n_states) return CBRL_EINVAL;
  af->terminal[s] = 1;
  return 0;
}

int cbrl_affine_add_initial(cbrl_problem *p, int context, int s, double logit, const double *coef) {
  affine *af = builder(p, context);
  if (!af || s < 0 || s >= p->n_states) return CBRL_EINVAL;
  if (!isfinite(logit)) return CBRL_ERANGE;
  affine_context *c = &af->ctx[context];
  if (c->mu_set[s]) return CBRL_EINVAL;
  int64_t start;
  int32_t count;
  int err = pool_add(c, p->dim, coef, &start, &count);
  if (!err) err = terms_push(&c->initial, s, 0, logit, start, count);
  if (!err) c->mu_set[s] = 1;
  return err;
}

int cbrl_affine_add_transition(cbrl_problem *p, int context, int s, int a, int next, double logit,
                               const double *coef) {
  affine *af = builder(p, context);
  if (!af || s < 0 || s >= p->n_states || a < 0 || a >= p->n_actions || next < 0 ||
      next >= p->n_states)
    return CBRL_EINVAL;
  if (!isfinite(logit)) return CBRL_ERANGE;
  affine_context *c = &af->ctx[context];
  int64_t sa = (int64_t)s * p->n_actions + a;
  for (int64_t k = c->head[sa]; k >= 0; k = c->link[k])
    if (c->transition.aux[k] == next) return CBRL_EINVAL;
  int64_t start;
  int32_t count;
  int err = pool_add(c, p->dim, coef, &start, &count);
  if (!err) err = terms_push(&c->transition, sa, next, logit, start, count);
  if (err) return err;
  /* Grown with the transitions (doubling), not on every add: a realloc to the same size may
     still copy (it does under AddressSanitizer), which made building a problem quadratic. */
  if (c->link_cap < c->transition.cap) {
    if (grow((void **)&c->link, c->transition.cap, sizeof(int64_t))) return CBRL_ENOMEM;
    c->link_cap = c->transition.cap;
  }
  c->link[c->transition.n - 1] = c->head[sa];
  c->head[sa] = c->transition.n - 1;
  return 0;
}

static int set_reward(cbrl_problem *p, int context, int s, int a, double value, const double *coef,
                      int leader) {
  affine *af = builder(p, context);
  if (!af || s < 0 || s >= p->n_states || a < 0 || a >= p->n_actions) return CBRL_EINVAL;
  if (!isfinite(value)) return CBRL_ERANGE;
  affine_context *c = &af->ctx[context];
  int64_t sa = (int64_t)s * p->n_actions + a;
  unsigned char *set = leader ? c->rbar_set : c->r_set;
  if (set[sa]) return CBRL_EINVAL;
  int64_t start;
  int32_t count;
  int err = pool_add(c, p->dim, coef, &start, &count);
  if (!err) err = terms_push(leader ? &c->leader_reward : &c->reward, sa, 0, value, start, count);
  if (!err) set[sa] = 1;
  return err;
}

int cbrl_affine_set_reward(cbrl_problem *p, int context, int s, int a, double value,
                           const double *coef) {
  return set_reward(p, context, s, a, value, coef, 0);
}

int cbrl_affine_set_leader_reward(cbrl_problem *p, int context, int s, int a, double value,
                                  const double *coef) {
  return set_reward(p, context, s, a, value, coef, 1);
}

/* What finalize builds for one context before it touches the builder: the CSR row pointers, the
   transition terms in CSR order (sorted.n == 0 when they already are) and the constant rewards. */
typedef struct staged {
  int64_t *row;
  terms sorted;
  double *r0, *rbar0;
} staged;

static void staged_free(staged *st) {
  free(st->row);
  terms_free(&st->sorted);
  free(st->r0);
  free(st->rbar0);
}

/* Counts the transitions of each (s,a) into st->row (CSR offsets). */
static int stage_rows(const affine_context *c, size_t sa, staged *st) {
  const terms *t = &c->transition;
  st->row = calloc(sa + 1, sizeof(int64_t));
  if (!st->row) return CBRL_ENOMEM;
  for (int64_t k = 0; k < t->n; k++) st->row[t->key[k] + 1]++;
  for (size_t i = 0; i < sa; i++) st->row[i + 1] += st->row[i];
  return 0;
}

/* A copy of the transition terms in CSR order by (s,a), by a stable counting sort; nothing when
   they were added in order already. */
static int stage_sorted(const affine_context *c, size_t sa, staged *st) {
  const terms *t = &c->transition;
  int sorted = 1;
  for (int64_t k = 1; k < t->n && sorted; k++) sorted = t->key[k - 1] <= t->key[k];
  if (sorted || t->n == 0) return 0;
  terms *u = &st->sorted;
  int64_t n = t->n;
  int64_t *fill = malloc(sa * sizeof(int64_t));
  u->key = malloc(n * sizeof *u->key);
  u->aux = malloc(n * sizeof *u->aux);
  u->value = malloc(n * sizeof *u->value);
  u->cstart = malloc(n * sizeof *u->cstart);
  u->ccount = malloc(n * sizeof *u->ccount);
  if (!fill || !u->key || !u->aux || !u->value || !u->cstart || !u->ccount) {
    free(fill);
    return CBRL_ENOMEM; /* staged_free releases u */
  }
  u->n = u->cap = n;
  memcpy(fill, st->row, sa * sizeof(int64_t));
  for (int64_t k = 0; k < n; k++) {
    int64_t j = fill[t->key[k]]++;
    u->key[j] = t->key[k];
    u->aux[j] = t->aux[k];
    u->value[j] = t->value[k];
    u->cstart[j] = t->cstart[k];
    u->ccount[j] = t->ccount[k];
  }
  free(fill);
  return 0;
}

static int stage_rewards(const affine_context *c, size_t sa, staged *st) {
  st->r0 = calloc(sa, sizeof(double));
  st->rbar0 = calloc(sa, sizeof(double));
  if (!st->r0 || !st->rbar0) return CBRL_ENOMEM;
  for (int64_t j = 0; j < c->reward.n; j++) st->r0[c->reward.key[j]] = c->reward.value[j];
  for (int64_t j = 0; j < c->leader_reward.n; j++) st->rbar0[c->leader_reward.key[j]] = c->leader_reward.value[j];
  return 0;
}

static void report(int *bad_context, int *bad_state, int *bad_action, int k, int s, int a) {
  if (bad_context) *bad_context = k;
  if (bad_state) *bad_state = s;
  if (bad_action) *bad_action = a;
}

/* All or nothing: every context's tables are checked and built aside first, and the builder is
   changed only once nothing can fail any more, so a failed call leaves the problem exactly as it
   was (still open for additions, and finalize may be called again). */
int cbrl_affine_finalize(cbrl_problem *p, int *bad_context, int *bad_state, int *bad_action) {
  affine *af = builder(p, 0);
  if (!af) return CBRL_EINVAL;
  size_t sa = (size_t)p->n_states * p->n_actions;
  staged *st = calloc((size_t)p->n_contexts, sizeof *st);
  if (!st) return CBRL_ENOMEM;
  int err = 0;
  for (int k = 0; k < p->n_contexts && !err; k++) {
    const affine_context *c = &af->ctx[k];
    if (c->initial.n == 0) {
      report(bad_context, bad_state, bad_action, k, -1, -1);
      err = CBRL_EINVAL;
      break;
    }
    if ((err = stage_rows(c, sa, &st[k]))) break;
    for (size_t i = 0; i < sa; i++) {
      if (st[k].row[i + 1] > st[k].row[i] || af->terminal[i / p->n_actions]) continue;
      report(bad_context, bad_state, bad_action, k, (int)(i / p->n_actions), (int)(i % p->n_actions));
      err = CBRL_EINVAL;
      break;
    }
    if (!err) err = stage_sorted(c, sa, &st[k]);
    if (!err) err = stage_rewards(c, sa, &st[k]);
  }
  if (err) {
    for (int k = 0; k < p->n_contexts; k++) staged_free(&st[k]);
    free(st);
    return err;
  }
  /* Commit. The builder's duplicate checks are no longer needed. */
  for (int k = 0; k < p->n_contexts; k++) {
    affine_context *c = &af->ctx[k];
    c->row = st[k].row;
    c->r0 = st[k].r0;
    c->rbar0 = st[k].rbar0;
    if (st[k].sorted.n) {
      terms_free(&c->transition);
      c->transition = st[k].sorted;
    }
    free(c->head);
    free(c->link);
    c->head = c->link = NULL;
    c->link_cap = 0;
  }
  free(st);
  /* Record which quantities carry coefficients, so estimators can skip the others. */
  unsigned flags = 0;
  for (int k = 0; k < p->n_contexts; k++) {
    const affine_context *c = &af->ctx[k];
    for (int64_t j = 0; j < c->reward.n; j++) flags |= c->reward.ccount[j] ? CBRL_DEPENDS_R : 0;
    for (int64_t j = 0; j < c->leader_reward.n; j++) flags |= c->leader_reward.ccount[j] ? CBRL_DEPENDS_RBAR : 0;
    for (int64_t j = 0; j < c->transition.n; j++) flags |= c->transition.ccount[j] ? CBRL_DEPENDS_P : 0;
    for (int64_t j = 0; j < c->initial.n; j++) flags |= c->initial.ccount[j] ? CBRL_DEPENDS_MU : 0;
  }
  p->flags = flags;
  int64_t most = 1;
  for (int k = 0; k < p->n_contexts; k++) most = af->ctx[k].initial.n > most ? af->ctx[k].initial.n : most;
  p->scratch_size = sizeof(double) * (size_t)most;
  af->finalized = 1;
  return 0;
}
