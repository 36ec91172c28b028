/* Tests for the cbrl command line: the hypergrad contract, help, version, and bad input. */
#include "cli_test.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static double json_number(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  const char *p = strstr(json, pat);
  return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static void four_rooms_json_matches_the_library_bit_for_bit(void **state) {
  assert_int_equal(run("hypergrad --env four-rooms --beta 3 --lambda 0.005 --x-seed 4 --json"), 0);
  double grad[200], fctx[4];
  assert_int_equal(json_array(out, "grad", grad, 200), 105);
  assert_int_equal(json_array(out, "F_per_context", fctx, 4), 2);
  assert_int_equal((int)json_number(out, "dim"), 105);
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.beta = 3.0;
  o.lambda = 0.005;
  cbrl_problem *p;
  cbrl_exact *e;
  assert_ok(cbrl_four_rooms_create(&p, &o));
  assert_ok(cbrl_exact_create(&e, p));
  double x[105], g[105], F, f[2];
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 4, 0);
  for (int j = 0; j < 105; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  assert_ok(cbrl_exact_evaluate(e, x, &F, f, g));
  /* The JSON numbers are the shortest decimals that read back exactly. */
  assert_true(json_number(out, "F") == F);
  for (int j = 0; j < 105; j++) assert_true(grad[j] == g[j]);
  assert_true(fctx[0] == f[0] && fctx[1] == f[1]);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void problem_file_and_random_env_work(void **state) {
  assert_int_equal(run("hypergrad --problem " CBRL_SOURCE_DIR "/examples/chain.yaml --x 0.1,0,0.2 --json"), 0);
  double g[8];
  assert_int_equal(json_array(out, "grad", g, 8), 3);
  assert_int_equal(run("hypergrad --problem " CBRL_SOURCE_DIR "/examples/chain.yaml --lambda 2"), 0);
  assert_non_null(strstr(out, "lambda = 2"));
  assert_non_null(strstr(out, "F(x)"));
  assert_int_equal(run("hypergrad --env random --states 30 --actions 3 --dim 4 --contexts 2 --branch 3 --seed 5 --json"), 0);
  assert_int_equal(json_array(out, "grad", g, 8), 4);
  assert_int_equal(json_array(out, "F_per_context", g, 8), 2);
  /* Tax design: d = 4, two household types, x defaulting to every rate 0.3. */
  assert_int_equal(run("hypergrad --env tax-design --bins 30 --json"), 0);
  assert_int_equal(json_array(out, "grad", g, 8), 4);
  assert_int_equal((int)json_number(out, "dim"), 4);
  cbrl_tax_opts o;
  cbrl_tax_opts_default(&o);
  o.n_bins = 30;
  cbrl_problem *p;
  cbrl_exact *e;
  assert_ok(cbrl_tax_create(&p, &o));
  assert_ok(cbrl_exact_create(&e, p));
  double x[4], F;
  cbrl_tax_x_for_rate(0.3, x);
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, NULL));
  assert_true(json_number(out, "F") == F);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

