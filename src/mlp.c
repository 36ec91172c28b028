/* A small multilayer perceptron and Adam for the soft-DQN follower (docs/MODEL.md 5). The
   products are written as row updates y_i += x_ik W_k (contiguous in the output index), which the
   compiler vectorises without reordering any sum, and which skip the zeros that ReLU and one-hot
   inputs leave; docs/BENCHMARKS.md measures them against OpenBLAS at the follower's sizes. */
#include "mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "vector_clones.h"

int cbrl__mlp_shape(cbrl__mlp *net, int n_layers, const int *size) {
  if (!net || !size || n_layers < 1 || n_layers > CBRL__MLP_LAYERS_MAX) return CBRL_EINVAL;
  memset(net, 0, sizeof *net);
  net->n_layers = n_layers;
  int64_t at = 0;
  for (int l = 0; l <= n_layers; l++) {
    if (size[l] < 1 || size[l] > (1 << 16)) return CBRL_EINVAL;
    net->size[l] = size[l];
    if (size[l] > net->widest) net->widest = size[l];
  }
  for (int l = 0; l < n_layers; l++) {
    net->offset[l] = at;
    at += (int64_t)size[l] * size[l + 1] + size[l + 1];
  }
  net->n_params = at;
  return 0;
}

/* Orthonormalises n vectors of length len in place (modified Gram-Schmidt, twice for accuracy). */
static void orthonormalise(double *v, int n, int len) {
  for (int i = 0; i < n; i++) {
    double *vi = v + (size_t)i * len;
    for (int pass = 0; pass < 2; pass++)
      for (int j = 0; j < i; j++) {
        const double *vj = v + (size_t)j * len;
        double dot = 0.0;
        for (int k = 0; k < len; k++) dot += vi[k] * vj[k];
        for (int k = 0; k < len; k++) vi[k] -= dot * vj[k];
      }
    double norm = 0.0;
    for (int k = 0; k < len; k++) norm += vi[k] * vi[k];
    norm = sqrt(norm);
    for (int k = 0; k < len; k++) vi[k] = norm > 0 ? vi[k] / norm : (k == i);
  }
}

int cbrl__mlp_init_params(const cbrl__mlp *net, double output_gain, cbrl_rng *rng, double *params) {
  for (int l = 0; l < net->n_layers; l++) {
    int in = net->size[l], out = net->size[l + 1];
    int n = in < out ? in : out, len = in < out ? out : in;
    double gain = l + 1 == net->n_layers ? output_gain : sqrt(2.0);
    double *w = params + net->offset[l], *b = w + (size_t)in * out;
    /* An orthogonal matrix of W's shape, as flax's orthogonal initializer: n orthonormal vectors
       of length len drawn from Gaussians, written as the columns (in >= out) or rows of W. */
    for (size_t k = 0; k < (size_t)in * out; k++) w[k] = cbrl_rng_normal(rng);
    orthonormalise(w, n, len);
    if (in >= out) { /* vectors are columns: transpose len x n (vector-major) into in x out */
      double *t = malloc(sizeof(double) * (size_t)in * out);
      if (!t) return CBRL_ENOMEM;
      memcpy(t, w, sizeof(double) * (size_t)in * out);
      for (int j = 0; j < out; j++)
        for (int k = 0; k < in; k++) w[(size_t)k * out + j] = t[(size_t)j * in + k];
      free(t);
    }
    for (size_t k = 0; k < (size_t)in * out; k++) w[k] *= gain;
    for (int j = 0; j < out; j++) b[j] = 0.0;
    if (l == 0 && in == 1)
      for (int j = 0; j < out; j++) b[j] = -w[j] * (2.0 * cbrl_rng_uniform(rng) - 1.0);
  }
  return 0;
}

int cbrl__mlp_work_init(cbrl__mlp_work *w, const cbrl__mlp *net, int capacity) {
  memset(w, 0, sizeof *w);
  if (capacity < 1) return CBRL_EINVAL;
  w->capacity = capacity;
  for (int l = 1; l <= net->n_layers; l++)
    if (!(w->act[l] = malloc(sizeof(double) * (size_t)capacity * net->size[l]))) goto fail;
  size_t largest = 0;
  for (int l = 0; l < net->n_layers; l++)
    if ((size_t)net->size[l] * net->size[l + 1] > largest) largest = (size_t)net->size[l] * net->size[l + 1];
  for (int k = 0; k < 2; k++)
    if (!(w->delta[k] = malloc(sizeof(double) * (size_t)capacity * net->widest))) goto fail;
  if (!(w->transposed = malloc(sizeof(double) * largest))) goto fail;
  return 0;
fail:
  cbrl__mlp_work_close(w);
  return CBRL_ENOMEM;
}

