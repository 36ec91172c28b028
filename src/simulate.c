/* Trajectory simulation (docs/MODEL.md 4.1): from the model's kernel, or from a simulator.
   Batches draw through alias tables of the rows they visit (src/sampler.h); single draws and
   coupled batches scan the few entries of a CSR row. */
#include "cbrl/simulate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "rng_inline.h"
#include "sampler.h"
#include "soft_policy.h"

int cbrl_batch_init(cbrl_batch *b, int64_t capacity) {
  memset(b, 0, sizeof *b);
  if (capacity <= 0) return CBRL_EINVAL;
  b->steps = malloc(sizeof(cbrl_step) * (size_t)capacity);
  if (!b->steps) return CBRL_ENOMEM;
  b->capacity = capacity;
  return 0;
}

void cbrl_batch_close(cbrl_batch *b) {
  free(b->steps);
  free(b->state);
  free(b->next_state);
  if (b->tables) cbrl__sampler_close(b->tables);
  free(b->tables);
  memset(b, 0, sizeof *b);
}

/* Index drawn from weights w[0..n) that sum to 1, with the core's one rounding fallback
   (src/soft_policy.h). */
static inline int64_t draw(const double *w, int64_t n, double u) { return cbrl__categorical(w, n, u); }

static inline int32_t sim_action(const cbrl_policy *pi, int32_t s, cbrl_rng *rng) {
  return (int32_t)draw(pi->pi + (size_t)s * pi->n_actions, pi->n_actions, cbrl__rng_uniform(rng));
}

static inline int32_t sim_next(const cbrl_mdp *m, int32_t s, int32_t a, cbrl_rng *rng, int64_t *entry) {
  if (m->terminal[s]) {
    *entry = -1;
    return -1;
  }
  size_t sa = (size_t)s * m->n_actions + a;
  int64_t lo = m->row[sa], hi = m->row[sa + 1];
  int64_t k = lo + draw(m->prob + lo, hi - lo, cbrl__rng_uniform(rng));
  *entry = k;
  return m->next[k];
}

int32_t cbrl_sim_initial(const cbrl_mdp *m, cbrl_rng *rng) {
  return (int32_t)draw(m->mu, m->n_states, cbrl__rng_uniform(rng));
}

int32_t cbrl_sim_action(const cbrl_policy *pi, int32_t s, cbrl_rng *rng) { return sim_action(pi, s, rng); }

int32_t cbrl_sim_next(const cbrl_mdp *m, int32_t s, int32_t a, cbrl_rng *rng, int64_t *entry) {
  int64_t k;
  int32_t next = sim_next(m, s, a, rng, &k);
  if (entry) *entry = k;
  return next;
}

/* One step of the coupled mode: uniforms for the action, the next state and a restart are
   drawn every step, used or not. */
static void coupled_step(const cbrl_mdp *m, const cbrl_policy *pi, int32_t *s, int32_t *t, int last, int max_steps,
                         cbrl_rng *rng, cbrl_step *st, cbrl_batch *b) {
  double ua = cbrl__rng_uniform(rng), un = cbrl__rng_uniform(rng), ui = cbrl__rng_uniform(rng);
  int A = m->n_actions;
  int32_t a = (int32_t)draw(pi->pi + (size_t)*s * A, A, ua);
  size_t sa = (size_t)*s * A + a;
  st->s = *s;
  st->a = a;
  st->t = *t;
  st->r = m->r[sa];
  st->rbar = m->rbar[sa];
  st->log_pi = pi->log_pi[sa];
  st->flags = 0;
  if (m->terminal[*s]) {
    st->next = -1;
    st->entry = -1;
    st->flags = CBRL_STEP_TERMINATED;
  } else {
    int64_t lo = m->row[sa];
    st->entry = lo + draw(m->prob + lo, m->row[sa + 1] - lo, un);
    st->next = m->next[st->entry];
    if (max_steps && *t + 1 >= max_steps) st->flags = CBRL_STEP_TRUNCATED;
    else if (last) st->flags = CBRL_STEP_CUT;
  }
  if (st->flags & (CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED)) {
    b->n_finished++;
    if (!last) {
      *s = (int32_t)draw(m->mu, m->n_states, ui);
      *t = 0;
      b->n_episodes++;
    }
  } else {
    *s = st->next;
    (*t)++;
  }
}

