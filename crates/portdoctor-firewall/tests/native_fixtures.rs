//! The native reader's decoder on recorded dumps (no root needed): each raw netlink dump in
//! `data/native/NAME.bin` must give the model `nft -j list ruleset` gave for the same
//! ruleset (`NAME.json`, with the `--debug=netlink` and text listings applied as the
//! collector does). Truncated and corrupted dumps, and the inputs fuzzing once found, must
//! give an error or a model, never a panic. Re-record with `data/native/record.sh`.

#[path = "native/equiv.rs"]
mod equiv;

use portdoctor_firewall::backend::nft_netlink::{
    decode_dump, decode_dump_with, wrap_rule_expressions,
};
use portdoctor_firewall::{
    Packet, Proto, apply_netlink_debug, apply_text_devices, explain, parse_nft_json,
};
use std::path::{Path, PathBuf};

const FIXTURES: [&str; 5] = [
    "matches",
    "families",
    "concat_reject",
    "firewalld_style",
    "statements",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/native")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn text(name: &str) -> String {
    String::from_utf8(read(name)).expect("utf-8")
}

/// The lab names loopback `lo` (index 1); the recordings ran in a fresh namespace.
fn lo(i: u32) -> Option<String> {
    (i == 1).then(|| "lo".to_string())
}

#[test]
fn recorded_dumps_decode_to_the_nft_json_model() {
    let mut rules = 0;
    for name in FIXTURES {
        let native = decode_dump_with(&read(&format!("{name}.bin")), &lo)
            .unwrap_or_else(|e| panic!("{name}.bin: {e}"));
        let mut json = parse_nft_json(&text(&format!("{name}.json"))).expect("recorded JSON");
        apply_text_devices(&mut json, &text(&format!("{name}.txt")));
        apply_netlink_debug(&mut json, &text(&format!("{name}.netlink.txt")));
        let diffs = equiv::differences(&native, &json);
        assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n"));
        assert!(native.rule_count() > 0, "{name}: no rule decoded");
        rules += native.rule_count();
    }
    assert!(rules > 80, "{rules} rules");
}

#[test]
fn truncated_and_corrupted_dumps_never_panic() {
    // Kept small: this runs unoptimised in the test profile (fuzzing goes much further).
    for name in ["concat_reject", "firewalld_style"] {
        let bytes = read(&format!("{name}.bin"));
        for cut in (0..bytes.len()).step_by(3) {
            let _ = decode_dump(&bytes[..cut]);
        }
        // Deterministic corruption: bytes in turn set to a few values.
        for i in (0..bytes.len()).step_by(5) {
            for v in [0x00, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = decode_dump(&b);
            }
        }
    }
}

/// Inputs the `nft_netlink` fuzz target once crashed on (`data/native/fuzz/`, as the fuzzer
/// saved them: a mode byte, then a dump or one rule's expressions), kept as regression
/// cases; they are evaluated too, as the fuzz target does.
#[test]
fn fuzz_findings_never_panic() {
    let entries = std::fs::read_dir(dir().join("fuzz")).expect("data/native/fuzz");
    let mut n = 0;
    for e in entries.flatten() {
        let data = std::fs::read(e.path()).expect("fuzz finding");
        let Some((&mode, rest)) = data.split_first() else {
            continue;
        };
        let bytes = if mode % 2 == 0 {
            rest.to_vec()
        } else {
            wrap_rule_expressions(rest)
        };
        if let Ok(rs) = decode_dump(&bytes) {
            let p = Packet::new(
                Proto::Tcp,
                "10.1.2.3".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
                22,
            );
            let _ = explain(&[rs], &p.with_iif("eth0"));
        }
        n += 1;
    }
    assert!(n > 0, "no fuzz finding kept");
}
