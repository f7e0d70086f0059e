//! Reader for `nft -j list ruleset` (libnftables JSON, schema version 1).
//!
//! Every expression that is not modelled becomes an explicit [`Match::Unmodelled`] (or
//! [`Action::Unmodelled`] for verdicts and packet rewrites); only malformed JSON is an error.
//! Tables that belong to iptables-nft are flagged ([`Table::iptables_nft_owned`]).

mod nat;

use crate::backend::names;
pub use crate::backend::nft_render::render;
use crate::error::ParseError;
use crate::model::{
    Action, Backend, BaseChain, Chain, Elem, Family, Field, Hook, Match, NamedSet, Policy,
    RejectKind, Rule, Ruleset, Statement, Table, Values, VerdictMap,
};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Parse the JSON printed by `nft -j list ruleset`.
///
/// Errors only for text that is not JSON or not an `{"nftables": [...]}` document; the error
/// carries the line and column serde_json reports.
pub fn parse_nft_json(text: &str) -> Result<Ruleset, ParseError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ParseError::new(e.line(), e.column(), e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::new(1, 1, "expected an object with an \"nftables\" array"))?;
    Ok(parse_items(items))
}

/// The model of the items of an `{"nftables": [...]}` listing (also built by the native
/// netlink reader, so both readers share one interpretation).
pub(crate) fn parse_items(items: &[Value]) -> Ruleset {
    let mut rs = Ruleset {
        backend: Some(Backend::Nftables),
        tables: vec![],
        ipsets: None,
    };
    let mut tix: HashMap<(Family, String), usize> = HashMap::new();
    let mut cix: Vec<HashMap<String, usize>> = vec![];
    for item in items {
        let Some(obj) = item.as_object() else {
            continue;
        };
        for (kind, body) in obj {
            let Some(b) = body.as_object() else { continue };
            match kind.as_str() {
                "table" => {
                    let (Some(fam), Some(name)) = (family(b), str_of(b, "name")) else {
                        continue;
                    };
                    tix.entry((fam, name.to_string())).or_insert_with(|| {
                        let handle = b.get("handle").and_then(Value::as_u64);
                        rs.tables.push(Table::new(fam, name, handle));
                        cix.push(HashMap::new());
                        rs.tables.len() - 1
                    });
                }
                "chain" => {
                    let Some(ti) = table_of(&mut rs, &mut tix, &mut cix, b) else {
                        continue;
                    };
                    let Some(name) = str_of(b, "name") else {
                        continue;
                    };
                    if cix[ti].contains_key(name) {
                        continue;
                    }
                    let chain = Chain {
                        name: name.to_string(),
                        handle: b.get("handle").and_then(Value::as_u64),
                        base: base_chain(b),
                        rules: vec![],
                    };
                    cix[ti].insert(name.to_string(), rs.tables[ti].chains.len());
                    rs.tables[ti].chains.push(chain);
                }
                "set" | "map" => {
                    let Some(ti) = table_of(&mut rs, &mut tix, &mut cix, b) else {
                        continue;
                    };
                    rs.tables[ti].sets.push(named_set(b, kind == "map"));
                }
                "rule" => {
                    let Some(ti) = table_of(&mut rs, &mut tix, &mut cix, b) else {
                        continue;
                    };
                    let Some(cname) = str_of(b, "chain") else {
                        continue;
                    };
                    let ci = match cix[ti].get(cname) {
                        Some(&ci) => ci,
                        None => {
                            cix[ti].insert(cname.to_string(), rs.tables[ti].chains.len());
                            rs.tables[ti].chains.push(Chain {
                                name: cname.to_string(),
                                handle: None,
                                base: None,
                                rules: vec![],
                            });
                            rs.tables[ti].chains.len() - 1
                        }
                    };
                    let pos = rs.tables[ti].chains[ci].rules.len() + 1;
                    let rule = parse_rule(b, pos);
                    rs.tables[ti].chains[ci].rules.push(rule);
                }
                _ => {}
            }
        }
    }
    for t in &mut rs.tables {
        t.iptables_nft_owned = is_iptables_nft_table(t, items);
    }
    rs
}

/// Whether an nft table belongs to iptables-nft (built-in chain names, or `xt` expressions).
pub(crate) fn is_iptables_nft_table(t: &Table, _items: &[Value]) -> bool {
    if !is_iptables_table_name(t.family, &t.name) {
        return false;
    }
    let has_xt = t.chains.iter().any(|c| {
        c.rules
            .iter()
            .any(|r| r.text.contains("xt ") || r.text.starts_with("xt"))
    });
    has_xt || has_iptables_nft_layout(t.family, &t.name, base_chain_names(t))
}

fn base_chain_names(t: &Table) -> impl Iterator<Item = &str> {
    t.chains
        .iter()
        .filter(|c| c.base.is_some())
        .map(|c| c.name.as_str())
}

/// One of iptables' tables: `filter`, `nat`, `mangle`, `raw` or `security` of `ip` or `ip6`.
fn is_iptables_table_name(family: Family, name: &str) -> bool {
    matches!(family, Family::Ip | Family::Ip6)
        && matches!(name, "filter" | "nat" | "mangle" | "raw" | "security")
}

/// Whether a table is iptables-nft's by its layout alone, before any rule is read: one of
/// iptables' tables whose base chains (`base_chains`: their names) are all built-in ones
/// (`INPUT`, `OUTPUT`, `FORWARD`, `PREROUTING`, `POSTROUTING`), at least one. Such a table
/// is owned whatever its rules are ([`is_iptables_nft_table`] only adds the `xt` test).
pub(crate) fn has_iptables_nft_layout<'a>(
    family: Family,
    name: &str,
    base_chains: impl IntoIterator<Item = &'a str>,
) -> bool {
    let builtin = |n: &str| {
        matches!(
            n,
            "INPUT" | "OUTPUT" | "FORWARD" | "PREROUTING" | "POSTROUTING"
        )
    };
    let mut bases = base_chains.into_iter().peekable();
    is_iptables_table_name(family, name) && bases.peek().is_some() && bases.all(builtin)
}

