//! The library-level entry points: evaluate one ruleset, or all active backends together.

use crate::eval::evaluate_index;
use crate::index::Index;
use crate::model::{Backend, Family, Packet, Ruleset, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The verdict of one backend alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendVerdict {
    /// Backend.
    pub backend: Backend,
    /// False when the backend has no rule and only accept policies (it then accepts).
    pub active: bool,
    /// The verdict of this backend's base chains alone.
    pub verdict: Verdict,
}

/// Result of [`explain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// The packet's fate through every backend together (all of them see it; the kernel runs
    /// their base chains by hook and priority).
    pub overall: Verdict,
    /// One entry per backend present in the input, in first-appearance order.
    pub backends: Vec<BackendVerdict>,
    /// nft tables left out because they belong to iptables-nft and were evaluated from
    /// `iptables-nft-save` output instead (`family name`).
    pub skipped_tables: Vec<String>,
}

/// Evaluate `packet` through one ruleset (all its base chains on the inbound path).
///
/// Tables owned by iptables-nft are evaluated as they appear (their `xt` expressions are
/// unmodelled); use [`explain`] with the `iptables-nft-save` ruleset to evaluate them properly.
pub fn evaluate(ruleset: &Ruleset, packet: &Packet) -> Verdict {
    let ix = Index::new(vec![ruleset], &HashSet::new());
    evaluate_index(&ix, packet)
}

/// (family, table) pairs that iptables-nft rulesets cover.
pub(crate) fn covered_tables<'a>(
    rulesets: impl IntoIterator<Item = &'a Ruleset>,
) -> HashSet<(Family, String)> {
    rulesets
        .into_iter()
        .filter(|r| r.backend == Some(Backend::IptablesNft))
        .flat_map(|r| r.tables.iter().map(|t| (t.family, t.name.clone())))
        .collect()
}

/// Evaluate `packet` through every given ruleset together, and through each backend alone.
///
/// Give each backend's rulesets once: e.g. the nft JSON, iptables-legacy-save (v4),
/// ip6tables-legacy-save (v6), iptables-nft-save (v4) and ip6tables-nft-save (v6). nft tables
/// owned by iptables-nft are skipped when the matching iptables-nft ruleset is given, so no
/// rule is evaluated twice.
pub fn explain(rulesets: &[Ruleset], packet: &Packet) -> Explanation {
    let covered = covered_tables(rulesets);
    let ix = Index::new(rulesets.iter().collect(), &covered);
    let overall = evaluate_index(&ix, packet);
    let skipped_tables = ix
        .skipped
        .iter()
        .map(|&id| {
            let t = ix.table(id);
            format!("{} {}", t.family.as_str(), t.name)
        })
        .collect();
    let mut order: Vec<Backend> = vec![];
    for r in rulesets {
        let b = r.backend.unwrap_or(Backend::Nftables);
        if !order.contains(&b) {
            order.push(b);
        }
    }
    let backends = order
        .into_iter()
        .map(|b| {
            let group: Vec<&Ruleset> = rulesets
                .iter()
                .filter(|r| r.backend.unwrap_or(Backend::Nftables) == b)
                .collect();
            let ix = Index::new(group, &covered);
            let active = ix.base.iter().any(|e| {
                let t = ix.table(e.table);
                let c = &t.chains[e.chain];
                !c.rules.is_empty()
                    || c.base
                        .as_ref()
                        .is_some_and(|b| b.policy == crate::model::Policy::Drop)
            });
            BackendVerdict {
                backend: b,
                active,
                verdict: evaluate_index(&ix, packet),
            }
        })
        .collect();
    Explanation {
        overall,
        backends,
        skipped_tables,
    }
}
