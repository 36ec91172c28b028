/* Runs N leader iterations of one benchmark part and nothing else, for instruction counts that do
   not depend on the machine's load: under callgrind with --toggle-collect=cbrl_parts_measured only
   the N iterations after 3 warm-up ones are counted (scripts/instructions.sh divides by N). The parts are cbrl_bench's
   settings. It prints the median time per iteration too. Usage: cbrl_parts PART [N] [--metrics], PART one of four-rooms:ALG (lambda 0.003,
   beta 3) or tax:ALG (lambda 0.2, 200 bins), ALG an algorithm name (hpgd-batch, amd, ...), for
   hpgd-critic optionally with /CRITIC (tax:hpgd-critic/model, docs/MODEL.md 4.1c). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbrl/cbrl.h"
#include "bench_util.h"
#include "cbrl/leader.h"

/* The counted iterations: callgrind's --toggle-collect=cbrl_parts_measured. Each is timed too;
   returns the median in ms. */
__attribute__((noinline)) double cbrl_parts_measured(cbrl_leader *L, int n, int metrics) {
  double *t = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)), med;
  if (!t) exit(1);
  for (int i = 0; i < n; i++) {
    double t0 = now();
    check(cbrl_leader_step(L, metrics, NULL), "step");
    t[i] = 1e3 * (now() - t0);
  }
  med = median(t, n);
  free(t);
  return med;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: cbrl_parts four-rooms:ALG|tax:ALG [N] [--metrics]\n");
    return 2;
  }
  int n = argc > 2 && argv[2][0] != '-' ? atoi(argv[2]) : 10, metrics = 0;
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--metrics")) metrics = 1;
  const char *colon = strchr(argv[1], ':');
  if (!colon) return 2;
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  int found = 0;
  char alg[64];
  snprintf(alg, sizeof alg, "%s", colon + 1);
  char *slash = strchr(alg, '/');
  if (slash) *slash = 0;
  for (int a = 0; a < CBRL_ALG_COUNT_; a++)
    if (!strcmp(cbrl_algorithm_name((cbrl_algorithm)a), alg)) o.algorithm = (cbrl_algorithm)a, found = 1;
  if (!found || (slash && cbrl_hpgd_critic_parse(slash + 1, &o.hpgd.critic))) {
    fprintf(stderr, "cbrl_parts: unknown algorithm %s\n", colon + 1);
    return 2;
  }
  cbrl_problem *p;
  double x0[CBRL_TAX_DIM], *init = NULL;
  if (!strncmp(argv[1], "tax", 3)) {
    check(cbrl_tax_create(&p, NULL), "tax-design");
    o.learning_rate = 0.01;
    o.max_grad_norm = 1.0;
    o.zero_order_c = 50.0;
    o.hpgd.steps = 10000;
    o.hpgd.streams = 50;
    o.hpgd.max_steps = 200;
    o.optimizer = CBRL_SGD;
    cbrl_tax_x_for_rate(0.3, x0);
    init = x0;
  } else {
    p = bench_four_rooms();
    o.learning_rate = 0.1;
    o.zero_order_c = 0.5;
  }
  cbrl_leader *L;
  check(cbrl_leader_create(&L, p, &o, init), "leader");
  for (int i = 0; i < 3; i++) check(cbrl_leader_step(L, metrics, NULL), "warm-up"); /* not counted */
  double ms = cbrl_parts_measured(L, n, metrics);
  printf("%s: %d iterations%s, median %.3f ms\n", argv[1], n, metrics ? " with metrics" : "", ms);
  cbrl_leader_free(L);
  cbrl_problem_free(p);
  return 0;
}
