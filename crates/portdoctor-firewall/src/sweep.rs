//! All-ports sweep: the decision for every destination port 0..=65535 for one source, as
//! compressed ranges.
//!
//! Method: each rule's matches are reduced, for the fixed packet fields, to two port sets
//! (ports where the rule surely matches, ports where it is undecided). Chains are then
//! "painted" over port ranges in rule order (memoised per chain, jumps and gotos included),
//! and the base chains are combined in hook/priority order. Ranges that come out undecided
//! (an undecided match, a mark/notrack statement) are split at every port boundary any rule
//! mentions and each class is re-evaluated with the exact evaluator, so the sweep agrees
//! with [`crate::evaluate`] port by port.

use crate::eval::{
    CtView, Ctx, KeyVal, PktState, Tri, ct_view, elem_matches, field_value, has_effect,
};
use crate::explain::covered_tables;
use crate::index::{Index, SetIndex, TableId};
use crate::model::{
    Action, Chain, Decision, Elem, Field, Match, Packet, Policy, RejectKind, Rule, RuleRef,
    Ruleset, Values, VerdictMap,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most port classes re-evaluated exactly after painting; beyond, ranges stay unknown.
pub const MAX_EXACT_CLASSES: usize = 8192;
/// Path cap of each exact re-evaluation in the sweep (explain allows more).
pub const SWEEP_MAX_PATHS: usize = 64;
/// Work bound for the exact re-evaluation: classes × rules stays below this, so a large
/// ruleset full of undecidable matches still sweeps quickly (the ranges stay unknown).
pub const MAX_EXACT_WORK: usize = 300_000;

const MAXP: u32 = 65535;

/// One compressed range of destination ports with the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub from: u16,
    /// Last port (inclusive).
    pub to: u16,
    /// Decision for every port of the range.
    pub decision: Decision,
    /// The deciding rule, as [`crate::Verdict::decided_by`].
    pub decided_by: Option<RuleRef>,
    /// As [`crate::Verdict::redirected_to`].
    #[serde(default)]
    pub redirected_to: Option<u16>,
    /// As [`crate::Verdict::delivery`]: where a DNAT sends these ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::model::Delivery>,
}

/// Result of [`sweep`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sweep {
    /// Ranges covering 0..=65535 in order.
    pub ranges: Vec<PortRange>,
}

impl Sweep {
    /// Port ranges whose decision satisfies `pred`, merged.
    pub fn ports_where(&self, pred: impl Fn(&Decision) -> bool) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = vec![];
        for r in self.ranges.iter().filter(|r| pred(&r.decision)) {
            match out.last_mut() {
                Some(l) if l.1 as u32 + 1 == r.from as u32 => l.1 = r.to,
                _ => out.push((r.from, r.to)),
            }
        }
        out
    }

    /// Accepted port ranges.
    pub fn accepted(&self) -> Vec<(u16, u16)> {
        self.ports_where(|d| *d == Decision::Accept)
    }

    /// The decision for one port.
    pub fn decision(&self, port: u16) -> Option<&PortRange> {
        let i = self.ranges.partition_point(|r| r.to < port);
        self.ranges.get(i)
    }
}

type Set = Vec<(u32, u32)>;

fn full() -> Set {
    vec![(0, MAXP)]
}

fn intersect(a: &Set, b: &Set) -> Set {
    let (mut i, mut j, mut out) = (0, 0, vec![]);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
    out
}

fn complement(a: &Set) -> Set {
    let mut out = vec![];
    let mut next = 0u32;
    for &(lo, hi) in a {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= MAXP {
        out.push((next, MAXP));
    }
    out
}

fn union(a: &Set, b: &Set) -> Set {
    let mut v: Vec<(u32, u32)> = a.iter().chain(b.iter()).copied().collect();
    v.sort_unstable();
    normalize(v)
}

fn normalize(sorted: Vec<(u32, u32)>) -> Set {
    let mut out: Set = Vec::with_capacity(sorted.len());
    for (a, b) in sorted {
        if let Some(l) = out.last_mut() {
            if a <= l.1 + 1 {
                l.1 = l.1.max(b);
                continue;
            }
        }
        out.push((a, b));
    }
    out
}

fn from_elems<'e>(it: impl Iterator<Item = &'e Elem>) -> Set {
    let mut v: Vec<(u32, u32)> = it
        .filter_map(|e| match e {
            Elem::Range(a, b) if *a <= MAXP as u128 => {
                Some((*a as u32, (*b).min(MAXP as u128) as u32))
            }
            _ => None,
        })
        .collect();
    v.sort_unstable();
    normalize(v)
}

