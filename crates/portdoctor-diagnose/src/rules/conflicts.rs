//! PD005 several programs on the port, PD006 the wrong program holds it.

use super::{Ctx, endpoint, owner_label};
use crate::finding::{Code, Finding, Severity};
use crate::fixes;
use portdoctor_sockets::query::{self, ConflictKind};

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    shared(ctx, out);
    held_by_other(ctx, out);
}

fn shared(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let port = ctx.port_label();
    for c in query::conflicts(ctx.listeners.iter().copied(), Some(ctx.ev.port)) {
        let kind = match c.kind {
            ConflictKind::SameAddress => {
                "share one address (SO_REUSEPORT): connections are spread among them"
            }
            ConflictKind::WildcardOverlap => {
                "overlap: the specific address wins for its clients, the wildcard takes the rest"
            }
            ConflictKind::SplitByFamily => {
                "split the port by address family: IPv4 and IPv6 clients reach different programs"
            }
        };
        let mut f = Finding::new(
            Code::PortConflict,
            Severity::Warning,
            format!("Several programs hold {port}: they {kind}"),
        );
        for b in &c.bindings {
            let who: Vec<String> = b
                .pids
                .iter()
                .zip(&b.names)
                .map(|(p, n)| format!("{n} (pid {p})"))
                .collect();
            f = f.with_evidence(format!(
                "{} on {}",
                who.join(", "),
                endpoint(b.addr, c.port)
            ));
        }
        for b in c.bindings.iter().skip(1) {
            for (pid, name) in b.pids.iter().zip(&b.names) {
                f = f.with_fix(fixes::stop_process(*pid, name, ctx.ev.os));
            }
        }
        out.push(f);
    }
}

fn held_by_other(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(expected) = &ctx.ev.expected_program else {
        return;
    };
    let want = expected.to_lowercase();
    let port = ctx.port_label();
    for s in &ctx.listeners {
        let Some(owner) = s.owners.first() else {
            continue;
        };
        if s.owners
            .iter()
            .any(|p| p.name.to_lowercase().contains(&want))
        {
            continue;
        }
        out.push(
            Finding::new(
                Code::PortHeldByOther,
                Severity::Error,
                format!("{port} is held by {} (pid {}), not by {expected}: {expected} cannot bind it (address already in use)", owner.name, owner.pid),
            )
            .with_evidence(format!(
                "{} listens on {}; command line: {}",
                owner_label(s),
                endpoint(s.local_addr, s.local_port),
                owner.cmdline.join(" ")
            ))
            .with_fix(fixes::stop_process(owner.pid, &owner.name, ctx.ev.os)),
        );
        return;
    }
}
