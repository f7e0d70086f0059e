//! Windows: WinSock error codes; there is no per-process descriptor limit to raise.

use std::io;

use super::Errno;

/// Maps a WinSock error to its portable class.
pub fn errno_of(err: &io::Error) -> Errno {
    match err.raw_os_error() {
        // WSAECONNREFUSED; WSAECONNRESET is how a UDP socket reports ICMP port-unreachable.
        Some(10061) | Some(10054) => Errno::ConnRefused,
        Some(10060) => Errno::TimedOut,
        Some(10051) => Errno::NetUnreach,
        Some(10065) => Errno::HostUnreach,
        Some(10013) => Errno::Access,
        Some(10064) => Errno::HostDown,
        Some(10035) | Some(10036) => Errno::InProgress,
        Some(10024) => Errno::TooManyFiles,
        Some(10055) => Errno::NoBufs,
        Some(10049) => Errno::AddrNotAvail,
        Some(10048) => Errno::AddrInUse,
        _ => match err.kind() {
            io::ErrorKind::TimedOut => Errno::TimedOut,
            io::ErrorKind::WouldBlock => Errno::InProgress,
            _ => Errno::Other,
        },
    }
}

/// Windows has no RLIMIT_NOFILE; `None` lets the engine pick its default concurrency.
pub fn raise_nofile_limit() -> Option<u64> {
    None
}
