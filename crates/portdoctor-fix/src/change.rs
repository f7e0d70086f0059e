//! A change as the journal records it.

use portdoctor_firewall::manager::OpenRequest;
use portdoctor_firewall::plan::{Goal, OwnedStep};
use serde::{Deserialize, Serialize};

/// One firewall change: what was asked, the steps applied, and its timers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// Short unique id; every rule of the change carries the tag `portdoctor:<id>`.
    pub id: String,
    /// Unix time it was planned.
    pub at: u64,
    /// Open or close.
    pub goal: Goal,
    /// Port, protocol, source and tag.
    pub request: OpenRequest,
    /// The steps, in the order applied.
    pub steps: Vec<OwnedStep>,
    /// Undo automatically at this Unix time (`--ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Undo unless confirmed by this Unix time (`--confirm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_by: Option<u64>,
    /// Names of the files with the state saved before (under the change's directory).
    #[serde(default)]
    pub saved: Vec<String>,
}

impl Change {
    /// `open 8080/tcp from 198.18.0.2`.
    pub fn describe(&self) -> String {
        let op = match self.goal {
            Goal::Open => "open",
            Goal::Close => "close",
        };
        let from = self
            .request
            .from
            .as_ref()
            .map_or(String::new(), |f| format!(" from {f}"));
        format!("{op} {}/{}{from}", self.request.port, self.request.proto)
    }

    /// Who was changed: `ufw`, `nftables + iptables (legacy)`.
    pub fn owners(&self) -> String {
        let mut v: Vec<&str> = self.steps.iter().map(|s| s.owner.label()).collect();
        v.dedup();
        v.join(" + ")
    }
}

/// A new change id: time-based, short, unique enough for one host's journal.
pub fn new_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}",
        (t / 1_000) as u64 ^ u64::from(std::process::id()) << 40
    )
    .chars()
    .rev()
    .take(8)
    .collect()
}
