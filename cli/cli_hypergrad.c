/* cbrl hypergrad: the exact objective and hypergradient at one x. Its flags and JSON output
   are a contract other tools depend on (issue: core library). */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/cbrl.h"
#include "cbrl/run/env_registry.h"
#include "cbrl/run/follower_process.h"
#include "cbrl/run/problem_file.h"
#include "cbrl/run/store.h"
#include "cli.h"

static const char hypergrad_usage[] =
    "Usage:\n"
    "  cbrl hypergrad --problem FILE [--x v1,v2,...] [--lambda L] [--json]\n"
    "  cbrl hypergrad --env four-rooms [--beta B] [--lambda L] [--x v1,...|--x-seed N] [--json]\n"
    "  cbrl hypergrad --env random --states S --actions A --dim D --contexts K --branch B\n"
    "                 --seed N [--x ...] [--lambda L] [--json]\n"
    "  cbrl hypergrad --env tax-design [--lambda L] [--x w_I,w_1,w_2,w_3] [--bins N] [--json]\n"
    "\n"
    "Computes the leader objective F(x) = sum_xi q_xi f(x, pi*_{x,xi}, xi) exactly (soft best\n"
    "response, then policy evaluation) and its gradient in adjoint mode.\n"
    "\n"
    "Options:\n"
    "  --problem FILE   a cbrl-tabular-1 problem file (YAML); x defaults to zeros\n"
    "  --env NAME       four-rooms, random, tax-design, contract, optimal-tax, rlhf or rlhf-dpo\n"
    "                   (docs/ENVIRONMENTS.md); tax design:\n"
    "                   x = (w_I, w_1, w_2, w_3), rates tau = 2 sigmoid(w), default x at\n"
    "                   every rate 0.3, lambda 0.2\n"
    "  --bins N         tax-design: asset grid resolution (default 200)\n"
    "  --x LIST         leader parameters, comma-separated, exactly d of them\n"
    "  --x-from DIR:RUN the x of run RUN of the sweep stored in DIR, at its last stored iteration\n"
    "                   (give the same problem and lambda the run used)\n"
    "  --x-seed N       Four-Rooms only: draw x ~ N(0, 0.01^2) from seed N (default 0)\n"
    "  --lambda L       follower temperature (overrides the file; Four-Rooms default 0.003)\n"
    "  --beta B         Four-Rooms upper-level regularisation (default 1)\n"
    "  --states S, --actions A, --dim D, --contexts K, --branch B, --seed N\n"
    "                   random-problem generator (docs/ENVIRONMENTS.md)\n"
    "  --problem-seed N random, rlhf, rlhf-dpo: the seed that draws the problem (config\n"
    "                   problem_seed; default: --seed for random, 0 for rlhf)\n"
    "  --tol T          follower solver tolerance (default 1e-11, relative to max|Q|)\n"
    "  --estimator E    exact (default), hpgd (unbiased), hpgd-batch, hpgd-critic (docs/MODEL.md),\n"
    "                   zero-order or amd; stochastic ones average --samples\n"
    "                   estimates, each for a context drawn from the weights, and add\n"
    "                   \"stderr\" (standard error of the mean) to the JSON: null with one\n"
    "                   sample, and for a coordinate whose estimates were all equal\n"
    "                   (\"stderr_undefined\" says why)\n"
    "  --samples N      estimates to average (hpgd 10000, hpgd-batch 20, zero-order 1000)\n"
    "  --seed S         random seed of the estimator (and, with --env random, of the problem)\n"
    "  --steps N        hpgd-batch, hpgd-critic: environment steps per estimate (10000, as 5\n"
    "                   streams; 60000 with --estimator-variant paper-code)\n"
    "  --critic C       hpgd-critic: auto (default: features where the problem has them),\n"
    "                   tabular, features or model (docs/MODEL.md 4.1c)\n"
    "  --folds K        hpgd-critic: folds of episodes (default 2)\n"
    "  --score S        hpgd-critic: sampled (default) or expected, the grad P terms in\n"
    "                   expectation over the next state from the model's kernel (docs/MODEL.md 4.1c)\n"
    "  --baseline B     hpgd-batch, hpgd-critic: on or off, the V*(s) baseline of the score term\n"
    "                   (default off for hpgd-batch, on for hpgd-critic)\n"
    "  --estimator-variant V  hpgd-batch: spec (default) or paper-code, the paper's tax code's\n"
    "                   estimator (docs/MODEL.md 4.1d)\n"
    "  --simulator S    hpgd or hpgd-batch: where trajectories come from, the names configs use\n"
    "                   (docs/CONFIG.md): consistent (default; the model's own kernel),\n"
    "                   paper-code (four-rooms: the paper's code's kernel, intended move 0.67)\n"
    "                   or continuous (tax-design: assets in [-100, 100], truncated-normal\n"
    "                   noise, the household acting on the bin that holds its assets);\n"
    "                   'tabular' is still accepted for consistent until the next release\n"
    "  --zo-u U         zero-order smoothing radius u (default 0.001)\n"
    "  --amd-updates K  amd: synchronous table updates from initialisation (default 2000)\n"
    "  --estimator rtq  RT-Q (docs/MODEL.md): the follower learns by soft Q-learning from a\n"
    "                   generative model, to a random level k of --levels K (2^k iterations)\n"
    "  --levels K       rtq: the deepest level (default 6)\n"
    "  --follower F     hpgd, hpgd-batch: exact (default) or soft-q, a follower trained by\n"
    "                   soft Q-learning for --follower-iterations M (default 1024) per estimate\n"
    "                   from Q = 0; the JSON then adds \"follower_samples\" per estimate\n"
    "  --follower-command CMD  hpgd, hpgd-batch: the follower is the process CMD (program and\n"
    "                   arguments), speaking docs/FOLLOWER_PROTOCOL.md; one process answers\n"
    "                   every estimate, its stderr passed through prefixed [follower PID]\n"
    "  --follower-mode M  serve (default: cbrl serves reset/step, the follower answers its\n"
    "                   policy) or trajectories (it brings a batch; hpgd-batch only)\n"
    "  --follower-steps N  serve: environment steps the follower may take per estimate (10000)\n"
    "  --follower-max-steps M  serve: served episodes are truncated at M steps (200; 0: never)\n"
    "  --follower-timeout S  seconds to wait for each of its messages (30)\n"
    "  --max-memory M   refuse sizes whose estimated memory exceeds M (512M, 4G; default\n"
    "                   half the physical memory)\n"
    "  --json           print {\"F\", \"grad\", \"F_per_context\", \"dim\", \"inputs\"} as one JSON\n"
    "                   object; \"inputs\" echoes every parameter used (lambda, beta, x, ...);\n"
    "                   numbers are the shortest decimals that read back exactly\n"
    "  -h, --help       show this help\n"
    "\n"
    "Examples:\n"
    "  cbrl hypergrad --env four-rooms --beta 3 --json\n"
    "  cbrl hypergrad --env random --states 50 --actions 4 --dim 8 --contexts 2 --branch 5 --seed 1\n"
    "  cbrl hypergrad --problem examples/chain.yaml --x 0.1,0,0.2\n"
    "  cbrl hypergrad --env four-rooms --estimator hpgd-batch --samples 50 --seed 1 --json\n"
    "  cbrl hypergrad --env tax-design --estimator hpgd-batch --simulator continuous --samples 20\n"
    "\n"
    "Exit status: 0 on success, 2 on bad input, 1 if the computation failed (a non-finite F,\n"
    "gradient or standard error included), 128 + the signal if SIGINT or SIGTERM stopped it.\n";

