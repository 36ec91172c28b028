# follower protocol fault: hangs after the iteration message
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
import time
receive()
time.sleep(3600)
