//! What the agent probes: targets with an expectation, and where they come from.
//!
//! [`TargetSource`] is the seam for discovery: the static list from the configuration
//! ([`StaticTargets`]) and the registrations in Consul or etcd
//! ([`crate::discovery::Registered`]).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// What a target's port should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Reachable: a completed handshake is success (the default).
    #[default]
    Open,
    /// Not reachable: a completed handshake is a failure; anything else is success.
    Closed,
}

impl Expect {
    /// `open` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Open => "open",
            Expect::Closed => "closed",
        }
    }
}

/// One address and port to probe over TCP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// A short name for labels and the status page.
    pub name: String,
    /// Literal address and port.
    pub addr: SocketAddr,
    /// What the port should be.
    pub expect: Expect,
}

/// Why a source could not list its targets.
#[derive(Debug, thiserror::Error)]
#[error("target source {source_name}: {message}")]
pub struct SourceError {
    /// The source's name.
    pub source_name: String,
    /// What went wrong.
    pub message: String,
}

/// Where targets come from. Called once per probe round, on a blocking thread, so an
/// implementation may do I/O (a registry query); it must return literal addresses only.
pub trait TargetSource: Send + Sync {
    /// The source's name, for logs and errors (`static`, `consul`, …).
    fn name(&self) -> &str;
    /// The kind of source (`static`, `etcd`, `consul`): a metric label, so a fixed set.
    fn kind(&self) -> &'static str;
    /// The targets to probe this round.
    fn targets(&self) -> Result<Vec<Target>, SourceError>;
}

/// The `[[target]]` list of the configuration.
#[derive(Debug, Clone, Default)]
pub struct StaticTargets(pub Vec<Target>);

impl TargetSource for StaticTargets {
    fn name(&self) -> &str {
        "static"
    }

    fn kind(&self) -> &'static str {
        "static"
    }

    fn targets(&self) -> Result<Vec<Target>, SourceError> {
        Ok(self.0.clone())
    }
}
