#!/usr/bin/env bash
# Benchmark: `portdoctor scan` / `wait` vs the tools a user would reach for, one run, ratios.
#   (a) scan 127.0.0.1 -p- with 300 listeners    vs  nmap -sT -p- -T5 -n -Pn 127.0.0.1
#   (b) 1,000 ports dropped by nft, from a peer   vs  nmap -sT -T5 -n -Pn on the same ports
#   (c) wait noticing a port that opens: delay from the listener's listen() to wait's exit,
#       vs wait-for-it.sh's loop (bash /dev/tcp probe, `sleep 1` between tries)
# Everything runs inside throwaway network namespaces (pd-bench-probe-<pid>-*): loopback and
# 198.18.0.0/24 only; the host's own ruleset and addresses are not touched.
# Needs root, nmap, hyperfine, python3, nft, ip.   sudo bash bench/probe.sh
# Env: RUNS_A (default 10), RUNS_B (default 3), RUNS_C (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS_A=${RUNS_A:-10}
RUNS_B=${RUNS_B:-3}
RUNS_C=${RUNS_C:-20}
cargo build --release -q -p portdoctor
pd="$PWD/target/release/portdoctor"
h="pd-bench-probe-$$-h"
p="pd-bench-probe-$$-p"
tmp=$(mktemp -d)
pids=()
cleanup() {
    for x in "${pids[@]}"; do kill "$x" 2>/dev/null || true; done
    ip netns del "$h" 2>/dev/null || true
    ip netns del "$p" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$h"
ip netns add "$p"
ip link add "vb$$h" type veth peer name "vb$$p"
ip link set "vb$$h" netns "$h"
ip link set "vb$$p" netns "$p"
ip -n "$h" addr add 198.18.0.1/24 dev "vb$$h"
ip -n "$p" addr add 198.18.0.2/24 dev "vb$$p"
for ns in "$h" "$p"; do ip -n "$ns" link set lo up; done
ip -n "$h" link set "vb$$h" up
ip -n "$p" link set "vb$$p" up

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join(str(x["median"]) for x in r))' "$1"; }
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:3]); print(f"{a/b:.3f}")' "$1" "$2"; }

echo "== (a) scan 127.0.0.1 -p- with 300 listeners (in namespace $h), $RUNS_A runs each"
ip netns exec "$h" python3 bench/probe_listeners.py 127.0.0.1 300 "$tmp/ports" &
pids+=($!)
until [ -s "$tmp/ports" ]; do sleep 0.1; done
ip netns exec "$h" "$pd" scan 127.0.0.1 -p- --open --json |
    python3 -c 'import json,sys; print("\n".join(str(r["port"]) for r in json.load(sys.stdin)["results"]))' |
    sort -n >"$tmp/ours.a"
ip netns exec "$h" nmap -sT -p- -T5 -n -Pn 127.0.0.1 -oX - |
    grep -o 'portid="[0-9]*"><state state="open"' | grep -o '[0-9]*' | sort -n >"$tmp/nmap.a"
sort -n "$tmp/ports" >"$tmp/want.a"
if cmp -s "$tmp/ours.a" "$tmp/nmap.a" && cmp -s "$tmp/ours.a" "$tmp/want.a"; then
    echo "open sets identical: $(wc -l <"$tmp/ours.a") ports (portdoctor = nmap = listeners)"
else
    echo "OPEN SETS DIFFER: portdoctor $(wc -l <"$tmp/ours.a"), nmap $(wc -l <"$tmp/nmap.a"), listeners $(wc -l <"$tmp/want.a")"
fi
hyperfine -N --warmup 2 --runs "$RUNS_A" --export-json "$tmp/a.json" \
    -n portdoctor "ip netns exec $h $pd scan 127.0.0.1 -p- --open --json" \
    -n nmap "ip netns exec $h nmap -sT -p- -T5 -n -Pn 127.0.0.1 -oX /dev/null"
