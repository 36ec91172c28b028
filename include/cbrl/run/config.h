/* Sweep configuration files for `cbrl run` (docs/CONFIG.md): loading, overrides, validation
   and the expansion of the grid into runs. Part of libcbrl_run. */
#ifndef CBRL_RUN_CONFIG_H
#define CBRL_RUN_CONFIG_H

#include "cbrl/export.h"

#include <stddef.h>

#include "cbrl/cbrl.h"
#include "cbrl/run/env_registry.h"

#define CBRL_AXIS_MAX 64
/* The followers a config names. */
#define CBRL_RUN_FOLLOWER_EXACT 0
#define CBRL_RUN_FOLLOWER_SOFT_Q 1
#define CBRL_RUN_FOLLOWER_ONLINE 2  /* cbrl_follower_online_create: learns from its own episodes */
#define CBRL_RUN_FOLLOWER_COMMAND 3 /* an external process (cbrl/run/follower_process.h) */
#define CBRL_RUN_FOLLOWER_SOFT_DQN 4  /* cbrl_follower_soft_dqn_create (cbrl/soft_dqn.h) */
#define CBRL_DQN_HEADS_MAX 4
#define CBRL_SEEDS_MAX 1000
#define CBRL_INIT_X_MAX 1024 /* values of an init_x list; a longer x comes from a store */
#define CBRL_CONFIG_FIELDS_MAX 64 /* fields a config file may set */

typedef struct cbrl_config {
  char env[32];       /* a name in the environment registry (cbrl_env_find) */
  char problem[512];  /* env file: the problem file */
  char preferences[512]; /* env rlhf, rlhf-dpo: a cbrl-preferences-1 file, or "" for generated pairs */
  /* Grid axes: a list in the file makes an axis. */
  int n_algorithm;
  cbrl_algorithm algorithm[CBRL_ALG_COUNT_];
  int n_beta;
  double beta[CBRL_AXIS_MAX];
  int n_lambda;
  double lambda[CBRL_AXIS_MAX]; /* n_lambda 0: the problem's own */
  int n_learning_rate;
  double learning_rate[CBRL_AXIS_MAX];
  int n_zero_order_c;
  double zero_order_c[CBRL_AXIS_MAX];
  int n_simulator;
  int simulator[CBRL_SIMULATORS_MAX]; /* simulator ids (cbrl_simulator_id) the env offers */
  int n_seeds;
  long seeds[CBRL_SEEDS_MAX];
  /* Scalars. */
  long iterations;
  cbrl_optimizer optimizer;
  double max_grad_norm;
  cbrl_clip_mode clip;       /* what is clipped: average (default), per-context (the paper's), growing */
  double clip_growth;        /* growing: the clip is max_grad_norm (1 + t / clip_growth) */
  int n_clip_groups;         /* 0: clip x whole; else each group of clip_groups coordinates alone */
  long clip_groups[CBRL_CLIP_GROUPS_MAX];
  long hpgd_steps, hpgd_streams, hpgd_max_steps;
  long amd_updates;
  long metrics_every;
  long final_window;
  double init_std;
  long states, actions, dim, contexts, branch, problem_seed; /* env random */
  int follower;             /* CBRL_RUN_FOLLOWER_* for hpgd and hpgd-batch */
  long follower_iterations; /* soft-q */
  long follower_steps;      /* online and a served command: environment steps per iteration */
  long follower_max_steps;  /* online and a served command: their episodes' time limit (0: none) */
  char follower_command[1024]; /* command: the program and its arguments */
  int follower_mode;        /* command: cbrl_process_mode (serve, trajectories) */
  double follower_timeout;  /* command: seconds per message */
  long dqn_steps;           /* soft-dqn: training steps per response */
  int n_dqn_heads;          /* soft-dqn: 0 joint heads, else factorised over dqn_heads */
  long dqn_heads[CBRL_DQN_HEADS_MAX];
  long dqn_hidden, dqn_batch, dqn_epsilon_steps; /* soft-dqn: width of both hidden layers, ... */
  double dqn_learning_rate;
  long rtq_levels;          /* hpgd-rtq */
  long rtq_inner_samples;   /* hpgd-rtq: 0, batch estimates inside; N, means of N unbiased samples */
  long tax_bins;            /* env tax-design: asset grid */
  int hpgd_critic;          /* hpgd-critic: cbrl_hpgd_critic (auto) */
  long hpgd_folds;          /* hpgd-critic: folds (2) */
  int hpgd_baseline;        /* hpgd-batch, hpgd-critic: cbrl_hpgd_baseline (default) */
  int hpgd_expected_score;  /* hpgd-critic: 1, grad P terms in expectation over s' (docs/MODEL.md 4.1c) */
  int estimator_variant;    /* hpgd-batch: cbrl_hpgd_variant (spec; paper-code, docs/MODEL.md 4.1d) */
  /* Where every run's leader starts (instead of the environment's start or N(0, init_std^2)):
     n_init_x values, or the x of run init_x_run in the store of init_x_dir (cbrl_store_read_x);
     neither set: n_init_x 0 and init_x_dir empty. */
  int n_init_x;
  double init_x[CBRL_INIT_X_MAX];
  char init_x_dir[512];
  int init_x_run;
  /* The line of the config file that set each field (cbrl_config_line); 0 for a default or a
     --set override. */
  int field_line[CBRL_CONFIG_FIELDS_MAX];
} cbrl_config;

