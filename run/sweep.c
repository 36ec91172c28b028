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
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "cbrl/errors.h"
#include "cbrl/run/plot.h"
#include "cbrl/soft_dqn.h"
#include "cbrl/run/tensorboard.h"
#include "cbrl/run/outfile.h"
#include "cbrl/run/follower_process.h"

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Unix time, for the rows' wall_time (TensorBoard's event times). */
static double wall_clock(void) { return now(CLOCK_REALTIME); }

/* FNV-1a of the run's parameters: its random stream. */
static uint64_t run_stream(const cbrl_run_spec *r) {
  char key[256];
  snprintf(key, sizeof key, "%s|%d|%.17g|%.17g|%.17g|%.17g", cbrl_algorithm_name(r->algorithm), r->simulator,
           r->lambda, r->beta, r->learning_rate, r->zero_order_c);
  uint64_t h = 1469598103934665603ull;
  for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h;
}

/* Appends a metric row; with x, also keeps x (res->dim values) as the row's iterate. */
static int push_row(cbrl_run_result *res, cbrl_metric_row *m, const double *x) {
  m->x_index = -1;
  if (x) {
    if (res->n_x == res->cap_x) {
      int64_t cap = res->cap_x ? 2 * res->cap_x : 64;
      double *row_x = realloc(res->row_x, sizeof *row_x * (size_t)cap * (size_t)res->dim);
      if (!row_x) return CBRL_ENOMEM;
      res->row_x = row_x;
      res->cap_x = cap;
    }
    memcpy(res->row_x + res->n_x * res->dim, x, sizeof *x * (size_t)res->dim);
    m->x_index = res->n_x++;
  }
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
  free(res->row_x);
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
  o->clip = c->clip;
  o->clip_growth = c->clip_growth;
  o->n_clip_groups = c->n_clip_groups;
  for (int k = 0; k < c->n_clip_groups; k++) o->clip_group_size[k] = (int)c->clip_groups[k];
  o->seed = (uint64_t)r->seed;
  o->stream = run_stream(r);
  o->hpgd.steps = c->hpgd_steps;
  o->hpgd.streams = (int)c->hpgd_streams;
  o->hpgd.max_steps = (int)c->hpgd_max_steps;
  o->hpgd.critic = (cbrl_hpgd_critic)c->hpgd_critic;
  o->hpgd.folds = (int)c->hpgd_folds;
  o->hpgd.baseline = (cbrl_hpgd_baseline)c->hpgd_baseline;
  o->hpgd.variant = (cbrl_hpgd_variant)c->estimator_variant;
  o->hpgd.expected_score = c->hpgd_expected_score;
  o->zero_order_c = isnan(r->zero_order_c) ? 0.1 : r->zero_order_c;
  o->amd_updates = (int)c->amd_updates;
  o->init_std = c->init_std;
  o->rtq.levels = (int)c->rtq_levels;
  if (c->rtq_inner_samples > 0) o->rtq.hpgd.kind = CBRL_HPGD_UNBIASED, o->rtq.hpgd.samples = c->rtq_inner_samples;
  o->rtq.hpgd.steps = c->rtq_inner_samples > 0 ? 0 : c->hpgd_steps; /* unbiased: no step budget */
  o->rtq.hpgd.streams = (int)c->hpgd_streams;
  o->rtq.hpgd.max_steps = (int)c->hpgd_max_steps;
}

static void tick(cbrl__sweep *w, int index, int64_t t, double seconds);

/* What a failed follower said, where it says anything (an external process), else "". */
static const char *follower_error(const cbrl_follower *f) { return cbrl_follower_process_error(f); }

