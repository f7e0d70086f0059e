#!/usr/bin/env bash
# Benchmark: `portdoctor diagnose 8080` wall time with local evidence, in a throwaway network
# namespace holding 10,000 TCP sockets and a 10,000-rule nft ruleset (target: <= 0.5x the time
# of `nft -j list ruleset`). The same run times diagnose with the nft -j reader
# (PORTDOCTOR_NFT_READER=json), `ss -tanp` and `nft -j list ruleset` (the tools a user would
# read by hand). Needs root, python3, hyperfine.
#
#   sudo bash bench/diagnose.sh [SOCKETS] [RULES]
set -euo pipefail
cd "$(dirname "$0")/.."
sockets=${1:-10000}
rules=${2:-10000}
cargo build --release -q -p portdoctor -p portdoctor-firewall --examples --bins
tdir=${CARGO_TARGET_DIR:-$PWD/target}
pd="$tdir/release/portdoctor"
ns="pd-bench-$$"
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add dummy0 type veth peer name dummy1
ip -n "$ns" addr add 198.18.0.1/24 dev dummy0
ip -n "$ns" link set dummy0 up; ip -n "$ns" link set dummy1 up
"$tdir/release/examples/gen_ruleset" nft "$rules" >"$tmp/rules.nft"
ip netns exec "$ns" nft -f "$tmp/rules.nft"
echo "loaded $(ip netns exec "$ns" nft -a list ruleset | grep -c handle) nft objects"
ip netns exec "$ns" python3 bench/socket_holder.py "$sockets" >"$tmp/ready1" &
pids+=($!)
ip netns exec "$ns" python3 -c 'import socket,time; s=socket.socket(); s.bind(("0.0.0.0",8080)); s.listen(); print("ready",flush=True); time.sleep(3600)' >"$tmp/ready2" &
pids+=($!)
until grep -q ready "$tmp/ready1" 2>/dev/null && grep -q ready "$tmp/ready2" 2>/dev/null; do sleep 0.2; done
echo "sockets in $ns: $(ip netns exec "$ns" ss -tanH | wc -l)"
echo "what diagnose finds there (exit 1 = an error finding, expected with this ruleset):"
ip netns exec "$ns" "$pd" diagnose 8080 | head -4 || true
hyperfine -N -i --warmup 1 --runs "${RUNS:-10}" --export-json "$tmp/d.json" \
    -n diagnose "ip netns exec $ns $pd diagnose 8080 --json" \
    -n "diagnose (nft -j reader)" "env PORTDOCTOR_NFT_READER=json ip netns exec $ns $pd diagnose 8080 --json" \
    -n "ss -tanp" "ip netns exec $ns ss -tanp" \
    -n "nft -j list ruleset" "ip netns exec $ns nft -j list ruleset"
python3 - "$tmp/d.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
d, dj, ss, nft = r['diagnose'], r['diagnose (nft -j reader)'], r['ss -tanp'], r['nft -j list ruleset']
print(f"diagnose median {d*1000:.0f} ms (native nft reader; {dj*1000:.0f} ms through nft -j); "
      f"ss -tanp {ss*1000:.0f} ms; nft -j list ruleset {nft*1000:.0f} ms")
print(f"diagnose/nft = {d/nft:.2f}x (target <= 0.5x); diagnose/(ss+nft) = {d/(ss+nft):.2f}x; "
      f"with the nft -j reader: {dj/nft:.2f}x of nft")
PY
