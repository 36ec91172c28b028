/* Tests for run/sweep.c (through `cbrl run`): results do not depend on the thread count, a
   sweep killed with SIGKILL or stopped by a signal and resumed equals an uninterrupted one, and
   RT-Q and the continuous tax simulator record what they should. */
#include "run/run_util.h"

#include "cbrl/run/sweep.h"

static void results_do_not_depend_on_the_thread_count(void **state) {
  const char *cfg = write_config("small.yaml", small);
  char args[512];
  snprintf(args, sizeof args, "run %s --out %s/t1 --threads 1 --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "run %s --out %s/t2 --threads 2 --plot", cfg, dir);
  assert_int_equal(run(args), 0);
  /* Not a terminal: plain progress lines of the documented form, the last one complete. */
  assert_non_null(strstr(err_text, "cbrl run: 12 runs in the grid, 0 already finished, 12 to go\n"));
  const char *last = strstr(err_text, "cbrl run: 12/12 runs done (0 failed), ");
  assert_non_null(last);
  double rate, best;
  int h, m, sec;
  assert_int_equal(sscanf(last, "cbrl run: 12/12 runs done (0 failed), %lf iterations/s, elapsed %*d:%*d:%*d, ETA %d:%d:%d,"
                          " best F %lf", &rate, &h, &m, &sec, &best),
                   5);
  assert_true(rate > 0 && h == 0 && m == 0 && sec == 0 && best > -1 && best < 2);
  assert_non_null(strstr(err_text, "figures written to"));
  char p1[128], p2[128];
  snprintf(p1, sizeof p1, "%s/t1", dir);
  snprintf(p2, sizeof p2, "%s/t2", dir);
  char *a = dump(p1), *b = dump(p2);
  assert_non_null(a);
  assert_non_null(b);
  assert_true(strlen(a) > 1000);
  assert_string_equal(a, b);
  free(a);
  free(b);
  assert_int_equal(count_runs(p1), 2 * 2 * 3);
  /* The table and the CSV come out of the store. */
  snprintf(args, sizeof args, "table %s/t1", dir);
  assert_int_equal(run(args), 0);
  char md[256];
  snprintf(md, sizeof md, "%s/t1/table.md", dir);
  struct stat st;
  assert_int_equal(stat(md, &st), 0);
  snprintf(args, sizeof args, "export %s/t1 --csv %s/t1.csv", dir, dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "rows written"));
  /* Running again into the same store without --resume is refused; with it, nothing to do. */
  snprintf(args, sizeof args, "run %s --out %s/t1 --quiet", cfg, dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "already holds a sweep: add --resume"));
  snprintf(args, sizeof args, "run %s --out %s/t1 --resume --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "run %s --out %s/t1 --resume --quiet --set iterations=41", cfg, dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "--resume refused: the config differs"));
}

static void killed_or_stopped_then_resumed_equals_uninterrupted(void **state) {
  if (test_quick()) skip();
  const char *cfg = write_config("kill.yaml",
                                 "env: four-rooms\nlambda: 0.005\nalgorithm: hpgd-batch\nlearning_rate: [0.5, 0.1]\n"
                                 "seeds: 4\niterations: 150\nfinal_window: 20\nhpgd_steps: 4000\n");
  char whole[128], killed[128], args[512];
  snprintf(whole, sizeof whole, "%s/whole", dir);
  snprintf(killed, sizeof killed, "%s/killed", dir);
  snprintf(args, sizeof args, "run %s --out %s --threads 1 --quiet", cfg, whole);
  assert_int_equal(run(args), 0);
  int kills = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    pid_t pid = fork();
    if (pid == 0) {
      char out[160];
      snprintf(out, sizeof out, "%s", killed);
      execl(CBRL_CLI, "cbrl", "run", cfg, "--out", out, "--threads", "2", "--resume", "--quiet", (char *)NULL);
      _exit(127);
    }
    /* Let some runs finish, then SIGKILL mid-sweep. */
    int target = 2 + 2 * attempt, n = 0;
    for (int i = 0; i < 400 && n < target; i++) {
      usleep(20000);
      n = count_runs(killed);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) kills++;
  }
  assert_true(kills >= 1);
  snprintf(args, sizeof args, "run %s --out %s --threads 2 --resume --quiet", cfg, killed);
  assert_int_equal(run(args), 0);
  char *a = dump(whole), *b = dump(killed);
  assert_string_equal(a, b);
  free(b);
  /* SIGTERM stops gracefully: exit status 128 + 15, runs in flight stored as interrupted,
     and --resume completes the same store. */
  char term[128];
  snprintf(term, sizeof term, "%s/term", dir);
  pid_t pid = fork();
  if (pid == 0) {
    execl(CBRL_CLI, "cbrl", "run", cfg, "--out", term, "--threads", "2", "--quiet", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 400 && count_runs(term) < 2; i++) usleep(20000);
  kill(pid, SIGTERM);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 128 + SIGTERM);
  char path[256];
  snprintf(path, sizeof path, "%s/results.sqlite", term);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM runs WHERE status NOT IN ('done', 'interrupted')", -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  snprintf(args, sizeof args, "run %s --out %s --threads 1 --resume --quiet", cfg, term);
  assert_int_equal(run(args), 0);
  b = dump(term);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

