/* cbrl run, cbrl export, cbrl table: sweeps into a SQLite store, and what comes out of it. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbrl/cbrl.h"
#include "cli.h"
#include "cbrl/run/config.h"
#include "cbrl/run/env_registry.h"
#include "cbrl/run/number.h"
#include "cbrl/run/outfile.h"
#include "cbrl/run/select.h"
#include "cbrl/run/sweep.h"
#include "cbrl/run/store.h"
#include "cbrl/run/tensorboard.h"

#ifdef CBRL_WITH_MPI
static int cli_run_ranked(int argc, char **argv, int rank, int size);
#endif

static const char run_usage[] =
    "Usage: cbrl run CONFIG.yaml --out DIR [--set key=value]... [--threads N] [--resume] [--quiet]\n"
    "                [--plot] [--tensorboard LOGDIR]\n"
    "\n"
    "Runs every point of the config's grid (a list in a grid field makes an axis: algorithm,\n"
    "lambda, beta, learning_rate, zero_order_c, simulator; seeds) and stores each run, with its\n"
    "metrics, in DIR/results.sqlite as soon as it finishes. The fields are in docs/CONFIG.md.\n"
    "The follower may be a program of any language (follower: {command: ...}, speaking\n"
    "docs/FOLLOWER_PROTOCOL.md); its stderr lines join the log, prefixed [follower PID], even\n"
    "under --quiet.\n"
    "\n"
    "Options:\n"
    "  --out DIR        output directory (created); DIR/results.sqlite and DIR/config.yaml\n"
    "  --set key=value  override a field; the value is YAML: --set learning_rate=[0.5,0.1]\n"
    "  --threads N      runs in parallel (default: all cores); results do not depend on N\n"
    "  --resume         complete the sweep already in DIR; refused, naming the fields, if the\n"
    "                   config changed other than by more seeds (added in place)\n"
    "  --quiet          no progress on stderr (otherwise a bar on a terminal, else a line\n"
    "                   'cbrl run: D/N runs done (F failed), R iterations/s, elapsed H:MM:SS,\n"
    "                   ETA H:MM:SS, best F B' every 5 seconds)\n"
    "  --plot           draw the figures (as 'cbrl plot DIR') when the sweep ends\n"
    "  --tensorboard LOGDIR  each run logs its events to LOGDIR as it goes (as 'cbrl export\n"
    "                   DIR --tensorboard LOGDIR' would write them)\n"
    "  --max-memory M   refuse a sweep whose estimated memory exceeds M (512M, 4G; default\n"
    "                   half the physical memory)\n"
    "\n"
    "Under mpirun (an MPI build, 'make mpi') rank 0 owns the store and the other ranks run\n"
    "the runs, each with --threads threads; the results are those of a single process.\n"
    "\n"
    "Examples:\n"
    "  cbrl run configs/paper/four_rooms_lambda_0.003.yaml --out runs/fr003\n"
    "  mpirun -np 8 cbrl run configs/paper/four_rooms_lambda_0.003.yaml --out runs/fr003 --threads 2\n"
    "  cbrl run configs/paper/four_rooms_lambda_0.003.yaml --out runs/quick --set iterations=200 \\\n"
    "      --set final_window=50 --set seeds=2 --set algorithm=hpgd-batch\n"
    "  cbrl run configs/followers/four_rooms.yaml --out runs/py --set seeds=1 \\\n"
    "      --set 'follower={command: \"python3 examples/followers/online_q.py\"}'\n"
    "\n"
    "SIGINT or SIGTERM stop the sweep: runs in flight are stored as interrupted and --resume\n"
    "reruns them. Exit status: 0 when every run was stored (failed runs are stored with their\n"
    "reason), 2 on bad input, 1 if the store could not be written, 128 + N after signal N.\n";

/* "FILE:LINE" when the field an error names was set on LINE of the file, else "FILE". */
static const char *where(const cbrl_config *c, const char *config_path, const char *err, char *buf, size_t size) {
  int line = cbrl_config_line(c, err);
  if (!line) return config_path;
  snprintf(buf, size, "%s:%d", config_path, line);
  return buf;
}

