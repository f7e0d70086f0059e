//! Connect probes from this machine (loopback, each reachable address) and, when possible,
//! from the peer.

use super::{Request, reachable_addresses};
use portdoctor_diagnose::{LocalAddress, Part, ProbeEvidence, ProbeOutcome, Viewpoint};
use portdoctor_probe::{Job, PortState, ProbeConfig};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub(super) fn gather(
    req: &Request<'_>,
    addresses: &Result<Vec<LocalAddress>, String>,
) -> Part<Vec<ProbeEvidence>> {
    let mut targets: Vec<(Viewpoint, IpAddr)> = vec![
        (
            Viewpoint::Loopback {
                addr: IpAddr::from([127, 0, 0, 1]),
            },
            IpAddr::from([127, 0, 0, 1]),
        ),
        (
            Viewpoint::Loopback {
                addr: "::1".parse().expect("literal"),
            },
            "::1".parse().expect("literal"),
        ),
    ];
    for a in reachable_addresses(addresses) {
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
        timeout: Duration::from_millis(500),
        retries: 0,
        ..ProbeConfig::default()
    };
    let rt = match crate::commands::probe::runtime() {
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
    if let (Some(peer), Some(probe)) = (req.peer, req.peer_probe) {
        let family_match = reachable_addresses(addresses)
            .into_iter()
            .filter(|a| a.addr.is_ipv4() == peer.is_ipv4())
            .find(|a| super::firewall::same_subnet(a.addr, peer))
            .or_else(|| {
                reachable_addresses(addresses)
                    .into_iter()
                    .find(|a| a.addr.is_ipv4() == peer.is_ipv4())
            });
        if let Some(a) = family_match {
            let (outcome, latency_ms) = probe(a.addr, req.port);
            out.push(ProbeEvidence {
                viewpoint: Viewpoint::Peer { addr: peer },
                dst: a.addr,
                outcome,
                latency_ms,
            });
        }
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