static void twenty_kill_points(void **state) {
  if (test_quick()) skip();
  /* 48 runs; metrics every iteration, so a finished run has exactly 400 rows. The sweep must
     outlast the 20 kill points (20 to 220 ms each) on a quiet machine too: about 5 s. */
  const char *cfg = write_config("kill20.yaml",
                                 "env: four-rooms\nlambda: 0.005\nalgorithm: [hpgd-batch, exact]\n"
                                 "learning_rate: [0.5, 0.1, 0.05]\nseeds: 8\niterations: 400\nfinal_window: 400\n"
                                 "metrics_every: 1\nhpgd_steps: 2000\nhpgd_streams: 2\n");
  char whole[128], killed[128], args[512];
  snprintf(whole, sizeof whole, "%s/whole20", dir);
  snprintf(killed, sizeof killed, "%s/killed20", dir);
  snprintf(args, sizeof args, "run %s --out %s --threads 2 --quiet", cfg, whole);
  assert_int_equal(run(args), 0);
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 2024, 0);
  int kills = 0;
  for (int attempt = 0; attempt < 20; attempt++) {
    pid_t pid = fork();
    if (pid == 0) {
      execl(CBRL_CLI, "cbrl", "run", cfg, "--out", killed, "--threads", "2", "--resume", "--quiet", (char *)NULL);
      _exit(127);
    }
    usleep((useconds_t)(20000 + cbrl_rng_below(&rng, 200000))); /* 20 to 220 ms: anywhere */
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    kills += WIFSIGNALED(status);
    struct stat st;
    char store[256];
    snprintf(store, sizeof store, "%s/results.sqlite", killed);
    if (stat(store, &st) == 0) check_store_consistent(killed, 400);
  }
  print_message("%d of 20 kill points hit a running sweep\n", kills);
  assert_true(kills >= 15);
  snprintf(args, sizeof args, "run %s --out %s --threads 2 --resume --quiet", cfg, killed);
  assert_int_equal(run(args), 0);
  check_store_consistent(killed, 400);
  char *a = dump(whole), *b = dump(killed);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

static void rtq_runs_record_levels_and_follower_samples(void **state) {
  const char *cfg = write_config("rtq.yaml",
                                 "env: four-rooms\nlambda: 0.005\nalgorithm: [hpgd-rtq, hpgd-batch]\nfollower: soft-q\n"
                                 "follower_iterations: 64\nrtq_levels: 5\nseeds: 1\niterations: 25\nfinal_window: 5\n"
                                 "metrics_every: 1\nhpgd_steps: 1000\nhpgd_streams: 2\n");
  sqlite3 *db = run_and_open(cfg, "rtq");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT r.algorithm, m.iteration, m.level, m.follower_samples, m.follower_samples_total,"
                                      " m.env_steps_total FROM metrics m JOIN runs r ON r.id = m.run_id"
                                      " ORDER BY m.run_id, m.iteration", -1, &st, NULL),
                   SQLITE_OK);
  int64_t total = 0, steps = 0;
  int rows = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *alg = (const char *)sqlite3_column_text(st, 0);
    int it = sqlite3_column_int(st, 1), level = sqlite3_column_int(st, 2);
    int64_t fs = sqlite3_column_int64(st, 3);
    if (it == 1) total = steps = 0;
    total += fs;
    if (!strcmp(alg, "hpgd-rtq")) {
      assert_true(level >= 1 && level <= 5);
      assert_int_equal(fs, ((int64_t)1 << level) * 416); /* 2^k x 104 states x 4 actions */
      steps += 3000;                                    /* three inner batch estimates */
    } else {
      assert_int_equal(fs, 64 * 416);
      steps += 1000;
    }
    assert_int_equal(sqlite3_column_int64(st, 4), total);
    assert_int_equal(sqlite3_column_int64(st, 5), steps);
    rows++;
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  assert_int_equal(rows, 50);
}

