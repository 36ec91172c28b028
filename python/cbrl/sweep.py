"""Sweeps (docs/CONFIG.md): cbrl.run runs a config's grid into a store as `cbrl run` does;
cbrl.load reads a store (DIR/results.sqlite, SQLite) back as data frames or arrays."""
import json
import math
import os
import sqlite3
import sys
import time

import numpy as np

from . import _ffi
from ._ffi import CbrlError, ffi, lib
from .problem import call


def _yaml_value(key, value):
    """One config value as the YAML text cbrl_config_set reads."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(key, v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError("%s: must be finite, got %r" % (key, value))
        return repr(float(value))
    if isinstance(value, str):
        if any(c in value for c in "\n\r"):
            raise ValueError("%s: a value may not contain a newline" % key)
        return value
    raise TypeError("%s: expected a number, a name or a list, got %s" % (key, type(value).__name__))


def config(config=None, **overrides):
    """A checked config: a path to a YAML file or a dict of fields (docs/CONFIG.md), with
    overrides; returns the canonical YAML cbrl stores. Errors carry cbrl's message."""
    h = ffi.new("cbrl_config **")
    call(lib.cbrl_py_config_new(h))
    c = ffi.gc(h[0], lib.cbrl_py_config_free)
    err = _ffi.err_buffer()
    fields = {}
    if isinstance(config, (str, os.PathLike)):
        call(lib.cbrl_py_config_load(c, os.fspath(config).encode(), err, _ffi.ERR_SIZE), err)
    elif isinstance(config, dict):
        fields.update(config)
    elif config is not None:
        raise TypeError("config: expected a path or a dict, got %s" % type(config).__name__)
    fields.update(overrides)
    for key, value in fields.items():
        if not isinstance(key, str) or "=" in key:
            raise ValueError("config: bad field name %r" % (key,))
        call(lib.cbrl_py_config_set(c, ("%s=%s" % (key, _yaml_value(key, value))).encode(), err, _ffi.ERR_SIZE),
             err)
    call(lib.cbrl_py_config_check(c, err, _ffi.ERR_SIZE), err)
    buf = ffi.new("char[]", 65536)
    if lib.cbrl_py_config_canonical(c, buf, 65536) < 0:
        raise ValueError("config: too large")
    return c, _ffi.string(buf)


class _Printer:
    """The default progress: a line on stderr after each stored run, like `cbrl run` off a terminal."""

    def __init__(self):
        self.last = -1

    def __call__(self, p):
        if p["n_done"] != self.last:
            self.last = p["n_done"]
            eta = "?" if p["eta"] < 0 else "%.0f s" % p["eta"]
            sys.stderr.write("cbrl.run: %d/%d runs done (%d failed), elapsed %.0f s, ETA %s, best F %.6g\n"
                             % (p["n_done"], p["n_runs"], p["n_failed"], p["elapsed"], eta, p["best_F"]))


def run(config_or_path, out, threads=0, resume=False, plot=False, progress=True, **overrides):
    """Runs every unfinished run of the config's grid into out/results.sqlite, as `cbrl run
    CONFIG --out DIR` does (same store, same numbers, whatever the thread count). progress:
    True prints a line per stored run on stderr, False nothing, a callable gets a dict (n_runs,
    n_done, n_failed, iterations, elapsed, eta, best_F, fraction) at least every 200 ms.
    Returns the outcome (n_runs, n_done, n_failed, n_interrupted, stopped, out)."""
    c, _ = config(config_or_path, **overrides)
    if progress is True:
        progress = _Printer()
    errors = []

    def on_progress(user, n_runs, n_done, n_failed, iterations, elapsed, eta, best_F, fraction):
        try:
            progress({"n_runs": n_runs, "n_done": n_done, "n_failed": n_failed, "iterations": int(iterations),
                      "elapsed": elapsed, "eta": eta, "best_F": best_F, "fraction": fraction})
        except BaseException as exc:  # noqa: B902 - a broken progress callback stops the sweep
            errors.append(exc)
            stop[0] = 1

    logs = []

    def on_log(user, line):
        logs.append(_ffi.string(line))

    stop = ffi.new("int *")
    cb_p = ffi.callback("cbrl_py_progress_fn", on_progress) if progress else ffi.NULL
    cb_l = ffi.callback("cbrl_py_log_fn", on_log)
    outcome = ffi.new("int[5]")
    err = _ffi.err_buffer()
    os.makedirs(os.fspath(out), exist_ok=True)
    rc = lib.cbrl_py_sweep(c, os.fspath(out).encode(), int(threads), 1 if resume else 0, 1 if plot else 0, cb_p,
                           cb_l, ffi.NULL, 0, stop, outcome, err, _ffi.ERR_SIZE)
    if errors:
        raise errors[0]
    call(rc, err)
    return {"n_runs": outcome[0], "n_done": outcome[1], "n_failed": outcome[2], "n_interrupted": outcome[3],
            "stopped": bool(outcome[4]), "out": os.fspath(out), "log": logs}


