/* Tests for run/env_registry.c: every environment is found by name, builds its problem,
   offers its simulators, starts where it should and reports its named values. */
#include "test_util.h"

#include <string.h>

#include "cbrl/run/env_registry.h"

static void every_environment_builds_its_problem(void **state) {
  static const char *const names[8] = {"four-rooms", "random", "tax-design", "file", "contract", "optimal-tax",
                                       "rlhf", "rlhf-dpo"};
  assert_int_equal(cbrl_env_count(), 8);
  assert_null(cbrl_env_find("mars"));
  for (int i = 0; i < 8; i++) {
    const cbrl_env *e = cbrl_env_find(names[i]);
    assert_non_null(e);
    assert_ptr_equal(e, cbrl_env_at(i));
    assert_string_equal(cbrl_env_name(e), names[i]);
    assert_non_null(strstr(cbrl_env_names(), names[i]));
    cbrl_env_params p;
    cbrl_env_params_default(&p);
    p.problem = CBRL_SOURCE_DIR "/examples/chain.yaml";
    p.states = 20, p.actions = 3, p.dim = 4, p.tax_bins = 20;
    cbrl_problem *prob;
    char err[256] = "";
    assert_int_equal(cbrl_env_create(e, &p, &prob, err, sizeof err), 0);
    assert_int_equal(cbrl_problem_validate(prob), 0);
    cbrl_problem_free(prob);
  }
  /* Errors name the environment. */
  cbrl_env_params p;
  cbrl_env_params_default(&p);
  p.states = 0;
  cbrl_problem *prob;
  char err[256] = "";
  assert_int_not_equal(cbrl_env_create(cbrl_env_find("random"), &p, &prob, err, sizeof err), 0);
  assert_null(prob);
  assert_true(!strncmp(err, "random: ", 8));
}

static void simulators_are_offered_per_environment(void **state) {
  const cbrl_env *fr = cbrl_env_find("four-rooms"), *tax = cbrl_env_find("tax-design");
  const cbrl_env *rnd = cbrl_env_find("random"), *file = cbrl_env_find("file");
  int consistent = cbrl_simulator_id("consistent"), paper = cbrl_simulator_id("paper-code"),
      continuous = cbrl_simulator_id("continuous");
  assert_true(cbrl_env_offers(fr, consistent) && cbrl_env_offers(fr, paper) && !cbrl_env_offers(fr, continuous));
  assert_true(cbrl_env_offers(tax, consistent) && cbrl_env_offers(tax, continuous) && !cbrl_env_offers(tax, paper));
  assert_true(cbrl_env_offers(rnd, consistent) && !cbrl_env_offers(rnd, paper) && !cbrl_env_offers(rnd, continuous));
  assert_true(cbrl_env_offers(file, consistent) && !cbrl_env_offers(file, paper));
  assert_false(cbrl_simulator_supports(continuous, CBRL_ALG_HPGD_RTQ));
  assert_true(cbrl_simulator_supports(continuous, CBRL_ALG_HPGD_BATCH));
  /* Every simulator but "consistent" is an object of the environment's, made from the problem. */
  cbrl_env_params p;
  cbrl_env_params_default(&p);
  cbrl_problem *a;
  char err[256];
  assert_int_equal(cbrl_env_create(fr, &p, &a, err, sizeof err), 0);
  cbrl_simulator *sim = (cbrl_simulator *)1;
  assert_int_equal(cbrl_env_simulator_create(fr, consistent, a, &sim), 0);
  assert_null(sim);
  assert_int_equal(cbrl_env_simulator_create(fr, paper, a, &sim), 0);
  assert_non_null(sim);
  cbrl_simulator_free(sim);
  assert_int_equal(cbrl_env_simulator_create(fr, continuous, a, &sim), CBRL_EINVAL);
  assert_null(sim);
  cbrl_problem_free(a);
  p.simulator = continuous;
  assert_int_not_equal(cbrl_env_create(fr, &p, &a, err, sizeof err), 0);
  p.tax_bins = 20;
  assert_int_equal(cbrl_env_create(tax, &p, &a, err, sizeof err), 0);
  assert_int_equal(cbrl_env_simulator_create(tax, continuous, a, &sim), 0);
  assert_non_null(sim);
  cbrl_simulator_free(sim);
  cbrl_problem_free(a);
}

static void tax_design_starts_at_rate_0_3_and_reports_its_economy(void **state) {
  const cbrl_env *tax = cbrl_env_find("tax-design"), *fr = cbrl_env_find("four-rooms");
  cbrl_env_params p;
  cbrl_env_params_default(&p);
  p.tax_bins = 20;
  cbrl_problem *prob;
  char err[256];
  assert_int_equal(cbrl_env_create(tax, &p, &prob, err, sizeof err), 0);
  assert_true(cbrl_env_has_default_x(tax));
  double x[CBRL_TAX_DIM], want[CBRL_TAX_DIM], tau[CBRL_TAX_DIM];
  cbrl_env_default_x(tax, prob, x);
  cbrl_tax_x_for_rate(0.3, want);
  for (int j = 0; j < CBRL_TAX_DIM; j++) assert_true(x[j] == want[j]);
  const char *const *names;
  assert_int_equal(cbrl_env_report_names(tax, &names), 8);
  assert_string_equal(names[0], "income_tax");
  assert_string_equal(names[6], "revenue");
  cbrl_env_report *r;
  double values[CBRL_ENV_REPORT_MAX];
  assert_int_equal(cbrl_env_report_open(tax, prob, &r), 0);
  assert_non_null(r);
  assert_int_equal(cbrl_env_report_compute(r, x, values), 0);
  cbrl_tax_rates(x, tau);
  for (int j = 0; j < 4; j++) assert_close(values[j], tau[j], 1e-15, 0);
  assert_true(values[6] > 0.0); /* revenue */
  cbrl_env_report_close(r);
  cbrl_problem_free(prob);
  /* Four-Rooms: no start of its own (zeros) and no report. */
  cbrl_env_params_default(&p);
  assert_int_equal(cbrl_env_create(fr, &p, &prob, err, sizeof err), 0);
  assert_false(cbrl_env_has_default_x(fr));
  double *x0 = malloc(sizeof(double) * (size_t)prob->dim);
  x0[0] = 1.0;
  cbrl_env_default_x(fr, prob, x0);
  for (int j = 0; j < prob->dim; j++) assert_true(x0[j] == 0.0);
  free(x0);
  assert_int_equal(cbrl_env_report_names(fr, &names), 0);
  assert_int_equal(cbrl_env_report_open(fr, prob, &r), 0);
  assert_null(r);
  cbrl_problem_free(prob);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_environment_builds_its_problem),
      cmocka_unit_test(simulators_are_offered_per_environment),
      cmocka_unit_test(tax_design_starts_at_rate_0_3_and_reports_its_economy),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
