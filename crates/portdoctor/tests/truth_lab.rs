//! Regression tests for "Diagnose tells the truth" (issue 18), one per finding of the review,
//! each named after its item. All run for real in lab namespaces.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use portdoctor_lab::Lab;
use std::net::IpAddr;

const PORT: u16 = 8080;

fn peer_args<'a>(lab: &'a Lab, peer: &'a str) -> Vec<&'a str> {
    vec![
        "diagnose",
        "8080",
        "--from",
        peer,
        "--peer-netns",
        lab.peer().name(),
    ]
}

/// Item 1: the fix follows the `--from` peer, not the first blocked viewpoint: with a policy
/// drop plus a drop for the peer's /24, the first fix goes before the subnet drop.
#[test]
fn item1_fix_follows_the_peer_not_the_first_blocked_viewpoint() {
    let Some(lab) = Lab::for_test("item1_fix_follows_the_peer") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    let p4 = lab.peer_v4().to_string();
    let net = format!("{}.0/24", p4.rsplit_once('.').unwrap().0);
    nft(
        h,
        &format!(
            "table inet fw {{\n chain in {{ type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  ip saddr {net} drop\n }}\n}}\n"
        ),
    );
    let (_, doc) = portdoctor_json(h, &peer_args(&lab, &p4));
    apply_first_fix(h, &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT), "{doc:#}");
}

/// Item 1 (IPv6): both families default-deny, `--from` an IPv6 peer: the fix is for IPv6.
#[test]
fn item1_ipv6_peer_gets_an_ipv6_fix() {
    let Some(lab) = Lab::for_test("item1_ipv6_peer") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "::", PORT, "0", "hold");
    for (prog, extra) in [
        ("iptables-legacy", None),
        ("ip6tables-legacy", Some("ipv6-icmp")),
    ] {
        if let Some(icmp) = extra {
            h.run(prog, &["-A", "INPUT", "-p", icmp, "-j", "ACCEPT"])
                .unwrap();
        }
        h.run(prog, &["-P", "INPUT", "DROP"]).unwrap();
    }
    let p6 = lab.peer_v6().to_string();
    let (_, doc) = portdoctor_json(h, &peer_args(&lab, &p6));
    let display = top(&doc)["fixes"][0]["commands"][0]["display"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(display.starts_with("ip6tables-legacy"), "{display}");
    apply_first_fix(h, &doc);
    assert!(peer_connects(&lab, lab.host_v6().into(), PORT));
}

/// Item 2: severity follows the named peer: a dual-stack listener where only ip6tables drops
/// is not an error for an IPv4 peer that connects.
#[test]
fn item2_severity_follows_the_named_peer() {
    let Some(lab) = Lab::for_test("item2_severity") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "::", PORT, "0", "hold");
    h.run(
        "ip6tables-legacy",
        &["-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"],
    )
    .unwrap();
    let p4 = lab.peer_v4().to_string();
    let (code, doc) = portdoctor_json(h, &peer_args(&lab, &p4));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["summary"]["errors"], 0, "{doc:#}");
    // The IPv6 drop is still reported, as a warning.
    assert_eq!(finding(&doc, "PD010")["severity"], "warning");
}

