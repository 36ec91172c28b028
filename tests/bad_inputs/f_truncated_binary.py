# follower protocol fault: a binary frame cut off halfway, then exit 0
import json, struct, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
it = receive()
n = it["steps"]
send({"type": "trajectories", "n": n, "encoding": "binary", "bytes": 32 * n})
sys.stdout.buffer.write(struct.pack("<iiiIdd", 0, 0, 1, 0, 0.0, 0.0) * (n // 2))
sys.stdout.buffer.flush()
