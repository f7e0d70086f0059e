//! Service registries: one [`Registry`] trait, implemented for the Consul agent API
//! ([`consul`]) and the etcd v3 JSON gateway ([`etcd`]).

pub mod consul;
pub mod etcd;
mod http;
mod url;

pub use url::{Endpoint, Kind};

use crate::error::ServeError;
use serde::Serialize;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

/// A boxed future, so that registries can be chosen at run time.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the registry checks the service's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// A TCP connect to the port.
    Tcp,
    /// `GET /healthz` must answer 2xx.
    Http,
}

/// The service as registered.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// Service name (`web`).
    pub name: String,
    /// Instance ID, unique per registry (default: name, address and port).
    pub id: String,
    /// The concrete address peers use (never a wildcard).
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// Whether the service speaks TLS.
    pub tls: bool,
    /// The health check the registry runs.
    pub check: Check,
    /// The firewall change made for this service (`portdoctor undo ID`), recorded with the
    /// registration so that `deregister` can close it.
    pub firewall_change: Option<String>,
}

impl Service {
    /// The default instance ID: `NAME-ADDRESS-PORT`, with characters other than letters,
    /// digits, `.`, `_` and `-` replaced by `-`.
    pub fn default_id(name: &str, address: IpAddr, port: u16) -> String {
        format!("{name}-{address}-{port}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }

    /// `http(s)://ADDRESS:PORT/healthz`.
    pub fn health_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!(
            "{scheme}://{}/healthz",
            std::net::SocketAddr::new(self.address, self.port)
        )
    }
}

/// What a registration left in the registry.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// The registry (`etcd at 127.0.0.1:2379`).
    pub registry: String,
    /// The key (etcd) or service ID (Consul).
    pub key: String,
    /// The etcd lease, with its TTL in seconds.
    pub lease: Option<(String, u64)>,
}

/// A registered instance as a registry lists it (for discovery: the agent's targets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// The service name.
    pub name: String,
    /// The instance ID.
    pub id: String,
    /// The registered address and port (literal).
    pub addr: SocketAddr,
}

impl Instance {
    /// The instance a registry's JSON fields describe; `None` unless `name` is a string,
    /// `address` a literal address and `port` a port (`id` may be missing).
    pub fn from_json(
        name: &serde_json::Value,
        id: &serde_json::Value,
        address: &serde_json::Value,
        port: &serde_json::Value,
    ) -> Option<Instance> {
        let address: IpAddr = address.as_str()?.parse().ok()?;
        let port = u16::try_from(port.as_u64()?).ok()?;
        Some(Instance {
            name: name.as_str()?.to_string(),
            id: id.as_str().unwrap_or_default().to_string(),
            addr: SocketAddr::new(address, port),
        })
    }
}

/// What deregistering found and removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    /// Whether there was something to remove.
    pub existed: bool,
    /// The firewall change recorded with the registration.
    pub firewall_change: Option<String>,
}

/// A service registry.
pub trait Registry: Send + Sync {
    /// `consul at 127.0.0.1:8500`.
    fn describe(&self) -> String;
    /// Registers `service`; registering the same ID again replaces it (idempotent).
    fn register<'a>(
        &'a self,
        service: &'a Service,
    ) -> BoxFuture<'a, Result<Registration, ServeError>>;
    /// Keeps the registration alive; `Ok(false)` when it is gone and must be made again.
    fn keep_alive<'a>(&'a self, reg: &'a Registration) -> BoxFuture<'a, Result<bool, ServeError>>;
    /// Removes the instance `id` of `name`; nothing there is not an error.
    fn deregister<'a>(
        &'a self,
        name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Removed, ServeError>>;
}

/// The registry an endpoint names (etcd leases last `ttl` seconds).
pub fn connect(endpoint: &Endpoint, ttl: u64) -> Box<dyn Registry> {
    match endpoint.kind {
        Kind::Consul => Box::new(consul::Consul::new(endpoint.authority())),
        Kind::Etcd => Box::new(etcd::Etcd::new(endpoint.authority(), ttl)),
    }
}

fn failed(registry: &str, why: impl Into<String>) -> ServeError {
    ServeError::Registry {
        registry: registry.to_string(),
        why: why.into(),
    }
}