/// Item 3: when no single rule decides (an undecidable match, then the policy), the fix goes
/// into the user's own table, not a guessed `inet filter input`.
#[test]
fn item3_no_single_deciding_rule_still_fixes_the_right_table() {
    let Some(lab) = Lab::for_test("item3_no_single_rule") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    nft(
        h,
        "table inet fw {\n chain in { type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  meta length > 1000 drop\n }\n}\n",
    );
    let p4 = lab.peer_v4().to_string();
    let (code, doc) = portdoctor_json(h, &peer_args(&lab, &p4));
    assert_eq!(code, 1, "{doc:#}");
    let display = top(&doc)["fixes"][0]["commands"][0]["display"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(display.contains("inet fw in"), "{display}");
    apply_first_fix(h, &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

/// Item 4: an allow shadowed for loopback only (`iif lo accept` behind a port drop) is not
/// an allow shadowed for the peer: PD010, not PD012.
#[test]
fn item4_loopback_accept_is_not_a_shadowed_allow() {
    let Some(lab) = Lab::for_test("item4_loopback") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    nft(
        h,
        "table inet fw {\n chain in { type filter hook input priority 0; policy accept;\n  tcp dport 8080 drop\n  iif lo accept\n }\n}\n",
    );
    let p4 = lab.peer_v4().to_string();
    let (_, doc) = portdoctor_json(h, &peer_args(&lab, &p4));
    assert_eq!(top(&doc)["code"], "PD010", "{doc:#}");
    assert!(!codes(&doc).contains(&"PD012".to_string()), "{doc:#}");
}

/// Item 5: before a blocklist, the narrowest rule that lets the peer in comes first; opening
/// the port to the whole blocklisted network is only the alternative.
#[test]
fn item5_narrow_fix_first_before_a_blocklist() {
    let Some(lab) = Lab::for_test("item5_narrow_first") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    let p4 = lab.peer_v4().to_string();
    let net = format!("{}.0/24", p4.rsplit_once('.').unwrap().0);
    h.run("ipset", &["create", "bl", "hash:net"]).unwrap();
    h.run("ipset", &["add", "bl", &net]).unwrap();
    h.run(
        "iptables-legacy",
        &[
            "-A",
            "INPUT",
            "-m",
            "set",
            "--match-set",
            "bl",
            "src",
            "-j",
            "DROP",
        ],
    )
    .unwrap();
    let (_, doc) = portdoctor_json(h, &peer_args(&lab, &p4));
    let fixes = top(&doc)["fixes"].as_array().unwrap();
    assert_eq!(fixes[0]["operation"]["from"], p4.as_str(), "{doc:#}");
    assert!(
        fixes.len() >= 2 && fixes[1]["operation"]["from"].is_null(),
        "{doc:#}"
    );
    apply_fix(h, &fixes[0]);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

/// Item 6: a firewalld table beside the user's own `inet filter` table does not make the
/// user's drop "firewalld's": it is named in nftables' words and fixed with nft.
#[test]
fn item6_firewalld_does_not_own_the_users_table() {
    let Some((lab, _fw)) = firewalld_lab("item6_firewalld_table") else {
        return;
    };
    let h = lab.host();
    h.run("firewall-cmd", &["--zone=public", "--add-port=8080/tcp"])
        .unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    nft(
        h,
        "table inet filter {\n chain input { type filter hook input priority 0; policy accept;\n  tcp dport 8080 drop\n }\n}\n",
    );
    let p4 = lab.peer_v4().to_string();
    let (_, doc) = portdoctor_json(h, &peer_args(&lab, &p4));
    let f = top(&doc);
    assert!(
        f["summary"].as_str().unwrap().starts_with("nftables"),
        "{f:#}"
    );
    assert_eq!(f["fixes"][0]["backend"], "nftables", "{f:#}");
    apply_first_fix(h, &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

/// Item 7: nothing is called reachable unless it was checked: not beside an unknown verdict,
/// and "use --from" is not suggested when --from was given.
#[test]
fn item7_reachable_only_when_checked() {
    let Some(lab) = Lab::for_test("item7_reachable_only_when_checked") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    nft(
        h,
        "table inet fw {\n chain in { type filter hook input priority 0; policy accept;\n  meta cpu 0 tcp dport 8080 drop\n }\n}\n",
    );
    let p4 = lab.peer_v4().to_string();
    let (code, doc) = portdoctor_json(h, &["diagnose", "8080", "--from", &p4]);
    assert!(!codes(&doc).contains(&"PD000".to_string()), "{doc:#}");
    assert_eq!(code, 1);
    h.run("nft", &["flush", "ruleset"]).unwrap();
    let (code, doc) = portdoctor_json(h, &["diagnose", "8080", "--from", &p4]);
    assert_eq!(code, 0, "{doc:#}");
    let summary = top(&doc)["summary"].as_str().unwrap();
    assert!(!summary.contains("use --from"), "{summary}");
}

/// Item 8: a service bound to one (secondary) address: the peer connects to another one,
/// which is said; with `--to` the probes and the health check go where it listens.
#[test]
fn item8_service_on_a_secondary_address() {
    let Some(lab) = Lab::for_test("item8_secondary_address") else {
        return;
    };
    let h = lab.host();
    let p4 = lab.peer_v4().to_string();
    let second = format!("{}.10", p4.rsplit_once('.').unwrap().0);
    h.run(
        "ip",
        &["addr", "add", &format!("{second}/24"), "dev", "veth-h"],
    )
    .unwrap();
    let _svc = Service::start(h, &second, PORT, "-", "http503");
    let (code, doc) = portdoctor_json(h, &peer_args(&lab, &p4));
    assert_eq!(code, 1);
    assert_eq!(top(&doc)["code"], "PD007", "{doc:#}");
    let mut args = peer_args(&lab, &p4);
    args.extend(["--to", second.as_str(), "--http", "/"]);
    let (_, doc) = portdoctor_json(h, &args);
    // The health check reaches the service where it listens: its real answer (503) is seen.
    let f = finding(&doc, "PD030");
    assert!(
        f["evidence"][0].as_str().unwrap().contains(&second),
        "{f:#}"
    );
    assert!(!codes(&doc).contains(&"PD041".to_string()), "{doc:#}");
    let target: IpAddr = second.parse().unwrap();
    assert!(peer_connects(&lab, target, PORT));
}

/// Item 10: a UDP port refused with ICMP port-unreachable is not "refused with RST".
#[test]
fn item10_udp_refusal_is_icmp_not_rst() {
    let Some(lab) = Lab::for_test("item10_udp_words") else {
        return;
    };
    let (_, doc) = portdoctor_json(lab.host(), &["diagnose", "5353/udp"]);
    let text = doc["findings"].to_string();
    assert!(!text.contains("RST"), "{text}");
}
