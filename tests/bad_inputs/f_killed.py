# follower protocol fault: killed by a signal mid-run
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
import os, signal
receive()
os.kill(os.getpid(), signal.SIGKILL)
