/* Tests for tools/tabular_file.c and tools/yaml_util.c: a valid file equals the same problem
   built through the C API, and every malformed file gets "file:line: field: message". */
#include "test_util.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbrl/bounds.h"
#include "cbrl/objective.h"
#include "cbrl/run/problem_file.h"
#include "cbrl/soft_solver.h"

static char dir[64];

static int make_dir(void **state) {
  strcpy(dir, "/tmp/cbrl_tabular_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static const char *write_file(const char *name, const char *text, size_t len) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  fwrite(text, 1, len, f);
  fclose(f);
  return path;
}

#define HEAD "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: 0.5\n"
#define TRANS "    transitions: [{s: 0, a: 0, next: 0}, {s: 0, a: 1, next: 0}, {s: 1, a: 0, next: 0}, {s: 1, a: 1, next: 0}, {s: 2, a: 0, next: 0}, {s: 2, a: 1, next: 0}]\n"
#define CTX                                                                                 \
  "contexts:\n"                                                                             \
  "  - weight: 1.0\n"                                                                       \
  "    initial:\n"                                                                          \
  "      - {s: 0}\n"                                                                        \
  "    transitions:\n"                                                                      \
  "      - {s: 0, a: 0, next: 1}\n"                                                         \
  "      - {s: 0, a: 1, next: 2}\n"                                                         \
  "      - {s: 1, a: 0, next: 2}\n"                                                         \
  "      - {s: 1, a: 1, next: 0}\n"                                                         \
  "      - {s: 2, a: 0, next: 2}\n"                                                         \
  "      - {s: 2, a: 1, next: 0}\n"

typedef struct bad_case {
  const char *name;
  const char *text;
  const char *expect; /* substring of the error, after "path" */
} bad_case;

static const bad_case bad_cases[] = {
    {"empty", "", ": empty file"},
    {"comment_only", "# nothing\n", ": empty file"},
    {"not_mapping", "- 1\n- 2\n", ":1: top level: expected a mapping"},
    {"unknown_key", HEAD "colour: red\n" CTX, ":7: colour: unknown field"},
    {"duplicate_key", HEAD "states: 4\n" CTX, ":7: states: field given twice"},
    {"no_format", "states: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: 0.5\n" CTX, "format: required field is missing"},
    {"bad_format", "format: cbrl-tabular-2\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: 0.5\n" CTX,
     ":1: format: expected 'cbrl-tabular-1'"},
    {"states_negative", "format: cbrl-tabular-1\nstates: -1\n", ":2: states: -1 is out of range [1, 10000000]"},
    {"states_text", "format: cbrl-tabular-1\nstates: many\n", ":2: states: expected an integer, got 'many'"},
    {"states_float", "format: cbrl-tabular-1\nstates: 2.5\n", ":2: states: expected an integer, got '2.5'"},
    {"states_huge", "format: cbrl-tabular-1\nstates: 1000000000000\n", ":2: states: 1000000000000 is out of range"},
    {"states_list", "format: cbrl-tabular-1\nstates: [1]\n", ":2: states: expected an integer"},
    {"no_actions", "format: cbrl-tabular-1\nstates: 3\n", "actions: required field is missing"},
    {"gamma_one", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 1.0\n", ":5: gamma: must lie in [0, 1)"},
    {"gamma_nan", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: nan\n", ":5: gamma: 'nan' is not a finite number"},
    {"gamma_inf", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: inf\n", "gamma: 'inf' is not a finite number"},
    {"leader_gamma_negative", HEAD "leader_gamma: -0.5\n" CTX, ":7: leader_gamma: must lie in [0, 1)"},
    {"lambda_zero", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: 0\n", ":6: lambda: must be positive"},
    {"lambda_yaml_nan", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: .nan\n", "lambda: expected a number, got '.nan'"},
    {"no_contexts", HEAD, "contexts: required field is missing"},
    {"contexts_empty", HEAD "contexts: []\n", ":7: contexts: must list at least one context"},
    {"contexts_mapping", HEAD "contexts: {a: 1}\n", ":7: contexts: expected a list"},
    {"weights_sum", HEAD "contexts:\n  - weight: 0.5\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 0, next: 0}, {s: 0, a: 1, next: 0}, {s: 1, a: 0, next: 0}, {s: 1, a: 1, next: 0}, {s: 2, a: 0, next: 0}, {s: 2, a: 1, next: 0}]\n",
     ":8: contexts: weights sum to 0.5, not 1"},
    {"weight_negative", HEAD "contexts:\n  - weight: -1\n", ":8: contexts[0].weight: must not be negative"},
    {"no_weight", HEAD "contexts:\n  - initial: [{s: 0}]\n", "contexts[0].weight: required field is missing"},
    {"context_unknown", HEAD "contexts:\n  - weight: 1\n    rewards: []\n", ":9: contexts[0].rewards: unknown field"},
    {"initial_empty", HEAD "contexts:\n  - weight: 1\n    initial: []\n", ":9: contexts[0].initial: must list at least one state"},
    {"initial_missing", HEAD "contexts:\n  - weight: 1\n    transitions: []\n", "contexts[0].initial: required field is missing"},
    {"initial_duplicate", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}, {s: 0}]\n", "contexts[0].initial[1]: state 0 is listed twice"},
    {"transitions_not_list", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: 5\n",
     ":10: contexts[0].transitions: expected a list"},
    {"transition_not_mapping", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [[0, 0, 1]]\n",
     "contexts[0].transitions[0]: expected a mapping"},
    {"transition_state_range", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 9, a: 0, next: 1}]\n",
     "contexts[0].transitions[0].s: 9 is out of range [0, 2]"},
    {"transition_action_range", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 2, next: 1}]\n",
     "contexts[0].transitions[0].a: 2 is out of range [0, 1]"},
    {"transition_next_missing", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 0}]\n",
     "contexts[0].transitions[0].next: required field is missing"},
    {"transition_duplicate", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 0, next: 1}, {s: 0, a: 0, next: 1}]\n",
     "contexts[0].transitions[1]: transition s=0 a=0 next=1 is listed twice"},
    {"transition_unknown_key", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 0, next: 1, weight: 1}]\n",
     "contexts[0].transitions[0].weight: unknown field"},
    {"missing_transition",
     HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions:\n      - {s: 0, a: 0, next: 1}\n",
     ":11: contexts[0].transitions: state 0 action 1 is not terminal but has no transition"},
    {"coef_length", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0, coef: [1, 2, 3]}]\n",
     "contexts[0].initial[0].coef: has 3 entries, expected dim = 2"},
    {"coef_text", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0, coef: [1, x]}]\n",
     "contexts[0].initial[0].coef[1]: expected a number, got 'x'"},
    {"coef_scalar", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0, coef: 1}]\n", "contexts[0].initial[0].coef: expected a list"},
    {"reward_no_value", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS "    reward: [{s: 0, a: 0}]\n",
     "contexts[0].reward[0].value: required field is missing"},
    {"reward_duplicate", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS "    reward: [{s: 0, a: 0, value: 1}, {s: 0, a: 0, value: 2}]\n",
     "contexts[0].reward[1]: s=0 a=0 is listed twice"},
    {"leader_reward_nan", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS "    leader_reward: [{s: 0, a: 0, value: NaN}]\n",
     "contexts[0].leader_reward[0].value: 'NaN' is not a finite number"},
    {"terminal_range", HEAD "terminal: [7]\n" CTX, ":7: terminal[0]: 7 is out of range [0, 2]"},
    {"terminal_scalar", HEAD "terminal: 2\n" CTX, ":7: terminal: expected a list"},
    {"syntax_error", HEAD "contexts: [\n", "YAML syntax error"},
    {"bad_indent", "format: cbrl-tabular-1\n states: 3\n", ":2: YAML syntax error"},
    {"alias_in_unknown_key", HEAD "base: &b {s: 0}\ncontexts:\n  - weight: 1\n    initial: [*b]\n", ":7: base: unknown field"},
    {"billion_laughs",
     "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
     ":4: YAML aliases expand the document to 8.31e+03 nodes"},
    {"alias_cycle", HEAD "contexts:\n  - &c\n    weight: 1\n    initial: [*c]\n", ":10: alias *c inside its own anchor: a cycle"},
    {"alias_too_deep", "a: &a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
     "b: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     ":2: nesting deeper than 64 levels once alias *a is expanded"},
    {"merge_not_mapping", HEAD "contexts:\n  - <<: 5\n    weight: 1\n", ":8: contexts[0].<<: a merge key takes a mapping"},
    {"merge_unknown_key", HEAD "contexts:\n  - <<: {weight: 1, colour: red}\n", ":8: contexts[0].colour: unknown field"},
    {"tab_indent", "format: cbrl-tabular-1\n\tstates: 3\n", "YAML syntax error"},
    /* Issue 13 class 1: a stream of more than one document is refused, not cut to the first. */
    {"two_documents", HEAD CTX "---\n" HEAD CTX, ":18: a second YAML document"},
    {"second_document_empty", HEAD CTX "---\n", ":18: a second YAML document"},
    {"second_document_after_end_marker", HEAD CTX "...\n---\nstates: 4\n", ":19: a second YAML document"},
    {"three_documents", "---\na: 1\n---\nb: 2\n---\nc: 3\n", ":3: a second YAML document"},
    {"second_document_broken", HEAD CTX "---\n[unclosed\n", ":18: a second YAML document"},
    /* Class 2: overflow is still refused. */
    {"lambda_overflow_negative", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: -1e400\n",
     ":6: lambda: '-1e400' is not a finite number"},
    {"weight_overflow", HEAD "contexts:\n  - weight: 2e308\n", ":8: contexts[0].weight: '2e308' is not a finite number"},
    /* Class 3: a discount too close to 1 for a usable solve. */
    {"gamma_1_minus_1e-15", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.999999999999999\n",
     ":5: gamma: 1 - 9.99e-16 is too close to 1"},
    {"gamma_1_minus_1e-10", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9999999999\n",
     ":5: gamma: 1 - 1e-10 is too close to 1"},
    {"gamma_1_minus_1e-5", "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.99999\n",
     ":5: gamma: 1 - 1e-05 is too close to 1"},
    {"leader_gamma_1_minus_1e-9", HEAD "leader_gamma: 0.999999999\n" CTX, ":7: leader_gamma: 1 - 1e-09 is too close to 1"},
    /* Probabilities and contexts from a distribution (docs/PROBLEM_FILES.md). */
    {"prob_rows_sum", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 0, next: 1, prob: 0.5}, {s: 0, a: 0, next: 2, prob: 0.4}]\n",
     ":10: contexts[0].transitions[0]: the probabilities of P(.|s=0, a=0) sum to 0.9, not 1"},
    {"prob_and_logit", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 0, next: 1, prob: 0.5}, {s: 0, a: 0, next: 2}]\n",
     ":10: contexts[0].transitions[0]: P(.|s=0, a=0) mixes prob and logit"},
    {"prob_both", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0, prob: 1, logit: 0}]\n",
     ":9: contexts[0].initial[0]: gives both logit and prob"},
    {"prob_zero", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0, prob: 0}, {s: 1, prob: 1}]\n",
     ":9: contexts[0].initial[0].prob: 0: a probability must be positive"},
    {"initial_sum", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0, prob: 0.7}, {s: 1, prob: 0.7}]\n",
     ":9: contexts[0].initial[0]: the probabilities of mu sum to 1.4, not 1"},
    {"expression_without_theta", HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS "    reward: [{s: 0, a: 0, value: 2 * 3}]\n",
     ":11: contexts[0].reward[0].value: expected a number, got '2 * 3'"},
    {"theta_negative_prob", HEAD "theta: {distribution: normal, nodes: 8}\ncontexts:\n  - weight: 1\n    initial: [{s: 0}]\n"
     "    transitions: [{s: 0, a: 0, next: 1, prob: 0.5 + 0.3 * theta}, {s: 0, a: 0, next: 2, prob: 0.5 - 0.3 * theta}]\n",
     ":11: contexts[0].transitions[0].prob: -0.743364 at theta"},
    {"theta_negative_prob_node", HEAD "theta: {distribution: normal, nodes: 8}\ncontexts:\n  - weight: 1\n    initial: [{s: 0}]\n"
     "    transitions: [{s: 0, a: 0, next: 1, prob: 0.5 + 0.3 * theta}, {s: 0, a: 0, next: 2, prob: 0.5 - 0.3 * theta}]\n",
     "at theta = -4.14455 (node 0 of 8): a probability must be positive"},
    {"theta_prob_sum", HEAD "theta: {distribution: uniform, low: 0, high: 1, nodes: 3}\ncontexts:\n  - weight: 1\n    initial: [{s: 0}]\n"
     "    transitions: [{s: 0, a: 0, next: 1, prob: 0.5 + theta}, {s: 0, a: 0, next: 2, prob: 0.5 - theta / 2}]\n",
     ":11: contexts[0].transitions[0]: the probabilities of P(.|s=0, a=0) sum to 1.05635083269 at theta = 0.112702 (node 0 of 3), not 1"},
    {"theta_reward_nan", HEAD "theta: {distribution: normal, mean: 1, sd: 2, nodes: 4}\ncontexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS
     "    reward: [{s: 0, a: 0, value: log(theta)}]\n",
     ":12: contexts[0].reward[0].value: 'log(theta)' is undefined (NaN) at theta = -3.66883 (node 0 of 4): not a finite number"},
    {"theta_coef_inf", HEAD "theta: {distribution: uniform, low: 0, high: 1, rule: sample, draws: 5}\ncontexts:\n  - weight: 1\n    initial: [{s: 0, coef: [1 / (theta - theta), 0]}]\n",
     "contexts[0].initial[0].coef[0]: '1 / (theta - theta)' is"},
    {"theta_bad_expression", HEAD "theta: {distribution: normal, nodes: 4}\ncontexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS
     "    reward: [{s: 0, a: 0, value: 2 * thet}]\n",
     ":12: contexts[0].reward[0].value: expected a number or an expression in theta, got '2 * thet' (unknown name (theta, pi, exp, log, sqrt, abs) at column 5)"},
    {"theta_unclosed", HEAD "theta: {distribution: normal, nodes: 4}\ncontexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS
     "    reward: [{s: 0, a: 0, value: \"exp(theta\"}]\n",
     "got 'exp(theta' (expected ')' at column 10)"},
    {"theta_distribution", HEAD "theta: {distribution: lognormal, nodes: 4}\n" CTX, ":7: theta.distribution: unknown distribution 'lognormal' (normal, uniform)"},
    {"theta_rule", HEAD "theta: {distribution: normal, rule: halton, nodes: 4}\n" CTX, ":7: theta.rule: unknown rule 'halton' (quadrature, sample)"},
    {"theta_sd", HEAD "theta: {distribution: normal, sd: 0, nodes: 4}\n" CTX, ":7: theta.sd: must be positive, got 0"},
    {"theta_low_high", HEAD "theta: {distribution: uniform, low: 2, high: 1, nodes: 4}\n" CTX, ":7: theta: needs low < high, got low 2, high 1"},
    {"theta_nodes", HEAD "theta: {distribution: normal, nodes: 65}\n" CTX, ":7: theta.nodes: 65 is out of range [1, 64]"},
    {"theta_draws", HEAD "theta: {distribution: normal, rule: sample, draws: 1}\n" CTX, ":7: theta.draws: 1 is out of range [2, 100000]"},
    {"theta_foreign_field", HEAD "theta: {distribution: normal, nodes: 4, low: 0}\n" CTX, ":7: theta.low: does not belong to a normal theta with rule quadrature"},
    {"theta_seed_quadrature", HEAD "theta: {distribution: normal, nodes: 4, seed: 1}\n" CTX, ":7: theta.seed: does not belong"},
    {"theta_no_nodes", HEAD "theta: {distribution: normal}\n" CTX, ":7: theta.nodes: required field is missing"},
};