enum {
  OPT_PROBLEM = 256, OPT_ENV, OPT_X, OPT_X_SEED, OPT_LAMBDA, OPT_BETA, OPT_STATES, OPT_ACTIONS,
  OPT_DIM, OPT_CONTEXTS, OPT_BRANCH, OPT_SEED, OPT_JSON, OPT_TOL, OPT_ESTIMATOR, OPT_SAMPLES,
  OPT_STEPS, OPT_ZO_U, OPT_AMD_UPDATES, OPT_LEVELS, OPT_FOLLOWER, OPT_FOLLOWER_ITERATIONS, OPT_BINS,
  OPT_SIMULATOR, OPT_X_FROM, OPT_MAX_MEMORY, OPT_FOLLOWER_COMMAND, OPT_FOLLOWER_MODE, OPT_FOLLOWER_STEPS,
  OPT_FOLLOWER_MAX_STEPS, OPT_FOLLOWER_TIMEOUT, OPT_CRITIC, OPT_FOLDS, OPT_BASELINE, OPT_VARIANT, OPT_SCORE, OPT_PROBLEM_SEED, OPT_HELP
};

static const cli_opt hypergrad_options[] = {
    {"problem", 1, OPT_PROBLEM, 0},     {"env", 1, OPT_ENV, 0},
    {"x", 1, OPT_X, 0},                 {"x-seed", 1, OPT_X_SEED, 0},
    {"lambda", 1, OPT_LAMBDA, 0},       {"beta", 1, OPT_BETA, 0},
    {"states", 1, OPT_STATES, 0},       {"actions", 1, OPT_ACTIONS, 0},
    {"dim", 1, OPT_DIM, 0},             {"contexts", 1, OPT_CONTEXTS, 0},
    {"branch", 1, OPT_BRANCH, 0},       {"seed", 1, OPT_SEED, 0},
    {"json", 0, OPT_JSON, 0},           {"tol", 1, OPT_TOL, 0},
    {"estimator", 1, OPT_ESTIMATOR, 0}, {"samples", 1, OPT_SAMPLES, 0},
    {"steps", 1, OPT_STEPS, 0},         {"zo-u", 1, OPT_ZO_U, 0},
    {"amd-updates", 1, OPT_AMD_UPDATES, 0}, {"levels", 1, OPT_LEVELS, 0},
    {"follower", 1, OPT_FOLLOWER, 0},   {"bins", 1, OPT_BINS, 0},
    {"follower-iterations", 1, OPT_FOLLOWER_ITERATIONS, 0},
    {"simulator", 1, OPT_SIMULATOR, 0}, {"x-from", 1, OPT_X_FROM, 0},
    {"max-memory", 1, OPT_MAX_MEMORY, 0},
    {"follower-command", 1, OPT_FOLLOWER_COMMAND, 0}, {"follower-mode", 1, OPT_FOLLOWER_MODE, 0},
    {"follower-steps", 1, OPT_FOLLOWER_STEPS, 0}, {"follower-max-steps", 1, OPT_FOLLOWER_MAX_STEPS, 0},
    {"follower-timeout", 1, OPT_FOLLOWER_TIMEOUT, 0},
    {"critic", 1, OPT_CRITIC, 0},
    {"folds", 1, OPT_FOLDS, 0},         {"baseline", 1, OPT_BASELINE, 0},
    {"estimator-variant", 1, OPT_VARIANT, 0}, {"score", 1, OPT_SCORE, 0},
    {"problem-seed", 1, OPT_PROBLEM_SEED, 0},
    {"help", 0, OPT_HELP, 'h'},         {0, 0, 0, 0}};

typedef struct args {
  const char *problem, *env, *x_text, *x_from;
  long x_seed, states, actions, dim, contexts, branch, seed, problem_seed;
  int have_problem_seed, have_x_seed, have_lambda, have_beta, have_random[6], json;
  double lambda, beta, tol;
  int stochastic;         /* estimator other than exact */
  cbrl_algorithm estimator;
  long samples, steps, amd_updates, levels, follower_iterations;
  double zo_u;
  int soft_q, have_levels, have_follower_iterations, have_bins;
  int simulator; /* a simulator id (cbrl_simulator_id); 0, consistent: the model's own kernel */
  long bins;
  const char *follower_command; /* an external follower, or NULL */
  cbrl_process_mode follower_mode;
  long follower_steps, follower_max_steps;
  double follower_timeout;
  int have_process_flag;
  cbrl_hpgd_critic critic;
  long folds;
  cbrl_hpgd_baseline baseline;
  cbrl_hpgd_variant variant;
  int have_steps, have_critic_opts, expected_score;
} args;

/* The estimators that take the batch options (--steps, --simulator, --follower). */
static int is_hpgd(cbrl_algorithm e) {
  return e == CBRL_ALG_HPGD || e == CBRL_ALG_HPGD_BATCH || e == CBRL_ALG_HPGD_CRITIC;
}

