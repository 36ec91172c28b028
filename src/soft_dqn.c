/* The soft-DQN follower (docs/MODEL.md 5): soft Q-learning with a small ReLU network, a replay
   buffer, a target network and Adam, as the paper's tax follower, on the trajectories of the
   simulator a response is given. The update of one minibatch B is, per head h (one head for
   joint outputs),
     y_h = r + gamma lambda logsumexp(Q_target,h(s') / lambda)   (0 continuation after a terminal),
     loss = sum_h mean_B (Q_h(s, a_h) - y_h)^2,
   the gradient clipped to a global norm, then one Adam step; the target network copies the
   network every target_interval updates. Everything runs on one thread from the caller's random
   stream, so the same seed gives the same weights whatever the thread count.

   The answer is a tabular policy over the model's states, softmax(Q / lambda) (the product of the
   heads' softmaxes when factorised), evaluated at one representative input per model state: the
   state itself (one-hot) or, for a simulator with states of its own, the mean of the simulator
   states met in that model state during training. That mean is where the follower actually acts
   when it is in that model state, so the table is the network's behaviour there; for the tax grid
   it lies within half a bin of the bin's centre. Model states never met get the linear
   interpolation in state index between the nearest met ones (extrapolated with the mean slope),
   which for an evenly spaced grid is its centre. */
#include "cbrl/soft_dqn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "mlp.h"
#include "rng_inline.h"
#include "sim_place.h"
#include "soft_policy.h"

/* One context's learner: network, target, optimiser, replay buffer. */
typedef struct dqn_context {
  double *params, *target; /* n_params each */
  cbrl__adam adam;
  int64_t updates;
  int64_t life_steps; /* steps since creation: the exploration schedule's clock */
  int64_t count, head; /* buffer entries held, next write position */
  int32_t *s, *a, *s2;  /* buffer_size each */
  double *y, *y2, *r;
  unsigned char *done;
} dqn_context;

typedef struct soft_dqn {
  cbrl_soft_dqn_opts o;
  int n_contexts, n_states, n_actions;
  int ready; /* networks built (at the first response, once the input is known) */
  int input; /* resolved: ONE_HOT or SIM_STATE */
  int n_heads, head_size[CBRL_SOFT_DQN_HEADS_MAX], head_offset[CBRL_SOFT_DQN_HEADS_MAX];
  int head_stride[CBRL_SOFT_DQN_HEADS_MAX]; /* row-major strides of the action index */
  cbrl__mlp net;
  cbrl__mlp_work work, work_target;
  dqn_context *ctx;
  int32_t *idx;        /* batch_size */
  int32_t *pick;       /* batch_size x heads: the outputs of the actions taken */
  double *x, *x2;      /* batch_size x inputs */
  double *dout, *grad; /* batch_size x outputs; n_params */
  double *head_pi;     /* outputs: one state's head policies */
  double *pi, *log_pi; /* n_states x n_actions */
  double *y_sum, *y_count, *y_rep; /* n_states: the simulator states met per model state */
} soft_dqn;

void cbrl_soft_dqn_opts_default(cbrl_soft_dqn_opts *o) {
  memset(o, 0, sizeof *o);
  o->steps = 10000;
  o->n_hidden = 2;
  o->hidden[0] = o->hidden[1] = 64;
  o->heads = CBRL_SOFT_DQN_JOINT;
  o->input = CBRL_SOFT_DQN_INPUT_AUTO;
  o->input_scale = 0.01;
  o->learning_rate = 1e-3;
  o->max_grad_norm = 1.0;
  o->batch_size = 64;
  o->buffer_size = 10000;
  o->learning_starts = 1000;
  o->target_interval = 500;
  o->epsilon_start = 1.0;
  o->epsilon_end = 0.05;
  o->epsilon_steps = 20000;
  o->max_steps = 200;
  o->seed = 0;
}

