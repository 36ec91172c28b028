/* Figures of a sweep. Selection matches `cbrl table`: per (lambda, beta) and algorithm, the
   learning rate (and c) with the best mean over seeds of the final-window F. */
#include "cbrl/run/plot.h"

#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/cbrl.h"

typedef struct prun {
  sqlite3 *db; /* the store it came from */
  int id;
  char column[48];
  double lambda, beta, lr, c, window_F;
  long seed;
  char *x_json;
} prun;

typedef struct sweep {
  prun *runs;
  int n;
  char env[32];
} sweep;

static int same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static double column_double(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int load(sqlite3 *db, sweep *s) {
  sqlite3_stmt *st;
  int cap = s->n > 0 ? s->n * 2 : 256;
  if (s->n > 0) {
    prun *grown = realloc(s->runs, sizeof *grown * cap);
    if (!grown) return CBRL_ENOMEM;
    s->runs = grown;
  }
  if (sqlite3_prepare_v2(db,
                         "SELECT id, algorithm, simulator, lambda, beta, learning_rate, zero_order_c, window_F, seed, x, env"
                         " FROM runs WHERE status = 'done' ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    return CBRL_EIO;
  if (!s->runs) s->runs = malloc(sizeof *s->runs * cap);
  while (s->runs && sqlite3_step(st) == SQLITE_ROW) {
    if (s->n == cap) {
      prun *r2 = realloc(s->runs, sizeof *r2 * (cap *= 2));
      if (!r2) break;
      s->runs = r2;
    }
    prun *r = &s->runs[s->n++];
    r->db = db;
    r->id = sqlite3_column_int(st, 0);
    const char *sim = (const char *)sqlite3_column_text(st, 2);
    snprintf(r->column, sizeof r->column, "%s%s", sqlite3_column_text(st, 1),
             sim && !strcmp(sim, "paper-code") ? " (paper-code sim)" : "");
    r->lambda = column_double(st, 3);
    r->beta = column_double(st, 4);
    r->lr = column_double(st, 5);
    r->c = column_double(st, 6);
    r->window_F = column_double(st, 7);
    r->seed = sqlite3_column_int64(st, 8);
    const char *x = (const char *)sqlite3_column_text(st, 9);
    r->x_json = x ? strdup(x) : NULL;
    snprintf(s->env, sizeof s->env, "%s", sqlite3_column_text(st, 10));
  }
  sqlite3_finalize(st);
  return s->runs ? 0 : CBRL_ENOMEM;
}

/* The runs of the best setting of (column, lambda, beta): ids into out, returns the count. */
static int best_setting(const sweep *s, const char *column, double lambda, double beta, int *out) {
  double best = -INFINITY;
  int n_best = 0;
  for (int i = 0; i < s->n; i++) {
    const prun *a = &s->runs[i];
    if (strcmp(a->column, column) || !same(a->lambda, lambda) || !same(a->beta, beta)) continue;
    double sum = 0.0;
    int k = 0;
    for (int j = 0; j < s->n; j++) {
      const prun *b = &s->runs[j];
      if (!strcmp(b->column, column) && same(b->lambda, lambda) && same(b->beta, beta) && b->lr == a->lr && same(b->c, a->c))
        sum += b->window_F, k++;
    }
    if (sum / k > best) {
      best = sum / k;
      n_best = 0;
      for (int j = 0; j < s->n; j++) {
        const prun *b = &s->runs[j];
        if (!strcmp(b->column, column) && same(b->lambda, lambda) && same(b->beta, beta) && b->lr == a->lr && same(b->c, a->c))
          out[n_best++] = j;
      }
    }
  }
  return n_best;
}

/* A white page with black axes and a palette of distinct line colours (cmap0 2..9). */
static void begin(const char *device, const char *path, int width, int height, int panels) {
  plsdev(device);
  plsfnam(path);
  plscolbg(255, 255, 255);
  plspage(0, 0, width, height, 0, 0);
  plssub(panels, 1);
  plscmap0n(32); /* lines 2..9, their translucent bands 10..17, walls 15 is overwritten per map */
  plinit();
  static const int palette[8][3] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14},
                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
  plscol0(1, 0, 0, 0);
  for (int i = 0; i < 8; i++) plscol0(2 + i, palette[i][0], palette[i][1], palette[i][2]);
  plschr(0, 1.1);
}

/* Learning curves of one (lambda, beta): mean F with a standard-error band per column. */
/* One figure of curves: for each algorithm column at its chosen setting, and each y column,
   the mean and standard-error band over seeds of y against x (both read per stored row). */
typedef struct curve_spec {
  const char *prefix;      /* file name */
  const char *x, *xlabel;  /* metrics column for x */
  const char *y[4];        /* metrics columns for y */
  const char *ylabel[4];   /* legend suffix per y ("" for one) */
  int n_y;
  const char *axis, *what; /* y axis label; title text */
} curve_spec;


/* The legend's estimated share of the plot box: about 7 % of the height per entry, and the
   longest label's width at the legend's text size. */
static void legend_extent(int n, char names[][112], double *w, double *h) {
  size_t longest = 0;
  for (int i = 0; i < n; i++) longest = strlen(names[i]) > longest ? strlen(names[i]) : longest;
  *w = fmin(0.95, 0.11 + 0.0105 * (double)longest);
  *h = fmin(0.95, 0.05 + 0.068 * n);
}

/* Picks the corner whose legend box covers the fewest curve points; if every corner covers
   some, raises the top of the y range so the legend sits above the data. */
static PLINT legend_corner(int n, const int *npts, double **xs, double **mean, char names[][112], double xmin,
                           double xmax, double *lo, double *hi) {
  static const PLINT corners[4] = {PL_POSITION_LEFT | PL_POSITION_TOP, PL_POSITION_RIGHT | PL_POSITION_TOP,
                                   PL_POSITION_LEFT | PL_POSITION_BOTTOM, PL_POSITION_RIGHT | PL_POSITION_BOTTOM};
  double w, h;
  legend_extent(n, names, &w, &h);
  int best = 0;
  long best_hits = -1;
  for (int c = 0; c < 4; c++) {
    long hits = 0;
    for (int u = 0; u < n; u++)
      for (int i = 0; i < npts[u]; i++) {
        double fx = (xs[u][i] - xmin) / (xmax - xmin), fy = (mean[u][i] - *lo) / (*hi - *lo);
        int in_x = (c % 2 == 0) ? fx < w : fx > 1.0 - w;
        int in_y = (c < 2) ? fy > 1.0 - h : fy < h;
        hits += in_x && in_y;
      }
    if (best_hits < 0 || hits < best_hits) best = c, best_hits = hits;
  }
  if (best_hits > 0) {
    best = 0;
    *hi = *lo + (*hi - *lo) / fmax(0.1, 1.0 - h - 0.03);
  }
  return corners[best];
}

static int curves(const sweep *s, char (*columns)[48], int nc, double lambda, double beta, const curve_spec *cs,
                  const cbrl_plot_opts *o, const char *device, const char *ext, char *err, size_t err_size) {
  int *ids = malloc(sizeof(int) * s->n);
  double *xs[16] = {0}, *mean[16] = {0}, *se[16] = {0};
  int npts[16] = {0}, used = 0;
  char names[16][112];
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (int cy = 0; cy < nc * cs->n_y && used < 8; cy++) {
    int c = cy / cs->n_y, yi = cy % cs->n_y;
    int k = best_setting(s, columns[c], lambda, beta, ids);
    if (!k) continue;
    /* All runs of a setting store the same iterations: read them run by run. */
    double *sum = NULL, *sum2 = NULL, *it = NULL;
    int n = 0;
    char q[256];
    snprintf(q, sizeof q, "SELECT %s, %s FROM metrics WHERE run_id = ?1 AND %s IS NOT NULL ORDER BY iteration", cs->x,
             cs->y[yi], cs->y[yi]);
    for (int r = 0; r < k; r++) {
      sqlite3_stmt *st;
      if (sqlite3_prepare_v2(s->runs[ids[r]].db, q, -1, &st, NULL) != SQLITE_OK) break;
      sqlite3_bind_int(st, 1, s->runs[ids[r]].id);
      int i = 0;
      while (sqlite3_step(st) == SQLITE_ROW) {
        if (r == 0) {
          double *a = realloc(sum, sizeof(double) * (i + 1)), *b = realloc(sum2, sizeof(double) * (i + 1)),
                 *t = realloc(it, sizeof(double) * (i + 1));
          if (!a || !b || !t) break;
          sum = a, sum2 = b, it = t;
          sum[i] = sum2[i] = it[i] = 0.0;
          n = i + 1;
        }
        if (i < n) {
          double f = sqlite3_column_double(st, 1);
          it[i] += sqlite3_column_double(st, 0) / k; /* x averaged over seeds */
          sum[i] += f;
          sum2[i] += f * f;
        }
        i++;
      }
      sqlite3_finalize(st);
    }
    if (!n) continue;
    xs[used] = it;
    mean[used] = malloc(sizeof(double) * n);
    se[used] = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) {
      /* Moving average over `smooth` stored points of the mean and of the variance. */
      double m = 0.0, v = 0.0;
      int w = 0;
      for (int j = i - o->smooth + 1; j <= i; j++) {
        if (j < 0) continue;
        double mj = sum[j] / k;
        m += mj;
        v += k > 1 ? fmax(sum2[j] - k * mj * mj, 0.0) / (k - 1) / k : 0.0;
        w++;
      }
      mean[used][i] = m / w;
      se[used][i] = sqrt(v / w);
      xmin = fmin(xmin, it[i]), xmax = fmax(xmax, it[i]);
      ymin = fmin(ymin, mean[used][i] - se[used][i]), ymax = fmax(ymax, mean[used][i] + se[used][i]);
    }
    npts[used] = n;
    const prun *r = &s->runs[ids[0]];
    const char *sep = cs->ylabel[yi][0] ? ": " : "";
    if (isnan(r->c))
      snprintf(names[used], sizeof names[used], "%s%s%s (lr %g, %d seed%s)", columns[c], sep, cs->ylabel[yi], r->lr, k,
               k == 1 ? "" : "s");
    else
      snprintf(names[used], sizeof names[used], "%s%s%s (lr %g, c %g, %d seed%s)", columns[c], sep, cs->ylabel[yi],
               r->lr, r->c, k, k == 1 ? "" : "s");
    used++;
    free(sum);
    free(sum2);
  }
  free(ids);
  if (!used) return 0;
  char path[1200];
  if (!(xmax > xmin)) {
    for (int i = 0; i < used; i++) free(xs[i]), free(mean[i]), free(se[i]);
    return 0; /* nothing varies along x (for example no follower samples) */
  }
  snprintf(path, sizeof path, "%s/%s_lambda%g_beta%g.%s", o->out_dir, cs->prefix, lambda, beta, ext);
  double pad = 0.05 * (ymax - ymin + 1e-9), lo = ymin - pad, hi = ymax + pad;
  PLINT corner = legend_corner(used, npts, xs, mean, names, xmin, xmax, &lo, &hi);
  begin(device, path, 1000, 650, 1);
  pladv(0);
  plvpor(0.1, 0.95, 0.12, 0.9);
  plwind(xmin, xmax, lo, hi);
  plcol0(1);
  plbox("bcnst", 0, 0, "bcnstv", 0, 0);
  char title[160];
  snprintf(title, sizeof title, "Four-Rooms, #gl = %g, #gb = %g: %s, mean #(2233) s.e.", lambda, beta, cs->what);
  if (strcmp(s->env, "four-rooms")) snprintf(title, sizeof title, "%s, #gl = %g: %s, mean #(2233) s.e.", s->env, lambda, cs->what);
  pllab(cs->xlabel, cs->axis, title);
  PLINT opt[8], colors[8], styles[8];
  PLFLT widths[8];
  const char *text[8];
  int shown = 0;
  for (int u = 0; u < used; u++) {
    int n = npts[u];
    double *px = malloc(sizeof(double) * 2 * n), *py = malloc(sizeof(double) * 2 * n);
    for (int i = 0; i < n; i++) {
      px[i] = xs[u][i], py[i] = mean[u][i] + se[u][i];
      px[2 * n - 1 - i] = xs[u][i], py[2 * n - 1 - i] = mean[u][i] - se[u][i];
    }
    int color = 2 + u;
    static const int palette[8][3] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14},
                                      {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
    plscol0a(10 + u, palette[u][0], palette[u][1], palette[u][2], 0.25);
    plcol0(10 + u);
    plfill(2 * n, px, py);
    plcol0(color);
    plwidth(2.0);
    plline(n, xs[u], mean[u]);
    plwidth(1.0);
    free(px);
    free(py);
    text[shown] = names[u];
    opt[shown] = PL_LEGEND_LINE;
    colors[shown] = color;
    styles[shown] = 1;
    widths[shown] = 2.0;
    shown++;
  }
  PLFLT lw, lh;
  plcol0(1);
  pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_INSIDE | corner,
           0.02, 0.02, 0.08, 0, 1, 1, 0, 0, shown, opt, 0.8, 0.9, 2.0, 0.0, colors, text, NULL, NULL, NULL, NULL, colors,
           styles, widths, NULL, NULL, NULL, NULL);
  plend();
  for (int i = 0; i < used; i++) free(xs[i]), free(mean[i]), free(se[i]);
  (void)err, (void)err_size;
  return 1;
}

