#!/usr/bin/env bash
# Benchmark: `portdoctor open 8080 --yes` followed by `portdoctor undo` on a 10,000-rule nft
# ruleset (plus a default-deny chain the change must get past), against a plain
# `nft add rule` / `nft delete rule … handle H` pair doing the same insertion, in the same run.
# portdoctor's side also reads every backend, plans and checks the change on a copy, saves the
# old ruleset to its journal, re-reads and re-evaluates afterwards.
# Needs root and hyperfine.
#
#   sudo bash bench/fix.sh [RULES]
set -euo pipefail
cd "$(dirname "$0")/.."
rules=${1:-10000}
cargo build --release -q -p portdoctor -p portdoctor-firewall --examples --bins
pd="$PWD/target/release/portdoctor"
ns="pd-bench-fix-$$"
tmp=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add veth-h type veth peer name veth-x
ip -n "$ns" addr add 198.18.0.1/24 dev veth-h
ip -n "$ns" link set veth-h up; ip -n "$ns" link set veth-x up
target/release/examples/gen_ruleset nft "$rules" >"$tmp/rules.nft"
ip netns exec "$ns" nft -f "$tmp/rules.nft"
printf 'table inet pdbench {\n chain input { type filter hook input priority 5; policy drop;\n  ct state established,related accept\n }\n}\n' | ip netns exec "$ns" nft -f -
echo "rules loaded: $(ip netns exec "$ns" nft -a list ruleset | grep -c handle)"
cat >"$tmp/pd.sh" <<S
PORTDOCTOR_STATE_DIR=$tmp/state $pd open 8080 --yes >/dev/null && PORTDOCTOR_STATE_DIR=$tmp/state $pd undo >/dev/null
S
cat >"$tmp/nft.sh" <<'S'
h=$(nft -e -a add rule inet pdbench input tcp dport 8080 accept comment '"x"' | grep -o 'handle [0-9]*' | cut -d' ' -f2)
nft delete rule inet pdbench input handle "$h"
S
ip netns exec "$ns" bash "$tmp/pd.sh"
ip netns exec "$ns" "$pd" history 2>/dev/null | head -2 || true
hyperfine -N --warmup 1 --runs "${RUNS:-10}" --export-json "$tmp/r.json" \
    -n "portdoctor open+undo" "ip netns exec $ns bash $tmp/pd.sh" \
    -n "nft add+delete" "ip netns exec $ns bash $tmp/nft.sh"
python3 - "$tmp/r.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
a, b = r["portdoctor open+undo"], r["nft add+delete"]
print(f"portdoctor open+undo median {a*1000:.0f} ms; nft add+delete {b*1000:.0f} ms; ratio {a/b:.2f}x")
PY
