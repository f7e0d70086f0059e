//! The way of a connection a DNAT sends on, as `explain` prints it: each hook's base chains
//! with what happened there, the routing decision, and where the connection ends up.

use portdoctor_firewall::attribution::Decided;
use portdoctor_firewall::{Delivery, RouteKind, Step, StepKind};

/// One line per base chain (hook, chain, the jumps, rewrites and verdicts in it), the routing
/// decision, then the destination or each load-balanced endpoint.
pub fn path_lines(trace: &[Step], d: &Decided) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut cur: Option<(String, Vec<String>)> = None;
    let flush = |cur: &mut Option<(String, Vec<String>)>, out: &mut Vec<String>| {
        if let Some((head, ev)) = cur.take() {
            out.push(format!("{head}: {}", ev.join("; ")));
        }
    };
    for s in trace {
        match s.kind {
            StepKind::EnterBaseChain => {
                flush(&mut cur, &mut out);
                let hook = s
                    .detail
                    .strip_prefix("hook ")
                    .and_then(|x| x.split_whitespace().next())
                    .unwrap_or("?");
                cur = Some((format!("{hook:<12} {} {}", s.table, s.chain), vec![]));
            }
            StepKind::Route => {
                flush(&mut cur, &mut out);
                out.push(format!("{:<12} {}", "routing", s.detail));
            }
            StepKind::Undecided | StepKind::StateChange | StepKind::Note => {}
            _ => {
                if let Some((_, ev)) = cur.as_mut() {
                    let at = if s.position > 0 {
                        format!("{} rule {}: ", s.chain, s.position)
                    } else {
                        String::new()
                    };
                    ev.push(format!("{at}{}", s.detail));
                }
            }
        }
    }
    flush(&mut cur, &mut out);
    out.extend(destination(d));
    out
}

fn destination(d: &Decided) -> Vec<String> {
    if !d.endpoints.is_empty() {
        return d
            .endpoints
            .iter()
            .map(|e| {
                let to = e
                    .delivery
                    .as_ref()
                    .map_or("not rewritten".into(), Delivery::target_text);
                let by = e
                    .decided_by
                    .as_ref()
                    .map_or(String::new(), |r| format!(" by `{}`", r.text));
                format!("{:<12} {to}: {}{by}", "endpoint", e.decision.label())
            })
            .collect();
    }
    let Some(x) = &d.delivery else {
        return vec![];
    };
    let how = match (&x.route, &x.oif) {
        (RouteKind::Forwarded, Some(o)) => format!("forwarded out of {o}"),
        (RouteKind::Local, _) => "delivered on this host".into(),
        _ => "not delivered".into(),
    };
    vec![format!(
        "{:<12} {} ({how}): {}",
        "destination",
        x.target_text(),
        d.decision.label()
    )]
}
