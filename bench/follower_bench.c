/* The follower protocol's cost per leader iteration (docs/FOLLOWER_PROTOCOL.md,
   docs/results/followers.md), on Four-Rooms (lambda 0.003, beta 3):
     - a plain HPGD iteration at 10,000 steps with the exact follower, the reference;
     - trajectories mode: a process replaying one stored 10,000-step batch (replay_follower)
       against an in-process follower replaying the same batch: the difference is the
       protocol (encode nothing, send the iteration, receive, base64-decode, check);
     - serve mode: the C online learner as a process against the same learner in-process, both
       taking STEPS served steps per iteration: the difference is the protocol per served step.
   Usage: cbrl_follower_bench REPLAY_FOLLOWER C_FOLLOWER [N] [STEPS]; prints medians in ms. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbrl/cbrl.h"
#include "cbrl/run/follower_process.h"
#include "bench_util.h"

#define MAX_CONTEXTS 16
static cbrl_batch stored_k[MAX_CONTEXTS];

static int replay(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m, const cbrl_batch_request *req,
                  cbrl_rng *rng, cbrl_batch *out) {
  (void)f, (void)x, (void)m, (void)req, (void)rng;
  const cbrl_batch *b = &stored_k[context];
  memcpy(out->steps, b->steps, sizeof(cbrl_step) * (size_t)b->n_steps);
  out->n_steps = b->n_steps;
  return 0;
}

static const cbrl_follower_ops replay_ops = {NULL, NULL, replay};

/* The fastest of n iterations, in ms: on a shared machine the median measures the other
   processes' load as much as the protocol; both are printed. */
static double fastest;

/* CPU seconds a process has run (/proc/PID/schedstat, in ns), 0 if unknown. */
static double process_cpu(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/schedstat", pid);
  FILE *f = fopen(path, "r");
  unsigned long long ns = 0;
  if (f) {
    if (fscanf(f, "%llu", &ns) != 1) ns = 0;
    fclose(f);
  }
  return 1e-9 * (double)ns;
}

static double cpu_ms; /* the last time_leader's CPU ms per iteration: cbrl's thread and the follower process's */

