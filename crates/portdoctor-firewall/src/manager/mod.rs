//! Firewall *managers*: ufw and firewalld sit on top of the netfilter engine. They write the
//! kernel rules the engine evaluates, and users think in their words ("ufw rule [2]", "zone
//! public does not allow 8080/tcp"). A manager detects whether it is in charge, reads its own
//! configuration, maps each kernel rule it generated back to its own rule, and phrases fixes
//! in its own command line, together with the kernel-level [`Edit`]s those commands make so
//! the fix can be verified on a copy before it is printed.
//!
//! Adding a manager is one folder here plus one line in [`detect`].

pub mod firewalld;
pub mod ufw;

use crate::collect::Runner;
use crate::engine::{Edit, Engine};
use crate::model::{Packet, RuleRef, Step};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerKind {
    /// Uncomplicated Firewall (Ubuntu, Debian), on top of iptables.
    Ufw,
    /// firewalld (RHEL, Fedora, SUSE), on top of nftables.
    Firewalld,
}

impl ManagerKind {
    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            ManagerKind::Ufw => "ufw",
            ManagerKind::Firewalld => "firewalld",
        }
    }
}

/// What kind of manager rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManagedKind {
    /// A rule the user added (`ufw allow …`, numbered in `ufw status numbered`).
    UserRule,
    /// The manager's default for incoming traffic (`ufw default deny incoming`, a firewalld
    /// zone's target).
    DefaultPolicy,
    /// A rule from ufw's before.rules / before6.rules.
    BeforeRules,
    /// A rule from ufw's after.rules / after6.rules.
    AfterRules,
    /// A firewalld zone's port.
    Port,
    /// A firewalld zone's service.
    Service,
    /// A firewalld rich rule.
    RichRule,
    /// A firewalld policy.
    Policy,
    /// Something else the manager generates (e.g. firewalld dropping invalid packets).
    Builtin,
}

/// A manager's own rule that a kernel rule comes from: the words the user knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedRule {
    /// The manager.
    pub manager: ManagerKind,
    /// What kind of rule.
    pub kind: ManagedKind,
    /// ufw: the number in `ufw status numbered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<usize>,
    /// firewalld: the zone (or policy) the packet is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The rule as the manager shows it (`8080/tcp DENY IN Anywhere`, `port 8080/tcp`,
    /// `rule family="ipv4" source address="…" … reject`, `default deny (incoming)`).
    pub text: String,
    /// The rule's comment, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Where it is configured (a file, a zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl ManagedRule {
    /// One-line description: `ufw rule [2] 8080/tcp DENY IN Anywhere (comment: no web)`.
    pub fn describe(&self) -> String {
        let m = self.manager.label();
        let mut s = match (self.kind, self.number, &self.zone) {
            (ManagedKind::UserRule, Some(n), _) => format!("{m} rule [{n}] `{}`", self.text),
            (ManagedKind::DefaultPolicy, _, Some(z)) => {
                format!("{m} zone {z}: {}", self.text)
            }
            (ManagedKind::DefaultPolicy, _, None) => format!("{m} {}", self.text),
            (ManagedKind::BeforeRules | ManagedKind::AfterRules, _, _) => format!(
                "{m} {} `{}`",
                self.source.as_deref().unwrap_or("rules file"),
                self.text
            ),
            (_, _, Some(z)) => format!("{m} zone {z} {} `{}`", kind_word(self.kind), self.text),
            _ => format!("{m} {} `{}`", kind_word(self.kind), self.text),
        };
        if let Some(c) = &self.comment {
            s.push_str(&format!(" (comment: {c})"));
        }
        s
    }
}

fn kind_word(k: ManagedKind) -> &'static str {
    match k {
        ManagedKind::Port => "port",
        ManagedKind::Service => "service",
        ManagedKind::RichRule => "rich rule",
        ManagedKind::Policy => "policy",
        ManagedKind::UserRule => "rule",
        _ => "rule",
    }
}

/// A command to run, as an argument vector (never a shell string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argv(pub Vec<String>);

impl Argv {
    /// From anything that yields strings.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Argv {
        Argv(args.into_iter().map(Into::into).collect())
    }
}

/// One step of a fix phrased by a manager or a raw backend: the commands, and the kernel-level
/// edits they make (for verification on a copy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    /// What it does, in the owner's words.
    pub title: String,
    /// The commands, in order.
    pub commands: Vec<Argv>,
    /// Text fed to the first command's stdin, if any (e.g. `nft -f -`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// The kernel-level edits these commands make (for checking on a copy; not serialised).
    #[serde(skip)]
    pub edits: Vec<Edit>,
    /// Commands that undo this step.
    pub undo: Vec<Argv>,
}

