//! pf.conf text and `pfctl -sr` / `-vvsr` / `-a '*' -sr` listings into rules, anchors,
//! tables and options. Translation (`nat`, `rdr`), `scrub`, queueing and the `*-anchor`
//! points of those rulesets are read past: they do not filter.

use super::lex::{self, Tok};
use super::model::{
    BlockHow, BlockPolicy, Host, HostTerm, IfTerm, PfAction, PfDir, PfRule, PfTable, PortOp, Side,
    Unmodelled,
};
use crate::addr::{IpRange, PortSpan};
use crate::model::IpFamily;
use std::collections::{BTreeMap, HashMap};

/// A syntax error: 1-based line and column, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

/// What a text held.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub rules: Vec<PfRule>,
    /// `load anchor "x" from "file"`: anchor path → file (contents not read).
    pub loaded: BTreeMap<String, String>,
    pub tables: BTreeMap<String, PfTable>,
    pub block_policy: Option<BlockPolicy>,
    pub skip: Vec<String>,
    /// Statements read past without effect on filtering (for the report).
    pub ignored: usize,
    /// Redirections read past (`rdr`, `binat`, `rdr-anchor`, `binat-anchor`): pf filters the
    /// translated packet, so they could change the port the rules see.
    pub redirects: Vec<String>,
}

/// Statements that do not filter inbound packets.
const NON_FILTER: &[&str] = &[
    "scrub",
    "nat",
    "no",
    "rdr",
    "binat",
    "nat-anchor",
    "rdr-anchor",
    "binat-anchor",
    "scrub-anchor",
    "dummynet-anchor",
    "dummynet",
    "altq",
    "queue",
    "antispoof",
    "include",
];

type R<T> = Result<T, (usize, String)>;

