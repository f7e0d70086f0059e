//! pf engine and the macOS Application Firewall against real recorded rulesets
//! (tests/data/pf, sources in its README).

use portdoctor_firewall::fix::{FixKind, FixRequest};
use portdoctor_firewall::pf::{self, Format, LoadOptions, PfFirewall};
use portdoctor_firewall::{CtState, Decision, Engine, Packet, Proto, RejectKind, Verdict};

fn data(name: &str) -> (String, String) {
    let p = format!("{}/tests/data/pf/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    (name.to_string(), text)
}

fn load(names: &[&str]) -> PfFirewall {
    let files: Vec<(String, String)> = names.iter().map(|n| data(n)).collect();
    pf::load(&files).expect("load")
}

fn pkt(proto: Proto, src: &str, dst: &str, port: u16, iif: &str) -> Packet {
    Packet::new(proto, src.parse().unwrap(), dst.parse().unwrap(), port).with_iif(iif)
}

fn rule(v: &Verdict) -> (String, usize, String) {
    let r = v.decided_by.as_ref().expect("decided_by");
    (r.table.clone(), r.position, r.text.clone())
}

/// The macOS-Fortress pf.conf with `-D vpn_net=…` (the file uses the macro while its
/// definition is commented out, as pfctl would report) and en0 at 192.168.1.20/24.
fn fortress() -> PfFirewall {
    let opts = LoadOptions {
        defines: vec![("vpn_net".into(), "10.8.0/24".into())],
    };
    let mut fw = pf::load_with(&[data("macos_fortress_pf.conf")], &opts).unwrap();
    let a: std::net::IpAddr = "192.168.1.20".parse().unwrap();
    fw.interfaces.push((
        "en0".into(),
        vec![(
            a,
            portdoctor_firewall::addr::IpRange::parse("192.168.1.0/24").unwrap(),
        )],
    ));
    fw
}

#[test]
fn recognised_by_content() {
    for (f, want) in [
        ("macos_fortress_pf.conf", Format::Rules),
        ("macos_stock_pf.conf", Format::Rules),
        ("macos_stock_pfctl_sr.txt", Format::Rules),
        ("openbsd_regress_pf2.loaded", Format::Rules),
        ("opnsense_core_2866_pfctl_sa.txt", Format::Rules),
        ("macos_socketfilterfw_tahoe.txt", Format::AppFirewall),
        ("macos_socketfilterfw_listapps.txt", Format::AppFirewall),
    ] {
        assert_eq!(pf::format_of(&data(f).1), Some(want), "{f}");
    }
    assert_eq!(
        pf::format_of("203.0.113.5\n   10.0.0.0/8\n"),
        Some(Format::Table)
    );
    assert!(!pf::recognise("*filter\n:INPUT DROP [0:0]\nCOMMIT\n"));
    assert!(!pf::recognise("Rule Name:     x\n"));
    assert!(!pf::recognise(
        "table inet filter {\n\tchain input {\n\t}\n}\n"
    ));
    assert!(!pf::recognise(
        &std::fs::read_to_string(format!(
            "{}/tests/data/default_deny.nft",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    ));
    let e = pf::load(&[("x".into(), "anchor \"a\" {\npass in all\n".into())]).unwrap_err();
    assert_eq!(e.line, 1, "{e}");
}

#[test]
fn undefined_macro_is_an_error_with_line_and_column_as_pfctl_reports() {
    let e = pf::load(&[data("macos_fortress_pf.conf")]).unwrap_err();
    assert_eq!((e.line, e.column), (64, 28), "{e}");
    assert!(e.message.contains("$vpn_net"), "{e}");
}

/// The stock macOS pf.conf: everything lives in com.apple anchors whose rules pf.conf only
/// loads from files. Unknown unless they are read or assumed empty.
#[test]
fn stock_macos_anchors_unread_make_it_unknown_or_an_assumption() {
    for f in ["macos_stock_pf.conf", "macos_stock_pfctl_sr.txt"] {
        let mut fw = load(&[f]);
        let p = pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 8080, "en0");
        let Decision::Unknown(why) = fw.evaluate_pf(&p).decision else {
            panic!("{f}")
        };
        assert!(why.contains("com.apple/*"), "{why}");
        fw.assume_unread_anchors_empty = true;
        let v = fw.evaluate_pf(&p);
        assert_eq!(v.decision, Decision::Accept, "{f}");
        assert!(v.decided_by.unwrap().text.contains("passes by default"));
        assert!(v.assumptions.iter().any(|a| a.contains("com.apple")));
        if f.ends_with(".conf") {
            // pf.conf's `rdr-anchor` is read past: stated, not silently ignored.
            let rdr = v
                .assumptions
                .iter()
                .any(|a| a.contains("rdr-anchor \"com.apple/*\""));
            assert!(rdr, "{:?}", v.assumptions);
        }
        // pf is disabled by default on macOS.
        fw.enabled = Some(false);
        assert!(
            fw.evaluate_pf(&p)
                .decided_by
                .unwrap()
                .text
                .starts_with("pf is disabled")
        );
    }
}

#[test]
fn last_match_wins_and_block_return_answers_with_rst_or_icmp() {
    let mut fw = fortress();
    fw.assume_unread_anchors_empty = true;
    // 8080 from the Internet: nothing after `block all` passes it; block-policy return.
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 8080, "en0"));
    assert_eq!(v.decision, Decision::Reject(RejectKind::TcpReset));
    assert_eq!(rule(&v), ("".into(), 2, "block all".into()));
    assert!(v.assumptions.iter().any(|a| a.contains("routable")));
    assert!(v.assumptions.iter().any(|a| a.contains("<bruteforce>")));
    // ssh: a later non-quick pass beats `block all`.
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 22, "en0"));
    assert_eq!(v.decision, Decision::Accept);
    assert!(
        rule(&v)
            .2
            .starts_with("pass in inet proto tcp from any to { lo0 en0 } port ssh")
    );
    // UDP blocked by `block in proto udp … port $lan_udp_services`: ICMP unreachable.
    let v = fw.evaluate_pf(&pkt(Proto::Udp, "203.0.113.5", "192.168.1.20", 5001, "en0"));
    assert_eq!(v.decision, Decision::Reject(RejectKind::PortUnreachable));
    assert!(rule(&v).2.starts_with("block in proto udp"));
    // VNC from the Internet: blocked; from the LAN: the quick pass from <lan_inet> decides
    // first, whatever comes later.
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 5901, "en0"));
    assert!(rule(&v).2.starts_with("block in proto tcp"), "{v:?}");
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "192.168.1.7", "192.168.1.20", 5901, "en0"));
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(
        rule(&v).2,
        "pass quick inet from <lan_inet> to any keep state"
    );
    // set skip on lo0.
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "127.0.0.1", "127.0.0.1", 8080, "lo0"));
    assert!(v.decided_by.unwrap().text.starts_with("set skip on lo0"));
}

