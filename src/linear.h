/* Internal: restarted GMRES for the Markov systems (I - gamma P_pi) x = b and their transposes.
   Every policy evaluation, occupancy and adjoint solve of the follower and of the exact
   hypergradient (docs/MODEL.md) is one of these. */
#ifndef CBRL_LINEAR_H
#define CBRL_LINEAR_H

#include <stdint.h>

#include "cbrl/model.h"

typedef struct cbrl__linear {
  int n;          /* system size (n_states) */
  int krylov;     /* restart length */
  double *basis;  /* (krylov+1) x n */
  double *hess;   /* (krylov+1) x krylov, column-major Hessenberg */
  double *cs, *sn; /* krylov: Givens rotations */
  double *g;      /* krylov+1: rotated residual */
  double *y;      /* krylov */
  double *work;   /* n */
  double *work2;  /* n: preconditioned vector */
} cbrl__linear;

/* P_pi(s, s') = sum_a pi(a|s) P(s'|s,a) as a state-level CSR; terminal rows are empty. Built once
   per policy, it makes each product one pass over the distinct (s, s') pairs. */
typedef struct cbrl__markov_matrix {
  int n;
  int64_t capacity;
  int64_t *row; /* n + 1 */
  int32_t *col; /* capacity */
  double *val;  /* capacity */
  double *diag; /* n: P_pi(s, s), for the Gauss-Seidel preconditioner */
  int64_t *lower_end;   /* n: row s holds t < s in [row[s], lower_end[s]), */
  int64_t *upper_begin; /* n: and t > s in [upper_begin[s], row[s+1]) */
  int32_t *slot; /* n: scratch for merging duplicates */
  double *dense; /* n: scratch of the build's contiguous-row path, all zero between builds */
  const double **kernel; /* n_kernel: per action, where the build reads a shifted row's values */
  int n_kernel;
} cbrl__markov_matrix;

/* The operator x -> x - gamma P_pi x (or its transpose). */
typedef struct cbrl__markov {
  const cbrl__markov_matrix *p;
  double gamma;
  int transpose;
  const volatile int *cancel; /* checked at each restart; NULL: never */
} cbrl__markov;

int cbrl__markov_matrix_init(cbrl__markov_matrix *mm, int n);
void cbrl__markov_matrix_close(cbrl__markov_matrix *mm);
/* Builds P_pi of m under pi (n_states x n_actions). */
int cbrl__markov_matrix_build(cbrl__markov_matrix *mm, const cbrl_mdp *m, const double *pi);

int cbrl__linear_init(cbrl__linear *l, int n, int krylov);
void cbrl__linear_close(cbrl__linear *l);

/* y = A x for the Markov operator. */
void cbrl__markov_apply(const cbrl__markov *op, const double *x, double *y);

/* Solves A x = b from the initial guess in x until ||b - A x||_2 <= tol (or a floor set by
   double precision). Adds the matrix-vector products used to *iterations. Returns 0,
   CBRL_ENOCONV after max_iterations, or CBRL_ENONFINITE. */
int cbrl__linear_solve(cbrl__linear *l, const cbrl__markov *op, const double *b, double *x,
                       double tol, int max_iterations, int64_t *iterations, double *residual);

#endif /* CBRL_LINEAR_H */
