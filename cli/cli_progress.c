/* What `cbrl run` shows while a sweep runs, drawn from the run library's callbacks, and the
   signal handlers that set the sweep's stop flag: the library itself prints nothing and
   installs no handler. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
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
  p->interval = p->tty ? 0.2 : 5.0;
  const char *env = getenv("CBRL_PROGRESS_SECONDS");
  char *end;
  double v = env ? strtod(env, &end) : 0.0;
  if (env && end != env && !*end && v > 0 && v < 1e6) p->interval = v;
  p->last = now();
}

/* Seconds as h:mm:ss. */
static void hms(double seconds, char *out, size_t size) {
  if (!(seconds >= 0) || seconds > 1e8) {
    snprintf(out, size, "?");
    return;
  }
  long s = (long)(seconds + 0.5);
  snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

void cli_progress_log(void *user, const char *line) {
  cli_progress *p = user;
  /* A log line replaces the bar, which the next drawing puts back. */
  if (p && p->drawn) fputs("\r\033[K", stderr), p->drawn = 0;
  fprintf(stderr, "cbrl run: %s\n", line);
}

void cli_progress_draw(void *user, const cbrl_sweep_progress *s) {
  cli_progress *p = user;
  double t = now();
  /* The library reports between iterations (every 200 ms at most) and after every run; a bar
     is redrawn in place on a terminal, elsewhere a plain line every interval and at the end
     (the form docs/CONFIG.md documents). */
  int all_done = s->n_done == s->n_runs;
  if (!all_done && t - p->last < p->interval) return;
  char elapsed[32], eta[32], best[32];
  hms(s->elapsed, elapsed, sizeof elapsed);
  hms(all_done ? 0.0 : s->eta, eta, sizeof eta);
  if (isfinite(s->best_F)) snprintf(best, sizeof best, "%.4f", s->best_F);
  else snprintf(best, sizeof best, "-");
  if (p->tty) {
    char bar[31];
    double fraction = all_done ? 1.0 : s->fraction;
    int filled = (int)(30.0 * (fraction > 0 ? fraction : 0) + 1e-9);
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '-';
    bar[30] = 0;
    /* \033[K clears what a longer earlier line left. */
    fprintf(stderr, "\r[%s] %d/%d runs (%d running), %.0f it/s, %s elapsed, ETA %s, best F %s\033[K%s", bar,
            s->n_done, s->n_runs, s->n_running, s->rate, elapsed, eta, best, all_done ? "\n" : "");
    p->drawn = !all_done;
  } else {
    fprintf(stderr, "cbrl run: %d/%d runs done (%d failed), %.0f iterations/s, elapsed %s, ETA %s, best F %s\n",
            s->n_done, s->n_runs, s->n_failed, s->rate, elapsed, eta, best);
  }
  fflush(stderr);
  p->last = t;
}
