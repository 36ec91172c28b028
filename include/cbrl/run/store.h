/* The SQLite results store of a sweep (DIR/results.sqlite; docs/CONFIG.md, The store). One
   transaction per finished run, so a sweep killed at any moment keeps every finished run whole.
   Environment metrics are rows of extra_metrics(run_id, iteration, name, value), named by the
   environment registry's report; stores written before that table hold them as metrics
   columns, which cbrl_store_open migrates and cbrl_store_extras_source reads. Part of
   libcbrl_run. */
#ifndef CBRL_RUN_STORE_H
#define CBRL_RUN_STORE_H

#include "cbrl/export.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "cbrl/run/config.h"
#include "cbrl/run/env_registry.h"

typedef struct cbrl_metric_row {
  int64_t iteration;
  int context;
  double F, f_context, grad_norm;
  int64_t env_steps, follower_iterations, follower_products;
  int64_t follower_samples;
  int level;
  int64_t env_steps_total, follower_samples_total; /* cumulative over every iteration so far */
  /* The environment's report values, in cbrl_env_report_names' order; NAN: not stored. */
  double extra[CBRL_ENV_REPORT_MAX];
  double wall_time; /* Unix time (seconds) when the row was measured */
  int64_t x_index;  /* the row's x_t is res->row_x[x_index * dim ...]; -1: not kept */
} cbrl_metric_row;

typedef struct cbrl_run_result {
  int failed;
  int interrupted; /* stopped by a signal: stored as such and rerun by --resume */
  char error[256];
  int64_t iterations, env_steps;
  double final_F, window_F, window_f_sampled;
  double wall_seconds, cpu_seconds;
  double lambda;          /* the follower temperature the run used (the problem's unless set) */
  double clip_active;     /* share of the final window's iterations whose step the clip shortened */
  double *x;              /* dim: the leader's x after the last iteration */
  int dim;
  cbrl_metric_row *rows;
  int64_t n_rows, cap_rows;
  /* x_t of the rows that keep it (t = 1, every metrics_every-th and the last; not every row
     of the final window, which would multiply the store by the window): n_x x dim. */
  double *row_x;
  int64_t n_x, cap_x;
} cbrl_run_result;

typedef struct cbrl_store {
  sqlite3 *db;
  char path[1024];
} cbrl_store;

/* Opens (creating when allowed) the store, migrating an older schema; errors name the path. */
CBRL_API int cbrl_store_open(cbrl_store *s, const char *path, int create, char *err, size_t err_size);

/* Opens an existing store for reading only (immutable where its directory cannot be written,
   so no -wal or -shm file is needed) and checks it whole (cbrl_store_check): CBRL_EINVAL for
   a missing file or one that is not a store, CBRL_EIO for a damaged, locked or unreadable one;
   errors name the path and say which. */
CBRL_API int cbrl_store_open_read(const char *path, sqlite3 **db, char *err, size_t err_size);

/* Runs SQLite's quick_check over every page and checks that the runs table is there; a damaged
   store gives CBRL_EIO with "path: the store is damaged (...)". */
CBRL_API int cbrl_store_check(sqlite3 *db, const char *path, char *err, size_t err_size);

/* Puts what SQLite's last error on db really means (read-only, locked, disk full, damaged,
   not a database) into err as "path: doing: what (SQLite's message)"; returns CBRL_EIO. */
CBRL_API int cbrl_store_explain(sqlite3 *db, const char *path, const char *doing, char *err, size_t err_size);

/* Refuses (CBRL_EINVAL) an output path that is the store at store_path or its -wal, -shm or
   -journal file, by name or through a hard or symbolic link. */
CBRL_API int cbrl_store_guard_output(const char *store_path, const char *out, char *err, size_t err_size);

/* Closes the store (a closed or never opened one is allowed). */
CBRL_API void cbrl_store_close(cbrl_store *s);
/* Records the sweep's canonical config, or checks that it equals the stored one; a refusal
   names every field that differs, with its stored and its new value. */
CBRL_API int cbrl_store_config(cbrl_store *s, const char *canonical, int resume, char *err, size_t err_size);
/* Records the content hash of the sweep's problem file (64-bit FNV-1a of its bytes, with its
   size) in the sweep table, or checks it against the stored one: a changed file is refused
   (CBRL_EINVAL), naming the file and both hashes; with record 0 it only checks. A path that
   is empty does nothing. */
CBRL_API int cbrl_store_problem(cbrl_store *s, const char *problem_path, int record, char *err, size_t err_size);
/* Reads the stored canonical config into *canonical (malloc'd; NULL if the store has none). */
CBRL_API int cbrl_store_read_config(cbrl_store *s, char **canonical);
/* Moves every run i < n_old (with its metrics) to id new_id[i] and stores canonical as the
   sweep's config, in one transaction: how a grid that gained seeds keeps ids = positions. */
CBRL_API int cbrl_store_renumber(cbrl_store *s, const int *new_id, int n_old, const char *canonical, char *err,
                                 size_t err_size);
/* Marks done[i] = 1 for every finished (done or failed) run index < n. */
CBRL_API int cbrl_store_finished(cbrl_store *s, unsigned char *done, int n);
/* Writes one run, its metrics and its environment metrics in a single transaction. */
CBRL_API int cbrl_store_write(cbrl_store *s, const cbrl_config *c, const cbrl_run_spec *r,
                     const cbrl_run_result *res, char *err, size_t err_size);

/* Reads the leader's x of run run_id at its last stored iteration from the store in dir (a
   sweep's output directory, or a results.sqlite file): the x_t whose F that metrics row holds,
   or, for stores written before x was kept per row, the run's final x. Allocates *x (dim
   values; the caller frees it); *iteration (may be NULL) gets the row's t, 0 for a final x.
   Errors name the store and the run. */
CBRL_API int cbrl_store_read_x(const char *dir, int run_id, double **x, int *dim, int64_t *iteration, char *err,
                               size_t err_size);

/* Writes into buf an SQL table expression of the store's environment metrics as rows
   (run_id, iteration, name, value), for "SELECT ... FROM <it>": the extra_metrics table, the
   columns of an unmigrated older store (read-only opens do not migrate), or both. */
CBRL_API int cbrl_store_extras_source(sqlite3 *db, char *buf, size_t size);

#endif /* CBRL_RUN_STORE_H */
