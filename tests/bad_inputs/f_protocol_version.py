# follower protocol fault: speaks another protocol version
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 2})
sys.stdin.read()
