#!/usr/bin/env python3
"""A cbrl follower in plain Python (no numpy): tabular soft Q-learning from its own episodes.

It speaks cbrl's follower protocol (docs/FOLLOWER_PROTOCOL.md) on stdin/stdout:

  serve mode (the default): each leader iteration it plays `steps` steps in the environment cbrl
  serves (reset/step), learning as it goes, and answers its soft-greedy policy. It is the same
  learner as cbrl's in-process `follower: online` (cbrl_follower_online_create), draw for draw:
  its actions come from xoshiro256++ seeded as cbrl_rng_seed(seed, "online"), and every
  floating-point operation is the C code's, in the same order, so both give the same store.

  trajectories mode: it asks for the MDP with each iteration, learns in its own simulation of
  it, and brings a batch of its own trajectories (a binary frame of 32- or 12-byte records).

Run by cbrl, e.g.  follower: {command: "python3 examples/followers/online_q.py"}.
"""
import json
import math
import struct
import sys

M64 = (1 << 64) - 1
ONLINE_STREAM = 0x6F6E6C696E65  # "online", CBRL_ONLINE_STREAM


class Rng:
    """cbrl's generator (src/rng.c): xoshiro256++ seeded through splitmix64."""

    def __init__(self, seed, stream):
        x = [seed & M64]
        h = self._splitmix(x) ^ ((stream * 0xD1B54A32D192ED03) & M64)
        y = [h]
        self.s = [self._splitmix(y) for _ in range(4)]

    @staticmethod
    def _splitmix(x):
        x[0] = (x[0] + 0x9E3779B97F4A7C15) & M64
        z = x[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        result = (rotl((s[0] + s[3]) & M64, 23) + s[0]) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)


def categorical(w, u):
    """cbrl__categorical: inversion, zero weights skipped, the last positive weight as fallback."""
    last = 0
    for i, wi in enumerate(w):
        if wi <= 0.0:
            continue
        last = i
        if u < wi:
            return i
        u -= wi
    return last


def soft_value(q, lam):
    mx = q[0]
    for v in q[1:]:
        mx = v if v > mx else mx
    z = 0.0
    for v in q:
        z += math.exp((v - mx) / lam)
    return mx + lam * math.log(z)


def soft_policy_row(q, lam):
    v = soft_value(q, lam)
    log_pi = [(qa - v) / lam for qa in q]
    return [math.exp(l) for l in log_pi], log_pi


class Learner:
    def __init__(self, hello):
        self.S, self.A = hello["n_states"], hello["n_actions"]
        self.gamma, self.lam = hello["gamma"], hello["lambda"]
        self.rng = Rng(hello["seed"], ONLINE_STREAM)
        k = hello["n_contexts"]
        self.q = [[[0.0] * self.A for _ in range(self.S)] for _ in range(k)]
        self.n = [[[0.0] * self.A for _ in range(self.S)] for _ in range(k)]

    def act(self, q, s):
        pi, _ = soft_policy_row(q[s], self.lam)
        return categorical(pi, self.rng.uniform())

    def update(self, q, n, s, a, r, nxt, terminated):
        target = r + (self.gamma * soft_value(q[nxt], self.lam) if not terminated else 0.0)
        beta = 1.0 / math.pow(1.0 + n[s][a], 0.6)
        n[s][a] += 1.0
        q[s][a] = (1.0 - beta) * q[s][a] + beta * target

    def policy(self, q):
        pi, log_pi = [], []
        for s in range(self.S):
            p, l = soft_policy_row(q[s], self.lam)
            pi += p
            log_pi += l
        return pi, log_pi


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def serve_iteration(L, it):
    """Learns `steps` steps in the served environment, then answers the policy."""
    k, steps = it["context"], it["steps"]
    q, n = L.q[k], L.n[k]
    s = None
    for _ in range(steps):
        if s is None:
            send({"type": "reset"})
            s = receive()["state"]
        a = L.act(q, s)
        send({"type": "step", "action": a})
        obs = receive()
        L.update(q, n, s, a, obs["reward"], obs["state"], obs["terminated"])
        s = None if obs["terminated"] or obs["truncated"] else obs["state"]
    pi, log_pi = L.policy(q)
    send({"type": "policy", "pi": pi, "log_pi": log_pi})


