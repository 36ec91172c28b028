#!/usr/bin/env python3
"""Cell-by-cell comparison of a Four-Rooms reproduction with the paper's Table 1 (the paper's Table 1 protocol).

Usage: python3 scripts/compare_paper.py [--min-seeds N] DIR [DIR...]

Reads the runs of every store (DIR/results.sqlite), picks per (lambda, beta, algorithm) the
learning rate (and c) with the best mean final-window F over seeds among settings with at
least N seeds (default 10), and prints Markdown: our mean and standard error for both figures
(exact two-goal F; value of the sampled goal, the paper's), the paper's value, and
z = (ours - paper) / sqrt(se_ours^2 + se_paper^2) on the paper's figure.
"""
import math
import sqlite3
import sys
from stats import mean_se as _mean_se

PAPER = {  # (lambda, beta): (HPGD, AMD, zero-order) as (mean, s.e.)
    (0.001, 1): ((0.91, 0.088), (0.58, 0.000), (0.59, 0.059)),
    (0.001, 3): ((0.51, 0.006), (0.51, 0.000), (0.50, 0.005)),
    (0.001, 5): ((0.46, 0.006), (0.46, 0.003), (0.46, 0.007)),
    (0.003, 1): ((0.95, 0.002), (1.00, 0.000), (0.91, 0.048)),
    (0.003, 3): ((0.73, 0.001), (0.39, 0.000), (0.40, 0.028)),
    (0.003, 5): ((0.29, 0.003), (0.32, 0.000), (0.32, 0.002)),
    (0.005, 1): ((1.17, 0.011), (1.28, 0.003), (1.15, 0.026)),
    (0.005, 3): ((1.01, 0.002), (1.13, 0.004), (1.02, 0.027)),
    (0.005, 5): ((0.87, 0.003), (0.97, 0.009), (0.79, 0.027)),
}
PAPER_COLUMN = {"hpgd-batch": 0, "hpgd-batch (paper-code sim)": 0, "amd": 1, "zero-order": 2}


def mean_se(values):
    return _mean_se(values, single=0.0)


def main(argv):
    min_seeds = 10
    if len(argv) > 2 and argv[1] == "--min-seeds":
        min_seeds = int(argv[2])
        argv = argv[2:]
    settings = {}
    for d in argv[1:]:
        db = sqlite3.connect(f"file:{d}/results.sqlite?mode=ro", uri=True)
        for alg, sim, lam, beta, lr, c, wf, ws in db.execute(
                "SELECT algorithm, simulator, lambda, beta, learning_rate, zero_order_c, window_F,"
                " window_f_sampled FROM runs WHERE status = 'done'"):
            column = alg + (" (paper-code sim)" if sim == "paper-code" else "")
            key = (round(lam, 6), beta, column, lr, c)
            settings.setdefault(key, []).append((wf, ws))
        db.close()
    cells = {}
    for (lam, beta, column, lr, c), runs in settings.items():
        if len(runs) < min_seeds:
            continue
        m, se = mean_se([r[0] for r in runs])
        best = cells.get((lam, beta, column))
        if best is None or m > best[0]:
            ms, ses = mean_se([r[1] for r in runs])
            cells[(lam, beta, column)] = (m, se, ms, ses, lr, c, len(runs))
    print("| lambda | beta | algorithm | setting | exact F | sampled goal | paper | z |")
    print("|---|---|---|---|---|---|---|---|")
    for (lam, beta, column) in sorted(cells, key=lambda k: (k[0], k[1], k[2])):
        m, se, ms, ses, lr, c, n = cells[(lam, beta, column)]
        setting = f"lr {lr:g}" + (f", c {c:g}" if c is not None else "") + f", {n} seeds"
        paper = PAPER.get((lam, int(beta)))
        col = PAPER_COLUMN.get(column)
        if paper and col is not None:
            pm, pse = paper[col]
            z = (ms - pm) / math.sqrt(ses ** 2 + pse ** 2) if ses or pse else float("inf")
            ptxt, ztxt = f"{pm:.2f} ± {pse:.3f}", f"{z:+.1f}"
        else:
            ptxt, ztxt = "–", "–"
        print(f"| {lam:g} | {beta:g} | {column} | {setting} | {m:.3f} ± {se:.3f} | {ms:.3f} ± {ses:.3f} | {ptxt} | {ztxt} |")


if __name__ == "__main__":
    main(sys.argv)