/* The continuous-assets simulator runs under cbrl run beside the tabular one, and is stored as such. */
static void tax_runs_in_the_continuous_simulator(void **state) {
  const char *cfg = write_config("tax_cont.yaml",
                                 "env: tax-design\ntax_bins: 20\nlambda: 0.2\nalgorithm: hpgd-batch\n"
                                 "simulator: [consistent, continuous]\nlearning_rate: 0.01\nseeds: 1\n"
                                 "iterations: 6\nfinal_window: 2\nmetrics_every: 2\nhpgd_steps: 2000\nhpgd_streams: 10\n");
  sqlite3 *db = run_and_open(cfg, "tax_cont");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT simulator, status, x FROM runs ORDER BY id", -1, &st, NULL), SQLITE_OK);
  const char *names[2] = {"consistent", "continuous"};
  char x[2][512];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), names[i]);
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "done");
    snprintf(x[i], sizeof x[i], "%s", (const char *)sqlite3_column_text(st, 2));
  }
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  assert_string_not_equal(x[0], x[1]); /* the two simulators drew different trajectories */
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* What the library's caller sees: log lines and progress through the callbacks, nothing on
   stderr, and a stop flag set before the start stores nothing and reports the sweep stopped;
   a resume with the flag down completes it. */
typedef struct seen {
  int logs, progress, last_done, during_runs;
  double last_eta;
  char first_log[256];
} seen;


/* Runs `cbrl hypergrad ARGS --json` and returns its F (NAN if it failed). */
static double hypergrad_F(const char *args) {
  static char cmd[20000];
  snprintf(cmd, sizeof cmd, "'%s' hypergrad %s --json 2>/dev/null", CBRL_CLI, args);
  FILE *f = popen(cmd, "r");
  if (!f) return NAN;
  static char out[65536];
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  int status = pclose(f);
  double F = NAN;
  const char *p = strstr(out, "\"F\": ");
  if (status != 0 || !p || sscanf(p, "\"F\": %lf", &F) != 1) return NAN;
  return F;
}

typedef struct env_case {
  const char *name;
  const char *config;    /* beside algorithm, iterations and the metrics schedule */
  const char *hypergrad; /* the same problem's options for cbrl hypergrad */
  int n_runs;
} env_case;

/* For every environment, the F stored for a run (at its last row that keeps x) equals
   `cbrl hypergrad` at the stored x, the stored lambda and the environment's options. Before
   the fix, env file ignored a lambda grid: both runs below held the file's own 0.5. The runs
   with no lambda store the problem's own temperature, not NULL. */
