//! Printer of the model back to `iptables-save` text (used by the parse → print → parse
//! round-trip property test, and to show rules the way iptables users read them).

use crate::backend::iptables::quote;
use crate::backend::names;
use crate::model::{Action, Elem, Family, Field, Match, Policy, Rule, Ruleset, Statement, Values};

fn fmt_addr(v: u128, v6: bool) -> String {
    if v6 {
        std::net::Ipv6Addr::from(v).to_string()
    } else {
        std::net::Ipv4Addr::from(v as u32).to_string()
    }
}

/// Prefix length if `[a, b]` is exactly a CIDR block.
fn as_prefix(a: u128, b: u128, bits: u32) -> Option<u32> {
    let span = b.wrapping_sub(a);
    if b < a {
        return None;
    }
    if span == u128::MAX {
        return (bits == 128).then_some(0);
    }
    let size = span + 1;
    if !size.is_power_of_two() || a & span != 0 {
        return None;
    }
    Some(bits - size.trailing_zeros())
}

fn fmt_ports(e: &[Vec<Elem>]) -> Option<String> {
    let v: Option<Vec<String>> = e
        .iter()
        .map(|x| match x.as_slice() {
            [Elem::Range(a, b)] if a == b => Some(a.to_string()),
            [Elem::Range(a, b)] => Some(format!("{a}:{b}")),
            _ => None,
        })
        .collect();
    v.map(|v| v.join(","))
}

fn print_match(m: &Match, v6: bool, out: &mut Vec<String>) {
    match m {
        Match::Unmodelled { text, .. }
        | Match::Assumed { text, .. }
        | Match::Chance { text }
        | Match::Absent { text, .. } => out.push(text.clone()),
        Match::Cmp {
            key,
            mask,
            negated,
            values,
        } => {
            let Some(&f) = key.first() else { return };
            let printed = match values {
                Values::Inline(entries) => Cmp {
                    f,
                    mask: *mask,
                    negated: *negated,
                    entries,
                    v6,
                }
                .print(),
                Values::Ipset(n) => Some(match_set(key, *negated, n)),
                Values::Named(n) => Some(format!("-m unknown --named-set {}", quote(n))),
            };
            out.extend(printed);
        }
    }
}

/// `-m set --match-set NAME src,dst`.
fn match_set(key: &[Field], negated: bool, name: &str) -> String {
    let bang = if negated { "! " } else { "" };
    let dirs: Vec<&str> = key
        .iter()
        .filter(|f| **f != Field::L4Proto)
        .map(|f| match f {
            Field::Saddr4 | Field::Saddr6 | Field::Sport => "src",
            _ => "dst",
        })
        .collect();
    format!(
        "-m set {bang}--match-set {} {}",
        quote(name),
        dirs.join(",")
    )
}

/// One comparison with inline values, printed as the iptables option it came from.
struct Cmp<'e> {
    f: Field,
    mask: Option<u128>,
    negated: bool,
    entries: &'e [Vec<Elem>],
    v6: bool,
}

