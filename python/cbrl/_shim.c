/* The Python package's shim over libcbrl and libcbrl_run (declarations and why in _shim.h):
   a flat ABI of numbers, strings, arrays and opaque handles, so no struct is mirrored in
   Python. It prints nothing and never exits, like the libraries it wraps. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbrl/cbrl.h"
#include "cbrl/run/config.h"
#include "cbrl/run/env_registry.h"
#include "cbrl/run/outfile.h"
#include "cbrl/run/plot.h"
#include "cbrl/run/problem_file.h"
#include "cbrl/run/sweep.h"

#include "_shim.h"

#define SHIM_API __attribute__((visibility("default")))
#define CBRL_PY_ABI 4

static void put_err(char *err, size_t size, const char *fmt, const char *a, long i, const char *b) {
  if (err && size) snprintf(err, size, fmt, a, i, b);
}

SHIM_API int cbrl_py_abi_version(void) { return CBRL_PY_ABI; }
SHIM_API const char *cbrl_py_version(void) { return CBRL_VERSION_STRING; }
SHIM_API const char *cbrl_py_strerror(int code) { return cbrl_strerror(code); }
SHIM_API const char *cbrl_py_err_name(int code) { return cbrl_err_name(code); }

/* ---- problems ------------------------------------------------------------------------- */

SHIM_API const char *cbrl_py_env_names(void) { return cbrl_env_names(); }

SHIM_API int cbrl_py_env_takes(const char *env, const char *field) {
  const cbrl_env *e = cbrl_env_find(env);
  return e ? cbrl_env_takes(e, field) : -1;
}

SHIM_API int cbrl_py_simulator_id(const char *name) { return cbrl_simulator_id(name); }

SHIM_API int cbrl_py_env_problem(const char *env, const char *problem, const char *preferences, double beta,
                                 int simulator, long tax_bins, long states, long actions, long dim, long contexts,
                                 long branch, long problem_seed, cbrl_problem **out, char *err, size_t err_size) {
  const cbrl_env *e = cbrl_env_find(env);
  *out = NULL;
  if (!e) {
    if (err) snprintf(err, err_size, "env: unknown environment '%.40s' (known: %s)", env, cbrl_env_names());
    return CBRL_EINVAL;
  }
  /* NaN or a negative number: the registry's default (docs/CONFIG.md). */
  cbrl_env_params prm;
  cbrl_env_params_default(&prm);
  prm.problem = problem;
  prm.preferences = preferences;
  if (!isnan(beta)) prm.beta = beta;
  if (simulator >= 0) prm.simulator = simulator;
  if (tax_bins >= 0) prm.tax_bins = tax_bins;
  if (states >= 0) prm.states = states;
  if (actions >= 0) prm.actions = actions;
  if (dim >= 0) prm.dim = dim;
  if (contexts >= 0) prm.contexts = contexts;
  if (branch >= 0) prm.branch = branch;
  if (problem_seed >= 0) prm.problem_seed = problem_seed;
  return cbrl_env_create(e, &prm, out, err, err_size);
}

SHIM_API int cbrl_py_env_has_default_x(const char *env) {
  const cbrl_env *e = cbrl_env_find(env);
  return e ? cbrl_env_has_default_x(e) : -1;
}

SHIM_API int cbrl_py_env_default_x(const char *env, const cbrl_problem *p, double *x) {
  const cbrl_env *e = cbrl_env_find(env);
  if (!e) return CBRL_EINVAL;
  cbrl_env_default_x(e, p, x);
  return 0;
}

SHIM_API int cbrl_py_tabular_load(const char *path, cbrl_problem **out, char *err, size_t err_size) {
  *out = NULL;
  return cbrl_tabular_load(out, path, err, err_size);
}

SHIM_API int cbrl_py_tabular_load_info(const char *path, cbrl_problem **out, int *ints, double *theta, double *weights,
                                      int max_nodes, char *err, size_t err_size) {
  *out = NULL;
  cbrl_tabular_info info;
  int rc = cbrl_tabular_load_info(out, &info, path, err, err_size);
  if (rc) return rc;
  ints[0] = info.sampled, ints[1] = info.rule == CBRL_CONTEXTS_SAMPLE, ints[2] = info.n_templates, ints[3] = info.n_nodes;
  for (int i = 0; info.sampled && i < info.n_nodes && i < max_nodes; i++) theta[i] = info.theta[i], weights[i] = info.node_weight[i];
  cbrl_tabular_info_free(&info);
  return 0;
}

SHIM_API int cbrl_py_transformed(cbrl_problem *inner, int dim, int n, const int32_t *kind, const int32_t *n_inputs,
                                 const int32_t *inputs, const double *scale, const double *low, const double *high,
                                 cbrl_problem **out, char *err, size_t err_size) {
  *out = NULL;
  cbrl_transform *t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
  int *in = NULL;
  long total = 0;
  for (int i = 0; i < n; i++) total += n_inputs[i] > 0 ? n_inputs[i] : 0;
  if (t) in = malloc(sizeof(int) * (size_t)(total ? total : 1));
  if (!t || !in) {
    free(t);
    free(in);
    cbrl_problem_free(inner);
    return CBRL_ENOMEM;
  }
  long k = 0, outputs = 0;
  int rc = n > 0 ? 0 : CBRL_EINVAL;
  if (rc && err) snprintf(err, err_size, "transforms: must list at least one transform");
  for (int i = 0; i < n && !rc; i++) {
    t[i].kind = (cbrl_transform_kind)kind[i];
    t[i].n_inputs = n_inputs[i];
    t[i].inputs = in + k;
    for (int q = 0; q < n_inputs[i]; q++, k++) in[k] = inputs[k];
    t[i].scale = scale[i], t[i].low = low[i], t[i].high = high[i];
    char why[160];
    if (kind[i] < 0 || kind[i] >= CBRL_TRANSFORM_COUNT_) {
      rc = CBRL_EINVAL;
      if (err) snprintf(err, err_size, "transforms[%d]: unknown kind", i);
    } else if (cbrl_transform_check(&t[i], dim, why, sizeof why)) {
      rc = CBRL_EINVAL;
      if (err) snprintf(err, err_size, "transforms[%d]: %s", i, why);
    }
    outputs += n_inputs[i];
  }
  if (!rc && outputs != inner->dim) {
    rc = CBRL_EINVAL;
    if (err) snprintf(err, err_size, "transforms: %ld outputs, but the mechanism's coefficients have %d entries", outputs, inner->dim);
  }
  if (rc) cbrl_problem_free(inner);
  else rc = cbrl_transformed_create(out, inner, dim, t, n);
  free(t);
  free(in);
  return rc;
}

SHIM_API int cbrl_py_transform_kind(const char *name) {
  cbrl_transform_kind k;
  return cbrl_transform_parse(name, &k) ? -1 : (int)k;
}

SHIM_API int cbrl_py_transformed_parameters(const cbrl_problem *p, const double *x, double *y) {
  return cbrl_transformed_parameters(p, x, y);
}

SHIM_API double cbrl_py_grouped_standard_error(const cbrl_problem *p, const double *f, int n_templates, int n_nodes) {
  if ((long)n_templates * n_nodes != p->n_contexts) return NAN;
  return cbrl_contexts_grouped_standard_error(f, p->context_weight, n_templates, n_nodes);
}

/* ---- contexts from a distribution ---------------------------------------------------- */

SHIM_API int cbrl_py_contexts_rule(int normal, int sample, int n, uint64_t seed, double *values, double *weights) {
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, 0);
  cbrl_context_rule r = sample ? CBRL_CONTEXTS_SAMPLE : CBRL_CONTEXTS_QUADRATURE;
  return normal ? cbrl_contexts_normal(r, n, &rng, values, weights) : cbrl_contexts_uniform(r, n, &rng, values, weights);
}

SHIM_API double cbrl_py_contexts_standard_error(const double *f, int n) { return cbrl_contexts_standard_error(f, n); }

/* ---- bounds and objectives ------------------------------------------------------------- */

SHIM_API int cbrl_py_bounds_get(const cbrl_problem *p, double *lower, double *upper) {
  if (!cbrl_bounds_present(p)) return 0;
  memcpy(lower, p->x_lower, sizeof(double) * (size_t)p->dim);
  memcpy(upper, p->x_upper, sizeof(double) * (size_t)p->dim);
  return 1;
}

SHIM_API int cbrl_py_bounds_set(cbrl_problem *p, const double *lower, const double *upper, int *bad) {
  return cbrl_problem_set_bounds(p, lower, upper, bad);
}

