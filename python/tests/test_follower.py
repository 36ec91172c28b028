"""Followers written in Python drive the leader and the estimators; a bad one raises, naming
itself, and never crashes the interpreter."""
import numpy as np
import pytest

import cbrl


def soft_value_iteration(m, gamma, lam, iters=3000):
    """A numpy follower's best response: soft value iteration on the MDP's own arrays."""
    sa, nx, pr = m.P
    S, A = m.n_states, m.n_actions
    q = np.zeros((S, A))
    cont = ~np.repeat(m.terminal, A)
    for _ in range(iters):
        v = lam * np.log(np.exp((q - q.max(1, keepdims=True)) / lam).sum(1)) + q.max(1)
        ev = np.bincount(sa, pr * v[nx], minlength=S * A) * cont
        q_new = m.r + gamma * ev.reshape(S, A)
        if np.max(np.abs(q_new - q)) < 1e-13:
            q = q_new
            break
        q = q_new
    z = (q - q.max(1, keepdims=True)) / lam
    pi = np.exp(z)
    pi /= pi.sum(1, keepdims=True)
    return pi


def problem():
    return cbrl.Problem.env("random", states=15, actions=3, dim=3, contexts=2, branch=3, seed=4, lam=0.5)


def test_numpy_follower_matches_the_exact_follower():
    p = problem()
    calls = []

    def respond(x, context, ctx):
        calls.append(context)
        return soft_value_iteration(ctx.mdp, p.gamma, p.lam)

    f = cbrl.Follower.from_callable(p, respond)
    x = np.array([0.1, -0.2, 0.3])
    pi, log_pi = f.respond(x, 1)
    e = p.exact()
    e.evaluate(x)
    assert np.allclose(pi, e.policy(1), atol=1e-10)
    assert np.allclose(np.exp(log_pi), pi)
    # A leader asking the numpy follower takes (nearly) the steps of one asking cbrl's exact follower.
    La = cbrl.Leader(p, follower=f, x0=x, hpgd_steps=500, learning_rate=0.5, seed=3)
    Lb = cbrl.Leader(p, follower=cbrl.Follower.exact(p), x0=x, hpgd_steps=500, learning_rate=0.5, seed=3)
    for _ in range(3):
        ra, rb = La.step(), Lb.step()
        assert ra["context"] == rb["context"]
    assert np.allclose(La.x, Lb.x, atol=1e-7)
    assert len(calls) == 4


def test_python_follower_passing_cbrls_answer_is_bitwise_the_same():
    p = problem()
    inner = cbrl.Follower.exact(p)

    def respond(x, context, ctx):
        return inner.respond(x, context)

    x0 = np.array([0.0, 0.1, -0.1])
    La = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, respond), x0=x0, hpgd_steps=300, seed=1)
    Lb = cbrl.Leader(p, follower=cbrl.Follower.exact(p), x0=x0, hpgd_steps=300, seed=1)
    for _ in range(4):
        La.step(), Lb.step()
    assert np.array_equal(La.x, Lb.x)


def test_the_leader_stream_reaches_the_follower():
    p = problem()
    seeds = []

    def respond(x, context, ctx):
        seeds.append(ctx.seed())
        return np.full((p.n_states, p.n_actions), 1.0 / p.n_actions)

    for _ in range(2):
        L = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, respond), hpgd_steps=100, seed=9)
        L.step()
    assert seeds[0] == seeds[1]


