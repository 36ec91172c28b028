/* Tests for run/follower_process.c: the protocol spoken by hand to the Python example, the same
   store from the in-process online learner and from the same learner as a Python and as a C
   process, a fault that fails its run with the reason while the sweep goes on, stderr passed
   through prefixed, and a restart. */
#include "run_util.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "cbrl/run/follower_process.h"

#define PY_FOLLOWER "/usr/bin/python3 " CBRL_SOURCE_DIR "/examples/followers/online_q.py"

/* ---- cbrl's side of the protocol by hand ----------------------------------------------- */

typedef struct child {
  pid_t pid;
  FILE *in, *out; /* to its stdin, from its stdout */
} child;

static child start(const char *path) {
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(sv[1], 0);
    dup2(sv[1], 1);
    close(sv[0]);
    execl("/usr/bin/python3", "python3", path, (char *)NULL);
    _exit(127);
  }
  close(sv[1]);
  int fd2 = dup(sv[0]);
  return (child){pid, fdopen(sv[0], "w"), fdopen(fd2, "r")};
}

static char reply[1 << 16];

/* Sends one line and reads the answer line. */
static const char *ask(child *c, const char *line) {
  fprintf(c->in, "%s\n", line);
  fflush(c->in);
  assert_non_null(fgets(reply, sizeof reply, c->out));
  return reply;
}

/* Two states and two actions: in state 0 action 1 pays 1 and action 0 pays 0, and state 1 is
   terminal. A learner that answers after 200 steps must prefer action 1 in state 0. */
