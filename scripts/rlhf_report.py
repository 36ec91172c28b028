#!/usr/bin/python3
"""docs/results/rlhf.md: the table and the figure from the two `cbrl run` sweeps of the RLHF
environment (docs/ENVIRONMENTS.md 7), read from their results stores.

  /usr/bin/python3 scripts/rlhf_report.py CBRL KL_SCORE_DIR DPO_DIR OUT_PNG [HPGD_10K_DIR] > table.md

Every value comes from the runs' stored reports (the store's extra_metrics): the follower's fit
to the preference pairs at each stored iterate, and the gaps to the exact optimum of the run's
own objective (cbrl_rlhf_optimum, Newton's method on the exact gradient), so the optima's own
held-out log-likelihoods are value + gap. Means and standard errors are over seeds. As a check
of that optimum by another optimiser, scipy's BFGS maximises F with F and its gradient from
`cbrl hypergrad --json` from x = 0.
"""
import json
import math
import subprocess
import sqlite3
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

from stats import mean_se  # noqa: E402

NAMES = ["F", "heldout_loglik", "train_loglik", "heldout_accuracy", "cosine", "kl", "optimum_gap", "heldout_gap",
         "truth_heldout_loglik"]


def load(path, tag=""):
    """{(env, algorithm + tag): {name: array seeds x iterations}}, and the iterations."""
    db = sqlite3.connect(f"{path}/results.sqlite")
    runs = db.execute("SELECT id, env, algorithm, seed FROM runs WHERE status = 'done' ORDER BY id").fetchall()
    out, iters = {}, None
    for run_id, env, alg, _seed in runs:
        rows = db.execute("SELECT iteration, name, value FROM extra_metrics WHERE run_id = ? ORDER BY iteration",
                          (run_id,)).fetchall()
        its = sorted({r[0] for r in rows})
        vals = {n: np.full(len(its), np.nan) for n in NAMES}
        pos = {t: i for i, t in enumerate(its)}
        for t, n, v in rows:
            if n in vals:
                vals[n][pos[t]] = v
        for t, F in db.execute("SELECT iteration, F FROM metrics WHERE run_id = ?", (run_id,)):
            if t in pos:
                vals["F"][pos[t]] = F
        iters = np.array(its)
        d = out.setdefault((env, alg + tag), {n: [] for n in NAMES})
        for n in NAMES:
            d[n].append(vals[n])
    for d in out.values():
        for n in NAMES:
            d[n] = np.array(d[n])
    return out, iters


def bfgs_optimum(cbrl, env):
    """max F by BFGS on `cbrl hypergrad --env ENV --json`: (F*, x*)."""
    def neg(x):
        out = subprocess.run([cbrl, "hypergrad", "--env", env, "--x", ",".join(f"{v:.17g}" for v in x), "--json"],
                             check=True, capture_output=True, text=True).stdout
        j = json.loads(out)
        return -j["F"], -np.array(j["grad"])
    r = minimize(neg, np.zeros(5), jac=True, method="BFGS", options={"gtol": 1e-9})
    return -r.fun, r.x