#[test]
fn tables_and_quick_block_drop() {
    let mut fw = fortress();
    fw.assume_unread_anchors_empty = true;
    let files = [("bruteforce.txt".to_string(), "   203.0.113.5\n".to_string())];
    let t = pf::load(&files).unwrap();
    fw.tables.extend(t.tables);
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 22, "en0"));
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(rule(&v).2, "block drop log quick from <bruteforce>");
    assert!(
        !v.assumptions.iter().any(|a| a.contains("<bruteforce>")),
        "read live: no assumption"
    );
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.6", "192.168.1.20", 22, "en0"));
    assert_eq!(v.decision, Decision::Accept);
}

#[test]
fn established_flows_keep_their_state() {
    let fw = fortress();
    let mut p = pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 8080, "en0");
    p.ct_state = CtState::Established;
    p.tcp_flags = 0x10;
    let v = fw.evaluate_pf(&p);
    assert_eq!(v.decision, Decision::Accept);
    assert!(v.decided_by.unwrap().text.starts_with("state table"));
    assert!(v.assumptions[0].contains("pfctl -k"));
}

/// `pfctl -vvsr` listing from OpenBSD's regress suite: rule numbers, quick vs last match,
/// return-rst and return-icmp.
#[test]
fn openbsd_vvsr_listing() {
    let fw = load(&["openbsd_regress_pf2.loaded"]);
    assert_eq!(fw.main.len(), 22);
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "198.51.100.1", 25, "tun0"));
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(rule(&v).1, 19);
    let v = fw.evaluate_pf(&pkt(
        Proto::Tcp,
        "203.0.113.5",
        "198.51.100.1",
        8080,
        "tun0",
    ));
    assert_eq!(v.decision, Decision::Reject(RejectKind::TcpReset));
    assert_eq!(rule(&v).1, 3);
    let v = fw.evaluate_pf(&pkt(
        Proto::Udp,
        "203.0.113.5",
        "198.51.100.1",
        9999,
        "tun0",
    ));
    assert_eq!(v.decision, Decision::Reject(RejectKind::PortUnreachable));
    assert_eq!(rule(&v).1, 5);
    // quick: from 10/8 the drop at @8 ends evaluation before the smtp pass.
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "10.1.2.3", "198.51.100.1", 25, "tun0"));
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(rule(&v).1, 8);
    // Another interface: no rule matches, pf passes.
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "10.1.2.3", "198.51.100.1", 25, "em0"));
    assert!(v.decided_by.unwrap().is_policy);
    // Unknown interface: unknown, never a guess.
    let mut p = pkt(Proto::Tcp, "203.0.113.5", "198.51.100.1", 25, "x");
    p.iif = None;
    assert!(matches!(fw.evaluate_pf(&p).decision, Decision::Unknown(_)));

    let fw = load(&["openbsd_regress_pf13.loaded"]);
    assert_eq!(fw.main.len(), 16);
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "192.0.2.1", "10.1.1.1", 21, "tun1000000"));
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(rule(&v).1, 10, "the last matching block, not the first");
}

