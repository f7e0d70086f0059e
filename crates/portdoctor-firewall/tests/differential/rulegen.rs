//! The seeded random ruleset generator.
//!
//! One seed gives one [`Scenario`]: native nft tables (inet/ip/ip6; base chains on input and
//! prerouting at different priorities; regular chains reached by jump/goto with return; named
//! and anonymous sets, intervals, concatenations, verdict maps; negation, `ct state`,
//! `meta l4proto`, `iifname`, addresses, port ranges, every reject kind, counters and comments)
//! and/or iptables rulesets for `iptables-restore` (raw/mangle/filter, user chains with RETURN,
//! policies, `!`, multiport, conntrack, state, comment, iprange, set with ipsets, every
//! `--reject-with`), loaded through legacy, nft-backed, or both at once.
//!
//! Rules only use the addresses and ports the oracle probes, so most of them matter; a
//! scenario has 5 to 40 rules ([`MIN_RULES`], [`MAX_RULES`]).
//!
//! Hooks that share a priority run in registration order, which no ruleset listing shows; where
//! two chains (nft or iptables) share a hook and a priority, the generator turns their rejects
//! into drops, so the kernel's outcome does not depend on that order (accept is not final; two
//! drops agree).

use std::net::{Ipv4Addr, Ipv6Addr};

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};

use super::model::{
    Hook, IpSet, IptBackend, IptChain, IptRuleset, IptTable, NftChain, NftTable, Rule, Scenario,
    Verdict,
};

/// TCP ports with a listener on the host.
pub const TCP_OPEN: [u16; 5] = [22, 80, 443, 8080, 5432];
/// TCP ports without a listener.
pub const TCP_CLOSED: [u16; 3] = [81, 8081, 9000];
/// UDP ports with an echo server on the host.
pub const UDP_OPEN: [u16; 2] = [53, 5353];
/// UDP ports without a socket.
pub const UDP_CLOSED: [u16; 1] = [161];

/// The addresses of the lab, which the generated rules refer to.
#[derive(Clone, Debug)]
pub struct Env {
    /// The lab's subnet number N (198.18.N.0/24, 2001:2:0:N::/64).
    pub subnet: u8,
    /// The host's IPv4 address.
    pub host_v4: Ipv4Addr,
    /// The host's IPv6 address.
    pub host_v6: Ipv6Addr,
    /// The peer's IPv4 source addresses (.2, .3, .4).
    pub peers_v4: Vec<Ipv4Addr>,
    /// The peer's IPv6 source addresses (::2, ::3, ::4).
    pub peers_v6: Vec<Ipv6Addr>,
    /// The host's interface toward the peer.
    pub iif: String,
    /// The host's address on the second link (198.19.N.1).
    pub host2_v4: Ipv4Addr,
    /// The host's IPv6 address on the second link.
    pub host2_v6: Ipv6Addr,
    /// The peer's address on the second link (198.19.N.2).
    pub peer2_v4: Ipv4Addr,
    /// The peer's IPv6 address on the second link.
    pub peer2_v6: Ipv6Addr,
    /// The host's second interface.
    pub iif2: String,
}

impl Env {
    fn v4(&self, last: u8) -> String {
        format!("198.18.{}.{last}", self.subnet)
    }
    fn v6(&self, last: u8) -> String {
        format!("2001:2:0:{:x}::{last:x}", self.subnet)
    }
    fn net4(&self) -> String {
        format!("198.18.{}.0/24", self.subnet)
    }
    fn net6(&self) -> String {
        format!("2001:2:0:{:x}::/64", self.subnet)
    }
    fn other4(&self) -> String {
        format!("198.19.{}.0/24", self.subnet)
    }
    fn other6(&self) -> String {
        format!("2001:2:0:{:x}::/64", u16::from(self.subnet) + 0x100)
    }
}

/// Family context a rule's matches imply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fam {
    Any,
    V4,
    V6,
}

/// Protocol context a rule's matches imply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4 {
    Any,
    Tcp,
    Udp,
    /// tcp or udp, but not known which.
    Th,
}

/// Generates the scenario for `seed`.
/// Generates one scenario. With `keep_ties`, chains that share a hook and a priority keep
/// their rejects, marks and NAT (the kernel then runs the most recently registered first,
/// which no listing shows: the evaluator must say Unknown where that order matters).
pub fn generate(rng: &mut StdRng, env: &Env, keep_ties: bool) -> Scenario {
    // 5 to 40 rules: draw again while too small, drop random rules while too big.
    let mut s = loop {
        let s = generate_once(rng, env);
        if s.rule_count() >= MIN_RULES {
            break s;
        }
    };
    while s.rule_count() > MAX_RULES {
        drop_random_rule(rng, &mut s);
    }
    if !keep_ties {
        break_priority_ties(&mut s);
    }
    let base = s.label.clone();
    s.label = format!("{base} ({} rules)", s.rule_count());
    s
}

/// Fewest rules in a generated scenario.
pub const MIN_RULES: usize = 5;
/// Most rules in a generated scenario.
pub const MAX_RULES: usize = 40;

fn drop_random_rule(rng: &mut StdRng, s: &mut Scenario) {
    let mut slots: Vec<(bool, usize, usize, usize)> = Vec::new();
    for (ti, t) in s.nft.iter().enumerate() {
        for (ci, c) in t.chains.iter().enumerate() {
            if !c.rules.is_empty() {
                slots.push((true, ti, ci, 0));
            }
        }
    }
    for (ri, r) in s.ipt.iter().enumerate() {
        for (ti, t) in r.tables.iter().enumerate() {
            for (ci, c) in t.chains.iter().enumerate() {
                if !c.rules.is_empty() {
                    slots.push((false, ri, ti, ci));
                }
            }
        }
    }
    let Some(&(nft, a, b, c)) = slots.choose(rng) else {
        return;
    };
    let rules = if nft {
        &mut s.nft[a].chains[b].rules
    } else {
        &mut s.ipt[a].tables[b].chains[c].rules
    };
    let k = rng.random_range(0..rules.len());
    rules.remove(k);
}