fn str_of<'a>(b: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    b.get(k).and_then(Value::as_str)
}

fn family(b: &Map<String, Value>) -> Option<Family> {
    str_of(b, "family").and_then(Family::from_name)
}

fn table_of(
    rs: &mut Ruleset,
    tix: &mut HashMap<(Family, String), usize>,
    cix: &mut Vec<HashMap<String, usize>>,
    b: &Map<String, Value>,
) -> Option<usize> {
    let fam = family(b)?;
    let name = str_of(b, "table")?;
    Some(*tix.entry((fam, name.to_string())).or_insert_with(|| {
        rs.tables.push(Table::new(fam, name, None));
        cix.push(HashMap::new());
        rs.tables.len() - 1
    }))
}

fn base_chain(b: &Map<String, Value>) -> Option<BaseChain> {
    let hook = str_of(b, "hook")?;
    let priority = match b.get("prio") {
        Some(Value::Number(n)) => n
            .as_i64()
            .unwrap_or(0)
            .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        Some(Value::String(s)) => names::priority_name(s).unwrap_or(0),
        _ => 0,
    };
    let policy = match str_of(b, "policy") {
        Some("drop") => Policy::Drop,
        _ => Policy::Accept,
    };
    let devices = match b.get("dev") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => vec![],
    };
    Some(BaseChain {
        hook: Hook::from_name(hook),
        chain_type: str_of(b, "type").unwrap_or("filter").to_string(),
        priority,
        policy,
        devices,
    })
}

/// Value type of a key component, used to convert JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Ip4,
    Ip6,
    Port,
    Proto,
    NfProto,
    Iface,
    CtState,
    AddrType,
    TcpFlags,
    Int,
    PktType,
    CtStatus,
    EtherType,
}

fn ty_of_field(f: Field) -> Ty {
    match f {
        Field::NfProto => Ty::NfProto,
        Field::L4Proto => Ty::Proto,
        Field::Saddr4 | Field::Daddr4 => Ty::Ip4,
        Field::Saddr6 | Field::Daddr6 => Ty::Ip6,
        Field::Sport
        | Field::Dport
        | Field::TcpSport
        | Field::TcpDport
        | Field::UdpSport
        | Field::UdpDport => Ty::Port,
        Field::Iifname | Field::Oifname => Ty::Iface,
        Field::CtState => Ty::CtState,
        Field::DaddrType | Field::DaddrTypeXt => Ty::AddrType,
        Field::TcpFlags => Ty::TcpFlags,
        Field::Mark => Ty::Int,
        Field::PktType => Ty::PktType,
        Field::CtMark => Ty::Int,
        Field::EtherType => Ty::EtherType,
        Field::CtStatus => Ty::CtStatus,
        Field::CtProto => Ty::Proto,
        Field::CtOrigSport | Field::CtOrigDport => Ty::Port,
        Field::RpfStrict | Field::RpfLoose => Ty::Int,
        Field::SaddrType => Ty::AddrType,
    }
}

fn ty_of_name(s: &str) -> Option<Ty> {
    Some(match s {
        "ipv4_addr" => Ty::Ip4,
        "ipv6_addr" => Ty::Ip6,
        "inet_service" => Ty::Port,
        "inet_proto" => Ty::Proto,
        "ifname" => Ty::Iface,
        "ct_state" => Ty::CtState,
        "mark" => Ty::Int,
        _ => return None,
    })
}

/// Convert one JSON value of type `ty` into elements (a set may yield several).
fn conv(ty: Ty, v: &Value, out: &mut Vec<Elem>) -> Result<(), String> {
    match v {
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                let addr = p.get("addr").ok_or("prefix without addr")?;
                let len = p
                    .get("len")
                    .and_then(Value::as_u64)
                    .ok_or("prefix without len")?;
                let base = single(ty, addr)?;
                let bits = match ty {
                    Ty::Ip4 => 32,
                    Ty::Ip6 => 128,
                    _ => return Err("prefix on a non-address".into()),
                };
                out.push(names::prefix_range(base, len as u32, bits));
                Ok(())
            } else if let Some(r) = o.get("range").and_then(Value::as_array) {
                if r.len() != 2 {
                    return Err("range without two ends".into());
                }
                let a = single(ty, &r[0])?;
                let b = single(ty, &r[1])?;
                out.push(Elem::Range(a.min(b), a.max(b)));
                Ok(())
            } else if let Some(s) = o.get("set").and_then(Value::as_array) {
                for x in s {
                    conv(ty, x, out)?;
                }
                Ok(())
            } else if let Some(e) = o.get("elem") {
                conv(ty, e.get("val").ok_or("elem without val")?, out)
            } else {
                Err(format!("value {v} not modelled"))
            }
        }
        Value::Array(a) if matches!(ty, Ty::CtState | Ty::TcpFlags | Ty::CtStatus) => {
            // A flag list: OR of the bits (used with `==` against a mask result).
            let mut bits = 0;
            for x in a {
                bits |= single(ty, x)?;
            }
            out.push(Elem::val(bits));
            Ok(())
        }
        Value::String(s) if ty == Ty::Iface => {
            let (name, wildcard) = match s.strip_suffix('*') {
                Some(p) if !p.ends_with('\\') => (p.to_string(), true),
                _ => (s.replace("\\*", "*"), false),
            };
            out.push(Elem::Iface { name, wildcard });
            Ok(())
        }
        Value::Bool(b) if ty == Ty::Int => {
            out.push(Elem::val(u128::from(*b)));
            Ok(())
        }
        _ => {
            out.push(Elem::val(single(ty, v)?));
            Ok(())
        }
    }
}

