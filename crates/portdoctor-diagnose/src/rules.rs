//! The diagnosis rules: each looks at the evidence and adds findings.

use crate::evidence::{
    Backend, Decision, Evidence, FirewallEvidence, Part, ProbeOutcome, Viewpoint, ViewpointVerdict,
};
use crate::finding::{Code, Finding, Fix, Operation, Severity};
use crate::fixes::{self, OpenRequest};
use portdoctor_sockets::query::{self, ConflictKind};
use portdoctor_sockets::{Family, Reach, Socket, SocketState};
use std::net::{IpAddr, SocketAddr};

/// CLOSE_WAIT sockets on one port from which on the application is called leaky.
pub const CLOSE_WAIT_THRESHOLD: usize = 16;
/// TIME_WAIT sockets on one port from which on a build-up is reported.
pub const TIME_WAIT_THRESHOLD: usize = 4096;

/// Evidence plus what every rule needs to ask of it.
struct Ctx<'a> {
    ev: &'a Evidence,
    sockets: &'a [Socket],
    listeners: Vec<&'a Socket>,
    proto: String,
}

impl<'a> Ctx<'a> {
    fn new(ev: &'a Evidence) -> Ctx<'a> {
        let sockets = ev.sockets.get().map_or(&[][..], Vec::as_slice);
        let listeners = sockets
            .iter()
            .filter(|s| s.proto == ev.proto && s.local_port == ev.port && query::is_listener(s))
            .collect();
        Ctx {
            ev,
            sockets,
            listeners,
            proto: ev.proto.to_string(),
        }
    }

    fn port_label(&self) -> String {
        format!("{}/{}", self.ev.port, self.proto)
    }

    fn probes(&self) -> &'a [crate::evidence::ProbeEvidence] {
        self.ev.probes.get().map_or(&[][..], Vec::as_slice)
    }

    fn local_probe_open(&self) -> bool {
        self.probes()
            .iter()
            .any(|p| !p.viewpoint.is_remote() && p.outcome == ProbeOutcome::Open)
    }
}

/// Runs every rule and ranks the findings: errors first, then by code.
pub fn diagnose(ev: &Evidence) -> Vec<Finding> {
    let ctx = Ctx::new(ev);
    let mut out = Vec::new();
    listening(&ctx, &mut out);
    conflicts(&ctx, &mut out);
    for fw in ev.firewall.get().into_iter().flatten() {
        firewall(&ctx, fw, &mut out);
    }
    connection_states(&ctx, &mut out);
    health(&ctx, &mut out);
    path(&ctx, &mut out);
    missing(&ctx, &mut out);
    reachable(&ctx, &mut out);
    out.sort_by_key(|f| (f.severity, f.code));
    out
}

fn owner_label(s: &Socket) -> String {
    match s.owners.first() {
        Some(p) => format!("{} (pid {})", p.name, p.pid),
        None => s
            .owner_unknown
            .clone()
            .unwrap_or_else(|| "an unknown program".into()),
    }
}