static int parse_args(int argc, char **argv, args *a) {
  const char *cmd = "hypergrad";
  memset(a, 0, sizeof *a);
  a->beta = 1.0;
  a->tol = -1.0;
  a->steps = 10000;
  a->zo_u = 1e-3;
  a->amd_updates = 2000;
  a->levels = 6;
  a->follower_iterations = 1024;
  a->follower_steps = 10000;
  a->follower_max_steps = 200;
  a->follower_timeout = 30.0;
  a->samples = -1;
  const char *estimator = "exact";
  cli_args av;
  cli_args_init(&av, cmd, argc, argv, hypergrad_options);
  int c;
  while ((c = cli_args_next(&av)) != CLI_ARGS_END) {
    const char *optarg = av.value;
    switch (c) {
      case OPT_PROBLEM: a->problem = optarg; break;
      case OPT_ENV: a->env = optarg; break;
      case OPT_X: a->x_text = optarg; break;
      case OPT_X_FROM: a->x_from = optarg; break;
      case OPT_X_SEED:
        if (cli_parse_int(cmd, "--x-seed", optarg, 0, 2147483647L, &a->x_seed)) return 2;
        a->have_x_seed = 1;
        break;
      case OPT_LAMBDA:
        if (cli_parse_double(cmd, "--lambda", optarg, &a->lambda)) return 2;
        if (!(a->lambda > 0.0)) return cli_usage_error(cmd, "--lambda: must be positive, got %s", optarg);
        a->have_lambda = 1;
        break;
      case OPT_BETA:
        if (cli_parse_double(cmd, "--beta", optarg, &a->beta)) return 2;
        a->have_beta = 1;
        break;
      case OPT_TOL:
        if (cli_parse_double(cmd, "--tol", optarg, &a->tol)) return 2;
        if (!(a->tol > 0.0)) return cli_usage_error(cmd, "--tol: must be positive, got %s", optarg);
        break;
      case OPT_STATES:
        if (cli_parse_int(cmd, "--states", optarg, 1, 50000000L, &a->states)) return 2;
        a->have_random[0] = 1;
        break;
      case OPT_ACTIONS:
        if (cli_parse_int(cmd, "--actions", optarg, 1, 100000L, &a->actions)) return 2;
        a->have_random[1] = 1;
        break;
      case OPT_DIM:
        if (cli_parse_int(cmd, "--dim", optarg, 1, 1000000L, &a->dim)) return 2;
        a->have_random[2] = 1;
        break;
      case OPT_CONTEXTS:
        if (cli_parse_int(cmd, "--contexts", optarg, 1, 100000L, &a->contexts)) return 2;
        a->have_random[3] = 1;
        break;
      case OPT_BRANCH:
        if (cli_parse_int(cmd, "--branch", optarg, 1, 100000L, &a->branch)) return 2;
        a->have_random[4] = 1;
        break;
      case OPT_SEED:
        if (cli_parse_int(cmd, "--seed", optarg, 0, 2147483647L, &a->seed)) return 2;
        a->have_random[5] = 1;
        break;
      case OPT_PROBLEM_SEED:
        if (cli_parse_int(cmd, "--problem-seed", optarg, 0, 2147483647L, &a->problem_seed)) return 2;
        a->have_problem_seed = 1;
        break;
      case OPT_JSON: a->json = 1; break;
      case OPT_ESTIMATOR: estimator = optarg; break;
      case OPT_SAMPLES:
        if (cli_parse_int(cmd, "--samples", optarg, 1, 100000000L, &a->samples)) return 2;
        break;
      case OPT_STEPS:
        if (cli_parse_int(cmd, "--steps", optarg, 5, 100000000L, &a->steps)) return 2;
        a->have_steps = 1;
        break;
      case OPT_CRITIC:
        if (cbrl_hpgd_critic_parse(optarg, &a->critic))
          return cli_usage_error(cmd, "--critic: expected auto, tabular, features or model, got '%s'", optarg);
        a->have_critic_opts = 1;
        break;
      case OPT_FOLDS:
        if (cli_parse_int(cmd, "--folds", optarg, 2, 64, &a->folds)) return 2;
        a->have_critic_opts = 1;
        break;
      case OPT_BASELINE:
        if (!strcmp(optarg, "on")) a->baseline = CBRL_BASELINE_ON;
        else if (!strcmp(optarg, "off")) a->baseline = CBRL_BASELINE_OFF;
        else return cli_usage_error(cmd, "--baseline: expected on or off, got '%s'", optarg);
        break;
      case OPT_SCORE:
        if (!strcmp(optarg, "expected")) a->expected_score = 1;
        else if (strcmp(optarg, "sampled")) return cli_usage_error(cmd, "--score: expected sampled or expected, got '%s'", optarg);
        a->have_critic_opts = 1;
        break;
      case OPT_VARIANT:
        if (!strcmp(optarg, "paper-code")) a->variant = CBRL_VARIANT_PAPER_CODE;
        else if (strcmp(optarg, "spec")) return cli_usage_error(cmd, "--estimator-variant: expected spec or paper-code, got '%s'", optarg);
        break;
      case OPT_AMD_UPDATES:
        if (cli_parse_int(cmd, "--amd-updates", optarg, 1, 100000000L, &a->amd_updates)) return 2;
        break;
      case OPT_BINS:
        if (cli_parse_int(cmd, "--bins", optarg, 2, 100000, &a->bins)) return 2;
        a->have_bins = 1;
        break;
      case OPT_SIMULATOR: {
        /* The registry's names, as in configs; "tabular" is the old name of "consistent",
           accepted until the next release. */
        const char *names[CBRL_SIMULATORS_MAX + 1];
        int n = 0;
        while (n < CBRL_SIMULATORS_MAX && cbrl_simulator_id(cbrl_simulator_name(n)) == n) names[n] = cbrl_simulator_name(n), n++;
        a->simulator = !strcmp(optarg, "tabular") ? cbrl_simulator_id("consistent") : cbrl_simulator_id(optarg);
        if (a->simulator < 0) return cli_unknown_value(cmd, "simulator", "simulator", optarg, names, n, cbrl_simulator_names());
        break;
      }
      case OPT_LEVELS:
        if (cli_parse_int(cmd, "--levels", optarg, 1, 30, &a->levels)) return 2;
        a->have_levels = 1;
        break;
      case OPT_FOLLOWER:
        if (!strcmp(optarg, "soft-q")) a->soft_q = 1;
        else if (strcmp(optarg, "exact")) return cli_usage_error(cmd, "--follower: expected exact or soft-q, got '%s'", optarg);
        break;
      case OPT_FOLLOWER_ITERATIONS:
        if (cli_parse_int(cmd, "--follower-iterations", optarg, 1, 1L << 30, &a->follower_iterations)) return 2;
        a->have_follower_iterations = 1;
        break;
      case OPT_FOLLOWER_COMMAND: a->follower_command = optarg; break;
      case OPT_FOLLOWER_MODE:
        if (cbrl_process_mode_parse(optarg, &a->follower_mode))
          return cli_usage_error(cmd, "--follower-mode: expected serve or trajectories, got '%s'", optarg);
        a->have_process_flag = 1;
        break;
      case OPT_FOLLOWER_STEPS:
        if (cli_parse_int(cmd, "--follower-steps", optarg, 1, 1L << 40, &a->follower_steps)) return 2;
        a->have_process_flag = 1;
        break;
      case OPT_FOLLOWER_MAX_STEPS:
        if (cli_parse_int(cmd, "--follower-max-steps", optarg, 0, 1L << 30, &a->follower_max_steps)) return 2;
        a->have_process_flag = 1;
        break;
      case OPT_FOLLOWER_TIMEOUT:
        if (cli_parse_double(cmd, "--follower-timeout", optarg, &a->follower_timeout)) return 2;
        if (!(a->follower_timeout > 0.0 && a->follower_timeout <= 86400.0))
          return cli_usage_error(cmd, "--follower-timeout: must lie in (0, 86400] seconds, got %s", optarg);
        a->have_process_flag = 1;
        break;
      case OPT_ZO_U:
        if (cli_parse_double(cmd, "--zo-u", optarg, &a->zo_u)) return 2;
        if (!(a->zo_u > 0.0)) return cli_usage_error(cmd, "--zo-u: must be positive, got %s", optarg);
        break;
      case OPT_MAX_MEMORY: { /* issue 13 class 4 */
        double bytes;
        if (cbrl_memory_parse(optarg, &bytes))
          return cli_usage_error(cmd, "--max-memory: '%s' is not a size such as 512M or 4G", optarg);
        cbrl_memory_limit_set(bytes);
        break;
      }
      case OPT_HELP: fputs(hypergrad_usage, stdout); return -1;
      case CLI_ARGS_POSITIONAL: return cli_usage_error(cmd, "unexpected argument '%s'", optarg);
      default: return CLI_EXIT_USAGE;
    }
  }
  if (!!a->problem + !!a->env != 1) return cli_usage_error(cmd, "give exactly one of --problem FILE or --env NAME");
  int is_fr = a->env && !strcmp(a->env, "four-rooms"), is_random = a->env && !strcmp(a->env, "random");
  int is_tax = a->env && !strcmp(a->env, "tax-design");
  if (a->env && (!cbrl_env_find(a->env) || !strcmp(a->env, "file"))) {
    /* The registry's environments but "file", which is --problem. */
    const char *envs[16];
    char list[256] = "";
    int n = 0;
    for (int i = 0; i < cbrl_env_count() && n < 16; i++) {
      const char *name = cbrl_env_name(cbrl_env_at(i));
      if (!strcmp(name, "file")) continue;
      envs[n++] = name;
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", n > 1 ? ", " : "", name);
    }
    return cli_unknown_value(cmd, "env", "environment", a->env, envs, n, list);
  }
  if (a->have_bins && !is_tax) return cli_usage_error(cmd, "--bins applies to --env tax-design only");
  if (a->have_x_seed && !is_fr) return cli_usage_error(cmd, "--x-seed applies to --env four-rooms only");
  const cbrl_env *env = a->env && !a->problem ? cbrl_env_find(a->env) : NULL;
  if (a->have_problem_seed && !(env && cbrl_env_takes(env, "problem_seed")))
    return cli_usage_error(cmd, "--problem-seed applies to --env random, rlhf and rlhf-dpo only");
  if ((a->x_text != NULL) + (a->x_from != NULL) + a->have_x_seed > 1)
    return cli_usage_error(cmd, "give one of --x, --x-from and --x-seed");
  if (a->have_beta && !is_fr) return cli_usage_error(cmd, "--beta applies to --env four-rooms only");
  if (!strcmp(estimator, "rtq")) estimator = "hpgd-rtq";
  if (strcmp(estimator, "exact") != 0) {
    if (cbrl_algorithm_parse(estimator, &a->estimator)) {
      static const char *const names[] = {"exact", "hpgd", "hpgd-batch", "zero-order", "amd", "rtq", "hpgd-rtq",
                                          "hpgd-critic"};
      return cli_unknown_value(cmd, "estimator", "estimator", estimator, names, 8,
                               "exact, hpgd, hpgd-batch, hpgd-critic, zero-order, amd, rtq");
    }
    a->stochastic = a->estimator != CBRL_ALG_AMD;
    if (a->estimator == CBRL_ALG_EXACT) a->stochastic = 0;
  } else {
    a->estimator = CBRL_ALG_EXACT;
  }
  if (a->simulator) {
    /* Which environments offer it comes from the registry, as for a config's simulator field. */
    const cbrl_env *env = cbrl_env_find(a->problem ? "file" : a->env);
    const char *sim = cbrl_simulator_name(a->simulator);
    char offers[128] = "";
    for (int i = 0; i < cbrl_env_count(); i++)
      if (cbrl_env_offers(cbrl_env_at(i), a->simulator) && strcmp(cbrl_env_name(cbrl_env_at(i)), "file"))
        snprintf(offers + strlen(offers), sizeof offers - strlen(offers), "%s%s", offers[0] ? ", " : "",
                 cbrl_env_name(cbrl_env_at(i)));
    if (!cbrl_env_offers(env, a->simulator))
      return cli_usage_error(cmd, "--simulator: %s applies to --env %s only", sim, offers);
    if (!is_hpgd(a->estimator))
      return cli_usage_error(cmd, "--simulator: %s applies to --estimator hpgd, hpgd-batch or hpgd-critic only", sim);
  }
  if (a->samples > 0 && !a->stochastic) return cli_usage_error(cmd, "--samples applies to stochastic estimators only");
  int hpgd = is_hpgd(a->estimator);
  if (a->have_critic_opts && a->estimator != CBRL_ALG_HPGD_CRITIC)
    return cli_usage_error(cmd, "--critic, --folds and --score apply to --estimator hpgd-critic only");
  if (a->baseline && a->estimator != CBRL_ALG_HPGD_CRITIC && a->estimator != CBRL_ALG_HPGD_BATCH)
    return cli_usage_error(cmd, "--baseline applies to --estimator hpgd-batch or hpgd-critic only");
  if (a->variant && a->estimator != CBRL_ALG_HPGD_BATCH)
    return cli_usage_error(cmd, "--estimator-variant applies to --estimator hpgd-batch only");
  if (a->variant == CBRL_VARIANT_PAPER_CODE && !a->have_steps) a->steps = 60000; /* the paper's code's */
  if (a->have_levels && a->estimator != CBRL_ALG_HPGD_RTQ) return cli_usage_error(cmd, "--levels applies to --estimator rtq only");
  if (a->soft_q && !hpgd) return cli_usage_error(cmd, "--follower applies to --estimator hpgd, hpgd-batch or hpgd-critic only");
  if (a->have_follower_iterations && !a->soft_q) return cli_usage_error(cmd, "--follower-iterations needs --follower soft-q");
  if (a->have_process_flag && !a->follower_command)
    return cli_usage_error(cmd, "--follower-mode, -steps, -max-steps and -timeout need --follower-command");
  if (a->follower_command) {
    char why[700];
    if (!hpgd) return cli_usage_error(cmd, "--follower-command applies to --estimator hpgd, hpgd-batch or hpgd-critic only");
    if (a->soft_q) return cli_usage_error(cmd, "give one of --follower soft-q and --follower-command");
    if (cbrl_follower_command_check(a->follower_command, why, sizeof why))
      return cli_usage_error(cmd, "--follower-%s", why);
    if (a->follower_mode == CBRL_PROCESS_TRAJECTORIES && a->estimator != CBRL_ALG_HPGD_BATCH)
      return cli_usage_error(cmd, "--follower-mode trajectories answers --estimator hpgd-batch only: the unbiased"
                             " estimator draws branching rollouts and the critic needs a policy table, which a"
                             " batch cannot supply");
    if (a->follower_mode == CBRL_PROCESS_TRAJECTORIES && a->simulator)
      return cli_usage_error(cmd, "--simulator: a follower that brings trajectories simulates by itself");
  }
  if (a->samples < 0)
    a->samples = a->estimator == CBRL_ALG_HPGD ? 10000
                 : a->estimator == CBRL_ALG_HPGD_BATCH || a->estimator == CBRL_ALG_HPGD_CRITIC ||
                           a->estimator == CBRL_ALG_HPGD_RTQ
                       ? 20
                       : 1000;
  static const char *const random_flags[6] = {"--states", "--actions", "--dim", "--contexts", "--branch", "--seed"};
  for (int i = 0; i < 6; i++) {
    if (is_random && !a->have_random[i]) return cli_usage_error(cmd, "--env random needs %s", random_flags[i]);
    /* --seed also seeds the estimators. */
    if (!is_random && a->have_random[i] && !(i == 5 && a->stochastic))
      return cli_usage_error(cmd, "%s applies to --env random only", random_flags[i]);
  }
  return 0;
}