def fmt(a, digits=4):
    m, s = mean_se([float(v) for v in a], single=0.0)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def main():
    cbrl, kl_dir, dpo_dir, png = sys.argv[1:5]
    data, iters = load(kl_dir)
    dpo, iters_dpo = load(dpo_dir)
    data.update(dpo)
    if len(sys.argv) > 5:
        data.update(load(sys.argv[5], " 10k")[0])
    order = [("rlhf", "exact"), ("rlhf", "hpgd"), ("rlhf", "hpgd 10k"), ("rlhf", "hpgd-batch"),
             ("rlhf", "hpgd-batch 10k"), ("rlhf", "zero-order"), ("rlhf-dpo", "exact"), ("rlhf-dpo", "zero-order")]
    order = [k for k in order if k in data]
    objective = {"rlhf": "KL score", "rlhf-dpo": "DPO form"}
    seeds = {k: data[k]["heldout_loglik"].shape[0] for k in order}

    print("| objective | leader | seeds | held-out log-lik | gap to its optimum's | F gap to the exact optimum "
          "| cosine with theta* | held-out accuracy | KL(pi \\|\\| pi_ref) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in order:
        d = data[k]
        last = {n: d[n][:, -1] for n in NAMES}
        print(f"| {objective[k[0]]} | {k[1]} | {seeds[k]} | {fmt(last['heldout_loglik'])} | "
              f"{fmt(last['heldout_gap'])} | {fmt(last['optimum_gap'], 5)} | {fmt(last['cosine'], 3)} | "
              f"{fmt(last['heldout_accuracy'], 3)} | {fmt(last['kl'], 3)} |")
    # The references: each objective's exact optimum (value + gap of its exact runs), theta*.
    print()
    print("| reference | F* (Newton, cbrl_rlhf_optimum) | F* (BFGS on cbrl hypergrad) | x* (BFGS) | held-out log-lik |")
    print("|---|---|---|---|---|")
    for env in ("rlhf", "rlhf-dpo"):
        if (env, "exact") in data:
            d = data[(env, "exact")]
            star = d["heldout_loglik"][:, -1] + d["heldout_gap"][:, -1]
            newton = d["F"][:, -1] + d["optimum_gap"][:, -1]
            F_b, x_b = bfgs_optimum(cbrl, env)
            xs = ", ".join(f"{v:.3f}" for v in x_b)
            print(f"| exact optimum of the {objective[env]} objective | {newton.mean():.6f} | {F_b:.6f} | "
                  f"({xs}) | {star.mean():.4f} |")
    any_run = data[order[0]]
    print(f"| the hidden weights theta* | | | | {any_run['truth_heldout_loglik'][0, -1]:.4f} |")
    print(f"| x = 0 (the follower at pi_ref) | | | | {math.log(0.5):.4f} |")

    colours = {"exact": "C0", "hpgd": "C1", "hpgd-batch": "C2", "zero-order": "C3", "hpgd 10k": "C4",
               "hpgd-batch 10k": "C5"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for k in order:
        d = data[k]
        it = iters if k[0] == "rlhf" else iters_dpo
        style = "-" if k[0] == "rlhf" else "--"
        label = f"{k[1].replace(' 10k', ', 10k steps')} ({objective[k[0]]})"
        for ax, name in zip(axes, ["optimum_gap", "heldout_loglik", "cosine"]):
            a = d[name]
            m = a.mean(axis=0)
            s = a.std(axis=0, ddof=1) / math.sqrt(a.shape[0])
            if name == "optimum_gap":
                m = np.maximum(m, 1e-9)
            ax.plot(it, m, style, color=colours[k[1]], label=label, lw=1.4)
            ax.fill_between(it, m - s, m + s, color=colours[k[1]], alpha=0.2, lw=0)
    axes[0].set_yscale("log")
    axes[0].set_title("objective: F(x*) - F(x_t), each against its own optimum")
    axes[0].set_ylabel("F gap")
    truth = any_run["truth_heldout_loglik"][0, -1]
    axes[1].axhline(truth, color="k", lw=1, ls=":", label="theta* (hidden truth)")
    if ("rlhf-dpo", "exact") in data:
        d = data[("rlhf-dpo", "exact")]
        axes[1].axhline((d["heldout_loglik"][:, -1] + d["heldout_gap"][:, -1]).mean(), color="grey", lw=1,
                        ls="-.", label="DPO-form optimum")
    if ("rlhf", "exact") in data:
        d = data[("rlhf", "exact")]
        axes[1].axhline((d["heldout_loglik"][:, -1] + d["heldout_gap"][:, -1]).mean(), color="grey", lw=1,
                        ls=":", label="KL-score optimum")
    axes[1].set_title("held-out log-likelihood under the follower")
    axes[1].set_ylabel("mean log-likelihood per pair")
    axes[1].set_ylim(-0.70, None)
    axes[2].set_title("cosine of x with theta*")
    axes[2].set_ylim(-0.2, 1.02)
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle("RLHF (docs/ENVIRONMENTS.md 7): mean ± s.e. over 10 seeds; solid: KL-score objective, "
                 "dashed: DPO form", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
