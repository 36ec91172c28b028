/* The environment registry: one entry per shipped environment (docs/ENVIRONMENTS.md). A new
   environment is one more entry here; the config, sweep, store and plots need no change. */
#include "cbrl/run/env_registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/run/problem_file.h"
#include "env_internal.h"
#include "preference_file.h"

/* ---- simulators ----------------------------------------------------------------------- */

enum { SIM_CONSISTENT, SIM_PAPER_CODE, SIM_CONTINUOUS, N_SIMULATORS };

/* Positions are ids and enter the random streams: append only. */
static const char *const simulator_names[N_SIMULATORS] = {"consistent", "paper-code", "continuous"};

int cbrl_simulator_id(const char *name) {
  for (int i = 0; name && i < N_SIMULATORS; i++)
    if (!strcmp(name, simulator_names[i])) return i;
  return -1;
}

const char *cbrl_simulator_name(int simulator) {
  return simulator >= 0 && simulator < N_SIMULATORS ? simulator_names[simulator] : simulator_names[0];
}

const char *cbrl_simulator_names(void) { return "consistent, paper-code, continuous"; }

int cbrl_simulator_has_kernel(int simulator) { return simulator != SIM_CONTINUOUS; }

int cbrl_simulator_supports(int simulator, cbrl_algorithm a) {
  /* RT-Q's follower learns from a generative model of the tabular kernel only. */
  return !(simulator == SIM_CONTINUOUS && a == CBRL_ALG_HPGD_RTQ);
}

/* ---- the four environments ------------------------------------------------------------ */

static int failed(const char *name, int rc, char *err, size_t err_size) {
  if (rc) snprintf(err, err_size, "%s: %s", name, cbrl_strerror(rc));
  return rc;
}

static int four_rooms_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  cbrl_four_rooms_opts o;
  cbrl_four_rooms_opts_default(&o);
  o.beta = p->beta;
  return failed("four-rooms", cbrl_four_rooms_create(out, &o), err, err_size);
}

static int random_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = (int)p->states;
  o.n_actions = (int)p->actions;
  o.dim = (int)p->dim;
  o.n_contexts = (int)p->contexts;
  o.branch = (int)p->branch;
  o.seed = (uint64_t)p->problem_seed;
  return failed("random", cbrl_random_problem_create(out, &o), err, err_size);
}

static int tax_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  cbrl_tax_opts o;
  cbrl_tax_opts_default(&o);
  o.n_bins = (int)p->tax_bins;
  o.paper_code_gradient = p->tax_paper_code;
  return failed("tax-design", cbrl_tax_create(out, &o), err, err_size);
}

static int contract_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  (void)p;
  cbrl_contract_opts o;
  cbrl_contract_opts_default(&o);
  return failed("contract", cbrl_contract_create(out, &o), err, err_size);
}

/* The contract starts from a bonus of 2 on success: zero payments are a local optimum (the agent
   shirks and a small bonus buys nothing, docs/ENVIRONMENTS.md 5). */
static void contract_default_x(const cbrl_problem *p, double *x) { x[p->dim - 1] = 2.0; }

static int optimal_tax_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  (void)p;
  cbrl_optimal_tax_opts o;
  cbrl_optimal_tax_opts_default(&o);
  return failed("optimal-tax", cbrl_optimal_tax_create(out, &o), err, err_size);
}

/* The labour economy starts, like tax design, at every rate 0.3. */
static void optimal_tax_default_x(const cbrl_problem *p, double *x) {
  for (int j = 0; j < p->dim; j++) x[j] = 0.3;
}

static int rlhf_create_objective(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size,
                                 cbrl_rlhf_objective objective) {
  cbrl_rlhf_opts o;
  cbrl_rlhf_opts_default(&o);
  o.seed = (uint64_t)p->problem_seed;
  o.objective = objective;
  cbrl__preference_file f = {0};
  if (p->preferences && p->preferences[0]) {
    int rc = cbrl__preference_file_load(p->preferences, &f, err, err_size);
    if (rc) return rc;
    o.vocab = f.vocab, o.length = f.length, o.n_prompts = f.prompts;
    o.n_pairs = f.n_pairs, o.pairs = f.pairs;
  }
  int rc = cbrl_rlhf_create(out, &o, err, err_size);
  cbrl__preference_file_close(&f);
  return rc;
}

