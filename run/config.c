/* Sweep configuration: a YAML mapping of fields; lists in grid fields make axes; `--set`
   overrides go through the same field parser as the file. */
#include "cbrl/run/config.h"
#include "cbrl/run/follower_process.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbrl/bounds.h"
#include "cbrl/objective.h"
#include "cbrl/hpgd.h"
#include "cbrl/soft_dqn.h"

#include "cbrl/run/env_registry.h"
#include "cbrl/run/number.h"
#include "cbrl/run/store.h"
#include "cbrl/run/suggest.h"
#include "yaml_util.h"

/* Only the HPGD algorithms simulate trajectories, so only they multiply by the simulator axis. */
static int simulates(cbrl_algorithm a) { return a == CBRL_ALG_HPGD || a == CBRL_ALG_HPGD_BATCH || a == CBRL_ALG_HPGD_CRITIC; }

void cbrl_config_default(cbrl_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->env, sizeof c->env, "%s", cbrl_env_name(cbrl_env_at(0))); /* the registry's first */
  c->n_algorithm = 1;
  c->algorithm[0] = CBRL_ALG_HPGD_BATCH;
  c->n_beta = 1;
  c->beta[0] = 1.0;
  c->n_learning_rate = 1;
  c->learning_rate[0] = 0.1;
  c->n_zero_order_c = 1;
  c->zero_order_c[0] = 0.1;
  c->n_simulator = 1;
  c->simulator[0] = 0; /* the registry's first simulator, "consistent" */
  c->n_seeds = 1;
  c->seeds[0] = 0;
  c->iterations = 10000;
  c->optimizer = CBRL_SGD;
  c->max_grad_norm = 1.0;
  c->clip = CBRL_CLIP_AVERAGE;
  c->clip_growth = 1000.0;
  c->hpgd_steps = 10000;
  c->hpgd_streams = 5;
  c->hpgd_max_steps = 200;
  c->amd_updates = 100;
  c->metrics_every = 10;
  c->final_window = 1000;
  c->init_std = 0.01;
  c->states = 100, c->actions = 4, c->dim = 8, c->contexts = 2, c->branch = 5, c->problem_seed = 0;
  c->follower = CBRL_RUN_FOLLOWER_EXACT;
  c->follower_iterations = 1024;
  c->follower_steps = 10000;
  c->follower_max_steps = 200;
  c->follower_timeout = 30.0;
  {
    cbrl_soft_dqn_opts d; /* the soft-DQN follower's own defaults */
    cbrl_soft_dqn_opts_default(&d);
    c->dqn_steps = d.steps;
    c->dqn_hidden = d.hidden[0];
    c->dqn_batch = d.batch_size;
    c->dqn_epsilon_steps = d.epsilon_steps;
    c->dqn_learning_rate = d.learning_rate;
  }
  c->rtq_levels = 6;
  c->tax_bins = 200;
}

typedef enum { F_INIT_X, F_STRING, F_ENUM_ENV, F_ALG, F_DOUBLE_AXIS, F_SIM_AXIS, F_SEEDS, F_LONG, F_DOUBLE, F_OPTIMIZER,
               F_FOLLOWER, F_CLIP, F_CRITIC, F_BASELINE, F_VARIANT, F_SCORE, F_DQN_HEADS,
               F_CLIP_GROUPS } field_kind;

typedef struct field {
  const char *name;
  field_kind kind;
  size_t offset;       /* of the value (or array) */
  size_t count_offset; /* of the axis count */
  double lo, hi;       /* allowed range (inclusive); open at lo when lo_open */
  int lo_open;
} field;

