//! The native nftables reader (netlink) against `nft -j list ruleset`, in lab namespaces:
//! every layout the test data records (Docker and kube-proxy through iptables-nft,
//! firewalld-style nft, the JSON recordings, the native-reader layouts in `data/native/`)
//! and synthetic rulesets of every size the benchmarks use, loaded and read back both ways.
//! The models must be equal (see `native/equiv.rs`); the count is printed.
//!
//! Lab policy: skipped with the reason without root, unless `PORTDOCTOR_LAB=1`.

#![cfg(target_os = "linux")]

#[path = "native/equiv.rs"]
mod equiv;
#[path = "../benches/synth.rs"]
mod synth;

use equiv::Equivalence;
use portdoctor_lab::Lab;
use std::io::Write as _;
use std::path::Path;

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// One way to load a recorded layout: program, arguments, the file fed on stdin.
struct Load {
    label: &'static str,
    steps: Vec<(&'static str, Vec<&'static str>, String)>,
    /// nft refuses some JSON recordings (e.g. ingress chains without a device): skipped.
    may_fail: bool,
}

fn layouts() -> Vec<Load> {
    let nft = |label, file: &str| Load {
        label,
        steps: vec![("nft", vec!["-f", "-"], data(file))],
        may_fail: false,
    };
    let json = |label, file: &str| Load {
        label,
        steps: vec![("nft", vec!["-j", "-f", "-"], data(file))],
        may_fail: true,
    };
    let ipt = |label, v4: &str, v6: Option<&str>| {
        let mut steps = vec![("iptables-nft-restore", vec![], data(v4))];
        if let Some(v6) = v6 {
            steps.push(("ip6tables-nft-restore", vec![], data(v6)));
        }
        Load {
            label,
            steps,
            may_fail: false,
        }
    };
    vec![
        nft("native: matches", "native/matches.nft"),
        nft("native: families, nat, notrack", "native/families.nft"),
        nft("native: concatenations, reject", "native/concat_reject.nft"),
        nft("firewalld-style", "native/firewalld_style.nft"),
        nft("native: other statements", "native/statements.nft"),
        nft("default deny with sets", "default_deny.nft"),
        nft("reject family", "reject_family.nft"),
        ipt("docker (iptables-nft)", "docker.rules", None),
        ipt("kube-proxy (iptables-nft)", "kube.rules", None),
        ipt(
            "mixed (iptables-nft)",
            "mixed.iptables-nft.save",
            Some("mixed.ip6tables-nft.save"),
        ),
        json("json: default deny", "default_deny.json"),
        json("json: dynamic set", "dynamic_set.json"),
        json("json: probe", "probe_nft.json"),
        json("json: redirect", "redirect.json"),
        json("json: reject family", "reject_family.json"),
        json("json: ingress", "ingress.json"),
        json("json: mixed", "mixed.nft.json"),
    ]
}

fn report(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[test]
fn recorded_layouts_read_the_same_natively() {
    let Some(lab) = Lab::for_test("recorded_layouts_read_the_same_natively") else {
        return;
    };
    let host = lab.host();
    let mut eq = Equivalence::default();
    let mut loaded = Vec::new();
    for l in layouts() {
        host.run("nft", &["flush", "ruleset"]).expect("flush");
        let mut ok = true;
        for (prog, args, file) in &l.steps {
            let text = std::fs::read_to_string(file).expect("test data");
            if let Err(e) = host.run_stdin(prog, args, &text) {
                assert!(l.may_fail, "{}: {prog} refused {file}: {e}", l.label);
                report(&format!("{}: not loadable here, skipped ({e})", l.label));
                ok = false;
            }
        }
        if ok {
            let before = eq.differences.len();
            eq.check(host.name()).expect("read back");
            loaded.push(format!("{} ({})", l.label, eq.differences.len() - before));
        }
    }
    report(&format!(
        "recorded layouts: {}\n{}",
        loaded.join(", "),
        eq.summary()
    ));
    assert!(loaded.len() >= 10, "only {} layouts loaded", loaded.len());
    assert!(
        eq.differences.is_empty(),
        "{}\n{}",
        eq.summary(),
        eq.differences.join("\n")
    );
}

#[test]
fn synthetic_rulesets_read_the_same_natively() {
    let Some(lab) = Lab::for_test("synthetic_rulesets_read_the_same_natively") else {
        return;
    };
    let host = lab.host();
    let mut eq = Equivalence::default();
    for n in [10, 1000, 10_000] {
        host.run("nft", &["flush", "ruleset"]).expect("flush");
        host.run_stdin("nft", &["-f", "-"], &synth::nft_text(n))
            .expect("load the synthetic ruleset");
        eq.check(host.name()).expect("read back");
    }
    report(&format!("synthetic rulesets: {}", eq.summary()));
    assert!(
        eq.differences.is_empty(),
        "{}\n{}",
        eq.summary(),
        eq.differences
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Writes the raw dump of the current namespace to `PORTDOCTOR_NATIVE_DUMP` (records the
/// fixtures in `data/native/*.bin`; skipped when unset).
#[test]
fn record_raw_dump() {
    let Ok(path) = std::env::var("PORTDOCTOR_NATIVE_DUMP") else {
        return;
    };
    let bytes = portdoctor_firewall::backend::nft_netlink::dump_raw().expect("dump");
    std::fs::write(path, &bytes).expect("write the dump");
}