static void malformed_files_are_rejected_with_their_place(void **state) {
  char err[512], want[640];
  int n = (int)(sizeof bad_cases / sizeof bad_cases[0]);
  for (int i = 0; i < n; i++) {
    const char *path = write_file(bad_cases[i].name, bad_cases[i].text, strlen(bad_cases[i].text));
    cbrl_problem *p = NULL;
    int rc = cbrl_tabular_load(&p, path, err, sizeof err);
    if (rc != CBRL_EPARSE) fail_msg("%s: expected CBRL_EPARSE, got %d", bad_cases[i].name, rc);
    assert_null(p);
    snprintf(want, sizeof want, "%s%s", path, bad_cases[i].expect);
    const char *want_text = bad_cases[i].expect[0] == ':' ? want : bad_cases[i].expect;
    if (!strstr(err, want_text) || strncmp(err, path, strlen(path)) != 0 || strchr(err, '\n'))
      fail_msg("%s: error '%s' does not contain '%s'", bad_cases[i].name, err, want_text);
  }
  print_message("%d malformed files rejected\n", n);
}

static void deep_nesting_non_utf8_directories_and_missing_files(void **state) {
  char err[512];
  cbrl_problem *p = NULL;
  char deep[400];
  memset(deep, '[', 300);
  deep[300] = 0;
  const char *path = write_file("deep", deep, 300);
  assert_int_equal(cbrl_tabular_load(&p, path, err, sizeof err), CBRL_EPARSE);
  assert_non_null(strstr(err, ":1: nesting deeper than 64 levels"));
  const char latin1[] = "format: cbrl-tabular-1\nstates: 3\nname: caf\xe9\n";
  path = write_file("latin1", latin1, sizeof latin1 - 1);
  assert_int_equal(cbrl_tabular_load(&p, path, err, sizeof err), CBRL_EPARSE);
  assert_non_null(strstr(err, "YAML syntax error"));
  assert_int_equal(cbrl_tabular_load(&p, dir, err, sizeof err), CBRL_EPARSE);
  assert_non_null(strstr(err, ": is a directory, not a file"));
  assert_int_equal(cbrl_tabular_load(&p, "/nonexistent/problem.yaml", err, sizeof err), CBRL_EPARSE);
  assert_string_equal(err, "/nonexistent/problem.yaml: cannot open: No such file or directory");
  assert_int_equal(cbrl_tabular_load(&p, "/nonexistent", NULL, 0), CBRL_EPARSE);
  assert_null(p);
}

