#!/usr/bin/env bash
# Re-record the real outputs in tests/data from a throwaway network namespace (root needed).
# Nothing touches the host's own ruleset: every nft/iptables/ipset call goes through
# `ip netns exec`.
set -euo pipefail
cd "$(dirname "$0")"
NS="pd-fw-rec-$$"
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
x() { ip netns exec "$NS" "$@"; }
fresh() { cleanup; ip netns add "$NS"; }

# Docker-style, legacy iptables.
fresh
x iptables-legacy-restore < docker.rules
x iptables-legacy-save | { grep -v '^#' || true; } > docker.legacy.save
# Docker-style, iptables-nft: iptables-nft-save plus how nft itself lists it.
fresh
x iptables-nft-restore < docker.rules
x iptables-nft-save | { grep -v '^#' || true; } > docker.nft.save
x nft -j list ruleset > docker.nft.json
# kube-proxy style, legacy and nft-backed.
fresh
x iptables-legacy-restore < kube.rules
x iptables-legacy-save | { grep -v '^#' || true; } > kube.legacy.save
fresh
x iptables-nft-restore < kube.rules
x iptables-nft-save | { grep -v '^#' || true; } > kube.nft.save
x nft -j list ruleset > kube.nft.json
# Default-deny nftables with allow sets.
fresh
x nft -f default_deny.nft
x nft -j list ruleset > default_deny.json
# All at once: native nft + iptables-nft + legacy + ipset.
fresh
x nft -f default_deny.nft
x ipset create blocked hash:net
x ipset add blocked 198.18.0.128/25
x ipset create v6set hash:ip family inet6
x ipset add v6set 2001:db8::5
x iptables-nft-restore < docker.rules
x iptables-legacy -A INPUT -m set --match-set blocked src -p tcp --dport 22 -j DROP
x ip6tables-legacy -A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset
x nft -j list ruleset > mixed.nft.json
x iptables-nft-save | { grep -v '^#' || true; } > mixed.iptables-nft.save
x ip6tables-nft-save | { grep -v '^#' || true; } > mixed.ip6tables-nft.save
x iptables-legacy-save | { grep -v '^#' || true; } > mixed.iptables-legacy.save
x ip6tables-legacy-save | { grep -v '^#' || true; } > mixed.ip6tables-legacy.save
x ipset save > mixed.ipset.save
# nft listings hide `meta nfproto` before `reject with tcp reset`; the bytecode shows it.
fresh
x nft -f reject_family.nft
x nft -j list ruleset > reject_family.json
x nft --debug=netlink list ruleset > reject_family.netlink.txt
echo recorded
