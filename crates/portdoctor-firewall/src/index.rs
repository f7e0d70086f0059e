//! Lookup structures built once over a set of rulesets: base chains in hook/priority order,
//! chains and sets by name, and sorted interval indexes for large single-field sets.

use crate::model::{Action, Backend, Elem, Family, NamedSet, Ruleset, Table};
use std::collections::{HashMap, HashSet};

/// Position of a table: (ruleset index, table index).
pub(crate) type TableId = (usize, usize);

/// A base chain on the inbound path, in evaluation order.
#[derive(Debug, Clone)]
pub(crate) struct BaseEntry {
    pub(crate) table: TableId,
    pub(crate) chain: usize,
    pub(crate) stage: u8,
    /// Where the chain runs: its priority, or for a nat chain the NAT core's.
    pub(crate) priority: i32,
    /// A nat-type chain.
    pub(crate) nat: bool,
    /// The chain's own priority (orders nat chains among themselves).
    pub(crate) own: i32,
    /// A nat chain of the output hook: it takes prerouting's place for a packet this host
    /// sends to itself (over `lo`), whose mapping is set up on the way out.
    pub(crate) output: bool,
}

impl BaseEntry {
    /// Whether this chain sees a packet arriving on `iif`: nat chains of prerouting do not
    /// see one this host sent to itself (`lo`), nat chains of output only see those.
    pub(crate) fn sees_iif(&self, iif: Option<&str>) -> bool {
        let lo = iif == Some("lo");
        match (self.output, self.nat && self.stage == 1) {
            (true, _) => lo,
            (false, true) => !lo,
            _ => true,
        }
    }
}

/// Index of one named set: either a sorted list of disjoint ranges (single numeric field)
/// or a plain list of entries.
#[derive(Debug, Clone)]
pub(crate) enum SetIndex {
    /// Sorted, merged inclusive ranges.
    Ranges(Vec<(u128, u128)>),
    /// Entries as given (concatenations, interface names).
    Entries(Vec<Vec<Elem>>),
    /// Contents unknown.
    Unknown(String),
}

/// Index of one table.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableIndex {
    pub(crate) chains: HashMap<String, usize>,
    pub(crate) sets: HashMap<String, usize>,
    pub(crate) set_index: Vec<SetIndex>,
    /// Verdict maps: entries with their verdicts.
    pub(crate) vmaps: HashMap<String, Vec<(Vec<Elem>, Action)>>,
}

/// All lookups for a list of rulesets.
#[derive(Debug, Clone)]
pub(crate) struct Index<'a> {
    pub(crate) rulesets: Vec<&'a Ruleset>,
    pub(crate) tables: Vec<Vec<TableIndex>>,
    /// ipsets per ruleset: (dimensions of a member in key fields, index).
    pub(crate) ipsets: Vec<HashMap<String, (usize, SetIndex)>>,
    pub(crate) base: Vec<BaseEntry>,
    /// Tables left out because another ruleset (iptables-nft-save) covers them.
    pub(crate) skipped: Vec<TableId>,
    /// Some rule rewrites the destination (DNAT): forward and postrouting chains may matter.
    pub(crate) has_dnat: bool,
}

pub(crate) fn index_set(s: &NamedSet) -> SetIndex {
    let Some(elems) = &s.elements else {
        return SetIndex::Unknown(
            s.unknown_reason
                .clone()
                .unwrap_or_else(|| format!("contents of set {} unknown", s.name)),
        );
    };
    let single_numeric = elems
        .iter()
        .all(|e| e.len() == 1 && matches!(e[0], Elem::Range(..)));
    if single_numeric && s.verdicts.is_none() {
        let mut r: Vec<(u128, u128)> = elems
            .iter()
            .filter_map(|e| match e[0] {
                Elem::Range(a, b) => Some((a.min(b), a.max(b))),
                _ => None,
            })
            .collect();
        r.sort_unstable();
        SetIndex::Ranges(merge_ranges(r))
    } else {
        SetIndex::Entries(elems.clone())
    }
}

