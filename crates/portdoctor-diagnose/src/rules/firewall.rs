//! PD010–PD016 and manager configuration problems: what the firewall does with the packets of
//! the viewpoints that matter, in the words of whoever is in charge (forward-path blocks after
//! a DNAT, PD050/PD053, are worded in `forward.rs`).

use super::Ctx;
use crate::evidence::{Decided, Decision, FirewallEvidence, FixScope, Viewpoint, ViewpointVerdict};
use crate::finding::{Code, Finding, FixCommand, Operation, Severity};
use crate::fixes;
use portdoctor_firewall::manager::ManagedKind;

pub(super) fn run(ctx: &Ctx<'_>, fw: &FirewallEvidence, out: &mut Vec<Finding>) {
    let blocked_focus: Vec<&ViewpointVerdict> = fw
        .verdicts
        .iter()
        .filter(|v| ctx.is_focus(&v.viewpoint) && blocks_somewhere(&v.overall))
        .collect();
    for group in by_decider(&blocked_focus) {
        out.push(blocked(ctx, fw, &group, Scope::Focus));
    }
    let blocked_other: Vec<&ViewpointVerdict> = fw
        .verdicts
        .iter()
        .filter(|v| v.viewpoint.is_remote() && !ctx.is_focus(&v.viewpoint) && v.overall.blocks())
        .collect();
    if blocked_focus.is_empty() {
        for group in by_decider(&blocked_other) {
            out.push(blocked(ctx, fw, &group, Scope::OtherPeer));
        }
    }
    if blocked_focus.is_empty() && blocked_other.is_empty() {
        // No remote viewpoint is blocked (or there is none: a host with loopback only), yet
        // this machine's own connections are: that cuts everyone off, this machine included.
        let blocked_local: Vec<&ViewpointVerdict> = fw
            .verdicts
            .iter()
            .filter(|v| !v.viewpoint.is_remote() && v.overall.blocks())
            .collect();
        for group in by_decider(&blocked_local) {
            out.push(blocked(ctx, fw, &group, Scope::ThisMachine));
        }
    }
    unknown(ctx, fw, out);
    problems(fw, out);
}

/// Blocked, or blocked for some of its load-balanced endpoints.
pub(crate) fn blocks_somewhere(d: &Decided) -> bool {
    d.blocks() || !d.blocked_endpoints().is_empty()
}

/// Blocked verdicts grouped by the rule that decides (one finding per cause).
fn by_decider<'v>(vs: &[&'v ViewpointVerdict]) -> Vec<Vec<&'v ViewpointVerdict>> {
    let key = |v: &ViewpointVerdict| {
        (
            v.overall
                .rule
                .as_ref()
                .map(|r| (r.backend, r.table.clone(), r.chain.clone(), r.text.clone())),
            v.overall.managed.as_ref().map(|m| m.text.clone()),
        )
    };
    let mut groups: Vec<Vec<&ViewpointVerdict>> = vec![];
    for v in vs {
        match groups.iter_mut().find(|g| key(g[0]) == key(v)) {
            Some(g) => g.push(v),
            None => groups.push(vec![v]),
        }
    }
    groups
}

