//! Running paths through the base chains: frames, forks at undecided matches and at random
//! choices, every order of equal-priority chains, NAT and the routing decision after
//! prerouting.

use super::combine::{Outcome, combine, reject_name};
use super::nat::{self, Target};
use super::orders::base_orders;
use super::*;
use crate::model::{Delivery, Hook, NatTo, Numgen, RejectKind, RouteKind};
use std::rc::Rc;

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
    /// Random choices this path made.
    choices: Vec<String>,
    /// The routing decision once made: `Some(true)` delivered here, `Some(false)` forwarded.
    local: Option<bool>,
    /// What the routing table said about a DNAT'd destination.
    route: Option<(RouteKind, Option<String>)>,
    /// The DNAT rule that rewrote the destination.
    nat_rule: Option<RuleRef>,
    /// Something to do first when this path is resumed (the alternative it stands for).
    pending: Option<Pending>,
    /// The hook of the base chain being run (`None` at the routing decision).
    hook: Option<Hook>,
}

/// The alternative a forked path stands for, done when it is resumed.
#[derive(Debug, Clone)]
enum Pending {
    /// Apply this action of the rule at (table, chain, rule index).
    Action(TableId, usize, usize, Action),
    /// Apply this NAT rewrite (`true`: destination) of the rule at (table, chain, rule).
    Nat(TableId, usize, usize, bool, Option<Target>),
    /// End the path with this decision.
    Finish(Decision),
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
    let ctx = Ctx::new(ix, pkt);
    if let Some(reason) = packet_problem(pkt) {
        return Verdict::unknown(reason);
    }
    let orders = match base_orders(ix, pkt) {
        Ok(o) => o,
        Err(reason) => return Verdict::unknown(reason),
    };
    let start = Path {
        order: Rc::new(vec![]),
        base: 0,
        stack: vec![],
        st: PktState::new(pkt),
        trace: vec![],
        assumed: vec![],
        accepted_by: None,
        policy_accept: None,
        choices: vec![],
        local: None,
        route: None,
        nat_rule: None,
        pending: None,
        hook: None,
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
                trace: outcomes.swap_remove(0).trace,
                ..Verdict::unknown(format!(
                    "more than {max_paths} evaluation paths through undecided matches"
                ))
            };
        }
    }
    let mut v = combine(outcomes, n_orders > 1);
    v.assumptions = ctx.assumptions();
    v
}

fn packet_problem(p: &Packet) -> Option<String> {
    let ok = match p.family {
        IpFamily::Ipv4 => p.src.is_ipv4() && p.dst.is_ipv4(),
        IpFamily::Ipv6 => p.src.is_ipv6() && p.dst.is_ipv6(),
    };
    (!ok).then(|| "packet family does not match its addresses".to_string())
}

fn run_path(ctx: &Ctx, p: &mut Path, work: &mut Vec<Path>, forks: &mut usize) -> Outcome {
    if let Some(pending) = p.pending.take() {
        if let Flow::Done(o) = resume(ctx, p, work, forks, pending) {
            return *o;
        }
    }
    loop {
        if p.stack.is_empty() {
            if let Some(o) = enter_next(ctx, p, work, forks) {
                return o;
            }
        }
        match step_frame(ctx, p, work, forks) {
            Flow::Next => {}
            Flow::Done(o) => return *o,
        }
    }
}

/// Does what a forked path stands for.
fn resume(
    ctx: &Ctx,
    p: &mut Path,
    work: &mut Vec<Path>,
    forks: &mut usize,
    pending: Pending,
) -> Flow {
    let ix = ctx.ix;
    match pending {
        Pending::Finish(d) => finish(ctx, p, d, None),
        Pending::Action(tid, ci, ri, a) => {
            let c = &ix.table(tid).chains[ci];
            let plain = Rule {
                statements: vec![],
                ..c.rules[ri].clone()
            };
            apply_rule(ctx, p, work, forks, tid, c, &plain, a)
        }
        Pending::Nat(tid, ci, ri, dst, t) => {
            let c = &ix.table(tid).chains[ci];
            apply_nat(ctx, p, tid, c, &c.rules[ri], dst, t)
        }
    }
}

