/* Tests for run/store.c: a full disk and a read-only filesystem give clear errors, environment
   metrics are rows of extra_metrics, and a store of the old schema (tax columns in metrics)
   is read and migrated. */
#include "run/run_util.h"

#include "cbrl/errors.h"
#include "cbrl/run/store.h"

#include <fcntl.h>
#include <math.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void full_disk_and_read_only_filesystem_give_clear_errors(void **state) {
  char mnt[128], cmd[512], args[512];
  snprintf(mnt, sizeof mnt, "%s/small", dir);
  mkdir(mnt, 0777);
  snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=300k tmpfs %s 2>/dev/null", mnt);
  if (system(cmd) != 0) skip(); /* needs the right to mount */
  const char *cfg = write_config("full.yaml", small);
  snprintf(args, sizeof args, "run %s --out %s/o --threads 2 --quiet --set iterations=400 --set final_window=400 "
           "--set metrics_every=1", cfg, mnt);
  int status = run(args);
  /* Full disk: exit 1, a clear message, and a store that still opens with whole runs. */
  assert_int_equal(status, 1);
  assert_non_null(strstr(err_text, "database or disk is full (the runs stored before are intact"));
  char store[256];
  snprintf(store, sizeof store, "%s/o", mnt);
  char *before = dump(store);
  assert_non_null(before);
  free(before);
  sqlite3 *db;
  snprintf(cmd, sizeof cmd, "%s/o/results.sqlite", mnt);
  assert_int_equal(sqlite3_open_v2(cmd, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM runs r WHERE status = 'done' AND"
                         " (SELECT count(*) FROM metrics m WHERE m.run_id = r.id) != 400", -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0); /* every stored run is complete */
  sqlite3_finalize(st);
  sqlite3_close(db);
  /* Read-only filesystem: the output directory cannot be made. */
  snprintf(cmd, sizeof cmd, "mount -o remount,ro %s", mnt);
  assert_int_equal(system(cmd), 0);
  snprintf(args, sizeof args, "run %s --out %s/new --quiet", cfg, mnt);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "cannot create the output directory: Read-only file system"));
  snprintf(cmd, sizeof cmd, "umount %s", mnt);
  assert_int_equal(system(cmd), 0);
}

static void tax_runs_record_the_economy(void **state) {
  const char *cfg = write_config("tax.yaml",
                                 "env: tax-design\ntax_bins: 20\nlambda: 0.2\nalgorithm: zero-order\n"
                                 "learning_rate: 0.01\nzero_order_c: 50\nseeds: 1\niterations: 12\nfinal_window: 4\n"
                                 "metrics_every: 4\n");
  sqlite3 *db = run_and_open(cfg, "tax");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT m.iteration, e1.value, e2.value, e3.value, e4.value FROM metrics m"
                                          " JOIN extra_metrics e1 ON e1.run_id = m.run_id AND e1.iteration = m.iteration"
                                          "  AND e1.name = 'income_tax'"
                                          " JOIN extra_metrics e2 ON e2.run_id = m.run_id AND e2.iteration = m.iteration"
                                          "  AND e2.name = 'vat1'"
                                          " JOIN extra_metrics e3 ON e3.run_id = m.run_id AND e3.iteration = m.iteration"
                                          "  AND e3.name = 'household_spread'"
                                          " JOIN extra_metrics e4 ON e4.run_id = m.run_id AND e4.iteration = m.iteration"
                                          "  AND e4.name = 'revenue'"
                                          " ORDER BY m.iteration", -1, &st, NULL), SQLITE_OK);
  int rows = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (sqlite3_column_int(st, 0) == 1) {
      assert_close(sqlite3_column_double(st, 1), 0.3, 1e-12, 0); /* the paper's starting rates */
      assert_close(sqlite3_column_double(st, 2), 0.3, 1e-12, 0);
    }
    assert_true(sqlite3_column_type(st, 3) == SQLITE_FLOAT && sqlite3_column_double(st, 3) >= 0.0);
    assert_true(sqlite3_column_double(st, 4) > 0.0);
    rows++;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  assert_int_equal(rows, 7); /* t = 1, 4, 8 and the final window 9, 10, 11, 12 */
  /* Its figures: F, the rates, and the households' curves (no follower samples, no map). */
  char args[512], path[256];
  snprintf(args, sizeof args, "plot %s/tax --format png", dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "3 figures written"));
  long size;
  snprintf(path, sizeof path, "%s/tax/plots/tax_rates_lambda0.2.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/tax/plots/households_lambda0.2.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
}

