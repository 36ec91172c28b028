/* Shared by the command-line tests: run the cbrl executable and capture what it printed. */
#ifndef CBRL_CLI_TEST_H
#define CBRL_CLI_TEST_H

#include "test_util.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The folder commands run in (empty: the test's own working directory), and what the last
   command wrote to stdout and stderr. */
static char dir[64] __attribute__((unused)), out[1 << 16], err[1 << 16];

/* Reads a file (at most size - 1 bytes) into buf; an absent file reads as empty. */
static inline void slurp(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, size - 1, f) : 0;
  buf[n] = 0;
  if (f) fclose(f);
}

/* Runs "cbrl ARGS" (in dir when it is set); returns the exit status, with stdout in out and
   stderr in err. */
static inline int run(const char *args) {
  char cmd[8192], out_path[128], err_path[128];
  snprintf(out_path, sizeof out_path, "/tmp/cbrl_cli_%d.out", (int)getpid());
  snprintf(err_path, sizeof err_path, "/tmp/cbrl_cli_%d.err", (int)getpid());
  snprintf(cmd, sizeof cmd, "%s%s%s'%s' %s >%s 2>%s </dev/null", dir[0] ? "cd " : "", dir, dir[0] ? " && " : "",
           CBRL_CLI, args, out_path, err_path);
  int status = system(cmd);
  slurp(out_path, out, sizeof out);
  slurp(err_path, err, sizeof err);
  remove(out_path);
  remove(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Reads the JSON array after "key": into v; returns its length (-1 if the key is absent). */
static inline int json_array(const char *json, const char *key, double *v, int max) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\": [", key);
  const char *p = strstr(json, pat);
  if (!p) return -1;
  p += strlen(pat);
  int n = 0;
  while (*p && *p != ']' && n < max) {
    char *end;
    v[n++] = strtod(p, &end);
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  return n;
}

#endif /* CBRL_CLI_TEST_H */