static int rlhf_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  return rlhf_create_objective(p, out, err, err_size, CBRL_RLHF_KL_SCORE);
}

static int rlhf_dpo_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  return rlhf_create_objective(p, out, err, err_size, CBRL_RLHF_PREFERENCES);
}

/* The leader starts at x = 0, where the follower is pi_ref. */
static void rlhf_default_x(const cbrl_problem *p, double *x) { (void)p, (void)x; }

static const char *const rlhf_report_names[] = {"heldout_loglik", "train_loglik", "heldout_accuracy", "cosine",
                                                "kl", "optimum_gap", "heldout_gap", "truth_heldout_loglik"};

typedef struct rlhf_report {
  cbrl_exact *exact;
  double F_star, heldout_star; /* at the exact optimum of the problem's objective */
  double truth_heldout;        /* at the hidden weights theta*: the data's own model */
} rlhf_report;

static int rlhf_report_open(const cbrl_problem *p, void **state) {
  rlhf_report *r = calloc(1, sizeof *r);
  double x[CBRL_RLHF_MAX_DIM];
  cbrl_rlhf_fit fit;
  double F_star = NAN;
  int rc = r ? cbrl_exact_create(&r->exact, p) : CBRL_ENOMEM, found = 0;
  /* Pairs the features separate have no finite optimum: the gaps are then left unstored. */
  if (!rc && !(rc = cbrl_rlhf_optimum(p, x, &F_star))) found = 1;
  if (rc == CBRL_ENOCONV) rc = 0;
  if (r) r->F_star = r->heldout_star = NAN;
  if (found && !rc && !(rc = cbrl_rlhf_fit_compute(p, r->exact, x, &fit))) {
    r->F_star = F_star;
    r->heldout_star = fit.heldout_loglik;
  }
  if (!rc) rc = cbrl_rlhf_true_weights(p, x);
  if (!rc) rc = cbrl_rlhf_fit_compute(p, r->exact, x, &fit);
  if (rc) {
    if (r) cbrl_exact_free(r->exact);
    free(r);
    return rc;
  }
  r->truth_heldout = fit.heldout_loglik;
  *state = r;
  return 0;
}

/* The follower's fit to the preference data at x, and the gaps to the exact optimum. */
static int rlhf_report_compute(const cbrl_problem *p, void *state, const double *x, double *values) {
  rlhf_report *r = state;
  cbrl_rlhf_fit fit;
  double F;
  int rc = cbrl_rlhf_fit_compute(p, r->exact, x, &fit);
  if (!rc) rc = cbrl_exact_evaluate(r->exact, x, &F, NULL, NULL);
  if (rc && rc != CBRL_ENOCONV) return rc;
  values[0] = fit.heldout_loglik, values[1] = fit.train_loglik, values[2] = fit.heldout_accuracy;
  values[3] = fit.cosine, values[4] = fit.kl, values[5] = r->F_star - F;
  values[6] = r->heldout_star - fit.heldout_loglik, values[7] = r->truth_heldout;
  return 0;
}

static void rlhf_report_close(void *state) {
  rlhf_report *r = state;
  if (r) cbrl_exact_free(r->exact);
  free(r);
}

static int file_create(const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  return cbrl_tabular_load(out, p->problem, err, err_size);
}

/* Tax design starts, as the paper does, at every rate 0.3. */
static void tax_default_x(const cbrl_problem *p, double *x) { cbrl_tax_x_for_rate(0.3, x); }

static const char *const tax_report_names[] = {"income_tax", "vat1", "vat2", "vat3", "household_value",
                                               "household_spread", "revenue", "assets"};