impl Cmp<'_> {
    fn bang(&self) -> &'static str {
        if self.negated { "! " } else { "" }
    }

    /// The one value, when there is exactly one.
    fn single(&self) -> Option<u128> {
        match self.entries {
            [x] if x.len() == 1 => match &x[0] {
                Elem::Range(a, b) if a == b => Some(*a),
                _ => None,
            },
            _ => None,
        }
    }

    /// The option text; `None` when iptables has no way to say it.
    fn print(&self) -> Option<String> {
        let (f, bang) = (self.f, self.bang());
        let ports = || fmt_ports(self.entries).unwrap_or_default();
        Some(match f {
            Field::L4Proto => match self.single() {
                Some(n) => format!("{bang}-p {}", names::proto_name(n as u8)),
                None if self.entries.is_empty() && !self.negated => "! -p all".to_string(),
                None => return None,
            },
            Field::Saddr4 | Field::Saddr6 | Field::Daddr4 | Field::Daddr6 => return self.addr(),
            Field::Iifname | Field::Oifname => return self.iface(),
            Field::TcpDport | Field::TcpSport | Field::UdpDport | Field::UdpSport => {
                let m = if matches!(f, Field::TcpDport | Field::TcpSport) {
                    "tcp"
                } else {
                    "udp"
                };
                let o = if matches!(f, Field::TcpDport | Field::UdpDport) {
                    "--dport"
                } else {
                    "--sport"
                };
                format!("-m {m} {bang}{o} {}", ports())
            }
            Field::Dport | Field::Sport => {
                let o = if f == Field::Dport {
                    "--dports"
                } else {
                    "--sports"
                };
                format!("-m multiport {bang}{o} {}", ports())
            }
            Field::CtState => {
                let n = self.names(names::ct_state_name);
                format!("-m conntrack {bang}--ctstate {n}")
            }
            Field::DaddrType | Field::DaddrTypeXt => {
                let n = self.names(|a| Some(names::addr_type_name(a)));
                format!("-m addrtype {bang}--dst-type {n}")
            }
            Field::SaddrType => {
                let n = self.names(|a| Some(names::addr_type_name(a)));
                format!("-m addrtype {bang}--src-type {n}")
            }
            Field::TcpFlags => format!(
                "-m tcp {bang}--tcp-flags {} {}",
                names::tcp_flags_names(self.mask.unwrap_or(0xff)),
                names::tcp_flags_names(self.single().unwrap_or(0))
            ),
            Field::CtMark => self.mark("connmark"),
            Field::Mark => self.mark("mark"),
            Field::PktType => {
                let n = self.single()?;
                format!("-m pkttype {bang}--pkt-type {}", names::pkt_type_name(n))
            }
            Field::CtStatus => self.ct_status(),
            Field::RpfStrict | Field::RpfLoose => {
                // Stored as "check passes == 1"; `--invert` is the negation.
                let loose = if f == Field::RpfLoose { " --loose" } else { "" };
                let invert = if self.negated { " --invert" } else { "" };
                format!("-m rpfilter{loose}{invert}")
            }
            Field::CtProto => format!("-m conntrack {bang}--ctproto {}", self.single()?),
            Field::CtOrigSport | Field::CtOrigDport => {
                let o = if f == Field::CtOrigSport {
                    "--ctorigsrcport"
                } else {
                    "--ctorigdstport"
                };
                format!("-m conntrack {bang}{o} {}", ports())
            }
            Field::NfProto | Field::EtherType => return None,
        })
    }

    /// The values' names, comma-separated (values without a name are left out).
    fn names(&self, name: impl Fn(u128) -> Option<&'static str>) -> String {
        let n: Vec<&str> = self
            .entries
            .iter()
            .filter_map(|x| match x.as_slice() {
                [Elem::Range(a, _)] => name(*a),
                _ => None,
            })
            .collect();
        n.join(",")
    }

    /// `-s`/`-d` with prefixes, or `-m iprange` for one range that is no prefix.
    fn addr(&self) -> Option<String> {
        let (bang, v6) = (self.bang(), self.v6);
        let src = matches!(self.f, Field::Saddr4 | Field::Saddr6);
        let bits = if v6 { 128 } else { 32 };
        let cidrs: Option<Vec<String>> = self
            .entries
            .iter()
            .map(|x| match x.as_slice() {
                [Elem::Range(a, b)] => {
                    as_prefix(*a, *b, bits).map(|l| format!("{}/{l}", fmt_addr(*a, v6)))
                }
                _ => None,
            })
            .collect();
        match (cidrs, self.entries) {
            (Some(c), _) if !c.is_empty() => Some(format!(
                "{bang}{} {}",
                if src { "-s" } else { "-d" },
                c.join(",")
            )),
            (_, [x]) => match x.as_slice() {
                [Elem::Range(a, b)] => Some(format!(
                    "-m iprange {bang}{} {}-{}",
                    if src { "--src-range" } else { "--dst-range" },
                    fmt_addr(*a, v6),
                    fmt_addr(*b, v6)
                )),
                _ => None,
            },
            _ => None,
        }
    }

    /// `-i` / `-o` with an optional `+` wildcard.
    fn iface(&self) -> Option<String> {
        let [x] = self.entries else { return None };
        let [Elem::Iface { name, wildcard }] = x.as_slice() else {
            return None;
        };
        let o = if self.f == Field::Oifname { "o" } else { "i" };
        let plus = if *wildcard { "+" } else { "" };
        Some(format!("{}-{o} {name}{plus}", self.bang()))
    }

    /// `-m mark|connmark --mark V[/M]`.
    fn mark(&self, module: &str) -> String {
        let v = self.single().unwrap_or(0);
        let bang = self.bang();
        match self.mask {
            Some(m) => format!("-m {module} {bang}--mark {v:#x}/{m:#x}"),
            None => format!("-m {module} {bang}--mark {v:#x}"),
        }
    }

    /// `-m conntrack --ctstatus`: stored as a bit test, `--ctstatus` is `!= 0` and
    /// `! --ctstatus` is `== 0`.
    fn ct_status(&self) -> String {
        let m = self.mask.unwrap_or(0);
        let n: Vec<&str> = [
            (1, "EXPECTED"),
            (2, "SEEN_REPLY"),
            (4, "ASSURED"),
            (8, "CONFIRMED"),
        ]
        .iter()
        .filter(|(b, _)| m & b != 0)
        .map(|(_, n)| *n)
        .collect();
        let names = if n.is_empty() {
            "NONE".to_string()
        } else {
            n.join(",")
        };
        let bang = if self.negated { "" } else { "! " };
        format!("-m conntrack {bang}--ctstatus {names}")
    }
}

