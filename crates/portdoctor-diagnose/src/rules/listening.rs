//! PD001 nothing listening, PD002 loopback only, PD003 IPv6 only, PD004 IPv4 only, PD007
//! listening on addresses the peer does not use.

use super::{Ctx, endpoint, owner_label};
use crate::finding::{Code, Finding, Operation, Severity};
use crate::fixes;
use portdoctor_sockets::{Family, Reach, Socket, SocketState};
use std::net::IpAddr;

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.ev.sockets.get().is_none() {
        return;
    }
    if ctx.listeners.is_empty() {
        out.push(nothing_listening(ctx));
        return;
    }
    if ctx
        .listeners
        .iter()
        .all(|s| s.reach() == Reach::LoopbackOnly)
    {
        out.push(loopback_only(ctx));
        return;
    }
    let reachable: Vec<&Socket> = ctx
        .listeners
        .iter()
        .copied()
        .filter(|s| s.reach() != Reach::LoopbackOnly)
        .collect();
    if let Some(f) = family_mismatch(ctx, &reachable) {
        out.push(f);
        return;
    }
    if let Some(f) = bound_elsewhere(ctx, &reachable) {
        out.push(f);
    }
}

fn nothing_listening(ctx: &Ctx<'_>) -> Finding {
    let port = ctx.port_label();
    let seen_elsewhere = ctx.local_probe_open();
    let (severity, summary) = if seen_elsewhere {
        (
            Severity::Warning,
            format!(
                "No listener on {port} is visible here, yet connections succeed: it lives in another network namespace or container"
            ),
        )
    } else {
        (Severity::Error, format!("Nothing listens on {port}"))
    };
    let mut f = Finding::new(Code::NothingListening, severity, summary).with_evidence(format!(
        "no {} socket is in state listen on port {}",
        ctx.proto, ctx.ev.port
    ));
    let waits = ctx
        .sockets
        .iter()
        .filter(|s| s.local_port == ctx.ev.port && s.state == SocketState::TimeWait)
        .count();
    if waits > 0 {
        f = f.with_evidence(format!(
            "{waits} TIME_WAIT socket(s) on the port: something listened there recently"
        ));
    }
    for line in elsewhere(ctx) {
        f = f.with_evidence(line);
    }
    for line in ctx.probe_lines() {
        f = f.with_evidence(line);
    }
    if !seen_elsewhere {
        f = f.with_fix(fixes::investigate(
            format!(
                "Start the service on port {}, then check its log for a bind error",
                ctx.ev.port
            ),
            "is the service running, and on this port?",
        ));
    }
    f
}

/// Listeners on the port in other network namespaces (containers), when they were looked at.
fn elsewhere(ctx: &Ctx<'_>) -> Vec<String> {
    let Some(crate::evidence::Part::Present { value }) = &ctx.ev.namespaces else {
        return vec![];
    };
    let mut out = vec![];
    for ns in value.iter().filter(|n| !n.path.is_empty()) {
        let on_port = ns.sockets.iter().filter(|s| {
            s.local_port == ctx.ev.port
                && s.proto == ctx.ev.proto
                && portdoctor_sockets::query::is_listener(s)
        });
        for s in on_port {
            let container = s
                .owners
                .first()
                .and_then(|p| ns.container_of(p.pid))
                .map_or(String::new(), |c| format!(", {}", c.label()));
            out.push(format!(
                "{} listens on {} in another network namespace ({}{container}): only connections into that namespace reach it",
                owner_label(s),
                endpoint(s.local_addr, s.local_port),
                ns.id
            ));
        }
    }
    out
}

fn loopback_only(ctx: &Ctx<'_>) -> Finding {
    let mut f = Finding::new(
        Code::BoundToLoopback,
        Severity::Error,
        format!(
            "{} listens on loopback only: only this machine can connect",
            ctx.port_label()
        ),
    );
    for s in &ctx.listeners {
        f = f.with_evidence(format!(
            "{} listens on {} only",
            owner_label(s),
            endpoint(s.local_addr, s.local_port)
        ));
    }
    for line in ctx.probe_lines() {
        f = f.with_evidence(line);
    }
    let first = ctx.listeners[0];
    let cmdline = first
        .owners
        .first()
        .map_or(&[][..], |p| p.cmdline.as_slice());
    f.with_fix(fixes::change_bind(
        first.local_addr,
        None,
        ctx.ev.port,
        cmdline,
    ))
}

