//! Gathers [`Evidence`] about one port: sockets first (they say which addresses matter), the
//! firewall read at the same time, then firewall verdicts and probes for the addresses the
//! service listens on and the one the peer uses. Each part may be missing, with the reason.

mod addresses;
mod firewall;
mod namespaces;
mod probes;
mod targets;

pub use probes::outcome as probe_outcome;

use portdoctor_diagnose::{Evidence, HealthEvidence, Os, Part, ProbeOutcome};
use portdoctor_firewall::collect::CommandRunner;
use portdoctor_sockets::{Proto, SnapshotOptions};
use std::net::IpAddr;

pub use addresses::local_addresses;
pub use firewall::Firewall;
pub use targets::{Targets, reachable_addresses};

/// A probe run from somewhere else (e.g. a peer network namespace): dst, port → outcome.
pub type PeerProbe<'a> = &'a (dyn Fn(IpAddr, u16) -> (ProbeOutcome, Option<f64>) + Sync);

/// What to gather.
pub struct Request<'a> {
    /// Port.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
    /// The peer the user asks about (`--from`).
    pub peer: Option<IpAddr>,
    /// The address the peer connects to (`--to`).
    pub to: Option<IpAddr>,
    /// The program that should own the port (`--expect`).
    pub expected_program: Option<String>,
    /// An HTTP path to GET for the health check (`--http`).
    pub http_path: Option<String>,
    /// Runs the firewall tools (a prefix such as `ip netns exec NS` in the demo).
    pub runner: CommandRunner,
    /// Probes from the peer's side, when we can reach it.
    pub peer_probe: Option<PeerProbe<'a>>,
    /// Decide rate limits as for a fresh source (`--no-assume` turns it off).
    pub assume_fresh_source: bool,
    /// Evaluate these saved rulesets (name, text) instead of the live firewall.
    pub saved: Option<Vec<(String, String)>>,
    /// The listening program as the rules name it (`--program`), instead of the socket's
    /// owner: for another machine's rules (`--ruleset`), or an owner this host cannot see.
    pub program: Option<String>,
    /// The listening Windows service (`--service`), for rules limited to a service.
    pub service: Option<String>,
}

impl Request<'_> {
    /// A request about `port` from "anyone else", with the live firewall and the defaults:
    /// no peer, no health check, fresh-source assumption on.
    pub fn local(port: u16, proto: Proto) -> Self {
        Request {
            port,
            proto,
            peer: None,
            to: None,
            expected_program: None,
            http_path: None,
            runner: CommandRunner::default(),
            peer_probe: None,
            assume_fresh_source: true,
            saved: None,
            program: None,
            service: None,
        }
    }
}

/// Gathers everything; never fails: a part that cannot be had is `Part::Missing`.
pub fn gather(req: &Request<'_>) -> Evidence {
    let addresses = local_addresses();
    let (all_sockets, read) = std::thread::scope(|s| {
        let read = s.spawn(|| {
            timed("firewall read", || match &req.saved {
                Some(files) => firewall::Firewall::from_saved(files),
                None => firewall::Firewall::read(&req.runner),
            })
        });
        let sockets = timed("sockets", || sockets(req));
        (
            sockets,
            read.join()
                .unwrap_or_else(|_| Err("firewall reader crashed".into())),
        )
    });
    let sockets = on_port(&all_sockets, req.port);
    let t = targets::targets(
        &addresses,
        sockets.get().map(Vec::as_slice),
        req.port,
        req.peer,
        req.to,
    );
    let (firewall, probes, namespaces) = std::thread::scope(|s| {
        let probes = s.spawn(|| timed("probes", || probes::gather(req, &t)));
        let firewall = timed("firewall", || match &read {
            Ok(fw) => Part::present(fw.evidence(req, &t)),
            Err(reason) => Part::missing(reason.clone()),
        });
        let namespaces = timed("namespaces", || {
            namespaces::gather(req, &firewall, &sockets, &all_sockets, &addresses)
        });
        (
            firewall,
            probes
                .join()
                .unwrap_or_else(|_| Part::missing("prober crashed")),
            namespaces,
        )
    });
    let health = req
        .http_path
        .as_ref()
        .map(|path| health(req, t.health, path));
    Evidence {
        os: Os::current(),
        port: req.port,
        proto: req.proto,
        sockets,
        addresses: match &addresses {
            Ok(a) => Part::present(a.clone()),
            Err(e) => Part::missing(e.clone()),
        },
        firewall,
        probes,
        health,
        peer: req.peer,
        peer_dst: t.peer.as_ref().map(|(_, a)| a.addr),
        expected_program: req.expected_program.clone(),
        namespaces,
    }
}

/// The sockets whose local port is `port`.
fn on_port(
    all: &Part<Vec<portdoctor_sockets::Socket>>,
    port: u16,
) -> Part<Vec<portdoctor_sockets::Socket>> {
    match all {
        Part::Present { value } => Part::present(
            value
                .iter()
                .filter(|s| s.local_port == port)
                .cloned()
                .collect(),
        ),
        Part::Missing { reason } => Part::missing(reason.clone()),
    }
}

/// The prober's name for a socket protocol.
pub fn probe_proto(proto: Proto) -> portdoctor_probe::Proto {
    match proto {
        Proto::Tcp => portdoctor_probe::Proto::Tcp,
        Proto::Udp => portdoctor_probe::Proto::Udp,
    }
}

/// Runs one part of the gathering, logging how long it took (`-v`).
fn timed<T>(part: &str, f: impl FnOnce() -> T) -> T {
    let start = std::time::Instant::now();
    let value = f();
    tracing::info!(
        part,
        ms = start.elapsed().as_secs_f64() * 1000.0,
        "gathered"
    );
    value
}

fn sockets(req: &Request<'_>) -> Part<Vec<portdoctor_sockets::Socket>> {
    let opts = SnapshotOptions {
        tcp: req.proto == Proto::Tcp,
        udp: req.proto == Proto::Udp,
        owners: true,
    };
    match portdoctor_sockets::snapshot(&opts) {
        Ok(snap) => Part::present(snap.sockets),
        Err(e) => Part::missing(e.to_string()),
    }
}

fn health(req: &Request<'_>, addr: IpAddr, path: &str) -> Part<HealthEvidence> {
    let addr = std::net::SocketAddr::new(addr, req.port);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let request = format!("GET http://{addr}{path}");
    let rt = match crate::runtime::runtime() {
        Ok(rt) => rt,
        Err(e) => return Part::missing(e.to_string()),
    };
    let host = addr.ip().to_string();
    let result = rt.block_on(portdoctor_probe::http::get_status(
        addr,
        &host,
        &path,
        std::time::Duration::from_secs(3),
    ));
    Part::present(match result {
        Ok(status) => HealthEvidence {
            request,
            status: Some(status),
            error: None,
        },
        Err(e) => HealthEvidence {
            request,
            status: None,
            error: Some(e.to_string()),
        },
    })
}
