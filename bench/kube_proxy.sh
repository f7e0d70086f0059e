#!/usr/bin/env bash
# Benchmark: `portdoctor diagnose` of a NodePort on a node with kube-proxy's iptables rules
# for N services (default 1,000: ClusterIP + NodePort each, two endpoints chosen with
# `-m statistic`, KUBE-MARK-MASQ, KUBE-FORWARD; ≈ 11 rules per service, loaded with
# iptables-nft-restore as kube-proxy does on current distributions) against `iptables-save`
# alone (the listing a user would read by hand), in a throwaway network namespace with
# forwarding on and a route to the pod network. diagnose follows the DNAT: it reads every
# backend, the routing table and the forwarding switches, evaluates the peer's and the
# stand-in viewpoints (each NodePort connection forks into its endpoints), plans the fix
# and looks for the pods' network namespaces. Needs root, python3, hyperfine.
#
#   sudo bash bench/kube_proxy.sh [SERVICES] [RUNS]
#
# BASELINE=/path/to/an/older/portdoctor adds that binary's diagnose to the same hyperfine run
# (same namespace, same rules), for a before/after comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-1000}
runs=${2:-10}
cargo build --release -q -p portdoctor
pd="${CARGO_TARGET_DIR:-$PWD/target}/release/portdoctor"
ns="pd-bench-kube-$$"
tmp=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add veth-h type veth peer name veth-p
ip -n "$ns" addr add 198.18.0.1/24 dev veth-h
ip -n "$ns" link set veth-h up
ip -n "$ns" link set veth-p up
ip -n "$ns" link add cni0 type bridge
ip -n "$ns" addr add 10.244.0.1/16 dev cni0
ip -n "$ns" link set cni0 up
ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=1
python3 - "$services" >"$tmp/rules" <<'PY'
import sys
n = int(sys.argv[1])
f = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
     ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FIREWALL - [0:0]", ":KUBE-FORWARD - [0:0]",
     ":KUBE-NODEPORTS - [0:0]", ":KUBE-SERVICES - [0:0]",
     "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
     "-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS",
     "-A INPUT -j KUBE-FIREWALL",
     "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
     "-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
     "-A KUBE-FIREWALL -m comment --comment \"kubernetes firewall for dropping marked packets\" -m mark --mark 0x8000/0x8000 -j DROP",
     "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
     "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT",
     "-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
     "COMMIT"]
chains, rules = [], []
for i in range(n):
    s = f"S{i:06d}"
    ip = f"10.96.{i // 250}.{i % 250 + 1}"
    port = 30000 + i
    eps = [f"10.244.{(2 * i) // 250}.{(2 * i) % 250 + 2}", f"10.244.{(2 * i + 1) // 250}.{(2 * i + 1) % 250 + 2}"]
    chains += [f"KUBE-SVC-{s}", f"KUBE-EXT-{s}", f"KUBE-SEP-{s}A", f"KUBE-SEP-{s}B"]
    c = f"default/svc-{i}:http"
    rules += [
        f"-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment \"{c} cluster IP\" -m tcp --dport 80 -j KUBE-SVC-{s}",
        f"-A KUBE-NODEPORTS -p tcp -m comment --comment \"{c}\" -m tcp --dport {port} -j KUBE-EXT-{s}",
        f"-A KUBE-EXT-{s} -m comment --comment \"masquerade traffic for {c} external destinations\" -j KUBE-MARK-MASQ",
        f"-A KUBE-EXT-{s} -j KUBE-SVC-{s}",
        f"-A KUBE-SVC-{s} ! -s 10.244.0.0/16 -d {ip}/32 -p tcp -m comment --comment \"{c} cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ",
        f"-A KUBE-SVC-{s} -m comment --comment \"{c} -> {eps[0]}:8080\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-{s}A",
        f"-A KUBE-SVC-{s} -m comment --comment \"{c} -> {eps[1]}:8080\" -j KUBE-SEP-{s}B",
    ]
    for k, e in zip("AB", eps):
        rules += [f"-A KUBE-SEP-{s}{k} -s {e}/32 -m comment --comment \"{c}\" -j KUBE-MARK-MASQ",
                  f"-A KUBE-SEP-{s}{k} -p tcp -m comment --comment \"{c}\" -m tcp -j DNAT --to-destination {e}:8080"]
nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
       ":POSTROUTING ACCEPT [0:0]", ":KUBE-MARK-MASQ - [0:0]", ":KUBE-NODEPORTS - [0:0]",
       ":KUBE-POSTROUTING - [0:0]", ":KUBE-SERVICES - [0:0]"]
nat += [f":{c} - [0:0]" for c in chains]
nat += ["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"]
nat += [r for r in rules if r.startswith("-A KUBE-SERVICES")]
nat += ["-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"]
nat += [r for r in rules if not r.startswith("-A KUBE-SERVICES")]
nat += ["COMMIT"]
print("\n".join(f + nat))
PY
ip netns exec "$ns" iptables-nft-restore <"$tmp/rules"
echo "loaded $(ip netns exec "$ns" iptables-nft-save | grep -c '^-A') iptables-nft rules for $services services (uptime: $(uptime | sed 's/.*load/load/'))"
port=$((30000 + services / 2))
echo "what diagnose finds for NodePort $port (exit 1 expected: no pod answers in this namespace):"
ip netns exec "$ns" "$pd" diagnose "$port" --from 198.18.0.2 | head -4 || true
baseline=()
if [ -n "${BASELINE:-}" ]; then
    baseline=(-n baseline "ip netns exec $ns $BASELINE diagnose $port --from 198.18.0.2 --json")
fi
hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$tmp/h.json" "${baseline[@]}" \
    -n diagnose "ip netns exec $ns $pd diagnose $port --from 198.18.0.2 --json" \
    -n "iptables-save" "ip netns exec $ns iptables-save" >/dev/null
python3 - "$tmp/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s = r["iptables-save"]
for name in ("baseline", "diagnose"):
    if name not in r:
        continue
    d = r[name]
    label = "diagnose" if name == "diagnose" else "baseline diagnose"
    print(f"{label} median {d['median']*1e3:.0f} ms (min {d['min']*1e3:.0f}); "
          f"iptables-save median {s['median']*1e3:.0f} ms (min {s['min']*1e3:.0f}); "
          f"ratio {label} / iptables-save = {d['median']/s['median']:.2f}x")
if "baseline" in r:
    print(f"diagnose / baseline = {r['diagnose']['median']/r['baseline']['median']:.2f}")
PY
