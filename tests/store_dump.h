/* Shared by the runner and MPI tests: a store's content as text (timings aside), its run
   count, and a consistency check. */
#ifndef CBRL_STORE_DUMP_H
#define CBRL_STORE_DUMP_H

#include <sqlite3.h>

#include "test_util.h"

/* The store's content without timings, as text. */
static inline char *dump(const char *out_dir) {
  char path[600];
  snprintf(path, sizeof path, "%s/results.sqlite", out_dir);
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return NULL;
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  const char *queries[3] = {
      "SELECT id, algorithm, simulator, lambda, beta, learning_rate, zero_order_c, seed, config, status, error,"
      " iterations, env_steps, final_F, window_F, window_f_sampled, x FROM runs ORDER BY id",
      "SELECT run_id, iteration, context, F, f_context, grad_norm, env_steps, follower_iterations,"
      " follower_products, follower_samples, level, env_steps_total, follower_samples_total, hex(x)"
      " FROM metrics ORDER BY run_id, iteration", /* wall_time is a timing */
      "SELECT * FROM extra_metrics ORDER BY run_id, iteration, name"};
  for (int q = 0; q < 3; q++) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, queries[q], -1, &st, NULL) != SQLITE_OK) continue;
    while (sqlite3_step(st) == SQLITE_ROW)
      for (int i = 0; i < sqlite3_column_count(st); i++) {
        const unsigned char *t = sqlite3_column_text(st, i);
        n += (size_t)snprintf(buf + n, cap - n, "%s|", t ? (const char *)t : "NULL");
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
      }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return buf;
}

static inline int count_runs(const char *out_dir) {
  char path[600];
  snprintf(path, sizeof path, "%s/results.sqlite", out_dir);
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return -1;
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt *st;
  int n = -1;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM runs", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

/* Opens the store: integrity_check must say ok and every 'done' run must hold all its rows. */
static inline void check_store_consistent(const char *out_dir, int rows_per_run) {
  char path[600];
  snprintf(path, sizeof path, "%s/results.sqlite", out_dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
  char q[256];
  snprintf(q, sizeof q,
           "SELECT count(*) FROM runs r WHERE status = 'done' AND (SELECT count(*) FROM metrics m WHERE m.run_id = r.id) != %d",
           rows_per_run);
  assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

#endif /* CBRL_STORE_DUMP_H */