/* Issue 13 class 2: subnormal and underflowing literals are representable numbers (strtod's
   ERANGE on underflow is not overflow). */
static void subnormal_numbers_are_accepted(void **state) {
  const char *values[] = {"1e-320", "4.9e-324", "1e-400", "-1e-310", "2.2250738585072014e-308"};
  const double expect[] = {1e-320, 4.9e-324, 0.0, -1e-310, 2.2250738585072014e-308};
  char err[512], text[1024];
  for (int i = 0; i < 5; i++) {
    snprintf(text, sizeof text, HEAD "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS
             "    reward: [{s: 0, a: 0, value: %s}]\n    leader_reward: [{s: 1, a: 1, value: 1, coef: [%s, 0]}]\n",
             values[i], values[i]);
    const char *path = write_file("subnormal", text, strlen(text));
    cbrl_problem *p = NULL;
    int rc = cbrl_tabular_load(&p, path, err, sizeof err);
    if (rc) fail_msg("%s: refused: %s", values[i], err);
    cbrl_mdp m;
    assert_ok(cbrl_mdp_init(&m, p, 0));
    double x[2] = {1.0, 0.0};
    assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
    if (m.r[0] != expect[i]) fail_msg("%s: r = %g, expected %g", values[i], m.r[0], expect[i]);
    cbrl_mdp_close(&m);
    cbrl_problem_free(p);
  }
}

