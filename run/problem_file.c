/* Loader for cbrl-tabular-1 problem files (docs/PROBLEM_FILES.md): validates everything against the
   schema and builds an affine problem. */
#include "cbrl/run/problem_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/affine.h"
#include "cbrl/bounds.h"
#include "cbrl/contexts.h"
#include "cbrl/errors.h"
#include "cbrl/objective.h"
#include "cbrl/transform.h"
#include "expression.h"
#include "yaml_util.h"

#define MAX_STATES 10000000L
#define MAX_ACTIONS 100000L
#define MAX_DIM 1000000L
#define MAX_DRAWS 100000L /* a theta sample's size */

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
  /* Contexts from a distribution (docs/PROBLEM_FILES.md): n_nodes values of theta per listed
     context, which is then a template whose numbers may be expressions in theta. */
  int n_nodes;              /* 0: no theta section */
  double *theta, *node_weight;
  int node;                 /* the node being read */
  cbrl_tabular_info info;
} loader;

static const char *const top_keys[] = {"format", "states", "actions", "dim", "gamma", "leader_gamma",
                                       "lambda", "terminal", "bounds", "transforms", "objective", "theta", "contexts", NULL};
static const char *const theta_keys[] = {"distribution", "mean", "sd", "low", "high", "rule", "nodes", "draws", "seed", NULL};
static const char *const objective_keys[] = {"kind", "beta", "pairs", "target", "state_weight", "kappa", "output", NULL};
static const char *const pair_keys[] = {"context", "weight", "preferred", "rejected", NULL};
static const char *const target_keys[] = {"s", "probs", NULL};
static const char *const bound_keys[] = {"x", "low", "high", NULL};
static const char *const transform_keys[] = {"kind", "x", "scale", "low", "high", NULL};
static const char *const context_keys[] = {"weight", "initial", "transitions", "reward",
                                           "leader_reward", NULL};
static const char *const initial_keys[] = {"s", "logit", "prob", "coef", NULL};
static const char *const transition_keys[] = {"s", "a", "next", "logit", "prob", "coef", NULL};
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

/* " at theta = v (node i of n)", or "(draw i of n)" for a sample, of the node being read; "" without theta. */
static const char *at_node(const loader *l, char *buf, size_t size) {
  buf[0] = 0;
  if (l->n_nodes)
    snprintf(buf, size, " at theta = %.6g (%s %d of %d)", l->theta[l->node],
             l->info.rule == CBRL_CONTEXTS_SAMPLE ? "draw" : "node", l->node, l->n_nodes);
  return buf;
}

/* A number of a context: with a theta section, also an expression in theta evaluated at the
   node being read, which must come out finite (docs/PROBLEM_FILES.md). */
