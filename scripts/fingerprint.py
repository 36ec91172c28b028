#!/usr/bin/python3
"""Behaviour fingerprint of the cbrl executable: an md5 per small sweep (its stored runs and
metrics, timings aside) and per `cbrl hypergrad --json` output, covering every algorithm,
simulator and environment. A change that must not alter results leaves every line unchanged:

    scripts/fingerprint.py build/cbrl > before.txt   # ... change ...
    scripts/fingerprint.py build/cbrl | diff before.txt -
"""
import hashlib, os, sqlite3, subprocess, sys, tempfile

CBRL = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else "build/cbrl")
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
CHAIN = os.path.join(ROOT, "examples", "chain.yaml")

RUN_COLUMNS = ("id, algorithm, env, simulator, lambda, beta, learning_rate, zero_order_c, seed,"
               " status, error, iterations, env_steps, final_F, window_F, window_f_sampled, x")
METRIC_COLUMNS = ("run_id, iteration, context, F, f_context, grad_norm, env_steps, follower_iterations,"
                  " follower_products, follower_samples, level, env_steps_total, follower_samples_total")
EXTRA = ("income_tax", "vat1", "vat2", "vat3", "household_value", "household_spread", "revenue", "assets")


def extras(db):
    """Environment metrics as (run, iteration, name, value) rows, from either store schema."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(metrics)")}
    if "income_tax" in cols:
        rows = []
        for r in db.execute(f"SELECT run_id, iteration, {', '.join(EXTRA)} FROM metrics ORDER BY 1, 2"):
            rows += [(r[0], r[1], n, v) for n, v in zip(EXTRA, r[2:]) if v is not None]
        return sorted(rows)
    return sorted(db.execute("SELECT run_id, iteration, name, value FROM extra_metrics"))


def store_md5(out):
    db = sqlite3.connect(os.path.join(out, "results.sqlite"))
    h = hashlib.md5()
    for q in (f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id",
              f"SELECT {METRIC_COLUMNS} FROM metrics ORDER BY run_id, iteration"):
        for row in db.execute(q):
            h.update(repr(row).encode())
    for row in extras(db):
        h.update(repr(row).encode())
    runs, done = db.execute("SELECT count(*), sum(status = 'done') FROM runs").fetchone()
    rows = db.execute("SELECT count(*) FROM metrics").fetchone()[0]
    return f"{h.hexdigest()} ({done}/{runs} runs done, {rows} metric rows)"


SWEEPS = {
    "four-rooms-all": ["env=four-rooms", "algorithm=[hpgd-batch, hpgd, zero-order, exact, hpgd-rtq]",
                       "simulator=[consistent, paper-code]", "iterations=20", "hpgd_steps=2000",
                       "metrics_every=5", "final_window=5", "beta=3", "lambda=0.003", "rtq_levels=3"],
    "four-rooms-amd": ["algorithm=amd", "iterations=3", "amd_updates=10", "metrics_every=1", "final_window=2"],
    "four-rooms-softq": ["algorithm=hpgd-batch", "follower=soft-q", "follower_iterations=64",
                         "iterations=10", "hpgd_steps=2000", "metrics_every=2", "final_window=2"],
    "tax-design": ["env=tax-design", "tax_bins=40", "lambda=0.2", "algorithm=[hpgd-batch, zero-order]",
                   "simulator=[consistent, continuous]", "zero_order_c=50", "learning_rate=0.01",
                   "iterations=4", "hpgd_steps=1000", "hpgd_streams=10", "metrics_every=1", "final_window=2"],
    "random": ["env=random", "states=30", "actions=3", "dim=4", "contexts=2", "branch=3",
               "algorithm=[hpgd-batch, hpgd, zero-order, exact]", "iterations=15", "hpgd_steps=1000",
               "metrics_every=3", "final_window=3", "seeds=2"],
    "file": ["env=file", f"problem={CHAIN}", "algorithm=[hpgd-batch, zero-order, exact, hpgd-rtq]",
             "iterations=15", "hpgd_steps=500", "metrics_every=3", "final_window=3", "rtq_levels=3"],
}

HYPERGRADS = {
    "hg-four-rooms": ["--env", "four-rooms", "--beta", "3"],
    "hg-random": ["--env", "random", "--states", "40", "--actions", "3", "--dim", "5", "--contexts", "2",
                  "--branch", "4", "--seed", "3"],
    "hg-file": ["--problem", "examples/chain.yaml", "--x", "0.1,0,0.2"],  # relative: the JSON echoes it
    "hg-tax": ["--env", "tax-design", "--bins", "40"],
    "hg-hpgd-batch": ["--env", "four-rooms", "--estimator", "hpgd-batch", "--samples", "5", "--seed", "1"],
    "hg-hpgd": ["--env", "four-rooms", "--estimator", "hpgd", "--samples", "300", "--seed", "1"],
    "hg-zero-order": ["--env", "four-rooms", "--estimator", "zero-order", "--samples", "20", "--seed", "2"],
    "hg-amd": ["--env", "four-rooms", "--estimator", "amd", "--amd-updates", "50"],
    "hg-rtq": ["--env", "four-rooms", "--estimator", "rtq", "--levels", "3", "--samples", "3", "--seed", "4"],
    "hg-softq": ["--env", "four-rooms", "--estimator", "hpgd-batch", "--follower", "soft-q",
                 "--follower-iterations", "64", "--samples", "3"],
    "hg-tax-continuous": ["--env", "tax-design", "--bins", "40", "--estimator", "hpgd-batch",
                          "--simulator", "continuous", "--samples", "3", "--steps", "1000"],
}


def main():
    with tempfile.TemporaryDirectory() as w:
        for name, sets in SWEEPS.items():
            out = os.path.join(w, name)
            config = os.path.join(w, name + ".yaml")
            with open(config, "w") as f:
                # The paper's per-context clip, the default when these records were made.
                f.write("".join(s.replace("=", ": ", 1) + "\n" for s in sets + ["clip=per-context"]))
            cmd = [CBRL, "run", config, "--out", out, "--quiet"]
            p = subprocess.run(cmd, capture_output=True, text=True)
            print(name, store_md5(out) if p.returncode == 0 else f"exit {p.returncode}: {p.stderr.strip()}")
        for name, args in HYPERGRADS.items():
            p = subprocess.run([CBRL, "hypergrad", *args, "--json"], capture_output=True, text=True, cwd=ROOT)
            print(name, hashlib.md5(p.stdout.encode()).hexdigest() if p.returncode == 0
                  else f"exit {p.returncode}: {p.stderr.strip()}")


main()
