//! What diagnosis looks at. Every part may be missing, with the reason it is.
//!
//! These types are deliberately plain: the binary gathers them from `portdoctor-sockets`,
//! `portdoctor-firewall` and `portdoctor-probe` (or a test writes them by hand), and
//! diagnosis never performs I/O.

use portdoctor_sockets::{Proto, Socket};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A piece of evidence, or why it is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Part<T> {
    /// Gathered.
    Present {
        /// The evidence.
        value: T,
    },
    /// Could not be gathered.
    Missing {
        /// Why (e.g. "reading the ruleset needs root or CAP_NET_ADMIN").
        reason: String,
    },
}

impl<T> Part<T> {
    /// The value, when present.
    pub fn get(&self) -> Option<&T> {
        match self {
            Part::Present { value } => Some(value),
            Part::Missing { .. } => None,
        }
    }

    /// Wraps a value.
    pub fn present(value: T) -> Part<T> {
        Part::Present { value }
    }

    /// A missing part.
    pub fn missing(reason: impl Into<String>) -> Part<T> {
        Part::Missing {
            reason: reason.into(),
        }
    }
}

/// Where a connection attempt comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Viewpoint {
    /// This machine, over loopback.
    Loopback {
        /// 127.0.0.1 or ::1.
        addr: IpAddr,
    },
    /// This machine, to one of its own non-loopback addresses.
    Local {
        /// The address.
        addr: IpAddr,
        /// Its interface.
        iface: String,
    },
    /// A specific other machine (`--from`, or an agent).
    Peer {
        /// The peer's address.
        addr: IpAddr,
    },
    /// "Anyone else": a stand-in outside address (from the documentation ranges,
    /// 203.0.113.1 / 2001:db8::1) used to ask the firewall about strangers. No packet is sent.
    Outside {
        /// The stand-in address.
        addr: IpAddr,
    },
}

impl Viewpoint {
    /// The source address of packets from this viewpoint.
    pub fn addr(&self) -> IpAddr {
        match self {
            Viewpoint::Loopback { addr }
            | Viewpoint::Local { addr, .. }
            | Viewpoint::Peer { addr }
            | Viewpoint::Outside { addr } => *addr,
        }
    }

    /// True for viewpoints on another machine.
    pub fn is_remote(&self) -> bool {
        matches!(self, Viewpoint::Peer { .. } | Viewpoint::Outside { .. })
    }

    /// Short label: `loopback`, `local 198.18.0.1 (eth0)`, `peer 198.18.0.2`.
    pub fn label(&self) -> String {
        match self {
            Viewpoint::Loopback { addr } => format!("loopback {addr}"),
            Viewpoint::Local { addr, iface } => format!("local {addr} ({iface})"),
            Viewpoint::Peer { addr } => format!("peer {addr}"),
            Viewpoint::Outside { addr } => format!("any other machine (as {addr})"),
        }
    }
}

/// One address of this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAddress {
    /// Interface name.
    pub iface: String,
    /// The address.
    pub addr: IpAddr,
}

pub use portdoctor_firewall::attribution::Decided;
pub use portdoctor_firewall::plan::{FixPlan, Verification};
pub use portdoctor_firewall::{
    Backend, Decision, Delivery, Endpoint, EngineKind, RouteKind, RuleRef,
};
pub use portdoctor_sockets::{Container, NamespaceSockets};

/// A firewall's verdict for a packet from one viewpoint: through every backend together,
/// and each backend alone, attributed to the manager in charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewpointVerdict {
    /// Where the packet comes from.
    pub viewpoint: Viewpoint,
    /// The destination address the packet is for.
    pub dst: IpAddr,
    /// The interface the packet arrives on.
    pub iif: String,
    /// The packet's fate through every backend.
    pub overall: Decided,
    /// Each backend alone (active ones).
    pub backends: Vec<Decided>,
    /// Accepts that would decide if the blocking rule were gone (asked only for remote
    /// viewpoints): an allow shadowed by a block.
    pub shadowed: Vec<Decided>,
    /// For a connection a DNAT forwards: what the way to a local socket alone would decide
    /// (the rules of INPUT that such a connection never meets, e.g. a ufw deny).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub without_nat: Option<Decided>,
}

/// Who a planned fix is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FixScope {
    /// Only the named peer (`--from`): the narrowest rule that lets it in.
    Peer {
        /// The peer.
        addr: IpAddr,
    },
    /// Everyone, on every address the service listens on.
    Everyone,
}

/// A fix planned and checked by the firewall library (re-evaluated with the fix applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFix {
    /// Who it lets in.
    pub scope: FixScope,
    /// The plan.
    pub plan: FixPlan,
}

/// A firewall manager in charge of part of the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerState {
    /// `ufw`, `firewalld`.
    pub kind: String,
    /// One line on its state.
    pub summary: String,
    /// Problems reading its configuration (file, line, column, what).
    pub problems: Vec<String>,
}