/* Class 3: discounts up to cbrl_discount_max load, solve and give the closed form; beyond it
   the loader refuses and the solver answers CBRL_ENOCONV. A two-state cycle with reward 1 in
   state 0 only and one action: V(0) = 1 / (1 - gamma^2). */
static void discounts_near_one_are_solved_or_refused(void **state) {
  const double gammas[] = {0.9, 0.999, 0.9999, 0.99998};
  char err[512], text[1024];
  for (int i = 0; i < 4; i++) {
    snprintf(text, sizeof text,
             "format: cbrl-tabular-1\nstates: 2\nactions: 1\ndim: 1\ngamma: %.17g\nlambda: 0.5\ncontexts:\n"
             "  - weight: 1\n    initial: [{s: 0}]\n    transitions: [{s: 0, a: 0, next: 1}, {s: 1, a: 0, next: 0}]\n"
             "    reward: [{s: 0, a: 0, value: 1}]\n",
             gammas[i]);
    const char *path = write_file("discount", text, strlen(text));
    cbrl_problem *p = NULL;
    if (cbrl_tabular_load(&p, path, err, sizeof err)) fail_msg("gamma %.17g: %s", gammas[i], err);
    assert_ok(cbrl_problem_validate(p));
    cbrl_mdp m;
    cbrl_soft_solver w;
    double x[1] = {0.0};
    assert_ok(cbrl_mdp_init(&m, p, 0));
    assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
    assert_ok(cbrl_soft_solver_init(&w, 2, 1));
    assert_ok(cbrl_soft_solver_solve(&w, &m, p->gamma, p->lambda));
    double g = gammas[i], want = 1.0 / (1.0 - g * g);
    if (fabs(w.v[0] - want) > 1e-6 * want) fail_msg("gamma %.17g: V(0) = %.17g, expected %.17g", g, w.v[0], want);
    /* The same MDP at a discount beyond the limit is not solved. */
    const double beyond[] = {1.0 - 1e-15, 1.0 - 1e-8, 1.0 - 1e-5};
    for (int j = 0; j < 3; j++) {
      if (cbrl_soft_solver_solve(&w, &m, beyond[j], p->lambda) != CBRL_ENOCONV)
        fail_msg("gamma 1 - %g was solved", 1.0 - beyond[j]);
      double v[2];
      if (cbrl_soft_solver_evaluate(&w, &m, beyond[j], m.r, v) != CBRL_ENOCONV)
        fail_msg("gamma 1 - %g was evaluated", 1.0 - beyond[j]);
      p->gamma = beyond[j];
      assert_int_equal(cbrl_problem_validate(p), CBRL_ERANGE);
      p->gamma = g;
      p->leader_gamma = beyond[j];
      assert_int_equal(cbrl_problem_validate(p), CBRL_ERANGE);
      p->leader_gamma = g;
    }
    cbrl_soft_solver_close(&w);
    cbrl_mdp_close(&m);
    cbrl_problem_free(p);
  }
  assert_true(cbrl_discount_max(4) > 0.99998 && cbrl_discount_max(4) < 0.99999);
  assert_true(cbrl_discount_max(100000000) < cbrl_discount_max(4));
}

/* Class 5: a pipe is read once and parsed like the file. */
/* F and its gradient of a problem at x, by the exact solver. */
static double value_and_gradient(const cbrl_problem *p, const double *x, double *g) {
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double F;
  assert_ok(cbrl_exact_evaluate(e, x, &F, NULL, g));
  cbrl_exact_free(e);
  return F;
}

/* Two contexts that differ in one reward, written out and with an anchor, an alias and a merge
   key: the same problem. */