fn generate_once(rng: &mut StdRng, env: &Env) -> Scenario {
    let mut s = Scenario::default();
    let shape = rng.random_range(0..100);
    let mut labels = Vec::new();
    if shape < 40 {
        labels.push("nft");
        add_nft(rng, env, &mut s);
    } else if shape < 65 {
        let backend = if rng.random_bool(0.5) {
            IptBackend::Legacy
        } else {
            IptBackend::Nft
        };
        labels.push(if backend == IptBackend::Legacy {
            "iptables-legacy"
        } else {
            "iptables-nft"
        });
        add_ipt(rng, env, &mut s, backend);
    } else if shape < 75 {
        labels.push("iptables-legacy+iptables-nft");
        add_ipt(rng, env, &mut s, IptBackend::Legacy);
        add_ipt(rng, env, &mut s, IptBackend::Nft);
    } else if shape < 82 {
        labels.push("nft+iptables-legacy+iptables-nft");
        add_nft(rng, env, &mut s);
        add_ipt(rng, env, &mut s, IptBackend::Legacy);
        add_ipt(rng, env, &mut s, IptBackend::Nft);
    } else {
        let backend = if rng.random_bool(0.5) {
            IptBackend::Legacy
        } else {
            IptBackend::Nft
        };
        labels.push(if backend == IptBackend::Legacy {
            "nft+iptables-legacy"
        } else {
            "nft+iptables-nft"
        });
        add_nft(rng, env, &mut s);
        add_ipt(rng, env, &mut s, backend);
    }
    s.label = labels.join(",");
    s
}

// ---------------------------------------------------------------------------------------------
// nftables

struct NftCtx<'a> {
    env: &'a Env,
    family: &'static str,
    /// Named sets usable in matches: (name, kind).
    sets: Vec<(String, SetKind)>,
    /// Regular chains this chain may jump to (only later ones: no loops).
    callable: Vec<String>,
    regular: bool,
    /// The hook of the base chain (`None` for regular chains, which may be reached from
    /// prerouting and input).
    hook: Option<Hook>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetKind {
    Addr4,
    Addr6,
    Service,
    Concat4,
    Concat6,
    Vmap,
}

fn add_nft(rng: &mut StdRng, env: &Env, s: &mut Scenario) {
    let tables = rng.random_range(1..=3);
    let mut budget: i32 = rng.random_range(5..=36);
    for ti in 0..tables {
        let family = *["inet", "inet", "ip", "ip6"].choose(rng).unwrap();
        let name = format!("pd_{family}_{ti}");
        let mut sets = Vec::new();
        let mut set_defs = Vec::new();
        for si in 0..rng.random_range(0..=3) {
            let kind = *[
                SetKind::Addr4,
                SetKind::Addr6,
                SetKind::Service,
                SetKind::Concat4,
                SetKind::Concat6,
                SetKind::Vmap,
            ]
            .choose(rng)
            .unwrap();
            if (family == "ip" && matches!(kind, SetKind::Addr6 | SetKind::Concat6))
                || (family == "ip6" && matches!(kind, SetKind::Addr4 | SetKind::Concat4))
            {
                continue;
            }
            let set_name = format!("s{si}");
            set_defs.push((set_name.clone(), set_body(rng, env, kind)));
            sets.push((set_name, kind));
        }
        let n_regular = rng.random_range(0..=3);
        let n_base = rng.random_range(1..=2);
        let regular_names: Vec<String> = (0..n_regular).map(|i| format!("c{i}")).collect();
        let mut chains = Vec::new();
        for bi in 0..n_base {
            let hook = match rng.random_range(0..20) {
                0..=1 if family == "inet" => Hook::Ingress,
                0..=13 => Hook::Input,
                _ => Hook::Prerouting,
            };
            let prio = match hook {
                Hook::Input => *[-150, -10, 0, 10, 50].choose(rng).unwrap(),
                Hook::Prerouting => *[-300, -150, -10, 0].choose(rng).unwrap(),
                Hook::Ingress => *[-10, 0].choose(rng).unwrap(),
            };
            let policy_drop = rng.random_bool(0.3);
            // Ingress chains call no regular chain: those may hold expressions (fib) that
            // the ingress hook refuses.
            let callable = if hook == Hook::Ingress {
                Vec::new()
            } else {
                regular_names.clone()
            };
            let ctx = NftCtx {
                env,
                family,
                sets: sets.clone(),
                callable,
                regular: false,
                hook: Some(hook),
            };
            let n = rng.random_range(1..=6).min(budget.max(1));
            budget -= n;
            let rules = (0..n).map(|_| nft_rule(rng, &ctx)).collect();
            let hook_name = match hook {
                Hook::Input => "in",
                Hook::Prerouting => "pre",
                Hook::Ingress => "ing",
            };
            chains.push(NftChain {
                name: format!("{hook_name}{bi}"),
                base: Some((hook, prio, policy_drop)),
                device: (hook == Hook::Ingress).then(|| env.iif.clone()),
                nat: false,
                rules,
            });
        }
        for (ri, rname) in regular_names.iter().enumerate() {
            let ctx = NftCtx {
                env,
                family,
                sets: sets.clone(),
                callable: regular_names[ri + 1..].to_vec(),
                regular: true,
                hook: None,
            };
            let n = rng.random_range(1..=5).min(budget.max(1));
            budget -= n;
            let rules = (0..n).map(|_| nft_rule(rng, &ctx)).collect();
            chains.push(NftChain {
                name: rname.clone(),
                base: None,
                device: None,
                nat: false,
                rules,
            });
        }
        if rng.random_bool(0.08) {
            chains.push(nft_nat_chain(rng, env, family));
        }
        // Regular chains are declared before the base chains that jump to them.
        chains.sort_by_key(|c| c.base.is_some());
        s.nft.push(NftTable {
            family,
            name,
            sets: set_defs,
            chains,
        });
    }
}