fn single(ty: Ty, v: &Value) -> Result<u128, String> {
    if let Some(n) = v.as_u64() {
        return Ok(n as u128);
    }
    let s = v
        .as_str()
        .ok_or_else(|| format!("value {v} not modelled"))?;
    let r = match ty {
        Ty::Ip4 => s
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|a| u32::from(a) as u128),
        Ty::Ip6 => s.parse::<std::net::Ipv6Addr>().ok().map(u128::from),
        Ty::Port => names::service_port(s).map(u128::from),
        Ty::Proto => names::proto_number(s).map(u128::from),
        Ty::NfProto => match s {
            "ipv4" => Some(2),
            "ipv6" => Some(10),
            _ => None,
        },
        Ty::CtState => names::ct_state_bit(s),
        Ty::AddrType => names::addr_type(s),
        Ty::TcpFlags => names::tcp_flag(s),
        Ty::PktType => names::pkt_type(s),
        Ty::EtherType => match s {
            "ip" => Some(0x0800),
            "ip6" => Some(0x86dd),
            "arp" => Some(0x0806),
            "vlan" | "8021q" => Some(0x8100),
            _ => None,
        },
        Ty::CtStatus => names::ct_status(s),
        Ty::Iface => None,
        Ty::Int => s
            .strip_prefix("0x")
            .and_then(|h| u128::from_str_radix(h, 16).ok())
            .or_else(|| s.parse().ok()),
    };
    r.ok_or_else(|| format!("value \"{s}\" not modelled"))
}

fn named_set(b: &Map<String, Value>, is_map: bool) -> NamedSet {
    let name = str_of(b, "name").unwrap_or_default().to_string();
    let key_types: Vec<String> = match b.get("type") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => vec![],
    };
    let mut set = NamedSet {
        name,
        key_types: key_types.clone(),
        elements: None,
        verdicts: None,
        unknown_reason: None,
    };
    let tys: Option<Vec<Ty>> = key_types.iter().map(|t| ty_of_name(t)).collect();
    let Some(tys) = tys.filter(|t| !t.is_empty()) else {
        set.unknown_reason = Some(format!(
            "set key type {} not modelled",
            key_types.join(" . ")
        ));
        return set;
    };
    if is_map && str_of(b, "map") != Some("verdict") {
        set.unknown_reason = Some("data map (not a verdict map) not modelled".into());
        return set;
    }
    let empty = vec![];
    let elems = b.get("elem").and_then(Value::as_array).unwrap_or(&empty);
    let mut out = Vec::with_capacity(elems.len());
    let mut verdicts = Vec::new();
    for e in elems {
        let (key, verdict) = match (is_map, e) {
            (true, Value::Array(kv)) if kv.len() == 2 => (&kv[0], Some(&kv[1])),
            (true, _) => {
                set.unknown_reason = Some(format!("map element {e} not understood"));
                return set;
            }
            (false, _) => (e, None),
        };
        match key_elems(&tys, key) {
            Ok(k) => {
                let n = k.len();
                out.extend(k);
                if let Some(v) = verdict {
                    let a = verdict_action(v).unwrap_or_else(|| {
                        Action::Unmodelled(format!("map verdict {v} not modelled"))
                    });
                    verdicts.extend(std::iter::repeat_n(a, n));
                }
            }
            Err(r) => {
                set.unknown_reason = Some(format!("element of @{}: {r}", set.name));
                return set;
            }
        }
    }
    set.elements = Some(out);
    if is_map {
        set.verdicts = Some(verdicts);
    }
    set
}

/// Elements for one set entry: a concatenation yields one entry; a single-field value yields
/// one entry per element (a `{"set": [...]}` may contain many).
fn key_elems(tys: &[Ty], v: &Value) -> Result<Vec<Vec<Elem>>, String> {
    let v = match v.get("elem").and_then(|e| e.get("val")) {
        Some(inner) => inner,
        None => v,
    };
    if tys.len() == 1 {
        let mut out = vec![];
        conv(tys[0], v, &mut out)?;
        return Ok(out.into_iter().map(|e| vec![e]).collect());
    }
    let parts = v
        .get("concat")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("expected a concatenation, got {v}"))?;
    if parts.len() != tys.len() {
        return Err("concatenation length differs from the key".into());
    }
    let mut entry = Vec::with_capacity(tys.len());
    for (t, p) in tys.iter().zip(parts) {
        let mut one = vec![];
        conv(*t, p, &mut one)?;
        if one.len() != 1 {
            return Err("set inside a concatenation not modelled".into());
        }
        entry.push(one.remove(0));
    }
    Ok(vec![entry])
}