/* Prints a config error where its field came from (docs/CONFIG.md, "Errors"): the last --set of
   that field, else the file and the line that set it; a --set of another field the message
   names is added, since it may be the culprit. Returns the usage exit status. */
static int print_invalid(const cbrl_config *c, const char *config_path, const char *const *sets, int n_sets,
                         const char *err) {
  char place[1100];
  size_t n = strcspn(err, ":");
  for (int i = n_sets - 1; i >= 0; i--)
    if (!strncmp(sets[i], err, n) && sets[i][n] == '=') return cli_usage_error("run", "--set %s", err);
  for (int i = n_sets - 1; i >= 0; i--) {
    char key[64];
    size_t k = strcspn(sets[i], "=");
    if (!k || k >= sizeof key) continue;
    memcpy(key, sets[i], k);
    key[k] = 0;
    for (const char *at = strstr(err + n, key); at; at = strstr(at + 1, key))
      if (at[-1] == ' ' && (at[k] == ' ' || at[k] == ')' || at[k] == ',' || !at[k]))
        return cli_usage_error("run", "%s: %s (%s from --set)", where(c, config_path, err, place, sizeof place), err,
                               key);
  }
  return cli_usage_error("run", "%s: %s", where(c, config_path, err, place, sizeof place), err);
}

/* Under --quiet only what a follower process writes to its stderr reaches the terminal: it is the
   follower's own diagnostics (a traceback, say), not progress. */
static void follower_lines(void *user, const char *line) {
  (void)user;
  if (!strncmp(line, "[follower ", 10)) fprintf(stderr, "cbrl run: %s\n", line);
}

int cli_run(int argc, char **argv) {
#ifdef CBRL_WITH_MPI
  /* Under mpirun every rank parses the same arguments; only rank 0 speaks. */
  int rank = 0, size = 1;
  if (cbrl_mpi_init(&argc, &argv, &rank, &size)) return cli_usage_error("run", "MPI could not start");
  if (rank != 0) freopen("/dev/null", "w", stderr);
  int rc_mpi = cli_run_ranked(argc, argv, rank, size);
  cbrl_mpi_finalize();
  return rc_mpi;
}