/// `addr:port`, IPv6 in brackets.
fn endpoint(addr: IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

fn accepts_ipv4(s: &Socket) -> bool {
    s.family == Family::Ipv4
        || (s.local_addr.is_unspecified() && s.v6only != Some(true))
        || matches!(s.local_addr, IpAddr::V6(a) if a.to_ipv4_mapped().is_some())
}

fn accepts_ipv6(s: &Socket) -> bool {
    s.family == Family::Ipv6
}

fn probe_lines(ctx: &Ctx<'_>) -> Vec<String> {
    ctx.probes()
        .iter()
        .map(|p| {
            format!(
                "probe from {} to {}: {}",
                p.viewpoint.label(),
                endpoint(p.dst, ctx.ev.port),
                outcome_label(&p.outcome)
            )
        })
        .collect()
}

fn outcome_label(o: &ProbeOutcome) -> String {
    match o {
        ProbeOutcome::Open => "open".into(),
        ProbeOutcome::Closed => "closed (refused with RST)".into(),
        ProbeOutcome::Filtered => "filtered (no answer)".into(),
        ProbeOutcome::OpenOrFiltered => "open|filtered (UDP: no answer)".into(),
        ProbeOutcome::Unreachable(k) => format!("unreachable ({k})"),
        ProbeOutcome::Error(e) => format!("probe failed: {e}"),
    }
}

/// PD001 nothing listening, PD002 loopback only, PD003 IPv6 only, PD004 IPv4 only.
fn listening(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let port = ctx.port_label();
    if ctx.ev.sockets.get().is_none() {
        return;
    }
    if ctx.listeners.is_empty() {
        let seen_elsewhere = ctx.local_probe_open();
        let mut f = Finding::new(
            Code::NothingListening,
            if seen_elsewhere { Severity::Warning } else { Severity::Error },
            if seen_elsewhere {
                format!("No listener on {port} is visible here, yet connections succeed: it lives in another network namespace or container")
            } else {
                format!("Nothing listens on {port}")
            },
        )
        .with_evidence(format!("no {} socket is in state listen on port {}", ctx.proto, ctx.ev.port));
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
        for line in probe_lines(ctx) {
            f = f.with_evidence(line);
        }
        if !seen_elsewhere {
            f = f.with_fix(Fix {
                title: format!(
                    "Start the service on port {}, then check its log for a bind error",
                    ctx.ev.port
                ),
                backend: None,
                operation: Operation::Investigate {
                    hint: "is the service running, and on this port?".into(),
                },
                commands: Vec::new(),
            });
        }
        out.push(f);
        return;
    }
    let all_loopback = ctx
        .listeners
        .iter()
        .all(|s| s.reach() == Reach::LoopbackOnly);
    if all_loopback {
        let mut f = Finding::new(
            Code::BoundToLoopback,
            Severity::Error,
            format!("{port} listens on loopback only: only this machine can connect"),
        );
        for s in &ctx.listeners {
            f = f.with_evidence(format!(
                "{} listens on {} only",
                owner_label(s),
                endpoint(s.local_addr, s.local_port)
            ));
        }
        for line in probe_lines(ctx) {
            f = f.with_evidence(line);
        }
        let first = ctx.listeners[0];
        let cmdline = first
            .owners
            .first()
            .map_or(&[][..], |p| p.cmdline.as_slice());
        out.push(f.with_fix(fixes::change_bind(first.local_addr, ctx.ev.port, cmdline)));
        return;
    }
    let reachable: Vec<&&Socket> = ctx
        .listeners
        .iter()
        .filter(|s| s.reach() != Reach::LoopbackOnly)
        .collect();
    let peer_v4 = ctx.ev.peer.is_none_or(|p| p.is_ipv4());
    if peer_v4 && !reachable.iter().any(|s| accepts_ipv4(s)) {
        let mut f = Finding::new(
            Code::Ipv6Only,
            Severity::Error,
            format!("{port} accepts IPv6 clients only: IPv4 clients cannot connect"),
        );
        for s in &reachable {
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
        f = f.with_fix(Fix {
            title: format!(
                "Also listen on 0.0.0.0:{p}, or clear IPV6_V6ONLY on the [::]:{p} socket (and check `sysctl net.ipv6.bindv6only`, which sets the default)",
                p = ctx.ev.port
            ),
            backend: None,
            operation: Operation::ChangeBind {
                from: format!("[::]:{} (v6only)", ctx.ev.port),
                to: format!("[::]:{} (dual-stack) or 0.0.0.0:{}", ctx.ev.port, ctx.ev.port),
            },
            commands: Vec::new(),
        });
        out.push(f);
    }
    let peer_v6 = ctx.ev.peer.is_some_and(|p| p.is_ipv6());
    if peer_v6 && !reachable.iter().any(|s| accepts_ipv6(s)) {
        let mut f = Finding::new(
            Code::Ipv4Only,
            Severity::Error,
            format!("{port} accepts IPv4 clients only, and the peer uses IPv6"),
        );
        for s in &reachable {
            f = f.with_evidence(format!(
                "{} listens on {}",
                owner_label(s),
                endpoint(s.local_addr, s.local_port)
            ));
        }
        out.push(f.with_fix(Fix {
            title: format!(
                "Listen on [::]:{} with IPV6_V6ONLY off (serves both families)",
                ctx.ev.port
            ),
            backend: None,
            operation: Operation::ChangeBind {
                from: format!("0.0.0.0:{}", ctx.ev.port),
                to: format!("[::]:{}", ctx.ev.port),
            },
            commands: Vec::new(),
        }));
    }
}

/// PD005 several programs on the port, PD006 the wrong program holds it.
fn conflicts(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
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
                f = f.with_fix(fixes::stop_process(*pid, name));
            }
        }
        out.push(f);
    }
    let Some(expected) = &ctx.ev.expected_program else {
        return;
    };
    let want = expected.to_lowercase();
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
            .with_fix(fixes::stop_process(owner.pid, &owner.name)),
        );
        return;
    }
}