/// A `type nat hook prerouting` chain with a redirect or a DNAT to the host itself, so the
/// packet reaches another port than it was sent to.
fn nft_nat_chain(rng: &mut StdRng, env: &Env, family: &str) -> NftChain {
    let host = if family == "ip6" {
        format!("[{}]", env.host_v6)
    } else {
        env.host_v4.to_string()
    };
    let qual = if family == "inet" { " ip" } else { "" };
    let mut rules = Vec::new();
    for _ in 0..rng.random_range(1..=2) {
        let (matches, nft) = match rng.random_range(0..4) {
            0 => ("tcp dport 8081", "redirect to :8080".to_string()),
            1 => ("udp dport 161", "redirect to :53".to_string()),
            2 if family != "ip6" => (
                if family == "inet" {
                    "meta nfproto ipv4 tcp dport 9000"
                } else {
                    "tcp dport 9000"
                },
                format!("dnat{qual} to {host}:80"),
            ),
            _ => ("tcp dport 81", "counter".to_string()),
        };
        rules.push(Rule {
            matches: matches.to_string(),
            verdict: if nft == "counter" {
                Verdict::None
            } else {
                Verdict::Nat(nft, String::new())
            },
            counter: false,
            stmt: None,
            comment: None,
        });
    }
    NftChain {
        name: "nat0".into(),
        base: Some((Hook::Prerouting, -100, false)),
        device: None,
        nat: true,
        rules,
    }
}

fn port_list(rng: &mut StdRng, n: std::ops::RangeInclusive<usize>) -> Vec<u16> {
    let n = rng.random_range(n);
    let mut all: Vec<u16> = TCP_OPEN
        .iter()
        .chain(&TCP_CLOSED)
        .chain(&UDP_OPEN)
        .chain(&UDP_CLOSED)
        .copied()
        .collect();
    all.shuffle(rng);
    all.truncate(n);
    all.sort_unstable();
    all
}

fn any_port(rng: &mut StdRng) -> u16 {
    port_list(rng, 1..=1)[0]
}

fn join<T: ToString>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

fn set_body(rng: &mut StdRng, env: &Env, kind: SetKind) -> String {
    match kind {
        SetKind::Addr4 => {
            let mut elems = vec![env.v4(*[2u8, 3, 4].choose(rng).unwrap())];
            if rng.random_bool(0.5) {
                elems.push(format!("198.18.{}.0/31", env.subnet));
            }
            if rng.random_bool(0.3) {
                elems.push(env.other4());
            }
            elems.sort();
            elems.dedup();
            format!(
                "type ipv4_addr; flags interval; elements = {{ {} }}",
                elems.join(", ")
            )
        }
        SetKind::Addr6 => {
            let mut elems = vec![env.v6(*[2u8, 3, 4].choose(rng).unwrap())];
            if rng.random_bool(0.3) {
                elems.push(env.other6());
            }
            format!(
                "type ipv6_addr; flags interval; elements = {{ {} }}",
                elems.join(", ")
            )
        }
        SetKind::Service => {
            let ranged = rng.random_bool(0.4);
            let mut elems: Vec<String> = port_list(rng, 1..=3)
                .iter()
                .filter(|p| !ranged || !(8000..=8100).contains(*p))
                .map(ToString::to_string)
                .collect();
            if ranged {
                elems.push("8000-8100".into());
                format!(
                    "type inet_service; flags interval; elements = {{ {} }}",
                    elems.join(", ")
                )
            } else {
                format!("type inet_service; elements = {{ {} }}", elems.join(", "))
            }
        }
        SetKind::Concat4 | SetKind::Concat6 => {
            let v6 = kind == SetKind::Concat6;
            let n = rng.random_range(1..=3);
            let mut elems = Vec::new();
            for _ in 0..n {
                let last = *[2u8, 3, 4].choose(rng).unwrap();
                let a = if v6 { env.v6(last) } else { env.v4(last) };
                elems.push(format!("{a} . {}", any_port(rng)));
            }
            elems.sort();
            elems.dedup();
            let ty = if v6 { "ipv6_addr" } else { "ipv4_addr" };
            if rng.random_bool(0.3) {
                // Interval elements must not overlap.
                elems.retain(|e| {
                    let port: u16 = e
                        .rsplit(' ')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    !(5000..=5500).contains(&port)
                });
                let net = if v6 { env.net6() } else { env.net4() };
                elems.push(format!("{net} . 5000-5500"));
                format!(
                    "type {ty} . inet_service; flags interval; elements = {{ {} }}",
                    elems.join(", ")
                )
            } else {
                format!(
                    "type {ty} . inet_service; elements = {{ {} }}",
                    elems.join(", ")
                )
            }
        }
        SetKind::Vmap => {
            let ports = port_list(rng, 1..=3);
            let elems: Vec<String> = ports
                .iter()
                .map(|p| format!("{p} : {}", ["accept", "drop"].choose(rng).unwrap()))
                .collect();
            format!(
                "type inet_service : verdict; elements = {{ {} }}",
                elems.join(", ")
            )
        }
    }
}

