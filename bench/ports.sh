#!/usr/bin/env bash
# Benchmark: `portdoctor ports --all` vs `ss -tanp` vs `lsof -i -n -P`, on one throwaway
# network namespace holding N TCP sockets (established pairs on loopback, with owners), for
# each N given (default: 10000 100000). Needs root, python3, hyperfine, ss, lsof.
#
#   sudo bash bench/ports.sh [N...]
#
# Prints hyperfine's table per N and the ratios portdoctor/ss and portdoctor/lsof.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-10000 100000}")
read -r -a sizes <<<"${sizes[*]}"
cargo build --release -q -p portdoctor
pd="$PWD/target/release/portdoctor"
ns="pd-bench-$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
out=$(mktemp -d)
for n in "${sizes[@]}"; do
    cleanup
    pids=()
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    per=18000
    left=$n
    fifo="$out/ready.$n"
    : >"$fifo"
    while [ "$left" -gt 0 ]; do
        take=$((left < per ? left : per))
        ip netns exec "$ns" python3 bench/socket_holder.py "$take" >>"$fifo" &
        pids+=($!)
        left=$((left - take))
    done
    until [ "$(grep -c ready "$fifo")" -eq "${#pids[@]}" ]; do sleep 0.2; done
    have=$(ip netns exec "$ns" ss -tanH | wc -l)
    echo "== $n sockets requested, $have TCP sockets in $ns (${#pids[@]} holder processes)"
    hyperfine -N --warmup 1 --runs "${RUNS:-10}" --export-json "$out/$n.json" \
        -n portdoctor "ip netns exec $ns $pd ports --all" \
        -n ss "ip netns exec $ns ss -tanp" \
        -n lsof "ip netns exec $ns lsof -i -n -P"
    python3 - "$out/$n.json" "$n" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] for k, v in r.items()}
print(f"N={sys.argv[2]}: median portdoctor {med['portdoctor']*1000:.1f} ms, ss {med['ss']*1000:.1f} ms, "
      f"lsof {med['lsof']*1000:.1f} ms; portdoctor/ss = {med['portdoctor']/med['ss']:.2f}x, "
      f"portdoctor/lsof = {med['portdoctor']/med['lsof']:.3f}x")
PY
done