/// What a fix should let in: a port, a protocol, and optionally only one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    /// Destination port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    /// Only this source address or network (`--from`); `None`: everyone.
    pub from: Option<String>,
    /// Only this destination: where a DNAT sent the connection, for a step on the forward
    /// path (then `port` is the translated port too). `None`: the host's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The comment rules added for this request carry (`portdoctor`, or `portdoctor:<id>`
    /// when the fix engine applies them, so `undo` finds exactly its own rules).
    #[serde(default = "default_tag")]
    pub tag: String,
}

fn default_tag() -> String {
    crate::plan::TAG.to_string()
}

impl OpenRequest {
    /// The traffic it is about, as the rule builders take it: protocol, port and source; no
    /// destination, no comment.
    pub fn accept_spec(&self) -> crate::netfilter::build::AcceptSpec<'_> {
        crate::netfilter::build::AcceptSpec {
            proto: &self.proto,
            port: self.port,
            source: self.from.as_deref(),
            dest: None,
            comment: None,
        }
    }

    /// A request with the default tag.
    pub fn new(port: u16, proto: &str, from: Option<String>) -> OpenRequest {
        OpenRequest {
            port,
            proto: proto.to_string(),
            from,
            to: None,
            tag: default_tag(),
        }
    }
}

/// Why a manager's configuration could not be read, with the file and line when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    /// The file (or command) that was read.
    pub source: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(l) = self.line {
            write!(f, ", line {l}")?;
            if let Some(c) = self.column {
                write!(f, ", column {c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// A firewall manager in charge of part of an engine's rules.
pub trait Manager: Send + Sync {
    /// Which manager.
    fn kind(&self) -> ManagerKind;
    /// One line on its state: `ufw active, default deny (incoming)`.
    fn summary(&self) -> String;
    /// Whether `rule` (a kernel rule or chain policy) was written by this manager.
    fn owns(&self, rule: &RuleRef) -> bool;
    /// The manager's own rule behind the kernel `rule` that decided for `packet` (`trace` is
    /// the evaluation's trace, for context such as the zone the packet went through).
    fn attribute(&self, rule: &RuleRef, packet: &Packet, trace: &[Step]) -> Option<ManagedRule>;
    /// A step in the manager's own words that gets `packet` past the blocking `rule`, or
    /// `None` when no command of the manager can (the caller then says what to edit by hand).
    fn plan_open(
        &self,
        rule: &RuleRef,
        packet: &Packet,
        trace: &[Step],
        req: &OpenRequest,
    ) -> Option<PlanStep>;
    /// A step in the manager's own words that stops `packet`, which the owned `rule`
    /// accepts today; `None` when no command of the manager can.
    fn plan_close(
        &self,
        rule: &RuleRef,
        packet: &Packet,
        trace: &[Step],
        req: &OpenRequest,
    ) -> Option<PlanStep> {
        let _ = (rule, packet, trace, req);
        None
    }

    /// Problems met while reading its configuration (the rest is still used).
    fn problems(&self) -> &[ConfigProblem];
    /// Extra facts for diagnosis (e.g. firewalld's zones); `None` when the manager has none.
    fn as_firewalld(&self) -> Option<&firewalld::Firewalld> {
        None
    }
}

/// Where managers read their files: `/` on a live host, a fixture directory in tests.
#[derive(Debug, Clone)]
pub struct ConfigRoot(pub PathBuf);

impl Default for ConfigRoot {
    fn default() -> ConfigRoot {
        ConfigRoot(PathBuf::from("/"))
    }
}

impl ConfigRoot {
    /// `path` (absolute, e.g. `/etc/ufw/user.rules`) under this root.
    pub fn join(&self, path: &str) -> PathBuf {
        self.0.join(path.trim_start_matches('/'))
    }

    /// Reads `path` under the root.
    pub fn read(&self, path: &str) -> std::io::Result<String> {
        std::fs::read_to_string(self.join(path))
    }

    /// Entries of the directory `path` under the root (empty when missing).
    pub fn list(&self, path: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.join(path))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Whether `path` exists under the root.
    pub fn exists(&self, path: &str) -> bool {
        Path::new(&self.join(path)).exists()
    }
}

/// Every manager in charge of part of `engine`'s rules.
pub fn detect(
    engine: &dyn Engine,
    runner: &dyn Runner,
    root: &ConfigRoot,
) -> Vec<Box<dyn Manager>> {
    let mut out: Vec<Box<dyn Manager>> = vec![];
    let Some(nf) = engine.as_netfilter() else {
        return out;
    };
    if let Some(u) = ufw::Ufw::detect(nf, runner, root) {
        out.push(Box::new(u));
    }
    if let Some(f) = firewalld::Firewalld::detect(nf, runner, root) {
        out.push(Box::new(f));
    }
    out
}

/// The manager (if any) that owns `rule`.
pub fn owner<'m>(managers: &'m [Box<dyn Manager>], rule: &RuleRef) -> Option<&'m dyn Manager> {
    managers.iter().find(|m| m.owns(rule)).map(|m| m.as_ref())
}
