/* Benchmarks of the core library: exact F plus hypergradient on Four-Rooms (cold and
   warm-started), on random problems from 1e2 to 1e6 states, and leader iterations on
   Four-Rooms and on the tax economy. Medians over repeats,
   after a warm-up. Usage: cbrl_bench [--quick] [--max-states N] [--tax-only] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cbrl/cbrl.h"
#include "bench_util.h"
#include "cbrl/amd.h"
#include "cbrl/hpgd.h"
#include "cbrl/rtq.h"
#include "cbrl/follower.h"
#include "cbrl/leader.h"
#include "cbrl/simulate.h"

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

/* Times exact F + gradient: cold (warm starts forgotten) and warm (x moved by 1e-3 N(0,1)). */
static void time_exact(cbrl_problem *p, int reps, double *cold_ms, double *warm_ms, int64_t *products) {
  cbrl_exact *e;
  check(cbrl_exact_create(&e, p), "create");
  double *x = calloc((size_t)p->dim, sizeof(double)), *g = calloc((size_t)p->dim, sizeof(double)), F;
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  for (int j = 0; j < p->dim; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  double *t = malloc(sizeof(double) * reps);
  check(cbrl_exact_evaluate(e, x, &F, NULL, g), "warm-up");
  for (int r = 0; r < reps; r++) {
    cbrl_exact_reset(e);
    double t0 = now();
    check(cbrl_exact_evaluate(e, x, &F, NULL, g), "cold");
    t[r] = 1e3 * (now() - t0);
  }
  *cold_ms = median(t, reps);
  int64_t prod = 0;
  for (int r = 0; r < reps; r++) {
    for (int j = 0; j < p->dim; j++) x[j] += 1e-3 * cbrl_rng_normal(&rng);
    double t0 = now();
    check(cbrl_exact_evaluate(e, x, &F, NULL, g), "warm");
    t[r] = 1e3 * (now() - t0);
    for (int k = 0; k < p->n_contexts; k++) prod += cbrl_exact_stats(e, k)->linear_iterations;
  }
  *warm_ms = median(t, reps);
  *products = prod / reps;
  free(t);
  free(x);
  free(g);
  cbrl_exact_free(e);
}

/* Median milliseconds per leader iteration of one configured leader on problem p, after
   `warmup` iterations, with and without the per-iteration exact metrics. */
static void time_steps(cbrl_problem *p, const cbrl_leader_opts *o, const double *x0, int warmup, int iters,
                       double *plain_ms, double *metrics_ms) {
  cbrl_leader *L;
  check(cbrl_leader_create(&L, p, o, x0), "leader");
  double *t = malloc(sizeof(double) * iters);
  for (int i = 0; i < warmup; i++) check(cbrl_leader_step(L, 1, NULL), "warm-up");
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < iters; i++) {
      double t0 = now();
      check(cbrl_leader_step(L, pass, NULL), "step");
      t[i] = 1e3 * (now() - t0);
    }
    *(pass ? metrics_ms : plain_ms) = median(t, iters);
  }
  free(t);
  cbrl_leader_free(L);
}

/* Leader iteration on Four-Rooms (lambda 0.003, beta 3), the the paper's Table 1 protocol setting. */
static void time_leader(cbrl_algorithm alg, int iters, double *plain_ms, double *metrics_ms) {
  cbrl_problem *p = bench_four_rooms();
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = alg;
  o.learning_rate = 0.1;
  o.zero_order_c = 0.5;
  time_steps(p, &o, NULL, 20, iters, plain_ms, metrics_ms);
  cbrl_problem_free(p);
}

/* Leader iteration on the tax economy (lambda 0.2, 200 bins), the the paper's tax protocol setting: SGD at
   lr 0.01 with clip 1, zero-order c = 50, HPGD batches of 50 households x 200 steps. */
static void time_tax_leader(cbrl_algorithm alg, int iters, double *plain_ms, double *metrics_ms) {
  cbrl_problem *p;
  check(cbrl_tax_create(&p, NULL), "tax-design");
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = alg;
  o.learning_rate = 0.01;
  o.max_grad_norm = 1.0;
  o.zero_order_c = 50.0;
  o.hpgd.steps = 10000;
  o.hpgd.streams = 50;
  o.hpgd.max_steps = 200;
  o.optimizer = CBRL_SGD;
  double x0[CBRL_TAX_DIM];
  cbrl_tax_x_for_rate(0.3, x0);
  time_steps(p, &o, x0, 3, iters, plain_ms, metrics_ms);
  cbrl_problem_free(p);
}