static void aliases_and_merge_keys_expand_to_the_same_problem(void **state) {
  const char *plain = HEAD "contexts:\n"
                      "  - {weight: 0.5, initial: [{s: 0}], reward: [{s: 1, a: 0, value: 1, coef: [1, 0]}],\n" TRANS
                      "    }\n"
                      "  - {weight: 0.5, initial: [{s: 0}], reward: [{s: 1, a: 0, value: 2, coef: [1, 0]}],\n" TRANS
                      "    }\n";
  const char *aliased = HEAD "contexts:\n"
                        "  - &low {weight: 0.5, initial: [{s: 0}], reward: [{s: 1, a: 0, value: 1, coef: [1, 0]}],\n" TRANS
                        "    }\n"
                        "  - <<: *low\n"
                        "    reward: [{s: 1, a: 0, value: 2, coef: [1, 0]}]\n";
  char err[512];
  cbrl_problem *a, *b;
  if (cbrl_tabular_load(&a, write_file("plain", plain, strlen(plain)), err, sizeof err)) fail_msg("%s", err);
  if (cbrl_tabular_load(&b, write_file("aliased", aliased, strlen(aliased)), err, sizeof err)) fail_msg("%s", err);
  double x[2] = {0.3, -0.2}, ga[2], gb[2];
  assert_close(value_and_gradient(a, x, ga), value_and_gradient(b, x, gb), 1e-14, 0);
  for (int j = 0; j < 2; j++) assert_close(ga[j], gb[j], 1e-13, 1e-15);
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, b, 1));
  assert_ok(cbrl_mdp_evaluate(&m, b, 1, x));
  assert_close(m.r[2], 2.0 + 0.3, 1e-15, 0); /* the merge's own reward overrides the anchor's */
  cbrl_mdp_close(&m);
  cbrl_problem_free(a);
  cbrl_problem_free(b);
}

/* bounds reach the problem; transforms make the mechanism that value + coef . T(x) gives. */
static void bounds_and_transforms_are_loaded(void **state) {
  const char *text = "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: 0.5\n"
                     "bounds:\n  - {x: 0, low: -1, high: 2}\n  - {x: 1, high: 3}\n"
                     "transforms:\n  - {kind: range, x: 0, low: 0, high: 4}\n  - {kind: softmax, x: [0, 1], scale: 2}\n"
                     "  - {kind: softplus, x: 1}\n"
                     "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS
                     "    reward: [{s: 1, a: 0, value: 1, coef: [1, 0.5, 0, 0]}]\n"
                     "    leader_reward: [{s: 0, a: 1, value: 0, coef: [0, 0, 1, 2]}]\n";
  char err[512];
  cbrl_problem *p;
  if (cbrl_tabular_load(&p, write_file("transformed", text, strlen(text)), err, sizeof err)) fail_msg("%s", err);
  assert_int_equal(p->dim, 2);
  assert_true(cbrl_bounds_present(p));
  assert_close(p->x_lower[0], -1.0, 0, 0);
  assert_close(p->x_upper[0], 2.0, 0, 0);
  assert_true(isinf(p->x_lower[1]) && p->x_lower[1] < 0);
  assert_close(p->x_upper[1], 3.0, 0, 0);
  double x[2] = {0.4, -0.6};
  cbrl_mdp m;
  assert_ok(cbrl_mdp_init(&m, p, 0));
  assert_ok(cbrl_mdp_evaluate(&m, p, 0, x));
  double range = 4.0 / (1.0 + exp(-0.4)), sm0 = 2.0 * exp(0.4) / (exp(0.4) + exp(-0.6));
  double sm1 = 2.0 - sm0, sp = log1p(exp(-0.6));
  assert_close(m.r[2], 1.0 + range + 0.5 * sm0, 1e-14, 0);
  assert_close(m.rbar[1], sm1 + 2.0 * sp, 1e-14, 0);
  cbrl_mdp_close(&m);
  /* The gradient through the transforms against central differences of F. */
  double g[2], gp[2], F0 = value_and_gradient(p, x, g);
  (void)F0;
  for (int j = 0; j < 2; j++) {
    double h = 1e-5, xp[2] = {x[0], x[1]}, xm[2] = {x[0], x[1]};
    xp[j] += h, xm[j] -= h;
    double fd = (value_and_gradient(p, xp, gp) - value_and_gradient(p, xm, gp)) / (2 * h);
    assert_close(g[j], fd, 1e-6, 1e-8);
  }
  cbrl_problem_free(p);
}

/* examples/contract_two_types.yaml is the problem env/contract.c builds with the same options. */
static void contract_example_equals_the_environment(void **state) {
  char err[512];
  cbrl_problem *a, *b;
  if (cbrl_tabular_load(&a, CBRL_SOURCE_DIR "/examples/contract_two_types.yaml", err, sizeof err)) fail_msg("%s", err);
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  o.n_stages = 2, o.repeat = 1, o.participation = 1, o.n_types = 2, o.budget = 3.0;
  o.type_weight[0] = o.type_weight[1] = 0.5;
  for (int e = 0; e < 3; e++) o.effort_cost[1][e] = 1.5 * o.effort_cost[0][e];
  o.outside_option[0] = 0.1, o.outside_option[1] = 0.2;
  assert_ok(cbrl_contract_create(&b, &o));
  assert_int_equal(a->dim, b->dim);
  for (int j = 0; j < a->dim; j++) {
    assert_close(a->x_lower[j], b->x_lower[j], 0, 0);
    assert_close(a->x_upper[j], b->x_upper[j], 0, 0);
  }
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2, 2);
  for (int t = 0; t < 3; t++) {
    double x[6], ga[6], gb[6];
    for (int j = 0; j < 6; j++) x[j] = 3.0 * cbrl_rng_uniform(&rng);
    assert_close(value_and_gradient(a, x, ga), value_and_gradient(b, x, gb), 1e-12, 1e-14);
    for (int j = 0; j < 6; j++) assert_close(ga[j], gb[j], 1e-9, 1e-12);
  }
  cbrl_problem_free(a);
  cbrl_problem_free(b);
}

/* The log-normal contract template (examples/contract_lognormal.yaml) is the contract environment
   with continuous types, at 16 Gauss-Hermite nodes and as a fixed sample; the sample's F is
   reported with its standard error, and its exact gradient matches finite differences. */
