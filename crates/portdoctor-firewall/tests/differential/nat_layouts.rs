//! Published ports as real software writes them, with the lab's addresses: Docker (iptables-nft:
//! DOCKER-USER, DOCKER, the isolation chains, a drop policy on FORWARD), Podman (netavark's
//! nftables table `inet netavark`, behind a host forward chain with a drop policy), kube-proxy
//! in iptables mode (KUBE-SERVICES → KUBE-NODEPORTS → KUBE-EXT → KUBE-SVC with
//! `-m statistic` → KUBE-SEP DNAT, KUBE-MARK-MASQ and KUBE-FORWARD) and in nftables mode
//! (`table ip kube-proxy`: nodeport verdict map, `numgen random` endpoint choice, DNAT,
//! masquerading). Each comes with its containers (`nat::Pod`).
//!
//! Host ports probed: 8080 (also a host listener: the DNAT wins), 9000, 8081, 7000 and 22
//! over TCP, 5353 over UDP; the peer's sources .2, .3, .4 and the second link.

use std::net::Ipv4Addr;

use super::model::Scenario;
use super::nat::{Layout, Pod};
use super::probe::Proto;
use super::rulegen::Env;

/// A layout with its bridge, gateway and pods.
pub struct NatSetup {
    /// What to load and probe.
    pub layout: Layout,
    /// The bridge's name.
    pub bridge: &'static str,
    /// The bridge's address (the pods' gateway).
    pub gw: Ipv4Addr,
    /// The containers.
    pub pods: Vec<Pod>,
}

fn raw(prog: &str, text: String) -> (String, Vec<String>, String) {
    (prog.to_string(), Vec::new(), text)
}

fn nft(text: String) -> (String, Vec<String>, String) {
    ("nft".into(), vec!["-f".into(), "-".into()], text)
}

fn once(ports: &[(Proto, u16)]) -> Vec<(Proto, u16, usize)> {
    ports.iter().map(|(p, n)| (*p, *n, 1)).collect()
}

/// `docker run -p 8080:80 -p 9000:81 -p 8081:8081 -p 7000:8443 -p 5353:53/udp`, with a
/// container that listens on 80, on 127.0.0.1:8081 only, and answers UDP 53; the DOCKER
/// filter chain lacks the accept for 8443 (FORWARD's drop policy decides); DOCKER-USER drops
/// peer .3 to port 80 and rejects the second link; an INPUT drop for 8080 (which a published
/// port never meets).
pub fn docker(env: &Env) -> NatSetup {
    let n = env.subnet;
    let c1 = Ipv4Addr::new(172, 17, n, 2);
    let p3 = env.peers_v4[1];
    let iif2 = &env.iif2;
    let filter = format!(
        "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 8080 -m comment --comment \"like ufw deny 8080\" -j DROP
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d {c1}/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER -d {c1}/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 81 -j ACCEPT
-A DOCKER -d {c1}/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 8081 -j ACCEPT
-A DOCKER -d {c1}/32 ! -i docker0 -o docker0 -p udp -m udp --dport 53 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -s {p3}/32 -p tcp -m tcp --dport 80 -j DROP
-A DOCKER-USER -i {iif2} -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
-A DOCKER-USER -j RETURN
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
-A POSTROUTING -s {c1}/32 -d {c1}/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination {c1}:80
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 9000 -j DNAT --to-destination {c1}:81
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination {c1}:8081
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 7000 -j DNAT --to-destination {c1}:8443
-A DOCKER ! -i docker0 -p udp -m udp --dport 5353 -j DNAT --to-destination {c1}:53
COMMIT
"
    );
    NatSetup {
        layout: Layout {
            scenario: Scenario {
                label: "docker (iptables-nft): published ports, DOCKER-USER, FORWARD drop policy"
                    .into(),
                raw: vec![raw("iptables-nft-restore", filter)],
                ..Scenario::default()
            },
            probes: once(&[
                (Proto::Tcp, 8080),
                (Proto::Tcp, 9000),
                (Proto::Tcp, 8081),
                (Proto::Tcp, 7000),
                (Proto::Tcp, 22),
                (Proto::Udp, 5353),
            ]),
        },
        bridge: "docker0",
        gw: Ipv4Addr::new(172, 17, n, 1),
        pods: vec![Pod {
            addr: c1,
            tcp: vec![80, 8443],
            tcp_loopback: vec![8081],
            udp: vec![53],
        }],
    }
}

