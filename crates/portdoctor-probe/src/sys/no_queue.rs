//! Platforms without a readable ICMP error queue: only the errno is known.

use socket2::SockRef;

use crate::icmp::Icmp;

/// No error queue here; returns `false`.
pub fn enable_error_queue(_sock: SockRef<'_>, _v6: bool) -> bool {
    false
}

/// No error queue here; returns `None`.
pub fn read_error_queue(_sock: SockRef<'_>) -> Option<Icmp> {
    None
}
