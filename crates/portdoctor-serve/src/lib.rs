//! The firewall-friendly reference service for portdoctor: HTTP or HTTPS (rustls, ring) on a
//! dual-stack socket, `/`, `/healthz`, `/readyz`, graceful shutdown on SIGTERM/SIGINT, and
//! registration in Consul or etcd ([`registry::Registry`]) with the firewall opened through a
//! caller-supplied [`lifecycle::Firewall`] (the binary plugs the fix engine in).
//!
//! The binary only parses and renders: this crate prints nothing.

pub mod advertise;
pub mod app;
pub mod bind;
mod error;
pub mod lifecycle;
pub mod registry;
pub mod server;
pub mod signal;
#[cfg(target_os = "linux")]
pub mod tls;

pub use error::ServeError;

/// Whether TLS is built in (it is on Linux; ring's C code is not built for the cross targets).
pub const TLS_BUILT_IN: bool = cfg!(target_os = "linux");

#[cfg(all(feature = "testkit", target_os = "linux"))]
pub mod testkit;