/* The coupled batch: stream after stream, three uniforms a step through the inverse-CDF draws
   (cbrl__categorical), so that nearby policies map a uniform to the same action. */
static void coupled_batch(const cbrl_mdp *m, const cbrl_policy *pi, int n_streams, int64_t steps_per_stream,
                          int max_steps, cbrl_rng *rng, cbrl_batch *b) {
  /* The generator and the step count in locals: the steps' int64 stores could alias them, so
     through the pointers every step reloaded and stored them. Same draws, same order. */
  cbrl_rng local = *rng;
  int64_t n_steps = 0;
  for (int e = 0; e < n_streams; e++) {
    int32_t s = cbrl_sim_initial(m, &local), t = 0;
    b->n_episodes++;
    for (int64_t i = 0; i < steps_per_stream; i++) {
      cbrl_step *st = &b->steps[n_steps++];
      b->n_steps = n_steps;
      coupled_step(m, pi, &s, &t, i + 1 == steps_per_stream, max_steps, &local, st, b);
    }
  }
  b->n_steps = n_steps;
  *rng = local;
}

/* A row's alias table, built on the row's first visit in this batch; out of line, since after
   the first visits the hot loop only checks the stamp. */
__attribute__((noinline)) static void build_kernel_row(cbrl__sampler *smp, const cbrl_mdp *m, size_t sa,
                                                       cbrl__alias_cell *kernel) {
  int64_t lo = m->row[sa];
  cbrl__alias_build(m->prob + lo, m->row[sa + 1] - lo, kernel + lo, smp->stack);
  smp->kernel_stamp[sa] = smp->batch;
}

__attribute__((noinline)) static void build_policy_row(cbrl__sampler *smp, const cbrl_policy *pi, int32_t s) {
  size_t A = (size_t)pi->n_actions;
  cbrl__alias_build(pi->pi + (size_t)s * A, (int64_t)A, smp->policy + (size_t)s * A, smp->stack);
  smp->policy_stamp[s] = smp->batch;
}

/* The streams advanced in lockstep, this many at a time: their steps are independent chains of
   dependent loads (state -> row -> table -> next state), which the core then overlaps. */
#define LOCKSTEP 8

/* What the fast batch's loop reads, gathered once and copied into the loop's locals: read
   through the MDP, its pointers would be reloaded after every int store of a step, which could
   alias the MDP's ints. */
typedef struct alias_run {
  const cbrl_mdp *m;
  const cbrl_policy *pi;
  cbrl__sampler *smp;
  const cbrl__alias_cell *kernel, *policy, *initial; /* the tables */
  const double *r, *rbar, *log_pi;
  const int64_t *row;
  const int32_t *next;
  const unsigned char *terminal;
  int64_t steps_per_stream;
  int32_t n_states, n_actions;
  int32_t last_t; /* an episode's last time before truncation (max_steps - 1; no limit: INT32_MAX) */
} alias_run;

/* What one lockstep group of streams carries between steps. */
typedef struct alias_group {
  cbrl_rng g;
  int64_t n_episodes, n_finished;
} alias_group;

/* One step of stream e (docs/MODEL.md 4.1): the action and the next state, each one 64-bit
   number through an alias table without a branch, then a restart where the episode ends (not
   on the stream's last step, `last`). With `lazy` the rows are built on first visit; without,
   all are built already and the stamps are not read. */
