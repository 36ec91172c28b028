"""A Python follower that answers with a batch of its own trajectories (cbrl's ask/tell
leader): the batch path agrees with the policy path bit for bit on the same draws, and a bad
batch is refused naming the step and the field."""
import numpy as np
import pytest

import cbrl


def problem():
    # Transitions depend on x here, so the estimator needs r and log pi of every step.
    return cbrl.Problem.env("random", states=15, actions=3, dim=3, contexts=2, branch=3, seed=4, lam=0.5)


def test_needs_and_flags():
    assert cbrl.trajectory_needs(problem()) == {"r", "log_pi"}
    assert cbrl.trajectory_needs(cbrl.Problem.env("four-rooms")) == set()  # only r depends on x there
    assert (cbrl.STEP_TERMINATED, cbrl.STEP_TRUNCATED, cbrl.STEP_CUT) == (1, 2, 4)


def test_a_batch_of_cbrls_own_draws_equals_the_policy_answer():
    p = problem()
    # Each leader's follower has its own warm-started solver, as the C follower of the third has.
    inner_a, inner_b = cbrl.Follower.exact(p), cbrl.Follower.exact(p)

    def by_policy(x, k, ctx):
        return inner_a.respond(x, k, mdp=ctx.mdp)

    def by_batch(x, k, ctx):
        pi, log_pi = inner_b.respond(x, k, mdp=ctx.mdp)
        return ctx.simulate(pi, log_pi)  # the leader's own simulation of pi, from its stream

    x0 = np.array([0.1, -0.2, 0.0])
    La = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, by_policy), x0=x0, hpgd_steps=600, seed=5)
    Lb = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, by_batch), x0=x0, hpgd_steps=600, seed=5)
    Lc = cbrl.Leader(p, follower=cbrl.Follower.exact(p), x0=x0, hpgd_steps=600, seed=5)
    for _ in range(4):
        ra, rb, rc = La.step(), Lb.step(), Lc.step()
        assert ra["env_steps"] == rb["env_steps"] == 600
    assert np.array_equal(La.x, Lb.x) and np.array_equal(La.x, Lc.x)


def test_gymnasium_steps_as_a_batch():
    """A follower that acts in its FollowerEnv with its policy and reports the steps."""
    p = problem()
    inner = cbrl.Follower.exact(p)

    def act(x, k, ctx):
        pi, log_pi = inner.respond(x, k, mdp=ctx.mdp)
        env = ctx.env(max_steps=50)
        rng = np.random.default_rng(ctx.seed())
        obs, _ = env.reset(seed=int(rng.integers(2**32)))
        rows = []
        while len(rows) < 400:
            a = int(rng.choice(p.n_actions, p=pi[obs]))
            nxt, r, term, trunc, _ = env.step(a)
            rows.append((obs, a, nxt, r, log_pi[obs, a], term, trunc))
            obs = env.reset()[0] if term or trunc else nxt
        s, a, n, r, lp, term, trunc = (np.array(c) for c in zip(*rows))
        return cbrl.Trajectories.from_steps(s, a, n, term, trunc, r=r, log_pi=lp)

    L = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, act), hpgd_steps=400, learning_rate=0.5, seed=1)
    F0 = cbrl.hypergrad(p, L.x).F
    hist = L.run(15)
    assert hist["env_steps"][0] == 400 and hist["follower_samples"][0] == 400
    assert np.all(np.isfinite(hist["F"])) and hist["F"][-1] > F0


@pytest.mark.parametrize("edit,match", [
    (lambda t: setattr(t, "log_pi", None), "log_pi"),
    (lambda t: t.s.__setitem__(0, 99), "step 0"),
    (lambda t: t.r.__setitem__(3, np.nan), "step 3: r"),
    (lambda t: t.next.__setitem__(5, (t.next[5] + 7) % 15), "step 5"),
])
def test_bad_batches_are_refused_naming_the_step(edit, match):
    p = problem()
    inner = cbrl.Follower.exact(p)

    def bad(x, k, ctx):
        t = ctx.simulate(*inner.respond(x, k, mdp=ctx.mdp))
        edit(t)
        return t

    L = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, bad), hpgd_steps=200)
    with pytest.raises(ValueError, match="follower python: returned trajectories: .*" + match):
        L.step()
    assert L.step.__self__ is L  # the leader is still there; a good answer goes on
    with pytest.raises(ValueError, match=r"trajectories.a: expected shape \(3\), got \(2,\)"):
        cbrl.Trajectories([0, 1, 2], [0, 1], [1, 2, 0], [0, 0, 4])


def test_unbiased_hpgd_says_it_cannot_take_a_batch():
    p = problem()
    inner = cbrl.Follower.exact(p)
    f = cbrl.Follower.from_callable(p, lambda x, k, ctx: ctx.simulate(*inner.respond(x, k, mdp=ctx.mdp)))
    with pytest.raises((ValueError, cbrl.CbrlError), match="hpgd-batch"):
        cbrl.Leader(p, algorithm="hpgd", follower=f, hpgd_steps=200).step()
    with pytest.raises(TypeError, match="cbrl.estimate does not"):
        cbrl.estimate(p, estimator="hpgd-batch", samples=1, steps=100, follower=f)
