# follower protocol fault: answers NaN log-probabilities
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
receive()
S, A = hello["n_states"], hello["n_actions"]
send({"type": "policy", "pi": [1.0 / A] * (S * A), "log_pi": [None] * (S * A)})
sys.stdin.read()
