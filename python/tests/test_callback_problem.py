"""A problem written in Python (evaluate and vjp callbacks) gives what the same problem built
in C gives; a callback that raises or returns garbage raises, naming itself."""
import numpy as np
import pytest

import cbrl


def affine_callbacks(r0, rc, pl, pc, ml, mc, rb0, rbc):
    """evaluate and vjp of a dense affine problem, in numpy (docs/ENVIRONMENTS.md 3)."""
    sup = np.isfinite(pl)

    def softmax(z, axis):
        z = z - np.max(np.where(np.isfinite(z), z, -np.inf), axis=axis, keepdims=True)
        e = np.where(np.isfinite(z), np.exp(z), 0.0)
        return e / e.sum(axis=axis, keepdims=True)

    def evaluate(k, x):
        P = softmax(np.where(sup[k], pl[k] + pc[k] @ x, -np.inf), -1)
        mu = softmax(np.where(np.isfinite(ml[k]), ml[k] + mc[k] @ x, -np.inf), -1)
        return P, r0[k] + rc[k] @ x, rb0[k] + rbc[k] @ x, mu

    def vjp(k, x, ct):
        P, _, _, mu = evaluate(k, x)
        g = np.einsum("sa,sad->d", ct.r, rc[k]) + np.einsum("sa,sad->d", ct.rbar, rbc[k])
        W = ct.log_p * sup[k]
        # grad log P_n = coef_n - sum_m P_m coef_m over each (s, a) row.
        g += np.einsum("san,sand->d", W, pc[k]) - np.einsum("sa,san,sand->d", W.sum(-1), P, pc[k])
        g += ct.log_mu @ mc[k] - ct.log_mu.sum() * (mu @ mc[k])
        return g

    return sup, evaluate, vjp


def make(seed=1):
    rng = np.random.default_rng(seed)
    S, A, d, K = 5, 2, 3, 2
    r0, rb0 = rng.normal(size=(K, S, A)), rng.normal(size=(K, S, A))
    rc, rbc = rng.normal(size=(K, S, A, d)), rng.normal(size=(K, S, A, d))
    pl = np.where(rng.random((K, S, A, S)) < 0.6, rng.normal(size=(K, S, A, S)), -np.inf)
    pl[..., 1] = np.where(np.isfinite(pl).any(-1), pl[..., 1], 0.0)
    pc = rng.normal(size=(K, S, A, S, d)) * np.isfinite(pl)[..., None]
    ml = rng.normal(size=(K, S))
    mc = rng.normal(size=(K, S, d))
    args = (r0, rc, pl, pc, ml, mc, rb0, rbc)
    c = cbrl.Problem.affine(r0=r0, r_coef=rc, p_logits=pl, p_coef=pc, mu_logits=ml, mu_coef=mc, rbar0=rb0,
                            rbar_coef=rbc, gamma=0.85, lam=0.7)
    return c, args, d


def test_python_problem_equals_the_c_problem():
    c, args, d = make()
    sup, evaluate, vjp = affine_callbacks(*args)
    py = cbrl.Problem.from_callbacks(support=sup, evaluate=evaluate, vjp=vjp, dim=d, gamma=0.85, lam=0.7)
    for x in (np.zeros(d), np.array([0.3, -0.2, 0.5])):
        a, b = cbrl.hypergrad(c, x), cbrl.hypergrad(py, x)
        assert np.isclose(a.F, b.F, rtol=1e-12, atol=1e-12)
        assert np.allclose(a.grad, b.grad, rtol=1e-9, atol=1e-11)
        m, n = c.mdp(x, 1), py.mdp(x, 1)
        assert np.array_equal(m.next, n.next) and np.allclose(m.prob, n.prob, atol=1e-14)
    # The sampled estimators run on it too.
    est = cbrl.estimate(py, np.zeros(d), estimator="hpgd", samples=300, seed=2)
    exact = cbrl.hypergrad(py, np.zeros(d)).grad
    assert np.all(np.abs(est.grad - exact) < 5 * est.stderr + 1e-9)


def test_callback_errors_are_raised_naming_the_callback():
    c, args, d = make()
    sup, evaluate, vjp = affine_callbacks(*args)

    def broken(k, x):
        raise KeyError("no such context")

    py = cbrl.Problem.from_callbacks(support=sup, evaluate=broken, vjp=vjp, dim=d, gamma=0.85, lam=0.7)
    with pytest.raises(KeyError, match="no such context"):
        cbrl.hypergrad(py, np.zeros(d))
    for bad, exc, match in ((lambda k, x: 3, TypeError, "evaluate: must return"),
                            (lambda k, x: (np.zeros((2, 2)),) * 4, ValueError, "evaluate: returned P: expected shape"),
                            (lambda k, x: evaluate(k, x)[:3] + (np.full(5, np.nan),), ValueError,
                             "evaluate: returned mu: not finite")):
        py = cbrl.Problem.from_callbacks(support=sup, evaluate=bad, vjp=vjp, dim=d, gamma=0.85, lam=0.7)
        with pytest.raises(exc, match=match):
            cbrl.hypergrad(py, np.zeros(d))
    py = cbrl.Problem.from_callbacks(support=sup, evaluate=evaluate, vjp=lambda k, x, ct: np.zeros(d + 1), dim=d,
                                     gamma=0.85, lam=0.7)
    with pytest.raises(ValueError, match=r"vjp: returned gradient: expected shape \(3\)"):
        cbrl.hypergrad(py, np.zeros(d))
    # Rows that do not sum to 1: cbrl's own check refuses the MDP.
    unnormal = lambda k, x: (2 * evaluate(k, x)[0],) + evaluate(k, x)[1:]
    py = cbrl.Problem.from_callbacks(support=sup, evaluate=unnormal, vjp=vjp, dim=d, gamma=0.85, lam=0.7)
    with pytest.raises(cbrl.CbrlError):
        cbrl.hypergrad(py, np.zeros(d))
    with pytest.raises(TypeError, match="support: expected a bool array"):
        cbrl.Problem.from_callbacks(support=sup.astype(int), evaluate=evaluate, dim=d, gamma=0.85, lam=0.7)
