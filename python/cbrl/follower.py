"""Followers (docs/MODEL.md 5): cbrl's own, and followers written in Python."""
import numpy as np

from . import _ffi
from ._ffi import ffi, lib, ptr
from .problem import _CALLBACK_ERRORS, MDP, call


_FLAGS = ffi.new("unsigned[3]")
lib.cbrl_py_trajectory_needs(ffi.NULL, _FLAGS)
STEP_TERMINATED, STEP_TRUNCATED, STEP_CUT = (int(v) for v in _FLAGS)


class Trajectories:
    """A batch of the follower's own steps, the second kind of answer a Python follower can give
    the leader (cbrl/trajectory.h): per step the state s, the action a, the next state (-1 after
    acting in a terminal state), flags (STEP_TERMINATED on the step taken in a terminal state,
    STEP_TRUNCATED where a time limit cut the episode, STEP_CUT where a stream ended mid-episode),
    and, where the estimator needs them (``cbrl.trajectory_needs(problem)``), the follower's
    reward r and log pi(a|s). Episodes are contiguous. The leader adds its own reward, the
    transition entries and the times, and refuses a batch that does not fit its MDP, naming the
    step and the field. ``samples`` is what the answer cost (default: the number of steps)."""

    def __init__(self, s, a, next, flags, r=None, log_pi=None, samples=None):
        self.s = _ffi.as_array(s, "trajectories.s", (None,), np.int64).astype(np.int32)
        n = len(self.s)
        self.a = _ffi.as_array(a, "trajectories.a", (n,), np.int64).astype(np.int32)
        self.next = _ffi.as_array(next, "trajectories.next", (n,), np.int64).astype(np.int32)
        self.flags = _ffi.as_array(flags, "trajectories.flags", (n,), np.int64).astype(np.uint32)
        self.r = None if r is None else _ffi.as_array(r, "trajectories.r", (n,), finite=False)
        self.log_pi = None if log_pi is None else _ffi.as_array(log_pi, "trajectories.log_pi", (n,), finite=False)
        self.samples = n if samples is None else int(samples)

    def __len__(self):
        return len(self.s)

    @classmethod
    def from_steps(cls, s, a, next, terminated, truncated=None, r=None, log_pi=None, samples=None):
        """From the (obs, action, next obs, terminated, truncated) of Gymnasium steps, one stream:
        a terminated step gets next -1, and a last step that ended no episode gets STEP_CUT."""
        terminated = np.asarray(terminated, bool)
        truncated = np.zeros_like(terminated) if truncated is None else np.asarray(truncated, bool)
        flags = np.where(terminated, STEP_TERMINATED, 0) | np.where(truncated & ~terminated, STEP_TRUNCATED, 0)
        if len(flags) and flags[-1] == 0:
            flags[-1] = STEP_CUT
        nxt = np.where(terminated, -1, np.asarray(next))
        return cls(s, a, nxt, flags, r=r, log_pi=log_pi, samples=samples)


def trajectory_needs(problem):
    """Which fields beyond (s, a, next, flags) a Trajectories answer must carry on this problem:
    a subset of {"r", "log_pi"} (both when x enters the transitions, docs/MODEL.md 4.1)."""
    f = ffi.new("unsigned[3]")
    bits = lib.cbrl_py_trajectory_needs(problem._h, f)
    return {n for b, n in ((1, "r"), (2, "log_pi")) if bits & b}


