"""Problems (docs/MODEL.md 1): the built-in environments, problem files, affine problems from
numpy arrays, and problems written in Python; and the follower's MDP at (x, context)."""
import math
import os
import weakref

import numpy as np

from . import _ffi
from ._ffi import CbrlError, as_array, check, ffi, lib, ptr, view

# Python keyword -> the registry's config field (cbrl_env_takes).
_ENV_OPTIONS = {"beta": "beta", "bins": "tax_bins", "states": "states", "actions": "actions", "dim": "dim",
                "contexts": "contexts", "branch": "branch", "seed": "problem_seed", "preferences": "preferences"}


def env_names():
    """The names of the built-in environments (docs/ENVIRONMENTS.md)."""
    return [n.strip() for n in _ffi.string(lib.cbrl_py_env_names()).split(",") if n.strip() != "file"]


def _pending():
    """Re-raises an exception a Python callback raised inside the last C call, if any."""
    if _CALLBACK_ERRORS:
        exc = _CALLBACK_ERRORS.pop(0)
        del _CALLBACK_ERRORS[:]
        raise exc


_CALLBACK_ERRORS = []


def call(rc, err=None, what=None):
    """check(), but an exception a callback raised comes first: it is the cause."""
    if rc != 0:
        _pending()
    del _CALLBACK_ERRORS[:]
    check(rc, err, what)


