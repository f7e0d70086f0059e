//! Combining the outcomes of every evaluation path into one verdict: paths that differ only
//! by undecided matches (or by the order of equal-priority chains) give a definite decision
//! when they agree and `Unknown` otherwise; paths that differ by a random choice per
//! connection (`numgen`, `-m statistic`) are endpoints, reported one by one.

use crate::model::{
    Decision, Delivery, Endpoint, Hook, RejectKind, RuleRef, Step, StepKind, Verdict,
};

/// How one evaluation path ended.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) decision: Decision,
    pub(crate) by: Option<RuleRef>,
    pub(crate) trace: Vec<Step>,
    /// Undecided matches this path assumed an outcome for.
    pub(crate) assumed: Vec<String>,
    /// The local port a redirect sent it to.
    pub(crate) redirect: Option<u16>,
    /// Random choices this path made (alternatives, not unknowns).
    pub(crate) choices: Vec<String>,
    /// Where a DNAT sent it.
    pub(crate) delivery: Option<Delivery>,
    /// The hook of the deciding base chain.
    pub(crate) decided_at: Option<Hook>,
}

/// The target of a delivery, for comparing outcomes: the same place whatever the route note.
fn target(d: &Option<Delivery>) -> Option<(std::net::IpAddr, Option<u16>)> {
    d.as_ref().map(|d| (d.addr, d.port))
}

