# follower protocol fault: brings one step fewer than asked
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
import base64, struct
it = receive()
n = it["steps"] - 1
rec = struct.pack("<iiiIdd", 0, 0, 1, 0, 0.0, 0.0)
send({"type": "trajectories", "n": n, "encoding": "base64", "data": base64.b64encode(rec * n).decode()})
sys.stdin.read()
