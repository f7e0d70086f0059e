//! The platform-neutral socket table: what every backend produces.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4 (AF_INET).
    Ipv4,
    /// IPv6 (AF_INET6).
    Ipv6,
}

/// Socket state, with TCP's states and UDP's "unconnected".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocketState {
    /// TCP: accepting connections.
    Listen,
    /// TCP: connected, or UDP: `connect()`ed.
    Established,
    /// TCP: SYN sent, awaiting the peer's answer.
    SynSent,
    /// TCP: SYN received, handshake not complete.
    SynRecv,
    /// TCP: we closed; waiting for the peer's FIN-ACK.
    FinWait1,
    /// TCP: we closed and the peer acknowledged; waiting for its FIN.
    FinWait2,
    /// TCP: closed, lingering to absorb late segments (2×MSL).
    TimeWait,
    /// TCP: the peer closed; the local application has not closed yet.
    CloseWait,
    /// TCP: both closed, waiting for the last ACK.
    LastAck,
    /// TCP: both sides closed simultaneously.
    Closing,
    /// TCP: closed.
    Close,
    /// UDP: bound and not connected (what `ss` calls UNCONN).
    Unconn,
    /// A state number this program does not know.
    Unknown,
}

impl SocketState {
    /// All states, in the order `--state` help lists them.
    pub const ALL: [SocketState; 12] = [
        SocketState::Listen,
        SocketState::Established,
        SocketState::SynSent,
        SocketState::SynRecv,
        SocketState::FinWait1,
        SocketState::FinWait2,
        SocketState::TimeWait,
        SocketState::CloseWait,
        SocketState::LastAck,
        SocketState::Closing,
        SocketState::Close,
        SocketState::Unconn,
    ];

    /// The kebab-case name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            SocketState::Listen => "listen",
            SocketState::Established => "established",
            SocketState::SynSent => "syn-sent",
            SocketState::SynRecv => "syn-recv",
            SocketState::FinWait1 => "fin-wait-1",
            SocketState::FinWait2 => "fin-wait-2",
            SocketState::TimeWait => "time-wait",
            SocketState::CloseWait => "close-wait",
            SocketState::LastAck => "last-ack",
            SocketState::Closing => "closing",
            SocketState::Close => "close",
            SocketState::Unconn => "unconn",
            SocketState::Unknown => "unknown",
        }
    }

    /// Parses a state name; accepts `ss`/`netstat` spellings (`TIME_WAIT`, `LISTENING`, …).
    pub fn parse(text: &str) -> Option<SocketState> {
        let norm = text.trim().to_ascii_lowercase().replace('_', "-");
        let norm = match norm.as_str() {
            "listening" => "listen",
            "estab" => "established",
            "unconnected" => "unconn",
            "closed" => "close",
            "fin-wait1" => "fin-wait-1",
            "fin-wait2" => "fin-wait-2",
            other => other,
        };
        SocketState::ALL.into_iter().find(|s| s.name() == norm)
    }

    /// Maps the Linux kernel's TCP state number (`include/net/tcp_states.h`).
    pub fn from_linux(proto: Proto, state: u8) -> SocketState {
        match (proto, state) {
            (Proto::Udp, 7) => SocketState::Unconn,
            (_, 1) => SocketState::Established,
            (_, 2) => SocketState::SynSent,
            (_, 3) => SocketState::SynRecv,
            (_, 4) => SocketState::FinWait1,
            (_, 5) => SocketState::FinWait2,
            (_, 6) => SocketState::TimeWait,
            (_, 7) => SocketState::Close,
            (_, 8) => SocketState::CloseWait,
            (_, 9) => SocketState::LastAck,
            (_, 10) => SocketState::Listen,
            (_, 11) => SocketState::Closing,
            (_, 12) => SocketState::SynRecv, // TCP_NEW_SYN_RECV: a request socket
            _ => SocketState::Unknown,
        }
    }
}

impl std::fmt::Display for SocketState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A process that holds a socket open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Short name (`comm` on Linux, the image name on Windows).
    pub name: String,
    /// Command line, one element per argument; empty when it cannot be read.
    pub cmdline: Vec<String>,
    /// Real user id, when known.
    pub uid: Option<u32>,
    /// User name, when known.
    pub user: Option<String>,
}

