/* Loader for cbrl-tabular-1 problem files (docs/PROBLEM_FILES.md): validates everything against the
   schema and builds an affine problem. */
#include "cbrl/run/problem_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/affine.h"
#include "cbrl/errors.h"
#include "yaml_util.h"

#define MAX_STATES 10000000L
#define MAX_ACTIONS 100000L
#define MAX_DIM 1000000L

typedef struct loader {
  cbrl_yaml y;
  cbrl_problem *p;
  long n_states, n_actions, dim;
  double *coef; /* dim */
} loader;

static const char *const top_keys[] = {"format", "states", "actions", "dim", "gamma", "leader_gamma",
                                       "lambda", "terminal", "contexts", NULL};
static const char *const context_keys[] = {"weight", "initial", "transitions", "reward",
                                           "leader_reward", NULL};
static const char *const initial_keys[] = {"s", "logit", "coef", NULL};
static const char *const transition_keys[] = {"s", "a", "next", "logit", "coef", NULL};
static const char *const reward_keys[] = {"s", "a", "value", "coef", NULL};

static yaml_node_t *required(loader *l, const yaml_node_t *map, const char *key, const char *field) {
  yaml_node_t *n = cbrl_yaml_get(&l->y, map, key);
  if (!n) {
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", field, *field ? "." : "", key);
    cbrl_yaml_fail(&l->y, map, path, "required field is missing");
  }
  return n;
}

/* Reads an optional coef list of length dim into l->coef; returns NULL-able pointer via *out. */
static int read_coef(loader *l, const yaml_node_t *entry, const char *field, const double **out) {
  *out = NULL;
  yaml_node_t *n = cbrl_yaml_get(&l->y, entry, "coef");
  if (!n) return 0;
  char path[256];
  snprintf(path, sizeof path, "%s.coef", field);
  int err = cbrl_yaml_expect(&l->y, n, YAML_SEQUENCE_NODE, path);
  if (err) return err;
  if (cbrl_yaml_length(n) != l->dim)
    return cbrl_yaml_fail(&l->y, n, path, "has %d entries, expected dim = %ld", cbrl_yaml_length(n), l->dim);
  for (long j = 0; j < l->dim; j++) {
    char item[280];
    snprintf(item, sizeof item, "%s[%ld]", path, j);
    if ((err = cbrl_yaml_double(&l->y, cbrl_yaml_item(&l->y, n, (int)j), item, &l->coef[j]))) return err;
  }
  *out = l->coef;
  return 0;
}

static int read_index(loader *l, const yaml_node_t *entry, const char *key, const char *field, long hi,
                      long *out) {
  char path[256];
  snprintf(path, sizeof path, "%s.%s", field, key);
  yaml_node_t *n = required(l, entry, key, field);
  if (!n) return CBRL_EPARSE;
  return cbrl_yaml_long(&l->y, n, path, 0, hi - 1, out);
}

static int read_number(loader *l, const yaml_node_t *entry, const char *key, const char *field,
                       int needed, double *out) {
  char path[256];
  snprintf(path, sizeof path, "%s.%s", field, key);
  yaml_node_t *n = needed ? required(l, entry, key, field) : cbrl_yaml_get(&l->y, entry, key);
  if (!n) {
    *out = 0.0;
    return needed ? CBRL_EPARSE : 0;
  }
  return cbrl_yaml_double(&l->y, n, path, out);
}

/* A discount in [0, 1) at which the solver cannot reach a usable accuracy (cbrl_discount_max). */
static int check_discount(loader *l, const yaml_node_t *n, const char *field, double g) {
  double gmax = cbrl_discount_max((int)l->n_states);
  if (g <= gmax) return 0;
  return cbrl_yaml_fail(&l->y, n, field,
                        "1 - %.3g is too close to 1: in double precision a solve over %ld states is not "
                        "accurate to %g there (at most 1 - %.3g)",
                        1.0 - g, l->n_states, CBRL_USABLE_TOL, 1.0 - gmax);
}