static int check_opts(const cbrl_soft_dqn_opts *o, const cbrl_problem *p) {
  if (o->steps < 0 || o->n_hidden < 0 || o->n_hidden > CBRL_SOFT_DQN_HIDDEN_MAX || o->batch_size < 1 ||
      o->batch_size > 1 << 20 || o->buffer_size < o->batch_size || o->buffer_size > 1 << 28 ||
      o->learning_starts < 0 || o->target_interval < 1 || o->max_steps < 0 || o->epsilon_steps < 0 ||
      !(o->learning_rate > 0) || !(o->epsilon_start >= 0 && o->epsilon_start <= 1) ||
      !(o->epsilon_end >= 0 && o->epsilon_end <= 1) || !isfinite(o->input_scale) ||
      !isfinite(o->max_grad_norm) || o->input < 0 || o->input > CBRL_SOFT_DQN_INPUT_SIM_STATE)
    return CBRL_EINVAL;
  for (int l = 0; l < o->n_hidden; l++)
    if (o->hidden[l] < 1 || o->hidden[l] > 4096) return CBRL_EINVAL;
  if (o->heads == CBRL_SOFT_DQN_FACTORISED) {
    if (o->n_head_sizes < 1 || o->n_head_sizes > CBRL_SOFT_DQN_HEADS_MAX) return CBRL_EINVAL;
    int64_t prod = 1;
    for (int h = 0; h < o->n_head_sizes; h++) {
      if (o->head_sizes[h] < 1) return CBRL_EINVAL;
      prod *= o->head_sizes[h];
    }
    if (prod != p->n_actions) return CBRL_EINVAL;
  } else if (o->heads != CBRL_SOFT_DQN_JOINT) {
    return CBRL_EINVAL;
  }
  return 0;
}

static void context_close(dqn_context *c) {
  free(c->params);
  free(c->target);
  cbrl__adam_close(&c->adam);
  free(c->s);
  free(c->a);
  free(c->s2);
  free(c->y);
  free(c->y2);
  free(c->r);
  free(c->done);
}

/* Frees what setup built (the networks, their buffers and scratch), leaving d as before it. */
static void release_networks(soft_dqn *d) {
  for (int k = 0; d->ctx && k < d->n_contexts; k++) {
    context_close(&d->ctx[k]);
    memset(&d->ctx[k], 0, sizeof d->ctx[k]);
  }
  cbrl__mlp_work_close(&d->work);
  cbrl__mlp_work_close(&d->work_target);
  free(d->idx);
  free(d->pick);
  free(d->x);
  free(d->x2);
  free(d->dout);
  free(d->grad);
  free(d->head_pi);
  d->idx = d->pick = NULL;
  d->x = d->x2 = d->dout = d->grad = d->head_pi = NULL;
  d->ready = 0;
}

static void dqn_destroy(cbrl_follower *f) {
  soft_dqn *d = f->impl;
  if (!d) return;
  release_networks(d);
  free(d->ctx);
  free(d->pi);
  free(d->log_pi);
  free(d->y_sum);
  free(d->y_count);
  free(d->y_rep);
  free(d);
  f->impl = NULL;
}

/* Builds the networks once the input is known; the initial weights of context k come from the
   seed's stream k, so contexts do not share them. */
