//! Running paths through the base chains: frames, forks at undecided matches, every order of
//! equal-priority chains, and combining the outcomes into one verdict.

use super::*;
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
        // Tables that can neither end the traversal nor change the packet run in any order
        // without consequence: only the others are permuted.
        let (neutral, subs): (Vec<Vec<usize>>, Vec<Vec<usize>>) = subs
            .into_iter()
            .partition(|sub| sub.iter().all(|&b| order_neutral(ix, b)));
        let neutral: Vec<usize> = neutral.into_iter().flatten().collect();
        // k! orders for k tables: refuse before computing them.
        let count = (1..=subs.len()).try_fold(orders.len(), |acc, k| {
            acc.checked_mul(k).filter(|n| *n <= MAX_ORDERS)
        });
        if count.is_none() {
            return Err(format!(
                "more than {MAX_ORDERS} possible orders of equal-priority base chains"
            ));
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
                n.extend_from_slice(&neutral);
                next.push(n);
            }
        }
        orders = next;
        i = j;
    }
    Ok(orders)
}

/// Whether base chain `b` (with everything it jumps to) can only accept or fall through to an
/// accepting policy, without changing the packet: its place among equal-priority chains
/// then cannot matter.
fn order_neutral(ix: &Index, b: usize) -> bool {
    let e = &ix.base[b];
    let t = ix.table(e.table);
    let tix = &ix.tables[e.table.0][e.table.1];
    if t.chains[e.chain]
        .base
        .as_ref()
        .is_some_and(|x| x.policy == Policy::Drop)
    {
        return false;
    }
    let mut seen = vec![false; t.chains.len()];
    let mut stack = vec![e.chain];
    let neutral_action = |a: &Action, stack: &mut Vec<usize>| -> bool {
        match a {
            Action::Accept | Action::Continue | Action::Return => true,
            Action::Jump(c) | Action::Goto(c) => match tix.chains.get(c) {
                Some(&ci) if t.chains[ci].base.is_none() => {
                    stack.push(ci);
                    true
                }
                _ => false,
            },
            _ => false,
        }
    };
    while let Some(ci) = stack.pop() {
        if std::mem::replace(&mut seen[ci], true) {
            // Reached twice (a shared chain, or a loop): do not try to tell them apart.
            return false;
        }
        for r in &t.chains[ci].rules {
            if !r.pre_statements.is_empty() || r.statements.iter().any(has_effect) {
                return false;
            }
            let ok = match &r.action {
                Action::Vmap { map, .. } => {
                    let entries: Vec<Action> = match map {
                        VerdictMap::Inline(e) => e.iter().map(|(_, a)| a.clone()).collect(),
                        VerdictMap::Named(n) => match tix.vmaps.get(n) {
                            Some(e) => e.iter().map(|(_, a)| a.clone()).collect(),
                            None => return false,
                        },
                    };
                    entries.iter().all(|a| neutral_action(a, &mut stack))
                }
                a => neutral_action(a, &mut stack),
            };
            if !ok {
                return false;
            }
        }
    }
    true
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

/// Every deciding rule of the outcomes, in order, without repeats.
fn deciders(outcomes: &[Outcome]) -> Vec<RuleRef> {
    let mut out: Vec<RuleRef> = vec![];
    for r in outcomes.iter().filter_map(|o| o.by.as_ref()) {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
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
    let deciders = deciders(&outcomes);
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
            deciders,
            assumptions: vec![],
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
        deciders,
        assumptions: vec![],
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
