"""One cell of the paper's Table 1, from Python, notebook-style (each `# %%` is a cell).

Four-Rooms at lambda = 0.003, beta = 5, HPGD with the batch estimator on the paper code's
simulator. docs/results/four_rooms.md has the full protocol's value of this cell, 0.294 ± 0.003
(sampled goal, 10 seeds at the best of four learning rates, lr 0.5), against the paper's
0.29 ± 0.003. This script runs the small version: 3 seeds at lr 0.5 only, the same 10,000
iterations and final window of 1,000 (about a minute on 2 cores), then plots the learning curves
and the penalty map of the best run.

    make python && PYTHONPATH=python /usr/bin/python3 examples/python/table1_cell.py [--quick] [--out DIR]

--quick cuts it to 300 iterations (a smoke test, far from the cell's value).
"""
# %% Settings
import argparse
import os

import numpy as np

import cbrl
import cbrl.plot

ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--out", default="cbrl-table1-cell")
args = ap.parse_args()
iterations, window = (300, 50) if args.quick else (10000, 1000)
config = {
    "env": "four-rooms", "lambda": 0.003, "beta": 5,
    "algorithm": "hpgd-batch", "simulator": "paper-code",
    "learning_rate": 0.5, "seeds": 3, "iterations": iterations,
    "optimizer": "sgd", "max_grad_norm": 1.0, "clip": "per-context",   # the paper's clipping
    "hpgd_steps": 10000, "hpgd_streams": 5, "hpgd_max_steps": 200,
    "metrics_every": 10, "final_window": window,
}

# %% Run the sweep (resumable: a second call completes or reuses the store)
store = os.path.join(args.out, "store")
outcome = cbrl.run(config, store, resume=os.path.exists(os.path.join(store, "results.sqlite")))
print("runs done: %d of %d" % (outcome["n_done"], outcome["n_runs"]))

# %% The cell: mean ± s.e. over seeds of each run's final-window mean
res = cbrl.load(store, frames=False)
ok = res.runs["status"] == "done"
sampled = res.runs["window_f_sampled"][ok]   # the value of the goal drawn at each iteration
exact = res.runs["window_F"][ok]             # the exact F averaged over both goals
se = lambda v: v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
print("lambda 0.003, beta 5, HPGD (paper-code sim), %d seeds, %d iterations:" % (ok.sum(), iterations))
print("  sampled goal %.3f ± %.3f   exact F %.3f ± %.3f   (paper 0.29 ± 0.003; full protocol 0.294 ± 0.003)"
      % (sampled.mean(), se(sampled), exact.mean(), se(exact)))

# %% Figures: learning curves (mean ± s.e. over seeds) and the best run's penalty map
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.4, 1]})
cbrl.plot.curves(res, smooth=max(1, iterations // 500), ax=a)
best = int(res.runs["id"][ok][np.argmax(exact)])
problem = cbrl.Problem.env("four-rooms", beta=5, lam=0.003)   # the run's problem, for the follower's paths
cbrl.plot.penalty_map(res.x[best], ax=b, problem=problem,
                      title="seed %d, final-window F %.3f" % (res.runs["seed"][best], exact.max()))
fig.tight_layout()
path = os.path.join(args.out, "table1_cell.png")
fig.savefig(path, dpi=110)
print("figure:", path)
