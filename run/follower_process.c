/* External-process followers (docs/FOLLOWER_PROTOCOL.md): the child is started with posix_spawn
   (its program resolved beforehand; safe in a threaded sweep), its standard input and output
   are one end of a socket pair (send with MSG_NOSIGNAL: a dead child cannot raise a broken-pipe
   signal in cbrl), its error output a pipe read line by line, and every wait is a poll with
   the per-message deadline. Any fault ends the response with a reason and stops the child. */
#include "cbrl/run/follower_process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wordexp.h>

#include "cbrl/errors.h"
#include "json_line.h"

extern char **environ;

#define RECORD_BYTES 32  /* one step of a trajectories frame, record "full" (docs/FOLLOWER_PROTOCOL.md) */
#define COMPACT_BYTES 12 /* record "compact": no reward, no log pi */

static const char *const mode_names[] = {"serve", "trajectories"};

const char *cbrl_process_mode_name(cbrl_process_mode m) {
  return m == CBRL_PROCESS_SERVE || m == CBRL_PROCESS_TRAJECTORIES ? mode_names[m] : "unknown";
}

int cbrl_process_mode_parse(const char *name, cbrl_process_mode *out) {
  for (int m = 0; m < 2; m++)
    if (name && !strcmp(name, mode_names[m])) {
      *out = (cbrl_process_mode)m;
      return 0;
    }
  return CBRL_EINVAL;
}

typedef struct proc {
  char command[1024];
  char path[PATH_MAX];
  wordexp_t words;
  int have_words;
  cbrl_process_mode mode;
  double timeout;
  int64_t steps;
  int max_steps;
  uint64_t seed;
  void (*on_stderr)(void *user, const char *line);
  void *user;
  pid_t pid;
  int sock, err_fd;
  char *in;            /* bytes read from the child's stdout, not yet consumed */
  size_t in_len, in_cap;
  size_t line_max;     /* longest message accepted */
  char err_line[2048]; /* a partial stderr line */
  size_t err_len;
  char error[1024];
  int wants_mdp, wants_x;
  double *pi, *log_pi; /* S x A: the last policy answered */
  unsigned char *frame; /* a decoded trajectories frame */
  size_t frame_cap;
  cbrl__json_out out;
  double seconds;
  int64_t messages;
} proc;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Splits a command into words (no command substitution, no variables); the program is looked
   up in PATH unless it names a path. */
static int resolve(const char *command, wordexp_t *w, char *path, size_t path_size, char *err, size_t err_size) {
  if (!command || !*command) {
    snprintf(err, err_size, "command: empty");
    return CBRL_EINVAL;
  }
  int rc = wordexp(command, w, WRDE_NOCMD | WRDE_UNDEF);
  if (rc) {
    if (rc == WRDE_NOSPACE) wordfree(w);
    snprintf(err, err_size, "command: '%.200s' cannot be split into words (%s)", command,
             rc == WRDE_BADCHAR ? "an unquoted | & ; < > ( ) { } or newline" :
             rc == WRDE_CMDSUB ? "command substitution is not allowed" :
             rc == WRDE_BADVAL ? "an undefined variable" : "unbalanced quotes");
    return CBRL_EINVAL;
  }
  if (w->we_wordc == 0) {
    wordfree(w);
    snprintf(err, err_size, "command: empty");
    return CBRL_EINVAL;
  }
  const char *prog = w->we_wordv[0];
  struct stat st;
  if (strchr(prog, '/')) {
    if (stat(prog, &st) == 0 && S_ISREG(st.st_mode) && access(prog, X_OK) == 0) {
      snprintf(path, path_size, "%s", prog);
      return 0;
    }
    snprintf(err, err_size, "command: %s: %s", prog,
             stat(prog, &st) != 0 ? "no such file" : S_ISREG(st.st_mode) ? "not executable" : "not a file");
    wordfree(w);
    return CBRL_EINVAL;
  }
  const char *env = getenv("PATH");
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s", env && *env ? env : "/usr/local/bin:/usr/bin:/bin");
  for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char cand[PATH_MAX];
    if (snprintf(cand, sizeof cand, "%s/%s", *d ? d : ".", prog) >= (int)sizeof cand) continue;
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
      snprintf(path, path_size, "%s", cand);
      return 0;
    }
  }
  snprintf(err, err_size, "command: %s: not found in PATH, or not executable", prog);
  wordfree(w);
  return CBRL_EINVAL;
}

