//! Linux: probing from inside another network namespace.

use super::BoxedPeerProbe;
use portdoctor_diagnose::ProbeOutcome;
use portdoctor_lab::Netns;
use portdoctor_probe::{Job, ProbeConfig};
use portdoctor_sockets::Proto;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Checks that the network namespace `name` exists (`ip netns` name).
pub fn check_netns(name: &str) -> Result<(), String> {
    Netns::existing(name)
        .map(|_| ())
        .map_err(|_| format!("no network namespace named `{name}` (see `ip netns list`)"))
}

/// A probe that runs inside the existing network namespace `name` (`ip netns` name).
pub fn peer_probe_in_netns(name: &str, proto: Proto) -> Result<BoxedPeerProbe, String> {
    check_netns(name)?;
    let ns = Netns::existing(name).map_err(|e| e.to_string())?;
    Ok(Box::new(move |dst: IpAddr, port: u16| {
        ns.try_enter(|| probe_once(dst, port, proto))
            .unwrap_or_else(|e| (ProbeOutcome::Error(e.to_string()), None))
    }))
}

/// One connect probe from the calling thread's namespace.
pub fn probe_once(dst: IpAddr, port: u16, proto: Proto) -> (ProbeOutcome, Option<f64>) {
    let job = Job {
        host: dst.to_string(),
        addr: SocketAddr::new(dst, port),
        proto: crate::gather::probe_proto(proto),
    };
    let cfg = ProbeConfig {
        timeout: Duration::from_millis(1500),
        retries: 0,
        adaptive: false,
        ..ProbeConfig::default()
    };
    let rt = match crate::runtime::runtime() {
        Ok(rt) => rt,
        Err(e) => return (ProbeOutcome::Error(e.to_string()), None),
    };
    match rt.block_on(portdoctor_probe::probe(&job, &cfg)) {
        Ok(r) => (crate::gather::probe_outcome(&r), r.latency_ms),
        Err(e) => (ProbeOutcome::Error(e.to_string()), None),
    }
}
