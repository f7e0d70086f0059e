"""Holds COUNT TCP sockets open (established pairs over loopback) until killed.

Used by bench/ports.sh; one process holds at most ~18,000 descriptors (the per-process limit
here is 20,000), so the script starts several.
"""
import resource
import socket
import sys
import time

count = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1024)
held = [listener]
while len(held) < count:
    c = socket.create_connection(listener.getsockname())
    s, _ = listener.accept()
    held += [c, s]
print("ready", flush=True)
while True:
    time.sleep(3600)