static int cli_run_ranked(int argc, char **argv, int rank, int size) {
#else
  int rank = 0, size = 1;
#endif
  const char *cmd = "run", *out = NULL, *config_path = NULL, *tensorboard = NULL;
  long threads = 0;
  int resume = 0, quiet = 0, plot = 0;
  cbrl_config c;
  cbrl_config_default(&c);
  enum { O_OUT = 1, O_SET, O_THREADS, O_RESUME, O_QUIET, O_HELP, O_PLOT, O_TENSORBOARD, O_MAX_MEMORY };
  static const cli_opt opts[] = {{"out", 1, O_OUT, 0},       {"set", 1, O_SET, 0},   {"threads", 1, O_THREADS, 0},
                                 {"resume", 0, O_RESUME, 0}, {"quiet", 0, O_QUIET, 0}, {"help", 0, O_HELP, 'h'},
                                 {"plot", 0, O_PLOT, 0},     {"tensorboard", 1, O_TENSORBOARD, 0},
                                 {"max-memory", 1, O_MAX_MEMORY, 0}, {0, 0, 0, 0}};
  /* Overrides apply after the file, so collect them first. */
  const char *sets[256];
  int n_sets = 0, ch;
  cli_args args;
  cli_args_init(&args, cmd, argc, argv, opts);
  while ((ch = cli_args_next(&args)) != CLI_ARGS_END) {
    switch (ch) {
      case O_OUT: out = args.value; break;
      case O_SET:
        if (n_sets == 256) return cli_usage_error(cmd, "too many --set options");
        sets[n_sets++] = args.value;
        break;
      case O_THREADS:
        if (cli_parse_int(cmd, "--threads", args.value, 1, 1024, &threads)) return CLI_EXIT_USAGE;
        break;
      case O_RESUME: resume = 1; break;
      case O_QUIET: quiet = 1; break;
      case O_PLOT: plot = 1; break;
      case O_TENSORBOARD: tensorboard = args.value; break;
      case O_MAX_MEMORY: { /* issue 13 class 4 */
        double bytes;
        if (cbrl_memory_parse(args.value, &bytes))
          return cli_usage_error(cmd, "--max-memory: '%s' is not a size such as 512M or 4G", args.value);
        cbrl_memory_limit_set(bytes);
        break;
      }
      case O_HELP: fputs(run_usage, stdout); return 0;
      case CLI_ARGS_POSITIONAL:
        if (config_path) return cli_usage_error(cmd, "unexpected argument '%s'", args.value);
        config_path = args.value;
        break;
      default: return CLI_EXIT_USAGE;
    }
  }
  if (!config_path) return cli_usage_error(cmd, "give a config file (try 'cbrl run --help')");
  if (!out) return cli_usage_error(cmd, "--out DIR is required");
  /* Issue 13 class 6: every path whole, before anything is read or written. */
  if (cli_check_path(cmd, "--out", out) || (tensorboard && cli_check_path(cmd, "--tensorboard", tensorboard)))
    return CLI_EXIT_USAGE;
  char err[1024];
  if (cbrl_config_load(&c, config_path, err, sizeof err)) {
    fprintf(stderr, "cbrl run: %s\n", err);
    return CLI_EXIT_USAGE;
  }
  for (int i = 0; i < n_sets; i++)
    if (cbrl_config_set(&c, sets[i], err, sizeof err)) {
      fprintf(stderr, "cbrl run: %s\n", err);
      return CLI_EXIT_USAGE;
    }
  if (cbrl_config_validate(&c, err, sizeof err)) return print_invalid(&c, config_path, sets, n_sets, err);
  /* A problem that cannot be built is a config error: find it before writing anything. */
  if (cbrl_config_check_problem(&c, (int)threads, err, sizeof err))
    return print_invalid(&c, config_path, sets, n_sets, err);
  char canonical[65536]; /* an init_x list of CBRL_INIT_X_MAX values fits */
  if (cbrl_config_canonical(&c, canonical, sizeof canonical) < 0) return cli_usage_error(cmd, "config too large");
  /* SIGINT and SIGTERM: start nothing new, store runs in flight as interrupted, stop. */
  cli_progress progress;
  cli_progress_init(&progress, c.iterations);
  cbrl_sweep_opts so = {out, (int)threads, resume, plot, canonical, cli_catch_signals(),
                        quiet ? NULL : cli_progress_draw, quiet ? follower_lines : cli_progress_log, &progress, 0, tensorboard};
  cbrl_sweep_progress outcome;
#ifdef CBRL_WITH_MPI
  int rc = size > 1 ? cbrl_sweep_run_mpi(&c, &so, rank, size, &outcome, err, sizeof err)
                    : cbrl_sweep_run(&c, &so, &outcome, err, sizeof err);
#else
  (void)rank, (void)size;
  int rc = cbrl_sweep_run(&c, &so, &outcome, err, sizeof err);
#endif
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  int sig = cli_caught_signal();
  if (!rc && outcome.stopped && sig) {
    if (!quiet && rank == 0)
      fprintf(stderr, "\ncbrl run: stopped by signal %d; %d/%d runs finished, the rest resume with --resume\n", sig,
              outcome.n_done, outcome.n_runs);
    return 128 + sig; /* as a shell reports a death by that signal */
  }
  if (rc) {
    fprintf(stderr, "cbrl run: %s\n", err);
    return rc == CBRL_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
  }
  return 0;
}

