/* A cbrl follower in C with no library beyond libc and libm: tabular soft Q-learning from its
   own episodes in the environment cbrl serves (docs/FOLLOWER_PROTOCOL.md, serve mode). It is
   the learner of online_q.py and of cbrl's in-process `follower: online`, draw for draw (the
   same xoshiro256++ stream for its actions, the same arithmetic in the same order), so all
   three give the same store.

   Build: cc -O2 -ffp-contract=off -o online_q online_q.c -lm
   Use:   follower: {command: "./online_q"}   or   cbrl hypergrad ... --follower-command ./online_q

   cbrl's messages are one JSON object per line with the keys this reads in a fixed form, so a
   key lookup and strtod suffice here; a follower facing other writers would use a JSON parser. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ONLINE_STREAM 0x6f6e6c696e65ull /* CBRL_ONLINE_STREAM */

static uint64_t rng_s[4];

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void rng_seed(uint64_t seed, uint64_t stream) {
  uint64_t x = seed, h = splitmix64(&x) ^ (stream * 0xD1B54A32D192ED03ull);
  for (int i = 0; i < 4; i++) rng_s[i] = splitmix64(&h);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static double uniform(void) {
  uint64_t *s = rng_s, result = rotl(s[0] + s[3], 23) + s[0], t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
  return (double)(result >> 11) * 0x1.0p-53;
}

static int categorical(const double *w, int n, double u) {
  int last = 0;
  for (int i = 0; i < n; i++) {
    if (w[i] <= 0.0) continue;
    last = i;
    if (u < w[i]) return i;
    u -= w[i];
  }
  return last;
}

static double soft_value(const double *q, int n, double lam) {
  double mx = q[0], z = 0.0;
  for (int a = 1; a < n; a++) mx = q[a] > mx ? q[a] : mx;
  for (int a = 0; a < n; a++) z += exp((q[a] - mx) / lam);
  return mx + lam * log(z);
}

static void soft_policy_row(const double *q, int n, double lam, double *pi, double *log_pi) {
  double v = soft_value(q, n, lam);
  for (int a = 0; a < n; a++) {
    log_pi[a] = (q[a] - v) / lam;
    pi[a] = exp(log_pi[a]);
  }
}

static char *line;
static size_t line_cap;

/* The next message, or exit at end of input. */
static const char *receive(void) {
  if (getline(&line, &line_cap, stdin) < 0) exit(0);
  return line;
}

/* The text after "key": in msg, or exit with a message on stderr (passed through by cbrl). */
static const char *field(const char *msg, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(msg, pat);
  if (!p) {
    fprintf(stderr, "online_q: no '%s' in %.80s\n", key, msg);
    exit(1);
  }
  return p + strlen(pat);
}

static int is_type(const char *msg, const char *type) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"type\":\"%s\"", type);
  return strstr(msg, pat) != NULL;
}

int main(void) {
  const char *hello = receive();
  int S = atoi(field(hello, "n_states")), A = atoi(field(hello, "n_actions")), K = atoi(field(hello, "n_contexts"));
  double gam = strtod(field(hello, "gamma"), NULL), lam = strtod(field(hello, "lambda"), NULL);
  rng_seed(strtoull(field(hello, "seed"), NULL, 10), ONLINE_STREAM);
  printf("{\"type\":\"hello\",\"protocol\":1,\"name\":\"online_q.c\"}\n");
  fflush(stdout);
  size_t SA = (size_t)S * A;
  double *Q = calloc((size_t)K * SA, sizeof(double)), *N = calloc((size_t)K * SA, sizeof(double));
  double *pi = malloc(SA * sizeof(double)), *log_pi = malloc(SA * sizeof(double));
  if (!Q || !N || !pi || !log_pi) return 1;
  for (;;) {
    const char *msg = receive();
    if (is_type(msg, "bye")) return 0;
    if (!is_type(msg, "iteration")) {
      fprintf(stderr, "online_q: unexpected message %.80s\n", msg);
      return 1;
    }
    int k = atoi(field(msg, "context"));
    long steps = atol(field(msg, "steps"));
    double *q = Q + (size_t)k * SA, *n = N + (size_t)k * SA;
    int s = -1;
    for (long i = 0; i < steps; i++) {
      if (s < 0) {
        printf("{\"type\":\"reset\"}\n");
        fflush(stdout);
        s = atoi(field(receive(), "state"));
      }
      soft_policy_row(q + (size_t)s * A, A, lam, pi + (size_t)s * A, log_pi + (size_t)s * A);
      int a = categorical(pi + (size_t)s * A, A, uniform());
      printf("{\"type\":\"step\",\"action\":%d}\n", a);
      fflush(stdout);
      const char *obs = receive();
      int next = atoi(field(obs, "state")), terminated = !strncmp(field(obs, "terminated"), "true", 4);
      int truncated = !strncmp(field(obs, "truncated"), "true", 4);
      double r = strtod(field(obs, "reward"), NULL);
      size_t sa = (size_t)s * A + a;
      double target = r + (!terminated ? gam * soft_value(q + (size_t)next * A, A, lam) : 0.0);
      double beta = 1.0 / pow(1.0 + n[sa], 0.6);
      n[sa] += 1.0;
      q[sa] = (1.0 - beta) * q[sa] + beta * target;
      s = terminated || truncated ? -1 : next;
    }
    printf("{\"type\":\"policy\",\"pi\":[");
    for (int st = 0; st < S; st++) soft_policy_row(q + (size_t)st * A, A, lam, pi + (size_t)st * A, log_pi + (size_t)st * A);
    for (size_t i = 0; i < SA; i++) printf(i ? ",%.17g" : "%.17g", pi[i]);
    printf("],\"log_pi\":[");
    for (size_t i = 0; i < SA; i++) printf(i ? ",%.17g" : "%.17g", log_pi[i]);
    printf("]}\n");
    fflush(stdout);
  }
}
