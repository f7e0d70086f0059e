//! One test per cause, with evidence written by hand (the lab tests gather it for real).

use portdoctor_diagnose::*;
use portdoctor_sockets::{Family, Process, Proto, Socket, SocketState};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn listener(addr: &str, pid: u32, name: &str, v6only: Option<bool>) -> Socket {
    let local_addr = ip(addr);
    Socket {
        proto: Proto::Tcp,
        family: if local_addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        },
        local_addr,
        local_port: 8080,
        remote_addr: None,
        remote_port: None,
        state: SocketState::Listen,
        v6only,
        bound_interface: None,
        uid: Some(1000),
        user: Some("dev".into()),
        inode: Some(1),
        owners: vec![Process {
            pid,
            name: name.into(),
            cmdline: vec![name.into(), "--listen".into(), format!("{addr}:8080")],
            uid: Some(1000),
            user: Some("dev".into()),
        }],
        owner_unknown: None,
    }
}

fn conn(state: SocketState) -> Socket {
    Socket {
        state,
        remote_addr: Some(ip("198.18.0.2")),
        remote_port: Some(40000),
        ..listener("198.18.0.1", 10, "svc", None)
    }
}

fn evidence(sockets: Vec<Socket>) -> Evidence {
    Evidence {
        os: Os::Linux,
        port: 8080,
        proto: Proto::Tcp,
        sockets: Part::present(sockets),
        addresses: Part::present(vec![LocalAddress {
            iface: "eth0".into(),
            addr: ip("198.18.0.1"),
        }]),
        firewall: Part::present(vec![]),
        probes: Part::present(vec![]),
        health: None,
        peer: None,
        peer_dst: None,
        expected_program: None,
        namespaces: None,
    }
}

fn outside() -> Viewpoint {
    Viewpoint::Outside {
        addr: ip("203.0.113.1"),
    }
}

fn peer() -> Viewpoint {
    Viewpoint::Peer {
        addr: ip("198.18.0.2"),
    }
}

fn decided(decision: Decision, rule: Option<RuleRef>) -> Decided {
    Decided {
        backend: Backend::Nftables,
        manager: None,
        active: true,
        decision,
        rule,
        managed: None,
        possible: vec![],
        deciders: vec![],
        assumptions: vec![],
        redirected_to: None,
        delivery: None,
        endpoints: vec![],
        decided_at: None,
    }
}

fn verdict(vp: Viewpoint, decision: Decision, rule: Option<RuleRef>) -> ViewpointVerdict {
    ViewpointVerdict {
        viewpoint: vp,
        dst: ip("198.18.0.1"),
        iif: "eth0".into(),
        overall: decided(decision, rule),
        backends: vec![],
        shadowed: vec![],
        without_nat: None,
    }
}

fn rule(text: &str, handle: u64, policy: bool) -> RuleRef {
    RuleRef {
        backend: Backend::Nftables,
        family: portdoctor_firewall::Family::Inet,
        table: "filter".into(),
        chain: "input".into(),
        handle: Some(handle),
        position: if policy { 0 } else { 3 },
        text: text.into(),
        comment: None,
        is_policy: policy,
    }
}

/// A plan as the firewall library makes them (the lab tests check real ones).
fn plan(scope: FixScope, argv: &[&str]) -> PlannedFix {
    use portdoctor_firewall::manager::{Argv, OpenRequest, PlanStep};
    use portdoctor_firewall::plan::{FixPlan, OwnedStep, Owner};
    PlannedFix {
        plan: FixPlan {
            request: OpenRequest::new(
                8080,
                "tcp",
                match &scope {
                    FixScope::Peer { addr } => Some(addr.to_string()),
                    FixScope::Everyone => None,
                },
            ),
            steps: vec![OwnedStep {
                owner: Owner {
                    backend: Backend::Nftables,
                    manager: None,
                },
                step: PlanStep {
                    title: "Allow it".into(),
                    commands: vec![Argv::new(argv.iter().copied())],
                    stdin: None,
                    edits: vec![],
                    undo: vec![],
                },
            }],
            verification: Verification::Verified,
        },
        scope,
    }
}

