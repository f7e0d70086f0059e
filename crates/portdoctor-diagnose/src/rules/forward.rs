//! PD050 forward-blocked and PD053 forwarding-closed: a connection that a DNAT sends on
//! (Docker, Podman, kube-proxy, a port forward) is stopped on the forward path — by a rule
//! (DOCKER-USER, a policy chain), by the forward chain's drop policy, or because the host does
//! not forward at all. Also the load-balanced case: some endpoints blocked, others not.

use super::Ctx;
use crate::evidence::{Decided, Delivery, RouteKind, ViewpointVerdict};
use crate::finding::{Code, Fix, FixCommand, Operation};

/// How a forward-path block reads: its code and summary, or `None` when the block is not on
/// the forward path.
pub(super) fn classify(ctx: &Ctx<'_>, v: &ViewpointVerdict) -> Option<(Code, String)> {
    let port = ctx.port_label();
    let d = &v.overall;
    let vp = v.viewpoint.label();
    let owner = d.owner_label();
    if !d.blocks() {
        let blocked = d.blocked_endpoints();
        let first = blocked.first()?;
        let to = first
            .delivery
            .as_ref()
            .map_or("?".into(), Delivery::target_text);
        let by = first
            .decided_by
            .as_ref()
            .map_or(String::new(), |r| format!(" by `{}`", r.text));
        return Some((
            Code::ForwardBlocked,
            format!(
                "{port} from {vp} is load-balanced over {} endpoints and {} of them is blocked: {to}{by} — those connections fail, the others get through",
                d.endpoints.len(),
                blocked.len()
            ),
        ));
    }
    let delivery = d.delivery.as_ref()?;
    if !d.on_forward_path() {
        return None;
    }
    let to = delivery.target_text();
    let words = match (&delivery.route, &d.rule) {
        (RouteKind::ForwardingOff, _) => (
            Code::ForwardingClosed,
            format!(
                "{port} is DNAT'd to {to}, but this host does not forward {} packets (the forwarding sysctl is 0): the kernel drops them",
                family(delivery)
            ),
        ),
        (RouteKind::NoRoute | RouteKind::Unroutable(_), _) => (
            Code::ForwardingClosed,
            format!("{port} is DNAT'd to {to}, but the routing table has no usable route to it"),
        ),
        (_, Some(r)) if r.is_policy => (
            Code::ForwardingClosed,
            format!(
                "{owner} drops {port} on the forward path by default ({}): the connection is DNAT'd to {to} and no rule there accepts it",
                d.by_text().trim_start_matches("by ")
            ),
        ),
        _ => (
            Code::ForwardBlocked,
            format!(
                "{owner} blocks {port} from {vp} on the forward path, after the DNAT to {to}: {}",
                d.by_text()
            ),
        ),
    };
    Some(words)
}

fn family(d: &Delivery) -> &'static str {
    if d.addr.is_ipv6() { "IPv6" } else { "IPv4" }
}

/// The fix for forwarding switched off: the sysctl (a change of the host, not of a rule, so
/// not checked by the planner).
pub(super) fn forwarding_fix(d: &Decided) -> Option<Fix> {
    let delivery = d.delivery.as_ref()?;
    if delivery.route != RouteKind::ForwardingOff {
        return None;
    }
    let key = if delivery.addr.is_ipv6() {
        "net.ipv6.conf.all.forwarding=1"
    } else {
        "net.ipv4.ip_forward=1"
    };
    Some(Fix::plain(
        format!("Turn forwarding on ({key}; persist it in /etc/sysctl.d/ to survive a reboot)"),
        Operation::Investigate {
            hint: "the host must forward for published container ports to work".into(),
        },
        vec![FixCommand::posix(["sysctl", "-w", key])],
    ))
}

/// `, DNAT'd to 172.17.0.2:80 and forwarded out of docker0` for a verdict line.
pub(crate) fn delivery_words(d: &Decided) -> String {
    if let Some(x) = &d.delivery {
        return format!(", {}", route_words(x));
    }
    if d.endpoints.is_empty() {
        return String::new();
    }
    let each: Vec<String> = d
        .endpoints
        .iter()
        .map(|e| {
            let to = e
                .delivery
                .as_ref()
                .map_or("not rewritten".into(), Delivery::target_text);
            format!("{to}: {}", e.decision.label())
        })
        .collect();
    format!(
        ", one of {} endpoints per connection ({})",
        each.len(),
        each.join("; ")
    )
}

/// `DNAT'd to 172.17.0.2:80 and forwarded out of docker0`.
pub(crate) fn route_words(x: &Delivery) -> String {
    let to = x.target_text();
    match &x.route {
        RouteKind::Local => format!("DNAT'd to {to} on this host"),
        RouteKind::Forwarded => format!(
            "DNAT'd to {to} and forwarded out of {}",
            x.oif.as_deref().unwrap_or("?")
        ),
        RouteKind::ForwardingOff => {
            format!("DNAT'd to {to}, which is not forwarded (forwarding off)")
        }
        RouteKind::NoRoute => format!("DNAT'd to {to}, which has no route"),
        RouteKind::Unroutable(t) => format!("DNAT'd to {to}, whose route is of type {t}"),
        RouteKind::Unknown(_) => format!("DNAT'd to {to}"),
    }
}
