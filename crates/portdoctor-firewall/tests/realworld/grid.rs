//! The real-world `iptables-save` dumps of `tests/data/realworld/` (sources in its README) and
//! the fixed grid of packets asked about each of them.
//!
//! The grid, per dump (everything derived from the parsed ruleset, deterministically):
//! - **interfaces**: every input interface the dump names (`-i`), a wildcard `eth+` standing
//!   for `eth0` unless a named interface already starts with `eth`, at most
//!   [`MAX_IFACES`]` - 1` evenly spread over the sorted names; plus one interface no rule
//!   names (the first of [`UNNAMED_IFACES`] that no rule matches). `lo` is left out: loopback
//!   traffic comes from the host itself, the grid asks about other hosts.
//! - **destinations**: the host's own address as far as the dump says (the single address
//!   named most often by `-d` in rules reachable from an inbound base chain, i.e. raw/mangle/
//!   nat PREROUTING and mangle/nat/filter/security INPUT; not ending in .0 or .255, which
//!   are network and broadcast addresses in these dumps; ties to the lowest) and
//!   203.0.113.1, an address the dumps do not name.
//! - **sources inside** the networks the dump names with `-s` / `--src-range`: one
//!   address per network (its first host address, or the address itself), at most
//!   [`MAX_INSIDE`], evenly spread; **outside**: the first [`OUTSIDE`] addresses that no
//!   named network contains, from [`OUTSIDE_CANDIDATES`] (documentation, benchmark and
//!   reserved ranges), then — for dumps with bogon filters, which name all of those —
//!   X.77.77.77 for X from 11 up. The kernel test gives these addresses only to its own lab
//!   namespaces, which have no route out of the machine.
//! - **ports**: [`COMMON_PORTS`] and [`RANDOM_PORTS`] (drawn once from 1024..=65535 with a
//!   fixed seed), TCP and UDP, source port 40000, ct state new, TCP flags SYN, mark 0.
//! - **routing facts**: none (a saved dump has no routing table, so reverse-path filters
//!   and source address types are unknown), or [`ROUTED_BACK`] as a live host's routing
//!   table gives for an ordinary client: both are counted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use portdoctor_firewall::{
    Action, Backend, Elem, Field, Hook, IpFamily, Match, Packet, Proto, ReversePath, Ruleset,
    Values, parse_iptables_save,
};

/// The dumps, smallest first: (file under tests/data/realworld, what it is).
pub const DUMPS: &[(&str, &str)] = &[
    ("of_conv_test.save", "LOFT OpenFlow conversion example"),
    ("random_srv.save", "a random server"),
    ("openvpn_eu.save", "OpenVPN gateway"),
    ("linux_gda_pl.save", "router, iptables 1.2.7a (2003)"),
    ("synology_ds414.save", "Synology DiskStation NAS"),
    ("rlworkman.save", "Slackware desktop firewall"),
    ("memphis_testbed.save", "Memphis testbed"),
    ("docker_topos.save", "Docker host (topoS containers)"),
    ("pastebin_bbWXHaTn.save", "home router (pastebin)"),
    ("ringofsaturn.save", "ringofsaturn.com web server"),
    ("parser_test.save", "hand-edited parser test"),
    ("openwrt.save", "OpenWrt router"),
    ("sns_ias_eduroam.save", "eduroam gateway (sns.ias.edu)"),
    ("ufw_server2.save", "ufw server"),
    ("sargon.save", "sargon host"),
    (
        "sqrl_spoofing_protection.save",
        "Shorewall router (2015, spoofing protection)",
    ),
    ("home_user.save", "typical home user"),
    ("ugent.save", "Ghent University host, iptables 1.4.21"),
    ("gopherproxy.save", "gopherproxy.meulie.net server"),
    ("sqrl_akachan.save", "Shorewall router (2014)"),
    ("medium_company.save", "medium-sized company gateway"),
    (
        "tum_net_2013-10-20.save",
        "TUM chair network firewall (2013)",
    ),
    (
        "tum_net_2015-05-15.save",
        "TUM chair network firewall (2015)",
    ),
];

/// Interface names for "an interface the dump does not name", the first that no rule matches.
const UNNAMED_IFACES: [&str; 3] = ["eth0", "ens3", "wan7"];
/// Most interfaces per dump.
pub const MAX_IFACES: usize = 8;
/// Most sources inside named networks per dump.
pub const MAX_INSIDE: usize = 12;
/// Sources outside every named network per dump.
pub const OUTSIDE: usize = 3;
/// Well-known service ports.
pub const COMMON_PORTS: [u16; 14] = [
    21, 22, 25, 53, 80, 110, 123, 143, 443, 445, 993, 3306, 5432, 8080,
];
/// Seed of [`random_ports`].
pub const PORT_SEED: u64 = 0x0d0c_7002;
/// Number of random ports.
pub const RANDOM_PORTS: usize = 6;
/// The destination no dump names.
pub const UNNAMED_DST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// Candidate outside sources: documentation, benchmark, shared and IETF-reserved ranges only
/// (the kernel test gives them to a lab namespace; no real host's address is used).
const OUTSIDE_CANDIDATES: [Ipv4Addr; 7] = [
    Ipv4Addr::new(192, 0, 2, 77),
    Ipv4Addr::new(198, 51, 100, 77),
    Ipv4Addr::new(203, 0, 113, 77),
    Ipv4Addr::new(198, 18, 200, 77),
    Ipv4Addr::new(100, 64, 7, 7),
    Ipv4Addr::new(192, 0, 0, 77),
    Ipv4Addr::new(192, 88, 99, 77),
];