static int read_value(loader *l, const yaml_node_t *n, const char *field, double *out) {
  const char *s = cbrl_yaml_scalar(n);
  char *end;
  if (!l->n_nodes || !s || (strtod(s, &end), end != s && !*end)) return cbrl_yaml_double(&l->y, n, field, out);
  char why[96];
  if (cbrl_expression_eval(s, l->theta[l->node], out, why, sizeof why))
    return cbrl_yaml_fail(&l->y, n, field, "expected a number or an expression in theta, got '%.40s' (%s)", s, why);
  char where[96];
  if (!isfinite(*out))
    return cbrl_yaml_fail(&l->y, n, field, "'%.40s' is %s%s: not a finite number", s,
                          isnan(*out) ? "undefined (NaN)" : *out > 0 ? "+infinite" : "-infinite", at_node(l, where, sizeof where));
  return 0;
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
    if ((err = read_value(l, cbrl_yaml_item(&l->y, n, (int)j), item, &l->coef[j]))) return err;
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

/* theta: {distribution: normal|uniform, mean, sd | low, high, rule: quadrature|sample, nodes | draws,
   seed}: the values of a type parameter and their weights (docs/PROBLEM_FILES.md). */
static int read_theta(loader *l, const yaml_node_t *t) {
  cbrl_yaml *y = &l->y;
  int err = cbrl_yaml_expect(y, t, YAML_MAPPING_NODE, "theta");
  if (err || (err = cbrl_yaml_check_keys(y, t, "theta", theta_keys))) return err;
  yaml_node_t *dn = required(l, t, "distribution", "theta"), *rn = cbrl_yaml_get(y, t, "rule");
  if (!dn) return CBRL_EPARSE;
  const char *dist = cbrl_yaml_scalar(dn) ? cbrl_yaml_scalar(dn) : "", *rule = rn && cbrl_yaml_scalar(rn) ? cbrl_yaml_scalar(rn) : "quadrature";
  int normal = !strcmp(dist, "normal");
  if (!normal && strcmp(dist, "uniform"))
    return cbrl_yaml_fail(y, dn, "theta.distribution", "unknown distribution '%.40s' (normal, uniform)", dist);
  int sample = !strcmp(rule, "sample");
  if (!sample && strcmp(rule, "quadrature"))
    return cbrl_yaml_fail(y, rn, "theta.rule", "unknown rule '%.40s' (quadrature, sample)", rule);
  /* Only the fields of this distribution and rule. */
  static const char *const own[2][2][3] = {{{"low", "high", "nodes"}, {"low", "high", "draws"}},
                                           {{"mean", "sd", "nodes"}, {"mean", "sd", "draws"}}};
  for (const char *const *k = theta_keys + 1; *k; k++) {
    int ok = !strcmp(*k, "rule") || (sample && !strcmp(*k, "seed"));
    for (int i = 0; i < 3; i++) ok |= !strcmp(own[normal][sample][i], *k);
    if (!ok && cbrl_yaml_get(y, t, *k)) {
      char f[64];
      snprintf(f, sizeof f, "theta.%s", *k);
      return cbrl_yaml_fail(y, cbrl_yaml_get(y, t, *k), f, "does not belong to a %s theta with rule %s", dist,
                            sample ? "sample" : "quadrature");
    }
  }
  double a = 0.0, b = 1.0;
  const char *ka = normal ? "mean" : "low", *kb = normal ? "sd" : "high";
  if (cbrl_yaml_get(y, t, ka) && (err = read_number(l, t, ka, "theta", 1, &a))) return err;
  if (cbrl_yaml_get(y, t, kb) && (err = read_number(l, t, kb, "theta", 1, &b))) return err;
  if (normal && !(b > 0.0))
    return cbrl_yaml_fail(y, cbrl_yaml_get(y, t, "sd"), "theta.sd", "must be positive, got %g", b);
  if (!normal && !(a < b)) return cbrl_yaml_fail(y, t, "theta", "needs low < high, got low %g, high %g", a, b);
  const char *kn = sample ? "draws" : "nodes";
  char nf[32];
  snprintf(nf, sizeof nf, "theta.%s", kn);
  yaml_node_t *nn = required(l, t, kn, "theta");
  long n, seed = 0;
  if (!nn || (err = cbrl_yaml_long(y, nn, nf, sample ? 2 : 1, sample ? MAX_DRAWS : 64, &n))) return CBRL_EPARSE;
  yaml_node_t *sn = cbrl_yaml_get(y, t, "seed");
  if (sn && (err = cbrl_yaml_long(y, sn, "theta.seed", 0, 0x7fffffffffffffffL, &seed))) return err;
  l->theta = malloc(sizeof(double) * (size_t)n);
  l->node_weight = malloc(sizeof(double) * (size_t)n);
  if (!l->theta || !l->node_weight) return CBRL_ENOMEM;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, (uint64_t)seed, 0);
  cbrl_context_rule r = sample ? CBRL_CONTEXTS_SAMPLE : CBRL_CONTEXTS_QUADRATURE;
  err = normal ? cbrl_contexts_normal(r, (int)n, &rng, l->theta, l->node_weight)
               : cbrl_contexts_uniform(r, (int)n, &rng, l->theta, l->node_weight);
  if (err) return cbrl_yaml_fail(y, t, "theta", "%s", cbrl_strerror(err)), err;
  for (long i = 0; i < n; i++) l->theta[i] = normal ? a + b * l->theta[i] : a + (b - a) * l->theta[i];
  l->n_nodes = (int)n;
  l->info.sampled = 1;
  l->info.rule = r;
  return 0;
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

/* A trajectory [[s, a], ...] of pair k into states/actions (room for its length). */
static int read_trajectory(loader *l, const yaml_node_t *n, const char *field, int *states, int *actions) {
  cbrl_yaml *y = &l->y;
  int err = cbrl_yaml_expect(y, n, YAML_SEQUENCE_NODE, field);
  if (err) return err;
  if (cbrl_yaml_length(n) == 0) return cbrl_yaml_fail(y, n, field, "must list at least one step");
  for (int t = 0; t < cbrl_yaml_length(n); t++) {
    yaml_node_t *st = cbrl_yaml_item(y, n, t);
    char f[160];
    snprintf(f, sizeof f, "%s[%d]", field, t);
    if ((err = cbrl_yaml_expect(y, st, YAML_SEQUENCE_NODE, f))) return err;
    if (cbrl_yaml_length(st) != 2) return cbrl_yaml_fail(y, st, f, "a step is [state, action]");
    long s, a;
    if ((err = cbrl_yaml_long(y, cbrl_yaml_item(y, st, 0), f, 0, l->n_states - 1, &s)) ||
        (err = cbrl_yaml_long(y, cbrl_yaml_item(y, st, 1), f, 0, l->n_actions - 1, &a)))
      return err;
    states[t] = (int)s, actions[t] = (int)a;
  }
  return 0;
}

/* objective: preferences pairs, checked against each context's structure. */
static int read_preferences(loader *l, const yaml_node_t *obj, double beta, cbrl_objective **out) {
  cbrl_yaml *y = &l->y;
  yaml_node_t *pairs = required(l, obj, "pairs", "objective");
  if (!pairs) return CBRL_EPARSE;
  int err = cbrl_yaml_expect(y, pairs, YAML_SEQUENCE_NODE, "objective.pairs");
  if (err) return err;
  int n = cbrl_yaml_length(pairs);
  long steps = 0;
  for (int k = 0; k < n; k++) {
    yaml_node_t *e = cbrl_yaml_item(y, pairs, k);
    char f[64];
    snprintf(f, sizeof f, "objective.pairs[%d]", k);
    if ((err = cbrl_yaml_expect(y, e, YAML_MAPPING_NODE, f)) || (err = cbrl_yaml_check_keys(y, e, f, pair_keys))) return err;
    for (int j = 0; j < 2; j++) {
      yaml_node_t *t = required(l, e, j ? "rejected" : "preferred", f);
      if (!t) return CBRL_EPARSE;
      steps += t->type == YAML_SEQUENCE_NODE ? cbrl_yaml_length(t) : 0;
    }
  }
  cbrl_preference *pr = calloc((size_t)(n ? n : 1), sizeof *pr);
  int *buf = malloc(sizeof(int) * (size_t)(2 * steps + 1));
  cbrl_mdp *m = calloc((size_t)l->p->n_contexts, sizeof *m);
  unsigned char *made = calloc((size_t)l->p->n_contexts, 1);
  if (!pr || !buf || !m || !made) err = CBRL_ENOMEM;
  long used = 0;
  for (int k = 0; k < n && !err; k++) {
    yaml_node_t *e = cbrl_yaml_item(y, pairs, k);
    char f[64], tf[96];
    snprintf(f, sizeof f, "objective.pairs[%d]", k);
    long c = 0;
    yaml_node_t *cn = cbrl_yaml_get(y, e, "context");
    snprintf(tf, sizeof tf, "%s.context", f);
    if (cn && (err = cbrl_yaml_long(y, cn, tf, 0, l->p->n_contexts - 1, &c))) break;
    pr[k].context = (int)c;
    pr[k].weight = 1.0;
    if (cbrl_yaml_get(y, e, "weight") && (err = read_number(l, e, "weight", f, 1, &pr[k].weight))) break;
    if (!(pr[k].weight > 0.0)) {
      err = cbrl_yaml_fail(y, cbrl_yaml_get(y, e, "weight"), f, "weight must be positive, got %g", pr[k].weight);
      break;
    }
    if (!made[c]) {
      if ((err = cbrl_mdp_init(&m[c], l->p, (int)c))) break;
      made[c] = 1;
    }
    for (int j = 0; j < 2 && !err; j++) {
      const char *key = j ? "rejected" : "preferred";
      yaml_node_t *t = cbrl_yaml_get(y, e, key);
      snprintf(tf, sizeof tf, "%s.%s", f, key);
      int len = t->type == YAML_SEQUENCE_NODE ? cbrl_yaml_length(t) : 0;
      if ((err = read_trajectory(l, t, tf, buf + used, buf + used + len))) break;
      cbrl_trajectory tr = {len, buf + used, buf + used + len};
      int bad = cbrl_trajectory_check(&m[c], &tr);
      if (bad >= 0) {
        char sf[128];
        snprintf(sf, sizeof sf, "%s[%d]", tf, bad);
        if (bad > 0 && m[c].terminal[tr.states[bad - 1]])
          err = cbrl_yaml_fail(y, cbrl_yaml_item(y, t, bad), sf, "the step before is in terminal state %d: an impossible sequence",
                               tr.states[bad - 1]);
        else
          err = cbrl_yaml_fail(y, cbrl_yaml_item(y, t, bad), sf,
                               "state %d cannot follow s=%d a=%d in context %ld (no such transition): an impossible sequence",
                               tr.states[bad], tr.states[bad - 1], tr.actions[bad - 1], c);
        break;
      }
      if (j) pr[k].rejected = tr;
      else pr[k].preferred = tr;
      used += 2 * len;
    }
  }
  if (!err) err = cbrl_objective_preferences_create(out, l->p, pr, n, beta, NULL, NULL);
  for (int c = 0; m && made && c < l->p->n_contexts; c++)
    if (made[c]) cbrl_mdp_close(&m[c]);
  free(m);
  free(made);
  free(pr);
  free(buf);
  return err;
}

/* objective: {kind: K, ...} (docs/PROBLEM_FILES.md, Objectives); sets l->p's objective. */
static int read_objective(loader *l, const yaml_node_t *obj) {
  cbrl_yaml *y = &l->y;
  int err = cbrl_yaml_expect(y, obj, YAML_MAPPING_NODE, "objective");
  if (err || (err = cbrl_yaml_check_keys(y, obj, "objective", objective_keys))) return err;
  yaml_node_t *kn = required(l, obj, "kind", "objective");
  if (!kn) return CBRL_EPARSE;
  const char *kind = cbrl_yaml_scalar(kn) ? cbrl_yaml_scalar(kn) : "";
  static const char *const extra[4][4] = {{NULL}, {"target", "state_weight", NULL}, {"beta", "pairs", NULL},
                                          {"kappa", "output", NULL}};
  int which = !strcmp(kind, "leader-reward") ? 0 : !strcmp(kind, "cross-entropy") ? 1 : !strcmp(kind, "preferences") ? 2
              : !strcmp(kind, "welfare") ? 3 : -1;
  if (which < 0)
    return cbrl_yaml_fail(y, kn, "objective.kind",
                          "unknown objective '%.40s' (leader-reward, cross-entropy, preferences, welfare)", kind);
  for (const char *const *k = objective_keys + 1; *k; k++) {
    int ok = 0;
    for (int i = 0; extra[which][i]; i++) ok |= !strcmp(extra[which][i], *k);
    if (!ok && cbrl_yaml_get(y, obj, *k)) {
      char f[64];
      snprintf(f, sizeof f, "objective.%s", *k);
      return cbrl_yaml_fail(y, cbrl_yaml_get(y, obj, *k), f, "does not belong to objective %s", kind);
    }
  }
  cbrl_objective *o = NULL;
  int S = l->p->n_states, A = l->p->n_actions;
  if (which == 0) {
    err = cbrl_objective_leader_reward_create(&o, l->p);
  } else if (which == 2) {
    double beta = 1.0;
    if (cbrl_yaml_get(y, obj, "beta") && (err = read_number(l, obj, "beta", "objective", 1, &beta))) return err;
    if (!(beta > 0.0)) return cbrl_yaml_fail(y, cbrl_yaml_get(y, obj, "beta"), "objective.beta", "must be positive, got %g", beta);
    err = read_preferences(l, obj, beta, &o);
  } else {
    size_t SA = (size_t)S * A, n = which == 1 ? SA : SA * l->p->n_contexts;
    double *table = calloc(n, sizeof(double)), *rho = which == 1 ? calloc((size_t)S, sizeof(double)) : NULL;
    if (!table || (which == 1 && !rho)) err = CBRL_ENOMEM;
    const char *key = which == 1 ? "target" : "output";
    yaml_node_t *list = err ? NULL : required(l, obj, key, "objective");
    char lf[64];
    snprintf(lf, sizeof lf, "objective.%s", key);
    if (!err && !list) err = CBRL_EPARSE;
    if (!err) err = cbrl_yaml_expect(y, list, YAML_SEQUENCE_NODE, lf);
    unsigned char *seen = err ? NULL : calloc(SA, 1);
    if (!err && !seen) err = CBRL_ENOMEM;
    int listed = 0;
    for (int i = 0; !err && i < cbrl_yaml_length(list); i++) {
      yaml_node_t *e = cbrl_yaml_item(y, list, i);
      char ef[96];
      snprintf(ef, sizeof ef, "%s[%d]", lf, i);
      long s, a = 0;
      if ((err = cbrl_yaml_expect(y, e, YAML_MAPPING_NODE, ef)) ||
          (err = cbrl_yaml_check_keys(y, e, ef, which == 1 ? target_keys : reward_keys)) ||
          (err = read_index(l, e, "s", ef, S, &s)))
        break;
      if (which == 3) {
        double v;
        if ((err = read_index(l, e, "a", ef, A, &a)) || (err = read_number(l, e, "value", ef, 1, &v))) break;
        if (cbrl_yaml_get(y, e, "coef")) {
          err = cbrl_yaml_fail(y, cbrl_yaml_get(y, e, "coef"), ef, "an output takes no coef");
          break;
        }
        if (seen[s * A + a]++) {
          err = cbrl_yaml_fail(y, e, ef, "s=%ld a=%ld is listed twice", s, a);
          break;
        }
        for (int c = 0; c < l->p->n_contexts; c++) table[(size_t)c * SA + (size_t)s * A + a] = v;
        continue;
      }
      yaml_node_t *pn = required(l, e, "probs", ef);
      char pf[128];
      snprintf(pf, sizeof pf, "%s.probs", ef);
      if (!pn) err = CBRL_EPARSE;
      else if (!(err = cbrl_yaml_expect(y, pn, YAML_SEQUENCE_NODE, pf)) && cbrl_yaml_length(pn) != A)
        err = cbrl_yaml_fail(y, pn, pf, "has %d entries, expected actions = %d", cbrl_yaml_length(pn), A);
      if (err) break;
      if (seen[s]++) {
        err = cbrl_yaml_fail(y, e, ef, "state %ld is listed twice", s);
        break;
      }
      double sum = 0.0;
      for (int q = 0; q < A && !err; q++) {
        err = cbrl_yaml_double(y, cbrl_yaml_item(y, pn, q), pf, &table[(size_t)s * A + q]);
        if (!err && table[(size_t)s * A + q] < 0.0)
          err = cbrl_yaml_fail(y, cbrl_yaml_item(y, pn, q), pf, "probabilities must not be negative");
        sum += table[(size_t)s * A + q];
      }
      if (!err && fabs(sum - 1.0) > 1e-9) err = cbrl_yaml_fail(y, pn, pf, "sums to %.12g, not 1", sum);
      rho[s] = 1.0;
      listed++;
    }
    if (!err && which == 1) {
      /* Unlisted states are not targeted (weight 0; their row is any distribution). */
      for (int s = 0; s < S; s++) {
        if (!seen[s])
          for (int q = 0; q < A; q++) table[(size_t)s * A + q] = 1.0 / A;
        rho[s] /= listed ? listed : 1;
      }
      yaml_node_t *wn = cbrl_yaml_get(y, obj, "state_weight");
      if (wn) {
        if (!(err = cbrl_yaml_expect(y, wn, YAML_SEQUENCE_NODE, "objective.state_weight")) && cbrl_yaml_length(wn) != S)
          err = cbrl_yaml_fail(y, wn, "objective.state_weight", "has %d entries, expected states = %d", cbrl_yaml_length(wn), S);
        for (int s = 0; s < S && !err; s++) {
          err = cbrl_yaml_double(y, cbrl_yaml_item(y, wn, s), "objective.state_weight", &rho[s]);
          if (!err && rho[s] < 0.0) err = cbrl_yaml_fail(y, cbrl_yaml_item(y, wn, s), "objective.state_weight", "must not be negative");
        }
      }
      if (!err) err = cbrl_objective_cross_entropy_create(&o, l->p, table, 0, rho);
    } else if (!err) {
      double kappa = 0.0;
      if (cbrl_yaml_get(y, obj, "kappa") && (err = read_number(l, obj, "kappa", "objective", 1, &kappa))) kappa = 0.0;
      else if (!(kappa >= 0.0)) err = cbrl_yaml_fail(y, cbrl_yaml_get(y, obj, "kappa"), "objective.kappa", "must not be negative, got %g", kappa);
      if (!err) err = cbrl_objective_welfare_create(&o, l->p, table, kappa);
    }
    free(table);
    free(rho);
    free(seen);
  }
  if (!err) err = cbrl_problem_set_objective(l->p, o);
  if (err) cbrl_objective_free(o);
  return err;
}

enum list_kind { LIST_INITIAL, LIST_TRANSITIONS, LIST_REWARD, LIST_LEADER_REWARD };

/* An entry of mu's or a P row's support, for the check that a row given by prob sums to 1. */
typedef struct row_entry {
  long row;    /* s A + a; 0 for mu */
  int index;   /* in the list */
  int is_prob; /* 1: prob, 0: logit */
  double prob;
} row_entry;

static int row_order(const void *a, const void *b) {
  const row_entry *x = a, *y = b;
  return x->row != y->row ? (x->row < y->row ? -1 : 1) : x->index - y->index;
}

static int list_entry(loader *l, int context, const yaml_node_t *list, int i, enum list_kind kind, const char *field,
                      const char *const *keys, row_entry *rows, int *any_prob);

/* Rows given by prob sum to 1 and do not mix prob and logit (docs/PROBLEM_FILES.md). */
static int check_rows(loader *l, const yaml_node_t *list, const char *field, enum list_kind kind, row_entry *rows,
                      int n) {
  qsort(rows, (size_t)n, sizeof *rows, row_order);
  for (int i = 0; i < n;) {
    int j = i, probs = 0;
    double sum = 0.0;
    for (; j < n && rows[j].row == rows[i].row; j++) probs += rows[j].is_prob, sum += rows[j].prob;
    if (probs) {
      yaml_node_t *e = cbrl_yaml_item(&l->y, list, rows[i].index);
      char ef[240], where[96];
      snprintf(ef, sizeof ef, "%s[%d]", field, rows[i].index);
      at_node(l, where, sizeof where);
      char row[64] = "mu";
      if (kind == LIST_TRANSITIONS)
        snprintf(row, sizeof row, "P(.|s=%ld, a=%ld)", rows[i].row / l->n_actions, rows[i].row % l->n_actions);
      if (probs < j - i) return cbrl_yaml_fail(&l->y, e, ef, "%s mixes prob and logit: give one of them throughout", row);
      if (fabs(sum - 1.0) > 1e-9)
        return cbrl_yaml_fail(&l->y, e, ef, "the probabilities of %s sum to %.12g%s, not 1", row, sum, where);
    }
    i = j;
  }
  return 0;
}

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
  int n = cbrl_yaml_length(list), any_prob = 0;
  row_entry *rows = NULL;
  if (kind == LIST_INITIAL || kind == LIST_TRANSITIONS) {
    if (!(rows = malloc(sizeof *rows * (size_t)(n ? n : 1)))) return CBRL_ENOMEM;
  }
  for (int i = 0; i < n && !err; i++) err = list_entry(l, context, list, i, kind, field, keys[kind], rows, &any_prob);
  if (!err && any_prob) err = check_rows(l, list, field, kind, rows, n);
  free(rows);
  return err;
}