SHIM_API void cbrl_py_bounds_project(const cbrl_problem *p, double *x) { cbrl_bounds_project(p, x); }

SHIM_API int cbrl_py_bounds_violation(const cbrl_problem *p, const double *x) { return cbrl_bounds_violation(p, x); }

SHIM_API const char *cbrl_py_objective_name(const cbrl_problem *p, int *kind) {
  *kind = p->objective ? (int)p->objective->kind : -1;
  if (!p->objective) return "leader-reward";
  static const char *const names[] = {"leader-reward", "cross-entropy", "preferences", "welfare", "custom"};
  return p->objective->kind <= CBRL_OBJECTIVE_CUSTOM ? names[p->objective->kind] : p->objective->name;
}

SHIM_API int cbrl_py_objective_supports(const cbrl_problem *p, const char *algorithm, char *why, size_t size) {
  return cbrl_objective_supports(p, algorithm, why, size);
}

SHIM_API int cbrl_py_objective_set(cbrl_problem *p, int kind, const double *table, int per_context, const double *table2,
                                   double kappa) {
  cbrl_objective *o = NULL;
  int rc = kind == 0   ? cbrl_objective_leader_reward_create(&o, p)
           : kind == 1 ? cbrl_objective_cross_entropy_create(&o, p, table, per_context, table2)
           : kind == 3 ? cbrl_objective_welfare_create(&o, p, table, kappa)
                       : CBRL_EINVAL;
  if (!rc) rc = cbrl_problem_set_objective(p, o);
  if (rc) cbrl_objective_free(o);
  return rc;
}

SHIM_API int cbrl_py_objective_preferences(cbrl_problem *p, int n, const int32_t *ctx, const double *w, const int64_t *off,
                                           const int32_t *states, const int32_t *actions, double beta, int *bad) {
  cbrl_preference *pr = calloc((size_t)(n > 0 ? n : 1), sizeof *pr);
  if (!pr) return CBRL_ENOMEM;
  for (int k = 0; k < n; k++) {
    pr[k].context = ctx[k], pr[k].weight = w[k];
    pr[k].preferred = (cbrl_trajectory){(int)(off[2 * k + 1] - off[2 * k]), states + off[2 * k], actions + off[2 * k]};
    pr[k].rejected = (cbrl_trajectory){(int)(off[2 * k + 2] - off[2 * k + 1]), states + off[2 * k + 1], actions + off[2 * k + 1]};
  }
  cbrl_objective *o = NULL;
  bad[0] = bad[1] = -1;
  int rc = cbrl_objective_preferences_create(&o, p, pr, n, beta, &bad[0], &bad[1]);
  free(pr);
  if (!rc) rc = cbrl_problem_set_objective(p, o);
  if (rc) cbrl_objective_free(o);
  return rc;
}

/* ---- the contract and optimal-tax options, by name -------------------------------------- */

typedef struct env_field {
  const char *name;
  size_t offset;
  char type;       /* 'i' int, 'd' double, 'u' uint64_t, 'r' cbrl_context_rule */
  int rows, cols;  /* 0, 0 scalar; n, 0 vector; n, m matrix */
} env_field;

#define CF(name, type, rows, cols) {#name, offsetof(cbrl_contract_opts, name), type, rows, cols}
static const env_field contract_fields[] = {
    CF(n_stages, 'i', 0, 0), CF(n_efforts, 'i', 0, 0), CF(n_outcomes, 'i', 0, 0), CF(n_types, 'i', 0, 0),
    CF(outcome_prob, 'd', CBRL_CONTRACT_MAX, CBRL_CONTRACT_MAX), CF(outcome_value, 'd', CBRL_CONTRACT_MAX, 0),
    CF(effort_cost, 'd', CBRL_CONTRACT_TYPES_MAX, CBRL_CONTRACT_MAX), CF(outside_option, 'd', CBRL_CONTRACT_TYPES_MAX, 0),
    CF(type_weight, 'd', CBRL_CONTRACT_TYPES_MAX, 0), CF(participation, 'i', 0, 0), CF(repeat, 'i', 0, 0),
    CF(per_type, 'i', 0, 0), CF(budget, 'd', 0, 0), CF(gamma, 'd', 0, 0), CF(lambda, 'd', 0, 0),
    CF(type_sigma, 'd', 0, 0), CF(type_rule, 'r', 0, 0), CF(type_seed, 'u', 0, 0), {NULL, 0, 0, 0, 0}};
#define TF(name, type, rows) {#name, offsetof(cbrl_optimal_tax_opts, name), type, rows, 0}
static const env_field optimal_tax_fields[] = {
    TF(n_types, 'i', 0), TF(skill, 'd', CBRL_OPTIMAL_TAX_MAX), TF(type_weight, 'd', CBRL_OPTIMAL_TAX_MAX),
    TF(welfare_weight, 'd', CBRL_OPTIMAL_TAX_MAX), TF(n_brackets, 'i', 0), TF(threshold, 'd', CBRL_OPTIMAL_TAX_MAX),
    TF(elasticity, 'd', 0), TF(n_labour, 'i', 0), TF(labour_max, 'd', 0), TF(lambda, 'd', 0), {NULL, 0, 0, 0, 0}};

static const char *fields_keys(const env_field *f, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = 0;
  for (; f->name; f++)
    n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s%s", n ? "," : "", f->name,
                          f->cols ? "[][]" : f->rows ? "[]" : "");
  return buf;
}

/* The address of entry (i, j) of the named field, or NULL with a message. */
static char *field_at(const env_field *f, void *o, const char *key, int i, int j, char *err, size_t size, char *type) {
  for (; f->name; f++) {
    if (strcmp(f->name, key)) continue;
    if ((f->rows && (i < 0 || i >= f->rows)) || (f->cols && (j < 0 || j >= f->cols))) {
      if (err && size) snprintf(err, size, "%s: index out of range (at most %d x %d entries)", key, f->rows, f->cols ? f->cols : 1);
      return NULL;
    }
    *type = f->type;
    size_t at = f->offset + (size_t)(f->rows ? i : 0) * (f->cols ? (size_t)f->cols : 1) * (f->type == 'd' ? sizeof(double) : sizeof(int)) +
                (size_t)(f->cols ? j : 0) * sizeof(double);
    return (char *)o + at;
  }
  if (err && size) snprintf(err, size, "%s: not an option", key);
  return NULL;
}

static int opts_set(const env_field *f, void *o, const char *key, int i, int j, double v, char *err, size_t size) {
  char type;
  char *at = field_at(f, o, key, i, j, err, size, &type);
  if (!at) return CBRL_EINVAL;
  if (type == 'd') memcpy(at, &v, sizeof v);
  if (type == 'i') *(int *)(void *)at = (int)v;
  if (type == 'u') *(uint64_t *)(void *)at = (uint64_t)v;
  if (type == 'r') *(cbrl_context_rule *)(void *)at = v ? CBRL_CONTEXTS_SAMPLE : CBRL_CONTEXTS_QUADRATURE;
  return 0;
}

static int opts_get(const env_field *f, const void *o, const char *key, int i, int j, double *v) {
  char type;
  const char *at = field_at(f, (void *)(uintptr_t)o, key, i, j, NULL, 0, &type);
  if (!at) return CBRL_EINVAL;
  if (type == 'd') memcpy(v, at, sizeof *v);
  if (type == 'i') *v = *(const int *)(const void *)at;
  if (type == 'u') *v = (double)*(const uint64_t *)(const void *)at;
  if (type == 'r') *v = *(const cbrl_context_rule *)(const void *)at == CBRL_CONTEXTS_SAMPLE;
  return 0;
}

SHIM_API cbrl_contract_opts *cbrl_py_contract_opts_new(void) {
  cbrl_contract_opts *o = malloc(sizeof *o);
  if (o) cbrl_contract_opts_default(o);
  return o;
}

SHIM_API cbrl_optimal_tax_opts *cbrl_py_optimal_tax_opts_new(void) {
  cbrl_optimal_tax_opts *o = malloc(sizeof *o);
  if (o) cbrl_optimal_tax_opts_default(o);
  return o;
}

SHIM_API void cbrl_py_env_opts_free(void *o) { free(o); }

SHIM_API const char *cbrl_py_contract_opts_keys(void) {
  static char buf[512];
  return fields_keys(contract_fields, buf, sizeof buf);
}

SHIM_API const char *cbrl_py_optimal_tax_opts_keys(void) {
  static char buf[512];
  return fields_keys(optimal_tax_fields, buf, sizeof buf);
}

