#!/usr/bin/python3
"""The table of docs/results/followers.md from the stores of the three follower runs:

    scripts/followers_summary.py runs/fol_exact runs/fol_online runs/fol_python

Per store: final F (exact F at the last iterate) and final-window F as mean and standard error
over seeds, follower samples per run, wall seconds per leader iteration; then whether the
in-process and external learners' stores agree (runs and metrics, timings and config aside),
over the seeds both hold.
"""
import hashlib, sqlite3, sys
from stats import mean_se

NAMES = ("exact follower", "online learner, in-process", "online learner, Python process")


def store(path):
    return sqlite3.connect(f"{path}/results.sqlite")


def content(db, ids):
    h = hashlib.md5()
    q = ",".join(str(i) for i in ids)
    for row in db.execute(f"SELECT id, status, error, iterations, env_steps, final_F, window_F, x FROM runs"
                          f" WHERE id IN ({q}) ORDER BY id"):
        h.update(repr(row).encode())
    for row in db.execute(f"SELECT run_id, iteration, context, F, f_context, grad_norm, env_steps, follower_iterations,"
                          f" follower_products, follower_samples, level, env_steps_total, follower_samples_total, x"
                          f" FROM metrics WHERE run_id IN ({q}) ORDER BY run_id, iteration"):
        h.update(repr(row).encode())
    return h.hexdigest()


def main(paths):
    print("| follower | seeds | final F | final-window F | follower samples per run | wall s per iteration |")
    print("|---|---|---|---|---|---|")
    for name, path in zip(NAMES, paths):
        db = store(path)
        runs = db.execute("SELECT id, final_F, window_F, iterations, wall_seconds FROM runs WHERE status='done'"
                          " ORDER BY id").fetchall()
        if not runs:
            continue
        samples = [db.execute("SELECT follower_samples_total FROM metrics WHERE run_id=? ORDER BY iteration DESC"
                              " LIMIT 1", (r[0],)).fetchone()[0] for r in runs]
        f, w = mean_se([r[1] for r in runs]), mean_se([r[2] for r in runs])
        per = sum(r[4] for r in runs) / sum(r[3] for r in runs)
        print(f"| {name} | {len(runs)} | {f[0]:.4f} ± {f[1]:.4f} | {w[0]:.4f} ± {w[1]:.4f} | {samples[0]:,}"
              f"{'' if len(set(samples)) == 1 else ' (varies)'} | {per:.4f} |")
    if len(paths) == 3:
        a, b = store(paths[1]), store(paths[2])
        ids = sorted({r[0] for r in a.execute("SELECT id FROM runs WHERE status='done'")} &
                     {r[0] for r in b.execute("SELECT id FROM runs WHERE status='done'")})
        same = content(a, ids) == content(b, ids)
        print(f"\nin-process and Python-process stores over runs {ids}: "
              f"{'identical' if same else 'DIFFERENT'} (md5 {content(a, ids)} and {content(b, ids)})")


main(sys.argv[1:])
