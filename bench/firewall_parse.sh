#!/usr/bin/env bash
# Side-by-side: `nft -j list ruleset` (what the user would run, and what portdoctor must run
# anyway) versus portdoctor's parse+index of that output, for a 10,000-rule ruleset loaded in a
# throwaway network namespace. Prints both times and the ratio (target: <= 0.5).
#
# Usage (root): bench/firewall_parse.sh [RULES] [RUNS]
set -euo pipefail
N=${1:-10000}
RUNS=${2:-5}
cd "$(dirname "$0")/.."
NS="pd-bench-$$"
TMP=$(mktemp -d)
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
cargo build -q --release -p portdoctor-firewall --examples
EX=target/release/examples
ip netns add "$NS"
"$EX/gen_ruleset" nft "$N" > "$TMP/rules.nft"
"$EX/gen_ruleset" iptables "$N" > "$TMP/rules.ipt"
ip netns exec "$NS" nft -f "$TMP/rules.nft"
ip netns exec "$NS" iptables-legacy-restore < "$TMP/rules.ipt"
ms() { python3 -c 'import sys,time; print(f"{(time.time_ns()-int(sys.argv[1]))/1e6:.1f}")' "$1"; }
best_nft=""; best_save=""; best_pd=""; best_pdi=""
for _ in $(seq "$RUNS"); do
  t=$(date +%s%N); ip netns exec "$NS" nft -j list ruleset > "$TMP/rules.json"; d=$(ms "$t")
  best_nft=$(python3 -c "print(min(float('$d'), float('${best_nft:-1e9}')))")
  t=$(date +%s%N); ip netns exec "$NS" iptables-legacy-save > "$TMP/saved.ipt"; d=$(ms "$t")
  best_save=$(python3 -c "print(min(float('$d'), float('${best_save:-1e9}')))")
  # parse+index time as measured inside the process (excludes process start and file read)
  p=$("$EX/parse_ruleset" "$TMP/rules.json" nft 10.3.0.5 198.18.0.1 22 eth0 | sed -n 1p)
  d=$(sed -E 's/.*parse_index_ms=([0-9.]+).*/\1/' <<<"$p")
  best_pd=$(python3 -c "print(min(float('$d'), float('${best_pd:-1e9}')))")
  p=$("$EX/parse_ruleset" "$TMP/saved.ipt" iptables 10.3.0.5 198.18.0.1 22 eth0 | sed -n 1p)
  d=$(sed -E 's/.*parse_index_ms=([0-9.]+).*/\1/' <<<"$p")
  best_pdi=$(python3 -c "print(min(float('$d'), float('${best_pdi:-1e9}')))")
done
echo "rules=$N runs=$RUNS (best of)"
echo "nft -j list ruleset:            ${best_nft} ms"
echo "portdoctor parse+index (nft):   ${best_pd} ms   ratio $(python3 -c "print(round($best_pd/$best_nft,3))")"
echo "iptables-legacy-save:           ${best_save} ms"
echo "portdoctor parse+index (ipt):   ${best_pdi} ms   ratio $(python3 -c "print(round($best_pdi/$best_save,3))")"
"$EX/parse_ruleset" "$TMP/rules.json" nft 10.3.0.5 198.18.0.1 22 eth0 | sed -n 1p
