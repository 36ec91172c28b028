"""The applications of issue 18 from Python: bounds, objectives, the contract and optimal-tax
environments with their options and exact references, and contexts from a distribution
(docs/PYTHON.md 10). Values are checked against `cbrl hypergrad --json`, finite differences,
closed forms and the quadrature rules' exactness."""
import os
import re

import numpy as np
import pytest

import cbrl


def same(a, b):
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def fd_grad(problem, x, h=1e-3):
    """The five-point central difference of F (error O(h^4); the solver's 1e-11 over h)."""
    e = problem.exact()
    g = np.empty(len(x))
    F = lambda y: e.evaluate(y, grad=False).F
    for j in range(len(x)):
        step = np.zeros(len(x))
        step[j] = h
        x = np.asarray(x, float)
        g[j] = (8 * (F(x + step) - F(x - step)) - (F(x + 2 * step) - F(x - 2 * step))) / (12 * h)
    return g


# ---- bounds ----------------------------------------------------------------------------------

def test_bounds_are_read_set_and_projected(root):
    p = cbrl.Problem.file(os.path.join(root, "examples", "contract_two_types.yaml"))
    lo, hi = p.bounds
    assert np.all(lo == 0) and np.all(hi == 3)
    assert np.array_equal(p.project([-1, 0.5, 4, 3, 0, 2.5]), [0, 0.5, 3, 3, 0, 2.5])
    assert p.bounds_violation([0, 0, 3.5, 0, 0, 0]) == 2 and p.bounds_violation(np.ones(6)) is None
    r = cbrl.Problem.env("random", states=10, actions=2, dim=3, contexts=1, branch=2, seed=1)
    assert r.bounds is None and np.array_equal(r.project([5.0, -5, 1]), [5.0, -5, 1])
    r.set_bounds(lower=[0, -1, -np.inf], upper=1.0)
    assert np.array_equal(r.project([5.0, -5, -7]), [1.0, -1, -7])
    with pytest.raises(ValueError, match=r"bounds\[1\]: lower 2.0 is above upper 1.0"):
        r.set_bounds(lower=[0, 2, 0], upper=1.0)
    r.set_bounds()
    assert r.bounds is None


def test_leader_steps_stay_in_the_box_and_x0_outside_is_refused(root):
    p = cbrl.Problem.file(os.path.join(root, "examples", "contract_two_types.yaml"))
    with pytest.raises(ValueError, match=r"x0\[2\]: 4 is outside the problem's bounds \[0, 3\]"):
        cbrl.Leader(p, algorithm="exact", x0=[0, 0, 4, 0, 0, 2])
    L = cbrl.Leader(p, algorithm="exact", x0=[0, 0, 2, 0, 0, 2], learning_rate=2.0, max_grad_norm=0, seed=1)
    for _ in range(20):
        L.step()
        assert np.all(L.x >= 0) and np.all(L.x <= 3)
    assert np.any(L.x == 0)  # the projection binds: limited liability


# ---- objectives -------------------------------------------------------------------------------

def test_file_objectives_and_their_exact_hypergradient(cli, root):
    path = os.path.join(root, "tests", "bad_inputs", "p_objective_welfare_ok.yaml")
    p = cbrl.Problem.file(path)
    assert p.objective == "welfare"
    ok, why = p.supports("hpgd-batch")
    assert not ok and "welfare" in why and p.supports("zero-order") == (True, "")
    x = np.array([0.3, -0.2])
    got = cbrl.hypergrad(p, x)
    want = cli("hypergrad", "--problem", path, "--x", "0.3,-0.2", "--json")
    assert same(got.F, want["F"]) and same(got.grad, want["grad"])
    assert np.allclose(got.grad, fd_grad(p, x), rtol=1e-6, atol=1e-9)
    with pytest.raises(cbrl.CbrlError, match="welfare"):
        cbrl.Leader(p, algorithm="hpgd-batch")
    L = cbrl.Leader(p, algorithm="zero-order", seed=2)
    assert np.isfinite(L.step()["F"])