/// The field a left-hand expression reads, plus extra dependency matches.
fn left_field(v: &Value) -> Result<(Field, Vec<Match>), String> {
    let o = v.as_object().ok_or_else(|| format!("{v} not modelled"))?;
    if let Some(p) = o.get("payload") {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("");
        let field = p.get("field").and_then(Value::as_str).unwrap_or("");
        let f = match (proto, field) {
            ("ip", "saddr") => Field::Saddr4,
            ("ip", "daddr") => Field::Daddr4,
            ("ip6", "saddr") => Field::Saddr6,
            ("ip6", "daddr") => Field::Daddr6,
            ("tcp", "sport") => Field::TcpSport,
            ("tcp", "dport") => Field::TcpDport,
            ("tcp", "flags") => Field::TcpFlags,
            ("udp", "sport") => Field::UdpSport,
            ("udp", "dport") => Field::UdpDport,
            ("th", "sport") => Field::Sport,
            ("th", "dport") => Field::Dport,
            ("ip", "protocol") => return Ok((Field::L4Proto, vec![nfproto_dep(2)])),
            ("ip6", "nexthdr") => return Ok((Field::L4Proto, vec![nfproto_dep(10)])),
            _ => return Err(format!("payload {proto} {field} not modelled")),
        };
        return Ok((f, vec![]));
    }
    if let Some(m) = o.get("meta") {
        let f = match m.get("key").and_then(Value::as_str).unwrap_or("") {
            "pkttype" => Field::PktType,
            "protocol" => Field::EtherType,
            "l4proto" => Field::L4Proto,
            "nfproto" => Field::NfProto,
            "iifname" | "iif" => Field::Iifname,
            "oifname" | "oif" => Field::Oifname,
            "mark" => Field::Mark,
            k => return Err(format!("meta {k} not modelled")),
        };
        return Ok((f, vec![]));
    }
    if let Some(c) = o.get("ct") {
        return match (c.get("key").and_then(Value::as_str), c.get("dir")) {
            (Some("state"), None) => Ok((Field::CtState, vec![])),
            (Some("status"), None) => Ok((Field::CtStatus, vec![])),
            (Some("mark"), None) => Ok((Field::CtMark, vec![])),
            (k, _) => Err(format!("ct {} not modelled", k.unwrap_or("?"))),
        };
    }
    if let Some(f) = o.get("fib") {
        let flags: Vec<&str> = f
            .get("flags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let result = f.get("result").and_then(Value::as_str);
        if result == Some("type") && flags == ["daddr"] {
            return Ok((Field::DaddrType, vec![]));
        }
        if result == Some("type") && flags == ["saddr"] {
            return Ok((Field::SaddrType, vec![]));
        }
        // The packet mark can steer policy routing; the table read has no `ip rule` by mark
        // in the cases this models (see the README's assumptions).
        let rest: Vec<&str> = flags.iter().copied().filter(|f| *f != "mark").collect();
        if result == Some("oif") {
            match rest.as_slice() {
                ["saddr", "iif"] => return Ok((Field::RpfStrict, vec![])),
                ["saddr"] => return Ok((Field::RpfLoose, vec![])),
                _ => {}
            }
        }
        return Err("fib lookup other than `fib daddr type` not modelled".into());
    }
    Err(format!("expression {} not modelled", compact(v)))
}

/// Dependency matches implied by the payload protocols a (possibly unmodelled) expression
/// reads: `icmp type` implies IPv4 + ICMP, `ip ttl` implies IPv4, `tcp option` implies TCP …
fn payload_deps(v: &Value) -> Vec<Match> {
    let mut protos: Vec<&str> = vec![];
    collect_payload_protocols(v, &mut protos);
    let mut out = vec![];
    for p in protos {
        let (nf, l4): (Option<u128>, Option<u128>) = match p {
            "ip" => (Some(2), None),
            "ip6" => (Some(10), None),
            "icmp" => (Some(2), Some(1)),
            "icmpv6" => (Some(10), Some(58)),
            "igmp" => (Some(2), Some(2)),
            "tcp" => (None, Some(6)),
            "udp" => (None, Some(17)),
            "udplite" => (None, Some(136)),
            "sctp" => (None, Some(132)),
            "dccp" => (None, Some(33)),
            "esp" => (None, Some(50)),
            "ah" => (None, Some(51)),
            "gre" => (None, Some(47)),
            _ => (None, None),
        };
        if let Some(n) = nf {
            out.push(nfproto_dep(n));
        }
        if let Some(l) = l4 {
            out.push(Match::Cmp {
                key: vec![Field::L4Proto],
                mask: None,
                negated: false,
                values: Values::Inline(vec![vec![Elem::val(l)]]),
            });
        }
    }
    out
}

fn collect_payload_protocols<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::Object(o) => {
            if let Some(p) = o
                .get("payload")
                .and_then(|p| p.get("protocol"))
                .and_then(Value::as_str)
            {
                out.push(p);
            }
            for (k, x) in o {
                if k != "payload" {
                    collect_payload_protocols(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_payload_protocols(x, out)),
        _ => {}
    }
}

/// `meta nfproto N`, as a dependency match.
pub(crate) fn nfproto_dep(n: u128) -> Match {
    Match::Cmp {
        key: vec![Field::NfProto],
        mask: None,
        negated: false,
        values: Values::Inline(vec![vec![Elem::val(n)]]),
    }
}

/// Key fields of a left-hand side: one field, a concatenation, or `field & mask`.
/// Key fields, optional mask, and dependency matches of a left-hand side.
pub(crate) type LeftKey = (Vec<Field>, Option<u128>, Vec<Match>);

fn left_key(v: &Value) -> Result<LeftKey, String> {
    if let Some(parts) = v.get("concat").and_then(Value::as_array) {
        let mut fields = vec![];
        let mut deps = vec![];
        for p in parts {
            let (f, d) = left_field(p)?;
            fields.push(f);
            deps.extend(d);
        }
        return Ok((fields, None, deps));
    }
    if let Some(and) = v.get("&").and_then(Value::as_array) {
        if and.len() == 2 {
            let (f, d) = left_field(&and[0])?;
            let mask = single_or_flags(ty_of_field(f), &and[1])?;
            return Ok((vec![f], Some(mask), d));
        }
    }
    let (f, d) = left_field(v)?;
    Ok((vec![f], None, d))
}

/// The key of a left-hand side `field & mask` (mask as nft writes it: a number, a name, or a
/// list of flag names).
pub(crate) fn masked_key(f: Field, mask: &Value) -> Result<u128, String> {
    single_or_flags(ty_of_field(f), mask)
}

fn single_or_flags(ty: Ty, v: &Value) -> Result<u128, String> {
    match v {
        Value::Array(a) => a.iter().try_fold(0, |acc, x| Ok(acc | single(ty, x)?)),
        _ => single(ty, v),
    }
}

fn parse_match(m: &Value) -> Vec<Match> {
    let unmodelled = |reason: String| {
        vec![Match::Unmodelled {
            reason,
            text: render(&serde_json::json!({ "match": m })),
        }]
    };
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else {
        return unmodelled("match without left/right".into());
    };
    if nat::numgen(left).is_some() {
        // `numgen random mod 2 == 0`: holds for some connections, not for others.
        return vec![Match::Chance {
            text: render(&serde_json::json!({ "match": m })),
        }];
    }
    let key = match left_key(left) {
        Ok(k) => k,
        Err(r) => {
            // The field is not modelled, but the protocol it belongs to is: a packet of
            // another protocol cannot match (nft adds that dependency itself).
            let mut v = payload_deps(left);
            v.extend(unmodelled(r));
            return v;
        }
    };
    match match_with_key(key, op, right) {
        Ok(v) => v,
        Err(r) => unmodelled(r),
    }
}

/// The matches of `key op right` once the left side is known (key fields, mask, the
/// dependency matches it implies); `Err` with the reason when the right side or the operator
/// is not modelled (the caller writes the unmodelled match).
pub(crate) fn match_with_key(
    (key, mut mask, mut out): LeftKey,
    op: &str,
    right: &Value,
) -> Result<Vec<Match>, String> {
    let unmodelled = |r: String| -> Result<Vec<Match>, String> { Err(r) };
    let flaggy =
        key.len() == 1 && matches!(key[0], Field::CtState | Field::TcpFlags | Field::CtStatus);
    let values = if let Some(name) = right.as_str().and_then(|s| s.strip_prefix('@')) {
        Values::Named(name.to_string())
    } else if key.len() > 1 {
        let tys: Vec<Ty> = key.iter().map(|f| ty_of_field(*f)).collect();
        let entries = match right.get("set").and_then(Value::as_array) {
            Some(items) => items
                .iter()
                .map(|i| key_elems(&tys, i))
                .collect::<Result<Vec<_>, _>>(),
            None => key_elems(&tys, right).map(|e| vec![e]),
        };
        match entries {
            Ok(e) => Values::Inline(e.into_iter().flatten().collect()),
            Err(r) => return unmodelled(r),
        }
    } else {
        let ty = ty_of_field(key[0]);
        let mut elems = vec![];
        if let Err(r) = conv(ty, right, &mut elems) {
            return unmodelled(r);
        }
        Values::Inline(elems.into_iter().map(|e| vec![e]).collect())
    };
    let mut negated = false;
    let values = match op {
        "==" => values,
        "!=" => {
            negated = true;
            values
        }
        "in" if flaggy
            && !matches!(right, Value::Object(_))
            && !matches!(values, Values::Named(_)) =>
        {
            // Bit test: (field & bits) != 0.
            let bits = match &values {
                Values::Inline(v) => v.iter().fold(0u128, |acc, e| match e.first() {
                    Some(Elem::Range(a, _)) => acc | a,
                    _ => acc,
                }),
                _ => 0,
            };
            mask = Some(mask.map_or(bits, |m| m & bits));
            negated = true;
            Values::Inline(vec![vec![Elem::val(0)]])
        }
        "in" => values,
        "<" | ">" | "<=" | ">=" => {
            let Values::Inline(v) = &values else {
                return unmodelled(format!("operator {op} with a set"));
            };
            let Some(Some(Elem::Range(n, _))) = v.first().map(|e| e.first()) else {
                return unmodelled(format!("operator {op} operand"));
            };
            let n = *n;
            let max = u128::MAX;
            let r = match op {
                "<" if n == 0 => None,
                "<" => Some((0, n - 1)),
                "<=" => Some((0, n)),
                ">" if n == max => None,
                ">" => Some((n + 1, max)),
                _ => Some((n, max)),
            };
            Values::Inline(
                r.map(|(a, b)| vec![vec![Elem::Range(a, b)]])
                    .into_iter()
                    .flatten()
                    .collect(),
            )
        }
        _ => return unmodelled(format!("operator {op} not modelled")),
    };
    // `ct state established` etc. with a single bit and `==`: equality is exact, which for a
    // packet (one state bit) is the same as membership. A multi-bit `==` cannot hold.
    out.push(Match::Cmp {
        key,
        mask,
        negated,
        values,
    });
    Ok(out)
}

fn reject_kind(v: &Value) -> RejectKind {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    let expr = v.get("expr").and_then(Value::as_str).unwrap_or("");
    match (ty, expr) {
        ("tcp reset", _) => RejectKind::TcpReset,
        (_, "") => RejectKind::PortUnreachable,
        (_, e) => names::reject_kind(e),
    }
}

pub(crate) fn verdict_action(v: &Value) -> Option<Action> {
    let o = v.as_object()?;
    let (k, b) = o.iter().next()?;
    Some(match k.as_str() {
        "accept" => Action::Accept,
        "drop" => Action::Drop,
        "return" => Action::Return,
        "continue" => Action::Continue,
        "reject" => Action::Reject(reject_kind(b)),
        "jump" => Action::Jump(b.get("target")?.as_str()?.to_string()),
        "goto" => Action::Goto(b.get("target")?.as_str()?.to_string()),
        _ => return None,
    })
}

/// The model of one `{"rule": {...}}` body at 1-based `position` in its chain.
pub(crate) fn parse_rule(b: &Map<String, Value>, position: usize) -> Rule {
    let mut matches = vec![];
    let mut statements = vec![];
    let mut action = Action::Continue;
    let mut texts = vec![];
    let empty = vec![];
    let exprs = b.get("expr").and_then(Value::as_array).unwrap_or(&empty);
    let mut effects: Vec<(usize, Statement)> = vec![];
    let mut pending_from: Option<usize> = None;
    for e in exprs {
        // Move state-changing statements pushed by the previous expression into `effects`,
        // remembering how many matches preceded them.
        if let Some(from) = pending_from.take() {
            take_effects(&mut statements, from, matches.len(), &mut effects);
        }
        texts.push(render(e));
        let Some(o) = e.as_object() else { continue };
        let Some((k, body)) = o.iter().next() else {
            continue;
        };
        let stmts_before = statements.len();
        pending_from = Some(stmts_before);
        if k != "match" {
            // Payload expressions inside statements (e.g. `add @s { ip saddr }`) carry the
            // same protocol dependencies as in matches: the rule breaks without them.
            matches.extend(payload_deps(body));
        }
        match k.as_str() {
            "match" => matches.extend(parse_match(body)),
            "counter" => statements.push(Statement::Counter),
            "log" => statements.push(Statement::Log(render(e))),
            "limit" | "meter" | "ct count" if stateful_assumption(body).is_some() => {
                matches.push(assumed(body, render(e)))
            }
            "limit" | "quota" | "meter" | "numgen" | "hash" => matches.push(Match::Unmodelled {
                reason: format!("{k} depends on traffic history, not on this packet"),
                text: render(e),
            }),
            "notrack" => statements.push(Statement::Notrack),
            // Written by the native netlink reader for a verdict or rewrite it does not decode.
            "nl_raw_action" => {
                action = Action::Unmodelled(format!(
                    "nf_tables expression not decoded: {}",
                    body.as_str().unwrap_or("?")
                ))
            }
            // Written by the native netlink reader for an expression it does not decode.
            "nl_raw" => matches.push(Match::Unmodelled {
                reason: format!(
                    "nf_tables expression not decoded: {}",
                    body.as_str().unwrap_or("?")
                ),
                text: body.as_str().unwrap_or("?").to_string(),
            }),
            "mangle" => statements.push(mangle(body, e)),
            "xt" => {
                let name = body.get("name").and_then(Value::as_str).unwrap_or("?");
                let why = format!(
                    "iptables-nft extension `{name}` (evaluate this table from iptables-nft-save)"
                );
                if body.get("type").and_then(Value::as_str) == Some("target") {
                    if names::non_terminal_target(name) {
                        statements.push(Statement::Other(render(e)));
                    } else {
                        action = Action::Unmodelled(why);
                    }
                } else {
                    matches.push(Match::Unmodelled {
                        reason: why,
                        text: render(e),
                    });
                }
            }
            "vmap" if body.get("key").and_then(nat::numgen).is_some() => {
                let g = body.get("key").and_then(nat::numgen).expect("checked");
                action = match body.get("data").map(|d| nat::numgen_vmap(g, d)) {
                    Some(Ok(a)) => a,
                    Some(Err(r)) => Action::Unmodelled(r),
                    None => Action::Unmodelled("verdict map not understood".into()),
                };
            }
            "vmap" => {
                let key = body.get("key").map(left_key);
                let data = body.get("data");
                action = match (key, data) {
                    (Some(Ok((key, None, deps))), Some(d)) => {
                        matches.extend(deps);
                        match vmap_data(&key, d) {
                            Ok(map) => Action::Vmap { key, map },
                            Err(r) => Action::Unmodelled(r),
                        }
                    }
                    (Some(Err(r)), _) => Action::Unmodelled(r),
                    _ => Action::Unmodelled("verdict map not understood".into()),
                };
            }
            // A set update carrying a stateful expression (limit, quota, ct count) breaks the
            // rule like a match does, depending on traffic history.
            "set" | "map" if stateful_assumption(body).is_some() => {
                matches.push(assumed(body, render(e)))
            }
            "set" | "map"
                if ["limit", "quota", "ct count", "connlimit"]
                    .iter()
                    .any(|k| compact(body).contains(&format!("\"{k}\""))) =>
            {
                matches.push(Match::Unmodelled {
                    reason: "set update with a stateful expression depends on traffic history"
                        .into(),
                    text: render(e),
                })
            }
            "ct count" | "connlimit" => matches.push(Match::Unmodelled {
                reason: format!("{k} depends on other connections"),
                text: render(e),
            }),
            "set" | "map" | "dup" | "ct helper" | "ct timeout" | "ct expectation" | "secmark"
            | "flow" | "synproxy_off" => statements.push(Statement::Other(render(e))),
            "redirect"
                if body.get("port").is_none_or(|p| p.as_u64().is_some())
                    && body.get("flags").is_none() =>
            {
                action = Action::Redirect(
                    body.get("port")
                        .and_then(Value::as_u64)
                        .map(|p| p.min(65535) as u16),
                );
            }
            "dnat" | "snat" => action = nat::nat_action(k, body),
            "masquerade" => action = Action::Masquerade,
            "redirect" | "tproxy" | "queue" | "fwd" | "synproxy" => {
                action =
                    Action::Unmodelled(format!("`{}` changes or diverts the packet", render(e)))
            }
            _ => {
                if let Some(a) = verdict_action(e) {
                    action = a;
                } else {
                    // Unknown statement: its effect may matter; never guess.
                    matches.push(Match::Unmodelled {
                        reason: format!("statement `{k}` not modelled"),
                        text: render(e),
                    });
                }
            }
        }
    }
    if let Some(from) = pending_from.take() {
        take_effects(&mut statements, from, matches.len(), &mut effects);
    }
    if let Action::Reject(_) = &action {
        family_dependency(b, exprs, &mut matches);
    }
    // State-changing statements followed by more matches run part-way through the rule.
    let mut pre_statements = vec![];
    for (k, st) in effects {
        if k < matches.len() {
            pre_statements.push((k, st));
        } else {
            statements.push(st);
        }
    }
    let comment = str_of(b, "comment").map(String::from);
    let mut text = texts.join(" ");
    if let Some(c) = &comment {
        text.push_str(&format!(" comment \"{c}\""));
    }
    Rule {
        matches,
        statements,
        pre_statements,
        action,
        text,
        comment,
        handle: b.get("handle").and_then(Value::as_u64),
        position,
    }
}

/// Reason given to the placeholder match for a `meta nfproto` that nft listings hide before
/// `reject with tcp reset`; [`apply_netlink_debug`] resolves it.
pub const HIDDEN_NFPROTO: &str = "nft listings drop a `meta nfproto` match written before \
`reject with tcp reset`: whether this rule is limited to IPv4 or IPv6 is not visible (read \
`nft --debug=netlink list ruleset` to resolve)";

/// `reject with icmp type …` implies IPv4, `icmpv6 type …` implies IPv6 (nft adds a hidden
/// `meta nfproto` match). Before `reject with tcp reset` in a multi-family table, nft listings
/// hide a user-written `meta nfproto` match: unknown unless the rule shows its family.
fn family_dependency(b: &Map<String, Value>, exprs: &[Value], matches: &mut Vec<Match>) {
    let Some(r) = exprs.iter().find_map(|e| e.get("reject")) else {
        return;
    };
    reject_dependency(
        r.get("type").and_then(Value::as_str),
        str_of(b, "family"),
        matches,
    );
}

/// The dependency matches of a `reject` of type `ty` in a table of `family` (see
/// [`family_dependency`]).
pub(crate) fn reject_dependency(ty: Option<&str>, family: Option<&str>, matches: &mut Vec<Match>) {
    match ty {
        Some("icmp") => matches.push(nfproto_dep(2)),
        Some("icmpv6") => matches.push(nfproto_dep(10)),
        Some("tcp reset") => {
            // Hidden `meta l4proto tcp` dependency (shown by --debug=netlink only).
            matches.push(Match::Cmp {
                key: vec![Field::L4Proto],
                mask: None,
                negated: false,
                values: Values::Inline(vec![vec![Elem::val(6)]]),
            });
            let multi = matches!(family, Some("inet" | "bridge" | "netdev"));
            let shows_family = matches.iter().any(|m| match m {
                Match::Cmp { key, .. } => key.iter().any(|f| {
                    matches!(
                        f,
                        Field::NfProto
                            | Field::Saddr4
                            | Field::Daddr4
                            | Field::Saddr6
                            | Field::Daddr6
                    )
                }),
                Match::Unmodelled { .. }
                | Match::Assumed { .. }
                | Match::Chance { .. }
                | Match::Absent { .. } => false,
            });
            if multi && !shows_family {
                matches.push(Match::Unmodelled {
                    reason: HIDDEN_NFPROTO.into(),
                    text: "meta nfproto ?".into(),
                });
            }
        }
        _ => {}
    }
}

/// Resolve the hidden `meta nfproto` matches (see [`HIDDEN_NFPROTO`]) from the output of
/// `nft --debug=netlink list ruleset`, which shows each rule's bytecode under a header line
/// `FAMILY TABLE CHAIN HANDLE [PREVIOUS]`. Rules not found there keep their placeholder.
pub fn apply_netlink_debug(rs: &mut Ruleset, debug: &str) {
    let mut nfproto: HashMap<(String, String, String, u64), Option<u128>> = HashMap::new();
    let mut cur: Option<(String, String, String, u64)> = None;
    let mut reg_nfproto: Option<String> = None;
    for line in debug.lines() {
        let t = line.trim();
        if let Some(inner) = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            let Some(k) = cur.clone() else { continue };
            let w: Vec<&str> = inner.split_whitespace().collect();
            match w.as_slice() {
                ["meta", "load", "nfproto", "=>", "reg", r] => reg_nfproto = Some(r.to_string()),
                ["cmp", "eq", "reg", r, v] if reg_nfproto.as_deref() == Some(*r) => {
                    let n = v
                        .strip_prefix("0x")
                        .and_then(|h| u128::from_str_radix(h, 16).ok());
                    nfproto.insert(k, n);
                    reg_nfproto = None;
                }
                _ => {}
            }
            continue;
        }
        let w: Vec<&str> = t.split_whitespace().collect();
        cur = match w.as_slice() {
            [fam, table, chain, handle, ..] if Family::from_name(fam).is_some() && w.len() <= 5 => {
                handle.parse::<u64>().ok().map(|h| {
                    nfproto
                        .entry((fam.to_string(), table.to_string(), chain.to_string(), h))
                        .or_insert(None);
                    (fam.to_string(), table.to_string(), chain.to_string(), h)
                })
            }
            _ => None,
        };
        reg_nfproto = None;
    }
    for t in &mut rs.tables {
        for c in &mut t.chains {
            for r in &mut c.rules {
                let Some(h) = r.handle else { continue };
                let key = (
                    t.family.as_str().to_string(),
                    t.name.clone(),
                    c.name.clone(),
                    h,
                );
                let Some(found) = nfproto.get(&key) else {
                    continue;
                };
                let mut out = Vec::with_capacity(r.matches.len());
                for m in r.matches.drain(..) {
                    match &m {
                        Match::Unmodelled { reason, .. } if reason == HIDDEN_NFPROTO => {
                            if let Some(n) = found {
                                // nft stores the nfproto byte in host order; low byte first.
                                out.push(nfproto_dep(*n & 0xff));
                            }
                        }
                        _ => out.push(m),
                    }
                }
                r.matches = out;
            }
        }
    }
}

/// Fill in the devices of ingress chains from the text listing (`nft list ruleset`): nft
/// 1.0.x leaves them out of the JSON. Chains not found keep an empty (unknown) device list.
pub fn apply_text_devices(rs: &mut Ruleset, text: &str) {
    let mut table: Option<(String, String)> = None;
    let mut chain: Option<String> = None;
    let mut found: HashMap<(String, String, String), Vec<String>> = HashMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["table", fam, name, "{"] => {
                table = Some((fam.to_string(), name.to_string()));
                chain = None;
            }
            ["chain", name, "{"] => chain = Some(name.to_string()),
            _ => {}
        }
        let (Some((fam, tname)), Some(cname)) = (&table, &chain) else {
            continue;
        };
        if !w.contains(&"hook") {
            continue;
        }
        let mut devs = vec![];
        if let Some(i) = w.iter().position(|x| *x == "device") {
            if let Some(d) = w.get(i + 1) {
                devs.push(d.trim_matches(|c| c == '"' || c == ',').to_string());
            }
        } else if let Some(i) = w.iter().position(|x| *x == "devices") {
            for d in w.iter().skip(i + 1) {
                match *d {
                    "=" | "{" => continue,
                    "}" => break,
                    d => devs.push(d.trim_matches(|c| c == '"' || c == ',').to_string()),
                }
            }
        }
        devs.retain(|d| !d.is_empty());
        if !devs.is_empty() {
            found.insert((fam.clone(), tname.clone(), cname.clone()), devs);
        }
    }
    for t in &mut rs.tables {
        for c in &mut t.chains {
            let key = (
                t.family.as_str().to_string(),
                t.name.clone(),
                c.name.clone(),
            );
            if let (Some(b), Some(d)) = (&mut c.base, found.get(&key)) {
                if b.devices.is_empty() {
                    b.devices = d.clone();
                }
            }
        }
    }
}