/* ---- export ------------------------------------------------------------------------- */

static int open_store(const char *cmd, const char *dir, sqlite3 **db) {
  char path[1100], err[1400];
  snprintf(path, sizeof path, "%s/results.sqlite", dir);
  /* Read-only, checked whole first (issue 13 class 7): a missing store or a file that is no
     store is bad input (2); a damaged, locked or unreadable one a failure (1). */
  int rc = cbrl_store_open_read(path, db, err, sizeof err);
  if (rc == CBRL_EINVAL) {
    struct stat st;
    if (stat(path, &st) != 0)
      return cli_usage_error(cmd, "%s: no results store (run 'cbrl run ... --out %s' first)", path, dir);
    return cli_usage_error(cmd, "%s", err);
  }
  if (rc) {
    fprintf(stderr, "cbrl %s: %s\n", cmd, err);
    return CLI_EXIT_FAILURE;
  }
  return 0;
}

/* A query's step ended with something other than its last row: what is wrong, exit 1. */
static int read_failed(const char *cmd, const char *dir, sqlite3 *db) {
  char path[1100], err[1400];
  snprintf(path, sizeof path, "%s/results.sqlite", dir);
  cbrl_store_explain(db, path, "reading the store", err, sizeof err);
  fprintf(stderr, "cbrl %s: %s\n", cmd, err);
  return CLI_EXIT_FAILURE;
}

static int export_csv(const char *dir, const char *csv);

