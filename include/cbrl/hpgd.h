/* HPGD, the hyper policy gradient estimators (docs/MODEL.md, HPGD): they use only trajectories
   of the follower's policy, the leader's own rewards and the mechanism derivatives (the vjp). */
#ifndef CBRL_HPGD_H
#define CBRL_HPGD_H

#include <stdint.h>
#include "cbrl/export.h"
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

#endif /* CBRL_HPGD_H */