__attribute__((always_inline)) static inline void alias_step(const alias_run *run, alias_group *gr, int32_t *s,
                                                             int32_t *t, cbrl_step *st, const int last,
                                                             const int lazy) {
  const int A = run->n_actions;
  int32_t se = *s, te = *t;
  if (lazy && run->smp->policy_stamp[se] != run->smp->batch) build_policy_row(run->smp, run->pi, se);
  int32_t a = (int32_t)cbrl__alias_draw(run->policy + (size_t)se * A, (uint64_t)A, cbrl__rng_next(&gr->g));
  uint64_t u = cbrl__rng_next(&gr->g);
  size_t sa = (size_t)se * A + a;
  st->s = se;
  st->a = a;
  st->t = te;
  st->r = run->r[sa];
  st->rbar = run->rbar[sa];
  st->log_pi = run->log_pi[sa];
  int32_t to = -1;
  int64_t k = -1;
  unsigned flags = CBRL_STEP_TERMINATED;
  if (!run->terminal[se]) {
    if (lazy && run->smp->kernel_stamp[sa] != run->smp->batch) build_kernel_row(run->smp, run->m, sa, run->smp->kernel);
    int64_t lo = run->row[sa];
    k = lo + cbrl__alias_draw(run->kernel + lo, (uint64_t)(run->row[sa + 1] - lo), u);
    to = run->next[k];
    flags = te >= run->last_t ? CBRL_STEP_TRUNCATED : last ? CBRL_STEP_CUT : 0;
  }
  st->next = to;
  st->entry = k;
  st->flags = flags;
  if (flags & (CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED)) {
    gr->n_finished++;
    if (!last) {
      to = (int32_t)cbrl__alias_draw(run->initial, (uint64_t)run->n_states, cbrl__rng_next(&gr->g));
      gr->n_episodes++;
    }
    te = -1;
  }
  *s = to;
  *t = te + 1;
}

/* The fast batch's loop: the streams in lockstep groups; draw order: a group's initial states,
   then per step, stream by stream, the action, the next state, and a restart where an episode
   ends. The generator stays in registers. Two copies, one per constant `lazy`. */
__attribute__((always_inline)) static inline void alias_loop(const alias_run *shared, int n_streams, cbrl_rng *rng,
                                                             cbrl_batch *b, const int lazy) {
  const alias_run local = *shared, *run = &local;
  const int64_t per = run->steps_per_stream;
  alias_group gr = {*rng, 0, 0};
  for (int e0 = 0; e0 < n_streams; e0 += LOCKSTEP) {
    int n = n_streams - e0 < LOCKSTEP ? n_streams - e0 : LOCKSTEP;
    int32_t s[LOCKSTEP], t[LOCKSTEP];
    for (int e = 0; e < n; e++) {
      s[e] = (int32_t)cbrl__alias_draw(run->initial, (uint64_t)run->n_states, cbrl__rng_next(&gr.g));
      t[e] = 0;
    }
    gr.n_episodes += n;
    cbrl_step *first = b->steps + (int64_t)e0 * per;
    for (int64_t i = 0; i + 1 < per; i++) {
      cbrl_step *st = first + i;
      for (int e = 0; e < n; e++, st += per) alias_step(run, &gr, &s[e], &t[e], st, 0, lazy);
    }
    cbrl_step *st = first + per - 1;
    for (int e = 0; e < n; e++, st += per) alias_step(run, &gr, &s[e], &t[e], st, 1, lazy);
  }
  b->n_steps = (int64_t)n_streams * per;
  b->n_episodes = gr.n_episodes;
  b->n_finished = gr.n_finished;
  *rng = gr.g;
}

/* The fast batch: the tables, then the loop. A batch with at least as many steps as the model
   has transitions and state-actions visits most rows, so it builds them all first and its loop
   reads no stamps; a larger model (the tax grid's 2 M transitions) builds the rows it visits. */