/// One socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    /// tcp or udp.
    pub proto: Proto,
    /// ipv4 or ipv6.
    pub family: Family,
    /// Local (bound) address; `0.0.0.0` / `::` for a wildcard bind.
    pub local_addr: IpAddr,
    /// Local port.
    pub local_port: u16,
    /// Remote address, for connected sockets.
    pub remote_addr: Option<IpAddr>,
    /// Remote port, for connected sockets.
    pub remote_port: Option<u16>,
    /// State.
    pub state: SocketState,
    /// For IPv6 sockets: whether IPV6_V6ONLY is set (true: IPv4 clients cannot connect).
    /// `None` for IPv4 sockets or when the backend cannot tell.
    pub v6only: Option<bool>,
    /// The interface the socket is bound to (SO_BINDTODEVICE), if any.
    pub bound_interface: Option<u32>,
    /// Owner user id as the kernel records it, when known.
    pub uid: Option<u32>,
    /// The name of `uid`, when known.
    pub user: Option<String>,
    /// Kernel inode (Linux), used to find owners.
    pub inode: Option<u64>,
    /// Processes holding the socket; empty when unknown (see `owner_unknown`).
    pub owners: Vec<Process>,
    /// Why the owners are not listed, when they are not (e.g. "needs root").
    pub owner_unknown: Option<String>,
}

impl Socket {
    /// True for a wildcard bind (`0.0.0.0` or `::`).
    pub fn is_wildcard(&self) -> bool {
        self.local_addr.is_unspecified()
    }

    /// Who can reach this socket, judged from its bind address alone.
    pub fn reach(&self) -> Reach {
        match self.local_addr {
            a if a.is_loopback() => Reach::LoopbackOnly,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()) => {
                Reach::LoopbackOnly
            }
            IpAddr::V4(a) if a.is_unspecified() => Reach::AllIpv4,
            IpAddr::V6(a) if a.is_unspecified() => match self.v6only {
                Some(true) => Reach::AllIpv6Only,
                Some(false) => Reach::AllDualStack,
                None => Reach::AllIpv6,
            },
            _ => Reach::OneAddress,
        }
    }

    /// The processes' ids, in order.
    pub fn pids(&self) -> Vec<u32> {
        self.owners.iter().map(|p| p.pid).collect()
    }
}

/// Who can reach a socket, judged from its bind address (firewalls aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// Bound to 127.0.0.0/8 or ::1: only this machine can connect.
    LoopbackOnly,
    /// Bound to 0.0.0.0: every IPv4 address of the machine; no IPv6 clients.
    AllIpv4,
    /// Bound to `::` with IPV6_V6ONLY: every IPv6 address; IPv4 clients cannot connect.
    AllIpv6Only,
    /// Bound to `::` without IPV6_V6ONLY: IPv4 and IPv6 clients.
    AllDualStack,
    /// Bound to `::`, v6only unknown.
    AllIpv6,
    /// Bound to one specific, non-loopback address.
    OneAddress,
}

impl Reach {
    /// Short human label.
    pub fn label(self) -> &'static str {
        match self {
            Reach::LoopbackOnly => "loopback only",
            Reach::AllIpv4 => "all IPv4",
            Reach::AllIpv6Only => "all IPv6 (v6only)",
            Reach::AllDualStack => "all IPv4+IPv6",
            Reach::AllIpv6 => "all IPv6",
            Reach::OneAddress => "one address",
        }
    }
}

/// How the socket table was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Linux NETLINK_SOCK_DIAG.
    Netlink,
    /// Linux /proc/net/{tcp,tcp6,udp,udp6} text (fallback).
    ProcNet,
    /// Windows GetExtendedTcpTable / GetExtendedUdpTable.
    IpHelper,
    /// macOS libproc.
    Libproc,
}

/// A whole socket table, with how it was read and what could not be seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The backend that produced the table.
    pub source: Source,
    /// Things the user should know about this reading (fallbacks, missing privileges).
    pub notes: Vec<String>,
    /// The sockets.
    pub sockets: Vec<Socket>,
}

/// What a snapshot should contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// Include TCP sockets.
    pub tcp: bool,
    /// Include UDP sockets.
    pub udp: bool,
    /// Find owning processes (costs a walk over every process's descriptors).
    pub owners: bool,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            tcp: true,
            udp: true,
            owners: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip_and_accept_foreign_spellings() {
        for s in SocketState::ALL {
            assert_eq!(SocketState::parse(s.name()), Some(s));
        }
        assert_eq!(SocketState::parse("TIME_WAIT"), Some(SocketState::TimeWait));
        assert_eq!(SocketState::parse("LISTENING"), Some(SocketState::Listen));
        assert_eq!(SocketState::parse("ESTAB"), Some(SocketState::Established));
        assert_eq!(SocketState::parse("bogus"), None);
    }

    #[test]
    fn linux_state_numbers() {
        assert_eq!(SocketState::from_linux(Proto::Tcp, 10), SocketState::Listen);
        assert_eq!(SocketState::from_linux(Proto::Udp, 7), SocketState::Unconn);
        assert_eq!(SocketState::from_linux(Proto::Tcp, 7), SocketState::Close);
        assert_eq!(
            SocketState::from_linux(Proto::Tcp, 99),
            SocketState::Unknown
        );
    }
}
