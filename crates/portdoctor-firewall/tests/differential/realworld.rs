//! Rulesets as real software writes them, with the lab's addresses: Docker (iptables-nft, the
//! classic DOCKER / DOCKER-USER / DOCKER-ISOLATION-STAGE-1/2 layout plus a published port's
//! DNAT, behind a host firewall with a drop policy), kube-proxy in iptables mode (legacy, the
//! KUBE-* filter chains with comments, addrtype and conntrack, NodePort DNAT), and a default-deny
//! nft ruleset with allow sets in firewalld's zone layout, ufw's iptables chains, and
//! kube-proxy's nftables mode (concatenated verdict maps).
//!
//! The layouts are written from what those programs produce (`iptables-save` / `nft list
//! ruleset` of real hosts); ports are moved into the range the oracle probes.

use super::model::Scenario;
use super::rulegen::Env;

fn raw(prog: &str, text: String) -> (String, Vec<String>, String) {
    (prog.to_string(), Vec::new(), text)
}

/// Docker 20–27 on a host whose admin allows ssh and http and drops the rest; one container
/// publishes 8080 -> 172.17.0.2:80 (`docker run -p 8080:80`).
pub fn docker(env: &Env) -> Scenario {
    let n = env.subnet;
    let filter = format!(
        "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443 -m comment --comment \"web\" -j ACCEPT
-A INPUT -s 198.18.{n}.4/32 -p tcp -m tcp --dport 5432 -j ACCEPT
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 9000 -j REJECT --reject-with tcp-reset
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -s 198.18.{n}.3/32 -j DROP
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
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
"
    );
    let filter6 = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
-A INPUT -p tcp -j REJECT --reject-with icmp6-adm-prohibited
-A FORWARD -j DOCKER-USER
-A DOCKER-USER -j RETURN
COMMIT
"
    .to_string();
    Scenario {
        label: "docker (iptables-nft) behind a drop-policy host firewall".into(),
        raw: vec![
            raw("iptables-nft-restore", filter),
            raw("ip6tables-nft-restore", filter6),
        ],
        ..Scenario::default()
    }
}

/// kube-proxy (iptables mode, Kubernetes 1.2x) on a node: a service without endpoints on
/// NodePort 8081 and on an external IP (the host's address) port 443, a health-check NodePort
/// 9000, a NodePort 5432 DNAT'ed to a pod, the localnet guard and the marked-packet drop.
pub fn kube_proxy(env: &Env) -> Scenario {
    let host = env.host_v4;
    let filter = format!(
        "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-CANARY - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"default/web:http has no endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 8081 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-EXTERNAL-SERVICES -d {host}/32 -p tcp -m comment --comment \"default/web:https has no endpoints\" -m tcp --dport 443 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-FIREWALL -m comment --comment \"kubernetes firewall for dropping marked packets\" -m mark --mark 0x8000/0x8000 -j DROP
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/lb:http health check node port\" -m tcp --dport 9000 -j ACCEPT
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"kube-system/kube-dns:dns-tcp has no endpoints\" -m tcp --dport 53 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-DROP - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-BBBBBBBBBBBBBBBB - [0:0]
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING
-A KUBE-MARK-DROP -j MARK --set-xmark 0x8000/0x8000
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/db:pg\" -m tcp --dport 5432 -j KUBE-SVC-BBBBBBBBBBBBBBBB
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully
-A KUBE-SEP-AAAAAAAAAAAAAAAA -s 10.244.1.5/32 -m comment --comment \"default/db:pg\" -j KUBE-MARK-MASQ
-A KUBE-SEP-AAAAAAAAAAAAAAAA -p tcp -m comment --comment \"default/db:pg\" -m tcp -j DNAT --to-destination 10.244.1.5:5432
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment \"default/kubernetes:https cluster IP\" -m tcp --dport 443 -j KUBE-SVC-BBBBBBBBBBBBBBBB
-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-BBBBBBBBBBBBBBBB ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment \"default/db:pg cluster IP\" -m tcp --dport 5432 -j KUBE-MARK-MASQ
-A KUBE-SVC-BBBBBBBBBBBBBBBB -p tcp -m comment --comment \"default/db:pg -> 10.244.1.5:5432\" -j KUBE-SEP-AAAAAAAAAAAAAAAA
COMMIT
"
    );
    let filter6 = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"default/web:http has no endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 8081 -j REJECT --reject-with icmp6-port-unreachable
-A KUBE-NODEPORTS -p tcp -m comment --comment \"default/lb:http health check node port\" -m tcp --dport 9000 -j ACCEPT
COMMIT
"
    .to_string();
    Scenario {
        label: "kube-proxy (iptables-legacy)".into(),
        raw: vec![
            raw("iptables-legacy-restore", filter),
            raw("ip6tables-legacy-restore", filter6),
        ],
        ..Scenario::default()
    }
}

