/* Tests for run/outfile.c and the outputs written through it (issue 13 classes 6 and 10):
   paths are checked whole, and a full disk (simulated with RLIMIT_FSIZE: writes past the limit
   fail with EFBIG) leaves every output as it was, never empty or partial, with exit 1. */
#include "run/run_util.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbrl/errors.h"
#include "cbrl/run/outfile.h"
#include "cbrl/run/tensorboard.h"

static void paths_are_checked_whole(void **state) {
  (void)state;
  char err[256], longp[2000];
  assert_int_equal(cbrl_path_check("--out", "", err, sizeof err), CBRL_EINVAL);
  assert_string_equal(err, "--out: the path is empty");
  memset(longp, 'a', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  longp[CBRL_PATH_MAX] = 0;
  assert_int_equal(cbrl_path_check("--csv", longp, err, sizeof err), 0); /* the limit itself is fine */
  longp[CBRL_PATH_MAX] = 'a';
  longp[CBRL_PATH_MAX + 1] = 0;
  assert_int_equal(cbrl_path_check("--csv", longp, err, sizeof err), CBRL_EINVAL);
  assert_non_null(strstr(err, "--csv: the path is 901 bytes long, longer than the limit of 900"));
  assert_int_equal(cbrl_path_check("DIR", "a\tb", err, sizeof err), CBRL_EINVAL);
  assert_non_null(strstr(err, "control character (byte 2)"));
  assert_int_equal(cbrl_path_check("DIR", "runs/fr003", err, sizeof err), 0);
  /* The library's own directory makers check too (an empty path was read past). */
  assert_int_equal(cbrl_tb_prepare("", err, sizeof err), CBRL_EINVAL);
  assert_string_equal(err, "tensorboard: the path is empty");
  assert_int_equal(cbrl_tb_prepare(longp, err, sizeof err), CBRL_EINVAL);
  assert_non_null(strstr(err, "longer than the limit of 900"));
}

static char *slurp_file(const char *path) { return slurp_capped(path, 1 << 20); }

/* Files in d whose names contain ".tmp-": temporaries a failed write must not leave. */
static int temporaries_in(const char *d) {
  DIR *dd = opendir(d);
  int n = 0;
  if (!dd) return 0;
  for (struct dirent *e; (e = readdir(dd));) n += strstr(e->d_name, ".tmp-") != NULL;
  closedir(dd);
  return n;
}

static void a_failed_write_leaves_the_old_file(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "%s/out.txt", dir);
  FILE *f = fopen(path, "w");
  fputs("OLD\n", f);
  fclose(f);
  static char big[200000];
  memset(big, 'x', sizeof big);
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit rl = {4096, 4096};
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &rl);
    char err[512];
    int rc = cbrl_outfile_write(path, big, sizeof big, err, sizeof err);
    _exit(rc == CBRL_EIO && strstr(err, "cannot write: File too large") ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *now = slurp_file(path);
  assert_string_equal(now, "OLD\n");
  free(now);
  assert_int_equal(temporaries_in(dir), 0);
  char err[512];
  assert_int_equal(cbrl_outfile_write(path, "NEW\n", 4, err, sizeof err), 0);
  now = slurp_file(path);
  assert_string_equal(now, "NEW\n");
  free(now);
  /* Into a directory that does not exist: an error naming the path, nothing made. */
  char nowhere[300];
  snprintf(nowhere, sizeof nowhere, "%s/no/such/dir/f", dir);
  assert_int_equal(cbrl_outfile_write(nowhere, "x", 1, err, sizeof err), CBRL_EIO);
  assert_non_null(strstr(err, "no/such/dir/f: cannot write: No such file or directory"));
}

