//! PD000 reachable (only what was checked), PD017 firewall unchecked, PD090 what could not be
//! looked at.

use super::firewall::focus_all_accepted;
use super::{Ctx, endpoint, owner_label};
use crate::evidence::Part;
use crate::finding::{Code, Finding, Severity};

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    missing(ctx, out);
    if out.iter().any(|f| f.severity == Severity::Error) {
        return;
    }
    if let Some(p) = ctx.peer_probe_open() {
        let mut f = Finding::new(
            Code::Reachable,
            Severity::Info,
            format!(
                "{} is reachable from {}",
                ctx.port_label(),
                p.viewpoint.label()
            ),
        );
        f = listener_lines(ctx, f);
        out.push(f);
        return;
    }
    let nated = super::nat::focus_is_nated(ctx);
    if nated && !super::nat::targets_listened(ctx) {
        // Where the DNAT sends it, no listener was found (or could be looked for).
        return;
    }
    if ctx.listeners.is_empty() && !nated {
        return;
    }
    match &ctx.ev.firewall {
        Part::Missing { reason } => out.push(unchecked(ctx, reason)),
        Part::Present { value } if focus_all_accepted(ctx, value) => out.push(should_be(ctx)),
        Part::Present { value } if value.is_empty() => out.push(should_be(ctx)),
        Part::Present { .. } => {}
    }
}

fn listener_lines(ctx: &Ctx<'_>, mut f: Finding) -> Finding {
    if super::nat::focus_is_nated(ctx) {
        for line in super::nat::chain_lines(ctx) {
            f = f.with_evidence(line);
        }
        if let Some(note) = super::nat::local_only_note(ctx) {
            f = f.with_evidence(note);
        }
        for line in ctx.probe_lines() {
            f = f.with_evidence(line);
        }
        return f;
    }
    for s in &ctx.listeners {
        f = f.with_evidence(format!(
            "{} listens on {} ({})",
            owner_label(s),
            endpoint(s.local_addr, s.local_port),
            s.reach().label()
        ));
    }
    for line in ctx.probe_lines() {
        f = f.with_evidence(line);
    }
    f
}

/// PD000 from the rules alone: the firewall lets the viewpoints that matter in.
fn should_be(ctx: &Ctx<'_>) -> Finding {
    let who = match ctx.ev.peer {
        Some(p) => format!("peer {p}"),
        None => "other machines".to_string(),
    };
    let hint = if ctx.ev.peer.is_some() {
        "not verified with a real connection from it: add --peer-netns, or run `portdoctor probe` there"
    } else {
        "not verified from another machine: use --from ADDR"
    };
    let f = Finding::new(
        Code::Reachable,
        Severity::Info,
        format!(
            "{} should be reachable from {who}: it listens beyond loopback and the local firewall lets it in ({hint})",
            ctx.port_label()
        ),
    );
    listener_lines(ctx, f)
}

/// PD017: the service listens, but the firewall could not be read: no claim either way.
fn unchecked(ctx: &Ctx<'_>, reason: &str) -> Finding {
    let f = Finding::new(
        Code::FirewallUnchecked,
        Severity::Warning,
        format!(
            "Cannot tell whether other machines reach {}: the firewall could not be read ({reason})",
            ctx.port_label()
        ),
    );
    listener_lines(ctx, f)
}

/// PD090: what could not be looked at.
fn missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let parts: [(&str, Option<&String>); 5] = [
        ("sockets", reason(&ctx.ev.sockets)),
        ("addresses", reason(&ctx.ev.addresses)),
        ("firewall", reason(&ctx.ev.firewall)),
        ("probes", reason(&ctx.ev.probes)),
        (
            "other network namespaces",
            ctx.ev.namespaces.as_ref().and_then(reason),
        ),
    ];
    for (what, why) in parts {
        if let Some(why) = why {
            out.push(Finding::new(
                Code::EvidenceMissing,
                Severity::Info,
                format!("{what} not checked: {why}"),
            ));
        }
    }
}

fn reason<T>(p: &Part<T>) -> Option<&String> {
    match p {
        Part::Missing { reason } => Some(reason),
        Part::Present { .. } => None,
    }
}
