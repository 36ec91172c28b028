"""Followers (docs/MODEL.md 5): cbrl's own, and followers written in Python."""
import numpy as np

from . import _ffi
from ._ffi import ffi, lib, ptr
from .problem import _CALLBACK_ERRORS, MDP, call


class Trajectories:
    """A batch of the follower's own trajectories, the second kind of answer a Python follower
    will give once cbrl's leader takes trajectories from outside (ask/tell); returning one
    today raises TypeError. Reserved so that follower code written now keeps its shape."""

    def __init__(self, s, a, r, next, done):
        self.s, self.a, self.r, self.next, self.done = s, a, r, next, done


class FollowerContext:
    """What a Python follower is handed with x and the context: the problem, the follower's MDP
    at (x, context) (views valid during the call only), and the leader's random stream."""

    def __init__(self, problem, context, x, mdp_handle, rng):
        self.problem = problem
        self.context = context
        self.x = x
        self._mdp_handle = mdp_handle
        self._rng = rng
        self._mdp = None

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

    def env(self, **kwargs):
        """A Gymnasium-style environment of this MDP (cbrl.FollowerEnv), for learners that act."""
        from .gym import FollowerEnv
        return FollowerEnv(self.problem, self.x, self.context, mdp=self.mdp, **kwargs)


def _log_policy(pi):
    with np.errstate(divide="ignore"):
        return np.log(pi)


class Follower:
    """A follower the leader and the HPGD estimators ask for a policy. Use :meth:`exact`,
    :meth:`soft_q`, :meth:`online`, or :meth:`from_callable` for one written in Python."""

    def __init__(self, problem, handle, keep=None, name=""):
        self.problem = problem
        self._h = handle
        self.name = name
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
    def online(cls, problem, steps, max_steps=200):
        """Tabular soft Q-learning from its own on-policy episodes, warm per context."""
        if int(steps) < 1:
            raise ValueError("steps: must be at least 1, got %r" % steps)
        return cls._builtin(problem, "online", steps, max_steps)

    @classmethod
    def from_callable(cls, problem, respond, name="python"):
        """A follower written in Python: ``respond(x, context, ctx)`` gets x (a copy), the
        context and a :class:`FollowerContext` (the MDP at (x, context), the leader's random
        stream, a Gymnasium-style env) and returns the policy pi (S, A), or (pi, log_pi). Each
        answer is checked (shape, dtype, finite, rows summing to 1); a bad one, or an exception
        raised inside, is raised from the cbrl call that asked, naming the follower. Answering
        with :class:`Trajectories` is reserved for the ask/tell leader."""
        S, A, d = problem.n_states, problem.n_actions, problem.dim
        holder = {}

        nbytes = S * A * 8
        err = _ffi.err_buffer()
        what = "follower %s: returned" % name

        def table(v, label, finite):
            # The fast path (a float64 C-contiguous table of the right shape) copies nothing here;
            # anything else goes through the full check, which names what is wrong.
            if isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == (S, A) and v.flags.c_contiguous:
                return v
            return _ffi.as_array(v, "%s %s" % (what, label), (S, A), finite=finite, allow_strided=True)

        def c_respond(user, k, x, m, rng, pi_out, log_pi_out):
            try:
                xs = np.frombuffer(ffi.buffer(x, d * 8), np.float64).copy()
                ctx = FollowerContext(problem, int(k), xs, m, rng)
                try:
                    res = respond(xs, int(k), ctx)
                finally:
                    ctx._close()
                if isinstance(res, Trajectories):
                    raise TypeError("%s Trajectories, which this leader does not take yet (it needs a policy "
                                    "table)" % what)
                if isinstance(res, tuple) and len(res) == 2:
                    pi, log_pi = res
                else:
                    pi, log_pi = res, None
                pi = table(pi, "policy", False)
                ffi.memmove(pi_out, pi, nbytes)
                if log_pi is None:
                    with np.errstate(divide="ignore", invalid="ignore"):  # a bad pi is refused below
                        np.log(pi, out=np.frombuffer(ffi.buffer(log_pi_out, nbytes), np.float64).reshape(S, A))
                else:
                    ffi.memmove(log_pi_out, table(log_pi, "log_pi", False), nbytes)
                if lib.cbrl_py_policy_check(pi_out, log_pi_out, S, A, err, _ffi.ERR_SIZE):
                    raise ValueError("%s %s" % (what, _ffi.string(err)))
                return 0
            except BaseException as exc:  # noqa: B902 - handed back to the caller
                _CALLBACK_ERRORS.append(exc)
                return -1

        cb = ffi.callback("cbrl_py_respond_fn", c_respond)
        out = ffi.new("cbrl_follower **")
        call(lib.cbrl_py_follower_callback(problem._h, cb, ffi.NULL, name.encode()[:31], out), what="follower")
        holder["cb"] = cb
        return cls(problem, out[0], keep=(cb, respond), name=name)

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