/* Reads a whole file into a malloc'd string. */
static char *slurp(const char *path) { return slurp_capped(path, 1 << 16); }

/* A store written before extra_metrics existed, made here by SQL: its tax columns in metrics
   are read as they are (export and plot open it read-only), and an open for writing moves
   them into extra_metrics without changing what is read. */
static void a_store_of_the_old_schema_is_read_and_migrated(void **state) {
  char old[128], path[256], args[600];
  snprintf(old, sizeof old, "%s/old", dir);
  mkdir(old, 0777);
  snprintf(path, sizeof path, "%s/results.sqlite", old);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  static const char schema1[] =
      "CREATE TABLE sweep(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE runs(id INTEGER PRIMARY KEY, algorithm TEXT NOT NULL, env TEXT NOT NULL, simulator TEXT NOT NULL,"
      " lambda REAL, beta REAL, learning_rate REAL, zero_order_c REAL, seed INTEGER NOT NULL, config TEXT NOT NULL,"
      " status TEXT NOT NULL, error TEXT, iterations INTEGER, env_steps INTEGER, final_F REAL, window_F REAL,"
      " window_f_sampled REAL, wall_seconds REAL, cpu_seconds REAL, x TEXT);"
      "CREATE TABLE metrics(run_id INTEGER NOT NULL, iteration INTEGER NOT NULL, context INTEGER, F REAL,"
      " f_context REAL, grad_norm REAL, env_steps INTEGER, follower_iterations INTEGER, follower_products INTEGER,"
      " follower_samples INTEGER, level INTEGER, env_steps_total INTEGER, follower_samples_total INTEGER,"
      " income_tax REAL, vat1 REAL, vat2 REAL, vat3 REAL, household_value REAL, household_spread REAL,"
      " revenue REAL, assets REAL, PRIMARY KEY(run_id, iteration)) WITHOUT ROWID;"
      "INSERT INTO sweep VALUES('config', 'env: tax-design');"
      "INSERT INTO runs VALUES(0, 'zero-order', 'tax-design', 'consistent', 0.2, 1, 0.01, 50, 0, '{}', 'done', NULL,"
      " 2, 0, 1.5, 1.25, 1.0, 0, 0, '[0,0,0,0]');"
      "INSERT INTO metrics VALUES(0, 1, 0, 1.0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0.3, 0.31, 0.32, 0.33, 2.5, 0.5, 7.0, 1.0);"
      "INSERT INTO metrics VALUES(0, 2, 1, 1.5, 1.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.4, 0.41, 0.42, 0.43, 2.75, 0.25, 8.0,"
      " NULL);";
  assert_int_equal(sqlite3_exec(db, schema1, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  /* Read as it is. */
  snprintf(args, sizeof args, "export %s --csv %s/old_before.csv", old, dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/old_before.csv", dir);
  char *before = slurp(path);
  assert_non_null(before);
  assert_non_null(strstr(before, ",income_tax,vat1,vat2,vat3,household_value,household_spread,revenue,assets\n"));
  /* Shortest round-trip decimals: the stored 0.3 is written as 0.3. */
  assert_non_null(strstr(before, ",0.3,0.31,0.32,0.33,2.5,0.5,7,1\n"));
  assert_non_null(strstr(before, ",0.4,0.41,0.42,0.43,2.75,0.25,8,\n"));
  snprintf(args, sizeof args, "plot %s --format png --out %s/old_plots", old, dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "3 figures written")); /* F, the rates, the households */
  /* Migrated by an open for writing: the columns are gone, their values are rows. */
  cbrl_store s;
  char err[512];
  snprintf(path, sizeof path, "%s/results.sqlite", old);
  assert_int_equal(cbrl_store_open(&s, path, 0, err, sizeof err), 0);
  cbrl_store_close(&s);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info('metrics') WHERE name = 'income_tax'",
                                      -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(value) FROM extra_metrics WHERE name = 'revenue'", -1,
                                      &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 2);
  assert_close(sqlite3_column_double(st, 1), 15.0, 1e-15, 0);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM extra_metrics", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 15); /* 16 values, one NULL */
  sqlite3_finalize(st);
  sqlite3_close(db);
  snprintf(args, sizeof args, "export %s --csv %s/old_after.csv", old, dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/old_after.csv", dir);
  char *after = slurp(path);
  assert_non_null(after);
  assert_string_equal(before, after);
  free(before);
  free(after);
}

/* x is kept per thinned row (t = 1, every metrics_every-th, the last), and cbrl_store_read_x
   returns the last row's: the iterate whose F that row holds. */
static void x_is_kept_per_stored_iteration_and_read_back(void **state) {
  const char *cfg = write_config("x.yaml", "env: file\nproblem: " CBRL_SOURCE_DIR "/examples/chain.yaml\n"
                                           "algorithm: exact\nlearning_rate: 0.5\niterations: 12\nfinal_window: 4\n"
                                           "metrics_every: 5\n");
  sqlite3 *db = run_and_open(cfg, "x");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT iteration, length(x), wall_time FROM metrics WHERE run_id = 0"
                                          " ORDER BY iteration", -1, &st, NULL), SQLITE_OK);
  char kept[128] = "";
  size_t n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
      assert_int_equal(sqlite3_column_int(st, 1), 3 * 8);
      n += (size_t)snprintf(kept + n, sizeof kept - n, "%d,", sqlite3_column_int(st, 0));
    }
    assert_true(sqlite3_column_double(st, 2) > 1.7e9); /* a Unix time */
  }
  sqlite3_finalize(st);
  assert_string_equal(kept, "1,5,10,12,");
  double *x;
  int dim;
  int64_t t;
  char err[512], path[256];
  snprintf(path, sizeof path, "%s/x", dir);
  assert_int_equal(cbrl_store_read_x(path, 0, &x, &dim, &t, err, sizeof err), 0);
  assert_int_equal(dim, 3);
  assert_int_equal(t, 12);
  /* The same x the row's F belongs to: one step before the final x of the runs table. */
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT x FROM runs WHERE id = 0", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_true(strcmp((const char *)sqlite3_column_text(st, 0), "") != 0);
  sqlite3_finalize(st);
  assert_true(x[0] != 0.0);
  /* The CSV carries the kept x as columns x0..x2, and each row's wall time. */
  char args[512];
  snprintf(args, sizeof args, "export %s/x --csv %s/x.csv", dir, dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/x.csv", dir);
  char *csv = slurp(path);
  assert_non_null(csv);
  assert_non_null(strstr(csv, ",follower_samples_total,wall_time,x0,x1,x2\n"));
  char last[128];
  snprintf(last, sizeof last, ",%.17g,%.17g,%.17g\n", x[0], x[1], x[2]);
  assert_non_null(strstr(csv, last));
  assert_non_null(strstr(csv, ",,,\n")); /* a final-window row that keeps no x */
  free(csv);
  free(x);
  snprintf(path, sizeof path, "%s/x", dir);
  assert_int_equal(cbrl_store_read_x(path, 7, &x, &dim, &t, err, sizeof err), CBRL_EINVAL);
  assert_non_null(strstr(err, "no run 7"));
  sqlite3_close(db);
}