/// Appliance rules (OPNsense `pfctl -sa` from issues): labels name the rule.
#[test]
fn opnsense_rules_are_named_by_label() {
    let fw = load(&[
        "opnsense_core_2866_pfctl_sa.txt",
        "opnsense_core_2016_pfctl.txt",
    ]);
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "192.168.1.5", "198.51.100.7", 443, "igb3"));
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(
        v.decided_by.unwrap().comment.as_deref(),
        Some("USER_RULE: Access Internet from LAN")
    );
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "10.0.0.5", "198.51.100.7", 443, "igb3"));
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(
        v.decided_by.unwrap().comment.as_deref(),
        Some("USER_RULE: Outside LAN")
    );
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "2001:db8::5", "2001:db8::1", 443, "igb0"));
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(
        v.decided_by.unwrap().comment.as_deref(),
        Some("Block all IPv6")
    );
}

/// The fix: on macOS a quick pass in `com.apple/portdoctor` first (no pf.conf change), else
/// in anchor `portdoctor` (pf.conf must reference it); each verified by re-evaluation.
#[test]
fn fix_is_an_anchor_rule_verified_by_re_evaluation() {
    let mut fw = fortress();
    fw.assume_unread_anchors_empty = true;
    let p = pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 8080, "en0");
    let req = FixRequest {
        port: 8080,
        proto: Proto::Tcp,
        source: None,
    };
    let fixes = pf::plan_fix(&fw, &p, &req);
    assert_eq!(fixes.len(), 2, "{fixes:#?}");
    assert!(
        fixes
            .iter()
            .all(|f| f.verified && f.kind == FixKind::AddAllow)
    );
    let a = &fixes[1];
    assert!(a.notes[0].contains("pf.conf must reference the anchor"));
    assert_eq!(
        a.commands.last().unwrap().line,
        "(pfctl -a portdoctor -sr 2>/dev/null; echo 'pass in quick proto tcp from any to any port 8080 flags S/SA keep state label \"portdoctor\"') | pfctl -a portdoctor -f -"
    );
    let fixed = fw.edited(&a.edits).unwrap().explain(&p).overall;
    assert_eq!(fixed.decision, Decision::Accept);
    assert_eq!(fixed.decided_by.unwrap().table, "portdoctor");
    // Without the anchor reference the anchor is never evaluated: still blocked.
    let only_anchor = vec![a.edits.last().unwrap().clone()];
    let v = fw.edited(&only_anchor).unwrap().explain(&p).overall;
    assert_eq!(v.decision, Decision::Reject(RejectKind::TcpReset));
    let b = &fixes[0];
    assert!(
        b.commands[0]
            .line
            .contains("pfctl -a com.apple/portdoctor -f -")
    );
    assert_eq!(
        fw.edited(&b.edits)
            .unwrap()
            .explain(&p)
            .overall
            .decided_by
            .unwrap()
            .table,
        "com.apple/portdoctor"
    );
}

