#!/usr/bin/python3
"""docs/results/optimal_tax.md: the table and figure from a `cbrl run` sweep of env: optimal-tax,
against references computed here independently of cbrl (docs/ENVIRONMENTS.md 6).

  /usr/bin/python3 scripts/optimal_tax_report.py CBRL OUT_PNG RUN_DIR...

Per (lambda, algorithm) the learning rate with the best mean final-window F over the given
sweeps is reported (the paper's protocol), with every rate's value in a second table.

- the exact optimum of the soft economy: its welfare in closed form (each worker's soft response
  is a softmax over the labour grid), maximised over [0, 1]^3 by L-BFGS-B;
- the Saez schedule: t_k / (1 - t_k) = sum_{z_i > b_k} q_i (1 - g_i) seg_k(z_i) / (e sum_{i in k}
  q_i z_i) with z_i = n_i^(1+e) (1 - t_k(i))^e, solved by fixed-point iteration.
"""
import csv
import math
import subprocess
import sys

import numpy as np
from scipy.optimize import minimize

SKILL = np.array([1.0, 1.5, 2.0, 3.0, 4.0])
Q = np.full(5, 0.2)
G = (1 / SKILL) / np.sum(Q / SKILL)
B = np.array([0.0, 1.6, 4.6, np.inf])
E = 0.5
L = np.linspace(0.0, 2.5, 501)


def seg(z):
    """seg_k(z) for every bracket k (last axis)."""
    z = np.asarray(z)[..., None]
    return np.clip(np.minimum(z, B[1:]) - B[:-1], 0.0, None)


def welfare(t, lam):
    total = 0.0
    for i in range(5):
        z = SKILL[i] * L
        T = seg(z) @ t
        u = z - T - L ** 3 / 3.0
        p = np.exp((u - u.max()) / lam)
        p /= p.sum()
        total += Q[i] * p @ (G[i] * u + T)
    return total


def saez():
    t = np.full(3, 0.3)
    for _ in range(10000):
        z = np.empty(5)
        for i in range(5):
            for k in range(3):
                zk = SKILL[i] ** (1 + E) * (1 - t[k]) ** E
                if B[k] <= zk < B[k + 1]:
                    z[i] = zk
        new = np.empty(3)
        for k in range(3):
            num = sum(Q[i] * (1 - G[i]) * seg(z[i])[k] for i in range(5) if z[i] > B[k])
            den = sum(Q[i] * z[i] for i in range(5) if B[k] <= z[i] < B[k + 1])
            r = max(num / (E * den), 0.0)
            new[k] = 0.5 * t[k] + 0.5 * r / (1 + r)
        if np.max(np.abs(new - t)) < 1e-13:
            return new
        t = new
    raise RuntimeError("no fixed point")


