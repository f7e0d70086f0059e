//! `portdoctor explain` in the lab: the named rule agrees with a real connection attempt.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

mod common;

use common::{Service, nft, peer_connects, portdoctor_json};
use portdoctor_lab::Lab;
use std::net::IpAddr;

#[test]
fn explain_names_the_deciding_rule_and_agrees_with_the_kernel() {
    let Some(lab) = Lab::for_test("explain_names_the_deciding_rule_and_agrees_with_the_kernel")
    else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", 8080, "-", "hold");
    let peer = lab.peer_v4().to_string();
    let host = lab.host_v4().to_string();
    nft(
        lab.host(),
        &format!(
            "table inet pdexplain {{\n chain input {{\n type filter hook input priority 0; policy accept;\n \
             tcp dport 8080 ip saddr {peer} drop comment \"block the peer\"\n }}\n}}\n"
        ),
    );
    let args = [
        "explain",
        "8080",
        "--from",
        peer.as_str(),
        "--to",
        host.as_str(),
        "--iface",
        lab.host_if(),
    ];
    let (code, doc) = portdoctor_json(lab.host(), &args);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["overall"]["decision"], "drop", "{doc:#}");
    assert_eq!(doc["overall"]["rule"]["comment"], "block the peer");
    assert_eq!(doc["overall"]["rule"]["table"], "pdexplain");
    assert!(!peer_connects(&lab, IpAddr::V4(lab.host_v4()), 8080));

    // Without the rule: accepted, and the peer connects.
    lab.host()
        .run("nft", &["delete", "table", "inet", "pdexplain"])
        .unwrap();
    let (code, doc) = portdoctor_json(lab.host(), &args);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["overall"]["decision"], "accept");
    assert!(peer_connects(&lab, IpAddr::V4(lab.host_v4()), 8080));

    // --all-ports lists compressed ranges covering every port.
    let mut all = args.to_vec();
    all.push("--all-ports");
    let (_, doc) = portdoctor_json(lab.host(), &all);
    let ranges = doc["sweep"]["ranges"].as_array().unwrap();
    assert_eq!(ranges.first().unwrap()["from"], 0);
    assert_eq!(ranges.last().unwrap()["to"], 65535);
}
