//! Reader and printer for `iptables-save` / `ip6tables-save` text (legacy and nft-backed).
//!
//! Built-in chains become base chains at the kernel's priorities for the table
//! (`include/uapi/linux/netfilter_ipv4.h`, `NF_IP_PRI_*`; the same values for IPv6):
//! raw −300, mangle −150, nat PREROUTING −100 (DNAT) and nat INPUT +100 (SNAT),
//! filter 0, security 50.

use crate::backend::names;
use crate::error::ParseError;
use crate::model::{
    Action, Backend, BaseChain, Chain, Elem, Family, Field, Hook, IpFamily, Match, Policy, Rule,
    Ruleset, Statement, Table, Values,
};
use std::collections::{HashMap, HashSet};

/// A token with its 1-based column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tok {
    pub(crate) s: String,
    pub(crate) col: usize,
    /// Was quoted in the source.
    pub(crate) quoted: bool,
}

/// Split a line into whitespace-separated tokens; `"..."` groups with `\"` and `\\` escapes.
pub(crate) fn tokenize(line: &str, line_no: usize) -> Result<Vec<Tok>, ParseError> {
    let mut out = vec![];
    let mut it = line.chars().enumerate().peekable();
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let col = i + 1;
        let mut s = String::new();
        let mut quoted = false;
        while let Some(&(_, c)) = it.peek() {
            if c.is_whitespace() {
                break;
            }
            it.next();
            if c == '"' {
                quoted = true;
                let mut closed = false;
                while let Some((_, c)) = it.next() {
                    match c {
                        '\\' => match it.next() {
                            Some((_, e)) => s.push(e),
                            None => break,
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(ParseError::new(line_no, col, "unterminated quoted string"));
                }
            } else {
                s.push(c);
            }
        }
        out.push(Tok { s, col, quoted });
    }
    Ok(out)
}

/// Chain and target names: no whitespace or quotes, not starting with `-` or `!`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '!'])
        && !s.contains(|c: char| c.is_whitespace() || c == '"')
}

fn builtin_chains(table: &str) -> &'static [&'static str] {
    match table {
        "raw" => &["PREROUTING", "OUTPUT"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        _ => &[],
    }
}

/// Kernel priority of a built-in chain of a table.
pub fn builtin_priority(table: &str, chain: &str) -> i32 {
    match (table, chain) {
        ("raw", _) => -300,
        ("mangle", _) => -150,
        ("nat", "PREROUTING" | "OUTPUT") => -100,
        ("nat", _) => 100,
        ("security", _) => 50,
        _ => 0,
    }
}

struct P<'a> {
    toks: &'a [Tok],
    i: usize,
    line: usize,
    v6: bool,
}

impl<'a> P<'a> {
    fn next(&mut self) -> Option<&'a Tok> {
        let t = self.toks.get(self.i);
        self.i += 1;
        t
    }
    fn arg(&mut self, opt: &Tok) -> Result<&'a Tok, ParseError> {
        self.next().ok_or_else(|| {
            ParseError::new(self.line, opt.col, format!("{} needs an argument", opt.s))
        })
    }
    fn err(&self, t: &Tok, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.line, t.col, msg)
    }
}

fn cmp(key: Field, negated: bool, elems: Vec<Elem>) -> Match {
    Match::Cmp {
        key: vec![key],
        mask: None,
        negated,
        values: Values::Inline(elems.into_iter().map(|e| vec![e]).collect()),
    }
}

fn parse_addr(s: &str, v6: bool) -> Option<Elem> {
    let bits = if v6 { 128 } else { 32 };
    let one = |a: &str| names::addr_value(a, v6);
    match s.split_once('/') {
        None => one(s).map(Elem::val),
        Some((a, m)) => {
            let base = one(a)?;
            let len = match m.parse::<u32>() {
                Ok(l) if l <= bits => l,
                Ok(_) => return None,
                Err(_) => {
                    // Dotted (or v6) mask: must be contiguous.
                    let mv = one(m)?;
                    let l = mv.count_ones();
                    let full: u128 = if v6 { u128::MAX } else { u32::MAX as u128 };
                    let expect = if l == 0 {
                        0
                    } else {
                        full & !((1u128 << (bits - l)) - 1)
                    };
                    if mv != expect {
                        return None;
                    }
                    l
                }
            };
            Some(names::prefix_range(base, len, bits))
        }
    }
}

fn parse_port_range(s: &str) -> Option<Elem> {
    let p = |x: &str| names::service_port(x);
    match s.split_once(':') {
        None => p(s).map(|v| Elem::val(v as u128)),
        Some((a, b)) => {
            let lo = if a.is_empty() { 0 } else { p(a)? };
            let hi = if b.is_empty() { 65535 } else { p(b)? };
            Some(Elem::Range(lo.min(hi) as u128, lo.max(hi) as u128))
        }
    }
}

fn parse_iface(s: &str) -> Elem {
    match s.strip_suffix('+') {
        Some(p) => Elem::Iface {
            name: p.to_string(),
            wildcard: true,
        },
        None => Elem::Iface {
            name: s.to_string(),
            wildcard: false,
        },
    }
}