def main():
    cbrl, png, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    runs = {}
    for n, run_dir in enumerate(dirs):
        subprocess.run([cbrl, "export", run_dir, "--csv", run_dir + "/export.csv"], check=True, capture_output=True)
        with open(run_dir + "/export.csv") as f:
            for row in csv.DictReader(f):
                r = runs.setdefault((n, row["id"]), {"alg": row["algorithm"], "lambda": float(row["lambda"]),
                                                     "lr": float(row["learning_rate"]), "curve": [], "x": None})
                r["curve"].append((int(row["iteration"]), float(row["F"])))
                if row["x0"] != "":
                    r["x"] = np.array([float(row["x%d" % k]) for k in range(3)])
    final = lambda r: np.mean([v for t, v in r["curve"] if t > 1800])
    by_lr = {}
    for r in runs.values():
        by_lr.setdefault((r["lambda"], r["alg"], r["lr"]), []).append(r)
    best_lr = {}
    for (lam, a, lr), rs in by_lr.items():
        m = np.mean([final(r) for r in rs])
        if (lam, a) not in best_lr or m > best_lr[(lam, a)][1]:
            best_lr[(lam, a)] = (lr, m)
    runs = {k: r for k, r in runs.items() if best_lr[(r["lambda"], r["alg"])][0] == r["lr"]}
    ts = saez()
    print("Saez schedule: (%.4f, %.4f, %.4f).\n" % tuple(ts))
    print("| lambda | exact optimum t* | F* | F(Saez) | F(0.3) | algorithm (best lr) | F (final 200) | "
          "% of the gain F* - F(0.3) | distance to t* | distance to Saez |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    algs = ["exact", "hpgd-batch", "zero-order"]
    for lam in sorted({r["lambda"] for r in runs.values()}, reverse=True):
        best = max((minimize(lambda t: -welfare(t, lam), np.array(s), method="L-BFGS-B", bounds=[(0, 1)] * 3)
                    for s in ([0.3] * 3, ts)), key=lambda r: -r.fun)
        tstar, Fstar, F0 = best.x, -best.fun, welfare(np.full(3, 0.3), lam)
        for a in algs:
            rs = [r for r in runs.values() if r["lambda"] == lam and r["alg"] == a]
            if not rs:
                continue
            F = np.array([final(r) for r in rs])
            d = np.array([np.linalg.norm(r["x"] - tstar) for r in rs])
            ds = np.array([np.linalg.norm(r["x"] - ts) for r in rs])
            se = lambda v: v.std(ddof=1) / math.sqrt(len(v))
            print("| %g | (%.4f, %.4f, %.4f) | %.5f | %.5f | %.5f | %s (%g) | %.5f ± %.5f | %.1f | %.4f ± %.4f | "
                  "%.4f ± %.4f |" % (lam, *tstar, Fstar, welfare(ts, lam), F0, a, rs[0]["lr"], F.mean(), se(F),
                                     100 * (F.mean() - F0) / (Fstar - F0), d.mean(), se(d), ds.mean(), se(ds)))
    print("\nMean final-window F by learning rate:\n")
    print("| lambda | algorithm | " + " | ".join("lr %g" % lr for lr in sorted({k[2] for k in by_lr}, reverse=True)) + " |")
    print("|---|---|" + "---|" * len({k[2] for k in by_lr}))
    for lam in sorted({k[0] for k in by_lr}, reverse=True):
        for a in algs:
            cells = []
            for lr in sorted({k[2] for k in by_lr}, reverse=True):
                rs = by_lr.get((lam, a, lr))
                cells.append("%.5f" % np.mean([final(r) for r in rs]) if rs else "")
            print("| %g | %s | %s |" % (lam, a, " | ".join(cells)))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, lam in zip(axes, sorted({r["lambda"] for r in runs.values()}, reverse=True)):
        for a, color in zip(algs, ["C0", "C1", "C3"]):
            rs = [r for r in runs.values() if r["lambda"] == lam and r["alg"] == a]
            t = [u for u, _ in rs[0]["curve"] if u % 10 == 0 or u == 1]
            c = np.array([[dict(r["curve"])[u] for u in t] for r in rs])
            m, s = c.mean(0), c.std(0, ddof=1) / math.sqrt(len(rs))
            ax.plot(t, m, color=color, label="%s (lr %g)" % (a, rs[0]["lr"]))
            ax.fill_between(t, m - s, m + s, color=color, alpha=0.25)
        best = minimize(lambda t: -welfare(t, lam), ts, method="L-BFGS-B", bounds=[(0, 1)] * 3)
        ax.axhline(-best.fun, color="k", ls="--", lw=1, label="exact optimum")
        ax.axhline(welfare(ts, lam), color="grey", ls=":", lw=1, label="Saez schedule")
        ax.set_xscale("log")
        ax.set_title("lambda %g" % lam)
        ax.set_xlabel("iteration")
        ax.set_ylabel("welfare F (mean ± s.e., 10 seeds)")
        lo = welfare(np.full(3, 0.3), lam)
        ax.set_ylim(lo - 0.2 * (-best.fun - lo), -best.fun + 0.2 * (-best.fun - lo))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
