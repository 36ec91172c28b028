#!/usr/bin/env python3
"""Summarises the critic estimator's Four-Rooms cells (scripts/four_rooms_critic.sh) as Markdown.

Usage: /usr/bin/python3 scripts/critic_cells.py RUNS_DIR [PATTERN]

Per store RUNS_DIR/PATTERN (default critic_*_beta*, the fixed-rate cells; final_critic*_beta* for
the stage-2 stores of scripts/reproduce_four_rooms.sh with LINES naming hpgd-critic): the simulator, lambda, beta, learning rate,
the mean and standard error over the done seeds of the final-window exact F and of the sampled
goal's value, the seed count and the runs' CPU seconds.
"""
import glob
import os
import sqlite3
import sys
from stats import mean_se


rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "critic_*_beta*"))):
    db = sqlite3.connect("file:" + os.path.join(path, "results.sqlite") + "?mode=ro", uri=True)
    got = db.execute("SELECT simulator, lambda, beta, learning_rate, window_F, window_f_sampled, cpu_seconds "
                     "FROM runs WHERE status = 'done'").fetchall()
    if not got:
        continue
    sim, lam, beta, lr = got[0][:4]
    F, fs = mean_se([r[4] for r in got]), mean_se([r[5] for r in got])
    rows.append((sim, lam, beta, lr, F, fs, len(got), sum(r[6] for r in got)))
print("| simulator | lambda | beta | lr | exact F | sampled goal | seeds | CPU s |")
print("|---|---|---|---|---|---|---|---|")
for sim, lam, beta, lr, F, fs, n, cpu in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
    print(f"| {sim} | {lam:g} | {beta:g} | {lr:g} | {F[0]:.3f} ± {F[1]:.3f} | {fs[0]:.3f} ± {fs[1]:.3f} | {n} | {cpu:.0f} |")
