//! Minimal cases where the evaluator disagreed with the kernel, found by the differential
//! test and shrunk; each is a plain unit test (no lab): the ruleset text exactly as portdoctor
//! read it back in the lab, the packet, and the decision the kernel made.

use std::net::IpAddr;

use portdoctor_firewall::{
    Backend, Decision, IpFamily, Packet, Proto, RejectKind, Ruleset, Verdict, explain,
    parse_iptables_save, parse_nft_json,
};

/// Evaluates `packet` through an nft JSON listing and iptables-save texts together, as
/// `portdoctor explain` does.
fn verdict(nft_json: Option<&str>, ipt: &[(&str, IpFamily, Backend)], packet: &Packet) -> Verdict {
    let mut rulesets: Vec<Ruleset> = Vec::new();
    if let Some(j) = nft_json {
        rulesets.push(parse_nft_json(j).expect("nft JSON parses"));
    }
    for (text, fam, backend) in ipt {
        rulesets.push(parse_iptables_save(text, *fam, *backend).expect("iptables-save parses"));
    }
    explain(&rulesets, packet).overall
}

/// The decision alone.
fn decide(nft_json: Option<&str>, ipt: &[(&str, IpFamily, Backend)], packet: &Packet) -> Decision {
    verdict(nft_json, ipt, packet).decision
}

/// Unknown, or an accept that names the port the redirect delivers to.
fn unknown_or_redirected(v: &Verdict, port: u16) -> bool {
    matches!(v.decision, Decision::Unknown(_))
        || (v.decision == Decision::Accept && v.redirected_to == Some(port))
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

/// Found by seed 1592590435 and 1592590482 (shrunk). For IPv6, `-m addrtype --dst-type
/// UNICAST` holds for every unicast address, local ones included (xt_addrtype checks the
/// address class for UNICAST and the route only for LOCAL/ANYCAST/BLACKHOLE/UNREACHABLE); for
/// IPv4 the type is the route type, so a local address is LOCAL and not UNICAST. Kernel: the
/// IPv6 SYN connects, the IPv4 SYN is dropped by the policy.
#[test]
fn ip6tables_addrtype_unicast_matches_a_local_address() {
    let save = "# Generated by ip6tables-save v1.8.9 on Wed Nov 25 07:30:44 2026
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [2:152]
-A INPUT -m addrtype --dst-type UNICAST -j ACCEPT
COMMIT
# Completed on Wed Nov 25 07:30:44 2026
";
    let v6 = syn("2001:2:0:3::2", "2001:2:0:3::1", 80);
    assert_eq!(
        decide(
            None,
            &[(save, IpFamily::Ipv6, Backend::IptablesLegacy)],
            &v6
        ),
        Decision::Accept
    );
    let save4 = save.replace("ip6tables-save", "iptables-save");
    let v4 = syn("198.18.3.2", "198.18.3.1", 80);
    assert_eq!(
        decide(
            None,
            &[(save4.as_str(), IpFamily::Ipv4, Backend::IptablesLegacy)],
            &v4
        ),
        Decision::Drop
    );
}

/// Found while checking how the generator may keep priority ties (lab experiment, nft 1.0.6,
/// Linux 6.18). Netfilter inserts a newly registered hook *before* the existing ones of equal
/// priority (`nf_hook_entries_grow`), so of two base chains with the same hook and priority
/// the one created later runs first. Within one table the chain handles give the creation
/// order: here `in2` (handle 2) runs before `in1` (handle 1), and the kernel drops the SYN
/// (timeout) instead of rejecting it.
#[test]
fn nft_equal_priority_chains_of_one_table_run_newest_first() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "a", "handle": 16}}, {"chain": {"family": "ip", "table": "a", "name": "in1", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"chain": {"family": "ip", "table": "a", "name": "in2", "handle": 2, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "a", "chain": "in1", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"reject": {"type": "icmp", "expr": "admin-prohibited"}}]}}, {"rule": {"family": "ip", "table": "a", "chain": "in2", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"drop": null}]}}]}"#;
    let packet = syn("198.18.3.2", "198.18.3.1", 80);
    assert_eq!(decide(Some(json), &[], &packet), Decision::Drop);
}

