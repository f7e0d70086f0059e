//! Reader for `ipset save` output: set names, types and members.

use crate::backend::names::prefix_range;
use crate::error::ParseError;
use crate::model::{Elem, NamedSet};

/// Parse `ipset save` text. Sets of single-address types (`hash:ip`, `hash:net`, `bitmap:ip`)
/// get their members; other types are kept with unknown contents (matches on them are then
/// unknown). Errors carry line and column.
pub fn parse_ipset_save(text: &str) -> Result<Vec<NamedSet>, ParseError> {
    let mut sets: Vec<NamedSet> = vec![];
    for (ln, line) in text.lines().enumerate() {
        let line_no = ln + 1;
        let toks: Vec<&str> = line.split_whitespace().collect();
        // 1-based column of token `i`.
        let col = |i: usize| {
            let mut pos = 0;
            for (k, t) in toks.iter().enumerate() {
                let off = line[pos..].find(t).map_or(pos, |o| pos + o);
                if k == i {
                    return line[..off].chars().count() + 1;
                }
                pos = off + t.len();
            }
            1
        };
        match toks.first().copied() {
            None => continue,
            Some(t) if t.starts_with('#') => continue,
            Some("create") => {
                let (Some(name), Some(ty)) = (toks.get(1), toks.get(2)) else {
                    return Err(ParseError::new(
                        line_no,
                        col(0),
                        "create needs a name and a type",
                    ));
                };
                let v6 = toks.windows(2).any(|w| w == ["family", "inet6"]);
                let supported = matches!(
                    *ty,
                    "hash:ip" | "hash:net" | "bitmap:ip" | "hash:ip,port" | "hash:net,port"
                );
                sets.push(NamedSet {
                    name: name.to_string(),
                    key_types: vec![ty.to_string(), if v6 { "inet6" } else { "inet" }.into()],
                    elements: supported.then(Vec::new),
                    verdicts: None,
                    unknown_reason: (!supported)
                        .then(|| format!("ipset {name} of type {ty} not modelled")),
                });
            }
            Some("add") => {
                let (Some(name), Some(elem)) = (toks.get(1), toks.get(2)) else {
                    return Err(ParseError::new(
                        line_no,
                        col(0),
                        "add needs a set and an element",
                    ));
                };
                let Some(set) = sets.iter_mut().find(|s| s.name == *name) else {
                    return Err(ParseError::new(
                        line_no,
                        col(1),
                        format!("set {name} not created"),
                    ));
                };
                if toks[3..].contains(&"nomatch") {
                    set.elements = None;
                    set.unknown_reason =
                        Some(format!("ipset {name}: nomatch entries not modelled"));
                    continue;
                }
                let v6 = set.key_types.get(1).is_some_and(|f| f == "inet6");
                let with_port = set.key_types.first().is_some_and(|t| t.ends_with(",port"));
                let Some(elems) = set.elements.as_mut() else {
                    continue;
                };
                let parsed = if with_port {
                    parse_member_port(elem, v6)
                } else {
                    parse_member(elem, v6).map(|e| vec![e])
                };
                match parsed {
                    Some(e) => elems.push(e),
                    None => {
                        return Err(ParseError::new(
                            line_no,
                            col(2),
                            format!("bad member {elem}"),
                        ));
                    }
                }
            }
            Some(_) => return Err(ParseError::new(line_no, col(0), "expected create or add")),
        }
    }
    Ok(sets)
}

/// `ADDR,PROTO:PORT` (hash:ip,port / hash:net,port): address, protocol, port. Without a
/// protocol ipset means TCP.
fn parse_member_port(s: &str, v6: bool) -> Option<Vec<Elem>> {
    let (a, p) = s.rsplit_once(',')?;
    let (proto, port) = match p.split_once(':') {
        Some((pr, po)) => (crate::backend::names::proto_number(pr)?, po),
        None => (6, p),
    };
    let port = match port.split_once('-') {
        Some((x, y)) => {
            let (x, y): (u16, u16) = (x.parse().ok()?, y.parse().ok()?);
            Elem::Range(x.min(y) as u128, x.max(y) as u128)
        }
        None => Elem::val(port.parse::<u16>().ok()? as u128),
    };
    Some(vec![parse_member(a, v6)?, Elem::val(proto as u128), port])
}

fn parse_member(s: &str, v6: bool) -> Option<Elem> {
    let addr = |a: &str| crate::backend::names::addr_value(a, v6);
    let bits = if v6 { 128 } else { 32 };
    if let Some((a, l)) = s.split_once('/') {
        let l: u32 = l.parse().ok()?;
        if l > bits {
            return None;
        }
        return Some(prefix_range(addr(a)?, l, bits));
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (addr(a)?, addr(b)?);
        return Some(Elem::Range(a.min(b), a.max(b)));
    }
    addr(s).map(Elem::val)
}
