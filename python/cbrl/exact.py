"""Exact quantities (docs/MODEL.md 2 and 3): F, its gradient, each context's f; the follower's
soft best response (policy, Q, V); the leader's value and occupancy."""
import numpy as np

from . import _ffi
from ._ffi import ffi, lib, ptr, view
from .problem import MDP, call


class Result(dict):
    """F, grad and F_per_context, as `cbrl hypergrad --json` names them; also attributes."""

    __getattr__ = dict.__getitem__


class Exact:
    """An exact workspace (cbrl_exact): one MDP, soft solver and leader tables per context,
    warm-started across calls, as `cbrl hypergrad` uses. ``tol`` is the follower solver's
    tolerance (default 1e-11, relative to max|Q|)."""

    def __init__(self, problem, tol=None):
        self.problem = problem
        out = ffi.new("cbrl_exact **")
        call(lib.cbrl_py_exact_create(problem._h, float(tol) if tol else 0.0, out), what="exact")
        self._h = out[0]
        self._owned = True
        self._token = _ffi.own(out[0], lib.cbrl_py_exact_free, problem._token)
        problem._workspaces.add(self)

    @classmethod
    def _borrow(cls, problem, handle, owner):
        e = cls.__new__(cls)
        e.problem, e._h, e._owned, e._owner = problem, handle, False, owner
        e._token = owner._token
        return e

    def _context(self, context):
        k = int(context)
        if not 0 <= k < self.problem.n_contexts:
            raise ValueError("context: must lie in [0, %d), got %r" % (self.problem.n_contexts, context))
        return k

    def evaluate(self, x, grad=True):
        """F(x) = sum_xi q_xi f(x, pi*, xi), each context's f and (with grad) grad F, as new
        arrays: a Result with F, grad (None without it) and F_per_context, and F_stderr when the
        contexts are a sample of theta (docs/MODEL.md 1.2)."""
        x = self.problem.check_x(x)
        F = ffi.new("double *")
        f = np.empty(self.problem.n_contexts)
        g = np.empty(self.problem.dim) if grad else None
        call(lib.cbrl_py_exact_evaluate(self._h, ptr(x), F, ptr(f), ptr(g) if grad else ffi.NULL), what="exact")
        res = Result(F=F[0], grad=g, F_per_context=f)
        th = self.problem.theta
        if th is not None and th["rule"] == "sample":
            # A sample average of theta's draws: its standard error, as `cbrl hypergrad` prints it.
            from .contexts import F_standard_error
            res["F_stderr"] = F_standard_error(self.problem, f)
        return res

    def context(self, context, x, grad=True):
        """f(x, pi*_{x,xi}, xi) of one context and (with grad) its gradient."""
        k = self._context(context)
        x = self.problem.check_x(x)
        f = ffi.new("double *")
        g = np.empty(self.problem.dim) if grad else None
        call(lib.cbrl_py_exact_context(self._h, k, ptr(x), f, ptr(g) if grad else ffi.NULL), what="exact")
        return (f[0], g) if grad else f[0]

    def _arrays(self, context):
        k = self._context(context)
        ps = [ffi.new("double **") for _ in range(6)]
        m = ffi.new("cbrl_mdp **")
        lib.cbrl_py_exact_arrays(self._h, k, *ps, m)
        return [p[0] for p in ps], m[0]

    def _get(self, context, i, n, shape, copy):
        ptrs, _ = self._arrays(context)
        if ptrs[i] == ffi.NULL:
            raise ValueError("nothing computed yet for context %d: call evaluate (with grad for the occupancy)"
                             % context)
        v = view(ptrs[i], n, np.float64, self).reshape(shape)
        return v.copy() if copy else v

    def policy(self, context, copy=True):
        """The follower's soft best response pi*(a|s) (S, A) of the last call. With
        copy=False, a read-only view of cbrl's memory that the workspace's next call overwrites."""
        S, A = self.problem.n_states, self.problem.n_actions
        return self._get(context, 2, S * A, (S, A), copy)

    def log_policy(self, context, copy=True):
        """log pi* (S, A), finite where pi* underflows."""
        S, A = self.problem.n_states, self.problem.n_actions
        return self._get(context, 3, S * A, (S, A), copy)

    def q(self, context, copy=True):
        """The follower's soft Q* (S, A)."""
        S, A = self.problem.n_states, self.problem.n_actions
        return self._get(context, 0, S * A, (S, A), copy)

    def v(self, context, copy=True):
        """The follower's soft V* (S,)."""
        return self._get(context, 1, self.problem.n_states, (self.problem.n_states,), copy)

    def leader_value(self, context, copy=True):
        """The leader's value Vbar (S,) at the x of the last call."""
        return self._get(context, 4, self.problem.n_states, (self.problem.n_states,), copy)

    def occupancy(self, context, copy=True):
        """The leader-discounted occupancy d (S,) of the last gradient call."""
        return self._get(context, 5, self.problem.n_states, (self.problem.n_states,), copy)

    def mdp(self, context):
        """The context's MDP at the x of the last call, viewed in the workspace (no copy; the
        next call at another x changes it)."""
        _, m = self._arrays(context)
        return MDP(m, owned=False, owner=self)

    def stats(self, context):
        """The last call's Newton iterations, linear iterations, convergence and residual."""
        k = self._context(context)
        ints = ffi.new("int64_t[3]")
        res = ffi.new("double *")
        lib.cbrl_py_exact_stats(self._h, k, ints, res)
        return {"iterations": int(ints[0]), "linear_iterations": int(ints[1]), "converged": bool(ints[2]),
                "residual": res[0]}


def hypergrad(problem, x=None, tol=None):
    """What `cbrl hypergrad --json` prints for the exact estimator: F, grad, F_per_context and
    x (default: the problem's default_x())."""
    x = problem.default_x() if x is None else problem.check_x(x)
    res = Exact(problem, tol=tol).evaluate(x)
    res["x"] = x
    res["dim"] = problem.dim
    return res
