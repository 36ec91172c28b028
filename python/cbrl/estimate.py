"""Hypergradient estimators (docs/MODEL.md 4) with standard errors, as `cbrl hypergrad
--estimator` computes them."""
import numpy as np

from . import _ffi
from ._ffi import ffi, lib, ptr
from .exact import Exact, Result
from .problem import call

_DEFAULT_SAMPLES = {"hpgd": 10000, "hpgd-batch": 20, "hpgd-rtq": 20, "zero-order": 1000}


class Simulator:
    """Where HPGD's trajectories come from, by the names configs use (docs/CONFIG.md):
    "consistent" (the model's own kernel), "paper-code" (four-rooms), "continuous" (tax-design)."""

    def __init__(self, problem, name):
        self.problem, self.name = problem, name
        err = _ffi.err_buffer()
        out = ffi.new("cbrl_simulator **")
        call(lib.cbrl_py_simulator_create(problem.env_name.encode(), name.encode(), problem._h, out, err,
                                          _ffi.ERR_SIZE), err)
        self._h = out[0]  # NULL for consistent
        self._token = _ffi.own(out[0], lib.cbrl_py_simulator_free, problem._token)


def estimate(problem, x=None, estimator="hpgd-batch", samples=None, seed=0, steps=10000, zo_u=1e-3,
             amd_updates=2000, levels=6, follower=None, simulator=None, tol=None):
    """Averages `samples` estimates of grad F at x, each for a context drawn from the weights,
    exactly as `cbrl hypergrad --estimator E --samples N --seed S` does (the same numbers, to the
    last bit): a Result with grad, stderr (NaN where not estimable: one sample, or all
    estimates equal), samples, env_steps and follower_samples (per estimate). Estimators:
    hpgd (unbiased), hpgd-batch, zero-order, amd, hpgd-rtq (alias rtq). follower (a
    cbrl.Follower) answers hpgd and hpgd-batch instead of the exact best response; simulator is
    a name or a cbrl.Simulator."""
    if estimator == "rtq":
        estimator = "hpgd-rtq"
    if estimator not in ("hpgd", "hpgd-batch", "zero-order", "amd", "hpgd-rtq"):
        raise ValueError("estimator: unknown %r (hpgd, hpgd-batch, zero-order, amd, rtq)" % (estimator,))
    x = problem.default_x() if x is None else problem.check_x(x)
    if samples is None:
        samples = _DEFAULT_SAMPLES.get(estimator, 1)
    for name, v, lo in (("samples", samples, 1), ("steps", steps, 5), ("amd_updates", amd_updates, 1),
                        ("levels", levels, 1)):
        if isinstance(v, bool) or int(v) != v or v < lo:
            raise ValueError("%s: must be an integer of at least %d, got %r" % (name, lo, v))
    if not (float(zo_u) > 0):
        raise ValueError("zo_u: must be positive, got %r" % zo_u)
    if (follower is not None or simulator is not None) and estimator not in ("hpgd", "hpgd-batch"):
        raise ValueError("follower, simulator: apply to estimator hpgd or hpgd-batch only")
    if isinstance(simulator, str):
        simulator = Simulator(problem, simulator)
    e = Exact(problem, tol=tol)
    grad = np.empty(problem.dim)
    se = np.empty(problem.dim)
    counts = ffi.new("int64_t[2]")
    err = _ffi.err_buffer()
    rc = lib.cbrl_py_estimate(problem._h, e._h, ptr(x), estimator.encode(), int(samples), int(seed), int(steps),
                              float(zo_u), int(amd_updates), int(levels),
                              follower._h if follower is not None else ffi.NULL,
                              simulator._h if simulator is not None else ffi.NULL, ffi.NULL, ptr(grad), ptr(se),
                              counts, err, _ffi.ERR_SIZE)
    call(rc, err, what="estimator " + estimator)
    n = 1 if estimator == "amd" else int(samples)
    return Result(grad=grad, stderr=se if estimator != "amd" else None, samples=n, env_steps=int(counts[0]),
                  follower_samples=counts[1] / n)
