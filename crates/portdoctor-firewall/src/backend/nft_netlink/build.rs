//! Assembles a [`Ruleset`] from the objects of a dump: they are written as the items of nft's
//! JSON listing and read by the same code as `nft -j list ruleset`, so both readers give one
//! model (rule texts included).

use super::NetlinkError;
use super::attr::{NLMSG_DONE, NLMSG_ERROR, messages};
use super::lower::{family as fam, lower};
use super::objects::{Object, RawChain, RawRule, RawTable, decode as decode_object};
use super::sets::{SetIndex, named_json};
use super::values::IfResolver;
use crate::backend::nft::{HIDDEN_NFPROTO, nfproto_dep, parse_items};
use crate::model::{Match, Ruleset};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Objects of one dump, grouped.
#[derive(Default)]
struct Dump {
    tables: Vec<RawTable>,
    chains: Vec<RawChain>,
    rules: Vec<RawRule>,
    sets: SetIndex,
    set_order: Vec<(u8, String, String)>,
}

/// The nft name of an nfproto family.
pub fn family_name(f: u8) -> Option<&'static str> {
    Some(match f {
        fam::INET => "inet",
        fam::IP => "ip",
        fam::IP6 => "ip6",
        fam::ARP => "arp",
        fam::NETDEV => "netdev",
        fam::BRIDGE => "bridge",
        _ => return None,
    })
}

fn hook_name(family: u8, hook: u32) -> String {
    let name = match (family, hook) {
        (fam::NETDEV, 0) => "ingress",
        (fam::NETDEV, 1) => "egress",
        (fam::ARP, 0) => "input",
        (fam::ARP, 1) => "output",
        (fam::ARP, 2) => "forward",
        (_, 0) => "prerouting",
        (_, 1) => "input",
        (_, 2) => "forward",
        (_, 3) => "output",
        (_, 4) => "postrouting",
        (_, 5) => "ingress",
        _ => return format!("hook {hook}"),
    };
    name.to_string()
}

/// Decodes a byte stream of nf_tables dump messages (as received) into the model.
pub fn decode(bytes: &[u8], ifname: IfResolver<'_>) -> Result<Ruleset, NetlinkError> {
    let mut d = Dump::default();
    for m in messages(bytes) {
        let m = m?;
        if m.kind == NLMSG_DONE {
            continue;
        }
        if m.kind == NLMSG_ERROR {
            let code = m
                .payload
                .get(..4)
                .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            if code != 0 {
                return Err(NetlinkError::Kernel(-code));
            }
            continue;
        }
        match decode_object(&m)? {
            Some(Object::Table(t)) => d.tables.push(t),
            Some(Object::Chain(c)) => d.chains.push(c),
            Some(Object::Rule(r)) => d.rules.push(r),
            Some(Object::Set(s)) => {
                d.set_order
                    .push((s.family, s.table.clone(), s.name.clone()));
                d.sets.insert(s);
            }
            Some(Object::Elems(e)) => d.sets.add_elems(e.family, &e.table, &e.set, e.elems),
            _ => {}
        }
    }
    Ok(assemble(&d, ifname))
}

fn chain_json(c: &RawChain, family: &str) -> Value {
    let mut b = serde_json::Map::new();
    b.insert("family".into(), json!(family));
    b.insert("table".into(), json!(c.table));
    b.insert("name".into(), json!(c.name));
    if let Some(h) = c.handle {
        b.insert("handle".into(), json!(h));
    }
    if let Some((hook, prio, devs)) = &c.hook {
        b.insert("type".into(), json!(c.kind.as_deref().unwrap_or("filter")));
        b.insert("hook".into(), json!(hook_name(c.family, *hook)));
        b.insert("prio".into(), json!(prio));
        let policy = if c.policy == Some(0) {
            "drop"
        } else {
            "accept"
        };
        b.insert("policy".into(), json!(policy));
        if !devs.is_empty() {
            b.insert("dev".into(), json!(devs));
        }
    }
    json!({ "chain": b })
}

