/* Tests for run/config.c: config errors stop `cbrl run` before anything is written, and the
   grid and simulator rules come from the environment registry. */
#include "run/run_util.h"

#include "cbrl/run/config.h"

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
    {"iterations: 100\nfinal_window: 200\n", NULL, ":2: final_window: 200 exceeds iterations (100)"},
    {"env: random\nbeta: 3\n", NULL, "beta: applies to env four-rooms only"},
    {"env: file\n", NULL, "problem: env file needs a problem file"},
    {"env: file\nproblem: /nonexistent.yaml\n", NULL, "/nonexistent.yaml: cannot open"},
    {"env: random\nalgorithm: amd\n", NULL, ":2: algorithm: amd cannot handle this problem"},
    {"iterations: 10\niterations: 20\n", NULL, "iterations: field given twice"},
    {"- a\n- b\n", NULL, "top level: expected a mapping"},
    {"", NULL, "empty file"},
    {"a: &x 1\nb: *x\n", NULL, "YAML aliases are not allowed"},
    {"follower: clever\n", NULL, ":1: follower: expected exact, soft-q, soft-dqn, online or {command: ...}"},
    {"dqn_heads: 3\n", NULL, ":1: dqn_heads: expected joint or a list of head sizes"},
    {"dqn_heads: [10, 0]\n", NULL, ":1: dqn_heads:"},
    {"clip_groups: 3\n", NULL, ":1: clip_groups: expected whole or a list of group sizes"},
    {"clip_groups: [1, 0]\n", NULL, ":1: clip_groups: 0 is out of range"},
    {"env: tax-design\ntax_bins: 20\nclip_groups: [1, 2]\n", NULL, ":3: clip_groups: the sizes add up to 3, but the problem's x has 4"},
    {"init_x: runs/q:first\n", NULL, ":1: init_x: expected a list of numbers or DIR:RUN, got 'runs/q:first'"},
    {"init_x: [0.1, x]\n", NULL, ":1: init_x: expected a number, got 'x'"},
    {"init_x: [0.1, 0.2]\n", NULL, ":1: init_x: 2 values, but the problem's x has 105"},
    {"rtq_levels: 31\n", NULL, ":1: rtq_levels: 31 is out of range"},
    {"env: tax-design\nalgorithm: hpgd-critic\nsimulator: continuous\nhpgd_critic: model\n", NULL,
     ":4: hpgd_critic: model evaluates the leader on the model's kernel, which simulator continuous does not have"},
    {"hpgd_critic: neural\n", NULL, ":1: hpgd_critic: expected auto, tabular, features or model"},
    {"follower_iterations: 0\n", NULL, ":1: follower_iterations: 0 is out of range"},
    /* A rule checked after loading names the line of the field it is about, unless --set gave it. */
    {"iterations: 10\n", "final_window=20", "--set final_window: 20 exceeds iterations (10)"},
    {NULL, "iterations=-5", "--set iterations: -5 is out of range"},
    {NULL, "colour=red", "--set colour: unknown field"},
    {NULL, "learning_rate", "--set learning_rate: expected key=value"},
    /* A near miss names the field meant (run/suggest.c). */
    {"lamda: 0.003\n", NULL, ":1: lamda: unknown field (did you mean 'lambda'?)"},
    {NULL, "learning-rate=0.5", "--set learning-rate: unknown field (did you mean 'learning_rate'?)"},
    {NULL, "iteration=5", "--set iteration: unknown field (did you mean 'iterations'?)"},
    {NULL, "learning_rate=[0.1, x]", "learning_rate: expected a number, got 'x'"},
    /* Issue 13 class 1: more than one YAML document, in a config or a --set value. */
    {"env: random\n---\nenv: four-rooms\n", NULL, ":2: a second YAML document"},
    {"iterations: 10\n---\n", NULL, ":2: a second YAML document"},
    {"---\niterations: 10\n...\n---\niterations: 20\n", NULL, ":4: a second YAML document"},
    {NULL, "learning_rate=0.1\n---\n0.2", "--set learning_rate:2: a second YAML document"},
    {NULL, "seeds=--- 1\n--- 2", "--set seeds:2: a second YAML document"},
    {NULL, "algorithm=amd\n---\n", "--set algorithm:2: a second YAML document"},
    /* Class 2: overflow is refused, underflow is not (see below). */
    {"learning_rate: 1e999\n", NULL, ":1: learning_rate: '1e999' is not a finite number"},
    {NULL, "init_std=-1e400", "--set init_std: '-1e400' is not a finite number"},
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