static int alias_batch(const cbrl_mdp *m, const cbrl_policy *pi, int n_streams, int64_t steps_per_stream,
                       int max_steps, cbrl_rng *rng, cbrl_batch *b) {
  cbrl__sampler *smp = b->tables;
  if (!smp) {
    if (!(smp = calloc(1, sizeof *smp))) return CBRL_ENOMEM;
    b->tables = smp;
  }
  const int S = m->n_states, A = m->n_actions;
  int64_t max_row = 0;
  for (size_t sa = 0; sa < (size_t)S * A; sa++)
    if (m->row[sa + 1] - m->row[sa] > max_row) max_row = m->row[sa + 1] - m->row[sa];
  if (cbrl__sampler_begin(smp, S, (int64_t)S * A, m->n_transitions, max_row)) return CBRL_ENOMEM;
  cbrl__alias_build(m->mu, S, smp->initial, smp->stack);
  alias_run run = {m,       pi,     smp,         smp->kernel, smp->policy, smp->initial,      m->r,
                   m->rbar, pi->log_pi, m->row, m->next,     m->terminal, steps_per_stream, S,
                   A,       max_steps ? max_steps - 1 : INT32_MAX};
  int lazy = m->n_transitions + (int64_t)S * A > (int64_t)n_streams * steps_per_stream;
  if (lazy) {
    alias_loop(&run, n_streams, rng, b, 1);
    return 0;
  }
  for (int32_t s = 0; s < S; s++) build_policy_row(smp, pi, s);
  /* The kernel's tables: kept ones when this kernel is one of them, else every row's (terminal
     ones too, so that they serve any context with this kernel) in the next slot. */
  size_t SA = (size_t)S * A;
  struct cbrl__kernel_tables *kt = NULL;
  for (int k = 0; k < CBRL__KEPT_KERNELS && !kt; k++) {
    struct cbrl__kernel_tables *c = &smp->kept[k];
    if (c->n_sa == (int64_t)SA && c->n_transitions == m->n_transitions &&
        !memcmp(c->row, m->row, sizeof *m->row * (SA + 1)) &&
        !memcmp(c->prob, m->prob, sizeof *m->prob * (size_t)m->n_transitions))
      kt = c;
  }
  if (!kt) {
    kt = &smp->kept[smp->next_kept];
    smp->next_kept = (smp->next_kept + 1) % CBRL__KEPT_KERNELS;
    size_t nnz = (size_t)(m->n_transitions ? m->n_transitions : 1);
    free(kt->row), free(kt->prob), free(kt->cell);
    kt->n_sa = 0;
    kt->row = malloc(sizeof *kt->row * (SA + 1));
    kt->prob = malloc(sizeof *kt->prob * nnz);
    kt->cell = malloc(sizeof *kt->cell * nnz);
    if (!kt->row || !kt->prob || !kt->cell) return CBRL_ENOMEM; /* the slot stays empty */
    for (size_t sa = 0; sa < SA; sa++) build_kernel_row(smp, m, sa, kt->cell);
    memcpy(kt->row, m->row, sizeof *m->row * (SA + 1));
    memcpy(kt->prob, m->prob, sizeof *m->prob * (size_t)m->n_transitions);
    kt->n_sa = (int64_t)SA;
    kt->n_transitions = m->n_transitions;
  }
  run.kernel = kt->cell;
  alias_loop(&run, n_streams, rng, b, 0);
  return 0;
}

int cbrl_sim_batch(const cbrl_mdp *m, const cbrl_policy *pi, int n_streams, int64_t steps_per_stream,
                   int max_steps, unsigned flags, cbrl_rng *rng, cbrl_batch *b) {
  if (!m || !pi || !rng || !b || n_streams <= 0 || steps_per_stream <= 0 || max_steps < 0 ||
      pi->n_actions != m->n_actions || pi->n_states != m->n_states)
    return CBRL_EINVAL;
  if ((int64_t)n_streams * steps_per_stream > b->capacity) return CBRL_ERANGE;
  b->n_steps = b->n_episodes = b->n_finished = 0;
  if (flags & CBRL_SIM_COUPLED) {
    coupled_batch(m, pi, n_streams, steps_per_stream, max_steps, rng, b);
    return 0;
  }
  return alias_batch(m, pi, n_streams, steps_per_stream, max_steps, rng, b);
}

/* ---- Simulators ------------------------------------------------------------------- */

