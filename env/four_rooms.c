/* Four-Rooms reward shaping, docs/ENVIRONMENTS.md 1. The leader's 105 parameters become cell penalties
   through a softmax; only r and rbar depend on x, so the vjp reduces every cotangent to one
   coefficient per softmax entry and costs O(S*A + d). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/env/four_rooms.h"
#include "cbrl/soft_solver.h"
#include "cbrl/errors.h"

static const char *const four_rooms_map[CBRL_FOUR_ROOMS_SIZE] = {
    "xxxxxxxxxxxxx", "x     x     x", "x     x     x", "x           x", "x     x     x",
    "x     x     x", "xx xxxx     x", "x     xxx xxx", "x     x     x", "x     x     x",
    "x           x", "x     x     x", "xxxxxxxxxxxxx"};

/* Actions up, right, down, left (docs/ENVIRONMENTS.md 1). */
static const int move_row[4] = {-1, 0, 1, 0};
static const int move_col[4] = {0, 1, 0, -1};

int cbrl_four_rooms_cell(int row, int col) {
  if (row < 0 || row >= CBRL_FOUR_ROOMS_SIZE || col < 0 || col >= CBRL_FOUR_ROOMS_SIZE) return -1;
  if (four_rooms_map[row][col] == 'x') return -1;
  int index = 0;
  for (int i = 0; i < row * CBRL_FOUR_ROOMS_SIZE + col; i++)
    index += four_rooms_map[i / CBRL_FOUR_ROOMS_SIZE][i % CBRL_FOUR_ROOMS_SIZE] != 'x';
  return index;
}

int cbrl_four_rooms_coords(int cell, int *row, int *col) {
  if (cell < 0 || cell >= CBRL_FOUR_ROOMS_CELLS) return CBRL_EINVAL;
  int index = 0;
  for (int i = 0; i < CBRL_FOUR_ROOMS_SIZE * CBRL_FOUR_ROOMS_SIZE; i++) {
    if (four_rooms_map[i / CBRL_FOUR_ROOMS_SIZE][i % CBRL_FOUR_ROOMS_SIZE] == 'x') continue;
    if (index++ == cell) {
      if (row) *row = i / CBRL_FOUR_ROOMS_SIZE;
      if (col) *col = i % CBRL_FOUR_ROOMS_SIZE;
      return 0;
    }
  }
  return CBRL_EINVAL;
}

int cbrl_four_rooms_goal(int context) {
  if (context == 0) return cbrl_four_rooms_cell(1, 9);
  if (context == 1) return cbrl_four_rooms_cell(11, 11);
  return -1;
}

int cbrl_four_rooms_start(void) { return cbrl_four_rooms_cell(4, 1); }

int cbrl_four_rooms_target(void) { return cbrl_four_rooms_cell(8, 4); }

/* softmax(x), with the core's one softmax at temperature 1 (dividing by 1.0 is exact). */
static void softmax(const double *x, int n, double *out) { cbrl_softmax_row(x, n, 1.0, out); }

void cbrl_four_rooms_penalties(const double *x, double *penalty) {
  double sigma[CBRL_FOUR_ROOMS_DIM];
  softmax(x, CBRL_FOUR_ROOMS_DIM, sigma);
  for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) penalty[i] = -0.2 * sigma[i];
}

typedef struct four_rooms {
  cbrl_four_rooms_opts opts;
  int next[CBRL_FOUR_ROOMS_CELLS][4]; /* cell reached by each executed direction */
} four_rooms;

/* Distinct next cells of (s, a) and their probabilities under the slip kernel:
   intended direction 1 - 4f/3, each other 4f/9 (docs/ENVIRONMENTS.md 1). Returns their count. */
static int kernel_row_of(const four_rooms *fr, int s, int a, int paper_code, int32_t *cells,
                         double *probs) {
  int n = 0;
  double f = fr->opts.fail_prob;
  for (int d = 0; d < 4; d++) {
    /* Paper code: w.p. 4f/3 the action is replaced by a uniform one, so the intended move has
       1 - 4f/3 + f/3 = 1 - f and each other f/3. */
    double pr = paper_code ? (d == a ? 1.0 - f : f / 3.0) : (d == a ? 1.0 - 4.0 * f / 3.0 : 4.0 * f / 9.0);
    int c = fr->next[s][d], j = 0;
    while (j < n && cells[j] != c) j++;
    if (j == n) {
      cells[n] = c;
      probs[n++] = 0.0;
    }
    probs[j] += pr;
  }
  /* Sort by cell so the pattern is canonical. */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && cells[j - 1] > cells[j]; j--) {
      int32_t tc = cells[j];
      cells[j] = cells[j - 1];
      cells[j - 1] = tc;
      double tp = probs[j];
      probs[j] = probs[j - 1];
      probs[j - 1] = tp;
    }
  return n;
}