/* Runs "cbrl ARGS" with writes limited to bytes per file (a disk that fills at that size). */
static int run_limited(const char *args, long bytes) {
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit rl = {(rlim_t)bytes, (rlim_t)bytes};
    signal(SIGXFSZ, SIG_IGN); /* inherited across exec: the write fails with EFBIG instead */
    setrlimit(RLIMIT_FSIZE, &rl);
    _exit(run(args));
  }
  int status;
  waitpid(pid, &status, 0);
  /* run() in the child filled its own copy of err_text: read the file again. */
  char errp[128];
  snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
  FILE *f = fopen(errp, "r");
  size_t n = f ? fread(err_text, 1, sizeof err_text - 1, f) : 0;
  err_text[n] = 0;
  if (f) fclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void a_full_disk_leaves_no_empty_or_partial_output(void **state) {
  (void)state;
  const char *cfg = write_config("full.yaml", "env: random\nstates: 30\nactions: 3\niterations: 40\nfinal_window: 5\n"
                                              "seeds: 4\nlearning_rate: [0.5, 0.1, 0.05]\n");
  char args[900], path[300], sdir[256];
  snprintf(sdir, sizeof sdir, "%s/s", dir);
  snprintf(args, sizeof args, "run %s --out %s --quiet", cfg, sdir);
  assert_int_equal(run(args), 0);
  /* Keep the store's -wal and -shm in place, as a reader in a writable directory creates them
     (and SQLite's 32 KiB -shm would itself meet the limit). */
  sqlite3 *keep;
  snprintf(path, sizeof path, "%s/results.sqlite", sdir);
  assert_int_equal(sqlite3_open(path, &keep), SQLITE_OK);
  assert_int_equal(sqlite3_exec(keep, "SELECT count(*) FROM runs", NULL, NULL, NULL), SQLITE_OK);
  /* The old table.md stays what it was. */
  snprintf(path, sizeof path, "%s/table.md", sdir);
  FILE *f = fopen(path, "w");
  fputs("OLD\n", f);
  fclose(f);
  snprintf(args, sizeof args, "table %s", sdir);
  assert_int_equal(run_limited(args, 100), 1);
  assert_non_null(strstr(err_text, "table.md: cannot write: File too large"));
  char *t = slurp_file(path);
  assert_string_equal(t, "OLD\n");
  free(t);
  /* CSV: none at all. */
  snprintf(args, sizeof args, "export %s --csv %s/s.csv", sdir, dir);
  assert_int_equal(run_limited(args, 1000), 1);
  assert_non_null(strstr(err_text, "s.csv: cannot write: File too large"));
  snprintf(path, sizeof path, "%s/s.csv", dir);
  assert_int_equal(access(path, F_OK), -1);
  /* Figures: none, and exit 1. */
  snprintf(args, sizeof args, "plot %s --out %s/p --format png", sdir, dir);
  assert_int_equal(run_limited(args, 2000), 1);
  snprintf(path, sizeof path, "%s/p", dir);
  DIR *d = opendir(path);
  assert_non_null(d);
  int files = 0;
  for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
  closedir(d);
  assert_int_equal(files, 0);
  /* TensorBoard export: exit 1, no partial event file. */
  snprintf(args, sizeof args, "export %s --tensorboard %s/tb", sdir, dir);
  assert_int_equal(run_limited(args, 300), 1);
  snprintf(args, sizeof args, "find %s/tb -name 'events*' | grep -q .", dir);
  assert_int_not_equal(system(args), 0);
  sqlite3_close(keep);
  assert_int_equal(temporaries_in(sdir), 0);
  assert_int_equal(temporaries_in(dir), 0);
  /* And with room, every output is written. */
  snprintf(args, sizeof args, "table %s", sdir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/table.md", sdir);
  t = slurp_file(path);
  assert_non_null(strstr(t, "## Exact F"));
  free(t);
}

/* config.yaml is the store's config for people: written whole or the sweep fails. */
static void config_yaml_is_whole_or_the_sweep_fails(void **state) {
  (void)state;
  char mnt[128], cmd[600], args[600], path[300];
  snprintf(mnt, sizeof mnt, "%s/tiny", dir);
  mkdir(mnt, 0777);
  /* A store needs a few 4 KiB pages; a tmpfs of 8 KiB holds the first, not config.yaml's. */
  snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=8k tmpfs %s 2>/dev/null", mnt);
  if (system(cmd) != 0) skip(); /* needs the right to mount */
  const char *cfg = write_config("c.yaml", "env: random\nstates: 30\nactions: 3\niterations: 10\nfinal_window: 5\n");
  snprintf(args, sizeof args, "run %s --out %s/o --quiet", cfg, mnt);
  int status = run(args);
  snprintf(path, sizeof path, "%s/o/config.yaml", mnt);
  struct stat st;
  int have = stat(path, &st) == 0;
  long size = have ? (long)st.st_size : -1;
  snprintf(cmd, sizeof cmd, "umount %s", mnt);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(status, 1);
  assert_true(!have || size > 0); /* never an empty config.yaml */
  assert_null(strstr(err_text, "not a cbrl results store"));
  assert_non_null(strstr(err_text, "disk is full"));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(paths_are_checked_whole),
      cmocka_unit_test(a_failed_write_leaves_the_old_file),
      cmocka_unit_test(a_full_disk_leaves_no_empty_or_partial_output),
      cmocka_unit_test(config_yaml_is_whole_or_the_sweep_fails),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
