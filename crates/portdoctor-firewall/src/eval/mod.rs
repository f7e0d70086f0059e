//! The evaluator: runs one packet through every base chain on its way (ingress, prerouting,
//! then input for a local address, or forward and postrouting when a DNAT sends it on) in
//! priority order, the way the kernel does, with three-valued matches.
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
//!   `-m addrtype --dst-type LOCAL` hold): the packet is inbound-to-local — until a DNAT
//!   rewrites it. Then the routing table (`Packet::routing`) decides: a local address goes
//!   to the input chains, another one through forward and postrouting when forwarding is on
//!   (`nat.rs`). Without a routing table that is unknown.
//! - A random choice per connection (`numgen`, `-m statistic`) forks the evaluation into
//!   alternatives, which are reported one by one (`Verdict::endpoints`).
//! - A match that cannot be decided forks the evaluation: both outcomes are followed. If every
//!   path ends in the same decision, that decision is definite; otherwise the result is
//!   `Unknown` with the reasons. The number of paths is capped ([`MAX_PATHS`]); past it the
//!   result is `Unknown`. The answer is never a guess.

use crate::index::{Index, SetIndex, TableId, ranges_contain};
use crate::model::{
    Action, Backend, Chain, CtState, Decision, Elem, Field, IpFamily, Match, Packet, Policy, Proto,
    Rule, RuleRef, Statement, Step, StepKind, Values, Verdict, VerdictMap,
};
use std::net::IpAddr;

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
    /// Holds for some connections and not for others (a random choice); what it is.
    Choice(String),
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
    /// Destination port after a redirect or DNAT.
    pub(crate) dport: Option<u16>,
    /// The destination address was rewritten to one not known (redirect).
    pub(crate) dst_rewritten: bool,
    /// Conntrack mark (`None`: unknown).
    pub(crate) ct_mark: Option<u32>,
    /// What NAT did to the connection so far.
    pub(crate) nat: NatState,
    /// Stage of the base chain being run (0 ingress … 4 postrouting).
    pub(crate) stage: u8,
    /// The output interface on the forward path.
    pub(crate) oif: Option<String>,
}

/// What NAT did to a connection on this path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NatState {
    /// Destination address set by a DNAT.
    pub(crate) dst: Option<IpAddr>,
    /// The port was picked from a range (not known).
    pub(crate) dport_unknown: bool,
    /// A DNAT or redirect bound the destination: the later nat chains of the hook do not run.
    pub(crate) dst_bound: bool,
    /// The DNAT changed the connection's tuple (`ct status dnat`).
    pub(crate) dst_changed: bool,
    /// An SNAT or masquerade bound the source.
    pub(crate) src_bound: bool,
    /// The source after SNAT (`Some(None)`: masquerade, the output interface's address).
    pub(crate) src: Option<Option<IpAddr>>,
}

impl PktState {
    /// Initial state for a packet.
    pub(crate) fn new(p: &Packet) -> PktState {
        PktState {
            mark: p.mark,
            ct: p.ct_state,
            view: CtView::Tracked,
            dport: None,
            dst_rewritten: false,
            ct_mark: (p.ct_state == CtState::New).then_some(0),
            nat: NatState::default(),
            stage: 0,
            oif: None,
        }
    }