/// A default-deny inet table in firewalld's layout (zone dispatch by interface with goto,
/// deny/allow sub-chains, final reject) with allow sets, a trusted source set, and a drop
/// policy behind the reject.
pub fn default_deny_nft(env: &Env) -> Scenario {
    let n = env.subnet;
    let text = format!(
        "table inet pd_firewalld {{
\tset allowed_tcp {{
\t\ttype inet_service; flags interval; elements = {{ 22, 80, 8000-8100 }}
\t}}
\tset allowed_udp {{
\t\ttype inet_service; elements = {{ 53 }}
\t}}
\tset trusted4 {{
\t\ttype ipv4_addr; flags interval; elements = {{ 198.18.{n}.3 }}
\t}}
\tset trusted6 {{
\t\ttype ipv6_addr; flags interval; elements = {{ 2001:2:0:{n:x}::3 }}
\t}}
\tset db_clients {{
\t\ttype ipv4_addr . inet_service; elements = {{ 198.18.{n}.4 . 5432 }}
\t}}
\tchain filter_IN_public_pre {{
\t}}
\tchain filter_IN_public_log {{
\t}}
\tchain filter_IN_public_deny {{
\t\tip saddr 198.18.{n}.4 tcp dport 22 drop comment \"rich rule: no ssh from .4\"
\t\tip6 saddr 2001:2:0:{n:x}::4 reject with icmpv6 type admin-prohibited
\t}}
\tchain filter_IN_public_allow {{
\t\ttcp dport @allowed_tcp ct state {{ new, untracked }} accept
\t\tudp dport @allowed_udp ct state {{ new, untracked }} accept
\t\tip saddr . tcp dport @db_clients accept
\t\tip6 daddr fe80::/64 udp dport 546 accept
\t}}
\tchain filter_IN_public_post {{
\t}}
\tchain filter_IN_public {{
\t\tjump filter_IN_public_pre
\t\tjump filter_IN_public_log
\t\tjump filter_IN_public_deny
\t\tjump filter_IN_public_allow
\t\tjump filter_IN_public_post
\t\tmeta l4proto {{ icmp, ipv6-icmp }} accept
\t}}
\tchain filter_IN_trusted {{
\t\taccept
\t}}
\tchain filter_INPUT_ZONES {{
\t\tip saddr @trusted4 goto filter_IN_trusted
\t\tip6 saddr @trusted6 goto filter_IN_trusted
\t\tiifname \"{iif}\" goto filter_IN_public
\t\tgoto filter_IN_public
\t}}
\tchain filter_INPUT {{
\t\ttype filter hook input priority filter + 10; policy drop;
\t\tct state {{ established, related }} accept
\t\tiifname \"lo\" accept
\t\tct state invalid drop
\t\tjump filter_INPUT_ZONES
\t\ttcp dport 9000 reject with tcp reset
\t\treject with icmpx type admin-prohibited
\t}}
}}
",
        iif = env.iif
    );
    Scenario {
        label: "default-deny nft (firewalld layout, allow sets)".into(),
        raw: vec![("nft".into(), vec!["-f".into(), "-".into()], text)],
        ..Scenario::default()
    }
}