int cli_export(int argc, char **argv) {
  const char *cmd = "export", *dir = NULL, *csv = NULL, *tb = NULL;
  enum { O_HELP = 1, O_CSV, O_TB };
  static const cli_opt opts[] = {{"help", 0, O_HELP, 'h'}, {"csv", 1, O_CSV, 0}, {"tensorboard", 1, O_TB, 0},
                                 {0, 0, 0, 0}};
  cli_args args;
  cli_args_init(&args, cmd, argc, argv, opts);
  for (int id; (id = cli_args_next(&args)) != CLI_ARGS_END;) {
    if (id == CLI_ARGS_ERROR) return CLI_EXIT_USAGE;
    if (id == O_HELP) {
      puts("Usage: cbrl export DIR [--csv FILE] [--tensorboard LOGDIR]\n\n"
           "--csv writes every stored metric row of the sweep in DIR as tidy CSV (one row per run and\n"
           "iteration, with the run's parameters, the row's wall time and its x as columns), for\n"
           "pandas or R. --tensorboard writes one TensorBoard run per sweep run (scalars F,\n"
           "f_sampled_context, grad_norm at their wall times, and the run's hparams), for TensorBoard\n"
           "or W&B; LOGDIR and its parents are created, and exporting again replaces the files.\n"
           "Give either or both.\n\n"
           "Examples:\n  cbrl export runs/fr003 --csv fr003.csv\n  cbrl export runs/fr003 --tensorboard tb/fr003");
      return 0;
    }
    if (id == O_CSV) csv = args.value;
    else if (id == O_TB) tb = args.value;
    else if (dir) return cli_usage_error(cmd, "unexpected argument '%s' (one DIR)", args.value);
    else dir = args.value;
  }
  if (!dir) return cli_usage_error(cmd, "give a sweep directory (try 'cbrl export --help')");
  if (!csv && !tb) return cli_usage_error(cmd, "give --csv FILE, --tensorboard LOGDIR or both");
  if (cli_check_path(cmd, "DIR", dir) || (csv && cli_check_path(cmd, "--csv", csv)) ||
      (tb && cli_check_path(cmd, "--tensorboard", tb)))
    return CLI_EXIT_USAGE;
  {
    char store[1100], err[1400];
    snprintf(store, sizeof store, "%s/results.sqlite", dir);
    if ((csv && cbrl_store_guard_output(store, csv, err, sizeof err)) ||
        (tb && cbrl_store_guard_output(store, tb, err, sizeof err)))
      return cli_usage_error(cmd, "%s", err);
  }
  if (csv) {
    int rc = export_csv(dir, csv);
    if (rc) return rc;
  }
  if (tb) {
    char path[1100], err[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/results.sqlite", dir);
    if (stat(path, &st) != 0) return cli_usage_error(cmd, "%s: no results store", path);
    int n = cbrl_tb_export(dir, tb, err, sizeof err);
    if (n < 0) {
      fprintf(stderr, "cbrl export: %s\n", err);
      return CLI_EXIT_FAILURE;
    }
    fprintf(stderr, "cbrl export: %d runs written to %s\n", n, tb);
  }
  return 0;
}

/* Writes the CSV through FILE.tmp, renamed into place when complete. */
static int export_csv(const char *dir, const char *csv) {
  const char *cmd = "export";
  sqlite3 *db;
  int rc = open_store(cmd, dir, &db);
  if (rc) return rc;
  cbrl_outfile out;
  char oerr[1400];
  if (cbrl_outfile_open(&out, csv, "w", oerr, sizeof oerr)) {
    sqlite3_close(db);
    return cli_usage_error(cmd, "--csv: %s", oerr);
  }
  FILE *f = out.f;
  /* The environment's report values as columns, read by name from the store's extra metrics. */
  sqlite3_stmt *st;
  char extras[2048], q[32768];
  const char *const *names = NULL;
  int n_names = 0;
  if (sqlite3_prepare_v2(db, "SELECT env FROM runs LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
    const cbrl_env *e = sqlite3_step(st) == SQLITE_ROW ? cbrl_env_find((const char *)sqlite3_column_text(st, 0)) : NULL;
    if (e) n_names = cbrl_env_report_names(e, &names);
    sqlite3_finalize(st);
  }
  /* Stores older than per-row wall times and x give empty columns (read-only opens do not
     migrate). */
  int have_x = sqlite3_prepare_v2(db, "SELECT wall_time, x FROM metrics LIMIT 0", -1, &st, NULL) == SQLITE_OK;
  sqlite3_finalize(st);
  size_t qn = (size_t)snprintf(q, sizeof q, "%s%s",
      "SELECT r.id, r.algorithm, r.env, r.simulator, r.lambda, r.beta, r.learning_rate, r.zero_order_c, r.seed,"
      " m.iteration, m.context, m.F, m.f_context, m.grad_norm, m.env_steps, m.follower_iterations,"
      " m.follower_products, m.follower_samples, m.level, m.env_steps_total, m.follower_samples_total, ",
      have_x ? "m.wall_time, m.x" : "NULL AS wall_time, NULL AS x");
  int bad = n_names && cbrl_store_extras_source(db, extras, sizeof extras);
  for (int i = 0; i < n_names && !bad && qn < sizeof q; i++)
    qn += (size_t)snprintf(q + qn, sizeof q - qn,
                           ", (SELECT e.value FROM %s e WHERE e.run_id = m.run_id AND e.iteration = m.iteration"
                           " AND e.name = '%s') AS %s",
                           extras, names[i], names[i]);
  if (qn < sizeof q)
    qn += (size_t)snprintf(q + qn, sizeof q - qn, " FROM metrics m JOIN runs r ON r.id = m.run_id ORDER BY r.id, m.iteration");
  if (bad || qn >= sizeof q || sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "cbrl export: %s: %s\n", dir, bad ? "cannot read its environment metrics" : sqlite3_errmsg(db));
    cbrl_outfile_abort(&out);
    sqlite3_close(db);
    return CLI_EXIT_FAILURE;
  }
  /* x_t, where the row keeps it, as columns x0 .. x{d-1} (empty on the other rows). */
  int cols = sqlite3_column_count(st), x_col = -1, x_dim = 0;
  sqlite3_stmt *dq;
  for (int i = 0; i < cols; i++)
    if (!strcmp(sqlite3_column_name(st, i), "x")) x_col = i;
  if (have_x && sqlite3_prepare_v2(db, "SELECT max(length(x)) / 8 FROM metrics", -1, &dq, NULL) == SQLITE_OK) {
    if (sqlite3_step(dq) == SQLITE_ROW) x_dim = sqlite3_column_int(dq, 0);
    sqlite3_finalize(dq);
  }
  for (int i = 0; i < cols; i++) {
    if (i == x_col) {
      for (int j = 0; j < x_dim; j++) fprintf(f, "%sx%d", i || j ? "," : "", j);
      continue;
    }
    fprintf(f, "%s%s", i ? "," : "", sqlite3_column_name(st, i));
  }
  fputc('\n', f);
  long rows = 0;
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < cols; i++) {
      if (i == x_col) {
        const double *x = sqlite3_column_type(st, i) == SQLITE_BLOB ? sqlite3_column_blob(st, i) : NULL;
        int d = x ? sqlite3_column_bytes(st, i) / 8 : 0;
        for (int j = 0; j < x_dim; j++) {
          if (i || j) fputc(',', f);
          if (j < d) fprintf(f, "%.17g", x[j]);
        }
        continue;
      }
      if (i) fputc(',', f);
      switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL: break;
        case SQLITE_INTEGER: fprintf(f, "%lld", (long long)sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: {
          char num[CBRL_NUMBER_MAX];
          cbrl_format_double(num, sizeof num, sqlite3_column_double(st, i));
          fputs(num, f);
          break;
        }
        default: fprintf(f, "%s", sqlite3_column_text(st, i));
      }
    }
    fputc('\n', f);
    rows++;
  }
  if (step != SQLITE_DONE) { /* damage the check did not see: nothing partial is left */
    rc = read_failed(cmd, dir, db);
    sqlite3_finalize(st);
    sqlite3_close(db);
    cbrl_outfile_abort(&out);
    return rc;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (cbrl_outfile_commit(&out, oerr, sizeof oerr)) {
    fprintf(stderr, "cbrl export: %s\n", oerr);
    return CLI_EXIT_FAILURE;
  }
  fprintf(stderr, "cbrl export: %ld rows written to %s\n", rows, csv);
  return 0;
}