class Results:
    """A store read back: runs (one row per run), metrics (one per stored iteration),
    extra_metrics (the environment's report values, long form), config (canonical YAML) and
    x (run id -> the final leader parameters). Tables are pandas DataFrames where pandas is
    installed, else dicts of numpy arrays."""

    def __init__(self, runs, metrics, extra_metrics, config, x):
        self.runs, self.metrics, self.extra_metrics, self.config, self.x = runs, metrics, extra_metrics, config, x

    def __repr__(self):
        n = len(self.runs["id"])
        return "<cbrl.Results: %d runs, %d metric rows>" % (n, len(self.metrics["run_id"]))


def _table(db, sql, frames):
    cur = db.execute(sql)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    cols = {}
    for i, n in enumerate(names):
        vals = [r[i] for r in rows]
        if all(v is None or isinstance(v, (int, float)) for v in vals):
            cols[n] = np.array([np.nan if v is None else v for v in vals],
                               dtype=np.int64 if all(isinstance(v, int) for v in vals) else np.float64)
        else:
            cols[n] = np.array(vals, dtype=object)
    if frames is not None:
        return frames.DataFrame(cols, columns=names)
    return cols


def load(directory, frames=None):
    """Reads DIR/results.sqlite (or a results.sqlite path). frames=None uses pandas when it
    is importable; frames=False always gives dicts of arrays."""
    path = os.fspath(directory)
    if os.path.isdir(path):
        path = os.path.join(path, "results.sqlite")
    if not os.path.exists(path):
        raise FileNotFoundError("%s: no store (run cbrl run or cbrl.run first)" % path)
    if frames is None:
        try:
            import pandas as frames
        except ImportError:
            frames = None
    elif frames is False:
        frames = None
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        try:
            runs = _table(db, "SELECT id, algorithm, env, simulator, lambda, beta, learning_rate, zero_order_c, seed, "
                              "status, error, iterations, env_steps, final_F, window_F, window_f_sampled, "
                              "wall_seconds, cpu_seconds, clip_active FROM runs ORDER BY id", frames)
            xs = {int(i): np.array(json.loads(t), dtype=np.float64) if t else None
                  for i, t in db.execute("SELECT id, x FROM runs ORDER BY id")}
        except sqlite3.DatabaseError as exc:
            raise CbrlError("%s: not a cbrl store (%s)" % (path, exc)) from None
        metrics = _table(db, "SELECT run_id, iteration, context, F, f_context, grad_norm, env_steps, "
                             "follower_iterations, follower_products, follower_samples, level, env_steps_total, "
                             "follower_samples_total FROM metrics ORDER BY run_id, iteration", frames)
        try:
            extra = _table(db, "SELECT run_id, iteration, name, value FROM extra_metrics "
                               "ORDER BY run_id, iteration, name", frames)
        except sqlite3.OperationalError:
            extra = _table(db, "SELECT NULL AS run_id, NULL AS iteration, NULL AS name, NULL AS value WHERE 0", frames)
        cfg = db.execute("SELECT value FROM sweep WHERE key = 'config'").fetchone()
    finally:
        db.close()
    return Results(runs, metrics, extra, cfg[0] if cfg else None, xs)
