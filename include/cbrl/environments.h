/* Shipped environments: Four-Rooms reward shaping (SPEC 6.1) and random CMDPs (SPEC 6.3). */
#ifndef CBRL_ENVIRONMENTS_H
#define CBRL_ENVIRONMENTS_H

#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/hypergradient.h"
#include "cbrl/model.h"
#include "cbrl/simulate.h"

/* ---- Four-Rooms reward shaping (SPEC 6.1) --------------------------------- */

#define CBRL_FOUR_ROOMS_SIZE 13
#define CBRL_FOUR_ROOMS_CELLS 104
#define CBRL_FOUR_ROOMS_DIM 105

/* Which kernel simulated trajectories use (SPEC 6.1). */
typedef enum cbrl_four_rooms_simulator {
  CBRL_SIM_CONSISTENT = 0, /* the model's kernel: intended move 0.56, each other 0.1467 */
  CBRL_SIM_PAPER_CODE = 1  /* the paper's code: action replaced by a uniform one w.p. 4f/3 (0.67 / 0.11) */
} cbrl_four_rooms_simulator;

typedef struct cbrl_four_rooms_opts {
  double beta;      /* upper-level regularisation: cost of the incentive budget */
  double lambda;    /* follower temperature */
  double fail_prob; /* slip parameter; 0.33 in the paper */
  double gamma;     /* follower discount (0.99) */
  double leader_gamma;
  cbrl_four_rooms_simulator simulator;
} cbrl_four_rooms_opts;

/* Fills o with the paper's defaults: beta 1, lambda 0.003, fail_prob 0.33, discounts 0.99, and
   the consistent simulator. */
CBRL_API void cbrl_four_rooms_opts_default(cbrl_four_rooms_opts *o);

/* Creates the Four-Rooms problem: 104 states, 4 actions, d = 105, two goal contexts. */
CBRL_API int cbrl_four_rooms_create(cbrl_problem **out, const cbrl_four_rooms_opts *o);

/* Returns the free-cell index of (row, col), or -1 for a wall or a point off the map. */
CBRL_API int cbrl_four_rooms_cell(int row, int col);

/* Writes the (row, col) of free cell `cell`; returns CBRL_EINVAL if out of range. */
CBRL_API int cbrl_four_rooms_coords(int cell, int *row, int *col);

/* Returns the goal cell of a context (0: G1 = (1,9), 1: G2 = (11,11)), or -1. */
CBRL_API int cbrl_four_rooms_goal(int context);

/* Returns the start cell (4,1). */
CBRL_API int cbrl_four_rooms_start(void);

/* Returns the leader's target cell (8,4). */
CBRL_API int cbrl_four_rooms_target(void);

/* Writes the 104 cell penalties p_i = -0.2 softmax(x)_i for the leader parameters x (105). */
CBRL_API void cbrl_four_rooms_penalties(const double *x, double *penalty);

/* ---- Tax design (SPEC 6.2) ------------------------------------------------------ */

#define CBRL_TAX_DIM 4        /* x = (w_I, w_1, w_2, w_3); tau = 2 sigmoid(w) */
#define CBRL_TAX_HOURS 10     /* h = 0.89 i */
#define CBRL_TAX_TOTALS 13    /* total spending C = 1.25 K, K = 0 .. 12 */
#define CBRL_TAX_ACTIONS 130  /* (h, C): the exact reduction of the 1,250 joint actions */
#define CBRL_TAX_TYPES_MAX 8

typedef struct cbrl_tax_opts {
  int n_bins;                 /* asset grid on [-100, 100] */
  double lambda, gamma, leader_gamma;
  int n_types;                /* household types, the contexts */
  double alpha[CBRL_TAX_TYPES_MAX][3]; /* consumption preferences per type */
  double weight[CBRL_TAX_TYPES_MAX];   /* share of each type; sums to 1 */
  double noise_std;           /* 5: s' = m + noise_std eps, truncated to [-100, 100] */
  double cut_sigmas;          /* transitions kept within this many noise_std of the mean (8) */
} cbrl_tax_opts;