#[test]
fn application_firewall_is_a_second_verdict() {
    let mut fw = load(&[
        "macos_stock_pfctl_sr.txt",
        "macos_socketfilterfw_tahoe.txt",
        "macos_socketfilterfw_listapps.txt",
    ]);
    fw.assume_unread_anchors_empty = true;
    let alf = fw.alf.clone().unwrap();
    assert_eq!((alf.enabled, alf.stealth), (Some(true), Some(true)));
    assert_eq!(alf.apps.len(), 1);
    let java = "/Library/Java/JavaVirtualMachines/amazon-corretto-8.jdk/Contents/Home/bin/java";
    let mut p = pkt(Proto::Tcp, "192.168.1.7", "192.168.1.20", 8080, "en0");
    p.local_program = Some(java.into());
    let e = fw.explain(&p);
    assert_eq!(e.backends.len(), 2);
    assert_eq!(e.overall.decision, Decision::Accept);
    assert_eq!(
        e.backends[1].verdict.decided_by.as_ref().unwrap().table,
        "application_firewall"
    );
    // A program the Application Firewall does not list: unknown (signed apps may be allowed,
    // others prompt the user).
    p.local_program = Some("/usr/local/bin/goapp".into());
    assert!(matches!(
        fw.explain(&p).overall.decision,
        Decision::Unknown(_)
    ));
    // Listed as blocked, stealth on: dropped; the fix allows the app, verified.
    fw.alf
        .as_mut()
        .unwrap()
        .apps
        .push(("/usr/local/bin/goapp".into(), false));
    let e = fw.explain(&p);
    assert_eq!(e.overall.decision, Decision::Drop);
    let req = FixRequest {
        port: 8080,
        proto: Proto::Tcp,
        source: None,
    };
    let fixes = pf::plan_fix(&fw, &p, &req);
    assert_eq!(fixes.len(), 1);
    assert!(
        fixes[0].commands[1]
            .line
            .ends_with("--unblockapp '/usr/local/bin/goapp'")
    );
    assert!(fixes[0].verified);
}

#[test]
fn sweep_covers_all_ports() {
    let fw = load(&["openbsd_regress_pf2.loaded"]);
    let s = fw.sweep(&pkt(Proto::Tcp, "203.0.113.5", "198.51.100.1", 0, "tun0"));
    assert_eq!(s.ranges.first().unwrap().from, 0);
    assert_eq!(s.ranges.last().unwrap().to, 65535);
    assert_eq!(s.decision(22).unwrap().decision, Decision::Accept);
    assert_eq!(
        s.decision(23).unwrap().decision,
        Decision::Reject(RejectKind::TcpReset)
    );
    assert_eq!(s.accepted(), vec![(22, 22), (25, 25), (53, 53), (113, 113)]);
}

