#!/usr/bin/env python3
"""Summary of tax-design stores: per algorithm, final-window F, final rates, revenue and J spread
(mean and standard error over seeds), as a Markdown table.

Usage: python3 scripts/tax_summary.py STORE.sqlite [STORE.sqlite ...]
"""
import json
import math
import sqlite3
import sys

from compare_paper import mean_se


def rate(w):
    """tau = 2 sigmoid(w), docs/ENVIRONMENTS.md 2."""
    return 2.0 / (1.0 + math.exp(-w))


def last_economy(c, run_id):
    """(revenue, household_spread) at the run's last reported iteration, from extra_metrics or,
    in stores written before it, from the metrics columns of the same names."""
    cols = {r[1] for r in c.execute("PRAGMA table_info(metrics)")}
    if "revenue" in cols:
        return c.execute("select revenue, household_spread from metrics where run_id=? and revenue is not null"
                         " order by iteration desc limit 1", (run_id,)).fetchone()
    it = c.execute("select max(iteration) from extra_metrics where run_id=? and name='revenue'", (run_id,)).fetchone()[0]
    value = lambda name: c.execute("select value from extra_metrics where run_id=? and iteration=? and name=?",
                                   (run_id, it, name)).fetchone()[0]
    return value("revenue"), value("household_spread")


def main(paths):
    print("| algorithm | seeds | final-window F | income tax | VAT 1 | VAT 2 | VAT 3 | revenue | J spread |")
    print("|---|---|---|---|---|---|---|---|---|")
    for db in paths:
        c = sqlite3.connect(db)
        for alg, in c.execute("select distinct algorithm from runs where status='done'"):
            rows = c.execute("select id, window_F, x from runs where algorithm=? and status='done'", (alg,)).fetchall()
            F = mean_se([r[1] for r in rows])
            taus = [[rate(w) for w in json.loads(r[2])] for r in rows]
            t = [mean_se([tt[j] for tt in taus]) for j in range(4)]
            last = [last_economy(c, r[0]) for r in rows]
            rev, spread = mean_se([l[0] for l in last]), mean_se([l[1] for l in last])
            print(f"| {alg} | {len(rows)} | {F[0]:.2f} ± {F[1]:.2f} | "
                  + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in t)
                  + f" | {rev[0]:.2f} | {spread[0]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