/* How a --problem file's contexts were made (a theta section: quadrature or a sample). */
static cbrl_tabular_info file_info;

/* The seed that draws the problem: --problem-seed, else --seed for --env random (its old
   meaning), else 0; the estimator's seed never makes another RLHF problem. */
static long problem_seed(const args *a, const cbrl_env *env) {
  return a->have_problem_seed ? a->problem_seed : cbrl_env_takes(env, "states") ? a->seed : 0;
}

/* The problem from the environment registry, the factory `cbrl run` uses too. */
static int build_problem(const args *a, cbrl_problem **p) {
  const cbrl_env *env = cbrl_env_find(a->problem ? "file" : a->env);
  cbrl_env_params prm;
  cbrl_env_params_default(&prm);
  prm.problem = a->problem;
  prm.beta = a->beta;
  if (a->have_bins) prm.tax_bins = a->bins;
  prm.tax_paper_code = a->variant == CBRL_VARIANT_PAPER_CODE; /* the paper code's VAT reward gradient */
  prm.states = a->states, prm.actions = a->actions, prm.dim = a->dim;
  prm.contexts = a->contexts, prm.branch = a->branch, prm.problem_seed = problem_seed(a, env);
  if (!a->problem && cbrl_env_takes(env, "states") && a->states * a->actions > 200000000L)
    return cli_usage_error("hypergrad", "--states x --actions must not exceed 2e8");
  char msg[512];
  cbrl_problem_shape sh = {a->states, a->actions, a->dim, a->contexts, (double)a->states * a->actions * (a->branch < a->states ? a->branch : a->states)};
  if (!a->problem && cbrl_env_takes(env, "states") && cbrl_memory_check(cbrl_problem_memory_estimate(&sh), "--states x --actions x --contexts", msg, sizeof msg))
    return cli_usage_error("hypergrad", "%s", msg);
  /* A file is loaded as the registry's factory loads it, also reading how its contexts were made. */
  int err = a->problem ? cbrl_tabular_load_info(p, &file_info, a->problem, msg, sizeof msg)
                       : cbrl_env_create(env, &prm, p, msg, sizeof msg);
  if (err) {
    fprintf(stderr, "cbrl hypergrad: %s\n", msg);
    return err == CBRL_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
  }
  if (a->have_lambda) (*p)->lambda = a->lambda;
  return 0;
}

