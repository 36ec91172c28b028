/* This CPU's one-core floor for AMD: the peak double-precision FLOP rate with and without FMA
   (AVX-512, AVX2 and SSE2 widths), the read bandwidth of L2 (a 1 MiB buffer) and of memory (a
   1 GiB buffer), and the AMD leader iteration on Four-Rooms (lambda 0.003, beta 3, K = 100,
   d = 105) as a share of each. The library is built with -ffp-contract=off and its clones do not
   use FMA (src/vector_clones.h), so the no-FMA peak is AMD's ceiling; the FMA peak is what the
   hardware could do with reassociated, fused arithmetic. Usage: cbrl_peak [--quick] */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cbrl/cbrl.h"
#include "bench_util.h"
#include "cbrl/leader.h"

/* Peaks are the best of the repeats: on a shared machine load only ever slows a kernel. */
static double best(const double *v, int n) {
  double b = v[0];
  for (int i = 1; i < n; i++) b = v[i] > b ? v[i] : b;
  return b;
}

static volatile double sink;

/* 16 independent chains hide the 4-cycle latency on two ports. No-FMA: 8 multiply chains and 8
   add chains, one operation each per round. FMA: 16 fused chains, 2 FLOPs each per round. */
#define CHAINS(T, SET1, MUL, ADD, FMA, LANES, fused)                                               \
  T c = SET1(1e-12), mlt = SET1(1.0 + 1e-12), x[16];                                           \
  for (int i = 0; i < 16; i++) x[i] = SET1(1.0 + i);                                            \
  for (long r = 0; r < rounds; r++)                                                             \
    for (int i = 0; i < 16; i++) x[i] = fused ? FMA(x[i], mlt, c) : (i & 1 ? ADD(x[i], c) : MUL(x[i], mlt)); \
  double out[LANES], s = 0;                                                                     \
  for (int i = 0; i < 16; i++) {                                                                \
    memcpy(out, &x[i], sizeof out);                                                             \
    s += out[0];                                                                                \
  }                                                                                             \
  sink = s;                                                                                     \
  return (double)rounds * 16 * LANES * (fused ? 2 : 1);

__attribute__((target("avx512f"))) static double flops_avx512(long rounds, int fused) {
  CHAINS(__m512d, _mm512_set1_pd, _mm512_mul_pd, _mm512_add_pd, _mm512_fmadd_pd, 8, fused)
}
__attribute__((target("avx2,fma"))) static double flops_avx2(long rounds, int fused) {
  CHAINS(__m256d, _mm256_set1_pd, _mm256_mul_pd, _mm256_add_pd, _mm256_fmadd_pd, 4, fused)
}
__attribute__((target("fma"))) static double flops_sse2(long rounds, int fused) {
  CHAINS(__m128d, _mm_set1_pd, _mm_mul_pd, _mm_add_pd, _mm_fmadd_pd, 2, fused)
}

/* GFLOP/s of one kernel: best of `reps` timings. */
static double gflops(double (*f)(long, int), long rounds, int fused, int reps) {
  double t[15];
  for (int r = 0; r < reps; r++) {
    double t0 = now(), n = f(rounds, fused);
    t[r] = n / (now() - t0) * 1e-9;
  }
  return best(t, reps);
}

/* Read bandwidth in GB/s over an n-double buffer, swept `sweeps` times, 8 AVX-512 accumulators
   (AVX2 where AVX-512 is missing). */
#define READ_KERNEL(T, ZERO, LOAD, ADD, W)                                                       \
  double t[15];                                                                                \
  for (int r = 0; r < reps; r++) {                                                             \
    T acc[8];                                                                                  \
    for (int k = 0; k < 8; k++) acc[k] = ZERO();                                               \
    double t0 = now();                                                                         \
    for (int s = 0; s < sweeps; s++)                                                           \
      for (size_t i = 0; i + 8 * W <= n; i += 8 * W)                                           \
        for (int k = 0; k < 8; k++) acc[k] = ADD(acc[k], LOAD(buf + i + W * k));               \
    double dt = now() - t0, out[W];                                                            \
    for (int k = 1; k < 8; k++) acc[0] = ADD(acc[0], acc[k]);                                  \
    memcpy(out, &acc[0], sizeof out);                                                          \
    sink = out[0];                                                                             \
    t[r] = 8.0 * n * sweeps / dt * 1e-9;                                                       \
  }                                                                                            \
  return best(t, reps);

__attribute__((target("avx512f"))) static double read_gbs512(const double *buf, size_t n, int sweeps, int reps) {
  READ_KERNEL(__m512d, _mm512_setzero_pd, _mm512_loadu_pd, _mm512_add_pd, 8)
}
__attribute__((target("avx2"))) static double read_gbs256(const double *buf, size_t n, int sweeps, int reps) {
  READ_KERNEL(__m256d, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_add_pd, 4)
}
static double read_gbs(const double *buf, size_t n, int sweeps, int reps) {
  return __builtin_cpu_supports("avx512f") ? read_gbs512(buf, n, sweeps, reps) : read_gbs256(buf, n, sweeps, reps);
}

