/* The Four-Rooms penalty map (docs/ENVIRONMENTS.md 1): the learned penalty per cell,
   walls, start, goals, the leader's target, and the follower's most likely path to each goal,
   with a text dump of every panel. Four-Rooms' entry in the registry points here. */
#include <math.h>
#include <plplot.h>
#include <stdio.h>
#include <string.h>

#include "cbrl/cbrl.h"
#include "env_internal.h"
#include "plot_internal.h"

/* The follower's most likely path from the start: argmax pi, then the most likely next cell. */
static int greedy_path(const cbrl_mdp *m, const double *pi, int start, int *path, int max) {
  int s = start, n = 0;
  path[n++] = s;
  while (n < max && !m->terminal[s]) {
    const int A = m->n_actions;
    int a = 0;
    for (int b = 1; b < A; b++)
      if (pi[s * A + b] > pi[s * A + a]) a = b;
    int64_t best = m->row[s * A + a];
    for (int64_t k = best; k < m->row[s * A + a + 1]; k++)
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

int cbrl__four_rooms_map(const cbrl__map_figure *f) {
  const int panels = f->n_panels;
  int rc = 0;
  /* One colour scale for every panel: the largest penalty of any of them. */
  double pmax = 0.0;
  for (int p = 0; p < panels; p++) {
    const cbrl__map_panel *run = &f->panels[p];
    if (run->dim != CBRL_FOUR_ROOMS_DIM) {
      snprintf(f->err, f->err_size, "run %d: x has %d values, not Four-Rooms' %d", run->run_id, run->dim,
               CBRL_FOUR_ROOMS_DIM);
      return CBRL_EINVAL;
    }
    double pen[CBRL_FOUR_ROOMS_CELLS];
    cbrl_four_rooms_penalties(run->x, pen);
    for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) pmax = fmax(pmax, -pen[i]);
  }
  if (!(pmax > 0)) pmax = 1.0;
  char axes[96];
  cbrl__plot_axes_title(f->lambda, f->beta, ", ", axes, sizeof axes);
  cbrl__plot_begin(f->device, f->path, 560 * panels, 660, panels);
  /* cmap1: white (no penalty) to dark red (the largest penalty). */
  PLFLT pos[2] = {0, 1}, r[2] = {1, 0.55}, g[2] = {1, 0}, b[2] = {1, 0};
  plscmap1l(1, 2, pos, r, g, b, NULL);
  for (int p = 0; p < panels && !rc; p++) {
    const cbrl__map_panel *run = &f->panels[p];
    double pen[CBRL_FOUR_ROOMS_CELLS];
    const double *x = run->x;
    cbrl_four_rooms_penalties(x, pen);
    /* Best responses at the final x, for the paths, from the problem the registry builds. */
    cbrl_env_params params;
    cbrl_env_params_default(&params);
    if (!isnan(f->beta)) params.beta = f->beta;
    cbrl_problem *prob = NULL;
    cbrl_exact *e = NULL;
    if ((rc = cbrl_env_create(f->env, &params, &prob, f->err, f->err_size))) break;
    if (!isnan(f->lambda)) prob->lambda = f->lambda;
    if ((rc = cbrl_exact_create(&e, prob)) || (rc = cbrl_exact_evaluate(e, x, NULL, NULL, NULL))) {
      snprintf(f->err, f->err_size, "penalty map of run %d: the follower's best response: %s", run->run_id,
               cbrl_strerror(rc));
      cbrl_exact_free(e);
      cbrl_problem_free(prob);
      break;
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
    plvpor(0.06, 0.78, 0.2, 0.86);
    plwind(0, 13, 0, 13);
    /* Cell (row, col) is the unit square [col, col + 1] x [12 - row, 13 - row], as the walls
       below. Without a transform plimagefr makes cells (xmax - xmin) / (nx - 1) wide with the
       first one's corner at xmin (PLplot 5.15), so 13 unit cells need 0..12 (0..13 drew them
       13/12 wide, the door's penalty half on the wall); it colours v at (v - valuemin) /
       (valuemax - valuemin), here the common scale 0..pmax (plimage used each panel's max). */
    plimagefr((PLFLT_MATRIX)colp, 13, 13, 0, 12, 0, 12, 0, pmax, 0, pmax, NULL, NULL);
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
      if (f->dump) {
        fprintf(f->dump, "# lambda %g beta %g panel %s run %d seed %ld goal G%d path:", f->lambda, f->beta, run->column, run->run_id,
                run->seed, k + 1);
        for (int i = 0; i < n; i++) fprintf(f->dump, " %d", route[i]);
        fputc('\n', f->dump);
      }
    }
    if (f->dump) {
      /* The panel as text: # wall, S start, A/B goals G1/G2, T target, else the penalty. */
      fprintf(f->dump, "# lambda %g beta %g panel %s cells:\n", f->lambda, f->beta, run->column);
      for (int row = 0; row < 13; row++) {
        for (int cx = 0; cx < 13; cx++) {
          int cell = cbrl_four_rooms_cell(row, cx);
          char ch = cell < 0 ? '#' : cell == marks[0] ? 'S' : cell == marks[1] ? 'A' : cell == marks[2] ? 'B' : cell == marks[3] ? 'T' : '.';
          fputc(ch, f->dump);
        }
        fputc('\n', f->dump);
      }
      for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) fprintf(f->dump, "%s%.6g", i ? " " : "penalties ", pen[i]);
      fputc('\n', f->dump);
    }
    plcol0(1);
    plschr(0, strlen(run->column) > 18 ? 0.75 : 0.9);
    plmtex("t", 1.2, 0.5, 0.5, run->column);
    plschr(0, 0.95);
    char title[160];
    snprintf(title, sizeof title, "%s%s%s", f->env->title, axes[0] ? ", " : "", axes);
    plmtex("t", 2.8, 0.5, 0.5, title);
    plschr(0, 0.9);
    char info[96];
    snprintf(info, sizeof info, "seed %ld, final-window F %.3f", run->seed, run->window_F);
    plmtex("b", 1.6, 0.0, 0.0, info);
    if (p == 0) plmtex("b", 3.2, 0.0, 0.0, "paths: blue to G1, green to G2");
    if (p == 0 && panels > 1) plmtex("b", 4.8, 0.0, 0.0, "one colour scale for all panels");
    plschr(0, 1.1);
    cbrl_exact_free(e);
    cbrl_problem_free(prob);
    if (p == panels - 1) {
      /* Colour bar: a strip of cmap1 beside the last panel, in units of 0.01 so that the
         labels need no exponent. */
      PLFLT strip[2][64], *stripp[2] = {strip[0], strip[1]};
      double top = 100.0 * pmax;
      for (int i = 0; i < 64; i++) strip[0][i] = strip[1][i] = top * (i + 0.5) / 64.0;
      plvpor(0.82, 0.85, 0.2, 0.86);
      plwind(0, 1, 0, top);
      plimagefr((PLFLT_MATRIX)stripp, 2, 64, 0, 0.5, 0, top * 63.0 / 64.0, 0, top, 0, top, NULL, NULL);
      plcol0(1);
      plbox("bc", 0, 0, "bcmstv", 0, 0);
      plmtex("t", 1.2, 0.5, 0.5, "|p| x100");
    }
  }
  int end = cbrl__plot_end(f->path, f->err, f->err_size);
  return rc ? rc : end ? end : 1;
}
