//! pf rules as read from `pfctl -sr` / `-vvsr` / `-a '*' -sr` listings or pf.conf text.

use crate::addr::{IpRange, PortSpan};
use crate::model::IpFamily;
use serde::{Deserialize, Serialize};

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PfAction {
    /// `pass`.
    Pass,
    /// `block` with how it blocks.
    Block(BlockHow),
    /// `match` (never decides).
    Match,
    /// `anchor "name"`: evaluate that anchor's rules here.
    Anchor {
        /// The name as written (relative to the current anchor; `x/*` for children).
        name: String,
        /// Rules given inline (`anchor "x" { … }`, or nested in `pfctl -a '*' -sr`).
        inline: Option<Vec<PfRule>>,
    },
}

/// How a block rule blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockHow {
    /// Plain `block`: the ruleset's `set block-policy` decides.
    Policy,
    /// `block drop`.
    Drop,
    /// `block return`: TCP RST for TCP, ICMP unreachable for others.
    Return,
    /// `block return-rst`: TCP RST (other protocols are dropped).
    ReturnRst,
    /// `block return-icmp` / `return-icmp6`: ICMP unreachable.
    ReturnIcmp,
}

/// Direction filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PfDir {
    /// Both directions (no `in`/`out`).
    Any,
    /// `in`.
    In,
    /// `out`.
    Out,
}

/// One interface term of `on …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfTerm {
    /// `!` before it.
    pub negated: bool,
    /// Interface or group name.
    pub name: String,
}

/// One address term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Host {
    /// `any`.
    Any,
    /// An address, prefix or range.
    Range(IpRange),
    /// `<table>`.
    Table(String),
    /// `self`: any address of this host.
    SelfAddr,
    /// `no-route`: no route back to it.
    NoRoute,
    /// `urpf-failed`: fails the unicast reverse-path check.
    UrpfFailed,
    /// An interface's addresses (`en0`, `(en0)`), `network` for `en0:network`.
    Interface {
        /// Interface name.
        name: String,
        /// `:network` (its subnet) rather than its addresses.
        network: bool,
    },
    /// A host name or anything else resolved at load time that this reader cannot.
    Other(String),
}

/// An address term with its negation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTerm {
    /// `!`.
    pub negated: bool,
    /// The host.
    pub host: Host,
}

/// A port condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortOp {
    /// `= p`, `p`, or an inclusive range `a:b`.
    In(PortSpan),
    /// `!= p`.
    Not(u16),
    /// `a >< b`: strictly between.
    Between(u16, u16),
    /// `a <> b`: outside.
    Outside(u16, u16),
    /// `< p`, `<= p`, `> p`, `>= p` as an inclusive span.
    Cmp(PortSpan),
}

impl PortOp {
    /// Whether `p` satisfies the condition.
    pub fn holds(&self, p: u16) -> bool {
        match self {
            PortOp::In(s) | PortOp::Cmp(s) => s.contains(p),
            PortOp::Not(x) => p != *x,
            PortOp::Between(a, b) => *a < p && p < *b,
            PortOp::Outside(a, b) => p < *a || p > *b,
        }
    }
}

/// One side (`from` or `to`): addresses (any of them) and ports (any of them).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Side {
    /// Address terms, OR-ed (pf expands lists into one rule per element); empty = any.
    pub hosts: Vec<HostTerm>,
    /// Port conditions, OR-ed; empty = any.
    pub ports: Vec<PortOp>,
}

/// A condition this reader does not model (`user`, `tagged`, `os`, `probability`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmodelled {
    /// The keyword and its argument.
    pub text: String,
}

/// One filter rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfRule {
    /// Rule number: `@N` of `pfctl -vvsr`, else its index among the filter rules of its
    /// ruleset (pf numbers from 0).
    pub number: usize,
    /// Action.
    pub action: PfAction,
    /// Direction.
    pub dir: PfDir,
    /// `quick`.
    pub quick: bool,
    /// `on …` terms (any of them; empty = every interface).
    pub on: Vec<IfTerm>,
    /// `inet` / `inet6`.
    pub af: Option<IpFamily>,
    /// Protocol numbers (any of them; empty = any).
    pub protos: Vec<u8>,
    /// Source.
    pub from: Side,
    /// Destination.
    pub to: Side,
    /// TCP flags `(set, mask)` that must hold (`flags S/SA` = (0x02, 0x12)); `None` = any.
    pub flags: Option<(u8, u8)>,
    /// Unmodelled conditions.
    pub unmodelled: Vec<Unmodelled>,
    /// `no state`.
    pub no_state: bool,
    /// `label "…"`.
    pub label: Option<String>,
    /// The rule as written or listed (whitespace normalised).
    pub text: String,
}

/// A table's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfTable {
    /// Entries with their negation (`!` entries exclude).
    pub entries: Vec<(bool, IpRange)>,
    /// Entries that are interface names or host names (not resolved here).
    pub unresolved: Vec<String>,
    /// `const` (cannot change at run time).
    pub constant: bool,
    /// Read from `pfctl -t NAME -T show` (the live contents), not only declared in pf.conf.
    pub live: bool,
}

/// `set block-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockPolicy {
    /// Drop silently (pf's default).
    #[default]
    Drop,
    /// Return RST / ICMP unreachable.
    Return,
}