fn nft_rule(rng: &mut StdRng, ctx: &NftCtx) -> Rule {
    let env = ctx.env;
    let mut fam = match ctx.family {
        "ip" => Fam::V4,
        "ip6" => Fam::V6,
        _ => Fam::Any,
    };
    let mut l4 = L4::Any;
    let mut parts: Vec<String> = Vec::new();
    let n_matches = *[0usize, 1, 1, 2, 2, 2, 3, 3].choose(rng).unwrap();
    let mut used = Vec::new();
    for _ in 0..n_matches {
        let cat = rng.random_range(0..12);
        if used.contains(&cat) {
            continue;
        }
        used.push(cat);
        match cat {
            // layer 4 protocol and ports
            0 | 1 => parts.push(nft_l4(rng, ctx, &mut l4)),
            // addresses
            2 => {
                if let Some(m) = nft_addr(rng, ctx, &mut fam) {
                    parts.push(m);
                }
            }
            3 => parts.push(
                [
                    "ct state new",
                    "ct state established,related",
                    "ct state != established",
                    "ct state invalid",
                    "ct state { new, untracked }",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
            ),
            4 => parts.push(match rng.random_range(0..7) {
                5 => format!("iifname \"{}\"", env.iif2),
                6 => format!("iifname != \"{}\"", env.iif2),
                0 => format!("iifname \"{}\"", env.iif),
                1 => format!("iifname != \"{}\"", env.iif),
                2 => "iifname \"lo\"".into(),
                3 => "iifname \"veth*\"".into(),
                _ => format!("iifname {{ \"lo\", \"{}\" }}", env.iif),
            }),
            5 => {
                // set lookups
                let usable: Vec<&(String, SetKind)> = ctx
                    .sets
                    .iter()
                    .filter(|(_, k)| *k != SetKind::Vmap)
                    .filter(|(_, k)| match k {
                        SetKind::Addr4 | SetKind::Concat4 => fam != Fam::V6,
                        SetKind::Addr6 | SetKind::Concat6 => fam != Fam::V4,
                        _ => true,
                    })
                    .collect();
                if let Some((name, kind)) = usable.choose(rng) {
                    let neg = if rng.random_bool(0.2) { "!= " } else { "" };
                    let proto = if matches!(l4, L4::Udp) { "udp" } else { "tcp" };
                    let m = match kind {
                        SetKind::Addr4 => {
                            fam = Fam::V4;
                            format!("ip saddr {neg}@{name}")
                        }
                        SetKind::Addr6 => {
                            fam = Fam::V6;
                            format!("ip6 saddr {neg}@{name}")
                        }
                        SetKind::Service if l4 == L4::Any || l4 == L4::Th => {
                            l4 = L4::Th;
                            format!("th dport {neg}@{name}")
                        }
                        SetKind::Service => format!("{proto} dport {neg}@{name}"),
                        SetKind::Concat4 | SetKind::Concat6 if l4 == L4::Th => continue,
                        SetKind::Concat4 => {
                            fam = Fam::V4;
                            if l4 == L4::Any {
                                l4 = L4::Tcp;
                            }
                            format!("ip saddr . {proto} dport @{name}")
                        }
                        SetKind::Concat6 => {
                            fam = Fam::V6;
                            if l4 == L4::Any {
                                l4 = L4::Tcp;
                            }
                            format!("ip6 saddr . {proto} dport @{name}")
                        }
                        SetKind::Vmap => unreachable!(),
                    };
                    parts.push(m);
                }
            }
            7 if l4 == L4::Any || l4 == L4::Tcp => {
                l4 = L4::Tcp;
                parts.push(
                    [
                        "tcp flags syn",
                        "tcp flags & (syn | ack) == syn",
                        "tcp flags & (syn | ack) == ack",
                        "tcp flags != syn",
                    ]
                    .choose(rng)
                    .unwrap()
                    .to_string(),
                );
            }
            8 if ctx.hook != Some(Hook::Ingress) => parts.push(
                [
                    "fib daddr type local",
                    "fib daddr type != local",
                    "fib daddr type { broadcast, multicast }",
                    "fib daddr type unicast",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
            ),
            // Things real rulesets use that depend on more than the rules: packet type,
            // reverse-path lookups, rate limits, length, conntrack status and mark.
            11 => {
                let mut options = vec![
                    "meta pkttype host",
                    "meta pkttype != host",
                    "limit rate 100000/second burst 100000 packets",
                    "meta length 0-1500",
                    "ct status dnat",
                    "ct mark 0x0",
                ];
                // fib is refused in ingress chains.
                if ctx.hook != Some(Hook::Ingress) {
                    options.push("fib saddr . iif oif missing");
                }
                parts.push(options.choose(rng).unwrap().to_string());
            }
            9 => parts.push(
                [
                    "meta mark 0x1",
                    "meta mark != 0x0",
                    "meta mark & 0x2 == 0x2",
                    "meta mark 0x0",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
            ),
            10 => parts.push(match rng.random_range(0..4) {
                3 => format!("iif \"{}\"", env.iif2),
                0 => format!("iif \"{}\"", env.iif),
                1 => format!("iif != \"{}\"", env.iif),
                _ => "iif \"lo\"".to_string(),
            }),
            _ => {
                if ctx.family == "inet" && fam == Fam::Any {
                    let (m, f) = *[
                        ("meta nfproto ipv4", Fam::V4),
                        ("meta nfproto ipv6", Fam::V6),
                    ]
                    .choose(rng)
                    .unwrap();
                    fam = f;
                    parts.push(m.to_string());
                }
            }
        }
    }
    let verdict = nft_verdict(rng, ctx, fam, &mut l4);
    let comment = rng
        .random_bool(0.15)
        .then(|| format!("rule {}", rng.random_range(0..1000)));
    // Non-terminal statements: marks (read by later `meta mark` matches), notrack (only in
    // a prerouting base chain: it makes `ct state` untracked if it runs before conntrack),
    // log.
    let stmt = match rng.random_range(0..100) {
        0..=5 => Some(format!("meta mark set 0x{}", rng.random_range(1..=3))),
        6..=9 if ctx.hook == Some(Hook::Prerouting) => Some("notrack".to_string()),
        10..=12 => Some("log prefix \"pd \"".to_string()),
        _ => None,
    };
    Rule {
        matches: parts.join(" "),
        verdict,
        counter: rng.random_bool(0.3),
        stmt,
        comment,
    }
}

fn nft_l4(rng: &mut StdRng, ctx: &NftCtx, l4: &mut L4) -> String {
    let _ = ctx;
    if *l4 == L4::Th {
        return format!("th dport {}", any_port(rng));
    }
    let proto = match *l4 {
        L4::Tcp => "tcp",
        L4::Udp => "udp",
        _ => {
            if rng.random_bool(0.75) {
                "tcp"
            } else {
                "udp"
            }
        }
    };
    let set_l4 = |l4: &mut L4| {
        *l4 = if proto == "tcp" { L4::Tcp } else { L4::Udp };
    };
    match rng.random_range(0..11) {
        10 => {
            set_l4(l4);
            format!("{proto} dport {{ 20-90, 5000-5500, 8080 }}")
        }
        0 => {
            set_l4(l4);
            format!("meta l4proto {proto}")
        }
        1 if *l4 == L4::Any => {
            *l4 = L4::Th;
            "meta l4proto { tcp, udp }".to_string()
        }
        2 if *l4 == L4::Any => {
            *l4 = L4::Udp;
            "meta l4proto != tcp".to_string()
        }
        3 => {
            set_l4(l4);
            format!("{proto} dport != {}", any_port(rng))
        }
        4 => {
            set_l4(l4);
            let ports = port_list(rng, 2..=4);
            format!("{proto} dport {{ {} }}", join(&ports, ", "))
        }
        5 => {
            set_l4(l4);
            let ranges = ["20-90", "400-9000", "8000-8100", "50-60", "1-1024"];
            format!("{proto} dport {}", ranges.choose(rng).unwrap())
        }
        6 if *l4 == L4::Any || *l4 == L4::Th => {
            *l4 = L4::Th;
            format!("meta l4proto {{ tcp, udp }} th dport {}", any_port(rng))
        }
        7 => {
            set_l4(l4);
            format!("{proto} sport 1024-65535")
        }
        8 => {
            set_l4(l4);
            let ports = port_list(rng, 2..=2);
            format!("{proto} dport != {{ {} }}", join(&ports, ", "))
        }
        _ => {
            set_l4(l4);
            format!("{proto} dport {}", any_port(rng))
        }
    }
}

fn nft_addr(rng: &mut StdRng, ctx: &NftCtx, fam: &mut Fam) -> Option<String> {
    let env = ctx.env;
    let v6 = match *fam {
        Fam::V4 => false,
        Fam::V6 => true,
        Fam::Any => rng.random_bool(0.4),
    };
    *fam = if v6 { Fam::V6 } else { Fam::V4 };
    let second = rng.random_bool(0.3);
    let (kw, one, net, other, host) = if v6 {
        (
            "ip6",
            env.v6(*[2u8, 3, 4].choose(rng).unwrap()),
            env.net6(),
            env.other6(),
            if second { env.host2_v6 } else { env.host_v6 }.to_string(),
        )
    } else {
        (
            "ip",
            env.v4(*[2u8, 3, 4].choose(rng).unwrap()),
            env.net4(),
            env.other4(),
            if second { env.host2_v4 } else { env.host_v4 }.to_string(),
        )
    };
    Some(match rng.random_range(0..11) {
        8 if v6 => format!("ip6 saddr & ffff:ffff:ffff:ffff:: == {net}").replace("/64", ""),
        8 => format!("ip saddr & 255.255.255.252 == 198.18.{}.0", env.subnet),
        9 => format!("{kw} daddr != {host}"),
        10 => format!("meta protocol {kw}"),
        0 => format!("{kw} saddr {net}"),
        1 => format!("{kw} saddr != {one}"),
        2 => format!("{kw} saddr {one}"),
        3 => format!("{kw} saddr {other}"),
        4 => format!("{kw} daddr {host}"),
        5 => {
            let (a, b) = if v6 {
                (env.v6(3), env.v6(4))
            } else {
                (env.v4(3), env.v4(4))
            };
            format!("{kw} saddr {a}-{b}")
        }
        6 => {
            let (a, b) = if v6 {
                (env.v6(2), env.v6(4))
            } else {
                (env.v4(2), env.v4(4))
            };
            format!("{kw} saddr {{ {a}, {b} }}")
        }
        _ => format!("{kw} saddr != {{ {one}, {other} }}"),
    })
}

fn nft_reject(rng: &mut StdRng, family: &str, fam: Fam, l4: L4) -> Option<String> {
    let mut options: Vec<String> = vec![String::new()];
    if l4 == L4::Tcp {
        options.push("tcp reset".into());
        options.push("tcp reset".into());
    }
    let icmp = [
        "port-unreachable",
        "admin-prohibited",
        "host-unreachable",
        "net-unreachable",
        "prot-unreachable",
        "host-prohibited",
        "net-prohibited",
    ];
    let icmpv6 = [
        "port-unreachable",
        "admin-prohibited",
        "no-route",
        "addr-unreachable",
        "policy-fail",
        "reject-route",
    ];
    let icmpx = [
        "port-unreachable",
        "admin-prohibited",
        "host-unreachable",
        "no-route",
    ];
    let v4ok = family != "ip6" && fam != Fam::V6;
    let v6ok = family != "ip" && fam != Fam::V4;
    if v4ok {
        options.push(format!("icmp type {}", icmp.choose(rng).unwrap()));
    }
    if v6ok {
        options.push(format!("icmpv6 type {}", icmpv6.choose(rng).unwrap()));
    }
    if family == "inet" {
        options.push(format!("icmpx type {}", icmpx.choose(rng).unwrap()));
        options.push(format!("icmpx type {}", icmpx.choose(rng).unwrap()));
    }
    options.choose(rng).cloned()
}

fn nft_verdict(rng: &mut StdRng, ctx: &NftCtx, fam: Fam, l4: &mut L4) -> Verdict {
    let roll = rng.random_range(0..100);
    match roll {
        0..=34 => Verdict::Accept,
        35..=48 => Verdict::Drop,
        49..=64 => nft_reject(rng, ctx.family, fam, *l4)
            .map(Verdict::Reject)
            .unwrap_or(Verdict::Drop),
        65..=79 if !ctx.callable.is_empty() => {
            let target = ctx.callable.choose(rng).unwrap().clone();
            if rng.random_bool(0.7) {
                Verdict::Jump(target)
            } else {
                Verdict::Goto(target)
            }
        }
        80..=87 if ctx.regular => Verdict::Return,
        // In a base chain, return applies the chain's policy.
        80..=81 => Verdict::Return,
        88..=95 => {
            // Verdict maps: named (accept/drop) or anonymous (may jump).
            let proto = match *l4 {
                L4::Udp => "udp",
                L4::Tcp => "tcp",
                L4::Th => "th",
                L4::Any => {
                    if rng.random_bool(0.8) {
                        "tcp"
                    } else {
                        "udp"
                    }
                }
            };
            if proto != "th" {
                *l4 = if proto == "tcp" { L4::Tcp } else { L4::Udp };
            }
            let named: Vec<&String> = ctx
                .sets
                .iter()
                .filter(|(_, k)| *k == SetKind::Vmap)
                .map(|(n, _)| n)
                .collect();
            if let (true, Some(name)) = (rng.random_bool(0.5), named.choose(rng)) {
                Verdict::Vmap(format!("{proto} dport vmap @{name}"))
            } else {
                let ports = port_list(rng, 1..=3);
                let elems: Vec<String> = ports
                    .iter()
                    .map(|p| {
                        let v = match (rng.random_range(0..4), ctx.callable.choose(rng)) {
                            (0, Some(c)) => format!("jump {c}"),
                            (1, _) => "drop".to_string(),
                            _ => "accept".to_string(),
                        };
                        format!("{p} : {v}")
                    })
                    .collect();
                Verdict::Vmap(format!("{proto} dport vmap {{ {} }}", elems.join(", ")))
            }
        }
        _ => Verdict::None,
    }
}

// ---------------------------------------------------------------------------------------------
// iptables

fn add_ipt(rng: &mut StdRng, env: &Env, s: &mut Scenario, backend: IptBackend) {
    let families: Vec<bool> = match rng.random_range(0..4) {
        0 => vec![false],
        1 => vec![true],
        _ => vec![false, true],
    };
    for v6 in families {
        let mut tables = Vec::new();
        // filter is always there; raw and mangle sometimes.
        if rng.random_bool(0.25) {
            tables.push(ipt_table(rng, env, s, backend, v6, "raw"));
        }
        if rng.random_bool(0.3) {
            tables.push(ipt_table(rng, env, s, backend, v6, "mangle"));
        }
        if rng.random_bool(0.06) {
            let rules = vec![Rule {
                matches: "-p tcp -m tcp --dport 8081".into(),
                verdict: Verdict::Nat(String::new(), "REDIRECT --to-ports 8080".into()),
                counter: false,
                stmt: None,
                comment: Some("pd redirect".into()),
            }];
            tables.push(IptTable {
                name: "nat",
                chains: vec![IptChain {
                    name: "PREROUTING".into(),
                    policy: Some(false),
                    rules,
                }],
            });
        }
        tables.push(ipt_table(rng, env, s, backend, v6, "filter"));
        s.ipt.push(IptRuleset {
            backend,
            v6,
            tables,
        });
    }
}

fn ipt_table(
    rng: &mut StdRng,
    env: &Env,
    s: &mut Scenario,
    backend: IptBackend,
    v6: bool,
    table: &'static str,
) -> IptTable {
    let builtin: &[&str] = match table {
        "raw" => &["PREROUTING"],
        "mangle" => &["PREROUTING", "INPUT"],
        _ => &["INPUT"],
    };
    let n_user = rng.random_range(0..=3);
    let user: Vec<String> = (0..n_user).map(|i| format!("PD-{table}-{i}")).collect();
    let mut chains = Vec::new();
    for b in builtin {
        // Only filter's policy may be DROP (as firewalls do); raw/mangle stay ACCEPT.
        let drop = table == "filter" && rng.random_bool(0.3);
        let n = rng.random_range(1..=7);
        let rules = (0..n)
            .map(|_| ipt_rule(rng, env, s, backend, v6, table, &user, false))
            .collect();
        chains.push(IptChain {
            name: b.to_string(),
            policy: Some(drop),
            rules,
        });
    }
    for (i, name) in user.iter().enumerate() {
        let n = rng.random_range(1..=5);
        let rules = (0..n)
            .map(|_| ipt_rule(rng, env, s, backend, v6, table, &user[i + 1..], true))
            .collect();
        chains.push(IptChain {
            name: name.clone(),
            policy: None,
            rules,
        });
    }
    IptTable {
        name: table,
        chains,
    }
}

#[allow(clippy::too_many_arguments)]
fn ipt_rule(
    rng: &mut StdRng,
    env: &Env,
    s: &mut Scenario,
    backend: IptBackend,
    v6: bool,
    table: &str,
    callable: &[String],
    user_chain: bool,
) -> Rule {
    let mut parts: Vec<String> = Vec::new();
    let mut l4 = L4::Any;
    let n = *[0usize, 1, 1, 2, 2, 2, 3, 3].choose(rng).unwrap();
    let mut used = Vec::new();
    let second = rng.random_bool(0.3);
    let (one, net, other, host) = if v6 {
        (
            env.v6(*[2u8, 3, 4].choose(rng).unwrap()),
            env.net6(),
            env.other6(),
            if second { env.host2_v6 } else { env.host_v6 }.to_string(),
        )
    } else {
        (
            env.v4(*[2u8, 3, 4].choose(rng).unwrap()),
            env.net4(),
            env.other4(),
            if second { env.host2_v4 } else { env.host_v4 }.to_string(),
        )
    };
    let plen = if v6 { 128 } else { 32 };
    for _ in 0..n {
        let cat = rng.random_range(0..10);
        if used.contains(&cat) {
            continue;
        }
        used.push(cat);
        match cat {
            7 => parts.push(
                [
                    "-m addrtype --dst-type LOCAL",
                    "-m addrtype ! --dst-type LOCAL",
                    "-m addrtype --dst-type UNICAST",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
            ),
            8 => parts.push(
                [
                    "-m mark --mark 0x1",
                    "-m mark ! --mark 0x0",
                    "-m mark --mark 0x2/0x2",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
            ),
            9 => {
                let mut options = vec![
                    "-m pkttype --pkt-type unicast",
                    "-m pkttype ! --pkt-type unicast",
                    "-m limit --limit 10000/sec --limit-burst 10000",
                    "-m length --length 0:1500",
                    "-m conntrack --ctstatus CONFIRMED",
                    "-m conntrack --ctstate DNAT",
                    "-m connmark --mark 0x0",
                ];
                // rpfilter is only valid in raw and mangle PREROUTING.
                if table == "raw" {
                    options.extend(["-m rpfilter", "-m rpfilter --invert"]);
                }
                parts.push(options.choose(rng).unwrap().to_string());
            }
            0 | 1 => {
                if l4 != L4::Any {
                    continue;
                }
                let proto = if rng.random_bool(0.75) { "tcp" } else { "udp" };
                l4 = if proto == "tcp" { L4::Tcp } else { L4::Udp };
                let ports = port_list(rng, 2..=4);
                parts.push(match rng.random_range(0..10) {
                    0 => format!("-p {proto}"),
                    1 => format!("-p {proto} -m {proto} ! --dport {}", any_port(rng)),
                    2 => format!("-p {proto} -m multiport --dports {}", join(&ports, ",")),
                    3 => format!("-p {proto} -m multiport ! --dports {}", join(&ports, ",")),
                    4 => format!("-p {proto} -m {proto} --dport 8000:8100"),
                    5 => format!("-p {proto} -m {proto} --sport 1024:65535"),
                    6 if proto == "tcp" => [
                        "-p tcp --syn",
                        "-p tcp ! --syn",
                        "-p tcp -m tcp --tcp-flags SYN,ACK SYN",
                        "-p tcp -m tcp --tcp-flags SYN,ACK ACK",
                    ]
                    .choose(rng)
                    .unwrap()
                    .to_string(),
                    6 => format!(
                        "-p {proto} -m multiport --dports {},8000:8100",
                        any_port(rng)
                    ),
                    7 => format!("-p {proto} -m multiport --ports {}", join(&ports, ",")),
                    8 => format!("-p {proto} -m {proto} --dport 1024:"),
                    _ => format!("-p {proto} -m {proto} --dport {}", any_port(rng)),
                });
            }
            2 => parts.push(match rng.random_range(0..7) {
                6 => format!("-m iprange --dst-range {host}-{host}"),
                0 => format!("-s {net}"),
                1 => format!("! -s {one}/{plen}"),
                2 => format!("-s {one}/{plen}"),
                3 => format!("-s {other}"),
                4 => format!("-d {host}/{plen}"),
                _ => {
                    let (a, b) = if v6 {
                        (env.v6(3), env.v6(4))
                    } else {
                        (env.v4(3), env.v4(4))
                    };
                    let neg = if rng.random_bool(0.3) { "! " } else { "" };
                    format!("-m iprange {neg}--src-range {a}-{b}")
                }
            }),
            3 => parts.push(
                [
                    "-m conntrack --ctstate NEW",
                    "-m conntrack --ctstate RELATED,ESTABLISHED",
                    "-m conntrack ! --ctstate ESTABLISHED",
                    "-m conntrack --ctstate INVALID",
                    "-m state --state NEW",
                    "-m state --state INVALID",
                    "-m conntrack --ctstate UNTRACKED",
                ]
                .choose(rng)
                .unwrap()
                .to_string(),
            ),
            4 => parts.push(match rng.random_range(0..5) {
                0 => format!("-i {}", env.iif),
                1 => format!("! -i {}", env.iif),
                4 => format!("-i {}", env.iif2),
                2 => "-i lo".into(),
                _ => "-i veth+".into(),
            }),
            5 => {
                // ipset match: make (or reuse) a set of the right family.
                let set = ipset_for(rng, env, s, v6);
                let neg = if rng.random_bool(0.2) { "! " } else { "" };
                let dir = if set.1 { "src,dst" } else { "src" };
                if set.1 && l4 == L4::Any {
                    // hash:ip,port needs a protocol to match the port part.
                    parts.push("-p tcp".into());
                    l4 = L4::Tcp;
                }
                parts.push(format!("-m set {neg}--match-set {} {dir}", set.0));
            }
            _ => {}
        }
    }
    let roll = rng.random_range(0..100);
    let verdict = match roll {
        0..=34 => Verdict::Accept,
        35..=49 => Verdict::Drop,
        50..=69 if table == "filter" => {
            let v4 = [
                "icmp-port-unreachable",
                "icmp-admin-prohibited",
                "icmp-host-prohibited",
                "icmp-host-unreachable",
                "icmp-net-unreachable",
                "icmp-net-prohibited",
                "icmp-proto-unreachable",
            ];
            let v6s = [
                "icmp6-port-unreachable",
                "icmp6-adm-prohibited",
                "icmp6-no-route",
                "icmp6-addr-unreachable",
                "icmp6-policy-fail",
                "icmp6-reject-route",
            ];
            let mut options = vec![String::new()];
            options.push(if v6 { v6s[0] } else { v4[0] }.to_string());
            if v6 {
                options.push(v6s.choose(rng).unwrap().to_string());
            } else {
                options.push(v4.choose(rng).unwrap().to_string());
                options.push(v4.choose(rng).unwrap().to_string());
            }
            if l4 == L4::Tcp {
                options.push("tcp-reset".into());
                options.push("tcp-reset".into());
            }
            Verdict::Reject(options.choose(rng).unwrap().clone())
        }
        70..=84 if !callable.is_empty() => {
            let target = callable.choose(rng).unwrap().clone();
            // iptables-nft does not support -g to a chain in every version; keep -g rarer.
            if rng.random_bool(0.8) {
                Verdict::Jump(target)
            } else {
                Verdict::Goto(target)
            }
        }
        85..=92 if user_chain => Verdict::Return,
        // In a builtin chain, RETURN applies the chain's policy.
        85..=86 => Verdict::Return,
        93..=95 if table == "mangle" => {
            Verdict::Target(format!("MARK --set-mark 0x{}", rng.random_range(1..=3)))
        }
        93..=95 if table == "raw" => Verdict::Target("CT --notrack".into()),
        96..=97 => Verdict::Target("LOG --log-prefix \"pd \"".into()),
        _ => Verdict::None,
    };
    let _ = backend;
    let comment = rng
        .random_bool(0.15)
        .then(|| format!("pd rule {}", rng.random_range(0..1000)));
    Rule {
        matches: parts.join(" "),
        verdict,
        counter: false,
        stmt: None,
        comment,
    }
}

/// An ipset of the given family, made on first use: (name, is hash:ip,port).
fn ipset_for(rng: &mut StdRng, env: &Env, s: &mut Scenario, v6: bool) -> (String, bool) {
    let existing: Vec<&IpSet> = s.ipsets.iter().filter(|x| x.v6 == v6).collect();
    if let (true, Some(set)) = (rng.random_bool(0.5), existing.choose(rng)) {
        return (set.name.clone(), set.ty == "hash:ip,port");
    }
    let name = format!("pdset{}", s.ipsets.len());
    let last = |rng: &mut StdRng| *[2u8, 3, 4].choose(rng).unwrap();
    let addr = |rng: &mut StdRng| {
        if v6 {
            env.v6(last(rng))
        } else {
            env.v4(last(rng))
        }
    };
    let (ty, members) = match rng.random_range(0..3) {
        0 => {
            let mut m = vec![addr(rng), addr(rng)];
            m.sort();
            m.dedup();
            ("hash:ip", m)
        }
        1 => {
            let m = if v6 {
                vec![env.net6(), env.other6()]
            } else {
                vec![format!("198.18.{}.0/30", env.subnet), env.other4()]
            };
            ("hash:net", m)
        }
        _ => {
            let mut m = vec![
                format!("{},tcp:{}", addr(rng), any_port(rng)),
                format!("{},tcp:{}", addr(rng), any_port(rng)),
            ];
            m.sort();
            m.dedup();
            ("hash:ip,port", m)
        }
    };
    s.ipsets.push(IpSet {
        name: name.clone(),
        ty: ty.to_string(),
        v6,
        members,
    });
    (name, ty == "hash:ip,port")
}

// ---------------------------------------------------------------------------------------------
// Priority ties

/// A hook registration: (hook, priority, sees IPv4, sees IPv6).
type Slot = (Hook, i32, bool, bool);

fn nft_slots(t: &NftTable) -> Vec<Slot> {
    let (v4, v6) = match t.family {
        "ip" => (true, false),
        "ip6" => (false, true),
        _ => (true, true),
    };
    t.chains
        .iter()
        .filter_map(|c| c.base.map(|(h, p, _)| (h, p, v4, v6)))
        .collect()
}

fn ipt_slots(r: &IptRuleset, t: &IptTable) -> Vec<Slot> {
    let (v4, v6) = (!r.v6, r.v6);
    let prio = match t.name {
        "raw" => -300,
        "mangle" => -150,
        "nat" => -100,
        _ => 0,
    };
    t.chains
        .iter()
        .filter(|c| c.policy.is_some())
        .map(|c| {
            let hook = if c.name == "PREROUTING" {
                Hook::Prerouting
            } else {
                Hook::Input
            };
            let prio = if t.name == "nat" && hook == Hook::Input {
                100
            } else {
                prio
            };
            (hook, prio, v4, v6)
        })
        .collect()
}

fn clash(a: &[Slot], b: &[Slot]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| x.0 == y.0 && x.1 == y.1 && ((x.2 && y.2) || (x.3 && y.3)))
    })
}

/// In a unit that shares its slot: rejects become drops, and statements whose effect a
/// later chain could see (marks, notrack) go, so the slot's order cannot matter.
fn rejects_to_drops(rules: &mut [Rule]) {
    for r in rules {
        if matches!(r.verdict, Verdict::Reject(_)) {
            r.verdict = Verdict::Drop;
        }
        if matches!(&r.verdict, Verdict::Target(t) if !t.starts_with("LOG")) {
            r.verdict = Verdict::None;
        }
        if r.stmt.as_deref().is_some_and(|st| !st.starts_with("log")) {
            r.stmt = None;
        }
        if matches!(r.verdict, Verdict::Nat(..)) {
            r.verdict = Verdict::None;
        }
    }
}

/// The units (`('n', table, 0)`: nft tables, `('i', ruleset, table)`: iptables tables) that
/// share a hook slot with another unit or within themselves.
fn tied_units(s: &Scenario) -> Vec<(char, usize, usize)> {
    // Units: ('n', table index, 0) or ('i', ruleset index, table index).
    let mut units: Vec<((char, usize, usize), Vec<Slot>)> = Vec::new();
    for (i, t) in s.nft.iter().enumerate() {
        units.push((('n', i, 0), nft_slots(t)));
    }
    for (i, r) in s.ipt.iter().enumerate() {
        for (j, t) in r.tables.iter().enumerate() {
            units.push((('i', i, j), ipt_slots(r, t)));
        }
    }
    let mut tied = Vec::new();
    for a in 0..units.len() {
        // Two base chains of one nft table on the same slot are a tie as well.
        let own = &units[a].1;
        let self_tie = own
            .iter()
            .enumerate()
            .any(|(i, x)| own[i + 1..].contains(x));
        let other_tie = (0..units.len()).any(|b| b != a && clash(&units[a].1, &units[b].1));
        if self_tie || other_tie {
            tied.push(units[a].0);
        }
    }
    tied
}

/// Where two units (an nft table, an iptables table) register on the same hook and priority
/// for a common family, replaces their rejects with drops and removes their mark and notrack
/// statements.
pub fn break_priority_ties(s: &mut Scenario) {
    let tied = tied_units(s);
    for (kind, i, j) in tied {
        if kind == 'n' {
            for c in &mut s.nft[i].chains {
                rejects_to_drops(&mut c.rules);
            }
        } else {
            for c in &mut s.ipt[i].tables[j].chains {
                rejects_to_drops(&mut c.rules);
            }
        }
    }
}

/// Rules whose effect depends on the order of tied units (rejects, marks, notrack, NAT in a
/// tied unit): zero after [`break_priority_ties`].
pub fn order_dependent_rules(s: &Scenario) -> usize {
    let dependent = |r: &Rule| {
        matches!(r.verdict, Verdict::Reject(_) | Verdict::Nat(..))
            || matches!(&r.verdict, Verdict::Target(t) if !t.starts_with("LOG"))
            || r.stmt.as_deref().is_some_and(|st| !st.starts_with("log"))
    };
    tied_units(s)
        .into_iter()
        .map(|(kind, i, j)| {
            let chains = if kind == 'n' {
                &s.nft[i].chains
            } else {
                return s.ipt[i].tables[j]
                    .chains
                    .iter()
                    .flat_map(|c| &c.rules)
                    .filter(|r| dependent(r))
                    .count();
            };
            chains
                .iter()
                .flat_map(|c| &c.rules)
                .filter(|r| dependent(r))
                .count()
        })
        .sum()
}
