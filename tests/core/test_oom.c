/* Out-of-memory injection in the style of libuv's tests (issue 13): this program is linked with
   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so every allocation libcbrl makes passes
   through the counters below. Each scenario runs once counting its allocations, then once per
   allocation with exactly that one failing; every run must return CBRL_ENOMEM (or succeed when
   the failure was absorbed), and free everything (run under ASan/LSan by `make oom`). */
#include "test_util.h"

#include <execinfo.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/env/four_rooms.h"
#include "cbrl/env/random_problem.h"
#include "cbrl/env/tax.h"
#include "cbrl/exact.h"
#include "cbrl/hpgd.h"
#include "cbrl/leader.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long alloc_count; /* allocations seen since arming */
static long fail_at;     /* the allocation that fails (1-based), 0: none */
static int failed;       /* whether it was reached */

static int should_fail(void) {
  if (++alloc_count == fail_at) {
    failed = 1;
    if (getenv("CBRL_OOM_TRACE")) { /* where the failing allocation is, for debugging */
      void *frames[16];
      backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
    }
    return 1;
  }
  return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

enum { ENV_FOUR_ROOMS, ENV_RANDOM, ENV_TAX };
static const char *const env_names[] = {"four-rooms", "random", "tax-design"};

static int make_problem(int env, cbrl_problem **p) {
  *p = NULL;
  if (env == ENV_FOUR_ROOMS) {
    cbrl_four_rooms_opts o;
    cbrl_four_rooms_opts_default(&o);
    return cbrl_four_rooms_create(p, &o);
  }
  if (env == ENV_RANDOM) {
    cbrl_random_opts o;
    cbrl_random_opts_default(&o);
    o.n_states = 12, o.n_actions = 3, o.dim = 4, o.n_contexts = 2, o.branch = 3, o.seed = 3;
    return cbrl_random_problem_create(p, &o);
  }
  cbrl_tax_opts o;
  cbrl_tax_opts_default(&o);
  o.n_bins = 12;
  return cbrl_tax_create(p, &o);
}

/* What `cbrl hypergrad` does on an environment: the exact F and gradient, then one batch and
   one unbiased HPGD estimate. */
static int hypergrad(int env) {
  cbrl_problem *p = NULL;
  cbrl_exact *e = NULL;
  cbrl_hpgd *h = NULL;
  double *x = NULL, *g = NULL, F;
  int err = make_problem(env, &p);
  if (err) goto done;
  x = calloc((size_t)p->dim, sizeof(double));
  g = calloc((size_t)p->dim, sizeof(double));
  if (!x || !g) {
    err = CBRL_ENOMEM;
    goto done;
  }
  if ((err = cbrl_exact_create(&e, p)) || (err = cbrl_exact_evaluate(e, x, &F, NULL, g))) goto done;
  if ((err = cbrl_hpgd_create(&h, p, 100))) goto done;
  const cbrl_mdp *m = cbrl_exact_mdp(e, 0);
  cbrl_policy pol = test_exact_policy(e, 0);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  cbrl_hpgd_opts o;
  cbrl_hpgd_opts_default(&o);
  o.steps = 100;
  cbrl_estimate_info info;
  if ((err = cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &o, &rng, g, &info))) goto done;
  o.kind = CBRL_HPGD_UNBIASED, o.steps = 0, o.samples = 2;
  err = cbrl_hpgd_estimate(h, 0, x, m, NULL, &pol, &o, &rng, g, &info);
done:
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
  free(x);
  free(g);
  return err;
}

/* A small sweep through the library: a leader of each algorithm for a few iterations. */
static int sweep(int env) {
  static const cbrl_algorithm algs[] = {CBRL_ALG_HPGD_BATCH, CBRL_ALG_HPGD, CBRL_ALG_ZERO_ORDER, CBRL_ALG_EXACT};
  cbrl_problem *p = NULL;
  int err = make_problem(env, &p);
  for (size_t a = 0; !err && a < sizeof algs / sizeof algs[0]; a++) {
    cbrl_leader_opts o;
    cbrl_leader_opts_default(&o);
    o.algorithm = algs[a];
    o.hpgd.steps = 50, o.hpgd.streams = 5, o.hpgd.max_steps = 10;
    cbrl_leader *L = NULL;
    err = cbrl_leader_create(&L, p, &o, NULL);
    for (int t = 0; !err && t < 3; t++) {
      cbrl_leader_metrics mt;
      err = cbrl_leader_step(L, t == 2, &mt);
    }
    cbrl_leader_free(L);
  }
  cbrl_problem_free(p);
  return err;
}

/* Runs f(env) failing each of its allocations in turn; returns how many were swept. */
static long sweep_allocations(int (*f)(int), int env, const char *what) {
  alloc_count = 0, fail_at = 0, failed = 0;
  int rc = f(env);
  if (rc) fail_msg("%s %s: fails without injection: %s", what, env_names[env], cbrl_strerror(rc));
  long total = alloc_count;
  for (long n = 1; n <= total; n++) {
    alloc_count = 0, fail_at = n, failed = 0;
    rc = f(env);
    fail_at = 0;
    if (failed && rc != CBRL_ENOMEM)
      fail_msg("%s %s: allocation %ld of %ld failed but the call returned %d (%s)", what, env_names[env], n,
               total, rc, rc ? cbrl_strerror(rc) : "success");
    if (!failed && rc) fail_msg("%s %s: allocation %ld not reached, yet %s", what, env_names[env], n, cbrl_strerror(rc));
  }
  print_message("%s %s: %ld allocations, each failed in turn: CBRL_ENOMEM every time\n", what, env_names[env], total);
  return total;
}

static void hypergrad_fails_cleanly_at_every_allocation(void **state) {
  for (int env = 0; env < 3; env++) assert_true(sweep_allocations(hypergrad, env, "hypergrad") > 10);
}

static void a_small_sweep_fails_cleanly_at_every_allocation(void **state) {
  for (int env = 0; env < 3; env++) assert_true(sweep_allocations(sweep, env, "sweep") > 10);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hypergrad_fails_cleanly_at_every_allocation),
      cmocka_unit_test(a_small_sweep_fails_cleanly_at_every_allocation),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