class Model:
    """The MDP of an iteration, for the follower's own simulation (trajectories mode)."""

    def __init__(self, mdp, A):
        self.terminal, self.row, self.next = mdp["terminal"], mdp["row"], mdp["next"]
        self.prob, self.r, self.mu, self.A = mdp["prob"], mdp["r"], mdp["mu"], A

    def initial(self, rng):
        return categorical(self.mu, rng.uniform())

    def step(self, s, a, rng):
        if self.terminal[s]:
            return -1
        lo, hi = self.row[s * self.A + a], self.row[s * self.A + a + 1]
        return self.next[lo + categorical(self.prob[lo:hi], rng.uniform())]


def trajectories_iteration(L, it, train_steps, compact):
    """Learns in its own simulation of the MDP, then brings `steps` steps of its policy: compact
    records (no reward, no log pi) when cbrl's hello said it needs neither."""
    k, steps, streams, max_steps = it["context"], it["steps"], max(1, it["streams"]), it["max_steps"]
    model, q, n = Model(it["mdp"], L.A), L.q[k], L.n[k]
    s, t = None, 0
    for _ in range(train_steps):
        if s is None:
            s, t = model.initial(L.rng), 0
        a = L.act(q, s)
        nxt = model.step(s, a, L.rng)
        L.update(q, n, s, a, model.r[s * L.A + a], nxt, nxt < 0)
        t += 1
        s = None if nxt < 0 or (max_steps and t >= max_steps) else nxt
    pi, log_pi = L.policy(q)
    frame = bytearray()
    per = steps // streams
    for stream in range(streams):
        count = per if stream < streams - 1 else steps - per * (streams - 1)
        s, t = model.initial(L.rng), 0
        for i in range(count):
            a = categorical(pi[s * L.A:(s + 1) * L.A], L.rng.uniform())
            nxt = model.step(s, a, L.rng)
            t += 1
            flags = 1 if nxt < 0 else 2 if max_steps and t >= max_steps else 0
            if not flags and i == count - 1:
                flags = 4  # the stream ends mid-episode
            if compact:
                frame += struct.pack("<iiHH", s, nxt, a, flags)
            else:
                frame += struct.pack("<iiiIdd", s, a, nxt, flags, model.r[s * L.A + a], log_pi[s * L.A + a])
            if flags:
                s, t = model.initial(L.rng), 0
            else:
                s = nxt
    # A binary frame: the header line, then the records' bytes (docs/FOLLOWER_PROTOCOL.md).
    send({"type": "trajectories", "n": steps, "encoding": "binary", "record": "compact" if compact else "full",
          "bytes": len(frame), "samples": train_steps})
    sys.stdout.buffer.write(bytes(frame))
    sys.stdout.buffer.flush()


def main():
    train_steps = 2000
    for i, arg in enumerate(sys.argv):
        if arg == "--train-steps" and i + 1 < len(sys.argv):
            train_steps = int(sys.argv[i + 1])
    hello = receive()
    mode = hello.get("mode", "serve")
    send({"type": "hello", "protocol": 1, "name": "online_q.py", "wants_mdp": mode == "trajectories"})
    L = Learner(hello)
    while True:
        msg = receive()
        if msg["type"] == "bye":
            return
        if msg["type"] != "iteration":
            print(f"online_q.py: unexpected message {msg['type']}", file=sys.stderr)
            sys.exit(1)
        if mode == "serve":
            serve_iteration(L, msg)
        else:
            compact = not hello.get("needs_reward", True) and not hello.get("needs_log_pi", True)
            trajectories_iteration(L, msg, train_steps, compact)


if __name__ == "__main__":
    main()