/// Whether `s` accepts IPv4 clients.
pub(crate) fn accepts_ipv4(s: &Socket) -> bool {
    s.family == Family::Ipv4
        || (s.local_addr.is_unspecified() && s.v6only != Some(true))
        || matches!(s.local_addr, IpAddr::V6(a) if a.to_ipv4_mapped().is_some())
}

/// Whether `s` accepts IPv6 clients.
pub(crate) fn accepts_ipv6(s: &Socket) -> bool {
    s.family == Family::Ipv6
}

/// Whether `s` accepts connections to `dst`.
pub(crate) fn accepts(s: &Socket, dst: IpAddr) -> bool {
    let family_ok = if dst.is_ipv4() {
        accepts_ipv4(s)
    } else {
        accepts_ipv6(s)
    };
    family_ok
        && (s.local_addr.is_unspecified()
            || s.local_addr == dst
            || matches!((s.local_addr, dst), (IpAddr::V6(a), IpAddr::V4(d)) if a.to_ipv4_mapped() == Some(d)))
}

/// PD003 / PD004: the listeners' family is not the one the clients use.
fn family_mismatch(ctx: &Ctx<'_>, reachable: &[&Socket]) -> Option<Finding> {
    let port = ctx.port_label();
    let p = ctx.ev.port;
    let peer_v4 = ctx.ev.peer.is_none_or(|p| p.is_ipv4());
    if peer_v4 && !reachable.iter().any(|s| accepts_ipv4(s)) {
        let mut f = Finding::new(
            Code::Ipv6Only,
            Severity::Error,
            format!("{port} accepts IPv6 clients only: IPv4 clients cannot connect"),
        );
        for s in reachable {
            let why = if s.v6only == Some(true) {
                " with IPV6_V6ONLY set"
            } else {
                ""
            };
            f = f.with_evidence(format!(
                "{} listens on {}{why}",
                owner_label(s),
                endpoint(s.local_addr, s.local_port)
            ));
        }
        return Some(f.with_fix(crate::finding::Fix::plain(
            format!("Also listen on 0.0.0.0:{p}, or clear IPV6_V6ONLY on the [::]:{p} socket (and check `sysctl net.ipv6.bindv6only`, which sets the default)"),
            Operation::ChangeBind {
                from: format!("[::]:{p} (v6only)"),
                to: format!("[::]:{p} (dual-stack) or 0.0.0.0:{p}"),
            },
            Vec::new(),
        )));
    }
    let peer_v6 = ctx.ev.peer.is_some_and(|p| p.is_ipv6());
    if peer_v6 && !reachable.iter().any(|s| accepts_ipv6(s)) {
        let mut f = Finding::new(
            Code::Ipv4Only,
            Severity::Error,
            format!("{port} accepts IPv4 clients only, and the peer uses IPv6"),
        );
        for s in reachable {
            f = f.with_evidence(format!(
                "{} listens on {}",
                owner_label(s),
                endpoint(s.local_addr, s.local_port)
            ));
        }
        return Some(f.with_fix(crate::finding::Fix::plain(
            format!("Listen on [::]:{p} with IPV6_V6ONLY off (serves both families)"),
            Operation::ChangeBind {
                from: format!("0.0.0.0:{p}"),
                to: format!("[::]:{p}"),
            },
            Vec::new(),
        )));
    }
    None
}

/// PD007: the service listens on specific addresses, none of which the peer connects to.
fn bound_elsewhere(ctx: &Ctx<'_>, reachable: &[&Socket]) -> Option<Finding> {
    let (_, dst) = (ctx.ev.peer?, ctx.ev.peer_dst?);
    if reachable.iter().any(|s| accepts(s, dst)) {
        return None;
    }
    let mut f = Finding::new(
        Code::BoundElsewhere,
        Severity::Error,
        format!(
            "{} listens on {}, but the peer connects to {dst}: nothing listens there",
            ctx.port_label(),
            reachable
                .iter()
                .map(|s| s.local_addr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    for s in reachable {
        f = f.with_evidence(format!(
            "{} listens on {} only",
            owner_label(s),
            endpoint(s.local_addr, s.local_port)
        ));
    }
    f = f.with_evidence(format!(
        "the peer reaches this machine at {dst} (give --to ADDR if it uses another address)"
    ));
    for line in ctx.probe_lines() {
        f = f.with_evidence(line);
    }
    let first = reachable[0];
    let cmdline = first
        .owners
        .first()
        .map_or(&[][..], |p| p.cmdline.as_slice());
    Some(f.with_fix(fixes::change_bind(
        first.local_addr,
        None,
        ctx.ev.port,
        cmdline,
    )))
}
