//! `portdoctor demo`: the full story with root (it builds its own lab), and the loopback
//! variant for an unprivileged user.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

use std::process::Command;

fn has_setpriv() -> bool {
    Command::new("setpriv").arg("--version").output().is_ok()
}

#[test]
fn demo_blocks_diagnoses_fixes_and_verifies() {
    if portdoctor_lab::Lab::for_test("demo_blocks_diagnoses_fixes_and_verifies").is_none() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_portdoctor"))
        .args(["demo", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["mode"], "lab");
    assert_eq!(doc["findings"][0]["code"], "PD011");
    assert_eq!(doc["fixed"], true);
    let steps = doc["steps"].to_string();
    assert!(steps.contains("filtered"), "{steps}");
}

#[test]
fn demo_without_root_shows_the_loopback_bind() {
    if !has_setpriv() || !nix_is_root() {
        assert!(
            !portdoctor_lab::lab_required(),
            "demo_without_root: PORTDOCTOR_LAB=1 but root or setpriv is missing"
        );
        eprintln!("SKIP demo_without_root: needs root (to drop to nobody) and setpriv");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_portdoctor"))
        .args(["demo", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(doc["mode"], "loopback", "{doc:#}");
    assert_eq!(doc["findings"][0]["code"], "PD002");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn ports_without_root_marks_unknown_owners() {
    if !has_setpriv() || !nix_is_root() {
        assert!(
            !portdoctor_lab::lab_required(),
            "ports_without_root: PORTDOCTOR_LAB=1 but root or setpriv is missing"
        );
        eprintln!("SKIP ports_without_root: needs root (to drop to nobody) and setpriv");
        return;
    }
    // A root-owned listener the unprivileged run cannot attribute.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_portdoctor"))
        .args(["ports", &port, "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &doc["sockets"][0];
    assert_eq!(s["owner_unknown"], "owner unknown (needs root)", "{doc:#}");
    assert!(doc["notes"][0].as_str().unwrap().contains("root"));
    drop(listener);
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