#[test]
fn errors_carry_line_and_column() {
    let e = pf::load(&[(
        "x.conf".into(),
        "set skip on lo0\npass in proto nonsense\n".into(),
    )])
    .unwrap_err();
    assert_eq!((e.line, e.column), (2, 15), "{e}");
    let e = pf::load(&[("x.conf".into(), "pass in all\n}\n".into())]).unwrap_err();
    assert_eq!(e.line, 2);
    let e = pf::load(&[("x.conf".into(), "pass in from { 10.0.0.1 to any\n".into())]).unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn nested_anchor_listing_is_evaluated_in_place() {
    // The shape of `pfctl -a '*' -sr` with nested anchors (hand-written: no public recording
    // of it was found).
    let text = "anchor \"com.apple/*\" all {\n  anchor \"200.AirDrop/*\" all {\n  }\n  anchor \"250.ApplicationFirewall/*\" all {\n    block return in quick proto tcp from any to any port = 8080\n  }\n}\npass in all\n";
    let fw = pf::load(&[("rules".into(), text.into())]).unwrap();
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 8080, "en0"));
    assert_eq!(v.decision, Decision::Reject(RejectKind::TcpReset));
    assert_eq!(
        v.decided_by.unwrap().table,
        "com.apple/250.ApplicationFirewall"
    );
}

/// Live collection through a fake runner answering as `pfctl` and `socketfilterfw` would.
#[test]
fn collect_reads_pfctl_tables_and_socketfilterfw() {
    use portdoctor_firewall::collect::{RunOutput, Runner};
    struct Fake;
    impl Runner for Fake {
        fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput> {
            let ok = |s: &str| {
                Ok(RunOutput {
                    code: Some(0),
                    stdout: s.into(),
                    stderr: String::new(),
                })
            };
            match (program, args) {
                ("pfctl", ["-s", "info"]) => {
                    ok("Status: Enabled for 0 days 00:10:00           Debug: Urgent\n")
                }
                ("pfctl", ["-a", "*", "-sr"]) => {
                    ok("block drop in quick from <bad> to any\npass in all\n")
                }
                ("pfctl", ["-t", "bad", "-T", "show"]) => ok("   203.0.113.66\n"),
                (p, ["--getglobalstate"]) if p.ends_with("socketfilterfw") => {
                    ok("Firewall is disabled. (State = 0)\n")
                }
                _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
            }
        }
    }
    let fw = pf::collect(&Fake);
    assert_eq!(fw.enabled, Some(true));
    assert_eq!(fw.main.len(), 2);
    assert!(fw.tables["bad"].live);
    assert_eq!(fw.alf.as_ref().unwrap().enabled, Some(false));
    let v = fw
        .explain(&pkt(Proto::Tcp, "203.0.113.66", "192.168.1.20", 22, "en0"))
        .overall;
    assert_eq!(v.decision, Decision::Drop);
    let v = fw
        .explain(&pkt(Proto::Tcp, "203.0.113.67", "192.168.1.20", 22, "en0"))
        .overall;
    assert_eq!(v.decision, Decision::Accept);
}

#[test]
fn undecided_rules_do_not_explode_into_paths() {
    // 40 rules that each may match (the packet's interface is unknown): paths in the same state
    // are merged, so the answer lists the reasons instead of hitting the path limit.
    let text: String = (0..40)
        .map(|i| format!("pass in on en{i} proto tcp all\nblock in on en{i} proto tcp all\n"))
        .collect();
    let fw = pf::load(&[("r".into(), text)]).unwrap();
    let mut p = pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 22, "x");
    p.iif = None;
    let Decision::Unknown(why) = fw.evaluate_pf(&p).decision else {
        panic!()
    };
    assert!(!why.contains("more than"), "{why}");
    assert!(why.contains("interface is unknown"), "{why}");
}

#[test]
fn quick_anchor_ends_evaluation_only_when_a_rule_inside_matched() {
    let text = "anchor \"a\" in quick {\n  pass in proto tcp from any to any port 22\n}\nblock return in all\n";
    let fw = pf::load(&[("r".into(), text.into())]).unwrap();
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 22, "en0"));
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(v.decided_by.unwrap().table, "a");
    let v = fw.evaluate_pf(&pkt(Proto::Tcp, "203.0.113.5", "192.168.1.20", 80, "en0"));
    assert_eq!(v.decision, Decision::Reject(RejectKind::TcpReset));
}
