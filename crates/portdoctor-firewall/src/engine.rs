//! The seam between firewall *engines* and everything above them.
//!
//! An engine is what actually filters packets on a host: netfilter on Linux (native nftables,
//! iptables legacy and nft-backed, read together because the kernel runs them together),
//! Windows Defender Firewall, pf. Each engine reads its live state or a saved copy, evaluates a
//! packet exactly as the host would (or says `unknown` and why), and answers "what if"
//! questions on an edited copy of itself. Managers (ufw, firewalld: [`crate::manager`]) sit on
//! top of an engine and speak about its rules in their own words.

use crate::collect::SourceReport;
use crate::explain::Explanation;
use crate::model::{Action, Backend, Family, Packet, Rule, RuleRef};
use crate::sweep::Sweep;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Linux netfilter: nftables and iptables (legacy and nft-backed) together.
    Netfilter,
    /// Windows Defender Firewall.
    Windows,
    /// pf (macOS, FreeBSD, OpenBSD).
    Pf,
}

impl EngineKind {
    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            EngineKind::Netfilter => "netfilter (nftables, iptables)",
            EngineKind::Windows => "Windows Defender Firewall",
            EngineKind::Pf => "pf",
        }
    }

    /// The engine this build reads live on the platform it was built for (`None` where
    /// portdoctor has no live reader). A Linux build never asks for a Windows tool, and a
    /// Windows build never for a Linux one.
    pub fn live() -> Option<EngineKind> {
        if cfg!(target_os = "linux") {
            Some(EngineKind::Netfilter)
        } else if cfg!(windows) {
            Some(EngineKind::Windows)
        } else if cfg!(any(
            target_os = "macos",
            target_os = "freebsd",
            target_os = "openbsd"
        )) {
            Some(EngineKind::Pf)
        } else {
            None
        }
    }

    /// The managers that can be in charge of this engine's rules.
    pub fn managers(self) -> &'static [crate::manager::ManagerKind] {
        use crate::manager::ManagerKind;
        match self {
            EngineKind::Netfilter => &[ManagerKind::Ufw, ManagerKind::Firewalld],
            EngineKind::Windows | EngineKind::Pf => &[],
        }
    }

    /// Every engine whose saved rulesets any build reads (`--ruleset FILE`), with the formats.
    pub const OFFLINE: [(EngineKind, &'static str); 3] = [
        (
            EngineKind::Netfilter,
            "nft -j list ruleset, iptables-save, ip6tables-save, ipset save",
        ),
        (
            EngineKind::Windows,
            "PowerShell JSON (windows-export), netsh advfirewall firewall show rule, Export-FirewallRules CSV",
        ),
        (EngineKind::Pf, "pfctl -sr / -vvsr / -a '*' -sr, pf.conf"),
    ];
}

/// Where in a ruleset a new rule goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// Backend whose ruleset holds the chain.
    pub backend: Backend,
    /// Table family.
    pub family: Family,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Insert before the rule at this 1-based position; `None`: append.
    pub before: Option<usize>,
}

/// One change to a ruleset, for "what if" questions and for planning fixes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Edit {
    /// Remove this rule (found by backend, table, chain and position; its text must match).
    Remove {
        /// The rule.
        rule: RuleRef,
    },
    /// Insert a rule.
    Insert {
        /// Where.
        place: Place,
        /// The rule (its position is assigned on insertion).
        rule: Rule,
    },
    /// Create a base chain (and its table, when missing), unless it exists.
    AddBaseChain {
        /// Backend.
        backend: Backend,
        /// Table family.
        family: Family,
        /// Table name.
        table: String,
        /// The chain (its rules are ignored).
        chain: crate::model::Chain,
    },
    /// Change the final action of this rule (e.g. ufw turning a deny into an allow in place).
    SetAction {
        /// The rule.
        rule: RuleRef,
        /// Its new action.
        action: Action,
    },
    /// Insert a rule written in the engine's own syntax: pf, a pf.conf rule line, into the
    /// anchor `scope` ("" for the main ruleset); Windows, the arguments of
    /// `netsh advfirewall firewall add rule` (after `rule`), into the policy store `scope`.
    /// Netfilter does not take it (use [`Edit::Insert`]).
    InsertText {
        /// Which engine the text is written for.
        engine: EngineKind,
        /// pf anchor path or Windows policy store.
        scope: String,
        /// Insert before this 1-based position of the scope; `None`: append.
        before: Option<usize>,
        /// The rule text.
        text: String,
    },
    /// Change settings of a rule in place, written in the engine's own syntax (Windows: the
    /// arguments after `new` of `netsh advfirewall firewall set rule`, e.g. `profile=any`).
    ModifyText {
        /// The rule.
        rule: RuleRef,
        /// The new settings.
        text: String,
    },
}