/// Parses a whole text.
pub(crate) fn parse(text: &str) -> Result<Parsed, Bad> {
    let mut p = Parsed::default();
    let mut macros: HashMap<String, String> = HashMap::new();
    // Open nested blocks: (rules of the enclosing level, the anchor rule being filled, the
    // line it opened on).
    let mut stack: Vec<(Vec<PfRule>, PfRule, usize)> = vec![];
    let mut cur: Vec<PfRule> = vec![];
    for l in lex::logical_lines(text) {
        let raw = l.text.trim();
        let bad = |col: usize, msg: String| Bad {
            line: l.no,
            col,
            msg,
        };
        if raw.starts_with('[') || is_noise(raw) {
            continue;
        }
        if raw == "}" {
            let Some((outer, mut anchor, _)) = stack.pop() else {
                return Err(bad(1, "`}` without an open anchor block".into()));
            };
            if let PfAction::Anchor { inline, .. } = &mut anchor.action {
                *inline = Some(std::mem::take(&mut cur));
            }
            cur = outer;
            cur.push(anchor);
            continue;
        }
        if let Some((k, v)) = lex::macro_def(raw) {
            let v = lex::expand(&v, &macros);
            macros.insert(k, v);
            continue;
        }
        let expanded = lex::expand(raw, &macros);
        let mut toks = lex::tokens(&expanded).map_err(|c| bad(c, "unclosed quote".into()))?;
        let mut number = None;
        if let Some(n) = toks.first().and_then(|t| t.text.strip_prefix('@')) {
            number = Some(
                n.parse()
                    .map_err(|_| bad(1, format!("bad rule number `@{n}`")))?,
            );
            toks.remove(0);
        }
        let Some(first) = toks.first() else { continue };
        if let Some(t) = toks.iter().find(|t| t.text.starts_with('$') && !t.quoted) {
            // Report the column in the line as written, not after expansion.
            let col = l
                .text
                .find(&t.text)
                .map_or(t.col, |i| l.text[..i].chars().count() + 1);
            return Err(bad(col, format!("macro `{}` is not defined", t.text)));
        }
        let n = number.unwrap_or(cur.len());
        match first.text.as_str() {
            "set" => set_option(&toks, &mut p).map_err(|(c, m)| bad(c, m))?,
            "table" => table(&toks, &mut p).map_err(|(c, m)| bad(c, m))?,
            "load" => load_anchor(&toks, &mut p).map_err(|(c, m)| bad(c, m))?,
            "pass" | "block" | "match" | "anchor" => {
                let opens = toks.last().is_some_and(|t| t.text == "{" && !t.quoted);
                let body = if opens {
                    &toks[..toks.len() - 1]
                } else {
                    &toks[..]
                };
                let r = rule(body, n, &expanded).map_err(|(c, m)| bad(c, m))?;
                if opens {
                    if !matches!(r.action, PfAction::Anchor { .. }) {
                        return Err(bad(
                            first.col,
                            "only an anchor rule opens a `{` block".into(),
                        ));
                    }
                    stack.push((std::mem::take(&mut cur), r, l.no));
                } else {
                    cur.push(r);
                }
            }
            w if NON_FILTER.contains(&w) => {
                p.ignored += 1;
                if matches!(w, "rdr" | "binat" | "rdr-anchor" | "binat-anchor") {
                    p.redirects
                        .push(expanded.split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
            w => {
                return Err(bad(
                    first.col,
                    format!("`{w}` is not a pf statement this reader knows"),
                ));
            }
        }
    }
    if let Some((_, a, line)) = stack.last() {
        return Err(Bad {
            line: *line,
            col: 1,
            msg: format!("anchor block `{}` is not closed", a.text),
        });
    }
    p.rules = cur;
    Ok(p)
}

/// Lines `pfctl` prints to stderr that end up in saved listings.
fn is_noise(line: &str) -> bool {
    line.starts_with("No ALTQ support")
        || line.starts_with("ALTQ related functions")
        || line.starts_with("pfctl: ")
}

fn set_option(t: &[Tok], p: &mut Parsed) -> R<()> {
    match t.get(1).map(|x| x.text.as_str()) {
        Some("block-policy") => {
            p.block_policy = match t.get(2).map(|x| x.text.as_str()) {
                Some("drop") => Some(BlockPolicy::Drop),
                Some("return") => Some(BlockPolicy::Return),
                _ => {
                    return Err((
                        t.get(2).map_or(1, |x| x.col),
                        "block-policy is drop or return".into(),
                    ));
                }
            }
        }
        Some("skip") => {
            let names = t
                .iter()
                .skip(3)
                .map(|x| x.text.as_str())
                .filter(|x| !"{},".contains(*x));
            p.skip.extend(names.map(String::from));
        }
        _ => {}
    }
    Ok(())
}

fn table(t: &[Tok], p: &mut Parsed) -> R<()> {
    let name = t
        .get(1)
        .and_then(|x| x.text.strip_prefix('<').and_then(|s| s.strip_suffix('>')))
        .ok_or_else(|| {
            (
                t.get(1).map_or(1, |x| x.col),
                "expected `<name>` after table".into(),
            )
        })?;
    let mut tab = PfTable {
        entries: vec![],
        unresolved: vec![],
        constant: false,
        live: false,
    };
    let mut i = 2;
    let mut neg = false;
    while i < t.len() {
        match t[i].text.as_str() {
            "const" => tab.constant = true,
            "persist" | "counters" | "{" | "}" | "," => {}
            "file" => {
                tab.unresolved.push(format!(
                    "file {}",
                    t.get(i + 1).map_or("", |x| x.text.as_str())
                ));
                i += 1;
            }
            "!" => {
                neg = true;
                i += 1;
                continue;
            }
            w => match IpRange::parse(w) {
                Some(r) => tab.entries.push((neg, r)),
                None => tab.unresolved.push(w.to_string()),
            },
        }
        neg = false;
        i += 1;
    }
    p.tables.insert(name.to_string(), tab);
    Ok(())
}

fn load_anchor(t: &[Tok], p: &mut Parsed) -> R<()> {
    // load anchor NAME from FILE
    if t.get(1).map(|x| x.text.as_str()) != Some("anchor") {
        return Err((t[0].col, "expected `load anchor NAME from FILE`".into()));
    }
    let name = t.get(2).ok_or((t[0].col, "anchor name missing".into()))?;
    let file = t.get(4).map_or(String::new(), |x| x.text.clone());
    p.loaded.insert(name.text.clone(), file);
    Ok(())
}

/// A cursor over a rule's tokens.
struct Cur<'a> {
    t: &'a [Tok],
    i: usize,
}

impl<'a> Cur<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.t.get(self.i).map(|x| x.text.as_str())
    }
    fn col(&self) -> usize {
        self.t.get(self.i).or(self.t.last()).map_or(1, |x| x.col)
    }
    fn next(&mut self) -> Option<&'a Tok> {
        let x = self.t.get(self.i);
        self.i += 1;
        x
    }
    fn eat(&mut self, w: &str) -> bool {
        if self.peek() == Some(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// A single item or a `{ a, b }` list; `f` parses each item (with its `!`).
    fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        if !self.eat("{") {
            return Ok(vec![f(self)?]);
        }
        let mut out = vec![];
        loop {
            match self.peek() {
                None => return Err((self.col(), "unclosed `{` list".into())),
                Some("}") => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(",") => self.i += 1,
                Some(_) => out.push(f(self)?),
            }
        }
    }
}