static void theta_templates_equal_the_continuous_contract(void **state) {
  char err[512];
  FILE *f = fopen(CBRL_SOURCE_DIR "/examples/contract_lognormal.yaml", "rb");
  assert_non_null(f);
  static char text[16384], sampled[16384];
  size_t len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[len] = 0;
  const char *quad = "rule: quadrature   # or: rule: sample, draws: 200, seed: 0 (F is then a sample average)\n  nodes: 16";
  char *at = strstr(text, quad);
  assert_non_null(at);
  snprintf(sampled, sizeof sampled, "%.*srule: sample\n  draws: 40\n  seed: 7%s", (int)(at - text), text, at + strlen(quad));
  for (int rule = 0; rule < 2; rule++) {
    const char *body = rule ? sampled : text;
    cbrl_problem *a, *b;
    cbrl_tabular_info info;
    if (cbrl_tabular_load_info(&a, &info, write_file("lognormal", body, strlen(body)), err, sizeof err))
      fail_msg("%s", err);
    int n = rule ? 40 : 16;
    assert_int_equal(info.sampled, 1);
    assert_int_equal(info.rule, rule ? CBRL_CONTEXTS_SAMPLE : CBRL_CONTEXTS_QUADRATURE);
    assert_int_equal(info.n_templates, 1);
    assert_int_equal(info.n_nodes, n);
    assert_int_equal(a->n_contexts, n);
    cbrl_contract_opts o;
    cbrl_contract_opts_default(&o);
    o.n_stages = 2, o.repeat = 1, o.participation = 1, o.budget = 3.0, o.outside_option[0] = 0.1;
    o.type_sigma = 0.5, o.n_types = n, o.type_rule = rule ? CBRL_CONTEXTS_SAMPLE : CBRL_CONTEXTS_QUADRATURE;
    o.type_seed = 7;
    assert_ok(cbrl_contract_create(&b, &o));
    assert_int_equal(b->n_contexts, n);
    for (int k = 0; k < n; k++) assert_close(a->context_weight[k], b->context_weight[k], 1e-15, 0);
    double x[6] = {0.1, 0.2, 1.4, 0.0, 0.3, 1.6}, ga[6], gb[6];
    assert_close(value_and_gradient(a, x, ga), value_and_gradient(b, x, gb), 1e-12, 1e-14);
    for (int j = 0; j < 6; j++) assert_close(ga[j], gb[j], 1e-9, 1e-12);
    if (rule) {
      /* F is the sample average of the per-type f, its standard error sd(f) / sqrt(n). */
      cbrl_exact *e;
      assert_ok(cbrl_exact_create(&e, a));
      double F, fc[40], mean = 0.0, ss = 0.0;
      assert_ok(cbrl_exact_evaluate(e, x, &F, fc, NULL));
      for (int k = 0; k < n; k++) mean += fc[k] / n;
      for (int k = 0; k < n; k++) ss += (fc[k] - mean) * (fc[k] - mean);
      assert_close(F, mean, 1e-13, 0);
      double se = cbrl_tabular_standard_error(a, &info, fc);
      assert_close(se, sqrt(ss / (n - 1) / n), 1e-12, 0);
      assert_true(se > 1e-4); /* the types differ */
      for (int j = 0; j < 6; j++) assert_close(ga[j], test_fd(e, x, 6, j, 1e-4), 1e-6, 1e-8);
      cbrl_exact_free(e);
    } else {
      double fc[16];
      assert_close(cbrl_tabular_standard_error(a, &info, fc), 0.0, 0, 0); /* quadrature: F is exact */
    }
    cbrl_tabular_info_free(&info);
    assert_null(info.theta);
    cbrl_problem_free(a);
    cbrl_problem_free(b);
  }
}

/* A leader reward polynomial in theta: n nodes integrate it exactly up to degree 2n - 1, for
   normal and uniform theta, and two templates take the product weights. */
static void theta_quadrature_is_exact_for_polynomials(void **state) {
  const char *fmt = "format: cbrl-tabular-1\nstates: 1\nactions: 1\ndim: 1\ngamma: 0.5\nlambda: 1\nterminal: [0]\n"
                    "theta: {distribution: %s, %s, nodes: %d}\n"
                    "contexts:\n  - weight: 0.25\n    initial: [{s: 0}]\n    transitions: []\n"
                    "    leader_reward: [{s: 0, a: 0, value: theta^3 + 2 * theta**2 - theta, coef: [theta]}]\n"
                    "  - weight: 0.75\n    initial: [{s: 0}]\n    transitions: []\n    leader_reward: [{s: 0, a: 0, value: 1, coef: [2]}]\n";
  /* normal(1, 0.5): E[t] = 1, E[t^2] = 1.25, E[t^3] = 1.75; uniform(0, 2): 1, 4/3, 2. */
  const double want[2] = {0.25 * (1.75 + 2.5 - 1.0) + 0.75, 0.25 * (2.0 + 8.0 / 3.0 - 1.0) + 0.75};
  const char *dist[2] = {"normal", "uniform"}, *par[2] = {"mean: 1, sd: 0.5", "low: 0, high: 2"};
  for (int d = 0; d < 2; d++) {
    for (int n = 1; n <= 3; n++) {
      char text[1024], err[512];
      snprintf(text, sizeof text, fmt, dist[d], par[d], n);
      cbrl_problem *p;
      if (cbrl_tabular_load(&p, write_file("poly", text, strlen(text)), err, sizeof err)) fail_msg("%s", err);
      assert_int_equal(p->n_contexts, 2 * n);
      double x[1] = {0.5}, g[1];
      double F = value_and_gradient(p, x, g);
      /* grad F = 0.25 E[theta] + 0.75 * 2, exact from one node on. */
      assert_close(g[0], 0.25 * 1.0 + 1.5, 1e-12, 0);
      double Fx = want[d] + x[0] * (0.25 + 1.5);
      if (n >= 2) assert_close(F, Fx, 1e-12, 0);
      else assert_true(fabs(F - Fx) > 0.05); /* one node is the mean only: degree 1 */
      cbrl_problem_free(p);
    }
  }
}