static void stochastic_estimators_report_standard_errors(void **state) {
  /* Exact gradient first, then each stochastic estimator: mean within 4 standard errors. */
  const char *problem = "hypergrad --problem " CBRL_SOURCE_DIR "/examples/chain.yaml --x 0.1,0,0.2 --json";
  assert_int_equal(run(problem), 0);
  double exact[3], g[3], se[3];
  assert_int_equal(json_array(out, "grad", exact, 3), 3);
  assert_int_equal(json_array(out, "stderr", se, 3), -1); /* exact: no stderr */
  const char *estimators[2] = {"hpgd --samples 40000", "zero-order --samples 4000 --zo-u 1e-4"};
  for (int i = 0; i < 2; i++) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --estimator %s --seed 3", problem, estimators[i]);
    assert_int_equal(run(cmd), 0);
    assert_int_equal(json_array(out, "grad", g, 3), 3);
    assert_int_equal(json_array(out, "stderr", se, 3), 3);
    for (int j = 0; j < 3; j++)
      if (fabs(g[j] - exact[j]) > 4.0 * se[j])
        fail_msg("%s: coordinate %d: %.6f vs exact %.6f (se %.6f)", estimators[i], j, g[j], exact[j], se[j]);
  }
  /* The same seed gives the same digits. */
  assert_int_equal(run("hypergrad --env four-rooms --estimator hpgd-batch --samples 3 --seed 9 --json"), 0);
  char first[sizeof out];
  memcpy(first, out, sizeof out);
  assert_int_equal(run("hypergrad --env four-rooms --estimator hpgd-batch --samples 3 --seed 9 --json"), 0);
  assert_string_equal(first, out);
  assert_true(json_number(out, "env_steps") == 30000);
  /* Sample-based followers report their samples per estimate, exactly. */
  assert_int_equal(run("hypergrad --env random --states 8 --actions 3 --dim 3 --contexts 1 --branch 3 --seed 5 "
                       "--estimator hpgd-batch --follower soft-q --follower-iterations 32 --samples 4 --steps 500 --json"),
                   0);
  assert_true(json_number(out, "follower_samples") == 32 * 8 * 3);
  assert_int_equal(run("hypergrad --env random --states 8 --actions 3 --dim 3 --contexts 1 --branch 3 --seed 5 "
                       "--estimator rtq --levels 3 --samples 50 --steps 500 --json"),
                   0);
  double fs = json_number(out, "follower_samples");
  assert_true(fs >= 2 * 24 && fs <= 8 * 24); /* 2^k n_states n_actions for k in 1..3 */
  assert_int_equal(json_array(out, "stderr", g, 3), 3);
}

/* The JSON echoes every parameter the computation used, defaults included, as the shortest
   decimals that read back exactly. */
static void json_echoes_its_inputs(void **state) {
  assert_int_equal(run("hypergrad --env four-rooms --beta 3 --x-seed 2 --json"), 0);
  const char *in = strstr(out, "\"inputs\": {");
  assert_non_null(in);
  static const char *const want[] = {"\"env\": \"four-rooms\"", "\"lambda\": 0.003,", "\"beta\": 3,",
                                     "\"gamma\": 0.99,", "\"x_seed\": 2,", "\"tol\": 1e-11,",
                                     "\"estimator\": \"exact\""};
  for (int i = 0; i < 7; i++)
    if (!strstr(in, want[i])) fail_msg("inputs lack %s: %.300s", want[i], in);
  assert_null(strstr(out, "0.0030000000000000001"));
  /* The x it used is the one --x-seed draws. */
  double x[105];
  assert_int_equal(json_array(in, "x", x, 105), 105);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2, 0);
  for (int j = 0; j < 105; j++) assert_true(x[j] == 0.01 * cbrl_rng_normal(&rng));
  /* A problem file: its path, and the lambda actually used (the override). */
  assert_int_equal(run("hypergrad --problem " CBRL_SOURCE_DIR "/examples/chain.yaml --lambda=2 --x 0.1,0,0.2 --json"), 0);
  in = strstr(out, "\"inputs\": {");
  assert_non_null(in);
  assert_non_null(strstr(in, "\"problem\": \"" CBRL_SOURCE_DIR "/examples/chain.yaml\""));
  assert_non_null(strstr(in, "\"lambda\": 2,"));
  assert_non_null(strstr(in, "\"x\": [0.1, 0, 0.2]"));
  assert_null(strstr(in, "\"beta\"")); /* a problem file has no beta */
  /* Stochastic estimators add theirs. */
  assert_int_equal(run("hypergrad --env four-rooms --beta 2 --estimator hpgd-batch --samples 2 --steps 500 --seed 7 "
                       "--simulator paper-code --json"),
                   0);
  in = strstr(out, "\"inputs\": {");
  static const char *const want2[] = {"\"beta\": 2,", "\"estimator\": \"hpgd-batch\"", "\"samples\": 2,",
                                      "\"seed\": 7,", "\"steps\": 500,", "\"simulator\": \"paper-code\"",
                                      "\"follower\": \"exact\""};
  for (int i = 0; i < 7; i++)
    if (!in || !strstr(in, want2[i])) fail_msg("inputs lack %s: %.300s", want2[i], in ? in : out);
  /* RLHF: --problem-seed draws the problem, the estimator's --seed does not (it once did). */
  double F[3];
  const char *const rlhf[3] = {"hypergrad --env rlhf --json", "hypergrad --env rlhf --problem-seed 3 --json",
                               "hypergrad --env rlhf --estimator hpgd-batch --samples 1 --seed 3 --json"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(run(rlhf[i]), 0);
    const char *f = strstr(out, "{\"F\": ");
    assert_non_null(f);
    F[i] = strtod(f + 6, NULL);
    assert_non_null(strstr(out, i == 1 ? "\"problem_seed\": 3" : "\"problem_seed\": 0"));
  }
  assert_true(F[1] != F[0]);
  assert_true(F[2] == F[0]);
  /* And the text summary names beta too. */
  assert_int_equal(run("hypergrad --env four-rooms --beta 3"), 0);
  assert_non_null(strstr(out, "lambda = 0.003, gamma = 0.99; leader gamma = 0.99; beta = 3\n"));
}