/* A sweep that sets no lambda stores the problem's temperature, so `cbrl table` has one row
   for it (before: lambda NULL, one identical "nan" row per run), and outside Four-Rooms no
   beta column. */
static void a_table_has_one_row_per_lambda_and_only_the_sweeps_axes(void **state) {
  const char *cfg = write_config("rnd.yaml", "env: random\nstates: 12\nactions: 3\ndim: 4\ncontexts: 2\nbranch: 3\n"
                                             "algorithm: exact\nseeds: 3\niterations: 6\nfinal_window: 2\n");
  sqlite3_close(run_and_open(cfg, "rnd"));
  char args[256];
  snprintf(args, sizeof args, "table %s/rnd", dir);
  char path[256];
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/rnd/table.md", dir);
  char *md = slurp(path);
  assert_non_null(md);
  assert_null(strstr(md, "nan"));
  assert_null(strstr(md, "beta"));
  assert_non_null(strstr(md, "| lambda | exact |\n|---|---|\n| 1 | "));
  const char *second = strstr(md, "| 1 | ");
  assert_non_null(second);
  assert_null(strstr(strstr(second + 1, "| 1 | ") + 1, "| 1 | ")); /* one row in each of the two tables */
  free(md);
  /* Four-Rooms keeps its beta column. */
  cfg = write_config("frt.yaml", "env: four-rooms\nalgorithm: exact\nbeta: [1, 2]\niterations: 3\nfinal_window: 1\n");
  sqlite3_close(run_and_open(cfg, "frt"));
  snprintf(args, sizeof args, "table %s/frt", dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/frt/table.md", dir);
  md = slurp(path);
  assert_non_null(strstr(md, "| lambda | beta | exact |\n|---|---|---|\n| 0.003 | 1 | "));
  assert_non_null(strstr(md, "| 0.003 | 2 | "));
  free(md);
}

/* ---- issue 13 classes 7, 8, 9: the store diagnosed, protected, one writer, one problem ---- */

static const char tiny[] = "env: random\nstates: 30\nactions: 3\niterations: 10\nfinal_window: 5\nseeds: 6\n";

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* A sweep of tiny into DIR/name; returns the store's path. */
static const char *tiny_sweep(const char *name) {
  static char store[256];
  char args[512];
  const char *cfg = write_config("tiny.yaml", tiny);
  snprintf(args, sizeof args, "run %s --out %s/%s --quiet", cfg, dir, name);
  assert_int_equal(run(args), 0);
  snprintf(store, sizeof store, "%s/%s/results.sqlite", dir, name);
  return store;
}

static void a_damaged_store_fails_every_reader_with_exit_1(void **state) {
  (void)state;
  const char *store = tiny_sweep("dmg");
  /* Garbage over the middle of the file: pages of runs or metrics. */
  FILE *f = fopen(store, "r+b");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size / 2, SEEK_SET);
  for (int i = 0; i < 4096; i++) fputc(0xa5, f);
  fclose(f);
  char args[700], out[300];
  static const char *const cmds[] = {"table %s/dmg", "export %s/dmg --csv %s/dmg.csv", "plot %s/dmg --out %s/dmgp",
                                     "export %s/dmg --tensorboard %s/dmgtb", "run %s/tiny.yaml --out %s/dmg --resume --quiet"};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
    snprintf(args, sizeof args, cmds[i], dir, dir);
    if (strstr(args, "tiny.yaml")) snprintf(args, sizeof args, "run %s/tiny.yaml --out %s/dmg --resume --quiet", dir, dir);
    int status = run(args);
    if (status != 1) fail_msg("%s: status %d (%s)", args, status, err_text);
    if (!strstr(err_text, "the store is damaged")) fail_msg("%s: '%s'", args, err_text);
    char *nl = strchr(err_text, '\n');
    if (!nl || nl[1]) fail_msg("%s: not one line: '%s'", args, err_text);
  }
  snprintf(out, sizeof out, "%s/dmg.csv", dir);
  assert_false(file_exists(out)); /* no partial CSV */
  snprintf(out, sizeof out, "%s/dmg/table.md", dir);
  assert_false(file_exists(out));
  snprintf(out, sizeof out, "%s/dmgp/curves_lambda1.png", dir);
  assert_false(file_exists(out));
  sqlite3 *db;
  char err[512];
  assert_int_equal(cbrl_store_open_read(store, &db, err, sizeof err), CBRL_EIO);
  assert_null(db);
  cbrl_store s;
  assert_int_equal(cbrl_store_open(&s, store, 0, err, sizeof err), CBRL_EIO);
  assert_non_null(strstr(err, "the store is damaged"));
}