/* The arithmetic of templates (run/expression.c): with one node at theta = 1.5 the leader's F is
   the expression's value there, checked against C's own arithmetic. */
static void theta_expressions_follow_the_usual_rules(void **state) {
  const double t = 1.5;
  const struct {
    const char *text;
    double want;
  } cases[] = {
      {"1 + 2 * 3", 7.0},          {"(1 + 2) * 3", 9.0},        {"-theta^2", -(t * t)},
      {"2^-1", 0.5},               {"2 ** 3 ** 2", 512.0},      {"theta / 2 / 3", t / 6.0},
      {"10 - 4 - 3", 3.0},         {"exp(log(theta))", t},      {"sqrt(abs(-4)) * pi", 2.0 * 3.14159265358979323846},
      {"1.5e1 - .5", 14.5},        {"- - theta", t},            {"exp(0.5 * theta) * 0.4", 0.4 * exp(0.5 * t)},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[1024], err[512];
    snprintf(text, sizeof text,
             "format: cbrl-tabular-1\nstates: 1\nactions: 1\ndim: 1\ngamma: 0.5\nlambda: 1\nterminal: [0]\n"
             "theta: {distribution: normal, mean: %g, sd: 1, nodes: 1}\n"
             "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n    transitions: []\n"
             "    leader_reward: [{s: 0, a: 0, value: \"%s\"}]\n", t, cases[i].text);
    cbrl_problem *p;
    if (cbrl_tabular_load(&p, write_file("expr", text, strlen(text)), err, sizeof err)) fail_msg("%s: %s", cases[i].text, err);
    double x[1] = {0.0}, g[1];
    double F = value_and_gradient(p, x, g);
    if (fabs(F - cases[i].want) > 1e-14 * fabs(cases[i].want)) fail_msg("'%s' gives %.17g, not %.17g", cases[i].text, F, cases[i].want);
    cbrl_problem_free(p);
  }
}

/* An objective section gives the problem the objective the C API builds from the same data. */
static void objectives_are_loaded(void **state) {
  const char *head = "format: cbrl-tabular-1\nstates: 3\nactions: 2\ndim: 2\ngamma: 0.9\nlambda: 0.5\n";
  const char *ctx = "contexts:\n  - weight: 1\n    initial: [{s: 0}]\n" TRANS
                    "    reward: [{s: 1, a: 0, value: 1, coef: [1, 0]}, {s: 2, a: 1, value: 0, coef: [0, 1]}]\n";
  const char *objectives[3] = {
      "objective:\n  kind: welfare\n  kappa: 0.7\n  output: [{s: 0, a: 1, value: 1.0}, {s: 1, a: 0, value: 3.0}]\n",
      "objective:\n  kind: cross-entropy\n  target: [{s: 1, probs: [0.9, 0.1]}, {s: 2, probs: [0.3, 0.7]}]\n",
      "objective:\n  kind: preferences\n  beta: 0.5\n  pairs:\n    - {weight: 2, preferred: [[0, 1], [0, 0]], rejected: [[0, 0]]}\n"};
  double y[6] = {0, 1.0, 3.0, 0, 0, 0};
  double t[6] = {0.5, 0.5, 0.9, 0.1, 0.3, 0.7}, rho[3] = {0, 0.5, 0.5};
  int ps[2] = {0, 0}, pa[2] = {1, 0}, rs[1] = {0}, ra[1] = {0};
  cbrl_preference pair = {0, 2.0, {2, ps, pa}, {1, rs, ra}};
  for (int i = 0; i < 3; i++) {
    char text[2048], err[512];
    snprintf(text, sizeof text, "%s%s%s", head, objectives[i], ctx);
    cbrl_problem *a, *b;
    if (cbrl_tabular_load(&a, write_file("objective", text, strlen(text)), err, sizeof err)) fail_msg("%s", err);
    snprintf(text, sizeof text, "%s%s", head, ctx);
    if (cbrl_tabular_load(&b, write_file("plain", text, strlen(text)), err, sizeof err)) fail_msg("%s", err);
    cbrl_objective *o;
    if (i == 0) assert_ok(cbrl_objective_welfare_create(&o, b, y, 0.7));
    if (i == 1) assert_ok(cbrl_objective_cross_entropy_create(&o, b, t, 0, rho));
    if (i == 2) assert_ok(cbrl_objective_preferences_create(&o, b, &pair, 1, 0.5, NULL, NULL));
    assert_ok(cbrl_problem_set_objective(b, o));
    assert_int_equal(a->objective->kind, b->objective->kind);
    double x[2] = {0.3, -0.4}, ga[2], gb[2];
    assert_close(value_and_gradient(a, x, ga), value_and_gradient(b, x, gb), 1e-13, 1e-15);
    for (int j = 0; j < 2; j++) assert_close(ga[j], gb[j], 1e-12, 1e-14);
    cbrl_problem_free(a);
    cbrl_problem_free(b);
  }
}

static void problem_from_a_pipe_equals_the_file(void **state) {
  char err[512], fifo[128], cmd[512];
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  unlink(fifo);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  snprintf(cmd, sizeof cmd, "cat '%s/examples/chain.yaml' > '%s' &", CBRL_SOURCE_DIR, fifo);
  assert_int_equal(system(cmd), 0);
  cbrl_problem *piped = NULL, *file = NULL;
  if (cbrl_tabular_load(&piped, fifo, err, sizeof err)) fail_msg("fifo: %s", err);
  assert_ok(cbrl_tabular_load(&file, CBRL_SOURCE_DIR "/examples/chain.yaml", err, sizeof err));
  assert_int_equal(piped->n_states, file->n_states);
  assert_int_equal(piped->n_contexts, file->n_contexts);
  assert_true(piped->gamma == file->gamma && piped->leader_gamma == file->leader_gamma);
  cbrl_problem_free(piped);
  cbrl_problem_free(file);
  /* A pipe with nothing in it is empty, and a pipe with a bad problem gives its line. */
  snprintf(cmd, sizeof cmd, "printf 'format: cbrl-tabular-1\nstates: x\n' > '%s' &", fifo);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(cbrl_tabular_load(&piped, fifo, err, sizeof err), CBRL_EPARSE);
  if (!strstr(err, "fifo:2: states: expected an integer")) fail_msg("'%s'", err);
  snprintf(cmd, sizeof cmd, ": > '%s' &", fifo);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(cbrl_tabular_load(&piped, fifo, err, sizeof err), CBRL_EPARSE);
  if (!strstr(err, "fifo: empty file")) fail_msg("'%s'", err);
  unlink(fifo);
}

