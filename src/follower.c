/* Followers (docs/MODEL.md 5). The exact follower keeps one warm-started soft solver
   per context, or answers from an exact workspace's, so that a leader holds one per context. */
#include "cbrl/follower.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "cbrl/exact.h"

typedef struct exact_follower {
  cbrl_soft_solver *solver; /* n_contexts, or NULL when answering from `shared` */
  int n_contexts;
  cbrl_exact *shared;       /* not owned */
} exact_follower;

static int exact_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                         const cbrl_simulator *sim, cbrl_rng *rng, cbrl_policy *out) {
  exact_follower *ef = f->impl;
  const cbrl_problem *p = f->problem;
  const cbrl_soft_solver *w;
  int err;
  if (ef->shared) {
    /* In the workspace's own MDP: as the caller left it when m is that MDP (evaluated at x, so
       it is not evaluated twice), else evaluated at x here. */
    if (m != cbrl_exact_mdp(ef->shared, context) && (err = cbrl_exact_set_x(ef->shared, context, x))) return err;
    err = cbrl_exact_respond(ef->shared, context);
    w = cbrl_exact_follower(ef->shared, context);
  } else {
    err = cbrl_soft_solver_solve(&ef->solver[context], m, p->gamma, p->lambda);
    w = &ef->solver[context];
  }
  f->stats.samples = 0;
  f->stats.iterations = w->stats.iterations;
  f->stats.products = w->stats.linear_iterations;
  f->stats.residual = w->stats.residual;
  f->stats.converged = w->stats.converged;
  out->n_states = w->n_states;
  out->n_actions = w->n_actions;
  out->pi = w->pi;
  out->log_pi = w->log_pi;
  return err;
}

static void exact_destroy(cbrl_follower *f) {
  exact_follower *ef = f->impl;
  if (!ef) return;
  for (int k = 0; k < ef->n_contexts && ef->solver; k++) cbrl_soft_solver_close(&ef->solver[k]);
  free(ef->solver);
  free(ef);
}

static const cbrl_follower_ops exact_ops = {exact_respond, exact_destroy, NULL};

int cbrl_follower_create(cbrl_follower **out, const cbrl_problem *p, const cbrl_follower_ops *ops, void *impl,
                         const char *name) {
  if (!out || !p || !ops || (!ops->respond && !ops->trajectories)) return CBRL_EINVAL;
  cbrl_follower *f = calloc(1, sizeof *f);
  if (!f) return CBRL_ENOMEM;
  f->ops = ops;
  f->impl = impl;
  f->problem = p;
  snprintf(f->name, sizeof f->name, "%s", name ? name : "");
  *out = f;
  return 0;
}

/* An exact follower's shell: its impl, with the solvers or the shared workspace still to set. */
static int exact_shell(cbrl_follower **out, const cbrl_problem *p, exact_follower **impl) {
  exact_follower *ef = calloc(1, sizeof *ef);
  if (!ef) return CBRL_ENOMEM;
  int err = cbrl_follower_create(out, p, &exact_ops, ef, "exact");
  if (err) free(ef);
  else ef->n_contexts = p->n_contexts, *impl = ef;
  return err;
}

int cbrl_follower_exact_create(cbrl_follower **out, const cbrl_problem *p) {
  if (!out || !p) return CBRL_EINVAL;
  cbrl_follower *f;
  exact_follower *ef;
  int err = exact_shell(&f, p, &ef);
  if (err) return err;
  ef->solver = calloc((size_t)p->n_contexts, sizeof *ef->solver);
  if (!ef->solver) {
    cbrl_follower_free(f);
    return CBRL_ENOMEM;
  }
  for (int k = 0; k < p->n_contexts; k++) {
    err = cbrl_soft_solver_init(&ef->solver[k], p->n_states, p->n_actions);
    if (err) {
      cbrl_follower_free(f);
      return err;
    }
  }
  *out = f;
  return 0;
}

