//! Shared shapes of the per-engine fix planners (`windows::plan_fix`, `pf::plan_fix`): what
//! is asked, the commands to run, and the [`Edit`]s that let the engine re-evaluate the fixed
//! state before anything is printed.

use crate::engine::Edit;
use crate::model::Proto;
use serde::{Deserialize, Serialize};

/// What should become reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixRequest {
    /// Destination port.
    pub port: u16,
    /// Transport protocol (TCP or UDP).
    pub proto: Proto,
    /// Only from this source (an address or CIDR, e.g. `192.0.2.0/24`); `None`: from anyone.
    pub source: Option<String>,
}

impl FixRequest {
    /// The protocol's lower-case name (`tcp`, `udp`, or the number).
    pub fn proto_name(&self) -> String {
        match self.proto {
            Proto::Tcp => "tcp".into(),
            Proto::Udp => "udp".into(),
            p => p.number().to_string(),
        }
    }
}

/// Which shell a command line is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shell {
    /// Windows PowerShell (run as administrator).
    PowerShell,
    /// cmd.exe (run as administrator).
    Cmd,
    /// A POSIX shell (run as root).
    Sh,
}

/// One command of a fix, exactly as it is to be typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixCommand {
    /// Shell it is written for.
    pub shell: Shell,
    /// The command line.
    pub line: String,
}

/// What kind of change a fix makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// A new allow/pass rule.
    AddAllow,
    /// Disable (or remove) the blocking rule.
    DisableBlock,
    /// Narrow the blocking rule so it no longer covers the request.
    NarrowBlock,
    /// Extend an existing allow rule (e.g. to the active profile).
    ExtendAllow,
    /// A settings change (profile, anchor reference).
    Settings,
}

/// One way to fix the verdict, with its commands and the edits that model it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixOption {
    /// Kind.
    pub kind: FixKind,
    /// One line saying what it does.
    pub summary: String,
    /// Commands to run, in order; alternatives for another shell follow with the same effect
    /// (e.g. `New-NetFirewallRule` and the `netsh` equivalent), see `alternatives`.
    pub commands: Vec<FixCommand>,
    /// The same change in another shell or tool (not to be run in addition).
    pub alternatives: Vec<FixCommand>,
    /// The change as edits of the engine state: `engine.edited(&edits)` re-evaluates it.
    pub edits: Vec<Edit>,
    /// Caveats (state kept by existing connections, GPO stores, anchors to reference…).
    pub notes: Vec<String>,
    /// Whether re-evaluating the edited state accepts the request's packet.
    pub verified: bool,
}

impl FixRequest {
    /// The request the planners of the netfilter side use, in this module's terms.
    pub fn from_open(req: &crate::manager::OpenRequest) -> FixRequest {
        FixRequest {
            port: req.port,
            proto: if req.proto == "udp" {
                Proto::Udp
            } else {
                Proto::Tcp
            },
            source: req.from.clone(),
        }
    }
}