fn nft(verdicts: Vec<ViewpointVerdict>) -> FirewallEvidence {
    FirewallEvidence {
        engine: EngineKind::Netfilter,
        managers: vec![],
        verdicts,
        fixes: vec![],
        firewalld: None,
        windows_near_misses: vec![],
    }
}

fn probe(vp: Viewpoint, outcome: ProbeOutcome) -> ProbeEvidence {
    ProbeEvidence {
        viewpoint: vp,
        dst: ip("198.18.0.1"),
        outcome,
        latency_ms: None,
    }
}

fn top(ev: &Evidence) -> Finding {
    let f = diagnose(ev);
    assert!(!f.is_empty(), "no findings");
    f[0].clone()
}

#[test]
fn nothing_listening() {
    let f = top(&evidence(vec![]));
    assert_eq!(f.code, Code::NothingListening);
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn bound_to_loopback_points_at_the_command_line() {
    let f = top(&evidence(vec![listener("127.0.0.1", 42, "app", None)]));
    assert_eq!(f.code, Code::BoundToLoopback);
    assert!(f.evidence[0].contains("app (pid 42) listens on 127.0.0.1:8080"));
    assert!(
        f.fixes[0].title.contains("127.0.0.1:8080"),
        "{}",
        f.fixes[0].title
    );
}

#[test]
fn ipv6_only_listener() {
    let f = top(&evidence(vec![listener("::", 1, "app", Some(true))]));
    assert_eq!(f.code, Code::Ipv6Only);
    let dual = diagnose(&evidence(vec![listener("::", 1, "app", Some(false))]));
    assert!(dual.iter().all(|f| f.code != Code::Ipv6Only));
}

#[test]
fn ipv4_only_matters_for_an_ipv6_peer() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    assert!(diagnose(&ev).iter().all(|f| f.code != Code::Ipv4Only));
    ev.peer = Some(ip("2001:2::2"));
    assert_eq!(top(&ev).code, Code::Ipv4Only);
}

#[test]
fn conflict_and_held_by_other() {
    let ev = evidence(vec![
        listener("0.0.0.0", 1, "nginx", None),
        listener("::", 2, "app", Some(true)),
    ]);
    let f = diagnose(&ev);
    assert!(f.iter().any(|f| f.code == Code::PortConflict));
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "nginx", None)]);
    ev.expected_program = Some("myservice".into());
    let f = top(&ev);
    assert_eq!(f.code, Code::PortHeldByOther);
    assert_eq!(f.fixes[0].commands[0].argv, ["kill", "-TERM", "1"]);
    // Gathered on Windows: no signals there, the fix is PowerShell's Stop-Process.
    ev.os = Os::Windows;
    let c = &top(&ev).fixes[0].commands[0];
    assert_eq!(
        (c.shell, c.display.as_str()),
        (Shell::Powershell, "Stop-Process -Id 1")
    );
}

#[test]
fn firewall_rule_blocks_names_the_rule_and_inserts_before_it() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    let mut fw = nft(vec![verdict(
        outside(),
        Decision::Drop,
        Some(rule("tcp dport 8080 drop", 12, false)),
    )]);
    fw.fixes
        .push(plan(FixScope::Everyone, &["nft", "insert", "rule"]));
    ev.firewall = Part::present(vec![fw]);
    let f = top(&ev);
    assert_eq!(f.code, Code::FirewallBlocks);
    assert!(
        f.evidence[0].contains("handle 12 in inet filter input: `tcp dport 8080 drop`"),
        "{:?}",
        f.evidence
    );
    assert_eq!(f.fixes[0].commands[0].display, "nft insert rule");
    assert_eq!(f.fixes[0].verification, Some(Verification::Verified));
}