/* ---- table -------------------------------------------------------------------------- */

typedef cbrl_run_summary row;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts v and keeps each value once; NANs (a store that has no such value) count as one value,
   last. */
static int unique(double *v, int n) {
  int k = 0, nan = 0;
  for (int i = 0; i < n; i++)
    if (isnan(v[i])) nan = 1;
    else v[k++] = v[i];
  qsort(v, (size_t)k, sizeof *v, cmp_double);
  int m = 0;
  for (int i = 0; i < k; i++)
    if (!m || v[i] != v[m - 1]) v[m++] = v[i];
  if (nan) v[m++] = NAN;
  return m;
}

/* One cell: the best (lr, c) by mean over seeds of `metric` (cbrl_best_setting_find, as the
   figures choose), with its mean and standard error. */
static int best_cell(const row *rows, int n, const char *column, double lambda, double beta, int metric,
                     int min_seeds, char *out, size_t size) {
  cbrl_best_setting b;
  int found = cbrl_best_setting_find(rows, n, sizeof *rows, column, lambda, beta, metric, min_seeds, NULL, &b) > 0;
  if (!found) snprintf(out, size, "–");
  else if (isnan(b.zero_order_c))
    snprintf(out, size, "%.3f ± %.3f (lr %g, n %d)", b.mean, b.std_error, b.learning_rate, b.n_runs);
  else
    snprintf(out, size, "%.3f ± %.3f (lr %g, c %g, n %d)", b.mean, b.std_error, b.learning_rate, b.zero_order_c,
             b.n_runs);
  return found;
}

