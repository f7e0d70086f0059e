//! Evaluation semantics on small hand-written rulesets: chain control flow, priorities across
//! tables, state changes, three-valued matching.

use portdoctor_firewall::{
    Backend, CtState, Decision, IpFamily, Packet, Proto, RejectKind, Ruleset, StepKind, evaluate,
    explain, parse_iptables_save, sweep,
};

fn ipt(text: &str) -> Ruleset {
    parse_iptables_save(text, IpFamily::Ipv4, Backend::IptablesLegacy).expect("parse")
}

fn syn(port: u16) -> Packet {
    Packet::tcp_syn(
        "198.18.0.2".parse().unwrap(),
        "198.18.0.1".parse().unwrap(),
        port,
    )
    .with_iif("eth0")
}

#[test]
fn jump_return_goto_and_policy() {
    let rs = ipt("*filter
:INPUT DROP [0:0]
:A - [0:0]
:B - [0:0]
:C - [0:0]
-A INPUT -p tcp -m tcp --dport 1:100 -j A
-A INPUT -p tcp -m tcp --dport 50 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 200 -g C
-A INPUT -p tcp -m tcp --dport 200 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 300 -j RETURN
-A INPUT -p tcp -m tcp --dport 300 -j ACCEPT
-A A -p tcp -m tcp --dport 10 -j ACCEPT
-A A -p tcp -m tcp --dport 20 -g B
-A A -p tcp -m tcp --dport 20 -j ACCEPT
-A A -p tcp -m tcp --dport 30 -j RETURN
-A A -p tcp -m tcp --dport 30 -j REJECT
-A B -p tcp -m tcp --dport 20 -j RETURN
-A C -p tcp -m tcp --dport 999 -j ACCEPT
COMMIT
");
    let d = |p| evaluate(&rs, &syn(p)).decision;
    assert_eq!(d(10), Decision::Accept); // accepted inside A
    // goto B; B returns: back to INPUT after the jump to A (not to A's next rule).
    assert_eq!(d(20), Decision::Drop);
    // RETURN from A: continue in INPUT; nothing else matches 30: policy.
    assert_eq!(d(30), Decision::Drop);
    // A falls through for 50: INPUT's next rule accepts.
    assert_eq!(d(50), Decision::Accept);
    // goto C from the base chain: C's end applies INPUT's policy (not INPUT's next rule).
    assert_eq!(d(200), Decision::Drop);
    // RETURN in a base chain applies the policy.
    assert_eq!(d(300), Decision::Drop);
    let v = evaluate(&rs, &syn(300));
    assert!(v.decided_by.unwrap().is_policy);
}

#[test]
fn accept_ends_only_its_base_chain() {
    // raw accepts, filter drops: dropped. nat INPUT (priority +100) runs after filter.
    let rs = ipt("*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 23 -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset
-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with icmp-host-prohibited
COMMIT
");
    let v = evaluate(&rs, &syn(22));
    assert_eq!(v.decision, Decision::Reject(RejectKind::TcpReset));
    // filter (0) decides before nat INPUT (100).
    let v = evaluate(&rs, &syn(23));
    assert_eq!(v.decision, Decision::Reject(RejectKind::HostProhibited));
    // The trace enters raw PREROUTING, then filter INPUT.
    let entered: Vec<String> = v
        .trace
        .iter()
        .filter(|s| s.kind == StepKind::EnterBaseChain)
        .map(|s| format!("{} {}", s.table, s.chain))
        .collect();
    assert_eq!(
        entered,
        vec!["ip raw PREROUTING", "ip nat PREROUTING", "ip filter INPUT"]
    );
}

#[test]
fn nat_chains_only_see_new_connections() {
    let rs = ipt("*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080
COMMIT
");
    assert!(matches!(
        evaluate(&rs, &syn(80)).decision,
        Decision::Unknown(_)
    ));
    let mut p = syn(80);
    p.ct_state = CtState::Established;
    assert_eq!(evaluate(&rs, &p).decision, Decision::Accept);
}

#[test]
fn marks_and_notrack_change_later_matches() {
    let rs = ipt("*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 5000 -j CT --notrack
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 4000 -j MARK --set-xmark 0x8000/0x8000
COMMIT
*filter
:INPUT ACCEPT [0:0]
-A INPUT -m mark --mark 0x8000/0x8000 -j DROP
-A INPUT -m conntrack --ctstate UNTRACKED -j REJECT
COMMIT
");
    assert_eq!(evaluate(&rs, &syn(4000)).decision, Decision::Drop);
    assert_eq!(
        evaluate(&rs, &syn(5000)).decision,
        Decision::Reject(RejectKind::PortUnreachable)
    );
    assert_eq!(evaluate(&rs, &syn(22)).decision, Decision::Accept);
    let s = sweep(&[rs], &syn(0));
    assert_eq!(s.ports_where(|d| *d == Decision::Drop), vec![(4000, 4000)]);
    assert_eq!(s.accepted().len(), 3);
}

#[test]
fn unknown_when_paths_differ_definite_when_they_agree() {
    let rs = ipt("*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m tcp --dport 22 -m recent --name x --rcheck -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -m limit --limit 1/sec -j LOG
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 443 -m recent --name y --rcheck -j DROP
COMMIT
");
    // Under the fresh-source assumption the source is in no recent list: 22 falls to the
    // policy, 443 to it too, and the assumption is reported.
    let v = evaluate(&rs, &syn(22));
    assert_eq!(v.decision, Decision::Drop);
    assert!(v.assumptions[0].contains("recent list x"), "{v:?}");
    // Without it, 22: recent undecided; accept vs policy drop: unknown, with the reason.
    let strict = |port| {
        let mut p = syn(port);
        p.assume_fresh_source = false;
        p
    };
    match evaluate(&rs, &strict(22)).decision {
        Decision::Unknown(r) => assert!(r.contains("recent"), "{r}"),
        d => panic!("{d:?}"),
    }
    // 80: the undecided limit only guards a LOG: definite accept.
    assert_eq!(evaluate(&rs, &syn(80)).decision, Decision::Accept);
    // 443: recent undecided, but both outcomes drop (rule or policy): definite drop, no rule.
    let v = evaluate(&rs, &strict(443));
    assert_eq!(v.decision, Decision::Drop);
    assert!(v.decided_by.is_none());
    // ... and both deciding rules are listed, for fixes that must get past all of them.
    assert_eq!(v.deciders.len(), 2, "{v:?}");
    assert_eq!(evaluate(&rs, &strict(80)).decision, Decision::Accept);
    // An unmodelled match excluded by a known failing match does not matter.
    assert_eq!(evaluate(&rs, &syn(23)).decision, Decision::Drop);
}

#[test]
fn legacy_and_nft_backends_both_see_the_packet() {
    let legacy =
        ipt("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j DROP\nCOMMIT\n");
    let nftish = parse_iptables_save(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        IpFamily::Ipv4,
        Backend::IptablesNft,
    )
    .unwrap();
    let e = explain(&[nftish, legacy], &syn(22));
    assert_eq!(e.overall.decision, Decision::Drop);
    assert_eq!(
        e.overall.decided_by.unwrap().backend,
        Backend::IptablesLegacy
    );
    assert_eq!(e.backends[0].verdict.decision, Decision::Accept);
    assert_eq!(e.backends[1].verdict.decision, Decision::Drop);
}

#[test]
fn ipv4_rules_do_not_see_ipv6_packets() {
    let rs = ipt("*filter\n:INPUT DROP [0:0]\nCOMMIT\n");
    let p = Packet::tcp_syn(
        "2001:db8::2".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        22,
    );
    assert_eq!(evaluate(&rs, &p).decision, Decision::Accept);
    // A packet whose addresses disagree with its family is refused, not guessed.
    let mut bad = syn(22);
    bad.family = IpFamily::Ipv6;
    assert!(matches!(evaluate(&rs, &bad).decision, Decision::Unknown(_)));
}

#[test]
fn unmodelled_fields_keep_their_protocol_dependency() {
    // `icmp type` is not modelled, but it implies ICMP: a TCP SYN is not affected.
    let json = r#"{"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}}, {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "echo-request"}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "pkttype"}}, "right": {"set": ["broadcast", "multicast"]}}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 4, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 5, "expr": [{"accept": null}]}}]}"#;
    let rs = portdoctor_firewall::parse_nft_json(json).unwrap();
    let v = evaluate(&rs, &syn(22));
    assert_eq!(v.decision, Decision::Accept, "{v:?}");
    let icmp = Packet::new(
        portdoctor_firewall::Proto::Icmp,
        "198.18.0.2".parse().unwrap(),
        "198.18.0.1".parse().unwrap(),
        0,
    );
    assert!(matches!(
        evaluate(&rs, &icmp).decision,
        Decision::Unknown(_)
    ));
}

#[test]
fn set_statements_carry_dependencies_and_limits() {
    let json = std::fs::read_to_string(format!(
        "{}/tests/data/dynamic_set.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let rs = portdoctor_firewall::parse_nft_json(&json).unwrap();
    // `update @m { ip saddr limit rate over 3/minute } drop`: depends on traffic history.
    let mut strict = syn(22);
    strict.assume_fresh_source = false;
    assert!(matches!(
        evaluate(&rs, &strict).decision,
        Decision::Unknown(_)
    ));
    // A fresh source is under the rate: the rule does not drop it.
    let v = evaluate(&rs, &syn(22));
    assert_eq!(v.decision, Decision::Accept, "{v:?}");
    assert!(v.assumptions[0].contains("3/minute"), "{v:?}");
    // `add @m { ip saddr } drop`: drops IPv4, and cannot match IPv6 (ip saddr dependency).
    assert_eq!(evaluate(&rs, &syn(23)).decision, Decision::Drop);
    let v6 = Packet::tcp_syn(
        "2001:db8::2".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        23,
    )
    .with_iif("eth0");
    assert_eq!(evaluate(&rs, &v6).decision, Decision::Accept);
}

#[test]
fn redirect_delivers_to_the_new_port() {
    let json = std::fs::read_to_string(format!(
        "{}/tests/data/redirect.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let rs = [portdoctor_firewall::parse_nft_json(&json).unwrap()];
    // 80 is redirected to 8080, which the input chain accepts.
    let v = explain(&rs, &syn(80)).overall;
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(v.redirected_to, Some(8080));
    // 81 keeps its port and hits the input policy.
    let v = explain(&rs, &syn(81)).overall;
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(explain(&rs, &syn(8080)).overall.redirected_to, None);
    let s = sweep(&rs, &syn(0));
    let r = s.decision(80).unwrap();
    assert_eq!((r.from, r.to, r.redirected_to), (80, 80, Some(8080)));
    assert_eq!(s.accepted(), vec![(80, 80), (8080, 8080)]);
    // iptables REDIRECT.
    let rs = ipt("*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 443 -j REDIRECT --to-ports 8443
COMMIT
*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT
COMMIT
");
    let v = evaluate(&rs, &syn(443));
    assert_eq!(
        (v.decision, v.redirected_to),
        (Decision::Accept, Some(8443))
    );
    assert!(portdoctor_firewall::print_iptables_save(&rs).contains("-j REDIRECT --to-ports 8443"));
}

#[test]
fn statements_before_a_failing_match_still_run() {
    // `meta mark set 0x1 udp dport 53 accept` marks a TCP SYN too; the next rule drops marked
    // packets.
    let json = r#"{"nftables": [{"table": {"family": "ip", "name": "t", "handle": 1}}, {"chain": {"family": "ip", "table": "t", "name": "pre", "handle": 1, "type": "filter", "hook": "prerouting", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [1, 1000]}}}, {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "t", "chain": "pre", "handle": 3, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 1}}, {"drop": null}]}}]}"#;
    let rs = [portdoctor_firewall::parse_nft_json(json).unwrap()];
    assert_eq!(rs[0].tables[0].chains[0].rules[0].pre_statements.len(), 1);
    assert_eq!(explain(&rs, &syn(80)).overall.decision, Decision::Drop);
    assert_eq!(explain(&rs, &syn(2000)).overall.decision, Decision::Accept);
    let s = sweep(&rs, &syn(0));
    assert_eq!(s.ports_where(|d| *d == Decision::Drop), vec![(1, 1000)]);
}

#[test]
fn ingress_devices_come_from_the_text_listing() {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(format!("{dir}/ingress.json")).unwrap();
    let text = std::fs::read_to_string(format!("{dir}/ingress.nft.txt")).unwrap();
    let mut rs = portdoctor_firewall::parse_nft_json(&json).unwrap();
    let on = |iif: &str| syn(22).with_iif(iif);
    // From the JSON alone the ingress chains' devices are unknown; with policy accept that
    // does not matter.
    assert_eq!(evaluate(&rs, &on("d0")).decision, Decision::Accept);
    // With a drop policy it does.
    for t in &mut rs.tables {
        for c in &mut t.chains {
            if let Some(b) = &mut c.base {
                b.policy = portdoctor_firewall::Policy::Drop;
            }
        }
    }
    assert!(matches!(
        evaluate(&rs, &on("eth9")).decision,
        Decision::Unknown(_)
    ));
    portdoctor_firewall::apply_text_devices(&mut rs, &text);
    let devs: Vec<Vec<String>> = rs
        .tables
        .iter()
        .flat_map(|t| t.chains.iter().map(|c| c.base.clone().unwrap().devices))
        .collect();
    assert_eq!(
        devs,
        vec![vec!["d0".to_string()], vec!["d0".into(), "d1".into()]]
    );
    assert_eq!(evaluate(&rs, &on("eth9")).decision, Decision::Accept);
    assert_eq!(evaluate(&rs, &on("d1")).decision, Decision::Drop);
}

#[test]
fn many_equal_priority_tables_are_refused_quickly() {
    // Nine `*nat` sections: a later one replaces the earlier (iptables-restore semantics).
    let text = "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j DROP\nCOMMIT\n".repeat(9);
    let rs = ipt(&text);
    assert_eq!(rs.tables.len(), 1);
    // Ten nft tables on input priority 0 each rejecting differently: 10! orders, refused.
    let mut items = vec![];
    for t in 0..10 {
        items.push(format!(
            r#"{{"table": {{"family": "ip", "name": "t{t}", "handle": {t}}}}}"#
        ));
        items.push(format!(r#"{{"chain": {{"family": "ip", "table": "t{t}", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}}"#));
        items.push(format!(r#"{{"rule": {{"family": "ip", "table": "t{t}", "chain": "in", "handle": 2, "expr": [{{"drop": null}}]}}}}"#));
    }
    let json = format!("{{\"nftables\": [{}]}}", items.join(", "));
    let rs = portdoctor_firewall::parse_nft_json(&json).unwrap();
    match evaluate(&rs, &syn(22)).decision {
        Decision::Unknown(r) => assert!(r.contains("orders"), "{r}"),
        d => panic!("{d:?}"),
    }
}

#[test]
fn ctstatus_and_meta_protocol() {
    let rs = ipt("*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 1 -m conntrack --ctstatus ASSURED -j DROP
-A INPUT -p tcp -m tcp --dport 2 -m conntrack ! --ctstatus ASSURED,SEEN_REPLY -j DROP
COMMIT
");
    // A first packet: no status bit yet.
    assert_eq!(evaluate(&rs, &syn(1)).decision, Decision::Accept);
    assert_eq!(evaluate(&rs, &syn(2)).decision, Decision::Drop);
    let json = r#"{"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}}, {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "protocol"}}, "right": "ip6"}}, {"drop": null}]}}]}"#;
    let rs = portdoctor_firewall::parse_nft_json(json).unwrap();
    assert_eq!(evaluate(&rs, &syn(22)).decision, Decision::Accept);
    let v6 = Packet::tcp_syn(
        "2001:db8::2".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        22,
    );
    assert_eq!(evaluate(&rs, &v6).decision, Decision::Drop);
}

#[test]
fn connmark_set_save_restore() {
    let rs = ipt("*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 1 -j CONNMARK --set-xmark 0x5/0xffffffff
-A PREROUTING -p tcp -m tcp --dport 2 -j MARK --set-xmark 0x7/0xffffffff
-A PREROUTING -p tcp -m tcp --dport 2 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff
-A PREROUTING -p tcp -m tcp --dport 3 -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
COMMIT
*filter
:INPUT ACCEPT [0:0]
-A INPUT -m connmark --mark 0x5 -j DROP
-A INPUT -m connmark --mark 0x7 -j REJECT
-A INPUT -m connmark ! --mark 0x0 -j REJECT --reject-with tcp-reset
-A INPUT -m mark ! --mark 0x0 -j REJECT --reject-with icmp-host-prohibited
COMMIT
");
    assert_eq!(evaluate(&rs, &syn(1)).decision, Decision::Drop);
    assert_eq!(
        evaluate(&rs, &syn(2)).decision,
        Decision::Reject(RejectKind::PortUnreachable)
    );
    // A new connection's conntrack mark is 0: restoring it leaves the mark 0.
    assert_eq!(evaluate(&rs, &syn(3)).decision, Decision::Accept);
    // An established connection's conntrack mark is unknown.
    let mut p = syn(4);
    p.ct_state = CtState::Established;
    assert!(matches!(evaluate(&rs, &p).decision, Decision::Unknown(_)));
}

#[test]
fn options_after_p_load_the_protocol_match() {
    // iptables-save before 1.4 printed `-p tcp --syn` without `-m tcp`; iptables loads the
    // protocol's own match for such options.
    let rs = ipt("*filter
:INPUT ACCEPT [0:0]
-A INPUT -s 198.18.0.2 -p tcp --syn --dport 22 -j DROP
-A INPUT -p udp --dport 53 -j REJECT
COMMIT
");
    assert_eq!(evaluate(&rs, &syn(22)).decision, Decision::Drop);
    assert_eq!(evaluate(&rs, &syn(23)).decision, Decision::Accept);
    let mut ack = syn(22);
    ack.tcp_flags = 0x10;
    assert_eq!(evaluate(&rs, &ack).decision, Decision::Accept);
    let mut udp = syn(53);
    udp.proto = Proto::Udp;
    assert_eq!(
        evaluate(&rs, &udp).decision,
        Decision::Reject(RejectKind::PortUnreachable)
    );
    // Without `-p` there is no module to load: still an error, with line and column.
    let e = parse_iptables_save(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT --dport 22 -j DROP\nCOMMIT\n",
        IpFamily::Ipv4,
        Backend::IptablesLegacy,
    )
    .unwrap_err();
    assert_eq!((e.line, e.column), (3, 10), "{e}");
}

#[test]
fn conntrack_protocol_and_original_ports() {
    let rs = ipt("*filter
:INPUT DROP [0:0]
-A INPUT -m conntrack --ctstate NEW,RELATED --ctproto 17 -j REJECT
-A INPUT -m conntrack --ctstate NEW --ctproto 6 --ctorigdstport 22 -j ACCEPT
-A INPUT -m conntrack --ctproto tcp --ctorigsrcport 40000 --ctorigdstport 1000:2000 -j ACCEPT
-A INPUT -m conntrack ! --ctproto 6 -j REJECT --reject-with icmp-host-prohibited
COMMIT
");
    let d = |p: &Packet| evaluate(&rs, p).decision;
    assert_eq!(d(&syn(22)), Decision::Accept);
    assert_eq!(d(&syn(1500)), Decision::Accept);
    assert_eq!(d(&syn(23)), Decision::Drop);
    let mut other_sport = syn(1500);
    other_sport.sport = 40001;
    assert_eq!(d(&other_sport), Decision::Drop);
    let mut udp = syn(22);
    udp.proto = Proto::Udp;
    assert_eq!(d(&udp), Decision::Reject(RejectKind::PortUnreachable));
    // An established packet may be a reply: its original ports are unknown, its protocol not.
    let mut est = syn(22);
    est.ct_state = CtState::Established;
    assert!(matches!(d(&est), Decision::Unknown(_)), "{:?}", d(&est));
    est.proto = Proto::Udp;
    assert_eq!(d(&est), Decision::Reject(RejectKind::HostProhibited));
    // An ICMP error related to a connection carries that connection's protocol: unknown.
    let mut icmp = syn(0);
    icmp.proto = Proto::Icmp;
    icmp.ct_state = CtState::Related;
    assert!(matches!(d(&icmp), Decision::Unknown(_)), "{:?}", d(&icmp));
    // A packet without a connection matches neither `--ctproto 6` nor `! --ctproto 6`.
    let mut untracked = syn(22);
    untracked.ct_state = CtState::Untracked;
    assert_eq!(d(&untracked), Decision::Drop);
    // The sweep agrees port by port.
    let s = sweep(std::slice::from_ref(&rs), &syn(0));
    assert_eq!(s.accepted(), vec![(22, 22), (1000, 2000)]);
}

#[test]
fn conntrack_original_port_is_the_one_before_a_redirect() {
    let rs = ipt("*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080
COMMIT
*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m tcp --dport 8080 -m conntrack --ctorigdstport 80 -j ACCEPT
COMMIT
");
    let v = evaluate(&rs, &syn(80));
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(v.redirected_to, Some(8080));
    assert_eq!(evaluate(&rs, &syn(8080)).decision, Decision::Drop);
}

#[test]
fn conntrack_options_next_to_states_without_a_connection_stay_unknown() {
    // xt_conntrack holds for a packet without a connection once --ctstate passed, whatever
    // --ctproto says: not modelled, so unknown where it matters.
    let rs = ipt("*filter
:INPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID,NEW --ctproto 17 -j DROP
-A INPUT -m conntrack ! --ctstate ESTABLISHED --ctstatus ASSURED -j DROP
COMMIT
");
    assert!(matches!(
        evaluate(&rs, &syn(22)).decision,
        Decision::Unknown(_)
    ));
    let mut est = syn(22);
    est.ct_state = CtState::Established;
    assert_eq!(evaluate(&rs, &est).decision, Decision::Accept);
    let printed = portdoctor_firewall::print_iptables_save(&ipt("*filter
:INPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate NEW --ctproto 6 --ctorigsrcport 1:2 ! --ctorigdstport 22 -j DROP
COMMIT
"));
    assert!(
        printed.contains(
            "-m conntrack --ctproto 6 -m conntrack --ctorigsrcport 1:2 -m conntrack ! --ctorigdstport 22"
        ),
        "{printed}"
    );
}

#[test]
fn output_interface_is_empty_on_the_inbound_path() {
    // OpenWrt's zone chains serve input and forward alike; on the inbound path no output
    // interface exists and the kernel compares an empty name.
    let rs = ipt("*filter
:INPUT DROP [0:0]
:zone_lan_ACCEPT - [0:0]
-A INPUT -j zone_lan_ACCEPT
-A zone_lan_ACCEPT -o br-lan -j ACCEPT
-A zone_lan_ACCEPT -p tcp -m tcp --dport 22 ! -o eth0 -j ACCEPT
-A zone_lan_ACCEPT -p tcp -m tcp --dport 23 -o + -j ACCEPT
-A zone_lan_ACCEPT -p tcp -m tcp --dport 24 -o eth+ -j ACCEPT
COMMIT
");
    let d = |port| evaluate(&rs, &syn(port)).decision;
    assert_eq!(d(22), Decision::Accept);
    assert_eq!(d(23), Decision::Accept);
    assert_eq!(d(24), Decision::Drop);
    assert_eq!(d(80), Decision::Drop);
    let printed = portdoctor_firewall::print_iptables_save(&rs);
    assert!(printed.contains("-o br-lan -j ACCEPT"), "{printed}");
    assert!(printed.contains("! -o eth0"), "{printed}");
}
