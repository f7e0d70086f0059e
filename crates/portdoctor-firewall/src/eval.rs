//! The evaluator: runs one packet through every base chain on the inbound path (ingress,
//! prerouting, input) in priority order, the way the kernel does, with three-valued matches.
//!
//! Semantics:
//! - Base chains of all tables (and all given rulesets) on the same hook run in priority
//!   order, lower first. Equal priorities: within one table the newest chain (highest handle)
//!   runs first, as netfilter inserts a new hook before existing ones of equal priority;
//!   between different tables or backends the order is not knowable from any listing, so every
//!   order is evaluated (at most [`MAX_ORDERS`]) and combined like undecided matches.
//! - `accept` ends the current base chain; `drop`/`reject` are final; `jump`, `goto`,
//!   `return`, end of a regular chain = return, end of a base chain = its policy.
//! - The destination is taken to be a local address of the host (`fib daddr type local`,
//!   `-m addrtype --dst-type LOCAL` hold): the packet is inbound-to-local.
//! - A match that cannot be decided forks the evaluation: both outcomes are followed. If every
//!   path ends in the same decision, that decision is definite; otherwise the result is
//!   `Unknown` with the reasons. The number of paths is capped ([`MAX_PATHS`]); past it the
//!   result is `Unknown`. The answer is never a guess.

use crate::index::{Index, SetIndex, TableId, ranges_contain};
use crate::model::{
    Action, Backend, Chain, CtState, Decision, Elem, Field, IpFamily, Match, Packet, Policy, Rule,
    RuleRef, Statement, Step, StepKind, Values, Verdict, VerdictMap,
};
use std::net::IpAddr;
use std::rc::Rc;

/// Maximum number of evaluation paths followed when undecided matches fork the evaluation.
pub const MAX_PATHS: usize = 1024;
/// Maximum chain nesting depth (the kernel's limit is 16 jumps for nf_tables).
pub const MAX_DEPTH: usize = 64;

/// Three-valued truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tri {
    /// Holds.
    True,
    /// Does not hold.
    False,
    /// Cannot be decided; the reason.
    Unknown(String),
}

impl Tri {
    pub(crate) fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            u => u,
        }
    }
}

/// Value of a packet field during evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyVal {
    Num(u128),
    Name(String),
    /// The field does not exist for this packet (dependency fails: the match is false).
    Absent,
    Unknown(String),
}

/// Mutable packet state along a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PktState {
    pub(crate) mark: Option<u32>,
    pub(crate) ct: CtState,
    /// Whether the current base chain runs after conntrack has looked the packet up.
    pub(crate) view: CtView,
    /// Destination port after a redirect.
    pub(crate) dport: Option<u16>,
    /// The destination address was rewritten (redirect).
    pub(crate) dst_rewritten: bool,
}

/// Where the current base chain sits relative to conntrack (prerouting priority -200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CtView {
    /// After conntrack: `ct state` is the connection's state.
    Tracked,
    /// Before conntrack (ingress, or prerouting below -200): no entry yet, `ct state` is
    /// `invalid` (or `untracked` after notrack).
    NotYet,
    /// At exactly -200: order relative to conntrack's own hook is not knowable.
    Ambiguous,
}

/// Conntrack view of a base chain on `stage` (0 ingress, 1 prerouting, 2 input) at `prio`.
pub(crate) fn ct_view(stage: u8, prio: i32) -> CtView {
    match stage {
        0 => CtView::NotYet,
        1 if prio < -200 => CtView::NotYet,
        1 if prio == -200 => CtView::Ambiguous,
        _ => CtView::Tracked,
    }
}