int cbrl_simulator_create(cbrl_simulator **out, const cbrl_problem *p, const cbrl_simulator_ops *ops, void *impl,
                          const char *name) {
  if (!out || !p || !ops || !ops->prepare || !ops->initial || !ops->next || !ops->rewards ||
      (!ops->score && !ops->kernel))
    return CBRL_EINVAL;
  cbrl_simulator *sim = calloc(1, sizeof *sim);
  if (!sim) return CBRL_ENOMEM;
  sim->ops = ops;
  sim->impl = impl;
  sim->problem = p;
  snprintf(sim->name, sizeof sim->name, "%s", name ? name : "");
  *out = sim;
  return 0;
}

void cbrl_simulator_free(cbrl_simulator *sim) {
  if (!sim) return;
  if (sim->ops->destroy) sim->ops->destroy(sim);
  free(sim);
}

int cbrl_simulator_prepare(cbrl_simulator *sim, int context, const double *x, const cbrl_mdp *m) {
  if (!sim || !x || !m || context < 0 || context >= sim->problem->n_contexts) return CBRL_EINVAL;
  sim->mdp = m;
  return sim->ops->prepare(sim, context, x, m);
}

void cbrl_simulator_tabular(const cbrl_simulator *sim, const cbrl_mdp *m, cbrl_mdp *out) {
  *out = *m;
  /* A shallow copy: only prob differs, and every consumer of the view only reads it. */
  if (sim && sim->ops->kernel) out->prob = (double *)sim->ops->kernel(sim);
}

/* Steps of a simulator off the model's states: as cbrl_sim_batch, through the ops. */
static int ops_batch(const cbrl_simulator *sim, const cbrl_policy *pi, int n_streams, int64_t steps_per_stream,
                     int max_steps, cbrl_rng *rng, cbrl_batch *b) {
  if (!b->state) b->state = malloc(sizeof(double) * (size_t)b->capacity);
  if (!b->next_state) b->next_state = malloc(sizeof(double) * (size_t)b->capacity);
  if (!b->state || !b->next_state) return CBRL_ENOMEM;
  const cbrl_simulator_ops *ops = sim->ops;
  b->n_steps = b->n_episodes = b->n_finished = 0;
  for (int e = 0; e < n_streams; e++) {
    cbrl_sim_state at = ops->initial(sim, rng);
    int32_t t = 0;
    b->n_episodes++;
    for (int64_t i = 0; i < steps_per_stream; i++) {
      int64_t j = b->n_steps++;
      cbrl_step *st = &b->steps[j];
      st->s = at.s;
      st->a = sim_action(pi, st->s, rng);
      st->t = t;
      st->log_pi = pi->log_pi[(size_t)st->s * pi->n_actions + st->a];
      ops->rewards(sim, at, st->a, &st->r, &st->rbar);
      cbrl_sim_state to = ops->next(sim, at, st->a, rng, &st->entry);
      b->state[j] = at.y;
      b->next_state[j] = to.y;
      st->next = to.s;
      int last = i + 1 == steps_per_stream;
      st->flags = to.s < 0                           ? CBRL_STEP_TERMINATED
                  : max_steps && t + 1 >= max_steps ? CBRL_STEP_TRUNCATED
                  : last                            ? CBRL_STEP_CUT
                                                    : 0;
      if (st->flags & (CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED)) {
        b->n_finished++;
        if (!last) {
          at = ops->initial(sim, rng);
          t = 0;
          b->n_episodes++;
        }
      } else {
        at = to;
        t++;
      }
    }
  }
  return 0;
}