static void what_is_wrong_with_a_store_is_said(void **state) {
  (void)state;
  char path[256], err[512];
  sqlite3 *db;
  /* Not an SQLite file at all. */
  snprintf(path, sizeof path, "%s/text", dir);
  mkdir(path, 0777);
  snprintf(path, sizeof path, "%s/text/results.sqlite", dir);
  FILE *f = fopen(path, "w");
  fputs("this is not a database, but it is long enough to have a header of a hundred bytes, and more: .......\n", f);
  fclose(f);
  assert_int_equal(cbrl_store_open_read(path, &db, err, sizeof err), CBRL_EIO);
  assert_non_null(strstr(err, "not a cbrl results store (not an SQLite database)"));
  /* An SQLite database that is not cbrl's. */
  snprintf(path, sizeof path, "%s/other.sqlite", dir);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(a)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(cbrl_store_open_read(path, &db, err, sizeof err), CBRL_EINVAL);
  assert_non_null(strstr(err, "without cbrl's runs table"));
  /* Missing. */
  snprintf(path, sizeof path, "%s/nothing/results.sqlite", dir);
  assert_int_equal(cbrl_store_open_read(path, &db, err, sizeof err), CBRL_EINVAL);
  assert_non_null(strstr(err, "no results store"));
  char args[512];
  snprintf(args, sizeof args, "table %s/text", dir);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "not an SQLite database"));
  assert_null(strstr(err_text, "\n\n"));
}

