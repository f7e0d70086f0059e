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

/// Runs `diagnose PORT --from PEER --ruleset …` with a listener on PORT in the lab host.
fn diagnose_windows(
    name: &str,
    port: u16,
    files: &[&str],
    extra: &[&str],
) -> Option<serde_json::Value> {
    let lab = Lab::for_test(name)?;
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", port, "-", "hold");
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../portdoctor-firewall/tests/data/windows"
    );
    let peer = lab.peer_v4().to_string();
    let port = port.to_string();
    let mut args = vec!["diagnose".to_string(), port, "--from".into(), peer];
    for f in files {
        args.extend(["--ruleset".to_string(), format!("{data}/{f}")]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, doc) = portdoctor_json(h, &args);
    assert_eq!(code, 1, "{doc:#}");
    Some(doc)
}

/// PD015, program: the recorded allow rule for Remote Desktop is for svchost.exe; the
/// listener is another program (named with --program, as on the Windows machine).
#[test]
fn allow_rule_for_another_program_is_pd015() {
    let Some(doc) = diagnose_windows(
        "windows_pd015_program",
        3389,
        &[
            "w2_export_firewallrules_excerpt.csv",
            "zh_cn_currentprofile.txt",
        ],
        &["--program", r"C:\Program Files\OtherRDP\rdpd.exe"],
    ) else {
        return;
    };
    let f = top(&doc);
    assert_eq!(f["code"], "PD015", "{doc:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains(r"%SystemRoot%\system32\svchost.exe"),
        "{summary}"
    );
    assert!(summary.contains("rdpd.exe"), "{summary}");
    assert!(
        f["evidence"]
            .to_string()
            .contains("Remote Desktop - User Mode (TCP-In)"),
        "{f:#}"
    );
    assert_eq!(f["fixes"][0]["verification"]["status"], "verified", "{f:#}");
}

/// PD015, profile: on the recorded domain host the allow rule for RPC endpoint mapping is for
/// Domain and Private; the recorded current profile is Public. The fix extends the rule.
#[test]
fn allow_rule_for_another_profile_is_pd015_and_extended() {
    let Some(doc) = diagnose_windows(
        "windows_pd015_profile",
        135,
        &[
            "w3_export_firewallrules_domain_excerpt.csv",
            "zh_cn_currentprofile.txt",
        ],
        &[
            "--program",
            r"C:\WINDOWS\System32\svchost.exe",
            "--service",
            "RpcSs",
        ],
    ) else {
        return;
    };
    let f = top(&doc);
    assert_eq!(f["code"], "PD015", "{doc:#}");
    assert!(
        f["evidence"]
            .to_string()
            .contains("the rule is for Domain, Private and the packet arrives on a Public network"),
        "{f:#}"
    );
    let fix = &f["fixes"][0];
    assert_eq!(fix["verification"]["status"], "verified", "{fix:#}");
    assert_eq!(
        fix["commands"][0]["display"],
        "Set-NetFirewallRule -Name 'EventForwarder-RPCSS-In-TCP' -Profile Domain,Private,Public"
    );
}
