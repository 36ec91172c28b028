/* Several follower types per context (docs/MODEL.md 5.1): the types problem forwards context
   k * n_types + j to context k of type j; the types follower forwards to type j's follower. */
#include "cbrl/follower_types.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

typedef struct types_problem {
  cbrl_problem *const *types; /* n_types, not owned */
  int n_types;
} types_problem;

static const cbrl_problem *type_of(const cbrl_problem *p, int c, int *k) {
  const types_problem *tp = p->impl;
  *k = c / tp->n_types;
  return tp->types[c % tp->n_types];
}

static int64_t tp_n_transitions(const cbrl_problem *p, int c) {
  int k;
  const cbrl_problem *t = type_of(p, c, &k);
  return t->ops->n_transitions(t, k);
}

static int tp_structure(const cbrl_problem *p, int c, cbrl_mdp *m) {
  int k;
  const cbrl_problem *t = type_of(p, c, &k);
  return t->ops->structure(t, k, m);
}

static int tp_evaluate(const cbrl_problem *p, int c, const double *x, cbrl_mdp *m, void *scratch) {
  int k;
  const cbrl_problem *t = type_of(p, c, &k);
  return t->ops->evaluate(t, k, x, m, scratch);
}

static int tp_vjp(const cbrl_problem *p, int c, const double *x, const cbrl_mdp *m, const cbrl_cotangent *ct,
                  double *grad, void *scratch) {
  int k;
  const cbrl_problem *t = type_of(p, c, &k);
  return t->ops->vjp(t, k, x, m, ct, grad, scratch);
}

static int tp_reward_jacobian(const cbrl_problem *p, int c, const double *x, const cbrl_mdp *m, double *jr,
                              double *jrbar, void *scratch) {
  int k;
  const cbrl_problem *t = type_of(p, c, &k);
  return t->ops->reward_jacobian ? t->ops->reward_jacobian(t, k, x, m, jr, jrbar, scratch) : CBRL_ENOTSUP;
}

static int tp_features(const cbrl_problem *p, int c, const double *x, const cbrl_mdp *m, int s, int a, int *index,
                       double *value, double *known) {
  int k;
  const cbrl_problem *t = type_of(p, c, &k);
  return t->ops->features ? t->ops->features(t, k, x, m, s, a, index, value, known) : CBRL_ENOTSUP;
}

static int tp_log_p_score(const cbrl_problem *p, int c, const double *x, const cbrl_mdp *m, int s, int a, int64_t e,
                          double *score) {
  int k;
  const cbrl_problem *t = type_of(p, c, &k);
  return t->ops->log_p_score ? t->ops->log_p_score(t, k, x, m, s, a, e, score) : CBRL_ENOTSUP;
}

static void tp_destroy(cbrl_problem *p) { free(p->impl); }

static const cbrl_problem_ops types_ops = {.n_transitions = tp_n_transitions, .structure = tp_structure,
                                           .evaluate = tp_evaluate, .vjp = tp_vjp, .destroy = tp_destroy,
                                           .reward_jacobian = tp_reward_jacobian, .features = tp_features,
                                           .log_p_score = tp_log_p_score};