pub(crate) fn ip_num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// Value of `field` for the packet in `st`.
pub(crate) fn field_value(f: Field, p: &Packet, st: &PktState) -> KeyVal {
    let v4 = p.family == IpFamily::Ipv4;
    let proto = p.proto.number();
    match f {
        Field::NfProto => KeyVal::Num(if v4 { 2 } else { 10 }),
        Field::L4Proto => KeyVal::Num(proto as u128),
        Field::Saddr4 | Field::Daddr4 if !v4 => KeyVal::Absent,
        Field::Saddr6 | Field::Daddr6 if v4 => KeyVal::Absent,
        Field::Saddr4 | Field::Saddr6 => KeyVal::Num(ip_num(p.src)),
        Field::Daddr4 | Field::Daddr6 if st.dst_rewritten => KeyVal::Unknown(
            "destination address rewritten by a redirect (the interface's primary address)".into(),
        ),
        Field::Daddr4 | Field::Daddr6 => KeyVal::Num(ip_num(p.dst)),
        Field::Sport | Field::Dport if !p.proto.has_ports() => KeyVal::Absent,
        Field::TcpSport | Field::TcpDport | Field::TcpFlags if proto != 6 => KeyVal::Absent,
        Field::UdpSport | Field::UdpDport if proto != 17 => KeyVal::Absent,
        Field::Sport | Field::TcpSport | Field::UdpSport => KeyVal::Num(p.sport as u128),
        Field::Dport | Field::TcpDport | Field::UdpDport => {
            KeyVal::Num(st.dport.unwrap_or(p.dport) as u128)
        }
        Field::TcpFlags => KeyVal::Num(p.tcp_flags as u128),
        Field::Iifname => match &p.iif {
            Some(n) => KeyVal::Name(n.clone()),
            None => KeyVal::Unknown("input interface not given".into()),
        },
        Field::CtState => match (st.view, st.ct) {
            (_, CtState::Untracked) | (CtView::Tracked, _) => KeyVal::Num(st.ct.bit()),
            (CtView::NotYet, _) => KeyVal::Num(CtState::Invalid.bit()),
            (CtView::Ambiguous, _) => KeyVal::Unknown(
                "base chain at priority -200 runs in an unknowable order with conntrack".into(),
            ),
        },
        Field::DaddrType | Field::DaddrTypeXt => KeyVal::Num(2),
        Field::PktType => KeyVal::Num(0),
        Field::CtStatus => match (st.view, st.ct) {
            (CtView::NotYet, _) | (_, CtState::Untracked) | (_, CtState::Invalid) => KeyVal::Absent,
            (CtView::Ambiguous, _) => KeyVal::Unknown(
                "base chain at priority -200 runs in an unknowable order with conntrack".into(),
            ),
            (CtView::Tracked, CtState::New) => KeyVal::Num(0),
            (CtView::Tracked, CtState::Related) => KeyVal::Num(1),
            (CtView::Tracked, CtState::Established) => {
                KeyVal::Unknown("conntrack status of an established connection".into())
            }
        },
        Field::Mark => match st.mark {
            Some(m) => KeyVal::Num(m as u128),
            None => {
                KeyVal::Unknown("packet mark changed by a statement that is not modelled".into())
            }
        },
    }
}

pub(crate) fn elem_matches(e: &Elem, v: &KeyVal) -> bool {
    match (e, v) {
        (Elem::Range(a, b), KeyVal::Num(x)) => a <= x && x <= b,
        (Elem::Iface { name, wildcard }, KeyVal::Name(n)) => {
            if *wildcard {
                n.starts_with(name.as_str())
            } else {
                n == name
            }
        }
        _ => false,
    }
}

fn entries_contain(entries: &[Vec<Elem>], vals: &[KeyVal]) -> bool {
    entries
        .iter()
        .any(|e| e.len() == vals.len() && e.iter().zip(vals).all(|(e, v)| elem_matches(e, v)))
}

/// Evaluation context over an index.
pub(crate) struct Ctx<'a, 'i> {
    pub(crate) ix: &'i Index<'a>,
    pub(crate) pkt: &'i Packet,
}

impl Ctx<'_, '_> {
    fn set_lookup(&self, tid: TableId, values: &Values, vals: &[KeyVal]) -> Tri {
        match values {
            Values::Inline(entries) => tri(entries_contain(entries, vals)),
            Values::Named(name) => match self.ix.tables[tid.0][tid.1].sets.get(name) {
                Some(&si) => lookup_index(&self.ix.tables[tid.0][tid.1].set_index[si], vals),
                None => Tri::Unknown(format!("set @{name} not found in the table")),
            },
            Values::Ipset(name) => match self.ipset(tid, name) {
                Ok((_, si)) => lookup_index(si, vals),
                Err(r) => Tri::Unknown(r),
            },
        }
    }

    /// The ipset `name` seen from table `tid`: (dimensions, index), or why it is unknown.
    pub(crate) fn ipset(&self, tid: TableId, name: &str) -> Result<(usize, &SetIndex), String> {
        match self.ix.rulesets[tid.0].ipsets {
            None => Err(format!(
                "ipset {name}: contents not read (run `ipset save` as root)"
            )),
            Some(_) => match self.ix.ipsets[tid.0].get(name) {
                Some((d, si)) => Ok((*d, si)),
                None => Err(format!("ipset {name} does not exist")),
            },
        }
    }

