/* Contexts from a distribution (docs/MODEL.md 1.2). The Gauss-Hermite rule is found by Newton's
   method on the orthonormal Hermite recurrence (the classic gauher, for the physicists' weight
   exp(-t^2)), then mapped to N(0, 1) by z = sqrt(2) t, w = w_t / sqrt(pi). */
#include "cbrl/contexts.h"

#include <math.h>
#include <stddef.h>

#include "cbrl/errors.h"

/* Weights that sum to 1 to rounding (the rules' own sum to 1 only to about 1e-15). */
static void normalise(double *w, int n) {
  double sum = 0.0;
  for (int i = 0; i < n; i++) sum += w[i];
  for (int i = 0; i < n; i++) w[i] /= sum;
}

/* n draws of one standard distribution with weights 1 / n: a fixed sample. */
static int sample(int n, cbrl_rng *rng, double (*draw)(cbrl_rng *), double *v, double *w) {
  if (n < 1 || !rng || !v || !w) return CBRL_EINVAL;
  for (int i = 0; i < n; i++) {
    v[i] = draw(rng);
    w[i] = 1.0 / n;
  }
  return 0;
}

int cbrl_contexts_normal_quadrature(int n, double *z, double *w) {
  if (n < 1 || n > 64 || !z || !w) return CBRL_EINVAL;
  const double pim4 = 0.7511255444649425; /* pi^(-1/4) */
  double t = 0.0;
  int m = (n + 1) / 2;
  for (int i = 0; i < m; i++) {
    /* Initial guesses for the largest roots first, then from the previous ones. */
    if (i == 0) t = sqrt(2.0 * n + 1.0) - 1.85575 * pow(2.0 * n + 1.0, -0.16667);
    else if (i == 1) t -= 1.14 * pow((double)n, 0.426) / t;
    else if (i == 2) t = 1.86 * t - 0.86 * z[0] / sqrt(2.0);
    else if (i == 3) t = 1.91 * t - 0.91 * z[1] / sqrt(2.0);
    else t = 2.0 * t - z[i - 2] / sqrt(2.0);
    double pp = 0.0;
    int it;
    for (it = 0; it < 100; it++) {
      double p1 = pim4, p2 = 0.0;
      for (int j = 1; j <= n; j++) {
        double p3 = p2;
        p2 = p1;
        p1 = t * sqrt(2.0 / j) * p2 - sqrt((double)(j - 1) / j) * p3;
      }
      pp = sqrt(2.0 * n) * p2;
      double t1 = t;
      t = t1 - p1 / pp;
      if (fabs(t - t1) <= 3e-14) break;
    }
    if (it == 100) return CBRL_ENOCONV;
    double wt = 2.0 / (pp * pp);
    z[i] = sqrt(2.0) * t;
    z[n - 1 - i] = -sqrt(2.0) * t;
    w[i] = w[n - 1 - i] = wt / 1.7724538509055160273; /* / sqrt(pi) */
  }
  if (n % 2) z[m - 1] = 0.0; /* the middle root exactly */
  /* Ascending order, and weights summing to 1 to rounding. */
  for (int i = 0; i < n / 2; i++) {
    double a = z[i];
    z[i] = z[n - 1 - i];
    z[n - 1 - i] = a;
  }
  normalise(w, n);
  return 0;
}

int cbrl_contexts_normal(cbrl_context_rule rule, int n, cbrl_rng *rng, double *z, double *w) {
  if (rule == CBRL_CONTEXTS_QUADRATURE) return cbrl_contexts_normal_quadrature(n, z, w);
  return rule == CBRL_CONTEXTS_SAMPLE ? sample(n, rng, cbrl_rng_normal, z, w) : CBRL_EINVAL;
}

int cbrl_contexts_uniform_quadrature(int n, double *u, double *w) {
  if (n < 1 || n > 64 || !u || !w) return CBRL_EINVAL;
  /* Newton on the Legendre recurrence from Tricomi's guesses, nodes t of [-1, 1] by symmetry,
     then u = (1 + t) / 2 and w = w_t / 2 for U(0, 1). */
  int m = (n + 1) / 2;
  for (int i = 0; i < m; i++) {
    double t = cos(3.14159265358979323846 * (i + 0.75) / (n + 0.5)), pp = 0.0;
    int it;
    for (it = 0; it < 100; it++) {
      double p1 = 1.0, p2 = 0.0;
      for (int j = 1; j <= n; j++) {
        double p3 = p2;
        p2 = p1;
        p1 = ((2.0 * j - 1.0) * t * p2 - (j - 1.0) * p3) / j;
      }
      pp = n * (t * p1 - p2) / (t * t - 1.0);
      double t1 = t;
      t = t1 - p1 / pp;
      if (fabs(t - t1) <= 3e-15) break;
    }
    if (it == 100) return CBRL_ENOCONV;
    double wt = 2.0 / ((1.0 - t * t) * pp * pp);
    u[i] = 0.5 * (1.0 - t); /* t is the i-th largest root: ascending u */
    u[n - 1 - i] = 0.5 * (1.0 + t);
    w[i] = w[n - 1 - i] = 0.5 * wt;
  }
  if (n % 2) u[m - 1] = 0.5;
  normalise(w, n);
  return 0;
}

int cbrl_contexts_uniform(cbrl_context_rule rule, int n, cbrl_rng *rng, double *u, double *w) {
  if (rule == CBRL_CONTEXTS_QUADRATURE) return cbrl_contexts_uniform_quadrature(n, u, w);
  return rule == CBRL_CONTEXTS_SAMPLE ? sample(n, rng, cbrl_rng_uniform, u, w) : CBRL_EINVAL;
}

double cbrl_contexts_grouped_standard_error(const double *f, const double *weight, int n_groups, int n) {
  if (!f || !weight || n_groups < 1 || n < 2) return 0.0;
  double mean = 0.0, ss = 0.0;
  for (int i = 0; i < n; i++) {
    double g = 0.0;
    for (int k = 0; k < n_groups; k++) g += n * weight[(size_t)k * n + i] * f[(size_t)k * n + i];
    mean += g;
  }
  mean /= n;
  for (int i = 0; i < n; i++) {
    double g = 0.0;
    for (int k = 0; k < n_groups; k++) g += n * weight[(size_t)k * n + i] * f[(size_t)k * n + i];
    ss += (g - mean) * (g - mean);
  }
  return sqrt(ss / (n - 1) / n);
}

double cbrl_contexts_standard_error(const double *f, int n) {
  if (!f || n < 2) return 0.0;
  double mean = 0.0, ss = 0.0;
  for (int i = 0; i < n; i++) mean += f[i];
  mean /= n;
  for (int i = 0; i < n; i++) ss += (f[i] - mean) * (f[i] - mean);
  return sqrt(ss / (n - 1) / n);
}