#[test]
fn a_host_with_loopback_only_still_names_the_rule_that_blocks_its_own_connections() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    let lo = Viewpoint::Loopback {
        addr: ip("127.0.0.1"),
    };
    let drop = Some(rule("tcp dport 8080 drop", 2, false));
    ev.firewall = Part::present(vec![nft(vec![verdict(lo.clone(), Decision::Drop, drop)])]);
    ev.probes = Part::present(vec![probe(lo, ProbeOutcome::Filtered)]);
    let f = top(&ev);
    assert_eq!(f.code, Code::FirewallBlocks);
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.summary.ends_with("even from this machine"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains("tcp dport 8080 drop"), "{}", f.summary);
}

#[test]
fn default_deny_policy() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    ev.firewall = Part::present(vec![nft(vec![verdict(
        outside(),
        Decision::Drop,
        Some(rule("policy drop", 1, true)),
    )])]);
    let f = top(&ev);
    assert_eq!(f.code, Code::DefaultDeny);
    assert!(
        f.evidence[0].contains("by the policy of inet filter input"),
        "{:?}",
        f.evidence
    );
}

#[test]
fn shadowed_allow() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    let mut v = verdict(
        outside(),
        Decision::Reject(portdoctor_firewall::RejectKind::TcpReset),
        Some(rule("ip saddr 0.0.0.0/0 reject", 3, false)),
    );
    v.shadowed.push(decided(
        Decision::Accept,
        Some(rule("tcp dport 8080 accept", 9, false)),
    ));
    ev.firewall = Part::present(vec![nft(vec![v])]);
    let f = top(&ev);
    assert_eq!(f.code, Code::AllowShadowed);
    assert!(f.summary.contains("tcp dport 8080 accept"));
}

#[test]
fn some_sources_only_opens_for_the_peer() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    ev.peer = Some(ip("198.18.0.2"));
    ev.firewall = Part::present(vec![nft(vec![
        verdict(
            outside(),
            Decision::Accept,
            Some(rule("ip saddr 203.0.113.0/24 accept", 4, false)),
        ),
        verdict(
            peer(),
            Decision::Drop,
            Some(rule("ip saddr 198.18.0.0/15 drop", 5, false)),
        ),
    ])]);
    if let Part::Present { value } = &mut ev.firewall {
        value[0].fixes.push(plan(FixScope::Everyone, &["broad"]));
        value[0].fixes.push(plan(
            FixScope::Peer {
                addr: ip("198.18.0.2"),
            },
            &["narrow"],
        ));
    }
    let f = top(&ev);
    assert_eq!(f.code, Code::SomeSourcesOnly);
    assert_eq!(f.severity, Severity::Error);
    // The narrowest fix (for the peer asked about) comes first.
    assert_eq!(f.fixes[0].commands[0].display, "narrow");
    assert_eq!(f.fixes[1].commands[0].display, "broad");
}

#[test]
fn firewalld_wrong_zone() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    let mut fw = nft(vec![verdict(
        outside(),
        Decision::Reject(portdoctor_firewall::RejectKind::AdminProhibited),
        Some(rule("reject", 40, false)),
    )]);
    fw.firewalld = Some(FirewalldZones {
        iface_zones: vec![("eth0".into(), "public".into())],
        zones_opening_port: vec!["internal".into()],
        default_zone: "public".into(),
    });
    ev.firewall = Part::present(vec![fw]);
    let f = top(&ev);
    assert_eq!(f.code, Code::FirewalldWrongZone);
    assert!(f.summary.contains("zone internal"), "{}", f.summary);
    assert_eq!(
        f.fixes[0].commands[0].display,
        "firewall-cmd --zone=internal --change-interface=eth0"
    );
}