fn parse_mark(s: &str) -> Option<(u128, u128)> {
    let n = |x: &str| -> Option<u128> {
        match x.strip_prefix("0x") {
            Some(h) => u32::from_str_radix(h, 16).ok().map(u128::from),
            None => x.parse::<u32>().ok().map(u128::from),
        }
    };
    match s.split_once('/') {
        Some((v, m)) => Some((n(v)?, n(m)?)),
        None => Some((n(s)?, u32::MAX as u128)),
    }
}

fn is_basic(s: &str) -> bool {
    matches!(
        s,
        "-p" | "-s"
            | "-d"
            | "-i"
            | "-o"
            | "-f"
            | "-m"
            | "-j"
            | "-g"
            | "--protocol"
            | "--source"
            | "--destination"
            | "--in-interface"
            | "--out-interface"
            | "--match"
            | "--jump"
            | "--goto"
            | "--fragment"
    )
}

pub(crate) fn quote(s: &str) -> String {
    if !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        return s.to_string();
    }
    let mut o = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            o.push('\\');
        }
        o.push(c);
    }
    o.push('"');
    o
}

/// `-m rpfilter` options adjust the one reverse-path match pushed when the module appears:
/// `--loose` relaxes it, `--invert` negates it; `--accept-local` (local sources pass too) is
/// not modelled.
fn rpfilter_opt(r: &mut RuleParts, opt: &str) {
    let Some(Match::Cmp { key, negated, .. }) = r.matches.last_mut() else {
        return;
    };
    if !matches!(key.as_slice(), [Field::RpfStrict | Field::RpfLoose]) {
        return;
    }
    match opt {
        "--loose" => key[0] = Field::RpfLoose,
        "--invert" => *negated = !*negated,
        "--accept-local" => {
            let last = r.matches.len() - 1;
            r.matches[last] = Match::Unmodelled {
                reason: "rpfilter --accept-local not modelled".into(),
                text: "-m rpfilter --accept-local".into(),
            };
        }
        _ => {}
    }
}

/// iptables before 1.4.3 wrote negation after the option (`-s ! 10.0.0.1`, `--dport ! 22`);
/// rewrite it to the current order (`! -s 10.0.0.1`).
fn old_negation(mut toks: Vec<Tok>) -> Vec<Tok> {
    let mut i = 0;
    while i + 2 < toks.len() {
        let opt = toks[i].s.starts_with('-') && !toks[i].quoted;
        if opt && toks[i + 1].s == "!" && !toks[i + 2].s.starts_with('-') {
            toks.swap(i, i + 1);
            i += 3;
        } else {
            i += 1;
        }
    }
    toks
}

/// The IPv6 extension header an ip6tables match module requires (its options only refine it).
fn extension_header(module: &str) -> Option<&'static str> {
    Some(match module {
        "rt" => "routing header",
        "frag" => "fragment header",
        "hbh" => "hop-by-hop options header",
        "dst" => "destination options header",
        "ah" => "authentication header",
        "mh" => "mobility header",
        _ => return None,
    })
}

/// The match iptables loads by itself for an option that follows `-p PROTO` without `-m`
/// (`-p tcp --syn`, as iptables-save before 1.4 printed it): the protocol's own module.
fn implicit_match(proto: Option<u128>, v6: bool) -> Option<&'static str> {
    Some(match proto? {
        6 => "tcp",
        17 => "udp",
        1 if !v6 => "icmp",
        58 if v6 => "icmp6",
        132 => "sctp",
        33 => "dccp",
        _ => return None,
    })
}

/// Index of the first token after the current match module's options.
fn module_end(p: &P) -> usize {
    let mut end = p.i;
    while let Some(n) = p.toks.get(end) {
        if is_basic(&n.s) || (n.s == "!" && p.toks.get(end + 1).is_none_or(|x| is_basic(&x.s))) {
            break;
        }
        end += 1;
    }
    end
}

