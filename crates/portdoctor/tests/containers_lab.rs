//! Published ports of containers and forwarders, in the lab: a container is a network
//! namespace of its own behind a bridge in the lab's host namespace, with a real service
//! inside; the host carries the rule layout Docker (iptables) or kube-proxy writes, forwards
//! (`ip_forward=1` inside the lab namespace only) and DNATs the published port to the
//! container. `diagnose --from PEER` must follow the DNAT to the container's listener, name
//! the rule that blocks the forward path, and print a fix that — applied exactly as printed —
//! makes the peer connect.

mod common;

use common::*;
use portdoctor_lab::Lab;
use portdoctor_lab::containers::{Container, behind_bridge};
use std::net::Ipv4Addr;

const PORT: u16 = 8080;

/// Builds `bridge` (`gw`/24) in the lab host with forwarding on, and one container per
/// address behind it.
fn containers(lab: &Lab, bridge: &str, gw: Ipv4Addr, addrs: &[Ipv4Addr]) -> Vec<Container> {
    behind_bridge(lab.host(), bridge, gw, addrs)
        .unwrap_or_else(|e| panic!("containers behind {bridge}: {e}"))
}

/// Docker's iptables layout (iptables-nft) publishing 8080 -> `c`:80; `user` goes into
/// DOCKER-USER before its RETURN.
fn docker_rules(lab: &Lab, c: Ipv4Addr, user: &str) {
    let n = c.octets()[2];
    let text = format!(
        "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d {c}/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
{user}-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.{n}.0/24 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination {c}:80
COMMIT
"
    );
    lab.host()
        .run_stdin("iptables-nft-restore", &[], &text)
        .unwrap_or_else(|e| panic!("iptables-nft-restore: {e}\n{text}"));
}

/// A lab with one Docker-like container serving on `bind`:80; `user` rules in DOCKER-USER.
fn docker(name: &str, bind: &str, user: &str) -> Option<(Lab, Vec<Container>, Service)> {
    let lab = Lab::for_test(name)?;
    let n = lab.host_v4().octets()[2];
    let c = containers(
        &lab,
        "docker0",
        Ipv4Addr::new(172, 17, n, 1),
        &[Ipv4Addr::new(172, 17, n, 2)],
    );
    let svc = Service::start(c[0].ns(), bind, 80, "-", "hold");
    docker_rules(&lab, c[0].addr(), user);
    Some((lab, c, svc))
}

fn text(doc: &serde_json::Value) -> String {
    doc["findings"].to_string()
}

#[test]
fn docker_published_port_reaches_the_container() {
    let Some((lab, c, svc)) = docker("docker_published_port_reaches_the_container", "0.0.0.0", "")
    else {
        return;
    };
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(top(&doc)["code"], "PD000", "{doc:#}");
    let evidence = top(&doc)["evidence"].to_string();
    let to = format!("{}:80", c[0].addr());
    assert!(evidence.contains(&format!("DNAT'd to {to}")), "{evidence}");
    assert!(evidence.contains("forwarded out of docker0"), "{evidence}");
    assert!(
        evidence.contains(&format!("pid {}", svc.pid())),
        "the container's process is named: {evidence}"
    );
    assert!(!codes(&doc).contains(&"PD001".to_string()), "{doc:#}");
    assert!(!codes(&doc).contains(&"PD016".to_string()), "{doc:#}");
    // The container's namespace is in the evidence, with its address and listener.
    let nss = doc["evidence"]["namespaces"]["value"].as_array().unwrap();
    assert!(
        nss.iter().any(|n| n["addresses"]
            .to_string()
            .contains(&c[0].addr().to_string())),
        "{nss:#?}"
    );
    // From the rules alone (no probe from the peer): reachable too, and it says that only
    // the local path was probed.
    let peer = lab.peer_v4().to_string();
    let (code, doc) = portdoctor_json(lab.host(), &["diagnose", "8080", "--from", &peer]);
    assert_eq!(code, 0, "{doc:#}");
    assert!(
        text(&doc).contains("only the local path was probed"),
        "{doc:#}"
    );
}