/// Merge sorted ranges into disjoint ones.
pub(crate) fn merge_ranges(sorted: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(sorted.len());
    for (a, b) in sorted {
        if let Some(last) = out.last_mut() {
            if a <= last.1.saturating_add(1) {
                last.1 = last.1.max(b);
                continue;
            }
        }
        out.push((a, b));
    }
    out
}

/// Binary search in sorted disjoint ranges.
pub(crate) fn ranges_contain(r: &[(u128, u128)], v: u128) -> bool {
    let i = r.partition_point(|&(a, _)| a <= v);
    i > 0 && r[i - 1].1 >= v
}

fn index_table(t: &Table) -> TableIndex {
    let mut ti = TableIndex::default();
    for (i, c) in t.chains.iter().enumerate() {
        ti.chains.entry(c.name.clone()).or_insert(i);
    }
    for (i, s) in t.sets.iter().enumerate() {
        ti.sets.entry(s.name.clone()).or_insert(i);
        if let (Some(v), Some(e)) = (&s.verdicts, &s.elements) {
            ti.vmaps.insert(
                s.name.clone(),
                e.iter().cloned().zip(v.iter().cloned()).collect(),
            );
        }
    }
    ti.set_index = t.sets.iter().map(index_set).collect();
    ti
}

impl<'a> Index<'a> {
    /// Build the index. nft tables owned by iptables-nft whose (family, name) is in `covered`
    /// are left out (their content is evaluated from `iptables-nft-save`).
    pub(crate) fn new(
        rulesets: Vec<&'a Ruleset>,
        covered: &HashSet<(Family, String)>,
    ) -> Index<'a> {
        let mut tables = Vec::with_capacity(rulesets.len());
        let mut ipsets = Vec::with_capacity(rulesets.len());
        let mut base = Vec::new();
        let mut skipped = Vec::new();
        for (ri, rs) in rulesets.iter().enumerate() {
            tables.push(rs.tables.iter().map(index_table).collect());
            let mut ips = HashMap::new();
            for s in rs.ipsets.iter().flatten() {
                let dims = if s.key_types.first().is_some_and(|t| t.ends_with(",port")) {
                    3
                } else {
                    1
                };
                ips.insert(s.name.clone(), (dims, index_set(s)));
            }
            ipsets.push(ips);
            for (ti, t) in rs.tables.iter().enumerate() {
                if t.iptables_nft_owned
                    && rs.backend == Some(Backend::Nftables)
                    && covered.contains(&(t.family, t.name.clone()))
                {
                    skipped.push((ri, ti));
                    continue;
                }
                for (ci, c) in t.chains.iter().enumerate() {
                    if let Some(b) = &c.base {
                        let nat = b.chain_type == "nat";
                        let output = nat && b.hook == crate::model::Hook::Output;
                        if let Some(stage) = b.hook.stage().or(output.then_some(1)) {
                            let core = b.hook.nat_priority().filter(|_| nat);
                            base.push(BaseEntry {
                                table: (ri, ti),
                                chain: ci,
                                stage,
                                priority: core.unwrap_or(b.priority),
                                nat,
                                own: b.priority,
                                output,
                            });
                        }
                    }
                }
            }
        }
        // Canonical order: hook stage, priority (a nat chain's is the NAT core's, then its
        // own orders it among nat chains); ties keep ruleset order and table listing order
        // (the kernel's order between tables is not knowable: the evaluator tries every
        // order); within one table the newest chain (highest handle) runs first, because
        // netfilter inserts a new hook before existing ones of equal priority.
        base.sort_by_key(|b| {
            let handle = rulesets[b.table.0].tables[b.table.1].chains[b.chain].handle;
            (
                b.stage,
                b.priority,
                b.nat,
                b.own,
                b.table,
                std::cmp::Reverse(handle.unwrap_or(0)),
            )
        });
        let has_dnat = rulesets.iter().any(|rs| {
            rs.tables.iter().any(|t| {
                t.chains
                    .iter()
                    .any(|c| c.rules.iter().any(|r| matches!(r.action, Action::Dnat(_))))
            })
        });
        Index {
            rulesets,
            tables,
            ipsets,
            base,
            skipped,
            has_dnat,
        }
    }

    pub(crate) fn table(&self, id: TableId) -> &'a Table {
        &self.rulesets[id.0].tables[id.1]
    }
}
