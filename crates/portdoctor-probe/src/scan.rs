//! Turning targets into jobs: resolution, CIDR expansion, ports × hosts.

use std::net::SocketAddr;

use crate::engine::Job;
use crate::error::ProbeError;
use crate::spec::PortSet;
use crate::target::{Endpoint, Host, Proto, ScanTarget, range_addrs, resolve};

/// Jobs for a scan of `target` on `ports`: for a name, its first resolved address; for a
/// range, every address. Ordered port-major so the load spreads over the hosts of a range.
pub async fn plan_scan(
    target: &ScanTarget,
    ports: &PortSet,
    proto: Proto,
) -> Result<Vec<Job>, ProbeError> {
    let hosts: Vec<(String, std::net::IpAddr)> = match target {
        ScanTarget::Host(h) => {
            let ip = resolve(h).await?[0];
            vec![(host_label(h), ip)]
        }
        ScanTarget::Range(base, prefix) => range_addrs(*base, *prefix)
            .into_iter()
            .map(|ip| (ip.to_string(), ip))
            .collect(),
    };
    let mut jobs = Vec::with_capacity(hosts.len() * ports.len());
    for port in ports.iter() {
        for (label, ip) in &hosts {
            jobs.push(Job {
                host: label.clone(),
                addr: SocketAddr::new(*ip, port),
                proto,
            });
        }
    }
    Ok(jobs)
}

/// Jobs for explicit endpoints (`probe HOST:PORT ...`): each name resolved once, to its
/// first address in the resolver's order.
pub async fn plan_endpoints(endpoints: &[Endpoint]) -> Result<Vec<Job>, ProbeError> {
    let mut jobs = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        let ip = resolve(&e.host).await?[0];
        jobs.push(Job {
            host: host_label(&e.host),
            addr: SocketAddr::new(ip, e.port),
            proto: e.proto,
        });
    }
    Ok(jobs)
}

/// Jobs for explicit endpoints, one per resolved address (a name with both A and AAAA
/// records gets both probed): the outer vector follows `endpoints`.
pub async fn plan_endpoints_all(endpoints: &[Endpoint]) -> Result<Vec<Vec<Job>>, ProbeError> {
    let mut out = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        let jobs = resolve(&e.host)
            .await?
            .into_iter()
            .map(|ip| Job {
                host: host_label(&e.host),
                addr: SocketAddr::new(ip, e.port),
                proto: e.proto,
            })
            .collect();
        out.push(jobs);
    }
    Ok(out)
}

fn host_label(h: &Host) -> String {
    match h {
        Host::Addr(a) => a.to_string(),
        Host::Name(n) => n.clone(),
    }
}
