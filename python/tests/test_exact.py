"""Exact quantities and estimators agree with `cbrl hypergrad --json` to the last bit, and the
arrays they come with satisfy what they mean (docs/MODEL.md 2 and 3)."""
import os

import numpy as np
import pytest

import cbrl


def same(a, b):
    """Bitwise equality of two float arrays (NaN equal to NaN, as JSON null)."""
    a = np.array([np.nan if v is None else v for v in np.atleast_1d(a)], float)
    b = np.array([np.nan if v is None else v for v in np.atleast_1d(b)], float)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def test_four_rooms_default_x_equals_cli(cli):
    p = cbrl.Problem.env("four-rooms", beta=3)
    want = cli("hypergrad", "--env", "four-rooms", "--beta", 3, "--json")
    got = cbrl.hypergrad(p)
    assert same(got.x, want["inputs"]["x"])
    assert same(got.F, want["F"]) and same(got.grad, want["grad"]) and same(got.F_per_context, want["F_per_context"])


def test_chain_file_equals_cli(cli, root):
    path = os.path.join(root, "examples", "chain.yaml")
    want = cli("hypergrad", "--problem", path, "--x", "0.1,0,0.2", "--json")
    got = cbrl.hypergrad(cbrl.Problem.file(path), [0.1, 0, 0.2])
    assert same(got.F, want["F"]) and same(got.grad, want["grad"]) and same(got.F_per_context, want["F_per_context"])


def test_random_and_tax_equal_cli(cli):
    want = cli("hypergrad", "--env", "random", "--states", 30, "--actions", 3, "--dim", 4, "--contexts", 2,
               "--branch", 3, "--seed", 5, "--lambda", 0.2, "--json")
    p = cbrl.Problem.env("random", states=30, actions=3, dim=4, contexts=2, branch=3, seed=5, lam=0.2)
    got = cbrl.hypergrad(p)
    assert same(got.F, want["F"]) and same(got.grad, want["grad"])
    want = cli("hypergrad", "--env", "tax-design", "--bins", 20, "--json")
    got = cbrl.hypergrad(cbrl.Problem.env("tax-design", bins=20))
    assert same(got.x, want["inputs"]["x"]) and same(got.F, want["F"]) and same(got.grad, want["grad"])


@pytest.mark.parametrize("estimator,samples", [("hpgd-batch", 3), ("hpgd", 200), ("zero-order", 20), ("rtq", 3)])
def test_estimators_equal_cli(cli, estimator, samples):
    want = cli("hypergrad", "--env", "four-rooms", "--estimator", estimator, "--samples", samples, "--seed", 7,
               "--steps", 2000, "--json")
    got = cbrl.estimate(cbrl.Problem.env("four-rooms"), estimator=estimator, samples=samples, seed=7, steps=2000)
    assert same(got.grad, want["grad"]) and same(got.stderr, want["stderr"])
    assert got.env_steps == want["env_steps"]


def test_soft_q_follower_and_paper_code_equal_cli(cli):
    want = cli("hypergrad", "--env", "four-rooms", "--estimator", "hpgd-batch", "--samples", 2, "--seed", 3,
               "--follower", "soft-q", "--follower-iterations", 64, "--simulator", "paper-code", "--json")
    p = cbrl.Problem.env("four-rooms")
    got = cbrl.estimate(p, estimator="hpgd-batch", samples=2, seed=3, follower=cbrl.Follower.soft_q(p, 64),
                        simulator="paper-code")
    assert same(got.grad, want["grad"]) and same(got.stderr, want["stderr"])
    assert got.follower_samples == want["follower_samples"]


def test_amd_equals_cli(cli):
    want = cli("hypergrad", "--env", "four-rooms", "--estimator", "amd", "--amd-updates", 50, "--json")
    got = cbrl.estimate(cbrl.Problem.env("four-rooms"), estimator="amd", amd_updates=50)
    assert same(got.grad, want["grad"])


def test_policy_q_v_and_leader_tables_mean_what_they_say():
    p = cbrl.Problem.file(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "chain.yaml"))
    x = np.array([0.1, 0.0, 0.2])
    e = p.exact()
    res = e.evaluate(x)
    for k in range(p.n_contexts):
        m = e.mdp(k)
        pi, q, v = e.policy(k), e.q(k), e.v(k)
        assert np.allclose(pi.sum(axis=1), 1.0)
        # V* is the soft maximum of Q*, pi* its softmax (docs/MODEL.md 2).
        assert np.allclose(v, p.lam * np.log(np.exp(q / p.lam).sum(axis=1)), atol=1e-12)
        assert np.allclose(pi, np.exp((q - v[:, None]) / p.lam), atol=1e-12)
        # Q* satisfies the soft Bellman equation on the MDP's own P.
        P = m.P_dense()
        back = m.r + p.gamma * np.where(m.terminal[:, None], 0.0, P @ v)
        assert np.allclose(q, back, atol=1e-9)
        # f = mu . Vbar, with Vbar the leader's value of pi* under the leader's discount.
        Vbar = e.leader_value(k)
        assert np.isclose(res.F_per_context[k], m.mu @ Vbar, atol=1e-12)
        P_pi = np.einsum("sa,san->sn", pi, np.where(m.terminal[:, None, None], 0.0, P))
        rbar_pi = (pi * m.rbar).sum(axis=1)
        assert np.allclose(Vbar, np.linalg.solve(np.eye(p.n_states) - p.leader_gamma * P_pi, rbar_pi), atol=1e-9)
        d = e.occupancy(k)
        assert np.allclose(d, np.linalg.solve((np.eye(p.n_states) - p.leader_gamma * P_pi).T, m.mu), atol=1e-9)
    assert np.isclose(res.F, p.context_weights @ res.F_per_context)


def test_mdp_views_are_zero_copy_and_outlive_their_owner():
    p = cbrl.Problem.env("four-rooms")
    x = p.default_x()
    m = p.mdp(x, 1)
    prob = m.prob
    assert not prob.flags.owndata and not prob.flags.writeable
    sa, nx, pr = m.P
    assert len(sa) == len(nx) == len(pr) == m.n_transitions
    assert np.allclose(np.bincount(sa, pr, minlength=p.n_states * p.n_actions)[~np.repeat(m.terminal, 4)], 1.0)
    del m, p
    assert np.isfinite(prob).all()  # the view keeps its MDP alive


def test_gradient_matches_finite_differences():
    p = cbrl.Problem.env("random", states=12, actions=3, dim=3, contexts=2, branch=3, seed=2, lam=0.3)
    x = np.array([0.2, -0.1, 0.3])
    e = p.exact()
    g = e.evaluate(x).grad
    h = 1e-4  # central differences: O(h^2) truncation, solver noise ~ 1e-11 / h
    for j in range(3):
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        fd = (e.evaluate(xp, grad=False).F - e.evaluate(xm, grad=False).F) / (2 * h)
        assert abs(fd - g[j]) < 1e-6
