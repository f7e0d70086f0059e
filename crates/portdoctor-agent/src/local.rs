//! This machine's side: the ports it listens on (with the program), TCP state counts per
//! listening port, and the local firewall's verdict for "anyone else" reaching each of them,
//! with the rule that decides. Read every `local_refresh_seconds`, never per scrape.

use portdoctor_firewall::collect::CommandRunner;
use portdoctor_firewall::host::Host;
use portdoctor_firewall::{Decision, Packet, Proto as FwProto, RuleRef};
use portdoctor_sockets::{Proto, SnapshotOptions, Socket, SocketState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A port this machine listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    /// TCP port.
    pub port: u16,
    /// Bound address (`0.0.0.0`, `::` for any).
    pub address: IpAddr,
    /// The owning program, when known.
    pub program: String,
}

/// The firewall's verdict for a stranger reaching one of our addresses and ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallVerdict {
    /// TCP port.
    pub port: u16,
    /// The local address the stranger connects to.
    pub address: IpAddr,
    /// Who connects: `anyone` (a stranger) or a peer agent's address.
    pub from: String,
    /// `accept`, `drop`, `reject`, `unknown`.
    pub verdict: String,
    /// The deciding rule (`nftables inet filter input handle 4`), or `none`.
    pub rule: String,
}

/// Everything read about this machine at one time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalView {
    /// This machine's interface addresses (without loopback).
    pub addresses: Vec<IpAddr>,
    /// Listening TCP sockets.
    pub listening: Vec<Listening>,
    /// TCP sockets per (listening port, state).
    pub tcp_states: BTreeMap<u16, BTreeMap<String, u64>>,
    /// Firewall verdicts, one per listening port and local address.
    pub firewall: Vec<FirewallVerdict>,
    /// Why the firewall or the sockets could not be read, when they could not.
    pub problems: Vec<String>,
}

/// Reads sockets, addresses and the live firewall (blocking; run off the async threads);
/// firewall verdicts are for anyone else and for each of `peers` (other agents' addresses).
pub fn read(peers: &[IpAddr]) -> LocalView {
    let mut view = LocalView {
        addresses: interface_addresses(),
        ..LocalView::default()
    };
    let opts = SnapshotOptions {
        tcp: true,
        udp: false,
        owners: true,
    };
    match portdoctor_sockets::snapshot(&opts) {
        Ok(snap) => {
            view.listening = listening(&snap.sockets);
            view.tcp_states = tcp_states(&snap.sockets, &view.listening);
        }
        Err(e) => view.problems.push(format!("sockets: {e}")),
    }
    match Host::read_live(&CommandRunner::default()) {
        Ok(host) => view.firewall = verdicts(&host, &view, peers),
        Err(e) => view.problems.push(format!("firewall: {e}")),
    }
    view
}

fn interface_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && !is_link_local(ip))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn listening(sockets: &[Socket]) -> Vec<Listening> {
    let mut out: Vec<Listening> = sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == SocketState::Listen)
        .map(|s| Listening {
            port: s.local_port,
            address: s.local_addr,
            program: s
                .owners
                .first()
                .map_or_else(|| "unknown".to_string(), |p| p.name.clone()),
        })
        .collect();
    out.sort_by_key(|l| (l.port, l.address));
    out.dedup();
    out
}

/// Counts only for listening ports: ephemeral ports would make the label set unbounded.
fn tcp_states(sockets: &[Socket], listening: &[Listening]) -> BTreeMap<u16, BTreeMap<String, u64>> {
    let mut out: BTreeMap<u16, BTreeMap<String, u64>> = BTreeMap::new();
    for s in sockets.iter().filter(|s| s.proto == Proto::Tcp) {
        if listening.iter().any(|l| l.port == s.local_port) {
            *out.entry(s.local_port)
                .or_default()
                .entry(s.state.to_string())
                .or_default() += 1;
        }
    }
    out
}

/// "Anyone else" on each address a listening port is reachable at (as `explain` and
/// `diagnose` ask it: the stranger source the routing table implies for that interface).
fn verdicts(host: &Host, view: &LocalView, peers: &[IpAddr]) -> Vec<FirewallVerdict> {
    let ifaces = if_addrs::get_if_addrs().unwrap_or_default();
    let mut out = vec![];
    for l in &view.listening {
        for i in ifaces.iter().filter(|i| reachable_at(l.address, i.ip())) {
            let addr = i.ip();
            let stranger = (host.stranger(addr, &i.name), "anyone".to_string());
            let peers = peers
                .iter()
                .filter(|p| p.is_ipv4() == addr.is_ipv4())
                .map(|p| (*p, p.to_string()));
            for (src, from) in std::iter::once(stranger).chain(peers) {
                let mut packet = Packet::new(FwProto::Tcp, src, addr, l.port);
                packet.iif = Some(i.name.clone());
                packet.assume_fresh_source = true;
                let (e, _) = host.explain(&packet);
                out.push(FirewallVerdict {
                    port: l.port,
                    address: addr,
                    from,
                    verdict: decision_label(&e.overall.decision),
                    rule: e.overall.decided_by.as_ref().map_or("none".into(), rule_id),
                });
            }
        }
    }
    out.dedup();
    out
}

/// Whether a socket bound to `bound` accepts connections to the interface address `addr`
/// from elsewhere (loopback and link-local are not "elsewhere").
fn reachable_at(bound: IpAddr, addr: IpAddr) -> bool {
    if addr.is_loopback() || is_link_local(&addr) {
        return false;
    }
    bound == addr
        || (bound.is_unspecified() && bound.is_ipv4() == addr.is_ipv4())
        || bound == IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
}

fn decision_label(d: &Decision) -> String {
    match d {
        Decision::Accept => "accept",
        Decision::Drop => "drop",
        Decision::Reject(_) => "reject",
        Decision::Unknown(_) => "unknown",
    }
    .to_string()
}

/// A rule's identity: backend, family, table, chain, and the handle (or position).
pub fn rule_id(r: &RuleRef) -> String {
    let at = match (r.is_policy, r.handle) {
        (true, _) => "policy".to_string(),
        (false, Some(h)) => format!("handle {h}"),
        (false, None) => format!("rule {}", r.position),
    };
    format!(
        "{} {} {} {} {at}",
        r.backend.label(),
        r.family.as_str(),
        r.table,
        r.chain
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_reachable_on_every_address_of_their_family() {
        let any4: IpAddr = "0.0.0.0".parse().unwrap();
        let any6: IpAddr = "::".parse().unwrap();
        let a4: IpAddr = "198.18.0.1".parse().unwrap();
        let a6: IpAddr = "2001:2::1".parse().unwrap();
        assert!(reachable_at(any4, a4) && !reachable_at(any4, a6));
        assert!(reachable_at(any6, a4) && reachable_at(any6, a6));
        assert!(!reachable_at("127.0.0.1".parse().unwrap(), a4));
    }
}
