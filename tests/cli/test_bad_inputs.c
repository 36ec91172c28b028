/* The hostile-input catalogue (tests/bad_inputs/MANIFEST): every malformed problem file,
   config and command line gets exit status 2, one line on stderr naming the place and the
   problem, nothing on stdout, and writes nothing; every hostile follower process (kind
   follower) fails the computation the same way but with exit status 1, within its timeout. */
#include "test_util.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CATALOGUE CBRL_SOURCE_DIR "/tests/bad_inputs"

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

static char *trim(char *s) {
  while (*s == ' ') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\n')) *--e = 0;
  return s;
}

static void every_catalogued_input_is_rejected_cleanly(void **state) {
  FILE *m = fopen(CATALOGUE "/MANIFEST", "r");
  assert_non_null(m);
  char tmp[] = "/tmp/cbrl_bad_XXXXXX";
  assert_non_null(mkdtemp(tmp));
  int before = count_entries(CATALOGUE), cases = 0;
  char line[1024];
  while (fgets(line, sizeof line, m)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    /* The expected text follows the last '|' (a command line may contain '|' of its own). */
    char *last = strrchr(line, '|');
    assert_non_null(last);
    *last = 0;
    char *kind = strtok(line, "|"), *input = strtok(NULL, ""), *expect = strtok(last + 1, "\n");
    assert_non_null(expect);
    kind = trim(kind), input = trim(input), expect = trim(expect);
    char out_dir[256], cmd[2048];
    snprintf(out_dir, sizeof out_dir, "%s/out%d", tmp, cases);
    if (!strcmp(kind, "problem"))
      snprintf(cmd, sizeof cmd, "cd %s && '%s' hypergrad --problem '%s'", CATALOGUE, CBRL_CLI, input);
    else if (!strcmp(kind, "config"))
      snprintf(cmd, sizeof cmd, "cd %s && '%s' run '%s' --out %s", CATALOGUE, CBRL_CLI, input, out_dir);
    else if (!strcmp(kind, "problem-pipe")) /* a pipe has no size: read once, not stat'ed */
      snprintf(cmd, sizeof cmd, "cd %s && cat '%s' | '%s' hypergrad --problem /dev/stdin", CATALOGUE, input, CBRL_CLI);
    else if (!strcmp(kind, "config-pipe"))
      snprintf(cmd, sizeof cmd, "cd %s && cat '%s' | '%s' run /dev/stdin --out %s", CATALOGUE, input, CBRL_CLI, out_dir);
    else if (!strcmp(kind, "follower")) { /* "MODE FILE": a hostile follower process, a failed computation */
      char mode[32], file[256];
      if (sscanf(input, "%31s %255s", mode, file) != 2) fail_msg("follower %s: expected MODE FILE", input);
      snprintf(cmd, sizeof cmd, "cd %s && '%s' hypergrad --env four-rooms --estimator hpgd-batch --samples 2 --steps 1000"
               " --follower-command '/usr/bin/python3 %s' --follower-mode %s%s --follower-timeout 1", CATALOGUE, CBRL_CLI,
               file, mode, strcmp(mode, "serve") ? "" : " --follower-steps 50");
    } else
      snprintf(cmd, sizeof cmd, "cd %s && '%s' %s", CATALOGUE, CBRL_CLI, input);
    char full[2300];
    snprintf(full, sizeof full, "(%s) >%s/stdout 2>%s/stderr </dev/null", cmd, tmp, tmp);
    int status = system(full);
    char path[300], err[4096] = {0}, out[256] = {0};
    snprintf(path, sizeof path, "%s/stderr", tmp);
    FILE *f = fopen(path, "r");
    size_t n = fread(err, 1, sizeof err - 1, f);
    err[n] = 0;
    fclose(f);
    snprintf(path, sizeof path, "%s/stdout", tmp);
    f = fopen(path, "r");
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    /* A follower that breaks the protocol fails the computation (exit 1); bad input exits 2. */
    int want = strcmp(kind, "follower") ? 2 : 1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
      fail_msg("%s %s: status %d, expected exit %d (%s)", kind, input, WEXITSTATUS(status), want, err);
    if (!strstr(err, expect)) fail_msg("%s %s: '%s' lacks '%s'", kind, input, err, expect);
    char *nl = strchr(err, '\n');
    if (!nl || nl[1]) fail_msg("%s %s: stderr is not one line: '%s'", kind, input, err);
    if (out[0]) fail_msg("%s %s: wrote to stdout", kind, input);
    struct stat st;
    if (stat(out_dir, &st) == 0) fail_msg("%s %s: created %s", kind, input, out_dir);
    cases++;
  }
  fclose(m);
  assert_int_equal(count_entries(CATALOGUE), before);
  assert_true(cases >= 40);
  print_message("%d hostile inputs rejected cleanly\n", cases);
  char rm[64];
  snprintf(rm, sizeof rm, "rm -rf %s", tmp);
  assert_int_equal(system(rm), 0);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_catalogued_input_is_rejected_cleanly),
  };
  return CBRL_RUN_TESTS(argc, argv, tests);
}
