#!/usr/bin/env python3
"""Summary of the tax protocol rerun (docs/results/tax_design.md) over several stores, each with a
label: per lambda and label, final-window and best F, iterations to 90 % and 99 % of the exact
leader's welfare gain, the learned rates, the VAT order by good, revenue and the households' J
(mean ± s.e. over seeds); a thinned CSV of the mean curves; welfare and rate figures.

Usage: /usr/bin/python3 scripts/tax_protocol_summary.py [--cbrl build/cbrl] [--csv OUT.csv]
           [--figures DIR] [--curves LABEL=CSV:ALGORITHM ...] LABEL=STORE_DIR[:ALGORITHM] ...
A store may hold several algorithms; ALGORITHM picks one. The label "exact" is the reference.
--curves adds the mean curves of an earlier run's thinned CSV (docs/results/tax_protocol_curves.csv)
to the figures and, from the mean curve alone, a table row (final-window and best F of the mean,
iterations at which the mean reaches 90 % and 99 % of the gain, the final rates).
"""
import argparse
import csv
import json
import math
import os
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from stats import mean_se as _mean_se


def rate(w):
    """tau = 2 sigmoid(w), docs/ENVIRONMENTS.md 2."""
    return 2.0 / (1.0 + math.exp(-w))


def mean_se(v):
    return _mean_se(v, drop_missing=True)


