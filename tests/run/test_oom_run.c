/* Out-of-memory injection into libcbrl_run's own allocations (issue 13): this program compiles
   the run/ sources in and is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so
   every allocation of run/ and of libcbrl (static) passes through the counters below; libyaml's
   and SQLite's own (shared libraries) do not. A problem-file load and a small sweep each run
   once counting, then once per allocation with that one failing: the load must return
   CBRL_ENOMEM with a message, the sweep CBRL_ENOMEM or a failed run whose error says "out of
   memory", and nothing may leak (ASan/LSan under `make oom`). */
#include "test_util.h"

#include <execinfo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbrl/run/config.h"
#include "cbrl/run/problem_file.h"
#include "cbrl/run/sweep.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long alloc_count, fail_at;
static int failed, armed;

static int should_fail(void) {
  if (!armed) return 0;
  if (++alloc_count == fail_at) {
    if (getenv("CBRL_OOM_TRACE")) { /* where the failing allocation is, for debugging */
      void *frames[16];
      backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
    }
    return failed = 1;
  }
  return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

static char msg[2048];

static int load(void) {
  cbrl_problem *p = NULL;
  msg[0] = 0;
  int err = cbrl_tabular_load(&p, CBRL_SOURCE_DIR "/examples/chain.yaml", msg, sizeof msg);
  cbrl_problem_free(p);
  if (err && !msg[0]) fail_msg("load: error %s without a message", cbrl_err_name(err));
  return err;
}

/* A load whose contexts are templates over theta (docs/PROBLEM_FILES.md), with its info. */
static int load_theta(void) {
  cbrl_problem *p = NULL;
  cbrl_tabular_info info;
  msg[0] = 0;
  int err = cbrl_tabular_load_info(&p, &info, CBRL_SOURCE_DIR "/examples/contract_lognormal.yaml", msg, sizeof msg);
  cbrl_problem_free(p);
  cbrl_tabular_info_free(&info);
  if (err && !msg[0]) fail_msg("load: error %s without a message", cbrl_err_name(err));
  return err;
}

static int small_sweep(void) {
  static const char config[] = "env: file\nproblem: " CBRL_SOURCE_DIR "/examples/chain.yaml\n"
                               "algorithm: [exact, hpgd-batch]\nlearning_rate: 0.1\nseeds: 1\niterations: 3\n"
                               "hpgd_steps: 50\nmetrics_every: 1\nfinal_window: 2\n";
  char dir[128], path[160], cmd[200];
  snprintf(dir, sizeof dir, "/tmp/cbrl_oom_run_%d", (int)getpid());
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  int armed_before = armed;
  armed = 0;
  if (system(cmd)) return CBRL_EIO;
  snprintf(path, sizeof path, "%s.yaml", dir);
  FILE *f = fopen(path, "w");
  if (!f) return CBRL_EIO;
  fputs(config, f);
  fclose(f);
  armed = armed_before;
  cbrl_config c;
  cbrl_config_default(&c);
  msg[0] = 0;
  int err = cbrl_config_load(&c, path, msg, sizeof msg);
  static char canonical[65536];
  if (!err && cbrl_config_canonical(&c, canonical, sizeof canonical) < 0) err = CBRL_EINVAL;
  cbrl_sweep_progress out;
  memset(&out, 0, sizeof out);
  cbrl_sweep_opts o = {dir, 1, 0, 0, canonical, NULL, NULL, NULL, NULL, -1, NULL};
  if (!err) err = cbrl_sweep_run(&c, &o, &out, msg, sizeof msg);
  if (!err && out.n_failed) err = CBRL_ENOMEM; /* a run that failed: its stored error is checked below */
  armed = 0;
  remove(path);
  system(cmd);
  armed = armed_before;
  return err;
}

/* Runs f failing each of its allocations in turn; returns how many were swept. */
static long sweep_allocations(int (*f)(void), const char *what) {
  armed = 1, alloc_count = 0, fail_at = 0, failed = 0;
  int rc = f();
  if (rc) fail_msg("%s fails without injection: %s (%s)", what, cbrl_strerror(rc), msg);
  long bad = 0, total = alloc_count, only = getenv("CBRL_OOM_AT") ? atol(getenv("CBRL_OOM_AT")) : 0;
  for (long n = only ? only : 1; n <= (only ? only : total); n++) {
    alloc_count = 0, fail_at = n, failed = 0;
    rc = f();
    if (failed && rc != CBRL_ENOMEM)
      bad++, print_message("%s: allocation %ld of %ld failed but the call returned %s (%s)\n", what, n, total,
                           rc ? cbrl_err_name(rc) : "success", msg);
    if (!failed && rc) bad++, print_message("%s: allocation %ld not reached, yet %s\n", what, n, cbrl_strerror(rc));
  }
  armed = 0;
  if (bad) fail_msg("%s: %ld of %ld allocations not reported as CBRL_ENOMEM", what, bad, total);
  print_message("%s: %ld allocations, each failed in turn: CBRL_ENOMEM every time\n", what, total);
  return total;
}

static void a_problem_file_load_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  assert_true(sweep_allocations(load, "problem-file load") > 5);
}

static void a_theta_problem_file_load_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  assert_true(sweep_allocations(load_theta, "theta problem-file load") > 5);
}

static void a_small_sweep_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  assert_true(sweep_allocations(small_sweep, "small sweep") > 5);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_problem_file_load_fails_cleanly_at_every_allocation),
      cmocka_unit_test(a_theta_problem_file_load_fails_cleanly_at_every_allocation),
      cmocka_unit_test(a_small_sweep_fails_cleanly_at_every_allocation),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
