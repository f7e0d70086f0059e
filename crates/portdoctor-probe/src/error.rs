//! Typed errors of the probe engine.

use std::io;
use std::net::IpAddr;

use crate::spec::SpecError;

/// Everything that can go wrong before or around a probe (not a port's state: a closed or
/// filtered port is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A port specification could not be parsed.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A target (`HOST:PORT`, `[V6]:PORT/udp`, `HOST/CIDR`) could not be parsed.
    #[error("invalid target {input:?}: {reason}")]
    InvalidTarget {
        /// The text as given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A host name could not be resolved.
    #[error("cannot resolve host {host:?}: {source}")]
    Resolve {
        /// The name as given.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// A host name resolved, but to no usable address (e.g. none of the requested family).
    #[error("host {host:?} resolved to no usable address")]
    NoAddress {
        /// The name as given.
        host: String,
    },
    /// A CIDR range holds more hosts than allowed.
    #[error("{range} holds {hosts} addresses; at most {max} hosts may be scanned at once")]
    TooManyHosts {
        /// The range as given.
        range: String,
        /// How many addresses it holds (saturating).
        hosts: u128,
        /// The cap.
        max: u128,
    },
    /// The `--source` address is of another family than the target.
    #[error("source address {source_addr} cannot reach {target}: address families differ")]
    SourceFamily {
        /// The source address.
        source_addr: IpAddr,
        /// The target address.
        target: IpAddr,
    },
    /// Binding the source address failed (not a local address, or in use).
    #[error("cannot bind source address {addr}: {source}")]
    Bind {
        /// The source address.
        addr: IpAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A local socket operation failed in a way that is not a property of the target.
    #[error("local socket error: {0}")]
    Io(#[from] io::Error),
}