int cbrl_problem_types_create(cbrl_problem **out, cbrl_problem *const *types, const double *weights, int n_types) {
  if (!out || !types || !weights || n_types < 1) return CBRL_EINVAL;
  const cbrl_problem *t0 = types[0];
  double sum = 0.0;
  int all_jac = 1, features = t0->n_features > 0, nnz = 0;
  size_t scratch = 0;
  unsigned flags = 0;
  int rows_checked = 1;
  for (int j = 0; j < n_types; j++) {
    const cbrl_problem *t = types[j];
    if (!t || !(weights[j] >= 0.0) || t->n_states != t0->n_states || t->n_actions != t0->n_actions ||
        t->dim != t0->dim || t->n_contexts != t0->n_contexts || t->gamma != t0->gamma ||
        t->leader_gamma != t0->leader_gamma || t->lambda != t0->lambda)
      return CBRL_EINVAL;
    for (int k = 0; k < t0->n_contexts; k++)
      if (t->context_weight[k] != t0->context_weight[k]) return CBRL_EINVAL;
    /* The types share the leader's objective: the default discounted leader reward, unbounded x. */
    if (t->objective || t->x_lower || t->x_upper) return CBRL_ENOTSUP;
    if (!t->ops->features || t->n_features != t0->n_features) features = 0;
    nnz = t->feature_nnz > nnz ? t->feature_nnz : nnz;
    sum += weights[j];
    all_jac &= t->ops->reward_jacobian != NULL;
    scratch = t->scratch_size > scratch ? t->scratch_size : scratch;
    flags |= t->flags;
    rows_checked &= (t->flags & CBRL_ROWS_CHECKED) != 0;
  }
  /* The dependence flags of any type hold for the mixture; "checks its own rows" only if every
     type does, or cbrl_mdp_evaluate would skip the row check of the others. */
  if (!rows_checked) flags &= ~(unsigned)CBRL_ROWS_CHECKED;
  if (fabs(sum - 1.0) > 1e-12 || (int64_t)t0->n_contexts * n_types > 1000000) return CBRL_EINVAL;
  types_problem *tp = calloc(1, sizeof *tp);
  if (!tp) return CBRL_ENOMEM;
  tp->types = types;
  tp->n_types = n_types;
  cbrl_problem *p;
  int err = cbrl_problem_create(&p, &types_ops, tp, t0->n_states, t0->n_actions, t0->dim, t0->n_contexts * n_types);
  if (err) {
    free(tp);
    return err;
  }
  /* AMD asks for the reward Jacobian only where a problem has one: every type must. */
  if (!all_jac) {
    static const cbrl_problem_ops types_ops_nojac = {.n_transitions = tp_n_transitions, .structure = tp_structure,
                                                     .evaluate = tp_evaluate, .vjp = tp_vjp, .destroy = tp_destroy,
                                                     .features = tp_features, .log_p_score = tp_log_p_score};
    p->ops = &types_ops_nojac;
  }
  p->gamma = t0->gamma;
  p->leader_gamma = t0->leader_gamma;
  p->lambda = t0->lambda;
  p->flags = flags;
  p->scratch_size = scratch;
  p->n_features = features ? t0->n_features : 0; /* the critic's features, where every type has them */
  p->feature_nnz = features ? nnz : 0;
  for (int k = 0; k < t0->n_contexts; k++)
    for (int j = 0; j < n_types; j++) p->context_weight[k * n_types + j] = t0->context_weight[k] * weights[j];
  memcpy(p->name, "types", 6);
  *out = p;
  return 0;
}

int cbrl_problem_types_type(const cbrl_problem *p, int context) {
  if (!p || (p->ops->evaluate != tp_evaluate) || context < 0 || context >= p->n_contexts) return -1;
  return context % ((const types_problem *)p->impl)->n_types;
}

/* ---- the follower of a types problem --------------------------------------------------- */

typedef struct types_follower {
  cbrl_follower *const *followers; /* n_types, not owned */
  int n_types;
} types_follower;

static cbrl_follower *follower_of(cbrl_follower *f, int c, int *k) {
  types_follower *tf = f->impl;
  *k = c / tf->n_types;
  return tf->followers[c % tf->n_types];
}

static int tf_respond(cbrl_follower *f, int c, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                      cbrl_rng *rng, cbrl_policy *out) {
  int k;
  cbrl_follower *g = follower_of(f, c, &k);
  /* The type's follower sees the type's own context index; sim (prepared at c) is passed on
     as it is: followers only read it. */
  g->cancel = f->cancel;
  memset(&g->stats, 0, sizeof g->stats);
  int err = g->ops->respond(g, k, x, m, sim, rng, out);
  f->stats = g->stats;
  return err;
}

static int tf_trajectories(cbrl_follower *f, int c, const double *x, const cbrl_mdp *m, const cbrl_batch_request *req,
                           cbrl_rng *rng, cbrl_batch *out) {
  int k;
  cbrl_follower *g = follower_of(f, c, &k);
  g->cancel = f->cancel;
  int err = cbrl_follower_trajectories(g, k, x, m, req, rng, out);
  f->stats = g->stats;
  return err;
}

static void tf_destroy(cbrl_follower *f) { free(f->impl); }

static const cbrl_follower_ops policy_types_ops = {tf_respond, tf_destroy, NULL};
static const cbrl_follower_ops batch_types_ops = {NULL, tf_destroy, tf_trajectories};

int cbrl_follower_types_create(cbrl_follower **out, const cbrl_problem *p, cbrl_follower *const *followers) {
  if (!out || !p || !followers || p->ops->evaluate != tp_evaluate) return CBRL_EINVAL;
  const types_problem *tp = p->impl;
  int batches = cbrl_follower_brings_trajectories(followers[0]);
  for (int j = 0; j < tp->n_types; j++)
    if (!followers[j] || followers[j]->problem != tp->types[j] || cbrl_follower_brings_trajectories(followers[j]) != batches ||
        (!batches && !followers[j]->ops->respond))
      return CBRL_EINVAL;
  types_follower *tf = calloc(1, sizeof *tf);
  if (!tf) return CBRL_ENOMEM;
  tf->followers = followers;
  tf->n_types = tp->n_types;
  int err = cbrl_follower_create(out, p, batches ? &batch_types_ops : &policy_types_ops, tf, "types");
  if (err) free(tf);
  return err;
}
