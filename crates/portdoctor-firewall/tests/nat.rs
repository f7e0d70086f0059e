//! NAT without a kernel: DNAT, the routing decision, the forward hook, load-balanced
//! endpoints, and the planner's rules on the translated packet. The kernel agreement of the
//! same layouts is checked by `differential.rs` (`*_nat_*` tests).

use portdoctor_firewall::{
    Backend, Decision, Forwarding, Hook, IpFamily, Packet, Route, RouteKind, RouteTable, explain,
    parse_iptables_save, parse_nft_json,
};
use std::net::IpAddr;
use std::sync::Arc;

/// Docker's layout: DOCKER-USER, DOCKER, the published port 8080 -> 172.17.0.2:80.
const DOCKER: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
";

fn route(dst: &str, dev: &str, kind: u8, table: u8) -> Route {
    let (addr, len) = dst.split_once('/').unwrap_or((dst, "32"));
    let a: std::net::Ipv4Addr = addr.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    let lo = u32::from(a) & (!0u32).checked_shl(32 - len).unwrap_or(0);
    let hi = lo | (!0u32).checked_shr(len).unwrap_or(0);
    Route {
        v6: false,
        lo: lo as u128,
        hi: hi as u128,
        len,
        dev: Some(dev.into()),
        kind,
        table,
    }
}

fn host(forwarding: bool) -> Arc<RouteTable> {
    Arc::new(RouteTable {
        routes: vec![
            route("198.18.7.0/24", "veth-h", 1, 1),
            route("172.17.0.0/16", "docker0", 1, 1),
            route("198.18.7.1", "veth-h", 2, 0),
            route("172.17.0.1", "docker0", 2, 0),
        ],
        forwarding: Forwarding {
            v4_all: Some(forwarding),
            v4_dev: vec![],
            v6_all: Some(false),
        },
    })
}

fn syn(port: u16, routing: Option<Arc<RouteTable>>) -> Packet {
    let mut p = Packet::tcp_syn(
        "198.18.7.2".parse().unwrap(),
        "198.18.7.1".parse().unwrap(),
        port,
    )
    .with_iif("veth-h");
    p.routing = routing;
    p
}

fn docker(extra_user: &str) -> Vec<portdoctor_firewall::Ruleset> {
    let text = DOCKER.replace(
        "-A DOCKER-USER -j RETURN",
        &format!("{extra_user}-A DOCKER-USER -j RETURN"),
    );
    vec![parse_iptables_save(&text, IpFamily::Ipv4, Backend::IptablesNft).unwrap()]
}

#[test]
fn docker_published_port_is_forwarded_to_the_container() {
    let e = explain(&docker(""), &syn(8080, Some(host(true))));
    let v = &e.overall;
    assert_eq!(v.decision, Decision::Accept, "{:#?}", v.trace);
    let d = v.delivery.as_ref().expect("delivery");
    assert_eq!(d.socket(), Some("172.17.0.2:80".parse().unwrap()));
    assert_eq!(d.route, RouteKind::Forwarded);
    assert_eq!(d.oif.as_deref(), Some("docker0"));
    assert!(d.nat_rule.as_ref().unwrap().text.contains("DNAT"));
    assert_eq!(v.decided_by.as_ref().unwrap().chain, "DOCKER");
    // Ports nothing publishes stay on the way to a local socket.
    let local = explain(&docker(""), &syn(9090, Some(host(true)))).overall;
    assert_eq!(local.decision, Decision::Accept);
    assert!(local.delivery.is_none());
}

#[test]
fn a_drop_in_docker_user_decides_in_the_forward_hook() {
    let rs = docker("-A DOCKER-USER -p tcp -m tcp --dport 80 -j DROP\n");
    let v = explain(&rs, &syn(8080, Some(host(true)))).overall;
    assert_eq!(v.decision, Decision::Drop);
    let r = v.decided_by.unwrap();
    assert_eq!((r.chain.as_str(), r.position), ("DOCKER-USER", 1));
    assert_eq!(v.decided_at, Some(Hook::Forward));
    assert_eq!(
        v.delivery.unwrap().socket(),
        Some("172.17.0.2:80".parse().unwrap())
    );
}

#[test]
fn forwarding_off_drops_and_saved_rulesets_are_unknown() {
    let v = explain(&docker(""), &syn(8080, Some(host(false)))).overall;
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(v.delivery.unwrap().route, RouteKind::ForwardingOff);
    let v = explain(&docker(""), &syn(8080, None)).overall;
    assert!(matches!(v.decision, Decision::Unknown(_)), "{v:?}");
    // Evaluated as if nothing were published: the input chain alone.
    let mut p = syn(8080, None);
    p.ignore_nat = true;
    assert_eq!(explain(&docker(""), &p).overall.decision, Decision::Accept);
}

