//! The errors of serving and registering.

use std::net::SocketAddr;

/// Why serving or registering failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is taken; `holder` names the process when it can be found.
    #[error("{addr} is already in use{}", holder.as_deref().map(|h| format!(" by {h}")).unwrap_or_default())]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
        /// `nginx (pid 812)`, when the socket table says.
        holder: Option<String>,
    },
    /// Binding failed for another reason (permission, no such address).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The registry URL is not one we understand.
    #[error("registry URL `{url}`: {why}")]
    BadUrl {
        /// The text given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The registry cannot be reached or answered an error.
    #[error("{registry}: {why}")]
    Registry {
        /// `consul at 127.0.0.1:8500`.
        registry: String,
        /// What happened.
        why: String,
    },
    /// Opening or closing the firewall failed.
    #[error("firewall: {0}")]
    Firewall(String),
    /// Other I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