/* Appends the finished runs of one store to rows; sets *with_beta if an environment of its
   runs takes beta (the table shows a beta column only then). */
static int load_rows(const char *cmd, const char *dir, row **rows, int *n, int *cap, int *with_beta) {
  sqlite3 *db;
  int rc = open_store(cmd, dir, &db);
  if (rc) return rc;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db,
                         "SELECT algorithm, simulator, lambda, beta, learning_rate, zero_order_c, window_F, window_f_sampled,"
                         " env FROM runs WHERE status = 'done' ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK) {
    rc = read_failed(cmd, dir, db);
    sqlite3_close(db);
    return rc;
  }
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == *cap) {
      row *r2 = realloc(*rows, sizeof **rows * (size_t)(*cap *= 2));
      if (!r2) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        fprintf(stderr, "cbrl %s: out of memory\n", cmd);
        return CLI_EXIT_FAILURE;
      }
      *rows = r2;
    }
    row *r = &(*rows)[(*n)++];
    cbrl_run_column((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1), r->column,
                    sizeof r->column);
    r->lambda = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
    r->beta = sqlite3_column_type(st, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 3);
    r->learning_rate = sqlite3_column_double(st, 4);
    r->zero_order_c = sqlite3_column_type(st, 5) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 5);
    r->value[0] = sqlite3_column_double(st, 6);
    r->value[1] = sqlite3_column_double(st, 7);
    const cbrl_env *e = cbrl_env_find((const char *)sqlite3_column_text(st, 8));
    if (e && cbrl_env_takes(e, "beta")) *with_beta = 1;
  }
  if (step != SQLITE_DONE) {
    rc = read_failed(cmd, dir, db);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return 0;
}