def test_objectives_set_from_python_equal_the_file_ones(root):
    path = os.path.join(root, "tests", "bad_inputs", "p_objective_welfare_ok.yaml")
    text = open(path).read()
    plain = re.sub(r"objective:\n(  .*\n)+", "", text)
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "cbrl_py_plain_%d.yaml" % os.getpid())
    with open(tmp, "w") as f:
        f.write(plain)
    try:
        a, b = cbrl.Problem.file(path), cbrl.Problem.file(tmp)
        assert b.objective == "leader-reward"
        y = np.zeros((3, 2))
        y[0, 1], y[1, 1] = 1.0, 2.0
        b.set_objective("welfare", output=y, kappa=1.0)
        x = [0.1, 0.4]
        ra, rb = cbrl.hypergrad(a, x), cbrl.hypergrad(b, x)
        assert same(ra.F, rb.F) and same(ra.grad, rb.grad)
        # Cross-entropy to a target behaviour: 0 at the target, FD-checked gradient elsewhere.
        c = cbrl.Problem.file(tmp)
        pi = c.exact()
        pi.evaluate(x)
        target = pi.policy(0)
        with pytest.raises(RuntimeError, match="set the objective before building them"):
            c.set_objective("cross-entropy", target=target)  # a live workspace would keep the old one's scratch
        del pi
        c.set_objective("cross-entropy", target=target, state_weight=[0.5, 0.5, 0])
        assert abs(cbrl.hypergrad(c, x).F) < 1e-12
        x2 = np.array([0.6, -0.3])
        assert np.allclose(cbrl.hypergrad(c, x2).grad, fd_grad(c, x2), rtol=1e-6, atol=1e-9)
        # Preferences: a possible pair is accepted and FD-checked, an impossible one named.
        d = cbrl.Problem.file(tmp)
        d.set_objective("preferences", pairs=[(0, 1.0, [(0, 1), (1, 1)], [(0, 0), (0, 1)])], beta=0.7)
        assert d.objective == "preferences"
        assert np.allclose(cbrl.hypergrad(d, x2).grad, fd_grad(d, x2), rtol=1e-6, atol=1e-9)
        with pytest.raises(ValueError, match=r"pairs\[0\]: step 1: an impossible sequence"):
            cbrl.Problem.file(tmp).set_objective("preferences", pairs=[(0, 1.0, [(0, 0), (2, 0)], [(0, 1)])])
        with pytest.raises(ValueError, match="target: rows must be non-negative and sum to 1"):
            cbrl.Problem.file(tmp).set_objective("cross-entropy", target=np.full((3, 2), 0.6))
    finally:
        os.remove(tmp)


# ---- the contract and optimal-tax environments ---------------------------------------------------

def test_contract_options_equal_the_problem_file_and_the_references(cli, root):
    q = cbrl.Problem.env("contract", n_stages=2, repeat=True, participation=True,
                         effort_cost=[[0, 0.4, 1], [0, 0.6, 1.5]], outside_option=[0.1, 0.2], type_weight=[0.5, 0.5],
                         budget=3)
    f = cbrl.Problem.file(os.path.join(root, "examples", "contract_two_types.yaml"))
    assert q.n_contexts == 2 and q.dim == 6 and np.array_equal(q.bounds[1], np.full(6, 3.0))
    x = [0.3, 0.2, 1.2, 0.1, 0.4, 1.5]
    rq, rf = cbrl.hypergrad(q, x), cbrl.hypergrad(f, x)
    assert np.isclose(rq.F, rf.F, rtol=1e-12) and np.allclose(rq.grad, rf.grad, rtol=1e-9, atol=1e-12)
    # The default: the LP implements work by paying 4/3 on success only, worth 2/3; the closed
    # form of the soft agent's value equals cbrl's F, as does `cbrl hypergrad --env contract`.
    p = cbrl.Problem.env("contract")
    w, effort, value = cbrl.contract_lp(p)
    assert effort == 1 and np.allclose(w, [0, 0, 4 / 3]) and np.isclose(value, 2 / 3)
    for pay in ([0, 0, 1.28], [0.2, 0.5, 1.0]):
        assert np.isclose(cbrl.contract_value(p, pay), cbrl.hypergrad(p, pay).F, rtol=1e-12)
    assert same(cbrl.hypergrad(p, [0, 0, 2]).F, cli("hypergrad", "--env", "contract", "--x", "0,0,2", "--json")["F"])
    # lam is the agent's temperature, applied where the environment uses it (the offer's entropy term).
    cold = cbrl.Problem.env("contract", lam=0.01)
    assert cold.lam == 0.01 and np.isclose(cbrl.contract_value(cold, [0, 0, 1.43]), cbrl.hypergrad(cold, [0, 0, 1.43]).F)
    with pytest.raises(TypeError, match="beta: not an option of env contract"):
        cbrl.Problem.env("contract", beta=1)
    with pytest.raises(cbrl.CbrlError, match="contract: these options do not make a valid problem"):
        cbrl.Problem.env("contract", outcome_prob=[[0.5, 0.6], [0.2, 0.8]])


