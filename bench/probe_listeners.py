#!/usr/bin/env python3
"""Listens on N random TCP ports of an address (default 300 on 127.0.0.1), writes the ports,
one a line, to the file given, then sleeps until killed. Used by bench/probe.sh."""
import random, socket, sys, time

addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
out = sys.argv[3] if len(sys.argv) > 3 else "/dev/stdout"
socks, ports = [], []
rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 5)
while len(ports) < n:
    p = rng.randint(1024, 65535)
    if p in ports:
        continue
    s = socket.socket()
    try:
        s.bind((addr, p))
    except OSError:
        s.close()
        continue
    s.listen(1024)
    socks.append(s)
    ports.append(p)
with open(out, "w") as f:
    f.write("\n".join(str(p) for p in sorted(ports)) + "\n")
while True:
    time.sleep(3600)