int cbrl_simulator_batch(const cbrl_simulator *sim, const cbrl_policy *pi, int n_streams, int64_t steps_per_stream,
                         int max_steps, unsigned flags, cbrl_rng *rng, cbrl_batch *b) {
  if (!sim || !sim->mdp || !pi || !rng || !b || n_streams <= 0 || steps_per_stream <= 0 || max_steps < 0)
    return CBRL_EINVAL;
  if ((int64_t)n_streams * steps_per_stream > b->capacity) return CBRL_ERANGE;
  if (sim->ops->kernel) {
    /* The model's states with other probabilities: the tabular path, coupling included. */
    cbrl_mdp view;
    cbrl_simulator_tabular(sim, sim->mdp, &view);
    return cbrl_sim_batch(&view, pi, n_streams, steps_per_stream, max_steps, flags, rng, b);
  }
  if (flags & CBRL_SIM_COUPLED) return CBRL_ENOTSUP;
  return ops_batch(sim, pi, n_streams, steps_per_stream, max_steps, rng, b);
}

/* ---- The tabular simulator: the model with other transition probabilities --------- */

typedef struct tabular_sim {
  int n_contexts;
  double **prob; /* n_contexts, each n_transitions of its context */
  cbrl_mdp view; /* the prepared MDP with prob[context] */
} tabular_sim;

static int tab_prepare(cbrl_simulator *sim, int context, const double *x, const cbrl_mdp *m) {
  tabular_sim *ts = sim->impl;
  (void)x;
  if (m->n_transitions != sim->problem->ops->n_transitions(sim->problem, context)) return CBRL_EINVAL;
  ts->view = *m;
  ts->view.prob = ts->prob[context];
  return 0;
}

static cbrl_sim_state tab_initial(const cbrl_simulator *sim, cbrl_rng *rng) {
  const tabular_sim *ts = sim->impl;
  return (cbrl_sim_state){cbrl_sim_initial(&ts->view, rng), 0.0};
}

static cbrl_sim_state tab_next(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, cbrl_rng *rng,
                               int64_t *entry) {
  const tabular_sim *ts = sim->impl;
  return (cbrl_sim_state){cbrl_sim_next(&ts->view, at.s, a, rng, entry), 0.0};
}

static void tab_rewards(const cbrl_simulator *sim, cbrl_sim_state at, int32_t a, double *r, double *rbar) {
  const tabular_sim *ts = sim->impl;
  size_t sa = (size_t)at.s * ts->view.n_actions + a;
  *r = ts->view.r[sa];
  *rbar = ts->view.rbar[sa];
}

static const double *tab_kernel(const cbrl_simulator *sim) { return ((const tabular_sim *)sim->impl)->view.prob; }

static void tab_destroy(cbrl_simulator *sim) {
  tabular_sim *ts = sim->impl;
  if (!ts) return;
  for (int k = 0; ts->prob && k < ts->n_contexts; k++) free(ts->prob[k]);
  free(ts->prob);
  free(ts);
  sim->impl = NULL;
}

static const cbrl_simulator_ops tabular_ops = {tab_prepare, tab_initial, tab_next, tab_rewards, NULL, tab_kernel,
                                               tab_destroy};

int cbrl_simulator_tabular_create(cbrl_simulator **out, const cbrl_problem *p, const double *const *prob) {
  if (!out || !p || !prob) return CBRL_EINVAL;
  tabular_sim *ts = calloc(1, sizeof *ts);
  if (!ts) return CBRL_ENOMEM;
  cbrl_simulator holder = {.ops = &tabular_ops, .impl = ts}; /* unwinds a half-built impl */
  int err = 0;
  ts->n_contexts = p->n_contexts;
  ts->prob = calloc((size_t)p->n_contexts, sizeof *ts->prob);
  if (!ts->prob) err = CBRL_ENOMEM;
  for (int k = 0; !err && k < p->n_contexts; k++) {
    int64_t nnz = p->ops->n_transitions(p, k);
    if (nnz < 0 || !prob[k]) {
      err = CBRL_EINVAL;
      break;
    }
    ts->prob[k] = malloc(sizeof(double) * (size_t)(nnz ? nnz : 1));
    if (!ts->prob[k]) err = CBRL_ENOMEM;
    else memcpy(ts->prob[k], prob[k], sizeof(double) * (size_t)nnz);
  }
  if (!err) err = cbrl_simulator_create(out, p, &tabular_ops, ts, "tabular");
  if (err) tab_destroy(&holder);
  return err;
}