#[test]
fn docker_user_drop_is_named_and_the_printed_fix_works() {
    let user = "-A DOCKER-USER -p tcp -m tcp --dport 80 -j DROP\n";
    let Some((lab, c, _svc)) = docker("docker_user_drop_is_named", "0.0.0.0", user) else {
        return;
    };
    assert!(!peer_connects(&lab, lab.host_v4().into(), PORT));
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let f = top(&doc);
    assert_eq!(f["code"], "PD050", "{doc:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("DOCKER-USER"), "{summary}");
    assert!(summary.contains("--dport 80 -j DROP"), "{summary}");
    assert!(
        summary.contains(&format!("{}:80", c[0].addr())),
        "{summary}"
    );
    // The fix matches the packet as DOCKER-USER sees it: the container's address and port.
    let fix = &f["fixes"][0];
    let display = fix["commands"][0]["display"].as_str().unwrap();
    assert_eq!(
        display,
        format!(
            "iptables-nft -I DOCKER-USER 1 -s {} -d {} -p tcp -m tcp --dport 80 -m comment --comment portdoctor -j ACCEPT",
            lab.peer_v4(),
            c[0].addr()
        )
    );
    apply_first_fix(lab.host(), &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 0, "after the fix: {doc:#}");
}

#[test]
fn container_listening_on_loopback_inside_its_namespace() {
    let Some((lab, c, _svc)) = docker("container_listening_on_loopback", "127.0.0.1", "") else {
        return;
    };
    assert!(!peer_connects(&lab, lab.host_v4().into(), PORT));
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let f = top(&doc);
    assert_eq!(f["code"], "PD052", "{doc:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("loopback only"), "{summary}");
    assert!(summary.contains(&c[0].addr().to_string()), "{summary}");
    assert!(
        f["evidence"].to_string().contains("127.0.0.1:80 only"),
        "{f:#}"
    );
    assert_eq!(f["fixes"][0]["operation"]["to"], "0.0.0.0:80");
}

#[test]
fn explain_shows_the_whole_path() {
    let Some((lab, c, _svc)) = docker("explain_shows_the_whole_path", "0.0.0.0", "") else {
        return;
    };
    let peer = lab.peer_v4().to_string();
    let out = portdoctor_text(lab.host(), &["explain", "8080", "--from", &peer]);
    let to = format!("{}:80", c[0].addr());
    let lines: Vec<&str> = out.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{out}"))
    };
    let (pre, route, fwd, dest) = (
        at("prerouting   ip nat PREROUTING"),
        at("routing      "),
        at("forward      ip filter FORWARD"),
        at(&format!("destination  {to}")),
    );
    assert!(pre < route && route < fwd && fwd < dest, "{out}");
    assert!(
        lines[pre..route].iter().any(|l| l.contains("dnat to")),
        "{out}"
    );
    assert!(lines[route].contains("forwarded out of docker0"), "{out}");
    assert!(lines[fwd].contains("accept"), "{out}");
    assert!(out.contains("verdict: ACCEPT"), "{out}");
}

/// kube-proxy's NodePort 8080 with two endpoints chosen by `-m statistic`; a NetworkPolicy-
/// like rule drops the second pod.
fn kube_rules(lab: &Lab, c1: Ipv4Addr, c2: Ipv4Addr) {
    let text = format!(
        "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-POLICY - [0:0]
-A FORWARD -j KUBE-POLICY
-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-POLICY -d {c2}/32 -p tcp -m tcp --dport 8080 -m comment --comment \"policy: deny web-2\" -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-WEB - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-WEB1 - [0:0]
:KUBE-SEP-WEB2 - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-EXT-WEB -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -j KUBE-SVC-WEB
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp --dport 8080 -j KUBE-EXT-WEB
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -j MASQUERADE --random-fully
-A KUBE-SEP-WEB1 -p tcp -m tcp -j DNAT --to-destination {c1}:8080
-A KUBE-SEP-WEB2 -p tcp -m tcp -j DNAT --to-destination {c2}:8080
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-WEB -m comment --comment \"default/web:http -> {c1}:8080\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-WEB1
-A KUBE-SVC-WEB -m comment --comment \"default/web:http -> {c2}:8080\" -j KUBE-SEP-WEB2
COMMIT
"
    );
    lab.host()
        .run_stdin("iptables-nft-restore", &[], &text)
        .unwrap_or_else(|e| panic!("iptables-nft-restore: {e}\n{text}"));
}

#[test]
fn kube_proxy_nodeport_with_one_blocked_endpoint() {
    let Some(lab) = Lab::for_test("kube_proxy_nodeport_with_one_blocked_endpoint") else {
        return;
    };
    let n = lab.host_v4().octets()[2];
    let (a1, a2) = (Ipv4Addr::new(10, 244, n, 5), Ipv4Addr::new(10, 244, n, 7));
    let c = containers(&lab, "cni0", Ipv4Addr::new(10, 244, n, 1), &[a1, a2]);
    let _s1 = Service::start(c[0].ns(), "0.0.0.0", PORT, "-", "hold");
    let _s2 = Service::start(c[1].ns(), "0.0.0.0", PORT, "-", "hold");
    kube_rules(&lab, a1, a2);
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "PD050");
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("2 endpoints"), "{summary}");
    assert!(
        summary.contains(&format!("{a2}:8080")),
        "the blocked one: {summary}"
    );
    assert!(
        summary.contains("policy: deny web-2") || summary.contains("KUBE-POLICY -d"),
        "{summary}"
    );
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains(&format!("{a1}:8080: accept"))
            && evidence.contains(&format!("{a2}:8080: drop")),
        "both endpoints listed: {evidence}"
    );
}

#[test]
fn ufw_default_deny_routed_is_opened_with_ufw_route() {
    let Some(lab) = Lab::for_test("ufw_default_deny_routed") else {
        return;
    };
    let n = lab.host_v4().octets()[2];
    // The container first: a namespace made after ufw's private mounts is not visible there.
    let c = containers(
        &lab,
        "podman0",
        Ipv4Addr::new(10, 88, n, 1),
        &[Ipv4Addr::new(10, 88, n, 2)],
    );
    portdoctor_lab::managers::start_ufw(lab.host()).expect("ufw starts in the lab");
    let _svc = Service::start(c[0].ns(), "0.0.0.0", 80, "-", "hold");
    // A port forward to the container, and ufw's own forward policy (deny routed).
    let to = format!("{}:80", c[0].addr());
    lab.host()
        .run(
            "iptables-nft",
            &[
                "-t",
                "nat",
                "-A",
                "PREROUTING",
                "-p",
                "tcp",
                "--dport",
                "8080",
                "-j",
                "DNAT",
                "--to-destination",
                &to,
            ],
        )
        .unwrap();
    assert!(!peer_connects(&lab, lab.host_v4().into(), PORT));
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let f = top(&doc);
    assert_eq!(
        f["code"],
        "PD053",
        "{}",
        portdoctor_text(
            lab.host(),
            &["diagnose", "8080", "--from", &lab.peer_v4().to_string()]
        )
    );
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("default deny (routed)"),
        "{f:#}"
    );
    let display = f["fixes"][0]["commands"][0]["display"].as_str().unwrap();
    assert_eq!(
        display,
        format!(
            "ufw route allow proto tcp from {} to {} port 80",
            lab.peer_v4(),
            c[0].addr()
        )
    );
    apply_first_fix(lab.host(), &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}
