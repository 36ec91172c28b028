#!/usr/bin/env python3
"""Compares a rerun of HPGD's Four-Rooms cells with the table in docs/results/four_rooms.md.

Usage: /usr/bin/python3 scripts/compare_rerun.py DIR [DIR...]

Each DIR is a store (DIR/results.sqlite) of HPGD batch runs; per (lambda, beta, learning rate)
with 10 done seeds it prints Markdown: the rerun's mean and standard error of both figures
(exact two-goal F, the sampled goal's value), the previous table's at that (lambda, beta) when
its learning rate is the same, and z = (new - old) / sqrt(se_new^2 + se_old^2) for each, plus
the runs' CPU seconds.
"""
import math
import os
import re
import sqlite3
import sys
from stats import mean_se

HERE = os.path.dirname(os.path.abspath(__file__))


def previous_table():
    """(lambda, beta) -> (lr, (F, se), (sampled, se)) from the "HPGD, full protocol" table."""
    text = open(os.path.join(HERE, "..", "docs", "results", "four_rooms.md")).read()
    section = text.split("## HPGD, full protocol (consistent simulator)")[1].split("\n## ")[0].split("\n### ")[0]
    rows = {}
    num = r"([0-9.]+) ± ([0-9.]+)"
    for m in re.finditer(r"^\| ([0-9.]+) \| (\d) \| ([0-9.]+) \| " + num + r" \| " + num + r" \|", section, re.M):
        lam, beta, lr = float(m.group(1)), int(m.group(2)), float(m.group(3))
        rows.setdefault((lam, beta), None)
        if rows[(lam, beta)] is None:
            rows[(lam, beta)] = (lr, (float(m.group(4)), float(m.group(5))), (float(m.group(6)), float(m.group(7))))
    return rows


def main(dirs):
    old = previous_table()
    out = []
    for d in dirs:
        db = sqlite3.connect(os.path.join(d, "results.sqlite"))
        q = """SELECT lambda, beta, learning_rate, window_F, window_f_sampled, cpu_seconds FROM runs
               WHERE status = 'done' AND algorithm = 'hpgd-batch'"""
        cells = {}
        for lam, beta, lr, F, f, cpu in db.execute(q):
            cells.setdefault((lam, int(beta), lr), []).append((F, f, cpu))
        for key, runs in cells.items():
            if len(runs) >= 10:
                out.append((key, runs))
    out.sort()
    print("| lambda | beta | lr | exact F (rerun) | previous | z | sampled goal (rerun) | previous | z | CPU s (10 runs) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (lam, beta, lr), runs in out:
        F, Fse = mean_se([r[0] for r in runs])
        f, fse = mean_se([r[1] for r in runs])
        cpu = sum(r[2] for r in runs)
        prev = old.get((lam, beta))
        if prev and abs(prev[0] - lr) < 1e-12:
            (oF, oFse), (of, ofse) = prev[1], prev[2]
            zF = (F - oF) / math.sqrt(Fse ** 2 + oFse ** 2)
            zf = (f - of) / math.sqrt(fse ** 2 + ofse ** 2)
            cols = (f"{oF:.3f} ± {oFse:.3f}", f"{zF:+.1f}", f"{of:.3f} ± {ofse:.3f}", f"{zf:+.1f}")
        else:
            cols = ("–", "–", "–", "–")
        print(f"| {lam:g} | {beta} | {lr:g} | {F:.3f} ± {Fse:.3f} | {cols[0]} | {cols[1]} | "
              f"{f:.3f} ± {fse:.3f} | {cols[2]} | {cols[3]} | {cpu:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
