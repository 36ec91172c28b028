"""Affine problems from numpy arrays equal the same problems as cbrl-tabular-1 files, to the
last bit; cbrl's own refusals come back as exceptions with its messages."""
import os

import numpy as np
import pytest

import cbrl

Z = [0.0, 0.0, 0.0]


def chain_arrays():
    """examples/chain.yaml, entry by entry, in the file's order."""
    transitions = [(0, 0, 0, 0, 0.0, Z), (0, 0, 1, 1, 0.3, [0, 0.2, 0]), (0, 0, 1, 0, 0.0, Z), (0, 1, 0, 0, 0.0, Z),
                   (0, 1, 1, 2, 0.0, [0, 1, 0]), (0, 1, 1, 1, 0.0, Z), (0, 2, 0, 1, 0.0, Z), (0, 2, 1, 3, 0.0, Z),
                   (1, 0, 0, 1, 0.0, Z), (1, 0, 1, 1, 0.0, Z), (1, 1, 0, 2, 0.0, Z), (1, 1, 1, 0, 0.0, Z),
                   (1, 2, 0, 3, 0.0, Z), (1, 2, 1, 2, 0.0, Z)]
    initial = [(0, 0, 0.0, [0, 0, 1]), (0, 1, -1.0, Z), (1, 0, 0.0, Z)]
    r0 = np.zeros((2, 4, 2))
    r_coef = np.zeros((2, 4, 2, 3))
    rbar0 = np.zeros((2, 4, 2))
    rbar_coef = np.zeros((2, 4, 2, 3))
    r0[0, 0, 1] = r0[0, 1, 1] = -0.1
    r_coef[0, 0, 1, 0] = r_coef[0, 1, 1, 0] = 1.0
    r0[0, 3, :] = 1.0
    rbar0[0, 2, 1] = 1.0
    rbar_coef[0, 0, 1, 0] = -0.5
    r0[1, 1, 0] = 0.2
    r_coef[1, 1, 0, 0] = 0.5
    r0[1, 3, 0] = 2.0
    rbar0[1, 2, 0] = 1.0
    rbar_coef[1, 2, 0, 2] = -0.3
    tr = [np.array([t[i] for t in transitions]) for i in range(6)]
    ini = [np.array([t[i] for t in initial]) for i in range(4)]
    return dict(r0=r0, r_coef=r_coef, rbar0=rbar0, rbar_coef=rbar_coef, transitions=tr, initial=ini, gamma=0.9,
                leader_gamma=0.95, lam=0.5, context_weights=[0.6, 0.4], terminal=[0, 0, 0, 1])


def bits(a):
    return np.asarray(a, float).view(np.int64)


def assert_same_problem(p, q, xs):
    for x in xs:
        a, b = cbrl.hypergrad(p, x), cbrl.hypergrad(q, x)
        assert bits(a.F) == bits(b.F)
        assert np.array_equal(bits(a.grad), bits(b.grad))
        for k in range(p.n_contexts):
            m, n = p.mdp(x, k), q.mdp(x, k)
            for f in ("row", "next", "prob", "r", "rbar", "mu", "terminal"):
                assert np.array_equal(getattr(m, f), getattr(n, f)), f


def test_chain_from_arrays_equals_the_file(root):
    q = cbrl.Problem.file(os.path.join(root, "examples", "chain.yaml"))
    p = cbrl.Problem.affine(**chain_arrays())
    assert (p.n_states, p.n_actions, p.dim, p.n_contexts) == (4, 2, 3, 2)
    assert p.flags == q.flags
    assert_same_problem(p, q, [np.array([0.1, 0.0, 0.2]), np.array([-0.3, 0.7, 0.05])])


