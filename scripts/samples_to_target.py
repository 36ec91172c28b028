#!/usr/bin/env python3
"""Follower samples each learning curve needs to reach a fraction of a reference line's final F
(issue 5's learning-curve comparison).

Usage: python3 scripts/samples_to_target.py REFERENCE_STORE [--fraction 0.9] [--gain] STORE [STORE...]

REFERENCE_STORE holds the exact-follower runs; its mean final-window F over seeds, times the
fraction, is the target. With --gain the target is instead the fraction of the reference's
gain over its first stored F (for objectives that do not start near 0, such as welfare). For every (algorithm, store) of the other stores the curve is the
mean over seeds of the stored F at each metric iteration, paired with the mean cumulative
follower samples there; the script prints, as Markdown, the first point where the mean curve
reaches the target (or "not reached") and the final-window F.
"""
import os
import sqlite3
import sys


def runs(db):
    if os.path.isdir(db):
        db = os.path.join(db, "results.sqlite")
    c = sqlite3.connect(db)
    store = os.path.basename(os.path.dirname(os.path.abspath(db)))
    out = {}
    for rid, alg, wf in c.execute("select id, algorithm, window_F from runs where status='done'"):
        out.setdefault((alg, store), []).append((rid, wf))
    return c, out


def main(argv):
    fraction, paths, gain = 0.9, [], False
    i = 0
    while i < len(argv):
        if argv[i] == "--fraction":
            fraction, i = float(argv[i + 1]), i + 2
        elif argv[i] == "--gain":
            gain, i = True, i + 1
        else:
            paths.append(argv[i])
            i += 1
    if len(paths) < 2:
        print(__doc__)
        return 2
    rc, ref = runs(paths[0])
    finals = [wf for group in ref.values() for _, wf in group]
    final = sum(finals) / len(finals)
    if gain:
        firsts = [rc.execute("select F from metrics where run_id=? and F is not null order by iteration limit 1",
                             (rid,)).fetchone()[0] for group in ref.values() for rid, _ in group]
        first = sum(firsts) / len(firsts)
        target = first + fraction * (final - first)
        print(f"Reference: exact follower, F {first:.3f} at its first stored iteration, final-window F "
              f"{final:.3f} over {len(finals)} runs; target {first:.3f} + {fraction:g} x the gain = {target:.3f}.\n")
    else:
        target = fraction * final
        print(f"Reference: exact follower, final-window F {final:.3f} over "
              f"{len(finals)} runs; target {fraction:g} x that = {target:.3f}.\n")
    print("| algorithm | store | seeds | follower samples to the target | iteration | final-window F |")
    print("|---|---|---|---|---|---|")
    for path in paths[1:]:
        c, groups = runs(path)
        for (alg, store), group in sorted(groups.items()):
            curves = []
            for rid, _ in group:
                curves.append(c.execute("select iteration, F, follower_samples_total from metrics "
                                        "where run_id=? and F is not null order by iteration",
                                        (rid,)).fetchall())
            n = min(len(cv) for cv in curves)
            hit = None
            for k in range(n):
                f = sum(cv[k][1] for cv in curves) / len(curves)
                if f >= target:
                    samples = sum(cv[k][2] or 0 for cv in curves) / len(curves)
                    hit = (samples, curves[0][k][0])
                    break
            wf = sum(w for _, w in group) / len(group)
            reached = f"{hit[0]:.3g}" if hit else "not reached"
            it = str(hit[1]) if hit else "–"
            print(f"| {alg} | {store} | {len(group)} | {reached} | {it} | {wf:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