/// Enters the next base chain on the packet's way (making the routing decision once
/// prerouting is done); at the end, the outcome (accepted, or what the routing decided).
fn enter_next(ctx: &Ctx, p: &mut Path, work: &mut Vec<Path>, forks: &mut usize) -> Option<Outcome> {
    let ix = ctx.ix;
    while p.base < p.order.len() {
        let b = &ix.base[p.order[p.base]];
        if b.stage >= 2 && p.local.is_none() {
            if let Some(o) = decide_route(ctx, p, work, forks) {
                return Some(o);
            }
        }
        let on_way = match (b.stage, p.local) {
            (0 | 1, _) => true,
            (2, Some(local)) => local,
            (_, Some(local)) => !local,
            _ => false,
        };
        let t = ix.table(b.table);
        let c = &t.chains[b.chain];
        let runs = t.family.sees(ctx.pkt.family)
            && b.sees_iif(ctx.pkt.iif.as_deref())
            && device_ok(c, ctx.pkt)
            && nat_runs(c, p.st.ct)
            && !nat_bound(c, &p.st);
        if on_way && runs {
            enter(ctx, p, work, forks, b);
            return None;
        }
        p.base += 1;
    }
    if p.local.is_none() {
        if let Some(o) = decide_route(ctx, p, work, forks) {
            return Some(o);
        }
    }
    let by = p
        .accepted_by
        .take()
        .or(p.policy_accept.take())
        .map(|(_, r)| r);
    Some(Outcome {
        decision: Decision::Accept,
        by,
        delivery: delivery(ctx, p),
        redirect: p.st.dport.filter(|_| p.nat_rule.is_none()),
        trace: std::mem::take(&mut p.trace),
        assumed: std::mem::take(&mut p.assumed),
        choices: std::mem::take(&mut p.choices),
        decided_at: None,
    })
}

/// Enters base chain `b`.
fn enter(
    ctx: &Ctx,
    p: &mut Path,
    work: &mut Vec<Path>,
    forks: &mut usize,
    b: &crate::index::BaseEntry,
) {
    let ix = ctx.ix;
    let t = ix.table(b.table);
    let c = &t.chains[b.chain];
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
            c.base.as_ref().map_or("?", |b| b.hook.name()),
            b.own
        ),
    ));
    p.st.view = ct_view(b.stage, b.priority);
    p.st.stage = b.stage;
    p.hook = c.base.as_ref().map(|x| x.hook.clone());
    p.stack.push(Frame {
        table: b.table,
        chain: b.chain,
        next: 0,
    });
}

/// A nat chain whose kind of rewrite is already bound for this connection does not run (the
/// NAT core stops calling nat chains of a hook once one of them set up the mapping).
fn nat_bound(c: &Chain, st: &PktState) -> bool {
    match &c.base {
        Some(b) if b.chain_type == "nat" => match b.hook {
            Hook::Prerouting | Hook::Output => st.nat.dst_bound,
            Hook::Input | Hook::Postrouting => st.nat.src_bound,
            _ => false,
        },
        _ => false,
    }
}

/// The routing decision after prerouting. Without a DNAT the destination is the local
/// address asked about. A DNAT'd destination goes where the routing table sends it: `None`
/// to go on (local or forwarded), or the path's end when the kernel drops or answers it.
fn decide_route(
    ctx: &Ctx,
    p: &mut Path,
    work: &mut Vec<Path>,
    forks: &mut usize,
) -> Option<Outcome> {
    p.hook = None;
    let dst = match (&p.nat_rule, p.st.nat.dst) {
        (Some(_), Some(a)) => a,
        _ => {
            p.local = Some(true);
            return None;
        }
    };
    let (kind, oif) = match nat::route(ctx.pkt, dst) {
        // A connection this host makes to itself that nat OUTPUT sends elsewhere leaves
        // through output and postrouting, which are not evaluated.
        (RouteKind::Local, o) => (RouteKind::Local, o),
        _ if ctx.pkt.iif.as_deref() == Some("lo") => (
            RouteKind::Unknown(format!(
                "this host's own connection is sent to {dst} by nat OUTPUT and leaves through \
                 the output and postrouting chains, which are not evaluated"
            )),
            None,
        ),
        r => r,
    };
    p.route = Some((kind.clone(), oif.clone()));
    p.trace.push(route_step(p, dst, &kind, oif.as_deref()));
    let end = |p: &mut Path, d: Decision| match finish(ctx, p, d, None) {
        Flow::Done(o) => Some(*o),
        Flow::Next => None,
    };
    match kind {
        RouteKind::Local => {
            p.local = Some(true);
            None
        }
        RouteKind::Forwarded => {
            p.local = Some(false);
            p.st.oif = oif;
            None
        }
        RouteKind::ForwardingOff | RouteKind::Unroutable(6) => end(p, Decision::Drop),
        RouteKind::NoRoute | RouteKind::Unroutable(_) => {
            let kind = match kind {
                RouteKind::Unroutable(7) => RejectKind::HostUnreachable,
                RouteKind::Unroutable(_) => RejectKind::AdminProhibited,
                _ => RejectKind::NetUnreachable,
            };
            // The kernel's ICMP error is rate limited per source: an answer or silence.
            *forks += 1;
            let mut alt = p.clone();
            alt.assumed
                .push("the kernel's ICMP errors to this source are rate limited".into());
            alt.pending = Some(Pending::Finish(Decision::Drop));
            work.push(alt);
            p.assumed
                .push("the kernel's ICMP error is not rate limited".into());
            end(p, Decision::Reject(kind))
        }
        RouteKind::Unknown(r) => end(p, Decision::Unknown(r)),
    }
}