/* The HPGD iteration split: follower response, simulation of the batch, estimator. */
static void hpgd_split(int iters, double *follower_ms, double *sim_ms, double *estimator_ms) {
  cbrl_problem *p = bench_four_rooms();
  cbrl_follower *f;
  cbrl_hpgd *h;
  cbrl_mdp m[2];
  check(cbrl_follower_exact_create(&f, p), "follower");
  check(cbrl_hpgd_create(&h, p, 10000), "hpgd");
  for (int k = 0; k < 2; k++) check(cbrl_mdp_init(&m[k], p, k), "mdp");
  cbrl_batch b;
  check(cbrl_batch_init(&b, 10000), "batch");
  double x[105], g[105], *tf = malloc(sizeof(double) * iters), *ts = malloc(sizeof(double) * iters),
         *te = malloc(sizeof(double) * iters);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  for (int j = 0; j < 105; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  cbrl_hpgd_opts ho;
  cbrl_hpgd_opts_default(&ho);
  for (int i = -20; i < iters; i++) {
    int k = (int)cbrl_rng_below(&rng, 2);
    for (int j = 0; j < 105; j++) x[j] += 1e-3 * cbrl_rng_normal(&rng);
    check(cbrl_mdp_evaluate(&m[k], p, k, x), "evaluate");
    cbrl_policy pol;
    double t0 = now();
    check(cbrl_follower_respond(f, k, x, &m[k], NULL, &rng, &pol), "respond");
    double t1 = now();
    check(cbrl_sim_batch(&m[k], &pol, ho.streams, ho.steps / ho.streams, ho.max_steps, 0, &rng, &b), "sim");
    double t2 = now();
    check(cbrl_hpgd_estimate(h, k, x, &m[k], NULL, &pol, &ho, &rng, g, NULL), "estimate");
    double t3 = now();
    if (i < 0) continue;
    tf[i] = 1e3 * (t1 - t0);
    ts[i] = 1e3 * (t2 - t1);
    te[i] = 1e3 * ((t3 - t2) - (t2 - t1)); /* the estimate simulates its own batch */
  }
  *follower_ms = median(tf, iters);
  *sim_ms = median(ts, iters);
  *estimator_ms = median(te, iters);
  free(tf), free(ts), free(te);
  cbrl_batch_close(&b);
  for (int k = 0; k < 2; k++) cbrl_mdp_close(&m[k]);
  cbrl_hpgd_free(h);
  cbrl_follower_free(f);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  int quick = 0, tax_only = 0;
  long max_states = 1000000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1, max_states = 10000;
    else if (!strcmp(argv[i], "--max-states") && i + 1 < argc) max_states = atol(argv[++i]);
    else if (!strcmp(argv[i], "--tax-only")) tax_only = 1;
    else {
      fprintf(stderr, "usage: cbrl_bench [--quick] [--max-states N] [--tax-only]\n");
      return 2;
    }
  }
  if (!tax_only) {
    printf("## Leader iterations on Four-Rooms (lambda 0.003, beta 3), ms per iteration (median)\n\n");
    printf("| algorithm | without metrics | with exact-F metrics |\n|---|---|---|\n");
  }
  const cbrl_algorithm algs[5] = {CBRL_ALG_HPGD_BATCH, CBRL_ALG_HPGD, CBRL_ALG_ZERO_ORDER, CBRL_ALG_AMD, CBRL_ALG_EXACT};
  for (int i = 0; i < 5 && !tax_only; i++) {
    double plain, with;
    int iters = algs[i] == CBRL_ALG_AMD ? (quick ? 5 : 25) : (quick ? 50 : 400);
    time_leader(algs[i], iters, &plain, &with);
    printf("| %s | %.3f | %.3f |\n", cbrl_algorithm_name(algs[i]), plain, with);
    fflush(stdout);
  }
  printf("\n## Leader iterations on tax design (lambda 0.2, 200 bins), ms per iteration (median)\n\n");
  printf("| algorithm | without metrics | with exact-F metrics |\n|---|---|---|\n");
  const cbrl_algorithm tax_algs[4] = {CBRL_ALG_HPGD_BATCH, CBRL_ALG_HPGD, CBRL_ALG_ZERO_ORDER, CBRL_ALG_EXACT};
  for (int i = 0; i < 4; i++) {
    double plain, with;
    time_tax_leader(tax_algs[i], quick ? 3 : 15, &plain, &with);
    printf("| %s | %.1f | %.1f |\n", cbrl_algorithm_name(tax_algs[i]), plain, with);
    fflush(stdout);
  }
  if (tax_only) return 0;
  double tf, ts, te;
  hpgd_split(quick ? 50 : 400, &tf, &ts, &te);
  printf("\nHPGD (batch) iteration split: follower %.3f ms, simulation of 10,000 steps %.3f ms, "
         "estimator %.3f ms.\n",
         tf, ts, te);
  /* AMD's FLOP rate: per update, 2 SA d (policy sums) + 2 SA d (reward terms) + 4 nnz d (two
     Bellman products), as multiply-adds counted twice. */
  {
    double plain, with;
    time_leader(CBRL_ALG_AMD, quick ? 5 : 25, &plain, &with);
    cbrl_problem *p;
    cbrl_mdp m;
    check(cbrl_four_rooms_create(&p, NULL), "four-rooms");
    check(cbrl_mdp_init(&m, p, 0), "mdp");
    double sa_d = 416.0 * 105, nnz_d = (double)m.n_transitions * 105;
    double flops = 100.0 * (4 * sa_d + 4 * sa_d + 4 * nnz_d);
    cbrl_mdp_close(&m);
    cbrl_problem_free(p);
    printf("AMD: %.1f ms per iteration (K = 100 updates), about %.2f GFLOP/s.\n\n", plain, flops / (plain * 1e6));
  }
  fflush(stdout);

  printf("## Four-Rooms: exact F + hypergradient, both goals (d = 105)\n\n");
  printf("| lambda | beta | cold (ms) | warm (ms) | Markov products per warm call |\n|---|---|---|---|---|\n");
  const double lambdas[3] = {0.001, 0.003, 0.005};
  for (int i = 0; i < 3; i++) {
    cbrl_four_rooms_opts o;
    cbrl_four_rooms_opts_default(&o);
    o.lambda = lambdas[i];
    o.beta = 3.0;
    cbrl_problem *p;
    check(cbrl_four_rooms_create(&p, &o), "four-rooms");
    double cold, warm;
    int64_t prod;
    time_exact(p, quick ? 11 : 101, &cold, &warm, &prod);
    printf("| %g | 3 | %.3f | %.3f | %lld |\n", lambdas[i], cold, warm, (long long)prod);
    cbrl_problem_free(p);
  }
  fflush(stdout);

  printf("\n## Random problems: |A| = 4, branching 5, d = 16, 1 context, lambda 1, gamma 0.9\n\n");
  printf("| states | build (s) | cold (ms) | warm (ms) | products per warm call | cold ns per (s,a,s') | peak RSS (MB) |\n|---|---|---|---|---|---|---|\n");
  for (long S = 100; S <= max_states; S *= 10) {
    cbrl_random_opts o;
    cbrl_random_opts_default(&o);
    o.n_states = (int)S;
    o.n_actions = 4;
    o.branch = 5;
    o.dim = 16;
    o.n_contexts = 1;
    cbrl_problem *p;
    double t0 = now();
    check(cbrl_random_problem_create(&p, &o), "random");
    double build = now() - t0, cold, warm;
    int64_t prod;
    int reps = S >= 1000000 ? 3 : S >= 100000 ? 5 : quick ? 5 : 21;
    time_exact(p, reps, &cold, &warm, &prod);
    printf("| %ld | %.2f | %.3f | %.3f | %lld | %.1f | %.0f |\n", S, build, cold, warm, (long long)prod, 1e6 * cold / (S * 4.0 * 5.0),
           peak_rss_mb());
    fflush(stdout);
    cbrl_problem_free(p);
  }

  printf("\n## Growth with d: 10^4 states, |A| = 4, branching 5, 2 non-zero coefficients per term\n\n");
  printf("| d | cold (ms) | warm (ms) |\n|---|---|---|\n");
  for (int d = 4; d <= 1024; d *= 4) {
    cbrl_random_opts o;
    cbrl_random_opts_default(&o);
    o.n_states = 10000;
    o.n_actions = 4;
    o.branch = 5;
    o.dim = d;
    o.n_contexts = 1;
    cbrl_problem *p;
    check(cbrl_random_problem_create(&p, &o), "random");
    double cold, warm;
    int64_t prod;
    time_exact(p, quick ? 5 : 11, &cold, &warm, &prod);
    printf("| %d | %.3f | %.3f |\n", d, cold, warm);
    cbrl_problem_free(p);
  }
  return 0;
}
