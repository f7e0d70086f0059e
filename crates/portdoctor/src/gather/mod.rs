//! Gathers [`Evidence`] about one port, concurrently: sockets, addresses, firewall verdicts
//! from every viewpoint, connect probes. Each part may be missing, with the reason.

mod addresses;
mod firewall;
mod probes;

pub use probes::outcome as probe_outcome;

use portdoctor_diagnose::{Evidence, HealthEvidence, LocalAddress, Part, ProbeOutcome};
use portdoctor_firewall::collect::CommandRunner;
use portdoctor_sockets::{Proto, SnapshotOptions};
use std::net::IpAddr;

pub use addresses::local_addresses;
pub use firewall::unreadable as firewall_unreadable;

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
    /// The program that should own the port (`--expect`).
    pub expected_program: Option<String>,
    /// An HTTP path to GET for the health check (`--http`).
    pub http_path: Option<String>,
    /// Runs the firewall tools (a prefix such as `ip netns exec NS` in the demo).
    pub runner: CommandRunner,
    /// Probes from the peer's side, when we can reach it.
    pub peer_probe: Option<PeerProbe<'a>>,
}

/// Gathers everything; never fails: a part that cannot be had is `Part::Missing`.
pub fn gather(req: &Request<'_>) -> Evidence {
    let addresses = local_addresses();
    let (sockets, firewall, probes) = std::thread::scope(|s| {
        let sockets = s.spawn(|| timed("sockets", || sockets(req)));
        let firewall = s.spawn(|| timed("firewall", || firewall::gather(req, &addresses)));
        let probes = s.spawn(|| timed("probes", || probes::gather(req, &addresses)));
        (
            sockets
                .join()
                .unwrap_or_else(|_| Part::missing("socket reader crashed")),
            firewall
                .join()
                .unwrap_or_else(|_| Part::missing("firewall reader crashed")),
            probes
                .join()
                .unwrap_or_else(|_| Part::missing("prober crashed")),
        )
    });
    let health = req.http_path.as_ref().map(|path| health(req, path));
    Evidence {
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
        expected_program: req.expected_program.clone(),
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
        Ok(snap) => Part::present(
            snap.sockets
                .into_iter()
                .filter(|s| s.local_port == req.port)
                .collect(),
        ),
        Err(e) => Part::missing(e.to_string()),
    }
}

fn health(req: &Request<'_>, path: &str) -> Part<HealthEvidence> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], req.port));
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let request = format!("GET http://{addr}{path}");
    let rt = match crate::commands::probe::runtime() {
        Ok(rt) => rt,
        Err(e) => return Part::missing(e.to_string()),
    };
    let result = rt.block_on(portdoctor_probe::http::get_status(
        addr,
        "127.0.0.1",
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

/// The addresses that a stranger could connect to: non-loopback, not IPv6 link-local.
fn reachable_addresses(addresses: &Result<Vec<LocalAddress>, String>) -> Vec<&LocalAddress> {
    addresses
        .as_ref()
        .map(|a| {
            a.iter()
                .filter(|a| !a.addr.is_loopback() && !is_link_local(a.addr))
                .take(8)
                .collect()
        })
        .unwrap_or_default()
}

fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}