/// Same cause across tables: chain handles are per table, so the listing cannot tell which of
/// two equal-priority chains of different tables was registered last. Loaded in one batch
/// (`table a` then `table b`) the kernel drops this SYN (b's chain runs first); created as
/// `table a {}` + `table b` with its chain, then a's chain added, the listing is the same and
/// the kernel rejects it (EHOSTUNREACH, admin prohibited). Only `Unknown` is right.
#[test]
fn nft_equal_priority_chains_of_two_tables_are_unordered() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "a", "handle": 17}}, {"chain": {"family": "ip", "table": "a", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "a", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"reject": {"type": "icmp", "expr": "admin-prohibited"}}]}}, {"table": {"family": "ip", "name": "b", "handle": 18}}, {"chain": {"family": "ip", "table": "b", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "b", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"drop": null}]}}]}"#;
    let packet = syn("198.18.3.2", "198.18.3.1", 80);
    let d = decide(Some(json), &[], &packet);
    assert!(matches!(d, Decision::Unknown(_)), "got {d:?}");
}

/// Legacy x_tables and iptables-nft both hook filter INPUT at priority 0; which runs first
/// depends on which was registered last (lab: the iptables-nft chain, created after the legacy
/// table, ran first and its DROP won over the legacy REJECT). No listing shows that order, so
/// a drop on one side and a reject on the other can only give `Unknown`.
#[test]
fn iptables_legacy_and_nft_tie_with_different_verdicts_is_unknown() {
    let legacy = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-admin-prohibited
COMMIT
";
    let nft = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 80 -j DROP
COMMIT
";
    let packet = syn("198.18.3.2", "198.18.3.1", 80);
    let d = decide(
        None,
        &[
            (legacy, IpFamily::Ipv4, Backend::IptablesLegacy),
            (nft, IpFamily::Ipv4, Backend::IptablesNft),
        ],
        &packet,
    );
    assert!(matches!(d, Decision::Unknown(_)), "got {d:?}");
}

/// A first UDP datagram from the lab's peer to the lab's host on `veth-h`.
fn udp(src: &str, dst: &str, dport: u16) -> Packet {
    let src: IpAddr = src.parse().expect("address");
    let dst: IpAddr = dst.parse().expect("address");
    Packet::new(Proto::Udp, src, dst, dport).with_iif("veth-h")
}

/// Found by seed 1795592368867858968+ (shrunk). `reject with tcp reset` carries a hidden
/// `meta l4proto tcp` dependency (`nft --debug=netlink`: `meta load l4proto; cmp eq 6`), which
/// `nft -j list ruleset` does not show: the rule below was written as
/// `meta l4proto tcp reject with tcp reset` and lists as a bare `reject with tcp reset`. It
/// never matches UDP. Kernel: the UDP datagram to 161 (no socket) gets ICMP port unreachable
/// from the stack, i.e. the firewall accepted it.
#[test]
fn nft_reject_with_tcp_reset_implies_tcp() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "t", "handle": 19}}, {"chain": {"family": "ip", "table": "t", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "t", "chain": "in", "handle": 2, "expr": [{"reject": {"type": "tcp reset"}}]}}]}"#;
    let packet = udp("198.18.3.2", "198.18.3.1", 161);
    assert_eq!(decide(Some(json), &[], &packet), Decision::Accept);
    let packet = syn("198.18.3.2", "198.18.3.1", 80);
    assert_eq!(
        decide(Some(json), &[], &packet),
        Decision::Reject(RejectKind::TcpReset)
    );
}