#define OFF(m) offsetof(cbrl_config, m)
static const field fields[] = {
    {"env", F_ENUM_ENV, OFF(env), 0, 0, 0, 0},
    {"problem", F_STRING, OFF(problem), 0, 0, 0, 0},
    {"preferences", F_STRING, OFF(preferences), 0, 0, 0, 0},
    {"algorithm", F_ALG, OFF(algorithm), OFF(n_algorithm), 0, 0, 0},
    {"beta", F_DOUBLE_AXIS, OFF(beta), OFF(n_beta), -1e6, 1e6, 0},
    {"lambda", F_DOUBLE_AXIS, OFF(lambda), OFF(n_lambda), 0, 1e6, 1},
    {"learning_rate", F_DOUBLE_AXIS, OFF(learning_rate), OFF(n_learning_rate), 0, 1e6, 1},
    {"zero_order_c", F_DOUBLE_AXIS, OFF(zero_order_c), OFF(n_zero_order_c), 0, 1e6, 1},
    {"simulator", F_SIM_AXIS, OFF(simulator), OFF(n_simulator), 0, 0, 0},
    {"seeds", F_SEEDS, OFF(seeds), OFF(n_seeds), 0, 0, 0},
    {"iterations", F_LONG, OFF(iterations), 0, 1, 1e9, 0},
    {"optimizer", F_OPTIMIZER, OFF(optimizer), 0, 0, 0, 0},
    {"max_grad_norm", F_DOUBLE, OFF(max_grad_norm), 0, 0, 1e12, 0},
    {"clip", F_CLIP, OFF(clip), 0, 0, 0, 0},
    {"clip_growth", F_DOUBLE, OFF(clip_growth), 0, 0, 1e12, 1},
    {"clip_groups", F_CLIP_GROUPS, OFF(clip_groups), OFF(n_clip_groups), 0, 0, 0},
    {"hpgd_steps", F_LONG, OFF(hpgd_steps), 0, 1, 1e9, 0},
    {"hpgd_streams", F_LONG, OFF(hpgd_streams), 0, 1, 1e6, 0},
    {"hpgd_max_steps", F_LONG, OFF(hpgd_max_steps), 0, 0, 1e9, 0},
    {"amd_updates", F_LONG, OFF(amd_updates), 0, 1, 1e7, 0},
    {"metrics_every", F_LONG, OFF(metrics_every), 0, 1, 1e9, 0},
    {"final_window", F_LONG, OFF(final_window), 0, 1, 1e9, 0},
    {"init_std", F_DOUBLE, OFF(init_std), 0, 0, 1e6, 0},
    {"states", F_LONG, OFF(states), 0, 1, 5e7, 0},
    {"actions", F_LONG, OFF(actions), 0, 1, 1e5, 0},
    {"dim", F_LONG, OFF(dim), 0, 1, 1e6, 0},
    {"contexts", F_LONG, OFF(contexts), 0, 1, 1e5, 0},
    {"branch", F_LONG, OFF(branch), 0, 1, 1e5, 0},
    {"problem_seed", F_LONG, OFF(problem_seed), 0, 0, 2147483647.0, 0},
    {"follower", F_FOLLOWER, OFF(follower), 0, 0, 0, 0},
    {"follower_iterations", F_LONG, OFF(follower_iterations), 0, 1, 1073741824.0, 0},
    {"follower_steps", F_LONG, OFF(follower_steps), 0, 1, 1e10, 0},
    {"follower_max_steps", F_LONG, OFF(follower_max_steps), 0, 0, 1e9, 0},
    {"dqn_steps", F_LONG, OFF(dqn_steps), 0, 0, 1e10, 0},
    {"dqn_heads", F_DQN_HEADS, OFF(dqn_heads), OFF(n_dqn_heads), 0, 0, 0},
    {"dqn_hidden", F_LONG, OFF(dqn_hidden), 0, 1, 4096, 0},
    {"dqn_batch", F_LONG, OFF(dqn_batch), 0, 1, 10000, 0},
    {"dqn_epsilon_steps", F_LONG, OFF(dqn_epsilon_steps), 0, 0, 1e12, 0},
    {"dqn_learning_rate", F_DOUBLE, OFF(dqn_learning_rate), 0, 0, 1e3, 1},
    {"rtq_levels", F_LONG, OFF(rtq_levels), 0, 1, 30, 0},
    {"rtq_inner_samples", F_LONG, OFF(rtq_inner_samples), 0, 0, 1e7, 0},
    {"tax_bins", F_LONG, OFF(tax_bins), 0, 2, 100000, 0},
    {"hpgd_critic", F_CRITIC, OFF(hpgd_critic), 0, 0, 0, 0},
    {"hpgd_folds", F_LONG, OFF(hpgd_folds), 0, 2, 64, 0},
    {"hpgd_baseline", F_BASELINE, OFF(hpgd_baseline), 0, 0, 0, 0},
    {"estimator_variant", F_VARIANT, OFF(estimator_variant), 0, 0, 0, 0},
    {"hpgd_score", F_SCORE, OFF(hpgd_expected_score), 0, 0, 0, 0},
    {"init_x", F_INIT_X, OFF(init_x), OFF(n_init_x), 0, 0, 0},
};
#define N_FIELDS (int)(sizeof fields / sizeof fields[0])

static const field *find_field(const char *name) {
  for (int i = 0; i < N_FIELDS; i++)
    if (!strcmp(fields[i].name, name)) return &fields[i];
  return NULL;
}

_Static_assert(N_FIELDS <= CBRL_CONFIG_FIELDS_MAX, "cbrl_config.field_line is too short");

int cbrl_config_line(const cbrl_config *c, const char *field) {
  size_t n = strcspn(field, ":[. ");
  for (int i = 0; i < N_FIELDS; i++)
    if (strlen(fields[i].name) == n && !strncmp(fields[i].name, field, n)) return c->field_line[i];
  return 0;
}

/* "unknown field", with the closest field name when one is near. */
static void unknown_field(const char *name, char *out, size_t size) {
  const char *names[N_FIELDS];
  for (int i = 0; i < N_FIELDS; i++) names[i] = fields[i].name;
  const char *near = cbrl_suggest(name, names, N_FIELDS);
  if (near) snprintf(out, size, "unknown field (did you mean '%s'?)", near);
  else snprintf(out, size, "unknown field");
}

/* Items of a scalar-or-list node: returns the count (0 for an empty list), items in *items. */
static int items_of(cbrl_yaml *y, yaml_node_t *n, yaml_node_t **items, int max, const char *name) {
  if (n->type == YAML_SCALAR_NODE) {
    items[0] = n;
    return 1;
  }
  if (n->type != YAML_SEQUENCE_NODE) {
    cbrl_yaml_fail(y, n, name, "expected a value or a list of values");
    return -1;
  }
  int len = cbrl_yaml_length(n);
  if (len == 0) {
    cbrl_yaml_fail(y, n, name, "the list is empty");
    return -1;
  }
  if (len > max) {
    cbrl_yaml_fail(y, n, name, "at most %d values", max);
    return -1;
  }
  for (int i = 0; i < len; i++) {
    items[i] = cbrl_yaml_item(y, n, i);
    if (items[i]->type != YAML_SCALAR_NODE) {
      cbrl_yaml_fail(y, items[i], name, "list items must be single values");
      return -1;
    }
  }
  return len;
}

/* A field that is either a word (its count 0: dqn_heads' joint, clip_groups' whole) or a list of
   at most max sizes in [1, 100000], each a `what` size. */
static int word_or_sizes(cbrl_yaml *y, yaml_node_t *n, const char *name, const char *word, const char *what,
                         long *sizes, int max, int *count) {
  const char *s = cbrl_yaml_scalar(n);
  if (s && !strcmp(s, word)) {
    *count = 0;
    return 0;
  }
  if (n->type != YAML_SEQUENCE_NODE) return cbrl_yaml_fail(y, n, name, "expected %s or a list of %s sizes", word, what);
  yaml_node_t *items[CBRL_DQN_HEADS_MAX > CBRL_CLIP_GROUPS_MAX ? CBRL_DQN_HEADS_MAX : CBRL_CLIP_GROUPS_MAX];
  int k = items_of(y, n, items, max, name), err;
  if (k < 0) return CBRL_EINVAL;
  for (int i = 0; i < k; i++)
    if ((err = cbrl_yaml_long(y, items[i], name, 1, 100000, &sizes[i]))) return err;
  *count = k;
  return 0;
}