typedef struct bad_cli {
  const char *args;
  const char *message;
} bad_cli;

static const bad_cli bad[] = {
    {"hypergrad --env four-rooms --x 1,2,3", "--x: expected 105 values (the problem's dim), got 3"},
    {"hypergrad --env four-rooms --x 1,zz", "--x: entry 2 ('zz') is not a finite number"},
    {"hypergrad --env four-rooms --frobnicate", "unknown option '--frobnicate'"},
    {"hypergrad --env four-rooms --lambda abc", "--lambda: 'abc' is not a finite number"},
    {"hypergrad --env four-rooms --lambda -1", "--lambda: must be positive"},
    {"hypergrad --env four-rooms --lambda nan", "--lambda: 'nan' is not a finite number"},
    {"hypergrad --env four-rooms --lambda", "--lambda needs a value"},
    {"hypergrad --env four-rooms --x-seed -3", "--x-seed: -3 is out of range"},
    {"hypergrad --env four-rooms --x 1 --x-seed 2", "give one of --x, --x-from and --x-seed"},
    {"hypergrad --env mars", "--env: unknown environment 'mars'"},
    {"hypergrad", "give exactly one of --problem FILE or --env NAME"},
    {"hypergrad --env four-rooms --problem x.yaml", "give exactly one of --problem FILE or --env NAME"},
    {"hypergrad --env random --states 10", "--env random needs --actions"},
    {"hypergrad --env four-rooms --states 10", "--states applies to --env random only"},
    {"hypergrad --problem /nonexistent.yaml", "/nonexistent.yaml: cannot open: No such file or directory"},
    {"hypergrad --problem /tmp", "/tmp: is a directory, not a file"},
    {"hypergrad --env random --states 0 --actions 2 --dim 2 --contexts 1 --branch 2 --seed 1", "--states: 0 is out of range"},
    {"hypergrad --env four-rooms stray", "unexpected argument 'stray'"},
    {"teleport", "unknown command 'teleport'"},
    {"hypergrad --env four-rooms --estimator magic", "--estimator: unknown estimator 'magic'"},
    {"hypergrad --env four-rooms --samples 10", "--samples applies to stochastic estimators only"},
    {"hypergrad --env four-rooms --estimator hpgd --samples 0", "--samples: 0 is out of range"},
    {"hypergrad --env four-rooms --estimator zero-order --zo-u -1", "--zo-u: must be positive"},
    {"hypergrad --env four-rooms --seed 3", "--seed applies to --env random only"},
    {"hypergrad --env four-rooms --problem-seed 3", "--problem-seed applies to --env random, rlhf and rlhf-dpo only"},
    {"hypergrad --env four-rooms --levels 4", "--levels applies to --estimator rtq only"},
    {"hypergrad --env four-rooms --bins 50", "--bins applies to --env tax-design only"},
    {"hypergrad --env tax-design --x 1,2,3", "--x: expected 4 values (the problem's dim), got 3"},
    {"hypergrad --env four-rooms --estimator rtq --levels 0", "--levels: 0 is out of range"},
    {"hypergrad --env four-rooms --estimator zero-order --follower soft-q", "--follower applies to --estimator hpgd"},
    {"hypergrad --env four-rooms --estimator hpgd --follower smart", "--follower: expected exact or soft-q"},
    {"hypergrad --env four-rooms --estimator hpgd --follower-iterations 8", "--follower-iterations needs --follower soft-q"},
    {"hypergrad --problem " CBRL_SOURCE_DIR "/examples/chain.yaml --estimator amd", "AMD does not model"},
};