enum list_kind { LIST_INITIAL, LIST_TRANSITIONS, LIST_REWARD, LIST_LEADER_REWARD };

static int read_list(loader *l, int context, const yaml_node_t *ctx_node, const char *key,
                     enum list_kind kind, const char *cfield) {
  char field[200];
  snprintf(field, sizeof field, "%s.%s", cfield, key);
  yaml_node_t *list = cbrl_yaml_get(&l->y, ctx_node, key);
  if (!list) {
    if (kind == LIST_INITIAL || kind == LIST_TRANSITIONS) return required(l, ctx_node, key, cfield) ? 0 : CBRL_EPARSE;
    return 0;
  }
  int err = cbrl_yaml_expect(&l->y, list, YAML_SEQUENCE_NODE, field);
  if (err) return err;
  if (kind == LIST_INITIAL && cbrl_yaml_length(list) == 0)
    return cbrl_yaml_fail(&l->y, list, field, "must list at least one state");
  static const char *const *keys[] = {initial_keys, transition_keys, reward_keys, reward_keys};
  for (int i = 0; i < cbrl_yaml_length(list); i++) {
    yaml_node_t *e = cbrl_yaml_item(&l->y, list, i);
    char ef[220];
    snprintf(ef, sizeof ef, "%s[%d]", field, i);
    if ((err = cbrl_yaml_expect(&l->y, e, YAML_MAPPING_NODE, ef))) return err;
    if ((err = cbrl_yaml_check_keys(&l->y, e, ef, keys[kind]))) return err;
    long s, a = 0, next = 0;
    double value;
    const double *coef;
    if ((err = read_index(l, e, "s", ef, l->n_states, &s))) return err;
    if (kind != LIST_INITIAL && (err = read_index(l, e, "a", ef, l->n_actions, &a))) return err;
    if (kind == LIST_TRANSITIONS && (err = read_index(l, e, "next", ef, l->n_states, &next))) return err;
    if (kind == LIST_INITIAL || kind == LIST_TRANSITIONS)
      err = read_number(l, e, "logit", ef, 0, &value);
    else
      err = read_number(l, e, "value", ef, 1, &value);
    if (err || (err = read_coef(l, e, ef, &coef))) return err;
    switch (kind) {
      case LIST_INITIAL:
        err = cbrl_affine_add_initial(l->p, context, (int)s, value, coef);
        if (err == CBRL_EINVAL) return cbrl_yaml_fail(&l->y, e, ef, "state %ld is listed twice", s);
        break;
      case LIST_TRANSITIONS:
        err = cbrl_affine_add_transition(l->p, context, (int)s, (int)a, (int)next, value, coef);
        if (err == CBRL_EINVAL)
          return cbrl_yaml_fail(&l->y, e, ef, "transition s=%ld a=%ld next=%ld is listed twice", s, a, next);
        break;
      case LIST_REWARD:
      case LIST_LEADER_REWARD:
        err = (kind == LIST_REWARD ? cbrl_affine_set_reward : cbrl_affine_set_leader_reward)(
            l->p, context, (int)s, (int)a, value, coef);
        if (err == CBRL_EINVAL) return cbrl_yaml_fail(&l->y, e, ef, "s=%ld a=%ld is listed twice", s, a);
        break;
    }
    /* Located, but with its own code: out of memory is a failed computation, not bad input. */
    if (err) return cbrl_yaml_fail(&l->y, e, ef, "%s", cbrl_strerror(err)), err;
  }
  return 0;
}

