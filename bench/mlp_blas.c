/* The soft-DQN follower's matrix products (src/mlp.c, hand-vectorised C) against OpenBLAS's
   dgemm at the sizes the follower uses (docs/BENCHMARKS.md, "The soft-DQN follower's
   products"). Inputs are as in training: the hidden layers' inputs are ReLU outputs (about half
   zeros), the output layer's gradient has one nonzero per row (the action taken).

     cbrl_mlp_blas [REPEATS]

   Built only where Debian's libopenblas-dev is installed; libcbrl itself does not link it. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "mlp.h"

void openblas_set_num_threads(int);

typedef struct layer {
  const char *what;
  int batch, in, out;
  int relu_input;  /* the input is a ReLU output */
  int sparse_grad; /* the output gradient has one nonzero per row */
} layer;

static double *filled(size_t n, cbrl_rng *rng, int relu) {
  double *v = malloc(sizeof(double) * n);
  for (size_t k = 0; k < n; k++) {
    double z = cbrl_rng_normal(rng);
    v[k] = relu && z < 0 ? 0.0 : z;
  }
  return v;
}

/* CPU seconds of the calling thread: on a shared machine, closer to the cost than wall time. */
static double thread_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Median seconds of one call of body over `repeats` timed batches of `inner` calls, on the
   clock `clk` (thread CPU time for one thread; wall time for OpenBLAS's two). */
#define TIME(median_out, inner, repeats, body, clk)            \
  do {                                                         \
    double t_[64];                                             \
    for (int w_ = 0; w_ < inner; w_++) body;                   \
    for (int r_ = 0; r_ < (repeats); r_++) {                   \
      double t0_ = clk();                                      \
      for (int i_ = 0; i_ < (inner); i_++) body;               \
      t_[r_] = (clk() - t0_) / (inner);                        \
    }                                                          \
    median_out = median(t_, repeats);                          \
  } while (0)

int main(int argc, char **argv) {
  int repeats = argc > 1 ? atoi(argv[1]) : 15;
  if (repeats < 1 || repeats > 64) repeats = 15;
  const layer layers[] = {
      {"act: 1 -> 64", 1, 1, 64, 0, 0},          {"act: 64 -> 64", 1, 64, 64, 1, 0},
      {"act: 64 -> 130", 1, 64, 130, 1, 0},      {"train: 1 -> 64", 64, 1, 64, 0, 0},
      {"train: 64 -> 64", 64, 64, 64, 1, 0},     {"train: 64 -> 130 (joint)", 64, 64, 130, 1, 1},
      {"train: 64 -> 23 (factorised)", 64, 64, 23, 1, 1}, {"table: 64 -> 130 (200 states)", 200, 64, 130, 1, 0},
  };
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  printf("| layer (batch x in -> out) | product | C (us, CPU) | OpenBLAS 1 thread (us, CPU) | OpenBLAS 2 threads (us, wall) |\n");
  printf("|---|---|---|---|---|\n");
  for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
    const layer *L = &layers[l];
    int NB = L->batch, NI = L->in, NO = L->out;
    double *x = filled((size_t)NB * NI, &rng, L->relu_input), *w = filled((size_t)NI * NO, &rng, 0),
           *b = filled(NO, &rng, 0), *y = malloc(sizeof(double) * NB * NO), *dy = filled((size_t)NB * NO, &rng, 0),
           *dx = malloc(sizeof(double) * NB * NI), *dw = malloc(sizeof(double) * NI * NO), *db = malloc(sizeof(double) * NO);
    if (L->sparse_grad)
      for (int i = 0; i < NB; i++)
        for (int j = 0; j < NO; j++)
          if (j != (i * 7) % NO) dy[(size_t)i * NO + j] = 0.0;
    int inner = NB == 1 ? 20000 : 200;
    for (int kind = 0; kind < (NB == 1 ? 1 : 3); kind++) {
      double tc, tb1, tb2;
      const char *name = kind == 0 ? "forward y = xW + b" : kind == 1 ? "backward dW = x^T dy" : "backward dx = dy W^T";
      if (kind == 0) {
        TIME(tc, inner, repeats, cbrl__dense_forward(NB, NI, NO, x, w, b, y), thread_now);
      } else if (kind == 1) {
        TIME(tc, inner, repeats, cbrl__dense_backward_weights(NB, NI, NO, x, dy, dw, db), thread_now);
      } else {
        TIME(tc, inner, repeats, cbrl__dense_backward_input(NB, NI, NO, dy, w, dx), thread_now);
      }
      for (int threads = 1; threads <= 2; threads++) {
        openblas_set_num_threads(threads);
        double t, (*clk)(void) = threads == 1 ? thread_now : now;
        if (kind == 0) {
          TIME(t, inner, repeats, {
            for (int i_b = 0; i_b < NB; i_b++) memcpy(y + (size_t)i_b * NO, b, sizeof(double) * NO);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NB, NO, NI, 1.0, x, NI, w, NO, 1.0, y, NO);
          }, clk);
        } else if (kind == 1) {
          TIME(t, inner, repeats, {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, NI, NO, NB, 1.0, x, NI, dy, NO, 0.0, dw, NO);
            for (int j_b = 0; j_b < NO; j_b++) db[j_b] = 0.0;
            for (int i_b = 0; i_b < NB; i_b++)
              for (int j_b = 0; j_b < NO; j_b++) db[j_b] += dy[(size_t)i_b * NO + j_b];
          }, clk);
        } else {
          TIME(t, inner, repeats,
               cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, NB, NI, NO, 1.0, dy, NO, w, NO, 0.0, dx, NI), clk);
        }
        if (threads == 1) tb1 = t;
        else tb2 = t;
      }
      printf("| %s (%d x %d -> %d) | %s | %.2f | %.2f | %.2f |\n", L->what, NB, NI, NO, name, 1e6 * tc, 1e6 * tb1,
             1e6 * tb2);
      fflush(stdout);
    }
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db);
  }
  return 0;
}