static int kernel_row(const four_rooms *fr, int s, int a, int32_t *cells, double *probs) {
  return kernel_row_of(fr, s, a, 0, cells, probs);
}

static int64_t fr_n_transitions(const cbrl_problem *p, int context) {
  const four_rooms *fr = p->impl;
  int goal = cbrl_four_rooms_goal(context);
  int32_t cells[4];
  double probs[4];
  int64_t n = 0;
  for (int s = 0; s < CBRL_FOUR_ROOMS_CELLS; s++)
    for (int a = 0; a < 4 && s != goal; a++) n += kernel_row(fr, s, a, cells, probs);
  return n;
}

static int fr_structure(const cbrl_problem *p, int context, cbrl_mdp *m) {
  const four_rooms *fr = p->impl;
  int goal = cbrl_four_rooms_goal(context);
  int64_t k = 0;
  m->terminal[goal] = 1;
  for (int s = 0; s < CBRL_FOUR_ROOMS_CELLS; s++)
    for (int a = 0; a < 4; a++) {
      m->row[s * 4 + a] = k;
      if (s == goal) continue;
      k += kernel_row(fr, s, a, m->next + k, m->prob + k);
    }
  m->row[CBRL_FOUR_ROOMS_CELLS * 4] = k;
  m->mu[cbrl_four_rooms_start()] = 1.0;
  return 0;
}

static int fr_evaluate(const cbrl_problem *p, int context, const double *x, cbrl_mdp *m, void *scratch) {
  const four_rooms *fr = p->impl;
  int goal = cbrl_four_rooms_goal(context), target = cbrl_four_rooms_target();
  double penalty[CBRL_FOUR_ROOMS_CELLS], budget = 0.0;
  cbrl_four_rooms_penalties(x, penalty);
  for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) budget += fabs(penalty[i]);
  for (int s = 0; s < CBRL_FOUR_ROOMS_CELLS; s++) {
    /* r = 1{s = goal} + p_s 1{s != goal};  rbar = 1{s = (8,4)} - beta 1{s = goal} ||p||_1 */
    double r = s == goal ? 1.0 : penalty[s];
    double rbar = (s == target ? 1.0 : 0.0) - (s == goal ? fr->opts.beta * budget : 0.0);
    for (int a = 0; a < 4; a++) {
      m->r[s * 4 + a] = r;
      m->rbar[s * 4 + a] = rbar;
    }
  }
  return 0;
}

static int fr_vjp(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                  const cbrl_cotangent *ct, double *grad, void *scratch) {
  const four_rooms *fr = p->impl;
  int goal = cbrl_four_rooms_goal(context);
  double sigma[CBRL_FOUR_ROOMS_DIM], e[CBRL_FOUR_ROOMS_DIM] = {0};
  softmax(x, CBRL_FOUR_ROOMS_DIM, sigma);
  /* Both rewards are linear in sigma = softmax(x): collect the coefficient e_i of each
     sigma_i, then grad_j = sigma_j (e_j - sum_i e_i sigma_i). */
  if (ct->r)
    for (int s = 0; s < CBRL_FOUR_ROOMS_CELLS; s++) {
      if (s == goal) continue;
      double c = ct->r[s * 4] + ct->r[s * 4 + 1] + ct->r[s * 4 + 2] + ct->r[s * 4 + 3];
      e[s] += -0.2 * c;
    }
  if (ct->rbar) {
    double c = ct->rbar[goal * 4] + ct->rbar[goal * 4 + 1] + ct->rbar[goal * 4 + 2] + ct->rbar[goal * 4 + 3];
    for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) e[i] += -0.2 * fr->opts.beta * c;
  }
  double mean = 0.0;
  for (int i = 0; i < CBRL_FOUR_ROOMS_DIM; i++) mean += e[i] * sigma[i];
  for (int i = 0; i < CBRL_FOUR_ROOMS_DIM; i++) grad[i] += sigma[i] * (e[i] - mean);
  return 0;
}