/// One line per viewpoint: `ufw drops 8080/tcp from peer … by ufw rule [2] …`.
pub(crate) fn verdict_line(v: &ViewpointVerdict, port: &str) -> String {
    let d = &v.overall;
    let what = match &d.decision {
        Decision::Accept => "accepts".to_string(),
        Decision::Drop => "drops".to_string(),
        Decision::Reject(k) => format!("rejects ({})", k.label()),
        Decision::Unknown(r) if d.blocks() => format!(
            "blocks ({} on every path; which one is not knowable: {r})",
            d.possible
                .iter()
                .map(Decision::label)
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Decision::Unknown(r) => format!("cannot be evaluated ({r})"),
    };
    let who = if d.rule.is_none() && d.decision == Decision::Accept {
        "the firewall".to_string()
    } else {
        d.owner_label()
    };
    let by = d.by_text();
    let by = if by.is_empty() {
        String::new()
    } else {
        format!(" {by}")
    };
    let assuming = if d.assumptions.is_empty() {
        String::new()
    } else {
        format!(", assuming {}", d.assumptions.join("; "))
    };
    format!(
        "{who} {what} {port} from {} to {} on {}{}{by}{assuming}",
        v.viewpoint.label(),
        v.dst,
        v.iif,
        super::forward::delivery_words(d)
    )
}

/// The firewalld zone of a verdict, and the zones that open the port, when they differ.
fn zone_miss<'f>(fw: &'f FirewallEvidence, v: &ViewpointVerdict) -> Option<(String, &'f [String])> {
    let z = fw.firewalld.as_ref()?;
    let zone = v
        .overall
        .managed
        .as_ref()
        .and_then(|m| m.zone.clone())
        .or_else(|| {
            z.iface_zones
                .iter()
                .find(|(i, _)| *i == v.iif)
                .map(|(_, z)| z.clone())
        })
        .unwrap_or_else(|| z.default_zone.clone());
    (!z.zones_opening_port.is_empty() && !z.zones_opening_port.contains(&zone))
        .then_some((zone, z.zones_opening_port.as_slice()))
}

/// Another remote viewpoint of the same family that gets in.
fn someone_gets_in<'f>(
    fw: &'f FirewallEvidence,
    v: &ViewpointVerdict,
) -> Option<&'f ViewpointVerdict> {
    fw.verdicts.iter().find(|o| {
        o.viewpoint.is_remote()
            && o.viewpoint != v.viewpoint
            && o.viewpoint.addr().is_ipv4() == v.viewpoint.addr().is_ipv4()
            && o.overall.decision == Decision::Accept
    })
}

fn is_default(d: &Decided) -> bool {
    match (&d.managed, &d.rule) {
        (Some(m), _) => m.kind == ManagedKind::DefaultPolicy,
        (None, Some(r)) => r.is_policy,
        (None, None) => d.deciders.iter().all(|r| r.is_policy),
    }
}

/// The code and summary for a blocked viewpoint.
fn classify(ctx: &Ctx<'_>, fw: &FirewallEvidence, v: &ViewpointVerdict) -> (Code, String) {
    let port = ctx.port_label();
    let d = &v.overall;
    let owner = d.owner_label();
    if let Some(words) = super::forward::classify(ctx, v) {
        return words;
    }
    if let Some((zone, opening)) = zone_miss(fw, v) {
        return (
            Code::FirewalldWrongZone,
            format!(
                "firewalld opens {port} in zone {}, but {} is in zone {zone}",
                opening.join(", "),
                v.iif
            ),
        );
    }
    if let Some(m) = fw.windows_near_misses.first() {
        return (
            Code::WindowsRuleMismatch,
            format!(
                "A Windows Firewall rule allows {port}, but it does not apply: {}",
                m.mismatch
            ),
        );
    }
    if let Some(s) = v.shadowed.first() {
        let allow = s
            .managed
            .as_ref()
            .map(|m| m.describe())
            .or_else(|| s.rule.as_ref().map(|r| format!("`{}`", r.text)))
            .unwrap_or_default();
        return (
            Code::AllowShadowed,
            format!(
                "{owner} has a rule allowing {port} ({allow}), but a block decides first for {}: {}",
                v.viewpoint.label(),
                d.by_text()
            ),
        );
    }
    if let Some(ok) = someone_gets_in(fw, v) {
        return (
            Code::SomeSourcesOnly,
            format!(
                "{owner} lets {port} in from some sources only ({} gets in, {} does not)",
                ok.viewpoint.label(),
                v.viewpoint.label()
            ),
        );
    }
    if is_default(d) {
        let words = match (&d.managed, d.manager) {
            (Some(m), _) if m.zone.is_some() => format!(
                "firewalld zone {} does not allow {port}: {}",
                m.zone.as_deref().unwrap_or_default(),
                m.text
            ),
            (Some(m), _) => format!(
                "{owner}'s {} decides, and no {owner} rule allows {port}",
                m.text
            ),
            (None, _) => format!("{owner} drops {port} by default and no rule allows it"),
        };
        return (Code::DefaultDeny, words);
    }
    (
        Code::FirewallBlocks,
        format!(
            "{owner} blocks {port} from {}: {}",
            v.viewpoint.label(),
            d.by_text()
        ),
    )
}

