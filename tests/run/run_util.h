/* Shared by the run/ tests that drive the cbrl executable: a temporary directory, running
   the CLI with its stderr captured, config files, and the small Four-Rooms sweep. */
#ifndef CBRL_TEST_RUN_UTIL_H
#define CBRL_TEST_RUN_UTIL_H

#include "test_util.h"

#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_dump.h"

static char dir[64] __attribute__((unused)), err_text[1 << 16] __attribute__((unused));

/* Reads a file of fewer than cap bytes into a calloc'd string (NULL if it cannot be opened). */
static inline char *slurp_capped(const char *path, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, cap);
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static inline int make_dir(void **state) {
  strcpy(dir, "/tmp/cbrl_runner_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static inline int remove_dir(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static inline int run(const char *args) {
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

static inline const char *write_config(const char *name, const char *text) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

/* A small sweep: 2 algorithms x 2 learning rates x 3 seeds, 40 iterations. */
static const char small[] __attribute__((unused)) =
    "env: four-rooms\nlambda: 0.005\nbeta: 2\nalgorithm: [hpgd-batch, zero-order]\n"
    "learning_rate: [0.5, 0.1]\nzero_order_c: 0.5\nseeds: 3\niterations: 40\nfinal_window: 10\n"
    "metrics_every: 5\nhpgd_steps: 2000\nhpgd_streams: 2\n";

static inline int file_starts_with(const char *path, const char *magic, size_t n, long *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char buf[16] = {0};
  size_t got = fread(buf, 1, n, f);
  fseek(f, 0, SEEK_END);
  *size = ftell(f);
  fclose(f);
  return got == n && memcmp(buf, magic, n) == 0;
}

/* Runs `cbrl run CFG --out DIR/OUT --quiet`, which must succeed, and opens its store read-only. */
static inline sqlite3 *run_and_open(const char *cfg, const char *out) {
  char args[512], path[256];
  snprintf(args, sizeof args, "run %s --out %s/%s --quiet", cfg, dir, out);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/%s/results.sqlite", dir, out);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  return db;
}

#endif /* CBRL_TEST_RUN_UTIL_H */
