#!/usr/bin/env bash
# The native nftables reader (netlink) against `nft -j list ruleset`, on the same ruleset in
# the same run: synthetic rulesets of N rules (default 10,000 and 100,000) loaded in a
# throwaway network namespace. Reported per size:
#   - hyperfine medians of whole processes: `nft -j list ruleset` and the read_native
#     example in one-shot mode (read over netlink + decode + index + one evaluation);
#   - the in-process best of RUNS: read (dump + decode) + index + one evaluation, and the
#     phases apart (kernel dump, decode);
#   - the kernel's own share: the rule dump and every set's elements fetched by a minimal
#     client that decodes nothing (python3), i.e. the floor any netlink reader pays;
#   - the ratios to `nft -j list ruleset`.
# Needs root, python3, hyperfine.
#
#   sudo bash bench/nft_native.sh [SIZES] [RUNS]      e.g. bench/nft_native.sh "10000 100000" 10
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"10000 100000"}
runs=${2:-10}
cargo build --release -q -p portdoctor-firewall --examples
ex="${CARGO_TARGET_DIR:-$PWD/target}/release/examples"
ns="pd-bench-native-$$"
tmp=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
cat > "$tmp/floor.py" <<'PY'
# Minimal netlink client: the rule dump and every set's elements, nothing decoded.
import socket, struct, sys, time
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
s.bind((0, 0))
def attr(k, v):
    a = struct.pack("=HH", 4 + len(v), k) + v
    return a + b"\0" * (-len(a) % 4)
def dump(kind, fam=0, attrs=b""):
    body = struct.pack("BBH", fam, 0, 0) + attrs
    s.send(struct.pack("=IHHII", 16 + len(body), (10 << 8) | kind, 0x301, 1, 0) + body)
    out = []
    while True:
        d = s.recv(1 << 20)
        out.append(d)
        o = 0
        while o < len(d):
            l, t = struct.unpack_from("=IH", d, o)
            if t in (2, 3):
                return b"".join(out)
            o += (l + 3) & ~3
def names(buf):
    o = 0
    while o + 20 <= len(buf):
        l, t = struct.unpack_from("=IH", buf, o)
        if t & 0xff == 9 and t >> 8 == 10:
            fam = buf[o + 16]; i = o + 20; tn = sn = None
            while i + 4 <= o + l:
                al, at = struct.unpack_from("=HH", buf, i)
                if al < 4: break
                v = buf[i + 4:i + al].split(b"\0")[0]
                if at & 0x3fff == 1: tn = v
                if at & 0x3fff == 2: sn = v
                i += (al + 3) & ~3
            yield fam, tn, sn
        o += (l + 3) & ~3
best_r = best_e = 1e9
for _ in range(int(sys.argv[1])):
    sets = list(names(dump(10)))
    t = time.perf_counter(); dump(7); r = time.perf_counter() - t
    t = time.perf_counter()
    for fam, tn, sn in sets:
        dump(13, fam, attr(1, tn + b"\0") + attr(2, sn + b"\0"))
    e = time.perf_counter() - t
    best_r, best_e = min(best_r, r), min(best_e, e)
print(f"kernel_rules_ms={best_r*1e3:.1f} kernel_elements_ms={best_e*1e3:.1f} sets={len(sets)}")
PY
for n in $sizes; do
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    "$ex/gen_ruleset" nft "$n" > "$tmp/rules.nft"
    ip netns exec "$ns" nft -f "$tmp/rules.nft"
    echo "== $n rules (uptime: $(uptime | sed 's/.*load/load/'))"
    hyperfine -N --warmup 1 --runs "$runs" --export-json "$tmp/h.json" \
        -n "nft -j list ruleset" "ip netns exec $ns nft -j list ruleset" \
        -n "native read+index+explain (process)" "ip netns exec $ns $ex/read_native 0" >/dev/null
    inproc=$(ip netns exec "$ns" "$ex/read_native" "$runs" | tee "$tmp/inproc.txt" | tail -1)
    floor=$(ip netns exec "$ns" python3 "$tmp/floor.py" "$runs")
    python3 - "$tmp/h.json" "$tmp/inproc.txt" "$floor" <<'PY'
import json, re, sys
r = {x["command"]: x["median"] * 1e3 for x in json.load(open(sys.argv[1]))["results"]}
nft = r["nft -j list ruleset"]; proc = r["native read+index+explain (process)"]
lines = open(sys.argv[2]).read().splitlines()
runs = [dict(re.findall(r"(\w+)=([\d.]+)", l)) for l in lines if l.startswith("rules=")]
best = min(runs, key=lambda d: float(d["total_ms"]))
f = dict(re.findall(r"(\w+)=([\d.]+)", sys.argv[3]))
total = float(best["total_ms"])
print(f"  nft -j list ruleset (median, process)          {nft:8.1f} ms")
print(f"  native read+index+explain (median, process)    {proc:8.1f} ms   ratio {proc/nft:.3f}")
print(f"  native read+index+explain (in-process, best)   {total:8.1f} ms   ratio {total/nft:.3f}")
print(f"    of which read {best['read_ms']} ms, index+explain {best['index_explain_ms']} ms;"
      f" phases apart: dump {best['dump_ms']} ms, decode {best['decode_ms']} ms")
kf = float(f["kernel_rules_ms"]) + float(f["kernel_elements_ms"])
print(f"  kernel floor (rule dump {f['kernel_rules_ms']} ms + elements of {f['sets']} sets"
      f" {f['kernel_elements_ms']} ms, sequential) {kf:.1f} ms   ratio {kf/nft:.3f}")
PY
done