/* One run of the grid. */
typedef struct cbrl_run_spec {
  int index; /* position in the grid: names the run and its random stream */
  cbrl_algorithm algorithm;
  int simulator; /* a simulator id (cbrl_simulator_name) */
  double lambda; /* NAN: the problem's own */
  double beta;
  double learning_rate;
  double zero_order_c; /* NAN unless zero-order */
  long seed;
} cbrl_run_spec;

/* Fills the defaults (the paper's Four-Rooms HPGD settings, one seed). */
CBRL_API void cbrl_config_default(cbrl_config *c);

/* Reads a config file over the defaults; errors are "file:line: field: message". */
CBRL_API int cbrl_config_load(cbrl_config *c, const char *path, char *err, size_t err_size);

/* Applies one "key=value" override (value in YAML: a number, a name, or a [list]). */
CBRL_API int cbrl_config_set(cbrl_config *c, const char *assignment, char *err, size_t err_size);

/* The line of the config file that set `field` (a name, or a message that starts with one, such
   as "init_x[2]: ..."), or 0 if it holds its default or came from --set. */
CBRL_API int cbrl_config_line(const cbrl_config *c, const char *field);

/* Checks cross-field rules after loading and overrides. */
CBRL_API int cbrl_config_validate(const cbrl_config *c, char *err, size_t err_size);

/* Bytes a sweep of this config takes with `threads` runs in parallel (0: one per online core):
   per run the problem with its exact solves (cbrl_problem_memory_estimate, from p's shape, or
   from the random-problem fields when p is NULL and the environment takes them; 0 otherwise)
   and, for the HPGD algorithms, a workspace of hpgd_steps (cbrl_hpgd_memory_estimate). */
CBRL_API double cbrl_config_memory_estimate(const cbrl_config *c, const cbrl_problem *p, int threads);

/* Writes the fully resolved config as canonical YAML; returns its length (or -1 if too long). */
CBRL_API int cbrl_config_canonical(const cbrl_config *c, char *buf, size_t size);

/* Expands the grid into runs (caller frees *runs); the order is fixed by the config alone. */
CBRL_API int cbrl_config_runs(const cbrl_config *c, cbrl_run_spec **runs, int *n_runs);

/* The environment options of one run, from the config's fields and the run's axes. */
CBRL_API void cbrl_config_env_params(const cbrl_config *c, const cbrl_run_spec *r, cbrl_env_params *p);

/* Writes the config's init_x for problem p into x (p->dim values) and returns 1, or returns 0
   when the config sets none; a negative cbrl error, with "init_x: what" in err, for a store
   that cannot be read or an x of the wrong length. */
CBRL_API int cbrl_config_init_x(const cbrl_config *c, const cbrl_problem *p, double *x, char *err, size_t err_size);

/* Builds the problem of one run through the environment registry, with the run's lambda. */
CBRL_API int cbrl_config_problem(const cbrl_config *c, const cbrl_run_spec *r, cbrl_problem **out, char *err,
                        size_t err_size);

/* The checks a sweep needs before it writes anything, on the problem of the first run: it
   builds and is valid, threads such runs fit in memory, every algorithm can handle it (AMD's
   structure, the leader objective) and init_x fits it. Returns 0, CBRL_EINVAL for a grid too
   large to list, or the check's code with "what is wrong" in err. */
CBRL_API int cbrl_config_check_problem(const cbrl_config *c, int threads, char *err, size_t err_size);

#endif /* CBRL_RUN_CONFIG_H */
