/* The environments the runner and the CLI know by name (docs/ENVIRONMENTS.md): how each
   builds its problem, where its leader starts, what it reports beside F, which simulators it
   offers and which extra figures it draws. The generic layers (config, sweep, store, plots)
   ask this table and never name an environment themselves. Part of libcbrl_run. */
#ifndef CBRL_RUN_ENV_REGISTRY_H
#define CBRL_RUN_ENV_REGISTRY_H

#include "cbrl/export.h"

#include <stddef.h>

#include "cbrl/cbrl.h"

/* ---- simulators ----------------------------------------------------------------------- */

/* Simulator ids: positions in one table of names. An id is part of every run's random stream
   (run/sweep.c), so ids are never renumbered; new simulators are appended. */
#define CBRL_SIMULATORS_MAX 8

/* The id of a simulator name (consistent, paper-code, continuous), or -1 if unknown. */
CBRL_API int cbrl_simulator_id(const char *name);

/* The name of a simulator id ("consistent" for an unknown id). */
CBRL_API const char *cbrl_simulator_name(int simulator);

/* The names of every simulator, comma-separated, for messages. */
CBRL_API const char *cbrl_simulator_names(void);

/* Whether the simulator can drive algorithm a (the continuous one has no RT-Q). */
CBRL_API int cbrl_simulator_supports(int simulator, cbrl_algorithm a);

/* 1 if the simulator's transitions are a kernel on the model's states (the model critic and the
   expected score can read it), 0 if it has states of its own (continuous). */
CBRL_API int cbrl_simulator_has_kernel(int simulator);

/* ---- environments --------------------------------------------------------------------- */

typedef struct cbrl_env cbrl_env;

/* What an environment may be built from: the union of every environment's options, each
   read only by the environments that take it (cbrl_env_takes). */
typedef struct cbrl_env_params {
  const char *problem; /* file: the problem file */
  const char *preferences; /* rlhf, rlhf-dpo: a cbrl-preferences-1 file, or NULL / "" for generated pairs */
  double beta;         /* four-rooms: upper-level regularisation */
  int simulator;       /* a simulator id the environment offers */
  long tax_bins;       /* tax-design: the asset grid */
  int tax_paper_code;  /* tax-design: the paper's code's VAT reward gradient (estimator_variant paper-code) */
  long states, actions, dim, contexts, branch, problem_seed; /* random */
} cbrl_env_params;

/* Fills p with the defaults docs/CONFIG.md gives (beta 1, consistent, 200 bins, the random
   generator's 100 x 4, d 8, 2 contexts, branch 5, seed 0). */
CBRL_API void cbrl_env_params_default(cbrl_env_params *p);

/* The environment of this name, or NULL. */
CBRL_API const cbrl_env *cbrl_env_find(const char *name);

/* The number of environments. */
CBRL_API int cbrl_env_count(void);

/* The i-th environment (0 <= i < cbrl_env_count(), in a fixed order), or NULL. */
CBRL_API const cbrl_env *cbrl_env_at(int i);

/* The names of every environment, comma-separated, for messages. */
CBRL_API const char *cbrl_env_names(void);

/* The environment's name. */
CBRL_API const char *cbrl_env_name(const cbrl_env *e);

/* Whether the environment reads this cbrl_env_params field (by its config name: problem,
   beta, tax_bins, states, ...). */
CBRL_API int cbrl_env_takes(const cbrl_env *e, const char *field);

/* Whether the environment offers this simulator id. */
CBRL_API int cbrl_env_offers(const cbrl_env *e, int simulator);

/* Builds the environment's problem. On failure returns a cbrl error and writes "name: what"
   (or, for a problem file, "file:line: field: what") into err. */
CBRL_API int cbrl_env_create(const cbrl_env *e, const cbrl_env_params *p, cbrl_problem **out, char *err,
                             size_t err_size);

/* Whether the environment has a start of its own for the leader (tax design: every rate 0.3);
   the others start where the caller chooses. */
CBRL_API int cbrl_env_has_default_x(const cbrl_env *e);

/* Writes the environment's start into x (dim values): its own, or zeros when it has none. */
CBRL_API void cbrl_env_default_x(const cbrl_env *e, const cbrl_problem *p, double *x);

/* ---- simulator objects ---------------------------------------------------------------- */

/* The core objects a run's simulator needs beside its problem. Every mapping from a simulator
   name to the core's mechanism lives in run/env_registry.c, so a new core simulator interface
   plugs in there. */
/* Creates simulator id of the environment for problem p; *out is NULL for "consistent", the
   model's own kernel (the estimators' fast path). Free it with cbrl_simulator_free. */
CBRL_API int cbrl_env_simulator_create(const cbrl_env *e, int simulator, const cbrl_problem *p,
                                       cbrl_simulator **out);

/* ---- reports: named values beside F at each stored iterate ----------------------------- */

#define CBRL_ENV_REPORT_MAX 8

typedef struct cbrl_env_report cbrl_env_report;

/* The names of the environment's report values (NULL-free, count returned; 0: no report). */
CBRL_API int cbrl_env_report_names(const cbrl_env *e, const char *const **names);

/* Opens the report's own workspace for problem p, so that reporting never moves the leader's
   warm starts; *out is NULL (and 0 returned) when the environment reports nothing. */
CBRL_API int cbrl_env_report_open(const cbrl_env *e, const cbrl_problem *p, cbrl_env_report **out);

/* Computes the report at x into values (cbrl_env_report_names' count of them). */
CBRL_API int cbrl_env_report_compute(cbrl_env_report *r, const double *x, double *values);

/* Frees the report's workspace (NULL is allowed). */
CBRL_API void cbrl_env_report_close(cbrl_env_report *r);

#endif /* CBRL_RUN_ENV_REGISTRY_H */
