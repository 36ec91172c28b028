"""Bad input from Python raises an exception that names the argument; nothing crashes."""
import numpy as np
import pytest

import cbrl


@pytest.fixture(scope="module")
def fr():
    return cbrl.Problem.env("four-rooms")


@pytest.mark.parametrize("x,exc,match", [
    (np.zeros(104), ValueError, r"x: expected shape \(105\), got \(104,\)"),
    (np.zeros((105, 1)), ValueError, "x: expected shape"),
    (np.full(105, np.nan), ValueError, r"x: not finite at \(0,\)"),
    (np.r_[np.zeros(104), np.inf], ValueError, r"x: not finite at \(104,\)"),
    (np.zeros(210)[::2], ValueError, "x: not contiguous"),
    (np.array(["a"] * 105), TypeError, "x: expected an array of numbers"),
    (np.zeros(105, complex), TypeError, "x: expected an array of numbers"),
    (np.zeros(105, bool), TypeError, "x: expected numbers, got a bool array"),
    ([[1, 2], [3]], TypeError, "x: not an array"),
    (None, TypeError, "x: expected an array of numbers"),
])
def test_bad_x_is_named(fr, x, exc, match):
    with pytest.raises(exc, match=match):
        cbrl.hypergrad(fr, x) if x is not None else fr.exact().evaluate(x)
    with pytest.raises(exc, match=match):
        fr.mdp(x, 0) if x is not None else fr.mdp(x)


def test_other_arguments_are_named(fr):
    with pytest.raises(ValueError, match="context: must lie in"):
        fr.mdp(np.zeros(105), 2)
    with pytest.raises(ValueError, match="context: must lie in"):
        fr.exact().context(-1, np.zeros(105))
    with pytest.raises(ValueError, match=r"x0: expected shape \(105\)"):
        cbrl.Leader(fr, x0=np.zeros(3))
    with pytest.raises(ValueError, match="x0: not finite"):
        cbrl.Leader(fr, x0=np.full(105, np.nan))
    with pytest.raises(TypeError, match="bins: does not apply to env four-rooms"):
        cbrl.Problem.env("four-rooms", bins=10)
    with pytest.raises(ValueError, match="env: unknown environment 'four_rooms'"):
        cbrl.Problem.env("four_rooms")
    with pytest.raises(ValueError, match="states: must be a non-negative integer"):
        cbrl.Problem.env("random", states=2.5)
    with pytest.raises(cbrl.CbrlError, match="random"):
        cbrl.Problem.env("random", states=0)
    with pytest.raises(ValueError, match="lambda: must be positive"):
        fr.lam = float("nan")
    with pytest.raises(ValueError, match="samples: must be an integer"):
        cbrl.estimate(fr, samples=0)
    with pytest.raises(ValueError, match="estimator: unknown"):
        cbrl.estimate(fr, estimator="reinforce")
    with pytest.raises(cbrl.CbrlError, match="simulator: 'continuous' is not offered by env 'four-rooms'"):
        cbrl.estimate(fr, estimator="hpgd-batch", samples=1, simulator="continuous")


def base():
    return dict(r0=np.zeros((3, 2)), p_logits=np.zeros((3, 2, 3)), mu_logits=np.zeros(3), gamma=0.9, lam=1.0, dim=2)


@pytest.mark.parametrize("field,value,exc,match", [
    ("r0", np.zeros((3, 3)), ValueError, r"p_logits: expected shape \(1, 3, 3, 3\) or \(3, 3, 3\)"),
    ("p_logits", np.zeros((3, 2, 4)), ValueError, "p_logits: expected shape"),
    ("p_logits", np.full((3, 2, 3), np.nan), ValueError, "p_logits: NaN or \\+inf"),
    ("mu_logits", np.array([0.0, np.inf, 0.0]), ValueError, "mu_logits: NaN or \\+inf"),
    ("r_coef", np.zeros((3, 2, 3)), ValueError, r"r_coef: expected shape"),
    ("r_coef", np.zeros((3, 2, 4, 2))[:, :, ::2], ValueError, "r_coef: not C-contiguous"),
    ("rbar0", np.full((3, 2), np.nan), ValueError, "rbar0: not finite"),
    ("rbar0", np.array([["a", "b"]] * 3), TypeError, "rbar0: expected an array of numbers"),
    ("context_weights", [0.5, 0.5, 0.5], ValueError, "context_weights"),
    ("context_weights", [-1.0], ValueError, "context_weights: must be non-negative"),
    ("terminal", [0, 1], ValueError, "terminal: expected shape"),
    ("terminal", [0.5, 0, 0], TypeError, "terminal: expected integers"),
    ("gamma", float("nan"), ValueError, "gamma: must be finite"),
    ("dim", 0, ValueError, "dim: must be at least 1"),
])
def test_bad_affine_arrays_are_named(field, value, exc, match):
    kw = base()
    kw[field] = value
    with pytest.raises(exc, match=match):
        cbrl.Problem.affine(**kw)


def test_bad_config_values_are_named(tmp_path):
    with pytest.raises(cbrl.CbrlError, match="iterations"):
        cbrl.run({"env": "four-rooms", "iterations": -3}, tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="learning_rate: must be finite"):
        cbrl.run({"env": "four-rooms", "learning_rate": float("inf")}, tmp_path / "out", progress=False)
    with pytest.raises(cbrl.CbrlError, match="algoritm"):
        cbrl.run({"env": "four-rooms", "algoritm": "hpgd"}, tmp_path / "out", progress=False)
    with pytest.raises(TypeError, match="seeds: expected"):
        cbrl.run({"env": "four-rooms", "seeds": {"a": 1}}, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "results.sqlite").exists()
