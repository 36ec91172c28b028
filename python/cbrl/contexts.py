"""Contexts from a distribution (docs/MODEL.md 1.2): the quadrature rules and fixed samples a
problem file's ``theta`` section uses, and the standard error of a sample average."""
import numpy as np

from ._ffi import check, lib, ptr


def _rule(normal, sample, n, seed):
    n = int(n)
    if not (1 <= n <= 64 if not sample else n >= 1):
        raise ValueError("n: quadrature takes 1 .. 64 nodes, got %r" % n)
    v, w = np.empty(n), np.empty(n)
    check(lib.cbrl_py_contexts_rule(int(normal), int(sample), n, int(seed), ptr(v), ptr(w)))
    return v, w


def normal_quadrature(n, mean=0.0, sd=1.0):
    """The n-node Gauss-Hermite rule for N(mean, sd^2): (nodes, weights), exact for E[p(theta)]
    with p a polynomial of degree up to 2n - 1 (1 <= n <= 64)."""
    z, w = _rule(1, 0, n, 0)
    return mean + sd * z, w


def uniform_quadrature(n, low=0.0, high=1.0):
    """The n-node Gauss-Legendre rule for U(low, high): (nodes, weights), exact up to degree 2n - 1."""
    u, w = _rule(0, 0, n, 0)
    return low + (high - low) * u, w


def normal_sample(n, seed=0, mean=0.0, sd=1.0):
    """n draws of N(mean, sd^2) from seed with weights 1/n, the draws of a problem file's
    ``theta: {distribution: normal, rule: sample, draws: n, seed: seed}``."""
    z, w = _rule(1, 1, n, seed)
    return mean + sd * z, w


def uniform_sample(n, seed=0, low=0.0, high=1.0):
    """n draws of U(low, high) from seed with weights 1/n, as a problem file's sample draws them."""
    u, w = _rule(0, 1, n, seed)
    return low + (high - low) * u, w


def standard_error(f):
    """The standard error of the mean of i.i.d. values f: sd(f) / sqrt(n) (0 for fewer than 2)."""
    f = np.ascontiguousarray(np.asarray(f, np.float64))
    return lib.cbrl_py_contexts_standard_error(ptr(f), len(f))


def F_standard_error(problem, f_per_context):
    """The standard error of F when a problem file's contexts are a sample of theta: of the average
    over the draws of g_i = sum_k q_k f_k(theta_i) (docs/MODEL.md 1.2); 0 for quadrature or listed
    contexts, whose F is exact."""
    th = problem.theta
    if th is None or th["rule"] != "sample":
        return 0.0
    f = np.ascontiguousarray(np.asarray(f_per_context, np.float64))
    return lib.cbrl_py_grouped_standard_error(problem._h, ptr(f), th["templates"], th["nodes"])