/// Whether some ingress chain lacks its device (see [`apply_text_devices`]).
pub fn has_unknown_devices(rs: &Ruleset) -> bool {
    rs.tables.iter().flat_map(|t| &t.chains).any(|c| {
        c.base
            .as_ref()
            .is_some_and(|b| b.hook == Hook::Ingress && b.devices.is_empty())
    })
}

/// `meta mark set …` / `ct mark set …`.
fn mangle(body: &Value, e: &Value) -> Statement {
    let key_of = |v: Option<&Value>, kind: &str| {
        v.and_then(|k| k.get(kind))
            .and_then(|m| m.get("key"))
            .and_then(Value::as_str)
            == Some("mark")
    };
    let key = body.get("key");
    let value = body.get("value");
    let num = value.and_then(Value::as_u64).map(|v| v as u32);
    if key_of(key, "meta") {
        match num {
            Some(v) => Statement::SetMark {
                value: v,
                mask: u32::MAX,
            },
            None if key_of(value, "ct") => Statement::RestoreMark { mask: u32::MAX },
            None => mark_arithmetic(value).unwrap_or_else(|| Statement::MarkUnknown(render(e))),
        }
    } else if key_of(key, "ct")
        && key
            .and_then(|k| k.get("ct"))
            .and_then(|c| c.get("dir"))
            .is_none()
    {
        match num {
            Some(v) => Statement::SetCtMark {
                value: v,
                mask: u32::MAX,
            },
            None if key_of(value, "meta") => Statement::SaveMark { mask: u32::MAX },
            None => Statement::CtMarkUnknown(render(e)),
        }
    } else {
        Statement::Other(render(e))
    }
}