void cbrl__mlp_work_close(cbrl__mlp_work *w) {
  if (!w) return;
  for (int l = 0; l <= CBRL__MLP_LAYERS_MAX; l++) free(w->act[l]);
  free(w->delta[0]);
  free(w->delta[1]);
  free(w->transposed);
  memset(w, 0, sizeof *w);
}

/* ---- The products ------------------------------------------------------------------ */

CBRL_VECTOR_CLONES
void cbrl__dense_forward(int batch, int in, int out, const double *x, const double *wt, const double *b, double *y) {
  for (int i = 0; i < batch; i++) {
    double *restrict yi = y + (size_t)i * out;
    const double *xi = x + (size_t)i * in;
    for (int j = 0; j < out; j++) yi[j] = b[j];
    for (int k = 0; k < in; k++) {
      double xk = xi[k];
      if (xk == 0.0) continue;
      const double *restrict wk = wt + (size_t)k * out;
      for (int j = 0; j < out; j++) yi[j] += xk * wk[j];
    }
  }
}

/* dx = dy W^T by rows of W^T (wtt: out x in, a transposed copy), skipping dy's zeros. */
CBRL_VECTOR_CLONES
static void backward_input_t(int batch, int in, int out, const double *dy, const double *wtt, double *dx) {
  for (int i = 0; i < batch; i++) {
    double *restrict dxi = dx + (size_t)i * in;
    const double *dyi = dy + (size_t)i * out;
    for (int k = 0; k < in; k++) dxi[k] = 0.0;
    for (int j = 0; j < out; j++) {
      double g = dyi[j];
      if (g == 0.0) continue;
      const double *restrict wj = wtt + (size_t)j * in;
      for (int k = 0; k < in; k++) dxi[k] += g * wj[k];
    }
  }
}

/* The transposed copy needs room for in x out doubles; callers outside the network pass none
   and get it allocated (the benchmark's use). */
static void backward_input(int batch, int in, int out, const double *dy, const double *wt, double *dx,
                           double *scratch) {
  double *t = scratch ? scratch : malloc(sizeof(double) * (size_t)in * out);
  if (!t) return;
  for (int k = 0; k < in; k++)
    for (int j = 0; j < out; j++) t[(size_t)j * in + k] = wt[(size_t)k * out + j];
  backward_input_t(batch, in, out, dy, t, dx);
  if (!scratch) free(t);
}

void cbrl__dense_backward_input(int batch, int in, int out, const double *dy, const double *wt, double *dx) {
  backward_input(batch, in, out, dy, wt, dx, NULL);
}

CBRL_VECTOR_CLONES
void cbrl__dense_backward_weights(int batch, int in, int out, const double *x, const double *dy, double *dw,
                                  double *db) {
  memset(dw, 0, sizeof(double) * (size_t)in * out);
  for (int j = 0; j < out; j++) db[j] = 0.0;
  for (int i = 0; i < batch; i++) {
    const double *restrict dyi = dy + (size_t)i * out;
    const double *xi = x + (size_t)i * in;
    for (int j = 0; j < out; j++) db[j] += dyi[j];
    /* A row with few nonzeros (the loss's output gradient: one per head) updates only their
       columns; every dw entry still sums its rows in order, so the bits are the same. */
    int nnz = 0;
    for (int j = 0; j < out; j++) nnz += dyi[j] != 0.0;
    if (4 * nnz < out) {
      for (int j = 0; j < out; j++) {
        double g = dyi[j];
        if (g == 0.0) continue;
        for (int k = 0; k < in; k++)
          if (xi[k] != 0.0) dw[(size_t)k * out + j] += xi[k] * g;
      }
      continue;
    }
    for (int k = 0; k < in; k++) {
      double xk = xi[k];
      if (xk == 0.0) continue;
      double *restrict dwk = dw + (size_t)k * out;
      for (int j = 0; j < out; j++) dwk[j] += xk * dyi[j];
    }
  }
}

/* ---- The network ------------------------------------------------------------------- */

const double *cbrl__mlp_forward(const cbrl__mlp *net, const double *params, int batch, const double *in,
                                cbrl__mlp_work *w) {
  const double *x = in;
  for (int l = 0; l < net->n_layers; l++) {
    int n_in = net->size[l], n_out = net->size[l + 1];
    const double *wt = params + net->offset[l];
    double *y = w->act[l + 1];
    cbrl__dense_forward(batch, n_in, n_out, x, wt, wt + (size_t)n_in * n_out, y);
    if (l + 1 < net->n_layers)
      for (size_t k = 0; k < (size_t)batch * n_out; k++) y[k] = y[k] > 0.0 ? y[k] : 0.0;
    x = y;
  }
  return x;
}