static void a_store_on_a_read_only_mount_is_read(void **state) {
  (void)state;
  const char *store = tiny_sweep("rosrc");
  char mnt[128], cmd[700], args[512];
  snprintf(mnt, sizeof mnt, "%s/ro", dir);
  mkdir(mnt, 0777);
  snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=1m tmpfs %s 2>/dev/null", mnt);
  if (system(cmd) != 0) skip(); /* needs the right to mount */
  snprintf(cmd, sizeof cmd, "mkdir %s/s && cp %s %s/s/ && mount -o remount,ro %s", mnt, store, mnt, mnt);
  assert_int_equal(system(cmd), 0);
  snprintf(args, sizeof args, "table %s/s", mnt);
  int t = run(args);
  snprintf(args, sizeof args, "export %s/s --csv %s/ro.csv", mnt, dir);
  int e = run(args);
  snprintf(args, sizeof args, "plot %s/s --out %s/rop --format svg", mnt, dir);
  int p = run(args);
  snprintf(cmd, sizeof cmd, "umount %s", mnt);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(t, 0);
  assert_int_equal(e, 0);
  assert_int_equal(p, 0);
  snprintf(args, sizeof args, "%s/ro.csv", dir);
  assert_true(file_exists(args));
}

static void output_over_the_store_is_refused(void **state) {
  (void)state;
  const char *store = tiny_sweep("guard");
  char *before, args[700], sym[300];
  char sdir[256];
  snprintf(sdir, sizeof sdir, "%s/guard", dir);
  before = dump(sdir);
  assert_non_null(before);
  snprintf(sym, sizeof sym, "%s/sym.csv", dir);
  assert_int_equal(symlink(store, sym), 0);
  char hard[300];
  snprintf(hard, sizeof hard, "%s/hard.csv", dir);
  assert_int_equal(link(store, hard), 0);
  const char *outs[] = {store, sym, hard, NULL, NULL};
  char wal[300], dotted[300];
  snprintf(wal, sizeof wal, "%s-wal", store);
  snprintf(dotted, sizeof dotted, "%s/guard/../guard/./results.sqlite-shm", dir);
  outs[3] = wal, outs[4] = dotted;
  for (int i = 0; i < 5; i++) {
    snprintf(args, sizeof args, "export %s --csv %s", sdir, outs[i]);
    if (run(args) != 2) fail_msg("%s: %s", args, err_text);
    if (!strstr(err_text, "refusing to write over it")) fail_msg("%s: '%s'", args, err_text);
  }
  char *after = dump(sdir);
  assert_string_equal(before, after);
  free(before);
  free(after);
  char err[512];
  assert_int_equal(cbrl_store_guard_output(store, "elsewhere.csv", err, sizeof err), 0);
}

