/* The sweep runner: a parallel loop over grid points. Each run's random numbers come from its
   seed and a hash of its own parameters, so results do not depend on the thread count, the
   order runs finish in, or which other runs share the grid. */
#include "sweep_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cbrl/errors.h"
#include "cbrl/run/plot.h"

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* FNV-1a of the run's parameters: its random stream. */
static uint64_t run_stream(const cbrl_run_spec *r) {
  char key[256];
  snprintf(key, sizeof key, "%s|%d|%.17g|%.17g|%.17g|%.17g", cbrl_algorithm_name(r->algorithm), r->simulator,
           r->lambda, r->beta, r->learning_rate, r->zero_order_c);
  uint64_t h = 1469598103934665603ull;
  for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

static int push_row(cbrl_run_result *res, const cbrl_metric_row *m) {
  if (res->n_rows == res->cap_rows) {
    int64_t cap = res->cap_rows ? 2 * res->cap_rows : 1024;
    cbrl_metric_row *rows = realloc(res->rows, sizeof *rows * (size_t)cap);
    if (!rows) return CBRL_ENOMEM;
    res->rows = rows;
    res->cap_rows = cap;
  }
  res->rows[res->n_rows++] = *m;
  return 0;
}

void cbrl_run_result_free(cbrl_run_result *res) {
  free(res->x);
  free(res->rows);
  memset(res, 0, sizeof *res);
}

/* A run stops once either flag is set: the caller's, or the sweep's own on a write error. */
static int stopped(const volatile int *a, const volatile int *b) { return (a && *a) || (b && *b); }

/* The leader's options of one run, from the config's scalars and the run's axes. */
static void leader_opts(const cbrl_config *c, const cbrl_run_spec *r, cbrl_leader_opts *o) {
  cbrl_leader_opts_default(o);
  o->algorithm = r->algorithm;
  o->optimizer = c->optimizer;
  o->learning_rate = r->learning_rate;
  o->max_grad_norm = c->max_grad_norm;
  o->seed = (uint64_t)r->seed;
  o->stream = run_stream(r);
  o->hpgd.steps = c->hpgd_steps;
  o->hpgd.streams = (int)c->hpgd_streams;
  o->hpgd.max_steps = (int)c->hpgd_max_steps;
  o->zero_order_c = isnan(r->zero_order_c) ? 0.1 : r->zero_order_c;
  o->amd_updates = (int)c->amd_updates;
  o->init_std = c->init_std;
  o->rtq.levels = (int)c->rtq_levels;
  if (c->rtq_inner_samples > 0) o->rtq.hpgd.kind = CBRL_HPGD_UNBIASED, o->rtq.hpgd.samples = c->rtq_inner_samples;
  o->rtq.hpgd.steps = c->rtq_inner_samples > 0 ? 0 : c->hpgd_steps; /* unbiased: no step budget */
  o->rtq.hpgd.streams = (int)c->hpgd_streams;
  o->rtq.hpgd.max_steps = (int)c->hpgd_max_steps;
}

static int run_until(const cbrl_config *c, const cbrl_run_spec *r, cbrl_run_result *res, const volatile int *stop,
                     const volatile int *halt) {
  memset(res, 0, sizeof *res);
  res->final_F = res->window_F = res->window_f_sampled = NAN;
  double wall0 = now(CLOCK_MONOTONIC), cpu0 = now(CLOCK_THREAD_CPUTIME_ID);
  const cbrl_env *env = cbrl_env_find(c->env);
  cbrl_problem *p = NULL;
  cbrl_leader *L = NULL;
  cbrl_simulator *simulator = NULL;
  cbrl_follower *follower = NULL;
  cbrl_env_report *report = NULL;
  double *x0 = NULL, *x_t = NULL;
  int err = cbrl_config_problem(c, r, &p, res->error, sizeof res->error);
  if (err) {
    res->failed = 1;
    goto done;
  }
  cbrl_leader_opts o;
  leader_opts(c, r, &o);
  const char *const *report_names;
  int n_report = cbrl_env_report_names(env, &report_names);
  x0 = malloc(sizeof(double) * (size_t)p->dim);
  x_t = malloc(sizeof(double) * (size_t)p->dim);
  if (!x0 || !x_t) err = CBRL_ENOMEM;
  if (!err) err = cbrl_env_simulator_create(env, r->simulator, p, &simulator);
  if (!err && c->follower == CBRL_RUN_FOLLOWER_SOFT_Q)
    err = cbrl_follower_soft_q_create(&follower, p, c->follower_iterations, CBRL_SCHEDULE_RESCALED_LINEAR);
  o.simulator = simulator;
  o.follower = follower;
  /* The environment's own start, if it has one; otherwise the leader's N(0, init_std^2). */
  if (!err) cbrl_env_default_x(env, p, x0);
  if (!err) err = cbrl_leader_create(&L, p, &o, cbrl_env_has_default_x(env) ? x0 : NULL);
  /* The report at each stored iterate comes from a workspace of its own, so that reporting
     never moves the leader's warm starts. */
  if (!err) err = cbrl_env_report_open(env, p, &report);
  if (err) {
    res->failed = 1;
    snprintf(res->error, sizeof res->error, "cannot start: %s", cbrl_strerror(err));
    goto done;
  }
  long T = c->iterations, window_start = T - c->final_window + 1;
  double sum_F = 0.0, sum_f = 0.0;
  int64_t follower_total = 0;
  for (long t = 1; t <= T; t++) {
    if (stopped(stop, halt)) {
      res->interrupted = 1;
      snprintf(res->error, sizeof res->error, "interrupted at iteration %ld", t);
      break;
    }
    int with = t == 1 || t % c->metrics_every == 0 || t >= window_start;
    if (report) memcpy(x_t, cbrl_leader_x(L), sizeof(double) * (size_t)p->dim);
    cbrl_leader_metrics m;
    err = cbrl_leader_step(L, with, &m);
    if (!err && with && !(isfinite(m.F) && isfinite(m.f_context))) err = CBRL_ENONFINITE;
    if (err) {
      res->failed = 1;
      snprintf(res->error, sizeof res->error, "iteration %ld: %s", t, cbrl_strerror(err));
      break;
    }
    res->iterations = t;
    res->env_steps += m.env_steps;
    follower_total += m.follower_samples;
    if (with) {
      cbrl_metric_row row = {m.iteration, m.context, m.F, m.f_context, m.grad_norm, m.env_steps,
                             m.follower_iterations, m.follower_products, m.follower_samples, m.level,
                             res->env_steps, follower_total, {0}};
      for (int j = 0; j < CBRL_ENV_REPORT_MAX; j++) row.extra[j] = NAN;
      double values[CBRL_ENV_REPORT_MAX];
      /* A report that cannot be computed leaves its values unstored, as before. */
      if (report && cbrl_env_report_compute(report, x_t, values) == 0)
        memcpy(row.extra, values, sizeof(double) * (size_t)n_report);
      if ((err = push_row(res, &row))) {
        res->failed = 1;
        snprintf(res->error, sizeof res->error, "out of memory");
        break;
      }
      res->final_F = m.F;
      if (t >= window_start) sum_F += m.F, sum_f += m.f_context;
    }
  }
  if (!res->failed && !res->interrupted) {
    res->window_F = sum_F / (double)c->final_window;
    res->window_f_sampled = sum_f / (double)c->final_window;
  }
  res->dim = p->dim;
  res->x = malloc(sizeof(double) * (size_t)p->dim);
  if (res->x) memcpy(res->x, cbrl_leader_x(L), sizeof(double) * (size_t)p->dim);
done:
  cbrl_env_report_close(report);
  cbrl_leader_free(L);
  cbrl_follower_free(follower);
  cbrl_simulator_free(simulator);
  cbrl_problem_free(p);
  free(x0);
  free(x_t);
  res->wall_seconds = now(CLOCK_MONOTONIC) - wall0;
  res->cpu_seconds = now(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  return 0;
}

int cbrl_run_one(const cbrl_config *c, const cbrl_run_spec *r, cbrl_run_result *res, const volatile int *stop) {
  return run_until(c, r, res, stop, NULL);
}

static int make_dir(const char *path, char *err, size_t err_size) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) goto fail;
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) goto fail;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    goto fail;
  }
  return 0;