/// ufw (Debian, iptables-nft backend) with `default deny incoming` and the rules
/// `allow 22/tcp`, `allow "Nginx Full"`, `allow from .4 to any port 5432 proto tcp`,
/// `allow 53/udp`, `reject 9000/tcp`, `limit 8080/tcp`: the ufw-before/after/user chain
/// layout, `-m limit` on the logging rules, `-m recent` for the limit rule, and `addrtype`
/// in ufw-not-local. IPv6 gets the same user rules in the ufw6-* chains.
pub fn ufw(env: &Env) -> Scenario {
    let n = env.subnet;
    let chains = |p: &str| {
        [
            "after-forward",
            "after-input",
            "after-logging-forward",
            "after-logging-input",
            "after-logging-output",
            "after-output",
            "before-forward",
            "before-input",
            "before-logging-forward",
            "before-logging-input",
            "before-logging-output",
            "before-output",
            "logging-allow",
            "logging-deny",
            "not-local",
            "reject-forward",
            "reject-input",
            "reject-output",
            "skip-to-policy-forward",
            "skip-to-policy-input",
            "skip-to-policy-output",
            "track-forward",
            "track-input",
            "track-output",
            "user-forward",
            "user-input",
            "user-limit",
            "user-limit-accept",
            "user-logging-forward",
            "user-logging-input",
            "user-logging-output",
            "user-output",
        ]
        .iter()
        .map(|c| format!(":{p}-{c} - [0:0]\n"))
        .collect::<String>()
    };
    let common = |p: &str, v6: bool, src4: &str| {
        let lim = "-m limit --limit 3/min --limit-burst 10";
        let (reject, icmp) = if v6 {
            (
                "icmp6-port-unreachable",
                "-p ipv6-icmp -m icmp6 --icmpv6-type 1 -j ACCEPT",
            )
        } else {
            (
                "icmp-port-unreachable",
                "-p icmp -m icmp --icmp-type 3 -j ACCEPT",
            )
        };
        let mask = if v6 {
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        } else {
            "255.255.255.255"
        };
        let mut r = format!(
            "-A INPUT -j {p}-before-logging-input
-A INPUT -j {p}-before-input
-A INPUT -j {p}-after-input
-A INPUT -j {p}-after-logging-input
-A INPUT -j {p}-reject-input
-A INPUT -j {p}-track-input
-A {p}-after-input -p udp -m udp --dport 137 -j {p}-skip-to-policy-input
-A {p}-after-input -p udp -m udp --dport 138 -j {p}-skip-to-policy-input
-A {p}-after-input -p tcp -m tcp --dport 139 -j {p}-skip-to-policy-input
-A {p}-after-input -p tcp -m tcp --dport 445 -j {p}-skip-to-policy-input
-A {p}-after-logging-input {lim} -j LOG --log-prefix \"[UFW BLOCK] \"
-A {p}-before-input -i lo -j ACCEPT
-A {p}-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A {p}-before-input -m conntrack --ctstate INVALID -j {p}-logging-deny
-A {p}-before-input -m conntrack --ctstate INVALID -j DROP
-A {p}-before-input {icmp}
"
        );
        if !v6 {
            r.push_str(&format!(
                "-A {p}-after-input -m addrtype --dst-type BROADCAST -j {p}-skip-to-policy-input
-A {p}-before-input -p udp -m udp --sport 67 --dport 68 -j ACCEPT
-A {p}-before-input -j {p}-not-local
-A {p}-before-input -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT
-A {p}-before-input -d 239.255.255.250/32 -p udp -m udp --dport 1900 -j ACCEPT
-A {p}-not-local -m addrtype --dst-type LOCAL -j RETURN
-A {p}-not-local -m addrtype --dst-type MULTICAST -j RETURN
-A {p}-not-local -m addrtype --dst-type BROADCAST -j RETURN
-A {p}-not-local {lim} -j {p}-logging-deny
-A {p}-not-local -j DROP
"
            ));
        } else {
            r.push_str(&format!(
                "-A {p}-before-input -d ff02::fb/128 -p udp -m udp --dport 5353 -j ACCEPT
"
            ));
        }
        r.push_str(&format!(
            "-A {p}-before-input -j {p}-user-input
-A {p}-logging-deny -m conntrack --ctstate INVALID {lim} -j RETURN
-A {p}-logging-deny {lim} -j LOG --log-prefix \"[UFW BLOCK] \"
-A {p}-skip-to-policy-input -j DROP
-A {p}-user-input -p tcp -m tcp --dport 22 -j ACCEPT
-A {p}-user-input -p tcp -m multiport --dports 80,443 -m comment --comment \"'dapp_Nginx%20Full'\" -j ACCEPT
-A {p}-user-input -s {src4} -p tcp -m tcp --dport 5432 -j ACCEPT
-A {p}-user-input -p udp -m udp --dport 53 -j ACCEPT
-A {p}-user-input -p tcp -m tcp --dport 9000 -j REJECT --reject-with tcp-reset
-A {p}-user-input -p tcp -m tcp --dport 8080 -m conntrack --ctstate NEW -m recent --set --name DEFAULT --mask {mask} --rsource
-A {p}-user-input -p tcp -m tcp --dport 8080 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 --name DEFAULT --mask {mask} --rsource -j {p}-user-limit
-A {p}-user-input -p tcp -m tcp --dport 8080 -j {p}-user-limit-accept
-A {p}-user-limit -m limit --limit 3/min -j LOG --log-prefix \"[UFW LIMIT BLOCK] \"
-A {p}-user-limit -j REJECT --reject-with {reject}
-A {p}-user-limit-accept -j ACCEPT
COMMIT
"
        ));
        r
    };
    let head = ":INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n";
    let v4 = format!(
        "*filter\n{head}{}{}",
        chains("ufw"),
        common("ufw", false, &format!("198.18.{n}.4/32"))
    );
    let v6 = format!(
        "*filter\n{head}{}{}",
        chains("ufw6"),
        common("ufw6", true, &format!("2001:2:0:{n:x}::4/128"))
    );
    Scenario {
        label: "ufw (iptables-nft), default deny incoming".into(),
        raw: vec![
            raw("iptables-nft-restore", v4),
            raw("ip6tables-nft-restore", v6),
        ],
        ..Scenario::default()
    }
}