    /// The key fields actually used: an ipset match uses as many flags as the set has
    /// dimensions (extra flags are ignored); fewer flags than dimensions is not modelled.
    pub(crate) fn effective_key<'k>(
        &self,
        tid: TableId,
        key: &'k [Field],
        values: &Values,
    ) -> Result<&'k [Field], Tri> {
        let Values::Ipset(name) = values else {
            return Ok(key);
        };
        let (dims, _) = self.ipset(tid, name).map_err(Tri::Unknown)?;
        if key.len() < dims {
            return Err(Tri::Unknown(format!(
                "ipset {name} has more dimensions than the match gives flags"
            )));
        }
        Ok(&key[..dims])
    }

    /// Three-valued evaluation of one match.
    pub(crate) fn eval_match(&self, tid: TableId, m: &Match, st: &PktState) -> Tri {
        match m {
            Match::Unmodelled { reason, text } => Tri::Unknown(format!("{text}: {reason}")),
            Match::Cmp {
                key,
                mask,
                negated,
                values,
            } => {
                let key = match self.effective_key(tid, key, values) {
                    Ok(k) => k,
                    Err(t) => return if *negated { t.not() } else { t },
                };
                if let ([Field::DaddrTypeXt], Values::Inline(types)) = (key, values) {
                    let r = tri(xt_addrtype_dst(self.pkt.family, types));
                    return if *negated { r.not() } else { r };
                }
                if let [f] = key {
                    // Fast path: one field, no allocation.
                    let v = match field_value(*f, self.pkt, st) {
                        KeyVal::Absent => return Tri::False,
                        KeyVal::Unknown(r) => return Tri::Unknown(r),
                        KeyVal::Num(n) => KeyVal::Num(mask.map_or(n, |m| n & m)),
                        v => v,
                    };
                    let r = self.set_lookup(tid, values, std::slice::from_ref(&v));
                    return if *negated { r.not() } else { r };
                }
                let mut vals = Vec::with_capacity(key.len());
                let mut unknown = None;
                for f in key {
                    match field_value(*f, self.pkt, st) {
                        KeyVal::Absent => return Tri::False,
                        KeyVal::Unknown(r) => unknown = Some(r),
                        KeyVal::Num(n) => vals.push(KeyVal::Num(match mask {
                            Some(m) => n & m,
                            None => n,
                        })),
                        v => vals.push(v),
                    }
                }
                if let Some(r) = unknown {
                    return Tri::Unknown(r);
                }
                let r = self.set_lookup(tid, values, &vals);
                if *negated { r.not() } else { r }
            }
        }
    }

    fn eval_rule(&self, tid: TableId, r: &Rule, st: &PktState) -> Tri {
        self.eval_matches(tid, &r.matches, st)
    }

    /// Conjunction of matches, three-valued.
    pub(crate) fn eval_matches(&self, tid: TableId, ms: &[Match], st: &PktState) -> Tri {
        let mut unknown: Option<String> = None;
        for m in ms {
            match self.eval_match(tid, m, st) {
                Tri::False => return Tri::False,
                Tri::Unknown(u) => {
                    if unknown.is_none() {
                        unknown = Some(u)
                    }
                }
                Tri::True => {}
            }
        }
        match unknown {
            Some(u) => Tri::Unknown(u),
            None => Tri::True,
        }
    }

    fn vmap_lookup(
        &self,
        tid: TableId,
        key: &[Field],
        map: &VerdictMap,
        st: &PktState,
    ) -> Result<Option<Action>, String> {
        let mut vals = Vec::with_capacity(key.len());
        for f in key {
            match field_value(*f, self.pkt, st) {
                KeyVal::Absent => return Ok(None),
                KeyVal::Unknown(r) => return Err(r),
                v => vals.push(v),
            }
        }
        let entries: &[(Vec<Elem>, Action)] = match map {
            VerdictMap::Inline(e) => e,
            VerdictMap::Named(n) => match self.ix.tables[tid.0][tid.1].vmaps.get(n) {
                Some(e) => e,
                None => return Err(format!("verdict map @{n} not found or contents unknown")),
            },
        };
        Ok(entries
            .iter()
            .find(|(e, _)| {
                e.len() == vals.len() && e.iter().zip(&vals).all(|(e, v)| elem_matches(e, v))
            })
            .map(|(_, a)| a.clone()))
    }
}

/// `-m addrtype --dst-type TYPES` for a unicast packet to a local address (see
/// [`Field::DaddrTypeXt`]).
fn xt_addrtype_dst(fam: IpFamily, types: &[Vec<Elem>]) -> bool {
    let has = |t: u128| {
        types
            .iter()
            .any(|e| matches!(e.as_slice(), [Elem::Range(a, b)] if *a <= t && t <= *b))
    };
    match fam {
        IpFamily::Ipv4 => has(2),
        IpFamily::Ipv6 => {
            if has(5) || has(0) {
                return false;
            }
            if has(2) || has(4) || has(6) || has(7) {
                return has(2);
            }
            true
        }
    }
}

fn tri(b: bool) -> Tri {
    if b { Tri::True } else { Tri::False }
}

fn lookup_index(si: &SetIndex, vals: &[KeyVal]) -> Tri {
    match si {
        SetIndex::Unknown(r) => Tri::Unknown(r.clone()),
        SetIndex::Ranges(r) => match vals {
            [KeyVal::Num(v)] => tri(ranges_contain(r, *v)),
            _ => Tri::False,
        },
        SetIndex::Entries(e) => tri(entries_contain(e, vals)),
    }
}

/// Whether a statement changes state that later matches can read.
pub(crate) fn has_effect(s: &Statement) -> bool {
    matches!(
        s,
        Statement::SetMark { .. } | Statement::MarkUnknown(_) | Statement::Notrack
    )
}

