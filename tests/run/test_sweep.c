/* Tests for tools/config.c, tools/store.c, tools/runner.c and the run/table/export commands:
   config errors stop before anything is written, results do not depend on the thread count,
   and a sweep killed with SIGKILL and resumed equals an uninterrupted one. */
#include "test_util.h"

#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_dump.h"
#include "cbrl/run/tensorboard.h"

static char dir[64], err_text[4096];

static int make_dir(void **state) {
  strcpy(dir, "/tmp/cbrl_runner_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int run(const char *args) {
  char cmd[4096], errp[128];
  snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
  snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>%s </dev/null", CBRL_CLI, args, errp);
  int status = system(cmd);
  FILE *f = fopen(errp, "r");
  size_t n = f ? fread(err_text, 1, sizeof err_text - 1, f) : 0;
  err_text[n] = 0;
  if (f) fclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *write_config(const char *name, const char *text) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

/* A small sweep: 2 algorithms x 2 learning rates x 3 seeds, 40 iterations. */
static const char small[] =
    "env: four-rooms\nlambda: 0.005\nbeta: 2\nalgorithm: [hpgd-batch, zero-order]\n"
    "learning_rate: [0.5, 0.1]\nzero_order_c: 0.5\nseeds: 3\niterations: 40\nfinal_window: 10\n"
    "metrics_every: 5\nhpgd_steps: 2000\nhpgd_streams: 2\n";

static void results_do_not_depend_on_the_thread_count(void **state) {
  const char *cfg = write_config("small.yaml", small);
  char args[512];
  snprintf(args, sizeof args, "run %s --out %s/t1 --threads 1 --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "run %s --out %s/t2 --threads 2 --plot", cfg, dir);
  assert_int_equal(run(args), 0);
  /* Not a terminal: plain progress lines of the documented form, the last one complete. */
  assert_non_null(strstr(err_text, "cbrl run: 12 runs in the grid, 0 already finished, 12 to go\n"));
  const char *last = strstr(err_text, "cbrl run: 12/12 runs done (0 failed), ");
  assert_non_null(last);
  double rate, eta, best;
  assert_int_equal(sscanf(last, "cbrl run: 12/12 runs done (0 failed), %lf iterations/s, ETA %lf s, best F %lf", &rate,
                          &eta, &best),
                   3);
  assert_true(rate > 0 && eta == 0 && best > -1 && best < 2);
  assert_non_null(strstr(err_text, "figures written to"));
  char p1[128], p2[128];
  snprintf(p1, sizeof p1, "%s/t1", dir);
  snprintf(p2, sizeof p2, "%s/t2", dir);
  char *a = dump(p1), *b = dump(p2);
  assert_non_null(a);
  assert_non_null(b);
  assert_true(strlen(a) > 1000);
  assert_string_equal(a, b);
  free(a);
  free(b);
  assert_int_equal(count_runs(p1), 2 * 2 * 3);
  /* The table and the CSV come out of the store. */
  snprintf(args, sizeof args, "table %s/t1", dir);
  assert_int_equal(run(args), 0);
  char md[256];
  snprintf(md, sizeof md, "%s/t1/table.md", dir);
  struct stat st;
  assert_int_equal(stat(md, &st), 0);
  snprintf(args, sizeof args, "export %s/t1 --csv %s/t1.csv", dir, dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "rows written"));
  /* Running again into the same store without --resume is refused; with it, nothing to do. */
  snprintf(args, sizeof args, "run %s --out %s/t1 --quiet", cfg, dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "already holds a sweep: add --resume"));
  snprintf(args, sizeof args, "run %s --out %s/t1 --resume --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "run %s --out %s/t1 --resume --quiet --set iterations=41", cfg, dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "--resume refused: the config differs"));
}

static int file_starts_with(const char *path, const char *magic, size_t n, long *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char buf[16] = {0};
  size_t got = fread(buf, 1, n, f);
  fseek(f, 0, SEEK_END);
  *size = ftell(f);
  fclose(f);
  return got == n && memcmp(buf, magic, n) == 0;
}

static void plots_are_written_and_the_map_marks_the_right_cells(void **state) {
  const char *cfg = write_config("plot.yaml", small);
  char args[512], path[256];
  snprintf(args, sizeof args, "run %s --out %s/p --threads 2 --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "plot %s/p --format both --smooth 2", dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "4 figures written"));
  long size;
  snprintf(path, sizeof path, "%s/p/plots/curves_lambda0.005_beta2.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/p/plots/penalty_map_lambda0.005_beta2.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/p/plots/curves_lambda0.005_beta2.svg", dir);
  assert_true(file_starts_with(path, "<?xml", 5, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/p/plots/penalty_map_lambda0.005_beta2.svg", dir);
  assert_true(file_starts_with(path, "<?xml", 5, &size) && size > 5000);
  /* The text dump of every panel: the grid against the map, the paths against start and goals. */
  snprintf(path, sizeof path, "%s/p/plots/penalty_maps.txt", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[4096];
  int grids = 0, paths = 0;
  while (fgets(line, sizeof line, f)) {
    if (strstr(line, "cells:")) {
      for (int row = 0; row < 13; row++) {
        assert_non_null(fgets(line, sizeof line, f));
        for (int col = 0; col < 13; col++) {
          int cell = cbrl_four_rooms_cell(row, col);
          char want = cell < 0 ? '#' : cell == cbrl_four_rooms_start() ? 'S' : cell == cbrl_four_rooms_goal(0) ? 'A'
                    : cell == cbrl_four_rooms_goal(1) ? 'B' : cell == cbrl_four_rooms_target() ? 'T' : '.';
          if (line[col] != want) fail_msg("row %d col %d: '%c', expected '%c'", row, col, line[col], want);
        }
      }
      assert_non_null(fgets(line, sizeof line, f));
      assert_true(strncmp(line, "penalties ", 10) == 0);
      grids++;
    } else if (strstr(line, "path:")) {
      int goal = strstr(line, "goal G1") ? 0 : 1, first, last = -1, v, off;
      char *q = strstr(line, "path:") + 5;
      assert_int_equal(sscanf(q, "%d%n", &first, &off), 1);
      assert_int_equal(first, cbrl_four_rooms_start());
      for (q += off; sscanf(q, "%d%n", &v, &off) == 1; q += off) last = v;
      /* A path ends at its goal, unless the follower loops (which the dump then shows). */
      if (last != cbrl_four_rooms_goal(goal)) print_message("path to G%d stops at %d\n", goal + 1, last);
      paths++;
    }
  }
  fclose(f);
  assert_int_equal(grids, 2);  /* one panel per algorithm */
  assert_int_equal(paths, 4);  /* two goals per panel */
  snprintf(args, sizeof args, "plot %s/p --format gif", dir);
  assert_int_equal(run(args), 2);
  /* --only: one algorithm, one panel; an algorithm the store lacks is an error. */
  snprintf(args, sizeof args, "plot %s/p --format png --only zero-order --out %s/p/only", dir, dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/p/only/penalty_maps.txt", dir);
  f = fopen(path, "r");
  assert_non_null(f);
  grids = 0;
  while (fgets(line, sizeof line, f)) {
    if (strstr(line, "cells:")) {
      assert_non_null(strstr(line, "panel zero-order"));
      grids++;
    }
  }
  fclose(f);
  assert_int_equal(grids, 1);
  snprintf(args, sizeof args, "plot %s/p --only exact", dir);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "--only exact: no finished runs"));
}

static uint64_t get_le(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get_varint(const unsigned char **p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    unsigned char b = *(*p)++;
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
}

static void tensorboard_export_reads_back(void **state) {
  /* The CRC32C check value of the standard "123456789". */
  assert_int_equal(cbrl_crc32c("123456789", 9), 0xE3069283u);
  const char *cfg = write_config("tb.yaml", small);
  char args[512], path[512];
  snprintf(args, sizeof args, "run %s --out %s/tb --threads 2 --quiet --set seeds=1", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "export %s/tb --tensorboard %s/tblog", dir, dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "4 runs written"));
  /* Read run 0's event file back, checking both CRCs of every record. */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s/tblog/run0000_*/events.out.tfevents.* > %s/tbfile.txt", dir, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof path, "%s/tbfile.txt", dir);
  FILE *lf = fopen(path, "r");
  char file[512];
  assert_non_null(fgets(file, sizeof file, lf));
  fclose(lf);
  file[strcspn(file, "\n")] = 0;
  FILE *f = fopen(file, "rb");
  assert_non_null(f);
  unsigned char head[12], data[512], tail[4];
  int records = 0, scalars = 0;
  sqlite3 *db;
  snprintf(path, sizeof path, "%s/tb/results.sqlite", dir);
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  while (fread(head, 1, 12, f) == 12) {
    uint64_t len = get_le(head, 8);
    assert_int_equal(get_le(head + 8, 4), cbrl_crc32c_masked(head, 8));
    assert_true(len < sizeof data);
    assert_int_equal(fread(data, 1, len, f), len);
    assert_int_equal(fread(tail, 1, 4, f), 4);
    assert_int_equal(get_le(tail, 4), cbrl_crc32c_masked(data, len));
    const unsigned char *p = data + 9; /* wall_time */
    assert_int_equal(data[0], 0x09);
    if (records++ == 0) {
      assert_int_equal(*p++, 0x1a);
      uint64_t n = get_varint(&p);
      assert_true(n == 13 && memcmp(p, "brain.Event:2", 13) == 0);
      continue;
    }
    assert_int_equal(*p++, 0x10);
    int64_t step = (int64_t)get_varint(&p);
    assert_int_equal(*p++, 0x2a);
    get_varint(&p);
    assert_int_equal(*p++, 0x0a);
    get_varint(&p);
    assert_int_equal(*p++, 0x0a);
    uint64_t tl = get_varint(&p);
    char tag[64];
    memcpy(tag, p, tl);
    tag[tl] = 0;
    p += tl;
    assert_int_equal(*p++, 0x15);
    uint32_t bits = (uint32_t)get_le(p, 4);
    float value;
    memcpy(&value, &bits, 4);
    /* The value is the store's, as a float. */
    char q[200];
    const char *column = !strcmp(tag, "F") ? "F" : !strcmp(tag, "grad_norm") ? "grad_norm" : "f_context";
    snprintf(q, sizeof q, "SELECT %s FROM metrics WHERE run_id = 0 AND iteration = %lld", column, (long long)step);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(value == (float)sqlite3_column_double(st, 0));
    sqlite3_finalize(st);
    scalars++;
  }
  fclose(f);
  sqlite3_close(db);
  assert_true(scalars > 20);
  print_message("tensorboard: %d records read back\n", records);
}

static void killed_or_stopped_then_resumed_equals_uninterrupted(void **state) {
  if (test_quick()) skip();
  const char *cfg = write_config("kill.yaml",
                                 "env: four-rooms\nlambda: 0.005\nalgorithm: hpgd-batch\nlearning_rate: [0.5, 0.1]\n"
                                 "seeds: 4\niterations: 150\nfinal_window: 20\nhpgd_steps: 4000\n");
  char whole[128], killed[128], args[512];
  snprintf(whole, sizeof whole, "%s/whole", dir);
  snprintf(killed, sizeof killed, "%s/killed", dir);
  snprintf(args, sizeof args, "run %s --out %s --threads 1 --quiet", cfg, whole);
  assert_int_equal(run(args), 0);
  int kills = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    pid_t pid = fork();
    if (pid == 0) {
      char out[160];
      snprintf(out, sizeof out, "%s", killed);
      execl(CBRL_CLI, "cbrl", "run", cfg, "--out", out, "--threads", "2", "--resume", "--quiet", (char *)NULL);
      _exit(127);
    }
    /* Let some runs finish, then SIGKILL mid-sweep. */
    int target = 2 + 2 * attempt, n = 0;
    for (int i = 0; i < 400 && n < target; i++) {
      usleep(20000);
      n = count_runs(killed);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) kills++;
  }
  assert_true(kills >= 1);
  snprintf(args, sizeof args, "run %s --out %s --threads 2 --resume --quiet", cfg, killed);
  assert_int_equal(run(args), 0);
  char *a = dump(whole), *b = dump(killed);
  assert_string_equal(a, b);
  free(b);
  /* SIGTERM stops gracefully: exit status 128 + 15, runs in flight stored as interrupted,
     and --resume completes the same store. */
  char term[128];
  snprintf(term, sizeof term, "%s/term", dir);
  pid_t pid = fork();
  if (pid == 0) {
    execl(CBRL_CLI, "cbrl", "run", cfg, "--out", term, "--threads", "2", "--quiet", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 400 && count_runs(term) < 2; i++) usleep(20000);
  kill(pid, SIGTERM);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 128 + SIGTERM);
  char path[256];
  snprintf(path, sizeof path, "%s/results.sqlite", term);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM runs WHERE status NOT IN ('done', 'interrupted')", -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  snprintf(args, sizeof args, "run %s --out %s --threads 1 --resume --quiet", cfg, term);
  assert_int_equal(run(args), 0);
  b = dump(term);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

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

static void twenty_kill_points(void **state) {
  if (test_quick()) skip();
  /* 48 runs; metrics every iteration, so a finished run has exactly 400 rows. The sweep must
     outlast the 20 kill points (20 to 220 ms each) on a quiet machine too: about 5 s. */
  const char *cfg = write_config("kill20.yaml",
                                 "env: four-rooms\nlambda: 0.005\nalgorithm: [hpgd-batch, exact]\n"
                                 "learning_rate: [0.5, 0.1, 0.05]\nseeds: 8\niterations: 400\nfinal_window: 400\n"
                                 "metrics_every: 1\nhpgd_steps: 2000\nhpgd_streams: 2\n");
  char whole[128], killed[128], args[512];
  snprintf(whole, sizeof whole, "%s/whole20", dir);
  snprintf(killed, sizeof killed, "%s/killed20", dir);
  snprintf(args, sizeof args, "run %s --out %s --threads 2 --quiet", cfg, whole);
  assert_int_equal(run(args), 0);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2024, 0);
  int kills = 0;
  for (int attempt = 0; attempt < 20; attempt++) {
    pid_t pid = fork();
    if (pid == 0) {
      execl(CBRL_CLI, "cbrl", "run", cfg, "--out", killed, "--threads", "2", "--resume", "--quiet", (char *)NULL);
      _exit(127);
    }
    usleep((useconds_t)(20000 + cbrl_rng_below(&rng, 200000))); /* 20 to 220 ms: anywhere */
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    kills += WIFSIGNALED(status);
    struct stat st;
    char store[256];
    snprintf(store, sizeof store, "%s/results.sqlite", killed);
    if (stat(store, &st) == 0) check_store_consistent(killed, 400);
  }
  print_message("%d of 20 kill points hit a running sweep\n", kills);
  assert_true(kills >= 15);
  snprintf(args, sizeof args, "run %s --out %s --threads 2 --resume --quiet", cfg, killed);
  assert_int_equal(run(args), 0);
  check_store_consistent(killed, 400);
  char *a = dump(whole), *b = dump(killed);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

/* Runs `cbrl run CFG --out DIR/OUT --quiet`, which must succeed, and opens its store read-only. */
static sqlite3 *run_and_open(const char *cfg, const char *out) {
  char args[512], path[256];
  snprintf(args, sizeof args, "run %s --out %s/%s --quiet", cfg, dir, out);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/%s/results.sqlite", dir, out);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  return db;
}

static void rtq_runs_record_levels_and_follower_samples(void **state) {
  const char *cfg = write_config("rtq.yaml",
                                 "env: four-rooms\nlambda: 0.005\nalgorithm: [hpgd-rtq, hpgd-batch]\nfollower: soft-q\n"
                                 "follower_iterations: 64\nrtq_levels: 5\nseeds: 1\niterations: 25\nfinal_window: 5\n"
                                 "metrics_every: 1\nhpgd_steps: 1000\nhpgd_streams: 2\n");
  sqlite3 *db = run_and_open(cfg, "rtq");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT r.algorithm, m.iteration, m.level, m.follower_samples, m.follower_samples_total,"
                                      " m.env_steps_total FROM metrics m JOIN runs r ON r.id = m.run_id"
                                      " ORDER BY m.run_id, m.iteration", -1, &st, NULL),
                   SQLITE_OK);
  int64_t total = 0, steps = 0;
  int rows = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *alg = (const char *)sqlite3_column_text(st, 0);
    int it = sqlite3_column_int(st, 1), level = sqlite3_column_int(st, 2);
    int64_t fs = sqlite3_column_int64(st, 3);
    if (it == 1) total = steps = 0;
    total += fs;
    if (!strcmp(alg, "hpgd-rtq")) {
      assert_true(level >= 1 && level <= 5);
      assert_int_equal(fs, ((int64_t)1 << level) * 416); /* 2^k x 104 states x 4 actions */
      steps += 3000;                                    /* three inner batch estimates */
    } else {
      assert_int_equal(fs, 64 * 416);
      steps += 1000;
    }
    assert_int_equal(sqlite3_column_int64(st, 4), total);
    assert_int_equal(sqlite3_column_int64(st, 5), steps);
    rows++;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  assert_int_equal(rows, 50);
}

static void tax_runs_record_the_economy(void **state) {
  const char *cfg = write_config("tax.yaml",
                                 "env: tax-design\ntax_bins: 20\nlambda: 0.2\nalgorithm: zero-order\n"
                                 "learning_rate: 0.01\nzero_order_c: 50\nseeds: 1\niterations: 12\nfinal_window: 4\n"
                                 "metrics_every: 4\n");
  sqlite3 *db = run_and_open(cfg, "tax");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT iteration, income_tax, vat1, household_spread, revenue FROM metrics"
                                          " ORDER BY iteration", -1, &st, NULL), SQLITE_OK);
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
  snprintf(path, sizeof path, "%s/tax/plots/tax_rates_lambda0.2_beta1.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/tax/plots/households_lambda0.2_beta1.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
}

/* The continuous-assets simulator runs under cbrl run beside the tabular one, and is stored as such. */
static void tax_runs_in_the_continuous_simulator(void **state) {
  const char *cfg = write_config("tax_cont.yaml",
                                 "env: tax-design\ntax_bins: 20\nlambda: 0.2\nalgorithm: hpgd-batch\n"
                                 "simulator: [consistent, continuous]\nlearning_rate: 0.01\nseeds: 1\n"
                                 "iterations: 6\nfinal_window: 2\nmetrics_every: 2\nhpgd_steps: 2000\nhpgd_streams: 10\n");
  sqlite3 *db = run_and_open(cfg, "tax_cont");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT simulator, status, x FROM runs ORDER BY id", -1, &st, NULL), SQLITE_OK);
  const char *names[2] = {"consistent", "continuous"};
  char x[2][512];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), names[i]);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "done");
    snprintf(x[i], sizeof x[i], "%s", (const char *)sqlite3_column_text(st, 2));
  }
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  assert_string_not_equal(x[0], x[1]); /* the two simulators drew different trajectories */
  sqlite3_finalize(st);
  sqlite3_close(db);
}