static int setup(soft_dqn *d, int input) {
  const cbrl_soft_dqn_opts *o = &d->o;
  int size[CBRL__MLP_LAYERS_MAX + 1], n_out = 0;
  d->input = input;
  size[0] = input == CBRL_SOFT_DQN_INPUT_ONE_HOT ? d->n_states : 1;
  for (int l = 0; l < o->n_hidden; l++) size[l + 1] = o->hidden[l];
  for (int h = 0; h < d->n_heads; h++) d->head_offset[h] = n_out, n_out += d->head_size[h];
  size[o->n_hidden + 1] = n_out;
  int err = cbrl__mlp_shape(&d->net, o->n_hidden + 1, size);
  if (err) return err;
  int64_t P = d->net.n_params, B = o->batch_size, cap = o->buffer_size;
  int rows = B > d->n_states ? (int)B : d->n_states;
  if ((err = cbrl__mlp_work_init(&d->work, &d->net, rows)) || (err = cbrl__mlp_work_init(&d->work_target, &d->net, (int)B)))
    return err;
  d->idx = malloc(sizeof(int32_t) * B);
  d->pick = malloc(sizeof(int32_t) * B * d->n_heads);
  d->x = malloc(sizeof(double) * (size_t)rows * size[0]);
  d->x2 = malloc(sizeof(double) * (size_t)B * size[0]);
  d->dout = malloc(sizeof(double) * (size_t)B * n_out);
  d->grad = malloc(sizeof(double) * P);
  d->head_pi = malloc(sizeof(double) * n_out);
  if (!d->idx || !d->pick || !d->x || !d->x2 || !d->dout || !d->grad || !d->head_pi) return CBRL_ENOMEM;
  for (int k = 0; k < d->n_contexts; k++) {
    dqn_context *c = &d->ctx[k];
    c->params = malloc(sizeof(double) * P);
    c->target = malloc(sizeof(double) * P);
    c->s = malloc(sizeof(int32_t) * cap);
    c->a = malloc(sizeof(int32_t) * cap);
    c->s2 = malloc(sizeof(int32_t) * cap);
    c->y = malloc(sizeof(double) * cap);
    c->y2 = malloc(sizeof(double) * cap);
    c->r = malloc(sizeof(double) * cap);
    c->done = malloc(cap);
    if (!c->params || !c->target || !c->s || !c->a || !c->s2 || !c->y || !c->y2 || !c->r || !c->done) return CBRL_ENOMEM;
    if ((err = cbrl__adam_init(&c->adam, P, o->learning_rate))) return err;
    cbrl_rng rng;
    cbrl_rng_seed(&rng, o->seed, (uint64_t)k);
    /* The paper's output layer starts small (orthogonal, gain 0.1): Q near 0 everywhere. */
    if ((err = cbrl__mlp_init_params(&d->net, 0.1, &rng, c->params))) return err;
    memcpy(c->target, c->params, sizeof(double) * P);
  }
  d->ready = 1;
  return 0;
}

/* The network input of one state. */
static void features(const soft_dqn *d, int32_t s, double y, double *x) {
  if (d->input == CBRL_SOFT_DQN_INPUT_ONE_HOT) {
    memset(x, 0, sizeof(double) * d->n_states);
    if (s >= 0) x[s] = 1.0;
  } else {
    x[0] = d->o.input_scale * y;
  }
}

/* Where episodes come from: the simulator's ops, or a tabular MDP (the model or the simulator's
   kernel on the model's states). */
typedef struct dqn_env {
  const cbrl_simulator *sim; /* NULL: tabular */
  cbrl_mdp view;
} dqn_env;

static cbrl_sim_state env_initial(const dqn_env *e, cbrl_rng *rng) {
  return cbrl__place_start(e->sim, &e->view, rng);
}

static cbrl_sim_state env_next(const dqn_env *e, cbrl_sim_state at, int32_t a, cbrl_rng *rng, double *r) {
  double rbar;
  cbrl__place_rewards(e->sim, &e->view, at, a, r, &rbar);
  return cbrl__place_next(e->sim, &e->view, at, a, rng, NULL);
}

/* The heads' policies at the outputs q of one state (head_pi: outputs), softmax(q_h / lambda). */
static void head_policies(const soft_dqn *d, const double *q, double lambda, double *pi) {
  for (int h = 0; h < d->n_heads; h++)
    cbrl_softmax_row(q + d->head_offset[h], d->head_size[h], lambda, pi + d->head_offset[h]);
}

