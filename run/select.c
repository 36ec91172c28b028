/* The one best-setting selection of the tables and the figures. */
#include "cbrl/run/select.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static const cbrl_run_summary *at(const void *runs, size_t stride, int i) {
  return (const cbrl_run_summary *)((const char *)runs + stride * (size_t)i);
}

void cbrl_run_column(const char *algorithm, const char *simulator, char *out, size_t size) {
  snprintf(out, size, "%s%s", algorithm ? algorithm : "?",
           simulator && !strcmp(simulator, "paper-code") ? " (paper-code sim)" : "");
}

static int in_cell(const cbrl_run_summary *r, const char *column, double lambda, double beta) {
  return !strcmp(r->column, column) && same(r->lambda, lambda) && same(r->beta, beta);
}

static int same_setting(const cbrl_run_summary *a, const cbrl_run_summary *b) {
  return a->learning_rate == b->learning_rate && same(a->zero_order_c, b->zero_order_c);
}

int cbrl_best_setting_find(const void *runs, int n, size_t stride, const char *column, double lambda, double beta,
                           int metric, int min_seeds, int *ids, cbrl_best_setting *best) {
  double best_mean = -INFINITY;
  int found = -1, n_best = 0;
  for (int i = 0; i < n; i++) {
    const cbrl_run_summary *a = at(runs, stride, i);
    if (!in_cell(a, column, lambda, beta)) continue;
    /* Each setting once, at its first run. */
    int first = 1;
    for (int j = 0; j < i && first; j++) first = !(in_cell(at(runs, stride, j), column, lambda, beta) &&
                                                  same_setting(at(runs, stride, j), a));
    if (!first) continue;
    double s = 0, s2 = 0;
    int k = 0;
    for (int j = i; j < n; j++) {
      const cbrl_run_summary *b = at(runs, stride, j);
      if (!in_cell(b, column, lambda, beta) || !same_setting(b, a)) continue;
      s += b->value[metric];
      s2 += b->value[metric] * b->value[metric];
      k++;
    }
    double mean = s / k;
    if (k >= min_seeds && mean > best_mean) {
      best_mean = mean;
      found = i;
      n_best = k;
      if (best) {
        best->n_runs = k;
        best->mean = mean;
        best->std_error = k > 1 ? sqrt(fmax(s2 - k * mean * mean, 0.0) / (k - 1) / k) : 0.0;
        best->learning_rate = a->learning_rate;
        best->zero_order_c = a->zero_order_c;
      }
    }
  }
  if (found < 0) return 0;
  if (ids) {
    int m = 0;
    for (int j = found; j < n; j++) {
      const cbrl_run_summary *b = at(runs, stride, j);
      if (in_cell(b, column, lambda, beta) && same_setting(b, at(runs, stride, found))) ids[m++] = j;
    }
  }
  return n_best;
}
