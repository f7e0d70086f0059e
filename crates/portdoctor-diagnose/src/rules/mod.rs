//! The diagnosis rules: each family of causes looks at the evidence and adds findings.
//!
//! One principle holds throughout: a finding is about the viewpoint the user asked for — the
//! `--from` peer (and its address family) when given, otherwise "anyone else" on every address
//! the service listens on. Other viewpoints add warnings at most. Nothing is called reachable
//! unless it was checked.

mod conflicts;
mod firewall;
mod forward;
mod health;
mod listening;
mod nat;
mod path;
mod states;
mod summary;

use crate::evidence::{Evidence, ProbeEvidence, ProbeOutcome, Viewpoint};
use crate::finding::Finding;
use portdoctor_sockets::{Proto, Socket, query};
use std::net::{IpAddr, SocketAddr};

pub use states::{CLOSE_WAIT_THRESHOLD, TIME_WAIT_THRESHOLD};

/// Evidence plus what every rule needs to ask of it.
pub(crate) struct Ctx<'a> {
    pub(crate) ev: &'a Evidence,
    pub(crate) sockets: &'a [Socket],
    pub(crate) listeners: Vec<&'a Socket>,
    pub(crate) proto: String,
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

    pub(crate) fn port_label(&self) -> String {
        format!("{}/{}", self.ev.port, self.proto)
    }

    pub(crate) fn probes(&self) -> &'a [ProbeEvidence] {
        self.ev.probes.get().map_or(&[][..], Vec::as_slice)
    }

    pub(crate) fn local_probe_open(&self) -> bool {
        self.probes()
            .iter()
            .any(|p| !p.viewpoint.is_remote() && p.outcome == ProbeOutcome::Open)
    }

    /// Whether `v` is a viewpoint the user asked about: the peer when `--from` was given,
    /// otherwise "anyone else".
    pub(crate) fn is_focus(&self, v: &Viewpoint) -> bool {
        match (self.ev.peer, v) {
            (Some(p), Viewpoint::Peer { addr }) => *addr == p,
            (Some(_), _) => false,
            (None, Viewpoint::Outside { .. }) => true,
            (None, _) => false,
        }
    }

    /// A remote probe from the peer that connected.
    pub(crate) fn peer_probe_open(&self) -> Option<&'a ProbeEvidence> {
        self.probes().iter().find(|p| {
            matches!(p.viewpoint, Viewpoint::Peer { .. }) && p.outcome == ProbeOutcome::Open
        })
    }

    /// `probe from … to …: outcome` lines for every probe.
    pub(crate) fn probe_lines(&self) -> Vec<String> {
        self.probes()
            .iter()
            .map(|p| {
                format!(
                    "probe from {} to {}: {}",
                    p.viewpoint.label(),
                    endpoint(p.dst, self.ev.port),
                    outcome_label(&p.outcome, self.ev.proto)
                )
            })
            .collect()
    }
}

/// Runs every rule and ranks the findings: errors first, then by code.
pub fn diagnose(ev: &Evidence) -> Vec<Finding> {
    let ctx = Ctx::new(ev);
    let mut out = Vec::new();
    if !nat::focus_is_nated(&ctx) {
        listening::run(&ctx, &mut out);
    }
    conflicts::run(&ctx, &mut out);
    for fw in ev.firewall.get().into_iter().flatten() {
        firewall::run(&ctx, fw, &mut out);
    }
    nat::run(&ctx, &mut out);
    states::run(&ctx, &mut out);
    health::run(&ctx, &mut out);
    path::run(&ctx, &mut out);
    summary::run(&ctx, &mut out);
    out.sort_by_key(|f| (f.severity, f.code));
    out
}

pub(crate) fn owner_label(s: &Socket) -> String {
    match s.owners.first() {
        Some(p) => format!("{} (pid {})", p.name, p.pid),
        None => s
            .owner_unknown
            .clone()
            .unwrap_or_else(|| "an unknown program".into()),
    }
}

/// `addr:port`, IPv6 in brackets.
pub(crate) fn endpoint(addr: IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

/// What a probe saw, in words that fit the protocol.
pub(crate) fn outcome_label(o: &ProbeOutcome, proto: Proto) -> String {
    match o {
        ProbeOutcome::Open => "open".into(),
        ProbeOutcome::Closed if proto == Proto::Udp => {
            "closed (refused with ICMP port-unreachable)".into()
        }
        ProbeOutcome::Closed => "closed (refused with RST)".into(),
        ProbeOutcome::Filtered => "filtered (no answer)".into(),
        ProbeOutcome::OpenOrFiltered => "open|filtered (UDP: no answer)".into(),
        ProbeOutcome::Unreachable(k) => format!("unreachable ({k})"),
        ProbeOutcome::Error(e) => format!("probe failed: {e}"),
    }
}
