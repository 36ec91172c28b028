/* Bias of an HPGD batch estimator at a fixed x, coordinate by coordinate (docs/results/four_rooms.md,
   "Bias on rarely visited cells"). Runs R independent estimates on Four-Rooms (beta 3, lambda 0.003,
   x = 0.01 N(0, I) from seed 0, as tests/core/test_hpgd_critic.c) and prints, per context, the
   coordinates with the largest |mean - exact| / s.e. and one chosen coordinate in detail: the plain
   s.e. of the mean, a batch-means s.e. (the R estimates in G groups), the empirical spread of the
   group means, and tail statistics (kurtosis, the share of the largest deviations).

   Usage: estimator_bias [--env four-rooms|tax] [--estimator batch|critic|onehot|trajectory] [--steps N] [--reps R]
          [--groups G] [--context k] [--coord j] [--seed s] [--folds K] [--streams n]
          [--max-steps T] [--dump file] [--table file]
   `onehot` is the features critic with one-hot (s,a) features (the tabular critic but with the
   ridge prior in place of the state mean for pairs the other folds never took); `trajectory` hands
   each simulated batch to cbrl_hpgd_estimate_batch (the ask/tell path) with the batch estimator.
   `--env tax` takes the test's 40-bin, one-type tax economy at rates 0.3 instead (N / 200
   streams unless --streams is given; detail on coordinate 0, the income tax). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cbrl/trajectory.h"

static int onehot(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, int s, int a,
                  int *index, double *value, double *known) {
  (void)context, (void)x, (void)m;
  index[0] = s * p->n_actions + a;
  value[0] = 1.0;
  *known = 0.0;
  return 1;
}

static cbrl_problem_ops onehot_ops;


static int cmp_abs_desc(const void *a, const void *b) {
  double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
  return x < y ? 1 : x > y ? -1 : 0;
}

int main(int argc, char **argv) {
  const char *estimator = "critic", *dump = NULL, *table = NULL;
  int64_t steps = 10000;
  int reps = 1000, groups = 10, context = -1, coord = 66, folds = 0, streams = 5, max_steps = 200, tax = 0, streams_set = 0;
  uint64_t seed = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--estimator")) estimator = v;
    else if (!strcmp(k, "--steps")) steps = atoll(v);
    else if (!strcmp(k, "--reps")) reps = atoi(v);
    else if (!strcmp(k, "--groups")) groups = atoi(v);
    else if (!strcmp(k, "--context")) context = atoi(v);
    else if (!strcmp(k, "--coord")) coord = atoi(v);
    else if (!strcmp(k, "--seed")) seed = strtoull(v, NULL, 10);
    else if (!strcmp(k, "--folds")) folds = atoi(v);
    else if (!strcmp(k, "--streams")) streams = atoi(v), streams_set = 1;
    else if (!strcmp(k, "--env")) tax = !strcmp(v, "tax");
    else if (!strcmp(k, "--max-steps")) max_steps = atoi(v);
    else if (!strcmp(k, "--dump")) dump = v;
    else if (!strcmp(k, "--table")) table = v;
    else {
      fprintf(stderr, "estimator_bias: %s: unknown option\n", k);
      return 2;
    }
  }
  if (reps < 4 || groups < 2 || reps % groups) {
    fprintf(stderr, "estimator_bias: --reps must be a multiple of --groups (at least 2 groups)\n");
    return 2;
  }
  cbrl_problem *p = NULL;
  if (tax) { /* the 40-bin, one-type economy of tests/core/test_hpgd_critic.c, at rates 0.3 */
    cbrl_tax_opts to;
    cbrl_tax_opts_default(&to);
    to.n_bins = 40;
    to.n_types = 1;
    to.weight[0] = 1.0;
    check(cbrl_tax_create(&p, &to), "tax");
    if (!streams_set) streams = (int)(steps / 200);
    if (coord == 66) coord = 0;
  } else {
    p = bench_four_rooms();
  }
  cbrl_hpgd_opts o;
  cbrl_hpgd_opts_default(&o);
  o.steps = steps;
  o.streams = streams;
  o.max_steps = max_steps;
  o.folds = folds;
  int trajectory = 0;
  if (!strcmp(estimator, "batch")) o.kind = CBRL_HPGD_BATCH;
  else if (!strcmp(estimator, "trajectory")) o.kind = CBRL_HPGD_BATCH, trajectory = 1;
  else if (!strcmp(estimator, "critic")) o.kind = CBRL_HPGD_CRITIC, o.critic = CBRL_CRITIC_TABULAR;
  else if (!strcmp(estimator, "onehot")) {
    o.kind = CBRL_HPGD_CRITIC;
    o.critic = CBRL_CRITIC_FEATURES;
    onehot_ops = *p->ops;
    onehot_ops.features = onehot;
    p->ops = &onehot_ops;
    p->n_features = p->n_states * p->n_actions;
    p->feature_nnz = 1;
  } else {
    fprintf(stderr, "estimator_bias: --estimator: %s is not batch, critic, onehot or trajectory\n", estimator);
    return 2;
  }
  int d = p->dim;
  if (coord < 0 || coord >= d) coord = 66;
  cbrl_exact *e;
  check(cbrl_exact_create(&e, p), "exact");
  double x[105];
  cbrl_rng xr;
  cbrl_rng_seed(&xr, 0, 0);
  for (int j = 0; j < d; j++) x[j] = 0.01 * cbrl_rng_normal(&xr);
  if (tax) cbrl_tax_x_for_rate(0.3, x);
  cbrl_hpgd *h;
  check(cbrl_hpgd_create(&h, p, steps), "hpgd");
  cbrl_batch b = {0};
  if (trajectory) check(cbrl_batch_init(&b, steps), "batch");
  double *g = malloc(sizeof(double) * d), *exact = malloc(sizeof(double) * d);
  double *sum = malloc(sizeof(double) * d), *sum2 = malloc(sizeof(double) * d);
  double *gsum = malloc(sizeof(double) * d * groups), *vals = malloc(sizeof(double) * reps);
  printf("estimator %s, N %lld, streams %d, max_steps %d, folds %d, R %d in %d groups, seed %llu\n", estimator,
         (long long)steps, streams, max_steps, folds ? folds : 2, reps, groups, (unsigned long long)seed);
  FILE *df = dump ? fopen(dump, "w") : NULL;
  for (int k = 0; k < p->n_contexts; k++) {
    if (context >= 0 && k != context) continue;
    check(cbrl_exact_context(e, k, x, NULL, exact), "exact context");
    { /* the exact coordinate against a central finite difference of f */
      double y[105], fp, fm, hh = 1e-4;
      memcpy(y, x, sizeof y);
      y[coord] += hh;
      check(cbrl_exact_context(e, k, y, &fp, NULL), "exact +h");
      y[coord] -= 2 * hh;
      check(cbrl_exact_context(e, k, y, &fm, NULL), "exact -h");
      check(cbrl_exact_context(e, k, x, NULL, exact), "exact context");
      printf("context %d: exact coordinate %d %.6g, central difference %.6g\n", k, coord, exact[coord],
             (fp - fm) / (2 * hh));
    }
    const cbrl_mdp *m = cbrl_exact_mdp(e, k);
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    cbrl_policy pol = {m->n_states, m->n_actions, w->pi, w->log_pi};
    cbrl_rng rng;
    cbrl_rng_seed(&rng, seed, (uint64_t)k);
    memset(sum, 0, sizeof(double) * d);
    memset(sum2, 0, sizeof(double) * d);
    memset(gsum, 0, sizeof(double) * d * groups);
    double t0 = now();
    for (int r = 0; r < reps; r++) {
      if (trajectory) {
        char msg[256];
        check(cbrl_sim_batch(m, &pol, o.streams, o.steps / o.streams, o.max_steps, 0, &rng, &b), "sim");
        int err = cbrl_hpgd_estimate_batch(h, k, x, m, &b, &o, g, NULL, msg, sizeof msg);
        if (err) fprintf(stderr, "%s\n", msg);
        check(err, "estimate_batch");
      } else {
        check(cbrl_hpgd_estimate(h, k, x, m, NULL, &pol, &o, &rng, g, NULL), "estimate");
      }
      int grp = r / (reps / groups);
      for (int j = 0; j < d; j++) sum[j] += g[j], sum2[j] += g[j] * g[j], gsum[(size_t)grp * d + j] += g[j];
      vals[r] = g[coord];
      if (df) fprintf(df, "%d %.17g\n", k, g[coord]);
    }
    double secs = now() - t0;
    /* Per coordinate: z with the plain s.e.; calibration over coordinates (mean z^2 should be 1). */
    double z2 = 0.0, worst = 0.0;
    int worst_j = 0, over3 = 0, over44 = 0;
    double *z = malloc(sizeof(double) * d);
    for (int j = 0; j < d; j++) {
      double mean = sum[j] / reps, var = fmax(sum2[j] / reps - mean * mean, 0.0) * reps / (reps - 1);
      double se = sqrt(var / reps);
      z[j] = (mean - exact[j]) / (se + 1e-300);
      z2 += z[j] * z[j];
      over3 += fabs(z[j]) > 3.0;
      over44 += fabs(z[j]) > 4.4;
      if (fabs(z[j]) > worst) worst = fabs(z[j]), worst_j = j;
    }
    printf("context %d (%.1f s, %.2f ms per estimate): mean z^2 over %d coordinates %.2f, |z| > 3: %d, |z| > 4.4: %d,"
           " largest |z| %.2f at coordinate %d\n",
           k, secs, 1e3 * secs / reps, d, z2 / d, over3, over44, worst, worst_j);
    /* The five largest |z|. */
    double *order = malloc(sizeof(double) * d);
    memcpy(order, z, sizeof(double) * d);
    qsort(order, (size_t)d, sizeof(double), cmp_abs_desc);
    printf("  largest:");
    for (int q = 0; q < 5 && q < d; q++)
      for (int j = 0; j < d; j++)
        if (z[j] == order[q]) printf(" %d (z %+.2f)", j, z[j]);
    printf("\n");
    free(order);
    /* The chosen coordinate in detail. */
    int j = coord;
    double mean = sum[j] / reps, var = fmax(sum2[j] / reps - mean * mean, 0.0) * reps / (reps - 1);
    double se = sqrt(var / reps), gm2 = 0.0;
    int per = reps / groups;
    for (int q = 0; q < groups; q++) {
      double gm = gsum[(size_t)q * d + j] / per - mean;
      gm2 += gm * gm;
    }
    double spread = sqrt(gm2 / (groups - 1)); /* empirical s.d. of a mean of `per` estimates */
    double se_groups = spread / sqrt((double)groups);
    /* How far a group's own plain s.e. falls short of the true s.e. of its mean (median over
       groups): a heavy tail that a small group mostly misses makes its s.e. too small. */
    double *gse = malloc(sizeof(double) * groups);
    for (int q = 0; q < groups; q++) {
      double a = 0.0, a2 = 0.0;
      for (int r = q * per; r < (q + 1) * per; r++) a += vals[r], a2 += vals[r] * vals[r];
      a /= per;
      gse[q] = sqrt(fmax(a2 / per - a * a, 0.0) / (per - 1));
    }
    printf("  a %d-estimate group's own s.e. / the s.e. from all estimates: median %.2f\n", per,
           median(gse, groups) / sqrt(var / per));
    free(gse);
    double m4 = 0.0;
    for (int r = 0; r < reps; r++) m4 += pow(vals[r] - mean, 4);
    double kurt = m4 / reps / (var * var);
    for (int r = 0; r < reps; r++) vals[r] -= exact[j];
    qsort(vals, (size_t)reps, sizeof(double), cmp_abs_desc);
    double top = 0.0, all = 0.0;
    int ntop = reps / 100 > 0 ? reps / 100 : 1;
    for (int r = 0; r < reps; r++) all += vals[r], top += r < ntop ? vals[r] : 0.0;
    printf("  coordinate %d: exact %.6g, mean %.6g, bias %+.3g (%+.1f%% of exact)\n", j, exact[j], mean,
           mean - exact[j], 100.0 * (mean - exact[j]) / exact[j]);
    printf("  s.e. plain %.3g (z %+.2f), batch means over %d groups %.3g (z %+.2f); s.d. of a %d-estimate mean:"
           " empirical %.3g, from the plain s.d. %.3g (ratio %.2f)\n",
           se, (mean - exact[j]) / se, groups, se_groups, (mean - exact[j]) / se_groups, per, spread,
           sqrt(var / per), spread / sqrt(var / per));
    printf("  s.d. per estimate %.3g, kurtosis %.1f, largest deviation %.1f s.d., the largest 1%% of deviations"
           " carry %.0f%% of the summed deviation\n",
           sqrt(var), kurt, fabs(vals[0]) / sqrt(var), all != 0.0 ? 100.0 * top / all : 0.0);
    /* z per cell on the map (the 105th coordinate, the unused budget, is not a cell), and the
       bias's size against the exact gradient's. */
    double bn = 0.0, en = 0.0;
    for (int q = 0; q < d; q++) {
      double bq = sum[q] / reps - exact[q];
      bn += bq * bq, en += exact[q] * exact[q];
    }
    printf("  |mean - exact| / |exact| %.3f%s\n", sqrt(bn / en), tax ? "" : "; z per cell (row by row, . a wall):");
    for (int row = 0; row < CBRL_FOUR_ROOMS_SIZE && !tax; row++) {
      printf("   ");
      for (int col = 0; col < CBRL_FOUR_ROOMS_SIZE; col++) {
        int c = cbrl_four_rooms_cell(row, col);
        if (c < 0) printf("     .");
        else printf(" %+5.1f", z[c]);
      }
      printf("\n");
    }
    if (table) { /* context, coordinate, exact, mean, s.e. */
      FILE *tf = fopen(table, "a");
      for (int q = 0; tf && q < d; q++) {
        double mq = sum[q] / reps, vq = fmax(sum2[q] / reps - mq * mq, 0.0) * reps / (reps - 1);
        fprintf(tf, "%d %d %.10g %.10g %.10g\n", k, q, exact[q], mq, sqrt(vq / reps));
      }
      if (tf) fclose(tf);
    }
    free(z);
  }
  if (df) fclose(df);
  free(g), free(exact), free(sum), free(sum2), free(gsum), free(vals);
  if (trajectory) cbrl_batch_close(&b);
  cbrl_hpgd_free(h);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
  return 0;
}
