//! Filtering a snapshot and summarising it per port: listeners, state counts, conflicts.
//!
//! Platform-free: everything here works on [`Snapshot`]s from any backend.

use crate::model::{Proto, Snapshot, Socket, SocketState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Which sockets the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only sockets whose local or remote port is this.
    pub port: Option<u16>,
    /// Only sockets held by this process id.
    pub pid: Option<u32>,
    /// Only sockets held by a process whose name contains this (case-insensitive).
    pub process: Option<String>,
    /// Only sockets in one of these states (empty: no state filter).
    pub states: Vec<SocketState>,
    /// Every socket, not only listeners.
    pub all: bool,
}

impl Filter {
    /// True when the socket is one the user asked to see.
    pub fn matches(&self, socket: &Socket) -> bool {
        if let Some(port) = self.port
            && socket.local_port != port
            && socket.remote_port != Some(port)
        {
            return false;
        }
        if let Some(pid) = self.pid
            && !socket.owners.iter().any(|p| p.pid == pid)
        {
            return false;
        }
        if let Some(name) = &self.process {
            let needle = name.to_lowercase();
            if !socket
                .owners
                .iter()
                .any(|p| p.name.to_lowercase().contains(&needle))
            {
                return false;
            }
        }
        if !self.states.is_empty() {
            return self.states.contains(&socket.state);
        }
        self.all || is_listener(socket)
    }
}

/// True for sockets that accept traffic: TCP listeners and unconnected bound UDP sockets.
pub fn is_listener(socket: &Socket) -> bool {
    match socket.proto {
        Proto::Tcp => socket.state == SocketState::Listen,
        Proto::Udp => socket.state == SocketState::Unconn,
    }
}

/// Connection-state counts for one local port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStateCounts {
    /// Protocol (always tcp today: UDP has no connection states).
    pub proto: Option<Proto>,
    /// Local port.
    pub port: u16,
    /// Established connections.
    pub established: usize,
    /// TIME_WAIT sockets (closed by this side; harmless in moderation).
    pub time_wait: usize,
    /// CLOSE_WAIT sockets (the peer closed; the application has not: a leak when many).
    pub close_wait: usize,
    /// Half-open handshakes (SYN_RECV).
    pub syn_recv: usize,
}

/// Several processes bound to one port with overlapping addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Protocol.
    pub proto: Proto,
    /// The contested port.
    pub port: u16,
    /// What kind of overlap it is.
    pub kind: ConflictKind,
    /// The bindings involved: address and owning process ids.
    pub bindings: Vec<Binding>,
}

/// One side of a [`Conflict`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Bound address.
    pub addr: IpAddr,
    /// Owning process ids.
    pub pids: Vec<u32>,
    /// Owning process names.
    pub names: Vec<String>,
}

/// How bindings of different processes on one port overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// Same address: an SO_REUSEPORT group shared by different programs; the kernel spreads
    /// connections among them.
    SameAddress,
    /// A wildcard and a specific address of the same family: the specific one wins for its
    /// address, the wildcard takes the rest.
    WildcardOverlap,
    /// IPv4 and IPv6 served by different programs (e.g. `0.0.0.0:P` and a v6only `[::]:P`):
    /// which program answers depends on the client's address family.
    SplitByFamily,
}

/// The `ports` view: selected sockets, per-port state counts and conflicts.
#[derive(Debug, Clone, Serialize)]
pub struct PortReport<'a> {
    /// Selected sockets, sorted by protocol, port, address.
    pub sockets: Vec<&'a Socket>,
    /// TCP state counts for the ports of the selected listeners (and the requested port).
    pub port_states: Vec<PortStateCounts>,
    /// Ports held by more than one program.
    pub conflicts: Vec<Conflict>,
}

/// Applies `filter` and summarises.
pub fn report<'a>(snapshot: &'a Snapshot, filter: &Filter) -> PortReport<'a> {
    let mut sockets: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| filter.matches(s))
        .collect();
    sockets.sort_unstable_by(|a, b| {
        (
            a.proto,
            a.local_port,
            a.local_addr,
            a.remote_addr,
            a.remote_port,
        )
            .cmp(&(
                b.proto,
                b.local_port,
                b.local_addr,
                b.remote_addr,
                b.remote_port,
            ))
    });
    let mut ports: Vec<u16> = sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && is_listener(s))
        .map(|s| s.local_port)
        .chain(filter.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let port_states = state_counts(snapshot, &ports);
    let conflicts = conflicts(&snapshot.sockets, filter.port);
    PortReport {
        sockets,
        port_states,
        conflicts,
    }
}

