/* Internal: the leader's gradient clipping (docs/MODEL.md 4). Clipping each sampled context's
   estimate moves the leader's fixed point to where the mean of the clipped per-context gradients
   vanishes; the average and growing modes keep the clip's protection without moving it. */
#ifndef CBRL_CLIP_H
#define CBRL_CLIP_H

#include <stdint.h>

#include "cbrl/leader.h"

typedef struct cbrl__clip {
  cbrl_clip_mode mode;
  double max_norm;      /* <= 0: no clipping in any mode */
  double growth;        /* growing: the clip is max_norm (1 + t / growth) */
  int n_contexts, dim;
  const double *weight; /* the problem's context weights */
  double *table;        /* average: n_contexts x dim, each context's latest estimate */
  unsigned char *seen;  /* average: n_contexts */
  double *mean;         /* average: dim */
  int n_groups;         /* consecutive groups of coordinates clipped on their own; 1: x whole */
  int group_size[CBRL_CLIP_GROUPS_MAX];
  double *scale;        /* dim: each coordinate's factor of the last direction */
} cbrl__clip;

/* Prepares clipping for a problem's contexts and dimension with the leader's options; CBRL_EINVAL
   for an unknown mode or clip groups whose sizes do not add up to dim. */
int cbrl__clip_init(cbrl__clip *c, const cbrl_leader_opts *o, int n_contexts, int dim, const double *weight);

/* Releases what cbrl__clip_init allocated. */
void cbrl__clip_close(cbrl__clip *c);

/* Turns the estimate g of the sampled context at outer iteration t (from 1) into the step
   direction (*scale)[j] * (*dir)[j]: *dir is g itself or the context average, *scale each
   coordinate's clip factor. Returns 1 if the clip shortened any group, else 0. */
int cbrl__clip_direction(cbrl__clip *c, int context, int64_t t, const double *g, const double **dir,
                         const double **scale);

#endif /* CBRL_CLIP_H */