static int parse_x(const char *json, double *x, int dim) {
  if (!json || *json != '[') return -1;
  const char *p = json + 1;
  for (int j = 0; j < dim; j++) {
    char *end;
    x[j] = strtod(p, &end);
    if (end == p) return -1;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  return 0;
}

/* The follower's most likely path from the start: argmax pi, then the most likely next cell. */
static int greedy_path(const cbrl_mdp *m, const double *pi, int start, int *path, int max) {
  int s = start, n = 0;
  path[n++] = s;
  while (n < max && !m->terminal[s]) {
    int a = 0;
    for (int b = 1; b < 4; b++)
      if (pi[s * 4 + b] > pi[s * 4 + a]) a = b;
    int64_t best = m->row[s * 4 + a];
    for (int64_t k = best; k < m->row[s * 4 + a + 1]; k++)
      if (m->prob[k] > m->prob[best]) best = k;
    int t = m->next[best];
    if (t == s) break;
    for (int i = 0; i < n; i++)
      if (path[i] == t) return n; /* a loop: stop */
    path[n++] = s = t;
  }
  return n;
}

static void arrow(double x0, double y0, double x1, double y1) {
  double X[2] = {x0, x1}, Y[2] = {y0, y1};
  plline(2, X, Y);
  double dx = x1 - x0, dy = y1 - y0, len = sqrt(dx * dx + dy * dy);
  if (len == 0) return;
  dx /= len, dy /= len;
  double hx[3] = {x1, x1 - 0.25 * dx - 0.15 * dy, x1 - 0.25 * dx + 0.15 * dy};
  double hy[3] = {y1, y1 - 0.25 * dy + 0.15 * dx, y1 - 0.25 * dy - 0.15 * dx};
  plfill(3, hx, hy);
}

/* Four-Rooms penalty maps of one (lambda, beta): one panel per column, the median seed's x. */
static int penalty_map(const sweep *s, char (*columns)[48], int nc, double lambda, double beta, const cbrl_plot_opts *o,
                       const char *device, const char *ext, FILE *dump) {
  int panels = 0, chosen[8];
  int *ids = malloc(sizeof(int) * s->n);
  for (int c = 0; c < nc && panels < 8; c++) {
    int k = best_setting(s, columns[c], lambda, beta, ids);
    if (!k) continue;
    /* The run whose final-window F is the median of the setting's seeds. */
    for (int i = 1; i < k; i++)
      for (int j = i; j > 0 && s->runs[ids[j - 1]].window_F > s->runs[ids[j]].window_F; j--) {
        int t = ids[j];
        ids[j] = ids[j - 1];
        ids[j - 1] = t;
      }
    chosen[panels++] = ids[k / 2];
  }
  free(ids);
  if (!panels) return 0;
  char path[1200];
  snprintf(path, sizeof path, "%s/penalty_map_lambda%g_beta%g.%s", o->out_dir, lambda, beta, ext);
  begin(device, path, 560 * panels, 640, panels);
  /* cmap1: white (no penalty) to dark red (the largest penalty). */
  PLFLT pos[2] = {0, 1}, r[2] = {1, 0.55}, g[2] = {1, 0}, b[2] = {1, 0};
  plscmap1l(1, 2, pos, r, g, b, NULL);
  for (int p = 0; p < panels; p++) {
    const prun *run = &s->runs[chosen[p]];
    double x[CBRL_FOUR_ROOMS_DIM], pen[CBRL_FOUR_ROOMS_CELLS], pmax = 0.0;
    if (parse_x(run->x_json, x, CBRL_FOUR_ROOMS_DIM)) continue;
    cbrl_four_rooms_penalties(x, pen);
    for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) pmax = fmax(pmax, -pen[i]);
    /* Best responses at the final x, for the paths. */
    cbrl_four_rooms_opts fo;
    cbrl_four_rooms_opts_default(&fo);
    fo.beta = beta;
    fo.lambda = isnan(lambda) ? fo.lambda : lambda;
    cbrl_problem *prob = NULL;
    cbrl_exact *e = NULL;
    if (cbrl_four_rooms_create(&prob, &fo) || cbrl_exact_create(&e, prob) ||
        (cbrl_exact_evaluate(e, x, NULL, NULL, NULL) && 0)) {
      cbrl_exact_free(e);
      cbrl_problem_free(prob);
      continue;
    }
    /* Image: row-major cells, y up = row down. */
    PLFLT col[13][13], *colp[13];
    for (int cx = 0; cx < 13; cx++) {
      colp[cx] = col[cx];
      for (int ry = 0; ry < 13; ry++) {
        int cell = cbrl_four_rooms_cell(12 - ry, cx);
        col[cx][ry] = cell < 0 ? 0.0 : -pen[cell];
      }
    }
    pladv(p + 1);
    plvpor(0.06, 0.78, 0.2, 0.9);
    plwind(0, 13, 0, 13);
    plimage((PLFLT_MATRIX)colp, 13, 13, 0, 13, 0, 13, 0, pmax > 0 ? pmax : 1, 0, 13, 0, 13);
    plcol0(1);
    for (int row = 0; row < 13; row++)
      for (int cx = 0; cx < 13; cx++) {
        if (cbrl_four_rooms_cell(row, cx) >= 0) continue;
        double X[4] = {cx, cx + 1, cx + 1, cx}, Y[4] = {12 - row, 12 - row, 13 - row, 13 - row};
        plscol0(15, 60, 60, 60);
        plcol0(15);
        plfill(4, X, Y);
      }
    plcol0(1);
    plbox("bc", 0, 0, "bc", 0, 0);
    /* Marks: S start, G1 and G2 goals, +1 the leader's target. */
    int marks[4] = {cbrl_four_rooms_start(), cbrl_four_rooms_goal(0), cbrl_four_rooms_goal(1), cbrl_four_rooms_target()};
    const char *labels[4] = {"S", "G1", "G2", "+1"};
    for (int i = 0; i < 4; i++) {
      int rr, cc;
      cbrl_four_rooms_coords(marks[i], &rr, &cc);
      plptex(cc + 0.5, 12.5 - rr - 0.15, 1, 0, 0.5, labels[i]);
    }
    for (int k = 0; k < 2; k++) {
      int route[256];
      const cbrl_soft_solver *w = cbrl_exact_follower(e, k);
      int n = greedy_path(cbrl_exact_mdp(e, k), w->pi, cbrl_four_rooms_start(), route, 256);
      plcol0(k ? 4 : 2);
      plwidth(2.0);
      for (int i = 0; i + 1 < n; i++) {
        int r0, c0, r1, c1;
        cbrl_four_rooms_coords(route[i], &r0, &c0);
        cbrl_four_rooms_coords(route[i + 1], &r1, &c1);
        double off = k ? 0.12 : -0.12;
        arrow(c0 + 0.5 + off, 12.5 - r0 + off, c1 + 0.5 + off, 12.5 - r1 + off);
      }
      plwidth(1.0);
      if (dump) {
        fprintf(dump, "# lambda %g beta %g panel %s run %d seed %ld goal G%d path:", lambda, beta, columns[p], run->id,
                run->seed, k + 1);
        for (int i = 0; i < n; i++) fprintf(dump, " %d", route[i]);
        fputc('\n', dump);
      }
    }
    if (dump) {
      /* The panel as text: # wall, S start, A/B goals G1/G2, T target, else the penalty. */
      fprintf(dump, "# lambda %g beta %g panel %s cells:\n", lambda, beta, columns[p]);
      for (int row = 0; row < 13; row++) {
        for (int cx = 0; cx < 13; cx++) {
          int cell = cbrl_four_rooms_cell(row, cx);
          char ch = cell < 0 ? '#' : cell == marks[0] ? 'S' : cell == marks[1] ? 'A' : cell == marks[2] ? 'B' : cell == marks[3] ? 'T' : '.';
          fputc(ch, dump);
        }
        fputc('\n', dump);
      }
      for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) fprintf(dump, "%s%.6g", i ? " " : "penalties ", pen[i]);
      fputc('\n', dump);
    }
    plcol0(1);
    plschr(0, strlen(s->runs[chosen[p]].column) > 18 ? 0.75 : 0.9);
    plmtex("t", 1.2, 0.5, 0.5, s->runs[chosen[p]].column);
    plschr(0, 0.9);
    char info[96];
    snprintf(info, sizeof info, "seed %ld, final-window F %.3f", run->seed, run->window_F);
    plmtex("b", 1.6, 0.0, 0.0, info);
    if (p == 0) plmtex("b", 3.2, 0.0, 0.0, "paths: blue to G1, green to G2");
    plschr(0, 1.1);
    cbrl_exact_free(e);
    cbrl_problem_free(prob);
    if (p == panels - 1) {
      /* Colour bar: a strip of cmap1 beside the last panel, in units of 0.01 so that the
         labels need no exponent. */
      PLFLT strip[2][64], *stripp[2] = {strip[0], strip[1]};
      double top = 100.0 * (pmax > 0 ? pmax : 1);
      for (int i = 0; i < 64; i++) strip[0][i] = strip[1][i] = top * i / 63.0;
      plvpor(0.82, 0.85, 0.2, 0.9);
      plwind(0, 1, 0, top);
      plimage((PLFLT_MATRIX)stripp, 2, 64, 0, 1, 0, top, 0, top, 0, 1, 0, top);
      plcol0(1);
      plbox("bc", 0, 0, "bcmstv", 0, 0);
      plmtex("t", 1.2, 0.5, 0.5, "|p| x100");
    }
  }
  plend();
  return 1;
}