/* x from --x-from DIR:RUN: the x_t of a stored run's last stored iteration. */
static int stored_x(const char *spec, const cbrl_problem *p, double *x) {
  const char *cmd = "hypergrad", *colon = strrchr(spec, ':');
  char dir[1024], *end;
  long run = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || colon == spec || !colon[1] || *end || run < 0 || (size_t)(colon - spec) >= sizeof dir)
    return cli_usage_error(cmd, "--x-from: expected DIR:RUN (a sweep's output directory and a run id), got '%s'", spec);
  snprintf(dir, sizeof dir, "%.*s", (int)(colon - spec), spec);
  double *v = NULL;
  int n = 0;
  int64_t t = 0;
  char err[1200];
  int rc = cbrl_store_read_x(dir, (int)run, &v, &n, &t, err, sizeof err);
  if (rc) return rc == CBRL_ENOMEM ? (fprintf(stderr, "cbrl hypergrad: %s\n", err), CLI_EXIT_FAILURE)
                                   : cli_usage_error(cmd, "--x-from: %s", err);
  if (n != p->dim) {
    free(v);
    return cli_usage_error(cmd, "--x-from: run %ld of %s has %d parameters, the problem has %d", run, dir, n, p->dim);
  }
  memcpy(x, v, sizeof(double) * (size_t)n);
  free(v);
  return 0;
}

