/* libFuzzer target for the command line (issue 13): the input, split at NUL bytes (and its
   first byte picking the command), is the argv of the real `cbrl` executable (CBRL_CLI, or
   the cbrl beside this program), run in a scratch directory with a 5-second limit and
   --max-memory 256M appended. Whatever it is given, cbrl exits 0, 1 or 2, never by a signal
   (a timeout is not a failure: long computations are legal), and exit 2 comes with exactly
   one line on stderr and nothing on stdout. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const commands[] = {"hypergrad", "run", "table", "export", "plot", "demo", "--help", "version"};
static char cli[4096], scratch[64];

static void find_cli(void) {
  const char *e = getenv("CBRL_CLI");
  if (e) {
    snprintf(cli, sizeof cli, "%s", e);
    return;
  }
  ssize_t n = readlink("/proc/self/exe", cli, sizeof cli - 8);
  if (n < 0) abort();
  cli[n] = 0;
  char *slash = strrchr(cli, '/');
  strcpy(slash + 1, "cbrl");
}

static size_t slurp(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  return n > 0 ? (size_t)n : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!cli[0]) {
    find_cli();
    snprintf(scratch, sizeof scratch, "/tmp/cbrl_fuzz_argv_%d", (int)getpid());
    mkdir(scratch, 0700);
  }
  if (size == 0 || size > 2048) return 0;
  char *copy = malloc(size + 1);
  memcpy(copy, data + 1, size - 1);
  copy[size - 1] = 0;
  char *argv[72];
  int argc = 0;
  argv[argc++] = cli;
  argv[argc++] = (char *)commands[data[0] % (sizeof commands / sizeof commands[0])];
  for (char *p = copy; p < copy + size - 1 && argc < 68; p += strlen(p) + 1) argv[argc++] = p;
  argv[argc++] = "--max-memory";
  argv[argc++] = "256M";
  argv[argc] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(scratch)) _exit(99);
    int out = open("stdout", O_WRONLY | O_CREAT | O_TRUNC, 0600), err = open("stderr", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0), dup2(out, 1), dup2(err, 2);
    alarm(5);
    execv(cli, argv);
    _exit(98);
  }
  int status;
  waitpid(pid, &status, 0);
  char out[256], err[8192], path[128];
  snprintf(path, sizeof path, "%s/stdout", scratch);
  size_t n_out = slurp(path, out, sizeof out);
  snprintf(path, sizeof path, "%s/stderr", scratch);
  slurp(path, err, sizeof err);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s/* 2>/dev/null", scratch);
  if (system(cmd)) {
  }
  free(copy);
  if (WIFSIGNALED(status)) {
    if (WTERMSIG(status) == SIGALRM) return 0; /* a long computation, legally */
    fprintf(stderr, "cbrl died of signal %d: %s\n", WTERMSIG(status), err);
    abort();
  }
  int code = WEXITSTATUS(status);
  if (code == 98 || code == 99) abort();
  if (code != 0 && code != 1 && code != 2 && !(code > 128)) {
    fprintf(stderr, "cbrl exited %d\n", code);
    abort();
  }
  if (code == 2) {
    char *nl = strchr(err, '\n');
    if (!nl || nl[1] || n_out) {
      fprintf(stderr, "exit 2 without exactly one line on stderr (or with stdout): '%s'\n", err);
      abort();
    }
  }
  return 0;
}