/// `podman run -p 8080:80 -p 9000:81 -p 5353:53/udp` with netavark's nftables driver, and
/// a host firewall whose forward chain drops by default and lets DNAT'd connections in
/// (`ct status dnat`), except from peer .3.
pub fn podman(env: &Env) -> NatSetup {
    let n = env.subnet;
    let c1 = Ipv4Addr::new(10, 88, n, 2);
    let p3 = env.peers_v4[1];
    let net = format!("10.88.{n}.0/24");
    let chain = format!("nv_2f259bab_10_88_{n}_0_nm24");
    let text = format!(
        "table inet netavark {{
\tchain INPUT {{
\t\ttype filter hook input priority filter; policy accept;
\t\tip saddr {net} meta l4proto {{ tcp, udp }} th dport 53 accept
\t}}
\tchain FORWARD {{
\t\ttype filter hook forward priority filter; policy accept;
\t\tct state invalid drop
\t\tjump NETAVARK-ISOLATION-1
\t\tip daddr {net} ct state {{ established, related }} accept
\t\tip saddr {net} accept
\t}}
\tchain POSTROUTING {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tmeta mark & 0x00002000 == 0x00002000 masquerade
\t\tip saddr {net} jump {chain}
\t}}
\tchain PREROUTING {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tfib daddr type local jump NETAVARK-HOSTPORT-DNAT
\t}}
\tchain OUTPUT {{
\t\ttype nat hook output priority -100; policy accept;
\t\tfib daddr type local jump NETAVARK-HOSTPORT-DNAT
\t}}
\tchain NETAVARK-HOSTPORT-DNAT {{
\t\ttcp dport 8080 jump {chain}_dnat
\t\ttcp dport 9000 jump {chain}_dnat
\t\tudp dport 5353 jump {chain}_dnat
\t}}
\tchain NETAVARK-HOSTPORT-SETMARK {{
\t\tmeta mark set meta mark | 0x00002000
\t}}
\tchain NETAVARK-ISOLATION-1 {{
\t}}
\tchain NETAVARK-ISOLATION-2 {{
\t}}
\tchain NETAVARK-ISOLATION-3 {{
\t\toifname \"podman0\" drop
\t\tjump NETAVARK-ISOLATION-2
\t}}
\tchain {chain} {{
\t\tip daddr {net} accept
\t\tip daddr != 224.0.0.0/4 masquerade
\t}}
\tchain {chain}_dnat {{
\t\tip saddr {net} tcp dport 8080 jump NETAVARK-HOSTPORT-SETMARK
\t\tip saddr 127.0.0.1 tcp dport 8080 jump NETAVARK-HOSTPORT-SETMARK
\t\ttcp dport 8080 dnat ip to {c1}:80
\t\tip saddr {net} tcp dport 9000 jump NETAVARK-HOSTPORT-SETMARK
\t\tip saddr 127.0.0.1 tcp dport 9000 jump NETAVARK-HOSTPORT-SETMARK
\t\ttcp dport 9000 dnat ip to {c1}:81
\t\tip saddr {net} udp dport 5353 jump NETAVARK-HOSTPORT-SETMARK
\t\tudp dport 5353 dnat ip to {c1}:53
\t}}
}}
table inet host {{
\tchain forward {{
\t\ttype filter hook forward priority filter + 10; policy drop;
\t\tct state established,related accept
\t\tip saddr {p3} drop comment \"no forwarding for .3\"
\t\tct status dnat accept
\t}}
}}
"
    );
    NatSetup {
        layout: Layout {
            scenario: Scenario {
                label: "podman (netavark nftables) behind a drop-policy forward chain".into(),
                raw: vec![nft(text)],
                ..Scenario::default()
            },
            probes: once(&[
                (Proto::Tcp, 8080),
                (Proto::Tcp, 9000),
                (Proto::Tcp, 22),
                (Proto::Udp, 5353),
            ]),
        },
        bridge: "podman0",
        gw: Ipv4Addr::new(10, 88, n, 1),
        pods: vec![Pod {
            addr: c1,
            tcp: vec![80],
            tcp_loopback: vec![],
            udp: vec![53],
        }],
    }
}

fn kube_pods(n: u8) -> (Ipv4Addr, Ipv4Addr, Vec<Pod>) {
    let c1 = Ipv4Addr::new(10, 244, n, 5);
    let c2 = Ipv4Addr::new(10, 244, n, 7);
    let pod = |addr| Pod {
        addr,
        tcp: vec![8080],
        tcp_loopback: vec![],
        udp: vec![],
    };
    (c1, c2, vec![pod(c1), pod(c2)])
}