/// Whose connections a blocked verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The viewpoint the user asked about (error).
    Focus,
    /// Another remote viewpoint, not the peer asked about (warning).
    OtherPeer,
    /// Only this machine's own connections are judged, and they are blocked (error).
    ThisMachine,
}

fn blocked(
    ctx: &Ctx<'_>,
    fw: &FirewallEvidence,
    group: &[&ViewpointVerdict],
    scope: Scope,
) -> Finding {
    let port = ctx.port_label();
    let first = group[0];
    let (code, summary) = classify(ctx, fw, first);
    let (severity, summary) = match scope {
        Scope::Focus => (Severity::Error, summary),
        Scope::OtherPeer => (
            Severity::Warning,
            format!("{summary} (not the peer you asked about)"),
        ),
        Scope::ThisMachine => (
            Severity::Error,
            format!("{summary}, even from this machine"),
        ),
    };
    let mut f = Finding::new(code, severity, summary);
    for v in &fw.verdicts {
        f = f.with_evidence(verdict_line(v, &port));
    }
    for s in first.shadowed.iter() {
        let what = s
            .managed
            .as_ref()
            .map(|m| m.describe())
            .or_else(|| {
                s.rule.as_ref().map(|r| {
                    format!(
                        "`{}` ({})",
                        r.text,
                        portdoctor_firewall::attribution::place_text(r)
                    )
                })
            })
            .unwrap_or_default();
        f = f.with_evidence(format!("never reached: {what}"));
    }
    for m in &fw.windows_near_misses {
        f = f.with_evidence(format!("rule \"{}\": {} ({})", m.rule, m.mismatch, m.field));
    }
    if let Some(note) = super::nat::local_only_note(ctx) {
        f = f.with_evidence(note);
    }
    if severity == Severity::Error {
        match super::forward::forwarding_fix(&first.overall) {
            Some(fix) => f = f.with_fix(fix),
            None => {
                for fix in firewall_fixes(ctx, fw) {
                    f = f.with_fix(fix);
                }
            }
        }
    }
    if let (Code::FirewalldWrongZone, Some((_, opening))) = (code, zone_miss(fw, first)) {
        f = f.with_fix(crate::finding::Fix {
            title: format!("Or move {} into zone {}", first.iif, opening[0]),
            backend: Some("firewalld".into()),
            operation: Operation::ChangeZone {
                iface: first.iif.clone(),
                zone: opening[0].clone(),
            },
            commands: vec![FixCommand::posix([
                "firewall-cmd".to_string(),
                format!("--zone={}", opening[0]),
                format!("--change-interface={}", first.iif),
            ])],
            verification: None,
        });
    }
    f
}

/// The planned fixes, narrowest first: for the peer when one was named, then for everyone.
fn firewall_fixes(ctx: &Ctx<'_>, fw: &FirewallEvidence) -> Vec<crate::finding::Fix> {
    let mut plans: Vec<&crate::evidence::PlannedFix> = fw.fixes.iter().collect();
    plans.sort_by_key(|p| match (&p.scope, ctx.ev.peer) {
        (FixScope::Peer { addr }, Some(peer)) if *addr == peer => 0,
        (FixScope::Everyone, _) => 1,
        _ => 2,
    });
    let mut out: Vec<crate::finding::Fix> = vec![];
    for p in plans {
        let fix = fixes::from_plan(p);
        // The broad plan can come out the same as the narrow one (e.g. removing the rule
        // that blocks): show it once.
        if !out.iter().any(|f| f.commands == fix.commands) {
            out.push(fix);
        }
    }
    out
}

