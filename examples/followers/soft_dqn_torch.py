#!/usr/bin/env python3
"""A cbrl follower with a neural network: soft DQN in PyTorch (Debian's python3-torch).

It speaks cbrl's follower protocol (docs/FOLLOWER_PROTOCOL.md) in serve mode: each leader
iteration it plays `steps` steps in the environment cbrl serves, learning from a replay buffer
with the soft Bellman target

    y = r + gamma (1 - terminated) lambda logsumexp(Q_target(s') / lambda),

and answers the policy softmax(Q(s) / lambda) of every state. Its network, buffer and target
network live across leader iterations (one network per context), as a real learner's would.
States reach the network as one-hot vectors; a follower of a larger environment would use its
own features. Not run by the tests (PyTorch is not a build dependency):

    apt-get install python3-torch
    cbrl run configs/followers/four_rooms.yaml --out runs/dqn --set seeds=1 \\
        --set 'follower={command: "/usr/bin/python3 examples/followers/soft_dqn_torch.py"}'
"""
import json
import random
import sys

import torch
import torch.nn.functional as F


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


class Agent:
    def __init__(self, S, A, gamma, lam, seed, hidden=128, lr=1e-3, batch=64, buffer=50000, sync=500):
        torch.manual_seed(seed)
        self.rand = random.Random(seed)
        self.S, self.A, self.gamma, self.lam = S, A, gamma, lam
        make = lambda: torch.nn.Sequential(torch.nn.Linear(S, hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(hidden, A))
        self.q, self.target = make(), make()
        self.target.load_state_dict(self.q.state_dict())
        self.opt = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.batch, self.capacity, self.sync = batch, buffer, sync
        self.buffer, self.updates = [], 0
        self.eye = torch.eye(S)

    def act(self, s):
        with torch.no_grad():
            logits = self.q(self.eye[s]) / self.lam
            return int(torch.distributions.Categorical(logits=logits).sample())

    def remember(self, s, a, r, s2, terminated):
        item = (s, a, r, max(s2, 0), float(terminated))
        if len(self.buffer) < self.capacity:
            self.buffer.append(item)
        else:
            self.buffer[self.rand.randrange(self.capacity)] = item

    def learn(self):
        if len(self.buffer) < self.batch:
            return
        s, a, r, s2, done = zip(*self.rand.sample(self.buffer, self.batch))
        s, s2 = self.eye[list(s)], self.eye[list(s2)]
        a = torch.tensor(a)
        r, done = torch.tensor(r, dtype=torch.float32), torch.tensor(done)
        with torch.no_grad():
            v2 = self.lam * torch.logsumexp(self.target(s2) / self.lam, dim=1)
            y = r + self.gamma * (1.0 - done) * v2
        q = self.q(s).gather(1, a[:, None]).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.updates += 1
        if self.updates % self.sync == 0:
            self.target.load_state_dict(self.q.state_dict())

    def policy(self):
        with torch.no_grad():
            log_pi = torch.log_softmax(self.q(self.eye).double() / self.lam, dim=1)
        return log_pi.exp().flatten().tolist(), log_pi.flatten().tolist()


def main():
    hello = receive()
    if hello.get("mode", "serve") != "serve":
        send({"type": "error", "message": "soft_dqn_torch.py speaks serve mode only"})
        return
    send({"type": "hello", "protocol": 1, "name": "soft_dqn_torch.py"})
    agents = {}
    while True:
        msg = receive()
        if msg["type"] == "bye":
            return
        k = msg["context"]
        if k not in agents:
            agents[k] = Agent(hello["n_states"], hello["n_actions"], hello["gamma"], hello["lambda"],
                              hello["seed"] * 1000 + k)
        agent, s = agents[k], None
        for _ in range(msg["steps"]):
            if s is None:
                send({"type": "reset"})
                s = receive()["state"]
            a = agent.act(s)
            send({"type": "step", "action": a})
            obs = receive()
            agent.remember(s, a, obs["reward"], obs["state"], obs["terminated"])
            agent.learn()
            s = None if obs["terminated"] or obs["truncated"] else obs["state"]
        pi, log_pi = agent.policy()
        # Rows of float64 softmax sum to 1 within rounding; cbrl checks 1e-9.
        send({"type": "policy", "pi": pi, "log_pi": log_pi})


if __name__ == "__main__":
    main()