/// Why an edit cannot be applied to an engine's state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EditError {
    /// The table or chain does not exist.
    #[error("no chain {chain} in {family} table {table} of {backend}")]
    NoChain {
        /// Backend.
        backend: String,
        /// Family.
        family: String,
        /// Table.
        table: String,
        /// Chain.
        chain: String,
    },
    /// The rule is not (or no longer) there.
    #[error("rule {position} of chain {chain} is not `{text}`")]
    NoRule {
        /// Chain.
        chain: String,
        /// Position looked at.
        position: usize,
        /// The text expected there.
        text: String,
    },
    /// The engine does not support this kind of edit.
    #[error("{0}")]
    Unsupported(String),
}

/// A firewall engine's state, read live or from saved files.
pub trait Engine: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;
    /// What was read, and what could not be (with why).
    fn sources(&self) -> &[SourceReport];
    /// True when nothing at all could be read (every source failed).
    fn unread(&self) -> bool;
    /// Evaluates one inbound packet: the overall verdict and one per backend.
    fn explain(&self, packet: &Packet) -> Explanation;
    /// Decisions for every destination port of `packet` (its `dport` is ignored).
    fn sweep(&self, packet: &Packet) -> Sweep;
    /// A copy of this state with `edits` applied in order: for "what if" questions.
    fn edited(&self, edits: &[Edit]) -> Result<Box<dyn Engine>, EditError>;
    /// The netfilter state, when this is the netfilter engine (managers on top of netfilter
    /// read its tables).
    fn as_netfilter(&self) -> Option<&crate::netfilter::Netfilter> {
        None
    }
    /// The Windows state, when this is the Windows engine (the fix engine finds the rules a
    /// plan names in it).
    fn as_windows(&self) -> Option<&crate::windows::WindowsFirewall> {
        None
    }

    /// Engines that phrase their own fixes (Windows Defender Firewall, pf): the ways to let
    /// `packet` in as `req` asks, each with the edits that model it. Netfilter's fixes come
    /// from the raw backends and the managers instead.
    fn fix_options(
        &self,
        packet: &Packet,
        req: &crate::manager::OpenRequest,
    ) -> Vec<crate::fix::FixOption> {
        let _ = (packet, req);
        vec![]
    }

    /// How the fix engine carries out `option` (one of [`Engine::fix_options`]) for `req`: the
    /// argument vectors to run, their stdin and undo commands. `None`: run the option's
    /// command lines through their shells (PowerShell, cmd). Engines whose command lines are
    /// POSIX pipelines (pf) must answer, so that no shell string is ever run.
    fn fix_step(
        &self,
        option: &crate::fix::FixOption,
        req: &crate::manager::OpenRequest,
    ) -> Option<crate::manager::PlanStep> {
        let _ = (option, req);
        None
    }

    /// Allow rules that would let `packet` in but for one condition (Windows: profile,
    /// program, address, port, protocol): (rule, the condition, why).
    fn near_misses(&self, packet: &Packet) -> Vec<(RuleRef, String, String)> {
        let _ = packet;
        vec![]
    }
}

/// "What if this rule were gone?": the verdict for `packet` on a copy without `rule`.
/// `None` when the rule cannot be found.
pub fn without_rule(
    engine: &dyn Engine,
    rule: &RuleRef,
    packet: &Packet,
) -> Option<crate::model::Verdict> {
    let edit = Edit::Remove { rule: rule.clone() };
    let copy = engine.edited(std::slice::from_ref(&edit)).ok()?;
    Some(copy.explain(packet).overall)
}