static int check_range(cbrl_yaml *y, yaml_node_t *n, const field *f, double v) {
  if ((f->lo_open ? v <= f->lo : v < f->lo) || v > f->hi)
    return cbrl_yaml_fail(y, n, f->name, "%g is out of range %s%g, %g]", v, f->lo_open ? "(" : "[", f->lo, f->hi);
  return 0;
}

/* Parses one field's node into the config. */
static int apply(cbrl_config *c, cbrl_yaml *y, const field *f, yaml_node_t *n) {
  char *base = (char *)c;
  yaml_node_t *items[CBRL_SEEDS_MAX > CBRL_INIT_X_MAX ? CBRL_SEEDS_MAX : CBRL_INIT_X_MAX];
  int err;
  switch (f->kind) {
    case F_INIT_X: {
      /* A list of numbers, or DIR:RUN naming a stored run's x. */
      const char *sv = cbrl_yaml_scalar(n);
      const char *colon = sv ? strrchr(sv, ':') : NULL;
      c->n_init_x = 0;
      c->init_x_dir[0] = 0;
      if (colon) {
        char *end;
        long id = strtol(colon + 1, &end, 10);
        if (colon == sv || !colon[1] || *end || id < 0 || id > 2147483647L)
          return cbrl_yaml_fail(y, n, f->name, "expected a list of numbers or DIR:RUN, got '%.80s'", sv);
        if ((size_t)(colon - sv) >= sizeof c->init_x_dir) return cbrl_yaml_fail(y, n, f->name, "too long");
        memcpy(c->init_x_dir, sv, (size_t)(colon - sv));
        c->init_x_dir[colon - sv] = 0;
        c->init_x_run = (int)id;
        return 0;
      }
      int k = items_of(y, n, items, CBRL_INIT_X_MAX, f->name);
      if (k < 0) return CBRL_EPARSE;
      for (int i = 0; i < k; i++)
        if ((err = cbrl_yaml_double(y, items[i], f->name, &c->init_x[i]))) return err;
      c->n_init_x = k;
      return 0;
    }
    case F_STRING:
    case F_ENUM_ENV: {
      const char *s = cbrl_yaml_scalar(n);
      if (!s) return cbrl_yaml_fail(y, n, f->name, "expected a single value");
      size_t cap = f->kind == F_STRING ? sizeof c->problem : sizeof c->env;
      if (strlen(s) >= cap) return cbrl_yaml_fail(y, n, f->name, "too long");
      if (f->kind == F_ENUM_ENV && !cbrl_env_find(s))
        return cbrl_yaml_fail(y, n, f->name, "unknown environment '%.40s' (%s)", s, cbrl_env_names());
      snprintf(base + f->offset, cap, "%s", s);
      return 0;
    }
    case F_ALG: {
      int k = items_of(y, n, items, CBRL_ALG_COUNT_, f->name);
      if (k < 0) return CBRL_EPARSE;
      for (int i = 0; i < k; i++) {
        const char *s = cbrl_yaml_scalar(items[i]);
        if (cbrl_algorithm_parse(s, &c->algorithm[i]))
          return cbrl_yaml_fail(y, items[i], f->name,
                                "unknown algorithm '%.40s' (hpgd-batch, hpgd, zero-order, amd, exact, hpgd-rtq, hpgd-critic)", s);
        for (int j = 0; j < i; j++)
          if (c->algorithm[j] == c->algorithm[i]) return cbrl_yaml_fail(y, items[i], f->name, "'%s' is listed twice", s);
      }
      c->n_algorithm = k;
      return 0;
    }
    case F_SIM_AXIS: {
      int k = items_of(y, n, items, CBRL_SIMULATORS_MAX, f->name);
      if (k < 0) return CBRL_EPARSE;
      for (int i = 0; i < k; i++) {
        const char *s = cbrl_yaml_scalar(items[i]);
        /* A known name here; whether the environment offers it is checked by validate. */
        if ((c->simulator[i] = cbrl_simulator_id(s)) < 0)
          return cbrl_yaml_fail(y, items[i], f->name, "unknown simulator '%.40s' (%s)", s, cbrl_simulator_names());
        for (int j = 0; j < i; j++)
          if (c->simulator[j] == c->simulator[i]) return cbrl_yaml_fail(y, items[i], f->name, "'%s' is listed twice", s);
      }
      c->n_simulator = k;
      return 0;
    }
    case F_DOUBLE_AXIS: {
      int k = items_of(y, n, items, CBRL_AXIS_MAX, f->name);
      if (k < 0) return CBRL_EPARSE;
      double *v = (double *)(base + f->offset);
      for (int i = 0; i < k; i++) {
        if ((err = cbrl_yaml_double(y, items[i], f->name, &v[i]))) return err;
        if ((err = check_range(y, items[i], f, v[i]))) return err;
        /* Issue 13 class 11: 0.1 and 0.10 are one grid point; run twice, the table would count
           the second as an extra seed. */
        for (int j = 0; j < i; j++)
          if (v[j] == v[i])
            return cbrl_yaml_fail(y, items[i], f->name, "'%.40s' is listed twice (entry %d is '%.40s', the same value %g)",
                                  cbrl_yaml_scalar(items[i]), j + 1, cbrl_yaml_scalar(items[j]), v[i]);
      }
      *(int *)(base + f->count_offset) = k;
      return 0;
    }
    case F_SEEDS: {
      long count;
      if (n->type == YAML_SCALAR_NODE) {
        /* A number N means seeds 0 .. N-1. */
        if ((err = cbrl_yaml_long(y, n, f->name, 1, CBRL_SEEDS_MAX, &count))) return err;
        for (long i = 0; i < count; i++) c->seeds[i] = i;
        c->n_seeds = (int)count;
        return 0;
      }
      int k = items_of(y, n, items, CBRL_SEEDS_MAX, f->name);
      if (k < 0) return CBRL_EPARSE;
      for (int i = 0; i < k; i++) {
        if ((err = cbrl_yaml_long(y, items[i], f->name, 0, 2147483647L, &c->seeds[i]))) return err;
        for (int j = 0; j < i; j++)
          if (c->seeds[j] == c->seeds[i]) return cbrl_yaml_fail(y, items[i], f->name, "seed %ld is listed twice", c->seeds[i]);
      }
      c->n_seeds = k;
      return 0;
    }
    case F_LONG:
      return cbrl_yaml_long(y, n, f->name, (long)f->lo, (long)f->hi, (long *)(base + f->offset));
    case F_DOUBLE: {
      double v;
      if ((err = cbrl_yaml_double(y, n, f->name, &v)) || (err = check_range(y, n, f, v))) return err;
      *(double *)(base + f->offset) = v;
      return 0;
    }
    case F_FOLLOWER: {
      if (n->type == YAML_MAPPING_NODE) { /* {command: ..., mode: ..., timeout: ...} */
        static const char *const keys[] = {"command", "mode", "timeout", NULL};
        if ((err = cbrl_yaml_check_keys(y, n, f->name, keys))) return err;
        yaml_node_t *cmd = cbrl_yaml_get(y, n, "command"), *mode = cbrl_yaml_get(y, n, "mode"),
                    *timeout = cbrl_yaml_get(y, n, "timeout");
        const char *cs = cmd ? cbrl_yaml_scalar(cmd) : NULL;
        if (!cs || !*cs) return cbrl_yaml_fail(y, cmd ? cmd : n, "follower.command", "expected the follower's command");
        if (strlen(cs) >= sizeof c->follower_command) return cbrl_yaml_fail(y, cmd, "follower.command", "too long");
        cbrl_process_mode m = CBRL_PROCESS_SERVE;
        if (mode && cbrl_process_mode_parse(cbrl_yaml_scalar(mode), &m))
          return cbrl_yaml_fail(y, mode, "follower.mode", "expected serve or trajectories");
        double tmo = 30.0;
        if (timeout && (err = cbrl_yaml_double(y, timeout, "follower.timeout", &tmo))) return err;
        if (!(tmo > 0.0 && tmo <= 86400.0))
          return cbrl_yaml_fail(y, timeout, "follower.timeout", "%g is out of range (0, 86400] seconds", tmo);
        snprintf(c->follower_command, sizeof c->follower_command, "%s", cs);
        c->follower_mode = (int)m;
        c->follower_timeout = tmo;
        c->follower = CBRL_RUN_FOLLOWER_COMMAND;
        return 0;
      }
      const char *s = cbrl_yaml_scalar(n);
      if (s && !strcmp(s, "exact")) c->follower = CBRL_RUN_FOLLOWER_EXACT;
      else if (s && !strcmp(s, "soft-q")) c->follower = CBRL_RUN_FOLLOWER_SOFT_Q;
      else if (s && !strcmp(s, "soft-dqn")) c->follower = CBRL_RUN_FOLLOWER_SOFT_DQN;
      else if (s && !strcmp(s, "online")) c->follower = CBRL_RUN_FOLLOWER_ONLINE;
      else return cbrl_yaml_fail(y, n, f->name, "expected exact, soft-q, soft-dqn, online or {command: ...}");
      return 0;
    }
    case F_DQN_HEADS:
      /* joint, or the sizes of the factorised action dimensions (their product is checked
         against the problem's actions when the follower is made). */
      return word_or_sizes(y, n, f->name, "joint", "head", c->dqn_heads, CBRL_DQN_HEADS_MAX, &c->n_dqn_heads);
    case F_CLIP_GROUPS:
      /* whole, or the sizes of consecutive groups of x's coordinates (their sum is checked
         against the problem's dimension by cbrl_config_check_problem). */
      return word_or_sizes(y, n, f->name, "whole", "group", c->clip_groups, CBRL_CLIP_GROUPS_MAX, &c->n_clip_groups);
    case F_CLIP: {
      const char *s = cbrl_yaml_scalar(n);
      if (!s || cbrl_clip_mode_parse(s, &c->clip))
        return cbrl_yaml_fail(y, n, f->name, "expected average, per-context or growing");
      return 0;
    }
    case F_CRITIC: {
      const char *s = cbrl_yaml_scalar(n);
      cbrl_hpgd_critic v;
      if (!s || cbrl_hpgd_critic_parse(s, &v)) return cbrl_yaml_fail(y, n, f->name, "expected auto, tabular, features or model");
      c->hpgd_critic = (int)v;
      return 0;
    }
    case F_BASELINE: {
      const char *s = cbrl_yaml_scalar(n);
      if (s && !strcmp(s, "default")) c->hpgd_baseline = CBRL_BASELINE_DEFAULT;
      else if (s && !strcmp(s, "on")) c->hpgd_baseline = CBRL_BASELINE_ON;
      else if (s && !strcmp(s, "off")) c->hpgd_baseline = CBRL_BASELINE_OFF;
      else return cbrl_yaml_fail(y, n, f->name, "expected default, on or off");
      return 0;
    }
    case F_SCORE: {
      const char *s = cbrl_yaml_scalar(n);
      if (s && !strcmp(s, "sampled")) c->hpgd_expected_score = 0;
      else if (s && !strcmp(s, "expected")) c->hpgd_expected_score = 1;
      else return cbrl_yaml_fail(y, n, f->name, "expected sampled or expected");
      return 0;
    }
    case F_VARIANT: {
      const char *s = cbrl_yaml_scalar(n);
      if (s && !strcmp(s, "spec")) c->estimator_variant = CBRL_VARIANT_SPEC;
      else if (s && !strcmp(s, "paper-code")) c->estimator_variant = CBRL_VARIANT_PAPER_CODE;
      else return cbrl_yaml_fail(y, n, f->name, "expected spec or paper-code");
      return 0;
    }
    case F_OPTIMIZER: {
      const char *s = cbrl_yaml_scalar(n);
      if (s && !strcmp(s, "sgd")) c->optimizer = CBRL_SGD;
      else if (s && !strcmp(s, "adam")) c->optimizer = CBRL_ADAM;
      else return cbrl_yaml_fail(y, n, f->name, "expected sgd or adam");
      return 0;
    }
  }
  return 0;
}

