/* Tests for src/mlp.c: the network's gradient against central finite differences, the dense
   products against plain triple loops, orthogonal initial weights, Adam's first step, the
   global-norm clip, and the same bits from the same seed. */
#include "test_util.h"

#include <string.h>

#include "mlp.h"

/* L(params) = sum_ij c_ij out_ij for a fixed cotangent c. */
static double loss(const cbrl__mlp *net, const double *params, int batch, const double *in, const double *c,
                   cbrl__mlp_work *w) {
  const double *out = cbrl__mlp_forward(net, params, batch, in, w);
  double l = 0.0;
  for (int k = 0; k < batch * net->size[net->n_layers]; k++) l += c[k] * out[k];
  return l;
}

static void check_gradient(int n_layers, const int *size, int batch) {
  cbrl__mlp net;
  assert_ok(cbrl__mlp_shape(&net, n_layers, size));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 3, 0);
  double *params = malloc(sizeof(double) * net.n_params), *grad = malloc(sizeof(double) * net.n_params);
  assert_ok(cbrl__mlp_init_params(&net, 0.5, &rng, params));
  /* Biases away from 0 so that few pre-activations sit at a ReLU kink within the step. */
  for (int64_t k = 0; k < net.n_params; k++) params[k] += 0.1 * cbrl_rng_normal(&rng);
  int n_in = size[0], n_out = size[n_layers];
  double *in = malloc(sizeof(double) * batch * n_in), *c = malloc(sizeof(double) * batch * n_out);
  for (int k = 0; k < batch * n_in; k++) in[k] = cbrl_rng_normal(&rng);
  for (int k = 0; k < batch * n_out; k++) c[k] = cbrl_rng_normal(&rng);
  cbrl__mlp_work w;
  assert_ok(cbrl__mlp_work_init(&w, &net, batch));
  cbrl__mlp_forward(&net, params, batch, in, &w);
  cbrl__mlp_backward(&net, params, batch, in, &w, c, grad);
  double h = 1e-6, worst = 0.0;
  for (int64_t k = 0; k < net.n_params; k++) {
    double keep = params[k];
    params[k] = keep + h;
    double lp = loss(&net, params, batch, in, c, &w);
    params[k] = keep - h;
    double lm = loss(&net, params, batch, in, c, &w);
    params[k] = keep;
    double fd = (lp - lm) / (2 * h);
    double err = fabs(fd - grad[k]) / fmax(1.0, fabs(fd));
    if (err > worst) worst = err;
    assert_close(grad[k], fd, 1e-6, 1e-6);
  }
  print_message("%lld parameters, worst relative error %.2g\n", (long long)net.n_params, worst);
  cbrl__mlp_work_close(&w);
  free(params);
  free(grad);
  free(in);
  free(c);
}

static void gradient_matches_finite_differences(void **state) {
  const int deep[] = {3, 16, 12, 7};
  check_gradient(3, deep, 5);
  const int scalar[] = {1, 64, 64, 23}; /* the tax follower's factorised shape */
  check_gradient(3, scalar, 4);
  const int linear[] = {4, 3};
  check_gradient(1, linear, 6);
}

static void dense_products_match_plain_loops(void **state) {
  enum { B = 7, I = 13, O = 9 };
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 8, 0);
  double x[B * I], w[I * O], b[O], dy[B * O], y[B * O], dx[B * I], dw[I * O], db[O];
  for (int k = 0; k < B * I; k++) x[k] = k % 3 ? cbrl_rng_normal(&rng) : 0.0; /* zeros are skipped */
  for (int k = 0; k < I * O; k++) w[k] = cbrl_rng_normal(&rng);
  for (int k = 0; k < O; k++) b[k] = cbrl_rng_normal(&rng);
  for (int k = 0; k < B * O; k++) dy[k] = k % 4 ? cbrl_rng_normal(&rng) : 0.0;
  cbrl__dense_forward(B, I, O, x, w, b, y);
  cbrl__dense_backward_input(B, I, O, dy, w, dx);
  cbrl__dense_backward_weights(B, I, O, x, dy, dw, db);
  for (int i = 0; i < B; i++)
    for (int j = 0; j < O; j++) {
      double s = b[j];
      for (int k = 0; k < I; k++) s += x[i * I + k] * w[k * O + j];
      assert_close(y[i * O + j], s, 1e-13, 1e-13);
    }
  for (int i = 0; i < B; i++)
    for (int k = 0; k < I; k++) {
      double s = 0;
      for (int j = 0; j < O; j++) s += dy[i * O + j] * w[k * O + j];
      assert_close(dx[i * I + k], s, 1e-13, 1e-13);
    }
  for (int k = 0; k < I; k++)
    for (int j = 0; j < O; j++) {
      double s = 0;
      for (int i = 0; i < B; i++) s += x[i * I + k] * dy[i * O + j];
      assert_close(dw[k * O + j], s, 1e-13, 1e-13);
    }
  for (int j = 0; j < O; j++) {
    double s = 0;
    for (int i = 0; i < B; i++) s += dy[i * O + j];
    assert_close(db[j], s, 1e-13, 1e-13);
  }
}