/* The canonical config writes each number as the shortest decimal that reads back exactly:
   0.003, not 0.0030000000000000001; and reading it back gives the same config. */
static void canonical_numbers_are_shortest_and_round_trip(void **state) {
  cbrl_config c, back;
  char err[512] = "", buf[8192], again[8192];
  cbrl_config_default(&c);
  assert_int_equal(cbrl_config_set(&c, "lambda=[0.001, 0.003, 0.005]", err, sizeof err), 0);
  assert_int_equal(cbrl_config_set(&c, "learning_rate=[0.5, 0.1, 0.05, 0.01]", err, sizeof err), 0);
  assert_int_equal(cbrl_config_set(&c, "init_std=0.01", err, sizeof err), 0);
  assert_int_equal(cbrl_config_set(&c, "zero_order_c=0.30000000000000004", err, sizeof err), 0);
  assert_true(cbrl_config_canonical(&c, buf, sizeof buf) > 0);
  if (!strstr(buf, "lambda: [0.001, 0.003, 0.005]\n")) fail_msg("canonical: %s", buf);
  assert_non_null(strstr(buf, "learning_rate: [0.5, 0.1, 0.05, 0.01]\n"));
  assert_non_null(strstr(buf, "init_std: 0.01\n"));
  assert_non_null(strstr(buf, "max_grad_norm: 1\n"));
  assert_non_null(strstr(buf, "zero_order_c: [0.30000000000000004]\n")); /* 17 digits where needed */
  const char *path = write_config("canonical.yaml", buf);
  cbrl_config_default(&back);
  assert_int_equal(cbrl_config_load(&back, path, err, sizeof err), 0);
  assert_true(cbrl_config_canonical(&back, again, sizeof again) > 0);
  assert_string_equal(buf, again);
  assert_true(back.lambda[1] == 0.003 && back.zero_order_c[0] == 0.1 + 0.2);
}

/* Issue 13 class 2: subnormal literals are numbers, in files and in --set. */
static void subnormal_values_are_numbers(void **state) {
  cbrl_config c;
  char err[512];
  const char *values[] = {"1e-320", "4.9e-324", "1e-400", "2.2250738585072014e-308"};
  const double want[] = {1e-320, 4.9e-324, 0.0, 2.2250738585072014e-308};
  for (int i = 0; i < 4; i++) {
    char set[64], text[64];
    cbrl_config_default(&c);
    snprintf(set, sizeof set, "init_std=%s", values[i]);
    if (cbrl_config_set(&c, set, err, sizeof err)) fail_msg("%s: %s", set, err);
    if (c.init_std != want[i]) fail_msg("%s: got %g", set, c.init_std);
    snprintf(text, sizeof text, "max_grad_norm: %s\n", values[i]);
    const char *cfg = write_config("sub.yaml", text);
    cbrl_config_default(&c);
    if (cbrl_config_load(&c, cfg, err, sizeof err)) fail_msg("%s: %s", text, err);
    if (c.max_grad_norm != want[i]) fail_msg("%s: got %g", text, c.max_grad_norm);
  }
  /* The smallest positive learning rate is in (0, 1e6]. */
  cbrl_config_default(&c);
  assert_int_equal(cbrl_config_set(&c, "learning_rate=[1e-320, 0.1]", err, sizeof err), 0);
  assert_true(c.learning_rate[0] == 1e-320 && c.n_learning_rate == 2);
}

