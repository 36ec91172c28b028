/* The soft maximum of one row, docs/MODEL.md 2: v = lambda logsumexp(q / lambda)
   and pi = softmax(q / lambda). Every sum is shifted by the row's maximum, so lambda down to 1e-4
   neither overflows nor loses the largest term. Every soft policy of the core (solver,
   followers, RT-Q, AMD) and the tax economy's split choice come from here. */
#include "soft_policy.h"

#include <math.h>
#include <stddef.h>

double cbrl__soft_terms(const double *q, int n, double lambda, double *e, double *shift) {
  double mx = q[0], z = 0.0;
  for (int a = 1; a < n; a++) mx = q[a] > mx ? q[a] : mx;
  for (int a = 0; a < n; a++) {
    double t = exp((q[a] - mx) / lambda);
    if (e) e[a] = t;
    z += t;
  }
  *shift = mx;
  return z;
}

double cbrl_soft_value(const double *q, int n, double lambda) {
  double mx, z = cbrl__soft_terms(q, n, lambda, NULL, &mx);
  return mx + lambda * log(z);
}

/* log pi = (q - v) / lambda stays finite where pi underflows to 0, which the score terms of the
   estimators need; pi is taken as exp(log pi) so the two agree to the last bit. */
double cbrl_soft_policy_row(const double *q, int n, double lambda, double *pi, double *log_pi) {
  double v = cbrl_soft_value(q, n, lambda);
  for (int a = 0; a < n; a++) {
    log_pi[a] = (q[a] - v) / lambda;
    pi[a] = exp(log_pi[a]);
  }
  return v;
}

/* The normalised exponentials e / z round differently from exp(log pi) in the last bit; AMD and
   the tax report were recorded with this form, so it stays for the places that need no log. */
double cbrl_softmax_row(const double *q, int n, double lambda, double *pi) {
  double mx, z = cbrl__soft_terms(q, n, lambda, pi, &mx);
  for (int a = 0; a < n; a++) pi[a] /= z;
  return mx + lambda * log(z);
}
