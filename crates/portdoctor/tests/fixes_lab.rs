//! "Apply the printed fix, then the peer connects": in each situation the peer is filtered,
//! `diagnose --from PEER` prints fixes checked on a copy of the rules, the test runs the first
//! fix's argv exactly as printed, and a real connection from the peer then succeeds.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use portdoctor_lab::Lab;
use std::net::IpAddr;

const PORT: u16 = 8080;

/// How a situation is set up on the host.
enum Setup {
    /// An nft ruleset (`nft -f -`).
    Nft(&'static str),
    /// A command line (argv) run on the host; `{peer4}`, `{peer6}`, `{net4}` are replaced.
    Cmd(&'static [&'static str]),
}

struct Situation {
    name: &'static str,
    v6_peer: bool,
    setup: &'static [Setup],
    /// Extra diagnose flags.
    flags: &'static [&'static str],
}

fn fill(s: &str, lab: &Lab) -> String {
    let p4 = lab.peer_v4().to_string();
    let net4 = format!("{}.0/24", p4.rsplit_once('.').unwrap().0);
    s.replace("{peer4}", &p4)
        .replace("{peer6}", &lab.peer_v6().to_string())
        .replace("{net4}", &net4)
}

fn run_situation(s: &Situation) {
    let Some(lab) = Lab::for_test(s.name) else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "::", PORT, "0", "hold");
    for step in s.setup {
        match step {
            Setup::Nft(text) => nft(h, &fill(text, &lab)),
            Setup::Cmd(argv) => {
                let args: Vec<String> = argv[1..].iter().map(|a| fill(a, &lab)).collect();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                h.run(argv[0], &args)
                    .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            }
        }
    }
    let dst: IpAddr = if s.v6_peer {
        lab.host_v6().into()
    } else {
        lab.host_v4().into()
    };
    let peer: IpAddr = if s.v6_peer {
        lab.peer_v6().into()
    } else {
        lab.peer_v4().into()
    };
    assert!(
        !peer_connects(&lab, dst, PORT),
        "{}: the peer is not filtered to begin with",
        s.name
    );
    let peer_s = peer.to_string();
    let mut args = vec![
        "diagnose",
        "8080",
        "--from",
        peer_s.as_str(),
        "--peer-netns",
        lab.peer().name(),
    ];
    args.extend_from_slice(s.flags);
    let (code, doc) = portdoctor_json(h, &args);
    assert_eq!(code, 1, "{}: {doc:#}", s.name);
    let fix = &top(&doc)["fixes"][0];
    eprintln!(
        "{}: {} -> {}",
        s.name,
        top(&doc)["summary"],
        fix["commands"]
    );
    assert_eq!(
        fix["operation"]["from"], peer_s,
        "{}: the first fix is not the narrow one: {fix:#}",
        s.name
    );
    apply_fix(h, fix);
    assert!(
        peer_connects(&lab, dst, PORT),
        "{}: still filtered after {fix:#}",
        s.name
    );
    let (code, doc) = portdoctor_json(h, &args);
    assert_eq!(code, 0, "{}: diagnose after the fix: {doc:#}", s.name);
}

macro_rules! situations {
    ($($name:ident, $v6:expr, [$($setup:expr),*], [$($flag:expr),*];)*) => {$(
        #[test]
        fn $name() {
            run_situation(&Situation {
                name: stringify!($name),
                v6_peer: $v6,
                setup: &[$($setup),*],
                flags: &[$($flag),*],
            });
        }
    )*};
}

use Setup::{Cmd, Nft};

situations! {
    nft_custom_inet_table_policy_drop, false,
        [Nft("table inet fw {\n chain in { type filter hook input priority 0; policy drop;\n  iif lo accept\n  ct state established,related accept\n }\n}\n")], [];
    nft_custom_inet_table_policy_drop_ipv6_peer, true,
        [Nft("table inet fw {\n chain in { type filter hook input priority 0; policy drop;\n  iif lo accept\n  ct state established,related accept\n  icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n }\n}\n")], [];
    nft_ip_table_rule_drop, false,
        [Nft("table ip edge {\n chain in { type filter hook input priority 0; policy accept;\n  tcp dport 8080 drop\n }\n}\n")], [];
    nft_ip6_table_policy_drop, true,
        [Nft("table ip6 edge6 {\n chain in { type filter hook input priority 0; policy drop;\n  icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n  ct state established,related accept\n }\n}\n")], [];
    nft_accept_in_one_table_does_not_beat_a_drop_in_another, false,
        [Nft("table inet a {\n chain in { type filter hook input priority 0; policy accept;\n  tcp dport 8080 accept\n }\n}\ntable ip b {\n chain in { type filter hook input priority 10; policy accept;\n  tcp dport 8080 drop\n }\n}\n")], [];
    nft_set_blocklist, false,
        [Nft("table inet fw {\n set bl { type ipv4_addr; flags interval; elements = { {net4} } }\n chain in { type filter hook input priority 0; policy accept;\n  ip saddr @bl drop\n }\n}\n")], [];
    nft_rate_limited_drop_and_policy_without_assumptions, false,
        [Nft("table inet fw {\n chain in { type filter hook input priority 0; policy drop;\n  iif lo accept\n  ct state established,related accept\n  tcp dport 8080 limit rate over 10/second drop\n }\n}\n")], ["--no-assume"];
    iptables_legacy_policy_drop, false,
        [Cmd(&["iptables-legacy", "-P", "INPUT", "DROP"]), Cmd(&["iptables-legacy", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"])], [];
    ip6tables_legacy_reject_rule, true,
        [Cmd(&["ip6tables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "REJECT"])], [];
    iptables_nft_drop_in_a_user_chain, false,
        [Cmd(&["iptables-nft", "-N", "web"]), Cmd(&["iptables-nft", "-A", "web", "-p", "tcp", "--dport", "8080", "-j", "DROP"]), Cmd(&["iptables-nft", "-A", "INPUT", "-j", "web"])], [];
    ipset_blocklist_with_iptables_legacy, false,
        [Cmd(&["ipset", "create", "bl", "hash:net"]), Cmd(&["ipset", "add", "bl", "{net4}"]), Cmd(&["iptables-legacy", "-A", "INPUT", "-m", "set", "--match-set", "bl", "src", "-j", "DROP"])], [];
    both_families_default_deny_ipv6_peer, true,
        [Cmd(&["iptables-legacy", "-P", "INPUT", "DROP"]), Cmd(&["ip6tables-legacy", "-A", "INPUT", "-p", "ipv6-icmp", "-j", "ACCEPT"]), Cmd(&["ip6tables-legacy", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]), Cmd(&["ip6tables-legacy", "-P", "INPUT", "DROP"])], [];
    iptables_mangle_prerouting_drop, false,
        [Cmd(&["iptables-legacy", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "--dport", "8080", "-j", "DROP"])], [];
    nft_and_iptables_both_block, false,
        [Nft("table inet fw {\n chain in { type filter hook input priority 0; policy accept;\n  tcp dport 8080 drop\n }\n}\n"), Cmd(&["iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "REJECT", "--reject-with", "tcp-reset"])], [];
}