SHIM_API int cbrl_py_contract_opts_set(cbrl_contract_opts *o, const char *key, int i, int j, double value, char *err,
                                       size_t err_size) {
  return opts_set(contract_fields, o, key, i, j, value, err, err_size);
}

SHIM_API int cbrl_py_optimal_tax_opts_set(cbrl_optimal_tax_opts *o, const char *key, int i, int j, double value, char *err,
                                          size_t err_size) {
  return opts_set(optimal_tax_fields, o, key, i, j, value, err, err_size);
}

SHIM_API int cbrl_py_contract_opts_get(const cbrl_contract_opts *o, const char *key, int i, int j, double *value) {
  return opts_get(contract_fields, o, key, i, j, value);
}

SHIM_API int cbrl_py_optimal_tax_opts_get(const cbrl_optimal_tax_opts *o, const char *key, int i, int j, double *value) {
  return opts_get(optimal_tax_fields, o, key, i, j, value);
}

SHIM_API int cbrl_py_contract_create(const cbrl_contract_opts *o, cbrl_problem **out) {
  *out = NULL;
  int rc = cbrl_contract_create(out, o);
  if (!rc) snprintf((*out)->name, sizeof (*out)->name, "contract");
  return rc;
}

SHIM_API int cbrl_py_optimal_tax_create(const cbrl_optimal_tax_opts *o, cbrl_problem **out) {
  *out = NULL;
  return cbrl_optimal_tax_create(out, o);
}

SHIM_API int cbrl_py_contract_optimum_lp(const cbrl_contract_opts *o, double *payments, int *effort, double *value) {
  return cbrl_contract_optimum_lp(o, payments, effort, value);
}

SHIM_API double cbrl_py_contract_value_closed_form(const cbrl_contract_opts *o, const double *payments) {
  return cbrl_contract_value_closed_form(o, payments);
}

SHIM_API int cbrl_py_optimal_tax_saez(const cbrl_optimal_tax_opts *o, double *rates) { return cbrl_optimal_tax_saez(o, rates); }