/* grad p_s = -0.2 sigma_s (e_s - sigma); grad ||p||_1 = 0.2 sigma_j (1{j<104} - sum_{i<104} sigma_i). */
static int fr_reward_jacobian(const cbrl_problem *p, int context, const double *x, const cbrl_mdp *m,
                              double *jac_r, double *jac_rbar, void *scratch) {
  const four_rooms *fr = p->impl;
  int goal = cbrl_four_rooms_goal(context), d = CBRL_FOUR_ROOMS_DIM;
  double sigma[CBRL_FOUR_ROOMS_DIM], used = 0.0;
  softmax(x, d, sigma);
  for (int i = 0; i < CBRL_FOUR_ROOMS_CELLS; i++) used += sigma[i];
  for (int s = 0; s < CBRL_FOUR_ROOMS_CELLS; s++)
    for (int a = 0; a < 4; a++) {
      double *jr = jac_r ? jac_r + ((size_t)s * 4 + a) * d : NULL;
      double *jb = jac_rbar ? jac_rbar + ((size_t)s * 4 + a) * d : NULL;
      for (int j = 0; j < d; j++) {
        if (jr) jr[j] = s == goal ? 0.0 : -0.2 * sigma[s] * ((j == s) - sigma[j]);
        if (jb) jb[j] = s == goal ? -fr->opts.beta * 0.2 * sigma[j] * ((j < CBRL_FOUR_ROOMS_CELLS) - used) : 0.0;
      }
    }
  return 0;
}

static void fr_destroy(cbrl_problem *p) {
  free(p->impl);
  p->impl = NULL;
}

static const cbrl_problem_ops four_rooms_ops = {fr_n_transitions, fr_structure, fr_evaluate, fr_vjp,
                                                fr_destroy, fr_reward_jacobian, NULL, NULL};

void cbrl_four_rooms_opts_default(cbrl_four_rooms_opts *o) {
  o->beta = 1.0;
  o->lambda = 0.003;
  o->fail_prob = 0.33;
  o->gamma = 0.99;
  o->leader_gamma = 0.99;
}

int cbrl_four_rooms_create(cbrl_problem **out, const cbrl_four_rooms_opts *o) {
  cbrl_four_rooms_opts defaults;
  if (!o) {
    cbrl_four_rooms_opts_default(&defaults);
    o = &defaults;
  }
  if (!out || !(o->fail_prob >= 0.0 && o->fail_prob <= 0.75) || !isfinite(o->beta)) return CBRL_EINVAL;
  four_rooms *fr = calloc(1, sizeof *fr);
  if (!fr) return CBRL_ENOMEM;
  fr->opts = *o;
  for (int s = 0; s < CBRL_FOUR_ROOMS_CELLS; s++) {
    int row, col;
    cbrl_four_rooms_coords(s, &row, &col);
    for (int d = 0; d < 4; d++) {
      int c = cbrl_four_rooms_cell(row + move_row[d], col + move_col[d]);
      fr->next[s][d] = c < 0 ? s : c; /* a move into a wall stays in place */
    }
  }
  int err = cbrl_problem_create(out, &four_rooms_ops, fr, CBRL_FOUR_ROOMS_CELLS, 4,
                                CBRL_FOUR_ROOMS_DIM, 2);
  if (err) {
    free(fr);
    return err;
  }
  (*out)->gamma = o->gamma;
  (*out)->leader_gamma = o->leader_gamma;
  (*out)->lambda = o->lambda;
  (*out)->flags = CBRL_DEPENDS_R | CBRL_DEPENDS_RBAR;
  snprintf((*out)->name, sizeof (*out)->name, "four-rooms");
  return 0;
}

int cbrl_four_rooms_paper_sim_create(cbrl_simulator **out, const cbrl_problem *p) {
  if (!out || !p || p->ops != &four_rooms_ops) return CBRL_EINVAL;
  const four_rooms *fr = p->impl;
  double *prob[2] = {NULL, NULL};
  int err = 0;
  for (int c = 0; c < 2 && !err; c++) {
    /* The model's support (the four moves, sorted by cell), the paper code's weights. */
    int goal = cbrl_four_rooms_goal(c);
    prob[c] = malloc(sizeof(double) * (size_t)fr_n_transitions(p, c));
    if (!prob[c]) {
      err = CBRL_ENOMEM;
      break;
    }
    int64_t k = 0;
    int32_t cells[4];
    for (int s = 0; s < CBRL_FOUR_ROOMS_CELLS; s++)
      for (int a = 0; a < 4 && s != goal; a++) k += kernel_row_of(fr, s, a, 1, cells, prob[c] + k);
  }
  if (!err) err = cbrl_simulator_tabular_create(out, p, (const double *const *)prob);
  if (!err) snprintf((*out)->name, sizeof (*out)->name, "paper-code");
  free(prob[0]);
  free(prob[1]);
  return err;
}