pub(crate) fn apply_statement(s: &Statement, st: &mut PktState) {
    match s {
        Statement::SetMark { value, mask } => {
            st.mark = st.mark.map(|m| (m & !mask) ^ value);
        }
        Statement::MarkUnknown(_) => st.mark = None,
        Statement::Notrack => st.ct = CtState::Untracked,
        _ => {}
    }
}

/// A frame of the chain call stack.
#[derive(Debug, Clone)]
struct Frame {
    table: TableId,
    chain: usize,
    next: usize,
}

/// One evaluation path.
#[derive(Debug, Clone)]
struct Path {
    /// The order of base chains this path follows (indices into the index's base list).
    order: Rc<Vec<usize>>,
    /// Position in `order`.
    base: usize,
    stack: Vec<Frame>,
    st: PktState,
    trace: Vec<Step>,
    /// Undecided matches this path assumed an outcome for.
    assumed: Vec<String>,
    /// The accepting rule of the canonically last base chain that accepted by a rule
    /// (canonical base index, rule): independent of the order of equal-priority chains.
    accepted_by: Option<(usize, RuleRef)>,
    /// Same for accepting policies (chains with rules only).
    policy_accept: Option<(usize, RuleRef)>,
}

impl Path {
    /// Canonical index of the base chain being run.
    fn canon(&self) -> usize {
        self.order.get(self.base).copied().unwrap_or(usize::MAX)
    }

    fn note_accept(&mut self, r: RuleRef, policy: bool) {
        let idx = self.canon();
        let slot = if policy {
            &mut self.policy_accept
        } else {
            &mut self.accepted_by
        };
        if slot.as_ref().is_none_or(|(i, _)| *i <= idx) {
            *slot = Some((idx, r));
        }
    }
}

/// Most orders of equal-priority base chains of different tables tried.
pub const MAX_ORDERS: usize = 120;

/// Every order in which the applicable base chains may run: the canonical order with each
/// group of equal (hook, priority) chains permuted by table (chains of one table keep their
/// known order). `Err` when there are more than [`MAX_ORDERS`].
fn base_orders(ix: &Index, pkt: &Packet) -> Result<Vec<Vec<usize>>, String> {
    let applicable: Vec<usize> = (0..ix.base.len())
        .filter(|&i| {
            let b = &ix.base[i];
            let t = ix.table(b.table);
            t.family.sees(pkt.family) && device_ok(&t.chains[b.chain], pkt)
        })
        .collect();
    let mut orders: Vec<Vec<usize>> = vec![vec![]];
    let mut i = 0;
    while i < applicable.len() {
        let key = |j: usize| {
            (
                ix.base[applicable[j]].stage,
                ix.base[applicable[j]].priority,
            )
        };
        let mut j = i;
        while j < applicable.len() && key(j) == key(i) {
            j += 1;
        }
        // Split the group by table, keeping each table's internal order.
        let mut subs: Vec<Vec<usize>> = vec![];
        for &b in &applicable[i..j] {
            match subs.last_mut() {
                Some(last) if ix.base[last[0]].table == ix.base[b].table => last.push(b),
                _ => subs.push(vec![b]),
            }
        }
        let perms = permutations(subs.len());
        if orders.len() * perms.len() > MAX_ORDERS {
            return Err(format!(
                "more than {MAX_ORDERS} possible orders of equal-priority base chains"
            ));
        }
        let mut next = Vec::with_capacity(orders.len() * perms.len());
        for o in &orders {
            for perm in &perms {
                let mut n = o.clone();
                for &k in perm {
                    n.extend_from_slice(&subs[k]);
                }
                next.push(n);
            }
        }
        orders = next;
        i = j;
    }
    Ok(orders)
}