/// The text of a dump.
pub fn dump_text(name: &str) -> String {
    let p = format!("{}/tests/data/realworld/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A dump parsed as legacy IPv4 iptables.
pub fn parse_dump(name: &str) -> Result<Ruleset, String> {
    parse_iptables_save(&dump_text(name), IpFamily::Ipv4, Backend::IptablesLegacy)
        .map_err(|e| format!("{name}: {e}"))
}

/// [`RANDOM_PORTS`] ports from 1024..=65535 (a fixed linear congruential sequence).
pub fn random_ports() -> Vec<u16> {
    let mut x = PORT_SEED;
    (0..RANDOM_PORTS)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            1024 + ((x >> 33) % (65536 - 1024)) as u16
        })
        .collect()
}

/// Every port of the grid.
pub fn ports() -> Vec<u16> {
    let mut p: Vec<u16> = COMMON_PORTS.to_vec();
    p.extend(random_ports());
    p
}

/// What a dump names on its inbound path.
#[derive(Debug, Default)]
pub struct Named {
    /// Interface names (exact) and prefixes (wildcards).
    pub ifaces: BTreeSet<(String, bool)>,
    /// Source networks as inclusive ranges.
    pub src_nets: BTreeSet<(u32, u32)>,
    /// Single destination addresses with the number of rules naming them.
    pub dst_hosts: BTreeMap<u32, usize>,
}

/// Whether a chain is a base chain on the inbound path.
fn inbound(c: &portdoctor_firewall::Chain) -> bool {
    c.base
        .as_ref()
        .is_some_and(|b| matches!(b.hook, Hook::Prerouting | Hook::Input))
}

