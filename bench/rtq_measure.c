/* Measures RT-Q against the plain level-K estimator (docs/MODEL.md 4.4): bias with its standard error,
   variance, and follower samples per estimate, for K = 4 .. 10, on Four-Rooms (lambda 0.003,
   beta 3, goal G2) and on a random problem. Prints Markdown.
   Usage: rtq_measure [--estimates B] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/cbrl.h"

typedef struct moments {
  double s1[128], s2[128];
  int n, d;
} moments;

static void add(moments *m, const double *g) {
  for (int j = 0; j < m->d; j++) m->s1[j] += g[j], m->s2[j] += g[j] * g[j];
  m->n++;
}

static double mean(const moments *m, int j) { return m->s1[j] / m->n; }
static double var(const moments *m, int j) { return m->s2[j] / m->n - mean(m, j) * mean(m, j); }

static void measure(const char *name, cbrl_problem *p, int context, const double *x, int B) {
  cbrl_mdp m;
  if (cbrl_mdp_init(&m, p, context) || cbrl_mdp_evaluate(&m, p, context, x)) exit(1);
  printf("\n### %s\n\n", name);
  printf("| K | RT-Q samples / estimate | level-K samples / estimate | ratio | bias / s.e. (largest coordinate) |"
         " total variance RT-Q | total variance level K |\n|---|---|---|---|---|---|---|\n");
  for (int K = 4; K <= 10; K += 2) {
    cbrl_rtq_opts o;
    cbrl_rtq_opts_default(&o);
    o.levels = K;
    cbrl_rtq *w;
    if (cbrl_rtq_create(&w, p, &o)) exit(1);
    moments a = {.d = p->dim}, b = {.d = p->dim};
    double *g = malloc(sizeof(double) * p->dim), samples_rtq = 0, samples_plain = 0;
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 17, (uint64_t)K);
    for (int i = 0; i < B; i++) {
      cbrl_rtq_info info;
      if (cbrl_rtq_estimate(w, context, x, &m, NULL, &rng, -1, 0, g, &info)) exit(1);
      add(&a, g);
      samples_rtq += (double)info.follower_samples;
      if (cbrl_rtq_plain(w, context, x, &m, NULL, &rng, K, g, &info)) exit(1);
      add(&b, g);
      samples_plain += (double)info.follower_samples;
    }
    double worst = 0.0, va = 0.0, vb = 0.0;
    for (int j = 0; j < p->dim; j++) {
      double se = sqrt(var(&a, j) / a.n + var(&b, j) / b.n);
      double z = se > 0 ? fabs(mean(&a, j) - mean(&b, j)) / se : 0.0;
      worst = z > worst ? z : worst;
      va += var(&a, j);
      vb += var(&b, j);
    }
    printf("| %d | %.0f | %.0f | %.1f | %.2f | %.4g | %.4g |\n", K, samples_rtq / B, samples_plain / B,
           samples_plain / samples_rtq, worst, va, vb);
    fflush(stdout);
    free(g);
    cbrl_rtq_free(w);
  }
  cbrl_mdp_close(&m);
}

int main(int argc, char **argv) {
  int B = argc > 2 && !strcmp(argv[1], "--estimates") ? atoi(argv[2]) : 400;
  printf("RT-Q against the plain level-K estimator, %d estimates each; inner: batch HPGD, 10,000 steps.\n", B);
  cbrl_four_rooms_opts fo;
  cbrl_four_rooms_opts_default(&fo);
  fo.beta = 3.0;
  cbrl_problem *fr;
  if (cbrl_four_rooms_create(&fr, &fo)) return 1;
  double x[105];
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 0, 0);
  for (int j = 0; j < 105; j++) x[j] = 0.01 * cbrl_rng_normal(&rng);
  measure("Four-Rooms, lambda 0.003, beta 3, goal G2", fr, 1, x, B);
  cbrl_problem_free(fr);
  cbrl_random_opts o;
  cbrl_random_opts_default(&o);
  o.n_states = 50;
  o.n_actions = 4;
  o.dim = 8;
  o.n_contexts = 1;
  o.branch = 5;
  o.gamma = 0.9;
  o.seed = 3;
  cbrl_problem *rp;
  if (cbrl_random_problem_create(&rp, &o)) return 1;
  double xr[8] = {0};
  measure("Random problem: 50 states, 4 actions, d = 8, gamma 0.9, lambda 1", rp, 0, xr, B);
  cbrl_problem_free(rp);
  return 0;
}