def test_contract_continuous_types_equal_the_theta_file(root):
    fl = cbrl.Problem.file(os.path.join(root, "examples", "contract_lognormal.yaml"))
    ln = cbrl.Problem.env("contract", type_sigma=0.5, n_types=16, type_rule="quadrature", n_stages=2, repeat=True,
                          participation=True, budget=3, outside_option=[0.1])
    x = [0.1, 0.2, 1.4, 0.0, 0.3, 1.6]
    a, b = cbrl.hypergrad(fl, x), cbrl.hypergrad(ln, x)
    assert np.isclose(a.F, b.F, rtol=1e-12) and np.allclose(a.grad, b.grad, rtol=1e-9, atol=1e-12)
    assert np.allclose(fl.context_weights, ln.context_weights, rtol=0, atol=1e-15)


def test_optimal_tax_options_and_saez(cli):
    t = cbrl.Problem.env("optimal-tax")
    assert np.allclose(cbrl.saez_rates(t), [0.3880, 0.4645, 0.2644], atol=5e-5)
    assert np.array_equal(t.bounds[0], np.zeros(3)) and np.array_equal(t.bounds[1], np.ones(3))
    assert same(cbrl.hypergrad(t).F, cli("hypergrad", "--env", "optimal-tax", "--json")["F"])
    # Two brackets and three skills: the counts follow the arrays; Saez's top rate is positive.
    u = cbrl.Problem.env("optimal-tax", skill=[1, 2, 3], type_weight=[0.3, 0.4, 0.3], welfare_weight=[1.5, 1, 0.5],
                         threshold=[0, 3], n_labour=201, lam=0.01)
    assert u.n_contexts == 3 and u.dim == 2 and u.lam == 0.01
    rates = cbrl.saez_rates(u)
    assert rates.shape == (2,) and np.all((rates > 0) & (rates < 1))
    x = np.array([0.35, 0.3])
    assert np.allclose(cbrl.hypergrad(u, x).grad, fd_grad(u, x), rtol=1e-5, atol=1e-8)
    assert set(cbrl.env_options("optimal-tax")) >= {"skill", "threshold", "elasticity", "n_labour", "lambda"}
    # Skills alone: equal shares and inverse-skill welfare weights, as the default's.
    v = cbrl.Problem.env("optimal-tax", skill=[1, 2, 4])
    assert v.n_contexts == 3 and np.allclose(v.context_weights, 1 / 3)
    d = cbrl.Problem.env("optimal-tax", skill=[1, 1.5, 2, 3, 4])
    assert same(cbrl.hypergrad(d).F, cbrl.hypergrad(t).F)


# ---- contexts from a distribution -------------------------------------------------------------

def test_quadrature_rules_are_exact_for_polynomials():
    for n in (1, 3, 8):
        z, w = cbrl.contexts.normal_quadrature(n, mean=1.0, sd=0.5)
        u, v = cbrl.contexts.uniform_quadrature(n, low=0.0, high=2.0)
        assert np.isclose(w.sum(), 1) and np.isclose(v.sum(), 1)
        if n >= 2:  # degree 3: E[t^3] = m^3 + 3 m s^2 and 2^3 / 4
            assert np.isclose(w @ z**3, 1.75, rtol=1e-13) and np.isclose(v @ u**3, 2.0, rtol=1e-13)
    z, w = cbrl.contexts.normal_sample(2000, seed=4)
    assert abs(w @ z) < 4 * cbrl.contexts.standard_error(z)
    assert np.isclose(cbrl.contexts.standard_error([1.0, 2.0, 6.0]), np.sqrt(7 / 3))


