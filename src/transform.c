/* Transformed mechanisms (docs/MODEL.md 1.1): the problem in x evaluates its inner problem at
   y = T(x) and maps the inner vector-Jacobian product back by J_T^T, transform by transform, so
   gradients stay exact and the cost of T is O(dim) per call. */
#include "cbrl/transform.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

static const char *const kind_names[CBRL_TRANSFORM_COUNT_] = {"identity", "sigmoid", "softplus",
                                                              "exp",      "softmax", "range"};

const char *cbrl_transform_name(cbrl_transform_kind k) {
  return k >= 0 && k < CBRL_TRANSFORM_COUNT_ ? kind_names[k] : "unknown";
}

int cbrl_transform_parse(const char *name, cbrl_transform_kind *out) {
  for (int k = 0; name && k < CBRL_TRANSFORM_COUNT_; k++)
    if (!strcmp(name, kind_names[k])) {
      *out = (cbrl_transform_kind)k;
      return 0;
    }
  return CBRL_EINVAL;
}

/* Writes the reason (printf-style) to why, when given; returns CBRL_EINVAL. */
static int fail(char *why, size_t size, const char *fmt, ...) {
  if (why && size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
  }
  return CBRL_EINVAL;
}

int cbrl_transform_check(const cbrl_transform *t, int dim, char *why, size_t size) {
  if (why && size) why[0] = 0;
  if (!t || t->kind < 0 || t->kind >= CBRL_TRANSFORM_COUNT_) return fail(why, size, "unknown transform");
  if (t->kind == CBRL_TRANSFORM_SOFTMAX ? t->n_inputs < 2 : t->n_inputs != 1)
    return fail(why, size, t->kind == CBRL_TRANSFORM_SOFTMAX ? "softmax needs a group of at least 2 entries of x"
                                                             : "takes exactly one entry of x");
  if (!t->inputs) return fail(why, size, "no entries of x given");
  for (int i = 0; i < t->n_inputs; i++) {
    if (t->inputs[i] < 0 || t->inputs[i] >= dim)
      return fail(why, size, "x index %d is out of range [0, %d]", t->inputs[i], dim - 1);
    for (int k = 0; k < i; k++)
      if (t->inputs[k] == t->inputs[i]) return fail(why, size, "x index %d appears twice in the group", t->inputs[i]);
  }
  if (t->kind == CBRL_TRANSFORM_RANGE) {
    if (!isfinite(t->low) || !isfinite(t->high) || !(t->low < t->high))
      return fail(why, size, "range needs finite low < high, got low %g, high %g", t->low, t->high);
  } else if (!isfinite(t->scale) || !(t->scale > 0.0)) {
    return fail(why, size, "scale must be finite and positive, got %g", t->scale);
  }
  return 0;
}

typedef struct transformed {
  cbrl_problem *inner;
  int n_transforms;
  cbrl_transform *t; /* n_transforms, inputs pointing into `inputs` */
  int *inputs;
  int n_params;       /* inner->dim: the outputs y */
  int jacobian;       /* 1 if reward_jacobian is offered */
  size_t inner_off;   /* doubles before the inner problem's scratch */
} transformed;

static double sigmoid(double v) { return v >= 0.0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v)); }

static double softplus(double v) { return v > 0.0 ? v + log1p(exp(-v)) : log1p(exp(v)); }

/* y = T(x). */
static void forward(const transformed *tr, const double *x, double *y) {
  int o = 0;
  for (int i = 0; i < tr->n_transforms; i++) {
    const cbrl_transform *t = &tr->t[i];
    double v = x[t->inputs[0]];
    switch (t->kind) {
      case CBRL_TRANSFORM_IDENTITY: y[o++] = t->scale * v; break;
      case CBRL_TRANSFORM_SIGMOID: y[o++] = t->scale * sigmoid(v); break;
      case CBRL_TRANSFORM_SOFTPLUS: y[o++] = t->scale * softplus(v); break;
      case CBRL_TRANSFORM_EXP: y[o++] = t->scale * exp(v); break;
      case CBRL_TRANSFORM_RANGE: y[o++] = t->low + (t->high - t->low) * sigmoid(v); break;
      case CBRL_TRANSFORM_SOFTMAX: {
        double mx = -INFINITY, sum = 0.0;
        for (int k = 0; k < t->n_inputs; k++) mx = fmax(mx, x[t->inputs[k]]);
        for (int k = 0; k < t->n_inputs; k++) sum += y[o + k] = exp(x[t->inputs[k]] - mx);
        for (int k = 0; k < t->n_inputs; k++) y[o + k] *= t->scale / sum;
        o += t->n_inputs;
        break;
      }
      default: break;
    }
  }
}