static void bad_input_gets_one_line_and_status_2(void **state) {
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int status = run(bad[i].args);
    if (status != 2) fail_msg("'%s': status %d, expected 2", bad[i].args, status);
    if (!strstr(err, bad[i].message)) fail_msg("'%s': stderr '%s' lacks '%s'", bad[i].args, err, bad[i].message);
    char *nl = strchr(err, '\n');
    if (!nl || nl[1] != 0) fail_msg("'%s': stderr is not one line: '%s'", bad[i].args, err);
    if (out[0]) fail_msg("'%s': wrote to stdout: '%s'", bad[i].args, out);
  }
}

static void help_and_version(void **state) {
  assert_int_equal(run("--help"), 0);
  assert_non_null(strstr(out, "Usage: cbrl COMMAND"));
  assert_int_equal(run("hypergrad --help"), 0);
  assert_non_null(strstr(out, "cbrl hypergrad --env four-rooms"));
  assert_non_null(strstr(out, "Examples:"));
  assert_int_equal(run("--version"), 0);
  char want[64];
  snprintf(want, sizeof want, "cbrl %s\n", cbrl_version_string());
  assert_string_equal(out, want);
  assert_int_equal(run(""), 2);
  assert_non_null(strstr(err, "Usage"));
}

/* --x-from DIR:RUN evaluates a stored run's last stored x: F equals the F the run stored there
   (to the solver's tolerance: the run's solves were warm, this one is cold); bad specs exit 2. */
static void x_from_reuses_a_stored_x(void **state) {
  char dir[] = "/tmp/cbrl_xfrom_XXXXXX", args[1024], cfg[600];
  assert_non_null(mkdtemp(dir));
  snprintf(cfg, sizeof cfg, "%s/c.yaml", dir);
  FILE *f = fopen(cfg, "w");
  fputs("env: four-rooms\nbeta: 2\nalgorithm: exact\nlearning_rate: 0.5\niterations: 30\nfinal_window: 1\n", f);
  fclose(f);
  snprintf(args, sizeof args, "run %s --out %s/s --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  /* The stored F of the last row, the iterate --x-from reads: the CSV's last line. */
  snprintf(args, sizeof args, "export %s/s --csv %s/s.csv", dir, dir);
  assert_int_equal(run(args), 0);
  snprintf(cfg, sizeof cfg, "%s/s.csv", dir);
  slurp(cfg, out, sizeof out);
  int col = 0;
  for (const char *h = out; *h && *h != '\n' && strncmp(h, "F,", 2); h++) col += *h == ',';
  const char *last = out + strlen(out) - 1;
  while (last > out && last[-1] != '\n') last--;
  for (int k = 0; k < col; k++) last = strchr(last, ',') + 1;
  double F_stored = strtod(last, NULL);
  snprintf(args, sizeof args, "hypergrad --env four-rooms --beta 2 --x-from %s/s:0 --json", dir);
  assert_int_equal(run(args), 0);
  double F = strtod(strstr(out, "\"F\": ") + 5, NULL);
  assert_non_null(strstr(out, "\"x_from\": "));
  assert_close(F, F_stored, 1e-9, 0);
  snprintf(args, sizeof args, "hypergrad --env four-rooms --x-from %s/s:7", dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err, "no run 7"));
  assert_int_equal(run("hypergrad --env four-rooms --x-from nowhere"), 2);
  assert_int_equal(run("hypergrad --env four-rooms --x-from a:1 --x-seed 3"), 2);
  snprintf(args, sizeof args, "hypergrad --env random --states 10 --actions 3 --dim 4 --contexts 1 --branch 2 "
           "--seed 1 --x-from %s/s:0", dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err, "parameters"));
  snprintf(args, sizeof args, "rm -rf %s", dir);
  assert_int_equal(system(args), 0);
}

