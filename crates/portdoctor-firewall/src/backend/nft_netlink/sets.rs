//! Sets and maps: key types, elements (intervals rebuilt from their start/end markers,
//! concatenations split at their register-aligned fields), sorted as nft lists them, and
//! written in nft's JSON, inline for anonymous sets.

use super::objects::{RawElem, RawSet};
use super::values::{
    self, IfResolver, Ty, sort_key, split_type_id, to_json, type_of_id, verdict_json,
};
use serde_json::{Value, json};
use std::collections::HashMap;

const ANONYMOUS: u32 = 1;
const INTERVAL: u32 = 4;
const MAP: u32 = 8;
const ELEM_END: u32 = 1;
const ELEM_CATCHALL: u32 = 2;
/// `NFT_DATA_VERDICT`, the data type of verdict maps.
const DATA_VERDICT: u32 = 0xffff_ff00;

/// A set with its elements.
#[derive(Debug, Clone, Default)]
pub struct Set {
    /// The set's attributes.
    pub raw: RawSet,
    /// Its elements in dump order.
    pub elems: Vec<RawElem>,
}

impl Set {
    /// Value types of the key components (`Ty::Int` for unknown ids).
    pub fn key_types(&self) -> Vec<Ty> {
        self.type_names()
            .iter()
            .map(|(_, t)| t.unwrap_or(Ty::Int))
            .collect()
    }

    fn type_names(&self) -> Vec<(String, Option<Ty>)> {
        split_type_id(self.raw.key_type)
            .into_iter()
            .map(|id| match type_of_id(id) {
                Some((n, t)) => (n.to_string(), Some(t)),
                None => (format!("type {id}"), None),
            })
            .collect()
    }

    /// Anonymous (a rule's inline `{ … }`).
    pub fn is_anonymous(&self) -> bool {
        self.raw.flags & ANONYMOUS != 0
    }

    fn is_map(&self) -> bool {
        self.raw.flags & MAP != 0
    }

    /// Byte widths of the key components.
    fn widths(&self, tys: &[Ty]) -> Vec<usize> {
        if self.raw.field_lens.len() == tys.len() && tys.len() > 1 {
            return self.raw.field_lens.iter().map(|&l| l as usize).collect();
        }
        if tys.len() == 1 {
            return vec![self.raw.key_len as usize];
        }
        tys.iter().map(|t| values::width(*t).unwrap_or(4)).collect()
    }
}

/// The sets of a dump by (family, table, name).
#[derive(Debug, Default)]
pub struct SetIndex {
    sets: HashMap<(u8, String, String), Set>,
}

impl SetIndex {
    /// Adds a set.
    pub fn insert(&mut self, s: RawSet) {
        let k = (s.family, s.table.clone(), s.name.clone());
        self.sets.insert(
            k,
            Set {
                raw: s,
                elems: vec![],
            },
        );
    }

    /// Adds elements to a known set; elements of unknown sets are ignored.
    pub fn add_elems(&mut self, family: u8, table: &str, set: &str, elems: Vec<RawElem>) {
        if let Some(s) = self
            .sets
            .get_mut(&(family, table.to_string(), set.to_string()))
        {
            s.elems.extend(elems);
        }
    }

    /// A set by family.
    pub fn get_in(&self, family: u8, table: &str, name: &str) -> Option<&Set> {
        self.sets
            .get(&(family, table.to_string(), name.to_string()))
    }
}

/// One element entry: sort key, key JSON, verdict JSON for maps.
type Entry = (Vec<u8>, Value, Option<Value>);

fn from_int(ty: Ty, n: u128, width: usize) -> Vec<u8> {
    let be: Vec<u8> = n.to_be_bytes()[16 - width.min(16)..].to_vec();
    if values::big_endian(ty) {
        be
    } else {
        be.into_iter().rev().collect()
    }
}

/// JSON of an interval `[a, b]`: a value, a prefix (addresses) or a range.
fn interval(ty: Ty, a: &[u8], b: &[u8], ifname: IfResolver<'_>) -> Option<Value> {
    let (x, y) = (values::int(ty, a), values::int(ty, b));
    if x == y {
        return to_json(ty, a, ifname);
    }
    if matches!(ty, Ty::Ip4 | Ty::Ip6) {
        let bits = if ty == Ty::Ip4 { 32 } else { 128 };
        let size = y.wrapping_sub(x).wrapping_add(1);
        if size.is_power_of_two() && x % size == 0 {
            let len = bits - size.trailing_zeros();
            return Some(json!({"prefix": {"addr": to_json(ty, a, ifname)?, "len": len}}));
        }
        if x == 0 && y == u128::MAX >> (128 - bits) {
            return Some(json!({"prefix": {"addr": to_json(ty, a, ifname)?, "len": 0}}));
        }
    }
    Some(json!({"range": [to_json(ty, a, ifname)?, to_json(ty, b, ifname)?]}))
}

/// Splits a concatenated key into its register-aligned components.
fn split<'b>(key: &'b [u8], widths: &[usize]) -> Option<Vec<&'b [u8]>> {
    let mut out = Vec::with_capacity(widths.len());
    let mut off: usize = 0;
    for &w in widths {
        out.push(key.get(off..off.checked_add(w)?)?);
        off = off.checked_add(w.div_ceil(4).checked_mul(4)?)?;
    }
    Some(out)
}