/* Whether a run's column (its algorithm, with any simulator note after a space) is in the
   comma-separated list `only`. */
static int column_selected(const char *only, const char *column) {
  for (const char *t = only; *t;) {
    size_t len = strcspn(t, ",");
    if (len && !strncmp(column, t, len) && (column[len] == '\0' || column[len] == ' ')) return 1;
    t += len + (t[len] == ',');
  }
  return 0;
}

int cbrl_plot_sweep(const cbrl_plot_opts *o, char *err, size_t err_size) {
  char path[1200];
  sweep s = {0};
  sqlite3 *dbs[64];
  int n_dbs = 0, rc = 0;
  /* o->dir may list several stores separated by newlines; their runs are pooled. */
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s", o->dir);
  for (char *d = strtok(dirs, "\n"); d && n_dbs < 64; d = strtok(NULL, "\n")) {
    snprintf(path, sizeof path, "%s/results.sqlite", d);
    if (sqlite3_open_v2(path, &dbs[n_dbs], SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
      snprintf(err, err_size, "%s: %s", path, sqlite3_errmsg(dbs[n_dbs]));
      sqlite3_close(dbs[n_dbs]);
      rc = CBRL_EIO;
      break;
    }
    if ((rc = load(dbs[n_dbs++], &s))) break;
  }
  if (!rc && o->only) {
    int kept = 0;
    for (int i = 0; i < s.n; i++) {
      if (column_selected(o->only, s.runs[i].column)) s.runs[kept++] = s.runs[i];
      else free(s.runs[i].x_json);
    }
    if (!kept && s.n) {
      snprintf(err, err_size, "--only %s: no finished runs of these algorithms", o->only);
      rc = CBRL_EINVAL;
    }
    s.n = kept;
  }
  if (rc || s.n == 0) {
    if (!rc) snprintf(err, err_size, "%s: no finished runs", o->dir);
    for (int i = 0; i < n_dbs; i++) sqlite3_close(dbs[i]);
    for (int i = 0; i < s.n; i++) free(s.runs[i].x_json);
    free(s.runs);
    return rc ? rc : CBRL_EINVAL;
  }
  char(*columns)[48] = calloc((size_t)s.n, sizeof *columns);
  double *lambdas = malloc(sizeof(double) * s.n), *betas = malloc(sizeof(double) * s.n);
  int nc = 0, nl = 0, nb = 0, figures = 0;
  for (int i = 0; i < s.n; i++) {
    int k = 0;
    while (k < nc && strcmp(columns[k], s.runs[i].column)) k++;
    if (k == nc) memcpy(columns[nc++], s.runs[i].column, sizeof s.runs[i].column);
    k = 0;
    while (k < nl && !same(lambdas[k], s.runs[i].lambda)) k++;
    if (k == nl) lambdas[nl++] = s.runs[i].lambda;
    k = 0;
    while (k < nb && !same(betas[k], s.runs[i].beta)) k++;
    if (k == nb) betas[nb++] = s.runs[i].beta;
  }
  snprintf(path, sizeof path, "%s/penalty_maps.txt", o->out_dir);
  FILE *dump = !strcmp(s.env, "four-rooms") ? fopen(path, "w") : NULL;
  static const char *const devices[2] = {"pngcairo", "svgcairo"}, *const exts[2] = {"png", "svg"};
  for (int f = 0; f < 2; f++) {
    if (!(o->formats & (1 << f))) continue;
    for (int l = 0; l < nl; l++)
      for (int b = 0; b < nb; b++) {
        static const curve_spec f_by_iteration = {"curves", "iteration", "outer iteration", {"F"}, {""}, 1, "F(x)", "exact F"};
        static const curve_spec f_by_samples = {"samples", "follower_samples_total", "cumulative follower samples", {"F"},
                                                {""}, 1, "F(x)", "exact F by follower samples"};
        static const curve_spec rates = {"tax_rates", "iteration", "outer iteration",
                                         {"income_tax", "vat1", "vat2", "vat3"}, {"income", "VAT 1", "VAT 2", "VAT 3"}, 4,
                                         "rate", "tax rates"};
        static const curve_spec households = {"households", "iteration", "outer iteration",
                                              {"household_value", "household_spread", "revenue"},
                                              {"J (mean)", "J spread", "revenue"}, 3, "value", "households and revenue"};
        figures += curves(&s, columns, nc, lambdas[l], betas[b], &f_by_iteration, o, devices[f], exts[f], err, err_size);
        figures += curves(&s, columns, nc, lambdas[l], betas[b], &f_by_samples, o, devices[f], exts[f], err, err_size);
        if (!strcmp(s.env, "tax-design")) {
          figures += curves(&s, columns, nc, lambdas[l], betas[b], &rates, o, devices[f], exts[f], err, err_size);
          figures += curves(&s, columns, nc, lambdas[l], betas[b], &households, o, devices[f], exts[f], err, err_size);
        }
        if (!strcmp(s.env, "four-rooms"))
          figures += penalty_map(&s, columns, nc, lambdas[l], betas[b], o, devices[f], exts[f], f == 0 ? dump : NULL);
      }
  }
  if (dump) fclose(dump);
  for (int i = 0; i < s.n; i++) free(s.runs[i].x_json);
  free(s.runs);
  free(columns);
  free(lambdas);
  free(betas);
  for (int i = 0; i < n_dbs; i++) sqlite3_close(dbs[i]);
  return figures;
}
