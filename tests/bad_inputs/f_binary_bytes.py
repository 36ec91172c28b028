# follower protocol fault: a binary frame whose byte count claims 10^15 bytes
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
it = receive()
send({"type": "trajectories", "n": it["steps"], "encoding": "binary", "bytes": 10**15})
sys.stdin.read()