static void the_protocol_spoken_by_hand(void **state) {
  child c = start(CBRL_SOURCE_DIR "/examples/followers/online_q.py");
  const char *r = ask(&c, "{\"type\":\"hello\",\"protocol\":1,\"mode\":\"serve\",\"n_states\":2,\"n_actions\":2,"
                          "\"n_contexts\":1,\"dim\":1,\"gamma\":0.9,\"lambda\":0.1,\"seed\":7}");
  assert_non_null(strstr(r, "\"type\": \"hello\"") ? r : strstr(r, "\"type\":\"hello\""));
  assert_non_null(strstr(r, "\"protocol\":1"));
  r = ask(&c, "{\"type\":\"iteration\",\"context\":0,\"steps\":200,\"streams\":0,\"max_steps\":0,\"x\":[0]}");
  int resets = 0, steps = 0;
  for (;;) {
    if (strstr(r, "\"reset\"")) {
      resets++;
      r = ask(&c, "{\"type\":\"observation\",\"state\":0}");
    } else if (strstr(r, "\"step\"")) {
      int a = atoi(strstr(r, "\"action\":") + 9);
      assert_true(a == 0 || a == 1);
      steps++;
      /* Acting in state 0 leads to the terminal state 1 only after action 1; action 0 stays. */
      char obs[200];
      snprintf(obs, sizeof obs, "{\"type\":\"observation\",\"state\":%d,\"reward\":%d,\"terminated\":false,\"truncated\":%s}",
               a ? 1 : 0, a, a ? "true" : "false");
      r = ask(&c, obs);
    } else {
      break;
    }
  }
  assert_int_equal(steps, 200);
  assert_true(resets >= 2);
  assert_non_null(strstr(r, "\"type\":\"policy\""));
  double pi[4];
  const char *p = strstr(r, "\"pi\":[") + 6;
  for (int i = 0; i < 4; i++) pi[i] = strtod(p, (char **)&p), p++;
  assert_close(pi[0] + pi[1], 1.0, 0, 1e-12);
  assert_true(pi[1] > 0.99); /* action 1 pays 1 (and ends the episode with bootstrapping cut) */
  fprintf(c.in, "{\"type\":\"bye\"}\n");
  fclose(c.in);
  fclose(c.out);
  int status;
  waitpid(c.pid, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- through cbrl run ------------------------------------------------------------------ */

/* The store's runs and metrics, timings and the config text aside (the follower line differs). */
static char *results(const char *out) {
  char path[600];
  snprintf(path, sizeof path, "%s/results.sqlite", out);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  size_t cap = 1 << 20, n = 0;
  char *buf = malloc(cap);
  buf[0] = 0;
  const char *queries[2] = {"SELECT id, status, error, iterations, env_steps, final_F, window_F, hex(x) FROM runs ORDER BY id",
                            "SELECT run_id, iteration, context, F, f_context, grad_norm, env_steps, follower_samples,"
                            " follower_samples_total, hex(x) FROM metrics ORDER BY run_id, iteration"};
  for (int q = 0; q < 2; q++) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, queries[q], -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
      for (int i = 0; i < sqlite3_column_count(st); i++) {
        const unsigned char *t = sqlite3_column_text(st, i);
        n += (size_t)snprintf(buf + n, cap - n, "%s|", t ? (const char *)t : "NULL");
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
      }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return buf;
}

static void follower_config(const char *name, const char *follower_line) {
  char path[300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "env: four-rooms\nlambda: 0.003\nbeta: 3\nalgorithm: hpgd-batch\nlearning_rate: 0.5\nseeds: 2\n"
             "iterations: 12\nhpgd_steps: 1000\nhpgd_streams: 2\nfinal_window: 4\nmetrics_every: 3\n"
             "follower_steps: 400\nfollower_max_steps: 50\n%s\n", follower_line);
  fclose(f);
}

static void in_process_and_external_learners_give_the_same_store(void **state) {
  char args[1400], out[3][300];
  const char *lines[3] = {"follower: online", "follower: {command: \"" PY_FOLLOWER "\"}",
                          "follower: {command: \"" CBRL_FOLLOWER_C "\", timeout: 10}"};
  char *text[3];
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "same%d.yaml", i);
    follower_config(name, lines[i]);
    snprintf(out[i], sizeof out[i], "%s/same%d", dir, i);
    snprintf(args, sizeof args, "run %s/%s --out %s --quiet --threads 2", dir, name, out[i]);
    if (run(args)) fail_msg("%s: %s", lines[i], err_text);
    text[i] = results(out[i]);
  }
  assert_non_null(strstr(text[0], "|done|"));
  assert_non_null(strstr(text[0], "|400|")); /* follower samples per iteration */
  assert_string_equal(text[0], text[1]);
  assert_string_equal(text[0], text[2]);
  for (int i = 0; i < 3; i++) free(text[i]);
}

static void a_fault_fails_its_run_with_the_reason(void **state) {
  char args[1400], out[300], line[600];
  snprintf(line, sizeof line, "follower: {command: \"/usr/bin/python3 %s/tests/bad_inputs/f_dies.py\", timeout: 5}",
           CBRL_SOURCE_DIR);
  follower_config("dies.yaml", line);
  snprintf(out, sizeof out, "%s/dies", dir);
  snprintf(args, sizeof args, "run %s/dies.yaml --out %s --quiet", dir, out);
  assert_int_equal(run(args), 0); /* every run stored, the failed ones with their reason */
  char *t = results(out);
  assert_non_null(strstr(t, "0|failed|iteration 1: follower '/usr/bin/python3"));
  assert_non_null(strstr(t, "exited with status 3 while cbrl waited for its answer to 'iteration'"));
  assert_non_null(strstr(t, "1|failed|"));
  free(t);
}

static void stderr_is_passed_through_prefixed(void **state) {
  char args[1400], out[300], line[600];
  snprintf(line, sizeof line,
           "follower: {command: \"/bin/sh -c 'echo a note from the follower >&2; exec " PY_FOLLOWER "'\"}");
  follower_config("note.yaml", line);
  snprintf(out, sizeof out, "%s/note", dir);
  snprintf(args, sizeof args, "run %s/note.yaml --out %s --set seeds=1", dir, out);
  if (run(args)) fail_msg("%s", err_text);
  const char *at = strstr(err_text, "[follower ");
  assert_non_null(at);
  assert_non_null(strstr(at, "] a note from the follower"));
}

