//! Without the `nft` program (issue 14): `explain` and `diagnose` read native nftables rules
//! straight from the kernel (netlink) and name the deciding rule. portdoctor runs inside the
//! lab's host namespace with a `PATH` that holds the iptables/ipset tools but no `nft`.

#![cfg(target_os = "linux")]

mod common;

use common::{Service, json_of, nft, peer_connects};
use portdoctor_lab::{Lab, Netns};
use serde_json::Value;
use std::path::{Path, PathBuf};

const PORT: u16 = 8080;

/// A directory of links to the programs portdoctor may run, `nft` left out.
struct NoNft(tempfile::TempDir);

impl NoNft {
    fn new() -> NoNft {
        let dir = tempfile::tempdir().unwrap();
        for tool in [
            "iptables-legacy-save",
            "ip6tables-legacy-save",
            "iptables-nft-save",
            "ip6tables-nft-save",
            "ipset",
            "ip",
        ] {
            if let Some(p) = which(tool) {
                std::os::unix::fs::symlink(p, dir.path().join(tool)).unwrap();
            }
        }
        NoNft(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.exists())
    })
}

/// Runs portdoctor in `ns` with `PATH` = `dir` only; (exit code, JSON document).
fn portdoctor_without_nft(ns: &Netns, dir: &Path, args: &[&str]) -> (i32, Value) {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_portdoctor"));
    cmd.args(args).arg("--json").env("PATH", dir);
    json_of(cmd)
}

#[test]
fn explain_and_diagnose_name_nft_rules_without_the_nft_program() {
    let Some(lab) = Lab::for_test("explain_and_diagnose_name_nft_rules_without_the_nft_program")
    else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    let peer = lab.peer_v4().to_string();
    let host = lab.host_v4().to_string();
    nft(
        lab.host(),
        &format!(
            "table inet pdhidden {{\n chain input {{\n type filter hook input priority 0; policy accept;\n \
             ct state established,related accept\n \
             tcp dport {{ 22, {PORT} }} ip saddr {peer} counter reject with tcp reset comment \"no web from the peer\"\n }}\n}}\n"
        ),
    );
    let no_nft = NoNft::new();
    let nft_runs = lab
        .host()
        .command("nft")
        .arg("--version")
        .env("PATH", no_nft.path())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(!nft_runs, "nft must not be reachable through the test PATH");

    let port = PORT.to_string();
    let explain = [
        "explain",
        port.as_str(),
        "--from",
        peer.as_str(),
        "--to",
        host.as_str(),
        "--iface",
        lab.host_if(),
    ];
    let (code, doc) = portdoctor_without_nft(lab.host(), no_nft.path(), &explain);
    assert_eq!(code, 1, "{doc:#}");
    let by = &doc["overall"]["rule"];
    assert_eq!(doc["overall"]["decision"]["reject"], "tcp_reset", "{doc:#}");
    assert_eq!(by["table"], "pdhidden", "{doc:#}");
    assert_eq!(by["chain"], "input");
    assert_eq!(by["comment"], "no web from the peer");
    let text = by["text"].as_str().unwrap();
    assert!(text.contains("tcp dport { 22, 8080 }"), "{text}");
    assert!(text.contains(&format!("ip saddr {peer}")), "{text}");
    let sources = doc["sources"].as_array().unwrap();
    let nft_source = sources
        .iter()
        .find(|s| s["backend"] == "nftables")
        .unwrap_or_else(|| panic!("no nftables source: {doc:#}"));
    assert_eq!(nft_source["tool"], "nft (netlink)", "{doc:#}");

    let diagnose = [
        "diagnose",
        port.as_str(),
        "--from",
        peer.as_str(),
        "--peer-netns",
        lab.peer().name(),
    ];
    let (code, doc) = portdoctor_without_nft(lab.host(), no_nft.path(), &diagnose);
    assert_eq!(code, 1, "{doc:#}");
    let f = &doc["findings"][0];
    // PD013: the rule blocks the peer's address only (other sources get in).
    assert_eq!(f["code"], "PD013", "{doc:#}");
    let evidence = f["evidence"].to_string();
    assert!(evidence.contains("tcp dport { 22, 8080 }"), "{evidence}");
    assert!(evidence.contains("no web from the peer"), "{evidence}");
    assert!(evidence.contains("pdhidden"), "{evidence}");
    assert!(!peer_connects(&lab, lab.host_v4().into(), PORT));
}
