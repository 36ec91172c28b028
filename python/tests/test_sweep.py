"""cbrl.run writes the store `cbrl run` writes; cbrl.load reads it back; cbrl.plot draws it."""
import os
import sqlite3
import subprocess

import numpy as np
import pytest

import cbrl
import cbrl.plot

CONFIG = {"env": "four-rooms", "algorithm": ["hpgd-batch", "exact"], "beta": 2, "iterations": 12, "seeds": 2,
          "learning_rate": [0.5, 0.1], "hpgd_steps": 500, "metrics_every": 4, "final_window": 4}


def rows(path, sql):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory, cli):
    d = tmp_path_factory.mktemp("sweep")
    seen = []
    out = cbrl.run(CONFIG, d / "py", threads=2, progress=seen.append)
    assert out["n_runs"] == 8 and out["n_done"] == 8 and out["n_failed"] == 0
    assert seen and seen[-1]["n_done"] == 8
    # The same config through the CLI, from the canonical YAML cbrl.run stored.
    cfg = rows(str(d / "py" / "results.sqlite"), "SELECT value FROM sweep WHERE key = 'config'")[0][0]
    (d / "config.yaml").write_text(cfg)
    subprocess.run([cli.path, "run", str(d / "config.yaml"), "--out", str(d / "cli"), "--quiet", "--threads", "1"],
                   check=True)
    return d


def test_the_store_equals_the_clis(store):
    q = ("SELECT id, algorithm, learning_rate, seed, status, final_F, window_F, x FROM runs ORDER BY id")
    assert rows(str(store / "py" / "results.sqlite"), q) == rows(str(store / "cli" / "results.sqlite"), q)
    q = "SELECT run_id, iteration, F, grad_norm, env_steps FROM metrics ORDER BY run_id, iteration"
    assert rows(str(store / "py" / "results.sqlite"), q) == rows(str(store / "cli" / "results.sqlite"), q)


def test_load_gives_arrays_or_frames(store):
    res = cbrl.load(store / "py", frames=False)
    assert list(res.runs["id"]) == list(range(8))
    assert set(res.runs["algorithm"]) == {"hpgd-batch", "exact"}
    assert res.metrics["F"].dtype == np.float64
    assert len(res.x[0]) == 105
    assert "env: four-rooms" in res.config
    try:
        import pandas  # noqa: F401
    except ImportError:
        assert isinstance(cbrl.load(store / "py").runs, dict)
    else:
        assert hasattr(cbrl.load(store / "py").runs, "columns")
    with pytest.raises(FileNotFoundError, match="no store"):
        cbrl.load(store / "nothing")


def test_plots_draw_the_store(store, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    res = cbrl.load(store / "py")
    best = cbrl.plot.best_settings(res)
    assert set(best) == {"hpgd-batch", "exact"} and all(len(b[0]) == 2 for b in best.values())
    ax = cbrl.plot.curves(res)
    assert len(ax.get_lines()) == 2 and "Four-Rooms" in ax.get_title()
    ax.figure.savefig(tmp_path / "curves.png")
    plt.close(ax.figure)
    ax = cbrl.plot.penalty_map(res.x[best["exact"][0][0]], title="exact")
    ax.figure.savefig(tmp_path / "map.png")
    plt.close(ax.figure)
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert cbrl.plot.sweep(store / "py", tmp_path / "cli_figures") >= 2


def test_run_resume_and_errors(store):
    again = cbrl.run(CONFIG, store / "py", resume=True, progress=False)
    assert again["n_done"] == 8
    with pytest.raises(cbrl.CbrlError, match="resume"):
        cbrl.run(dict(CONFIG, iterations=13), store / "py", progress=False)


def test_a_broken_progress_callback_stops_the_sweep(tmp_path):
    def progress(p):
        raise RuntimeError("progress bar broke")

    with pytest.raises(RuntimeError, match="progress bar broke"):
        cbrl.run(dict(CONFIG, algorithm="exact", seeds=1), tmp_path / "out", progress=progress)


def test_tax_figures_draw_the_rates(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cbrl.run({"env": "tax-design", "lambda": 0.2, "tax_bins": 20, "algorithm": "exact", "learning_rate": 0.01,
              "iterations": 20, "seeds": 1, "metrics_every": 5, "final_window": 5}, tmp_path / "tax", progress=False)
    res = cbrl.load(tmp_path / "tax")
    names = set(res.extra_metrics["name"])
    assert {"income_tax", "vat1", "vat2", "vat3", "revenue"} <= names
    ax = cbrl.plot.tax_rates(res)
    assert len(ax.get_lines()) == 4 and ax.get_lines()[0].get_ydata()[0] == pytest.approx(0.3)
    plt.close(ax.figure)
    ax = cbrl.plot.households(res)
    assert len(ax.get_lines()) == 3
    plt.close(ax.figure)
