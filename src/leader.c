/* The leader loop (docs/MODEL.md 4): x <- x + alpha clip(g), one sampled context
   per iteration. */
#include "cbrl/leader.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/bounds.h"
#include "cbrl/errors.h"
#include "clip.h"
#include "cbrl/exact.h"
#include "cbrl/objective.h"
#include "cbrl/zero_order.h"

static const char *const clip_names[CBRL_CLIP_COUNT_] = {"average", "per-context", "growing"};

const char *cbrl_clip_mode_name(cbrl_clip_mode m) { return m >= 0 && m < CBRL_CLIP_COUNT_ ? clip_names[m] : "unknown"; }

int cbrl_clip_mode_parse(const char *name, cbrl_clip_mode *out) {
  for (int m = 0; m < CBRL_CLIP_COUNT_; m++)
    if (name && !strcmp(name, clip_names[m])) {
      *out = (cbrl_clip_mode)m;
      return 0;
    }
  return CBRL_EINVAL;
}

static const char *const algorithm_names[CBRL_ALG_COUNT_] = {"hpgd-batch", "hpgd", "zero-order",
                                                             "amd", "exact", "hpgd-rtq", "hpgd-critic"};

const char *cbrl_algorithm_name(cbrl_algorithm a) {
  return a >= 0 && a < CBRL_ALG_COUNT_ ? algorithm_names[a] : "unknown";
}

int cbrl_algorithm_parse(const char *name, cbrl_algorithm *out) {
  for (int a = 0; a < CBRL_ALG_COUNT_; a++)
    if (name && !strcmp(name, algorithm_names[a])) {
      *out = (cbrl_algorithm)a;
      return 0;
    }
  return CBRL_EINVAL;
}

void cbrl_leader_opts_default(cbrl_leader_opts *o) {
  memset(o, 0, sizeof *o);
  o->algorithm = CBRL_ALG_HPGD_BATCH;
  o->optimizer = CBRL_SGD;
  o->learning_rate = 0.1;
  o->max_grad_norm = 1.0;
  o->clip = CBRL_CLIP_AVERAGE;
  o->clip_growth = 1000.0;
  o->adam_beta1 = 0.9;
  o->adam_beta2 = 0.999;
  o->adam_eps = 1e-8;
  cbrl_hpgd_opts_default(&o->hpgd);
  o->zero_order_c = 0.1;
  o->amd_updates = 100;
  o->init_std = 0.01;
  cbrl_rtq_opts_default(&o->rtq);
}

struct cbrl_leader {
  const cbrl_problem *problem;
  cbrl_leader_opts opts;
  cbrl_rng rng;
  int64_t t;
  double *x, *g, *adam_m, *adam_v; /* dim */
  cbrl__clip clip;
  cbrl_follower *follower;     /* the caller's, or own_follower */
  cbrl_follower *own_follower; /* the default exact follower */
  cbrl_hpgd *hpgd;
  cbrl_amd *amd;
  cbrl_rtq *rtq;
  cbrl_exact *exact;     /* the one MDP per context (evaluated at x when sampled), metrics, and
                            the exact and zero-order algorithms */
  cbrl_zero_order *zero_order;
  int asked;                 /* 1 between an ask and its tell */
  int context;               /* the context of the iteration asked */
  int own_answered;          /* the leader's own exact follower answered this iteration (so its
                                solve at x is there for the metrics to reuse) */
  cbrl_batch answer_batch;   /* a trajectory follower's batch (capacity hpgd.steps), or empty */
  char error[256];           /* what was wrong with the last answer */
};

static int finish_step(cbrl_leader *L, int k, int64_t t, int with_metrics, cbrl_leader_metrics *met_io,
                       cbrl_leader_metrics *out);

void cbrl_leader_free(cbrl_leader *L) {
  if (!L) return;
  cbrl_follower_free(L->own_follower);
  cbrl_hpgd_free(L->hpgd);
  cbrl_amd_free(L->amd);
  cbrl_rtq_free(L->rtq);
  cbrl_exact_free(L->exact);
  cbrl_zero_order_free(L->zero_order);
  cbrl_batch_close(&L->answer_batch);
  free(L->x);
  free(L->g);
  free(L->adam_m);
  free(L->adam_v);
  cbrl__clip_close(&L->clip);
  free(L);
}

