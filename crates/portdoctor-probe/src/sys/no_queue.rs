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