static void say(const cbrl__sweep *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An external follower's stderr line, already prefixed with its pid, to the log. */
static void follower_stderr(void *user, const char *line) {
#pragma omp critical(cbrl_follower_log)
  say(user, "%s", line);
}

static int run_until(const cbrl_config *c, const cbrl_run_spec *r, cbrl_run_result *res, const volatile int *stop,
                     const volatile int *halt, cbrl__sweep *w) {
  memset(res, 0, sizeof *res);
  res->final_F = res->window_F = res->window_f_sampled = res->lambda = res->clip_active = NAN;
  double wall0 = now(CLOCK_MONOTONIC), cpu0 = now(CLOCK_THREAD_CPUTIME_ID);
  const cbrl_env *env = cbrl_env_find(c->env);
  cbrl_problem *p = NULL;
  cbrl_leader *L = NULL;
  cbrl_simulator *simulator = NULL;
  cbrl_follower *follower = NULL;
  cbrl_env_report *report = NULL;
  double *x0 = NULL, *x_t = NULL;
  cbrl_tb_writer tb = {0};
  char tb_err[1200] = "";
  int err = cbrl_config_problem(c, r, &p, res->error, sizeof res->error);
  if (err) {
    res->failed = 1;
    goto done;
  }
  res->lambda = p->lambda; /* the run's, or the problem's own when the config sets none */
  res->dim = p->dim;
  /* Live TensorBoard events, under the name and with the hparams an export gives the run. */
  if (w && w->o->tensorboard) {
    cbrl_tb_run tr = {r->index, c->env, cbrl_algorithm_name(r->algorithm), cbrl_simulator_name(r->simulator),
                      p->lambda, r->beta, r->learning_rate, r->zero_order_c, r->seed, cbrl_env_takes(env, "beta")};
    if (cbrl_tb_run_open(&tb, w->o->tensorboard, &tr, wall_clock(), tb_err, sizeof tb_err)) tb.failed = 1;
  }
  cbrl_leader_opts o;
  leader_opts(c, r, &o);
  o.cancel = stop; /* a signal stops a long iteration too, not only between iterations */
  const char *const *report_names;
  int n_report = cbrl_env_report_names(env, &report_names);
  x0 = malloc(sizeof(double) * (size_t)p->dim);
  x_t = malloc(sizeof(double) * (size_t)p->dim);
  if (!x0 || !x_t) err = CBRL_ENOMEM;
  if (!err) err = cbrl_env_simulator_create(env, r->simulator, p, &simulator);
  int uses_follower =
      r->algorithm == CBRL_ALG_HPGD || r->algorithm == CBRL_ALG_HPGD_BATCH || r->algorithm == CBRL_ALG_HPGD_CRITIC;
  if (!err && uses_follower && c->follower == CBRL_RUN_FOLLOWER_SOFT_Q)
    err = cbrl_follower_soft_q_create(&follower, p, c->follower_iterations, CBRL_SCHEDULE_RESCALED_LINEAR);
  if (!err && uses_follower && c->follower == CBRL_RUN_FOLLOWER_ONLINE &&
      !(err = cbrl_follower_online_create(&follower, p, c->follower_steps, (int)c->follower_max_steps)))
    cbrl_follower_online_seed(follower, (uint64_t)r->seed);
  if (!err && uses_follower && c->follower == CBRL_RUN_FOLLOWER_COMMAND) {
    /* The process lives for the run: started at its first iteration, stopped at its end. */
    cbrl_process_opts po = {c->follower_command, (cbrl_process_mode)c->follower_mode, c->follower_timeout,
                            c->follower_steps, (int)c->follower_max_steps, (uint64_t)r->seed,
                            w && w->o->on_log ? follower_stderr : NULL, w};
    char why[700];
    if ((err = cbrl_follower_process_create(&follower, p, &po, why, sizeof why))) {
      res->failed = 1;
      snprintf(res->error, sizeof res->error, "cannot start the follower: %.220s", why);
      goto done;
    }
  }
  if (!err && uses_follower && c->follower == CBRL_RUN_FOLLOWER_SOFT_DQN) {
    /* The network's initial weights come from the run's seed. */
    cbrl_soft_dqn_opts d;
    cbrl_soft_dqn_opts_default(&d);
    d.steps = c->dqn_steps;
    d.hidden[0] = d.hidden[1] = (int)c->dqn_hidden;
    d.batch_size = (int)c->dqn_batch;
    d.epsilon_steps = c->dqn_epsilon_steps;
    d.learning_rate = c->dqn_learning_rate;
    d.seed = (uint64_t)r->seed;
    if (c->n_dqn_heads) {
      d.heads = CBRL_SOFT_DQN_FACTORISED;
      d.n_head_sizes = c->n_dqn_heads;
      for (int h = 0; h < c->n_dqn_heads; h++) d.head_sizes[h] = (int)c->dqn_heads[h];
    }
    if ((err = cbrl_follower_soft_dqn_create(&follower, p, &d)) == CBRL_EINVAL) {
      res->failed = 1;
      snprintf(res->error, sizeof res->error, "dqn_heads: the sizes' product must be the problem's %d actions",
               p->n_actions);
      goto done;
    }
  }
  o.simulator = simulator;
  o.follower = follower;
  /* The config's init_x if set, else the environment's own start if it has one, else the
     leader's N(0, init_std^2). */
  int given = 0;
  if (!err && (given = cbrl_config_init_x(c, p, x0, res->error, sizeof res->error)) < 0) {
    res->failed = 1;
    goto done;
  }
  if (!err && !given) cbrl_env_default_x(env, p, x0);
  if (!err) err = cbrl_leader_create(&L, p, &o, given || cbrl_env_has_default_x(env) ? x0 : NULL);
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
  int64_t follower_total = 0, clipped = 0;
  for (long t = 1; t <= T; t++) {
    if (stopped(stop, halt)) {
      res->interrupted = 1;
      snprintf(res->error, sizeof res->error, "interrupted at iteration %ld", t);
      break;
    }
    int thin = t == 1 || t % c->metrics_every == 0 || t == T;
    int with = thin || t >= window_start;
    if (report || thin) memcpy(x_t, cbrl_leader_x(L), sizeof(double) * (size_t)p->dim);
    /* The one leader loop, ask/tell (cbrl/leader.h): the follower answers between the two. */
    cbrl_leader_metrics m;
    cbrl_leader_query q;
    cbrl_leader_answer ans;
    const char *why = "";
    err = cbrl_leader_ask(L, &q);
    if (!err) {
      err = cbrl_leader_respond(L, &q, &ans);
      if (err && err != CBRL_ENOCONV) {
        cbrl_leader_abandon(L);
        why = follower_error(follower);
      } else {
        err = cbrl_leader_tell(L, &ans, with, &m);
        why = cbrl_leader_error(L);
      }
    }
    if (!err && with && !(isfinite(m.F) && isfinite(m.f_context))) err = CBRL_ENONFINITE;
    if (err == CBRL_ECANCELED || (err && stopped(stop, NULL))) { /* a stop, not the follower's fault */
      res->interrupted = 1;
      snprintf(res->error, sizeof res->error, "interrupted at iteration %ld", t);
      break;
    }
    if (err) {
      res->failed = 1;
      if (why && *why) snprintf(res->error, sizeof res->error, "iteration %ld: %s", t, why);
      else snprintf(res->error, sizeof res->error, "iteration %ld: %s", t, cbrl_strerror(err));
      break;
    }
    res->iterations = t;
    if (w) tick(w, r->index, t, now(CLOCK_MONOTONIC) - wall0);
    res->env_steps += m.env_steps;
    if (t >= window_start) clipped += m.clipped;
    follower_total += m.follower_samples;
    if (with) {
      cbrl_metric_row row = {m.iteration, m.context, m.F, m.f_context, m.grad_norm, m.env_steps,
                             m.follower_iterations, m.follower_products, m.follower_samples, m.level,
                             res->env_steps, follower_total, {0}, wall_clock(), -1};
      for (int j = 0; j < CBRL_ENV_REPORT_MAX; j++) row.extra[j] = NAN;
      double values[CBRL_ENV_REPORT_MAX];
      /* A report that cannot be computed leaves its values unstored, as before. */
      if (report && cbrl_env_report_compute(report, x_t, values) == 0)
        memcpy(row.extra, values, sizeof(double) * (size_t)n_report);
      if ((err = push_row(res, &row, thin ? x_t : NULL))) {
        res->failed = 1;
        snprintf(res->error, sizeof res->error, "out of memory");
        break;
      }
      if (tb.f) cbrl_tb_run_row(&tb, row.wall_time, t, m.F, m.f_context, m.grad_norm);
      res->final_F = m.F;
      if (t >= window_start) sum_F += m.F, sum_f += m.f_context;
    }
  }
  if (!res->failed && !res->interrupted) {
    res->window_F = sum_F / (double)c->final_window;
    res->window_f_sampled = sum_f / (double)c->final_window;
    res->clip_active = (double)clipped / (double)c->final_window;
  }
  res->x = malloc(sizeof(double) * (size_t)p->dim);
  if (res->x) memcpy(res->x, cbrl_leader_x(L), sizeof(double) * (size_t)p->dim);
  else if (!res->failed) res->failed = 1, snprintf(res->error, sizeof res->error, "out of memory"); /* never done without x */
done:
  if (tb.f || tb.failed) {
    if ((tb.f && cbrl_tb_run_close(&tb, wall_clock(), !res->failed && !res->interrupted, tb_err, sizeof tb_err)) ||
        tb.failed) {
#pragma omp critical(cbrl_tb_error)
      if (!w->tb_errors++) snprintf(w->tb_error, sizeof w->tb_error, "%s", tb_err);
    }
  }
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
  return run_until(c, r, res, stop, NULL, NULL);
}

static int make_dir(const char *path, char *err, size_t err_size) {
  char buf[1024];
  /* Issue 13 class 6: a path is checked whole before the first mkdir, so an empty one names
     itself and a long one is refused rather than cut into other directories. */
  int rc = cbrl_path_check("out_dir", path, err, err_size);
  if (rc) return rc;
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
static void say(const cbrl__sweep *w, const char *fmt, ...) {
  if (!w->o || !w->o->on_log) return;
  char line[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  w->o->on_log(w->o->user, line);
}

/* The canonical config without its seeds line, for comparing two configs but for their seeds. */
static char *without_seeds(const char *canonical, char **seeds) {
  char *t = strdup(canonical);
  if (!t) return NULL;
  char *line = strstr(t, "\nseeds: [");
  *seeds = NULL;
  if (line) {
    char *end = strchr(line + 1, '\n');
    size_t len = end ? (size_t)(end - line - 9) : strlen(line + 9);
    *seeds = strndup(line + 9, len && line[9 + len - 1] == ']' ? len - 1 : len);
    memmove(line, end ? end : line + strlen(line), strlen(end ? end : line + strlen(line)) + 1);
  }
  return t;
}

static int same_value(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* A resume whose config differs from the stored one only by more seeds: the stored runs move
   to their positions in the larger grid (a run's results depend on its parameters, not on its
   id), so the store becomes the one a sweep of the larger grid would have written. */
static int add_seeds(cbrl__sweep *w, char *err, size_t err_size) {
  char *stored = NULL, *a = NULL, *b = NULL, *sa = NULL, *sb = NULL;
  cbrl_config *old = NULL;
  cbrl_run_spec *old_runs = NULL;
  int *map = NULL, n_old = 0, rc = 0;
  if (!w->o->resume || cbrl_store_read_config(&w->store, &stored) || !stored || !strcmp(stored, w->o->config_text))
    goto done;
  a = without_seeds(stored, &sa);
  b = without_seeds(w->o->config_text, &sb);
  if (!a || !b || !sa || !sb || strcmp(a, b)) goto done; /* other fields differ: cbrl_store_config says which */
  old = malloc(sizeof *old);
  if (!old) goto done;
  *old = *w->c;
  old->n_seeds = 0;
  for (char *p = sa; *p && old->n_seeds < CBRL_SEEDS_MAX;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) break;
    old->seeds[old->n_seeds++] = v;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  if ((rc = cbrl_config_runs(old, &old_runs, &n_old))) goto done;
  if (!(map = malloc(sizeof *map * (size_t)(n_old + 1)))) {
    rc = CBRL_ENOMEM;
    goto done;
  }
  for (int i = 0; i < n_old; i++) {
    const cbrl_run_spec *o = &old_runs[i];
    map[i] = -1;
    for (int j = 0; j < w->n_runs && map[i] < 0; j++) {
      const cbrl_run_spec *q = &w->runs[j];
      if (q->algorithm == o->algorithm && q->simulator == o->simulator && same_value(q->lambda, o->lambda) &&
          q->beta == o->beta && q->learning_rate == o->learning_rate && same_value(q->zero_order_c, o->zero_order_c) &&
          q->seed == o->seed)
        map[i] = j;
    }
    if (map[i] < 0) {
      snprintf(err, err_size, "%s: --resume refused: seeds: the stored [%s] are not all in [%s] (seeds may be added,"
               " not removed)", w->store.path, sa, sb);
      rc = CBRL_EINVAL;
      goto done;
    }
  }
  rc = cbrl_store_renumber(&w->store, map, n_old, w->o->config_text, err, err_size);
  if (!rc) say(w, "seeds: now [%s], stored [%s]: the %d stored runs keep their results under their new ids", sb, sa,
               n_old);
done:
  free(stored);
  free(a);
  free(b);
  free(sa);
  free(sb);
  free(old);
  free(old_runs);
  free(map);
  return rc;
}

int cbrl__sweep_open(cbrl__sweep *w, const cbrl_config *c, const cbrl_sweep_opts *o, char *err, size_t err_size) {
  memset(w, 0, sizeof *w);
  w->lock_fd = -1;
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
  /* One writer per store (issue 13 class 8): a second sweep on DIR stops here, before it
     opens the store, rather than rewriting runs the first is storing. The lock is the
     kernel's (flock), so a killed sweep leaves none behind. */
  snprintf(path, sizeof path, "%s/.cbrl.lock", o->out_dir);
  if ((w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
    snprintf(err, err_size, "%s: cannot create the lock file: %s", path, strerror(errno));
    return CBRL_EIO;
  }
  if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(w->lock_fd);
    w->lock_fd = -1;
    if (e == EWOULDBLOCK)
      snprintf(err, err_size, "%s: another cbrl run is writing this store (it holds %s): wait for it to finish,"
               " then --resume, or choose another --out", o->out_dir, path);
    else snprintf(err, err_size, "%s: cannot lock: %s", path, strerror(e));
    return CBRL_EIO;
  }
  snprintf(path, sizeof path, "%s/results.sqlite", o->out_dir);
  if ((rc = cbrl_store_open(&w->store, path, 1, err, err_size))) return rc;
  if (o->tensorboard && (rc = cbrl_tb_prepare(o->tensorboard, err, err_size))) return rc;
  /* Before anything moves: a resume on another problem changes nothing in the store. */
  if (o->resume && (rc = cbrl_store_problem(&w->store, c->problem, 0, err, err_size))) return rc;
  if ((rc = add_seeds(w, err, err_size))) return rc;
  if ((rc = cbrl_store_config(&w->store, o->config_text, o->resume, err, err_size))) return rc;
  /* Issue 13 class 9: the config names the problem file; its bytes are what the runs solved. */
  if ((rc = cbrl_store_problem(&w->store, c->problem, 1, err, err_size))) return rc;
  /* config.yaml is a copy for people; the store holds the config that counts. */
  snprintf(path, sizeof path, "%s/config.yaml", o->out_dir);
  /* Whole or not at all (issue 13 class 10): a full disk must not leave it empty. */
  if ((rc = cbrl_outfile_write(path, o->config_text, strlen(o->config_text), err, err_size))) return rc;
  done = malloc((size_t)w->n_runs + 1);
  w->todo = malloc(sizeof(int) * ((size_t)w->n_runs + 1));
  if (!done || !w->todo || (rc = cbrl_store_finished(&w->store, done, w->n_runs))) {
    snprintf(err, err_size, "%s: cannot read finished runs", w->store.path);
    free(done);
    return rc ? rc : CBRL_ENOMEM;
  }
  w->run_iterations = calloc((size_t)w->n_runs + 1, sizeof *w->run_iterations);
  w->run_seconds = calloc((size_t)w->n_runs + 1, sizeof *w->run_seconds);
  w->run_state = calloc((size_t)w->n_runs + 1, 1);
  if (!w->run_iterations || !w->run_seconds || !w->run_state) {
    snprintf(err, err_size, "out of memory");
    free(done);
    return CBRL_ENOMEM;
  }
  for (int i = 0; i < w->n_runs; i++) {
    if (done[i]) w->progress.n_done++, w->run_state[i] = 3;
    else w->todo[w->n_todo++] = i;
  }
  free(done);
  omp_init_lock(&w->report_lock);
  w->lock_ready = 1;
  w->workers = 1;
  say(w, "%d runs in the grid, %d already finished, %d to go", w->n_runs, w->progress.n_done, w->n_todo);
  w->t0 = now(CLOCK_MONOTONIC);
  return 0;
}

int cbrl__sweep_halted(const cbrl__sweep *w) { return w->write_error || stopped(w->o->stop, &w->halt); }

int cbrl__sweep_run_one(cbrl__sweep *w, int index, cbrl_run_result *res) {
  w->run_state[index] = 1;
  return run_until(w->c, &w->runs[index], res, w->o->stop, &w->halt, w);
}

/* ---- progress ------------------------------------------------------------------------- */

static int run_class(const cbrl_run_spec *r) { return (int)r->algorithm * CBRL_SIMULATORS_MAX + r->simulator; }

/* Fills the live fields of w->progress: the counter, the rate, and the ETA and fraction from
   the per-iteration cost measured for each class (finished runs and runs in flight). */
static void measure(cbrl__sweep *w) {
  enum { N = CBRL_ALG_COUNT_ * CBRL_SIMULATORS_MAX };
  double seconds[N], iterations[N], t = now(CLOCK_MONOTONIC);
  memcpy(seconds, w->class_seconds, sizeof seconds);
  memcpy(iterations, w->class_iterations, sizeof iterations);
  int running = 0;
  for (int i = 0; i < w->n_runs; i++) {
    if (w->run_state[i] != 1) continue;
    int64_t it = __atomic_load_n(&w->run_iterations[i], __ATOMIC_RELAXED);
    double sec;
    __atomic_load(&w->run_seconds[i], &sec, __ATOMIC_RELAXED);
    seconds[run_class(&w->runs[i])] += sec;
    iterations[run_class(&w->runs[i])] += (double)it;
    running++;
  }
  double known = 0, known_n = 0;
  for (int k = 0; k < N; k++)
    if (iterations[k] > 0) known += seconds[k] / iterations[k], known_n++;
  double fallback = known_n ? known / known_n : 0.0, left = 0.0, spent = 0.0;
  long T = w->c->iterations;
  int unfinished = 0;
  for (int i = 0; i < w->n_runs; i++) {
    int k = run_class(&w->runs[i]);
    double cost = iterations[k] > 0 ? seconds[k] / iterations[k] : fallback;
    int64_t it = w->run_state[i] >= 2 ? T : w->run_state[i] == 1 ? w->run_iterations[i] : 0;
    if (it > T) it = T;
    spent += cost * (double)it;
    left += cost * (double)(T - it);
    unfinished += w->run_state[i] < 2;
  }
  cbrl_sweep_progress *p = &w->progress;
  int64_t live = __atomic_load_n(&w->live_iterations, __ATOMIC_RELAXED);
  p->iterations = live;
  p->elapsed = t - w->t0;
  p->rate = p->elapsed > 1e-9 ? (double)live / p->elapsed : 0.0;
  int lanes = unfinished < w->workers ? unfinished : w->workers;
  p->eta = known_n ? (unfinished ? left / (lanes > 0 ? lanes : 1) : 0.0) : -1.0;
  p->fraction = spent + left > 0 ? spent / (spent + left) : (double)p->n_done / (w->n_runs ? w->n_runs : 1);
  p->n_running = running;
}

/* A worker between two iterations: counts, and reports when progress_ms has passed and no
   other report is being made (the worker never waits for the callback). */
static void tick(cbrl__sweep *w, int index, int64_t t, double seconds) {
  /* GCC's builtins rather than omp atomic, whose writes it reports as unused parameters. */
  __atomic_add_fetch(&w->live_iterations, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&w->run_iterations[index], t, __ATOMIC_RELAXED);
  __atomic_store(&w->run_seconds[index], &seconds, __ATOMIC_RELAXED);
  const cbrl_sweep_opts *o = w->o;
  if (!o->on_progress || o->progress_ms < 0 || !w->lock_ready) return;
  double last, t_now = now(CLOCK_MONOTONIC);
  __atomic_load(&w->last_report, &last, __ATOMIC_RELAXED);
  if (t_now - last < (o->progress_ms ? o->progress_ms : 200) * 1e-3 || !omp_test_lock(&w->report_lock)) return;
  __atomic_store(&w->last_report, &t_now, __ATOMIC_RELAXED);
  measure(w);
  cbrl_sweep_progress p = w->progress;
  o->on_progress(o->user, &p);
  omp_unset_lock(&w->report_lock);
}

void cbrl__sweep_record(cbrl__sweep *w, int index, const cbrl_run_result *res) {
  char werr[512];
  int wrc;
  if (!w->write_error && (wrc = cbrl_store_write(&w->store, w->c, &w->runs[index], res, werr, sizeof werr))) {
    w->write_error = wrc; /* the store's code: CBRL_ENOMEM or CBRL_EIO */
    w->halt = 1;
    snprintf(w->err, w->err_size, "%s (the runs stored before are intact: fix this and rerun with --resume)", werr);
  }
  if (w->lock_ready) omp_set_lock(&w->report_lock);
  cbrl_sweep_progress *p = &w->progress;
  p->n_done += !res->interrupted;
  p->n_failed += res->failed && !res->interrupted;
  p->n_interrupted += res->interrupted;
  if (!w->run_iterations[index]) /* an MPI worker's run: no ticks reached this process */
    __atomic_add_fetch(&w->live_iterations, res->iterations, __ATOMIC_RELAXED);
  /* The run's cost per iteration now counts for its class; an interrupted run reruns. */
  if (res->iterations > 0) {
    w->class_seconds[run_class(&w->runs[index])] += res->wall_seconds;
    w->class_iterations[run_class(&w->runs[index])] += (double)res->iterations;
  }
  w->run_state[index] = res->interrupted ? 0 : 2;
  if (!res->failed && res->window_F > p->best_F) p->best_F = res->window_F;
  /* docs/MODEL.md 4: a clip that binds through the final window may hold the leader at a clipped
     fixed point instead of the optimum. A quarter, not "most": on tests/core/test_clip.c's problem
     the per-context clip binds on 41 % of the iterations at the clipped fixed point. */
  if (!res->failed && !res->interrupted && res->clip_active >= 0.25) {
    const cbrl_run_spec *r = &w->runs[index];
    say(w, "run %d (%s, lr %g, seed %ld): the clip was active on %.0f %% of the final window's iterations; "
        "the leader may have stopped at a clipped fixed point (docs/MODEL.md 4; try clip: average)", r->index,
        cbrl_algorithm_name(r->algorithm), r->learning_rate, (long)r->seed, 100.0 * res->clip_active);
  }
  measure(w);
  double t_now = now(CLOCK_MONOTONIC);
  __atomic_store(&w->last_report, &t_now, __ATOMIC_RELAXED);
  if (w->o->on_progress) w->o->on_progress(w->o->user, p);
  if (w->lock_ready) omp_unset_lock(&w->report_lock);
}

int cbrl__sweep_close(cbrl__sweep *w, cbrl_sweep_progress *out) {
  const cbrl_sweep_opts *o = w->o;
  int rc = 0;
  if (w->write_error) rc = w->write_error;
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
  if (w->run_state) measure(w);
  if (w->tb_errors) {
    /* Issue 13 class 10: an output that could not be written is a failure (exit 1), not a
       log line; the runs themselves are stored. */
    if (!rc)
      snprintf(w->err, w->err_size, "TensorBoard: the events of %d run%s could not be written (%s); the runs are"
               " stored, and 'cbrl export DIR --tensorboard LOGDIR' writes them again", w->tb_errors,
               w->tb_errors == 1 ? "" : "s", w->tb_error);
    if (!rc) rc = CBRL_EIO;
  }
  else if (o && o->tensorboard && w->run_state) say(w, "TensorBoard events in %s", o->tensorboard);
  if (out) *out = w->progress;
  if (w->lock_ready) omp_destroy_lock(&w->report_lock);
  w->lock_ready = 0;
  free(w->run_iterations);
  free(w->run_seconds);
  free(w->run_state);
  w->run_iterations = NULL;
  w->run_seconds = NULL;
  w->run_state = NULL;
  free(w->todo);
  free(w->runs);
  w->todo = NULL;
  w->runs = NULL;
  cbrl_store_close(&w->store);
  if (w->lock_fd >= 0) close(w->lock_fd); /* releases the flock */
  w->lock_fd = -1;
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
  w.workers = threads;
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
