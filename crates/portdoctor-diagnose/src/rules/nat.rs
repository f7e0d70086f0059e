//! PD051 dnat-no-listener, PD052 container-loopback, PD054 manager-bypassed: a DNAT sends the
//! port somewhere else (a container, a pod, another port), so the listener that matters is
//! the one at the translated address — found in the network namespace that has it.

use super::{Ctx, endpoint, owner_label};
use crate::evidence::{Decision, Delivery, NamespaceSockets, Part, ViewpointVerdict};
use crate::finding::{Code, Finding, Operation, Severity};
use crate::fixes;
use portdoctor_sockets::{Socket, query};

/// Who listens at a translated address and port.
pub(crate) enum Listener<'a> {
    /// A socket that accepts it, in this namespace.
    Found(&'a NamespaceSockets, &'a Socket),
    /// Only loopback listeners on the port in the namespace that has the address.
    Loopback(&'a NamespaceSockets, Vec<&'a Socket>),
    /// The namespace has the address, nothing listens on the port.
    Nothing(&'a NamespaceSockets),
    /// No namespace of this machine has the address (another machine, a pod on another node).
    Elsewhere,
    /// The namespaces could not be read; why.
    Unknown(String),
}

/// The DNAT targets of the focus viewpoints whose connection is accepted there: (verdict,
/// delivery), each target once.
pub(crate) fn accepted_targets<'a>(ctx: &Ctx<'a>) -> Vec<(&'a ViewpointVerdict, &'a Delivery)> {
    let mut out: Vec<(&ViewpointVerdict, &Delivery)> = vec![];
    for v in focus_verdicts(ctx) {
        let d = &v.overall;
        let mut each: Vec<&Delivery> = vec![];
        if let (Decision::Accept, Some(x)) = (&d.decision, &d.delivery) {
            each.push(x);
        }
        for e in d
            .endpoints
            .iter()
            .filter(|e| e.decision == Decision::Accept)
        {
            each.extend(e.delivery.as_ref());
        }
        for x in each {
            if !out.iter().any(|(_, y)| y.socket() == x.socket()) {
                out.push((v, x));
            }
        }
    }
    out
}

fn focus_verdicts<'a>(ctx: &Ctx<'a>) -> impl Iterator<Item = &'a ViewpointVerdict> {
    let fws = ctx.ev.firewall.get().map_or(&[][..], Vec::as_slice);
    fws.iter()
        .flat_map(|f| &f.verdicts)
        .filter(move |v| ctx.is_focus(&v.viewpoint))
}

/// Whether a DNAT sends the connections that matter elsewhere: then the local listeners on
/// the port are not the ones they reach.
pub(crate) fn focus_is_nated(ctx: &Ctx<'_>) -> bool {
    let mut any = false;
    for v in focus_verdicts(ctx) {
        let d = &v.overall;
        if d.delivery.is_none() && d.endpoints.iter().all(|e| e.delivery.is_none()) {
            return false;
        }
        any = true;
    }
    any
}

/// Whether a focus connection is forwarded (through FORWARD, not INPUT).
fn focus_forwarded(ctx: &Ctx<'_>) -> bool {
    focus_verdicts(ctx).any(|v| {
        let d = &v.overall;
        d.delivery.as_ref().is_some_and(Delivery::forwarded)
            || d.endpoints
                .iter()
                .any(|e| e.delivery.as_ref().is_some_and(Delivery::forwarded))
    })
}

/// The listener at `to` (an address and port a DNAT wrote).
pub(crate) fn listener_at<'a>(ctx: &Ctx<'a>, to: &Delivery) -> Listener<'a> {
    let Some(port) = to.port else {
        return Listener::Unknown("the kernel picks the port from a range".into());
    };
    let nss = match &ctx.ev.namespaces {
        Some(Part::Present { value }) => value,
        Some(Part::Missing { reason }) => return Listener::Unknown(reason.clone()),
        None => return Listener::Unknown("the namespaces were not looked at".into()),
    };
    let Some(ns) = nss.iter().find(|n| n.has_address(to.addr)) else {
        return Listener::Elsewhere;
    };
    let on_port: Vec<&Socket> = ns
        .sockets
        .iter()
        .filter(|s| s.local_port == port && s.proto == ctx.ev.proto && query::is_listener(s))
        .collect();
    if let Some(s) = on_port
        .iter()
        .find(|s| super::listening::accepts(s, to.addr))
    {
        return Listener::Found(ns, s);
    }
    let lo: Vec<&Socket> = on_port
        .into_iter()
        .filter(|s| s.local_addr.is_loopback())
        .collect();
    if lo.is_empty() {
        Listener::Nothing(ns)
    } else {
        Listener::Loopback(ns, lo)
    }
}