typedef struct bad_config {
  const char *text; /* config file (NULL: the small one) */
  const char *set;  /* extra --set, or NULL */
  const char *message;
} bad_config;

static const bad_config bad[] = {
    {"env: four-rooms\ncolour: red\n", NULL, "colour: unknown field"},
    {"env: mars\n", NULL, ":1: env: unknown environment 'mars'"},
    {"algorithm: [hpgd-batch, sgd]\n", NULL, ":1: algorithm: unknown algorithm 'sgd'"},
    {"algorithm: [amd, amd]\n", NULL, "algorithm: 'amd' is listed twice"},
    {"learning_rate: -0.1\n", NULL, ":1: learning_rate: -0.1 is out of range (0, 1e+06]"},
    {"learning_rate: []\n", NULL, ":1: learning_rate: the list is empty"},
    {"lambda: 0\n", NULL, "lambda: 0 is out of range (0"},
    {"lambda: .nan\n", NULL, "lambda: expected a number, got '.nan'"},
    {"lambda: nan\n", NULL, "lambda: 'nan' is not a finite number"},
    {"iterations: 0\n", NULL, "iterations: 0 is out of range"},
    {"iterations: ten\n", NULL, "iterations: expected an integer, got 'ten'"},
    {"seeds: 0\n", NULL, "seeds: 0 is out of range"},
    {"seeds: [1, 1]\n", NULL, "seeds: seed 1 is listed twice"},
    {"simulator: quantum\n", NULL, "simulator: unknown simulator 'quantum'"},
    {"optimizer: rmsprop\n", NULL, "optimizer: expected sgd or adam"},
    {"iterations: 100\nfinal_window: 200\n", NULL, "final_window: 200 exceeds iterations (100)"},
    {"env: random\nbeta: 3\n", NULL, "beta: applies to env four-rooms only"},
    {"env: file\n", NULL, "problem: env file needs a problem file"},
    {"env: file\nproblem: /nonexistent.yaml\n", NULL, "/nonexistent.yaml: cannot open"},
    {"env: random\nalgorithm: amd\n", NULL, "amd cannot handle this problem"},
    {"iterations: 10\niterations: 20\n", NULL, "iterations: field given twice"},
    {"- a\n- b\n", NULL, "top level: expected a mapping"},
    {"", NULL, "empty file"},
    {"a: &x 1\nb: *x\n", NULL, "YAML aliases are not allowed"},
    {"follower: clever\n", NULL, ":1: follower: expected exact or soft-q"},
    {"rtq_levels: 31\n", NULL, ":1: rtq_levels: 31 is out of range"},
    {"follower_iterations: 0\n", NULL, ":1: follower_iterations: 0 is out of range"},
    {NULL, "iterations=-5", "--set iterations: iterations: -5 is out of range"},
    {NULL, "colour=red", "--set colour: unknown field"},
    {NULL, "learning_rate", "--set learning_rate: expected key=value"},
    {NULL, "learning_rate=[0.1, x]", "learning_rate: expected a number, got 'x'"},
};