/* The trajectories mode end to end: the Python learner brings 1000-step batches it simulated
   from the MDP it is sent; the runs finish and count the learner's own samples. */
static void a_follower_brings_its_trajectories(void **state) {
  char args[1400], out[300];
  follower_config("traj.yaml", "follower: {command: \"" PY_FOLLOWER " --train-steps 300\", mode: trajectories}");
  snprintf(out, sizeof out, "%s/traj", dir);
  snprintf(args, sizeof args, "run %s/traj.yaml --out %s --quiet", dir, out);
  if (run(args)) fail_msg("%s", err_text);
  char *t = results(out);
  assert_non_null(strstr(t, "0|done|"));
  assert_non_null(strstr(t, "1|done|"));
  assert_non_null(strstr(t, "|1000|300|")); /* env_steps 1000, follower_samples 300 */
  free(t);
}

/* ---- the API -------------------------------------------------------------------------- */

static void one_process_across_iterations_and_a_restart(void **state) {
  cbrl_problem *p = test_four_rooms(3.0, 0.003);
  cbrl_exact *e;
  assert_ok(cbrl_exact_create(&e, p));
  double *x = calloc((size_t)p->dim, sizeof(double)), f;
  assert_ok(cbrl_exact_context(e, 0, x, &f, NULL));
  cbrl_process_opts o = {CBRL_FOLLOWER_C, CBRL_PROCESS_SERVE, 10.0, 300, 50, 1, NULL, NULL};
  cbrl_follower *fo;
  char why[600];
  assert_ok(cbrl_follower_process_create(&fo, p, &o, why, sizeof why));
  cbrl_rng rng;
  cbrl_rng_seed(&rng, 1, 0);
  cbrl_policy pol;
  int64_t m1, m2, m3;
  assert_ok(cbrl_follower_respond(fo, 0, x, cbrl_exact_mdp(e, 0), NULL, &rng, &pol));
  cbrl_follower_process_cost(fo, NULL, &m1);
  assert_int_equal(fo->stats.samples, 300);
  assert_ok(cbrl_follower_respond(fo, 0, x, cbrl_exact_mdp(e, 0), NULL, &rng, &pol));
  cbrl_follower_process_cost(fo, NULL, &m2);
  /* The second iteration needs no hello: the process lived on. */
  assert_int_equal(m2 - m1, m1 - 2);
  assert_ok(cbrl_follower_process_restart(fo));
  assert_ok(cbrl_follower_respond(fo, 0, x, cbrl_exact_mdp(e, 0), NULL, &rng, &pol));
  cbrl_follower_process_cost(fo, NULL, &m3);
  assert_int_equal(m3 - m2, m1); /* hello again */
  double sum = 0.0;
  for (int a = 0; a < p->n_actions; a++) sum += pol.pi[a];
  assert_close(sum, 1.0, 0, 1e-12);
  cbrl_follower_free(fo);
  /* A command that cannot run is refused before anything starts. */
  o.command = "/nonexistent/follower";
  assert_int_equal(cbrl_follower_process_create(&fo, p, &o, why, sizeof why), CBRL_EINVAL);
  assert_non_null(strstr(why, "no such file"));
  o.command = "a 'b";
  assert_int_equal(cbrl_follower_command_check(o.command, why, sizeof why), CBRL_EINVAL);
  assert_non_null(strstr(why, "unbalanced quotes"));
  free(x);
  cbrl_exact_free(e);
  cbrl_problem_free(p);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_protocol_spoken_by_hand),
      cmocka_unit_test(one_process_across_iterations_and_a_restart),
      cmocka_unit_test_setup_teardown(in_process_and_external_learners_give_the_same_store, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(a_fault_fails_its_run_with_the_reason, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(stderr_is_passed_through_prefixed, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(a_follower_brings_its_trajectories, make_dir, remove_dir),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