def yaml_of(S, A, d, K, r0, rc, rb0, rbc, pl, pc, ml, mc, gamma, lam, w, terminal):
    """A problem file of dense arrays, entries in index order (as Problem.affine adds them)."""
    f = lambda v: repr(float(v))
    coef = lambda c: ", coef: [" + ", ".join(f(v) for v in c) + "]" if np.any(c != 0) else ""
    out = ["format: cbrl-tabular-1", "states: %d" % S, "actions: %d" % A, "dim: %d" % d, "gamma: " + f(gamma),
           "lambda: " + f(lam), "terminal: [%s]" % ", ".join(str(s) for s in np.nonzero(terminal)[0]), "contexts:"]
    for k in range(K):
        out.append("  - weight: " + f(w[k]))
        out.append("    initial:")
        for s in range(S):
            if np.isfinite(ml[k, s]):
                out.append("      - {s: %d, logit: %s%s}" % (s, f(ml[k, s]), coef(mc[k, s])))
        out.append("    transitions:")
        for s in range(S):
            for a in range(A):
                for n in range(S):
                    if np.isfinite(pl[k, s, a, n]):
                        out.append("      - {s: %d, a: %d, next: %d, logit: %s%s}" % (s, a, n, f(pl[k, s, a, n]),
                                                                                   coef(pc[k, s, a, n])))
        for name, v0, vc in (("reward", r0, rc), ("leader_reward", rb0, rbc)):
            out.append("    %s:" % name)
            for s in range(S):
                for a in range(A):
                    if v0[k, s, a] != 0 or np.any(vc[k, s, a] != 0):
                        out.append("      - {s: %d, a: %d, value: %s%s}" % (s, a, f(v0[k, s, a]), coef(vc[k, s, a])))
    return "\n".join(out) + "\n"


def test_dense_arrays_equal_the_same_yaml(tmp_path):
    rng = np.random.default_rng(4)
    S, A, d, K = 6, 3, 2, 2
    sparse = lambda shape: np.where(rng.random(shape) < 0.5, rng.normal(size=shape), 0.0)
    r0, rb0 = sparse((K, S, A)), sparse((K, S, A))
    rc, rbc = sparse((K, S, A, d)), sparse((K, S, A, d))
    pl = np.where(rng.random((K, S, A, S)) < 0.5, rng.normal(size=(K, S, A, S)), -np.inf)
    pl[..., 0] = np.where(np.isfinite(pl).any(axis=-1), pl[..., 0], 0.0)  # every row has a successor
    pc = sparse((K, S, A, S, d)) * np.isfinite(pl)[..., None]
    ml = np.where(rng.random((K, S)) < 0.6, rng.normal(size=(K, S)), -np.inf)
    ml[:, 0] = 0.0
    mc = sparse((K, S, d)) * np.isfinite(ml)[..., None]
    terminal = np.zeros(S, bool)
    terminal[-1] = True
    w = np.array([0.25, 0.75])
    p = cbrl.Problem.affine(r0=r0, r_coef=rc, rbar0=rb0, rbar_coef=rbc, p_logits=pl, p_coef=pc, mu_logits=ml,
                            mu_coef=mc, gamma=0.8, lam=0.4, context_weights=w, terminal=terminal)
    path = tmp_path / "dense.yaml"
    path.write_text(yaml_of(S, A, d, K, r0, rc, rb0, rbc, pl, pc, ml, mc, 0.8, 0.4, w, terminal))
    q = cbrl.Problem.file(path)
    assert_same_problem(p, q, [np.zeros(d), rng.normal(size=d)])


def test_shared_arrays_broadcast_over_contexts():
    base = dict(r0=np.ones((2, 2)), p_logits=np.zeros((2, 2, 2)), mu_logits=np.zeros(2), gamma=0.9, lam=1.0, dim=1)
    p = cbrl.Problem.affine(context_weights=[0.5, 0.5], **base)
    assert p.n_contexts == 2
    f = cbrl.hypergrad(p, [0.0]).F_per_context
    assert f[0] == f[1]


def test_cbrl_refusals_carry_its_message():
    a = chain_arrays()
    tr = [np.concatenate([t, t[:1]]) for t in a["transitions"]]  # the first transition twice
    a["transitions"] = tr
    with pytest.raises(cbrl.CbrlError, match=r"transitions: entry 14 refused \(a duplicate"):
        cbrl.Problem.affine(**a)
    a = chain_arrays()
    a["transitions"] = [t[1:] for t in a["transitions"]]  # (0, 0, 0) has no successor left
    with pytest.raises(cbrl.CbrlError, match="context 0, state 0, action 0 has no successor"):
        cbrl.Problem.affine(**a)
    a = chain_arrays()
    a["gamma"] = 1.0
    with pytest.raises(cbrl.CbrlError, match="invalid"):
        cbrl.Problem.affine(**a)


def test_problem_file_errors_are_cbrls(tmp_path, root):
    bad = os.path.join(root, "tests", "bad_inputs", "p_gamma_one.yaml")
    with pytest.raises(cbrl.CbrlError) as info:
        cbrl.Problem.file(bad)
    assert "p_gamma_one.yaml:" in str(info.value) and "gamma" in str(info.value)
    assert info.value.name == "CBRL_EPARSE"
    with pytest.raises(cbrl.CbrlError, match="nothing.yaml"):
        cbrl.Problem.file(tmp_path / "nothing.yaml")