/// All permutations of 0..n, the identity first.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n <= 1 {
        return vec![(0..n).collect()];
    }
    let mut out = vec![];
    for p in permutations(n - 1) {
        for pos in (0..=p.len()).rev() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Outcome {
    decision: Decision,
    by: Option<RuleRef>,
    trace: Vec<Step>,
    assumed: Vec<String>,
    redirect: Option<u16>,
}

fn backend_of(ix: &Index, tid: TableId) -> Backend {
    ix.rulesets[tid.0].backend.unwrap_or(Backend::Nftables)
}

fn rule_ref(ix: &Index, tid: TableId, chain: &Chain, r: &Rule) -> RuleRef {
    let t = ix.table(tid);
    RuleRef {
        backend: backend_of(ix, tid),
        family: t.family,
        table: t.name.clone(),
        chain: chain.name.clone(),
        handle: r.handle,
        position: r.position,
        text: r.text.clone(),
        comment: r.comment.clone(),
        is_policy: false,
    }
}

fn policy_ref(ix: &Index, tid: TableId, chain: &Chain, p: Policy) -> RuleRef {
    let t = ix.table(tid);
    RuleRef {
        backend: backend_of(ix, tid),
        family: t.family,
        table: t.name.clone(),
        chain: chain.name.clone(),
        handle: chain.handle,
        position: 0,
        text: format!(
            "policy {}",
            match p {
                Policy::Accept => "accept",
                Policy::Drop => "drop",
            }
        ),
        comment: None,
        is_policy: true,
    }
}

fn step(
    ix: &Index,
    tid: TableId,
    chain: &Chain,
    r: Option<&Rule>,
    kind: StepKind,
    d: String,
) -> Step {
    let t = ix.table(tid);
    Step {
        kind,
        backend: backend_of(ix, tid),
        table: format!("{} {}", t.family.as_str(), t.name),
        chain: chain.name.clone(),
        position: r.map_or(0, |r| r.position),
        handle: r.and_then(|r| r.handle),
        detail: d,
    }
}

enum Flow {
    /// Continue with the next rule of the current frame.
    Next,
    /// Path finished.
    Done(Box<Outcome>),
}

/// Evaluate `pkt` through the indexed rulesets.
pub(crate) fn evaluate_index(ix: &Index, pkt: &Packet) -> Verdict {
    evaluate_capped(ix, pkt, MAX_PATHS)
}

/// [`evaluate_index`] with at most `max_paths` evaluation paths.
pub(crate) fn evaluate_capped(ix: &Index, pkt: &Packet, max_paths: usize) -> Verdict {
    let ctx = Ctx { ix, pkt };
    if let Some(reason) = packet_problem(pkt) {
        return Verdict {
            decision: Decision::Unknown(reason),
            decided_by: None,
            trace: vec![],
            redirected_to: None,
            possible: vec![],
        };
    }
    let orders = match base_orders(ix, pkt) {
        Ok(o) => o,
        Err(reason) => {
            return Verdict {
                decision: Decision::Unknown(reason),
                decided_by: None,
                trace: vec![],
                redirected_to: None,
                possible: vec![],
            };
        }
    };
    let start = Path {
        order: Rc::new(vec![]),
        base: 0,
        stack: vec![],
        st: PktState {
            mark: pkt.mark,
            ct: pkt.ct_state,
            view: CtView::Tracked,
            dport: None,
            dst_rewritten: false,
        },
        trace: vec![],
        assumed: vec![],
        accepted_by: None,
        policy_accept: None,
    };
    let n_orders = orders.len();
    // Reversed so that the canonical order is evaluated first (its trace is shown).
    let mut work: Vec<Path> = orders
        .into_iter()
        .rev()
        .map(|o| Path {
            order: Rc::new(o),
            ..start.clone()
        })
        .collect();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut forks = n_orders;
    while let Some(mut p) = work.pop() {
        let o = run_path(&ctx, &mut p, &mut work, &mut forks);
        outcomes.push(o);
        if forks > max_paths {
            return Verdict {
                decision: Decision::Unknown(format!(
                    "more than {max_paths} evaluation paths through undecided matches"
                )),
                decided_by: None,
                trace: outcomes.swap_remove(0).trace,
                redirected_to: None,
                possible: vec![],
            };
        }
    }
    combine(outcomes, n_orders > 1)
}

fn reject_name(k: &crate::model::RejectKind) -> String {
    match serde_json::to_value(k) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{k:?}"),
    }
}

fn hook_name(h: &crate::model::Hook) -> String {
    use crate::model::Hook;
    match h {
        Hook::Ingress => "ingress".into(),
        Hook::Prerouting => "prerouting".into(),
        Hook::Input => "input".into(),
        Hook::Forward => "forward".into(),
        Hook::Output => "output".into(),
        Hook::Postrouting => "postrouting".into(),
        Hook::Other(o) => o.clone(),
    }
}

fn packet_problem(p: &Packet) -> Option<String> {
    let ok = match p.family {
        IpFamily::Ipv4 => p.src.is_ipv4() && p.dst.is_ipv4(),
        IpFamily::Ipv6 => p.src.is_ipv6() && p.dst.is_ipv6(),
    };
    (!ok).then(|| "packet family does not match its addresses".to_string())
}

