#!/usr/bin/env bash
# Re-record the native-reader fixtures from a throwaway network namespace (root needed):
# for each NAME.nft here, NAME.bin (the raw netlink dump, as the kernel sends it),
# NAME.json (`nft -j list ruleset`), NAME.netlink.txt (`nft --debug=netlink list ruleset`)
# and NAME.txt (`nft list ruleset`). The host's own ruleset is never touched.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../../.. && pwd)
NS="pd-native-rec-$$"
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
x() { ip netns exec "$NS" "$@"; }
(cd "$root" && cargo test -q -p portdoctor-firewall --test native --no-run 2>/dev/null)
bin=$(cd "$root" && cargo test -q -p portdoctor-firewall --test native --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="native": print(m["executable"])')
for f in *.nft; do
    name=${f%.nft}
    x nft flush ruleset
    x nft -f "$f"
    PORTDOCTOR_NATIVE_DUMP="$PWD/$name.bin" x "$bin" record_raw_dump >/dev/null
    x nft -j list ruleset > "$name.json"
    x nft --debug=netlink list ruleset > "$name.netlink.txt"
    x nft list ruleset > "$name.txt"
done
