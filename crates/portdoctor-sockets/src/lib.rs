//! The socket table with owning processes: the `ss -ltnp` / `netstat -ano` / `lsof -i` of
//! portdoctor.
//!
//! [`snapshot`] reads every TCP and UDP socket of the current network namespace with its
//! state and owners; [`query::report`] filters and summarises it per port (listeners,
//! TIME_WAIT / CLOSE_WAIT counts, conflicts). Backends: Linux (NETLINK_SOCK_DIAG, with
//! `/proc/net` as a fallback), Windows (IP Helper), macOS (libproc), behind `sys/`.
//!
//! Without privileges, sockets whose owners cannot be seen are still listed, with
//! [`Socket::owner_unknown`] saying why.

#[doc(hidden)]
pub mod convert_macos;
#[doc(hidden)]
pub mod convert_windows;
pub mod model;
pub mod namespaces;
pub mod procnet;
pub mod query;
mod sys;

pub use model::{
    Family, Process, Proto, Reach, Snapshot, SnapshotOptions, Socket, SocketState, Source,
};
pub use namespaces::{Container, NamespaceSockets};

/// Why a socket table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SocketsError {
    /// A kernel table could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A kernel table was malformed.
    #[error("cannot parse {path}: {e}")]
    Parse {
        /// The file.
        path: String,
        /// Where and what.
        e: procnet::ProcNetError,
    },
    /// An OS call failed.
    #[error("{call} failed: {source}")]
    Os {
        /// The call.
        call: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// No backend for this OS.
    #[error("reading sockets is not supported on {0}")]
    Unsupported(&'static str),
}

/// Reads the socket table of the current network namespace.
pub fn snapshot(opts: &SnapshotOptions) -> Result<Snapshot, SocketsError> {
    sys::snapshot(opts)
}

/// Sockets on `ports` (every port when empty) in every *other* network namespace of the
/// machine (Linux; containers and pods), with their addresses, owners and containers. Needs
/// root to enter them; namespaces that cannot be read say why (`problem`). Empty elsewhere.
pub fn other_namespaces(ports: &[u16], opts: &SnapshotOptions) -> Vec<NamespaceSockets> {
    sys::other_namespaces(ports, opts)
}