/// `in container docker container web (3f2a…), network namespace net:[…]`.
fn where_words(ns: &NamespaceSockets, s: Option<&Socket>) -> String {
    let container = s
        .and_then(|s| s.owners.first())
        .and_then(|p| ns.container_of(p.pid))
        .or_else(|| ns.containers.first().map(|(_, c)| c));
    match container {
        Some(c) => format!("in {} (network namespace {})", c.label(), ns.id),
        None if ns.path.is_empty() => "on this host".to_string(),
        None => format!("in network namespace {}", ns.id),
    }
}

/// The whole way, for evidence: `peer 198.18.0.2 → 198.18.0.1:8080 → DNAT'd to
/// 172.17.0.2:80 and forwarded out of docker0 → python3 (pid 7) listening on 0.0.0.0:80 in
/// docker container web (…)`.
pub(crate) fn chain_lines(ctx: &Ctx<'_>) -> Vec<String> {
    let mut out = vec![];
    for (v, d) in accepted_targets(ctx) {
        let rule = d
            .nat_rule
            .as_ref()
            .map_or(String::new(), |r| format!(" by `{}`", r.text));
        let end = match listener_at(ctx, d) {
            Listener::Found(ns, s) => format!(
                "{} listening on {} {}",
                owner_label(s),
                endpoint(s.local_addr, s.local_port),
                where_words(ns, Some(s))
            ),
            Listener::Loopback(ns, _) => {
                format!("only a loopback listener {}", where_words(ns, None))
            }
            Listener::Nothing(ns) => format!("nothing listening {}", where_words(ns, None)),
            Listener::Elsewhere => "an address of no network namespace on this machine".into(),
            Listener::Unknown(why) => format!("listener not checked ({why})"),
        };
        out.push(format!(
            "{} → {} → {}{rule} → {end}",
            v.viewpoint.label(),
            endpoint(v.dst, ctx.ev.port),
            super::forward::route_words(d)
        ));
    }
    out
}

/// Whether every accepted DNAT target of the focus has a listener that takes it.
pub(crate) fn targets_listened(ctx: &Ctx<'_>) -> bool {
    let t = accepted_targets(ctx);
    !t.is_empty()
        && t.iter()
            .all(|(_, d)| matches!(listener_at(ctx, d), Listener::Found(..)))
}

/// "Only the local path was probed": the local probes take the OUTPUT path (nat OUTPUT's
/// DNAT), never FORWARD, so they say nothing about other machines.
pub(crate) fn local_only_note(ctx: &Ctx<'_>) -> Option<String> {
    let peer_probed = ctx.probes().iter().any(|p| p.viewpoint.is_remote());
    (focus_forwarded(ctx) && !peer_probed && !ctx.probes().is_empty()).then(|| {
        "only the local path was probed: connections from this machine take nat OUTPUT and never FORWARD, so they do not show what other machines get (probe from the peer: --peer-netns, or `portdoctor probe` there)".to_string()
    })
}

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (_, d) in accepted_targets(ctx) {
        match listener_at(ctx, d) {
            Listener::Found(..) | Listener::Unknown(_) => {}
            Listener::Loopback(ns, lo) => out.push(loopback(ctx, d, ns, &lo)),
            Listener::Nothing(ns) => out.push(nothing(ctx, d, Some(ns))),
            Listener::Elsewhere => out.push(nothing(ctx, d, None)),
        }
    }
    bypassed(ctx, out);
}