/// kube-proxy (iptables mode, nft-backed): NodePort 9000 for a service with two endpoints
/// (one chosen per connection with `-m statistic`), NodePort 7000 with one; a
/// NetworkPolicy-like chain drops peer .4 to the second pod.
pub fn kube_proxy(env: &Env) -> NatSetup {
    let n = env.subnet;
    let (c1, c2, pods) = kube_pods(n);
    let p4 = env.peers_v4[2];
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
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-POLICY -s {p4}/32 -d {c2}/32 -p tcp -m tcp --dport 8080 -m comment --comment \"policy: no .4 to pod 2\" -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-WEB - [0:0]
:KUBE-EXT-ONE - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-ONE - [0:0]
:KUBE-SEP-WEB1 - [0:0]
:KUBE-SEP-WEB2 - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-ONE - [0:0]
:KUBE-SVC-WEB - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING
-A KUBE-EXT-ONE -m comment --comment \"masquerade traffic for default/one:http external destinations\" -j KUBE-MARK-MASQ
-A KUBE-EXT-ONE -j KUBE-SVC-ONE
-A KUBE-EXT-WEB -m comment --comment \"masquerade traffic for default/web:http external destinations\" -j KUBE-MARK-MASQ
-A KUBE-EXT-WEB -j KUBE-SVC-WEB
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/web:http\" -m tcp --dport 9000 -j KUBE-EXT-WEB
-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/one:http\" -m tcp --dport 7000 -j KUBE-EXT-ONE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully
-A KUBE-SEP-ONE -s {c1}/32 -m comment --comment \"default/one:http\" -j KUBE-MARK-MASQ
-A KUBE-SEP-ONE -p tcp -m comment --comment \"default/one:http\" -m tcp -j DNAT --to-destination {c1}:8080
-A KUBE-SEP-WEB1 -s {c1}/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ
-A KUBE-SEP-WEB1 -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination {c1}:8080
-A KUBE-SEP-WEB2 -s {c2}/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ
-A KUBE-SEP-WEB2 -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT --to-destination {c2}:8080
-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-ONE -m comment --comment \"default/one:http -> {c1}:8080\" -j KUBE-SEP-ONE
-A KUBE-SVC-WEB -m comment --comment \"default/web:http -> {c1}:8080\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-WEB1
-A KUBE-SVC-WEB -m comment --comment \"default/web:http -> {c2}:8080\" -j KUBE-SEP-WEB2
COMMIT
"
    );
    NatSetup {
        layout: Layout {
            scenario: Scenario {
                label: "kube-proxy (iptables-nft): NodePorts, statistic endpoints, a policy drop"
                    .into(),
                raw: vec![raw("iptables-nft-restore", text)],
                ..Scenario::default()
            },
            probes: vec![
                (Proto::Tcp, 9000, super::nat::REPEATS),
                (Proto::Tcp, 7000, 1),
                (Proto::Tcp, 22, 1),
                (Proto::Tcp, 81, 1),
            ],
        },
        bridge: "cni0",
        gw: Ipv4Addr::new(10, 244, n, 1),
        pods,
    }
}

/// kube-proxy in nftables mode: the same two services through `service-nodeports`, the
/// endpoint chosen with `numgen random mod 2`, and a policy table dropping peer .4 to pod 2.
pub fn kube_proxy_nft(env: &Env) -> NatSetup {
    let n = env.subnet;
    let (c1, c2, pods) = kube_pods(n);
    let p4 = env.peers_v4[2];
    let (h1, h2) = (env.host_v4, env.host2_v4);
    let text = format!(
        "table ip kube-proxy {{
\tcomment \"rules for kube-proxy\"
\tset nodeport-ips {{
\t\ttype ipv4_addr
\t\telements = {{ {h1}, {h2} }}
\t}}
\tmap service-nodeports {{
\t\ttype inet_proto . inet_service : verdict
\t\telements = {{ tcp . 7000 : goto external-one, tcp . 9000 : goto external-web }}
\t}}
\tchain nat-prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services
\t}}
\tchain nat-postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tjump masquerading
\t}}
\tchain services {{
\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
\t}}
\tchain mark-for-masquerade {{
\t\tmeta mark set meta mark | 0x00004000
\t}}
\tchain masquerading {{
\t\tmeta mark & 0x00004000 == 0x00000000 return
\t\tmeta mark set meta mark ^ 0x00004000
\t\tmasquerade fully-random
\t}}
\tchain external-web {{
\t\tjump mark-for-masquerade
\t\tgoto service-web
\t}}
\tchain service-web {{
\t\tnumgen random mod 2 vmap {{ 0 : goto endpoint-web-1, 1 : goto endpoint-web-2 }}
\t}}
\tchain endpoint-web-1 {{
\t\tip saddr {c1} jump mark-for-masquerade
\t\tmeta l4proto tcp dnat to {c1}:8080
\t}}
\tchain endpoint-web-2 {{
\t\tip saddr {c2} jump mark-for-masquerade
\t\tmeta l4proto tcp dnat to {c2}:8080
\t}}
\tchain external-one {{
\t\tjump mark-for-masquerade
\t\tgoto service-one
\t}}
\tchain service-one {{
\t\tnumgen random mod 1 vmap {{ 0 : goto endpoint-one }}
\t}}
\tchain endpoint-one {{
\t\tip saddr {c1} jump mark-for-masquerade
\t\tmeta l4proto tcp dnat to {c1}:8080
\t}}
}}
table inet netpolicy {{
\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
\t\tip saddr {p4} ip daddr {c2} tcp dport 8080 drop comment \"no .4 to pod 2\"
\t}}
}}
"
    );
    NatSetup {
        layout: Layout {
            scenario: Scenario {
                label: "kube-proxy (nftables mode): nodeport map, numgen endpoints, a policy drop"
                    .into(),
                raw: vec![nft(text)],
                ..Scenario::default()
            },
            probes: vec![
                (Proto::Tcp, 9000, super::nat::REPEATS),
                (Proto::Tcp, 7000, 1),
                (Proto::Tcp, 22, 1),
                (Proto::Tcp, 81, 1),
            ],
        },
        bridge: "kube0",
        gw: Ipv4Addr::new(10, 244, n, 1),
        pods,
    }
}