int cbrl_leader_create(cbrl_leader **out, const cbrl_problem *p, const cbrl_leader_opts *o,
                       const double *x0) {
  if (!out || !p || !o) return CBRL_EINVAL;
  if (o->algorithm < 0 || o->algorithm >= CBRL_ALG_COUNT_ || !(o->learning_rate >= 0.0) ||
      !isfinite(o->learning_rate) || (o->optimizer != CBRL_SGD && o->optimizer != CBRL_ADAM))
    return CBRL_EINVAL;
  int err = cbrl_problem_validate(p);
  if (err) return err;
  /* HPGD, RT-Q and AMD estimate a discounted leader reward's gradient (docs/MODEL.md 3.1). */
  if ((err = cbrl_objective_supports(p, cbrl_algorithm_name(o->algorithm), NULL, 0))) return err;
  cbrl_leader *L = calloc(1, sizeof *L);
  if (!L) return CBRL_ENOMEM;
  L->problem = p;
  L->opts = *o;
  cbrl_rng_seed(&L->rng, o->seed, o->stream);
  size_t d = (size_t)p->dim;
  L->x = malloc(d * sizeof(double));
  L->g = calloc(d, sizeof(double));
  L->adam_m = calloc(d, sizeof(double));
  L->adam_v = calloc(d, sizeof(double));
  if (!L->x || !L->g || !L->adam_m || !L->adam_v) {
    err = CBRL_ENOMEM;
    goto fail;
  }
  for (size_t j = 0; j < d; j++) L->x[j] = x0 ? x0[j] : o->init_std * cbrl_rng_normal(&L->rng);
  /* A given x_0 must lie in the box (docs/MODEL.md 1.1); a random one is projected into it. */
  if (x0 && cbrl_bounds_violation(p, L->x) >= 0) {
    err = CBRL_ERANGE;
    goto fail;
  }
  cbrl_bounds_project(p, L->x);
  if ((err = cbrl__clip_init(&L->clip, o, p->n_contexts, p->dim, p->context_weight))) goto fail;
  if ((err = cbrl_exact_create(&L->exact, p))) goto fail;
  cbrl_exact_set_cancel(L->exact, o->cancel);
  switch (o->algorithm) {
    case CBRL_ALG_HPGD_BATCH:
    case CBRL_ALG_HPGD:
    case CBRL_ALG_HPGD_CRITIC:
      if (o->hpgd.steps <= 0 || o->hpgd.streams <= 0 || o->hpgd.steps < o->hpgd.streams) {
        err = CBRL_EINVAL;
        goto fail;
      }
      if (o->follower && o->follower->problem != p) {
        err = CBRL_EINVAL;
        goto fail;
      }
      L->follower = o->follower;
      if (L->follower && o->cancel) L->follower->cancel = o->cancel;
      if (!L->follower) {
        /* Answers from the leader's exact workspace: one solver per context, whose solve the
           metrics then reuse. */
        if ((err = cbrl_follower_exact_shared_create(&L->own_follower, p, L->exact))) goto fail;
        L->follower = L->own_follower;
      }
      if ((err = cbrl_hpgd_create(&L->hpgd, p, o->hpgd.steps))) goto fail;
      if (cbrl_follower_brings_trajectories(L->follower) && (err = cbrl_batch_init(&L->answer_batch, o->hpgd.steps)))
        goto fail;
      break;
    case CBRL_ALG_HPGD_RTQ:
      L->opts.rtq.cancel = o->cancel;
      if ((err = cbrl_rtq_create(&L->rtq, p, &L->opts.rtq))) goto fail;
      break;
    case CBRL_ALG_ZERO_ORDER:
      if (!(o->zero_order_c > 0.0)) {
        err = CBRL_EINVAL;
        goto fail;
      }
      if ((err = cbrl_zero_order_create(&L->zero_order, p))) goto fail;
      cbrl_exact_set_cancel(cbrl_zero_order_exact(L->zero_order), o->cancel);
      break;
    case CBRL_ALG_AMD:
      if (o->amd_updates <= 0) {
        err = CBRL_EINVAL;
        goto fail;
      }
      if ((err = cbrl_amd_create(&L->amd, p))) goto fail;
      cbrl_amd_set_cancel(L->amd, o->cancel);
      break;
    default:
      break;
  }
  *out = L;
  return 0;
fail:
  cbrl_leader_free(L);
  return err;
}

const double *cbrl_leader_x(const cbrl_leader *L) { return L->x; }

cbrl_exact *cbrl_leader_exact(cbrl_leader *L) { return L->exact; }

/* Keeps an exact-evaluation status: non-convergence is reported by the solver statistics, not
   fatal to the run; anything else is. */
static int tolerable(int err) { return err == 0 || err == CBRL_ENOCONV; }