/* Class 5: a config from a pipe is read once and parsed; --set values with one document pass. */
static void config_from_a_pipe_and_one_document_values(void **state) {
  char fifo[160], cmd[400], err[512];
  snprintf(fifo, sizeof fifo, "%s/cfg_fifo", dir);
  unlink(fifo);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  snprintf(cmd, sizeof cmd, "printf 'env: random\\niterations: 77\\n' > '%s' &", fifo);
  assert_int_equal(system(cmd), 0);
  cbrl_config c;
  cbrl_config_default(&c);
  if (cbrl_config_load(&c, fifo, err, sizeof err)) fail_msg("fifo: %s", err);
  assert_int_equal(c.iterations, 77);
  assert_string_equal(c.env, "random");
  snprintf(cmd, sizeof cmd, "printf 'iterations: 5\\n---\\niterations: 6\\n' > '%s' &", fifo);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(cbrl_config_load(&c, fifo, err, sizeof err), CBRL_EPARSE);
  if (!strstr(err, "cfg_fifo:2: a second YAML document")) fail_msg("'%s'", err);
  unlink(fifo);
  /* An explicit single document is still one. */
  assert_int_equal(cbrl_config_set(&c, "iterations=--- 12", err, sizeof err), 0);
  assert_int_equal(c.iterations, 12);
  assert_int_equal(cbrl_config_set(&c, "iterations=--- 13\n...", err, sizeof err), 0);
  assert_int_equal(c.iterations, 13);
  assert_int_equal(cbrl_config_set(&c, "iterations=", err, sizeof err), CBRL_EPARSE);
  assert_non_null(strstr(err, "--set iterations: empty value"));
}

/* Simulators are names; which an environment offers, and what each supports, come from the
   registry; the ids (which enter every run's random stream) never change. */
static void simulators_are_names_the_environment_offers(void **state) {
  assert_int_equal(cbrl_simulator_id("consistent"), 0);
  assert_int_equal(cbrl_simulator_id("paper-code"), 1);
  assert_int_equal(cbrl_simulator_id("continuous"), 2);
  assert_int_equal(cbrl_simulator_id("quantum"), -1);
  cbrl_config c;
  char err[256] = "", buf[4096];
  cbrl_config_default(&c);
  assert_int_equal(cbrl_config_set(&c, "simulator=[consistent, paper-code]", err, sizeof err), 0);
  assert_int_equal(cbrl_config_validate(&c, err, sizeof err), 0);
  assert_string_equal(cbrl_simulator_name(c.simulator[1]), "paper-code");
  assert_int_equal(cbrl_config_set(&c, "env=tax-design", err, sizeof err), 0);
  assert_int_not_equal(cbrl_config_validate(&c, err, sizeof err), 0);
  assert_string_equal(err, "simulator: paper-code applies to env four-rooms only");
  assert_int_equal(cbrl_config_set(&c, "simulator=continuous", err, sizeof err), 0);
  assert_int_equal(cbrl_config_validate(&c, err, sizeof err), 0);
  assert_true(cbrl_config_canonical(&c, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "simulator: [continuous]\n"));
  assert_non_null(strstr(buf, "tax_bins: 200\n"));
  assert_null(strstr(buf, "states:"));
  assert_int_equal(cbrl_config_set(&c, "algorithm=hpgd-rtq", err, sizeof err), 0);
  assert_int_not_equal(cbrl_config_validate(&c, err, sizeof err), 0);
  assert_string_equal(err, "simulator: continuous supports hpgd and hpgd-batch, not hpgd-rtq");
  /* The problem of a run comes from the registry, with the run's lambda. */
  assert_int_equal(cbrl_config_set(&c, "algorithm=hpgd-batch", err, sizeof err), 0);
  assert_int_equal(cbrl_config_set(&c, "tax_bins=20", err, sizeof err), 0);
  assert_int_equal(cbrl_config_set(&c, "lambda=0.25", err, sizeof err), 0);
  cbrl_run_spec *runs;
  int n;
  assert_int_equal(cbrl_config_runs(&c, &runs, &n), 0);
  assert_int_equal(n, 1);
  cbrl_problem *p;
  assert_int_equal(cbrl_config_problem(&c, &runs[0], &p, err, sizeof err), 0);
  assert_int_equal(p->dim, CBRL_TAX_DIM);
  assert_true(p->lambda == 0.25);
  cbrl_problem_free(p);
  free(runs);
}

/* A relative problem path in a config file is relative to the config's folder, wherever cbrl
   runs from; a --set problem= path is relative to the working directory. */
