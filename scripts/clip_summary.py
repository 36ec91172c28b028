#!/usr/bin/python3
"""Table of the clip modes against each other from scripts/clip_compare.sh's stores
(docs/results/clipping.md): per environment, algorithm and beta, the mean +- s.e. over seeds
of each run's final-window exact F, for each clip mode.

    /usr/bin/python3 scripts/clip_summary.py runs/clip
"""
import os, sqlite3, sys
from stats import mean_se as _mean_se

MODES = ("per-context", "average", "growing")


def mean_se(v):
    if not v:
        return "–"
    m, se = _mean_se(v)
    return f"{m:.3f} ± {se:.3f}" + (f" ({len(v)})" if len(v) != 5 else "")


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "runs/clip"
    for env in ("four_rooms", "tax"):
        cells = {}
        for mode in MODES:
            path = os.path.join(base, f"{env}_{mode}", "results.sqlite")
            if not os.path.exists(path):
                continue
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            for alg, beta, wf in db.execute("SELECT algorithm, beta, window_F FROM runs WHERE status = 'done'"):
                key = (alg, beta if env == "four_rooms" else None)
                cells.setdefault(key, {}).setdefault(mode, []).append(wf)
        title = "Four-Rooms, lambda 0.003, paper-code simulator, lr 0.5" if env == "four_rooms" else \
            "Tax design, lambda 0.2, 100 bins, lr 0.01, 500 iterations"
        print(f"\n{title}\n")
        head = "| algorithm |" + (" beta |" if env == "four_rooms" else "") + "".join(f" {m} |" for m in MODES)
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        for (alg, beta), by in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
            row = f"| {alg} |" + (f" {beta:g} |" if env == "four_rooms" else "")
            row += "".join(f" {mean_se(by.get(m, []))} |" for m in MODES)
            print(row)


main()