read -r a_pd a_nm < <(median "$tmp/a.json")
echo "RATIO (a) portdoctor/nmap = $(ratio "$a_pd" "$a_nm")  (medians ${a_pd}s / ${a_nm}s; target <= 0.5)"

echo
echo "== (b) 1000 ports dropped by nft (198.18.0.1:20000-20999), probed from the peer, $RUNS_B runs each"
ip netns exec "$h" nft -f - <<'NFT'
table inet pd_bench {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 20000-20999 drop
  }
}
NFT
ours_b=$(ip netns exec "$p" "$pd" scan 198.18.0.1 -p 20000-20999 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["filtered"])')
nmap_b=$(ip netns exec "$p" nmap -sT -T5 -n -Pn -p 20000-20999 198.18.0.1 -oX - |
    grep -o '<extraports state="filtered" count="[0-9]*"' | grep -o 'count="[0-9]*' | grep -o '[0-9]*' || echo 0)
echo "filtered: portdoctor $ours_b, nmap $nmap_b (of 1000)"
hyperfine -N --warmup 0 --runs "$RUNS_B" --style basic --export-json "$tmp/b.json" \
    -n portdoctor "ip netns exec $p $pd scan 198.18.0.1 -p 20000-20999 --json" \
    -n nmap "ip netns exec $p nmap -sT -T5 -n -Pn -p 20000-20999 198.18.0.1 -oX /dev/null"
read -r b_pd b_nm < <(median "$tmp/b.json")
echo "RATIO (b) portdoctor/nmap = $(ratio "$b_pd" "$b_nm")  (medians ${b_pd}s / ${b_nm}s; target <= 0.5)"

ip netns exec "$h" nft delete table inet pd_bench

echo
echo "== (c) wait noticing a port that opens ($RUNS_C runs each; delay = listen() -> waiter exit, ms)"
stats() { python3 -c 'import statistics as s,sys; v=sorted(float(x) for x in open(sys.argv[1])); print(f"median {s.median(v):.1f} ms, p90 {v[int(len(v)*0.9)-1]:.1f} ms, max {v[-1]:.1f} ms")' "$1"; }
ip netns exec "$h" python3 bench/probe_wait_timing.py 127.0.0.1 "$RUNS_C" -- \
    "$pd" wait "127.0.0.1:{port}" --timeout 10s -q >"$tmp/c.pd"
ip netns exec "$h" python3 bench/probe_wait_timing.py 127.0.0.1 "$RUNS_C" -- \
    bash -c 'until (echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 1; done' >"$tmp/c.wfi"
ip netns exec "$h" python3 bench/probe_wait_timing.py 198.18.0.1 "$RUNS_C" --ns "$p" -- \
    "$pd" wait "198.18.0.1:{port}" --timeout 10s -q >"$tmp/c.pdr"
ip netns exec "$h" python3 bench/probe_wait_timing.py 198.18.0.1 "$RUNS_C" --ns "$p" -- \
    "$pd" wait "198.18.0.1:{port}" --timeout 10s --interval 10ms -q >"$tmp/c.pdr10"
c_pd=$(python3 -c 'import statistics as s,sys; print(s.median(float(x) for x in open(sys.argv[1])))' "$tmp/c.pd")
c_wfi=$(python3 -c 'import statistics as s,sys; print(s.median(float(x) for x in open(sys.argv[1])))' "$tmp/c.wfi")
echo "portdoctor wait, loopback (cap 10 ms):     $(stats "$tmp/c.pd")   (target <= 20 ms)"
echo "wait-for-it loop, loopback (sleep 1):      $(stats "$tmp/c.wfi")"
echo "portdoctor wait, peer -> host (cap 1 s):   $(stats "$tmp/c.pdr")"
echo "same, --interval 10ms:                     $(stats "$tmp/c.pdr10")"
echo "RATIO (c) portdoctor/wait-for-it (median delay) = $(ratio "$c_pd" "$c_wfi")"
