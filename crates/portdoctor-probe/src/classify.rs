//! What a probe's outcome means: the mapping from kernel errors (errno, plus the ICMP error
//! itself where the platform hands it over) to a port state. Platform-free.
//!
//! Measured on Linux 6.x for a TCP SYN answered by nftables (`ip netns` lab; see the crate
//! README): RST → `ECONNREFUSED` (no ICMP queued); ICMP port-unreachable → `ECONNREFUSED`;
//! host-unreachable, host-prohibited, admin-prohibited (v4) → `EHOSTUNREACH`;
//! net-unreachable, net-prohibited, ICMPv6 no-route → `ENETUNREACH`;
//! protocol-unreachable → `ENOPROTOOPT`; ICMPv6 admin-prohibited, policy-fail,
//! reject-route → `EACCES`; ICMPv6 address-unreachable → `EHOSTUNREACH`;
//! ICMPv6 port-unreachable → `ECONNREFUSED`; no local route → `ENETUNREACH` at once from
//! `connect()`. The errno alone is therefore ambiguous; the ICMP type/code from the error
//! queue is not.

use serde::Serialize;

use crate::icmp::Icmp;
use crate::sys::Errno;
use crate::target::Proto;

/// The state of a port, as nmap names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortState {
    /// A connection was accepted (TCP) or a datagram came back (UDP).
    Open,
    /// Nothing listens: TCP RST, or ICMP port-unreachable for UDP.
    Closed,
    /// No answer at all within the timeout (dropped somewhere).
    Filtered,
    /// UDP only: no answer, which is what both an open silent service and a drop look like.
    OpenFiltered,
    /// Something answered that the port cannot be reached: an ICMP error or a local error.
    Unreachable,
}

impl PortState {
    /// The lower-case name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Filtered => "filtered",
            Self::OpenFiltered => "open|filtered",
            Self::Unreachable => "unreachable",
        }
    }
}

/// Why an `unreachable` port is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnreachableKind {
    /// ICMP net-unreachable (v4 code 0/6/11) or ICMPv6 no-route.
    NetUnreachable,
    /// ICMP host-unreachable (v4 code 1/7/12) or ICMPv6 address-unreachable.
    HostUnreachable,
    /// ICMP port-unreachable in answer to a TCP SYN: a firewall `reject`, not a closed port.
    PortUnreachable,
    /// ICMP protocol-unreachable.
    ProtocolUnreachable,
    /// ICMP admin-prohibited (v4 code 13, v6 code 1), policy-fail, reject-route.
    AdminProhibited,
    /// ICMP net-prohibited (v4 code 9).
    NetProhibited,
    /// ICMP host-prohibited (v4 code 10).
    HostProhibited,
    /// No route in the local routing table (the probe never left this host).
    NoRoute,
    /// A local firewall refused to send the packet (`EPERM`).
    LocalPolicy,
    /// ICMP host-unknown / host down (`EHOSTDOWN`).
    HostDown,
    /// Some other error, see `errno`.
    Other,
}

/// How a probe's outcome was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The TCP handshake completed.
    SynAck,
    /// TCP RST (no ICMP error was queued).
    Reset,
    /// `ECONNREFUSED` where the platform cannot tell a RST from ICMP port-unreachable.
    ConnRefused,
    /// An ICMP error (type and code in `icmp`).
    Icmp,
    /// An error reported by the local stack before anything was sent or received.
    Local,
    /// An errno without ICMP details (platforms without an error queue, or none queued).
    Errno,
    /// Nothing came back before the timeout.
    NoResponse,
    /// A UDP datagram came back.
    UdpResponse,
}

/// The classification of one probe outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The port state.
    pub state: PortState,
    /// How it was learnt.
    pub reason: Reason,
    /// For `unreachable` (and TCP port-unreachable): which kind.
    pub kind: Option<UnreachableKind>,
    /// The errno's symbolic name, if an error was reported.
    pub errno: Option<&'static str>,
    /// The ICMP error, if the platform handed it over.
    pub icmp: Option<Icmp>,
    /// Set when the evidence allows more than one reading; says which.
    pub ambiguous: Option<&'static str>,
}

impl Verdict {
    fn new(state: PortState, reason: Reason) -> Self {
        Self {
            state,
            reason,
            kind: None,
            errno: None,
            icmp: None,
            ambiguous: None,
        }
    }

    /// A completed handshake or UDP reply.
    pub fn open(reason: Reason) -> Self {
        Self::new(PortState::Open, reason)
    }

    /// No answer before the timeout.
    pub fn silent(proto: Proto) -> Self {
        match proto {
            Proto::Tcp => Self::new(PortState::Filtered, Reason::NoResponse),
            Proto::Udp => Self::new(PortState::OpenFiltered, Reason::NoResponse),
        }
    }
}

fn kind_of_icmp(icmp: &Icmp) -> UnreachableKind {
    match icmp.name() {
        "net-unreachable" | "no-route" => UnreachableKind::NetUnreachable,
        "host-unreachable" | "address-unreachable" => UnreachableKind::HostUnreachable,
        "port-unreachable" => UnreachableKind::PortUnreachable,
        "protocol-unreachable" => UnreachableKind::ProtocolUnreachable,
        "admin-prohibited" | "policy-fail" | "reject-route" => UnreachableKind::AdminProhibited,
        "net-prohibited" => UnreachableKind::NetProhibited,
        "host-prohibited" => UnreachableKind::HostProhibited,
        _ => UnreachableKind::Other,
    }
}