int main(int argc, char **argv) {
  int quick = argc > 1 && !strcmp(argv[1], "--quick"), reps = quick ? 3 : 7;
  long rounds = quick ? 20000000 : 100000000;
  __builtin_cpu_init();
  int has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  printf("## One-core peak, double precision (best of %d)\n\n| width | no FMA (GFLOP/s) | FMA (GFLOP/s) |\n|---|---|---|\n", reps);
  double peak_nofma = 0, peak_fma = 0;
  struct { const char *name; double (*f)(long, int); int ok; } k[3] = {
      {"AVX-512", flops_avx512, has512}, {"AVX2", flops_avx2, has2}, {"SSE2", flops_sse2, has2}};
  for (int i = 0; i < 3; i++) {
    if (!k[i].ok) continue;
    double a = gflops(k[i].f, rounds, 0, reps), b = gflops(k[i].f, rounds, 1, reps);
    printf("| %s | %.1f | %.1f |\n", k[i].name, a, b);
    if (a > peak_nofma) peak_nofma = a;
    if (b > peak_fma) peak_fma = b;
  }
  size_t nl2 = (1u << 20) / 8, nmem = quick ? (256u << 20) / 8 : (1u << 30) / 8;
  double *buf = malloc(nmem * sizeof(double));
  if (!buf) return 1;
  for (size_t i = 0; i < nmem; i++) buf[i] = 1e-9 * (double)(i & 1023);
  double bw_l2 = read_gbs(buf, nl2, quick ? 500 : 2000, reps), bw_mem = read_gbs(buf, nmem, 2, reps);
  free(buf);
  printf("\nRead bandwidth: L2 (1 MiB buffer) %.1f GB/s, memory (%zu MiB buffer) %.1f GB/s.\n", bw_l2,
         nmem * 8 >> 20, bw_mem);

  /* AMD leader iteration, as cbrl_bench times it. */
  cbrl_problem *p = bench_four_rooms();
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = CBRL_ALG_AMD;
  o.learning_rate = 0.1;
  cbrl_leader *L;
  check(cbrl_leader_create(&L, p, &o, NULL), "leader");
  int iters = quick ? 9 : 31;
  double t[31];
  for (int i = 0; i < 5; i++) check(cbrl_leader_step(L, 0, NULL), "warm-up");
  for (int i = 0; i < iters; i++) {
    double t0 = now();
    check(cbrl_leader_step(L, 0, NULL), "step");
    t[i] = now() - t0;
  }
  double sec = median(t, iters), fastest = t[0]; /* sorted by median() */
  cbrl_mdp m;
  check(cbrl_mdp_init(&m, p, 0), "mdp");
  /* Per update (src/amd.c): 3 SA d (Qtil's own term) + 4 SA d (policy sums) + 4 nnz d (two
     Bellman products) FLOPs; bytes read or written in the d-vector tables: 7 SA d per row pass
     (Qtil, grad Q_LL, grad V, two Jacobians in; two rows out), 2 nnz d (successors' rows), 2 SA
     d + 2 S d (policy sums). */
  double S = p->n_states, SA = S * p->n_actions, d = p->dim, nnz = (double)m.n_transitions, K = o.amd_updates;
  double flop = K * (7 * SA * d + 4 * nnz * d), bytes = K * 8 * (9 * SA * d + 2 * nnz * d + 2 * S * d);
  cbrl_mdp_close(&m);
  cbrl_leader_free(L);
  cbrl_problem_free(p);
  double gf = flop / sec * 1e-9, gb = bytes / sec * 1e-9;
  printf("\nAMD leader iteration, fastest of %d: %.2f ms = %.2f GFLOP/s = %.0f %% of the no-FMA peak.\n", iters,
         1e3 * fastest, flop / fastest * 1e-9, 100 * flop / fastest * 1e-9 / peak_nofma);
  printf("AMD leader iteration (K = %.0f, d = %.0f), median: %.2f ms, %.2f GFLOP/s = %.0f %% of the no-FMA peak, "
         "%.0f %% of the FMA peak; %.1f GB/s of d-table rows touched (L1 hits included; the ~1.8 MB working set lives in L2) = %.0f %% of L2, %.0f %% of memory read bandwidth.\n",
         K, d, 1e3 * sec, gf, 100 * gf / peak_nofma, 100 * gf / peak_fma, gb, 100 * gb / bw_l2, 100 * gb / bw_mem);
  return 0;
}
