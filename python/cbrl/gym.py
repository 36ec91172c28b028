"""A Gymnasium-style environment of the follower's MDP at (x, context) (docs/MODEL.md 1).

reset(seed=...) and step(action) -> (obs, reward, terminated, truncated, info) follow the
Gymnasium API; observation_space and action_space are Discrete. When gymnasium is importable
the class is a gymnasium.Env with gymnasium's spaces; otherwise both are duck-typed here.
"""
import numpy as np

from . import _ffi
from ._ffi import lib, ptr
from .problem import call

try:  # pragma: no cover - depends on the machine
    import gymnasium as _gym
    _Base = _gym.Env
    _Discrete = _gym.spaces.Discrete
except ImportError:
    _gym = None

    class _Base:
        """Stands in for gymnasium.Env where gymnasium is not installed."""
        metadata = {"render_modes": []}

    class _Discrete:
        """A duck-typed gymnasium.spaces.Discrete: the integers 0 .. n-1."""

        def __init__(self, n, seed=None):
            self.n = int(n)
            self.shape = ()
            self.dtype = np.int64
            self._rng = np.random.default_rng(seed)

        def seed(self, seed=None):
            self._rng = np.random.default_rng(seed)

        def sample(self):
            return int(self._rng.integers(self.n))

        def contains(self, x):
            try:
                return int(x) == x and 0 <= int(x) < self.n
            except (TypeError, ValueError):
                return False

        def __repr__(self):
            return "Discrete(%d)" % self.n


class FollowerEnv(_Base):
    """The follower's MDP of `context` at leader parameters x as an environment. Observations
    are state indices, actions action indices; the reward is the follower's r(s, a) and
    info["leader_reward"] the leader's rbar(s, a). Acting in a terminal state pays r and
    terminates, as in cbrl's model. ``max_steps`` truncates episodes (default: never).
    ``simulator="paper-code"`` (Four-Rooms) draws moves from the paper code's kernel (intended
    move 0.67) instead of the model's."""

    def __init__(self, problem, x=None, context=0, simulator="consistent", max_steps=None, mdp=None):
        self.problem = problem
        self.x = problem.default_x() if x is None else problem.check_x(x)
        self.context = int(context)
        m = problem.mdp(self.x, self.context) if mdp is None else mdp
        self._row = m.row.copy()
        self._next = m.next.copy()
        prob = m.prob.copy()
        if simulator not in (None, "consistent"):
            sid = lib.cbrl_py_simulator_id(str(simulator).encode())
            if sid < 0:
                raise ValueError("simulator: unknown %r (%s)" % (simulator, "consistent, paper-code, continuous"))
            call(lib.cbrl_py_simulator_kernel(problem.env_name.encode(), sid, problem._h, self.context,
                                              ptr(self.x), m._h, ptr(prob)),
                 what="simulator %s (only simulators with a tabular kernel, on env four-rooms: paper-code)"
                 % simulator)
        self.simulator = simulator or "consistent"
        self.prob = prob
        self._cum = np.cumsum(prob)
        self.r = m.r.copy()
        self.rbar = m.rbar.copy()
        self.mu = m.mu.copy()
        self._mu_cum = np.cumsum(self.mu)
        self.terminal = m.terminal.copy()
        self.max_steps = max_steps
        self.observation_space = _Discrete(problem.n_states)
        self.action_space = _Discrete(problem.n_actions)
        self.gamma = problem.gamma
        self._rng = np.random.default_rng()
        self._s = None
        self._t = 0

    def reset(self, *, seed=None, options=None):
        """Starts an episode at s_0 ~ mu, or at options["state"] (a generative model's
        query: any state, for learners that sample (s, a) pairs); returns (obs, info)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if options and "state" in options:
            s = options["state"]
            if not self.observation_space.contains(s):
                raise ValueError("options['state']: must be a state in [0, %d), got %r" % (self.problem.n_states, s))
            self._s = int(s)
            self._t = 0
            return self._s, {"context": self.context}
        u = self._rng.random() * self._mu_cum[-1]
        self._s = int(min(np.searchsorted(self._mu_cum, u, side="right"), len(self.mu) - 1))
        self._t = 0
        return self._s, {"context": self.context}

    def step(self, action):
        """Takes an action; returns (obs, reward, terminated, truncated, info)."""
        if self._s is None:
            raise RuntimeError("step: call reset() first")
        if not self.action_space.contains(action):
            raise ValueError("action: must be an integer in [0, %d), got %r" % (self.problem.n_actions, action))
        s, a = self._s, int(action)
        reward = float(self.r[s, a])
        info = {"leader_reward": float(self.rbar[s, a]), "context": self.context}
        self._t += 1
        if self.terminal[s]:
            self._s = None
            return s, reward, True, False, info
        i = s * self.problem.n_actions + a
        lo, hi = self._row[i], self._row[i + 1]
        base = self._cum[lo - 1] if lo > 0 else 0.0
        u = base + self._rng.random() * (self._cum[hi - 1] - base)
        e = int(min(max(np.searchsorted(self._cum[lo:hi], u, side="right") + lo, lo), hi - 1))
        self._s = int(self._next[e])
        info["entry"] = e
        truncated = self.max_steps is not None and self._t >= self.max_steps
        return self._s, reward, False, bool(truncated), info

    def transition_matrix(self):
        """P of this environment's kernel as a dense (S, A, S) array."""
        S, A = self.problem.n_states, self.problem.n_actions
        out = np.zeros((S * A, S))
        sa = np.repeat(np.arange(S * A), np.diff(self._row))
        np.add.at(out, (sa, self._next), self.prob)
        return out.reshape(S, A, S)
