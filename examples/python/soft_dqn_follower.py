"""A learning follower in PyTorch: soft DQN (docs/MODEL.md 2, soft Bellman targets) that
trains in the follower's environment and answers the leader with its softmax policy.

Each time the leader asks (x, context), the follower's Q network for that context (kept
warm across questions, as a learning agent would be) takes `updates` gradient steps on
batches of (s, a) pairs drawn uniformly, their successors drawn from cbrl.FollowerEnv used as
a generative model (reset(options={"state": s})), with the soft target
r + gamma * lambda * logsumexp(Q_target(s') / lambda), 0 after a terminal state; the answer
is pi = softmax(Q / lambda). HPGD then estimates the leader's gradient from trajectories of
that policy. Runs where Debian's python3-torch is installed:

    make python && PYTHONPATH=python /usr/bin/python3 examples/python/soft_dqn_follower.py [--quick]

It prints the leader's exact F at each iteration (x moves as the DQN follower answers) and the
gap between the DQN's policy and the exact soft best response at the last x.
"""
import argparse
import sys

import numpy as np

try:
    import torch
except ImportError:
    sys.exit("soft_dqn_follower.py needs PyTorch: apt-get install python3-torch")

import cbrl


class SoftDQN:
    """One Q network per context: one-hot states in, a Q value per action out."""

    def __init__(self, problem, updates=300, batch=256, lr=3e-3, target_every=25, hidden=64):
        self.problem, self.updates, self.batch, self.target_every = problem, updates, batch, target_every
        self.lr, self.hidden = lr, hidden
        self.nets = {}

    def _net(self, context):
        if context not in self.nets:
            S, A = self.problem.n_states, self.problem.n_actions
            net = torch.nn.Sequential(torch.nn.Linear(S, self.hidden), torch.nn.ReLU(),
                                      torch.nn.Linear(self.hidden, A)).double()
            target = torch.nn.Sequential(torch.nn.Linear(S, self.hidden), torch.nn.ReLU(),
                                         torch.nn.Linear(self.hidden, A)).double()
            target.load_state_dict(net.state_dict())
            self.nets[context] = (net, target, torch.optim.Adam(net.parameters(), lr=self.lr))
        return self.nets[context]

    def __call__(self, x, context, ctx):
        """The follower callback: learn in ctx's environment, answer softmax(Q / lambda)."""
        torch.manual_seed(ctx.seed() & 0x7FFFFFFFFFFFFFFF)   # reproducible under the leader's seed
        rng = np.random.default_rng(ctx.seed())
        env = ctx.env()
        env.reset(seed=int(rng.integers(2**63)))
        S, A = self.problem.n_states, self.problem.n_actions
        lam, gamma = self.problem.lam, self.problem.gamma
        net, target, opt = self._net(context)
        eye = torch.eye(S, dtype=torch.float64)
        for u in range(self.updates):
            s = rng.integers(S, size=self.batch)
            a = rng.integers(A, size=self.batch)
            nxt, rew, done = np.empty(self.batch, np.int64), np.empty(self.batch), np.empty(self.batch)
            for i in range(self.batch):
                env.reset(options={"state": int(s[i])})
                nxt[i], rew[i], done[i], _, _ = env.step(int(a[i]))
            with torch.no_grad():
                v_next = lam * torch.logsumexp(target(eye[nxt]) / lam, dim=1)
                y = torch.from_numpy(rew) + gamma * (1 - torch.from_numpy(done)) * v_next
            q = net(eye[s]).gather(1, torch.from_numpy(a)[:, None])[:, 0]
            loss = torch.nn.functional.smooth_l1_loss(q, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if (u + 1) % self.target_every == 0:
                target.load_state_dict(net.state_dict())
        with torch.no_grad():
            logits = net(eye) / lam
            log_pi = torch.log_softmax(logits, dim=1).numpy()
        return np.exp(log_pi), log_pi


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a few small iterations (a smoke test)")
    ap.add_argument("--iterations", type=int, default=30)
    args = ap.parse_args()
    # A temperature at which the soft best response is smooth enough for a small network.
    p = cbrl.Problem.env("four-rooms", beta=3, lam=0.05)
    iterations, updates = (3, 20) if args.quick else (args.iterations, 300)
    dqn = SoftDQN(p, updates=updates)
    leader = cbrl.Leader(p, algorithm="hpgd-batch", follower=cbrl.Follower.from_callable(p, dqn, "soft-dqn"),
                         learning_rate=0.5, hpgd_steps=2000, seed=1)
    for t in range(iterations):
        m = leader.step()
        print("iteration %2d  context %d  exact F(x_t) %.4f" % (m["iteration"], m["context"], m["F"]))
    e = p.exact()
    e.evaluate(leader.x)
    for k in range(p.n_contexts):
        if k in dqn.nets:
            ctx_pi, _ = cbrl.Follower.from_callable(p, dqn).respond(leader.x, k, seed=0)
            gap = 0.5 * np.abs(ctx_pi - e.policy(k)).sum(axis=1)
            print("context %d: total variation from the exact soft best response, mean over states %.3f"
                  % (k, gap.mean()))


if __name__ == "__main__":
    main()