def start_F(cbrl, lam):
    """F at every rate 0.3 (the runs' start), from the exact model."""
    out = subprocess.run([cbrl, "hypergrad", "--env", "tax-design", "--lambda", str(lam), "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["F"]


def load(spec):
    label, rest = spec.split("=", 1)
    path, _, alg = rest.partition(":")
    c = sqlite3.connect(os.path.join(path, "results.sqlite"))
    q = "select id, algorithm, lambda, seed, window_F, x from runs where status='done'"
    runs = []
    for rid, a, lam, seed, wF, x in c.execute(q):
        if alg and a != alg:
            continue
        curve = c.execute("select iteration, F from metrics where run_id=? and F is not null order by iteration",
                          (rid,)).fetchall()
        extra = defaultdict(dict)
        for it, name, v in c.execute("select iteration, name, value from extra_metrics where run_id=?", (rid,)):
            extra[it][name] = v
        runs.append(dict(label=label, lam=round(lam, 6), seed=seed, window_F=wF, x=json.loads(x), curve=curve,
                         extra=extra))
    return label, runs


def n_seeds(n):
    return "one seed" if n == 1 else f"{n} seeds"


def first_reach(curve, threshold):
    for it, F in curve:
        if F >= threshold:
            return it
    return None


def fmt(m, s, d=2):
    if math.isnan(m):
        return "–"
    return f"{m:.{d}f}" if math.isnan(s) else f"{m:.{d}f} ± {s:.{d}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cbrl", default="build/cbrl")
    ap.add_argument("--csv")
    ap.add_argument("--figures")
    ap.add_argument("--curves", action="append", default=[])
    ap.add_argument("stores", nargs="+")
    a = ap.parse_args()
    old = []  # rows of earlier CSVs, in this script's CSV layout
    for spec in a.curves:
        label, rest = spec.split("=", 1)
        path, _, alg = rest.rpartition(":")
        for f in csv.reader(line for line in open(path) if not line.startswith("#")):
            if f[0] == "lambda" or f[1] != alg:
                continue
            old.append([round(float(f[0]), 6), label, int(f[2]), int(f[3])] + [float(v) for v in f[4:]])
    data = [load(s) for s in a.stores]
    labels = list(dict.fromkeys(l for l, _ in data))
    by = defaultdict(list)
    for label, runs in data:
        for r in runs:
            by[(r["lam"], label)].append(r)
    lams = sorted({k[0] for k in by})
    csv_rows = []
    for lam in lams:
        F0 = start_F(a.cbrl, lam)
        ex = by.get((lam, "exact"), [])
        F_exact = mean_se([r["window_F"] for r in ex])[0] if ex else float("nan")
        gain = F_exact - F0
        print(f"\n**lambda {lam}**: start F {F0:.2f}, exact leader's final-window F {F_exact:.2f} "
              f"(gain {gain:.2f})\n")
        print("| estimator | seeds | final-window F | % of the gain | best F | it. to 90 % | it. to 99 % | income tax | VAT 1 | VAT 2 "
              "| VAT 3 | VAT order (seeds) | revenue | households' J |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for label in dict.fromkeys(r[1] for r in old):
            pts = sorted((r for r in old if r[0] == lam and r[1] == label), key=lambda r: r[2])
            if not pts:
                continue
            window = [p[4] for p in pts if p[2] > pts[-1][2] - 100]
            reach = []
            for q in (0.9, 0.99):
                it = next((p[2] for p in pts if p[4] >= F0 + q * gain), None)
                reach.append(f"{it} (mean curve)" if it is not None else "never (mean curve)")
            last = pts[-1]
            wmean = sum(window) / len(window)
            print(f"| {label} | {last[3]} | {wmean:.2f} (mean curve) | {100 * (wmean - F0) / gain:.1f} (mean curve) | "
                  f"{max(p[4] for p in pts):.2f} (mean curve) | {reach[0]} | {reach[1]} | "
                  + " | ".join(f"{v:.3f}" for v in last[6:10]) + f" | – | {last[11]:.2f} | {last[10]:.2f} |")
        for label in labels:
            rs = sorted(by.get((lam, label), []), key=lambda r: r["seed"])
            if not rs:
                continue
            wF = mean_se([r["window_F"] for r in rs])
            best = mean_se([max(F for _, F in r["curve"]) for r in rs])
            reach = []
            for q in (0.9, 0.99):
                its = [first_reach(r["curve"], F0 + q * gain) for r in rs]
                got = [i for i in its if i is not None]
                m, s = mean_se(got)
                reach.append(f"{fmt(m, s, 0)} ({len(got)}/{len(rs)})" if got else f"never (0/{len(rs)})")
            taus = [[rate(w) for w in r["x"]] for r in rs]
            t = [mean_se([tt[j] for tt in taus]) for j in range(4)]
            order = Counter(">".join(str(1 + j) for j in sorted(range(3), key=lambda j: -tt[1 + j])) for tt in taus)
            order_s = ", ".join(f"{o} ({n})" for o, n in order.most_common())
            last = [r["extra"][max(r["extra"])] for r in rs if r["extra"]]
            rev = mean_se([e.get("revenue") for e in last])
            J = mean_se([e.get("household_value") for e in last])
            share = mean_se([100 * (r["window_F"] - F0) / gain for r in rs])
            print(f"| {label} | {len(rs)} | {fmt(*wF)} | {fmt(*share, 1)} | {fmt(*best)} | {reach[0]} | {reach[1]} | "
                  + " | ".join(fmt(m, s, 3) for m, s in t)
                  + f" | {order_s} | {fmt(*rev)} | {fmt(*J)} |")
            its = sorted({it for r in rs for it, _ in r["curve"] if it % 10 == 0 or it == 1})
            for it in its:
                Fs = [dict(r["curve"]).get(it) for r in rs]
                row = [lam, label, it, sum(f is not None for f in Fs), *mean_se(Fs)]
                for name in ("income_tax", "vat1", "vat2", "vat3", "household_value", "revenue"):
                    row.append(mean_se([r["extra"].get(it, {}).get(name) for r in rs])[0])
                csv_rows.append(row)
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("# Means over seeds of the tax protocol rerun (docs/results/tax_design.md), every 10th "
                    "iteration, from scripts/tax_protocol_summary.py\n")
            f.write("lambda,estimator,iteration,seeds,F_mean,F_se,income_tax,vat1,vat2,vat3,household_value,revenue\n")
            w = csv.writer(f, lineterminator="\n")  # quotes a label with a comma in it
            for r in csv_rows:
                w.writerow(f"{v:.6g}" if isinstance(v, float) else str(v) for v in r)
    if a.figures:
        old_labels = list(dict.fromkeys(r[1] for r in old))
        figures(csv_rows + [r for r in old if r[0] in lams], old_labels + labels, lams, a.figures)
    return 0


def figures(rows, labels, lams, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out, exist_ok=True)
    # Ten lines fit the default cycle; more take tab20's, so that no two lines share a colour.
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if len(labels) > len(cycle):
        cycle = [plt.cm.tab20(i) for i in range(20)]
    colors = dict(zip([l for l in labels if l != "exact"], cycle * 3))
    colors["exact"] = "black"  # the reference, whatever the number of lines
    for lam in lams:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5))
        top, start = -1e9, None
        for ax in axes:
            for label in labels:
                pts = [r for r in rows if r[0] == lam and r[1] == label]
                if not pts:
                    continue
                it = [p[2] for p in pts]
                m = [p[4] for p in pts]
                s = [0.0 if math.isnan(p[5]) else p[5] for p in pts]
                top, start = max(top, max(m)), m[0] if start is None else start
                ax.plot(it, m, label=f"{label} ({n_seeds(max(p[3] for p in pts))})", color=colors[label])
                ax.fill_between(it, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], alpha=0.2,
                                color=colors[label])
            ax.set_xlabel("iteration")
            ax.set_ylabel("welfare F (exact), mean ± s.e. over seeds")
        axes[0].set_title(f"Tax design, lambda {lam}")
        axes[1].set_ylim(top - 0.35 * (top - start), top + 0.05 * (top - start))
        axes[1].set_title("the same, near the optimum")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"tax_rerun_welfare_lambda{lam}.png"), dpi=90)
        plt.close(fig)
        fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
        for k, (name, title) in enumerate([(6, "income tax"), (7, "VAT 1"), (8, "VAT 2"), (9, "VAT 3")]):
            ax = axes[k // 2][k % 2]
            for label in labels:
                pts = [r for r in rows if r[0] == lam and r[1] == label]
                if pts:
                    ax.plot([p[2] for p in pts], [p[name] for p in pts], label=label, color=colors[label])
            ax.set_title(title)
            ax.set_xlabel("iteration")
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"Tax design, lambda {lam}: rates (mean over seeds)")
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"tax_rerun_rates_lambda{lam}.png"), dpi=90)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
