/* The sweep runner: a parallel loop over grid points. Each run's random numbers come from its
   seed and a hash of its own parameters, so results do not depend on the thread count, the
   order runs finish in, or which other runs share the grid. */
#include "cbrl/run/sweep.h"

#include <errno.h>
#include <signal.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int cbrl_run_one(const cbrl_config *c, const cbrl_run_spec *r, cbrl_run_result *res, volatile int *stop) {
  memset(res, 0, sizeof *res);
  res->final_F = res->window_F = res->window_f_sampled = NAN;
  double wall0 = now(CLOCK_MONOTONIC), cpu0 = now(CLOCK_THREAD_CPUTIME_ID);
  cbrl_problem *p = NULL;
  cbrl_leader *L = NULL;
  cbrl_simulator *simulator = NULL;
  cbrl_follower *follower = NULL;
  cbrl_exact *economy = NULL; /* tax design: the economy report's own workspace */
  int err = cbrl_config_problem(c, r, &p, res->error, sizeof res->error);
  if (err) {
    res->failed = 1;
    goto done;
  }
  cbrl_leader_opts o;
  cbrl_leader_opts_default(&o);
  o.algorithm = r->algorithm;
  o.optimizer = c->optimizer;
  o.learning_rate = r->learning_rate;
  o.max_grad_norm = c->max_grad_norm;
  o.seed = (uint64_t)r->seed;
  o.stream = run_stream(r);
  o.hpgd.steps = c->hpgd_steps;
  o.hpgd.streams = (int)c->hpgd_streams;
  o.hpgd.max_steps = (int)c->hpgd_max_steps;
  if ((r->simulator == CBRL_RUN_SIM_CONTINUOUS && (err = cbrl_tax_continuous_create(&simulator, p))) ||
      (r->simulator == CBRL_RUN_SIM_PAPER_CODE && (err = cbrl_four_rooms_paper_sim_create(&simulator, p))) ||
      (c->follower == CBRL_RUN_FOLLOWER_SOFT_Q &&
       (err = cbrl_follower_soft_q_create(&follower, p, c->follower_iterations, CBRL_SCHEDULE_RESCALED_LINEAR)))) {
    res->failed = 1;
    snprintf(res->error, sizeof res->error, "cannot start: %s", cbrl_strerror(err));
    goto done;
  }
  o.simulator = simulator;
  o.follower = follower;
  o.zero_order_c = isnan(r->zero_order_c) ? 0.1 : r->zero_order_c;
  o.amd_updates = (int)c->amd_updates;
  o.init_std = c->init_std;
  o.rtq.levels = (int)c->rtq_levels;
  if (c->rtq_inner_samples > 0) o.rtq.hpgd.kind = CBRL_HPGD_UNBIASED, o.rtq.hpgd.samples = c->rtq_inner_samples;
  o.rtq.hpgd.steps = c->rtq_inner_samples > 0 ? 0 : c->hpgd_steps; /* unbiased: no step budget */
  o.rtq.hpgd.streams = (int)c->hpgd_streams;
  o.rtq.hpgd.max_steps = (int)c->hpgd_max_steps;
  /* Tax design starts, as the paper does, at every rate 0.3; the others at N(0, init_std^2). */
  double x0[CBRL_TAX_DIM];
  if (!strcmp(c->env, "tax-design")) cbrl_tax_x_for_rate(0.3, x0);
  if ((err = cbrl_leader_create(&L, p, &o, !strcmp(c->env, "tax-design") ? x0 : NULL))) {
    res->failed = 1;
    snprintf(res->error, sizeof res->error, "cannot start: %s", cbrl_strerror(err));
    goto done;
  }
  /* Tax design: the economy at each stored iterate, from a workspace of its own so that the
     report never moves the leader's warm starts. */
  int is_tax = !strcmp(c->env, "tax-design");
  if (is_tax && (err = cbrl_exact_create(&economy, p))) {
    res->failed = 1;
    snprintf(res->error, sizeof res->error, "cannot start: %s", cbrl_strerror(err));
    goto done;
  }
  double x_t[CBRL_TAX_DIM];
  long T = c->iterations, window_start = T - c->final_window + 1;
  double sum_F = 0.0, sum_f = 0.0;
  int64_t follower_total = 0;
  for (long t = 1; t <= T; t++) {
    if (stop && *stop) {
      res->interrupted = 1;
      snprintf(res->error, sizeof res->error, "interrupted at iteration %ld", t);
      break;
    }
    int with = t == 1 || t % c->metrics_every == 0 || t >= window_start;
    if (is_tax) memcpy(x_t, cbrl_leader_x(L), sizeof x_t);
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
                             res->env_steps, follower_total, {NAN, NAN, NAN, NAN}, NAN, NAN, NAN, NAN};
      cbrl_tax_report rep;
      if (is_tax && cbrl_tax_report_compute(p, economy, x_t, &rep) == 0) {
        memcpy(row.rates, rep.rates, sizeof row.rates);
        row.household_value = rep.value_mean;
        row.household_spread = rep.value_spread;
        row.revenue = rep.revenue_mean;
        row.assets = rep.assets_mean;
      }
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
  cbrl_exact_free(economy);
  cbrl_leader_free(L);
  cbrl_follower_free(follower);
  cbrl_simulator_free(simulator);
  cbrl_problem_free(p);
  res->wall_seconds = now(CLOCK_MONOTONIC) - wall0;
  res->cpu_seconds = now(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  return 0;
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

static volatile sig_atomic_t caught_signal;
static volatile int stop_runs;

static void on_signal(int sig) {
  caught_signal = sig;
  stop_runs = 1;
}

int cbrl_sweep_open(cbrl_sweep *w, const cbrl_config *c, const cbrl_sweep_opts *o, char *err, size_t err_size) {
  memset(w, 0, sizeof *w);
  w->c = c;
  w->o = o;
  w->err = err;
  w->err_size = err_size;
  int rc = cbrl_config_runs(c, &w->runs, &w->n_runs);
  if (rc) {
    snprintf(err, err_size, "the grid is too large (%s)", cbrl_strerror(rc));
    return rc;
  }
  char path[1200];
  unsigned char *done = NULL;
  if ((rc = make_dir(o->out_dir, err, err_size))) return rc;
  snprintf(path, sizeof path, "%s/results.sqlite", o->out_dir);
  if ((rc = cbrl_store_open(&w->store, path, 1, err, err_size))) return rc;
  if ((rc = cbrl_store_config(&w->store, o->config_text, o->resume, err, err_size))) return rc;
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
    if (done[i]) w->n_done++;
    else w->todo[w->n_todo++] = i;
  }
  free(done);
  if (!o->quiet)
    fprintf(stderr, "cbrl run: %d runs in the grid, %d already finished, %d to go\n", w->n_runs, w->n_done, w->n_todo);
  /* SIGINT and SIGTERM: start nothing new, store runs in flight as interrupted, stop. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  caught_signal = 0;
  stop_runs = 0;
  sigaction(SIGINT, &sa, &w->old_int);
  sigaction(SIGTERM, &sa, &w->old_term);
  w->t0 = w->last_print = now(CLOCK_MONOTONIC);
  w->best_F = -INFINITY;
  w->tty = isatty(STDERR_FILENO);
  w->stop = &stop_runs;
  return 0;
}

void cbrl_sweep_record(cbrl_sweep *w, int index, const cbrl_run_result *res) {
  const cbrl_config *c = w->c;
  const cbrl_sweep_opts *o = w->o;
  char werr[512];
  if (!w->write_error && cbrl_store_write(&w->store, c, &w->runs[index], res, werr, sizeof werr)) {
    w->write_error = 1;
    stop_runs = 1;
    snprintf(w->err, w->err_size, "%s (the runs stored before are intact: fix this and rerun with --resume)", werr);
  }
  w->n_done += !res->interrupted;
  w->n_failed += res->failed && !res->interrupted;
  w->iterations_done += res->iterations;
  if (!res->failed && res->window_F > w->best_F) w->best_F = res->window_F;
  double t = now(CLOCK_MONOTONIC);
  /* A bar redrawn in place on a terminal; elsewhere a plain line every 5 seconds and at the
     end (the form docs/CONFIG.md documents). */
  int all_done = w->n_done == w->n_runs;
  if (!o->quiet && (all_done || t - w->last_print > (w->tty ? 0.2 : 5.0))) {
    double rate = w->iterations_done / (t - w->t0 > 1e-9 ? t - w->t0 : 1e-9);
    double eta = rate > 0 ? (double)(w->n_runs - w->n_done) * c->iterations / rate : 0.0;
    if (w->tty) {
      char bar[31];
      int filled = (int)(30.0 * w->n_done / w->n_runs);
      for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '-';
      bar[30] = 0;
      fprintf(stderr, "\r[%s] %d/%d runs, %.0f it/s, ETA %.0f s, best F %.4f%s", bar, w->n_done, w->n_runs, rate,
              eta, w->best_F, all_done ? "\n" : "");
    } else {
      fprintf(stderr, "cbrl run: %d/%d runs done (%d failed), %.0f iterations/s, ETA %.0f s, best F %.4f\n",
              w->n_done, w->n_runs, w->n_failed, rate, eta, w->best_F);
    }
    w->last_print = t;
  }
}