fn combine(mut outcomes: Vec<Outcome>, several_orders: bool) -> Verdict {
    // Outcomes were pushed in depth-first order; the first is the "all undecided matches
    // false"-or-first path. Put the path that assumed least first for the trace.
    outcomes.sort_by_key(|o| o.assumed.len());
    let first = outcomes[0].clone();
    let all_same = outcomes
        .iter()
        .all(|o| o.decision == first.decision && o.redirect == first.redirect);
    if all_same && !matches!(first.decision, Decision::Unknown(_)) {
        let same_rule = outcomes.iter().all(|o| o.by == first.by);
        let mut trace = first.trace;
        if outcomes.len() > 1 {
            let mut assumed: Vec<String> =
                outcomes.iter().flat_map(|o| o.assumed.clone()).collect();
            assumed.sort();
            assumed.dedup();
            if let Some(s) = trace.last().cloned() {
                trace.push(Step {
                    kind: StepKind::Note,
                    detail: format!(
                        "{} paths through undecided matches all lead to this decision{}: {}",
                        outcomes.len(),
                        if same_rule {
                            ""
                        } else {
                            " (by different rules)"
                        },
                        assumed.join("; ")
                    ),
                    ..s
                });
            }
        }
        return Verdict {
            decision: first.decision,
            decided_by: if same_rule { first.by } else { None },
            trace,
            redirected_to: first.redirect,
            possible: vec![],
        };
    }
    let mut reasons: Vec<String> = Vec::new();
    for o in &outcomes {
        if let Decision::Unknown(r) = &o.decision {
            reasons.push(r.clone());
        }
        reasons.extend(o.assumed.iter().cloned());
    }
    if several_orders {
        reasons.push(
            "equal-priority base chains of different tables (or backends) run in an order \
             no listing shows, and the orders give different results"
                .into(),
        );
    }
    reasons.sort();
    reasons.dedup();
    let mut kinds: Vec<String> = outcomes
        .iter()
        .map(|o| decision_name(&o.decision))
        .collect();
    kinds.sort();
    kinds.dedup();
    let mut possible: Vec<Decision> = vec![];
    for o in &outcomes {
        let d = match &o.decision {
            Decision::Unknown(_) => Decision::Unknown("undecided path".into()),
            d => d.clone(),
        };
        if !possible.contains(&d) {
            possible.push(d);
        }
    }
    let outcomes_note = if kinds.len() > 1 {
        format!(" (possible outcomes: {})", kinds.join(", "))
    } else {
        String::new()
    };
    Verdict {
        decision: Decision::Unknown(format!("{}{outcomes_note}", reasons.join("; "))),
        decided_by: None,
        trace: first.trace,
        redirected_to: None,
        possible,
    }
}

fn decision_name(d: &Decision) -> String {
    match d {
        Decision::Accept => "accept".into(),
        Decision::Drop => "drop".into(),
        Decision::Reject(k) => format!("reject {}", reject_name(k)),
        Decision::Unknown(_) => "unknown".into(),
    }
}

fn run_path(ctx: &Ctx, p: &mut Path, work: &mut Vec<Path>, forks: &mut usize) -> Outcome {
    let ix = ctx.ix;
    loop {
        if p.stack.is_empty() {
            // Enter the next applicable base chain.
            let mut entered = false;
            while p.base < p.order.len() {
                let b = &ix.base[p.order[p.base]];
                let t = ix.table(b.table);
                let c = &t.chains[b.chain];
                if t.family.sees(ctx.pkt.family) && device_ok(c, ctx.pkt) && nat_runs(c, p.st.ct) {
                    if let Tri::Unknown(reason) = device_applies(c, ctx.pkt) {
                        // Fork: the chain may not see the packet at all.
                        *forks += 1;
                        let what = format!(
                            "{} {} base chain {}: {reason}",
                            backend_of(ix, b.table).as_str(),
                            t.name,
                            c.name
                        );
                        let mut alt = p.clone();
                        alt.base += 1;
                        alt.assumed.push(what.clone());
                        work.push(alt);
                        p.assumed.push(what);
                    }
                    p.trace.push(step(
                        ix,
                        b.table,
                        c,
                        None,
                        StepKind::EnterBaseChain,
                        format!(
                            "hook {} priority {}",
                            c.base.as_ref().map_or("?".into(), |b| hook_name(&b.hook)),
                            b.priority
                        ),
                    ));
                    p.st.view = ct_view(b.stage, b.priority);
                    p.stack.push(Frame {
                        table: b.table,
                        chain: b.chain,
                        next: 0,
                    });
                    entered = true;
                    break;
                }
                p.base += 1;
            }
            if !entered {
                let by = p
                    .accepted_by
                    .take()
                    .or(p.policy_accept.take())
                    .map(|(_, r)| r);
                return Outcome {
                    decision: Decision::Accept,
                    by,
                    trace: std::mem::take(&mut p.trace),
                    assumed: std::mem::take(&mut p.assumed),
                    redirect: p.st.dport,
                };
            }
        }
        match step_frame(ctx, p, work, forks) {
            Flow::Next => {}
            Flow::Done(o) => return *o,
        }
    }
}

/// NAT chains are consulted only for the first packet of a connection (conntrack state new,
/// or related for an expected connection); never for established, invalid or untracked ones.
pub(crate) fn nat_runs(c: &Chain, ct: CtState) -> bool {
    match &c.base {
        Some(b) if b.chain_type == "nat" => matches!(ct, CtState::New | CtState::Related),
        _ => true,
    }
}

