/* What `cbrl run` shows while a sweep runs, drawn from the run library's callbacks, and the
   signal handlers that set the sweep's stop flag: the library itself prints nothing and
   installs no handler. */
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static volatile int stop_flag;
static volatile sig_atomic_t caught;

static void on_signal(int sig) {
  caught = sig;
  stop_flag = 1;
}

const volatile int *cli_catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  caught = 0;
  stop_flag = 0;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return &stop_flag;
}

int cli_caught_signal(void) { return (int)caught; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, long iterations_per_run) {
  memset(p, 0, sizeof *p);
  p->iterations_per_run = iterations_per_run;
  p->tty = isatty(STDERR_FILENO);
  p->last = now();
}

void cli_progress_log(void *user, const char *line) {
  (void)user;
  fprintf(stderr, "cbrl run: %s\n", line);
}

void cli_progress_draw(void *user, const cbrl_sweep_progress *s) {
  cli_progress *p = user;
  double t = now();
  /* A bar redrawn in place on a terminal; elsewhere a plain line every 5 seconds and at the
     end (the form docs/CONFIG.md documents). */
  int all_done = s->n_done == s->n_runs;
  if (!all_done && t - p->last <= (p->tty ? 0.2 : 5.0)) return;
  double rate = s->iterations / (s->elapsed > 1e-9 ? s->elapsed : 1e-9);
  double eta = rate > 0 ? (double)(s->n_runs - s->n_done) * p->iterations_per_run / rate : 0.0;
  if (p->tty) {
    char bar[31];
    int filled = (int)(30.0 * s->n_done / s->n_runs);
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '-';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %d/%d runs, %.0f it/s, ETA %.0f s, best F %.4f%s", bar, s->n_done, s->n_runs, rate, eta,
            s->best_F, all_done ? "\n" : "");
  } else {
    fprintf(stderr, "cbrl run: %d/%d runs done (%d failed), %.0f iterations/s, ETA %.0f s, best F %.4f\n", s->n_done,
            s->n_runs, s->n_failed, rate, eta, s->best_F);
  }
  p->last = t;
}