/// kube-proxy in nftables mode (Kubernetes 1.31+): `table ip kube-proxy` with concatenated
/// verdict maps keyed by `ip daddr . meta l4proto . th dport` (`inet_proto` in the key),
/// `goto` verdicts, per-element comments, a `numgen` endpoint choice and DNAT. A NodePort
/// without endpoints (8081) and an external IP without endpoints (443) are rejected, a
/// LoadBalancer with source ranges (9000) drops other sources, a NodePort (5432) is DNAT'ed
/// to a pod.
pub fn kube_proxy_nft(env: &Env) -> Scenario {
    let n = env.subnet;
    let text = format!(
        "table ip kube-proxy {{
\tcomment \"rules for kube-proxy\"
\tset cluster-ips {{
\t\ttype ipv4_addr
\t\tcomment \"Active ClusterIPs\"
\t\telements = {{ 10.96.0.1, 10.96.0.10 }}
\t}}
\tset nodeport-ips {{
\t\ttype ipv4_addr
\t\tcomment \"IPs that accept NodePort traffic\"
\t\telements = {{ 198.18.{n}.1 }}
\t}}
\tmap no-endpoint-services {{
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\tcomment \"vmap to drop or reject packets to services with no endpoints\"
\t\telements = {{ 10.96.0.10 . tcp . 53 comment \"kube-system/kube-dns:dns-tcp\" : goto reject-chain,
\t\t\t     198.18.{n}.1 . tcp . 443 comment \"default/web:https external IP\" : goto reject-chain }}
\t}}
\tmap no-endpoint-nodeports {{
\t\ttype inet_proto . inet_service : verdict
\t\tcomment \"vmap to drop or reject packets to service nodeports with no endpoints\"
\t\telements = {{ tcp . 8081 comment \"default/web:http\" : goto reject-chain }}
\t}}
\tmap firewall-ips {{
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\tcomment \"destinations that are subject to LoadBalancerSourceRanges\"
\t\telements = {{ 198.18.{n}.1 . tcp . 9000 comment \"default/lb:http\" : goto firewall-lb }}
\t}}
\tmap service-ips {{
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\tcomment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\"
\t\telements = {{ 10.96.0.1 . tcp . 443 comment \"default/kubernetes:https\" : goto service-db }}
\t}}
\tmap service-nodeports {{
\t\ttype inet_proto . inet_service : verdict
\t\tcomment \"NodePort traffic\"
\t\telements = {{ tcp . 5432 comment \"default/db:pg\" : goto external-db }}
\t}}
\tchain filter-prerouting {{
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tct state new jump firewall-check
\t}}
\tchain filter-input {{
\t\ttype filter hook input priority -110; policy accept;
\t\tct state new jump nodeport-endpoints-check
\t\tct state new jump service-endpoints-check
\t}}
\tchain filter-forward {{
\t\ttype filter hook forward priority -110; policy accept;
\t\tct state new jump service-endpoints-check
\t\tct state new jump cluster-ips-check
\t}}
\tchain filter-output {{
\t\ttype filter hook output priority -110; policy accept;
\t\tct state new jump service-endpoints-check
\t\tct state new jump firewall-check
\t}}
\tchain firewall-check {{
\t\tip daddr . meta l4proto . th dport vmap @firewall-ips
\t}}
\tchain firewall-lb {{
\t\tip saddr != {{ 198.18.{n}.3, 198.19.{n}.0/24 }} drop
\t}}
\tchain reject-chain {{
\t\tcomment \"helper for @no-endpoint-services / @no-endpoint-nodeports\"
\t\treject
\t}}
\tchain cluster-ips-check {{
\t\tip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"
\t}}
\tchain nodeport-endpoints-check {{
\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
\t}}
\tchain service-endpoints-check {{
\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services
\t}}
\tchain mark-for-masquerade {{
\t\tmeta mark set meta mark | 0x00004000
\t}}
\tchain nat-prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump services
\t}}
\tchain services {{
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
\t}}
\tchain service-db {{
\t\tip daddr 10.96.0.1 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
\t\tnumgen random mod 1 vmap {{ 0 : goto endpoint-db }}
\t}}
\tchain external-db {{
\t\tjump mark-for-masquerade
\t\tgoto service-db
\t}}
\tchain endpoint-db {{
\t\tip saddr 10.244.1.5 jump mark-for-masquerade
\t\tmeta l4proto tcp dnat to 10.244.1.5:5432
\t}}
}}
"
    );
    Scenario {
        label: "kube-proxy (nftables mode)".into(),
        raw: vec![("nft".into(), vec!["-f".into(), "-".into()], text)],
        ..Scenario::default()
    }
}
