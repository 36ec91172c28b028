/* Random CMDPs (docs/ENVIRONMENTS.md 3): an affine problem whose constants and coefficients are drawn
   from one seeded stream, so a seed names a problem. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "cbrl/affine.h"
#include "cbrl/env/random_problem.h"
#include "cbrl/errors.h"
#include "cbrl/rng.h"

void cbrl_random_opts_default(cbrl_random_opts *o) {
  memset(o, 0, sizeof *o);
  o->n_states = 10;
  o->n_actions = 3;
  o->dim = 3;
  o->n_contexts = 2;
  o->branch = 3;
  o->terminal_fraction = 0.1;
  o->coef_nonzeros = -1;
  o->coef_scale = 0.5;
  o->depends = CBRL_DEPENDS_ALL;
  o->reward_scale = 1.0;
  o->gamma = 0.9;
  o->leader_gamma = 0.9;
  o->lambda = 1.0;
}

void cbrl_random_problem_shape(const cbrl_random_opts *o, cbrl_problem_shape *shape) {
  double sa = (double)o->n_states * o->n_actions;
  double branch = o->branch < o->n_states ? o->branch : o->n_states;
  *shape = (cbrl_problem_shape){o->n_states, o->n_actions, o->dim, o->n_contexts, sa * branch};
}

/* Draws a coefficient vector with `nnz` random non-zeros (all dense when nnz >= dim). */
static const double *draw_coef(cbrl_rng *rng, int dim, int nnz, double scale, double *coef) {
  memset(coef, 0, sizeof(double) * (size_t)dim);
  if (nnz >= dim) {
    for (int j = 0; j < dim; j++) coef[j] = scale * cbrl_rng_normal(rng);
  } else {
    for (int i = 0; i < nnz; i++) coef[cbrl_rng_below(rng, (uint64_t)dim)] = scale * cbrl_rng_normal(rng);
  }
  return coef;
}

/* Zeroes a drawn coefficient vector when its quantity must not depend on x. */
static const double *mask(const double *drawn, double *coef, int dim, int keep) {
  if (!keep) memset(coef, 0, sizeof(double) * (size_t)dim);
  return drawn;
}

/* Multiplies a drawn coefficient vector in place. */
static const double *scale(const double *drawn, double *coef, int dim, double factor) {
  for (int j = 0; j < dim; j++) coef[j] *= factor;
  return drawn;
}

/* Draws n distinct states into out (n <= n_states). */
static void draw_distinct(cbrl_rng *rng, int n_states, int n, int32_t *out) {
  for (int i = 0; i < n; i++) {
    int32_t s;
    int dup;
    do {
      s = (int32_t)cbrl_rng_below(rng, (uint64_t)n_states);
      dup = 0;
      for (int j = 0; j < i; j++) dup |= out[j] == s;
    } while (dup);
    out[i] = s;
  }
}

int cbrl_random_problem_create(cbrl_problem **out, const cbrl_random_opts *o) {
  if (!out || !o || o->n_states <= 0 || o->n_actions <= 0 || o->dim <= 0 || o->n_contexts <= 0 ||
      o->branch <= 0 || !(o->terminal_fraction >= 0.0 && o->terminal_fraction < 1.0) ||
      !(o->reward_scale > 0.0 && isfinite(o->reward_scale)))
    return CBRL_EINVAL;
  int branch = o->branch < o->n_states ? o->branch : o->n_states;
  int nnz = o->coef_nonzeros < 0 ? (o->dim < 2 ? o->dim : 2) : o->coef_nonzeros;
  if (nnz == 0) nnz = o->dim;
  cbrl_problem *p;
  cbrl_problem_shape shape;
  cbrl_random_problem_shape(o, &shape);
  if (cbrl_problem_memory_estimate(&shape) > cbrl_memory_limit()) return CBRL_ETOOBIG;
  int err = cbrl_affine_create(&p, o->n_states, o->n_actions, o->dim, o->n_contexts);
  if (err) return err;
  double *coef = malloc(sizeof(double) * (size_t)o->dim);
  int32_t *support = malloc(sizeof(int32_t) * (size_t)branch);
  if (!coef || !support) {
    err = CBRL_ENOMEM;
    goto fail;
  }
  cbrl_rng rng;
  cbrl_rng_seed(&rng, o->seed, 0);
  unsigned char *terminal = calloc((size_t)o->n_states, 1);
  if (!terminal) {
    err = CBRL_ENOMEM;
    goto fail;
  }
  for (int s = 0; s < o->n_states; s++)
    if (cbrl_rng_uniform(&rng) < o->terminal_fraction) {
      terminal[s] = 1;
      cbrl_affine_set_terminal(p, s);
    }
  double wsum = 0.0;
  for (int k = 0; k < o->n_contexts; k++) wsum += (p->context_weight[k] = 0.5 + cbrl_rng_uniform(&rng));
  for (int k = 0; k < o->n_contexts; k++) p->context_weight[k] /= wsum;
  double sc = o->coef_scale, rs = o->reward_scale;
  /* Every quantity draws its coefficients, so the stream (and the constants) do not depend on
     `depends`; a quantity left out gets them zeroed. */
  unsigned dep = o->depends;
#define COEF(bit) mask(draw_coef(&rng, o->dim, nnz, sc, coef), coef, o->dim, (dep & (bit)) != 0)
  for (int k = 0; k < o->n_contexts && !err; k++) {
    draw_distinct(&rng, o->n_states, branch, support);
    /* Coefficients are drawn before constants, explicitly: the order of evaluation of two
       arguments is unspecified in C, and compilers differ. */
    for (int i = 0; i < branch && !err; i++) {
      const double *c = COEF(CBRL_DEPENDS_MU);
      err = cbrl_affine_add_initial(p, k, support[i], cbrl_rng_normal(&rng), c);
    }
    for (int s = 0; s < o->n_states && !err; s++)
      for (int a = 0; a < o->n_actions && !err; a++) {
        /* Scaled after drawing, so the stream and the problem's shape do not depend on the scale. */
        const double *c = scale(COEF(CBRL_DEPENDS_R), coef, o->dim, rs);
        err = cbrl_affine_set_reward(p, k, s, a, cbrl_rng_normal(&rng) * rs, c);
        c = scale(COEF(CBRL_DEPENDS_RBAR), coef, o->dim, rs);
        if (!err) err = cbrl_affine_set_leader_reward(p, k, s, a, cbrl_rng_normal(&rng) * rs, c);
        if (terminal[s]) continue;
        draw_distinct(&rng, o->n_states, branch, support);
        for (int i = 0; i < branch && !err; i++) {
          const double *c = COEF(CBRL_DEPENDS_P);
          err = cbrl_affine_add_transition(p, k, s, a, support[i], cbrl_rng_normal(&rng), c);
        }
      }
  }
#undef COEF
  free(terminal);
  if (!err) err = cbrl_affine_finalize(p, NULL, NULL, NULL);
  if (err) goto fail;
  free(coef);
  free(support);
  p->gamma = o->gamma;
  p->leader_gamma = o->leader_gamma;
  p->lambda = o->lambda;
  snprintf(p->name, sizeof p->name, "random");
  *out = p;
  return 0;
fail:
  free(coef);
  free(support);
  cbrl_problem_free(p);
  return err;
}
