/* Stochastic hypergradient estimators (SPEC 4.1-4.3). They use only trajectories of the
   follower's policy, the leader's own rewards, and the mechanism derivatives (the problem's vjp). */
#ifndef CBRL_ESTIMATORS_H
#define CBRL_ESTIMATORS_H

#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/follower.h"
#include "cbrl/model.h"
#include "cbrl/rng.h"
#include "cbrl/simulate.h"

/* What an estimate cost. */
typedef struct cbrl_estimate_info {
  int64_t env_steps;  /* simulated environment steps */
  int64_t episodes;   /* episodes started */
  int64_t finished;   /* episodes that terminated or hit the time limit */
  int64_t dropped;    /* steps of truncated episodes that could not be bootstrapped */
} cbrl_estimate_info;

/* ---- HPGD (SPEC 4.1) ---------------------------------------------------------- */

/* Batch-estimator settings: the paper's runs use 10,000 steps as 5 streams of 2,000, cut at 200. */
typedef struct cbrl_hpgd_opts {
  int64_t steps;     /* N, environment steps per estimate */
  int streams;       /* parallel episode streams; N / streams steps each */
  int max_steps;     /* episode time limit (0: none) */
  unsigned sim_flags; /* CBRL_SIM_* for the batch (0; RT-Q couples its estimates) */
} cbrl_hpgd_opts;

/* Fills o with the paper's settings: 10,000 steps, 5 streams, time limit 200. */
CBRL_API void cbrl_hpgd_opts_default(cbrl_hpgd_opts *o);

/* Workspace of the HPGD estimators for one problem; reused across calls. */
typedef struct cbrl_hpgd cbrl_hpgd;

/* Creates a workspace able to hold batches of up to max_batch_steps steps. */
CBRL_API int cbrl_hpgd_create(cbrl_hpgd **out, const cbrl_problem *p, int64_t max_batch_steps);

/* Frees a workspace; NULL is allowed. */
CBRL_API void cbrl_hpgd_free(cbrl_hpgd *h);

/* Makes every estimate of the workspace simulate with c (NULL: the tabular model), which the
   estimators prepare at each call's x: both HPGD estimators then learn from c's trajectories. */
CBRL_API int cbrl_hpgd_set_continuous(cbrl_hpgd *h, cbrl_continuous *c);

/* Batch estimate of grad f(x, pi, context) from N on-policy steps of `sim` (SPEC 4.1b): tabular
   Monte Carlo values, truncated episodes bootstrapped from terminated visits of their last state.
   Writes grad (dim). */
CBRL_API int cbrl_hpgd_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *sim,
                             const cbrl_policy *pi, const cbrl_hpgd_opts *o, cbrl_rng *rng,
                             double *grad, cbrl_estimate_info *info);

/* One unbiased sample of grad f with geometric horizons (SPEC 4.1a). Writes grad (dim). */
CBRL_API int cbrl_hpgd_sample(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *sim,
                              const cbrl_policy *pi, cbrl_rng *rng, double *grad,
                              cbrl_estimate_info *info);

/* The mean of unbiased samples (SPEC 4.1a) drawn until step_budget environment steps are spent,
   with one vjp for all of them. Writes grad (dim); info->episodes counts the samples. */
CBRL_API int cbrl_hpgd_sample_mean(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *sim,
                                   const cbrl_policy *pi, int64_t step_budget, cbrl_rng *rng,
                                   double *grad, cbrl_estimate_info *info);


/* ---- AMD (SPEC 4.3; Chen et al. 2022) ---------------------------------------- */

/* AMD's per-context tables (Q_LL, grad Q_LL, Q_UL, Qtil), warm across outer iterations. */
typedef struct cbrl_amd cbrl_amd;

/* Creates AMD's tables. AMD's forward-mode updates carry no grad P or grad mu terms, so a problem
   whose P or mu depends on x, or that has no reward_jacobian op, gives CBRL_ENOTSUP. */
CBRL_API int cbrl_amd_create(cbrl_amd **out, const cbrl_problem *p);

/* Frees AMD's tables; NULL is allowed. */
CBRL_API void cbrl_amd_free(cbrl_amd *a);

/* Runs `updates` synchronous updates (K = 100 in the paper) of the context's tables at x, with m
   the context's MDP at x, initialising them on first use; writes grad = sum_s mu(s) Vtil(s). */
CBRL_API int cbrl_amd_step(cbrl_amd *a, int context, const double *x, const cbrl_mdp *m, int updates,
                           double *grad);

/* ---- RT-Q: randomly truncated multilevel HPGD (SPEC 4.4) ------------------------- */

typedef struct cbrl_rtq_opts {
  int levels;             /* K: the deepest level trains 2^K soft Q-learning iterations */
  double level_decay;     /* p_k proportional to 2^(-level_decay k), k = 1..K (1 in SPEC 4.4) */
  cbrl_schedule schedule; /* soft Q-learning steps */
  int inner_unbiased;     /* 0: batch HPGD estimates inside (hpgd); 1: unbiased, inner_samples each */
  int inner_samples;
  cbrl_hpgd_opts hpgd;
} cbrl_rtq_opts;

/* Fills o: K = 6, p_k ~ 2^-k, rescaled-linear steps, batch HPGD inside with the paper's N. */
CBRL_API void cbrl_rtq_opts_default(cbrl_rtq_opts *o);

/* What one estimate drew and cost. */
typedef struct cbrl_rtq_info {
  int level;                /* k */
  double p_level;           /* p_k */
  int64_t follower_samples; /* generative-model samples: 2^k x n_states x n_actions */
  int64_t env_steps;        /* trajectory steps of the inner HPGD estimates */
} cbrl_rtq_info;

typedef struct cbrl_rtq cbrl_rtq;

/* Creates an RT-Q workspace for p. */
CBRL_API int cbrl_rtq_create(cbrl_rtq **out, const cbrl_problem *p, const cbrl_rtq_opts *o);

/* Frees it; NULL is allowed. */
CBRL_API void cbrl_rtq_free(cbrl_rtq *w);

/* One RT-Q estimate g = g(pi0) + (g(pi_k) - g(pi_{k-1})) / p_k, where one soft Q-learning run
   from Q = 0 gives pi0 after 1 iteration, pi_{k-1} after 2^(k-1) and pi_k after 2^k, and
   g(pi_k), g(pi_{k-1}) share their trajectories' random numbers. level < 0 draws k; otherwise
   k = level (for tests). independent != 0 gives the two their own random numbers instead. */
CBRL_API int cbrl_rtq_estimate(cbrl_rtq *w, int context, const double *x, const cbrl_mdp *m, cbrl_rng *rng,
                               int level, int independent, double *grad, cbrl_rtq_info *info);

/* The plain level-k estimate: HPGD with the follower trained 2^k iterations from Q = 0. */
CBRL_API int cbrl_rtq_plain(cbrl_rtq *w, int context, const double *x, const cbrl_mdp *m, cbrl_rng *rng, int level,
                            double *grad, cbrl_rtq_info *info);

#endif /* CBRL_ESTIMATORS_H */