int cbrl_follower_command_check(const char *command, char *err, size_t err_size) {
  wordexp_t w;
  char path[PATH_MAX];
  int rc = resolve(command, &w, path, sizeof path, err, err_size);
  if (!rc) wordfree(&w);
  return rc;
}

/* Records why the response failed, and stops the child: a follower that broke the protocol is
   not asked again until restarted. */
static int fail(cbrl_follower *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void stop_child(proc *pr, int polite);

static int fail(cbrl_follower *f, const char *fmt, ...) {
  proc *pr = f->impl;
  char what[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(pr->error, sizeof pr->error, "follower '%.80s': %s", pr->command, what);
  stop_child(pr, 0);
  return CBRL_EIO;
}

/* Passes complete stderr lines on; keeps a partial one (cut at the buffer's size). */
static void drain_stderr(proc *pr, int final) {
  for (;;) {
    ssize_t n = read(pr->err_fd, pr->err_line + pr->err_len, sizeof pr->err_line - 1 - pr->err_len);
    if (n <= 0) break;
    pr->err_len += (size_t)n;
    char *start = pr->err_line, *nl;
    while ((nl = memchr(start, '\n', pr->err_len - (size_t)(start - pr->err_line)))) {
      *nl = 0;
      if (pr->on_stderr) {
        char line[2100];
        snprintf(line, sizeof line, "[follower %ld] %s", (long)pr->pid, start);
        pr->on_stderr(pr->user, line);
      }
      start = nl + 1;
    }
    size_t left = pr->err_len - (size_t)(start - pr->err_line);
    memmove(pr->err_line, start, left);
    pr->err_len = left;
    if (pr->err_len == sizeof pr->err_line - 1) { /* an over-long line: pass on what there is */
      pr->err_line[pr->err_len] = 0;
      if (pr->on_stderr) pr->on_stderr(pr->user, pr->err_line);
      pr->err_len = 0;
    }
  }
  if (final && pr->err_len && pr->on_stderr) {
    pr->err_line[pr->err_len] = 0;
    char line[2100];
    snprintf(line, sizeof line, "[follower %ld] %s", (long)pr->pid, pr->err_line);
    pr->on_stderr(pr->user, line);
    pr->err_len = 0;
  }
}

/* Waits for the child to end (up to `seconds`); describes how it ended in `how`. */
static int reap(proc *pr, double seconds, char *how, size_t how_size) {
  double end = now() + seconds;
  int status;
  for (;;) {
    pid_t r = waitpid(pr->pid, &status, WNOHANG);
    if (r == pr->pid) break;
    if (r < 0 || now() > end) {
      snprintf(how, how_size, "stopped answering");
      return 0;
    }
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  if (WIFEXITED(status)) snprintf(how, how_size, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) snprintf(how, how_size, "was killed by signal %d (%s)", WTERMSIG(status),
                                         strsignal(WTERMSIG(status)));
  else snprintf(how, how_size, "ended");
  pr->pid = 0;
  return 1;
}

static void stop_child(proc *pr, int polite) {
  if (pr->pid > 0) {
    char how[128];
    if (polite && pr->sock >= 0) {
      static const char bye[] = "{\"type\":\"bye\"}\n";
      (void)!send(pr->sock, bye, sizeof bye - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      shutdown(pr->sock, SHUT_WR);
    }
    if (!polite || !reap(pr, 1.0, how, sizeof how)) {
      kill(-pr->pid, SIGKILL); /* its process group: a wrapper's children too */
      kill(pr->pid, SIGKILL);
      waitpid(pr->pid, NULL, 0);
    }
    pr->pid = 0;
  }
  if (pr->err_fd >= 0) {
    drain_stderr(pr, 1);
    close(pr->err_fd);
  }
  if (pr->sock >= 0) close(pr->sock);
  pr->sock = pr->err_fd = -1;
  pr->in_len = 0;
  pr->err_len = 0;
}

static int spawn(cbrl_follower *f) {
  proc *pr = f->impl;
  int sv[2], ep[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return fail(f, "cannot start: %s", strerror(errno));
  /* Room for a whole 10,000-step frame in the socket, so the follower writes it at once
     rather than waiting to be drained piece by piece (the kernel caps the request). */
  for (int i = 0; i < 2; i++) {
    int bytes = 4 << 20;
    setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  if (pipe2(ep, O_CLOEXEC) != 0) {
    close(sv[0]);
    close(sv[1]);
    return fail(f, "cannot start: %s", strerror(errno));
  }
  /* The child's fds 0 and 1 are its end of the socket, 2 the pipe; everything else of cbrl's
     is close-on-exec. Its signal dispositions are the defaults, whatever cbrl ignores. */
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t all;
  sigfillset(&all);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
  posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
  posix_spawnattr_init(&at);
  posix_spawnattr_setsigdefault(&at, &all);
  /* Its own process group: a Ctrl-C at the terminal reaches cbrl, which stops the run and says
     bye, rather than killing the follower mid-message. A follower whose input closes exits. */
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid;
  int rc = posix_spawn(&pid, pr->path, &fa, &at, pr->words.we_wordv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc) {
    close(sv[0]), close(sv[1]), close(ep[0]), close(ep[1]);
    return fail(f, "cannot start %s: %s", pr->path, strerror(rc));
  }
  close(sv[1]);
  close(ep[1]);
  pr->pid = pid;
  pr->sock = sv[0];
  pr->err_fd = ep[0];
  fcntl(pr->sock, F_SETFL, fcntl(pr->sock, F_GETFL) | O_NONBLOCK);
  fcntl(pr->err_fd, F_SETFL, fcntl(pr->err_fd, F_GETFL) | O_NONBLOCK);
  pr->in_len = 0;
  return 0;
}

/* Describes why the child's stdout closed. */
static int gone(cbrl_follower *f, const char *waiting_for) {
  proc *pr = f->impl;
  char how[128];
  drain_stderr(pr, 1);
  if (!reap(pr, 1.0, how, sizeof how)) snprintf(how, sizeof how, "closed its output");
  return fail(f, "%s while cbrl waited for its answer to '%s'", how, waiting_for);
}

/* Waits at most `left` seconds for the socket to be ready for `events`, relaying the child's
   error stream meanwhile: 1 ready (or hung up), 0 not yet, or the error of a failed poll. */
static int wait_socket(cbrl_follower *f, short events, double left) {
  proc *pr = f->impl;
  struct pollfd fds[2] = {{pr->sock, events, 0}, {pr->err_fd, POLLIN, 0}};
  int rc = poll(fds, 2, (int)(left * 1000) + 1);
  if (rc < 0 && errno != EINTR) return fail(f, "poll: %s", strerror(errno));
  if (fds[1].revents) drain_stderr(pr, 0);
  return (fds[0].revents & (events | POLLHUP | POLLERR)) != 0;
}

/* Sends the message in pr->out (a newline is added). */
static int send_message(cbrl_follower *f, const char *what) {
  proc *pr = f->impl;
  if (pr->out.failed) return fail(f, "out of memory writing '%s'", what);
  cbrl__json_put(&pr->out, "\n");
  size_t off = 0;
  double deadline = now() + pr->timeout;
  while (off < pr->out.len) {
    ssize_t n = send(pr->sock, pr->out.buf + off, pr->out.len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return gone(f, what);
    double left = deadline - now();
    if (left <= 0) return fail(f, "did not read cbrl's '%s' within %g s", what, pr->timeout);
    int ready = wait_socket(f, POLLOUT, left);
    if (ready < 0) return ready;
  }
  pr->out.len = 0;
  pr->messages++;
  return 0;
}

/* Reads the next message line into *line (NUL-terminated, valid until the next read) and checks
   it is a JSON object with a string "type", copied to type. */
static int read_message(cbrl_follower *f, const char *waiting_for, char **line, char *type, size_t type_size) {
  proc *pr = f->impl;
  double deadline = now() + pr->timeout;
  char *nl;
  size_t scanned = 0; /* bytes known to hold no newline: each byte is searched once */
  for (;;) {
    nl = pr->in_len > scanned ? memchr(pr->in + scanned, '\n', pr->in_len - scanned) : NULL;
    if (nl) break;
    scanned = pr->in_len;
    if (pr->in_len > pr->line_max)
      return fail(f, "a message longer than %zu bytes (the longest an answer to '%s' may be)", pr->line_max,
                  waiting_for);
    double left = deadline - now();
    if (left <= 0) return fail(f, "no answer to '%s' within %g s", waiting_for, pr->timeout);
    int ready = wait_socket(f, POLLIN, left);
    if (ready < 0) return ready;
    if (!ready) continue;
    if (pr->in_cap - pr->in_len < (pr->in_cap >> 1) + 65536) { /* a long line: read it in large pieces */
      size_t cap = pr->in_cap ? 2 * pr->in_cap : 1 << 17;
      char *b = realloc(pr->in, cap);
      if (!b) return fail(f, "out of memory reading the answer to '%s'", waiting_for);
      pr->in = b;
      pr->in_cap = cap;
    }
    ssize_t n = recv(pr->sock, pr->in + pr->in_len, pr->in_cap - pr->in_len - 1, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      if (pr->in_len) return fail(f, "its answer to '%s' was cut off (%zu bytes without a newline), then it ended",
                                  waiting_for, pr->in_len);
      return gone(f, waiting_for);
    }
    if (n > 0) pr->in_len += (size_t)n;
  }
  size_t len = (size_t)(nl - pr->in);
  *nl = 0;
  char why[160];
  if (cbrl__json_check(pr->in, len, why, sizeof why))
    return fail(f, "answer to '%s': %s: '%.60s'", waiting_for, why, pr->in);
  if (cbrl__json_string(pr->in, "type", type, type_size))
    return fail(f, "answer to '%s': type: missing or not a string", waiting_for);
  *line = pr->in;
  pr->messages++;
  return 0;
}

/* Moves past the line returned by the last read_message. */
static void consume(proc *pr, const char *line) {
  size_t used = strlen(line) + 1;
  memmove(pr->in, pr->in + used, pr->in_len - used);
  pr->in_len -= used;
}

static int started(cbrl_follower *f) {
  proc *pr = f->impl;
  const cbrl_problem *p = f->problem;
  if (pr->pid > 0) return 0;
  int err = spawn(f);
  if (err) return err;
  pr->out.len = 0;
  cbrl__json_put(&pr->out,
                 "{\"type\":\"hello\",\"protocol\":%d,\"mode\":\"%s\",\"n_states\":%d,\"n_actions\":%d,"
                 "\"n_contexts\":%d,\"dim\":%d,\"gamma\":",
                 CBRL_FOLLOWER_PROTOCOL, cbrl_process_mode_name(pr->mode), p->n_states, p->n_actions, p->n_contexts,
                 p->dim);
  cbrl__json_double(&pr->out, p->gamma);
  cbrl__json_put(&pr->out, ",\"lambda\":");
  cbrl__json_double(&pr->out, p->lambda);
  unsigned needs = cbrl_trajectory_needs(p);
  cbrl__json_put(&pr->out, ",\"seed\":%llu,\"needs_reward\":%s,\"needs_log_pi\":%s}", (unsigned long long)pr->seed,
                 needs & CBRL_TRAJ_REWARD ? "true" : "false", needs & CBRL_TRAJ_LOG_PI ? "true" : "false");
  if ((err = send_message(f, "hello"))) return err;
  char *line, type[32];
  if ((err = read_message(f, "hello", &line, type, sizeof type))) return err;
  int64_t version;
  if (strcmp(type, "hello")) return fail(f, "answer to 'hello': type: '%s', expected 'hello'", type);
  if (cbrl__json_int(line, "protocol", 0, 1000000, &version))
    return fail(f, "answer to 'hello': protocol: missing or not an integer");
  if (version != CBRL_FOLLOWER_PROTOCOL)
    return fail(f, "answer to 'hello': protocol: %lld, but cbrl speaks protocol %d", (long long)version,
                CBRL_FOLLOWER_PROTOCOL);
  int wants = 0;
  pr->wants_mdp = cbrl__json_bool(line, "wants_mdp", &wants) == 0 && wants;
  pr->wants_x = cbrl__json_bool(line, "wants_x", &wants) == 0 && wants;
  consume(pr, line);
  return 0;
}

static void put_ints32(cbrl__json_out *o, const char *key, const int32_t *v, int64_t n) {
  cbrl__json_put(o, ",\"%s\":[", key);
  for (int64_t i = 0; i < n; i++) cbrl__json_put(o, i ? ",%d" : "%d", v[i]);
  cbrl__json_put(o, "]");
}

/* The iteration message: context, x, the budget and, when asked for, the MDP. */
static int send_iteration(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m, int64_t steps,
                          int streams, int max_steps) {
  proc *pr = f->impl;
  const cbrl_problem *p = f->problem;
  pr->out.len = 0;
  cbrl__json_put(&pr->out, "{\"type\":\"iteration\",\"context\":%d,\"steps\":%lld,\"streams\":%d,\"max_steps\":%d",
                 context, (long long)steps, streams, max_steps);
  if (pr->wants_x) cbrl__json_doubles(&pr->out, "x", x, p->dim);
  if (pr->wants_mdp) {
    size_t SA = (size_t)m->n_states * m->n_actions;
    cbrl__json_put(&pr->out, ",\"mdp\":{\"terminal\":[");
    for (int s = 0; s < m->n_states; s++) cbrl__json_put(&pr->out, s ? ",%d" : "%d", m->terminal[s]);
    cbrl__json_put(&pr->out, "],\"row\":[");
    for (size_t i = 0; i <= SA; i++) cbrl__json_put(&pr->out, i ? ",%lld" : "%lld", (long long)m->row[i]);
    cbrl__json_put(&pr->out, "]");
    put_ints32(&pr->out, "next", m->next, m->n_transitions);
    cbrl__json_doubles(&pr->out, "prob", m->prob, m->n_transitions);
    cbrl__json_doubles(&pr->out, "r", m->r, (int64_t)SA);
    cbrl__json_doubles(&pr->out, "mu", m->mu, m->n_states);
    cbrl__json_put(&pr->out, "}");
  }
  cbrl__json_put(&pr->out, "}");
  return send_message(f, "iteration");
}

/* A served episode: where it is, how long it has run, whether it may go on. */
typedef struct served {
  int32_t s, t;
  int alive;
  int64_t steps;
} served;

/* Answers one reset or step of the follower in env (the MDP it learns in). */
static int serve(cbrl_follower *f, const char *line, const char *type, const cbrl_mdp *env, cbrl_rng *rng,
                 served *ep) {
  proc *pr = f->impl;
  pr->out.len = 0;
  if (!strcmp(type, "reset")) {
    ep->s = cbrl_sim_initial(env, rng);
    ep->t = 0;
    ep->alive = 1;
    cbrl__json_put(&pr->out, "{\"type\":\"observation\",\"state\":%d}", ep->s);
    return send_message(f, "reset");
  }
  int64_t a;
  if (!ep->alive) return fail(f, "step: the episode has ended (or none began): send reset first");
  if (cbrl__json_int(line, "action", INT32_MIN, INT32_MAX, &a)) return fail(f, "step: action: missing or not an integer");
  if (a < 0 || a >= env->n_actions)
    return fail(f, "step: action: %lld is out of range (0 .. %d)", (long long)a, env->n_actions - 1);
  if (ep->steps >= pr->steps)
    return fail(f, "step: more than the %lld steps the iteration allows", (long long)pr->steps);
  ep->steps++;
  size_t sa = (size_t)ep->s * env->n_actions + (size_t)a;
  int64_t entry;
  int32_t next = cbrl_sim_next(env, ep->s, (int32_t)a, rng, &entry);
  ep->t++;
  int terminated = next < 0, truncated = !terminated && pr->max_steps && ep->t >= pr->max_steps;
  cbrl__json_put(&pr->out, "{\"type\":\"observation\",\"state\":%d,\"reward\":", next);
  cbrl__json_double(&pr->out, env->r[sa]);
  cbrl__json_put(&pr->out, ",\"terminated\":%s,\"truncated\":%s}", terminated ? "true" : "false",
                 truncated ? "true" : "false");
  if (terminated || truncated) ep->alive = 0;
  else ep->s = next;
  return send_message(f, "step");
}

/* Reads a policy message: pi (S x A rows on the simplex) and optionally log_pi. */
static int read_policy(cbrl_follower *f, const char *line, cbrl_policy *out) {
  proc *pr = f->impl;
  const cbrl_problem *p = f->problem;
  int S = p->n_states, A = p->n_actions;
  int64_t SA = (int64_t)S * A;
  int64_t n = cbrl__json_numbers(line, "pi", pr->pi, SA);
  if (n != SA) return fail(f, "policy: pi: %s (%lld numbers expected, n_states x n_actions)",
                           n < 0 ? "missing or not an array of numbers" : "wrong length", (long long)SA);
  int has_log = cbrl__json_member(line, "log_pi") != NULL;
  if (has_log && (n = cbrl__json_numbers(line, "log_pi", pr->log_pi, SA)) != SA)
    return fail(f, "policy: log_pi: %s (%lld numbers expected)", n < 0 ? "not an array of numbers" : "wrong length",
                (long long)SA);
  for (int s = 0; s < S; s++) {
    double sum = 0.0;
    for (int a = 0; a < A; a++) {
      double v = pr->pi[(size_t)s * A + a];
      if (!(v >= 0.0 && v <= 1.0)) return fail(f, "policy: pi: state %d, action %d: %g is not a probability", s, a, v);
      sum += v;
      if (has_log) {
        double l = pr->log_pi[(size_t)s * A + a];
        if (isnan(l) || l > 1e-12) return fail(f, "policy: log_pi: state %d, action %d: %g is not a log-probability", s, a, l);
      } else {
        pr->log_pi[(size_t)s * A + a] = log(v);
      }
    }
    if (fabs(sum - 1.0) > 1e-9) return fail(f, "policy: pi: state %d: the row sums to %.17g, not 1", s, sum);
  }
  *out = (cbrl_policy){S, A, pr->pi, pr->log_pi};
  return 0;
}

/* Reads exactly `bytes` raw bytes after the message line just consumed: first what is already
   buffered, then straight from the socket, under the message's deadline. */
static int read_bytes(cbrl_follower *f, unsigned char *dst, size_t bytes, const char *waiting_for) {
  proc *pr = f->impl;
  size_t have = pr->in_len < bytes ? pr->in_len : bytes;
  memcpy(dst, pr->in, have);
  memmove(pr->in, pr->in + have, pr->in_len - have);
  pr->in_len -= have;
  double deadline = now() + pr->timeout;
  while (have < bytes) {
    double left = deadline - now();
    if (left <= 0) return fail(f, "trajectories: the binary frame stopped at %zu of its %zu bytes for %g s", have, bytes,
                               pr->timeout);
    int ready = wait_socket(f, POLLIN, left);
    if (ready < 0) return ready;
    if (!ready) continue;
    ssize_t n = recv(pr->sock, dst + have, bytes - have, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      return fail(f, "trajectories: the binary frame was cut off at %zu of its %zu bytes (answer to '%s'), then it"
                  " ended", have, bytes, waiting_for);
    if (n > 0) have += (size_t)n;
  }
  return 0;
}

/* Reads a trajectories message of exactly want steps into b (the leader completes them): its
   records base64 in "data", or (encoding binary) as raw bytes right after the line, which is
   consumed here. */
static int read_trajectories(cbrl_follower *f, char *line, int64_t want, cbrl_batch *b) {
  proc *pr = f->impl;
  int64_t n;
  char enc[32];
  if (cbrl__json_int(line, "n", 0, INT64_MAX / 2, &n)) return fail(f, "trajectories: n: missing or not a count");
  if (n != want) return fail(f, "trajectories: n: %lld steps, but the iteration asked for %lld", (long long)n, (long long)want);
  if (cbrl__json_string(line, "encoding", enc, sizeof enc) || (strcmp(enc, "base64") && strcmp(enc, "binary")))
    return fail(f, "trajectories: encoding: expected \"binary\" or \"base64\"");
  char record[16] = "full";
  if (cbrl__json_member(line, "record") &&
      (cbrl__json_string(line, "record", record, sizeof record) || (strcmp(record, "full") && strcmp(record, "compact"))))
    return fail(f, "trajectories: record: expected \"full\" or \"compact\"");
  int compact = !strcmp(record, "compact"), rb = compact ? COMPACT_BYTES : RECORD_BYTES;
  if (compact && cbrl_trajectory_needs(f->problem))
    return fail(f, "trajectories: record: compact records carry no reward or log pi, which this problem needs"
                " (hello's needs_reward, needs_log_pi)");
  size_t bytes = (size_t)n * (size_t)rb;
  if (bytes > pr->frame_cap) {
    unsigned char *fr = realloc(pr->frame, bytes);
    if (!fr) return fail(f, "out of memory for a frame of %zu bytes", bytes);
    pr->frame = fr;
    pr->frame_cap = bytes;
  }
  int64_t samples = -1;
  if (cbrl__json_int(line, "samples", 0, INT64_MAX / 2, &samples)) samples = -1;
  if (!strcmp(enc, "binary")) {
    int64_t declared;
    if (cbrl__json_int(line, "bytes", 0, INT64_MAX / 2, &declared) || declared != (int64_t)bytes)
      return fail(f, "trajectories: bytes: missing, or not %zu (%lld records of %d bytes)", bytes, (long long)n, rb);
    consume(pr, line); /* the frame follows the line */
    int err = read_bytes(f, pr->frame, bytes, "iteration");
    if (err) return err;
  } else {
    const char *d = cbrl__json_member(line, "data");
    if (!d || *d != '"') return fail(f, "trajectories: data: missing or not a string");
    const char *end = strchr(d + 1, '"');
    if (!end || cbrl__base64_decode(d + 1, (size_t)(end - d - 1), pr->frame, bytes))
      return fail(f, "trajectories: data: not base64 of %lld records of %d bytes (%zu bytes)", (long long)n, rb, bytes);
    consume(pr, line);
  }
  for (int64_t i = 0; i < n; i++) {
    const unsigned char *r = pr->frame + (size_t)i * (size_t)rb;
    int32_t s, a, next;
    uint32_t flags;
    double rew = NAN, lp = NAN;
    if (compact) {
      uint16_t a16, f16;
      memcpy(&s, r, 4), memcpy(&next, r + 4, 4), memcpy(&a16, r + 8, 2), memcpy(&f16, r + 10, 2);
      a = a16, flags = f16;
    } else {
      memcpy(&s, r, 4), memcpy(&a, r + 4, 4), memcpy(&next, r + 8, 4), memcpy(&flags, r + 12, 4);
      memcpy(&rew, r + 16, 8), memcpy(&lp, r + 24, 8);
    }
    if (flags & ~7u) return fail(f, "trajectories: step %lld: flags: %u has bits other than 1, 2, 4", (long long)i, flags);
    b->steps[i] = (cbrl_step){s, a, next, -1, -1, rew, NAN, lp, flags};
  }
  b->n_steps = n;
  if (samples >= 0) f->stats.samples = samples;
  return 0;
}

/* One iteration's dialogue: the iteration message, then served resets and steps until the
   follower's answer (a policy, or a batch into b). */
static int dialogue(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                    cbrl_rng *rng, int64_t batch_steps, int streams, int max_steps, cbrl_policy *pol, cbrl_batch *b) {
  proc *pr = f->impl;
  pr->error[0] = 0;
  /* The longest answer this iteration may bring: a policy, or a frame of batch_steps records. */
  pr->line_max = 4096 + 64 * (size_t)f->problem->n_states * (size_t)f->problem->n_actions +
                 (pr->mode == CBRL_PROCESS_TRAJECTORIES ? 44 * (size_t)batch_steps : 0);
  double t0 = now();
  int err = started(f);
  if (err) return err;
  cbrl_mdp env;
  cbrl_simulator_tabular(sim, m, &env);
  int64_t steps = pr->mode == CBRL_PROCESS_SERVE ? pr->steps : batch_steps;
  if ((err = send_iteration(f, context, x, m, steps, streams, pr->mode == CBRL_PROCESS_SERVE ? pr->max_steps : max_steps)))
    return err;
  served ep = {-1, 0, 0, 0};
  const char *last = "iteration";
  const char *want = pr->mode == CBRL_PROCESS_SERVE ? "policy" : "trajectories";
  for (;;) {
    char *line, type[32];
    if ((err = read_message(f, last, &line, type, sizeof type))) return err;
    if (!strcmp(type, "reset") || !strcmp(type, "step")) {
      last = type[0] == 'r' ? "observation (reset)" : "observation (step)";
      err = serve(f, line, type, &env, rng, &ep);
      if (!err) consume(pr, line);
      if (err) return err;
      continue;
    }
    if (!strcmp(type, "error")) {
      char why[400] = "";
      cbrl__json_string(line, "message", why, sizeof why);
      return fail(f, "reported an error: %s", why);
    }
    if (strcmp(type, want))
      return fail(f, "answer to 'iteration': type: '%.30s', expected reset, step or %s", type, want);
    f->stats.samples = ep.steps;
    if (pr->mode == CBRL_PROCESS_SERVE) {
      if ((err = read_policy(f, line, pol))) return err;
      consume(pr, line);
    } else {
      if ((err = read_trajectories(f, line, batch_steps, b))) return err; /* consumes the line */
      if (ep.steps) f->stats.samples += ep.steps;
    }
    break;
  }
  f->stats.iterations = f->stats.samples;
  f->stats.converged = 1;
  pr->seconds += now() - t0;
  return 0;
}

static int process_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                           const cbrl_simulator *sim, cbrl_rng *rng, cbrl_policy *out) {
  return dialogue(f, context, x, m, sim, rng, 0, 0, 0, out, NULL);
}

static int process_trajectories(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m,
                                const cbrl_batch_request *req, cbrl_rng *rng, cbrl_batch *out) {
  return dialogue(f, context, x, m, NULL, rng, req->steps, req->streams, req->max_steps, NULL, out);
}

static void process_destroy(cbrl_follower *f) {
  proc *pr = f->impl;
  if (!pr) return;
  stop_child(pr, 1);
  if (pr->have_words) wordfree(&pr->words);
  free(pr->in);
  free(pr->pi);
  free(pr->log_pi);
  free(pr->frame);
  free(pr->out.buf);
  free(pr);
}

static const cbrl_follower_ops serve_ops = {process_respond, process_destroy, NULL};
static const cbrl_follower_ops trajectories_ops = {NULL, process_destroy, process_trajectories};

int cbrl_follower_process_create(cbrl_follower **out, const cbrl_problem *p, const cbrl_process_opts *o, char *err,
                                 size_t err_size) {
  if (!out || !p || !o || (o->mode != CBRL_PROCESS_SERVE && o->mode != CBRL_PROCESS_TRAJECTORIES)) return CBRL_EINVAL;
  if (o->mode == CBRL_PROCESS_SERVE && o->steps <= 0) {
    snprintf(err, err_size, "steps: a served follower needs a step budget of at least 1");
    return CBRL_EINVAL;
  }
  proc *pr = calloc(1, sizeof *pr);
  if (!pr) return CBRL_ENOMEM;
  pr->sock = pr->err_fd = -1;
  int rc = resolve(o->command, &pr->words, pr->path, sizeof pr->path, err, err_size);
  if (rc) {
    free(pr);
    return rc;
  }
  pr->have_words = 1;
  snprintf(pr->command, sizeof pr->command, "%s", o->command);
  pr->mode = o->mode;
  pr->timeout = o->timeout > 0 ? o->timeout : 30.0;
  pr->steps = o->steps;
  pr->max_steps = o->max_steps;
  pr->seed = o->seed;
  pr->on_stderr = o->on_stderr;
  pr->user = o->user;
  size_t SA = (size_t)p->n_states * p->n_actions;
  pr->line_max = 4096 + 64 * SA; /* a policy; each iteration sets its own (dialogue) */
  pr->pi = malloc(SA * sizeof(double));
  pr->log_pi = malloc(SA * sizeof(double));
  if (!pr->pi || !pr->log_pi ||
      (rc = cbrl_follower_create(out, p, o->mode == CBRL_PROCESS_SERVE ? &serve_ops : &trajectories_ops, pr, "external"))) {
    cbrl_follower tmp = {.impl = pr};
    process_destroy(&tmp);
    return rc ? rc : CBRL_ENOMEM;
  }
  return 0;
}

static proc *proc_of(const cbrl_follower *f) {
  return f && (f->ops == &serve_ops || f->ops == &trajectories_ops) ? f->impl : NULL;
}

const char *cbrl_follower_process_error(const cbrl_follower *f) {
  proc *pr = proc_of(f);
  return pr ? pr->error : "";
}

int cbrl_follower_process_restart(cbrl_follower *f) {
  proc *pr = proc_of(f);
  if (!pr) return CBRL_EINVAL;
  stop_child(pr, 1);
  return 0;
}

void cbrl_follower_process_cost(const cbrl_follower *f, double *seconds, int64_t *messages) {
  proc *pr = proc_of(f);
  if (seconds) *seconds = pr ? pr->seconds : 0.0;
  if (messages) *messages = pr ? pr->messages : 0;
}

long cbrl_follower_process_pid(const cbrl_follower *f) {
  proc *pr = proc_of(f);
  return pr && pr->pid > 0 ? (long)pr->pid : 0;
}