/// PD052: the container listens on loopback only inside its namespace.
fn loopback(ctx: &Ctx<'_>, d: &Delivery, ns: &NamespaceSockets, lo: &[&Socket]) -> Finding {
    let to = d.target_text();
    let mut f = Finding::new(
        Code::ContainerLoopback,
        Severity::Error,
        format!(
            "{} is sent to {to}, but the service there listens on loopback only {}: connections from outside its namespace are refused",
            ctx.port_label(),
            where_words(ns, lo.first().copied())
        ),
    );
    for s in lo {
        f = f.with_evidence(format!(
            "{} listens on {} only, {}",
            owner_label(s),
            endpoint(s.local_addr, s.local_port),
            where_words(ns, Some(s))
        ));
    }
    for line in chain_lines(ctx) {
        f = f.with_evidence(line);
    }
    let cmdline = lo[0]
        .owners
        .first()
        .map_or(&[][..], |p| p.cmdline.as_slice());
    f.with_fix(fixes::change_bind(
        lo[0].local_addr,
        None,
        lo[0].local_port,
        cmdline,
    ))
}

/// PD051: a DNAT sends the port where nothing listens (or to a machine this one cannot see).
fn nothing(ctx: &Ctx<'_>, d: &Delivery, ns: Option<&NamespaceSockets>) -> Finding {
    let to = d.target_text();
    let port = ctx.port_label();
    let (severity, summary) = match ns {
        Some(ns) => (
            Severity::Error,
            format!(
                "{port} is DNAT'd to {to}, but nothing listens there ({} has {} but no listener on port {})",
                where_words(ns, None),
                d.addr,
                d.port.unwrap_or(0)
            ),
        ),
        None => (
            Severity::Warning,
            format!(
                "{port} is DNAT'd to {to}, which is no address of this machine's network namespaces: the listener is on another machine (another node?), which portdoctor cannot see from here"
            ),
        ),
    };
    let mut f = Finding::new(Code::DnatNoListener, severity, summary);
    if let Some(ns) = ns {
        let listening: Vec<String> = ns
            .sockets
            .iter()
            .filter(|s| query::is_listener(s))
            .map(|s| endpoint(s.local_addr, s.local_port))
            .collect();
        if !listening.is_empty() {
            f = f.with_evidence(format!("there it listens on: {}", listening.join(", ")));
        }
    }
    for line in chain_lines(ctx) {
        f = f.with_evidence(line);
    }
    f.with_fix(fixes::investigate(
        format!(
            "Start the service on port {} where the DNAT sends it, or publish the port it really listens on (e.g. `docker run -p {}:<container port>`)",
            d.port.unwrap_or(0),
            ctx.ev.port
        ),
        "the published port must point at a listening port",
    ))
}

/// PD054: the way to a local socket would be blocked by a manager's rule (ufw, firewalld), but
/// the connection is forwarded past it.
fn bypassed(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for v in focus_verdicts(ctx) {
        let Some(local) = &v.without_nat else {
            continue;
        };
        if !local.blocks() {
            continue;
        }
        let who = local
            .managed
            .as_ref()
            .map(|m| m.describe())
            .or_else(|| local.rule.as_ref().map(|r| format!("`{}`", r.text)))
            .unwrap_or_else(|| local.owner_label());
        let to = v
            .overall
            .delivery
            .as_ref()
            .map_or("its endpoints".into(), Delivery::target_text);
        let f = Finding::new(
            Code::ManagerBypassed,
            Severity::Warning,
            format!(
                "{who} does not apply to {}: the connection is DNAT'd to {to} and forwarded, so it never meets the input rules",
                ctx.port_label()
            ),
        )
        .with_evidence(format!(
            "without the DNAT, {} would block it {}",
            local.owner_label(),
            local.by_text()
        ))
        .with_evidence(super::firewall::verdict_line(v, &ctx.port_label()))
        .with_fix(crate::finding::Fix::plain(
            "To filter a published port, put the rule where forwarded connections are decided: Docker's DOCKER-USER chain (iptables -I DOCKER-USER …, matching the container's address and port), or `ufw route …` / a firewalld policy",
            Operation::Investigate {
                hint: "forwarded connections pass FORWARD, not INPUT".into(),
            },
            vec![],
        ));
        out.push(f);
        return;
    }
}