/* Fills o with SPEC 6.2: two equally weighted types alpha = (0.6, 0.3, 0.1) and (0.1, 0.7, 0.2),
   lambda 0.2, discounts 0.9, and the default grid of 200 bins (docs/results/tax_design.md). */
CBRL_API void cbrl_tax_opts_default(cbrl_tax_opts *o);

/* Creates the tabular tax economy: n_bins asset states, 130 reduced actions, d = 4. */
CBRL_API int cbrl_tax_create(cbrl_problem **out, const cbrl_tax_opts *o);

/* Writes the rates tau = 2 sigmoid(x): income tax first, then the three VAT rates. */
CBRL_API void cbrl_tax_rates(const double *x, double *tau);

/* Writes the x at which every rate is `rate` (the paper starts at 0.3). */
CBRL_API void cbrl_tax_x_for_rate(double rate, double *x);

/* Decodes a reduced action into hours h and total spending C. */
CBRL_API void cbrl_tax_action(int action, double *hours, double *spending);

/* Creates the continuous-assets simulator of the tax economy p (SPEC 6.2), for
   cbrl_hpgd_set_continuous or cbrl_leader_opts.continuous: households act through their grid
   policy at the bin holding their assets; the estimators get grad log p analytically. */
CBRL_API int cbrl_tax_continuous_create(cbrl_continuous **out, const cbrl_problem *p);

/* Frees a simulator made by cbrl_tax_continuous_create; NULL is allowed. */
CBRL_API void cbrl_tax_continuous_free(cbrl_continuous *c);

/* What a tax policy x does to the economy, from the households' exact best responses. */
typedef struct cbrl_tax_report {
  double rates[CBRL_TAX_DIM];                  /* income tax, then VAT on goods 1..3 */
  double welfare;                              /* F(x): the leader's objective */
  double household_value[CBRL_TAX_TYPES_MAX];  /* J: a type's own (soft) objective, E_mu V*(s_0) */
  double revenue[CBRL_TAX_TYPES_MAX];          /* expected discounted tax revenue (leader gamma) */
  double assets[CBRL_TAX_TYPES_MAX];           /* (1 - gamma_L) E[sum_t gamma_L^t s_t]: discounted mean assets */
  double value_mean, revenue_mean, assets_mean; /* weighted over types */
  double value_spread;                         /* max - min of J over types: an inequality figure */
} cbrl_tax_report;

/* Fills r for the tax problem p at x, solving (warm) with e, an exact workspace of p. */
CBRL_API int cbrl_tax_report_compute(const cbrl_problem *p, cbrl_exact *e, const double *x, cbrl_tax_report *r);

/* ---- Random CMDPs (SPEC 6.3) ----------------------------------------------- */

typedef struct cbrl_random_opts {
  int n_states;
  int n_actions;
  int dim;
  int n_contexts;
  int branch;               /* next states per (s,a); also the size of mu's support */
  uint64_t seed;
  double terminal_fraction; /* share of terminal states (0.1) */
  int coef_nonzeros;        /* non-zero entries per coefficient vector (min(dim, 2)); 0 = dense */
  double coef_scale;        /* std of the coefficients (0.5) */
  unsigned depends;         /* which of r, rbar, P, mu get coefficients (CBRL_DEPENDS_ALL) */
  double reward_scale;      /* multiplies r and rbar, constants and coefficients (1) */
  double gamma, leader_gamma, lambda;
} cbrl_random_opts;

/* Fills o with defaults: 10 states, 3 actions, d 3, 2 contexts, branch 3, seed 0, discounts 0.9, lambda 1. */
CBRL_API void cbrl_random_opts_default(cbrl_random_opts *o);

/* Creates a random affine CB-RL problem; the same options always give the same problem. */
CBRL_API int cbrl_random_problem_create(cbrl_problem **out, const cbrl_random_opts *o);

#endif /* CBRL_ENVIRONMENTS_H */
