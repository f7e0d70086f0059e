//! `diagnose --ruleset` with a real Windows Defender Firewall export (the seed's story: a Go
//! service on 8080, no allow rule, the Public profile blocks inbound by default): the finding,
//! the rule that decides, and the exact `New-NetFirewallRule` fix, checked on a copy.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use portdoctor_lab::Lab;

#[test]
fn the_seed_story_on_a_windows_export() {
    let Some(lab) = Lab::for_test("windows_seed_story") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", 8080, "-", "hold");
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../portdoctor-firewall/tests/data/windows"
    );
    let rules = format!("{data}/w2_export_firewallrules_excerpt.csv");
    let profile = format!("{data}/zh_cn_currentprofile.txt");
    let peer = lab.peer_v4().to_string();
    let (code, doc) = portdoctor_json(
        h,
        &[
            "diagnose",
            "8080",
            "--from",
            &peer,
            "--ruleset",
            &rules,
            "--ruleset",
            &profile,
        ],
    );
    assert_eq!(code, 1, "{doc:#}");
    let f = top(&doc);
    assert_eq!(f["code"], "PD011", "{doc:#}");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("Windows Defender Firewall"),
        "{f:#}"
    );
    assert!(
        f["evidence"].to_string().contains("Public profile"),
        "{f:#}"
    );
    let fix = &f["fixes"][0];
    assert_eq!(fix["verification"]["status"], "verified", "{fix:#}");
    assert_eq!(fix["commands"][0]["shell"], "powershell");
    let ps = fix["commands"][0]["display"].as_str().unwrap();
    assert!(
        ps.starts_with("New-NetFirewallRule -DisplayName 'portdoctor: allow 8080/tcp'"),
        "{ps}"
    );
    assert!(ps.contains(&format!("-RemoteAddress {peer}")), "{ps}");
    // A file that is none of the formats is bad input.
    let out = h
        .command(env!("CARGO_BIN_EXE_portdoctor"))
        .args(["diagnose", "8080", "--ruleset", "/etc/hostname"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a ruleset"));
}
