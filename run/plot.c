/* Figures of a sweep: learning curves per (lambda, beta) for every store, plus what the
   sweep's environment adds through the registry (curves of its report values, a policy map).
   The setting drawn per algorithm is the one `cbrl table` reports (cbrl_best_setting_find). */
#include "cbrl/run/plot.h"

#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cbrl/cbrl.h"
#include "cbrl/run/outfile.h"
#include "cbrl/run/select.h"
#include "cbrl/run/store.h"
#include "env_internal.h"
#include "plot_internal.h"

typedef struct prun {
  cbrl_run_summary sum; /* first: the selection reads the array through it */
  sqlite3 *db;          /* the store it came from */
  const char *extras;   /* that store's environment metrics (cbrl_store_extras_source) */
  int id;
  long seed;
  char *x_json;
} prun;

typedef struct sweep {
  prun *runs;
  int n;
  char env[32];
  int has_beta;   /* the environment takes beta: figures are per (lambda, beta), else per lambda */
  char title[96]; /* in figure titles: the environment's, or a problem file's name */
} sweep;

static int same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static double column_double(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int load(sqlite3 *db, const char *extras, sweep *s) {
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
  int step = SQLITE_DONE;
  while (s->runs && (step = sqlite3_step(st)) == SQLITE_ROW) {
    if (s->n == cap) {
      prun *r2 = realloc(s->runs, sizeof *r2 * (cap *= 2));
      if (!r2) break;
      s->runs = r2;
    }
    prun *r = &s->runs[s->n++];
    r->db = db;
    r->extras = extras;
    r->id = sqlite3_column_int(st, 0);
    cbrl_run_column((const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
                    r->sum.column, sizeof r->sum.column);
    r->sum.lambda = column_double(st, 3);
    r->sum.beta = column_double(st, 4);
    r->sum.learning_rate = column_double(st, 5);
    r->sum.zero_order_c = column_double(st, 6);
    r->sum.value[0] = column_double(st, 7);
    r->sum.value[1] = NAN;
    r->seed = sqlite3_column_int64(st, 8);
    const char *x = (const char *)sqlite3_column_text(st, 9);
    r->x_json = x ? strdup(x) : NULL;
    snprintf(s->env, sizeof s->env, "%s", sqlite3_column_text(st, 10));
  }
  sqlite3_finalize(st);
  if (s->runs && step != SQLITE_DONE) return CBRL_EIO; /* damage the check did not see: no partial figures */
  return s->runs ? 0 : CBRL_ENOMEM;
}

/* The runs of the best setting of (column, lambda, beta) by final-window F: indices into out. */
static int best_setting(const sweep *s, const char *column, double lambda, double beta, int *out) {
  return cbrl_best_setting_find(s->runs, s->n, sizeof *s->runs, column, lambda, beta, 0, 1, out, NULL);
}

int cbrl__plot_writable(const char *path, char *err, size_t err_size) {
  /* PLplot reports an unopenable file by exiting the process: find out before it does, with a
     probe beside the figure rather than the figure itself (which must appear only whole). */
  char tmp[1300];
  int rc = cbrl_file_temp(path, tmp, sizeof tmp, err, err_size);
  if (rc) {
    snprintf(err, err_size, "%s: cannot write the figure: %s", path, strerror(errno));
    return rc;
  }
  unlink(tmp);
  return 0;
}

/* PLplot reports recoverable trouble through plabort, which prints to stderr unless a handler
   is set: keep the message for the figure's error instead (the library prints nothing). Its
   fatal errors (plexit) cannot be turned back; cbrl__plot_writable checks the one a figure
   meets, an unwritable file, beforehand. */
static char plot_trouble[256];

/* The figure is drawn into this temporary file beside its path and renamed into place by
   cbrl__plot_end only once complete (issue 13 class 10). */
static char plot_tmp[1300];

static void keep_abort(PLCHAR_VECTOR message) {
  if (!plot_trouble[0]) snprintf(plot_trouble, sizeof plot_trouble, "%s", message);
}

/* Whether the file cairo wrote is whole: a PNG ends with its IEND chunk, an SVG with </svg>. A
   full disk cuts either short, and cairo does not say so through PLplot. */
static int figure_complete(const char *tmp) {
  FILE *f = fopen(tmp, "rb");
  if (!f) return 0;
  unsigned char tail[64];
  size_t n = 0;
  if (fseek(f, -(long)sizeof tail, SEEK_END) != 0) rewind(f);
  n = fread(tail, 1, sizeof tail, f);
  fclose(f);
  static const unsigned char iend[8] = {'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  if (n >= 8 && !memcmp(tail + n - 8, iend, 8)) return 1;
  while (n && (tail[n - 1] == '\n' || tail[n - 1] == ' ' || tail[n - 1] == '\r')) n--;
  return n >= 6 && !memcmp(tail + n - 6, "</svg>", 6);
}

int cbrl__plot_end(const char *path, char *err, size_t err_size) {
  plend();
  if (!plot_trouble[0] && plot_tmp[0] && !figure_complete(plot_tmp))
    snprintf(plot_trouble, sizeof plot_trouble, "the figure was cut short (is the disk full?)");
  if (plot_trouble[0]) {
    snprintf(err, err_size, "%s: PLplot: %s", path, plot_trouble);
    plot_trouble[0] = '\0';
    if (plot_tmp[0]) unlink(plot_tmp);
    plot_tmp[0] = '\0';
    return CBRL_EIO;
  }
  int rc = cbrl_file_commit(plot_tmp, path, err, err_size);
  plot_tmp[0] = '\0';
  return rc;
}

/* The line colours, one per algorithm (cmap0 2..9; their translucent bands 10..17). */
static const int line_palette[8][3] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14},
                                       {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};

/* A white page with black axes and a palette of distinct line colours (cmap0 2..9). */
void cbrl__plot_begin(const char *device, const char *path, int width, int height, int panels) {
  plot_trouble[0] = '\0';
  plsabort(keep_abort);
  plsdev(device);
  char why[256];
  if (cbrl_file_temp(path, plot_tmp, sizeof plot_tmp, why, sizeof why)) {
    snprintf(plot_trouble, sizeof plot_trouble, "cannot write the figure: %s", strerror(errno));
    plot_tmp[0] = '\0';
    plsfnam("/dev/null");
  } else {
    plsfnam(plot_tmp);
  }
  plscolbg(255, 255, 255);
  plspage(0, 0, width, height, 0, 0);
  plssub(panels, 1);
  plscmap0n(32); /* lines 2..9, their translucent bands 10..17, walls 15 is overwritten per map */
  plinit();
  plscol0(1, 0, 0, 0);
  for (int i = 0; i < 8; i++) plscol0(2 + i, line_palette[i][0], line_palette[i][1], line_palette[i][2]);
  plschr(0, 1.1);
}

/* One figure of curves: for each algorithm column at its chosen setting, and each y column,
   the mean and standard-error band over seeds of y against x (both read per stored row). */
typedef struct curve_spec {
  const char *prefix;      /* file name */
  const char *x, *xlabel;  /* metrics column for x */
  const char *y[CBRL_ENV_REPORT_MAX];      /* metrics columns for y, or report names when extra */
  const char *ylabel[CBRL_ENV_REPORT_MAX]; /* legend suffix per y ("" for one) */
  int n_y;
  const char *axis, *what; /* y axis label; title text */
  int extra;               /* y are the environment's report values (extra_metrics) */
  unsigned lower;          /* bit i: y[i] on a second axis below, labelled axis2 */
  const char *axis2;
  double flag_above;       /* 0: none */
} curve_spec;

void cbrl__plot_axes_title(double lambda, double beta, const char *sep, char *out, size_t size) {
  int n = 0;
  out[0] = '\0';
  if (!isnan(lambda)) n = snprintf(out, size, "#gl = %g", lambda);
  if (!isnan(beta) && n >= 0 && (size_t)n < size) snprintf(out + n, size - n, "%s#gb = %g", n ? sep : "", beta);
}

/* A figure's file: OUT/PREFIX[_lambdaL][_betaB].EXT, with only the axes the sweep has. */
static void figure_path(char *path, size_t size, const char *out_dir, const char *prefix, double lambda, double beta,
                        const char *ext) {
  char l[40] = "", b[40] = "";
  if (!isnan(lambda)) snprintf(l, sizeof l, "_lambda%g", lambda);
  if (!isnan(beta)) snprintf(b, sizeof b, "_beta%g", beta);
  snprintf(path, size, "%s/%s%s%s.%s", out_dir, prefix, l, b, ext);
}

/* Tick labels in plain numbers: 2,000 and 10,000 rather than a shared "x10^4"; values of a
   million and more as 2.5e8. */
static void plain_label(PLINT axis, PLFLT value, char *label, PLINT length, PLPointer data) {
  (void)axis, (void)data;
  double a = fabs(value);
  if (a < 1e-12) {
    snprintf(label, length, "0");
  } else if (a >= 1e6) {
    int e = (int)floor(log10(a));
    snprintf(label, length, "%ge%d", value / pow(10.0, e), e);
  } else if (a >= 1000 && fabs(value - round(value)) < 1e-9) {
    long v = lround(a), th = v / 1000;
    if (th >= 1000) snprintf(label, length, "%s%ld,%03ld,%03ld", value < 0 ? "-" : "", th / 1000, th % 1000, v % 1000);
    else snprintf(label, length, "%s%ld,%03ld", value < 0 ? "-" : "", th, v % 1000);
  } else {
    snprintf(label, length, "%.4g", value);
  }
}

typedef struct series {
  double *x, *mean, *se;
  int n, color, style, lower;
  char name[112];
} series;

static int curves(const sweep *s, char (*columns)[48], int nc, double lambda, double beta, const curve_spec *cs,
                  const cbrl_plot_opts *o, const char *device, const char *ext, char *err, size_t err_size) {
  int *ids = malloc(sizeof(int) * s->n);
  if (!ids) return CBRL_ENOMEM;
  series sr[16];
  int used = 0, n_colors = 0, most_seeds = 0;
  double xmin = INFINITY, xmax = -INFINITY, ymin[2] = {INFINITY, INFINITY}, ymax[2] = {-INFINITY, -INFINITY};
  for (int c = 0; c < nc && n_colors < 8; c++) {
    int k = best_setting(s, columns[c], lambda, beta, ids);
    if (!k) continue;
    int drawn = 0;
    for (int yi = 0; yi < cs->n_y && used < 16; yi++) {
      /* All runs of a setting store the same iterations: read them run by run. */
      double *sum = NULL, *sum2 = NULL, *it = NULL, *xv = NULL;
      int n = 0;
      char q[4096];
      for (int r = 0; r < k; r++) {
        sqlite3_stmt *st;
        if (cs->extra)
          snprintf(q, sizeof q,
                   "SELECT m.iteration, m.%s, e.value FROM metrics m JOIN %s e ON e.run_id = m.run_id"
                   " AND e.iteration = m.iteration WHERE m.run_id = ?1 AND e.name = '%s' ORDER BY m.iteration",
                   cs->x, s->runs[ids[r]].extras, cs->y[yi]);
        else
          snprintf(q, sizeof q,
                   "SELECT iteration, %s, %s FROM metrics WHERE run_id = ?1 AND %s IS NOT NULL ORDER BY iteration",
                   cs->x, cs->y[yi], cs->y[yi]);
        if (sqlite3_prepare_v2(s->runs[ids[r]].db, q, -1, &st, NULL) != SQLITE_OK) break;
        sqlite3_bind_int(st, 1, s->runs[ids[r]].id);
        int i = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
          if (r == 0) {
            double *a = realloc(sum, sizeof(double) * (i + 1)), *b = realloc(sum2, sizeof(double) * (i + 1)),
                   *t = realloc(it, sizeof(double) * (i + 1)), *v = realloc(xv, sizeof(double) * (i + 1));
            if (a) sum = a;
            if (b) sum2 = b;
            if (t) it = t;
            if (v) xv = v;
            if (!a || !b || !t || !v) break;
            sum[i] = sum2[i] = xv[i] = 0.0;
            it[i] = sqlite3_column_double(st, 0);
            n = i + 1;
          }
          if (i < n) {
            double f = sqlite3_column_double(st, 2);
            xv[i] += sqlite3_column_double(st, 1) / k; /* x averaged over seeds */
            sum[i] += f;
            sum2[i] += f * f;
          }
          i++;
        }
        sqlite3_finalize(st);
      }
      series *u = &sr[used];
      if (!n || !(u->mean = malloc(sizeof(double) * n)) || !(u->se = malloc(sizeof(double) * n))) {
        if (n) free(u->mean);
        free(sum), free(sum2), free(it), free(xv);
        continue;
      }
      u->x = xv;
      u->lower = cs->lower >> yi & 1;
      for (int i = 0; i < n; i++) {
        /* Moving average over the stored points of the last `smooth` iterations (stored points
           are thinned unevenly: every metrics_every, then every iteration of the final window). */
        double m = 0.0, v = 0.0;
        int w = 0;
        for (int j = i; j >= 0 && it[j] > it[i] - o->smooth; j--) {
          double mj = sum[j] / k;
          m += mj;
          v += k > 1 ? fmax(sum2[j] - k * mj * mj, 0.0) / (k - 1) / k : 0.0;
          w++;
        }
        u->mean[i] = m / w;
        u->se[i] = sqrt(v / w);
        xmin = fmin(xmin, xv[i]), xmax = fmax(xmax, xv[i]);
        ymin[u->lower] = fmin(ymin[u->lower], u->mean[i] - u->se[i]);
        ymax[u->lower] = fmax(ymax[u->lower], u->mean[i] + u->se[i]);
      }
      u->n = n;
      /* Colours by algorithm, line styles by quantity. */
      u->color = n_colors;
      u->style = 1 + yi % 8;
      const prun *r = &s->runs[ids[0]];
      const char *sep = cs->ylabel[yi][0] ? ": " : "";
      char flag[24] = "";
      if (cs->flag_above > 0 && u->mean[n - 1] > cs->flag_above) snprintf(flag, sizeof flag, " [ends > %g]", cs->flag_above);
      if (isnan(r->sum.zero_order_c))
        snprintf(u->name, sizeof u->name, "%s%s%s%s (lr %g, %d seed%s)", columns[c], sep, cs->ylabel[yi], flag,
                 r->sum.learning_rate, k, k == 1 ? "" : "s");
      else
        snprintf(u->name, sizeof u->name, "%s%s%s%s (lr %g, c %g, %d seed%s)", columns[c], sep, cs->ylabel[yi], flag,
                 r->sum.learning_rate, r->sum.zero_order_c, k, k == 1 ? "" : "s");
      if (k > most_seeds) most_seeds = k;
      used++;
      drawn = 1;
      free(sum), free(sum2), free(it);
    }
    n_colors += drawn;
  }
  free(ids);
  if (!used) return 0;
  char path[1200];
  if (!(xmax > xmin)) {
    for (int i = 0; i < used; i++) free(sr[i].x), free(sr[i].mean), free(sr[i].se);
    return 0; /* nothing varies along x (for example no follower samples) */
  }
  double shown_beta = s->has_beta ? beta : NAN;
  figure_path(path, sizeof path, o->out_dir, cs->prefix, lambda, shown_beta, ext);
  int rc = cbrl__plot_writable(path, err, err_size);
  if (rc) {
    for (int i = 0; i < used; i++) free(sr[i].x), free(sr[i].mean), free(sr[i].se);
    return rc;
  }
  if (xmin > 0 && xmin < 0.1 * xmax) xmin = 0; /* iterations and samples count from 0 */
  int two = isfinite(ymin[1]);
  if (cs->flag_above > 0 && ymax[0] > cs->flag_above) ymin[0] = fmin(ymin[0], 0.0);
  /* The legend sits in its own strip below the box, one row per line: the axes keep the
     data's range and the page grows instead. */
  const int width = 1000, legend_px = 16 + 41 * used, height = 570 + legend_px;
  const double left = 130.0 / width, right = 0.94, bottom = (legend_px + 95.0) / height, top = 1.0 - 60.0 / height;
  cbrl__plot_begin(device, path, width, height, 1);
  plslabelfunc(plain_label, NULL);
  pladv(0);
  char title[200], axes[96];
  cbrl__plot_axes_title(lambda, shown_beta, ", ", axes, sizeof axes);
  /* One seed has no spread to show: say so rather than promise a band that is not there. */
  snprintf(title, sizeof title, "%s%s%s: %s, %s", s->title, axes[0] ? ", " : "", axes, cs->what,
           most_seeds > 1 ? "mean #(2233) s.e." : "one seed");
  for (int panel = 0; panel < 1 + two; panel++) {
    double pad = 0.05 * (ymax[panel] - ymin[panel] + 1e-9), lo = ymin[panel] - pad, hi = ymax[panel] + pad;
    double split = bottom + 0.34 * (top - bottom);
    double vlo = two && !panel ? split + 0.05 : bottom, vhi = two && panel ? split : top;
    plvpor(left, right, vlo, vhi);
    plwind(xmin, xmax, lo, hi);
    plcol0(1);
    int last = !two || panel == 1;
    plbox(last ? "bcnsto" : "bcsto", 0, 0, "bcnstvo", 0, 0);
    pllab(last ? cs->xlabel : "", panel ? cs->axis2 : cs->axis, panel ? "" : title);
    if (cs->flag_above > 0 && hi > cs->flag_above) {
      /* A rate above this is not a rate any more: mark the line. */
      double fx[2] = {xmin, xmax}, fy[2] = {cs->flag_above, cs->flag_above};
      plcol0(1);
      pllsty(2);
      plline(2, fx, fy);
      pllsty(1);
      plschr(0, 0.8);
      plptex(xmin + 0.01 * (xmax - xmin), cs->flag_above + 0.01 * (hi - lo), 1, 0, 0, "rate 1: the whole base");
      plschr(0, 1.1);
    }
    for (int i = 0; i < used; i++) {
      series *u = &sr[i];
      if (u->lower != panel) continue;
      int n = u->n;
      double *px = malloc(sizeof(double) * 2 * n), *py = malloc(sizeof(double) * 2 * n);
      if (px && py) {
        for (int j = 0; j < n; j++) {
          px[j] = u->x[j], py[j] = u->mean[j] + u->se[j];
          px[2 * n - 1 - j] = u->x[j], py[2 * n - 1 - j] = u->mean[j] - u->se[j];
        }
        const int *rgb = line_palette[u->color];
        plscol0a(10 + u->color, rgb[0], rgb[1], rgb[2], 0.2);
        plcol0(10 + u->color);
        plfill(2 * n, px, py);
      }
      free(px);
      free(py);
      plcol0(2 + u->color);
      pllsty(u->style);
      plwidth(2.0);
      plline(n, u->x, u->mean);
      plwidth(1.0);
      pllsty(1);
    }
  }
  PLINT opt[16], colors[16], styles[16];
  PLFLT widths[16];
  const char *text[16];
  for (int i = 0; i < used; i++) {
    text[i] = sr[i].name;
    opt[i] = PL_LEGEND_LINE;
    colors[i] = 2 + sr[i].color;
    styles[i] = sr[i].style;
    widths[i] = 2.0;
  }
  PLFLT lw, lh;
  plvpor(left, right, 8.0 / height, (legend_px + 8.0) / height); /* the legend's own strip */
  plwind(0, 1, 0, 1);
  plcol0(1);
  pllegend(&lw, &lh, PL_LEGEND_BACKGROUND, PL_POSITION_INSIDE | PL_POSITION_LEFT | PL_POSITION_TOP,
           0.0, 0.0, 0.06, 0, 1, 1, 0, 0, used, opt, 0.8, 0.8, 2.0, 0.0, colors, text, NULL, NULL, NULL, NULL, colors,
           styles, widths, NULL, NULL, NULL, NULL);
  rc = cbrl__plot_end(path, err, err_size);
  for (int i = 0; i < used; i++) free(sr[i].x), free(sr[i].mean), free(sr[i].se);
  return rc ? rc : 1;
}

/* A stored x: a JSON array of numbers; returns its length, or -1 (x is malloc'd). */
static int parse_x(const char *json, double **x) {
  *x = NULL;
  if (!json || *json != '[') return -1;
  int cap = 1;
  for (const char *c = json; *c; c++) cap += *c == ',';
  double *v = malloc(sizeof(double) * (size_t)cap);
  if (!v) return -1;
  const char *p = json + 1;
  int n = 0;
  while (n < cap) {
    while (*p == ',' || *p == ' ') p++;
    if (*p == ']') break;
    char *end;
    v[n] = strtod(p, &end);
    if (end == p) {
      free(v);
      return -1;
    }
    n++;
    p = end;
  }
  *x = v;
  return n;
}

/* The environment's policy map of one (lambda, beta): one panel per column, the median seed's
   final x, drawn by the environment (cbrl_env's map). */
static int policy_map(const sweep *s, const cbrl_env *env, char (*columns)[48], int nc, double lambda, double beta,
                      const cbrl_plot_opts *o, const char *device, const char *ext, FILE *dump, char *err,
                      size_t err_size) {
  int panels = 0, chosen[8];
  int *ids = malloc(sizeof(int) * s->n);
  if (!ids) return CBRL_ENOMEM;
  for (int c = 0; c < nc && panels < 8; c++) {
    int k = best_setting(s, columns[c], lambda, beta, ids);
    if (!k) continue;
    /* The run whose final-window F is the median of the setting's seeds. */
    for (int i = 1; i < k; i++)
      for (int j = i; j > 0 && s->runs[ids[j - 1]].sum.value[0] > s->runs[ids[j]].sum.value[0]; j--) {
        int t = ids[j];
        ids[j] = ids[j - 1];
        ids[j - 1] = t;
      }
    chosen[panels++] = ids[k / 2];
  }
  free(ids);
  if (!panels) return 0;
  cbrl__map_panel panel[8];
  double *xs[8] = {0};
  int n = 0;
  for (int p = 0; p < panels; p++) {
    const prun *run = &s->runs[chosen[p]];
    int dim = parse_x(run->x_json, &xs[n]);
    if (dim < 0) continue; /* a run without a stored x has no map */
    panel[n] = (cbrl__map_panel){xs[n], dim, run->sum.column, run->id, run->seed, run->sum.value[0]};
    n++;
  }
  int rc = 0;
  char path[1200];
  figure_path(path, sizeof path, o->out_dir, env->map_prefix, lambda, s->has_beta ? beta : NAN, ext);
  if (n) rc = cbrl__plot_writable(path, err, err_size);
  if (n && !rc) {
    cbrl__map_figure f = {env, lambda, s->has_beta ? beta : NAN, n, panel, device, path, dump, err, err_size};
    rc = env->map(&f);
  }
  for (int p = 0; p < n; p++) free(xs[p]);
  return rc;
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

/* The name figures give a sweep: its environment's title, or for a problem file the file's
   name without folder and extension (read from the stored config's `problem:`). */
static void sweep_title(sqlite3 *db, const cbrl_env *env, const char *env_name, char *out, size_t size) {
  snprintf(out, size, "%s", env ? env->title : env_name);
  if (strcmp(env_name, "file")) return;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT value FROM sweep WHERE key = 'config'", -1, &st, NULL) != SQLITE_OK) return;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
    const char *cfg = (const char *)sqlite3_column_text(st, 0);
    for (const char *line = cfg; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
      if (strncmp(line, "problem:", 8)) continue;
      const char *v = line + 8;
      while (*v == ' ' || *v == '"' || *v == '\'') v++;
      size_t len = strcspn(v, "\"'\n #");
      const char *base = v;
      for (size_t i = 0; i < len; i++)
        if (v[i] == '/') base = v + i + 1;
      len -= (size_t)(base - v);
      const char *dot = memchr(base, '.', len);
      if (dot && dot > base) len = (size_t)(dot - base);
      if (len) snprintf(out, size, "%.*s", (int)len, base);
      break;
    }
  }
  sqlite3_finalize(st);
}

int cbrl_plot_sweep(const cbrl_plot_opts *o, int *n_figures, char *err, size_t err_size) {
  char path[1200];
  sweep s = {0};
  sqlite3 *dbs[64];
  char *extras[64] = {0};
  int n_dbs = 0, rc = 0;
  if (n_figures) *n_figures = 0;
  if (err_size) err[0] = '\0';
  /* o->dir may list several stores separated by newlines; their runs are pooled. */
  char dirs[4096];
  snprintf(dirs, sizeof dirs, "%s", o->dir);
  for (char *d = strtok(dirs, "\n"); d && n_dbs < 64; d = strtok(NULL, "\n")) {
    snprintf(path, sizeof path, "%s/results.sqlite", d);
    if ((rc = cbrl_store_open_read(path, &dbs[n_dbs], err, err_size))) break;
    sqlite3 *db = dbs[n_dbs++];
    if (!(extras[n_dbs - 1] = malloc(2048))) {
      rc = CBRL_ENOMEM;
      break;
    }
    if ((rc = cbrl_store_extras_source(db, extras[n_dbs - 1], 2048))) {
      snprintf(err, err_size, "%s: cannot read its environment metrics", path);
      break;
    }
    if ((rc = load(db, extras[n_dbs - 1], &s))) {
      if (rc == CBRL_EIO)
        snprintf(err, err_size, "%s: cannot read its runs: %s (not a cbrl results store?)", path, sqlite3_errmsg(db));
      break;
    }
  }
  if (!rc && o->only) {
    int kept = 0;
    for (int i = 0; i < s.n; i++) {
      if (column_selected(o->only, s.runs[i].sum.column)) s.runs[kept++] = s.runs[i];
      else free(s.runs[i].x_json);
    }
    if (!kept && s.n) {
      snprintf(err, err_size, "--only %s: no finished runs of these algorithms", o->only);
      rc = CBRL_EINVAL;
    }
    s.n = kept;
  }
  if (!rc && s.n == 0) {
    snprintf(err, err_size, "%s: no finished runs", o->dir);
    rc = CBRL_EINVAL;
  }
  char(*columns)[48] = NULL;
  double *lambdas = NULL, *betas = NULL;
  FILE *dump = NULL;
  cbrl_outfile dump_file = {0};
  const cbrl_env *env = s.n ? cbrl_env_find(s.env) : NULL;
  if (rc) goto done;
  s.has_beta = env && cbrl_env_takes(env, "beta");
  sweep_title(dbs[0], env, s.env, s.title, sizeof s.title);
  columns = calloc((size_t)s.n, sizeof *columns);
  lambdas = malloc(sizeof(double) * s.n), betas = malloc(sizeof(double) * s.n);
  if (!columns || !lambdas || !betas) {
    rc = CBRL_ENOMEM;
    goto done;
  }
  int nc = 0, nl = 0, nb = 0, figures = 0;
  for (int i = 0; i < s.n; i++) {
    int k = 0;
    while (k < nc && strcmp(columns[k], s.runs[i].sum.column)) k++;
    if (k == nc) memcpy(columns[nc++], s.runs[i].sum.column, sizeof s.runs[i].sum.column);
    k = 0;
    while (k < nl && !same(lambdas[k], s.runs[i].sum.lambda)) k++;
    if (k == nl) lambdas[nl++] = s.runs[i].sum.lambda;
    k = 0;
    while (k < nb && !same(betas[k], s.runs[i].sum.beta)) k++;
    if (k == nb) betas[nb++] = s.runs[i].sum.beta;
  }
  /* The maps' text dump goes with the first format drawn, whichever it is. */
  if (env && env->map && env->map_dump && o->formats & (CBRL_PLOT_PNG | CBRL_PLOT_SVG)) {
    snprintf(path, sizeof path, "%s/%s", o->out_dir, env->map_dump);
    if ((rc = cbrl_outfile_open(&dump_file, path, "w", err, err_size))) goto done;
    dump = dump_file.f;
  }
  int first_format = o->formats & CBRL_PLOT_PNG ? 0 : 1;
  static const char *const devices[2] = {"pngcairo", "svgcairo"}, *const exts[2] = {"png", "svg"};
  static const curve_spec f_by_iteration = {"curves", "iteration", "outer iteration", {"F"}, {""}, 1, "F(x)",
                                            "exact F", 0, 0, NULL, 0};
  static const curve_spec f_by_samples = {"samples", "follower_samples_total", "cumulative follower samples", {"F"},
                                          {""}, 1, "F(x)", "exact F by follower samples", 0, 0, NULL, 0};
  for (int f = 0; f < 2 && !rc; f++) {
    if (!(o->formats & (1 << f))) continue;
    for (int l = 0; l < nl && !rc; l++)
      for (int b = 0; b < nb && !rc; b++) {
        curve_spec specs[2 + 4];
        int n_specs = 0;
        specs[n_specs++] = f_by_iteration;
        specs[n_specs++] = f_by_samples;
        /* The environment's report curves: the same figure, its values read by name. */
        for (int e = 0; env && e < env->n_curves && n_specs < 6; e++) {
          const cbrl__env_curves *ec = &env->curves[e];
          curve_spec cs = {ec->prefix, "iteration", "outer iteration", {0}, {0}, ec->n_y, ec->axis, ec->what, 1,
                           ec->lower, ec->axis2, ec->flag_above};
          memcpy(cs.y, ec->y, sizeof cs.y);
          memcpy(cs.ylabel, ec->ylabel, sizeof cs.ylabel);
          specs[n_specs++] = cs;
        }
        for (int k = 0; k < n_specs && !rc; k++) {
          int w = curves(&s, columns, nc, lambdas[l], betas[b], &specs[k], o, devices[f], exts[f], err, err_size);
          if (w < 0) rc = w;
          else figures += w;
        }
        if (!rc && env && env->map) {
          int w = policy_map(&s, env, columns, nc, lambdas[l], betas[b], o, devices[f], exts[f], f == first_format ? dump : NULL,
                             err, err_size);
          if (w < 0) rc = w;
          else figures += w;
        }
      }
  }
  if (!rc && n_figures) *n_figures = figures;
done:
  if (dump && !rc) rc = cbrl_outfile_commit(&dump_file, err, err_size);
  else cbrl_outfile_abort(&dump_file);
  /* Every failure says what failed (issue 13 class 14: out of memory printed an empty line). */
  if (rc && err_size && !err[0]) snprintf(err, err_size, "%s: %s", o->dir, cbrl_strerror(rc));
  for (int i = 0; i < s.n; i++) free(s.runs[i].x_json);
  free(s.runs);
  free(columns);
  free(lambdas);
  free(betas);
  for (int i = 0; i < n_dbs; i++) sqlite3_close(dbs[i]), free(extras[i]);
  return rc;
}
