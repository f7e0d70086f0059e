//! The netfilter engine: native nftables plus iptables (legacy and nft-backed) and ipsets,
//! evaluated together as the kernel runs them. The readers are in [`crate::backend`], the
//! evaluator in [`crate::eval`]; this folder ties them to the [`Engine`] seam.

pub mod build;
mod edit;

use crate::collect::{self, CollectError, Collected, Runner, SourceReport};
use crate::engine::{Edit, EditError, Engine, EngineKind};
use crate::explain::Explanation;
use crate::model::{Packet, Ruleset};
use crate::sweep::Sweep;

pub use edit::apply_edits;

/// Netfilter state: every ruleset read, plus what each source gave.
#[derive(Debug, Clone, Default)]
pub struct Netfilter {
    /// Rulesets, one per backend and family (see [`crate::explain()`]).
    pub rulesets: Vec<Ruleset>,
    /// One report per program or file read.
    pub sources: Vec<SourceReport>,
}

impl Netfilter {
    /// Reads the live rulesets through `runner` (every program at once).
    pub fn read_live(runner: &dyn Runner) -> Netfilter {
        Netfilter::from(collect::collect(runner, &collect::Programs::default()))
    }

    /// Rulesets given directly (saved files, tests).
    pub fn from_rulesets(rulesets: Vec<Ruleset>) -> Netfilter {
        Netfilter {
            rulesets,
            sources: vec![],
        }
    }

    /// Why nothing could be read, or `None` when at least one ruleset was.
    pub fn unread_reason(&self) -> Option<String> {
        if !self.rulesets.is_empty() {
            return None;
        }
        let errors: Vec<&CollectError> = self
            .sources
            .iter()
            .filter_map(|s| s.active.as_ref().err())
            .collect();
        let denied = errors
            .iter()
            .any(|e| matches!(e, CollectError::PermissionDenied { .. }));
        Some(if denied {
            "reading the firewall rules needs root or CAP_NET_ADMIN (try sudo)".to_string()
        } else if errors.is_empty() {
            "no firewall tool found (nft, iptables-save)".to_string()
        } else {
            let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            format!("no firewall ruleset could be read: {}", all.join("; "))
        })
    }
}

impl From<Collected> for Netfilter {
    fn from(c: Collected) -> Netfilter {
        Netfilter {
            rulesets: c.rulesets,
            sources: c.sources,
        }
    }
}

impl Engine for Netfilter {
    fn kind(&self) -> EngineKind {
        EngineKind::Netfilter
    }

    fn sources(&self) -> &[SourceReport] {
        &self.sources
    }

    fn unread(&self) -> bool {
        self.rulesets.is_empty()
    }

    fn explain(&self, packet: &Packet) -> Explanation {
        crate::explain::explain(&self.rulesets, packet)
    }

    fn sweep(&self, packet: &Packet) -> Sweep {
        crate::sweep::sweep(&self.rulesets, packet)
    }

    fn edited(&self, edits: &[Edit]) -> Result<Box<dyn Engine>, EditError> {
        let mut copy = self.clone();
        apply_edits(&mut copy.rulesets, edits)?;
        Ok(Box::new(copy))
    }

    fn as_netfilter(&self) -> Option<&Netfilter> {
        Some(self)
    }
}