/* A relative path in a config file (problem, init_x's DIR) names a file beside the config,
   wherever the command runs from (a --set path stays relative to the working directory). */
static int beside(char *path, size_t size, const char *config_path, cbrl_yaml *y, yaml_node_t *n) {
  const char *slash = strrchr(config_path, '/');
  if (path[0] == '/' || !path[0] || !slash) return 0;
  char joined[1024];
  int len = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - config_path), config_path, path);
  if (len < 0 || (size_t)len >= size) return cbrl_yaml_fail(y, n, cbrl_yaml_scalar(n) ? "path" : "?", "too long");
  memcpy(path, joined, (size_t)len + 1);
  return 0;
}

int cbrl_config_load(cbrl_config *c, const char *path, char *err, size_t err_size) {
  cbrl_yaml y;
  int rc = cbrl_yaml_load(&y, path, err, err_size);
  if (rc) return rc;
  yaml_node_t *root = cbrl_yaml_root(&y);
  if ((rc = cbrl_yaml_expect(&y, root, YAML_MAPPING_NODE, "top level"))) goto done;
  for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(&y.doc, pr->key);
    const char *k = cbrl_yaml_scalar(kn);
    const field *f = k ? find_field(k) : NULL;
    if (!f) {
      char what[96];
      unknown_field(k ? k : "?", what, sizeof what);
      rc = cbrl_yaml_fail(&y, kn, k ? k : "?", "%s", what);
      goto done;
    }
    for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr; q++) {
      const char *k2 = cbrl_yaml_scalar(yaml_document_get_node(&y.doc, q->key));
      if (k2 && !strcmp(k2, k)) {
        rc = cbrl_yaml_fail(&y, kn, k, "field given twice");
        goto done;
      }
    }
    if ((rc = apply(c, &y, f, yaml_document_get_node(&y.doc, pr->value)))) goto done;
    c->field_line[f - fields] = cbrl_yaml_line(kn);
    if (f->kind == F_STRING && (rc = beside((char *)c + f->offset, sizeof c->problem, path, &y, kn))) goto done;
    if (f->kind == F_INIT_X && c->init_x_dir[0] &&
        (rc = beside(c->init_x_dir, sizeof c->init_x_dir, path, &y, kn)))
      goto done;
  }
