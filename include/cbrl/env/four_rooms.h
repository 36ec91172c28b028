/* Four-Rooms reward shaping (docs/ENVIRONMENTS.md 1). */
#ifndef CBRL_ENV_FOUR_ROOMS_H
#define CBRL_ENV_FOUR_ROOMS_H

#include "cbrl/export.h"
#include "cbrl/model.h"
#include "cbrl/simulate.h"

#define CBRL_FOUR_ROOMS_SIZE 13
#define CBRL_FOUR_ROOMS_CELLS 104
#define CBRL_FOUR_ROOMS_DIM 105

typedef struct cbrl_four_rooms_opts {
  double beta;      /* upper-level regularisation: cost of the incentive budget */
  double lambda;    /* follower temperature */
  double fail_prob; /* slip parameter; 0.33 in the paper */
  double gamma;     /* follower discount (0.99) */
  double leader_gamma;
} cbrl_four_rooms_opts;

/* Fills o with the paper's defaults: beta 1, lambda 0.003, fail_prob 0.33, discounts 0.99. */
CBRL_API void cbrl_four_rooms_opts_default(cbrl_four_rooms_opts *o);

/* Creates the Four-Rooms problem: 104 states, 4 actions, d = 105, two goal contexts. */
CBRL_API int cbrl_four_rooms_create(cbrl_problem **out, const cbrl_four_rooms_opts *o);

/* Creates the paper code's simulator of a Four-Rooms problem p (docs/ENVIRONMENTS.md,
   Four-Rooms): the action is replaced by a uniform one w.p. 4f/3, so the intended move has
   probability 0.67 and each other 0.11, where the model (and the consistent default, a NULL
   simulator) has 0.56 / 0.1467. Free it with cbrl_simulator_free. */
CBRL_API int cbrl_four_rooms_paper_sim_create(cbrl_simulator **out, const cbrl_problem *p);

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

#endif /* CBRL_ENV_FOUR_ROOMS_H */