static void a_stored_F_is_hypergrad_at_the_stored_parameters(void **state) {
  static const env_case cases[] = {
      {"file", "env: file\nproblem: " CBRL_SOURCE_DIR "/examples/chain.yaml\nlambda: [0.1, 2]\n",
       "--problem " CBRL_SOURCE_DIR "/examples/chain.yaml", 2},
      {"file_own", "env: file\nproblem: " CBRL_SOURCE_DIR "/examples/chain.yaml\n",
       "--problem " CBRL_SOURCE_DIR "/examples/chain.yaml", 1},
      {"four_rooms", "env: four-rooms\nlambda: [0.02]\nbeta: [0.5, 3]\n", "--env four-rooms", 2},
      {"random", "env: random\nstates: 12\nactions: 3\ndim: 4\ncontexts: 2\nbranch: 3\nproblem_seed: 7\n"
                 "lambda: [0.3, 1.5]\n", "--env random --states 12 --actions 3 --dim 4 --contexts 2 --branch 3 --seed 7",
       2},
      {"random_own", "env: random\nstates: 12\nactions: 3\ndim: 4\ncontexts: 2\nbranch: 3\nproblem_seed: 7\n",
       "--env random --states 12 --actions 3 --dim 4 --contexts 2 --branch 3 --seed 7", 1},
      {"tax", "env: tax-design\ntax_bins: 12\nlambda: [0.15, 0.4]\n", "--env tax-design --bins 12", 2},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const env_case *e = &cases[k];
    char text[1024], name[64];
    snprintf(text, sizeof text, "%salgorithm: exact\nlearning_rate: 0.5\niterations: 3\nfinal_window: 1\n"
             "metrics_every: 1\n", e->config);
    snprintf(name, sizeof name, "%s.yaml", e->name);
    sqlite3 *db = run_and_open(write_config(name, text), e->name);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT r.id, r.lambda, r.beta, m.F, m.x FROM runs r JOIN metrics m"
                                            " ON m.run_id = r.id AND m.iteration = 3 ORDER BY r.id", -1, &st, NULL),
                     SQLITE_OK);
    int runs = 0;
    double lambdas[2] = {0, 0};
    while (sqlite3_step(st) == SQLITE_ROW) {
      assert_int_equal(sqlite3_column_type(st, 1), SQLITE_FLOAT); /* the temperature used, never NULL */
      double lambda = sqlite3_column_double(st, 1), beta = sqlite3_column_double(st, 2);
      double F = sqlite3_column_double(st, 3);
      int bytes = sqlite3_column_bytes(st, 4);
      assert_true(bytes > 0);
      const double *x = sqlite3_column_blob(st, 4);
      static char args[16384];
      int n = snprintf(args, sizeof args, "%s --lambda %.17g --x ", e->hypergrad, lambda);
      if (strstr(e->hypergrad, "four-rooms")) n = snprintf(args, sizeof args, "%s --lambda %.17g --beta %.17g --x ",
                                                           e->hypergrad, lambda, beta);
      for (int j = 0; j < bytes / 8; j++) n += snprintf(args + n, sizeof args - n, "%s%.17g", j ? "," : "", x[j]);
      double G = hypergrad_F(args);
      if (!(fabs(F - G) <= 1e-9 * fmax(1.0, fabs(G))))
        fail_msg("%s, run %d: stored F %.17g, hypergrad at the stored x and lambda %.17g gives %.17g", e->name,
                 sqlite3_column_int(st, 0), F, lambda, G);
      if (runs < 2) lambdas[runs] = lambda;
      runs++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(runs, e->n_runs);
    if (!strcmp(e->name, "file_own")) assert_close(lambdas[0], 0.5, 0, 0);  /* the file's */
    if (!strcmp(e->name, "random_own")) assert_close(lambdas[0], 1.0, 0, 0); /* the generator's */
  }
}

/* Seeds added to a finished sweep run in place: the stored runs move to their positions in the
   larger grid, and the store equals a sweep of the larger grid from scratch. A resume that
   changes other fields is refused with their names; removing seeds is refused. */