/* x from --x, --x-from, --x-seed, or the problem's default. */
static int initial_x(const args *a, const cbrl_problem *p, double *x) {
  if (a->x_from) return stored_x(a->x_from, p, x);
  if (a->x_text) {
    double *v;
    int n;
    if (cli_parse_list("hypergrad", "--x", a->x_text, &v, &n)) return CLI_EXIT_USAGE;
    if (n != p->dim) {
      free(v);
      return cli_usage_error("hypergrad", "--x: expected %d values (the problem's dim), got %d", p->dim, n);
    }
    memcpy(x, v, sizeof(double) * (size_t)n);
    free(v);
    return 0;
  }
  cbrl_env_default_x(cbrl_env_find(a->problem ? "file" : a->env), p, x);
  if (a->env && !strcmp(a->env, "four-rooms")) {
    cbrl_rng rng;
    cbrl_rng_seed(&rng, (uint64_t)a->x_seed, 0);
    for (int j = 0; j < p->dim; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  }
  return 0;
}

/* The standard error of the mean of n estimates of one coordinate, from their sum, their sum of
   squares and Welford's running mean and M2 (issue 13 class 12). The textbook form
   (sum2 - n mean^2) / (n - 1) is kept where it is well conditioned (it loses at most 6 of 16
   digits), so that the outputs recorded before keep their digits; where it cancels (a large mean
   with a small spread, or all estimates equal) or sum2 overflows, Welford's M2 is used. NAN
   (printed null) where the standard error cannot be estimated: fewer than 2 estimates, or all
   estimates equal (no spread was observed, which does not make the estimate exact). */
static double standard_error(double n, double sum, double sum2, double m2) {
  if (n < 2.0 || m2 == 0.0) return NAN;
  double mean = sum / n, num = sum2 - n * mean * mean;
  double var = isfinite(sum2) && num > 1e-6 * sum2 ? num / (n - 1.0) : m2 / (n - 1.0);
  return sqrt(var > 0.0 ? var / n : 0.0);
}

/* Set once estimate has printed why it failed, so that main adds no second line. */
static int failure_reported;

/* An external follower's stderr line, prefixed, to stderr. */
static void follower_stderr(void *user, const char *line) {
  (void)user;
  fprintf(stderr, "%s\n", line);
}

/* Averages --samples estimates (each for a context drawn from the weights) into grad and stderr,
   or runs AMD to convergence per context; stops with CBRL_ECANCELED once *cancel is set. Returns
   0 or a cbrl error. */
static int estimate(const args *a, const cbrl_problem *p, cbrl_exact *e, const double *x, double *grad,
                    double *stderr_out, int64_t *env_steps, int64_t *follower_samples, const volatile int *cancel) {
  int d = p->dim, err = 0;
  double *g = calloc((size_t)d, sizeof(double)), *sum2 = calloc((size_t)d, sizeof(double));
  double *wmean = calloc((size_t)d, sizeof(double)), *m2 = calloc((size_t)d, sizeof(double));
  cbrl_hpgd *h = NULL;
  cbrl_amd *amd = NULL;
  cbrl_zero_order *zo = NULL;
  cbrl_follower *follower = NULL;
  cbrl_rtq *rtq = NULL;
  cbrl_simulator *cont = NULL; /* the simulator, from the registry that maps its name */
  cbrl_batch batch = {0};      /* a trajectories follower's batch */
  cbrl_rng rng;
  cbrl_rng_seed(&rng, (uint64_t)a->seed, 1);
  memset(grad, 0, sizeof(double) * d);
  *env_steps = 0;
  *follower_samples = 0;
  if (!g || !sum2 || !wmean || !m2) {
    err = CBRL_ENOMEM;
    goto done;
  }
  if (a->estimator == CBRL_ALG_AMD) {
    if ((err = cbrl_amd_create(&amd, p))) goto done;
    cbrl_amd_set_cancel(amd, cancel);
    for (int k = 0; k < p->n_contexts && !err; k++) {
      err = cbrl_exact_context(e, k, x, NULL, NULL);
      if (err && err != CBRL_ENOCONV) goto done;
      err = cbrl_amd_step(amd, k, x, cbrl_exact_mdp(e, k), (int)a->amd_updates, g);
      for (int j = 0; j < d; j++) grad[j] += p->context_weight[k] * g[j];
    }
    goto done;
  }
  cbrl_hpgd_opts ho;
  cbrl_hpgd_opts_default(&ho);
  ho.steps = a->steps;
  if (a->estimator == CBRL_ALG_HPGD) ho.kind = CBRL_HPGD_UNBIASED, ho.steps = 0, ho.samples = 1;
  if (a->estimator == CBRL_ALG_HPGD_CRITIC) ho.kind = CBRL_HPGD_CRITIC;
  ho.critic = a->critic;
  ho.folds = (int)a->folds;
  ho.baseline = a->baseline;
  ho.variant = a->variant;
  ho.expected_score = a->expected_score;
  if (a->simulator &&
      (err = cbrl_env_simulator_create(cbrl_env_find(a->problem ? "file" : a->env), a->simulator, p, &cont)))
    goto done;
  if (is_hpgd(a->estimator)) {
    if ((err = cbrl_hpgd_create(&h, p, a->steps))) goto done;
    if (a->soft_q &&
        (err = cbrl_follower_soft_q_create(&follower, p, a->follower_iterations, CBRL_SCHEDULE_RESCALED_LINEAR)))
      goto done;
    if (a->follower_command) {
      cbrl_process_opts po = {a->follower_command, a->follower_mode, a->follower_timeout, a->follower_steps,
                              (int)a->follower_max_steps, (uint64_t)a->seed, follower_stderr, NULL};
      char why[700];
      if ((err = cbrl_follower_process_create(&follower, p, &po, why, sizeof why))) {
        fprintf(stderr, "cbrl hypergrad: %s\n", why);
        failure_reported = 1;
        goto done;
      }
      if (a->follower_mode == CBRL_PROCESS_TRAJECTORIES && (err = cbrl_batch_init(&batch, a->steps))) goto done;
    }
    if (follower) follower->cancel = cancel;
  } else if (a->estimator == CBRL_ALG_HPGD_RTQ) {
    cbrl_rtq_opts ro;
    cbrl_rtq_opts_default(&ro);
    ro.levels = (int)a->levels;
    ro.hpgd.steps = a->steps;
    ro.cancel = cancel;
    if ((err = cbrl_rtq_create(&rtq, p, &ro))) goto done;
  } else if ((err = cbrl_zero_order_create(&zo, p))) {
    goto done;
  }
  if (zo) cbrl_exact_set_cancel(cbrl_zero_order_exact(zo), cancel);
  for (long b = 0; b < a->samples; b++) {
    if (*cancel) {
      err = CBRL_ECANCELED;
      goto done;
    }
    double f0;
    int k = cbrl_problem_draw_context(p, &rng); /* the leader's own draw */
    err = cbrl_exact_context(e, k, x, &f0, NULL);
    if (err && err != CBRL_ENOCONV) goto done;
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    const cbrl_mdp *m = cbrl_exact_mdp(e, k);
    cbrl_policy pol = {m->n_states, m->n_actions, w->pi, w->log_pi};
    cbrl_estimate_info info = {0};
    if (follower && cbrl_follower_brings_trajectories(follower)) {
      cbrl_batch_request req = {ho.steps, ho.streams, ho.max_steps};
      if ((err = cbrl_follower_trajectories(follower, k, x, m, &req, &rng, &batch))) goto done;
      *follower_samples += follower->stats.samples;
    } else if (follower) {
      if ((err = cbrl_follower_respond(follower, k, x, m, cont, &rng, &pol))) goto done;
      *follower_samples += follower->stats.samples;
    }
    if (a->estimator == CBRL_ALG_HPGD_RTQ) {
      cbrl_rtq_info ri;
      err = cbrl_rtq_estimate(rtq, k, x, m, NULL, &rng, -1, 0, g, &ri);
      info.env_steps = ri.env_steps;
      *follower_samples += ri.follower_samples;
    } else if (h && batch.steps) {
      char why[300];
      err = cbrl_hpgd_estimate_batch(h, k, x, m, &batch, &ho, g, &info, why, sizeof why);
      if (err) fprintf(stderr, "cbrl hypergrad: the follower's batch: %s\n", why), failure_reported = 1;
    } else if (h) {
      err = cbrl_hpgd_estimate(h, k, x, m, cont, &pol, &ho, &rng, g, &info);
    } else {
      err = cbrl_zero_order_estimate(zo, k, x, f0, a->zo_u, &rng, g, NULL);
      if (err == CBRL_ENOCONV) err = 0;
    }
    if (err) goto done;
    *env_steps += info.env_steps;
    for (int j = 0; j < d; j++) {
      grad[j] += g[j], sum2[j] += g[j] * g[j];
      double delta = g[j] - wmean[j];
      wmean[j] += delta / (double)(b + 1);
      m2[j] += delta * (g[j] - wmean[j]);
    }
  }
  for (int j = 0; j < d; j++) {
    double n = (double)a->samples;
    stderr_out[j] = standard_error(n, grad[j], sum2[j], m2[j]);
    grad[j] /= n;
  }
done:
  if (err && err != CBRL_ECANCELED && follower && *cbrl_follower_process_error(follower))
    fprintf(stderr, "cbrl hypergrad: %s\n", cbrl_follower_process_error(follower)), failure_reported = 1;
  cbrl_batch_close(&batch);
  cbrl_simulator_free(cont);
  cbrl_hpgd_free(h);
  cbrl_amd_free(amd);
  cbrl_rtq_free(rtq);
  cbrl_follower_free(follower);
  cbrl_zero_order_free(zo);
  free(g);
  free(sum2);
  free(wmean);
  free(m2);
  return err;
}

/* A JSON string, escaped. */
static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
    else putchar(*s);
  }
  putchar('"');
}

