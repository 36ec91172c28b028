/* Tests for run/preference_file.c through the registry (env: rlhf with a `preferences` file,
   docs/ENVIRONMENTS.md 7): a file's pairs become the problem's, and pairs naming impossible
   sequences are refused with "file:line: field: what is wrong"; `cbrl run` then exits 2 and
   writes nothing; the canonical config keeps the file and the seed. */
#include "test_util.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbrl/run/config.h"
#include "cbrl/run/env_registry.h"

static char dir[64];

static int make_dir(void **state) {
  (void)state;
  strcpy(dir, "/tmp/cbrl_prefs_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

static const char good[] =
    "# two prompts, sequences of 3 tokens from 3\n"
    "format: cbrl-preferences-1\n"
    "vocab: 3\n"
    "length: 3\n"
    "prompts: 2\n"
    "pairs:\n"
    "  - {prompt: 0, preferred: [0, 1, 2], rejected: [2, 2, 1]}\n"
    "  - {prompt: 1, preferred: [1, 1, 0], rejected: [0, 2, 2]}\n"
    "  - {prompt: 1, preferred: [2, 1, 0], rejected: [0, 0, 2], heldout: true}\n";

/* Builds env (rlhf or rlhf-dpo) from the file text; returns its code, the message in err. */
static int build(const char *env, const char *text, cbrl_problem **p, char *err, size_t size) {
  const char *path = write_file("pairs.yaml", text);
  cbrl_env_params prm;
  cbrl_env_params_default(&prm);
  prm.preferences = path;
  err[0] = 0;
  return cbrl_env_create(cbrl_env_find(env), &prm, p, err, size);
}

static void a_file_gives_the_problem_its_pairs(void **state) {
  (void)state;
  cbrl_problem *p;
  char err[512];
  assert_ok(build("rlhf-dpo", good, &p, err, sizeof err));
  assert_int_equal(p->n_states, 1 + 3 + 9 + 1);
  assert_int_equal(p->n_contexts, 2);
  assert_int_equal(p->dim, 4);
  /* At x = 0 every margin is 0; at x the training log-likelihood is the Bradley-Terry one of the
     two training pairs (prompt weights 1/2 each), the held-out one that of the third. */
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double x[4] = {0.7, -0.3, 0.5, 1.1};
  cbrl_rlhf_fit fit;
  assert_ok(cbrl_rlhf_fit_compute(p, e, x, &fit));
  static const int seq[3][2][3] = {{{0, 1, 2}, {2, 2, 1}}, {{1, 1, 0}, {0, 2, 2}}, {{2, 1, 0}, {0, 0, 2}}};
  static const int prompt[3] = {0, 1, 1};
  double ll[3];
  for (int k = 0; k < 3; k++) {
    double pw[4], pl[4], m = 0.0;
    assert_ok(cbrl_rlhf_features(p, prompt[k], seq[k][0], pw));
    assert_ok(cbrl_rlhf_features(p, prompt[k], seq[k][1], pl));
    for (int j = 0; j < 4; j++) m += x[j] * (pw[j] - pl[j]);
    ll[k] = -log1p(exp(-m));
  }
  assert_close(fit.train_loglik, 0.5 * ll[0] + 0.5 * ll[1], 1e-3, 0);
  assert_close(fit.heldout_loglik, 0.5 * ll[2], 1e-3, 0); /* prompt 0 has no held-out pair */
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

/* Each mistake, with the line and field it is reported at. */
static void impossible_sequences_are_located(void **state) {
  (void)state;
  static const struct {
    const char *from, *to, *message;
  } cases[] = {
      {"rejected: [0, 2, 2]", "rejected: [0, 7, 2]", ":8: pairs[1].rejected[1]: token 7 is outside the vocabulary 0..2"},
      {"rejected: [0, 2, 2]", "rejected: [0, -1, 2]",
       ":8: pairs[1].rejected[1]: token -1 is outside the vocabulary 0..2"},
      {"preferred: [0, 1, 2]", "preferred: [0, 1]",
       ":7: pairs[0].preferred: has 2 tokens, but every sequence has length 3"},
      {"{prompt: 1, preferred: [2", "{prompt: 2, preferred: [2", ":9: pairs[2].prompt: prompt 2 is out of range 0..1"},
      {"heldout: true", "heldout: maybe", ":9: pairs[2].heldout: expected true or false"},
      {"rejected: [2, 2, 1]", "rejected: [2, x, 1]", ":7: pairs[0].rejected[1]: expected an integer, got 'x'"},
      {"format: cbrl-preferences-1", "format: cbrl-tabular-1", ":2: format: expected 'cbrl-preferences-1'"},
      {"vocab: 3", "vocab: 9", ":3: vocab: 9 is out of range [2, 8]"},
      {"length: 3", "length: 7\nvocab_size: 2", ":5: vocab_size: unknown field"},
      {"vocab: 3\nlength: 3", "vocab: 8\nlength: 6", ":4: length: 6 tokens from a vocabulary of 8 make 37450 prefix states, at most 5000"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[2048], err[512];
    const char *at = strstr(good, cases[i].from);
    assert_non_null(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, cases[i].to, at + strlen(cases[i].from));
    cbrl_problem *p = (cbrl_problem *)text;
    assert_int_not_equal(build("rlhf", text, &p, err, sizeof err), 0);
    assert_null(p);
    char want[600];
    snprintf(want, sizeof want, "%s/pairs.yaml%s", dir, cases[i].message);
    if (strncmp(err, want, strlen(want))) fail_msg("case %zu: got '%s', want '%s'", i, err, want);
  }
}

/* cbrl run refuses such a file with the same message and exit status 2, and writes no store. */
static void cbrl_run_exits_2_and_writes_nothing(void **state) {
  (void)state;
  char text[2048], cmd[1024], errp[128], out[128];
  const char *at = strstr(good, "rejected: [0, 2, 2]");
  snprintf(text, sizeof text, "%.*srejected: [0, 2, 5]%s", (int)(at - good), good, at + strlen("rejected: [0, 2, 2]"));
  write_file("pairs.yaml", text);
  const char *cfg = write_file("sweep.yaml", "env: rlhf\npreferences: pairs.yaml\nalgorithm: [exact]\n"
                                             "iterations: 10\nfinal_window: 5\n");
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --out '%s' --quiet >/dev/null 2>'%s' </dev/null", CBRL_CLI, cfg, out, errp);
  int status = system(cmd);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 2);
  FILE *f = fopen(errp, "r");
  char msg[1024] = "";
  size_t n = fread(msg, 1, sizeof msg - 1, f);
  msg[n] = 0;
  fclose(f);
  assert_non_null(strstr(msg, "pairs.yaml:8: pairs[1].rejected[2]: token 5 is outside the vocabulary 0..2"));
  struct stat st;
  assert_int_not_equal(stat(out, &st), 0);
  /* A preference file for an environment that takes none. */
  cfg = write_file("sweep.yaml", "env: contract\npreferences: pairs.yaml\nalgorithm: [exact]\n"
                                 "iterations: 10\nfinal_window: 5\n");
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --out '%s' --quiet >/dev/null 2>'%s' </dev/null", CBRL_CLI, cfg, out, errp);
  status = system(cmd);
  assert_int_equal(WEXITSTATUS(status), 2);
  assert_int_not_equal(stat(out, &st), 0);
}

/* The path resolves beside the config, and the canonical config (what a store and --resume keep)
   has it and the seed. */
static void the_canonical_config_keeps_the_file_and_the_seed(void **state) {
  (void)state;
  write_file("pairs.yaml", good);
  const char *cfg = write_file("sweep.yaml", "env: rlhf\npreferences: pairs.yaml\nproblem_seed: 3\n"
                                             "algorithm: [exact]\niterations: 10\nfinal_window: 5\n");
  cbrl_config c;
  char err[512], buf[8192], want[256];
  cbrl_config_default(&c);
  assert_ok(cbrl_config_load(&c, cfg, err, sizeof err));
  assert_ok(cbrl_config_validate(&c, err, sizeof err));
  assert_true(cbrl_config_canonical(&c, buf, sizeof buf) > 0);
  snprintf(want, sizeof want, "preferences: %s/pairs.yaml\n", dir);
  if (!strstr(buf, want) || !strstr(buf, "problem_seed: 3\n")) fail_msg("canonical: %s", buf);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_file_gives_the_problem_its_pairs, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(impossible_sequences_are_located, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(cbrl_run_exits_2_and_writes_nothing, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(the_canonical_config_keeps_the_file_and_the_seed, make_dir, remove_dir),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
