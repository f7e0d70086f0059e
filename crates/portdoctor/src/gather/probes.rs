//! Connect probes from this machine (loopback, each address the service listens on) and, when
//! possible, from the peer to the address it uses.

use super::{Request, Targets};
use portdoctor_diagnose::{Part, ProbeEvidence, ProbeOutcome, Viewpoint};
use portdoctor_probe::{Job, PortState, ProbeConfig};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Local connections complete in microseconds or never (a local drop): no need for the
/// half-second a remote probe gets. The handshake to a local address is done by the kernel
/// inside `connect`, so even a busy machine answers well within this; a lost SYN would only
/// be sent again after a second, which no shorter or longer wait here would see.
const LOCAL_TIMEOUT: Duration = Duration::from_millis(100);

pub(super) fn gather(req: &Request<'_>, t: &Targets) -> Part<Vec<ProbeEvidence>> {
    let v6_loop: IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
    let mut targets: Vec<(Viewpoint, IpAddr)> = vec![
        (
            Viewpoint::Loopback {
                addr: IpAddr::from([127, 0, 0, 1]),
            },
            IpAddr::from([127, 0, 0, 1]),
        ),
        (Viewpoint::Loopback { addr: v6_loop }, v6_loop),
    ];
    for a in &t.outside {
        targets.push((
            Viewpoint::Local {
                addr: a.addr,
                iface: a.iface.clone(),
            },
            a.addr,
        ));
    }
    let proto = super::probe_proto(req.proto);
    let jobs: Vec<Job> = targets
        .iter()
        .map(|(_, dst)| Job {
            host: dst.to_string(),
            addr: SocketAddr::new(*dst, req.port),
            proto,
        })
        .collect();
    let cfg = ProbeConfig {
        timeout: LOCAL_TIMEOUT,
        retries: 0,
        adaptive: false,
        ..ProbeConfig::default()
    };
    let rt = match crate::runtime::runtime() {
        Ok(rt) => rt,
        Err(e) => return Part::missing(e.to_string()),
    };
    let report = match rt.block_on(portdoctor_probe::run(jobs, &cfg, |_| {})) {
        Ok(r) => r,
        Err(e) => return Part::missing(format!("probing failed: {e}")),
    };
    let mut out: Vec<ProbeEvidence> = targets
        .into_iter()
        .zip(report.results)
        .map(|((viewpoint, dst), r)| ProbeEvidence {
            viewpoint,
            dst,
            outcome: outcome(&r),
            latency_ms: r.latency_ms,
        })
        .collect();
    if let (Some((peer, dst)), Some(probe)) = (&t.peer, req.peer_probe) {
        let (outcome, latency_ms) = probe(dst.addr, req.port);
        out.push(ProbeEvidence {
            viewpoint: Viewpoint::Peer { addr: *peer },
            dst: dst.addr,
            outcome,
            latency_ms,
        });
    }
    Part::present(out)
}

/// Maps the prober's classification onto diagnosis' outcomes.
pub fn outcome(r: &portdoctor_probe::ProbeResult) -> ProbeOutcome {
    match r.state {
        PortState::Open => ProbeOutcome::Open,
        PortState::OpenFiltered => ProbeOutcome::OpenOrFiltered,
        PortState::Closed => ProbeOutcome::Closed,
        PortState::Filtered => ProbeOutcome::Filtered,
        PortState::Unreachable => ProbeOutcome::Unreachable(
            r.unreachable
                .and_then(|k| serde_json::to_value(k).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| r.errno.unwrap_or("unreachable").to_string()),
        ),
    }
}
