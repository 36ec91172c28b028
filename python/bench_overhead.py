"""The Python layer's overhead on a leader iteration (docs/BENCHMARKS.md, Python).

Four-Rooms (lambda 0.003, beta 3), HPGD with the batch estimator (10,000 steps as 5 streams,
cut at 200), lr 0.1: the iteration `cbrl_bench` times. Compared, as medians per iteration:

  C          cbrl_leader_step in a C loop, the follower a C exact soft best response;
  python     Leader.step from a Python loop, the follower a Python policy-table callback
             (cbrl.Follower.from_callable) that asks its own C exact follower for the table
             and returns it, so the two do the same solve and the same estimate;
  py-loop    Leader.step from a Python loop with the C follower (the loop's share alone).

The callback's own time is split into the C solve and the rest (crossing into Python,
building the answer's arrays, checking and copying the table).

  PYTHONPATH=python /usr/bin/python3 python/bench_overhead.py [--iters N] [--rounds R] [--wall]
"""
import argparse
import os
import platform
import statistics
import time

import numpy as np

import cbrl


def problem():
    return cbrl.Problem.env("four-rooms", beta=3, lam=0.003)


def leader(p, follower, seed):
    return cbrl.Leader(p, algorithm="hpgd-batch", follower=follower, learning_rate=0.1, seed=seed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--wall", action="store_true", help="wall-clock times (default: this thread's CPU time, "
                    "which a shared machine's other load disturbs less)")
    args = ap.parse_args()
    clock = time.perf_counter if args.wall else time.thread_time
    cpu = not args.wall
    p = problem()
    results = {"C": [], "python": [], "py-loop": []}
    split = {"solve": [], "callback_rest": []}
    for r in range(args.rounds):
        # C: the C loop with a C exact follower.
        L = leader(p, cbrl.Follower.exact(p), seed=r)
        L.time_steps_in_c(args.warmup, cpu=cpu)
        results["C"].append(float(np.median(L.time_steps_in_c(args.iters, cpu=cpu))))
        # py-loop: the Python loop, same C follower.
        L = leader(p, cbrl.Follower.exact(p), seed=r)
        for _ in range(args.warmup):
            L.step(False)
        t = []
        for _ in range(args.iters):
            t0 = clock()
            L.step(False)
            t.append(clock() - t0)
        results["py-loop"].append(statistics.median(t))
        # python: the Python loop, a Python policy-table follower.
        inner = cbrl.Follower.exact(p)
        inside = []

        def respond(x, context, ctx):
            t0 = clock()
            pi, log_pi = inner.respond(x, context, mdp=ctx.mdp)
            inside.append(clock() - t0)
            return pi, log_pi

        L = leader(p, cbrl.Follower.from_callable(p, respond), seed=r)
        for _ in range(args.warmup):
            L.step(False)
        del inside[:]
        t = []
        for _ in range(args.iters):
            t0 = clock()
            L.step(False)
            t.append(clock() - t0)
        results["python"].append(statistics.median(t))
        split["solve"].append(statistics.median(inside))
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print("CPU: %s; Python %s; numpy %s; load %s" % (cpu, platform.python_version(), np.__version__,
                                                      " ".join("%.2f" % v for v in os.getloadavg())))
    print("medians per iteration over %d iterations, per round (ms of %s):"
          % (args.iters, "wall-clock time" if args.wall else "thread CPU time"))
    for k, v in results.items():
        print("  %-8s %s   median of rounds %.3f" % (k, " ".join("%.3f" % (1e3 * t) for t in v),
                                                    1e3 * statistics.median(v)))
    c, py, loop = (statistics.median(results[k]) for k in ("C", "python", "py-loop"))
    print("overhead of the Python follower loop over C: %.1f %%" % (100 * (py / c - 1)))
    print("  of which the Python loop calling Leader.step: %.3f ms" % (1e3 * (loop - c)))
    print("  the follower's C solve inside the callback: %.3f ms (median)" % (1e3 * statistics.median(split["solve"])))
    print("  the rest (callback crossing, FollowerContext, MDP view, checks, copies): %.3f ms"
          % (1e3 * (py - loop)))


if __name__ == "__main__":
    main()