/* Writes text to path (a problem file of a test). */
static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* A problem file whose contexts are a sample of theta (docs/PROBLEM_FILES.md): hypergrad reports
   F's standard error, the s.e. of the average of the per-draw f; with quadrature nodes it
   reports none, F being exact. */
static void sampled_contexts_report_their_standard_error(void **state) {
  (void)state;
  char path[128], text[4096];
  const char *quad = "rule: quadrature   # or: rule: sample, draws: 200, seed: 0 (F is then a sample average)\n  nodes: 16";
  slurp(CBRL_SOURCE_DIR "/examples/contract_lognormal.yaml", text, sizeof text);
  char *at = strstr(text, quad);
  assert_non_null(at);
  static char sampled[8192];
  snprintf(sampled, sizeof sampled, "%.*srule: sample\n  draws: 30\n  seed: 2%s", (int)(at - text), text, at + strlen(quad));
  snprintf(path, sizeof path, "/tmp/cbrl_cli_sample_%d.yaml", (int)getpid());
  write_file(path, sampled);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "hypergrad --problem %s --x 0,0,1.5,0,0,1.5 --json", path);
  assert_int_equal(run(cmd), 0);
  double f[64], mean = 0.0, ss = 0.0;
  assert_int_equal(json_array(out, "F_per_context", f, 64), 30);
  for (int i = 0; i < 30; i++) mean += f[i] / 30;
  for (int i = 0; i < 30; i++) ss += (f[i] - mean) * (f[i] - mean);
  assert_close(json_number(out, "F"), mean, 1e-12, 0);
  assert_close(json_number(out, "F_stderr"), sqrt(ss / 29 / 30), 1e-9, 0);
  assert_non_null(strstr(out, "\"theta\": {\"rule\": \"sample\", \"templates\": 1, \"nodes\": 30}"));
  snprintf(cmd, sizeof cmd, "hypergrad --problem %s --x 0,0,1.5,0,0,1.5", path);
  assert_int_equal(run(cmd), 0);
  assert_non_null(strstr(out, "F is the average over a sample of 30 draws of theta: standard error"));
  remove(path);
  assert_int_equal(run("hypergrad --problem " CBRL_SOURCE_DIR "/examples/contract_lognormal.yaml --json"), 0);
  assert_null(strstr(out, "F_stderr"));
  assert_non_null(strstr(out, "\"rule\": \"quadrature\""));
}

/* HPGD draws one context per sample by its weight (docs/MODEL.md 1.2, 4): on the 16-node theta
   problem its batch estimate matches the exact gradient within 4 standard errors, while the
   unweighted mean of the nodes' gradients (a uniform draw) lies far outside them. */
