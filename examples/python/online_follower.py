"""cbrl's online follower (src/soft_q.c, `follower: online`), written again in Python as a
cbrl.Follower callable: tabular soft Q-learning from its own on-policy episodes, step size
1 / (1 + n(s, a))^0.6 by visit count, Q kept across answers (warm, per context).

Its actions come from a stream of its own, (seed, CBRL_ONLINE_STREAM), and the environment's
draws (initial states, next states) from the leader's stream, in the order the C learner draws
them, so with the same seed a leader asking it takes the same steps, to the last bit, as one
asking the C follower (python/tests/test_online_port.py checks it). It runs at Python speed:
a template for a learner of one's own, not a replacement.

    make python && PYTHONPATH=python /usr/bin/python3 examples/python/online_follower.py
"""
import math

import numpy as np

import cbrl
from cbrl._ffi import ffi, lib


def categorical(w, u):
    """An index drawn from weights w summing to 1 by inversion of u, as the core draws it:
    outcomes of weight 0 are never drawn (the last positive one absorbs rounding)."""
    last = 0
    for i, wi in enumerate(w):
        if wi <= 0.0:
            continue
        last = i
        if u < wi:
            return i
        u -= wi
    return last


class OnlineFollower:
    """The callable: ``cbrl.Follower.from_callable(problem, OnlineFollower(problem, steps, max_steps, seed))``."""

    def __init__(self, problem, steps, max_steps=200, seed=0):
        S, A, K = problem.n_states, problem.n_actions, problem.n_contexts
        self.problem, self.steps, self.max_steps = problem, int(steps), int(max_steps)
        self.q = np.zeros((K, S, A))
        self.visits = np.zeros((K, S, A))
        self._rng = ffi.gc(lib.cbrl_py_rng_new(int(seed), lib.cbrl_py_online_stream()), lib.cbrl_py_rng_free)
        self._pi, self._log_pi = ffi.new("double[]", A), ffi.new("double[]", A)

    def _uniform(self):
        return lib.cbrl_py_rng_uniform(self._rng)

    def __call__(self, x, context, ctx):
        p, m = self.problem, ctx.mdp
        S, A, lam, gam = p.n_states, p.n_actions, p.lam, p.gamma
        q, n = self.q[context], self.visits[context]
        row, nxt, prob, r, mu, term = m.row, m.next, m.prob, m.r, m.mu, m.terminal
        qbuf = ffi.new("double[]", A)
        s, t = -1, 0
        for _ in range(self.steps):
            if s < 0:  # an episode begins when a step needs one
                s = categorical(mu, ctx.uniform())
                t = 0
            qbuf[0:A] = q[s].tolist()
            lib.cbrl_py_soft_policy_row(qbuf, A, lam, self._pi, self._log_pi)
            a = categorical(ffi.unpack(self._pi, A), self._uniform())
            if term[s]:
                following = -1
            else:
                lo, hi = row[s * A + a], row[s * A + a + 1]
                following = int(nxt[lo + categorical(prob[lo:hi], ctx.uniform())])
            if following >= 0:
                qbuf[0:A] = q[following].tolist()
                target = r[s, a] + gam * lib.cbrl_py_soft_value(qbuf, A, lam)
            else:
                target = r[s, a] + 0.0
            beta = 1.0 / math.pow(1.0 + n[s, a], 0.6)
            n[s, a] += 1.0
            q[s, a] = (1.0 - beta) * q[s, a] + beta * target
            if following >= 0 and self.max_steps:
                t += 1
            s = -1 if following < 0 or (self.max_steps and t >= self.max_steps) else following
        pi, log_pi = np.empty((S, A)), np.empty((S, A))
        for st in range(S):
            qbuf[0:A] = q[st].tolist()
            lib.cbrl_py_soft_policy_row(qbuf, A, lam, self._pi, self._log_pi)
            pi[st], log_pi[st] = ffi.unpack(self._pi, A), ffi.unpack(self._log_pi, A)
        ctx.samples = self.steps
        return pi, log_pi


if __name__ == "__main__":
    p = cbrl.Problem.env("four-rooms", beta=3)
    py = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, OnlineFollower(p, 2000, 200, seed=1)),
                     hpgd_steps=2000, learning_rate=0.5, seed=1)
    c = cbrl.Leader(p, follower=cbrl.Follower.online(p, 2000, 200, seed=1), hpgd_steps=2000, learning_rate=0.5,
                    seed=1)
    for _ in range(5):
        a, b = py.step(), c.step()
        print("iteration %d  F %.6f (Python learner)  %.6f (C learner)" % (a["iteration"], a["F"], b["F"]))
    print("x equal to the last bit:", np.array_equal(py.x, c.x))
