/* HPGD, the hyper policy gradient estimators (docs/MODEL.md 4.1): they use only trajectories
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

/* Which HPGD estimate (docs/MODEL.md 4.1). */
typedef enum cbrl_hpgd_kind {
  /* From N on-policy steps: tabular Monte Carlo values, truncated episodes bootstrapped from
     terminated visits of their last state. Biased for finite N, low variance; the paper's. */
  CBRL_HPGD_BATCH = 0,
  /* The mean of unbiased samples with geometric horizons, drawn until `steps` environment steps
     are spent or `samples` are drawn (one sample: samples = 1, steps = 0), with one vjp for all. */
  CBRL_HPGD_UNBIASED = 1,
  /* The batch cross-fitted (docs/MODEL.md 4.1c): Abar of each fold's steps from a critic fitted
     on the other folds, paired with one-return gA; the batch estimator's cost. */
  CBRL_HPGD_CRITIC = 2
} cbrl_hpgd_kind;

/* The critic of the cross-fitted estimator (docs/MODEL.md 4.1c). */
typedef enum cbrl_hpgd_critic {
  CBRL_CRITIC_AUTO = 0,     /* features when the problem supplies them, else tabular */
  CBRL_CRITIC_TABULAR = 1,  /* per-(s,a) means of the other folds' leader returns */
  CBRL_CRITIC_FEATURES = 2, /* ridge least squares in the problem's features (cbrl_problem_ops.features) */
  CBRL_CRITIC_MODEL = 3     /* no fit: the leader's policy evaluation on the kernel the batch came from */
} cbrl_hpgd_critic;

/* Whether the follower's vector reward subtracts V*_hat(s) inside its score term,
   c = grad r + gam grad log P(s'|s,a) (V*(s') - V*_hat(s)) (docs/MODEL.md 4.1c): the same mean,
   less variance. The default is on for the critic estimator, off for the batch estimator. */
typedef enum cbrl_hpgd_baseline {
  CBRL_BASELINE_DEFAULT = 0,
  CBRL_BASELINE_ON = 1,
  CBRL_BASELINE_OFF = 2
} cbrl_hpgd_baseline;

/* The batch estimator as the paper's tax code computed it (docs/MODEL.md 4.1d). */
typedef enum cbrl_hpgd_variant {
  CBRL_VARIANT_SPEC = 0,      /* docs/MODEL.md 4.1b as written */
  CBRL_VARIANT_PAPER_CODE = 1 /* no follower response through P, score clipped to +-1, the first
                                 coordinate and the rest clipped separately to norm 1 */
} cbrl_hpgd_variant;

/* Estimator settings; the paper's runs use batches of 10,000 steps as 5 streams of 2,000, cut at 200. */
typedef struct cbrl_hpgd_opts {
  cbrl_hpgd_kind kind;
  int64_t steps;      /* batch: N, environment steps per estimate; unbiased: step budget (0: none) */
  int64_t samples;    /* unbiased: at most this many samples (0: no limit) */
  int streams;        /* batch: parallel episode streams, N / streams steps each */
  int max_steps;      /* batch: episode time limit (0: none) */
  unsigned sim_flags; /* batch: CBRL_SIM_* (0; RT-Q couples its estimates) */
  cbrl_hpgd_critic critic;     /* critic: which critic (auto) */
  int folds;                   /* critic: folds of episodes (0: 2) */
  double ridge;                /* critic, features: ridge per fitted step (0: 1e-6) */
  cbrl_hpgd_baseline baseline; /* batch and critic: the V*_hat(s) baseline of the score term */
  cbrl_hpgd_variant variant;   /* batch: the paper's code (docs/MODEL.md 4.1d) */
  int expected_score;          /* critic: 1 takes the grad P terms in expectation over s' from the
                                  model's kernel, sum_s' grad P(s'|s,a) V(s'), instead of the sampled
                                  score (docs/MODEL.md 4.1c); steps without an entry stay sampled */
} cbrl_hpgd_opts;

/* Fills o with the paper's settings: a batch of 10,000 steps, 5 streams, time limit 200; the
   critic fields at their defaults (auto, 2 folds). */
CBRL_API void cbrl_hpgd_opts_default(cbrl_hpgd_opts *o);

/* Workspace of the HPGD estimators for one problem; reused across calls. */
typedef struct cbrl_hpgd cbrl_hpgd;

/* Bytes an HPGD workspace for batches of max_batch_steps steps takes (its own tables, not the
   problem's; the unbiased estimator needs no more, whatever its horizons). */
CBRL_API double cbrl_hpgd_memory_estimate(const cbrl_problem_shape *shape, int64_t max_batch_steps);

/* Creates a workspace able to hold batches of up to max_batch_steps steps; CBRL_ETOOBIG when
   cbrl_hpgd_memory_estimate exceeds cbrl_memory_limit(). */
CBRL_API int cbrl_hpgd_create(cbrl_hpgd **out, const cbrl_problem *p, int64_t max_batch_steps);

/* Frees a workspace; NULL is allowed. */
CBRL_API void cbrl_hpgd_free(cbrl_hpgd *h);

/* Estimates grad f(x, pi, context) as o says from trajectories of the policy pi in sim, which
   it prepares at (context, x, m), or in the model m's own kernel when sim is NULL. m is the
   model's MDP of the context at x (its rewards and vjp give the mechanism terms). Writes grad
   (dim); info (may be NULL) says what the estimate cost, episodes counting samples when unbiased. */
CBRL_API int cbrl_hpgd_estimate(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m,
                                cbrl_simulator *sim, const cbrl_policy *pi, const cbrl_hpgd_opts *o,
                                cbrl_rng *rng, double *grad, cbrl_estimate_info *info);

/* Returns the name of a critic ("auto", "tabular", "features"). */
CBRL_API const char *cbrl_hpgd_critic_name(cbrl_hpgd_critic c);

/* Parses a critic name; CBRL_EINVAL for an unknown one. */
CBRL_API int cbrl_hpgd_critic_parse(const char *name, cbrl_hpgd_critic *out);

#endif /* CBRL_HPGD_H */