#[test]
fn kube_proxy_statistic_lists_every_endpoint() {
    let text = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -d 10.244.2.7/32 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
-A PREROUTING -p tcp -m tcp --dport 30080 -j KUBE-SVC-A
-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
-A KUBE-SVC-A -j KUBE-SEP-2
-A KUBE-SEP-1 -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-2 -p tcp -j DNAT --to-destination 10.244.2.7:8080
COMMIT
";
    let rs = vec![parse_iptables_save(text, IpFamily::Ipv4, Backend::IptablesLegacy).unwrap()];
    let mut t = (*host(true)).clone();
    t.routes.push(route("10.244.0.0/16", "cni0", 1, 1));
    let v = explain(&rs, &syn(30080, Some(Arc::new(t)))).overall;
    assert!(matches!(v.decision, Decision::Unknown(_)), "{v:#?}");
    assert_eq!(v.endpoints.len(), 2, "{:#?}", v.endpoints);
    let by_addr = |a: &str| {
        let a: IpAddr = a.parse().unwrap();
        v.endpoints
            .iter()
            .find(|e| e.delivery.as_ref().map(|d| d.addr) == Some(a))
            .unwrap()
    };
    assert_eq!(by_addr("10.244.1.5").decision, Decision::Accept);
    let blocked = by_addr("10.244.2.7");
    assert_eq!(blocked.decision, Decision::Drop);
    assert_eq!(blocked.decided_by.as_ref().unwrap().chain, "FORWARD");
    assert!(v.possible.contains(&Decision::Accept) && v.possible.contains(&Decision::Drop));
}

#[test]
fn nft_dnat_forms_and_numgen() {
    let json = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nat.json"))
        .unwrap();
    let rs = vec![parse_nft_json(&json).unwrap()];
    let mut t = (*host(true)).clone();
    t.routes.push(route("10.0.0.0/8", "docker0", 1, 1));
    let t = Some(Arc::new(t));
    let to = |port: u16| {
        let v = explain(&rs, &syn(port, t.clone())).overall;
        (v.delivery.clone().and_then(|d| d.socket()), v)
    };
    assert_eq!(to(8080).0, Some("10.0.0.2:80".parse().unwrap()));
    assert_eq!(to(8081).0, Some("10.0.0.2:8081".parse().unwrap()));
    assert_eq!(to(8083).0, Some("10.0.0.3:81".parse().unwrap()));
    let (_, lb) = to(8086);
    assert_eq!(lb.decision, Decision::Accept);
    let mut ends: Vec<String> = lb
        .endpoints
        .iter()
        .map(|e| e.delivery.as_ref().unwrap().addr.to_string())
        .collect();
    ends.sort();
    assert_eq!(ends, ["10.0.0.7", "10.0.0.8"]);
    let (_, nmap) = to(8085);
    assert_eq!(nmap.endpoints.len(), 2, "{nmap:#?}");
    // The address range: one endpoint per address.
    let (_, range) = to(8082);
    assert_eq!(range.endpoints.len(), 3, "{range:#?}");
}

#[test]
fn the_planner_writes_rules_for_the_translated_packet() {
    use portdoctor_firewall::manager::OpenRequest;
    use portdoctor_firewall::plan::{Verification, plan_open};
    let rs = docker("-A DOCKER-USER -p tcp -m tcp --dport 80 -j DROP\n");
    let engine = portdoctor_firewall::Netfilter::from_rulesets(rs);
    let packet = syn(8080, Some(host(true)));
    let req = OpenRequest::new(8080, "tcp", Some("198.18.7.2".into()));
    let plan = plan_open(&engine, &[], std::slice::from_ref(&packet), &req);
    assert_eq!(plan.verification, Verification::Verified, "{plan:#?}");
    let argv = &plan.steps[0].step.commands[0].0;
    assert_eq!(
        argv.join(" "),
        "iptables-nft -I DOCKER-USER 1 -s 198.18.7.2 -d 172.17.0.2 -p tcp -m tcp --dport 80 -m comment --comment portdoctor -j ACCEPT"
    );
    assert!(plan.steps[0].step.title.contains("DNAT'd to 172.17.0.2:80"));
    // The FORWARD policy drop (no DOCKER accept for the port): an accept at FORWARD's end.
    let text = DOCKER.replace(
        "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n",
        "",
    );
    let rs = vec![parse_iptables_save(&text, IpFamily::Ipv4, Backend::IptablesNft).unwrap()];
    let v = explain(&rs, &packet).overall;
    assert!(v.decided_by.as_ref().unwrap().is_policy);
    let engine = portdoctor_firewall::Netfilter::from_rulesets(rs);
    let plan = plan_open(&engine, &[], std::slice::from_ref(&packet), &req);
    assert_eq!(plan.verification, Verification::Verified, "{plan:#?}");
    assert!(
        plan.steps[0].step.commands[0]
            .0
            .join(" ")
            .starts_with("iptables-nft -A FORWARD -s 198.18.7.2 -d 172.17.0.2"),
        "{plan:#?}"
    );
}
