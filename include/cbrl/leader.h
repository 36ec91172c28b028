/* The leader loop (docs/MODEL.md 4): gradient ascent on F with clipping, one
   context per iteration, and a choice of hypergradient: HPGD (batch or unbiased), zero-order,
   AMD, or exact; HPGD asks a cbrl_follower and may learn from a cbrl_simulator. */
#ifndef CBRL_LEADER_H
#define CBRL_LEADER_H

#include <stdint.h>

#include "cbrl/amd.h"
#include "cbrl/hpgd.h"
#include "cbrl/rtq.h"
#include "cbrl/export.h"
#include "cbrl/follower.h"
#include "cbrl/exact.h"
#include "cbrl/model.h"
#include "cbrl/simulate.h"
#include "cbrl/trajectory.h"

typedef enum cbrl_algorithm {
  CBRL_ALG_HPGD_BATCH = 0, /* "hpgd-batch": HPGD with the batch estimator, the paper's */
  CBRL_ALG_HPGD,           /* "hpgd": HPGD with the unbiased estimator, same step budget (4.1a) */
  CBRL_ALG_ZERO_ORDER,    /* "zero-order": two-point differences of the exact f (zero_order.h) */
  CBRL_ALG_AMD,           /* "amd": adaptive model design (amd.h) */
  CBRL_ALG_EXACT,         /* the exact hypergradient of the sampled context */
  CBRL_ALG_HPGD_RTQ,      /* "hpgd-rtq": HPGD with RT-Q over soft Q-learning (rtq.h) */
  CBRL_ALG_HPGD_CRITIC,   /* "hpgd-critic": HPGD with the cross-fitted critic estimator (4.1c) */
  CBRL_ALG_COUNT_
} cbrl_algorithm;

typedef enum cbrl_optimizer { CBRL_SGD = 0, CBRL_ADAM = 1 } cbrl_optimizer;

/* Returns the name of an algorithm ("hpgd-batch", "hpgd", "zero-order", "amd", "exact", "hpgd-rtq",
   "hpgd-critic"). */
CBRL_API const char *cbrl_algorithm_name(cbrl_algorithm a);

/* Parses an algorithm name; returns CBRL_EINVAL for an unknown one. */
CBRL_API int cbrl_algorithm_parse(const char *name, cbrl_algorithm *out);

/* How the leader clips (docs/MODEL.md 4). Clipping each sampled context's estimate (the paper's)
   settles where the mean of the clipped per-context gradients vanishes, which is not where
   grad F does once per-context gradients exceed the clip; the other two modes keep the clip's
   protection against large estimates without moving the fixed point. */
typedef enum cbrl_clip_mode {
  CBRL_CLIP_AVERAGE = 0,     /* "average": clip the weighted average of every context's latest
                                estimate (the default) */
  CBRL_CLIP_PER_CONTEXT = 1, /* "per-context": clip the sampled context's estimate (the paper's) */
  CBRL_CLIP_GROWING = 2,     /* "growing": per-context, at max_grad_norm (1 + t / clip_growth) */
  CBRL_CLIP_COUNT_
} cbrl_clip_mode;

/* Returns the name of a clip mode ("average", "per-context", "growing"). */
CBRL_API const char *cbrl_clip_mode_name(cbrl_clip_mode m);

/* Parses a clip mode's name; returns CBRL_EINVAL for an unknown one. */
CBRL_API int cbrl_clip_mode_parse(const char *name, cbrl_clip_mode *out);

/* The most groups of coordinates the clip may treat separately (cbrl_leader_opts.clip_group_size). */
#define CBRL_CLIP_GROUPS_MAX 8

typedef struct cbrl_leader_opts {
  cbrl_algorithm algorithm;
  cbrl_optimizer optimizer;
  double learning_rate;
  double max_grad_norm;  /* rescale the step to this global norm at most; <= 0 disables (paper: 1) */
  cbrl_clip_mode clip;   /* what is clipped (average by default; the paper clipped per context) */
  double clip_growth;    /* growing: iterations over which the clip grows by max_grad_norm (1000) */
  double adam_beta1, adam_beta2, adam_eps;
  uint64_t seed;         /* with stream, names the run's random numbers */
  uint64_t stream;
  cbrl_hpgd_opts hpgd;   /* batch size N, streams, episode time limit; the algorithm sets the kind */
  cbrl_simulator *simulator; /* HPGD and RT-Q learn from it (not owned), or NULL: the model's kernel */
  double zero_order_c;   /* u = c / t */
  int amd_updates;       /* K */
  double init_std;       /* x_0 ~ N(0, init_std^2) unless x_0 is given */
  cbrl_follower *follower; /* answers hpgd and hpgd-batch (not owned), or NULL: the exact soft best
                              response, warm-started per context */
  cbrl_rtq_opts rtq;     /* for hpgd-rtq */
  const volatile int *cancel; /* when *cancel becomes nonzero, cbrl_leader_step returns
                                 CBRL_ECANCELED at its next check (each iteration, Newton step,
                                 Krylov restart or AMD update; also set on a given follower);
                                 NULL (the default): never */
  int n_clip_groups;     /* 0 (the default): clip x as one vector; else clip each of these
                            consecutive groups of coordinates to max_grad_norm on its own
                            (docs/MODEL.md 4), as the paper's tax code clipped the income tax
                            and the VAT; the sizes must add up to the problem's dimension */
  int clip_group_size[CBRL_CLIP_GROUPS_MAX];
} cbrl_leader_opts;