/// `meta mark set meta mark | X` (or `^ X`, `& X`): the mark changed by a constant, as
/// `(mark & !mask) ^ value`.
fn mark_arithmetic(value: Option<&Value>) -> Option<Statement> {
    let o = value?.as_object()?;
    let (op, args) = o.iter().next()?;
    let [src, x] = args.as_array()?.as_slice() else {
        return None;
    };
    let is_mark = src
        .get("meta")
        .and_then(|m| m.get("key"))
        .and_then(Value::as_str)
        == Some("mark");
    let x = u32::try_from(x.as_u64()?).ok()?;
    if !is_mark {
        return None;
    }
    let (value, mask) = match op.as_str() {
        "|" => (x, x),
        "^" => (x, 0),
        "&" => (0, !x),
        _ => return None,
    };
    Some(Statement::SetMark { value, mask })
}

/// Move the state-changing statements at `statements[from..]` to `effects`, at position `n`.
fn take_effects(
    statements: &mut Vec<Statement>,
    from: usize,
    n: usize,
    effects: &mut Vec<(usize, Statement)>,
) {
    let mut i = from;
    while i < statements.len() {
        if crate::eval::has_effect(&statements[i]) {
            effects.push((n, statements.remove(i)));
        } else {
            i += 1;
        }
    }
}