/// Found by seed 1795592368867859004 (shrunk). An inet `type nat` prerouting chain redirects
/// UDP 161 to 53: the kernel delivers the datagram to the socket on 53 (the peer gets the
/// echo), so a plain "accepted on 161" is wrong: Unknown, or Accept redirected to 53. (Listing trimmed of two empty
/// chains of the shrunk case, which change nothing.)
#[test]
fn nft_inet_nat_redirect_of_udp_is_not_a_plain_accept() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "pd_inet_0", "handle": 32}}, {"chain": {"family": "inet", "table": "pd_inet_0", "name": "nat0", "handle": 3, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}, {"rule": {"family": "inet", "table": "pd_inet_0", "chain": "nat0", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 161}}, {"redirect": {"port": 53}}]}}]}"#;
    for packet in [
        udp("198.18.3.2", "198.18.3.1", 161),
        udp("2001:2:0:3::2", "2001:2:0:3::1", 161),
    ] {
        let v = verdict(Some(json), &[], &packet);
        assert!(unknown_or_redirected(&v, 53), "{packet:?}: got {v:?}");
    }
}

/// Found by seed 1795592368867859004 (shrunk). An ip6tables-nft nat REDIRECT (8081 -> 8080):
/// the kernel connects the SYN to 8081 with the listener on 8080. Read from ip6tables-nft-save
/// plus the nft listing (as `collect` reads a host), a plain Accept on 8081 is wrong: Unknown,
/// or Accept redirected to 8080.
#[test]
fn ip6tables_nft_nat_redirect_is_not_a_plain_accept() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip6", "name": "nat", "handle": 20}}, {"chain": {"family": "ip6", "table": "nat", "name": "PREROUTING", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}, {"rule": {"family": "ip6", "table": "nat", "chain": "PREROUTING", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8081}}, {"xt": {"type": "match", "name": "comment"}}, {"counter": {"packets": 0, "bytes": 0}}, {"xt": {"type": "target", "name": "REDIRECT"}}]}}]}"#;
    let save = "# Generated by ip6tables-nft-save v1.8.9 (nf_tables) on Wed Nov 25 07:40:31 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8081 -m comment --comment \"pd redirect\" -j REDIRECT --to-ports 8080
COMMIT
# Completed on Wed Nov 25 07:40:31 2026
";
    let packet = syn("2001:2:0:3::2", "2001:2:0:3::1", 8081);
    let v = verdict(
        Some(json),
        &[(save, IpFamily::Ipv6, Backend::IptablesNft)],
        &packet,
    );
    assert!(unknown_or_redirected(&v, 8080), "got {v:?}");
}

/// Found by seed 1795592630302999786+ (shrunk, then reduced by hand and re-checked in the lab).
/// nft runs a rule's expressions in order: a statement before a match takes effect even when
/// that later match fails. Here `meta mark set 0x1` runs for a TCP SYN before the
/// `udp dport 53` match (with its hidden `meta l4proto udp`) fails, so the next rule sees mark
/// 1 and drops the SYN (kernel: timeout).
#[test]
fn nft_statement_before_a_failing_match_still_runs() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "t", "handle": 1}}, {"chain": {"family": "ip", "table": "t", "name": "pre", "handle": 1, "type": "filter", "hook": "prerouting", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 2, "expr": [{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 1}}, {"drop": null}]}}]}"#;
    let packet = syn("198.18.3.2", "198.18.3.1", 80);
    assert_eq!(decide(Some(json), &[], &packet), Decision::Drop);
}

/// Found by seeds 1592590347, 1592590350, 1592590368 once the lab got a second link
/// (`veth-h2`). An ingress chain sees only packets of its device: this `policy drop` chain is
/// bound to `veth-h`, and a SYN arriving on `veth-h2` connects. nft 1.0.6 leaves the device
/// out of `nft -j list ruleset` (for inet and netdev ingress chains alike); `nft list
/// ruleset` shows `device "veth-h"`. From the JSON alone the chain may be on either device,
/// so the packet on `veth-h2` can only be Unknown (definite once the device is read from the
/// text listing).
#[test]
fn nft_ingress_chain_device_is_not_in_the_json() {
    let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "t", "handle": 2}}, {"chain": {"family": "inet", "table": "t", "name": "ing", "handle": 1, "type": "filter", "hook": "ingress", "prio": 0, "policy": "drop"}}]}"#;
    let mut packet = syn("198.19.12.2", "198.19.12.1", 22);
    packet.iif = Some("veth-h2".into());
    let d = decide(Some(json), &[], &packet);
    assert!(matches!(d, Decision::Unknown(_)), "got {d:?}");
}