/* Draws an action: uniform with probability epsilon, else from the heads' policies. */
static int32_t act(soft_dqn *d, const double *params, int32_t s, double y, double epsilon, double lambda,
                   cbrl_rng *rng) {
  if (cbrl__rng_uniform(rng) < epsilon) return (int32_t)cbrl_rng_below(rng, (uint64_t)d->n_actions);
  features(d, s, y, d->x);
  const double *q = cbrl__mlp_forward(&d->net, params, 1, d->x, &d->work);
  head_policies(d, q, lambda, d->head_pi);
  int32_t a = 0;
  for (int h = 0; h < d->n_heads; h++)
    a += (int32_t)cbrl__categorical(d->head_pi + d->head_offset[h], d->head_size[h], cbrl__rng_uniform(rng)) *
         d->head_stride[h];
  return a;
}

/* One update from a minibatch of the buffer; returns the root-mean-square TD error. */
static double update(soft_dqn *d, dqn_context *c, double gamma, double lambda, cbrl_rng *rng) {
  const cbrl_soft_dqn_opts *o = &d->o;
  int B = o->batch_size, n_in = d->net.size[0], n_out = d->net.size[d->net.n_layers];
  for (int i = 0; i < B; i++) {
    int32_t j = (int32_t)cbrl_rng_below(rng, (uint64_t)c->count);
    d->idx[i] = j;
    features(d, c->s[j], c->y[j], d->x + (size_t)i * n_in);
    features(d, c->s2[j], c->y2[j], d->x2 + (size_t)i * n_in);
  }
  const double *qt = cbrl__mlp_forward(&d->net, c->target, B, d->x2, &d->work_target);
  /* Of the network's outputs only the actions taken enter the loss. */
  for (int i = 0; i < B; i++)
    for (int h = 0; h < d->n_heads; h++)
      d->pick[i * d->n_heads + h] = d->head_offset[h] + (c->a[d->idx[i]] / d->head_stride[h]) % d->head_size[h];
  const double *q = cbrl__mlp_forward_picked(&d->net, c->params, B, d->x, &d->work, d->n_heads, d->pick);
  memset(d->dout, 0, sizeof(double) * (size_t)B * n_out);
  double sq = 0.0;
  for (int i = 0; i < B; i++) {
    int32_t j = d->idx[i], a = c->a[j];
    for (int h = 0; h < d->n_heads; h++) {
      int ah = (a / d->head_stride[h]) % d->head_size[h], off = d->head_offset[h];
      double next = c->done[j] ? 0.0 : gamma * cbrl_soft_value(qt + (size_t)i * n_out + off, d->head_size[h], lambda);
      double diff = q[(size_t)i * n_out + off + ah] - (c->r[j] + next);
      d->dout[(size_t)i * n_out + off + ah] = 2.0 * diff / B;
      sq += diff * diff;
    }
  }
  cbrl__mlp_backward(&d->net, c->params, B, d->x, &d->work, d->dout, d->grad);
  cbrl__clip_global_norm(d->grad, d->net.n_params, o->max_grad_norm);
  cbrl__adam_step(&c->adam, c->params, d->grad);
  if (++c->updates % o->target_interval == 0) memcpy(c->target, c->params, sizeof(double) * d->net.n_params);
  return sqrt(sq / ((double)B * d->n_heads));
}

/* The representative simulator state of every model state (see the top of the file). */
static void representatives(soft_dqn *d) {
  int S = d->n_states, first = -1, last = -1;
  for (int s = 0; s < S; s++)
    if (d->y_count[s] > 0) {
      d->y_rep[s] = d->y_sum[s] / d->y_count[s];
      if (first < 0) first = s;
      last = s;
    }
  if (first < 0) {
    for (int s = 0; s < S; s++) d->y_rep[s] = 0.0;
    return;
  }
  double slope = last > first ? (d->y_rep[last] - d->y_rep[first]) / (last - first) : 0.0;
  for (int s = 0; s < first; s++) d->y_rep[s] = d->y_rep[first] - slope * (first - s);
  for (int s = last + 1; s < S; s++) d->y_rep[s] = d->y_rep[last] + slope * (s - last);
  for (int s = first, prev = first; s <= last; s++) {
    if (d->y_count[s] <= 0) continue;
    for (int k = prev + 1; k < s; k++)
      d->y_rep[k] = d->y_rep[prev] + (d->y_rep[s] - d->y_rep[prev]) * (k - prev) / (s - prev);
    prev = s;
  }
}

