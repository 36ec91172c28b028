/* Internal: a small multilayer perceptron for the soft-DQN follower (docs/MODEL.md 5): dense
   layers with ReLU between them and a linear output, forward and backward over a batch, and
   Adam. Single-threaded on purpose: at the follower's sizes (batches of tens to hundreds of rows,
   64-wide layers) a thread team costs more than it saves, and one thread gives the same bits
   whatever the thread count. The products are plain C loops written so that the compiler
   vectorises them in a fixed order (no FMA, -ffp-contract=off), so every x86-64 clone gives the
   same bits too; docs/BENCHMARKS.md compares them with OpenBLAS. */
#ifndef CBRL_MLP_H
#define CBRL_MLP_H

#include <stdint.h>

#include "cbrl/rng.h"

#define CBRL__MLP_LAYERS_MAX 5

/* The shape of a network: size[0] inputs, size[1..n_layers-1] hidden ReLU units, size[n_layers]
   linear outputs. Its parameters live in one vector: per layer l the weights W_l (size[l] x
   size[l+1], row-major: W[k * out + j] joins input k to output j), then the biases (size[l+1]). */
typedef struct cbrl__mlp {
  int n_layers;
  int size[CBRL__MLP_LAYERS_MAX + 1];
  int64_t offset[CBRL__MLP_LAYERS_MAX]; /* start of layer l's weights in the parameter vector */
  int64_t n_params;
  int widest; /* max size[l] */
} cbrl__mlp;

/* Activations of one batch, kept by forward for backward. */
typedef struct cbrl__mlp_work {
  int capacity;                          /* rows */
  double *act[CBRL__MLP_LAYERS_MAX + 1]; /* act[l], l >= 1: capacity x size[l] (hidden: after ReLU) */
  double *delta[2];                      /* capacity x widest: backward scratch */
  double *transposed;                    /* the largest size[l] x size[l+1]: W_l^T for backward */
} cbrl__mlp_work;

/* Adam (Kingma and Ba) with bias correction. */
typedef struct cbrl__adam {
  double learning_rate, beta1, beta2, eps;
  int64_t t;    /* steps taken */
  int64_t n;    /* parameters */
  double *m, *v; /* n: first and second moments */
} cbrl__adam;

/* Sets the shape from n_layers + 1 sizes; returns CBRL_EINVAL for a bad shape. */
int cbrl__mlp_shape(cbrl__mlp *net, int n_layers, const int *size);

/* Writes orthogonal initial weights (gain sqrt 2 for hidden layers, output_gain for the last, as
   the paper's follower) and zero biases, except that a network with one input gets first-layer
   biases that put each unit's kink at a uniform point of [-1, 1] (with zero biases every kink
   would sit at input 0). Returns 0 or CBRL_ENOMEM. */
int cbrl__mlp_init_params(const cbrl__mlp *net, double output_gain, cbrl_rng *rng, double *params);

/* Allocates activations for batches of up to `capacity` rows. */
int cbrl__mlp_work_init(cbrl__mlp_work *w, const cbrl__mlp *net, int capacity);

/* Releases a work area. */
void cbrl__mlp_work_close(cbrl__mlp_work *w);

/* Computes the outputs of `batch` rows of inputs (batch x size[0]); returns them
   (batch x size[n_layers], inside w, valid until the next forward). */
const double *cbrl__mlp_forward(const cbrl__mlp *net, const double *params, int batch, const double *in,
                                cbrl__mlp_work *w);

/* As cbrl__mlp_forward, but of the last layer computes only the n_pick outputs pick[i * n_pick ..]
   of each row i (the others are left as they were), with the same bits; backward then needs dout
   nonzero only there. */
const double *cbrl__mlp_forward_picked(const cbrl__mlp *net, const double *params, int batch, const double *in,
                                       cbrl__mlp_work *w, int n_pick, const int32_t *pick);

/* Writes grad (n_params) = d/dparams of sum_ij dout[i,j] out[i,j] for the batch of the last forward
   on in (w holds its activations). */
void cbrl__mlp_backward(const cbrl__mlp *net, const double *params, int batch, const double *in,
                        cbrl__mlp_work *w, const double *dout, double *grad);

/* Dense layer y = x W + b over a batch (x: batch x in, W: in x out, y: batch x out). */
void cbrl__dense_forward(int batch, int in, int out, const double *x, const double *wt, const double *b, double *y);

/* dx = dy W^T (batch x in), for dy batch x out. */
void cbrl__dense_backward_input(int batch, int in, int out, const double *dy, const double *wt, double *dx);

/* dW = x^T dy (in x out) and db = column sums of dy (out), overwritten. */
void cbrl__dense_backward_weights(int batch, int in, int out, const double *x, const double *dy, double *dw,
                                  double *db);

/* Allocates zero moments for n parameters, with the given step and the usual constants
   (beta1 0.9, beta2 0.999, eps 1e-8). */
int cbrl__adam_init(cbrl__adam *a, int64_t n, double learning_rate);

/* One Adam step: params -= lr * mhat / (sqrt(vhat) + eps). */
void cbrl__adam_step(cbrl__adam *a, double *params, const double *grad);

/* Releases Adam's moments. */
void cbrl__adam_close(cbrl__adam *a);

/* Rescales g (n) to Euclidean norm at most max_norm (<= 0: never); returns the norm before. */
double cbrl__clip_global_norm(double *g, int64_t n, double max_norm);

#endif /* CBRL_MLP_H */