/// PD016: the decision for a viewpoint that matters cannot be known; once per backend (the
/// owner of the rules that could not be decided), each viewpoint's reason in the evidence.
fn unknown(ctx: &Ctx<'_>, fw: &FirewallEvidence, out: &mut Vec<Finding>) {
    let port = ctx.port_label();
    let unknown: Vec<&ViewpointVerdict> = fw
        .verdicts
        .iter()
        .filter(|v| {
            ctx.is_focus(&v.viewpoint)
                && matches!(v.overall.decision, Decision::Unknown(_))
                && !blocks_somewhere(&v.overall)
        })
        .collect();
    let mut owners: Vec<String> = vec![];
    for v in &unknown {
        let o = v.overall.owner_label();
        if !owners.contains(&o) {
            owners.push(o);
        }
    }
    for owner in owners {
        let group: Vec<&&ViewpointVerdict> = unknown
            .iter()
            .filter(|v| v.overall.owner_label() == owner)
            .collect();
        let reason = |v: &ViewpointVerdict| match &v.overall.decision {
            Decision::Unknown(r) => r.clone(),
            _ => String::new(),
        };
        let first = reason(group[0]);
        let mut f = Finding::new(
            Code::FirewallUnknown,
            Severity::Warning,
            format!("What {owner} does with {port} cannot be known from its rules: {first}"),
        );
        for v in group {
            let possible: Vec<String> = v.overall.possible.iter().map(Decision::label).collect();
            let r = reason(v);
            let why = if r == first {
                String::new()
            } else {
                format!(" ({r})")
            };
            f = f.with_evidence(format!(
                "from {} to {} on {}: possible outcomes {}{why}",
                v.viewpoint.label(),
                v.dst,
                v.iif,
                if possible.is_empty() {
                    "unknown".to_string()
                } else {
                    possible.join(", ")
                }
            ));
        }
        f = f.with_fix(fixes::investigate(
            "Probe from the peer to see what happens (`portdoctor probe HOST:PORT` on the peer, or `diagnose --peer-netns`)",
            "a real connection settles what the rules cannot",
        ));
        out.push(f);
    }
}

/// Manager configuration that could not be read: named with file and line.
fn problems(fw: &FirewallEvidence, out: &mut Vec<Finding>) {
    for m in &fw.managers {
        if m.problems.is_empty() {
            continue;
        }
        let mut f = Finding::new(
            Code::EvidenceMissing,
            Severity::Warning,
            format!(
                "Part of the {} configuration could not be read; the rest is used",
                m.kind
            ),
        );
        for p in &m.problems {
            f = f.with_evidence(p.clone());
        }
        out.push(f);
    }
}

/// Whether every focus viewpoint of every engine was evaluated as accepted.
pub(crate) fn focus_all_accepted(ctx: &Ctx<'_>, fws: &[FirewallEvidence]) -> bool {
    fws.iter().all(|fw| {
        fw.verdicts
            .iter()
            .filter(|v| ctx.is_focus(&v.viewpoint))
            .all(|v| v.overall.decision == Decision::Accept)
    }) && fws
        .iter()
        .any(|fw| fw.verdicts.iter().any(|v| ctx.is_focus(&v.viewpoint)))
}

/// Whether `v` (a viewpoint) was blamed on the local firewall (not accepted there).
pub(crate) fn blamed(fws: Option<&Vec<FirewallEvidence>>, v: &Viewpoint) -> bool {
    fws.is_some_and(|fws| {
        fws.iter().any(|fw| {
            fw.verdicts
                .iter()
                .any(|x| x.viewpoint == *v && x.overall.decision != Decision::Accept)
        })
    })
}