done:
  cbrl_yaml_close(&y);
  return rc;
}

int cbrl_config_set(cbrl_config *c, const char *assignment, char *err, size_t err_size) {
  const char *eq = strchr(assignment, '=');
  char key[64];
  if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof key) {
    snprintf(err, err_size, "--set %s: expected key=value", assignment);
    cbrl_yaml_one_line(err);
    return CBRL_EPARSE;
  }
  memcpy(key, assignment, (size_t)(eq - assignment));
  key[eq - assignment] = 0;
  const field *f = find_field(key);
  if (!f) {
    char what[96];
    unknown_field(key, what, sizeof what);
    snprintf(err, err_size, "--set %s: %s", key, what);
    cbrl_yaml_one_line(err);
    return CBRL_EPARSE;
  }
  /* Parse the value as a one-line YAML document through the file's own code path. */
  char file[80];
  snprintf(file, sizeof file, "--set %s", key);
  const char *value = eq + 1;
  cbrl_yaml y;
  int rc = cbrl_yaml_load_buffer(&y, file, value, strlen(value), err, err_size);
  if (rc == CBRL_EPARSE && strstr(err, "YAML syntax error"))
    snprintf(err, err_size, "--set %s: cannot parse '%s'", key, value);
  else if (rc == CBRL_EPARSE && strstr(err, "empty file"))
    snprintf(err, err_size, "--set %s: empty value", key);
  if (!rc) rc = apply(c, &y, f, cbrl_yaml_root(&y));
  if (!rc) c->field_line[f - fields] = 0; /* the value is no longer the file's */
  cbrl_yaml_close(&y);
  /* Messages from the file path name a line; a one-line --set has none worth naming. */
  char *line = rc ? strstr(err, ":1: ") : NULL;
  if (line) memmove(line + 1, line + 3, strlen(line + 3) + 1);
  /* "--set key: key: what" names the field twice: keep one. */
  size_t head = strlen(file);
  if (rc && !strncmp(err, file, head) && !strncmp(err + head, ": ", 2) && !strncmp(err + head + 2, key, strlen(key)) &&
      !strncmp(err + head + 2 + strlen(key), ": ", 2))
    memmove(err + head, err + head + 2 + strlen(key), strlen(err + head + 2 + strlen(key)) + 1);
  if (rc) cbrl_yaml_one_line(err); /* the value may hold a newline */
  return rc;
}

static int fail(char *err, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
  return CBRL_EPARSE;
}

/* The environments that read a field or offer a simulator, as "a, b" for messages. */
static void envs_with(const char *field, int simulator, char *out, size_t size) {
  size_t n = 0;
  out[0] = 0;
  for (int i = 0; i < cbrl_env_count(); i++) {
    const cbrl_env *e = cbrl_env_at(i);
    if (field ? !cbrl_env_takes(e, field) : !cbrl_env_offers(e, simulator)) continue;
    n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s", n ? ", " : "", cbrl_env_name(e));
  }
}

