//! Platforms without a readable ICMP error queue: only the errno is known.

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::icmp::Icmp;

/// No error queue here; returns `false`.
pub fn enable_error_queue(_sock: SockRef<'_>, _v6: bool) -> bool {
    false
}

/// No error queue here; returns `None`.
pub fn read_error_queue(_sock: SockRef<'_>) -> Option<Icmp> {
    None
}

/// A socket switched to non-blocking mode.
pub fn nonblocking_socket(domain: Domain, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    let s = Socket::new(domain, ty, Some(proto))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Looks at a connect in progress through `SO_ERROR` and the peer address; the socket is
/// never reused here (reconnecting a failed socket is not portable).
pub fn connect_again(sock: &Socket, _addr: &socket2::SockAddr) -> super::Again {
    match sock.take_error() {
        Ok(Some(e)) => super::Again::Failed(e, false),
        _ if sock.peer_addr().is_ok() => super::Again::Connected,
        _ => super::Again::InProgress,
    }
}
