#!/usr/bin/python3
"""docs/results/contracts.md: tables and the figure from two `cbrl run` sweeps of the contract
environment, against exact references computed here independently of cbrl's leader.

  /usr/bin/python3 scripts/contracts_report.py CBRL LAMBDA_DIR TWO_TYPES_DIR OUT_PNG

References (docs/ENVIRONMENTS.md 5):
- one stage: the soft agent's optimal contract, maximising the closed-form value over w >= 0
  with L-BFGS-B from a grid of starts; the hard (lambda -> 0) optimum by scipy's linprog per
  implemented effort (an LP solver independent of cbrl_contract_optimum_lp);
- two types: L-BFGS-B on [0, 3]^6 with F and grad F from `cbrl hypergrad --json`, from 20 starts.
"""
import csv
import itertools
import json
import math
import subprocess
import sys

import numpy as np
from scipy.optimize import linprog, minimize
from stats import mean_se as _mean_se

P = np.array([[0.6, 0.3, 0.1], [0.2, 0.4, 0.4], [0.1, 0.3, 0.6]])
V = np.array([0.0, 1.0, 2.0])
C = np.array([0.0, 0.4, 1.0])
GAMMA = 0.9


def soft_value(w, lam):
    """The principal's value of contract w for the soft agent of one stage (no offer state)."""
    q = P @ w - C + GAMMA * lam * math.log(3.0)
    z = np.exp((q - q.max()) / lam)
    pi = z / z.sum()
    return float(pi @ (P @ (V - w)))


def soft_optimum(lam):
    best = (-np.inf, None)
    for start in itertools.product([0.0, 1.0, 2.0, 3.0], repeat=3):
        r = minimize(lambda w: -soft_value(w, lam), np.array(start), method="L-BFGS-B", bounds=[(0, 10)] * 3)
        if -r.fun > best[0]:
            best = (-r.fun, r.x)
    return best


def hard_optimum():
    best = -np.inf
    for star in range(3):
        # min P[star] . w  s.t.  (P[e] - P[star]) . w <= C[e] - C[star] for e != star, w >= 0
        A = [P[e] - P[star] for e in range(3) if e != star]
        b = [C[e] - C[star] for e in range(3) if e != star]
        r = linprog(P[star], A_ub=A, b_ub=b, bounds=[(0, None)] * 3, method="highs")
        if r.status == 0:
            best = max(best, float(P[star] @ V - r.fun))
    return best


def runs(path):
    """Per run: its key, final-window F values, last x, and the F curve."""
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            r = out.setdefault(row["id"], {"alg": row["algorithm"], "lambda": float(row["lambda"]), "seed": row["seed"],
                                           "curve": [], "x": None})
            r["curve"].append((int(row["iteration"]), float(row["F"])))
            xs = [k for k in row if k.startswith("x") and k[1:].isdigit()]
            if row[xs[0]] != "":
                r["x"] = np.array([float(row[k]) for k in sorted(xs, key=lambda k: int(k[1:]))])
    return out


def final(r, window):
    last = max(t for t, _ in r["curve"])
    return np.mean([F for t, F in r["curve"] if t > last - window])


def mean_se(v):
    return _mean_se([float(x) for x in v], single=0.0)


def two_types_optimum(cbrl):
    def fg(x):
        out = subprocess.run([cbrl, "hypergrad", "--problem", "examples/contract_two_types.yaml", "--x",
                              ",".join("%.17g" % v for v in x), "--json"], capture_output=True, text=True, check=True)
        d = json.loads(out.stdout)
        return -d["F"], -np.array(d["grad"])
    best = (-np.inf, None)
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = minimize(fg, rng.uniform(0, 3, 6), jac=True, method="L-BFGS-B", bounds=[(0, 3)] * 6)
        if -r.fun > best[0]:
            best = (-r.fun, r.x)
    return best


def main():
    cbrl, lam_dir, two_dir, png = sys.argv[1:5]
    for d in (lam_dir, two_dir):
        subprocess.run([cbrl, "export", d, "--csv", d + "/export.csv"], check=True, capture_output=True)
    algs = ["exact", "hpgd-batch", "hpgd", "zero-order"]
    lam_runs = runs(lam_dir + "/export.csv")
    hard = hard_optimum()
    print("## Table 1: one stage, by lambda\n")
    print("Hard (lambda -> 0) optimum by linprog: %.4f.\n" % hard)
    print("| lambda | soft optimum F* | w* (fail, ok, success) | algorithm | F (final 200) | % of F* | % of hard | "
          "distance to w* |")
    print("|---|---|---|---|---|---|---|---|")
    refs = {}
    for lam in sorted({r["lambda"] for r in lam_runs.values()}, reverse=True):
        Fs, ws = soft_optimum(lam)
        refs[lam] = Fs
        for a in algs:
            rs = [r for r in lam_runs.values() if r["lambda"] == lam and r["alg"] == a]
            if not rs:
                continue
            F = [final(r, 200) for r in rs]
            dist = [np.linalg.norm(r["x"] - ws) for r in rs]
            m, s = mean_se(F)
            dm, ds = mean_se(dist)
            print("| %g | %.4f | (%.2f, %.2f, %.2f) | %s | %.4f ± %.4f | %.1f | %.1f | %.3f ± %.3f |" %
                  (lam, Fs, *ws, a, m, s, 100 * m / Fs, 100 * m / hard, dm, ds))
    two = runs(two_dir + "/export.csv")
    F2, x2 = two_types_optimum(cbrl)
    print("\n## Table 2: two types, two stages\n")
    print("Optimum by L-BFGS-B from 20 starts: F* = %.4f at w* = (%s).\n" % (F2, ", ".join("%.2f" % v for v in x2)))
    print("| algorithm | F (final 200) | % of F* | distance to w* |")
    print("|---|---|---|---|")
    for a in algs:
        rs = [r for r in two.values() if r["alg"] == a]
        if not rs:
            continue
        m, s = mean_se([final(r, 200) for r in rs])
        dm, ds = mean_se([np.linalg.norm(r["x"] - x2) for r in rs])
        print("| %s | %.4f ± %.4f | %.1f | %.3f ± %.3f |" % (a, m, s, 100 * m / F2, dm, ds))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (title, rs_all, ref, lam) in zip(axes, [("one stage, lambda 0.03", lam_runs, refs.get(0.03), 0.03),
                                                     ("two types, two stages", two, F2, None)]):
        for a in algs:
            rs = [r for r in rs_all.values() if r["alg"] == a and (lam is None or r["lambda"] == lam)]
            if not rs:
                continue
            t = sorted({t for r in rs for t, _ in r["curve"]})
            t = [u for u in t if u % 10 == 0 or u == 1]
            curves = np.array([[dict(r["curve"])[u] for u in t] for r in rs])
            m = curves.mean(0)
            se = curves.std(0, ddof=1) / math.sqrt(len(rs))
            color = {"exact": "C0", "hpgd-batch": "C1", "hpgd": "C2", "zero-order": "C3"}[a]
            ax.plot(t, m, label=a, color=color)
            ax.fill_between(t, m - se, m + se, alpha=0.25, color=color)
        ax.axhline(ref, color="k", ls="--", lw=1, label="exact optimum")
        if lam is not None:
            ax.axhline(hard, color="grey", ls=":", lw=1, label="hard-agent optimum (LP)")
        ax.set_title(title)
        ax.set_xscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("principal's value F (mean ± s.e., 10 seeds)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
