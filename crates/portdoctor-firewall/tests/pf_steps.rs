//! pf fixes as the fix engine carries them out (the one planner, `plan::plan`): argument
//! vectors and stdin, never a shell line; the pass rule labelled with the change's tag.
//! Real recorded rulesets from tests/data/pf (sources in its README).

use portdoctor_firewall::manager::{Argv, OpenRequest};
use portdoctor_firewall::pf::{self, LoadOptions, PfFirewall};
use portdoctor_firewall::plan::{self, Goal, Verification};
use portdoctor_firewall::{Engine, Packet, Proto};

const TAG: &str = "portdoctor:t1";

fn data(name: &str) -> (String, String) {
    let p = format!("{}/tests/data/pf/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    (name.to_string(), text)
}

fn open(port: u16) -> OpenRequest {
    OpenRequest {
        port,
        proto: "tcp".into(),
        from: None,
        to: None,
        tag: TAG.into(),
    }
}

fn pkt(port: u16) -> Packet {
    Packet::new(
        Proto::Tcp,
        "203.0.113.5".parse().unwrap(),
        "192.168.1.20".parse().unwrap(),
        port,
    )
    .with_iif("en0")
}

/// A pf.conf given as text.
fn conf_file(conf: &str) -> PfFirewall {
    pf::load_with(&[("pf.conf".into(), conf.into())], &LoadOptions::default()).unwrap()
}

/// 127.0.0.1 → 127.0.0.1:8080 arriving on `iif`.
fn loopback(iif: &str) -> Packet {
    let lo = "127.0.0.1".parse().unwrap();
    Packet::new(Proto::Tcp, lo, lo, 8080).with_iif(iif)
}

fn argv(a: &[&str]) -> Argv {
    Argv::new(a.iter().copied())
}

fn one_step(fw: &PfFirewall, p: &Packet) -> plan::OwnedStep {
    let plan = plan::plan(fw, &[], std::slice::from_ref(p), &open(p.dport), Goal::Open);
    assert_eq!(plan.verification, Verification::Verified, "{plan:#?}");
    assert_eq!(plan.steps.len(), 1, "{plan:#?}");
    let step = plan.steps[0].clone();
    for c in step.step.commands.iter().chain(&step.step.undo) {
        assert_ne!(c.0[0], "sh", "a shell line: {c:?}");
    }
    step
}

/// A BSD pf.conf (no `portdoctor` anchor reference, no com.apple anchors): the anchor is
/// loaded from stdin, then pf.conf is checked and reloaded (the applier first checks that it
/// references the anchor).
#[test]
fn anchor_load_then_pf_conf_reload_when_the_anchor_needs_a_reference() {
    let fw = conf_file("set skip on lo\nblock return in all\npass out all keep state\n");
    let step = one_step(&fw, &pkt(8080));
    assert_eq!(
        step.step.commands,
        vec![
            argv(&["pfctl", "-a", "portdoctor", "-f", "-"]),
            argv(&["pfctl", "-nf", "/etc/pf.conf"]),
            argv(&["pfctl", "-f", "/etc/pf.conf"]),
        ]
    );
    assert_eq!(
        step.step.stdin.as_deref(),
        Some(
            "pass in quick proto tcp from any to any port 8080 flags S/SA keep state label \"portdoctor:t1\"\n"
        )
    );
    assert!(step.step.undo.is_empty());
}

/// The stock macOS ruleset: `com.apple/portdoctor` is evaluated without a pf.conf change, so
/// it is the step; the anchor's rules as read are kept in the load.
#[test]
fn macos_uses_com_apple_anchor_and_keeps_its_rules() {
    let mut fw = pf::load(&[data("macos_stock_pfctl_sr.txt")]).unwrap();
    fw.assume_unread_anchors_empty = true;
    fw.main.push(block_all_in());
    fw.anchors.insert(
        "com.apple/portdoctor".into(),
        pf::load(&[(
            "x".into(),
            "pass in quick proto tcp from any to any port 22 label \"portdoctor:old\"\n".into(),
        )])
        .unwrap()
        .main,
    );
    let step = one_step(&fw, &pkt(8080));
    assert_eq!(
        step.step.commands,
        vec![argv(&["pfctl", "-a", "com.apple/portdoctor", "-f", "-"])]
    );
    let stdin = step.step.stdin.unwrap();
    let lines: Vec<&str> = stdin.lines().collect();
    assert_eq!(lines.len(), 2, "{stdin}");
    assert!(lines[0].contains("port 22") && lines[0].contains("portdoctor:old"));
    assert!(lines[1].contains("port 8080") && lines[1].ends_with("label \"portdoctor:t1\""));
}

/// A blocked application under the Application Firewall: socketfilterfw argument vectors, and
/// the one that undoes them.
#[test]
fn application_firewall_steps_are_argument_vectors_with_their_undo() {
    let mut fw = pf::load(&[
        data("macos_stock_pfctl_sr.txt"),
        data("macos_socketfilterfw_tahoe.txt"),
        data("macos_socketfilterfw_listapps.txt"),
    ])
    .unwrap();
    fw.assume_unread_anchors_empty = true;
    let goapp = "/usr/local/bin/go app";
    fw.alf.as_mut().unwrap().apps.push((goapp.into(), false));
    let mut p = pkt(8080);
    p.local_program = Some(goapp.into());
    let step = one_step(&fw, &p);
    let tool = pf::step::SOCKETFILTERFW;
    assert_eq!(
        step.step.commands,
        vec![
            argv(&[tool, "--add", goapp]),
            argv(&[tool, "--unblockapp", goapp]),
        ]
    );
    assert_eq!(step.step.undo, vec![argv(&[tool, "--blockapp", goapp])]);
    assert_eq!(step.step.stdin, None);
}

/// `block in all`, as the last rule of the main ruleset.
fn block_all_in() -> pf::model::PfRule {
    pf::load(&[("x".into(), "block drop in all\n".into())])
        .unwrap()
        .main
        .remove(0)
}

/// Nested anchors as `pfctl -a '*' -sr` lists them are found by their full path.
#[test]
fn nested_anchor_rules_are_found_by_path() {
    let fw = pf::load(&[(
        "sr".into(),
        "anchor \"com.apple/*\" all {\n  anchor \"portdoctor\" all {\n    pass in quick proto tcp from any to any port = 22 flags S/SA keep state label \"portdoctor:a\"\n  }\n}\n"
            .into(),
    )])
    .unwrap();
    let rules = pf::step::anchor_rules(&fw, "com.apple/portdoctor");
    assert_eq!(rules.len(), 1, "{fw:#?}");
    assert!(rules[0].contains("portdoctor:a"));
    assert!(pf::step::anchor_rules(&fw, "portdoctor").is_empty());
    let _ = fw.explain(&pkt(22));
}

/// Linux's loopback viewpoint (`lo`) is pf's `lo0`: `set skip on lo0` lets it through when a
/// BSD ruleset is read offline on Linux.
#[test]
fn linux_loopback_viewpoint_is_lo0_to_pf() {
    let conf = "set skip on lo0\nblock return in all\n";
    let fw = conf_file(conf);
    let lo = loopback("lo");
    let v = fw.explain(&lo).overall;
    assert_eq!(v.decision, portdoctor_firewall::Decision::Accept, "{v:#?}");
    assert!(fw.explain(&pkt(8080)).overall.decision != portdoctor_firewall::Decision::Accept);
}

/// A ruleset-wide decision is named for what it is (`set skip`, the default pass), not as
/// "no rule matched".
#[test]
fn ruleset_wide_decisions_are_named_for_what_they_are() {
    use portdoctor_firewall::attribution::place_text;
    let conf = "set skip on lo0\npass in proto tcp to port 22\n";
    let fw = conf_file(conf);
    let lo = loopback("lo0");
    let by = |p: &Packet| place_text(&fw.explain(p).overall.decided_by.unwrap());
    assert_eq!(
        by(&lo),
        "pf (set skip on lo0: pf does not filter this interface)"
    );
    assert_eq!(by(&pkt(8080)), "pf (no rule matches: pf passes by default)");
}