int cli_table(int argc, char **argv) {
  const char *cmd = "table";
  enum { O_HELP = 1, O_MIN_SEEDS };
  static const cli_opt opts[] = {{"help", 0, O_HELP, 'h'}, {"min-seeds", 1, O_MIN_SEEDS, 0}, {0, 0, 0, 0}};
  const char *dirs[256];
  int n_dirs = 0, min_seeds = 1;
  cli_args args;
  cli_args_init(&args, cmd, argc, argv, opts);
  for (int id; (id = cli_args_next(&args)) != CLI_ARGS_END;) {
    if (id == CLI_ARGS_ERROR) return CLI_EXIT_USAGE;
    if (id == O_HELP) {
      puts("Usage: cbrl table DIR [DIR...] [--min-seeds N]\n\n"
           "Prints the results table (docs/CONFIG.md) of the sweep in DIR as Markdown and writes DIR/table.md: a row\n"
           "per (lambda, beta), a column per algorithm, each cell the mean +- standard error over\n"
           "seeds of the run's mean over the final window, at the learning rate (and c) whose mean\n"
           "is best. Two tables: the exact F averaged over contexts, and the value of the context\n"
           "sampled at each iteration (what the paper reported). With several DIRs, their runs are\n"
           "pooled and the table is written to the first. --min-seeds N considers only settings with at\n"
           "least N finished seeds (a two-stage protocol: choose on few seeds, then run all at the\n"
           "choice).\n\nExamples:\n  cbrl table runs/fr003\n"
           "  cbrl table runs/hpgd_0.003 runs/amd_0.003 runs/zero_order_0.003 --min-seeds 5");
      return 0;
    }
    if (id == O_MIN_SEEDS) {
      long v;
      if (cli_parse_int(cmd, "--min-seeds", args.value, 1, 100000, &v)) return CLI_EXIT_USAGE;
      min_seeds = (int)v;
    } else if (n_dirs == 256) {
      return cli_usage_error(cmd, "too many directories");
    } else {
      if (cli_check_path(cmd, "DIR", args.value)) return CLI_EXIT_USAGE;
      dirs[n_dirs++] = args.value;
    }
  }
  if (!n_dirs) return cli_usage_error(cmd, "give a sweep directory (try 'cbrl table --help')");
  int n = 0, cap = 1024, with_beta = 0;
  row *rows = malloc(sizeof *rows * cap);
  if (!rows) return cli_usage_error(cmd, "out of memory");
  for (int i = 0; i < n_dirs; i++) {
    int rc = load_rows(cmd, dirs[i], &rows, &n, &cap, &with_beta);
    if (rc) {
      free(rows);
      return rc;
    }
  }
  if (n == 0) {
    free(rows);
    return cli_usage_error(cmd, "%s: no finished runs", dirs[0]);
  }
  double *lambdas = malloc(sizeof(double) * n), *betas = malloc(sizeof(double) * n);
  int nc = 0;
  char (*columns)[48] = malloc(sizeof *columns * n);
  for (int i = 0; i < n; i++) {
    lambdas[i] = rows[i].lambda, betas[i] = rows[i].beta;
    int k = 0;
    while (k < nc && strcmp(columns[k], rows[i].column)) k++;
    if (k == nc) snprintf(columns[nc++], 48, "%s", rows[i].column);
  }
  int nl = unique(lambdas, n), nb = unique(betas, n);
  if (!with_beta) { /* runs outside Four-Rooms have no beta: one row per lambda */
    nb = 1, betas[0] = NAN;
    for (int i = 0; i < n; i++) rows[i].beta = NAN;
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/table.md", dirs[0]);
  /* table.md appears whole or not at all (issue 13 class 10); stdout gets the table either way. */
  cbrl_outfile md_file;
  char md_err[1400];
  int md_rc = 0, md_skip = access(dirs[0], W_OK) != 0; /* a read-only store is still read */
  if (!md_skip) md_rc = cbrl_outfile_open(&md_file, path, "w", md_err, sizeof md_err);
  FILE *md = md_rc || md_skip ? NULL : md_file.f;
  static const char *const titles[2] = {"Exact F, averaged over contexts", "Value of the context sampled at each iteration (the paper's figure)"};
  for (int metric = 0; metric < 2; metric++) {
    for (int pass = 0; pass < 2; pass++) {
      FILE *f = pass ? md : stdout;
      if (!f) continue;
      fprintf(f, "%s## %s: mean of the final window, mean ± s.e. over seeds\n\n| lambda |%s", metric ? "\n" : "",
              titles[metric], with_beta ? " beta |" : "");
      for (int k = 0; k < nc; k++) fprintf(f, " %s |", columns[k]);
      fprintf(f, "\n|---|%s", with_beta ? "---|" : "");
      for (int k = 0; k < nc; k++) fprintf(f, "---|");
      fputc('\n', f);
      for (int l = 0; l < nl; l++)
        for (int b = 0; b < nb; b++) {
          if (with_beta) fprintf(f, "| %g | %g |", lambdas[l], betas[b]);
          else fprintf(f, "| %g |", lambdas[l]);
          for (int k = 0; k < nc; k++) {
            char cell[128];
            best_cell(rows, n, columns[k], lambdas[l], betas[b], metric, min_seeds, cell, sizeof cell);
            fprintf(f, " %s |", cell);
          }
          fputc('\n', f);
        }
    }
  }
  if (md) md_rc = cbrl_outfile_commit(&md_file, md_err, sizeof md_err);
  free(lambdas);
  free(betas);
  free(columns);
  free(rows);
  if (md_skip) fprintf(stderr, "cbrl table: %s is not writable: table.md not written\n", dirs[0]);
  if (md_rc) {
    fprintf(stderr, "cbrl table: %s\n", md_err);
    return CLI_EXIT_FAILURE;
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "cbrl table: cannot write to standard output: %s\n", strerror(errno));
    return CLI_EXIT_FAILURE;
  }
  return 0;
}
