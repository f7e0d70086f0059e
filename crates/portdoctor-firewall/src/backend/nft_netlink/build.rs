//! Assembles a [`Ruleset`] from the objects of a dump: they are written as the items of nft's
//! JSON listing and read by the same code as `nft -j list ruleset`, so both readers give one
//! model (rule texts included).

use super::attr::{Attrs, Message, NLMSG_DONE, NLMSG_ERROR, messages};
use super::error::NetlinkError;
use super::lower::{family as fam, lower};
use super::objects::msg::NEWRULE;
use super::objects::{Object, RawChain, RawTable, decode as decode_object};
use super::sets::{SetIndex, named_json};
use super::stmt::Stmt;
use super::values::IfResolver;
use crate::backend::nft::{
    HIDDEN_NFPROTO, has_iptables_nft_layout, is_iptables_nft_table, nfproto_dep, parse_items,
    parse_rule,
};
use crate::model::{Family, Match, Rule, Ruleset};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// Which tables' rules a read decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Every table's.
    All,
    /// All but those of the tables laid out by iptables-nft (`filter`, `nat`, `mangle`,
    /// `raw` or `security` of `ip`/`ip6` whose base chains are all built-in ones, which makes
    /// them iptables-nft's whatever their rules): their chains stay, without rules, marked
    /// [`crate::model::Table::rules_unread`].
    ExceptIptablesNft,
}

/// A table of a dump: (nfproto family, name).
pub type TableKey = (u8, String);

/// Objects of one dump, grouped; rules stay undecoded until they are assembled.
#[derive(Default)]
struct Dump<'a> {
    tables: Vec<RawTable>,
    chains: Vec<RawChain>,
    rules: Vec<PendingRule<'a>>,
    sets: SetIndex,
    set_order: Vec<(u8, String, String)>,
}

/// A rule message: where it belongs, and its attributes still to decode.
struct PendingRule<'a> {
    family: u8,
    table: String,
    chain: String,
    message: Message<'a>,
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
    decode_parts(&[bytes], ifname, Rules::All)
}

/// As [`decode`], for a dump received in several buffers (each a whole number of messages),
/// decoding the rules `rules` asks for.
pub fn decode_parts(
    parts: &[&[u8]],
    ifname: IfResolver<'_>,
    rules: Rules,
) -> Result<Ruleset, NetlinkError> {
    let mut d = Dump::default();
    for m in parts.iter().flat_map(|p| messages(p)) {
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
                return Err(NetlinkError::Kernel(code.saturating_neg()));
            }
            continue;
        }
        if is_rule(&m) {
            let (table, chain) = rule_place(&m)?;
            d.rules.push(PendingRule {
                family: m.family,
                table,
                chain,
                message: m,
            });
            continue;
        }
        match decode_object(&m)? {
            Some(Object::Table(t)) => d.tables.push(t),
            Some(Object::Chain(c)) => d.chains.push(c),
            Some(Object::Set(s)) => {
                d.set_order
                    .push((s.family, s.table.clone(), s.name.clone()));
                d.sets.insert(s);
            }
            Some(Object::Elems(e)) => d.sets.add_elems(e.family, &e.table, &e.set, e.elems),
            _ => {}
        }
    }
    let unread = match rules {
        Rules::All => HashSet::new(),
        Rules::ExceptIptablesNft => iptables_nft_layouts(&d.tables, &d.chains),
    };
    assemble(&d, ifname, &unread)
}

/// The tables laid out by iptables-nft (see [`has_iptables_nft_layout`]), known from the
/// tables and chains alone: such a table is iptables-nft's whatever its rules are.
pub fn iptables_nft_layouts(tables: &[RawTable], chains: &[RawChain]) -> HashSet<TableKey> {
    tables
        .iter()
        .filter(|t| {
            let Some(family) = family_name(t.family).and_then(Family::from_name) else {
                return false;
            };
            let bases = chains
                .iter()
                .filter(|c| c.family == t.family && c.table == t.name && c.hook.is_some())
                .map(|c| c.name.as_str());
            has_iptables_nft_layout(family, &t.name, bases)
        })
        .map(|t| (t.family, t.name.clone()))
        .collect()
}

/// Whether `m` is a rule message.
pub fn is_rule(m: &Message<'_>) -> bool {
    m.kind >> 8 == super::attr::NFNL_SUBSYS_NFTABLES && (m.kind & 0xff) as u8 == NEWRULE
}

