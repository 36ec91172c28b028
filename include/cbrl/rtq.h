/* RT-Q: randomly truncated multilevel HPGD over soft Q-learning (docs/MODEL.md 4.4). */
#ifndef CBRL_RTQ_H
#define CBRL_RTQ_H

#include <stdint.h>
#include "cbrl/export.h"
#include "cbrl/follower.h"
#include "cbrl/hpgd.h"
#include "cbrl/model.h"
#include "cbrl/rng.h"
#include "cbrl/simulate.h"

typedef struct cbrl_rtq_opts {
  int levels;             /* K: the deepest level trains 2^K soft Q-learning iterations */
  double level_decay;     /* c of the level law p_k = 2^(-c k) / sum_{j=1..K} 2^(-c j), k = 1..K
                             (c = 1: p_k proportional to 2^-k) */
  cbrl_schedule schedule; /* soft Q-learning steps */
  cbrl_hpgd_opts hpgd;    /* the inner HPGD estimates: batch (coupled), or unbiased means */
  const volatile int *cancel; /* once *cancel is nonzero, an estimate returns CBRL_ECANCELED
                                 within 1024 soft Q-learning iterations; NULL (default): never */
} cbrl_rtq_opts;

/* Fills o: K = 6, c = 1, rescaled-linear steps, coupled batch HPGD inside with the paper's N.
   Switching hpgd.kind to unbiased gives means of hpgd.samples = 16 samples, cut short by the
   step budget hpgd.steps unless that is set to 0. */
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
   g(pi_k), g(pi_{k-1}) share their trajectories' random numbers. level < 1 draws k from p_k
   (one uniform; rounding leftovers go to K); otherwise k = level (for tests). independent != 0
   gives the two their own random numbers instead. The follower trains in, and the estimates
   simulate, sim (prepared here; it needs a kernel, since the batches are coupled) or m's own
   kernel when sim is NULL. */
CBRL_API int cbrl_rtq_estimate(cbrl_rtq *w, int context, const double *x, const cbrl_mdp *m, cbrl_simulator *sim,
                               cbrl_rng *rng, int level, int independent, double *grad, cbrl_rtq_info *info);

/* The plain level-k estimate (0 <= k <= 40): HPGD with the follower trained 2^k iterations from
   Q = 0, in sim or m's kernel as for cbrl_rtq_estimate. */
CBRL_API int cbrl_rtq_plain(cbrl_rtq *w, int context, const double *x, const cbrl_mdp *m, cbrl_simulator *sim,
                            cbrl_rng *rng, int level, double *grad, cbrl_rtq_info *info);

#endif /* CBRL_RTQ_H */