fail:
  snprintf(err, err_size, "%s: cannot create the output directory: %s", path, strerror(errno));
  return CBRL_EIO;
}

/* Passes one formatted line to the caller's log callback. */
static void say(const cbrl__sweep *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const cbrl__sweep *w, const char *fmt, ...) {
  if (!w->o || !w->o->on_log) return;
  char line[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  w->o->on_log(w->o->user, line);
}

int cbrl__sweep_open(cbrl__sweep *w, const cbrl_config *c, const cbrl_sweep_opts *o, char *err, size_t err_size) {
  memset(w, 0, sizeof *w);
  w->c = c;
  w->o = o;
  w->err = err;
  w->err_size = err_size;
  w->progress.best_F = -INFINITY;
  int rc = cbrl_config_runs(c, &w->runs, &w->n_runs);
  if (rc) {
    snprintf(err, err_size, "the grid is too large (%s)", cbrl_strerror(rc));
    return rc;
  }
  w->progress.n_runs = w->n_runs;
  char path[1200];
  unsigned char *done = NULL;
  if ((rc = make_dir(o->out_dir, err, err_size))) return rc;
  snprintf(path, sizeof path, "%s/results.sqlite", o->out_dir);
  if ((rc = cbrl_store_open(&w->store, path, 1, err, err_size))) return rc;
  if ((rc = cbrl_store_config(&w->store, o->config_text, o->resume, err, err_size))) return rc;
  /* config.yaml is a copy for people; the store holds the config that counts. */
  snprintf(path, sizeof path, "%s/config.yaml", o->out_dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(o->config_text, f);
    fclose(f);
  }
  done = malloc((size_t)w->n_runs + 1);
  w->todo = malloc(sizeof(int) * ((size_t)w->n_runs + 1));
  if (!done || !w->todo || (rc = cbrl_store_finished(&w->store, done, w->n_runs))) {
    snprintf(err, err_size, "%s: cannot read finished runs", w->store.path);
    free(done);
    return rc ? rc : CBRL_ENOMEM;
  }
  for (int i = 0; i < w->n_runs; i++) {
    if (done[i]) w->progress.n_done++;
    else w->todo[w->n_todo++] = i;
  }
  free(done);
  say(w, "%d runs in the grid, %d already finished, %d to go", w->n_runs, w->progress.n_done, w->n_todo);
  w->t0 = now(CLOCK_MONOTONIC);
  return 0;
}

int cbrl__sweep_halted(const cbrl__sweep *w) { return w->write_error || stopped(w->o->stop, &w->halt); }

int cbrl__sweep_run_one(const cbrl__sweep *w, int index, cbrl_run_result *res) {
  return run_until(w->c, &w->runs[index], res, w->o->stop, &w->halt);
}

void cbrl__sweep_record(cbrl__sweep *w, int index, const cbrl_run_result *res) {
  char werr[512];
  if (!w->write_error && cbrl_store_write(&w->store, w->c, &w->runs[index], res, werr, sizeof werr)) {
    w->write_error = 1;
    w->halt = 1;
    snprintf(w->err, w->err_size, "%s (the runs stored before are intact: fix this and rerun with --resume)", werr);
  }
  cbrl_sweep_progress *p = &w->progress;
  p->n_done += !res->interrupted;
  p->n_failed += res->failed && !res->interrupted;
  p->n_interrupted += res->interrupted;
  p->iterations += res->iterations;
  if (!res->failed && res->window_F > p->best_F) p->best_F = res->window_F;
  p->elapsed = now(CLOCK_MONOTONIC) - w->t0;
  if (w->o->on_progress) w->o->on_progress(w->o->user, p);
}

int cbrl__sweep_close(cbrl__sweep *w, cbrl_sweep_progress *out) {
  const cbrl_sweep_opts *o = w->o;
  int rc = 0;
  if (w->write_error) rc = CBRL_EIO;
  w->progress.stopped = !rc && o && o->stop && *o->stop;
  if (rc == 0 && o && o->plot && !w->progress.stopped) {
    char plots[1100];
    snprintf(plots, sizeof plots, "%s/plots", o->out_dir);
    if (mkdir(plots, 0777) != 0 && errno != EEXIST) {
      snprintf(w->err, w->err_size, "%s: cannot create: %s", plots, strerror(errno));
      rc = CBRL_EIO;
    } else {
      cbrl_plot_opts po = {o->out_dir, plots, CBRL_PLOT_PNG | CBRL_PLOT_SVG, 1, NULL};
      int figures = 0;
      rc = cbrl_plot_sweep(&po, &figures, w->err, w->err_size);
      if (!rc) say(w, "%d figure%s written to %s", figures, figures == 1 ? "" : "s", plots);
    }
  }
  if (out) *out = w->progress;
  free(w->todo);
  free(w->runs);
  w->todo = NULL;
  w->runs = NULL;
  cbrl_store_close(&w->store);
  return rc;
}

int cbrl_sweep_run(const cbrl_config *c, const cbrl_sweep_opts *o, cbrl_sweep_progress *out, char *err,
                   size_t err_size) {
  cbrl__sweep w;
  int rc = cbrl__sweep_open(&w, c, o, err, err_size);
  if (rc) {
    cbrl__sweep_close(&w, out);
    return rc;
  }
  int threads = o->threads > 0 ? o->threads : omp_get_num_procs();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int k = 0; k < w.n_todo; k++) {
    if (cbrl__sweep_halted(&w)) continue;
    cbrl_run_result res;
    cbrl__sweep_run_one(&w, w.todo[k], &res);
#pragma omp critical(cbrl_store)
    cbrl__sweep_record(&w, w.todo[k], &res);
    cbrl_run_result_free(&res);
  }
  return cbrl__sweep_close(&w, out);
}
