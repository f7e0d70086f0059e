//! Which addresses to ask about: the ones the service really listens on, and the one the peer
//! connects to.

use portdoctor_diagnose::LocalAddress;
use portdoctor_firewall::viewpoint::{self, LocalAddr};
use portdoctor_sockets::{Family, Socket, query};
use std::net::IpAddr;

/// The addresses to evaluate and probe.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Addresses of this machine that "anyone else" would connect to and that a listener
    /// accepts (all reachable addresses when nothing listens).
    pub outside: Vec<LocalAddress>,
    /// The peer and the local address it connects to.
    pub peer: Option<(IpAddr, LocalAddress)>,
    /// Where the health check goes.
    pub health: IpAddr,
    /// The listening program's image path (or name), for firewalls that filter by program.
    pub program: Option<String>,
}

/// The addresses that a stranger could connect to: non-loopback, not IPv6 link-local.
pub fn reachable_addresses(addresses: &Result<Vec<LocalAddress>, String>) -> Vec<&LocalAddress> {
    addresses
        .as_ref()
        .map(|a| {
            a.iter()
                .filter(|a| !a.addr.is_loopback() && !is_link_local(a.addr))
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

/// Whether listener `s` accepts connections to `dst`.
fn accepts(s: &Socket, dst: IpAddr) -> bool {
    let family = match dst {
        IpAddr::V4(_) => {
            s.family == Family::Ipv4 || (s.local_addr.is_unspecified() && s.v6only != Some(true))
        }
        IpAddr::V6(_) => s.family == Family::Ipv6,
    };
    family && (s.local_addr.is_unspecified() || s.local_addr == dst)
}

/// Works out the targets from the addresses, the listeners on the port, the peer and `--to`.
pub fn targets(
    addresses: &Result<Vec<LocalAddress>, String>,
    sockets: Option<&[Socket]>,
    port: u16,
    peer: Option<IpAddr>,
    to: Option<IpAddr>,
) -> Targets {
    let reachable = reachable_addresses(addresses);
    let listeners: Vec<&Socket> = sockets
        .unwrap_or_default()
        .iter()
        .filter(|s| s.local_port == port && query::is_listener(s))
        .collect();
    let mut outside: Vec<LocalAddress> = reachable
        .iter()
        .filter(|a| listeners.is_empty() || listeners.iter().any(|s| accepts(s, a.addr)))
        .map(|a| (*a).clone())
        .collect();
    outside.truncate(8);
    let all: Vec<LocalAddr> = addresses
        .as_ref()
        .map(|v| {
            v.iter()
                .map(|a| LocalAddr {
                    iface: a.iface.clone(),
                    addr: a.addr,
                })
                .collect()
        })
        .unwrap_or_default();
    let peer = peer.and_then(|p| {
        let dst = match to {
            Some(t) => all
                .iter()
                .find(|a| a.addr == t)
                .cloned()
                .or(Some(LocalAddr {
                    iface: String::new(),
                    addr: t,
                })),
            None => viewpoint::address_for(p, &all).cloned(),
        }?;
        Some((
            p,
            LocalAddress {
                iface: dst.iface,
                addr: dst.addr,
            },
        ))
    });
    let program = listeners
        .iter()
        .flat_map(|s| s.owners.first())
        .map(|p| p.cmdline.first().cloned().unwrap_or_else(|| p.name.clone()))
        .next();
    Targets {
        outside,
        peer,
        health: health_address(&listeners),
        program,
    }
}

/// Loopback when a listener takes it (wildcard or loopback), else the first listening address.
fn health_address(listeners: &[&Socket]) -> IpAddr {
    let v4_loop = IpAddr::from([127, 0, 0, 1]);
    let v6_loop: IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
    if listeners.is_empty() || listeners.iter().any(|s| accepts(s, v4_loop)) {
        return v4_loop;
    }
    if listeners.iter().any(|s| accepts(s, v6_loop)) {
        return v6_loop;
    }
    listeners[0].local_addr
}
