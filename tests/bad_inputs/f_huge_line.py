# follower protocol fault: writes a message of 100 MB
import json, sys
def send(m):
    sys.stdout.write(json.dumps(m) + "\n"); sys.stdout.flush()
def receive():
    return json.loads(sys.stdin.readline())
hello = receive()
send({"type": "hello", "protocol": 1})
receive()
chunk = "1," * 500000
try:
    sys.stdout.write("{\"type\": \"policy\", \"pi\": [")
    for _ in range(100):
        sys.stdout.write(chunk)
    sys.stdout.flush()
except BrokenPipeError:
    pass