/* The "inputs" object: every parameter this call used, defaults included, so that the output
   alone says what was computed. */
static void print_inputs(const args *a, const cbrl_problem *p, const double *x) {
  cbrl_soft_opts so;
  cbrl_soft_opts_default(&so);
  cbrl_env_params prm;
  cbrl_env_params_default(&prm);
  printf("{\"env\": ");
  json_string(a->problem ? "file" : a->env);
  if (a->problem) printf(", \"problem\": "), json_string(a->problem);
  printf(", \"lambda\": ");
  cli_json_number(stdout, p->lambda);
  printf(", \"gamma\": ");
  cli_json_number(stdout, p->gamma);
  printf(", \"leader_gamma\": ");
  cli_json_number(stdout, p->leader_gamma);
  const cbrl_env *env = cbrl_env_find(a->problem ? "file" : a->env);
  if (cbrl_env_takes(env, "beta")) printf(", \"beta\": "), cli_json_number(stdout, a->beta);
  if (cbrl_env_takes(env, "tax_bins")) printf(", \"bins\": %ld", a->have_bins ? a->bins : prm.tax_bins);
  if (cbrl_env_takes(env, "states"))
    printf(", \"states\": %ld, \"actions\": %ld, \"dim\": %ld, \"contexts\": %ld, \"branch\": %ld", a->states,
           a->actions, a->dim, a->contexts, a->branch);
  if (cbrl_env_takes(env, "problem_seed"))
    printf(", \"problem_seed\": %ld", problem_seed(a, env));
  if (a->x_from) printf(", \"x_from\": "), json_string(a->x_from);
  else if (!a->x_text && a->env && !strcmp(a->env, "four-rooms")) printf(", \"x_seed\": %ld", a->x_seed);
  printf(", \"x\": ");
  cli_json_array(stdout, x, p->dim);
  printf(", \"tol\": ");
  cli_json_number(stdout, a->tol > 0.0 ? a->tol : so.tol);
  printf(", \"estimator\": ");
  json_string(a->estimator == CBRL_ALG_EXACT ? "exact" : cbrl_algorithm_name(a->estimator));
  if (a->stochastic) printf(", \"samples\": %ld, \"seed\": %ld", a->samples, a->seed);
  int hpgd = is_hpgd(a->estimator);
  if (a->estimator == CBRL_ALG_HPGD_BATCH || a->estimator == CBRL_ALG_HPGD_CRITIC || a->estimator == CBRL_ALG_HPGD_RTQ)
    printf(", \"steps\": %ld", a->steps);
  if (a->estimator == CBRL_ALG_HPGD_CRITIC) {
    printf(", \"critic\": ");
    json_string(cbrl_hpgd_critic_name(a->critic));
    printf(", \"folds\": %ld", a->folds ? a->folds : 2);
  }
  if (a->baseline) printf(", \"baseline\": \"%s\"", a->baseline == CBRL_BASELINE_ON ? "on" : "off");
  if (a->variant) printf(", \"estimator_variant\": \"paper-code\"");
  if (hpgd) {
    printf(", \"simulator\": ");
    json_string(cbrl_simulator_name(a->simulator));
    printf(", \"follower\": \"%s\"", a->soft_q ? "soft-q" : a->follower_command ? "command" : "exact");
    if (a->follower_command) {
      printf(", \"follower_command\": ");
      json_string(a->follower_command);
      printf(", \"follower_mode\": \"%s\"", cbrl_process_mode_name(a->follower_mode));
      if (a->follower_mode == CBRL_PROCESS_SERVE)
        printf(", \"follower_steps\": %ld, \"follower_max_steps\": %ld", a->follower_steps, a->follower_max_steps);
    }
    if (a->soft_q) printf(", \"follower_iterations\": %ld", a->follower_iterations);
  }
  if (a->estimator == CBRL_ALG_ZERO_ORDER) printf(", \"zo_u\": "), cli_json_number(stdout, a->zo_u);
  if (a->estimator == CBRL_ALG_AMD) printf(", \"amd_updates\": %ld", a->amd_updates);
  if (a->estimator == CBRL_ALG_HPGD_RTQ) printf(", \"levels\": %ld", a->levels);
  putchar('}');
}

static void print_summary(const args *a, const cbrl_problem *p, const cbrl_exact *e, double F, const double *f_ctx,
                          const double *grad) {
  printf("problem       %s: %d states, %d actions, d = %d, %d context%s\n", p->name, p->n_states,
         p->n_actions, p->dim, p->n_contexts, p->n_contexts == 1 ? "" : "s");
  printf("follower      lambda = %g, gamma = %g; leader gamma = %g", p->lambda, p->gamma, p->leader_gamma);
  if (cbrl_env_takes(cbrl_env_find(a->problem ? "file" : a->env), "beta")) printf("; beta = %g", a->beta);
  printf("\n");
  printf("F(x)          %.10g\n", F);
  for (int k = 0; k < p->n_contexts && k < 20; k++)
    printf("  context %-3d weight %-8.4g f = %.10g\n", k, p->context_weight[k], f_ctx[k]);
  if (p->n_contexts > 20) printf("  ... %d more contexts\n", p->n_contexts - 20);
  double norm = 0.0;
  int top = 0;
  for (int j = 0; j < p->dim; j++) {
    norm += grad[j] * grad[j];
    if (fabs(grad[j]) > fabs(grad[top])) top = j;
  }
  printf("|grad F|      %.6g   (largest: grad[%d] = %.6g)\n", sqrt(norm), top, grad[top]);
  printf("grad F        ");
  for (int j = 0; j < p->dim && j < 8; j++) printf("%s%.6g", j ? ", " : "", grad[j]);
  printf("%s\n", p->dim > 8 ? ", ..." : "");
  (void)e;
}

