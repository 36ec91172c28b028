/* Contexts from a distribution (docs/MODEL.md 1.2): a follower type theta drawn from a continuous
   distribution becomes a finite set of contexts, either quadrature nodes with their weights
   (exact F is then the quadrature) or a fixed sample with equal weights (exact F is the sample
   average, reported with its standard error). */
#ifndef CBRL_CONTEXTS_H
#define CBRL_CONTEXTS_H

#include "cbrl/export.h"
#include "cbrl/rng.h"

/* How a continuous type distribution becomes contexts. */
typedef enum cbrl_context_rule {
  CBRL_CONTEXTS_QUADRATURE = 0, /* Gauss-Hermite nodes of Z ~ N(0, 1), exact for polynomials in Z
                                   of degree up to 2n - 1 */
  CBRL_CONTEXTS_SAMPLE = 1      /* n draws of Z ~ N(0, 1), weights 1 / n */
} cbrl_context_rule;

/* Writes n nodes z and weights w (summing to 1) of the probabilists' Gauss-Hermite rule:
   sum_i w_i g(z_i) approximates E[g(Z)], Z ~ N(0, 1). 1 <= n <= 64; CBRL_ENOCONV if a
   node's Newton iteration fails. */
CBRL_API int cbrl_contexts_normal_quadrature(int n, double *z, double *w);

/* Writes the n standard-normal values z and weights w of a rule: quadrature nodes, or n draws
   from rng (which may then be NULL for the quadrature). */
CBRL_API int cbrl_contexts_normal(cbrl_context_rule rule, int n, cbrl_rng *rng, double *z, double *w);

/* Writes n nodes u in (0, 1) and weights w (summing to 1) of the Gauss-Legendre rule:
   sum_i w_i g(u_i) approximates E[g(U)], U ~ U(0, 1), exactly for polynomials of degree up to
   2n - 1. 1 <= n <= 64; CBRL_ENOCONV if a node's Newton iteration fails. */
CBRL_API int cbrl_contexts_uniform_quadrature(int n, double *u, double *w);

/* Writes the n values u of U(0, 1) and weights w of a rule: Gauss-Legendre nodes, or n draws
   from rng (which may then be NULL for the quadrature). */
CBRL_API int cbrl_contexts_uniform(cbrl_context_rule rule, int n, cbrl_rng *rng, double *u, double *w);

/* The standard error of F = sum_i w_i f_i as an estimate of E[f] when the contexts are n i.i.d.
   draws with equal weights: the sample standard deviation of f over sqrt(n); 0 for n < 2. */
CBRL_API double cbrl_contexts_standard_error(const double *f, int n);

/* The standard error of F = sum_c q_c f_c when the contexts are n_groups listed templates, each
   expanded over the same n draws with equal weights (context k n + i is template k at draw i,
   q_{k n + i} = q_k / n): the draws' values g_i = n sum_k q_{k n + i} f_{k n + i} are i.i.d.
   with mean F, so this is the standard error of their average; 0 for n < 2. */
CBRL_API double cbrl_contexts_grouped_standard_error(const double *f, const double *weight, int n_groups, int n);

#endif /* CBRL_CONTEXTS_H */
