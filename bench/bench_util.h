/* Shared by the benchmark programs: a monotonic clock, medians, and a check that stops the
   program on a library error (benchmarks are programs, so they may print and exit). */
#ifndef CBRL_BENCH_UTIL_H
#define CBRL_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cbrl/cbrl.h"

/* Seconds on the monotonic clock. */
static inline double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median of v (sorted in place). */
static inline double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Exits with a message unless err is 0 (or a tolerated non-convergence). */
static inline void check(int err, const char *what) {
  if (err && err != CBRL_ENOCONV) {
    fprintf(stderr, "%s: %s\n", what, cbrl_strerror(err));
    exit(1);
  }
}

/* Four-Rooms at lambda 0.003, beta 3: the setting every leader benchmark times. */
static inline cbrl_problem *bench_four_rooms(void) {
  cbrl_four_rooms_opts fo;
  cbrl_four_rooms_opts_default(&fo);
  fo.beta = 3.0;
  cbrl_problem *p;
  check(cbrl_four_rooms_create(&p, &fo), "four-rooms");
  return p;
}

#endif /* CBRL_BENCH_UTIL_H */