/// Names of the chains reachable from the inbound base chains, per table.
fn reachable(rs: &Ruleset) -> Vec<(usize, usize)> {
    let mut out = vec![];
    for (ti, t) in rs.tables.iter().enumerate() {
        let mut todo: Vec<usize> = (0..t.chains.len())
            .filter(|&i| inbound(&t.chains[i]))
            .collect();
        let mut seen: BTreeSet<usize> = todo.iter().copied().collect();
        while let Some(ci) = todo.pop() {
            out.push((ti, ci));
            for r in &t.chains[ci].rules {
                let target = match &r.action {
                    Action::Jump(n) | Action::Goto(n) => n,
                    _ => continue,
                };
                if let Some(j) = t.chains.iter().position(|c| &c.name == target) {
                    if seen.insert(j) {
                        todo.push(j);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// (table, chain) names of the chains reachable from an inbound base chain: only these can
/// decide a packet to this host.
pub fn inbound_chains(rs: &Ruleset) -> BTreeSet<(String, String)> {
    reachable(rs)
        .into_iter()
        .map(|(ti, ci)| {
            let t = &rs.tables[ti];
            (t.name.clone(), t.chains[ci].name.clone())
        })
        .collect()
}

/// Collects what the dump names: interfaces and source networks anywhere, destination
/// addresses on the inbound path.
pub fn named(rs: &Ruleset) -> Named {
    let mut n = Named::default();
    let inbound = reachable(rs);
    for (ti, t) in rs.tables.iter().enumerate() {
        for (ci, c) in t.chains.iter().enumerate() {
            let on_path = inbound.binary_search(&(ti, ci)).is_ok();
            collect_rules(&c.rules, on_path, &mut n);
        }
    }
    n
}

/// Adds what `rules` name to `n` (destinations only when the chain is on the inbound path).
fn collect_rules(rules: &[portdoctor_firewall::Rule], on_path: bool, n: &mut Named) {
    for m in rules.iter().flat_map(|r| &r.matches) {
        let Match::Cmp {
            key,
            values: Values::Inline(entries),
            ..
        } = m
        else {
            continue;
        };
        let [field] = key.as_slice() else { continue };
        for e in entries.iter().flatten() {
            match (field, e) {
                (Field::Iifname, Elem::Iface { name, wildcard }) => {
                    n.ifaces.insert((name.clone(), *wildcard));
                }
                (Field::Saddr4, Elem::Range(a, b)) => {
                    n.src_nets.insert((*a as u32, *b as u32));
                }
                (Field::Daddr4, Elem::Range(a, b)) if a == b && on_path => {
                    *n.dst_hosts.entry(*a as u32).or_default() += 1;
                }
                _ => {}
            }
        }
    }
}

/// `k` items spread evenly over `v` (all of them when there are at most `k`).
fn spread<T: Clone>(v: &[T], k: usize) -> Vec<T> {
    if v.len() <= k {
        return v.to_vec();
    }
    (0..k).map(|i| v[i * v.len() / k].clone()).collect()
}

/// Whether an address is usable as the source of a packet that reaches INPUT: not in
/// 0.0.0.0/8, 127.0.0.0/8, multicast or 240.0.0.0/4 (the kernel drops those as martians).
pub fn usable_source(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o != 0 && o != 127 && o < 224
}

/// The grid's interfaces, destinations and sources (inside, outside) for a dump.
#[derive(Debug, Clone)]
pub struct Axes {
    /// Input interfaces.
    pub ifaces: Vec<String>,
    /// Destinations (local addresses of the host).
    pub dsts: Vec<Ipv4Addr>,
    /// Sources inside named networks.
    pub inside: Vec<Ipv4Addr>,
    /// Sources outside every named network.
    pub outside: Vec<Ipv4Addr>,
}

/// The axes of the grid for a ruleset (see the module documentation).
pub fn axes(rs: &Ruleset) -> Axes {
    let n = named(rs);
    let exact: Vec<&String> = n.ifaces.iter().filter(|i| !i.1).map(|i| &i.0).collect();
    let mut ifaces: BTreeSet<String> = exact.iter().map(|s| s.to_string()).collect();
    for (prefix, wild) in &n.ifaces {
        if *wild && !exact.iter().any(|e| e.starts_with(prefix.as_str())) {
            ifaces.insert(format!("{prefix}0"));
        }
    }
    ifaces.remove("lo");
    let mut ifaces = spread(&ifaces.into_iter().collect::<Vec<_>>(), MAX_IFACES - 1);
    let unnamed = UNNAMED_IFACES
        .iter()
        .find(|c| {
            !n.ifaces.iter().any(|(name, wild)| {
                if *wild {
                    c.starts_with(name.as_str())
                } else {
                    *c == name
                }
            })
        })
        .unwrap_or(&UNNAMED_IFACES[0]);
    ifaces.push(unnamed.to_string());
    let host = n
        .dst_hosts
        .iter()
        .filter(|(a, _)| usable_source(Ipv4Addr::from(**a)) && !matches!(**a & 0xff, 0 | 255))
        .max_by_key(|(a, c)| (**c, std::cmp::Reverse(**a)))
        .map(|(a, _)| Ipv4Addr::from(*a));
    let mut dsts: Vec<Ipv4Addr> = host.into_iter().collect();
    if !dsts.contains(&UNNAMED_DST) {
        dsts.push(UNNAMED_DST);
    }
    let inside: BTreeSet<Ipv4Addr> = n
        .src_nets
        .iter()
        .map(|&(a, b)| Ipv4Addr::from(if b > a { a + 1 } else { a }))
        .filter(|a| usable_source(*a) && !dsts.contains(a))
        .collect();
    let inside = spread(&inside.into_iter().collect::<Vec<_>>(), MAX_INSIDE);
    // Bogon filters name every reserved range: then ordinary addresses X.77.77.77.
    let fallback = (11..224).map(|x| Ipv4Addr::new(x, 77, 77, 77));
    let outside = OUTSIDE_CANDIDATES
        .iter()
        .copied()
        .chain(fallback)
        .filter(|a| {
            let v = u32::from(*a);
            !n.src_nets.iter().any(|&(x, y)| x <= v && v <= y)
        })
        .take(OUTSIDE)
        .collect();
    Axes {
        ifaces,
        dsts,
        inside,
        outside,
    }
}

/// The routing facts a live host gives every grid packet in [`grid`]`(rs, true)`: the source
/// is an ordinary unicast address whose route leads back through the interface the packet
/// came in on (the strict and loose reverse-path checks pass).
pub const ROUTED_BACK: ReversePath = ReversePath {
    strict: true,
    loose: true,
    src_type: 1,
};

/// Every packet of the grid, with whether its source is inside a named network. `routes`:
/// each packet carries [`ROUTED_BACK`]; otherwise no routing facts (as for a saved dump).
pub fn grid(rs: &Ruleset, routes: bool) -> Vec<(Packet, bool)> {
    let ax = axes(rs);
    let ports = ports();
    let mut out = vec![];
    for iif in &ax.ifaces {
        for dst in &ax.dsts {
            let srcs = ax
                .inside
                .iter()
                .map(|s| (*s, true))
                .chain(ax.outside.iter().map(|s| (*s, false)));
            for (src, inside) in srcs {
                for proto in [Proto::Tcp, Proto::Udp] {
                    for port in &ports {
                        let mut p = Packet::new(proto, IpAddr::V4(src), IpAddr::V4(*dst), *port)
                            .with_iif(iif);
                        p.reverse_path = routes.then_some(ROUTED_BACK);
                        out.push((p, inside));
                    }
                }
            }
        }
    }
    out
}