int cbrl_sweep_close(cbrl_sweep *w, int *signal_out) {
  const cbrl_sweep_opts *o = w->o;
  int rc = 0;
  if (w->stop) {
    sigaction(SIGINT, &w->old_int, NULL);
    sigaction(SIGTERM, &w->old_term, NULL);
  }
  if (w->write_error) rc = CBRL_EIO;
  if (!rc && caught_signal) {
    if (signal_out) *signal_out = caught_signal;
    if (!o->quiet)
      fprintf(stderr, "\ncbrl run: stopped by signal %d; %d/%d runs finished, the rest resume with --resume\n",
              (int)caught_signal, w->n_done, w->n_runs);
    rc = 1;
  }
  if (rc == 0 && o->plot) {
    char plots[1100];
    snprintf(plots, sizeof plots, "%s/plots", o->out_dir);
    mkdir(plots, 0777);
    cbrl_plot_opts po = {o->out_dir, plots, CBRL_PLOT_PNG | CBRL_PLOT_SVG, 1, NULL};
    int n = cbrl_plot_sweep(&po, w->err, w->err_size);
    if (n < 0) rc = n;
    else if (!o->quiet) fprintf(stderr, "cbrl run: %d figures written to %s\n", n, plots);
  }
  free(w->todo);
  free(w->runs);
  cbrl_store_close(&w->store);
  return rc;
}

int cbrl_sweep_run(const cbrl_config *c, const cbrl_sweep_opts *o, int *signal_out, char *err, size_t err_size) {
  cbrl_sweep w;
  int rc = cbrl_sweep_open(&w, c, o, err, err_size);
  if (rc) {
    cbrl_sweep_close(&w, NULL);
    return rc;
  }
  int threads = o->threads > 0 ? o->threads : omp_get_num_procs();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int k = 0; k < w.n_todo; k++) {
    if (w.write_error || stop_runs) continue;
    cbrl_run_result res;
    cbrl_run_one(c, &w.runs[w.todo[k]], &res, &stop_runs);
#pragma omp critical(cbrl_store)
    cbrl_sweep_record(&w, w.todo[k], &res);
    cbrl_run_result_free(&res);
  }
  return cbrl_sweep_close(&w, signal_out);
}

volatile int *cbrl_sweep_stop_flag(void) { return &stop_runs; }

void cbrl_sweep_catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}
