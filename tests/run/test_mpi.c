/* Tests for tools/mpi_sweep.c (MPI builds): a 3-rank sweep on loopback equals the
   single-process store, and a worker rank killed mid-sweep leaves a store that --resume
   completes to the same content. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_dump.h"

static char dir[64];

static const char config[] =
    "env: four-rooms\nlambda: 0.005\nbeta: 2\nalgorithm: [hpgd-batch, zero-order]\nlearning_rate: [0.5, 0.1]\n"
    "zero_order_c: 0.5\nseeds: 4\nmetrics_every: 1\nhpgd_steps: 2000\nhpgd_streams: 2\n";

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  return system(cmd);
}

static void three_ranks_equal_one_process_and_survive_a_dead_rank(void **state) {
  strcpy(dir, "/tmp/cbrl_mpi_XXXXXX");
  assert_non_null(mkdtemp(dir));
  char cfg[128], serial[128], ranks[128], killed[128], cmd[1024];
  snprintf(cfg, sizeof cfg, "%s/c.yaml", dir);
  FILE *f = fopen(cfg, "w");
  fputs(config, f);
  fputs("iterations: 60\nfinal_window: 60\n", f);
  fclose(f);
  snprintf(serial, sizeof serial, "%s/serial", dir);
  snprintf(ranks, sizeof ranks, "%s/ranks", dir);
  snprintf(killed, sizeof killed, "%s/killed", dir);
  snprintf(cmd, sizeof cmd, "'%s' run %s --out %s --threads 1 --quiet", CBRL_CLI, cfg, serial);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s --allow-run-as-root --oversubscribe -np 3 '%s' run %s --out %s --threads 2 --quiet",
           CBRL_MPIEXEC, CBRL_CLI, cfg, ranks);
  assert_int_equal(system(cmd), 0);
  char *a = dump(serial), *b = dump(ranks);
  assert_true(strlen(a) > 10000);
  assert_string_equal(a, b);
  free(b);
  free(a);
  /* A longer sweep, and the last-started rank killed once a few runs are stored. */
  f = fopen(cfg, "w");
  fputs(config, f);
  fputs("iterations: 400\nfinal_window: 400\n", f);
  fclose(f);
  snprintf(serial, sizeof serial, "%s/serial400", dir);
  snprintf(cmd, sizeof cmd, "'%s' run %s --out %s --threads 2 --quiet", CBRL_CLI, cfg, serial);
  assert_int_equal(system(cmd), 0);
  a = dump(serial);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "exec \"$0\" --allow-run-as-root --oversubscribe -np 3 \"$1\" run \"$2\" --out \"$3\" --threads 1 --quiet",
          CBRL_MPIEXEC, CBRL_CLI, cfg, killed, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500 && count_runs(killed) < 3; i++) usleep(10000);
  /* [c]brl: the regex matches the ranks but not the shell that runs pkill. */
  snprintf(cmd, sizeof cmd, "pkill -9 -n -f -- '[c]brl run .* --out %s --threads 1'", killed);
  int killed_one = system(cmd) == 0;
  int status;
  waitpid(pid, &status, 0);
  print_message("worker killed: %s; mpirun exit %d\n", killed_one ? "yes" : "no (sweep had finished)",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  assert_true(killed_one);
  assert_true(!WIFEXITED(status) || WEXITSTATUS(status) != 0); /* mpirun reports the death */
  check_store_consistent(killed, 400);
  snprintf(cmd, sizeof cmd, "'%s' run %s --out %s --threads 2 --resume --quiet", CBRL_CLI, cfg, killed);
  assert_int_equal(system(cmd), 0);
  b = dump(killed);
  assert_string_equal(a, b);
  free(a);
  free(b);
  sh("rm -rf %s%s", dir, "");
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(three_ranks_equal_one_process_and_survive_a_dead_rank),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
