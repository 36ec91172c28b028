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
    """tau = 2 sigmoid(w), SPEC 6.2."""
    return 2.0 / (1.0 + math.exp(-w))


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
            last = [c.execute("select revenue, household_spread from metrics where run_id=? and revenue is not null"
                              " order by iteration desc limit 1", (r[0],)).fetchone() for r in rows]
            rev, spread = mean_se([l[0] for l in last]), mean_se([l[1] for l in last])
            print(f"| {alg} | {len(rows)} | {F[0]:.2f} ± {F[1]:.2f} | "
                  + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in t)
                  + f" | {rev[0]:.2f} | {spread[0]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