/// The trace step of the routing decision.
fn route_step(p: &Path, dst: IpAddr, kind: &RouteKind, oif: Option<&str>) -> Step {
    let what = match kind {
        RouteKind::Local => {
            format!("{dst} is an address of this host: delivered here (input chains)")
        }
        RouteKind::Forwarded => format!(
            "{dst} is not an address of this host: forwarded out of {} (forward, then postrouting chains)",
            oif.unwrap_or("?")
        ),
        RouteKind::ForwardingOff => format!(
            "{dst} is not an address of this host and forwarding is off on the input interface: the kernel drops it"
        ),
        RouteKind::NoRoute => format!("no route to {dst}: the kernel answers network unreachable"),
        RouteKind::Unroutable(t) => {
            format!("{dst} has a route of type {t} (blackhole 6, unreachable 7, prohibit 8)")
        }
        RouteKind::Unknown(r) => r.clone(),
    };
    let r = p.nat_rule.as_ref();
    Step {
        kind: StepKind::Route,
        backend: r.map_or(Backend::Nftables, |r| r.backend),
        table: "routing".into(),
        chain: "decision".into(),
        position: 0,
        handle: None,
        detail: what,
    }
}

/// Where a DNAT sent the connection on this path.
fn delivery(ctx: &Ctx, p: &Path) -> Option<Delivery> {
    let rule = p.nat_rule.clone()?;
    let addr = p.st.nat.dst.unwrap_or(ctx.pkt.dst);
    let port = (!p.st.nat.dport_unknown).then(|| p.st.dport.unwrap_or(ctx.pkt.dport));
    let (route, oif) = match (&p.route, p.st.nat.dst) {
        (Some(r), _) => r.clone(),
        (None, Some(a)) => nat::route(ctx.pkt, a),
        (None, None) => (RouteKind::Local, None),
    };
    Some(Delivery {
        addr,
        port,
        oif: oif.filter(|_| route == RouteKind::Forwarded),
        route,
        nat_rule: Some(rule),
    })
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

pub(crate) fn device_ok(c: &Chain, pkt: &Packet) -> bool {
    device_applies(c, pkt) != Tri::False
}

fn finish(ctx: &Ctx, p: &mut Path, decision: Decision, by: Option<RuleRef>) -> Flow {
    let decided_at = p.hook.clone();
    Flow::Done(Box::new(Outcome {
        decision,
        by,
        delivery: delivery(ctx, p),
        trace: std::mem::take(&mut p.trace),
        assumed: std::mem::take(&mut p.assumed),
        redirect: None,
        choices: std::mem::take(&mut p.choices),
        decided_at,
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
                finish(ctx, p, Decision::Drop, Some(r))
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
            Tri::Unknown(reason) | Tri::Choice(reason) => {
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
        Tri::True => apply_rule(ctx, p, work, forks, f.table, c, r, r.action.clone()),
        Tri::Choice(text) => {
            // A random choice: both alternatives happen, to different connections.
            *forks += 1;
            let what = format!("{} {} rule {} `{}`", t.name, c.name, r.position, r.text);
            let mut alt = p.clone();
            alt.choices.push(format!("not chosen: {what}"));
            let not_chosen = format!("not chosen ({text})");
            trace(&mut alt, ix, f.table, c, r, StepKind::Choice, not_chosen);
            work.push(alt);
            p.choices.push(format!("chosen: {what}"));
            trace(
                p,
                ix,
                f.table,
                c,
                r,
                StepKind::Choice,
                format!("chosen ({text})"),
            );
            apply_rule(ctx, p, work, forks, f.table, c, r, r.action.clone())
        }
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
            apply_rule(ctx, p, work, forks, f.table, c, r, r.action.clone())
        }
    }
}

/// A trace step for rule `r` of chain `c`.
fn trace(
    p: &mut Path,
    ix: &Index,
    tid: TableId,
    c: &Chain,
    r: &Rule,
    kind: StepKind,
    text: String,
) {
    p.trace.push(step(ix, tid, c, Some(r), kind, text));
}

#[allow(clippy::too_many_arguments)]
fn apply_rule(
    ctx: &Ctx,
    p: &mut Path,
    work: &mut Vec<Path>,
    forks: &mut usize,
    tid: TableId,
    c: &Chain,
    r: &Rule,
    action: Action,
) -> Flow {
    let ix = ctx.ix;
    for s in r.statements.iter().filter(|s| has_effect(s)) {
        apply_statement(s, &mut p.st);
        trace(p, ix, tid, c, r, StepKind::StateChange, format!("{s:?}"));
    }
    let rref = || rule_ref(ix, tid, c, r);
    match action {
        Action::Continue => Flow::Next,
        Action::Accept => {
            let text = "accept (ends this base chain)".into();
            trace(p, ix, tid, c, r, StepKind::Matched, text);
            // The canonically last accepting rule is named when nothing drops.
            p.note_accept(rref(), false);
            p.stack.clear();
            p.base += 1;
            Flow::Next
        }
        Action::Drop => {
            trace(p, ix, tid, c, r, StepKind::Decided, "drop".into());
            finish(ctx, p, Decision::Drop, Some(rref()))
        }
        Action::Reject(k) => {
            let text = format!("reject {}", reject_name(&k));
            trace(p, ix, tid, c, r, StepKind::Decided, text);
            finish(ctx, p, Decision::Reject(k), Some(rref()))
        }
        Action::Return => {
            trace(p, ix, tid, c, r, StepKind::Matched, "return".into());
            do_return(ctx, p)
        }
        Action::Jump(ref target) => jump(ctx, p, tid, c, r, target, false),
        Action::Goto(ref target) => jump(ctx, p, tid, c, r, target, true),
        Action::Vmap { key, map } => match ctx.vmap_lookup(tid, &key, &map, &p.st) {
            Ok(None) => Flow::Next,
            Ok(Some(a)) => {
                trace(
                    p,
                    ix,
                    tid,
                    c,
                    r,
                    StepKind::Matched,
                    format!("verdict map gives {a:?}"),
                );
                if matches!(a, Action::Vmap { .. }) {
                    return finish(ctx, p, Decision::Unknown("nested verdict map".into()), None);
                }
                let plain = Rule {
                    statements: vec![],
                    ..r.clone()
                };
                apply_rule(ctx, p, work, forks, tid, c, &plain, a)
            }
            Err(reason) => finish(
                ctx,
                p,
                Decision::Unknown(format!("verdict map lookup undecided: {reason}")),
                None,
            ),
        },
        Action::Redirect(_) if ctx.pkt.ignore_nat => ignored_nat(ctx, p, tid, c, r),
        Action::Redirect(port) => redirect(ctx, p, tid, c, r, port),
        Action::Dnat(to) => nat_action(ctx, p, work, forks, tid, c, r, true, &to),
        Action::Snat(to) => nat_action(ctx, p, work, forks, tid, c, r, false, &to),
        Action::Masquerade => apply_nat(ctx, p, tid, c, r, false, None),
        Action::NumgenVmap { numgen, map } => {
            numgen_vmap(ctx, p, work, forks, tid, c, r, numgen, &map)
        }
        Action::Unmodelled(reason) => {
            trace(p, ix, tid, c, r, StepKind::Note, reason.clone());
            let t = ix.table(tid);
            let why = format!(
                "{} {} rule {} `{}`: {reason}",
                t.name, c.name, r.position, r.text
            );
            finish(ctx, p, Decision::Unknown(why), None)
        }
    }
}

/// `jump` / `goto` to the user chain `target`; a ruleset the kernel would refuse (missing
/// chain, base chain, loop) or nesting beyond [`MAX_DEPTH`] is unknown.
fn jump(
    ctx: &Ctx,
    p: &mut Path,
    tid: TableId,
    c: &Chain,
    r: &Rule,
    target: &str,
    is_goto: bool,
) -> Flow {
    let ix = ctx.ix;
    let refused =
        |why: String| Decision::Unknown(format!("{why} (the kernel refuses such a ruleset)"));
    let Some(&ci) = ix.tables[tid.0][tid.1].chains.get(target) else {
        let d = Decision::Unknown(format!("jump to missing chain {target}"));
        return finish(ctx, p, d, None);
    };
    if ix.table(tid).chains[ci].base.is_some() {
        return finish(
            ctx,
            p,
            refused(format!("jump to base chain {target}")),
            None,
        );
    }
    if p.stack.iter().any(|f| f.table == tid && f.chain == ci) {
        return finish(
            ctx,
            p,
            refused(format!("chain loop through {target}")),
            None,
        );
    }
    if p.stack.len() >= MAX_DEPTH {
        let d = Decision::Unknown("chain nesting too deep".into());
        return finish(ctx, p, d, None);
    }
    let verb = if is_goto { "goto" } else { "jump" };
    trace(p, ix, tid, c, r, StepKind::Jump, format!("{verb} {target}"));
    if is_goto && p.stack.len() > 1 {
        p.stack.pop();
    } else if is_goto {
        // goto from a base chain: returning from the target applies the base policy; keep
        // the base frame but exhaust it.
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

/// `redirect` (to `port`, or the packet's own): delivered locally, ends this base chain.
fn redirect(ctx: &Ctx, p: &mut Path, tid: TableId, c: &Chain, r: &Rule, port: Option<u16>) -> Flow {
    let to = port.or(p.st.dport).unwrap_or(ctx.pkt.dport);
    let text = format!("redirect to local port {to} (ends this base chain)");
    trace(p, ctx.ix, tid, c, r, StepKind::Matched, text);
    if port.is_some() {
        p.st.dport = Some(to);
    }
    p.st.dst_rewritten = true;
    p.st.nat.dst_bound = true;
    p.st.nat.dst_changed |= to != ctx.pkt.dport || p.st.nat.dst.is_some();
    p.note_accept(rule_ref(ctx.ix, tid, c, r), false);
    p.stack.clear();
    p.base += 1;
    Flow::Next
}

/// The position of the rule being applied: (table, chain, rule index).
fn here(p: &Path) -> (TableId, usize, usize) {
    let f = p.stack.last().expect("frame");
    (f.table, f.chain, f.next.saturating_sub(1))
}

/// A `dnat`/`snat` statement: its alternatives (an address range, a map, a number generator)
/// are forked; this path takes the first.
#[allow(clippy::too_many_arguments)]
fn nat_action(
    ctx: &Ctx,
    p: &mut Path,
    work: &mut Vec<Path>,
    forks: &mut usize,
    tid: TableId,
    c: &Chain,
    r: &Rule,
    dst: bool,
    to: &NatTo,
) -> Flow {
    if dst && ctx.pkt.ignore_nat {
        return ignored_nat(ctx, p, tid, c, r);
    }
    let alts = match ctx.nat_targets(tid, to, &p.st) {
        Ok(a) if !a.is_empty() => a,
        Ok(_) => return Flow::Next,
        Err(e) => {
            let why = format!(
                "{} {} rule {} `{}`: {e}",
                ctx.ix.table(tid).name,
                c.name,
                r.position,
                r.text
            );
            return finish(ctx, p, Decision::Unknown(why), None);
        }
    };
    let (t, ci, ri) = here(p);
    let mut alts = alts.into_iter();
    let (label, first) = alts.next().expect("one alternative");
    for (label, target) in alts {
        *forks += 1;
        let mut alt = p.clone();
        alt.choices.extend(label);
        alt.pending = Some(Pending::Nat(t, ci, ri, dst, target));
        work.push(alt);
    }
    p.choices.extend(label);
    apply_nat(ctx, p, tid, c, r, dst, first)
}

/// Applies one NAT rewrite of rule `r` (`None` with `dst` false: masquerade; `None` with
/// `dst` true: no map entry, the rule does nothing). A rewrite ends the base chain like an
/// accept.
fn apply_nat(
    ctx: &Ctx,
    p: &mut Path,
    tid: TableId,
    c: &Chain,
    r: &Rule,
    dst: bool,
    t: Option<Target>,
) -> Flow {
    let applied = match (&t, dst) {
        (Some(t), true) => nat::apply_dnat(ctx.pkt, &mut p.st, t),
        (None, true) => false,
        (t, false) => nat::apply_snat(ctx.pkt, &mut p.st, t.as_ref()),
    };
    if !applied {
        return Flow::Next;
    }
    let rref = rule_ref(ctx.ix, tid, c, r);
    let detail = match (dst, &t) {
        (true, _) => {
            let addr = p.st.nat.dst.unwrap_or(ctx.pkt.dst);
            let port = match (p.st.nat.dport_unknown, p.st.dport) {
                (true, _) => " (a port the kernel picks from the range)".to_string(),
                (false, Some(port)) => format!(" port {port}"),
                (false, None) => String::new(),
            };
            p.nat_rule = Some(rref.clone());
            format!(
                "dnat to {addr}{port} (ends this base chain; later nat chains of the hook do not run)"
            )
        }
        (false, Some(t)) => format!(
            "snat to {} (ends this base chain)",
            t.addr
                .map_or("the same address".to_string(), |a| a.to_string())
        ),
        (false, None) => {
            "masquerade: the source becomes the output interface's address (ends this base chain)"
                .into()
        }
    };
    p.trace
        .push(step(ctx.ix, tid, c, Some(r), StepKind::Nat, detail));
    p.note_accept(rref, false);
    p.stack.clear();
    p.base += 1;
    Flow::Next
}

/// With [`Packet::ignore_nat`]: the rewrite is left out, the nat chain simply ends.
fn ignored_nat(ctx: &Ctx, p: &mut Path, tid: TableId, c: &Chain, r: &Rule) -> Flow {
    p.trace.push(step(
        ctx.ix,
        tid,
        c,
        Some(r),
        StepKind::Note,
        "NAT left out (evaluating the way to a local socket alone)".into(),
    ));
    p.stack.clear();
    p.base += 1;
    Flow::Next
}

/// `numgen … vmap { … }`: every value is an alternative; this path takes the first.
#[allow(clippy::too_many_arguments)]
fn numgen_vmap(
    ctx: &Ctx,
    p: &mut Path,
    work: &mut Vec<Path>,
    forks: &mut usize,
    tid: TableId,
    c: &Chain,
    r: &Rule,
    g: Numgen,
    map: &VerdictMap,
) -> Flow {
    let entries = match ctx.map_entries(tid, map) {
        Ok(e) if g.modulus > 0 && g.modulus <= nat::MAX_NUMGEN => e,
        Ok(_) => {
            let why = format!("numgen mod {}: too many alternatives to follow", g.modulus);
            return finish(ctx, p, Decision::Unknown(why), None);
        }
        Err(e) => return finish(ctx, p, Decision::Unknown(e), None),
    };
    let mut alts: Vec<(u32, Option<Action>)> = vec![];
    for v in g.offset..g.offset.saturating_add(g.modulus) {
        let hit = entries.iter().find(|(e, _)| {
            matches!(e.as_slice(), [Elem::Range(a, b)] if *a <= v as u128 && v as u128 <= *b)
        });
        let a = hit.map(|(_, a)| a.clone());
        // Values with the same verdict are the same alternative.
        if !alts.iter().any(|(_, x)| *x == a) {
            alts.push((v, a));
        }
    }
    let (t, ci, ri) = here(p);
    let label = |v: u32| format!("numgen value {v} in {} rule {}", c.name, r.position);
    let mut it = alts.into_iter();
    let (v0, a0) = it.next().expect("modulus > 0");
    for (v, a) in it {
        *forks += 1;
        let mut alt = p.clone();
        alt.choices.push(label(v));
        alt.trace
            .push(step(ctx.ix, tid, c, Some(r), StepKind::Choice, label(v)));
        alt.pending = a.map(|a| Pending::Action(t, ci, ri, a));
        work.push(alt);
    }
    p.choices.push(label(v0));
    p.trace
        .push(step(ctx.ix, tid, c, Some(r), StepKind::Choice, label(v0)));
    match a0 {
        Some(a) => {
            let plain = Rule {
                statements: vec![],
                ..r.clone()
            };
            apply_rule(ctx, p, work, forks, tid, c, &plain, a)
        }
        None => Flow::Next,
    }
}