/* Entry i of a context's list: checked, evaluated at the node being read and added. */
static int list_entry(loader *l, int context, const yaml_node_t *list, int i, enum list_kind kind, const char *field,
                      const char *const *keys, row_entry *rows, int *any_prob) {
  int err;
  yaml_node_t *e = cbrl_yaml_item(&l->y, list, i);
  char ef[220];
  snprintf(ef, sizeof ef, "%s[%d]", field, i);
  if ((err = cbrl_yaml_expect(&l->y, e, YAML_MAPPING_NODE, ef))) return err;
  if ((err = cbrl_yaml_check_keys(&l->y, e, ef, keys))) return err;
  long s, a = 0, next = 0;
  double value;
  const double *coef;
  if ((err = read_index(l, e, "s", ef, l->n_states, &s))) return err;
  if (kind != LIST_INITIAL && (err = read_index(l, e, "a", ef, l->n_actions, &a))) return err;
  if (kind == LIST_TRANSITIONS && (err = read_index(l, e, "next", ef, l->n_states, &next))) return err;
  if (kind == LIST_INITIAL || kind == LIST_TRANSITIONS) {
    /* logit (default 0), or prob: logit = log prob, each row's probabilities summing to 1. */
    yaml_node_t *pn = cbrl_yaml_get(&l->y, e, "prob"), *ln = cbrl_yaml_get(&l->y, e, "logit");
    char vf[240];
    snprintf(vf, sizeof vf, "%s.%s", ef, pn ? "prob" : "logit");
    value = 0.0;
    if (pn && ln) return cbrl_yaml_fail(&l->y, e, ef, "gives both logit and prob: give one");
    if ((pn || ln) && (err = read_value(l, pn ? pn : ln, vf, &value))) return err;
    rows[i].row = kind == LIST_INITIAL ? 0 : s * l->n_actions + a;
    rows[i].index = i, rows[i].is_prob = pn != NULL, rows[i].prob = pn ? value : 0.0;
    if (pn) {
      *any_prob = 1;
      if (!(value > 0.0)) {
        char where[96];
        at_node(l, where, sizeof where);
        return cbrl_yaml_fail(&l->y, pn, vf, "%g%s: a probability must be positive (leave an impossible entry out)",
                              value, where);
      }
      value = log(value);
    }
  } else {
    char vf[240];
    snprintf(vf, sizeof vf, "%s.value", ef);
    yaml_node_t *vn = required(l, e, "value", ef);
    if (!vn) return CBRL_EPARSE;
    if ((err = read_value(l, vn, vf, &value))) return err;
  }
  if ((err = read_coef(l, e, ef, &coef))) return err;
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
  int n_templates = cbrl_yaml_length(contexts), n_contexts = n_templates;
  if (n_templates == 0) return cbrl_yaml_fail(y, contexts, "contexts", "must list at least one context");
  if ((n = cbrl_yaml_get(y, root, "theta")) && (err = read_theta(l, n))) return err;
  int n_nodes = l->n_nodes ? l->n_nodes : 1;
  if ((double)n_templates * n_nodes > 0x7fffffff / 2)
    return cbrl_yaml_fail(y, contexts, "contexts", "%d contexts x %d values of theta are too many", n_templates, n_nodes);
  n_contexts = n_templates * n_nodes;
  l->info.n_templates = n_templates, l->info.n_nodes = n_nodes;

  /* The shape whole before anything of its size is allocated: every context a mapping, and
     the memory the problem will take within the limit. */
  double most_transitions = 0.0;
  for (int k = 0; k < n_templates; k++) {
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
  for (int k = 0; k < n_templates; k++) {
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
    wsum += weight;
    /* A template is read once per value of theta: context k n_nodes + i is theta[i]'s. */
    for (int i = 0; i < n_nodes; i++) {
      int ctx = k * n_nodes + i;
      l->node = i;
      l->p->context_weight[ctx] = weight * (l->n_nodes ? l->node_weight[i] : 1.0);
      if ((err = read_list(l, ctx, c, "initial", LIST_INITIAL, cf)) ||
          (err = read_list(l, ctx, c, "transitions", LIST_TRANSITIONS, cf)) ||
          (err = read_list(l, ctx, c, "reward", LIST_REWARD, cf)) ||
          (err = read_list(l, ctx, c, "leader_reward", LIST_LEADER_REWARD, cf)))
        return err;
    }
  }
  if (fabs(wsum - 1.0) > 1e-9)
    return cbrl_yaml_fail(y, contexts, "contexts", "weights sum to %.12g, not 1", wsum);
  int bad_context = 0, bad_state = 0, bad_action = 0;
  err = cbrl_affine_finalize(l->p, &bad_context, &bad_state, &bad_action);
  if (err == CBRL_EINVAL) {
    yaml_node_t *c = cbrl_yaml_item(y, contexts, bad_context / n_nodes);
    char cf[80];
    snprintf(cf, sizeof cf, "contexts[%d].transitions", bad_context / n_nodes);
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
  if ((n = cbrl_yaml_get(y, root, "objective")) && (err = read_objective(l, n))) return err;
  return 0;
}

int cbrl_tabular_load(cbrl_problem **out, const char *path, char *err, size_t err_size) {
  return cbrl_tabular_load_info(out, NULL, path, err, err_size);
}

void cbrl_tabular_info_free(cbrl_tabular_info *info) {
  if (!info) return;
  free(info->theta);
  free(info->node_weight);
  memset(info, 0, sizeof *info);
}

double cbrl_tabular_standard_error(const cbrl_problem *p, const cbrl_tabular_info *info, const double *f) {
  if (!p || !info || !f || !info->sampled || info->rule != CBRL_CONTEXTS_SAMPLE) return 0.0;
  if ((long)info->n_templates * info->n_nodes != p->n_contexts) return 0.0;
  return cbrl_contexts_grouped_standard_error(f, p->context_weight, info->n_templates, info->n_nodes);
}

int cbrl_tabular_load_info(cbrl_problem **out, cbrl_tabular_info *info, const char *path, char *err, size_t err_size) {
  if (info) memset(info, 0, sizeof *info);
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
    free(l.theta);
    free(l.node_weight);
    cbrl_problem_free(l.p);
    return rc;
  }
  if (info) {
    *info = l.info;
    info->theta = l.theta, info->node_weight = l.node_weight;
    if (!info->n_nodes) info->n_templates = l.p->n_contexts, info->n_nodes = 1;
  } else {
    free(l.theta);
    free(l.node_weight);
  }
  snprintf(l.p->name, sizeof l.p->name, "file");
  *out = l.p;
  return 0;
}