/// Classifies a failed connect (TCP) or receive (UDP).
///
/// * `errno`: the error, already mapped to a portable class with its symbolic name;
/// * `icmp`: the ICMP error read from the socket's error queue, if any;
/// * `queue_supported`: whether this platform and socket had an error queue at all (then the
///   absence of an ICMP error is evidence: a RST, or a purely local failure);
/// * `immediate`: the error came synchronously from `connect()`/`send()`, before any packet
///   could have come back.
pub fn classify_error(
    proto: Proto,
    errno: Errno,
    icmp: Option<Icmp>,
    queue_supported: bool,
    immediate: bool,
) -> Verdict {
    use UnreachableKind as K;
    let mut v = Verdict::new(PortState::Unreachable, Reason::Errno);
    v.errno = Some(errno.name());
    if let Some(icmp) = icmp {
        v.icmp = Some(icmp);
        v.reason = Reason::Icmp;
        let kind = kind_of_icmp(&icmp);
        v.kind = Some(kind);
        // UDP: port-unreachable is the normal answer of a host with nothing listening.
        if kind == K::PortUnreachable && proto == Proto::Udp {
            v.state = PortState::Closed;
        }
        return v;
    }
    let local_evidence = queue_supported || immediate;
    match errno {
        Errno::ConnRefused => {
            v.state = PortState::Closed;
            if proto == Proto::Tcp && queue_supported {
                v.reason = Reason::Reset;
            } else {
                v.reason = Reason::ConnRefused;
                v.ambiguous = Some(match proto {
                    Proto::Tcp => "ECONNREFUSED is a TCP RST or an ICMP port-unreachable",
                    Proto::Udp => "ECONNREFUSED on UDP is an ICMP port-unreachable",
                });
            }
        }
        Errno::TimedOut => return Verdict::silent(proto),
        Errno::NetUnreach if local_evidence => {
            v.kind = Some(K::NoRoute);
            v.reason = Reason::Local;
        }
        Errno::NetUnreach => {
            v.kind = Some(K::NetUnreachable);
            v.ambiguous = Some(
                "ENETUNREACH is ICMP net-unreachable, net-prohibited, ICMPv6 no-route, \
                 or no local route",
            );
        }
        Errno::HostUnreach if local_evidence => {
            v.kind = Some(K::HostUnreachable);
            v.reason = Reason::Local;
            v.ambiguous = Some(
                "EHOSTUNREACH without an ICMP error: neighbour (ARP/ND) resolution failed \
                 or a local unreachable route",
            );
        }
        Errno::HostUnreach => {
            v.kind = Some(K::HostUnreachable);
            v.ambiguous = Some(
                "EHOSTUNREACH is ICMP host-unreachable, host-prohibited, admin-prohibited \
                 (IPv4), address-unreachable (IPv6) or a failed neighbour lookup",
            );
        }
        Errno::Access => {
            v.kind = Some(K::AdminProhibited);
            v.ambiguous = Some(
                "EACCES is ICMPv6 admin-prohibited, policy-fail or reject-route, \
                 or a local refusal",
            );
        }
        Errno::Perm => {
            v.kind = Some(K::LocalPolicy);
            v.reason = Reason::Local;
        }
        Errno::NoProtoOpt => v.kind = Some(K::ProtocolUnreachable),
        Errno::HostDown => v.kind = Some(K::HostDown),
        _ => v.kind = Some(K::Other),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icmp(v6: bool, t: u8, c: u8) -> Option<Icmp> {
        Some(Icmp {
            v6,
            icmp_type: t,
            code: c,
            from: None,
        })
    }

    #[test]
    fn icmp_decides_over_errno() {
        let v = classify_error(
            Proto::Tcp,
            Errno::HostUnreach,
            icmp(false, 3, 13),
            true,
            false,
        );
        assert_eq!(v.state, PortState::Unreachable);
        assert_eq!(v.kind, Some(UnreachableKind::AdminProhibited));
        assert_eq!(v.ambiguous, None);
        let v = classify_error(
            Proto::Tcp,
            Errno::ConnRefused,
            icmp(false, 3, 3),
            true,
            false,
        );
        assert_eq!(
            (v.state, v.kind),
            (
                PortState::Unreachable,
                Some(UnreachableKind::PortUnreachable)
            )
        );
        let v = classify_error(
            Proto::Udp,
            Errno::ConnRefused,
            icmp(true, 1, 4),
            true,
            false,
        );
        assert_eq!(v.state, PortState::Closed);
        let v = classify_error(Proto::Tcp, Errno::Access, icmp(true, 1, 1), true, false);
        assert_eq!(v.kind, Some(UnreachableKind::AdminProhibited));
    }

    #[test]
    fn errno_only() {
        let v = classify_error(Proto::Tcp, Errno::ConnRefused, None, true, false);
        assert_eq!((v.state, v.reason), (PortState::Closed, Reason::Reset));
        let v = classify_error(Proto::Tcp, Errno::ConnRefused, None, false, false);
        assert_eq!(v.reason, Reason::ConnRefused);
        assert!(v.ambiguous.is_some());
        let v = classify_error(Proto::Tcp, Errno::NetUnreach, None, false, true);
        assert_eq!(v.kind, Some(UnreachableKind::NoRoute));
        let v = classify_error(Proto::Tcp, Errno::HostUnreach, None, false, false);
        assert!(v.ambiguous.is_some());
        let v = classify_error(Proto::Tcp, Errno::TimedOut, None, true, false);
        assert_eq!(v.state, PortState::Filtered);
        let v = classify_error(Proto::Udp, Errno::TimedOut, None, true, false);
        assert_eq!(v.state, PortState::OpenFiltered);
    }
}