    /// Whether the packet has a conntrack entry here.
    fn has_ct(&self) -> bool {
        self.view != CtView::NotYet && !matches!(self.ct, CtState::Untracked | CtState::Invalid)
    }
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
        Field::Saddr4 | Field::Saddr6 => match st.nat.src {
            None => KeyVal::Num(ip_num(p.src)),
            Some(Some(a)) => KeyVal::Num(ip_num(a)),
            Some(None) => KeyVal::Unknown(
                "source address rewritten by masquerade (the output interface's address)".into(),
            ),
        },
        Field::Daddr4 | Field::Daddr6 if st.dst_rewritten => KeyVal::Unknown(
            "destination address rewritten by a redirect (the interface's primary address)".into(),
        ),
        Field::Daddr4 | Field::Daddr6 => KeyVal::Num(ip_num(st.nat.dst.unwrap_or(p.dst))),
        Field::Sport | Field::Dport if !p.proto.has_ports() => KeyVal::Absent,
        Field::TcpSport | Field::TcpDport | Field::TcpFlags if proto != 6 => KeyVal::Absent,
        Field::UdpSport | Field::UdpDport if proto != 17 => KeyVal::Absent,
        Field::Sport | Field::TcpSport | Field::UdpSport => KeyVal::Num(p.sport as u128),
        Field::Dport | Field::TcpDport | Field::UdpDport if st.nat.dport_unknown => {
            KeyVal::Unknown("destination port picked by the kernel from a NAT port range".into())
        }
        Field::Dport | Field::TcpDport | Field::UdpDport => {
            KeyVal::Num(st.dport.unwrap_or(p.dport) as u128)
        }
        Field::TcpFlags => KeyVal::Num(p.tcp_flags as u128),
        // Postrouting has no input device (`state->in` is NULL): the name is empty.
        Field::Iifname if st.stage == 4 => KeyVal::Name(String::new()),
        Field::Oifname if st.stage <= 2 => KeyVal::Name(String::new()),
        Field::Oifname => match &st.oif {
            Some(o) => KeyVal::Name(o.clone()),
            None => KeyVal::Unknown("output interface not known".into()),
        },
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
        Field::DaddrType | Field::DaddrTypeXt => match st.nat.dst {
            None => KeyVal::Num(2),
            Some(a) => nat::daddr_type(p, a),
        },
        Field::RpfStrict | Field::RpfLoose | Field::SaddrType => match &p.reverse_path {
            Some(r) => KeyVal::Num(match f {
                Field::RpfStrict => r.strict as u128,
                Field::RpfLoose => r.loose as u128,
                _ => r.src_type as u128,
            }),
            None => KeyVal::Unknown(
                "the route back to the source is not known (only the live routing table says; \
                 not in saved rulesets)"
                    .into(),
            ),
        },
        Field::PktType => KeyVal::Num(0),
        Field::CtMark if !st.has_ct() => KeyVal::Absent,
        Field::CtMark if st.view == CtView::Ambiguous => KeyVal::Unknown(
            "base chain at priority -200 runs in an unknowable order with conntrack".into(),
        ),
        Field::CtMark => match st.ct_mark {
            Some(m) => KeyVal::Num(m as u128),
            None => KeyVal::Unknown("conntrack mark of an existing connection".into()),
        },
        Field::EtherType => KeyVal::Num(if v4 { 0x0800 } else { 0x86dd }),
        Field::CtStatus => match (st.view, st.ct) {
            (CtView::NotYet, _) | (_, CtState::Untracked) | (_, CtState::Invalid) => KeyVal::Absent,
            (CtView::Ambiguous, _) => KeyVal::Unknown(
                "base chain at priority -200 runs in an unknowable order with conntrack".into(),
            ),
            (CtView::Tracked, CtState::New) => KeyVal::Num(st.nat.status_bits()),
            (CtView::Tracked, CtState::Related) => KeyVal::Num(1 | st.nat.status_bits()),
            (CtView::Tracked, CtState::Established) => {
                KeyVal::Unknown("conntrack status of an established connection".into())
            }
        },
        Field::CtProto => ct_proto(p, st),
        Field::CtOrigSport | Field::CtOrigDport => ct_orig_port(f, p, st),
        Field::Mark => match st.mark {
            Some(m) => KeyVal::Num(m as u128),
            None => {
                KeyVal::Unknown("packet mark changed by a statement that is not modelled".into())
            }
        },
    }
}

/// [`Field::CtProto`]: the protocol of the packet's conntrack entry.
fn ct_proto(p: &Packet, st: &PktState) -> KeyVal {
    match (st.view, st.ct) {
        (CtView::NotYet, _) | (_, CtState::Untracked | CtState::Invalid) => KeyVal::Absent,
        (CtView::Ambiguous, _) => KeyVal::Unknown(
            "base chain at priority -200 runs in an unknowable order with conntrack".into(),
        ),
        (CtView::Tracked, CtState::Related) if matches!(p.proto, Proto::Icmp | Proto::Icmpv6) => {
            KeyVal::Unknown(
                "conntrack protocol of an ICMP error (the related connection's protocol)".into(),
            )
        }
        (CtView::Tracked, _) => KeyVal::Num(p.proto.number() as u128),
    }
}