#[test]
fn windows_rule_for_the_wrong_profile() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app.exe", None)]);
    let mut fw = nft(vec![verdict(
        outside(),
        Decision::Drop,
        Some(rule("default inbound action: block", 0, true)),
    )]);
    fw.engine = EngineKind::Windows;
    fw.windows_near_misses.push(WindowsNearMiss {
        rule: "Allow Go Web Service on 8080".into(),
        mismatch: "profile Private, but the active profile is Public".into(),
        field: "profile".into(),
    });
    ev.firewall = Part::present(vec![fw]);
    let f = top(&ev);
    assert_eq!(f.code, Code::WindowsRuleMismatch);
    assert!(f.summary.contains("active profile is Public"));
}

#[test]
fn unknown_firewall_is_a_warning_not_a_guess() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    ev.firewall = Part::present(vec![nft(vec![verdict(
        outside(),
        Decision::Unknown("osf match".into()),
        None,
    )])]);
    let f = diagnose(&ev);
    assert!(
        f.iter()
            .any(|f| f.code == Code::FirewallUnknown && f.severity == Severity::Warning)
    );
    assert!(!has_errors(&f));
}

#[test]
fn close_wait_and_time_wait_buildup() {
    let mut sockets = vec![listener("0.0.0.0", 10, "svc", None)];
    sockets.extend((0..CLOSE_WAIT_THRESHOLD).map(|_| conn(SocketState::CloseWait)));
    sockets.extend((0..TIME_WAIT_THRESHOLD).map(|_| conn(SocketState::TimeWait)));
    let f = diagnose(&evidence(sockets));
    assert!(
        f.iter()
            .any(|f| f.code == Code::CloseWaitBuildup && f.summary.contains("svc (pid 10)"))
    );
    assert!(f.iter().any(|f| f.code == Code::TimeWaitBuildup));
}

#[test]
fn unhealthy_service() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    ev.health = Some(Part::present(HealthEvidence {
        request: "GET /healthz".into(),
        status: Some(503),
        error: None,
    }));
    assert_eq!(top(&ev).code, Code::Unhealthy);
}

#[test]
fn filtered_from_the_peer_with_no_local_rule_is_upstream() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    ev.peer = Some(ip("198.18.0.2"));
    ev.firewall = Part::present(vec![nft(vec![verdict(peer(), Decision::Accept, None)])]);
    ev.probes = Part::present(vec![
        probe(
            Viewpoint::Loopback {
                addr: ip("127.0.0.1"),
            },
            ProbeOutcome::Open,
        ),
        probe(peer(), ProbeOutcome::Filtered),
    ]);
    let f = top(&ev);
    assert_eq!(f.code, Code::UpstreamFiltered);
    assert_eq!(f.severity, Severity::Error);
    ev.firewall = Part::missing("reading the ruleset needs root");
    let f = diagnose(&ev);
    assert!(
        f.iter()
            .any(|f| f.code == Code::UpstreamFiltered && f.severity == Severity::Warning)
    );
    assert!(f.iter().any(|f| f.code == Code::EvidenceMissing));
}

#[test]
fn healthy_port_gives_no_errors_and_a_reachable_summary() {
    let mut ev = evidence(vec![listener("0.0.0.0", 1, "app", None)]);
    ev.peer = Some(ip("198.18.0.2"));
    ev.probes = Part::present(vec![probe(peer(), ProbeOutcome::Open)]);
    let f = diagnose(&ev);
    assert!(!has_errors(&f));
    assert_eq!(f[0].code, Code::Reachable);
    assert!(f[0].summary.contains("reachable from peer 198.18.0.2"));
}

#[test]
fn findings_serialise_with_stable_fields() {
    let f = top(&evidence(vec![listener("127.0.0.1", 42, "app", None)]));
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v["code"], "PD002");
    assert_eq!(v["name"], "bound-to-loopback");
    assert_eq!(v["severity"], "error");
    assert_eq!(v["fixes"][0]["operation"]["kind"], "change-bind");
}
