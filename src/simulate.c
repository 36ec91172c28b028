/* Trajectory simulation (SPEC 4.1, 6.1). Sampling scans the few entries of a CSR row. */
#include "cbrl/simulate.h"

#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "rng_inline.h"
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
  const double *p = m->sim_prob ? m->sim_prob : m->prob;
  int64_t k = lo + draw(p + lo, hi - lo, cbrl__rng_uniform(rng));
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
    const double *p = m->sim_prob ? m->sim_prob : m->prob;
    int64_t lo = m->row[sa];
    st->entry = lo + draw(p + lo, m->row[sa + 1] - lo, un);
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

int cbrl_sim_batch(const cbrl_mdp *m, const cbrl_policy *pi, int n_streams, int64_t steps_per_stream,
                   int max_steps, unsigned flags, cbrl_rng *rng, cbrl_batch *b) {
  if (!m || !pi || !rng || !b || n_streams <= 0 || steps_per_stream <= 0 || max_steps < 0)
    return CBRL_EINVAL;
  if ((int64_t)n_streams * steps_per_stream > b->capacity) return CBRL_ERANGE;
  b->n_steps = b->n_episodes = b->n_finished = 0;
  int A = m->n_actions;
  for (int e = 0; e < n_streams; e++) {
    int32_t s = cbrl_sim_initial(m, rng), t = 0;
    b->n_episodes++;
    for (int64_t i = 0; i < steps_per_stream; i++) {
      cbrl_step *st = &b->steps[b->n_steps++];
      if (flags & CBRL_SIM_COUPLED) {
        coupled_step(m, pi, &s, &t, i + 1 == steps_per_stream, max_steps, rng, st, b);
        continue;
      }
      int32_t a = sim_action(pi, s, rng);
      size_t sa = (size_t)s * A + a;
      st->s = s;
      st->a = a;
      st->t = t;
      st->r = m->r[sa];
      st->rbar = m->rbar[sa];
      st->log_pi = pi->log_pi[sa];
      st->flags = 0;
      st->next = sim_next(m, s, a, rng, &st->entry);
      int last = i + 1 == steps_per_stream;
      if (st->next < 0) {
        st->flags = CBRL_STEP_TERMINATED;
      } else if (max_steps && t + 1 >= max_steps) {
        st->flags = CBRL_STEP_TRUNCATED;
      } else if (last) {
        st->flags = CBRL_STEP_CUT;
      }
      if (st->flags & (CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED)) {
        b->n_finished++;
        if (!last) {
          s = cbrl_sim_initial(m, rng);
          t = 0;
          b->n_episodes++;
        }
      } else {
        s = st->next;
        t++;
      }
    }
  }
  return 0;
}

int cbrl_sim_continuous_batch(const cbrl_continuous *c, const cbrl_policy *pi, int n_streams,
                              int64_t steps_per_stream, int max_steps, cbrl_rng *rng, cbrl_batch *b) {
  if (!c || !pi || !rng || !b || n_streams <= 0 || steps_per_stream <= 0 || max_steps < 0) return CBRL_EINVAL;
  if ((int64_t)n_streams * steps_per_stream > b->capacity) return CBRL_ERANGE;
  if (!b->state) b->state = malloc(sizeof(double) * (size_t)b->capacity);
  if (!b->next_state) b->next_state = malloc(sizeof(double) * (size_t)b->capacity);
  if (!b->state || !b->next_state) return CBRL_ENOMEM;
  b->n_steps = b->n_episodes = b->n_finished = 0;
  for (int e = 0; e < n_streams; e++) {
    double s = c->initial(c->impl, rng);
    int32_t t = 0;
    b->n_episodes++;
    for (int64_t i = 0; i < steps_per_stream; i++) {
      int64_t j = b->n_steps++;
      cbrl_step *st = &b->steps[j];
      st->s = c->grid(c->impl, s);
      st->a = sim_action(pi, st->s, rng);
      st->t = t;
      st->entry = -1;
      st->log_pi = pi->log_pi[(size_t)st->s * pi->n_actions + st->a];
      c->rewards(c->impl, s, st->a, &st->r, &st->rbar);
      b->state[j] = s;
      b->next_state[j] = c->next(c->impl, s, st->a, rng);
      st->next = c->grid(c->impl, b->next_state[j]);
      int last = i + 1 == steps_per_stream;
      st->flags = max_steps && t + 1 >= max_steps ? CBRL_STEP_TRUNCATED : last ? CBRL_STEP_CUT : 0;
      if (st->flags & CBRL_STEP_TRUNCATED) {
        b->n_finished++;
        if (!last) {
          s = c->initial(c->impl, rng);
          t = 0;
          b->n_episodes++;
        }
      } else {
        s = b->next_state[j];
        t++;
      }
    }
  }
  return 0;
}
