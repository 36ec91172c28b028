# follower protocol fault: writes half a message, then exits 0
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
receive()
sys.stdout.write("{\"type\": \"policy\", \"pi\": [0.2"); sys.stdout.flush()