static void config_errors_stop_before_anything_is_written(void **state) {
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *cfg = write_config("bad.yaml", bad[i].text ? bad[i].text : small);
    char out[128], args[1024];
    snprintf(out, sizeof out, "%s/never", dir);
    if (bad[i].set)
      snprintf(args, sizeof args, "run %s --out %s --set '%s'", cfg, out, bad[i].set);
    else
      snprintf(args, sizeof args, "run %s --out %s", cfg, out);
    int status = run(args);
    if (status != 2) fail_msg("case %zu: status %d, expected 2 (%s)", i, status, err_text);
    if (!strstr(err_text, bad[i].message)) fail_msg("case %zu: '%s' lacks '%s'", i, err_text, bad[i].message);
    char *nl = strchr(err_text, '\n');
    if (!nl || nl[1]) fail_msg("case %zu: not one line: '%s'", i, err_text);
    struct stat st;
    if (stat(out, &st) == 0) fail_msg("case %zu: %s was created", i, out);
  }
  print_message("%zu config errors rejected\n", sizeof bad / sizeof bad[0]);
  assert_int_equal(run("run"), 2);
  assert_int_equal(run("table /nonexistent"), 2);
  assert_non_null(strstr(err_text, "no results store"));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(results_do_not_depend_on_the_thread_count),
      cmocka_unit_test(killed_or_stopped_then_resumed_equals_uninterrupted),
      cmocka_unit_test(plots_are_written_and_the_map_marks_the_right_cells),
      cmocka_unit_test(tensorboard_export_reads_back),
      cmocka_unit_test(full_disk_and_read_only_filesystem_give_clear_errors),
      cmocka_unit_test(twenty_kill_points),
      cmocka_unit_test(rtq_runs_record_levels_and_follower_samples),
      cmocka_unit_test(tax_runs_record_the_economy),
      cmocka_unit_test(tax_runs_in_the_continuous_simulator),
      cmocka_unit_test(config_errors_stop_before_anything_is_written),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