/* The shipped example, built again through the affine API, gives the same F and gradient. */
static void example_file_equals_the_problem_built_in_c(void **state) {
  char err[512];
  cbrl_problem *file;
  int rc = cbrl_tabular_load(&file, CBRL_SOURCE_DIR "/examples/chain.yaml", err, sizeof err);
  if (rc) fail_msg("%s", err);
  cbrl_problem *p;
  assert_ok(cbrl_affine_create(&p, 4, 2, 3, 2));
  p->gamma = 0.9, p->leader_gamma = 0.95, p->lambda = 0.5;
  p->context_weight[0] = 0.6, p->context_weight[1] = 0.4;
  const double e0[3] = {1, 0, 0}, e1[3] = {0, 1, 0}, e2[3] = {0, 0, 1}, c02[3] = {0, 0.2, 0};
  const double m05[3] = {-0.5, 0, 0}, h05[3] = {0.5, 0, 0}, m03[3] = {0, 0, -0.3};
  assert_ok(cbrl_affine_set_terminal(p, 3));
  assert_ok(cbrl_affine_add_initial(p, 0, 0, 0.0, e2));
  assert_ok(cbrl_affine_add_initial(p, 0, 1, -1.0, NULL));
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 0, 0, 0, NULL));
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 1, 1, 0.3, c02));
  assert_ok(cbrl_affine_add_transition(p, 0, 0, 1, 0, 0, NULL));
  assert_ok(cbrl_affine_add_transition(p, 0, 1, 0, 0, 0, NULL));
  assert_ok(cbrl_affine_add_transition(p, 0, 1, 1, 2, 0, e1));
  assert_ok(cbrl_affine_add_transition(p, 0, 1, 1, 1, 0, NULL));
  assert_ok(cbrl_affine_add_transition(p, 0, 2, 0, 1, 0, NULL));
  assert_ok(cbrl_affine_add_transition(p, 0, 2, 1, 3, 0, NULL));
  assert_ok(cbrl_affine_set_reward(p, 0, 0, 1, -0.1, e0));
  assert_ok(cbrl_affine_set_reward(p, 0, 1, 1, -0.1, e0));
  assert_ok(cbrl_affine_set_reward(p, 0, 3, 0, 1.0, NULL));
  assert_ok(cbrl_affine_set_reward(p, 0, 3, 1, 1.0, NULL));
  assert_ok(cbrl_affine_set_leader_reward(p, 0, 2, 1, 1.0, NULL));
  assert_ok(cbrl_affine_set_leader_reward(p, 0, 0, 1, 0.0, m05));
  assert_ok(cbrl_affine_add_initial(p, 1, 0, 0.0, NULL));
  const int t1[6][3] = {{0, 0, 1}, {0, 1, 1}, {1, 0, 2}, {1, 1, 0}, {2, 0, 3}, {2, 1, 2}};
  for (int i = 0; i < 6; i++) assert_ok(cbrl_affine_add_transition(p, 1, t1[i][0], t1[i][1], t1[i][2], 0, NULL));
  assert_ok(cbrl_affine_set_reward(p, 1, 1, 0, 0.2, h05));
  assert_ok(cbrl_affine_set_reward(p, 1, 3, 0, 2.0, NULL));
  assert_ok(cbrl_affine_set_leader_reward(p, 1, 2, 0, 1.0, m03));
  assert_ok(cbrl_affine_finalize(p, NULL, NULL, NULL));

  cbrl_exact *ea, *eb;
  assert_ok(cbrl_exact_create(&ea, file));
  assert_ok(cbrl_exact_create(&eb, p));
  double x[3] = {0.1, -0.4, 0.2}, Fa, Fb, ga[3], gb[3];
  assert_ok(cbrl_exact_evaluate(ea, x, &Fa, NULL, ga));
  assert_ok(cbrl_exact_evaluate(eb, x, &Fb, NULL, gb));
  assert_close(Fa, Fb, 1e-13, 1e-15);
  for (int j = 0; j < 3; j++) {
    assert_close(ga[j], gb[j], 1e-12, 1e-14);
    assert_close(ga[j], test_fd(ea, x, 3, j, 1e-3), 1e-7, 1e-9);
  }
  cbrl_exact_free(ea);
  cbrl_exact_free(eb);
  cbrl_problem_free(file);
  cbrl_problem_free(p);
}

static int remove_dir(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(malformed_files_are_rejected_with_their_place),
      cmocka_unit_test(deep_nesting_non_utf8_directories_and_missing_files),
      cmocka_unit_test(example_file_equals_the_problem_built_in_c),
      cmocka_unit_test(subnormal_numbers_are_accepted),
      cmocka_unit_test(discounts_near_one_are_solved_or_refused),
      cmocka_unit_test(problem_from_a_pipe_equals_the_file),
      cmocka_unit_test(aliases_and_merge_keys_expand_to_the_same_problem),
      cmocka_unit_test(bounds_and_transforms_are_loaded),
      cmocka_unit_test(contract_example_equals_the_environment),
      cmocka_unit_test(objectives_are_loaded),
      cmocka_unit_test(theta_templates_equal_the_continuous_contract),
      cmocka_unit_test(theta_quadrature_is_exact_for_polynomials),
      cmocka_unit_test(theta_expressions_follow_the_usual_rules),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
