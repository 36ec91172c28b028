/* Internal: the SQLite results store of a sweep (DIR/results.sqlite). One transaction per
   finished run, so a sweep killed at any moment keeps every finished run whole. */
#ifndef CBRL_RUN_STORE_H
#define CBRL_RUN_STORE_H

#include "cbrl/export.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "cbrl/run/config.h"

typedef struct cbrl_metric_row {
  int64_t iteration;
  int context;
  double F, f_context, grad_norm;
  int64_t env_steps, follower_iterations, follower_products;
  int64_t follower_samples;
  int level;
  int64_t env_steps_total, follower_samples_total; /* cumulative over every iteration so far */
  /* Tax design only (NAN elsewhere): rates and the economy under the households' responses. */
  double rates[4], household_value, household_spread, revenue, assets;
} cbrl_metric_row;

typedef struct cbrl_run_result {
  int failed;
  int interrupted; /* stopped by a signal: stored as such and rerun by --resume */
  char error[256];
  int64_t iterations, env_steps;
  double final_F, window_F, window_f_sampled;
  double wall_seconds, cpu_seconds;
  double *x;              /* dim */
  int dim;
  cbrl_metric_row *rows;
  int64_t n_rows, cap_rows;
} cbrl_run_result;

typedef struct cbrl_store {
  sqlite3 *db;
  char path[1024];
} cbrl_store;

/* Opens (creating when allowed) the store; errors name the path. */
CBRL_API int cbrl_store_open(cbrl_store *s, const char *path, int create, char *err, size_t err_size);
CBRL_API void cbrl_store_close(cbrl_store *s);
/* Records the sweep's canonical config, or checks that it equals the stored one. */
CBRL_API int cbrl_store_config(cbrl_store *s, const char *canonical, int resume, char *err, size_t err_size);
/* Marks done[i] = 1 for every finished (done or failed) run index < n. */
CBRL_API int cbrl_store_finished(cbrl_store *s, unsigned char *done, int n);
/* Writes one run and its metrics in a single transaction. */
CBRL_API int cbrl_store_write(cbrl_store *s, const cbrl_config *c, const cbrl_run_spec *r,
                     const cbrl_run_result *res, char *err, size_t err_size);

#endif /* CBRL_RUN_STORE_H */