/* W^T W = gain^2 I for the taller side, as an orthogonal initializer promises. */
static void initial_weights_are_orthogonal_and_seeded(void **state) {
  const int size[] = {5, 64, 3};
  cbrl__mlp net;
  assert_ok(cbrl__mlp_shape(&net, 2, size));
  assert_int_equal(net.n_params, 5 * 64 + 64 + 64 * 3 + 3);
  double *p1 = malloc(sizeof(double) * net.n_params), *p2 = malloc(sizeof(double) * net.n_params);
  cbrl_rng a, b;
  cbrl_rng_seed(&a, 42, 1);
  cbrl_rng_seed(&b, 42, 1);
  assert_ok(cbrl__mlp_init_params(&net, 0.1, &a, p1));
  assert_ok(cbrl__mlp_init_params(&net, 0.1, &b, p2));
  assert_memory_equal(p1, p2, sizeof(double) * net.n_params);
  /* Layer 0: 5 x 64, rows orthonormal times sqrt 2. */
  for (int r = 0; r < 5; r++)
    for (int q = 0; q < 5; q++) {
      double dot = 0;
      for (int j = 0; j < 64; j++) dot += p1[r * 64 + j] * p1[q * 64 + j];
      assert_close(dot, r == q ? 2.0 : 0.0, 1e-12, 1e-12);
    }
  /* Layer 1: 64 x 3, columns orthonormal times 0.1. */
  const double *w1 = p1 + net.offset[1];
  for (int r = 0; r < 3; r++)
    for (int q = 0; q < 3; q++) {
      double dot = 0;
      for (int k = 0; k < 64; k++) dot += w1[k * 3 + r] * w1[k * 3 + q];
      assert_close(dot, r == q ? 0.01 : 0.0, 1e-12, 1e-12);
    }
  for (int j = 0; j < 64; j++) assert_true(p1[5 * 64 + j] == 0.0);
  free(p1);
  free(p2);
}

/* Adam's first step moves every parameter with a nonzero gradient by lr against its sign
   (mhat / sqrt(vhat) = g / |g|); the clip rescales to the norm asked. */
static void adam_first_step_and_clip(void **state) {
  cbrl__adam a;
  assert_ok(cbrl__adam_init(&a, 3, 0.01));
  double p[3] = {1, 2, 3}, g[3] = {0.5, -4, 0};
  cbrl__adam_step(&a, p, g);
  assert_close(p[0], 1 - 0.01, 1e-7, 0);
  assert_close(p[1], 2 + 0.01, 1e-7, 0);
  assert_close(p[2], 3, 0, 0);
  cbrl__adam_close(&a);
  double v[2] = {3, 4};
  assert_close(cbrl__clip_global_norm(v, 2, 1.0), 5.0, 1e-15, 0);
  assert_close(v[0], 0.6, 1e-15, 0);
  assert_close(v[1], 0.8, 1e-15, 0);
  const int bad[] = {3, 0, 2};
  cbrl__mlp net;
  assert_int_equal(cbrl__mlp_shape(&net, 2, bad), CBRL_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gradient_matches_finite_differences),
      cmocka_unit_test(dense_products_match_plain_loops),
      cmocka_unit_test(initial_weights_are_orthogonal_and_seeded),
      cmocka_unit_test(adam_first_step_and_clip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
