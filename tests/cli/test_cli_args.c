/* Tests for cli/cli_args.c, the one argument parser of every command: "--flag value" and
   "--flag=value", options anywhere, "did you mean" for unknown flags, `cbrl help COMMAND`,
   and the shared vocabulary of simulator names. */
#include "cli_test.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A two-seed exact-gradient sweep of 20 iterations, in dir/sweep. */
static int setup(void **state) {
  strcpy(dir, "/tmp/cbrl_args_XXXXXX");
  if (!mkdtemp(dir)) return -1;
  char path[128];
  snprintf(path, sizeof path, "%s/small.yaml", dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs("env: four-rooms\nlambda: 0.003\nbeta: 3\nalgorithm: exact\nlearning_rate: 0.5\nseeds: 2\n"
        "iterations: 20\nfinal_window: 5\nmetrics_every: 5\n", f);
  fclose(f);
  return run("run small.yaml --quiet --out sweep") == 0 ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void table_takes_its_options_anywhere(void **state) {
  /* Before: `table DIR --min-seeds 2` read --min-seeds as a directory. */
  assert_int_equal(run("table sweep --min-seeds 2"), 0);
  assert_non_null(strstr(out, "| 0.003 | 3 |"));
  assert_non_null(strstr(out, "n 2)"));
  assert_int_equal(run("table --min-seeds=2 sweep"), 0);
  assert_non_null(strstr(out, "n 2)"));
  /* Three seeds asked for, two stored: the cell is empty. */
  assert_int_equal(run("table sweep --min-seeds=3"), 0);
  assert_null(strstr(out, "n 2)"));
}

static void export_takes_equals_and_both_outputs(void **state) {
  assert_int_equal(run("export --csv=a.csv sweep"), 0);
  char path[160], csv[1 << 16];
  snprintf(path, sizeof path, "%s/a.csv", dir);
  slurp(path, csv, sizeof csv);
  assert_non_null(strstr(csv, "id,algorithm,env,simulator,lambda,beta"));
  /* Shortest round-trip numbers: the run's lambda is 0.003 in the CSV. */
  if (!strstr(csv, ",exact,four-rooms,consistent,0.003,3,0.5,")) fail_msg("CSV: %.300s", csv);
  assert_null(strstr(csv, "0.0030000000000000001"));
  assert_int_equal(run("export sweep --csv b.csv --tensorboard tb"), 0);
  struct stat st;
  snprintf(path, sizeof path, "%s/b.csv", dir);
  assert_int_equal(stat(path, &st), 0);
  snprintf(path, sizeof path, "%s/tb", dir);
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
}

static void the_stored_config_has_shortest_numbers(void **state) {
  char path[160], text[8192];
  snprintf(path, sizeof path, "%s/sweep/config.yaml", dir);
  slurp(path, text, sizeof text);
  if (!strstr(text, "lambda: [0.003]\n")) fail_msg("config.yaml: %s", text);
  assert_non_null(strstr(text, "init_std: 0.01\n"));
}

static void help_command_prints_that_commands_help(void **state) {
  static const char *const commands[] = {"hypergrad", "run", "table", "export", "plot", "demo"};
  for (int i = 0; i < 6; i++) {
    char args[64], want[64];
    snprintf(args, sizeof args, "help %s", commands[i]);
    assert_int_equal(run(args), 0);
    snprintf(want, sizeof want, "cbrl %s", commands[i]);
    if (!strstr(out, want) || strstr(out, "Usage: cbrl COMMAND")) fail_msg("'%s' printed: %.200s", args, out);
  }
  assert_int_equal(run("help"), 0);
  assert_non_null(strstr(out, "Usage: cbrl COMMAND"));
}

typedef struct bad_cli {
  const char *args;
  const char *message;
} bad_cli;

/* Every command: one line on stderr, status 2, nothing on stdout. */
static const bad_cli bad[] = {
    {"run small.yaml --out o --thread 2", "cbrl run: unknown option '--thread' (did you mean '--threads'?)"},
    {"run small.yaml --out o --resmue", "did you mean '--resume'?"},
    {"run small.yaml --out o --quiet=yes", "--quiet takes no value"},
    {"run small.yaml --out o --set lamda=0.1", "--set lamda: unknown field (did you mean 'lambda'?)"},
    {"table sweep --min-seed 2", "cbrl table: unknown option '--min-seed' (did you mean '--min-seeds'?)"},
    {"table sweep --min-seeds", "--min-seeds needs a value"},
    {"table", "give a sweep directory"},
    {"export sweep --cvs x.csv", "cbrl export: unknown option '--cvs' (did you mean '--csv'?)"},
    {"export sweep", "give --csv FILE, --tensorboard LOGDIR or both"},
    {"export sweep other --csv x.csv", "unexpected argument 'other'"},
    {"plot sweep --smoth 3", "cbrl plot: unknown option '--smoth' (did you mean '--smooth'?)"},
    {"hypergrad --env four-rooms --lamda 0.1", "cbrl hypergrad: unknown option '--lamda' (did you mean '--lambda'?)"},
    {"hypergrad --env four-rooms --zo_u 0.1", "did you mean '--zo-u'?"},
    {"hypergrad --env four-rooms --frobnicate", "unknown option '--frobnicate' (try 'cbrl hypergrad --help')"},
    {"hypergrad --env four-rooms --estimator hpgd-bach", "unknown estimator 'hpgd-bach' (did you mean 'hpgd-batch'?"},
    {"hypergrad --env four-rooms --estimator hpgd --simulator papercode", "did you mean 'paper-code'?"},
    {"hypergrad --env four-rooms --estimator hpgd --simulator continuous", "--simulator: continuous applies to --env tax-design only"},
    {"hypergrad --env tax-design --simulator continuous", "continuous applies to --estimator hpgd, hpgd-batch or hpgd-critic only"},
    {"demo --sed 3", "cbrl demo: unknown option '--sed' (did you mean '--seed'?)"},
    {"demo --simulator quantum", "--simulator: unknown simulator 'quantum'"},
    {"demo --threads 0", "--threads: 0 is out of range"},
    {"demo stray", "unexpected argument 'stray'"},
    {"hlep", "unknown command 'hlep' (did you mean 'help'?)"},
    {"plto", "unknown command 'plto' (did you mean 'plot'?)"},
    {"help frobnicate", "unknown command 'frobnicate'"},
};

static void unknown_flags_name_the_closest(void **state) {
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int status = run(bad[i].args);
    if (status != 2) fail_msg("'%s': status %d, expected 2 (%s)", bad[i].args, status, err);
    if (!strstr(err, bad[i].message)) fail_msg("'%s': stderr '%s' lacks '%s'", bad[i].args, err, bad[i].message);
    char *nl = strchr(err, '\n');
    if (!nl || nl[1] != 0) fail_msg("'%s': stderr is not one line: '%s'", bad[i].args, err);
    if (out[0]) fail_msg("'%s': wrote to stdout: '%s'", bad[i].args, out);
  }
}

static void simulators_use_the_registry_names(void **state) {
  /* hypergrad takes the names configs take; "tabular" is still consistent. */
  const char *base = "hypergrad --env four-rooms --beta 3 --estimator hpgd-batch --samples 2 --steps 500 --seed 4 --json";
  char args[512], consistent[1 << 16];
  double g1[105], g2[105];
  snprintf(args, sizeof args, "%s --simulator consistent", base);
  assert_int_equal(run(args), 0);
  memcpy(consistent, out, sizeof out);
  assert_non_null(strstr(out, "\"simulator\": \"consistent\""));
  assert_int_equal(json_array(consistent, "grad", g1, 105), 105);
  snprintf(args, sizeof args, "%s --simulator=tabular", base);
  assert_int_equal(run(args), 0);
  assert_string_equal(out, consistent);
  assert_int_equal(run(base), 0);
  assert_string_equal(out, consistent);
  /* The paper code's kernel draws other trajectories. */
  snprintf(args, sizeof args, "%s --simulator paper-code", base);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(out, "\"simulator\": \"paper-code\""));
  assert_int_equal(json_array(out, "grad", g2, 105), 105);
  assert_true(memcmp(g1, g2, sizeof g1) != 0);
  assert_int_equal(run("hypergrad --env tax-design --bins 20 --estimator hpgd-batch --samples 2 --steps 200 "
                       "--simulator continuous --json"),
                   0);
  assert_non_null(strstr(out, "\"simulator\": \"continuous\""));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(table_takes_its_options_anywhere),
      cmocka_unit_test(export_takes_equals_and_both_outputs),
      cmocka_unit_test(the_stored_config_has_shortest_numbers),
      cmocka_unit_test(help_command_prints_that_commands_help),
      cmocka_unit_test(unknown_flags_name_the_closest),
      cmocka_unit_test(simulators_use_the_registry_names),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, setup, teardown);
}