/// Whether a base chain bound to devices sees the packet. Ingress chains always have a
/// device; nft 1.0.x leaves it out of `nft -j list ruleset` (an empty list here), and then,
/// like with an unknown input interface, it is unknown.
pub(crate) fn device_applies(c: &Chain, pkt: &Packet) -> Tri {
    match &c.base {
        Some(b) if b.devices.is_empty() && b.hook == crate::model::Hook::Ingress => {
            Tri::Unknown(format!(
                "the device of ingress chain {} is not in the JSON listing (read it from \
                 `nft list ruleset`)",
                c.name
            ))
        }
        Some(b) if !b.devices.is_empty() => match &pkt.iif {
            Some(i) => tri(b.devices.iter().any(|d| d == i)),
            None => Tri::Unknown(format!(
                "input interface not given (chain {} is bound to {})",
                c.name,
                b.devices.join(", ")
            )),
        },
        _ => Tri::True,
    }
}

fn device_ok(c: &Chain, pkt: &Packet) -> bool {
    device_applies(c, pkt) != Tri::False
}

fn finish(p: &mut Path, decision: Decision, by: Option<RuleRef>) -> Flow {
    Flow::Done(Box::new(Outcome {
        decision,
        by,
        trace: std::mem::take(&mut p.trace),
        assumed: std::mem::take(&mut p.assumed),
        redirect: None,
    }))
}

/// Pop the current frame as a return; at the base chain, apply the policy.
fn do_return(ctx: &Ctx, p: &mut Path) -> Flow {
    let f = p.stack.pop().expect("frame");
    let t = ctx.ix.table(f.table);
    let c = &t.chains[f.chain];
    if p.stack.is_empty() {
        let pol = c.base.as_ref().map_or(Policy::Accept, |b| b.policy);
        p.trace.push(step(
            ctx.ix,
            f.table,
            c,
            None,
            StepKind::Policy,
            format!(
                "policy {}",
                if pol == Policy::Drop {
                    "drop"
                } else {
                    "accept"
                }
            ),
        ));
        match pol {
            Policy::Accept => {
                if !c.rules.is_empty() {
                    p.note_accept(policy_ref(ctx.ix, f.table, c, pol), true);
                }
                p.base += 1;
                Flow::Next
            }
            Policy::Drop => {
                let r = policy_ref(ctx.ix, f.table, c, pol);
                finish(p, Decision::Drop, Some(r))
            }
        }
    } else {
        p.trace.push(step(
            ctx.ix,
            f.table,
            c,
            None,
            StepKind::Return,
            "return".into(),
        ));
        Flow::Next
    }
}

fn step_frame(ctx: &Ctx, p: &mut Path, work: &mut Vec<Path>, forks: &mut usize) -> Flow {
    let ix = ctx.ix;
    let f = p.stack.last().expect("frame").clone();
    let t = ix.table(f.table);
    let c = &t.chains[f.chain];
    let Some(r) = c.rules.get(f.next) else {
        return do_return(ctx, p);
    };
    p.stack.last_mut().expect("frame").next += 1;
    // Rules without verdict and without state effect cannot change the outcome.
    if r.action == Action::Continue
        && !r.statements.iter().any(has_effect)
        && r.pre_statements.is_empty()
    {
        return Flow::Next;
    }
    // Statements that run part-way through the rule, whatever the later matches say.
    for (k, stmt) in &r.pre_statements {
        let prefix = &r.matches[..(*k).min(r.matches.len())];
        match ctx.eval_matches(f.table, prefix, &p.st) {
            Tri::False => return Flow::Next,
            Tri::True => {}
            Tri::Unknown(reason) => {
                // Either the prefix failed (nothing more of this rule runs) or it held.
                *forks += 1;
                let what = format!(
                    "{} {} {} rule {} `{}` (before its statement): {reason}",
                    backend_of(ix, f.table).as_str(),
                    t.name,
                    c.name,
                    r.position,
                    r.text
                );
                let mut alt = p.clone();
                alt.assumed.push(what.clone());
                work.push(alt);
                p.assumed.push(what);
            }
        }
        apply_statement(stmt, &mut p.st);
        p.trace.push(step(
            ix,
            f.table,
            c,
            Some(r),
            StepKind::StateChange,
            format!("{stmt:?} (runs before the rule's remaining matches)"),
        ));
    }
    match ctx.eval_rule(f.table, r, &p.st) {
        Tri::False => Flow::Next,
        Tri::True => apply_rule(ctx, p, f.table, c, r, r.action.clone()),
        Tri::Unknown(reason) => {
            *forks += 1;
            let what = format!(
                "{} {} {} rule {} `{}`: {}",
                backend_of(ix, f.table).as_str(),
                t.name,
                c.name,
                r.position,
                r.text,
                reason
            );
            let mut alt = p.clone();
            alt.assumed.push(what.clone());
            alt.trace.push(step(
                ix,
                f.table,
                c,
                Some(r),
                StepKind::Undecided,
                format!("assumed not matching: {reason}"),
            ));
            work.push(alt);
            p.assumed.push(what);
            p.trace.push(step(
                ix,
                f.table,
                c,
                Some(r),
                StepKind::Undecided,
                format!("assumed matching: {reason}"),
            ));
            apply_rule(ctx, p, f.table, c, r, r.action.clone())
        }
    }
}

