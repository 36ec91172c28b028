#!/usr/bin/env python3
"""Flat-tax baseline for the tax-design economy (docs/ENVIRONMENTS.md 2): exact welfare on a grid of
untargeted policies, to show what a learned, good-by-good tax actually gains.

Usage: python3 scripts/flat_tax_baseline.py [--cbrl PATH] [--bins N] [LAMBDA ...]

For every lambda (default 0.1 0.2 0.3) it evaluates, with `cbrl hypergrad --env tax-design`,
the exact social welfare F of
  - one rate for everything (income tax = every VAT = t), and
  - an income tax t_I with one VAT t_V on all three goods, on a 10 x 10 grid,
and prints Markdown: the single-rate line, the best grid point, and F at the paper's start
(every rate 0.3). The leader's parameters are w with tau = 2 sigmoid(w), so w = log(t/(2-t)).
"""
import json
import math
import subprocess
import sys

RATES = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def welfare(cbrl, lam, bins, t_income, t_vat):
    w = [math.log(t / (2.0 - t)) for t in (t_income, t_vat, t_vat, t_vat)]
    out = subprocess.run(
        [cbrl, "hypergrad", "--env", "tax-design", "--lambda", repr(lam), "--bins", str(bins),
         "--x", ",".join(repr(v) for v in w), "--json"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["F"]


def main(argv):
    cbrl, bins, lambdas = "./build/cbrl", 200, []
    i = 0
    while i < len(argv):
        if argv[i] == "--cbrl":
            cbrl, i = argv[i + 1], i + 2
        elif argv[i] == "--bins":
            bins, i = int(argv[i + 1]), i + 2
        else:
            lambdas.append(float(argv[i]))
            i += 1
    lambdas = lambdas or [0.1, 0.2, 0.3]

    print("| lambda | F at every rate 0.3 | best single rate t | F | best (t_I, t_V) | F |")
    print("|---|---|---|---|---|---|")
    curves = {}
    for lam in lambdas:
        grid = {(ti, tv): welfare(cbrl, lam, bins, ti, tv) for ti in RATES for tv in RATES}
        single = {t: grid[(t, t)] for t in RATES}
        curves[lam] = single
        t_best = max(single, key=single.get)
        g_best = max(grid, key=grid.get)
        print(f"| {lam:g} | {grid[(0.3, 0.3)]:.3f} | {t_best:g} | {single[t_best]:.3f} "
              f"| ({g_best[0]:g}, {g_best[1]:g}) | {grid[g_best]:.3f} |")
    print()
    print("Single rate t for everything, exact F:")
    print()
    print("| t | " + " | ".join(f"lambda {lam:g}" for lam in lambdas) + " |")
    print("|---|" + "---|" * len(lambdas))
    for t in RATES:
        print(f"| {t:g} | " + " | ".join(f"{curves[lam][t]:.3f}" for lam in lambdas) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
