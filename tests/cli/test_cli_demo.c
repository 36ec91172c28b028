/* Tests for cli/cli_demo.c: its options reach the runs it stores, and every number of its
   summary is the store's (a quick run of few iterations, read back with SQLite). */
#include "cli_test.h"

#include <dirent.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state) {
  strcpy(dir, "/tmp/cbrl_demo_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* The final-window F of each done run of a store, by seed; returns the count. */
static int stored(const char *store, long *seeds, double *F, int max) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s/results.sqlite", dir, store);
  sqlite3 *db;
  sqlite3_stmt *st;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail_msg("%s: cannot open", path);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT seed, window_F FROM runs WHERE status = 'done' ORDER BY seed", -1,
                                      &st, NULL),
                   SQLITE_OK);
  int n = 0;
  while (n < max && sqlite3_step(st) == SQLITE_ROW) {
    seeds[n] = (long)sqlite3_column_int64(st, 0);
    F[n++] = sqlite3_column_double(st, 1);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

/* The summary's line for one seed of one line ("HPGD " or "exact"): its printed F. */
static double printed(const char *line, long seed) {
  char pat[64];
  snprintf(pat, sizeof pat, "  %s seed %-3ld F ", line, seed);
  const char *p = strstr(out, pat);
  if (!p) fail_msg("no line '%s' in: %s", pat, out);
  return strtod(p + strlen(pat), NULL);
}

static void summary_numbers_are_the_stores(void **state) {
  for (int sim = 0; sim < 2; sim++) {
    const char *name = sim ? "paper-code" : "consistent";
    char args[256];
    snprintf(args, sizeof args, "demo --iterations 40 --seeds 3 --seed 2 --simulator=%s --threads 2 --out d_%s", name,
             name);
    if (run(args)) fail_msg("%s: %s", args, err);
    long seeds[8];
    double F[8];
    char store[64];
    snprintf(store, sizeof store, "d_%s/hpgd", name);
    assert_int_equal(stored(store, seeds, F, 8), 3);
    int escaped = 0;
    for (int i = 0; i < 3; i++) {
      assert_int_equal(seeds[i], 2 + i); /* --seed 2, --seeds 3 */
      assert_close(printed("HPGD ", seeds[i]), F[i], 0, 5e-4);
      escaped += F[i] > 0.5;
    }
    char want[64];
    snprintf(want, sizeof want, "%d of 3 HPGD seeds escaped", escaped);
    assert_non_null(strstr(out, want));
    snprintf(store, sizeof store, "d_%s/exact", name);
    assert_int_equal(stored(store, seeds, F, 8), 2);
    for (int i = 0; i < 2; i++) assert_close(printed("exact", seeds[i]), F[i], 0, 5e-4);
    /* The options reached the stored config. */
    char path[256], text[8192];
    snprintf(path, sizeof path, "%s/d_%s/hpgd/config.yaml", dir, name);
    slurp(path, text, sizeof text);
    snprintf(want, sizeof want, "simulator: [%s]\n", name);
    if (!strstr(text, want)) fail_msg("config lacks %s: %s", want, text);
    assert_non_null(strstr(text, sim ? "learning_rate: [0.5]\n" : "learning_rate: [0.05]\n"));
    assert_non_null(strstr(text, "seeds: [2, 3, 4]\n"));
    assert_non_null(strstr(text, "lambda: [0.003]\nlearning_rate") || strstr(text, "lambda: [0.003]\n"));
    assert_non_null(strstr(text, "beta: [3]\n"));
    assert_non_null(strstr(text, "iterations: 40\n"));
    snprintf(want, sizeof want, "This run used %s.", name);
    assert_non_null(strstr(out, want));
    /* One learning-curve figure in the output directory. */
    snprintf(path, sizeof path, "%s/d_%s", dir, name);
    DIR *d = opendir(path);
    assert_non_null(d);
    int curves = 0;
    for (struct dirent *e; (e = readdir(d));) curves += !strncmp(e->d_name, "curves_", 7) && strstr(e->d_name, ".png");
    closedir(d);
    assert_int_equal(curves, 1);
  }
  /* The two simulators draw different trajectories, so HPGD ends elsewhere. */
  long s1[4], s2[4];
  double f1[4], f2[4];
  char a[64], b[64];
  snprintf(a, sizeof a, "d_consistent/hpgd");
  snprintf(b, sizeof b, "d_paper-code/hpgd");
  stored(a, s1, f1, 4);
  stored(b, s2, f2, 4);
  assert_true(f1[0] != f2[0]);
}

static void a_rerun_replaces_the_stores(void **state) {
  assert_int_equal(run("demo --iterations 20 --seeds 2 --out again"), 0);
  assert_int_equal(run("demo --iterations 20 --seeds 3 --out again"), 0);
  long seeds[8];
  double F[8];
  assert_int_equal(stored("again/hpgd", seeds, F, 8), 3);
}

static void help_names_every_option_and_the_time(void **state) {
  assert_int_equal(run("demo --help"), 0);
  static const char *const want[] = {"--seed S", "--seeds N", "--simulator", "--threads N", "--out DIR",
                                     "paper-code", "consistent", "0.73", "seconds with 2 threads"};
  for (int i = 0; i < 9; i++)
    if (!strstr(out, want[i])) fail_msg("demo --help lacks '%s'", want[i]);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(summary_numbers_are_the_stores),
      cmocka_unit_test(a_rerun_replaces_the_stores),
      cmocka_unit_test(help_names_every_option_and_the_time),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, setup, teardown);
}