static void hpgd_draws_theta_nodes_by_weight(void **state) {
  (void)state;
  const char *x = "0.1,0.2,1.4,0,0.3,1.6";
  char cmd[512];
  snprintf(cmd, sizeof cmd, "hypergrad --problem %s/examples/contract_lognormal.yaml --x %s --json", CBRL_SOURCE_DIR, x);
  assert_int_equal(run(cmd), 0);
  double exact[6], g[6], se[6];
  assert_int_equal(json_array(out, "grad", exact, 6), 6);
  snprintf(cmd, sizeof cmd,
           "hypergrad --problem %s/examples/contract_lognormal.yaml --x %s --estimator hpgd-batch --samples 100 --seed 4 --json",
           CBRL_SOURCE_DIR, x);
  assert_int_equal(run(cmd), 0);
  assert_int_equal(json_array(out, "grad", g, 6), 6);
  assert_int_equal(json_array(out, "stderr", se, 6), 6);
  /* The same problem through the C API (tests/run/test_problem_file.c checks that they agree). */
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  o.n_stages = 2, o.repeat = 1, o.participation = 1, o.budget = 3.0, o.outside_option[0] = 0.1;
  o.type_sigma = 0.5, o.n_types = 16, o.type_rule = CBRL_CONTEXTS_QUADRATURE;
  cbrl_problem *p;
  cbrl_exact *e;
  assert_ok(cbrl_contract_create(&p, &o));
  assert_ok(cbrl_exact_create(&e, p));
  double xv[6] = {0.1, 0.2, 1.4, 0, 0.3, 1.6}, uniform[6] = {0}, gk[6], fk;
  for (int k = 0; k < 16; k++) {
    assert_ok(cbrl_exact_context(e, k, xv, &fk, gk));
    for (int j = 0; j < 6; j++) uniform[j] += gk[j] / 16;
  }
  int far = 0;
  for (int j = 0; j < 6; j++) {
    if (fabs(g[j] - exact[j]) > 4 * se[j]) fail_msg("grad[%d]: HPGD %g, exact %g, s.e. %g", j, g[j], exact[j], se[j]);
    far += fabs(uniform[j] - exact[j]) > 8 * se[j];
  }
  assert_true(far >= 1);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Counts the lines of s. */
static int lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* Issue 13 class 12: a stochastic estimate never reports a standard error it cannot estimate as
   a number, and never prints a non-finite number as a result. */
static void estimates_are_never_reported_without_meaning(void **state) {
  (void)state;
  const char *chain = "hypergrad --problem " CBRL_SOURCE_DIR "/examples/chain.yaml --x 0.1,0,0.2";
  const char *estimators[4] = {"hpgd", "hpgd-batch", "zero-order", "rtq --levels 2"};
  char cmd[1024];
  for (int i = 0; i < 4; i++) {
    /* One sample: no standard error, said so, in the JSON and in the text. */
    snprintf(cmd, sizeof cmd, "%s --estimator %s --samples 1 --seed 2 --json", chain, estimators[i]);
    assert_int_equal(run(cmd), 0);
    if (!strstr(out, "\"stderr\": null, \"stderr_undefined\": \"one sample")) fail_msg("%s: %s", estimators[i], out);
    assert_null(strstr(out, "inf"));
    assert_null(strstr(out, "nan"));
    snprintf(cmd, sizeof cmd, "%s --estimator %s --samples 1 --seed 2", chain, estimators[i]);
    assert_int_equal(run(cmd), 0);
    if (!strstr(out, "no standard error (one sample")) fail_msg("%s: %s", estimators[i], out);
    assert_null(strstr(out, "inf"));
    /* Two samples are enough for a number. */
    snprintf(cmd, sizeof cmd, "%s --estimator %s --samples 2 --seed 2 --json", chain, estimators[i]);
    assert_int_equal(run(cmd), 0);
    assert_null(strstr(out, "stderr_undefined"));
  }
  /* One action: every estimate is the same, which is no evidence of exactness; the standard
     error is null, not the 0 the textbook formula gave. */
  const char *one_action = "/tmp/cbrl_test_one_action.yaml";
  write_file(one_action,
             "format: cbrl-tabular-1\nstates: 2\nactions: 1\ndim: 2\ngamma: 0.9\nleader_gamma: 0.9\nlambda: 0.5\n"
             "terminal: [1]\ncontexts:\n  - weight: 1\n    initial:\n      - {s: 0}\n    transitions:\n"
             "      - {s: 0, a: 0, next: 1}\n    reward:\n      - {s: 0, a: 0, value: 1.0, coef: [1.0, 0.0]}\n"
             "    leader_reward:\n      - {s: 0, a: 0, value: 1e9, coef: [0.3, 1e5]}\n");
  for (int i = 0; i < 3; i++) {
    snprintf(cmd, sizeof cmd, "hypergrad --problem %s --x 0.1,0.2 --estimator %s --samples 3 --json", one_action,
             i == 0 ? "hpgd-batch" : i == 1 ? "hpgd" : "hpgd-batch --steps 20");
    assert_int_equal(run(cmd), 0);
    if (!strstr(out, "\"stderr\": [null, null], \"stderr_undefined\": \"null for the 2 coordinates"))
      fail_msg("%s: %s", cmd, out);
  }
  remove(one_action);
  /* Estimates near the overflow threshold: their squares overflow; exit 1 with one line, never
     an inf or a 0 as the standard error. */
  const char *big = "/tmp/cbrl_test_big.yaml";
  char text[4096];
  FILE *f = fopen(CBRL_SOURCE_DIR "/examples/chain.yaml", "r");
  assert_non_null(f);
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  char *c = strstr(text, "coef: [-0.5, 0.0, 0.0]");
  assert_non_null(c);
  char edited[4200];
  snprintf(edited, sizeof edited, "%.*scoef: [-1e154, 0.0, 0.0]%s", (int)(c - text), text, c + strlen("coef: [-0.5, 0.0, 0.0]"));
  write_file(big, edited);
  for (int i = 0; i < 2; i++) {
    snprintf(cmd, sizeof cmd, "hypergrad --problem %s --x 0.1,0,0.2 --estimator %s --samples 50 %s", big,
             i ? "zero-order" : "hpgd-batch", i ? "" : "--json");
    assert_int_equal(run(cmd), 1);
    assert_string_equal(out, "");
    assert_int_equal(lines(err), 1);
    if (!strstr(err, "not a finite number")) fail_msg("%s", err);
  }
  remove(big);
}

/* Issue 13 class 13: SIGTERM and SIGINT stop a long estimate promptly, with 128 + signal and
   one line. */
static void signals_stop_a_long_estimate(void **state) {
  (void)state;
  const char *cases[4][2] = {{"hpgd", "--samples 100000000"}, {"zero-order", "--samples 100000000"},
                             {"amd", "--amd-updates 100000000"}, {"hpgd-batch", "--samples 100000000"}};
  for (int i = 0; i < 8; i++) {
    int sig = i % 2 ? SIGINT : SIGTERM;
    char err_path[64];
    snprintf(err_path, sizeof err_path, "/tmp/cbrl_cli_sig_%d.err", (int)getpid());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      freopen("/dev/null", "w", stdout);
      freopen(err_path, "w", stderr);
      execl(CBRL_CLI, CBRL_CLI, "hypergrad", "--env", "four-rooms", "--estimator", cases[i / 2][0],
            strtok(strdup(cases[i / 2][1]), " "), strrchr(cases[i / 2][1], ' ') + 1, "--json", (char *)NULL);
      _exit(127);
    }
    usleep(500000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, sig);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    slurp(err_path, err, sizeof err);
    remove(err_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 128 + sig)
      fail_msg("%s, signal %d: status %d, stderr %s", cases[i / 2][0], sig, status, err);
    if (waited > 1.0) fail_msg("%s: exited %.2f s after the signal", cases[i / 2][0], waited);
    assert_int_equal(lines(err), 1);
    assert_non_null(strstr(err, sig == SIGINT ? "SIGINT" : "SIGTERM"));
  }
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(four_rooms_json_matches_the_library_bit_for_bit),
      cmocka_unit_test(problem_file_and_random_env_work),
      cmocka_unit_test(json_echoes_its_inputs),
      cmocka_unit_test(bad_input_gets_one_line_and_status_2),
      cmocka_unit_test(help_and_version),
      cmocka_unit_test(stochastic_estimators_report_standard_errors),
      cmocka_unit_test(x_from_reuses_a_stored_x),
      cmocka_unit_test(estimates_are_never_reported_without_meaning),
      cmocka_unit_test(signals_stop_a_long_estimate),
      cmocka_unit_test(sampled_contexts_report_their_standard_error),
      cmocka_unit_test(hpgd_draws_theta_nodes_by_weight),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