/* Writes the tabular policy of a context's network at every model state. */
static void policy_table(soft_dqn *d, const dqn_context *c, double lambda) {
  int S = d->n_states, A = d->n_actions, n_in = d->net.size[0], n_out = d->net.size[d->net.n_layers];
  if (d->input == CBRL_SOFT_DQN_INPUT_SIM_STATE) representatives(d);
  for (int s = 0; s < S; s++) features(d, s, d->input == CBRL_SOFT_DQN_INPUT_SIM_STATE ? d->y_rep[s] : 0.0, d->x + (size_t)s * n_in);
  const double *q = cbrl__mlp_forward(&d->net, c->params, S, d->x, &d->work);
  for (int s = 0; s < S; s++) {
    const double *qs = q + (size_t)s * n_out;
    double *pi = d->pi + (size_t)s * A, *lp = d->log_pi + (size_t)s * A;
    if (d->n_heads == 1) {
      cbrl_soft_policy_row(qs, A, lambda, pi, lp);
      continue;
    }
    /* log pi(a) = sum_h log pi_h(a_h), each head's log-softmax (q - v) / lambda. */
    double v[CBRL_SOFT_DQN_HEADS_MAX];
    for (int h = 0; h < d->n_heads; h++) v[h] = cbrl_soft_value(qs + d->head_offset[h], d->head_size[h], lambda);
    for (int a = 0; a < A; a++) {
      double l = 0.0;
      for (int h = 0; h < d->n_heads; h++) {
        int ah = (a / d->head_stride[h]) % d->head_size[h];
        l += (qs[d->head_offset[h] + ah] - v[h]) / lambda;
      }
      lp[a] = l;
      pi[a] = exp(l);
    }
  }
}

static int dqn_respond(cbrl_follower *f, int context, const double *x, const cbrl_mdp *m, const cbrl_simulator *sim,
                       cbrl_rng *rng, cbrl_policy *out) {
  soft_dqn *d = f->impl;
  const cbrl_problem *p = f->problem;
  const cbrl_soft_dqn_opts *o = &d->o;
  double lam = p->lambda, gam = p->gamma;
  if (!rng) return CBRL_EINVAL;
  dqn_env env = {0};
  int own_states = sim && !sim->ops->kernel; /* a simulator off the model's states (cbrl/simulate.h) */
  if (own_states) env.sim = sim;
  else cbrl_simulator_tabular(sim, m, &env.view);
  int input = o->input == CBRL_SOFT_DQN_INPUT_AUTO ? (own_states ? CBRL_SOFT_DQN_INPUT_SIM_STATE : CBRL_SOFT_DQN_INPUT_ONE_HOT)
                                                   : o->input;
  if (!d->ready) {
    int err = setup(d, input);
    if (err) {
      release_networks(d); /* a later response may try again */
      return err;
    }
  } else if (input != d->input) {
    return CBRL_EINVAL; /* the network's input cannot change between responses */
  }
  dqn_context *c = &d->ctx[context];
  if (!o->keep_buffer) c->count = c->head = 0;
  int64_t updates0 = c->updates;
  double rms = 0.0;
  cbrl_sim_state at = env_initial(&env, rng);
  int t = 0;
  for (int64_t i = 0; i < o->steps; i++) {
    if (!(i & 1023) && f->cancel && *f->cancel) return CBRL_ECANCELED;
    double frac = o->epsilon_steps ? (double)c->life_steps / (double)o->epsilon_steps : 1.0;
    double eps = frac >= 1.0 ? o->epsilon_end : o->epsilon_start + (o->epsilon_end - o->epsilon_start) * frac;
    int32_t a = act(d, c->params, at.s, at.y, eps, lam, rng);
    double r;
    cbrl_sim_state to = env_next(&env, at, a, rng, &r);
    int64_t j = c->head;
    c->s[j] = at.s;
    c->y[j] = at.y;
    c->a[j] = a;
    c->r[j] = r;
    c->s2[j] = to.s;
    c->y2[j] = to.y;
    c->done[j] = to.s < 0;
    c->head = (j + 1) % o->buffer_size;
    if (c->count < o->buffer_size) c->count++;
    d->y_sum[at.s] += at.y;
    d->y_count[at.s] += 1.0;
    c->life_steps++;
    if (to.s < 0 || (o->max_steps && ++t >= o->max_steps)) {
      at = env_initial(&env, rng);
      t = 0;
    } else {
      at = to;
    }
    if (c->count >= o->learning_starts && c->count >= o->batch_size) rms = update(d, c, gam, lam, rng);
  }
  policy_table(d, c, lam);
  f->stats.samples = o->steps;
  f->stats.iterations = c->updates - updates0;
  f->stats.residual = rms;
  f->stats.converged = 1;
  *out = (cbrl_policy){d->n_states, d->n_actions, d->pi, d->log_pi};
  return 0;
}