int cbrl_config_validate(const cbrl_config *c, char *err, size_t err_size) {
  const cbrl_env *e = cbrl_env_find(c->env);
  char names[128];
  if (!e) return fail(err, err_size, "env: unknown environment '%.40s' (%s)", c->env, cbrl_env_names());
  envs_with("problem", 0, names, sizeof names);
  if (cbrl_env_takes(e, "problem") && !c->problem[0])
    return fail(err, err_size, "problem: env %s needs a problem file", c->env);
  if (!cbrl_env_takes(e, "problem") && c->problem[0])
    return fail(err, err_size, "problem: only env %s takes a problem file", names);
  envs_with("preferences", 0, names, sizeof names);
  if (!cbrl_env_takes(e, "preferences") && c->preferences[0])
    return fail(err, err_size, "preferences: only env %s takes a preference file", names);
  envs_with("beta", 0, names, sizeof names);
  if (!cbrl_env_takes(e, "beta") && (c->n_beta > 1 || c->beta[0] != 1.0))
    return fail(err, err_size, "beta: applies to env %s only", names);
  for (int i = 0; i < c->n_simulator; i++) {
    const char *sim = cbrl_simulator_name(c->simulator[i]);
    envs_with(NULL, c->simulator[i], names, sizeof names);
    if (!cbrl_env_offers(e, c->simulator[i]))
      return fail(err, err_size, "simulator: %s applies to env %s only", sim, names);
    for (int a = 0; a < c->n_algorithm; a++)
      if (!cbrl_simulator_supports(c->simulator[i], c->algorithm[a]))
        return fail(err, err_size, "simulator: %s supports hpgd and hpgd-batch, not %s", sim,
                    cbrl_algorithm_name(c->algorithm[a]));
    if (c->hpgd_critic == CBRL_CRITIC_MODEL && !cbrl_simulator_has_kernel(c->simulator[i]))
      for (int a = 0; a < c->n_algorithm; a++)
        if (c->algorithm[a] == CBRL_ALG_HPGD_CRITIC)
          return fail(err, err_size, "hpgd_critic: model evaluates the leader on the model's kernel, which simulator %s "
                      "does not have (its states are its own)", sim);
  }
  if (c->hpgd_steps < c->hpgd_streams) return fail(err, err_size, "hpgd_steps: must be at least hpgd_streams");
  if (c->follower == CBRL_RUN_FOLLOWER_COMMAND) {
    /* Refused before anything is written: a command that cannot run. */
    char why[700];
    if (cbrl_follower_command_check(c->follower_command, why, sizeof why))
      return fail(err, err_size, "follower.%s", why);
    for (int a = 0; a < c->n_algorithm; a++)
      if (c->follower_mode == CBRL_PROCESS_TRAJECTORIES &&
          (c->algorithm[a] == CBRL_ALG_HPGD || c->algorithm[a] == CBRL_ALG_HPGD_CRITIC))
        return fail(err, err_size, "follower.mode: trajectories answers hpgd-batch only: %s; use mode: serve",
                    c->algorithm[a] == CBRL_ALG_HPGD
                        ? "the unbiased estimator (hpgd) draws branching rollouts that a batch cannot supply"
                        : "the critic estimator (hpgd-critic) needs the follower's policy table");
  }
  if (cbrl_memory_check(cbrl_config_memory_estimate(c, NULL, 1), "states x actions x contexts, hpgd_steps: one run", err, err_size)) return CBRL_EPARSE;
  if (c->final_window > c->iterations)
    return fail(err, err_size, "final_window: %ld exceeds iterations (%ld)", c->final_window, c->iterations);
  return 0;
}

double cbrl_config_memory_estimate(const cbrl_config *c, const cbrl_problem *p, int threads) {
  cbrl_problem_shape sh = {0};
  const cbrl_env *e = cbrl_env_find(c->env);
  if (p) cbrl_problem_shape_of(p, &sh);
  else if (e && cbrl_env_takes(e, "states")) {
    double branch = c->branch < c->states ? (double)c->branch : (double)c->states;
    sh = (cbrl_problem_shape){(double)c->states, (double)c->actions, (double)c->dim, (double)c->contexts,
                              (double)c->states * (double)c->actions * branch};
  }
  if (!(sh.n_states > 0)) return 0.0;
  double run = cbrl_problem_memory_estimate(&sh);
  for (int a = 0; a < c->n_algorithm; a++)
    if (simulates(c->algorithm[a]) || c->algorithm[a] == CBRL_ALG_HPGD_RTQ) {
      run += cbrl_hpgd_memory_estimate(&sh, c->hpgd_steps);
      break;
    }
  if (threads <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cores > 0 ? (int)cores : 1;
  }
  return run * threads;
}