fn vmap_data(key: &[Field], d: &Value) -> Result<VerdictMap, String> {
    if let Some(name) = d.as_str().and_then(|s| s.strip_prefix('@')) {
        return Ok(VerdictMap::Named(name.to_string()));
    }
    let items = d
        .get("set")
        .and_then(Value::as_array)
        .ok_or("verdict map data not understood")?;
    let tys: Vec<Ty> = key.iter().map(|f| ty_of_field(*f)).collect();
    let mut out = vec![];
    for it in items {
        let kv = it
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or("verdict map entry")?;
        let a = verdict_action(&kv[1]).unwrap_or_else(|| {
            Action::Unmodelled(format!("map verdict {} not modelled", compact(&kv[1])))
        });
        for k in key_elems(&tys, &kv[0])? {
            out.push((k, a.clone()));
        }
    }
    Ok(VerdictMap::Inline(out))
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The stateful statement of a `limit`, `ct count`, `meter` or set update body that can be
/// decided under the fresh-source assumption: `(holds, assumption)`. Byte rates and quotas
/// count all traffic, not one source's: they stay unmodelled.
fn stateful_assumption(body: &Value) -> Option<(bool, String)> {
    let inner = match body.get("stmt") {
        Some(Value::Array(a)) if a.len() == 1 => &a[0],
        Some(Value::Array(_)) => return None,
        Some(one) => one,
        None => return limit_or_count(body),
    };
    let (kind, b) = inner.as_object()?.iter().next()?;
    match kind.as_str() {
        "limit" | "ct count" => {
            let (holds, what) = limit_or_count(b)?;
            Some((holds, format!("{what}, counted per {}", key_text(body))))
        }
        _ => None,
    }
}

/// `limit` (packet rates only) or `ct count` body: whether it matches a fresh source.
fn limit_or_count(b: &Value) -> Option<(bool, String)> {
    let inv = b.get("inv").and_then(Value::as_bool).unwrap_or(false);
    if let Some(n) = b.get("val").and_then(Value::as_u64) {
        return Some((!inv, format!("at most {n} connections are counted")));
    }
    if b.get("rate_unit").is_some() {
        return None;
    }
    let rate = b.get("rate").and_then(Value::as_u64)?;
    let per = b.get("per").and_then(Value::as_str)?;
    Some((!inv, format!("the rate stays under {rate}/{per}")))
}

/// The key of a meter or set update, as text (`ip saddr`), or "packet" when there is none.
fn key_text(body: &Value) -> String {
    match body.get("key").or_else(|| body.get("elem")) {
        Some(k) => render(k),
        None => "packet".into(),
    }
}

/// A [`Match::Assumed`] for a stateful expression accepted by [`stateful_assumption`].
fn assumed(body: &Value, text: String) -> Match {
    let (holds, assumption) =
        stateful_assumption(body).expect("checked by the caller with stateful_assumption");
    Match::Assumed {
        holds,
        assumption: format!("{assumption} (`{text}`)"),
        text,
    }
}