static const cbrl_follower_ops dqn_ops = {.respond = dqn_respond, .destroy = dqn_destroy};

int cbrl_follower_soft_dqn_create(cbrl_follower **out, const cbrl_problem *p, const cbrl_soft_dqn_opts *o) {
  cbrl_soft_dqn_opts def;
  if (!o) cbrl_soft_dqn_opts_default(&def), o = &def;
  if (!out || !p || check_opts(o, p)) return CBRL_EINVAL;
  soft_dqn *d = calloc(1, sizeof *d);
  if (!d) return CBRL_ENOMEM;
  d->o = *o;
  d->n_contexts = p->n_contexts;
  d->n_states = p->n_states;
  d->n_actions = p->n_actions;
  if (o->heads == CBRL_SOFT_DQN_FACTORISED) {
    d->n_heads = o->n_head_sizes;
    for (int h = 0; h < d->n_heads; h++) d->head_size[h] = o->head_sizes[h];
  } else {
    d->n_heads = 1;
    d->head_size[0] = p->n_actions;
  }
  for (int h = d->n_heads - 1, stride = 1; h >= 0; h--) d->head_stride[h] = stride, stride *= d->head_size[h];
  size_t S = (size_t)p->n_states, SA = S * p->n_actions;
  d->ctx = calloc((size_t)p->n_contexts, sizeof *d->ctx);
  d->pi = malloc(sizeof(double) * SA);
  d->log_pi = malloc(sizeof(double) * SA);
  d->y_sum = calloc(S, sizeof(double));
  d->y_count = calloc(S, sizeof(double));
  d->y_rep = calloc(S, sizeof(double));
  int err = (!d->ctx || !d->pi || !d->log_pi || !d->y_sum || !d->y_count || !d->y_rep)
                ? CBRL_ENOMEM
                : cbrl_follower_create(out, p, &dqn_ops, d, o->heads == CBRL_SOFT_DQN_FACTORISED ? "soft-dqn-factorised" : "soft-dqn");
  if (err) {
    cbrl_follower f = {.impl = d};
    dqn_destroy(&f);
  }
  return err;
}

const double *cbrl_soft_dqn_params(const cbrl_follower *f, int context, int64_t *n_params) {
  if (!f || f->ops != &dqn_ops) return NULL;
  const soft_dqn *d = f->impl;
  if (!d->ready || context < 0 || context >= d->n_contexts) return NULL;
  if (n_params) *n_params = d->net.n_params;
  return d->ctx[context].params;
}