fn is_dport(f: Field) -> bool {
    // A first packet's original destination port is the port it arrived with; the swept port.
    matches!(
        f,
        Field::Dport | Field::TcpDport | Field::UdpDport | Field::CtOrigDport
    )
}

/// Surely-true and undecided port sets of a match or rule, with the undecided reason.
#[derive(Debug, Clone, Default)]
struct Profile {
    t: Set,
    u: Set,
    reason: String,
}

impl Profile {
    fn constant(tri: Tri) -> Profile {
        match tri {
            Tri::True => Profile {
                t: full(),
                ..Profile::default()
            },
            Tri::False => Profile::default(),
            // A random choice is resolved by the exact evaluation, like an unknown.
            Tri::Unknown(r) | Tri::Choice(r) => Profile {
                u: full(),
                reason: r,
                ..Profile::default()
            },
        }
    }
}

struct Sweeper<'a, 'i> {
    ctx: Ctx<'a, 'i>,
    st: PktState,
    profiles: HashMap<(TableId, usize, CtView), Vec<Profile>>,
    memo: HashMap<(TableId, usize, CtView), Runs>,
    active: Vec<(TableId, usize)>,
    breaks: BTreeSet<u32>,
}

#[derive(Debug, Clone, PartialEq)]
enum Out {
    Fall,
    Accept(RuleId),
    Drop(RuleId),
    Reject(RejectKind, RuleId),
    /// Undecided here: resolved exactly later.
    Unknown(String),
}

type RuleId = (TableId, usize, usize);

/// A resolved port range: ports, decision, deciding rule, redirect, DNAT delivery.
type Resolved = (
    u32,
    u32,
    Decision,
    Option<RuleRef>,
    Option<u16>,
    Option<crate::model::Delivery>,
);

/// Outcome runs over port ranges.
type Runs = Vec<(u32, u32, Out)>;

impl Sweeper<'_, '_> {
    /// Port profile of one match.
    fn match_profile(&self, tid: TableId, m: &Match) -> Profile {
        let Match::Cmp {
            key,
            mask,
            negated,
            values,
        } = m
        else {
            return Profile::constant(self.ctx.eval_match(tid, m, &self.st));
        };
        let key = match self.ctx.effective_key(tid, key, values) {
            Ok(k) => k,
            Err(t) => return Profile::constant(if *negated { t.not() } else { t }),
        };
        let Some(dpos) = key.iter().position(|f| is_dport(*f)) else {
            return Profile::constant(self.ctx.eval_match(tid, m, &self.st));
        };
        if mask.is_some() {
            return Profile::constant(Tri::Unknown("masked port match".into()));
        }
        // Dependency of the port field (protocol) and the other components.
        let mut vals = vec![];
        for (i, f) in key.iter().enumerate() {
            let v = field_value(*f, self.ctx.pkt, &self.st);
            match v {
                KeyVal::Absent => return Profile::default(),
                KeyVal::Unknown(r) => return Profile::constant(Tri::Unknown(r)),
                _ if i == dpos => vals.push(KeyVal::Num(0)),
                v => vals.push(v),
            }
        }
        let others_match = |e: &[Elem]| {
            e.len() == vals.len()
                && e.iter()
                    .zip(&vals)
                    .enumerate()
                    .all(|(i, (e, v))| i == dpos || elem_matches(e, v))
        };
        let t = match values {
            Values::Inline(entries) => {
                from_elems(entries.iter().filter(|e| others_match(e)).map(|e| &e[dpos]))
            }
            Values::Named(_) | Values::Ipset(_) => {
                let si = match values {
                    Values::Named(name) => {
                        let ti = &self.ctx.ix.tables[tid.0][tid.1];
                        match ti.sets.get(name) {
                            Some(&i) => &ti.set_index[i],
                            None => {
                                return Profile::constant(Tri::Unknown(format!(
                                    "set @{name} not found"
                                )));
                            }
                        }
                    }
                    Values::Ipset(name) => match self.ctx.ipset(tid, name) {
                        Ok((_, si)) => si,
                        Err(r) => return Profile::constant(Tri::Unknown(r)),
                    },
                    Values::Inline(_) => return Profile::default(),
                };
                match si {
                    SetIndex::Unknown(r) => {
                        let t = Tri::Unknown(r.clone());
                        return Profile::constant(t);
                    }
                    SetIndex::Ranges(r) if key.len() == 1 => {
                        let mut v: Set = r
                            .iter()
                            .filter(|(a, _)| *a <= MAXP as u128)
                            .map(|&(a, b)| (a as u32, b.min(MAXP as u128) as u32))
                            .collect();
                        v.sort_unstable();
                        normalize(v)
                    }
                    SetIndex::Ranges(_) => Set::new(),
                    SetIndex::Entries(e) => {
                        from_elems(e.iter().filter(|e| others_match(e)).map(|e| &e[dpos]))
                    }
                }
            }
        };
        if *negated {
            Profile {
                t: complement(&t),
                ..Profile::default()
            }
        } else {
            Profile {
                t,
                ..Profile::default()
            }
        }
    }

