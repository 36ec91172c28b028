/* Followers (docs/MODEL.md 5). The exact follower keeps one warm-started soft solver
   per context, or answers from an exact workspace's, so that a leader holds one per context. */
#include "cbrl/follower.h"

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

static const cbrl_follower_ops exact_ops = {exact_respond, exact_destroy};

int cbrl_follower_create(cbrl_follower **out, const cbrl_problem *p, const cbrl_follower_ops *ops, void *impl,
                         const char *name) {
  if (!out || !p || !ops || !ops->respond) return CBRL_EINVAL;
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
  int err = sim ? cbrl_simulator_prepare(sim, context, x, m) : 0;
  return err ? err : f->ops->respond(f, context, x, m, sim, rng, out);
}

void cbrl_follower_free(cbrl_follower *f) {
  if (!f) return;
  if (f->ops && f->ops->destroy) f->ops->destroy(f);
  free(f);
}
