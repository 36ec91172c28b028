/* cbrl plot: figures of a stored sweep. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cbrl/run/plot.h"

static const char plot_usage[] =
    "Usage: cbrl plot DIR [DIR...] [--format png|svg|both] [--out PLOTDIR] [--smooth K]\n"
    "                 [--only ALG[,ALG...]]\n"
    "\n"
    "Draws the figures of the sweep in DIR (PLplot, cairo drivers), white background; the\n"
    "runs of several DIRs are pooled (figures go to the first's plots/ unless --out). One\n"
    "figure per lambda (and beta, on Four-Rooms); a file name carries only the axes the sweep\n"
    "has: _lambdaL where lambda is stored, _betaB where the environment takes beta:\n"
    "  curves_lambdaL_betaB.*       exact F against outer iteration, mean and standard-error\n"
    "                               band over seeds, per algorithm at its chosen learning rate\n"
    "  samples_lambdaL_betaB.*      exact F against cumulative follower samples (soft-q\n"
    "                               followers and RT-Q)\n"
    "  tax_rates_lambdaL.*          tax design: income tax and the three VAT rates (a rate\n"
    "                               above 1, more than the whole base, is marked)\n"
    "  households_lambdaL.*         tax design: the households' objective J and the expected\n"
    "                               tax revenue; J's spread across types on its own axis below\n"
    "  penalty_map_lambdaL_betaB.*  Four-Rooms: the learned penalty per cell, walls, start S,\n"
    "                               goals G1 and G2, the +1 target, and the follower's most\n"
    "                               likely path to each goal; one panel per algorithm (its\n"
    "                               median seed), all on one colour scale; penalty_maps.txt\n"
    "                               dumps every panel as text\n"
    "Colours follow the algorithm; line styles the quantity. Titles name the environment, or\n"
    "the problem file's name for env: file.\n"
    "\n"
    "Options:\n"
    "  --format F   png, svg or both (default both)\n"
    "  --out DIR    where to write (default DIR/plots)\n"
    "  --smooth K   moving average over the last K outer iterations (default 1: none); the\n"
    "               stored points are every metrics_every iterations, then every iteration\n"
    "               of the final window, so K = 50 averages 5 points early and 50 at the end\n"
    "  --only LIST  draw only these algorithms (comma-separated, for example exact,zero-order)\n"
    "\n"
    "Example:\n"
    "  cbrl plot runs/fr003 --format png --smooth 50\n";

int cli_plot(int argc, char **argv) {
  const char *cmd = "plot", *dir = NULL, *out = NULL, *only = NULL;
  char dirs[4096] = "";
  int formats = CBRL_PLOT_PNG | CBRL_PLOT_SVG;
  long smooth = 1;
  enum { O_HELP = 1, O_FORMAT, O_OUT, O_ONLY, O_SMOOTH };
  static const cli_opt opts[] = {{"help", 0, O_HELP, 'h'}, {"format", 1, O_FORMAT, 0}, {"out", 1, O_OUT, 0},
                                 {"only", 1, O_ONLY, 0},   {"smooth", 1, O_SMOOTH, 0}, {0, 0, 0, 0}};
  cli_args a;
  cli_args_init(&a, cmd, argc, argv, opts);
  for (int id; (id = cli_args_next(&a)) != CLI_ARGS_END;) {
    if (id == CLI_ARGS_ERROR) {
      return CLI_EXIT_USAGE;
    } else if (id == O_HELP) {
      fputs(plot_usage, stdout);
      return 0;
    } else if (id == O_FORMAT) {
      const char *f = a.value;
      if (!strcmp(f, "png")) formats = CBRL_PLOT_PNG;
      else if (!strcmp(f, "svg")) formats = CBRL_PLOT_SVG;
      else if (!strcmp(f, "both")) formats = CBRL_PLOT_PNG | CBRL_PLOT_SVG;
      else return cli_usage_error(cmd, "--format: expected png, svg or both, got '%s'", f);
    } else if (id == O_OUT) {
      out = a.value;
      if (cli_check_path(cmd, "--out", out)) return CLI_EXIT_USAGE;
    } else if (id == O_ONLY) {
      only = a.value;
      if (!only[0]) return cli_usage_error(cmd, "--only: give at least one algorithm");
      /* Every name must be an algorithm's (bad input, exit 2); one the sweep lacks is found
         when the store is read. */
      const char *names[CBRL_ALG_COUNT_];
      char list[256] = "";
      for (int i = 0; i < CBRL_ALG_COUNT_; i++) {
        names[i] = cbrl_algorithm_name((cbrl_algorithm)i);
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
      }
      for (const char *t = only; *t;) {
        size_t len = strcspn(t, ",");
        char name[64];
        if (!len) return cli_usage_error(cmd, "--only: an empty name in '%s'", only);
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), t);
        int known = 0;
        for (int i = 0; i < CBRL_ALG_COUNT_; i++) known |= strlen(names[i]) == len && !strncmp(names[i], t, len);
        if (!known) return cli_unknown_value(cmd, "only", "algorithm", name, names, CBRL_ALG_COUNT_, list);
        t += len;
        if (*t == ',' && !*++t) return cli_usage_error(cmd, "--only: an empty name in '%s'", only);
      }
    } else if (id == O_SMOOTH) {
      if (cli_parse_int(cmd, "--smooth", a.value, 1, 100000, &smooth)) return CLI_EXIT_USAGE;
    } else {
      char store[1100];
      struct stat st;
      if (cli_check_path(cmd, "DIR", a.value)) return CLI_EXIT_USAGE;
      snprintf(store, sizeof store, "%s/results.sqlite", a.value);
      if (stat(store, &st) != 0) return cli_usage_error(cmd, "%s: no results store", store);
      if (!dir) dir = a.value;
      if (strlen(dirs) + strlen(a.value) + 2 >= sizeof dirs) return cli_usage_error(cmd, "too many directories");
      if (dirs[0]) strcat(dirs, "\n");
      strcat(dirs, a.value);
    }
  }
  if (!dir) return cli_usage_error(cmd, "give a sweep directory (try 'cbrl plot --help')");
  char out_dir[1100];
  snprintf(out_dir, sizeof out_dir, "%s", out ? out : dir);
  if (!out) strncat(out_dir, "/plots", sizeof out_dir - strlen(out_dir) - 1);
  /* Issue 13 class 6: --out must be a directory cbrl can write (PLplot would otherwise meet
     the trouble itself); a regular file or an unwritable directory is refused here. */
  struct stat ost;
  if (stat(out_dir, &ost) == 0 && !S_ISDIR(ost.st_mode))
    return cli_usage_error(cmd, "%s%s: exists and is not a directory", out ? "--out: " : "", out_dir);
  if (mkdir(out_dir, 0777) != 0 && errno != EEXIST)
    return cli_usage_error(cmd, "%s%s: cannot create: %s", out ? "--out: " : "", out_dir, strerror(errno));
  char probe[1200];
  snprintf(probe, sizeof probe, "%s/.cbrl-write-test-XXXXXX", out_dir);
  int pfd = mkstemp(probe);
  if (pfd < 0) {
    int e = errno;
    if (!out) rmdir(out_dir); /* only if empty: what it made */
    return cli_usage_error(cmd, "%s%s: cannot write there: %s", out ? "--out: " : "", out_dir, strerror(e));
  }
  close(pfd);
  unlink(probe);
  char err[1024];
  cbrl_plot_opts o = {dirs, out_dir, formats, (int)smooth, only};
  int n = 0;
  if (cbrl_plot_sweep(&o, &n, err, sizeof err)) {
    fprintf(stderr, "cbrl plot: %s\n", err);
    return CLI_EXIT_FAILURE;
  }
  fprintf(stderr, "cbrl plot: %d figure%s written to %s\n", n, n == 1 ? "" : "s", out_dir);
  return 0;
}