/* Issue 13 class 8: a second writer is refused while the first holds the lock; a finished run
   is never rewritten, whoever writes. */
static void one_writer_and_nothing_finished_rewritten(void **state) {
  (void)state;
  const char *store = tiny_sweep("lock");
  char lock[300], args[700];
  snprintf(lock, sizeof lock, "%s/lock/.cbrl.lock", dir);
  int fd = open(lock, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0); /* as the first sweep would */
  char sdir[256];
  snprintf(sdir, sizeof sdir, "%s/lock", dir);
  char *before = dump(sdir);
  snprintf(args, sizeof args, "run %s/tiny.yaml --out %s --resume --quiet --set seeds=8", dir, sdir);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "another cbrl run is writing this store"));
  snprintf(args, sizeof args, "run %s/tiny.yaml --out %s --quiet", dir, sdir); /* without --resume too */
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "another cbrl run is writing this store"));
  char *after = dump(sdir);
  assert_string_equal(before, after);
  free(after);
  close(fd);
  /* Released: the resume proceeds. */
  snprintf(args, sizeof args, "run %s/tiny.yaml --out %s --resume --quiet --set seeds=8", dir, sdir);
  assert_int_equal(run(args), 0);
  free(before);
  /* The store refuses to turn a done run into an interrupted one (or to write it again). */
  cbrl_config c;
  char err[512];
  cbrl_config_default(&c);
  assert_int_equal(cbrl_config_set(&c, "env=random", err, sizeof err), 0);
  cbrl_run_spec *runs;
  int n;
  assert_int_equal(cbrl_config_runs(&c, &runs, &n), 0);
  cbrl_store s;
  assert_int_equal(cbrl_store_open(&s, store, 0, err, sizeof err), 0);
  for (int kind = 0; kind < 3; kind++) {
    cbrl_run_result res;
    memset(&res, 0, sizeof res);
    res.interrupted = kind == 0, res.failed = kind == 1;
    res.lambda = NAN, res.final_F = res.window_F = res.window_f_sampled = res.clip_active = NAN;
    assert_int_equal(cbrl_store_write(&s, &c, &runs[0], &res, err, sizeof err), CBRL_EINVAL);
    assert_non_null(strstr(err, "run 0 is already stored as done: refusing to rewrite a finished run"));
  }
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(s.db, "SELECT status, (SELECT count(*) FROM metrics WHERE run_id = 0) FROM runs"
                                            " WHERE id = 0", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "done");
  assert_true(sqlite3_column_int(st, 1) > 0);
  sqlite3_finalize(st);
  cbrl_store_close(&s);
  free(runs);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_disk_and_read_only_filesystem_give_clear_errors),
      cmocka_unit_test(tax_runs_record_the_economy),
      cmocka_unit_test(a_store_of_the_old_schema_is_read_and_migrated),
      cmocka_unit_test(x_is_kept_per_stored_iteration_and_read_back),
      cmocka_unit_test(a_table_has_one_row_per_lambda_and_only_the_sweeps_axes),
      cmocka_unit_test(a_damaged_store_fails_every_reader_with_exit_1),
      cmocka_unit_test(what_is_wrong_with_a_store_is_said),
      cmocka_unit_test(a_store_on_a_read_only_mount_is_read),
      cmocka_unit_test(output_over_the_store_is_refused),
      cmocka_unit_test(one_writer_and_nothing_finished_rewritten),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
