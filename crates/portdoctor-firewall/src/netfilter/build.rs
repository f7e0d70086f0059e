//! Building the accept rules a fix adds, as model rules (for "what if") with the text the
//! backend will list them with.

use crate::model::{Action, Elem, Field, Match, Rule, Values};
use std::net::IpAddr;

/// The traffic an accept rule lets in.
#[derive(Debug, Clone, Copy)]
pub struct AcceptSpec<'a> {
    /// `tcp` or `udp`.
    pub proto: &'a str,
    /// Destination port.
    pub port: u16,
    /// Only this source address or network (`198.18.0.2`, `2001:db8::/32`).
    pub source: Option<&'a str>,
    /// Only this destination address: where a DNAT sent the packet, for a rule placed after
    /// it (forward chains see the container's address and port, not the host's).
    pub dest: Option<&'a str>,
    /// The comment the rule carries (portdoctor's tag), if any.
    pub comment: Option<&'a str>,
}

/// An address or CIDR as (is IPv6, first, last).
pub fn cidr_range(text: &str) -> Option<(bool, u128, u128)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let (v6, bits, n) = match ip {
        IpAddr::V4(a) => (false, 32, u32::from(a) as u128),
        IpAddr::V6(a) => (true, 128, u128::from(a)),
    };
    let len = len.unwrap_or(bits);
    if len > bits {
        return None;
    }
    let host = if len == bits {
        0
    } else {
        (1u128 << (bits - len)) - 1
    };
    Some((v6, n & !host, (n & !host) | host))
}

fn cmp(field: Field, e: Elem) -> Match {
    Match::Cmp {
        key: vec![field],
        mask: None,
        negated: false,
        values: Values::Inline(vec![vec![e]]),
    }
}

fn matches(spec: &AcceptSpec<'_>, iptables: bool) -> Option<Vec<Match>> {
    let mut m = vec![];
    if let Some(src) = spec.source {
        let (v6, lo, hi) = cidr_range(src)?;
        let f = if v6 { Field::Saddr6 } else { Field::Saddr4 };
        m.push(cmp(f, Elem::Range(lo, hi)));
    }
    if let Some(dst) = spec.dest {
        let (v6, lo, hi) = cidr_range(dst)?;
        let f = if v6 { Field::Daddr6 } else { Field::Daddr4 };
        m.push(cmp(f, Elem::Range(lo, hi)));
    }
    let (l4, dport) = match spec.proto {
        "udp" => (17, Field::UdpDport),
        _ => (6, Field::TcpDport),
    };
    if iptables {
        m.push(cmp(Field::L4Proto, Elem::val(l4)));
    }
    m.push(cmp(dport, Elem::val(spec.port as u128)));
    Some(m)
}

fn rule(matches: Vec<Match>, text: String, comment: Option<&str>) -> Rule {
    Rule {
        matches,
        statements: vec![],
        pre_statements: vec![],
        action: Action::Accept,
        text,
        comment: comment.map(str::to_string),
        handle: None,
        position: 0,
    }
}

/// The nft words of the rule body: `ip saddr X tcp dport P accept comment "…"`.
pub fn nft_words(spec: &AcceptSpec<'_>) -> Vec<String> {
    let mut w: Vec<String> = vec![];
    if let Some(src) = spec.source {
        let fam = if src.contains(':') { "ip6" } else { "ip" };
        w.extend([fam.to_string(), "saddr".into(), src.to_string()]);
    }
    if let Some(dst) = spec.dest {
        let fam = if dst.contains(':') { "ip6" } else { "ip" };
        w.extend([fam.to_string(), "daddr".into(), dst.to_string()]);
    }
    w.extend([
        spec.proto.to_string(),
        "dport".into(),
        spec.port.to_string(),
        "accept".into(),
    ]);
    if let Some(c) = spec.comment {
        w.extend(["comment".into(), format!("\"{c}\"")]);
    }
    w
}

/// An nft accept rule; `None` when the source is not an address or CIDR.
pub fn nft_accept(spec: &AcceptSpec<'_>) -> Option<Rule> {
    let m = matches(spec, false)?;
    Some(rule(m, nft_words(spec).join(" "), spec.comment))
}

/// The iptables options of the rule: `-s X -p tcp -m tcp --dport P -m comment … -j ACCEPT`.
pub fn iptables_words(spec: &AcceptSpec<'_>) -> Vec<String> {
    let mut w: Vec<String> = vec![];
    if let Some(src) = spec.source {
        w.extend(["-s".into(), src.to_string()]);
    }
    if let Some(dst) = spec.dest {
        w.extend(["-d".into(), dst.to_string()]);
    }
    w.extend([
        "-p".into(),
        spec.proto.to_string(),
        "-m".into(),
        spec.proto.to_string(),
        "--dport".into(),
        spec.port.to_string(),
    ]);
    if let Some(c) = spec.comment {
        w.extend(["-m".into(), "comment".into(), "--comment".into(), c.into()]);
    }
    w.extend(["-j".into(), "ACCEPT".into()]);
    w
}

/// An iptables accept rule in `chain`, with its `iptables-save` text.
pub fn iptables_accept(spec: &AcceptSpec<'_>, chain: &str) -> Option<Rule> {
    let m = matches(spec, true)?;
    let text = format!("-A {chain} {}", iptables_words(spec).join(" "));
    Some(rule(m, text, spec.comment))
}

/// The same rule as [`iptables_accept`], dropping instead.
pub fn iptables_drop(spec: &AcceptSpec<'_>, chain: &str) -> Option<Rule> {
    let mut r = iptables_accept(spec, chain)?;
    r.action = Action::Drop;
    r.text = r.text.replace("-j ACCEPT", "-j DROP");
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert_eq!(
            cidr_range("10.0.0.0/8"),
            Some((false, 0x0a00_0000, 0x0aff_ffff))
        );
        assert_eq!(
            cidr_range("198.18.0.2"),
            Some((false, 0xc612_0002, 0xc612_0002))
        );
        assert!(cidr_range("10.0.0.0/33").is_none());
        assert!(cidr_range("::1/129").is_none());
        assert_eq!(cidr_range("2001:db8::/32").map(|c| c.0), Some(true));
    }

    #[test]
    fn texts() {
        let s = AcceptSpec {
            proto: "tcp",
            port: 8080,
            source: Some("198.18.0.2"),
            dest: None,
            comment: Some("portdoctor"),
        };
        assert_eq!(
            nft_accept(&s).unwrap().text,
            "ip saddr 198.18.0.2 tcp dport 8080 accept comment \"portdoctor\""
        );
        assert_eq!(
            iptables_accept(&s, "INPUT").unwrap().text,
            "-A INPUT -s 198.18.0.2 -p tcp -m tcp --dport 8080 -m comment --comment portdoctor -j ACCEPT"
        );
    }
}