static int load(loader *l) {
  cbrl_yaml *y = &l->y;
  yaml_node_t *root = cbrl_yaml_root(y);
  int err = cbrl_yaml_expect(y, root, YAML_MAPPING_NODE, "top level");
  if (err || (err = cbrl_yaml_check_keys(y, root, "", top_keys))) return err;
  yaml_node_t *n = required(l, root, "format", "");
  if (!n) return CBRL_EPARSE;
  const char *fmt = cbrl_yaml_scalar(n);
  if (!fmt || strcmp(fmt, "cbrl-tabular-1") != 0)
    return cbrl_yaml_fail(y, n, "format", "expected 'cbrl-tabular-1'");
  if (!(n = required(l, root, "states", "")) || (err = cbrl_yaml_long(y, n, "states", 1, MAX_STATES, &l->n_states)))
    return CBRL_EPARSE;
  if (!(n = required(l, root, "actions", "")) ||
      (err = cbrl_yaml_long(y, n, "actions", 1, MAX_ACTIONS, &l->n_actions)))
    return CBRL_EPARSE;
  if (l->n_states * l->n_actions > 100000000L)
    return cbrl_yaml_fail(y, n, "actions", "states x actions = %ld exceeds 1e8", l->n_states * l->n_actions);
  if (!(n = required(l, root, "dim", "")) || (err = cbrl_yaml_long(y, n, "dim", 1, MAX_DIM, &l->dim)))
    return CBRL_EPARSE;
  double gamma, leader_gamma, lambda;
  if (!(n = required(l, root, "gamma", "")) || (err = cbrl_yaml_double(y, n, "gamma", &gamma))) return CBRL_EPARSE;
  if (!(gamma >= 0.0 && gamma < 1.0)) return cbrl_yaml_fail(y, n, "gamma", "must lie in [0, 1), got %g", gamma);
  if ((err = check_discount(l, n, "gamma", gamma))) return err;
  leader_gamma = gamma;
  if ((n = cbrl_yaml_get(y, root, "leader_gamma"))) {
    if ((err = cbrl_yaml_double(y, n, "leader_gamma", &leader_gamma))) return err;
    if (!(leader_gamma >= 0.0 && leader_gamma < 1.0))
      return cbrl_yaml_fail(y, n, "leader_gamma", "must lie in [0, 1), got %g", leader_gamma);
    if ((err = check_discount(l, n, "leader_gamma", leader_gamma))) return err;
  }
  if (!(n = required(l, root, "lambda", "")) || (err = cbrl_yaml_double(y, n, "lambda", &lambda))) return CBRL_EPARSE;
  if (!(lambda > 0.0)) return cbrl_yaml_fail(y, n, "lambda", "must be positive, got %g", lambda);
  yaml_node_t *contexts = required(l, root, "contexts", "");
  if (!contexts) return CBRL_EPARSE;
  if ((err = cbrl_yaml_expect(y, contexts, YAML_SEQUENCE_NODE, "contexts"))) return err;
  int n_contexts = cbrl_yaml_length(contexts);
  if (n_contexts == 0) return cbrl_yaml_fail(y, contexts, "contexts", "must list at least one context");

  /* The shape whole before anything of its size is allocated: every context a mapping, and
     the memory the problem will take within the limit. */
  double most_transitions = 0.0;
  for (int k = 0; k < n_contexts; k++) {
    yaml_node_t *c = cbrl_yaml_item(y, contexts, k);
    char cf[64];
    snprintf(cf, sizeof cf, "contexts[%d]", k);
    if ((err = cbrl_yaml_expect(y, c, YAML_MAPPING_NODE, cf))) return err;
    yaml_node_t *t = cbrl_yaml_get(y, c, "transitions");
    if (t && t->type == YAML_SEQUENCE_NODE && cbrl_yaml_length(t) > most_transitions)
      most_transitions = cbrl_yaml_length(t);
  }
  cbrl_problem_shape shape = {(double)l->n_states, (double)l->n_actions, (double)l->dim, n_contexts, most_transitions};
  double need = cbrl_problem_memory_estimate(&shape), limit = cbrl_memory_limit();
  if (need > limit) {
    char a[32], b[32];
    return cbrl_yaml_fail(y, contexts, "contexts",
                          "%ld states x %ld actions x %d contexts need about %s, above the memory limit of %s "
                          "(--max-memory)",
                          l->n_states, l->n_actions, n_contexts, cbrl_memory_format(need, a, sizeof a),
                          cbrl_memory_format(limit, b, sizeof b));
  }
  l->coef = calloc((size_t)l->dim, sizeof(double));
  if (!l->coef) return CBRL_ENOMEM;
  if ((err = cbrl_affine_create(&l->p, (int)l->n_states, (int)l->n_actions, (int)l->dim, n_contexts)))
    return err;
  l->p->gamma = gamma;
  l->p->leader_gamma = leader_gamma;
  l->p->lambda = lambda;

  if ((n = cbrl_yaml_get(y, root, "terminal"))) {
    if ((err = cbrl_yaml_expect(y, n, YAML_SEQUENCE_NODE, "terminal"))) return err;
    for (int i = 0; i < cbrl_yaml_length(n); i++) {
      char f[64];
      long s;
      snprintf(f, sizeof f, "terminal[%d]", i);
      if ((err = cbrl_yaml_long(y, cbrl_yaml_item(y, n, i), f, 0, l->n_states - 1, &s))) return err;
      cbrl_affine_set_terminal(l->p, (int)s);
    }
  }
  double wsum = 0.0;
  for (int k = 0; k < n_contexts; k++) {
    yaml_node_t *c = cbrl_yaml_item(y, contexts, k);
    char cf[64];
    snprintf(cf, sizeof cf, "contexts[%d]", k);
    if ((err = cbrl_yaml_expect(y, c, YAML_MAPPING_NODE, cf))) return err;
    if ((err = cbrl_yaml_check_keys(y, c, cf, context_keys))) return err;
    double weight;
    if ((err = read_number(l, c, "weight", cf, 1, &weight))) return err;
    if (weight < 0.0) {
      char wf[80];
      snprintf(wf, sizeof wf, "%s.weight", cf);
      return cbrl_yaml_fail(y, cbrl_yaml_get(y, c, "weight"), wf, "must not be negative, got %g", weight);
    }
    l->p->context_weight[k] = weight;
    wsum += weight;
    if ((err = read_list(l, k, c, "initial", LIST_INITIAL, cf)) ||
        (err = read_list(l, k, c, "transitions", LIST_TRANSITIONS, cf)) ||
        (err = read_list(l, k, c, "reward", LIST_REWARD, cf)) ||
        (err = read_list(l, k, c, "leader_reward", LIST_LEADER_REWARD, cf)))
      return err;
  }
  if (fabs(wsum - 1.0) > 1e-9)
    return cbrl_yaml_fail(y, contexts, "contexts", "weights sum to %.12g, not 1", wsum);
  int bad_context = 0, bad_state = 0, bad_action = 0;
  err = cbrl_affine_finalize(l->p, &bad_context, &bad_state, &bad_action);
  if (err == CBRL_EINVAL) {
    yaml_node_t *c = cbrl_yaml_item(y, contexts, bad_context);
    char cf[80];
    snprintf(cf, sizeof cf, "contexts[%d].transitions", bad_context);
    yaml_node_t *t = cbrl_yaml_get(y, c, "transitions");
    return cbrl_yaml_fail(y, t ? t : c, cf, "state %d action %d is not terminal but has no transition",
                          bad_state, bad_action);
  }
  return err;
}

int cbrl_tabular_load(cbrl_problem **out, const char *path, char *err, size_t err_size) {
  if (!out || !path) return CBRL_EINVAL;
  loader l;
  memset(&l, 0, sizeof l);
  int rc = cbrl_yaml_load(&l.y, path, err, err_size);
  if (!rc) rc = load(&l);
  if (rc == CBRL_ENOMEM && err && err_size) snprintf(err, err_size, "%s: out of memory", path);
  cbrl_yaml_close(&l.y);
  free(l.coef);
  if (rc) {
    cbrl_problem_free(l.p);
    return rc;
  }
  snprintf(l.p->name, sizeof l.p->name, "file");
  *out = l.p;
  return 0;
}