/* True for the algorithms whose estimate comes from a follower's response (docs/MODEL.md 4.1). */
static int takes_follower(cbrl_algorithm a) {
  return a == CBRL_ALG_HPGD_BATCH || a == CBRL_ALG_HPGD || a == CBRL_ALG_HPGD_CRITIC;
}

int cbrl_leader_ask(cbrl_leader *L, cbrl_leader_query *q) {
  if (!L || !q) return CBRL_EINVAL;
  if (L->asked) return CBRL_EINVAL; /* one tell per ask */
  if (L->opts.cancel && *L->opts.cancel) return CBRL_ECANCELED;
  int k = cbrl_problem_draw_context(L->problem, &L->rng);
  int err = cbrl_exact_set_x(L->exact, k, L->x);
  if (err) return err;
  L->asked = 1;
  L->context = k;
  L->own_answered = 0;
  q->iteration = L->t + 1;
  q->context = k;
  q->x = L->x;
  q->mdp = cbrl_exact_mdp(L->exact, k);
  q->wants_response = takes_follower(L->opts.algorithm);
  q->rng = &L->rng;
  return 0;
}

int cbrl_leader_respond(cbrl_leader *L, const cbrl_leader_query *q, cbrl_leader_answer *a) {
  if (!L || !q || !a || !L->asked) return CBRL_EINVAL;
  memset(a, 0, sizeof *a);
  if (!q->wants_response) return 0;
  const cbrl_leader_opts *o = &L->opts;
  cbrl_follower *f = L->follower;
  int err;
  if (cbrl_follower_brings_trajectories(f)) {
    cbrl_batch_request req = {o->hpgd.steps, o->hpgd.streams, o->hpgd.max_steps};
    err = cbrl_follower_trajectories(f, q->context, q->x, q->mdp, &req, &L->rng, &L->answer_batch);
    a->batch = &L->answer_batch;
  } else {
    err = cbrl_follower_respond(f, q->context, q->x, q->mdp, o->simulator, &L->rng, &a->policy);
    a->has_policy = 1;
    L->own_answered = f == L->own_follower;
  }
  a->stats = f->stats;
  return err;
}

int cbrl_leader_tell(cbrl_leader *L, const cbrl_leader_answer *a, int with_metrics, cbrl_leader_metrics *out) {
  if (!L || !L->asked) return CBRL_EINVAL;
  const cbrl_leader_opts *o = &L->opts;
  int err = 0, k = L->context;
  L->asked = 0;
  L->error[0] = 0;
  int64_t t = ++L->t;
  cbrl_leader_metrics met = {0};
  met.iteration = t;
  met.context = k;
  met.f_context = met.F = NAN;
  const cbrl_mdp *m = cbrl_exact_mdp(L->exact, k);
  switch (o->algorithm) {
    case CBRL_ALG_HPGD_BATCH:
    case CBRL_ALG_HPGD:
    case CBRL_ALG_HPGD_CRITIC: {
      if (!a || (!a->has_policy && !a->batch)) return CBRL_EINVAL;
      met.follower_iterations = a->stats.iterations;
      met.follower_products = a->stats.products;
      met.follower_residual = a->stats.residual;
      met.follower_samples = a->stats.samples;
      cbrl_estimate_info info = {0};
      /* hpgd: unbiased samples until the batch estimator's step budget is spent. */
      cbrl_hpgd_opts ho = o->hpgd;
      ho.kind = o->algorithm == CBRL_ALG_HPGD_BATCH    ? CBRL_HPGD_BATCH
                : o->algorithm == CBRL_ALG_HPGD_CRITIC ? CBRL_HPGD_CRITIC
                                                       : CBRL_HPGD_UNBIASED;
      if (a->has_policy)
        err = cbrl_hpgd_estimate(L->hpgd, k, L->x, m, o->simulator, &a->policy, &ho, &L->rng, L->g, &info);
      else
        err = cbrl_hpgd_estimate_batch(L->hpgd, k, L->x, m, a->batch, &ho, L->g, &info, L->error,
                                       sizeof L->error);
      met.env_steps = info.env_steps;
      if (err) return err;
      break;
    }
    case CBRL_ALG_EXACT:
      /* The MDP is already at x: respond and value are cbrl_exact_context without set_x. */
      err = cbrl_exact_respond(L->exact, k);
      if (tolerable(err)) err = cbrl_exact_value(L->exact, k, &met.f_context, L->g);
      if (!tolerable(err)) return err;
      break;
    case CBRL_ALG_ZERO_ORDER:
      /* f(x) from the leader's own workspace, which the metrics then reuse. */
      err = cbrl_exact_respond(L->exact, k);
      if (tolerable(err)) err = cbrl_exact_value(L->exact, k, &met.f_context, NULL);
      if (!tolerable(err)) return err;
      err = cbrl_zero_order_estimate(L->zero_order, k, L->x, met.f_context,
                                     cbrl_zero_order_radius(o->zero_order_c, t), &L->rng, L->g, NULL);
      if (!tolerable(err)) return err;
      break;
    case CBRL_ALG_AMD:
      if ((err = cbrl_amd_step(L->amd, k, L->x, m, o->amd_updates, L->g))) return err;
      break;
    case CBRL_ALG_HPGD_RTQ: {
      cbrl_rtq_info info;
      if ((err = cbrl_rtq_estimate(L->rtq, k, L->x, m, o->simulator, &L->rng, -1, 0, L->g, &info))) return err;
      met.env_steps = info.env_steps;
      met.follower_samples = info.follower_samples;
      met.level = info.level;
      break;
    }
    default:
      return CBRL_EINVAL;
  }
  return finish_step(L, k, t, with_metrics, &met, out);
}