/// Table and chain of a rule message, without decoding its expressions.
pub fn rule_place(m: &Message<'_>) -> Result<(String, String), NetlinkError> {
    let a = Attrs::parse(m.payload)?;
    Ok((a.str(1).unwrap_or_default(), a.str(2).unwrap_or_default()))
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

/// The model of a dump; the rules of the tables in `unread` are left out (and those tables
/// marked so).
fn assemble(
    d: &Dump<'_>,
    ifname: IfResolver<'_>,
    unread: &HashSet<TableKey>,
) -> Result<Ruleset, NetlinkError> {
    let mut items = Vec::with_capacity(d.chains.len() + d.set_order.len() + 8);
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
        for c in d
            .chains
            .iter()
            .filter(|c| c.family == t.family && c.table == t.name)
        {
            items.push(chain_json(c, family));
        }
    }
    let mut rs = parse_items(&items);
    // Rules go to the chains the skeleton has (a rule of an unknown chain is dropped, as
    // nft's listing never shows one): by (table index, chain index), in dump order.
    let mut place: HashMap<(u8, &str, &str), (usize, usize)> = HashMap::new();
    for (ti, t) in rs.tables.iter().enumerate() {
        let f = family_number(t.family);
        for (ci, c) in t.chains.iter().enumerate() {
            place.insert((f, t.name.as_str(), c.name.as_str()), (ti, ci));
        }
    }
    let mut jobs: Vec<(usize, usize, usize, &PendingRule<'_>)> = Vec::with_capacity(d.rules.len());
    let mut counts: HashMap<(usize, usize), usize> = HashMap::new();
    let skipped = |r: &PendingRule<'_>| unread.iter().any(|(f, t)| *f == r.family && *t == r.table);
    for r in d.rules.iter().filter(|r| !skipped(r)) {
        if let Some(&(ti, ci)) = place.get(&(r.family, r.table.as_str(), r.chain.as_str())) {
            let n = counts.entry((ti, ci)).or_default();
            *n += 1;
            jobs.push((ti, ci, *n, r));
        }
    }
    let built = build_rules(&jobs, &d.sets, ifname)?;
    for ((ti, ci, _, _), rule) in jobs.iter().zip(built) {
        rs.tables[*ti].chains[*ci].rules.push(rule);
    }
    for t in &mut rs.tables {
        t.iptables_nft_owned = is_iptables_nft_table(t, &[]);
        t.rules_unread = unread.contains(&(family_number(t.family), t.name.clone()));
    }
    Ok(rs)
}

fn family_number(f: crate::model::Family) -> u8 {
    use crate::model::Family as F;
    match f {
        F::Inet => fam::INET,
        F::Ip => fam::IP,
        F::Ip6 => fam::IP6,
        F::Arp => fam::ARP,
        F::Netdev => fam::NETDEV,
        F::Bridge => fam::BRIDGE,
    }
}

/// Rules of at least this many per worker are built on several threads.
const RULES_PER_THREAD: usize = 2000;

/// Decodes and builds every rule, on up to four threads for big rulesets; results in order.
fn build_rules(
    jobs: &[(usize, usize, usize, &PendingRule<'_>)],
    sets: &SetIndex,
    ifname: IfResolver<'_>,
) -> Result<Vec<Rule>, NetlinkError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let threads = threads.min(jobs.len() / RULES_PER_THREAD).max(1);
    if threads == 1 {
        return jobs
            .iter()
            .map(|(_, _, pos, r)| build_rule(r, *pos, sets, ifname))
            .collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(_, _, pos, r)| build_rule(r, *pos, sets, ifname))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(jobs.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| NetlinkError::Malformed("rule decoder thread panicked".into()))??;
            out.extend(part);
        }
        Ok(out)
    })
}

/// One rule: decoded, lowered to nft's JSON statements, read by the JSON reader's rule
/// parser, and the hidden `meta nfproto` resolved.
fn build_rule(
    r: &PendingRule<'_>,
    position: usize,
    sets: &SetIndex,
    ifname: IfResolver<'_>,
) -> Result<Rule, NetlinkError> {
    let Some(Object::Rule(raw)) = decode_object(&r.message)? else {
        return Err(NetlinkError::Malformed(
            "rule message without a rule".into(),
        ));
    };
    let family = family_name(r.family).unwrap_or("?");
    let (expr, nf) = lower(r.family, &r.table, &raw.exprs, sets, ifname);
    let fast = super::direct::rule(family, &expr, raw.comment.as_deref(), raw.handle, position);
    if let Some(mut rule) = fast {
        resolve_hidden(&mut rule, nf);
        return Ok(rule);
    }
    let mut b = serde_json::Map::new();
    b.insert("family".into(), json!(family));
    b.insert("table".into(), json!(r.table));
    b.insert("chain".into(), json!(r.chain));
    b.insert("handle".into(), json!(raw.handle));
    if let Some(cm) = &raw.comment {
        b.insert("comment".into(), json!(cm));
    }
    b.insert(
        "expr".into(),
        Value::Array(expr.into_iter().map(Stmt::into_json).collect()),
    );
    let mut rule = parse_rule(&b, position);
    resolve_hidden(&mut rule, nf);
    Ok(rule)
}

/// Replaces the placeholder for the `meta nfproto` nft listings hide (see
/// [`HIDDEN_NFPROTO`]) with the value the bytecode compares with (or drops it when there is
/// none), as `apply_netlink_debug` does from `nft --debug=netlink`.
fn resolve_hidden(r: &mut Rule, found: Option<u8>) {
    let hidden =
        |m: &Match| matches!(m, Match::Unmodelled { reason, .. } if reason == HIDDEN_NFPROTO);
    if !r.matches.iter().any(hidden) {
        return;
    }
    let old = std::mem::take(&mut r.matches);
    for m in old {
        if !hidden(&m) {
            r.matches.push(m);
        } else if let Some(n) = found {
            r.matches.push(nfproto_dep(n as u128));
        }
    }
}