static void seeds_are_added_in_place_and_a_refusal_names_the_fields(void **state) {
  static const char text[] = "env: file\nproblem: " CBRL_SOURCE_DIR "/examples/chain.yaml\nalgorithm: [exact, zero-order]\n"
                             "learning_rate: [0.5, 0.1]\niterations: 6\nfinal_window: 2\nmetrics_every: 2\n";
  const char *cfg = write_config("seeds.yaml", text);
  char args[1024], p1[128], p2[128];
  snprintf(args, sizeof args, "run %s --out %s/grow --quiet --set seeds=2", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "run %s --out %s/grow --resume --set seeds=[0,1,2]", cfg, dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "seeds: now [0, 1, 2], stored [0, 1]: the 8 stored runs keep their results"));
  assert_non_null(strstr(err_text, "12 runs in the grid, 8 already finished, 4 to go"));
  snprintf(args, sizeof args, "run %s --out %s/fresh --quiet --set seeds=3", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(p1, sizeof p1, "%s/grow", dir);
  snprintf(p2, sizeof p2, "%s/fresh", dir);
  char *a = dump(p1), *b = dump(p2);
  assert_non_null(a);
  assert_non_null(b);
  assert_string_equal(a, b);
  free(a);
  free(b);
  snprintf(args, sizeof args, "run %s --out %s/grow --resume --quiet --set seeds=[0,2]", cfg, dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "seeds: the stored [0, 1, 2] are not all in [0, 2]"));
  snprintf(args, sizeof args, "run %s --out %s/grow --resume --quiet --set seeds=3 --set iterations=8", cfg, dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "--resume refused: the config differs from the stored sweep's in iterations (stored 6,"
                                   " now 8)"));
  assert_null(strstr(err_text, "seeds"));
}

/* init_x starts every run's leader at a given x: a list, or DIR:RUN, a stored run's x at its
   last stored iteration (cbrl_store_read_x); a list of the wrong length stops cbrl run. */
static void init_x_starts_the_leader_at_a_list_or_a_stored_x(void **state) {
  static const char base[] = "env: file\nproblem: " CBRL_SOURCE_DIR "/examples/chain.yaml\nalgorithm: exact\n"
                             "learning_rate: 0.5\niterations: 5\nfinal_window: 1\nmetrics_every: 1\n";
  char text[1024], args[1024], path[256], err[512];
  snprintf(text, sizeof text, "%sinit_x: [0.25, -0.5, 1]\n", base);
  sqlite3 *db = run_and_open(write_config("ix1.yaml", text), "ix1");
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT x FROM metrics WHERE run_id = 0 AND iteration = 1", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  const double *x = sqlite3_column_blob(st, 0);
  assert_int_equal(sqlite3_column_bytes(st, 0), 24);
  assert_true(x[0] == 0.25 && x[1] == -0.5 && x[2] == 1.0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  /* From the store, relative to the config's folder: ix1 lies beside ix2.yaml. */
  snprintf(text, sizeof text, "%sinit_x: ix1:0\n", base);
  db = run_and_open(write_config("ix2.yaml", text), "ix2");
  double *want;
  int dim;
  int64_t t;
  snprintf(path, sizeof path, "%s/ix1", dir);
  assert_int_equal(cbrl_store_read_x(path, 0, &want, &dim, &t, err, sizeof err), 0);
  assert_int_equal(t, 5);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT x FROM metrics WHERE run_id = 0 AND iteration = 1", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_memory_equal(sqlite3_column_blob(st, 0), want, sizeof(double) * 3);
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(want);
  snprintf(text, sizeof text, "%sinit_x: [1, 2]\n", base);
  snprintf(args, sizeof args, "run %s --out %s/ix3 --quiet", write_config("ix3.yaml", text), dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "init_x: 2 values, but the problem's x has 3"));
  snprintf(args, sizeof args, "run %s --out %s/ix4 --quiet --set init_x=%s/ix1:9", write_config("ix4.yaml", base), dir, dir);
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "init_x: "));
  assert_non_null(strstr(err_text, "no run 9"));
}

/* Without a terminal, a plain progress line every interval while a run is in flight (the
   interval shortened from 5 s through CBRL_PROGRESS_SECONDS), with the rate, h:mm:ss times and
   an ETA; before, a line came only when a run finished. */