class FollowerContext:
    """What a Python follower is handed with x and the context: the problem, the follower's MDP
    at (x, context) (views valid during the call only), and the leader's random stream."""

    def __init__(self, problem, context, x, mdp_handle, rng, request=None):
        self.problem = problem
        self.context = context
        self.x = x
        self._mdp_handle = mdp_handle
        self._rng = rng
        self._mdp = None
        self.request = request or (10000, 5, 200)  # the leader's batch: steps, streams, time limit
        self.samples = 0  # what the answer cost, in environment samples: set it, the leader stores it

    @property
    def mdp(self):
        """The follower's MDP at (x, context) (cbrl.MDP; copy what must outlive the call)."""
        if self._mdp is None:
            self._live()
            self._mdp = MDP(self._mdp_handle, owned=False, owner=None)
        return self._mdp

    def _live(self):
        if self._rng is None:
            raise RuntimeError("FollowerContext: used after its follower call returned (copy what must outlive it)")

    def _close(self):
        self._rng = self._mdp_handle = None

    def seed(self):
        """64 random bits from the leader's stream: seed a numpy Generator with it to stay
        reproducible under cbrl's seed."""
        self._live()
        return int(lib.cbrl_py_rng_next(self._rng))

    def uniform(self):
        """A uniform [0, 1) draw from the leader's stream."""
        self._live()
        return float(lib.cbrl_py_rng_uniform(self._rng))

    def simulate(self, pi, log_pi=None, steps=None):
        """Trajectories of the policy pi (S, A) in this MDP, drawn by cbrl's own simulation from
        the leader's stream, shaped as the leader's batch (steps as its streams, cut at its
        time limit): what a follower that acts in cbrl's model would report."""
        self._live()
        S, A = self.problem.n_states, self.problem.n_actions
        pi = _ffi.as_array(pi, "simulate: pi", (S, A), allow_strided=True)
        if log_pi is None:
            with np.errstate(divide="ignore"):
                log_pi = np.log(pi)
        log_pi = _ffi.as_array(log_pi, "simulate: log_pi", (S, A), finite=False, allow_strided=True)
        n, streams, max_steps = self.request
        n = int(steps or n)
        per = max(1, n // streams)
        cap = per * streams
        s_, a_, nx = (np.empty(cap, np.int32) for _ in range(3))
        r, lp, fl = np.empty(cap), np.empty(cap), np.empty(cap, np.uint32)
        got = lib.cbrl_py_simulate(self._mdp_handle, ptr(pi), ptr(log_pi), streams, per, max_steps, self._rng,
                                   ptr(s_, "int32_t *"), ptr(a_, "int32_t *"), ptr(nx, "int32_t *"), ptr(r),
                                   ptr(lp), ptr(fl, "uint32_t *"))
        call(int(got) if got < 0 else 0, what="simulate")
        k = int(got)
        return Trajectories(s_[:k], a_[:k], nx[:k], fl[:k], r=r[:k], log_pi=lp[:k])

    def env(self, **kwargs):
        """A Gymnasium-style environment of this MDP (cbrl.FollowerEnv), for learners that act."""
        from .gym import FollowerEnv
        return FollowerEnv(self.problem, self.x, self.context, mdp=self.mdp, **kwargs)


def _log_policy(pi):
    with np.errstate(divide="ignore"):
        return np.log(pi)


def _policy_answer(res, S, A, what):
    """(pi, log_pi) as float64 C-contiguous tables from a follower's answer (pi, or (pi, log_pi));
    their values are checked in C (cbrl_py_policy_check), which names a bad entry."""
    if isinstance(res, tuple) and len(res) == 2:
        pi, log_pi = res
    else:
        pi, log_pi = res, None
    pi = _table(pi, "%s policy" % what, S, A)
    if log_pi is None:
        with np.errstate(divide="ignore", invalid="ignore"):  # a bad pi is refused by the check
            log_pi = np.log(pi)
    else:
        log_pi = _table(log_pi, "%s log_pi" % what, S, A)
    return pi, log_pi


def _table(v, label, S, A):
    # The fast path (a float64 C-contiguous table of the right shape) converts nothing; anything
    # else goes through the full check, which names what is wrong.
    if isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == (S, A) and v.flags.c_contiguous:
        return v
    return _ffi.as_array(v, label, (S, A), finite=False, allow_strided=True)


class Follower:
    """A follower the leader and the HPGD estimators ask for a policy. Use :meth:`exact`,
    :meth:`soft_q`, :meth:`online`, or :meth:`from_callable` for one written in Python."""

    def __init__(self, problem, handle, keep=None, name=""):
        self.problem = problem
        self._h = handle
        self.name = name
        self._python = None
        self._token = _ffi.own(handle, lib.cbrl_py_follower_free, problem._token, keep)

    @classmethod
    def _builtin(cls, problem, kind, iterations=0, max_steps=0):
        out = ffi.new("cbrl_follower **")
        call(lib.cbrl_py_follower_builtin(problem._h, kind.encode(), int(iterations), int(max_steps), out),
             what="follower " + kind)
        return cls(problem, out[0], name=kind)

    @classmethod
    def exact(cls, problem):
        """The exact soft best response, warm-started per context."""
        return cls._builtin(problem, "exact")

    @classmethod
    def soft_q(cls, problem, iterations=1024):
        """Soft Q-learning from a generative model, `iterations` synchronous sweeps from Q = 0."""
        if int(iterations) < 1:
            raise ValueError("iterations: must be at least 1, got %r" % iterations)
        return cls._builtin(problem, "soft-q", iterations)

    @classmethod
    def online(cls, problem, steps, max_steps=200, seed=0):
        """Tabular soft Q-learning from its own on-policy episodes, warm per context; its
        actions come from its own stream (seed, CBRL_ONLINE_STREAM), as a sweep's `follower:
        online` seeds it from the run's seed, and the environment's draws from the leader's."""
        if int(steps) < 1:
            raise ValueError("steps: must be at least 1, got %r" % steps)
        f = cls._builtin(problem, "online", steps, max_steps)
        call(lib.cbrl_py_follower_online_seed(f._h, int(seed)), what="follower online")
        return f

    @classmethod
    def from_callable(cls, problem, respond, name="python"):
        """A follower written in Python: ``respond(x, context, ctx)`` gets x (a copy), the
        context and a :class:`FollowerContext` (the MDP at (x, context), the leader's random
        stream, a Gymnasium-style env) and returns the policy pi (S, A), or (pi, log_pi). Each
        answer is checked (shape, dtype, finite, rows summing to 1); a bad one, or an exception
        raised inside, is raised from the cbrl call that asked, naming the follower. It may
        also answer with :class:`Trajectories`, a batch of its own steps (``ctx.simulate(pi)``
        or its own simulation), which cbrl.Leader takes through cbrl's ask/tell leader; the
        estimators (cbrl.estimate) take policy tables only."""
        S, A, d = problem.n_states, problem.n_actions, problem.dim
        nbytes = S * A * 8
        err = _ffi.err_buffer()
        what = "follower %s: returned" % name

        def c_respond(user, k, x, m, rng, pi_out, log_pi_out):
            try:
                xs = np.frombuffer(ffi.buffer(x, d * 8), np.float64).copy()
                ctx = FollowerContext(problem, int(k), xs, m, rng)
                try:
                    res = respond(xs, int(k), ctx)
                finally:
                    ctx._close()
                if isinstance(res, Trajectories):
                    raise TypeError("%s Trajectories: this caller takes a policy table (cbrl.Leader takes "
                                    "trajectories, cbrl.estimate does not)" % what)
                pi, log_pi = _policy_answer(res, S, A, what)
                ffi.memmove(pi_out, pi, nbytes)
                ffi.memmove(log_pi_out, log_pi, nbytes)
                if lib.cbrl_py_policy_check(pi_out, log_pi_out, S, A, err, _ffi.ERR_SIZE):
                    raise ValueError("%s %s" % (what, _ffi.string(err)))
                return 0
            except BaseException as exc:  # noqa: B902 - handed back to the caller
                _CALLBACK_ERRORS.append(exc)
                return -1

        cb = ffi.callback("cbrl_py_respond_fn", c_respond)
        out = ffi.new("cbrl_follower **")
        call(lib.cbrl_py_follower_callback(problem._h, cb, ffi.NULL, name.encode()[:31], out), what="follower")
        f = cls(problem, out[0], keep=(cb, respond), name=name)
        f._python = respond  # the leader asks it through ask/tell, where trajectories are taken too
        return f

    def respond(self, x, context=0, seed=0, stream=0, mdp=None):
        """The follower's (pi, log_pi) at x in a context, from a stream seeded (seed, stream);
        mdp is that context's MDP at x when the caller has it (a FollowerContext's), else it
        is built here."""
        x = self.problem.check_x(x)
        m = self.problem.mdp(x, context) if mdp is None else mdp
        S, A = self.problem.n_states, self.problem.n_actions
        pi, log_pi = np.empty((S, A)), np.empty((S, A))
        call(lib.cbrl_py_follower_respond(self._h, int(context), ptr(x), m._h, int(seed), int(stream), ptr(pi),
                                          ptr(log_pi)), what="follower " + self.name)
        return pi, log_pi