static int tax_report_open(const cbrl_problem *p, void **state) {
  return cbrl_exact_create((cbrl_exact **)state, p);
}

/* The rates and the economy under the households' responses at x. */
static int tax_report_compute(const cbrl_problem *p, void *state, const double *x, double *values) {
  cbrl_tax_report rep;
  int rc = cbrl_tax_report_compute(p, state, x, &rep);
  if (rc) return rc;
  memcpy(values, rep.rates, sizeof rep.rates);
  values[4] = rep.value_mean;
  values[5] = rep.value_spread;
  values[6] = rep.revenue_mean;
  values[7] = rep.assets_mean;
  return 0;
}

static void tax_report_close(void *state) { cbrl_exact_free(state); }

static const cbrl__env_curves tax_curves[] = {
    {"tax_rates", "rate", "tax rates", 4, {"income_tax", "vat1", "vat2", "vat3"},
     {"income", "VAT 1", "VAT 2", "VAT 3"}, .flag_above = 1.0},
    {"households", "value", "households and revenue", 3, {"household_value", "household_spread", "revenue"},
     {"J (mean)", "J spread", "revenue"}, .lower = 0x2, .axis2 = "J spread"},
};

static const char *const four_rooms_fields[] = {"beta", NULL};
static const char *const random_fields[] = {"states", "actions", "dim", "contexts", "branch", "problem_seed", NULL};
static const char *const tax_fields[] = {"tax_bins", NULL};
static const char *const file_fields[] = {"problem", NULL};
static const char *const contract_fields[] = {NULL};
static const char *const optimal_tax_fields[] = {NULL};
static const char *const rlhf_fields[] = {"problem_seed", "preferences", NULL};

static const cbrl_env envs[] = {
    {.name = "four-rooms", .title = "Four-Rooms", .fields = four_rooms_fields, .n_simulators = 2,
     .simulators = {SIM_CONSISTENT, SIM_PAPER_CODE}, .create = four_rooms_create,
     .map_prefix = "penalty_map", .map_dump = "penalty_maps.txt", .map = cbrl__four_rooms_map},
    {.name = "random", .title = "random", .fields = random_fields, .n_simulators = 1, .simulators = {SIM_CONSISTENT},
     .create = random_create},
    {.name = "tax-design", .title = "tax-design", .fields = tax_fields, .n_simulators = 2, .simulators = {SIM_CONSISTENT, SIM_CONTINUOUS},
     .create = tax_create, .default_x = tax_default_x, .n_report = 8, .report_names = tax_report_names,
     .report_open = tax_report_open, .report_compute = tax_report_compute, .report_close = tax_report_close,
     .n_curves = 2, .curves = tax_curves},
    {.name = "file", .title = "file", .fields = file_fields, .n_simulators = 1, .simulators = {SIM_CONSISTENT},
     .create = file_create},
    {.name = "contract", .title = "contract", .fields = contract_fields, .n_simulators = 1,
     .simulators = {SIM_CONSISTENT}, .create = contract_create, .default_x = contract_default_x},
    {.name = "optimal-tax", .title = "optimal tax", .fields = optimal_tax_fields, .n_simulators = 1,
     .simulators = {SIM_CONSISTENT}, .create = optimal_tax_create, .default_x = optimal_tax_default_x},
    {.name = "rlhf", .title = "RLHF", .fields = rlhf_fields, .n_simulators = 1, .simulators = {SIM_CONSISTENT},
     .create = rlhf_create, .default_x = rlhf_default_x, .n_report = 8, .report_names = rlhf_report_names,
     .report_open = rlhf_report_open, .report_compute = rlhf_report_compute, .report_close = rlhf_report_close},
    {.name = "rlhf-dpo", .title = "RLHF (DPO form)", .fields = rlhf_fields, .n_simulators = 1,
     .simulators = {SIM_CONSISTENT}, .create = rlhf_dpo_create, .default_x = rlhf_default_x, .n_report = 8,
     .report_names = rlhf_report_names, .report_open = rlhf_report_open, .report_compute = rlhf_report_compute,
     .report_close = rlhf_report_close},
};
#define N_ENVS (int)(sizeof envs / sizeof envs[0])

