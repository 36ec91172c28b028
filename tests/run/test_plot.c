/* Tests for run/plot.c and run/plot_four_rooms.c: the figures are written, the penalty map
   marks the right cells, and a figure that cannot be written is a clear error. */
#include "run/run_util.h"

#include <dirent.h>
#include <math.h>
#include <png.h>

#include "cbrl/errors.h"
#include "cbrl/run/plot.h"

/* A PNG read back as 8-bit RGB rows (libpng: the figure as cairo wrote it, no other decoder). */
typedef struct image {
  int width, height;
  unsigned char *rgb; /* height x width x 3 */
} image;

static int image_read(const char *path, image *im) {
  png_image p;
  memset(&p, 0, sizeof p);
  p.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&p, path)) return 0;
  p.format = PNG_FORMAT_RGB;
  im->width = (int)p.width, im->height = (int)p.height;
  im->rgb = malloc(PNG_IMAGE_SIZE(p));
  if (!im->rgb || !png_image_finish_read(&p, NULL, im->rgb, 0, NULL)) {
    free(im->rgb);
    png_image_free(&p);
    return 0;
  }
  return 1;
}

static const unsigned char *pixel(const image *im, int x, int y) { return im->rgb + 3 * ((size_t)y * im->width + x); }

/* The bounding box, within columns [x_lo, x_hi), of the pixels that pass `is`. */
static int bbox(const image *im, int x_lo, int x_hi, int (*is)(const unsigned char *), int box[4]) {
  box[0] = box[1] = 1 << 30, box[2] = box[3] = -1;
  for (int y = 0; y < im->height; y++)
    for (int x = x_lo; x < x_hi; x++)
      if (is(pixel(im, x, y))) {
        if (x < box[0]) box[0] = x;
        if (y < box[1]) box[1] = y;
        if (x > box[2]) box[2] = x;
        if (y > box[3]) box[3] = y;
      }
  return box[2] >= 0;
}

/* The outer walls: the first and last rows and columns of the panel with at least 100 wall
   pixels (antialiased text has a few pixels of the walls' grey too). */
static int outer_walls(const image *im, int x_lo, int x_hi, int (*is)(const unsigned char *), int box[4]) {
  box[0] = box[1] = 1 << 30, box[2] = box[3] = -1;
  for (int y = 0; y < im->height; y++) {
    int n = 0;
    for (int x = x_lo; x < x_hi; x++) n += is(pixel(im, x, y));
    if (n >= 100) box[1] = y < box[1] ? y : box[1], box[3] = y;
  }
  for (int x = x_lo; x < x_hi; x++) {
    int n = 0;
    for (int y = 0; y < im->height; y++) n += is(pixel(im, x, y));
    if (n >= 100) box[0] = x < box[0] ? x : box[0], box[2] = x;
  }
  return box[2] >= 0 && box[3] >= 0;
}

static int is_wall(const unsigned char *c) { return abs(c[0] - 60) <= 4 && abs(c[1] - 60) <= 4 && abs(c[2] - 60) <= 4; }
static int is_red(const unsigned char *c) { return c[0] > c[1] + 40 && c[0] > c[2] + 40; }