/* grad += J_T(x)^T gy, with y = T(x) already computed. */
static void backward(const transformed *tr, const double *x, const double *y, const double *gy, double *grad) {
  int o = 0;
  for (int i = 0; i < tr->n_transforms; i++) {
    const cbrl_transform *t = &tr->t[i];
    int j = t->inputs[0];
    double s;
    switch (t->kind) {
      case CBRL_TRANSFORM_IDENTITY: grad[j] += gy[o++] * t->scale; break;
      case CBRL_TRANSFORM_SIGMOID:
        s = sigmoid(x[j]);
        grad[j] += gy[o++] * t->scale * s * (1.0 - s);
        break;
      case CBRL_TRANSFORM_SOFTPLUS: grad[j] += gy[o++] * t->scale * sigmoid(x[j]); break;
      case CBRL_TRANSFORM_EXP: grad[j] += gy[o] * y[o], o++; break;
      case CBRL_TRANSFORM_RANGE:
        s = sigmoid(x[j]);
        grad[j] += gy[o++] * (t->high - t->low) * s * (1.0 - s);
        break;
      case CBRL_TRANSFORM_SOFTMAX: {
        /* d y_i / d x_k = y_i (delta_ik - y_k / scale): grad_k = y_k (gy_k - sum_i gy_i y_i / scale). */
        double mean = 0.0;
        for (int k = 0; k < t->n_inputs; k++) mean += gy[o + k] * y[o + k] / t->scale;
        for (int k = 0; k < t->n_inputs; k++) grad[t->inputs[k]] += y[o + k] * (gy[o + k] - mean);
        o += t->n_inputs;
        break;
      }
      default: break;
    }
  }
}

static int64_t tr_n_transitions(const cbrl_problem *p, int context) {
  const transformed *tr = p->impl;
  return tr->inner->ops->n_transitions(tr->inner, context);
}

static int tr_structure(const cbrl_problem *p, int context, cbrl_mdp *m) {
  const transformed *tr = p->impl;
  return tr->inner->ops->structure(tr->inner, context, m);
}

static void *inner_scratch(const transformed *tr, void *scratch) {
  return tr->inner->scratch_size ? (double *)scratch + tr->inner_off : NULL;
}

static int tr_evaluate(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m, void *scratch) {
  const transformed *tr = p->impl;
  double *y = scratch;
  forward(tr, x, y);
  return tr->inner->ops->evaluate(tr->inner, context, y, m, inner_scratch(tr, scratch));
}

static int tr_vjp(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, const cbrl_cotangent *ct,
                  double *grad, void *scratch) {
  const transformed *tr = p->impl;
  double *y = scratch, *gy = y + tr->n_params;
  forward(tr, x, y);
  memset(gy, 0, sizeof(double) * (size_t)tr->n_params);
  int err = tr->inner->ops->vjp(tr->inner, context, y, m, ct, gy, inner_scratch(tr, scratch));
  if (err) return err;
  backward(tr, x, y, gy, grad);
  return 0;
}

/* jac_x = jac_y J_T, row by row: each (s, a) row of jac_y is a cotangent on y. */
static int tr_reward_jacobian(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m, double *jac_r,
                              double *jac_rbar, void *scratch) {
  const transformed *tr = p->impl;
  size_t SA = (size_t)p->n_states * p->n_actions, np = (size_t)tr->n_params, d = (size_t)p->dim;
  double *y = scratch, *jr = y + 2 * np, *jrb = jr + SA * np;
  forward(tr, x, y);
  int err = tr->inner->ops->reward_jacobian(tr->inner, context, y, m, jac_r ? jr : NULL, jac_rbar ? jrb : NULL,
                                            inner_scratch(tr, scratch));
  if (err) return err;
  for (int which = 0; which < 2; which++) {
    double *out = which ? jac_rbar : jac_r;
    const double *in = which ? jrb : jr;
    if (!out) continue;
    memset(out, 0, sizeof(double) * SA * d);
    for (size_t sa = 0; sa < SA; sa++) backward(tr, x, y, in + sa * np, out + sa * d);
  }
  return 0;
}

