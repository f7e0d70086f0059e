#!/usr/bin/env bash
# Benchmark: `portdoctor diagnose 8080` on a host run by firewalld with N rich rules in zone
# public (default 1,000), against `firewall-cmd --list-all-zones` (what a user reads by hand),
# in the same run. Everything happens in a throwaway network namespace with a private mount
# namespace: firewalld's /etc, /var/lib, /var/log and /run/dbus are copies or tmpfs.
# Needs root, firewalld, dbus, hyperfine.
#
#   sudo bash bench/firewalld.sh [RICH_RULES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
cargo build --release -q -p portdoctor
pd="$PWD/target/release/portdoctor"
ns="pd-bench-fwd-$$"
tmp=$(mktemp -d)
cleanup() {
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add veth-h type veth peer name veth-x
ip -n "$ns" addr add 198.18.0.1/24 dev veth-h
ip -n "$ns" link set veth-h up; ip -n "$ns" link set veth-x up
cat >"$tmp/inner.sh" <<INNER
set -euo pipefail
mount --make-rprivate /
mkdir -p $tmp/etc $tmp/var
cp -a /etc/firewalld $tmp/etc/firewalld
cp -a /var/lib/firewalld $tmp/var/firewalld 2>/dev/null || mkdir -p $tmp/var/firewalld
python3 - "$tmp/etc/firewalld/zones/public.xml" $n <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
rules = "\n".join(
    f'  <rule family="ipv4"><source address="10.{i // 250}.{i % 250}.1"/><port port="{20000 + i}" protocol="tcp"/><accept/></rule>'
    for i in range(n))
open(path, "w").write(f'<?xml version="1.0" encoding="utf-8"?>\n<zone>\n  <short>Public</short>\n  <interface name="veth-h"/>\n  <service name="ssh"/>\n{rules}\n</zone>\n')
PY
mount --bind $tmp/etc/firewalld /etc/firewalld
mount --bind $tmp/var/firewalld /var/lib/firewalld
mount -t tmpfs tmpfs /var/log
mkdir -p /run/dbus /run/firewalld
mount -t tmpfs tmpfs /run/dbus; mount -t tmpfs tmpfs /run/firewalld
dbus-daemon --system --fork
firewalld --nofork --nopid >/dev/null 2>&1 &
for i in \$(seq 300); do [ "\$(firewall-cmd --state 2>/dev/null)" = running ] && break; sleep 0.2; done
echo "rich rules in zone public: \$(firewall-cmd --zone=public --list-rich-rules | wc -l)"
python3 -c 'import socket,time; s=socket.socket(); s.bind(("0.0.0.0",8080)); s.listen(); time.sleep(3600)' &
sleep 0.5
$pd -v diagnose 8080 --from 198.18.0.2 2>&1 | grep -E "gathered|ms" | head -12 || true
hyperfine -N -i --warmup 1 --runs \${RUNS:-10} --export-json $tmp/r.json \
    -n diagnose "$pd diagnose 8080 --from 198.18.0.2 --json" \
    -n "firewall-cmd --list-all-zones" "firewall-cmd --list-all-zones"
python3 - $tmp/r.json <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
d, f = r["diagnose"], r["firewall-cmd --list-all-zones"]
print(f"diagnose median {d*1000:.0f} ms; firewall-cmd --list-all-zones {f*1000:.0f} ms; ratio {d/f:.2f}x")
PY
INNER
ip netns exec "$ns" unshare -m bash "$tmp/inner.sh"