/* ---- lookups -------------------------------------------------------------------------- */

void cbrl_env_params_default(cbrl_env_params *p) {
  memset(p, 0, sizeof *p);
  p->beta = 1.0;
  p->simulator = SIM_CONSISTENT;
  p->tax_bins = 200;
  p->states = 100, p->actions = 4, p->dim = 8, p->contexts = 2, p->branch = 5, p->problem_seed = 0;
}

const cbrl_env *cbrl_env_find(const char *name) {
  for (int i = 0; name && i < N_ENVS; i++)
    if (!strcmp(envs[i].name, name)) return &envs[i];
  return NULL;
}

int cbrl_env_count(void) { return N_ENVS; }

const cbrl_env *cbrl_env_at(int i) { return i >= 0 && i < N_ENVS ? &envs[i] : NULL; }

const char *cbrl_env_names(void) { return "four-rooms, random, tax-design, file, contract, optimal-tax, rlhf, rlhf-dpo"; }

const char *cbrl_env_name(const cbrl_env *e) { return e->name; }

int cbrl_env_takes(const cbrl_env *e, const char *field) {
  for (const char *const *f = e->fields; *f; f++)
    if (!strcmp(*f, field)) return 1;
  return 0;
}

int cbrl_env_offers(const cbrl_env *e, int simulator) {
  for (int i = 0; i < e->n_simulators; i++)
    if (e->simulators[i] == simulator) return 1;
  return 0;
}

int cbrl_env_create(const cbrl_env *e, const cbrl_env_params *p, cbrl_problem **out, char *err, size_t err_size) {
  *out = NULL;
  if (!cbrl_env_offers(e, p->simulator)) {
    snprintf(err, err_size, "%s: no simulator %s", e->name, cbrl_simulator_name(p->simulator));
    return CBRL_EINVAL;
  }
  return e->create(p, out, err, err_size);
}

int cbrl_env_has_default_x(const cbrl_env *e) { return e->default_x != NULL; }

void cbrl_env_default_x(const cbrl_env *e, const cbrl_problem *p, double *x) {
  memset(x, 0, sizeof(double) * (size_t)p->dim);
  if (e->default_x) e->default_x(p, x);
}

/* ---- simulator objects ---------------------------------------------------------------- */

int cbrl_env_simulator_create(const cbrl_env *e, int simulator, const cbrl_problem *p, cbrl_simulator **out) {
  *out = NULL;
  if (!cbrl_env_offers(e, simulator)) return CBRL_EINVAL;
  /* The one place a simulator's name becomes the environment's simulator object. */
  if (simulator == SIM_PAPER_CODE) return cbrl_four_rooms_paper_sim_create(out, p);
  if (simulator == SIM_CONTINUOUS) return cbrl_tax_continuous_create(out, p);
  return 0;
}

/* ---- reports -------------------------------------------------------------------------- */

struct cbrl_env_report {
  const cbrl_env *env;
  const cbrl_problem *problem;
  void *state;
};

int cbrl_env_report_names(const cbrl_env *e, const char *const **names) {
  *names = e->report_names;
  return e->n_report;
}

int cbrl_env_report_open(const cbrl_env *e, const cbrl_problem *p, cbrl_env_report **out) {
  *out = NULL;
  if (!e->n_report) return 0;
  cbrl_env_report *r = calloc(1, sizeof *r);
  if (!r) return CBRL_ENOMEM;
  r->env = e;
  r->problem = p;
  int rc = e->report_open(p, &r->state);
  if (rc) {
    free(r);
    return rc;
  }
  *out = r;
  return 0;
}

int cbrl_env_report_compute(cbrl_env_report *r, const double *x, double *values) {
  return r->env->report_compute(r->problem, r->state, x, values);
}

void cbrl_env_report_close(cbrl_env_report *r) {
  if (!r) return;
  r->env->report_close(r->state);
  free(r);
}