static void problem_paths_resolve_beside_the_config(void **state) {
  char sub[128], cmd[1024], args[512];
  snprintf(sub, sizeof sub, "%s/cfgdir", dir);
  mkdir(sub, 0777);
  snprintf(cmd, sizeof cmd, "cp %s/examples/chain.yaml %s/", CBRL_SOURCE_DIR, sub);
  assert_int_equal(system(cmd), 0);
  write_config("cfgdir/c.yaml", "env: file\nproblem: chain.yaml\nalgorithm: exact\niterations: 2\nfinal_window: 1\n");
  /* From the source tree: chain.yaml is not in the working directory, only beside the config. */
  snprintf(args, sizeof args, "run %s/c.yaml --out %s/o1 --quiet", sub, dir);
  assert_int_equal(run(args), 0);
  cbrl_config c;
  char err[512], path[256];
  cbrl_config_default(&c);
  snprintf(path, sizeof path, "%s/c.yaml", sub);
  assert_int_equal(cbrl_config_load(&c, path, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s/chain.yaml", sub);
  assert_string_equal(c.problem, path);
  assert_int_equal(cbrl_config_set(&c, "problem=examples/chain.yaml", err, sizeof err), 0);
  assert_string_equal(c.problem, "examples/chain.yaml");
}

/* cbrl_config_line: the line that set a field, found from a message that starts with its name;
   0 for a default and for a value --set replaced. */
static void fields_remember_their_line(void **state) {
  (void)state;
  write_config("lines.yaml", "# a comment\nenv: tax-design\n\ntax_bins: 20\nclip_groups: [1, 3]\n");
  cbrl_config c;
  char err[512], path[256];
  cbrl_config_default(&c);
  snprintf(path, sizeof path, "%s/lines.yaml", dir);
  assert_int_equal(cbrl_config_load(&c, path, err, sizeof err), 0);
  assert_int_equal(cbrl_config_line(&c, "env"), 2);
  assert_int_equal(cbrl_config_line(&c, "clip_groups: the sizes add up to 3"), 5);
  assert_int_equal(cbrl_config_line(&c, "tax_bins[0]"), 4);
  assert_int_equal(cbrl_config_line(&c, "iterations: 5"), 0);
  assert_int_equal(cbrl_config_line(&c, "the grid is too large"), 0);
  assert_int_equal(cbrl_config_set(&c, "tax_bins=40", err, sizeof err), 0);
  assert_int_equal(cbrl_config_line(&c, "tax_bins"), 0);
}

/* Issue 13 class 11: equal values written two ways are one grid point, refused on every axis. */
static void duplicate_grid_values_are_refused(void **state) {
  (void)state;
  static const char *const sets[][2] = {
      {"learning_rate=[0.1, 0.10]", "'0.10' is listed twice"},
      {"lambda=[0.001, 0.003, 1e-3]", "'1e-3' is listed twice (entry 1"},
      {"beta=[2, 2.0e0]", "'2.0e0' is listed twice"},
      {"zero_order_c=[0.5, 5e-1]", "'5e-1' is listed twice"},
      {"seeds=[0, 1, 0]", "seed 0 is listed twice"},
      {"algorithm=[hpgd, hpgd]", "'hpgd' is listed twice"},
  };
  for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
    cbrl_config c;
    char err[512] = "";
    cbrl_config_default(&c);
    if (cbrl_config_set(&c, sets[i][0], err, sizeof err) == 0) fail_msg("%s accepted", sets[i][0]);
    if (!strstr(err, sets[i][1])) fail_msg("%s: '%s' lacks '%s'", sets[i][0], err, sets[i][1]);
  }
  cbrl_config c;
  char err[512];
  cbrl_config_default(&c);
  assert_int_equal(cbrl_config_set(&c, "learning_rate=[0.1, 0.1000001]", err, sizeof err), 0);
  assert_int_equal(c.n_learning_rate, 2);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(config_errors_stop_before_anything_is_written),
      cmocka_unit_test(canonical_numbers_are_shortest_and_round_trip),
      cmocka_unit_test(subnormal_values_are_numbers),
      cmocka_unit_test(config_from_a_pipe_and_one_document_values),
      cmocka_unit_test(simulators_are_names_the_environment_offers),
      cmocka_unit_test(problem_paths_resolve_beside_the_config),
      cmocka_unit_test(duplicate_grid_values_are_refused),
      cmocka_unit_test(fields_remember_their_line),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
