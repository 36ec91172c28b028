"""The Gymnasium-style environment of the follower's MDP: the API's shape, reproducible
resets, transition frequencies that match P, terminal semantics, and the paper-code kernel."""
import numpy as np
import pytest

import cbrl


def test_api_and_reproducibility():
    p = cbrl.Problem.env("four-rooms")
    env = cbrl.FollowerEnv(p, p.default_x(), context=0, max_steps=50)
    assert env.observation_space.n == 104 and env.action_space.n == 4
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and info["context"] == 0
    traj = []
    for _ in range(60):
        obs, r, terminated, truncated, info = env.step(env.action_space.sample())
        traj.append((obs, r, terminated, truncated))
        if terminated or truncated:
            break
    assert truncated or terminated
    assert "leader_reward" in info
    env.reset(seed=3)
    with pytest.raises(ValueError, match="action: must be an integer"):
        env.step(7)
    with pytest.raises(RuntimeError, match="reset"):
        cbrl.FollowerEnv(p).step(0)


def test_replayed_actions_give_the_same_episode():
    p = cbrl.Problem.env("random", states=8, actions=2, dim=2, contexts=1, branch=3, seed=1)
    runs = []
    for _ in range(2):
        env = cbrl.FollowerEnv(p, np.zeros(2))
        s, _ = env.reset(seed=11)
        seq = [s]
        for t in range(30):
            s, *_ = env.step(t % 2)
            seq.append(s)
        runs.append(seq)
    assert runs[0] == runs[1]


def test_transition_frequencies_match_P():
    p = cbrl.Problem.env("random", states=6, actions=2, dim=2, contexts=1, branch=3, seed=2)
    x = np.array([0.3, -0.4])
    env = cbrl.FollowerEnv(p, x)
    P = p.mdp(x, 0).P_dense()
    n = 20000
    counts = np.zeros(6)
    for _ in range(n):
        env.reset(options={"state": 2})  # from state 2, action 1
        s, *_ = env.step(1)
        counts[s] += 1
    freq = counts / n
    se = np.sqrt(P[2, 1] * (1 - P[2, 1]) / n)
    assert np.all(np.abs(freq - P[2, 1]) <= 5 * se + 1e-12)


def test_terminal_states_pay_and_end(root):
    import os
    p = cbrl.Problem.file(os.path.join(root, "examples", "chain.yaml"))
    env = cbrl.FollowerEnv(p, [0.1, 0, 0.2], context=0)
    env.reset(seed=0, options={"state": 3})  # the terminal end of the chain
    obs, r, terminated, truncated, _ = env.step(0)
    assert terminated and not truncated and r == 1.0


def test_paper_code_kernel_moves_as_intended_with_0_67():
    p = cbrl.Problem.env("four-rooms")
    x = p.default_x()
    model = cbrl.FollowerEnv(p, x).transition_matrix()
    paper = cbrl.FollowerEnv(p, x, simulator="paper-code").transition_matrix()
    open_cell = 30  # a cell with four open neighbours
    assert np.isclose(model[open_cell].max(axis=1), 0.56).all()
    assert np.isclose(paper[open_cell].max(axis=1), 0.67).all()
    with pytest.raises(cbrl.CbrlError, match="simulator continuous"):
        cbrl.FollowerEnv(p, x, simulator="continuous")