int cbrl_leader_step(cbrl_leader *L, int with_metrics, cbrl_leader_metrics *out) {
  if (!L) return CBRL_EINVAL;
  cbrl_leader_query q;
  cbrl_leader_answer a;
  int err = cbrl_leader_ask(L, &q);
  if (err) return err;
  err = cbrl_leader_respond(L, &q, &a);
  if (!tolerable(err)) {
    cbrl_leader_abandon(L);
    return err;
  }
  return cbrl_leader_tell(L, &a, with_metrics, out);
}

const char *cbrl_leader_error(const cbrl_leader *L) { return L ? L->error : ""; }

void cbrl_leader_abandon(cbrl_leader *L) {
  if (L && L->asked) L->asked = 0, L->t++;
}

/* The common end of an iteration: the estimate's norm, the exact metrics, the clip and the step. */
static int finish_step(cbrl_leader *L, int k, int64_t t, int with_metrics, cbrl_leader_metrics *met_io,
                       cbrl_leader_metrics *out) {
  const cbrl_problem *p = L->problem;
  const cbrl_leader_opts *o = &L->opts;
  cbrl_leader_metrics met = *met_io;
  int d = p->dim, err = 0;
  double norm = 0.0;
  for (int j = 0; j < d; j++) norm += L->g[j] * L->g[j];
  norm = sqrt(norm);
  if (!isfinite(norm)) return CBRL_ENONFINITE;
  met.grad_norm = norm;
  if (with_metrics) {
    double F = 0.0;
    for (int c = 0; c < p->n_contexts; c++) {
      double f;
      if (c == k && !isnan(met.f_context)) {
        f = met.f_context;
      } else if (c == k && L->own_answered) {
        /* The follower just solved this context at x in the same workspace. */
        err = cbrl_exact_value(L->exact, k, &f, NULL);
        if (!tolerable(err)) return err;
        met.f_context = f;
      } else {
        err = cbrl_exact_context(L->exact, c, L->x, &f, NULL);
        if (!tolerable(err)) return err;
        if (c == k) met.f_context = f;
      }
      F += p->context_weight[c] * f;
    }
    met.F = F;
  }
  /* Clip to global norm, or per group (the sampled estimate or the context average), then SGD or
     Adam (ascent). */
  const double *dir, *scale;
  met.clipped = cbrl__clip_direction(&L->clip, k, t, L->g, &dir, &scale);
  if (o->optimizer == CBRL_SGD) {
    for (int j = 0; j < d; j++) L->x[j] += o->learning_rate * scale[j] * dir[j];
  } else {
    double b1 = o->adam_beta1, b2 = o->adam_beta2;
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    for (int j = 0; j < d; j++) {
      double g = scale[j] * dir[j];
      L->adam_m[j] = b1 * L->adam_m[j] + (1.0 - b1) * g;
      L->adam_v[j] = b2 * L->adam_v[j] + (1.0 - b2) * g * g;
      L->x[j] += o->learning_rate * (L->adam_m[j] / c1) / (sqrt(L->adam_v[j] / c2) + o->adam_eps);
    }
  }
  cbrl_bounds_project(p, L->x); /* projected SGD or Adam (docs/MODEL.md 1.1) */
  for (int j = 0; j < d; j++)
    if (!isfinite(L->x[j])) return CBRL_ENONFINITE;
  if (out) *out = met;
  return 0;
}