fn apply_rule(ctx: &Ctx, p: &mut Path, tid: TableId, c: &Chain, r: &Rule, action: Action) -> Flow {
    let ix = ctx.ix;
    for s in &r.statements {
        if has_effect(s) {
            apply_statement(s, &mut p.st);
            p.trace.push(step(
                ix,
                tid,
                c,
                Some(r),
                StepKind::StateChange,
                format!("{s:?}"),
            ));
        }
    }
    let rref = || rule_ref(ix, tid, c, r);
    match action {
        Action::Continue => Flow::Next,
        Action::Accept => {
            p.trace.push(step(
                ix,
                tid,
                c,
                Some(r),
                StepKind::Matched,
                "accept (ends this base chain)".into(),
            ));
            // The canonically last accepting rule is named when nothing drops.
            p.note_accept(rref(), false);
            p.stack.clear();
            p.base += 1;
            Flow::Next
        }
        Action::Drop => {
            p.trace
                .push(step(ix, tid, c, Some(r), StepKind::Decided, "drop".into()));
            finish(p, Decision::Drop, Some(rref()))
        }
        Action::Reject(k) => {
            p.trace.push(step(
                ix,
                tid,
                c,
                Some(r),
                StepKind::Decided,
                format!("reject {}", reject_name(&k)),
            ));
            finish(p, Decision::Reject(k), Some(rref()))
        }
        Action::Return => {
            p.trace.push(step(
                ix,
                tid,
                c,
                Some(r),
                StepKind::Matched,
                "return".into(),
            ));
            do_return(ctx, p)
        }
        Action::Jump(ref target) | Action::Goto(ref target) => {
            let is_goto = matches!(action, Action::Goto(_));
            let Some(&ci) = ix.tables[tid.0][tid.1].chains.get(target) else {
                return finish(
                    p,
                    Decision::Unknown(format!("jump to missing chain {target}")),
                    None,
                );
            };
            if ix.table(tid).chains[ci].base.is_some() {
                return finish(
                    p,
                    Decision::Unknown(format!(
                        "jump to base chain {target} (the kernel refuses such a ruleset)"
                    )),
                    None,
                );
            }
            if p.stack.iter().any(|f| f.table == tid && f.chain == ci) {
                return finish(
                    p,
                    Decision::Unknown(format!(
                        "chain loop through {target} (the kernel refuses such a ruleset)"
                    )),
                    None,
                );
            }
            if p.stack.len() >= MAX_DEPTH {
                return finish(p, Decision::Unknown("chain nesting too deep".into()), None);
            }
            p.trace.push(step(
                ix,
                tid,
                c,
                Some(r),
                StepKind::Jump,
                format!("{} {target}", if is_goto { "goto" } else { "jump" }),
            ));
            if is_goto && p.stack.len() > 1 {
                p.stack.pop();
            } else if is_goto {
                // goto from a base chain: returning from the target applies the base policy;
                // keep the base frame but exhaust it.
                if let Some(f) = p.stack.last_mut() {
                    f.next = usize::MAX;
                }
            }
            p.stack.push(Frame {
                table: tid,
                chain: ci,
                next: 0,
            });
            Flow::Next
        }
        Action::Vmap { key, map } => match ctx.vmap_lookup(tid, &key, &map, &p.st) {
            Ok(None) => Flow::Next,
            Ok(Some(a)) => {
                p.trace.push(step(
                    ix,
                    tid,
                    c,
                    Some(r),
                    StepKind::Matched,
                    format!("verdict map gives {a:?}"),
                ));
                if matches!(a, Action::Vmap { .. }) {
                    return finish(p, Decision::Unknown("nested verdict map".into()), None);
                }
                let plain = Rule {
                    statements: vec![],
                    ..r.clone()
                };
                apply_rule(ctx, p, tid, c, &plain, a)
            }
            Err(reason) => finish(
                p,
                Decision::Unknown(format!("verdict map lookup undecided: {reason}")),
                None,
            ),
        },
        Action::Redirect(port) => {
            let to = port.or(p.st.dport).unwrap_or(ctx.pkt.dport);
            p.trace.push(step(
                ix,
                tid,
                c,
                Some(r),
                StepKind::Matched,
                format!("redirect to local port {to} (ends this base chain)"),
            ));
            if port.is_some() {
                p.st.dport = Some(to);
            }
            p.st.dst_rewritten = true;
            p.note_accept(rref(), false);
            p.stack.clear();
            p.base += 1;
            Flow::Next
        }
        Action::Unmodelled(reason) => {
            p.trace
                .push(step(ix, tid, c, Some(r), StepKind::Note, reason.clone()));
            finish(
                p,
                Decision::Unknown(format!(
                    "{} {} rule {} `{}`: {reason}",
                    ix.table(tid).name,
                    c.name,
                    r.position,
                    r.text
                )),
                None,
            )
        }
    }
}
