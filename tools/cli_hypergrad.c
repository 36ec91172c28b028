/* cbrl hypergrad: the exact objective and hypergradient at one x. Its flags and JSON output
   are a contract other tools depend on (issue: core library). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/cbrl.h"
#include "cbrl/tabular_file.h"
#include "cli.h"

static const char hypergrad_usage[] =
    "Usage:\n"
    "  cbrl hypergrad --problem FILE [--x v1,v2,...] [--lambda L] [--json]\n"
    "  cbrl hypergrad --env four-rooms [--beta B] [--lambda L] [--x v1,...|--x-seed N] [--json]\n"
    "  cbrl hypergrad --env random --states S --actions A --dim D --contexts K --branch B\n"
    "                 --seed N [--x ...] [--lambda L] [--json]\n"
    "\n"
    "Computes the leader objective F(x) = sum_xi q_xi f(x, pi*_{x,xi}, xi) exactly (soft best\n"
    "response, then policy evaluation) and its gradient in adjoint mode.\n"
    "\n"
    "Options:\n"
    "  --problem FILE   a cbrl-tabular-1 problem file (YAML); x defaults to zeros\n"
    "  --env NAME       four-rooms or random\n"
    "  --x LIST         leader parameters, comma-separated, exactly d of them\n"
    "  --x-seed N       Four-Rooms only: draw x ~ N(0, 0.01^2) from seed N (default 0)\n"
    "  --lambda L       follower temperature (overrides the file; Four-Rooms default 0.003)\n"
    "  --beta B         Four-Rooms upper-level regularisation (default 1)\n"
    "  --states S, --actions A, --dim D, --contexts K, --branch B, --seed N\n"
    "                   random-problem generator (SPEC 6.3)\n"
    "  --tol T          follower solver tolerance (default 1e-11, relative to max|Q|)\n"
    "  --json           print {\"F\", \"grad\", \"F_per_context\", \"dim\"} as one JSON object\n"
    "  -h, --help       show this help\n"
    "\n"
    "Examples:\n"
    "  cbrl hypergrad --env four-rooms --beta 3 --json\n"
    "  cbrl hypergrad --env random --states 50 --actions 4 --dim 8 --contexts 2 --branch 5 --seed 1\n"
    "  cbrl hypergrad --problem examples/chain.yaml --x 0.1,0,0.2\n"
    "\n"
    "Exit status: 0 on success, 2 on bad input, 1 if the computation failed.\n";

enum {
  OPT_PROBLEM = 256, OPT_ENV, OPT_X, OPT_X_SEED, OPT_LAMBDA, OPT_BETA, OPT_STATES, OPT_ACTIONS,
  OPT_DIM, OPT_CONTEXTS, OPT_BRANCH, OPT_SEED, OPT_JSON, OPT_TOL
};

static const struct option hypergrad_options[] = {
    {"problem", required_argument, 0, OPT_PROBLEM}, {"env", required_argument, 0, OPT_ENV},
    {"x", required_argument, 0, OPT_X},             {"x-seed", required_argument, 0, OPT_X_SEED},
    {"lambda", required_argument, 0, OPT_LAMBDA},   {"beta", required_argument, 0, OPT_BETA},
    {"states", required_argument, 0, OPT_STATES},   {"actions", required_argument, 0, OPT_ACTIONS},
    {"dim", required_argument, 0, OPT_DIM},         {"contexts", required_argument, 0, OPT_CONTEXTS},
    {"branch", required_argument, 0, OPT_BRANCH},   {"seed", required_argument, 0, OPT_SEED},
    {"json", no_argument, 0, OPT_JSON},             {"tol", required_argument, 0, OPT_TOL},
    {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};

typedef struct args {
  const char *problem, *env, *x_text;
  long x_seed, states, actions, dim, contexts, branch, seed;
  int have_x_seed, have_lambda, have_beta, have_random[6], json;
  double lambda, beta, tol;
} args;

static int parse_args(int argc, char **argv, args *a) {
  const char *cmd = "hypergrad";
  memset(a, 0, sizeof *a);
  a->beta = 1.0;
  a->tol = -1.0;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":h", hypergrad_options, NULL)) != -1) {
    switch (c) {
      case OPT_PROBLEM: a->problem = optarg; break;
      case OPT_ENV: a->env = optarg; break;
      case OPT_X: a->x_text = optarg; break;
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
      case OPT_JSON: a->json = 1; break;
      case 'h': fputs(hypergrad_usage, stdout); return -1;
      case ':': return cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
      default: return cli_usage_error(cmd, "unknown option '%s' (try 'cbrl hypergrad --help')", argv[optind - 1]);
    }
  }
  if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  if (!!a->problem + !!a->env != 1) return cli_usage_error(cmd, "give exactly one of --problem FILE or --env NAME");
  int is_fr = a->env && !strcmp(a->env, "four-rooms"), is_random = a->env && !strcmp(a->env, "random");
  if (a->env && !is_fr && !is_random)
    return cli_usage_error(cmd, "--env: unknown environment '%s' (four-rooms, random)", a->env);
  if (a->have_x_seed && !is_fr) return cli_usage_error(cmd, "--x-seed applies to --env four-rooms only");
  if (a->have_x_seed && a->x_text) return cli_usage_error(cmd, "give --x or --x-seed, not both");
  if (a->have_beta && !is_fr) return cli_usage_error(cmd, "--beta applies to --env four-rooms only");
  static const char *const random_flags[6] = {"--states", "--actions", "--dim", "--contexts", "--branch", "--seed"};
  for (int i = 0; i < 6; i++) {
    if (is_random && !a->have_random[i]) return cli_usage_error(cmd, "--env random needs %s", random_flags[i]);
    if (!is_random && a->have_random[i]) return cli_usage_error(cmd, "%s applies to --env random only", random_flags[i]);
  }
  return 0;
}

static int build_problem(const args *a, cbrl_problem **p) {
  const char *cmd = "hypergrad";
  int err;
  if (a->problem) {
    char msg[512];
    err = cbrl_tabular_load(p, a->problem, msg, sizeof msg);
    if (err) {
      fprintf(stderr, "cbrl hypergrad: %s\n", msg);
      return CLI_EXIT_USAGE;
    }
  } else if (!strcmp(a->env, "four-rooms")) {
    cbrl_four_rooms_opts o;
    cbrl_four_rooms_opts_default(&o);
    o.beta = a->beta;
    err = cbrl_four_rooms_create(p, &o);
    if (err) return cli_usage_error(cmd, "four-rooms: %s", cbrl_strerror(err));
  } else {
    cbrl_random_opts o;
    cbrl_random_opts_default(&o);
    o.n_states = (int)a->states;
    o.n_actions = (int)a->actions;
    o.dim = (int)a->dim;
    o.n_contexts = (int)a->contexts;
    o.branch = (int)a->branch;
    o.seed = (uint64_t)a->seed;
    if ((int64_t)o.n_states * o.n_actions > 200000000LL)
      return cli_usage_error(cmd, "--states x --actions must not exceed 2e8");
    err = cbrl_random_problem_create(p, &o);
    if (err) {
      fprintf(stderr, "cbrl hypergrad: random problem: %s\n", cbrl_strerror(err));
      return err == CBRL_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_USAGE;
    }
  }
  if (a->have_lambda) (*p)->lambda = a->lambda;
  return 0;
}

/* x from --x, --x-seed, or the problem's default. */
static int initial_x(const args *a, const cbrl_problem *p, double *x) {
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
  memset(x, 0, sizeof(double) * (size_t)p->dim);
  if (a->env && !strcmp(a->env, "four-rooms")) {
    cbrl_rng rng;
    cbrl_rng_seed(&rng, (uint64_t)a->x_seed, 0);
    for (int j = 0; j < p->dim; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  }
  return 0;
}

static void print_summary(const cbrl_problem *p, const cbrl_exact *e, double F, const double *f_ctx,
                          const double *grad) {
  printf("problem       %s: %d states, %d actions, d = %d, %d context%s\n", p->name, p->n_states,
         p->n_actions, p->dim, p->n_contexts, p->n_contexts == 1 ? "" : "s");
  printf("follower      lambda = %g, gamma = %g; leader gamma = %g\n", p->lambda, p->gamma, p->leader_gamma);
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
  double *f_ctx = calloc((size_t)p->n_contexts, sizeof(double)), F = 0.0;
  if (!x || !grad || !f_ctx) {
    rc = cli_usage_error("hypergrad", "out of memory");
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  if ((rc = initial_x(&a, p, x))) goto done;
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
  err = cbrl_exact_evaluate(e, x, &F, f_ctx, grad);
  if (err) {
    fprintf(stderr, "cbrl hypergrad: %s\n", cbrl_strerror(err));
    rc = CLI_EXIT_FAILURE;
    goto done;
  }
  if (a.json) {
    printf("{\"F\": %.17g, \"grad\": ", F);
    cli_json_array(stdout, grad, p->dim);
    printf(", \"F_per_context\": ");
    cli_json_array(stdout, f_ctx, p->n_contexts);
    printf(", \"dim\": %d}\n", p->dim);
  } else {
    print_summary(p, e, F, f_ctx, grad);
  }
done:
  cbrl_exact_free(e);
  cbrl_problem_free(p);
  free(x);
  free(grad);
  free(f_ctx);
  return rc;
}
