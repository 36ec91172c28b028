/* Benchmarks of the core library: exact F plus hypergradient on Four-Rooms (cold and
   warm-started) and on random problems from 1e2 to 1e6 states. Medians over repeats,
   after a warm-up. Usage: cbrl_bench [--quick] [--max-states N] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cbrl/cbrl.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

static void check(int err, const char *what) {
  if (err && err != CBRL_ENOCONV) {
    fprintf(stderr, "%s: %s\n", what, cbrl_strerror(err));
    exit(1);
  }
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

int main(int argc, char **argv) {
  int quick = 0;
  long max_states = 1000000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1, max_states = 10000;
    else if (!strcmp(argv[i], "--max-states") && i + 1 < argc) max_states = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: cbrl_bench [--quick] [--max-states N]\n");
      return 2;
    }
  }
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