/// [`Field::CtOrigSport`] / [`Field::CtOrigDport`]: a port of the connection's original
/// direction, known for the packet that opens it.
fn ct_orig_port(f: Field, p: &Packet, st: &PktState) -> KeyVal {
    match ct_proto(p, st) {
        KeyVal::Num(_) if !p.proto.has_ports() => {
            KeyVal::Unknown("conntrack original port of a protocol without ports".into())
        }
        KeyVal::Num(_) if st.ct == CtState::Established => KeyVal::Unknown(
            "conntrack original port of an established connection (the packet may be a reply)"
                .into(),
        ),
        KeyVal::Num(_) if f == Field::CtOrigSport => KeyVal::Num(p.sport as u128),
        KeyVal::Num(_) => KeyVal::Num(p.dport as u128),
        other => other,
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
    /// Assumptions consulted so far ([`Match::Assumed`] reached with the assumption on).
    pub(crate) assumed: std::cell::RefCell<Vec<String>>,
}

impl<'a, 'i> Ctx<'a, 'i> {
    /// A context for `pkt` over `ix`.
    pub(crate) fn new(ix: &'i Index<'a>, pkt: &'i Packet) -> Ctx<'a, 'i> {
        Ctx {
            ix,
            pkt,
            assumed: std::cell::RefCell::new(vec![]),
        }
    }

    /// The assumptions consulted, sorted, without repeats.
    pub(crate) fn assumptions(&self) -> Vec<String> {
        let mut a = self.assumed.borrow().clone();
        a.sort();
        a.dedup();
        a
    }

    fn assumed_match(&self, holds: bool, assumption: &str, text: &str) -> Tri {
        if !self.pkt.assume_fresh_source {
            return Tri::Unknown(format!(
                "{text}: depends on traffic history (not assumed: {assumption})"
            ));
        }
        let mut seen = self.assumed.borrow_mut();
        if !seen.iter().any(|a| a == assumption) {
            seen.push(assumption.to_string());
        }
        tri(holds)
    }
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
            Match::Assumed {
                holds,
                assumption,
                text,
            } => self.assumed_match(*holds, assumption, text),
            Match::Absent { .. } => Tri::False,
            Match::Chance { text } => Tri::Choice(text.clone()),
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
                    let r = match st.nat.dst {
                        None => tri(xt_addrtype_dst(self.pkt.family, types, 2)),
                        Some(a) => match nat::daddr_type(self.pkt, a) {
                            KeyVal::Num(t) => tri(xt_addrtype_dst(self.pkt.family, types, t)),
                            KeyVal::Unknown(r) => Tri::Unknown(r),
                            _ => Tri::False,
                        },
                    };
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

    /// Conjunction of matches, three-valued: false wins, then unknown, then a choice.
    pub(crate) fn eval_matches(&self, tid: TableId, ms: &[Match], st: &PktState) -> Tri {
        let mut unknown: Option<String> = None;
        let mut choice: Option<String> = None;
        for m in ms {
            match self.eval_match(tid, m, st) {
                Tri::False => return Tri::False,
                Tri::Unknown(u) => {
                    unknown.get_or_insert(u);
                }
                Tri::Choice(c) => {
                    choice.get_or_insert(c);
                }
                Tri::True => {}
            }
        }
        match (unknown, choice) {
            (Some(u), _) => Tri::Unknown(u),
            (None, Some(c)) => Tri::Choice(c),
            (None, None) => Tri::True,
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

/// `-m addrtype --dst-type TYPES` for a unicast packet to a destination whose route type is
/// `rtype` (2 local; see [`Field::DaddrTypeXt`]).
fn xt_addrtype_dst(fam: IpFamily, types: &[Vec<Elem>], rtype: u128) -> bool {
    let has = |t: u128| {
        types
            .iter()
            .any(|e| matches!(e.as_slice(), [Elem::Range(a, b)] if *a <= t && t <= *b))
    };
    match fam {
        IpFamily::Ipv4 => has(rtype),
        IpFamily::Ipv6 => {
            if has(5) || has(0) {
                return false;
            }
            if has(2) || has(4) || has(6) || has(7) {
                return matches!(rtype, 2 | 6 | 7) && has(rtype);
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
        Statement::SetMark { .. }
            | Statement::MarkUnknown(_)
            | Statement::Notrack
            | Statement::SetCtMark { .. }
            | Statement::SaveMark { .. }
            | Statement::RestoreMark { .. }
            | Statement::CtMarkUnknown(_)
    )
}

pub(crate) fn apply_statement(s: &Statement, st: &mut PktState) {
    match s {
        Statement::SetMark { value, mask } => {
            st.mark = st.mark.map(|m| (m & !mask) ^ value);
        }
        Statement::MarkUnknown(_) => st.mark = None,
        // Without a conntrack entry the conntrack mark statements do nothing.
        Statement::SetCtMark { .. } | Statement::SaveMark { .. } | Statement::CtMarkUnknown(_)
            if !st.has_ct() => {}
        Statement::SetCtMark { value, mask } => {
            st.ct_mark = st.ct_mark.map(|m| (m & !mask) ^ value);
        }
        Statement::SaveMark { mask } => {
            st.ct_mark = match (st.ct_mark, st.mark) {
                (Some(c), Some(m)) => Some((c & !mask) ^ (m & mask)),
                _ => None,
            };
        }
        Statement::CtMarkUnknown(_) => st.ct_mark = None,
        Statement::RestoreMark { .. } if !st.has_ct() => {}
        Statement::RestoreMark { mask } => {
            st.mark = match (st.mark, st.ct_mark) {
                (Some(m), Some(c)) => Some((m & !mask) ^ (c & mask)),
                _ => None,
            };
        }
        Statement::Notrack => st.ct = CtState::Untracked,
        _ => {}
    }
}

mod combine;
mod nat;
mod orders;
mod run;

pub use orders::MAX_ORDERS;
pub(crate) use run::{device_applies, evaluate_capped, evaluate_index, nat_runs};
