# follower protocol fault: claims a batch of 10^15 steps
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
receive()
send({"type": "trajectories", "n": 10**15, "encoding": "base64", "data": ""})
sys.stdin.read()
