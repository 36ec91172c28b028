"""A follower written in Python reproduces a C learner bit for bit: examples/python/
online_follower.py (cbrl's online follower, ported) against `follower: online`, both as a
Leader's follower and against the store `cbrl.run` writes for the same config and seed."""
import importlib.util
import os

import numpy as np
import pytest

import cbrl

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
spec = importlib.util.spec_from_file_location("online_follower", os.path.join(ROOT, "examples", "python",
                                                                              "online_follower.py"))
port = importlib.util.module_from_spec(spec)
spec.loader.exec_module(port)


def run_stream(algorithm, simulator_id, lam, beta, lr, zero_order_c):
    """The run's random stream as run/sweep.c names it: FNV-1a of its parameters."""
    key = "%s|%d|%.17g|%.17g|%.17g|%.17g" % (algorithm, simulator_id, lam, beta, lr, zero_order_c)
    h = 1469598103934665603
    for ch in key.encode():
        h = ((h ^ ch) * 1099511628211) % 2**64
    return h


def test_the_port_equals_the_c_learner_as_a_follower():
    p = cbrl.Problem.env("random", states=12, actions=3, dim=3, contexts=2, branch=3, seed=2, lam=0.3)
    py = cbrl.Leader(p, follower=cbrl.Follower.from_callable(p, port.OnlineFollower(p, 500, 40, seed=7)),
                     hpgd_steps=400, learning_rate=0.5, seed=3)
    c = cbrl.Leader(p, follower=cbrl.Follower.online(p, 500, 40, seed=7), hpgd_steps=400, learning_rate=0.5, seed=3)
    for _ in range(6):
        a, b = py.step(), c.step()
        for k in ("context", "F", "f_context", "grad_norm", "env_steps", "follower_samples", "clipped"):
            assert a[k] == b[k], k
    assert np.array_equal(py.x, c.x)


def test_the_port_reproduces_the_online_store(tmp_path):
    config = {"env": "four-rooms", "lambda": 0.003, "beta": 3, "algorithm": "hpgd-batch", "learning_rate": 0.5,
              "seeds": [4], "iterations": 12, "optimizer": "sgd", "max_grad_norm": 1.0, "clip": "average",
              "hpgd_steps": 1000, "hpgd_streams": 5, "hpgd_max_steps": 200, "init_std": 0.01,
              "follower": "online", "follower_steps": 800, "follower_max_steps": 100,
              "metrics_every": 3, "final_window": 2}
    cbrl.run(config, tmp_path, progress=False)
    res = cbrl.load(tmp_path, frames=False)
    assert res.runs["status"][0] == "done"
    p = cbrl.Problem.env("four-rooms", beta=3, lam=0.003)
    L = cbrl.Leader(p, algorithm="hpgd-batch", learning_rate=0.5, optimizer="sgd", max_grad_norm=1.0,
                    clip="average", hpgd_steps=1000, hpgd_streams=5, hpgd_max_steps=200, init_std=0.01, seed=4,
                    stream=run_stream("hpgd-batch", 0, 0.003, 3.0, 0.5, float("nan")),
                    follower=cbrl.Follower.from_callable(p, port.OnlineFollower(p, 800, 100, seed=4)))
    stored = dict(zip(res.metrics["iteration"].tolist(), res.metrics["F"].tolist()))
    samples = dict(zip(res.metrics["iteration"].tolist(), res.metrics["follower_samples"].tolist()))
    assert len(stored) >= 5
    # Exact F at the iterations the sweep measured it (the exact solves are warm-started, so
    # measuring at other iterations too would move F's last bits, not x).
    for t in range(1, 13):
        row = L.step(metrics=t in stored)
        if t in stored:
            assert row["F"] == stored[t] and row["follower_samples"] == samples[t], t
    assert np.array_equal(L.x, res.x[0])
