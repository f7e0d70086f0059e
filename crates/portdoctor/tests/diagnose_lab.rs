//! `portdoctor diagnose`, one lab test per cause: the service, the rule, the conflict, the
//! socket states are really there. Each asserts the top finding's code and evidence and,
//! where a fix exists, applies it and checks that a connection from the peer now succeeds.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use portdoctor_lab::Lab;

const PORT: u16 = 8080;

fn lab(name: &str) -> Option<Lab> {
    Lab::for_test(name)
}

#[test]
fn healthy_port_exits_0_without_errors() {
    let Some(lab) = lab("healthy_port_exits_0_without_errors") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["summary"]["errors"], 0);
    assert_eq!(top(&doc)["code"], "PD000");
    assert!(
        top(&doc)["summary"]
            .as_str()
            .unwrap()
            .contains("reachable from peer")
    );
}

#[test]
fn nothing_listening() {
    let Some(lab) = lab("nothing_listening") else {
        return;
    };
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    assert_eq!(top(&doc)["code"], "PD001");
    // The fix is starting the service; do it and the peer gets in.
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn bound_to_loopback_the_seed_story_on_linux() {
    let Some(lab) = lab("bound_to_loopback") else {
        return;
    };
    let svc = Service::start(lab.host(), "127.0.0.1", PORT, "-", "hold");
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD002", "{doc:#}");
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains(&format!("pid {}", svc.pid())),
        "{evidence}"
    );
    assert!(evidence.contains("127.0.0.1:8080 only"), "{evidence}");
    assert_eq!(f["fixes"][0]["operation"]["to"], "0.0.0.0:8080");
    assert!(!peer_connects(&lab, lab.host_v4().into(), PORT));
    // Apply the fix: the service listens on the suggested address.
    drop(svc);
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn ipv6_only_socket_refuses_ipv4_peer() {
    let Some(lab) = lab("ipv6_only_socket") else {
        return;
    };
    let svc = Service::start(lab.host(), "::", PORT, "1", "hold");
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    assert_eq!(top(&doc)["code"], "PD003", "{doc:#}");
    assert!(top(&doc)["evidence"].to_string().contains("IPV6_V6ONLY"));
    drop(svc);
    let _svc = Service::start(lab.host(), "::", PORT, "0", "hold");
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn port_held_by_another_program() {
    let Some(lab) = lab("port_held_by_another_program") else {
        return;
    };
    let squatter = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    let (code, doc) = diagnose_from_peer(&lab, PORT, &["--expect", "myservice"]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD006", "{doc:#}");
    assert_eq!(
        f["fixes"][0]["commands"][0]["argv"],
        serde_json::json!(["kill", "-TERM", squatter.pid().to_string()])
    );
    apply_first_fix(lab.host(), &doc);
    let mut squatter = squatter;
    let _ = squatter.0.wait();
    // The port is free: the expected service can bind it now.
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn two_programs_split_the_port_by_family() {
    let Some(lab) = lab("two_programs_split_the_port") else {
        return;
    };
    let _a = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    let _b = Service::start(lab.host(), "::", PORT, "1", "hold");
    let (_, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert!(codes(&doc).contains(&"PD005".to_string()), "{doc:#}");
}

#[test]
fn nft_rule_drops_the_port() {
    let Some(lab) = lab("nft_rule_drops_the_port") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    nft(
        lab.host(),
        "table inet filter {\n chain input { type filter hook input priority 0; policy accept;\n  tcp dport 8080 counter drop comment \"no web\"\n }\n}\n",
    );
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD010", "{doc:#}");
    let evidence = f["evidence"].to_string();
    assert!(evidence.contains("tcp dport 8080"), "{evidence}");
    assert!(evidence.contains("no web"), "{evidence}");
    assert!(!peer_connects(&lab, lab.host_v4().into(), PORT));
    apply_first_fix(lab.host(), &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
    // Idempotent diagnosis afterwards: no error left.
    let (code, _) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 0);
}

#[test]
fn nft_default_deny_without_allow() {
    let Some(lab) = lab("nft_default_deny") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    nft(
        lab.host(),
        "table inet filter {\n chain input { type filter hook input priority 0; policy drop;\n  iif lo accept\n  ct state established,related accept\n  tcp dport 22 accept\n }\n}\n",
    );
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    assert_eq!(top(&doc)["code"], "PD011", "{doc:#}");
    apply_first_fix(lab.host(), &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn allow_shadowed_by_earlier_block() {
    let Some(lab) = lab("allow_shadowed") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    nft(
        lab.host(),
        "table inet filter {\n chain input { type filter hook input priority 0; policy accept;\n  ip saddr 198.18.0.0/15 reject with tcp reset\n  tcp dport 8080 accept\n }\n}\n",
    );
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD012", "{doc:#}");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("tcp dport 8080 accept")
    );
    apply_first_fix(lab.host(), &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn some_sources_only() {
    let Some(lab) = lab("some_sources_only") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    // Everyone but the peer gets in.
    nft(
        lab.host(),
        &format!(
            "table inet filter {{\n chain input {{ type filter hook input priority 0; policy accept;\n  ip saddr != {} tcp dport 8080 accept\n  tcp dport 8080 drop\n }}\n}}\n",
            lab.peer_v4()
        ),
    );
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD013", "{doc:#}");
    let display = f["fixes"][0]["commands"][0]["display"].as_str().unwrap();
    assert!(
        display.contains(&format!("ip saddr {}", lab.peer_v4())),
        "{display}"
    );
    apply_first_fix(lab.host(), &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn iptables_legacy_reject() {
    let Some(lab) = lab("iptables_legacy_reject") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    lab.host()
        .run(
            "iptables-legacy",
            &[
                "-A",
                "INPUT",
                "-p",
                "tcp",
                "--dport",
                "8080",
                "-j",
                "REJECT",
                "--reject-with",
                "tcp-reset",
            ],
        )
        .unwrap();
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD010", "{doc:#}");
    assert!(f["summary"].as_str().unwrap().contains("iptables (legacy)"));
    apply_first_fix(lab.host(), &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn filtered_between_peer_and_host() {
    let Some(lab) = lab("filtered_between_peer_and_host") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    // "Something between": the drop is in the peer's own output path, not on the host.
    nft(
        lab.peer(),
        "table inet upstream {\n chain out { type filter hook output priority 0; policy accept;\n  tcp dport 8080 drop\n }\n}\n",
    );
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD040", "{doc:#}");
    assert!(f["evidence"].to_string().contains("filtered"));
}

#[test]
fn close_wait_buildup() {
    let Some(lab) = lab("close_wait_buildup") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    let host = lab.host_v4();
    lab.peer().enter(|| {
        for _ in 0..20 {
            let c = std::net::TcpStream::connect((host, PORT)).unwrap();
            drop(c); // the service never closes its side: CLOSE_WAIT on the host
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_, doc) = diagnose_from_peer(&lab, PORT, &[]);
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PD020")
        .unwrap_or_else(|| panic!("no PD020: {doc:#}"));
    assert!(f["summary"].as_str().unwrap().contains("CLOSE_WAIT"));
}

#[test]
fn unhealthy_http_service() {
    let Some(lab) = lab("unhealthy_http_service") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "http503");
    let (code, doc) = diagnose_from_peer(&lab, PORT, &["--http", "/healthz"]);
    assert_eq!(code, 1);
    assert_eq!(top(&doc)["code"], "PD030", "{doc:#}");
    let summary = top(&doc)["summary"].as_str().unwrap();
    assert!(summary.contains("503"), "{summary}");
}

#[test]
fn ipv4_only_listener_and_an_ipv6_peer() {
    let Some(lab) = lab("ipv4_only_listener") else {
        return;
    };
    let svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    let peer6 = lab.peer_v6().to_string();
    let (code, doc) = portdoctor_json(
        lab.host(),
        &[
            "diagnose",
            "8080",
            "--from",
            &peer6,
            "--peer-netns",
            lab.peer().name(),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(top(&doc)["code"], "PD004", "{doc:#}");
    assert!(!peer_connects(&lab, lab.host_v6().into(), PORT));
    drop(svc);
    let _svc = Service::start(lab.host(), "::", PORT, "0", "hold");
    assert!(peer_connects(&lab, lab.host_v6().into(), PORT));
}

#[test]
fn unmodelled_rule_gives_unknown_not_a_guess() {
    let Some(lab) = lab("unmodelled_rule") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    // The socket's owner is not known on the input path before demux: nothing can model it.
    nft(
        lab.host(),
        "table inet filter {\n chain input { type filter hook input priority 0; policy accept;\n  meta cpu 0 tcp dport 8080 drop\n }\n}\n",
    );
    let (_, doc) = diagnose_from_peer(&lab, PORT, &[]);
    let codes = codes(&doc);
    assert!(codes.contains(&"PD016".to_string()), "{doc:#}");
    assert!(!codes.contains(&"PD010".to_string()), "{doc:#}");
}

#[test]
fn time_wait_buildup() {
    let Some(lab) = lab("time_wait_buildup") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "close");
    let host = lab.host_v4();
    lab.peer().enter(|| {
        // Twice the threshold: the peer reuses some source ports, and a reused 4-tuple replaces
        // its TIME_WAIT entry instead of adding one.
        for _ in 0..2 * portdoctor_diagnose::TIME_WAIT_THRESHOLD {
            let mut c = std::net::TcpStream::connect((host, PORT)).unwrap();
            let mut rest = Vec::new();
            let _ = std::io::Read::read_to_end(&mut c, &mut rest); // the server closes first
        }
    });
    let (_, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert!(
        codes(&doc).contains(&"PD021".to_string()),
        "{}",
        doc["findings"]
    );
}

#[test]
fn peer_refused_while_local_works() {
    let Some(lab) = lab("peer_refused_while_local_works") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    // Something between answers for the host with a reset.
    nft(
        lab.peer(),
        "table inet middlebox {\n chain out { type filter hook output priority 0; policy accept;\n  tcp dport 8080 reject with tcp reset\n }\n}\n",
    );
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 0, "a warning, not an error: {doc:#}");
    assert!(codes(&doc).contains(&"PD041".to_string()), "{doc:#}");
}
