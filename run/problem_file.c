/* Loader for cbrl-tabular-1 problem files (docs/PROBLEM_FILES.md): validates everything against the
   schema and builds an affine problem. */
#include "cbrl/run/problem_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/affine.h"
#include "cbrl/bounds.h"
#include "cbrl/errors.h"
#include "cbrl/transform.h"
#include "yaml_util.h"

#define MAX_STATES 10000000L
#define MAX_ACTIONS 100000L
#define MAX_DIM 1000000L

typedef struct loader {
  cbrl_yaml y;
  cbrl_problem *p;
  long n_states, n_actions, dim;
  long n_params;            /* entries of every coef: dim, or the transforms' outputs */
  double *coef;             /* n_params */
  int n_transforms;
  cbrl_transform *transforms; /* n_transforms, inputs into `inputs` */
  int *inputs;
  double *lower, *upper;    /* dim each, when bounds are given */
} loader;

static const char *const top_keys[] = {"format", "states", "actions", "dim", "gamma", "leader_gamma",
                                       "lambda", "terminal", "bounds", "transforms", "contexts", NULL};
static const char *const bound_keys[] = {"x", "low", "high", NULL};
static const char *const transform_keys[] = {"kind", "x", "scale", "low", "high", NULL};
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
  if (cbrl_yaml_length(n) != l->n_params) {
    if (l->n_transforms)
      return cbrl_yaml_fail(&l->y, n, path, "has %d entries, expected %ld (one per transform output)",
                            cbrl_yaml_length(n), l->n_params);
    return cbrl_yaml_fail(&l->y, n, path, "has %d entries, expected dim = %ld", cbrl_yaml_length(n), l->dim);
  }
  for (long j = 0; j < l->n_params; j++) {
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

/* bounds: [{x: j, low: a, high: b}, ...], either side optional; into l->lower, l->upper. */
static int read_bounds(loader *l, const yaml_node_t *list) {
  cbrl_yaml *y = &l->y;
  int err = cbrl_yaml_expect(y, list, YAML_SEQUENCE_NODE, "bounds");
  if (err) return err;
  l->lower = malloc(sizeof(double) * (size_t)l->dim);
  l->upper = malloc(sizeof(double) * (size_t)l->dim);
  unsigned char *seen = calloc((size_t)l->dim, 1);
  if (!l->lower || !l->upper || !seen) {
    free(seen);
    return CBRL_ENOMEM;
  }
  for (long j = 0; j < l->dim; j++) l->lower[j] = -INFINITY, l->upper[j] = INFINITY;
  for (int i = 0; i < cbrl_yaml_length(list) && !err; i++) {
    yaml_node_t *e = cbrl_yaml_item(y, list, i);
    char ef[64];
    snprintf(ef, sizeof ef, "bounds[%d]", i);
    long j;
    double lo = -INFINITY, hi = INFINITY;
    if ((err = cbrl_yaml_expect(y, e, YAML_MAPPING_NODE, ef)) || (err = cbrl_yaml_check_keys(y, e, ef, bound_keys)) ||
        (err = read_index(l, e, "x", ef, l->dim, &j)))
      break;
    if (cbrl_yaml_get(y, e, "low") && (err = read_number(l, e, "low", ef, 1, &lo))) break;
    if (cbrl_yaml_get(y, e, "high") && (err = read_number(l, e, "high", ef, 1, &hi))) break;
    if (seen[j]) {
      err = cbrl_yaml_fail(y, e, ef, "x %ld is bounded twice", j);
    } else if (!cbrl_yaml_get(y, e, "low") && !cbrl_yaml_get(y, e, "high")) {
      err = cbrl_yaml_fail(y, e, ef, "gives neither low nor high");
    } else if (lo > hi) {
      err = cbrl_yaml_fail(y, e, ef, "low %g is above high %g", lo, hi);
    }
    seen[j] = 1;
    l->lower[j] = lo, l->upper[j] = hi;
  }
  free(seen);
  return err;
}

/* transforms: [{kind: K, x: j | [j, ...], scale: s, low: a, high: b}, ...]; sets n_params. */
static int read_transforms(loader *l, const yaml_node_t *list) {
  cbrl_yaml *y = &l->y;
  int err = cbrl_yaml_expect(y, list, YAML_SEQUENCE_NODE, "transforms");
  if (err) return err;
  int n = cbrl_yaml_length(list);
  if (n == 0) return cbrl_yaml_fail(y, list, "transforms", "must list at least one transform");
  long n_inputs = 0;
  for (int i = 0; i < n; i++) {
    yaml_node_t *e = cbrl_yaml_item(y, list, i), *xn;
    char ef[64];
    snprintf(ef, sizeof ef, "transforms[%d]", i);
    if ((err = cbrl_yaml_expect(y, e, YAML_MAPPING_NODE, ef)) || (err = cbrl_yaml_check_keys(y, e, ef, transform_keys)))
      return err;
    if (!(xn = required(l, e, "x", ef))) return CBRL_EPARSE;
    n_inputs += xn->type == YAML_SEQUENCE_NODE ? cbrl_yaml_length(xn) : 1;
  }
  if (n_inputs > MAX_DIM) return cbrl_yaml_fail(y, list, "transforms", "%ld outputs exceed %ld", n_inputs, MAX_DIM);
  l->transforms = calloc((size_t)(unsigned)n, sizeof *l->transforms);
  l->inputs = malloc(sizeof(int) * (size_t)(n_inputs ? n_inputs : 1));
  if (!l->transforms || !l->inputs) return CBRL_ENOMEM;
  l->n_transforms = n;
  long k = 0;
  for (int i = 0; i < n; i++) {
    yaml_node_t *e = cbrl_yaml_item(y, list, i), *kn, *xn = cbrl_yaml_get(y, e, "x");
    char ef[64], f[96];
    snprintf(ef, sizeof ef, "transforms[%d]", i);
    cbrl_transform *t = &l->transforms[i];
    if (!(kn = required(l, e, "kind", ef))) return CBRL_EPARSE;
    snprintf(f, sizeof f, "%s.kind", ef);
    if (cbrl_transform_parse(cbrl_yaml_scalar(kn), &t->kind))
      return cbrl_yaml_fail(y, kn, f, "unknown transform '%.40s' (identity, sigmoid, softplus, exp, softmax, range)",
                            cbrl_yaml_scalar(kn) ? cbrl_yaml_scalar(kn) : "");
    t->inputs = l->inputs + k;
    t->n_inputs = xn->type == YAML_SEQUENCE_NODE ? cbrl_yaml_length(xn) : 1;
    for (int q = 0; q < t->n_inputs; q++) {
      long j;
      snprintf(f, sizeof f, xn->type == YAML_SEQUENCE_NODE ? "%s.x[%d]" : "%s.x", ef, q);
      yaml_node_t *item = xn->type == YAML_SEQUENCE_NODE ? cbrl_yaml_item(y, xn, q) : xn;
      if ((err = cbrl_yaml_long(y, item, f, 0, l->dim - 1, &j))) return err;
      l->inputs[k++] = (int)j;
    }
    t->scale = 1.0;
    if (cbrl_yaml_get(y, e, "scale") && (err = read_number(l, e, "scale", ef, 1, &t->scale))) return err;
    t->low = 0.0, t->high = 1.0;
    if (cbrl_yaml_get(y, e, "low") && (err = read_number(l, e, "low", ef, 1, &t->low))) return err;
    if (cbrl_yaml_get(y, e, "high") && (err = read_number(l, e, "high", ef, 1, &t->high))) return err;
    if (t->kind != CBRL_TRANSFORM_RANGE && (cbrl_yaml_get(y, e, "low") || cbrl_yaml_get(y, e, "high")))
      return cbrl_yaml_fail(y, e, ef, "low and high belong to kind range; %s takes scale", cbrl_transform_name(t->kind));
    if (t->kind == CBRL_TRANSFORM_RANGE && cbrl_yaml_get(y, e, "scale"))
      return cbrl_yaml_fail(y, e, ef, "range takes low and high, not scale");
    char why[160];
    if (cbrl_transform_check(t, (int)l->dim, why, sizeof why)) return cbrl_yaml_fail(y, e, ef, "%s", why);
  }
  l->n_params = k;
  return 0;
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
  l->n_params = l->dim;
  if ((n = cbrl_yaml_get(y, root, "transforms")) && (err = read_transforms(l, n))) return err;
  if ((n = cbrl_yaml_get(y, root, "bounds")) && (err = read_bounds(l, n))) return err;
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
  l->coef = calloc((size_t)l->n_params, sizeof(double));
  if (!l->coef) return CBRL_ENOMEM;
  if ((err = cbrl_affine_create(&l->p, (int)l->n_states, (int)l->n_actions, (int)l->n_params, n_contexts)))
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
  if (err) return err;
  /* A mechanism in y = T(x) (docs/MODEL.md 1.1): the affine problem in y, wrapped. */
  if (l->n_transforms) {
    cbrl_problem *inner = l->p;
    l->p = NULL;
    if ((err = cbrl_transformed_create(&l->p, inner, (int)l->dim, l->transforms, l->n_transforms))) return err;
  }
  if (l->lower && (err = cbrl_problem_set_bounds(l->p, l->lower, l->upper, NULL))) return err;
  return 0;
}

int cbrl_tabular_load(cbrl_problem **out, const char *path, char *err, size_t err_size) {
  if (!out || !path) return CBRL_EINVAL;
  loader l;
  memset(&l, 0, sizeof l);
  int rc = cbrl_yaml_load_flags(&l.y, path, CBRL_YAML_ALIASES, err, err_size);
  if (!rc) rc = load(&l);
  if (rc == CBRL_ENOMEM && err && err_size) snprintf(err, err_size, "%s: out of memory", path);
  cbrl_yaml_close(&l.y);
  free(l.coef);
  free(l.transforms);
  free(l.inputs);
  free(l.lower);
  free(l.upper);
  if (rc) {
    cbrl_problem_free(l.p);
    return rc;
  }
  snprintf(l.p->name, sizeof l.p->name, "file");
  *out = l.p;
  return 0;
}