def test_theta_sample_reports_F_stderr_and_its_gradient_is_exact(cli, root, tmp_path):
    text = open(os.path.join(root, "examples", "contract_lognormal.yaml")).read()
    text = re.sub(r"rule: quadrature.*\n  nodes: 16", "rule: sample\n  draws: 25\n  seed: 5", text)
    path = tmp_path / "sample.yaml"
    path.write_text(text)
    p = cbrl.Problem.file(path)
    assert p.theta["rule"] == "sample" and p.theta["nodes"] == 25 and p.n_contexts == 25
    z, w = cbrl.contexts.normal_sample(25, seed=5)
    assert np.array_equal(p.theta["values"], z) and np.array_equal(p.context_weights, w)
    x = np.array([0.1, 0.2, 1.4, 0.0, 0.3, 1.6])
    res = cbrl.hypergrad(p, x)
    assert np.isclose(res.F_stderr, cbrl.contexts.standard_error(res.F_per_context), rtol=1e-12)
    want = cli("hypergrad", "--problem", path, "--x", ",".join(map(str, x)), "--json")
    assert same(res.F, want["F"]) and same(res.F_stderr, want["F_stderr"])
    assert np.allclose(res.grad, fd_grad(p, x), rtol=1e-6, atol=1e-8)
    # HPGD draws a context by its weight each iteration, as with listed contexts.
    L = cbrl.Leader(p, algorithm="hpgd-batch", hpgd_steps=500, x0=x, seed=1)
    ctx = [L.step()["context"] for _ in range(5)]
    assert all(0 <= c < 25 for c in ctx)
    q = cbrl.Problem.file(os.path.join(root, "examples", "contract_lognormal.yaml"))
    nodes, weights = cbrl.contexts.normal_quadrature(16)
    assert np.allclose(q.theta["values"], nodes, atol=1e-15) and "F_stderr" not in cbrl.hypergrad(q, x)


def test_theta_file_with_an_invalid_context_is_refused(root):
    with pytest.raises(cbrl.CbrlError, match=r"p_theta_negative_prob.yaml:14: contexts\[0\].transitions\[0\].prob: "
                                             r"-0.743364 at theta = -4.14455 \(node 0 of 8\)"):
        cbrl.Problem.file(os.path.join(root, "tests", "bad_inputs", "p_theta_negative_prob.yaml"))


# ---- transforms from arrays ------------------------------------------------------------------

def test_affine_with_transforms_equals_the_problem_file(tmp_path):
    S, A = 3, 2
    p_logits = np.full((S, A, S), -np.inf)
    p_logits[0, :, 0] = p_logits[0, :, 1] = 0.0
    p_logits[1, :, 2] = p_logits[2, :, 2] = 0.0
    p_coef = np.zeros((S, A, S, 3))
    p_coef[0, 1, 1] = [0.5, 0.0, 1.0]
    r0, rbar0 = np.zeros((S, A)), np.zeros((S, A))
    r0[2, :], rbar0[1, :] = 1.0, 1.0
    r_coef = np.zeros((S, A, 3))
    r_coef[0, 1] = [1.0, 0.5, -0.2]
    transforms = [{"kind": "range", "x": 0, "low": 0, "high": 5}, {"kind": "softmax", "x": [0, 1], "scale": 2}]
    p = cbrl.Problem.affine(r0=r0, rbar0=rbar0, p_logits=p_logits, p_coef=p_coef, mu_logits=[0, -np.inf, -np.inf],
                            r_coef=r_coef, terminal=[0, 0, 1], gamma=0.9, lam=0.5, transforms=transforms)
    assert p.dim == 2 and p.n_parameters == 3
    x = np.array([0.3, -0.2])
    sm = 2 * np.exp(0.3) / (np.exp(0.3) + np.exp(-0.2))
    assert np.allclose(p.parameters(x), [5 / (1 + np.exp(-0.3)), sm, 2 - sm], rtol=1e-15)
    text = """format: cbrl-tabular-1
states: 3
actions: 2
dim: 2
gamma: 0.9
lambda: 0.5
terminal: [2]
transforms:
  - {kind: range, x: 0, low: 0, high: 5}
  - {kind: softmax, x: [0, 1], scale: 2}
contexts:
  - weight: 1
    initial: [{s: 0}]
    transitions:
      - {s: 0, a: 0, next: 0}
      - {s: 0, a: 0, next: 1}
      - {s: 0, a: 1, next: 0}
      - {s: 0, a: 1, next: 1, coef: [0.5, 0, 1]}
      - {s: 1, a: 0, next: 2}
      - {s: 1, a: 1, next: 2}
      - {s: 2, a: 0, next: 2}
      - {s: 2, a: 1, next: 2}
    reward:
      - {s: 0, a: 1, value: 0, coef: [1, 0.5, -0.2]}
      - {s: 2, a: 0, value: 1}
      - {s: 2, a: 1, value: 1}
    leader_reward:
      - {s: 1, a: 0, value: 1}
      - {s: 1, a: 1, value: 1}
"""
    (tmp_path / "t.yaml").write_text(text)
    f = cbrl.Problem.file(tmp_path / "t.yaml")
    a, b = cbrl.hypergrad(p, x), cbrl.hypergrad(f, x)
    assert np.isclose(a.F, b.F, rtol=1e-13) and np.allclose(a.grad, b.grad, rtol=1e-11, atol=1e-14)
    assert np.abs(a.grad).max() > 1e-3 and np.allclose(a.grad, fd_grad(p, x), rtol=1e-6, atol=1e-9)
    bad = [{"kind": "range", "x": 0, "low": 2, "high": 1}, {"kind": "softmax", "x": [0, 1]}]
    with pytest.raises(cbrl.CbrlError, match=r"transforms\[0\]: range needs finite low < high, got low 2, high 1"):
        cbrl.Problem.affine(r0=r0, rbar0=rbar0, p_logits=p_logits, mu_logits=[0, -np.inf, -np.inf], r_coef=r_coef,
                            gamma=0.9, lam=0.5, transforms=bad)
    with pytest.raises(cbrl.CbrlError, match="transforms: 2 outputs, but the mechanism's coefficients have 3 entries"):
        cbrl.Problem.affine(r0=r0, rbar0=rbar0, p_logits=p_logits, mu_logits=[0, -np.inf, -np.inf], r_coef=r_coef,
                            gamma=0.9, lam=0.5, transforms=[{"kind": "softmax", "x": [0, 1]}])
    with pytest.raises(ValueError, match=r"transforms\[0\].kind: unknown transform 'tanh'"):
        cbrl.Problem.affine(r0=r0, rbar0=rbar0, p_logits=p_logits, mu_logits=[0, -np.inf, -np.inf], r_coef=r_coef,
                            gamma=0.9, lam=0.5, transforms=[{"kind": "tanh", "x": 0}])