fn entries(set: &Set, tys: &[Ty], ifname: IfResolver<'_>) -> Result<Vec<Entry>, String> {
    if set.elems.iter().any(|e| e.flags & ELEM_CATCHALL != 0) {
        return Err("catch-all element not decoded".into());
    }
    let verdict = |e: &RawElem| -> Result<Option<Value>, String> {
        match (&e.data, set.is_map()) {
            (Some(d), true) => Ok(Some(verdict_json(d))),
            (None, true) => Err("map element without data".into()),
            _ => Ok(None),
        }
    };
    if tys.len() == 1
        && set.raw.flags & INTERVAL != 0
        && set.elems.iter().all(|e| e.key_end.is_none())
    {
        return intervals(set, tys[0], ifname, verdict);
    }
    let widths = set.widths(tys);
    let mut out = Vec::with_capacity(set.elems.len());
    for e in &set.elems {
        let start = split(&e.key, &widths).ok_or("element key shorter than the set key")?;
        let end = match &e.key_end {
            Some(k) => split(k, &widths).ok_or("element key end shorter than the set key")?,
            None => start.clone(),
        };
        let mut parts = Vec::with_capacity(tys.len());
        for ((ty, a), b) in tys.iter().zip(&start).zip(&end) {
            parts.push(interval(*ty, a, b, ifname).ok_or("element value does not fit its type")?);
        }
        let sk = match tys {
            [ty] => sort_key(*ty, &e.key),
            _ => e.key.iter().rev().copied().collect(),
        };
        let key = if parts.len() == 1 {
            parts.remove(0)
        } else {
            json!({ "concat": parts })
        };
        out.push((sk, key, verdict(e)?));
    }
    // nft lists elements sorted by value: a single type in its own byte order, a
    // concatenation as one host-order integer; concatenated intervals in the kernel's order.
    if set.elems.iter().all(|e| e.key_end.is_none()) {
        out.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(out)
}

type VerdictOf<'a> = dyn Fn(&RawElem) -> Result<Option<Value>, String> + 'a;

/// Rebuilds the ranges of an interval set from its start and end (exclusive) markers.
fn intervals(
    set: &Set,
    ty: Ty,
    ifname: IfResolver<'_>,
    verdict: impl Fn(&RawElem) -> Result<Option<Value>, String>,
) -> Result<Vec<Entry>, String> {
    let width = set.raw.key_len as usize;
    if width == 0 || width > 16 {
        return Err("interval key width not decoded".into());
    }
    let mut marks: Vec<(u128, bool, &RawElem)> = set
        .elems
        .iter()
        .filter(|e| e.key.len() >= width)
        .map(|e| (values::int(ty, &e.key[..width]), e.flags & ELEM_END != 0, e))
        .collect();
    marks.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let max = if width == 16 {
        u128::MAX
    } else {
        (1u128 << (width * 8)) - 1
    };
    let mut out = Vec::new();
    let mut open: Option<(u128, &RawElem)> = None;
    let verdict: &VerdictOf<'_> = &verdict;
    let close = |s: u128, e: u128, el: &RawElem, out: &mut Vec<Entry>| -> Result<(), String> {
        let (a, b) = (from_int(ty, s, width), from_int(ty, e, width));
        let key = interval(ty, &a, &b, ifname).ok_or("interval does not fit its type")?;
        out.push((sort_key(ty, &a), key, verdict(el)?));
        Ok(())
    };
    for (v, is_end, el) in marks {
        if let Some((s, sel)) = open.take() {
            if v > s {
                close(s, v - 1, sel, &mut out)?;
            }
        }
        if !is_end {
            open = Some((v, el));
        }
    }
    if let Some((s, sel)) = open {
        close(s, max, sel, &mut out)?;
    }
    Ok(out)
}

/// An anonymous set (or verdict map) written inline: `{"set": [...]}`.
pub fn inline_set(set: &Set, tys: &[Ty], ifname: IfResolver<'_>) -> Result<Value, String> {
    let items: Vec<Value> = entries(set, tys, ifname)?
        .into_iter()
        .map(|(_, k, v)| match v {
            Some(v) => json!([k, v]),
            None => k,
        })
        .collect();
    Ok(json!({ "set": items }))
}

/// A named set or map as an item of nft's JSON listing.
pub fn named_json(set: &Set, family: &str, ifname: IfResolver<'_>) -> Value {
    let names = set.type_names();
    let ty: Value = if names.len() == 1 {
        json!(names[0].0)
    } else {
        json!(names.iter().map(|n| n.0.clone()).collect::<Vec<_>>())
    };
    let mut body = serde_json::Map::new();
    body.insert("family".into(), json!(family));
    body.insert("name".into(), json!(set.raw.name));
    body.insert("table".into(), json!(set.raw.table));
    body.insert("type".into(), ty);
    if let Some(h) = set.raw.handle {
        body.insert("handle".into(), json!(h));
    }
    let kind = if set.is_map() {
        let data = match set.raw.data_type {
            Some(DATA_VERDICT) => "verdict".to_string(),
            Some(id) => type_of_id(id).map_or(format!("type {id}"), |t| t.0.to_string()),
            None => "?".into(),
        };
        body.insert("map".into(), json!(data));
        "map"
    } else {
        "set"
    };
    let known = names.iter().all(|n| n.1.is_some());
    let verdict_map = set.raw.data_type == Some(DATA_VERDICT) || !set.is_map();
    if known && verdict_map {
        match entries(set, &set.key_types(), ifname) {
            Ok(items) => {
                let elems: Vec<Value> = items
                    .into_iter()
                    .map(|(_, k, v)| match v {
                        Some(v) => json!([k, v]),
                        None => k,
                    })
                    .collect();
                if !elems.is_empty() {
                    body.insert("elem".into(), Value::Array(elems));
                }
            }
            Err(r) => {
                body.insert("elem".into(), json!([{ "nl_raw": r }]));
            }
        }
    }
    json!({ kind: body })
}
