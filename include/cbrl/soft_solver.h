/* The follower's soft best response (docs/MODEL.md 2): soft Q*, V*, pi*,
   policy evaluation and occupancy. */
#ifndef CBRL_SOFT_SOLVER_H
#define CBRL_SOFT_SOLVER_H

#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/model.h"

/* ---- Options and statistics ------------------------------------------------ */

typedef struct cbrl_soft_opts {
  double tol;                /* stop when max|T(Q) - Q| <= tol * max(1, max|Q|); tol is raised to
                                16 eps sqrt(n_states) / (1 - gamma) if smaller, the floor that
                                double precision can reach */
  int max_iterations;        /* soft policy-iteration steps */
  int max_linear_iterations; /* Krylov products per linear solve */
  int krylov_dim;            /* GMRES restart length */
  const volatile int *cancel; /* when *cancel becomes nonzero (a signal handler may set it), a
                                 solve or evaluation returns CBRL_ECANCELED at its next Newton
                                 step or Krylov restart; NULL (the default): never */
} cbrl_soft_opts;

/* What the last call did; numerical trouble is reported here and by the return code. */
typedef struct cbrl_soft_stats {
  int iterations;            /* soft policy-iteration steps */
  int64_t linear_iterations; /* Markov matrix-vector products */
  int linear_solves;
  double residual;           /* final max|T(Q) - Q|, or the linear residual for evaluations */
  int converged;             /* 1 if the tolerance was met */
  int nonfinite;             /* 1 if a NaN or Inf appeared */
} cbrl_soft_stats;

/* Fills o with defaults: tol 1e-11, 100 iterations, 20000 linear iterations, Krylov 30. */
CBRL_API void cbrl_soft_opts_default(cbrl_soft_opts *o);

/* ---- The solver workspace ------------------------------------------------------ */

struct cbrl__linear;
struct cbrl__markov_matrix;

/* A follower's soft best response and the scratch that computes it; reuse it across x
   so that every solve is warm-started from the previous one. The fields above `priv` are the
   public result; `priv` is the solver's own state (libuv's UV_*_PRIVATE_FIELDS): read or write
   it only through the functions below, since its layout may change in any release. */
typedef struct cbrl_soft_solver {
  int n_states;
  int n_actions;
  double *q;      /* n_states x n_actions: soft Q* */
  double *v;      /* n_states: soft V* */
  double *pi;     /* n_states x n_actions: pi*(a|s) */
  double *log_pi; /* n_states x n_actions: log pi*(a|s), finite even where pi underflows */
  cbrl_soft_stats stats; /* of the last call */
  cbrl_soft_opts opts;   /* defaults from init; tol and the iteration limits may be changed
                            between calls (krylov_dim is read by init only, so stays 30) */
  struct { /* private */
    int warm;       /* 1 once q holds a solution to start from */
    double *q_next; /* n_states x n_actions scratch */
    double *v_eval; /* n_states: last policy evaluation, the next one's initial guess */
    double *rhs;    /* n_states scratch */
    double *column; /* n_states x n_actions + n_states: one coordinate of a vector evaluation */
    struct cbrl__linear *linear;
    struct cbrl__markov_matrix *markov; /* P_pi of the current policy */
    const cbrl_mdp *markov_mdp;         /* the MDP it was built from ... */
    unsigned long markov_version;       /* ... at this version of it */
    int markov_current;                 /* 0 once pi changes */
  } priv;
} cbrl_soft_solver;

/* Allocates a solver for MDPs of the given size, with default options. */
CBRL_API int cbrl_soft_solver_init(cbrl_soft_solver *w, int n_states, int n_actions);

/* Releases the solver's storage. */
CBRL_API void cbrl_soft_solver_close(cbrl_soft_solver *w);

/* Forgets the previous solution, so the next solve starts cold. */
CBRL_API void cbrl_soft_solver_reset(cbrl_soft_solver *w);

/* Computes Q*, V* and pi* of m by soft policy iteration (Newton on the soft Bellman equation),
   warm-started from the previous solution. Returns 0, CBRL_ENOCONV or CBRL_ENONFINITE. */
CBRL_API int cbrl_soft_solver_solve(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma,
                                    double lambda);

/* Sets the policy to softmax(q / lambda) for a given q (n_states x n_actions), e.g. a learned one. */
CBRL_API int cbrl_soft_solver_set_q(cbrl_soft_solver *w, const double *q, double lambda);

/* Evaluates the current policy for a scalar reward (n_states x n_actions): solves
   v = sum_a pi (reward + gamma P v); v holds the initial guess on entry. */
CBRL_API int cbrl_soft_solver_evaluate(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma,
                                       const double *reward, double *v);

/* Evaluates the current policy for a d-vector reward (n_states x n_actions x dim, dim fastest);
   v is n_states x dim and holds the initial guess on entry. */
CBRL_API int cbrl_soft_solver_evaluate_vector(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma,
                                              int dim, const double *reward, double *v);

/* Discounted occupancy d(s) = sum_t gamma^t Pr(s_t = s) of the current policy from s_0 ~ start
   (m->mu when start is NULL; any signed vector is allowed); d holds the initial guess on entry. */
CBRL_API int cbrl_soft_solver_occupancy(cbrl_soft_solver *w, const cbrl_mdp *m, double gamma,
                                        const double *start, double *d);

/* ---- One row of a soft maximum (docs/MODEL.md 2) ----------- */

/* Returns v = lambda log sum_a exp(q[a] / lambda) over q[0..n), shifted by the maximum so that a
   small lambda neither overflows nor loses the largest term. */
CBRL_API double cbrl_soft_value(const double *q, int n, double lambda);

/* Writes the soft policy pi = softmax(q / lambda) of one row and log pi = (q - v) / lambda (finite
   where pi underflows), with pi = exp(log pi); returns v = cbrl_soft_value(q, n, lambda). */
CBRL_API double cbrl_soft_policy_row(const double *q, int n, double lambda, double *pi, double *log_pi);

/* Writes softmax(q / lambda) of one row as normalised exponentials e_a / sum_b e_b, without its
   log, and returns cbrl_soft_value(q, n, lambda); pi may differ from cbrl_soft_policy_row's in the
   last bit, and may be q itself. */
CBRL_API double cbrl_softmax_row(const double *q, int n, double lambda, double *pi);

#endif /* CBRL_SOFT_SOLVER_H */
