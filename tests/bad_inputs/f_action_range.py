# follower protocol fault: takes an action out of range
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
receive()
send({"type": "reset"}); receive()
send({"type": "step", "action": 7}); receive()