int cbrl_config_canonical(const cbrl_config *c, char *buf, size_t size) {
  size_t n = 0;
  char num[CBRL_NUMBER_MAX], num2[CBRL_NUMBER_MAX];
#define PUT(...)                                                           \
  do {                                                                     \
    int w_ = snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__);      \
    if (w_ < 0) return -1;                                                 \
    n += (size_t)w_;                                                       \
  } while (0)
  PUT("env: %s\n", c->env);
  if (c->problem[0]) PUT("problem: %s\n", c->problem);
  if (c->preferences[0]) PUT("preferences: %s\n", c->preferences);
  PUT("algorithm: [");
  for (int i = 0; i < c->n_algorithm; i++) PUT("%s%s", i ? ", " : "", cbrl_algorithm_name(c->algorithm[i]));
  PUT("]\n");
  const struct { const char *name; const double *v; int n; } axes[] = {
      {"beta", c->beta, c->n_beta}, {"lambda", c->lambda, c->n_lambda},
      {"learning_rate", c->learning_rate, c->n_learning_rate}, {"zero_order_c", c->zero_order_c, c->n_zero_order_c}};
  for (int a = 0; a < 4; a++) {
    if (!axes[a].n) continue;
    PUT("%s: [", axes[a].name);
    for (int i = 0; i < axes[a].n; i++) {
      cbrl_format_double(num, sizeof num, axes[a].v[i]);
      PUT("%s%s", i ? ", " : "", num);
    }
    PUT("]\n");
  }
  PUT("simulator: [");
  for (int i = 0; i < c->n_simulator; i++) PUT("%s%s", i ? ", " : "", cbrl_simulator_name(c->simulator[i]));
  PUT("]\nseeds: [");
  for (int i = 0; i < c->n_seeds; i++) PUT("%s%ld", i ? ", " : "", c->seeds[i]);
  PUT("]\n");
  cbrl_format_double(num, sizeof num, c->max_grad_norm);
  cbrl_format_double(num2, sizeof num2, c->init_std);
  PUT("iterations: %ld\noptimizer: %s\nmax_grad_norm: %s\n", c->iterations, c->optimizer == CBRL_ADAM ? "adam" : "sgd",
      num);
  PUT("hpgd_steps: %ld\nhpgd_streams: %ld\nhpgd_max_steps: %ld\namd_updates: %ld\n", c->hpgd_steps, c->hpgd_streams,
      c->hpgd_max_steps, c->amd_updates);
  PUT("metrics_every: %ld\nfinal_window: %ld\ninit_std: %s\n", c->metrics_every, c->final_window, num2);
  /* New fields appear only when they differ from the defaults, so older stores still resume. The
     clip mode is the exception: stores written before it existed clipped per context, so that is
     the mode left out, and such a store resumes only under a config that says per-context. */
  if (c->clip != CBRL_CLIP_PER_CONTEXT) PUT("clip: %s\n", cbrl_clip_mode_name(c->clip));
  cbrl_format_double(num, sizeof num, c->clip_growth);
  if (c->clip == CBRL_CLIP_GROWING) PUT("clip_growth: %s\n", num);
  for (int i = 0; i < c->n_clip_groups; i++)
    PUT("%s%ld%s", i ? ", " : "clip_groups: [", c->clip_groups[i], i + 1 < c->n_clip_groups ? "" : "]\n");
  if (c->follower == CBRL_RUN_FOLLOWER_COMMAND) {
    PUT("follower: {command: \"");
    for (const char *q = c->follower_command; *q; q++) PUT("%s%c", *q == '"' || *q == '\\' ? "\\" : "", *q);
    cbrl_format_double(num, sizeof num, c->follower_timeout);
    PUT("\", mode: %s, timeout: %s}\n", cbrl_process_mode_name((cbrl_process_mode)c->follower_mode), num);
  } else if (c->follower != CBRL_RUN_FOLLOWER_EXACT || c->follower_iterations != 1024) {
    static const char *const names[] = {"exact", "soft-q", "online", "command", "soft-dqn"};
    PUT("follower: %s\nfollower_iterations: %ld\n", names[c->follower], c->follower_iterations);
  }
  if (c->follower_steps != 10000 || c->follower_max_steps != 200)
    PUT("follower_steps: %ld\nfollower_max_steps: %ld\n", c->follower_steps, c->follower_max_steps);
  if (c->follower == CBRL_RUN_FOLLOWER_SOFT_DQN) {
    cbrl_format_double(num, sizeof num, c->dqn_learning_rate);
    PUT("dqn_steps: %ld\ndqn_hidden: %ld\ndqn_batch: %ld\ndqn_epsilon_steps: %ld\ndqn_learning_rate: %s\ndqn_heads: ",
        c->dqn_steps, c->dqn_hidden, c->dqn_batch, c->dqn_epsilon_steps, num);
    if (!c->n_dqn_heads) PUT("joint\n");
    for (int i = 0; i < c->n_dqn_heads; i++) PUT("%s%ld%s", i ? ", " : "[", c->dqn_heads[i], i + 1 < c->n_dqn_heads ? "" : "]\n");
  }
  if (c->rtq_levels != 6) PUT("rtq_levels: %ld\n", c->rtq_levels);
  if (c->rtq_inner_samples) PUT("rtq_inner_samples: %ld\n", c->rtq_inner_samples);
  const cbrl_env *e = cbrl_env_find(c->env);
  if (e && cbrl_env_takes(e, "tax_bins")) PUT("tax_bins: %ld\n", c->tax_bins);
  if (c->hpgd_critic) PUT("hpgd_critic: %s\n", cbrl_hpgd_critic_name((cbrl_hpgd_critic)c->hpgd_critic));
  if (c->hpgd_folds && c->hpgd_folds != 2) PUT("hpgd_folds: %ld\n", c->hpgd_folds);
  if (c->hpgd_baseline) PUT("hpgd_baseline: %s\n", c->hpgd_baseline == CBRL_BASELINE_ON ? "on" : "off");
  if (c->estimator_variant) PUT("estimator_variant: paper-code\n");
  if (c->hpgd_expected_score) PUT("hpgd_score: expected\n");
  if (c->init_x_dir[0]) PUT("init_x: %s:%d\n", c->init_x_dir, c->init_x_run);
  if (c->n_init_x) {
    PUT("init_x: [");
    for (int i = 0; i < c->n_init_x; i++) PUT("%s%.17g", i ? ", " : "", c->init_x[i]);
    PUT("]\n");
  }
  if (e && cbrl_env_takes(e, "states"))
    PUT("states: %ld\nactions: %ld\ndim: %ld\ncontexts: %ld\nbranch: %ld\nproblem_seed: %ld\n", c->states, c->actions,
        c->dim, c->contexts, c->branch, c->problem_seed);
  else if (e && cbrl_env_takes(e, "problem_seed"))
    PUT("problem_seed: %ld\n", c->problem_seed);
#undef PUT
  return n < size ? (int)n : -1;
}


int cbrl_config_runs(const cbrl_config *c, cbrl_run_spec **runs, int *n_runs) {
  long total = 0;
  int n_lambda = c->n_lambda ? c->n_lambda : 1;
  for (int a = 0; a < c->n_algorithm; a++)
    total += (long)(simulates(c->algorithm[a]) ? c->n_simulator : 1) * n_lambda * c->n_beta * c->n_learning_rate *
             (c->algorithm[a] == CBRL_ALG_ZERO_ORDER ? c->n_zero_order_c : 1) * c->n_seeds;
  if (total > 10000000L) return CBRL_ERANGE;
  cbrl_run_spec *r = calloc((size_t)total, sizeof *r);
  if (!r) return CBRL_ENOMEM;
  int i = 0;
  for (int a = 0; a < c->n_algorithm; a++)
    for (int sm = 0; sm < (simulates(c->algorithm[a]) ? c->n_simulator : 1); sm++)
      for (int l = 0; l < n_lambda; l++)
        for (int b = 0; b < c->n_beta; b++)
          for (int lr = 0; lr < c->n_learning_rate; lr++) {
            int zo = c->algorithm[a] == CBRL_ALG_ZERO_ORDER;
            for (int z = 0; z < (zo ? c->n_zero_order_c : 1); z++)
              for (int s = 0; s < c->n_seeds; s++) {
                cbrl_run_spec *q = &r[i];
                q->index = i++;
                q->algorithm = c->algorithm[a];
                q->simulator = c->simulator[sm];
                q->lambda = c->n_lambda ? c->lambda[l] : NAN;
                q->beta = c->beta[b];
                q->learning_rate = c->learning_rate[lr];
                q->zero_order_c = zo ? c->zero_order_c[z] : NAN;
                q->seed = c->seeds[s];
              }
          }
  *runs = r;
  *n_runs = i;
  return 0;
}