/// Counts TCP states per local port, for the given ports (all ports with connections when
/// `ports` is empty is not done: callers name the ports).
pub fn state_counts(snapshot: &Snapshot, ports: &[u16]) -> Vec<PortStateCounts> {
    let mut counts: BTreeMap<u16, PortStateCounts> = ports
        .iter()
        .map(|&port| {
            let c = PortStateCounts {
                proto: Some(Proto::Tcp),
                port,
                ..Default::default()
            };
            (port, c)
        })
        .collect();
    for s in snapshot.sockets.iter().filter(|s| s.proto == Proto::Tcp) {
        let Some(c) = counts.get_mut(&s.local_port) else {
            continue;
        };
        match s.state {
            SocketState::Established => c.established += 1,
            SocketState::TimeWait => c.time_wait += 1,
            SocketState::CloseWait => c.close_wait += 1,
            SocketState::SynRecv => c.syn_recv += 1,
            _ => {}
        }
    }
    counts.into_values().collect()
}

/// Finds ports where listeners of *different* known processes overlap.
///
/// Sockets whose owners are unknown are left out: without root, one program's IPv4 and
/// IPv6 listeners would otherwise look like two programs.
pub fn conflicts<'a>(
    sockets: impl IntoIterator<Item = &'a Socket>,
    only_port: Option<u16>,
) -> Vec<Conflict> {
    let mut by_port: BTreeMap<(Proto, u16), Vec<&Socket>> = BTreeMap::new();
    for s in sockets
        .into_iter()
        .filter(|s| is_listener(s) && !s.owners.is_empty())
    {
        if only_port.is_some_and(|p| p != s.local_port) {
            continue;
        }
        by_port.entry((s.proto, s.local_port)).or_default().push(s);
    }
    let mut found = Vec::new();
    for ((proto, port), group) in by_port {
        let mut kind: Option<ConflictKind> = None;
        let mut involved: Vec<&Socket> = Vec::new();
        for (i, a) in group.iter().enumerate() {
            for b in &group[i + 1..] {
                if share_owner(a, b) {
                    continue;
                }
                let Some(k) = overlap(a, b) else { continue };
                kind = Some(kind.map_or(k, |old| strongest(old, k)));
                for s in [*a, *b] {
                    if !involved.iter().any(|x| std::ptr::eq(*x, s)) {
                        involved.push(s);
                    }
                }
            }
        }
        if let Some(kind) = kind {
            found.push(Conflict {
                proto,
                port,
                kind,
                bindings: involved
                    .into_iter()
                    .map(|s| Binding {
                        addr: s.local_addr,
                        pids: s.pids(),
                        names: s.owners.iter().map(|p| p.name.clone()).collect(),
                    })
                    .collect(),
            });
        }
    }
    found
}

fn share_owner(a: &Socket, b: &Socket) -> bool {
    a.owners
        .iter()
        .any(|p| b.owners.iter().any(|q| q.pid == p.pid))
}

fn strongest(a: ConflictKind, b: ConflictKind) -> ConflictKind {
    use ConflictKind::*;
    match (a, b) {
        (SameAddress, _) | (_, SameAddress) => SameAddress,
        (WildcardOverlap, _) | (_, WildcardOverlap) => WildcardOverlap,
        _ => SplitByFamily,
    }
}