fn verdict_line(backend: Backend, v: &ViewpointVerdict, port: &str) -> String {
    let what = match &v.decision {
        Decision::Accept => "accepts".to_string(),
        Decision::Drop => "drops".to_string(),
        Decision::Reject(k) => format!("rejects ({k})"),
        Decision::Unknown(r) => format!("cannot be evaluated ({r})"),
    };
    let by = match &v.decided_by {
        Some(r) if r.is_policy => format!(
            " by the policy of {}",
            [r.family.as_deref(), r.table.as_deref(), r.chain.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some(r) => {
            let place = [r.family.as_deref(), r.table.as_deref(), r.chain.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let pos = r
                .position
                .as_deref()
                .map_or(String::new(), |p| format!(" #{p}"));
            let comment = r
                .comment
                .as_deref()
                .map_or(String::new(), |c| format!(" (comment: {c})"));
            format!(" by rule{pos} in {place}: `{}`{comment}", r.text)
        }
        None => String::new(),
    };
    format!(
        "{} {what} {port} from {} to {} on {}{by}",
        backend.label(),
        v.viewpoint.label(),
        v.dst,
        v.iif
    )
}

/// PD010–PD016: what each firewall backend does.
fn firewall(ctx: &Ctx<'_>, fw: &FirewallEvidence, out: &mut Vec<Finding>) {
    if !fw.active {
        return;
    }
    let port = ctx.port_label();
    let blocked: Vec<&ViewpointVerdict> =
        fw.verdicts.iter().filter(|v| v.decision.blocks()).collect();
    let remote_accepts: Vec<&ViewpointVerdict> = fw
        .verdicts
        .iter()
        .filter(|v| v.viewpoint.is_remote() && v.decision == Decision::Accept)
        .collect();
    let unknown: Vec<&ViewpointVerdict> = fw
        .verdicts
        .iter()
        .filter(|v| matches!(v.decision, Decision::Unknown(_)))
        .collect();
    if let Some(first) = blocked.first() {
        let peer_blocked = blocked
            .iter()
            .any(|v| matches!(v.viewpoint, Viewpoint::Peer { .. }));
        let shadowed = blocked.iter().find(|v| !v.shadowed_accepts.is_empty());
        let policy = first.decided_by.as_ref().is_none_or(|r| r.is_policy);
        let zone_miss = fw.firewalld.as_ref().and_then(|z| {
            let zone = z
                .iface_zones
                .iter()
                .find(|(i, _)| *i == first.iif)
                .map_or(z.default_zone.clone(), |(_, zone)| zone.clone());
            (!z.zones_opening_port.is_empty() && !z.zones_opening_port.contains(&zone))
                .then_some((zone, z))
        });
        let (code, summary) = if let Some((zone, z)) = &zone_miss {
            (
                Code::FirewalldWrongZone,
                format!(
                    "firewalld opens {port} in zone {}, but {} is in zone {zone}",
                    z.zones_opening_port.join(", "),
                    first.iif
                ),
            )
        } else if !fw.windows_near_misses.is_empty() {
            (
                Code::WindowsRuleMismatch,
                format!(
                    "A Windows Firewall rule allows {port}, but it does not apply: {}",
                    fw.windows_near_misses[0].mismatch
                ),
            )
        } else if let Some(s) = shadowed {
            (
                Code::AllowShadowed,
                format!(
                    "{} has a rule allowing {port} (`{}`), but an earlier block decides first",
                    fw.backend.label(),
                    s.shadowed_accepts[0].text
                ),
            )
        } else if policy {
            (
                Code::DefaultDeny,
                format!(
                    "{} drops {port} by default and no rule allows it",
                    fw.backend.label()
                ),
            )
        } else {
            (
                Code::FirewallBlocks,
                format!("{} blocks {port}", fw.backend.label()),
            )
        };
        // Some sources get in: say so, and open only for the peer when the user named one.
        // Only sources of the same address family compare: an IPv4 rule says nothing of IPv6.
        let some_sources = blocked.iter().any(|b| {
            b.viewpoint.is_remote()
                && remote_accepts
                    .iter()
                    .any(|a| a.viewpoint.addr().is_ipv4() == b.viewpoint.addr().is_ipv4())
        });
        let (code, summary) = if some_sources && code == Code::FirewallBlocks {
            let ok: Vec<String> = remote_accepts
                .iter()
                .filter(|a| a.viewpoint.addr().is_ipv4() == first.viewpoint.addr().is_ipv4())
                .map(|v| v.viewpoint.label())
                .collect();
            (
                Code::SomeSourcesOnly,
                format!(
                    "{} lets {port} in from some sources only ({}), not from all",
                    fw.backend.label(),
                    ok.join(", ")
                ),
            )
        } else {
            (code, summary)
        };
        let severity = if code == Code::SomeSourcesOnly && !peer_blocked {
            Severity::Warning
        } else {
            Severity::Error
        };
        let mut f = Finding::new(code, severity, summary);
        for v in fw.verdicts.iter() {
            f = f.with_evidence(verdict_line(fw.backend, v, &port));
        }
        if let Some(s) = shadowed {
            for r in &s.shadowed_accepts {
                f = f.with_evidence(format!(
                    "never reached: `{}`{}",
                    r.text,
                    r.position
                        .as_deref()
                        .map_or(String::new(), |p| format!(" (#{p})"))
                ));
            }
        }
        for m in &fw.windows_near_misses {
            f = f.with_evidence(format!("rule \"{}\": {} ({})", m.rule, m.mismatch, m.field));
        }
        let from = ctx
            .ev
            .peer
            .filter(|_| code == Code::SomeSourcesOnly)
            .map(|p| p.to_string());
        let zone = zone_miss.as_ref().map(|(z, _)| z.clone()).or_else(|| {
            fw.firewalld.as_ref().map(|z| {
                z.iface_zones
                    .iter()
                    .find(|(i, _)| *i == first.iif)
                    .map_or(z.default_zone.clone(), |(_, zone)| zone.clone())
            })
        });
        f = f.with_fix(fixes::open_port(
            fw.backend,
            &OpenRequest {
                port: ctx.ev.port,
                proto: &ctx.proto,
                from: from.as_deref(),
                decided_by: first.decided_by.as_ref(),
                zone: zone.as_deref(),
                ipv6: first.dst.is_ipv6(),
            },
        ));
        if let Some((_, z)) = &zone_miss {
            f = f.with_fix(Fix {
                title: format!(
                    "Or move {} into zone {}",
                    first.iif, z.zones_opening_port[0]
                ),
                backend: Some(Backend::Firewalld),
                operation: Operation::ChangeZone {
                    iface: first.iif.clone(),
                    zone: z.zones_opening_port[0].clone(),
                },
                commands: vec![crate::finding::FixCommand::posix([
                    "firewall-cmd".to_string(),
                    format!("--zone={}", z.zones_opening_port[0]),
                    format!("--change-interface={}", first.iif),
                ])],
            });
        }
        out.push(f);
    }
    if !unknown.is_empty() && blocked.is_empty() {
        let mut f = Finding::new(
            Code::FirewallUnknown,
            Severity::Warning,
            format!(
                "What {} does with {port} cannot be known from its rules",
                fw.backend.label()
            ),
        );
        for v in &unknown {
            f = f.with_evidence(verdict_line(fw.backend, v, &port));
        }
        out.push(f);
    }
}

/// PD020 CLOSE_WAIT and PD021 TIME_WAIT build-ups.
fn connection_states(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let on_port = |state| {
        ctx.sockets
            .iter()
            .filter(|s| s.local_port == ctx.ev.port && s.state == state)
            .count()
    };
    let port = ctx.port_label();
    let close_wait = on_port(SocketState::CloseWait);
    if close_wait >= CLOSE_WAIT_THRESHOLD {
        let owner = ctx
            .sockets
            .iter()
            .find(|s| s.local_port == ctx.ev.port && s.state == SocketState::CloseWait)
            .map(owner_label)
            .unwrap_or_default();
        out.push(
            Finding::new(
                Code::CloseWaitBuildup,
                Severity::Warning,
                format!("{close_wait} connections on {port} are in CLOSE_WAIT: {owner} does not close sockets its clients closed"),
            )
            .with_evidence(format!("{close_wait} CLOSE_WAIT socket(s) with local port {} (threshold {CLOSE_WAIT_THRESHOLD})", ctx.ev.port))
            .with_fix(Fix {
                title: "Fix the leak in the application (close the connection when a read returns EOF); restarting it frees the sockets meanwhile".into(),
                backend: None,
                operation: Operation::Investigate { hint: "connection handling in the service".into() },
                commands: Vec::new(),
            }),
        );
    }
    let time_wait = on_port(SocketState::TimeWait);
    if time_wait >= TIME_WAIT_THRESHOLD {
        out.push(
            Finding::new(
                Code::TimeWaitBuildup,
                Severity::Warning,
                format!("{time_wait} connections on {port} are in TIME_WAIT: this side closes many short connections"),
            )
            .with_evidence(format!("{time_wait} TIME_WAIT socket(s) with local port {} (threshold {TIME_WAIT_THRESHOLD})", ctx.ev.port))
            .with_fix(Fix {
                title: "Use keep-alive / connection pooling, or let clients close first".into(),
                backend: None,
                operation: Operation::Investigate { hint: "who closes first".into() },
                commands: Vec::new(),
            }),
        );
    }
}

/// PD030: listening but unhealthy.
fn health(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(Part::Present { value: h }) = &ctx.ev.health else {
        return;
    };
    let bad_status = h.status.filter(|s| *s >= 500);
    if bad_status.is_none() && h.error.is_none() {
        return;
    }
    let what = match (bad_status, &h.error) {
        (Some(s), _) => format!("answers HTTP {s}"),
        (None, Some(e)) => format!("fails: {e}"),
        _ => unreachable!("checked above"),
    };
    out.push(
        Finding::new(
            Code::Unhealthy,
            Severity::Error,
            format!("{} is reachable but the service {what}", ctx.port_label()),
        )
        .with_evidence(format!("{}: {what}", h.request))
        .with_fix(Fix {
            title: "Check the service's log: the network path works, the application does not"
                .into(),
            backend: None,
            operation: Operation::Investigate {
                hint: "the service's own log".into(),
            },
            commands: Vec::new(),
        }),
    );
}

/// PD040 filtered from the peer with no local rule to blame; PD041 peer refused.
fn path(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let port = ctx.port_label();
    let firewall = ctx.ev.firewall.get();
    for p in ctx.probes().iter().filter(|p| p.viewpoint.is_remote()) {
        let blamed = firewall.is_some_and(|fws| {
            fws.iter().filter(|fw| fw.active).any(|fw| {
                fw.verdicts
                    .iter()
                    .any(|v| v.viewpoint == p.viewpoint && v.decision != Decision::Accept)
            })
        });
        if blamed {
            continue;
        }
        let listening_ok = ctx
            .listeners
            .iter()
            .any(|s| s.reach() != Reach::LoopbackOnly);
        match &p.outcome {
            ProbeOutcome::Filtered | ProbeOutcome::Unreachable(_) if listening_ok => {
                let (severity, tail) = match &ctx.ev.firewall {
                    Part::Present { .. } => (Severity::Error, "no local firewall rule blocks it, so something between drops it (cloud security group, upstream firewall, router ACL)".to_string()),
                    Part::Missing { reason } => (Severity::Warning, format!("the local firewall could not be checked ({reason}), so it may be the local firewall or something between")),
                };
                let mut f = Finding::new(
                    Code::UpstreamFiltered,
                    severity,
                    format!(
                        "{port} is {} from {}: {tail}",
                        outcome_label(&p.outcome),
                        p.viewpoint.label()
                    ),
                );
                for line in probe_lines(ctx) {
                    f = f.with_evidence(line);
                }
                out.push(f.with_fix(Fix {
                    title: format!("Allow inbound {port} in the network's firewall or security group between {} and this host", p.viewpoint.addr()),
                    backend: None,
                    operation: Operation::Investigate { hint: "security groups, upstream firewalls, NAT".into() },
                    commands: Vec::new(),
                }));
            }
            ProbeOutcome::Closed if listening_ok && ctx.local_probe_open() => {
                let mut f = Finding::new(
                    Code::PeerRefused,
                    Severity::Warning,
                    format!(
                        "{port} refuses {} although the service listens: a NAT or port forward sends it elsewhere, or the peer reaches another machine",
                        p.viewpoint.label()
                    ),
                );
                for line in probe_lines(ctx) {
                    f = f.with_evidence(line);
                }
                out.push(f);
            }
            _ => {}
        }
    }
}

/// PD090: what could not be looked at.
fn missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let parts: [(&str, Option<&String>); 4] = [
        ("sockets", reason(&ctx.ev.sockets)),
        ("addresses", reason(&ctx.ev.addresses)),
        ("firewall", reason(&ctx.ev.firewall)),
        ("probes", reason(&ctx.ev.probes)),
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

/// PD000: nothing wrong found; say how sure that is.
fn reachable(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if out.iter().any(|f| f.severity == Severity::Error) || ctx.listeners.is_empty() {
        return;
    }
    let port = ctx.port_label();
    let remote_open: Vec<&crate::evidence::ProbeEvidence> = ctx
        .probes()
        .iter()
        .filter(|p| p.viewpoint.is_remote() && p.outcome == ProbeOutcome::Open)
        .collect();
    let summary = if let Some(p) = remote_open.first() {
        format!("{port} is reachable from {}", p.viewpoint.label())
    } else {
        format!(
            "{port} should be reachable: it listens beyond loopback and no local firewall blocks it (not verified from another machine: use --from)"
        )
    };
    let mut f = Finding::new(Code::Reachable, Severity::Info, summary);
    for s in &ctx.listeners {
        f = f.with_evidence(format!(
            "{} listens on {} ({})",
            owner_label(s),
            endpoint(s.local_addr, s.local_port),
            s.reach().label()
        ));
    }
    for line in probe_lines(ctx) {
        f = f.with_evidence(line);
    }
    out.push(f);
}
