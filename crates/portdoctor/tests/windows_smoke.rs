//! The Windows build end to end (run under Wine in CI, see `.ci/wine/`): the test makes its own
//! listeners, then runs the built `portdoctor.exe` against them: `ports --json` lists them with
//! the right address, port and state; `probe` tells open from closed; `diagnose` ranks PD002
//! for a 127.0.0.1-only listener; the firewall part speaks of Windows Defender Firewall (read
//! through COM, or a clear reason why it cannot be), never of a Linux tool.

#![cfg(windows)]

use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;

/// Words only a Linux build may say.
const LINUX_WORDS: [&str; 8] = [
    "nft",
    "iptables",
    "ipset",
    "ufw",
    "firewalld",
    "firewall-cmd",
    "sudo",
    "CAP_NET_ADMIN",
];

/// Runs portdoctor.exe; returns (exit code, stdout, stderr).
fn portdoctor(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portdoctor"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("portdoctor.exe starts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs portdoctor.exe with `--json` and parses stdout.
fn portdoctor_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = portdoctor(&all);
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    (code, doc)
}

fn listen(ip: Ipv4Addr) -> (TcpListener, u16) {
    let l = TcpListener::bind(SocketAddr::from((ip, 0))).expect("bind a listener");
    let port = l.local_addr().expect("bound").port();
    (l, port)
}

/// A port nothing listens on (bound once, then released).
fn closed_port() -> u16 {
    listen(Ipv4Addr::LOCALHOST).1
}

/// Says no Linux tool and no Linux-only remedy.
fn assert_no_linux_words(what: &str, text: &str) {
    for word in LINUX_WORDS {
        let hit = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .any(|w| w == word);
        assert!(!hit, "{what} mentions `{word}` on Windows:\n{text}");
    }
}

/// The socket for `port` in a `ports --json` document.
fn socket_on(doc: &Value, port: u16) -> &Value {
    doc["sockets"]
        .as_array()
        .expect("sockets[]")
        .iter()
        .find(|s| s["local_port"] == port && s["proto"] == "tcp")
        .unwrap_or_else(|| panic!("no socket on {port}: {doc:#}"))
}

/// The owner as the Windows build can know it: this test's process, or unknown with a reason
/// that claims no more than it knows (Wine reports pid 0 for sockets).
fn assert_owner(s: &Value) {
    let me = std::process::id();
    let owners = s["owners"].as_array().expect("owners[]");
    if owners.is_empty() {
        let why = s["owner_unknown"].as_str().expect("owner_unknown says why");
        assert!(why.contains("unknown"), "{s:#}");
    } else {
        assert_eq!(owners[0]["pid"], me, "{s:#}");
    }
}

#[test]
fn ports_lists_own_listeners_with_address_port_and_state() {
    let (_lo, lo_port) = listen(Ipv4Addr::LOCALHOST);
    let (_any, any_port) = listen(Ipv4Addr::UNSPECIFIED);
    let (code, doc) = portdoctor_json(&["ports"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["source"], "ip-helper", "{doc:#}");
    for (port, addr, reach) in [
        (lo_port, "127.0.0.1", "loopback-only"),
        (any_port, "0.0.0.0", "all-ipv4"),
    ] {
        let s = socket_on(&doc, port);
        assert_eq!(s["local_addr"], addr, "{s:#}");
        assert_eq!(s["state"], "listen", "{s:#}");
        assert_eq!(s["family"], "ipv4", "{s:#}");
        assert_eq!(s["reach"], reach, "{s:#}");
        assert_owner(s);
    }
    // One port asked for: only its sockets, exit 0; a port nobody uses: exit 1.
    let (code, doc) = portdoctor_json(&["ports", &lo_port.to_string()]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["local_port"] == lo_port || s["remote_port"] == lo_port),
        "{doc:#}"
    );
    let (code, _) = portdoctor_json(&["ports", &closed_port().to_string()]);
    assert_eq!(code, 1);
}

#[test]
fn probe_tells_open_from_closed() {
    let (_l, open) = listen(Ipv4Addr::LOCALHOST);
    let closed = closed_port();
    let (code, doc) = portdoctor_json(&[
        "probe",
        &format!("127.0.0.1:{open}"),
        &format!("127.0.0.1:{closed}"),
    ]);
    let states: Vec<(u64, &str)> = doc["results"]
        .as_array()
        .expect("results[]")
        .iter()
        .map(|r| (r["port"].as_u64().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&(u64::from(open), "open")), "{doc:#}");
    assert!(states.contains(&(u64::from(closed), "closed")), "{doc:#}");
    assert_eq!(code, 1, "one target is closed: exit 1");
    let (code, _) = portdoctor_json(&["probe", &format!("127.0.0.1:{open}")]);
    assert_eq!(code, 0);
}

#[test]
fn diagnose_ranks_pd002_and_speaks_of_windows_defender_firewall() {
    let (_l, port) = listen(Ipv4Addr::LOCALHOST);
    let port = port.to_string();
    let (_code, doc) = portdoctor_json(&["diagnose", &port]);
    assert_eq!(doc["findings"][0]["code"], "PD002", "{doc:#}");
    let text = doc.to_string();
    assert!(!text.contains("kernel-held"), "{doc:#}");
    assert_firewall_part(&doc["evidence"]["firewall"]);
    assert_no_linux_words("diagnose --json", &text);
    // The same in words, on stdout and stderr.
    let (code, stdout, stderr) = portdoctor(&["diagnose", &port]);
    assert!(code == 1 || code == 3, "{code}: {stdout}{stderr}");
    assert!(stdout.contains("PD002"), "{stdout}");
    assert!(stdout.contains("Windows Defender Firewall"), "{stdout}");
    assert_no_linux_words("diagnose", &format!("{stdout}{stderr}"));
}

/// The firewall evidence: read through COM (an engine `windows`), or missing with a reason
/// that names Windows Defender Firewall and the COM call.
fn assert_firewall_part(fw: &Value) {
    match fw["status"].as_str() {
        Some("present") => {
            let engines: Vec<&Value> = fw["value"].as_array().unwrap().iter().collect();
            assert!(engines.iter().all(|e| e["engine"] == "windows"), "{fw:#}");
        }
        Some("missing") => {
            let why = fw["reason"].as_str().unwrap();
            assert!(why.contains("Windows Defender Firewall"), "{why}");
            assert!(why.contains("INetFwPolicy2"), "{why}");
        }
        other => panic!("firewall part {other:?}: {fw:#}"),
    }
}

#[test]
fn explain_reads_windows_defender_firewall_or_says_why_not() {
    let (_l, port) = listen(Ipv4Addr::UNSPECIFIED);
    let (code, stdout, stderr) = portdoctor(&["explain", &port.to_string()]);
    // 0/1: read and evaluated; 3: cannot be read, with the reason. Never a crash.
    assert!(matches!(code, 0 | 1 | 3), "{code}: {stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("Windows Defender Firewall"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    assert_no_linux_words("explain", &all);
}
