//! The platform boundary: errno names, the Linux ICMP error queue, the open-files limit.
//! Everything above this module is platform-free.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod no_queue;
#[cfg(unix)]
mod unix;
#[cfg(not(unix))]
mod windows;

#[cfg(target_os = "linux")]
pub use linux::{connect_again, enable_error_queue, nonblocking_socket, read_error_queue};
#[cfg(not(target_os = "linux"))]
pub use no_queue::{connect_again, enable_error_queue, nonblocking_socket, read_error_queue};
#[cfg(unix)]
pub use unix::{errno_of, raise_nofile_limit};
#[cfg(not(unix))]
pub use windows::{errno_of, raise_nofile_limit};

/// Where a non-blocking connect stands, looked at without waiting.
#[derive(Debug)]
pub enum Again {
    /// It failed with this error; `true` if the socket may be used for another connect.
    Failed(std::io::Error, bool),
    /// The handshake completed.
    Connected,
    /// Still in progress.
    InProgress,
}

/// A portable class of OS error, as far as probing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// `ECONNREFUSED` (and `WSAECONNRESET` on a Windows UDP socket).
    ConnRefused,
    /// `ETIMEDOUT`.
    TimedOut,
    /// `ENETUNREACH`.
    NetUnreach,
    /// `EHOSTUNREACH`.
    HostUnreach,
    /// `EACCES`.
    Access,
    /// `EPERM`.
    Perm,
    /// `ENOPROTOOPT`.
    NoProtoOpt,
    /// `EHOSTDOWN`.
    HostDown,
    /// `EINPROGRESS` / `EWOULDBLOCK` on a non-blocking connect.
    InProgress,
    /// `EMFILE` / `ENFILE`: out of file descriptors.
    TooManyFiles,
    /// `ENOBUFS` / `ENOMEM`.
    NoBufs,
    /// `EADDRNOTAVAIL` / `EAGAIN` on connect: no free local port.
    AddrNotAvail,
    /// `EADDRINUSE`.
    AddrInUse,
    /// Anything else.
    Other,
}

impl Errno {
    /// The symbolic (POSIX) name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ConnRefused => "ECONNREFUSED",
            Self::TimedOut => "ETIMEDOUT",
            Self::NetUnreach => "ENETUNREACH",
            Self::HostUnreach => "EHOSTUNREACH",
            Self::Access => "EACCES",
            Self::Perm => "EPERM",
            Self::NoProtoOpt => "ENOPROTOOPT",
            Self::HostDown => "EHOSTDOWN",
            Self::InProgress => "EINPROGRESS",
            Self::TooManyFiles => "EMFILE",
            Self::NoBufs => "ENOBUFS",
            Self::AddrNotAvail => "EADDRNOTAVAIL",
            Self::AddrInUse => "EADDRINUSE",
            Self::Other => "OTHER",
        }
    }

    /// Whether this is a shortage of local resources (retry later, with less concurrency).
    pub fn is_resource_shortage(self) -> bool {
        matches!(self, Self::TooManyFiles | Self::NoBufs | Self::AddrNotAvail)
    }
}