/* Sets the stored x of every run of `algorithm` to x[cell] = a, 0 elsewhere. */
static void store_x(const char *sweep, const char *algorithm, int cell, double a) {
  char path[256], json[4096], sql[4400];
  int n = snprintf(json, sizeof json, "[");
  for (int i = 0; i < CBRL_FOUR_ROOMS_DIM; i++) n += snprintf(json + n, sizeof json - n, "%s%.17g", i ? ", " : "", i == cell ? a : 0.0);
  snprintf(json + n, sizeof json - n, "]");
  snprintf(sql, sizeof sql, "UPDATE runs SET x = '%s' WHERE algorithm = '%s'", json, algorithm);
  snprintf(path, sizeof path, "%s/results.sqlite", sweep);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

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
  /* Issue 13 class 6: bad input (2), one located line, before PLplot is ever reached. */
  assert_int_equal(run(args), 2);
  assert_non_null(strstr(err_text, "cbrl plot: --out: "));
  assert_non_null(strstr(err_text, "a_file: exists and is not a directory"));
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

/* Issue 13 class 14: every plot error says what failed, and a name --only does not know is bad
   input (exit 2), not a failed computation. */
static void plot_errors_say_what_failed(void **state) {
  (void)state;
  char args[700], sweep[128], path[256];
  /* Stores that are not cbrl's: an empty file and a database of another program. */
  for (int i = 0; i < 2; i++) {
    snprintf(sweep, sizeof sweep, "%s/not_cbrl_%d", dir, i);
    mkdir(sweep, 0777);
    snprintf(path, sizeof path, "%s/results.sqlite", sweep);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    if (i) {
      sqlite3 *db;
      assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
      assert_int_equal(sqlite3_exec(db, "CREATE TABLE other (a)", NULL, NULL, NULL), SQLITE_OK);
      sqlite3_close(db);
    }
    cbrl_plot_opts o = {sweep, sweep, CBRL_PLOT_PNG, 1, NULL};
    char err[512] = "stale";
    int n = -1;
    assert_int_not_equal(cbrl_plot_sweep(&o, &n, err, sizeof err), 0);
    /* The store's own check names it (run/store.c: "not a cbrl results store (...)"). */
    if (!strstr(err, "results.sqlite") || !strstr(err, "not a cbrl results store")) fail_msg("%s", err);
    snprintf(args, sizeof args, "plot %s", sweep);
    assert_int_equal(run(args), 1);
    if (!strstr(err_text, "cbrl plot: ") || strlen(err_text) < strlen("cbrl plot: x\n") || strchr(err_text, '\n') != strrchr(err_text, '\n'))
      fail_msg("not one line that says what failed: '%s'", err_text);
    assert_non_null(strstr(err_text, "not a cbrl results store"));
  }
  const char *cfg = write_config("only.yaml", small);
  snprintf(args, sizeof args, "run %s --out %s/o --quiet --set seeds=1 --set algorithm=hpgd-batch", cfg, dir);
  assert_int_equal(run(args), 0);
  const char *bad[][2] = {{"nope", "unknown algorithm 'nope'"},
                          {"hpgd-batch,zero-ordr", "unknown algorithm 'zero-ordr'"},
                          {"exact,,amd", "an empty name"},
                          {"exact,", "an empty name"},
                          {",exact", "an empty name"},
                          {"rtq", "unknown algorithm 'rtq'"},
                          {"HPGD", "unknown algorithm 'HPGD'"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(args, sizeof args, "plot %s/o --out %s/o_only --only '%s'", dir, dir, bad[i][0]);
    if (run(args) != 2 || !strstr(err_text, bad[i][1])) fail_msg("--only %s: %s", bad[i][0], err_text);
    assert_true(strchr(err_text, '\n') == strrchr(err_text, '\n'));
    struct stat st;
    snprintf(path, sizeof path, "%s/o_only", dir);
    assert_int_not_equal(stat(path, &st), 0); /* nothing written */
  }
  /* A known algorithm the sweep lacks: the store is read to find out; exit 1, named. */
  snprintf(args, sizeof args, "plot %s/o --only amd", dir);
  assert_int_equal(run(args), 1);
  assert_non_null(strstr(err_text, "--only amd: no finished runs"));
  snprintf(args, sizeof args, "plot %s/o --only hpgd-batch", dir);
  assert_int_equal(run(args), 0);
}

/* One penalised cell, the top door (3, 6): in the PNG its red square lies on that cell of the
   grid the walls draw (13 x 13 cells between the outer walls), where it was once drawn half a
   cell up and right. Two panels with the same cell at full and at half the penalty share one
   colour scale: the second is lighter (each was once coloured on its own maximum). */
static void the_penalty_map_draws_a_cell_where_it_is(void **state) {
  const char *cfg = write_config("cell.yaml", small);
  char args[600], sweep[128], path[256];
  snprintf(args, sizeof args,
           "run %s --out %s/cell --quiet --set seeds=1 --set learning_rate=0.5 --set iterations=10 --set final_window=5",
           cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(sweep, sizeof sweep, "%s/cell", dir);
  int door = cbrl_four_rooms_cell(3, 6);
  assert_true(door >= 0);
  store_x(sweep, "hpgd-batch", door, 30.0);              /* sigma ~ 1: penalty 0.2 */
  store_x(sweep, "zero-order", door, log(CBRL_FOUR_ROOMS_DIM - 1.0)); /* sigma 1/2: penalty 0.1 */
  snprintf(args, sizeof args, "plot %s --format png", sweep);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/plots/penalty_map_lambda0.005_beta2.png", sweep);
  image im = {0};
  assert_true(image_read(path, &im));
  assert_int_equal(im.width % 2, 0);
  int half = im.width / 2;
  unsigned char centre[2][3];
  for (int p = 0; p < 2; p++) {
    int walls[4], red[4];
    assert_true(outer_walls(&im, p * half, (p + 1) * half, is_wall, walls));
    double cw = (walls[2] - walls[0] + 1) / 13.0, ch = (walls[3] - walls[1] + 1) / 13.0;
    assert_true(bbox(&im, walls[0], walls[2] + 1, is_red, red));
    double want[4] = {walls[0] + 6 * cw, walls[1] + 3 * ch, walls[0] + 7 * cw - 1, walls[1] + 4 * ch - 1};
    for (int i = 0; i < 4; i++)
      if (fabs(red[i] - want[i]) > 2.0)
        fail_msg("panel %d: the penalised cell spans x %d..%d, y %d..%d; the door (3,6) is x %.0f..%.0f, y %.0f..%.0f",
                 p, red[0], red[2], red[1], red[3], want[0], want[2], want[1], want[3]);
    /* Its colour near a corner, clear of the paths' arrows. */
    memcpy(centre[p], pixel(&im, (int)(walls[0] + 6.85 * cw), (int)(walls[1] + 3.85 * ch)), 3);
  }
  free(im.rgb);
  print_message("door colour: full penalty (%d,%d,%d), half (%d,%d,%d)\n", centre[0][0], centre[0][1], centre[0][2],
                centre[1][0], centre[1][1], centre[1][2]);
  assert_true(centre[0][1] < 30);                    /* the largest penalty: the scale's dark end */
  assert_true(centre[1][1] > 90 && centre[1][1] < 170); /* half of it: half-way to white */
}

/* --format svg leaves the text dump alone where it once truncated it to 0 bytes: the dump is
   written whichever format is drawn, and the same. */
static void svg_only_keeps_the_penalty_dump(void **state) {
  const char *cfg = write_config("svg.yaml", small);
  char args[600], path[256];
  snprintf(args, sizeof args, "run %s --out %s/svg --quiet --set seeds=1 --set learning_rate=0.5 --set iterations=10 --set final_window=5",
           cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "plot %s/svg --format png", dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/svg/plots/penalty_maps.txt", dir);
  long png_size = file_size(path);
  assert_true(png_size > 100);
  snprintf(args, sizeof args, "plot %s/svg --format svg", dir);
  assert_int_equal(run(args), 0);
  assert_int_equal(file_size(path), png_size);
  remove(path);
  assert_int_equal(run(args), 0);
  assert_int_equal(file_size(path), png_size);
}

/* Whether DIR holds a file whose name contains `part`. */
static int dir_has(const char *d, const char *part) {
  DIR *dp = opendir(d);
  struct dirent *e;
  int found = 0;
  while (dp && (e = readdir(dp)))
    if (strstr(e->d_name, part)) found = 1;
  if (dp) closedir(dp);
  return found;
}

/* Titles and file names carry only the axes a sweep has: a store without lambda names no
   "lambdanan", and an environment without beta names no beta. */
static void file_names_carry_only_the_sweeps_axes(void **state) {
  const char *cfg = write_config("axes.yaml", small);
  char args[600], path[256];
  snprintf(args, sizeof args, "run %s --out %s/nolambda --quiet --set seeds=1 --set learning_rate=0.5 --set iterations=10 --set final_window=5",
           cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/nolambda/results.sqlite", dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE runs SET lambda = NULL", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  snprintf(args, sizeof args, "plot %s/nolambda --format png", dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/nolambda/plots", dir);
  assert_false(dir_has(path, "nan"));
  assert_false(dir_has(path, "lambda"));
  snprintf(path, sizeof path, "%s/nolambda/plots/curves_beta2.png", dir);
  assert_true(file_size(path) > 5000);
  snprintf(path, sizeof path, "%s/nolambda/plots/penalty_map_beta2.png", dir);
  assert_true(file_size(path) > 5000);
  /* A random problem has no beta. */
  const char *rnd = write_config("random.yaml",
                                 "env: random\nstates: 20\nalgorithm: hpgd-batch\nlearning_rate: 0.1\nseeds: 2\n"
                                 "iterations: 20\nfinal_window: 5\nmetrics_every: 2\nhpgd_steps: 500\n");
  snprintf(args, sizeof args, "run %s --out %s/rnd --quiet", rnd, dir);
  assert_int_equal(run(args), 0);
  snprintf(args, sizeof args, "plot %s/rnd --format png", dir);
  assert_int_equal(run(args), 0);
  assert_non_null(strstr(err_text, "1 figure written"));
  snprintf(path, sizeof path, "%s/rnd/plots", dir);
  assert_false(dir_has(path, "nan"));
  assert_false(dir_has(path, "beta"));
  assert_true(dir_has(path, "curves"));
}

/* --smooth K averages over the last K iterations, not the last K stored points: a spike in F at
   iteration 10, where points are 5 iterations apart, moves the smoothed mean at iterations 10
   and 15 only at K = 10, where a window of 10 stored points kept it up to iteration 35. Read
   from the SVG: the mean line is the 2-wide unfilled path in the first line colour (cairo
   drops collinear vertices, so the test reads where the line leaves and rejoins 0). */
static void smoothing_is_over_iterations(void **state) {
  const char *cfg = write_config("smooth.yaml", small);
  char args[600], path[256];
  snprintf(args, sizeof args,
           "run %s --out %s/sm --quiet --set seeds=1 --set algorithm=hpgd-batch --set learning_rate=0.5", cfg, dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/sm/results.sqlite", dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE metrics SET F = 0; UPDATE metrics SET F = 1 WHERE iteration = 10", NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT min(iteration), max(iteration) FROM metrics", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  double first = sqlite3_column_double(st, 0), last = sqlite3_column_double(st, 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
  snprintf(args, sizeof args, "plot %s/sm --format svg --smooth 10", dir);
  assert_int_equal(run(args), 0);
  snprintf(path, sizeof path, "%s/sm/plots/curves_lambda0.005_beta2.svg", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char svg[1 << 20];
  size_t len = fread(svg, 1, sizeof svg - 1, f);
  svg[len] = 0;
  fclose(f);
  const char *line = strstr(svg, "fill:none;stroke-width:2;stroke-linecap:butt;stroke-linejoin:bevel;"
                                 "stroke:rgb(12.156863%,46.666667%,70.588235%)");
  assert_non_null(line);
  const char *d = strstr(line, "d=\"M ");
  assert_non_null(d);
  d += 3; /* at the M */
  double xs[256], ys[256];
  int n = 0, used;
  while (n < 256 && sscanf(d, " %*[ML] %lf %lf%n", &xs[n], &ys[n], &used) == 2) n++, d += used;
  assert_true(n >= 4);
  /* Vertices off the final value (0), in iterations: x maps the first and last stored ones. */
  double top = -1;
  for (int i = 0; i < n; i++)
    if (fabs(ys[i] - ys[n - 1]) > 0.5) top = first + (xs[i] - xs[0]) / (xs[n - 1] - xs[0]) * (last - first);
  print_message("the smoothed spike ends at iteration %.2f\n", top);
  assert_true(fabs(top - 15.0) < 0.5);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plots_are_written_and_the_map_marks_the_right_cells),
      cmocka_unit_test(an_unwritable_output_is_an_error),
      cmocka_unit_test(the_penalty_map_draws_a_cell_where_it_is),
      cmocka_unit_test(svg_only_keeps_the_penalty_dump),
      cmocka_unit_test(file_names_carry_only_the_sweeps_axes),
      cmocka_unit_test(smoothing_is_over_iterations),
      cmocka_unit_test(plot_errors_say_what_failed),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, make_dir, getenv("CBRL_TEST_KEEP") ? NULL : remove_dir);
}