/* Fills o with the paper's settings but for the clip mode: HPGD (batch), SGD, lr 0.1, clip 1 of the
   context average (the paper clipped per context), N = 10,000 (5 x 2,000, cut at 200), c = 0.1,
   K = 100, init std 0.01, seed 0. */
CBRL_API void cbrl_leader_opts_default(cbrl_leader_opts *o);

/* What one outer iteration did. Exact values are those of the iterate x_t the gradient was
   taken at; NAN where not computed. */
typedef struct cbrl_leader_metrics {
  int64_t iteration;        /* t, from 1 */
  int context;              /* the sampled context */
  double f_context;         /* exact f(x_t) of the sampled context */
  double F;                 /* exact F(x_t), weighted over contexts */
  double grad_norm;         /* of the estimate, before clipping */
  int64_t env_steps;        /* environment steps the estimate used */
  int64_t follower_iterations;
  int64_t follower_products;
  double follower_residual;
  int64_t follower_samples; /* generative-model or environment samples the follower used */
  int level;                /* hpgd-rtq: the level drawn */
  int clipped;              /* 1 if the clip shortened this iteration's step */
} cbrl_leader_metrics;

typedef struct cbrl_leader cbrl_leader;

/* Creates a leader for p (which must outlive it); x0 (dim) may be NULL. Returns CBRL_ENOTSUP
   for AMD on problems AMD cannot handle, and for HPGD, RT-Q and AMD on an objective other than
   the leader reward (cbrl_objective_supports says why). With bounds on p (cbrl/bounds.h), a
   given x0 outside them is CBRL_ERANGE, a random x_0 is projected into them, and so is every step. */
CBRL_API int cbrl_leader_create(cbrl_leader **out, const cbrl_problem *p, const cbrl_leader_opts *o,
                                const double *x0);

/* Frees a leader; NULL is allowed. */
CBRL_API void cbrl_leader_free(cbrl_leader *L);

/* Runs one outer iteration: sample a context, estimate the hypergradient, clip, step. With
   with_metrics, also computes the exact F at x_t, reusing the sampled context's best response
   where the default follower (or the exact and zero-order algorithms) just computed it. It is
   cbrl_leader_ask, cbrl_leader_respond and cbrl_leader_tell in turn. */
CBRL_API int cbrl_leader_step(cbrl_leader *L, int with_metrics, cbrl_leader_metrics *out);

/* ---- Ask/tell: the iteration split where the follower answers (docs/MODEL.md 4) ---------- */

/* What the leader asks of the next iteration: valid until its tell. */
typedef struct cbrl_leader_query {
  int64_t iteration;   /* t, from 1 */
  int context;         /* the sampled context */
  const double *x;     /* x_t (dim) */
  const cbrl_mdp *mdp; /* the context's MDP at x_t (the leader's; read only) */
  int wants_response;  /* 1 when the algorithm needs a follower's answer (hpgd, hpgd-batch) */
  cbrl_rng *rng;       /* the run's random numbers, for a follower that wants them */
} cbrl_leader_query;

/* A follower's answer: a policy table (the fast path) or a batch of its trajectories. */
typedef struct cbrl_leader_answer {
  int has_policy;
  cbrl_policy policy;       /* when has_policy */
  cbrl_batch *batch;        /* else: the follower's steps (s, a, next, r, log_pi, flags), which the
                               leader checks and completes in place (cbrl/trajectory.h) */
  cbrl_follower_stats stats; /* what the answer cost; stats.samples become follower_samples */
} cbrl_leader_answer;

/* Starts an iteration: draws its context and evaluates its MDP at x_t, and fills q. Every ask is
   followed by one cbrl_leader_tell (or cbrl_leader_abandon) before the next. */
CBRL_API int cbrl_leader_ask(cbrl_leader *L, cbrl_leader_query *q);

/* Answers q with the leader's own follower (cbrl_leader_opts.follower, or the exact one): a policy,
   or a batch when that follower brings trajectories. Empty when q does not want a response. */
CBRL_API int cbrl_leader_respond(cbrl_leader *L, const cbrl_leader_query *q, cbrl_leader_answer *a);

/* Ends the iteration asked: estimates the hypergradient from a (NULL for the algorithms that
   want no response), clips and steps with the leader's optimiser, as cbrl_leader_step does.
   A batch that lacks what the estimator needs fails with CBRL_EINVAL or CBRL_ENOTSUP and a
   message in cbrl_leader_error. */
CBRL_API int cbrl_leader_tell(cbrl_leader *L, const cbrl_leader_answer *a, int with_metrics,
                              cbrl_leader_metrics *out);

/* Ends the iteration asked without a step (the follower failed): the next ask starts t + 1. */
CBRL_API void cbrl_leader_abandon(cbrl_leader *L);

/* Returns what was wrong with the last answer told, or "" (valid until the next tell). */
CBRL_API const char *cbrl_leader_error(const cbrl_leader *L);

/* Returns the current leader parameters (dim). */
CBRL_API const double *cbrl_leader_x(const cbrl_leader *L);

/* Returns the leader's exact workspace: its one MDP and soft solver per context, which the
   default follower answers from (so it holds the last best responses). */
CBRL_API cbrl_exact *cbrl_leader_exact(cbrl_leader *L);

#endif /* CBRL_LEADER_H */