/* Adds one list of entries with `add`, naming the list and entry on failure. */
SHIM_API int cbrl_py_affine(int S, int A, int d, int K, double gamma, double leader_gamma, double lambda,
                            const double *context_weight, const unsigned char *terminal, int64_t n_init,
                            const int32_t *init_ctx, const int32_t *init_s, const double *init_logit,
                            const double *init_coef, int64_t n_trans, const int32_t *tr_ctx, const int32_t *tr_s,
                            const int32_t *tr_a, const int32_t *tr_next, const double *tr_logit,
                            const double *tr_coef, int64_t n_rew, const int32_t *rw_ctx, const int32_t *rw_s,
                            const int32_t *rw_a, const double *rw_value, const double *rw_coef, int64_t n_lrew,
                            const int32_t *lr_ctx, const int32_t *lr_s, const int32_t *lr_a,
                            const double *lr_value, const double *lr_coef, cbrl_problem **out, char *err,
                            size_t err_size) {
  cbrl_problem *p = NULL;
  *out = NULL;
  int rc = cbrl_affine_create(&p, S, A, d, K);
  if (rc) {
    put_err(err, err_size, "%s%ld%s", "affine problem: cannot create (", (long)rc, ")");
    return rc;
  }
  p->gamma = gamma, p->leader_gamma = leader_gamma, p->lambda = lambda;
  for (int k = 0; k < K; k++) p->context_weight[k] = context_weight[k];
  for (int s = 0; s < S && !rc; s++)
    if (terminal[s] && (rc = cbrl_affine_set_terminal(p, s))) put_err(err, err_size, "%s[%ld]%s", "terminal", s, ": refused");
  for (int64_t i = 0; i < n_init && !rc; i++)
    if ((rc = cbrl_affine_add_initial(p, init_ctx[i], init_s[i], init_logit[i], init_coef + i * d)))
      put_err(err, err_size, "%s: entry %ld %s", "mu", (long)i, "refused (state or context out of range)");
  for (int64_t i = 0; i < n_trans && !rc; i++)
    if ((rc = cbrl_affine_add_transition(p, tr_ctx[i], tr_s[i], tr_a[i], tr_next[i], tr_logit[i], tr_coef + i * d)))
      put_err(err, err_size, "%s: entry %ld %s", "transitions", (long)i,
              "refused (a duplicate (s, a, next), or an index out of range)");
  for (int64_t i = 0; i < n_rew && !rc; i++)
    if ((rc = cbrl_affine_set_reward(p, rw_ctx[i], rw_s[i], rw_a[i], rw_value[i], rw_coef + i * d)))
      put_err(err, err_size, "%s: entry %ld %s", "r", (long)i, "refused");
  for (int64_t i = 0; i < n_lrew && !rc; i++)
    if ((rc = cbrl_affine_set_leader_reward(p, lr_ctx[i], lr_s[i], lr_a[i], lr_value[i], lr_coef + i * d)))
      put_err(err, err_size, "%s: entry %ld %s", "rbar", (long)i, "refused");
  if (!rc) {
    int bc = -1, bs = -1, ba = -1;
    rc = cbrl_affine_finalize(p, &bc, &bs, &ba);
    if (rc && err) {
      if (ba < 0) snprintf(err, err_size, "mu: context %d has no initial state", bc);
      else snprintf(err, err_size, "transitions: context %d, state %d, action %d has no successor", bc, bs, ba);
    }
  }
  if (!rc && (rc = cbrl_problem_validate(p)))
    put_err(err, err_size, "%s%ld%s", "affine problem: invalid (code ", (long)rc,
            "): check gamma, leader_gamma, lambda and the context weights");
  if (rc) {
    cbrl_problem_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

/* A problem of Python callbacks: the fixed pattern is the shim's, the values the caller's. */
typedef struct callback_problem {
  cbrl_py_evaluate_fn evaluate;
  cbrl_py_vjp_fn vjp;
  void *user;
  unsigned char *terminal;
  int64_t *row;      /* n_contexts x (S A + 1) */
  int32_t *next;     /* every context's entries */
  int64_t *offset;   /* n_contexts + 1: each context's first entry in next */
  double *zeros;     /* max(S A, max entries, S): the cotangent where the caller gave none */
} callback_problem;

static int64_t cb_n_transitions(const cbrl_problem *p, int k) {
  const callback_problem *c = p->impl;
  return c->offset[k + 1] - c->offset[k];
}

static int cb_structure(const cbrl_problem *p, int k, cbrl_mdp *m) {
  const callback_problem *c = p->impl;
  int64_t sa = (int64_t)p->n_states * p->n_actions;
  memcpy(m->terminal, c->terminal, (size_t)p->n_states);
  memcpy(m->row, c->row + k * (sa + 1), sizeof(int64_t) * (size_t)(sa + 1));
  memcpy(m->next, c->next + c->offset[k], sizeof(int32_t) * (size_t)(c->offset[k + 1] - c->offset[k]));
  return 0;
}

static int cb_evaluate(const cbrl_problem *p, int k, const double *x, cbrl_mdp *m, void *scratch) {
  const callback_problem *c = p->impl;
  int rc = c->evaluate(c->user, k, x, m->prob, m->r, m->rbar, m->mu);
  return rc > 0 ? CBRL_EINVAL : rc;
}

static int cb_vjp(const cbrl_problem *p, int k, const double *x, const cbrl_mdp *m, const cbrl_cotangent *ct,
                  double *grad, void *scratch) {
  const callback_problem *c = p->impl;
  if (!c->vjp) return CBRL_ENOTSUP;
  int rc = c->vjp(c->user, k, x, ct->r ? ct->r : c->zeros, ct->rbar ? ct->rbar : c->zeros,
                  ct->log_p ? ct->log_p : c->zeros, ct->log_mu ? ct->log_mu : c->zeros, grad);
  return rc > 0 ? CBRL_EINVAL : rc;
}

static void cb_destroy(cbrl_problem *p) {
  callback_problem *c = p->impl;
  if (!c) return;
  free(c->terminal), free(c->row), free(c->next), free(c->offset), free(c->zeros), free(c);
}

static const cbrl_problem_ops callback_ops = {.n_transitions = cb_n_transitions, .structure = cb_structure,
                                              .evaluate = cb_evaluate, .vjp = cb_vjp, .destroy = cb_destroy};

SHIM_API int cbrl_py_callback_problem(int S, int A, int d, int K, double gamma, double leader_gamma, double lambda,
                                      const double *context_weight, const unsigned char *terminal,
                                      const int64_t *row, const int32_t *next, cbrl_py_evaluate_fn evaluate,
                                      cbrl_py_vjp_fn vjp, void *user, cbrl_problem **out, char *err,
                                      size_t err_size) {
  *out = NULL;
  if (S < 1 || A < 1 || d < 1 || K < 1 || !evaluate) {
    put_err(err, err_size, "%s%ld%s", "callback problem: sizes must be positive and evaluate given", 0, "");
    return CBRL_EINVAL;
  }
  int64_t sa = (int64_t)S * A, total = 0;
  callback_problem *c = calloc(1, sizeof *c);
  if (!c) return CBRL_ENOMEM;
  c->evaluate = evaluate, c->vjp = vjp, c->user = user;
  c->offset = calloc((size_t)K + 1, sizeof(int64_t));
  c->terminal = malloc((size_t)S);
  c->row = malloc(sizeof(int64_t) * (size_t)(K * (sa + 1)));
  int rc = c->offset && c->terminal && c->row ? 0 : CBRL_ENOMEM;
  for (int k = 0; k < K && !rc; k++) {
    const int64_t *r = row + k * (sa + 1);
    if (r[0] != 0) rc = CBRL_EINVAL;
    for (int64_t i = 0; i < sa && !rc; i++)
      if (r[i + 1] < r[i]) rc = CBRL_EINVAL;
    if (rc) {
      put_err(err, err_size, "%s: context %ld %s", "row", k, "must start at 0 and never decrease");
      break;
    }
    c->offset[k + 1] = c->offset[k] + r[sa];
  }
  if (!rc) {
    total = c->offset[K];
    c->next = malloc(sizeof(int32_t) * (size_t)(total ? total : 1));
    int64_t nz = total > sa ? total : sa;
    c->zeros = calloc((size_t)(nz > S ? nz : S), sizeof(double));
    if (!c->next || !c->zeros) rc = CBRL_ENOMEM;
  }
  for (int64_t i = 0; i < total && !rc; i++)
    if (next[i] < 0 || next[i] >= S) {
      rc = CBRL_EINVAL;
      put_err(err, err_size, "%s: entry %ld %s", "next", (long)i, "is not a state");
    }
  if (rc) {
    cbrl_problem tmp = {0};
    tmp.impl = c;
    cb_destroy(&tmp);
    return rc;
  }
  memcpy(c->terminal, terminal, (size_t)S);
  memcpy(c->row, row, sizeof(int64_t) * (size_t)(K * (sa + 1)));
  memcpy(c->next, next, sizeof(int32_t) * (size_t)total);
  cbrl_problem *p = NULL;
  if ((rc = cbrl_problem_create(&p, &callback_ops, c, S, A, d, K))) {
    cbrl_problem tmp = {0};
    tmp.impl = c;
    cb_destroy(&tmp);
    return rc;
  }
  p->gamma = gamma, p->leader_gamma = leader_gamma, p->lambda = lambda;
  for (int k = 0; k < K; k++) p->context_weight[k] = context_weight[k];
  snprintf(p->name, sizeof p->name, "python");
  if ((rc = cbrl_problem_validate(p))) {
    put_err(err, err_size, "%s%ld%s", "callback problem: invalid (code ", (long)rc,
            "): check gamma, leader_gamma, lambda and the context weights");
    cbrl_problem_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

SHIM_API void cbrl_py_problem_free(cbrl_problem *p) { cbrl_problem_free(p); }

SHIM_API const char *cbrl_py_problem_info(const cbrl_problem *p, int *ints, double *doubles) {
  ints[0] = p->n_states, ints[1] = p->n_actions, ints[2] = p->dim, ints[3] = p->n_contexts, ints[4] = (int)p->flags;
  doubles[0] = p->gamma, doubles[1] = p->leader_gamma, doubles[2] = p->lambda;
  return p->name;
}

SHIM_API void cbrl_py_problem_weights(const cbrl_problem *p, double *w) {
  memcpy(w, p->context_weight, sizeof(double) * (size_t)p->n_contexts);
}

SHIM_API int cbrl_py_problem_set_lambda(cbrl_problem *p, double lambda) {
  if (!(lambda > 0.0) || !isfinite(lambda)) return CBRL_EINVAL;
  p->lambda = lambda;
  return 0;
}

SHIM_API int cbrl_py_problem_validate(const cbrl_problem *p) { return cbrl_problem_validate(p); }

/* ---- MDPs ----------------------------------------------------------------------------- */

SHIM_API int cbrl_py_mdp_new(const cbrl_problem *p, int k, const double *x, cbrl_mdp **out) {
  *out = NULL;
  if (k < 0 || k >= p->n_contexts) return CBRL_EINVAL;
  cbrl_mdp *m = calloc(1, sizeof *m);
  if (!m) return CBRL_ENOMEM;
  int rc = cbrl_mdp_init(m, p, k);
  if (!rc) rc = cbrl_mdp_evaluate(m, p, k, x);
  if (rc) {
    cbrl_mdp_close(m);
    free(m);
    return rc;
  }
  *out = m;
  return 0;
}

SHIM_API void cbrl_py_mdp_free(cbrl_mdp *m) {
  if (!m) return;
  cbrl_mdp_close(m);
  free(m);
}

SHIM_API int64_t cbrl_py_mdp_arrays(const cbrl_mdp *m, int *ints, const unsigned char **terminal,
                                    const int64_t **row, const int32_t **next, const double **prob,
                                    const double **r, const double **rbar, const double **mu) {
  ints[0] = m->n_states, ints[1] = m->n_actions;
  *terminal = m->terminal, *row = m->row, *next = m->next, *prob = m->prob;
  *r = m->r, *rbar = m->rbar, *mu = m->mu;
  return m->n_transitions;
}

SHIM_API int cbrl_py_simulator_kernel(const char *env, int simulator, const cbrl_problem *p, int k,
                                      const double *x, const cbrl_mdp *m, double *prob) {
  const cbrl_env *e = cbrl_env_find(env);
  if (!e || !cbrl_env_offers(e, simulator)) return CBRL_EINVAL;
  cbrl_simulator *sim = NULL;
  int rc = cbrl_env_simulator_create(e, simulator, p, &sim);
  if (rc) return rc;
  if (!sim) { /* consistent: the model's own kernel */
    memcpy(prob, m->prob, sizeof(double) * (size_t)m->n_transitions);
    return 0;
  }
  if (!sim->ops->kernel) {
    cbrl_simulator_free(sim);
    return CBRL_ENOTSUP;
  }
  rc = cbrl_simulator_prepare(sim, k, x, m);
  if (!rc) {
    cbrl_mdp view;
    cbrl_simulator_tabular(sim, m, &view);
    memcpy(prob, view.prob, sizeof(double) * (size_t)m->n_transitions);
  }
  cbrl_simulator_free(sim);
  return rc;
}

/* ---- exact quantities ------------------------------------------------------------------ */

SHIM_API int cbrl_py_exact_create(const cbrl_problem *p, double tol, cbrl_exact **out) {
  *out = NULL;
  int rc = cbrl_exact_create(out, p);
  if (!rc && tol > 0.0) {
    cbrl_soft_opts o;
    cbrl_soft_opts_default(&o);
    o.tol = tol;
    cbrl_exact_set_opts(*out, &o);
  }
  return rc;
}

SHIM_API void cbrl_py_exact_free(cbrl_exact *e) { cbrl_exact_free(e); }

SHIM_API int cbrl_py_exact_evaluate(cbrl_exact *e, const double *x, double *F, double *f_context, double *grad) {
  return cbrl_exact_evaluate(e, x, F, f_context, grad);
}

SHIM_API int cbrl_py_exact_context(cbrl_exact *e, int k, const double *x, double *f, double *grad) {
  return cbrl_exact_context(e, k, x, f, grad);
}

SHIM_API void cbrl_py_exact_arrays(const cbrl_exact *e, int k, const double **q, const double **v,
                                   const double **pi, const double **log_pi, const double **leader_value,
                                   const double **occupancy, const cbrl_mdp **mdp) {
  const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
  *q = w->q, *v = w->v, *pi = w->pi, *log_pi = w->log_pi;
  *leader_value = cbrl_exact_leader_value(e, k);
  *occupancy = cbrl_exact_occupancy(e, k);
  *mdp = cbrl_exact_mdp(e, k);
}

SHIM_API void cbrl_py_exact_stats(const cbrl_exact *e, int k, int64_t *ints, double *residual) {
  const cbrl_soft_stats *s = cbrl_exact_stats(e, k);
  ints[0] = s->iterations, ints[1] = s->linear_iterations, ints[2] = s->converged;
  *residual = s->residual;
}

/* ---- followers ------------------------------------------------------------------------- */

typedef struct callback_follower {
  cbrl_py_respond_fn respond;
  void *user;
  double *pi, *log_pi; /* S x A: the last answer, which the policy points into */
} callback_follower;

SHIM_API int cbrl_py_policy_check(const double *pi, const double *log_pi, int S, int A, char *err,
                                  size_t err_size) {
  for (int s = 0; s < S; s++) {
    double sum = 0.0;
    for (int a = 0; a < A; a++) {
      double v = pi[(int64_t)s * A + a], l = log_pi[(int64_t)s * A + a];
      if (!(v >= 0.0 && v <= 1.0)) {
        if (err) snprintf(err, err_size, "policy: pi[%d, %d] = %g, not a probability", s, a, v);
        return CBRL_EINVAL;
      }
      if (isnan(l) || (v > 0.0 && !isfinite(l))) {
        if (err) snprintf(err, err_size, "log_pi: [%d, %d] = %g, not finite where pi > 0", s, a, l);
        return CBRL_EINVAL;
      }
      sum += v;
    }
    if (!(fabs(sum - 1.0) <= 1e-9)) {
      if (err) snprintf(err, err_size, "policy: row %d sums to %.17g, not 1", s, sum);
      return CBRL_EINVAL;
    }
  }
  return 0;
}

static int cbf_respond(cbrl_follower *f, int k, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                       cbrl_rng *rng, cbrl_policy *out) {
  callback_follower *c = f->impl;
  int S = f->problem->n_states, A = f->problem->n_actions;
  int rc = c->respond(c->user, k, x, m, rng, c->pi, c->log_pi);
  if (rc) return rc > 0 ? CBRL_EINVAL : rc;
  /* The caller's answer is checked here, so that no estimator ever samples from garbage. */
  if ((rc = cbrl_py_policy_check(c->pi, c->log_pi, S, A, NULL, 0))) return rc;
  out->n_states = S, out->n_actions = A, out->pi = c->pi, out->log_pi = c->log_pi;
  f->stats.samples = 0, f->stats.iterations = 0, f->stats.products = 0;
  f->stats.residual = NAN, f->stats.converged = 1;
  return 0;
}

static void cbf_destroy(cbrl_follower *f) {
  callback_follower *c = f->impl;
  if (!c) return;
  free(c->pi), free(c->log_pi), free(c);
}

static const cbrl_follower_ops callback_follower_ops = {.respond = cbf_respond, .destroy = cbf_destroy};

SHIM_API int cbrl_py_follower_callback(const cbrl_problem *p, cbrl_py_respond_fn respond, void *user,
                                       const char *name, cbrl_follower **out) {
  *out = NULL;
  if (!respond) return CBRL_EINVAL;
  size_t n = (size_t)p->n_states * (size_t)p->n_actions;
  callback_follower *c = calloc(1, sizeof *c);
  if (!c) return CBRL_ENOMEM;
  c->respond = respond, c->user = user;
  c->pi = calloc(n, sizeof(double)), c->log_pi = calloc(n, sizeof(double));
  int rc = c->pi && c->log_pi ? cbrl_follower_create(out, p, &callback_follower_ops, c, name ? name : "python")
                              : CBRL_ENOMEM;
  if (rc) free(c->pi), free(c->log_pi), free(c);
  return rc;
}

SHIM_API int cbrl_py_follower_builtin(const cbrl_problem *p, const char *kind, int64_t iterations, int max_steps,
                                      cbrl_follower **out) {
  *out = NULL;
  if (!strcmp(kind, "exact")) return cbrl_follower_exact_create(out, p);
  if (iterations < 1) return CBRL_EINVAL;
  if (!strcmp(kind, "soft-q")) return cbrl_follower_soft_q_create(out, p, iterations, CBRL_SCHEDULE_RESCALED_LINEAR);
  if (!strcmp(kind, "online")) return cbrl_follower_online_create(out, p, iterations, max_steps);
  return CBRL_EINVAL;
}

SHIM_API void cbrl_py_follower_free(cbrl_follower *f) { cbrl_follower_free(f); }

SHIM_API int cbrl_py_follower_respond(cbrl_follower *f, int k, const double *x, const cbrl_mdp *m, uint64_t seed,
                                      uint64_t stream, double *pi, double *log_pi) {
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, stream);
  cbrl_policy pol = {0};
  int rc = cbrl_follower_respond(f, k, x, m, NULL, &rng, &pol);
  if (rc) return rc;
  size_t n = (size_t)pol.n_states * (size_t)pol.n_actions;
  memcpy(pi, pol.pi, sizeof(double) * n);
  memcpy(log_pi, pol.log_pi, sizeof(double) * n);
  return 0;
}

SHIM_API int cbrl_py_follower_online_seed(cbrl_follower *f, uint64_t seed) { return cbrl_follower_online_seed(f, seed); }
SHIM_API uint64_t cbrl_py_online_stream(void) { return CBRL_ONLINE_STREAM; }

SHIM_API cbrl_rng *cbrl_py_rng_new(uint64_t seed, uint64_t stream) {
  cbrl_rng *rng = malloc(sizeof *rng);
  if (rng) cbrl_rng_seed(rng, seed, stream);
  return rng;
}

SHIM_API void cbrl_py_rng_free(cbrl_rng *rng) { free(rng); }

SHIM_API double cbrl_py_soft_value(const double *q, int n, double lambda) { return cbrl_soft_value(q, n, lambda); }

SHIM_API double cbrl_py_soft_policy_row(const double *q, int n, double lambda, double *pi, double *log_pi) {
  return cbrl_soft_policy_row(q, n, lambda, pi, log_pi);
}

SHIM_API uint64_t cbrl_py_rng_next(cbrl_rng *rng) { return cbrl_rng_next(rng); }
SHIM_API double cbrl_py_rng_uniform(cbrl_rng *rng) { return cbrl_rng_uniform(rng); }

SHIM_API void cbrl_py_rng_normals(uint64_t seed, uint64_t stream, int n, double *out) {
  cbrl_rng rng;
  cbrl_rng_seed(&rng, seed, stream);
  for (int i = 0; i < n; i++) out[i] = cbrl_rng_normal(&rng);
}

/* ---- simulators ------------------------------------------------------------------------ */

SHIM_API int cbrl_py_simulator_create(const char *env, const char *name, const cbrl_problem *p,
                                      cbrl_simulator **out, char *err, size_t err_size) {
  *out = NULL;
  const cbrl_env *e = cbrl_env_find(env);
  int id = cbrl_simulator_id(name);
  if (!e || id < 0 || !cbrl_env_offers(e, id)) {
    if (err) snprintf(err, err_size, "simulator: '%.40s' is not offered by env '%.40s' (simulators: %s)", name, env,
                      cbrl_simulator_names());
    return CBRL_EINVAL;
  }
  return cbrl_env_simulator_create(e, id, p, out);
}

SHIM_API void cbrl_py_simulator_free(cbrl_simulator *s) { cbrl_simulator_free(s); }

/* ---- estimators ------------------------------------------------------------------------ */

/* The standard error of the mean, as `cbrl hypergrad` computes it (cli/cli_hypergrad.c):
   the textbook form where well conditioned, Welford's M2 where it cancels; NAN when fewer than
   2 estimates or no spread was observed. */
static double standard_error(double n, double sum, double sum2, double m2) {
  if (n < 2.0 || m2 == 0.0) return NAN;
  double mean = sum / n, num = sum2 - n * mean * mean;
  double var = isfinite(sum2) && num > 1e-6 * sum2 ? num / (n - 1.0) : m2 / (n - 1.0);
  return sqrt(var > 0.0 ? var / n : 0.0);
}

/* The same loop as `cbrl hypergrad --estimator` (cli/cli_hypergrad.c, estimate), so that the
   two agree to the last bit for the same seed; kept in step with it by python/tests. */
SHIM_API int cbrl_py_estimate(const cbrl_problem *p, cbrl_exact *e, const double *x, const char *estimator,
                              long samples, long seed, long steps, double zo_u, long amd_updates, long levels,
                              cbrl_follower *follower, cbrl_simulator *simulator, const volatile int *cancel,
                              double *grad, double *se, int64_t *counts, char *err, size_t err_size) {
  cbrl_algorithm alg;
  if (cbrl_algorithm_parse(estimator, &alg) || alg == CBRL_ALG_EXACT) {
    if (err) snprintf(err, err_size, "estimator: unknown '%.40s' (hpgd, hpgd-batch, zero-order, amd, hpgd-rtq)", estimator);
    return CBRL_EINVAL;
  }
  static const volatile int never = 0;
  if (!cancel) cancel = &never;
  int d = p->dim, rc = 0;
  counts[0] = counts[1] = 0;
  memset(grad, 0, sizeof(double) * (size_t)d);
  for (int j = 0; j < d; j++) se[j] = NAN;
  double *g = calloc((size_t)d, sizeof(double)), *sum2 = calloc((size_t)d, sizeof(double));
  double *wmean = calloc((size_t)d, sizeof(double)), *m2 = calloc((size_t)d, sizeof(double));
  cbrl_hpgd *h = NULL;
  cbrl_amd *amd = NULL;
  cbrl_zero_order *zo = NULL;
  cbrl_rtq *rtq = NULL;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, (uint64_t)seed, 1);
  if (!g || !sum2 || !wmean || !m2) {
    rc = CBRL_ENOMEM;
    goto done;
  }
  if ((rc = cbrl_exact_evaluate(e, x, NULL, NULL, NULL))) goto done;
  if (alg == CBRL_ALG_AMD) {
    if ((rc = cbrl_amd_create(&amd, p))) {
      if (rc == CBRL_ENOTSUP && err)
        snprintf(err, err_size, "estimator: amd: this problem's P or mu depends on x, which AMD does not model");
      goto done;
    }
    cbrl_amd_set_cancel(amd, cancel);
    for (int k = 0; k < p->n_contexts && !rc; k++) {
      rc = cbrl_exact_context(e, k, x, NULL, NULL);
      if (rc && rc != CBRL_ENOCONV) goto done;
      rc = cbrl_amd_step(amd, k, x, cbrl_exact_mdp(e, k), (int)amd_updates, g);
      for (int j = 0; j < d; j++) grad[j] += p->context_weight[k] * g[j];
    }
    goto done;
  }
  if (samples < 1) {
    if (err) snprintf(err, err_size, "samples: must be at least 1, got %ld", samples);
    rc = CBRL_EINVAL;
    goto done;
  }
  cbrl_hpgd_opts ho;
  cbrl_hpgd_opts_default(&ho);
  ho.steps = steps;
  if (alg == CBRL_ALG_HPGD) ho.kind = CBRL_HPGD_UNBIASED, ho.steps = 0, ho.samples = 1;
  if (alg == CBRL_ALG_HPGD || alg == CBRL_ALG_HPGD_BATCH) {
    if ((rc = cbrl_hpgd_create(&h, p, steps))) goto done;
    if (follower) follower->cancel = cancel;
  } else if (alg == CBRL_ALG_HPGD_RTQ) {
    cbrl_rtq_opts ro;
    cbrl_rtq_opts_default(&ro);
    ro.levels = (int)levels;
    ro.hpgd.steps = steps;
    ro.cancel = cancel;
    if ((rc = cbrl_rtq_create(&rtq, p, &ro))) goto done;
  } else if ((rc = cbrl_zero_order_create(&zo, p))) {
    goto done;
  }
  if (zo) cbrl_exact_set_cancel(cbrl_zero_order_exact(zo), cancel);
  for (long b = 0; b < samples; b++) {
    if (*cancel) {
      rc = CBRL_ECANCELED;
      goto done;
    }
    double f0;
    int k = cbrl_problem_draw_context(p, &rng);
    rc = cbrl_exact_context(e, k, x, &f0, NULL);
    if (rc && rc != CBRL_ENOCONV) goto done;
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    const cbrl_mdp *m = cbrl_exact_mdp(e, k);
    cbrl_policy pol = {m->n_states, m->n_actions, w->pi, w->log_pi};
    cbrl_estimate_info info = {0};
    if (follower && h) {
      if ((rc = cbrl_follower_respond(follower, k, x, m, simulator, &rng, &pol))) goto done;
      counts[1] += follower->stats.samples;
    }
    if (rtq) {
      cbrl_rtq_info ri;
      rc = cbrl_rtq_estimate(rtq, k, x, m, NULL, &rng, -1, 0, g, &ri);
      info.env_steps = ri.env_steps;
      counts[1] += ri.follower_samples;
    } else if (h) {
      rc = cbrl_hpgd_estimate(h, k, x, m, simulator, &pol, &ho, &rng, g, &info);
    } else {
      rc = cbrl_zero_order_estimate(zo, k, x, f0, zo_u, &rng, g, NULL);
      if (rc == CBRL_ENOCONV) rc = 0;
    }
    if (rc) goto done;
    counts[0] += info.env_steps;
    for (int j = 0; j < d; j++) {
      grad[j] += g[j], sum2[j] += g[j] * g[j];
      double delta = g[j] - wmean[j];
      wmean[j] += delta / (double)(b + 1);
      m2[j] += delta * (g[j] - wmean[j]);
    }
  }
  for (int j = 0; j < d; j++) {
    double n = (double)samples;
    se[j] = standard_error(n, grad[j], sum2[j], m2[j]);
    grad[j] /= n;
  }
done:
  if (follower) follower->cancel = NULL;
  cbrl_hpgd_free(h);
  cbrl_amd_free(amd);
  cbrl_rtq_free(rtq);
  cbrl_zero_order_free(zo);
  free(g), free(sum2), free(wmean), free(m2);
  return rc;
}

/* ---- the leader ------------------------------------------------------------------------ */

SHIM_API int cbrl_py_leader_opts_new(cbrl_leader_opts **out) {
  *out = malloc(sizeof **out);
  if (!*out) return CBRL_ENOMEM;
  cbrl_leader_opts_default(*out);
  return 0;
}

SHIM_API void cbrl_py_leader_opts_free(cbrl_leader_opts *o) { free(o); }

/* One table of the numeric options: name, and where it lives as double or integer. */
typedef struct opt_field {
  const char *name;
  size_t offset;
  char type; /* 'd' double, 'i' int, 'l' int64, 'u' uint64 */
} opt_field;

#define OPT_D(n, f) {n, offsetof(cbrl_leader_opts, f), 'd'}
#define OPT_I(n, f) {n, offsetof(cbrl_leader_opts, f), 'i'}
#define OPT_L(n, f) {n, offsetof(cbrl_leader_opts, f), 'l'}
#define OPT_U(n, f) {n, offsetof(cbrl_leader_opts, f), 'u'}
static const opt_field opt_fields[] = {
    OPT_D("learning_rate", learning_rate), OPT_D("max_grad_norm", max_grad_norm),
    OPT_D("clip_growth", clip_growth),     OPT_D("adam_beta1", adam_beta1),
    OPT_D("adam_beta2", adam_beta2),       OPT_D("adam_eps", adam_eps),
    OPT_U("seed", seed),                   OPT_U("stream", stream),
    OPT_L("hpgd_steps", hpgd.steps),       OPT_L("hpgd_samples", hpgd.samples),
    OPT_I("hpgd_streams", hpgd.streams),   OPT_I("hpgd_max_steps", hpgd.max_steps),
    OPT_D("zero_order_c", zero_order_c),   OPT_I("amd_updates", amd_updates),
    OPT_D("init_std", init_std),           OPT_I("rtq_levels", rtq.levels),
    OPT_D("rtq_level_decay", rtq.level_decay), OPT_L("rtq_hpgd_steps", rtq.hpgd.steps),
    OPT_L("rtq_hpgd_samples", rtq.hpgd.samples), OPT_I("hpgd_folds", hpgd.folds)};
#define N_OPT_FIELDS (sizeof opt_fields / sizeof opt_fields[0])

SHIM_API const char *cbrl_py_leader_opts_keys(void) {
  return "learning_rate,max_grad_norm,clip_growth,adam_beta1,adam_beta2,adam_eps,seed,stream,hpgd_steps,"
         "hpgd_samples,hpgd_streams,hpgd_max_steps,zero_order_c,amd_updates,init_std,rtq_levels,rtq_level_decay,"
         "rtq_hpgd_steps,rtq_hpgd_samples,hpgd_folds";
}

SHIM_API const char *cbrl_py_leader_opts_name_keys(void) { return "algorithm,optimizer,clip,hpgd_kind,rtq_hpgd_kind,rtq_schedule,hpgd_critic,hpgd_score"; }

static const opt_field *opt_find(const char *key) {
  for (size_t i = 0; i < N_OPT_FIELDS; i++)
    if (!strcmp(opt_fields[i].name, key)) return &opt_fields[i];
  return NULL;
}

SHIM_API int cbrl_py_leader_opts_set(cbrl_leader_opts *o, const char *key, double value, char *err,
                                     size_t err_size) {
  const opt_field *f = opt_find(key);
  if (!f) {
    if (err) snprintf(err, err_size, "%.40s: not a leader option (numeric: %s; named: %s)", key,
                      cbrl_py_leader_opts_keys(), cbrl_py_leader_opts_name_keys());
    return CBRL_EINVAL;
  }
  char *base = (char *)o + f->offset;
  if (f->type != 'd' && (value != floor(value) || !(fabs(value) < 9.2e18) || (f->type == 'u' && value < 0) ||
                         (f->type == 'i' && fabs(value) > 2147483647.0))) {
    if (err) snprintf(err, err_size, "%.40s: must be an integer in range, got %g", key, value);
    return CBRL_EINVAL;
  }
  if (f->type == 'd' && !isfinite(value)) {
    if (err) snprintf(err, err_size, "%.40s: must be finite, got %g", key, value);
    return CBRL_EINVAL;
  }
  switch (f->type) {
    case 'd': memcpy(base, &value, sizeof value); break;
    case 'i': { int v = (int)value; memcpy(base, &v, sizeof v); break; }
    case 'l': { int64_t v = (int64_t)value; memcpy(base, &v, sizeof v); break; }
    default: { uint64_t v = (uint64_t)value; memcpy(base, &v, sizeof v); break; }
  }
  return 0;
}

SHIM_API int cbrl_py_leader_opts_set_clip_groups(cbrl_leader_opts *o, const int *sizes, int n) {
  if (n < 0 || n > CBRL_CLIP_GROUPS_MAX) return CBRL_EINVAL;
  for (int k = 0; k < n; k++)
    if (sizes[k] < 1) return CBRL_EINVAL;
  o->n_clip_groups = n;
  for (int k = 0; k < n; k++) o->clip_group_size[k] = sizes[k];
  return 0;
}

SHIM_API int cbrl_py_leader_opts_set_u64(cbrl_leader_opts *o, const char *key, uint64_t value) {
  if (!strcmp(key, "seed")) o->seed = value;
  else if (!strcmp(key, "stream")) o->stream = value;
  else return CBRL_EINVAL;
  return 0;
}

SHIM_API int cbrl_py_leader_opts_get(const cbrl_leader_opts *o, const char *key, double *value) {
  const opt_field *f = opt_find(key);
  if (!f) return CBRL_EINVAL;
  const char *base = (const char *)o + f->offset;
  switch (f->type) {
    case 'd': memcpy(value, base, sizeof *value); break;
    case 'i': { int v; memcpy(&v, base, sizeof v); *value = v; break; }
    case 'l': { int64_t v; memcpy(&v, base, sizeof v); *value = (double)v; break; }
    default: { uint64_t v; memcpy(&v, base, sizeof v); *value = (double)v; break; }
  }
  return 0;
}

SHIM_API int cbrl_py_leader_opts_set_name(cbrl_leader_opts *o, const char *key, const char *value, char *err,
                                          size_t err_size) {
  int rc = 0;
  if (!strcmp(key, "algorithm")) {
    rc = cbrl_algorithm_parse(value, &o->algorithm);
    if (!rc && o->algorithm == CBRL_ALG_HPGD) o->hpgd.kind = CBRL_HPGD_UNBIASED;
    if (!rc && o->algorithm == CBRL_ALG_HPGD_BATCH) o->hpgd.kind = CBRL_HPGD_BATCH;
  } else if (!strcmp(key, "optimizer")) {
    if (!strcmp(value, "sgd")) o->optimizer = CBRL_SGD;
    else if (!strcmp(value, "adam")) o->optimizer = CBRL_ADAM;
    else rc = CBRL_EINVAL;
  } else if (!strcmp(key, "clip")) {
    rc = cbrl_clip_mode_parse(value, &o->clip);
  } else if (!strcmp(key, "hpgd_kind") || !strcmp(key, "rtq_hpgd_kind")) {
    cbrl_hpgd_kind kind = CBRL_HPGD_BATCH;
    if (!strcmp(value, "unbiased")) kind = CBRL_HPGD_UNBIASED;
    else if (strcmp(value, "batch")) rc = CBRL_EINVAL;
    if (!rc) *(key[0] == 'h' ? &o->hpgd.kind : &o->rtq.hpgd.kind) = kind;
  } else if (!strcmp(key, "hpgd_critic")) { /* hpgd-critic (docs/MODEL.md 4.1c) */
    rc = cbrl_hpgd_critic_parse(value, &o->hpgd.critic);
  } else if (!strcmp(key, "hpgd_score")) {
    if (!strcmp(value, "expected")) o->hpgd.expected_score = 1;
    else if (!strcmp(value, "sampled")) o->hpgd.expected_score = 0;
    else rc = CBRL_EINVAL;
  } else if (!strcmp(key, "rtq_schedule")) {
    if (!strcmp(value, "rescaled-linear")) o->rtq.schedule = CBRL_SCHEDULE_RESCALED_LINEAR;
    else if (!strcmp(value, "polynomial")) o->rtq.schedule = CBRL_SCHEDULE_POLYNOMIAL;
    else rc = CBRL_EINVAL;
  } else {
    if (err) snprintf(err, err_size, "%.40s: not a named leader option (%s)", key, cbrl_py_leader_opts_name_keys());
    return CBRL_EINVAL;
  }
  if (rc && err) snprintf(err, err_size, "%.40s: unknown value '%.40s'", key, value);
  return rc ? CBRL_EINVAL : 0;
}

SHIM_API void cbrl_py_leader_opts_set_objects(cbrl_leader_opts *o, cbrl_follower *f, cbrl_simulator *s,
                                              const volatile int *cancel) {
  o->follower = f, o->simulator = s, o->cancel = cancel;
}

SHIM_API int cbrl_py_leader_create(const cbrl_problem *p, const cbrl_leader_opts *o, const double *x0,
                                   cbrl_leader **out) {
  *out = NULL;
  return cbrl_leader_create(out, p, o, x0);
}

SHIM_API void cbrl_py_leader_free(cbrl_leader *L) { cbrl_leader_free(L); }

SHIM_API const char *cbrl_py_leader_metric_names(void) {
  return "iteration,context,f_context,F,grad_norm,env_steps,follower_iterations,follower_products,"
         "follower_residual,follower_samples,level,clipped";
}

SHIM_API int cbrl_py_leader_metric_count(void) { return 12; }

static void metrics_out(const cbrl_leader_metrics *m, double *v) {
  v[0] = (double)m->iteration, v[1] = m->context, v[2] = m->f_context, v[3] = m->F, v[4] = m->grad_norm;
  v[5] = (double)m->env_steps, v[6] = (double)m->follower_iterations, v[7] = (double)m->follower_products;
  v[8] = m->follower_residual, v[9] = (double)m->follower_samples, v[10] = m->level, v[11] = m->clipped;
}

SHIM_API int cbrl_py_leader_step(cbrl_leader *L, int with_metrics, double *v) {
  cbrl_leader_metrics m;
  int rc = cbrl_leader_step(L, with_metrics, &m);
  if (rc) return rc;
  metrics_out(&m, v);
  return 0;
}

SHIM_API int cbrl_py_leader_ask(cbrl_leader *L, int64_t *iteration, int *ints, const double **x,
                                const cbrl_mdp **mdp, cbrl_rng **rng) {
  cbrl_leader_query q;
  int rc = cbrl_leader_ask(L, &q);
  if (rc) return rc;
  *iteration = q.iteration;
  ints[0] = q.context, ints[1] = q.wants_response;
  *x = q.x, *mdp = q.mdp, *rng = q.rng;
  return 0;
}

static int tell(cbrl_leader *L, const cbrl_leader_answer *a, int with_metrics, double *v, char *err, size_t size) {
  cbrl_leader_metrics m;
  int rc = cbrl_leader_tell(L, a, with_metrics, &m);
  if (rc) {
    if (err && size) snprintf(err, size, "%s", cbrl_leader_error(L));
    return rc;
  }
  metrics_out(&m, v);
  return 0;
}

SHIM_API int cbrl_py_leader_tell_policy(cbrl_leader *L, int S, int A, const double *pi, const double *log_pi,
                                        int64_t samples, int with_metrics, double *v, char *err, size_t err_size) {
  cbrl_leader_answer a;
  memset(&a, 0, sizeof a);
  if (pi && log_pi) {
    int rc = cbrl_py_policy_check(pi, log_pi, S, A, err, err_size);
    if (rc) {
      cbrl_leader_abandon(L);
      return rc;
    }
    a.has_policy = 1;
    a.policy.n_states = S, a.policy.n_actions = A, a.policy.pi = pi, a.policy.log_pi = log_pi;
    a.stats.samples = samples, a.stats.residual = NAN, a.stats.converged = 1;
  }
  return tell(L, pi && log_pi ? &a : NULL, with_metrics, v, err, err_size);
}

SHIM_API int cbrl_py_leader_tell_batch(cbrl_leader *L, int64_t n, const int32_t *s, const int32_t *act,
                                       const int32_t *next, const double *r, const double *log_pi,
                                       const uint32_t *flags, int64_t samples, int with_metrics, double *v,
                                       char *err, size_t err_size) {
  cbrl_batch b;
  int rc = cbrl_batch_init(&b, n > 0 ? n : 1);
  if (rc) {
    cbrl_leader_abandon(L);
    return rc;
  }
  for (int64_t i = 0; i < n; i++) {
    cbrl_step *st = &b.steps[i];
    memset(st, 0, sizeof *st);
    st->s = s[i], st->a = act[i], st->next = next[i], st->flags = flags[i];
    st->r = r ? r[i] : NAN;
    st->log_pi = log_pi ? log_pi[i] : NAN;
    st->rbar = NAN, st->entry = -1, st->t = -1;
  }
  b.n_steps = n;
  cbrl_leader_answer a;
  memset(&a, 0, sizeof a);
  a.batch = &b;
  a.stats.samples = samples, a.stats.residual = NAN, a.stats.converged = 1;
  rc = tell(L, &a, with_metrics, v, err, err_size);
  cbrl_batch_close(&b);
  return rc;
}

SHIM_API void cbrl_py_leader_abandon(cbrl_leader *L) { cbrl_leader_abandon(L); }

SHIM_API unsigned cbrl_py_trajectory_needs(const cbrl_problem *p, unsigned *flags) {
  flags[0] = CBRL_STEP_TERMINATED, flags[1] = CBRL_STEP_TRUNCATED, flags[2] = CBRL_STEP_CUT;
  return p ? cbrl_trajectory_needs(p) : 0;
}

SHIM_API int64_t cbrl_py_simulate(const cbrl_mdp *m, const double *pi, const double *log_pi, int n_streams,
                                  int64_t steps_per_stream, int max_steps, cbrl_rng *rng, int32_t *s, int32_t *a,
                                  int32_t *next, double *r, double *log_pi_out, uint32_t *flags) {
  if (n_streams < 1 || steps_per_stream < 1) return CBRL_EINVAL;
  cbrl_policy pol = {m->n_states, m->n_actions, pi, log_pi};
  cbrl_batch b;
  int rc = cbrl_batch_init(&b, (int64_t)n_streams * steps_per_stream);
  if (rc) return rc;
  rc = cbrl_sim_batch(m, &pol, n_streams, steps_per_stream, max_steps, 0, rng, &b);
  int64_t n = rc ? rc : b.n_steps;
  for (int64_t i = 0; !rc && i < b.n_steps; i++) {
    const cbrl_step *st = &b.steps[i];
    s[i] = st->s, a[i] = st->a, next[i] = st->next, r[i] = st->r, log_pi_out[i] = st->log_pi, flags[i] = st->flags;
  }
  cbrl_batch_close(&b);
  return n;
}

static double now_seconds(int cpu) {
  struct timespec ts;
  clock_gettime(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

SHIM_API int cbrl_py_leader_time_steps(cbrl_leader *L, int n, int with_metrics, int cpu, double *seconds) {
  cbrl_leader_metrics m;
  for (int i = 0; i < n; i++) {
    double t0 = now_seconds(cpu);
    int rc = cbrl_leader_step(L, with_metrics, &m);
    seconds[i] = now_seconds(cpu) - t0;
    if (rc) return rc;
  }
  return 0;
}

SHIM_API const double *cbrl_py_leader_x(const cbrl_leader *L) { return cbrl_leader_x(L); }
SHIM_API cbrl_exact *cbrl_py_leader_exact(cbrl_leader *L) { return cbrl_leader_exact(L); }

/* ---- configs and sweeps ---------------------------------------------------------------- */

SHIM_API int cbrl_py_config_new(cbrl_config **out) {
  *out = malloc(sizeof **out);
  if (!*out) return CBRL_ENOMEM;
  cbrl_config_default(*out);
  return 0;
}

SHIM_API void cbrl_py_config_free(cbrl_config *c) { free(c); }

SHIM_API int cbrl_py_config_load(cbrl_config *c, const char *path, char *err, size_t err_size) {
  return cbrl_config_load(c, path, err, err_size);
}

SHIM_API int cbrl_py_config_set(cbrl_config *c, const char *assignment, char *err, size_t err_size) {
  return cbrl_config_set(c, assignment, err, err_size);
}

/* The checks `cbrl run` makes before it writes anything (cli/cli_run.c). */
SHIM_API int cbrl_py_config_check(const cbrl_config *c, char *err, size_t err_size) {
  int rc = cbrl_config_validate(c, err, err_size);
  return rc ? rc : cbrl_config_check_problem(c, 1, err, err_size);
}

SHIM_API int cbrl_py_config_canonical(const cbrl_config *c, char *buf, size_t size) {
  return cbrl_config_canonical(c, buf, size);
}

SHIM_API int cbrl_py_config_n_runs(const cbrl_config *c) {
  cbrl_run_spec *runs;
  int n = 0;
  if (cbrl_config_runs(c, &runs, &n)) return -1;
  free(runs);
  return n;
}

typedef struct sweep_user {
  cbrl_py_progress_fn progress;
  cbrl_py_log_fn log;
  void *user;
} sweep_user;

static void sweep_progress(void *user, const cbrl_sweep_progress *p) {
  sweep_user *u = user;
  if (u->progress)
    u->progress(u->user, p->n_runs, p->n_done, p->n_failed, p->iterations, p->elapsed, p->eta, p->best_F, p->fraction);
}

static void sweep_log(void *user, const char *line) {
  sweep_user *u = user;
  if (u->log) u->log(u->user, line);
}

SHIM_API int cbrl_py_sweep(const cbrl_config *c, const char *out_dir, int threads, int resume, int plot,
                           cbrl_py_progress_fn progress, cbrl_py_log_fn log, void *user, int progress_ms,
                           const volatile int *stop, int *outcome, char *err, size_t err_size) {
  enum { CANONICAL_MAX = 65536 }; /* as cli/cli_run.c: an init_x list of CBRL_INIT_X_MAX values fits */
  char *text = malloc(CANONICAL_MAX);
  if (!text) return CBRL_ENOMEM;
  int rc = cbrl_config_canonical(c, text, CANONICAL_MAX) < 0 ? CBRL_EINVAL : 0;
  if (rc) snprintf(err, err_size, "config too large");
  if (!rc) rc = cbrl_path_check("out", out_dir, err, err_size);
  sweep_user u = {progress, log, user};
  cbrl_sweep_opts so = {out_dir, threads, resume, plot, text, stop, sweep_progress, sweep_log, &u, progress_ms, NULL};
  cbrl_sweep_progress res;
  memset(&res, 0, sizeof res);
  if (!rc) rc = cbrl_sweep_run(c, &so, &res, err, err_size);
  outcome[0] = res.n_runs, outcome[1] = res.n_done, outcome[2] = res.n_failed, outcome[3] = res.n_interrupted;
  outcome[4] = res.stopped;
  free(text);
  return rc;
}

SHIM_API int cbrl_py_plot(const char *dir, const char *out_dir, int formats, int smooth, const char *only,
                          int *n_figures, char *err, size_t err_size) {
  cbrl_plot_opts o = {dir, out_dir, formats, smooth, only};
  *n_figures = 0;
  return cbrl_plot_sweep(&o, n_figures, err, err_size);
}

/* ---- Four-Rooms geometry ---------------------------------------------------------------- */

SHIM_API void cbrl_py_four_rooms_penalties(const double *x, double *penalty) { cbrl_four_rooms_penalties(x, penalty); }

SHIM_API void cbrl_py_four_rooms_layout(int *rows, int *cols, int *special) {
  for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) cbrl_four_rooms_coords(i, &rows[i], &cols[i]);
  special[0] = cbrl_four_rooms_start(), special[1] = cbrl_four_rooms_target();
  special[2] = cbrl_four_rooms_goal(0), special[3] = cbrl_four_rooms_goal(1);
}