static void a_plain_progress_line_every_interval_without_a_terminal(void **state) {
  const char *cfg = write_config("long.yaml", "env: four-rooms\nalgorithm: exact\niterations: 4000\nfinal_window: 10\n"
                                              "metrics_every: 200\n");
  char args[512];
  snprintf(args, sizeof args, "run %s --out %s/long", cfg, dir);
  setenv("CBRL_PROGRESS_SECONDS", "0.25", 1);
  int status = run(args);
  unsetenv("CBRL_PROGRESS_SECONDS");
  assert_int_equal(status, 0);
  const char *line = strstr(err_text, "cbrl run: 0/1 runs done (0 failed), ");
  if (!line) fail_msg("no progress line while the run was in flight:\n%s", err_text);
  double rate;
  int eh, em, es, h, m, sec;
  assert_int_equal(sscanf(line, "cbrl run: 0/1 runs done (0 failed), %lf iterations/s, elapsed %d:%d:%d, ETA %d:%d:%d,"
                          " best F -", &rate, &eh, &em, &es, &h, &m, &sec), 7);
  assert_true(rate > 0 && em < 60 && es < 60 && m < 60 && sec < 60);
  assert_non_null(strstr(err_text, "cbrl run: 1/1 runs done (0 failed), "));
  assert_null(strchr(err_text, '\r')); /* no bar without a terminal */
}

typedef struct eta_probe {
  long half;            /* report once the third run is past this many iterations */
  double eta, at;       /* the ETA reported then, and when */
  int taken;
} eta_probe;

static void on_eta(void *user, const cbrl_sweep_progress *p) {
  eta_probe *e = user;
  if (!e->taken && p->n_done == 2 && p->n_running == 1 && p->iterations >= 2 * 2 * e->half + e->half) {
    e->eta = p->eta;
    e->at = p->elapsed;
    e->taken = 1;
  }
}

/* The ETA weights each run's remaining iterations by its own algorithm's measured cost: with
   two cheap exact runs done and an expensive HPGD run half way, it predicts the time left
   better than an ETA from the sweep's mean rate, as before, which gives less than half. */
static void the_eta_weights_runs_by_their_measured_cost(void **state) {
  cbrl_config c;
  char err[512] = "", canonical[8192], out[128];
  cbrl_config_default(&c);
  static const char *const sets[] = {"algorithm=[exact, hpgd-batch]", "iterations=400", "final_window=10",
                                     "metrics_every=100", "hpgd_steps=20000", "seeds=2"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) assert_int_equal(cbrl_config_set(&c, sets[i], err, sizeof err), 0);
  assert_true(cbrl_config_canonical(&c, canonical, sizeof canonical) > 0);
  snprintf(out, sizeof out, "%s/eta", dir);
  eta_probe e = {200, 0, 0, 0};
  cbrl_sweep_opts o = {out, 1, 0, 0, canonical, NULL, on_eta, NULL, &e, 1, NULL};
  cbrl_sweep_progress outcome;
  assert_int_equal(cbrl_sweep_run(&c, &o, &outcome, err, sizeof err), 0);
  assert_true(e.taken);
  double actual = outcome.elapsed - e.at, naive = 600.0 * e.at / 1000.0;
  print_message("ETA %.3f s, %.3f s left; the mean rate would say %.3f s\n", e.eta, actual, naive);
  /* Compared with the mean-rate ETA in the same run, so a machine busy with other work slows
     both alike and the comparison still holds. */
  if (!(fabs(log(e.eta / actual)) < fabs(log(naive / actual))))
    fail_msg("ETA %.3f s is no closer to the %.3f s left than the mean rate's %.3f s", e.eta, actual, naive);
}

static void on_log(void *user, const char *line) {
  seen *s = user;
  if (!s->logs++) snprintf(s->first_log, sizeof s->first_log, "%s", line);
}

static void on_progress(void *user, const cbrl_sweep_progress *p) {
  seen *s = user;
  s->progress++;
  s->last_done = p->n_done;
  if (p->n_running > 0 && p->n_done < p->n_runs && p->iterations > 0) s->during_runs++;
  s->last_eta = p->eta;
}