void cbrl_config_env_params(const cbrl_config *c, const cbrl_run_spec *r, cbrl_env_params *p) {
  cbrl_env_params_default(p);
  p->problem = c->problem;
  p->preferences = c->preferences;
  p->beta = r->beta;
  p->simulator = r->simulator;
  p->tax_bins = c->tax_bins;
  p->tax_paper_code = c->estimator_variant == CBRL_VARIANT_PAPER_CODE;
  p->states = c->states, p->actions = c->actions, p->dim = c->dim;
  p->contexts = c->contexts, p->branch = c->branch, p->problem_seed = c->problem_seed;
}

/* init_x inside the problem's bounds (docs/MODEL.md 1.1), else a message naming the entry. */
static int check_in_bounds(const cbrl_problem *p, const double *x, char *err, size_t err_size) {
  int j = cbrl_bounds_violation(p, x);
  if (j < 0) return 1;
  snprintf(err, err_size, "init_x[%d]: %g is outside the problem's bounds [%g, %g]", j, x[j], p->x_lower[j],
           p->x_upper[j]);
  return CBRL_ERANGE;
}

int cbrl_config_init_x(const cbrl_config *c, const cbrl_problem *p, double *x, char *err, size_t err_size) {
  if (c->n_init_x) {
    if (c->n_init_x != p->dim) {
      snprintf(err, err_size, "init_x: %d values, but the problem's x has %d", c->n_init_x, p->dim);
      return CBRL_EINVAL;
    }
    memcpy(x, c->init_x, sizeof(double) * (size_t)p->dim);
    return check_in_bounds(p, x, err, err_size);
  }
  if (!c->init_x_dir[0]) return 0;
  double *v;
  int dim;
  char why[600];
  int rc = cbrl_store_read_x(c->init_x_dir, c->init_x_run, &v, &dim, NULL, why, sizeof why);
  if (rc) {
    snprintf(err, err_size, "init_x: %s", why);
    return rc;
  }
  if (dim != p->dim) {
    snprintf(err, err_size, "init_x: run %d of %s has %d values, but the problem's x has %d", c->init_x_run,
             c->init_x_dir, dim, p->dim);
    free(v);
    return CBRL_EINVAL;
  }
  memcpy(x, v, sizeof(double) * (size_t)dim);
  free(v);
  return check_in_bounds(p, x, err, err_size);
}

int cbrl_config_problem(const cbrl_config *c, const cbrl_run_spec *r, cbrl_problem **out, char *err,
                        size_t err_size) {
  const cbrl_env *e = cbrl_env_find(c->env);
  if (!e) {
    snprintf(err, err_size, "env: unknown environment '%.40s'", c->env);
    return CBRL_EINVAL;
  }
  cbrl_env_params p;
  cbrl_config_env_params(c, r, &p);
  int rc = cbrl_env_create(e, &p, out, err, err_size);
  if (!rc && !isnan(r->lambda)) (*out)->lambda = r->lambda;
  return rc;
}

int cbrl_config_check_problem(const cbrl_config *c, int threads, char *err, size_t err_size) {
  cbrl_run_spec *runs;
  int n_runs;
  if (cbrl_config_runs(c, &runs, &n_runs)) {
    snprintf(err, err_size, "the grid is too large");
    return CBRL_EINVAL;
  }
  cbrl_problem *p;
  int rc = cbrl_config_problem(c, &runs[0], &p, err, err_size);
  free(runs);
  if (rc) return rc;
  rc = cbrl_problem_validate(p);
  if (rc) snprintf(err, err_size, "the problem is invalid: %s", cbrl_strerror(rc));
  if (!rc) rc = cbrl_memory_check(cbrl_config_memory_estimate(c, p, threads), "--threads x one run", err, err_size);
  for (int a = 0; !rc && a < c->n_algorithm; a++)
    if (c->algorithm[a] == CBRL_ALG_AMD && ((p->flags & (CBRL_DEPENDS_P | CBRL_DEPENDS_MU)) || !p->ops->reward_jacobian)) {
      rc = CBRL_ENOTSUP;
      snprintf(err, err_size, "algorithm: amd cannot handle this problem (its P or mu depends on x)");
    }
  for (int a = 0; !rc && a < c->n_algorithm; a++) {
    char why[256]; /* HPGD, RT-Q and AMD take discounted leader rewards only (docs/MODEL.md 3.1) */
    if ((rc = cbrl_objective_supports(p, cbrl_algorithm_name(c->algorithm[a]), why, sizeof why)))
      snprintf(err, err_size, "algorithm: %s", why);
  }
  long group_total = 0; /* clip groups cover x (docs/MODEL.md 4) */
  for (int k = 0; k < c->n_clip_groups; k++) group_total += c->clip_groups[k];
  if (!rc && c->n_clip_groups && group_total != p->dim) {
    rc = CBRL_EINVAL;
    snprintf(err, err_size, "clip_groups: the sizes add up to %ld, but the problem's x has %d", group_total, p->dim);
  }
  double *x0 = rc ? NULL : malloc(sizeof(double) * (size_t)p->dim);
  if (!rc && !x0) rc = CBRL_ENOMEM;
  if (x0 && cbrl_config_init_x(c, p, x0, err, err_size) < 0) rc = CBRL_EINVAL;
  free(x0);
  cbrl_problem_free(p);
  return rc;
}
