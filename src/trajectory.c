/* Trajectory batches from outside (docs/MODEL.md 5): the checks that make a follower's own
   steps safe for the batch estimator, and the estimate from them. */
#include "cbrl/trajectory.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cbrl/errors.h"
#include "hpgd_private.h"

unsigned cbrl_trajectory_needs(const cbrl_problem *p) {
  return p && (p->flags & CBRL_DEPENDS_P) ? CBRL_TRAJ_REWARD | CBRL_TRAJ_LOG_PI : 0u;
}

/* The entry of (s, a) -> next with positive probability, or -1. */
static int64_t entry_of(const cbrl_mdp *m, int32_t s, int32_t a, int32_t next) {
  size_t sa = (size_t)s * m->n_actions + a;
  for (int64_t k = m->row[sa]; k < m->row[sa + 1]; k++)
    if (m->next[k] == next) return m->prob[k] > 0.0 ? k : -1;
  return -1;
}

static int fail(char *msg, size_t msg_size, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static int fail(char *msg, size_t msg_size, int err, const char *fmt, ...) {
  if (msg && msg_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
  }
  return err;
}

int cbrl_trajectory_complete(cbrl_batch *b, const cbrl_mdp *m, unsigned needs, char *msg, size_t msg_size) {
  if (msg && msg_size) msg[0] = 0;
  if (!b || !m) return CBRL_EINVAL;
  if (b->n_steps <= 0 || b->n_steps > b->capacity)
    return fail(msg, msg_size, CBRL_EINVAL, "batch: %lld steps (between 1 and %lld expected)", (long long)b->n_steps,
                (long long)b->capacity);
  int S = m->n_states, A = m->n_actions;
  int64_t episodes = 0, finished = 0;
  int32_t t = 0, expect = -1; /* the state the next step must start in, -1 at an episode's start */
  for (int64_t i = 0; i < b->n_steps; i++) {
    cbrl_step *st = &b->steps[i];
    long long n = (long long)i;
    if (st->s < 0 || st->s >= S)
      return fail(msg, msg_size, CBRL_ERANGE, "step %lld: state: %d is not a state (0 .. %d)", n, st->s, S - 1);
    if (st->a < 0 || st->a >= A)
      return fail(msg, msg_size, CBRL_ERANGE, "step %lld: action: %d is not an action (0 .. %d)", n, st->a, A - 1);
    if (st->flags & ~(unsigned)(CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED | CBRL_STEP_CUT) ||
        ((st->flags & CBRL_STEP_TERMINATED) && (st->flags & ~CBRL_STEP_TERMINATED)))
      return fail(msg, msg_size, CBRL_EINVAL,
                  "step %lld: flags: one of terminated, truncated or cut (a stream's end) at most", n);
    if (expect < 0) {
      if (!(m->mu[st->s] > 0.0))
        return fail(msg, msg_size, CBRL_ERANGE,
                    "step %lld: state: an episode starts in state %d, which the initial law gives probability 0", n,
                    st->s);
      episodes++;
      t = 0;
    } else if (st->s != expect) {
      return fail(msg, msg_size, CBRL_ERANGE,
                  "step %lld: state: %d, but the previous step went to %d and did not end its episode", n, st->s,
                  expect);
    }
    if (needs & CBRL_TRAJ_REWARD && !isfinite(st->r))
      return fail(msg, msg_size, CBRL_EINVAL,
                  "step %lld: reward: missing or not finite; the batch estimator needs the follower's reward of"
                  " every step when x enters the transitions (docs/MODEL.md 4.1)", n);
    if (needs & CBRL_TRAJ_LOG_PI && !(isfinite(st->log_pi) && st->log_pi <= 1e-12))
      return fail(msg, msg_size, CBRL_EINVAL,
                  "step %lld: log_pi: missing, NaN or positive; the batch estimator needs log pi(a|s) of every"
                  " step when x enters the transitions, to estimate V* (docs/MODEL.md 4.1)", n);
    if (!(needs & CBRL_TRAJ_REWARD)) st->r = isfinite(st->r) ? st->r : 0.0;
    if (!(needs & CBRL_TRAJ_LOG_PI)) st->log_pi = isfinite(st->log_pi) ? st->log_pi : 0.0;
    int terminal = m->terminal[st->s] != 0, terminated = (st->flags & CBRL_STEP_TERMINATED) != 0;
    if (terminal != terminated)
      return fail(msg, msg_size, CBRL_EINVAL,
                  terminal ? "step %lld: terminated: state %d is terminal, so its step ends the episode"
                           : "step %lld: terminated: set, but state %d is not terminal", n, st->s);
    if (terminal) {
      st->next = -1;
      st->entry = -1;
    } else {
      if (st->next < 0 || st->next >= S)
        return fail(msg, msg_size, CBRL_ERANGE, "step %lld: next: %d is not a state (0 .. %d)", n, st->next, S - 1);
      if ((st->entry = entry_of(m, st->s, st->a, st->next)) < 0)
        return fail(msg, msg_size, CBRL_ERANGE,
                    "step %lld: next: state %d cannot follow state %d under action %d in this MDP", n, st->next,
                    st->s, st->a);
    }
    if (i == b->n_steps - 1 && !st->flags) st->flags = CBRL_STEP_CUT; /* the batch ended mid-episode */
    st->t = t++;
    st->rbar = m->rbar[(size_t)st->s * A + st->a];
    finished += (st->flags & (CBRL_STEP_TERMINATED | CBRL_STEP_TRUNCATED)) != 0;
    expect = st->flags ? -1 : st->next;
  }
  b->n_episodes = episodes;
  b->n_finished = finished;
  return 0;
}

int cbrl_hpgd_estimate_batch(cbrl_hpgd *h, int context, const double *x, const cbrl_mdp *m, cbrl_batch *b,
                             const cbrl_hpgd_opts *o, double *grad, cbrl_estimate_info *info, char *msg,
                             size_t msg_size) {
  if (msg && msg_size) msg[0] = 0;
  if (!h || !x || !m || !b || !o || !grad || context < 0 || context >= h->problem->n_contexts) return CBRL_EINVAL;
  if (o->kind == CBRL_HPGD_CRITIC)
    return fail(msg, msg_size, CBRL_ENOTSUP,
                "the critic estimator needs the follower's policy table for its baseline: use hpgd-batch, or a"
                " follower that answers with a policy");
  if (o->kind != CBRL_HPGD_BATCH)
    return fail(msg, msg_size, CBRL_ENOTSUP,
                "the unbiased HPGD estimator draws its own branching rollouts from states it chooses, which a batch"
                " of trajectories cannot supply: use hpgd-batch, or a follower that answers with a policy");
  if (b->n_steps > h->max_batch_steps)
    return fail(msg, msg_size, CBRL_ERANGE, "batch: %lld steps, more than the %lld the estimator was made for",
                (long long)b->n_steps, (long long)h->max_batch_steps);
  int err = cbrl_trajectory_complete(b, m, cbrl_trajectory_needs(h->problem), msg, msg_size);
  return err ? err : cbrl__hpgd_from_batch(h, context, x, m, b, o, grad, info);
}
