//! Minimal cases where the evaluator disagreed with the kernel, found by the differential
//! test and shrunk; each is a plain unit test (no lab): the ruleset text exactly as portdoctor
//! read it back in the lab, the packet, and the decision the kernel made.

use std::net::IpAddr;

use portdoctor_firewall::{
    Backend, Decision, IpFamily, Packet, Proto, RejectKind, Ruleset, explain, parse_iptables_save,
    parse_nft_json,
};

/// Evaluates `packet` through an nft JSON listing and iptables-save texts together, as
/// `portdoctor explain` does.
#[allow(dead_code)]
fn decide(nft_json: Option<&str>, ipt: &[(&str, IpFamily, Backend)], packet: &Packet) -> Decision {
    let mut rulesets: Vec<Ruleset> = Vec::new();
    if let Some(j) = nft_json {
        rulesets.push(parse_nft_json(j).expect("nft JSON parses"));
    }
    for (text, fam, backend) in ipt {
        rulesets.push(parse_iptables_save(text, *fam, *backend).expect("iptables-save parses"));
    }
    explain(&rulesets, packet).overall.decision
}

/// A first TCP SYN from the lab's peer to the lab's host on `veth-h`.
#[allow(dead_code)]
fn syn(src: &str, dst: &str, dport: u16) -> Packet {
    let src: IpAddr = src.parse().expect("address");
    let dst: IpAddr = dst.parse().expect("address");
    Packet::new(Proto::Tcp, src, dst, dport).with_iif("veth-h")
}

/// Found by seed 1592590340 (shrunk). A base chain at priority `raw` (-300) runs before
/// conntrack (-200): the packet has no conntrack entry yet, so `ct state` is `invalid`, not
/// `new`. The kernel drops this SYN (the `ct state new accept` rule does not match); with
/// `ct state invalid accept` instead it connects.
#[test]
fn nft_ct_state_before_conntrack_is_invalid() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "t", "handle": 1}}, {"chain": {"family": "ip", "table": "t", "name": "pre", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}}, {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 2, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 3, "expr": [{"drop": null}]}}]}"#;
    let packet = syn("198.18.3.2", "198.18.3.1", 80);
    assert_eq!(decide(Some(json), &[], &packet), Decision::Drop);
}

/// Found by seed 1592590379 (shrunk). In an `inet` table, `reject with icmpv6 type …` carries
/// a hidden `meta nfproto ipv6` dependency (and `reject with icmp type …` a hidden
/// `meta nfproto ipv4`): `nft --debug=netlink` shows it, `nft -j list ruleset` does not. The
/// rule does not match a packet of the other family. Kernel: the IPv4 SYN gets ICMP host
/// prohibited from the second rule (EHOSTUNREACH), the IPv6 SYN ICMPv6 admin prohibited
/// from the first.
#[test]
fn nft_inet_reject_with_icmp_type_implies_its_family() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "t", "handle": 3}}, {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"reject": {"type": "icmpv6", "expr": "admin-prohibited"}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"reject": {"type": "icmp", "expr": "host-prohibited"}}]}}]}"#;
    let v4 = syn("198.18.3.2", "198.18.3.1", 80);
    assert_eq!(
        decide(Some(json), &[], &v4),
        Decision::Reject(RejectKind::HostProhibited)
    );
    let v6 = syn("2001:2:0:3::2", "2001:2:0:3::1", 80);
    assert_eq!(
        decide(Some(json), &[], &v6),
        Decision::Reject(RejectKind::AdminProhibited)
    );
}
