//! Where NAT sends the port, and who listens there: the translated addresses and ports of
//! every verdict, looked up in this network namespace (a DNAT to a local address) and in the
//! other namespaces of the machine (containers, pods). Also asked when nothing listens on the
//! port here, to say where it does.

use super::Request;
use portdoctor_diagnose::{FirewallEvidence, LocalAddress, NamespaceSockets, Part};
use portdoctor_sockets::{SnapshotOptions, Socket, query};
use std::net::IpAddr;

/// The places a DNAT sends the port, from every viewpoint's verdict and endpoints.
pub fn delivered(fw: &Part<Vec<FirewallEvidence>>) -> Vec<(IpAddr, u16)> {
    let mut out: Vec<(IpAddr, u16)> = vec![];
    for v in fw.get().into_iter().flatten().flat_map(|f| &f.verdicts) {
        let d = &v.overall;
        let all = d
            .delivery
            .iter()
            .chain(d.endpoints.iter().filter_map(|e| e.delivery.as_ref()));
        for x in all {
            if let Some(p) = x.port {
                if !out.contains(&(x.addr, p)) {
                    out.push((x.addr, p));
                }
            }
        }
    }
    out
}

/// The namespaces that hold the translated addresses, or listen on the port when nothing
/// does here; `None` when there is nothing to look for.
pub(super) fn gather(
    req: &Request<'_>,
    fw: &Part<Vec<FirewallEvidence>>,
    on_port: &Part<Vec<Socket>>,
    all: &Part<Vec<Socket>>,
    addresses: &Result<Vec<LocalAddress>, String>,
) -> Option<Part<Vec<NamespaceSockets>>> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let targets = delivered(fw);
    let nothing_here = on_port
        .get()
        .is_some_and(|s| !s.iter().any(query::is_listener));
    if targets.is_empty() && !nothing_here {
        return None;
    }
    let mut ports: Vec<u16> = targets.iter().map(|(_, p)| *p).collect();
    if nothing_here {
        ports.push(req.port);
    }
    ports.sort_unstable();
    ports.dedup();
    let ours: Vec<IpAddr> = addresses
        .as_ref()
        .map(|a| a.iter().map(|x| x.addr).collect())
        .unwrap_or_default();
    let mut out = vec![];
    if targets.iter().any(|(a, _)| ours.contains(a)) {
        out.push(this_namespace(&ours, all, &ports));
    }
    let opts = SnapshotOptions {
        tcp: req.proto == portdoctor_sockets::Proto::Tcp,
        udp: req.proto == portdoctor_sockets::Proto::Udp,
        owners: true,
    };
    let wanted = |n: &NamespaceSockets| {
        targets.iter().any(|(a, _)| n.has_address(*a))
            || (nothing_here
                && n.sockets
                    .iter()
                    .any(|s| s.local_port == req.port && query::is_listener(s)))
    };
    let others: Vec<NamespaceSockets> = portdoctor_sockets::other_namespaces(&ports, &opts)
        .into_iter()
        .filter(wanted)
        .collect();
    if others.is_empty() && !is_root() {
        let why =
            "the other network namespaces (containers) were not read: entering them needs root";
        return Some(if out.is_empty() {
            Part::missing(why)
        } else {
            Part::present(out)
        });
    }
    out.extend(others);
    Some(Part::present(out))
}

/// This namespace as one of the places: its addresses and sockets on the ports.
fn this_namespace(ours: &[IpAddr], all: &Part<Vec<Socket>>, ports: &[u16]) -> NamespaceSockets {
    NamespaceSockets {
        id: "this network namespace".into(),
        path: String::new(),
        pids: vec![],
        addresses: ours.to_vec(),
        sockets: all
            .get()
            .into_iter()
            .flatten()
            .filter(|s| ports.contains(&s.local_port))
            .cloned()
            .collect(),
        containers: vec![],
        problem: None,
    }
}

/// Whether this process runs as root (its real uid, from /proc).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