/// How two listeners' addresses overlap, if they do.
fn overlap(a: &Socket, b: &Socket) -> Option<ConflictKind> {
    use IpAddr::*;
    match (a.local_addr, b.local_addr) {
        (x, y) if x == y => Some(ConflictKind::SameAddress),
        (V4(x), V4(y)) if x.is_unspecified() || y.is_unspecified() => {
            Some(ConflictKind::WildcardOverlap)
        }
        (V6(x), V6(y)) if x.is_unspecified() || y.is_unspecified() => {
            Some(ConflictKind::WildcardOverlap)
        }
        // v4 and v6 wildcards coexist only when the v6 one is v6only (or with SO_REUSEPORT):
        // either way the two families reach different programs.
        (V4(_), V6(v6)) | (V6(v6), V4(_)) if v6.is_unspecified() => {
            Some(ConflictKind::SplitByFamily)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Process, Source};

    fn sock(addr: &str, port: u16, state: SocketState, pid: Option<u32>) -> Socket {
        let local_addr: IpAddr = addr.parse().unwrap();
        Socket {
            proto: Proto::Tcp,
            family: if local_addr.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            },
            local_addr,
            local_port: port,
            remote_addr: None,
            remote_port: None,
            state,
            v6only: local_addr.is_ipv6().then_some(true),
            bound_interface: None,
            uid: Some(0),
            user: None,
            inode: None,
            owners: pid
                .map(|pid| Process {
                    pid,
                    name: format!("p{pid}"),
                    cmdline: vec![],
                    uid: None,
                    user: None,
                })
                .into_iter()
                .collect(),
            owner_unknown: None,
        }
    }

    fn snap(sockets: Vec<Socket>) -> Snapshot {
        Snapshot {
            source: Source::Netlink,
            notes: vec![],
            sockets,
        }
    }

    #[test]
    fn default_filter_shows_listeners_and_counts_states() {
        let s = snap(vec![
            sock("127.0.0.1", 8080, SocketState::Listen, Some(1)),
            sock("127.0.0.1", 8080, SocketState::TimeWait, None),
            sock("127.0.0.1", 8080, SocketState::TimeWait, None),
            sock("127.0.0.1", 8080, SocketState::CloseWait, Some(1)),
            sock("127.0.0.1", 9090, SocketState::TimeWait, None),
        ]);
        let r = report(&s, &Filter::default());
        assert_eq!(r.sockets.len(), 1);
        assert_eq!(r.port_states.len(), 1);
        assert_eq!(r.port_states[0].time_wait, 2);
        assert_eq!(r.port_states[0].close_wait, 1);
    }

    #[test]
    fn filters_by_port_pid_state_and_name() {
        let s = snap(vec![
            sock("0.0.0.0", 22, SocketState::Listen, Some(7)),
            sock("0.0.0.0", 80, SocketState::Listen, Some(8)),
            sock("10.0.0.1", 80, SocketState::Established, Some(8)),
        ]);
        let by_port = Filter {
            port: Some(80),
            all: true,
            ..Default::default()
        };
        assert_eq!(report(&s, &by_port).sockets.len(), 2);
        let by_pid = Filter {
            pid: Some(7),
            ..Default::default()
        };
        assert_eq!(report(&s, &by_pid).sockets[0].local_port, 22);
        let by_state = Filter {
            states: vec![SocketState::Established],
            ..Default::default()
        };
        assert_eq!(report(&s, &by_state).sockets.len(), 1);
        let by_name = Filter {
            process: Some("P8".into()),
            all: true,
            ..Default::default()
        };
        assert_eq!(report(&s, &by_name).sockets.len(), 2);
    }

    #[test]
    fn conflicts_need_different_known_owners() {
        let same_prog = vec![
            sock("0.0.0.0", 80, SocketState::Listen, Some(1)),
            sock("::", 80, SocketState::Listen, Some(1)),
        ];
        assert!(conflicts(&same_prog, None).is_empty());
        let split = vec![
            sock("0.0.0.0", 80, SocketState::Listen, Some(1)),
            sock("::", 80, SocketState::Listen, Some(2)),
        ];
        assert_eq!(conflicts(&split, None)[0].kind, ConflictKind::SplitByFamily);
        let wild = vec![
            sock("0.0.0.0", 80, SocketState::Listen, Some(1)),
            sock("127.0.0.1", 80, SocketState::Listen, Some(2)),
        ];
        assert_eq!(
            conflicts(&wild, None)[0].kind,
            ConflictKind::WildcardOverlap
        );
        let unknown = vec![
            sock("0.0.0.0", 80, SocketState::Listen, Some(1)),
            sock("0.0.0.0", 80, SocketState::Listen, None),
        ];
        assert!(conflicts(&unknown, None).is_empty());
        let disjoint = vec![
            sock("127.0.0.1", 80, SocketState::Listen, Some(1)),
            sock("127.0.0.2", 80, SocketState::Listen, Some(2)),
        ];
        assert!(conflicts(&disjoint, None).is_empty());
    }
}