/// Parses a filter rule (`pass`, `block`, `match`, `anchor`).
pub(crate) fn rule(t: &[Tok], number: usize, line: &str) -> R<PfRule> {
    let mut c = Cur { t, i: 0 };
    let action = action(&mut c)?;
    let mut r = PfRule {
        number,
        action,
        dir: PfDir::Any,
        quick: false,
        on: vec![],
        af: None,
        protos: vec![],
        from: Side::default(),
        to: Side::default(),
        flags: None,
        unmodelled: vec![],
        no_state: false,
        label: None,
        text: line.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    if c.eat("in") {
        r.dir = PfDir::In;
    } else if c.eat("out") {
        r.dir = PfDir::Out;
    }
    if c.eat("log") && c.eat("(") {
        while c.next().is_some_and(|x| x.text != ")") {}
    }
    r.quick = c.eat("quick");
    if c.eat("on") {
        r.on = c.list(|c| {
            let negated = c.eat("!");
            let n = c
                .next()
                .ok_or((c.col(), "interface missing after `on`".into()))?;
            Ok(IfTerm {
                negated,
                name: n.text.clone(),
            })
        })?;
    }
    route_options(&mut c)?;
    if c.eat("inet") {
        r.af = Some(IpFamily::Ipv4);
    } else if c.eat("inet6") {
        r.af = Some(IpFamily::Ipv6);
    }
    if c.eat("proto") {
        r.protos = c.list(|c| {
            let col = c.col();
            let n = c.next().ok_or((col, "protocol missing".into()))?;
            proto_number(&n.text).ok_or((n.col, format!("`{}` is not a protocol", n.text)))
        })?;
    }
    if c.eat("all") {
    } else {
        if c.eat("from") {
            r.from = side(&mut c)?;
        }
        if c.eat("to") {
            r.to = side(&mut c)?;
        }
    }
    options(&mut c, &mut r)?;
    Ok(r)
}

/// `route-to`, `reply-to`, `dup-to` (with their target) and `fastroute`: routing, not
/// filtering.
fn route_options(c: &mut Cur<'_>) -> R<()> {
    loop {
        match c.peek() {
            Some("fastroute") => c.i += 1,
            Some("route-to" | "reply-to" | "dup-to") => {
                c.i += 1;
                let _ = c.list(|c| {
                    if c.eat("(") {
                        while c.next().is_some_and(|x| x.text != ")") {}
                    } else {
                        c.next();
                    }
                    Ok(())
                })?;
            }
            _ => return Ok(()),
        }
    }
}

fn action(c: &mut Cur<'_>) -> R<PfAction> {
    let w = c.next().map(|x| x.text.as_str()).unwrap_or("");
    Ok(match w {
        "pass" => PfAction::Pass,
        "match" => PfAction::Match,
        "anchor" => {
            let n = c.next().ok_or((c.col(), "anchor name missing".into()))?;
            PfAction::Anchor {
                name: n.text.clone(),
                inline: None,
            }
        }
        _ => {
            let how = match c.peek() {
                Some("drop") => BlockHow::Drop,
                Some("return") => BlockHow::Return,
                Some("return-rst") => BlockHow::ReturnRst,
                Some("return-icmp") | Some("return-icmp6") => BlockHow::ReturnIcmp,
                _ => BlockHow::Policy,
            };
            if how != BlockHow::Policy {
                c.i += 1;
                if c.eat("(") {
                    while c.next().is_some_and(|x| x.text != ")") {}
                }
            }
            PfAction::Block(how)
        }
    })
}

fn side(c: &mut Cur<'_>) -> R<Side> {
    let mut s = Side::default();
    if c.peek() != Some("port") {
        s.hosts = c.list(host)?;
        // `any` in a list makes the whole list match anything (pf expands lists into one
        // rule per element).
        if s.hosts.iter().any(|h| h.host == Host::Any && !h.negated) {
            s.hosts.clear();
        }
    }
    if c.eat("port") {
        s.ports = c.list(port_op)?;
    }
    Ok(s)
}

fn host(c: &mut Cur<'_>) -> R<HostTerm> {
    let negated = c.eat("!");
    if c.eat("(") {
        let n = c
            .next()
            .ok_or((c.col(), "interface missing in `( )`".into()))?;
        c.eat(")");
        let (name, network) = iface_addr(&n.text);
        return Ok(HostTerm {
            negated,
            host: Host::Interface { name, network },
        });
    }
    let t = c.next().ok_or((c.col(), "address missing".into()))?;
    let w = t.text.as_str();
    let host = match w {
        "any" => Host::Any,
        "self" => Host::SelfAddr,
        "no-route" => Host::NoRoute,
        "urpf-failed" => Host::UrpfFailed,
        "route" => Host::Other(format!(
            "route {}",
            c.next().map_or("", |x| x.text.as_str())
        )),
        _ if w.starts_with('<') && w.ends_with('>') => Host::Table(w[1..w.len() - 1].to_string()),
        _ => match IpRange::parse(w) {
            Some(r) => Host::Range(r),
            None if looks_like_interface(w) => {
                let (name, network) = iface_addr(w);
                Host::Interface { name, network }
            }
            None => Host::Other(w.to_string()),
        },
    };
    Ok(HostTerm { negated, host })
}

/// `en0`, `en0:network`, `en0:0`.
fn iface_addr(w: &str) -> (String, bool) {
    match w.split_once(':') {
        Some((n, m)) => (n.to_string(), m == "network"),
        None => (w.to_string(), false),
    }
}

/// An interface-like word: letters then digits (`lo0`, `en0`, `igb3`), optional `:mod`.
fn looks_like_interface(w: &str) -> bool {
    let base = w.split(':').next().unwrap_or("");
    let letters = base.chars().take_while(|c| c.is_ascii_alphabetic()).count();
    letters > 0 && letters < base.len() && base[letters..].chars().all(|c| c.is_ascii_digit())
}

fn port_op(c: &mut Cur<'_>) -> R<PortOp> {
    let col = c.col();
    let first = c.next().ok_or((col, "port missing".into()))?.text.clone();
    let one = |s: &str, col: usize| port_number(s).ok_or((col, format!("`{s}` is not a port")));
    match first.as_str() {
        "=" => Ok(PortOp::In(point(one(
            &c.next().map_or(String::new(), |x| x.text.clone()),
            col,
        )?))),
        "!" | "!=" => {
            c.eat("=");
            Ok(PortOp::Not(one(
                &c.next().map_or(String::new(), |x| x.text.clone()),
                col,
            )?))
        }
        "<" | "<=" | ">" | ">=" => {
            let p = one(&c.next().map_or(String::new(), |x| x.text.clone()), col)?;
            let span = match first.as_str() {
                "<" if p > 0 => PortSpan { lo: 0, hi: p - 1 },
                "<=" => PortSpan { lo: 0, hi: p },
                ">" if p < u16::MAX => PortSpan {
                    lo: p + 1,
                    hi: u16::MAX,
                },
                ">=" => PortSpan {
                    lo: p,
                    hi: u16::MAX,
                },
                _ => return Err((col, "empty port range".into())),
            };
            Ok(PortOp::Cmp(span))
        }
        w => {
            if let Some((a, b)) = w.split_once(':') {
                let (lo, hi) = (one(a, col)?, one(b, col)?);
                return Ok(PortOp::In(PortSpan {
                    lo: lo.min(hi),
                    hi: lo.max(hi),
                }));
            }
            let a = one(w, col)?;
            match c.peek() {
                Some("><") | Some("<>") => {
                    let op = c.next().map(|x| x.text.clone()).unwrap_or_default();
                    let b = one(&c.next().map_or(String::new(), |x| x.text.clone()), col)?;
                    Ok(if op == "><" {
                        PortOp::Between(a, b)
                    } else {
                        PortOp::Outside(a, b)
                    })
                }
                _ => Ok(PortOp::In(point(a))),
            }
        }
    }
}

fn point(p: u16) -> PortSpan {
    PortSpan { lo: p, hi: p }
}

/// Rule options after the addresses; conditions this reader does not model are kept.
fn options(c: &mut Cur<'_>, r: &mut PfRule) -> R<()> {
    while let Some(w) = c.peek() {
        c.i += 1;
        match w {
            "flags" => {
                let f = c.next().ok_or((c.col(), "flags missing".into()))?;
                r.flags = flags(&f.text).ok_or((f.col, format!("bad flags `{}`", f.text)))?;
            }
            "label" => r.label = c.next().map(|x| x.text.clone()),
            "no" if c.eat("state") => r.no_state = true,
            "user" | "group" | "tagged" | "os" | "probability" | "received-on" | "tos"
            | "rtable" | "prio" | "rdomain" => {
                let mut text = w.to_string();
                if c.eat("{") {
                    while let Some(x) = c.next() {
                        if x.text == "}" {
                            break;
                        }
                        text.push(' ');
                        text.push_str(&x.text);
                    }
                } else if let Some(x) = c.next() {
                    text.push(' ');
                    text.push_str(&x.text);
                }
                r.unmodelled.push(Unmodelled { text });
            }
            "icmp-type" | "icmp6-type" => {
                // Only ICMP packets can match; keep the type as unmodelled for ICMP.
                let ty = c.next().map_or(String::new(), |x| x.text.clone());
                r.unmodelled.push(Unmodelled {
                    text: format!("{w} {ty}"),
                });
            }
            "(" => {
                // keep state (…), log (…) options: skip to the matching `)`.
                let mut depth = 1;
                while depth > 0 {
                    match c.next().map(|x| x.text.as_str()) {
                        Some("(") => depth += 1,
                        Some(")") => depth -= 1,
                        None => return Err((c.col(), "unclosed `(`".into())),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `S/SA` → (set, mask); `any` → None.
fn flags(s: &str) -> Option<Option<(u8, u8)>> {
    if s == "any" {
        return Some(None);
    }
    let (set, mask) = s.split_once('/').unwrap_or((s, "FSRPAUEW"));
    let bits = |x: &str| -> Option<u8> {
        x.chars().try_fold(0u8, |acc, c| {
            let b = match c {
                'F' => 0x01,
                'S' => 0x02,
                'R' => 0x04,
                'P' => 0x08,
                'A' => 0x10,
                'U' => 0x20,
                'E' => 0x40,
                'W' => 0x80,
                _ => return None,
            };
            Some(acc | b)
        })
    };
    Some(Some((bits(set)?, bits(mask)?)))
}

/// Protocol name or number.
pub(crate) fn proto_number(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    Some(match s {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmp6" | "ipv6-icmp" => 58,
        "esp" => 50,
        "ah" => 51,
        "gre" => 47,
        "igmp" => 2,
        "carp" | "vrrp" => 112,
        "pfsync" => 240,
        "sctp" => 132,
        "ipv6" => 41,
        "ospf" => 89,
        "pim" => 103,
        _ => return None,
    })
}

/// Port number or service name (the /etc/services names pf.conf files use).
pub(crate) fn port_number(s: &str) -> Option<u16> {
    if let Ok(n) = s.parse() {
        return Some(n);
    }
    Some(match s {
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "www" | "http" => 80,
        "kerberos" => 88,
        "pop3" => 110,
        "auth" => 113,
        "nntp" => 119,
        "ntp" => 123,
        "netbios-ns" => 137,
        "netbios-dgm" => 138,
        "netbios-ssn" => 139,
        "imap" | "imap2" => 143,
        "snmp" => 161,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" => 445,
        "isakmp" => 500,
        "syslog" => 514,
        "submission" => 587,
        "imap4-ssl" => 585,
        "ldaps" => 636,
        "imaps" => 993,
        "pop3s" => 995,
        "openvpn" => 1194,
        "nfsd" => 2049,
        "eyetv" => 2170,
        "mysql" => 3306,
        "postgresql" => 5432,
        "privoxy" => 8118,
        _ => return None,
    })
}

/// `pfctl -t NAME -T show` output: one address (or `!address`) per line.
pub(crate) fn table_listing(text: &str) -> Result<PfTable, Bad> {
    let mut t = PfTable {
        entries: vec![],
        unresolved: vec![],
        constant: false,
        live: true,
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let (neg, a) = match line.strip_prefix('!') {
            Some(x) => (true, x.trim()),
            None => (false, line),
        };
        let r = IpRange::parse(a).ok_or_else(|| Bad {
            line: i + 1,
            col: raw.len() - raw.trim_start().len() + 1,
            msg: format!("`{a}` is not an address or prefix"),
        })?;
        t.entries.push((neg, r));
    }
    Ok(t)
}