static void the_library_reports_through_callbacks_and_stops_on_the_flag(void **state) {
  cbrl_config c;
  char err[512] = "", canonical[8192], out[128], stderr_path[128];
  cbrl_config_default(&c);
  static const char *const sets[] = {"algorithm=hpgd-batch", "iterations=20", "final_window=5", "metrics_every=5",
                                     "hpgd_steps=1000", "hpgd_streams=2", "seeds=3"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) assert_int_equal(cbrl_config_set(&c, sets[i], err, sizeof err), 0);
  assert_int_equal(cbrl_config_validate(&c, err, sizeof err), 0);
  assert_true(cbrl_config_canonical(&c, canonical, sizeof canonical) > 0);
  snprintf(out, sizeof out, "%s/lib", dir);
  volatile int stop = 1;
  seen s = {0};
  cbrl_sweep_opts o = {out, 2, 0, 0, canonical, &stop, on_progress, on_log, &s, 0, NULL};
  cbrl_sweep_progress outcome;
  /* Everything the library might write to stderr goes to a file that must stay empty. */
  snprintf(stderr_path, sizeof stderr_path, "%s/lib_stderr.txt", dir);
  fflush(stderr);
  int saved = dup(2);
  FILE *capture = fopen(stderr_path, "w");
  dup2(fileno(capture), 2);
  int rc = cbrl_sweep_run(&c, &o, &outcome, err, sizeof err);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  fclose(capture);
  assert_int_equal(rc, 0);
  assert_true(outcome.stopped);
  assert_int_equal(outcome.n_runs, 3);
  assert_int_equal(outcome.n_done, 0);
  assert_int_equal(count_runs(out), 0);
  assert_string_equal(s.first_log, "3 runs in the grid, 0 already finished, 3 to go");
  assert_int_equal(s.progress, 0);
  struct stat st;
  assert_int_equal(stat(stderr_path, &st), 0);
  assert_int_equal(st.st_size, 0);
  /* The flag down: the same sweep resumes to completion, with a progress call per run and,
     every millisecond at most, between iterations of the runs in flight. */
  stop = 0;
  o.resume = 1;
  o.progress_ms = 1;
  memset(&s, 0, sizeof s);
  assert_int_equal(cbrl_sweep_run(&c, &o, &outcome, err, sizeof err), 0);
  assert_false(outcome.stopped);
  assert_int_equal(outcome.n_done, 3);
  assert_int_equal(outcome.n_failed, 0);
  assert_true(outcome.best_F > -1 && outcome.best_F < 2);
  assert_true(s.progress > 3);
  assert_true(s.during_runs > 0);
  assert_int_equal(s.last_done, 3);
  assert_true(s.last_eta == 0.0);
  assert_int_equal(outcome.iterations, 3 * 20);
  assert_int_equal(count_runs(out), 3);
  check_store_consistent(out, 9); /* t = 1, 5, 10, 15 and 16 .. 20 */
}

/* tests/core/clip_problem.h's four-type subsidy problem as a problem file: with the paper's
   per-context clip the leader stops at the clipped fixed point, the runner says so and stores
   how often the clip bound; with clip: average it does neither (docs/MODEL.md 4). */
static void a_binding_clip_is_stored_and_warned_about(void **state) {
  static const double b[4] = {0.5, 1.1, 1.25, 1.35}, u[4] = {0.8, 2.6, 1.4, 0.6}, q[4] = {0.35, 0.4, 0.05, 0.2};
  char problem[2048];
  int n = snprintf(problem, sizeof problem,
                   "format: cbrl-tabular-1\nstates: 2\nactions: 2\ndim: 1\ngamma: 0.9\nlambda: 0.2\n"
                   "terminal: [1]\ncontexts:\n");
  for (int i = 0; i < 4; i++)
    n += snprintf(problem + n, sizeof problem - (size_t)n,
                  "  - weight: %g\n    initial: [{s: 0}]\n"
                  "    transitions: [{s: 0, a: 0, next: 1}, {s: 0, a: 1, next: 1}]\n"
                  "    reward: [{s: 0, a: 1, value: %g, coef: [1.0]}]\n"
                  "    leader_reward: [{s: 0, a: 1, value: %g, coef: [-1.0]}]\n",
                  q[i], -b[i], u[i]);
  write_config("clip.yaml", problem);
  static const char *const modes[2] = {"per-context", "average"};
  for (int k = 0; k < 2; k++) {
    char cfg[512], args[512], path[256];
    snprintf(cfg, sizeof cfg,
             "env: file\nproblem: clip.yaml\nalgorithm: exact\nlearning_rate: 0.01\niterations: 3000\n"
             "final_window: 1000\nmetrics_every: 100\ninit_x: [0]\nclip: %s\n", modes[k]);
    snprintf(args, sizeof args, "run %s --out %s/clip_%d", write_config("clip_run.yaml", cfg), dir, k);
    assert_int_equal(run(args), 0);
    int warned = strstr(err_text, "the clip was active") != NULL;
    snprintf(path, sizeof path, "%s/clip_%d/results.sqlite", dir, k);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT clip_active FROM runs", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double active = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    print_message("clip %s: active on %.1f %% of the final window, warned %d\n", modes[k], 100 * active, warned);
    if (k == 0) {
      assert_true(active >= 0.25);
      assert_true(warned);
    } else {
      assert_true(active < 0.05);
      assert_false(warned);
    }
  }
}