# ---- clip groups (docs/MODEL.md 4) -----------------------------------------------------------------

def test_clip_groups_clip_each_group_alone():
    p = cbrl.Problem.env("random", states=12, actions=3, dim=4, contexts=1, branch=3, seed=2, lam=0.2)
    x0 = np.full(4, 0.5)
    g = np.asarray(cbrl.hypergrad(p, x=x0).grad)
    for groups in ([1, 3], [2, 2], [4]):
        L = cbrl.Leader(p, algorithm="exact", x0=x0, learning_rate=1.0, max_grad_norm=0.01, clip="per-context",
                        clip_groups=groups)
        L.step()
        want, j = np.empty(4), 0
        for n in groups:  # each group to norm 0.01 on its own
            want[j:j + n] = g[j:j + n] * min(1.0, 0.01 / np.linalg.norm(g[j:j + n]))
            j += n
        assert np.allclose(L.x - x0, want, rtol=1e-9, atol=1e-13)
    with pytest.raises(ValueError, match=r"clip_groups: \[1, 2\]: .* dimension 4"):
        cbrl.Leader(p, algorithm="exact", clip_groups=[1, 2])


def test_model_critic_from_python_is_unbiased():
    # hpgd-critic with the model critic (docs/MODEL.md 4.1c): one SGD step of size 1, unclipped, is
    # one estimate; over 300 seeds their mean is the exact gradient within 4 standard errors. The
    # episodes are 200 steps long: cut at 50, the response's returns miss tails that still carry
    # weight at gamma 0.9 (docs/MODEL.md 4.1c, "Returns of episodes cut").
    p = cbrl.Problem.env("random", states=12, actions=3, dim=4, contexts=1, branch=3, seed=2, lam=0.2)
    x0 = np.full(4, 0.5)
    g = np.asarray(cbrl.hypergrad(p, x=x0).grad)
    steps = []
    for seed in range(300):
        L = cbrl.Leader(p, algorithm="hpgd-critic", x0=x0, learning_rate=1.0, max_grad_norm=0.0, seed=seed,
                        hpgd_critic="model", hpgd_score="expected", hpgd_steps=1000, hpgd_streams=5,
                        hpgd_max_steps=200, hpgd_folds=2)
        L.step()
        steps.append(L.x - x0)
    steps = np.asarray(steps)
    se = steps.std(axis=0, ddof=1) / np.sqrt(len(steps))
    assert np.all(se > 0)
    assert np.all(np.abs(steps.mean(axis=0) - g) < 4 * se), (steps.mean(axis=0), g, se)
    with pytest.raises(cbrl.CbrlError, match="hpgd_critic: unknown value .neural."):
        cbrl.Leader(p, algorithm="hpgd-critic", hpgd_critic="neural")