fn toks_text(t: &[Tok]) -> String {
    t.iter()
        .map(|t| if t.quoted { quote(&t.s) } else { t.s.clone() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parsed pieces of one `-A` line.
struct RuleParts {
    matches: Vec<Match>,
    statements: Vec<Statement>,
    action: Action,
    comment: Option<String>,
}

/// Parse the options of a rule (after `-A CHAIN`).
fn parse_rule_opts(p: &mut P, user_chains: &HashSet<String>) -> Result<RuleParts, ParseError> {
    let mut r = RuleParts {
        matches: vec![],
        statements: vec![],
        action: Action::Continue,
        comment: None,
    };
    let mut module: Option<&str> = None;
    let mut proto: Option<u128> = None;
    while let Some(t) = p.next() {
        let start = p.i - 1;
        let mut neg = false;
        let mut t = t;
        if t.s == "!" {
            neg = true;
            t = p.next().ok_or_else(|| p.err(t, "`!` at end of rule"))?;
        }
        match t.s.as_str() {
            "-p" | "--protocol" => {
                let a = p.arg(t)?;
                let s = a.s.to_ascii_lowercase();
                if s == "all" || s == "0" {
                    if neg {
                        r.matches.push(cmp(Field::L4Proto, false, vec![]));
                    }
                } else {
                    let n = names::proto_number(&s).ok_or_else(|| p.err(a, "unknown protocol"))?;
                    proto = Some(n as u128);
                    r.matches
                        .push(cmp(Field::L4Proto, neg, vec![Elem::val(n as u128)]));
                }
            }
            "-s" | "--source" | "-d" | "--destination" => {
                let a = p.arg(t)?;
                let src = t.s.starts_with("-s") || t.s == "--source";
                let field = match (src, p.v6) {
                    (true, false) => Field::Saddr4,
                    (false, false) => Field::Daddr4,
                    (true, true) => Field::Saddr6,
                    (false, true) => Field::Daddr6,
                };
                let mut elems = vec![];
                for part in a.s.split(',') {
                    elems.push(parse_addr(part, p.v6).ok_or_else(|| p.err(a, "bad address"))?);
                }
                r.matches.push(cmp(field, neg, elems));
            }
            "-i" | "--in-interface" => {
                let a = p.arg(t)?;
                if a.quoted || !valid_name(&a.s) {
                    return Err(p.err(a, "invalid interface name"));
                }
                r.matches
                    .push(cmp(Field::Iifname, neg, vec![parse_iface(&a.s)]));
            }
            "-o" | "--out-interface" => {
                let a = p.arg(t)?;
                if a.quoted || !valid_name(&a.s) {
                    return Err(p.err(a, "invalid interface name"));
                }
                r.matches
                    .push(cmp(Field::Oifname, neg, vec![parse_iface(&a.s)]));
            }
            "-f" | "--fragment" => r.matches.push(Match::Unmodelled {
                reason: "fragment matching not modelled".into(),
                text: toks_text(&p.toks[start..p.i]),
            }),
            "-m" | "--match" => {
                let a = p.arg(t)?;
                if neg {
                    return Err(p.err(t, "`!` before -m"));
                }
                module = Some(a.s.as_str());
                if a.s == "rpfilter" {
                    r.matches
                        .push(cmp(Field::RpfStrict, false, vec![Elem::val(1)]));
                }
                if let Some(header) = extension_header(&a.s) {
                    let end = module_end(p);
                    r.matches.push(Match::Absent {
                        header: header.into(),
                        text: toks_text(&p.toks[start..end]),
                    });
                    p.i = end;
                    module = None;
                    continue;
                }
                if a.s == "statistic" {
                    let end = module_end(p);
                    let text = toks_text(&p.toks[start..end]);
                    let opts: Vec<&str> = p.toks[p.i..end].iter().map(|t| t.s.as_str()).collect();
                    p.i = end;
                    r.matches.push(statistic(&opts, text));
                    module = None;
                    continue;
                }
                if crate::backend::iptables_rate::is_rate_module(&a.s) {
                    let end = module_end(p);
                    let opts: Vec<&str> = p.toks[p.i..end].iter().map(|t| t.s.as_str()).collect();
                    let text = toks_text(&p.toks[start..end]);
                    p.i = end;
                    r.matches
                        .push(crate::backend::iptables_rate::rate_match(&a.s, &opts, text));
                    module = None;
                    continue;
                }
                if !matches!(
                    a.s.as_str(),
                    "tcp"
                        | "udp"
                        | "multiport"
                        | "conntrack"
                        | "state"
                        | "comment"
                        | "iprange"
                        | "addrtype"
                        | "rpfilter"
                        | "set"
                        | "mark"
                        | "pkttype"
                        | "connmark"
                ) {
                    // Unmodelled module: keep it and all its options verbatim.
                    let end = module_end(p);
                    p.i = end;
                    r.matches.push(Match::Unmodelled {
                        reason: format!("match module `{}` not modelled", a.s),
                        text: toks_text(&p.toks[start..end]),
                    });
                    module = None;
                }
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                if neg {
                    return Err(p.err(t, "`!` before a target"));
                }
                let a = p.arg(t)?;
                if a.quoted || !valid_name(&a.s) {
                    return Err(p.err(a, "invalid target or chain name"));
                }
                let goto = t.s == "-g" || t.s == "--goto";
                let mut end = p.i;
                while let Some(n) = p.toks.get(end) {
                    if is_basic(&n.s) {
                        break;
                    }
                    end += 1;
                }
                let opts = &p.toks[p.i..end];
                p.i = end;
                let text = toks_text(&p.toks[start..end]);
                target(&mut r, &a.s, goto, opts, text, user_chains, p)?;
            }
            "-c" | "--set-counters" => {
                p.arg(t)?;
                p.arg(t)?;
            }
            o if o.starts_with("--") => {
                let m = module
                    .or_else(|| implicit_match(proto, p.v6))
                    .ok_or_else(|| p.err(t, format!("option {o} without a match module")))?;
                module_opt(&mut r, m, t, neg, p, start)?;
            }
            _ => return Err(p.err(t, format!("unexpected `{}`", t.s))),
        }
    }
    Ok(r)
}

fn module_opt(
    r: &mut RuleParts,
    module: &str,
    t: &Tok,
    neg: bool,
    p: &mut P,
    start: usize,
) -> Result<(), ParseError> {
    let o = t.s.as_str();
    let m = match (module, o) {
        ("tcp" | "udp", "--dport" | "--destination-port" | "--sport" | "--source-port") => {
            l4_port(module, o, t, neg, p)?
        }
        ("tcp", "--tcp-flags") => tcp_flags(t, neg, p)?,
        ("tcp", "--syn") => masked(Field::TcpFlags, 0x17, 0x02, neg),
        ("multiport", "--dports" | "--destination-ports" | "--sports" | "--source-ports") => {
            let f = if o.contains('d') {
                Field::Dport
            } else {
                Field::Sport
            };
            cmp(f, neg, port_list(t, p)?)
        }
        ("conntrack", "--ctstatus") => ct_status(t, neg, p, start)?,
        ("conntrack", "--ctproto" | "--ctorigsrcport" | "--ctorigdstport") => {
            ct_tuple(p, t, neg, start)?
        }
        ("conntrack", "--ctstate") | ("state", "--state") => ct_state(module, t, neg, p, start)?,
        ("comment", "--comment") => {
            r.comment = Some(p.arg(t)?.s.clone());
            return Ok(());
        }
        ("iprange", "--src-range" | "--dst-range") => ip_range(o == "--src-range", t, neg, p)?,
        ("addrtype", "--src-type") if !p.v6 => addr_types(Field::SaddrType, t, neg, p)?,
        ("addrtype", "--dst-type") => addr_types(Field::DaddrTypeXt, t, neg, p)?,
        ("rpfilter", "--loose" | "--invert" | "--validmark" | "--accept-local") => {
            rpfilter_opt(r, o);
            return Ok(());
        }
        ("set", "--match-set") => match_set(module, t, neg, p, start)?,
        ("pkttype", "--pkt-type") => {
            let a = p.arg(t)?;
            let n = names::pkt_type(&a.s).ok_or_else(|| p.err(a, "unknown packet type"))?;
            cmp(Field::PktType, neg, vec![Elem::val(n)])
        }
        ("connmark", "--mark") => mark(Field::CtMark, t, neg, p)?,
        ("mark", "--mark") => mark(Field::Mark, t, neg, p)?,
        _ => unknown_module_opt(module, o, p, start),
    };
    r.matches.push(m);
    Ok(())
}

/// `(key & mask) == value`, or its negation.
fn masked(f: Field, mask: u128, value: u128, neg: bool) -> Match {
    Match::Cmp {
        key: vec![f],
        mask: Some(mask),
        negated: neg,
        values: Values::Inline(vec![vec![Elem::val(value)]]),
    }
}

/// The comma-separated ports and ranges of the option's argument.
fn port_list(t: &Tok, p: &mut P) -> Result<Vec<Elem>, ParseError> {
    let a = p.arg(t)?;
    a.s.split(',')
        .map(|x| parse_port_range(x).ok_or_else(|| p.err(a, "bad port")))
        .collect()
}

/// `-m tcp|udp --dport|--sport P[:Q]`.
fn l4_port(module: &str, o: &str, t: &Tok, neg: bool, p: &mut P) -> Result<Match, ParseError> {
    let f = match (module, o.contains('d')) {
        ("tcp", true) => Field::TcpDport,
        ("tcp", false) => Field::TcpSport,
        (_, true) => Field::UdpDport,
        (_, false) => Field::UdpSport,
    };
    let e = port_list(t, p)?;
    if e.len() != 1 {
        return Err(p.err(t, "one port or range expected"));
    }
    Ok(cmp(f, neg, e))
}

/// `--tcp-flags MASK COMP`.
fn tcp_flags(t: &Tok, neg: bool, p: &mut P) -> Result<Match, ParseError> {
    let m = p.arg(t)?;
    let c = p.arg(t)?;
    let bits = |x: &Tok| -> Result<u128, ParseError> {
        x.s.split(',').try_fold(0, |acc, f| {
            Ok(acc | names::tcp_flag(f).ok_or_else(|| p.err(x, "bad TCP flag"))?)
        })
    };
    let (mb, cb) = (bits(m)?, bits(c)?);
    Ok(masked(Field::TcpFlags, mb, cb & mb, neg))
}

/// `-m conntrack --ctstatus S[,S]`: the connection has one of the bits.
fn ct_status(t: &Tok, neg: bool, p: &mut P, start: usize) -> Result<Match, ParseError> {
    let a = p.arg(t)?;
    let mut bits = 0u128;
    for s in a.s.split(',') {
        bits |= match s {
            "NONE" => 0,
            "EXPECTED" => 1,
            "SEEN_REPLY" => 2,
            "ASSURED" => 4,
            "CONFIRMED" => 8,
            _ => return Err(p.err(a, format!("unknown status {s}"))),
        };
    }
    if conntrack_admits_untracked(p, start) {
        return Ok(untracked_conntrack_option(p, t, start));
    }
    // (status & bits) != 0.
    Ok(masked(Field::CtStatus, bits, 0, !neg))
}

/// `-m conntrack --ctstate` / `-m state --state`.
fn ct_state(
    module: &str,
    t: &Tok,
    neg: bool,
    p: &mut P,
    start: usize,
) -> Result<Match, ParseError> {
    let a = p.arg(t)?;
    let bits: Option<Vec<u128>> = a.s.split(',').map(names::ct_state_bit).collect();
    Ok(match bits {
        Some(b) => cmp(Field::CtState, neg, b.into_iter().map(Elem::val).collect()),
        // Virtual states (SNAT, DNAT) depend on NAT done to the connection.
        None => Match::Unmodelled {
            reason: "conntrack states SNAT/DNAT not modelled".into(),
            text: format!("-m {module} {}", toks_text(&p.toks[start..p.i])),
        },
    })
}

/// `-m iprange --src-range|--dst-range A-B`.
fn ip_range(src: bool, t: &Tok, neg: bool, p: &mut P) -> Result<Match, ParseError> {
    let a = p.arg(t)?;
    let f = match (src, p.v6) {
        (true, false) => Field::Saddr4,
        (false, false) => Field::Daddr4,
        (true, true) => Field::Saddr6,
        (false, true) => Field::Daddr6,
    };
    let (x, y) =
        a.s.split_once('-')
            .ok_or_else(|| p.err(a, "range a-b expected"))?;
    let (Some(Elem::Range(x, _)), Some(Elem::Range(y, _))) =
        (parse_addr(x, p.v6), parse_addr(y, p.v6))
    else {
        return Err(p.err(a, "bad address range"));
    };
    Ok(cmp(f, neg, vec![Elem::Range(x.min(y), x.max(y))]))
}

/// `-m addrtype --src-type|--dst-type T[,T]`.
fn addr_types(f: Field, t: &Tok, neg: bool, p: &mut P) -> Result<Match, ParseError> {
    let a = p.arg(t)?;
    let e =
        a.s.split(',')
            .map(|s| {
                names::addr_type(s)
                    .map(Elem::val)
                    .ok_or_else(|| p.err(a, "unknown address type"))
            })
            .collect::<Result<Vec<_>, _>>()?;
    Ok(cmp(f, neg, e))
}

/// `-m set --match-set NAME src|dst[,src|dst]`.
fn match_set(
    module: &str,
    t: &Tok,
    neg: bool,
    p: &mut P,
    start: usize,
) -> Result<Match, ParseError> {
    let n = p.arg(t)?;
    let flags = p.arg(t)?;
    let mut key = vec![];
    for (i, dir) in flags.s.split(',').enumerate() {
        let src = match dir {
            "src" => true,
            "dst" => false,
            _ => return Err(p.err(flags, "src or dst expected")),
        };
        match (i, src, p.v6) {
            (0, true, false) => key.push(Field::Saddr4),
            (0, false, false) => key.push(Field::Daddr4),
            (0, true, true) => key.push(Field::Saddr6),
            (0, false, true) => key.push(Field::Daddr6),
            (1, s, _) => {
                key.push(Field::L4Proto);
                key.push(if s { Field::Sport } else { Field::Dport });
            }
            _ => {
                key.clear();
                break;
            }
        }
    }
    if key.is_empty() {
        return Ok(Match::Unmodelled {
            reason: "ipset match with more than two dimensions not modelled".into(),
            text: format!("-m {module} {}", toks_text(&p.toks[start..p.i])),
        });
    }
    Ok(Match::Cmp {
        key,
        mask: None,
        negated: neg,
        values: Values::Ipset(n.s.clone()),
    })
}

/// `-m mark|connmark --mark V[/M]`.
fn mark(f: Field, t: &Tok, neg: bool, p: &mut P) -> Result<Match, ParseError> {
    let a = p.arg(t)?;
    let (v, m) = parse_mark(&a.s).ok_or_else(|| p.err(a, "bad mark"))?;
    Ok(Match::Cmp {
        key: vec![f],
        mask: (m != u32::MAX as u128).then_some(m),
        negated: neg,
        values: Values::Inline(vec![vec![Elem::val(v & m)]]),
    })
}

/// An unknown option of a known module: kept with its arguments verbatim.
fn unknown_module_opt(module: &str, o: &str, p: &mut P, start: usize) -> Match {
    let mut end = p.i;
    while let Some(n) = p.toks.get(end) {
        if n.s.starts_with('-') || n.s == "!" {
            break;
        }
        end += 1;
    }
    p.i = end;
    Match::Unmodelled {
        reason: format!("option {o} of `{module}` not modelled"),
        text: format!("-m {module} {}", toks_text(&p.toks[start..end])),
    }
}

/// `-m conntrack --ctproto PROTO`, `--ctorigsrcport PORT[:PORT]`, `--ctorigdstport …`: the
/// protocol and original-direction ports of the packet's connection. xt_conntrack skips these
/// options and holds for a packet without a connection once `--ctstate` passed, so next to a
/// `--ctstate` that admits such packets (INVALID or UNTRACKED listed, or negated) they are not
/// modelled.
fn ct_tuple(p: &mut P, t: &Tok, neg: bool, start: usize) -> Result<Match, ParseError> {
    let a = p.arg(t)?;
    let (field, elem) = match t.s.as_str() {
        "--ctproto" => {
            let n = match a.s.to_ascii_lowercase().as_str() {
                "all" => 0,
                s => names::proto_number(s).ok_or_else(|| p.err(a, "unknown protocol"))?,
            };
            (Field::CtProto, Elem::val(n as u128))
        }
        o => (
            if o == "--ctorigsrcport" {
                Field::CtOrigSport
            } else {
                Field::CtOrigDport
            },
            parse_port_range(&a.s).ok_or_else(|| p.err(a, "bad port"))?,
        ),
    };
    if conntrack_admits_untracked(p, start) {
        return Ok(untracked_conntrack_option(p, t, start));
    }
    Ok(cmp(field, neg, vec![elem]))
}

/// A conntrack option that xt_conntrack skips for a packet without a connection, next to a
/// `--ctstate` such packets pass: the match then holds for them whatever the option says.
fn untracked_conntrack_option(p: &P, t: &Tok, start: usize) -> Match {
    Match::Unmodelled {
        reason: format!(
            "{} next to a --ctstate that packets without a connection pass is not modelled",
            t.s
        ),
        text: format!("-m conntrack {}", toks_text(&p.toks[start..p.i])),
    }
}

/// Whether the `-m conntrack` match that the option at `at` belongs to has a `--ctstate`
/// that a packet without a connection passes (INVALID or UNTRACKED listed, or negated).
fn conntrack_admits_untracked(p: &P, at: usize) -> bool {
    let first = p.toks[..at]
        .iter()
        .rposition(|t| t.s == "-m" || t.s == "--match")
        .map_or(0, |i| i + 2);
    let toks = &p.toks[first.min(at)..module_end(p)];
    toks.iter().enumerate().any(|(i, t)| {
        t.s == "--ctstate"
            && ((i > 0 && toks[i - 1].s == "!")
                || toks.get(i + 1).is_some_and(|v| {
                    v.s.split(',').any(|s| {
                        s.eq_ignore_ascii_case("invalid") || s.eq_ignore_ascii_case("untracked")
                    })
                }))
    })
}

fn target(
    r: &mut RuleParts,
    name: &str,
    goto: bool,
    opts: &[Tok],
    text: String,
    user_chains: &HashSet<String>,
    p: &P,
) -> Result<(), ParseError> {
    let opt = |k: &str| {
        opts.iter()
            .position(|t| t.s == k)
            .and_then(|i| opts.get(i + 1))
    };
    if goto || user_chains.contains(name) {
        r.action = if goto {
            Action::Goto(name.to_string())
        } else {
            Action::Jump(name.to_string())
        };
        return Ok(());
    }
    match name {
        "ACCEPT" => r.action = Action::Accept,
        "DROP" => r.action = Action::Drop,
        "RETURN" => r.action = Action::Return,
        "REJECT" => {
            let k = opt("--reject-with").map_or(crate::model::RejectKind::PortUnreachable, |t| {
                names::reject_kind(&t.s)
            });
            r.action = Action::Reject(k);
        }
        "REDIRECT" => {
            let port = match opts {
                [] => Some(None),
                [o, v] if o.s == "--to-ports" => v.s.parse::<u16>().ok().map(Some),
                _ => None,
            };
            match port {
                Some(p) => r.action = Action::Redirect(p),
                None => {
                    r.statements.push(Statement::Other(text.clone()));
                    r.action = Action::Unmodelled(format!(
                        "target `{text}` not modelled (port ranges, random)"
                    ));
                }
            }
        }
        "DNAT" | "SNAT" => {
            let opt_name = if name == "DNAT" {
                "--to-destination"
            } else {
                "--to-source"
            };
            let tos = opts.iter().filter(|t| t.s == opt_name).count();
            let to = opt(opt_name).and_then(|t| nat_spec(&t.s, p.v6));
            r.action = match (tos, to) {
                (1, Some(to)) if name == "DNAT" => Action::Dnat(to),
                (1, Some(to)) => Action::Snat(to),
                _ => {
                    r.statements.push(Statement::Other(text.clone()));
                    Action::Unmodelled(format!("target `{text}` not understood"))
                }
            };
        }
        "MASQUERADE" => r.action = Action::Masquerade,
        "LOG" | "NFLOG" | "ULOG" => r.statements.push(Statement::Log(text)),
        "MARK" => {
            let set = |v: u128, m: u128| Statement::SetMark {
                value: v as u32,
                mask: m as u32,
            };
            let st = if let Some(t) = opt("--set-xmark") {
                parse_mark(&t.s).map(|(v, m)| set(v, m))
            } else if let Some(t) = opt("--set-mark") {
                // --set-mark v/m == --set-xmark v/(m|v)
                parse_mark(&t.s).map(|(v, m)| set(v, m | v))
            } else if let Some(t) = opt("--or-mark") {
                parse_mark(&t.s).map(|(v, _)| set(v, v))
            } else if let Some(t) = opt("--and-mark") {
                parse_mark(&t.s).map(|(v, _)| set(0, !v & 0xffff_ffff))
            } else if let Some(t) = opt("--xor-mark") {
                parse_mark(&t.s).map(|(v, _)| set(v, 0))
            } else {
                None
            };
            r.statements
                .push(st.unwrap_or(Statement::MarkUnknown(text)));
        }
        "CONNMARK" => r.statements.push(connmark(opts, text)),
        "CT" if opts.iter().any(|t| t.s == "--notrack") => r.statements.push(Statement::Notrack),
        "NOTRACK" => r.statements.push(Statement::Notrack),
        "CT" => r.statements.push(Statement::Other(text)),
        n if names::non_terminal_target(n) => r.statements.push(Statement::Other(text)),
        n => {
            if n.is_empty() {
                return Err(ParseError::new(p.line, 1, "empty target"));
            }
            r.statements.push(Statement::Other(text.clone()));
            r.action = Action::Unmodelled(format!(
                "target `{text}` not modelled (changes, diverts or queues the packet)"
            ));
        }
    }
    Ok(())
}

/// `-j CONNMARK …`: set, save or restore; anything else changes the conntrack mark in a way
/// that is not modelled.
fn connmark(opts: &[Tok], text: String) -> Statement {
    let opt = |k: &str| {
        opts.iter()
            .position(|t| t.s == k)
            .and_then(|i| opts.get(i + 1))
    };
    let num = |t: Option<&Tok>| t.and_then(|t| parse_mark(&t.s)).map(|(v, _)| v as u32);
    let has = |k: &str| opts.iter().any(|t| t.s == k);
    // --mask M sets both masks; --nfmask/--ctmask must agree to be modelled.
    let mask = match (
        num(opt("--mask")),
        num(opt("--nfmask")),
        num(opt("--ctmask")),
    ) {
        (Some(m), None, None) => Some(m),
        (None, Some(a), Some(b)) if a == b => Some(a),
        (None, None, None) => Some(u32::MAX),
        _ => None,
    };
    if let Some(t) = opt("--set-xmark") {
        if let Some((v, m)) = parse_mark(&t.s) {
            return Statement::SetCtMark {
                value: v as u32,
                mask: m as u32,
            };
        }
    } else if let Some(t) = opt("--set-mark") {
        if let Some((v, m)) = parse_mark(&t.s) {
            return Statement::SetCtMark {
                value: v as u32,
                mask: (m | v) as u32,
            };
        }
    } else if has("--save-mark") {
        if let Some(mask) = mask {
            return Statement::SaveMark { mask };
        }
    } else if has("--restore-mark") {
        return match mask {
            Some(mask) => Statement::RestoreMark { mask },
            None => Statement::MarkUnknown(text),
        };
    }
    Statement::CtMarkUnknown(text)
}

/// Parse `iptables-save` (family [`IpFamily::Ipv4`]) or `ip6tables-save` ([`IpFamily::Ipv6`])
/// output. `backend` says which implementation printed it. Syntax errors carry line and
/// column; unknown match modules and options become [`Match::Unmodelled`].
pub fn parse_iptables_save(
    text: &str,
    family: IpFamily,
    backend: Backend,
) -> Result<Ruleset, ParseError> {
    let v6 = family == IpFamily::Ipv6;
    let fam = if v6 { Family::Ip6 } else { Family::Ip };
    let mut rs = Ruleset {
        backend: Some(backend),
        tables: vec![],
        ipsets: None,
    };
    let mut cur: Option<usize> = None;
    // The current table's user chains (for `-j NAME`) and its chains' indexes by name: a
    // kube-proxy node has thousands of chains, so neither is searched linearly.
    let mut user_chains: HashSet<String> = HashSet::new();
    let mut chain_index: HashMap<String, usize> = HashMap::new();
    for (ln, raw) in text.lines().enumerate() {
        let line_no = ln + 1;
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let col0 = line.chars().count() - trimmed.chars().count() + 1;
        if let Some(name) = trimmed.strip_prefix('*') {
            let name = name.trim();
            if name.is_empty() {
                return Err(ParseError::new(
                    line_no,
                    col0,
                    "table name expected after `*`",
                ));
            }
            // A later section for the same table replaces it, as with iptables-restore.
            rs.tables.retain(|t| t.name != name);
            rs.tables.push(Table::new(fam, name, None));
            cur = Some(rs.tables.len() - 1);
            chain_index.clear();
            // User chains are all declared before the rules; collect them for `-j NAME`.
            user_chains = text
                .lines()
                .skip(ln + 1)
                .map(str::trim)
                .take_while(|l| *l != "COMMIT" && !l.starts_with('*'))
                .filter_map(|l| l.strip_prefix(':'))
                .filter_map(|l| l.split_whitespace().next().map(String::from))
                .collect();
            continue;
        }
        let Some(ti) = cur else {
            return Err(ParseError::new(
                line_no,
                col0,
                "rule or chain outside a table (`*table` expected)",
            ));
        };
        if trimmed == "COMMIT" {
            cur = None;
            continue;
        }
        let toks = old_negation(tokenize(line, line_no)?);
        let table = &mut rs.tables[ti];
        if let Some(decl) = trimmed.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let (Some(name), Some(pol)) = (parts.next(), parts.next()) else {
                return Err(ParseError::new(
                    line_no,
                    col0,
                    "chain declaration `:NAME POLICY` expected",
                ));
            };
            if !valid_name(name) {
                return Err(ParseError::new(line_no, col0 + 1, "invalid chain name"));
            }
            let builtin = builtin_chains(&table.name).contains(&name);
            let base = if pol == "-" {
                None
            } else {
                let policy = match pol {
                    "ACCEPT" => Policy::Accept,
                    "DROP" => Policy::Drop,
                    _ => {
                        let c = toks.get(1).map_or(col0, |t| t.col);
                        return Err(ParseError::new(line_no, c, format!("bad policy {pol}")));
                    }
                };
                let hook = Hook::from_name(&name.to_ascii_lowercase());
                Some(BaseChain {
                    hook: if builtin {
                        hook
                    } else {
                        Hook::Other(name.to_string())
                    },
                    chain_type: if table.name == "nat" { "nat" } else { "filter" }.into(),
                    priority: builtin_priority(&table.name, name),
                    policy,
                    devices: vec![],
                })
            };
            if !chain_index.contains_key(name) {
                chain_index.insert(name.to_string(), table.chains.len());
                table.chains.push(Chain {
                    name: name.to_string(),
                    handle: None,
                    base,
                    rules: vec![],
                });
            }
            continue;
        }
        // Rule: optional "[p:b]" counters, then -A CHAIN.
        let mut i = 0;
        if toks.first().is_some_and(|t| t.s.starts_with('[')) {
            i = 1;
        }
        let Some(a) = toks.get(i) else { continue };
        if a.s != "-A" && a.s != "--append" {
            return Err(ParseError::new(
                line_no,
                a.col,
                format!("expected -A, found `{}`", a.s),
            ));
        }
        let Some(chain_tok) = toks.get(i + 1) else {
            return Err(ParseError::new(line_no, a.col, "-A needs a chain name"));
        };
        if chain_tok.quoted || !valid_name(&chain_tok.s) {
            return Err(ParseError::new(
                line_no,
                chain_tok.col,
                "invalid chain name",
            ));
        }
        let mut p = P {
            toks: &toks[i + 2..],
            i: 0,
            line: line_no,
            v6,
        };
        let parts = parse_rule_opts(&mut p, &user_chains)?;
        let ci = match chain_index.get(&chain_tok.s) {
            Some(&ci) => ci,
            None => {
                chain_index.insert(chain_tok.s.clone(), table.chains.len());
                table.chains.push(Chain {
                    name: chain_tok.s.clone(),
                    handle: None,
                    base: None,
                    rules: vec![],
                });
                table.chains.len() - 1
            }
        };
        let chain = &mut table.chains[ci];
        chain.rules.push(Rule {
            matches: parts.matches,
            statements: parts.statements,
            pre_statements: vec![],
            action: parts.action,
            text: toks_text(&toks[i..]),
            comment: parts.comment,
            handle: None,
            position: chain.rules.len() + 1,
        });
    }
    Ok(rs)
}

/// `-m statistic --mode random --probability P` / `--mode nth --every N`: a choice made per
/// connection, followed both ways.
fn statistic(opts: &[&str], text: String) -> Match {
    let mode = opts
        .iter()
        .position(|o| *o == "--mode")
        .and_then(|i| opts.get(i + 1));
    match mode {
        Some(&"random") | Some(&"nth") => Match::Chance { text },
        _ => Match::Unmodelled {
            reason: "statistic mode not understood".into(),
            text,
        },
    }
}

/// `--to-destination` / `--to-source`: `[ADDR[-ADDR]][:PORT[-PORT]]`, IPv6 addresses in
/// brackets when a port follows.
pub(crate) fn nat_spec(spec: &str, v6: bool) -> Option<crate::model::NatTo> {
    let (addrs, ports) = split_nat_spec(spec, v6)?;
    let addr = match addrs {
        "" => None,
        a => {
            let (lo, hi) = a.split_once('-').unwrap_or((a, a));
            let lo: std::net::IpAddr = lo.trim_matches(['[', ']']).parse().ok()?;
            let hi: std::net::IpAddr = hi.trim_matches(['[', ']']).parse().ok()?;
            (lo.is_ipv6() == v6 && hi.is_ipv6() == v6)
                .then_some((lo, hi))?
                .into()
        }
    };
    let port = match ports {
        None => None,
        Some(p) => {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            Some((lo.parse().ok()?, hi.parse().ok()?))
        }
    };
    if addr.is_none() && port.is_none() {
        return None;
    }
    Some(crate::model::NatTo::Fixed { addr, port })
}

/// Splits `A[-B][:P[-Q]]` into the address part and the port part.
fn split_nat_spec(spec: &str, v6: bool) -> Option<(&str, Option<&str>)> {
    if !v6 {
        return Some(match spec.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (spec, None),
        });
    }
    // IPv6: a port only after a closing bracket.
    match spec.rfind("]:") {
        Some(i) => Some((&spec[..=i], Some(&spec[i + 2..]))),
        None if spec.starts_with(':') && !spec[1..].contains(':') => Some(("", Some(&spec[1..]))),
        None => Some((spec, None)),
    }
}