int cli_hypergrad(int argc, char **argv) {
  args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc < 0 ? 0 : rc;
  cbrl_problem *p = NULL;
  if ((rc = build_problem(&a, &p))) return rc;
  cbrl_exact *e = NULL;
  double *x = calloc((size_t)p->dim, sizeof(double)), *grad = calloc((size_t)p->dim, sizeof(double));
  double *f_ctx = calloc((size_t)p->n_contexts, sizeof(double)), F = 0.0, *se = NULL;
  if (!x || !grad || !f_ctx) {
    rc = cli_usage_error("hypergrad", "out of memory");
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  if ((rc = initial_x(&a, p, x))) goto done;
  cbrl_problem_shape sh;
  char msg[512];
  cbrl_problem_shape_of(p, &sh);
  if (is_hpgd(a.estimator) && cbrl_memory_check(cbrl_hpgd_memory_estimate(&sh, a.steps), "--steps", msg, sizeof msg)) {
    rc = cli_usage_error("hypergrad", "%s", msg);
    goto done;
  }
  int err = cbrl_exact_create(&e, p);
  if (err) {
    fprintf(stderr, "cbrl hypergrad: %s\n", cbrl_strerror(err));
    rc = err == CBRL_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    goto done;
  }
  if (a.tol > 0.0) {
    cbrl_soft_opts o;
    cbrl_soft_opts_default(&o);
    o.tol = a.tol;
    cbrl_exact_set_opts(e, &o);
  }
  /* SIGINT and SIGTERM set the flag; the solver and the estimators stop at their next check
     (a Newton step, a Krylov restart, a sample, an AMD update) and this exits 128 + signal. */
  const volatile int *cancel = cli_catch_signals();
  cbrl_exact_set_cancel(e, cancel);
  char why[256];
  if (cbrl_objective_supports(p, cbrl_algorithm_name(a.estimator), why, sizeof why)) {
    fprintf(stderr, "cbrl hypergrad: --estimator %s\n", why); /* HPGD, AMD: leader rewards only */
    rc = CLI_EXIT_USAGE;
    goto done;
  }
  err = cbrl_exact_evaluate(e, x, &F, f_ctx, a.estimator == CBRL_ALG_EXACT ? grad : NULL);
  int64_t env_steps = 0, follower_samples = 0;
  if (!err && a.estimator != CBRL_ALG_EXACT) {
    se = calloc((size_t)p->dim, sizeof(double));
    err = se ? estimate(&a, p, e, x, grad, se, &env_steps, &follower_samples, cancel) : CBRL_ENOMEM;
    if (err == CBRL_ENOTSUP) {
      fprintf(stderr, "cbrl hypergrad: --estimator amd: this problem's P or mu depends on x, which AMD does not model\n");
      rc = CLI_EXIT_USAGE;
      goto done;
    }
  }
  if (err == CBRL_ECANCELED || cli_caught_signal()) {
    int sig = cli_caught_signal();
    fprintf(stderr, "cbrl hypergrad: stopped by signal %d (%s) before the estimate was complete; nothing printed\n",
            sig, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal");
    rc = 128 + sig;
    goto done;
  }
  if (err) {
    if (!failure_reported) fprintf(stderr, "cbrl hypergrad: %s\n", cbrl_strerror(err));
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  /* A non-finite F, gradient or standard error is a failed computation, never a printed
     result (issue 13 class 12); a NAN standard error is "not estimable" (null), see
     standard_error. */
  const char *bad = NULL;
  int bad_j = 0;
  double bad_v = 0.0;
  if (!isfinite(F)) bad = "F", bad_v = F;
  for (int k = 0; !bad && k < p->n_contexts; k++)
    if (!isfinite(f_ctx[k])) bad = "F_per_context", bad_j = k, bad_v = f_ctx[k];
  for (int j = 0; !bad && j < p->dim; j++)
    if (!isfinite(grad[j])) bad = "grad", bad_j = j, bad_v = grad[j];
  for (int j = 0; !bad && se && a.stochastic && j < p->dim; j++)
    if (isinf(se[j])) bad = "the standard error of grad", bad_j = j, bad_v = se[j];
  if (bad) {
    if (!strcmp(bad, "F")) fprintf(stderr, "cbrl hypergrad: F is %g, not a finite number\n", bad_v);
    else fprintf(stderr, "cbrl hypergrad: %s[%d] is %g, not a finite number (the estimates overflow)\n", bad, bad_j, bad_v);
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  int n_undefined = 0;
  for (int j = 0; se && a.stochastic && j < p->dim; j++) n_undefined += isnan(se[j]);
  if (a.json) {
    printf("{\"F\": ");
    cli_json_number(stdout, F);
    printf(", \"grad\": ");
    cli_json_array(stdout, grad, p->dim);
    if (a.stochastic) {
      printf(", \"stderr\": ");
      if (a.samples < 2) {
        printf("null, \"stderr_undefined\": \"one sample: a standard error needs at least 2\"");
      } else {
        cli_json_array(stdout, se, p->dim);
        if (n_undefined)
          printf(", \"stderr_undefined\": \"null for the %d coordinate%s whose %ld estimates were all equal: no spread "
                 "was observed, so no standard error is estimated\"", n_undefined, n_undefined == 1 ? "" : "s", a.samples);
      }
      printf(", \"samples\": %ld, \"env_steps\": %lld", a.samples, (long long)env_steps);
      if (a.soft_q || a.follower_command || a.estimator == CBRL_ALG_HPGD_RTQ)
        printf(", \"follower_samples\": "), cli_json_number(stdout, (double)follower_samples / (double)a.samples);
    }
    if (file_info.sampled) {
      /* docs/PROBLEM_FILES.md: F is a quadrature (exact) or a sample average with its s.e. */
      printf(", \"theta\": {\"rule\": \"%s\", \"templates\": %d, \"nodes\": %d", file_info.rule == CBRL_CONTEXTS_SAMPLE ? "sample" : "quadrature",
             file_info.n_templates, file_info.n_nodes);
      if (file_info.rule == CBRL_CONTEXTS_SAMPLE)
        printf("}, \"F_stderr\": "), cli_json_number(stdout, cbrl_tabular_standard_error(p, &file_info, f_ctx));
      else
        printf("}");
    }
    printf(", \"F_per_context\": ");
    cli_json_array(stdout, f_ctx, p->n_contexts);
    printf(", \"dim\": %d, \"inputs\": ", p->dim);
    print_inputs(&a, p, x);
    printf("}\n");
  } else {
    print_summary(&a, p, e, F, f_ctx, grad);
    if (file_info.sampled && file_info.rule == CBRL_CONTEXTS_SAMPLE)
      printf("theta         F is the average over a sample of %d draws of theta: standard error %.3g\n", file_info.n_nodes,
             cbrl_tabular_standard_error(p, &file_info, f_ctx));
    else if (file_info.sampled)
      printf("theta         F is the %d-node quadrature of E over theta (%d template%s)\n", file_info.n_nodes,
             file_info.n_templates, file_info.n_templates == 1 ? "" : "s");
    if (a.stochastic) {
      double m = 0.0;
      for (int j = 0; j < p->dim; j++) m = se[j] > m ? se[j] : m;
      printf("estimator     %s: %ld samples, %lld environment steps, ", cbrl_algorithm_name(a.estimator), a.samples,
             (long long)env_steps);
      if (a.samples < 2) printf("no standard error (one sample; it needs at least 2)\n");
      else if (n_undefined == p->dim) printf("no standard error (every coordinate's estimates were all equal)\n");
      else if (n_undefined) printf("largest standard error %.3g (none for %d coordinates whose estimates were all equal)\n", m, n_undefined);
      else printf("largest standard error %.3g\n", m);
    } else if (a.estimator == CBRL_ALG_AMD) {
      printf("estimator     amd: %ld table updates per context\n", a.amd_updates);
    }
  }
done:
  cbrl_exact_free(e);
  cbrl_problem_free(p);
  cbrl_tabular_info_free(&file_info);
  free(x);
  free(grad);
  free(f_ctx);
  free(se);
  return rc;
}
