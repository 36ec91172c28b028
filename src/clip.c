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
  if (o->n_clip_groups < 0 || o->n_clip_groups > CBRL_CLIP_GROUPS_MAX) return CBRL_EINVAL;
  c->n_groups = o->n_clip_groups ? o->n_clip_groups : 1;
  c->group_size[0] = dim;
  if (o->n_clip_groups) {
    int total = 0;
    for (int k = 0; k < o->n_clip_groups; k++) {
      if (o->clip_group_size[k] < 1) return CBRL_EINVAL;
      c->group_size[k] = o->clip_group_size[k];
      total += o->clip_group_size[k];
    }
    if (total != dim) return CBRL_EINVAL;
  }
  c->scale = malloc(sizeof(double) * (size_t)(dim > 0 ? dim : 1));
  if (!c->scale) return CBRL_ENOMEM;
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
  free(c->scale);
  memset(c, 0, sizeof *c);
}

static double norm2(const double *v, int n) {
  double s = 0.0;
  for (int j = 0; j < n; j++) s += v[j] * v[j];
  return sqrt(s);
}

int cbrl__clip_direction(cbrl__clip *c, int context, int64_t t, const double *g, const double **dir,
                         const double **scale) {
  *dir = g;
  *scale = c->scale;
  for (int j = 0; j < c->dim; j++) c->scale[j] = 1.0;
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
  /* Each group to the clip's norm on its own (one group: the global norm). */
  int clipped = 0;
  for (int k = 0, j0 = 0; k < c->n_groups; j0 += c->group_size[k], k++) {
    double norm = norm2(*dir + j0, c->group_size[k]);
    if (norm <= limit) continue;
    for (int j = j0; j < j0 + c->group_size[k]; j++) c->scale[j] = limit / norm;
    clipped = 1;
  }
  return clipped;
}
