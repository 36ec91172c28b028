/* Tests for run/plot.c and run/plot_four_rooms.c: the figures are written, the penalty map
   marks the right cells, and a figure that cannot be written is a clear error. */
#include "run/run_util.h"

#include "cbrl/errors.h"
#include "cbrl/run/plot.h"

static void plots_are_written_and_the_map_marks_the_right_cells(void **state) {
  const char *cfg = write_config("plot.yaml", small);
  char args[512], path[256];
  snprintf(args, sizeof args, "run %s --out %s/p --threads 2 --quiet", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "plot %s/p --format both --smooth 2", dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "4 figures written"));
  long size;
  snprintf(path, sizeof path, "%s/p/plots/curves_lambda0.005_beta2.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/p/plots/penalty_map_lambda0.005_beta2.png", dir);
  assert_true(file_starts_with(path, "\x89PNG", 4, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/p/plots/curves_lambda0.005_beta2.svg", dir);
  assert_true(file_starts_with(path, "<?xml", 5, &size) && size > 5000);
  snprintf(path, sizeof path, "%s/p/plots/penalty_map_lambda0.005_beta2.svg", dir);
  assert_true(file_starts_with(path, "<?xml", 5, &size) && size > 5000);
  /* The text dump of every panel: the grid against the map, the paths against start and goals. */
  snprintf(path, sizeof path, "%s/p/plots/penalty_maps.txt", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[4096];
  int grids = 0, paths = 0;
  while (fgets(line, sizeof line, f)) {
    if (strstr(line, "cells:")) {
      for (int row = 0; row < 13; row++) {
        assert_non_null(fgets(line, sizeof line, f));
        for (int col = 0; col < 13; col++) {
          int cell = cbrl_four_rooms_cell(row, col);
          char want = cell < 0 ? '#' : cell == cbrl_four_rooms_start() ? 'S' : cell == cbrl_four_rooms_goal(0) ? 'A'
                    : cell == cbrl_four_rooms_goal(1) ? 'B' : cell == cbrl_four_rooms_target() ? 'T' : '.';
          if (line[col] != want) fail_msg("row %d col %d: '%c', expected '%c'", row, col, line[col], want);
        }
      }
      assert_non_null(fgets(line, sizeof line, f));
      assert_true(strncmp(line, "penalties ", 10) == 0);
      grids++;
    } else if (strstr(line, "path:")) {
      int goal = strstr(line, "goal G1") ? 0 : 1, first, last = -1, v, off;
      char *q = strstr(line, "path:") + 5;
      assert_int_equal(sscanf(q, "%d%n", &first, &off), 1);
      assert_int_equal(first, cbrl_four_rooms_start());
      for (q += off; sscanf(q, "%d%n", &v, &off) == 1; q += off) last = v;
      /* A path ends at its goal, unless the follower loops (which the dump then shows). */
      if (last != cbrl_four_rooms_goal(goal)) print_message("path to G%d stops at %d\n", goal + 1, last);
      paths++;
    }
  }
  fclose(f);
  assert_int_equal(grids, 2);  /* one panel per algorithm */
  assert_int_equal(paths, 4);  /* two goals per panel */
  snprintf(args, sizeof args, "plot %s/p --format gif", dir);
  assert_int_equal(run(args), 2);
  /* --only: one algorithm, one panel; an algorithm the store lacks is an error. */
  snprintf(args, sizeof args, "plot %s/p --format png --only zero-order --out %s/p/only", dir, dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/p/only/penalty_maps.txt", dir);
  f = fopen(path, "r");
  assert_non_null(f);
  grids = 0;
  while (fgets(line, sizeof line, f)) {
    if (strstr(line, "cells:")) {
      assert_non_null(strstr(line, "panel zero-order"));
      grids++;
    }
  }
  fclose(f);
  assert_int_equal(grids, 1);
  snprintf(args, sizeof args, "plot %s/p --only exact", dir);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "--only exact: no finished runs"));
}

/* Figures into a path that is not a directory: a clear error, from the CLI and the library,
   where the penalty map once discarded its errors and PLplot would have exited the process. */
static void an_unwritable_output_is_an_error(void **state) {
  const char *cfg = write_config("unwritable.yaml", small);
  char args[600], sweep[128], file[128];
  snprintf(args, sizeof args, "run %s --out %s/u --quiet --set seeds=1 --set algorithm=hpgd-batch", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(file, sizeof file, "%s/a_file", dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fclose(f);
  snprintf(args, sizeof args, "plot %s/u --format png --out %s", dir, file);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "cbrl plot: "));
  assert_non_null(strstr(err_text, "cannot write"));
  assert_non_null(strstr(err_text, "Not a directory"));
  snprintf(sweep, sizeof sweep, "%s/u", dir);
  cbrl_plot_opts o = {sweep, file, CBRL_PLOT_PNG, 1, NULL};
  char err[512] = "";
  int n = -1;
  assert_int_equal(cbrl_plot_sweep(&o, &n, err, sizeof err), CBRL_EIO);
  assert_int_equal(n, 0);
  assert_non_null(strstr(err, "Not a directory"));
  /* Into a directory, the same call draws the curves and the map. */
  snprintf(file, sizeof file, "%s/u_plots", dir);
  mkdir(file, 0777);
  assert_int_equal(cbrl_plot_sweep(&o, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  /* A stored x the follower cannot answer (a NaN): the map's best-response error, which the
     map once discarded (drawing an unsolved policy), is the figure's error now. */
  char path[256];
  snprintf(path, sizeof path, "%s/u/results.sqlite", dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE runs SET x = '[nan' || substr(x, instr(x, ','))", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  snprintf(args, sizeof args, "plot %s/u --format png", dir);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "cbrl plot: penalty map of run 0: the follower's best response: a non-finite value"));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plots_are_written_and_the_map_marks_the_right_cells),
      cmocka_unit_test(an_unwritable_output_is_an_error),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
