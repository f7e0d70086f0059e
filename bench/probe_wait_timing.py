#!/usr/bin/env python3
"""How late does a waiter notice a port that opens? Starts the waiter command (argv after
`--`, with {port} replaced), binds+listens on ADDR:port after a random 200-700 ms, and measures
from the moment listen() returned to the moment the waiter exited (monotonic clock).
Usage: probe_wait_timing.py ADDR RUNS [--ns NETNS] -- CMD ARGS...   Prints one delay (ms) a line."""
import os, random, socket, subprocess, sys, time

addr, runs = sys.argv[1], int(sys.argv[2])
ns = None
rest = sys.argv[3:]
if rest and rest[0] == "--ns":
    ns, rest = rest[1], rest[2:]
cmd = rest[1:] if rest and rest[0] == "--" else rest
rng = random.Random(7)
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
for i in range(runs):
    port = 40000 + rng.randint(0, 9999)
    argv = [a.replace("{port}", str(port)) for a in cmd]
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.2, 0.7))
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)
    t_bind = time.monotonic_ns()
    p.wait()
    t_exit = time.monotonic_ns()
    s.close()
    print(f"{(t_exit - t_bind) / 1e6:.2f}", flush=True)