/// Zones of firewalld for one interface (for the wrong-zone finding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewalldZones {
    /// Interface → zone bindings.
    pub iface_zones: Vec<(String, String)>,
    /// Zones that open the port (by port or service).
    pub zones_opening_port: Vec<String>,
    /// The default zone.
    pub default_zone: String,
}

/// A Windows rule that would allow the port but does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowsNearMiss {
    /// The rule's display name.
    pub rule: String,
    /// Why it does not apply (e.g. "profile Private, but the active profile is Public",
    /// "program C:\\old\\app.exe, but the listener is C:\\new\\app.exe").
    pub mismatch: String,
    /// The field that mismatches: `profile`, `program`, `service`, `interface-type`, …
    pub field: String,
}

/// One firewall engine's evidence (netfilter on Linux: every backend together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirewallEvidence {
    /// The engine.
    pub engine: EngineKind,
    /// Managers in charge of part of its rules (ufw, firewalld).
    pub managers: Vec<ManagerState>,
    /// Verdicts per viewpoint.
    pub verdicts: Vec<ViewpointVerdict>,
    /// Fixes planned for the viewpoints that matter, checked on a copy of the rules.
    pub fixes: Vec<PlannedFix>,
    /// firewalld only: zone bindings and which zones open the port.
    pub firewalld: Option<FirewalldZones>,
    /// Windows only: allow rules for the port that miss on profile/program/…
    pub windows_near_misses: Vec<WindowsNearMiss>,
}

/// What a connect probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "kebab-case")]
pub enum ProbeOutcome {
    /// Connected.
    Open,
    /// Refused with RST.
    Closed,
    /// No answer.
    Filtered,
    /// UDP: no answer, which an open silent service and a drop both give.
    OpenOrFiltered,
    /// ICMP error; the kind.
    Unreachable(String),
    /// The probe could not run; why.
    Error(String),
}

impl ProbeOutcome {
    /// The state's name as nmap and the agent spell it (`open`, `open|filtered`, `error`).
    pub fn name(&self) -> &'static str {
        match self {
            ProbeOutcome::Open => "open",
            ProbeOutcome::Closed => "closed",
            ProbeOutcome::Filtered => "filtered",
            ProbeOutcome::OpenOrFiltered => "open|filtered",
            ProbeOutcome::Unreachable(_) => "unreachable",
            ProbeOutcome::Error(_) => "error",
        }
    }

    /// The ICMP kind or the error, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            ProbeOutcome::Unreachable(d) | ProbeOutcome::Error(d) => Some(d),
            _ => None,
        }
    }
}

/// One connect probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeEvidence {
    /// From where.
    pub viewpoint: Viewpoint,
    /// To which address.
    pub dst: IpAddr,
    /// Result.
    pub outcome: ProbeOutcome,
    /// Round trip, when it connected or was refused.
    pub latency_ms: Option<f64>,
}

/// An application-level health check (HTTP, TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEvidence {
    /// What was asked, e.g. `GET http://127.0.0.1:8080/healthz`.
    pub request: String,
    /// HTTP status, if one came back.
    pub status: Option<u16>,
    /// A failure below HTTP (TLS handshake, reset, timeout).
    pub error: Option<String>,
}

/// The kind of system the evidence comes from: fixes that run a program on it (stopping a
/// process) are phrased for its shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux (evidence without this field came from Linux).
    #[default]
    Linux,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
    /// Another system (POSIX shell assumed).
    Other,
}

impl Os {
    /// The system this program was built for.
    pub fn current() -> Os {
        if cfg!(target_os = "linux") {
            Os::Linux
        } else if cfg!(target_os = "macos") {
            Os::Macos
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Other
        }
    }
}

/// Everything known about one port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The system the evidence was gathered on.
    #[serde(default)]
    pub os: Os,
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub proto: Proto,
    /// Sockets whose local port is `port` (listeners and connections).
    pub sockets: Part<Vec<Socket>>,
    /// This machine's addresses.
    pub addresses: Part<Vec<LocalAddress>>,
    /// Every firewall backend found (an empty list: none active).
    pub firewall: Part<Vec<FirewallEvidence>>,
    /// Connect probes.
    pub probes: Part<Vec<ProbeEvidence>>,
    /// Health check, if one was asked for.
    pub health: Option<Part<HealthEvidence>>,
    /// The peer the user cares about (`--from`), if any.
    pub peer: Option<IpAddr>,
    /// The address the peer connects to (`--to`, else this machine's address on the peer's
    /// subnet).
    pub peer_dst: Option<IpAddr>,
    /// The program that should own the port (`--expect NAME`), if the user said.
    pub expected_program: Option<String>,
    /// Where NAT sends the port, who listens there: the network namespaces that have the
    /// translated addresses (containers, pods; this machine's own for a local DNAT), with
    /// their sockets on the translated ports. Asked when a DNAT applies or nothing listens
    /// here; `None` when not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Part<Vec<NamespaceSockets>>>,
}
