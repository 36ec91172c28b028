/* The leader's gradient clipping, docs/MODEL.md 4. */
#include "clip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"

int cbrl__clip_init(cbrl__clip *c, const cbrl_leader_opts *o, int n_contexts, int dim, const double *weight) {
  memset(c, 0, sizeof *c);
  if (o->clip < 0 || o->clip >= CBRL_CLIP_COUNT_ || (o->clip == CBRL_CLIP_GROWING && !(o->clip_growth > 0.0)))
    return CBRL_EINVAL;
  c->mode = o->clip;
  c->max_norm = o->max_grad_norm;
  c->growth = o->clip_growth;
  c->n_contexts = n_contexts;
  c->dim = dim;
  c->weight = weight;
  if (c->mode != CBRL_CLIP_AVERAGE) return 0;
  c->table = calloc((size_t)n_contexts * (size_t)dim, sizeof(double));
  c->seen = calloc((size_t)n_contexts, 1);
  c->mean = calloc((size_t)dim, sizeof(double));
  if (!c->table || !c->seen || !c->mean) {
    cbrl__clip_close(c);
    return CBRL_ENOMEM;
  }
  return 0;
}

void cbrl__clip_close(cbrl__clip *c) {
  free(c->table);
  free(c->seen);
  free(c->mean);
  memset(c, 0, sizeof *c);
}

static double norm2(const double *v, int n) {
  double s = 0.0;
  for (int j = 0; j < n; j++) s += v[j] * v[j];
  return sqrt(s);
}

int cbrl__clip_direction(cbrl__clip *c, int context, int64_t t, const double *g, const double **dir,
                         double *scale) {
  *dir = g;
  *scale = 1.0;
  if (!(c->max_norm > 0.0)) return 0;
  double limit = c->max_norm;
  if (c->mode == CBRL_CLIP_GROWING) limit *= 1.0 + (double)t / c->growth;
  if (c->mode == CBRL_CLIP_AVERAGE && c->n_contexts > 1) {
    /* A running average over contexts of each one's latest estimate, weighted by q_xi among the
       contexts seen so far: its fixed point is grad F = 0 (a SAG-style step). */
    memcpy(c->table + (size_t)context * c->dim, g, sizeof(double) * (size_t)c->dim);
    c->seen[context] = 1;
    double total = 0.0;
    memset(c->mean, 0, sizeof(double) * (size_t)c->dim);
    for (int k = 0; k < c->n_contexts; k++) {
      if (!c->seen[k]) continue;
      total += c->weight[k];
      const double *row = c->table + (size_t)k * c->dim;
      for (int j = 0; j < c->dim; j++) c->mean[j] += c->weight[k] * row[j];
    }
    for (int j = 0; j < c->dim; j++) c->mean[j] /= total;
    *dir = c->mean;
  }
  double norm = norm2(*dir, c->dim);
  if (norm <= limit) return 0;
  *scale = limit / norm;
  return 1;
}