class Problem:
    """A CB-RL problem: a leader parameter x of ``dim`` values, ``n_contexts`` contexts with
    weights, and the follower MDP of each context at x. Build one with :meth:`env`,
    :meth:`file`, :meth:`affine` or :meth:`from_callbacks`."""

    #: How a problem file's contexts were made from a distribution of theta (docs/PROBLEM_FILES.md):
    #: None for listed contexts, else a dict with ``rule`` ("quadrature" or "sample"),
    #: ``templates``, ``nodes`` (per template; context k nodes + i is template k at values[i]),
    #: ``values`` and ``weights``.
    theta = None

    def __init__(self, handle, env="file", keep=None):
        self._h = handle
        # Exact workspaces and leaders alive on it: an objective may change only while there are none.
        self._workspaces = weakref.WeakSet()
        self.env_name = env
        # Freed when the last object built on it goes; the callbacks it calls outlive it.
        self._token = _ffi.own(handle, lib.cbrl_py_problem_free, keep)
        ints = ffi.new("int[5]")
        doubles = ffi.new("double[3]")
        self.name = _ffi.string(lib.cbrl_py_problem_info(handle, ints, doubles))
        self.n_states, self.n_actions, self.dim, self.n_contexts, self.flags = (int(v) for v in ints)

    def __repr__(self):
        return "<cbrl.Problem %s: %d states, %d actions, d = %d, %d contexts, lambda %g>" % (
            self.name, self.n_states, self.n_actions, self.dim, self.n_contexts, self.lam)

    def _info(self):
        ints = ffi.new("int[5]")
        doubles = ffi.new("double[3]")
        lib.cbrl_py_problem_info(self._h, ints, doubles)
        return doubles

    @property
    def gamma(self):
        """The follower's discount."""
        return self._info()[0]

    @property
    def leader_gamma(self):
        """The leader's discount."""
        return self._info()[1]

    @property
    def lam(self):
        """The follower's entropy temperature lambda (settable)."""
        return self._info()[2]

    @lam.setter
    def lam(self, value):
        value = float(value)
        if lib.cbrl_py_problem_set_lambda(self._h, value):
            raise ValueError("lambda: must be positive and finite, got %r" % value)

    @property
    def context_weights(self):
        """The contexts' weights q (a copy)."""
        w = np.empty(self.n_contexts)
        lib.cbrl_py_problem_weights(self._h, ptr(w))
        return w

    # ---- constructors ----------------------------------------------------------------

    @classmethod
    def env(cls, name, lam=None, **options):
        """A built-in environment through the registry, with the options the CLI and configs
        take (docs/CONFIG.md): four-rooms ``beta``; tax-design ``bins``; random ``states``,
        ``actions``, ``dim``, ``contexts``, ``branch``, ``seed``; rlhf and rlhf-dpo ``seed`` and
        ``preferences`` (a cbrl-preferences-1 file, docs/ENVIRONMENTS.md 7). ``lam`` sets lambda.

        contract and optimal-tax take every field of their C options by name
        (docs/ENVIRONMENTS.md 5, 6; ``cbrl.env_options(name)``), vectors and matrices as
        arrays: ``Problem.env("contract", n_stages=2, repeat=True, participation=True,
        effort_cost=[[0, .4, 1], [0, .6, 1.5]], outside_option=[.1, .2], budget=3)``."""
        names = env_names()
        if name not in names:
            raise ValueError("env: unknown environment %r (known: %s)" % (name, ", ".join(names)))
        if name in ("contract", "optimal-tax"):
            from .envs import _create
            return _create(cls, name, lam, options)
        values = {}
        for key, value in options.items():
            field = _ENV_OPTIONS.get(key)
            if field is None:
                raise TypeError("%s: not an environment option (options: %s)" % (key, ", ".join(_ENV_OPTIONS)))
            if lib.cbrl_py_env_takes(name.encode(), field.encode()) != 1:
                raise TypeError("%s: does not apply to env %s" % (key, name))
            if key == "preferences":
                value = os.fspath(value)
            elif key == "beta":
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError("beta: must be finite, got %r" % value)
            else:
                if isinstance(value, bool) or int(value) != value or value < 0:
                    raise ValueError("%s: must be a non-negative integer, got %r" % (key, value))
                value = int(value)
            values[key] = value
        err = _ffi.err_buffer()
        out = ffi.new("cbrl_problem **")
        prefs = values.get("preferences")
        rc = lib.cbrl_py_env_problem(name.encode(), ffi.NULL, prefs.encode() if prefs else ffi.NULL,
                                     values.get("beta", math.nan), -1,
                                     values.get("bins", -1), values.get("states", -1), values.get("actions", -1),
                                     values.get("dim", -1), values.get("contexts", -1), values.get("branch", -1),
                                     values.get("seed", -1), out, err, _ffi.ERR_SIZE)
        check(rc, err)
        p = cls(out[0], env=name)
        p.options = values
        if lam is not None:
            p.lam = lam
        return p

    @classmethod
    def file(cls, path, lam=None):
        """A cbrl-tabular-1 problem file (docs/PROBLEM_FILES.md); errors carry cbrl's
        ``file:line: field: what is wrong``. With a ``theta`` section, :attr:`theta` says how
        its contexts were made."""
        err = _ffi.err_buffer()
        out = ffi.new("cbrl_problem **")
        ints = ffi.new("int[4]")
        values, weights = np.zeros(100000), np.zeros(100000)
        check(lib.cbrl_py_tabular_load_info(str(path).encode(), out, ints, ptr(values), ptr(weights), len(values), err,
                                            _ffi.ERR_SIZE), err)
        p = cls(out[0], env="file")
        p.options = {"problem": str(path)}
        if ints[0]:
            n = int(ints[3])
            p.theta = {"rule": "sample" if ints[1] else "quadrature", "templates": int(ints[2]), "nodes": n,
                       "values": values[:n].copy(), "weights": weights[:n].copy()}
        if lam is not None:
            p.lam = lam
        return p

    @classmethod
    def affine(cls, *, r0, p_logits=None, mu_logits=None, gamma, lam, leader_gamma=None, rbar0=None,
               r_coef=None, rbar_coef=None, p_coef=None, mu_coef=None, transitions=None, initial=None,
               context_weights=None, terminal=None, dim=None, transforms=None, x_dim=None):
        """An affine problem (docs/ENVIRONMENTS.md 3) from numpy arrays, in one call:
        r = r0 + r_coef . x, rbar = rbar0 + rbar_coef . x, P(.|s,a) = softmax over the
        support of (p_logits + p_coef . x), mu = softmax of (mu_logits + mu_coef . x).

        Shapes (K contexts, S states, A actions, d = dim; the leading K may be left out to
        give every context the same array): r0, rbar0 (K, S, A); r_coef, rbar_coef (K, S, A, d);
        p_logits (K, S, A, S) with -inf off the support; p_coef (K, S, A, S, d); mu_logits
        (K, S) with -inf off the support; mu_coef (K, S, d). Instead of p_logits (or mu_logits)
        the support may be given entry by entry, in cbrl's order, as
        ``transitions=(context, s, a, next, logit, coef)`` (``initial=(context, s, logit,
        coef)``), coef being (n, d) or None. terminal: S flags. Only (s, a) pairs with a
        nonzero value or coefficient are set, as a problem file lists them.

        With ``transforms`` (docs/MODEL.md 1.1, as a problem file's: a list of dicts such as
        ``{"kind": "range", "x": 0, "low": 0, "high": 5}`` or ``{"kind": "softmax", "x": [0, 1],
        "scale": 2}``) the coefficients run over y = T(x), d being the transforms' outputs, and
        the problem's x has ``x_dim`` entries (default: the largest index read plus one)."""
        r0 = as_array(r0, "r0")
        if r0.ndim not in (2, 3):
            raise ValueError("r0: expected shape (K, S, A) or (S, A), got %s" % (r0.shape,))
        S, A = r0.shape[-2:]
        coefs = [c for c in (r_coef, rbar_coef, p_coef, mu_coef) if c is not None]
        if transitions is not None and transitions[5] is not None:
            coefs.append(transitions[5])
        if initial is not None and initial[3] is not None:
            coefs.append(initial[3])
        if dim is None:
            if not coefs:
                raise ValueError("dim: give dim, or a coefficient array it can be read from")
            dim = np.shape(coefs[0])[-1]
        d = int(dim)
        if d < 1:
            raise ValueError("dim: must be at least 1, got %r" % dim)
        K = None
        for name, arr, nd in (("r0", r0, 2), ("rbar0", rbar0, 2), ("r_coef", r_coef, 3), ("rbar_coef", rbar_coef, 3),
                              ("p_logits", p_logits, 3), ("p_coef", p_coef, 4), ("mu_logits", mu_logits, 1),
                              ("mu_coef", mu_coef, 2)):
            if arr is not None and np.ndim(arr) == nd + 1:
                K = np.shape(arr)[0] if K is None else K
                if np.shape(arr)[0] != K:
                    raise ValueError("%s: has %d contexts, another array %d" % (name, np.shape(arr)[0], K))
        if context_weights is not None:
            w = as_array(context_weights, "context_weights", (None,))
            K = len(w) if K is None else K
            if len(w) != K:
                raise ValueError("context_weights: expected shape (%d,), got %s" % (K, w.shape))
            if np.any(w < 0):
                raise ValueError("context_weights: must be non-negative")
            if abs(w.sum() - 1.0) > 1e-9:
                raise ValueError("context_weights: must sum to 1, got %r" % float(w.sum()))
        K = K or 1
        w = np.full(K, 1.0 / K) if context_weights is None else w

        def full(arr, name, tail, fill=0.0, finite=True):
            if arr is None:
                return np.full((K,) + tail, fill)
            a = as_array(arr, name, finite=finite)
            if a.shape == tail:
                return np.broadcast_to(a, (K,) + tail)
            if a.shape != (K,) + tail:
                raise ValueError("%s: expected shape %s or %s, got %s" % (name, (K,) + tail, tail, a.shape))
            return a

        def logits(arr, name, tail):
            a = full(arr, name, tail, finite=False)
            if np.any(np.isnan(a)) or np.any(a == np.inf):
                bad = np.argwhere(np.isnan(a) | (a == np.inf))[0]
                raise ValueError("%s: NaN or +inf at %s (use -inf off the support)" % (name, tuple(int(i) for i in bad)))
            return a

        r0 = full(r0, "r0", (S, A))
        rbar0 = full(rbar0, "rbar0", (S, A))
        r_coef = full(r_coef, "r_coef", (S, A, d))
        rbar_coef = full(rbar_coef, "rbar_coef", (S, A, d))
        if terminal is None:
            term = np.zeros(S, np.uint8)
        else:
            term = as_array(terminal, "terminal", (S,), dtype=np.int64).astype(np.uint8)

        def entries(idx_arrays, names):
            out = []
            for arr, name in zip(idx_arrays, names):
                a = as_array(arr, name, (None,), dtype=np.int64)
                if a.size and (a.min() < -2**31 or a.max() >= 2**31):
                    raise ValueError("%s: index out of range" % name)
                out.append(a.astype(np.int32))
            n = len(out[0])
            for a, name in zip(out, names):
                if len(a) != n:
                    raise ValueError("%s: has %d entries, %s has %d" % (name, len(a), names[0], n))
            return out

        if transitions is not None:
            if p_logits is not None or p_coef is not None:
                raise TypeError("transitions: give either transitions or p_logits/p_coef")
            tc, ts, ta, tn = entries(transitions[:4], ["transitions.context", "transitions.s", "transitions.a",
                                                       "transitions.next"])
            tl = as_array(transitions[4], "transitions.logit", (len(tc),))
            tco = np.zeros((len(tc), d)) if transitions[5] is None else as_array(transitions[5], "transitions.coef",
                                                                                (len(tc), d))
        else:
            if p_logits is None:
                raise TypeError("p_logits: give p_logits or transitions")
            pl = logits(p_logits, "p_logits", (S, A, S))
            pc = full(p_coef, "p_coef", (S, A, S, d))
            tc, ts, ta, tn = (i.astype(np.int32) for i in np.nonzero(np.isfinite(pl)))
            tl = np.ascontiguousarray(pl[tc, ts, ta, tn])
            tco = np.ascontiguousarray(pc[tc, ts, ta, tn])
        if initial is not None:
            if mu_logits is not None or mu_coef is not None:
                raise TypeError("initial: give either initial or mu_logits/mu_coef")
            ic, is_ = entries(initial[:2], ["initial.context", "initial.s"])
            il = as_array(initial[2], "initial.logit", (len(ic),))
            ico = np.zeros((len(ic), d)) if initial[3] is None else as_array(initial[3], "initial.coef", (len(ic), d))
        else:
            if mu_logits is None:
                raise TypeError("mu_logits: give mu_logits or initial")
            ml = logits(mu_logits, "mu_logits", (S,))
            mc = full(mu_coef, "mu_coef", (S, d))
            ic, is_ = (i.astype(np.int32) for i in np.nonzero(np.isfinite(ml)))
            il = np.ascontiguousarray(ml[ic, is_])
            ico = np.ascontiguousarray(mc[ic, is_])

        def rewards(v0, coef):
            mask = (v0 != 0) | np.any(coef != 0, axis=-1)
            k, s, a = (i.astype(np.int32) for i in np.nonzero(mask))
            return k, s, a, np.ascontiguousarray(v0[k, s, a]), np.ascontiguousarray(coef[k, s, a])

        rk, rs, ra, rv, rc_ = rewards(r0, r_coef)
        lk, ls, la, lv, lc = rewards(rbar0, rbar_coef)
        for name, val in (("gamma", gamma), ("lam", lam)):
            if not math.isfinite(float(val)):
                raise ValueError("%s: must be finite, got %r" % (name, val))
        leader_gamma = gamma if leader_gamma is None else leader_gamma
        arrays = [w, term, tc, ts, ta, tn, tl, tco, ic, is_, il, ico, rk, rs, ra, rv, rc_, lk, ls, la, lv, lc]
        err = _ffi.err_buffer()
        out = ffi.new("cbrl_problem **")
        i32 = lambda a: ptr(a, "int32_t *")
        rc = lib.cbrl_py_affine(
            S, A, d, K, float(gamma), float(leader_gamma), float(lam), ptr(w), ptr(term, "unsigned char *"),
            len(ic), i32(ic), i32(is_), ptr(il), ptr(ico),
            len(tc), i32(tc), i32(ts), i32(ta), i32(tn), ptr(tl), ptr(tco),
            len(rk), i32(rk), i32(rs), i32(ra), ptr(rv), ptr(rc_),
            len(lk), i32(lk), i32(ls), i32(la), ptr(lv), ptr(lc), out, err, _ffi.ERR_SIZE)
        del arrays
        check(rc, err)
        if transforms is None:
            return cls(out[0], env="file")
        return cls._transformed(out[0], d, transforms, x_dim)

    @classmethod
    def _transformed(cls, inner, n_params, transforms, x_dim):
        """Wraps the problem handle inner (consumed) in the transforms (cbrl/transform.h)."""
        kinds, counts, inputs, scale, low, high = [], [], [], [], [], []
        for i, t in enumerate(transforms):
            try:
                t = dict(t)
                extra = set(t) - {"kind", "x", "scale", "low", "high"}
                if extra:
                    raise TypeError("transforms[%d]: unknown field %s" % (i, sorted(extra)[0]))
                k = lib.cbrl_py_transform_kind(str(t["kind"]).encode())
                if k < 0:
                    raise ValueError("transforms[%d].kind: unknown transform %r (identity, sigmoid, softplus, exp, "
                                     "softmax, range)" % (i, t["kind"]))
                xs = [int(v) for v in np.atleast_1d(t["x"])]
            except BaseException:
                lib.cbrl_py_problem_free(inner)
                raise
            kinds.append(k)
            counts.append(len(xs))
            inputs.extend(xs)
            scale.append(float(t.get("scale", 1.0)))
            low.append(float(t.get("low", 0.0)))
            high.append(float(t.get("high", 1.0)))
        dim = int(x_dim) if x_dim is not None else (max(inputs) + 1 if inputs else 1)
        arr = lambda v, dt: np.ascontiguousarray(np.asarray(v if v else [0], dt))
        kinds_a, counts_a, inputs_a = arr(kinds, np.int32), arr(counts, np.int32), arr(inputs, np.int32)
        scale_a, low_a, high_a = arr(scale, np.float64), arr(low, np.float64), arr(high, np.float64)
        err = _ffi.err_buffer()
        out = ffi.new("cbrl_problem **")
        i32 = lambda a: ptr(a, "int32_t *")
        rc = lib.cbrl_py_transformed(inner, dim, len(kinds), i32(kinds_a), i32(counts_a), i32(inputs_a), ptr(scale_a),
                                     ptr(low_a), ptr(high_a), out, err, _ffi.ERR_SIZE)
        check(rc, err)
        p = cls(out[0], env="file")
        p.transforms, p.n_parameters = [dict(t) for t in transforms], int(n_params)
        return p

    #: The transforms of a problem built with them in Python (else None), and their outputs' count.
    transforms = None
    n_parameters = None

    def parameters(self, x):
        """y = T(x), the mechanism's parameters, of a problem built with ``transforms``."""
        if self.n_parameters is None:
            raise ValueError("parameters: this problem was not built with transforms in Python")
        y = np.empty(self.n_parameters)
        call(lib.cbrl_py_transformed_parameters(self._h, ptr(self.check_x(x)), ptr(y)), what="parameters")
        return y

    @classmethod
    def from_callbacks(cls, *, support, evaluate, vjp=None, dim, gamma, lam, leader_gamma=None,
                       context_weights=None, terminal=None):
        """A problem written in Python, for prototyping. ``support`` is a bool array (K, S, A, S)
        or (S, A, S): the successors P may put mass on (fixed for all x). ``evaluate(context, x)``
        returns (P, r, rbar, mu) as dense arrays (S, A, S), (S, A), (S, A), (S,); ``vjp(context,
        x, ct)`` returns the gradient (dim,) of sum ct.r * r + ct.rbar * rbar + ct.log_p *
        log P + ct.log_mu * log mu, with ct's fields dense like evaluate's (zeros off the support).

        Cost: every MDP evaluation calls Python and copies O(S^2 A) values, and every estimate
        or gradient calls vjp once; fine for a few hundred states, use :meth:`affine` or a C
        problem beyond that."""
        sup = np.asarray(support)
        if sup.dtype != bool:
            raise TypeError("support: expected a bool array, got dtype %s" % sup.dtype)
        if sup.ndim == 3:
            sup = sup[None]
        if sup.ndim != 4 or sup.shape[1] != sup.shape[3]:
            raise ValueError("support: expected shape (K, S, A, S) or (S, A, S), got %s" % (np.shape(support),))
        K, S, A, _ = sup.shape
        d = int(dim)
        term = np.zeros(S, np.uint8) if terminal is None else as_array(terminal, "terminal", (S,), np.int64).astype(np.uint8)
        w = np.full(K, 1.0 / K) if context_weights is None else as_array(context_weights, "context_weights", (K,))
        rows, nexts, index = [], [], []
        for k in range(K):
            counts = sup[k].reshape(S * A, S).sum(axis=1)
            rows.append(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
            sa, nx = np.nonzero(sup[k].reshape(S * A, S))
            nexts.append(nx.astype(np.int32))
            index.append((sa // A, sa % A, nx))
        row = np.ascontiguousarray(np.concatenate(rows))
        nxt = np.ascontiguousarray(np.concatenate(nexts)) if nexts else np.zeros(0, np.int32)
        shapes = {"P": (S, A, S), "r": (S, A), "rbar": (S, A), "mu": (S,)}

        def c_evaluate(user, k, x, prob, r, rbar, mu):
            try:
                xs = np.frombuffer(ffi.buffer(x, d * 8), np.float64).copy()
                res = evaluate(int(k), xs)
                if not isinstance(res, (tuple, list)) or len(res) != 4:
                    raise TypeError("evaluate: must return (P, r, rbar, mu), got %s" % type(res).__name__)
                P, rr, rb, m = (as_array(v, "evaluate: returned " + n, shapes[n], allow_strided=True)
                               for v, n in zip(res, shapes))
                s_, a_, n_ = index[k]
                vals = P[s_, a_, n_]
                np.frombuffer(ffi.buffer(prob, len(vals) * 8), np.float64)[:] = vals
                np.frombuffer(ffi.buffer(r, S * A * 8), np.float64)[:] = rr.ravel()
                np.frombuffer(ffi.buffer(rbar, S * A * 8), np.float64)[:] = rb.ravel()
                np.frombuffer(ffi.buffer(mu, S * 8), np.float64)[:] = m
                return 0
            except BaseException as exc:  # noqa: B902 - handed back to the caller
                _CALLBACK_ERRORS.append(exc)
                return -1

        def c_vjp(user, k, x, ct_r, ct_rbar, ct_log_p, ct_log_mu, grad):
            try:
                xs = np.frombuffer(ffi.buffer(x, d * 8), np.float64).copy()
                s_, a_, n_ = index[k]
                lp = np.zeros((S, A, S))
                lp[s_, a_, n_] = np.frombuffer(ffi.buffer(ct_log_p, len(s_) * 8), np.float64) if len(s_) else 0.0
                ct = Cotangent(np.frombuffer(ffi.buffer(ct_r, S * A * 8), np.float64).reshape(S, A).copy(),
                               np.frombuffer(ffi.buffer(ct_rbar, S * A * 8), np.float64).reshape(S, A).copy(),
                               lp, np.frombuffer(ffi.buffer(ct_log_mu, S * 8), np.float64).copy())
                g = as_array(vjp(int(k), xs, ct), "vjp: returned gradient", (d,), allow_strided=True)
                gv = np.frombuffer(ffi.buffer(grad, d * 8), np.float64)
                gv += g
                return 0
            except BaseException as exc:  # noqa: B902
                _CALLBACK_ERRORS.append(exc)
                return -1

        cb_eval = ffi.callback("cbrl_py_evaluate_fn", c_evaluate)
        cb_vjp = ffi.callback("cbrl_py_vjp_fn", c_vjp) if vjp is not None else ffi.NULL
        leader_gamma = gamma if leader_gamma is None else leader_gamma
        err = _ffi.err_buffer()
        out = ffi.new("cbrl_problem **")
        rc = lib.cbrl_py_callback_problem(S, A, d, K, float(gamma), float(leader_gamma), float(lam), ptr(w),
                                          ptr(term, "unsigned char *"), ptr(row, "int64_t *"), ptr(nxt, "int32_t *"),
                                          cb_eval, cb_vjp, ffi.NULL, out, err, _ffi.ERR_SIZE)
        check(rc, err)
        return cls(out[0], env="file", keep=(cb_eval, cb_vjp, evaluate, vjp))

    # ---- bounds and objectives (docs/MODEL.md 1.1, 3.1) ---------------------------------

    @property
    def bounds(self):
        """The box on x as (lower, upper) arrays (infinite where a side is open), or None."""
        lo, hi = np.empty(self.dim), np.empty(self.dim)
        return (lo, hi) if lib.cbrl_py_bounds_get(self._h, ptr(lo), ptr(hi)) else None

    def set_bounds(self, lower=None, upper=None):
        """Gives x the box [lower, upper] (arrays of dim, or scalars; None is open); both None
        removes it. Every optimiser then projects its steps (docs/MODEL.md 1.1)."""
        if lower is None and upper is None:
            lib.cbrl_py_bounds_set(self._h, ffi.NULL, ffi.NULL, ffi.new("int *"))
            return
        lo = np.full(self.dim, -np.inf) if lower is None else np.broadcast_to(
            np.asarray(lower, np.float64), (self.dim,)).copy()
        hi = np.full(self.dim, np.inf) if upper is None else np.broadcast_to(
            np.asarray(upper, np.float64), (self.dim,)).copy()
        bad = ffi.new("int *")
        if lib.cbrl_py_bounds_set(self._h, ptr(lo), ptr(hi), bad):
            j = int(bad[0])
            raise ValueError("bounds[%d]: lower %r is above upper %r (or NaN)" % (j, lo[j], hi[j]))

    def project(self, x):
        """x clamped into the box (a new array; x itself without bounds)."""
        y = self.check_x(x).copy()
        lib.cbrl_py_bounds_project(self._h, ptr(y))
        return y

    def bounds_violation(self, x):
        """The first index of x outside the box, or None."""
        j = lib.cbrl_py_bounds_violation(self._h, ptr(self.check_x(x)))
        return None if j < 0 else int(j)

    @property
    def objective(self):
        """The leader's objective: "leader-reward" (the default), "cross-entropy",
        "preferences", "welfare" or "custom" (docs/MODEL.md 3.1)."""
        kind = ffi.new("int *")
        return _ffi.string(lib.cbrl_py_objective_name(self._h, kind))

    def supports(self, algorithm):
        """(True, "") if the algorithm ("exact", "zero-order", "hpgd", "hpgd-batch", "hpgd-rtq",
        "amd") takes this problem's objective, else (False, why)."""
        why = _ffi.err_buffer()
        rc = lib.cbrl_py_objective_supports(self._h, str(algorithm).encode(), why, _ffi.ERR_SIZE)
        return (rc == 0, "" if rc == 0 else ffi.string(why).decode())

    def set_objective(self, kind, target=None, state_weight=None, output=None, kappa=0.0, pairs=None, beta=1.0):
        """Gives the problem a leader objective (docs/MODEL.md 3.1), before any workspace or
        leader is built on it: "leader-reward"; "cross-entropy" to ``target`` (S, A) or (K, S, A)
        with optional ``state_weight`` (S,); "welfare" of ``output`` (S, A) or (K, S, A) with
        spread penalty ``kappa``; "preferences": ``pairs`` of (context, weight, preferred,
        rejected), each trajectory a list of (state, action), with ``beta``. An impossible
        sequence raises ValueError naming the pair and the step."""
        S, A, K = self.n_states, self.n_actions, self.n_contexts
        if len(self._workspaces):
            raise RuntimeError("set_objective: %d exact workspace(s) or leader(s) built on this problem are alive; "
                               "set the objective before building them" % len(self._workspaces))
        if kind == "leader-reward":
            call(lib.cbrl_py_objective_set(self._h, 0, ffi.NULL, 0, ffi.NULL, 0.0), what="objective")
        elif kind in ("cross-entropy", "welfare"):
            table = target if kind == "cross-entropy" else output
            if table is None:
                raise TypeError("%s: give %s" % (kind, "target" if kind == "cross-entropy" else "output"))
            t = np.asarray(table, np.float64)
            if t.shape == (S, A) and kind == "welfare":
                t = np.broadcast_to(t, (K, S, A))
            if t.shape not in ((S, A), (K, S, A)):
                raise ValueError("%s: expected shape (%d, %d) or (%d, %d, %d), got %s" % (
                    "target" if kind == "cross-entropy" else "output", S, A, K, S, A, t.shape))
            t = np.ascontiguousarray(t)
            if not np.all(np.isfinite(t)):
                raise ValueError("%s: must be finite" % kind)
            if kind == "cross-entropy":
                if np.any(t < 0) or np.any(np.abs(t.sum(-1) - 1.0) > 1e-9):
                    raise ValueError("target: rows must be non-negative and sum to 1")
                rho = None if state_weight is None else as_array(state_weight, "state_weight", (S,))
                if rho is not None and np.any(rho < 0):
                    raise ValueError("state_weight: must not be negative")
                call(lib.cbrl_py_objective_set(self._h, 1, ptr(t), int(t.ndim == 3), ptr(rho) if rho is not None
                                               else ffi.NULL, 0.0), what="objective")
            else:
                if not (float(kappa) >= 0.0):
                    raise ValueError("kappa: must not be negative, got %r" % kappa)
                call(lib.cbrl_py_objective_set(self._h, 3, ptr(t), 1, ffi.NULL, float(kappa)), what="objective")
        elif kind == "preferences":
            if not pairs:
                raise TypeError("preferences: give pairs")
            if not (float(beta) > 0.0):
                raise ValueError("beta: must be positive, got %r" % beta)
            ctx, w, off, st, ac = [], [], [0], [], []
            for k, (c, wk, pref, rej) in enumerate(pairs):
                if not float(wk) > 0.0:
                    raise ValueError("pairs[%d]: weight must be positive, got %r" % (k, wk))
                ctx.append(int(c))
                w.append(float(wk))
                for traj in (pref, rej):
                    steps = np.asarray(traj, np.int64).reshape(-1, 2)
                    st.extend(int(v) for v in steps[:, 0])
                    ac.extend(int(v) for v in steps[:, 1])
                    off.append(len(st))
            if any(not 0 <= c < K for c in ctx):
                raise ValueError("pairs: a context out of range [0, %d)" % K)
            arr = lambda v, t: np.ascontiguousarray(np.asarray(v, t)) if len(v) else np.zeros(1, t)
            ctx_a, w_a, off_a, st_a, ac_a = arr(ctx, np.int32), arr(w, np.float64), arr(off, np.int64), \
                arr(st, np.int32), arr(ac, np.int32)
            bad = ffi.new("int[2]")
            rc = lib.cbrl_py_objective_preferences(self._h, len(ctx), ptr(ctx_a, "int32_t *"), ptr(w_a),
                                                   ptr(off_a, "int64_t *"), ptr(st_a, "int32_t *"),
                                                   ptr(ac_a, "int32_t *"), float(beta), bad)
            if rc == -1 and bad[0] >= 0:
                raise ValueError("pairs[%d]: step %d: an impossible sequence (a state or action out of range, or "
                                 "a step that is not a transition of the MDP or leaves a terminal state)"
                                 % (bad[0], bad[1]))
            call(rc, what="objective")
        else:
            raise ValueError("objective: unknown kind %r (leader-reward, cross-entropy, preferences, welfare)" % kind)

    # ---- quantities ----------------------------------------------------------------------

    def check_x(self, x, name="x"):
        """x as a contiguous float64 array of dim finite values, or an exception naming it."""
        return as_array(x, name, (self.dim,))

    def default_x(self, seed=0):
        """Where `cbrl hypergrad` starts without --x: Four-Rooms draws N(0, 0.01^2) from seed
        (--x-seed), tax design every rate 0.3, the others zeros."""
        x = np.zeros(self.dim)
        if self.env_name == "four-rooms":
            lib.cbrl_py_rng_normals(int(seed), 0, self.dim, ptr(x))
            return 0.01 * x
        if self.env_name != "file":
            lib.cbrl_py_env_default_x(self.env_name.encode(), self._h, ptr(x))
        return x

    def mdp(self, x, context=0):
        """The follower's MDP of a context at x, its arrays viewed without copies."""
        x = self.check_x(x)
        if not 0 <= int(context) < self.n_contexts:
            raise ValueError("context: must lie in [0, %d), got %r" % (self.n_contexts, context))
        out = ffi.new("cbrl_mdp **")
        call(lib.cbrl_py_mdp_new(self._h, int(context), ptr(x), out), what="mdp")
        return MDP(out[0], owned=True, owner=self)

    def exact(self, tol=None):
        """An exact workspace (:class:`cbrl.Exact`) of this problem."""
        from .exact import Exact
        return Exact(self, tol=tol)


class Cotangent:
    """The weights a problem's vjp receives (docs/MODEL.md 3): on r, rbar, log P and log mu."""

    def __init__(self, r, rbar, log_p, log_mu):
        self.r, self.rbar, self.log_p, self.log_mu = r, rbar, log_p, log_mu


class MDP:
    """A tabular follower MDP (cbrl_mdp): transitions stored by (s, a) rows. Arrays are
    read-only views of cbrl's memory, no copies; they stay valid while this object (and,
    for an exact workspace's MDP, that workspace until its next call) lives."""

    def __init__(self, handle, owned, owner):
        self._h = handle
        self._owned = owned
        self._owner = owner
        self._ptrs = None
        if owned:
            self._token = _ffi.own(handle, lib.cbrl_py_mdp_free, owner._token)

    def _load(self):
        # Read on first use, so that handing an MDP to a callback costs nothing until it looks.
        if self._ptrs is None:
            ints = ffi.new("int[2]")
            ps = [ffi.new(t) for t in ("unsigned char **", "int64_t **", "int32_t **", "double **", "double **",
                                       "double **", "double **")]
            n = lib.cbrl_py_mdp_arrays(self._h, ints, *ps)
            self._sizes = (int(ints[0]), int(ints[1]), int(n))
            self._ptrs = [p[0] for p in ps]
        return self._ptrs

    @property
    def n_states(self):
        """S."""
        self._load()
        return self._sizes[0]

    @property
    def n_actions(self):
        """A."""
        self._load()
        return self._sizes[1]

    @property
    def n_transitions(self):
        """The number of stored (s, a, s') entries."""
        self._load()
        return self._sizes[2]

    # Views are made on each access and keep this object alive, not the other way round, so
    # that a view outliving the MDP never points into freed memory and nothing is a cycle.
    def _view(self, i, n, dtype, shape=None):
        v = view(self._load()[i], n, dtype, self)
        return v if shape is None else v.reshape(shape)

    @property
    def terminal(self):
        """Terminal flags (S,), as bool (a copy)."""
        return self._view(0, self.n_states, np.uint8).astype(bool)

    @property
    def row(self):
        """Row offsets (S A + 1,): the entries of (s, a) are row[s A + a] .. row[s A + a + 1] - 1."""
        return self._view(1, self.n_states * self.n_actions + 1, np.int64)

    @property
    def next(self):
        """The successor s' of each stored transition (n_transitions,)."""
        return self._view(2, self.n_transitions, np.int32)

    @property
    def prob(self):
        """P(s' | s, a) of each stored transition (n_transitions,)."""
        return self._view(3, self.n_transitions, np.float64)

    @property
    def r(self):
        """The follower's reward (S, A)."""
        return self._view(4, self.n_states * self.n_actions, np.float64, (self.n_states, self.n_actions))

    @property
    def rbar(self):
        """The leader's reward (S, A)."""
        return self._view(5, self.n_states * self.n_actions, np.float64, (self.n_states, self.n_actions))

    @property
    def mu(self):
        """The initial distribution (S,)."""
        return self._view(6, self.n_states, np.float64)

    @property
    def P(self):
        """The transition kernel as a sparse triple (sa, next, prob), sa = s * n_actions + a:
        P(next | s, a) = prob, one entry per stored transition (scipy-free; with scipy,
        ``scipy.sparse.csr_matrix((prob, next, row))`` is P as an (S A) x S matrix)."""
        sa = np.repeat(np.arange(self.n_states * self.n_actions), np.diff(self.row))
        return sa, self.next, self.prob

    def P_dense(self):
        """P as a dense (S, A, S) array (a copy)."""
        sa, nx, pr = self.P
        out = np.zeros((self.n_states * self.n_actions, self.n_states))
        np.add.at(out, (sa, nx), pr)
        return out.reshape(self.n_states, self.n_actions, self.n_states)