int cbrl_follower_exact_shared_create(cbrl_follower **out, const cbrl_problem *p, cbrl_exact *e) {
  if (!out || !p || !e) return CBRL_EINVAL;
  cbrl_follower *f;
  exact_follower *ef;
  int err = exact_shell(&f, p, &ef);
  if (err) return err;
  ef->shared = e;
  *out = f;
  return 0;
}

const cbrl_soft_solver *cbrl_follower_exact_solver(const cbrl_follower *f, int context) {
  if (!f || f->ops != &exact_ops) return NULL;
  const exact_follower *ef = f->impl;
  if (context < 0 || context >= ef->n_contexts) return NULL;
  return ef->shared ? cbrl_exact_follower(ef->shared, context) : &ef->solver[context];
}

int cbrl_follower_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                          cbrl_simulator *sim, cbrl_rng *rng, cbrl_policy *out) {
  if (!f || !m || !out || context < 0 || context >= f->problem->n_contexts) return CBRL_EINVAL;
  memset(&f->stats, 0, sizeof f->stats);
  if (!f->ops->respond) return CBRL_ENOTSUP; /* a trajectory follower: cbrl_follower_trajectories */
  int err = sim ? cbrl_simulator_prepare(sim, context, x, m) : 0;
  return err ? err : f->ops->respond(f, context, x, m, sim, rng, out);
}

int cbrl_follower_brings_trajectories(const cbrl_follower *f) { return f && f->ops->trajectories != NULL; }

int cbrl_follower_trajectories(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                               const cbrl_batch_request *req, cbrl_rng *rng, cbrl_batch *out) {
  if (!f || !m || !req || !out || context < 0 || context >= f->problem->n_contexts) return CBRL_EINVAL;
  if (!f->ops->trajectories) return CBRL_ENOTSUP;
  if (req->steps <= 0 || req->steps > out->capacity) return CBRL_ERANGE;
  memset(&f->stats, 0, sizeof f->stats);
  out->n_steps = out->n_episodes = out->n_finished = 0;
  return f->ops->trajectories(f, context, x, m, req, rng, out);
}

/* ---- A policy follower acting by itself: the reference trajectory follower -------------- */

typedef struct rollout_follower {
  cbrl_follower *inner; /* owned */
} rollout_follower;

static int rollout_trajectories(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                                const cbrl_batch_request *req, cbrl_rng *rng, cbrl_batch *out) {
  rollout_follower *rf = f->impl;
  cbrl_policy pol;
  int err = cbrl_follower_respond(rf->inner, context, x, m, NULL, rng, &pol);
  f->stats = rf->inner->stats;
  if (err && err != CBRL_ENOCONV) return err;
  int streams = req->streams > 0 ? req->streams : 1;
  int e2 = cbrl_sim_batch(m, &pol, streams, req->steps / streams, req->max_steps, 0, rng, out);
  if (e2) return e2;
  /* Only what a follower acting by itself would know: the leader completes the rest. */
  for (int64_t i = 0; i < out->n_steps; i++) {
    cbrl_step *st = &out->steps[i];
    st->entry = -1;
    st->rbar = NAN;
    st->t = -1;
  }
  return err;
}

static void rollout_destroy(cbrl_follower *f) {
  rollout_follower *rf = f->impl;
  if (!rf) return;
  cbrl_follower_free(rf->inner);
  free(rf);
}

static const cbrl_follower_ops rollout_ops = {NULL, rollout_destroy, rollout_trajectories};

int cbrl_follower_rollout_create(cbrl_follower **out, const cbrl_problem *p, cbrl_follower *inner) {
  if (!out || !p || !inner || inner->problem != p || !inner->ops->respond) return CBRL_EINVAL;
  rollout_follower *rf = calloc(1, sizeof *rf);
  if (!rf) return CBRL_ENOMEM;
  int err = cbrl_follower_create(out, p, &rollout_ops, rf, "rollout");
  if (err) free(rf);
  else rf->inner = inner;
  return err;
}

void cbrl_follower_free(cbrl_follower *f) {
  if (!f) return;
  if (f->ops && f->ops->destroy) f->ops->destroy(f);
  free(f);
}