const double *cbrl__mlp_forward_picked(const cbrl__mlp *net, const double *params, int batch, const double *in,
                                       cbrl__mlp_work *w, int n_pick, const int32_t *pick) {
  int L = net->n_layers, n_in = net->size[L - 1], n_out = net->size[L];
  const double *h = in;
  if (L > 1) {
    cbrl__mlp net_hidden = *net;
    net_hidden.n_layers = L - 1;
    /* The hidden layers as a network of their own whose last layer keeps its ReLU. */
    h = cbrl__mlp_forward(&net_hidden, params, batch, in, w);
    for (size_t k = 0; k < (size_t)batch * n_in; k++) w->act[L - 1][k] = h[k] > 0.0 ? h[k] : 0.0;
    h = w->act[L - 1];
  }
  const double *wt = params + net->offset[L - 1], *b = wt + (size_t)n_in * n_out;
  double *y = w->act[L];
  for (int i = 0; i < batch; i++) {
    const double *hi = h + (size_t)i * n_in;
    for (int p = 0; p < n_pick; p++) {
      int j = pick[(size_t)i * n_pick + p];
      double v = b[j]; /* the same sum, in the same order, as cbrl__dense_forward's */
      for (int k = 0; k < n_in; k++)
        if (hi[k] != 0.0) v += hi[k] * wt[(size_t)k * n_out + j];
      y[(size_t)i * n_out + j] = v;
    }
  }
  return y;
}

void cbrl__mlp_backward(const cbrl__mlp *net, const double *params, int batch, const double *in,
                        cbrl__mlp_work *w, const double *dout, double *grad) {
  /* dy is d/d(pre-activation) of the current layer; its input gradient goes to whichever delta
     dy is not, then is masked by ReLU. */
  const double *dy = dout;
  for (int l = net->n_layers - 1; l >= 0; l--) {
    int n_in = net->size[l], n_out = net->size[l + 1];
    const double *x = l ? w->act[l] : in;
    const double *wt = params + net->offset[l];
    double *gw = grad + net->offset[l];
    cbrl__dense_backward_weights(batch, n_in, n_out, x, dy, gw, gw + (size_t)n_in * n_out);
    if (l == 0) break;
    double *dx = dy == w->delta[0] ? w->delta[1] : w->delta[0];
    backward_input(batch, n_in, n_out, dy, wt, dx, w->transposed);
    for (size_t k = 0; k < (size_t)batch * n_in; k++)
      if (w->act[l][k] <= 0.0) dx[k] = 0.0;
    dy = dx;
  }
}

/* ---- Adam and clipping ------------------------------------------------------------- */

int cbrl__adam_init(cbrl__adam *a, int64_t n, double learning_rate) {
  memset(a, 0, sizeof *a);
  a->learning_rate = learning_rate;
  a->beta1 = 0.9;
  a->beta2 = 0.999;
  a->eps = 1e-8;
  a->n = n;
  a->m = calloc((size_t)n, sizeof(double));
  a->v = calloc((size_t)n, sizeof(double));
  if (!a->m || !a->v) {
    cbrl__adam_close(a);
    return CBRL_ENOMEM;
  }
  return 0;
}

void cbrl__adam_step(cbrl__adam *a, double *params, const double *grad) {
  a->t++;
  double c1 = 1.0 - pow(a->beta1, (double)a->t), c2 = 1.0 - pow(a->beta2, (double)a->t);
  for (int64_t k = 0; k < a->n; k++) {
    a->m[k] = a->beta1 * a->m[k] + (1.0 - a->beta1) * grad[k];
    a->v[k] = a->beta2 * a->v[k] + (1.0 - a->beta2) * grad[k] * grad[k];
    params[k] -= a->learning_rate * (a->m[k] / c1) / (sqrt(a->v[k] / c2) + a->eps);
  }
}

void cbrl__adam_close(cbrl__adam *a) {
  if (!a) return;
  free(a->m);
  free(a->v);
  a->m = a->v = NULL;
}

double cbrl__clip_global_norm(double *g, int64_t n, double max_norm) {
  double s = 0.0;
  for (int64_t k = 0; k < n; k++) s += g[k] * g[k];
  double norm = sqrt(s);
  if (max_norm > 0.0 && norm > max_norm) {
    double c = max_norm / norm;
    for (int64_t k = 0; k < n; k++) g[k] *= c;
  }
  return norm;
}