type RuleKey = (u8, String, String, u64);

fn assemble(d: &Dump, ifname: IfResolver<'_>) -> Ruleset {
    let mut items = Vec::with_capacity(d.rules.len() + d.chains.len() + 8);
    let mut hidden: HashMap<RuleKey, Option<u8>> = HashMap::new();
    let mut rules_by_chain: HashMap<(u8, &str, &str), Vec<&RawRule>> = HashMap::new();
    for r in &d.rules {
        rules_by_chain
            .entry((r.family, &r.table, &r.chain))
            .or_default()
            .push(r);
    }
    for t in &d.tables {
        let Some(family) = family_name(t.family) else {
            continue;
        };
        items.push(json!({"table": {"family": family, "name": t.name, "handle": t.handle}}));
        for key in d
            .set_order
            .iter()
            .filter(|k| k.0 == t.family && k.1 == t.name)
        {
            if let Some(s) = d
                .sets
                .get_in(key.0, &key.1, &key.2)
                .filter(|s| !s.is_anonymous())
            {
                items.push(named_json(s, family, ifname));
            }
        }
        let chains: Vec<&RawChain> = d
            .chains
            .iter()
            .filter(|c| c.family == t.family && c.table == t.name)
            .collect();
        for c in &chains {
            items.push(chain_json(c, family));
        }
        for c in &chains {
            for r in rules_by_chain
                .get(&(t.family, t.name.as_str(), c.name.as_str()))
                .into_iter()
                .flatten()
            {
                let (expr, nf) = lower(t.family, &t.name, &r.exprs, &d.sets, ifname);
                if let Some(h) = r.handle {
                    hidden.insert((t.family, t.name.clone(), c.name.clone(), h), nf);
                }
                let mut b = serde_json::Map::new();
                b.insert("family".into(), json!(family));
                b.insert("table".into(), json!(t.name));
                b.insert("chain".into(), json!(c.name));
                b.insert("handle".into(), json!(r.handle));
                if let Some(cm) = &r.comment {
                    b.insert("comment".into(), json!(cm));
                }
                b.insert("expr".into(), Value::Array(expr));
                items.push(json!({ "rule": b }));
            }
        }
    }
    let mut rs = parse_items(&items);
    resolve_hidden(&mut rs, &hidden);
    rs
}

/// Replaces the placeholder for the `meta nfproto` nft listings hide (see
/// [`HIDDEN_NFPROTO`]) with the value the bytecode compares with, as
/// `apply_netlink_debug` does from `nft --debug=netlink`.
fn resolve_hidden(rs: &mut Ruleset, hidden: &HashMap<RuleKey, Option<u8>>) {
    for t in &mut rs.tables {
        let tf = match t.family.as_str() {
            "inet" => fam::INET,
            "ip" => fam::IP,
            "ip6" => fam::IP6,
            "arp" => fam::ARP,
            "netdev" => fam::NETDEV,
            _ => fam::BRIDGE,
        };
        for c in &mut t.chains {
            for r in &mut c.rules {
                let has = r.matches.iter().any(
                    |m| matches!(m, Match::Unmodelled { reason, .. } if reason == HIDDEN_NFPROTO),
                );
                if !has {
                    continue;
                }
                let Some(h) = r.handle else { continue };
                let Some(found) = hidden.get(&(tf, t.name.clone(), c.name.clone(), h)) else {
                    continue;
                };
                let old = std::mem::take(&mut r.matches);
                for m in old {
                    match &m {
                        Match::Unmodelled { reason, .. } if reason == HIDDEN_NFPROTO => {
                            if let Some(n) = found {
                                r.matches.push(nfproto_dep(*n as u128));
                            }
                        }
                        _ => r.matches.push(m),
                    }
                }
            }
        }
    }
}