    fn rule_profile(&self, tid: TableId, r: &Rule) -> Profile {
        self.matches_profile(tid, &r.matches)
    }

    fn matches_profile(&self, tid: TableId, ms: &[Match]) -> Profile {
        let mut t = full();
        let mut f: Set = vec![];
        let mut u_any: Set = vec![];
        let mut reason = String::new();
        for m in ms {
            let p = self.match_profile(tid, m);
            let tu = union(&p.t, &p.u);
            f = union(&f, &complement(&tu));
            t = intersect(&t, &p.t);
            if !p.u.is_empty() && reason.is_empty() {
                reason = p.reason.clone();
            }
            u_any = union(&u_any, &p.u);
        }
        let u = complement(&union(&f, &t));
        Profile { t, u, reason }
    }

    fn profiles_of(&mut self, tid: TableId, ci: usize) {
        let key = (tid, ci, self.st.view);
        if self.profiles.contains_key(&key) {
            return;
        }
        let c = &self.ctx.ix.table(tid).chains[ci];
        let ps: Vec<Profile> = c.rules.iter().map(|r| self.rule_profile(tid, r)).collect();
        self.profiles.insert(key, ps);
    }

    /// Every port boundary any rule mentions (syntactically, whatever the packet): the exact
    /// evaluation is constant between two consecutive boundaries.
    fn collect_breaks(&mut self) {
        let ix = self.ctx.ix;
        let mut add = |e: &Elem| {
            if let Elem::Range(a, b) = e {
                if *a <= MAXP as u128 {
                    self.breaks.insert(*a as u32);
                    self.breaks.insert(((*b).min(MAXP as u128) + 1) as u32);
                }
            }
        };
        for (ri, tables) in ix.tables.iter().enumerate() {
            for (ti, tix) in tables.iter().enumerate() {
                let t = ix.table((ri, ti));
                for c in &t.chains {
                    for r in &c.rules {
                        for m in &r.matches {
                            let Match::Cmp { key, values, .. } = m else {
                                continue;
                            };
                            let Some(pos) = key.iter().position(|f| is_dport(*f)) else {
                                continue;
                            };
                            let entries: &[Vec<Elem>] = match values {
                                Values::Inline(e) => e,
                                Values::Named(n) => match tix.sets.get(n) {
                                    Some(&si) => t.sets[si].elements.as_deref().unwrap_or(&[]),
                                    None => &[],
                                },
                                Values::Ipset(n) => match self.ctx.ipset((ri, ti), n) {
                                    Ok((_, SetIndex::Entries(e))) => e,
                                    _ => &[],
                                },
                            };
                            for e in entries {
                                if let Some(x) = e.get(pos) {
                                    add(x);
                                }
                            }
                        }
                        if let Action::Vmap { key, map } = &r.action {
                            let Some(pos) = key.iter().position(|f| is_dport(*f)) else {
                                continue;
                            };
                            let entries: Vec<Vec<Elem>> = match map {
                                VerdictMap::Inline(e) => e.iter().map(|(k, _)| k.clone()).collect(),
                                VerdictMap::Named(n) => tix
                                    .vmaps
                                    .get(n)
                                    .map(|v| v.iter().map(|(k, _)| k.clone()).collect())
                                    .unwrap_or_default(),
                            };
                            for e in &entries {
                                if let Some(x) = e.get(pos) {
                                    add(x);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn vmap_entries(&self, tid: TableId, map: &VerdictMap) -> Vec<(Vec<Elem>, Action)> {
        match map {
            VerdictMap::Inline(e) => e.clone(),
            VerdictMap::Named(n) => self.ctx.ix.tables[tid.0][tid.1]
                .vmaps
                .get(n)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// Outcome runs of a base chain: its chain map, or unknown everywhere when it is not
    /// known whether the chain sees the packet (device).
    fn base_map(&mut self, b: &crate::index::BaseEntry) -> Runs {
        let c = &self.ctx.ix.table(b.table).chains[b.chain];
        if let Tri::Unknown(r) = crate::eval::device_applies(c, self.ctx.pkt) {
            return vec![(0, MAXP, Out::Unknown(r))];
        }
        self.chain_map(b.table, b.chain)
    }

    /// Outcome runs of a chain over all ports (memoised).
    fn chain_map(&mut self, tid: TableId, ci: usize) -> Vec<(u32, u32, Out)> {
        let view = self.st.view;
        if let Some(m) = self.memo.get(&(tid, ci, view)) {
            return m.clone();
        }
        if self.active.contains(&(tid, ci)) || self.active.len() > crate::eval::MAX_DEPTH {
            return vec![(0, MAXP, Out::Unknown("chain loop".into()))];
        }
        self.active.push((tid, ci));
        self.profiles_of(tid, ci);
        let ix = self.ctx.ix;
        let chain: &Chain = &ix.table(tid).chains[ci];
        let mut remaining: BTreeMap<u32, u32> = BTreeMap::from([(0, MAXP)]);
        let mut out: Vec<(u32, u32, Out)> = vec![];
        for (ri, r) in chain.rules.iter().enumerate() {
            if remaining.is_empty() {
                break;
            }
            if r.action == Action::Continue
                && !r.statements.iter().any(has_effect)
                && r.pre_statements.is_empty()
            {
                continue;
            }
            // A statement that runs part-way through the rule changes the packet for every
            // port its preceding matches may let through: resolved by the exact evaluation.
            for (k, _) in &r.pre_statements {
                let pre = self.matches_profile(tid, &r.matches[..(*k).min(r.matches.len())]);
                let ports = union(&pre.t, &pre.u);
                for (a, b) in take(&mut remaining, &ports) {
                    out.push((a, b, Out::Unknown("packet state change".into())));
                }
            }
            let prof = &self.profiles[&(tid, ci, view)][ri];
            if prof.t.is_empty() && prof.u.is_empty() {
                continue;
            }
            let reason = prof.reason.clone();
            let hit_u = take(&mut remaining, &prof.u.clone());
            for (a, b) in hit_u {
                out.push((a, b, Out::Unknown(reason.clone())));
            }
            let t = self.profiles[&(tid, ci, view)][ri].t.clone();
            let hit = peek(&remaining, &t);
            if hit.is_empty() {
                continue;
            }
            if r.statements.iter().any(has_effect) {
                for (a, b) in take(&mut remaining, &hit) {
                    out.push((a, b, Out::Unknown("packet state change".into())));
                }
                continue;
            }
            let id = (tid, ci, ri);
            self.apply(&r.action, id, tid, &hit, &mut remaining, &mut out);
        }
        for (a, b) in remaining {
            out.push((a, b, Out::Fall));
        }
        out.sort_by_key(|x| x.0);
        self.active.pop();
        self.memo.insert((tid, ci, view), out.clone());
        out
    }

    fn apply(
        &mut self,
        action: &Action,
        id: RuleId,
        tid: TableId,
        hit: &Set,
        remaining: &mut BTreeMap<u32, u32>,
        out: &mut Vec<(u32, u32, Out)>,
    ) {
        let settle = |o: Out,
                      remaining: &mut BTreeMap<u32, u32>,
                      out: &mut Vec<(u32, u32, Out)>,
                      s: &Set| {
            for (a, b) in take(remaining, s) {
                out.push((a, b, o.clone()));
            }
        };
        match action {
            Action::Continue => {}
            Action::Accept => settle(Out::Accept(id), remaining, out, hit),
            Action::Drop => settle(Out::Drop(id), remaining, out, hit),
            Action::Reject(k) => settle(Out::Reject(k.clone(), id), remaining, out, hit),
            Action::Return => settle(Out::Fall, remaining, out, hit),
            Action::Unmodelled(r) => settle(Out::Unknown(r.clone()), remaining, out, hit),
            // Rewrites or choices: resolved by the exact evaluation.
            Action::Redirect(_) => settle(Out::Unknown("redirect".into()), remaining, out, hit),
            Action::Dnat(_) | Action::Snat(_) | Action::Masquerade | Action::NumgenVmap { .. } => {
                settle(Out::Unknown("nat".into()), remaining, out, hit)
            }
            Action::Jump(target) | Action::Goto(target) => {
                let goto = matches!(action, Action::Goto(_));
                let Some(&ci2) = self.ctx.ix.tables[tid.0][tid.1].chains.get(target) else {
                    settle(
                        Out::Unknown(format!("jump to missing chain {target}")),
                        remaining,
                        out,
                        hit,
                    );
                    return;
                };
                if self.ctx.ix.table(tid).chains[ci2].base.is_some() {
                    settle(
                        Out::Unknown(format!("jump to base chain {target}")),
                        remaining,
                        out,
                        hit,
                    );
                    return;
                }
                let sub = self.chain_map(tid, ci2);
                for (a, b, o) in sub {
                    let part = intersect(hit, &vec![(a, b)]);
                    if part.is_empty() {
                        continue;
                    }
                    match o {
                        Out::Fall if !goto => {}
                        o => settle(o, remaining, out, &part),
                    }
                }
            }
            Action::Vmap { key, map } => {
                let Some(dpos) = key.iter().position(|f| is_dport(*f)) else {
                    // Key does not depend on the port: resolve once.
                    match self.ctx_vmap(tid, key, map) {
                        Ok(Some(a)) if !matches!(a, Action::Vmap { .. }) => {
                            self.apply(&a, id, tid, hit, remaining, out)
                        }
                        Ok(_) => {}
                        Err(r) => settle(Out::Unknown(r), remaining, out, hit),
                    }
                    return;
                };
                let mut vals = vec![];
                for f in key {
                    match field_value(*f, self.ctx.pkt, &self.st) {
                        KeyVal::Absent => return,
                        KeyVal::Unknown(r) => {
                            settle(Out::Unknown(r), remaining, out, hit);
                            return;
                        }
                        v => vals.push(v),
                    }
                }
                for (e, a) in self.vmap_entries(tid, map) {
                    if e.len() != vals.len()
                        || !e
                            .iter()
                            .zip(&vals)
                            .enumerate()
                            .all(|(i, (e, v))| i == dpos || elem_matches(e, v))
                    {
                        continue;
                    }
                    let ports = intersect(hit, &from_elems(std::iter::once(&e[dpos])));
                    let ports = peek(remaining, &ports);
                    if ports.is_empty() || matches!(a, Action::Vmap { .. }) {
                        continue;
                    }
                    self.apply(&a, id, tid, &ports, remaining, out);
                }
            }
        }
    }

    fn ctx_vmap(
        &self,
        tid: TableId,
        key: &[Field],
        map: &VerdictMap,
    ) -> Result<Option<Action>, String> {
        let mut vals = vec![];
        for f in key {
            match field_value(*f, self.ctx.pkt, &self.st) {
                KeyVal::Absent => return Ok(None),
                KeyVal::Unknown(r) => return Err(r),
                v => vals.push(v),
            }
        }
        Ok(self
            .vmap_entries(tid, map)
            .into_iter()
            .find(|(e, _)| {
                e.len() == vals.len() && e.iter().zip(&vals).all(|(e, v)| elem_matches(e, v))
            })
            .map(|(_, a)| a))
    }
}

/// Ports of `s` still in `remaining`.
fn peek(remaining: &BTreeMap<u32, u32>, s: &Set) -> Set {
    let mut out = vec![];
    for &(a, b) in s {
        // First interval that could overlap: the one starting at or before `a`.
        let start = remaining.range(..=a).next_back().map_or(a, |(&k, _)| k);
        for (&lo, &hi) in remaining.range(start..=b) {
            let x = lo.max(a);
            let y = hi.min(b);
            if x <= y {
                out.push((x, y));
            }
        }
    }
    out
}

/// Remove the ports of `s` from `remaining`, returning those that were there.
fn take(remaining: &mut BTreeMap<u32, u32>, s: &Set) -> Set {
    let hit = peek(remaining, s);
    for &(x, y) in &hit {
        let (&lo, &hi) = remaining.range(..=x).next_back().expect("overlap");
        remaining.remove(&lo);
        if lo < x {
            remaining.insert(lo, x - 1);
        }
        if y < hi {
            remaining.insert(y + 1, hi);
        }
    }
    hit
}

fn rule_ref_of(ix: &Index, (tid, ci, ri): RuleId) -> RuleRef {
    let t = ix.table(tid);
    let c = &t.chains[ci];
    let r = &c.rules[ri];
    RuleRef {
        backend: ix.rulesets[tid.0]
            .backend
            .unwrap_or(crate::model::Backend::Nftables),
        family: t.family,
        table: t.name.clone(),
        chain: c.name.clone(),
        handle: r.handle,
        position: r.position,
        text: r.text.clone(),
        comment: r.comment.clone(),
        is_policy: false,
    }
}

fn policy_ref(ix: &Index, tid: TableId, ci: usize) -> RuleRef {
    let t = ix.table(tid);
    let c = &t.chains[ci];
    let p = c.base.as_ref().map_or(Policy::Accept, |b| b.policy);
    RuleRef {
        backend: ix.rulesets[tid.0]
            .backend
            .unwrap_or(crate::model::Backend::Nftables),
        family: t.family,
        table: t.name.clone(),
        chain: c.name.clone(),
        handle: c.handle,
        position: 0,
        text: format!(
            "policy {}",
            if p == Policy::Drop { "drop" } else { "accept" }
        ),
        comment: None,
        is_policy: true,
    }
}

/// Decision of every destination port 0..=65535 for `packet` (its `dport` is ignored)
/// through the given rulesets together, as [`crate::explain`] would decide port by port.
///
/// Three passes: base chains are *painted* over port ranges in hook and priority order
/// ([`Painter`]); ports no base chain decided are accepted, by the last accept that saw them;
/// ranges the painting could not decide are evaluated exactly, one port per class of ports
/// the rules cannot tell apart ([`resolve_exactly`]).
pub fn sweep(rulesets: &[Ruleset], packet: &Packet) -> Sweep {
    let covered = covered_tables(rulesets);
    let ix = Index::new(rulesets.iter().collect(), &covered);
    let mut sw = Sweeper {
        ctx: Ctx::new(&ix, packet),
        st: PktState::new(packet),
        profiles: HashMap::new(),
        memo: HashMap::new(),
        active: vec![],
        breaks: BTreeSet::new(),
    };
    let mut painter = Painter::new(&ix);
    let bases = painted_bases(&ix, packet);
    for group in bases.chunk_by(|x, y| (x.stage, x.priority) == (y.stage, y.priority)) {
        if painter.pending.is_empty() {
            break;
        }
        if group.iter().any(|b| b.table != group[0].table) {
            painter.paint_same_priority(&mut sw, group);
        } else {
            for b in group {
                painter.paint_chain(&mut sw, b);
            }
        }
    }
    let finals = painter.settle();
    let total_rules: usize = rulesets.iter().map(Ruleset::rule_count).sum();
    let resolved = resolve_exactly(&mut sw, &ix, packet, finals, total_rules);
    Sweep {
        ranges: compress(resolved),
    }
}

/// The base chains painting follows, in hook and priority order: those on the way to a local
/// socket that see this packet (ports a DNAT sends on are resolved by the exact evaluation;
/// their prerouting outcome is unknown to the painting).
fn painted_bases<'x>(ix: &'x Index, packet: &Packet) -> Vec<&'x crate::index::BaseEntry> {
    ix.base
        .iter()
        .filter(|b| {
            let t = ix.table(b.table);
            let c = &t.chains[b.chain];
            b.stage <= 2
                && b.sees_iif(packet.iif.as_deref())
                && t.family.sees(packet.family)
                && crate::eval::nat_runs(c, packet.ct_state)
                && crate::eval::device_applies(c, packet) != Tri::False
        })
        .collect()
}

/// A decided range: first port, last port, decision, deciding rule.
type Final = (u32, u32, Decision, Option<RuleRef>);

/// Port ranges painted chain by chain: still pending, decided, and the accepts seen so far
/// (an accept ends one chain, not the packet's way).
struct Painter<'x> {
    ix: &'x Index<'x>,
    pending: BTreeMap<u32, u32>,
    finals: Vec<Final>,
    /// (ports, explicit accept rule), per base chain in order.
    accepts: Vec<(u32, u32, RuleRef)>,
    /// (ports, accepting policy) of chains with rules that fell through.
    policy_accepts: Vec<(u32, u32, RuleRef)>,
}

impl<'x> Painter<'x> {
    fn new(ix: &'x Index<'x>) -> Self {
        Painter {
            ix,
            pending: BTreeMap::from([(0, MAXP)]),
            finals: vec![],
            accepts: vec![],
            policy_accepts: vec![],
        }
    }

    /// One base chain alone at its priority: its runs decide or pass the pending ports.
    fn paint_chain(&mut self, sw: &mut Sweeper<'_, '_>, b: &crate::index::BaseEntry) {
        if self.pending.is_empty() {
            return;
        }
        let ix = self.ix;
        let c = &ix.table(b.table).chains[b.chain];
        sw.st.view = ct_view(b.stage, b.priority);
        let pol = c.base.as_ref().map_or(Policy::Accept, |b| b.policy);
        for (a, z, o) in sw.base_map(b) {
            let ports = peek(&self.pending, &vec![(a, z)]);
            if ports.is_empty() {
                continue;
            }
            let (d, by) = match o {
                Out::Accept(id) => {
                    let rr = rule_ref_of(ix, id);
                    self.accepts
                        .extend(ports.iter().map(|&(x, y)| (x, y, rr.clone())));
                    continue;
                }
                Out::Fall if pol == Policy::Accept => {
                    if !c.rules.is_empty() {
                        let rr = policy_ref(ix, b.table, b.chain);
                        self.policy_accepts
                            .extend(ports.iter().map(|&(x, y)| (x, y, rr.clone())));
                    }
                    continue;
                }
                Out::Fall => (Decision::Drop, Some(policy_ref(ix, b.table, b.chain))),
                Out::Drop(id) => (Decision::Drop, Some(rule_ref_of(ix, id))),
                Out::Reject(k, id) => (Decision::Reject(k), Some(rule_ref_of(ix, id))),
                Out::Unknown(r) => (Decision::Unknown(r), None),
            };
            self.decide(&ports, d, by);
        }
    }

    /// Equal-priority chains of different tables run in an order no listing shows: their
    /// outcomes are combined port by port; conflicting finals are unknown (and then resolved
    /// exactly, trying every order).
    fn paint_same_priority(
        &mut self,
        sw: &mut Sweeper<'_, '_>,
        group: &[&crate::index::BaseEntry],
    ) {
        let maps: Vec<(&crate::index::BaseEntry, Runs)> = group
            .iter()
            .map(|b| {
                sw.st.view = ct_view(b.stage, b.priority);
                (*b, sw.base_map(b))
            })
            .collect();
        let mut bounds: BTreeSet<u32> = maps
            .iter()
            .flat_map(|(_, runs)| runs.iter().map(|r| r.0))
            .collect();
        bounds.insert(0);
        let bv: Vec<u32> = bounds.into_iter().collect();
        for (k, &a) in bv.iter().enumerate() {
            let z = bv.get(k + 1).map_or(MAXP, |n| n - 1);
            let ports = peek(&self.pending, &vec![(a, z)]);
            if !ports.is_empty() {
                self.combine_at(&maps, a, &ports);
            }
        }
    }

    /// The combined outcome of equal-priority chains for `ports` (all in one run of each).
    fn combine_at(&mut self, maps: &[(&crate::index::BaseEntry, Runs)], a: u32, ports: &Set) {
        let ix = self.ix;
        let mut finals_here: Vec<(Decision, Option<RuleRef>)> = vec![];
        let mut acc_here: Vec<RuleRef> = vec![];
        let mut pol_here: Vec<RuleRef> = vec![];
        let mut unknown: Option<String> = None;
        for (b, runs) in maps {
            let c = &ix.table(b.table).chains[b.chain];
            let pol = c.base.as_ref().map_or(Policy::Accept, |x| x.policy);
            let Some((_, _, o)) = runs.get(runs.partition_point(|r| r.1 < a)) else {
                continue;
            };
            match o {
                Out::Accept(id) => acc_here.push(rule_ref_of(ix, *id)),
                Out::Fall if pol == Policy::Accept => {
                    if !c.rules.is_empty() {
                        pol_here.push(policy_ref(ix, b.table, b.chain));
                    }
                }
                Out::Fall => {
                    finals_here.push((Decision::Drop, Some(policy_ref(ix, b.table, b.chain))))
                }
                Out::Drop(id) => finals_here.push((Decision::Drop, Some(rule_ref_of(ix, *id)))),
                Out::Reject(kind, id) => {
                    finals_here.push((Decision::Reject(kind.clone()), Some(rule_ref_of(ix, *id))))
                }
                Out::Unknown(r) => unknown = Some(r.clone()),
            }
        }
        if let Some(r) = unknown {
            return self.decide(ports, Decision::Unknown(r), None);
        }
        if finals_here.is_empty() {
            for &(x, y) in ports {
                self.accepts
                    .extend(acc_here.iter().map(|rr| (x, y, rr.clone())));
                self.policy_accepts
                    .extend(pol_here.iter().map(|rr| (x, y, rr.clone())));
            }
            return;
        }
        let (d, by) = agreed_final(finals_here);
        self.decide(ports, d, by);
    }

    /// `ports` are decided: they leave the pending set.
    fn decide(&mut self, ports: &Set, d: Decision, by: Option<RuleRef>) {
        for (x, y) in take(&mut self.pending, ports) {
            self.finals.push((x, y, d.clone(), by.clone()));
        }
    }

    /// Pending ports are accepted: named by the last explicit accept that saw them, else the
    /// last accepting policy. Returns every range, sorted by port.
    fn settle(mut self) -> Vec<Final> {
        let pending = std::mem::take(&mut self.pending);
        for (a, z) in pending {
            let mut pieces: Vec<(u32, u32, Option<RuleRef>)> = vec![(a, z, None)];
            for src in [&self.policy_accepts, &self.accepts] {
                for (x, y, rr) in src.iter() {
                    pieces = overlay(pieces, *x, *y, rr);
                }
            }
            self.finals.extend(
                pieces
                    .into_iter()
                    .map(|(p, q, rr)| (p, q, Decision::Accept, rr)),
            );
        }
        self.finals.sort_by_key(|f| f.0);
        self.finals
    }
}

/// The final of equal-priority chains that all decide: theirs when they agree (the rule too,
/// when it is the same one), unknown when they do not.
fn agreed_final(finals: Vec<(Decision, Option<RuleRef>)>) -> (Decision, Option<RuleRef>) {
    let (d0, b0) = finals[0].clone();
    if !finals.iter().all(|f| f.0 == d0) {
        return (
            Decision::Unknown(
                "equal-priority base chains of different tables run in an order no listing shows"
                    .into(),
            ),
            None,
        );
    }
    let same = finals.iter().all(|f| f.1 == b0);
    (d0, if same { b0 } else { None })
}

/// `pieces` with `x..=y` (where they overlap) now named by `rr`.
fn overlay(
    pieces: Vec<(u32, u32, Option<RuleRef>)>,
    x: u32,
    y: u32,
    rr: &RuleRef,
) -> Vec<(u32, u32, Option<RuleRef>)> {
    let mut next = vec![];
    for (p, q, cur) in pieces {
        let (lo, hi) = (p.max(x), q.min(y));
        if lo > hi {
            next.push((p, q, cur));
            continue;
        }
        if p < lo {
            next.push((p, lo - 1, cur.clone()));
        }
        next.push((lo, hi, Some(rr.clone())));
        if hi < q {
            next.push((hi + 1, q, cur));
        }
    }
    next
}

/// Undecided ranges evaluated exactly, one port per class of ports no rule tells apart,
/// within a work budget (beyond it a range stays unknown).
fn resolve_exactly(
    sw: &mut Sweeper<'_, '_>,
    ix: &Index,
    packet: &Packet,
    finals: Vec<Final>,
    total_rules: usize,
) -> Vec<Resolved> {
    let mut resolved: Vec<Resolved> = vec![];
    let mut budget = (MAX_EXACT_WORK / (total_rules + 1)).clamp(16, MAX_EXACT_CLASSES);
    for (a, z, d, by) in finals {
        if !matches!(d, Decision::Unknown(_)) {
            resolved.push((a, z, d, by, None, None));
            continue;
        }
        if sw.breaks.is_empty() {
            sw.collect_breaks();
            sw.breaks.insert(0);
        }
        let mut starts: Vec<u32> = vec![a];
        if a < z {
            starts.extend(sw.breaks.range(a + 1..=z).copied());
        }
        if starts.len() > budget {
            resolved.push((a, z, d, by, None, None));
            continue;
        }
        budget -= starts.len();
        for (i, &s) in starts.iter().enumerate() {
            let e = starts.get(i + 1).map_or(z, |n| n - 1);
            let mut p = packet.clone();
            p.dport = s as u16;
            let v = crate::eval::evaluate_capped(ix, &p, SWEEP_MAX_PATHS);
            resolved.push((s, e, v.decision, v.decided_by, v.redirected_to, v.delivery));
        }
    }
    resolved
}

/// Adjacent ranges with the same outcome merged.
fn compress(resolved: Vec<Resolved>) -> Vec<PortRange> {
    let mut ranges: Vec<PortRange> = vec![];
    for (a, z, d, by, redirected_to, delivery) in resolved {
        if let Some(l) = ranges.last_mut() {
            if l.decision == d
                && l.decided_by == by
                && l.redirected_to == redirected_to
                && l.delivery == delivery
                && l.to as u32 + 1 == a
            {
                l.to = z as u16;
                continue;
            }
        }
        ranges.push(PortRange {
            from: a as u16,
            to: z as u16,
            decision: d,
            decided_by: by,
            redirected_to,
            delivery,
        });
    }
    ranges
}