@pytest.mark.parametrize("answer,exc,match", [
    (lambda S, A: np.ones((S, A + 1)) / (A + 1), ValueError, r"follower python: returned policy: expected shape"),
    (lambda S, A: np.full((S, A), np.nan), ValueError, r"policy: pi\[0, 0\] = nan, not a probability"),
    (lambda S, A: np.full((S, A), 0.5), ValueError, "sums to"),
    (lambda S, A: "uniform", TypeError, "returned policy: expected an array of numbers"),
    (lambda S, A: None, TypeError, "returned policy"),
    (lambda S, A: -np.ones((S, A)), ValueError, "= -1, not a probability"),
    (lambda S, A: cbrl.Trajectories([], [], [], [], []), TypeError, "Trajectories"),
    (lambda S, A: (np.ones((S, A)) / A, np.full((S, A), np.nan)), ValueError, "log_pi"),
])
def test_garbage_answers_raise_naming_the_follower(answer, exc, match):
    p = problem()
    f = cbrl.Follower.from_callable(p, lambda x, k, ctx: answer(p.n_states, p.n_actions))
    L = cbrl.Leader(p, follower=f, hpgd_steps=100)
    with pytest.raises(exc, match=match):
        L.step()
    with pytest.raises(exc, match=match):
        cbrl.estimate(p, estimator="hpgd-batch", samples=1, steps=100, follower=f)


def test_an_exception_inside_the_follower_propagates():
    p = problem()

    def respond(x, context, ctx):
        raise ZeroDivisionError("the follower's own bug")

    L = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, respond), hpgd_steps=100)
    with pytest.raises(ZeroDivisionError, match="own bug"):
        L.step()
    # The leader is still usable, and so is the interpreter.
    assert np.all(np.isfinite(L.x))


def test_builtin_followers():
    p = problem()
    x = np.zeros(3)
    for f in (cbrl.Follower.exact(p), cbrl.Follower.soft_q(p, 256), cbrl.Follower.online(p, 2000, 50)):
        pi, _ = f.respond(x, 0, seed=1)
        assert np.allclose(pi.sum(1), 1.0)
    with pytest.raises(ValueError, match="iterations"):
        cbrl.Follower.soft_q(p, 0)


def test_leader_runs_every_algorithm_and_optimiser():
    p = problem()
    x0 = np.zeros(3)
    F0 = cbrl.hypergrad(p, x0).F
    for alg, opts in (("exact", {"optimizer": "adam", "learning_rate": 0.05}), ("hpgd-batch", {"clip": "per-context"}),
                      ("hpgd", {"hpgd_samples": 4}), ("zero-order", {"zero_order_c": 0.5}),
                      ("rtq", {"rtq_levels": 3}), ("exact", {"clip": "growing"})):
        L = cbrl.Leader(p, algorithm=alg, x0=x0, seed=2, **opts)
        hist = L.run(30, metrics_every=10)
        assert len(hist["F"]) == 30 and np.isfinite(hist["F"][-1]), alg
        if alg == "exact":
            assert hist["F"][-1] > F0
    with pytest.raises(cbrl.CbrlError, match="amd: .*P or mu depends on x"):
        cbrl.Leader(p, algorithm="amd")
    fr = cbrl.Problem.env("four-rooms")
    hist = cbrl.Leader(fr, algorithm="amd", amd_updates=10).run(3)
    assert np.all(np.isfinite(hist["F"]))
    with pytest.raises(TypeError, match="learning_rat: not a leader option"):
        cbrl.Leader(p, learning_rat=0.1)
    with pytest.raises(cbrl.CbrlError, match="optimizer: unknown value 'adamw'"):
        cbrl.Leader(p, optimizer="adamw")
    with pytest.raises(cbrl.CbrlError, match="hpgd_steps: must be an integer"):
        cbrl.Leader(p, hpgd_steps=1.5)


def test_the_context_is_refused_after_the_call():
    p = problem()
    kept = []

    def respond(x, context, ctx):
        kept.append(ctx)
        env = ctx.env()  # an environment is a copy, usable later
        kept.append(env)
        return np.full((p.n_states, p.n_actions), 1.0 / p.n_actions)

    cbrl.Follower.from_callable(p, respond).respond(np.zeros(3), 0)
    with pytest.raises(RuntimeError, match="after its follower call returned"):
        kept[0].seed()
    kept[1].reset(seed=0)
    assert kept[1].step(0)[0] in range(p.n_states)