static double thread_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Median ms per leader iteration over n (after 3 warm-up ones); the minimum in `fastest`. */
static double time_leader(cbrl_problem *p, cbrl_follower *f, int n) {
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.follower = f;
  o.learning_rate = 0.5;
  o.seed = 1;
  cbrl_leader *L;
  check(cbrl_leader_create(&L, p, &o, NULL), "leader");
  for (int i = 0; i < 3; i++) {
    int err = cbrl_leader_step(L, 0, NULL);
    if (err) fprintf(stderr, "warm-up: %s %s %s\n", cbrl_strerror(err), cbrl_leader_error(L), cbrl_follower_process_error(f));
    if (err) exit(1);
  }
  double *t = malloc(sizeof(double) * (size_t)n);
  long pid = cbrl_follower_process_pid(f);
  double c0 = thread_cpu(), p0 = pid ? process_cpu(pid) : 0.0;
  for (int i = 0; i < n; i++) {
    double t0 = now();
    int err = cbrl_leader_step(L, 0, NULL);
    if (err) {
      fprintf(stderr, "step: %s %s\n", cbrl_strerror(err), cbrl_follower_process_error(f));
      exit(1);
    }
    t[i] = 1e3 * (now() - t0);
  }
  cpu_ms = 1e3 * (thread_cpu() - c0 + (pid ? process_cpu(pid) - p0 : 0.0)) / n;
  double med = median(t, n);
  fastest = t[0]; /* sorted by median */
  free(t);
  cbrl_leader_free(L);
  return med;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The trajectories message of a stored batch, as a follower would send it: one line of f
   (base64), or a line and the raw records (binary). */
static void write_frame(FILE *f, const cbrl_batch *b, int binary) {
  const cbrl_batch stored = *b;
  size_t n = (size_t)stored.n_steps, bytes = 32 * n;
  if (binary == 2) { /* compact records: what Four-Rooms needs (no reward, no log pi) */
    fprintf(f, "{\"type\":\"trajectories\",\"n\":%zu,\"encoding\":\"binary\",\"record\":\"compact\",\"bytes\":%zu}\n",
            n, 12 * n);
    for (size_t i = 0; i < n; i++) {
      const cbrl_step *st = &stored.steps[i];
      uint16_t a = (uint16_t)st->a, fl = (uint16_t)st->flags;
      fwrite(&st->s, 4, 1, f), fwrite(&st->next, 4, 1, f), fwrite(&a, 2, 1, f), fwrite(&fl, 2, 1, f);
    }
    return;
  }
  unsigned char *raw = malloc(bytes);
  for (size_t i = 0; i < n; i++) {
    const cbrl_step *st = &stored.steps[i];
    uint32_t flags = st->flags;
    memcpy(raw + 32 * i, &st->s, 4), memcpy(raw + 32 * i + 4, &st->a, 4), memcpy(raw + 32 * i + 8, &st->next, 4);
    memcpy(raw + 32 * i + 12, &flags, 4), memcpy(raw + 32 * i + 16, &st->r, 8), memcpy(raw + 32 * i + 24, &st->log_pi, 8);
  }
  if (binary) {
    fprintf(f, "{\"type\":\"trajectories\",\"n\":%zu,\"encoding\":\"binary\",\"bytes\":%zu}\n", n, bytes);
    fwrite(raw, 1, bytes, f);
    free(raw);
    return;
  }
  fprintf(f, "{\"type\":\"trajectories\",\"n\":%zu,\"encoding\":\"base64\",\"data\":\"", n);
  for (size_t i = 0; i < bytes; i += 3) {
    unsigned v = (unsigned)raw[i] << 16 | (i + 1 < bytes ? (unsigned)raw[i + 1] << 8 : 0) | (i + 2 < bytes ? raw[i + 2] : 0);
    fputc(b64[v >> 18 & 63], f), fputc(b64[v >> 12 & 63], f);
    fputc(i + 1 < bytes ? b64[v >> 6 & 63] : '=', f), fputc(i + 2 < bytes ? b64[v & 63] : '=', f);
  }
  fprintf(f, "\"}\n");
  free(raw);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: cbrl_follower_bench REPLAY_FOLLOWER C_FOLLOWER [N] [STEPS]\n");
    return 2;
  }
  int n = argc > 3 ? atoi(argv[3]) : 30;
  long steps = argc > 4 ? atol(argv[4]) : 10000;
  cbrl_problem *p = bench_four_rooms();
  /* The reference: HPGD at 10,000 steps with the leader's own exact follower. */
  double t_hpgd = time_leader(p, NULL, n), m_hpgd = fastest, c_hpgd = cpu_ms;
  /* One batch per context of the exact policy at x = 0, with only what a follower reports
     (Four-Rooms' x moves rewards only, so the steps stay valid at every x). */
  cbrl_exact *e;
  check(cbrl_exact_create(&e, p), "exact");
  double *x = calloc((size_t)p->dim, sizeof(double)), f0;
  if (p->n_contexts > MAX_CONTEXTS) return 1;
  /* The frames file of each encoding: per context, its message's length (8 bytes) and bytes. */
  char path[3][32] = {"/tmp/cbrl_frame_XXXXXX", "/tmp/cbrl_frame_XXXXXX", "/tmp/cbrl_frame_XXXXXX"};
  FILE *frames[3];
  for (int enc = 0; enc < 3; enc++) frames[enc] = fdopen(mkstemp(path[enc]), "wb");
  for (int k = 0; k < p->n_contexts; k++) {
    check(cbrl_exact_context(e, k, x, &f0, NULL), "solve");
    const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
    cbrl_policy pol = {p->n_states, p->n_actions, w->pi, w->log_pi};
    cbrl_rng rng;
    cbrl_rng_seed(&rng, 3, (uint64_t)k);
    check(cbrl_batch_init(&stored_k[k], 10000), "batch");
    check(cbrl_sim_batch(cbrl_exact_mdp(e, k), &pol, 5, 2000, 200, 0, &rng, &stored_k[k]), "simulate");
    for (int enc = 0; enc < 3; enc++) {
      char *buf;
      size_t len;
      FILE *m = open_memstream(&buf, &len);
      write_frame(m, &stored_k[k], enc);
      fclose(m);
      uint64_t l = len;
      fwrite(&l, 8, 1, frames[enc]);
      fwrite(buf, 1, len, frames[enc]);
      free(buf);
    }
  }
  for (int enc = 0; enc < 3; enc++) fclose(frames[enc]);
  cbrl_follower *in;
  check(cbrl_follower_create(&in, p, &replay_ops, NULL, "replay"), "replay");
  double t_in = time_leader(p, in, n), m_in = fastest, c_in = cpu_ms;
  printf("median (fastest) wall ms per iteration over %d; cpu: CPU ms per iteration of cbrl and the follower\n", n);
  printf("four-rooms hpgd-batch, 10000 steps, exact follower: %.3f (%.3f), cpu %.3f\n", t_hpgd, m_hpgd, c_hpgd);
  printf("trajectories mode, in-process replay of the same batches: %.3f (%.3f), cpu %.3f\n", t_in, m_in, c_in);
  char why[600];
  static const char *const enc_name[3] = {"base64", "binary", "binary compact"}, *const enc_kib[3] = {"417", "313", "117"};
  for (int enc = 0; enc < 3; enc++) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", argv[1], path[enc]);
    cbrl_process_opts po = {cmd, CBRL_PROCESS_TRAJECTORIES, 30.0, 0, 0, 1, NULL, NULL};
    cbrl_follower *ext;
    if (cbrl_follower_process_create(&ext, p, &po, why, sizeof why)) {
      fprintf(stderr, "%s\n", why);
      return 1;
    }
    double t_ext = time_leader(p, ext, n), m_ext = fastest, c_ext = cpu_ms;
    printf("trajectories mode, %s: protocol cpu %.3f ms per iteration = %.1f %% of the HPGD iteration's cpu\n",
           enc_name[enc], c_ext - c_in, 100.0 * (c_ext - c_in) / c_hpgd);
    printf("trajectories mode, %s frames (%s KiB a batch): process replay %.3f (%.3f): protocol %.3f (%.3f) ="
           " %.0f %% (%.0f %%) of the HPGD iteration\n", enc_name[enc], enc_kib[enc], t_ext, m_ext,
           t_ext - t_in, m_ext - m_in, 100.0 * (t_ext - t_in) / t_hpgd, 100.0 * (m_ext - m_in) / m_hpgd);
    cbrl_follower_free(ext);
    unlink(path[enc]);
  }
  /* Serve mode: the same online learner in-process and as the C process. */
  cbrl_follower *on;
  check(cbrl_follower_online_create(&on, p, steps, 200), "online");
  cbrl_follower *proc;
  cbrl_process_opts ps = {argv[2], CBRL_PROCESS_SERVE, 30.0, steps, 200, 0, NULL, NULL};
  if (cbrl_follower_process_create(&proc, p, &ps, why, sizeof why)) {
    fprintf(stderr, "%s\n", why);
    return 1;
  }
  int ns = n < 10 ? n : 10;
  double s_in = time_leader(p, on, ns), ms_in = fastest, cs_in = cpu_ms;
  double s_ext = time_leader(p, proc, ns), ms_ext = fastest, cs_ext = cpu_ms;
  printf("serve mode: protocol cpu %.3f ms per iteration = %.2f us per served step\n", cs_ext - cs_in,
         1e3 * (cs_ext - cs_in) / (double)steps);
  printf("serve mode, %ld served steps per iteration: in-process learner %.3f (%.3f), C process %.3f (%.3f):"
         " protocol %.3f (%.3f) = %.2f (%.2f) us per served step = %.0f %% (%.0f %%) of the HPGD iteration\n",
         steps, s_in, ms_in, s_ext, ms_ext, s_ext - s_in, ms_ext - ms_in, 1e3 * (s_ext - s_in) / (double)steps,
         1e3 * (ms_ext - ms_in) / (double)steps, 100.0 * (s_ext - s_in) / t_hpgd, 100.0 * (ms_ext - ms_in) / m_hpgd);
  cbrl_follower_free(proc);
  cbrl_follower_free(on);
  cbrl_follower_free(in);
  for (int k = 0; k < p->n_contexts; k++) cbrl_batch_close(&stored_k[k]);
  cbrl_exact_free(e);
  free(x);
  cbrl_problem_free(p);
  return 0;
}
