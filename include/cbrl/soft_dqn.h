/* The soft-DQN follower (docs/MODEL.md 5): the paper's function-approximation follower, a small
   ReLU network trained by soft Q-learning with a replay buffer, a target network and Adam, on
   the trajectories of the simulator it is given (the tax economy's continuous assets, say). */
#ifndef CBRL_SOFT_DQN_H
#define CBRL_SOFT_DQN_H

#include <stdint.h>

#include "cbrl/export.h"
#include "cbrl/follower.h"

#define CBRL_SOFT_DQN_HIDDEN_MAX 4 /* hidden layers */
#define CBRL_SOFT_DQN_HEADS_MAX 4  /* factorised action dimensions */

/* How the network's outputs stand for the actions. */
typedef enum cbrl_soft_dqn_heads {
  CBRL_SOFT_DQN_JOINT = 0,     /* one output per action: Q(s, a) */
  CBRL_SOFT_DQN_FACTORISED = 1 /* the paper's heads: one output group per action dimension, each
                                  trained on its own soft target, the policy their product */
} cbrl_soft_dqn_heads;

/* What the network sees of a state. */
typedef enum cbrl_soft_dqn_input {
  CBRL_SOFT_DQN_INPUT_AUTO = 0,     /* the simulator's own state where it has one (no kernel),
                                       else one-hot */
  CBRL_SOFT_DQN_INPUT_ONE_HOT = 1,  /* the model state, one-hot (n_states inputs) */
  CBRL_SOFT_DQN_INPUT_SIM_STATE = 2 /* input_scale * y, the simulator's own state (one input) */
} cbrl_soft_dqn_input;

/* The follower's options; cbrl_soft_dqn_opts_default fills them. */
typedef struct cbrl_soft_dqn_opts {
  int64_t steps;            /* environment steps per response, each followed by one update once
                               learning has started */
  int n_hidden;             /* hidden layers (ReLU) */
  int hidden[CBRL_SOFT_DQN_HIDDEN_MAX]; /* their widths */
  int heads;                /* cbrl_soft_dqn_heads */
  int n_head_sizes;         /* factorised: the action dimensions, whose product is n_actions;    */
  int head_sizes[CBRL_SOFT_DQN_HEADS_MAX]; /* action a is their row-major index (tax: 10 x 13) */
  int input;                /* cbrl_soft_dqn_input */
  double input_scale;       /* SIM_STATE: the input is input_scale * y */
  double learning_rate;     /* Adam */
  double max_grad_norm;     /* the gradient is clipped to this global norm before Adam; <= 0: no */
  int batch_size;           /* minibatch drawn from the replay buffer per update */
  int buffer_size;          /* replay buffer capacity (FIFO) */
  int64_t learning_starts;  /* updates start once the buffer holds this many transitions */
  int64_t target_interval;  /* updates between copies of the network into the target network */
  double epsilon_start, epsilon_end; /* exploration: a uniform action with probability epsilon, */
  int64_t epsilon_steps;    /* annealed linearly over the follower's first epsilon_steps steps */
  int max_steps;            /* episodes restart after this many steps (a time cut: the target
                               still bootstraps there) */
  int keep_buffer;          /* 0: empty the buffer at each response (its transitions belong to
                               the previous x); 1: keep it */
  uint64_t seed;            /* initial weights */
} cbrl_soft_dqn_opts;

/* Fills o with the defaults: 10,000 steps, two hidden layers of 64, joint heads, AUTO input with
   scale 0.01 (assets in [-100, 100] become [-1, 1]), Adam 1e-3, clip 1, batch 64, buffer 10,000,
   learning from 1,000 steps, target copy every 500 updates, epsilon 1 to 0.05 over 20,000 steps,
   episodes of 200 steps, seed 0. */
CBRL_API void cbrl_soft_dqn_opts_default(cbrl_soft_dqn_opts *o);

/* Creates the soft-DQN follower of p: one network (with its target, Adam state and buffer) per
   context, kept across responses (warm). Each response trains o->steps steps in the simulator it
   is given (or in the model's kernel when there is none) with the target
   r + gamma lambda logsumexp(Q_target(s') / lambda), and answers softmax(Q / lambda) at each model
   state; with the simulator's own states, at the mean of the states met in that model state
   (interpolated by state index where none was met). */
CBRL_API int cbrl_follower_soft_dqn_create(cbrl_follower **out, const cbrl_problem *p, const cbrl_soft_dqn_opts *o);

/* Returns the online network's parameters of a context and their number (NULL if f is not a
   soft-DQN follower): for checks that two runs learned the same weights. */
CBRL_API const double *cbrl_soft_dqn_params(const cbrl_follower *f, int context, int64_t *n_params);

#endif /* CBRL_SOFT_DQN_H */
