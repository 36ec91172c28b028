/* Mechanisms nonlinear in x (docs/MODEL.md 1.1): a problem whose parameters are y = T(x), with
   T a list of transforms (sigmoid, softplus, exp, softmax over a group, a scaled range,
   identity), wrapped around a problem in y; derivatives by the chain rule, exactly. */
#ifndef CBRL_TRANSFORM_H
#define CBRL_TRANSFORM_H

#include "cbrl/export.h"
#include "cbrl/model.h"

typedef enum cbrl_transform_kind {
  CBRL_TRANSFORM_IDENTITY = 0, /* y = scale x_j */
  CBRL_TRANSFORM_SIGMOID,      /* y = scale / (1 + exp(-x_j)) */
  CBRL_TRANSFORM_SOFTPLUS,     /* y = scale log(1 + exp(x_j)) */
  CBRL_TRANSFORM_EXP,          /* y = scale exp(x_j) */
  CBRL_TRANSFORM_SOFTMAX,      /* y_i = scale exp(x_ji) / sum_k exp(x_jk) over the group */
  CBRL_TRANSFORM_RANGE,        /* y = low + (high - low) / (1 + exp(-x_j)) */
  CBRL_TRANSFORM_COUNT_
} cbrl_transform_kind;

/* One transform: it reads n_inputs entries of x and writes as many entries of y. */
typedef struct cbrl_transform {
  cbrl_transform_kind kind;
  int n_inputs;      /* 1, or the group's size (>= 2) for softmax */
  const int *inputs; /* n_inputs indices into x, distinct */
  double scale;      /* finite, > 0 (not used by range) */
  double low, high;  /* range only: finite, low < high */
} cbrl_transform;

/* Returns the name of a transform kind ("identity", "sigmoid", "softplus", "exp", "softmax", "range"). */
CBRL_API const char *cbrl_transform_name(cbrl_transform_kind k);

/* Parses a transform kind's name; CBRL_EINVAL for an unknown one. */
CBRL_API int cbrl_transform_parse(const char *name, cbrl_transform_kind *out);

/* Checks one transform for x of dimension dim: 0, or CBRL_EINVAL with a reason in why. */
CBRL_API int cbrl_transform_check(const cbrl_transform *t, int dim, char *why, size_t size);

/* Creates the problem in x (dim) whose mechanism is inner's at y = T(x), the transforms' outputs
   in order (inner->dim of them in all). Takes ownership of inner (freed on failure too); the new
   problem copies its discounts, temperature, context weights and flags. */
CBRL_API int cbrl_transformed_create(cbrl_problem **out, cbrl_problem *inner, int dim,
                                     const cbrl_transform *t, int n_transforms);

/* Writes y = T(x) of a transformed problem (inner->dim entries). */
CBRL_API int cbrl_transformed_parameters(const cbrl_problem *p, const double *x, double *y);

#endif /* CBRL_TRANSFORM_H */
