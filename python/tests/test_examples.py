"""examples/python runs: the Table 1 cell script at its smoke-test size, and the PyTorch
soft-DQN follower where python3-torch is installed."""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(script, *args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", script)] + list(args),
                          check=True, capture_output=True, text=True, env=env, cwd=ROOT).stdout


def test_table1_cell_quick(tmp_path):
    out = run("table1_cell.py", "--quick", "--out", str(tmp_path))
    assert "lambda 0.003, beta 5, HPGD (paper-code sim), 3 seeds" in out
    assert (tmp_path / "table1_cell.png").stat().st_size > 10000


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="python3-torch is not installed")
def test_soft_dqn_follower_quick():
    out = run("soft_dqn_follower.py", "--quick")
    assert out.count("exact F(x_t)") == 3 and "total variation" in out