/// Every deciding rule of the outcomes, in order, without repeats.
fn deciders<'o>(rules: impl Iterator<Item = &'o RuleRef>) -> Vec<RuleRef> {
    let mut out: Vec<RuleRef> = vec![];
    for r in rules {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// The snake_case name of a reject kind (`tcp_reset`).
pub(crate) fn reject_name(k: &RejectKind) -> String {
    match serde_json::to_value(k) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{k:?}"),
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

/// One verdict from every path: grouped by the random choices they made.
pub(crate) fn combine(outcomes: Vec<Outcome>, several_orders: bool) -> Verdict {
    let mut groups: Vec<(Vec<String>, Vec<Outcome>)> = vec![];
    for o in outcomes {
        match groups.iter_mut().find(|(c, _)| *c == o.choices) {
            Some((_, g)) => g.push(o),
            None => groups.push((o.choices.clone(), vec![o])),
        }
    }
    if groups.len() == 1 {
        let (_, g) = groups.pop().expect("one group");
        return combine_paths(g, several_orders);
    }
    let mut verdicts: Vec<Verdict> = vec![];
    let mut endpoints: Vec<Endpoint> = vec![];
    for (via, g) in groups {
        let v = combine_paths(g, several_orders);
        verdicts.push(v.clone());
        endpoints.push(endpoint(via, v));
    }
    let endpoints = merge(endpoints);
    if endpoints.len() == 1 {
        // Every choice leads to the same place with the same decision.
        return verdicts.swap_remove(0);
    }
    from_endpoints(endpoints)
}

fn endpoint(via: Vec<String>, v: Verdict) -> Endpoint {
    Endpoint {
        delivery: v.delivery,
        decision: v.decision,
        decided_by: v.decided_by,
        decided_at: v.decided_at,
        possible: v.possible,
        via,
        trace: v.trace,
    }
}

/// Endpoints that go to the same place with the same decision by the same rule, once;
/// ordered by destination.
fn merge(endpoints: Vec<Endpoint>) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = vec![];
    for e in endpoints {
        let same = |x: &Endpoint| {
            target(&x.delivery) == target(&e.delivery)
                && x.decision == e.decision
                && x.decided_by == e.decided_by
        };
        if !out.iter().any(same) {
            out.push(e);
        }
    }
    out.sort_by_key(|e| target(&e.delivery));
    out
}

/// `10.244.1.5:5432 accept`, `10.244.2.7:5432 drop by `…``.
fn endpoint_text(e: &Endpoint) -> String {
    let to = e
        .delivery
        .as_ref()
        .map_or("not rewritten".to_string(), Delivery::target_text);
    let by = e
        .decided_by
        .as_ref()
        .map_or(String::new(), |r| format!(" by `{}`", r.text));
    match &e.decision {
        Decision::Unknown(r) => format!("{to}: unknown ({r})"),
        d => format!("{to}: {}{by}", decision_name(d)),
    }
}

/// The verdict of a connection that goes to one of several endpoints.
fn from_endpoints(endpoints: Vec<Endpoint>) -> Verdict {
    let first = &endpoints[0];
    let same = |f: &dyn Fn(&Endpoint) -> bool| endpoints.iter().all(f);
    let one_decision =
        same(&|e| e.decision == first.decision) && !matches!(first.decision, Decision::Unknown(_));
    let mut possible: Vec<Decision> = vec![];
    for e in &endpoints {
        let ds = match &e.decision {
            Decision::Unknown(_) if e.possible.is_empty() => {
                vec![Decision::Unknown("undecided path".into())]
            }
            Decision::Unknown(_) => e.possible.clone(),
            d => vec![d.clone()],
        };
        for d in ds {
            if !possible.contains(&d) {
                possible.push(d);
            }
        }
    }
    let list: Vec<String> = endpoints.iter().map(endpoint_text).collect();
    let decision = if one_decision {
        first.decision.clone()
    } else {
        Decision::Unknown(format!(
            "one of {} alternatives is chosen for each connection (numgen / statistic), and \
             they differ: {}",
            endpoints.len(),
            list.join("; ")
        ))
    };
    let mut trace = first.trace.clone();
    if let Some(s) = trace.last().cloned() {
        trace.push(Step {
            kind: StepKind::Choice,
            detail: format!(
                "one of {} alternatives per connection: {}",
                endpoints.len(),
                list.join("; ")
            ),
            ..s
        });
    }
    Verdict {
        decided_by: same(&|e| e.decided_by == first.decided_by)
            .then(|| first.decided_by.clone())
            .flatten(),
        deciders: deciders(endpoints.iter().filter_map(|e| e.decided_by.as_ref())),
        possible: if one_decision { vec![] } else { possible },
        redirected_to: None,
        assumptions: vec![],
        delivery: same(&|e| target(&e.delivery) == target(&first.delivery))
            .then(|| first.delivery.clone())
            .flatten(),
        decided_at: same(&|e| e.decided_at == first.decided_at)
            .then(|| first.decided_at.clone())
            .flatten(),
        trace,
        decision,
        endpoints,
    }
}

/// Paths that made the same choices: a definite decision when they agree.
fn combine_paths(mut outcomes: Vec<Outcome>, several_orders: bool) -> Verdict {
    // Outcomes were pushed in depth-first order; the first is the "all undecided matches
    // false"-or-first path. Put the path that assumed least first for the trace.
    outcomes.sort_by_key(|o| o.assumed.len());
    let first = outcomes[0].clone();
    let deciders = deciders(outcomes.iter().filter_map(|o| o.by.as_ref()));
    let all_same = outcomes.iter().all(|o| {
        o.decision == first.decision
            && o.redirect == first.redirect
            && target(&o.delivery) == target(&first.delivery)
    });
    let decided_at = outcomes
        .iter()
        .all(|o| o.decided_at == first.decided_at)
        .then(|| first.decided_at.clone())
        .flatten();
    if all_same && !matches!(first.decision, Decision::Unknown(_)) {
        return agreed(&outcomes, first, deciders, decided_at);
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
    let same_delivery = outcomes
        .iter()
        .all(|o| target(&o.delivery) == target(&first.delivery));
    Verdict {
        decision: Decision::Unknown(format!("{}{outcomes_note}", reasons.join("; "))),
        decided_by: None,
        trace: first.trace,
        redirected_to: None,
        possible,
        deciders,
        assumptions: vec![],
        delivery: first.delivery.filter(|_| same_delivery),
        endpoints: vec![],
        decided_at,
    }
}

/// The verdict when every path reached the same decision.
fn agreed(
    outcomes: &[Outcome],
    first: Outcome,
    deciders: Vec<RuleRef>,
    decided_at: Option<Hook>,
) -> Verdict {
    let same_rule = outcomes.iter().all(|o| o.by == first.by);
    let mut trace = first.trace;
    if outcomes.len() > 1 {
        let mut assumed: Vec<String> = outcomes.iter().flat_map(|o| o.assumed.clone()).collect();
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
    Verdict {
        decision: first.decision,
        decided_by: if same_rule { first.by } else { None },
        trace,
        redirected_to: first.redirect,
        possible: vec![],
        deciders,
        assumptions: vec![],
        delivery: first.delivery,
        endpoints: vec![],
        decided_at,
    }
}