fn print_rule(chain: &str, r: &Rule, v6: bool) -> String {
    let mut parts = vec![format!("-A {chain}")];
    for m in &r.matches {
        print_match(m, v6, &mut parts);
    }
    if let Some(c) = &r.comment {
        parts.push(format!("-m comment --comment {}", quote_always(c)));
    }
    for s in &r.statements {
        match s {
            Statement::SetCtMark { value, mask } => {
                parts.push(format!("-j CONNMARK --set-xmark {value:#x}/{mask:#x}"))
            }
            Statement::SaveMark { mask } => parts.push(format!(
                "-j CONNMARK --save-mark --nfmask {mask:#x} --ctmask {mask:#x}"
            )),
            Statement::RestoreMark { mask } => parts.push(format!(
                "-j CONNMARK --restore-mark --nfmask {mask:#x} --ctmask {mask:#x}"
            )),
            Statement::Log(t)
            | Statement::Other(t)
            | Statement::MarkUnknown(t)
            | Statement::CtMarkUnknown(t) => parts.push(t.clone()),
            Statement::SetMark { value, mask } => {
                parts.push(format!("-j MARK --set-xmark {value:#x}/{mask:#x}"))
            }
            Statement::Notrack => parts.push("-j CT --notrack".into()),
            Statement::Counter => {}
        }
    }
    match &r.action {
        Action::Accept => parts.push("-j ACCEPT".into()),
        Action::Drop => parts.push("-j DROP".into()),
        Action::Return => parts.push("-j RETURN".into()),
        Action::Reject(k) => parts.push(format!(
            "-j REJECT --reject-with {}",
            quote(&names::reject_with_name(k, v6))
        )),
        Action::Jump(c) => parts.push(format!("-j {c}")),
        Action::Goto(c) => parts.push(format!("-g {c}")),
        Action::Redirect(Some(p)) => parts.push(format!("-j REDIRECT --to-ports {p}")),
        Action::Redirect(None) => parts.push("-j REDIRECT".into()),
        Action::Dnat(to) => parts.extend(nat_target("DNAT", "--to-destination", to)),
        Action::Snat(to) => parts.extend(nat_target("SNAT", "--to-source", to)),
        Action::Masquerade => parts.push("-j MASQUERADE".into()),
        Action::Continue
        | Action::Unmodelled(_)
        | Action::Vmap { .. }
        | Action::NumgenVmap { .. } => {}
    }
    parts.join(" ")
}

fn quote_always(s: &str) -> String {
    let q = quote(s);
    if q.starts_with('"') {
        q
    } else {
        format!("\"{s}\"")
    }
}

/// Print a ruleset as `iptables-save` text (tables of family ip or ip6 only). Parsing the
/// result gives back the same model (up to rule text).
pub fn print_iptables_save(rs: &Ruleset) -> String {
    let mut out = String::new();
    for t in rs
        .tables
        .iter()
        .filter(|t| matches!(t.family, Family::Ip | Family::Ip6))
    {
        let v6 = t.family == Family::Ip6;
        out.push_str(&format!("*{}\n", t.name));
        for c in &t.chains {
            let pol = match &c.base {
                Some(b) if b.policy == Policy::Drop => "DROP",
                Some(_) => "ACCEPT",
                None => "-",
            };
            out.push_str(&format!(":{} {pol} [0:0]\n", c.name));
        }
        for c in &t.chains {
            for r in &c.rules {
                out.push_str(&print_rule(&c.name, r, v6));
                out.push('\n');
            }
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// `-j DNAT --to-destination 172.17.0.2:80` (fixed targets only: iptables has no maps).
fn nat_target(target: &str, opt: &str, to: &crate::model::NatTo) -> Option<String> {
    let crate::model::NatTo::Fixed { addr, port } = to else {
        return None;
    };
    let a = match addr {
        Some((lo, hi)) if lo == hi => bracket(*lo, port.is_some()),
        Some((lo, hi)) => format!("{lo}-{hi}"),
        None => String::new(),
    };
    let p = match port {
        Some((lo, hi)) if lo == hi => format!(":{lo}"),
        Some((lo, hi)) => format!(":{lo}-{hi}"),
        None => String::new(),
    };
    Some(format!("-j {target} {opt} {a}{p}"))
}

fn bracket(a: std::net::IpAddr, with_port: bool) -> String {
    match a {
        std::net::IpAddr::V6(v) if with_port => format!("[{v}]"),
        a => a.to_string(),
    }
}