static void tr_destroy(cbrl_problem *p) {
  transformed *tr = p->impl;
  if (!tr) return;
  cbrl_problem_free(tr->inner);
  free(tr->t);
  free(tr->inputs);
  free(tr);
}

static const cbrl_problem_ops transformed_ops = {.n_transitions = tr_n_transitions, .structure = tr_structure,
                                                 .evaluate = tr_evaluate, .vjp = tr_vjp, .destroy = tr_destroy};
static const cbrl_problem_ops transformed_jacobian_ops = {
    .n_transitions = tr_n_transitions, .structure = tr_structure, .evaluate = tr_evaluate,
    .vjp = tr_vjp, .destroy = tr_destroy, .reward_jacobian = tr_reward_jacobian};

/* The dense reward Jacobians in y take 2 |S||A| n_params doubles of every MDP's scratch; above
   this many bytes the transformed problem offers none (and so no AMD). */
#define JACOBIAN_SCRATCH_MAX (64.0 * 1024 * 1024)

int cbrl_transformed_create(cbrl_problem **out, cbrl_problem *inner, int dim, const cbrl_transform *t,
                            int n_transforms) {
  if (!out || !inner || dim <= 0 || n_transforms <= 0 || !t) {
    cbrl_problem_free(inner);
    return CBRL_EINVAL;
  }
  int n_params = 0, n_inputs = 0;
  for (int i = 0; i < n_transforms; i++) {
    if (cbrl_transform_check(&t[i], dim, NULL, 0)) {
      cbrl_problem_free(inner);
      return CBRL_EINVAL;
    }
    n_params += t[i].n_inputs;
    n_inputs += t[i].n_inputs;
  }
  if (n_params != inner->dim) {
    cbrl_problem_free(inner);
    return CBRL_EINVAL;
  }
  transformed *tr = calloc(1, sizeof *tr);
  if (!tr) {
    cbrl_problem_free(inner);
    return CBRL_ENOMEM;
  }
  tr->inner = inner;
  tr->n_transforms = n_transforms;
  tr->n_params = n_params;
  tr->t = malloc(sizeof *tr->t * (size_t)n_transforms);
  tr->inputs = malloc(sizeof(int) * (size_t)n_inputs);
  if (!tr->t || !tr->inputs) {
    cbrl_problem tmp = {.impl = tr};
    tr_destroy(&tmp);
    return CBRL_ENOMEM;
  }
  for (int i = 0, k = 0; i < n_transforms; i++) {
    tr->t[i] = t[i];
    memcpy(tr->inputs + k, t[i].inputs, sizeof(int) * (size_t)t[i].n_inputs);
    tr->t[i].inputs = tr->inputs + k;
    k += t[i].n_inputs;
  }
  double SA = (double)inner->n_states * inner->n_actions;
  tr->jacobian = inner->ops->reward_jacobian && 2.0 * SA * n_params * sizeof(double) <= JACOBIAN_SCRATCH_MAX;
  tr->inner_off = 2 * (size_t)n_params + (tr->jacobian ? 2 * (size_t)SA * n_params : 0);
  cbrl_problem *p;
  int err = cbrl_problem_create(&p, tr->jacobian ? &transformed_jacobian_ops : &transformed_ops, tr, inner->n_states,
                                inner->n_actions, dim, inner->n_contexts);
  if (err) {
    cbrl_problem tmp = {.impl = tr};
    tr_destroy(&tmp);
    return err;
  }
  p->gamma = inner->gamma;
  p->leader_gamma = inner->leader_gamma;
  p->lambda = inner->lambda;
  memcpy(p->context_weight, inner->context_weight, sizeof(double) * (size_t)inner->n_contexts);
  p->flags = inner->flags;
  p->scratch_size = tr->inner_off * sizeof(double) + inner->scratch_size;
  snprintf(p->name, sizeof p->name, "%s", inner->name);
  *out = p;
  return 0;
}

int cbrl_transformed_parameters(const cbrl_problem *p, const double *x, double *y) {
  if (!p || !x || !y || p->ops->evaluate != tr_evaluate) return CBRL_EINVAL;
  forward(p->impl, x, y);
  return 0;
}