/* Issue 13 class 9: the problem file's bytes are part of the sweep; a resume on an edited file
   is refused naming it, and changes nothing; the same bytes (even touched) resume. */
static void a_resume_on_an_edited_problem_file_is_refused(void **state) {
  (void)state;
  char path[256], args[800], cmd[700];
  snprintf(path, sizeof path, "%s/chain.yaml", dir);
  snprintf(cmd, sizeof cmd, "cp %s/examples/chain.yaml %s", CBRL_SOURCE_DIR, path);
  assert_int_equal(system(cmd), 0);
  const char *cfg = write_config("chain_sweep.yaml", "env: file\nproblem: chain.yaml\niterations: 10\nfinal_window: 5\nseeds: 2\n");
  snprintf(args, sizeof args, "run %s --out %s/chain --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(cmd, sizeof cmd, "touch %s", path); /* same bytes: fine */
  assert_int_equal(system(cmd), 0);
  snprintf(args, sizeof args, "run %s --out %s/chain --quiet --resume --set seeds=3", cfg, dir);
  assert_int_equal(run(args), 0);
  static const char *const edits[] = {"s/^lambda:.*/lambda: 0.7/", "$a # a comment is a change of bytes too",
                                      "s/^gamma:.*/gamma: 0.5/"};
  for (int i = 0; i < 3; i++) {
    snprintf(cmd, sizeof cmd, "cp %s/examples/chain.yaml %s && sed -i '%s' %s", CBRL_SOURCE_DIR, path, edits[i], path);
    assert_int_equal(system(cmd), 0);
    snprintf(args, sizeof args, "run %s --out %s/chain --quiet --resume --set seeds=4", cfg, dir);
    assert_int_equal(run(args), 2);
    if (!strstr(err_text, "--resume refused: the problem file") || !strstr(err_text, "chain.yaml changed since the sweep began"))
      fail_msg("edit %d: '%s'", i, err_text);
    char *nl = strchr(err_text, '\n');
    assert_true(nl && !nl[1]);
  }
  /* Nothing moved: the store still has 3 seeds' runs, none added by the refused resumes. */
  char store[256];
  snprintf(store, sizeof store, "%s/chain/results.sqlite", dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT count(*), (SELECT value FROM sweep WHERE key = 'problem_hash') FROM runs", -1, &st, NULL);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 3);
  assert_non_null(strstr((const char *)sqlite3_column_text(st, 1), "fnv1a64:"));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(results_do_not_depend_on_the_thread_count),
      cmocka_unit_test(a_stored_F_is_hypergrad_at_the_stored_parameters),
      cmocka_unit_test(seeds_are_added_in_place_and_a_refusal_names_the_fields),
      cmocka_unit_test(init_x_starts_the_leader_at_a_list_or_a_stored_x),
      cmocka_unit_test(a_plain_progress_line_every_interval_without_a_terminal),
      cmocka_unit_test(the_eta_weights_runs_by_their_measured_cost),
      cmocka_unit_test(killed_or_stopped_then_resumed_equals_uninterrupted),
      cmocka_unit_test(twenty_kill_points),
      cmocka_unit_test(rtq_runs_record_levels_and_follower_samples),
      cmocka_unit_test(tax_runs_in_the_continuous_simulator),
      cmocka_unit_test(the_library_reports_through_callbacks_and_stops_on_the_flag),
      cmocka_unit_test_setup_teardown(a_binding_clip_is_stored_and_warned_about, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(a_resume_on_an_edited_problem_file_is_refused, make_dir, remove_dir),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
